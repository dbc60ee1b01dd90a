/*
 * test.h: the few macros lrhub's unit tests need. Each test program ends by
 * printing "N passed, N failed" and exits non-zero when anything failed;
 * tests/run.sh adds the counts of every program and script up.
 */
#ifndef LRHUB_TEST_H
#define LRHUB_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * 1 when the test runs under valgrind (tests/run.sh --valgrind sets
 * LRHUB_VALGRIND): a test whose input is large then uses a smaller one of
 * the same shape, so that memcheck covers the same code within the budget.
 */
#define TEST_VALGRIND (getenv("LRHUB_VALGRIND") != NULL)

static int test_passed, test_failed;
static const char *test_current = "";

#define CHECK(cond) do { \
	if (cond) { test_passed++; } \
	else { test_failed++; \
		fprintf(stderr, "FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, test_current, #cond); } \
} while (0)

#define CHECK_MSG(cond, ...) do { \
	if (cond) { test_passed++; } \
	else { test_failed++; \
		fprintf(stderr, "FAIL %s:%d: %s: %s: ", __FILE__, __LINE__, test_current, #cond); \
		fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *check_a_ = (a), *check_b_ = (b); \
	if (check_a_ && check_b_ && strcmp(check_a_, check_b_) == 0) { test_passed++; } \
	else { test_failed++; \
		fprintf(stderr, "FAIL %s:%d: %s: %s == %s\n  got:      \"%s\"\n  expected: \"%s\"\n", \
			__FILE__, __LINE__, test_current, #a, #b, \
			check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)"); } \
} while (0)

#define CHECK_INT(a, b) do { \
	long long check_a_ = (long long)(a), check_b_ = (long long)(b); \
	if (check_a_ == check_b_) { test_passed++; } \
	else { test_failed++; \
		fprintf(stderr, "FAIL %s:%d: %s: %s == %s (got %lld, expected %lld)\n", \
			__FILE__, __LINE__, test_current, #a, #b, check_a_, check_b_); } \
} while (0)

#define RUN(fn) do { test_current = #fn; fn(); } while (0)

#define TEST_END() do { \
	printf("%d passed, %d failed\n", test_passed, test_failed); \
	return test_failed ? 1 : 0; \
} while (0)

#endif
