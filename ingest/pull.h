/*
 * pull.h: remote LRS sources. A source is another LRS (an LMS's own xAPI
 * store) whose statements belong to one of our orgs. Pulling it asks its
 * xAPI statements resource for what was stored since the source's cursor
 * (with a small overlap), follows "more" to the end, and puts every page's
 * statements through the same path as `lrhub ingest` (the xAPI adapter's
 * record reading, store_put_statement's validation, identity and
 * deduplication, the same rejects), one transaction per page. The cursor
 * (the newest remote "stored" committed) moves in the page's transaction,
 * so a pull that stops anywhere resumes where the last committed page ended
 * and a re-fetched statement is only a duplicate.
 *
 * The password is never stored: a source keeps the path of a file holding
 * it, read at pull time; a file that group or others may read is refused.
 * It goes to libcurl as the Basic auth password, never into a URL or a
 * message. TLS is verified unless the caller asks otherwise.
 */
#ifndef LRHUB_PULL_H
#define LRHUB_PULL_H

#include <stddef.h>
#include <stdint.h>

#include "lrs/store.h"

struct lr_error;

#define PULL_NAME_MAX 65          /* a source name: 1-64 of [A-Za-z0-9._-] */
#define PULL_OVERLAP_MS 300000    /* the cursor overlap: 5 minutes */

/* A configured source, as stored. Strings are borrowed for the call. */
struct pull_source_info {
	const char *name;
	const char *org;           /* org code */
	const char *xapi_url;      /* the LRS's xAPI base, e.g. https://lms.example/xapi */
	const char *user;          /* Basic auth user (the LRS's key) */
	const char *password_file; /* path of the file holding the password */
	const char *version;       /* X-Experience-API-Version: "1.0.3" or "2.0.0" */
	const char *cursor;        /* newest remote "stored" committed, NULL before the first */
	const char *last_run_at;   /* when it was last pulled, NULL if never */
	int64_t last_run_id;       /* that pull's run, 0 if never */
	const char *last_status;   /* "done", "done with errors", "failed", NULL if never */
	const char *last_error;    /* why the last pull failed, NULL if it did not */
};

/*
 * Adds a source. src->cursor, when not NULL, is where the first pull starts
 * (an ISO 8601 date-time; NULL pulls everything). Checks the name, that the
 * org exists (LR_ENOTFOUND), the URL is http(s) without credentials or a
 * query, the version, and that the password file is readable by its owner
 * only (LR_EINVAL saying why). LR_EEXISTS if the name is taken.
 */
int pull_source_add(struct store *s, struct lr_error *err, const struct pull_source_info *src);

/* Removes a source (its runs stay). LR_ENOTFOUND if there is none. */
int pull_source_remove(struct store *s, struct lr_error *err, const char *name);

/* Calls fn for each source in name order; a non-zero return from fn stops (and is returned). */
int pull_source_each(struct store *s, struct lr_error *err,
		     int (*fn)(void *ctx, const struct pull_source_info *src), void *ctx);

struct pull_options {
	const char *ca_file;       /* a CA bundle to verify the server with, NULL: the system's */
	int insecure;              /* 1: do not verify TLS (testing only: dangerous) */
	long page_limit;           /* statements asked per page; 0 means 500 */
	long max_pages;            /* stop after this many pages (the rest next time); 0: no limit */
	long connect_timeout;      /* seconds; 0 means 15 */
	long timeout;              /* whole-request seconds; 0 means 300 */
	long retries;              /* tries after the first on 5xx, 429, network errors; <0: 0; 0 means 5 */
	long backoff_ms;           /* first retry wait, doubled each time; 0 means 1000 */
	size_t max_response;       /* bytes of one page; 0 means 64 MiB */
	/* Called for each rejected statement or conflict (kind "invalid" or "conflict"). */
	void (*on_reject)(void *ctx, const char *kind, const struct lr_error *rej);
	/* Called after each page is committed. */
	void (*on_page)(void *ctx, const char *source, long page,
			const struct store_counts *counts);
	/* Called before waiting to retry: why (one line, no credentials), how long. */
	void (*on_retry)(void *ctx, const char *source, const char *why, long wait_ms);
	void *ctx;
};

struct pull_report {
	char source[PULL_NAME_MAX];
	char org[PULL_NAME_MAX];
	int64_t run_id;            /* the run recorded for this pull (0 if none could be) */
	long pages;                /* pages committed */
	long retries;              /* retries made */
	int more;                  /* 1 when max_pages stopped it before the end */
	struct store_counts counts;
	char cursor[40];           /* the cursor after the pull ("" if none yet) */
};

/*
 * Pulls source name as one run (kind "pull", the source's org). Returns 0
 * when it pulled to the end (or to max_pages), else a negative code with err
 * set to one line naming the source and the URL path (never credentials):
 * LR_ENOTFOUND no such source, LR_EINVAL a bad password file, LR_EIO the
 * server could not be reached or answered with an error, LR_EFORMAT the
 * answer was not a StatementResult, store codes. *report is filled in every
 * case with what was committed before the failure; the run and the source's
 * last run / last error are recorded whenever the store allows.
 * Call pull_global_init once first (it is curl_global_init).
 */
int pull_source(struct store *s, struct lr_error *err, const char *name,
		const struct pull_options *opts, struct pull_report *report);

/* Initialises libcurl for the process (once, before any thread starts). Returns 0 or LR_ENOMEM. */
int pull_global_init(void);

/* ---- pure parts, exposed for the unit tests ---- */

/*
 * Resolves "more" (an IRL relative to the server's origin per the xAPI
 * spec, or absolute) against base_url (the source's xAPI URL). Writes a
 * malloc'd absolute URL to *out. An absolute "more" must be on the same
 * origin (scheme, host, port), else LR_EINVAL: credentials are never sent
 * elsewhere.
 */
int pull__resolve_more(char **out, const char *base_url, const char *more);

/* The "since" to ask for: cursor_ms minus overlap_ms, never before the epoch. */
int64_t pull__since_ms(int64_t cursor_ms, int64_t overlap_ms);

/*
 * Parses a Retry-After value (delta-seconds or an HTTP-date) into
 * milliseconds to wait from now_ms, capped at cap_ms; -1 if it is
 * malformed or empty.
 */
long pull__retry_after_ms(const char *value, int64_t now_ms, long cap_ms);

/* The wait before retry number attempt (1-based): first_ms * 2^(attempt-1), capped at cap_ms. */
long pull__backoff_ms(long first_ms, int attempt, long cap_ms);

#endif
