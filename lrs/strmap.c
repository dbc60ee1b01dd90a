/*
 * strmap.c: open addressing with linear probing over a power-of-two table;
 * keys live in chunked arenas that are freed all at once.
 */
#include "strmap.h"
#include "error.h"

#include <stdlib.h>
#include <string.h>

struct slot {
	const unsigned char *key;   /* NULL when empty */
	size_t len;
	uint64_t hash;
	int64_t value;
};

struct chunk {
	struct chunk *next;
	size_t used, size;
	unsigned char data[];
};

struct strmap {
	struct slot *slots;
	size_t mask;     /* capacity - 1 */
	size_t count;
	struct chunk *arena;
};

uint64_t strmap_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 1469598103934665603ULL; /* FNV-1a, then a final mix */
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

struct strmap *strmap_new(void)
{
	struct strmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->slots = calloc(64, sizeof(*m->slots));
	if (!m->slots) {
		free(m);
		return NULL;
	}
	m->mask = 63;
	return m;
}

void strmap_free(struct strmap *m)
{
	struct chunk *c, *next;

	if (!m)
		return;
	for (c = m->arena; c; c = next) {
		next = c->next;
		free(c);
	}
	free(m->slots);
	free(m);
}

/* Copies key into the arena with a NUL after it, so text keys can be read as strings. */
static const unsigned char *arena_copy(struct strmap *m, const void *key, size_t len)
{
	struct chunk *c = m->arena;
	unsigned char *p;

	if (!c || c->size - c->used < len + 1) {
		size_t size = len + 1 > 65536 ? len + 1 : 65536;
		c = malloc(sizeof(*c) + size);
		if (!c)
			return NULL;
		c->size = size;
		c->used = 0;
		c->next = m->arena;
		m->arena = c;
	}
	p = c->data + c->used;
	if (len)
		memcpy(p, key, len);
	p[len] = '\0';
	c->used += len + 1;
	return p;
}

static int grow(struct strmap *m)
{
	size_t cap = (m->mask + 1) * 2, i;
	struct slot *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return LR_ENOMEM;
	for (i = 0; i <= m->mask; i++) {
		struct slot *s = &m->slots[i];
		size_t j;
		if (!s->key)
			continue;
		for (j = s->hash & (cap - 1); slots[j].key; j = (j + 1) & (cap - 1))
			;
		slots[j] = *s;
	}
	free(m->slots);
	m->slots = slots;
	m->mask = cap - 1;
	return 0;
}

static struct slot *find(struct strmap *m, const void *key, size_t len, uint64_t h)
{
	size_t i;

	for (i = h & m->mask;; i = (i + 1) & m->mask) {
		struct slot *s = &m->slots[i];
		if (!s->key)
			return s;
		if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
			return s;
	}
}

int strmap_get(struct strmap *m, const void *key, size_t len, int64_t *value, int insert)
{
	uint64_t h = strmap_hash(key, len);
	struct slot *s = find(m, key, len, h);

	if (s->key) {
		*value = s->value;
		return 1;
	}
	if (!insert)
		return 0;
	if ((m->count + 1) * 4 > (m->mask + 1) * 3) {
		if (grow(m) != 0)
			return LR_ENOMEM;
		s = find(m, key, len, h);
	}
	s->key = arena_copy(m, key, len);
	if (!s->key)
		return LR_ENOMEM;
	s->len = len;
	s->hash = h;
	s->value = *value;
	m->count++;
	return 0;
}

int strmap_set(struct strmap *m, const void *key, size_t len, int64_t value)
{
	struct slot *s = find(m, key, len, strmap_hash(key, len));

	if (!s->key)
		return LR_ENOTFOUND;
	s->value = value;
	return 0;
}

const char *strmap_key(struct strmap *m, const void *key, size_t len)
{
	struct slot *s = find(m, key, len, strmap_hash(key, len));

	return s->key ? (const char *)s->key : NULL;
}

size_t strmap_count(const struct strmap *m)
{
	return m->count;
}
