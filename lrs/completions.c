/*
 * completions.c: deriving completions (see completions.h).
 *
 * The evidence is read course key by course key (each key that has an
 * alias), from the course index alone, which holds every column read here;
 * rows are aggregated in memory by (person, course) in an open-addressing
 * table and sorted for output by ranks (course code, person, org code) that
 * are worked out once. The memory used grows with the number of persons and
 * courses, not with statements (plus, for multi-SCO courses, one record per
 * person, org and part done).
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
#include <pthread.h>
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

/* One output row in the making: 56 bytes, as one is touched per statement of evidence. */
struct agg {
	int64_t first_ms, last_ms;
	double best;
	uint64_t orgs;          /* orgs 0..63 that saw a completion; the rest in derive.bits */
	long person;
	int32_t course;         /* index into courses */
	int32_t org;            /* with by_org: the org (index into orgs) of this row, else -1 */
	int32_t completions;
	unsigned char passed, failed, has_score;
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
	long *org_at;           /* org row id -> index into orgs, -1 none */
	int64_t n_org_at;
	struct agg *aggs;
	long n_aggs, cap_aggs;
	uint64_t *bits;         /* with over 64 orgs: org_words - 1 more words of each agg */
	int32_t *slots;         /* open addressing: (person, course, org) -> agg, -1 empty */
	size_t n_slots;         /* a power of two, at least twice n_aggs */
	int by_agent;           /* aggs are by agent row id, not person, until fold_agents */
	long *person_rank;      /* NULL, or every person's place in output order */
	int64_t *voided;        /* seqs of voided statements, ascending */
	long n_voided;
};

/*
 * The evidence about one course key: every column it reads is in the course
 * index (schema 12), so this is a range of that index, not of the rows.
 */
static const char evidence_sql[] =
	"SELECT actor_id, org_id, ts, completes, outcome, score, part_key, seq"
	" FROM statement INDEXED BY statement_course"
	" WHERE course_key = ?1 AND actor_id IS NOT NULL AND actor_type = 'Agent'"
	"  AND (?2 IS NULL OR org_id = ?2)"
	"  AND (?3 IS NULL OR ts <= ?3)";

/* The course aliases, a key's aliases together. */
static const char aliases_sql[] = "SELECT key, org_id, course_id FROM course_alias ORDER BY key, org_id";

/*
 * The statements voided by their own org (in a snapshot, by a void made by
 * then), by seq: few, read once, then looked up for each row of evidence.
 */
static const char voided_sql[] =
	"SELECT t.seq FROM statement v INDEXED BY statement_voids"
	" JOIN statement t ON t.id = v.voids AND t.org_id = v.org_id"
	" WHERE v.voids IS NOT NULL AND (?1 IS NULL OR v.ts <= ?1)"
	" ORDER BY t.seq";

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
	free(d->org_at);
	free(d->aggs);
	free(d->bits);
	free(d->slots);
	free(d->voided);
	free(d->person_rank);
	free(d->structs);
	free(d->struct_of);
	strmap_free(d->parts);
	free(d->done);
	strmap_free(d->done_index);
}

