/*
 * documents.c: the xAPI document resources (see http.h): state
 * (/activities/state), activity profile (/activities/profile) and agent
 * profile (/agents/profile). Documents belong to the org of the credential
 * that wrote them. Each has an ETag (the quoted SHA-1 of its content);
 * If-Match and If-None-Match guard writes, and a PUT to an existing profile
 * without either is refused with 409 so that clients do not overwrite each
 * other blindly. POST merges a JSON object into a stored JSON object.
 */
#include "documents.h"
#include "credentials.h"
#include "error.h"
#include "hash.h"
#include "http.h"
#include "ifi.h"
#include "store.h"
#include "uuid.h"
#include "xtime.h"

#include <jansson.h>
#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum doc_kind { DOC_STATE, DOC_ACTIVITY_PROFILE, DOC_AGENT_PROFILE };

static const char *const kind_names[] = { "state", "activity-profile", "agent-profile" };

/* Which document(s) a request is about. */
struct doc_key {
	enum doc_kind kind;
	const char *activity;     /* "" when not part of the key */
	char agent[IFI_MAX];      /* "" when not part of the key */
	char registration[UUID_STR_LEN + 1]; /* "" when none */
	const char *doc_id;       /* NULL: all (list or delete) */
	int64_t since_ms;
	int has_since;
};

struct stored_doc {
	int found;
	char *content_type;
	unsigned char *body;
	size_t len;
	char etag[72];
	int64_t updated;
};

static void stored_doc_free(struct stored_doc *d)
{
	free(d->content_type);
	free(d->body);
	memset(d, 0, sizeof(*d));
}

static int looks_like_iri(const char *text)
{
	const char *colon = strchr(text, ':');

	return colon && colon > text && !strchr(text, ' ');
}

/* Reads and checks the parameters. Returns 0 or an HTTP status after filling resp. */
static int read_key(const struct http_request *req, struct http_response *resp, struct doc_key *k)
{
	static const char *const allowed[3][6] = {
		{ "activityId", "agent", "registration", "stateId", "since", NULL },
		{ "activityId", "profileId", "since", NULL },
		{ "agent", "profileId", "since", NULL },
	};
	const char *id_name = k->kind == DOC_STATE ? "stateId" : "profileId";
	const char *activity = http_arg(req, "activityId");
	const char *agent = http_arg(req, "agent");
	const char *registration = http_arg(req, "registration");
	const char *since = http_arg(req, "since");
	size_t i;
	int j;

	for (i = 0; i < req->n_args; i++) {
		for (j = 0; allowed[k->kind][j]; j++)
			if (strcmp(req->args[i].name, allowed[k->kind][j]) == 0)
				break;
		if (!allowed[k->kind][j])
			return http_error(resp, 400, "unknown parameter '%s'", req->args[i].name);
	}
	k->activity = "";
	if (k->kind != DOC_AGENT_PROFILE) {
		if (!activity || !looks_like_iri(activity))
			return http_error(resp, 400, "activityId is required and must be an IRI");
		k->activity = activity;
	}
	if (k->kind != DOC_ACTIVITY_PROFILE) {
		json_t *a;
		const char *type;
		int ok;
		if (!agent)
			return http_error(resp, 400, "agent is required");
		a = json_loads(agent, JSON_REJECT_DUPLICATES, NULL);
		type = json_string_value(json_object_get(a, "objectType"));
		ok = json_is_object(a) && ifi_key(k->agent, sizeof(k->agent), a) == 0 &&
		     (!type || strcmp(type, "Agent") == 0 || strcmp(type, "Group") == 0);
		json_decref(a);
		if (!ok)
			return http_error(resp, 400, "agent is not an Agent with one identifier");
	}
	if (registration) {
		if (!uuid_is_valid(registration))
			return http_error(resp, 400, "registration '%s' is not a UUID", registration);
		uuid_normalize(k->registration, registration);
	}
	k->doc_id = http_arg(req, id_name);
	if (k->doc_id && !k->doc_id[0])
		return http_error(resp, 400, "%s is empty", id_name);
	if (since) {
		if (xtime_parse(&k->since_ms, since, 0) != 0)
			return http_error(resp, 400, "since '%s' is not a timestamp with a time zone", since);
		k->has_since = 1;
		if (k->doc_id)
			return http_error(resp, 400, "since is only for listing documents, not with %s", id_name);
	}
	return 0;
}

static void bind_key(sqlite3_stmt *q, const struct http_request *req, const struct doc_key *k)
{
	sqlite3_bind_int64(q, 1, req->cred->org_id);
	sqlite3_bind_text(q, 2, kind_names[k->kind], -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, k->activity, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, k->agent, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, k->registration, -1, SQLITE_STATIC);
}

#define KEY_WHERE "org_id = ? AND kind = ? AND activity_id = ? AND agent = ? AND registration = ?"

