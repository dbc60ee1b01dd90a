/*
 * test_walvfs.c: the VFS that writes a commit's WAL frames in one call
 * (lrs/walvfs.c). What a commit wrote must be seen by every other
 * connection (of this VFS or SQLite's own) once it returns, never before;
 * a transaction whose frames were spilled and then rolled back, or lost in
 * a crash, must leave nothing; checkpoints must go on as before.
 */
#include "lrs/walvfs.h"
#include "tests/test.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char db_path[256];

static sqlite3 *open_db(int ours, int cache_pages)
{
	sqlite3 *db = NULL;
	char sql[256];

	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			    ours ? WALVFS_NAME : NULL) != SQLITE_OK)
		return NULL;
	sqlite3_busy_timeout(db, 5000);
	snprintf(sql, sizeof(sql),
		 "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
		 " PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = %d", cache_pages);
	sqlite3_exec(db, sql, NULL, NULL, NULL);
	return db;
}

static long count_rows(sqlite3 *db)
{
	sqlite3_stmt *q;
	long n = -1;

	if (sqlite3_prepare_v2(db, "SELECT count(*), sum(length(b)) FROM t", -1, &q, NULL) != SQLITE_OK)
		return -2;
	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

static int intact(sqlite3 *db)
{
	sqlite3_stmt *q;
	int ok = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(q) == SQLITE_ROW)
		ok = strcmp((const char *)sqlite3_column_text(q, 0), "ok") == 0;
	sqlite3_finalize(q);
	return ok;
}

