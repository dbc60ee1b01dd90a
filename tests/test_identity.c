/*
 * Unit tests: IFI normalisation, union-find, the string map, UUIDs, and
 * identity resolution over a real store.
 */
#include "lrs/base64.h"
#include "lrs/error.h"
#include "lrs/identity.h"
#include "lrs/ifi.h"
#include "lrs/store.h"
#include "lrs/strmap.h"
#include "lrs/unionfind.h"
#include "lrs/uuid.h"
#include "tests/test.h"

#include <jansson.h>
#include <sqlite3.h>

#include <stdlib.h>
#include <unistd.h>

static void test_email_normalize(void)
{
	char out[IFI_MAX];

	CHECK_INT(ifi_email_normalize(out, sizeof(out), "  Alice.Smith@NHS.net \t"), 0);
	CHECK_STR(out, "alice.smith@nhs.net");
	CHECK_INT(ifi_email_normalize(out, sizeof(out), "MAILTO:Bob@Example.ORG"), 0);
	CHECK_STR(out, "bob@example.org");
	CHECK_INT(ifi_email_normalize(out, sizeof(out), "mailto:"), LR_EINVAL);
	CHECK_INT(ifi_email_normalize(out, sizeof(out), "no-at-sign"), LR_EINVAL);
	CHECK_INT(ifi_email_normalize(out, sizeof(out), "@example.org"), LR_EINVAL);
	CHECK_INT(ifi_email_normalize(out, sizeof(out), "a@"), LR_EINVAL);
	CHECK_INT(ifi_email_normalize(out, sizeof(out), "a b@example.org"), LR_EINVAL);
	CHECK_INT(ifi_email_normalize(out, 5, "alice@example.org"), LR_ELIMIT);
}

static void test_email_sha1(void)
{
	char hex[41];

	/* printf 'mailto:alice@example.org' | sha1sum */
	ifi_email_sha1(hex, "alice@example.org");
	CHECK_STR(hex, "0e2c7c1362c996630c1cc1ad912cfa202d78e1bc");
}

static void key_of(const char *json, int want_rc, const char *want_key)
{
	char key[IFI_MAX];
	json_t *agent = json_loads(json, 0, NULL);
	int rc;

	CHECK(agent != NULL);
	rc = ifi_key(key, sizeof(key), agent);
	CHECK_INT(rc, want_rc);
	if (rc == 0 && want_key)
		CHECK_STR(key, want_key);
	json_decref(agent);
}

static void test_ifi_key(void)
{
	key_of("{\"mbox\": \"mailto:Alice@Example.org\"}", 0, "mbox:alice@example.org");
	key_of("{\"mbox_sha1sum\": \"0E2C7C1362C996630C1CC1AD912CFA202D78E1BC\"}", 0,
	       "sha1:0e2c7c1362c996630c1cc1ad912cfa202d78e1bc");
	key_of("{\"openid\": \"http://toby.openid.example.org/\"}", 0,
	       "openid:http://toby.openid.example.org/");
	key_of("{\"account\": {\"homePage\": \"https://lms.example\", \"name\": \"42\"}}", 0,
	       "account:https://lms.example|42");
	key_of("{\"name\": \"nobody\"}", LR_ENOTFOUND, NULL);
	key_of("{\"mbox\": \"alice@example.org\"}", LR_EINVAL, NULL);
	key_of("{\"mbox_sha1sum\": \"abc\"}", LR_EINVAL, NULL);
	key_of("{\"account\": {\"name\": \"42\"}}", LR_EINVAL, NULL);
	CHECK_STR(ifi_key_email("mbox:a@b.c"), "a@b.c");
	CHECK(ifi_key_email("sha1:abc") == NULL);
}

