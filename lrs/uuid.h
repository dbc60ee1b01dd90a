/*
 * uuid.h: UUID syntax checks and name-based (version 5, SHA-1) UUIDs, which
 * give statements made from non-xAPI records, and xAPI statements sent
 * without an id, the same id every time the same record is ingested.
 */
#ifndef LRHUB_UUID_H
#define LRHUB_UUID_H

#include <stddef.h>

#define UUID_STR_LEN 36 /* without the NUL */

/* 1 if s is a UUID in its 8-4-4-4-12 hex form (any case, any variant), else 0. */
int uuid_is_valid(const char *s);

/* Writes s lower-cased into out (UUID_STR_LEN + 1 bytes). s must be valid. */
void uuid_normalize(char out[UUID_STR_LEN + 1], const char *s);

/*
 * Writes the RFC 4122 version 5 UUID of name (len bytes) in namespace ns
 * (a valid UUID string) into out, lower-case. Returns 0 or LR_ENOMEM.
 */
int uuid_v5(char out[UUID_STR_LEN + 1], const char *ns, const void *name, size_t len);

/* The namespace of every id lrhub derives. */
#define UUID_NS_LRHUB "6b1f3c1e-8f4a-5d2b-9e0c-2a7d4c9b1e50"

#endif
