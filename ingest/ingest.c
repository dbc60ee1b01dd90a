/*
 * ingest.c: the ingest pipeline (see ingest.h).
 */
#include "ingest/ingest.h"
#include "adapters/adapter.h"
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
};

static ssize_t reader_read(void *ctx, void *buf, size_t len)
{
	struct reader *r = ctx;
	size_t n = fread(buf, 1, len, r->fp);

	if (n == 0 && ferror(r->fp)) {
		r->failed = errno ? errno : EIO;
		return -1;
	}
	hash_sha256_update(r->sha, buf, n);
	r->done += (int64_t)n;
	if (r->opts->on_progress && r->done >= r->next_progress) {
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

	memset(&fr, 0, sizeof(fr));
	memset(&rd, 0, sizeof(rd));
	lr_error_clear(&ferr);
	fr.path = path;
	fr.status = "failed";
	rd.opts = rs->opts;
	rd.path = path;
	rd.records = &records;
	rs->report->files++;

	rd.fp = fopen(path, "rb");
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
	if (fseek(rd.fp, 0, SEEK_SET) != 0) {
		snprintf(why, sizeof(why), "cannot rewind the file: %s", strerror(errno));
		fr.error = why;
		goto record_failed;
	}
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

	for (;;) {
		struct adapter_item item;
		struct lr_error rej;

		if (!in_tx) {
			if ((rc = store_begin(rs->s, err)) != 0)
				goto out;
			in_tx = 1;
		}
		lr_error_clear(&rej);
		step = ad->next(state, &item, &rej);
		if (step == 0)
			break;
		if (step == LR_EINVAL) {
			records++;
			reject(rs, &fr, file_id, "invalid", &rej, item.raw, item.raw_len, NULL);
			continue;
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
			int added;
			if (store_identity_link(rs->s, &rej, rs->org_id, item.key, item.email, path,
						&added) != 0) {
				lr_error_where(&rej, NULL, item.line, item.record);
				reject(rs, &fr, file_id, "invalid", &rej, item.raw, item.raw_len, NULL);
			}
			continue;
		}
		{
			enum store_outcome outcome;
			int put;

			src.course_key = item.course_key;
			src.part_key = item.part_key;
			put = store_put_statement(rs->s, &rej, item.statement, &src, &outcome);
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
		if (++in_batch >= rs->batch) {
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
		ad->close(state);
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
	if (org->timezone)
		l->timezone = strdup(org->timezone);
	if (org->lms_url)
		l->lms_url = strdup(org->lms_url);
	return 1;
}

int ingest_paths(struct store *s, struct lr_error *err, const struct ingest_options *opts,
		 const char *const *paths, size_t n_paths, struct ingest_report *report)
{
	struct run_state rs;
	struct org_lookup tz = { opts->org, NULL, NULL };
	size_t i;
	int rc;

	memset(report, 0, sizeof(*report));
	memset(&rs, 0, sizeof(rs));
	rs.s = s;
	rs.opts = opts;
	rs.report = report;
	rs.batch = opts->batch > 0 ? opts->batch : 5000;
	if (opts->format && !adapter_find(opts->format))
		return lr_error_set(err, LR_EINVAL, "unknown format '%s' (see 'lrhub formats')",
				    opts->format);
	if ((rc = store_org_id(s, err, opts->org, &rs.org_id)) != 0)
		return rc;
	if ((rc = store_org_each(s, err, find_tz, &tz)) != 0)
		return rc;
	rs.timezone = tz.timezone;
	rs.lms_url = tz.lms_url;
	if ((rc = store_run_begin(s, err, "ingest", rs.org_id, &rs.run_id)) != 0)
		goto out;
	report->run_id = rs.run_id;
	for (i = 0; i < n_paths && rc == 0; i++)
		rc = ingest_path(&rs, err, paths[i], 0);
	{
		struct lr_error end_err;
		const char *status = rc != 0 ? "failed"
				     : (report->files_failed || report->files_partial ||
					report->counts.rejected || report->counts.conflicts)
					       ? "done with errors" : "done";
		lr_error_clear(&end_err);
		if (store_run_end(s, rc ? &end_err : err, rs.run_id, status, &report->counts,
				  report->files) != 0 && rc == 0)
			rc = err->code;
	}
out:
	free(tz.timezone);
	free(tz.lms_url);
	return rc;
}
