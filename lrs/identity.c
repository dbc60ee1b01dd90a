/*
 * identity.c: resolving agents into persons (see identity.h).
 *
 * Nodes of the union-find are agents (node = position in the agent list) and
 * emails (one node per distinct normalised address). After all joins, each
 * set that holds an agent becomes one person. The agents are read in
 * streaming passes and only integers are kept per agent, so memory grows by
 * some 40 bytes per agent plus the distinct emails.
 */
#include "identity.h"
#include "error.h"
#include "hash.h"
#include "ifi.h"
#include "store.h"
#include "strmap.h"
#include "unionfind.h"

#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct person {
	char id[IDENTITY_PERSON_ID_LEN + 1];
	const char *email;    /* the smallest email (in the email map's arena), or NULL */
	const char *name;     /* in the names arena, or NULL */
	const char *key;      /* the smallest identifier, for the id when no email */
	int name_on_email;    /* the name came from an agent with the person's email */
};

/* Strings kept for the persons, in chunks freed together. */
struct arena {
	struct arena *next;
	size_t used, size;
	char data[];
};

struct identity {
	int64_t *agent_ids;    /* agent row ids, ascending */
	long *agent_person;    /* person of each agent */
	long n_agents;
	struct person *persons;
	long n_persons;
	struct strmap *emails; /* email -> node; owns the email strings */
	struct arena *arena;
};

static const char *keep(struct identity *id, const char *text)
{
	size_t len = strlen(text) + 1;
	struct arena *a = id->arena;

	if (!a || a->size - a->used < len) {
		size_t size = len > 65536 ? len : 65536;
		a = malloc(sizeof(*a) + size);
		if (!a)
			return NULL;
		a->size = size;
		a->used = 0;
		a->next = id->arena;
		id->arena = a;
	}
	memcpy(a->data + a->used, text, len);
	a->used += len;
	return a->data + a->used - len;
}

void identity_free(struct identity *id)
{
	struct arena *a, *next;

	if (!id)
		return;
	for (a = id->arena; a; a = next) {
		next = a->next;
		free(a);
	}
	strmap_free(id->emails);
	free(id->agent_ids);
	free(id->agent_person);
	free(id->persons);
	free(id);
}

/*
 * The resolution work space. Nodes 0..n_agents-1 are the agents in row id
 * order; nodes from n_agents on are emails.
 */
struct work {
	struct identity *id;
	sqlite3 *db;
	struct unionfind *uf;
	const char **email_of;        /* per email node (node - n_agents): its email */
	size_t n_emails, cap_emails;
};

/* The node of a normalised email, made if new. */
static long email_node(struct work *w, const char *email)
{
	size_t len = strlen(email);
	int64_t node = -1;
	long made;

	if (strmap_get(w->id->emails, email, len, &node, 0) == 1)
		return (long)node;
	if (w->n_emails == w->cap_emails) {
		size_t cap = w->cap_emails ? w->cap_emails * 2 : 1024;
		const char **e = realloc(w->email_of, cap * sizeof(*e));
		if (!e)
			return LR_ENOMEM;
		w->email_of = e;
		w->cap_emails = cap;
	}
	made = unionfind_add(w->uf);
	if (made < 0)
		return made;
	node = made;
	if (strmap_get(w->id->emails, email, len, &node, 1) < 0)
		return LR_ENOMEM;
	/* The map copied the key: find the copy to point at. */
	w->email_of[w->n_emails++] = strmap_key(w->id->emails, email, len);
	return made;
}

