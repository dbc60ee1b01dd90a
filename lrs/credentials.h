/*
 * credentials.h: API credentials for the xAPI HTTP API (lrhub serve).
 *
 * A credential is a key (public, 16 hex digits) and a secret (shown once,
 * never stored): the store keeps only a random salt and PBKDF2-HMAC-SHA-256
 * of the secret with a high iteration count. Each credential belongs to one
 * org, whose statements it writes, and has a scope:
 *   write     write statements and documents; read its org's statements and documents
 *   read-own  read its org's statements and documents
 *   read-all  read every org's statements (an evaluator), its org's documents
 *   admin     write, and read everything
 * Verifying a secret is slow by design, so a verified (key, secret) pair is
 * remembered in memory (as an HMAC under a per-process random key) for a
 * keep-alive client's next requests; the cache is safe to use from many
 * threads.
 */
#ifndef LRHUB_CREDENTIALS_H
#define LRHUB_CREDENTIALS_H

#include <stddef.h>
#include <stdint.h>

struct lr_error;
struct store;

enum credential_scope {
	CREDENTIAL_WRITE = 1,
	CREDENTIAL_READ_OWN = 2,
	CREDENTIAL_READ_ALL = 3,
	CREDENTIAL_ADMIN = 4
};

#define CREDENTIAL_KEY_LEN 16     /* hex digits */
#define CREDENTIAL_SECRET_LEN 43  /* base64url of 32 random bytes */
#define CREDENTIAL_ORG_MAX 65

/* What a verified credential may do. */
struct credential {
	char key[CREDENTIAL_KEY_LEN + 1];
	int64_t org_id;
	char org[CREDENTIAL_ORG_MAX];
	enum credential_scope scope;
};

/* Parses "write", "read-own", "read-all" or "admin"; LR_EINVAL otherwise. */
int credential_scope_parse(enum credential_scope *out, const char *text);
/* The name of a scope (static). */
const char *credential_scope_name(enum credential_scope scope);

/* 1 if the scope may write statements and documents. */
int credential_can_write(const struct credential *c);
/* 1 if the scope may read every org's statements. */
int credential_reads_all(const struct credential *c);

/*
 * Makes a new credential for org (a code) with scope, and writes its key and
 * secret (NUL-terminated) into out_key and out_secret. LR_ENOTFOUND if there
 * is no such org.
 */
int credential_add(struct store *s, struct lr_error *err, const char *org,
		   enum credential_scope scope, char out_key[CREDENTIAL_KEY_LEN + 1],
		   char out_secret[CREDENTIAL_SECRET_LEN + 1]);

/*
 * Checks key and secret against the store (or the in-memory cache of pairs
 * verified before). Returns 0 and fills *out when they match, LR_ENOTFOUND
 * when they do not (an unknown key costs as much time as a wrong secret),
 * other codes for store failures.
 */
int credential_verify(struct store *s, struct lr_error *err, const char *key, const char *secret,
		      struct credential *out);

/* Forgets every cached verification (tests, and after a revocation). */
void credential_cache_clear(void);

#endif
