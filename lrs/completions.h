/*
 * completions.h: the de-duplicated completion data, one row per person per
 * course, derived from the store each time it is asked for (so identity links
 * and course aliases added later apply to old data).
 *
 * A statement is evidence about course C when its course key (the Activity
 * object's id for xAPI statements, the LMS's local course key for statements
 * made from LMS exports) is an alias of C for the statement's org (or, when
 * that org has no alias of its own for the key, for every org), its actor is an Agent resolved to a
 * person, and it is not voided (a "voided" statement from the same org names
 * it; with an "until" time, a void made after that time does not count). A person has completed C when any
 * evidence completes it: verb completed, passed or satisfied, or
 * result.completion true. Success is "passed" if any evidence passes (verb
 * passed or result.success true), else "failed" if any fails, else "unknown".
 * The best score is the highest result.score.scaled of any evidence.
 *
 * Multi-SCO roll-up: for a course with an imported package of more than one
 * required part (SCO or AU), part evidence (a statement with a part key, or an
 * xAPI statement on a part's activity IRI) completes the course only when
 * every required part is completed by the same org's data, at the time the
 * last part was; course-level evidence completes it as before. The package
 * used is the latest imported for the course and that org, else the latest
 * for every org.
 */
#ifndef LRHUB_COMPLETIONS_H
#define LRHUB_COMPLETIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct lr_error;
struct store;

struct completions_query {
	const char *course;        /* a course code, or NULL for all */
	const char *org;           /* only this org's evidence, or NULL for all */
	int64_t since_ms;          /* with has_since: rows first completed at or after */
	int has_since;
	int64_t until_ms;          /* with has_until: only evidence (and voids) at or before */
	int has_until;
	const unsigned char *pseudonym_key; /* non-NULL: keyed-hash person ids, no email or name */
	size_t pseudonym_key_len;
	/*
	 * Non-zero: one row per person, course and org whose data shows a
	 * completion, each from that org's evidence alone (as with .org set to
	 * it, for every org in one pass); orgs is that one org, and rows of one
	 * person and course follow each other in org code order.
	 */
	int by_org;
};

struct completion {
	const char *person_id;
	const char *email;         /* NULL when unknown or pseudonymised */
	const char *name;          /* NULL when unknown or pseudonymised */
	const char *course_id;
	const char *course_title;
	int64_t first_completed_ms;
	int64_t last_completed_ms;
	long completions;          /* distinct completing statements */
	const char *success;       /* "passed", "failed" or "unknown" */
	double best_score_scaled;  /* valid when has_score */
	int has_score;
	const char *orgs;          /* ';'-joined sorted org codes showing a completion */
};

/*
 * Calls fn for each row, ordered by course id, then email (rows without one
 * last), then person id. The row's strings are borrowed for the call. fn
 * returns 0 to go on, non-zero to stop (a negative value is returned).
 */
int completions_each(struct store *s, struct lr_error *err, const struct completions_query *q,
		     int (*fn)(void *ctx, const struct completion *row), void *ctx);

/* The CSV header line of the completions contract (with CRLF), for completions_write_csv. */
extern const char completions_csv_header[];

/* Writes one CSV field, quoted when it needs to be (RFC 4180), then "," or with last CRLF. */
void completions_csv_field(FILE *out, const char *text, int last);

/* Writes one row as an RFC 4180 CSV record ending in CRLF. Returns 0 or LR_EIO. */
int completions_write_csv(FILE *out, const struct completion *row);

/* Writes one row as a compact JSON object (no trailing newline). Returns 0, LR_EIO or LR_ENOMEM. */
int completions_write_json(FILE *out, const struct completion *row);

/*
 * Writes the pseudonym of person_id under key into out (64 hex digits and a
 * NUL): HMAC-SHA-256(key, person_id). Returns 0 or LR_EINVAL.
 */
int completions_pseudonym(char out[65], const unsigned char *key, size_t key_len,
			  const char *person_id);

#endif
