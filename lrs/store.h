/*
 * store.h: the learning-record store, one SQLite database in WAL mode.
 *
 * It holds xAPI statements (canonical JSON plus the columns that queries
 * need), the agents they name and the orgs they came from, courses and the
 * local keys each org uses for them, identity links, and every ingest run
 * with its files and rejects. The schema is versioned; opening a store made
 * by an older lrhub migrates it, one made by a newer lrhub is refused.
 *
 * Statements are immutable: store_put_statement adds a new one, treats a
 * re-sent identical one as a no-op and refuses a different one under a known
 * id as a conflict (xAPI's rule).
 */
#ifndef LRHUB_STORE_H
#define LRHUB_STORE_H

#include <stddef.h>
#include <stdint.h>

struct json_t;
struct xapi_facts;
struct lr_error;
struct store;


enum store_open_flags {
	STORE_CREATE = 1,     /* create the file if it does not exist */
	STORE_READONLY = 2    /* open for reading only */
};

/*
 * Opens (and with STORE_CREATE creates) the store at path, migrating its
 * schema. On success *out is a new store the caller closes with store_close.
 */
int store_open(struct store **out, struct lr_error *err, const char *path, unsigned flags);

/* Closes s; store_close(NULL) does nothing. */
void store_close(struct store *s);

/* The schema version of the open store (after store_open: the newest lrhub knows). */
int store_schema_version(struct store *s);

/*
 * The page size of a new store, in bytes (an existing store keeps its own).
 * See lrs/store.c, store_open, for why this one.
 */
#define STORE_PAGE_SIZE 8192

/* Transactions (BEGIN IMMEDIATE / COMMIT / ROLLBACK). */
int store_begin(struct store *s, struct lr_error *err);
int store_commit(struct store *s, struct lr_error *err);
void store_rollback(struct store *s);

/* ---- orgs ---- */

struct store_org {
	int64_t id;
	const char *code;      /* the short name used on the command line */
	const char *name;      /* may be NULL */
	const char *lms_url;   /* may be NULL */
	const char *timezone;  /* may be NULL */
};

/* Adds an org; LR_EEXISTS if the code is taken, LR_EINVAL if it is malformed. */
int store_org_add(struct store *s, struct lr_error *err, const struct store_org *org);
/* Looks an org up by code; LR_ENOTFOUND if there is none. */
int store_org_id(struct store *s, struct lr_error *err, const char *code, int64_t *out_id);
/* Calls fn for each org, in code order. The strings are borrowed for the call. */
int store_org_each(struct store *s, struct lr_error *err,
		   int (*fn)(void *ctx, const struct store_org *org), void *ctx);

/* ---- courses ---- */

struct store_course {
	int64_t id;
	const char *code;
	const char *title;
	long aliases;         /* how many local keys map to it */
};

int store_course_add(struct store *s, struct lr_error *err, const char *code, const char *title);
int store_course_id(struct store *s, struct lr_error *err, const char *code, int64_t *out_id);
/*
 * Makes key (an activity IRI or another LMS's local course key) an alias of
 * course for org_id, or for every org when org_id is 0. LR_EEXISTS if the key
 * is already an alias of another course for that org.
 */
int store_course_alias(struct store *s, struct lr_error *err, int64_t course_id, int64_t org_id,
		       const char *key);
int store_course_each(struct store *s, struct lr_error *err,
		      int (*fn)(void *ctx, const struct store_course *course), void *ctx);

/* A local course key seen in data but not aliased to any course. */
struct store_unmapped {
	const char *org;          /* org code */
	const char *key;          /* activity IRI */
	const char *name;         /* the activity's name if a definition gave one, else NULL */
	long statements;
	long completions;         /* statements that show a completion */
	long learners;
};
int store_unmapped_each(struct store *s, struct lr_error *err,
			int (*fn)(void *ctx, const struct store_unmapped *row), void *ctx);

/* ---- identity ---- */

/*
 * Records that, in org_id's data, the account name key belongs to the person
 * with email (normalised here). Returns 0 or LR_EINVAL for a bad email.
 * *out_added is 1 if the link is new, 0 if it was known.
 */
int store_identity_link(struct store *s, struct lr_error *err, int64_t org_id, const char *key,
			const char *email, const char *source, int *out_added);

/* ---- runs, files, rejects ---- */

struct store_counts {
	long accepted;     /* new statements stored */
	long duplicates;   /* identical to a stored statement: nothing done */
	long conflicts;    /* known id, different content: refused */
	long rejected;     /* invalid records */
};

