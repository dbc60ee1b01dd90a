/*
 * targets.c: the fuzz targets (see targets.h).
 */
#include "fuzz/targets.h"
#include "adapters/adapter.h"
#include "adapters/csv.h"
#include "adapters/jsonstream.h"
#include "lrs/error.h"
#include "lrs/hash.h"
#include "lrs/http.h"
#include "lrs/jsonfast.h"
#include "lrs/multipart.h"
#include "lrs/package.h"
#include "lrs/statements_api.h"
#include "lrs/xapi.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define REQUIRE(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz invariant broken at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

int fuzz_xapi_one(const uint8_t *data, size_t size)
{
	struct lr_error e1, e2;
	unsigned char d1[32], d2[32];
	char id1[UUID_STR_LEN + 1], id2[UUID_STR_LEN + 1];
	struct xapi_facts facts;
	json_t *st, *again;
	char *text;
	int r1, r2;

	st = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!st)
		return 0;
	lr_error_clear(&e1);
	lr_error_clear(&e2);
	r1 = xapi_validate(&e1, st, XAPI_ACCEPT_ANY);
	r2 = xapi_validate(&e2, st, XAPI_ACCEPT_ANY);
	/* Deterministic, and an error always says what. */
	REQUIRE(r1 == r2);
	REQUIRE(r1 == 0 || r1 == LR_EINVAL);
	REQUIRE(r1 == 0 || (e1.text[0] && strcmp(e1.text, e2.text) == 0));
	/* Strict 1.0.3 never accepts what the lenient rules refuse. */
	if (r1 != 0) {
		lr_error_clear(&e2);
		REQUIRE(xapi_validate(&e2, st, XAPI_STRICT_103) != 0);
	}
	if (r1 == 0) {
		REQUIRE(xapi_digest(d1, st) == 0);
		xapi_facts(&facts, st);
		REQUIRE(facts.verb_id != NULL);
		REQUIRE(facts.object_type != NULL);
		/* Serialising and parsing again changes nothing that counts. */
		text = json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS);
		REQUIRE(text != NULL);
		again = json_loads(text, 0, NULL);
		REQUIRE(again != NULL);
		lr_error_clear(&e2);
		REQUIRE(xapi_validate(&e2, again, XAPI_ACCEPT_ANY) == 0);
		REQUIRE(xapi_digest(d2, again) == 0);
		REQUIRE(memcmp(d1, d2, 32) == 0);
		REQUIRE(xapi_derive_id(id1, "org", d1) == 0);
		REQUIRE(xapi_derive_id(id2, "org", d2) == 0);
		REQUIRE(strcmp(id1, id2) == 0);
		json_decref(again);
		free(text);
	}
	json_decref(st);
	return 0;
}

/* A reader over a byte buffer that hands out at most chunk bytes at a time. */
struct buffer_reader {
	const uint8_t *data;
	size_t size, pos, chunk;
};

static ssize_t buffer_read(void *ctx, void *buf, size_t len)
{
	struct buffer_reader *r = ctx;
	size_t n = r->size - r->pos;

	if (n > len)
		n = len;
	if (n > r->chunk)
		n = r->chunk;
	memcpy(buf, r->data + r->pos, n);
	r->pos += n;
	return (ssize_t)n;
}

/* Digests every outcome of a stream (records, errors and where) into out. */
static void stream_outcome(unsigned char out[32], const uint8_t *data, size_t size, size_t chunk,
			   long *records)
{
	static const char *const keys[] = { "statements", NULL };
	struct jsonstream_options opts = { keys, 4096, 32 };
	struct buffer_reader r = { data, size, 0, chunk };
	struct hash_sha256_ctx *sha = hash_sha256_new();
	struct jsonstream *s = NULL;
	struct jsonstream_record rec;
	int rc, steps = 0;

	REQUIRE(sha != NULL);
	REQUIRE(jsonstream_open(&s, &opts, buffer_read, &r) == 0);
	*records = 0;
	for (;;) {
		struct lr_error err;
		lr_error_clear(&err);
		rc = jsonstream_next(s, &rec, &err);
		hash_sha256_update(sha, &rc, sizeof(rc));
		if (rc == 1) {
			REQUIRE(rec.len == strlen(rec.text) || memchr(rec.text, 0, rec.len));
			hash_sha256_update(sha, rec.text, rec.len);
			hash_sha256_update(sha, &rec.line, sizeof(rec.line));
			(*records)++;
		} else if (rc < 0) {
			REQUIRE(err.text[0]);
			hash_sha256_update(sha, &err.line, sizeof(err.line));
			if (rc != LR_EINVAL)
				break;
		} else {
			break;
		}
		REQUIRE(++steps <= (int)size + 2);
	}
	hash_sha256_final(sha, out);
	hash_sha256_free(sha);
	jsonstream_close(s);
}

