/*
 * moodle_track.c: Moodle SCORM tracking rows and Moodle's user table (see
 * moodle_track.h).
 *
 * Tracking rows of one attempt (user, scorm, SCO, attempt) come as several
 * element rows, not always next to each other (an export ordered by row id
 * interleaves learners working at the same time). Attempts are grouped in a
 * bounded set of open groups, found by a hash of their key: a row joins its
 * group; when MAX_OPEN are open, the one touched least recently is finished. At the end all are
 * finished in the order they were first seen. A group keeps only what the
 * statements need (statuses, scores, times), not its rows, so memory stays
 * flat however large the file. Only rows of one attempt more than
 * MAX_OPEN attempts apart can split it (documented in docs/formats.md).
 */
#include "adapters/moodle_track.h"
#include "adapters/peek.h"
#include "adapters/csv.h"
#include "adapters/itemqueue.h"
#include "adapters/scorm_statement.h"
#include "lrs/error.h"
#include "lrs/jsonmem.h"

#include <jansson.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_OPEN 4096        /* attempts grouped at once */
#define BUCKETS 8192         /* hash buckets of open attempts */
#define KEY_MAX 255          /* longest user, scorm or SCO id */
#define JSON_DUMP_MAX (64L << 20)

enum { C_USERID, C_SCORMID, C_SCOID, C_ATTEMPT, C_ELEMENT, C_VALUE, C_TIME, C_COUNT };
static const char *const track_columns[C_COUNT] = {
	"userid", "scormid", "scoid", "attempt", "element", "value", "timemodified"
};

enum { U_ID, U_USERNAME, U_EMAIL, U_FIRSTNAME, U_LASTNAME, U_COUNT };
static const char *const user_columns[U_COUNT] = {
	"id", "username", "email", "firstname", "lastname"
};

/* One tracking row, wherever it came from. */
struct track_row {
	const char *userid, *scormid, *scoid, *element, *value;
	long attempt;
	int64_t time_s;
	long line, record;
};

struct group {
	char *userid, *scormid, *scoid;
	long attempt;
	long line, record;           /* of the first row */
	struct group *hnext;         /* the next group in the same hash bucket */
	struct group *newer, *older; /* the list of open groups, most recently touched first */
	int completion, success;
	int64_t completion_s, success_s, score_s, start_s, last_s;
	int has_scaled, has_raw, has_min, has_max;
	double scaled, raw, min, max;
	char total_time[64], session_time[64];
};

struct track_state {
	const struct adapter_input *in;
	struct csv *csv;
	struct itemq *queue;
	long col[8];                 /* column indexes (C_* or U_*) */
	int users;                   /* reading the user table */
	int eof;
	struct group *buckets[BUCKETS]; /* open groups by hash of their key */
	struct group *newest, *oldest;
	size_t n_open;
	unsigned long rows;
	/* The Moodle 4.3 JSON dump: rows made from the tables, read one by one. */
	json_t *dump;
	size_t dump_next;
	json_t *elements;            /* element id (text) -> name */
	json_t *attempts;            /* attempt id (text) -> attempt object */
	char value_text[64];
	struct peek peek;            /* the first bytes, read at open to choose the reader */
};

/* ---- sniffing ---- */

/* The first line of head, lower-cased, without a BOM, into out. */
static void first_line(char *out, size_t size, const char *head, size_t len)
{
	size_t i = 0, n = 0;

	if (len >= 3 && (unsigned char)head[0] == 0xEF && (unsigned char)head[1] == 0xBB &&
	    (unsigned char)head[2] == 0xBF)
		i = 3;
	for (; i < len && head[i] != '\n' && head[i] != '\r' && n + 1 < size; i++)
		if (head[i] != '"')
			out[n++] = (char)tolower((unsigned char)head[i]);
	out[n] = '\0';
}

/* The delimiter of a header line: the most frequent of , ; and tab. */
static char header_delimiter(const char *line)
{
	size_t commas = 0, semis = 0, tabs = 0;

	for (; *line; line++) {
		commas += *line == ',';
		semis += *line == ';';
		tabs += *line == '\t';
	}
	if (tabs > commas && tabs > semis)
		return '\t';
	if (semis > commas)
		return ';';
	return ',';
}

