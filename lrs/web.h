/*
 * web.h: the HTTP resources of lrhub serve outside the xAPI base path:
 * the report endpoints an analyst's tool (Power BI's web connector) reads,
 * /reports/completions.csv, /reports/coverage.json and /reports/trend.json;
 * the dashboard (GET /: coverage against the target, the cumulative trend,
 * the latest runs and their rejects, as HTML with SVG charts drawn here);
 * the upload form (GET /upload) and the upload's report page (upload.c);
 * the stylesheet (/assets/style.css). Like the xAPI handlers they are
 * functions from a struct http_request to a struct http_response.
 */
#ifndef LRHUB_WEB_H
#define LRHUB_WEB_H

#include <stddef.h>
#include <stdio.h>

struct http_request;
struct http_response;

enum web_resource {
	WEB_NONE = 0,            /* not one of these paths: the xAPI API's */
	WEB_ASSET,               /* /assets/NAME: no credential needed */
	WEB_DASHBOARD,           /* / */
	WEB_UPLOAD_FORM,         /* /upload */
	WEB_UPLOADS,             /* /uploads (POST: upload.c) */
	WEB_COMPLETIONS_CSV,     /* /reports/completions.csv */
	WEB_COVERAGE_JSON,       /* /reports/coverage.json */
	WEB_TREND_JSON           /* /reports/trend.json */
};

/* Which resource url (the path, without the query) is. */
enum web_resource web_resource_of(const char *url);

/* 1 if the resource answers with an HTML page (and its errors are pages too). */
int web_is_page(enum web_resource r);

/*
 * Answers a GET or HEAD of resource r. req->cred is the verified
 * credential (NULL only for WEB_ASSET), req->store the worker's store. The
 * reports and the dashboard need a read-all or admin credential, the upload
 * form a write or admin one (403 otherwise).
 */
void web_handle(enum web_resource r, const struct http_request *req, struct http_response *resp);

/* Sets resp to an HTML page with status, title (text) and main (HTML, borrowed). */
int web_page(struct http_response *resp, int status, const char *title, const char *main_html);

/* Sets resp to an HTML error page: status, one-line message (text). Returns status. */
int web_error_page(struct http_response *resp, int status, const char *message);

/*
 * Sets resp to an error: an HTML page when the client prefers text/html
 * (a browser), else the JSON error body. Returns status.
 */
int web_error_for(const struct http_request *req, struct http_response *resp, int status,
		  const char *message);

/* Adds the security headers every page gets (CSP, nosniff, no caching). */
void web_page_headers(struct http_response *resp);

/* Writes text HTML-escaped (&, <, >, ", ') to out. NULL writes nothing. */
void web_escape(FILE *out, const char *text);

/* 1 if the request's Accept header prefers HTML (a browser) to JSON. */
int web_wants_html(const struct http_request *req);

#endif
