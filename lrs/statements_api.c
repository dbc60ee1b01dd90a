/*
 * statements_api.c: the xAPI statements resource (see http.h): PUT and POST
 * with the same validation, ids, duplicate and conflict rules as file ingest
 * (store_put_statement), attachments in multipart/mixed with their SHA-2
 * checked, and GET with every query parameter.
 *
 * A GET query is one prepared statement over the indexed columns (org,
 * verb, activity, stored time, paging position), built from fixed
 * fragments; the conditions the columns cannot express (an agent anywhere
 * in a statement, related activities, registrations in any case) are
 * checked on each row's JSON. Paging is stateless: `more` is a token
 * holding the query and the position, signed with the server key and
 * valid for 24 hours, for the credential that made the query.
 */
#include "statements_api.h"
#include "base64.h"
#include "credentials.h"
#include "error.h"
#include "hash.h"
#include "http.h"
#include "ifi.h"
#include "jsonfast.h"
#include "store.h"
#include "uuid.h"
#include "xapi.h"
#include "xtime.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_LIMIT 100
#define MAX_LIMIT 500
#define TOKEN_TTL_MS (24LL * 3600 * 1000)
#define MAX_STATEMENTS_PER_POST 10000
#define MAX_PARTS 256
#define BUSY_RETRIES 3 /* each after the store's own 30-second busy wait */
#define WRITER_WAIT_S 30 /* for a turn at the shared writer, then 503 */
#define ATTACHMENT_SIGNATURE "http://adlnet.gov/expapi/attachments/signature"

static void context_arrays(json_t *st);

/* ---- small helpers ---- */

/* The stored statement text of a column as a new tree (json_loads of it), or NULL. */
static json_t *load_stored(const unsigned char *text)
{
	return text ? jsonfast_loadb((const char *)text, strlen((const char *)text), 0, NULL) : NULL;
}

static int is_uuid(const char *text)
{
	return text && uuid_is_valid(text);
}

/* Decodes len chars of base64url; returns a new buffer (NUL-terminated) or NULL. */
static unsigned char *b64url_decode(const char *text, size_t len, size_t *out_len)
{
	size_t size = len * 3 / 4 + 2;
	unsigned char *out = malloc(size);
	long n = out ? base64_decode(out, size, text, len) : -1;

	if (n < 0) {
		free(out);
		return NULL;
	}
	*out_len = (size_t)n;
	return out;
}

/* ---- agents and activities inside a statement, for the filters ---- */

static int agent_matches(const json_t *agent, const char *key)
{
	char k[IFI_MAX];

	return json_is_object(agent) && ifi_key(k, sizeof(k), agent) == 0 && strcmp(k, key) == 0;
}

/* An Agent, or a Group (itself or, when related, any member). */
static int actorish_matches(const json_t *agent, const char *key, int members)
{
	const json_t *m;
	size_t i;

	if (agent_matches(agent, key))
		return 1;
	if (members) {
		json_array_foreach(json_object_get(agent, "member"), i, m)
			if (agent_matches(m, key))
				return 1;
	}
	return 0;
}

static int object_is_agent(const json_t *object)
{
	const char *type = json_string_value(json_object_get(object, "objectType"));

	return type && (strcmp(type, "Agent") == 0 || strcmp(type, "Group") == 0);
}

static int statement_has_agent(const json_t *st, const char *key, int related)
{
	const json_t *object = json_object_get(st, "object");
	const json_t *context = json_object_get(st, "context");
	const json_t *v;
	size_t i;

	if (actorish_matches(json_object_get(st, "actor"), key, related))
		return 1;
	if (object_is_agent(object) && actorish_matches(object, key, related))
		return 1;
	if (!related)
		return 0;
	if (actorish_matches(json_object_get(st, "authority"), key, 1))
		return 1;
	if (actorish_matches(json_object_get(context, "instructor"), key, 1) ||
	    actorish_matches(json_object_get(context, "team"), key, 1))
		return 1;
	json_array_foreach(json_object_get(context, "contextAgents"), i, v)
		if (actorish_matches(json_object_get(v, "agent"), key, 1))
			return 1;
	json_array_foreach(json_object_get(context, "contextGroups"), i, v)
		if (actorish_matches(json_object_get(v, "group"), key, 1))
			return 1;
	v = json_string_value(json_object_get(object, "objectType")) ? object : NULL;
	if (v && strcmp(json_string_value(json_object_get(v, "objectType")), "SubStatement") == 0)
		return statement_has_agent(v, key, 1);
	return 0;
}

static int context_has_activity(const json_t *context, const char *id)
{
	static const char *const kinds[] = { "parent", "grouping", "category", "other", NULL };
	const json_t *ca = json_object_get(context, "contextActivities"), *list, *a;
	size_t i;
	int k;

	for (k = 0; kinds[k]; k++) {
		list = json_object_get(ca, kinds[k]);
		if (json_is_object(list)) {
			const char *aid = json_string_value(json_object_get(list, "id"));
			if (aid && strcmp(aid, id) == 0)
				return 1;
		}
		json_array_foreach(list, i, a) {
			const char *aid = json_string_value(json_object_get(a, "id"));
			if (aid && strcmp(aid, id) == 0)
				return 1;
		}
	}
	return 0;
}

static int statement_has_activity(const json_t *st, const char *id, int related)
{
	const json_t *object = json_object_get(st, "object");
	const char *type = json_string_value(json_object_get(object, "objectType"));
	const char *oid = json_string_value(json_object_get(object, "id"));

	if ((!type || strcmp(type, "Activity") == 0) && oid && strcmp(oid, id) == 0)
		return 1;
	if (!related)
		return 0;
	if (context_has_activity(json_object_get(st, "context"), id))
		return 1;
	if (type && strcmp(type, "SubStatement") == 0)
		return statement_has_activity(object, id, 1);
	return 0;
}

/* ---- formats ---- */

static void ids_agent(json_t *agent);

static void ids_group_members(json_t *group)
{
	json_t *m;
	size_t i;

	json_array_foreach(json_object_get(group, "member"), i, m)
		ids_agent(m);
}

/* Keeps objectType and the identifier (members too for an anonymous Group). */
static void ids_agent(json_t *agent)
{
	char key[IFI_MAX];
	int identified;

	if (!json_is_object(agent))
		return;
	identified = ifi_key(key, sizeof(key), agent) == 0;
	json_object_del(agent, "name");
	if (identified)
		json_object_del(agent, "member");
	else
		ids_group_members(agent);
}

static void ids_statement(json_t *st)
{
	json_t *object = json_object_get(st, "object"), *context = json_object_get(st, "context");
	json_t *ca, *list, *a;
	const char *type = json_string_value(json_object_get(object, "objectType"));
	const char *key;
	size_t i;

	ids_agent(json_object_get(st, "actor"));
	ids_agent(json_object_get(st, "authority"));
	json_object_del(json_object_get(st, "verb"), "display");
	if (!type || strcmp(type, "Activity") == 0) {
		json_object_del(object, "definition");
		json_object_del(object, "objectType");
	}
	else if (strcmp(type, "Agent") == 0 || strcmp(type, "Group") == 0)
		ids_agent(object);
	else if (strcmp(type, "SubStatement") == 0)
		ids_statement(object);
	ids_agent(json_object_get(context, "instructor"));
	ids_agent(json_object_get(context, "team"));
	ca = json_object_get(context, "contextActivities");
	json_object_foreach(ca, key, list) {
		if (json_is_object(list))
			json_object_del(list, "definition");
		json_array_foreach(list, i, a)
			json_object_del(a, "definition");
	}
}

static int lang_matches(const char *tag, const char *accept)
{
	size_t n = strlen(tag);

	return strncasecmp(accept, tag, n) == 0 || (strchr(tag, '-') && strncasecmp(accept, tag, (size_t)(strchr(tag, '-') - tag)) == 0);
}

