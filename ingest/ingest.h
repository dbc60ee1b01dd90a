/*
 * ingest.h: the ingest pipeline. Takes files (or folders of files) that one
 * org exported, detects each file's format from its content (or uses the
 * one forced), streams its records through the format's adapter into the
 * store in batched transactions, and records the run: which org, which
 * files with their SHA-256 and size, what was accepted, what was a
 * duplicate, what conflicted and what was rejected and why.
 *
 * A bad record never stops a file: it is recorded as a reject and the rest
 * goes in. A file that cannot be read at all is recorded as failed with its
 * reason, and the other files still go in.
 */
#ifndef LRHUB_INGEST_H
#define LRHUB_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "lrs/store.h"

struct lr_error;

struct ingest_file_result {
	const char *path;
	const char *format;        /* the adapter used, or NULL if none could be */
	char sha256[65];           /* hex, "" if the file could not be read */
	int64_t size;
	struct store_counts counts;
	const char *status;        /* "done", "partial" (stopped part-way), "failed" */
	const char *error;         /* why it is partial or failed ("line N: record N: ..."), else NULL */
	long error_line;           /* where, when known (0 if not) ... */
	long error_record;
	const char *reason;        /* ... and what, without where; NULL when error is NULL */
};

struct ingest_options {
	const char *org;           /* the org code (must exist) */
	const char *format;        /* force this adapter, or NULL to detect */
	const char *course;        /* --course: the course key of single-course files */
	long batch;                /* statements per transaction; 0 means 20000 */
	/*
	 * 1: each file in one transaction together with its file record and its
	 * rejects, so that a file is in the store completely or not at all, even
	 * if the process is killed (lrhub nightly). batch is then not used.
	 */
	int whole_file;
	/* Called for each rejected record or conflict (kind "invalid" or "conflict"). */
	void (*on_reject)(void *ctx, const char *kind, const struct lr_error *rej);
	/* Called when a file is finished. */
	void (*on_file)(void *ctx, const struct ingest_file_result *file);
	/* Called now and then while a file is read: bytes read of total, records so far. */
	void (*on_progress)(void *ctx, const char *path, int64_t done, int64_t total, long records);
	void *ctx;
};

struct ingest_report {
	int64_t run_id;
	long files;                /* files attempted */
	long files_failed;         /* files that could not be read at all */
	long files_partial;        /* files that stopped part-way */
	long files_duplicate;      /* files skipped as already ingested (ingest_run_duplicate) */
	struct store_counts counts;
};

/*
 * Ingests paths (files, or folders whose files are taken in name order,
 * recursively, skipping hidden ones) for opts->org as one run. Returns 0 when
 * the run was recorded (look at *report for what went in), or a negative code
 * when the run could not happen at all (no such org, store failure).
 */
int ingest_paths(struct store *s, struct lr_error *err, const struct ingest_options *opts,
		 const char *const *paths, size_t n_paths, struct ingest_report *report);

/*
 * A run driven file by file (lrhub nightly drives one per org of its inbox):
 * ingest_run_open records a run of kind ("ingest", "inbox") for opts->org;
 * ingest_run_path ingests a file or folder into it as ingest_paths does,
 * calling opts' callbacks; ingest_run_close records how the run ended (failed:
 * 1 when the caller gives up on it) and frees it, copying the totals into
 * *report when report is not NULL. opts is borrowed for the run's life.
 * Returns 0 or a negative code (no such org, unknown format, store failure);
 * ingest_run_path returns < 0 only when the store fails (a bad file is a
 * failed file, not an error).
 */
struct ingest_run;
int ingest_run_open(struct ingest_run **out, struct store *s, struct lr_error *err,
		    const struct ingest_options *opts, const char *kind);
int64_t ingest_run_id(const struct ingest_run *run);
int ingest_run_path(struct ingest_run *run, struct lr_error *err, const char *path);
/*
 * Ingests the one file open_path into the run as ingest_run_path does, but
 * records and reports it as name (the file name a web upload gave): name
 * is never opened.
 */
int ingest_run_file_as(struct ingest_run *run, struct lr_error *err, const char *open_path,
		       const char *name);
/*
 * Records in the run that path (sha256_hex, size bytes) was not read because
 * the same content was ingested before (why says where: one line), as a file
 * of status "duplicate", in one transaction.
 */
int ingest_run_duplicate(struct ingest_run *run, struct lr_error *err, const char *path,
			 const char *sha256_hex, int64_t size, const char *why);
int ingest_run_close(struct ingest_run *run, struct lr_error *err, int failed,
		     struct ingest_report *report);

#endif
