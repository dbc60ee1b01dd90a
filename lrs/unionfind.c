/*
 * unionfind.c: the classic disjoint-set forest.
 */
#include "unionfind.h"
#include "error.h"

#include <stdlib.h>

struct unionfind {
	long *parent;
	long *size;
	size_t count, cap;
};

struct unionfind *unionfind_new(void)
{
	return calloc(1, sizeof(struct unionfind));
}

void unionfind_free(struct unionfind *uf)
{
	if (!uf)
		return;
	free(uf->parent);
	free(uf->size);
	free(uf);
}

long unionfind_add(struct unionfind *uf)
{
	if (uf->count == uf->cap) {
		size_t cap = uf->cap ? uf->cap * 2 : 1024;
		long *parent = realloc(uf->parent, cap * sizeof(*parent));
		long *size;
		if (!parent)
			return LR_ENOMEM;
		uf->parent = parent;
		size = realloc(uf->size, cap * sizeof(*size));
		if (!size)
			return LR_ENOMEM;
		uf->size = size;
		uf->cap = cap;
	}
	uf->parent[uf->count] = (long)uf->count;
	uf->size[uf->count] = 1;
	return (long)uf->count++;
}

long unionfind_find(struct unionfind *uf, long node)
{
	while (uf->parent[node] != node) {
		uf->parent[node] = uf->parent[uf->parent[node]];
		node = uf->parent[node];
	}
	return node;
}

long unionfind_union(struct unionfind *uf, long a, long b)
{
	long ra = unionfind_find(uf, a), rb = unionfind_find(uf, b), t;

	if (ra == rb)
		return ra;
	if (uf->size[ra] < uf->size[rb]) {
		t = ra;
		ra = rb;
		rb = t;
	}
	uf->parent[rb] = ra;
	uf->size[ra] += uf->size[rb];
	return ra;
}

size_t unionfind_count(const struct unionfind *uf)
{
	return uf->count;
}
