/*
 * test_allocfail: fails the Nth memory allocation, for N = 1, 2, ..., during
 * the ingest of a fixture, and checks that every failure is handled cleanly:
 * ingest returns (no crash), says why, leaks nothing (the sanitizer build's
 * LeakSanitizer and valgrind check that at exit), and leaves no half-written
 * data: the store holds each batch whole or not at all, and ingesting the
 * same file again without failures gives the same store as an ingest that
 * never failed.
 *
 * Every allocation path is hooked: lrhub's own code is linked with
 * -Wl,--wrap=malloc,... (see the Makefile), jansson through
 * json_set_alloc_funcs, SQLite through SQLITE_CONFIG_MALLOC, libxml2 through
 * xmlMemSetup and OpenSSL through CRYPTO_set_mem_functions. libzip and
 * libcurl are not on the ingest path.
 *
 * A fixture whose clean ingest makes more than ALLOCFAIL_MAX_RUNS
 * allocations is stepped through with a stride (every allocation up to
 * ALLOCFAIL_DENSE, then evenly spread), so the test stays within seconds;
 * LRHUB_ALLOCFAIL_RUNS in the environment sets another cap; under valgrind
 * it is ALLOCFAIL_VALGRIND_RUNS.
 */
#include "ingest/ingest.h"
#include "lrs/error.h"
#include "lrs/hash.h"
#include "lrs/store.h"
#include "tests/test.h"

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/xmlmemory.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include <execinfo.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define ALLOCFAIL_MAX_RUNS 400
#define ALLOCFAIL_DENSE 150
#define ALLOCFAIL_VALGRIND_RUNS 40 /* under valgrind: dense to 20, then 20 spread */

/* ---- the failing allocator ---- */

static long alloc_count;   /* allocations seen while armed */
static long fail_at;       /* the allocation to fail (1-based); 0: none */
static int armed;
static long failures;      /* allocations actually failed */
static int trace;          /* print where each failure happens */
static const char *current = ""; /* the fixture being ingested */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

/* 1 if this allocation is the one to fail. Thread-safe: a parser thread may allocate too. */
static int should_fail(void)
{
	long n;

	if (!__atomic_load_n(&armed, __ATOMIC_SEQ_CST))
		return 0;
	n = __atomic_add_fetch(&alloc_count, 1, __ATOMIC_SEQ_CST);
	if (fail_at > 0 && n == fail_at) {
		__atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);
		if (trace) {
			/* LRHUB_ALLOCFAIL_TRACE=1: where each failed allocation was asked for. */
			void *frames[16];
			int k = backtrace(frames, 16);
			fprintf(stderr, "%s: allocation %ld fails at:\n", current, n);
			backtrace_symbols_fd(frames, k, 2);
		}
		return 1;
	}
	return 0;
}

void *__wrap_malloc(size_t size) { return should_fail() ? NULL : __real_malloc(size); }
void *__wrap_calloc(size_t n, size_t size) { return should_fail() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t size) { return should_fail() ? NULL : __real_realloc(p, size); }
char *__wrap_strdup(const char *s) { return should_fail() ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return should_fail() ? NULL : __real_strndup(s, n); }

/* The libraries' hooks: the same counter, the real allocator underneath. */
static void *lib_malloc(size_t size) { return __wrap_malloc(size); }
static void *lib_realloc(void *p, size_t size) { return __wrap_realloc(p, size); }
static char *lib_strdup(const char *s) { return __wrap_strdup(s); }

static void *ssl_malloc(size_t size, const char *file, int line)
{
	(void)file; (void)line;
	return __wrap_malloc(size);
}

static void *ssl_realloc(void *p, size_t size, const char *file, int line)
{
	(void)file; (void)line;
	return __wrap_realloc(p, size);
}

static void ssl_free(void *p, const char *file, int line)
{
	(void)file; (void)line;
	free(p);
}

static void *sq_malloc(int n) { return n > 0 ? __wrap_malloc((size_t)n) : NULL; }
static void sq_free(void *p) { free(p); }
static void *sq_realloc(void *p, int n) { return __wrap_realloc(p, n > 0 ? (size_t)n : 1); }
static int sq_size(void *p) { return p ? (int)malloc_usable_size(p) : 0; }
static int sq_roundup(int n) { return (n + 7) & ~7; }
static int sq_init(void *ctx) { (void)ctx; return SQLITE_OK; }
static void sq_shutdown(void *ctx) { (void)ctx; }

static void hook_libraries(void)
{
	static const sqlite3_mem_methods mem = {
		sq_malloc, sq_free, sq_realloc, sq_size, sq_roundup, sq_init, sq_shutdown, NULL
	};

	CHECK(sqlite3_config(SQLITE_CONFIG_MALLOC, &mem) == SQLITE_OK);
	/* No lookaside: every SQLite allocation goes through the hook. */
	CHECK(sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0) == SQLITE_OK);
	json_set_alloc_funcs(lib_malloc, free);
	CHECK(xmlMemSetup(free, lib_malloc, lib_realloc, lib_strdup) == 0);
	CHECK(CRYPTO_set_mem_functions(ssl_malloc, ssl_realloc, ssl_free) == 1);
}

