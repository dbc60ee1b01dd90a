/*
 * server.h: lrhub's xAPI Learning Record Store over HTTP (lrhub serve), on
 * libmicrohttpd, with a thread per connection (or a pool). Each thread
 * reads through a store connection of its own (SQLite in WAL mode), so the
 * server and CLI ingests share one store; statements are written through
 * one connection, and writes wait and retry when another program holds the
 * lock.
 */
#ifndef LRHUB_SERVER_H
#define LRHUB_SERVER_H

#include <stddef.h>

struct lr_error;
struct lrs_server;

struct lrs_server_options {
	const char *db_path;
	const char *listen;          /* "ADDR:PORT" ("127.0.0.1:8080"; port 0 picks a free one) */
	const char *base;            /* the base path, "/xapi" */
	unsigned threads;            /* a pool of this many worker threads; 0: a thread per connection */
	size_t max_body;             /* bytes; 0: 16 MiB */
	size_t max_upload;           /* the largest web upload (POST /uploads), bytes; 0: 256 MiB */
	unsigned max_connections;    /* 0: 256 */
	unsigned max_connections_per_ip; /* from one client address; 0: 64 */
	unsigned timeout_s;          /* idle connection timeout; 0: 60 */
	/* The version that answers a request without X-Experience-API-Version:
	 * NULL refuses it with 400; "1.0.3" or "2.0.0" answers as that version. */
	const char *default_version;
};

/* Starts the server. *out is new; stop it with lrs_server_stop. */
int lrs_server_start(struct lrs_server **out, struct lr_error *err,
		     const struct lrs_server_options *opts);

/* The port the server listens on (useful after asking for port 0). */
unsigned lrs_server_port(const struct lrs_server *srv);

/*
 * Stops accepting connections, lets the requests in flight finish (up to
 * grace_s seconds), stops the server, closes its store connections and
 * frees srv. lrs_server_stop(NULL, 0) does nothing.
 */
void lrs_server_stop(struct lrs_server *srv, unsigned grace_s);

#endif
