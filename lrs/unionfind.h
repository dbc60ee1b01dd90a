/*
 * unionfind.h: disjoint sets over node numbers 0..n-1, with path halving and
 * union by rank, so that joining identifiers into persons is near-linear.
 */
#ifndef LRHUB_UNIONFIND_H
#define LRHUB_UNIONFIND_H

#include <stddef.h>

struct unionfind;

/* Returns a new structure with no nodes, or NULL when out of memory. */
struct unionfind *unionfind_new(void);
void unionfind_free(struct unionfind *uf);

/* Adds a node in a set of its own; returns its number, or LR_ENOMEM. */
long unionfind_add(struct unionfind *uf);

/* The representative of node's set. */
long unionfind_find(struct unionfind *uf, long node);

/* Joins the sets of a and b; returns the new representative. */
long unionfind_union(struct unionfind *uf, long a, long b);

size_t unionfind_count(const struct unionfind *uf);

#endif
