/*
 * jsonmem.c: jansson's allocator with a per-thread failure flag (see jsonmem.h).
 */
#include "jsonmem.h"

#include <jansson.h>

#include <stdlib.h>

static _Thread_local int failed;
static int installed;

static void *jsonmem_malloc(size_t size)
{
	void *p = malloc(size);

	if (!p)
		failed = 1;
	return p;
}

static void jsonmem_free(void *p)
{
	free(p);
}

void jsonmem_clear(void)
{
	/* Both allocators are malloc and free underneath: a race to install is harmless. */
	if (!__atomic_load_n(&installed, __ATOMIC_ACQUIRE)) {
		json_set_alloc_funcs(jsonmem_malloc, jsonmem_free);
		__atomic_store_n(&installed, 1, __ATOMIC_RELEASE);
	}
	failed = 0;
}

int jsonmem_failed(void)
{
	return failed;
}
