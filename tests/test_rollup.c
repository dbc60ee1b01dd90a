/*
 * Unit tests: importing course packages into the store (aliases, re-import,
 * the same manifest identifier in two courses) and the multi-SCO roll-up of
 * completions: all N parts completed (by distinct LMS part keys, by manifest
 * identifiers, by xAPI activity IRIs) or a course-level completion; the
 * time of the last part; one org's parts only; no roll-up without a
 * structure or with one part.
 */
#include "lrs/completions.h"
#include "lrs/error.h"
#include "lrs/package.h"
#include "lrs/store.h"
#include "lrs/xtime.h"
#include "tests/test.h"

#include <jansson.h>
#include <zip.h>

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static struct store *store;
static char path[96], tmp[96];
static const char *root = ".";
static int64_t org_a, org_b;

#define V "http://adlnet.gov/expapi/verbs/"

static int zip_folder(const char *dir, const char *zip_path)
{
	struct dirent **names = NULL;
	int ze = 0, n, i, rc = 0;
	zip_t *za;

	unlink(zip_path);
	za = zip_open(zip_path, ZIP_CREATE | ZIP_TRUNCATE, &ze);
	if (!za)
		return -1;
	n = scandir(dir, &names, NULL, alphasort);
	for (i = 0; i < n; i++) {
		char file[1024];
		struct stat st;
		zip_source_t *src;

		snprintf(file, sizeof(file), "%.500s/%.200s", dir, names[i]->d_name);
		if (names[i]->d_name[0] != '.' && stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
			src = zip_source_file(za, file, 0, -1);
			if (!src || zip_file_add(za, names[i]->d_name, src, 0) < 0)
				rc = -1;
		}
		free(names[i]);
	}
	free(names);
	if (n < 0)
		rc = -1;
	if (rc != 0) {
		zip_discard(za);
		return rc;
	}
	return zip_close(za) == 0 ? 0 : -1;
}

/* Imports fixtures/packages/<fixture> for course (0: none) and org; returns the result. */
static int import(const char *fixture, int64_t course, int64_t org,
		  struct package_import_result *res, struct lr_error *err)
{
	char dir[512], zip_path[256];
	struct package *p = NULL;
	int rc;

	snprintf(dir, sizeof(dir), "%s/fixtures/packages/%s/package", root, fixture);
	snprintf(zip_path, sizeof(zip_path), "%s/%s.zip", tmp, fixture);
	CHECK_INT(zip_folder(dir, zip_path), 0);
	lr_error_clear(err);
	rc = package_read(&p, err, zip_path);
	CHECK_MSG(rc == 0, "%s: %s", fixture, err->text);
	if (rc == 0)
		rc = package_import(store, err, p, zip_path, course, org, res);
	package_free(p);
	return rc;
}

static int64_t course_id(const char *code)
{
	struct lr_error err;
	int64_t id = 0;

	lr_error_clear(&err);
	store_course_id(store, &err, code, &id);
	return id;
}

static void fresh(void)
{
	struct store_org a = { 0, "org-a", NULL, NULL, NULL }, b = { 0, "org-b", NULL, NULL, NULL };
	struct lr_error err;

	lr_error_clear(&err);
	if (store)
		store_close(store);
	snprintf(path, sizeof(path), "/tmp/lrhub-test-rollup-%ld.db", (long)getpid());
	unlink(path);
	CHECK_INT(store_open(&store, &err, path, STORE_CREATE), 0);
	CHECK_INT(store_org_add(store, &err, &a), 0);
	CHECK_INT(store_org_add(store, &err, &b), 0);
	store_org_id(store, &err, "org-a", &org_a);
	store_org_id(store, &err, "org-b", &org_b);
}

/*
 * Puts a statement by mbox with verb about object at time ts, from org,
 * with an LMS course key and part key (NULL for xAPI).
 */
static void put(int64_t org_id, const char *org, const char *mbox, const char *verb,
		const char *object, const char *ts, const char *course_key, const char *part_key)
{
	struct store_source src = { org_id, org, 0, 0, 0, course_key, part_key };
	enum store_outcome outcome;
	struct lr_error err;
	char json[1024];
	json_t *st;
	int rc;

	snprintf(json, sizeof(json),
		 "{\"actor\": {\"mbox\": \"mailto:%s\"}, \"verb\": {\"id\": \"" V "%s\"},"
		 " \"object\": {\"id\": \"%s\"}, \"timestamp\": \"%s\"}", mbox, verb, object, ts);
	st = json_loads(json, 0, NULL);
	lr_error_clear(&err);
	rc = store_put_statement(store, &err, st, &src, &outcome);
	CHECK_MSG(rc == 0 && outcome == STORE_NEW, "rc %d: %s", rc, err.text);
	json_decref(st);
}