/* ---- stores ---- */

static char dir[64];
static int store_serial;

/* The template store: org-a (with its time zone) and a course, made once without failures. */
static char template_path[600];

static void make_template(void)
{
	struct store_org org = { 0, "org-a", "Org A", "https://lms.org-a.example/", "Europe/London" };
	struct lr_error err;
	struct store *s = NULL;

	snprintf(template_path, sizeof(template_path), "%s/template.db", dir);
	lr_error_clear(&err);
	if (store_open(&s, &err, template_path, STORE_CREATE) != 0 ||
	    store_org_add(s, &err, &org) != 0 || store_course_add(s, &err, "mecc", "MECC") != 0) {
		fprintf(stderr, "cannot make a store: %s\n", err.text);
		exit(2);
	}
	store_close(s);
}

/* A new store: a copy of the template (quicker than making each one). */
static struct store *new_store(char *path, size_t size)
{
	struct lr_error err;
	struct store *s = NULL;
	FILE *from, *to;
	char buf[65536];
	size_t n;

	snprintf(path, size, "%s/store-%d.db", dir, ++store_serial);
	from = fopen(template_path, "rb");
	to = fopen(path, "wb");
	if (!from || !to) {
		perror("copying the template store");
		exit(2);
	}
	while ((n = fread(buf, 1, sizeof(buf), from)) > 0)
		fwrite(buf, 1, n, to);
	fclose(from);
	if (fclose(to) != 0) {
		perror("copying the template store");
		exit(2);
	}
	lr_error_clear(&err);
	if (store_open(&s, &err, path, 0) != 0) {
		fprintf(stderr, "cannot open a store: %s\n", err.text);
		exit(2);
	}
	return s;
}

static void remove_store(const char *path)
{
	char side[600];

	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
}

/* A digest of the stored statements and identity links, and their count. */
static void store_digest(struct store *s, char out[65], long *statements)
{
	static const char *const queries[] = {
		/* What was stored, without when (stored times differ between ingests). */
		"SELECT s.id, s.actor_type, s.verb, s.object_type, s.object_id, s.registration,"
		" s.completes, s.outcome, s.score, s.voids, hex(s.digest), s.course_key, a.ifi, a.name"
		" FROM statement s LEFT JOIN agent a ON a.id = s.actor_id ORDER BY s.id",
		"SELECT COUNT(*) FROM statement",
		"SELECT o.code, i.key, i.email FROM identity_link i JOIN org o ON o.id = i.org_id"
		" ORDER BY 1, 2, 3",
		"SELECT iri, name, type FROM activity ORDER BY iri",
		NULL
	};
	struct hash_sha256_ctx *sha = hash_sha256_new();
	unsigned char digest[HASH_SHA256_LEN];
	sqlite3 *db = store__db(s);
	int i, c;

	*statements = -1;
	for (i = 0; queries[i]; i++) {
		sqlite3_stmt *q = NULL;
		CHECK(sqlite3_prepare_v2(db, queries[i], -1, &q, NULL) == SQLITE_OK);
		while (q && sqlite3_step(q) == SQLITE_ROW) {
			for (c = 0; c < sqlite3_column_count(q); c++) {
				const unsigned char *text = sqlite3_column_text(q, c);
				hash_sha256_update(sha, text ? (const char *)text : "", text ? strlen((const char *)text) + 1 : 1);
			}
			if (i == 1)
				*statements = sqlite3_column_int64(q, 0);
		}
		sqlite3_finalize(q);
	}
	hash_sha256_final(sha, digest);
	hash_sha256_free(sha);
	hash_hex(out, digest, sizeof(digest));
}

/* ---- one fixture ---- */

struct fixture {
	const char *path;
	const char *format;   /* NULL: detect */
	const char *course;
};

static int ingest(struct store *s, struct lr_error *err, const struct fixture *fx,
		  struct ingest_report *report)
{
	struct ingest_options opts;
	const char *paths[1];

	memset(&opts, 0, sizeof(opts));
	memset(report, 0, sizeof(*report));
	opts.org = "org-a";
	opts.format = fx->format;
	opts.course = fx->course;
	paths[0] = fx->path;
	lr_error_clear(err);
	return ingest_paths(s, err, &opts, paths, 1, report);
}

static long max_runs(void)
{
	const char *env = getenv("LRHUB_ALLOCFAIL_RUNS");
	long n = env ? atol(env) : 0;

	if (n <= 0 && TEST_VALGRIND)
		n = ALLOCFAIL_VALGRIND_RUNS;
	return n > 0 ? n : ALLOCFAIL_MAX_RUNS;
}

