/*
 * csv.c: a byte-at-a-time state machine over a chunked buffer. A row's
 * fields are collected into one growing buffer (bounded by the limits) with
 * their offsets; a row that breaks a limit is skipped to its end.
 */
#include "adapters/csv.h"
#include "adapters/adapter.h"
#include "lrs/error.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHUNK 65536
#define RAW_MAX 65536

struct csv {
	csv_read_fn read;
	void *ctx;
	char delim;
	size_t max_field, max_fields;
	char buf[CHUNK];
	size_t pos, len;
	int eof, started;
	long line;           /* current line, 1-based */
	long record;
	char *text;          /* the row's fields, each NUL-terminated */
	size_t text_len, text_cap;
	size_t *offsets;     /* field starts in text */
	size_t *lens;
	const char **fields;
	size_t n, cap;
	char *raw;
	size_t raw_len;
	char *replay;        /* the lines of a refused row to read again, before buf */
	size_t replay_pos, replay_len;
	int too_wide;        /* the last row refused had more than max_fields fields */
};

int csv_open(struct csv **out, const struct csv_options *opts, csv_read_fn read, void *ctx)
{
	struct csv *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return LR_ENOMEM;
	c->read = read;
	c->ctx = ctx;
	c->delim = opts && opts->delimiter ? opts->delimiter : ',';
	c->max_field = opts && opts->max_field ? opts->max_field : 65536;
	c->max_fields = opts && opts->max_fields ? opts->max_fields : 4096;
	c->line = 1;
	c->raw = malloc(RAW_MAX);
	if (!c->raw) {
		free(c);
		return LR_ENOMEM;
	}
	*out = c;
	return 0;
}

void csv_close(struct csv *c)
{
	if (!c)
		return;
	free(c->text);
	free(c->offsets);
	free(c->lens);
	free(c->fields);
	free(c->raw);
	free(c->replay);
	free(c);
}

/* The next byte, or -1 at the end, -2 on a read error. */
static int next_byte(struct csv *c)
{
	if (c->replay_pos < c->replay_len)
		return (unsigned char)c->replay[c->replay_pos++];
	if (c->pos == c->len) {
		ssize_t n;
		if (c->eof)
			return -1;
		n = c->read(c->ctx, c->buf, sizeof(c->buf));
		if (n < 0)
			return -2;
		if (n == 0) {
			c->eof = 1;
			return -1;
		}
		c->pos = 0;
		c->len = (size_t)n;
		if (!c->started) {
			/* Three bytes, however the input comes, before looking for a BOM. */
			while (c->len < 3) {
				n = c->read(c->ctx, c->buf + c->len, sizeof(c->buf) - c->len);
				if (n < 0)
					return -2;
				if (n == 0) {
					c->eof = 1;
					break;
				}
				c->len += (size_t)n;
			}
			c->started = 1;
			if (c->len >= 3 && memcmp(c->buf, "\xEF\xBB\xBF", 3) == 0)
				c->pos = 3;
			if (c->pos == c->len)
				return next_byte(c);
		}
	}
	return (unsigned char)c->buf[c->pos++];
}

static int peek_byte(struct csv *c)
{
	int b;

	if (c->replay_pos < c->replay_len)
		return (unsigned char)c->replay[c->replay_pos];
	b = next_byte(c);

	if (b >= 0)
		c->pos--;
	return b;
}

static int text_put(struct csv *c, char ch)
{
	if (c->text_len == c->text_cap) {
		size_t cap = c->text_cap ? c->text_cap * 2 : 1024;
		char *t = realloc(c->text, cap);
		if (!t)
			return LR_ENOMEM;
		c->text = t;
		c->text_cap = cap;
	}
	c->text[c->text_len++] = ch;
	return 0;
}

static int field_start(struct csv *c)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		size_t *o = realloc(c->offsets, cap * sizeof(*o));
		size_t *l;
		const char **f;
		if (!o)
			return LR_ENOMEM;
		c->offsets = o;
		l = realloc(c->lens, cap * sizeof(*l));
		if (!l)
			return LR_ENOMEM;
		c->lens = l;
		f = realloc(c->fields, cap * sizeof(*f));
		if (!f)
			return LR_ENOMEM;
		c->fields = f;
		c->cap = cap;
	}
	c->offsets[c->n++] = c->text_len;
	return 0;
}

static void raw_put(struct csv *c, int b)
{
	if (c->raw_len < RAW_MAX)
		c->raw[c->raw_len++] = (char)b;
}

/*
 * A quote opened in a row and never closed took the rest of the input into
 * one field. When the whole row is still in raw, its lines after the first
 * are read again as rows of their own, so that one stray quote costs one row,
 * not the rest of the file. Returns 1 if so, 0 if the row is too long for
 * that (or memory is short).
 */
static int replay_after_first_line(struct csv *c, long start_line)
{
	const char *nl = c->raw_len < RAW_MAX ? memchr(c->raw, '\n', c->raw_len) : NULL;
	size_t len;
	char *copy;

	if (!nl)
		return 0;
	len = c->raw_len - (size_t)(nl + 1 - c->raw);
	copy = malloc(len ? len : 1);
	if (!copy)
		return 0;
	memcpy(copy, nl + 1, len);
	free(c->replay);
	c->replay = copy;
	c->replay_pos = 0;
	c->replay_len = len;
	c->line = start_line + 1;
	return 1;
}

/* Skips to the end of the current line (outside quotes), for a row being dropped. */
static void skip_line(struct csv *c)
{
	int b;

	while ((b = next_byte(c)) >= 0) {
		raw_put(c, b);
		if (b == '\n') {
			c->line++;
			break;
		}
	}
}