static int load_courses(struct derive *d, struct lr_error *err, sqlite3 *db)
{
	sqlite3_stmt *q = NULL;
	int64_t i;
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
	/* Org row ids are small and dense: a table from id to org, unless one is not. */
	for (i = 0; i < d->n_orgs; i++)
		if (d->orgs[i].id >= d->n_org_at)
			d->n_org_at = d->orgs[i].id + 1;
	if (d->n_org_at <= 4 * (int64_t)d->n_orgs + 1024) {
		d->org_at = malloc((size_t)(d->n_org_at ? d->n_org_at : 1) * sizeof(*d->org_at));
		if (!d->org_at)
			goto nomem;
		for (i = 0; i < d->n_org_at; i++)
			d->org_at[i] = -1;
		for (i = 0; i < d->n_orgs; i++)
			if (d->orgs[i].id >= 0)
				d->org_at[d->orgs[i].id] = i;
	}
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

	if (d->org_at)
		return id >= 0 && id < d->n_org_at ? d->org_at[id] : -1;
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

/* The word of agg a's org bits that holds org's. */
static uint64_t *org_word(const struct derive *d, struct agg *a, long org)
{
	if (org < 64)
		return &a->orgs;
	return &d->bits[(size_t)(a - d->aggs) * (d->org_words - 1) + (size_t)org / 64 - 1];
}

static void add_completion(struct derive *d, struct agg *a, long org, int64_t ts)
{
	if (a->completions == 0 || ts < a->first_ms)
		a->first_ms = ts;
	if (a->completions == 0 || ts > a->last_ms)
		a->last_ms = ts;
	a->completions++;
	if (org >= 0)
		*org_word(d, a, org) |= 1ULL << (org % 64);
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

static size_t agg_hash(long person, long course, long org)
{
	uint64_t h = (uint64_t)person * 0x9E3779B97F4A7C15ULL;

	h ^= (uint64_t)course * 0xC2B2AE3D27D4EB4FULL + (uint64_t)(org + 1);
	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9ULL;
	return (size_t)(h ^ (h >> 32));
}

/* Doubles the agg table, placing every agg again. */
static int grow_slots(struct derive *d)
{
	size_t n = d->n_slots ? d->n_slots * 2 : 4096, i;
	int32_t *slots = malloc(n * sizeof(*slots));

	if (!slots)
		return LR_ENOMEM;
	for (i = 0; i < n; i++)
		slots[i] = -1;
	for (i = 0; i < (size_t)d->n_aggs; i++) {
		const struct agg *a = &d->aggs[i];
		size_t at = agg_hash(a->person, a->course, a->org) & (n - 1);
		while (slots[at] >= 0)
			at = (at + 1) & (n - 1);
		slots[at] = (int32_t)i;
	}
	free(d->slots);
	d->slots = slots;
	d->n_slots = n;
	return 0;
}

static struct agg *agg_for(struct derive *d, long person, long course, long org)
{
	struct agg *a;
	size_t at;

	if ((size_t)d->n_aggs * 2 >= d->n_slots && (d->n_aggs >= INT32_MAX || grow_slots(d) != 0))
		return NULL;
	at = agg_hash(person, course, org) & (d->n_slots - 1);
	while (d->slots[at] >= 0) {
		a = &d->aggs[d->slots[at]];
		if (a->person == person && a->course == course && a->org == org)
			return a;
		at = (at + 1) & (d->n_slots - 1);
	}
	if (d->n_aggs == d->cap_aggs) {
		long cap = d->cap_aggs ? d->cap_aggs * 2 : 1024;
		struct agg *aggs = realloc(d->aggs, (size_t)cap * sizeof(*aggs));
		uint64_t *bits;
		if (!aggs)
			return NULL;
		d->aggs = aggs;
		if (d->org_words > 1) {
			bits = realloc(d->bits, (size_t)cap * (d->org_words - 1) * sizeof(*bits));
			if (!bits)
				return NULL;
			d->bits = bits;
		}
		d->cap_aggs = cap;
	}
	d->slots[at] = (int32_t)d->n_aggs;
	a = &d->aggs[d->n_aggs];
	memset(a, 0, sizeof(*a));
	a->person = person;
	a->course = (int32_t)course;
	a->org = (int32_t)org;
	if (d->org_words > 1)
		memset(d->bits + (size_t)d->n_aggs * (d->org_words - 1), 0,
		       (d->org_words - 1) * sizeof(*d->bits));
	d->n_aggs++;
	return a;
}

static int load_voided(struct derive *d, struct lr_error *err, sqlite3 *db,
		       const struct completions_query *cq)
{
	sqlite3_stmt *q = NULL;
	long cap = 0;
	int rc = 0, step;

	if (sqlite3_prepare_v2(db, voided_sql, -1, &q, NULL) != SQLITE_OK)
		goto db_fail;
	if (cq->has_until)
		sqlite3_bind_int64(q, 1, cq->until_ms);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		if (d->n_voided == cap) {
			long more = cap ? cap * 2 : 64;
			int64_t *grown = realloc(d->voided, (size_t)more * sizeof(*grown));
			if (!grown) {
				rc = lr_error_set(err, LR_ENOMEM, "out of memory deriving completions");
				goto out;
			}
			d->voided = grown;
			cap = more;
		}
		d->voided[d->n_voided++] = sqlite3_column_int64(q, 0);
	}
	if (step == SQLITE_DONE)
		goto out;
db_fail:
	rc = lr_error_set(err, LR_EDB, "reading voided statements: %s", sqlite3_errmsg(db));
out:
	sqlite3_finalize(q);
	return rc;
}

static int int64_order(const void *pa, const void *pb)
{
	int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;

	return a < b ? -1 : a > b;
}

static int is_voided(const struct derive *d, int64_t seq)
{
	return bsearch(&seq, d->voided, (size_t)d->n_voided, sizeof(*d->voided), int64_order) != NULL;
}

/* Adds the evidence of the statements with course key; course_of[org] is its course there. */
static int gather_key(struct derive *d, sqlite3_stmt *q, const char *key, const long *course_of,
		      const struct completions_query *cq)
{
	int step;

	sqlite3_reset(q);
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		long person = d->by_agent ? (long)sqlite3_column_int64(q, 0)
					  : identity_person_of(d->id, sqlite3_column_int64(q, 0));
		long org = org_index(d, sqlite3_column_int64(q, 1));
		long course = org >= 0 ? course_of[org] : -1;
		int64_t ts = sqlite3_column_int64(q, 2);
		struct agg *a;
		long st;
		int is_part = 0, required = 1;
		int64_t slot = -1;

		if (person < 0 || course < 0)
			continue; /* an agent or org made after the identity was resolved, or not this course */
		if (d->n_voided && is_voided(d, sqlite3_column_int64(q, 7)))
			continue;
		a = agg_for(d, person, course, cq->by_org ? org : -1);
		if (!a)
			return LR_ENOMEM;
		st = structure_for(d, course, org);
		if (st >= 0) {
			is_part = classify(d, st, (const char *)sqlite3_column_text(q, 6), key, &slot,
					   &required);
			if (is_part < 0)
				return LR_ENOMEM;
		}
		if (sqlite3_column_int(q, 3) && !is_part) {
			add_completion(d, a, org, ts);
		} else if (sqlite3_column_int(q, 3) && required &&
			   part_completed(d, (long)(a - d->aggs), org, slot,
					  (const char *)sqlite3_column_text(q, 6), ts) != 0) {
			return LR_ENOMEM;
		}
		if (sqlite3_column_type(q, 4) != SQLITE_NULL) {
			if (sqlite3_column_int(q, 4))
				a->passed = 1;
			else
				a->failed = 1;
		}
		if (sqlite3_column_type(q, 5) != SQLITE_NULL) {
			double score = sqlite3_column_double(q, 5);
			if (!a->has_score || score > a->best)
				a->best = score;
			a->has_score = 1;
		}
	}
	return step == SQLITE_DONE ? 0 : LR_EDB;
}

