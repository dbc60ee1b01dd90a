/*
 * pull.c: remote LRS sources (see pull.h).
 *
 * One libcurl easy handle per pull, kept alive across pages. Each page is
 * read whole into a capped buffer, checked to be a StatementResult, then
 * streamed record by record through the xAPI adapter into
 * store_put_statement inside one transaction that also records the page,
 * its rejects and the new cursor, so a page is in the store completely or
 * not at all.
 */
#include "ingest/pull.h"
#include "adapters/adapter.h"
#include "adapters/xapi.h"
#include "lrs/error.h"
#include "lrs/jsonfast.h"
#include "lrs/store.h"
#include "lrs/xapi.h"
#include "lrs/xtime.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef LRHUB_VERSION
#define LRHUB_VERSION "0.1.0"
#endif

#define PASSWORD_MAX 1024            /* bytes of a password file */
#define DEFAULT_PAGE_LIMIT 500
#define DEFAULT_CONNECT_TIMEOUT 15   /* seconds */
#define DEFAULT_TIMEOUT 300          /* seconds */
#define DEFAULT_RETRIES 5
#define DEFAULT_BACKOFF_MS 1000
#define BACKOFF_CAP_MS 60000         /* the longest wait between tries */
#define RETRY_AFTER_CAP_MS 300000    /* the longest Retry-After honoured */
#define DEFAULT_MAX_RESPONSE ((size_t)64 << 20)
#define URL_MAX 8192

/* ---- pure parts ---- */

int64_t pull__since_ms(int64_t cursor_ms, int64_t overlap_ms)
{
	if (overlap_ms < 0)
		overlap_ms = 0;
	return cursor_ms > overlap_ms ? cursor_ms - overlap_ms : 0;
}

long pull__backoff_ms(long first_ms, int attempt, long cap_ms)
{
	long wait = first_ms > 0 ? first_ms : 0;
	int i;

	for (i = 1; i < attempt && wait < cap_ms; i++)
		wait = wait > cap_ms / 2 ? cap_ms : wait * 2;
	return wait < cap_ms ? wait : cap_ms;
}

long pull__retry_after_ms(const char *value, int64_t now_ms, long cap_ms)
{
	const char *p = value;
	int64_t wait;

	if (!p)
		return -1;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return -1;
	if (isdigit((unsigned char)*p)) {
		/* delta-seconds: digits only (trailing white space allowed). */
		int64_t secs = 0;
		while (isdigit((unsigned char)*p)) {
			if (secs < (int64_t)cap_ms / 1000 + 1)
				secs = secs * 10 + (*p - '0');
			p++;
		}
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p)
			return -1;
		wait = secs * 1000;
	} else {
		/* An HTTP-date: "Sun, 06 Nov 1994 08:49:37 GMT". */
		time_t when = curl_getdate(p, NULL);
		if (when == (time_t)-1 || !strchr(p, ' '))
			return -1;
		wait = (int64_t)when * 1000 - now_ms;
		if (wait < 0)
			wait = 0;
	}
	return wait > cap_ms ? cap_ms : (long)wait;
}

/*
 * Writes url's origin ("scheme://host:port", lower case, default port
 * added) to out; *path_at gets the offset where the path starts. -1 if url
 * is not http(s) or has credentials or is too long.
 */