static long agent_index(const struct identity *id, int64_t agent_id)
{
	long lo = 0, hi = id->n_agents - 1;

	while (lo <= hi) {
		long mid = lo + (hi - lo) / 2;
		if (id->agent_ids[mid] == agent_id)
			return mid;
		if (id->agent_ids[mid] < agent_id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

static int db_fail(struct work *w, struct lr_error *err, const char *what)
{
	return lr_error_set(err, LR_EDB, "%s: %s", what, sqlite3_errmsg(w->db));
}

static int nomem(struct lr_error *err)
{
	return lr_error_set(err, LR_ENOMEM, "out of memory resolving identities");
}

/* Pass 1: every agent gets a node; mbox agents join their email's node. */
static int load_agents(struct work *w, struct lr_error *err)
{
	struct identity *id = w->id;
	sqlite3_stmt *q = NULL;
	long cap = 0, i;
	int rc = 0, step;

	if (sqlite3_prepare_v2(w->db, "SELECT count(*) FROM agent", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_step(q) != SQLITE_ROW) {
		rc = db_fail(w, err, "counting agents");
		goto out;
	}
	cap = (long)sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	q = NULL;
	id->agent_ids = malloc((size_t)(cap ? cap : 1) * sizeof(*id->agent_ids));
	if (!id->agent_ids) {
		rc = nomem(err);
		goto out;
	}
	for (i = 0; i < cap; i++) {
		if (unionfind_add(w->uf) < 0) {
			rc = nomem(err);
			goto out;
		}
	}
	if (sqlite3_prepare_v2(w->db, "SELECT id, ifi FROM agent ORDER BY id", -1, &q, NULL) != SQLITE_OK) {
		rc = db_fail(w, err, "reading agents");
		goto out;
	}
	while ((step = sqlite3_step(q)) == SQLITE_ROW && id->n_agents < cap) {
		const char *email = ifi_key_email((const char *)sqlite3_column_text(q, 1));
		i = id->n_agents++;
		id->agent_ids[i] = sqlite3_column_int64(q, 0);
		if (email) {
			long node = email_node(w, email);
			if (node < 0) {
				rc = nomem(err);
				goto out;
			}
			unionfind_union(w->uf, i, node);
		}
	}
	if (step != SQLITE_DONE && step != SQLITE_ROW)
		rc = db_fail(w, err, "reading agents");
out:
	sqlite3_finalize(q);
	return rc;
}

/* Identity links: accounts seen in the link's org join the email; email keys join emails. */
static int join_links(struct work *w, struct lr_error *err)
{
	static const char sql_accounts[] =
		"SELECT a.id, l.email FROM identity_link l"
		" JOIN agent a ON a.account_name = l.key"
		" JOIN agent_org ao ON ao.agent_id = a.id AND ao.org_id = l.org_id";
	static const char sql_emails[] = "SELECT key, email FROM identity_link";
	sqlite3_stmt *q = NULL;
	int rc = 0, step;

	if (sqlite3_prepare_v2(w->db, sql_accounts, -1, &q, NULL) != SQLITE_OK)
		goto fail;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		long agent = agent_index(w->id, sqlite3_column_int64(q, 0));
		long node = email_node(w, (const char *)sqlite3_column_text(q, 1));
		if (node < 0) {
			rc = nomem(err);
			goto out;
		}
		if (agent >= 0)
			unionfind_union(w->uf, agent, node);
	}
	if (step != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(q);
	if (sqlite3_prepare_v2(w->db, sql_emails, -1, &q, NULL) != SQLITE_OK)
		goto fail;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		char email[IFI_MAX];
		long a, b;
		if (ifi_email_normalize(email, sizeof(email), (const char *)sqlite3_column_text(q, 0)) != 0)
			continue;
		a = email_node(w, email);
		b = email_node(w, (const char *)sqlite3_column_text(q, 1));
		if (a < 0 || b < 0) {
			rc = nomem(err);
			goto out;
		}
		unionfind_union(w->uf, a, b);
	}
	if (step != SQLITE_DONE)
		goto fail;
	goto out;
fail:
	rc = db_fail(w, err, "reading identity links");
out:
	sqlite3_finalize(q);
	return rc;
}

/* mbox_sha1sum agents join the email they are the hash of, when it is known. */
static int join_hashes(struct work *w, struct lr_error *err)
{
	struct strmap *hashes = NULL;
	sqlite3_stmt *q = NULL;
	size_t e;
	int rc = 0, step;

	/* Only stores that have hashed agents pay for the table of hashes. */
	if (sqlite3_prepare_v2(w->db,
			       "SELECT id, ifi FROM agent WHERE ifi >= 'sha1:' AND ifi < 'sha1;' ORDER BY id",
			       -1, &q, NULL) != SQLITE_OK) {
		rc = db_fail(w, err, "reading agents");
		goto out;
	}
	step = sqlite3_step(q);
	if (step != SQLITE_ROW)
		goto out;
	if (!(hashes = strmap_new()))
		goto nomem;
	for (e = 0; e < w->n_emails; e++) {
		const char *email = w->email_of[e];
		unsigned char digest[HASH_SHA1_LEN];
		char hex[41];
		int64_t node = (int64_t)(w->id->n_agents + (long)e);

		ifi_email_sha1(hex, email);
		if (strmap_get(hashes, hex, 40, &node, 1) < 0)
			goto nomem;
		node = (int64_t)(w->id->n_agents + (long)e);
		hash_sha1(digest, email, strlen(email)); /* some tools hash the bare address */
		hash_hex(hex, digest, sizeof(digest));
		if (strmap_get(hashes, hex, 40, &node, 1) < 0)
			goto nomem;
	}
	for (; step == SQLITE_ROW; step = sqlite3_step(q)) {
		const char *ifi = (const char *)sqlite3_column_text(q, 1);
		long agent = agent_index(w->id, sqlite3_column_int64(q, 0));
		int64_t node;
		if (agent >= 0 && strmap_get(hashes, ifi + 5, strlen(ifi + 5), &node, 0) == 1)
			unionfind_union(w->uf, agent, (long)node);
	}
	if (step != SQLITE_DONE)
		rc = db_fail(w, err, "reading agents");
	goto out;
nomem:
	rc = nomem(err);
out:
	sqlite3_finalize(q);
	strmap_free(hashes);
	return rc;
}

static int smaller(const char *a, const char *b)
{
	return b == NULL || (a != NULL && strcmp(a, b) < 0);
}

/* Turns the sets that hold an agent into persons, with email, key, name and id. */
static int make_persons(struct work *w, struct lr_error *err)
{
	struct identity *id = w->id;
	size_t n = unionfind_count(w->uf), node;
	long *root_person = malloc((n ? n : 1) * sizeof(long));
	sqlite3_stmt *q = NULL;
	int rc = 0, step;
	long i;

	id->agent_person = malloc((id->n_agents ? (size_t)id->n_agents : 1) * sizeof(long));
	if (!root_person || !id->agent_person)
		goto nomem;
	for (node = 0; node < n; node++)
		root_person[node] = -1;
	for (i = 0; i < id->n_agents; i++) {
		long root = unionfind_find(w->uf, i);
		if (root_person[root] < 0)
			root_person[root] = id->n_persons++;
		id->agent_person[i] = root_person[root];
	}
	id->persons = calloc(id->n_persons ? (size_t)id->n_persons : 1, sizeof(struct person));
	if (!id->persons)
		goto nomem;
	for (i = 0; i < (long)w->n_emails; i++) {
		long p = root_person[unionfind_find(w->uf, id->n_agents + i)];
		if (p >= 0 && smaller(w->email_of[i], id->persons[p].email))
			id->persons[p].email = w->email_of[i];
	}
	/* Names, and the smallest key of persons without an email, in one more pass. */
	if (sqlite3_prepare_v2(w->db, "SELECT id, ifi, name FROM agent ORDER BY id", -1, &q, NULL) !=
	    SQLITE_OK) {
		rc = db_fail(w, err, "reading agents");
		goto out;
	}
	for (i = 0; (step = sqlite3_step(q)) == SQLITE_ROW && i < id->n_agents; i++) {
		struct person *pp = &id->persons[id->agent_person[i]];
		const char *ifi = (const char *)sqlite3_column_text(q, 1);
		const char *name = (const char *)sqlite3_column_text(q, 2);
		const char *email = ifi_key_email(ifi);
		int on_email = email && pp->email && strcmp(email, pp->email) == 0;

		if (!pp->email && smaller(ifi, pp->key) && !(pp->key = keep(id, ifi)))
			goto nomem;
		/* The first agent with a name on the person's email, else the first with one. */
		if (name && (!pp->name || (on_email && !pp->name_on_email))) {
			if (!(pp->name = keep(id, name)))
				goto nomem;
			pp->name_on_email = on_email;
		}
	}
	if (step != SQLITE_DONE && step != SQLITE_ROW) {
		rc = db_fail(w, err, "reading agents");
		goto out;
	}
	for (i = 0; i < id->n_persons; i++) {
		struct person *pp = &id->persons[i];
		const char *basis = pp->email ? pp->email : pp->key ? pp->key : "";
		unsigned char digest[HASH_SHA256_LEN];
		char hex[2 * HASH_SHA256_LEN + 1];
		hash_sha256(digest, basis, strlen(basis));
		hash_hex(hex, digest, sizeof(digest));
		snprintf(pp->id, sizeof(pp->id), "p-%.16s", hex);
	}
	goto out;
nomem:
	rc = nomem(err);
out:
	sqlite3_finalize(q);
	free(root_person);
	return rc;
}

int identity_resolve(struct identity **out, struct lr_error *err, struct store *s)
{
	struct work w;
	int rc;

	*out = NULL;
	memset(&w, 0, sizeof(w));
	w.db = store__db(s);
	w.id = calloc(1, sizeof(*w.id));
	w.uf = unionfind_new();
	if (w.id)
		w.id->emails = strmap_new();
	if (!w.id || !w.uf || !w.id->emails) {
		rc = nomem(err);
		goto out;
	}
	if ((rc = load_agents(&w, err)) != 0 ||
	    (rc = join_links(&w, err)) != 0 ||
	    (rc = join_hashes(&w, err)) != 0 ||
	    (rc = make_persons(&w, err)) != 0)
		goto out;
	*out = w.id;
	w.id = NULL;
out:
	identity_free(w.id);
	unionfind_free(w.uf);
	free(w.email_of);
	return rc;
}

long identity_person_of(const struct identity *id, int64_t agent_id)
{
	long i = agent_index(id, agent_id);

	return i < 0 ? -1 : id->agent_person[i];
}

long identity_person_count(const struct identity *id)
{
	return id->n_persons;
}

const char *identity_person_id(const struct identity *id, long person)
{
	return id->persons[person].id;
}

const char *identity_person_email(const struct identity *id, long person)
{
	return id->persons[person].email;
}

const char *identity_person_name(const struct identity *id, long person)
{
	return id->persons[person].name;
}

int identity_save(const struct identity *id, struct lr_error *err, struct store *s)
{
	sqlite3 *db = store__db(s);
	sqlite3_stmt *person = NULL, *link = NULL;
	long i;
	int rc;

	if ((rc = store_begin(s, err)) != 0)
		return rc;
	if (sqlite3_exec(db, "DELETE FROM person; DELETE FROM person_agent", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO person(id, email, name) VALUES(?,?,?)", -1, &person,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO person_agent(agent_id, person_id) VALUES(?,?)", -1,
			       &link, NULL) != SQLITE_OK)
		goto db_fail;
	for (i = 0; i < id->n_persons; i++) {
		const struct person *p = &id->persons[i];
		sqlite3_bind_text(person, 1, p->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(person, 2, p->email, -1, SQLITE_STATIC);
		sqlite3_bind_text(person, 3, p->name, -1, SQLITE_STATIC);
		/* Two sets can share an id only if SHA-256 collides: keep the first. */
		if (sqlite3_step(person) != SQLITE_DONE && sqlite3_errcode(db) != SQLITE_CONSTRAINT)
			goto db_fail;
		sqlite3_reset(person);
	}
	for (i = 0; i < id->n_agents; i++) {
		sqlite3_bind_int64(link, 1, id->agent_ids[i]);
		sqlite3_bind_text(link, 2, id->persons[id->agent_person[i]].id, -1, SQLITE_STATIC);
		if (sqlite3_step(link) != SQLITE_DONE)
			goto db_fail;
		sqlite3_reset(link);
	}
	sqlite3_finalize(person);
	sqlite3_finalize(link);
	return store_commit(s, err);
db_fail:
	rc = lr_error_set(err, LR_EDB, "saving persons: %s", sqlite3_errmsg(db));
	sqlite3_finalize(person);
	sqlite3_finalize(link);
	store_rollback(s);
	return rc;
}

int identity_refresh(struct lr_error *err, struct store *s)
{
	struct identity *id = NULL;
	int rc = identity_resolve(&id, err, s);

	if (rc == 0)
		rc = identity_save(id, err, s);
	identity_free(id);
	return rc;
}
