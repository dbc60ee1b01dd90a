/*
 * Unit tests: the nightly inbox (ingest/nightly.h) over a real store and a
 * real folder: which files wait, free names in done/, the lock, where files
 * go and what their reports say, a re-sent file, a file whose ingest was
 * committed but which was not moved (as a kill leaves it), an unknown org,
 * and reading the run back.
 */
#include "ingest/nightly.h"
#include "lrs/error.h"
#include "lrs/store.h"
#include "tests/test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[128];      /* the test's folder */
static char inbox[192];
static char db[192];
static const time_t now = 1767268800; /* 2026-01-01T12:00:00Z */

#define STATEMENT(id, email)                                                                  \
	"{\"id\":\"" id "\",\"actor\":{\"mbox\":\"mailto:" email "\"},"                        \
	"\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/completed\"},"                      \
	"\"object\":{\"id\":\"https://example.org/course/mecc\"}}"

static void write_file(const char *path, const char *text, time_t mtime)
{
	FILE *fp = fopen(path, "w");
	struct timespec times[2];

	if (!fp) {
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
		return;
	}
	fputs(text, fp);
	fclose(fp);
	times[0].tv_sec = times[1].tv_sec = mtime;
	times[0].tv_nsec = times[1].tv_nsec = 0;
	utimensat(AT_FDCWD, path, times, 0);
}

static int exists(const char *fmt, const char *a)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), fmt, inbox, a);
	return stat(path, &st) == 0;
}

