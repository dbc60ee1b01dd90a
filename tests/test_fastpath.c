/*
 * Unit tests: the fast paths of file ingest (docs/performance.md): a
 * statement stored from its own bytes (store_put_statement_raw) reads back
 * the same as one serialised by jansson, the same bytes are known again
 * (store_raw_known, through a second read connection), and an xAPI file read
 * by the adapter's parser thread gives the same counts, rejects (with their
 * lines) and conflicts as before, on a first ingest and on a re-ingest.
 */
#include "ingest/ingest.h"
#include "lrs/error.h"
#include "lrs/store.h"
#include "tests/test.h"

#include <jansson.h>
#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char db_path[96], file_path[96];

#define ST(id, extra) \
	"{\"id\":\"" id "\",\"actor\":{\"mbox\":\"mailto:a@example.org\",\"name\":\"A\"}," \
	"\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/completed\"}," \
	"\"object\":{\"id\":\"http://example.org/course/mecc\"}" extra "}"

static struct store *fresh_store(void)
{
	struct store_org org = { 0, "org-a", NULL, NULL, NULL };
	struct store *s = NULL;
	struct lr_error err;
	char side[128];

	lr_error_clear(&err);
	snprintf(db_path, sizeof(db_path), "/tmp/lrhub-test-fastpath-%ld.db", (long)getpid());
	unlink(db_path);
	snprintf(side, sizeof(side), "%s-wal", db_path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", db_path);
	unlink(side);
	CHECK_INT(store_open(&s, &err, db_path, STORE_CREATE), 0);
	CHECK_INT(store_org_add(s, &err, &org), 0);
	return s;
}

/* The stored text of statement id, parsed, without "stored"; NULL if none. */
static json_t *stored_json(struct store *s, const char *id)
{
	sqlite3_stmt *q = NULL;
	json_t *st = NULL;

	sqlite3_prepare_v2(store__db(s), "SELECT json FROM statement WHERE id = ?", -1, &q, NULL);
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW)
		st = json_loads((const char *)sqlite3_column_text(q, 0), JSON_REJECT_DUPLICATES, NULL);
	sqlite3_finalize(q);
	if (st)
		json_object_del(st, "stored");
	return st;
}

