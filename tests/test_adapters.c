/*
 * test_adapters.c: runs every fixtures/<format>/<case>/ of the LMS export
 * adapters (moodle-track, moodle-users, moodle-report, scormcloud, totara)
 * through its adapter, fed in chunks of several sizes, and compares what it
 * yields with the case's expected.txt. Also checks that each case's input
 * is detected as its format (unless options.txt forces one), the time zone
 * conversions the adapters rely on, and the SCORM value readers.
 *
 * A case folder holds input.* (the export), expected.txt and optionally
 * options.txt with lines "format NAME", "course KEY", "timezone ZONE",
 * "lms_url URL", "org ORG" (default org: "org-a").
 *
 * expected.txt, one line per thing the adapter yields:
 *   statement LINE RECORD COURSE_KEY PART_KEY JSON   (keys as JSON strings, "-"
 *                                                     for NULL; the statement
 *                                                     compact, keys sorted)
 *   identity LINE RECORD KEY EMAIL                    (as JSON strings)
 *   reject LINE RECORD FIELD: TEXT                    (LR_EINVAL; FIELD may be empty)
 *   fatal LINE TEXT                                   (open() or next() failed)
 *
 * With LRHUB_FIXTURES_WRITE=1 in the environment the expected files are
 * written instead (review them before committing). Run from the project root.
 */
#include "adapters/adapter.h"
#include "adapters/scorm_statement.h"
#include "lrs/error.h"
#include "lrs/xtime.h"
#include "tests/memory_source.h"
#include "tests/test.h"

#include <jansson.h>

#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>

static const char *const formats[] = {
	"moodle-track", "moodle-users", "moodle-report", "scormcloud", "totara", NULL
};

struct text {
	char *data;
	size_t len, cap;
};

static void text_add(struct text *t, const char *bytes, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 256;
		while (cap < t->len + n + 1)
			cap *= 2;
		t->data = realloc(t->data, cap);
		if (!t->data) {
			fprintf(stderr, "out of memory\n");
			exit(2);
		}
		t->cap = cap;
	}
	memcpy(t->data + t->len, bytes, n);
	t->len += n;
	t->data[t->len] = '\0';
}

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_printf(struct text *t, const char *fmt, ...)
{
	char *line = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n > 0)
		text_add(t, line, (size_t)n);
	free(line);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct text t = {0};
	char buf[4096];
	size_t n;

	if (!f)
		return NULL;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		text_add(&t, buf, n);
	fclose(f);
	if (!t.data)
		text_add(&t, "", 0);
	*len = t.len;
	return t.data;
}

/* text as a JSON string ("-" for NULL); the caller frees it. */
static char *quoted(const char *text)
{
	json_t *j;
	char *out;

	if (!text)
		return strdup("-");
	j = json_string(text);
	out = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	json_decref(j);
	return out ? out : strdup("?");
}

/* Writes what the adapter yields over data in the expected.txt form. */
static char *run_adapter(const struct adapter *ad, const struct adapter_input *proto,
			 const char *data, size_t len, size_t step)
{
	struct memory_source src = { data, len, 0, step, 0 };
	struct adapter_input in = *proto;
	struct adapter_item item;
	struct lr_error err;
	struct text t = {0};
	void *state = NULL;
	int rc, guard = 0;

	in.read = memory_read;
	in.ctx = &src;
	lr_error_clear(&err);
	if (ad->open(&state, &err, &in) != 0) {
		text_printf(&t, "fatal %ld %s\n", err.line, err.text);
		return t.data ? t.data : strdup("");
	}
	for (;;) {
		if (++guard > 100000) {
			text_printf(&t, "runaway\n");
			break;
		}
		lr_error_clear(&err);
		rc = ad->next(state, &item, &err);
		if (rc == 0)
			break;
		if (rc == LR_EINVAL) {
			text_printf(&t, "reject %ld %ld %s: %s\n", err.line, err.record, err.field, err.text);
			continue;
		}
		if (rc < 0) {
			text_printf(&t, "fatal %ld %s\n", err.line, err.text);
			break;
		}
		if (item.kind == ADAPTER_IDENTITY) {
			char *key = quoted(item.key), *email = quoted(item.email);
			text_printf(&t, "identity %ld %ld %s %s\n", item.line, item.record, key, email);
			free(key);
			free(email);
		} else {
			char *json = json_dumps(item.statement, JSON_COMPACT | JSON_SORT_KEYS |
								JSON_REAL_PRECISION(12));
			char *course = quoted(item.course_key), *part = quoted(item.part_key);
			text_printf(&t, "statement %ld %ld %s %s %s\n", item.line, item.record, course,
				    part, json ? json : "(null)");
			free(course);
			free(part);
			free(json);
			json_decref(item.statement);
		}
	}
	ad->close(state);
	return t.data ? t.data : strdup("");
}

