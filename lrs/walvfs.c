/*
 * walvfs.c: SQLite's own file layer, with the frames appended to a WAL
 * gathered into one write (see walvfs.h).
 *
 * SQLite writes each WAL frame with two write calls: its 24-byte header,
 * then the page. A commit of 300 pages is 600 system calls, and in a file
 * ingest or a POST of 100 statements those calls cost more than the bytes
 * they copy (docs/performance.md). This layer keeps appended frames in a
 * buffer of its own and writes them in one call:
 *   - when a commit frame is complete (the frame header says so: bytes 4
 *     to 7 hold the database size after the commit, zero otherwise), so a
 *     failed write fails the commit, as it would without this layer;
 *   - before anything that reads, syncs, truncates or measures the file;
 *   - when a write does not follow the buffered ones, or the buffer is full;
 *   - at the main database's shared-memory barrier, which SQLite passes
 *     before it publishes new frames to other connections (a safety net:
 *     the commit frame has flushed them already).
 * Frames of a transaction not committed yet (a cache spill) may stay in the
 * buffer until its commit: no other connection reads them before then, and
 * after a crash they were never committed.
 */
#include "walvfs.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define WALVFS_BUFFER (1024 * 1024)
#define WALVFS_PIECE (120 * 1024)
#define FRAME_HEADER 24

struct wv_file {
	sqlite3_file base;
	sqlite3_file *real;     /* the underlying VFS's file, right after this struct */
	const char *name;       /* main database: the name SQLite opened it by (a key) */
	struct wv_file *wal;    /* main database: its WAL, while open */
	struct wv_file *db;     /* WAL: its main database */
	struct wv_file *next;   /* main databases open, for a WAL to find its own */
	unsigned char *buf;     /* WAL: frames not yet written, from file offset at */
	size_t len;
	sqlite3_int64 at;
	int commit_next;        /* WAL: the next write ends a commit frame */
};

static sqlite3_vfs wv_vfs;
static sqlite3_vfs *wv_orig;
static struct wv_file *wv_dbs;
static pthread_mutex_t wv_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t wv_once = PTHREAD_ONCE_INIT;
static int wv_status = SQLITE_ERROR;

static const sqlite3_io_methods wv_methods;

#define REAL(f) (((struct wv_file *)(f))->real)

/*
 * Writes the buffered frames; SQLite's code for the failure, else SQLITE_OK.
 * In pieces: the unix VFS writes at most 128 KiB less a byte in one call
 * (what it is given beyond that it reports as a full disk).
 */
static int wv_flush(struct wv_file *w)
{
	size_t done = 0, n;
	int rc = SQLITE_OK;

	while (done < w->len && rc == SQLITE_OK) {
		n = w->len - done < WALVFS_PIECE ? w->len - done : WALVFS_PIECE;
		rc = w->real->pMethods->xWrite(w->real, w->buf + done, (int)n,
					       w->at + (sqlite3_int64)done);
		done += n;
	}
	w->len = 0;
	w->commit_next = 0;
	return rc;
}

static int wv_close(sqlite3_file *f)
{
	struct wv_file *w = (struct wv_file *)f;
	int rc = wv_flush(w), rc2;

	pthread_mutex_lock(&wv_lock);
	if (w->db) {
		w->db->wal = NULL;
	} else if (w->name) {
		struct wv_file **p;
		for (p = &wv_dbs; *p; p = &(*p)->next)
			if (*p == w) {
				*p = w->next;
				break;
			}
		if (w->wal)
			w->wal->db = NULL;
	}
	pthread_mutex_unlock(&wv_lock);
	free(w->buf);
	w->buf = NULL;
	rc2 = w->real->pMethods->xClose(w->real);
	return rc != SQLITE_OK ? rc : rc2;
}

static int wv_read(sqlite3_file *f, void *out, int amt, sqlite3_int64 off)
{
	struct wv_file *w = (struct wv_file *)f;

	if (w->len > 0 && off < w->at + (sqlite3_int64)w->len && off + amt > w->at) {
		if (off >= w->at && off + amt <= w->at + (sqlite3_int64)w->len) {
			memcpy(out, w->buf + (off - w->at), (size_t)amt);
			return SQLITE_OK;
		}
		int rc = wv_flush(w);
		if (rc != SQLITE_OK)
			return rc;
	}
	return w->real->pMethods->xRead(w->real, out, amt, off);
}

static unsigned get4(const unsigned char *p)
{
	return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | p[3];
}

static int wv_write(sqlite3_file *f, const void *data, int amt, sqlite3_int64 off)
{
	struct wv_file *w = (struct wv_file *)f;
	int rc, commit;

	if (!w->db || amt <= 0 || amt > WALVFS_BUFFER)
		goto through;
	if (!w->buf && !(w->buf = malloc(WALVFS_BUFFER)))
		goto through;
	if (w->len > 0 && (off != w->at + (sqlite3_int64)w->len || w->len + (size_t)amt > WALVFS_BUFFER) &&
	    (rc = wv_flush(w)) != SQLITE_OK)
		return rc;
	if (w->len == 0)
		w->at = off;
	commit = w->commit_next;
	memcpy(w->buf + w->len, data, (size_t)amt);
	w->len += (size_t)amt;
	/* A frame header whose commit field is set: the page after it ends the commit. */
	w->commit_next = amt == FRAME_HEADER && get4((const unsigned char *)data + 4) != 0;
	return commit ? wv_flush(w) : SQLITE_OK;
through:
	if ((rc = wv_flush(w)) != SQLITE_OK)
		return rc;
	return w->real->pMethods->xWrite(w->real, data, amt, off);
}