/* Reduces a language map to the entry the client prefers (Accept-Language), else the first. */
static void canonical_map(json_t *map, const char *accept)
{
	const char *key, *pick = NULL;
	json_t *v, *kept;

	if (!json_is_object(map) || json_object_size(map) <= 1)
		return;
	if (accept) {
		const char *p = accept;
		while (*p && !pick) {
			char tag[64];
			size_t n = 0;
			while (*p == ' ' || *p == ',')
				p++;
			while (*p && *p != ',' && *p != ';' && n + 1 < sizeof(tag))
				tag[n++] = *p++;
			tag[n] = '\0';
			while (*p && *p != ',')
				p++;
			if (!n || strcmp(tag, "*") == 0)
				continue;
			json_object_foreach(map, key, v)
				if (!pick && strcasecmp(key, tag) == 0)
					pick = key;
			json_object_foreach(map, key, v)
				if (!pick && lang_matches(key, tag))
					pick = key;
		}
	}
	if (!pick) {
		json_object_foreach(map, key, v) {
			pick = key;
			break;
		}
	}
	kept = json_incref(json_object_get(map, pick));
	{
		char *keep_key = strdup(pick);
		json_object_clear(map);
		if (keep_key && kept)
			json_object_set(map, keep_key, kept);
		free(keep_key);
	}
	json_decref(kept);
}

static void canonical_walk(json_t *v, const char *accept)
{
	const char *key;
	json_t *child;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, key, child) {
			if (strcmp(key, "extensions") == 0)
				continue;
			if ((strcmp(key, "display") == 0 || strcmp(key, "name") == 0 ||
			     strcmp(key, "description") == 0) && json_is_object(child))
				canonical_map(child, accept);
			else
				canonical_walk(child, accept);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, child)
			canonical_walk(child, accept);
	}
}

enum format {
	FORMAT_EXACT = STATEMENTS_EXACT,
	FORMAT_IDS = STATEMENTS_IDS,
	FORMAT_CANONICAL = STATEMENTS_CANONICAL
};

/* contextActivities always as arrays, as xAPI wants them returned. */
static void context_arrays(json_t *st)
{
	json_t *ca = json_object_get(json_object_get(st, "context"), "contextActivities");
	json_t *object = json_object_get(st, "object");
	const char *type = json_string_value(json_object_get(object, "objectType"));
	const char *key;
	json_t *list;

	json_object_foreach(ca, key, list) {
		if (json_is_object(list)) {
			json_t *wrapped = json_array();
			if (wrapped && json_array_append(wrapped, list) == 0)
				json_object_set(ca, key, wrapped);
			json_decref(wrapped);
		}
	}
	if (type && strcmp(type, "SubStatement") == 0)
		context_arrays(object);
}

/* What every answer does to a stored statement: arrays, and a timestamp (the stored time if none). */
static void prepare_output(json_t *st)
{
	json_t *stored = json_object_get(st, "stored");

	context_arrays(st);
	if (!json_object_get(st, "timestamp") && json_is_string(stored))
		json_object_set_new(st, "timestamp", json_string(json_string_value(stored)));
}

static void apply_format(json_t *st, enum format format, const char *accept)
{
	prepare_output(st);
	if (format == FORMAT_IDS)
		ids_statement(st);
	else if (format == FORMAT_CANONICAL)
		canonical_walk(st, accept);
}

/* ---- store access with retries ---- */

static int begin_write(struct store *s, struct lr_error *err)
{
	int i, rc = 0;

	for (i = 0; i < BUSY_RETRIES; i++) {
		lr_error_clear(err);
		rc = store_begin(s, err);
		if (rc != LR_EBUSY)
			return rc;
		usleep(50 * 1000);
	}
	return rc;
}

/* ---- attachments ---- */

struct part {
	const char *content_type;
	size_t content_type_len;
	const char *hash;          /* X-Experience-API-Hash */
	size_t hash_len;
	int binary;                /* Content-Transfer-Encoding: binary */
	const char *body;
	size_t len;
	int used;
};

static const char *find_bytes(const char *hay, size_t hay_len, const char *needle, size_t n)
{
	size_t i;

	if (n == 0 || hay_len < n)
		return NULL;
	for (i = 0; i + n <= hay_len; i++)
		if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0)
			return hay + i;
	return NULL;
}

/* The boundary parameter of a multipart content type, into out. */
static int boundary_of(const char *content_type, char *out, size_t size)
{
	const char *p = content_type ? strcasestr(content_type, "boundary=") : NULL;
	size_t n = 0;

	if (!p)
		return -1;
	p += 9;
	if (*p == '"') {
		p++;
		while (p[n] && p[n] != '"')
			n++;
	} else {
		while (p[n] && p[n] != ';' && p[n] != ' ')
			n++;
	}
	if (n == 0 || n + 1 > size)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

static void part_header(struct part *pt, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	size_t name_len, vlen;
	const char *value;

	if (!colon)
		return;
	name_len = (size_t)(colon - line);
	value = colon + 1;
	while (value < line + len && (*value == ' ' || *value == '\t'))
		value++;
	vlen = (size_t)(line + len - value);
	while (vlen > 0 && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
		vlen--;
	if (name_len == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
		pt->content_type = value;
		pt->content_type_len = vlen;
	} else if (name_len == 21 && strncasecmp(line, "X-Experience-API-Hash", 21) == 0) {
		pt->hash = value;
		pt->hash_len = vlen;
	} else if (name_len == 25 && strncasecmp(line, "Content-Transfer-Encoding", 25) == 0) {
		pt->binary = vlen == 6 && strncasecmp(value, "binary", 6) == 0;
	}
}

/* Splits a multipart/mixed body into parts. Returns the count, or -1 when malformed. */
static int parse_multipart(const char *body, size_t len, const char *boundary, struct part *parts,
			   int max_parts)
{
	char delim[200];
	size_t dlen;
	const char *p, *end = body + len;
	int n = 0;

	dlen = (size_t)snprintf(delim, sizeof(delim), "--%s", boundary);
	if (dlen >= sizeof(delim))
		return -1;
	p = find_bytes(body, len, delim, dlen);
	if (!p)
		return -1;
	for (;;) {
		const char *headers, *hend, *next;
		struct part pt;

		p += dlen;
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			return n;             /* the closing delimiter */
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
			return -1;
		headers = p + 2;
		hend = find_bytes(headers, (size_t)(end - headers), "\r\n\r\n", 4);
		if (!hend) {
			if (end - headers >= 2 && headers[0] == '\r' && headers[1] == '\n')
				hend = headers - 2;  /* no headers at all */
			else
				return -1;
		}
		memset(&pt, 0, sizeof(pt));
		p = headers;
		while (p < hend) {
			const char *eol = find_bytes(p, (size_t)(hend - p), "\r\n", 2);
			if (!eol)
				eol = hend;
			part_header(&pt, p, (size_t)(eol - p));
			p = eol + 2;
		}
		pt.body = hend + 4;
		{
			char cd[204];
			size_t cdlen = (size_t)snprintf(cd, sizeof(cd), "\r\n--%s", boundary);
			next = find_bytes(pt.body, (size_t)(end - pt.body), cd, cdlen);
		}
		if (!next)
			return -1;
		pt.len = (size_t)(next - pt.body);
		if (n >= max_parts)
			return -1;
		parts[n++] = pt;
		p = next + 2;
	}
}

/* Hex SHA-2 (224/256/384/512 by the hash's length) of data; 0 or -1. */
static int sha2_hex(char *out, size_t hex_len, const char *data, size_t len)
{
	const EVP_MD *md;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	switch (hex_len) {
	case 56: md = EVP_sha224(); break;
	case 64: md = EVP_sha256(); break;
	case 96: md = EVP_sha384(); break;
	case 128: md = EVP_sha512(); break;
	default: return -1;
	}
	if (EVP_Digest(data, len, digest, &n, md, NULL) != 1)
		return -1;
	hash_hex(out, digest, n);
	return 0;
}

/*
 * A signature attachment (xAPI Data 2.6): a JWS in compact form whose
 * header names RS256, RS384 or RS512 and whose payload is the statement
 * (compared like statements with the same id). The signature itself is
 * not checked against a key (the JWS rarely carries one). 0, or an HTTP
 * status after filling resp.
 */
static int check_signature(const json_t *st, const json_t *att, const struct part *pt, size_t i,
			   struct http_response *resp)
{
	const char *type = json_string_value(json_object_get(att, "contentType"));
	const char *dot1, *dot2, *end = pt->body + pt->len, *alg;
	unsigned char *text = NULL;
	size_t len;
	json_t *header = NULL, *payload = NULL;
	unsigned char d1[32], d2[32];
	struct lr_error err;
	int rc = 0;

	lr_error_clear(&err);
	if (!type || strcmp(type, "application/octet-stream") != 0)
		return http_error(resp, 400, "statement %zu: a signature attachment must be application/octet-stream", i);
	dot1 = memchr(pt->body, '.', pt->len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1)) : NULL;
	if (!dot1 || !dot2)
		return http_error(resp, 400, "statement %zu: the signature is not a JWS", i);
	text = b64url_decode(pt->body, (size_t)(dot1 - pt->body), &len);
	header = text ? json_loadb((const char *)text, len, 0, NULL) : NULL;
	free(text);
	alg = json_string_value(json_object_get(header, "alg"));
	if (!alg || (strcmp(alg, "RS256") != 0 && strcmp(alg, "RS384") != 0 && strcmp(alg, "RS512") != 0)) {
		rc = http_error(resp, 400, "statement %zu: the signature's algorithm must be RS256, RS384 or RS512", i);
		goto out;
	}
	text = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &len);
	payload = text ? json_loadb((const char *)text, len, 0, NULL) : NULL;
	free(text);
	if (!json_is_object(payload)) {
		rc = http_error(resp, 400, "statement %zu: the signature's payload is not a JSON statement", i);
		goto out;
	}
	context_arrays(payload);
	if (xapi_validate(&err, payload, XAPI_ACCEPT_ANY) != 0 || xapi_digest(d1, payload) != 0 ||
	    xapi_digest(d2, st) != 0 || memcmp(d1, d2, sizeof(d1)) != 0) {
		rc = http_error(resp, 400, "statement %zu: the signed payload is not this statement", i);
		goto out;
	}
out:
	json_decref(header);
	json_decref(payload);
	return rc;
}

