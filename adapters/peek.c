/*
 * peek.c: the first bytes of an input, then the rest (see peek.h).
 */
#include "adapters/peek.h"
#include "lrs/error.h"

#include <ctype.h>
#include <string.h>

long peek_fill(struct peek *p, const struct adapter_input *in)
{
	size_t i = 0;

	p->in = in;
	p->len = p->pos = 0;
	while (p->len < sizeof(p->buf)) {
		ssize_t got = in->read(in->ctx, p->buf + p->len, sizeof(p->buf) - p->len);
		if (got < 0)
			return LR_EIO;
		if (got == 0)
			break;
		p->len += (size_t)got;
	}
	if (p->len >= 3 && memcmp(p->buf, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	while (i < p->len && isspace((unsigned char)p->buf[i]))
		i++;
	return (long)i;
}

ssize_t peek_read(void *ctx, void *buf, size_t len)
{
	struct peek *p = ctx;

	if (p->pos < p->len) {
		size_t n = p->len - p->pos;
		if (n > len)
			n = len;
		memcpy(buf, p->buf + p->pos, n);
		p->pos += n;
		return (ssize_t)n;
	}
	return p->in->read(p->in->ctx, buf, len);
}
