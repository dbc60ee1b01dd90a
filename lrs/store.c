/*
 * store.c: the SQLite learning-record store (see store.h).
 *
 * Every query is a prepared statement, prepared once per connection and
 * reused. The schema is applied by numbered migrations recorded in
 * PRAGMA user_version, each in its own transaction.
 */
#include "store.h"
#include "error.h"
#include "hash.h"
#include "ifi.h"
#include "uuid.h"
#include "walvfs.h"
#include "xapi.h"
#include "xtime.h"

#include <jansson.h>
#include <sqlite3.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const migrations[] = {
	/* 1: the first schema */
	"CREATE TABLE org("
	"  id INTEGER PRIMARY KEY,"
	"  code TEXT NOT NULL UNIQUE,"
	"  name TEXT, lms_url TEXT, timezone TEXT,"
	"  created_at TEXT NOT NULL);"
	"CREATE TABLE agent("
	"  id INTEGER PRIMARY KEY,"
	"  ifi TEXT NOT NULL UNIQUE,"
	"  account_name TEXT,"
	"  name TEXT);"
	"CREATE INDEX agent_account ON agent(account_name) WHERE account_name IS NOT NULL;"
	"CREATE TABLE agent_org("
	"  agent_id INTEGER NOT NULL, org_id INTEGER NOT NULL,"
	"  PRIMARY KEY(agent_id, org_id)) WITHOUT ROWID;"
	"CREATE TABLE activity("
	"  iri TEXT PRIMARY KEY, name TEXT, type TEXT) WITHOUT ROWID;"
	"CREATE TABLE run("
	"  id INTEGER PRIMARY KEY,"
	"  kind TEXT NOT NULL,"
	"  org_id INTEGER REFERENCES org(id),"
	"  started_at TEXT NOT NULL, finished_at TEXT,"
	"  status TEXT NOT NULL DEFAULT 'running',"
	"  files INTEGER NOT NULL DEFAULT 0,"
	"  accepted INTEGER NOT NULL DEFAULT 0, duplicates INTEGER NOT NULL DEFAULT 0,"
	"  conflicts INTEGER NOT NULL DEFAULT 0, rejected INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE file("
	"  id INTEGER PRIMARY KEY,"
	"  run_id INTEGER NOT NULL REFERENCES run(id),"
	"  path TEXT NOT NULL, sha256 TEXT, size INTEGER, format TEXT,"
	"  status TEXT NOT NULL DEFAULT 'reading', error TEXT,"
	"  accepted INTEGER NOT NULL DEFAULT 0, duplicates INTEGER NOT NULL DEFAULT 0,"
	"  conflicts INTEGER NOT NULL DEFAULT 0, rejected INTEGER NOT NULL DEFAULT 0,"
	"  started_at TEXT NOT NULL, finished_at TEXT);"
	"CREATE INDEX file_sha256 ON file(sha256);"
	"CREATE TABLE reject("
	"  id INTEGER PRIMARY KEY,"
	"  run_id INTEGER NOT NULL REFERENCES run(id),"
	"  file_id INTEGER REFERENCES file(id),"
	"  kind TEXT NOT NULL, path TEXT, line INTEGER, record INTEGER,"
	"  field TEXT, reason TEXT NOT NULL, raw TEXT);"
	"CREATE INDEX reject_run ON reject(run_id);"
	"CREATE TABLE statement("
	"  seq INTEGER PRIMARY KEY,"
	"  id TEXT NOT NULL UNIQUE,"
	"  org_id INTEGER NOT NULL REFERENCES org(id),"
	"  run_id INTEGER, file_id INTEGER,"
	"  actor_id INTEGER REFERENCES agent(id),"
	"  actor_type TEXT NOT NULL,"
	"  verb TEXT NOT NULL,"
	"  object_type TEXT NOT NULL,"
	"  object_id TEXT,"
	"  registration TEXT,"
	"  ts INTEGER NOT NULL,"
	"  stored INTEGER NOT NULL,"
	"  completes INTEGER NOT NULL,"
	"  outcome INTEGER,"
	"  score REAL,"
	"  voids TEXT,"
	"  digest BLOB NOT NULL,"
	"  json TEXT NOT NULL);"
	"CREATE INDEX statement_object ON statement(object_id, actor_id);"
	"CREATE INDEX statement_voids ON statement(voids) WHERE voids IS NOT NULL;"
	"CREATE TABLE course("
	"  id INTEGER PRIMARY KEY,"
	"  code TEXT NOT NULL UNIQUE,"
	"  title TEXT NOT NULL,"
	"  created_at TEXT NOT NULL);"
	"CREATE TABLE course_alias("
	"  course_id INTEGER NOT NULL REFERENCES course(id),"
	"  org_id INTEGER NOT NULL,"
	"  key TEXT NOT NULL,"
	"  PRIMARY KEY(key, org_id)) WITHOUT ROWID;"
	"CREATE TABLE identity_link("
	"  org_id INTEGER NOT NULL REFERENCES org(id),"
	"  key TEXT NOT NULL,"
	"  email TEXT NOT NULL,"
	"  source TEXT,"
	"  created_at TEXT NOT NULL,"
	"  PRIMARY KEY(org_id, key, email)) WITHOUT ROWID;",
	/* 2: the persons as last resolved, for readers of the database itself */
	"CREATE TABLE person("
	"  id TEXT PRIMARY KEY,"
	"  email TEXT,"
	"  name TEXT) WITHOUT ROWID;"
	"CREATE TABLE person_agent("
	"  agent_id INTEGER PRIMARY KEY,"
	"  person_id TEXT NOT NULL);"
	"CREATE INDEX person_agent_person ON person_agent(person_id);",
	/*
	 * 3: local course keys, and course structure. A statement's course_key is
	 * the key its org uses for the course (the activity IRI for xAPI, the
	 * scorm id, course id or short name for LMS exports); part_key names the
	 * SCO or AU within it, NULL for the course as a whole.
	 */
	"ALTER TABLE statement ADD COLUMN course_key TEXT;"
	"ALTER TABLE statement ADD COLUMN part_key TEXT;"
	"UPDATE statement SET course_key = object_id WHERE object_type = 'Activity';"
	"DROP INDEX statement_object;"
	"CREATE INDEX statement_course ON statement(course_key, actor_id);"
	"CREATE TABLE package("
	"  id INTEGER PRIMARY KEY,"
	"  course_id INTEGER REFERENCES course(id),"
	"  org_id INTEGER,"
	"  kind TEXT NOT NULL,"
	"  identifier TEXT,"
	"  title TEXT,"
	"  version TEXT,"
	"  course_iri TEXT,"
	"  sha256 TEXT NOT NULL,"
	"  path TEXT,"
	"  manifest TEXT,"
	"  parts INTEGER NOT NULL DEFAULT 0,"
	"  required INTEGER NOT NULL DEFAULT 0,"
	"  imported_at TEXT NOT NULL);"
	"CREATE INDEX package_course ON package(course_id, org_id);"
	"CREATE TABLE package_part("
	"  package_id INTEGER NOT NULL REFERENCES package(id),"
	"  position INTEGER NOT NULL,"
	"  identifier TEXT NOT NULL,"
	"  parent TEXT,"
	"  depth INTEGER NOT NULL DEFAULT 0,"
	"  title TEXT,"
	"  launch TEXT,"
	"  is_part INTEGER NOT NULL,"
	"  required INTEGER NOT NULL DEFAULT 0,"
	"  mastery_score REAL,"
	"  move_on TEXT,"
	"  activity_iri TEXT,"
	"  PRIMARY KEY(package_id, position)) WITHOUT ROWID;",
	/*
	 * 4: the xAPI HTTP API (lrhub serve): API credentials (secrets only as
	 * salted PBKDF2 hashes), the state / activity profile / agent profile
	 * documents of each org, statement attachments by SHA-2, a server key
	 * for signing paging tokens, and indexes for the statement queries.
	 */
	"CREATE TABLE credential("
	"  key TEXT PRIMARY KEY,"
	"  org_id INTEGER NOT NULL REFERENCES org(id),"
	"  scope TEXT NOT NULL,"
	"  salt BLOB NOT NULL,"
	"  hash BLOB NOT NULL,"
	"  iterations INTEGER NOT NULL,"
	"  created_at TEXT NOT NULL,"
	"  revoked_at TEXT) WITHOUT ROWID;"
	"CREATE TABLE document("
	"  id INTEGER PRIMARY KEY,"
	"  org_id INTEGER NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  activity_id TEXT NOT NULL DEFAULT '',"
	"  agent TEXT NOT NULL DEFAULT '',"
	"  registration TEXT NOT NULL DEFAULT '',"
	"  doc_id TEXT NOT NULL,"
	"  content_type TEXT NOT NULL,"
	"  body BLOB NOT NULL,"
	"  etag TEXT NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  UNIQUE(org_id, kind, activity_id, agent, registration, doc_id));"
	"CREATE TABLE attachment("
	"  sha2 TEXT PRIMARY KEY,"
	"  content_type TEXT NOT NULL,"
	"  body BLOB NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE server_key("
	"  name TEXT PRIMARY KEY,"
	"  value BLOB NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX statement_verb ON statement(verb);"
	"CREATE INDEX statement_actor ON statement(actor_id);"
	"CREATE INDEX statement_object_id ON statement(object_id) WHERE object_id IS NOT NULL;"
	"CREATE INDEX statement_registration ON statement(registration)"
	"  WHERE registration IS NOT NULL;"
	"CREATE INDEX statement_org ON statement(org_id);",
	/*
	 * 5: the voiding lookup ("is this statement voided by its own org?") by
	 * one index on (voids, org_id), which every query that asks names with
	 * INDEXED BY: without statistics the planner took the org index instead
	 * and scanned the org's statements for each statement.
	 */
	"DROP INDEX statement_voids;"
	"CREATE INDEX statement_voids ON statement(voids, org_id) WHERE voids IS NOT NULL;",
	/*
	 * 6: the denominators of the coverage reports (lrs/workforce.h): an org's
	 * sector, and its headcount and frontline headcount as of dates (a
	 * report uses the latest on or before its date; NULL: not given then).
	 */
	"ALTER TABLE org ADD COLUMN sector TEXT;"
	"CREATE TABLE org_headcount("
	"  org_id INTEGER NOT NULL REFERENCES org(id),"
	"  as_of TEXT NOT NULL,"
	"  headcount INTEGER,"
	"  frontline INTEGER,"
	"  set_at TEXT NOT NULL,"
	"  PRIMARY KEY(org_id, as_of)) WITHOUT ROWID;",
	/*
	 * 7: the runs a nightly run is made of (one per inbox org, one per remote
	 * source pulled) name it as their parent, for `lrhub runs show`.
	 */
	"ALTER TABLE run ADD COLUMN parent_id INTEGER REFERENCES run(id);"
	"CREATE INDEX run_parent ON run(parent_id) WHERE parent_id IS NOT NULL;",
	/*
	 * 8: remote LRS sources (ingest/pull.h): where to pull an org's statements
	 * from, the PATH of the file holding the password (never the password),
	 * the cursor (the newest remote "stored" committed) and how the last
	 * pull went.
	 */
	"CREATE TABLE source("
	"  name TEXT PRIMARY KEY,"
	"  org_id INTEGER NOT NULL REFERENCES org(id),"
	"  xapi_url TEXT NOT NULL,"
	"  user TEXT NOT NULL,"
	"  password_file TEXT NOT NULL,"
	"  version TEXT NOT NULL,"
	"  cursor TEXT,"
	"  last_run_id INTEGER,"
	"  last_run_at TEXT,"
	"  last_status TEXT,"
	"  last_error TEXT,"
	"  created_at TEXT NOT NULL) WITHOUT ROWID;",
	/*
	 * 9: faster ingest (docs/performance.md). statement.raw_sha is the SHA-256
	 * of a statement's own bytes as read from a file, so that reading the
	 * same file again knows each duplicate without parsing it. The verb,
	 * actor and registration indexes go: no query uses them (the statement
	 * API's filters are ORs with the object type, which SQLite answers by
	 * reading in seq order), and each cost every insert a random B-tree write.
	 */
	"DROP INDEX IF EXISTS statement_verb;"
	"DROP INDEX IF EXISTS statement_actor;"
	"DROP INDEX IF EXISTS statement_registration;"
	"ALTER TABLE statement ADD COLUMN raw_sha BLOB;",
	/*
	 * 10: one index where two did the same work. An xAPI statement about an
	 * Activity has that Activity's id as its course key, so the object id
	 * index and the course index held the same keys, and each key being
	 * written (one per course part: hundreds) kept a page of each index
	 * dirty in the cache. The course index is now on course_key alone
	 * (ordered by seq within a key), and the object ids are indexed only
	 * where they differ from the course key (LMS statements, statement
	 * references). GET /activities reads both, newest first.
	 */
	"DROP INDEX IF EXISTS statement_object_id;"
	"DROP INDEX IF EXISTS statement_course;"
	"CREATE INDEX statement_course ON statement(course_key);"
	"CREATE INDEX statement_object_other ON statement(object_id)"
	" WHERE object_id IS NOT NULL AND course_key IS NOT object_id;",
	/*
	 * 11: agents are not indexed by account name. Only the identity
	 * resolution looked agents up by it, and it reads every agent anyway;
	 * the index cost each new agent a write at a random place.
	 */
	"DROP INDEX IF EXISTS agent_account;",
	/*
	 * 12: the course index holds what completions read. Deriving completions
	 * read every statement's whole row (its JSON text too: some 1.7 KB) for
	 * nine small columns; the index now carries them after the course key,
	 * so the derivation reads the index alone, a tenth of the bytes. Within a
	 * course key the entries stay in seq order, as GET /activities reads
	 * them. Voiding is checked by seq (every index entry has it), not by id.
	 */
	"DROP INDEX IF EXISTS statement_course;"
	"CREATE INDEX statement_course ON statement(course_key, seq, actor_id, actor_type,"
	" org_id, ts, completes, outcome, score, part_key);",
	/*
	 * 13: person_agent is not indexed by person. lrhub never looks links
	 * up by person, and the person refresh inserts a link per agent in
	 * agent order, which put the index's entries in random order: with the
	 * small cache the refresh runs with, 570,675 agents took 5.5 s instead
	 * of 1.6 to 2.3. A reader going from a person to its agents reads the
	 * table (a few MB).
	 */
	"DROP INDEX IF EXISTS person_agent_person;",
};

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* The prepared queries, by number. */
enum query {
	Q_BEGIN, Q_COMMIT, Q_ROLLBACK,
	Q_ORG_ADD, Q_ORG_ID, Q_ORG_EACH,
	Q_COURSE_ADD, Q_COURSE_ID, Q_COURSE_EACH, Q_ALIAS_GET, Q_ALIAS_ADD, Q_UNMAPPED,
	Q_LINK_ADD,
	Q_RUN_ADD, Q_RUN_END, Q_RUN_EACH, Q_FILE_ADD, Q_FILE_END, Q_FILE_SEEN,
	Q_REJECT_ADD, Q_REJECT_LAST, Q_REJECT_EACH,
	Q_STMT_DIGEST, Q_STMT_ADD, Q_AGENT_GET, Q_AGENT_ADD, Q_AGENT_TRY, Q_AGENT_NAME, Q_AGENT_ORG,
	Q_ACTIVITY_ADD, Q_COUNT_ALL, Q_COUNT_VOIDED, Q_STMT_RAW, Q_DATA_VERSION,
	Q_COUNT
};

