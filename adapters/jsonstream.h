/*
 * jsonstream.h: splits a JSON document of any size into the records it
 * holds, reading it in bounded chunks, so memory stays flat however large
 * the input. It recognises these shapes from the content:
 *
 *   [ {...}, {...} ]                    an array: each element is a record
 *   { "statements": [ ... ], ... }      a wrapper object whose array under one
 *                                       of the wrapper keys (for xAPI
 *                                       "statements") is streamed element by
 *                                       element; its other members are skipped
 *   { ... }                             a single object: one record
 *   {...}\n{...}\n                      JSON lines: one record per line
 *   {...} {...}  or  [..] [..]          concatenated values: each value (or
 *                                       each element of each array)
 *
 * It only finds where each record begins and ends (strings, escapes and
 * nesting); the caller parses the record's bytes (for example with
 * json_loadb). A UTF-8 byte order mark is skipped; UTF-16 and UTF-32 input is
 * refused with a clear message.
 *
 * Errors: a record longer than the limit, or (in JSON lines) a line that is
 * not one balanced value, is returned as LR_EINVAL with its line and record
 * number, and the stream carries on with the next record. A structural error
 * that leaves no way to find the next record (unbalanced brackets in an array,
 * an unterminated string, stray bytes) is LR_EFORMAT with the line: the
 * records before it were returned, nothing after it is.
 */
#ifndef LRHUB_JSONSTREAM_H
#define LRHUB_JSONSTREAM_H

#include <stddef.h>
#include <sys/types.h>

struct lr_error;
struct jsonstream;

/*
 * Reads up to len bytes into buf. Returns the number read, 0 at the end,
 * or -1 on an error (the stream then fails with LR_EIO).
 */
typedef ssize_t (*jsonstream_read_fn)(void *ctx, void *buf, size_t len);

enum jsonstream_shape {
	JSONSTREAM_UNKNOWN = 0, /* nothing read yet */
	JSONSTREAM_ARRAY,       /* a top-level array (or concatenated arrays) */
	JSONSTREAM_WRAPPER,     /* an object with a streamed wrapper array */
	JSONSTREAM_OBJECT,      /* a single top-level object */
	JSONSTREAM_LINES,       /* JSON lines */
	JSONSTREAM_EMPTY        /* no value at all (empty or white space only) */
};

struct jsonstream_options {
	/* NULL-terminated keys whose array value is streamed, e.g. {"statements", NULL}. */
	const char *const *wrapper_keys;
	size_t max_record;   /* longest record in bytes; 0 means 16 MiB */
	size_t max_depth;    /* deepest nesting inside a record; 0 means 64 */
};

/* A record found by jsonstream_next. text is borrowed until the next call. */
struct jsonstream_record {
	const char *text;    /* the record's bytes, NUL-terminated */
	size_t len;          /* its length in bytes, without the NUL */
	long line;           /* the 1-based line on which the record starts */
	long index;          /* the 1-based record number in the file */
};

/*
 * Creates a stream over read/ctx (both borrowed; the stream never closes
 * anything). opts may be NULL for the defaults. Returns 0 or LR_ENOMEM.
 */
int jsonstream_open(struct jsonstream **out, const struct jsonstream_options *opts,
		    jsonstream_read_fn read, void *ctx);

/*
 * Finds the next record. Returns 1 with *out filled, 0 at the end of the
 * input, LR_EINVAL for a record that was skipped (err says where and why;
 * call again for the next one), or LR_EFORMAT, LR_EIO, LR_ENOMEM when
 * nothing more can be read (err says where and why).
 */
int jsonstream_next(struct jsonstream *s, struct jsonstream_record *out, struct lr_error *err);

/* The shape recognised so far. */
enum jsonstream_shape jsonstream_shape(const struct jsonstream *s);

/* Frees s. jsonstream_close(NULL) does nothing. */
void jsonstream_close(struct jsonstream *s);

#endif
