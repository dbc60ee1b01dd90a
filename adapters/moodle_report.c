/*
 * moodle_report.c: Moodle's SCORM report downloaded as "text": tab-separated,
 * one row per learner and attempt:
 *
 *   Name (or First name, Surname), identity columns (Username, Email
 *   address, ID number, ...), Attempt, Started on, Last accessed on, Score,
 *   then one column per SCO holding its status ("Completed", "Passed",
 *   "Incomplete", "Not attempted", "Failed", "Browsed").
 *
 * The file does not name its course, so --course gives the course key; a
 * SCO's key is its column heading. Dates are local times without an offset,
 * as Moodle prints them ("29/12/15, 10:17", "Friday, 29 December 2015,
 * 10:17 AM"), read in the org's time zone (UTC when the org has none). The
 * learner is the Username when the report shows it (and then the email is
 * an identity link), else the email address. "-" means no attempt.
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
#include <strings.h>

#define MAX_SCOS 256

enum { R_NAME, R_FIRST, R_LAST, R_USERNAME, R_EMAIL, R_ATTEMPT, R_STARTED, R_LAST_ACCESS,
       R_SCORE, R_COUNT };

struct report_state {
	const struct adapter_input *in;
	struct csv *csv;
	struct itemq *queue;
	struct xtime_zone *zone;
	long col[R_COUNT];
	long sco_col[MAX_SCOS];
	char *sco_name[MAX_SCOS];
	size_t n_scos;
};

static int report_sniff(const char *head, size_t len)
{
	char line[4096];
	size_t i = 0, n = 0;

	if (len >= 3 && memcmp(head, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	for (; i < len && head[i] != '\n' && head[i] != '\r' && n + 1 < sizeof(line); i++)
		line[n++] = (char)tolower((unsigned char)head[i]);
	line[n] = '\0';
	if (strchr(line, '\t') && strstr(line, "attempt") &&
	    (strstr(line, "started on") || strstr(line, "last accessed on")))
		return 90;
	return 0;
}

static void report_close(void *state)
{
	struct report_state *st = state;
	size_t i;

	if (!st)
		return;
	for (i = 0; i < st->n_scos; i++)
		free(st->sco_name[i]);
	csv_close(st->csv);
	itemq_free(st->queue);
	xtime_zone_free(st->zone);
	free(st);
}

static int report_open(void **state, struct lr_error *err, const struct adapter_input *in)
{
	static const char *const names[R_COUNT][3] = {
		[R_NAME] = { "Name", "Full name", NULL },
		[R_FIRST] = { "First name", NULL, NULL },
		[R_LAST] = { "Surname", "Last name", NULL },
		[R_USERNAME] = { "Username", NULL, NULL },
		[R_EMAIL] = { "Email address", "Email", NULL },
		[R_ATTEMPT] = { "Attempt", NULL, NULL },
		[R_STARTED] = { "Started on", NULL, NULL },
		[R_LAST_ACCESS] = { "Last accessed on", NULL, NULL },
		[R_SCORE] = { "Score", NULL, NULL },
	};
	struct report_state *st = calloc(1, sizeof(*st));
	struct csv_options opts = { .delimiter = '\t' };
	struct csv_row row;
	long after = -1;
	size_t i;
	int rc = 0, k, j;

	*state = NULL;
	if (!st || itemq_new(&st->queue) != 0 ||
	    csv_open(&st->csv, &opts, (csv_read_fn)in->read, in->ctx) != 0) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory");
		goto out;
	}
	st->in = in;
	if (!in->course || !*in->course) {
		rc = lr_error_set(err, LR_EINVAL,
				  "a Moodle SCORM report does not name its course: ingest it with --course KEY (the scorm id or the course's key)");
		goto out;
	}
	if (in->timezone && xtime_zone_load(&st->zone, in->timezone) != 0) {
		rc = lr_error_set(err, LR_EINVAL, "the org's time zone '%s' is not known", in->timezone);
		goto out;
	}
	rc = csv_header(st->csv, &row, err);
	if (rc < 0)
		goto out;
	rc = 0;
	for (k = 0; k < R_COUNT; k++) {
		st->col[k] = -1;
		for (j = 0; j < 3 && names[k][j] && st->col[k] < 0; j++)
			st->col[k] = csv_column(&row, names[k][j]);
	}
	lr_error_where(err, NULL, row.line, row.record);
	if (st->col[R_ATTEMPT] < 0) {
		rc = lr_error_set(err, LR_EFORMAT, "the header has no column 'Attempt'");
		goto out;
	}
	if (st->col[R_USERNAME] < 0 && st->col[R_EMAIL] < 0) {
		rc = lr_error_set(err, LR_EFORMAT,
				  "the report shows neither 'Username' nor 'Email address': download it with an identity column");
		goto out;
	}
	/* SCO columns: everything after the last of the known columns. */
	for (k = 0; k < R_COUNT; k++)
		if (st->col[k] > after)
			after = st->col[k];
	for (i = (size_t)after + 1; i < row.n; i++) {
		if (st->n_scos == MAX_SCOS) {
			rc = lr_error_set(err, LR_ELIMIT, "more than %d SCO columns", MAX_SCOS);
			goto out;
		}
		st->sco_col[st->n_scos] = (long)i;
		st->sco_name[st->n_scos] = strdup(row.fields[i]);
		if (!st->sco_name[st->n_scos]) {
			rc = lr_error_set(err, LR_ENOMEM, "out of memory");
			goto out;
		}
		scorm_trim(st->sco_name[st->n_scos], strlen(row.fields[i]) + 1, row.fields[i]);
		st->n_scos++;
	}
	lr_error_clear(err);
