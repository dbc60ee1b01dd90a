/*
 * error.h: the one error type of lrhub's library code.
 *
 * Every library function returns 0 or a negative LR_E* code and, on failure,
 * fills a caller-owned struct lr_error with where (source, line, record,
 * field) and what went wrong. The struct has fixed buffers so that reporting
 * an error never allocates, and the first error set is the one kept.
 */
#ifndef LRHUB_ERROR_H
#define LRHUB_ERROR_H

#include <stddef.h>

enum lr_code {
	LR_OK = 0,
	LR_EINVAL = -1,     /* the input is wrong (a bad record, a bad argument value) */
	LR_ENOMEM = -2,     /* out of memory */
	LR_EIO = -3,        /* a file could not be read or written */
	LR_EDB = -4,        /* the store failed (SQLite error) */
	LR_ECONFLICT = -5,  /* a statement id is known with different content */
	LR_ENOTFOUND = -6,  /* no such org, course, run, ... */
	LR_ELIMIT = -7,     /* a size, depth or count limit was exceeded */
	LR_EFORMAT = -8,    /* a file is not in any format lrhub can read */
	LR_EEXISTS = -9,    /* the thing to create exists already */
	LR_EBUSY = -10,     /* the store is locked by another writer for too long */
	LR_EVERSION = -11   /* the store was made by a newer lrhub */
};

#define LR_ERROR_SOURCE_MAX 256
#define LR_ERROR_FIELD_MAX 128
#define LR_ERROR_TEXT_MAX 384

struct lr_error {
	int code;                          /* 0 when no error is set */
	char source[LR_ERROR_SOURCE_MAX];  /* file name or other origin, may be "" */
	long line;                         /* 1-based line, 0 when unknown */
	long record;                       /* 1-based record number, 0 when unknown */
	char field[LR_ERROR_FIELD_MAX];    /* JSON path or column name, may be "" */
	char text[LR_ERROR_TEXT_MAX];      /* what was wrong, one line, no trailing dot */
};

/* Clears err to "no error". */
void lr_error_clear(struct lr_error *err);

/*
 * Records an error unless one is already set (the first error is kept).
 * Returns code, so that `return lr_error_set(err, LR_EINVAL, "...")` reads
 * naturally. err may be NULL. The text is printf-formatted and cut to fit.
 */
int lr_error_set(struct lr_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sets err->field (cut to fit) if no field is set yet. */
void lr_error_field(struct lr_error *err, const char *field);

/* Sets where the error happened, overwriting what is there. */
void lr_error_where(struct lr_error *err, const char *source, long line, long record);

/*
 * Formats err as one line: "SOURCE:LINE: record N: FIELD: TEXT", leaving out
 * the parts that are not known. Returns buf.
 */
const char *lr_error_format(const struct lr_error *err, char *buf, size_t size);

/* A short English name for a code ("invalid input", "out of memory", ...). */
const char *lr_strerror(int code);

#endif
