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

int credential_each(struct store *s, struct lr_error *err,
		    int (*fn)(void *ctx, const struct credential_info *c), void *ctx)
{
	sqlite3_stmt *q = NULL;
	int rc = 0, step;

	if (sqlite3_prepare_v2(store__db(s),
			       "SELECT c.key, o.code, c.scope, c.created_at, c.revoked_at"
			       " FROM credential c JOIN org o ON o.id = c.org_id"
			       " ORDER BY o.code, c.created_at, c.key", -1, &q, NULL) != SQLITE_OK)
		return db_fail(s, err, "listing credentials");
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct credential_info c = {
			.key = (const char *)sqlite3_column_text(q, 0),
			.org = (const char *)sqlite3_column_text(q, 1),
			.scope = (const char *)sqlite3_column_text(q, 2),
			.created_at = (const char *)sqlite3_column_text(q, 3),
			.revoked_at = (const char *)sqlite3_column_text(q, 4),
		};
		if ((rc = fn(ctx, &c)) != 0)
			break;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(s, err, "listing credentials");
	sqlite3_finalize(q);
	return rc;
}

int credential_revoke(struct store *s, struct lr_error *err, const char *key)
{
	sqlite3_stmt *q = NULL;
	char now[XTIME_MAX];
	int rc = 0;

	if (sqlite3_prepare_v2(store__db(s),
			       "UPDATE credential SET revoked_at = ?2 WHERE key = ?1 AND revoked_at IS NULL",
			       -1, &q, NULL) != SQLITE_OK)
		return db_fail(s, err, "revoking a credential");
	xtime_format(now, xtime_now_ms() / 1000 * 1000);
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, now, -1, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_DONE) {
		rc = db_fail(s, err, "revoking a credential");
	} else if (sqlite3_changes(store__db(s)) == 0) {
		/* Nothing changed: unknown, or revoked before. */
		sqlite3_finalize(q);
		q = NULL;
		if (sqlite3_prepare_v2(store__db(s), "SELECT 1 FROM credential WHERE key = ?", -1, &q,
				       NULL) != SQLITE_OK)
			return db_fail(s, err, "revoking a credential");
		sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
		rc = sqlite3_step(q) == SQLITE_ROW
			     ? lr_error_set(err, LR_EEXISTS, "credential %s is revoked already", key)
			     : lr_error_set(err, LR_ENOTFOUND, "no credential has the key %s", key);
	}
	sqlite3_finalize(q);
	if (rc == 0)
		credential_cache_forget(key);
	return rc;
}

