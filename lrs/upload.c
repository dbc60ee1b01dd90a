/*
 * upload.c: the web upload (see upload.h): multipart body to a spool file
 * in the store's folder, then the ingest pipeline, then the run report as
 * a page or JSON.
 */
#include "upload.h"
#include "credentials.h"
#include "error.h"
#include "hash.h"
#include "http.h"
#include "ingest/ingest.h"
#include "multipart.h"
#include "store.h"
#include "web.h"

#include <jansson.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define UPLOAD_FIELD_MAX 256
#define UPLOAD_MAX_PARTS 16
#define UPLOAD_MAX_REJECTS 1000

enum upload_field { FIELD_NONE, FIELD_FILE, FIELD_FORMAT, FIELD_COURSE, FIELD_ORG };

struct upload {
	struct multipart_parser *parser;
	char spool[4096];          /* the spool file's path, "" when none */
	int fd;
	size_t max_bytes, received, file_bytes;
	struct hash_sha256_ctx *sha;
	enum upload_field field;   /* the part being read */
	char *value;               /* where a text field's value goes */
	size_t value_len;
	int has_file;
	char filename[MULTIPART_NAME_MAX];
	char format[UPLOAD_FIELD_MAX];
	char course[UPLOAD_FIELD_MAX];
	char org[UPLOAD_FIELD_MAX];
	int has_org;
	int status;                /* the HTTP status of the error that stopped it, 0 if none */
	char message[512];
};

static int stop_with(struct upload *u, struct lr_error *err, int status, int code, const char *what)
{
	if (!u->status) {
		u->status = status;
		snprintf(u->message, sizeof(u->message), "%s", what);
	}
	return lr_error_set(err, code, "%s", what);
}