/* 1 if the header line has the column name (delimited, trimmed). */
static int has_column(const char *line, char delim, const char *name)
{
	size_t n = strlen(name);
	const char *p = line;

	while (p) {
		while (*p == ' ')
			p++;
		if (strncmp(p, name, n) == 0) {
			const char *q = p + n;
			while (*q == ' ')
				q++;
			if (*q == delim || *q == '\0')
				return 1;
		}
		p = strchr(p, delim);
		if (p)
			p++;
	}
	return 0;
}

static int track_sniff(const char *head, size_t len)
{
	char line[1024];
	char d;
	int i;

	if (memmem(head, len, "\"scorm_scoes_value\"", 19) &&
	    (memmem(head, len, "\"scorm_attempt\"", 15) || memmem(head, len, "\"scorm_element\"", 15)))
		return 95;
	first_line(line, sizeof(line), head, len);
	d = header_delimiter(line);
	for (i = 0; i < C_COUNT; i++)
		if (!has_column(line, d, track_columns[i]))
			return 0;
	return 95;
}

static int users_sniff(const char *head, size_t len)
{
	char line[1024];
	char d;

	first_line(line, sizeof(line), head, len);
	d = header_delimiter(line);
	if (has_column(line, d, "id") && has_column(line, d, "username") &&
	    has_column(line, d, "email") && !has_column(line, d, "element"))
		return has_column(line, d, "firstname") ? 90 : 60;
	return 0;
}

/* ---- groups ---- */

static void group_free(struct group *g)
{
	if (!g)
		return;
	free(g->userid);
	free(g->scormid);
	free(g->scoid);
	free(g);
}

/* Finishes group g: queues its statements, frees it. Returns 0 or LR_ENOMEM. */
static int group_finish(struct track_state *st, struct group *g)
{
	struct scorm_event ev;
	enum scorm_verb verbs[3];
	int n, i, rc = 0;

	scorm_event_init(&ev);
	ev.org = st->in->org;
	ev.lms_url = st->in->lms_url;
	ev.system = "moodle";
	ev.learner = g->userid;
	ev.course_key = g->scormid;
	ev.sco_key = g->scoid;
	ev.attempt = g->attempt;
	ev.completion = g->completion;
	ev.success = g->success;
	ev.has_scaled = g->has_scaled;
	ev.scaled = g->scaled;
	ev.has_raw = g->has_raw;
	ev.raw = g->raw;
	ev.has_min = g->has_min;
	ev.min = g->min;
	ev.has_max = g->has_max;
	ev.max = g->max;
	ev.duration = g->total_time[0] ? g->total_time : g->session_time[0] ? g->session_time : NULL;
	if (g->has_raw && ((g->has_max && g->raw > g->max) || (g->has_min && g->raw < g->min) ||
			   (g->has_min && g->has_max && g->min > g->max))) {
		struct lr_error e;
		lr_error_clear(&e);
		lr_error_set(&e, LR_EINVAL,
			     "user %s, scorm %s, sco %s, attempt %ld: score.raw %g is not within score.min %g and score.max %g",
			     g->userid, g->scormid, g->scoid, g->attempt, g->raw,
			     g->has_min ? g->min : 0, g->has_max ? g->max : g->raw);
		lr_error_field(&e, "value");
		rc = itemq_push_error(st->queue, &e, g->line, g->record, NULL, 0);
		group_free(g);
		return rc;
	}
	n = scorm_event_verbs(&ev, verbs);
	if (n == 0 && g->start_s > 0)
		verbs[n++] = SCORM_ATTEMPTED;
	for (i = 0; i < n && rc == 0; i++) {
		int64_t t;

		switch (verbs[i]) {
		case SCORM_COMPLETED: t = g->completion_s; break;
		case SCORM_PASSED:
		case SCORM_FAILED: t = g->success_s; break;
		case SCORM_SCORED: t = g->score_s; break;
		default: t = g->completion_s ? g->completion_s : g->start_s; break;
		}
		if (t <= 0)
			t = g->last_s;
		ev.has_time = t > 0;
		ev.time_ms = t * 1000;
		rc = scorm_statement_queue(st->queue, &ev, verbs[i], g->line, g->record);
	}
	group_free(g);
	return rc;
}