int store_run_begin(struct store *s, struct lr_error *err, const char *kind, int64_t org_id,
		    int64_t *out_run_id);
int store_run_end(struct store *s, struct lr_error *err, int64_t run_id, const char *status,
		  const struct store_counts *counts, long files);
int store_file_begin(struct store *s, struct lr_error *err, int64_t run_id, const char *path,
		     const char *sha256_hex, int64_t size, const char *format, int64_t *out_file_id);
/* Records how a file ended: status "done", "partial" (stopped part-way) or "failed". */
int store_file_end(struct store *s, struct lr_error *err, int64_t file_id, const char *status,
		   const char *sha256_hex, int64_t size, const struct store_counts *counts,
		   const char *error);
/* 1 if a file with this SHA-256 was ingested completely for org_id before, else 0. */
int store_file_seen(struct store *s, struct lr_error *err, int64_t org_id, const char *sha256_hex);

/*
 * Stores a reject: what (rej: source, line, record, field, text), of which
 * kind ("invalid", "conflict"), and up to 64 KiB of the raw record.
 */
int store_reject_add(struct store *s, struct lr_error *err, int64_t run_id, int64_t file_id,
		     const char *kind, const struct lr_error *rej, const char *raw, size_t raw_len);

struct store_reject {
	int64_t run_id;
	const char *org;
	const char *kind;
	const char *path;
	long line;
	long record;
	const char *field;
	const char *reason;
	const char *raw;      /* may be NULL */
};
/* Calls fn for each reject of run_id (or of the latest run that has any, when 0). */
int store_reject_each(struct store *s, struct lr_error *err, int64_t run_id,
		      int (*fn)(void *ctx, const struct store_reject *rej), void *ctx);

struct store_run {
	int64_t id;
	const char *kind;
	const char *org;
	const char *started_at;
	const char *finished_at;   /* NULL while running or if it died */
	const char *status;
	long files;
	struct store_counts counts;
};
/* Calls fn for each run, newest first, at most limit (0: all). */
int store_run_each(struct store *s, struct lr_error *err, long limit,
		   int (*fn)(void *ctx, const struct store_run *run), void *ctx);

/* ---- statements ---- */

enum store_outcome {
	STORE_NEW = 1,        /* stored */
	STORE_DUPLICATE = 2   /* the same statement was stored already: nothing done */
};

/* Where a statement came from, and which course it is about. */
struct store_source {
	int64_t org_id;
	const char *org_code;
	int64_t run_id;       /* 0 when not part of a run */
	int64_t file_id;      /* 0 when not from a file */
	unsigned xapi_flags;  /* enum xapi_flags */
	/*
	 * The org's local key of the course the statement is about (a scorm id,
	 * a course short name), matched against course aliases; NULL means the
	 * statement's Activity object id (the xAPI case).
	 */
	const char *course_key;
	const char *part_key; /* the SCO or AU within the course, NULL for the course itself */
};

/*
 * Validates statement, gives it an id if it has none (derived from its
 * content and org), sets "stored" and, when absent, "authority" (the org), and
 * stores it. statement (borrowed) is modified in place. Returns 0 with
 * *out_outcome set; LR_EINVAL for an invalid statement and LR_ECONFLICT for
 * a known id with different content (err says why, nothing stored); other
 * codes for store failures. Call inside store_begin/store_commit for speed.
 */
int store_put_statement(struct store *s, struct lr_error *err, struct json_t *statement,
			const struct store_source *src, enum store_outcome *out_outcome);

/*
 * What a caller already knows of a statement read from raw bytes, worked out
 * in another thread (the xAPI adapter's parser thread) so the storing thread
 * need not; every member is optional (NULL or 0: the store works it out).
 */
struct store_prepared {
	const unsigned char *digest;      /* its xapi_digest (32 bytes); with src->xapi_flags
					     holding XAPI_VALIDATED when it was validated already */
	const unsigned char *raw_sha;     /* SHA-256 of raw (32 bytes) */
	const struct xapi_facts *facts;   /* xapi_facts of the statement */
	const char *compact;              /* raw without its white space between tokens */
	size_t compact_len;
};

/*
 * store_put_statement for a statement read from a file: raw (borrowed,
 * raw_len bytes) is the JSON text that statement was parsed from. The stored
 * text is raw without its white space plus the properties the store adds
 * (no second serialisation), and the SHA-256 of raw is kept so that
 * store_raw_known can recognise the same bytes again. statement is left
 * unmodified (when raw cannot be used, for example when the statement has
 * its own "stored", a copy is completed and serialised). raw NULL is
 * store_put_statement. prep, when not NULL, says what is known already.
 */