/* Checks the statements' attachments against the parts. 0, or an HTTP status after resp. */
static int check_attachments(json_t *statements, struct part *parts, int n_parts,
			     struct http_response *resp)
{
	json_t *st, *att;
	size_t i, j;
	int k;

	for (k = 1; k < n_parts; k++) {
		char hex[129];
		char given[129];
		if (!parts[k].hash || parts[k].hash_len == 0 || parts[k].hash_len >= sizeof(given))
			return http_error(resp, 400, "attachment part %d has no X-Experience-API-Hash", k);
		memcpy(given, parts[k].hash, parts[k].hash_len);
		given[parts[k].hash_len] = '\0';
		if (!parts[k].binary)
			return http_error(resp, 400,
					  "attachment part %d needs Content-Transfer-Encoding: binary", k);
		if (sha2_hex(hex, parts[k].hash_len, parts[k].body, parts[k].len) != 0 ||
		    strcasecmp(hex, given) != 0)
			return http_error(resp, 400,
					  "attachment part %d: its content does not match its SHA-2 %s", k,
					  given);
	}
	json_array_foreach(statements, i, st) {
		json_array_foreach(json_object_get(st, "attachments"), j, att) {
			const char *sha2 = json_string_value(json_object_get(att, "sha2"));
			int found = 0;
			if (json_object_get(att, "fileUrl") && !sha2)
				continue;
			for (k = 1; sha2 && k < n_parts; k++) {
				if (parts[k].hash_len == strlen(sha2) &&
				    strncasecmp(parts[k].hash, sha2, parts[k].hash_len) == 0) {
					const char *usage = json_string_value(json_object_get(att, "usageType"));
					int rc;
					if (usage && strcmp(usage, ATTACHMENT_SIGNATURE) == 0 &&
					    (rc = check_signature(st, att, &parts[k], i, resp)) != 0)
						return rc;
					parts[k].used = 1;
					found = 1;
				}
			}
			if (!found && !json_object_get(att, "fileUrl"))
				return http_error(resp, 400,
						  "statement %zu: attachment %zu (sha2 %s) has no part in the request",
						  i, j, sha2 ? sha2 : "?");
		}
	}
	for (k = 1; k < n_parts; k++)
		if (!parts[k].used)
			return http_error(resp, 400, "attachment part %d is not named by any statement", k);
	return 0;
}

static int save_attachments(struct store *s, struct lr_error *err, struct part *parts, int n_parts)
{
	sqlite3_stmt *q = NULL;
	int k, rc = 0;

	if (n_parts <= 1)
		return 0;
	if (sqlite3_prepare_v2(store__db(s), "INSERT OR IGNORE INTO attachment(sha2, content_type, body)"
			       " VALUES(lower(?),?,?)", -1, &q, NULL) != SQLITE_OK)
		return lr_error_set(err, LR_EDB, "storing an attachment: %s", sqlite3_errmsg(store__db(s)));
	for (k = 1; k < n_parts && rc == 0; k++) {
		sqlite3_reset(q);
		sqlite3_bind_text(q, 1, parts[k].hash, (int)parts[k].hash_len, SQLITE_STATIC);
		if (parts[k].content_type)
			sqlite3_bind_text(q, 2, parts[k].content_type, (int)parts[k].content_type_len,
					  SQLITE_STATIC);
		else
			sqlite3_bind_text(q, 2, "application/octet-stream", -1, SQLITE_STATIC);
		sqlite3_bind_blob(q, 3, parts[k].len ? parts[k].body : "", (int)parts[k].len,
				  SQLITE_STATIC);
		if (sqlite3_step(q) != SQLITE_DONE)
			rc = lr_error_set(err, LR_EDB, "storing an attachment: %s",
					  sqlite3_errmsg(store__db(s)));
	}
	sqlite3_finalize(q);
	return rc;
}

/* ---- PUT and POST ---- */

/* 1 if the statement id is a voiding statement of org (it voids something). */
static int is_voiding(struct store *s, const char *id)
{
	sqlite3_stmt *q = NULL;
	char norm[UUID_STR_LEN + 1];
	int found = 0;

	uuid_normalize(norm, id);
	if (sqlite3_prepare_v2(store__db(s), "SELECT 1 FROM statement WHERE id = ? AND voids IS NOT NULL"
			       " AND verb = '" XAPI_VERB_VOIDED "'", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, norm, -1, SQLITE_STATIC);
		found = sqlite3_step(q) == SQLITE_ROW;
	}
	sqlite3_finalize(q);
	return found;
}

static json_t *lrs_authority(const struct credential *c)
{
	return json_pack("{s:s, s:s, s:{s:s, s:s}}", "objectType", "Agent", "name", c->org,
			 "account", "homePage", "urn:lrhub:org", "name", c->org);
}

/*
 * The ids of a batch seen so far, lower-cased, in an open-addressing table:
 * comparing each statement's id with every earlier one was 4,950 comparisons
 * for a batch of 100 (4 % of a POST) and 50 million for one of 10,000.
 */
struct seen_id {
	char id[UUID_STR_LEN + 1]; /* "" = free */
	size_t index;
};

/* The index of the first statement with id, else records it as index i and returns i. */
static size_t seen_id_first(struct seen_id *table, size_t cap, const char *id, size_t i)
{
	char low[UUID_STR_LEN + 1];
	size_t n, slot;
	uint64_t h = 1469598103934665603ULL;

	for (n = 0; id[n]; n++) {
		low[n] = (char)tolower((unsigned char)id[n]);
		h = (h ^ (unsigned char)low[n]) * 1099511628211ULL;
	}
	low[n] = '\0';
	for (slot = (size_t)(h ^ (h >> 32)) & (cap - 1); table[slot].id[0];
	     slot = (slot + 1) & (cap - 1))
		if (strcmp(table[slot].id, low) == 0)
			return table[slot].index;
	memcpy(table[slot].id, low, n + 1);
	table[slot].index = i;
	return i;
}

