/*
 * identity.h: who is who. Agents (one per identifier) are joined into
 * persons by union-find over everything the store knows:
 *   - agents with the same normalised email (mbox);
 *   - an mbox_sha1sum and the email it is the hash of (SHA-1 of
 *     "mailto:" + email, and of the bare email, which some tools send);
 *   - identity links "in org O, account name K is email E" (identity import,
 *     LMS user tables), applied to accounts seen in O's data;
 *   - an identity link whose key is itself an email joins the two emails.
 * It is computed from the store each time, so a link added after ingest
 * re-groups data stored before it.
 *
 * A person's id is "p-" and 16 hex digits of SHA-256 of its smallest email
 * (or, with none, its smallest identifier key): stable across runs while the
 * person's identifiers stay the same.
 */
#ifndef LRHUB_IDENTITY_H
#define LRHUB_IDENTITY_H

#include <stdint.h>

struct lr_error;
struct store;
struct identity;

#define IDENTITY_PERSON_ID_LEN 18 /* "p-" + 16 hex, without the NUL */

/* Resolves the persons of store s. *out is new; free it with identity_free. */
int identity_resolve(struct identity **out, struct lr_error *err, struct store *s);
void identity_free(struct identity *id);

/*
 * Makes the store's person and person_agent tables hold exactly the
 * resolved persons, in one transaction of its own, writing only the rows
 * that differ (stored rows are compared in key order, new ones inserted in
 * key order). On failure nothing is changed. These tables are for readers of
 * the database (SQL, reports); lrhub itself always resolves afresh.
 */
int identity_save(const struct identity *id, struct lr_error *err, struct store *s);

/*
 * Resolves and saves: identity_resolve then identity_save, with the store's
 * caches given back first (store_release_memory) and the connection's page
 * cache small meanwhile: after a large ingest this is the peak of memory.
 */
int identity_refresh(struct lr_error *err, struct store *s);

/* The person of an agent row id, or -1 if the agent is unknown. */
long identity_person_of(const struct identity *id, int64_t agent_id);

/* How many persons there are; person numbers run 0..count-1. */
long identity_person_count(const struct identity *id);

/* A person's stable id, written into out, which it returns. */
const char *identity_person_id(const struct identity *id, long person,
			       char out[IDENTITY_PERSON_ID_LEN + 1]);

/* The number the 16 hex digits of a person's id spell: ids order as these numbers do. */
uint64_t identity_person_number(const struct identity *id, long person);

/* A person's email (NULL if none known) and name (NULL if none). Borrowed. */
const char *identity_person_email(const struct identity *id, long person);
const char *identity_person_name(const struct identity *id, long person);

#endif
