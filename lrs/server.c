/*
 * server.c: the xAPI HTTP API on libmicrohttpd (see server.h): connection
 * handling and limits, the base path, CORS, version negotiation, HTTP Basic
 * authentication, the 1.0.3 alternate request syntax, routing, and the small
 * resources (about, activities, agents). Statements are in
 * statements_api.c, documents in documents.c, the request and response
 * types in http.c. libmicrohttpd's own error log is off: the library does
 * not print.
 */
#include "server.h"
#include "base64.h"
#include "credentials.h"
#include "documents.h"
#include "error.h"
#include "http.h"
#include "identity.h"
#include "ifi.h"
#include "jsonfast.h"
#include "statements_api.h"
#include "store.h"
#include "upload.h"
#include "web.h"
#include "xtime.h"

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_BODY (16u * 1024 * 1024)
#define DEFAULT_MAX_UPLOAD ((size_t)256 * 1024 * 1024)

/*
 * The store connections that threads serving requests read through. A
 * thread takes one at its first request and gives it back when it ends
 * (a connection's thread, when the client goes); idle ones are kept for
 * the next thread, up to IDLE_STORES, and all are closed when the server
 * stops.
 */
struct worker_store {
	struct worker_store *next;
	struct store *store;
	struct lrs_server *srv;
	int in_use;
};

#define IDLE_STORES 8

struct lrs_server {
	struct MHD_Daemon *daemon;
	char *db_path;
	char *base;
	size_t max_body;
	size_t max_upload;          /* the largest web upload (POST /uploads) */
	char *spool_dir;            /* where uploads are spooled: <the store's folder>/uploads */
	const char *default_version;
	unsigned port;
	unsigned char token_key[32];
	pthread_mutex_t stores_lock;
	struct worker_store *stores;
	struct store_checkpointer *ckpt; /* checkpoints for every worker's store */
	/*
	 * Statements are written through one connection, by one worker at a
	 * time for every request waiting (statements_api.c, "the shared
	 * writer"): with a connection per worker, each commit emptied the other
	 * workers' page caches (and row caches), and the workers took turns at
	 * SQLite's write lock by polling it. Requests are still parsed and
	 * validated by each worker in parallel, before they queue.
	 */
	struct store *writer;
	struct statement_writer *statement_writer;
};

static pthread_key_t store_key;          /* a thread's struct worker_store */
static pthread_once_t store_key_once = PTHREAD_ONCE_INIT;
static int store_key_ok;

/* Per-request state kept by libmicrohttpd between calls. */
struct request_state {
	char *body;
	size_t len, cap;
	int too_big;
	char *scratch[HTTP_MAX_KV * 2 + 2]; /* strings decoded for the alternate syntax */
	size_t n_scratch;
	char client[INET6_ADDRSTRLEN];      /* the client's address, for throttling failed logins */
	enum web_resource web;              /* a resource outside the xAPI base path, or WEB_NONE */
	struct upload *upload;              /* POST /uploads: the body streams into it */
	struct credential cred;             /* ... sent by this credential */
	int answered;                       /* a response went early: ignore the rest of the body */
	size_t dropped;                     /* bytes of a failed upload read and dropped */
};

/* ---- the worker thread's store ---- */

/* At a thread's end: its store goes back to the server's idle ones. */
static void worker_store_release(void *p)
{
	struct worker_store *w = p, **link;
	struct lrs_server *srv = w->srv;
	size_t idle = 0;

	pthread_mutex_lock(&srv->stores_lock);
	w->in_use = 0;
	for (link = &srv->stores; *link; link = &(*link)->next)
		idle += !(*link)->in_use;
	if (idle > IDLE_STORES) {
		for (link = &srv->stores; *link != w; link = &(*link)->next)
			;
		*link = w->next;
	} else {
		w = NULL;
	}
	pthread_mutex_unlock(&srv->stores_lock);
	if (w) {
		store_close(w->store);
		free(w);
	}
}

static void store_key_make(void)
{
	store_key_ok = pthread_key_create(&store_key, worker_store_release) == 0;
}

static struct store *worker_store(struct lrs_server *srv, struct lr_error *err)
{
	struct worker_store *w;
	struct store *s = NULL;

	pthread_once(&store_key_once, store_key_make);
	if (!store_key_ok) {
		lr_error_set(err, LR_ENOMEM, "no thread-specific data");
		return NULL;
	}
	w = pthread_getspecific(store_key);
	/* A thread serves one server and ends with it, giving its store back. */
	if (w)
		return w->store;
	pthread_mutex_lock(&srv->stores_lock);
	for (w = srv->stores; w && w->in_use; w = w->next)
		;
	if (w)
		w->in_use = 1;
	pthread_mutex_unlock(&srv->stores_lock);
	if (!w) {
		if (store_open(&s, err, srv->db_path, 0) != 0)
			return NULL;
		if (!(w = calloc(1, sizeof(*w)))) {
			store_close(s);
			lr_error_set(err, LR_ENOMEM, "out of memory");
			return NULL;
		}
		/* Its commits leave checkpoints to the server's checkpoint thread, not to a request. */
		store_checkpointer_attach(s, srv->ckpt);
		w->store = s;
		w->srv = srv;
		w->in_use = 1;
		pthread_mutex_lock(&srv->stores_lock);
		w->next = srv->stores;
		srv->stores = w;
		pthread_mutex_unlock(&srv->stores_lock);
	}
	if (pthread_setspecific(store_key, w) != 0) {
		pthread_mutex_lock(&srv->stores_lock);
		w->in_use = 0;
		pthread_mutex_unlock(&srv->stores_lock);
		lr_error_set(err, LR_ENOMEM, "out of memory");
		return NULL;
	}
	return w->store;
}

/* ---- small resources: about, activities, agents ---- */