int fuzz_jsonstream_one(const uint8_t *data, size_t size)
{
	unsigned char a[32], b[32];
	long ra, rb;

	stream_outcome(a, data, size, 1 << 20, &ra);
	stream_outcome(b, data, size, 7, &rb);
	REQUIRE(ra == rb);
	REQUIRE(memcmp(a, b, 32) == 0);
	return 0;
}

static void csv_outcome(unsigned char out[32], const uint8_t *data, size_t size, size_t chunk,
			char delimiter)
{
	struct csv_options opts = { delimiter, 1024, 64 };
	struct buffer_reader r = { data, size, 0, chunk };
	struct hash_sha256_ctx *sha = hash_sha256_new();
	struct csv *c = NULL;
	struct csv_row row;
	int rc, steps = 0;
	size_t i;

	REQUIRE(sha != NULL);
	REQUIRE(csv_open(&c, &opts, buffer_read, &r) == 0);
	for (;;) {
		struct lr_error err;
		lr_error_clear(&err);
		rc = csv_next(c, &row, &err);
		hash_sha256_update(sha, &rc, sizeof(rc));
		if (rc == 1) {
			REQUIRE(row.n >= 1 && row.n <= 64);
			for (i = 0; i < row.n; i++) {
				REQUIRE(row.lens[i] <= 1024);
				hash_sha256_update(sha, row.fields[i], row.lens[i] + 1);
			}
			hash_sha256_update(sha, &row.line, sizeof(row.line));
		} else if (rc < 0) {
			REQUIRE(err.text[0]);
			if (rc != LR_EINVAL)
				break;
		} else {
			break;
		}
		REQUIRE(++steps <= (int)size + 2);
	}
	hash_sha256_final(sha, out);
	hash_sha256_free(sha);
	csv_close(c);
}

int fuzz_csv_one(const uint8_t *data, size_t size)
{
	unsigned char a[32], b[32];
	char delimiters[2] = { ',', '\t' };
	int i;

	for (i = 0; i < 2; i++) {
		csv_outcome(a, data, size, 1 << 20, delimiters[i]);
		csv_outcome(b, data, size, 3, delimiters[i]);
		REQUIRE(memcmp(a, b, 32) == 0);
	}
	return 0;
}

/* ---- adapters ---- */

int fuzz_adapter_count(void)
{
	int n = 0;

	while (adapter_list[n])
		n++;
	return n;
}

/* Adds a string (or a marker for NULL) to the digest. */
static void hash_str(struct hash_sha256_ctx *sha, const char *s)
{
	if (s)
		hash_sha256_update(sha, s, strlen(s) + 1);
	else
		hash_sha256_update(sha, "\xff", 1);
}