static const char *const query_sql[Q_COUNT] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_ORG_ADD] = "INSERT INTO org(code, name, lms_url, timezone, created_at) VALUES(?,?,?,?,?)",
	[Q_ORG_ID] = "SELECT id FROM org WHERE code = ?",
	[Q_ORG_EACH] = "SELECT id, code, name, lms_url, timezone FROM org ORDER BY code",
	[Q_COURSE_ADD] = "INSERT INTO course(code, title, created_at) VALUES(?,?,?)",
	[Q_COURSE_ID] = "SELECT id FROM course WHERE code = ?",
	[Q_COURSE_EACH] = "SELECT c.id, c.code, c.title,"
			  " (SELECT count(*) FROM course_alias a WHERE a.course_id = c.id)"
			  " FROM course c ORDER BY c.code",
	[Q_ALIAS_GET] = "SELECT a.course_id, c.code FROM course_alias a JOIN course c ON c.id = a.course_id"
			" WHERE a.key = ? AND a.org_id = ?",
	[Q_ALIAS_ADD] = "INSERT INTO course_alias(course_id, org_id, key) VALUES(?,?,?)",
	[Q_UNMAPPED] =
		"SELECT o.code, s.course_key, a.name, count(*), sum(s.completes),"
		"  count(DISTINCT s.actor_id)"
		" FROM statement s JOIN org o ON o.id = s.org_id"
		" LEFT JOIN activity a ON a.iri = s.course_key"
		" WHERE s.course_key IS NOT NULL"
		"  AND NOT EXISTS (SELECT 1 FROM course_alias ca WHERE ca.key = s.course_key"
		"                  AND ca.org_id IN (0, s.org_id))"
		" GROUP BY s.org_id, s.course_key"
		" ORDER BY sum(s.completes) DESC, count(*) DESC, o.code, s.course_key",
	[Q_LINK_ADD] = "INSERT OR IGNORE INTO identity_link(org_id, key, email, source, created_at)"
		       " VALUES(?,?,?,?,?)",
	[Q_RUN_ADD] = "INSERT INTO run(kind, org_id, started_at) VALUES(?,?,?)",
	[Q_RUN_END] = "UPDATE run SET finished_at = ?, status = ?, files = ?, accepted = ?,"
		      " duplicates = ?, conflicts = ?, rejected = ? WHERE id = ?",
	[Q_RUN_EACH] = "SELECT r.id, r.kind, o.code, r.started_at, r.finished_at, r.status, r.files,"
		       " r.accepted, r.duplicates, r.conflicts, r.rejected"
		       " FROM run r LEFT JOIN org o ON o.id = r.org_id ORDER BY r.id DESC LIMIT ?",
	[Q_FILE_ADD] = "INSERT INTO file(run_id, path, sha256, size, format, started_at)"
		       " VALUES(?,?,?,?,?,?)",
	[Q_FILE_END] = "UPDATE file SET finished_at = ?, status = ?, accepted = ?, duplicates = ?,"
		       " conflicts = ?, rejected = ?, error = ?, sha256 = coalesce(?, sha256),"
		       " size = ? WHERE id = ?",
	[Q_FILE_SEEN] = "SELECT 1 FROM file f JOIN run r ON r.id = f.run_id"
			" WHERE f.sha256 = ? AND r.org_id = ? AND f.status IN ('done', 'partial')"
			" LIMIT 1",
	[Q_REJECT_ADD] = "INSERT INTO reject(run_id, file_id, kind, path, line, record, field,"
			 " reason, raw) VALUES(?,?,?,?,?,?,?,?,?)",
	[Q_REJECT_LAST] = "SELECT max(run_id) FROM reject",
	[Q_REJECT_EACH] = "SELECT j.run_id, o.code, j.kind, j.path, j.line, j.record, j.field,"
			  " j.reason, j.raw FROM reject j JOIN run r ON r.id = j.run_id"
			  " LEFT JOIN org o ON o.id = r.org_id WHERE j.run_id = ? ORDER BY j.id",
	[Q_STMT_DIGEST] = "SELECT digest FROM statement WHERE id = ?",
	[Q_STMT_ADD] = "INSERT INTO statement(id, org_id, run_id, file_id, actor_id, actor_type,"
		       " verb, object_type, object_id, registration, ts, stored, completes,"
		       " outcome, score, voids, digest, json, course_key, part_key, raw_sha)"
		       " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	[Q_STMT_RAW] = "SELECT raw_sha FROM statement WHERE id = ?",
	[Q_DATA_VERSION] = "PRAGMA data_version",
	[Q_AGENT_GET] = "SELECT id, name IS ? FROM agent WHERE ifi = ?",
	[Q_AGENT_ADD] = "INSERT INTO agent(ifi, account_name, name) VALUES(?,?,?)",
	[Q_AGENT_TRY] = "INSERT INTO agent(ifi, account_name, name) VALUES(?,?,?)"
			" ON CONFLICT(ifi) DO NOTHING",
	[Q_AGENT_NAME] = "UPDATE agent SET name = ? WHERE id = ?",
	[Q_AGENT_ORG] = "INSERT OR IGNORE INTO agent_org(agent_id, org_id) VALUES(?,?)",
	[Q_ACTIVITY_ADD] = "INSERT OR IGNORE INTO activity(iri, name, type) VALUES(?,?,?)",
	[Q_COUNT_ALL] = "SELECT count(*) FROM statement",
	[Q_COUNT_VOIDED] = "SELECT count(*) FROM statement s WHERE EXISTS"
			   " (SELECT 1 FROM statement v INDEXED BY statement_voids"
			   "  WHERE v.voids IS NOT NULL AND v.voids = s.id AND v.org_id = s.org_id"
			   "  AND v.verb = '" XAPI_VERB_VOIDED "')",
};

/* A text that grows as it is written (the JSON text of a statement). */
struct textbuf {
	char *p;
	size_t cap;
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *q[Q_COUNT];
	/* Other modules' statements, prepared once (store__prepared), by their SQL text's address. */
	struct {
		const char *sql;
		sqlite3_stmt *q;
	} other[8];
	int in_transaction;
	struct textbuf text; /* the statement text being stored, reused (store_put_statement_raw) */
	int reader;          /* opened by store_open_reader */
	int reads_left;      /* store_raw_known lookups left in the reader's read transaction */
	/* Agents and activities known to be stored (see "the row cache" below). */
	struct agent_slot *agents;
	struct activity_slot *activities;
	unsigned cache_gen;  /* a slot counts only if it has this generation */
	int64_t data_version; /* PRAGMA data_version when the cache was last known good */
	struct store_checkpointer *ckpt; /* see store_checkpointer_attach */
	int owns_ckpt;       /* ckpt was started for this store alone */
	int agents_new;      /* of the last agents not in the row cache, how many were new (0..64) */
};

