/*
 * test_credentials.c: API credentials (lrs/credentials.c): made with a key
 * and secret, stored only as a salted hash, verified (and cached), refused
 * when wrong or unknown; scopes; the constant-time comparison; failed
 * logins slowed down per address and per key, in a bounded table.
 */
#include "lrs/credentials.h"
#include "lrs/error.h"
#include "lrs/hash.h"
#include "lrs/store.h"
#include "tests/test.h"

#include <sqlite3.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char path[128];
static struct store *store;

static void setup(void)
{
	struct lr_error err;
	struct store_org org = { .code = "trust-a" };

	lr_error_clear(&err);
	snprintf(path, sizeof(path), "/tmp/lrhub-test-credentials-%ld.db", (long)getpid());
	unlink(path);
	CHECK_INT(store_open(&store, &err, path, STORE_CREATE), 0);
	CHECK_INT(store_org_add(store, &err, &org), 0);
}

static void test_scopes(void)
{
	enum credential_scope s;
	struct credential c = { .scope = CREDENTIAL_READ_OWN };

	CHECK_INT(credential_scope_parse(&s, "write"), 0);
	CHECK_INT(s, CREDENTIAL_WRITE);
	CHECK_INT(credential_scope_parse(&s, "read-all"), 0);
	CHECK_INT(s, CREDENTIAL_READ_ALL);
	CHECK_INT(credential_scope_parse(&s, "root"), LR_EINVAL);
	CHECK_INT(credential_scope_parse(&s, NULL), LR_EINVAL);
	CHECK_STR(credential_scope_name(CREDENTIAL_ADMIN), "admin");
	CHECK(!credential_can_write(&c));
	CHECK(!credential_reads_all(&c));
	c.scope = CREDENTIAL_ADMIN;
	CHECK(credential_can_write(&c));
	CHECK(credential_reads_all(&c));
	c.scope = CREDENTIAL_WRITE;
	CHECK(credential_can_write(&c));
	CHECK(!credential_reads_all(&c));
}

static void test_add_and_verify(void)
{
	char key[CREDENTIAL_KEY_LEN + 1], secret[CREDENTIAL_SECRET_LEN + 1];
	char key2[CREDENTIAL_KEY_LEN + 1], secret2[CREDENTIAL_SECRET_LEN + 1];
	struct credential c;
	struct lr_error err;
	sqlite3_stmt *q = NULL;

	lr_error_clear(&err);
	CHECK_INT(credential_add(store, &err, "trust-a", CREDENTIAL_WRITE, key, secret), 0);
	CHECK_INT(strlen(key), CREDENTIAL_KEY_LEN);
	CHECK_INT(strlen(secret), CREDENTIAL_SECRET_LEN);
	CHECK_INT(credential_add(store, &err, "trust-a", CREDENTIAL_READ_ALL, key2, secret2), 0);
	CHECK(strcmp(key, key2) != 0 && strcmp(secret, secret2) != 0);

	/* Only a salted hash is stored. */
	CHECK_INT(sqlite3_prepare_v2(store__db(store), "SELECT count(*) FROM credential WHERE"
				     " instr(hash, ?) > 0 OR instr(salt, ?) > 0 OR length(hash) != 32",
				     -1, &q, NULL), SQLITE_OK);
	sqlite3_bind_text(q, 1, secret, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, secret, -1, SQLITE_STATIC);
	CHECK_INT(sqlite3_step(q), SQLITE_ROW);
	CHECK_INT(sqlite3_column_int(q, 0), 0);
	sqlite3_finalize(q);

	lr_error_clear(&err);
	CHECK_INT(credential_verify(store, &err, key, secret, &c), 0);
	CHECK_STR(c.org, "trust-a");
	CHECK_STR(c.key, key);
	CHECK_INT(c.scope, CREDENTIAL_WRITE);
	CHECK(c.org_id > 0);
	/* Again: from the cache, the same answer. */
	CHECK_INT(credential_verify(store, &err, key, secret, &c), 0);
	CHECK_STR(c.org, "trust-a");
	CHECK_INT(credential_verify(store, &err, key2, secret2, &c), 0);
	CHECK_INT(c.scope, CREDENTIAL_READ_ALL);

	lr_error_clear(&err);
	CHECK_INT(credential_verify(store, &err, key, secret2, &c), LR_ENOTFOUND);
	CHECK_STR(c.org, "");
	lr_error_clear(&err);
	CHECK_INT(credential_verify(store, &err, "0000000000000000", secret, &c), LR_ENOTFOUND);
	lr_error_clear(&err);
	CHECK_INT(credential_verify(store, &err, key, "", &c), LR_ENOTFOUND);

	/* A cached pair does not survive the cache being cleared, and still verifies. */
	credential_cache_clear();
	lr_error_clear(&err);
	CHECK_INT(credential_verify(store, &err, key, secret, &c), 0);

	lr_error_clear(&err);
	CHECK_INT(credential_add(store, &err, "nowhere", CREDENTIAL_WRITE, key, secret), LR_ENOTFOUND);
	CHECK_STR(key, "");
	CHECK_STR(secret, "");
}

