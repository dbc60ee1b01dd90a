/*
 * jsonmem.h: jansson's allocations made through lrhub's, so that a JSON
 * parse that failed for lack of memory can be told from bad JSON. jansson
 * reports some allocation failures inside its parser as a syntax error, and
 * recovers from others with a different value; without this, a good record
 * would be rejected as "not valid JSON", or stored altered, when memory ran
 * short.
 *
 *   jsonmem_clear();
 *   value = json_loadb(...);
 *   if (jsonmem_failed())  ... out of memory, whatever json_loadb returned
 *
 * Arenas: a thread that parses many short-lived trees (the xAPI adapter's
 * parser thread) can have jansson allocate from an arena instead of malloc.
 * An allocation is then a pointer bump, freeing one is nothing, and the whole
 * arena is given back at once by jsonmem_arena_reset when no value allocated
 * from it is referenced any more. Freeing a value from an arena is safe from
 * any thread (it does nothing); values that other threads add to such a tree
 * come from malloc as usual and are freed as usual.
 *
 *   struct jsonmem_arena *a = jsonmem_arena_new();   (NULL: none, use malloc)
 *   jsonmem_arena_use(a);  value = json_loadb(...);  jsonmem_arena_use(NULL);
 *   ... json_decref(value) (here or in another thread) ...
 *   jsonmem_arena_reset(a);      (every value from a is gone)
 *   jsonmem_arena_free(a);
 */
#ifndef LRHUB_JSONMEM_H
#define LRHUB_JSONMEM_H

#include <stddef.h>

/* Routes jansson's allocations through lrhub's (once) and clears this thread's failure flag. */
void jsonmem_clear(void);

/* 1 if a jansson allocation failed on this thread since jsonmem_clear. */
int jsonmem_failed(void);

struct jsonmem_arena;

/*
 * A new, empty arena of JSONMEM_ARENA_SIZE bytes of address space (pages are
 * used as it fills); past that its allocations come from malloc. NULL if none
 * can be had (out of memory, or too many arenas in use): then use malloc.
 */
struct jsonmem_arena *jsonmem_arena_new(void);

/* This thread's jansson allocations come from a from now on; NULL: from malloc again. */
void jsonmem_arena_use(struct jsonmem_arena *a);

/* Forgets everything allocated from a (none of it may still be referenced). */
void jsonmem_arena_reset(struct jsonmem_arena *a);

/* Resets a and gives it back for reuse; NULL is ignored. */
void jsonmem_arena_free(struct jsonmem_arena *a);

/*
 * 1 if some of this thread's allocations since a's last reset came from
 * malloc (a was full), or a is NULL: values from a may then hold malloc'd
 * parts, which only json_decref frees.
 */
int jsonmem_arena_spilled(const struct jsonmem_arena *a);

/* Bytes of a in use (since its last reset), for tests. */
size_t jsonmem_arena_used(const struct jsonmem_arena *a);

#define JSONMEM_ARENA_SIZE ((size_t)1 << 20)

#endif
