/*
 * walvfs.h: an SQLite VFS over the default one that gathers the frames
 * SQLite appends to a WAL file into one write call per commit (or per MiB),
 * instead of two calls per page. Everything else goes to the default VFS
 * unchanged; what a commit has written is in the file before the commit
 * returns and before other connections can see it. See walvfs.c.
 */
#ifndef LRHUB_WALVFS_H
#define LRHUB_WALVFS_H

#define WALVFS_NAME "lrhub-wal"

/* Registers the VFS (once; not as the default). SQLITE_OK, or SQLite's code. */
int walvfs_register(void);

#endif
