/*
 * Unit tests: the store (schema, ids, duplicates, conflicts, versions) and
 * the completion rule, over real SQLite files.
 */
#include "lrs/completions.h"
#include "lrs/error.h"
#include "lrs/store.h"
#include "lrs/xtime.h"
#include "tests/test.h"

#include <jansson.h>
#include <sqlite3.h>

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static struct store *store;
static char path[96];
static int64_t org_a, org_b;

#define COURSE "http://example.org/course/mecc"
#define OTHER "http://example.org/course/other"
#define V "http://adlnet.gov/expapi/verbs/"

static void fresh(void)
{
	struct store_org a = { 0, "org-a", NULL, NULL, NULL }, b = { 0, "org-b", NULL, NULL, NULL };
	struct lr_error err;
	int64_t course;

	lr_error_clear(&err);
	if (store)
		store_close(store);
	snprintf(path, sizeof(path), "/tmp/lrhub-test-store-%ld.db", (long)getpid());
	unlink(path);
	CHECK_INT(store_open(&store, &err, path, STORE_CREATE), 0);
	CHECK_INT(store_org_add(store, &err, &a), 0);
	CHECK_INT(store_org_add(store, &err, &b), 0);
	store_org_id(store, &err, "org-a", &org_a);
	store_org_id(store, &err, "org-b", &org_b);
	CHECK_INT(store_course_add(store, &err, "mecc", "MECC"), 0);
	store_course_id(store, &err, "mecc", &course);
	CHECK_INT(store_course_alias(store, &err, course, 0, COURSE), 0);
}

/* Puts a statement; returns the store's code and sets *outcome. */
static int put_as(int64_t org_id, const char *org, const char *json, enum store_outcome *outcome,
		  struct lr_error *err)
{
	struct store_source src = { .org_id = org_id, .org_code = org };
	json_t *st = json_loads(json, 0, NULL);
	int rc;

	lr_error_clear(err);
	if (!st) {
		fprintf(stderr, "bad test JSON: %s\n", json);
		return -100;
	}
	rc = store_put_statement(store, err, st, &src, outcome);
	json_decref(st);
	return rc;
}

static void put(int64_t org_id, const char *org, const char *json)
{
	enum store_outcome outcome;
	struct lr_error err;
	int rc = put_as(org_id, org, json, &outcome, &err);

	CHECK_MSG(rc == 0 && outcome == STORE_NEW, "rc %d: %s: %s", rc, err.field, err.text);
}

static char *stmt(char *buf, size_t size, const char *id, const char *mbox, const char *verb,
		  const char *object, const char *extra)
{
	snprintf(buf, size,
		 "{%s%s%s\"actor\": {\"mbox\": \"mailto:%s\"}, \"verb\": {\"id\": \"" V "%s\"},"
		 " \"object\": {\"id\": \"%s\"}%s%s}",
		 id ? "\"id\": \"" : "", id ? id : "", id ? "\", " : "", mbox, verb, object,
		 extra ? ", " : "", extra ? extra : "");
	return buf;
}

struct rows {
	int n;
	struct completion r[16];
	char text[16][5][320];
};

static int keep_row(void *ctx, const struct completion *c)
{
	struct rows *rows = ctx;
	int i = rows->n++;

	if (i >= 16)
		return -1;
	rows->r[i] = *c;
	snprintf(rows->text[i][0], sizeof(rows->text[i][0]), "%s", c->email ? c->email : "");
	snprintf(rows->text[i][1], sizeof(rows->text[i][1]), "%s", c->orgs);
	snprintf(rows->text[i][2], sizeof(rows->text[i][2]), "%s", c->success);
	snprintf(rows->text[i][3], sizeof(rows->text[i][3]), "%s", c->person_id);
	snprintf(rows->text[i][4], sizeof(rows->text[i][4]), "%s", c->course_id);
	rows->r[i].course_id = rows->text[i][4];
	rows->r[i].email = rows->text[i][0];
	rows->r[i].orgs = rows->text[i][1];
	rows->r[i].success = rows->text[i][2];
	rows->r[i].person_id = rows->text[i][3];
	return 0;
}

static void derive(struct rows *rows, const struct completions_query *q)
{
	struct completions_query none = { 0 };
	struct lr_error err;

	lr_error_clear(&err);
	memset(rows, 0, sizeof(*rows));
	CHECK_INT(completions_each(store, &err, q ? q : &none, keep_row, rows), 0);
}