static int load_doc(const struct http_request *req, const struct doc_key *k, struct stored_doc *d)
{
	sqlite3_stmt *q = NULL;
	int rc = 0, step;

	memset(d, 0, sizeof(*d));
	if (sqlite3_prepare_v2(store__db(req->store),
			       "SELECT content_type, body, etag, updated FROM document WHERE " KEY_WHERE
			       " AND doc_id = ?", -1, &q, NULL) != SQLITE_OK)
		return LR_EDB;
	bind_key(q, req, k);
	sqlite3_bind_text(q, 6, k->doc_id, -1, SQLITE_STATIC);
	step = sqlite3_step(q);
	if (step == SQLITE_ROW) {
		size_t len = (size_t)sqlite3_column_bytes(q, 1);
		d->found = 1;
		d->content_type = strdup((const char *)sqlite3_column_text(q, 0));
		d->body = malloc(len + 1);
		if (!d->content_type || !d->body) {
			rc = LR_ENOMEM;
		} else {
			if (len)
				memcpy(d->body, sqlite3_column_blob(q, 1), len);
			d->body[len] = '\0';
			d->len = len;
			snprintf(d->etag, sizeof(d->etag), "%s", (const char *)sqlite3_column_text(q, 2));
			d->updated = sqlite3_column_int64(q, 3);
		}
	} else if (step != SQLITE_DONE) {
		rc = LR_EDB;
	}
	sqlite3_finalize(q);
	return rc;
}

static void make_etag(char out[72], const void *body, size_t len)
{
	unsigned char digest[HASH_SHA1_LEN];
	char hex[HASH_SHA1_LEN * 2 + 1];

	hash_sha1(digest, body, len);
	hash_hex(hex, digest, sizeof(digest));
	snprintf(out, 72, "\"%s\"", hex);
}

/* 1 if the header's list of ETags names etag (quotes and W/ ignored) or is "*". */
static int etag_listed(const char *header, const char *etag)
{
	const char *p = header;
	const char *bare = etag[0] == '"' ? etag + 1 : etag;
	size_t bare_len = strlen(bare) - (etag[0] == '"' ? 1 : 0);

	while (*p) {
		const char *start, *end;
		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		start = p;
		while (*p && *p != ',')
			p++;
		end = p;
		while (end > start && end[-1] == ' ')
			end--;
		if (end > start && *start == '"') {
			start++;
			if (end > start && end[-1] == '"')
				end--;
		}
		if ((size_t)(end - start) == bare_len && strncasecmp(start, bare, bare_len) == 0)
			return 1;
	}
	return 0;
}

/* Checks If-Match / If-None-Match. Returns 0 or an HTTP status after filling resp. */
static int check_preconditions(const struct http_request *req, struct http_response *resp,
			       const struct doc_key *k, const struct stored_doc *d, int is_put)
{
	const char *if_match = http_header(req, "If-Match");
	const char *if_none = http_header(req, "If-None-Match");

	if (if_match && (!d->found || !etag_listed(if_match, d->etag)))
		return http_error(resp, 412, "If-Match does not match the document's ETag");
	if (if_none && d->found && etag_listed(if_none, d->etag))
		return http_error(resp, 412, "If-None-Match: the document exists");
	/*
	 * A PUT without either header: 2.0 refuses it for an existing document
	 * of any kind; 1.0.3 asks it of profiles only, and refuses it (400) for
	 * a new profile too.
	 */
	if (is_put && !if_match && !if_none && (req->v2 || k->kind != DOC_STATE)) {
		if (d->found)
			return http_error(resp, 409,
					  "the document exists: send If-Match (its ETag) or If-None-Match to change it");
		if (!req->v2)
			return http_error(resp, 400,
					  "PUT of a profile needs If-Match or If-None-Match (use If-None-Match: * for a new one)");
	}
	return 0;
}

static int save_doc(const struct http_request *req, const struct doc_key *k,
		    const char *content_type, const void *body, size_t len)
{
	sqlite3_stmt *q = NULL;
	char etag[72];
	int rc = 0, tries;

	make_etag(etag, body, len);
	if (sqlite3_prepare_v2(store__db(req->store),
			       "INSERT INTO document(org_id, kind, activity_id, agent, registration, doc_id,"
			       " content_type, body, etag, updated) VALUES(?,?,?,?,?,?,?,?,?,?)"
			       " ON CONFLICT(org_id, kind, activity_id, agent, registration, doc_id)"
			       " DO UPDATE SET content_type = excluded.content_type, body = excluded.body,"
			       " etag = excluded.etag, updated = excluded.updated", -1, &q, NULL) != SQLITE_OK)
		return LR_EDB;
	bind_key(q, req, k);
	sqlite3_bind_text(q, 6, k->doc_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 7, content_type, -1, SQLITE_STATIC);
	sqlite3_bind_blob(q, 8, len ? body : "", (int)len, SQLITE_STATIC);
	sqlite3_bind_text(q, 9, etag, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 10, xtime_now_ms());
	for (tries = 0; tries < 3; tries++) {
		int step = sqlite3_step(q);
		if (step == SQLITE_DONE) {
			rc = 0;
			break;
		}
		rc = step == SQLITE_BUSY ? LR_EBUSY : LR_EDB;
		sqlite3_reset(q);
		if (rc != LR_EBUSY)
			break;
		usleep(50 * 1000);
	}
	sqlite3_finalize(q);
	return rc;
}