static size_t group_hash(const struct track_row *r)
{
	const char *parts[3] = { r->userid, r->scormid, r->scoid };
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)r->attempt;
	const unsigned char *p;
	int i;

	for (i = 0; i < 3; i++) {
		for (p = (const unsigned char *)parts[i]; *p; p++)
			h = (h ^ *p) * 1099511628211ULL;
		h = (h ^ 0xff) * 1099511628211ULL;
	}
	return (size_t)(h % BUCKETS);
}

static void lru_unlink(struct track_state *st, struct group *g)
{
	if (g->newer)
		g->newer->older = g->older;
	else
		st->newest = g->older;
	if (g->older)
		g->older->newer = g->newer;
	else
		st->oldest = g->newer;
	g->newer = g->older = NULL;
}

static void lru_push(struct track_state *st, struct group *g)
{
	g->older = st->newest;
	g->newer = NULL;
	if (st->newest)
		st->newest->newer = g;
	st->newest = g;
	if (!st->oldest)
		st->oldest = g;
}

/* Takes open group g (whose key hashes to bucket) out and finishes it. */
static int finish_open(struct track_state *st, struct group *g, size_t bucket)
{
	struct group **link = &st->buckets[bucket];

	while (*link && *link != g)
		link = &(*link)->hnext;
	if (*link)
		*link = g->hnext;
	lru_unlink(st, g);
	st->n_open--;
	return group_finish(st, g);
}

static size_t bucket_of(const struct group *g)
{
	struct track_row r;

	memset(&r, 0, sizeof(r));
	r.userid = g->userid;
	r.scormid = g->scormid;
	r.scoid = g->scoid;
	r.attempt = g->attempt;
	return group_hash(&r);
}

/* The open group of row r, made if new (finishing the least recently touched when full). */
static int group_of(struct track_state *st, struct group **out, const struct track_row *r)
{
	size_t bucket = group_hash(r);
	struct group *g;
	int rc;

	*out = NULL;
	for (g = st->buckets[bucket]; g; g = g->hnext) {
		if (g->attempt == r->attempt && strcmp(g->userid, r->userid) == 0 &&
		    strcmp(g->scoid, r->scoid) == 0 && strcmp(g->scormid, r->scormid) == 0) {
			if (st->newest != g) {
				lru_unlink(st, g);
				lru_push(st, g);
			}
			*out = g;
			return 0;
		}
	}
	if (st->n_open == MAX_OPEN && (rc = finish_open(st, st->oldest, bucket_of(st->oldest))) != 0)
		return rc;
	g = calloc(1, sizeof(*g));
	if (!g)
		return LR_ENOMEM;
	g->userid = strdup(r->userid);
	g->scormid = strdup(r->scormid);
	g->scoid = strdup(r->scoid);
	if (!g->userid || !g->scormid || !g->scoid) {
		group_free(g);
		return LR_ENOMEM;
	}
	g->attempt = r->attempt;
	g->line = r->line;
	g->record = r->record;
	g->completion = g->success = -1;
	g->hnext = st->buckets[bucket];
	st->buckets[bucket] = g;
	lru_push(st, g);
	st->n_open++;
	*out = g;
	return 0;
}

/* ---- one row ---- */

static int bad(struct lr_error *err, const char *field, const char *fmt, const char *a,
	       const char *b)
{
	lr_error_set(err, LR_EINVAL, fmt, a, b);
	lr_error_field(err, field);
	return LR_EINVAL;
}

/* Reads a whole non-negative integer. */
static int whole_number(const char *text, int64_t *out)
{
	char buf[32], *end;
	long long v;

	scorm_trim(buf, sizeof(buf), text);
	if (!isdigit((unsigned char)buf[0]))
		return LR_EINVAL;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno || *end != '\0' || v < 0)
		return LR_EINVAL;
	*out = v;
	return 0;
}

