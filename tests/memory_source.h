/*
 * memory_source.h: an input held in memory and handed out at most `step`
 * bytes a read, for the tests that check a streaming reader gives the same
 * result however its input arrives.
 */
#ifndef LRHUB_TEST_MEMORY_SOURCE_H
#define LRHUB_TEST_MEMORY_SOURCE_H

#include <string.h>
#include <sys/types.h>

struct memory_source {
	const char *data;
	size_t len, off, step;
	int fail_at_end; /* return -1 instead of 0 at the end */
};

static inline ssize_t memory_read(void *ctx, void *buf, size_t len)
{
	struct memory_source *m = ctx;
	size_t n = m->len - m->off;

	if (n == 0)
		return m->fail_at_end ? -1 : 0;
	if (n > m->step)
		n = m->step;
	if (n > len)
		n = len;
	memcpy(buf, m->data + m->off, n);
	m->off += n;
	return (ssize_t)n;
}

#endif
