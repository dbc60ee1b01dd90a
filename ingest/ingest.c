/*
 * ingest.c: the ingest pipeline (see ingest.h).
 */
#include "ingest/ingest.h"
#include "adapters/adapter.h"
#include "adapters/xapi.h"
#include "lrs/error.h"
#include "lrs/hash.h"
#include "lrs/store.h"
#include "lrs/xapi.h"

#include <jansson.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEAD_MAX 8192
#define PROGRESS_EVERY (1L << 24) /* bytes between progress calls */

/* A file being read: hashes and counts every byte the adapter reads. */
struct reader {
	FILE *fp;
	struct hash_sha256_ctx *sha;
	int64_t done, total, next_progress;
	const struct ingest_options *opts;
	const char *path;
	long *records;
	int failed;                 /* errno of a read error, 0 if none */
	const char *head;           /* the bytes read to detect the format, served first */
	size_t head_len, head_pos;  /* (so that pipes, which cannot rewind, can be read) */
	int piped;                  /* read from the adapter's thread: done is atomic, no progress calls */
};

static ssize_t reader_read(void *ctx, void *buf, size_t len)
{
	struct reader *r = ctx;
	size_t n;

	if (r->head_pos < r->head_len) {
		n = r->head_len - r->head_pos < len ? r->head_len - r->head_pos : len;
		memcpy(buf, r->head + r->head_pos, n);
		r->head_pos += n;
	} else {
		n = fread(buf, 1, len, r->fp);
	}

	if (n == 0 && ferror(r->fp)) {
		r->failed = errno ? errno : EIO;
		return -1;
	}
	hash_sha256_update(r->sha, buf, n);
	__atomic_store_n(&r->done, r->done + (int64_t)n, __ATOMIC_RELAXED);
	if (!r->piped && r->opts->on_progress && r->done >= r->next_progress) {
		r->next_progress = r->done + PROGRESS_EVERY;
		r->opts->on_progress(r->opts->ctx, r->path, r->done, r->total, *r->records);
	}
	return (ssize_t)n;
}

struct run_state {
	struct store *s;
	const struct ingest_options *opts;
	int64_t org_id;
	int64_t run_id;
	const char *timezone;
	const char *lms_url;
	struct ingest_report *report;
	long batch;
	const char *open_path;      /* ingest_run_file_as: read this file, record path as its name */
};

static void reject(struct run_state *rs, struct ingest_file_result *fr, int64_t file_id,
		   const char *kind, struct lr_error *rej, const char *raw, size_t raw_len,
		   struct lr_error *err)
{
	struct lr_error ignored;

	lr_error_where(rej, fr->path, rej->line, rej->record);
	if (strcmp(kind, "conflict") == 0)
		fr->counts.conflicts++;
	else
		fr->counts.rejected++;
	lr_error_clear(&ignored);
	store_reject_add(rs->s, err ? err : &ignored, rs->run_id, file_id, kind, rej, raw, raw_len);
	if (rs->opts->on_reject)
		rs->opts->on_reject(rs->opts->ctx, kind, rej);
}

/* 1 if head starts with a UTF-16/32 byte order mark, or has the NULs of UTF-16/32 text. */
static int utf16_or_32(const char *head, size_t len)
{
	const unsigned char *h = (const unsigned char *)head;
	size_t i, nuls = 0, n = len < 64 ? len : 64;

	if (len >= 2 && ((h[0] == 0xFF && h[1] == 0xFE) || (h[0] == 0xFE && h[1] == 0xFF)))
		return 1;
	if (len >= 4 && h[0] == 0 && h[1] == 0 && h[2] == 0xFE && h[3] == 0xFF)
		return 1;
	for (i = 0; i < n; i++)
		nuls += h[i] == 0;
	return n >= 8 && nuls * 4 >= n;
}

static void add_counts(struct store_counts *to, const struct store_counts *from)
{
	to->accepted += from->accepted;
	to->duplicates += from->duplicates;
	to->conflicts += from->conflicts;
	to->rejected += from->rejected;
}

/* Sets fr's error from e: the whole line in why (for the store), the parts for the caller. */
static void located_error(struct ingest_file_result *fr, struct lr_error *e, char *why,
			  size_t why_size, char *reason, size_t reason_size)
{
	e->source[0] = '\0';
	lr_error_format(e, why, why_size);
	snprintf(reason, reason_size, "%s%s%s", e->field, e->field[0] ? ": " : "",
		 e->text[0] ? e->text : lr_strerror(e->code));
	fr->error = why;
	fr->error_line = e->line;
	fr->error_record = e->record;
	fr->reason = reason;
}