/* Inserts n rows of random 1,000-byte blobs at random keys (pages all over the index). */
static int insert_rows(sqlite3 *db, int n)
{
	char sql[200];

	snprintf(sql, sizeof(sql),
		 "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d)"
		 " INSERT INTO t(k, b) SELECT randomblob(16), randomblob(1000) FROM c", n);
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static void fresh(void)
{
	char side[300];
	sqlite3 *db;

	snprintf(db_path, sizeof(db_path), "%s/lrhub-walvfs-%ld.db",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
	unlink(db_path);
	snprintf(side, sizeof(side), "%s-wal", db_path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", db_path);
	unlink(side);
	db = open_db(1, 2000);
	sqlite3_exec(db, "CREATE TABLE t(k BLOB PRIMARY KEY, b BLOB)", NULL, NULL, NULL);
	sqlite3_close(db);
}

static void test_register(void)
{
	CHECK_INT(walvfs_register(), SQLITE_OK);
	CHECK_INT(walvfs_register(), SQLITE_OK); /* once is enough; again changes nothing */
	CHECK(sqlite3_vfs_find(WALVFS_NAME) != NULL);
	CHECK(sqlite3_vfs_find(NULL) != sqlite3_vfs_find(WALVFS_NAME)); /* not the default */
}

/* A transaction larger than the cache spills frames; nobody sees them before the commit. */
static void test_commit_visible(void)
{
	sqlite3 *w, *theirs, *ours;

	fresh();
	w = open_db(1, 20);
	theirs = open_db(0, 2000);
	ours = open_db(1, 2000);
	CHECK(w && theirs && ours);
	CHECK_INT(sqlite3_exec(w, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(insert_rows(w, 3000), 0);
	CHECK_INT(count_rows(theirs), 0);
	CHECK_INT(count_rows(ours), 0);
	CHECK_INT(count_rows(w), 3000); /* its own spilled frames, read back */
	CHECK_INT(sqlite3_exec(w, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(count_rows(theirs), 3000);
	CHECK_INT(count_rows(ours), 3000);
	/* Many small commits, each seen at once. */
	for (int i = 1; i <= 50; i++) {
		insert_rows(w, 1);
		if (count_rows(theirs) != 3000 + i)
			break;
		CHECK_INT(count_rows(ours), 3000 + i);
	}
	CHECK_INT(count_rows(theirs), 3050);
	CHECK(intact(theirs));
	sqlite3_close(w);
	sqlite3_close(theirs);
	sqlite3_close(ours);
}

/* Spilled frames of a rolled-back transaction are written over; the store stays whole. */
static void test_rollback_after_spill(void)
{
	sqlite3 *w, *r;

	fresh();
	w = open_db(1, 20);
	r = open_db(0, 2000);
	insert_rows(w, 500);
	CHECK_INT(sqlite3_exec(w, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(insert_rows(w, 3000), 0);
	CHECK_INT(sqlite3_exec(w, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(count_rows(w), 500);
	CHECK_INT(insert_rows(w, 700), 0);
	CHECK_INT(count_rows(r), 1200);
	CHECK(intact(r));
	sqlite3_close(w);
	sqlite3_close(r);
	/* Opened afresh, the WAL is read from the file alone. */
	r = open_db(0, 2000);
	CHECK_INT(count_rows(r), 1200);
	CHECK(intact(r));
	sqlite3_close(r);
}

/* Checkpoints by another connection, the WAL started over and truncated, FULL sync. */
static void test_checkpoints(void)
{
	sqlite3 *w, *c;
	int i;

	fresh();
	w = open_db(1, 50);
	c = open_db(0, 100);
	for (i = 0; i < 6; i++) {
		CHECK_INT(insert_rows(w, 400), 0);
		CHECK_INT(sqlite3_wal_checkpoint_v2(c, NULL, i % 2 ? SQLITE_CHECKPOINT_TRUNCATE
								  : SQLITE_CHECKPOINT_RESTART,
						    NULL, NULL),
			  SQLITE_OK);
	}
	sqlite3_exec(w, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
	for (i = 0; i < 5; i++)
		CHECK_INT(insert_rows(w, 300), 0);
	CHECK_INT(sqlite3_wal_checkpoint_v2(w, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL), SQLITE_OK);
	CHECK_INT(count_rows(c), 6 * 400 + 5 * 300);
	CHECK(intact(c));
	sqlite3_close(w);
	sqlite3_close(c);
}

/* Killed mid-transaction with frames spilled: what was committed is all there is. */
static void test_crash(void)
{
	pid_t pid;
	int status = -1;
	sqlite3 *r;

	fresh();
	pid = fork();
	if (pid == 0) {
		sqlite3 *w = open_db(1, 20);
		if (!w || insert_rows(w, 800) != 0)
			_exit(2);
		sqlite3_exec(w, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		insert_rows(w, 3000);
		_exit(0); /* no commit, no close: as kill -9 would */
	}
	CHECK(pid > 0);
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	r = open_db(0, 2000);
	CHECK_INT(count_rows(r), 800);
	CHECK(intact(r));
	sqlite3_close(r);
}

/* write() calls made by this process so far, from /proc/self/io; -1 if unknown. */
static long writes_so_far(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	long n = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "syscw: %ld", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

/* The point of it: a commit of some 300 pages takes a few calls, not 600. */
static void test_fewer_writes(void)
{
	long before, ours, theirs;
	sqlite3 *db;

	if (writes_so_far() < 0)
		return; /* no /proc/self/io: nothing to count with */
	fresh();
	db = open_db(0, 4000);
	before = writes_so_far();
	insert_rows(db, 1200);
	theirs = writes_so_far() - before;
	sqlite3_close(db);
	db = open_db(1, 4000);
	before = writes_so_far();
	insert_rows(db, 1200);
	ours = writes_so_far() - before;
	CHECK_INT(count_rows(db), 2400);
	sqlite3_close(db);
	CHECK_MSG(theirs >= 400, "SQLite's own VFS: %ld write calls", theirs);
	CHECK_MSG(ours > 0 && ours * 10 < theirs, "%ld write calls against %ld", ours, theirs);
}

int main(void)
{
	RUN(test_register);
	RUN(test_commit_visible);
	RUN(test_rollback_after_spill);
	RUN(test_checkpoints);
	RUN(test_crash);
	RUN(test_fewer_writes);
	fresh();
	unlink(db_path);
	TEST_END();
}
