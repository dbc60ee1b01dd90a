/*
 * test_credentials.c: API credentials (lrs/credentials.c): made with a key
 * and secret, stored only as a salted hash, verified (and cached), refused
 * when wrong or unknown; scopes.
 */
#include "lrs/credentials.h"
#include "lrs/error.h"
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

int main(void)
{
	setup();
	RUN(test_scopes);
	RUN(test_add_and_verify);
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
