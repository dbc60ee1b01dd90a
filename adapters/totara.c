/*
 * totara.c: Totara's course completion CSV, the file that Totara's
 * completion import reads and migration scripts write:
 *
 *   username,courseshortname,courseidnumber,completiondate,grade
 *
 * Each row says a learner completed a course; it becomes one "completed"
 * statement about the course (no SCO), with the grade as a score. Course
 * key: the short name. The date is written as the site is configured
 * (Y-m-d, d-m-Y, d/m/Y, with or without a time, or a Unix time) in the
 * site's time zone, read in the org's --timezone (UTC when it has none).
 */
#include "adapters/adapter.h"
#include "adapters/csv.h"
#include "adapters/itemqueue.h"
#include "adapters/scorm_statement.h"
#include "lrs/error.h"
#include "lrs/xtime.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_USERNAME, T_SHORTNAME, T_IDNUMBER, T_DATE, T_GRADE, T_COUNT };
static const char *const totara_columns[T_COUNT] = {
	"username", "courseshortname", "courseidnumber", "completiondate", "grade"
};

struct totara_state {
	const struct adapter_input *in;
	struct csv *csv;
	struct itemq *queue;
	struct xtime_zone *zone;
	long col[T_COUNT];
};

static int totara_sniff(const char *head, size_t len)
{
	char line[512];
	size_t i = 0, n = 0;

	if (len >= 3 && memcmp(head, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	for (; i < len && head[i] != '\n' && head[i] != '\r' && n + 1 < sizeof(line); i++)
		if (head[i] != '"' && head[i] != ' ')
			line[n++] = (char)tolower((unsigned char)head[i]);
	line[n] = '\0';
	if (strstr(line, "username") && strstr(line, "courseshortname") &&
	    strstr(line, "completiondate"))
		return 95;
	return 0;
}

static void totara_close(void *state)
{
	struct totara_state *st = state;

	if (!st)
		return;
	csv_close(st->csv);
	itemq_free(st->queue);
	xtime_zone_free(st->zone);
	free(st);
}

static int totara_open(void **state, struct lr_error *err, const struct adapter_input *in)
{
	struct totara_state *st = calloc(1, sizeof(*st));
	struct csv_row row;
	int rc = 0, i;

	*state = NULL;
	if (!st || itemq_new(&st->queue) != 0 ||
	    csv_open(&st->csv, NULL, (csv_read_fn)in->read, in->ctx) != 0) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory");
		goto out;
	}
	st->in = in;
	if (in->timezone && (rc = xtime_zone_load(&st->zone, in->timezone)) != 0) {
		rc = lr_error_set(err, LR_EINVAL, "the org's time zone '%s' is not known", in->timezone);
		goto out;
	}
	rc = csv_header(st->csv, &row, err);
	if (rc < 0)
		goto out;
	rc = 0;
	for (i = 0; i < T_COUNT; i++) {
		st->col[i] = csv_column(&row, totara_columns[i]);
		if (st->col[i] < 0 && i != T_IDNUMBER && i != T_GRADE) {
			lr_error_where(err, NULL, row.line, row.record);
			rc = lr_error_set(err, LR_EFORMAT, "the header has no column '%s'", totara_columns[i]);
			goto out;
		}
	}
out:
	if (rc != 0)
		totara_close(st);
	else
		*state = st;
	return rc;
}

/* Reads n digits at *p. */
static int digits(const char **p, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return 0;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 1;
}

/*
 * A completion date: YYYY-MM-DD, DD-MM-YYYY, DD/MM/YYYY (also YYYY/MM/DD),
 * each optionally followed by " HH:MM[:SS]" or "THH:MM[:SS]"; a date-time
 * with an offset (ISO 8601); or a Unix time (9 or more digits).
 */
static int totara_date(int64_t *out_ms, const char *text, const struct xtime_zone *zone)
{
	const char *p = text;
	int y, m, d, hh = 0, mm = 0, ss = 0;
	size_t len = strlen(text), i;

	for (i = 0; i < len && isdigit((unsigned char)text[i]); i++)
		;
	if (i == len && len >= 9 && len <= 12) {
		*out_ms = strtoll(text, NULL, 10) * 1000;
		return 0;
	}
	if (xtime_parse(out_ms, text, 0) == 0)
		return 0;   /* has its own offset */
	if (digits(&p, 4, &y)) {
		char sep = *p;
		if ((sep != '-' && sep != '/') || !(p++, digits(&p, 2, &m)) || *p++ != sep ||
		    !digits(&p, 2, &d))
			return LR_EINVAL;
	} else if (digits(&p, 2, &d) || (p = text, digits(&p, 1, &d))) {
		char sep = *p;
		if ((sep != '-' && sep != '/' && sep != '.') || !(p++, digits(&p, 2, &m) ||
								  digits(&p, 1, &m)) ||
		    *p++ != sep || !digits(&p, 4, &y))
			return LR_EINVAL;
	} else {
		return LR_EINVAL;
	}
	if (*p == ' ' || *p == 'T') {
		p++;
		if (!digits(&p, 2, &hh) || *p++ != ':' || !digits(&p, 2, &mm))
			return LR_EINVAL;
		if (*p == ':' && (p++, !digits(&p, 2, &ss)))
			return LR_EINVAL;
	}
	if (*p != '\0')
		return LR_EINVAL;
	return xtime_zone_local(out_ms, zone, y, m, d, hh, mm, ss);
}

static const char *field(const struct csv_row *row, long col)
{
	return col >= 0 && (size_t)col < row->n ? row->fields[col] : "";
}

static int totara_next(void *state, struct adapter_item *item, struct lr_error *err)
{
	struct totara_state *st = state;
	struct scorm_event ev;
	struct csv_row row;
	char username[256], shortname[256], date[64], grade[64];
	double score;
	int64_t when;
	int rc, i;
	size_t need = 0;

	memset(item, 0, sizeof(*item));
	rc = itemq_pop(st->queue, item, err);
	if (rc != 0)
		return rc;
	rc = csv_next(st->csv, &row, err);
	if (rc == LR_EINVAL) {
		item->line = err->line;
		item->record = err->record;
	}
	if (rc <= 0)
		return rc;
	for (i = 0; i < T_COUNT; i++)
		if (st->col[i] >= 0 && (size_t)st->col[i] + 1 > need)
			need = (size_t)st->col[i] + 1;
	if (row.n < need) {
		char n[32];
		snprintf(n, sizeof(n), "%zu", row.n);
		return csv_row_reject(item, err, &row, "", "the row has %s fields, the header has more", n);
	}
	if (strlen(field(&row, st->col[T_USERNAME])) >= sizeof(username) ||
	    strlen(field(&row, st->col[T_SHORTNAME])) >= sizeof(shortname))
		return csv_row_reject(item, err, &row, "username", "username or courseshortname is longer than 255 characters%s", "");
	scorm_trim(username, sizeof(username), field(&row, st->col[T_USERNAME]));
	scorm_trim(shortname, sizeof(shortname), field(&row, st->col[T_SHORTNAME]));
	scorm_trim(date, sizeof(date), field(&row, st->col[T_DATE]));
	scorm_trim(grade, sizeof(grade), field(&row, st->col[T_GRADE]));
	if (!username[0])
		return csv_row_reject(item, err, &row, "username", "username is empty%s", "");
	if (!shortname[0])
		return csv_row_reject(item, err, &row, "courseshortname", "courseshortname is empty%s", "");
	if (!date[0])
		return csv_row_reject(item, err, &row, "completiondate", "completiondate is empty%s", "");
	if (totara_date(&when, date, st->zone) != 0)
		return csv_row_reject(item, err, &row, "completiondate", "'%s' is not a date", date);

	scorm_event_init(&ev);
	ev.org = st->in->org;
	ev.lms_url = st->in->lms_url;
	ev.system = "totara";
	ev.learner = username;
	ev.course_key = shortname;
	ev.completion = 1;
	ev.time_ms = when;
	ev.has_time = 1;
	if (grade[0] && strcmp(grade, "-") != 0) {
		if (scorm_number(grade, &score) != 0 || score < 0)
			return csv_row_reject(item, err, &row, "grade", "'%s' is not a grade (a number from 0)", grade);
		ev.raw = score;
		ev.has_raw = 1;
		if (score <= 100) {
			ev.min = 0;
			ev.max = 100;
			ev.has_min = ev.has_max = 1;
		}
	}
	if ((rc = scorm_statement_queue(st->queue, &ev, SCORM_COMPLETED, row.line, row.record)) != 0)
		return lr_error_set(err, rc, "out of memory");
	rc = itemq_pop(st->queue, item, err);
	if (rc == LR_EINVAL) {
		item->raw = row.raw;
		item->raw_len = row.raw_len;
	}
	return rc;
}

const struct adapter adapter_totara = {
	.name = "totara",
	.description = "Totara course completion CSV: username,courseshortname,courseidnumber,completiondate,grade",
	.sniff = totara_sniff,
	.open = totara_open,
	.next = totara_next,
	.close = totara_close,
};
