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
 *
 * Failed logins are slowed down: failures are counted per client address
 * and per key (in a fixed table of CREDENTIAL_THROTTLE_SLOTS entries, the
 * one idle longest reused when it is full). From the
 * CREDENTIAL_THROTTLE_FREE-th failure on, that address or key is refused
 * without a check for a delay that starts at 2 seconds and doubles with
 * each further failure, up to CREDENTIAL_THROTTLE_MAX_S; the count is
 * forgotten CREDENTIAL_THROTTLE_FORGET_S after the last failure, and a key's
 * count when it logs in. A pair verified before (in the cache) is never
 * refused, so a client that holds the secret is not locked out by someone
 * guessing at its key.
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

/* Forgets every cached verification (tests). */
void credential_cache_clear(void);

/* Forgets the cached verification of key, if any (after a revocation). */
void credential_cache_forget(const char *key);

/* A credential as listed: never its secret or hash. */
struct credential_info {
	const char *key;
	const char *org;
	const char *scope;
	const char *created_at;
	const char *revoked_at;  /* NULL while it is in use */
};

/*
 * Calls fn for each credential, in org then creation order (strings borrowed
 * for the call); stops at fn's first non-zero return and returns it.
 */
int credential_each(struct store *s, struct lr_error *err,
		    int (*fn)(void *ctx, const struct credential_info *c), void *ctx);

/*
 * Revokes the credential key from now on: LR_ENOTFOUND for an unknown key,
 * LR_EEXISTS if it is revoked already. A server still holding it verified
 * stops taking it at its next request (credential_in_use).
 */
int credential_revoke(struct store *s, struct lr_error *err, const char *key);

/*
 * 1 if key names a credential that is not revoked, 0 if not, < 0 on a store
 * failure: the cheap check a server makes of a pair it verified before.
 */
int credential_in_use(struct store *s, struct lr_error *err, const char *key);

/*
 * The cache alone: 0 and *out filled when key and secret were verified
 * lately, LR_ENOTFOUND otherwise. Cheap; never touches the store.
 */
int credential_verify_cached(const char *key, const char *secret, struct credential *out);

#define CREDENTIAL_THROTTLE_SLOTS 4096
#define CREDENTIAL_THROTTLE_FREE 5
#define CREDENTIAL_THROTTLE_MAX_S 60
#define CREDENTIAL_THROTTLE_FORGET_S 600

/*
 * 0 if a login from client (an address as text) with key may be checked at
 * now_ms, else the seconds to wait before trying again. client or key may
 * be NULL (not counted).
 */
unsigned credential_throttle_wait(const char *client, const char *key, int64_t now_ms);
/* Counts a failed login from client with key (either may be NULL). */
void credential_throttle_failed(const char *client, const char *key, int64_t now_ms);
/* Forgets key's failures (after it logged in). */
void credential_throttle_succeeded(const char *key);
/* Forgets every failure (tests). */
void credential_throttle_clear(void);

#endif
