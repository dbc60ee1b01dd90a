/*
 * reports.c: coverage, trend and the Power BI export (see reports.h and
 * docs/reports.md).
 *
 * Everything starts from the same facts: the completions engine run once
 * with by_org, giving per person and org the first time that org's data
 * alone shows a completion. A person's
 * system-wide first completion is the earliest of its orgs' (the engine's
 * evidence for all orgs is the union of each org's), and a sector's is the
 * earliest of the sector's orgs'. Persons are matched across orgs by their
 * resolved person id, so identity links apply.
 */
#include "reports.h"
#include "completions.h"
#include "error.h"
#include "hash.h"
#include "store.h"
#include "strmap.h"
#include "workforce.h"
#include "xtime.h"

#include <jansson.h>
#include <sqlite3.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY_MS 86400000LL
#define MONTH_DAYS 30.436875 /* the mean Gregorian month: 365.2425 / 12 */

/* ---- dates (proleptic Gregorian, days since 1970-01-01) ---- */

/* The calendar from lrs/xtime.h, with years that fit an int. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	return xtime_days_from_civil(y, m, d);
}

static void civil_from_days(int64_t days, int *y, int *m, int *d)
{
	int64_t year;

	xtime_civil_from_days(days, &year, m, d);
	*y = (int)year;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int64_t day_of_ms(int64_t ms)
{
	return floor_div(ms, DAY_MS);
}

/* "YYYY-MM-DD" (valid) to days. */
static int64_t date_days(const char *text)
{
	return days_from_civil(atoi(text), atoi(text + 5), atoi(text + 8));
}

static void format_day(char out[11], int64_t days)
{
	int y, m, d;

	civil_from_days(days, &y, &m, &d);
	snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
}