/* adapter_xapi_known_fn over a read connection (store_raw_known). */
static int raw_known(void *ctx, const char *id, const char *raw, size_t raw_len)
{
	struct lr_error ignored;

	lr_error_clear(&ignored);
	return store_raw_known(ctx, &ignored, id, raw, raw_len);
}

/* Reads one file's records into the store. Store failures return < 0. */
static int ingest_file(struct run_state *rs, struct lr_error *err, const char *path)
{
	struct ingest_file_result fr;
	struct reader rd;
	struct adapter_input in;
	const struct adapter *ad = NULL;
	struct store_source src;
	struct lr_error ferr;
	unsigned char digest[HASH_SHA256_LEN];
	char head[HEAD_MAX];
	char why[LR_ERROR_TEXT_MAX + LR_ERROR_SOURCE_MAX + 64];
	char reason[LR_ERROR_TEXT_MAX + LR_ERROR_FIELD_MAX + 4];
	void *state = NULL;
	int64_t file_id = 0;
	long records = 0, in_batch = 0;
	size_t head_len;
	struct stat st;
	int rc = 0, step, in_tx = 0;
	struct store *reader = NULL;

	memset(&fr, 0, sizeof(fr));
	memset(&rd, 0, sizeof(rd));
	lr_error_clear(&ferr);
	fr.path = path;
	fr.status = "failed";
	rd.opts = rs->opts;
	rd.path = path;
	rd.records = &records;
	rs->report->files++;

	rd.fp = rs->open_path ? fopen(rs->open_path, "rb")
		: strcmp(path, "-") == 0 ? fdopen(dup(STDIN_FILENO), "rb") : fopen(path, "rb");
	if (!rd.fp || fstat(fileno(rd.fp), &st) != 0) {
		snprintf(why, sizeof(why), "cannot read the file: %s", strerror(errno));
		fr.error = why;
		goto record_failed;
	}
	if (S_ISDIR(st.st_mode)) {
		fr.error = "is a folder";
		goto record_failed;
	}
	fr.size = rd.total = st.st_size;
	head_len = fread(head, 1, sizeof(head), rd.fp);
	if (ferror(rd.fp)) {
		snprintf(why, sizeof(why), "cannot read the file: %s", strerror(errno));
		fr.error = why;
		goto record_failed;
	}
	if (utf16_or_32(head, head_len)) {
		fr.error = "the file is UTF-16 or UTF-32 encoded: save it as UTF-8 and send it again";
		goto record_failed;
	}
	if (rs->opts->format) {
		ad = adapter_find(rs->opts->format);
	} else if (head_len == 0) {
		fr.error = "the file is empty";
		goto record_failed;
	} else {
		ad = adapter_detect(head, head_len, NULL);
	}
	if (!ad) {
		fr.error = "not a format lrhub reads (see 'lrhub formats'); use --format to force one";
		goto record_failed;
	}
	fr.format = ad->name;
	rd.head = head;
	rd.head_len = head_len;
	rd.sha = hash_sha256_new();
	if (!rd.sha) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = store_file_begin(rs->s, err, rs->run_id, path, NULL, fr.size, ad->name, &file_id)) != 0)
		goto out;

	in.read = reader_read;
	in.ctx = &rd;
	in.name = path;
	in.org = rs->opts->org;
	in.course = rs->opts->course;
	in.timezone = rs->timezone;
	in.lms_url = rs->lms_url;
	if (ad->open(&state, &ferr, &in) != 0) {
		located_error(&fr, &ferr, why, sizeof(why), reason, sizeof(reason));
		goto finish;
	}
	src.org_id = rs->org_id;
	src.org_code = rs->opts->org;
	src.run_id = rs->run_id;
	src.file_id = file_id;
	src.xapi_flags = XAPI_ACCEPT_ANY;
	src.course_key = src.part_key = NULL;
	if (ad == &adapter_xapi) {
		/*
		 * Parse ahead in the adapter's thread while this one stores; its own
		 * read connection recognises records stored already before parsing.
		 */
		if (store_open_reader(&reader, &ferr, rs->s) != 0) {
			reader = NULL;
			lr_error_clear(&ferr);
		}
		rd.piped = 1;
		if (adapter_xapi_pipeline(state, reader ? raw_known : NULL, reader) != 0)
			rd.piped = 0;
	}

	for (;;) {
		struct adapter_item item;
		struct lr_error rej;

		if (!in_tx && !rs->opts->whole_file) {
			if ((rc = store_begin(rs->s, err)) != 0)
				goto out;
			in_tx = 1;
		}
		lr_error_clear(&rej);
		step = ad->next(state, &item, &rej);
		if (rd.piped && rs->opts->on_progress &&
		    __atomic_load_n(&rd.done, __ATOMIC_RELAXED) >= rd.next_progress) {
			int64_t done = __atomic_load_n(&rd.done, __ATOMIC_RELAXED);
			rd.next_progress = done + PROGRESS_EVERY;
			rs->opts->on_progress(rs->opts->ctx, path, done, rd.total, records);
		}
		if (step == 0)
			break;
		if (step == LR_EINVAL) {
			records++;
			reject(rs, &fr, file_id, "invalid", &rej, item.raw, item.raw_len, NULL);
			continue;
		}
		if (step == LR_ENOMEM) {
			/*
			 * Not the file's fault: the batch in hand is rolled back and the
			 * run fails, so an ingest again later stores the whole file.
			 */
			lr_error_set(&rej, LR_ENOMEM, "out of memory");
			*err = rej;
			lr_error_where(err, path, rej.line, rej.record);
			rc = step;
			goto out;
		}
		if (step < 0) {
			/* The rest of the file cannot be read: keep what went in, say why. */
			if (rd.failed)
				snprintf(rej.text, sizeof(rej.text), "read error: %s", strerror(rd.failed));
			located_error(&fr, &rej, why, sizeof(why), reason, sizeof(reason));
			break;
		}
		records++;
		if (item.kind == ADAPTER_IDENTITY) {
			int added, linked;
			linked = store_identity_link(rs->s, &rej, rs->org_id, item.key, item.email, path,
						     &added);
			if (linked != 0 && linked != LR_EINVAL) {
				/* The store failed (not the record): as for a statement, the run stops. */
				*err = rej;
				lr_error_where(err, path, item.line, item.record);
				rc = linked;
				goto out;
			}
			if (linked != 0) {
				lr_error_where(&rej, NULL, item.line, item.record);
				reject(rs, &fr, file_id, "invalid", &rej, item.raw, item.raw_len, NULL);
			}
			continue;
		}
		if (item.kind == ADAPTER_DUPLICATE) {
			fr.counts.duplicates++;
		} else {
			enum store_outcome outcome;
			int put;

			src.course_key = item.course_key;
			src.part_key = item.part_key;
			/* An xAPI record's bytes are the statement's: stored as read, not serialised again. */
			if (ad == &adapter_xapi) {
				/* Checked in the parser thread already, if item.checked. */
				struct store_prepared prep = {
					.digest = item.digest,
					.raw_sha = item.raw_sha,
					.facts = &item.facts,
					.compact = item.compact,
					.compact_len = item.compact_len,
				};
				src.xapi_flags = XAPI_ACCEPT_ANY | (item.checked ? XAPI_VALIDATED : 0);
				put = store_put_statement_raw(rs->s, &rej, item.statement, item.raw,
							      item.raw_len, &src,
							      item.checked ? &prep : NULL, &outcome);
			} else {
				put = store_put_statement(rs->s, &rej, item.statement, &src, &outcome);
			}
			json_decref(item.statement);
			if (put == 0) {
				if (outcome == STORE_NEW)
					fr.counts.accepted++;
				else
					fr.counts.duplicates++;
			} else if (put == LR_EINVAL || put == LR_ECONFLICT) {
				lr_error_where(&rej, NULL, item.line, item.record);
				reject(rs, &fr, file_id, put == LR_ECONFLICT ? "conflict" : "invalid", &rej,
				       item.raw, item.raw_len, NULL);
			} else {
				*err = rej;
				lr_error_where(err, path, item.line, item.record);
				rc = put;
				goto out;
			}
		}
		if (in_tx && ++in_batch >= rs->batch) {
			if ((rc = store_commit(rs->s, err)) != 0)
				goto out;
			in_tx = 0;
			in_batch = 0;
		}
	}
	if (in_tx) {
		if ((rc = store_commit(rs->s, err)) != 0)
			goto out;
		in_tx = 0;
	}
	fr.status = !fr.error ? "done" : records > 0 ? "partial" : "failed";