struct rows {
	int n;
	char email[16][64];
	char course[16][32];
	char first[16][32];
	char last[16][32];
	long completions[16];
	char orgs[16][64];
};

static int keep_row(void *ctx, const struct completion *c)
{
	struct rows *r = ctx;
	int i = r->n++;

	if (i >= 16)
		return -1;
	snprintf(r->email[i], 64, "%s", c->email ? c->email : "");
	snprintf(r->course[i], 32, "%s", c->course_id);
	xtime_format(r->first[i], c->first_completed_ms);
	xtime_format(r->last[i], c->last_completed_ms);
	r->completions[i] = c->completions;
	snprintf(r->orgs[i], 64, "%s", c->orgs);
	return 0;
}

static void derive(struct rows *rows, const char *course)
{
	struct completions_query q = { 0 };
	struct lr_error err;

	q.course = course;
	lr_error_clear(&err);
	memset(rows, 0, sizeof(*rows));
	CHECK_INT(completions_each(store, &err, &q, keep_row, rows), 0);
}

/* The row of email in rows, or -1. */
static int row_of(const struct rows *rows, const char *email)
{
	int i;

	for (i = 0; i < rows->n; i++)
		if (strcmp(rows->email[i], email) == 0)
			return i;
	return -1;
}

static int count_package(void *ctx, const struct package_row *row)
{
	long *n = ctx;

	(void)row;
	(*n)++;
	return 0;
}

static void test_import_store(void)
{
	struct package_import_result res;
	struct lr_error err;

	fresh();
	CHECK_INT(store_course_add(store, &err, "c5", "cmi5 course"), 0);
	CHECK_INT(import("cmi5_oldns_whitespace", course_id("c5"), 0, &res, &err), 0);
	CHECK_INT(res.already, 0);
	CHECK_INT(res.aliases_added, 4); /* the course and its three AUs */
	/* The same zip for the same course: nothing done. */
	CHECK_INT(import("cmi5_oldns_whitespace", course_id("c5"), 0, &res, &err), 0);
	CHECK_INT(res.already, 1);
	/* Structure only, no course. */
	CHECK_INT(import("cmi5_oldns_whitespace", 0, 0, &res, &err), 0);
	CHECK_INT(res.already, 0);
	CHECK_INT(res.aliases_added, 0);
	/* Another course cannot take the same IRIs. */
	CHECK_INT(store_course_add(store, &err, "other", "Other"), 0);
	CHECK_INT(import("cmi5_oldns_whitespace", course_id("other"), 0, &res, &err), LR_EEXISTS);
	CHECK_MSG(strstr(err.text, "already an alias") != NULL, "%s", err.text);
	/* ... and nothing of that import stayed. */
	{
		long n = 0;
		CHECK_INT(package_each(store, &err, course_id("other"), count_package, &n), 0);
		CHECK_INT(n, 0);
	}
	/* Two Captivate courses, both Course_ID1: two packages, never merged. */
	CHECK_INT(store_course_add(store, &err, "cap1", "Captivate one"), 0);
	CHECK_INT(store_course_add(store, &err, "cap2", "Captivate two"), 0);
	CHECK_INT(import("scorm12_bom_scormtype", course_id("cap1"), 0, &res, &err), 0);
	{
		int64_t first = res.package_id;
		CHECK_INT(import("scorm12_bom_scormtype", course_id("cap2"), 0, &res, &err), 0);
		CHECK_INT(res.already, 0);
		CHECK(res.package_id != first);
	}
	CHECK_INT(res.aliases_added, 0); /* SCORM: structure only */
}


static void test_packages_listed(void)
{
	struct package_import_result res;
	struct lr_error err;
	long n = 0;

	fresh();
	CHECK_INT(store_course_add(store, &err, "m", "M"), 0);
	CHECK_INT(import("scorm12_basic", course_id("m"), org_a, &res, &err), 0);
	CHECK_INT(import("scorm12_basic", course_id("m"), org_b, &res, &err), 0);
	CHECK_INT(res.already, 0);
	CHECK_INT(package_each(store, &err, course_id("m"), count_package, &n), 0);
	CHECK_INT(n, 2);
}

