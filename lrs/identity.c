/*
 * identity.c: resolving agents into persons (see identity.h).
 *
 * Nodes of the union-find are agents (node = position in the agent list) and
 * emails (one node per distinct normalised address). After all joins, each
 * set that holds an agent becomes one person. The agents are read in
 * streaming passes. What is kept grows with the agents, not the statements:
 * while the sets are found, 5 bytes a node and 8 a table slot per email;
 * then, freed before the pass that reads names, 24 bytes a person and 4 an
 * agent, and the emails and names themselves (some 60 MB at the peak of a
 * refresh of 570,675 agents, process and SQLite included; see
 * docs/performance.md).
 */
#include "identity.h"
#include "error.h"
#include "hash.h"
#include "ifi.h"
#include "store.h"
#include "strmap.h"
#include "unionfind.h"

#include <sqlite3.h>

#include <assert.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 24 bytes: there is one per agent or so, half a million over a million statements. */
struct person {
	uint64_t id;          /* the number the 16 hex digits of its id spell */
	const char *email;    /* the smallest email (in the arena), or NULL */
	const char *name;     /* in the arena, or NULL */
};

/* Strings kept for the persons, in chunks freed together. */
struct arena {
	struct arena *next;
	size_t used, size;
	char data[];
};

struct identity {
	int64_t *agent_ids;    /* agent row ids, ascending; NULL when dense (use agent_row_id) */
	int32_t *agent_person; /* person of each agent */
	long n_agents;
	int dense;             /* agent_ids[i] is i + 1 for every i */
	struct person *persons;
	long n_persons;
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
	/*
	 * The emails by hash: open addressing, each slot the hash's top 32 bits
	 * and the email's number + 1 (0: empty); 8 bytes a slot where a general
	 * string map took 32, and the strings themselves kept once, in the
	 * identity's arena, where the persons point.
	 */
	uint64_t *email_slots;
	size_t email_mask;
	size_t email_base;            /* the node of email 0 (emails are the last nodes made) */
	struct strmap *link_keys;     /* the keys of identity links, NULL if there are none */
	long *linked;                 /* agents whose account name is such a key */
	size_t n_linked, cap_linked;
};

/* The slot of email (hash h) in the email table: where it is, or the empty slot it would go to. */
static size_t email_slot(const struct work *w, const char *email, uint64_t h)
{
	size_t at = (size_t)h & w->email_mask;
	uint32_t tag = (uint32_t)(h >> 32);

	while (w->email_slots[at]) {
		uint64_t slot = w->email_slots[at];
		if ((uint32_t)(slot >> 32) == tag &&
		    strcmp(w->email_of[(uint32_t)slot - 1], email) == 0)
			break;
		at = (at + 1) & w->email_mask;
	}
	return at;
}

static int grow_emails(struct work *w)
{
	size_t cap = w->email_slots ? (w->email_mask + 1) * 2 : 1024, i;
	uint64_t *slots = calloc(cap, sizeof(*slots));
	uint64_t *old = w->email_slots;

	if (!slots)
		return LR_ENOMEM;
	w->email_slots = slots;
	w->email_mask = cap - 1;
	for (i = 0; i < w->n_emails; i++) {
		const char *e = w->email_of[i];
		uint64_t h = strmap_hash(e, strlen(e));
		slots[email_slot(w, e, h)] = (h >> 32) << 32 | (uint64_t)(i + 1);
	}
	free(old);
	return 0;
}