static void test_ids_and_duplicates(void)
{
	char buf[1024];
	enum store_outcome outcome;
	struct lr_error err;
	long count;

	fresh();
	put(org_a, "org-a", stmt(buf, sizeof(buf), "AAAAAAAA-0000-4000-8000-000000000001", "a@x.org",
				 "completed", COURSE, NULL));
	/* The same statement again, its id in lower case: a no-op. */
	CHECK_INT(put_as(org_a, "org-a", stmt(buf, sizeof(buf), "aaaaaaaa-0000-4000-8000-000000000001",
					      "a@x.org", "completed", COURSE, NULL), &outcome, &err), 0);
	CHECK_INT(outcome, STORE_DUPLICATE);
	/* Differences the spec ignores: mbox case, a verb display, an activity definition. */
	CHECK_INT(put_as(org_a, "org-a",
			 "{\"id\": \"aaaaaaaa-0000-4000-8000-000000000001\","
			 " \"actor\": {\"objectType\": \"Agent\", \"mbox\": \"mailto:A@X.org\"},"
			 " \"verb\": {\"id\": \"" V "completed\", \"display\": {\"en\": \"done\"}},"
			 " \"object\": {\"id\": \"" COURSE "\", \"definition\": {\"name\": {\"en\": \"M\"}}}}",
			 &outcome, &err), 0);
	CHECK_INT(outcome, STORE_DUPLICATE);
	/* A different verb under the same id: a conflict, not stored. */
	CHECK_INT(put_as(org_a, "org-a", stmt(buf, sizeof(buf), "aaaaaaaa-0000-4000-8000-000000000001",
					      "a@x.org", "passed", COURSE, NULL), &outcome, &err),
		  LR_ECONFLICT);
	CHECK_STR(err.text, "statement aaaaaaaa-0000-4000-8000-000000000001 is already stored with different content");
	/* No id: derived from content and org, so a re-send is a no-op ... */
	put(org_a, "org-a", stmt(buf, sizeof(buf), NULL, "b@x.org", "completed", COURSE, NULL));
	CHECK_INT(put_as(org_a, "org-a", stmt(buf, sizeof(buf), NULL, "b@x.org", "completed", COURSE, NULL),
			 &outcome, &err), 0);
	CHECK_INT(outcome, STORE_DUPLICATE);
	/* ... while the same content from another org is another record. */
	put(org_b, "org-b", stmt(buf, sizeof(buf), NULL, "b@x.org", "completed", COURSE, NULL));
	/* Invalid statements are refused with where and why. */
	CHECK_INT(put_as(org_a, "org-a", "{\"verb\": {\"id\": \"" V "completed\"}, \"object\": {\"id\": \"" COURSE "\"}}",
			 &outcome, &err), LR_EINVAL);
	CHECK_STR(err.field, "actor");
	CHECK_INT(store_count_statements(store, &err, 0, &count), 0);
	CHECK_INT(count, 3);
}

static void test_stored_form(void)
{
	char buf[1024];
	sqlite3_stmt *q;
	json_t *st;

	fresh();
	put(org_a, "org-a", stmt(buf, sizeof(buf), NULL, "a@x.org", "completed", COURSE,
				 "\"timestamp\": \"2025-03-01T10:00:00+01:00\""));
	sqlite3_prepare_v2(store__db(store), "SELECT json, ts FROM statement", -1, &q, NULL);
	CHECK_INT(sqlite3_step(q), SQLITE_ROW);
	st = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
	CHECK(st != NULL);
	CHECK(json_is_string(json_object_get(st, "id")));
	CHECK(json_is_string(json_object_get(st, "stored")));
	CHECK_STR(json_string_value(json_object_get(st, "version")), "1.0.0");
	CHECK_STR(json_string_value(json_object_get(json_object_get(json_object_get(st, "authority"), "account"), "name")),
		  "org-a");
	/* The timestamp as given; its instant in the ts column. */
	CHECK_STR(json_string_value(json_object_get(st, "timestamp")), "2025-03-01T10:00:00+01:00");
	CHECK_INT(sqlite3_column_int64(q, 1), 1740819600000LL);
	json_decref(st);
	sqlite3_finalize(q);
}