static void test_unionfind(void)
{
	struct unionfind *uf = unionfind_new();
	long i, n[6];

	CHECK(uf != NULL);
	for (i = 0; i < 6; i++)
		n[i] = unionfind_add(uf);
	CHECK_INT(n[5], 5);
	unionfind_union(uf, n[0], n[1]);
	unionfind_union(uf, n[2], n[3]);
	CHECK(unionfind_find(uf, n[0]) == unionfind_find(uf, n[1]));
	CHECK(unionfind_find(uf, n[0]) != unionfind_find(uf, n[2]));
	/* Transitive: 1-3 joins {0,1} and {2,3}. */
	unionfind_union(uf, n[1], n[3]);
	CHECK(unionfind_find(uf, n[0]) == unionfind_find(uf, n[2]));
	CHECK(unionfind_find(uf, n[4]) != unionfind_find(uf, n[0]));
	CHECK(unionfind_find(uf, n[5]) == n[5]);
	/* Many nodes in a chain stay cheap and correct. */
	for (i = 0; i < 100000; i++)
		unionfind_add(uf);
	for (i = 6; i < 100005; i++)
		unionfind_union(uf, i, i + 1);
	CHECK(unionfind_find(uf, 6) == unionfind_find(uf, 100005));
	CHECK_INT(unionfind_count(uf), 100006);
	unionfind_free(uf);
}

static void test_strmap(void)
{
	struct strmap *m = strmap_new();
	int64_t v;
	char key[32];
	int i, ok = 1;

	CHECK(m != NULL);
	v = 7;
	CHECK_INT(strmap_get(m, "alpha", 5, &v, 1), 0);
	v = 9;
	CHECK_INT(strmap_get(m, "alpha", 5, &v, 1), 1);
	CHECK_INT(v, 7);
	CHECK_INT(strmap_get(m, "beta", 4, &v, 0), 0);
	CHECK_INT(strmap_set(m, "alpha", 5, 11), 0);
	CHECK_INT(strmap_get(m, "alpha", 5, &v, 0), 1);
	CHECK_INT(v, 11);
	CHECK_INT(strmap_set(m, "gamma", 5, 1), LR_ENOTFOUND);
	for (i = 0; i < 50000; i++) {
		int n = snprintf(key, sizeof(key), "key-%d", i);
		v = i;
		strmap_get(m, key, (size_t)n, &v, 1);
	}
	for (i = 0; i < 50000; i++) {
		int n = snprintf(key, sizeof(key), "key-%d", i);
		if (strmap_get(m, key, (size_t)n, &v, 0) != 1 || v != i)
			ok = 0;
	}
	CHECK(ok);
	CHECK_INT(strmap_count(m), 50001);
	strmap_free(m);
}

