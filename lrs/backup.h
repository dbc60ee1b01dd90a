/*
 * backup.h: a consistent copy of the store while it is in use. It uses
 * SQLite's online backup API in one step, so the copy is one snapshot of a
 * single read transaction: in WAL mode the server (or a nightly run) goes on
 * writing meanwhile and is never blocked. The copy is written to PATH.tmp,
 * checked, and renamed to PATH, so PATH is either the old file or a whole
 * new copy, never half of one.
 */
#ifndef LRHUB_BACKUP_H
#define LRHUB_BACKUP_H

struct lr_error;

/*
 * Copies the store at store_path into the file path (replacing it). The
 * store is opened read-only and its schema is neither checked nor migrated,
 * so an old store can be backed up before an upgrade. Returns 0, or LR_EIO
 * (cannot open the store or write the copy), LR_EDB / LR_EBUSY (the copy
 * failed; path is left as it was), LR_ENOMEM.
 */
int backup_store(struct lr_error *err, const char *store_path, const char *path);

#endif