/*
 * A thread with its own connection that checkpoints the WAL when a commit
 * of an attached connection has grown it past `frames`, so that the writer
 * does not wait for the copy and the fsyncs (see "checkpoints" below).
 */
struct store_checkpointer {
	sqlite3 *db;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int pending, stop;
	int frames;          /* the WAL size (frames) that asks for a checkpoint */
	int inline_at;       /* the WAL size at which the writer checkpoints itself */
	int hold;            /* the thread waits: a writer is checkpointing itself */
	int inline_busy;     /* a writer is in its own checkpoint now */
};

static void cache_clear(struct store *s);
static void cache_check(struct store *s);

int store__db_error(struct sqlite3 *db, struct lr_error *err, const char *what)
{
	int code = sqlite3_errcode(db);

	if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
		return lr_error_set(err, LR_EBUSY, "%s: the store is busy (another lrhub is writing): %s",
				    what, sqlite3_errmsg(db));
	if (code == SQLITE_NOMEM)
		return lr_error_set(err, LR_ENOMEM, "%s: out of memory", what);
	return lr_error_set(err, LR_EDB, "%s: %s", what, sqlite3_errmsg(db));
}

static int db_error(struct store *s, struct lr_error *err, const char *what)
{
	return store__db_error(s->db, err, what);
}

#define bind_text store__bind_text
#define bind_id store__bind_id

/* Returns the prepared query, reset and unbound, or NULL with err set. */
static sqlite3_stmt *query(struct store *s, struct lr_error *err, enum query which)
{
	sqlite3_stmt *q = s->q[which];

	if (q) {
		sqlite3_reset(q);
		sqlite3_clear_bindings(q);
		return q;
	}
	if (sqlite3_prepare_v3(s->db, query_sql[which], -1, SQLITE_PREPARE_PERSISTENT, &q, NULL) !=
	    SQLITE_OK) {
		db_error(s, err, "preparing a query");
		return NULL;
	}
	s->q[which] = q;
	return q;
}

sqlite3_stmt *store__prepared(struct store *s, struct lr_error *err, const char *sql)
{
	size_t i;

	for (i = 0; i < sizeof(s->other) / sizeof(s->other[0]) && s->other[i].sql; i++) {
		if (s->other[i].sql == sql) {
			sqlite3_reset(s->other[i].q);
			sqlite3_clear_bindings(s->other[i].q);
			return s->other[i].q;
		}
	}
	if (i == sizeof(s->other) / sizeof(s->other[0])) {
		lr_error_set(err, LR_ELIMIT, "too many statements kept for one store connection");
		return NULL;
	}
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->other[i].q, NULL) !=
	    SQLITE_OK) {
		sqlite3_finalize(s->other[i].q);
		s->other[i].q = NULL;
		db_error(s, err, "preparing a query");
		return NULL;
	}
	s->other[i].sql = sql;
	return s->other[i].q;
}

void store__bind_text(struct sqlite3_stmt *q, int i, const char *text)
{
	if (text)
		sqlite3_bind_text(q, i, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, i);
}

void store__bind_id(struct sqlite3_stmt *q, int i, int64_t id)
{
	if (id > 0)
		sqlite3_bind_int64(q, i, id);
	else
		sqlite3_bind_null(q, i);
}

/* Runs a query that returns no rows. */
static int run_done(struct store *s, struct lr_error *err, sqlite3_stmt *q, const char *what)
{
	int rc = sqlite3_step(q);

	if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
		sqlite3_reset(q);
		return 0;
	}
	rc = sqlite3_errcode(s->db) == SQLITE_CONSTRAINT ? LR_EEXISTS : db_error(s, err, what);
	sqlite3_reset(q);
	return rc;
}

static void now_text(char out[XTIME_MAX])
{
	xtime_format(out, xtime_now_ms() / 1000 * 1000);
}

/*
 * Waiting for another writer, up to about 30 s. SQLite's own busy timeout
 * sleeps 1, 2, 5, 10 ... 100 ms between tries, so a server thread waiting on
 * another thread's short transaction slept far longer than that transaction
 * took (POST /statements over several connections ran at a tenth of its
 * speed). Here the first tries come quickly, then slower.
 */
static int busy_wait(void *ctx, int tries)
{
	struct timespec pause = { 0, 0 };

	(void)ctx;
	if (tries >= 200 + 2990)
		return 0; /* 100 x 0.2 ms + 100 x 1 ms + 2990 x 10 ms: 30 s */
	pause.tv_nsec = tries < 100 ? 200000L : tries < 200 ? 1000000L : 10000000L;
	nanosleep(&pause, NULL);
	return 1;
}

/* Migrates the store up to schema version target (N_MIGRATIONS normally). */
static int migrate(struct store *s, struct lr_error *err, unsigned flags, int target)
{
	sqlite3_stmt *q = NULL;
	int version = 0, i, rc = 0;
	char *msg = NULL;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_step(q) != SQLITE_ROW) {
		rc = db_error(s, err, "reading the schema version");
		goto out;
	}
	version = sqlite3_column_int(q, 0);
	sqlite3_finalize(q); /* an open read would lock the tables a migration drops */
	q = NULL;
	if (version > N_MIGRATIONS) {
		rc = lr_error_set(err, LR_EVERSION,
				  "the store has schema version %d, this lrhub knows up to %d: upgrade lrhub",
				  version, N_MIGRATIONS);
		goto out;
	}
	if (version >= target)
		goto out;
	if (version == 0) {
		/* A database with tables but no lrhub version belongs to something else. */
		if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master", -1, &q, NULL) !=
			    SQLITE_OK ||
		    sqlite3_step(q) != SQLITE_ROW) {
			rc = db_error(s, err, "reading the schema");
			goto out;
		}
		if (sqlite3_column_int(q, 0) > 0) {
			rc = lr_error_set(err, LR_EFORMAT,
					  "the file is an SQLite database of another application, not an lrhub store");
			goto out;
		}
		sqlite3_finalize(q);
		q = NULL;
	}
	if (flags & STORE_READONLY) {
		rc = lr_error_set(err, LR_EVERSION,
				  "the store has schema version %d and needs migrating to %d: open it for writing once",
				  version, N_MIGRATIONS);
		goto out;
	}
	for (i = version; i < target; i++) {
		char sql[64];

		if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK)
			goto fail;
		if (sqlite3_exec(s->db, migrations[i], NULL, NULL, &msg) != SQLITE_OK) {
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			goto fail;
		}
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", i + 1);
		if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(s->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			goto fail;
		}
	}
	goto out;
fail:
	rc = lr_error_set(err, LR_EDB, "migrating the store schema to version %d: %s", i + 1,
			  msg ? msg : sqlite3_errmsg(s->db));
out:
	sqlite3_free(msg);
	sqlite3_finalize(q);
	return rc;
}

/*
 * Once per process, before SQLite starts: no memory statistics. With them
 * every SQLite allocation takes a global mutex, a few hundred thousand a
 * second during an ingest, and lrhub never reads them.
 */
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

