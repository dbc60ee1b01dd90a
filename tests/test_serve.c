/*
 * test_serve.c: the xAPI server in process (lrs/server.c), driven with
 * libcurl on a loopback port, with a thread per connection and with a
 * pool: about, auth, a statement posted and read back, many clients posting
 * at once (no "database is locked"; requests that wait are written in one
 * transaction, and one that conflicts there is refused alone), clients
 * coming and going (their threads' store connections are given back), and
 * a clean stop that closes every connection (LeakSanitizer checks the
 * rest).
 */
#include "lrs/credentials.h"
#include "lrs/error.h"
#include "lrs/server.h"
#include "lrs/store.h"
#include "tests/test.h"

#include <curl/curl.h>
#include <jansson.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLIENTS 6
#define POSTS_EACH 15

static char base_url[128];
static char userpwd[CREDENTIAL_KEY_LEN + CREDENTIAL_SECRET_LEN + 2];

struct answer {
	long status;
	char body[131072];
	size_t len;
};

static size_t collect(char *data, size_t size, size_t n, void *ctx)
{
	struct answer *a = ctx;
	size_t len = size * n, room = sizeof(a->body) - 1 - a->len;

	memcpy(a->body + a->len, data, len < room ? len : room);
	a->len += len < room ? len : room;
	a->body[a->len] = '\0';
	return len;
}

/* One request on handle h (reused: keep-alive). Returns the status, 0 on a transport error. */
static long request(CURL *h, const char *method, const char *path, const char *body, int auth,
		    struct answer *a)
{
	struct curl_slist *headers = NULL;
	char url[512];

	memset(a, 0, sizeof(*a));
	snprintf(url, sizeof(url), "%s%s", base_url, path);
	headers = curl_slist_append(headers, "X-Experience-API-Version: 1.0.3");
	headers = curl_slist_append(headers, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_USERPWD, auth ? userpwd : NULL);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	if (!body)
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status);
	curl_slist_free_all(headers);
	return a->status;
}

static void *client(void *arg)
{
	long id = (long)(intptr_t)arg, *ok = calloc(1, sizeof(long));
	CURL *h = curl_easy_init();
	static _Thread_local struct answer a;
	char body[512];
	int i;

	for (i = 0; h && ok && i < POSTS_EACH; i++) {
		snprintf(body, sizeof(body),
			 "{\"actor\":{\"mbox\":\"mailto:c%ld-%d@example.org\"},"
			 "\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/completed\"},"
			 "\"object\":{\"id\":\"http://example.org/course\"}}", id, i);
		if (request(h, "POST", "/statements", body, 1, &a) == 200)
			(*ok)++;
	}
	curl_easy_cleanup(h);
	return ok;
}

/*
 * Two rivals post, at once, statements with the same ids and other content
 * (their actors differ): for each id one of them is stored and the other
 * refused with 409, whichever comes first. Each request also carries a
 * statement of its own, stored only when its request is.
 */
#define CONTESTED 10

static const char *contested_id(int i)
{
	static const char *const ids[CONTESTED] = {
		"aa0d2bb0-7f0e-4b7e-8a53-0d3c1c9f0a00", "aa0d2bb0-7f0e-4b7e-8a53-0d3c1c9f0a01",
		"aa0d2bb0-7f0e-4b7e-8a53-0d3c1c9f0a02", "aa0d2bb0-7f0e-4b7e-8a53-0d3c1c9f0a03",
		"aa0d2bb0-7f0e-4b7e-8a53-0d3c1c9f0a04", "aa0d2bb0-7f0e-4b7e-8a53-0d3c1c9f0a05",
		"aa0d2bb0-7f0e-4b7e-8a53-0d3c1c9f0a06", "aa0d2bb0-7f0e-4b7e-8a53-0d3c1c9f0a07",
		"aa0d2bb0-7f0e-4b7e-8a53-0d3c1c9f0a08", "aa0d2bb0-7f0e-4b7e-8a53-0d3c1c9f0a09",
	};
	return ids[i];
}

struct rival {
	int which;
	long status[CONTESTED];
};

static void *rival(void *arg)
{
	struct rival *r = arg;
	CURL *h = curl_easy_init();
	static _Thread_local struct answer a;
	char body[1024];
	int i;

	for (i = 0; h && i < CONTESTED; i++) {
		snprintf(body, sizeof(body),
			 "[{\"id\":\"%s\",\"actor\":{\"mbox\":\"mailto:rival%d@example.org\"},"
			 "\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/completed\"},"
			 "\"object\":{\"id\":\"http://example.org/course\"}},"
			 "{\"actor\":{\"mbox\":\"mailto:rival%d-own%d@example.org\"},"
			 "\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/completed\"},"
			 "\"object\":{\"id\":\"http://example.org/course\"}}]",
			 contested_id(i), r->which, r->which, i);
		r->status[i] = request(h, "POST", "/statements", body, 1, &a);
	}
	curl_easy_cleanup(h);
	return NULL;
}