static int read_option(const char *options, const char *name, char *out, size_t size)
{
	const char *p = options;
	size_t n = strlen(name);

	while (p && *p) {
		if (strncmp(p, name, n) == 0 && p[n] == ' ') {
			const char *end = strchr(p, '\n');
			size_t len = end ? (size_t)(end - p - n - 1) : strlen(p + n + 1);
			if (len >= size)
				len = size - 1;
			memcpy(out, p + n + 1, len);
			out[len] = '\0';
			return 1;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return 0;
}

static int cases_run;

static void run_case(const char *format, const char *dir)
{
	static const size_t steps[] = { 1, 3, 7, 64, 4093, 1 << 20 };
	char path[1400], input[1400] = "", forced[64] = "", course[256], zone[128], url[512],
		org[64] = "org-a", name[1200];
	struct adapter_input in;
	const struct adapter *ad;
	char *data, *options = NULL, *expected, *got = NULL;
	size_t len, olen, elen, i;
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "input", 5) == 0)
			snprintf(input, sizeof(input), "%s/%s", dir, e->d_name);
	closedir(d);
	snprintf(name, sizeof(name), "%s", dir);
	test_current = name;
	CHECK_MSG(input[0], "no input file in %s", dir);
	if (!input[0])
		return;
	data = slurp(input, &len);
	snprintf(path, sizeof(path), "%s/options.txt", dir);
	options = slurp(path, &olen);
	memset(&in, 0, sizeof(in));
	in.name = input;
	in.org = org;
	if (options) {
		if (read_option(options, "course", course, sizeof(course)))
			in.course = course;
		if (read_option(options, "timezone", zone, sizeof(zone)))
			in.timezone = zone;
		if (read_option(options, "lms_url", url, sizeof(url)))
			in.lms_url = url;
		read_option(options, "org", org, sizeof(org));
		read_option(options, "format", forced, sizeof(forced));
	}
	if (forced[0]) {
		ad = adapter_find(forced);
	} else {
		int score = 0;
		ad = adapter_detect(data, len < 8192 ? len : 8192, &score);
		CHECK_MSG(ad && strcmp(ad->name, format) == 0, "detected as %s, not %s",
			  ad ? ad->name : "nothing", format);
		ad = adapter_find(format);
	}
	CHECK(ad != NULL);
	if (!ad)
		goto out;
	snprintf(path, sizeof(path), "%s/expected.txt", dir);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char *again = run_adapter(ad, &in, data, len, steps[i]);
		if (!got) {
			got = again;
			continue;
		}
		CHECK_MSG(strcmp(got, again) == 0, "reading in chunks of %zu bytes gives other items",
			  steps[i]);
		free(again);
	}
	/* Cut short anywhere, the input is refused or read, never crashes (run under ASan). */
	for (i = 0; i < len; i += len / (TEST_VALGRIND ? 8 : 64) + 1) {
		char *cut = run_adapter(ad, &in, data, i, 1 + i % 7);
		CHECK(cut != NULL);
		free(cut);
	}
	if (getenv("LRHUB_FIXTURES_WRITE")) {
		FILE *f = fopen(path, "wb");
		if (f) {
			fputs(got, f);
			fclose(f);
		}
	}
	expected = slurp(path, &elen);
	CHECK_MSG(expected != NULL, "no %s", path);
	if (expected) {
		if (strcmp(expected, got) != 0) {
			test_failed++;
			fprintf(stderr, "FAIL %s: items differ\n--- expected\n%s--- got\n%s", dir, expected, got);
		} else {
			test_passed++;
		}
	}
	free(expected);
	cases_run++;