/* A statement made ready to store before the writer is taken. */
struct prepared_statement {
	unsigned char digest[32], raw_sha[32];
	struct xapi_facts facts;
	char *text; /* its JSON text, as store_statement_text makes it */
	size_t len, cap;
};

/* ---- the shared writer ---- */

/*
 * The server's threads write statements through one store connection, one
 * transaction at a time. A request whose statements are ready queues them
 * as a job; if no job is being written, its thread takes the queued jobs,
 * writes them all in one transaction (see write_jobs for one that fails
 * there), commits once and wakes the threads whose jobs it wrote. A commit
 * writes every page it dirtied, and statements with random ids dirty a
 * page of each index per statement, so one commit for the requests of
 * several clients writes fewer pages than one each.
 */
#define GROUP_MAX 1000 /* statements a transaction takes from the queue, at least one job */

struct write_job {
	struct write_job *next;
	json_t *list;                        /* the statements, ready */
	struct prepared_statement *prepared;
	const struct store_source *src;
	struct part *parts;
	int n_parts;
	json_t *ids;                         /* out: the stored statements' ids */
	struct http_response *resp;          /* out: the answer, when the job failed */
	int rc;                              /* out: 0, or the job failed */
	int taken, done;
};

struct statement_writer {
	struct store *store;
	pthread_mutex_t lock;
	pthread_cond_t cond;                 /* jobs were written */
	struct write_job *head, **tail;      /* waiting to be written */
	int writing;                         /* a thread is writing jobs */
};

int statement_writer_new(struct statement_writer **out, struct store *s)
{
	struct statement_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return -1;
	if (pthread_mutex_init(&w->lock, NULL) != 0) {
		free(w);
		return -1;
	}
	if (pthread_cond_init(&w->cond, NULL) != 0) {
		pthread_mutex_destroy(&w->lock);
		free(w);
		return -1;
	}
	w->store = s;
	w->tail = &w->head;
	*out = w;
	return 0;
}

void statement_writer_free(struct statement_writer *w)
{
	if (!w)
		return;
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

/* Writes one job's statements and attachments in the open transaction; else its answer. */
static int write_job(struct store *ws, struct write_job *job)
{
	struct lr_error err;
	json_t *st;
	size_t i;
	int rc;

	json_array_foreach(job->list, i, st) {
		struct prepared_statement *p = &job->prepared[i];
		struct store_prepared prep = { p->digest, p->raw_sha, &p->facts, p->text, p->len };
		enum store_outcome outcome;
		char norm[UUID_STR_LEN + 1];
		lr_error_clear(&err);
		rc = store_put_statement_raw(ws, &err, st, p->text, p->len, job->src, &prep, &outcome);
		if (rc == LR_ECONFLICT)
			return http_error(job->resp, 409, "%s", err.text);
		if (rc == LR_EINVAL)
			return http_error(job->resp, 400, "statement %zu: %s%s%s", i, err.field,
					  err.field[0] ? ": " : "", err.text);
		if (rc != 0)
			return http_error(job->resp, rc == LR_EBUSY ? 503 : 500, "storing: %s", err.text);
		uuid_normalize(norm, json_string_value(json_object_get(st, "id")));
		if (json_array_append_new(job->ids, json_string(norm)) != 0)
			return http_error(job->resp, 500, "out of memory");
	}
	lr_error_clear(&err);
	if ((rc = save_attachments(ws, &err, job->parts, job->n_parts)) != 0)
		return http_error(job->resp, 500, "%s", err.text);
	return 0;
}

#define JOB_FAILED 1 /* write_all: a job failed on its own */

/*
 * Writes jobs in one transaction, all or none: 0; JOB_FAILED, with the
 * error in the job that failed; or, when the transaction could not be
 * started or committed, the error code, with the error in every job.
 */
static int write_all(struct store *ws, struct write_job *jobs)
{
	struct lr_error err;
	struct write_job *j;
	int rc;

	lr_error_clear(&err);
	if ((rc = begin_write(ws, &err)) != 0) {
		for (j = jobs; j; j = j->next)
			j->rc = http_error(j->resp, 503, "the store is busy: %s", err.text);
		return rc;
	}
	for (j = jobs; j; j = j->next) {
		if ((j->rc = write_job(ws, j)) != 0) {
			store_rollback(ws);
			return JOB_FAILED;
		}
	}
	lr_error_clear(&err);
	if ((rc = store_commit(ws, &err)) != 0) {
		store_rollback(ws);
		for (j = jobs; j; j = j->next)
			j->rc = http_error(j->resp, 503, "committing: %s", err.text);
	}
	return rc;
}

/*
 * Writes a list of jobs, each job's rc saying how it went: in one
 * transaction, or when one of them fails there (a conflict, say), each in a
 * transaction of its own, so that only the failing one fails, as if they
 * had come one after the other. (Savepoints would undo a job alone, but
 * SQLite then copies every page a job dirties again to a journal of its own:
 * slower than the group's transaction saves.)
 */
static void write_jobs(struct store *ws, struct write_job *jobs)
{
	struct write_job *j, *next;

	if (write_all(ws, jobs) != JOB_FAILED || !jobs->next)
		return;
	for (j = jobs; j; j = j->next) {
		json_array_clear(j->ids);
		free(j->resp->body); /* the error answer written in the group, if any */
		j->resp->body = NULL;
		j->resp->body_len = 0;
		j->resp->status = 0;
		j->rc = 0;
	}
	for (j = jobs; j; j = next) {
		next = j->next;
		j->next = NULL;
		write_all(ws, j);
		j->next = next;
	}
}

/* Has job written through w, by this thread or another; returns its rc. */
static int writer_run(struct statement_writer *w, struct write_job *job)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WRITER_WAIT_S;
	pthread_mutex_lock(&w->lock);
	*w->tail = job;
	w->tail = &job->next;
	while (!job->done) {
		if (!w->writing) {
			struct write_job *group = w->head, **end = &w->head, *j;
			size_t n = 0;
			while (*end && (n == 0 || n + json_array_size((*end)->list) <= GROUP_MAX)) {
				n += json_array_size((*end)->list);
				(*end)->taken = 1;
				end = &(*end)->next;
			}
			w->head = *end;
			if (!w->head)
				w->tail = &w->head;
			*end = NULL;
			w->writing = 1;
			pthread_mutex_unlock(&w->lock);
			write_jobs(w->store, group);
			pthread_mutex_lock(&w->lock);
			for (j = group; j; j = j->next)
				j->done = 1;
			w->writing = 0;
			pthread_cond_broadcast(&w->cond);
		} else if (job->taken) {
			/* Being written: that ends (SQLite's waits are bounded). */
			pthread_cond_wait(&w->cond, &w->lock);
		} else if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT &&
			   !job->taken && !job->done) {
			/* Bounded as SQLite's own wait is: another program may hold the store for long. */
			struct write_job **link = &w->head;
			while (*link != job)
				link = &(*link)->next;
			*link = job->next;
			if (w->tail == &job->next)
				w->tail = link;
			job->rc = http_error(job->resp, 503, "the store is busy: other requests are writing");
			job->done = 1;
		}
	}
	pthread_mutex_unlock(&w->lock);
	return job->rc;
}