static void handle_about(const struct http_request *req, struct http_response *resp)
{
	json_t *about;

	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		http_error(resp, 405, "the about resource only answers GET");
		return;
	}
	about = json_pack("{s:[sssss], s:{}}", "version", "1.0.0", "1.0.1", "1.0.2", "1.0.3",
			  "2.0.0", "extensions");
	if (!about) {
		http_error(resp, 500, "out of memory");
		return;
	}
	http_set_json(resp, 200, about);
	json_decref(about);
}

/* Merges definition def into into: language maps entry by entry, the rest replaced. */
static void merge_definition(json_t *into, const json_t *def)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)def, key, v) {
		json_t *have = json_object_get(into, key);
		if ((strcmp(key, "name") == 0 || strcmp(key, "description") == 0) &&
		    json_is_object(have) && json_is_object(v))
			json_object_update(have, v);
		else
			json_object_set(into, key, v);
	}
}

/*
 * The definitions of Activity ?1 in the newest 1,000 statements that give
 * one (?2: only an org's). An Activity's statements are found by the course
 * index where the course key is the Activity's id (xAPI statements) and by
 * the index of the other object ids (LMS statements, whose course key is
 * the LMS's); each reads newest first, and SQLite merges the two.
 */
#define ACTIVITY_ARM(index, where, org)                                                \
	"SELECT json_extract(json, '$.object.definition'), seq FROM statement"          \
	" INDEXED BY " index " WHERE " where " AND object_type = 'Activity'" org        \
	" AND json_extract(json, '$.object.definition') IS NOT NULL"
#define ACTIVITY_SQL(org)                                                              \
	ACTIVITY_ARM("statement_course", "course_key = ?1 AND object_id = ?1", org)     \
	" UNION ALL "                                                                   \
	ACTIVITY_ARM("statement_object_other",                                          \
		     "object_id = ?1 AND object_id IS NOT NULL AND course_key IS NOT object_id", org) \
	" ORDER BY 2 DESC LIMIT 1000"
static const char activity_sql_all[] = ACTIVITY_SQL("");
static const char activity_sql_org[] = ACTIVITY_SQL(" AND org_id = ?2");