/* Runs one adapter over the buffer in reads of at most chunk bytes; digests every outcome. */
static void adapter_outcome(unsigned char out[32], long counts[3], const struct adapter *ad,
			    const struct adapter_input *proto, const uint8_t *data, size_t size,
			    size_t chunk)
{
	struct buffer_reader r = { data, size, 0, chunk };
	struct adapter_input in = *proto;
	struct hash_sha256_ctx *sha = hash_sha256_new();
	struct lr_error err;
	void *state = NULL;
	long steps = 0, last_record = 0;
	int rc, is_xapi = strcmp(ad->name, "xapi") == 0;

	REQUIRE(sha != NULL);
	in.read = buffer_read;
	in.ctx = &r;
	counts[0] = counts[1] = counts[2] = 0;
	lr_error_clear(&err);
	rc = ad->open(&state, &err, &in);
	hash_sha256_update(sha, &rc, sizeof(rc));
	if (rc != 0) {
		/* Refused at open: with a reason, and no state to close. */
		REQUIRE(rc < 0 && err.text[0]);
		hash_str(sha, err.text);
		goto done;
	}
	for (;;) {
		struct adapter_item item;

		memset(&item, 0, sizeof(item));
		lr_error_clear(&err);
		rc = ad->next(state, &item, &err);
		hash_sha256_update(sha, &rc, sizeof(rc));
		REQUIRE(++steps <= 4 * (long)size + 16);
		if (rc == 0)
			break;
		if (rc < 0) {
			REQUIRE(err.text[0]);
			REQUIRE(item.statement == NULL);
			hash_str(sha, err.field);
			hash_str(sha, err.text);
			hash_sha256_update(sha, &err.line, sizeof(err.line));
			hash_sha256_update(sha, &err.record, sizeof(err.record));
			if (rc != LR_EINVAL)
				break;
			counts[1]++;
			continue;
		}
		REQUIRE(rc == 1);
		REQUIRE(item.record >= 1 && item.record >= last_record);
		REQUIRE(item.line >= 0);
		last_record = item.record;
		hash_sha256_update(sha, &item.kind, sizeof(item.kind));
		hash_sha256_update(sha, &item.line, sizeof(item.line));
		hash_sha256_update(sha, &item.record, sizeof(item.record));
		if (item.kind == ADAPTER_IDENTITY) {
			REQUIRE(item.statement == NULL);
			REQUIRE(item.key && item.key[0] && item.email && item.email[0]);
			hash_str(sha, item.key);
			hash_str(sha, item.email);
			counts[2]++;
			continue;
		}
		REQUIRE(item.kind == ADAPTER_STATEMENT);
		REQUIRE(json_is_object(item.statement));
		{
			char *text = json_dumps(item.statement, JSON_COMPACT | JSON_SORT_KEYS);
			json_t *again;
			struct lr_error verr;

			REQUIRE(text != NULL);
			/* What an adapter makes re-serialises to the same statement. */
			again = json_loads(text, 0, NULL);
			REQUIRE(again != NULL && json_equal(again, item.statement));
			json_decref(again);
			if (!is_xapi) {
				/*
				 * A statement made from an LMS export is made by lrhub from
				 * checked fields: it is valid xAPI and names its course.
				 */
				lr_error_clear(&verr);
				if (xapi_validate(&verr, item.statement, XAPI_ACCEPT_ANY) != 0) {
					fprintf(stderr, "%s made an invalid statement: %s: %s\n%s\n",
						ad->name, verr.field, verr.text, text);
					abort();
				}
				REQUIRE(item.course_key && item.course_key[0]);
			} else {
				REQUIRE(item.course_key == NULL);
			}
			hash_str(sha, text);
			hash_str(sha, item.course_key);
			hash_str(sha, item.part_key);
			free(text);
		}
		json_decref(item.statement);
		counts[0]++;
	}
	ad->close(state);
done:
	hash_sha256_final(sha, out);
	hash_sha256_free(sha);
}

int fuzz_adapter_one(const uint8_t *data, size_t size)
{
	struct adapter_input in;
	const struct adapter *ad;
	unsigned char a[32], b[32];
	long ca[3], cb[3];
	uint8_t pick;

	if (size < 1)
		return 0;
	pick = data[0];
	ad = adapter_list[pick % fuzz_adapter_count()];
	memset(&in, 0, sizeof(in));
	in.name = "fuzz";
	in.org = "org-a";
	in.course = (pick & 8) ? "course-1" : NULL;
	in.timezone = (pick & 16) ? "Europe/London" : NULL;
	in.lms_url = (pick & 32) ? "https://lms.example.org/" : NULL;
	adapter_outcome(a, ca, ad, &in, data + 1, size - 1, 1 << 20);
	adapter_outcome(b, cb, ad, &in, data + 1, size - 1, 5);
	/* Statements + rejects + identities, and everything about them, do not depend on read sizes. */
	REQUIRE(ca[0] == cb[0] && ca[1] == cb[1] && ca[2] == cb[2]);
	REQUIRE(memcmp(a, b, 32) == 0);
	return 0;
}