/* The text of a file under the inbox (static buffer). */
static const char *slurp(const char *rel)
{
	static char buf[8192];
	char path[512];
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", inbox, rel);
	buf[0] = '\0';
	if (!(fp = fopen(path, "r")))
		return buf;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void test_waiting(void)
{
	CHECK(nightly__waiting("a.json", now - 120, now, 60) == NULL);
	CHECK(nightly__waiting("a.json", now - 10, now, 60) != NULL);
	CHECK(nightly__waiting("a.json", now - 10, now, 0) == NULL);
	CHECK(nightly__waiting("a.json", now + 10, now, 60) != NULL);   /* a little in the future */
	CHECK(nightly__waiting("a.json", now + 86400, now, 60) == NULL); /* a clock far off */
	CHECK_STR(nightly__waiting("a.json.part", now - 999, now, 60), "still being written (.part)");
	CHECK(nightly__waiting(".a.json", now - 999, now, 60) != NULL);
}

static void test_free_name(void)
{
	char name[64], path[256];

	CHECK_INT(nightly__free_name(name, sizeof(name), dir, "x.json"), 0);
	CHECK_STR(name, "x.json");
	snprintf(path, sizeof(path), "%s/x.json", dir);
	write_file(path, "1", now);
	CHECK_INT(nightly__free_name(name, sizeof(name), dir, "x.json"), 0);
	CHECK_STR(name, "x.1.json");
	snprintf(path, sizeof(path), "%s/x.1.json", dir);
	write_file(path, "1", now);
	CHECK_INT(nightly__free_name(name, sizeof(name), dir, "x.json"), 0);
	CHECK_STR(name, "x.2.json");
	snprintf(path, sizeof(path), "%s/noext", dir);
	write_file(path, "1", now);
	CHECK_INT(nightly__free_name(name, sizeof(name), dir, "noext"), 0);
	CHECK_STR(name, "noext.1");
	CHECK_INT(nightly__free_name(name, 4, dir, "x.json"), LR_ELIMIT);
}

static void test_lock(void)
{
	struct lr_error err;
	char path[256];
	int a = -1, b = -1;

	lr_error_clear(&err);
	snprintf(path, sizeof(path), "%s/store.db.lock", dir);
	CHECK_INT(nightly_lock(&a, &err, path), 0);
	CHECK_INT(nightly_lock(&b, &err, path), LR_EBUSY);
	CHECK(strstr(err.text, "another lrhub nightly is running") != NULL);
	CHECK_INT(b, -1);
	nightly_unlock(a);
	lr_error_clear(&err);
	CHECK_INT(nightly_lock(&b, &err, path), 0);
	nightly_unlock(b);
	snprintf(path, sizeof(path), "%s/no/such/dir/lock", dir);
	CHECK_INT(nightly_lock(&a, &err, path), LR_EIO);
}

struct seen {
	int files, waiting;
	char outcomes[1024];
};

static void on_file(void *ctx, const struct nightly_file *f)
{
	struct seen *s = ctx;
	const char *name = strrchr(f->path, '/');
	size_t len = strlen(s->outcomes);

	s->files++;
	s->waiting += strcmp(f->outcome, "waiting") == 0;
	snprintf(s->outcomes + len, sizeof(s->outcomes) - len, "%s %s %s;", f->org,
		 name ? name + 1 : f->path, f->outcome);
}

static int run(struct store *s, struct nightly_report *r, struct seen *seen)
{
	struct nightly_options o;
	struct lr_error err;
	int rc;

	memset(&o, 0, sizeof(o));
	memset(seen, 0, sizeof(*seen));
	lr_error_clear(&err);
	o.inbox = inbox;
	o.settle_seconds = 60;
	o.now = now;
	o.on_file = on_file;
	o.ctx = seen;
	rc = nightly_run(s, &err, &o, r);
	if (rc != 0)
		fprintf(stderr, "nightly_run: %s\n", err.text);
	return rc;
}

static long count(struct store *s, const char *what)
{
	struct lr_error err;
	long n = -1;

	lr_error_clear(&err);
	if (strcmp(what, "statements") == 0)
		store_count_statements(s, &err, 0, &n);
	return n;
}

struct file_rows {
	int n, duplicates, failed;
};

static int count_file(void *ctx, const struct nightly_file_row *f)
{
	struct file_rows *r = ctx;

	r->n++;
	r->duplicates += strcmp(f->status, "duplicate") == 0;
	r->failed += strcmp(f->status, "failed") == 0;
	return 0;
}

static int count_run(void *ctx, const struct store_run *r)
{
	(*(int *)ctx)++;
	(void)r;
	return 0;
}

static void test_inbox(void)
{
	struct store *s = NULL;
	struct store_org a = { 0, "org-a", NULL, NULL, NULL };
	struct nightly_report r;
	struct seen seen;
	struct lr_error err;
	struct file_rows rows = { 0, 0, 0 };
	char path[512], from[512];
	int runs = 0;

	lr_error_clear(&err);
	snprintf(db, sizeof(db), "%s/store.db", dir);
	snprintf(inbox, sizeof(inbox), "%s/inbox", dir);
	CHECK_INT(store_open(&s, &err, db, STORE_CREATE), 0);
	if (!s)
		return;
	CHECK_INT(store_org_add(s, &err, &a), 0);
	snprintf(path, sizeof(path), "%s/org-a", inbox);
	mkdir(inbox, 0755);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/nobody", inbox);
	mkdir(path, 0755);

	snprintf(path, sizeof(path), "%s/org-a/a.json", inbox);
	write_file(path, "[" STATEMENT("11111111-0000-4000-8000-000000000001", "ann@example.org") "]",
		   now - 600);
	/* The same bytes under another name: a duplicate in the same run. */
	snprintf(path, sizeof(path), "%s/org-a/b.json", inbox);
	write_file(path, "[" STATEMENT("11111111-0000-4000-8000-000000000001", "ann@example.org") "]",
		   now - 600);
	/* One good line, one bad one. */
	snprintf(path, sizeof(path), "%s/org-a/c.jsonl", inbox);
	write_file(path,
		   STATEMENT("11111111-0000-4000-8000-000000000002", "bob@example.org") "\n"
		   "{\"actor\":{\"mbox\":\"mailto:x@example.org\"},\"verb\":{\"id\":\"nope\"},"
		   "\"object\":{\"id\":\"https://example.org/x\"}}\n", now - 600);
	snprintf(path, sizeof(path), "%s/org-a/d.csv", inbox);
	write_file(path, "what,is,this\n1,2,3\n", now - 600);
	snprintf(path, sizeof(path), "%s/org-a/fresh.json", inbox);
	write_file(path, "[]", now - 5);
	snprintf(path, sizeof(path), "%s/org-a/e.json.part", inbox);
	write_file(path, "[", now - 600);
	snprintf(path, sizeof(path), "%s/nobody/x.json", inbox);
	write_file(path, "[]", now - 600);

	CHECK_INT(run(s, &r, &seen), 0);
	CHECK_STR(seen.outcomes, "org-a a.json done;org-a b.json duplicate;org-a c.jsonl rejects;"
				 "org-a d.csv failed;org-a e.json.part waiting;"
				 "org-a fresh.json waiting;");
	CHECK_INT(r.n_groups, 2);
	CHECK_STR(r.groups[0].name, "nobody");
	CHECK(strstr(r.groups[0].error, "not named after a known org") != NULL);
	CHECK_INT(r.groups[0].run_id, 0);
	CHECK_STR(r.groups[1].name, "org-a");
	CHECK_INT(r.total.files, 4);
	CHECK_INT(r.total.files_duplicate, 1);
	CHECK_INT(r.total.files_failed, 1);
	CHECK_INT(r.total.files_rejects, 1);
	CHECK_INT(r.total.files_waiting, 2);
	CHECK_INT(r.total.counts.accepted, 2);
	CHECK_INT(r.total.counts.rejected, 1);
	CHECK_INT(r.needs_attention, 1);
	CHECK_INT(count(s, "statements"), 2);
	CHECK(exists("%s/org-a/done/2026-01-01/%s", "a.json"));
	CHECK(exists("%s/org-a/done/2026-01-01/%s", "b.json"));
	CHECK(exists("%s/org-a/done/2026-01-01/%s", "c.jsonl"));
	CHECK(exists("%s/org-a/done/2026-01-01/%s", "c.jsonl.rejects.txt"));
	CHECK(!exists("%s/org-a/done/2026-01-01/%s", "a.json.rejects.txt"));
	CHECK(exists("%s/org-a/failed/%s", "d.csv"));
	CHECK(exists("%s/org-a/%s", "fresh.json"));
	CHECK(exists("%s/org-a/%s", "e.json.part"));
	CHECK(exists("%s/nobody/%s", "x.json"));
	CHECK(!exists("%s/org-a/%s", "a.json"));
	CHECK(strstr(slurp("org-a/done/2026-01-01/c.jsonl.rejects.txt"),
		     "  line 2: record 2: verb.id: is not an IRI\n") != NULL);
	CHECK(strstr(slurp("org-a/failed/d.csv.error.txt"), "lrhub could not take in the file d.csv\n") != NULL);
	CHECK(strstr(slurp("org-a/failed/d.csv.error.txt"), "What to do:") != NULL);

	/* runs show's view: the nightly run, its org run, their files. */
	CHECK_INT(nightly_run_each(s, &err, r.run_id, count_run, &runs), 0);
	CHECK_INT(runs, 2);
	CHECK_INT(nightly_file_each(s, &err, r.run_id, count_file, &rows), 0);
	CHECK_INT(rows.n, 4);
	CHECK_INT(rows.duplicates, 1);
	CHECK_INT(rows.failed, 1);
	nightly_report_free(&r);

	/*
	 * A kill after c.jsonl's commit but before its move: the file is back in
	 * the inbox without its report. The next run moves it as a duplicate, to
	 * the same place, with its report made again from the store.
	 */
	snprintf(from, sizeof(from), "%s/org-a/done/2026-01-01/c.jsonl", inbox);
	snprintf(path, sizeof(path), "%s/org-a/c.jsonl", inbox);
	CHECK_INT(rename(from, path), 0);
	snprintf(from, sizeof(from), "%s/org-a/done/2026-01-01/c.jsonl.rejects.txt", inbox);
	CHECK_INT(unlink(from), 0);
	CHECK_INT(run(s, &r, &seen), 0);
	CHECK_STR(seen.outcomes, "org-a c.jsonl duplicate;org-a e.json.part waiting;"
				 "org-a fresh.json waiting;");
	CHECK_INT(count(s, "statements"), 2);
	CHECK_INT(r.total.counts.rejected, 0);
	CHECK(exists("%s/org-a/done/2026-01-01/%s", "c.jsonl"));
	CHECK(!exists("%s/org-a/done/2026-01-01/%s", "c.1.jsonl"));
	CHECK(strstr(slurp("org-a/done/2026-01-01/c.jsonl.rejects.txt"),
		     "  line 2: record 2: verb.id: is not an IRI\n") != NULL);
	nightly_report_free(&r);

	/* Nothing new: nothing needs a human, no run per org. */
	snprintf(path, sizeof(path), "%s/nobody/x.json", inbox);
	unlink(path);
	snprintf(path, sizeof(path), "%s/nobody", inbox);
	rmdir(path);
	CHECK_INT(run(s, &r, &seen), 0);
	CHECK_INT(r.needs_attention, 0);
	CHECK_INT(r.total.files, 0);
	CHECK_INT(r.groups[0].run_id, 0);
	nightly_report_free(&r);

	/* An inbox that is not there. */
	{
		struct nightly_options o;
		memset(&o, 0, sizeof(o));
		snprintf(path, sizeof(path), "%s/no-such-inbox", dir);
		o.inbox = path;
		lr_error_clear(&err);
		CHECK_INT(nightly_run(s, &err, &o, &r), LR_EIO);
		CHECK(strstr(err.text, "cannot read the inbox folder") != NULL);
		nightly_report_free(&r);
	}
	store_close(s);
}

int main(void)
{
	char cmd[256];

	snprintf(dir, sizeof(dir), "/tmp/lrhub-test-nightly-%ld", (long)getpid());
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0 || mkdir(dir, 0755) != 0) {
		fprintf(stderr, "cannot make %s\n", dir);
		return 1;
	}
	RUN(test_waiting);
	RUN(test_free_name);
	RUN(test_lock);
	RUN(test_inbox);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	TEST_END();
}