static void test_uuid(void)
{
	char out[UUID_STR_LEN + 1];

	CHECK(uuid_is_valid("6690e6c9-3ef0-4ed3-8b37-7f3964730bee"));
	CHECK(uuid_is_valid("6690E6C9-3EF0-4ED3-8B37-7F3964730BEE"));
	CHECK(!uuid_is_valid("6690e6c9-3ef0-4ed3-8b37-7f3964730be"));
	CHECK(!uuid_is_valid("6690e6c9x3ef0-4ed3-8b37-7f3964730bee"));
	CHECK(!uuid_is_valid(NULL));
	uuid_normalize(out, "6690E6C9-3EF0-4ED3-8B37-7F3964730BEE");
	CHECK_STR(out, "6690e6c9-3ef0-4ed3-8b37-7f3964730bee");
	/* RFC 4122 / Python: uuid.uuid5(uuid.NAMESPACE_DNS, "python.org") */
	CHECK_INT(uuid_v5(out, "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "python.org", 10), 0);
	CHECK_STR(out, "886313e1-3b8a-5372-9b90-0c9aee199e5d");
}

static void test_base64(void)
{
	char text[64];
	unsigned char out[64];

	base64url_encode(text, (const unsigned char *)"\xfb\xff\xfe", 3);
	CHECK_STR(text, "-__-");
	base64url_encode(text, (const unsigned char *)"ab", 2);
	CHECK_STR(text, "YWI");
	/* Both alphabets, with or without padding. */
	CHECK_INT(base64_decode(out, sizeof(out), "YWI=", 4), 2);
	CHECK_STR((char *)out, "ab");
	CHECK_INT(base64_decode(out, sizeof(out), "dXNlcjpwYXNz", 12), 9);
	CHECK_STR((char *)out, "user:pass");
	CHECK_INT(base64_decode(out, sizeof(out), "-__-", 4), 3);
	CHECK(memcmp(out, "\xfb\xff\xfe", 3) == 0);
	CHECK_INT(base64_decode(out, sizeof(out), "+//+", 4), 3);
	CHECK(memcmp(out, "\xfb\xff\xfe", 3) == 0);
	CHECK_INT(base64_decode(out, sizeof(out), "ab$c", 4), -1);
	CHECK_INT(base64_decode(out, 3, "dXNlcjpwYXNz", 12), -1); /* no room */
}

/* ---- identity resolution over a store ---- */

static struct store *store;
static char path[64];

static void put(const char *org_code, int64_t org_id, const char *json)
{
	struct store_source src = { .org_id = org_id, .org_code = org_code };
	struct lr_error err;
	enum store_outcome outcome;
	json_t *st = json_loads(json, 0, NULL);
	int rc;

	lr_error_clear(&err);
	CHECK(st != NULL);
	rc = store_put_statement(store, &err, st, &src, &outcome);
	CHECK_MSG(rc == 0, "%s", err.text);
	json_decref(st);
}

#define STMT(actor) "{\"actor\": " actor ", \"verb\": {\"id\": \"http://adlnet.gov/expapi/verbs/completed\"}," \
	" \"object\": {\"id\": \"http://example.org/course\"}}"

static long agent_id_of(const char *ifi)
{
	sqlite3_stmt *q;
	long id = -1;

	sqlite3_prepare_v2(store__db(store), "SELECT id FROM agent WHERE ifi = ?", -1, &q, NULL);
	sqlite3_bind_text(q, 1, ifi, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW)
		id = (long)sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return id;
}

static long person_of_ifi(struct identity *id, const char *ifi)
{
	return identity_person_of(id, agent_id_of(ifi));
}

static void test_identity_resolve(void)
{
	char pid[IDENTITY_PERSON_ID_LEN + 1];
	struct store_org a = { 0, "org-a", NULL, NULL, NULL }, b = { 0, "org-b", NULL, NULL, NULL };
	struct identity *id = NULL;
	struct lr_error err;
	int64_t ida, idb;
	int added;
	long alice, bob;

	lr_error_clear(&err);
	snprintf(path, sizeof(path), "/tmp/lrhub-test-identity-%ld.db", (long)getpid());
	unlink(path);
	CHECK_INT(store_open(&store, &err, path, STORE_CREATE), 0);
	CHECK_INT(store_org_add(store, &err, &a), 0);
	CHECK_INT(store_org_add(store, &err, &b), 0);
	store_org_id(store, &err, "org-a", &ida);
	store_org_id(store, &err, "org-b", &idb);

	put("org-a", ida, STMT("{\"mbox\": \"mailto:Alice@Example.org\", \"name\": \"Alice\"}"));
	/* sha1 of mailto:alice@example.org */
	put("org-b", idb, STMT("{\"mbox_sha1sum\": \"0e2c7c1362c996630c1cc1ad912cfa202d78e1bc\"}"));
	put("org-b", idb, STMT("{\"account\": {\"homePage\": \"https://lms.b\", \"name\": \"77\"}, \"name\": \"Bob B\"}"));
	put("org-a", ida, STMT("{\"mbox\": \"mailto:bob@example.org\", \"name\": \"Bob\"}"));
	/* The same account name in another org is someone else. */
	put("org-a", ida, STMT("{\"account\": {\"homePage\": \"https://lms.a\", \"name\": \"77\"}}"));

	CHECK_INT(identity_resolve(&id, &err, store), 0);
	alice = person_of_ifi(id, "mbox:alice@example.org");
	CHECK(alice >= 0);
	CHECK_INT(person_of_ifi(id, "sha1:0e2c7c1362c996630c1cc1ad912cfa202d78e1bc"), alice);
	CHECK_STR(identity_person_email(id, alice), "alice@example.org");
	CHECK_STR(identity_person_name(id, alice), "Alice");
	bob = person_of_ifi(id, "mbox:bob@example.org");
	CHECK(bob != alice);
	CHECK(person_of_ifi(id, "account:https://lms.b|77") != bob);
	CHECK_INT(identity_person_count(id), 4);
	identity_free(id);
	id = NULL;

	/* A link added later re-groups what is stored: org-b's account 77 is Bob. */
	CHECK_INT(store_identity_link(store, &err, idb, "77", " BOB@example.org", "test", &added), 0);
	CHECK_INT(added, 1);
	CHECK_INT(store_identity_link(store, &err, idb, "77", "bob@example.org", "test", &added), 0);
	CHECK_INT(added, 0);
	CHECK_INT(store_identity_link(store, &err, idb, "78", "not an email", "test", &added), LR_EINVAL);
	CHECK_INT(identity_resolve(&id, &err, store), 0);
	bob = person_of_ifi(id, "mbox:bob@example.org");
	CHECK_INT(person_of_ifi(id, "account:https://lms.b|77"), bob);
	CHECK(person_of_ifi(id, "account:https://lms.a|77") != bob);
	CHECK_STR(identity_person_name(id, bob), "Bob");
	CHECK_INT(identity_person_count(id), 3);
	/* Ids are stable and depend on the smallest email. */
	CHECK_STR(identity_person_id(id, bob, pid), "p-686b5e4cf4f963ad");
	/* Saved for readers of the database. */
	CHECK_INT(identity_save(id, &err, store), 0);
	{
		sqlite3_stmt *q;
		sqlite3_prepare_v2(store__db(store),
				   "SELECT count(*), count(DISTINCT p.id) FROM person_agent pa JOIN person p ON p.id = pa.person_id",
				   -1, &q, NULL);
		CHECK_INT(sqlite3_step(q), SQLITE_ROW);
		CHECK_INT(sqlite3_column_int(q, 0), 5);
		CHECK_INT(sqlite3_column_int(q, 1), 3);
		sqlite3_finalize(q);
	}
	identity_free(id);
	store_close(store);
	unlink(path);
}

/* ---- saving persons: only what changed is written ---- */

/* The rows of both person tables, in key order, as text (quote(): NULL and BLOB show). */
static char *dump_tables(void)
{
	static const char *const sql[] = {
		"SELECT quote(id) || ',' || quote(email) || ',' || quote(name) FROM person ORDER BY id",
		"SELECT agent_id || ',' || quote(person_id) FROM person_agent ORDER BY agent_id",
	};
	size_t len = 0, cap = 1024, i;
	char *text = malloc(cap);

	CHECK(text != NULL);
	if (!text)
		return NULL;
	text[0] = '\0';
	for (i = 0; i < 2; i++) {
		sqlite3_stmt *q = NULL;
		sqlite3_prepare_v2(store__db(store), sql[i], -1, &q, NULL);
		while (sqlite3_step(q) == SQLITE_ROW) {
			const char *row = (const char *)sqlite3_column_text(q, 0);
			size_t n = strlen(row) + 1;
			if (len + n + 1 > cap) {
				char *more;
				while (len + n + 1 > cap)
					cap *= 2;
				more = realloc(text, cap);
				CHECK(more != NULL);
				if (!more)
					break;
				text = more;
			}
			memcpy(text + len, row, n - 1);
			len += n;
			text[len - 1] = '\n';
			text[len] = '\0';
		}
		sqlite3_finalize(q);
		text[len++] = '|';
		text[len] = '\0';
	}
	return text;
}

static long count_of(const char *sql)
{
	sqlite3_stmt *q = NULL;
	long n = -1;

	sqlite3_prepare_v2(store__db(store), sql, -1, &q, NULL);
	if (sqlite3_step(q) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

static int same_or_null(const char *a, const unsigned char *b)
{
	return a ? b && strcmp(a, (const char *)b) == 0 : b == NULL;
}

/* The tables hold exactly the resolved persons and every agent's link to its person. */
static void check_tables(struct identity *id)
{
	sqlite3 *db = store__db(store);
	sqlite3_stmt *q = NULL;
	char pid[IDENTITY_PERSON_ID_LEN + 1];
	long p, n = identity_person_count(id), wrong = 0;

	sqlite3_prepare_v2(db, "SELECT email, name FROM person WHERE id = ?", -1, &q, NULL);
	for (p = 0; p < n; p++) {
		sqlite3_bind_text(q, 1, identity_person_id(id, p, pid), -1, SQLITE_TRANSIENT);
		if (sqlite3_step(q) != SQLITE_ROW ||
		    !same_or_null(identity_person_email(id, p), sqlite3_column_text(q, 0)) ||
		    !same_or_null(identity_person_name(id, p), sqlite3_column_text(q, 1)))
			wrong++;
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	CHECK_INT(wrong, 0);
	CHECK_INT(count_of("SELECT count(*) FROM person"), n);

	wrong = 0;
	sqlite3_prepare_v2(db, "SELECT a.id, pa.person_id FROM agent a LEFT JOIN person_agent pa ON pa.agent_id = a.id",
			   -1, &q, NULL);
	while (sqlite3_step(q) == SQLITE_ROW) {
		long person = identity_person_of(id, sqlite3_column_int64(q, 0));
		if (person < 0 || !same_or_null(identity_person_id(id, person, pid), sqlite3_column_text(q, 1)))
			wrong++;
	}
	sqlite3_finalize(q);
	CHECK_INT(wrong, 0);
	CHECK_INT(count_of("SELECT count(*) FROM person_agent"), count_of("SELECT count(*) FROM agent"));
}

/*
 * Resolves and saves; checks the tables against the resolution and against
 * a full rewrite (both tables emptied, saved again). Returns how many rows
 * the save itself wrote.
 */
static long save_and_check(void)
{
	sqlite3 *db = store__db(store);
	struct identity *id = NULL;
	struct lr_error err;
	char *saved, *rewritten;
	long changes;
	int rc;

	lr_error_clear(&err);
	CHECK_INT(identity_resolve(&id, &err, store), 0);
	if (!id)
		return -1;
	changes = sqlite3_total_changes(db);
	rc = identity_save(id, &err, store);
	changes = sqlite3_total_changes(db) - changes;
	CHECK_MSG(rc == 0, "%s", err.text);
	check_tables(id);
	saved = dump_tables();
	CHECK_INT(sqlite3_exec(db, "DELETE FROM person; DELETE FROM person_agent", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(identity_save(id, &err, store), 0);
	rewritten = dump_tables();
	if (saved && rewritten)
		CHECK_STR(saved, rewritten);
	free(saved);
	free(rewritten);
	identity_free(id);
	return changes;
}

/* Puts one statement per agent, agents first..last-1 of the given form, in one transaction. */
static void put_agents(int64_t org_id, const char *form, int first, int last)
{
	struct lr_error err;
	char actor[256], json[512];
	int i;

	lr_error_clear(&err);
	CHECK_INT(store_begin(store, &err), 0);
	for (i = first; i < last; i++) {
		snprintf(actor, sizeof(actor), form, i, i);
		snprintf(json, sizeof(json), STMT("%s"), actor);
		put("org-a", org_id, json);
	}
	CHECK_INT(store_commit(store, &err), 0);
}

static void test_identity_save(void)
{
	struct store_org a = { 0, "org-a", NULL, NULL, NULL };
	struct identity *id = NULL;
	struct lr_error err;
	char *before, *after;
	int64_t ida;
	int added;
	long persons;

	lr_error_clear(&err);
	snprintf(path, sizeof(path), "/tmp/lrhub-test-idsave-%ld.db", (long)getpid());
	unlink(path);
	CHECK_INT(store_open(&store, &err, path, STORE_CREATE), 0);
	CHECK_INT(store_org_add(store, &err, &a), 0);
	store_org_id(store, &err, "org-a", &ida);

	/* An empty store: nothing to write. */
	CHECK_INT(save_and_check(), 0);
	CHECK_INT(count_of("SELECT count(*) FROM person"), 0);

	/* First save: 200 emails (every 7th without a name) and 20 accounts. */
	put_agents(ida, "{\"mbox\": \"mailto:user%03d@example.org\", \"name\": \"User %d\"}", 0, 200);
	put_agents(ida, "{\"mbox\": \"mailto:quiet%03d@example.org\"}", 0, 20);
	put_agents(ida, "{\"account\": {\"homePage\": \"https://lms.a\", \"name\": \"acct-%d\"}, \"name\": \"A %d\"}", 0, 20);
	CHECK_INT(save_and_check(), 2 * 240);
	CHECK_INT(count_of("SELECT count(*) FROM person"), 240);

	/* Nothing changed: not one row written. */
	CHECK_INT(save_and_check(), 0);

	/*
	 * Joins: account acct-3 is user003 (its person goes, its link moves);
	 * user010 and user011 are one person, under user010's id.
	 */
	CHECK_INT(store_identity_link(store, &err, ida, "acct-3", "user003@example.org", "test", &added), 0);
	CHECK_INT(store_identity_link(store, &err, ida, "user011@example.org", "user010@example.org", "test",
				      &added), 0);
	CHECK_INT(save_and_check(), 4);
	CHECK_INT(count_of("SELECT count(*) FROM person"), 238);
	CHECK_INT(count_of("SELECT count(DISTINCT person_id) FROM person_agent WHERE agent_id IN"
			   " (SELECT id FROM agent WHERE ifi IN ('mbox:user010@example.org', 'mbox:user011@example.org'))"),
		  1);

	/* A new smaller email on user020's person: its id changes (1 delete, 1 insert, 2 links). */
	put_agents(ida, "{\"mbox\": \"mailto:aaa%d@example.org\"}", 0, 1);
	CHECK_INT(store_identity_link(store, &err, ida, "aaa0@example.org", "user020@example.org", "test", &added), 0);
	CHECK_INT(save_and_check(), 4);
	CHECK_INT(count_of("SELECT count(*) FROM person WHERE email = 'aaa0@example.org'"), 1);

	/* A renamed agent renames its person: one UPDATE. */
	put_agents(ida, "{\"mbox\": \"mailto:user%03d@example.org\", \"name\": \"Renamed %d\"}", 5, 6);
	CHECK_INT(save_and_check(), 1);
	CHECK_INT(count_of("SELECT count(*) FROM person WHERE name = 'Renamed 5'"), 1);

	/* Rows changed by hand are put right: an email, a stray person (TEXT and BLOB id), two links. */
	CHECK_INT(sqlite3_exec(store__db(store),
			       "UPDATE person SET email = 'wrong@example.org' WHERE email = 'user100@example.org';"
			       "INSERT INTO person VALUES('p-zzzz', NULL, 'nobody');"
			       "INSERT INTO person VALUES(x'702d', NULL, NULL);"
			       "INSERT INTO person_agent VALUES(999999, 'p-zzzz');"
			       "UPDATE person_agent SET person_id = 'p-zzzz' WHERE agent_id = (SELECT min(agent_id) FROM person_agent)",
			       NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(save_and_check(), 5);

	/* New agents: one person and one link each. */
	persons = count_of("SELECT count(*) FROM person");
	put_agents(ida, "{\"mbox\": \"mailto:new%03d@example.org\", \"name\": \"New %d\"}", 0, 30);
	CHECK_INT(save_and_check(), 60);
	CHECK_INT(count_of("SELECT count(*) FROM person"), persons + 30);

	/* A save that fails half way (links refused) leaves both tables as they were. */
	put_agents(ida, "{\"mbox\": \"mailto:late%03d@example.org\", \"name\": \"Late %d\"}", 0, 5);
	CHECK_INT(sqlite3_exec(store__db(store),
			       "CREATE TEMP TRIGGER refuse_links BEFORE INSERT ON main.person_agent"
			       " BEGIN SELECT RAISE(ABORT, 'links refused'); END",
			       NULL, NULL, NULL), SQLITE_OK);
	before = dump_tables();
	CHECK_INT(identity_resolve(&id, &err, store), 0);
	lr_error_clear(&err);
	CHECK_INT(identity_save(id, &err, store), LR_EDB);
	CHECK_STR(err.text, "saving persons: links refused");
	after = dump_tables();
	if (before && after)
		CHECK_STR(after, before);
	free(before);
	free(after);
	identity_free(id);
	CHECK_INT(sqlite3_exec(store__db(store), "DROP TRIGGER refuse_links", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(save_and_check(), 10);
	CHECK_INT(save_and_check(), 0);

	store_close(store);
	unlink(path);
}

int main(void)
{
	RUN(test_email_normalize);
	RUN(test_email_sha1);
	RUN(test_ifi_key);
	RUN(test_unionfind);
	RUN(test_strmap);
	RUN(test_uuid);
	RUN(test_base64);
	RUN(test_identity_resolve);
	RUN(test_identity_save);
	TEST_END();
}
