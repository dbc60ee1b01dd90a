/*
 * completions.c: deriving completions (see completions.h).
 *
 * One indexed query walks the evidence on aliased course activities; rows are
 * aggregated in memory by (person, course) and sorted for output. The memory
 * used grows with the number of persons and courses, not with statements
 * (plus, for multi-SCO courses, one record per person, org and part done).
 *
 * Multi-SCO roll-up: when a course has an imported package structure with
 * more than one required part (SCO, or cmi5 AU whose moveOn is not
 * NotApplicable) for the statement's org (or for every org), a statement
 * about one part (its part_key is set, or its course key is a part's
 * activity IRI) is part evidence, not a completion of the course. A person
 * completes the course at an org when completing part evidence there covers
 * N distinct parts: a part key equal to a part's manifest identifier or
 * activity IRI counts as that part (once, whatever the key), any other part
 * key (Moodle's numeric scoid) counts as one part of its own. The time is
 * when the Nth distinct part was first completed.
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
	long org;               /* with by_org: the org (index into orgs) of this row, else -1 */
	int64_t first_ms, last_ms;
	long completions;
	int passed, failed, has_score;
	double best;
	size_t orgs_at;         /* offset of this row's org bits */
};

/* A course's structure for roll-up: the latest package imported for (course, org). */
struct structure {
	int64_t course_id;
	int64_t org_id;         /* 0: every org */
	int64_t package_id;
	long n_required;        /* distinct required parts */
};

/* A part completed by a person at an org, first at ts. */
struct part_done {
	long agg;
	long org;
	int64_t ts;
};

struct derive {
	struct identity *id;
	struct structure *structs;
	long n_structs;
	long *struct_of;        /* [course * (n_orgs + 1) + 1 + org], [.. + 0] every org; -1 none */
	struct strmap *parts;   /* (structure, 'i'|'a', key) -> slot * 2 + required */
	struct part_done *done;
	long n_done, cap_done;
	struct strmap *done_index; /* (agg, org, slot or key) -> index into done */
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
	"SELECT s.actor_id, ca.course_id, s.org_id, s.ts, s.completes, s.outcome, s.score,"
	" s.part_key, s.course_key"
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
	"  AND NOT EXISTS (SELECT 1 FROM statement v INDEXED BY statement_voids"
	"                  WHERE v.voids IS NOT NULL AND v.voids = s.id AND v.org_id = s.org_id"
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
	free(d->structs);
	free(d->struct_of);
	strmap_free(d->parts);
	free(d->done);
	strmap_free(d->done_index);
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

/* The key of a part in d->parts: structure index, a kind byte ('i' or 'a') and the text. */
static size_t part_key(char *buf, size_t size, long st, char kind, const char *text)
{
	size_t len = strlen(text);

	if (sizeof(st) + 1 + len > size)
		return 0;
	memcpy(buf, &st, sizeof(st));
	buf[sizeof(st)] = kind;
	memcpy(buf + sizeof(st) + 1, text, len);
	return sizeof(st) + 1 + len;
}

static int load_parts(struct derive *d, sqlite3 *db, long st)
{
	sqlite3_stmt *q = NULL;
	struct strmap *slots = strmap_new();
	int step, rc = 0;
	char key[4200];

	if (!slots)
		return LR_ENOMEM;
	if (sqlite3_prepare_v2(db, "SELECT identifier, activity_iri, required FROM package_part"
				   " WHERE package_id = ? AND is_part = 1 ORDER BY position", -1, &q,
			       NULL) != SQLITE_OK) {
		rc = LR_EDB;
		goto out;
	}
	sqlite3_bind_int64(q, 1, d->structs[st].package_id);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		const char *ident = (const char *)sqlite3_column_text(q, 0);
		const char *iri = (const char *)sqlite3_column_text(q, 1);
		int required = sqlite3_column_int(q, 2) != 0;
		int64_t slot = (int64_t)strmap_count(slots), value;
		size_t len;

		/* Duplicate identifiers are one part. */
		if (strmap_get(slots, ident, strlen(ident), &slot, 1) < 0) {
			rc = LR_ENOMEM;
			goto out;
		}
		value = slot * 2 + required;
		if ((len = part_key(key, sizeof(key), st, 'i', ident)) > 0 &&
		    strmap_get(d->parts, key, len, &value, 1) < 0) {
			rc = LR_ENOMEM;
			goto out;
		}
		value = slot * 2 + required;
		if (iri && (len = part_key(key, sizeof(key), st, 'a', iri)) > 0 &&
		    strmap_get(d->parts, key, len, &value, 1) < 0) {
			rc = LR_ENOMEM;
			goto out;
		}
	}
	if (step != SQLITE_DONE)
		rc = LR_EDB;
out:
	sqlite3_finalize(q);
	strmap_free(slots);
	return rc;
}