static void handle_activities(const struct http_request *req, struct http_response *resp)
{
	const char *id = http_arg(req, "activityId");
	sqlite3 *db = store__db(req->store);
	sqlite3_stmt *q = NULL;
	json_t *activity = NULL, *definition = NULL;

	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		http_error(resp, 405, "the activities resource only answers GET");
		return;
	}
	if (!id || !id[0]) {
		http_error(resp, 400, "activityId is required");
		return;
	}
	if (req->n_args > 1) {
		http_error(resp, 400, "the activities resource takes only activityId");
		return;
	}
	activity = json_string(id);
	if (!activity) {
		http_error(resp, 400, "activityId is not valid UTF-8");
		return;
	}
	json_decref(activity);
	activity = NULL;
	/* Everything the statements about it said (its org's only, unless the
	 * credential reads every org's), the latest winning. */
	if (sqlite3_prepare_v2(db,
			       credential_reads_all(req->cred) ? activity_sql_all : activity_sql_org,
			       -1, &q, NULL) != SQLITE_OK) {
		http_error(resp, 500, "store: %s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	if (!credential_reads_all(req->cred))
		sqlite3_bind_int64(q, 2, req->cred->org_id);
	activity = json_pack("{s:s, s:s}", "objectType", "Activity", "id", id);
	definition = json_object();
	if (!activity || !definition) {
		http_error(resp, 500, "out of memory");
		goto out;
	}
	{
		/* Oldest first, so that later statements win. */
		json_t *defs = json_array();
		size_t i;
		while (defs && sqlite3_step(q) == SQLITE_ROW) {
			const char *text = (const char *)sqlite3_column_text(q, 0);
			json_t *d = text ? jsonfast_loadb(text, strlen(text), 0, NULL) : NULL;
			if (json_is_object(d))
				json_array_insert_new(defs, 0, d);
			else
				json_decref(d);
		}
		for (i = 0; i < json_array_size(defs); i++)
			merge_definition(definition, json_array_get(defs, i));
		json_decref(defs);
	}
	if (json_object_size(definition) > 0)
		json_object_set(activity, "definition", definition);
	http_set_json(resp, 200, activity);
out:
	json_decref(definition);
	json_decref(activity);
	sqlite3_finalize(q);
}

/* Adds the identifier of agent key (ifi form) to the Person's arrays. */
static void person_add_key(json_t *person, const char *key)
{
	if (strncmp(key, "mbox:", 5) == 0) {
		char mbox[IFI_MAX + 8];
		snprintf(mbox, sizeof(mbox), "mailto:%s", key + 5);
		json_array_append_new(json_object_get(person, "mbox"), json_string(mbox));
	} else if (strncmp(key, "sha1:", 5) == 0) {
		json_array_append_new(json_object_get(person, "mbox_sha1sum"), json_string(key + 5));
	} else if (strncmp(key, "openid:", 7) == 0) {
		json_array_append_new(json_object_get(person, "openid"), json_string(key + 7));
	} else if (strncmp(key, "account:", 8) == 0) {
		const char *bar = strrchr(key + 8, '|');
		if (bar) {
			json_array_append_new(json_object_get(person, "account"),
					      json_pack("{s:s%, s:s}", "homePage", key + 8,
							(size_t)(bar - key - 8), "name", bar + 1));
		}
	}
}

static void person_add_name(json_t *person, const char *name)
{
	json_t *names = json_object_get(person, "name");
	size_t i;
	json_t *v;

	if (!name)
		return;
	json_array_foreach(names, i, v)
		if (strcmp(json_string_value(v), name) == 0)
			return;
	json_array_append_new(names, json_string(name));
}

static void handle_agents(const struct http_request *req, struct http_response *resp)
{
	const char *agent_text = http_arg(req, "agent");
	struct lr_error err;
	struct identity *id = NULL;
	sqlite3 *db = store__db(req->store);
	sqlite3_stmt *q = NULL;
	json_t *agent = NULL, *person = NULL, *v;
	char key[IFI_MAX];
	const char *k;
	long p = -1;
	int all = credential_reads_all(req->cred);

	lr_error_clear(&err);
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		http_error(resp, 405, "the agents resource only answers GET");
		return;
	}
	if (!agent_text) {
		http_error(resp, 400, "agent is required");
		return;
	}
	if (req->n_args > 1) {
		http_error(resp, 400, "the agents resource takes only agent");
		return;
	}
	agent = json_loads(agent_text, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(agent) || ifi_key(key, sizeof(key), agent) != 0 ||
	    ((k = json_string_value(json_object_get(agent, "objectType"))) && strcmp(k, "Agent") != 0 &&
	     strcmp(k, "Group") != 0)) {
		http_error(resp, 400, "agent is not an Agent with one identifier");
		goto out;
	}
	person = json_pack("{s:s, s:[], s:[], s:[], s:[], s:[]}", "objectType", "Person", "name",
			   "mbox", "mbox_sha1sum", "openid", "account");
	if (!person) {
		http_error(resp, 500, "out of memory");
		goto out;
	}
	/* The merged Person: every identifier lrhub's identity resolution joins to this one. */
	if (identity_resolve(&id, &err, req->store) != 0) {
		http_error(resp, 500, "resolving persons: %s", err.text);
		goto out;
	}
	/* Only the identifiers the credential's org has seen, unless it reads every org's. */
	if (sqlite3_prepare_v2(db, all ? "SELECT id FROM agent WHERE ifi = ?"
				       : "SELECT a.id FROM agent a JOIN agent_org ao ON ao.agent_id = a.id"
					 " AND ao.org_id = ?2 WHERE a.ifi = ?1", -1, &q, NULL) != SQLITE_OK)
		goto db_fail;
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	if (!all)
		sqlite3_bind_int64(q, 2, req->cred->org_id);
	if (sqlite3_step(q) == SQLITE_ROW)
		p = identity_person_of(id, sqlite3_column_int64(q, 0));
	sqlite3_finalize(q);
	q = NULL;
	if (p < 0) {
		person_add_name(person, json_string_value(json_object_get(agent, "name")));
		person_add_key(person, key);
	} else {
		if (sqlite3_prepare_v2(db, all ? "SELECT id, ifi, name FROM agent ORDER BY ifi"
					       : "SELECT id, ifi, name FROM agent a WHERE EXISTS(SELECT 1"
						 " FROM agent_org ao WHERE ao.agent_id = a.id AND ao.org_id = ?)"
						 " ORDER BY ifi", -1, &q, NULL) != SQLITE_OK)
			goto db_fail;
		if (!all)
			sqlite3_bind_int64(q, 1, req->cred->org_id);
		while (sqlite3_step(q) == SQLITE_ROW) {
			if (identity_person_of(id, sqlite3_column_int64(q, 0)) != p)
				continue;
			person_add_name(person, (const char *)sqlite3_column_text(q, 2));
			person_add_key(person, (const char *)sqlite3_column_text(q, 1));
		}
	}
	/* Empty arrays are left out. */
	{
		const char *names[] = { "name", "mbox", "mbox_sha1sum", "openid", "account", NULL };
		int i;
		for (i = 0; names[i]; i++) {
			v = json_object_get(person, names[i]);
			if (json_array_size(v) == 0)
				json_object_del(person, names[i]);
		}
	}
	http_set_json(resp, 200, person);
	goto out;
db_fail:
	http_error(resp, 500, "store: %s", sqlite3_errmsg(db));
out:
	sqlite3_finalize(q);
	identity_free(id);
	json_decref(person);
	json_decref(agent);
}

/* ---- request plumbing ---- */