static int wv_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct wv_file *w = (struct wv_file *)f;
	int rc = wv_flush(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xTruncate(w->real, size);
}

static int wv_sync(sqlite3_file *f, int flags)
{
	struct wv_file *w = (struct wv_file *)f;
	int rc = wv_flush(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xSync(w->real, flags);
}

static int wv_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	struct wv_file *w = (struct wv_file *)f;
	int rc = wv_flush(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xFileSize(w->real, size);
}

static int wv_lock_(sqlite3_file *f, int level)
{
	return REAL(f)->pMethods->xLock(REAL(f), level);
}

static int wv_unlock(sqlite3_file *f, int level)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), level);
}

static int wv_check_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int wv_file_control(sqlite3_file *f, int op, void *arg)
{
	struct wv_file *w = (struct wv_file *)f;

	if (op == SQLITE_FCNTL_SIZE_HINT || op == SQLITE_FCNTL_SYNC) {
		int rc = wv_flush(w);
		if (rc != SQLITE_OK)
			return rc;
	}
	return w->real->pMethods->xFileControl(w->real, op, arg);
}

static int wv_sector_size(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int wv_device(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

/* Shared memory and mapping: what the underlying file has (the unix VFS: all of it). */
static int wv_shm_map(sqlite3_file *f, int page, int size, int extend, void volatile **out)
{
	if (REAL(f)->pMethods->iVersion < 2)
		return SQLITE_IOERR_SHMMAP;
	return REAL(f)->pMethods->xShmMap(REAL(f), page, size, extend, out);
}

static int wv_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	if (REAL(f)->pMethods->iVersion < 2)
		return SQLITE_IOERR_SHMLOCK;
	return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}

static void wv_shm_barrier(sqlite3_file *f)
{
	struct wv_file *w = (struct wv_file *)f;

	/*
	 * Frames are published to other connections after this barrier. Their
	 * commit frame wrote them already; should one still be buffered, it is
	 * written here (a failure is left for the next write or sync to find).
	 */
	if (w->wal && w->wal->len > 0)
		wv_flush(w->wal);
	if (w->real->pMethods->iVersion >= 2)
		w->real->pMethods->xShmBarrier(w->real);
}

static int wv_shm_unmap(sqlite3_file *f, int delete_flag)
{
	if (REAL(f)->pMethods->iVersion < 2)
		return SQLITE_OK;
	return REAL(f)->pMethods->xShmUnmap(REAL(f), delete_flag);
}

static int wv_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **out)
{
	if (REAL(f)->pMethods->iVersion < 3) {
		*out = NULL;
		return SQLITE_OK;
	}
	return REAL(f)->pMethods->xFetch(REAL(f), off, amt, out);
}

static int wv_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	if (REAL(f)->pMethods->iVersion < 3)
		return SQLITE_OK;
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods wv_methods = {
	3,
	wv_close, wv_read, wv_write, wv_truncate, wv_sync, wv_file_size,
	wv_lock_, wv_unlock, wv_check_reserved, wv_file_control, wv_sector_size, wv_device,
	wv_shm_map, wv_shm_lock, wv_shm_barrier, wv_shm_unmap,
	wv_fetch, wv_unfetch,
};

static int wv_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	struct wv_file *w = (struct wv_file *)f;
	int rc;

	(void)vfs;
	memset(w, 0, sizeof(*w));
	w->real = (sqlite3_file *)(w + 1);
	rc = wv_orig->xOpen(wv_orig, name, w->real, flags, out_flags);
	if (rc != SQLITE_OK || !w->real->pMethods) {
		/* SQLite does not close a file whose pMethods is NULL. */
		if (w->real->pMethods)
			w->real->pMethods->xClose(w->real);
		w->base.pMethods = NULL;
		return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
	}
	w->base.pMethods = &wv_methods;
	pthread_mutex_lock(&wv_lock);
	if ((flags & SQLITE_OPEN_MAIN_DB) && name) {
		w->name = name;
		w->next = wv_dbs;
		wv_dbs = w;
	} else if ((flags & SQLITE_OPEN_WAL) && name) {
		/* The WAL's name lies in the same block as its database's (sqlite3_filename_database). */
		const char *db_name = sqlite3_filename_database(name);
		struct wv_file *d;
		for (d = wv_dbs; d; d = d->next)
			if (d->name == db_name && !d->wal) {
				d->wal = w;
				w->db = d;
				break;
			}
	}
	pthread_mutex_unlock(&wv_lock);
	return SQLITE_OK;
}

static void wv_register(void)
{
	if (!(wv_orig = sqlite3_vfs_find(NULL)))
		return;
	wv_vfs = *wv_orig;
	wv_vfs.iVersion = wv_orig->iVersion;
	wv_vfs.szOsFile = (int)sizeof(struct wv_file) + wv_orig->szOsFile;
	wv_vfs.zName = WALVFS_NAME;
	wv_vfs.pNext = NULL;
	wv_vfs.pAppData = NULL;
	wv_vfs.xOpen = wv_open;
	wv_status = sqlite3_vfs_register(&wv_vfs, 0);
}

int walvfs_register(void)
{
	pthread_once(&wv_once, wv_register);
	return wv_status;
}
