/*
 * xapi.h: xAPI statements: validation against the Data part of the xAPI
 * specification (1.0.3, plus 2.0.0's additions), the comparison digest that
 * decides whether two statements with the same id are "the same", the
 * content-derived id of a statement sent without one, and the facts the
 * store indexes (verb, object, actor, time, result).
 *
 * Statements are jansson values. Nothing here prints or allocates on the
 * error path; errors name a JSON path in err->field ("verb.id",
 * "context.contextActivities.parent[0].id") and say what is wrong in
 * err->text ("is not an IRI").
 */
#ifndef LRHUB_XAPI_H
#define LRHUB_XAPI_H

#include <stddef.h>
#include <stdint.h>

#include "uuid.h"

struct json_t;
struct lr_error;

/* Which xAPI version's rules to apply (flags for xapi_validate). */
enum xapi_flags {
	XAPI_ACCEPT_ANY = 0,    /* accept what either 1.0.3 or 2.0.0 allows (file ingest) */
	XAPI_STRICT_103 = 1,    /* 1.0.3 only: refuse contextAgents, contextGroups, ... */
	XAPI_STRICT_200 = 2,    /* 2.0.0 only */
	/*
	 * Only in store_source.xapi_flags: the caller has validated the
	 * statement with the other flags already (and added only what the LRS
	 * sets), so the store does not validate it again.
	 */
	XAPI_VALIDATED = 0x100
};

#define XAPI_VERB_VOIDED "http://adlnet.gov/expapi/verbs/voided"

/*
 * Checks that statement (borrowed) is a valid xAPI statement. Returns 0, or
 * LR_EINVAL with err->field and err->text saying where and what. Properties
 * the LRS sets (stored, authority, version) are checked when present.
 * XAPI_STRICT_103 also refuses version "2.0..." and context.contextAgents /
 * contextGroups; XAPI_STRICT_200 also refuses a single Activity (not in an
 * array) in contextActivities and a timestamp without a time zone. Texts
 * are short lower-case phrases ("is required", "is not an IRI", "is not
 * allowed here"); a value that is not an object at all has an empty field
 * and the text "the statement must be a JSON object". Does not allocate.
 */
int xapi_validate(struct lr_error *err, const struct json_t *statement, unsigned flags);

/*
 * Writes the SHA-256 of the statement's comparison form into out: the
 * statement with the differences that xAPI 2.3.1 ("Statement Immutability")
 * lists as exceptions removed: no id, authority, stored, version or
 * attachments; timestamps as a UTC instant; no activity definitions; no verb
 * display; Group members in a sorted order; mbox and mbox_sha1sum in lower
 * case; keys sorted. Two statements are "the same" when their digests are
 * equal. statement must have passed xapi_validate. Returns 0 or LR_ENOMEM.
 *
 * In detail, the comparison form is canonical JSON (no white space, keys in
 * strcmp order, only '"', '\' and control characters escaped, numbers by
 * value so that 65 and 65.0 are equal) of the statement where also: a
 * SubStatement gets the same treatment; an absent objectType is written as
 * its default (Agent for agents, Activity for activities); a single
 * contextActivities Activity is an array of one; registration and
 * StatementRef ids are lower case; result.duration keeps at most two
 * decimals of seconds (xAPI 4.6). Changing any of this changes every
 * stored digest and derived id.
 */
int xapi_digest(unsigned char out[32], const struct json_t *statement);

/*
 * Writes the id lrhub gives a statement that arrived without one: the
 * version 5 UUID (namespace UUID_NS_LRHUB) of "xapi\n" + org + "\n" + the
 * hex of the comparison digest. Deterministic: the same statement from the
 * same org always gets the same id. Returns 0 or LR_ENOMEM.
 */
int xapi_derive_id(char out[UUID_STR_LEN + 1], const char *org, const unsigned char digest[32]);

/* What the store indexes about a statement. Strings are borrowed from it. */
struct xapi_facts {
	const char *id;             /* the statement id as given, NULL if absent */
	const char *verb_id;
	const char *object_type;    /* "Activity", "Agent", "Group", "StatementRef", "SubStatement" */
	const char *object_id;      /* Activity id or StatementRef id, else NULL */
	const char *registration;   /* context.registration, else NULL */
	const char *voided_id;      /* target id when the verb is "voided", else NULL */
	const struct json_t *actor; /* the actor object */
	const char *actor_type;     /* "Agent" or "Group" */
	int64_t timestamp_ms;       /* valid when has_timestamp */
	int has_timestamp;
	int completion;             /* result.completion: 1 true, 0 false, -1 absent */
	int success;                /* result.success: 1, 0, -1 absent */
	double score_scaled;        /* valid when has_score_scaled */
	int has_score_scaled;
};

/* Fills out from a statement that passed xapi_validate. */
void xapi_facts(struct xapi_facts *out, const struct json_t *statement);

#endif