/* The node of a normalised email, made if new. */
static long email_node(struct work *w, const char *email)
{
	size_t len = strlen(email), at;
	uint64_t h = strmap_hash(email, len);
	const char *kept;
	long made;

	if (!w->email_slots && grow_emails(w) != 0)
		return LR_ENOMEM;
	at = email_slot(w, email, h);
	if (w->email_slots[at])
		return (long)(w->email_base + (uint32_t)w->email_slots[at] - 1);
	if (w->n_emails >= UINT32_MAX - 1)
		return LR_ENOMEM;
	if (w->n_emails == w->cap_emails) {
		size_t cap = w->cap_emails ? w->cap_emails * 2 : 1024;
		const char **e = realloc(w->email_of, cap * sizeof(*e));
		if (!e)
			return LR_ENOMEM;
		w->email_of = e;
		w->cap_emails = cap;
	}
	if (!(kept = keep(w->id, email)))
		return LR_ENOMEM;
	if (w->n_emails == 0)
		w->email_base = unionfind_count(w->uf);
	made = unionfind_add(w->uf);
	if (made < 0)
		return made;
	assert((size_t)made == w->email_base + w->n_emails);
	w->email_of[w->n_emails++] = kept;
	w->email_slots[at] = (h >> 32) << 32 | (uint64_t)w->n_emails;
	if (w->n_emails * 4 > (w->email_mask + 1) * 3 && grow_emails(w) != 0)
		return LR_ENOMEM;
	return made;
}

static int64_t agent_row_id(const struct identity *id, long agent)
{
	return id->dense ? (int64_t)agent + 1 : id->agent_ids[agent];
}

static long agent_index(const struct identity *id, int64_t agent_id)
{
	long lo = 0, hi = id->n_agents - 1;

	/*
	 * Agents are numbered from 1 as they are stored and never deleted, so
	 * agent n is nearly always at n - 1: checked first, since completions
	 * ask for every statement's agent (a binary search over half a million
	 * agents was 5% of a derivation).
	 */
	if (agent_id >= 1 && agent_id <= id->n_agents &&
	    (id->dense || id->agent_ids[agent_id - 1] == agent_id))
		return (long)(agent_id - 1);
	if (id->dense)
		return -1;

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
	if (sqlite3_prepare_v2(w->db, "SELECT id, ifi, account_name FROM agent ORDER BY id", -1, &q,
			       NULL) != SQLITE_OK) {
		rc = db_fail(w, err, "reading agents");
		goto out;
	}
	while ((step = sqlite3_step(q)) == SQLITE_ROW && id->n_agents < cap) {
		const char *email = ifi_key_email((const char *)sqlite3_column_text(q, 1));
		const char *account = (const char *)sqlite3_column_text(q, 2);
		int64_t seen;
		i = id->n_agents++;
		id->agent_ids[i] = sqlite3_column_int64(q, 0);
		/* An account named by an identity link: joined in join_links. */
		if (account && w->link_keys &&
		    strmap_get(w->link_keys, account, strlen(account), &seen, 0) == 1) {
			if (w->n_linked == w->cap_linked) {
				size_t more = w->cap_linked ? 2 * w->cap_linked : 64;
				long *grown = realloc(w->linked, more * sizeof(*grown));
				if (!grown) {
					rc = nomem(err);
					goto out;
				}
				w->linked = grown;
				w->cap_linked = more;
			}
			w->linked[w->n_linked++] = i;
		}
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
	/* Ascending and distinct, so 1..n when the first is 1 and the last n. */
	id->dense = id->n_agents > 0 && id->agent_ids[0] == 1 &&
		    id->agent_ids[id->n_agents - 1] == id->n_agents;
	if (id->dense) {
		/* 1..n: the array says nothing its index does not. */
		free(id->agent_ids);
		id->agent_ids = NULL;
	}
out:
	sqlite3_finalize(q);
	return rc;
}

/* The keys of the identity links, for load_agents to find the accounts they name. */
static int load_link_keys(struct work *w, struct lr_error *err)
{
	sqlite3_stmt *q = NULL;
	int rc = 0, step;

	if (sqlite3_prepare_v2(w->db, "SELECT DISTINCT key FROM identity_link", -1, &q, NULL) !=
	    SQLITE_OK)
		goto fail;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(q, 0);
		int64_t one = 1;
		if (!key)
			continue;
		if ((!w->link_keys && !(w->link_keys = strmap_new())) ||
		    strmap_get(w->link_keys, key, strlen(key), &one, 1) < 0) {
			rc = nomem(err);
			goto out;
		}
	}
	if (step == SQLITE_DONE)
		goto out;
fail:
	rc = db_fail(w, err, "reading identity links");
out:
	sqlite3_finalize(q);
	return rc;
}

