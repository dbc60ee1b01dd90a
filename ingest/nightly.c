/*
 * nightly.c: the unattended nightly run over an inbox folder, then the
 * remote sources (see nightly.h for the layout and why it is crash-safe).
 */
#include "ingest/nightly.h"
#include "ingest/ingest.h"
#include "ingest/pull.h"
#include "lrs/error.h"
#include "lrs/hash.h"
#include "lrs/identity.h"
#include "lrs/store.h"

#include <sqlite3.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHOWN_REJECTS 1000      /* refused records listed in a report file */
#define REPORT_MAX (1 << 20)    /* bytes of a report file */

/* ---- the lock ---- */

int nightly_lock(int *out_fd, struct lr_error *err, const char *lock_path)
{
	int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	*out_fd = -1;
	if (fd < 0)
		return lr_error_set(err, LR_EIO, "cannot open the lock file %s: %s", lock_path,
				    strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		close(fd);
		if (e == EWOULDBLOCK)
			return lr_error_set(err, LR_EBUSY,
					    "another lrhub nightly is running on this store (it holds %s): "
					    "this run did nothing",
					    lock_path);
		return lr_error_set(err, LR_EIO, "cannot lock %s: %s", lock_path, strerror(e));
	}
	*out_fd = fd;
	return 0;
}

void nightly_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* closing the last descriptor releases the flock */
}

/* ---- small parts ---- */

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

const char *nightly__waiting(const char *name, time_t mtime, time_t now, long settle_seconds)
{
	double age = difftime(now, mtime);

	if (name[0] == '.')
		return "a hidden file (being copied in?)";
	if (ends_with(name, ".part"))
		return "still being written (.part)";
	if (settle_seconds > 0 && age < (double)settle_seconds && age > -(double)settle_seconds)
		return "modified within the settle time: it may still be being written";
	return NULL;
}

int nightly__free_name(char *out, size_t size, const char *dir, const char *name)
{
	const char *dot = strrchr(name, '.');
	size_t stem = dot && dot != name ? (size_t)(dot - name) : strlen(name);
	const char *ext = name + stem;
	char path[4096];
	struct stat st;
	long n;

	for (n = 0; n < 100000; n++) {
		int len = n == 0 ? snprintf(out, size, "%s", name)
				 : snprintf(out, size, "%.*s.%ld%s", (int)stem, name, n, ext);
		if (len < 0 || (size_t)len >= size)
			return LR_ELIMIT;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, out) >= sizeof(path))
			return LR_ELIMIT;
		if (lstat(path, &st) != 0 && errno == ENOENT)
			return 0;
	}
	return LR_ELIMIT;
}

/* mkdir -p for the folders under the inbox. */
static int make_dirs(struct lr_error *err, const char *path)
{
	char buf[4096];
	size_t i, n = strlen(path);

	if (n >= sizeof(buf))
		return lr_error_set(err, LR_ELIMIT, "path too long: %s", path);
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return lr_error_set(err, LR_EIO, "cannot make the folder %s: %s", buf,
					    strerror(errno));
		buf[i] = path[i];
	}
	return 0;
}

/* Writes text to dir/name by way of dir/.name.tmp and rename(): all of it or none. */
static int write_report(struct lr_error *err, const char *dir, const char *name, const char *text,
			size_t len)
{
	char tmp[4096], final[4096];
	size_t off = 0;
	int fd, rc = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >= sizeof(tmp) ||
	    (size_t)snprintf(final, sizeof(final), "%s/%s", dir, name) >= sizeof(final))
		return lr_error_set(err, LR_ELIMIT, "path too long: %s/%s", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return lr_error_set(err, LR_EIO, "cannot write %s: %s", tmp, strerror(errno));
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = lr_error_set(err, LR_EIO, "cannot write %s: %s", tmp, strerror(errno));
			break;
		}
		off += (size_t)n;
	}
	if (close(fd) != 0 && rc == 0)
		rc = lr_error_set(err, LR_EIO, "cannot write %s: %s", tmp, strerror(errno));
	if (rc == 0 && rename(tmp, final) != 0)
		rc = lr_error_set(err, LR_EIO, "cannot rename %s: %s", tmp, strerror(errno));
	if (rc != 0)
		unlink(tmp);
	return rc;
}