static void get_doc(const struct http_request *req, struct http_response *resp, const struct doc_key *k)
{
	struct stored_doc d;
	char date[40];

	if (load_doc(req, k, &d) != 0) {
		http_error(resp, 500, "store: %s", sqlite3_errmsg(store__db(req->store)));
	} else if (!d.found) {
		http_error(resp, 404, "no such document");
	} else if (http_set_body(resp, 200, d.content_type, d.body, d.len) == 0) {
		http_add_header(resp, "ETag", d.etag);
		http_date(date, d.updated);
		http_add_header(resp, "Last-Modified", date);
	}
	stored_doc_free(&d);
}

static void list_docs(const struct http_request *req, struct http_response *resp,
		      const struct doc_key *k)
{
	sqlite3_stmt *q = NULL;
	json_t *ids = json_array();
	int64_t latest = 0;
	char date[40];
	int step;

	if (!ids || sqlite3_prepare_v2(store__db(req->store),
				       k->kind == DOC_STATE && !k->registration[0]
					       ? "SELECT doc_id, updated FROM document WHERE org_id = ?"
						 " AND kind = ? AND activity_id = ? AND agent = ?"
						 " AND (?5 = '' OR 1) AND updated > ? ORDER BY doc_id"
					       : "SELECT doc_id, updated FROM document WHERE " KEY_WHERE
						 " AND updated > ? ORDER BY doc_id",
				       -1, &q, NULL) != SQLITE_OK) {
		http_error(resp, 500, "store: %s", sqlite3_errmsg(store__db(req->store)));
		goto out;
	}
	bind_key(q, req, k);
	sqlite3_bind_int64(q, 6, k->has_since ? k->since_ms : -1);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		json_array_append_new(ids, json_string((const char *)sqlite3_column_text(q, 0)));
		if (sqlite3_column_int64(q, 1) > latest)
			latest = sqlite3_column_int64(q, 1);
	}
	if (step != SQLITE_DONE) {
		http_error(resp, 500, "store: %s", sqlite3_errmsg(store__db(req->store)));
		goto out;
	}
	http_set_json(resp, 200, ids);
	if (latest) {
		http_date(date, latest);
		http_add_header(resp, "Last-Modified", date);
	}
out:
	json_decref(ids);
	sqlite3_finalize(q);
}

static void delete_docs(const struct http_request *req, struct http_response *resp,
			const struct doc_key *k)
{
	sqlite3_stmt *q = NULL;
	struct stored_doc d;

	memset(&d, 0, sizeof(d));
	if (k->doc_id) {
		if (load_doc(req, k, &d) != 0) {
			http_error(resp, 500, "store: %s", sqlite3_errmsg(store__db(req->store)));
			goto out;
		}
		if (check_preconditions(req, resp, k, &d, 0) != 0)
			goto out;
	} else if (k->kind != DOC_STATE) {
		http_error(resp, 400, "profileId is required to delete a profile");
		goto out;
	}
	if (sqlite3_prepare_v2(store__db(req->store),
			       k->doc_id ? "DELETE FROM document WHERE " KEY_WHERE " AND doc_id = ?"
			       : k->registration[0] ? "DELETE FROM document WHERE " KEY_WHERE
			       : "DELETE FROM document WHERE org_id = ? AND kind = ? AND activity_id = ?"
				 " AND agent = ? AND (?5 = '' OR 1)",
			       -1, &q, NULL) != SQLITE_OK) {
		http_error(resp, 500, "store: %s", sqlite3_errmsg(store__db(req->store)));
		goto out;
	}
	bind_key(q, req, k);
	if (k->doc_id)
		sqlite3_bind_text(q, 6, k->doc_id, -1, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_DONE) {
		http_error(resp, 503, "store: %s", sqlite3_errmsg(store__db(req->store)));
		goto out;
	}
	resp->status = 204;
out:
	stored_doc_free(&d);
	sqlite3_finalize(q);
}

