/*
 * test_serve.c: the xAPI server in process (lrs/server.c), driven with
 * libcurl on a loopback port: about, auth, a statement posted and read
 * back, many clients posting at once (one store connection per worker
 * thread, no "database is locked"), and a clean stop that closes every
 * connection (LeakSanitizer checks the rest).
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

int main(void)
{
	struct lrs_server_options o = { 0 };
	struct lrs_server *srv = NULL;
	struct store *s = NULL;
	struct store_org org = { .code = "trust-a" };
	char path[128], key[CREDENTIAL_KEY_LEN + 1], secret[CREDENTIAL_SECRET_LEN + 1];
	struct lr_error err;
	static struct answer a;
	pthread_t threads[CLIENTS];
	long total = 0, i, count = 0;
	CURL *h;
	json_t *ids;

	lr_error_clear(&err);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(path, sizeof(path), "/tmp/lrhub-test-serve-%ld.db", (long)getpid());
	unlink(path);
	test_current = "setup";
	CHECK_INT(store_open(&s, &err, path, STORE_CREATE), 0);
	CHECK_INT(store_org_add(s, &err, &org), 0);
	CHECK_INT(credential_add(s, &err, "trust-a", CREDENTIAL_ADMIN, key, secret), 0);
	store_close(s);
	s = NULL;
	snprintf(userpwd, sizeof(userpwd), "%s:%s", key, secret);

	o.db_path = path;
	o.listen = "127.0.0.1:0";
	o.base = "/xapi";
	o.threads = 3;
	CHECK_INT(lrs_server_start(&srv, &err, &o), 0);
	if (!srv) {
		fprintf(stderr, "%s\n", err.text);
		TEST_END();
	}
	CHECK(lrs_server_port(srv) > 0);
	snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%u/xapi", lrs_server_port(srv));

	test_current = "requests";
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

	test_current = "concurrent clients";
	for (i = 0; i < CLIENTS; i++)
		pthread_create(&threads[i], NULL, client, (void *)(intptr_t)i);
	for (i = 0; i < CLIENTS; i++) {
		void *ok = NULL;
		pthread_join(threads[i], &ok);
		total += ok ? *(long *)ok : 0;
		free(ok);
	}
	CHECK_INT(total, CLIENTS * POSTS_EACH);
	CHECK_INT(request(h, "GET", "/statements?limit=0&format=ids", NULL, 1, &a), 200);
	ids = json_loads(a.body, 0, NULL);
	count = (long)json_array_size(json_object_get(ids, "statements"));
	json_decref(ids);
	CHECK_INT(count, CLIENTS * POSTS_EACH + 1);
	curl_easy_cleanup(h);

	test_current = "stop";
	lrs_server_stop(srv, 5);
	CHECK_INT(store_open(&s, &err, path, 0), 0);
	CHECK_INT(store_count_statements(s, &err, 0, &count), 0);
	CHECK_INT(count, CLIENTS * POSTS_EACH + 1);
	store_close(s);
	curl_global_cleanup();
	unlink(path);
	{
		char more[160];
		snprintf(more, sizeof(more), "%s-wal", path);
		unlink(more);
		snprintf(more, sizeof(more), "%s-shm", path);
		unlink(more);
	}
	TEST_END();
}