/* The SHA-256 of a file in hex; 0, or -1 when it cannot be read (the ingest then says why). */
static int file_sha256(char hex[65], int64_t *size, const char *path)
{
	unsigned char digest[HASH_SHA256_LEN];
	unsigned char buf[65536];
	struct hash_sha256_ctx *sha = hash_sha256_new();
	FILE *fp = fopen(path, "rb");
	size_t n;
	int rc = -1;

	*size = 0;
	if (!sha || !fp)
		goto out;
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0) {
		hash_sha256_update(sha, buf, n);
		*size += (int64_t)n;
	}
	if (ferror(fp))
		goto out;
	hash_sha256_final(sha, digest);
	hash_hex(hex, digest, sizeof(digest));
	rc = 0;
out:
	if (fp)
		fclose(fp);
	hash_sha256_free(sha);
	return rc;
}

/* A growing text buffer for the report files, capped at REPORT_MAX. */
struct text {
	char *buf;
	size_t len, cap;
	int failed;
};

static void add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		size_t room = t->cap - t->len;
		va_start(ap, fmt);
		n = t->buf ? vsnprintf(t->buf + t->len, room, fmt, ap) : -2;
		va_end(ap);
		if (n >= 0 && (size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		if (n == -1 || t->cap >= REPORT_MAX) {
			t->failed = 1;
			return;
		}
		{
			size_t cap = t->cap ? t->cap * 2 : 4096;
			char *p = realloc(t->buf, cap);
			if (!p) {
				t->failed = 1;
				return;
			}
			t->buf = p;
			t->cap = cap;
		}
	}
}

/* ---- the store: the SQL this module keeps ---- */

static int prepare(struct store *s, struct lr_error *err, sqlite3_stmt **q, const char *sql)
{
	if (sqlite3_prepare_v2(store__db(s), sql, -1, q, NULL) != SQLITE_OK)
		return store__db_error(store__db(s), err, "reading runs");
	return 0;
}

static const char *col(sqlite3_stmt *q, int i)
{
	return (const char *)sqlite3_column_text(q, i);
}

static int set_parent(struct store *s, struct lr_error *err, int64_t run_id, int64_t parent_id)
{
	sqlite3_stmt *q = NULL;
	int rc;

	if ((rc = prepare(s, err, &q, "UPDATE run SET parent_id = ? WHERE id = ?")) != 0)
		return rc;
	sqlite3_bind_int64(q, 1, parent_id);
	sqlite3_bind_int64(q, 2, run_id);
	if (sqlite3_step(q) != SQLITE_DONE)
		rc = store__db_error(store__db(s), err, "linking a run to its nightly run");
	sqlite3_finalize(q);
	return rc;
}

/* The file row that first took this content in for the org (done or partial), 0 if none. */
static int find_original(struct store *s, struct lr_error *err, int64_t org_id, const char *sha,
			 int64_t *out_file_id)
{
	sqlite3_stmt *q = NULL;
	int rc, step;

	*out_file_id = 0;
	if ((rc = prepare(s, err, &q,
			  "SELECT f.id FROM file f JOIN run r ON r.id = f.run_id"
			  " WHERE f.sha256 = ? AND r.org_id = ? AND f.status IN ('done', 'partial')"
			  " ORDER BY f.id LIMIT 1")) != 0)
		return rc;
	sqlite3_bind_text(q, 1, sha, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, org_id);
	step = sqlite3_step(q);
	if (step == SQLITE_ROW)
		*out_file_id = sqlite3_column_int64(q, 0);
	else if (step != SQLITE_DONE)
		rc = store__db_error(store__db(s), err, "looking up a file");
	sqlite3_finalize(q);
	return rc;
}

/* The newest file row of a run. */
static int last_file(struct store *s, struct lr_error *err, int64_t run_id, int64_t *out_file_id)
{
	sqlite3_stmt *q = NULL;
	int rc;

	*out_file_id = 0;
	if ((rc = prepare(s, err, &q, "SELECT max(id) FROM file WHERE run_id = ?")) != 0)
		return rc;
	sqlite3_bind_int64(q, 1, run_id);
	if (sqlite3_step(q) == SQLITE_ROW)
		*out_file_id = sqlite3_column_int64(q, 0);
	else
		rc = store__db_error(store__db(s), err, "looking up a file");
	sqlite3_finalize(q);
	if (rc == 0 && *out_file_id == 0)
		rc = lr_error_set(err, LR_EDB, "the file just ingested is not recorded in run %lld",
				  (long long)run_id);
	return rc;
}

