/*
 * test_jsonmem: jansson's values from arenas (lrs/jsonmem.h). Values built
 * while an arena is in use come from it and freeing them is nothing; a value
 * too big for the arena comes from malloc and is freed as usual (valgrind and
 * LeakSanitizer check that nothing leaks); a reset arena is empty; arenas
 * are reused, and when none is left the caller is told so; and a value from
 * an arena can be dropped by another thread.
 */
#include "lrs/jsonmem.h"
#include "tests/test.h"

#include <jansson.h>

#include <pthread.h>

#define ARENAS_AT_MOST 512 /* jsonmem.c: 8 regions of 64 */

static json_t *statement_like(int i)
{
	return json_pack("{s:s, s:{s:s, s:s}, s:{s:s}, s:[i, f, b, n]}", "id", "a statement",
			 "actor", "mbox", "mailto:someone@example.org", "name", "Someone", "verb", "id",
			 "http://adlnet.gov/expapi/verbs/completed", "list", i, 0.5, 1);
}

static void test_values_from_an_arena(void)
{
	struct jsonmem_arena *a = jsonmem_arena_new();
	json_t *v;
	size_t used;

	CHECK(a != NULL);
	if (!a)
		return;
	CHECK_INT((long)jsonmem_arena_used(a), 0);
	jsonmem_arena_use(a);
	v = statement_like(1);
	jsonmem_arena_use(NULL);
	CHECK(v != NULL);
	used = jsonmem_arena_used(a);
	CHECK(used > 0);
	CHECK(!jsonmem_arena_spilled(a));
	CHECK_STR(json_string_value(json_object_get(json_object_get(v, "actor"), "name")), "Someone");
	/* Values made with no arena in use come from malloc: the arena does not grow. */
	json_decref(statement_like(2));
	CHECK_INT((long)jsonmem_arena_used(a), (long)used);
	/* Freeing a value from an arena is nothing; the reset gives everything back. */
	json_decref(v);
	CHECK_INT((long)jsonmem_arena_used(a), (long)used);
	jsonmem_arena_reset(a);
	CHECK_INT((long)jsonmem_arena_used(a), 0);
	jsonmem_arena_free(a);
}

static void test_too_big_for_the_arena(void)
{
	struct jsonmem_arena *a = jsonmem_arena_new();
	char *big = malloc(JSONMEM_ARENA_SIZE + 100);
	json_t *v;

	CHECK(a != NULL && big != NULL);
	if (!a || !big) {
		free(big);
		jsonmem_arena_free(a);
		return;
	}
	memset(big, 'x', JSONMEM_ARENA_SIZE + 99);
	big[JSONMEM_ARENA_SIZE + 99] = '\0';
	jsonmem_arena_use(a);
	v = json_pack("{s:s, s:s}", "small", "in the arena", "big", big);
	jsonmem_arena_use(NULL);
	CHECK(v != NULL);
	CHECK(jsonmem_arena_spilled(a));
	CHECK_INT((long)strlen(json_string_value(json_object_get(v, "big"))), (long)JSONMEM_ARENA_SIZE + 99);
	/* The malloc'd part is freed by json_decref (a leak here fails valgrind and LSan). */
	json_decref(v);
	jsonmem_arena_reset(a);
	CHECK(!jsonmem_arena_spilled(a));
	CHECK(jsonmem_arena_spilled(NULL));
	jsonmem_arena_free(a);
	free(big);
}

static void test_arenas_run_out_and_come_back(void)
{
	static struct jsonmem_arena *held[ARENAS_AT_MOST + 1];
	struct jsonmem_arena *again;
	int n = 0, i;

	while (n <= ARENAS_AT_MOST && (held[n] = jsonmem_arena_new()) != NULL)
		n++;
	CHECK_MSG(n == ARENAS_AT_MOST, "%d arenas", n);
	for (i = 1; i < n; i++)
		CHECK(held[i] != held[i - 1]);
	/* None left: the caller uses malloc, and jansson still works. */
	CHECK(jsonmem_arena_new() == NULL);
	jsonmem_arena_use(NULL);
	json_decref(statement_like(3));
	/* One given back is the next one had. */
	jsonmem_arena_free(held[7]);
	again = jsonmem_arena_new();
	CHECK(again == held[7]);
	held[7] = again;
	for (i = 0; i < n; i++)
		jsonmem_arena_free(held[i]);
	jsonmem_arena_free(NULL);
}

static json_t *handed_over;

static void *drop_it(void *arg)
{
	(void)arg;
	json_decref(handed_over);
	return NULL;
}

static void test_dropped_by_another_thread(void)
{
	struct jsonmem_arena *a = jsonmem_arena_new();
	pthread_t t;
	json_t *mine;

	CHECK(a != NULL);
	if (!a)
		return;
	jsonmem_arena_use(a);
	handed_over = statement_like(4);
	mine = json_incref(handed_over);
	jsonmem_arena_use(NULL);
	CHECK_INT(pthread_create(&t, NULL, drop_it, NULL), 0);
	pthread_join(t, NULL);
	/* Still held here: intact. */
	CHECK_STR(json_string_value(json_object_get(mine, "id")), "a statement");
	/* A value made with no arena in use (from malloc) joins the tree; json_decref frees it. */
	json_object_set_new(mine, "stored", json_string("from malloc"));
	CHECK_STR(json_string_value(json_object_get(mine, "stored")), "from malloc");
	json_decref(mine);
	jsonmem_arena_reset(a);
	jsonmem_arena_free(a);
}

int main(void)
{
	jsonmem_clear();
	RUN(test_values_from_an_arena);
	RUN(test_too_big_for_the_arena);
	RUN(test_arenas_run_out_and_come_back);
	RUN(test_dropped_by_another_thread);
	TEST_END();
}