/* Latest Unix time read (9999-12-31T23:59:59Z): later ones would overflow in milliseconds. */
#define UNIX_TIME_MAX 253402300799LL

/* Reads a Unix time in seconds, 0 to UNIX_TIME_MAX. */
static int unix_time(const char *text, int64_t *out)
{
	int64_t v;

	if (whole_number(text, &v) != 0 || v > UNIX_TIME_MAX)
		return LR_EINVAL;
	*out = v;
	return 0;
}

/* Checks the value of an element the statements use, so a bad row joins no group. */
static int element_check(struct lr_error *err, const char *el, const char *v)
{
	char buf[64];
	int c, s;
	double number;
	int64_t t;

	if (strcmp(el, "cmi.core.lesson_status") == 0)
		return scorm_lesson_status(v, &c, &s) == 0 ? 0
			: bad(err, "value", "%s: '%s' is not a SCORM 1.2 lesson status", el, v);
	if (strcmp(el, "cmi.completion_status") == 0)
		return scorm_completion_status(v, &c) == 0 ? 0
			: bad(err, "value", "%s: '%s' is not a SCORM 2004 completion status", el, v);
	if (strcmp(el, "cmi.success_status") == 0)
		return scorm_success_status(v, &s) == 0 ? 0
			: bad(err, "value", "%s: '%s' is not a SCORM 2004 success status", el, v);
	if (strncmp(el, "cmi.core.score.", 15) == 0 || strncmp(el, "cmi.score.", 10) == 0) {
		if (scorm_trim(buf, sizeof(buf), v)[0] == '\0')
			return 0;
		if (scorm_number(v, &number) != 0)
			return bad(err, "value", "%s: '%s' is not a number", el, v);
		if (strcmp(el, "cmi.score.scaled") == 0 && (number < -1 || number > 1))
			return bad(err, "value", "%s: '%s' is not between -1 and 1", el, v);
		return 0;
	}
	if (strcmp(el, "cmi.core.total_time") == 0 || strcmp(el, "cmi.total_time") == 0 ||
	    strcmp(el, "cmi.core.session_time") == 0 || strcmp(el, "cmi.session_time") == 0)
		return scorm_duration(buf, sizeof(buf), v) == 0 ? 0
			: bad(err, "value", "%s: '%s' is not a SCORM time span", el, v);
	if (strcmp(el, "x.start.time") == 0)
		return whole_number(v, &t) == 0 ? 0
			: bad(err, "value", "%s: '%s' is not a Unix time", el, v);
	return 0;
}

