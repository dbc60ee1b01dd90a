/*
 * credentials.c: API credentials: creation, PBKDF2 verification and the
 * in-memory cache of verified pairs (see credentials.h).
 */
#include "credentials.h"
#include "base64.h"
#include "error.h"
#include "hash.h"
#include "store.h"
#include "xtime.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define CREDENTIAL_ITERATIONS 210000
#define SALT_LEN 16
#define HASH_LEN 32
#define CACHE_SLOTS 256
#define CACHE_TTL_MS (15 * 60 * 1000)

static const char *const scope_names[] = {
	[CREDENTIAL_WRITE] = "write",
	[CREDENTIAL_READ_OWN] = "read-own",
	[CREDENTIAL_READ_ALL] = "read-all",
	[CREDENTIAL_ADMIN] = "admin",
};

int credential_scope_parse(enum credential_scope *out, const char *text)
{
	int i;

	for (i = CREDENTIAL_WRITE; i <= CREDENTIAL_ADMIN; i++) {
		if (text && strcmp(text, scope_names[i]) == 0) {
			*out = (enum credential_scope)i;
			return 0;
		}
	}
	return LR_EINVAL;
}

const char *credential_scope_name(enum credential_scope scope)
{
	return scope >= CREDENTIAL_WRITE && scope <= CREDENTIAL_ADMIN ? scope_names[scope] : "?";
}

int credential_can_write(const struct credential *c)
{
	return c->scope == CREDENTIAL_WRITE || c->scope == CREDENTIAL_ADMIN;
}

int credential_reads_all(const struct credential *c)
{
	return c->scope == CREDENTIAL_READ_ALL || c->scope == CREDENTIAL_ADMIN;
}

static int derive(unsigned char out[HASH_LEN], const char *secret, const unsigned char *salt,
		  int salt_len, int iterations)
{
	return PKCS5_PBKDF2_HMAC(secret, (int)strlen(secret), salt, salt_len, iterations,
				 EVP_sha256(), HASH_LEN, out) == 1 ? 0 : LR_ENOMEM;
}

static int db_fail(struct store *s, struct lr_error *err, const char *what)
{
	return store__db_error(store__db(s), err, what);
}

