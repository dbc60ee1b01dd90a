/*
 * cli_serve.c: the commands of the xAPI HTTP API: serve (run the LRS) and
 * credential (make API keys for an org).
 */
#include "ingest/cli.h"
#include "lrs/credentials.h"
#include "lrs/error.h"
#include "lrs/server.h"
#include "lrs/store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- serve ---- */

static const char usage_serve[] =
	"lrhub serve [--listen ADDR:PORT] [--base PATH] [--threads N] [--max-body BYTES] [--max-upload BYTES]\n"
	"                   [--max-connections N] [--max-connections-per-ip N] [--timeout SECONDS]\n"
	"                   [--default-version 1.0.3|2.0.0]";

static int cmd_serve(int argc, char **argv)
{
	struct lrs_server_options o = { 0 };
	const char *threads = NULL, *max_body = NULL, *max_conn = NULL, *timeout = NULL, *per_ip = NULL;
	const char *max_upload = NULL;
	struct opt opts[] = {
		{ "--listen", &o.listen, NULL },
		{ "--base", &o.base, NULL },
		{ "--threads", &threads, NULL },
		{ "--max-body", &max_body, NULL },
		{ "--max-upload", &max_upload, NULL },
		{ "--max-connections", &max_conn, NULL },
		{ "--max-connections-per-ip", &per_ip, NULL },
		{ "--timeout", &timeout, NULL },
		{ "--default-version", &o.default_version, NULL },
		{ NULL, NULL, NULL },
	};
	struct lrs_server *srv = NULL;
	struct store *s = NULL;
	struct lr_error err;
	char **pos = calloc((size_t)argc + 1, sizeof(char *));
	sigset_t stop;
	long v;
	int n, sig = 0, rc;

	lr_error_clear(&err);
	if (!pos || parse(argc, argv, opts, usage_serve, pos, &n) != 0 || n != 0) {
		if (pos && n != 0)
			fprintf(stderr, "usage: %s\n", usage_serve);
		free(pos);
		return EXIT_USAGE;
	}
	free(pos);
	if ((threads && number("--threads", threads, 1, &v) != 0) || (threads && (o.threads = (unsigned)v, 0)) ||
	    (max_body && number("--max-body", max_body, 1024, &v) != 0) || (max_body && (o.max_body = (size_t)v, 0)) ||
	    (max_upload && number("--max-upload", max_upload, 1024, &v) != 0) || (max_upload && (o.max_upload = (size_t)v, 0)) ||
	    (max_conn && number("--max-connections", max_conn, 1, &v) != 0) || (max_conn && (o.max_connections = (unsigned)v, 0)) ||
	    (per_ip && number("--max-connections-per-ip", per_ip, 1, &v) != 0) || (per_ip && (o.max_connections_per_ip = (unsigned)v, 0)) ||
	    (timeout && number("--timeout", timeout, 1, &v) != 0) || (timeout && (o.timeout_s = (unsigned)v, 0)))
		return EXIT_USAGE;
	if (!o.listen)
		o.listen = "127.0.0.1:8080";
	if (!o.base)
		o.base = "/xapi";
	o.db_path = cli_db_path;
	/* Open (and migrate) the store once before the workers open theirs. */
	if ((rc = open_store(&s, 0)) != 0)
		return rc;
	store_close(s);
	/* The workers must not take the signals: block them before they start. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (lrs_server_start(&srv, &err, &o) != 0)
		return fail(&err);
	{
		char host[64];
		const char *colon = strrchr(o.listen, ':');
		size_t hl = colon ? (size_t)(colon - o.listen) : 0;
		snprintf(host, sizeof(host), "%.*s", (int)hl, o.listen);
		printf("listening on http://%s:%u%s\n", host[0] ? host : "0.0.0.0",
		       lrs_server_port(srv), strcmp(o.base, "/") == 0 ? "" : o.base);
		fflush(stdout);
	}
	sigwait(&stop, &sig);
	fprintf(stderr, "lrhub: %s: finishing the requests in flight, then stopping\n",
		sig == SIGINT ? "interrupted" : "terminated");
	lrs_server_stop(srv, 10);
	fprintf(stderr, "lrhub: stopped\n");
	return EXIT_OK;
}

const struct cli_command cli_serve = { "serve", usage_serve, cmd_serve };

/* ---- credential ---- */

static const char usage_credential[] =
	"lrhub credential add ORG [--scope write|read-own|read-all|admin]\n"
	"       lrhub credential list\n"
	"       lrhub credential revoke KEY";

static int print_credential(void *ctx, const struct credential_info *c)
{
	(void)ctx;
	printf("%-16s %-20s %-9s %-20s %s\n", c->key, c->org, c->scope, c->created_at,
	       c->revoked_at ? c->revoked_at : "-");
	return 0;
}

/* credential list | credential revoke KEY */
static int credential_admin(int argc, char **argv)
{
	struct lr_error err;
	struct store *s = NULL;
	int rc;

	lr_error_clear(&err);
	if (!((strcmp(argv[0], "list") == 0 && argc == 1) ||
	      (strcmp(argv[0], "revoke") == 0 && argc == 2 && argv[1][0] != '-'))) {
		fprintf(stderr, "usage: %s\n", usage_credential);
		return EXIT_USAGE;
	}
	if ((rc = open_store(&s, 0)) != 0)
		return rc;
	if (strcmp(argv[0], "list") == 0) {
		printf("%-16s %-20s %-9s %-20s %s\n", "KEY", "ORG", "SCOPE", "CREATED", "REVOKED");
		rc = credential_each(s, &err, print_credential, NULL) != 0 ? fail(&err) : EXIT_OK;
	} else if (credential_revoke(s, &err, argv[1]) != 0) {
		rc = fail(&err);
	} else {
		printf("revoked credential %s\n", argv[1]);
		rc = EXIT_OK;
	}
	store_close(s);
	return rc;
}

static int cmd_credential(int argc, char **argv)
{
	const char *scope_text = "write";
	struct opt opts[] = {
		{ "--scope", &scope_text, NULL },
		{ NULL, NULL, NULL },
	};
	enum credential_scope scope;
	char key[CREDENTIAL_KEY_LEN + 1], secret[CREDENTIAL_SECRET_LEN + 1];
	struct lr_error err;
	struct store *s = NULL;
	char **pos = calloc((size_t)argc + 1, sizeof(char *));
	int n = 0, rc = EXIT_USAGE;

	lr_error_clear(&err);
	if (pos && argc >= 1 && (strcmp(argv[0], "list") == 0 || strcmp(argv[0], "revoke") == 0)) {
		free(pos);
		return credential_admin(argc, argv);
	}
	if (!pos || argc < 1 || strcmp(argv[0], "add") != 0 ||
	    parse(argc - 1, argv + 1, opts, usage_credential, pos, &n) != 0 || n != 1) {
		fprintf(stderr, "usage: %s\n", usage_credential);
		goto out;
	}
	if (credential_scope_parse(&scope, scope_text) != 0) {
		say_error("--scope '%s': use write, read-own, read-all or admin", scope_text);
		goto out;
	}
	if ((rc = open_store(&s, 0)) != 0)
		goto out;
	if (credential_add(s, &err, pos[0], scope, key, secret) != 0) {
		rc = fail(&err);
		goto out;
	}
	printf("key: %s\nsecret: %s\n", key, secret);
	printf("org: %s\nscope: %s\n", pos[0], credential_scope_name(scope));
	fprintf(stderr, "lrhub: the secret is shown only this once; keep it safe\n");
	memset(secret, 0, sizeof(secret));
	rc = EXIT_OK;
out:
	store_close(s);
	free(pos);
	return rc;
}

const struct cli_command cli_credential = { "credential", usage_credential, cmd_credential };