static void test_completion_rule(void)
{
	char buf[1024];
	struct rows rows;
	struct completions_query q = { 0 };

	fresh();
	/* a: completed twice, once at each org; the earliest and latest kept. */
	put(org_a, "org-a", stmt(buf, sizeof(buf), NULL, "a@x.org", "completed", COURSE,
				 "\"timestamp\": \"2025-02-01T00:00:00Z\""));
	put(org_b, "org-b", stmt(buf, sizeof(buf), NULL, "a@x.org", "completed", COURSE,
				 "\"timestamp\": \"2025-01-01T00:00:00+02:00\""));
	/* b: failed, then passed: success is passed; best score the highest. */
	put(org_a, "org-a", stmt(buf, sizeof(buf), NULL, "b@x.org", "failed", COURSE,
				 "\"result\": {\"score\": {\"scaled\": 0.4}, \"success\": false}, \"timestamp\": \"2025-01-01T00:00:00Z\""));
	put(org_a, "org-a", stmt(buf, sizeof(buf), NULL, "b@x.org", "passed", COURSE,
				 "\"result\": {\"score\": {\"scaled\": -0.5}}, \"timestamp\": \"2025-01-02T00:00:00Z\""));
	/* c: only failed: no completion, no row. */
	put(org_a, "org-a", stmt(buf, sizeof(buf), NULL, "c@x.org", "failed", COURSE, NULL));
	/* d: result.completion true on another verb; failing evidence only. */
	put(org_a, "org-a", stmt(buf, sizeof(buf), NULL, "d@x.org", "experienced", COURSE,
				 "\"result\": {\"completion\": true, \"success\": false}, \"timestamp\": \"2025-01-03T00:00:00Z\""));
	/* e: satisfied (ADL vocabulary IRI). */
	snprintf(buf, sizeof(buf),
		 "{\"actor\": {\"mbox\": \"mailto:e@x.org\"}, \"verb\": {\"id\": \"https://w3id.org/xapi/adl/verbs/satisfied\"},"
		 " \"object\": {\"id\": \"%s\"}, \"timestamp\": \"2025-01-04T00:00:00Z\"}", COURSE);
	put(org_a, "org-a", buf);
	/* f: completed an activity that is no course's alias: no row. */
	put(org_a, "org-a", stmt(buf, sizeof(buf), NULL, "f@x.org", "completed", OTHER, NULL));
	/* g: result.completion false on "experienced": no row. */
	put(org_a, "org-a", stmt(buf, sizeof(buf), NULL, "g@x.org", "experienced", COURSE,
				 "\"result\": {\"completion\": false}"));
	/* A group's completion is not a person's. */
	snprintf(buf, sizeof(buf),
		 "{\"actor\": {\"objectType\": \"Group\", \"mbox\": \"mailto:team@x.org\"}, \"verb\": {\"id\": \"" V "completed\"},"
		 " \"object\": {\"id\": \"%s\"}}", COURSE);
	put(org_a, "org-a", buf);

	derive(&rows, NULL);
	CHECK_INT(rows.n, 4);
	CHECK_STR(rows.r[0].email, "a@x.org");
	CHECK_INT(rows.r[0].completions, 2);
	CHECK_INT(rows.r[0].first_completed_ms, 1735682400000LL); /* 2024-12-31T22:00:00Z */
	CHECK_INT(rows.r[0].last_completed_ms, 1738368000000LL);  /* 2025-02-01T00:00:00Z */
	CHECK_STR(rows.r[0].orgs, "org-a;org-b");
	CHECK_STR(rows.r[0].success, "unknown");
	CHECK_INT(rows.r[0].has_score, 0);
	CHECK_STR(rows.r[1].email, "b@x.org");
	CHECK_STR(rows.r[1].success, "passed");
	CHECK(rows.r[1].has_score && rows.r[1].best_score_scaled == 0.4);
	CHECK_INT(rows.r[1].completions, 1);
	CHECK_STR(rows.r[2].email, "d@x.org");
	CHECK_STR(rows.r[2].success, "failed");
	CHECK_STR(rows.r[3].email, "e@x.org");

	/* --org: only that org's evidence. */
	q.org = "org-b";
	derive(&rows, &q);
	CHECK_INT(rows.n, 1);
	CHECK_STR(rows.r[0].orgs, "org-b");
	/* --until: evidence up to then; --since: first completed from then. */
	memset(&q, 0, sizeof(q));
	q.has_until = 1;
	xtime_parse(&q.until_ms, "2025-01-01T23:59:59Z", 0);
	derive(&rows, &q);
	CHECK_INT(rows.n, 1); /* a, by org-b only; b's pass came later */
	CHECK_INT(rows.r[0].completions, 1);
	CHECK_STR(rows.r[0].orgs, "org-b");
	memset(&q, 0, sizeof(q));
	q.has_since = 1;
	xtime_parse(&q.since_ms, "2025-01-02T00:00:00Z", 0);
	derive(&rows, &q);
	CHECK_INT(rows.n, 3); /* b, d, e */
	CHECK_STR(rows.r[0].email, "b@x.org");
}

