/*
 * cli_runs.c: what happened: lrhub runs, rejects, formats.
 */
#include "adapters/adapter.h"
#include "adapters/csv.h"
#include "ingest/cli.h"
#include "ingest/ingest.h"
#include "lrs/completions.h"
#include "lrs/error.h"
#include "lrs/identity.h"
#include "lrs/store.h"
#include "lrs/xtime.h"

#include <jansson.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- rejects, runs, formats ---- */

static const char usage_rejects[] = "lrhub rejects [--run N] [--raw]";

struct rejects_ui {
	int raw;
	long n;
};

static int print_reject(void *ctx, const struct store_reject *r)
{
	struct rejects_ui *ui = ctx;
	struct lr_error e;
	char line[1024];

	lr_error_clear(&e);
	lr_error_where(&e, r->path, r->line, r->record);
	lr_error_field(&e, r->field);
	lr_error_set(&e, LR_EINVAL, "%s", r->reason);
	printf("run %lld %s %s: %s\n", (long long)r->run_id, r->org ? r->org : "-", r->kind,
	       lr_error_format(&e, line, sizeof(line)));
	if (ui->raw && r->raw) {
		int len = (int)strlen(r->raw);
		while (len > 0 && (r->raw[len - 1] == '\n' || r->raw[len - 1] == '\r'))
			len--;
		printf("    %.*s\n", len, r->raw);
	}
	ui->n++;
	return 0;
}

struct run_lookup {
	int64_t id;
	int found;
};

static int find_run(void *ctx, const struct store_run *r)
{
	struct run_lookup *l = ctx;

	if (r->id == l->id) {
		l->found = 1;
		return 1;
	}
	return 0;
}

static int cmd_rejects(int argc, char **argv)
{
	const char *run = NULL;
	struct rejects_ui ui = { 0 };
	struct opt opts[] = {
		{ "--run", &run, NULL },
		{ "--raw", NULL, &ui.raw },
		{ NULL, NULL, NULL },
	};
	struct lr_error err;
	struct store *s = NULL;
	char *pos[64];
	int n, rc = EXIT_USAGE;

	lr_error_clear(&err);
	long run_id = 0;

	if (argc > 60 || parse(argc, argv, opts, usage_rejects, pos, &n) != 0 || n != 0) {
		fprintf(stderr, "usage: %s\n", usage_rejects);
		return EXIT_USAGE;
	}
	if (run && number("--run", run, 1, &run_id) != 0)
		return EXIT_USAGE;
	if ((rc = open_store(&s, STORE_READONLY)) != 0)
		return rc;
	if (run_id > 0) {
		struct run_lookup l = { run_id, 0 };
		if (store_run_each(s, &err, 0, find_run, &l) != 0) {
			rc = fail(&err);
			goto out;
		}
		if (!l.found) {
			say_error("no run %ld (see 'lrhub runs')", run_id);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	if (store_reject_each(s, &err, run_id, print_reject, &ui) != 0)
		rc = fail(&err);
	else if (ui.n == 0)
		printf("no rejects%s%s\n", run ? " in run " : "", run ? run : "");
out:
	store_close(s);
	return rc;
}

static int print_run(void *ctx, const struct store_run *r)
{
	(void)ctx;
	printf("%-6lld %-8s %-16s %-22s %-18s %6ld %9ld %10ld %9ld %8ld\n", (long long)r->id,
	       r->kind, r->org ? r->org : "-", r->started_at, r->finished_at ? r->status : "unfinished",
	       r->files, r->counts.accepted, r->counts.duplicates, r->counts.conflicts,
	       r->counts.rejected);
	return 0;
}

static int cmd_runs(int argc, char **argv)
{
	const char *limit = NULL;
	struct opt opts[] = { { "--limit", &limit, NULL }, { NULL, NULL, NULL } };
	struct lr_error err;
	struct store *s = NULL;
	char *pos[64];
	int n, rc;

	long max = 20;

	lr_error_clear(&err);
	if (argc > 60 || parse(argc, argv, opts, "lrhub runs [--limit N]", pos, &n) != 0 || n != 0) {
		fprintf(stderr, "usage: lrhub runs [--limit N]\n");
		return EXIT_USAGE;
	}
	if (limit && number("--limit", limit, 1, &max) != 0)
		return EXIT_USAGE;
	if ((rc = open_store(&s, STORE_READONLY)) != 0)
		return rc;
	printf("%-6s %-8s %-16s %-22s %-18s %6s %9s %10s %9s %8s\n", "RUN", "KIND", "ORG", "STARTED",
	       "STATUS", "FILES", "ACCEPTED", "DUPLICATES", "CONFLICTS", "REJECTED");
	if (store_run_each(s, &err, max, print_run, NULL) != 0)
		rc = fail(&err);
	store_close(s);
	return rc;
}

static int cmd_formats(int argc, char **argv)
{
	size_t i;

	(void)argv;
	if (argc > 0) {
		fprintf(stderr, "usage: lrhub formats\n");
		return EXIT_USAGE;
	}
	for (i = 0; adapter_list[i]; i++)
		printf("%-14s %s\n", adapter_list[i]->name, adapter_list[i]->description);
	return EXIT_OK;
}


const struct cli_command cli_rejects = { "rejects", usage_rejects, cmd_rejects };

const struct cli_command cli_runs = { "runs", "lrhub runs [--limit N]", cmd_runs };

const struct cli_command cli_formats = { "formats", "lrhub formats", cmd_formats };