/* Loads the structures of courses with more than one required part. */
static int load_structures(struct derive *d, struct lr_error *err, sqlite3 *db)
{
	sqlite3_stmt *q = NULL;
	size_t width = (size_t)d->n_orgs + 1, i;
	int rc = 0, step;

	d->parts = strmap_new();
	d->done_index = strmap_new();
	d->struct_of = malloc((d->n_courses ? (size_t)d->n_courses : 1) * width * sizeof(long));
	if (!d->parts || !d->done_index || !d->struct_of)
		goto nomem;
	for (i = 0; i < (size_t)d->n_courses * width; i++)
		d->struct_of[i] = -1;
	if (sqlite3_prepare_v2(db,
			       "SELECT p.id, p.course_id, coalesce(p.org_id, 0) FROM package p"
			       " WHERE p.course_id IS NOT NULL AND p.id = (SELECT max(x.id) FROM package x"
			       "  WHERE x.course_id = p.course_id AND x.org_id IS p.org_id)"
			       " ORDER BY p.id", -1, &q, NULL) != SQLITE_OK)
		goto db_fail;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct structure *st = realloc(d->structs, (size_t)(d->n_structs + 1) * sizeof(*st));
		long course, org, at;
		int r;

		if (!st)
			goto nomem;
		d->structs = st;
		st = &d->structs[d->n_structs];
		st->package_id = sqlite3_column_int64(q, 0);
		st->course_id = sqlite3_column_int64(q, 1);
		st->org_id = sqlite3_column_int64(q, 2);
		st->n_required = 0;
		course = course_index(d, st->course_id);
		org = st->org_id ? org_index(d, st->org_id) : -1;
		if (course < 0 || (st->org_id && org < 0))
			continue;
		r = load_parts(d, db, d->n_structs);
		if (r == LR_ENOMEM)
			goto nomem;
		if (r != 0)
			goto db_fail;
		{
			/* Count the distinct required slots. */
			sqlite3_stmt *c = NULL;
			if (sqlite3_prepare_v2(db, "SELECT count(DISTINCT identifier) FROM package_part"
						   " WHERE package_id = ? AND is_part = 1 AND required = 1",
					       -1, &c, NULL) != SQLITE_OK)
				goto db_fail;
			sqlite3_bind_int64(c, 1, st->package_id);
			if (sqlite3_step(c) == SQLITE_ROW)
				st->n_required = sqlite3_column_int(c, 0);
			sqlite3_finalize(c);
		}
		at = course * (long)width + 1 + org;
		d->struct_of[at] = d->n_structs;
		d->n_structs++;
	}
	if (step != SQLITE_DONE)
		goto db_fail;
	goto out;
nomem:
	rc = lr_error_set(err, LR_ENOMEM, "out of memory deriving completions");
	goto out;
db_fail:
	rc = lr_error_set(err, LR_EDB, "reading course structures: %s", sqlite3_errmsg(db));
out:
	sqlite3_finalize(q);
	return rc;
}

/* The structure for evidence about course from org (an index into structs), or -1. */
static long structure_for(const struct derive *d, long course, long org)
{
	size_t width = (size_t)d->n_orgs + 1;
	long st = -1;

	if (org >= 0)
		st = d->struct_of[(size_t)course * width + 1 + (size_t)org];
	if (st < 0)
		st = d->struct_of[(size_t)course * width];
	return st >= 0 && d->structs[st].n_required > 1 ? st : -1;
}

/*
 * Classifies a row of evidence about a course with structure st: returns 0
 * for course-level evidence, 1 for part evidence (with *slot the matched
 * part, or -1 for an unmatched part key, and *required), -1 out of memory.
 */
static int classify(struct derive *d, long st, const char *part, const char *course_key,
		    int64_t *slot, int *required)
{
	char key[4200];
	int64_t value;
	size_t len;

	*slot = -1;
	*required = 1;
	if (part) {
		if (((len = part_key(key, sizeof(key), st, 'i', part)) > 0 &&
		     strmap_get(d->parts, key, len, &value, 0) == 1) ||
		    ((len = part_key(key, sizeof(key), st, 'a', part)) > 0 &&
		     strmap_get(d->parts, key, len, &value, 0) == 1)) {
			*slot = value / 2;
			*required = (int)(value % 2);
		}
		return 1;
	}
	if (course_key && (len = part_key(key, sizeof(key), st, 'a', course_key)) > 0 &&
	    strmap_get(d->parts, key, len, &value, 0) == 1) {
		*slot = value / 2;
		*required = (int)(value % 2);
		return 1;
	}
	return 0;
}

