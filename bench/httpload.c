/*
 * httpload.c: the HTTP figures of the benchmarks, a small load client for
 * `lrhub serve` on libcurl: one thread per connection, each with its own easy
 * handle, so each connection is kept alive across its requests.
 *
 *   httpload post BASE KEY:SECRET FILE.jsonl FIRST COUNT BATCH CONNECTIONS
 *       POSTs statements FIRST..FIRST+COUNT-1 (0-based lines of FILE) to
 *       BASE/statements as JSON arrays of BATCH, over CONNECTIONS
 *       connections taking batches in turn.
 *   httpload get BASE KEY:SECRET LIMIT
 *       GETs BASE/statements?limit=LIMIT and follows "more" to the end.
 *
 * Before the clock starts, one authenticated request lets the server check
 * the secret (PBKDF2) and remember it, as it does for a client that keeps
 * posting. Prints "statements SECONDS" (statements posted or received); exits 1 if
 * any request failed (and says which), so a figure is never made of errors.
 */
#include <curl/curl.h>
#include <jansson.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct body {
	char *text;
	size_t len, cap;
};

struct load {
	const char *base, *userpwd;
	char **lines;
	size_t *lens;
	long first, count, batch;
	long next;               /* the next statement to post, under lock */
	long failed;
	pthread_mutex_t lock;
};

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static size_t collect(char *data, size_t size, size_t n, void *ctx)
{
	struct body *b = ctx;
	size_t len = size * n;

	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		char *grown;
		while (cap < b->len + len + 1)
			cap *= 2;
		if (!(grown = realloc(b->text, cap)))
			return 0;
		b->text = grown;
		b->cap = cap;
	}
	memcpy(b->text + b->len, data, len);
	b->len += len;
	b->text[b->len] = '\0';
	return len;
}

static CURL *handle(const char *userpwd, struct curl_slist *headers, struct body *b)
{
	CURL *c = curl_easy_init();

	if (!c)
		return NULL;
	curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	return c;
}

