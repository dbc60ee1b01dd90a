/*
 * http.c: the request and response helpers the xAPI API's handlers share
 * (see http.h): argument and header lookup, response bodies and headers,
 * xAPI-style JSON errors, HTTP dates and media types. No HTTP library here.
 */
#include "http.h"
#include "error.h"

#include <jansson.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char *http_arg(const struct http_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->n_args; i++)
		if (strcmp(req->args[i].name, name) == 0)
			return req->args[i].value ? req->args[i].value : "";
	return NULL;
}

const char *http_header(const struct http_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value ? req->headers[i].value : "";
	return NULL;
}

void http_add_header(struct http_response *resp, const char *name, const char *value)
{
	if (resp->n_headers >= HTTP_MAX_HEADERS)
		return;
	snprintf(resp->headers[resp->n_headers].name, sizeof(resp->headers[0].name), "%s", name);
	snprintf(resp->headers[resp->n_headers].value, sizeof(resp->headers[0].value), "%s", value);
	resp->n_headers++;
}

int http_set_body(struct http_response *resp, int status, const char *content_type,
		  const void *body, size_t len)
{
	char *copy = malloc(len ? len : 1);

	if (!copy)
		return LR_ENOMEM;
	if (len)
		memcpy(copy, body, len);
	free(resp->body);
	resp->body = copy;
	resp->body_len = len;
	resp->status = status;
	snprintf(resp->content_type, sizeof(resp->content_type), "%s", content_type);
	return 0;
}

int http_set_json(struct http_response *resp, int status, const json_t *json)
{
	char *text = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY);

	if (!text) {
		http_error(resp, 500, "out of memory writing the answer");
		return LR_ENOMEM;
	}
	free(resp->body);
	resp->body = text;
	resp->body_len = strlen(text);
	resp->status = status;
	snprintf(resp->content_type, sizeof(resp->content_type), "application/json");
	return 0;
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 412: return "Precondition Failed";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return status >= 500 ? "Internal Server Error" : "Error";
	}
}

int http_error(struct http_response *resp, int status, const char *fmt, ...)
{
	char message[512];
	va_list ap;
	json_t *body;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	body = json_pack("{s:{s:i, s:s, s:s}}", "error", "code", status, "reason",
			 reason_phrase(status), "message", message);
	free(resp->body);
	resp->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
	resp->body_len = resp->body ? strlen(resp->body) : 0;
	resp->status = status;
	snprintf(resp->content_type, sizeof(resp->content_type), "application/json");
	json_decref(body);
	return status;
}

void http_date(char out[40], int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

int http_type_is(const char *content_type, const char *media)
{
	size_t n = strlen(media);

	if (!content_type)
		return 0;
	while (*content_type == ' ')
		content_type++;
	return strncasecmp(content_type, media, n) == 0 &&
	       (content_type[n] == '\0' || content_type[n] == ';' || content_type[n] == ' ');
}