/*
 * Walks the evidence course key by course key. Which course a statement is
 * evidence for depends on its key and its org: the org's own alias of the
 * key, else the alias for every org (org 0). That is worked out once a key
 * for every org, then each statement with the key costs an array lookup.
 */
static int gather(struct derive *d, struct lr_error *err, sqlite3 *db,
		  const struct completions_query *cq, int64_t course_id, int64_t org_id)
{
	sqlite3_stmt *aliases = NULL, *q = NULL;
	long *course_of = malloc(((size_t)d->n_orgs + 1) * sizeof(*course_of)), every = -1, o;
	char *key = NULL;
	int rc = 0, step;

	if (!course_of)
		goto nomem;
	if (sqlite3_prepare_v2(db, aliases_sql, -1, &aliases, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, evidence_sql, -1, &q, NULL) != SQLITE_OK)
		goto db_fail;
	if (org_id > 0)
		sqlite3_bind_int64(q, 2, org_id);
	if (cq->has_until)
		sqlite3_bind_int64(q, 3, cq->until_ms);
	for (o = 0; o < d->n_orgs; o++)
		course_of[o] = -2; /* no alias of its own (yet) */
	for (;;) {
		const char *next = NULL;
		int64_t alias_org = 0;
		long course = -1;

		step = sqlite3_step(aliases);
		if (step == SQLITE_ROW) {
			next = (const char *)sqlite3_column_text(aliases, 0);
			alias_org = sqlite3_column_int64(aliases, 1);
			course = course_index(d, sqlite3_column_int64(aliases, 2));
			if (course >= 0 && course_id > 0 && d->courses[course].id != course_id)
				course = -1; /* evidence for another course than the one asked for */
		} else if (step != SQLITE_DONE) {
			goto db_fail;
		}
		if (key && (!next || strcmp(next, key) != 0)) {
			int used = 0;
			for (o = 0; o < d->n_orgs; o++) {
				if (course_of[o] == -2)
					course_of[o] = every;
				if (course_of[o] >= 0)
					used = 1;
			}
			if (used && (rc = gather_key(d, q, key, course_of, cq)) != 0)
				goto fail;
			for (o = 0; o < d->n_orgs; o++)
				course_of[o] = -2;
			every = -1;
			free(key);
			key = NULL;
		}
		if (!next)
			break;
		if (!key && !(key = strdup(next)))
			goto nomem;
		if (alias_org == 0) {
			every = course;
		} else if ((o = org_index(d, alias_org)) >= 0) {
			course_of[o] = course;
		}
	}
	roll_up(d);
	goto out;
fail:
	if (rc == LR_ENOMEM)
		goto nomem;
db_fail:
	rc = lr_error_set(err, LR_EDB, "reading evidence: %s", sqlite3_errmsg(db));
	goto out;
nomem:
	rc = lr_error_set(err, LR_ENOMEM, "out of memory deriving completions");
out:
	free(key);
	free(course_of);
	sqlite3_finalize(aliases);
	sqlite3_finalize(q);
	return rc;
}