finish:
	if (rd.sha && !rd.failed) {
		/* Hash what the adapter left unread, so the digest is the whole file's. */
		char buf[65536];
		size_t n;
		if (rd.head_pos < rd.head_len)
			hash_sha256_update(rd.sha, rd.head + rd.head_pos, rd.head_len - rd.head_pos);
		while ((n = fread(buf, 1, sizeof(buf), rd.fp)) > 0)
			hash_sha256_update(rd.sha, buf, n);
		hash_sha256_final(rd.sha, digest);
		hash_hex(fr.sha256, digest, sizeof(digest));
	}
	if (fr.error && !fr.format)
		fr.status = "failed";
	if ((rc = store_file_end(rs->s, err, file_id, fr.status, fr.sha256[0] ? fr.sha256 : NULL,
				 fr.size, &fr.counts, fr.error)) != 0)
		goto out;
	goto report;

record_failed:
	/* Not read at all: record the file and why, then go on with the next. */
	if ((rc = store_file_begin(rs->s, err, rs->run_id, path, NULL, fr.size, NULL, &file_id)) != 0 ||
	    (rc = store_file_end(rs->s, err, file_id, "failed", NULL, fr.size, &fr.counts, fr.error)) != 0)
		goto out;
report:
	if (strcmp(fr.status, "failed") == 0)
		rs->report->files_failed++;
	else if (strcmp(fr.status, "partial") == 0)
		rs->report->files_partial++;
	add_counts(&rs->report->counts, &fr.counts);
	if (rs->opts->on_progress && fr.format)
		rs->opts->on_progress(rs->opts->ctx, path, rd.done, rd.total, records);
	if (rs->opts->on_file)
		rs->opts->on_file(rs->opts->ctx, &fr);