/* SCORM from LMS exports: the part keys. */
static void test_rollup_scorm(void)
{
	struct package_import_result res;
	struct lr_error err;
	struct rows rows;
	int i;

	fresh();
	CHECK_INT(store_course_add(store, &err, "mecc", "MECC"), 0);
	CHECK_INT(store_course_alias(store, &err, course_id("mecc"), org_a, "42"), 0);
	CHECK_INT(store_course_alias(store, &err, course_id("mecc"), org_b, "SC-MECC"), 0);

	/* Without a structure, a part's completion is the course's (as before). */
	put(org_a, "org-a", "early@x.org", "completed", "https://lms-a/scorm/42/101",
	    "2025-01-01T10:00:00Z", "42", "101");
	derive(&rows, "mecc");
	CHECK_INT(rows.n, 1);

	/* scorm12_basic has two SCOs: sco_welcome and sco_quiz. */
	CHECK_INT(import("scorm12_basic", course_id("mecc"), 0, &res, &err), 0);
	derive(&rows, "mecc");
	CHECK_INT(rows.n, 0);

	/* Moodle's numeric scoids: two distinct ones complete it, at the second. */
	put(org_a, "org-a", "a@x.org", "completed", "https://lms-a/scorm/42/101",
	    "2025-01-01T10:00:00Z", "42", "101");
	put(org_a, "org-a", "a@x.org", "completed", "https://lms-a/scorm/42/102",
	    "2025-01-03T10:00:00Z", "42", "102");
	put(org_a, "org-a", "a@x.org", "completed", "https://lms-a/scorm/42/101",
	    "2025-01-05T10:00:00Z", "42", "101");
	/* b completed the same SCO twice: one part of two. */
	put(org_a, "org-a", "b@x.org", "completed", "https://lms-a/scorm/42/101",
	    "2025-01-01T10:00:00Z", "42", "101");
	put(org_a, "org-a", "b@x.org", "passed", "https://lms-a/scorm/42/101",
	    "2025-01-02T10:00:00Z", "42", "101");
	/* c: one SCO done, the other only attempted. */
	put(org_a, "org-a", "c@x.org", "completed", "https://lms-a/scorm/42/101",
	    "2025-01-01T10:00:00Z", "42", "101");
	put(org_a, "org-a", "c@x.org", "attempted", "https://lms-a/scorm/42/102",
	    "2025-01-02T10:00:00Z", "42", "102");
	/* d at org-b: part keys are the manifest identifiers; one of them twice. */
	put(org_b, "org-b", "d@x.org", "completed", "https://cloud/SC-MECC/sco_quiz",
	    "2025-02-01T10:00:00Z", "SC-MECC", "sco_quiz");
	put(org_b, "org-b", "d@x.org", "completed", "https://cloud/SC-MECC/sco_quiz",
	    "2025-02-02T10:00:00Z", "SC-MECC", "sco_quiz");
	put(org_b, "org-b", "d@x.org", "completed", "https://cloud/SC-MECC/sco_welcome",
	    "2025-02-04T10:00:00Z", "SC-MECC", "sco_welcome");
	/* e: a course-level completion is enough. */
	put(org_b, "org-b", "e@x.org", "completed", "https://cloud/SC-MECC",
	    "2025-03-01T10:00:00Z", "SC-MECC", NULL);
	/* f: one SCO at each org does not add up. */
	put(org_a, "org-a", "f@x.org", "completed", "https://lms-a/scorm/42/101",
	    "2025-01-01T10:00:00Z", "42", "101");
	put(org_b, "org-b", "f@x.org", "completed", "https://cloud/SC-MECC/sco_quiz",
	    "2025-01-02T10:00:00Z", "SC-MECC", "sco_quiz");
	/* g: both parts and a course-level completion later: first is the roll-up. */
	put(org_b, "org-b", "g@x.org", "completed", "https://cloud/SC-MECC/sco_quiz",
	    "2025-04-01T10:00:00Z", "SC-MECC", "sco_quiz");
	put(org_b, "org-b", "g@x.org", "completed", "https://cloud/SC-MECC/sco_welcome",
	    "2025-04-02T10:00:00Z", "SC-MECC", "sco_welcome");
	put(org_b, "org-b", "g@x.org", "completed", "https://cloud/SC-MECC",
	    "2025-04-03T10:00:00Z", "SC-MECC", NULL);

	derive(&rows, "mecc");
	CHECK_INT(rows.n, 4);
	CHECK((i = row_of(&rows, "a@x.org")) >= 0);
	if (i >= 0) {
		CHECK_STR(rows.first[i], "2025-01-03T10:00:00Z");
		CHECK_STR(rows.last[i], "2025-01-03T10:00:00Z");
		CHECK_INT(rows.completions[i], 1);
		CHECK_STR(rows.orgs[i], "org-a");
	}
	CHECK(row_of(&rows, "b@x.org") < 0);
	CHECK(row_of(&rows, "c@x.org") < 0);
	CHECK(row_of(&rows, "early@x.org") < 0);
	CHECK(row_of(&rows, "f@x.org") < 0);
	CHECK((i = row_of(&rows, "d@x.org")) >= 0);
	if (i >= 0) {
		CHECK_STR(rows.first[i], "2025-02-04T10:00:00Z");
		CHECK_STR(rows.orgs[i], "org-b");
	}
	CHECK((i = row_of(&rows, "e@x.org")) >= 0);
	if (i >= 0)
		CHECK_STR(rows.first[i], "2025-03-01T10:00:00Z");
	CHECK((i = row_of(&rows, "g@x.org")) >= 0);
	if (i >= 0) {
		CHECK_STR(rows.first[i], "2025-04-02T10:00:00Z");
		CHECK_STR(rows.last[i], "2025-04-03T10:00:00Z");
		CHECK_INT(rows.completions[i], 2);
	}

	/* A structure for org-a alone with one SCO: org-a's parts complete it again. */
	CHECK_INT(import("external_dtd", course_id("mecc"), org_a, &res, &err), 0);
	derive(&rows, "mecc");
	CHECK((i = row_of(&rows, "b@x.org")) >= 0);
	CHECK((i = row_of(&rows, "f@x.org")) >= 0);
	if (i >= 0)
		CHECK_STR(rows.orgs[i], "org-a");
	CHECK(row_of(&rows, "early@x.org") >= 0);
}

