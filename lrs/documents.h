/*
 * documents.h: the xAPI document resources (documents.c): state, activity
 * profile and agent profile, with ETags and JSON merge.
 */
#ifndef LRHUB_DOCUMENTS_H
#define LRHUB_DOCUMENTS_H

struct http_request;
struct http_response;

/*
 * Answers req (a request for /activities/state, /activities/profile or
 * /agents/profile, authenticated) into resp.
 */
void documents_handle(const struct http_request *req, struct http_response *resp);

#endif