int credential_add(struct store *s, struct lr_error *err, const char *org,
		   enum credential_scope scope, char out_key[CREDENTIAL_KEY_LEN + 1],
		   char out_secret[CREDENTIAL_SECRET_LEN + 1])
{
	unsigned char raw_key[CREDENTIAL_KEY_LEN / 2], raw_secret[32], salt[SALT_LEN], hash[HASH_LEN];
	char now[XTIME_MAX];
	sqlite3_stmt *q = NULL;
	int64_t org_id;
	int rc;

	out_key[0] = out_secret[0] = '\0';
	if ((rc = store_org_id(s, err, org, &org_id)) != 0)
		goto out;
	if (RAND_bytes(raw_key, sizeof(raw_key)) != 1 || RAND_bytes(raw_secret, sizeof(raw_secret)) != 1 ||
	    RAND_bytes(salt, sizeof(salt)) != 1) {
		rc = lr_error_set(err, LR_EIO, "no random numbers for a new credential");
		goto out;
	}
	hash_hex(out_key, raw_key, sizeof(raw_key));
	base64url_encode(out_secret, raw_secret, sizeof(raw_secret));
	if (derive(hash, out_secret, salt, SALT_LEN, CREDENTIAL_ITERATIONS) != 0) {
		rc = lr_error_set(err, LR_ENOMEM, "hashing the new secret failed");
		goto out;
	}
	if (sqlite3_prepare_v2(store__db(s),
			       "INSERT INTO credential(key, org_id, scope, salt, hash, iterations, created_at)"
			       " VALUES(?,?,?,?,?,?,?)", -1, &q, NULL) != SQLITE_OK) {
		rc = db_fail(s, err, "adding a credential");
		goto out;
	}
	xtime_format(now, xtime_now_ms() / 1000 * 1000);
	sqlite3_bind_text(q, 1, out_key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, org_id);
	sqlite3_bind_text(q, 3, credential_scope_name(scope), -1, SQLITE_STATIC);
	sqlite3_bind_blob(q, 4, salt, SALT_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(q, 5, hash, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int(q, 6, CREDENTIAL_ITERATIONS);
	sqlite3_bind_text(q, 7, now, -1, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_DONE)
		rc = db_fail(s, err, "adding a credential");
out:
	sqlite3_finalize(q);
	OPENSSL_cleanse(raw_secret, sizeof(raw_secret));
	if (rc != 0) {
		out_key[0] = '\0';
		OPENSSL_cleanse(out_secret, CREDENTIAL_SECRET_LEN + 1);
	}
	return rc;
}

/* ---- the cache of verified pairs ---- */

struct cache_slot {
	unsigned char mac[HASH_LEN]; /* HMAC(cache_key, key "\n" secret) */
	struct credential cred;
	int64_t expires_ms;
	int used;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static unsigned char cache_key[32];
static int cache_ready;
static struct cache_slot cache[CACHE_SLOTS];

static void cache_init(void)
{
	cache_ready = RAND_bytes(cache_key, sizeof(cache_key)) == 1;
}

static int pair_mac(unsigned char out[HASH_LEN], const char *key, const char *secret)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "%s\n%s", key, secret);
	int rc;

	if (n < 0 || (size_t)n >= sizeof(buf))
		return LR_ELIMIT;
	rc = hash_hmac_sha256(out, cache_key, sizeof(cache_key), buf, (size_t)n);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

static unsigned slot_of(const char *key)
{
	unsigned h = 2166136261u;

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return h % CACHE_SLOTS;
}

void credential_cache_clear(void)
{
	pthread_mutex_lock(&cache_lock);
	memset(cache, 0, sizeof(cache));
	pthread_mutex_unlock(&cache_lock);
}

int credential_verify(struct store *s, struct lr_error *err, const char *key, const char *secret,
		      struct credential *out)
{
	static const unsigned char dummy_salt[SALT_LEN] = { 0 };
	unsigned char mac[HASH_LEN], got[HASH_LEN], want[HASH_LEN];
	unsigned char salt[SALT_LEN];
	sqlite3_stmt *q = NULL;
	struct credential c;
	int found = 0, iterations = CREDENTIAL_ITERATIONS, have_mac, rc = 0, step;
	unsigned slot;
	int64_t now = xtime_now_ms();

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	memset(want, 0, sizeof(want));
	pthread_once(&cache_once, cache_init);
	have_mac = cache_ready && pair_mac(mac, key, secret) == 0;
	slot = slot_of(key);
	if (have_mac) {
		pthread_mutex_lock(&cache_lock);
		if (cache[slot].used && cache[slot].expires_ms > now &&
		    CRYPTO_memcmp(cache[slot].mac, mac, HASH_LEN) == 0) {
			*out = cache[slot].cred;
			found = 1;
		}
		pthread_mutex_unlock(&cache_lock);
		if (found)
			return 0;
	}

	if (sqlite3_prepare_v2(store__db(s),
			       "SELECT c.org_id, o.code, c.scope, c.salt, c.hash, c.iterations"
			       " FROM credential c JOIN org o ON o.id = c.org_id"
			       " WHERE c.key = ? AND c.revoked_at IS NULL", -1, &q, NULL) != SQLITE_OK) {
		rc = db_fail(s, err, "looking up a credential");
		goto out;
	}
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	step = sqlite3_step(q);
	if (step == SQLITE_ROW && sqlite3_column_bytes(q, 3) == SALT_LEN &&
	    sqlite3_column_bytes(q, 4) == HASH_LEN && strlen(key) <= CREDENTIAL_KEY_LEN) {
		const char *org = (const char *)sqlite3_column_text(q, 1);
		found = 1;
		c.org_id = sqlite3_column_int64(q, 0);
		snprintf(c.org, sizeof(c.org), "%s", org ? org : "");
		snprintf(c.key, sizeof(c.key), "%s", key);
		if (credential_scope_parse(&c.scope, (const char *)sqlite3_column_text(q, 2)) != 0)
			found = 0;
		memcpy(salt, sqlite3_column_blob(q, 3), SALT_LEN);
		memcpy(want, sqlite3_column_blob(q, 4), HASH_LEN);
		iterations = sqlite3_column_int(q, 5);
		if (iterations < 1)
			found = 0;
	} else if (step != SQLITE_ROW && step != SQLITE_DONE) {
		rc = db_fail(s, err, "looking up a credential");
		goto out;
	}
	/* The same work whether or not the key exists. */
	if (derive(got, secret, found ? salt : dummy_salt, SALT_LEN,
		   found ? iterations : CREDENTIAL_ITERATIONS) != 0) {
		rc = lr_error_set(err, LR_ENOMEM, "hashing a secret failed");
		goto out;
	}
	if (!found || CRYPTO_memcmp(got, want, HASH_LEN) != 0) {
		rc = lr_error_set(err, LR_ENOTFOUND, "unknown key or wrong secret");
		goto out;
	}
	*out = c;
	if (have_mac) {
		pthread_mutex_lock(&cache_lock);
		memcpy(cache[slot].mac, mac, HASH_LEN);
		cache[slot].cred = c;
		cache[slot].expires_ms = now + CACHE_TTL_MS;
		cache[slot].used = 1;
		pthread_mutex_unlock(&cache_lock);
	}
out:
	sqlite3_finalize(q);
	OPENSSL_cleanse(got, sizeof(got));
	OPENSSL_cleanse(want, sizeof(want));
	return rc;
}