/* cmi5 over xAPI: the AUs' activity IRIs are the parts; NotApplicable AUs are not needed. */
static void test_rollup_cmi5(void)
{
	struct package_import_result res;
	struct lr_error err;
	struct rows rows;
	int i;

	fresh();
	CHECK_INT(store_course_add(store, &err, "c5", "cmi5 course"), 0);
	CHECK_INT(import("cmi5_oldns_whitespace", course_id("c5"), 0, &res, &err), 0);
	/* p: au1 passed and au3 completed (au2 is NotApplicable). */
	put(org_a, "org-a", "p@x.org", "passed", "https://example.org/cmi5/au1", "2025-05-02T00:00:00Z",
	    NULL, NULL);
	put(org_a, "org-a", "p@x.org", "completed", "https://example.org/cmi5/au3",
	    "2025-05-01T00:00:00Z", NULL, NULL);
	/* q: au1 and the not-required au2: not complete. */
	put(org_a, "org-a", "q@x.org", "completed", "https://example.org/cmi5/au1",
	    "2025-05-01T00:00:00Z", NULL, NULL);
	put(org_a, "org-a", "q@x.org", "completed", "https://example.org/cmi5/au2",
	    "2025-05-01T00:00:00Z", NULL, NULL);
	/* r: the LMS's satisfied on the course. */
	put(org_b, "org-b", "r@x.org", "satisfied", "https://example.org/cmi5/course",
	    "2025-05-03T00:00:00Z", NULL, NULL);
	derive(&rows, "c5");
	CHECK_INT(rows.n, 2);
	CHECK((i = row_of(&rows, "p@x.org")) >= 0);
	if (i >= 0)
		CHECK_STR(rows.first[i], "2025-05-02T00:00:00Z");
	CHECK(row_of(&rows, "q@x.org") < 0);
	CHECK(row_of(&rows, "r@x.org") >= 0);
}

/* A single-AU tincan package: no roll-up, a completion of the AU is the course's. */
static void test_single_part(void)
{
	struct package_import_result res;
	struct lr_error err;
	struct rows rows;

	fresh();
	CHECK_INT(store_course_add(store, &err, "sg", "Safeguarding"), 0);
	CHECK_INT(import("tincan_storyline", course_id("sg"), 0, &res, &err), 0);
	CHECK_INT(res.aliases_added, 1);
	put(org_a, "org-a", "s@x.org", "completed", "http://5Ym8YzZ0Qm1_course_id",
	    "2025-06-01T00:00:00Z", NULL, NULL);
	derive(&rows, "sg");
	CHECK_INT(rows.n, 1);
}

int main(void)
{
	const char *r = getenv("LRHUB_ROOT");

	if (r && r[0])
		root = r;
	snprintf(tmp, sizeof(tmp), "/tmp/lrhub-test-rollup-%ld", (long)getpid());
	mkdir(tmp, 0700);
	RUN(test_import_store);
	RUN(test_packages_listed);
	RUN(test_rollup_scorm);
	RUN(test_rollup_cmi5);
	RUN(test_single_part);
	store_close(store);
	unlink(path);
	{
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s-wal' '%s-shm'", tmp, path, path);
		if (system(cmd) != 0)
			fprintf(stderr, "could not clean up %s\n", tmp);
	}
	TEST_END();
}
