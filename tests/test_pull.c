/*
 * test_pull.c: the pure parts of remote LRS pulls (ingest/pull.c): "more"
 * resolution, the cursor overlap, Retry-After, the backoff schedule; and
 * the source table: add, list, remove, and the password file rules.
 */
#include "ingest/pull.h"
#include "lrs/error.h"
#include "lrs/store.h"
#include "lrs/xtime.h"
#include "tests/test.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char resolved[1024];

/* The resolved URL, or "ERR" when it is refused. */
static const char *resolve(const char *base, const char *more)
{
	char *out = NULL;

	if (pull__resolve_more(&out, base, more) != 0) {
		CHECK(out == NULL);
		return "ERR";
	}
	snprintf(resolved, sizeof(resolved), "%s", out);
	free(out);
	return resolved;
}

static void test_resolve_more(void)
{
	/* The spec's form: a path on the server's origin, whatever the base path. */
	CHECK_STR(resolve("http://127.0.0.1:8080/xapi", "/xapi/statements?more=abc"),
		  "http://127.0.0.1:8080/xapi/statements?more=abc");
	CHECK_STR(resolve("https://lms.example/lrs/xapi", "/other/more/123"),
		  "https://lms.example/other/more/123");
	CHECK_STR(resolve("https://lms.example", "/statements?more=1"),
		  "https://lms.example/statements?more=1");
	CHECK_STR(resolve("https://[::1]:8443/xapi", "/xapi/statements?more=z"),
		  "https://[::1]:8443/xapi/statements?more=z");
	/* Relative to the xAPI base, as some LRSs answer. */
	CHECK_STR(resolve("https://lms.example/xapi", "statements?more=2"),
		  "https://lms.example/xapi/statements?more=2");
	CHECK_STR(resolve("https://lms.example/xapi/", "statements?more=2"),
		  "https://lms.example/xapi/statements?more=2");
	/* Absolute on the same origin (default port written or not, any case). */
	CHECK_STR(resolve("https://lms.example/xapi", "https://LMS.example:443/xapi/statements?more=3"),
		  "https://LMS.example:443/xapi/statements?more=3");
	CHECK_STR(resolve("http://lms.example:80/xapi", "http://lms.example/xapi/s?more=4"),
		  "http://lms.example/xapi/s?more=4");
	/* Never elsewhere: the credentials would follow. */
	CHECK_STR(resolve("https://lms.example/xapi", "https://evil.example/xapi/statements"), "ERR");
	CHECK_STR(resolve("https://lms.example/xapi", "http://lms.example/xapi/statements"), "ERR");
	CHECK_STR(resolve("https://lms.example/xapi", "https://lms.example:8443/xapi/s"), "ERR");
	CHECK_STR(resolve("https://lms.example/xapi", "//evil.example/xapi/statements"), "ERR");
	CHECK_STR(resolve("https://lms.example/xapi", "https://u:p@lms.example/xapi/s"), "ERR");
	CHECK_STR(resolve("https://lms.example/xapi", "ftp://lms.example/x"), "ERR");
	/* Nothing that could split a request, and not empty. */
	CHECK_STR(resolve("https://lms.example/xapi", "/xapi/statements?more=a b"), "ERR");
	CHECK_STR(resolve("https://lms.example/xapi", "/xapi/s\r\nHost: evil"), "ERR");
	CHECK_STR(resolve("https://lms.example/xapi", ""), "ERR");
	CHECK_STR(resolve("not a url", "/xapi/s"), "ERR");
}

static void test_since_overlap(void)
{
	int64_t cursor = 0, since = 0;
	char text[XTIME_MAX];

	CHECK_INT(pull__since_ms(1000000, 300000), 700000);
	CHECK_INT(pull__since_ms(300000, 300000), 0);
	CHECK_INT(pull__since_ms(1000, 300000), 0);   /* never before the epoch */
	CHECK_INT(pull__since_ms(1000, -5), 1000);     /* no negative overlap */
	CHECK_INT(PULL_OVERLAP_MS, 5 * 60 * 1000);
	CHECK(xtime_parse(&cursor, "2025-03-01T00:02:00.250Z", 0) == 0);
	since = pull__since_ms(cursor, PULL_OVERLAP_MS);
	xtime_format_ms(text, since);
	CHECK_STR(text, "2025-02-28T23:57:00.250Z");
}