static void *post_loop(void *arg)
{
	struct load *ld = arg;
	struct curl_slist *headers = NULL;
	struct body b = { NULL, 0, 0 };
	char *payload = NULL, url[1024];
	size_t cap = 0;
	CURL *c;

	headers = curl_slist_append(headers, "X-Experience-API-Version: 1.0.3");
	headers = curl_slist_append(headers, "Content-Type: application/json");
	c = handle(ld->userpwd, headers, &b);
	snprintf(url, sizeof(url), "%s/statements", ld->base);
	while (c) {
		long from, to, i, status = 0;
		size_t len = 0;
		CURLcode rc;

		pthread_mutex_lock(&ld->lock);
		from = ld->next;
		ld->next += ld->batch;
		pthread_mutex_unlock(&ld->lock);
		if (from >= ld->first + ld->count)
			break;
		to = from + ld->batch < ld->first + ld->count ? from + ld->batch : ld->first + ld->count;
		for (i = from; i < to; i++)
			len += ld->lens[i] + 1;
		if (len + 2 > cap) {
			cap = (len + 2) * 2;
			free(payload);
			if (!(payload = malloc(cap)))
				break;
		}
		len = 0;
		payload[len++] = '[';
		for (i = from; i < to; i++) {
			if (i > from)
				payload[len++] = ',';
			memcpy(payload + len, ld->lines[i], ld->lens[i]);
			len += ld->lens[i];
		}
		payload[len++] = ']';
		b.len = 0;
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
		rc = curl_easy_perform(c);
		if (rc == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (rc != CURLE_OK || status != 200) {
			pthread_mutex_lock(&ld->lock);
			if (ld->failed++ == 0)
				fprintf(stderr, "httpload: POST of statements %ld..%ld: %s %ld %.200s\n", from,
					to - 1, curl_easy_strerror(rc), status, b.text ? b.text : "");
			pthread_mutex_unlock(&ld->lock);
		}
	}
	curl_easy_cleanup(c);
	curl_slist_free_all(headers);
	free(payload);
	free(b.text);
	return NULL;
}

/*
 * One authenticated request before the clock starts: the server checks a
 * secret with PBKDF2 once, then remembers the pair (a client that keeps
 * posting pays that once, not per batch).
 */
static void warm_up(const char *base, const char *userpwd)
{
	struct curl_slist *headers = curl_slist_append(NULL, "X-Experience-API-Version: 1.0.3");
	struct body b = { NULL, 0, 0 };
	char url[1024];
	CURL *c = handle(userpwd, headers, &b);

	snprintf(url, sizeof(url), "%s/statements?limit=1", base);
	if (c) {
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_perform(c);
		curl_easy_cleanup(c);
	}
	curl_slist_free_all(headers);
	free(b.text);
}

/* Reads the lines of path (statements, one a line) into ld. */
static int read_lines(struct load *ld, const char *path, long upto)
{
	FILE *fp = fopen(path, "rb");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long n = 0;

	if (!fp)
		return -1;
	ld->lines = calloc((size_t)upto, sizeof(*ld->lines));
	ld->lens = calloc((size_t)upto, sizeof(*ld->lens));
	if (!ld->lines || !ld->lens)
		return -1;
	while (n < upto && (len = getline(&line, &cap, fp)) > 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (!(ld->lines[n] = malloc((size_t)len + 1)))
			return -1;
		memcpy(ld->lines[n], line, (size_t)len);
		ld->lines[n][len] = '\0';
		ld->lens[n++] = (size_t)len;
	}
	free(line);
	fclose(fp);
	return n == upto ? 0 : -1;
}

static int post(const char *base, const char *userpwd, const char *path, long first, long count,
		long batch, int connections)
{
	struct load ld;
	pthread_t threads[64];
	double t0, t1;
	long i;
	int n;

	memset(&ld, 0, sizeof(ld));
	ld.base = base;
	ld.userpwd = userpwd;
	ld.first = ld.next = first;
	ld.count = count;
	ld.batch = batch > 0 ? batch : 1;
	if (connections < 1 || connections > 64 || read_lines(&ld, path, first + count) != 0) {
		fprintf(stderr, "httpload: cannot read %ld statements from %s\n", first + count, path);
		return 1;
	}
	pthread_mutex_init(&ld.lock, NULL);
	warm_up(base, userpwd);
	t0 = now_s();
	for (n = 0; n < connections; n++)
		if (pthread_create(&threads[n], NULL, post_loop, &ld) != 0)
			break;
	while (n > 0)
		pthread_join(threads[--n], NULL);
	t1 = now_s();
	printf("%ld %.3f\n", count, t1 - t0);
	for (i = 0; i < first + count; i++)
		free(ld.lines[i]);
	free(ld.lines);
	free(ld.lens);
	return ld.failed ? 1 : 0;
}

static int get(const char *base, const char *userpwd, long limit)
{
	struct curl_slist *headers = NULL;
	struct body b = { NULL, 0, 0 };
	char url[4096];
	const char *root_end;
	long received = 0, status = 0;
	double t0, t1;
	int failed = 0;
	CURL *c;

	/* "more" is a path from the server root: keep scheme, host and port. */
	root_end = strstr(base, "://");
	root_end = root_end ? strchr(root_end + 3, '/') : NULL;
	headers = curl_slist_append(headers, "X-Experience-API-Version: 1.0.3");
	c = handle(userpwd, headers, &b);
	snprintf(url, sizeof(url), "%s/statements?limit=%ld", base, limit);
	t0 = now_s();
	while (c) {
		json_t *page, *more;
		CURLcode rc;

		b.len = 0;
		curl_easy_setopt(c, CURLOPT_URL, url);
		rc = curl_easy_perform(c);
		if (rc == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		page = rc == CURLE_OK && status == 200 ? json_loadb(b.text, b.len, 0, NULL) : NULL;
		if (!page) {
			fprintf(stderr, "httpload: GET %s: %s %ld\n", url, curl_easy_strerror(rc), status);
			failed = 1;
			break;
		}
		received += (long)json_array_size(json_object_get(page, "statements"));
		more = json_object_get(page, "more");
		if (!json_is_string(more) || !json_string_value(more)[0] || !root_end) {
			json_decref(page);
			break;
		}
		snprintf(url, sizeof(url), "%.*s%s", (int)(root_end - base), base, json_string_value(more));
		json_decref(page);
	}
	t1 = now_s();
	printf("%ld %.3f\n", received, t1 - t0);
	curl_easy_cleanup(c);
	curl_slist_free_all(headers);
	free(b.text);
	return failed;
}

int main(int argc, char **argv)
{
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (argc == 9 && strcmp(argv[1], "post") == 0)
		rc = post(argv[2], argv[3], argv[4], atol(argv[5]), atol(argv[6]), atol(argv[7]),
			  atoi(argv[8]));
	else if (argc == 5 && strcmp(argv[1], "get") == 0)
		rc = get(argv[2], argv[3], atol(argv[4]));
	else {
		fprintf(stderr, "usage: httpload post BASE KEY:SECRET FILE FIRST COUNT BATCH CONNECTIONS\n"
				"       httpload get BASE KEY:SECRET LIMIT\n");
		rc = 1;
	}
	curl_global_cleanup();
	return rc;
}