out:
	free(got);
	free(data);
	free(options);
}

static int name_order(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int not_hidden(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static void test_fixtures(void)
{
	size_t f;

	for (f = 0; formats[f]; f++) {
		char dir[512];
		struct dirent **names = NULL;
		int n, i;

		snprintf(dir, sizeof(dir), "fixtures/%s", formats[f]);
		n = scandir(dir, &names, not_hidden, name_order);
		test_current = dir;
		CHECK_MSG(n > 0, "no fixture cases in %s", dir);
		for (i = 0; i < n; i++) {
			char sub[800];
			snprintf(sub, sizeof(sub), "%s/%s", dir, names[i]->d_name);
			run_case(formats[f], sub);
			free(names[i]);
		}
		free(names);
	}
	test_current = "test_fixtures";
	CHECK(cases_run >= 20);
}

static const char *utc(const struct xtime_zone *z, int y, int mo, int d, int h, int mi)
{
	static char out[XTIME_MAX];
	int64_t ms = 0;

	if (xtime_zone_local(&ms, z, y, mo, d, h, mi, 0) != 0)
		return "invalid";
	xtime_format(out, ms);
	return out;
}

static void test_zones(void)
{
	struct xtime_zone *z = NULL;

	CHECK_INT(xtime_zone_load(&z, "Europe/London"), 0);
	if (z) {
		CHECK_STR(utc(z, 2015, 12, 29, 10, 17), "2015-12-29T10:17:00Z");
		CHECK_STR(utc(z, 2015, 7, 1, 12, 0), "2015-07-01T11:00:00Z");
		/* after the last transition in the file: the POSIX rule */
		CHECK_STR(utc(z, 2045, 7, 1, 12, 0), "2045-07-01T11:00:00Z");
		CHECK_STR(utc(z, 2045, 12, 1, 12, 0), "2045-12-01T12:00:00Z");
		/* 30 March 2025 01:30 does not exist: the offset before (GMT) */
		CHECK_STR(utc(z, 2025, 3, 30, 1, 30), "2025-03-30T01:30:00Z");
		CHECK_STR(utc(z, 2025, 3, 30, 2, 30), "2025-03-30T01:30:00Z");
		/* 26 October 2025 01:30 happens twice: the first (BST) */
		CHECK_STR(utc(z, 2025, 10, 26, 1, 30), "2025-10-26T00:30:00Z");
		CHECK_STR(utc(z, 2025, 10, 26, 2, 30), "2025-10-26T02:30:00Z");
		CHECK_STR(utc(z, 2025, 2, 29, 12, 0), "invalid");
	}
	xtime_zone_free(z);
	z = NULL;
	CHECK_INT(xtime_zone_load(&z, "Australia/Sydney"), 0);
	if (z) {
		CHECK_STR(utc(z, 2015, 12, 29, 10, 17), "2015-12-28T23:17:00Z");
		CHECK_STR(utc(z, 2040, 7, 1, 12, 0), "2040-07-01T02:00:00Z");
		CHECK_STR(utc(z, 2040, 1, 1, 12, 0), "2040-01-01T01:00:00Z");
	}
	xtime_zone_free(z);
	z = NULL;
	CHECK_INT(xtime_zone_load(&z, "America/New_York"), 0);
	if (z)
		CHECK_STR(utc(z, 2025, 11, 2, 1, 30), "2025-11-02T05:30:00Z");
	xtime_zone_free(z);
	z = NULL;
	CHECK_INT(xtime_zone_load(&z, "UTC"), 0);
	if (z)
		CHECK_STR(utc(z, 2025, 6, 1, 9, 0), "2025-06-01T09:00:00Z");
	xtime_zone_free(z);
	z = NULL;
	CHECK_STR(utc(NULL, 2025, 6, 1, 9, 0), "2025-06-01T09:00:00Z");
	CHECK_INT(xtime_zone_load(&z, "Nowhere/Atlantis"), LR_ENOTFOUND);
	CHECK_INT(xtime_zone_load(&z, "../etc/passwd"), LR_EINVAL);
	CHECK_INT(xtime_zone_load(&z, "/etc/localtime"), LR_EINVAL);
	CHECK(z == NULL);
}

static void test_values(void)
{
	char out[64];
	int c, s;
	double v;

	CHECK_INT(scorm_duration(out, sizeof(out), "0000:10:05.50"), 0);
	CHECK_STR(out, "PT10M5.5S");
	CHECK_INT(scorm_duration(out, sizeof(out), "0002:00:00"), 0);
	CHECK_STR(out, "PT2H");
	CHECK_INT(scorm_duration(out, sizeof(out), "PT1H2M"), 0);
	CHECK_STR(out, "PT1H2M");
	CHECK_INT(scorm_duration(out, sizeof(out), "10 minutes"), LR_EINVAL);
	CHECK_INT(scorm_duration(out, sizeof(out), "00:61:00"), LR_EINVAL);
	scorm_duration_seconds(out, sizeof(out), 26);
	CHECK_STR(out, "PT26S");
	scorm_duration_seconds(out, sizeof(out), 3725.25);
	CHECK_STR(out, "PT1H2M5.25S");
	CHECK_INT(scorm_lesson_status("failed", &c, &s), 0);
	CHECK(c == 1 && s == 0);
	CHECK_INT(scorm_lesson_status(" Passed ", &c, &s), 0);
	CHECK(c == 1 && s == 1);
	CHECK_INT(scorm_lesson_status("not attempted", &c, &s), 0);
	CHECK(c == 0 && s == -1);
	CHECK_INT(scorm_lesson_status("done", &c, &s), LR_EINVAL);
	CHECK_INT(scorm_completion_status("unknown", &c), 0);
	CHECK_INT(c, -1);
	CHECK_INT(scorm_success_status("passed", &s), 0);
	CHECK_INT(s, 1);
	CHECK_INT(scorm_number(" 85.5 ", &v), 0);
	CHECK(v == 85.5);
	CHECK_INT(scorm_number("nan", &v), LR_EINVAL);
	CHECK_INT(scorm_number("12abc", &v), LR_EINVAL);
	CHECK_INT(scorm_number("", &v), LR_EINVAL);
}

/*
 * Many attempts, rows of two learners interleaved: every attempt gives one
 * statement, whatever the chunk size, with at most a few groups open.
 */
/*
 * How many times needle occurs in text. Not a strstr loop: ASan's strstr
 * measures the whole haystack on every call, which made that quadratic.
 */
static long occurrences(const char *text, const char *needle)
{
	size_t n = strlen(needle);
	long count = 0;

	for (; *text; text++)
		if (*text == needle[0] && strncmp(text, needle, n) == 0)
			count++;
	return count;
}

static void test_many_attempts(void)
{
	const struct adapter *ad = adapter_find("moodle-track");
	struct adapter_input in;
	struct text csv = {0};
	char *got;
	long i, statements, passed, rows = TEST_VALGRIND ? 2000 : 20000;

	text_printf(&csv, "userid,scormid,scoid,attempt,element,value,timemodified\n");
	for (i = 0; i < rows; i += 2) {
		text_printf(&csv, "%ld,7,15,1,cmi.core.lesson_status,passed,%ld\n", i, 1740000000 + i);
		text_printf(&csv, "%ld,7,15,1,cmi.core.lesson_status,incomplete,%ld\n", i + 1, 1740000000 + i);
		text_printf(&csv, "%ld,7,15,1,cmi.core.score.raw,%ld,%ld\n", i, i % 101, 1740000000 + i);
		text_printf(&csv, "%ld,7,15,1,cmi.core.session_time,00:01:00,%ld\n", i + 1, 1740000000 + i);
	}
	memset(&in, 0, sizeof(in));
	in.name = "generated.csv";
	in.org = "org-a";
	CHECK(ad != NULL);
	if (!ad)
		return;
	got = run_adapter(ad, &in, csv.data, csv.len, 65536);
	statements = occurrences(got, "statement ");
	passed = occurrences(got, "verbs/passed");
	CHECK_INT(statements, rows);
	CHECK_INT(passed, rows / 2);
	CHECK(strstr(got, "reject") == NULL);
	free(got);
	free(csv.data);
}

int main(void)
{
	RUN(test_values);
	RUN(test_zones);
	RUN(test_fixtures);
	RUN(test_many_attempts);
	TEST_END();
}