static enum MHD_Result collect_kv(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	struct http_request *req = cls;

	if (kind == MHD_GET_ARGUMENT_KIND) {
		if (req->n_args < HTTP_MAX_KV) {
			req->args[req->n_args].name = key;
			req->args[req->n_args].value = value ? value : "";
			req->n_args++;
		}
	} else if (req->n_headers < HTTP_MAX_KV) {
		req->headers[req->n_headers].name = key;
		req->headers[req->n_headers].value = value ? value : "";
		req->n_headers++;
	}
	return MHD_YES;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes an application/x-www-form-urlencoded component of len bytes (new string). */
static char *form_decode(const char *text, size_t len)
{
	char *out = malloc(len + 1);
	size_t i, o = 0;

	if (!out)
		return NULL;
	for (i = 0; i < len; i++) {
		if (text[i] == '+') {
			out[o++] = ' ';
		} else if (text[i] == '%' && i + 2 < len &&
			   hexval((unsigned char)text[i + 1]) >= 0 && hexval((unsigned char)text[i + 2]) >= 0) {
			out[o++] = (char)(hexval((unsigned char)text[i + 1]) * 16 +
					  hexval((unsigned char)text[i + 2]));
			i += 2;
		} else {
			out[o++] = text[i];
		}
	}
	out[o] = '\0';
	return out;
}

static char *keep_scratch(struct request_state *st, char *text)
{
	if (!text)
		return NULL;
	if (st->n_scratch >= sizeof(st->scratch) / sizeof(st->scratch[0])) {
		free(text);
		return NULL;
	}
	st->scratch[st->n_scratch++] = text;
	return text;
}

static void set_header(struct http_request *req, const char *name, const char *value)
{
	size_t i;

	for (i = 0; i < req->n_headers; i++) {
		if (strcasecmp(req->headers[i].name, name) == 0) {
			req->headers[i].value = value;
			return;
		}
	}
	if (req->n_headers < HTTP_MAX_KV) {
		req->headers[req->n_headers].name = name;
		req->headers[req->n_headers].value = value;
		req->n_headers++;
	}
}

/*
 * The 1.0.3 alternate request syntax: POST ?method=PUT with the headers,
 * the query arguments and the content as form fields. Returns 0, or an HTTP
 * status after filling resp.
 */
static int alternate_syntax(struct http_request *req, struct request_state *st,
			    struct http_response *resp)
{
	static const char *const header_fields[] = {
		"Authorization", "X-Experience-API-Version", "Content-Type", "Content-Length",
		"If-Match", "If-None-Match", NULL
	};
	const char *method = http_arg(req, "method");
	const char *p, *end;
	char *content = NULL;
	size_t content_len = 0;

	if (strcmp(req->method, "POST") != 0)
		return http_error(resp, 400, "the method parameter is only allowed on POST");
	if (strcmp(method, "GET") != 0 && strcmp(method, "PUT") != 0 &&
	    strcmp(method, "POST") != 0 && strcmp(method, "DELETE") != 0)
		return http_error(resp, 400, "method '%s' is not an HTTP method lrhub answers", method);
	if (req->n_args != 1)
		return http_error(resp, 400,
				  "with the alternate request syntax all parameters go in the form body");
	if (!http_type_is(http_header(req, "Content-Type"), "application/x-www-form-urlencoded"))
		return http_error(resp, 400,
				  "the alternate request syntax needs application/x-www-form-urlencoded");
	req->method = method;
	req->n_args = 0;
	p = req->body ? req->body : "";
	end = p + req->body_len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *field_end = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(field_end - p));
		char *name, *value;
		int i, is_header = 0;

		if (!eq)
			eq = field_end;
		name = keep_scratch(st, form_decode(p, (size_t)(eq - p)));
		value = keep_scratch(st, form_decode(eq < field_end ? eq + 1 : eq,
						     (size_t)(field_end - (eq < field_end ? eq + 1 : eq))));
		if (!name || !value)
			return http_error(resp, 413, "too many form fields");
		for (i = 0; header_fields[i]; i++) {
			if (strcasecmp(name, header_fields[i]) == 0) {
				set_header(req, header_fields[i], value);
				is_header = 1;
			}
		}
		if (is_header) {
			/* done */
		} else if (strcmp(name, "content") == 0) {
			content = value;
			content_len = strlen(value);
		} else if (req->n_args < HTTP_MAX_KV) {
			req->args[req->n_args].name = name;
			req->args[req->n_args].value = value;
			req->n_args++;
		}
		p = field_end + 1;
	}
	req->body = content;
	req->body_len = content ? content_len : 0;
	if (!http_header(req, "Content-Type") ||
	    http_type_is(http_header(req, "Content-Type"), "application/x-www-form-urlencoded"))
		set_header(req, "Content-Type", "application/json");
	return 0;
}

/* Answers 429 with Retry-After for a client or key that failed to log in too often. */
static int too_many_failures(struct http_response *resp, unsigned wait_s)
{
	char seconds[16];

	snprintf(seconds, sizeof(seconds), "%u", wait_s);
	http_error(resp, 429, "too many failed logins from this address or for this key: try again in %u s",
		   wait_s);
	http_add_header(resp, "Retry-After", seconds);
	return 429;
}

/*
 * Checks HTTP Basic credentials, slowing down repeated failures per client
 * address and per key (see credentials.h). Returns 0 with *cred set, or a
 * status after filling resp.
 */
static int authenticate(const struct http_request *req, const char *client,
			struct http_response *resp, struct credential *cred)
{
	const char *auth = http_header(req, "Authorization");
	char decoded[512];
	char *colon;
	struct lr_error err;
	unsigned wait_s;
	int rc;

	lr_error_clear(&err);
	if (!auth || strncasecmp(auth, "Basic ", 6) != 0)
		return http_error(resp, 401, "HTTP Basic authentication is required");
	auth += 6;
	while (*auth == ' ')
		auth++;
	if (base64_decode((unsigned char *)decoded, sizeof(decoded), auth, strlen(auth)) < 0 ||
	    !(colon = strchr(decoded, ':'))) {
		/* Not a guess at a secret (and it costs nothing): not counted. */
		if ((wait_s = credential_throttle_wait(client, NULL, xtime_now_ms())) > 0)
			return too_many_failures(resp, wait_s);
		return http_error(resp, 401, "the Authorization header is malformed");
	}
	*colon = '\0';
	/*
	 * A pair verified lately goes in at once, whatever others try with the
	 * key, unless the key was revoked since (by `lrhub credential revoke`,
	 * another process): one index lookup, not the key derivation.
	 */
	if (credential_verify_cached(decoded, colon + 1, cred) == 0) {
		rc = credential_in_use(req->store, &err, decoded);
		if (rc == 0)
			credential_cache_forget(decoded);
		memset(decoded, 0, sizeof(decoded));
		if (rc == 1)
			return 0;
		if (rc < 0)
			return http_error(resp, 503, "checking credentials: %s", err.text);
		return http_error(resp, 401, "unknown key or wrong secret");
	}
	if ((wait_s = credential_throttle_wait(client, decoded, xtime_now_ms())) > 0) {
		memset(decoded, 0, sizeof(decoded));
		return too_many_failures(resp, wait_s);
	}
	rc = credential_verify(req->store, &err, decoded, colon + 1, cred);
	if (rc == LR_ENOTFOUND)
		credential_throttle_failed(client, decoded, xtime_now_ms());
	else if (rc == 0)
		credential_throttle_succeeded(decoded);
	memset(decoded, 0, sizeof(decoded));
	if (rc == LR_ENOTFOUND)
		return http_error(resp, 401, "unknown key or wrong secret");
	if (rc != 0)
		return http_error(resp, 503, "checking credentials: %s", err.text);
	return 0;
}

