/*
 * xapi.c: validating xAPI statements, their comparison digest, derived ids
 * and indexed facts (see xapi.h).
 *
 * Validation is one pass over the jansson tree with no allocation: each
 * object's known properties are looked up once, an object with more
 * properties than were found has an unknown one, and the JSON path of the
 * value being checked is kept as a small stack of borrowed key pointers and
 * array indexes that is only turned into text when an error is reported.
 *
 * The digest hashes the statement's comparison form (xAPI 2.3.1), written
 * as canonical JSON straight from the jansson tree, without a copy.
 */
#include "xapi.h"
#include "error.h"
#include "hash.h"
#include "uuid.h"
#include "xtime.h"

#include <jansson.h>

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ */
/* Syntax checks                                                        */
/* ------------------------------------------------------------------ */

static int is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_alnum(int c)
{
	return is_alpha(c) || is_digit(c);
}

static int is_hex(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * An absolute IRI at a practical level (RFC 3987): a scheme (a letter, then
 * letters, digits, "+", "-", "."), a colon, something after it, and none of
 * the characters an IRI can never hold (white space, controls, <>"{}|\^`).
 */
static int iri_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (!is_alpha(*p))
		return 0;
	for (p++; is_alnum(*p) || *p == '+' || *p == '-' || *p == '.'; p++)
		;
	if (*p != ':' || p[1] == '\0')
		return 0;
	for (p++; *p; p++) {
		if (*p <= 0x20 || *p == 0x7f)
			return 0;
		switch (*p) { /* not strchr: a call per character was 10 % of validation */
		case '<': case '>': case '"': case '{': case '}': case '|': case '\\': case '^':
		case '`':
			return 0;
		default:
			break;
		}
	}
	return 1;
}

/* The irregular grandfathered tags of RFC 5646, which the grammar does not cover. */
static const char *const lang_irregular[] = {
	"en-GB-oed", "i-ami", "i-bnn", "i-default", "i-enochian", "i-hak",
	"i-klingon", "i-lux", "i-mingo", "i-navajo", "i-pwn", "i-tao", "i-tay",
	"i-tsu", "sgn-BE-FR", "sgn-BE-NL", "sgn-CH-DE"
};

/* 1 if each of the len characters at s is in the class cls. */
static int subtag_all(const char *s, size_t len, int (*cls)(int))
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (!cls((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/*
 * 1 if tag is a well-formed RFC 5646 language tag (section 2.1 grammar:
 * language[-extlang][-script][-region]*(-variant)*(-extension)[-privateuse],
 * a private-use tag, or an irregular grandfathered tag), else 0.
 */
static int lang_tag_valid(const char *tag)
{
	const char *sub[64];
	size_t len[64], n = 0, i = 0, k, ext;
	const char *p = tag, *start;

	for (k = 0; k < sizeof(lang_irregular) / sizeof(lang_irregular[0]); k++) {
		if (strcasecmp(tag, lang_irregular[k]) == 0)
			return 1;
	}
	/* Split into subtags of 1 to 8 letters or digits. */
	for (;;) {
		start = p;
		while (is_alnum((unsigned char)*p))
			p++;
		if (p == start || p - start > 8 || n == sizeof(sub) / sizeof(sub[0]))
			return 0;
		sub[n] = start;
		len[n++] = (size_t)(p - start);
		if (*p == '\0')
			break;
		if (*p++ != '-')
			return 0;
	}
	if (len[0] == 1 && (sub[0][0] == 'x' || sub[0][0] == 'X'))
		goto privateuse;
	/* language: 2*3ALPHA [-extlang] / 4ALPHA / 5*8ALPHA */
	if (len[0] < 2 || !subtag_all(sub[0], len[0], is_alpha))
		return 0;
	i = 1;
	if (len[0] <= 3) {
		for (ext = 0; ext < 3 && i < n && len[i] == 3 && subtag_all(sub[i], 3, is_alpha); ext++)
			i++;
	}
	/* script: 4ALPHA */
	if (i < n && len[i] == 4 && subtag_all(sub[i], 4, is_alpha))
		i++;
	/* region: 2ALPHA / 3DIGIT */
	if (i < n && ((len[i] == 2 && subtag_all(sub[i], 2, is_alpha)) ||
		      (len[i] == 3 && subtag_all(sub[i], 3, is_digit))))
		i++;
	/* variant: 5*8alphanum / (DIGIT 3alphanum) */
	while (i < n && (len[i] >= 5 || (len[i] == 4 && is_digit((unsigned char)sub[i][0]))))
		i++;
	/* extension: singleton 1*("-" 2*8alphanum) */
	while (i < n && len[i] == 1 && sub[i][0] != 'x' && sub[i][0] != 'X') {
		i++;
		if (i == n || len[i] < 2)
			return 0;
		while (i < n && len[i] >= 2)
			i++;
	}
	if (i == n)
		return 1;
	if (len[i] != 1 || (sub[i][0] != 'x' && sub[i][0] != 'X'))
		return 0;
privateuse:
	/* privateuse: "x" 1*("-" 1*8alphanum) */
	return n - i >= 2;
}

/* mailto:local@domain, no white space anywhere. */
static int mbox_valid(const char *s)
{
	const char *at = NULL, *p;

	if (strncasecmp(s, "mailto:", 7) != 0)
		return 0;
	for (p = s + 7; *p; p++) {
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '<' || *p == '>')
			return 0;
		if (*p == '@')
			at = p;
	}
	return at && at > s + 7 && at[1] != '\0';
}

static int hex_string(const char *s, size_t *len)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		if (!is_hex((unsigned char)s[i]))
			return 0;
	}
	*len = i;
	return 1;
}

/* "1.0", "1.0.N...", "2.0", "2.0.N..." (N a digit). */
static int version_valid(const char *s, unsigned flags)
{
	if (strncmp(s, "1.0", 3) != 0 && strncmp(s, "2.0", 3) != 0)
		return 0;
	if (s[0] == '2' && (flags & XAPI_STRICT_103))
		return 0;
	if (s[3] == '\0')
		return 1;
	if (s[3] != '.' || !is_digit((unsigned char)s[4]))
		return 0;
	for (s += 4; *s; s++) {
		if (!is_alnum((unsigned char)*s) && *s != '.' && *s != '-' && *s != '+')
			return 0;
	}
	return 1;
}

/* ------------------------------------------------------------------ */
/* Validation context: the JSON path and the error                      */
/* ------------------------------------------------------------------ */

#define PATH_DEPTH 24 /* the grammar nests at most about 12 deep */

struct path_seg {
	const char *key;  /* NULL for an array index */
	size_t index;
};

struct vctx {
	struct lr_error *err;
	unsigned flags;
	int depth;
	struct path_seg path[PATH_DEPTH];
};

static void push_key(struct vctx *c, const char *key)
{
	assert(c->depth < PATH_DEPTH);
	c->path[c->depth].key = key;
	c->path[c->depth].index = 0;
	c->depth++;
}

static void push_index(struct vctx *c, size_t index)
{
	assert(c->depth < PATH_DEPTH);
	c->path[c->depth].key = NULL;
	c->path[c->depth].index = index;
	c->depth++;
}

static void pop(struct vctx *c)
{
	assert(c->depth > 0);
	c->depth--;
}

/* Drops a UTF-8 sequence that a cut left incomplete at the end of s. */
static void cut_utf8(char *s)
{
	size_t len = strlen(s), lead = len, need;
	unsigned char c;

	while (lead > 0 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
		lead--;
	if (lead == 0)
		return;
	c = (unsigned char)s[lead - 1];
	if (c < 0x80)
		return;
	need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
	if (len - (lead - 1) < need)
		s[lead - 1] = '\0';
}

/*
 * Reports an error at the current path (plus key when not NULL) and returns
 * LR_EINVAL. The path is written as "a.b[2].c", cut to fit.
 */
__attribute__((format(printf, 3, 4)))
static int fail(struct vctx *c, const char *key, const char *fmt, ...)
{
	char field[LR_ERROR_FIELD_MAX];
	char text[LR_ERROR_TEXT_MAX];
	size_t used = 0;
	va_list ap;
	int i, n;

	if (!c->err || c->err->code != 0)
		return LR_EINVAL;
	if (key)
		push_key(c, key);
	field[0] = '\0';
	for (i = 0; i < c->depth; i++) {
		if (c->path[i].key)
			n = snprintf(field + used, sizeof(field) - used, "%s%s",
				     used ? "." : "", c->path[i].key);
		else
			n = snprintf(field + used, sizeof(field) - used, "[%zu]", c->path[i].index);
		if (n < 0 || (size_t)n >= sizeof(field) - used) {
			cut_utf8(field);
			break;
		}
		used += (size_t)n;
	}
	if (key)
		pop(c);
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	lr_error_set(c->err, LR_EINVAL, "%s", text);
	lr_error_field(c->err, field);
	return LR_EINVAL;
}

/* Type checks: 0 if v (at path + key) has the type, else an error. */
static int wrong_type(struct vctx *c, const json_t *v, const char *key, const char *what)
{
	if (json_is_null(v))
		return fail(c, key, "must not be null");
	return fail(c, key, "must be %s", what);
}

static int want_object(struct vctx *c, const json_t *v, const char *key)
{
	return json_is_object(v) ? 0 : wrong_type(c, v, key, "an object");
}

static int want_array(struct vctx *c, const json_t *v, const char *key)
{
	return json_is_array(v) ? 0 : wrong_type(c, v, key, "an array");
}

static int want_string(struct vctx *c, const json_t *v, const char *key)
{
	return json_is_string(v) ? 0 : wrong_type(c, v, key, "a string");
}

static int want_bool(struct vctx *c, const json_t *v, const char *key)
{
	return json_is_boolean(v) ? 0 : wrong_type(c, v, key, "a boolean");
}

static int want_number(struct vctx *c, const json_t *v, const char *key)
{
	return json_is_number(v) ? 0 : wrong_type(c, v, key, "a number");
}

/*
 * Looks up the n known properties names[] of obj into values[] (NULL when
 * absent) and refuses any other property.
 */
static int take(struct vctx *c, const json_t *obj, const char *const *names,
		const json_t **values, size_t n)
{
	size_t i, found = 0;
	const char *key;
	json_t *value;

	for (i = 0; i < n; i++) {
		values[i] = json_object_get(obj, names[i]);
		if (values[i])
			found++;
	}
	if (found == json_object_size(obj))
		return 0;
	json_object_foreach((json_t *)obj, key, value) {
		for (i = 0; i < n; i++) {
			if (strcmp(key, names[i]) == 0)
				break;
		}
		if (i == n)
			return fail(c, key, "is not allowed here");
	}
	return fail(c, NULL, "has a property that is not allowed here");
}

static int check_iri(struct vctx *c, const json_t *v, const char *key)
{
	int rc = want_string(c, v, key);

	if (rc == 0 && !iri_valid(json_string_value(v)))
		rc = fail(c, key, "is not an IRI");
	return rc;
}

static int check_uuid(struct vctx *c, const json_t *v, const char *key)
{
	int rc = want_string(c, v, key);

	if (rc == 0 && !uuid_is_valid(json_string_value(v)))
		rc = fail(c, key, "is not a valid UUID");
	return rc;
}

static int check_timestamp(struct vctx *c, const json_t *v, const char *key)
{
	int64_t ms;
	int rc = want_string(c, v, key);

	if (rc == 0 && xtime_parse(&ms, json_string_value(v), !(c->flags & XAPI_STRICT_200)) != 0)
		rc = fail(c, key, "is not a valid timestamp");
	return rc;
}

static int check_lang_map(struct vctx *c, const json_t *map, const char *key)
{
	const char *tag;
	json_t *value;
	int rc;

	if ((rc = want_object(c, map, key)) != 0)
		return rc;
	push_key(c, key);
	json_object_foreach((json_t *)map, tag, value) {
		if (!lang_tag_valid(tag)) {
			rc = fail(c, tag, "is not a language tag");
			break;
		}
		if ((rc = want_string(c, value, tag)) != 0)
			break;
	}
	pop(c);
	return rc;
}

/* Extension keys are IRIs; their values are anything, null included. */
static int check_extensions(struct vctx *c, const json_t *map, const char *key)
{
	const char *iri;
	json_t *value;
	int rc;

	if ((rc = want_object(c, map, key)) != 0)
		return rc;
	push_key(c, key);
	json_object_foreach((json_t *)map, iri, value) {
		if (!iri_valid(iri)) {
			rc = fail(c, iri, "is not an IRI");
			break;
		}
	}
	pop(c);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Agents and Groups                                                    */
/* ------------------------------------------------------------------ */

/* Where an Agent or Group appears, which decides what it may be. */
enum actor_place {
	PLACE_ACTOR,      /* Agent or Group, objectType optional */
	PLACE_OBJECT,     /* Agent or Group, objectType present (the caller saw it) */
	PLACE_MEMBER,     /* Agent only */
	PLACE_GROUP,      /* Group only, objectType required (team, contextGroups) */
	PLACE_AUTHORITY   /* Agent, or an anonymous Group of two (3-legged OAuth) */
};

enum { AG_OBJECTTYPE, AG_NAME, AG_MBOX, AG_MBOX_SHA1SUM, AG_OPENID, AG_ACCOUNT, AG_MEMBER, AG_N };
static const char *const agent_keys[AG_N] = {
	"objectType", "name", "mbox", "mbox_sha1sum", "openid", "account", "member"
};

static int check_account(struct vctx *c, const json_t *account)
{
	static const char *const keys[] = { "homePage", "name" };
	const json_t *v[2];
	int rc;

	if ((rc = want_object(c, account, "account")) != 0)
		return rc;
	push_key(c, "account");
	if ((rc = take(c, account, keys, v, 2)) != 0)
		goto out;
	if (!v[0]) {
		rc = fail(c, "homePage", "is required");
		goto out;
	}
	if ((rc = check_iri(c, v[0], "homePage")) != 0)
		goto out;
	if (!v[1]) {
		rc = fail(c, "name", "is required");
		goto out;
	}
	rc = want_string(c, v[1], "name");
out:
	pop(c);
	return rc;
}

static int check_actor(struct vctx *c, const json_t *agent, enum actor_place place);

static int check_members(struct vctx *c, const json_t *members, int anonymous, int authority)
{
	size_t i;
	int rc;

	if ((rc = want_array(c, members, "member")) != 0)
		return rc;
	if (anonymous && json_array_size(members) == 0)
		return fail(c, "member", "must not be empty");
	if (authority && json_array_size(members) != 2)
		return fail(c, "member", "must have exactly 2 members");
	push_key(c, "member");
	for (i = 0; i < json_array_size(members) && rc == 0; i++) {
		push_index(c, i);
		rc = check_actor(c, json_array_get(members, i), PLACE_MEMBER);
		pop(c);
	}
	pop(c);
	return rc;
}

/* Checks the Agent or Group at the current path (the caller pushed its key). */
static int check_actor(struct vctx *c, const json_t *agent, enum actor_place place)
{
	const json_t *v[AG_N];
	int rc, is_group = 0, ifis = 0, i;

	if ((rc = want_object(c, agent, NULL)) != 0)
		return rc;
	if ((rc = take(c, agent, agent_keys, v, AG_N)) != 0)
		return rc;
	if (v[AG_OBJECTTYPE]) {
		const char *type;

		if ((rc = want_string(c, v[AG_OBJECTTYPE], "objectType")) != 0)
			return rc;
		type = json_string_value(v[AG_OBJECTTYPE]);
		is_group = strcmp(type, "Group") == 0;
		if (place == PLACE_MEMBER && strcmp(type, "Agent") != 0)
			return fail(c, "objectType", "must be Agent");
		if (place == PLACE_GROUP && !is_group)
			return fail(c, "objectType", "must be Group");
		if (!is_group && strcmp(type, "Agent") != 0)
			return fail(c, "objectType", "must be Agent or Group");
	} else if (place == PLACE_GROUP) {
		return fail(c, "objectType", "is required");
	}
	if (v[AG_NAME] && (rc = want_string(c, v[AG_NAME], "name")) != 0)
		return rc;
	for (i = AG_MBOX; i <= AG_ACCOUNT; i++)
		ifis += v[i] != NULL;
	if (ifis > 1 || (ifis == 0 && !is_group))
		return fail(c, NULL, "must have exactly one of mbox, mbox_sha1sum, openid, account");
	if (v[AG_MBOX]) {
		if ((rc = want_string(c, v[AG_MBOX], "mbox")) != 0)
			return rc;
		if (!mbox_valid(json_string_value(v[AG_MBOX])))
			return fail(c, "mbox", "must be a mailto IRI");
	}
	if (v[AG_MBOX_SHA1SUM]) {
		size_t len = 0;

		if ((rc = want_string(c, v[AG_MBOX_SHA1SUM], "mbox_sha1sum")) != 0)
			return rc;
		if (!hex_string(json_string_value(v[AG_MBOX_SHA1SUM]), &len) || len != 40)
			return fail(c, "mbox_sha1sum", "must be 40 hex digits");
	}
	if (v[AG_OPENID] && (rc = check_iri(c, v[AG_OPENID], "openid")) != 0)
		return rc;
	if (v[AG_ACCOUNT] && (rc = check_account(c, v[AG_ACCOUNT])) != 0)
		return rc;
	if (!is_group) {
		if (v[AG_MEMBER])
			return fail(c, "member", "is not allowed here");
		return 0;
	}
	if (place == PLACE_AUTHORITY && ifis != 0)
		return fail(c, NULL, "must be an Agent or an anonymous Group");
	if (!v[AG_MEMBER]) {
		if (ifis == 0)
			return fail(c, "member", "is required");
		return 0;
	}
	return check_members(c, v[AG_MEMBER], ifis == 0, place == PLACE_AUTHORITY);
}

/* check_actor for the property key of the current object. */
static int check_actor_at(struct vctx *c, const json_t *agent, const char *key,
			  enum actor_place place)
{
	int rc;

	push_key(c, key);
	rc = check_actor(c, agent, place);
	pop(c);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Verb, Activity, StatementRef                                         */
/* ------------------------------------------------------------------ */

static int check_verb(struct vctx *c, const json_t *verb)
{
	static const char *const keys[] = { "id", "display" };
	const json_t *v[2];
	int rc;

	if ((rc = want_object(c, verb, "verb")) != 0)
		return rc;
	push_key(c, "verb");
	if ((rc = take(c, verb, keys, v, 2)) != 0)
		goto out;
	if (!v[0]) {
		rc = fail(c, "id", "is required");
		goto out;
	}
	if ((rc = check_iri(c, v[0], "id")) != 0)
		goto out;
	if (v[1])
		rc = check_lang_map(c, v[1], "display");
out:
	pop(c);
	return rc;
}

enum interaction {
	IT_NONE, IT_TRUE_FALSE, IT_CHOICE, IT_FILL_IN, IT_LONG_FILL_IN, IT_MATCHING,
	IT_PERFORMANCE, IT_SEQUENCING, IT_LIKERT, IT_NUMERIC, IT_OTHER, IT_N
};
static const char *const interaction_names[IT_N] = {
	"", "true-false", "choice", "fill-in", "long-fill-in", "matching",
	"performance", "sequencing", "likert", "numeric", "other"
};

enum {
	DEF_NAME, DEF_DESCRIPTION, DEF_TYPE, DEF_MOREINFO, DEF_EXTENSIONS,
	DEF_INTERACTIONTYPE, DEF_CRP, DEF_CHOICES, DEF_SCALE, DEF_SOURCE,
	DEF_TARGET, DEF_STEPS, DEF_N
};
static const char *const definition_keys[DEF_N] = {
	"name", "description", "type", "moreInfo", "extensions", "interactionType",
	"correctResponsesPattern", "choices", "scale", "source", "target", "steps"
};

/* Which component list (DEF_CHOICES..DEF_STEPS) an interaction type may use. */
static int component_allowed(enum interaction type, int list)
{
	switch (list) {
	case DEF_CHOICES: return type == IT_CHOICE || type == IT_SEQUENCING;
	case DEF_SCALE: return type == IT_LIKERT;
	case DEF_SOURCE:
	case DEF_TARGET: return type == IT_MATCHING;
	case DEF_STEPS: return type == IT_PERFORMANCE;
	}
	return 0;
}

static int check_components(struct vctx *c, const json_t *list, const char *key)
{
	static const char *const keys[] = { "id", "description" };
	const json_t *v[2];
	size_t i, j;
	int rc;

	if ((rc = want_array(c, list, key)) != 0)
		return rc;
	push_key(c, key);
	for (i = 0; i < json_array_size(list) && rc == 0; i++) {
		const json_t *component = json_array_get(list, i);

		push_index(c, i);
		if ((rc = want_object(c, component, NULL)) != 0 ||
		    (rc = take(c, component, keys, v, 2)) != 0)
			goto next;
		if (!v[0]) {
			rc = fail(c, "id", "is required");
			goto next;
		}
		if ((rc = want_string(c, v[0], "id")) != 0)
			goto next;
		for (j = 0; j < i; j++) {
			const json_t *other = json_object_get(json_array_get(list, j), "id");

			if (json_equal((json_t *)other, (json_t *)v[0])) {
				rc = fail(c, "id", "is not unique");
				goto next;
			}
		}
		if (v[1])
			rc = check_lang_map(c, v[1], "description");
next:
		pop(c);
	}
	pop(c);
	return rc;
}

static int check_definition(struct vctx *c, const json_t *definition)
{
	const json_t *v[DEF_N];
	enum interaction type = IT_NONE;
	size_t i;
	int rc, list;

	if ((rc = want_object(c, definition, "definition")) != 0)
		return rc;
	push_key(c, "definition");
	if ((rc = take(c, definition, definition_keys, v, DEF_N)) != 0)
		goto out;
	if (v[DEF_NAME] && (rc = check_lang_map(c, v[DEF_NAME], "name")) != 0)
		goto out;
	if (v[DEF_DESCRIPTION] && (rc = check_lang_map(c, v[DEF_DESCRIPTION], "description")) != 0)
		goto out;
	if (v[DEF_TYPE] && (rc = check_iri(c, v[DEF_TYPE], "type")) != 0)
		goto out;
	if (v[DEF_MOREINFO] && (rc = check_iri(c, v[DEF_MOREINFO], "moreInfo")) != 0)
		goto out;
	if (v[DEF_EXTENSIONS] && (rc = check_extensions(c, v[DEF_EXTENSIONS], "extensions")) != 0)
		goto out;
	if (v[DEF_INTERACTIONTYPE]) {
		if ((rc = want_string(c, v[DEF_INTERACTIONTYPE], "interactionType")) != 0)
			goto out;
		for (i = IT_NONE + 1; i < IT_N; i++) {
			if (strcmp(json_string_value(v[DEF_INTERACTIONTYPE]), interaction_names[i]) == 0)
				break;
		}
		if (i == IT_N) {
			rc = fail(c, "interactionType", "is not an interaction type");
			goto out;
		}
		type = (enum interaction)i;
	}
	if (v[DEF_CRP]) {
		const json_t *crp = v[DEF_CRP];

		if (type == IT_NONE) {
			rc = fail(c, "correctResponsesPattern", "requires interactionType");
			goto out;
		}
		if ((rc = want_array(c, crp, "correctResponsesPattern")) != 0)
			goto out;
		push_key(c, "correctResponsesPattern");
		for (i = 0; i < json_array_size(crp) && rc == 0; i++) {
			push_index(c, i);
			rc = want_string(c, json_array_get(crp, i), NULL);
			pop(c);
		}
		pop(c);
		if (rc != 0)
			goto out;
	}
	for (list = DEF_CHOICES; list <= DEF_STEPS; list++) {
		if (!v[list])
			continue;
		if (type == IT_NONE) {
			rc = fail(c, definition_keys[list], "requires interactionType");
			goto out;
		}
		if (!component_allowed(type, list)) {
			rc = fail(c, definition_keys[list], "is not allowed for interactionType %s",
				  interaction_names[type]);
			goto out;
		}
		if ((rc = check_components(c, v[list], definition_keys[list])) != 0)
			goto out;
	}
out:
	pop(c);
	return rc;
}

/* An Activity at the current path (a Statement's object or a context Activity). */
static int check_activity(struct vctx *c, const json_t *activity)
{
	static const char *const keys[] = { "objectType", "id", "definition" };
	const json_t *v[3];
	int rc;

	if ((rc = want_object(c, activity, NULL)) != 0 ||
	    (rc = take(c, activity, keys, v, 3)) != 0)
		return rc;
	if (v[0]) {
		if ((rc = want_string(c, v[0], "objectType")) != 0)
			return rc;
		if (strcmp(json_string_value(v[0]), "Activity") != 0)
			return fail(c, "objectType", "must be Activity");
	}
	if (!v[1])
		return fail(c, "id", "is required");
	if ((rc = check_iri(c, v[1], "id")) != 0)
		return rc;
	if (v[2])
		rc = check_definition(c, v[2]);
	return rc;
}

/* A StatementRef at the current path. */
static int check_statement_ref(struct vctx *c, const json_t *ref)
{
	static const char *const keys[] = { "objectType", "id" };
	const json_t *v[2];
	int rc;

	if ((rc = want_object(c, ref, NULL)) != 0 ||
	    (rc = take(c, ref, keys, v, 2)) != 0)
		return rc;
	if (!v[0])
		return fail(c, "objectType", "is required");
	if ((rc = want_string(c, v[0], "objectType")) != 0)
		return rc;
	if (strcmp(json_string_value(v[0]), "StatementRef") != 0)
		return fail(c, "objectType", "must be StatementRef");
	if (!v[1])
		return fail(c, "id", "is required");
	return check_uuid(c, v[1], "id");
}

/* ------------------------------------------------------------------ */
/* Result, Context, Attachments                                         */
/* ------------------------------------------------------------------ */

static int check_score(struct vctx *c, const json_t *score)
{
	static const char *const keys[] = { "scaled", "raw", "min", "max" };
	const json_t *v[4];
	double raw = 0, min = 0, max = 0;
	int rc, i;

	if ((rc = want_object(c, score, "score")) != 0)
		return rc;
	push_key(c, "score");
	if ((rc = take(c, score, keys, v, 4)) != 0)
		goto out;
	for (i = 0; i < 4; i++) {
		if (v[i] && (rc = want_number(c, v[i], keys[i])) != 0)
			goto out;
	}
	if (v[0]) {
		double scaled = json_number_value(v[0]);

		if (scaled < -1 || scaled > 1) {
			rc = fail(c, "scaled", "must be between -1 and 1");
			goto out;
		}
	}
	if (v[1])
		raw = json_number_value(v[1]);
	if (v[2])
		min = json_number_value(v[2]);
	if (v[3])
		max = json_number_value(v[3]);
	if (v[2] && v[3] && !(min < max)) {
		rc = fail(c, "min", "must be less than max");
		goto out;
	}
	if (v[1] && v[2] && raw < min) {
		rc = fail(c, "raw", "must not be less than min");
		goto out;
	}
	if (v[1] && v[3] && raw > max)
		rc = fail(c, "raw", "must not be greater than max");
out:
	pop(c);
	return rc;
}

static int check_result(struct vctx *c, const json_t *result)
{
	static const char *const keys[] = {
		"score", "success", "completion", "response", "duration", "extensions"
	};
	const json_t *v[6];
	int rc;

	if ((rc = want_object(c, result, "result")) != 0)
		return rc;
	push_key(c, "result");
	if ((rc = take(c, result, keys, v, 6)) != 0)
		goto out;
	if (v[0] && (rc = check_score(c, v[0])) != 0)
		goto out;
	if (v[1] && (rc = want_bool(c, v[1], "success")) != 0)
		goto out;
	if (v[2] && (rc = want_bool(c, v[2], "completion")) != 0)
		goto out;
	if (v[3] && (rc = want_string(c, v[3], "response")) != 0)
		goto out;
	if (v[4]) {
		if ((rc = want_string(c, v[4], "duration")) != 0)
			goto out;
		if (!xtime_duration_valid(json_string_value(v[4]))) {
			rc = fail(c, "duration", "is not an ISO 8601 duration");
			goto out;
		}
	}
	if (v[5])
		rc = check_extensions(c, v[5], "extensions");
out:
	pop(c);
	return rc;
}

static int check_context_activities(struct vctx *c, const json_t *map)
{
	static const char *const keys[] = { "parent", "grouping", "category", "other" };
	const json_t *v[4];
	size_t i;
	int rc, k;

	if ((rc = want_object(c, map, "contextActivities")) != 0)
		return rc;
	push_key(c, "contextActivities");
	if ((rc = take(c, map, keys, v, 4)) != 0)
		goto out;
	for (k = 0; k < 4 && rc == 0; k++) {
		if (!v[k])
			continue;
		push_key(c, keys[k]);
		if (json_is_array(v[k])) {
			for (i = 0; i < json_array_size(v[k]) && rc == 0; i++) {
				push_index(c, i);
				rc = check_activity(c, json_array_get(v[k], i));
				pop(c);
			}
		} else if (json_is_object(v[k]) && !(c->flags & XAPI_STRICT_200)) {
			/* A single Activity: allowed by 1.0.3 for 0.95 compatibility. */
			rc = check_activity(c, v[k]);
		} else {
			rc = wrong_type(c, v[k], NULL, "an array");
		}
		pop(c);
	}
out:
	pop(c);
	return rc;
}

/*
 * xAPI 2.0 contextAgents / contextGroups: arrays of
 * {objectType: "contextAgent", agent, relevantTypes?} and
 * {objectType: "contextGroup", group, relevantTypes?}.
 */
static int check_context_actors(struct vctx *c, const json_t *list, int groups)
{
	const char *list_key = groups ? "contextGroups" : "contextAgents";
	const char *type_name = groups ? "contextGroup" : "contextAgent";
	const char *keys[3] = { "objectType", groups ? "group" : "agent", "relevantTypes" };
	const json_t *v[3];
	size_t i, j;
	int rc;

	if (c->flags & XAPI_STRICT_103)
		return fail(c, list_key, "is not allowed in xAPI 1.0.3");
	if ((rc = want_array(c, list, list_key)) != 0)
		return rc;
	push_key(c, list_key);
	for (i = 0; i < json_array_size(list) && rc == 0; i++) {
		const json_t *item = json_array_get(list, i);

		push_index(c, i);
		if ((rc = want_object(c, item, NULL)) != 0 ||
		    (rc = take(c, item, keys, v, 3)) != 0)
			goto next;
		if (!v[0]) {
			rc = fail(c, "objectType", "is required");
			goto next;
		}
		if ((rc = want_string(c, v[0], "objectType")) != 0)
			goto next;
		if (strcmp(json_string_value(v[0]), type_name) != 0) {
			rc = fail(c, "objectType", "must be %s", type_name);
			goto next;
		}
		if (!v[1]) {
			rc = fail(c, keys[1], "is required");
			goto next;
		}
		if ((rc = check_actor_at(c, v[1], keys[1], groups ? PLACE_GROUP : PLACE_MEMBER)) != 0)
			goto next;
		if (v[2]) {
			if ((rc = want_array(c, v[2], "relevantTypes")) != 0)
				goto next;
			if (json_array_size(v[2]) == 0) {
				rc = fail(c, "relevantTypes", "must not be empty");
				goto next;
			}
			push_key(c, "relevantTypes");
			for (j = 0; j < json_array_size(v[2]) && rc == 0; j++) {
				push_index(c, j);
				rc = check_iri(c, json_array_get(v[2], j), NULL);
				pop(c);
			}
			pop(c);
		}
next:
		pop(c);
	}
	pop(c);
	return rc;
}

enum {
	CX_REGISTRATION, CX_INSTRUCTOR, CX_TEAM, CX_CONTEXTACTIVITIES, CX_REVISION,
	CX_PLATFORM, CX_LANGUAGE, CX_STATEMENT, CX_EXTENSIONS, CX_CONTEXTAGENTS,
	CX_CONTEXTGROUPS, CX_N
};
static const char *const context_keys[CX_N] = {
	"registration", "instructor", "team", "contextActivities", "revision",
	"platform", "language", "statement", "extensions", "contextAgents", "contextGroups"
};

static int check_context(struct vctx *c, const json_t *context, int object_is_activity)
{
	const json_t *v[CX_N];
	int rc;

	if ((rc = want_object(c, context, "context")) != 0)
		return rc;
	push_key(c, "context");
	if ((rc = take(c, context, context_keys, v, CX_N)) != 0)
		goto out;
	if (v[CX_REGISTRATION] && (rc = check_uuid(c, v[CX_REGISTRATION], "registration")) != 0)
		goto out;
	if (v[CX_INSTRUCTOR] &&
	    (rc = check_actor_at(c, v[CX_INSTRUCTOR], "instructor", PLACE_ACTOR)) != 0)
		goto out;
	if (v[CX_TEAM] && (rc = check_actor_at(c, v[CX_TEAM], "team", PLACE_GROUP)) != 0)
		goto out;
	if (v[CX_CONTEXTACTIVITIES] &&
	    (rc = check_context_activities(c, v[CX_CONTEXTACTIVITIES])) != 0)
		goto out;
	if (v[CX_REVISION]) {
		if ((rc = want_string(c, v[CX_REVISION], "revision")) != 0)
			goto out;
		if (!object_is_activity) {
			rc = fail(c, "revision", "is allowed only when the object is an Activity");
			goto out;
		}
	}
	if (v[CX_PLATFORM]) {
		if ((rc = want_string(c, v[CX_PLATFORM], "platform")) != 0)
			goto out;
		if (!object_is_activity) {
			rc = fail(c, "platform", "is allowed only when the object is an Activity");
			goto out;
		}
	}
	if (v[CX_LANGUAGE]) {
		if ((rc = want_string(c, v[CX_LANGUAGE], "language")) != 0)
			goto out;
		if (!lang_tag_valid(json_string_value(v[CX_LANGUAGE]))) {
			rc = fail(c, "language", "is not a language tag");
			goto out;
		}
	}
	if (v[CX_STATEMENT]) {
		push_key(c, "statement");
		rc = check_statement_ref(c, v[CX_STATEMENT]);
		pop(c);
		if (rc != 0)
			goto out;
	}
	if (v[CX_EXTENSIONS] && (rc = check_extensions(c, v[CX_EXTENSIONS], "extensions")) != 0)
		goto out;
	if (v[CX_CONTEXTAGENTS] && (rc = check_context_actors(c, v[CX_CONTEXTAGENTS], 0)) != 0)
		goto out;
	if (v[CX_CONTEXTGROUPS])
		rc = check_context_actors(c, v[CX_CONTEXTGROUPS], 1);
out:
	pop(c);
	return rc;
}

enum {
	AT_USAGETYPE, AT_DISPLAY, AT_DESCRIPTION, AT_CONTENTTYPE, AT_LENGTH, AT_SHA2,
	AT_FILEURL, AT_N
};
static const char *const attachment_keys[AT_N] = {
	"usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"
};

static int check_attachment(struct vctx *c, const json_t *attachment)
{
	const json_t *v[AT_N];
	size_t len;
	int rc;

	if ((rc = want_object(c, attachment, NULL)) != 0 ||
	    (rc = take(c, attachment, attachment_keys, v, AT_N)) != 0)
		return rc;
	if (!v[AT_USAGETYPE])
		return fail(c, "usageType", "is required");
	if ((rc = check_iri(c, v[AT_USAGETYPE], "usageType")) != 0)
		return rc;
	if (!v[AT_DISPLAY])
		return fail(c, "display", "is required");
	if ((rc = check_lang_map(c, v[AT_DISPLAY], "display")) != 0)
		return rc;
	if (v[AT_DESCRIPTION] && (rc = check_lang_map(c, v[AT_DESCRIPTION], "description")) != 0)
		return rc;
	if (!v[AT_CONTENTTYPE])
		return fail(c, "contentType", "is required");
	if ((rc = want_string(c, v[AT_CONTENTTYPE], "contentType")) != 0)
		return rc;
	if (!v[AT_LENGTH])
		return fail(c, "length", "is required");
	if (!json_is_integer(v[AT_LENGTH]))
		return wrong_type(c, v[AT_LENGTH], "length", "an integer");
	if (json_integer_value(v[AT_LENGTH]) < 0)
		return fail(c, "length", "must not be negative");
	if (!v[AT_SHA2])
		return fail(c, "sha2", "is required");
	if ((rc = want_string(c, v[AT_SHA2], "sha2")) != 0)
		return rc;
	/* Hex of SHA-224, SHA-256, SHA-384 or SHA-512. */
	if (!hex_string(json_string_value(v[AT_SHA2]), &len) ||
	    (len != 56 && len != 64 && len != 96 && len != 128))
		return fail(c, "sha2", "is not a SHA-2 hex digest");
	if (v[AT_FILEURL])
		rc = check_iri(c, v[AT_FILEURL], "fileUrl");
	return rc;
}

static int check_attachments(struct vctx *c, const json_t *list)
{
	size_t i;
	int rc;

	if ((rc = want_array(c, list, "attachments")) != 0)
		return rc;
	push_key(c, "attachments");
	for (i = 0; i < json_array_size(list) && rc == 0; i++) {
		push_index(c, i);
		rc = check_attachment(c, json_array_get(list, i));
		pop(c);
	}
	pop(c);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Statements                                                           */
/* ------------------------------------------------------------------ */

enum object_type { OT_ACTIVITY, OT_AGENT, OT_GROUP, OT_STATEMENTREF, OT_SUBSTATEMENT, OT_N };
static const char *const object_type_names[OT_N] = {
	"Activity", "Agent", "Group", "StatementRef", "SubStatement"
};

static int check_statement(struct vctx *c, const json_t *statement, int is_sub);

static int check_object(struct vctx *c, const json_t *object, int in_sub, enum object_type *type)
{
	const json_t *ot;
	int rc, i;

	if ((rc = want_object(c, object, "object")) != 0)
		return rc;
	push_key(c, "object");
	*type = OT_ACTIVITY;
	if ((ot = json_object_get(object, "objectType")) != NULL) {
		if ((rc = want_string(c, ot, "objectType")) != 0)
			goto out;
		for (i = 0; i < OT_N; i++) {
			if (strcmp(json_string_value(ot), object_type_names[i]) == 0)
				break;
		}
		if (i == OT_N) {
			rc = fail(c, "objectType",
				  "must be one of Activity, Agent, Group, StatementRef, SubStatement");
			goto out;
		}
		*type = (enum object_type)i;
	}
	switch (*type) {
	case OT_ACTIVITY:
		rc = check_activity(c, object);
		break;
	case OT_AGENT:
	case OT_GROUP:
		rc = check_actor(c, object, PLACE_OBJECT);
		break;
	case OT_STATEMENTREF:
		rc = check_statement_ref(c, object);
		break;
	case OT_SUBSTATEMENT:
		if (in_sub)
			rc = fail(c, "objectType", "cannot be SubStatement inside a SubStatement");
		else
			rc = check_statement(c, object, 1);
		break;
	case OT_N:
		break;
	}
out:
	pop(c);
	return rc;
}

enum {
	ST_ID, ST_ACTOR, ST_VERB, ST_OBJECT, ST_RESULT, ST_CONTEXT, ST_TIMESTAMP,
	ST_STORED, ST_AUTHORITY, ST_VERSION, ST_ATTACHMENTS, ST_OBJECTTYPE, ST_N
};
static const char *const statement_keys[ST_N] = {
	"id", "actor", "verb", "object", "result", "context", "timestamp",
	"stored", "authority", "version", "attachments", "objectType"
};

/* A Statement (is_sub 0) or SubStatement (is_sub 1) at the current path. */
static int check_statement(struct vctx *c, const json_t *statement, int is_sub)
{
	static const int not_in_sub[] = { ST_ID, ST_STORED, ST_VERSION, ST_AUTHORITY };
	const json_t *v[ST_N];
	enum object_type type = OT_ACTIVITY;
	size_t i;
	int rc;

	if (!json_is_object(statement))
		return fail(c, NULL, "the statement must be a JSON object");
	if ((rc = take(c, statement, statement_keys, v, ST_N)) != 0)
		return rc;
	if (is_sub) {
		for (i = 0; i < sizeof(not_in_sub) / sizeof(not_in_sub[0]); i++) {
			if (v[not_in_sub[i]])
				return fail(c, statement_keys[not_in_sub[i]], "is not allowed in a SubStatement");
		}
	} else if (v[ST_OBJECTTYPE]) {
		return fail(c, "objectType", "is not allowed here");
	}
	if (v[ST_ID] && (rc = check_uuid(c, v[ST_ID], "id")) != 0)
		return rc;
	if (!v[ST_ACTOR])
		return fail(c, "actor", "is required");
	if ((rc = check_actor_at(c, v[ST_ACTOR], "actor", PLACE_ACTOR)) != 0)
		return rc;
	if (!v[ST_VERB])
		return fail(c, "verb", "is required");
	if ((rc = check_verb(c, v[ST_VERB])) != 0)
		return rc;
	if (!v[ST_OBJECT])
		return fail(c, "object", "is required");
	if ((rc = check_object(c, v[ST_OBJECT], is_sub, &type)) != 0)
		return rc;
	if (!is_sub && type != OT_STATEMENTREF &&
	    strcmp(json_string_value(json_object_get(v[ST_VERB], "id")), XAPI_VERB_VOIDED) == 0)
		return fail(c, "object.objectType", "must be StatementRef when the verb is voided");
	if (v[ST_RESULT] && (rc = check_result(c, v[ST_RESULT])) != 0)
		return rc;
	if (v[ST_CONTEXT] && (rc = check_context(c, v[ST_CONTEXT], type == OT_ACTIVITY)) != 0)
		return rc;
	if (v[ST_TIMESTAMP] && (rc = check_timestamp(c, v[ST_TIMESTAMP], "timestamp")) != 0)
		return rc;
	if (v[ST_STORED] && (rc = check_timestamp(c, v[ST_STORED], "stored")) != 0)
		return rc;
	if (v[ST_AUTHORITY] &&
	    (rc = check_actor_at(c, v[ST_AUTHORITY], "authority", PLACE_AUTHORITY)) != 0)
		return rc;
	if (v[ST_VERSION]) {
		if ((rc = want_string(c, v[ST_VERSION], "version")) != 0)
			return rc;
		if (!version_valid(json_string_value(v[ST_VERSION]), c->flags))
			return fail(c, "version", "is not a supported version");
	}
	if (v[ST_ATTACHMENTS])
		rc = check_attachments(c, v[ST_ATTACHMENTS]);
	return rc;
}

int xapi_validate(struct lr_error *err, const json_t *statement, unsigned flags)
{
	struct vctx c;
	struct lr_error scratch;

	c.err = err ? err : &scratch;
	if (!err)
		lr_error_clear(&scratch);
	c.flags = flags;
	c.depth = 0;
	return check_statement(&c, statement, 0);
}

/* ------------------------------------------------------------------ */
/* Comparison digest                                                    */
/* ------------------------------------------------------------------ */

/*
 * The comparison form is written straight from the statement, without a
 * copy, as canonical JSON: no white space, object keys in strcmp() order,
 * strings with only '"', '\\' and control characters escaped (as \u00XX),
 * numbers by value (an integral number as an integer, whether it was
 * written "65" or "65.0", any other as "%.17g"). On the way, each part of
 * the statement is rewritten as xapi.h describes; `enum canon` says which
 * part a value is.
 */
enum canon {
	C_PLAIN,              /* any JSON value, as it is */
	C_STATEMENT,
	C_SUBSTATEMENT,
	C_AGENT,              /* Agent or Group */
	C_MEMBERS,            /* a Group's member array: sorted */
	C_VERB,
	C_OBJECT,             /* a Statement's object: by objectType */
	C_ACTIVITY,
	C_STATEMENTREF,
	C_CONTEXT,
	C_CONTEXTACTIVITIES,
	C_ACTIVITY_LIST,      /* one contextActivities value: always an array */
	C_CONTEXTAGENTS,
	C_CONTEXTGROUPS,
	C_CONTEXTAGENT,
	C_CONTEXTGROUP,
	C_RESULT,
	C_LOWER,              /* a string compared in lower case */
	C_TIMESTAMP,          /* a timestamp, as UTC with milliseconds */
	C_DURATION            /* a duration, seconds cut to 0.01 (xAPI 4.6) */
};

struct canon_buf {
	char *data;
	size_t len, cap;
	int oom;
	char stack[2048];
};

static void cb_init(struct canon_buf *b)
{
	b->data = b->stack;
	b->len = 0;
	b->cap = sizeof(b->stack);
	b->oom = 0;
}

static void cb_free(struct canon_buf *b)
{
	if (b->data != b->stack)
		free(b->data);
}

static void cb_put(struct canon_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap * 2;
		char *grown;

		while (cap < b->len + n)
			cap *= 2;
		grown = b->data == b->stack ? malloc(cap) : realloc(b->data, cap);
		if (!grown) {
			b->oom = 1;
			return;
		}
		if (b->data == b->stack)
			memcpy(grown, b->stack, b->len);
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

static void cb_char(struct canon_buf *b, char c)
{
	if (!b->oom && b->len < b->cap)
		b->data[b->len++] = c;
	else
		cb_put(b, &c, 1);
}

static void cb_string(struct canon_buf *b, const char *s, size_t n, int lower)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;
	char esc[6];

	cb_char(b, '"');
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x20 && ch != '"' && ch != '\\' && !(lower && ch >= 'A' && ch <= 'Z'))
			continue;
		cb_put(b, s + run, i - run);
		run = i + 1;
		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			cb_put(b, esc, 2);
		} else if (ch < 0x20) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 15];
			cb_put(b, esc, 6);
		} else {
			cb_char(b, (char)(ch - 'A' + 'a'));
		}
	}
	cb_put(b, s + run, n - run);
	cb_char(b, '"');
}