static void test_voiding(void)
{
	char buf[1024];
	struct rows rows;

	fresh();
	put(org_a, "org-a", stmt(buf, sizeof(buf), "11111111-1111-4111-8111-111111111111", "a@x.org",
				 "completed", COURSE, NULL));
	put(org_a, "org-a", stmt(buf, sizeof(buf), "22222222-2222-4222-8222-222222222222", "b@x.org",
				 "completed", COURSE, NULL));
	derive(&rows, NULL);
	CHECK_INT(rows.n, 2);
	/* A voiding statement that arrives before its target still voids it. */
	snprintf(buf, sizeof(buf),
		 "{\"actor\": {\"mbox\": \"mailto:admin@x.org\"}, \"verb\": {\"id\": \"" V "voided\"},"
		 " \"object\": {\"objectType\": \"StatementRef\", \"id\": \"%s\"}}",
		 "33333333-3333-4333-8333-333333333333");
	put(org_a, "org-a", buf);
	put(org_a, "org-a", stmt(buf, sizeof(buf), "33333333-3333-4333-8333-333333333333", "c@x.org",
				 "completed", COURSE, NULL));
	/* Voiding a: by org-a, it counts. Voiding b: by org-b, it does not. */
	snprintf(buf, sizeof(buf),
		 "{\"actor\": {\"mbox\": \"mailto:admin@x.org\"}, \"verb\": {\"id\": \"" V "voided\"},"
		 " \"object\": {\"objectType\": \"StatementRef\", \"id\": \"11111111-1111-4111-8111-111111111111\"}}");
	put(org_a, "org-a", buf);
	snprintf(buf, sizeof(buf),
		 "{\"actor\": {\"mbox\": \"mailto:admin@x.org\"}, \"verb\": {\"id\": \"" V "voided\"},"
		 " \"object\": {\"objectType\": \"StatementRef\", \"id\": \"22222222-2222-4222-8222-222222222222\"}}");
	put(org_b, "org-b", buf);
	derive(&rows, NULL);
	CHECK_INT(rows.n, 1);
	CHECK_STR(rows.r[0].email, "b@x.org");
}

static void test_snapshot_voiding(void)
{
	char buf[1024];
	struct rows rows;
	struct completions_query q = { 0 };

	fresh();
	put(org_a, "org-a", stmt(buf, sizeof(buf), "44444444-4444-4444-8444-444444444444", "a@x.org",
				 "completed", COURSE, "\"timestamp\": \"2025-01-20T10:00:00Z\""));
	snprintf(buf, sizeof(buf),
		 "{\"actor\": {\"mbox\": \"mailto:admin@x.org\"}, \"verb\": {\"id\": \"" V "voided\"},"
		 " \"object\": {\"objectType\": \"StatementRef\", \"id\": \"44444444-4444-4444-8444-444444444444\"},"
		 " \"timestamp\": \"2025-01-21T08:00:00Z\"}");
	put(org_a, "org-a", buf);
	derive(&rows, NULL);
	CHECK_INT(rows.n, 0);
	/* As of the 20th, the completion stood: the void came the next day. */
	q.has_until = 1;
	xtime_parse(&q.until_ms, "2025-01-20T23:59:59.999Z", 0);
	derive(&rows, &q);
	CHECK_INT(rows.n, 1);
	xtime_parse(&q.until_ms, "2025-01-21T23:59:59.999Z", 0);
	derive(&rows, &q);
	CHECK_INT(rows.n, 0);
}

static void test_pinned_derived_id(void)
{
	sqlite3_stmt *q;

	/* Derived ids must never change between releases: re-ingesting an old export would
	   store its statements twice. This pins one. */
	fresh();
	put(org_a, "org-a",
	    "{\"actor\": {\"mbox\": \"mailto:a@x.org\"}, \"verb\": {\"id\": \"" V "completed\"},"
	    " \"object\": {\"id\": \"" COURSE "\"}, \"timestamp\": \"2025-01-01T00:00:00Z\"}");
	sqlite3_prepare_v2(store__db(store), "SELECT id FROM statement", -1, &q, NULL);
	CHECK_INT(sqlite3_step(q), SQLITE_ROW);
	CHECK_STR((const char *)sqlite3_column_text(q, 0), "8f2f127c-d3cb-50dd-9994-e27b062436a3");
	sqlite3_finalize(q);
}