static int month_length(int y, int m)
{
	static const int len[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return len[m - 1] + (m == 2 && leap);
}

/* The same day of the month n months earlier (clamped to the month's end). */
static int64_t months_before(int64_t days, int n)
{
	int y, m, d;
	int64_t idx;

	civil_from_days(days, &y, &m, &d);
	idx = (int64_t)y * 12 + (m - 1) - n;
	y = (int)floor_div(idx, 12);
	m = (int)(idx - (int64_t)y * 12) + 1;
	if (d > month_length(y, m))
		d = month_length(y, m);
	return days_from_civil(y, m, d);
}

/* ISO 8601 day of week, 1 (Monday) to 7 (Sunday). */
static int iso_weekday(int64_t days)
{
	return (int)(floor_div(days + 3, 7) * -7 + days + 3) + 1;
}

/* The ISO week-numbering year and week of a day. */
static void iso_week(int64_t days, int *out_year, int *out_week)
{
	int y, m, d;
	int64_t thursday = days - iso_weekday(days) + 4, jan1;

	civil_from_days(thursday, &y, &m, &d);
	jan1 = days_from_civil(y, 1, 1);
	*out_year = y;
	*out_week = (int)((thursday - jan1) / 7) + 1;
}

static double round_to(double x, double unit)
{
	return round(x / unit) * unit;
}

static void today(char out[11])
{
	format_day(out, day_of_ms(xtime_now_ms()));
}

/* ---- parsing options ---- */

int reports_target_parse(struct reports_target *out, struct lr_error *err, const char *text)
{
	const char *c1 = strchr(text, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	char num[32], pop[32];
	char *end;
	double f;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (!c1 || !c2 || (size_t)(c1 - text) >= sizeof(num) || (size_t)(c2 - c1 - 1) >= sizeof(pop))
		return lr_error_set(err, LR_EINVAL,
				    "target '%.80s': use FRACTION:all|frontline:YYYY-MM-DD, "
				    "e.g. 0.9:frontline:2028-03-31", text);
	len = (size_t)(c1 - text);
	memcpy(num, text, len);
	num[len] = '\0';
	memcpy(pop, c1 + 1, (size_t)(c2 - c1 - 1));
	pop[c2 - c1 - 1] = '\0';
	errno = 0;
	f = strtod(num, &end);
	if (end != num && *end == '%' && end[1] == '\0') {
		f /= 100;
		end++;
	}
	if (errno || end == num || *end || !(f > 0 && f <= 1))
		return lr_error_set(err, LR_EINVAL,
				    "target '%.80s': the fraction '%s' is not in (0, 1] (or 1%% to 100%%)",
				    text, num);
	if (strcmp(pop, "all") == 0)
		out->population = REPORTS_ALL;
	else if (strcmp(pop, "frontline") == 0)
		out->population = REPORTS_FRONTLINE;
	else
		return lr_error_set(err, LR_EINVAL,
				    "target '%.80s': the population '%s' is not all or frontline", text,
				    pop);
	if (!workforce_date_valid(c2 + 1))
		return lr_error_set(err, LR_EINVAL, "target '%.80s': '%s' is not a date (YYYY-MM-DD)",
				    text, c2 + 1);
	out->fraction = f;
	memcpy(out->date, c2 + 1, 11);
	return 0;
}

int reports_period_parse(enum reports_period *out, struct lr_error *err, const char *text)
{
	if (strcmp(text, "month") == 0)
		*out = REPORTS_MONTH;
	else if (strcmp(text, "week") == 0)
		*out = REPORTS_WEEK;
	else
		return lr_error_set(err, LR_EINVAL, "'%.40s' is not a period: use month or week", text);
	return 0;
}

int reports_format_parse(enum reports_format *out, struct lr_error *err, const char *text)
{
	if (strcmp(text, "table") == 0)
		*out = REPORTS_TABLE;
	else if (strcmp(text, "csv") == 0)
		*out = REPORTS_CSV;
	else if (strcmp(text, "json") == 0)
		*out = REPORTS_JSON;
	else
		return lr_error_set(err, LR_EINVAL, "'%.40s' is not a format: use table, csv or json",
				    text);
	return 0;
}

/* ---- facts ---- */

struct org_row {
	char *code, *name, *sector;
	long headcount, frontline;       /* -1 unknown */
	char *headcount_as_of;
	long sector_index;               /* into facts.sectors, -1 none */
};

/* One person's completion of one course as shown by one org's data. */
struct fact {
	long person;
	long org;
	long course;                     /* into facts.courses */
	int64_t first_ms;
	long completions;
	const char *success;             /* a static string */
	int has_score;
	double best;
};

struct facts {
	struct org_row *orgs;
	long n_orgs;
	char **sectors;                  /* distinct sectors, sorted */
	long n_sectors;
	struct strmap *persons;          /* person id -> index */
	const char **person_ids;         /* borrowed from the map */
	long n_persons;
	struct strmap *courses;
	const char **course_ids;
	char **course_titles;            /* n_titles of them (n_courses once complete) */
	long n_courses, n_titles;
	struct fact *v;
	long n, cap;
};

static void facts_free(struct facts *f)
{
	long i;

	for (i = 0; i < f->n_orgs; i++) {
		free(f->orgs[i].code);
		free(f->orgs[i].name);
		free(f->orgs[i].sector);
		free(f->orgs[i].headcount_as_of);
	}
	free(f->orgs);
	for (i = 0; i < f->n_sectors; i++)
		free(f->sectors[i]);
	free(f->sectors);
	strmap_free(f->persons);
	free(f->person_ids);
	strmap_free(f->courses);
	free(f->course_ids);
	for (i = 0; i < f->n_titles; i++)
		free(f->course_titles[i]);
	free(f->course_titles);
	free(f->v);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int take_org(void *ctx, const struct workforce_org *o)
{
	struct facts *f = ctx;
	struct org_row *r = realloc(f->orgs, (size_t)(f->n_orgs + 1) * sizeof(*r));

	if (!r)
		return LR_ENOMEM;
	f->orgs = r;
	r = &f->orgs[f->n_orgs++];
	memset(r, 0, sizeof(*r));
	r->code = strdup(o->code);
	r->name = dup_or_null(o->name);
	r->sector = dup_or_null(o->sector);
	r->headcount_as_of = dup_or_null(o->headcount_as_of);
	r->headcount = o->headcount;
	r->frontline = o->frontline;
	r->sector_index = -1;
	if (!r->code || (o->name && !r->name) || (o->sector && !r->sector) ||
	    (o->headcount_as_of && !r->headcount_as_of))
		return LR_ENOMEM;
	return 0;
}

static int sector_order(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The orgs with their figures as of date (NULL: latest), and the sectors. */
static int load_orgs(struct facts *f, struct lr_error *err, struct store *s, const char *date)
{
	long i, j;
	int rc;

	rc = workforce_each(s, err, date, take_org, f);
	if (rc == LR_ENOMEM)
		return lr_error_set(err, LR_ENOMEM, "out of memory reading orgs");
	if (rc != 0)
		return rc;
	for (i = 0; i < f->n_orgs; i++) {
		const char *sec = f->orgs[i].sector;
		if (!sec)
			continue;
		for (j = 0; j < f->n_sectors && strcmp(f->sectors[j], sec) != 0; j++)
			;
		if (j < f->n_sectors)
			continue;
		{
			char **v = realloc(f->sectors, (size_t)(f->n_sectors + 1) * sizeof(*v));
			if (!v)
				return lr_error_set(err, LR_ENOMEM, "out of memory reading orgs");
			f->sectors = v;
			if (!(v[f->n_sectors] = strdup(sec)))
				return lr_error_set(err, LR_ENOMEM, "out of memory reading orgs");
			f->n_sectors++;
		}
	}
	if (f->n_sectors > 1)
		qsort(f->sectors, (size_t)f->n_sectors, sizeof(*f->sectors), sector_order);
	for (i = 0; i < f->n_orgs; i++) {
		f->orgs[i].sector_index = -1;
		for (j = 0; f->orgs[i].sector && j < f->n_sectors; j++)
			if (strcmp(f->sectors[j], f->orgs[i].sector) == 0)
				f->orgs[i].sector_index = j;
	}
	return 0;
}

/* The index of key in map (added with the next index if new); -1 out of memory. */
static long intern(struct strmap *map, const char ***keys, long *n, const char *key)
{
	int64_t at = *n;
	size_t len = strlen(key);
	int rc = strmap_get(map, key, len, &at, 1);
	const char **v;

	if (rc < 0)
		return -1;
	if (rc == 1)
		return (long)at;
	v = realloc(*keys, (size_t)(*n + 1) * sizeof(*v));
	if (!v)
		return -1;
	*keys = v;
	v[*n] = strmap_key(map, key, len);
	return (long)(*n)++;
}

/* The index of the org with code in f->orgs (in code order), or -1. */
static long org_at(const struct facts *f, const char *code)
{
	long lo = 0, hi = f->n_orgs - 1;

	while (lo <= hi) {
		long mid = lo + (hi - lo) / 2;
		int c = strcmp(f->orgs[mid].code, code);
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

static int take_completion(void *ctx, const struct completion *row)
{
	struct facts *f = ctx;
	struct fact *x;
	long org = org_at(f, row->orgs), person, before, course;

	if (org < 0)
		return 0; /* an org added since the orgs were read */
	person = intern(f->persons, &f->person_ids, &f->n_persons, row->person_id);
	before = f->n_courses;
	course = intern(f->courses, &f->course_ids, &f->n_courses, row->course_id);
	if (person < 0 || course < 0)
		return LR_ENOMEM;
	if (f->n_courses > before) {
		char **t = realloc(f->course_titles, (size_t)f->n_courses * sizeof(*t));
		if (!t)
			return LR_ENOMEM;
		f->course_titles = t;
		t[course] = strdup(row->course_title ? row->course_title : "");
		f->n_titles = f->n_courses;
		if (!t[course])
			return LR_ENOMEM;
	}
	if (f->n == f->cap) {
		long cap = f->cap ? f->cap * 2 : 256;
		struct fact *v = realloc(f->v, (size_t)cap * sizeof(*v));
		if (!v)
			return LR_ENOMEM;
		f->v = v;
		f->cap = cap;
	}
	x = &f->v[f->n++];
	x->person = person;
	x->org = org;
	x->course = course;
	x->first_ms = row->first_completed_ms;
	x->completions = row->completions;
	x->success = strcmp(row->success, "passed") == 0 ? "passed"
		     : strcmp(row->success, "failed") == 0 ? "failed" : "unknown";
	x->has_score = row->has_score;
	x->best = row->best_score_scaled;
	return 0;
}

/*
 * Collects the facts of course (NULL: every course) with evidence up to
 * until_ms (when has_until), for every org in f->orgs (or only org, when set).
 */
static int collect(struct facts *f, struct lr_error *err, struct store *s, const char *course,
		   int64_t until_ms, int has_until, const char *org)
{
	struct completions_query q;
	int rc;

	f->persons = strmap_new();
	f->courses = strmap_new();
	if (!f->persons || !f->courses)
		return lr_error_set(err, LR_ENOMEM, "out of memory collecting completions");
	memset(&q, 0, sizeof(q));
	q.course = course;
	q.org = org;
	q.until_ms = until_ms;
	q.has_until = has_until;
	q.by_org = 1;
	rc = completions_each(s, err, &q, take_completion, f);
	if (rc == LR_ENOMEM && !err->code)
		return lr_error_set(err, LR_ENOMEM, "out of memory collecting completions");
	return rc;
}

/* The course's title, or LR_ENOTFOUND. *out is new. */
static int course_title(char **out, struct lr_error *err, struct store *s, const char *course)
{
	sqlite3 *db = store__db(s);
	sqlite3_stmt *q = NULL;
	int rc = 0, step;

	*out = NULL;
	if (sqlite3_prepare_v2(db, "SELECT title FROM course WHERE code = ?", -1, &q, NULL) != SQLITE_OK)
		return store__db_error(db, err, "reading a course");
	store__bind_text(q, 1, course);
	step = sqlite3_step(q);
	if (step == SQLITE_ROW) {
		if (!(*out = strdup((const char *)sqlite3_column_text(q, 0))))
			rc = lr_error_set(err, LR_ENOMEM, "out of memory");
	} else if (step == SQLITE_DONE) {
		rc = lr_error_set(err, LR_ENOTFOUND, "no course '%s'", course);
	} else {
		rc = store__db_error(db, err, "reading a course");
	}
	sqlite3_finalize(q);
	return rc;
}

static int check_org(struct lr_error *err, const struct facts *f, const char *org)
{
	long i;

	if (!org)
		return 0;
	for (i = 0; i < f->n_orgs; i++)
		if (strcmp(f->orgs[i].code, org) == 0)
			return 0;
	return lr_error_set(err, LR_ENOTFOUND, "no org '%s'", org);
}

/* ---- coverage ---- */

/* A group of orgs (one org, a sector, the system) and what they add up to. */
struct group {
	long completed;
	long headcount, frontline;       /* -1 when no org has one */
	long no_headcount;               /* orgs without a headcount */
	long recent;
};

static json_t *json_count(long n)
{
	return n >= 0 ? json_integer(n) : json_null();
}

/* The persons' first completion times in a group: first[person], INT64_MAX for none. */
static void group_figures(struct group *g, const struct facts *f, int64_t *first, int64_t from_ms,
			  int64_t until_ms)
{
	long p;

	g->completed = g->recent = 0;
	for (p = 0; p < f->n_persons; p++) {
		if (first[p] == INT64_MAX)
			continue;
		g->completed++;
		if (first[p] > from_ms && first[p] <= until_ms)
			g->recent++;
	}
}

static void add_denominators(struct group *g, const struct org_row *o)
{
	if (o->headcount >= 0)
		g->headcount = (g->headcount < 0 ? 0 : g->headcount) + o->headcount;
	else
		g->no_headcount++;
	if (o->frontline >= 0)
		g->frontline = (g->frontline < 0 ? 0 : g->frontline) + o->frontline;
}

static json_t *ratio(long num, long den, int cap)
{
	double r;

	if (den <= 0)
		return json_null();
	r = (double)num / (double)den;
	if (cap && r > 1)
		r = 1;
	return json_real(round_to(r, 0.0001));
}

/* Adds the figures of g to row (a new reference, taken; may hold the row's name already). */
static json_t *coverage_row(json_t *row, const struct group *g, const struct reports_query *q,
			    int64_t as_of_days, int with_missing)
{
	json_t *targets = json_array();
	double recent_rate = round_to((double)g->recent / 3.0, 0.01);
	size_t i;

	if (!row || !targets)
		goto nomem;
	if (json_object_set_new(row, "completed", json_integer(g->completed)) ||
	    json_object_set_new(row, "headcount", json_count(g->headcount)) ||
	    json_object_set_new(row, "frontline", json_count(g->frontline)) ||
	    (with_missing &&
	     json_object_set_new(row, "orgs_without_headcount", json_integer(g->no_headcount))) ||
	    json_object_set_new(row, "coverage", ratio(g->completed, g->headcount, 0)) ||
	    json_object_set_new(row, "frontline_coverage", ratio(g->completed, g->frontline, 1)) ||
	    json_object_set_new(row, "recent_first_completions", json_integer(g->recent)) ||
	    json_object_set_new(row, "recent_monthly_rate", json_real(recent_rate)))
		goto nomem;
	for (i = 0; i < q->n_targets; i++) {
		const struct reports_target *t = &q->targets[i];
		long base = t->population == REPORTS_FRONTLINE ? g->frontline : g->headcount;
		int64_t days_left = date_days(t->date) - as_of_days;
		double months_left = days_left > 0 ? round_to((double)days_left / MONTH_DAYS, 0.01) : 0;
		json_t *tj = json_object();
		long target = -1, gap = -1;
		json_t *needed = json_null(), *on_track = json_null();

		if (!tj || json_array_append_new(targets, tj))
			goto nomem;
		if (base >= 0) {
			target = (long)ceil(t->fraction * (double)base - 1e-9);
			gap = target > g->completed ? target - g->completed : 0;
			if (gap == 0) {
				json_decref(needed);
				needed = json_real(0);
			} else if (days_left > 0) {
				json_decref(needed);
				needed = json_real(round_to((double)gap * MONTH_DAYS / (double)days_left,
							    0.01));
			}
			json_decref(on_track);
			on_track = json_boolean(gap == 0 ||
						(days_left > 0 &&
						 (double)g->recent / 3.0 * (double)days_left / MONTH_DAYS >=
							 (double)gap));
		}
		if (json_object_set_new(tj, "fraction", json_real(t->fraction)) ||
		    json_object_set_new(tj, "population", json_string(t->population == REPORTS_FRONTLINE
									     ? "frontline" : "all")) ||
		    json_object_set_new(tj, "date", json_string(t->date)) ||
		    json_object_set_new(tj, "base", json_count(base)) ||
		    json_object_set_new(tj, "target", json_count(target)) ||
		    json_object_set_new(tj, "gap", json_count(gap)) ||
		    json_object_set_new(tj, "months_left", json_real(months_left)) ||
		    json_object_set_new(tj, "needed_monthly_rate", needed) ||
		    json_object_set_new(tj, "on_track", on_track))
			goto nomem;
	}
	if (json_object_set_new(row, "targets", targets))
		goto nomem_row;
	return row;
nomem:
	json_decref(targets);
nomem_row:
	json_decref(row);
	return NULL;
}

/* Sets key on obj to a string, or null for NULL. */
static int set_text(json_t *obj, const char *key, const char *text)
{
	return json_object_set_new(obj, key, text ? json_string(text) : json_null());
}

int reports_coverage(json_t **out, struct lr_error *err, struct store *s,
		     const struct reports_query *q)
{
	struct facts f;
	char as_of[11], from[11];
	char *title = NULL;
	int64_t as_of_days, from_days, until_ms, from_ms, *first = NULL;
	json_t *report = NULL, *orgs, *sectors, *targets, *row;
	struct group g;
	long i, x, sec;
	size_t t;
	int rc;

	memset(&f, 0, sizeof(f));
	*out = NULL;
	if (!q->course)
		return lr_error_set(err, LR_EINVAL, "the coverage report needs a course");
	if (q->as_of && !workforce_date_valid(q->as_of))
		return lr_error_set(err, LR_EINVAL, "as-of '%.40s' is not a date (YYYY-MM-DD)", q->as_of);
	if (q->as_of)
		memcpy(as_of, q->as_of, 11);
	else
		today(as_of);
	as_of_days = date_days(as_of);
	until_ms = (as_of_days + 1) * DAY_MS - 1;
	from_days = months_before(as_of_days, 3);
	from_ms = (from_days + 1) * DAY_MS - 1;
	format_day(from, from_days);
	if ((rc = course_title(&title, err, s, q->course)) != 0 ||
	    (rc = load_orgs(&f, err, s, as_of)) != 0 || (rc = check_org(err, &f, q->org)) != 0 ||
	    (rc = collect(&f, err, s, q->course, until_ms, 1, NULL)) != 0)
		goto out;
	first = malloc((size_t)(f.n_persons ? f.n_persons : 1) * sizeof(*first));
	report = json_object();
	if (!first || !report || json_object_set_new(report, "course", json_string(q->course)) ||
	    json_object_set_new(report, "course_title", json_string(title)) ||
	    json_object_set_new(report, "as_of", json_string(as_of)) ||
	    json_object_set_new(report, "recent_from", json_string(from)) ||
	    json_object_set_new(report, "targets", json_array()) ||
	    json_object_set_new(report, "system", json_null()) ||
	    json_object_set_new(report, "sectors", json_array()) ||
	    json_object_set_new(report, "orgs", json_array()))
		goto nomem;
	targets = json_object_get(report, "targets");
	sectors = json_object_get(report, "sectors");
	orgs = json_object_get(report, "orgs");
	for (t = 0; t < q->n_targets; t++) {
		json_t *tj = json_object();
		if (!tj || json_array_append_new(targets, tj) ||
		    json_object_set_new(tj, "fraction", json_real(q->targets[t].fraction)) ||
		    json_object_set_new(tj, "population",
					json_string(q->targets[t].population == REPORTS_FRONTLINE
							    ? "frontline" : "all")) ||
		    json_object_set_new(tj, "date", json_string(q->targets[t].date)))
			goto nomem;
	}
	/* The system: every org. */
	memset(&g, 0, sizeof(g));
	g.headcount = g.frontline = -1;
	for (i = 0; i < f.n_persons; i++)
		first[i] = INT64_MAX;
	for (x = 0; x < f.n; x++)
		if (f.v[x].first_ms < first[f.v[x].person])
			first[f.v[x].person] = f.v[x].first_ms;
	for (i = 0; i < f.n_orgs; i++)
		add_denominators(&g, &f.orgs[i]);
	group_figures(&g, &f, first, from_ms, until_ms);
	if (!(row = coverage_row(json_object(), &g, q, as_of_days, 1)) ||
	    json_object_set_new(report, "system", row))
		goto nomem;
	/* Each sector: its orgs. */
	for (sec = 0; sec < f.n_sectors; sec++) {
		memset(&g, 0, sizeof(g));
		g.headcount = g.frontline = -1;
		for (i = 0; i < f.n_persons; i++)
			first[i] = INT64_MAX;
		for (x = 0; x < f.n; x++)
			if (f.orgs[f.v[x].org].sector_index == sec && f.v[x].first_ms < first[f.v[x].person])
				first[f.v[x].person] = f.v[x].first_ms;
		for (i = 0; i < f.n_orgs; i++)
			if (f.orgs[i].sector_index == sec)
				add_denominators(&g, &f.orgs[i]);
		group_figures(&g, &f, first, from_ms, until_ms);
		row = json_object();
		if (!row || json_object_set_new(row, "sector", json_string(f.sectors[sec]))) {
			json_decref(row);
			goto nomem;
		}
		if (!(row = coverage_row(row, &g, q, as_of_days, 1)) ||
		    json_array_append_new(sectors, row))
			goto nomem;
	}
	/* Each org. */
	for (i = 0; i < f.n_orgs; i++) {
		const struct org_row *o = &f.orgs[i];
		long p;

		if (q->org && strcmp(q->org, o->code) != 0)
			continue;
		memset(&g, 0, sizeof(g));
		g.headcount = g.frontline = -1;
		for (p = 0; p < f.n_persons; p++)
			first[p] = INT64_MAX;
		for (x = 0; x < f.n; x++)
			if (f.v[x].org == i)
				first[f.v[x].person] = f.v[x].first_ms;
		add_denominators(&g, o);
		group_figures(&g, &f, first, from_ms, until_ms);
		row = json_object();
		if (!row || json_object_set_new(row, "org", json_string(o->code)) ||
		    set_text(row, "name", o->name) || set_text(row, "sector", o->sector) ||
		    set_text(row, "headcount_as_of", o->headcount_as_of)) {
			json_decref(row);
			goto nomem;
		}
		if (!(row = coverage_row(row, &g, q, as_of_days, 0)) ||
		    json_array_append_new(orgs, row))
			goto nomem;
	}
	*out = report;
	report = NULL;
	goto out;
nomem:
	rc = lr_error_set(err, LR_ENOMEM, "out of memory making the coverage report");
out:
	json_decref(report);
	free(first);
	free(title);
	facts_free(&f);
	return rc;
}

/* ---- trend ---- */

/* The period index of a day: months since year 0, or Monday-weeks since the epoch. */
static int64_t period_of(enum reports_period by, int64_t days)
{
	int y, m, d;

	if (by == REPORTS_WEEK)
		return floor_div(days + 3, 7); /* 1970-01-01 is a Thursday */
	civil_from_days(days, &y, &m, &d);
	return (int64_t)y * 12 + (m - 1);
}

static void period_label(char label[32], char start[11], enum reports_period by, int64_t period)
{
	int64_t first;

	if (by == REPORTS_WEEK) {
		int wy, wk;
		first = period * 7 - 3;
		iso_week(first, &wy, &wk);
		snprintf(label, 32, "%04d-W%02d", wy, wk);
	} else {
		int y = (int)floor_div(period, 12), m = (int)(period - (int64_t)y * 12) + 1;
		first = days_from_civil(y, m, 1);
		snprintf(label, 32, "%04d-%02d", y, m);
	}
	format_day(start, first);
}

/* Adds a series: first completions per period of the persons with first[p] set. */
static int add_series(json_t *series, const struct facts *f, const int64_t *first, int64_t p0,
		      long n_periods, enum reports_period by, const char *org, const char *name)
{
	json_t *obj = json_object(), *counts = json_array(), *cumul = json_array();
	long *per = calloc((size_t)(n_periods ? n_periods : 1), sizeof(long));
	long p, total = 0;
	int rc = LR_ENOMEM;

	if (!obj || !counts || !cumul || !per)
		goto out;
	for (p = 0; p < f->n_persons; p++) {
		int64_t at;
		if (first[p] == INT64_MAX)
			continue;
		at = period_of(by, day_of_ms(first[p])) - p0;
		if (at >= 0 && at < n_periods)
			per[at]++;
	}
	for (p = 0; p < n_periods; p++) {
		total += per[p];
		if (json_array_append_new(counts, json_integer(per[p])) ||
		    json_array_append_new(cumul, json_integer(total)))
			goto out;
	}
	if (set_text(obj, "org", org) || json_object_set_new(obj, "name", json_string(name)) ||
	    json_object_set(obj, "first_completions", counts) ||
	    json_object_set(obj, "cumulative", cumul) || json_array_append(series, obj))
		goto out;
	rc = 0;
out:
	json_decref(obj);
	json_decref(counts);
	json_decref(cumul);
	free(per);
	return rc;
}

int reports_trend(json_t **out, struct lr_error *err, struct store *s,
		  const struct reports_query *q)
{
	struct facts f;
	char *title = NULL;
	int64_t until_ms = 0, *first = NULL, p0 = 0, p1 = -1, p;
	json_t *report = NULL, *periods, *starts, *series;
	long i, x, n_periods;
	int rc, has_until = q->as_of != NULL, any = 0;

	memset(&f, 0, sizeof(f));
	*out = NULL;
	if (!q->course)
		return lr_error_set(err, LR_EINVAL, "the trend report needs a course");
	if (q->as_of && !workforce_date_valid(q->as_of))
		return lr_error_set(err, LR_EINVAL, "as-of '%.40s' is not a date (YYYY-MM-DD)", q->as_of);
	if (has_until)
		until_ms = (date_days(q->as_of) + 1) * DAY_MS - 1;
	if ((rc = course_title(&title, err, s, q->course)) != 0 ||
	    (rc = load_orgs(&f, err, s, q->as_of)) != 0 || (rc = check_org(err, &f, q->org)) != 0 ||
	    (rc = collect(&f, err, s, q->course, until_ms, has_until, q->org)) != 0)
		goto out;
	/* The periods: from the first completion's to the last's (or the as-of date's). */
	for (x = 0; x < f.n; x++) {
		int64_t at = period_of(q->by, day_of_ms(f.v[x].first_ms));
		if (!any || at < p0)
			p0 = at;
		if (!any || at > p1)
			p1 = at;
		any = 1;
	}
	if (any && has_until) {
		int64_t end = period_of(q->by, date_days(q->as_of));
		if (end > p1)
			p1 = end;
	}
	n_periods = any ? (long)(p1 - p0 + 1) : 0;
	first = malloc((size_t)(f.n_persons ? f.n_persons : 1) * sizeof(*first));
	report = json_object();
	if (!first || !report || json_object_set_new(report, "course", json_string(q->course)) ||
	    json_object_set_new(report, "course_title", json_string(title)) ||
	    json_object_set_new(report, "by", json_string(q->by == REPORTS_WEEK ? "week" : "month")) ||
	    set_text(report, "as_of", q->as_of) ||
	    json_object_set_new(report, "periods", json_array()) ||
	    json_object_set_new(report, "starts", json_array()) ||
	    json_object_set_new(report, "series", json_array()))
		goto nomem;
	periods = json_object_get(report, "periods");
	starts = json_object_get(report, "starts");
	series = json_object_get(report, "series");
	for (p = 0; p < n_periods; p++) {
		char label[32], start[11];
		period_label(label, start, q->by, p0 + p);
		if (json_array_append_new(periods, json_string(label)) ||
		    json_array_append_new(starts, json_string(start)))
			goto nomem;
	}
	if (!q->org) {
		for (i = 0; i < f.n_persons; i++)
			first[i] = INT64_MAX;
		for (x = 0; x < f.n; x++)
			if (f.v[x].first_ms < first[f.v[x].person])
				first[f.v[x].person] = f.v[x].first_ms;
		if (add_series(series, &f, first, p0, n_periods, q->by, NULL, "all orgs") != 0)
			goto nomem;
	}
	for (i = 0; i < f.n_orgs; i++) {
		long k;
		if (q->org && strcmp(q->org, f.orgs[i].code) != 0)
			continue;
		for (k = 0; k < f.n_persons; k++)
			first[k] = INT64_MAX;
		for (x = 0; x < f.n; x++)
			if (f.v[x].org == i)
				first[f.v[x].person] = f.v[x].first_ms;
		if (add_series(series, &f, first, p0, n_periods, q->by, f.orgs[i].code,
			       f.orgs[i].name ? f.orgs[i].name : f.orgs[i].code) != 0)
			goto nomem;
	}
	*out = report;
	report = NULL;
	goto out;
nomem:
	rc = lr_error_set(err, LR_ENOMEM, "out of memory making the trend report");
out:
	json_decref(report);
	free(first);
	free(title);
	facts_free(&f);
	return rc;
}

/* ---- writers ---- */

/* A JSON scalar as text: "" for null or absent, numbers in short form. */
static const char *cell(char buf[64], const json_t *v)
{
	buf[0] = '\0';
	if (!v || json_is_null(v))
		return buf;
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v))
		snprintf(buf, 64, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, 64, "%.10g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, 64, "%s", json_is_true(v) ? "yes" : "no");
	return buf;
}

/* As cell, but "-" for null. */
static const char *tcell(char buf[64], const json_t *v)
{
	const char *c = cell(buf, v);

	return c[0] ? c : "-";
}

static const char *percent(char buf[64], const json_t *v)
{
	if (!v || !json_is_number(v))
		return "-";
	snprintf(buf, 64, "%.1f%%", json_number_value(v) * 100);
	return buf;
}

static int write_json(FILE *out, const json_t *report)
{
	if (json_dumpf(report, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) != 0)
		return LR_EIO;
	fputc('\n', out);
	return ferror(out) ? LR_EIO : 0;
}

/* Calls fn on the system row, each sector row and each org row in order. */
struct level_row {
	const char *level, *name, *sector;
	const json_t *row;
};

static size_t coverage_levels(const json_t *report, struct level_row *rows, size_t cap)
{
	const json_t *sectors = json_object_get(report, "sectors"), *orgs = json_object_get(report, "orgs");
	size_t n = 0, i;

	if (n < cap) {
		rows[n].level = "system";
		rows[n].name = "all orgs";
		rows[n].sector = NULL;
		rows[n++].row = json_object_get(report, "system");
	}
	for (i = 0; i < json_array_size(sectors) && n < cap; i++) {
		const json_t *r = json_array_get(sectors, i);
		rows[n].level = "sector";
		rows[n].name = json_string_value(json_object_get(r, "sector"));
		rows[n].sector = rows[n].name;
		rows[n++].row = r;
	}
	for (i = 0; i < json_array_size(orgs) && n < cap; i++) {
		const json_t *r = json_array_get(orgs, i);
		rows[n].level = "org";
		rows[n].name = json_string_value(json_object_get(r, "org"));
		rows[n].sector = json_string_value(json_object_get(r, "sector"));
		rows[n++].row = r;
	}
	return n;
}

static const char *const coverage_csv_head =
	"course,as_of,level,name,sector,completed,headcount,frontline,coverage,frontline_coverage,"
	"recent_first_completions,recent_monthly_rate,target_fraction,target_population,"
	"target_date,target_base,target,gap,months_left,needed_monthly_rate,on_track\r\n";

static void coverage_csv_row(FILE *out, const json_t *report, const struct level_row *lr,
			     const json_t *target)
{
	static const char *const fields[] = { "completed", "headcount", "frontline", "coverage",
					      "frontline_coverage", "recent_first_completions",
					      "recent_monthly_rate" };
	static const char *const tfields[] = { "fraction", "population", "date", "base", "target",
					       "gap", "months_left", "needed_monthly_rate", "on_track" };
	char buf[64];
	size_t i;

	completions_csv_field(out, json_string_value(json_object_get(report, "course")), 0);
	completions_csv_field(out, json_string_value(json_object_get(report, "as_of")), 0);
	completions_csv_field(out, lr->level, 0);
	completions_csv_field(out, lr->name, 0);
	completions_csv_field(out, lr->sector, 0);
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		completions_csv_field(out, cell(buf, json_object_get(lr->row, fields[i])), 0);
	for (i = 0; i < sizeof(tfields) / sizeof(tfields[0]); i++)
		completions_csv_field(out, cell(buf, target ? json_object_get(target, tfields[i]) : NULL),
			  i + 1 == sizeof(tfields) / sizeof(tfields[0]));
}

/* Column widths for a table of n rows of k cells. */
static void table_print(FILE *out, const char *const *cells, size_t n_rows, size_t k,
			const unsigned char *right)
{
	size_t w[16] = { 0 }, r, c;

	for (r = 0; r < n_rows; r++)
		for (c = 0; c < k; c++)
			if (strlen(cells[r * k + c]) > w[c])
				w[c] = strlen(cells[r * k + c]);
	for (r = 0; r < n_rows; r++) {
		for (c = 0; c < k; c++) {
			const char *t = cells[r * k + c];
			if (c + 1 == k && !right[c])
				fprintf(out, "%s", t);
			else
				fprintf(out, right[c] ? "%*s" : "%-*s", (int)w[c], t);
			if (c + 1 < k)
				fputs("  ", out);
		}
		fputc('\n', out);
	}
}

/* Room for the strings of a table: n_rows * k cells of 64 bytes. */
struct cells {
	char (*buf)[64];
	const char **cells;
};

static int cells_new(struct cells *c, size_t n)
{
	c->buf = calloc(n ? n : 1, sizeof(*c->buf));
	c->cells = calloc(n ? n : 1, sizeof(*c->cells));
	return c->buf && c->cells ? 0 : LR_ENOMEM;
}

static void cells_free(struct cells *c)
{
	free(c->buf);
	free(c->cells);
}

static void put(struct cells *c, size_t at, const char *text)
{
	snprintf(c->buf[at], 64, "%s", text ? text : "-");
	c->cells[at] = c->buf[at];
}

static int coverage_table(FILE *out, const json_t *report)
{
	static const char *const heads[] = { "LEVEL", "NAME", "COMPLETED", "HEADCOUNT", "COVERAGE",
					     "FRONTLINE", "FL COVERAGE", "RECENT", "PER MONTH" };
	static const unsigned char right[] = { 0, 0, 1, 1, 1, 1, 1, 1, 1 };
	static const char *const theads[] = { "LEVEL", "NAME", "BASE", "TARGET", "GAP",
					      "NEEDED/MONTH", "RECENT/MONTH", "ON TRACK" };
	static const unsigned char tright[] = { 0, 0, 1, 1, 1, 1, 1, 0 };
	const size_t k = sizeof(heads) / sizeof(heads[0]), tk = sizeof(theads) / sizeof(theads[0]);
	const json_t *targets = json_object_get(report, "targets");
	struct level_row *rows = NULL;
	struct cells c = { NULL, NULL };
	size_t n_max = 2 + json_array_size(json_object_get(report, "sectors")) +
		       json_array_size(json_object_get(report, "orgs"));
	size_t n, r, i, t;
	char buf[64];
	int rc = LR_ENOMEM;

	rows = calloc(n_max, sizeof(*rows));
	if (!rows || cells_new(&c, (n_max + 1) * k) != 0)
		goto out;
	n = coverage_levels(report, rows, n_max);
	fprintf(out, "Coverage of %s (%s) as of %s\n",
		json_string_value(json_object_get(report, "course")),
		json_string_value(json_object_get(report, "course_title")),
		json_string_value(json_object_get(report, "as_of")));
	fprintf(out, "Recent: first completions after %s, up to %s (3 months)\n\n",
		json_string_value(json_object_get(report, "recent_from")),
		json_string_value(json_object_get(report, "as_of")));
	for (i = 0; i < k; i++)
		put(&c, i, heads[i]);
	for (r = 0; r < n; r++) {
		const json_t *row = rows[r].row;
		size_t at = (r + 1) * k;
		put(&c, at + 0, rows[r].level);
		put(&c, at + 1, rows[r].name);
		put(&c, at + 2, tcell(buf, json_object_get(row, "completed")));
		put(&c, at + 3, tcell(buf, json_object_get(row, "headcount")));
		put(&c, at + 4, percent(buf, json_object_get(row, "coverage")));
		put(&c, at + 5, tcell(buf, json_object_get(row, "frontline")));
		put(&c, at + 6, percent(buf, json_object_get(row, "frontline_coverage")));
		put(&c, at + 7, tcell(buf, json_object_get(row, "recent_first_completions")));
		snprintf(buf, sizeof(buf), "%.2f",
			 json_number_value(json_object_get(row, "recent_monthly_rate")));
		put(&c, at + 8, buf);
	}
	table_print(out, c.cells, n + 1, k, right);
	for (t = 0; t < json_array_size(targets); t++) {
		const json_t *tj = json_array_get(targets, t);
		const json_t *sys = json_array_get(json_object_get(rows[0].row, "targets"), t);
		fprintf(out, "\nTarget: %s of %s staff by %s (%.2f months left)\n",
			percent(buf, json_object_get(tj, "fraction")),
			json_string_value(json_object_get(tj, "population")),
			json_string_value(json_object_get(tj, "date")),
			json_number_value(json_object_get(sys, "months_left")));
		for (i = 0; i < tk; i++)
			put(&c, i, theads[i]);
		for (r = 0; r < n; r++) {
			const json_t *row = rows[r].row;
			const json_t *rt = json_array_get(json_object_get(row, "targets"), t);
			const json_t *needed = json_object_get(rt, "needed_monthly_rate");
			size_t at = (r + 1) * tk;
			put(&c, at + 0, rows[r].level);
			put(&c, at + 1, rows[r].name);
			put(&c, at + 2, tcell(buf, json_object_get(rt, "base")));
			put(&c, at + 3, tcell(buf, json_object_get(rt, "target")));
			put(&c, at + 4, tcell(buf, json_object_get(rt, "gap")));
			if (json_is_number(needed))
				snprintf(buf, sizeof(buf), "%.2f", json_number_value(needed));
			else
				strcpy(buf, "-");
			put(&c, at + 5, buf);
			snprintf(buf, sizeof(buf), "%.2f",
				 json_number_value(json_object_get(row, "recent_monthly_rate")));
			put(&c, at + 6, buf);
			put(&c, at + 7, tcell(buf, json_object_get(rt, "on_track")));
		}
		table_print(out, c.cells, n + 1, tk, tright);
	}
	rc = ferror(out) ? LR_EIO : 0;
out:
	cells_free(&c);
	free(rows);
	return rc;
}

int reports_coverage_write(FILE *out, const json_t *report, enum reports_format format)
{
	struct level_row *all = NULL;
	size_t n_max, n, r, t, n_targets;

	if (format == REPORTS_JSON)
		return write_json(out, report);
	if (format == REPORTS_TABLE)
		return coverage_table(out, report);
	n_max = 1 + json_array_size(json_object_get(report, "sectors")) +
		json_array_size(json_object_get(report, "orgs"));
	all = calloc(n_max, sizeof(*all));
	if (!all)
		return LR_ENOMEM;
	n = coverage_levels(report, all, n_max);
	n_targets = json_array_size(json_object_get(report, "targets"));
	fputs(coverage_csv_head, out);
	for (r = 0; r < n; r++) {
		const json_t *ts = json_object_get(all[r].row, "targets");
		if (n_targets == 0)
			coverage_csv_row(out, report, &all[r], NULL);
		for (t = 0; t < n_targets; t++)
			coverage_csv_row(out, report, &all[r], json_array_get(ts, t));
	}
	free(all);
	return ferror(out) ? LR_EIO : 0;
}

int reports_trend_write(FILE *out, const json_t *report, enum reports_format format)
{
	const json_t *periods = json_object_get(report, "periods");
	const json_t *starts = json_object_get(report, "starts");
	const json_t *series = json_object_get(report, "series");
	size_t n_p = json_array_size(periods), n_s = json_array_size(series), p, i;
	char buf[64];

	if (format == REPORTS_JSON)
		return write_json(out, report);
	if (format == REPORTS_CSV) {
		fputs("course,by,period,start,org,first_completions,cumulative\r\n", out);
		for (i = 0; i < n_s; i++) {
			const json_t *sr = json_array_get(series, i);
			for (p = 0; p < n_p; p++) {
				completions_csv_field(out, json_string_value(json_object_get(report, "course")), 0);
				completions_csv_field(out, json_string_value(json_object_get(report, "by")), 0);
				completions_csv_field(out, json_string_value(json_array_get(periods, p)), 0);
				completions_csv_field(out, json_string_value(json_array_get(starts, p)), 0);
				completions_csv_field(out, cell(buf, json_object_get(sr, "org")), 0);
				completions_csv_field(out, cell(buf, json_array_get(json_object_get(sr, "first_completions"), p)), 0);
				completions_csv_field(out, cell(buf, json_array_get(json_object_get(sr, "cumulative"), p)), 1);
			}
		}
		return ferror(out) ? LR_EIO : 0;
	}
	{
		size_t k = 2 + n_s, r;
		struct cells c = { NULL, NULL };
		unsigned char right[16];

		if (k > 16) {
			/* Too many orgs side by side: one block of columns per org would not
			 * fit, so the table shows the system and the first 14 orgs. */
			k = 16;
		}
		if (cells_new(&c, (n_p + 1) * k) != 0) {
			cells_free(&c);
			return LR_ENOMEM;
		}
		memset(right, 1, sizeof(right));
		right[0] = right[1] = 0;
		fprintf(out, "First completions of %s (%s) by %s, cumulative in brackets\n\n",
			json_string_value(json_object_get(report, "course")),
			json_string_value(json_object_get(report, "course_title")),
			json_string_value(json_object_get(report, "by")));
		put(&c, 0, "PERIOD");
		put(&c, 1, "START");
		for (i = 0; i + 2 < k; i++) {
			const json_t *o = json_object_get(json_array_get(series, i), "org");
			put(&c, 2 + i, json_is_string(o) ? json_string_value(o) : "ALL");
		}
		for (r = 0; r < n_p; r++) {
			put(&c, (r + 1) * k, json_string_value(json_array_get(periods, r)));
			put(&c, (r + 1) * k + 1, json_string_value(json_array_get(starts, r)));
			for (i = 0; i + 2 < k; i++) {
				const json_t *sr = json_array_get(series, i);
				snprintf(buf, sizeof(buf), "%lld (%lld)",
					 (long long)json_integer_value(
						 json_array_get(json_object_get(sr, "first_completions"), r)),
					 (long long)json_integer_value(
						 json_array_get(json_object_get(sr, "cumulative"), r)));
				put(&c, (r + 1) * k + 2 + i, buf);
			}
		}
		if (n_p == 0)
			fputs("(no completions)\n", out);
		else
			table_print(out, c.cells, n_p + 1, k, right);
		cells_free(&c);
	}
	return ferror(out) ? LR_EIO : 0;
}

/* ---- pseudonymisation key ---- */

int reports_key_load(unsigned char *key, size_t *out_len, int *out_created, struct lr_error *err,
		     const char *path, int create)
{
	FILE *fp = NULL;
	size_t n;
	int fd;

	*out_len = 0;
	if (out_created)
		*out_created = 0;
	fp = fopen(path, "rb");
	if (!fp && errno == ENOENT && create) {
		unsigned char raw[32];
		char hex[65];
		FILE *rnd = fopen("/dev/urandom", "rb");

		if (!rnd || fread(raw, 1, sizeof(raw), rnd) != sizeof(raw)) {
			if (rnd)
				fclose(rnd);
			lr_error_where(err, path, 0, 0);
			return lr_error_set(err, LR_EIO, "cannot read random bytes for a new key");
		}
		fclose(rnd);
		hash_hex(hex, raw, sizeof(raw));
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0 || write(fd, hex, 64) != 64 || write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
			int e = errno;
			if (fd >= 0) {
				close(fd);
				unlink(path);
			}
			lr_error_where(err, path, 0, 0);
			return lr_error_set(err, LR_EIO, "cannot create the key file: %s", strerror(e));
		}
		close(fd);
		if (out_created)
			*out_created = 1;
		fp = fopen(path, "rb");
	}
	if (!fp) {
		lr_error_where(err, path, 0, 0);
		return lr_error_set(err, LR_EIO, "cannot read the key file: %s", strerror(errno));
	}
	n = fread(key, 1, REPORTS_KEY_MAX, fp);
	fclose(fp);
	while (n > 0 && (key[n - 1] == '\n' || key[n - 1] == '\r' || key[n - 1] == ' '))
		n--;
	if (n < 16) {
		lr_error_where(err, path, 0, 0);
		return lr_error_set(err, LR_EINVAL, "the key is too short: use at least 16 bytes");
	}
	*out_len = n;
	return 0;
}

/* ---- Power BI export ---- */

struct out_file {
	FILE *fp;
	char tmp[4096];
	char path[4096];
};

static int out_open(struct out_file *o, struct lr_error *err, const char *dir, const char *name)
{
	int fd;

	if ((size_t)snprintf(o->path, sizeof(o->path), "%s/%s", dir, name) >= sizeof(o->path) ||
	    (size_t)snprintf(o->tmp, sizeof(o->tmp), "%s/.%s.tmp", dir, name) >= sizeof(o->tmp))
		return lr_error_set(err, LR_EINVAL, "the folder name is too long");
	fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || !(o->fp = fdopen(fd, "wb"))) {
		if (fd >= 0)
			close(fd);
		lr_error_where(err, o->tmp, 0, 0);
		return lr_error_set(err, LR_EIO, "cannot write: %s", strerror(errno));
	}
	return 0;
}

static int out_close(struct out_file *o, struct lr_error *err, int keep)
{
	int bad = 0;

	if (!o->fp)
		return 0;
	if (fflush(o->fp) != 0 || ferror(o->fp) || fsync(fileno(o->fp)) != 0)
		bad = 1;
	if (fclose(o->fp) != 0)
		bad = 1;
	o->fp = NULL;
	if (!keep || bad || rename(o->tmp, o->path) != 0) {
		unlink(o->tmp);
		if (keep) {
			lr_error_where(err, o->path, 0, 0);
			return lr_error_set(err, LR_EIO, "cannot write: %s", strerror(errno));
		}
	}
	return 0;
}

struct export_row {
	const struct fact *f;
	char pseudonym[65];
};

static _Thread_local const struct facts *export_facts;

static int export_order(const void *pa, const void *pb)
{
	const struct export_row *a = pa, *b = pb;
	int c = strcmp(export_facts->course_ids[a->f->course], export_facts->course_ids[b->f->course]);

	if (c == 0)
		c = strcmp(export_facts->orgs[a->f->org].code, export_facts->orgs[b->f->org].code);
	if (c == 0)
		c = strcmp(a->pseudonym, b->pseudonym);
	return c;
}

/* For sorting persons by pseudonym (qsort has no context argument). */
static _Thread_local const char **sorting_pseudonyms;

static int pseudonym_order(const void *a, const void *b)
{
	return strcmp(sorting_pseudonyms[*(const long *)a], sorting_pseudonyms[*(const long *)b]);
}

static void write_date_row(FILE *out, int64_t days)
{
	static const char *const months[] = { "January", "February", "March", "April", "May", "June",
					      "July", "August", "September", "October", "November",
					      "December" };
	static const char *const wdays[] = { "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
					     "Saturday", "Sunday" };
	int y, m, d, wd = iso_weekday(days), wy, wk;
	char start[11];

	civil_from_days(days, &y, &m, &d);
	iso_week(days, &wy, &wk);
	format_day(start, days - (wd - 1));
	fprintf(out, "%04d%02d%02d,%04d-%02d-%02d,%d,%d,%d,%s,%04d-%02d,%d,%d,%s,%d,%d,%04d-W%02d,%s\r\n",
		y, m, d, y, m, d, y, (m - 1) / 3 + 1, m, months[m - 1], y, m, d, wd, wdays[wd - 1], wy,
		wk, wy, wk, start);
}

int reports_export_powerbi(struct store *s, struct lr_error *err, const char *dir,
			   const unsigned char *key, size_t key_len, long *out_rows)
{
	struct facts f;
	struct out_file o = { NULL, "", "" };
	struct export_row *rows = NULL;
	const char **pseudonyms = NULL;
	char (*person_key)[65] = NULL;
	int64_t *sys_first = NULL, lo = 0, hi = -1, day;
	long *org_count = NULL;
	long i, n_people = 0;
	char when[XTIME_MAX], buf[64];
	int rc, any = 0;
	sqlite3_stmt *q = NULL;
	sqlite3 *db = store__db(s);

	memset(&f, 0, sizeof(f));
	if (out_rows)
		*out_rows = 0;
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		lr_error_where(err, dir, 0, 0);
		return lr_error_set(err, LR_EIO, "cannot make the folder: %s", strerror(errno));
	}
	if ((rc = load_orgs(&f, err, s, NULL)) != 0 || (rc = collect(&f, err, s, NULL, 0, 0, NULL)) != 0)
		goto out;
	rows = calloc((size_t)(f.n ? f.n : 1), sizeof(*rows));
	sys_first = malloc((size_t)(f.n_persons * (f.n_courses ? f.n_courses : 1) + 1) *
			   sizeof(*sys_first));
	org_count = calloc((size_t)(f.n_persons + 1), sizeof(*org_count));
	pseudonyms = calloc((size_t)(f.n_persons + 1), sizeof(*pseudonyms));
	person_key = calloc((size_t)(f.n_persons + 1), sizeof(*person_key));
	if (!rows || !sys_first || !org_count || !pseudonyms || !person_key)
		goto nomem;
	for (i = 0; i < f.n_persons * f.n_courses; i++)
		sys_first[i] = INT64_MAX;
	for (i = 0; i < f.n; i++) {
		const struct fact *x = &f.v[i];
		int64_t *sf = &sys_first[x->person * f.n_courses + x->course];
		rows[i].f = x;
		if (!pseudonyms[x->person]) {
			if (completions_pseudonym(person_key[x->person], key, key_len,
						  f.person_ids[x->person]) != 0) {
				rc = lr_error_set(err, LR_EINVAL, "the pseudonymisation key is unusable");
				goto out;
			}
			pseudonyms[x->person] = person_key[x->person];
			n_people++;
		}
		memcpy(rows[i].pseudonym, person_key[x->person], sizeof(rows[i].pseudonym));
		if (x->first_ms < *sf)
			*sf = x->first_ms;
		day = day_of_ms(x->first_ms);
		if (!any || day < lo)
			lo = day;
		if (!any || day > hi)
			hi = day;
		any = 1;
	}
	export_facts = &f;
	qsort(rows, (size_t)f.n, sizeof(*rows), export_order);
	export_facts = NULL;

	/* fact_completion: one row per person, course and org whose data shows a completion. */
	if ((rc = out_open(&o, err, dir, "fact_completion.csv")) != 0)
		goto out;
	fputs("person_key,course_id,org_id,date_key,completed_at,first_in_system,success,"
	      "best_score_scaled,completions\r\n", o.fp);
	{
		/* first_in_system: the row of the earliest org (in code order on a tie). */
		char *marked = calloc((size_t)(f.n_persons * f.n_courses + 1), 1);
		if (!marked)
			goto nomem;
		for (i = 0; i < f.n; i++) {
			const struct fact *x = rows[i].f;
			size_t at = (size_t)(x->person * f.n_courses + x->course);
			int first = 0;
			/* Rows are in org code order within a course: the first row met
			 * with the person's earliest time is the earliest org's. */
			if (!marked[at] && x->first_ms == sys_first[at]) {
				first = 1;
				marked[at] = 1;
			}
			xtime_format(when, x->first_ms);
			completions_csv_field(o.fp, rows[i].pseudonym, 0);
			completions_csv_field(o.fp, f.course_ids[x->course], 0);
			completions_csv_field(o.fp, f.orgs[x->org].code, 0);
			{
				int y, m, d;
				civil_from_days(day_of_ms(x->first_ms), &y, &m, &d);
				snprintf(buf, sizeof(buf), "%04d%02d%02d", y, m, d);
			}
			completions_csv_field(o.fp, buf, 0);
			completions_csv_field(o.fp, when, 0);
			completions_csv_field(o.fp, first ? "1" : "0", 0);
			completions_csv_field(o.fp, x->success, 0);
			buf[0] = '\0';
			if (x->has_score)
				snprintf(buf, sizeof(buf), "%.6g", x->best);
			completions_csv_field(o.fp, buf, 0);
			snprintf(buf, sizeof(buf), "%ld", x->completions);
			completions_csv_field(o.fp, buf, 1);
		}
		free(marked);
	}
	if ((rc = out_close(&o, err, 1)) != 0)
		goto out;

	/* dim_person: the pseudonyms, and how many orgs show each person. */
	{
		long *sorted = calloc((size_t)(n_people + 1), sizeof(*sorted));
		char *seen = calloc((size_t)(f.n_persons * f.n_orgs + 1), 1);
		long n = 0, p;
		if (!sorted || !seen) {
			free(sorted);
			free(seen);
			goto nomem;
		}
		for (i = 0; i < f.n; i++) {
			size_t at = (size_t)(f.v[i].person * f.n_orgs + f.v[i].org);
			if (!seen[at]) {
				seen[at] = 1;
				org_count[f.v[i].person]++;
			}
		}
		free(seen);
		for (p = 0; p < f.n_persons; p++)
			if (pseudonyms[p])
				sorted[n++] = p;
		sorting_pseudonyms = pseudonyms;
		qsort(sorted, (size_t)n, sizeof(*sorted), pseudonym_order);
		sorting_pseudonyms = NULL;
		rc = out_open(&o, err, dir, "dim_person.csv");
		if (rc == 0) {
			fputs("person_key,org_count\r\n", o.fp);
			for (i = 0; i < n; i++)
				fprintf(o.fp, "%s,%ld\r\n", pseudonyms[sorted[i]], org_count[sorted[i]]);
			rc = out_close(&o, err, 1);
		}
		free(sorted);
		if (rc != 0)
			goto out;
	}

	/* dim_course: every course. */
	if ((rc = out_open(&o, err, dir, "dim_course.csv")) != 0)
		goto out;
	fputs("course_id,title\r\n", o.fp);
	if (sqlite3_prepare_v2(db, "SELECT code, title FROM course ORDER BY code", -1, &q, NULL) !=
	    SQLITE_OK) {
		rc = store__db_error(db, err, "reading courses");
		goto out;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		completions_csv_field(o.fp, (const char *)sqlite3_column_text(q, 0), 0);
		completions_csv_field(o.fp, (const char *)sqlite3_column_text(q, 1), 1);
	}
	if (rc != SQLITE_DONE) {
		rc = store__db_error(db, err, "reading courses");
		goto out;
	}
	sqlite3_finalize(q);
	q = NULL;
	if ((rc = out_close(&o, err, 1)) != 0)
		goto out;

	/* dim_org: every org with its sector and latest figures. */
	if ((rc = out_open(&o, err, dir, "dim_org.csv")) != 0)
		goto out;
	fputs("org_id,name,sector,headcount,frontline,headcount_as_of\r\n", o.fp);
	for (i = 0; i < f.n_orgs; i++) {
		const struct org_row *r = &f.orgs[i];
		completions_csv_field(o.fp, r->code, 0);
		completions_csv_field(o.fp, r->name, 0);
		completions_csv_field(o.fp, r->sector, 0);
		buf[0] = '\0';
		if (r->headcount >= 0)
			snprintf(buf, sizeof(buf), "%ld", r->headcount);
		completions_csv_field(o.fp, buf, 0);
		buf[0] = '\0';
		if (r->frontline >= 0)
			snprintf(buf, sizeof(buf), "%ld", r->frontline);
		completions_csv_field(o.fp, buf, 0);
		completions_csv_field(o.fp, r->headcount_as_of, 1);
	}
	if ((rc = out_close(&o, err, 1)) != 0)
		goto out;

	/* fact_headcount: the dated figures, for coverage as of any date. */
	if ((rc = out_open(&o, err, dir, "fact_headcount.csv")) != 0)
		goto out;
	fputs("org_id,date_key,as_of,headcount,frontline\r\n", o.fp);
	if (sqlite3_prepare_v2(db, "SELECT o.code, h.as_of, h.headcount, h.frontline"
				   " FROM org_headcount h JOIN org o ON o.id = h.org_id"
				   " ORDER BY o.code, h.as_of", -1, &q, NULL) != SQLITE_OK) {
		rc = store__db_error(db, err, "reading headcounts");
		goto out;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *as_of = (const char *)sqlite3_column_text(q, 1);
		int64_t d = date_days(as_of);
		completions_csv_field(o.fp, (const char *)sqlite3_column_text(q, 0), 0);
		snprintf(buf, sizeof(buf), "%.4s%.2s%.2s", as_of, as_of + 5, as_of + 8);
		completions_csv_field(o.fp, buf, 0);
		completions_csv_field(o.fp, as_of, 0);
		completions_csv_field(o.fp, (const char *)sqlite3_column_text(q, 2), 0);
		completions_csv_field(o.fp, (const char *)sqlite3_column_text(q, 3), 1);
		if (!any || d < lo)
			lo = d;
		if (!any || d > hi)
			hi = d;
		any = 1;
	}
	if (rc != SQLITE_DONE) {
		rc = store__db_error(db, err, "reading headcounts");
		goto out;
	}
	sqlite3_finalize(q);
	q = NULL;
	if ((rc = out_close(&o, err, 1)) != 0)
		goto out;

	/* dim_date: every day from the earliest fact's to the latest's. */
	if ((rc = out_open(&o, err, dir, "dim_date.csv")) != 0)
		goto out;
	fputs("date_key,date,year,quarter,month,month_name,year_month,day,day_of_week,day_name,"
	      "iso_year,iso_week,iso_week_label,week_start\r\n", o.fp);
	if (any && hi - lo > 366 * 200) {
		rc = lr_error_set(err, LR_ELIMIT, "the dates span more than 200 years (%s)",
				  "check the statements' timestamps");
		goto out;
	}
	for (day = lo; any && day <= hi; day++)
		write_date_row(o.fp, day);
	if ((rc = out_close(&o, err, 1)) != 0)
		goto out;
	if (out_rows)
		*out_rows = f.n;
	rc = 0;
	goto out;
nomem:
	rc = lr_error_set(err, LR_ENOMEM, "out of memory exporting");
out:
	sqlite3_finalize(q);
	out_close(&o, err, 0);
	free(rows);
	free(sys_first);
	free(org_count);
	free(pseudonyms);
	free(person_key);
	facts_free(&f);
	return rc;
}