/* Reads X-Experience-API-Version: 1 for 1.0.x, 2 for 2.0.x, 0 if absent, -1 if unsupported. */
static int parse_version(const char *text, char out[16])
{
	const char *p;

	if (!text)
		return 0;
	if (strncmp(text, "1.0", 3) == 0 || strncmp(text, "2.0", 3) == 0) {
		p = text + 3;
		if (*p == '\0') {
			snprintf(out, 16, "%s", text[0] == '1' ? "1.0.3" : "2.0.0");
			return text[0] == '1' ? 1 : 2;
		}
		if (*p == '.' && isdigit((unsigned char)p[1])) {
			for (p++; isdigit((unsigned char)*p); p++)
				;
			if (*p == '\0' && strlen(text) < 16) {
				snprintf(out, 16, "%s", text);
				return text[0] == '1' ? 1 : 2;
			}
		}
	}
	return -1;
}

static void route(struct lrs_server *srv, struct http_request *req, struct request_state *st,
		  struct http_response *resp, char version_out[16])
{
	struct credential cred;
	struct lr_error err;
	const char *path = req->path;
	int is_about = strcmp(path, "/about") == 0, v;

	lr_error_clear(&err);
	snprintf(version_out, 16, "%s", srv->default_version);
	if (http_arg(req, "method") && !is_about) {
		/* Alternate syntax: the version header may be in the form. */
		char tmp[16];
		int tv = parse_version(http_header(req, "X-Experience-API-Version"), tmp);
		if (tv == 2) {
			snprintf(version_out, 16, "%s", tmp);
			http_error(resp, 400, "the alternate request syntax is not allowed in xAPI 2.0");
			return;
		}
		if (alternate_syntax(req, st, resp) != 0)
			return;
	}
	v = parse_version(http_header(req, "X-Experience-API-Version"), version_out);
	if (v < 0) {
		snprintf(version_out, 16, "%s", srv->default_version);
		if (!is_about) {
			http_error(resp, 400, "X-Experience-API-Version '%s' is not supported (use 1.0.x or 2.0.x)",
				   http_header(req, "X-Experience-API-Version"));
			return;
		}
	} else if (v == 0 && !is_about) {
		http_error(resp, 400, "the X-Experience-API-Version header is required");
		return;
	}
	req->v2 = v == 2 || (v <= 0 && srv->default_version[0] == '2');
	if (is_about) {
		handle_about(req, resp);
		return;
	}
	if (!(req->store = worker_store(srv, &err))) {
		http_error(resp, 503, "the store cannot be opened: %s", err.text);
		return;
	}
	req->writer = srv->statement_writer;
	if (authenticate(req, st->client[0] ? st->client : NULL, resp, &cred) != 0)
		return;
	req->cred = &cred;
	req->token_key = srv->token_key;
	if (strcmp(path, "/statements") == 0)
		statements_api_handle(req, resp);
	else if (strcmp(path, "/activities/state") == 0 || strcmp(path, "/activities/profile") == 0 ||
		 strcmp(path, "/agents/profile") == 0)
		documents_handle(req, resp);
	else if (strcmp(path, "/activities") == 0)
		handle_activities(req, resp);
	else if (strcmp(path, "/agents") == 0)
		handle_agents(req, resp);
	else
		http_error(resp, 404, "no resource %s%s", req->base, path);
	req->cred = NULL;
}

