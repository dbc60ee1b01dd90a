/*
 * test_reports.c: the reports' option parsers, the headcount history, and
 * the calendar arithmetic of the trend (ISO weeks across a 53-week year,
 * months across a year end) and of the coverage window and targets, on a
 * small store made here. The coverage arithmetic on a larger fixture is in
 * tests/e2e_reports.sh.
 */
#include "lrs/error.h"
#include "lrs/reports.h"
#include "lrs/store.h"
#include "lrs/workforce.h"
#include "tests/test.h"

#include <jansson.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void test_parsers(void)
{
	struct reports_target t;
	struct lr_error err;
	enum reports_period by;
	enum reports_format fmt;

	lr_error_clear(&err);
	CHECK_INT(reports_target_parse(&t, &err, "0.9:frontline:2028-03-31"), 0);
	CHECK(fabs(t.fraction - 0.9) < 1e-12);
	CHECK_INT(t.population, REPORTS_FRONTLINE);
	CHECK_STR(t.date, "2028-03-31");
	CHECK_INT(reports_target_parse(&t, &err, "70%:all:2028-02-29"), 0);
	CHECK(fabs(t.fraction - 0.7) < 1e-12);
	CHECK_INT(t.population, REPORTS_ALL);
	CHECK_INT(reports_target_parse(&t, &err, "1:all:2028-03-31"), 0);
	lr_error_clear(&err);
	CHECK_INT(reports_target_parse(&t, &err, "0:all:2028-03-31"), LR_EINVAL);
	lr_error_clear(&err);
	CHECK_INT(reports_target_parse(&t, &err, "101%:all:2028-03-31"), LR_EINVAL);
	lr_error_clear(&err);
	CHECK_INT(reports_target_parse(&t, &err, "0.9:staff:2028-03-31"), LR_EINVAL);
	CHECK_STR(err.text, "target '0.9:staff:2028-03-31': the population 'staff' is not all or frontline");
	lr_error_clear(&err);
	CHECK_INT(reports_target_parse(&t, &err, "0.9:all:2027-02-29"), LR_EINVAL);
	lr_error_clear(&err);
	CHECK_INT(reports_target_parse(&t, &err, "0.9:all"), LR_EINVAL);
	lr_error_clear(&err);
	CHECK_INT(reports_target_parse(&t, &err, "x:all:2028-03-31"), LR_EINVAL);
	lr_error_clear(&err);
	CHECK_INT(reports_period_parse(&by, &err, "week"), 0);
	CHECK_INT(by, REPORTS_WEEK);
	CHECK_INT(reports_period_parse(&by, &err, "day"), LR_EINVAL);
	lr_error_clear(&err);
	CHECK_INT(reports_format_parse(&fmt, &err, "csv"), 0);
	CHECK_INT(fmt, REPORTS_CSV);
	CHECK_INT(reports_format_parse(&fmt, &err, "xml"), LR_EINVAL);
	CHECK(workforce_date_valid("2024-02-29"));
	CHECK(!workforce_date_valid("2100-02-29"));
	CHECK(workforce_date_valid("2000-02-29"));
	CHECK(!workforce_date_valid("2025-04-31"));
	CHECK(!workforce_date_valid("2025-4-01"));
	CHECK(!workforce_date_valid("2025-04-01T00"));
}

static struct store *store;
static char path[64];

static void put(int64_t org_id, const char *org, const char *email, const char *ts)
{
	struct store_source src = { .org_id = org_id, .org_code = org };
	struct lr_error err;
	enum store_outcome outcome;
	char json[512];
	json_t *st;

	snprintf(json, sizeof(json),
		 "{\"actor\": {\"mbox\": \"mailto:%s\"}, \"verb\": {\"id\":"
		 " \"http://adlnet.gov/expapi/verbs/completed\"}, \"object\": {\"id\":"
		 " \"http://example.org/c\"}, \"timestamp\": \"%s\"}", email, ts);
	st = json_loads(json, 0, NULL);
	lr_error_clear(&err);
	CHECK(st != NULL);
	CHECK_MSG(store_put_statement(store, &err, st, &src, &outcome) == 0, "%s", err.text);
	json_decref(st);
}

static char *joined(const json_t *array)
{
	static char buf[1024];
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < json_array_size(array); i++) {
		const json_t *v = json_array_get(array, i);
		if (json_is_string(v))
			used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s", i ? " " : "",
						 json_string_value(v));
		else
			used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%lld", i ? " " : "",
						 (long long)json_integer_value(v));
	}
	return buf;
}