/* Adds row r to its group; a bad value is LR_EINVAL (err says which). */
static int track_add(struct track_state *st, struct lr_error *err, const struct track_row *r)
{
	const char *el = r->element, *v = r->value;
	struct group *g;
	int completion, success, rc;
	double number;
	int64_t start;

	if ((rc = element_check(err, el, v)) != 0)
		return rc;
	if ((rc = group_of(st, &g, r)) != 0)
		return lr_error_set(err, rc, "out of memory");
	st->rows++;
	if (r->time_s > g->last_s)
		g->last_s = r->time_s;

	if (strcmp(el, "cmi.core.lesson_status") == 0) {
		if (scorm_lesson_status(v, &completion, &success) != 0)
			return bad(err, "value", "%s: '%s' is not a SCORM 1.2 lesson status", el, v);
		g->completion = completion;
		g->success = success;
		g->completion_s = g->success_s = r->time_s;
	} else if (strcmp(el, "cmi.completion_status") == 0) {
		if (scorm_completion_status(v, &completion) != 0)
			return bad(err, "value", "%s: '%s' is not a SCORM 2004 completion status", el, v);
		g->completion = completion;
		g->completion_s = r->time_s;
	} else if (strcmp(el, "cmi.success_status") == 0) {
		if (scorm_success_status(v, &success) != 0)
			return bad(err, "value", "%s: '%s' is not a SCORM 2004 success status", el, v);
		g->success = success;
		g->success_s = r->time_s;
	} else if (strcmp(el, "cmi.core.score.raw") == 0 || strcmp(el, "cmi.score.raw") == 0 ||
		   strcmp(el, "cmi.core.score.min") == 0 || strcmp(el, "cmi.score.min") == 0 ||
		   strcmp(el, "cmi.core.score.max") == 0 || strcmp(el, "cmi.score.max") == 0 ||
		   strcmp(el, "cmi.score.scaled") == 0) {
		const char *what = strrchr(el, '.') + 1;
		char trimmed[8];

		if (scorm_trim(trimmed, sizeof(trimmed), v)[0] == '\0')
			return 0; /* an empty score: the SCO cleared it */
		if (scorm_number(v, &number) != 0)
			return bad(err, "value", "%s: '%s' is not a number", el, v);
		if (strcmp(what, "raw") == 0) {
			g->raw = number;
			g->has_raw = 1;
			g->score_s = r->time_s;
		} else if (strcmp(what, "min") == 0) {
			g->min = number;
			g->has_min = 1;
		} else if (strcmp(what, "max") == 0) {
			g->max = number;
			g->has_max = 1;
		} else {
			if (number < -1 || number > 1)
				return bad(err, "value", "%s: '%s' is not between -1 and 1", el, v);
			g->scaled = number;
			g->has_scaled = 1;
			g->score_s = r->time_s;
		}
	} else if (strcmp(el, "cmi.core.total_time") == 0 || strcmp(el, "cmi.total_time") == 0 ||
		   strcmp(el, "cmi.core.session_time") == 0 || strcmp(el, "cmi.session_time") == 0) {
		char *to = strstr(el, "total") ? g->total_time : g->session_time;
		if (scorm_duration(to, sizeof(g->total_time), v) != 0)
			return bad(err, "value", "%s: '%s' is not a SCORM time span", el, v);
	} else if (strcmp(el, "x.start.time") == 0) {
		if (unix_time(v, &start) != 0)
			return bad(err, "value", "%s: '%s' is not a Unix time", el, v);
		g->start_s = start;
	}
	/* Other elements (suspend data, interactions, location...) say nothing about completion. */
	return 0;
}

/* Checks the key fields of a row. */
static int row_check(struct lr_error *err, const struct track_row *r, const char *attempt,
		     const char *time)
{
	static const char *const names[3] = { "userid", "scormid", "scoid" };
	const char *values[3] = { r->userid, r->scormid, r->scoid };
	int i;

	for (i = 0; i < 3; i++) {
		if (!values[i][0])
			return bad(err, names[i], "%s%s is empty", names[i], "");
		if (strlen(values[i]) > KEY_MAX)
			return bad(err, names[i], "%s is longer than %s characters", names[i], "255");
	}
	if (r->attempt < 1)
		return bad(err, "attempt", "attempt '%s' is not a whole number from 1%s", attempt, "");
	if (r->time_s < 0)
		return bad(err, "timemodified", "timemodified '%s' is not a Unix time%s", time, "");
	if (!r->element[0])
		return bad(err, "element", "element is empty%s%s", "", "");
	return 0;
}

/* ---- CSV ---- */

static int read_header(struct track_state *st, struct lr_error *err)
{
	struct csv_row row;
	int rc, i, n = st->users ? U_COUNT : C_COUNT;
	const char *const *names = st->users ? user_columns : track_columns;

	rc = csv_header(st->csv, &row, err);
	if (rc < 0)
		return rc;
	for (i = 0; i < n; i++) {
		st->col[i] = csv_column(&row, names[i]);
		if (st->col[i] < 0 && !(st->users && (i == U_FIRSTNAME || i == U_LASTNAME))) {
			lr_error_where(err, NULL, row.line, row.record);
			return lr_error_set(err, LR_EFORMAT, "the header has no column '%s'", names[i]);
		}
	}
	return 0;
}

static const char *field(const struct csv_row *row, long col)
{
	return col >= 0 && (size_t)col < row->n ? row->fields[col] : "";
}