int credential_in_use(struct store *s, struct lr_error *err, const char *key)
{
	/* Every request of a remembered pair runs this: prepared once per connection. */
	static const char sql[] = "SELECT 1 FROM credential WHERE key = ? AND revoked_at IS NULL";
	sqlite3_stmt *q = store__prepared(s, err, sql);
	int rc, step;

	if (!q)
		return err->code;
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	step = sqlite3_step(q);
	rc = step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : db_fail(s, err, "checking a credential");
	sqlite3_reset(q);
	return rc;
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

void credential_cache_forget(const char *key)
{
	unsigned slot = slot_of(key);

	pthread_mutex_lock(&cache_lock);
	if (cache[slot].used && strcmp(cache[slot].cred.key, key) == 0)
		memset(&cache[slot], 0, sizeof(cache[slot]));
	pthread_mutex_unlock(&cache_lock);
}

int credential_verify_cached(const char *key, const char *secret, struct credential *out)
{
	unsigned char mac[HASH_LEN];
	unsigned slot = slot_of(key);
	int found = 0;

	memset(out, 0, sizeof(*out));
	pthread_once(&cache_once, cache_init);
	if (!cache_ready || pair_mac(mac, key, secret) != 0)
		return LR_ENOTFOUND;
	pthread_mutex_lock(&cache_lock);
	if (cache[slot].used && cache[slot].expires_ms > xtime_now_ms() &&
	    hash_equal(cache[slot].mac, mac, HASH_LEN)) {
		*out = cache[slot].cred;
		found = 1;
	}
	pthread_mutex_unlock(&cache_lock);
	OPENSSL_cleanse(mac, sizeof(mac));
	return found ? 0 : LR_ENOTFOUND;
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
		    hash_equal(cache[slot].mac, mac, HASH_LEN)) {
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
	if (!found || !hash_equal(got, want, HASH_LEN)) {
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

/* ---- failed logins ---- */

#define THROTTLE_PROBE 16
#define THROTTLE_FIRST_DELAY_MS 2000

struct throttle_entry {
	char subject[72];            /* "a " + address or "k " + key, cut to fit; "" if free */
	unsigned failures;
	int64_t last_failure_ms;
	int64_t blocked_until_ms;
};

static pthread_mutex_t throttle_lock = PTHREAD_MUTEX_INITIALIZER;
static struct throttle_entry throttle[CREDENTIAL_THROTTLE_SLOTS];

static int throttle_stale(const struct throttle_entry *e, int64_t now_ms)
{
	return !e->subject[0] ||
	       (now_ms - e->last_failure_ms > (int64_t)CREDENTIAL_THROTTLE_FORGET_S * 1000 &&
		now_ms >= e->blocked_until_ms);
}

/* The entry of kind ('a' or 'k') and name, made if create (reusing the stalest nearby), or NULL. */
static struct throttle_entry *throttle_find(char kind, const char *name, int create, int64_t now_ms)
{
	char subject[sizeof(throttle[0].subject)];
	struct throttle_entry *reuse = NULL;
	unsigned h, i;

	snprintf(subject, sizeof(subject), "%c %s", kind, name);
	h = slot_of(subject);
	for (i = 0; i < THROTTLE_PROBE; i++) {
		struct throttle_entry *e = &throttle[(h + i) % CREDENTIAL_THROTTLE_SLOTS];
		if (e->subject[0] && strcmp(e->subject, subject) == 0) {
			if (throttle_stale(e, now_ms))
				e->failures = 0;
			return e;
		}
		if (!reuse || (!throttle_stale(reuse, now_ms) &&
			       (throttle_stale(e, now_ms) || e->last_failure_ms < reuse->last_failure_ms)))
			reuse = e;
	}
	if (!create)
		return NULL;
	memset(reuse, 0, sizeof(*reuse));
	snprintf(reuse->subject, sizeof(reuse->subject), "%s", subject);
	return reuse;
}

static unsigned throttle_wait_of(char kind, const char *name, int64_t now_ms)
{
	struct throttle_entry *e;

	if (!name)
		return 0;
	e = throttle_find(kind, name, 0, now_ms);
	if (!e || e->blocked_until_ms <= now_ms)
		return 0;
	return (unsigned)((e->blocked_until_ms - now_ms + 999) / 1000);
}

unsigned credential_throttle_wait(const char *client, const char *key, int64_t now_ms)
{
	unsigned a, k;

	pthread_mutex_lock(&throttle_lock);
	a = throttle_wait_of('a', client, now_ms);
	k = throttle_wait_of('k', key, now_ms);
	pthread_mutex_unlock(&throttle_lock);
	return a > k ? a : k;
}

static void throttle_count(char kind, const char *name, int64_t now_ms)
{
	struct throttle_entry *e;

	if (!name)
		return;
	e = throttle_find(kind, name, 1, now_ms);
	if (e->failures < 64)
		e->failures++;
	e->last_failure_ms = now_ms;
	if (e->failures >= CREDENTIAL_THROTTLE_FREE) {
		unsigned shift = e->failures - CREDENTIAL_THROTTLE_FREE;
		int64_t delay = shift >= 10 ? (int64_t)CREDENTIAL_THROTTLE_MAX_S * 1000
					    : (int64_t)THROTTLE_FIRST_DELAY_MS << shift;
		if (delay > (int64_t)CREDENTIAL_THROTTLE_MAX_S * 1000)
			delay = (int64_t)CREDENTIAL_THROTTLE_MAX_S * 1000;
		e->blocked_until_ms = now_ms + delay;
	}
}

void credential_throttle_failed(const char *client, const char *key, int64_t now_ms)
{
	pthread_mutex_lock(&throttle_lock);
	throttle_count('a', client, now_ms);
	throttle_count('k', key, now_ms);
	pthread_mutex_unlock(&throttle_lock);
}

void credential_throttle_succeeded(const char *key)
{
	struct throttle_entry *e;

	if (!key)
		return;
	pthread_mutex_lock(&throttle_lock);
	if ((e = throttle_find('k', key, 0, 0)) != NULL)
		memset(e, 0, sizeof(*e));
	pthread_mutex_unlock(&throttle_lock);
}

void credential_throttle_clear(void)
{
	pthread_mutex_lock(&throttle_lock);
	memset(throttle, 0, sizeof(throttle));
	pthread_mutex_unlock(&throttle_lock);
}