static int origin_of(char *out, size_t size, const char *url, size_t *path_at)
{
	const char *host, *end, *colon;
	int https;
	size_t n, i;

	if (strncasecmp(url, "https://", 8) == 0) {
		https = 1;
		host = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		https = 0;
		host = url + 7;
	} else {
		return -1;
	}
	end = host + strcspn(host, "/?#");
	if (end == host || memchr(host, '@', (size_t)(end - host)))
		return -1;
	colon = NULL;
	if (*host == '[') {
		const char *close = memchr(host, ']', (size_t)(end - host));
		if (!close)
			return -1;
		if (close + 1 < end && close[1] == ':')
			colon = close + 1;
	} else {
		colon = memchr(host, ':', (size_t)(end - host));
	}
	n = (size_t)snprintf(out, size, "%s://%.*s%s", https ? "https" : "http",
			     (int)((colon ? colon : end) - host), host,
			     colon && colon + 1 < end ? "" : (https ? ":443" : ":80"));
	if (n >= size)
		return -1;
	if (colon && colon + 1 < end) {
		size_t plen = (size_t)(end - colon);
		if (n + plen >= size)
			return -1;
		memcpy(out + n, colon, plen);
		out[n + plen] = '\0';
	}
	for (i = 0; out[i]; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	*path_at = (size_t)(end - url);
	return 0;
}

/* 1 if text has no control characters or spaces (nothing that could split a request). */
static int url_clean(const char *text)
{
	const unsigned char *p;

	for (p = (const unsigned char *)text; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

int pull__resolve_more(char **out, const char *base_url, const char *more)
{
	char base_origin[512], more_origin[512];
	size_t base_path, more_path, base_len;

	*out = NULL;
	if (!more || !more[0] || !url_clean(more) || strlen(more) > URL_MAX)
		return LR_EINVAL;
	if (origin_of(base_origin, sizeof(base_origin), base_url, &base_path) != 0)
		return LR_EINVAL;
	if (strstr(more, "://")) {
		/* Absolute: only on the same origin, or the credentials would go elsewhere. */
		if (origin_of(more_origin, sizeof(more_origin), more, &more_path) != 0 ||
		    strcmp(base_origin, more_origin) != 0)
			return LR_EINVAL;
		*out = strdup(more);
	} else if (more[0] == '/') {
		/* The spec's form: a path (and query) on the server's origin. */
		if (more[1] == '/')
			return LR_EINVAL;
		if (asprintf(out, "%.*s%s", (int)base_path, base_url, more) < 0)
			*out = NULL;
	} else {
		/* A path relative to the xAPI base ("statements?more=..."). */
		base_len = strlen(base_url);
		while (base_len > base_path && base_url[base_len - 1] == '/')
			base_len--;
		if (asprintf(out, "%.*s/%s", (int)base_len, base_url, more) < 0)
			*out = NULL;
	}
	return *out ? 0 : LR_ENOMEM;
}

int pull_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : LR_ENOMEM;
}

/* ---- the source table ---- */

static int db_fail(struct store *s, struct lr_error *err, const char *what)
{
	return store__db_error(store__db(s), err, what);
}

static int name_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n >= PULL_NAME_MAX || name[0] == '-' || name[0] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return 0;
	return 1;
}

/*
 * Reads the password from path into out (NUL-terminated, without the line
 * end). Refuses a file that is not a regular file or that group or others
 * may read or write, like ssh does with keys.
 */
static int read_password(struct lr_error *err, const char *path, char *out, size_t size)
{
	struct stat st;
	ssize_t n;
	size_t len;
	int fd, rc = 0;

	out[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return lr_error_set(err, errno == ENOENT ? LR_EINVAL : LR_EIO,
				    "password file %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		rc = lr_error_set(err, LR_EIO, "password file %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = lr_error_set(err, LR_EINVAL, "password file %s is not a regular file", path);
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		rc = lr_error_set(err, LR_EINVAL,
				  "password file %s may be read by group or others (mode %03o): "
				  "run chmod 600 %s",
				  path, (unsigned)(st.st_mode & 0777), path);
		goto out;
	}
	n = read(fd, out, size);
	if (n < 0) {
		rc = lr_error_set(err, LR_EIO, "password file %s: %s", path, strerror(errno));
		goto out;
	}
	if ((size_t)n >= size) {
		rc = lr_error_set(err, LR_EINVAL, "password file %s is longer than %zu bytes", path,
				  size - 1);
		goto out;
	}
	len = (size_t)n;
	while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
		len--;
	out[len] = '\0';
	if (len == 0 || memchr(out, '\0', len) || memchr(out, '\n', len))
		rc = lr_error_set(err, LR_EINVAL,
				  "password file %s must hold the password on one line", path);
out:
	close(fd);
	if (rc != 0)
		memset(out, 0, size);
	return rc;
}

/* Checks a source's xAPI URL: http(s), a host, no credentials, query or fragment. */
static int check_url(struct lr_error *err, const char *url)
{
	char origin[512];
	size_t path_at;

	if (!url_clean(url) || strlen(url) > 2048)
		return lr_error_set(err, LR_EINVAL, "--xapi-url: '%s' has spaces or control characters "
				    "or is too long", url);
	if (origin_of(origin, sizeof(origin), url, &path_at) != 0)
		return lr_error_set(err, LR_EINVAL,
				    "--xapi-url: '%s' is not an http:// or https:// URL with a host "
				    "(and no user:password@: use --user and --password-file)", url);
	if (strpbrk(url + path_at, "?#"))
		return lr_error_set(err, LR_EINVAL,
				    "--xapi-url: '%s' must be the xAPI base without a query "
				    "(e.g. https://lms.example/xapi)", url);
	return 0;
}

int pull_source_add(struct store *s, struct lr_error *err, const struct pull_source_info *src)
{
	char password[PASSWORD_MAX + 1], cursor[XTIME_MAX], now[XTIME_MAX];
	char *url = NULL, *file = NULL;
	const char *version = src->version ? src->version : "1.0.3";
	sqlite3_stmt *q = NULL;
	int64_t org_id, since_ms;
	size_t len;
	int rc;

	if (!src->name || !name_valid(src->name))
		return lr_error_set(err, LR_EINVAL,
				    "source name '%s' must be 1-64 letters, digits, '.', '_' or '-'",
				    src->name ? src->name : "");
	if ((rc = store_org_id(s, err, src->org, &org_id)) != 0)
		return rc;
	if ((rc = check_url(err, src->xapi_url)) != 0)
		return rc;
	if (!src->user || !src->user[0] || strchr(src->user, ':') || !url_clean(src->user) ||
	    strlen(src->user) > 256)
		return lr_error_set(err, LR_EINVAL, "--user: a user name of up to 256 characters, "
				    "without ':', spaces or control characters, is needed");
	if (strcmp(version, "1.0.3") != 0 && strcmp(version, "2.0.0") != 0)
		return lr_error_set(err, LR_EINVAL, "--version: '%s' is not 1.0.3 or 2.0.0", version);
	cursor[0] = '\0';
	if (src->cursor) {
		if (xtime_parse(&since_ms, src->cursor, 0) != 0)
			return lr_error_set(err, LR_EINVAL,
					    "--since: '%s' is not an ISO 8601 date-time with a time zone "
					    "(e.g. 2025-01-31T00:00:00Z)", src->cursor);
		xtime_format_ms(cursor, since_ms);
	}
	if (!src->password_file || !src->password_file[0])
		return lr_error_set(err, LR_EINVAL, "--password-file is needed");
	/* Kept as an absolute path: pulls run from cron, in another folder. */
	file = realpath(src->password_file, NULL);
	if (!file)
		return lr_error_set(err, LR_EINVAL, "password file %s: %s", src->password_file,
				    strerror(errno));
	rc = read_password(err, file, password, sizeof(password));
	memset(password, 0, sizeof(password));
	if (rc != 0)
		goto out;
	url = strdup(src->xapi_url);
	if (!url) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory");
		goto out;
	}
	len = strlen(url);
	while (len > 0 && url[len - 1] == '/')
		url[--len] = '\0';
	if (sqlite3_prepare_v2(store__db(s),
			       "INSERT INTO source(name, org_id, xapi_url, user, password_file, version,"
			       " cursor, created_at) VALUES(?,?,?,?,?,?,?,?)", -1, &q, NULL) != SQLITE_OK) {
		rc = db_fail(s, err, "adding a source");
		goto out;
	}
	xtime_format(now, xtime_now_ms() / 1000 * 1000);
	sqlite3_bind_text(q, 1, src->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, org_id);
	sqlite3_bind_text(q, 3, url, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, src->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, file, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 6, version, -1, SQLITE_STATIC);
	store__bind_text(q, 7, cursor[0] ? cursor : NULL);
	sqlite3_bind_text(q, 8, now, -1, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_DONE) {
		if (sqlite3_extended_errcode(store__db(s)) == SQLITE_CONSTRAINT_PRIMARYKEY)
			rc = lr_error_set(err, LR_EEXISTS, "source '%s' exists already", src->name);
		else
			rc = db_fail(s, err, "adding a source");
	}
out:
	sqlite3_finalize(q);
	free(url);
	free(file);
	return rc;
}

int pull_source_remove(struct store *s, struct lr_error *err, const char *name)
{
	sqlite3_stmt *q = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(store__db(s), "DELETE FROM source WHERE name = ?", -1, &q, NULL) !=
	    SQLITE_OK)
		return db_fail(s, err, "removing a source");
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_DONE)
		rc = db_fail(s, err, "removing a source");
	else if (sqlite3_changes(store__db(s)) == 0)
		rc = lr_error_set(err, LR_ENOTFOUND, "no source '%s' (see 'lrhub source list')", name);
	sqlite3_finalize(q);
	return rc;
}

