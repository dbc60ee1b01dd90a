/*
 * csv.h: a streaming reader of delimiter-separated text (RFC 4180 CSV, and
 * tab-separated exports), in bounded memory: quoted fields with doubled
 * quotes and line breaks inside, CRLF or LF line ends, a UTF-8 byte order
 * mark skipped, limits on field length and on the number of fields.
 */
#ifndef LRHUB_CSV_H
#define LRHUB_CSV_H

#include <stddef.h>
#include <sys/types.h>

struct adapter_item;
struct lr_error;
struct csv;

typedef ssize_t (*csv_read_fn)(void *ctx, void *buf, size_t len);

struct csv_options {
	char delimiter;       /* ',' when 0 */
	size_t max_field;     /* longest field in bytes; 0 means 64 KiB */
	size_t max_fields;    /* most fields in a row; 0 means 4096 */
};

struct csv_row {
	size_t n;                  /* number of fields */
	const char *const *fields; /* NUL-terminated fields, borrowed until the next call */
	const size_t *lens;
	long line;                 /* the line on which the row starts */
	long record;               /* 1-based row number, the header being row 1 */
	const char *raw;           /* the row's text as read (may be cut at 64 KiB) */
	size_t raw_len;
};

/* Creates a reader over read/ctx (borrowed). opts may be NULL. 0 or LR_ENOMEM. */
int csv_open(struct csv **out, const struct csv_options *opts, csv_read_fn read, void *ctx);

/*
 * Reads the next row, skipping blank lines. Returns 1 with *row filled, 0 at
 * the end, LR_EINVAL for a row that breaks a limit or has a stray quote (it
 * is skipped; err says where; call again), LR_EIO or LR_ENOMEM when nothing
 * more can be read.
 */
int csv_next(struct csv *c, struct csv_row *row, struct lr_error *err);

/*
 * Reads the header: the first row that can be read (unreadable rows before
 * it are passed over). Returns 1 with *row filled, LR_EFORMAT "the file is
 * empty" when there is no row, LR_ELIMIT when a row has more than
 * max_fields fields (taken for the header), or LR_EIO/LR_ENOMEM. err holds
 * only the error returned, never one from a row passed over.
 */
int csv_header(struct csv *c, struct csv_row *row, struct lr_error *err);

void csv_close(struct csv *c);

/*
 * For adapters reading rows: refuses row as a bad record. Sets err to the
 * printf-formatted reason (fmt with one %s for value), naming column and the
 * row's line and record, and points item at the row's text. Returns
 * LR_EINVAL, for the adapter's next() to return.
 */
int csv_row_reject(struct adapter_item *item, struct lr_error *err, const struct csv_row *row,
		   const char *column, const char *fmt, const char *value)
	__attribute__((format(printf, 5, 0)));

/* The index of the field named name in a header row (case-insensitive, trimmed), or -1. */
long csv_column(const struct csv_row *header, const char *name);

#endif