/* Reads one CSV row into the groups (or the queue). 1 read, 0 at the end, < 0 as next(). */
static int csv_step(struct track_state *st, struct adapter_item *item, struct lr_error *err)
{
	struct csv_row row;
	struct track_row r;
	int64_t attempt = 0, time_s = 0;
	size_t need = 0;
	int rc, i;

	rc = csv_next(st->csv, &row, err);
	if (rc == LR_EINVAL) {
		item->line = err->line;
		item->record = err->record;
		return rc;
	}
	if (rc <= 0)
		return rc;
	for (i = 0; i < (st->users ? U_COUNT : C_COUNT); i++)
		if (st->col[i] >= 0 && (size_t)st->col[i] + 1 > need)
			need = (size_t)st->col[i] + 1;
	if (row.n < need) {
		lr_error_where(err, NULL, row.line, row.record);
		item->raw = row.raw;
		item->raw_len = row.raw_len;
		item->line = row.line;
		item->record = row.record;
		return lr_error_set(err, LR_EINVAL, "the row has %zu fields, the header has more", row.n);
	}
	if (st->users) {
		char email[512], id[KEY_MAX + 1];

		scorm_trim(id, sizeof(id), field(&row, st->col[U_ID]));
		scorm_trim(email, sizeof(email), field(&row, st->col[U_EMAIL]));
		if (!id[0] || !email[0]) {
			lr_error_where(err, NULL, row.line, row.record);
			lr_error_field(err, id[0] ? "email" : "id");
			item->raw = row.raw;
			item->raw_len = row.raw_len;
			return lr_error_set(err, LR_EINVAL, "%s is empty", id[0] ? "email" : "id");
		}
		rc = itemq_push_identity(st->queue, id, email, row.line, row.record);
		return rc ? lr_error_set(err, rc, "out of memory") : 1;
	}
	r.userid = field(&row, st->col[C_USERID]);
	r.scormid = field(&row, st->col[C_SCORMID]);
	r.scoid = field(&row, st->col[C_SCOID]);
	r.element = field(&row, st->col[C_ELEMENT]);
	r.value = field(&row, st->col[C_VALUE]);
	r.line = row.line;
	r.record = row.record;
	r.attempt = whole_number(field(&row, st->col[C_ATTEMPT]), &attempt) == 0 && attempt < LONG_MAX
			    ? (long)attempt : 0;
	r.time_s = unix_time(field(&row, st->col[C_TIME]), &time_s) == 0 ? time_s : -1;
	rc = row_check(err, &r, field(&row, st->col[C_ATTEMPT]), field(&row, st->col[C_TIME]));
	if (rc == 0)
		rc = track_add(st, err, &r);
	if (rc == LR_EINVAL) {
		lr_error_where(err, NULL, row.line, row.record);
		item->raw = row.raw;
		item->raw_len = row.raw_len;
		item->line = row.line;
		item->record = row.record;
	}
	return rc < 0 ? rc : 1;
}

/* ---- the Moodle 4.3 JSON dump ---- */