static void test_equal(void)
{
	unsigned char a[32], b[32];
	size_t i;

	for (i = 0; i < sizeof(a); i++)
		a[i] = b[i] = (unsigned char)(i * 7 + 1);
	CHECK(hash_equal(a, b, sizeof(a)));
	CHECK(hash_equal(a, b, 0));
	/* A difference anywhere, in any bit, is seen. */
	for (i = 0; i < sizeof(a); i++) {
		int bit;
		for (bit = 0; bit < 8; bit++) {
			b[i] ^= (unsigned char)(1u << bit);
			CHECK(!hash_equal(a, b, sizeof(a)));
			CHECK(!hash_equal(b, a, sizeof(a)));
			b[i] ^= (unsigned char)(1u << bit);
		}
	}
	CHECK(hash_equal(a, b, sizeof(a)));
	/* Only len bytes are compared. */
	b[31] ^= 1;
	CHECK(hash_equal(a, b, 31));
}

static void test_throttle(void)
{
	const int64_t t0 = 1700000000000LL;
	char name[32];
	int i;

	credential_throttle_clear();
	/* Four failures cost nothing; the fifth locks the address and the key for 2 s. */
	for (i = 0; i < CREDENTIAL_THROTTLE_FREE - 1; i++) {
		CHECK_INT(credential_throttle_wait("10.0.0.1", "k1", t0 + i), 0);
		credential_throttle_failed("10.0.0.1", "k1", t0 + i);
	}
	CHECK_INT(credential_throttle_wait("10.0.0.1", "k1", t0 + 10), 0);
	credential_throttle_failed("10.0.0.1", "k1", t0 + 10);
	CHECK_INT(credential_throttle_wait("10.0.0.1", "k1", t0 + 11), 2);
	CHECK_INT(credential_throttle_wait("10.0.0.1", NULL, t0 + 11), 2);   /* the address ... */
	CHECK_INT(credential_throttle_wait("10.0.0.9", "k1", t0 + 11), 2);   /* ... and the key */
	CHECK_INT(credential_throttle_wait("10.0.0.9", "k2", t0 + 11), 0);   /* others are not */
	CHECK_INT(credential_throttle_wait(NULL, NULL, t0 + 11), 0);
	CHECK_INT(credential_throttle_wait("10.0.0.1", "k1", t0 + 10 + 2000), 0);
	/* Each further failure doubles the wait, up to the most. */
	credential_throttle_failed("10.0.0.1", "k1", t0 + 3000);
	CHECK_INT(credential_throttle_wait("10.0.0.1", "k1", t0 + 3000), 4);
	credential_throttle_failed("10.0.0.1", "k1", t0 + 8000);
	CHECK_INT(credential_throttle_wait("10.0.0.1", NULL, t0 + 8000), 8);
	for (i = 0; i < 20; i++)
		credential_throttle_failed("10.0.0.1", NULL, t0 + 20000 + i);
	CHECK_INT(credential_throttle_wait("10.0.0.1", NULL, t0 + 20019), CREDENTIAL_THROTTLE_MAX_S);
	/* A login with the key forgets the key's failures, not the address's. */
	credential_throttle_succeeded("k1");
	CHECK_INT(credential_throttle_wait(NULL, "k1", t0 + 20019), 0);
	CHECK_INT(credential_throttle_wait("10.0.0.1", NULL, t0 + 20019), CREDENTIAL_THROTTLE_MAX_S);
	/* Failures are forgotten a while after the last one. */
	CHECK_INT(credential_throttle_wait("10.0.0.1", NULL,
					   t0 + 20019 + CREDENTIAL_THROTTLE_FORGET_S * 1000LL + 1), 0);
	credential_throttle_failed("10.0.0.1", NULL, t0 + 20019 + CREDENTIAL_THROTTLE_FORGET_S * 1000LL + 2);
	CHECK_INT(credential_throttle_wait("10.0.0.1", NULL,
					   t0 + 20019 + CREDENTIAL_THROTTLE_FORGET_S * 1000LL + 3), 0);

	/* The table is bounded: a flood of addresses reuses the stalest entries,
	 * and one locked lately is still locked. */
	credential_throttle_clear();
	for (i = 0; i < CREDENTIAL_THROTTLE_FREE; i++)
		credential_throttle_failed("192.0.2.1", NULL, t0 + 100000);
	for (i = 0; i < 20 * CREDENTIAL_THROTTLE_SLOTS; i++) {
		snprintf(name, sizeof(name), "198.51.%d.%d", i / 256, i % 256);
		credential_throttle_failed(name, NULL, t0 + i);
	}
	CHECK_INT(credential_throttle_wait("192.0.2.1", NULL, t0 + 100001), 2);
	credential_throttle_clear();
	CHECK_INT(credential_throttle_wait("192.0.2.1", NULL, t0 + 100001), 0);
}

