/*
 * peek.h: a look at the first bytes of an adapter's input before choosing
 * how to read it (CSV or JSON, XML or JSON), without losing them: the read
 * function gives the peeked bytes first, then the rest of the input.
 */
#ifndef LRHUB_PEEK_H
#define LRHUB_PEEK_H

#include <stddef.h>
#include <sys/types.h>

#include "adapters/adapter.h"

#define PEEK_MAX 4096

struct peek {
	const struct adapter_input *in;  /* borrowed */
	char buf[PEEK_MAX];
	size_t len, pos;
};

/*
 * Reads up to PEEK_MAX bytes of in into p. Returns the index in p->buf of
 * the first byte after a UTF-8 byte order mark and white space (p->len when
 * there is none), or LR_EIO.
 */
long peek_fill(struct peek *p, const struct adapter_input *in);

/* An adapter_read_fn over ctx, a filled struct peek. */
ssize_t peek_read(void *ctx, void *buf, size_t len);

#endif