/* A stored file row, as the reports need it (strings owned: free with stored_free). */
struct stored_file {
	int64_t id, run_id;
	char *path, *status, *error, *format, *finished_at;
	struct store_counts counts;
};

static void stored_free(struct stored_file *f)
{
	free(f->path);
	free(f->status);
	free(f->error);
	free(f->format);
	free(f->finished_at);
	memset(f, 0, sizeof(*f));
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int stored_get(struct store *s, struct lr_error *err, int64_t file_id, struct stored_file *f)
{
	sqlite3_stmt *q = NULL;
	int rc;

	memset(f, 0, sizeof(*f));
	if ((rc = prepare(s, err, &q,
			  "SELECT run_id, path, status, error, format, coalesce(finished_at, started_at),"
			  " accepted, duplicates, conflicts, rejected FROM file WHERE id = ?")) != 0)
		return rc;
	sqlite3_bind_int64(q, 1, file_id);
	if (sqlite3_step(q) != SQLITE_ROW) {
		rc = lr_error_set(err, LR_EDB, "file %lld is not recorded", (long long)file_id);
	} else {
		f->id = file_id;
		f->run_id = sqlite3_column_int64(q, 0);
		f->path = dup_or_null(col(q, 1));
		f->status = dup_or_null(col(q, 2));
		f->error = dup_or_null(col(q, 3));
		f->format = dup_or_null(col(q, 4));
		f->finished_at = dup_or_null(col(q, 5));
		f->counts.accepted = sqlite3_column_int(q, 6);
		f->counts.duplicates = sqlite3_column_int(q, 7);
		f->counts.conflicts = sqlite3_column_int(q, 8);
		f->counts.rejected = sqlite3_column_int(q, 9);
		if (!f->path || !f->status)
			rc = lr_error_set(err, LR_ENOMEM, "out of memory");
	}
	sqlite3_finalize(q);
	return rc;
}

/* Adds the refused records of a file to t, one line each. */
static int add_rejects(struct store *s, struct lr_error *err, struct text *t, int64_t file_id,
		       int64_t run_id, long total)
{
	sqlite3_stmt *q = NULL;
	long n = 0;
	int rc, step;

	if ((rc = prepare(s, err, &q,
			  "SELECT kind, line, record, field, reason FROM reject WHERE file_id = ?"
			  " ORDER BY id LIMIT ?")) != 0)
		return rc;
	sqlite3_bind_int64(q, 1, file_id);
	sqlite3_bind_int64(q, 2, SHOWN_REJECTS);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		const char *kind = col(q, 0), *field = col(q, 3), *reason = col(q, 4);
		long line = sqlite3_column_int(q, 1), record = sqlite3_column_int(q, 2);
		add(t, "  ");
		if (line > 0)
			add(t, "line %ld: ", line);
		if (record > 0)
			add(t, "record %ld: ", record);
		if (field && field[0])
			add(t, "%s: ", field);
		add(t, "%s%s\n", reason ? reason : "refused",
		    kind && strcmp(kind, "conflict") == 0 ? " (conflict)" : "");
		n++;
	}
	if (step != SQLITE_DONE && step != SQLITE_ROW)
		rc = store__db_error(store__db(s), err, "reading the rejects of a file");
	sqlite3_finalize(q);
	if (rc == 0 && total > n)
		add(t, "  ... and %ld more: 'lrhub rejects --run %lld' lists them all.\n", total - n,
		    (long long)run_id);
	return rc;
}

/* ---- one inbox file ---- */

struct org_pass {
	struct store *s;
	const struct nightly_options *opts;
	struct nightly_group *group;
	struct ingest_run *run;
	const char *org;
	int64_t org_id;
	const char *dir;            /* INBOX/ORG */
	const struct ingest_options *io;
	int64_t parent_id;          /* the nightly run */
	char date[16];              /* YYYY-MM-DD for done/ */
};

/* 1 when a file's fate is failed/: nothing could be taken in from it, or it stopped part-way. */
static int goes_to_failed(const struct stored_file *f)
{
	if (strcmp(f->status, "failed") == 0 || strcmp(f->status, "partial") == 0)
		return 1;
	return f->counts.accepted + f->counts.duplicates == 0 &&
	       f->counts.rejected + f->counts.conflicts > 0;
}