static void test_aliases(void)
{
	struct lr_error err;
	int64_t course, other;
	char buf[1024];
	struct rows rows;

	fresh();
	lr_error_clear(&err);
	CHECK_INT(store_course_add(store, &err, "other", "Other"), 0);
	store_course_id(store, &err, "mecc", &course);
	store_course_id(store, &err, "other", &other);
	/* org-b's local key for mecc; the same key at org-a means nothing. */
	CHECK_INT(store_course_alias(store, &err, course, org_b, OTHER), 0);
	CHECK_INT(store_course_alias(store, &err, course, org_b, OTHER), 0); /* again: fine */
	CHECK_INT(store_course_alias(store, &err, other, org_b, OTHER), LR_EEXISTS);
	lr_error_clear(&err);
	CHECK_INT(store_course_add(store, &err, "mecc", "again"), LR_EEXISTS);
	lr_error_clear(&err);
	CHECK_INT(store_course_add(store, &err, "bad code", "x"), LR_EINVAL);
	put(org_b, "org-b", stmt(buf, sizeof(buf), NULL, "a@x.org", "completed", OTHER, NULL));
	put(org_a, "org-a", stmt(buf, sizeof(buf), NULL, "b@x.org", "completed", OTHER, NULL));
	derive(&rows, NULL);
	CHECK_INT(rows.n, 1);
	CHECK_STR(rows.r[0].email, "a@x.org");
	/* An org's own alias of a shared key wins: org-b's evidence on COURSE goes to "other" only. */
	CHECK_INT(store_course_alias(store, &err, other, org_b, COURSE), 0);
	put(org_b, "org-b", stmt(buf, sizeof(buf), NULL, "c@x.org", "completed", COURSE, NULL));
	put(org_a, "org-a", stmt(buf, sizeof(buf), NULL, "d@x.org", "completed", COURSE, NULL));
	derive(&rows, NULL);
	CHECK_INT(rows.n, 3);
	CHECK_STR(rows.r[0].course_id, "mecc");
	CHECK_STR(rows.r[0].email, "a@x.org");
	CHECK_STR(rows.r[1].course_id, "mecc");
	CHECK_STR(rows.r[1].email, "d@x.org");
	CHECK_STR(rows.r[2].course_id, "other");
	CHECK_STR(rows.r[2].email, "c@x.org");
	/* One course asked for: org-b's evidence on COURSE is not mecc's, even so. */
	{
		struct completions_query q = { .course = "mecc" };
		derive(&rows, &q);
		CHECK_INT(rows.n, 2);
		CHECK_STR(rows.r[0].email, "a@x.org");
		CHECK_STR(rows.r[1].email, "d@x.org");
		q.course = "other";
		derive(&rows, &q);
		CHECK_INT(rows.n, 1);
		CHECK_STR(rows.r[0].email, "c@x.org");
		q.course = NULL;
		q.org = "org-b";
		derive(&rows, &q);
		CHECK_INT(rows.n, 2);
		CHECK_STR(rows.r[0].email, "a@x.org");
		CHECK_STR(rows.r[1].email, "c@x.org");
	}
}