static void run_fixture(const struct fixture *fx)
{
	struct ingest_report report;
	struct lr_error err;
	struct store *s;
	char path[512], want[65], got[65];
	long want_n, got_n, total, n, step, runs = 0, limit = max_runs();
	long dense = limit / 2 < ALLOCFAIL_DENSE ? limit / 2 : ALLOCFAIL_DENSE;
	long reported = 0, clean = 0, partial_ok = 0;
	int rc;

	current = fx->path;
	/* A clean ingest: the reference store and the number of allocations. */
	s = new_store(path, sizeof(path));
	alloc_count = 0;
	fail_at = 0;
	armed = 1;
	rc = ingest(s, &err, fx, &report);
	armed = 0;
	total = alloc_count;
	CHECK_MSG(rc == 0, "%s: clean ingest: %s", fx->path, err.text);
	store_digest(s, want, &want_n);
	CHECK_MSG(want_n > 0, "%s stores nothing", fx->path);
	store_close(s);
	remove_store(path);

	step = 1;
	for (n = 1; n <= total; n += step) {
		long before_n;
		const char *only = getenv("LRHUB_ALLOCFAIL_N");

		/* LRHUB_ALLOCFAIL_N=K: only the Kth allocation (with LRHUB_ALLOCFAIL_TRACE to debug). */
		if (only && atol(only) != n)
			continue;

		if (n > dense && total > limit)
			step = (total - dense) / (limit - dense) + 1;
		s = new_store(path, sizeof(path));
		alloc_count = 0;
		fail_at = n;
		failures = 0;
		armed = 1;
		rc = ingest(s, &err, fx, &report);
		armed = 0;
		fail_at = 0;
		runs++;
		if (trace)
			fprintf(stderr, "%s: allocation %ld: rc %d (%s), files failed %ld, partial %ld, "
				"accepted %ld, rejected %ld\n", fx->path, n, rc, err.text, report.files_failed,
				report.files_partial, report.counts.accepted, report.counts.rejected);
		if (rc != 0) {
			/* Reported: with a reason. */
			CHECK_MSG(err.text[0], "%s: allocation %ld: ingest failed (%d) without a reason",
				  fx->path, n, rc);
			reported++;
		} else if (report.files_failed || report.files_partial || report.counts.rejected) {
			/* Recorded in the run as a failed file or a reject (the message is in the store). */
			partial_ok++;
		} else {
			clean++;
		}
		/* Nothing half-written: every statement or none (the fixtures are one batch). */
		store_digest(s, got, &before_n);
		CHECK_MSG(before_n == 0 || before_n == want_n,
			  "%s: allocation %ld failed: %ld of %ld statements stored (rc %d: %s)",
			  fx->path, n, before_n, want_n, rc, err.text);
		if (before_n == want_n)
			CHECK_MSG(strcmp(got, want) == 0, "%s: allocation %ld: stored statements differ",
				  fx->path, n);
		/* Again without failures: the same store as a never-failed ingest. */
		rc = ingest(s, &err, fx, &report);
		CHECK_MSG(rc == 0, "%s: allocation %ld: the ingest after it failed: %s", fx->path, n,
			  err.text);
		store_digest(s, got, &got_n);
		CHECK_MSG(got_n == want_n && strcmp(got, want) == 0,
			  "%s: allocation %ld: after a clean re-ingest the store differs (%ld of %ld statements)",
			  fx->path, n, got_n, want_n);
		store_close(s);
		remove_store(path);
	}
	printf("%s: %ld allocations, %ld runs (stride up to %ld): %ld reported an error, "
	       "%ld recorded a failed file or reject, %ld went in whole\n",
	       fx->path, total, runs, step, reported, partial_ok, clean);
}

static const struct fixture fixtures[] = {
	{ "fixtures/multiorg/gp-c/statements-page-1.json", NULL, NULL },
	{ "fixtures/moodle-track/scorm12_passed/input.csv", NULL, NULL },
	{ "fixtures/scormcloud/v2_list/input.json", NULL, NULL },
	{ "fixtures/scormcloud/v1_report_full/input.xml", NULL, "golf" },
	{ "fixtures/totara/ymd/input.csv", NULL, NULL },
	{ "fixtures/moodle-report/short_dates/input.txt", "moodle-report", "mecc" },
};

static void test_ingest(void)
{
	size_t i;

	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
		run_fixture(&fixtures[i]);
}

int main(void)
{
	trace = getenv("LRHUB_ALLOCFAIL_TRACE") != NULL;
	hook_libraries();
	/* Stores in memory-backed /dev/shm when there is one: thousands of small commits. */
	snprintf(dir, sizeof(dir), "%s/lrhub-allocfail.XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	make_template();
	RUN(test_ingest);
	remove_store(template_path);
	rmdir(dir);
	TEST_END();
}