static void cb_number(struct canon_buf *b, const json_t *v)
{
	char text[40];
	double d;
	int n;

	if (json_is_integer(v)) {
		n = snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else {
		d = json_real_value(v);
		/* Range first: casting a double out of long long's range is undefined. */
		if (d > -9007199254740992.0 && d < 9007199254740992.0 && d == (double)(long long)d)
			n = snprintf(text, sizeof(text), "%lld", (long long)d);
		else
			n = snprintf(text, sizeof(text), "%.17g", d);
	}
	cb_put(b, text, (size_t)n);
}

struct canon_member {
	const char *key;
	const json_t *value;     /* NULL: write default_text */
	const char *default_text;
};

static int compare_canon_members(const void *a, const void *b)
{
	return strcmp(((const struct canon_member *)a)->key, ((const struct canon_member *)b)->key);
}

static void canon_value(struct canon_buf *b, const json_t *v, enum canon kind);

/* Which part of the statement obj[key] is, obj being a `kind`. */
static enum canon canon_child(enum canon kind, const char *key)
{
	switch (kind) {
	case C_STATEMENT:
	case C_SUBSTATEMENT:
		if (strcmp(key, "actor") == 0)
			return C_AGENT;
		if (strcmp(key, "verb") == 0)
			return C_VERB;
		if (strcmp(key, "object") == 0)
			return C_OBJECT;
		if (strcmp(key, "context") == 0)
			return C_CONTEXT;
		if (strcmp(key, "timestamp") == 0)
			return C_TIMESTAMP;
		if (strcmp(key, "result") == 0)
			return C_RESULT;
		return C_PLAIN;
	case C_RESULT:
		return strcmp(key, "duration") == 0 ? C_DURATION : C_PLAIN;
	case C_AGENT:
		if (strcmp(key, "mbox") == 0 || strcmp(key, "mbox_sha1sum") == 0)
			return C_LOWER;
		if (strcmp(key, "member") == 0)
			return C_MEMBERS;
		return C_PLAIN;
	case C_STATEMENTREF:
		return strcmp(key, "id") == 0 ? C_LOWER : C_PLAIN;
	case C_CONTEXT:
		if (strcmp(key, "registration") == 0)
			return C_LOWER;
		if (strcmp(key, "instructor") == 0 || strcmp(key, "team") == 0)
			return C_AGENT;
		if (strcmp(key, "contextActivities") == 0)
			return C_CONTEXTACTIVITIES;
		if (strcmp(key, "statement") == 0)
			return C_STATEMENTREF;
		if (strcmp(key, "contextAgents") == 0)
			return C_CONTEXTAGENTS;
		if (strcmp(key, "contextGroups") == 0)
			return C_CONTEXTGROUPS;
		return C_PLAIN;
	case C_CONTEXTACTIVITIES:
		return C_ACTIVITY_LIST;
	case C_CONTEXTAGENT:
		return strcmp(key, "agent") == 0 ? C_AGENT : C_PLAIN;
	case C_CONTEXTGROUP:
		return strcmp(key, "group") == 0 ? C_AGENT : C_PLAIN;
	default:
		return C_PLAIN;
	}
}

/* 1 if obj (a `kind`) leaves key out of its comparison form. */
static int canon_dropped(enum canon kind, const char *key)
{
	switch (kind) {
	case C_STATEMENT:
	case C_SUBSTATEMENT:
		return strcmp(key, "id") == 0 || strcmp(key, "authority") == 0 ||
		       strcmp(key, "stored") == 0 || strcmp(key, "version") == 0 ||
		       strcmp(key, "attachments") == 0;
	case C_VERB:
		return strcmp(key, "display") == 0;
	case C_ACTIVITY:
		return strcmp(key, "definition") == 0;
	default:
		return 0;
	}
}

static void canon_object(struct canon_buf *b, const json_t *obj, enum canon kind)
{
	struct canon_member stack[24], *members = stack;
	const char *key, *default_type = NULL;
	size_t n = 0, i, size = json_object_size(obj) + 1;
	json_t *value;

	if (kind == C_AGENT)
		default_type = "Agent";
	else if (kind == C_ACTIVITY)
		default_type = "Activity";
	if (default_type && json_object_get(obj, "objectType"))
		default_type = NULL;
	if (size > sizeof(stack) / sizeof(stack[0]) &&
	    (members = malloc(size * sizeof(*members))) == NULL) {
		b->oom = 1;
		return;
	}
	json_object_foreach((json_t *)obj, key, value) {
		if (canon_dropped(kind, key))
			continue;
		members[n].key = key;
		members[n].value = value;
		members[n++].default_text = NULL;
	}
	if (default_type) {
		members[n].key = "objectType";
		members[n].value = NULL;
		members[n++].default_text = default_type;
	}
	qsort(members, n, sizeof(*members), compare_canon_members);
	cb_char(b, '{');
	for (i = 0; i < n; i++) {
		if (i > 0)
			cb_char(b, ',');
		cb_string(b, members[i].key, strlen(members[i].key), 0);
		cb_char(b, ':');
		if (members[i].value)
			canon_value(b, members[i].value, canon_child(kind, members[i].key));
		else
			cb_string(b, members[i].default_text, strlen(members[i].default_text), 0);
	}
	cb_char(b, '}');
	if (members != stack)
		free(members);
}

static void canon_array(struct canon_buf *b, const json_t *array, enum canon element)
{
	size_t i;

	cb_char(b, '[');
	for (i = 0; i < json_array_size(array); i++) {
		if (i > 0)
			cb_char(b, ',');
		canon_value(b, json_array_get(array, i), element);
	}
	cb_char(b, ']');
}

struct canon_text {
	char *text;
	size_t len;
};

static int compare_canon_texts(const void *a, const void *b)
{
	const struct canon_text *x = a, *y = b;
	int c = memcmp(x->text, y->text, x->len < y->len ? x->len : y->len);

	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* A Group's members, each in its comparison form, in sorted order. */
static void canon_members(struct canon_buf *b, const json_t *members)
{
	struct canon_text *items;
	struct canon_buf one;
	size_t n = json_array_size(members), i, done = 0;

	if (n < 2) {
		canon_array(b, members, C_AGENT);
		return;
	}
	if ((items = calloc(n, sizeof(*items))) == NULL) {
		b->oom = 1;
		return;
	}
	for (i = 0; i < n; i++, done++) {
		cb_init(&one);
		canon_value(&one, json_array_get(members, i), C_AGENT);
		if (one.oom || (items[i].text = malloc(one.len ? one.len : 1)) == NULL) {
			cb_free(&one);
			b->oom = 1;
			goto out;
		}
		memcpy(items[i].text, one.data, one.len);
		items[i].len = one.len;
		cb_free(&one);
	}
	qsort(items, n, sizeof(*items), compare_canon_texts);
	cb_char(b, '[');
	for (i = 0; i < n; i++) {
		if (i > 0)
			cb_char(b, ',');
		cb_put(b, items[i].text, items[i].len);
	}
	cb_char(b, ']');
out:
	for (i = 0; i < done; i++)
		free(items[i].text);
	free(items);
}

/*
 * A duration without the digits of its seconds past 0.01 ("PT1.2345S" and
 * "PT1.23S" are the same: an LRS may cut them, xAPI 4.6).
 */
static void canon_duration(struct canon_buf *b, const char *s, size_t n)
{
	size_t point = n, i;

	if (n >= 2 && s[n - 1] == 'S') {
		for (i = n - 1; i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9'; i--)
			;
		if (i > 0 && (s[i - 1] == '.' || s[i - 1] == ','))
			point = i - 1;
	}
	if (point == n || n - 1 - (point + 1) <= 2) {
		cb_string(b, s, n, 0);
		return;
	}
	cb_char(b, '"');
	cb_put(b, s, point + 3);
	cb_put(b, "S\"", 2);
}

static void canon_value(struct canon_buf *b, const json_t *v, enum canon kind)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (kind == C_OBJECT) {
			const char *type = json_string_value(json_object_get(v, "objectType"));

			if (!type || strcmp(type, "Activity") == 0)
				kind = C_ACTIVITY;
			else if (strcmp(type, "Agent") == 0 || strcmp(type, "Group") == 0)
				kind = C_AGENT;
			else if (strcmp(type, "StatementRef") == 0)
				kind = C_STATEMENTREF;
			else if (strcmp(type, "SubStatement") == 0)
				kind = C_SUBSTATEMENT;
			else
				kind = C_PLAIN;
		} else if (kind == C_ACTIVITY_LIST) {
			/* A single context Activity is the same as an array of one. */
			cb_char(b, '[');
			canon_object(b, v, C_ACTIVITY);
			cb_char(b, ']');
			return;
		}
		canon_object(b, v, kind);
		return;
	case JSON_ARRAY:
		if (kind == C_MEMBERS)
			canon_members(b, v);
		else if (kind == C_ACTIVITY_LIST)
			canon_array(b, v, C_ACTIVITY);
		else if (kind == C_CONTEXTAGENTS)
			canon_array(b, v, C_CONTEXTAGENT);
		else if (kind == C_CONTEXTGROUPS)
			canon_array(b, v, C_CONTEXTGROUP);
		else
			canon_array(b, v, C_PLAIN);
		return;
	case JSON_STRING:
		if (kind == C_TIMESTAMP) {
			char text[XTIME_MAX];
			int64_t ms;

			if (xtime_parse(&ms, json_string_value(v), 1) == 0) {
				xtime_format_ms(text, ms);
				cb_string(b, text, strlen(text), 0);
				return;
			}
		}
		if (kind == C_DURATION) {
			canon_duration(b, json_string_value(v), json_string_length(v));
			return;
		}
		cb_string(b, json_string_value(v), json_string_length(v), kind == C_LOWER);
		return;
	case JSON_INTEGER:
	case JSON_REAL:
		cb_number(b, v);
		return;
	case JSON_TRUE:
		cb_put(b, "true", 4);
		return;
	case JSON_FALSE:
		cb_put(b, "false", 5);
		return;
	case JSON_NULL:
		cb_put(b, "null", 4);
		return;
	}
}

/* Writes the comparison form of statement into b. Returns 0 or LR_ENOMEM. */
static int canon_statement(struct canon_buf *b, const json_t *statement)
{
	canon_value(b, statement, json_is_object(statement) ? C_STATEMENT : C_PLAIN);
	return b->oom ? LR_ENOMEM : 0;
}

int xapi_digest(unsigned char out[32], const json_t *statement)
{
	struct canon_buf b;
	int rc;

	cb_init(&b);
	if ((rc = canon_statement(&b, statement)) == 0)
		rc = hash_sha256(out, b.data, b.len);
	cb_free(&b);
	return rc;
}

int xapi_derive_id(char out[UUID_STR_LEN + 1], const char *org, const unsigned char digest[32])
{
	char stack[256], *name = stack;
	size_t org_len = strlen(org), len = 5 + org_len + 1 + 64;
	int rc;

	if (len + 1 > sizeof(stack) && (name = malloc(len + 1)) == NULL)
		return LR_ENOMEM;
	memcpy(name, "xapi\n", 5);
	memcpy(name + 5, org, org_len);
	name[5 + org_len] = '\n';
	hash_hex(name + 6 + org_len, digest, 32);
	rc = uuid_v5(out, UUID_NS_LRHUB, name, len);
	if (name != stack)
		free(name);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Facts                                                                */
/* ------------------------------------------------------------------ */

static int tristate(const json_t *v)
{
	return json_is_boolean(v) ? json_is_true(v) : -1;
}

void xapi_facts(struct xapi_facts *out, const json_t *statement)
{
	const json_t *object = json_object_get(statement, "object");
	const json_t *result = json_object_get(statement, "result");
	const json_t *score = json_object_get(result, "score");
	const json_t *v;

	memset(out, 0, sizeof(*out));
	out->id = json_string_value(json_object_get(statement, "id"));
	out->verb_id = json_string_value(json_object_get(json_object_get(statement, "verb"), "id"));
	out->actor = json_object_get(statement, "actor");
	out->actor_type = json_string_value(json_object_get(out->actor, "objectType"));
	if (!out->actor_type)
		out->actor_type = "Agent";
	out->object_type = json_string_value(json_object_get(object, "objectType"));
	if (!out->object_type)
		out->object_type = "Activity";
	if (strcmp(out->object_type, "Activity") == 0 || strcmp(out->object_type, "StatementRef") == 0)
		out->object_id = json_string_value(json_object_get(object, "id"));
	if (out->verb_id && strcmp(out->verb_id, XAPI_VERB_VOIDED) == 0 &&
	    strcmp(out->object_type, "StatementRef") == 0)
		out->voided_id = out->object_id;
	out->registration = json_string_value(
		json_object_get(json_object_get(statement, "context"), "registration"));
	v = json_object_get(statement, "timestamp");
	if (json_is_string(v) && xtime_parse(&out->timestamp_ms, json_string_value(v), 1) == 0)
		out->has_timestamp = 1;
	out->completion = tristate(json_object_get(result, "completion"));
	out->success = tristate(json_object_get(result, "success"));
	v = json_object_get(score, "scaled");
	if (json_is_number(v)) {
		out->score_scaled = json_number_value(v);
		out->has_score_scaled = 1;
	}
}