static const char *column_text(sqlite3_stmt *q, int i)
{
	return (const char *)sqlite3_column_text(q, i);
}

#define SOURCE_COLUMNS \
	"s.name, o.code, s.xapi_url, s.user, s.password_file, s.version, s.cursor," \
	" s.last_run_at, s.last_run_id, s.last_status, s.last_error, s.org_id"

static void source_row(sqlite3_stmt *q, struct pull_source_info *src)
{
	src->name = column_text(q, 0);
	src->org = column_text(q, 1);
	src->xapi_url = column_text(q, 2);
	src->user = column_text(q, 3);
	src->password_file = column_text(q, 4);
	src->version = column_text(q, 5);
	src->cursor = column_text(q, 6);
	src->last_run_at = column_text(q, 7);
	src->last_run_id = sqlite3_column_int64(q, 8);
	src->last_status = column_text(q, 9);
	src->last_error = column_text(q, 10);
}

int pull_source_each(struct store *s, struct lr_error *err,
		     int (*fn)(void *ctx, const struct pull_source_info *src), void *ctx)
{
	sqlite3_stmt *q = NULL;
	int rc = 0, step;

	if (sqlite3_prepare_v2(store__db(s),
			       "SELECT " SOURCE_COLUMNS " FROM source s JOIN org o ON o.id = s.org_id"
			       " ORDER BY s.name", -1, &q, NULL) != SQLITE_OK)
		return db_fail(s, err, "listing sources");
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct pull_source_info src;
		source_row(q, &src);
		if ((rc = fn(ctx, &src)) != 0)
			break;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(s, err, "listing sources");
	sqlite3_finalize(q);
	return rc;
}

