/*
 * nightly.h: the unattended nightly run. It takes every file that partners
 * dropped in an inbox folder, DIR/<org>/FILE, through the ingest pipeline,
 * each file in its own transaction, and moves it out of the way once its
 * fate is committed: to DIR/<org>/done/YYYY-MM-DD/ (with FILE.rejects.txt
 * beside it when some records were refused) or to DIR/<org>/failed/ beside
 * FILE.error.txt saying what was wrong, where, and what to do. Then it pulls
 * every remote source (ingest/pull.h). The whole is recorded as one run of
 * kind "nightly" whose per-org ("inbox") and per-source ("pull") runs name
 * it as their parent.
 *
 * Crash safety comes from the order of things: a file's statements, its file
 * record and its rejects commit together; a committed file still in the inbox
 * is found by its SHA-256 next time and moved as a duplicate, to the same
 * place with the same report (both are made from the store); reports are
 * written under a temporary name and renamed; files are moved by rename()
 * into a folder made first. Nothing here prints.
 */
#ifndef LRHUB_NIGHTLY_H
#define LRHUB_NIGHTLY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lrs/store.h"

struct lr_error;
struct pull_options;

#define NIGHTLY_NAME_MAX 80

/* What became of one inbox file (strings borrowed for the callback). */
struct nightly_file {
	const char *org;
	const char *path;        /* where it was in the inbox */
	const char *outcome;     /* "done", "rejects" (done, some records refused), "duplicate",
				    "failed", "waiting" (left for the next run) */
	const char *moved_to;    /* where it is now, NULL when left in place */
	const char *format;      /* the format read, NULL if none */
	const char *reason;      /* failed: why; duplicate: of what; waiting: why; else NULL */
	struct store_counts counts;
};

/* The account of one org's inbox folder or one remote source. */
struct nightly_group {
	char kind[8];                    /* "inbox" or "pull" */
	char name[NIGHTLY_NAME_MAX];     /* the org (inbox) or the source name (pull) */
	char org[NIGHTLY_NAME_MAX];
	int64_t run_id;                  /* its run, 0 when none was recorded */
	long files;                      /* files taken (done, with rejects, duplicate, failed) */
	long files_rejects;              /* ... of which went in with some records refused */
	long files_duplicate;            /* ... of which were ingested before */
	long files_failed;               /* ... of which went to failed/ */
	long files_waiting;              /* left for the next run */
	long pages;                      /* pull: pages committed */
	struct store_counts counts;      /* statements */
	char error[1024];                 /* why the whole group failed (unknown org, pull error), or "" */
};

struct nightly_report {
	int64_t run_id;                  /* the nightly run */
	struct nightly_group *groups;    /* inbox orgs in name order, then sources */
	size_t n_groups;
	struct nightly_group total;      /* the sums (kind and name "total") */
	int needs_attention;             /* 1: rejects, conflicts, failed files or groups */
};

struct nightly_options {
	const char *inbox;               /* DIR */
	long settle_seconds;             /* a file modified more recently waits; < 0 means 60 */
	time_t now;                      /* the time to judge by and date done/ with; 0: now */
	int pull;                        /* 1: pull every remote source after the inbox */
	const struct pull_options *pull_opts;   /* for the pulls (its ctx and callbacks are used) */
	void (*on_file)(void *ctx, const struct nightly_file *file);
	/* A group finished (inbox org or source). */
	void (*on_group)(void *ctx, const struct nightly_group *group);
	void *ctx;
};

/*
 * Takes the nightly lock: an exclusive flock on lock_path (created if need
 * be), normally the store's path with ".lock". Returns 0 with *out_fd to give
 * to nightly_unlock, LR_EBUSY when another process holds it (at once, no
 * waiting), LR_EIO when the lock file cannot be opened.
 */
int nightly_lock(int *out_fd, struct lr_error *err, const char *lock_path);
void nightly_unlock(int fd);

/*
 * Runs the inbox (and the pulls) into s. Returns 0 when the run happened
 * (*report says how it went; free it with nightly_report_free), or a negative
 * code when it could not go on (the inbox is not a readable folder, the store
 * failed); *report then holds what was done before.
 */
int nightly_run(struct store *s, struct lr_error *err, const struct nightly_options *opts,
		struct nightly_report *report);
void nightly_report_free(struct nightly_report *report);

/* ---- reading runs back (lrhub runs show) ---- */

/* Calls fn for run_id itself and then each run whose parent it is, in id order. */
int nightly_run_each(struct store *s, struct lr_error *err, int64_t run_id,
		     int (*fn)(void *ctx, const struct store_run *run), void *ctx);

struct nightly_file_row {
	int64_t run_id;
	int64_t file_id;
	const char *org;
	const char *path;
	const char *sha256;
	const char *format;
	const char *status;    /* "done", "partial", "failed", "duplicate", "reading" (cut short) */
	const char *error;
	struct store_counts counts;
};

/* Calls fn for each file of run_id and of the runs whose parent it is, in id order. */
int nightly_file_each(struct store *s, struct lr_error *err, int64_t run_id,
		      int (*fn)(void *ctx, const struct nightly_file_row *file), void *ctx);

/* ---- parts exposed for the unit tests ---- */

/*
 * Why name (modified at mtime) must wait for a later run, given now and the
 * settle time; NULL when it can be taken now.
 */
const char *nightly__waiting(const char *name, time_t mtime, time_t now, long settle_seconds);

/*
 * A free name for name in folder dir: name itself, else "stem.N.ext" with the
 * smallest N from 1 that is not taken. Writes it into out (size bytes).
 * Returns 0, or LR_ELIMIT when it does not fit.
 */
int nightly__free_name(char *out, size_t size, const char *dir, const char *name);

#endif