static enum MHD_Result send_response(struct MHD_Connection *connection, struct http_response *r,
				     const char *version)
{
	struct MHD_Response *m;
	enum MHD_Result ret;
	size_t i;

	if (r->has_file) {
		/* A large answer, sent from its temporary file (which the response closes). */
		r->has_file = 0;
		free(r->body);
		r->body = NULL;
		m = MHD_create_response_from_fd(r->body_len, r->file_fd);
		if (!m) {
			close(r->file_fd);
			return MHD_NO;
		}
	} else {
		m = MHD_create_response_from_buffer(r->body_len, r->body ? r->body : (void *)"",
						    r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	}
	if (!m) {
		free(r->body);
		r->body = NULL;
		return MHD_NO;
	}
	r->body = NULL; /* owned by the response now */
	if (r->content_type[0] && r->status != 204)
		MHD_add_response_header(m, "Content-Type", r->content_type);
	for (i = 0; i < r->n_headers; i++)
		MHD_add_response_header(m, r->headers[i].name, r->headers[i].value);
	MHD_add_response_header(m, "X-Experience-API-Version", version);
	MHD_add_response_header(m, "Access-Control-Allow-Origin", "*");
	MHD_add_response_header(m, "Access-Control-Expose-Headers",
				"ETag, Last-Modified, Content-Type, X-Experience-API-Version,"
				" X-Experience-API-Consistent-Through");
	if (r->status == 401)
		MHD_add_response_header(m, "WWW-Authenticate", "Basic realm=\"lrhub\"");
	ret = MHD_queue_response(connection, (unsigned)r->status, m);
	MHD_destroy_response(m);
	return ret;
}

/* The dashboard, reports, upload form and assets (web.c), outside the xAPI base path. */
static void route_web(struct lrs_server *srv, struct http_request *req, struct request_state *st,
		      struct http_response *resp)
{
	struct credential cred;
	struct lr_error err;

	lr_error_clear(&err);
	req->max_upload = srv->max_upload;
	if (st->web == WEB_UPLOADS) {
		http_error(resp, 405, "POST the export to /uploads as multipart/form-data (the form is at /upload)");
		http_add_header(resp, "Allow", "POST");
		return;
	}
	if (st->web == WEB_ASSET) {
		web_handle(st->web, req, resp);
		return;
	}
	if (st->too_big) {
		http_error(resp, 413, "the request body is larger than %zu bytes", srv->max_body);
		return;
	}
	if (!(req->store = worker_store(srv, &err))) {
		http_error(resp, 503, "the store cannot be opened: %s", err.text);
		return;
	}
	req->writer = srv->statement_writer;
	if (authenticate(req, st->client[0] ? st->client : NULL, resp, &cred) != 0) {
		if (resp->status == 401 && web_is_page(st->web))
			web_error_page(resp, 401, "this page needs an lrhub credential");
		return;
	}
	req->cred = &cred;
	web_handle(st->web, req, resp);
	req->cred = NULL;
}

/*
 * The first call of POST /uploads, with the headers only: refuses at once
 * (without reading the body) a body too large, a post from another site's
 * page, a missing or wrong credential, a credential that may not write, a
 * body that is not multipart/form-data; else starts the upload.
 */
static enum MHD_Result start_upload(struct lrs_server *srv, struct MHD_Connection *connection,
				    struct request_state *st)
{
	struct http_request req;
	struct http_response resp;
	struct lr_error err;
	const char *length;
	enum MHD_Result ret;
	int rc;

	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	lr_error_clear(&err);
	req.method = "POST";
	req.path = "/uploads";
	req.base = srv->base;
	MHD_get_connection_values(connection, MHD_HEADER_KIND, collect_kv, &req);
	length = http_header(&req, "Content-Length");
	if (length && strtoull(length, NULL, 10) > srv->max_upload) {
		char what[128];
		snprintf(what, sizeof(what), "the upload is larger than %zu bytes (--max-upload)", srv->max_upload);
		web_error_for(&req, &resp, 413, what);
	} else if (!upload_same_origin(&req)) {
		web_error_for(&req, &resp, 403, "the upload comes from a page of another site (Origin or Referer)");
	} else if (!(req.store = worker_store(srv, &err))) {
		http_error(&resp, 503, "the store cannot be opened: %s", err.text);
	} else if (authenticate(&req, st->client[0] ? st->client : NULL, &resp, &st->cred) != 0) {
		/* resp says why */
	} else if (!credential_can_write(&st->cred)) {
		web_error_for(&req, &resp, 403, "this credential may not upload: it needs the write or admin scope");
	} else if ((rc = upload_begin(&st->upload, &err, srv->spool_dir, http_header(&req, "Content-Type"),
				      srv->max_upload)) != 0) {
		web_error_for(&req, &resp, rc == LR_EINVAL ? 415 : 500, err.text);
	} else {
		return MHD_YES;
	}
	st->answered = 1;
	ret = send_response(connection, &resp, srv->default_version);
	free(resp.body);
	return ret;
}

/* The last call of POST /uploads (or an early stop): ingest and answer. */
static enum MHD_Result finish_upload(struct lrs_server *srv, struct MHD_Connection *connection,
				     struct request_state *st)
{
	struct http_request req;
	struct http_response resp;
	struct lr_error err;
	enum MHD_Result ret;

	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	lr_error_clear(&err);
	req.method = "POST";
	req.path = "/uploads";
	req.base = srv->base;
	req.max_upload = srv->max_upload;
	MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND | MHD_HEADER_KIND, collect_kv, &req);
	if (!(req.store = worker_store(srv, &err))) {
		http_error(&resp, 503, "the store cannot be opened: %s", err.text);
	} else {
		req.cred = &st->cred;
		upload_answer(st->upload, &req, &resp);
	}
	upload_free(st->upload);
	st->upload = NULL;
	st->answered = 1;
	ret = send_response(connection, &resp, srv->default_version);
	free(resp.body);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
				  const char *method, const char *http_version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct lrs_server *srv = cls;
	struct request_state *st = *con_cls;
	struct http_request req;
	struct http_response resp;
	char version[16];
	size_t base_len = strlen(srv->base);
	enum MHD_Result ret;

	(void)http_version;
	if (!st) {
		const char *length;
		const union MHD_ConnectionInfo *ci;
		st = calloc(1, sizeof(*st));
		if (!st)
			return MHD_NO;
		*con_cls = st;
		ci = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr,
				  st->client, sizeof(st->client));
		else if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr,
				  st->client, sizeof(st->client));
		st->web = web_resource_of(url);
		if (st->web == WEB_UPLOADS && strcmp(method, "POST") == 0)
			return start_upload(srv, connection, st);
		length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Content-Length");
		if (length && strtoull(length, NULL, 10) > srv->max_body) {
			/* Answer at once, without reading the body; the connection closes. */
			memset(&resp, 0, sizeof(resp));
			st->too_big = 1;
			http_error(&resp, 413, "the request body is larger than %zu bytes", srv->max_body);
			ret = send_response(connection, &resp, srv->default_version);
			free(resp.body);
			return ret;
		}
		return MHD_YES;
	}
	if (st->answered) {
		/* Answered early: the rest of the body is not read. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (st->upload) {
		struct lr_error err;
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		lr_error_clear(&err);
		if (n == 0)
			return finish_upload(srv, connection, st);
		/*
		 * libmicrohttpd cannot answer in the middle of a body: once the
		 * upload has failed (too large, malformed) the rest is read and
		 * dropped, and the answer says why; a client that keeps sending
		 * more than 64 MiB after that is cut off.
		 */
		if (upload_feed(st->upload, &err, upload_data, n) != 0 &&
		    (st->dropped += n) > ((size_t)64 << 20))
			return MHD_NO;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!st->too_big && st->len + *upload_data_size > srv->max_body)
			st->too_big = 1;
		if (!st->too_big) {
			if (st->len + *upload_data_size + 1 > st->cap) {
				size_t cap = st->cap ? st->cap : 8192;
				char *grown;
				while (cap < st->len + *upload_data_size + 1)
					cap *= 2;
				grown = realloc(st->body, cap);
				if (!grown)
					return MHD_NO;
				st->body = grown;
				st->cap = cap;
			}
			memcpy(st->body + st->len, upload_data, *upload_data_size);
			st->len += *upload_data_size;
			st->body[st->len] = '\0';
		}
		*upload_data_size = 0;
		return MHD_YES;
	}

	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	req.method = method;
	req.base = srv->base;
	req.body = st->body;
	req.body_len = st->len;
	snprintf(version, sizeof(version), "%s", srv->default_version);
	MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND | MHD_HEADER_KIND, collect_kv, &req);
	if (strcmp(method, "OPTIONS") == 0) {
		resp.status = 204;
		http_add_header(&resp, "Access-Control-Allow-Methods",
				"GET, HEAD, PUT, POST, DELETE, OPTIONS");
		http_add_header(&resp, "Access-Control-Allow-Headers",
				"Authorization, Content-Type, X-Experience-API-Version, If-Match,"
				" If-None-Match, X-Experience-API-Hash");
		http_add_header(&resp, "Access-Control-Max-Age", "86400");
	} else if (st->web != WEB_NONE) {
		req.path = url;
		route_web(srv, &req, st, &resp);
	} else if (strncmp(url, srv->base, base_len) != 0 || (url[base_len] != '/' && url[base_len] != '\0')) {
		http_error(&resp, 404, "no resource %s (the xAPI API is under %s/)", url, srv->base);
	} else if (st->too_big) {
		http_error(&resp, 413, "the request body is larger than %zu bytes", srv->max_body);
	} else {
		req.path = url + base_len;
		if (req.path[0] == '\0')
			req.path = "/";
		if (strcmp(req.path, "/") != 0 && req.path[strlen(req.path) - 1] == '/') {
			/* "/statements/" is "/statements". */
			char *trimmed = keep_scratch(st, strdup(req.path));
			if (trimmed) {
				trimmed[strlen(trimmed) - 1] = '\0';
				req.path = trimmed;
			}
		}
		route(srv, &req, st, &resp, version);
	}
	if (resp.status == 0)
		http_error(&resp, 500, "no answer");
	ret = send_response(connection, &resp, version);
	free(resp.body);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request_state *st = *con_cls;
	size_t i;

	(void)cls;
	(void)connection;
	(void)toe;
	if (!st)
		return;
	upload_free(st->upload);
	for (i = 0; i < st->n_scratch; i++)
		free(st->scratch[i]);
	free(st->body);
	free(st);
	*con_cls = NULL;
}

