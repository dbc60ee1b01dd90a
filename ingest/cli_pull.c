/*
 * cli_pull.c: lrhub source add|list|remove and lrhub pull: remote LRSs
 * whose statements are pulled into an org (see ingest/pull.h).
 */
#include "ingest/cli.h"
#include "ingest/pull.h"
#include "lrs/error.h"
#include "lrs/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- source ---- */

static const char usage_source[] =
	"lrhub source add NAME --org ORG --xapi-url URL --user USER --password-file FILE\n"
	"                    [--version 1.0.3|2.0.0] [--since DATETIME]\n"
	"       lrhub source list\n"
	"       lrhub source remove NAME";

static int print_source(void *ctx, const struct pull_source_info *src)
{
	(void)ctx;
	printf("%s\torg %s\t%s\tuser %s\tpassword file %s\txAPI %s\tcursor %s\t", src->name,
	       src->org, src->xapi_url, src->user, src->password_file, src->version,
	       src->cursor ? src->cursor : "-");
	if (src->last_run_at)
		printf("last pull %s run %lld %s%s%s\n", src->last_run_at, (long long)src->last_run_id,
		       src->last_status ? src->last_status : "?", src->last_error ? ": " : "",
		       src->last_error ? src->last_error : "");
	else
		printf("never pulled\n");
	return 0;
}

static int cmd_source(int argc, char **argv)
{
	struct pull_source_info src;
	struct opt opts[] = {
		{ "--org", &src.org, NULL },
		{ "--xapi-url", &src.xapi_url, NULL },
		{ "--user", &src.user, NULL },
		{ "--password-file", &src.password_file, NULL },
		{ "--version", &src.version, NULL },
		{ "--since", &src.cursor, NULL },
		{ NULL, NULL, NULL },
	};
	struct lr_error err;
	struct store *s = NULL;
	char **pos = calloc((size_t)argc + 1, sizeof(char *));
	int n = 0, rc = EXIT_USAGE;

	memset(&src, 0, sizeof(src));
	lr_error_clear(&err);
	if (!pos || argc < 1)
		goto usage;
	if (strcmp(argv[0], "add") == 0) {
		if (parse(argc - 1, argv + 1, opts, usage_source, pos, &n) != 0)
			goto out;
		if (n != 1 || !src.org || !src.xapi_url || !src.user || !src.password_file) {
			say_error("source add needs NAME, --org, --xapi-url, --user and --password-file");
			goto usage;
		}
		src.name = pos[0];
		if ((rc = open_store(&s, 0)) != 0)
			goto out;
		if (pull_source_add(s, &err, &src) != 0) {
			rc = fail(&err);
			goto out;
		}
		printf("source %s added: org %s, %s\n", src.name, src.org, src.xapi_url);
		rc = EXIT_OK;
	} else if (strcmp(argv[0], "list") == 0 && argc == 1) {
		if ((rc = open_store(&s, STORE_READONLY)) != 0)
			goto out;
		rc = pull_source_each(s, &err, print_source, NULL) != 0 ? fail(&err) : EXIT_OK;
	} else if (strcmp(argv[0], "remove") == 0 && argc == 2) {
		if ((rc = open_store(&s, 0)) != 0)
			goto out;
		if (pull_source_remove(s, &err, argv[1]) != 0) {
			rc = fail(&err);
			goto out;
		}
		printf("source %s removed (its runs and statements stay)\n", argv[1]);
		rc = EXIT_OK;
	} else {
		goto usage;
	}
	goto out;
usage:
	fprintf(stderr, "usage: %s\n", usage_source);
	rc = EXIT_USAGE;
out:
	store_close(s);
	free(pos);
	return rc;
}

const struct cli_command cli_source = { "source", usage_source, cmd_source };

/* ---- pull ---- */

static const char usage_pull[] =
	"lrhub pull [--ca-file FILE] [--insecure] [--limit N] [--max-pages N] [--retries N]\n"
	"                  [--connect-timeout S] [--timeout S] [--quiet|-q] [NAME ...]";

struct pull_ui {
	int quiet;
	long shown_rejects;
};

static void on_reject(void *ctx, const char *kind, const struct lr_error *rej)
{
	struct pull_ui *ui = ctx;
	char line[1024];

	if (ui->quiet || ui->shown_rejects++ >= 100) {
		if (!ui->quiet && ui->shown_rejects == 101)
			say_error("more rejects not shown: see 'lrhub rejects'");
		return;
	}
	say_error("%s%s", lr_error_format(rej, line, sizeof(line)),
		  strcmp(kind, "conflict") == 0 ? " (conflict)" : "");
}

static void on_retry(void *ctx, const char *source, const char *why, long wait_ms)
{
	struct pull_ui *ui = ctx;

	if (!ui->quiet)
		say_error("source %s: %s; trying again in %.1f s", source, why, wait_ms / 1000.0);
}

/* Collects the source names when none are given. */
struct names {
	char **v;
	size_t n, cap;
};

