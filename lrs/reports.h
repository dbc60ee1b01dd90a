/*
 * reports.h: the evaluators' reports, computed from the store the same way
 * for the command line (lrhub report, lrhub export powerbi) and the HTTP
 * server (/reports/coverage.json, /reports/trend.json).
 *
 *   - Coverage of a course as of a date: per org, per sector and for the
 *     whole system, the distinct people who have completed it (the
 *     completions engine, lrs/completions.h, with identity resolution: a
 *     person at two orgs counts once system-wide, once in each org whose
 *     data shows a completion, once per sector), against the org's
 *     headcount as of that date (lrs/workforce.h), and workforce targets
 *     ("90% of frontline staff by 2028-03-31"): the number needed, the gap,
 *     the monthly rate needed to close it by the target date and the
 *     monthly rate of first completions over the last three months.
 *   - Trend: first completions of a course per month or ISO week, and
 *     cumulative, system-wide and per org.
 *   - The Power BI star schema export (CSV files).
 *
 * Reports are built as jansson values (the JSON the server sends and
 * `--format json` prints); the writers turn the same value into CSV or a
 * text table, so every front end shows the same numbers. Nothing here
 * prints; the writers write to the FILE they are given. docs/reports.md
 * defines every figure.
 */
#ifndef LRHUB_REPORTS_H
#define LRHUB_REPORTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct json_t;
struct lr_error;
struct store;

#define REPORTS_MAX_TARGETS 8
#define REPORTS_KEY_MAX 4096

enum reports_population {
	REPORTS_ALL = 0,        /* all staff: the org's headcount */
	REPORTS_FRONTLINE = 1   /* frontline staff: the org's frontline headcount */
};

/* A workforce target: fraction of a population completed by a date. */
struct reports_target {
	double fraction;                 /* 0 < fraction <= 1 */
	enum reports_population population;
	char date[11];                   /* "YYYY-MM-DD", the last day counted */
};

enum reports_period { REPORTS_MONTH = 0, REPORTS_WEEK = 1 };

enum reports_format { REPORTS_TABLE = 0, REPORTS_CSV = 1, REPORTS_JSON = 2 };

struct reports_query {
	const char *course;      /* the course code; required */
	const char *as_of;       /* "YYYY-MM-DD" (evidence up to the end of that day, UTC);
				    NULL: coverage as of today, trend up to the last completion */
	const struct reports_target *targets; /* coverage only; may be NULL */
	size_t n_targets;
	enum reports_period by;  /* trend only */
	const char *org;         /* NULL: all orgs. Trend: only this org's series.
				    Coverage: only this org's row (sectors and system unchanged) */
};

/*
 * Parses "FRACTION:POPULATION:DATE" ("0.9:frontline:2028-03-31",
 * "70%:all:2028-03-31"; FRACTION a decimal in (0, 1] or a percentage) into
 * *out. Returns 0 or LR_EINVAL with err saying what is wrong.
 */
int reports_target_parse(struct reports_target *out, struct lr_error *err, const char *text);

/* Parses "month" / "week" and "table" / "csv" / "json". Return 0 or LR_EINVAL. */
int reports_period_parse(enum reports_period *out, struct lr_error *err, const char *text);
int reports_format_parse(enum reports_format *out, struct lr_error *err, const char *text);

/*
 * The coverage report of q->course as of q->as_of with q->targets. On
 * success *out is a new reference the caller json_decref()s. Errors:
 * LR_ENOTFOUND (no such course or org), LR_EINVAL (a bad date or target),
 * store errors. The shape (docs/reports.md has the full definition):
 *   { "course", "course_title", "as_of", "recent_from" (the day before the
 *     three-month window), "targets": [ {fraction, population, date} ],
 *     "system": ROW, "sectors": [ ROW + "sector" ], "orgs": [ ROW + "org",
 *     "name", "sector", "headcount_as_of" ] }
 *   ROW = { "completed", "headcount", "frontline", "coverage",
 *     "frontline_coverage", "recent_first_completions", "recent_monthly_rate",
 *     "targets": [ { "fraction", "population", "date", "base", "target",
 *       "gap", "months_left", "needed_monthly_rate", "on_track" } ] }
 *   (numbers or null when unknown, e.g. no headcount).
 */
int reports_coverage(struct json_t **out, struct lr_error *err, struct store *s,
		     const struct reports_query *q);

/*
 * The trend report of q->course by q->by: on success *out is a new reference:
 *   { "course", "course_title", "by", "as_of" (or null),
 *     "periods": [ "2025-01", ... ] (or ISO weeks "2025-W03"), contiguous,
 *     "starts": [ "2025-01-01", ... ] (each period's first day),
 *     "series": [ { "org" (null for the whole system), "name",
 *       "first_completions": [ n per period ], "cumulative": [ ... ] } ] }
 * The system series comes first, then one per org in code order (only
 * q->org's when set, and then no system series).
 */
int reports_trend(struct json_t **out, struct lr_error *err, struct store *s,
		  const struct reports_query *q);

/*
 * Write a report made by reports_coverage / reports_trend (borrowed) to out
 * as a text table, CSV (RFC 4180, CRLF, header row; coverage: one row per
 * system / sector / org and target; trend: period,start,org,first_completions,
 * cumulative) or JSON (indented, keys in order, newline at the end).
 * Return 0, LR_EIO or LR_ENOMEM.
 */
int reports_coverage_write(FILE *out, const struct json_t *report, enum reports_format format);
int reports_trend_write(FILE *out, const struct json_t *report, enum reports_format format);

/*
 * Reads the pseudonymisation key in path into key (REPORTS_KEY_MAX bytes of
 * room; trailing newlines and spaces dropped), *out_len its length. With
 * create and no such file, first writes a new random key there (32 random
 * bytes as 64 hex digits, mode 0600, never overwriting) and sets *out_created.
 * LR_EIO if it cannot be read or made, LR_EINVAL if shorter than 16 bytes.
 */
int reports_key_load(unsigned char *key, size_t *out_len, int *out_created, struct lr_error *err,
		     const char *path, int create);

/*
 * Writes the Power BI star schema into the folder dir (made if missing):
 * fact_completion.csv, dim_person.csv, dim_course.csv, dim_org.csv,
 * dim_date.csv (docs/powerbi.md). Persons appear only as
 * HMAC-SHA-256(key, person id). Each file is written to a temporary name
 * and renamed into place; rows are in a fixed order, so the same store and
 * key give byte-identical files. *out_rows (may be NULL) gets the number of
 * fact rows. Returns 0, LR_EIO, LR_ENOMEM or store errors.
 */
int reports_export_powerbi(struct store *s, struct lr_error *err, const char *dir,
			   const unsigned char *key, size_t key_len, long *out_rows);

#endif
