/*
 * backup.c: the store copied while in use (see backup.h).
 */
#include "lrs/backup.h"
#include "lrs/error.h"

#include <sqlite3.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The schema version a database says it has, -1 if it cannot be read. */
static int user_version(sqlite3 *db)
{
	sqlite3_stmt *q = NULL;
	int v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return v;
}

int backup_store(struct lr_error *err, const char *store_path, const char *path)
{
	sqlite3 *src = NULL, *dest = NULL;
	sqlite3_backup *b = NULL;
	sqlite3_stmt *q = NULL;
	char *tmp = NULL;
	int rc = 0, step, tries = 0;

	if (asprintf(&tmp, "%s.tmp", path) < 0) {
		tmp = NULL;
		return lr_error_set(err, LR_ENOMEM, "out of memory");
	}
	if (sqlite3_open_v2(store_path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		rc = lr_error_set(err, LR_EIO, "cannot open the store %s: %s", store_path,
				  src ? sqlite3_errmsg(src) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(src, 30000);
	if (unlink(tmp) != 0 && errno != ENOENT) {
		rc = lr_error_set(err, LR_EIO, "cannot replace %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (sqlite3_open_v2(tmp, &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		rc = lr_error_set(err, LR_EIO, "cannot create %s: %s", tmp,
				  dest ? sqlite3_errmsg(dest) : "out of memory");
		goto out;
	}
	if (!(b = sqlite3_backup_init(dest, "main", src, "main"))) {
		rc = lr_error_set(err, LR_EDB, "cannot start the backup: %s", sqlite3_errmsg(dest));
		goto out;
	}
	/* All pages in one step: one read transaction, so one consistent snapshot. */
	while ((step = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || step == SQLITE_LOCKED) {
		if (++tries > 300)
			break;
		sqlite3_sleep(100);
	}
	step = sqlite3_backup_finish(b) == SQLITE_OK && step == SQLITE_DONE ? SQLITE_DONE : step;
	b = NULL;
	if (step != SQLITE_DONE) {
		rc = lr_error_set(err, step == SQLITE_BUSY || step == SQLITE_LOCKED ? LR_EBUSY : LR_EDB,
				  "the backup into %s failed: %s", tmp,
				  sqlite3_errcode(dest) ? sqlite3_errmsg(dest) : sqlite3_errmsg(src));
		goto out;
	}
	/*
	 * The copy must read back with the source's schema version. (Not
	 * PRAGMA quick_check: SQLite 3.40 reports false NULLs in WITHOUT ROWID
	 * tables whose key columns are declared in another order.)
	 */
	if (user_version(dest) != user_version(src) || user_version(dest) < 0) {
		rc = lr_error_set(err, LR_EDB, "the copy in %s does not read back: %s", tmp,
				  sqlite3_errmsg(dest));
		goto out;
	}
	sqlite3_finalize(q);
	q = NULL;
	if (sqlite3_close(dest) != SQLITE_OK) {
		rc = lr_error_set(err, LR_EIO, "cannot finish writing %s", tmp);
		dest = NULL;
		goto out;
	}
	dest = NULL;
	if (rename(tmp, path) != 0)
		rc = lr_error_set(err, LR_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
out:
	sqlite3_finalize(q);
	if (dest)
		sqlite3_close(dest);
	sqlite3_close(src);
	if (rc != 0 && tmp)
		unlink(tmp);
	free(tmp);
	return rc;
}
