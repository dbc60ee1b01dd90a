/*
 * unionfind.c: the classic disjoint-set forest, five bytes a node (a 32-bit
 * parent and a rank: union by rank keeps ranks under 32), as the identity
 * resolution has a node for every agent and every email.
 */
#include "unionfind.h"
#include "error.h"

#include <stdint.h>
#include <stdlib.h>

struct unionfind {
	int32_t *parent;
	unsigned char *rank;
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
	free(uf->rank);
	free(uf);
}

long unionfind_add(struct unionfind *uf)
{
	if (uf->count == uf->cap) {
		size_t cap = uf->cap ? uf->cap * 2 : 1024;
		int32_t *parent;
		unsigned char *rank;
		if (uf->count >= INT32_MAX)
			return LR_ENOMEM;
		parent = realloc(uf->parent, cap * sizeof(*parent));
		if (!parent)
			return LR_ENOMEM;
		uf->parent = parent;
		rank = realloc(uf->rank, cap * sizeof(*rank));
		if (!rank)
			return LR_ENOMEM;
		uf->rank = rank;
		uf->cap = cap;
	}
	uf->parent[uf->count] = (int32_t)uf->count;
	uf->rank[uf->count] = 0;
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
	if (uf->rank[ra] < uf->rank[rb]) {
		t = ra;
		ra = rb;
		rb = t;
	}
	uf->parent[rb] = (int32_t)ra;
	if (uf->rank[ra] == uf->rank[rb])
		uf->rank[ra]++;
	return ra;
}

size_t unionfind_count(const struct unionfind *uf)
{
	return uf->count;
}
