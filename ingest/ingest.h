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
	long batch;                /* statements per transaction; 0 means 5000 */
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

#endif
