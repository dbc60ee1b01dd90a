/*
 * targets.c: the fuzz targets (see targets.h).
 */
#include "fuzz/targets.h"
#include "adapters/csv.h"
#include "adapters/jsonstream.h"
#include "lrs/error.h"
#include "lrs/hash.h"
#include "lrs/xapi.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