/* ---- start and stop ---- */

/*
 * ADDRESS:PORT: an IPv4 address (or "localhost", or "*" / nothing for every
 * IPv4 address), or an IPv6 address in brackets ("[::1]:8080", "[::]:8080"
 * for every address).
 */
static int parse_listen(const char *listen, struct sockaddr_storage *addr, struct lr_error *err)
{
	const char *colon = strrchr(listen, ':'), *from = listen, *to;
	char host[64];
	char *end;
	long port;
	int v6 = listen[0] == '[';

	memset(addr, 0, sizeof(*addr));
	if (!colon)
		return lr_error_set(err, LR_EINVAL, "--listen '%s': use ADDRESS:PORT, e.g. 127.0.0.1:8080",
				    listen);
	to = colon;
	if (v6) {
		from = listen + 1;
		if (colon == listen || colon[-1] != ']')
			return lr_error_set(err, LR_EINVAL,
					    "--listen '%s': an IPv6 address goes in brackets: [::1]:8080", listen);
		to = colon - 1;
	}
	if ((size_t)(to - from) >= sizeof(host))
		return lr_error_set(err, LR_EINVAL, "--listen '%s': use ADDRESS:PORT, e.g. 127.0.0.1:8080",
				    listen);
	memcpy(host, from, (size_t)(to - from));
	host[to - from] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 0 || port > 65535)
		return lr_error_set(err, LR_EINVAL, "--listen '%s': the port is not 0 to 65535", listen);
	if (v6) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return lr_error_set(err, LR_EINVAL, "--listen '%s': '%s' is not an IPv6 address",
					    listen, host);
		return 0;
	}
	if (host[0] == '\0' || strcmp(host, "*") == 0)
		snprintf(host, sizeof(host), "0.0.0.0");
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	{
		struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return lr_error_set(err, LR_EINVAL,
					    strchr(host, ':') ? "--listen '%s': '%s' is not an IPv4 address"
								" (an IPv6 address goes in brackets: [::1]:8080)"
							      : "--listen '%s': '%s' is not an IPv4 address",
					    listen, host);
	}
	return 0;
}

