/*
 * identity.c: resolving agents into persons (see identity.h).
 *
 * Nodes of the union-find are agents (node = position in the agent list) and
 * emails (one node per distinct normalised address). After all joins, each
 * set becomes one person.
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
	const char *email;    /* into the text arena, or NULL */
	const char *name;
	const char *key;      /* the smallest identifier, for the id when no email */
	int name_on_email;    /* the name came from an agent with the person's email */
};

struct identity {
	int64_t *agent_ids;    /* sorted agent row ids */
	long *agent_person;    /* person of each agent */
	long n_agents;
	struct person *persons;
	long n_persons;
	char **texts;          /* every string kept, freed at the end */
	size_t n_texts, cap_texts;
};

static const char *keep(struct identity *id, const char *text)
{
	char *copy;

	if (!text)
		return NULL;
	if (id->n_texts == id->cap_texts) {
		size_t cap = id->cap_texts ? id->cap_texts * 2 : 1024;
		char **texts = realloc(id->texts, cap * sizeof(*texts));
		if (!texts)
			return NULL;
		id->texts = texts;
		id->cap_texts = cap;
	}
	copy = strdup(text);
	if (copy)
		id->texts[id->n_texts++] = copy;
	return copy;
}

void identity_free(struct identity *id)
{
	size_t i;

	if (!id)
		return;
	for (i = 0; i < id->n_texts; i++)
		free(id->texts[i]);
	free(id->texts);
	free(id->agent_ids);
	free(id->agent_person);
	free(id->persons);
	free(id);
}

/* The resolution work space. */
struct work {
	struct identity *id;
	struct unionfind *uf;
	struct strmap *emails;        /* email -> node */
	const char **agent_ifi;       /* per agent */
	const char **agent_name;
	const char **node_email;      /* per node: the email of an email node, else NULL */
	size_t cap_nodes;
	long cap_agents;
};

static long add_node(struct work *w, const char *email)
{
	long node = unionfind_add(w->uf);

	if (node < 0)
		return node;
	if ((size_t)node >= w->cap_nodes) {
		size_t cap = w->cap_nodes ? w->cap_nodes * 2 : 1024;
		const char **ne = realloc(w->node_email, cap * sizeof(*ne));
		if (!ne)
			return LR_ENOMEM;
		memset(ne + w->cap_nodes, 0, (cap - w->cap_nodes) * sizeof(*ne));
		w->node_email = ne;
		w->cap_nodes = cap;
	}
	w->node_email[node] = email;
	return node;
}

/* The node of a normalised email, made if new. */
static long email_node(struct work *w, const char *email)
{
	int64_t node = -1;
	int rc = strmap_get(w->emails, email, strlen(email), &node, 0);
	const char *kept;

	if (rc == 1)
		return (long)node;
	kept = keep(w->id, email);
	if (!kept)
		return LR_ENOMEM;
	node = add_node(w, kept);
	if (node < 0)
		return (long)node;
	if (strmap_get(w->emails, kept, strlen(kept), &node, 1) < 0)
		return LR_ENOMEM;
	return (long)node;
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

static int load_agents(struct work *w, struct lr_error *err, sqlite3 *db)
{
	sqlite3_stmt *q = NULL;
	int rc = 0, step;

	if (sqlite3_prepare_v2(db, "SELECT id, ifi, name FROM agent ORDER BY id", -1, &q, NULL) !=
	    SQLITE_OK) {
		rc = lr_error_set(err, LR_EDB, "reading agents: %s", sqlite3_errmsg(db));
		goto out;
	}
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct identity *id = w->id;
		long i = id->n_agents;
		const char *ifi = keep(id, (const char *)sqlite3_column_text(q, 1));
		const char *name = sqlite3_column_type(q, 2) == SQLITE_NULL
					   ? NULL : keep(id, (const char *)sqlite3_column_text(q, 2));

		if (i == w->cap_agents) {
			long cap = w->cap_agents ? w->cap_agents * 2 : 1024;
			int64_t *ids = realloc(id->agent_ids, (size_t)cap * sizeof(*ids));
			const char **ifis, **names;
			if (ids)
				id->agent_ids = ids;
			ifis = ids ? realloc(w->agent_ifi, (size_t)cap * sizeof(*ifis)) : NULL;
			if (ifis)
				w->agent_ifi = ifis;
			names = ifis ? realloc(w->agent_name, (size_t)cap * sizeof(*names)) : NULL;
			if (!names) {
				rc = lr_error_set(err, LR_ENOMEM, "out of memory reading agents");
				goto out;
			}
			w->agent_name = names;
			w->cap_agents = cap;
		}
		if (!ifi || add_node(w, NULL) != i) {
			rc = lr_error_set(err, LR_ENOMEM, "out of memory reading agents");
			goto out;
		}
		id->agent_ids[i] = sqlite3_column_int64(q, 0);
		w->agent_ifi[i] = ifi;
		w->agent_name[i] = name;
		id->n_agents++;
	}
	if (step != SQLITE_DONE)
		rc = lr_error_set(err, LR_EDB, "reading agents: %s", sqlite3_errmsg(db));
out:
	sqlite3_finalize(q);
	return rc;
}