/* ---- course packages ---- */

/* Invariants of a package that was read. */
static void check_package(const struct package *p)
{
	long i, n = package_item_count(p), parts = 0, j;
	const char *kind = package_kind(p);

	REQUIRE(kind != NULL);
	REQUIRE(strncmp(kind, "scorm", 5) == 0 || strcmp(kind, "tincan") == 0 ||
		strcmp(kind, "cmi5") == 0);
	REQUIRE(n >= 0 && n <= PACKAGE_MAX_ITEMS);
	for (i = 0; i < n; i++) {
		const struct package_item *it = package_item(p, i);
		REQUIRE(it != NULL);
		REQUIRE(it->identifier != NULL);
		REQUIRE(it->depth >= 0);
		/* The top has no parent; a parent comes before its children, one level up. */
		if (it->depth == 0) {
			REQUIRE(it->parent == NULL);
		} else {
			REQUIRE(it->parent != NULL);
			for (j = i - 1; j >= 0; j--) {
				const struct package_item *up = package_item(p, j);
				if (up->depth == it->depth - 1 && strcmp(up->identifier, it->parent) == 0)
					break;
			}
			REQUIRE(j >= 0);
		}
		if (it->is_part)
			parts++;
		if (it->has_mastery)
			REQUIRE(it->mastery_score == it->mastery_score); /* not NaN */
	}
	REQUIRE(parts == package_part_count(p));
	for (i = 0; i < package_warning_count(p); i++)
		REQUIRE(package_warning(p, i) && package_warning(p, i)[0]);
}

int fuzz_manifest_one(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "imsmanifest.xml", "tincan.xml", "course/cmi5.xml" };
	struct package *p = NULL, *q = NULL;
	struct lr_error e1, e2;
	int r1, r2;

	if (size < 1)
		return 0;
	lr_error_clear(&e1);
	lr_error_clear(&e2);
	r1 = package_read_manifest(&p, &e1, names[data[0] % 3], (const char *)data + 1, size - 1);
	r2 = package_read_manifest(&q, &e2, names[data[0] % 3], (const char *)data + 1, size - 1);
	/* Deterministic; refused with a reason, or read with its invariants. */
	REQUIRE(r1 == r2);
	if (r1 != 0) {
		REQUIRE(p == NULL && e1.text[0] && strcmp(e1.text, e2.text) == 0);
		if (r1 != LR_EFORMAT && r1 != LR_EINVAL && r1 != LR_ELIMIT)
			fprintf(stderr, "manifest refused with %d: %s\n", r1, e1.text);
		REQUIRE(r1 == LR_EFORMAT || r1 == LR_EINVAL || r1 == LR_ELIMIT);
	} else {
		REQUIRE(p != NULL);
		check_package(p);
		REQUIRE(package_item_count(p) == package_item_count(q));
	}
	package_free(p);
	package_free(q);
	return 0;
}

int fuzz_zip_one(const uint8_t *data, size_t size)
{
	/* Tight limits, so that a fuzzed zip bomb costs little. */
	static const struct package_limits limits = { 200, 4L << 20, 1L << 20, PACKAGE_MAX_RATIO };
	struct package *p = NULL;
	struct lr_error err;
	char path[64];
	int fd, rc;

	fd = memfd_create("fuzz-zip", 0);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, data, size) == (ssize_t)size);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	lr_error_clear(&err);
	rc = package_read_limited(&p, &err, path, &limits);
	if (rc != 0) {
		REQUIRE(p == NULL && err.text[0]);
		if (rc != LR_EFORMAT && rc != LR_EINVAL && rc != LR_ELIMIT)
			fprintf(stderr, "zip refused with %d: %s\n", rc, err.text);
		REQUIRE(rc == LR_EFORMAT || rc == LR_EINVAL || rc == LR_ELIMIT);
	} else {
		REQUIRE(p != NULL);
		check_package(p);
		REQUIRE(strlen(package_sha256(p)) == 64);
		REQUIRE(package_manifest(p) && package_manifest(p)[0]);
	}
	package_free(p);
	close(fd);
	return 0;
}