/* Loads (or makes, the first time) the key that signs `more` tokens. */
static int load_token_key(struct lrs_server *srv, struct lr_error *err)
{
	struct store *s = NULL;
	sqlite3_stmt *q = NULL;
	unsigned char fresh[32];
	int rc;

	if ((rc = store_open(&s, err, srv->db_path, STORE_CREATE)) != 0)
		return rc;
	if (RAND_bytes(fresh, sizeof(fresh)) != 1) {
		rc = lr_error_set(err, LR_EIO, "no random numbers for the server key");
		goto out;
	}
	if (sqlite3_prepare_v2(store__db(s), "INSERT OR IGNORE INTO server_key(name, value)"
			       " VALUES('more-token', ?)", -1, &q, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_blob(q, 1, fresh, sizeof(fresh), SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(q);
	q = NULL;
	if (sqlite3_prepare_v2(store__db(s), "SELECT value FROM server_key WHERE name = 'more-token'",
			       -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_step(q) != SQLITE_ROW || sqlite3_column_bytes(q, 0) != 32)
		goto fail;
	memcpy(srv->token_key, sqlite3_column_blob(q, 0), 32);
	goto out;
fail:
	rc = lr_error_set(err, LR_EDB, "reading the server key: %s", sqlite3_errmsg(store__db(s)));
out:
	sqlite3_finalize(q);
	store_close(s);
	return rc;
}

/*
 * The checkpoint thread: with SQLite's own checkpoints, the request whose
 * commit took the WAL past 32 MiB copied it into the database file and
 * waited for two fsyncs before it was answered, while the other writers
 * went on.
 */
static int start_checkpointer(struct lrs_server *srv, struct lr_error *err)
{
	struct store *s = NULL;
	int rc;

	if ((rc = store_open(&s, err, srv->db_path, 0)) != 0)
		return rc;
	rc = store_checkpointer_start(&srv->ckpt, s, err);
	store_close(s);
	return rc;
}

int lrs_server_start(struct lrs_server **out, struct lr_error *err,
		     const struct lrs_server_options *opts)
{
	struct lrs_server *srv = NULL;
	struct sockaddr_storage addr;
	const union MHD_DaemonInfo *info;
	unsigned threads = opts->threads;
	int rc = 0;

	*out = NULL;
	if ((rc = parse_listen(opts->listen ? opts->listen : "127.0.0.1:8080", &addr, err)) != 0)
		return rc;
	if (opts->default_version && strcmp(opts->default_version, "1.0.3") != 0 &&
	    strcmp(opts->default_version, "2.0.0") != 0)
		return lr_error_set(err, LR_EINVAL, "the default version must be 1.0.3 or 2.0.0");
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return lr_error_set(err, LR_ENOMEM, "out of memory");
	pthread_mutex_init(&srv->stores_lock, NULL);
	srv->db_path = strdup(opts->db_path);
	srv->base = strdup(opts->base && strcmp(opts->base, "/") != 0 ? opts->base : "");
	if (!srv->db_path || !srv->base) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory");
		goto out;
	}
	if (srv->base[0] && srv->base[strlen(srv->base) - 1] == '/')
		srv->base[strlen(srv->base) - 1] = '\0';
	if (srv->base[0] && srv->base[0] != '/') {
		rc = lr_error_set(err, LR_EINVAL, "--base '%s' must start with '/'", opts->base);
		goto out;
	}
	srv->max_body = opts->max_body ? opts->max_body : DEFAULT_MAX_BODY;
	srv->max_upload = opts->max_upload ? opts->max_upload : DEFAULT_MAX_UPLOAD;
	{
		/* Uploads are spooled next to the store, never outside its folder. */
		const char *slash = strrchr(srv->db_path, '/');
		if (asprintf(&srv->spool_dir, "%.*s/uploads", slash ? (int)(slash - srv->db_path) : 1,
			     slash ? srv->db_path : ".") < 0) {
			srv->spool_dir = NULL;
			rc = lr_error_set(err, LR_ENOMEM, "out of memory");
			goto out;
		}
		if (slash == srv->db_path) {
			free(srv->spool_dir);
			srv->spool_dir = strdup("/uploads");
		}
	}
	srv->default_version = opts->default_version ? opts->default_version : "2.0.0";
	if ((rc = load_token_key(srv, err)) != 0 || (rc = start_checkpointer(srv, err)) != 0 ||
	    (rc = store_open(&srv->writer, err, srv->db_path, 0)) != 0)
		goto out;
	store_checkpointer_attach(srv->writer, srv->ckpt);
	if (statement_writer_new(&srv->statement_writer, srv->writer) != 0) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory");
		goto out;
	}
	/*
	 * A thread per connection unless a pool is asked for. In a pool, the
	 * worker that wakes accepts every connection waiting, so clients that
	 * connect together were all served by one thread, a request at a time
	 * (perf: one of the two workers took all four of the benchmark's
	 * connections); with a thread each, their requests are parsed and
	 * validated at once, and their statements committed together
	 * (statements_api.c, "the shared writer").
	 */
	srv->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
			(threads ? MHD_USE_EPOLL : MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL) |
			/* [::] is every address, the IPv4 ones too */
			(addr.ss_family != AF_INET6 ? 0
			 : IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&addr)->sin6_addr)
				 ? MHD_USE_DUAL_STACK
				 : MHD_USE_IPv6),
		0, NULL, NULL,
		on_request, srv,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
		MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? threads : 0u,
		MHD_OPTION_CONNECTION_LIMIT, opts->max_connections ? opts->max_connections : 256u,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		opts->max_connections_per_ip ? opts->max_connections_per_ip : 64u,
		MHD_OPTION_CONNECTION_TIMEOUT, opts->timeout_s ? opts->timeout_s : 60u,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)128 * 1024,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
		MHD_OPTION_END);
	if (!srv->daemon) {
		rc = lr_error_set(err, LR_EIO, "cannot listen on %s (in use, or not an address of this host)",
				  opts->listen ? opts->listen : "127.0.0.1:8080");
		goto out;
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port
			 : ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
							    : ((struct sockaddr_in *)&addr)->sin_port);
out:
	if (rc != 0) {
		lrs_server_stop(srv, 0);
		return rc;
	}
	*out = srv;
	return 0;
}

unsigned lrs_server_port(const struct lrs_server *srv)
{
	return srv->port;
}

void lrs_server_stop(struct lrs_server *srv, unsigned grace_s)
{
	struct worker_store *w, *next;

	if (!srv)
		return;
	if (srv->daemon) {
		unsigned waited = 0;
		MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
		/* Let the requests in flight finish. */
		while (waited < grace_s * 10) {
			const union MHD_DaemonInfo *info =
				MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
			if (!info || info->num_connections == 0)
				break;
			usleep(100 * 1000);
			waited++;
		}
		MHD_stop_daemon(srv->daemon);
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
	/* The worker threads are gone: their stores can be closed here, then the checkpoints. */
	for (w = srv->stores; w; w = next) {
		next = w->next;
		store_close(w->store);
		free(w);
	}
	statement_writer_free(srv->statement_writer);
	store_close(srv->writer);
	store_checkpointer_stop(srv->ckpt);
	pthread_mutex_destroy(&srv->stores_lock);
	free(srv->db_path);
	free(srv->base);
	free(srv->spool_dir);
	free(srv);
}
