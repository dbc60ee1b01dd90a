/*
 * xapi.h (adapters): xAPI statement files: a JSON array of statements, a
 * single statement, a StatementResult page ({"statements": [...],
 * "more": ...}) or JSON lines. Streams through jsonstream, so any size of
 * file is read in bounded memory.
 */
#ifndef LRHUB_ADAPTERS_XAPI_H
#define LRHUB_ADAPTERS_XAPI_H

#include "adapter.h"

extern const struct adapter adapter_xapi;

/*
 * Says whether a record is a statement stored already from these exact
 * bytes: id is the record's top-level "id" as written (a UUID), raw the
 * record's raw_len bytes. Returns 1 if so, else 0 (or < 0, taken as 0).
 */
typedef int (*adapter_xapi_known_fn)(void *ctx, const char *id, const char *raw, size_t raw_len);

/*
 * Reads, splits and parses the source in a thread of its own, a bounded
 * number of items (and bytes) ahead of the caller, so that parsing overlaps
 * with what the caller does with the items. Call right after open, before
 * the first next(). From then on the source's read function, and known
 * (which may be NULL), are called from that thread, never at the same time
 * as each other. With known, a record it says is stored already is returned
 * as an ADAPTER_DUPLICATE item, unparsed. Returns 0, or LR_ENOMEM when no
 * thread could be started (reading then stays in the caller's thread).
 */
int adapter_xapi_pipeline(void *state, adapter_xapi_known_fn known, void *ctx);

#endif
