/*
 * jsonfast.h: a fast, strict JSON parser that builds the same jansson tree
 * as json_loadb. xAPI statements are parsed once on the way in (file ingest,
 * POST/PUT /statements) and again whenever stored text is read back; jansson's
 * lexer reads its input one character at a time through a callback, which
 * made parsing the largest cost of both paths.
 *
 * jsonfast_loadb reads the buffer in one pass and builds the values with
 * jansson's own constructors. It accepts only what jansson accepts, with the
 * same values (integers and reals told apart as jansson does, reals as strtod
 * reads them, strings after escape decoding, object members in input order).
 * Anything else - a syntax error, invalid UTF-8, \u0000, a duplicate key
 * under JSON_REJECT_DUPLICATES, a number out of range, nesting deeper than
 * jansson's limit, running out of memory, a flag it does not handle - it
 * hands to json_loadb itself, so errors (text, line, column, position) and
 * every corner case are exactly jansson's.
 */
#ifndef LRHUB_JSONFAST_H
#define LRHUB_JSONFAST_H

#include <stddef.h>

struct json_t;
struct json_error_t;

/*
 * The same as json_loadb(buf, len, flags, error): a new reference, or NULL
 * with error (if not NULL) filled in by jansson. flags 0 and
 * JSON_REJECT_DUPLICATES take the fast path; any other flag goes straight to
 * json_loadb.
 */
struct json_t *jsonfast_loadb(const char *buf, size_t len, size_t flags,
			      struct json_error_t *error);

/*
 * The fast path alone, for tests: the tree jsonfast_loadb would return
 * without asking jansson, or NULL where it would ask jansson. flags: 0 or
 * JSON_REJECT_DUPLICATES.
 */
struct json_t *jsonfast__parse(const char *buf, size_t len, size_t flags);

#endif