static void sqlite_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int store_open(struct store **out, struct lr_error *err, const char *path, unsigned flags)
{
	struct store *s = NULL;
	int oflags = (flags & STORE_READONLY) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
	int rc = 0;

	*out = NULL;
	if ((flags & STORE_CREATE) && !(flags & STORE_READONLY))
		oflags |= SQLITE_OPEN_CREATE;
	s = calloc(1, sizeof(*s));
	if (!s)
		return lr_error_set(err, LR_ENOMEM, "out of memory opening the store");
	if ((oflags & SQLITE_OPEN_CREATE) && path[0] && strcmp(path, ":memory:") != 0 &&
	    strncmp(path, "file:", 5) != 0) {
		/* A new store holds personal data: readable by its owner only (SQLite
		 * gives its -wal and -shm files the same mode). */
		int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
	}
	pthread_once(&sqlite_once, sqlite_setup);
	/* WAL frames written a commit at a time: see lrs/walvfs.h. */
	if (sqlite3_open_v2(path, &s->db, oflags | SQLITE_OPEN_NOMUTEX,
			    walvfs_register() == SQLITE_OK ? WALVFS_NAME : NULL) != SQLITE_OK) {
		if (!s->db) {
			rc = lr_error_set(err, LR_ENOMEM, "out of memory opening the store");
		} else if (sqlite3_errcode(s->db) == SQLITE_CANTOPEN) {
			rc = lr_error_set(err, LR_EIO,
					  "cannot open the store %s: %s (run 'lrhub init' to create one)",
					  path, sqlite3_errmsg(s->db));
		} else {
			rc = lr_error_set(err, LR_EDB, "cannot open the store %s: %s", path,
					  sqlite3_errmsg(s->db));
		}
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 0);
	sqlite3_busy_handler(s->db, busy_wait, NULL);
	if (!(flags & STORE_READONLY)) {
		/*
		 * A new store gets 8 KiB pages (an existing one keeps its own).
		 * Larger pages cost a file ingest fewer pages for the same rows
		 * (100,000 statements: 2.2 s with 16 KiB, 2.6 s with 8 KiB, 3.1 s
		 * with 4 KiB), but each statement with a random id dirties a leaf
		 * of each random-key index, which its commit writes whole: for a
		 * POST of 100 statements into a store of 120,000, some 4 MB of
		 * log with 16 KiB pages. 8 KiB pages keep a file ingest at the
		 * baseline's pace (which shares them) and take POSTs of 100 from
		 * about 12,400 to about 14,200 statements a second.
		 */
		{
			char sql[48];
			snprintf(sql, sizeof(sql), "PRAGMA page_size = %d", STORE_PAGE_SIZE);
			sqlite3_exec(s->db, sql, NULL, NULL, NULL);
		}
		if (sqlite3_exec(s->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK) {
			rc = lr_error_set(err, LR_EFORMAT, "%s is not an lrhub store: %s", path,
					  sqlite3_errmsg(s->db));
			goto out;
		}
		sqlite3_exec(s->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
		/* Checkpoint in larger steps (32 MiB): fewer rewrites of hot index pages. */
		{
			sqlite3_stmt *q = NULL;
			char sql[64];
			int page = 4096;
			if (sqlite3_prepare_v2(s->db, "PRAGMA page_size", -1, &q, NULL) == SQLITE_OK &&
			    sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) >= 512)
				page = sqlite3_column_int(q, 0);
			sqlite3_finalize(q);
			snprintf(sql, sizeof(sql), "PRAGMA wal_autocheckpoint = %d", (32 << 20) / page);
			sqlite3_exec(s->db, sql, NULL, NULL, NULL);
		}
	}
	sqlite3_exec(s->db, "PRAGMA foreign_keys = OFF", NULL, NULL, NULL);
	/* 16 MiB of page cache keeps the id and object indexes' upper levels in memory. */
	sqlite3_exec(s->db, "PRAGMA cache_size = -16384", NULL, NULL, NULL);
	rc = migrate(s, err, flags, N_MIGRATIONS);
	if (rc == LR_EFORMAT && err && strncmp(err->text, "the file is", 11) == 0) {
		char text[LR_ERROR_TEXT_MAX];
		snprintf(text, sizeof(text), "%s", err->text + 8);
		lr_error_clear(err);
		lr_error_set(err, LR_EFORMAT, "%s%s", path, text);
	}
out:
	if (rc != 0) {
		store_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

static void checkpointer_detach(struct store *s);

void store_close(struct store *s)
{
	int i;

	if (!s)
		return;
	checkpointer_detach(s);
	for (i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(s->q[i]);
	for (i = 0; i < (int)(sizeof(s->other) / sizeof(s->other[0])); i++)
		sqlite3_finalize(s->other[i].q);
	sqlite3_close(s->db);
	free(s->text.p);
	free(s->agents);
	free(s->activities);
	free(s);
}

/*
 * Checkpoints. SQLite checkpoints the WAL in the connection whose commit
 * took it past wal_autocheckpoint: copying 32 MiB of pages into the database
 * file and two fsyncs, in the middle of an ingest, while the parser thread
 * waits for room. With a checkpointer, the writer's commits only signal it;
 * it checkpoints PASSIVE (never blocking the writer) from its own connection.
 * Should it fall far behind, the writer checkpoints itself as before.
 */
static void *checkpointer_main(void *arg)
{
	struct store_checkpointer *c = arg;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->pending && !c->stop)
			pthread_cond_wait(&c->wake, &c->lock);
		if (c->stop)
			break;
		c->pending = 0;
		if (c->hold)
			continue;
		pthread_mutex_unlock(&c->lock);
		sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* Called by SQLite after each commit of an attached connection, in its thread. */
static int wal_committed(void *ctx, sqlite3 *db, const char *name, int frames)
{
	struct store_checkpointer *c = ctx;
	int log = 0, copied = 0, own = 0, rc;

	pthread_mutex_lock(&c->lock);
	if (frames < c->frames) {
		/* The WAL started again from its beginning. */
		c->inline_at = 4 * c->frames;
		c->hold = 0;
	} else if (frames >= c->inline_at && !c->inline_busy) {
		/*
		 * The thread's checkpoints always trail the latest commit, and
		 * the WAL starts again from its beginning only after a checkpoint
		 * that copied everything: now and then a writer checkpoints
		 * itself, which leaves little to copy, so that the WAL does not
		 * grow without end. The thread holds off meanwhile (its
		 * checkpoint would keep the WAL from starting over); if it is in
		 * one now (busy), at the next commit; if a reader kept some frames
		 * from being copied, after another quarter of wal_autocheckpoint.
		 */
		c->hold = 1;
		c->inline_busy = own = 1;
	} else if (!c->hold) {
		c->pending = 1;
		pthread_cond_signal(&c->wake);
	}
	pthread_mutex_unlock(&c->lock);
	if (own) {
		rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
		pthread_mutex_lock(&c->lock);
		c->inline_busy = 0;
		if (rc == SQLITE_OK)
			c->inline_at = copied == log ? 4 * c->frames : frames + c->frames / 4;
		pthread_mutex_unlock(&c->lock);
	}
	return SQLITE_OK;
}

/* The WAL size that asks for a checkpoint on s, or 0 if s does not checkpoint a WAL. */
static int checkpoint_frames(struct store *s)
{
	const char *path = sqlite3_db_filename(s->db, "main");
	sqlite3_stmt *q = NULL;
	int frames = 0;

	if (s->reader || !path || !path[0])
		return 0;
	if (sqlite3_prepare_v2(s->db, "PRAGMA wal_autocheckpoint", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		frames = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	q = NULL;
	if (frames > 0 && sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &q, NULL) == SQLITE_OK &&
	    (sqlite3_step(q) != SQLITE_ROW || !sqlite3_column_text(q, 0) ||
	     strcmp((const char *)sqlite3_column_text(q, 0), "wal") != 0))
		frames = 0;
	sqlite3_finalize(q);
	return frames;
}

int store_checkpointer_start(struct store_checkpointer **out, struct store *s, struct lr_error *err)
{
	int frames = checkpoint_frames(s);
	struct store_checkpointer *c;

	*out = NULL;
	if (frames <= 0)
		return 0;
	if (!(c = calloc(1, sizeof(*c))))
		return lr_error_set(err, LR_ENOMEM, "out of memory");
	c->frames = frames;
	c->inline_at = 4 * frames;
	if (sqlite3_open_v2(sqlite3_db_filename(s->db, "main"), &c->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		int rc = lr_error_set(err, LR_EDB, "opening the store for checkpoints: %s",
				      c->db ? sqlite3_errmsg(c->db) : "out of memory");
		sqlite3_close(c->db);
		free(c);
		return rc;
	}
	sqlite3_busy_handler(c->db, busy_wait, NULL);
	/* Its own connection must not checkpoint on close while writers work. */
	sqlite3_wal_autocheckpoint(c->db, 0);
	/* A connection knows the file is in WAL mode once it has read it. */
	sqlite3_exec(c->db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		sqlite3_close(c->db);
		free(c);
		return lr_error_set(err, LR_ENOMEM, "out of memory");
	}
	if (pthread_cond_init(&c->wake, NULL) != 0) {
		pthread_mutex_destroy(&c->lock);
		sqlite3_close(c->db);
		free(c);
		return lr_error_set(err, LR_ENOMEM, "out of memory");
	}
	if (pthread_create(&c->thread, NULL, checkpointer_main, c) != 0) {
		pthread_cond_destroy(&c->wake);
		pthread_mutex_destroy(&c->lock);
		sqlite3_close(c->db);
		free(c);
		return lr_error_set(err, LR_ENOMEM, "cannot start the checkpoint thread");
	}
	*out = c;
	return 0;
}

void store_checkpointer_attach(struct store *s, struct store_checkpointer *c)
{
	if (!c || s->ckpt || checkpoint_frames(s) <= 0)
		return;
	s->ckpt = c;
	sqlite3_wal_hook(s->db, wal_committed, c);
}

void store_checkpointer_stop(struct store_checkpointer *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = 1;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->lock);
	sqlite3_close(c->db);
	free(c);
}

int store_checkpoint_in_background(struct store *s, struct lr_error *err)
{
	struct store_checkpointer *c;
	int rc;

	if (s->ckpt || !sqlite3_get_autocommit(s->db))
		return 0;
	if ((rc = store_checkpointer_start(&c, s, err)) != 0 || !c)
		return rc;
	store_checkpointer_attach(s, c);
	s->owns_ckpt = 1;
	return 0;
}

static void checkpointer_detach(struct store *s)
{
	struct store_checkpointer *c = s->ckpt;

	if (!c)
		return;
	/* Back to SQLite's own checkpoints (this also removes wal_committed). */
	sqlite3_wal_autocheckpoint(s->db, c->frames);
	s->ckpt = NULL;
	if (s->owns_ckpt)
		store_checkpointer_stop(c);
	s->owns_ckpt = 0;
}

int store_open_reader(struct store **out, struct lr_error *err, struct store *s)
{
	const char *path = sqlite3_db_filename(s->db, "main");

	*out = NULL;
	if (!path || !path[0])
		return lr_error_set(err, LR_ENOTFOUND, "the store has no file to open twice");
	if (store_open(out, err, path, STORE_READONLY) != 0)
		return err->code;
	(*out)->reader = 1;
	/* It reads only the id index and a row per known id: a smaller cache keeps peak memory flat. */
	sqlite3_exec((*out)->db, "PRAGMA cache_size = -4096", NULL, NULL, NULL);
	return 0;
}

int store_schema_version(struct store *s)
{
	sqlite3_stmt *q = NULL;
	int version = -1;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		version = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return version;
}

int store__create_old(struct lr_error *err, const char *path, int version)
{
	struct store s;
	int rc;

	memset(&s, 0, sizeof(s));
	if (sqlite3_open(path, &s.db) != SQLITE_OK) {
		sqlite3_close(s.db);
		return lr_error_set(err, LR_EIO, "cannot create %s", path);
	}
	rc = migrate(&s, err, 0, version < N_MIGRATIONS ? version : N_MIGRATIONS);
	sqlite3_close(s.db);
	return rc;
}

struct sqlite3 *store__db(struct store *s)
{
	return s->db;
}

int store_begin(struct store *s, struct lr_error *err)
{
	sqlite3_stmt *q = query(s, err, Q_BEGIN);
	int rc;

	if (!q)
		return err ? err->code : LR_EDB;
	rc = run_done(s, err, q, "starting a transaction");
	if (rc == 0) {
		s->in_transaction = 1;
		cache_check(s);
	}
	return rc;
}

int store_commit(struct store *s, struct lr_error *err)
{
	sqlite3_stmt *q = query(s, err, Q_COMMIT);
	int rc;

	if (!q)
		return err ? err->code : LR_EDB;
	rc = run_done(s, err, q, "committing");
	if (rc == 0)
		s->in_transaction = 0;
	else
		cache_clear(s);
	return rc;
}

void store_rollback(struct store *s)
{
	/* The rows written since BEGIN are gone: so is what the cache knows of them. */
	cache_clear(s);
	if (!s->in_transaction && sqlite3_get_autocommit(s->db))
		return;
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->in_transaction = 0;
}

/* ---- orgs ---- */

static int code_valid(const char *code)
{
	const char *p;

	if (!code || !code[0] || strlen(code) > 64)
		return 0;
	for (p = code; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '_' || *p == '.'))
			return 0;
	}
	return 1;
}

int store_org_add(struct store *s, struct lr_error *err, const struct store_org *org)
{
	sqlite3_stmt *q;
	char now[XTIME_MAX];
	int rc;

	if (!code_valid(org->code))
		return lr_error_set(err, LR_EINVAL,
				    "org '%s': use 1 to 64 letters, digits, '-', '_' or '.'", org->code);
	if (!(q = query(s, err, Q_ORG_ADD)))
		return err->code;
	now_text(now);
	bind_text(q, 1, org->code);
	bind_text(q, 2, org->name);
	bind_text(q, 3, org->lms_url);
	bind_text(q, 4, org->timezone);
	bind_text(q, 5, now);
	rc = run_done(s, err, q, "adding an org");
	if (rc == LR_EEXISTS)
		return lr_error_set(err, LR_EEXISTS, "org '%s' exists already", org->code);
	return rc;
}

/* Looks up one integer id by one text key. */
static int lookup_id(struct store *s, struct lr_error *err, enum query which, const char *key,
		     int64_t *out_id)
{
	sqlite3_stmt *q = query(s, err, which);
	int rc;

	*out_id = 0;
	if (!q)
		return err->code;
	bind_text(q, 1, key);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		*out_id = sqlite3_column_int64(q, 0);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = LR_ENOTFOUND;
	} else {
		rc = db_error(s, err, "looking up an id");
	}
	sqlite3_reset(q);
	return rc;
}

int store_org_id(struct store *s, struct lr_error *err, const char *code, int64_t *out_id)
{
	int rc = lookup_id(s, err, Q_ORG_ID, code, out_id);

	if (rc == LR_ENOTFOUND)
		return lr_error_set(err, LR_ENOTFOUND, "no org '%s' (add it with 'lrhub org add %s')",
				    code, code);
	return rc;
}

static const char *col_text(sqlite3_stmt *q, int i)
{
	return (const char *)sqlite3_column_text(q, i);
}

/* Steps q, calling row(ctx, q) on every row; stops early when it returns non-zero. */
static int each_row(struct store *s, struct lr_error *err, sqlite3_stmt *q,
		    int (*row)(void *ctx, sqlite3_stmt *q), void *ctx)
{
	int rc;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int stop = row(ctx, q);
		if (stop != 0) {
			sqlite3_reset(q);
			return stop < 0 ? stop : 0;
		}
	}
	rc = rc == SQLITE_DONE ? 0 : db_error(s, err, "reading the store");
	sqlite3_reset(q);
	return rc;
}

/* A caller's row callback, of whichever row type, and its context. */
struct each_ctx {
	void (*fn)(void);
	void *ctx;
};

/* Runs query which (with ?1 bound to value when bind_value) and hands each row to row(). */
static int each_query(struct store *s, struct lr_error *err, enum query which,
		      int (*row)(void *ctx, sqlite3_stmt *q), void (*fn)(void), void *ctx,
		      int bind_value, int64_t value)
{
	sqlite3_stmt *q = query(s, err, which);
	struct each_ctx e = { fn, ctx };

	if (!q)
		return err->code;
	if (bind_value)
		sqlite3_bind_int64(q, 1, value);
	return each_row(s, err, q, row, &e);
}

static int org_row(void *ctx, sqlite3_stmt *q)
{
	struct each_ctx *e = ctx;
	struct store_org org = {
		.id = sqlite3_column_int64(q, 0),
		.code = col_text(q, 1),
		.name = col_text(q, 2),
		.lms_url = col_text(q, 3),
		.timezone = col_text(q, 4),
	};
	return ((int (*)(void *, const struct store_org *))e->fn)(e->ctx, &org);
}

int store_org_each(struct store *s, struct lr_error *err,
		   int (*fn)(void *ctx, const struct store_org *org), void *ctx)
{
	return each_query(s, err, Q_ORG_EACH, org_row, (void (*)(void))fn, ctx, 0, 0);
}

/* ---- courses ---- */

int store_course_add(struct store *s, struct lr_error *err, const char *code, const char *title)
{
	sqlite3_stmt *q;
	char now[XTIME_MAX];
	int rc;

	if (!code_valid(code))
		return lr_error_set(err, LR_EINVAL,
				    "course '%s': use 1 to 64 letters, digits, '-', '_' or '.'", code);
	if (!title || !title[0])
		return lr_error_set(err, LR_EINVAL, "course '%s' needs a title", code);
	if (!(q = query(s, err, Q_COURSE_ADD)))
		return err->code;
	now_text(now);
	bind_text(q, 1, code);
	bind_text(q, 2, title);
	bind_text(q, 3, now);
	rc = run_done(s, err, q, "adding a course");
	if (rc == LR_EEXISTS)
		return lr_error_set(err, LR_EEXISTS, "course '%s' exists already", code);
	return rc;
}

int store_course_id(struct store *s, struct lr_error *err, const char *code, int64_t *out_id)
{
	int rc = lookup_id(s, err, Q_COURSE_ID, code, out_id);

	if (rc == LR_ENOTFOUND)
		return lr_error_set(err, LR_ENOTFOUND,
				    "no course '%s' (add it with 'lrhub course add %s --title TEXT')",
				    code, code);
	return rc;
}

int store_course_alias(struct store *s, struct lr_error *err, int64_t course_id, int64_t org_id,
		       const char *key)
{
	sqlite3_stmt *q;
	int rc;

	if (!key || !key[0] || strlen(key) > 2048)
		return lr_error_set(err, LR_EINVAL, "a course key must be 1 to 2048 characters");
	if (!(q = query(s, err, Q_ALIAS_GET)))
		return err->code;
	bind_text(q, 1, key);
	sqlite3_bind_int64(q, 2, org_id);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		int64_t existing = sqlite3_column_int64(q, 0);
		char other[80];

		snprintf(other, sizeof(other), "%s", col_text(q, 1));
		sqlite3_reset(q);
		if (existing == course_id)
			return 0;
		return lr_error_set(err, LR_EEXISTS, "key '%s' is already an alias of course '%s'%s",
				    key, other, org_id ? " for this org" : " for every org");
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		return db_error(s, err, "looking up a course alias");
	if (!(q = query(s, err, Q_ALIAS_ADD)))
		return err->code;
	sqlite3_bind_int64(q, 1, course_id);
	sqlite3_bind_int64(q, 2, org_id);
	bind_text(q, 3, key);
	return run_done(s, err, q, "adding a course alias");
}

static int course_row(void *ctx, sqlite3_stmt *q)
{
	struct each_ctx *e = ctx;
	struct store_course c = {
		.id = sqlite3_column_int64(q, 0),
		.code = col_text(q, 1),
		.title = col_text(q, 2),
		.aliases = sqlite3_column_int(q, 3),
	};
	return ((int (*)(void *, const struct store_course *))e->fn)(e->ctx, &c);
}

int store_course_each(struct store *s, struct lr_error *err,
		      int (*fn)(void *ctx, const struct store_course *course), void *ctx)
{
	return each_query(s, err, Q_COURSE_EACH, course_row, (void (*)(void))fn, ctx, 0, 0);
}

static int unmapped_row(void *ctx, sqlite3_stmt *q)
{
	struct each_ctx *e = ctx;
	struct store_unmapped u = {
		.org = col_text(q, 0),
		.key = col_text(q, 1),
		.name = col_text(q, 2),
		.statements = sqlite3_column_int(q, 3),
		.completions = sqlite3_column_int(q, 4),
		.learners = sqlite3_column_int(q, 5),
	};
	return ((int (*)(void *, const struct store_unmapped *))e->fn)(e->ctx, &u);
}

int store_unmapped_each(struct store *s, struct lr_error *err,
			int (*fn)(void *ctx, const struct store_unmapped *row), void *ctx)
{
	return each_query(s, err, Q_UNMAPPED, unmapped_row, (void (*)(void))fn, ctx, 0, 0);
}

/* ---- identity ---- */

int store_identity_link(struct store *s, struct lr_error *err, int64_t org_id, const char *key,
			const char *email, const char *source, int *out_added)
{
	char norm[IFI_MAX];
	char now[XTIME_MAX];
	sqlite3_stmt *q;
	int rc;

	*out_added = 0;
	if (!key || !key[0])
		return lr_error_set(err, LR_EINVAL, "the key is empty");
	if (strlen(key) > 512)
		return lr_error_set(err, LR_EINVAL, "the key is longer than 512 characters");
	rc = ifi_email_normalize(norm, sizeof(norm), email ? email : "");
	if (rc != 0)
		return lr_error_set(err, LR_EINVAL, "'%s' is not an email address", email ? email : "");
	if (!(q = query(s, err, Q_LINK_ADD)))
		return err->code;
	now_text(now);
	sqlite3_bind_int64(q, 1, org_id);
	bind_text(q, 2, key);
	bind_text(q, 3, norm);
	bind_text(q, 4, source);
	bind_text(q, 5, now);
	rc = run_done(s, err, q, "adding an identity link");
	if (rc == 0)
		*out_added = sqlite3_changes(s->db) > 0;
	return rc;
}

/* ---- runs, files, rejects ---- */

int store_run_begin(struct store *s, struct lr_error *err, const char *kind, int64_t org_id,
		    int64_t *out_run_id)
{
	sqlite3_stmt *q = query(s, err, Q_RUN_ADD);
	char now[XTIME_MAX];
	int rc;

	if (!q)
		return err->code;
	now_text(now);
	bind_text(q, 1, kind);
	bind_id(q, 2, org_id);
	bind_text(q, 3, now);
	rc = run_done(s, err, q, "starting a run");
	*out_run_id = rc == 0 ? sqlite3_last_insert_rowid(s->db) : 0;
	return rc;
}

int store_run_end(struct store *s, struct lr_error *err, int64_t run_id, const char *status,
		  const struct store_counts *c, long files)
{
	sqlite3_stmt *q = query(s, err, Q_RUN_END);
	char now[XTIME_MAX];

	if (!q)
		return err->code;
	now_text(now);
	bind_text(q, 1, now);
	bind_text(q, 2, status);
	sqlite3_bind_int64(q, 3, files);
	sqlite3_bind_int64(q, 4, c->accepted);
	sqlite3_bind_int64(q, 5, c->duplicates);
	sqlite3_bind_int64(q, 6, c->conflicts);
	sqlite3_bind_int64(q, 7, c->rejected);
	sqlite3_bind_int64(q, 8, run_id);
	return run_done(s, err, q, "finishing a run");
}

int store_file_begin(struct store *s, struct lr_error *err, int64_t run_id, const char *path,
		     const char *sha256_hex, int64_t size, const char *format, int64_t *out_file_id)
{
	sqlite3_stmt *q = query(s, err, Q_FILE_ADD);
	char now[XTIME_MAX];
	int rc;

	if (!q)
		return err->code;
	now_text(now);
	sqlite3_bind_int64(q, 1, run_id);
	bind_text(q, 2, path);
	bind_text(q, 3, sha256_hex);
	sqlite3_bind_int64(q, 4, size);
	bind_text(q, 5, format);
	bind_text(q, 6, now);
	rc = run_done(s, err, q, "recording a file");
	*out_file_id = rc == 0 ? sqlite3_last_insert_rowid(s->db) : 0;
	return rc;
}

int store_file_end(struct store *s, struct lr_error *err, int64_t file_id, const char *status,
		   const char *sha256_hex, int64_t size, const struct store_counts *c,
		   const char *error)
{
	sqlite3_stmt *q = query(s, err, Q_FILE_END);
	char now[XTIME_MAX];

	if (!q)
		return err->code;
	now_text(now);
	bind_text(q, 1, now);
	bind_text(q, 2, status);
	sqlite3_bind_int64(q, 3, c->accepted);
	sqlite3_bind_int64(q, 4, c->duplicates);
	sqlite3_bind_int64(q, 5, c->conflicts);
	sqlite3_bind_int64(q, 6, c->rejected);
	bind_text(q, 7, error);
	bind_text(q, 8, sha256_hex);
	sqlite3_bind_int64(q, 9, size);
	sqlite3_bind_int64(q, 10, file_id);
	return run_done(s, err, q, "finishing a file");
}

int store_file_seen(struct store *s, struct lr_error *err, int64_t org_id, const char *sha256_hex)
{
	sqlite3_stmt *q = query(s, err, Q_FILE_SEEN);
	int rc;

	if (!q)
		return err->code;
	bind_text(q, 1, sha256_hex);
	sqlite3_bind_int64(q, 2, org_id);
	rc = sqlite3_step(q);
	rc = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_error(s, err, "looking up a file");
	sqlite3_reset(q);
	return rc;
}

int store_reject_add(struct store *s, struct lr_error *err, int64_t run_id, int64_t file_id,
		     const char *kind, const struct lr_error *rej, const char *raw, size_t raw_len)
{
	sqlite3_stmt *q = query(s, err, Q_REJECT_ADD);

	if (!q)
		return err->code;
	sqlite3_bind_int64(q, 1, run_id);
	bind_id(q, 2, file_id);
	bind_text(q, 3, kind);
	bind_text(q, 4, rej->source[0] ? rej->source : NULL);
	if (rej->line > 0)
		sqlite3_bind_int64(q, 5, rej->line);
	if (rej->record > 0)
		sqlite3_bind_int64(q, 6, rej->record);
	bind_text(q, 7, rej->field[0] ? rej->field : NULL);
	bind_text(q, 8, rej->text[0] ? rej->text : lr_strerror(rej->code));
	if (raw) {
		if (raw_len > 65536)
			raw_len = 65536;
		sqlite3_bind_text(q, 9, raw, (int)raw_len, SQLITE_STATIC);
	}
	return run_done(s, err, q, "recording a reject");
}

static int reject_row(void *ctx, sqlite3_stmt *q)
{
	struct each_ctx *e = ctx;
	struct store_reject r = {
		.run_id = sqlite3_column_int64(q, 0),
		.org = col_text(q, 1),
		.kind = col_text(q, 2),
		.path = col_text(q, 3),
		.line = sqlite3_column_int(q, 4),
		.record = sqlite3_column_int(q, 5),
		.field = col_text(q, 6),
		.reason = col_text(q, 7),
		.raw = col_text(q, 8),
	};
	return ((int (*)(void *, const struct store_reject *))e->fn)(e->ctx, &r);
}

int store_reject_each(struct store *s, struct lr_error *err, int64_t run_id,
		      int (*fn)(void *ctx, const struct store_reject *rej), void *ctx)
{
	sqlite3_stmt *q;

	if (run_id <= 0) {
		if (!(q = query(s, err, Q_REJECT_LAST)))
			return err->code;
		if (sqlite3_step(q) == SQLITE_ROW)
			run_id = sqlite3_column_int64(q, 0);
		sqlite3_reset(q);
		if (run_id <= 0)
			return 0;
	}
	return each_query(s, err, Q_REJECT_EACH, reject_row, (void (*)(void))fn, ctx, 1, run_id);
}

static int run_row(void *ctx, sqlite3_stmt *q)
{
	struct each_ctx *e = ctx;
	struct store_run r = {
		.id = sqlite3_column_int64(q, 0),
		.kind = col_text(q, 1),
		.org = col_text(q, 2),
		.started_at = col_text(q, 3),
		.finished_at = col_text(q, 4),
		.status = col_text(q, 5),
		.files = sqlite3_column_int(q, 6),
		.counts = {
			.accepted = sqlite3_column_int(q, 7),
			.duplicates = sqlite3_column_int(q, 8),
			.conflicts = sqlite3_column_int(q, 9),
			.rejected = sqlite3_column_int(q, 10),
		},
	};
	return ((int (*)(void *, const struct store_run *))e->fn)(e->ctx, &r);
}

int store_run_each(struct store *s, struct lr_error *err, long limit,
		   int (*fn)(void *ctx, const struct store_run *run), void *ctx)
{
	return each_query(s, err, Q_RUN_EACH, run_row, (void (*)(void))fn, ctx, 1, limit > 0 ? limit : -1);
}

/* ---- statements ---- */

static const char *const completing_verbs[] = {
	"http://adlnet.gov/expapi/verbs/completed",
	"http://adlnet.gov/expapi/verbs/passed",
	"https://w3id.org/xapi/adl/verbs/satisfied",
	"http://adlnet.gov/expapi/verbs/satisfied",
	NULL
};

static int verb_in(const char *verb, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(verb, *list) == 0)
			return 1;
	return 0;
}

