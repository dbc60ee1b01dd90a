/*
 * completions.c: deriving completions (see completions.h).
 *
 * One indexed query walks the evidence on aliased course activities; rows are
 * aggregated in memory by (person, course) and sorted for output. The memory
 * used grows with the number of persons and courses, not with statements.
 */
#include "completions.h"
#include "error.h"
#include "hash.h"
#include "identity.h"
#include "store.h"
#include "strmap.h"
#include "xtime.h"

#include <jansson.h>
#include <sqlite3.h>

#include <stdlib.h>
#include <string.h>

struct course_info {
	int64_t id;
	char *code;
	char *title;
};

struct org_info {
	int64_t id;
	char *code;
};

struct agg {
	long person;
	long course;            /* index into courses */
	int64_t first_ms, last_ms;
	long completions;
	int passed, failed, has_score;
	double best;
	size_t orgs_at;         /* offset of this row's org bits */
};

struct derive {
	struct identity *id;
	struct course_info *courses;
	long n_courses;
	struct org_info *orgs;
	long n_orgs;
	size_t org_words;
	struct agg *aggs;
	long n_aggs, cap_aggs;
	uint64_t *bits;
	struct strmap *index;   /* (person, course) -> agg */
};

static const char evidence_sql[] =
	"SELECT s.actor_id, ca.course_id, s.org_id, s.ts, s.completes, s.outcome, s.score"
	" FROM course_alias ca"
	" JOIN statement s ON s.course_key = ca.key"
	" WHERE s.actor_id IS NOT NULL AND s.actor_type = 'Agent'"
	/* An org's own alias of a key wins over an alias for every org. */
	"  AND (ca.org_id = s.org_id OR (ca.org_id = 0 AND NOT EXISTS"
	"       (SELECT 1 FROM course_alias o WHERE o.key = ca.key AND o.org_id = s.org_id)))"
	"  AND (?1 IS NULL OR ca.course_id = ?1)"
	"  AND (?2 IS NULL OR s.org_id = ?2)"
	"  AND (?3 IS NULL OR s.ts <= ?3)"
	/* Voided by the same org; in a snapshot, only by a void made by then. */
	"  AND NOT EXISTS (SELECT 1 FROM statement v WHERE v.voids = s.id AND v.org_id = s.org_id"
	"                  AND (?3 IS NULL OR v.ts <= ?3))";

static void derive_free(struct derive *d)
{
	long i;

	identity_free(d->id);
	for (i = 0; i < d->n_courses; i++) {
		free(d->courses[i].code);
		free(d->courses[i].title);
	}
	free(d->courses);
	for (i = 0; i < d->n_orgs; i++)
		free(d->orgs[i].code);
	free(d->orgs);
	free(d->aggs);
	free(d->bits);
	strmap_free(d->index);
}

static int load_courses(struct derive *d, struct lr_error *err, sqlite3 *db)
{
	sqlite3_stmt *q = NULL;
	int rc = 0, step;

	if (sqlite3_prepare_v2(db, "SELECT id, code, title FROM course ORDER BY id", -1, &q, NULL) !=
	    SQLITE_OK)
		goto db_fail;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct course_info *c = realloc(d->courses, (size_t)(d->n_courses + 1) * sizeof(*c));
		if (!c)
			goto nomem;
		d->courses = c;
		c = &d->courses[d->n_courses];
		c->id = sqlite3_column_int64(q, 0);
		c->code = strdup((const char *)sqlite3_column_text(q, 1));
		c->title = strdup((const char *)sqlite3_column_text(q, 2));
		d->n_courses++;
		if (!c->code || !c->title)
			goto nomem;
	}
	if (step != SQLITE_DONE)
		goto db_fail;
	sqlite3_finalize(q);
	q = NULL;
	if (sqlite3_prepare_v2(db, "SELECT id, code FROM org ORDER BY code", -1, &q, NULL) != SQLITE_OK)
		goto db_fail;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct org_info *o = realloc(d->orgs, (size_t)(d->n_orgs + 1) * sizeof(*o));
		if (!o)
			goto nomem;
		d->orgs = o;
		o = &d->orgs[d->n_orgs];
		o->id = sqlite3_column_int64(q, 0);
		o->code = strdup((const char *)sqlite3_column_text(q, 1));
		d->n_orgs++;
		if (!o->code)
			goto nomem;
	}
	if (step != SQLITE_DONE)
		goto db_fail;
	d->org_words = (size_t)(d->n_orgs + 63) / 64;
	if (d->org_words == 0)
		d->org_words = 1;
	goto out;