/* Orgs past the 64th are kept in words of their own: every one is listed, in code order. */
static void test_many_orgs(void)
{
	struct lr_error err;
	char buf[1024], code[32], want[70 * 8] = "";
	struct rows rows;
	struct completions_query by_org = { .by_org = 1 };
	int i;

	fresh();
	lr_error_clear(&err);
	for (i = 0; i < 70; i++) {
		struct store_org o = { 0, code, NULL, NULL, NULL };
		int64_t id;
		snprintf(code, sizeof(code), "o%02d", i);
		CHECK_INT(store_org_add(store, &err, &o), 0);
		store_org_id(store, &err, code, &id);
		put(id, code, stmt(buf, sizeof(buf), NULL, "m@x.org", "completed", COURSE, NULL));
	}
	/* The codes sort o00..o69 after org-a and org-b. */
	for (i = 0; i < 70; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%so%02d", i ? ";" : "", i);
	derive(&rows, NULL);
	CHECK_INT(rows.n, 1);
	CHECK_STR(rows.r[0].orgs, want);
	CHECK_INT((int)rows.r[0].completions, 70);
	/* One row per org: more than keep_row holds, so it stops after 16, in org order. */
	memset(&rows, 0, sizeof(rows));
	CHECK(completions_each(store, &err, &by_org, keep_row, &rows) != 0 || rows.n > 16);
	CHECK_STR(rows.r[0].orgs, "o00");
	CHECK_STR(rows.r[15].orgs, "o15");
}

static void test_versions(void)
{
	struct lr_error err;
	struct store *s2 = NULL;
	char missing[128];
	int newest;

	fresh();
	newest = store_schema_version(store);
	CHECK(newest >= 3);
	store_close(store);
	store = NULL;
	/* A store of schema 1, with a statement in it, is migrated on open. */
	unlink(path);
	lr_error_clear(&err);
	CHECK_INT(store__create_old(&err, path, 1), 0);
	{
		sqlite3 *db;
		sqlite3_open(path, &db);
		CHECK(sqlite3_exec(db,
				   "INSERT INTO org(id, code, created_at) VALUES(1, 'a', 'now');"
				   "INSERT INTO statement(id, org_id, actor_type, verb, object_type, object_id, ts,"
				   " stored, completes, digest, json) VALUES('x', 1, 'Agent', 'v', 'Activity',"
				   " 'http://x.org/c', 0, 0, 1, x'00', '{}')",
				   NULL, NULL, NULL) == SQLITE_OK);
		sqlite3_close(db);
	}
	CHECK_MSG(store_open(&s2, &err, path, 0) == 0, "%s", err.text);
	CHECK_INT(store_schema_version(s2), newest);
	{
		sqlite3_stmt *q;
		sqlite3_prepare_v2(store__db(s2), "SELECT course_key FROM statement", -1, &q, NULL);
		CHECK_INT(sqlite3_step(q), SQLITE_ROW);
		CHECK_STR((const char *)sqlite3_column_text(q, 0), "http://x.org/c");
		sqlite3_finalize(q);
	}
	store_close(s2);
	s2 = NULL;
	/* A store from a newer lrhub is refused. */
	{
		sqlite3 *db;
		sqlite3_open(path, &db);
		sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
		sqlite3_close(db);
	}
	lr_error_clear(&err);
	CHECK_INT(store_open(&s2, &err, path, 0), LR_EVERSION);
	CHECK(strstr(err.text, "upgrade lrhub") != NULL);
	snprintf(missing, sizeof(missing), "/tmp/lrhub-test-missing-%ld/x.db", (long)getpid());
	lr_error_clear(&err);
	CHECK_INT(store_open(&s2, &err, missing, STORE_READONLY), LR_EIO);
	CHECK(strstr(err.text, "lrhub init") != NULL);
	/* Another application's database is not taken over. */
	{
		sqlite3 *db;
		unlink(path);
		sqlite3_open(path, &db);
		sqlite3_exec(db, "CREATE TABLE customers(id INTEGER)", NULL, NULL, NULL);
		sqlite3_close(db);
	}
	lr_error_clear(&err);
	CHECK_INT(store_open(&s2, &err, path, 0), LR_EFORMAT);
	CHECK(strstr(err.text, "another application") != NULL);
	unlink(path);
}

static void test_csv_writer(void)
{
	struct completion c = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	c.person_id = "p-1";
	c.email = "a@x.org";
	c.name = "Smith, \"Al\"";
	c.course_id = "mecc";
	c.course_title = "Line\nbreak";
	c.first_completed_ms = 0;
	c.last_completed_ms = 1500;
	c.completions = 3;
	c.success = "passed";
	c.has_score = 1;
	c.best_score_scaled = 0.875;
	c.orgs = "a;b";
	CHECK_INT(completions_write_csv(fp, &c), 0);
	fclose(fp);
	CHECK_STR(buf, "p-1,a@x.org,\"Smith, \"\"Al\"\"\",mecc,\"Line\nbreak\",1970-01-01T00:00:00Z,"
		       "1970-01-01T00:00:01.500Z,3,passed,0.875,a;b\r\n");
	free(buf);
}

/* One integer from a query on a second connection (-1 if no row). */
static long long other_int(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	long long v = -1;

	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return v;
}

static void put_in_transaction(int64_t org_id, const char *org, const char *json, int commit)
{
	struct lr_error err;

	lr_error_clear(&err);
	CHECK_INT(store_begin(store, &err), 0);
	put(org_id, org, json);
	if (commit)
		CHECK_INT(store_commit(store, &err), 0);
	else
		store_rollback(store);
}

#define CACHE_ST(id, who, name, act) \
	"{\"id\": \"" id "\", \"actor\": {\"mbox\": \"mailto:" who "\", \"name\": \"" name "\"}," \
	" \"verb\": {\"id\": \"" V "experienced\"}," \
	" \"object\": {\"id\": \"" act "\", \"definition\": {\"name\": {\"en\": \"Part\"}}}}"

/* The agents and activities the store remembers never outlive a rollback or another writer. */
static void test_row_cache(void)
{
	sqlite3 *db = NULL;

	fresh();
	put_in_transaction(org_a, "org-a", CACHE_ST("c0000000-0000-4000-8000-000000000001", "kept@x.org",
						    "Kim", "http://example.org/act/kept"), 1);
	/* Rolled back: the new agent, its org link and the new activity are gone... */
	put_in_transaction(org_a, "org-a", CACHE_ST("c0000000-0000-4000-8000-000000000002", "gone@x.org",
						    "Gus", "http://example.org/act/gone"), 0);
	CHECK_INT(other_int("SELECT count(*) FROM agent WHERE ifi LIKE '%gone@x.org'"), 0);
	/* ... and are written again by the next statement that has them. */
	put_in_transaction(org_a, "org-a", CACHE_ST("c0000000-0000-4000-8000-000000000003", "gone@x.org",
						    "Gus", "http://example.org/act/gone"), 1);
	CHECK_INT(other_int("SELECT count(*) FROM statement s JOIN agent a ON a.id = s.actor_id"
			    " WHERE s.id = 'c0000000-0000-4000-8000-000000000003'"
			    " AND a.ifi LIKE '%gone@x.org'"), 1);
	CHECK_INT(other_int("SELECT count(*) FROM agent_org o JOIN agent a ON a.id = o.agent_id"
			    " WHERE a.ifi LIKE '%gone@x.org'"), 1);
	CHECK_INT(other_int("SELECT count(*) FROM activity WHERE iri = 'http://example.org/act/gone'"), 1);
	/* A known agent in another org is linked to it too. */
	put_in_transaction(org_b, "org-b", CACHE_ST("c0000000-0000-4000-8000-000000000004", "kept@x.org",
						    "Kim", "http://example.org/act/kept"), 1);
	CHECK_INT(other_int("SELECT count(*) FROM agent_org o JOIN agent a ON a.id = o.agent_id"
			    " WHERE a.ifi LIKE '%kept@x.org'"), 2);
	/* Another writer renames the agent: the latest name seen still wins. */
	if (sqlite3_open(path, &db) == SQLITE_OK)
		sqlite3_exec(db, "UPDATE agent SET name = 'Zed' WHERE ifi LIKE '%kept@x.org'", NULL, NULL,
			     NULL);
	sqlite3_close(db);
	put_in_transaction(org_a, "org-a", CACHE_ST("c0000000-0000-4000-8000-000000000005", "kept@x.org",
						    "Kim", "http://example.org/act/kept"), 1);
	CHECK_INT(other_int("SELECT count(*) FROM agent WHERE ifi LIKE '%kept@x.org' AND name = 'Kim'"),
		  1);
	/* And a name change of its own is written. */
	put_in_transaction(org_a, "org-a", CACHE_ST("c0000000-0000-4000-8000-000000000006", "kept@x.org",
						    "Kimberley", "http://example.org/act/kept"), 1);
	CHECK_INT(other_int("SELECT count(*) FROM agent WHERE ifi LIKE '%kept@x.org'"
			    " AND name = 'Kimberley'"), 1);
}

/*
 * While most agents met are new, the store inserts before it looks up: the
 * agents it already has must come out as before (their id, the latest name,
 * a link to each org), and new ones with their account name.
 */
static void test_new_agents_first(void)
{
	struct lr_error err;
	char json[512], id[64], who[64];
	int i;

	fresh();
	lr_error_clear(&err);
	CHECK_INT(store_begin(store, &err), 0);
	for (i = 0; i < 100; i++) {
		snprintf(id, sizeof(id), "d0000000-0000-4000-8000-%012d", i);
		snprintf(json, sizeof(json),
			 "{\"id\": \"%s\", \"actor\": {\"account\": {\"homePage\": \"https://lms.example.org\","
			 " \"name\": \"u%d\"}, \"name\": \"Learner %d\"}, \"verb\": {\"id\": \"" V "experienced\"},"
			 " \"object\": {\"id\": \"" COURSE "\"}}", id, i, i);
		put(org_a, "org-a", json);
	}
	/* Known agents after a run of new ones: a new name, no name, another org. */
	for (i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "d0000000-0000-4000-8000-%012d", 100 + i);
		snprintf(who, sizeof(who), i < 5 ? ", \"name\": \"Renamed %d\"" : "", i);
		snprintf(json, sizeof(json),
			 "{\"id\": \"%s\", \"actor\": {\"account\": {\"homePage\": \"https://lms.example.org\","
			 " \"name\": \"u%d\"}%s}, \"verb\": {\"id\": \"" V "experienced\"},"
			 " \"object\": {\"id\": \"" COURSE "\"}}", id, i, who);
		put(org_b, "org-b", json);
	}
	CHECK_INT(store_commit(store, &err), 0);
	CHECK_INT(other_int("SELECT count(*) FROM agent"), 100);
	CHECK_INT(other_int("SELECT count(*) FROM agent WHERE account_name LIKE 'u%'"), 100);
	CHECK_INT(other_int("SELECT count(*) FROM agent WHERE name LIKE 'Renamed %'"), 5);
	CHECK_INT(other_int("SELECT count(*) FROM agent WHERE name = 'Learner 7'"), 1);
	CHECK_INT(other_int("SELECT count(*) FROM agent_org WHERE org_id = (SELECT id FROM org"
			    " WHERE code = 'org-b')"), 10);
	/* Every statement names the one agent of its account. */
	CHECK_INT(other_int("SELECT count(*) FROM statement s JOIN agent a ON a.id = s.actor_id"
			    " WHERE a.ifi = 'account:https://lms.example.org|u3'"), 2);
}