/*
 * The row cache. A file ingest wrote the agent, agent_org and activity rows
 * of every statement (a lookup, an INSERT OR IGNORE, each a B-tree search)
 * although a run has a few hundred activities and its learners come back
 * statement after statement. The store remembers, per handle, the agents
 * (IFI, id, name, the org last linked) and the activity IRIs it has looked
 * up or written, in two direct-mapped tables of fixed size (a new key
 * evicts the slot's old one), so memory does not grow with the input.
 *
 * A slot is only believed inside a transaction (store_begin): a rollback
 * clears the cache (a rolled-back row must not stay "known"), and so does a
 * failed commit, a put outside a transaction, a transaction SQLite ended on
 * its own (an error), and another connection's commit (PRAGMA data_version
 * at BEGIN: another writer may have renamed an agent). Clearing is a new
 * generation, not a memset.
 */
#define AGENT_SLOTS 16384 /* a power of two */
#define ACTIVITY_SLOTS 2048
#define SLOT_TEXT 192     /* longer keys are not cached */

enum { NAME_UNKNOWN, NAME_NULL, NAME_TEXT };

struct agent_slot {
	unsigned gen;
	unsigned char name_state; /* NAME_*: what the agent row's name is */
	uint16_t key_len;
	int64_t id, org_id;       /* org_id: linked in agent_org, -1 if not known */
	char text[SLOT_TEXT];     /* the IFI key, NUL, the name (NAME_TEXT), NUL */
};