static int put_statements(const struct http_request *req, struct http_response *resp, int is_put)
{
	const char *content_type = http_header(req, "Content-Type");
	const char *statement_id = http_arg(req, "statementId");
	struct part parts[MAX_PARTS];
	const char *json_text = req->body ? req->body : "";
	size_t json_len = req->body_len;
	int n_parts = 0, rc, was_array;
	struct lr_error err;
	json_error_t jerr;
	json_t *doc = NULL, *list = NULL, *ids = NULL, *st;
	size_t i, j, n = 0, seen_cap = 0;
	struct seen_id *seen = NULL;
	struct prepared_statement *prepared = NULL;
	unsigned flags = req->v2 ? XAPI_STRICT_200 : XAPI_STRICT_103;
	struct store_source src;

	lr_error_clear(&err);
	if (!credential_can_write(req->cred))
		return http_error(resp, 403, "credential %s (scope %s) may not write statements",
				  req->cred->key, credential_scope_name(req->cred->scope));
	for (i = 0; i < req->n_args; i++) {
		if (strcmp(req->args[i].name, "statementId") != 0 || !is_put)
			return http_error(resp, 400, "unexpected parameter '%s' on %s statements",
					  req->args[i].name, req->method);
	}
	if (http_type_is(content_type, "multipart/mixed")) {
		char boundary[160];
		if (boundary_of(content_type, boundary, sizeof(boundary)) != 0)
			return http_error(resp, 400, "multipart/mixed without a boundary");
		n_parts = parse_multipart(req->body ? req->body : "", req->body_len, boundary, parts,
					  MAX_PARTS);
		if (n_parts < 1)
			return http_error(resp, 400, "the multipart/mixed body is malformed");
		if (!parts[0].content_type ||
		    strncasecmp(parts[0].content_type, "application/json", 16) != 0)
			return http_error(resp, 400,
					  "the first part of a multipart/mixed request must be application/json");
		json_text = parts[0].body;
		json_len = parts[0].len;
	} else if (!http_type_is(content_type, "application/json")) {
		return http_error(resp, 400, "statements must be sent as application/json or multipart/mixed");
	}
	doc = jsonfast_loadb(json_text, json_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		rc = http_error(resp, 400, "not valid JSON: %s (line %d)", jerr.text, jerr.line);
		goto out;
	}
	was_array = json_is_array(doc);
	if (is_put) {
		if (!statement_id) {
			rc = http_error(resp, 400, "PUT statements needs the statementId parameter");
			goto out;
		}
		if (!is_uuid(statement_id)) {
			rc = http_error(resp, 400, "statementId '%s' is not a UUID", statement_id);
			goto out;
		}
		if (!json_is_object(doc)) {
			rc = http_error(resp, 400, "PUT statements takes one statement object");
			goto out;
		}
	}
	if (was_array) {
		list = json_incref(doc);
	} else {
		list = json_array();
		if (!list || json_array_append(list, doc) != 0) {
			rc = http_error(resp, 500, "out of memory");
			goto out;
		}
	}
	if (json_array_size(list) > MAX_STATEMENTS_PER_POST) {
		rc = http_error(resp, 413, "more than %d statements in one request", MAX_STATEMENTS_PER_POST);
		goto out;
	}
	if (is_put) {
		const char *given = json_string_value(json_object_get(doc, "id"));
		char a[UUID_STR_LEN + 1], b[UUID_STR_LEN + 1];
		if (given && is_uuid(given)) {
			uuid_normalize(a, given);
			uuid_normalize(b, statement_id);
			if (strcmp(a, b) != 0) {
				rc = http_error(resp, 400,
						"the statement's id %s is not the statementId %s", given,
						statement_id);
				goto out;
			}
		}
		if (!given && json_object_set_new(doc, "id", json_string(statement_id)) != 0) {
			rc = http_error(resp, 500, "out of memory");
			goto out;
		}
	}
	/* Validate everything first: a batch goes in whole or not at all. */
	if (json_array_size(list) > 1) {
		/* Without the table (no memory) each id is compared with every earlier one. */
		for (seen_cap = 16; seen_cap < 2 * json_array_size(list); seen_cap *= 2)
			;
		seen = calloc(seen_cap, sizeof(*seen));
	}
	json_array_foreach(list, i, st) {
		const json_t *obj;
		const char *id;
		lr_error_clear(&err);
		/*
		 * A single contextActivities Activity is stored as an array of one
		 * (its comparison digest is the same): clients send it both ways,
		 * the 2.0.0 conformance suite included.
		 */
		if (json_is_object(st))
			context_arrays(st);
		if (xapi_validate(&err, st, flags) != 0) {
			rc = http_error(resp, 400, "statement %zu: %s%s%s", i, err.field,
					err.field[0] ? ": " : "", err.text);
			goto out;
		}
		obj = json_object_get(st, "object");
		if (strcmp(json_string_value(json_object_get(json_object_get(st, "verb"), "id")),
			   XAPI_VERB_VOIDED) == 0) {
			const char *type = json_string_value(json_object_get(obj, "objectType"));
			const char *target = json_string_value(json_object_get(obj, "id"));
			if (!type || strcmp(type, "StatementRef") != 0) {
				rc = http_error(resp, 400, "statement %zu: a voiding statement's object must be a StatementRef", i);
				goto out;
			}
			if (target && is_voiding(req->store, target)) {
				rc = http_error(resp, 400, "statement %zu: statement %s is itself a voiding statement and cannot be voided", i, target);
				goto out;
			}
		}
		id = json_string_value(json_object_get(st, "id"));
		if (id && seen && id[0] && strlen(id) <= UUID_STR_LEN) {
			j = seen_id_first(seen, seen_cap, id, i);
			if (j != i) {
				rc = http_error(resp, 400, "statements %zu and %zu have the same id %s", j, i, id);
				goto out;
			}
			continue;
		}
		for (j = 0; id && j < i; j++) {
			const char *b = json_string_value(json_object_get(json_array_get(list, j), "id"));
			if (b && strcasecmp(id, b) == 0) {
				rc = http_error(resp, 400, "statements %zu and %zu have the same id %s", j, i, id);
				goto out;
			}
		}
	}
	if (n_parts > 0 && (rc = check_attachments(list, parts, n_parts, resp)) != 0)
		goto out;
	if (n_parts == 0) {
		json_array_foreach(list, i, st) {
			json_t *att;
			json_array_foreach(json_object_get(st, "attachments"), j, att) {
				if (!json_object_get(att, "fileUrl")) {
					rc = http_error(resp, 400,
							"statement %zu: attachment %zu has no fileUrl and the request is not multipart/mixed",
							i, j);
					goto out;
				}
			}
		}
	}

	ids = json_array();
	n = json_array_size(list);
	if (!ids || !(prepared = calloc(n ? n : 1, sizeof(*prepared)))) {
		rc = http_error(resp, 500, "out of memory");
		goto out;
	}
	/*
	 * What the store would otherwise do in the writer's turn is done here,
	 * by each worker for its own request: the LRS's properties, the
	 * comparison digest, the facts and the JSON text to store.
	 */
	json_array_foreach(list, i, st) {
		struct prepared_statement *p = &prepared[i];
		json_t *authority = lrs_authority(req->cred);
		if (!authority || json_object_set_new(st, "authority", authority) != 0) {
			rc = http_error(resp, 500, "out of memory");
			goto out;
		}
		if (!json_object_get(st, "version"))
			json_object_set_new(st, "version", json_string(req->v2 ? "2.0.0" : "1.0.0"));
		if (!json_object_get(st, "id")) {
			/*
			 * A new random (version 4) id, as an LRS gives: the client
			 * gets it back, and any later export of the statement
			 * carries it, so a re-import is still a duplicate.
			 */
			unsigned char r[16];
			char hex[33], id[UUID_STR_LEN + 1];
			if (RAND_bytes(r, sizeof(r)) != 1) {
				rc = http_error(resp, 500, "no random numbers for a statement id");
				goto out;
			}
			r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
			r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
			hash_hex(hex, r, sizeof(r));
			snprintf(id, sizeof(id), "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
				 hex + 16, hex + 20);
			if (json_object_set_new(st, "id", json_string(id)) != 0) {
				rc = http_error(resp, 500, "out of memory");
				goto out;
			}
		}
		if (xapi_digest(p->digest, st) != 0 ||
		    store_statement_text(st, &p->text, &p->cap, &p->len) != 0) {
			rc = http_error(resp, 500, "out of memory");
			goto out;
		}
		xapi_facts(&p->facts, st);
		hash_sha256(p->raw_sha, p->text, p->len);
	}

	memset(&src, 0, sizeof(src));
	src.org_id = req->cred->org_id;
	src.org_code = req->cred->org;
	src.xapi_flags = flags | XAPI_VALIDATED; /* all validated above */
	{
		struct write_job job = { NULL, list, prepared, &src, parts, n_parts, ids, resp, 0, 0, 0 };
		if (req->writer) {
			rc = writer_run(req->writer, &job);
		} else {
			write_jobs(req->store, &job);
			rc = job.rc;
		}
	}
	if (rc != 0)
		goto out;
	if (is_put) {
		resp->status = 204;
		rc = 0;
	} else {
		rc = http_set_json(resp, 200, ids);
	}
out:
	free(seen);
	for (i = 0; prepared && i < n; i++)
		free(prepared[i].text);
	free(prepared);
	json_decref(ids);
	json_decref(list);
	json_decref(doc);
	return rc;
}