out:
	if (in_tx)
		store_rollback(rs->s);
	if (ad && state)
		ad->close(state); /* stops the adapter's thread before its reader goes */
	store_close(reader);
	hash_sha256_free(rd.sha);
	if (rd.fp)
		fclose(rd.fp);
	return rc;
}

static int name_order(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int not_hidden(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static int ingest_path(struct run_state *rs, struct lr_error *err, const char *path, int depth)
{
	struct dirent **names = NULL;
	struct stat st;
	int n, i, rc = 0;

	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return ingest_file(rs, err, path);
	if (depth > 16)
		return 0;
	n = scandir(path, &names, not_hidden, name_order);
	if (n < 0)
		return ingest_file(rs, err, path); /* records why it cannot be read */
	for (i = 0; i < n; i++) {
		char *child = NULL;
		if (rc == 0) {
			if (asprintf(&child, "%s%s%s", path,
				     path[strlen(path) - 1] == '/' ? "" : "/", names[i]->d_name) < 0)
				rc = lr_error_set(err, LR_ENOMEM, "out of memory");
			else
				rc = ingest_path(rs, err, child, depth + 1);
		}
		free(child);
		free(names[i]);
	}
	free(names);
	return rc;
}

struct org_lookup {
	const char *code;
	char *timezone;
	char *lms_url;
};

static int find_tz(void *ctx, const struct store_org *org)
{
	struct org_lookup *l = ctx;

	if (strcmp(org->code, l->code) != 0)
		return 0;
	/* Without its time zone an org's local times would be read as UTC: no memory, no run. */
	if ((org->timezone && !(l->timezone = strdup(org->timezone))) ||
	    (org->lms_url && !(l->lms_url = strdup(org->lms_url))))
		return LR_ENOMEM;
	return 1;
}

/* A run driven from outside, file by file (ingest_paths, lrhub nightly). */
/*
 * An ingest's page cache, KiB. At a million statements the random-key
 * indexes (statement ids, agents) outgrow any cache, and each page missed
 * is read back and written again: 24 MiB instead of the store's 16 took
 * 1,000,000 statements from 57.3 to 62.4 s to 53.7 to 57.7 s. The person
 * refresh after an ingest gives the cache back before its own peak
 * (identity_refresh), and that peak stays the process's: sampled, the
 * ingest itself stayed under 52 MB. (32 MiB was faster still, 51.6 to
 * 53.7 s, but took the ingest to 60 MB, above the refresh.)
 */
#define INGEST_CACHE_KIB 24576

struct ingest_run {
	struct run_state rs;
	struct org_lookup tz;
	struct ingest_report report;
	int cache_kib;               /* the store's page cache before the run */
};

int ingest_run_open(struct ingest_run **out, struct store *s, struct lr_error *err,
		    const struct ingest_options *opts, const char *kind)
{
	struct ingest_run *run;
	int rc;

	*out = NULL;
	if (opts->format && !adapter_find(opts->format))
		return lr_error_set(err, LR_EINVAL, "unknown format '%s' (see 'lrhub formats')",
				    opts->format);
	if (!(run = calloc(1, sizeof(*run))))
		return lr_error_set(err, LR_ENOMEM, "out of memory");
	run->rs.s = s;
	run->rs.opts = opts;
	run->rs.report = &run->report;
	run->rs.batch = opts->batch > 0 ? opts->batch : 20000;
	run->tz.code = opts->org;
	if ((rc = store_org_id(s, err, opts->org, &run->rs.org_id)) != 0)
		goto fail;
	if ((rc = store_org_each(s, err, find_tz, &run->tz)) != 0) {
		lr_error_set(err, rc, "out of memory");
		goto fail;
	}
	run->rs.timezone = run->tz.timezone;
	run->rs.lms_url = run->tz.lms_url;
	if ((rc = store_run_begin(s, err, kind, run->rs.org_id, &run->rs.run_id)) != 0)
		goto fail;
	run->report.run_id = run->rs.run_id;
	run->cache_kib = store_cache_kib(s, INGEST_CACHE_KIB);
	/*
	 * Checkpoints in a thread of their own from now on (see
	 * store_checkpoint_in_background); without one, the store
	 * checkpoints as before, so a failure to start it is no failure.
	 */
	{
		struct lr_error ignored;
		lr_error_clear(&ignored);
		store_checkpoint_in_background(s, &ignored);
	}
	*out = run;
	return 0;
fail:
	free(run->tz.timezone);
	free(run->tz.lms_url);
	free(run);
	return rc;
}

int64_t ingest_run_id(const struct ingest_run *run)
{
	return run->rs.run_id;
}

int ingest_run_path(struct ingest_run *run, struct lr_error *err, const char *path)
{
	int rc;

	if (!run->rs.opts->whole_file)
		return ingest_path(&run->rs, err, path, 0);
	if ((rc = store_begin(run->rs.s, err)) != 0)
		return rc;
	rc = ingest_file(&run->rs, err, path);
	if (rc == 0)
		rc = store_commit(run->rs.s, err);
	if (rc != 0)
		store_rollback(run->rs.s);
	return rc;
}

int ingest_run_file_as(struct ingest_run *run, struct lr_error *err, const char *open_path,
		       const char *name)
{
	int rc;

	run->rs.open_path = open_path;
	if (!run->rs.opts->whole_file) {
		rc = ingest_file(&run->rs, err, name);
	} else if ((rc = store_begin(run->rs.s, err)) == 0) {
		rc = ingest_file(&run->rs, err, name);
		if (rc == 0)
			rc = store_commit(run->rs.s, err);
		if (rc != 0)
			store_rollback(run->rs.s);
	}
	run->rs.open_path = NULL;
	return rc;
}

int ingest_run_duplicate(struct ingest_run *run, struct lr_error *err, const char *path,
			 const char *sha256_hex, int64_t size, const char *why)
{
	struct store_counts none = { 0 };
	int64_t file_id = 0;
	int rc;

	if ((rc = store_begin(run->rs.s, err)) != 0)
		return rc;
	if ((rc = store_file_begin(run->rs.s, err, run->rs.run_id, path, sha256_hex, size, NULL,
				   &file_id)) == 0 &&
	    (rc = store_file_end(run->rs.s, err, file_id, "duplicate", sha256_hex, size, &none,
				 why)) == 0)
		rc = store_commit(run->rs.s, err);
	if (rc != 0) {
		store_rollback(run->rs.s);
		return rc;
	}
	run->report.files++;
	run->report.files_duplicate++;
	return 0;
}

int ingest_run_close(struct ingest_run *run, struct lr_error *err, int failed,
		     struct ingest_report *report)
{
	struct ingest_report *r;
	struct lr_error end_err;
	const char *status;
	int rc = 0;

	if (!run)
		return 0;
	r = &run->report;
	status = failed ? "failed"
		 : (r->files_failed || r->files_partial || r->counts.rejected || r->counts.conflicts)
			   ? "done with errors" : "done";
	lr_error_clear(&end_err);
	if (store_run_end(run->rs.s, failed ? &end_err : err, run->rs.run_id, status, &r->counts,
			  r->files) != 0 && !failed)
		rc = err->code;
	if (report)
		*report = *r;
	store_cache_kib(run->rs.s, run->cache_kib);
	free(run->tz.timezone);
	free(run->tz.lms_url);
	free(run);
	return rc;
}

int ingest_paths(struct store *s, struct lr_error *err, const struct ingest_options *opts,
		 const char *const *paths, size_t n_paths, struct ingest_report *report)
{
	struct ingest_run *run = NULL;
	size_t i;
	int rc;

	memset(report, 0, sizeof(*report));
	if ((rc = ingest_run_open(&run, s, err, opts, "ingest")) != 0)
		return rc;
	report->run_id = run->rs.run_id;
	for (i = 0; i < n_paths && rc == 0; i++)
		rc = ingest_run_path(run, err, paths[i]);
	if (ingest_run_close(run, err, rc != 0, report) != 0 && rc == 0)
		rc = err->code;
	return rc;
}