struct activity_slot {
	unsigned gen;
	char iri[SLOT_TEXT];
};

static uint64_t cache_hash(const char *key, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static void cache_clear(struct store *s)
{
	if (++s->cache_gen == 0) {
		/* Wrapped: old generations could come back to life. */
		if (s->agents)
			memset(s->agents, 0, AGENT_SLOTS * sizeof(*s->agents));
		if (s->activities)
			memset(s->activities, 0, ACTIVITY_SLOTS * sizeof(*s->activities));
		s->cache_gen = 1;
	}
}

void store_release_memory(struct store *s)
{
	if (!s->in_transaction) {
		free(s->agents);
		free(s->activities);
		s->agents = NULL;
		s->activities = NULL;
	}
	sqlite3_db_release_memory(s->db);
}

int store_cache_kib(struct store *s, int kib)
{
	sqlite3_stmt *q = NULL;
	char sql[48];
	int was = 16384;

	/* PRAGMA cache_size: a negative number is KiB, a positive one pages. */
	if (sqlite3_prepare_v2(s->db, "SELECT cache_size, page_size FROM pragma_cache_size, pragma_page_size",
			       -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW) {
		int v = sqlite3_column_int(q, 0);
		was = v < 0 ? -v : (int)((int64_t)v * sqlite3_column_int(q, 1) / 1024);
	}
	sqlite3_finalize(q);
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d", kib);
	sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	return was;
}

static int64_t data_version(struct store *s)
{
	sqlite3_stmt *q = query(s, NULL, Q_DATA_VERSION);
	int64_t v = -1;

	if (q && sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	if (q)
		sqlite3_reset(q);
	return v;
}

/* At BEGIN: forget everything if another connection committed since. */
static void cache_check(struct store *s)
{
	int64_t v;

	if (!s->agents && !s->activities)
		return;
	v = data_version(s);
	if (v < 0 || v != s->data_version)
		cache_clear(s);
	s->data_version = v;
}

/* Whether the cache may be used for the put under way (clears it if not). */
static int cache_usable(struct store *s)
{
	if (s->in_transaction && !sqlite3_get_autocommit(s->db)) {
		if (!s->agents && !s->activities) {
			/* First use: allocation failure only means no cache. */
			s->agents = calloc(AGENT_SLOTS, sizeof(*s->agents));
			s->activities = calloc(ACTIVITY_SLOTS, sizeof(*s->activities));
			if (s->cache_gen == 0)
				s->cache_gen = 1;
			s->data_version = data_version(s);
		}
		return 1;
	}
	cache_clear(s);
	return 0;
}

static struct agent_slot *agent_slot(struct store *s, const char *key, size_t len)
{
	return s->agents ? &s->agents[cache_hash(key, len) & (AGENT_SLOTS - 1)] : NULL;
}

static int agent_slot_holds(const struct store *s, const struct agent_slot *a, const char *key,
			    size_t len)
{
	return a && a->gen == s->cache_gen && a->key_len == len && memcmp(a->text, key, len) == 0;
}

static void agent_slot_set(struct store *s, struct agent_slot *a, const char *key, size_t len,
			   int64_t id, int name_state, const char *name)
{
	size_t name_len = name_state == NAME_TEXT ? strlen(name) : 0;

	if (!a)
		return;
	if (len + 1 + name_len + 1 > SLOT_TEXT) {
		a->gen = 0;
		return;
	}
	memcpy(a->text, key, len);
	a->text[len] = '\0';
	if (name_state == NAME_TEXT)
		memcpy(a->text + len + 1, name, name_len + 1);
	a->key_len = (uint16_t)len;
	a->name_state = (unsigned char)name_state;
	a->id = id;
	a->org_id = -1;
	a->gen = s->cache_gen;
}

/*
 * The agent row for the actor's IFI, made if new; 0 when the actor has no IFI.
 * *slot is the actor's cache slot (NULL if none), holding the actor once this
 * returns 0 with an id.
 */
static int agent_id(struct store *s, struct lr_error *err, const json_t *actor, int cache,
		    int64_t *out_id, struct agent_slot **slot)
{
	char key[IFI_MAX];
	const json_t *name_j = json_object_get(actor, "name");
	const char *name = json_is_string(name_j) ? json_string_value(name_j) : NULL;
	const char *account_name = NULL;
	struct agent_slot *a = NULL;
	size_t key_len;
	sqlite3_stmt *q;
	int rc;

	*out_id = 0;
	*slot = NULL;
	rc = ifi_key(key, sizeof(key), actor);
	if (rc == LR_ENOTFOUND)
		return 0;
	if (rc != 0)
		return lr_error_set(err, rc == LR_ELIMIT ? LR_EINVAL : rc,
				    "the actor's identifier is malformed or too long");
	key_len = strlen(key);
	if (cache && (a = agent_slot(s, key, key_len)) && agent_slot_holds(s, a, key, key_len) &&
	    (!name || (a->name_state == NAME_TEXT && strcmp(a->text + key_len + 1, name) == 0))) {
		*out_id = a->id;
		*slot = a;
		return 0;
	}
	if (strncmp(key, "account:", 8) == 0) {
		const json_t *acc = json_object_get(actor, "account");
		account_name = json_string_value(json_object_get(acc, "name"));
	}
	/*
	 * While most agents met are new (a first ingest), inserting first
	 * saves the lookup: only an agent already stored costs both.
	 */
	if (s->agents_new > 32) {
		if (!(q = query(s, err, Q_AGENT_TRY)))
			return err->code;
		bind_text(q, 1, key);
		bind_text(q, 2, account_name);
		bind_text(q, 3, name);
		rc = run_done(s, err, q, "adding an agent");
		if (rc != 0 && rc != LR_EEXISTS)
			return rc;
		if (rc == 0 && sqlite3_changes(s->db) == 1) {
			s->agents_new += s->agents_new < 64;
			*out_id = sqlite3_last_insert_rowid(s->db);
			agent_slot_set(s, a, key, key_len, *out_id, name ? NAME_TEXT : NAME_NULL, name);
			*slot = a && a->gen == s->cache_gen ? a : NULL;
			return 0;
		}
	}
	if (!(q = query(s, err, Q_AGENT_GET)))
		return err->code;
	bind_text(q, 1, name);
	bind_text(q, 2, key);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		int same_name = sqlite3_column_int(q, 1);
		*out_id = sqlite3_column_int64(q, 0);
		sqlite3_reset(q);
		s->agents_new -= s->agents_new > 0;
		if (same_name || !name) {
			agent_slot_set(s, a, key, key_len, *out_id,
				       !same_name ? NAME_UNKNOWN : name ? NAME_TEXT : NAME_NULL, name);
			*slot = a && a->gen == s->cache_gen ? a : NULL;
			return 0;
		}
		/* The latest name seen wins: people change names, exports fix typos. */
		if (!(q = query(s, err, Q_AGENT_NAME)))
			return err->code;
		bind_text(q, 1, name);
		sqlite3_bind_int64(q, 2, *out_id);
		if ((rc = run_done(s, err, q, "updating an agent")) != 0)
			return rc;
		agent_slot_set(s, a, key, key_len, *out_id, NAME_TEXT, name);
		*slot = a && a->gen == s->cache_gen ? a : NULL;
		return 0;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		return db_error(s, err, "looking up an agent");
	s->agents_new += s->agents_new < 64;
	if (!(q = query(s, err, Q_AGENT_ADD)))
		return err->code;
	bind_text(q, 1, key);
	bind_text(q, 2, account_name);
	bind_text(q, 3, name);
	rc = run_done(s, err, q, "adding an agent");
	if (rc == 0) {
		*out_id = sqlite3_last_insert_rowid(s->db);
		agent_slot_set(s, a, key, key_len, *out_id, name ? NAME_TEXT : NAME_NULL, name);
		*slot = a && a->gen == s->cache_gen ? a : NULL;
	}
	return rc;
}

/* Picks a display name from a language map: en-GB, en-US, en, else the first. */
static const char *langmap_pick(const json_t *map)
{
	static const char *const prefer[] = { "en-GB", "en-US", "en", "und", NULL };
	const char *key;
	json_t *v;
	int i;

	if (!json_is_object(map))
		return NULL;
	for (i = 0; prefer[i]; i++) {
		v = json_object_get(map, prefer[i]);
		if (json_is_string(v))
			return json_string_value(v);
	}
	json_object_foreach((json_t *)map, key, v) {
		if (json_is_string(v))
			return json_string_value(v);
	}
	return NULL;
}

/* The activity's row, if it has a name or type and none is stored (a stored row is kept). */
static int remember_activity(struct store *s, struct lr_error *err, const json_t *object, int cache)
{
	const json_t *def = json_object_get(object, "definition");
	const char *name, *type, *iri;
	struct activity_slot *a = NULL;
	size_t len = 0;
	sqlite3_stmt *q;
	int rc;

	if (!json_is_object(def))
		return 0;
	iri = json_string_value(json_object_get(object, "id"));
	if (cache && iri && s->activities && (len = strlen(iri)) < SLOT_TEXT) {
		a = &s->activities[cache_hash(iri, len) & (ACTIVITY_SLOTS - 1)];
		/* INSERT OR IGNORE of a stored IRI changes nothing. */
		if (a->gen == s->cache_gen && strcmp(a->iri, iri) == 0)
			return 0;
	}
	name = langmap_pick(json_object_get(def, "name"));
	type = json_string_value(json_object_get(def, "type"));
	if (!name && !type)
		return 0;
	if (!(q = query(s, err, Q_ACTIVITY_ADD)))
		return err->code;
	bind_text(q, 1, iri);
	bind_text(q, 2, name);
	bind_text(q, 3, type);
	rc = run_done(s, err, q, "recording an activity");
	if (rc == 0 && a) {
		memcpy(a->iri, iri, len + 1);
		a->gen = s->cache_gen;
	}
	return rc;
}

/* 0 if id is new, STORE_DUPLICATE if stored with the same digest, LR_ECONFLICT otherwise. */
static int check_known(struct store *s, struct lr_error *err, const char *id,
		       const unsigned char digest[32])
{
	sqlite3_stmt *q = query(s, err, Q_STMT_DIGEST);
	int rc;

	if (!q)
		return err->code;
	bind_text(q, 1, id);
	rc = sqlite3_step(q);
	if (rc == SQLITE_DONE) {
		rc = 0;
	} else if (rc == SQLITE_ROW) {
		const void *known = sqlite3_column_blob(q, 0);
		if (sqlite3_column_bytes(q, 0) == 32 && memcmp(known, digest, 32) == 0)
			rc = STORE_DUPLICATE;
		else
			rc = lr_error_set(err, LR_ECONFLICT,
					  "statement %s is already stored with different content", id);
	} else {
		rc = db_error(s, err, "looking up a statement");
	}
	sqlite3_reset(q);
	return rc;
}

static int set_lrs_properties(json_t *statement, const char *id, int had_id,
			      const struct store_source *src, int64_t stored_ms)
{
	char stored[XTIME_MAX];

	xtime_format_ms(stored, stored_ms);
	if (!had_id && json_object_set_new(statement, "id", json_string(id)) != 0)
		return LR_ENOMEM;
	if (json_object_set_new(statement, "stored", json_string(stored)) != 0)
		return LR_ENOMEM;
	if (!json_object_get(statement, "version") &&
	    json_object_set_new(statement, "version", json_string("1.0.0")) != 0)
		return LR_ENOMEM;
	if (!json_object_get(statement, "authority") && src->org_code) {
		json_t *authority = json_pack("{s:s, s:{s:s, s:s}}", "objectType", "Agent",
					      "account", "homePage", "urn:lrhub:org",
					      "name", src->org_code);
		if (!authority || json_object_set_new(statement, "authority", authority) != 0)
			return LR_ENOMEM;
	}
	return 0;
}

/* Makes room for need bytes in b->p; 0 or LR_ENOMEM. */
static int text_reserve(struct textbuf *b, size_t need)
{
	char *grown;
	size_t cap = b->cap ? b->cap : 4096;

	if (need <= b->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (!(grown = realloc(b->p, cap)))
		return LR_ENOMEM;
	b->p = grown;
	b->cap = cap;
	return 0;
}

/* Appends n bytes at *len in b->p; 0 or LR_ENOMEM. */
static int text_put(struct textbuf *b, size_t *len, const char *bytes, size_t n)
{
	if (text_reserve(b, *len + n + 1) != 0)
		return LR_ENOMEM;
	memcpy(b->p + *len, bytes, n);
	*len += n;
	b->p[*len] = '\0';
	return 0;
}

/* Appends the JSON string of n bytes (valid UTF-8) s, escaped as jansson escapes. */
static int text_string(struct textbuf *b, size_t *len, const char *str, size_t n)
{
	size_t i, run = 0;

	if (text_put(b, len, "\"", 1) != 0)
		return LR_ENOMEM;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)str[i];
		char esc[8];
		size_t esc_len = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (text_put(b, len, str + run, i - run) != 0)
			return LR_ENOMEM;
		run = i + 1;
		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default: esc_len = (size_t)snprintf(esc, sizeof(esc), "\\u%04X", c); break;
		}
		if (text_put(b, len, esc, esc_len) != 0)
			return LR_ENOMEM;
	}
	if (text_put(b, len, str + run, n - run) != 0 || text_put(b, len, "\"", 1) != 0)
		return LR_ENOMEM;
	return 0;
}

/*
 * Appends v as json_dumps(v, JSON_COMPACT) writes it (members in their order,
 * reals as "%.17g" with ".0" when they would read back as integers, exponents
 * without '+' or leading zeros), at a fraction of the cost: jansson checks
 * every string's UTF-8 again and writes through a callback per piece.
 */
static int text_value(struct textbuf *b, size_t *len, const json_t *v)
{
	char num[64];
	int n;

	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *member;
		int first = 1;

		if (text_put(b, len, "{", 1) != 0)
			return LR_ENOMEM;
		json_object_foreach((json_t *)v, key, member) {
			if ((!first && text_put(b, len, ",", 1) != 0) ||
			    text_string(b, len, key, strlen(key)) != 0 || text_put(b, len, ":", 1) != 0 ||
			    text_value(b, len, member) != 0)
				return LR_ENOMEM;
			first = 0;
		}
		return text_put(b, len, "}", 1);
	}
	case JSON_ARRAY: {
		size_t i;

		if (text_put(b, len, "[", 1) != 0)
			return LR_ENOMEM;
		for (i = 0; i < json_array_size(v); i++)
			if ((i > 0 && text_put(b, len, ",", 1) != 0) ||
			    text_value(b, len, json_array_get(v, i)) != 0)
				return LR_ENOMEM;
		return text_put(b, len, "]", 1);
	}
	case JSON_STRING:
		return text_string(b, len, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return text_put(b, len, num, (size_t)n);
	case JSON_REAL: {
		char *e;

		n = snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		if (n < 0 || (size_t)n >= sizeof(num) - 3)
			return LR_ENOMEM;
		if (!strpbrk(num, ".eE")) {
			memcpy(num + n, ".0", 3);
			n += 2;
		}
		if ((e = strchr(num, 'e')) != NULL) {
			/* "1e+07" -> "1e7", "1e-07" -> "1e-7" */
			char *from = e + 1, *to = e + 1;
			if (*from == '+')
				from++;
			else if (*from == '-')
				to = ++from;
			while (*from == '0' && from[1])
				from++;
			memmove(to, from, strlen(from) + 1);
			n = (int)strlen(num);
		}
		return text_put(b, len, num, (size_t)n);
	}
	case JSON_TRUE:
		return text_put(b, len, "true", 4);
	case JSON_FALSE:
		return text_put(b, len, "false", 5);
	default:
		return text_put(b, len, "null", 4);
	}
}