/* ---- statement query parameters ---- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s in place ('+' is a space), as libmicrohttpd does for arguments. */
static void url_decode(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (*s == '+') {
			*out++ = ' ';
		} else if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
			*out++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
			s += 2;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

static int is_uuid_text(const char *s)
{
	static const char form[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	size_t i;

	if (strlen(s) != sizeof(form) - 1)
		return 0;
	for (i = 0; form[i]; i++)
		if (form[i] == '-' ? s[i] != '-' : hexval((unsigned char)s[i]) < 0)
			return 0;
	return 1;
}

int fuzz_query_one(const uint8_t *data, size_t size)
{
	struct http_kv args[HTTP_MAX_KV + 1];
	struct statements_query q, q2;
	struct lr_error e1, e2;
	char *text, *p, *amp;
	size_t n = 0;
	int r1, r2;

	if (size > 65536 || memchr(data, 0, size))
		return 0;
	text = malloc(size + 1);
	REQUIRE(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	for (p = text; p && *p && n < HTTP_MAX_KV; p = amp) {
		char *eq;
		amp = strchr(p, '&');
		if (amp)
			*amp++ = '\0';
		if (!*p)
			continue;
		eq = strchr(p, '=');
		if (eq)
			*eq++ = '\0';
		url_decode(p);
		if (eq)
			url_decode(eq);
		args[n].name = p;
		args[n].value = eq ? eq : "";
		n++;
	}
	lr_error_clear(&e1);
	lr_error_clear(&e2);
	r1 = statements_query_parse(&q, &e1, args, n);
	r2 = statements_query_parse(&q2, &e2, args, n);
	REQUIRE(r1 == r2);
	if (r1 != 0) {
		/* A 400 with one line saying what. */
		REQUIRE(r1 == LR_EINVAL && e1.text[0] && strcmp(e1.text, e2.text) == 0);
		REQUIRE(strchr(e1.text, '\n') == NULL || memchr(data, '\n', size) || memchr(data, '%', size));
	} else {
		REQUIRE(q.limit >= 1 && q.limit <= 500);
		REQUIRE(!q.has_agent || (q.agent[0] && strlen(q.agent) < sizeof(q.agent)));
		REQUIRE(!q.registration || is_uuid_text(q.registration));
		REQUIRE(q.format == STATEMENTS_EXACT || q.format == STATEMENTS_IDS ||
			q.format == STATEMENTS_CANONICAL);
		REQUIRE(q.related_activities <= 1 && q.related_agents <= 1 && q.ascending <= 1 &&
			q.attachments <= 1);
		REQUIRE(q.after_seq == 0);
		REQUIRE(memcmp(&q, &q2, sizeof(q)) == 0);
		/* A parameter the API does not know is always refused. */
		if (n < HTTP_MAX_KV) {
			args[n].name = "statementIdx";
			args[n].value = "1";
			lr_error_clear(&e2);
			REQUIRE(statements_query_parse(&q2, &e2, args, n + 1) == LR_EINVAL);
		}
	}
	free(text);
	return 0;
}

/* ---- multipart bodies ---- */

#define FUZZ_MAX_PARTS 16

/* What the streaming parser reported, digested, with the part count. */
struct multipart_seen {
	struct hash_sha256_ctx *sha;
	long parts, ends;
	int in_part;
};

static int seen_part(void *ctx, struct lr_error *err, const struct multipart_part_info *part)
{
	struct multipart_seen *s = ctx;

	(void)err;
	REQUIRE(!s->in_part);
	REQUIRE(strlen(part->name) < sizeof(part->name));
	REQUIRE(strlen(part->filename) < sizeof(part->filename));
	REQUIRE(strlen(part->content_type) < sizeof(part->content_type));
	REQUIRE(part->has_filename || part->filename[0] == '\0');
	hash_sha256_update(s->sha, "P", 1);
	hash_sha256_update(s->sha, part, sizeof(*part));
	s->parts++;
	s->in_part = 1;
	return 0;
}

static int seen_data(void *ctx, struct lr_error *err, const char *data, size_t len)
{
	struct multipart_seen *s = ctx;

	(void)err;
	REQUIRE(s->in_part);
	hash_sha256_update(s->sha, data, len);
	return 0;
}

static int seen_end(void *ctx, struct lr_error *err)
{
	struct multipart_seen *s = ctx;

	(void)err;
	REQUIRE(s->in_part);
	s->in_part = 0;
	s->ends++;
	return 0;
}

/* Feeds body to a streaming parser in pieces cut at cut1 and cut2; returns its code. */
static int multipart_stream(unsigned char out[32], long *parts, const char *boundary,
			    const char *body, size_t len, size_t cut1, size_t cut2)
{
	static const struct multipart_callbacks cb = { seen_part, seen_data, seen_end };
	struct multipart_seen seen = { hash_sha256_new(), 0, 0, 0 };
	struct multipart_parser *mp = NULL;
	struct lr_error err;
	size_t cuts[3] = { cut1, cut2, len }, at = 0;
	int rc, i;

	REQUIRE(seen.sha != NULL);
	lr_error_clear(&err);
	rc = multipart_new(&mp, &err, boundary, FUZZ_MAX_PARTS, &cb, &seen);
	for (i = 0; rc == 0 && i < 3; i++) {
		rc = multipart_feed(mp, &err, body + at, cuts[i] - at);
		at = cuts[i];
	}
	if (rc == 0)
		rc = multipart_finish(mp, &err);
	else
		REQUIRE(err.text[0]);
	if (rc == 0)
		REQUIRE(!seen.in_part && seen.ends == seen.parts);
	multipart_free(mp);
	hash_sha256_final(seen.sha, out);
	hash_sha256_free(seen.sha);
	*parts = seen.parts;
	return rc;
}

int fuzz_multipart_one(const uint8_t *data, size_t size)
{
	struct multipart_part parts[FUZZ_MAX_PARTS];
	char line[512], boundary[MULTIPART_BOUNDARY_MAX + 1];
	const char *nl = memchr(data, '\n', size), *body;
	struct lr_error err;
	size_t n_parts = 0, line_len, len, i, total = 0;
	unsigned char whole[32], a[32], b[32];
	struct hash_sha256_ctx *sha;
	long pa, pb;
	int rc, ra, rb;

	if (!nl)
		return 0;
	line_len = (size_t)(nl - (const char *)data);
	if (line_len >= sizeof(line) || memchr(data, 0, line_len))
		return 0;
	memcpy(line, data, line_len);
	line[line_len] = '\0';
	body = nl + 1;
	len = size - line_len - 1;
	lr_error_clear(&err);
	if (strncmp(line, "multipart/", 10) == 0) {
		if (multipart_boundary(boundary, sizeof(boundary), &err, line) != 0) {
			REQUIRE(err.text[0]);
			return 0;
		}
		REQUIRE(boundary[0] && strlen(boundary) <= MULTIPART_BOUNDARY_MAX);
	} else {
		if (line_len > MULTIPART_BOUNDARY_MAX)
			return 0;
		memcpy(boundary, line, line_len + 1);
	}
	rc = multipart_parse(parts, FUZZ_MAX_PARTS, &n_parts, &err, body, len, boundary);
	REQUIRE(rc == 0 || rc == LR_EINVAL || rc == LR_ELIMIT);
	if (rc != 0)
		REQUIRE(err.text[0]);
	sha = hash_sha256_new();
	REQUIRE(sha != NULL);
	if (rc == 0) {
		REQUIRE(n_parts <= FUZZ_MAX_PARTS);
		for (i = 0; i < n_parts; i++) {
			/* Each part's content is a span of the body, in order, not overlapping. */
			if (parts[i].body_len) {
				REQUIRE(parts[i].body >= body && parts[i].body + parts[i].body_len <= body + len);
				if (i > 0 && parts[i - 1].body_len)
					REQUIRE(parts[i].body >= parts[i - 1].body + parts[i - 1].body_len);
			}
			total += parts[i].body_len;
			hash_sha256_update(sha, "P", 1);
			hash_sha256_update(sha, &parts[i].info, sizeof(parts[i].info));
			if (parts[i].body_len)
				hash_sha256_update(sha, parts[i].body, parts[i].body_len);
		}
		REQUIRE(total <= len);
	}
	hash_sha256_final(sha, whole);
	hash_sha256_free(sha);
	/* The streaming parser, fed the body in three pieces or byte by byte at the start, agrees. */
	ra = multipart_stream(a, &pa, boundary, body, len, len / 3, len / 3 + (len - len / 3) / 2);
	rb = multipart_stream(b, &pb, boundary, body, len, len > 0 ? 1 : 0, len > 1 ? 2 : len);
	REQUIRE((ra == 0) == (rb == 0));
	REQUIRE((ra == 0) == (rc == 0));
	if (rc == 0) {
		REQUIRE(pa == (long)n_parts && pb == (long)n_parts);
		REQUIRE(memcmp(a, whole, 32) == 0 && memcmp(b, whole, 32) == 0);
	}
	return 0;
}

/* 1 if a and b are the same tree: types, values (reals bit for bit), member order. */
int fuzz_same_json(json_t *a, json_t *b)
{
	size_t i;

	if (json_typeof(a) != json_typeof(b))
		return 0;
	switch (json_typeof(a)) {
	case JSON_OBJECT: {
		void *ia = json_object_iter(a), *ib = json_object_iter(b);

		if (json_object_size(a) != json_object_size(b))
			return 0;
		for (; ia && ib; ia = json_object_iter_next(a, ia), ib = json_object_iter_next(b, ib)) {
			size_t la = json_object_iter_key_len(ia);

			if (la != json_object_iter_key_len(ib) ||
			    memcmp(json_object_iter_key(ia), json_object_iter_key(ib), la) != 0 ||
			    !fuzz_same_json(json_object_iter_value(ia), json_object_iter_value(ib)))
				return 0;
		}
		return !ia && !ib;
	}
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return 0;
		for (i = 0; i < json_array_size(a); i++)
			if (!fuzz_same_json(json_array_get(a, i), json_array_get(b, i)))
				return 0;
		return 1;
	case JSON_STRING:
		return json_string_length(a) == json_string_length(b) &&
		       memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
	case JSON_INTEGER:
		return json_integer_value(a) == json_integer_value(b);
	case JSON_REAL: {
		double x = json_real_value(a), y = json_real_value(b);
		return memcmp(&x, &y, sizeof(x)) == 0;
	}
	default:
		return 1;
	}
}

int fuzz_jsonfast_one(const uint8_t *data, size_t size)
{
	static const size_t flags[] = { 0, JSON_REJECT_DUPLICATES };
	const char *text = (const char *)data;
	size_t k;

	for (k = 0; k < 2; k++) {
		json_error_t ej, ef;
		json_t *j, *fast, *f;
		char *dj, *df;

		memset(&ej, 0x5a, sizeof(ej));
		memset(&ef, 0x5a, sizeof(ef));
		j = json_loadb(text, size, flags[k], &ej);
		fast = jsonfast__parse(text, size, flags[k]);
		f = jsonfast_loadb(text, size, flags[k], &ef);
		/*
		 * The fast path takes what jansson accepts, except text with a NUL
		 * byte: jansson skips one that ends a number or a word ("[1\0]").
		 */
		REQUIRE(!fast || j);
		REQUIRE(fast || !j || memchr(data, 0, size));
		REQUIRE(!fast || fuzz_same_json(j, fast));
		REQUIRE(!f == !j);
		REQUIRE(memcmp(&ej, &ef, sizeof(ej)) == 0);
		if (j) {
			REQUIRE(fuzz_same_json(j, f));
			dj = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
			df = json_dumps(f, JSON_COMPACT | JSON_ENCODE_ANY);
			REQUIRE(dj && df && strcmp(dj, df) == 0);
			free(dj);
			free(df);
		}
		json_decref(j);
		json_decref(fast);
		json_decref(f);
	}
	return 0;
}