static void write_doc(const struct http_request *req, struct http_response *resp,
		      const struct doc_key *k, int is_post)
{
	const char *content_type = http_header(req, "Content-Type");
	struct stored_doc d;
	json_t *old = NULL, *add = NULL;
	char *merged = NULL;
	const void *body = req->body ? req->body : "";
	size_t len = req->body_len;
	int in_tx = 0, rc;
	struct lr_error err;

	memset(&d, 0, sizeof(d));
	lr_error_clear(&err);
	if (!k->doc_id) {
		http_error(resp, 400, "%s is required", k->kind == DOC_STATE ? "stateId" : "profileId");
		return;
	}
	if (!content_type || !content_type[0])
		content_type = "application/octet-stream";
	for (rc = 0; rc < 3; rc++) { /* each after the 30-second busy wait */
		lr_error_clear(&err);
		if (store_begin(req->store, &err) != LR_EBUSY)
			break;
		usleep(50 * 1000);
	}
	if (err.code) {
		http_error(resp, 503, "the store is busy: %s", err.text);
		return;
	}
	in_tx = 1;
	if (load_doc(req, k, &d) != 0) {
		http_error(resp, 500, "store: %s", sqlite3_errmsg(store__db(req->store)));
		goto out;
	}
	if (check_preconditions(req, resp, k, &d, !is_post) != 0)
		goto out;
	if (is_post) {
		int new_json = http_type_is(content_type, "application/json");
		if (new_json) {
			add = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
			if (!json_is_object(add) && d.found) {
				http_error(resp, 400, "POST merges a JSON object; the body is not one");
				goto out;
			}
		}
		if (d.found) {
			if (!new_json || !http_type_is(d.content_type, "application/json")) {
				http_error(resp, 400,
					   "POST merges JSON objects; the stored document or the body is not application/json");
				goto out;
			}
			old = json_loadb((const char *)d.body, d.len, 0, NULL);
			if (!json_is_object(old)) {
				http_error(resp, 400, "the stored document is not a JSON object");
				goto out;
			}
			json_object_update(old, add);
			merged = json_dumps(old, JSON_COMPACT);
			if (!merged) {
				http_error(resp, 500, "out of memory");
				goto out;
			}
			body = merged;
			len = strlen(merged);
			content_type = "application/json";
		} else if (new_json && !json_is_object(add)) {
			http_error(resp, 400, "POST of application/json needs a JSON object");
			goto out;
		}
	}
	if (save_doc(req, k, content_type, body, len) != 0) {
		http_error(resp, 503, "store: %s", sqlite3_errmsg(store__db(req->store)));
		goto out;
	}
	if (store_commit(req->store, &err) != 0) {
		http_error(resp, 503, "committing: %s", err.text);
		goto out;
	}
	in_tx = 0;
	resp->status = 204;
	{
		char etag[72];
		make_etag(etag, body, len);
		http_add_header(resp, "ETag", etag);
	}
out:
	if (in_tx)
		store_rollback(req->store);
	free(merged);
	json_decref(old);
	json_decref(add);
	stored_doc_free(&d);
}

/* 1 if text is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). */
static int utf8_valid(const char *text)
{
	const unsigned char *p = (const unsigned char *)text;

	while (*p) {
		unsigned c = *p, n, i, cp;
		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			n = 1, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			n = 2, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			n = 3, cp = c & 0x07;
		else
			return 0;
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3F);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
			return 0;
		p += n + 1;
	}
	return 1;
}

void documents_handle(const struct http_request *req, struct http_response *resp)
{
	struct doc_key k;
	const char *m = req->method;
	size_t i;

	/* Ids are stored and listed back as JSON strings: they must be text. */
	for (i = 0; i < req->n_args; i++) {
		if (!utf8_valid(req->args[i].value)) {
			http_error(resp, 400, "%s is not valid UTF-8", req->args[i].name);
			return;
		}
	}
	memset(&k, 0, sizeof(k));
	if (strcmp(req->path, "/activities/state") == 0)
		k.kind = DOC_STATE;
	else if (strcmp(req->path, "/activities/profile") == 0)
		k.kind = DOC_ACTIVITY_PROFILE;
	else
		k.kind = DOC_AGENT_PROFILE;
	if (read_key(req, resp, &k) != 0)
		return;
	if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) {
		if (k.doc_id)
			get_doc(req, resp, &k);
		else
			list_docs(req, resp, &k);
		return;
	}
	if (!credential_can_write(req->cred)) {
		http_error(resp, 403, "credential %s (scope %s) may not write documents", req->cred->key,
			   credential_scope_name(req->cred->scope));
		return;
	}
	if (strcmp(m, "PUT") == 0)
		write_doc(req, resp, &k, 0);
	else if (strcmp(m, "POST") == 0)
		write_doc(req, resp, &k, 1);
	else if (strcmp(m, "DELETE") == 0)
		delete_docs(req, resp, &k);
	else
		http_error(resp, 405, "documents answer GET, HEAD, PUT, POST and DELETE");
}
