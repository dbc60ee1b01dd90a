/*
 * jsonmem.c: jansson's allocator with a per-thread failure flag, and arenas
 * (see jsonmem.h).
 *
 * The arenas are carved from regions of address space mapped once and never
 * unmapped, so telling an arena's pointer from malloc's is a range check on
 * at most MAX_REGIONS regions, safe from any thread without a lock; an arena
 * given back is reused by the next jsonmem_arena_new.
 */
#include "jsonmem.h"

#include <jansson.h>

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#define JSONMEM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JSONMEM_ASAN 1
#endif
#endif
#ifdef JSONMEM_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define REGION_ARENAS 64                /* one xAPI pipeline's ring */
#define MAX_REGIONS 8                   /* pipelines at once with arenas; more use malloc */
#define REGION_SIZE (REGION_ARENAS * JSONMEM_ARENA_SIZE)
#define KEEP_RESIDENT ((size_t)256 << 10) /* pages above this are given back at a reset */

struct jsonmem_arena {
	char *base;
	size_t used;
	int spilled;                    /* malloc gave some since the last reset */
	struct jsonmem_arena *next_free;
};

struct region {
	char *base;
	struct jsonmem_arena arenas[REGION_ARENAS];
};

static _Thread_local int failed;
static _Thread_local struct jsonmem_arena *current;
static int installed;

static struct region regions[MAX_REGIONS];
static unsigned region_count;           /* published with release after the region is ready */
static struct jsonmem_arena *free_arenas;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

static int in_arena(const void *p)
{
	unsigned n = __atomic_load_n(&region_count, __ATOMIC_ACQUIRE), i;

	for (i = 0; i < n; i++)
		if ((uintptr_t)p - (uintptr_t)regions[i].base < REGION_SIZE)
			return 1;
	return 0;
}

static void *jsonmem_malloc(size_t size)
{
	struct jsonmem_arena *a = current;
	void *p;

	if (a && size <= JSONMEM_ARENA_SIZE) {
		size_t need = (size + 15) & ~(size_t)15;
		if (need <= JSONMEM_ARENA_SIZE - a->used) {
			p = a->base + a->used;
			a->used += need;
			UNPOISON(p, size);
			return p;
		}
	}
	p = malloc(size);
	if (!p)
		failed = 1;
	else if (a)
		a->spilled = 1;
	return p;
}

static void jsonmem_free(void *p)
{
	if (p && !in_arena(p))
		free(p);
}

static void install(void)
{
	/* Both allocators are malloc and free underneath: a race to install is harmless. */
	if (!__atomic_load_n(&installed, __ATOMIC_ACQUIRE)) {
		json_set_alloc_funcs(jsonmem_malloc, jsonmem_free);
		__atomic_store_n(&installed, 1, __ATOMIC_RELEASE);
	}
}

void jsonmem_clear(void)
{
	install();
	failed = 0;
}

int jsonmem_failed(void)
{
	return failed;
}

struct jsonmem_arena *jsonmem_arena_new(void)
{
	struct jsonmem_arena *a = NULL;
	unsigned n, i;

	install();
	pthread_mutex_lock(&pool_lock);
	if (!free_arenas && (n = __atomic_load_n(&region_count, __ATOMIC_RELAXED)) < MAX_REGIONS) {
		/* Address space only: pages are used as arenas fill, and given back at resets. */
		void *base = mmap(NULL, REGION_SIZE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (base != MAP_FAILED) {
			struct region *r = &regions[n];
			r->base = base;
			for (i = REGION_ARENAS; i-- > 0;) {
				r->arenas[i].base = r->base + (size_t)i * JSONMEM_ARENA_SIZE;
				r->arenas[i].used = 0;
				r->arenas[i].spilled = 0;
				r->arenas[i].next_free = free_arenas;
				free_arenas = &r->arenas[i];
			}
			POISON(r->base, REGION_SIZE);
			__atomic_store_n(&region_count, n + 1, __ATOMIC_RELEASE);
		}
	}
	if (free_arenas) {
		a = free_arenas;
		free_arenas = a->next_free;
		a->next_free = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	return a;
}

void jsonmem_arena_use(struct jsonmem_arena *a)
{
	install();
	current = a;
}

void jsonmem_arena_reset(struct jsonmem_arena *a)
{
	if (!a)
		return;
	if (a->used > KEEP_RESIDENT)
		madvise(a->base + KEEP_RESIDENT, a->used - KEEP_RESIDENT, MADV_DONTNEED);
	POISON(a->base, a->used);
	a->used = 0;
	a->spilled = 0;
}

void jsonmem_arena_free(struct jsonmem_arena *a)
{
	if (!a)
		return;
	if (current == a)
		current = NULL;
	jsonmem_arena_reset(a);
	pthread_mutex_lock(&pool_lock);
	a->next_free = free_arenas;
	free_arenas = a;
	pthread_mutex_unlock(&pool_lock);
}

int jsonmem_arena_spilled(const struct jsonmem_arena *a)
{
	return a ? a->spilled : 1;
}

size_t jsonmem_arena_used(const struct jsonmem_arena *a)
{
	return a ? a->used : 0;
}