/* The last component of a browser's file name, without control characters. */
static void base_name(char *out, size_t size, const char *name)
{
	const char *slash = strrchr(name, '/'), *back = strrchr(name, '\\');
	const char *base = name;
	size_t n = 0;

	if (slash && slash + 1 > base)
		base = slash + 1;
	if (back && back + 1 > base)
		base = back + 1;
	for (; *base && n + 1 < size; base++)
		out[n++] = (unsigned char)*base < 0x20 || *base == 0x7f ? '_' : *base;
	out[n] = '\0';
	if (n == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
		snprintf(out, size, "upload");
}

static int on_part(void *ctx, struct lr_error *err, const struct multipart_part_info *part)
{
	struct upload *u = ctx;

	u->value = NULL;
	u->value_len = 0;
	u->field = FIELD_NONE;
	if (strcmp(part->name, "file") == 0) {
		if (u->has_file)
			return stop_with(u, err, 400, LR_EINVAL, "one file per upload: the form has two 'file' parts");
		if (!part->has_filename)
			return stop_with(u, err, 400, LR_EINVAL, "the 'file' part is not a file (no filename)");
		if (!part->filename[0])
			return stop_with(u, err, 400, LR_EINVAL, "no file was chosen");
		u->has_file = 1;
		base_name(u->filename, sizeof(u->filename), part->filename);
		u->field = FIELD_FILE;
	} else if (strcmp(part->name, "format") == 0) {
		u->field = FIELD_FORMAT;
		u->value = u->format;
	} else if (strcmp(part->name, "course") == 0) {
		u->field = FIELD_COURSE;
		u->value = u->course;
	} else if (strcmp(part->name, "org") == 0) {
		u->field = FIELD_ORG;
		u->value = u->org;
		u->has_org = 1;
	}
	if (u->value)
		u->value[0] = '\0';
	return 0;
}

static int on_data(void *ctx, struct lr_error *err, const char *data, size_t len)
{
	struct upload *u = ctx;

	if (u->field == FIELD_FILE) {
		size_t done = 0;
		while (done < len) {
			ssize_t n = write(u->fd, data + done, len - done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return stop_with(u, err, 500, LR_EIO, "cannot write the upload to the store's folder");
			done += (size_t)n;
		}
		hash_sha256_update(u->sha, data, len);
		u->file_bytes += len;
	} else if (u->value) {
		if (u->value_len + len >= UPLOAD_FIELD_MAX)
			return stop_with(u, err, 400, LR_ELIMIT, "a form field is longer than 255 bytes");
		memcpy(u->value + u->value_len, data, len);
		u->value_len += len;
		u->value[u->value_len] = '\0';
	}
	return 0;
}

static int on_part_end(void *ctx, struct lr_error *err)
{
	struct upload *u = ctx;

	(void)err;
	u->field = FIELD_NONE;
	u->value = NULL;
	return 0;
}

int upload_begin(struct upload **out, struct lr_error *err, const char *spool_dir,
		 const char *content_type, size_t max_bytes)
{
	static const struct multipart_callbacks cb = { on_part, on_data, on_part_end };
	char boundary[MULTIPART_BOUNDARY_MAX + 1];
	struct upload *u = NULL;
	int rc;

	*out = NULL;
	if ((rc = multipart_boundary(boundary, sizeof(boundary), err, content_type)) != 0)
		return rc;
	if (!(u = calloc(1, sizeof(*u))))
		return lr_error_set(err, LR_ENOMEM, "out of memory");
	u->fd = -1;
	u->max_bytes = max_bytes;
	if ((rc = multipart_new(&u->parser, err, boundary, UPLOAD_MAX_PARTS, &cb, u)) != 0)
		goto fail;
	if (!(u->sha = hash_sha256_new())) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory");
		goto fail;
	}
	if (mkdir(spool_dir, 0700) != 0 && errno != EEXIST) {
		rc = lr_error_set(err, LR_EIO, "cannot make the upload folder %s: %s", spool_dir,
				  strerror(errno));
		goto fail;
	}
	if ((size_t)snprintf(u->spool, sizeof(u->spool), "%s/upload-XXXXXX", spool_dir) >= sizeof(u->spool)) {
		u->spool[0] = '\0';
		rc = lr_error_set(err, LR_EIO, "the upload folder's path is too long");
		goto fail;
	}
	if ((u->fd = mkstemp(u->spool)) < 0) {
		rc = lr_error_set(err, LR_EIO, "cannot make a file in %s: %s", spool_dir, strerror(errno));
		u->spool[0] = '\0';
		goto fail;
	}
	*out = u;
	return 0;
fail:
	upload_free(u);
	return rc;
}

int upload_feed(struct upload *u, struct lr_error *err, const char *data, size_t len)
{
	int rc;

	if (u->status)
		return LR_EINVAL;
	if (len > u->max_bytes - u->received) {
		char what[128];
		snprintf(what, sizeof(what), "the upload is larger than %zu bytes (--max-upload)", u->max_bytes);
		return stop_with(u, err, 413, LR_ELIMIT, what);
	}
	u->received += len;
	if ((rc = multipart_feed(u->parser, err, data, len)) != 0 && !u->status)
		stop_with(u, err, rc == LR_EIO ? 500 : 400, rc, err->text);
	return rc;
}

void upload_free(struct upload *u)
{
	if (!u)
		return;
	if (u->fd >= 0)
		close(u->fd);
	if (u->spool[0])
		unlink(u->spool);
	multipart_free(u->parser);
	hash_sha256_free(u->sha);
	free(u);
}

int upload_same_origin(const struct http_request *req)
{
	const char *host = http_header(req, "Host");
	const char *origin = http_header(req, "Origin");
	const char *referer = http_header(req, "Referer");
	const char *rest;
	size_t hl;

	if (origin && strcmp(origin, "null") != 0) {
		if (!host)
			return 0;
		rest = strncmp(origin, "http://", 7) == 0 ? origin + 7
		       : strncmp(origin, "https://", 8) == 0 ? origin + 8 : NULL;
		return rest && strcasecmp(rest, host) == 0;
	}
	if (origin)
		return 0; /* "null": a sandboxed or opaque origin */
	if (referer) {
		if (!host)
			return 0;
		rest = strncmp(referer, "http://", 7) == 0 ? referer + 7
		       : strncmp(referer, "https://", 8) == 0 ? referer + 8 : NULL;
		hl = strlen(host);
		return rest && strncasecmp(rest, host, hl) == 0 && (rest[hl] == '/' || rest[hl] == '\0');
	}
	return 1;
}

/* ---- the ingest and its report ---- */

struct upload_run {
	json_t *rejects;
	long n_rejects;
	int has_file;
	char format[64];
	char status[32];
	char error[LR_ERROR_TEXT_MAX + 64];
	char sha256[65];
	long long size;
};

static void collect_reject(void *ctx, const char *kind, const struct lr_error *rej)
{
	struct upload_run *ur = ctx;
	char line[1024];

	if (ur->n_rejects++ >= UPLOAD_MAX_REJECTS)
		return;
	lr_error_format(rej, line, sizeof(line));
	json_array_append_new(ur->rejects,
			      json_pack("{s:s, s:I, s:I, s:s, s:s, s:s}", "kind", kind,
					"line", (json_int_t)rej->line, "record", (json_int_t)rej->record,
					"field", rej->field, "reason", rej->text, "message", line));
}

static void collect_file(void *ctx, const struct ingest_file_result *f)
{
	struct upload_run *ur = ctx;

	ur->has_file = 1;
	snprintf(ur->format, sizeof(ur->format), "%s", f->format ? f->format : "");
	snprintf(ur->status, sizeof(ur->status), "%s", f->status);
	snprintf(ur->error, sizeof(ur->error), "%s", f->error ? f->error : "");
	snprintf(ur->sha256, sizeof(ur->sha256), "%s", f->sha256);
	ur->size = (long long)f->size;
}

static void html_report(struct http_response *resp, const json_t *report)
{
	char *main_html = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&main_html, &len);
	const json_t *rejects = json_object_get(report, "rejects"), *r;
	const char *error = json_string_value(json_object_get(report, "error"));
	long rejected = (long)json_integer_value(json_object_get(report, "rejected"));
	long conflicts = (long)json_integer_value(json_object_get(report, "conflicts"));
	static const char *const counts[] = { "accepted", "duplicates", "conflicts", "rejected" };

	if (!f) {
		http_error(resp, 500, "out of memory");
		return;
	}
	fputs("<h1>Upload report</h1>\n<p class=\"note\" role=\"status\" id=\"outcome\"><strong>", f);
	web_escape(f, json_string_value(json_object_get(report, "file")));
	fprintf(f, "</strong>: %lld accepted, %lld duplicates, %ld conflicts, %ld rejected.</p>\n",
		(long long)json_integer_value(json_object_get(report, "accepted")),
		(long long)json_integer_value(json_object_get(report, "duplicates")), conflicts, rejected);
	if (json_is_true(json_object_get(report, "seen_before")))
		fputs("<p class=\"note\" id=\"seen-before\">This file was ingested for this organisation before:"
		      " what it holds is already in the store, and nothing is stored twice.</p>\n", f);
	if (error && error[0]) {
		fputs("<p class=\"error\" role=\"alert\">The file could not be read completely: ", f);
		web_escape(f, error);
		fputs("</p>\n", f);
	}
	fputs("<dl class=\"summary\">\n", f);
	fprintf(f, "<dt>Run</dt><dd id=\"run\">%lld</dd>\n",
		(long long)json_integer_value(json_object_get(report, "run")));
	fputs("<dt>Organisation</dt><dd id=\"org\">", f);
	web_escape(f, json_string_value(json_object_get(report, "org")));
	fputs("</dd>\n<dt>File</dt><dd id=\"file\">", f);
	web_escape(f, json_string_value(json_object_get(report, "file")));
	fprintf(f, "</dd>\n<dt>Size</dt><dd>%lld bytes</dd>\n<dt>SHA-256</dt><dd><code>",
		(long long)json_integer_value(json_object_get(report, "size")));
	web_escape(f, json_string_value(json_object_get(report, "sha256")));
	fputs("</code></dd>\n<dt>Format</dt><dd id=\"format\">", f);
	web_escape(f, json_string_value(json_object_get(report, "format")));
	fputs("</dd>\n<dt>Status</dt><dd id=\"status\">", f);
	web_escape(f, json_string_value(json_object_get(report, "status")));
	fputs("</dd>\n", f);
	for (i = 0; i < 4; i++)
		fprintf(f, "<dt>%c%s</dt><dd id=\"%s\">%lld</dd>\n", counts[i][0] - 32, counts[i] + 1,
			counts[i], (long long)json_integer_value(json_object_get(report, counts[i])));
	fputs("</dl>\n", f);
	if (json_array_size(rejects) > 0) {
		fprintf(f, "<table id=\"rejects\">\n<caption>Records that did not go in (%ld%s)</caption>\n"
			   "<thead><tr><th scope=\"col\">Line</th><th scope=\"col\">Record</th>"
			   "<th scope=\"col\">Kind</th><th scope=\"col\">Field</th><th scope=\"col\">Reason</th>"
			   "</tr></thead>\n<tbody>\n",
			rejected + conflicts,
			(size_t)(rejected + conflicts) > json_array_size(rejects) ? ", the first 1000 shown" : "");
		json_array_foreach(rejects, i, r) {
			fprintf(f, "<tr><td class=\"num\">%lld</td><td class=\"num\">%lld</td><td>",
				(long long)json_integer_value(json_object_get(r, "line")),
				(long long)json_integer_value(json_object_get(r, "record")));
			web_escape(f, json_string_value(json_object_get(r, "kind")));
			fputs("</td><td>", f);
			web_escape(f, json_string_value(json_object_get(r, "field")));
			fputs("</td><td>", f);
			web_escape(f, json_string_value(json_object_get(r, "reason")));
			fputs("</td></tr>\n", f);
		}
		fputs("</tbody>\n</table>\n", f);
	}
	fputs("<p><a href=\"/upload\">Upload another file</a> · <a href=\"/\">Dashboard</a></p>\n", f);
	fclose(f);
	web_page(resp, 200, "Upload report", main_html);
	free(main_html);
}

