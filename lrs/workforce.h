/*
 * workforce.h: what the coverage reports divide by. Each org has a sector
 * ("nhs", "council", "primary-care", free text) and a history of
 * headcounts: how many staff, and how many of them frontline, as of a date.
 * A report as of a date uses, for each figure, the latest one set with an
 * as_of on or before that date, so last year's report keeps last year's
 * denominator.
 */
#ifndef LRHUB_WORKFORCE_H
#define LRHUB_WORKFORCE_H

#include <stdint.h>

struct lr_error;
struct store;

/* What to set for an org; a NULL field or a negative number is left as it is. */
struct workforce_update {
	const char *org;         /* org code; required */
	const char *name;        /* the org's display name */
	const char *sector;
	long headcount;          /* -1: not set */
	long frontline;          /* -1: not set */
	const char *as_of;       /* "YYYY-MM-DD" the figures are true from; NULL: today (UTC) */
};

/*
 * Sets sector, name and, as of u->as_of, the headcount and frontline
 * headcount of an org (a figure set again for the same date replaces the
 * old one). With create, an unknown org is added, else LR_ENOTFOUND.
 * LR_EINVAL for a bad date, a frontline above the headcount in effect on
 * that date, or nothing to set. *out_created (may be NULL) says if the org was
 * added.
 */
int workforce_set(struct store *s, struct lr_error *err, const struct workforce_update *u,
		  int create, int *out_created);

/* The figures of one org as of a date. */
struct workforce_org {
	const char *code;
	const char *name;        /* NULL if none */
	const char *sector;      /* NULL if none */
	long headcount;          /* -1 when none is known on or before the date */
	const char *headcount_as_of; /* the date the headcount is from, NULL with none */
	long frontline;          /* -1 when unknown */
	const char *frontline_as_of;
};

/*
 * Calls fn for each org in code order with its figures as of date
 * ("YYYY-MM-DD"; NULL: the latest of each). Strings are borrowed for the
 * call; fn returns non-zero to stop (a negative value is returned).
 */
int workforce_each(struct store *s, struct lr_error *err, const char *date,
		   int (*fn)(void *ctx, const struct workforce_org *org), void *ctx);

/* The outcome of an import. */
struct workforce_import_counts {
	long rows;      /* data rows read */
	long applied;   /* rows set */
	long created;   /* orgs added */
	long rejected;  /* rows refused (reject called for each) */
};

/*
 * Imports a CSV file with a header row naming some of the columns
 * org,name,sector,headcount,frontline,as_of (org required, any order,
 * unknown columns refused), creating unknown orgs. A bad row is passed to
 * reject (a one-line error with the file and line) and the other rows
 * still go in, each in the same transaction. Returns 0 (even with rejected
 * rows), or LR_EIO / LR_EINVAL (a bad header) / store errors for the file.
 */
int workforce_import_csv(struct store *s, struct lr_error *err, const char *path,
			 struct workforce_import_counts *counts,
			 void (*reject)(void *ctx, const struct lr_error *row_err), void *ctx);

/* 1 if text is a valid "YYYY-MM-DD" calendar date, else 0. */
int workforce_date_valid(const char *text);

#endif