static int read_all(struct track_state *st, char **out, size_t *len, struct lr_error *err)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);

	if (!buf)
		return lr_error_set(err, LR_ENOMEM, "out of memory");
	for (;;) {
		ssize_t got;
		if (n == cap) {
			char *more;
			if (cap >= (size_t)JSON_DUMP_MAX) {
				free(buf);
				return lr_error_set(err, LR_ELIMIT, "a Moodle table dump is larger than 64 MiB");
			}
			more = realloc(buf, cap * 2);
			if (!more) {
				free(buf);
				return lr_error_set(err, LR_ENOMEM, "out of memory");
			}
			buf = more;
			cap *= 2;
		}
		got = peek_read(&st->peek, buf + n, cap - n);
		if (got < 0) {
			free(buf);
			return lr_error_set(err, LR_EIO, "read error");
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* Text of a JSON scalar (ids and values come as numbers or strings). */
static const char *scalar_text(const json_t *v, char *buf, size_t size)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, size, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	if (json_is_real(v)) {
		snprintf(buf, size, "%.17g", json_real_value(v));
		return buf;
	}
	return NULL;
}

static int dump_open(struct track_state *st, struct lr_error *err)
{
	char *text = NULL, key[64];
	size_t len = 0, i;
	json_error_t jerr;
	json_t *table, *row;
	int rc;

	if ((rc = read_all(st, &text, &len, err)) != 0)
		return rc;
	jsonmem_clear();
	st->dump = json_loadb(text, len, 0, &jerr);
	free(text);
	if (jsonmem_failed() || (!st->dump && json_error_code(&jerr) == json_error_out_of_memory))
		return lr_error_set(err, LR_ENOMEM, "out of memory reading the tables");
	if (!st->dump) {
		lr_error_where(err, NULL, jerr.line, 0);
		return lr_error_set(err, LR_EFORMAT, "not valid JSON: %s", jerr.text);
	}
	st->elements = json_object();
	st->attempts = json_object();
	if (!st->elements || !st->attempts)
		return lr_error_set(err, LR_ENOMEM, "out of memory");
	table = json_object_get(st->dump, "scorm_element");
	json_array_foreach(table, i, row) {
		const char *id = scalar_text(json_object_get(row, "id"), key, sizeof(key));
		json_t *name = json_object_get(row, "element");
		if (id && json_is_string(name))
			json_object_set(st->elements, id, name);
	}
	table = json_object_get(st->dump, "scorm_attempt");
	json_array_foreach(table, i, row) {
		const char *id = scalar_text(json_object_get(row, "id"), key, sizeof(key));
		if (id)
			json_object_set(st->attempts, id, row);
	}
	if (!json_is_array(json_object_get(st->dump, "scorm_scoes_value")))
		return lr_error_set(err, LR_EFORMAT, "the dump has no scorm_scoes_value table");
	return 0;
}

/* One row of scorm_scoes_value, joined with its attempt and element. */
static int dump_step(struct track_state *st, struct lr_error *err)
{
	json_t *values = json_object_get(st->dump, "scorm_scoes_value");
	json_t *v, *attempt;
	char b1[64], b2[64], b3[64], b4[64], b5[64], b6[64], b7[64];
	const char *attempt_id, *element_id, *number, *time;
	struct track_row r;
	int64_t n = 0;
	int rc;

	if (st->dump_next >= json_array_size(values))
		return 0;
	v = json_array_get(values, st->dump_next++);
	memset(&r, 0, sizeof(r));
	r.record = (long)st->dump_next;
	attempt_id = scalar_text(json_object_get(v, "attemptid"), b1, sizeof(b1));
	element_id = scalar_text(json_object_get(v, "elementid"), b2, sizeof(b2));
	attempt = attempt_id ? json_object_get(st->attempts, attempt_id) : NULL;
	if (!attempt) {
		lr_error_where(err, NULL, 0, r.record);
		lr_error_field(err, "attemptid");
		return lr_error_set(err, LR_EINVAL, "scorm_scoes_value %zu: no scorm_attempt '%s'",
				    st->dump_next, attempt_id ? attempt_id : "");
	}
	r.element = element_id ? json_string_value(json_object_get(st->elements, element_id)) : NULL;
	if (!r.element) {
		lr_error_where(err, NULL, 0, r.record);
		lr_error_field(err, "elementid");
		return lr_error_set(err, LR_EINVAL, "scorm_scoes_value %zu: no scorm_element '%s'",
				    st->dump_next, element_id ? element_id : "");
	}
	r.userid = scalar_text(json_object_get(attempt, "userid"), b3, sizeof(b3));
	r.scormid = scalar_text(json_object_get(attempt, "scormid"), b4, sizeof(b4));
	r.scoid = scalar_text(json_object_get(v, "scoid"), b5, sizeof(b5));
	r.value = scalar_text(json_object_get(v, "value"), st->value_text, sizeof(st->value_text));
	number = scalar_text(json_object_get(attempt, "attempt"), b6, sizeof(b6));
	time = scalar_text(json_object_get(v, "timemodified"), b7, sizeof(b7));
	if (!r.userid || !r.scormid || !r.scoid || !r.value || !number || !time) {
		lr_error_where(err, NULL, 0, r.record);
		return lr_error_set(err, LR_EINVAL,
				    "scorm_scoes_value %zu: userid, scormid, scoid, attempt, value or timemodified is missing",
				    st->dump_next);
	}
	r.attempt = whole_number(number, &n) == 0 && n < LONG_MAX ? (long)n : 0;
	r.time_s = unix_time(time, &n) == 0 ? n : -1;
	rc = row_check(err, &r, number, time);
	if (rc == 0)
		rc = track_add(st, err, &r);
	if (rc == LR_EINVAL)
		lr_error_where(err, NULL, 0, r.record);
	return rc < 0 ? rc : 1;
}

/* ---- the adapter ---- */

static void track_close(void *state)
{
	struct track_state *st = state;

	if (!st)
		return;
	while (st->newest) {
		struct group *g = st->newest;
		st->newest = g->older;
		group_free(g);
	}
	csv_close(st->csv);
	itemq_free(st->queue);
	json_decref(st->dump);
	json_decref(st->elements);
	json_decref(st->attempts);
	free(st);
}

/*
 * Opens the reader: a tracking file that starts with '{' is Moodle 4.3's
 * table dump, anything else CSV (',' or ';' or tab, from the header line).
 */
static int open_common(void **state, struct lr_error *err, const struct adapter_input *in, int users)
{
	struct track_state *st = calloc(1, sizeof(*st));
	struct csv_options opts = { 0 };
	char line[1024];
	size_t i = 0;
	long first;
	int rc = 0;

	*state = NULL;
	if (!st || itemq_new(&st->queue) != 0) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory");
		goto out;
	}
	st->in = in;
	st->users = users;
	first = peek_fill(&st->peek, in);
	if (first < 0) {
		rc = lr_error_set(err, LR_EIO, "read error");
		goto out;
	}
	i = (size_t)first;
	if (!users && i < st->peek.len && st->peek.buf[i] == '{') {
		rc = dump_open(st, err);
		goto out;
	}
	first_line(line, sizeof(line), st->peek.buf, st->peek.len);
	opts.delimiter = header_delimiter(line);
	if ((rc = csv_open(&st->csv, &opts, peek_read, &st->peek)) != 0) {
		rc = lr_error_set(err, rc, "out of memory");
		goto out;
	}
	rc = read_header(st, err);
out:
	if (rc != 0)
		track_close(st);
	else
		*state = st;
	return rc;
}