/* The text of FILE.error.txt, for an LMS administrator. */
static int failed_text(struct org_pass *p, struct lr_error *err, struct text *t,
		       const struct stored_file *f, const char *name, const char *dup_of)
{
	long refused = f->counts.rejected + f->counts.conflicts;

	add(t, "lrhub could not take in the file %s\n", name);
	add(t, "Organisation: %s. Inbox: %s. Run %lld.\n", p->org, p->dir,
	    (long long)p->group->run_id);
	if (dup_of)
		add(t, "This file has the same content as %s, read on %s (run %lld); the reason "
		       "below is from then.\n", dup_of, f->finished_at ? f->finished_at : "?",
		    (long long)f->run_id);
	add(t, "\nWhat was wrong:\n");
	if (f->error) {
		/* The command-line hint means nothing to the reader of this file. */
		const char *hint = strstr(f->error, "; use --format to force one");
		add(t, "  %.*s\n", hint ? (int)(hint - f->error) : (int)strlen(f->error), f->error);
	}
	if (strcmp(f->status, "partial") == 0)
		add(t, "\nThe file stopped being readable at that point. The %ld records before it "
		       "were taken in (%ld new, %ld already stored); the rest of the file was not read.\n",
		    f->counts.accepted + f->counts.duplicates, f->counts.accepted,
		    f->counts.duplicates);
	if (refused > 0) {
		int rc;
		add(t, "\n%s of its %ld %s could be taken in. The records refused, and why:\n",
		    f->counts.accepted + f->counts.duplicates ? "Not all" : "None",
		    refused + f->counts.accepted + f->counts.duplicates,
		    refused + f->counts.accepted + f->counts.duplicates == 1 ? "record" : "records");
		if ((rc = add_rejects(p->s, err, t, f->id, f->run_id, refused)) != 0)
			return rc;
	}
	add(t, "\nWhat to do:\n"
	       "  Correct the export in the LMS (or export it again) and put the whole corrected\n"
	       "  file in %s/ again; the next nightly run reads it. Records that were taken in\n"
	       "  already are recognised and are not stored twice.\n", p->dir);
	if (!f->format)
		add(t, "  lrhub reads the formats listed by 'lrhub formats' (xAPI statements as JSON,\n"
		       "  Moodle SCORM tracking or report exports, SCORM Cloud, Totara completion CSV):\n"
		       "  send the export as the LMS produced it, saved as UTF-8 text.\n");
	add(t, "  The lrhub administrator can see this run with 'lrhub runs show %lld'.\n",
	    (long long)p->group->run_id);
	return 0;
}

/* The text of FILE.rejects.txt: which records were refused, and what to do. */
static int rejects_text(struct org_pass *p, struct lr_error *err, struct text *t,
			const struct stored_file *f, const char *name, const char *dup_of)
{
	long refused = f->counts.rejected + f->counts.conflicts;

	add(t, "lrhub took in the file %s, but refused some of its records\n", name);
	add(t, "Organisation: %s. Inbox: %s. Run %lld.\n", p->org, p->dir,
	    (long long)p->group->run_id);
	if (dup_of)
		add(t, "This file has the same content as %s, read on %s (run %lld); the "
		       "account below is from then.\n", dup_of, f->finished_at ? f->finished_at : "?",
		    (long long)f->run_id);
	add(t, "\nTaken in: %ld new records, %ld already stored. Refused: %ld invalid, %ld in "
	       "conflict.\n\nThe records refused, and why:\n",
	    f->counts.accepted, f->counts.duplicates, f->counts.rejected, f->counts.conflicts);
	if (add_rejects(p->s, err, t, f->id, f->run_id, refused) != 0)
		return err->code;
	add(t, "\nWhat to do:\n"
	       "  Correct these records in the LMS and send them again in a later export; the\n"
	       "  records that were taken in are recognised and are not stored twice.\n");
	if (f->counts.conflicts)
		add(t, "  A conflict is a statement whose id was stored before with different content:\n"
		       "  stored statements never change, so the LMS must send the change as a new\n"
		       "  statement (or void the old one).\n");
	add(t, "  The lrhub administrator can see this run with 'lrhub runs show %lld'.\n",
	    (long long)p->group->run_id);
	return 0;
}