int store_put_statement_raw(struct store *s, struct lr_error *err, struct json_t *statement,
			    const char *raw, size_t raw_len, const struct store_source *src,
			    const struct store_prepared *prep, enum store_outcome *out_outcome);

/*
 * The JSON text store_put_statement would store for statement, short of the
 * "stored" it adds: compact, in *buf (*cap bytes, grown with realloc; the
 * caller frees it), *len bytes and a NUL. Given to store_put_statement_raw as
 * raw and compact, it lets a caller make the text before it takes the store
 * (the HTTP API does, in parallel, outside the writer's turn). 0 or LR_ENOMEM.
 */
int store_statement_text(const struct json_t *statement, char **buf, size_t *cap, size_t *len);

/*
 * Writes raw without the white space between its tokens to out (room for
 * raw_len bytes); its length, or 0 if raw ends inside a string.
 */
size_t store_compact_json(char *out, const char *raw, size_t raw_len);

/*
 * 1 when the statement stored under id (as written in the record) was stored
 * by store_put_statement_raw from the same raw_len bytes raw (compared by
 * SHA-256), so that they are a duplicate without parsing or validating them
 * again; 0 when not (unknown id, not a UUID, other bytes: the caller takes
 * the full path); < 0 on a store failure.
 */
int store_raw_known(struct store *s, struct lr_error *err, const char *id, const char *raw,
		    size_t raw_len);

/*
 * Opens a second, read-only connection to the same store file, for a reader
 * thread (each connection is used by one thread at a time). It sees what
 * the writer has committed. LR_ENOTFOUND for a store with no file (in
 * memory). Close it with store_close.
 */
int store_open_reader(struct store **out, struct lr_error *err, struct store *s);

/*
 * Gives back what the store holds to be fast at storing (the row cache of
 * agents and activities, SQLite's unused cache pages) before a phase that
 * needs memory for something else; outside a transaction only.
 */
void store_release_memory(struct store *s);

/*
 * Sets the size of the store connection's page cache, in KiB (a store opens
 * with 16 MiB); returns the size it had.
 */
int store_cache_kib(struct store *s, int kib);

/*
 * Checkpoints in a thread of their own (see lrs/store.c, "checkpoints"):
 * instead of copying the WAL into the database file in the middle of a
 * commit, the commits of every store attached to a checkpointer only signal
 * its thread, which checkpoints from a connection of its own.
 *
 * store_checkpointer_start makes one for the file of s (*out NULL, and 0,
 * for a store in memory or not in WAL mode); store_checkpointer_attach
 * attaches a store to it until that store is closed; store_checkpointer_stop
 * ends it, once every store attached to it is closed.
 * store_checkpoint_in_background does all three for s alone (ended by
 * store_close). Each returns 0, or an error if the thread cannot start.
 */
struct store_checkpointer;
int store_checkpointer_start(struct store_checkpointer **out, struct store *s, struct lr_error *err);
void store_checkpointer_attach(struct store *s, struct store_checkpointer *c);
void store_checkpointer_stop(struct store_checkpointer *c);
int store_checkpoint_in_background(struct store *s, struct lr_error *err);

/* Counts stored statements (all, or only voided ones). */
int store_count_statements(struct store *s, struct lr_error *err, int voided_only, long *out);

/* For tests of migrations: creates a store at path with the schema of an older version. */
int store__create_old(struct lr_error *err, const char *path, int version);

/*
 * For the modules that keep their own SQL over the store (identity,
 * completions, packages, the HTTP API): an error from db in err (LR_EBUSY,
 * LR_ENOMEM or LR_EDB, saying what was being done), and binding a text (NULL
 * binds NULL) or a row id (0 or less binds NULL).
 */
struct sqlite3;
struct sqlite3_stmt;
int store__db_error(struct sqlite3 *db, struct lr_error *err, const char *what);
void store__bind_text(struct sqlite3_stmt *q, int i, const char *text);
void store__bind_id(struct sqlite3_stmt *q, int i, int64_t id);

/*
 * A statement of another module, prepared on s's connection the first time
 * and kept until store_close, reset and unbound for each use: for SQL run
 * on every request. sql must be a string that lives as long as the program
 * (it is known again by its address); at most 8 per connection. NULL with
 * err set on failure.
 */
struct sqlite3_stmt *store__prepared(struct store *s, struct lr_error *err, const char *sql);

/* For the derived views (identity, completions): the SQLite handle. */
struct sqlite3 *store__db(struct store *s);

#endif