/* The number of stored statements a query (format=ids, limit=0) finds. */
static long count_of(CURL *h, const char *query)
{
	static struct answer a;
	char path[512];
	json_t *ids;
	long n;

	snprintf(path, sizeof(path), "/statements?limit=0&format=ids%s", query);
	if (request(h, "GET", path, NULL, 1, &a) != 200)
		return -1;
	ids = json_loads(a.body, 0, NULL);
	n = (long)json_array_size(json_object_get(ids, "statements"));
	json_decref(ids);
	return n;
}

static void serve(unsigned threads)
{
	struct lrs_server_options o = { 0 };
	struct lrs_server *srv = NULL;
	struct store *s = NULL;
	struct store_org org = { .code = "trust-a" };
	char path[128], key[CREDENTIAL_KEY_LEN + 1], secret[CREDENTIAL_SECRET_LEN + 1];
	struct lr_error err;
	static struct answer a;
	pthread_t threads_of[CLIENTS + 2];
	struct rival rivals[2];
	long total = 0, i, count = 0;
	int k, won[2] = { 0, 0 };
	CURL *h;

	lr_error_clear(&err);
	snprintf(path, sizeof(path), "/tmp/lrhub-test-serve-%ld-%u.db", (long)getpid(), threads);
	unlink(path);
	test_current = threads ? "pool: setup" : "per connection: setup";
	CHECK_INT(store_open(&s, &err, path, STORE_CREATE), 0);
	CHECK_INT(store_org_add(s, &err, &org), 0);
	CHECK_INT(credential_add(s, &err, "trust-a", CREDENTIAL_ADMIN, key, secret), 0);
	store_close(s);
	s = NULL;
	snprintf(userpwd, sizeof(userpwd), "%s:%s", key, secret);

	o.db_path = path;
	o.listen = "127.0.0.1:0";
	o.base = "/xapi";
	o.threads = threads;
	CHECK_INT(lrs_server_start(&srv, &err, &o), 0);
	if (!srv) {
		fprintf(stderr, "%s\n", err.text);
		return;
	}
	CHECK(lrs_server_port(srv) > 0);
	snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%u/xapi", lrs_server_port(srv));
	test_current = threads ? "pool: requests" : "per connection: requests";
	h = curl_easy_init();
	CHECK_INT(request(h, "GET", "/about", NULL, 0, &a), 200);
	CHECK(strstr(a.body, "\"2.0.0\"") != NULL);
	CHECK_INT(request(h, "GET", "/statements", NULL, 0, &a), 401);
	CHECK(strstr(a.body, "\"code\":401") != NULL);
	CHECK_INT(request(h, "PUT", "/statements?statementId=9e0d2bb0-7f0e-4b7e-8a53-0d3c1c9f0a01",
			  "{\"actor\":{\"mbox\":\"mailto:a@example.org\"},"
			  "\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/completed\"},"
			  "\"object\":{\"id\":\"http://example.org/course\"}}", 1, &a), 204);
	CHECK_INT(request(h, "GET", "/statements?statementId=9E0D2BB0-7F0E-4B7E-8A53-0D3C1C9F0A01",
			  NULL, 1, &a), 200);
	CHECK(strstr(a.body, "\"stored\"") != NULL);
	CHECK_INT(request(h, "GET", "/nowhere", NULL, 1, &a), 404);
	/* Two statements of a batch with one id (in any case): the first pair is named. */
#define BATCH_ST(id) "{\"id\":\"" id "\",\"actor\":{\"mbox\":\"mailto:b@example.org\"}," \
		     "\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/completed\"}," \
		     "\"object\":{\"id\":\"http://example.org/course\"}}"
	CHECK_INT(request(h, "POST", "/statements",
			  "[" BATCH_ST("1e0d2bb0-7f0e-4b7e-8a53-0d3c1c9f0a01") ","
			  BATCH_ST("2e0d2bb0-7f0e-4b7e-8a53-0d3c1c9f0a01") ","
			  BATCH_ST("3e0d2bb0-7f0e-4b7e-8a53-0d3c1c9f0a01") ","
			  BATCH_ST("2E0D2BB0-7F0E-4B7E-8A53-0D3C1C9F0A01") ","
			  BATCH_ST("1e0d2bb0-7f0e-4b7e-8a53-0d3c1c9f0a01") "]", 1, &a), 400);
	CHECK_MSG(strstr(a.body, "statements 1 and 3 have the same id 2E0D2BB0-7F0E-4B7E-8A53-0D3C1C9F0A01")
		  != NULL, "%s", a.body);
	CHECK_INT(request(h, "GET", "/statements?statementId=1e0d2bb0-7f0e-4b7e-8a53-0d3c1c9f0a01",
			  NULL, 1, &a), 404);

	test_current = threads ? "pool: concurrent clients" : "per connection: concurrent clients";
	/*
	 * Another program holds the write lock meanwhile, so the first requests
	 * pile up and are written together, the rivals' first ones with them.
	 */
	CHECK_INT(store_open(&s, &err, path, 0), 0);
	CHECK_INT(store_begin(s, &err), 0);
	for (k = 0; k < 2; k++) {
		rivals[k].which = k;
		pthread_create(&threads_of[CLIENTS + k], NULL, rival, &rivals[k]);
	}
	for (i = 0; i < CLIENTS; i++)
		pthread_create(&threads_of[i], NULL, client, (void *)(intptr_t)i);
	usleep(300 * 1000);
	CHECK_INT(store_commit(s, &err), 0);
	store_close(s);
	s = NULL;
	for (i = 0; i < CLIENTS; i++) {
		void *ok = NULL;
		pthread_join(threads_of[i], &ok);
		total += ok ? *(long *)ok : 0;
		free(ok);
	}
	for (k = 0; k < 2; k++)
		pthread_join(threads_of[CLIENTS + k], NULL);
	CHECK_INT(total, CLIENTS * POSTS_EACH);
	for (k = 0; k < CONTESTED; k++) {
		CHECK_MSG((rivals[0].status[k] == 200 && rivals[1].status[k] == 409) ||
			  (rivals[0].status[k] == 409 && rivals[1].status[k] == 200),
			  "id %d: %ld and %ld", k, rivals[0].status[k], rivals[1].status[k]);
		won[0] += rivals[0].status[k] == 200;
		won[1] += rivals[1].status[k] == 200;
	}
	CHECK_INT(count_of(h, "&agent=%7B%22mbox%22%3A%22mailto%3Arival0%40example.org%22%7D"), won[0]);
	CHECK_INT(count_of(h, "&agent=%7B%22mbox%22%3A%22mailto%3Arival1%40example.org%22%7D"), won[1]);
	for (k = 0; k < CONTESTED; k++) {
		char query[200];
		int winner = rivals[0].status[k] == 200 ? 0 : 1;
		snprintf(query, sizeof(query),
			 "&agent=%%7B%%22mbox%%22%%3A%%22mailto%%3Arival%d-own%d%%40example.org%%22%%7D", winner, k);
		CHECK_INT(count_of(h, query), 1);
		snprintf(query, sizeof(query),
			 "&agent=%%7B%%22mbox%%22%%3A%%22mailto%%3Arival%d-own%d%%40example.org%%22%%7D", 1 - winner, k);
		CHECK_INT(count_of(h, query), 0);
	}
	count = count_of(h, "");
	CHECK_INT(count, CLIENTS * POSTS_EACH + 1 + 2 * CONTESTED);

	/* Clients that come and go: each connection's thread gives its store back. */
	test_current = threads ? "pool: clients come and go" : "per connection: clients come and go";
	for (i = 0; i < 20; i++) {
		CURL *once = curl_easy_init();
		CHECK_INT(request(once, "GET", "/statements?limit=1", NULL, 1, &a), 200);
		curl_easy_cleanup(once);
	}
	curl_easy_cleanup(h);

	test_current = threads ? "pool: stop" : "per connection: stop";
	lrs_server_stop(srv, 5);
	CHECK_INT(store_open(&s, &err, path, 0), 0);
	CHECK_INT(store_count_statements(s, &err, 0, &count), 0);
	CHECK_INT(count, CLIENTS * POSTS_EACH + 1 + 2 * CONTESTED);
	store_close(s);
	unlink(path);
	{
		char more[160];
		snprintf(more, sizeof(more), "%s-wal", path);
		unlink(more);
		snprintf(more, sizeof(more), "%s-shm", path);
		unlink(more);
	}
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	serve(0);
	serve(3);
	curl_global_cleanup();
	TEST_END();
}