static int collect_name(void *ctx, const struct pull_source_info *src)
{
	struct names *names = ctx;

	if (names->n == names->cap) {
		size_t cap = names->cap ? names->cap * 2 : 8;
		char **grown = realloc(names->v, cap * sizeof(char *));
		if (!grown)
			return LR_ENOMEM;
		names->v = grown;
		names->cap = cap;
	}
	if (!(names->v[names->n] = strdup(src->name)))
		return LR_ENOMEM;
	names->n++;
	return 0;
}

static int cmd_pull(int argc, char **argv)
{
	const char *ca_file = NULL, *limit = NULL, *max_pages = NULL, *retries = NULL,
		   *connect_timeout = NULL, *timeout = NULL;
	int insecure = 0, quiet = 0, q_flag = 0;
	struct opt opts[] = {
		{ "--ca-file", &ca_file, NULL },
		{ "--insecure", NULL, &insecure },
		{ "--limit", &limit, NULL },
		{ "--max-pages", &max_pages, NULL },
		{ "--retries", &retries, NULL },
		{ "--connect-timeout", &connect_timeout, NULL },
		{ "--timeout", &timeout, NULL },
		{ "--quiet", NULL, &quiet },
		{ "-q", NULL, &q_flag },
		{ NULL, NULL, NULL },
	};
	struct pull_options o;
	struct pull_ui ui;
	struct names names = { NULL, 0, 0 };
	struct lr_error err;
	struct store *s = NULL;
	char **pos = calloc((size_t)argc + 1, sizeof(char *));
	int n = 0, rc = EXIT_USAGE, failed = 0, rejects = 0;
	long v;
	size_t i;

	memset(&o, 0, sizeof(o));
	memset(&ui, 0, sizeof(ui));
	lr_error_clear(&err);
	if (!pos || parse(argc, argv, opts, usage_pull, pos, &n) != 0)
		goto out;
	ui.quiet = quiet || q_flag;
	o.ca_file = ca_file;
	o.insecure = insecure;
	if (limit) {
		if (number("--limit", limit, 1, &v) != 0)
			goto out;
		o.page_limit = v;
	}
	if (max_pages) {
		if (number("--max-pages", max_pages, 1, &v) != 0)
			goto out;
		o.max_pages = v;
	}
	if (retries) {
		if (number("--retries", retries, 0, &v) != 0)
			goto out;
		o.retries = v == 0 ? -1 : v;
	}
	if (connect_timeout) {
		if (number("--connect-timeout", connect_timeout, 1, &v) != 0)
			goto out;
		o.connect_timeout = v;
	}
	if (timeout) {
		if (number("--timeout", timeout, 1, &v) != 0)
			goto out;
		o.timeout = v;
	}
	if (insecure && !ui.quiet)
		say_error("--insecure: TLS certificates are not checked; use it only for tests");
	o.on_reject = on_reject;
	o.on_retry = on_retry;
	o.ctx = &ui;
	if ((rc = open_store(&s, 0)) != 0)
		goto out;
	if (pull_source_each(s, &err, collect_name, &names) != 0) {
		if (!err.code)
			lr_error_set(&err, LR_ENOMEM, "out of memory");
		rc = fail(&err);
		goto out;
	}
	if (n == 0 && names.n == 0 && !ui.quiet)
		printf("no sources (see 'lrhub source add')\n");
	/* Every name given must be a source before anything is pulled. */
	for (i = 0; i < (size_t)n; i++) {
		size_t j;
		for (j = 0; j < names.n && strcmp(names.v[j], pos[i]) != 0; j++)
			;
		if (j == names.n) {
			say_error("no source '%s' (see 'lrhub source list')", pos[i]);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	if (pull_global_init() != 0) {
		say_error("cannot start libcurl");
		rc = EXIT_FATAL;
		goto out;
	}
	for (i = 0; i < (n ? (size_t)n : names.n); i++) {
		const char *name = n ? pos[i] : names.v[i];
		struct pull_report report;

		lr_error_clear(&err);
		if (pull_source(s, &err, name, &o, &report) != 0) {
			char line[1024];
			say_error("%s", lr_error_format(&err, line, sizeof(line)));
			failed++;
		}
		if (report.counts.rejected || report.counts.conflicts)
			rejects++;
		if (!ui.quiet || report.counts.rejected || report.counts.conflicts)
			printf("%s (org %s): %s%s: %ld accepted, %ld duplicates, %ld conflicts, "
			       "%ld rejected; %ld %s, %ld %s; run %lld; cursor %s\n",
			       report.source, report.org[0] ? report.org : "?",
			       err.code ? "failed" : "done", report.more ? " (more to pull)" : "",
			       report.counts.accepted, report.counts.duplicates,
			       report.counts.conflicts, report.counts.rejected, report.pages,
			       plural(report.pages, "page", "pages"), report.retries,
			       plural(report.retries, "retry", "retries"), (long long)report.run_id,
			       report.cursor[0] ? report.cursor : "-");
	}
	rc = failed ? EXIT_FATAL : rejects ? EXIT_REJECTS : EXIT_OK;
out:
	for (i = 0; i < names.n; i++)
		free(names.v[i]);
	free(names.v);
	store_close(s);
	free(pos);
	return rc;
}

const struct cli_command cli_pull = { "pull", usage_pull, cmd_pull };