/* Joins every mbox agent to its email node. */
static int join_mboxes(struct work *w, struct lr_error *err)
{
	long i;

	for (i = 0; i < w->id->n_agents; i++) {
		const char *email = ifi_key_email(w->agent_ifi[i]);
		long node;
		if (!email)
			continue;
		node = email_node(w, email);
		if (node < 0)
			return lr_error_set(err, LR_ENOMEM, "out of memory resolving identities");
		unionfind_union(w->uf, i, node);
	}
	return 0;
}

static int join_links(struct work *w, struct lr_error *err, sqlite3 *db)
{
	static const char sql_accounts[] =
		"SELECT a.id, l.email FROM identity_link l"
		" JOIN agent a ON a.account_name = l.key"
		" JOIN agent_org ao ON ao.agent_id = a.id AND ao.org_id = l.org_id";
	static const char sql_emails[] = "SELECT key, email FROM identity_link";
	sqlite3_stmt *q = NULL;
	int rc = 0, step;

	if (sqlite3_prepare_v2(db, sql_accounts, -1, &q, NULL) != SQLITE_OK)
		goto db_fail;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		long agent = agent_index(w->id, sqlite3_column_int64(q, 0));
		long node = email_node(w, (const char *)sqlite3_column_text(q, 1));
		if (node < 0) {
			rc = lr_error_set(err, LR_ENOMEM, "out of memory resolving identities");
			goto out;
		}
		if (agent >= 0)
			unionfind_union(w->uf, agent, node);
	}
	if (step != SQLITE_DONE)
		goto db_fail;
	sqlite3_finalize(q);

	/* A key that is itself an address: the person has both emails. */
	if (sqlite3_prepare_v2(db, sql_emails, -1, &q, NULL) != SQLITE_OK)
		goto db_fail;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		char email[IFI_MAX];
		long a, b;
		if (ifi_email_normalize(email, sizeof(email), (const char *)sqlite3_column_text(q, 0)) != 0)
			continue;
		a = email_node(w, email);
		b = email_node(w, (const char *)sqlite3_column_text(q, 1));
		if (a < 0 || b < 0) {
			rc = lr_error_set(err, LR_ENOMEM, "out of memory resolving identities");
			goto out;
		}
		unionfind_union(w->uf, a, b);
	}
	if (step != SQLITE_DONE)
		goto db_fail;
	goto out;
db_fail:
	rc = lr_error_set(err, LR_EDB, "reading identity links: %s", sqlite3_errmsg(db));
out:
	sqlite3_finalize(q);
	return rc;
}

/* Joins every mbox_sha1sum agent to the email it is the hash of, if known. */
static int join_hashes(struct work *w, struct lr_error *err)
{
	struct strmap *hashes = strmap_new();
	size_t node;
	long i;
	int rc = 0;

	if (!hashes)
		return lr_error_set(err, LR_ENOMEM, "out of memory resolving identities");
	for (node = 0; node < unionfind_count(w->uf); node++) {
		const char *email = w->node_email[node];
		unsigned char digest[HASH_SHA1_LEN];
		char hex[41];
		int64_t v = (int64_t)node;
		if (!email)
			continue;
		ifi_email_sha1(hex, email);
		if (strmap_get(hashes, hex, 40, &v, 1) < 0)
			goto nomem;
		v = (int64_t)node;
		hash_sha1(digest, email, strlen(email));
		hash_hex(hex, digest, sizeof(digest));
		if (strmap_get(hashes, hex, 40, &v, 1) < 0)
			goto nomem;
	}
	for (i = 0; i < w->id->n_agents; i++) {
		const char *ifi = w->agent_ifi[i];
		int64_t v;
		if (strncmp(ifi, "sha1:", 5) != 0)
			continue;
		if (strmap_get(hashes, ifi + 5, strlen(ifi + 5), &v, 0) == 1)
			unionfind_union(w->uf, i, (long)v);
	}
	goto out;
nomem:
	rc = lr_error_set(err, LR_ENOMEM, "out of memory resolving identities");
out:
	strmap_free(hashes);
	return rc;
}