/* Writes statement's whole text in b (from its start), *len its length; 0 or LR_ENOMEM. */
static int text_statement(struct textbuf *b, size_t *len, const json_t *statement)
{
	*len = 0;
	return text_value(b, len, statement) != 0 || text_put(b, len, "", 0) != 0 ? LR_ENOMEM : 0;
}

int store_statement_text(const struct json_t *statement, char **buf, size_t *cap, size_t *len)
{
	struct textbuf b = { *buf, *cap };
	int rc = text_statement(&b, len, statement);

	*buf = b.p;
	*cap = b.cap;
	return rc;
}

/* 1 if text can go between JSON quotes as it is. */
static int json_plain(const char *text)
{
	for (; *text; text++)
		if (*text == '"' || *text == '\\' || (unsigned char)*text < 0x20)
			return 0;
	return 1;
}

/*
 * The stored text of a statement read as raw (its own bytes, which parsed to
 * it), with the properties set_lrs_properties added: the bytes without the
 * white space between tokens, then the added members before the closing
 * brace, in the order set_lrs_properties adds them, so the text is what
 * json_dumps(JSON_COMPACT) would write, up to number and escape spelling.
 * Saves serialising the whole statement again. Returns 0 with the text in
 * s->text, 1 when raw cannot be used (the caller serialises), or LR_ENOMEM.
 */
size_t store_compact_json(char *out, const char *raw, size_t raw_len)
{
	size_t len = 0, i;
	int in_string = 0;

	for (i = 0; i < raw_len; i++) {
		char c = raw[i];
		if (in_string) {
			out[len++] = c;
			if (c == '\\' && i + 1 < raw_len)
				out[len++] = raw[++i];
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
			out[len++] = c;
		} else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			out[len++] = c;
		}
	}
	return in_string ? 0 : len;
}