/*
 * Output order: course code, then the person's email (persons without one
 * last), then person id, then (by_org) org code. Courses, persons and orgs
 * are ranked once each; the rows are then sorted by three integers, without
 * touching a string (a string comparison per row pair was a third of the
 * output's time over a million statements).
 */
struct sort_key {
	long course, person, org, agg;
};

/*
 * A person to rank: persons with an email first, in email order, then the
 * rest in id order. The text's first 16 bytes, as two big-endian integers,
 * decide most comparisons without reading the text itself.
 */
struct person_key {
	uint64_t group_prefix, prefix2;
	const char *text;
	long person;
};

static uint64_t big_endian(const char *text, size_t len, size_t from)
{
	uint64_t v = 0;
	size_t i;

	for (i = from; i < from + 8; i++)
		v = v << 8 | (i < len ? (unsigned char)text[i] : 0);
	return v;
}

static int person_key_order(const void *pa, const void *pb)
{
	const struct person_key *a = pa, *b = pb;
	int c;

	if (a->group_prefix != b->group_prefix)
		return a->group_prefix < b->group_prefix ? -1 : 1;
	if (a->prefix2 != b->prefix2)
		return a->prefix2 < b->prefix2 ? -1 : 1;
	if (a->text && b->text && (c = strcmp(a->text, b->text)) != 0)
		return c;
	return a->person < b->person ? -1 : a->person > b->person;
}

/*
 * rank[p] is the place of person p among the persons marked in used (all
 * when used is NULL), in output order (email, persons without one last;
 * then person id).
 */