void upload_answer(struct upload *u, const struct http_request *req, struct http_response *resp)
{
	const struct credential *cred = req->cred;
	struct ingest_options opts;
	struct ingest_report report;
	struct ingest_run *run = NULL;
	struct upload_run ur;
	struct lr_error err;
	unsigned char digest[HASH_SHA256_LEN];
	char sha[65];
	int64_t org_id;
	int rc, seen = 0;
	json_t *json = NULL;

	lr_error_clear(&err);
	memset(&ur, 0, sizeof(ur));
	if (!u->status && multipart_finish(u->parser, &err) != 0)
		stop_with(u, &err, 400, err.code, err.text);
	if (!u->status && !u->has_file)
		stop_with(u, &err, 400, LR_EINVAL, "the upload has no file (form field 'file')");
	if (!u->status && u->has_org && u->org[0] && strcmp(u->org, cred->org) != 0) {
		char what[256];
		snprintf(what, sizeof(what), "this credential belongs to org '%s': it cannot upload for '%.64s'",
			 cred->org, u->org);
		stop_with(u, &err, 403, LR_EINVAL, what);
	}
	if (u->status) {
		web_error_for(req, resp, u->status, u->message);
		return;
	}
	close(u->fd);
	u->fd = -1;
	hash_sha256_final(u->sha, digest);
	hash_hex(sha, digest, sizeof(digest));
	lr_error_clear(&err);
	if ((rc = store_org_id(req->store, &err, cred->org, &org_id)) != 0 ||
	    (rc = store_file_seen(req->store, &err, org_id, sha)) < 0) {
		web_error_for(req, resp, rc == LR_EBUSY ? 503 : 500, err.text);
		return;
	}
	seen = rc == 1;
	memset(&opts, 0, sizeof(opts));
	opts.org = cred->org;
	opts.format = u->format[0] ? u->format : NULL;
	opts.course = u->course[0] ? u->course : NULL;
	opts.on_reject = collect_reject;
	opts.on_file = collect_file;
	opts.ctx = &ur;
	if (!(ur.rejects = json_array())) {
		web_error_for(req, resp, 500, "out of memory");
		return;
	}
	if ((rc = ingest_run_open(&run, req->store, &err, &opts, "upload")) != 0) {
		web_error_for(req, resp, rc == LR_EINVAL ? 400 : rc == LR_EBUSY ? 503 : 500, err.text);
		goto out;
	}
	rc = ingest_run_file_as(run, &err, u->spool, u->filename);
	{
		struct lr_error close_err;
		lr_error_clear(&close_err);
		if (ingest_run_close(run, rc ? &close_err : &err, rc != 0, &report) != 0 && rc == 0)
			rc = err.code ? err.code : LR_EDB;
	}
	if (rc != 0) {
		web_error_for(req, resp, rc == LR_EBUSY ? 503 : 500, err.text[0] ? err.text : lr_strerror(rc));
		goto out;
	}
	json = json_pack("{s:I, s:s, s:s, s:s, s:I, s:s?, s:s, s:s?, s:b, s:I, s:I, s:I, s:I, s:O}",
			 "run", (json_int_t)report.run_id, "org", cred->org, "file", u->filename,
			 "sha256", ur.sha256[0] ? ur.sha256 : sha, "size", (json_int_t)u->file_bytes,
			 "format", ur.format[0] ? ur.format : NULL,
			 "status", ur.has_file ? ur.status : "failed",
			 "error", ur.error[0] ? ur.error : NULL, "seen_before", seen,
			 "accepted", (json_int_t)report.counts.accepted,
			 "duplicates", (json_int_t)report.counts.duplicates,
			 "conflicts", (json_int_t)report.counts.conflicts,
			 "rejected", (json_int_t)report.counts.rejected, "rejects", ur.rejects);
	if (!json) {
		web_error_for(req, resp, 500, "out of memory");
		goto out;
	}
	if (web_wants_html(req))
		html_report(resp, json);
	else
		http_set_json(resp, 200, json);
out:
	/* The spool file goes as soon as it is read. */
	unlink(u->spool);
	u->spool[0] = '\0';
	json_decref(json);
	json_decref(ur.rejects);
}
