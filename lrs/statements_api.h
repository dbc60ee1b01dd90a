/*
 * statements_api.h: the xAPI statements resource (statements_api.c): PUT,
 * POST (with attachments) and GET of /statements, with `more` paging.
 */
#ifndef LRHUB_STATEMENTS_API_H
#define LRHUB_STATEMENTS_API_H

#include <stddef.h>
#include <stdint.h>

#include "ifi.h"

struct http_kv;
struct http_request;
struct http_response;
struct lr_error;

struct store;
struct statement_writer;

/*
 * The writer the server's workers share (req->writer): statements are
 * written through s, the requests that wait meanwhile in one transaction.
 * s stays the caller's. 0, or -1 when out of memory.
 */
int statement_writer_new(struct statement_writer **out, struct store *s);
void statement_writer_free(struct statement_writer *w);

/* Answers req (a request for /statements, authenticated) into resp. */
void statements_api_handle(const struct http_request *req, struct http_response *resp);

enum statements_format { STATEMENTS_EXACT = 0, STATEMENTS_IDS = 1, STATEMENTS_CANONICAL = 2 };

/* A GET /statements query (without statementId, voidedStatementId or more), read and checked. */
struct statements_query {
	char agent[IFI_MAX];      /* the agent's IFI key (ifi_key) when has_agent */
	int has_agent;
	const char *verb, *activity, *registration; /* borrowed from the arguments, or NULL */
	int related_activities, related_agents, ascending, attachments;
	int64_t since_ms, until_ms;
	int has_since, has_until;
	long limit;               /* 1 to 500: 0 and more than 500 mean 500; 100 when not given */
	enum statements_format format;
	int64_t after_seq;        /* the paging position: rows after this one (0: from the start) */
};

/*
 * Reads the query parameters of GET /statements from (name, value) pairs as
 * the URL decoder gives them, the way the handler does, with no server and
 * no store: 0 and *q filled, or LR_EINVAL with err saying which parameter is
 * wrong and why (the text of the 400 answer).
 */
int statements_query_parse(struct statements_query *q, struct lr_error *err,
			   const struct http_kv *args, size_t n);

#endif