static char *stored_text(struct store *s, const char *id)
{
	sqlite3_stmt *q = NULL;
	char *text = NULL;

	sqlite3_prepare_v2(store__db(s), "SELECT json FROM statement WHERE id = ?", -1, &q, NULL);
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW)
		text = strdup((const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	return text;
}

/* Puts text both ways (raw into s, serialised into ref) and compares what was stored. */
static void put_both(struct store *s, struct store *ref, const char *text, const char *id)
{
	struct store_source src = { .org_code = "org-a" };
	enum store_outcome outcome;
	struct lr_error err;
	json_t *a = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	json_t *b = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	json_t *got, *want;
	char *raw_text;

	lr_error_clear(&err);
	store_org_id(s, &err, "org-a", &src.org_id);
	CHECK(a && b);
	CHECK_INT(store_put_statement_raw(s, &err, a, text, strlen(text), &src, NULL, &outcome), 0);
	CHECK_INT(outcome, STORE_NEW);
	CHECK_INT(store_put_statement(ref, &err, b, &src, &outcome), 0);
	got = stored_json(s, id);
	want = stored_json(ref, id);
	CHECK_MSG(got && want && json_equal(got, want), "stored from raw differs for %s", id);
	/* Compact, and the members in the order jansson would write them. */
	raw_text = stored_text(s, id);
	CHECK_MSG(raw_text && !strchr(raw_text, '\n') && !strstr(raw_text, "\": "),
		  "stored text is not compact: %s", raw_text ? raw_text : "(none)");
	if (got && want) {
		const char *k1, *k2;
		void *i1 = json_object_iter(got), *i2 = json_object_iter(want);
		for (; i1 && i2; i1 = json_object_iter_next(got, i1), i2 = json_object_iter_next(want, i2)) {
			k1 = json_object_iter_key(i1);
			k2 = json_object_iter_key(i2);
			CHECK_STR(k1, k2);
		}
		CHECK(!i1 && !i2);
	}
	free(raw_text);
	json_decref(got);
	json_decref(want);
	json_decref(a);
	json_decref(b);
}

static void test_raw_put(void)
{
	struct store *ref, *s;
	struct lr_error err;
	char ref_path[96];
	static const char spaced[] =
		"{ \"id\" : \"11111111-0000-4000-8000-000000000001\",\n"
		"  \"actor\": {\"mbox\": \"mailto:a@example.org\", \"name\": \"A \\\" B\"},\n"
		"  \"verb\": {\"id\": \"http://adlnet.gov/expapi/verbs/passed\"},\t\r\n"
		"  \"object\": {\"id\": \"http://example.org/course/mecc\"},\n"
		"  \"result\": {\"score\": {\"scaled\": 0.57}, \"success\": true}\n}\n";

	lr_error_clear(&err);
	snprintf(ref_path, sizeof(ref_path), "/tmp/lrhub-test-fastpath-ref-%ld.db", (long)getpid());
	unlink(ref_path);
	CHECK_INT(store_open(&ref, &err, ref_path, STORE_CREATE), 0);
	{
		struct store_org org = { 0, "org-a", NULL, NULL, NULL };
		CHECK_INT(store_org_add(ref, &err, &org), 0);
	}
	s = fresh_store();
	/* White space inside and around, an escaped quote, a real number. */
	put_both(s, ref, spaced, "11111111-0000-4000-8000-000000000001");
	/* Version and authority given: nothing added but stored. */
	put_both(s, ref,
		 ST("11111111-0000-4000-8000-000000000002",
		    ",\"version\":\"1.0.3\",\"authority\":{\"mbox\":\"mailto:lms@example.org\"}"),
		 "11111111-0000-4000-8000-000000000002");
	/* Its own "stored": the store serialises instead, with the same result. */
	put_both(s, ref,
		 ST("11111111-0000-4000-8000-000000000003", ",\"stored\":\"2020-01-01T00:00:00Z\""),
		 "11111111-0000-4000-8000-000000000003");

	/* The same bytes are known; other bytes, other ids and non-UUIDs are not. */
	CHECK_INT(store_raw_known(s, &err, "11111111-0000-4000-8000-000000000001", spaced,
				  strlen(spaced)), 1);
	CHECK_INT(store_raw_known(s, &err, "11111111-0000-4000-8000-000000000001", spaced,
				  strlen(spaced) - 1), 0);
	CHECK_INT(store_raw_known(s, &err, "11111111-0000-4000-8000-00000000000A", spaced,
				  strlen(spaced)), 0);
	CHECK_INT(store_raw_known(s, &err, "not-a-uuid", spaced, strlen(spaced)), 0);
	/* Stored without raw (the HTTP path): never known by bytes. */
	CHECK_INT(store_raw_known(ref, &err, "11111111-0000-4000-8000-000000000001", spaced,
				  strlen(spaced)), 0);
	/* The id as written may be upper case. */
	{
		static const char upper[] = ST("ABCDEF00-0000-4000-8000-000000000004", "");
		struct store_source src = { .org_code = "org-a" };
		enum store_outcome outcome;
		json_t *st = json_loads(upper, 0, NULL);
		struct store *reader = NULL;

		store_org_id(s, &err, "org-a", &src.org_id);
		CHECK_INT(store_put_statement_raw(s, &err, st, upper, strlen(upper), &src, NULL, &outcome), 0);
		json_decref(st);
		CHECK_INT(store_open_reader(&reader, &err, s), 0);
		CHECK_INT(store_raw_known(reader, &err, "ABCDEF00-0000-4000-8000-000000000004", upper,
					  strlen(upper)), 1);
		store_close(reader);
	}
	store_close(ref);
	store_close(s);
	unlink(ref_path);
}

/* The store's own serialiser writes what json_dumps(JSON_COMPACT) writes. */
static void test_serialiser(void)
{
	static const char text[] =
		ST("33333333-0000-4000-8000-000000000001",
		   ",\"result\":{\"extensions\":{\"http://example.org/x\":[0.57,1e20,1e-7,100.0,"
		   "-2.5e-300,12345678901234567890.0,123456789,-0,true,false,null,{},[],"
		   "\"tab\\tnl\\nquote\\\"bs\\\\ctl\\u0001\\u001f \\u00e9 \\u2713 \\/ \\ud83d\\ude00\"]}}");
	struct store *s = fresh_store();
	struct store_source src = { .org_code = "org-a" };
	enum store_outcome outcome;
	struct lr_error err;
	json_t *st = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	char *want, *got;

	lr_error_clear(&err);
	CHECK(st != NULL);
	store_org_id(s, &err, "org-a", &src.org_id);
	CHECK_INT(store_put_statement(s, &err, st, &src, &outcome), 0);
	want = json_dumps(st, JSON_COMPACT);
	got = stored_text(s, "33333333-0000-4000-8000-000000000001");
	CHECK_STR(got ? got : "(none)", want ? want : "(none)");
	free(want);
	free(got);
	json_decref(st);
	store_close(s);
}

struct seen {
	long rejects, conflicts;
	char first_reject[512];
};

static void on_reject(void *ctx, const char *kind, const struct lr_error *rej)
{
	struct seen *seen = ctx;

	if (strcmp(kind, "conflict") == 0)
		seen->conflicts++;
	else if (seen->rejects++ == 0)
		lr_error_format(rej, seen->first_reject, sizeof(seen->first_reject));
}

static int ingest_text(struct store *s, const char *text, struct ingest_report *report,
		       struct seen *seen)
{
	struct ingest_options opts;
	struct lr_error err;
	const char *paths[1] = { file_path };
	FILE *fp = fopen(file_path, "wb");

	if (!fp)
		return -1;
	fputs(text, fp);
	fclose(fp);
	memset(&opts, 0, sizeof(opts));
	memset(seen, 0, sizeof(*seen));
	opts.org = "org-a";
	opts.batch = 40; /* several transactions, so a re-ingest sees the earlier ones */
	opts.on_reject = on_reject;
	opts.ctx = seen;
	lr_error_clear(&err);
	return ingest_paths(s, &err, &opts, paths, 1, report);
}

static void test_pipeline(void)
{
	struct store *s = fresh_store();
	struct ingest_report report;
	struct seen seen;
	size_t cap = 1 << 20, len = 0;
	char *text = malloc(cap);
	int i;

	snprintf(file_path, sizeof(file_path), "/tmp/lrhub-test-fastpath-%ld.jsonl", (long)getpid());
	/* 300 statements (several times the thread's ring), a bad line and an invalid statement. */
	for (i = 0; i < 300; i++) {
		len += (size_t)snprintf(text + len, cap - len,
					"{\"id\":\"22222222-0000-4000-8000-%012d\",\"actor\":{\"mbox\":\"mailto:l%d@example.org\"},"
					"\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/completed\"},"
					"\"object\":{\"id\":\"http://example.org/course/c%d\"}}\n",
					i, i % 17, i % 5);
		if (i == 100)
			len += (size_t)snprintf(text + len, cap - len, "{\"id\": not json}\n");
		if (i == 200)
			len += (size_t)snprintf(text + len, cap - len,
						"{\"id\":\"22222222-0000-4000-8000-999999999999\",\"actor\":{\"mbox\":\"mailto:x@example.org\"},"
						"\"verb\":{\"id\":\"not an iri\"},\"object\":{\"id\":\"http://example.org/c\"}}\n");
	}
	CHECK_INT(ingest_text(s, text, &report, &seen), 0);
	CHECK_INT(report.counts.accepted, 300);
	CHECK_INT(report.counts.duplicates, 0);
	CHECK_INT(report.counts.rejected, 2);
	CHECK_MSG(strstr(seen.first_reject, ":102: record 102:") != NULL, "first reject: %s",
		  seen.first_reject);

	/* Again: every statement a duplicate (known by its bytes), the same two rejects. */
	CHECK_INT(ingest_text(s, text, &report, &seen), 0);
	CHECK_INT(report.counts.accepted, 0);
	CHECK_INT(report.counts.duplicates, 300);
	CHECK_INT(report.counts.rejected, 2);
	CHECK_INT(seen.conflicts, 0);

	/* The same statement written otherwise: a duplicate by content; changed content: a conflict. */
	CHECK_INT(ingest_text(s,
			      "{ \"id\": \"22222222-0000-4000-8000-000000000007\", \"actor\": {\"mbox\": \"mailto:l7@example.org\"},"
			      " \"verb\": {\"id\": \"http://adlnet.gov/expapi/verbs/completed\"},"
			      " \"object\": {\"id\": \"http://example.org/course/c2\"}}\n"
			      "{\"id\":\"22222222-0000-4000-8000-000000000008\",\"actor\":{\"mbox\":\"mailto:l8@example.org\"},"
			      "\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/passed\"},"
			      "\"object\":{\"id\":\"http://example.org/course/c3\"}}\n",
			      &report, &seen), 0);
	CHECK_INT(report.counts.duplicates, 1);
	CHECK_INT(report.counts.conflicts, 1);
	CHECK_INT(seen.conflicts, 1);
	{
		long n = 0;
		struct lr_error err;
		lr_error_clear(&err);
		CHECK_INT(store_count_statements(s, &err, 0, &n), 0);
		CHECK_INT(n, 300);
	}
	free(text);
	store_close(s);
	unlink(file_path);
	unlink(db_path);
}

int main(void)
{
	RUN(test_raw_put);
	RUN(test_serialiser);
	RUN(test_pipeline);
	TEST_END();
}