/* ---- GET ---- */

static const char *const query_params[] = {
	"agent", "verb", "activity", "registration", "related_activities", "related_agents",
	"since", "until", "limit", "format", "attachments", "ascending", NULL
};

static int bool_param(const char *text, int *out)
{
	if (!text)
		return 0;
	if (strcmp(text, "true") == 0)
		*out = 1;
	else if (strcmp(text, "false") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

int statements_query_parse(struct statements_query *q, struct lr_error *err,
			   const struct http_kv *args, size_t n)
{
	size_t i;
	int k;

	memset(q, 0, sizeof(*q));
	q->limit = DEFAULT_LIMIT;
	for (i = 0; i < n; i++) {
		const char *name = args[i].name, *value = args[i].value ? args[i].value : "";
		for (k = 0; query_params[k]; k++)
			if (strcmp(name, query_params[k]) == 0)
				break;
		if (!query_params[k])
			return lr_error_set(err, LR_EINVAL, "unknown parameter '%s'", name);
		if (strcmp(name, "agent") == 0) {
			json_t *agent = json_loads(value, 0, NULL);
			int ok = json_is_object(agent) && ifi_key(q->agent, sizeof(q->agent), agent) == 0;
			json_decref(agent);
			if (!ok)
				return lr_error_set(err, LR_EINVAL, "agent is not an Agent or Group with an identifier");
			q->has_agent = 1;
		} else if (strcmp(name, "verb") == 0) {
			q->verb = value;
		} else if (strcmp(name, "activity") == 0) {
			q->activity = value;
		} else if (strcmp(name, "registration") == 0) {
			if (!is_uuid(value))
				return lr_error_set(err, LR_EINVAL, "registration '%s' is not a UUID", value);
			q->registration = value;
		} else if (strcmp(name, "related_activities") == 0) {
			if (bool_param(value, &q->related_activities) != 0)
				return lr_error_set(err, LR_EINVAL, "related_activities must be true or false");
		} else if (strcmp(name, "related_agents") == 0) {
			if (bool_param(value, &q->related_agents) != 0)
				return lr_error_set(err, LR_EINVAL, "related_agents must be true or false");
		} else if (strcmp(name, "ascending") == 0) {
			if (bool_param(value, &q->ascending) != 0)
				return lr_error_set(err, LR_EINVAL, "ascending must be true or false");
		} else if (strcmp(name, "attachments") == 0) {
			if (bool_param(value, &q->attachments) != 0)
				return lr_error_set(err, LR_EINVAL, "attachments must be true or false");
		} else if (strcmp(name, "since") == 0 || strcmp(name, "until") == 0) {
			int64_t ms;
			if (xtime_parse(&ms, value, 0) != 0)
				return lr_error_set(err, LR_EINVAL, "%s '%s' is not a timestamp with a time zone", name, value);
			if (name[0] == 's') {
				q->since_ms = ms;
				q->has_since = 1;
			} else {
				q->until_ms = ms;
				q->has_until = 1;
			}
		} else if (strcmp(name, "limit") == 0) {
			char *end;
			long v = strtol(value, &end, 10);
			if (!value[0] || *end || v < 0)
				return lr_error_set(err, LR_EINVAL, "limit '%s' is not a whole number", value);
			q->limit = v == 0 || v > MAX_LIMIT ? MAX_LIMIT : v;
		} else if (strcmp(name, "format") == 0) {
			if (strcmp(value, "exact") == 0)
				q->format = STATEMENTS_EXACT;
			else if (strcmp(value, "ids") == 0)
				q->format = STATEMENTS_IDS;
			else if (strcmp(value, "canonical") == 0)
				q->format = STATEMENTS_CANONICAL;
			else
				return lr_error_set(err, LR_EINVAL, "format must be exact, ids or canonical");
		}
	}
	return 0;
}

/* ---- `more` tokens ---- */

static char *make_token(const struct http_request *req, const struct http_kv *args, size_t n,
			int64_t last_seq)
{
	json_t *payload = json_object(), *a = json_object();
	unsigned char mac[32];
	char *text = NULL, *token = NULL, *b64 = NULL;
	char macb64[48];
	size_t i, len;

	if (!payload || !a)
		goto out;
	for (i = 0; i < n; i++)
		json_object_set_new(a, args[i].name, json_string(args[i].value ? args[i].value : ""));
	json_object_set(payload, "a", a);
	json_object_set_new(payload, "p", json_integer(last_seq));
	json_object_set_new(payload, "t", json_integer(xtime_now_ms()));
	json_object_set_new(payload, "k", json_string(req->cred->key));
	text = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		goto out;
	len = strlen(text);
	b64 = malloc(len * 4 / 3 + 4);
	if (!b64)
		goto out;
	base64url_encode(b64, (const unsigned char *)text, len);
	if (hash_hmac_sha256(mac, req->token_key, 32, b64, strlen(b64)) != 0)
		goto out;
	base64url_encode(macb64, mac, 32);
	token = malloc(strlen(b64) + strlen(macb64) + 2);
	if (token)
		sprintf(token, "%s.%s", b64, macb64);
out:
	free(b64);
	free(text);
	json_decref(a);
	json_decref(payload);
	return token;
}

/* Reads a token back: the query's arguments (new reference) and position. NULL if invalid. */
static json_t *read_token(const struct http_request *req, const char *token, int64_t *out_seq)
{
	const char *dot = strchr(token, '.');
	unsigned char mac[32];
	char want[48];
	unsigned char *text = NULL;
	size_t len;
	json_t *payload = NULL, *args = NULL;
	const char *key;

	if (!dot || strlen(dot + 1) != 43)
		return NULL;
	if (hash_hmac_sha256(mac, req->token_key, 32, token, (size_t)(dot - token)) != 0)
		return NULL;
	base64url_encode(want, mac, 32);
	if (CRYPTO_memcmp(want, dot + 1, 43) != 0)
		return NULL;
	text = b64url_decode(token, (size_t)(dot - token), &len);
	if (!text)
		return NULL;
	payload = json_loadb((const char *)text, len, 0, NULL);
	free(text);
	key = json_string_value(json_object_get(payload, "k"));
	if (!json_is_object(payload) || !key || strcmp(key, req->cred->key) != 0 ||
	    xtime_now_ms() - json_integer_value(json_object_get(payload, "t")) > TOKEN_TTL_MS ||
	    !json_is_object(json_object_get(payload, "a"))) {
		json_decref(payload);
		return NULL;
	}
	*out_seq = json_integer_value(json_object_get(payload, "p"));
	args = json_incref(json_object_get(payload, "a"));
	json_decref(payload);
	return args;
}

/* ---- answers ---- */

struct attachment_list {
	char (*sha2)[129];
	size_t n, cap;
};

static void note_attachments(struct attachment_list *l, const json_t *st)
{
	const json_t *att;
	size_t i, k;

	json_array_foreach(json_object_get(st, "attachments"), i, att) {
		const char *sha2 = json_string_value(json_object_get(att, "sha2"));
		if (!sha2 || strlen(sha2) > 128)
			continue;
		for (k = 0; k < l->n; k++)
			if (strcasecmp(l->sha2[k], sha2) == 0)
				break;
		if (k < l->n)
			continue;
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 8;
			void *grown = realloc(l->sha2, cap * sizeof(*l->sha2));
			if (!grown)
				return;
			l->sha2 = grown;
			l->cap = cap;
		}
		snprintf(l->sha2[l->n++], 129, "%s", sha2);
	}
}

/* Appends to a growing buffer; -1 on no memory. */
struct buf {
	char *data;
	size_t len, cap;
};

static int buf_add(struct buf *b, const void *data, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *grown;
		while (cap < b->len + len + 1)
			cap *= 2;
		grown = realloc(b->data, cap);
		if (!grown)
			return -1;
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

/* Sends result (borrowed), as JSON or, with attachments, multipart/mixed. */
static void send_result(const struct http_request *req, struct http_response *resp,
			const json_t *result, struct attachment_list *atts, int with_attachments)
{
	char *json;
	struct buf b = { 0 };
	unsigned char rnd[12];
	char boundary[40], line[512];
	sqlite3_stmt *q = NULL;
	size_t i;
	int n;

	if (!with_attachments) {
		http_set_json(resp, 200, result);
		return;
	}
	json = json_dumps(result, JSON_COMPACT);
	if (!json || RAND_bytes(rnd, sizeof(rnd)) != 1) {
		free(json);
		http_error(resp, 500, "out of memory");
		return;
	}
	memcpy(boundary, "lrhub-", 6);
	hash_hex(boundary + 6, rnd, sizeof(rnd));
	n = snprintf(line, sizeof(line), "--%s\r\nContent-Type: application/json\r\n\r\n", boundary);
	if (buf_add(&b, line, (size_t)n) || buf_add(&b, json, strlen(json)))
		goto nomem;
	if (sqlite3_prepare_v2(store__db(req->store),
			       "SELECT content_type, body FROM attachment WHERE sha2 = lower(?)", -1, &q,
			       NULL) != SQLITE_OK)
		goto nomem;
	for (i = 0; i < atts->n; i++) {
		sqlite3_reset(q);
		sqlite3_bind_text(q, 1, atts->sha2[i], -1, SQLITE_STATIC);
		if (sqlite3_step(q) != SQLITE_ROW)
			continue;
		n = snprintf(line, sizeof(line),
			     "\r\n--%s\r\nContent-Type: %s\r\nContent-Transfer-Encoding: binary\r\n"
			     "X-Experience-API-Hash: %s\r\n\r\n",
			     boundary, (const char *)sqlite3_column_text(q, 0), atts->sha2[i]);
		if (buf_add(&b, line, (size_t)n) ||
		    buf_add(&b, sqlite3_column_blob(q, 1), (size_t)sqlite3_column_bytes(q, 1)))
			goto nomem;
	}
	n = snprintf(line, sizeof(line), "\r\n--%s--\r\n", boundary);
	if (buf_add(&b, line, (size_t)n))
		goto nomem;
	free(resp->body);
	resp->body = b.data;
	resp->body_len = b.len;
	resp->status = 200;
	snprintf(resp->content_type, sizeof(resp->content_type), "multipart/mixed; boundary=%s", boundary);
	b.data = NULL;
	goto out;
nomem:
	http_error(resp, 500, "out of memory");
out:
	sqlite3_finalize(q);
	free(b.data);
	free(json);
}

static void set_consistent(struct http_response *resp, int64_t last_modified_ms)
{
	char when[XTIME_MAX], date[40];

	xtime_format_ms(when, xtime_now_ms());
	http_add_header(resp, "X-Experience-API-Consistent-Through", when);
	if (last_modified_ms > 0) {
		http_date(date, last_modified_ms);
		http_add_header(resp, "Last-Modified", date);
	}
}

static void get_one(const struct http_request *req, struct http_response *resp, const char *id,
		    int voided_wanted, enum format format, int attachments)
{
	sqlite3_stmt *q = NULL;
	char norm[UUID_STR_LEN + 1];
	json_t *st = NULL;
	struct attachment_list atts = { 0 };
	int64_t stored;
	int voided;

	uuid_normalize(norm, id);
	if (sqlite3_prepare_v2(store__db(req->store),
			       "SELECT s.json, s.org_id, s.stored, EXISTS(SELECT 1 FROM statement v"
			       "  INDEXED BY statement_voids WHERE v.voids IS NOT NULL"
			       "  AND v.voids = s.id AND v.org_id = s.org_id AND v.verb = '"
			       XAPI_VERB_VOIDED "') FROM statement s WHERE s.id = ?", -1, &q,
			       NULL) != SQLITE_OK) {
		http_error(resp, 500, "store: %s", sqlite3_errmsg(store__db(req->store)));
		goto out;
	}
	sqlite3_bind_text(q, 1, norm, -1, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_ROW ||
	    (!credential_reads_all(req->cred) && sqlite3_column_int64(q, 1) != req->cred->org_id)) {
		http_error(resp, 404, "no statement %s", id);
		goto out;
	}
	voided = sqlite3_column_int(q, 3);
	if (voided != voided_wanted) {
		http_error(resp, 404, voided ? "statement %s is voided: ask with voidedStatementId"
					     : "statement %s is not voided", id);
		goto out;
	}
	stored = sqlite3_column_int64(q, 2);
	st = load_stored(sqlite3_column_text(q, 0));
	if (!st) {
		http_error(resp, 500, "a stored statement is not valid JSON");
		goto out;
	}
	apply_format(st, format, http_header(req, "Accept-Language"));
	note_attachments(&atts, st);
	send_result(req, resp, st, &atts, attachments);
	set_consistent(resp, stored);
out:
	free(atts.sha2);
	json_decref(st);
	sqlite3_finalize(q);
}

/* 1 if the statement itself passes the query's filters. */
static int content_matches(const json_t *st, const struct statements_query *qy)
{
	if (qy->verb) {
		const char *verb = json_string_value(json_object_get(json_object_get(st, "verb"), "id"));
		if (!verb || strcmp(verb, qy->verb) != 0)
			return 0;
	}
	if (qy->has_agent && !statement_has_agent(st, qy->agent, qy->related_agents))
		return 0;
	if (qy->activity && !statement_has_activity(st, qy->activity, qy->related_activities))
		return 0;
	if (qy->registration) {
		const char *r = json_string_value(
			json_object_get(json_object_get(st, "context"), "registration"));
		if (!r || strcasecmp(r, qy->registration) != 0)
			return 0;
	}
	return 1;
}

/* The statement a StatementRef statement targets (new reference), or NULL. */
static json_t *load_target(struct store *s, sqlite3_stmt **q, const json_t *st)
{
	const json_t *object = json_object_get(st, "object");
	const char *type = json_string_value(json_object_get(object, "objectType"));
	const char *id = json_string_value(json_object_get(object, "id"));
	char norm[UUID_STR_LEN + 1];
	json_t *target = NULL;

	if (!type || strcmp(type, "StatementRef") != 0 || !id || !is_uuid(id))
		return NULL;
	if (!*q && sqlite3_prepare_v2(store__db(s), "SELECT json FROM statement WHERE id = ?", -1, q,
				      NULL) != SQLITE_OK)
		return NULL;
	sqlite3_reset(*q);
	uuid_normalize(norm, id);
	sqlite3_bind_text(*q, 1, norm, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(*q) == SQLITE_ROW)
		target = load_stored(sqlite3_column_text(*q, 0));
	sqlite3_reset(*q);
	return target;
}

static void get_many(const struct http_request *req, struct http_response *resp,
		     const struct http_kv *args, size_t n_args, int64_t after_seq)
{
	struct statements_query qy;
	struct lr_error qerr;
	char sql[2048];
	sqlite3_stmt *q = NULL, *target_q = NULL;
	json_t *result = NULL, *list = NULL;
	struct attachment_list atts = { 0 };
	int bind = 1, rc, n;
	long found = 0;
	int64_t last_seq = 0, last_modified = 0;
	const char *accept = http_header(req, "Accept-Language");

	lr_error_clear(&qerr);
	if (statements_query_parse(&qy, &qerr, args, n_args) != 0) {
		http_error(resp, 400, "%s", qerr.text);
		return;
	}
	n = snprintf(sql, sizeof(sql),
		 "SELECT s.seq, s.json, s.stored FROM statement s WHERE 1"
		 "%s%s%s%s%s%s%s"
		 " AND NOT EXISTS (SELECT 1 FROM statement v INDEXED BY statement_voids"
		 "  WHERE v.voids IS NOT NULL AND v.voids = s.id"
		 "  AND v.org_id = s.org_id AND v.verb = '" XAPI_VERB_VOIDED "')"
		 " ORDER BY s.seq %s",
		 credential_reads_all(req->cred) ? "" : " AND s.org_id = ?",
		 qy.verb ? " AND (s.verb = ? OR s.object_type = 'StatementRef')" : "",
		 qy.activity && !qy.related_activities
			 ? " AND (s.object_id = ? OR s.object_type = 'StatementRef')" : "",
		 /* The actor's row, or an object that may hold the agent. */
		 qy.has_agent && !qy.related_agents
			 ? " AND (s.actor_id = (SELECT a.id FROM agent a WHERE a.ifi = ?)"
			   " OR s.object_type IN ('Agent', 'Group', 'StatementRef'))" : "",
		 qy.has_since ? " AND s.stored > ?" : "",
		 qy.has_until ? " AND s.stored <= ?" : "",
		 after_seq > 0 ? (qy.ascending ? " AND s.seq > ?" : " AND s.seq < ?") : "",
		 qy.ascending ? "ASC" : "DESC");
	assert(n > 0 && (size_t)n < sizeof(sql));
	if (sqlite3_prepare_v2(store__db(req->store), sql, -1, &q, NULL) != SQLITE_OK) {
		http_error(resp, 500, "store: %s", sqlite3_errmsg(store__db(req->store)));
		goto out;
	}
	if (!credential_reads_all(req->cred))
		sqlite3_bind_int64(q, bind++, req->cred->org_id);
	if (qy.verb)
		sqlite3_bind_text(q, bind++, qy.verb, -1, SQLITE_STATIC);
	if (qy.activity && !qy.related_activities)
		sqlite3_bind_text(q, bind++, qy.activity, -1, SQLITE_STATIC);
	if (qy.has_agent && !qy.related_agents)
		sqlite3_bind_text(q, bind++, qy.agent, -1, SQLITE_STATIC);
	if (qy.has_since)
		sqlite3_bind_int64(q, bind++, qy.since_ms);
	if (qy.has_until)
		sqlite3_bind_int64(q, bind++, qy.until_ms);
	if (after_seq > 0)
		sqlite3_bind_int64(q, bind++, after_seq);
	result = json_object();
	list = json_array();
	if (!result || !list) {
		http_error(resp, 500, "out of memory");
		goto out;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		json_t *st = load_stored(sqlite3_column_text(q, 1));
		int keep = st != NULL;

		if (keep && !content_matches(st, &qy)) {
			/* A statement that refers to a matching statement matches too. */
			json_t *target = load_target(req->store, &target_q, st);
			keep = target && content_matches(target, &qy);
			json_decref(target);
		}
		if (!keep) {
			json_decref(st);
			continue;
		}
		if (found == qy.limit) {
			/* There is more: the next page starts after the last row sent. */
			char *token = make_token(req, args, n_args, last_seq);
			char *more = token ? malloc(strlen(token) + strlen(req->base) + 32) : NULL;
			json_decref(st);
			if (!more) {
				free(token);
				http_error(resp, 500, "out of memory");
				goto out;
			}
			sprintf(more, "%s/statements?more=%s", req->base, token);
			json_object_set_new(result, "more", json_string(more));
			free(more);
			free(token);
			break;
		}
		last_seq = sqlite3_column_int64(q, 0);
		if (sqlite3_column_int64(q, 2) > last_modified)
			last_modified = sqlite3_column_int64(q, 2);
		apply_format(st, (enum format)qy.format, accept);
		note_attachments(&atts, st);
		json_array_append_new(list, st);
		found++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		http_error(resp, 500, "store: %s", sqlite3_errmsg(store__db(req->store)));
		goto out;
	}
	json_object_set(result, "statements", list);
	if (!json_object_get(result, "more"))
		json_object_set_new(result, "more", json_string(""));
	send_result(req, resp, result, &atts, qy.attachments);
	set_consistent(resp, last_modified ? last_modified : xtime_now_ms());
out:
	free(atts.sha2);
	json_decref(list);
	json_decref(result);
	sqlite3_finalize(target_q);
	sqlite3_finalize(q);
}

static void get_statements(const struct http_request *req, struct http_response *resp)
{
	const char *id = http_arg(req, "statementId");
	const char *voided_id = http_arg(req, "voidedStatementId");
	const char *more = http_arg(req, "more");
	size_t i;

	if (req->cred->scope != CREDENTIAL_ADMIN && req->cred->scope != CREDENTIAL_READ_ALL &&
	    req->cred->scope != CREDENTIAL_READ_OWN && req->cred->scope != CREDENTIAL_WRITE) {
		http_error(resp, 403, "this credential may not read statements");
		return;
	}
	if (more) {
		struct http_kv args[HTTP_MAX_KV];
		size_t n = 0;
		int64_t seq = 0;
		json_t *saved;
		const char *key;
		json_t *v;

		if (req->n_args != 1) {
			http_error(resp, 400, "more takes no other parameters");
			return;
		}
		saved = read_token(req, more, &seq);
		if (!saved) {
			http_error(resp, 400, "the more token is not valid (or older than 24 hours)");
			return;
		}
		json_object_foreach(saved, key, v) {
			if (n < HTTP_MAX_KV && json_is_string(v)) {
				args[n].name = key;
				args[n].value = json_string_value(v);
				n++;
			}
		}
		get_many(req, resp, args, n, seq);
		json_decref(saved);
		return;
	}
	if (id || voided_id) {
		enum format format = FORMAT_EXACT;
		int attachments = 0;
		if (id && voided_id) {
			http_error(resp, 400, "give statementId or voidedStatementId, not both");
			return;
		}
		for (i = 0; i < req->n_args; i++) {
			const char *name = req->args[i].name, *value = req->args[i].value;
			if (strcmp(name, "statementId") == 0 || strcmp(name, "voidedStatementId") == 0)
				continue;
			if (strcmp(name, "format") == 0) {
				if (strcmp(value, "ids") == 0)
					format = FORMAT_IDS;
				else if (strcmp(value, "canonical") == 0)
					format = FORMAT_CANONICAL;
				else if (strcmp(value, "exact") != 0) {
					http_error(resp, 400, "format must be exact, ids or canonical");
					return;
				}
			} else if (strcmp(name, "attachments") == 0) {
				if (bool_param(value, &attachments) != 0) {
					http_error(resp, 400, "attachments must be true or false");
					return;
				}
			} else {
				http_error(resp, 400, "parameter '%s' is not allowed with %s", name,
					   id ? "statementId" : "voidedStatementId");
				return;
			}
		}
		if (!is_uuid(id ? id : voided_id)) {
			http_error(resp, 400, "'%s' is not a UUID", id ? id : voided_id);
			return;
		}
		get_one(req, resp, id ? id : voided_id, voided_id != NULL, format, attachments);
		return;
	}
	get_many(req, resp, req->args, req->n_args, 0);
}

void statements_api_handle(const struct http_request *req, struct http_response *resp)
{
	size_t i;
	int has = 0;

	if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)
		get_statements(req, resp);
	else if (strcmp(req->method, "PUT") == 0)
		put_statements(req, resp, 1);
	else if (strcmp(req->method, "POST") == 0)
		put_statements(req, resp, 0);
	else
		http_error(resp, 405, "statements answer GET, HEAD, PUT and POST");
	for (i = 0; i < resp->n_headers; i++)
		if (strcmp(resp->headers[i].name, "X-Experience-API-Consistent-Through") == 0)
			has = 1;
	if (!has)
		set_consistent(resp, 0);
}