/* ---- fetching ---- */

struct page_buf {
	char *data;
	size_t len, cap, max;
	int too_big;
	char retry_after[64];
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ctx)
{
	struct page_buf *b = ctx;
	size_t n = size * nmemb;

	if (n > b->max - b->len) {
		b->too_big = 1;
		return 0;  /* aborts the transfer */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		char *grown;
		while (cap < b->len + n + 1)
			cap *= 2;
		grown = realloc(b->data, cap);
		if (!grown)
			return 0;
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ctx)
{
	struct page_buf *b = ctx;
	size_t n = size * nmemb;

	if (n > 12 && strncasecmp(ptr, "Retry-After:", 12) == 0) {
		size_t v = n - 12;
		if (v >= sizeof(b->retry_after))
			v = sizeof(b->retry_after) - 1;
		memcpy(b->retry_after, ptr + 12, v);
		b->retry_after[v] = '\0';
		b->retry_after[strcspn(b->retry_after, "\r\n")] = '\0';
	}
	return n;
}

/* A pull in progress. */
struct pull {
	struct store *s;
	const struct pull_options *opts;
	struct pull_report *report;
	char name[PULL_NAME_MAX];
	char *xapi_url;
	char *user;
	char *password_file;
	char version[16];
	int64_t org_id;
	int64_t cursor_ms;          /* -1: no cursor yet */
	CURL *h;
	struct curl_slist *headers;
	char curl_error[CURL_ERROR_SIZE];
	struct page_buf body;
	/* The password and base64(user:password), only to keep them out of messages. */
	char password[PASSWORD_MAX + 1];
	char basic[((PASSWORD_MAX + PULL_NAME_MAX + 2048) / 3 + 1) * 4 + 1];
};

/* The URL without its query, for messages (a source URL never holds credentials). */
static void url_for_message(char *out, size_t size, const char *url)
{
	snprintf(out, size, "%.*s", (int)strcspn(url, "?#"), url);
}

static void wait_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * A short excerpt of an error answer's message (an xAPI error body or text),
 * printable only; nothing when it repeats the credentials.
 */
static void answer_excerpt(char *out, size_t size, const struct pull *p)
{
	const struct page_buf *b = &p->body;
	json_t *doc = b->len ? json_loadb(b->data, b->len, 0, NULL) : NULL;
	const char *msg = NULL;
	size_t i, j = 0;

	if (doc) {
		json_t *e = json_object_get(doc, "error");
		msg = json_string_value(json_object_get(e ? e : doc, "message"));
	} else if (b->len && b->len < 512) {
		msg = b->data;
	}
	out[0] = '\0';
	if (msg && ((p->password[0] && strstr(msg, p->password)) ||
		    (p->basic[0] && strstr(msg, p->basic)))) {
		snprintf(out, size, "(the answer is not shown: it repeats the credentials)");
	} else if (msg) {
		for (i = 0; msg[i] && j + 1 < size && i < 200; i++)
			out[j++] = (unsigned char)msg[i] < 0x20 ? ' ' : msg[i];
		out[j] = '\0';
	}
	json_decref(doc);
}

static int transient_curl_error(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

/*
 * GETs url into p->body, retrying on network errors, 5xx, 408 and 429.
 * Returns 0 with a 200 answer in p->body, else an error naming the source
 * and the URL.
 */
static int fetch(struct pull *p, struct lr_error *err, const char *url)
{
	const struct pull_options *o = p->opts;
	long retries = o->retries < 0 ? 0 : o->retries ? o->retries : DEFAULT_RETRIES;
	long first = o->backoff_ms > 0 ? o->backoff_ms : DEFAULT_BACKOFF_MS;
	char where[512], why[LR_ERROR_TEXT_MAX], excerpt[256];
	int attempt;

	url_for_message(where, sizeof(where), url);
	for (attempt = 0;; attempt++) {
		CURLcode c;
		long status = 0, wait;
		int transient;

		p->body.len = 0;
		p->body.too_big = 0;
		p->body.retry_after[0] = '\0';
		p->curl_error[0] = '\0';
		curl_easy_setopt(p->h, CURLOPT_URL, url);
		c = curl_easy_perform(p->h);
		if (c == CURLE_OK)
			curl_easy_getinfo(p->h, CURLINFO_RESPONSE_CODE, &status);
		if (c == CURLE_OK && status == 200)
			return 0;
		if (p->body.too_big)
			return lr_error_set(err, LR_ELIMIT,
					    "source %s: GET %s: the answer is larger than %zu bytes "
					    "(lower --limit)", p->name, where, p->body.max);
		if (c != CURLE_OK) {
			transient = transient_curl_error(c);
			snprintf(why, sizeof(why), "%s", p->curl_error[0] ? p->curl_error
							     : curl_easy_strerror(c));
		} else {
			transient = status >= 500 || status == 429 || status == 408;
			answer_excerpt(excerpt, sizeof(excerpt), p);
			snprintf(why, sizeof(why), "HTTP %ld%s%s%s", status,
				 status == 401 ? " (wrong user or password?)"
				 : status >= 300 && status < 400
					 ? " (redirects are not followed: give the URL it points to)"
					 : "",
				 excerpt[0] ? ": " : "", excerpt);
		}
		if (!transient || attempt >= retries)
			return lr_error_set(err, LR_EIO, "source %s: GET %s: %s%s", p->name, where, why,
					    transient && attempt ? " (after retries)" : "");
		wait = pull__backoff_ms(first, attempt + 1, BACKOFF_CAP_MS);
		if (c == CURLE_OK && (status == 429 || status == 503) && p->body.retry_after[0]) {
			long ra = pull__retry_after_ms(p->body.retry_after, xtime_now_ms(),
						       RETRY_AFTER_CAP_MS);
			if (ra >= 0)
				wait = ra;
		}
		p->report->retries++;
		if (o->on_retry) {
			char line[LR_ERROR_TEXT_MAX + 600];
			snprintf(line, sizeof(line), "GET %s: %s", where, why);
			o->on_retry(o->ctx, p->name, line, wait);
		}
		wait_ms(wait);
	}
}

static int setup_curl(struct pull *p, struct lr_error *err, const char *password)
{
	const struct pull_options *o = p->opts;
	char version_header[64];

	p->h = curl_easy_init();
	if (!p->h)
		return lr_error_set(err, LR_ENOMEM, "source %s: cannot start an HTTP client", p->name);
	snprintf(version_header, sizeof(version_header), "X-Experience-API-Version: %s", p->version);
	if (!(p->headers = curl_slist_append(NULL, version_header)) ||
	    !curl_slist_append(p->headers, "Accept: application/json"))
		return lr_error_set(err, LR_ENOMEM, "out of memory");
	curl_easy_setopt(p->h, CURLOPT_HTTPHEADER, p->headers);
	curl_easy_setopt(p->h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(p->h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	curl_easy_setopt(p->h, CURLOPT_USERNAME, p->user);
	curl_easy_setopt(p->h, CURLOPT_PASSWORD, password);
	curl_easy_setopt(p->h, CURLOPT_USERAGENT, "lrhub/" LRHUB_VERSION);
	curl_easy_setopt(p->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(p->h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(p->h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(p->h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(p->h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(p->h, CURLOPT_CONNECTTIMEOUT,
			 o->connect_timeout > 0 ? o->connect_timeout : (long)DEFAULT_CONNECT_TIMEOUT);
	curl_easy_setopt(p->h, CURLOPT_TIMEOUT, o->timeout > 0 ? o->timeout : (long)DEFAULT_TIMEOUT);
	/* A server that stalls (under 1 byte/s for 60 s) is given up on before the timeout. */
	curl_easy_setopt(p->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(p->h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(p->h, CURLOPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L);
	curl_easy_setopt(p->h, CURLOPT_SSL_VERIFYHOST, o->insecure ? 0L : 2L);
	if (o->ca_file)
		curl_easy_setopt(p->h, CURLOPT_CAINFO, o->ca_file);
	curl_easy_setopt(p->h, CURLOPT_ERRORBUFFER, p->curl_error);
	curl_easy_setopt(p->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(p->h, CURLOPT_WRITEDATA, &p->body);
	curl_easy_setopt(p->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(p->h, CURLOPT_HEADERDATA, &p->body);
	return 0;
}

/* ---- storing a page ---- */

struct memory_input {
	const char *data;
	size_t len, off;
};

static ssize_t memory_read(void *ctx, void *buf, size_t len)
{
	struct memory_input *m = ctx;
	size_t n = m->len - m->off < len ? m->len - m->off : len;

	memcpy(buf, m->data + m->off, n);
	m->off += n;
	return (ssize_t)n;
}

static void page_reject(struct pull *p, struct store_counts *counts, int64_t run_id, int64_t file_id,
			const char *label, const char *kind, struct lr_error *rej, const char *raw,
			size_t raw_len)
{
	struct lr_error ignored;

	/* Where in the page: the statement's number (the page's lines mean little). */
	lr_error_where(rej, label, 0, rej->record);
	if (strcmp(kind, "conflict") == 0)
		counts->conflicts++;
	else
		counts->rejected++;
	lr_error_clear(&ignored);
	store_reject_add(p->s, &ignored, run_id, file_id, kind, rej, raw, raw_len);
	if (p->opts->on_reject)
		p->opts->on_reject(p->opts->ctx, kind, rej);
}

static int save_cursor(struct pull *p, struct lr_error *err, int64_t ms)
{
	char cursor[XTIME_MAX];
	sqlite3_stmt *q = NULL;
	int rc = 0;

	xtime_format_ms(cursor, ms);
	if (sqlite3_prepare_v2(store__db(p->s),
			       "UPDATE source SET cursor = ?1 WHERE name = ?2"
			       " AND (cursor IS NULL OR cursor < ?1)", -1, &q, NULL) != SQLITE_OK)
		return db_fail(p->s, err, "moving the source's cursor");
	sqlite3_bind_text(q, 1, cursor, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, p->name, -1, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_DONE)
		rc = db_fail(p->s, err, "moving the source's cursor");
	sqlite3_finalize(q);
	return rc;
}

/*
 * Stores the page in p->body (a StatementResult) in one transaction, and
 * gives its "more" (malloc'd, NULL at the end) in *out_more.
 */
static int store_page(struct pull *p, struct lr_error *err, const char *url, long page,
		      char **out_more)
{
	const struct adapter *ad = &adapter_xapi;
	struct memory_input mem = { p->body.data, p->body.len, 0 };
	struct adapter_input in;
	struct store_source src;
	struct store_counts counts;
	char label[PULL_NAME_MAX + 64], where[512];
	json_t *doc = NULL, *more;
	json_error_t jerr;
	void *state = NULL;
	int64_t file_id = 0, max_ms = -1;
	int rc = 0, in_tx = 0, step;

	*out_more = NULL;
	memset(&counts, 0, sizeof(counts));
	url_for_message(where, sizeof(where), url);
	doc = jsonfast_loadb(p->body.data ? p->body.data : "", p->body.len, 0, &jerr);
	if (!doc || !json_is_object(doc) || !json_is_array(json_object_get(doc, "statements"))) {
		rc = lr_error_set(err, LR_EFORMAT,
				  "source %s: GET %s: the answer is not an xAPI StatementResult%s%s",
				  p->name, where, doc ? "" : ": ", doc ? "" : jerr.text);
		goto out;
	}
	more = json_object_get(doc, "more");
	if (more && !json_is_string(more) && !json_is_null(more)) {
		rc = lr_error_set(err, LR_EFORMAT, "source %s: GET %s: \"more\" is not a string",
				  p->name, where);
		goto out;
	}
	if (json_string_length(more) > 0) {
		if (pull__resolve_more(out_more, p->xapi_url, json_string_value(more)) != 0) {
			rc = lr_error_set(err, LR_EFORMAT,
					  "source %s: GET %s: \"more\" is not a path on the same server",
					  p->name, where);
			goto out;
		}
	}
	json_decref(doc);
	doc = NULL;

	snprintf(label, sizeof(label), "source %s page %ld", p->name, page);
	if ((rc = store_begin(p->s, err)) != 0)
		goto out;
	in_tx = 1;
	if ((rc = store_file_begin(p->s, err, p->report->run_id, label, NULL, (int64_t)p->body.len,
				   ad->name, &file_id)) != 0)
		goto out;
	memset(&in, 0, sizeof(in));
	in.read = memory_read;
	in.ctx = &mem;
	in.name = label;
	in.org = p->report->org;
	if ((rc = ad->open(&state, err, &in)) != 0)
		goto out;
	src.org_id = p->org_id;
	src.org_code = p->report->org;
	src.run_id = p->report->run_id;
	src.file_id = file_id;
	src.xapi_flags = XAPI_ACCEPT_ANY;
	src.course_key = src.part_key = NULL;
	for (;;) {
		struct adapter_item item;
		struct lr_error rej;
		enum store_outcome outcome;
		const char *stored;
		int64_t stored_ms;
		int put;

		lr_error_clear(&rej);
		step = ad->next(state, &item, &rej);
		if (step == 0)
			break;
		if (step == LR_EINVAL) {
			page_reject(p, &counts, p->report->run_id, file_id, label, "invalid", &rej,
				    item.raw, item.raw_len);
			continue;
		}
		if (step < 0) {
			rc = lr_error_set(err, LR_EFORMAT, "source %s: GET %s: %s", p->name, where,
					  rej.text);
			goto out;
		}
		if (item.kind != ADAPTER_STATEMENT) {
			/* Not made by this adapter as opened here; counted as ingest counts them. */
			if (item.kind == ADAPTER_DUPLICATE)
				counts.duplicates++;
			json_decref(item.statement);
			continue;
		}
		/* The remote "stored", read before store_put_statement sets ours. */
		stored = json_string_value(json_object_get(item.statement, "stored"));
		if (stored && xtime_parse(&stored_ms, stored, 0) == 0 && stored_ms > max_ms)
			max_ms = stored_ms;
		/* As `lrhub ingest` stores an xAPI record (it has a "stored", so it is re-serialised). */
		put = store_put_statement_raw(p->s, &rej, item.statement, item.raw, item.raw_len, &src,
					      NULL, &outcome);
		json_decref(item.statement);
		if (put == 0) {
			if (outcome == STORE_NEW)
				counts.accepted++;
			else
				counts.duplicates++;
		} else if (put == LR_EINVAL || put == LR_ECONFLICT) {
			lr_error_where(&rej, NULL, item.line, item.record);
			page_reject(p, &counts, p->report->run_id, file_id, label,
				    put == LR_ECONFLICT ? "conflict" : "invalid", &rej, item.raw,
				    item.raw_len);
		} else {
			*err = rej;
			lr_error_where(err, label, item.line, item.record);
			rc = put;
			goto out;
		}
	}
	if ((rc = store_file_end(p->s, err, file_id, "done", NULL, (int64_t)p->body.len, &counts,
				 NULL)) != 0)
		goto out;
	if (max_ms >= 0 && max_ms > p->cursor_ms && (rc = save_cursor(p, err, max_ms)) != 0)
		goto out;
	if ((rc = store_commit(p->s, err)) != 0)
		goto out;
	in_tx = 0;
	if (max_ms > p->cursor_ms)
		p->cursor_ms = max_ms;
	p->report->counts.accepted += counts.accepted;
	p->report->counts.duplicates += counts.duplicates;
	p->report->counts.conflicts += counts.conflicts;
	p->report->counts.rejected += counts.rejected;
	p->report->pages++;
	if (p->opts->on_page)
		p->opts->on_page(p->opts->ctx, p->name, page, &counts);
out:
	if (in_tx)
		store_rollback(p->s);
	if (state)
		ad->close(state);
	json_decref(doc);
	if (rc != 0) {
		free(*out_more);
		*out_more = NULL;
	}
	return rc;
}

/* ---- a pull ---- */

static int load_source(struct pull *p, struct lr_error *err, const char *name)
{
	sqlite3_stmt *q = NULL;
	struct pull_source_info src;
	int rc = 0, step;

	if (sqlite3_prepare_v2(store__db(p->s),
			       "SELECT " SOURCE_COLUMNS " FROM source s JOIN org o ON o.id = s.org_id"
			       " WHERE s.name = ?", -1, &q, NULL) != SQLITE_OK)
		return db_fail(p->s, err, "reading a source");
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	step = sqlite3_step(q);
	if (step == SQLITE_DONE) {
		rc = lr_error_set(err, LR_ENOTFOUND, "no source '%s' (see 'lrhub source list')", name);
		goto out;
	}
	if (step != SQLITE_ROW) {
		rc = db_fail(p->s, err, "reading a source");
		goto out;
	}
	source_row(q, &src);
	p->org_id = sqlite3_column_int64(q, 11);
	snprintf(p->report->org, sizeof(p->report->org), "%s", src.org);
	snprintf(p->version, sizeof(p->version), "%s", src.version);
	p->xapi_url = strdup(src.xapi_url);
	p->user = strdup(src.user);
	p->password_file = strdup(src.password_file);
	if (!p->xapi_url || !p->user || !p->password_file) {
		rc = lr_error_set(err, LR_ENOMEM, "out of memory");
		goto out;
	}
	p->cursor_ms = -1;
	if (src.cursor && xtime_parse(&p->cursor_ms, src.cursor, 0) != 0)
		p->cursor_ms = -1;
out:
	sqlite3_finalize(q);
	return rc;
}

static int record_last_run(struct pull *p, struct lr_error *err, const char *status,
			   const char *error)
{
	char now[XTIME_MAX];
	sqlite3_stmt *q = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(store__db(p->s),
			       "UPDATE source SET last_run_id = ?, last_run_at = ?, last_status = ?,"
			       " last_error = ? WHERE name = ?", -1, &q, NULL) != SQLITE_OK)
		return db_fail(p->s, err, "recording the source's last pull");
	xtime_format(now, xtime_now_ms() / 1000 * 1000);
	store__bind_id(q, 1, p->report->run_id);
	sqlite3_bind_text(q, 2, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, status, -1, SQLITE_STATIC);
	store__bind_text(q, 4, error);
	sqlite3_bind_text(q, 5, p->name, -1, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_DONE)
		rc = db_fail(p->s, err, "recording the source's last pull");
	sqlite3_finalize(q);
	return rc;
}

int pull_source(struct store *s, struct lr_error *err, const char *name,
		const struct pull_options *opts, struct pull_report *report)
{
	static const struct pull_options defaults;
	struct pull p;
	char password[PASSWORD_MAX + 1];
	char *url = NULL, *more = NULL;
	const char *status;
	long page = 0;
	int rc;

	memset(report, 0, sizeof(*report));
	memset(&p, 0, sizeof(p));
	snprintf(report->source, sizeof(report->source), "%s", name);
	snprintf(p.name, sizeof(p.name), "%s", name);
	p.s = s;
	p.opts = opts ? opts : &defaults;
	p.report = report;
	p.body.max = p.opts->max_response ? p.opts->max_response : DEFAULT_MAX_RESPONSE;
	password[0] = '\0';
	if ((rc = load_source(&p, err, name)) != 0)
		goto out;
	if ((rc = store_run_begin(s, err, "pull", p.org_id, &report->run_id)) != 0)
		goto out;
	if ((rc = read_password(err, p.password_file, password, sizeof(password))) != 0) {
		char text[LR_ERROR_TEXT_MAX];
		snprintf(text, sizeof(text), "%s", err->text);
		err->code = 0;
		rc = lr_error_set(err, rc, "source %s: %s", name, text);
		goto end_run;
	}
	rc = setup_curl(&p, err, password);
	if (rc != 0)
		goto end_run;
	{
		char user_password[sizeof(p.basic) * 3 / 4];
		int n = snprintf(user_password, sizeof(user_password), "%s:%s", p.user, password);
		memcpy(p.password, password, sizeof(p.password));
		if (n > 0 && (size_t)n < sizeof(user_password))
			EVP_EncodeBlock((unsigned char *)p.basic, (const unsigned char *)user_password, n);
		OPENSSL_cleanse(user_password, sizeof(user_password));
	}
	OPENSSL_cleanse(password, sizeof(password));
	if (p.cursor_ms >= 0) {
		char since[XTIME_MAX];
		xtime_format_ms(since, pull__since_ms(p.cursor_ms, PULL_OVERLAP_MS));
		rc = asprintf(&url, "%s/statements?since=%s&ascending=true&limit=%ld", p.xapi_url, since,
			      p.opts->page_limit > 0 ? p.opts->page_limit : (long)DEFAULT_PAGE_LIMIT);
	} else {
		rc = asprintf(&url, "%s/statements?ascending=true&limit=%ld", p.xapi_url,
			      p.opts->page_limit > 0 ? p.opts->page_limit : (long)DEFAULT_PAGE_LIMIT);
	}
	if (rc < 0) {
		url = NULL;
		rc = lr_error_set(err, LR_ENOMEM, "out of memory");
		goto end_run;
	}
	rc = 0;
	for (;;) {
		if ((rc = fetch(&p, err, url)) != 0)
			break;
		if ((rc = store_page(&p, err, url, ++page, &more)) != 0)
			break;
		free(url);
		url = more;
		more = NULL;
		if (!url)
			break;
		if (p.opts->max_pages > 0 && page >= p.opts->max_pages) {
			report->more = 1;
			break;
		}
	}

end_run:
	if (p.cursor_ms >= 0)
		xtime_format_ms(report->cursor, p.cursor_ms);
	status = rc != 0 ? "failed"
		 : report->counts.rejected || report->counts.conflicts ? "done with errors" : "done";
	{
		struct lr_error end_err;
		char line[LR_ERROR_TEXT_MAX + LR_ERROR_SOURCE_MAX + 64];

		lr_error_clear(&end_err);
		if (rc != 0)
			lr_error_format(err, line, sizeof(line));
		if ((store_run_end(s, rc ? &end_err : err, report->run_id, status, &report->counts,
				   report->pages) != 0 ||
		     record_last_run(&p, rc ? &end_err : err, status, rc ? line : NULL) != 0) &&
		    rc == 0)
			rc = err->code;
	}
out:
	OPENSSL_cleanse(password, sizeof(password));
	OPENSSL_cleanse(p.password, sizeof(p.password));
	OPENSSL_cleanse(p.basic, sizeof(p.basic));
	if (p.h)
		curl_easy_cleanup(p.h);
	curl_slist_free_all(p.headers);
	free(p.body.data);
	free(url);
	free(more);
	free(p.xapi_url);
	free(p.user);
	free(p.password_file);
	return rc;
}