/*
 * Writes 2,000 statements in 40 transactions, through one store (how 0: with
 * SQLite's own checkpoints off; 1: with its own checkpoint thread) or two
 * stores taking turns that share one checkpoint thread (2); the size of the
 * WAL file then.
 */
static long wal_after(int how)
{
	struct store_checkpointer *shared = NULL;
	struct store *second = NULL, *w;
	struct lr_error err;
	char json[512], id[64], wal[128];
	struct stat wst;
	int i, t;

	fresh();
	lr_error_clear(&err);
	if (how == 0) {
		sqlite3_wal_autocheckpoint(store__db(store), 0);
	} else {
		/* 16 pages (256 KiB) of WAL ask for a checkpoint. */
		sqlite3_exec(store__db(store), "PRAGMA wal_autocheckpoint = 16", NULL, NULL, NULL);
		if (how == 1) {
			CHECK_INT(store_checkpoint_in_background(store, &err), 0);
		} else {
			CHECK_INT(store_open(&second, &err, path, 0), 0);
			sqlite3_exec(store__db(second), "PRAGMA wal_autocheckpoint = 16", NULL, NULL, NULL);
			CHECK_INT(store_checkpointer_start(&shared, store, &err), 0);
			CHECK(shared != NULL);
			store_checkpointer_attach(store, shared);
			store_checkpointer_attach(second, shared);
		}
	}
	for (t = 0; t < 40; t++) {
		struct store_source src = { .org_id = org_a, .org_code = "org-a" };
		w = second && t % 2 ? second : store;
		CHECK_INT(store_begin(w, &err), 0);
		for (i = 0; i < 50; i++) {
			enum store_outcome outcome;
			json_t *st;
			snprintf(id, sizeof(id), "e0000000-0000-4000-8000-%012d", t * 50 + i);
			snprintf(json, sizeof(json),
				 "{\"id\": \"%s\", \"actor\": {\"mbox\": \"mailto:w%d@x.org\"},"
				 " \"verb\": {\"id\": \"" V "experienced\"}, \"object\": {\"id\": \"" COURSE
				 "\", \"definition\": {\"description\": {\"en\": \"%0200d\"}}}}", id, i, i);
			st = json_loads(json, 0, NULL);
			CHECK_INT(store_put_statement(w, &err, st, &src, &outcome), 0);
			json_decref(st);
		}
		CHECK_INT(store_commit(w, &err), 0);
	}
	snprintf(wal, sizeof(wal), "%s-wal", path);
	CHECK_INT(stat(wal, &wst), 0);
	store_close(second);
	store_close(store);
	store = NULL;
	store_checkpointer_stop(shared);
	CHECK_INT(other_int("SELECT count(*) FROM statement"), 2000);
	CHECK_INT(other_int("SELECT count(*) FROM pragma_integrity_check('statement')"
			    " WHERE integrity_check = 'ok'"), 1);
	CHECK_INT(other_int("SELECT count(*) FROM pragma_integrity_check('agent')"
			    " WHERE integrity_check = 'ok'"), 1);
	return (long)wst.st_size;
}