/* Records that person-course agg completed a part at org at ts (the earliest time is kept). */
static int part_completed(struct derive *d, long agg, long org, int64_t slot, const char *part,
			  int64_t ts)
{
	char key[4200];
	size_t len = 0, plen;
	int64_t at = d->n_done;
	int rc;

	memcpy(key, &agg, sizeof(agg));
	memcpy(key + sizeof(agg), &org, sizeof(org));
	len = sizeof(agg) + sizeof(org);
	if (slot >= 0) {
		key[len++] = 's';
		memcpy(key + len, &slot, sizeof(slot));
		len += sizeof(slot);
	} else {
		plen = strlen(part);
		if (plen > sizeof(key) - len - 1)
			plen = sizeof(key) - len - 1;
		key[len++] = 'k';
		memcpy(key + len, part, plen);
		len += plen;
	}
	rc = strmap_get(d->done_index, key, len, &at, 1);
	if (rc < 0)
		return LR_ENOMEM;
	if (rc == 1) {
		if (ts < d->done[at].ts)
			d->done[at].ts = ts;
		return 0;
	}
	if (d->n_done == d->cap_done) {
		long cap = d->cap_done ? d->cap_done * 2 : 256;
		struct part_done *done = realloc(d->done, (size_t)cap * sizeof(*done));
		if (!done)
			return LR_ENOMEM;
		d->done = done;
		d->cap_done = cap;
	}
	d->done[d->n_done].agg = agg;
	d->done[d->n_done].org = org;
	d->done[d->n_done].ts = ts;
	d->n_done++;
	return 0;
}

static int done_order(const void *pa, const void *pb)
{
	const struct part_done *a = pa, *b = pb;

	if (a->agg != b->agg)
		return a->agg < b->agg ? -1 : 1;
	if (a->org != b->org)
		return a->org < b->org ? -1 : 1;
	return a->ts < b->ts ? -1 : a->ts > b->ts;
}

static void add_completion(struct derive *d, struct agg *a, long org, int64_t ts)
{
	if (a->completions == 0 || ts < a->first_ms)
		a->first_ms = ts;
	if (a->completions == 0 || ts > a->last_ms)
		a->last_ms = ts;
	a->completions++;
	if (org >= 0)
		d->bits[a->orgs_at + (size_t)org / 64] |= 1ULL << (org % 64);
}

/* Each (person, course, org) whose parts done reach the structure's N completes the course. */
static void roll_up(struct derive *d)
{
	long i = 0, j;

	if (d->n_done == 0)
		return;
	qsort(d->done, (size_t)d->n_done, sizeof(*d->done), done_order);
	while (i < d->n_done) {
		struct agg *a = &d->aggs[d->done[i].agg];
		long st = structure_for(d, a->course, d->done[i].org);

		for (j = i; j < d->n_done && d->done[j].agg == d->done[i].agg &&
			    d->done[j].org == d->done[i].org; j++)
			;
		if (st >= 0 && j - i >= d->structs[st].n_required)
			add_completion(d, a, d->done[i].org, d->done[i + d->structs[st].n_required - 1].ts);
		i = j;
	}
}

static struct agg *agg_for(struct derive *d, long person, long course, long org)
{
	long key[3] = { person, course, org };
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
	a->org = org;
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
		long st;
		int is_part = 0, required = 1;
		int64_t slot = -1;

		if (person < 0 || course < 0)
			continue; /* an agent or course made after the identity was resolved */
		a = agg_for(d, person, course, cq->by_org ? org : -1);
		if (!a) {
			rc = lr_error_set(err, LR_ENOMEM, "out of memory deriving completions");
			goto out;
		}
		st = structure_for(d, course, org);
		if (st >= 0) {
			is_part = classify(d, st, (const char *)sqlite3_column_text(q, 7),
					   (const char *)sqlite3_column_text(q, 8), &slot, &required);
			if (is_part < 0) {
				rc = lr_error_set(err, LR_ENOMEM, "out of memory deriving completions");
				goto out;
			}
		}
		if (sqlite3_column_int(q, 4) && !is_part) {
			add_completion(d, a, org, ts);
		} else if (sqlite3_column_int(q, 4) && required &&
			   part_completed(d, (long)(a - d->aggs), org, slot,
					  (const char *)sqlite3_column_text(q, 7), ts) != 0) {
			rc = lr_error_set(err, LR_ENOMEM, "out of memory deriving completions");
			goto out;
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
	roll_up(d);
	goto out;
db_fail:
	rc = lr_error_set(err, LR_EDB, "reading evidence: %s", sqlite3_errmsg(db));
out:
	sqlite3_finalize(q);
	return rc;
}

/*
 * For sorting: the derive being sorted (qsort has no context argument). One
 * per thread: the server derives completions in several threads at once.
 */
static _Thread_local const struct derive *sorting;

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
	c = strcmp(identity_person_id(sorting->id, a->person),
		   identity_person_id(sorting->id, b->person));
	if (c != 0 || a->org == b->org)
		return c;
	if (a->org < 0 || b->org < 0)
		return a->org < b->org ? -1 : 1;
	return strcmp(sorting->orgs[a->org].code, sorting->orgs[b->org].code);
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
	    (rc = load_structures(&d, err, store__db(s))) != 0 ||
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

void completions_csv_field(FILE *out, const char *text, int last)
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
	completions_csv_field(out, row->person_id, 0);
	completions_csv_field(out, row->email, 0);
	completions_csv_field(out, row->name, 0);
	completions_csv_field(out, row->course_id, 0);
	completions_csv_field(out, row->course_title, 0);
	completions_csv_field(out, first, 0);
	completions_csv_field(out, last, 0);
	completions_csv_field(out, count, 0);
	completions_csv_field(out, row->success, 0);
	completions_csv_field(out, score, 0);
	completions_csv_field(out, row->orgs, 1);
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
