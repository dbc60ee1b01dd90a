/*
 * statements_api.h: the xAPI statements resource (statements_api.c): PUT,
 * POST (with attachments) and GET of /statements, with `more` paging.
 */
#ifndef LRHUB_STATEMENTS_API_H
#define LRHUB_STATEMENTS_API_H

struct http_request;
struct http_response;

/* Answers req (a request for /statements, authenticated) into resp. */
void statements_api_handle(const struct http_request *req, struct http_response *resp);

#endif