/*
 * Identity links: accounts seen in the link's org join the email; email keys
 * join emails. The accounts are those load_agents found named by a link's
 * key (agents are not indexed by account name: the index cost every new
 * agent a random B-tree write, and this pass reads every agent anyway).
 */
static int join_links(struct work *w, struct lr_error *err)
{
	static const char sql_account[] =
		"SELECT l.email FROM agent a"
		" JOIN agent_org ao ON ao.agent_id = a.id"
		" JOIN identity_link l ON l.org_id = ao.org_id AND l.key = a.account_name"
		" WHERE a.id = ?";
	static const char sql_emails[] = "SELECT key, email FROM identity_link";
	sqlite3_stmt *q = NULL;
	int rc = 0, step = SQLITE_DONE;
	size_t k;

	if (w->n_linked > 0 && sqlite3_prepare_v2(w->db, sql_account, -1, &q, NULL) != SQLITE_OK)
		goto fail;
	for (k = 0; k < w->n_linked; k++) {
		long agent = w->linked[k];
		sqlite3_bind_int64(q, 1, agent_row_id(w->id, agent));
		while ((step = sqlite3_step(q)) == SQLITE_ROW) {
			long node = email_node(w, (const char *)sqlite3_column_text(q, 0));
			if (node < 0) {
				rc = nomem(err);
				goto out;
			}
			unionfind_union(w->uf, agent, node);
		}
		if (step != SQLITE_DONE)
			goto fail;
		sqlite3_reset(q);
	}
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
		int64_t node = (int64_t)(w->email_base + e);

		ifi_email_sha1(hex, email);
		if (strmap_get(hashes, hex, 40, &node, 1) < 0)
			goto nomem;
		node = (int64_t)(w->email_base + e);
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
/* A person's id as a number: the first 8 bytes of SHA-256 of its basis. */
static uint64_t person_hash(const char *basis)
{
	unsigned char digest[HASH_SHA256_LEN];
	uint64_t v = 0;
	int i;

	hash_sha256(digest, basis, strlen(basis));
	for (i = 0; i < 8; i++)
		v = v << 8 | digest[i];
	return v;
}

/* "p-" and the 16 hex digits of number. */
static char *format_id(char out[IDENTITY_PERSON_ID_LEN + 1], uint64_t number)
{
	static const char hex[] = "0123456789abcdef";
	int i;

	out[0] = 'p';
	out[1] = '-';
	for (i = 0; i < 16; i++)
		out[2 + i] = hex[(number >> (60 - 4 * i)) & 15];
	out[IDENTITY_PERSON_ID_LEN] = '\0';
	return out;
}

/* Per person while the persons are made: */
#define P_SHARED 1   /* more than one agent */
#define P_EMAIL 2    /* has an email (else .email holds its smallest key meanwhile) */
#define P_NAMED 4    /* the name came from an agent with the person's email */
#define P_ID 8       /* .id is made */

static int make_persons(struct work *w, struct lr_error *err)
{
	struct identity *id = w->id;
	size_t n = unionfind_count(w->uf), node;
	int32_t *root_person = malloc((n ? n : 1) * sizeof(*root_person));
	unsigned char *flags = NULL; /* per person: P_ */
	sqlite3_stmt *q = NULL;
	int rc = 0, step;
	long i;

	id->agent_person = malloc((id->n_agents ? (size_t)id->n_agents : 1) * sizeof(*id->agent_person));
	flags = calloc(id->n_agents ? (size_t)id->n_agents : 1, 1);
	if (!root_person || !id->agent_person || !flags)
		goto nomem;
	for (node = 0; node < n; node++)
		root_person[node] = -1;
	for (i = 0; i < id->n_agents; i++) {
		long root = unionfind_find(w->uf, i);
		if (root_person[root] < 0)
			root_person[root] = (int32_t)id->n_persons++;
		else
			flags[root_person[root]] |= P_SHARED;
		id->agent_person[i] = root_person[root];
	}
	id->persons = calloc(id->n_persons ? (size_t)id->n_persons : 1, sizeof(struct person));
	if (!id->persons)
		goto nomem;
	for (i = 0; i < (long)w->n_emails; i++) {
		long p = root_person[unionfind_find(w->uf, (long)(w->email_base + (size_t)i))];
		if (p >= 0 && smaller(w->email_of[i], id->persons[p].email)) {
			id->persons[p].email = w->email_of[i];
			flags[p] |= P_EMAIL;
		}
	}
	/*
	 * The sets are persons now: what found them goes before the pass over
	 * the agents, which keeps names and keys, so the two do not add up.
	 */
	unionfind_free(w->uf);
	w->uf = NULL;
	free(w->email_slots);
	w->email_slots = NULL;
	free(w->email_of);
	w->email_of = NULL;
	w->n_emails = w->cap_emails = 0;
	free(root_person);
	root_person = NULL;
	/* Names, and the smallest key of persons without an email, in one more pass. */
	if (sqlite3_prepare_v2(w->db, "SELECT id, ifi, name FROM agent ORDER BY id", -1, &q, NULL) !=
	    SQLITE_OK) {
		rc = db_fail(w, err, "reading agents");
		goto out;
	}
	for (i = 0; (step = sqlite3_step(q)) == SQLITE_ROW && i < id->n_agents; i++) {
		long p = id->agent_person[i];
		struct person *pp = &id->persons[p];
		const char *ifi = (const char *)sqlite3_column_text(q, 1);
		const char *name = (const char *)sqlite3_column_text(q, 2);
		const char *email = ifi_key_email(ifi);
		int on_email = email && (flags[p] & P_EMAIL) && strcmp(email, pp->email) == 0;

		/* A person of one agent without an email: the id at once, no key kept. */
		if (!(flags[p] & (P_EMAIL | P_SHARED))) {
			pp->id = person_hash(ifi);
			flags[p] |= P_ID;
		} else if (!(flags[p] & P_EMAIL) && smaller(ifi, pp->email) &&
			   !(pp->email = keep(id, ifi))) {
			goto nomem;
		}
		/* The first agent with a name on the person's email, else the first with one. */
		if (name && (!pp->name || (on_email && !(flags[p] & P_NAMED)))) {
			if (!(pp->name = keep(id, name)))
				goto nomem;
			if (on_email)
				flags[p] |= P_NAMED;
			else
				flags[p] &= (unsigned char)~P_NAMED;
		}
	}
	if (step != SQLITE_DONE && step != SQLITE_ROW) {
		rc = db_fail(w, err, "reading agents");
		goto out;
	}
	for (i = 0; i < id->n_persons; i++) {
		struct person *pp = &id->persons[i];
		if (!(flags[i] & P_ID))
			pp->id = person_hash(pp->email ? pp->email : "");
		if (!(flags[i] & P_EMAIL))
			pp->email = NULL; /* it held the key */
	}
	goto out;
nomem:
	rc = nomem(err);
out:
	sqlite3_finalize(q);
	free(root_person);
	free(flags);
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
	if (!w.id || !w.uf) {
		rc = nomem(err);
		goto out;
	}
	if ((rc = load_link_keys(&w, err)) != 0 ||
	    (rc = load_agents(&w, err)) != 0 ||
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
	free(w.email_slots);
	strmap_free(w.link_keys);
	free(w.linked);
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

const char *identity_person_id(const struct identity *id, long person,
			       char out[IDENTITY_PERSON_ID_LEN + 1])
{
	return format_id(out, id->persons[person].id);
}

uint64_t identity_person_number(const struct identity *id, long person)
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

/*
 * ---- saving: only what changed ----
 *
 * identity_save merge-joins the stored tables, read in key order, with the
 * resolution in the same order, and writes only the difference. The
 * operations are collected first (indices into the resolution, the keys of
 * rows to delete) and applied once the reading cursor is finalized: SQLite
 * must not see a table changed under a SELECT that is still being stepped.
 */

/* A growing list of integers: person or agent indices, agent row ids. */
struct ivec {
	int64_t *v;
	size_t n, cap;
};

static int ivec_push(struct ivec *a, int64_t x)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		int64_t *v = realloc(a->v, cap * sizeof(*v));
		if (!v)
			return LR_ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = x;
	return 0;
}

/* Stored person ids to delete: their bytes end to end, and per id its offset, length and type. */
struct idlist {
	char *text;
	size_t len, cap;
	struct ivec at; /* offset, length, SQLite type: three entries per id */
};

static int idlist_push(struct idlist *l, const void *bytes, size_t len, int type)
{
	if (l->cap - l->len < len) {
		size_t cap = l->cap ? l->cap : 1024;
		char *text;
		while (cap - l->len < len)
			cap *= 2;
		if (!(text = realloc(l->text, cap)))
			return LR_ENOMEM;
		l->text = text;
		l->cap = cap;
	}
	if (len)
		memcpy(l->text + l->len, bytes, len);
	if (ivec_push(&l->at, (int64_t)l->len) != 0 || ivec_push(&l->at, (int64_t)len) != 0 ||
	    ivec_push(&l->at, type) != 0)
		return LR_ENOMEM;
	l->len += len;
	return 0;
}

struct save_plan {
	struct idlist person_delete;          /* stored only */
	struct ivec person_update, person_insert; /* person indices; inserts in id order */
	struct ivec link_delete;              /* agent row ids, stored only */
	struct ivec link_update, link_insert; /* agent indices */
	/*
	 * What sorts after every stored row is inserted too, but not listed:
	 * persons order[person_tail..n), agents link_tail..n_agents. After a
	 * first ingest that is everything, after later ones the new agents.
	 */
	size_t person_tail;
	long link_tail;
};

static void save_plan_free(struct save_plan *plan)
{
	free(plan->person_delete.text);
	free(plan->person_delete.at.v);
	free(plan->person_update.v);
	free(plan->person_insert.v);
	free(plan->link_delete.v);
	free(plan->link_update.v);
	free(plan->link_insert.v);
}

/*
 * A person in id order. Ids are "p-" and 16 lowercase hex digits, so the
 * number those digits spell orders them as their bytes do: sorting and the
 * merge compare integers and touch the person only when a row differs.
 */
struct person_key {
	uint64_t key;
	int32_t person;
}
#if defined(__GNUC__)
__attribute__((packed)) /* 12 bytes, not 16: one per person */
#endif
;

/* The number of "p-" and 16 lowercase hex digits in len bytes; -1 for any other text. */
static int id_key(uint64_t *out, const unsigned char *text, size_t len)
{
	/* Digit values plus one; 0 for anything else. A table: the digits of a hash are random. */
	static const unsigned char value[256] = {
		['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8,
		['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	};
	uint64_t key = 0;
	unsigned all = 1;
	size_t i;

	if (len != IDENTITY_PERSON_ID_LEN || text[0] != 'p' || text[1] != '-')
		return -1;
	for (i = 2; i < len; i++) {
		unsigned v = value[text[i]];
		all &= v != 0;
		key = key << 4 | ((uint64_t)(v - 1) & 15);
	}
	if (!all)
		return -1;
	*out = key;
	return 0;
}

/* By id; of equal ids (a SHA-256 collision), the first person first. */
static int key_less(const struct person_key *a, const struct person_key *b)
{
	return a->key != b->key ? a->key < b->key : a->person < b->person;
}

/*
 * Sorts in place: qsort would take a second array as large as this one (a
 * merge sort), which was the person refresh's peak. A quicksort on the
 * middle element (the keys are hashes: random), smaller side first.
 */
static void sort_person_keys(struct person_key *v, size_t n)
{
	size_t k;

	while (n > 16) {
		struct person_key pivot = v[n / 2], t;
		size_t i = 0, j = n - 1;

		for (;;) {
			while (key_less(&v[i], &pivot))
				i++;
			while (key_less(&pivot, &v[j]))
				j--;
			if (i >= j)
				break;
			t = v[i];
			v[i] = v[j];
			v[j] = t;
			i++;
			j--;
		}
		/* v[0..j] <= pivot <= v[j+1..n) */
		if (j + 1 < n - j - 1) {
			sort_person_keys(v, j + 1);
			v += j + 1;
			n -= j + 1;
		} else {
			sort_person_keys(v + j + 1, n - j - 1);
			n = j + 1;
		}
	}
	for (k = 1; k < n; k++) {
		struct person_key t = v[k];
		size_t at = k;
		for (; at > 0 && key_less(&t, &v[at - 1]); at--)
			v[at] = v[at - 1];
		v[at] = t;
	}
}

/*
 * The persons are visited in id order, which is random in memory: the merge
 * asks for a person some rows ahead, and then for its strings, so that they
 * are in cache when their row comes.
 */
#if defined(__GNUC__)
#define IDENTITY_PREFETCH(p) __builtin_prefetch(p)
#else
#define IDENTITY_PREFETCH(p) ((void)(p))
#endif
#define PREFETCH_AHEAD 8

static void prefetch_persons(const struct identity *id, const struct person_key *order, size_t n,
			     size_t k)
{
	if (k + 2 * PREFETCH_AHEAD < n)
		IDENTITY_PREFETCH(&id->persons[order[k + 2 * PREFETCH_AHEAD].person]);
	if (k + PREFETCH_AHEAD < n) {
		const struct person *ahead = &id->persons[order[k + PREFETCH_AHEAD].person];
		IDENTITY_PREFETCH(ahead->email);
		IDENTITY_PREFETCH(ahead->name);
	}
}

/* Compares a resolved id with a stored one of len bytes, as SQLite orders TEXT keys. */
static int key_compare(const char *id, const unsigned char *stored, size_t len)
{
	size_t id_len = strlen(id);
	size_t common = id_len < len ? id_len : len;
	int c = common ? memcmp(id, stored, common) : 0;

	return c ? c : (id_len > len) - (id_len < len);
}

/* 1 if column col of q holds exactly text (NULL: holds NULL). */
static int column_is(sqlite3_stmt *q, int col, const char *text)
{
	int type = sqlite3_column_type(q, col);
	size_t len;

	if (!text)
		return type == SQLITE_NULL;
	if (type != SQLITE_TEXT)
		return 0;
	len = strlen(text);
	return (size_t)sqlite3_column_bytes(q, col) == len &&
	       memcmp(sqlite3_column_text(q, col), text, len) == 0;
}

/*
 * Persons: the stored rows in id order against order[0..n-1], the resolved
 * persons in id order with one person per id.
 */
static int plan_persons(struct save_plan *plan, sqlite3 *db, const struct identity *id,
			const struct person_key *order, size_t n)
{
	sqlite3_stmt *q = NULL;
	char text[IDENTITY_PERSON_ID_LEN + 1];
	size_t k = 0;
	int rc = 0, step;

	if (sqlite3_prepare_v2(db, "SELECT id, email, name FROM person ORDER BY id", -1, &q, NULL) !=
	    SQLITE_OK)
		return LR_EDB;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		int type = sqlite3_column_type(q, 0), c = 1;
		const unsigned char *stored = sqlite3_column_blob(q, 0);
		size_t len = (size_t)sqlite3_column_bytes(q, 0);
		uint64_t key;
		int keyed = type == SQLITE_TEXT && id_key(&key, stored, len) == 0;

		/* Something else than TEXT (a BLOB put there by hand) is never a person id. */
		while (type == SQLITE_TEXT && k < n) {
			if (keyed)
				c = order[k].key < key ? -1 : order[k].key > key;
			else
				c = key_compare(format_id(text, id->persons[order[k].person].id), stored,
						len);
			if (c >= 0)
				break;
			if ((rc = ivec_push(&plan->person_insert, order[k++].person)) != 0)
				goto out;
		}
		if (type == SQLITE_TEXT && k < n && c == 0) {
			const struct person *p = &id->persons[order[k].person];
			prefetch_persons(id, order, n, k);
			if (!column_is(q, 1, p->email) || !column_is(q, 2, p->name))
				rc = ivec_push(&plan->person_update, order[k].person);
			k++;
		} else {
			rc = idlist_push(&plan->person_delete, stored, len, type);
		}
		if (rc != 0)
			goto out;
	}
	if (step != SQLITE_DONE) {
		rc = LR_EDB;
		goto out;
	}
	plan->person_tail = k;
out:
	sqlite3_finalize(q);
	return rc;
}

/* Links: the stored rows in agent id order against the agents (ascending already). */
static int plan_links(struct save_plan *plan, sqlite3 *db, const struct identity *id)
{
	sqlite3_stmt *q = NULL;
	char text[IDENTITY_PERSON_ID_LEN + 1];
	long i = 0;
	int rc = 0, step;

	if (sqlite3_prepare_v2(db, "SELECT agent_id, person_id FROM person_agent ORDER BY agent_id", -1,
			       &q, NULL) != SQLITE_OK)
		return LR_EDB;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		int64_t agent_id = sqlite3_column_int64(q, 0);

		while (i < id->n_agents && agent_row_id(id, i) < agent_id) {
			if ((rc = ivec_push(&plan->link_insert, i++)) != 0)
				goto out;
		}
		if (i < id->n_agents && agent_row_id(id, i) == agent_id) {
			if (!column_is(q, 1, format_id(text, id->persons[id->agent_person[i]].id)))
				rc = ivec_push(&plan->link_update, i);
			i++;
		} else {
			rc = ivec_push(&plan->link_delete, agent_id);
		}
		if (rc != 0)
			goto out;
	}
	if (step != SQLITE_DONE) {
		rc = LR_EDB;
		goto out;
	}
	plan->link_tail = i;
out:
	sqlite3_finalize(q);
	return rc;
}

/*
 * Runs sql once per entry of list, then once per entry of the tail (the
 * persons of order[from..to), or the agents from..to when order is NULL),
 * bound by bind(q, entry); nothing when both are empty.
 */
static int apply_tail(sqlite3 *db, const char *sql, const struct ivec *list, const struct identity *id,
		      void (*bind)(sqlite3_stmt *q, const struct identity *id, int64_t entry),
		      const struct person_key *order, size_t from, size_t to)
{
	sqlite3_stmt *q = NULL;
	size_t k, n = list->n + (to > from ? to - from : 0);
	int rc = 0;

	if (n == 0)
		return 0;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return LR_EDB;
	for (k = 0; k < n; k++) {
		size_t t = from + (k - list->n);
		bind(q, id, k < list->n ? list->v[k] : order ? (int64_t)order[t].person : (int64_t)t);
		if (sqlite3_step(q) != SQLITE_DONE) {
			rc = LR_EDB;
			break;
		}
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	return rc;
}

static int apply(sqlite3 *db, const char *sql, const struct ivec *list, const struct identity *id,
		 void (*bind)(sqlite3_stmt *q, const struct identity *id, int64_t entry))
{
	return apply_tail(db, sql, list, id, bind, NULL, 0, 0);
}

static void bind_person(sqlite3_stmt *q, const struct identity *id, int64_t person)
{
	const struct person *p = &id->persons[person];
	char text[IDENTITY_PERSON_ID_LEN + 1];

	sqlite3_bind_text(q, 1, format_id(text, p->id), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 2, p->email, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, p->name, -1, SQLITE_STATIC);
}

static void bind_link(sqlite3_stmt *q, const struct identity *id, int64_t agent)
{
	char text[IDENTITY_PERSON_ID_LEN + 1];

	sqlite3_bind_int64(q, 1, agent_row_id(id, agent));
	sqlite3_bind_text(q, 2, format_id(text, id->persons[id->agent_person[agent]].id), -1,
			  SQLITE_TRANSIENT);
}

static void bind_agent_id(sqlite3_stmt *q, const struct identity *id, int64_t agent_id)
{
	(void)id;
	sqlite3_bind_int64(q, 1, agent_id);
}

static int apply_person_deletes(sqlite3 *db, const struct idlist *l)
{
	sqlite3_stmt *q = NULL;
	size_t k;
	int rc = 0;

	if (l->at.n == 0)
		return 0;
	if (sqlite3_prepare_v2(db, "DELETE FROM person WHERE id = ?", -1, &q, NULL) != SQLITE_OK)
		return LR_EDB;
	for (k = 0; k + 2 < l->at.n; k += 3) {
		const char *text = l->text ? l->text + l->at.v[k] : "";
		int len = (int)l->at.v[k + 1];
		if (l->at.v[k + 2] == SQLITE_TEXT)
			sqlite3_bind_text(q, 1, text, len, SQLITE_STATIC);
		else
			sqlite3_bind_blob(q, 1, len ? text : "", len, SQLITE_STATIC);
		if (sqlite3_step(q) != SQLITE_DONE) {
			rc = LR_EDB;
			break;
		}
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	return rc;
}

int identity_save(const struct identity *id, struct lr_error *err, struct store *s)
{
	sqlite3 *db = store__db(s);
	struct person_key *order = NULL;
	struct save_plan plan;
	size_t n = 0;
	long i;
	int rc;

	memset(&plan, 0, sizeof(plan));
	order = malloc((id->n_persons ? (size_t)id->n_persons : 1) * sizeof(*order));
	if (!order)
		return lr_error_set(err, LR_ENOMEM, "out of memory saving persons");
	for (i = 0; i < id->n_persons; i++) {
		order[i].key = id->persons[i].id;
		order[i].person = (int32_t)i;
	}
	sort_person_keys(order, (size_t)id->n_persons);
	/* Two sets can share an id only if SHA-256 collides: keep the first. */
	for (i = 0; i < id->n_persons; i++) {
		if (n == 0 || order[n - 1].key != order[i].key)
			order[n++] = order[i];
	}
	if ((rc = store_begin(s, err)) != 0)
		goto out;
	/* Deletes first, then updates, then inserts in key order. */
	if ((rc = plan_persons(&plan, db, id, order, n)) != 0 ||
	    (rc = plan_links(&plan, db, id)) != 0 ||
	    (rc = apply_person_deletes(db, &plan.person_delete)) != 0 ||
	    (rc = apply(db, "UPDATE person SET email = ?2, name = ?3 WHERE id = ?1", &plan.person_update,
			id, bind_person)) != 0 ||
	    (rc = apply_tail(db, "INSERT INTO person(id, email, name) VALUES(?1, ?2, ?3)",
			     &plan.person_insert, id, bind_person, order, plan.person_tail, n)) != 0 ||
	    (rc = apply(db, "DELETE FROM person_agent WHERE agent_id = ?1", &plan.link_delete, id,
			bind_agent_id)) != 0 ||
	    (rc = apply(db, "UPDATE person_agent SET person_id = ?2 WHERE agent_id = ?1", &plan.link_update,
			id, bind_link)) != 0 ||
	    (rc = apply_tail(db, "INSERT INTO person_agent(agent_id, person_id) VALUES(?1, ?2)",
			     &plan.link_insert, id, bind_link, NULL, (size_t)plan.link_tail,
			     (size_t)id->n_agents)) != 0) {
		if (rc == LR_ENOMEM)
			lr_error_set(err, LR_ENOMEM, "out of memory saving persons");
		else
			rc = lr_error_set(err, LR_EDB, "saving persons: %s", sqlite3_errmsg(db));
		store_rollback(s);
		goto out;
	}
	rc = store_commit(s, err);
out:
	save_plan_free(&plan);
	free(order);
	return rc;
}

int identity_refresh(struct lr_error *err, struct store *s)
{
	struct identity *id = NULL;
	int cache, rc;

	/*
	 * The resolution holds every agent in memory and reads the agent table
	 * once: after an ingest the connection's page cache is full, so it is
	 * made small meanwhile (and given back), which lowers the peak by most
	 * of the cache.
	 */
	cache = store_cache_kib(s, 1024);
	store_release_memory(s);
#ifdef __GLIBC__
	malloc_trim(0); /* the heap the ingest freed, given back before the peak */
#endif
	rc = identity_resolve(&id, err, s);
	if (rc == 0)
		rc = identity_save(id, err, s);
	identity_free(id);
	store_cache_kib(s, cache);
	return rc;
}