static int rank_persons(long **out, const struct identity *id, const unsigned char *used)
{
	long n = identity_person_count(id), i, m = 0;
	struct person_key *keys = malloc((size_t)(n ? n : 1) * sizeof(*keys));
	long *rank = malloc((size_t)(n ? n : 1) * sizeof(*rank));

	if (!keys || !rank) {
		free(keys);
		free(rank);
		return LR_ENOMEM;
	}
	for (i = 0; i < n; i++) {
		const char *email = identity_person_email(id, i);
		size_t len;
		rank[i] = -1;
		if (used && !used[i])
			continue;
		keys[m].person = i;
		keys[m].text = email;
		if (!email) {
			/* After every email, by id: the number its hex digits spell orders ids. */
			uint64_t number = identity_person_number(id, i);
			keys[m].group_prefix = 1ULL << 63 | number >> 1;
			keys[m].prefix2 = (number & 1) << 63;
			m++;
			continue;
		}
		len = strlen(email);
		keys[m].group_prefix = big_endian(email, len, 0) >> 1;
		keys[m].prefix2 = (big_endian(email, len, 0) & 1) << 63 | big_endian(email, len, 8) >> 1;
		m++;
	}
	qsort(keys, (size_t)m, sizeof(*keys), person_key_order);
	for (i = 0; i < m; i++)
		rank[keys[i].person] = i;
	free(keys);
	*out = rank;
	return 0;
}

static _Thread_local const struct course_info *ranking_courses;

static int course_order(const void *pa, const void *pb)
{
	return strcmp(ranking_courses[*(const long *)pa].code, ranking_courses[*(const long *)pb].code);
}

static int key_order(const void *pa, const void *pb)
{
	const struct sort_key *a = pa, *b = pb;

	if (a->course != b->course)
		return a->course < b->course ? -1 : 1;
	if (a->person != b->person)
		return a->person < b->person ? -1 : 1;
	return a->org < b->org ? -1 : a->org > b->org; /* orgs are loaded in code order */
}

/*
 * rank[i] is the place of i among the items of 0..n-1 marked in used (all
 * when used is NULL) in the order of cmp, which reads a long item number.
 */
static int rank_items(long **out, long n, const unsigned char *used,
		      int (*cmp)(const void *, const void *))
{
	long *items = malloc((size_t)(n ? n : 1) * sizeof(*items));
	long *rank = malloc((size_t)(n ? n : 1) * sizeof(*rank));
	long i, m = 0;

	if (!items || !rank) {
		free(items);
		free(rank);
		return LR_ENOMEM;
	}
	for (i = 0; i < n; i++) {
		rank[i] = -1;
		if (!used || used[i])
			items[m++] = i;
	}
	qsort(items, (size_t)m, sizeof(*items), cmp);
	for (i = 0; i < m; i++)
		rank[items[i]] = i;
	free(items);
	*out = rank;
	return 0;
}

/* The bits needed for the values 0..max. */
static int bits_for(uint64_t max)
{
	int b = 0;

	while (max) {
		b++;
		max >>= 1;
	}
	return b;
}

/*
 * Sorts keys by (course, person, org) as one packed integer, by LSD radix
 * sort in 11-bit digits (as many as the packed width needs), stable. 0, or
 * -1 when the key does not fit in 64 bits or memory is short (then qsort).
 */
struct packed_key {
	uint64_t key;
	long at;
};