static void test_retry_after(void)
{
	int64_t now = 0;

	CHECK_INT(pull__retry_after_ms("1", 0, 300000), 1000);
	CHECK_INT(pull__retry_after_ms(" 30", 0, 300000), 30000);
	CHECK_INT(pull__retry_after_ms("0", 0, 300000), 0);
	CHECK_INT(pull__retry_after_ms("120\r\n", 0, 300000), 120000);
	CHECK_INT(pull__retry_after_ms("86400", 0, 300000), 300000);          /* capped */
	CHECK_INT(pull__retry_after_ms("99999999999999999999", 0, 300000), 300000);
	CHECK_INT(pull__retry_after_ms("", 0, 300000), -1);
	CHECK_INT(pull__retry_after_ms(NULL, 0, 300000), -1);
	CHECK_INT(pull__retry_after_ms("-1", 0, 300000), -1);
	CHECK_INT(pull__retry_after_ms("1.5", 0, 300000), -1);
	CHECK_INT(pull__retry_after_ms("soon", 0, 300000), -1);
	/* An HTTP-date: the wait from now, 0 when it is past. */
	CHECK(xtime_parse(&now, "2015-10-21T07:27:00Z", 0) == 0);
	CHECK_INT(pull__retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", now, 300000), 60000);
	CHECK_INT(pull__retry_after_ms("Wed, 21 Oct 2015 07:20:00 GMT", now, 300000), 0);
	CHECK_INT(pull__retry_after_ms("Wed, 21 Oct 2015 09:28:00 GMT", now, 300000), 300000);
}

static void test_backoff(void)
{
	CHECK_INT(pull__backoff_ms(1000, 1, 60000), 1000);
	CHECK_INT(pull__backoff_ms(1000, 2, 60000), 2000);
	CHECK_INT(pull__backoff_ms(1000, 3, 60000), 4000);
	CHECK_INT(pull__backoff_ms(1000, 6, 60000), 32000);
	CHECK_INT(pull__backoff_ms(1000, 7, 60000), 60000);
	CHECK_INT(pull__backoff_ms(1000, 1000, 60000), 60000);  /* no overflow */
	CHECK_INT(pull__backoff_ms(250, 3, 60000), 1000);
	CHECK_INT(pull__backoff_ms(90000, 1, 60000), 60000);
	CHECK_INT(pull__backoff_ms(0, 5, 60000), 0);
}

struct listing {
	int n;
	char text[1024];
};

static int list_one(void *ctx, const struct pull_source_info *src)
{
	struct listing *l = ctx;
	size_t len = strlen(l->text);

	l->n++;
	snprintf(l->text + len, sizeof(l->text) - len, "%s|%s|%s|%s|%s|%s;", src->name, src->org,
		 src->xapi_url, src->user, src->version, src->cursor ? src->cursor : "-");
	return 0;
}

static void test_source_table(void)
{
	char dir[] = "/tmp/lrhub-test-pull.XXXXXX";
	char db[256], pw[256], cmd[300];
	struct store *s = NULL;
	struct lr_error err;
	struct store_org org = { 0, "trust-a", NULL, NULL, NULL };
	struct pull_source_info src;
	struct listing l;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(db, sizeof(db), "%s/s.db", dir);
	snprintf(pw, sizeof(pw), "%s/pw", dir);
	lr_error_clear(&err);
	CHECK(store_open(&s, &err, db, STORE_CREATE) == 0);
	if (!s)
		return;
	CHECK(store_org_add(s, &err, &org) == 0);
	f = fopen(pw, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("s3cret-value\n", f);
		fclose(f);
	}
	CHECK(chmod(pw, 0640) == 0);

	memset(&src, 0, sizeof(src));
	src.name = "lms";
	src.org = "trust-a";
	src.xapi_url = "https://lms.example/xapi/";
	src.user = "key1";
	src.password_file = pw;
	/* A password file the group may read is refused, and says how to fix it. */
	CHECK_INT(pull_source_add(s, &err, &src), LR_EINVAL);
	CHECK(strstr(err.text, "chmod 600") != NULL);
	CHECK(strstr(err.text, "s3cret") == NULL);
	CHECK(chmod(pw, 0600) == 0);
	lr_error_clear(&err);
	src.cursor = "2025-01-31T10:00:00+01:00";
	CHECK_INT(pull_source_add(s, &err, &src), 0);
	lr_error_clear(&err);
	CHECK_INT(pull_source_add(s, &err, &src), LR_EEXISTS);

	/* Bad names, orgs, URLs, versions, dates. */
	{
		struct pull_source_info bad = src;
		lr_error_clear(&err);
		bad.name = "two words";
		CHECK_INT(pull_source_add(s, &err, &bad), LR_EINVAL);
		bad.name = "b";
		lr_error_clear(&err);
		bad.org = "nowhere";
		CHECK_INT(pull_source_add(s, &err, &bad), LR_ENOTFOUND);
		bad.org = "trust-a";
		lr_error_clear(&err);
		bad.xapi_url = "https://user:pw@lms.example/xapi";
		CHECK_INT(pull_source_add(s, &err, &bad), LR_EINVAL);
		lr_error_clear(&err);
		bad.xapi_url = "https://lms.example/xapi?x=1";
		CHECK_INT(pull_source_add(s, &err, &bad), LR_EINVAL);
		lr_error_clear(&err);
		bad.xapi_url = "file:///etc/passwd";
		CHECK_INT(pull_source_add(s, &err, &bad), LR_EINVAL);
		bad.xapi_url = "http://lms.example/xapi";
		lr_error_clear(&err);
		bad.version = "1.0.0";
		CHECK_INT(pull_source_add(s, &err, &bad), LR_EINVAL);
		bad.version = "2.0.0";
		lr_error_clear(&err);
		bad.cursor = "yesterday";
		CHECK_INT(pull_source_add(s, &err, &bad), LR_EINVAL);
		bad.cursor = NULL;
		lr_error_clear(&err);
		bad.password_file = "/nonexistent/pw";
		CHECK_INT(pull_source_add(s, &err, &bad), LR_EINVAL);
		bad.password_file = pw;
		lr_error_clear(&err);
		CHECK_INT(pull_source_add(s, &err, &bad), 0);
	}

	memset(&l, 0, sizeof(l));
	lr_error_clear(&err);
	CHECK_INT(pull_source_each(s, &err, list_one, &l), 0);
	CHECK_INT(l.n, 2);
	/* The trailing slash goes, the cursor is kept in UTC with milliseconds. */
	CHECK_STR(l.text, "b|trust-a|http://lms.example/xapi|key1|2.0.0|-;"
			  "lms|trust-a|https://lms.example/xapi|key1|1.0.3|2025-01-31T09:00:00.000Z;");
	/* The password itself is nowhere in the store. */
	store_close(s);
	s = NULL;
	snprintf(cmd, sizeof(cmd), "grep -q s3cret-value '%s'", db);
	CHECK(system(cmd) != 0);
	CHECK(store_open(&s, &err, db, 0) == 0);
	if (!s)
		return;

	lr_error_clear(&err);
	CHECK_INT(pull_source_remove(s, &err, "b"), 0);
	lr_error_clear(&err);
	CHECK_INT(pull_source_remove(s, &err, "b"), LR_ENOTFOUND);
	memset(&l, 0, sizeof(l));
	CHECK_INT(pull_source_each(s, &err, list_one, &l), 0);
	CHECK_INT(l.n, 1);

	/* A pull of a source whose password file went wrong fails, recorded, saying why. */
	{
		struct pull_report rep;
		CHECK(chmod(pw, 0604) == 0);
		lr_error_clear(&err);
		CHECK_INT(pull_source(s, &err, "lms", NULL, &rep), LR_EINVAL);
		CHECK(strstr(err.text, "source lms: password file") != NULL);
		CHECK(rep.run_id > 0);
		CHECK_STR(rep.org, "trust-a");
		CHECK_INT(rep.pages, 0);
		lr_error_clear(&err);
		CHECK_INT(pull_source(s, &err, "nothing", NULL, &rep), LR_ENOTFOUND);
	}
	store_close(s);
	unlink(pw);
	unlink(db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	RUN(test_resolve_more);
	RUN(test_since_overlap);
	RUN(test_retry_after);
	RUN(test_backoff);
	RUN(test_source_table);
	TEST_END();
}