int csv_next(struct csv *c, struct csv_row *row, struct lr_error *err)
{
	int b, quoted, after_quote, rc;
	size_t field_len;
	long start_line;

	for (;;) {
		/* Skip blank lines. */
		b = peek_byte(c);
		if (b == -2)
			goto read_fail;
		if (b == -1)
			return 0;
		if (b == '\r' || b == '\n') {
			next_byte(c);
			if (b == '\n')
				c->line++;
			continue;
		}
		break;
	}
	c->n = 0;
	c->text_len = 0;
	c->raw_len = 0;
	c->record++;
	start_line = c->line;
	quoted = after_quote = 0;
	field_len = 0;
	if (field_start(c) != 0)
		goto nomem;
	for (;;) {
		b = next_byte(c);
		if (b == -2)
			goto read_fail;
		if (b >= 0)
			raw_put(c, b);
		if (quoted) {
			if (b == -1) {
				lr_error_where(err, NULL, start_line, c->record);
				if (replay_after_first_line(c, start_line))
					return lr_error_set(err, LR_EINVAL,
							    "field %zu: a quote is opened and never closed; the row is skipped",
							    c->n);
				return lr_error_set(err, LR_EINVAL,
						    "a quoted field is not closed before the end of the file");
			}
			if (b == '"') {
				if (peek_byte(c) == '"') {
					raw_put(c, next_byte(c));
				} else {
					quoted = 0;
					after_quote = 1;
					continue;
				}
			}
			if (b == '\n')
				c->line++;
		} else if (b == -1 || b == '\n' || b == '\r' || b == c->delim) {
			if (text_put(c, '\0') != 0)
				goto nomem;
			if (b == c->delim) {
				if (c->n >= c->max_fields) {
					skip_line(c);
					c->too_wide = 1;
					lr_error_where(err, NULL, start_line, c->record);
					return lr_error_set(err, LR_EINVAL, "the row has more than %zu fields",
							    c->max_fields);
				}
				if (field_start(c) != 0)
					goto nomem;
				field_len = 0;
				after_quote = 0;
				continue;
			}
			if (b == '\r' && peek_byte(c) == '\n')
				raw_put(c, next_byte(c));
			if (b != -1)
				c->line++;
			break;
		} else if (b == '"' && field_len == 0 && !after_quote) {
			quoted = 1;
			continue;
		} else if (b == '"' || after_quote) {
			skip_line(c);
			lr_error_where(err, NULL, start_line, c->record);
			return lr_error_set(err, LR_EINVAL, "field %zu: a stray '\"' (quote the field and double the quote)",
					    c->n);
		}
		if (++field_len > c->max_field) {
			if (quoted) {
				/* No way to find the row's end: give up on the rest. */
				lr_error_where(err, NULL, start_line, c->record);
				return lr_error_set(err, LR_EIO,
						    "field %zu is longer than %zu bytes inside quotes; the rest of the file cannot be read",
						    c->n, c->max_field);
			}
			skip_line(c);
			lr_error_where(err, NULL, start_line, c->record);
			return lr_error_set(err, LR_EINVAL, "field %zu is longer than %zu bytes", c->n,
					    c->max_field);
		}
		if (text_put(c, (char)b) != 0)
			goto nomem;
	}
	{
		size_t i;
		for (i = 0; i < c->n; i++) {
			size_t end = i + 1 < c->n ? c->offsets[i + 1] - 1 : c->text_len - 1;
			c->fields[i] = c->text + c->offsets[i];
			c->lens[i] = end - c->offsets[i];
		}
	}
	row->n = c->n;
	row->fields = c->fields;
	row->lens = c->lens;
	row->line = start_line;
	row->record = c->record;
	row->raw = c->raw;
	row->raw_len = c->raw_len;
	return 1;
nomem:
	rc = lr_error_set(err, LR_ENOMEM, "out of memory reading CSV");
	return rc;
read_fail:
	lr_error_where(err, NULL, c->line, c->record);
	return lr_error_set(err, LR_EIO, "read error");
}

int csv_header(struct csv *c, struct csv_row *row, struct lr_error *err)
{
	int rc;

	do {
		lr_error_clear(err);
		c->too_wide = 0;
		rc = csv_next(c, row, err);
		/*
		 * A row too wide to read is the header itself (no preamble line
		 * has thousands of fields): say so, rather than take the next row
		 * for the header and report its columns missing.
		 */
		if (rc == LR_EINVAL && c->too_wide) {
			long line = err->line, record = err->record;
			lr_error_clear(err);
			lr_error_where(err, NULL, line, record);
			return lr_error_set(err, LR_ELIMIT, "the header has more than %zu columns",
					    c->max_fields);
		}
	} while (rc == LR_EINVAL);
	if (rc == 0)
		return lr_error_set(err, LR_EFORMAT, "the file is empty");
	return rc;
}

long csv_column(const struct csv_row *header, const char *name)
{
	size_t i;

	for (i = 0; i < header->n; i++) {
		const char *f = header->fields[i];
		size_t len = header->lens[i];
		while (len && isspace((unsigned char)*f)) {
			f++;
			len--;
		}
		while (len && isspace((unsigned char)f[len - 1]))
			len--;
		if (len == strlen(name) && strncasecmp(f, name, len) == 0)
			return (long)i;
	}
	return -1;
}

int csv_row_reject(struct adapter_item *item, struct lr_error *err, const struct csv_row *row,
		   const char *column, const char *fmt, const char *value)
{
	lr_error_set(err, LR_EINVAL, fmt, value);
	lr_error_field(err, column);
	lr_error_where(err, NULL, row->line, row->record);
	item->line = row->line;
	item->record = row->record;
	item->raw = row->raw;
	item->raw_len = row->raw_len;
	return LR_EINVAL;
}