static void test_verify_cached(void)
{
	char key[CREDENTIAL_KEY_LEN + 1], secret[CREDENTIAL_SECRET_LEN + 1];
	struct lr_error err;
	struct credential c;

	lr_error_clear(&err);
	credential_cache_clear();
	CHECK_INT(credential_add(store, &err, "trust-a", CREDENTIAL_READ_OWN, key, secret), 0);
	CHECK_INT(credential_verify_cached(key, secret, &c), LR_ENOTFOUND);
	CHECK_INT(credential_verify(store, &err, key, secret, &c), 0);
	CHECK_INT(credential_verify_cached(key, secret, &c), 0);
	CHECK_STR(c.org, "trust-a");
	CHECK_INT(c.scope, CREDENTIAL_READ_OWN);
	secret[0] = secret[0] == 'A' ? 'B' : 'A';
	CHECK_INT(credential_verify_cached(key, secret, &c), LR_ENOTFOUND);
	CHECK_STR(c.org, "");
}

/* Revoking forgets that key's remembered pair, and only that one. */
static void test_revoke(void)
{
	char key[CREDENTIAL_KEY_LEN + 1], secret[CREDENTIAL_SECRET_LEN + 1];
	char other[CREDENTIAL_KEY_LEN + 1], other_secret[CREDENTIAL_SECRET_LEN + 1];
	struct lr_error err;
	struct credential c;

	lr_error_clear(&err);
	credential_cache_clear();
	CHECK_INT(credential_add(store, &err, "trust-a", CREDENTIAL_WRITE, key, secret), 0);
	CHECK_INT(credential_add(store, &err, "trust-a", CREDENTIAL_WRITE, other, other_secret), 0);
	CHECK_INT(credential_verify(store, &err, key, secret, &c), 0);
	CHECK_INT(credential_verify(store, &err, other, other_secret, &c), 0);
	CHECK_INT(credential_in_use(store, &err, key), 1);
	CHECK_INT(credential_revoke(store, &err, key), 0);
	CHECK_INT(credential_in_use(store, &err, key), 0);
	CHECK_INT(credential_verify_cached(key, secret, &c), LR_ENOTFOUND);
	CHECK_INT(credential_verify(store, &err, key, secret, &c), LR_ENOTFOUND);
	CHECK_INT(credential_verify_cached(other, other_secret, &c), 0);
	CHECK_INT(credential_in_use(store, &err, other), 1);
	CHECK_INT(credential_revoke(store, &err, key), LR_EEXISTS);
	CHECK_INT(credential_revoke(store, &err, "0000000000000000"), LR_ENOTFOUND);
	CHECK_INT(credential_in_use(store, &err, "0000000000000000"), 0);
}

int main(void)
{
	setup();
	RUN(test_scopes);
	RUN(test_add_and_verify);
	RUN(test_equal);
	RUN(test_throttle);
	RUN(test_verify_cached);
	RUN(test_revoke);
	store_close(store);
	unlink(path);
	{
		char more[160];
		snprintf(more, sizeof(more), "%s-wal", path);
		unlink(more);
		snprintf(more, sizeof(more), "%s-shm", path);
		unlink(more);
	}
	TEST_END();
}
