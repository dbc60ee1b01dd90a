/*
 * multipart.h: a bounded parser for multipart/form-data request bodies
 * (RFC 7578 over RFC 2046), the web upload's body (POST /uploads).
 *
 * The parser is pure: bytes in, events out, no I/O and no globals. It is
 * streaming, so an upload of hundreds of megabytes passes through a fixed
 * amount of memory: feed it the body in chunks of any size (libmicrohttpd's
 * upload callback) and it calls back with each part's headers, its content
 * in pieces, and its end. multipart_parse does the same over one buffer and
 * returns the parts as spans of it (the fuzz target's entry point).
 *
 * Limits: the boundary is 1 to 70 characters without CR or LF (RFC 2046);
 * a part's header block is at most MULTIPART_HEADERS_MAX bytes and
 * MULTIPART_HEADER_LINES lines; a body has at most the max_parts given.
 * Delimiters are CRLF "--" boundary, as RFC 2046 says; header lines may end
 * in CRLF or a bare LF. Errors say at which byte of the body and what.
 */
#ifndef LRHUB_MULTIPART_H
#define LRHUB_MULTIPART_H

#include <stddef.h>

struct lr_error;
struct multipart_parser;

#define MULTIPART_BOUNDARY_MAX 70
#define MULTIPART_HEADERS_MAX 8192
#define MULTIPART_HEADER_LINES 32
#define MULTIPART_NAME_MAX 256
#define MULTIPART_TYPE_MAX 128

/* A part's headers, as far as form-data needs them (NUL-terminated, cut never: too long is an error). */
struct multipart_part_info {
	char name[MULTIPART_NAME_MAX];          /* Content-Disposition name ("" if none) */
	char filename[MULTIPART_NAME_MAX];      /* Content-Disposition filename, as sent */
	int has_filename;                       /* 1 if filename was given (even "") */
	char content_type[MULTIPART_TYPE_MAX];  /* "" if none */
};

/*
 * What the parser calls. Each returns 0 to go on, or a negative code to stop
 * (the feed then returns that code; the callback sets err itself if it wants
 * a message). on_data's bytes are borrowed for the call; they point into the
 * fed buffer except when a delimiter look-alike was split between two feeds.
 * Any callback may be NULL.
 */
struct multipart_callbacks {
	int (*on_part)(void *ctx, struct lr_error *err, const struct multipart_part_info *part);
	int (*on_data)(void *ctx, struct lr_error *err, const char *data, size_t len);
	int (*on_part_end)(void *ctx, struct lr_error *err);
};

/*
 * Copies the boundary parameter of a Content-Type header value
 * ("multipart/form-data; boundary=XYZ", quoted or not) into out (size at
 * least MULTIPART_BOUNDARY_MAX + 1). Returns 0, or LR_EINVAL with err set
 * when the type is not multipart/form-data or the boundary is missing or bad.
 */
int multipart_boundary(char *out, size_t out_size, struct lr_error *err, const char *content_type);

/*
 * Makes a parser for boundary with at most max_parts parts (0: 64), calling
 * cb with ctx. *out is new; free it with multipart_free. Returns 0,
 * LR_EINVAL for a bad boundary, LR_ENOMEM.
 */
int multipart_new(struct multipart_parser **out, struct lr_error *err, const char *boundary,
		  size_t max_parts, const struct multipart_callbacks *cb, void *ctx);

/*
 * Feeds the next len bytes of the body. Returns 0, LR_EINVAL (malformed
 * body), LR_ELIMIT (a limit exceeded), or a callback's code. After an error
 * the parser refuses further input with the same code.
 */
int multipart_feed(struct multipart_parser *p, struct lr_error *err, const char *data, size_t len);

/* Says the body is complete: LR_EINVAL if the closing delimiter was not seen. */
int multipart_finish(struct multipart_parser *p, struct lr_error *err);

/* Frees p; multipart_free(NULL) does nothing. */
void multipart_free(struct multipart_parser *p);

/* One part of a body parsed whole: its headers and its content as a span of the body. */
struct multipart_part {
	struct multipart_part_info info;
	const char *body;      /* borrowed: points into the parsed buffer (NULL when empty) */
	size_t body_len;
};

/*
 * Parses a whole body of len bytes with boundary into parts (room for
 * max_parts), setting *n_parts. Returns 0, LR_EINVAL (malformed, no closing
 * delimiter), LR_ELIMIT (more than max_parts parts, headers too long).
 * Nothing is allocated except the parser itself (LR_ENOMEM).
 */
int multipart_parse(struct multipart_part *parts, size_t max_parts, size_t *n_parts,
		    struct lr_error *err, const char *body, size_t len, const char *boundary);

#endif
