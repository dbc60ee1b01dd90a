/*
 * http.h: what the xAPI HTTP API's request handlers share (http.c). server.c turns a
 * libmicrohttpd request into a struct http_request and the handler's struct
 * http_response back into an HTTP answer, so the handlers (statements_api.c,
 * documents.c, and the small resources in server.c) know nothing of the
 * HTTP library: they are functions from a request to a response.
 */
#ifndef LRHUB_HTTP_H
#define LRHUB_HTTP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct credential;
struct json_t;
struct store;

/* A name and value (query argument or header); both borrowed. */
struct http_kv {
	const char *name;
	const char *value;
};

#define HTTP_MAX_KV 64
#define HTTP_MAX_HEADERS 12

struct http_request {
	const char *method;          /* "GET", "HEAD", "PUT", "POST", "DELETE" */
	const char *path;            /* below the base path: "/statements" */
	const char *base;            /* the base path: "/xapi" */
	const char *body;            /* may be NULL when body_len is 0 */
	size_t body_len;
	struct http_kv args[HTTP_MAX_KV];
	size_t n_args;
	struct http_kv headers[HTTP_MAX_KV];
	size_t n_headers;
	struct store *store;         /* this thread's store connection, for reading */
	/*
	 * Where statements are written (statements_api.h), shared by the
	 * server's workers; NULL: through store.
	 */
	struct statement_writer *writer;
	const struct credential *cred;
	int v2;                      /* 1 when the request asked for xAPI 2.0.x */
	const unsigned char *token_key; /* 32 bytes signing `more` tokens */
	size_t max_upload;           /* the largest web upload, bytes (the form says it) */
};

struct http_response {
	int status;
	char *body;                  /* malloc'd, owned by the response; may be NULL */
	size_t body_len;
	char content_type[160];
	/*
	 * Instead of body: an open file whose body_len bytes, from its start, are
	 * the body (owned: closed when sent). For large answers (reports).
	 */
	int has_file;
	int file_fd;
	struct {
		char name[48];
		char value[256];
	} headers[HTTP_MAX_HEADERS];
	size_t n_headers;
};

/* The value of query argument name, or NULL (borrowed). */
const char *http_arg(const struct http_request *req, const char *name);
/* The value of header name (case-insensitive), or NULL (borrowed). */
const char *http_header(const struct http_request *req, const char *name);

/* Adds a response header (cut to fit; dropped when the table is full). */
void http_add_header(struct http_response *resp, const char *name, const char *value);

/* Sets the response to a copy of body with its content type. Returns 0 or LR_ENOMEM. */
int http_set_body(struct http_response *resp, int status, const char *content_type,
		  const void *body, size_t len);

/* Sets the response to json (borrowed) serialised compactly. */
int http_set_json(struct http_response *resp, int status, const struct json_t *json);

/*
 * Sets an xAPI-style error answer: status and the JSON body
 * {"error": {"code": STATUS, "reason": "Bad Request", "message": TEXT}}.
 * Returns status.
 */
int http_error(struct http_response *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes ms as an HTTP date ("Sun, 06 Nov 1994 08:49:37 GMT"). */
void http_date(char out[40], int64_t ms);

/* 1 if the content type (with any parameters) is media (case-insensitive). */
int http_type_is(const char *content_type, const char *media);

#endif