nomem:
	rc = lr_error_set(err, LR_ENOMEM, "out of memory deriving completions");
	goto out;
db_fail:
	rc = lr_error_set(err, LR_EDB, "reading courses and orgs: %s", sqlite3_errmsg(db));
out:
	sqlite3_finalize(q);
	return rc;
}

static long course_index(const struct derive *d, int64_t id)
{
	long lo = 0, hi = d->n_courses - 1;

	while (lo <= hi) {
		long mid = lo + (hi - lo) / 2;
		if (d->courses[mid].id == id)
			return mid;
		if (d->courses[mid].id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

static long org_index(const struct derive *d, int64_t id)
{
	long i;

	for (i = 0; i < d->n_orgs; i++)
		if (d->orgs[i].id == id)
			return i;
	return -1;
}

static struct agg *agg_for(struct derive *d, long person, long course)
{
	long key[2] = { person, course };
	int64_t at = d->n_aggs;
	int rc = strmap_get(d->index, key, sizeof(key), &at, 1);
	struct agg *a;

	if (rc < 0)
		return NULL;
	if (rc == 1)
		return &d->aggs[at];
	if (d->n_aggs == d->cap_aggs) {
		long cap = d->cap_aggs ? d->cap_aggs * 2 : 1024;
		struct agg *aggs = realloc(d->aggs, (size_t)cap * sizeof(*aggs));
		uint64_t *bits;
		if (!aggs)
			return NULL;
		d->aggs = aggs;
		bits = realloc(d->bits, (size_t)cap * d->org_words * sizeof(*bits));
		if (!bits)
			return NULL;
		d->bits = bits;
		d->cap_aggs = cap;
	}
	a = &d->aggs[d->n_aggs];
	memset(a, 0, sizeof(*a));
	a->person = person;
	a->course = course;
	a->orgs_at = (size_t)d->n_aggs * d->org_words;
	memset(d->bits + a->orgs_at, 0, d->org_words * sizeof(*d->bits));
	d->n_aggs++;
	return a;
}

static int gather(struct derive *d, struct lr_error *err, sqlite3 *db,
		  const struct completions_query *cq, int64_t course_id, int64_t org_id)
{
	sqlite3_stmt *q = NULL;
	int rc = 0, step;

	if (sqlite3_prepare_v2(db, evidence_sql, -1, &q, NULL) != SQLITE_OK)
		goto db_fail;
	if (course_id > 0)
		sqlite3_bind_int64(q, 1, course_id);
	if (org_id > 0)
		sqlite3_bind_int64(q, 2, org_id);
	if (cq->has_until)
		sqlite3_bind_int64(q, 3, cq->until_ms);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		long person = identity_person_of(d->id, sqlite3_column_int64(q, 0));
		long course = course_index(d, sqlite3_column_int64(q, 1));
		long org = org_index(d, sqlite3_column_int64(q, 2));
		int64_t ts = sqlite3_column_int64(q, 3);
		struct agg *a;

		if (person < 0 || course < 0)
			continue; /* an agent or course made after the identity was resolved */
		a = agg_for(d, person, course);
		if (!a) {
			rc = lr_error_set(err, LR_ENOMEM, "out of memory deriving completions");
			goto out;
		}
		if (sqlite3_column_int(q, 4)) {
			if (a->completions == 0 || ts < a->first_ms)
				a->first_ms = ts;
			if (a->completions == 0 || ts > a->last_ms)
				a->last_ms = ts;
			a->completions++;
			if (org >= 0)
				d->bits[a->orgs_at + (size_t)org / 64] |= 1ULL << (org % 64);
		}
		if (sqlite3_column_type(q, 5) != SQLITE_NULL) {
			if (sqlite3_column_int(q, 5))
				a->passed = 1;
			else
				a->failed = 1;
		}
		if (sqlite3_column_type(q, 6) != SQLITE_NULL) {
			double score = sqlite3_column_double(q, 6);
			if (!a->has_score || score > a->best)
				a->best = score;
			a->has_score = 1;
		}
	}
	if (step != SQLITE_DONE)
		goto db_fail;
	goto out;
db_fail:
	rc = lr_error_set(err, LR_EDB, "reading evidence: %s", sqlite3_errmsg(db));
out:
	sqlite3_finalize(q);
	return rc;
}

/* For sorting: the derive being sorted (qsort has no context argument). */
static const struct derive *sorting;

static int agg_order(const void *pa, const void *pb)
{
	const struct agg *a = *(const struct agg *const *)pa, *b = *(const struct agg *const *)pb;
	const char *ea, *eb;
	int c = strcmp(sorting->courses[a->course].code, sorting->courses[b->course].code);

	if (c != 0)
		return c;
	ea = identity_person_email(sorting->id, a->person);
	eb = identity_person_email(sorting->id, b->person);
	if (ea && eb && (c = strcmp(ea, eb)) != 0)
		return c;
	if (!ea != !eb)
		return ea ? -1 : 1;
	return strcmp(identity_person_id(sorting->id, a->person),
		      identity_person_id(sorting->id, b->person));
}

int completions_pseudonym(char out[65], const unsigned char *key, size_t key_len,
			  const char *person_id)
{
	unsigned char mac[HASH_SHA256_LEN];

	if (hash_hmac_sha256(mac, key, key_len, person_id, strlen(person_id)) != 0)
		return LR_EINVAL;
	hash_hex(out, mac, sizeof(mac));
	return 0;
}

static int emit(struct derive *d, struct lr_error *err, const struct completions_query *cq,
		int (*fn)(void *ctx, const struct completion *row), void *ctx)
{
	struct agg **order = NULL;
	char *orgs = NULL;
	size_t orgs_cap = 1;
	long i, n = 0, o;
	int rc = 0;

	for (o = 0; o < d->n_orgs; o++)
		orgs_cap += strlen(d->orgs[o].code) + 1;
	orgs = malloc(orgs_cap);
	order = malloc((size_t)(d->n_aggs ? d->n_aggs : 1) * sizeof(*order));
	if (!orgs || !order) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory deriving completions");
		goto out;
	}
	for (i = 0; i < d->n_aggs; i++) {
		struct agg *a = &d->aggs[i];
		if (a->completions == 0)
			continue;
		if (cq->has_since && a->first_ms < cq->since_ms)
			continue;
		order[n++] = a;
	}
	sorting = d;
	qsort(order, (size_t)n, sizeof(*order), agg_order);
	sorting = NULL;
	for (i = 0; i < n; i++) {
		struct agg *a = order[i];
		struct completion row;
		char pseudonym[65];
		size_t used = 0;

		orgs[0] = '\0';
		for (o = 0; o < d->n_orgs; o++) {
			if (!(d->bits[a->orgs_at + (size_t)o / 64] & (1ULL << (o % 64))))
				continue;
			used += (size_t)snprintf(orgs + used, orgs_cap - used, "%s%s", used ? ";" : "",
						 d->orgs[o].code);
		}
		memset(&row, 0, sizeof(row));
		row.person_id = identity_person_id(d->id, a->person);
		row.email = identity_person_email(d->id, a->person);
		row.name = identity_person_name(d->id, a->person);
		if (cq->pseudonym_key) {
			if (completions_pseudonym(pseudonym, cq->pseudonym_key, cq->pseudonym_key_len,
						  row.person_id) != 0) {
				rc = lr_error_set(err, LR_EINVAL, "the pseudonymisation key is unusable");
				goto out;
			}
			row.person_id = pseudonym;
			row.email = NULL;
			row.name = NULL;
		}
		row.course_id = d->courses[a->course].code;
		row.course_title = d->courses[a->course].title;
		row.first_completed_ms = a->first_ms;
		row.last_completed_ms = a->last_ms;
		row.completions = a->completions;
		row.success = a->passed ? "passed" : a->failed ? "failed" : "unknown";
		row.has_score = a->has_score;
		row.best_score_scaled = a->best;
		row.orgs = orgs;
		if ((rc = fn(ctx, &row)) != 0) {
			rc = rc < 0 ? rc : 0;
			goto out;
		}
	}
out:
	free(order);
	free(orgs);
	return rc;
}

int completions_each(struct store *s, struct lr_error *err, const struct completions_query *cq,
		     int (*fn)(void *ctx, const struct completion *row), void *ctx)
{
	struct derive d;
	int64_t course_id = 0, org_id = 0;
	int rc;

	memset(&d, 0, sizeof(d));
	if (cq->course && (rc = store_course_id(s, err, cq->course, &course_id)) != 0)
		return rc;
	if (cq->org && (rc = store_org_id(s, err, cq->org, &org_id)) != 0)
		return rc;
	d.index = strmap_new();
	if (!d.index) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory deriving completions");
		goto out;
	}
	if ((rc = identity_resolve(&d.id, err, s)) != 0 ||
	    (rc = load_courses(&d, err, store__db(s))) != 0 ||
	    (rc = gather(&d, err, store__db(s), cq, course_id, org_id)) != 0)
		goto out;
	rc = emit(&d, err, cq, fn, ctx);
out:
	derive_free(&d);
	return rc;
}