static int track_open(void **state, struct lr_error *err, const struct adapter_input *in)
{
	return open_common(state, err, in, 0);
}

static int users_open(void **state, struct lr_error *err, const struct adapter_input *in)
{
	return open_common(state, err, in, 1);
}

static int track_next(void *state, struct adapter_item *item, struct lr_error *err)
{
	struct track_state *st = state;
	int rc;

	memset(item, 0, sizeof(*item));
	for (;;) {
		rc = itemq_pop(st->queue, item, err);
		if (rc != 0)
			return rc;
		if (st->eof) {
			/* The end: finish what is open, in the order first seen. */
			struct group *g, *first = st->oldest;
			if (!first)
				return 0;
			for (g = first->newer; g; g = g->newer)
				if (g->record < first->record)
					first = g;
			if ((rc = finish_open(st, first, bucket_of(first))) != 0)
				return lr_error_set(err, rc, "out of memory");
			continue;
		}
		rc = st->dump ? dump_step(st, err) : csv_step(st, item, err);
		if (rc == 0)
			st->eof = 1;
		else if (rc < 0)
			return rc;
	}
}

const struct adapter adapter_moodle_track = {
	.name = "moodle-track",
	.description = "Moodle SCORM tracking rows: userid,scormid,scoid,attempt,element,value,timemodified",
	.sniff = track_sniff,
	.open = track_open,
	.next = track_next,
	.close = track_close,
};

const struct adapter adapter_moodle_users = {
	.name = "moodle-users",
	.description = "Moodle user table: id,username,email,firstname,lastname,idnumber",
	.sniff = users_sniff,
	.open = users_open,
	.next = track_next,
	.close = track_close,
};