out:
	if (rc != 0)
		report_close(st);
	else
		*state = st;
	return rc;
}

static const char *const months[12] = {
	"january", "february", "march", "april", "may", "june", "july", "august", "september",
	"october", "november", "december"
};

static int read_int(const char **p, int max_digits, int *out)
{
	int v = 0, n = 0;

	while (isdigit((unsigned char)**p) && n < max_digits) {
		v = v * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	*out = v;
	return n;
}

/*
 * A date as Moodle prints it: [Weekday, ]DD/MM/YY[YY][,] HH:MM[ AM|PM] or
 * [Weekday, ]D Month YYYY[,] HH:MM[ AM|PM], or YYYY-MM-DD HH:MM[:SS].
 */
static int moodle_date(int64_t *out_ms, const char *text, const struct xtime_zone *zone)
{
	const char *p = text;
	int d = 0, m = 0, y = 0, hh = 0, mm = 0, ss = 0, n;

	while (isspace((unsigned char)*p))
		p++;
	if (isalpha((unsigned char)*p)) {       /* the weekday */
		while (isalpha((unsigned char)*p))
			p++;
		if (*p == ',')
			p++;
		while (isspace((unsigned char)*p))
			p++;
	}
	n = read_int(&p, 4, &d);
	if (n == 4 && *p == '-') {              /* ISO */
		y = d;
		p++;
		if (!read_int(&p, 2, &m) || *p++ != '-' || !read_int(&p, 2, &d))
			return LR_EINVAL;
	} else if (n >= 1 && n <= 2 && *p == '/') {
		p++;
		if (!read_int(&p, 2, &m) || *p++ != '/')
			return LR_EINVAL;
		n = read_int(&p, 4, &y);
		if (n == 2)
			y += y < 70 ? 2000 : 1900;
		else if (n != 4)
			return LR_EINVAL;
	} else if (n >= 1 && n <= 2 && *p == ' ') {
		int i;
		size_t len;
		while (*p == ' ')
			p++;
		for (len = 0; isalpha((unsigned char)p[len]); len++)
			;
		for (i = 0; i < 12; i++)
			if (len >= 3 && strncasecmp(p, months[i], len) == 0 && len <= strlen(months[i]))
				break;
		if (i == 12)
			return LR_EINVAL;
		m = i + 1;
		p += len;
		while (*p == ' ')
			p++;
		if (read_int(&p, 4, &y) != 4)
			return LR_EINVAL;
	} else {
		return LR_EINVAL;
	}
	if (*p == ',')
		p++;
	while (isspace((unsigned char)*p))
		p++;
	if (*p) {
		if (!read_int(&p, 2, &hh) || *p++ != ':' || read_int(&p, 2, &mm) != 2)
			return LR_EINVAL;
		if (*p == ':' && (p++, read_int(&p, 2, &ss) != 2))
			return LR_EINVAL;
		while (isspace((unsigned char)*p))
			p++;
		if (strncasecmp(p, "am", 2) == 0 || strncasecmp(p, "pm", 2) == 0) {
			if (hh < 1 || hh > 12)
				return LR_EINVAL;
			if (hh == 12)
				hh = 0;
			if (tolower((unsigned char)*p) == 'p')
				hh += 12;
			p += 2;
		}
		while (isspace((unsigned char)*p))
			p++;
		if (*p)
			return LR_EINVAL;
	}
	return xtime_zone_local(out_ms, zone, y, m, d, hh, mm, ss);
}

/* A status as the report writes it; 0, or LR_EINVAL. */
static int report_status(const char *text, int *completion, int *success)
{
	static const struct { const char *word; int completion, success; } words[] = {
		{ "not attempted", 0, -1 }, { "completed", 1, -1 }, { "passed", 1, 1 },
		{ "failed", 1, 0 }, { "incomplete", 0, -1 }, { "browsed", 0, -1 },
	};
	size_t i, n;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		n = strlen(words[i].word);
		if (strncasecmp(text, words[i].word, n) == 0 &&
		    (text[n] == '\0' || text[n] == ' ' || text[n] == '(')) {
			*completion = words[i].completion;
			*success = words[i].success;
			return 0;
		}
	}
	return LR_EINVAL;
}

static const char *field(const struct csv_row *row, long col, char *buf, size_t size)
{
	return scorm_trim(buf, size, col >= 0 && (size_t)col < row->n ? row->fields[col] : "");
}

static int is_none(const char *text)
{
	return !text[0] || strcmp(text, "-") == 0;
}

