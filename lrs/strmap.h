/*
 * strmap.h: a hash map from byte-string keys to 64-bit values, with keys
 * copied into the map's own arena. Used where a derived view groups many
 * rows by a key (emails to union-find nodes, person+course to completions).
 */
#ifndef LRHUB_STRMAP_H
#define LRHUB_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap;

/* Returns a new empty map, or NULL when out of memory. Free with strmap_free. */
struct strmap *strmap_new(void);
void strmap_free(struct strmap *m);

/*
 * Finds key; if absent and insert is non-zero, adds it with value *value.
 * Returns 1 found (and *value set to the stored value), 0 added (or, without
 * insert, absent), LR_ENOMEM when it could not add.
 */
int strmap_get(struct strmap *m, const void *key, size_t len, int64_t *value, int insert);

/* The map's own copy of key (stable while the map lives), or NULL if absent. */
const char *strmap_key(struct strmap *m, const void *key, size_t len);

/* Replaces the value of a key that is in the map; 0, or LR_ENOTFOUND. */
int strmap_set(struct strmap *m, const void *key, size_t len, int64_t value);

size_t strmap_count(const struct strmap *m);

/* The hash the map uses for a key (64 bits, well mixed), for tables of other shapes. */
uint64_t strmap_hash(const void *key, size_t len);

#endif