static int radix_sort_keys(struct sort_key *keys, long n, long n_courses, long n_persons, long n_orgs)
{
	int pb = bits_for((uint64_t)(n_persons > 0 ? n_persons : 1)),
	    ob = bits_for((uint64_t)n_orgs + 1), cb = bits_for((uint64_t)(n_courses > 0 ? n_courses : 1));
	struct packed_key *a, *b, *t;
	struct sort_key *copy;
	int shift, width = pb + ob + cb;
	long i;

	if (width > 64)
		return -1;
	a = malloc((size_t)(n ? n : 1) * sizeof(*a));
	b = malloc((size_t)(n ? n : 1) * sizeof(*b));
	copy = malloc((size_t)(n ? n : 1) * sizeof(*copy));
	if (!a || !b || !copy) {
		free(a);
		free(b);
		free(copy);
		return -1;
	}
	for (i = 0; i < n; i++) {
		a[i].key = (uint64_t)keys[i].course << (pb + ob) | (uint64_t)keys[i].person << ob |
			   (uint64_t)(keys[i].org + 1);
		a[i].at = i;
	}
	for (shift = 0; shift < width; shift += 11) {
		long count[2048] = { 0 }, sum = 0;
		for (i = 0; i < n; i++)
			count[(a[i].key >> shift) & 2047]++;
		for (i = 0; i < 2048; i++) {
			long c = count[i];
			count[i] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			b[count[(a[i].key >> shift) & 2047]++] = a[i];
		t = a;
		a = b;
		b = t;
	}
	memcpy(copy, keys, (size_t)n * sizeof(*keys));
	for (i = 0; i < n; i++)
		keys[i] = copy[a[i].at];
	free(a);
	free(b);
	free(copy);
	return 0;
}

/* Folds agg b into agg a (the same person, course and org). */
static void merge_agg(struct derive *d, struct agg *a, struct agg *b)
{
	size_t w;

	if (b->completions) {
		if (!a->completions || b->first_ms < a->first_ms)
			a->first_ms = b->first_ms;
		if (!a->completions || b->last_ms > a->last_ms)
			a->last_ms = b->last_ms;
		a->completions += b->completions;
	}
	a->passed |= b->passed;
	a->failed |= b->failed;
	if (b->has_score && (!a->has_score || b->best > a->best))
		a->best = b->best;
	a->has_score |= b->has_score;
	a->orgs |= b->orgs;
	for (w = 1; w < d->org_words; w++)
		*org_word(d, a, (long)w * 64) |= *org_word(d, b, (long)w * 64);
}

/*
 * The rows to write (completed, and since cq->since), in output order, as
 * agg numbers. Aggs of one (person, course, org) come together in that
 * order; when the evidence was gathered by agent, several do, and are
 * folded into the first.
 */
static int order_rows(struct derive *d, const struct completions_query *cq, long **out, long *n_out)
{
	long n_persons = identity_person_count(d->id);
	unsigned char *used = calloc((size_t)(n_persons ? n_persons : 1), 1);
	long *person_rank = NULL, *course_rank = NULL, *order = NULL;
	struct sort_key *keys = malloc((size_t)(d->n_aggs ? d->n_aggs : 1) * sizeof(*keys));
	long i, j, n = 0, m = 0;
	int rc = LR_ENOMEM;

	if (!used || !keys)
		goto out;
	/* Only a person with a completion somewhere can have a row. */
	for (i = 0; i < d->n_aggs; i++)
		if (d->aggs[i].person >= 0 && d->aggs[i].completions)
			used[d->aggs[i].person] = 1;
	if (d->person_rank) {
		person_rank = d->person_rank; /* every person, ranked beside the gathering */
		d->person_rank = NULL;
	} else if ((rc = rank_persons(&person_rank, d->id, used)) != 0) {
		goto out;
	}
	ranking_courses = d->courses;
	rc = rank_items(&course_rank, d->n_courses, NULL, course_order);
	ranking_courses = NULL;
	if (rc != 0)
		goto out;
	for (i = 0; i < d->n_aggs; i++) {
		const struct agg *a = &d->aggs[i];
		if (a->person < 0 || !used[a->person])
			continue;
		keys[n].person = person_rank[a->person];
		keys[n].course = course_rank[a->course];
		keys[n].org = a->org;
		keys[n].agg = i;
		n++;
	}
	if (radix_sort_keys(keys, n, d->n_courses, n_persons, d->n_orgs) != 0)
		qsort(keys, (size_t)n, sizeof(*keys), key_order);
	rc = LR_ENOMEM;
	order = malloc((size_t)(n ? n : 1) * sizeof(*order));
	if (!order)
		goto out;
	for (i = 0; i < n; i = j) {
		struct agg *a = &d->aggs[keys[i].agg];
		for (j = i + 1; j < n && keys[j].course == keys[i].course &&
				keys[j].person == keys[i].person && keys[j].org == keys[i].org; j++)
			merge_agg(d, a, &d->aggs[keys[j].agg]);
		if (a->completions == 0 || (cq->has_since && a->first_ms < cq->since_ms))
			continue;
		order[m++] = keys[i].agg;
	}
	*out = order;
	*n_out = m;
	rc = 0;
out:
	free(used);
	free(person_rank);
	free(course_rank);
	free(keys);
	return rc;
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
	long *order = NULL;
	char *orgs = NULL;
	size_t orgs_cap = 1;
	long i, n = 0, o;
	int rc = 0;

	for (o = 0; o < d->n_orgs; o++)
		orgs_cap += strlen(d->orgs[o].code) + 1;
	orgs = malloc(orgs_cap);
	if (!orgs || order_rows(d, cq, &order, &n) != 0) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory deriving completions");
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct agg *a = &d->aggs[order[i]];
		struct completion row;
		char pseudonym[65], person_id[IDENTITY_PERSON_ID_LEN + 1];
		size_t used = 0;

		orgs[0] = '\0';
		for (o = 0; o < d->n_orgs; o++) {
			size_t len;
			if (!(*org_word(d, a, o) & (1ULL << (o % 64))))
				continue;
			if (used)
				orgs[used++] = ';';
			len = strlen(d->orgs[o].code);
			memcpy(orgs + used, d->orgs[o].code, len + 1);
			used += len;
		}
		memset(&row, 0, sizeof(row));
		row.person_id = identity_person_id(d->id, a->person, person_id);
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

/*
 * Resolving persons (about a third of a derivation) needs nothing the
 * evidence does, so it runs in a thread of its own, from a connection of
 * its own, while the evidence is gathered by agent; then each agent's rows
 * are given its person (fold_agents) and the rows of one person are folded
 * together when they are sorted (order_rows). A statement whose agent the
 * resolution did not see (stored in between) is left out, as it would be
 * if it had been stored after the derivation began.
 */
struct resolver {
	pthread_t thread;
	struct store *reader;
	struct identity *id;
	long *person_rank;      /* every person ranked, or NULL (then order_rows ranks) */
	struct lr_error err;
	int rc;
};

static void *resolve_in_thread(void *arg)
{
	struct resolver *r = arg;

	lr_error_clear(&r->err);
	r->rc = identity_resolve(&r->id, &r->err, r->reader);
	/* The gathering takes longer: rank every person meanwhile (no memory: order_rows will). */
	if (r->rc == 0 && rank_persons(&r->person_rank, r->id, NULL) != 0)
		r->person_rank = NULL;
	return NULL;
}

/* 0 with the thread started; otherwise (a store in memory, no thread) resolve here. */
static int start_resolver(struct resolver *r, struct store *s)
{
	memset(r, 0, sizeof(*r));
	if (store_open_reader(&r->reader, &r->err, s) != 0)
		return -1;
	if (pthread_create(&r->thread, NULL, resolve_in_thread, r) != 0) {
		store_close(r->reader);
		return -1;
	}
	return 0;
}

static int finish_resolver(struct resolver *r, struct derive *d)
{
	pthread_join(r->thread, NULL);
	store_close(r->reader);
	d->id = r->id;
	d->person_rank = r->person_rank;
	return r->rc;
}

/* Whether any course has a structure to roll parts up by (then evidence is gathered by person). */
static int has_rollup(const struct derive *d)
{
	long i;

	for (i = 0; i < d->n_structs; i++)
		if (d->structs[i].n_required > 1)
			return 1;
	return 0;
}

/* Gives each agg gathered by agent that agent's person (-1: an agent the resolution did not see). */
static void fold_agents(struct derive *d)
{
	long i;

	for (i = 0; i < d->n_aggs; i++)
		d->aggs[i].person = identity_person_of(d->id, d->aggs[i].person);
	d->by_agent = 0;
}

int completions_each(struct store *s, struct lr_error *err, const struct completions_query *cq,
		     int (*fn)(void *ctx, const struct completion *row), void *ctx)
{
	struct derive d;
	struct resolver r;
	int64_t course_id = 0, org_id = 0;
	int rc, rrc;

	memset(&d, 0, sizeof(d));
	if (cq->course && (rc = store_course_id(s, err, cq->course, &course_id)) != 0)
		return rc;
	if (cq->org && (rc = store_org_id(s, err, cq->org, &org_id)) != 0)
		return rc;
	if ((rc = load_courses(&d, err, store__db(s))) != 0 ||
	    (rc = load_structures(&d, err, store__db(s))) != 0 ||
	    (rc = load_voided(&d, err, store__db(s), cq)) != 0)
		goto out;
	if (!has_rollup(&d) && start_resolver(&r, s) == 0) {
		/* Two cores: persons resolved in a thread, evidence gathered by agent here. */
		d.by_agent = 1;
		rc = gather(&d, err, store__db(s), cq, course_id, org_id);
		if ((rrc = finish_resolver(&r, &d)) != 0 && rc == 0) {
			*err = r.err;
			rc = rrc;
		}
		if (rc != 0)
			goto out;
		fold_agents(&d);
	} else if ((rc = identity_resolve(&d.id, err, s)) != 0 ||
		   (rc = gather(&d, err, store__db(s), cq, course_id, org_id)) != 0) {
		goto out;
	}
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

/* Whether a CSV field must be quoted; its length in *len. */
static int csv_needs_quotes(const char *text, size_t *len)
{
	const char *p;
	int quote = 0;

	for (p = text; *p; p++)
		if (*p == ',' || *p == '"' || *p == '\r' || *p == '\n')
			quote = 1;
	*len = (size_t)(p - text);
	return quote;
}

/* Appends a CSV field to line (as completions_csv_field writes it); 0, or -1 if it does not fit. */
static int csv_put(char *line, size_t size, size_t *used, const char *text, int last)
{
	size_t at = *used, len = 0;
	const char *p;

	if (text && csv_needs_quotes(text, &len)) {
		if (at + 1 > size)
			return -1;
		line[at++] = '"';
		for (p = text; *p; p++) {
			if (at + 2 > size)
				return -1;
			if (*p == '"')
				line[at++] = '"';
			line[at++] = *p;
		}
		if (at + 1 > size)
			return -1;
		line[at++] = '"';
	} else if (text) {
		if (at + len > size)
			return -1;
		memcpy(line + at, text, len);
		at += len;
	}
	if (at + 2 > size)
		return -1;
	if (last) {
		line[at++] = '\r';
		line[at++] = '\n';
	} else {
		line[at++] = ',';
	}
	*used = at;
	return 0;
}

int completions_write_csv(FILE *out, const struct completion *row)
{
	char first[XTIME_MAX], last[XTIME_MAX], count[32], score[32];
	const char *field[11];
	char line[2048];
	size_t used = 0, i;

	xtime_format(first, row->first_completed_ms);
	xtime_format(last, row->last_completed_ms);
	snprintf(count, sizeof(count), "%ld", row->completions);
	score[0] = '\0';
	if (row->has_score)
		format_score(score, row->best_score_scaled);
	field[0] = row->person_id;
	field[1] = row->email;
	field[2] = row->name;
	field[3] = row->course_id;
	field[4] = row->course_title;
	field[5] = first;
	field[6] = last;
	field[7] = count;
	field[8] = row->success;
	field[9] = score;
	field[10] = row->orgs;
	/* A row is written at once (one stdio call, not one per field) unless it is long. */
	for (i = 0; i < 11; i++)
		if (csv_put(line, sizeof(line), &used, field[i], i == 10) != 0)
			break;
	if (i == 11)
		fwrite(line, 1, used, out);
	else
		for (i = 0; i < 11; i++)
			completions_csv_field(out, field[i], i == 10);
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