static void tell(struct org_pass *p, const char *path, const char *outcome, const char *moved_to,
		 const char *format, const char *reason, const struct store_counts *counts)
{
	struct nightly_file nf;

	if (!p->opts->on_file)
		return;
	memset(&nf, 0, sizeof(nf));
	nf.org = p->org;
	nf.path = path;
	nf.outcome = outcome;
	nf.moved_to = moved_to;
	nf.format = format;
	nf.reason = reason;
	if (counts)
		nf.counts = *counts;
	p->opts->on_file(p->opts->ctx, &nf);
}

/*
 * Writes the report a stored file needs beside its new place and moves it
 * there. dup_of: the path it duplicates, or NULL when it was read just now.
 */
static int settle_file(struct org_pass *p, struct lr_error *err, const char *path, const char *name,
		       int64_t file_id, const char *dup_of)
{
	struct stored_file f;
	struct text t = { 0 };
	struct store_counts none = { 0 };
	const struct store_counts *counts;
	char dir[4096], target[1024], report[1100], moved[5200];
	const char *outcome;
	int failed, rc;

	if ((rc = stored_get(p->s, err, file_id, &f)) != 0)
		return rc;
	failed = goes_to_failed(&f);
	counts = dup_of ? &none : &f.counts;
	if (failed)
		snprintf(dir, sizeof(dir), "%s/failed", p->dir);
	else
		snprintf(dir, sizeof(dir), "%s/done/%s", p->dir, p->date);
	if ((rc = make_dirs(err, dir)) != 0 ||
	    (rc = nightly__free_name(target, sizeof(target), dir, name)) != 0) {
		if (rc == LR_ELIMIT)
			lr_error_set(err, rc, "no free name for %s in %s", name, dir);
		goto out;
	}
	if (failed) {
		rc = failed_text(p, err, &t, &f, name, dup_of);
		snprintf(report, sizeof(report), "%s.error.txt", target);
	} else if (f.counts.rejected + f.counts.conflicts > 0) {
		rc = rejects_text(p, err, &t, &f, name, dup_of);
		snprintf(report, sizeof(report), "%s.rejects.txt", target);
	}
	if (rc == 0 && t.failed)
		rc = lr_error_set(err, LR_ENOMEM, "out of memory writing the report on %s", name);
	if (rc == 0 && t.len > 0)
		rc = write_report(err, dir, report, t.buf, t.len);
	if (rc != 0)
		goto out;
	snprintf(moved, sizeof(moved), "%s/%s", dir, target);
	if (rename(path, moved) != 0) {
		rc = lr_error_set(err, LR_EIO, "cannot move %s to %s: %s", path, moved,
				  strerror(errno));
		goto out;
	}
	outcome = failed ? "failed" : dup_of ? "duplicate"
		  : f.counts.rejected + f.counts.conflicts > 0 ? "rejects" : "done";
	p->group->files++;
	if (dup_of)
		p->group->files_duplicate++;
	if (failed)
		p->group->files_failed++;
	else if (f.counts.rejected + f.counts.conflicts > 0 && !dup_of)
		p->group->files_rejects++;
	p->group->counts.accepted += counts->accepted;
	p->group->counts.duplicates += counts->duplicates;
	p->group->counts.rejected += counts->rejected;
	p->group->counts.conflicts += counts->conflicts;
	tell(p, path, outcome, moved, f.format, failed ? f.error : dup_of, counts);
out:
	free(t.buf);
	stored_free(&f);
	return rc;
}