const char completions_csv_header[] =
	"person_id,email,name,course_id,course_title,first_completed_at,"
	"last_completed_at,completions,success,best_score_scaled,orgs\r\n";

/* Writes one CSV field, quoted when it needs to be (RFC 4180). */
static void csv_field(FILE *out, const char *text, int last)
{
	const char *p;

	if (text && text[strcspn(text, ",\"\r\n")]) {
		fputc('"', out);
		for (p = text; *p; p++) {
			if (*p == '"')
				fputc('"', out);
			fputc(*p, out);
		}
		fputc('"', out);
	} else if (text) {
		fputs(text, out);
	}
	fputs(last ? "\r\n" : ",", out);
}

static void format_score(char out[32], double score)
{
	snprintf(out, 32, "%.6g", score);
}

int completions_write_csv(FILE *out, const struct completion *row)
{
	char first[XTIME_MAX], last[XTIME_MAX], count[32], score[32];

	xtime_format(first, row->first_completed_ms);
	xtime_format(last, row->last_completed_ms);
	snprintf(count, sizeof(count), "%ld", row->completions);
	score[0] = '\0';
	if (row->has_score)
		format_score(score, row->best_score_scaled);
	csv_field(out, row->person_id, 0);
	csv_field(out, row->email, 0);
	csv_field(out, row->name, 0);
	csv_field(out, row->course_id, 0);
	csv_field(out, row->course_title, 0);
	csv_field(out, first, 0);
	csv_field(out, last, 0);
	csv_field(out, count, 0);
	csv_field(out, row->success, 0);
	csv_field(out, score, 0);
	csv_field(out, row->orgs, 1);
	return ferror(out) ? LR_EIO : 0;
}