static int smaller(const char *a, const char *b)
{
	return b == NULL || (a != NULL && strcmp(a, b) < 0);
}

/* Turns the sets into persons. */
static int make_persons(struct work *w, struct lr_error *err)
{
	struct identity *id = w->id;
	size_t n = unionfind_count(w->uf), node;
	long *root_person = malloc((n ? n : 1) * sizeof(long));
	int rc = 0;
	long i;

	id->agent_person = malloc((id->n_agents ? (size_t)id->n_agents : 1) * sizeof(long));
	id->persons = calloc(n ? n : 1, sizeof(struct person));
	if (!root_person || !id->agent_person || !id->persons) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory resolving identities");
		goto out;
	}
	for (node = 0; node < n; node++)
		root_person[node] = -1;
	/* A person for every set that holds an agent; email-only sets are no one. */
	for (i = 0; i < id->n_agents; i++) {
		long root = unionfind_find(w->uf, i);
		if (root_person[root] < 0)
			root_person[root] = id->n_persons++;
		id->agent_person[i] = root_person[root];
	}
	for (node = 0; node < n; node++) {
		long p = root_person[unionfind_find(w->uf, (long)node)];
		struct person *pp;
		if (p < 0)
			continue;
		pp = &id->persons[p];
		if ((long)node < id->n_agents) {
			if (smaller(w->agent_ifi[node], pp->key))
				pp->key = w->agent_ifi[node];
		} else if (smaller(w->node_email[node], pp->email)) {
			pp->email = w->node_email[node];
		}
	}
	/* Names: the first agent with a name on the person's email, else the first with one. */
	for (i = 0; i < id->n_agents; i++) {
		struct person *pp = &id->persons[id->agent_person[i]];
		const char *email = ifi_key_email(w->agent_ifi[i]);
		int on_email = email && pp->email && strcmp(email, pp->email) == 0;

		if (!w->agent_name[i])
			continue;
		if (!pp->name || (on_email && !pp->name_on_email)) {
			pp->name = w->agent_name[i];
			pp->name_on_email = on_email;
		}
	}
	for (i = 0; i < id->n_persons; i++) {
		struct person *pp = &id->persons[i];
		const char *basis = pp->email ? pp->email : pp->key;
		unsigned char digest[HASH_SHA256_LEN];
		char hex[2 * HASH_SHA256_LEN + 1];
		hash_sha256(digest, basis, strlen(basis));
		hash_hex(hex, digest, sizeof(digest));
		snprintf(pp->id, sizeof(pp->id), "p-%.16s", hex);
	}
out:
	free(root_person);
	return rc;
}

int identity_resolve(struct identity **out, struct lr_error *err, struct store *s)
{
	struct work w;
	sqlite3 *db = store__db(s);
	int rc;

	*out = NULL;
	memset(&w, 0, sizeof(w));
	w.id = calloc(1, sizeof(*w.id));
	w.uf = unionfind_new();
	w.emails = strmap_new();
	if (!w.id || !w.uf || !w.emails) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory resolving identities");
		goto out;
	}
	if ((rc = load_agents(&w, err, db)) != 0 ||
	    (rc = join_mboxes(&w, err)) != 0 ||
	    (rc = join_links(&w, err, db)) != 0 ||
	    (rc = join_hashes(&w, err)) != 0 ||
	    (rc = make_persons(&w, err)) != 0)
		goto out;
	*out = w.id;
	w.id = NULL;
out:
	identity_free(w.id);
	unionfind_free(w.uf);
	strmap_free(w.emails);
	free(w.agent_ifi);
	free(w.agent_name);
	free(w.node_email);
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