static int name_order(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* One inbox file: wait, skip as a duplicate, or ingest; then move it. Store failures: < 0. */
static int take_file(struct org_pass *p, struct lr_error *err, const char *name)
{
	char path[4096], sha[65], why[4400], dup_of[4096];
	struct stat st;
	const char *wait;
	int64_t size = 0, file_id = 0;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", p->dir, name) >= sizeof(path))
		return 0;
	if (lstat(path, &st) != 0 || S_ISDIR(st.st_mode) || !S_ISREG(st.st_mode))
		return 0; /* done/, failed/, other folders, links: not inbox files */
	if ((wait = nightly__waiting(name, st.st_mtime, p->opts->now ? p->opts->now : time(NULL),
				     p->opts->settle_seconds < 0 ? 60 : p->opts->settle_seconds))) {
		p->group->files_waiting++;
		tell(p, path, "waiting", NULL, NULL, wait, NULL);
		return 0;
	}
	/* The org's run is recorded once there is a file to take. */
	if (!p->run) {
		if ((rc = ingest_run_open(&p->run, p->s, err, p->io, "inbox")) != 0)
			return rc;
		p->group->run_id = ingest_run_id(p->run);
		if ((rc = set_parent(p->s, err, p->group->run_id, p->parent_id)) != 0)
			return rc;
	}
	if (file_sha256(sha, &size, path) == 0 &&
	    (rc = find_original(p->s, err, p->org_id, sha, &file_id)) != 0)
		return rc;
	if (file_id) {
		struct stored_file orig;
		if ((rc = stored_get(p->s, err, file_id, &orig)) != 0)
			return rc;
		snprintf(why, sizeof(why), "the same content as %s, read on %s (run %lld)", orig.path,
			 orig.finished_at ? orig.finished_at : "?", (long long)orig.run_id);
		snprintf(dup_of, sizeof(dup_of), "%s", orig.path);
		stored_free(&orig);
		if ((rc = ingest_run_duplicate(p->run, err, path, sha, size, why)) != 0)
			return rc;
		return settle_file(p, err, path, name, file_id, dup_of);
	}
	if ((rc = ingest_run_path(p->run, err, path)) != 0 ||
	    (rc = last_file(p->s, err, ingest_run_id(p->run), &file_id)) != 0)
		return rc;
	return settle_file(p, err, path, name, file_id, NULL);
}

static struct nightly_group *new_group(struct nightly_report *r, const char *kind, const char *name,
				       const char *org)
{
	struct nightly_group *g = realloc(r->groups, (r->n_groups + 1) * sizeof(*g));

	if (!g)
		return NULL;
	r->groups = g;
	g = &r->groups[r->n_groups++];
	memset(g, 0, sizeof(*g));
	snprintf(g->kind, sizeof(g->kind), "%s", kind);
	snprintf(g->name, sizeof(g->name), "%s", name);
	snprintf(g->org, sizeof(g->org), "%s", org);
	return g;
}

/* One org folder of the inbox as one run of kind "inbox". Store failures: < 0. */
static int take_org(struct store *s, struct lr_error *err, const struct nightly_options *opts,
		    struct nightly_report *report, struct nightly_group *g, const char *org,
		    const char *dir)
{
	struct ingest_options io;
	struct org_pass p;
	struct dirent **names = NULL;
	struct tm tm;
	time_t now = opts->now ? opts->now : time(NULL);
	int n, i, rc = 0, step;

	memset(&io, 0, sizeof(io));
	memset(&p, 0, sizeof(p));
	io.org = org;
	io.whole_file = 1;
	p.s = s;
	p.opts = opts;
	p.group = g;
	p.org = org;
	p.dir = dir;
	gmtime_r(&now, &tm);
	strftime(p.date, sizeof(p.date), "%Y-%m-%d", &tm);

	step = store_org_id(s, err, org, &p.org_id);
	if (step == LR_ENOTFOUND) {
		lr_error_clear(err);
		snprintf(g->error, sizeof(g->error),
			 "the inbox folder %.400s is not named after a known org: add the org "
			 "('lrhub org add %s') or rename the folder; its files were left where they are",
			 dir, org);
		return 0;
	}
	if (step != 0)
		return step;
	n = scandir(dir, &names, NULL, name_order);
	if (n < 0) {
		snprintf(g->error, sizeof(g->error), "cannot read the inbox folder %.600s: %s", dir,
			 strerror(errno));
		return 0;
	}
	p.io = &io;
	p.parent_id = report->run_id;
	for (i = 0; i < n && rc == 0; i++) {
		const char *name = names[i]->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		rc = take_file(&p, err, name);
		if (rc != 0 && rc != LR_EDB && rc != LR_EBUSY && rc != LR_ENOMEM) {
			/* Not the store's fault (a move, a report): say so, go on with the rest. */
			char line[1024], path[4400];
			lr_error_format(err, line, sizeof(line));
			snprintf(path, sizeof(path), "%s/%s", dir, name);
			tell(&p, path, "failed", NULL, NULL, line, NULL);
			if (!g->error[0])
				snprintf(g->error, sizeof(g->error), "%.1000s", line);
			lr_error_clear(err);
			rc = 0;
		}
	}
	if (p.run) {
		struct lr_error close_err;
		lr_error_clear(&close_err);
		if (ingest_run_close(p.run, rc ? &close_err : err, rc != 0, NULL) != 0 && rc == 0)
			rc = err->code;
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* ---- the pulls ---- */

struct source_list {
	char (*names)[PULL_NAME_MAX];
	char (*orgs)[PULL_NAME_MAX];
	size_t n;
	int failed;
};

static int collect_source(void *ctx, const struct pull_source_info *src)
{
	struct source_list *l = ctx;
	void *a = realloc(l->names, (l->n + 1) * sizeof(*l->names));
	void *b;

	if (!a) {
		l->failed = 1;
		return 1;
	}
	l->names = a;
	b = realloc(l->orgs, (l->n + 1) * sizeof(*l->orgs));
	if (!b) {
		l->failed = 1;
		return 1;
	}
	l->orgs = b;
	snprintf(l->names[l->n], PULL_NAME_MAX, "%s", src->name);
	snprintf(l->orgs[l->n], PULL_NAME_MAX, "%s", src->org);
	l->n++;
	return 0;
}

static int pull_all(struct store *s, struct lr_error *err, const struct nightly_options *opts,
		    struct nightly_report *report)
{
	struct source_list l = { 0 };
	struct pull_options none;
	size_t i;
	int rc;

	memset(&none, 0, sizeof(none));
	if ((rc = pull_source_each(s, err, collect_source, &l)) != 0 && rc < 0)
		goto out;
	rc = 0;
	if (l.failed) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory");
		goto out;
	}
	if (l.n > 0 && pull_global_init() != 0) {
		rc = lr_error_set(err, LR_ENOMEM, "cannot initialise libcurl");
		goto out;
	}
	for (i = 0; i < l.n && rc == 0; i++) {
		struct nightly_group *g = new_group(report, "pull", l.names[i], l.orgs[i]);
		struct pull_report pr;
		struct lr_error perr;

		if (!g) {
			rc = lr_error_set(err, LR_ENOMEM, "out of memory");
			break;
		}
		lr_error_clear(&perr);
		memset(&pr, 0, sizeof(pr));
		if (pull_source(s, &perr, l.names[i], opts->pull_opts ? opts->pull_opts : &none, &pr) != 0) {
			if (perr.code == LR_EDB || perr.code == LR_ENOMEM) {
				*err = perr;
				rc = perr.code;
			}
			lr_error_format(&perr, g->error, sizeof(g->error));
		}
		g->run_id = pr.run_id;
		g->pages = pr.pages;
		g->counts = pr.counts;
		if (pr.run_id > 0 && rc == 0)
			rc = set_parent(s, err, pr.run_id, report->run_id);
		if (opts->on_group)
			opts->on_group(opts->ctx, g);
	}
out:
	free(l.names);
	free(l.orgs);
	return rc;
}

/* ---- the run ---- */

static void sum_groups(struct nightly_report *r)
{
	struct nightly_group *t = &r->total;
	size_t i;

	memset(t, 0, sizeof(*t));
	snprintf(t->kind, sizeof(t->kind), "total");
	snprintf(t->name, sizeof(t->name), "total");
	r->needs_attention = 0;
	for (i = 0; i < r->n_groups; i++) {
		const struct nightly_group *g = &r->groups[i];
		t->files += g->files;
		t->files_rejects += g->files_rejects;
		t->files_duplicate += g->files_duplicate;
		t->files_failed += g->files_failed;
		t->files_waiting += g->files_waiting;
		t->pages += g->pages;
		t->counts.accepted += g->counts.accepted;
		t->counts.duplicates += g->counts.duplicates;
		t->counts.conflicts += g->counts.conflicts;
		t->counts.rejected += g->counts.rejected;
		if (g->error[0])
			r->needs_attention = 1;
	}
	if (t->files_failed || t->counts.rejected || t->counts.conflicts)
		r->needs_attention = 1;
}

static int not_hidden(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

int nightly_run(struct store *s, struct lr_error *err, const struct nightly_options *opts,
		struct nightly_report *report)
{
	struct dirent **names = NULL;
	int n = -1, i, rc;

	memset(report, 0, sizeof(*report));
	n = scandir(opts->inbox, &names, not_hidden, name_order);
	if (n < 0)
		return lr_error_set(err, LR_EIO, "cannot read the inbox folder %s: %s", opts->inbox,
				    strerror(errno));
	if ((rc = store_run_begin(s, err, "nightly", 0, &report->run_id)) != 0)
		goto out;
	for (i = 0; i < n && rc == 0; i++) {
		char dir[4096];
		struct stat st;
		struct nightly_group *g;

		if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", opts->inbox, names[i]->d_name) >=
			    sizeof(dir) ||
		    stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
			continue; /* only DIR/<org>/ folders hold files */
		if (!(g = new_group(report, "inbox", names[i]->d_name, names[i]->d_name))) {
			rc = lr_error_set(err, LR_ENOMEM, "out of memory");
			break;
		}
		rc = take_org(s, err, opts, report, g, names[i]->d_name, dir);
		if (opts->on_group)
			opts->on_group(opts->ctx, g);
	}
	if (rc == 0 && opts->pull)
		rc = pull_all(s, err, opts, report);
	/* Keep the person tables in step, also when an earlier, killed run stored the statements. */
	if (rc == 0)
		rc = identity_refresh(err, s);
	sum_groups(report);
	{
		struct lr_error end_err;
		const char *status = rc ? "failed" : report->needs_attention ? "done with errors" : "done";
		lr_error_clear(&end_err);
		if (store_run_end(s, rc ? &end_err : err, report->run_id, status, &report->total.counts,
				  report->total.files) != 0 && rc == 0)
			rc = err->code;
	}
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

void nightly_report_free(struct nightly_report *report)
{
	if (!report)
		return;
	free(report->groups);
	report->groups = NULL;
	report->n_groups = 0;
}

/* ---- reading runs back ---- */

int nightly_run_each(struct store *s, struct lr_error *err, int64_t run_id,
		     int (*fn)(void *ctx, const struct store_run *run), void *ctx)
{
	sqlite3_stmt *q = NULL;
	int rc, step;

	if ((rc = prepare(s, err, &q,
			  "SELECT r.id, r.kind, o.code, r.started_at, r.finished_at, r.status, r.files,"
			  " r.accepted, r.duplicates, r.conflicts, r.rejected"
			  " FROM run r LEFT JOIN org o ON o.id = r.org_id"
			  " WHERE r.id = ?1 OR r.parent_id = ?1 ORDER BY r.id")) != 0)
		return rc;
	sqlite3_bind_int64(q, 1, run_id);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct store_run r = {
			.id = sqlite3_column_int64(q, 0),
			.kind = col(q, 1),
			.org = col(q, 2),
			.started_at = col(q, 3),
			.finished_at = col(q, 4),
			.status = col(q, 5),
			.files = sqlite3_column_int(q, 6),
			.counts = {
				.accepted = sqlite3_column_int(q, 7),
				.duplicates = sqlite3_column_int(q, 8),
				.conflicts = sqlite3_column_int(q, 9),
				.rejected = sqlite3_column_int(q, 10),
			},
		};
		if ((rc = fn(ctx, &r)) != 0)
			break;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = store__db_error(store__db(s), err, "reading runs");
	sqlite3_finalize(q);
	return rc;
}

int nightly_file_each(struct store *s, struct lr_error *err, int64_t run_id,
		      int (*fn)(void *ctx, const struct nightly_file_row *file), void *ctx)
{
	sqlite3_stmt *q = NULL;
	int rc, step;

	if ((rc = prepare(s, err, &q,
			  "SELECT f.run_id, f.id, o.code, f.path, f.sha256, f.format, f.status, f.error,"
			  " f.accepted, f.duplicates, f.conflicts, f.rejected"
			  " FROM file f JOIN run r ON r.id = f.run_id LEFT JOIN org o ON o.id = r.org_id"
			  " WHERE r.id = ?1 OR r.parent_id = ?1 ORDER BY f.id")) != 0)
		return rc;
	sqlite3_bind_int64(q, 1, run_id);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct nightly_file_row f = {
			.run_id = sqlite3_column_int64(q, 0),
			.file_id = sqlite3_column_int64(q, 1),
			.org = col(q, 2),
			.path = col(q, 3),
			.sha256 = col(q, 4),
			.format = col(q, 5),
			.status = col(q, 6),
			.error = col(q, 7),
			.counts = {
				.accepted = sqlite3_column_int(q, 8),
				.duplicates = sqlite3_column_int(q, 9),
				.conflicts = sqlite3_column_int(q, 10),
				.rejected = sqlite3_column_int(q, 11),
			},
		};
		if ((rc = fn(ctx, &f)) != 0)
			break;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = store__db_error(store__db(s), err, "reading files");
	sqlite3_finalize(q);
	return rc;
}