static int splice_text(struct store *s, size_t *out_len, const char *raw, size_t raw_len,
		       const struct store_prepared *prep, const char *id, int add_id,
		       const char *stored, int add_version, const char *authority_org)
{
	size_t len;
	char *t;

	if (authority_org && !json_plain(authority_org))
		return 1;
	if (text_reserve(&s->text, raw_len + 256) != 0)
		return LR_ENOMEM;
	t = s->text.p;
	if (prep && prep->compact && prep->compact_len <= raw_len) {
		len = prep->compact_len;
		memcpy(t, prep->compact, len);
	} else {
		len = store_compact_json(t, raw, raw_len);
	}
	/* Not an object (or a string left open: not the JSON it parsed from): serialise instead. */
	if (len < 2 || t[0] != '{' || t[len - 1] != '}')
		return 1;
	len--; /* the closing brace, written again after the additions */
	if (add_id && (text_put(&s->text, &len, ",\"id\":\"", 7) != 0 ||
		       text_put(&s->text, &len, id, strlen(id)) != 0 || text_put(&s->text, &len, "\"", 1) != 0))
		return LR_ENOMEM;
	if (text_put(&s->text, &len, ",\"stored\":\"", 11) != 0 ||
	    text_put(&s->text, &len, stored, strlen(stored)) != 0 || text_put(&s->text, &len, "\"", 1) != 0)
		return LR_ENOMEM;
	if (add_version && text_put(&s->text, &len, ",\"version\":\"1.0.0\"", 18) != 0)
		return LR_ENOMEM;
	if (authority_org) {
		static const char head[] = ",\"authority\":{\"objectType\":\"Agent\",\"account\":"
					   "{\"homePage\":\"urn:lrhub:org\",\"name\":\"";
		if (text_put(&s->text, &len, head, sizeof(head) - 1) != 0 ||
		    text_put(&s->text, &len, authority_org, strlen(authority_org)) != 0 ||
		    text_put(&s->text, &len, "\"}}", 3) != 0)
			return LR_ENOMEM;
	}
	if (text_put(&s->text, &len, "}", 1) != 0)
		return LR_ENOMEM;
	*out_len = len;
	return 0;
}

int store_raw_known(struct store *s, struct lr_error *err, const char *id, const char *raw,
		    size_t raw_len)
{
	unsigned char raw_sha[32];
	char norm[UUID_STR_LEN + 1];
	sqlite3_stmt *q;
	int rc;

	if (!uuid_is_valid(id))
		return 0;
	uuid_normalize(norm, id);
	if (!(q = query(s, err, Q_STMT_RAW)))
		return err->code;
	if (s->reader && s->reads_left-- <= 0) {
		/*
		 * A read transaction per lookup cost a lock round trip on the WAL
		 * index and a cold page cache each time: while lookups find
		 * statements (a file read again), keep one open for a while. What
		 * is committed meanwhile is not seen, and goes the full path.
		 */
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
		if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK)
			s->reads_left = 256;
	}
	sqlite3_bind_text(q, 1, norm, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(q, 0) == 32) {
		/* Hashed only for a known id: a first ingest pays one index probe. */
		hash_sha256(raw_sha, raw, raw_len);
		rc = memcmp(sqlite3_column_blob(q, 0), raw_sha, 32) == 0;
	} else if (rc == SQLITE_ROW)
		rc = 0;
	else if (rc == SQLITE_DONE)
		rc = 0;
	else
		rc = db_error(s, err, "looking up a statement");
	sqlite3_reset(q);
	if (s->reader && rc == 0 && !sqlite3_get_autocommit(s->db)) {
		/*
		 * Not found (a first ingest, where only some records are looked
		 * up): no read transaction is kept, as one would keep the writer's
		 * WAL from starting over from its beginning.
		 */
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
		s->reads_left = 0;
	}
	return rc;
}

int store_put_statement(struct store *s, struct lr_error *err, json_t *statement,
			const struct store_source *src, enum store_outcome *out_outcome)
{
	return store_put_statement_raw(s, err, statement, NULL, 0, src, NULL, out_outcome);
}

int store_put_statement_raw(struct store *s, struct lr_error *err, json_t *statement,
			    const char *raw, size_t raw_len, const struct store_source *src,
			    const struct store_prepared *prep, enum store_outcome *out_outcome)
{
	unsigned char raw_sha[32];
	char stored_text[XTIME_MAX];
	size_t json_len = 0;
	int spliced = 0, add_version = 0, add_authority = 0;
	unsigned char digest[32];
	char id[UUID_STR_LEN + 1];
	char voids[UUID_STR_LEN + 1];
	struct xapi_facts f;
	json_t *copy = NULL;
	struct agent_slot *slot = NULL;
	int64_t actor = 0, stored_ms;
	sqlite3_stmt *q;
	int rc, outcome = -1, cache;

	*out_outcome = 0;
	if (!(src->xapi_flags & XAPI_VALIDATED) &&
	    (rc = xapi_validate(err, statement, src->xapi_flags & ~(unsigned)XAPI_VALIDATED)) != 0)
		return rc;
	if (prep && prep->digest)
		memcpy(digest, prep->digest, sizeof(digest));
	else if (xapi_digest(digest, statement) != 0)
		return lr_error_set(err, LR_ENOMEM, "out of memory comparing a statement");
	if (prep && prep->facts)
		f = *prep->facts;
	else
		xapi_facts(&f, statement);
	if (f.id) {
		uuid_normalize(id, f.id);
	} else if (xapi_derive_id(id, src->org_code ? src->org_code : "", digest) != 0) {
		return lr_error_set(err, LR_ENOMEM, "out of memory deriving an id");
	}
	rc = check_known(s, err, id, digest);
	if (rc == STORE_DUPLICATE) {
		*out_outcome = STORE_DUPLICATE;
		return 0;
	}
	if (rc != 0)
		return rc;

	stored_ms = xtime_now_ms();
	if (raw && !json_object_get(statement, "stored")) {
		add_version = !json_object_get(statement, "version");
		add_authority = !json_object_get(statement, "authority") && src->org_code;
		xtime_format_ms(stored_text, stored_ms);
		rc = splice_text(s, &json_len, raw, raw_len, prep, id, f.id == NULL, stored_text,
				 add_version, add_authority ? src->org_code : NULL);
		if (rc < 0)
			return lr_error_set(err, LR_ENOMEM, "out of memory serialising a statement");
		spliced = rc == 0;
	}
	/* The spliced text has the LRS's properties already: the tree is left as it came. */
	if (!spliced) {
		/*
		 * A statement read from raw bytes is left as it came (its tree may
		 * belong to another thread's arena, see lrs/jsonmem.h): a copy is
		 * completed instead.
		 */
		if (raw) {
			if (!(copy = json_deep_copy(statement)))
				return lr_error_set(err, LR_ENOMEM, "out of memory completing a statement");
			statement = copy;
		}
		if (set_lrs_properties(statement, id, f.id != NULL, src, stored_ms) != 0) {
			json_decref(copy);
			return lr_error_set(err, LR_ENOMEM, "out of memory completing a statement");
		}
		xapi_facts(&f, statement); /* the object may have moved */
	}
	cache = cache_usable(s);
	if (f.actor && (rc = agent_id(s, err, f.actor, cache, &actor, &slot)) != 0)
		goto fail;
	if (actor > 0 && !(slot && slot->org_id == src->org_id)) {
		if (!(q = query(s, err, Q_AGENT_ORG))) {
			rc = err->code;
			goto fail;
		}
		sqlite3_bind_int64(q, 1, actor);
		sqlite3_bind_int64(q, 2, src->org_id);
		if ((rc = run_done(s, err, q, "linking an agent to its org")) != 0)
			goto fail;
		if (slot)
			slot->org_id = src->org_id;
	}
	if (f.object_type && strcmp(f.object_type, "Activity") == 0 &&
	    (rc = remember_activity(s, err, json_object_get(statement, "object"), cache)) != 0)
		goto fail;

	if (strcmp(f.verb_id, "http://adlnet.gov/expapi/verbs/passed") == 0 || f.success == 1)
		outcome = 1;
	else if (strcmp(f.verb_id, "http://adlnet.gov/expapi/verbs/failed") == 0 || f.success == 0)
		outcome = 0;
	if (f.voided_id)
		uuid_normalize(voids, f.voided_id);

	if (!spliced && text_statement(&s->text, &json_len, statement) != 0) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory serialising a statement");
		goto out;
	}
	if (!(q = query(s, err, Q_STMT_ADD))) {
		rc = err->code;
		goto out;
	}
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, src->org_id);
	bind_id(q, 3, src->run_id);
	bind_id(q, 4, src->file_id);
	bind_id(q, 5, actor);
	bind_text(q, 6, f.actor_type);
	bind_text(q, 7, f.verb_id);
	bind_text(q, 8, f.object_type);
	bind_text(q, 9, f.object_id);
	bind_text(q, 10, f.registration);
	sqlite3_bind_int64(q, 11, f.has_timestamp ? f.timestamp_ms : stored_ms);
	sqlite3_bind_int64(q, 12, stored_ms);
	sqlite3_bind_int(q, 13, verb_in(f.verb_id, completing_verbs) || f.completion == 1);
	if (outcome >= 0)
		sqlite3_bind_int(q, 14, outcome);
	if (f.has_score_scaled)
		sqlite3_bind_double(q, 15, f.score_scaled);
	bind_text(q, 16, f.voided_id ? voids : NULL);
	sqlite3_bind_blob(q, 17, digest, 32, SQLITE_STATIC);
	sqlite3_bind_text(q, 18, s->text.p, (int)json_len, SQLITE_STATIC);
	if (src->course_key)
		bind_text(q, 19, src->course_key);
	else if (f.object_type && strcmp(f.object_type, "Activity") == 0)
		bind_text(q, 19, f.object_id);
	bind_text(q, 20, src->part_key);
	if (raw && prep && prep->raw_sha) {
		sqlite3_bind_blob(q, 21, prep->raw_sha, 32, SQLITE_STATIC);
	} else if (raw) {
		hash_sha256(raw_sha, raw, raw_len);
		sqlite3_bind_blob(q, 21, raw_sha, 32, SQLITE_STATIC);
	}
	rc = run_done(s, err, q, "storing a statement");
	if (rc == LR_EEXISTS)
		rc = lr_error_set(err, LR_EDB, "storing statement %s: constraint failed", id);
	else if (rc == 0)
		*out_outcome = STORE_NEW;
out:
	json_decref(copy);
	return rc;
fail:
	/* SQLite may have ended the transaction itself: trust nothing cached. */
	cache_clear(s);
	json_decref(copy);
	return rc;
}

int store_count_statements(struct store *s, struct lr_error *err, int voided_only, long *out)
{
	sqlite3_stmt *q = query(s, err, voided_only ? Q_COUNT_VOIDED : Q_COUNT_ALL);
	int rc;

	*out = 0;
	if (!q)
		return err->code;
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		*out = (long)sqlite3_column_int64(q, 0);
		rc = 0;
	} else {
		rc = db_error(s, err, "counting statements");
	}
	sqlite3_reset(q);
	return rc;
}