static int report_row(struct report_state *st, struct adapter_item *item, struct lr_error *err,
		      const struct csv_row *row)
{
	char name[512], first[256], last[256], username[256], email[512], attempt[32], started[128],
		accessed[128], score[64], status[128];
	struct scorm_event ev;
	int64_t when = 0;
	int has_when = 0, rc;
	long attempt_no;
	char *end;
	size_t i;

	field(row, st->col[R_NAME], name, sizeof(name));
	if (!name[0]) {
		field(row, st->col[R_FIRST], first, sizeof(first));
		field(row, st->col[R_LAST], last, sizeof(last));
		snprintf(name, sizeof(name), "%s%s%s", first, first[0] && last[0] ? " " : "", last);
	}
	field(row, st->col[R_USERNAME], username, sizeof(username));
	field(row, st->col[R_EMAIL], email, sizeof(email));
	field(row, st->col[R_ATTEMPT], attempt, sizeof(attempt));
	field(row, st->col[R_STARTED], started, sizeof(started));
	field(row, st->col[R_LAST_ACCESS], accessed, sizeof(accessed));
	field(row, st->col[R_SCORE], score, sizeof(score));
	if (is_none(attempt))
		return 0;   /* a learner with no attempt */
	attempt_no = strtol(attempt, &end, 10);
	if (*end || attempt_no < 1)
		return csv_row_reject(item, err, row, "Attempt", "'%s' is not an attempt number", attempt);
	if (!username[0] && !email[0])
		return csv_row_reject(item, err, row, st->col[R_USERNAME] >= 0 ? "Username" : "Email address",
			      "the row has no username or email address%s", "");
	if (!is_none(accessed)) {
		if (moodle_date(&when, accessed, st->zone) != 0)
			return csv_row_reject(item, err, row, "Last accessed on", "'%s' is not a date", accessed);
		has_when = 1;
	} else if (!is_none(started)) {
		if (moodle_date(&when, started, st->zone) != 0)
			return csv_row_reject(item, err, row, "Started on", "'%s' is not a date", started);
		has_when = 1;
	}
	scorm_event_init(&ev);
	ev.org = st->in->org;
	ev.lms_url = st->in->lms_url;
	ev.system = "moodle";
	ev.learner = username[0] ? username : NULL;
	ev.email = email;
	ev.learner_name = name[0] ? name : NULL;
	ev.course_key = st->in->course;
	ev.attempt = attempt_no;
	ev.time_ms = when;
	ev.has_time = has_when;
	if (!is_none(score)) {
		size_t n = strlen(score);
		if (n > 0 && score[n - 1] == '%')
			score[n - 1] = '\0';
		if (scorm_number(score, &ev.raw) != 0 || ev.raw < 0)
			return csv_row_reject(item, err, row, "Score", "'%s' is not a score", score);
		ev.has_raw = 1;
		if (ev.raw <= 100) {
			ev.min = 0;
			ev.max = 100;
			ev.has_min = ev.has_max = 1;
		}
	}
	/* Check every SCO status first, so a bad row queues nothing. */
	for (i = 0; i < st->n_scos; i++) {
		int c, s;
		field(row, st->sco_col[i], status, sizeof(status));
		if (!is_none(status) && report_status(status, &c, &s) != 0)
			return csv_row_reject(item, err, row, st->sco_name[i], "'%s' is not a SCORM status", status);
	}
	if (ev.learner && email[0] &&
	    (rc = itemq_push_identity(st->queue, ev.learner, email, row->line, row->record)) != 0)
		return lr_error_set(err, rc, "out of memory");
	for (i = 0; i < st->n_scos; i++) {
		struct scorm_event sco = ev;
		enum scorm_verb verbs[3];
		int n, k;

		field(row, st->sco_col[i], status, sizeof(status));
		if (is_none(status))
			continue;
		report_status(status, &sco.completion, &sco.success);
		if (sco.completion == 0 && sco.success < 0 && strncasecmp(status, "not attempted", 13) == 0)
			continue;
		sco.sco_key = st->sco_name[i];
		sco.sco_name = st->sco_name[i];
		if (st->n_scos > 1)
			sco.has_raw = 0;  /* the attempt's score is the course's, not one SCO's */
		n = scorm_event_verbs(&sco, verbs);
		for (k = 0; k < n; k++)
			if ((rc = scorm_statement_queue(st->queue, &sco, verbs[k], row->line, row->record)) != 0)
				return lr_error_set(err, rc, "out of memory");
	}
	if (ev.has_raw && st->n_scos != 1 &&
	    (rc = scorm_statement_queue(st->queue, &ev, SCORM_SCORED, row->line, row->record)) != 0)
		return lr_error_set(err, rc, "out of memory");
	return 0;
}

static int report_next(void *state, struct adapter_item *item, struct lr_error *err)
{
	struct report_state *st = state;
	struct csv_row row;
	int rc;

	for (;;) {
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
		rc = report_row(st, item, err, &row);
		if (rc != 0)
			return rc;
	}
}

const struct adapter adapter_moodle_report = {
	.name = "moodle-report",
	.description = "Moodle SCORM report, text (tab-separated) download; needs --course",
	.sniff = report_sniff,
	.open = report_open,
	.next = report_next,
	.close = report_close,
};