/* With the checkpoint thread, the WAL still starts over and nothing is lost. */
static void test_checkpoint_thread(void)
{
	long none = wal_after(0), own = wal_after(1), shared = wal_after(2);

	/*
	 * How far the WAL gets before it starts over depends on how busy the
	 * machine is (the thread's checkpoint can hold the writer's off for a
	 * few commits): a sixth of the size without checkpoints on a quiet
	 * machine, half at worst under load. A quarter smaller means it
	 * started over.
	 */
	CHECK_MSG(own * 4 < none * 3, "WAL of %ld bytes with checkpoints, %ld without", own, none);
	CHECK_MSG(shared * 4 < none * 3, "WAL of %ld bytes with shared checkpoints, %ld without",
		  shared, none);
}

/* A new store gets STORE_PAGE_SIZE pages; a database made with others keeps them. */
static void test_page_size(void)
{
	struct lr_error err;
	sqlite3 *db = NULL;

	fresh();
	CHECK_INT(other_int("PRAGMA page_size"), STORE_PAGE_SIZE);
	store_close(store);
	store = NULL;
	unlink(path);
	lr_error_clear(&err);
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "PRAGMA page_size = 16384; VACUUM", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	CHECK_INT(store_open(&store, &err, path, STORE_CREATE), 0);
	CHECK_INT(other_int("PRAGMA page_size"), 16384);
	CHECK_INT(other_int("SELECT count(*) FROM org"), 0);
}

/* The page cache's size is set in KiB and read back, whatever way it was set. */
static void test_cache_size(void)
{
	fresh();
	CHECK_INT(store_cache_kib(store, 32768), 16384);
	CHECK_INT(store_cache_kib(store, 1024), 32768);
	sqlite3_exec(store__db(store), "PRAGMA cache_size = 100", NULL, NULL, NULL);
	CHECK_INT(store_cache_kib(store, 16384), 100 * STORE_PAGE_SIZE / 1024);
	CHECK_INT(store_cache_kib(store, 16384), 16384);
}

int main(void)
{
	RUN(test_ids_and_duplicates);
	RUN(test_stored_form);
	RUN(test_completion_rule);
	RUN(test_voiding);
	RUN(test_snapshot_voiding);
	RUN(test_pinned_derived_id);
	RUN(test_aliases);
	RUN(test_many_orgs);
	RUN(test_versions);
	RUN(test_csv_writer);
	RUN(test_row_cache);
	RUN(test_new_agents_first);
	RUN(test_checkpoint_thread);
	RUN(test_page_size);
	RUN(test_cache_size);
	if (store)
		store_close(store);
	unlink(path);
	TEST_END();
}