static void test_store_reports(void)
{
	struct store_org a = { 0, "a", NULL, NULL, NULL };
	struct workforce_update u = { "a", NULL, "nhs", 100, 40, "2021-01-01" };
	struct reports_target t;
	struct reports_query q;
	struct lr_error err;
	json_t *r = NULL, *sys;
	int64_t ida, course;
	int created = 0;

	lr_error_clear(&err);
	snprintf(path, sizeof(path), "/tmp/lrhub-test-reports-%ld.db", (long)getpid());
	unlink(path);
	CHECK_INT(store_open(&store, &err, path, STORE_CREATE), 0);
	CHECK_INT(store_org_add(store, &err, &a), 0);
	CHECK_INT(store_org_id(store, &err, "a", &ida), 0);
	CHECK_INT(store_course_add(store, &err, "c", "C"), 0);
	CHECK_INT(store_course_id(store, &err, "c", &course), 0);
	CHECK_INT(store_course_alias(store, &err, course, 0, "http://example.org/c"), 0);
	/* Thursday 2020-12-31 and Sunday 2021-01-03 are in ISO week 2020-W53. */
	put(ida, "a", "p1@example.org", "2020-12-31T12:00:00Z");
	put(ida, "a", "p2@example.org", "2021-01-03T23:59:59Z");
	put(ida, "a", "p3@example.org", "2021-01-04T00:00:00Z");
	put(ida, "a", "p4@example.org", "2021-01-19T08:00:00+02:00");
	put(ida, "a", "p1@example.org", "2021-02-01T00:00:00Z"); /* a second completion: not first */

	/* Headcount history: 100 from 2021-01-01, then the frontline alone changes. */
	CHECK_INT(workforce_set(store, &err, &u, 0, &created), 0);
	CHECK_INT(created, 0);
	u.sector = NULL;
	u.headcount = -1;
	u.frontline = 50;
	u.as_of = "2021-01-10";
	CHECK_INT(workforce_set(store, &err, &u, 0, NULL), 0);
	u.frontline = 150;
	CHECK_INT(workforce_set(store, &err, &u, 0, NULL), LR_EINVAL); /* above 100 */
	lr_error_clear(&err);
	u.org = "nope";
	u.frontline = 5;
	CHECK_INT(workforce_set(store, &err, &u, 0, NULL), LR_ENOTFOUND);
	lr_error_clear(&err);

	memset(&q, 0, sizeof(q));
	q.course = "c";
	q.by = REPORTS_WEEK;
	CHECK_INT(reports_trend(&r, &err, store, &q), 0);
	CHECK_STR(joined(json_object_get(r, "periods")), "2020-W53 2021-W01 2021-W02 2021-W03");
	CHECK_STR(joined(json_object_get(r, "starts")), "2020-12-28 2021-01-04 2021-01-11 2021-01-18");
	sys = json_array_get(json_object_get(r, "series"), 0);
	CHECK(json_is_null(json_object_get(sys, "org")));
	CHECK_STR(joined(json_object_get(sys, "first_completions")), "2 1 0 1");
	CHECK_STR(joined(json_object_get(sys, "cumulative")), "2 3 3 4");
	json_decref(r);
	r = NULL;

	q.by = REPORTS_MONTH;
	q.as_of = "2021-03-15";
	CHECK_INT(reports_trend(&r, &err, store, &q), 0);
	CHECK_STR(joined(json_object_get(r, "periods")), "2020-12 2021-01 2021-02 2021-03");
	sys = json_array_get(json_object_get(r, "series"), 0);
	CHECK_STR(joined(json_object_get(sys, "cumulative")), "1 4 4 4");
	json_decref(r);
	r = NULL;

	/* Coverage as of 2021-01-09: frontline still 40; the window is after 2020-10-09. */
	CHECK_INT(reports_target_parse(&t, &err, "0.5:frontline:2021-04-09"), 0);
	q.as_of = "2021-01-09";
	q.targets = &t;
	q.n_targets = 1;
	CHECK_INT(reports_coverage(&r, &err, store, &q), 0);
	sys = json_object_get(r, "system");
	CHECK_STR(json_string_value(json_object_get(r, "recent_from")), "2020-10-09");
	CHECK_INT(json_integer_value(json_object_get(sys, "completed")), 3);
	CHECK_INT(json_integer_value(json_object_get(sys, "headcount")), 100);
	CHECK_INT(json_integer_value(json_object_get(sys, "frontline")), 40);
	{
		const json_t *tj = json_array_get(json_object_get(sys, "targets"), 0);
		/* 20 needed, 17 to go in 90 days = 2.957 months: 5.75 a month; 1 a month recently. */
		CHECK_INT(json_integer_value(json_object_get(tj, "target")), 20);
		CHECK_INT(json_integer_value(json_object_get(tj, "gap")), 17);
		CHECK(fabs(json_real_value(json_object_get(tj, "months_left")) - 2.96) < 1e-9);
		CHECK(fabs(json_real_value(json_object_get(tj, "needed_monthly_rate")) - 5.75) < 1e-9);
		CHECK(json_is_false(json_object_get(tj, "on_track")));
	}
	json_decref(r);
	r = NULL;
	/* As of 2021-01-10 the frontline is 50 and the headcount still 100. */
	q.as_of = "2021-01-10";
	CHECK_INT(reports_coverage(&r, &err, store, &q), 0);
	sys = json_object_get(r, "system");
	CHECK_INT(json_integer_value(json_object_get(sys, "frontline")), 50);
	CHECK_INT(json_integer_value(json_object_get(sys, "headcount")), 100);
	CHECK(fabs(json_real_value(json_object_get(sys, "coverage")) - 0.03) < 1e-9);
	json_decref(r);
	r = NULL;
	/* Before any headcount: none, and no target figures. */
	q.as_of = "2020-12-31";
	CHECK_INT(reports_coverage(&r, &err, store, &q), 0);
	sys = json_object_get(r, "system");
	CHECK(json_is_null(json_object_get(sys, "headcount")));
	CHECK(json_is_null(json_object_get(sys, "coverage")));
	CHECK_INT(json_integer_value(json_object_get(sys, "orgs_without_headcount")), 1);
	CHECK(json_is_null(json_object_get(json_array_get(json_object_get(sys, "targets"), 0), "target")));
	json_decref(r);
	r = NULL;
	q.course = "nope";
	CHECK_INT(reports_coverage(&r, &err, store, &q), LR_ENOTFOUND);
	CHECK(r == NULL);
	store_close(store);
	unlink(path);
}

int main(void)
{
	RUN(test_parsers);
	RUN(test_store_reports);
	TEST_END();
}