int completions_write_json(FILE *out, const struct completion *row)
{
	char first[XTIME_MAX], last[XTIME_MAX];
	json_t *obj, *orgs;
	const char *p = row->orgs;
	int rc = 0;

	xtime_format(first, row->first_completed_ms);
	xtime_format(last, row->last_completed_ms);
	orgs = json_array();
	obj = json_object();
	if (!orgs || !obj)
		goto nomem;
	while (p && *p) {
		size_t len = strcspn(p, ";");
		if (json_array_append_new(orgs, json_stringn(p, len)) != 0)
			goto nomem;
		p += len;
		if (*p == ';')
			p++;
	}
	if (json_object_set_new(obj, "person_id", json_string(row->person_id)) ||
	    json_object_set_new(obj, "email", row->email ? json_string(row->email) : json_null()) ||
	    json_object_set_new(obj, "name", row->name ? json_string(row->name) : json_null()) ||
	    json_object_set_new(obj, "course_id", json_string(row->course_id)) ||
	    json_object_set_new(obj, "course_title", json_string(row->course_title)) ||
	    json_object_set_new(obj, "first_completed_at", json_string(first)) ||
	    json_object_set_new(obj, "last_completed_at", json_string(last)) ||
	    json_object_set_new(obj, "completions", json_integer(row->completions)) ||
	    json_object_set_new(obj, "success", json_string(row->success)) ||
	    json_object_set_new(obj, "best_score_scaled",
				row->has_score ? json_real(row->best_score_scaled) : json_null()) ||
	    json_object_set(obj, "orgs", orgs))
		goto nomem;
	if (json_dumpf(obj, out, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) != 0)
		rc = LR_EIO;
	goto out;
nomem:
	rc = LR_ENOMEM;
out:
	json_decref(obj);
	json_decref(orgs);
	return rc;
}
