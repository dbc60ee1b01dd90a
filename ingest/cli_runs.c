/*
 * cli_runs.c: what happened: lrhub runs, rejects, formats.
 */
#include "adapters/adapter.h"
#include "adapters/csv.h"
#include "ingest/cli.h"
#include "ingest/ingest.h"
#include "ingest/nightly.h"
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

/* ---- runs show N ---- */

struct show_ui {
	int64_t run_id;
	long runs, files, rejects_shown;
	struct store *s;
};

static int show_run(void *ctx, const struct store_run *r)
{
	struct show_ui *ui = ctx;

	if (ui->runs++ == 0) {
		printf("run %lld: %s%s%s, started %s, %s%s%s\n", (long long)r->id, r->kind,
		       r->org ? " org " : "", r->org ? r->org : "", r->started_at,
		       r->finished_at ? r->status : "unfinished (it was stopped before its end)",
		       r->finished_at ? ", finished " : "", r->finished_at ? r->finished_at : "");
		printf("  %ld %s; statements: %ld accepted, %ld duplicates, %ld conflicts, %ld rejected\n",
		       r->files, plural(r->files, "file", "files"), r->counts.accepted,
		       r->counts.duplicates, r->counts.conflicts, r->counts.rejected);
		return 0;
	}
	if (ui->runs == 2)
		printf("\nparts:\n%-6s %-8s %-16s %-18s %6s %9s %10s %9s %8s\n", "RUN", "KIND", "ORG",
		       "STATUS", "FILES", "ACCEPTED", "DUPLICATES", "CONFLICTS", "REJECTED");
	printf("%-6lld %-8s %-16s %-18s %6ld %9ld %10ld %9ld %8ld\n", (long long)r->id, r->kind,
	       r->org ? r->org : "-", r->finished_at ? r->status : "unfinished", r->files,
	       r->counts.accepted, r->counts.duplicates, r->counts.conflicts, r->counts.rejected);
	return 0;
}

static int show_file(void *ctx, const struct nightly_file_row *f)
{
	struct show_ui *ui = ctx;

	if (ui->files++ == 0)
		printf("\nfiles:\n");
	printf("  %s%s%s: %s", f->org ? f->org : "", f->org ? " " : "", f->path, f->status);
	if (f->format)
		printf(" (%s)", f->format);
	if (strcmp(f->status, "duplicate") != 0 && strcmp(f->status, "failed") != 0)
		printf(": %ld accepted, %ld duplicates, %ld conflicts, %ld rejected", f->counts.accepted,
		       f->counts.duplicates, f->counts.conflicts, f->counts.rejected);
	printf("\n");
	if (f->error)
		printf("      %s\n", f->error);
	return 0;
}

static int show_rejects_of(void *ctx, const struct store_run *r)
{
	struct show_ui *ui = ctx;
	struct rejects_ui rui = { 0, 0 };
	struct lr_error err;

	if (r->counts.rejected + r->counts.conflicts == 0)
		return 0;
	if (ui->rejects_shown++ == 0)
		printf("\nrejects:\n");
	lr_error_clear(&err);
	return store_reject_each(ui->s, &err, r->id, print_reject, &rui);
}

static int cmd_runs_show(int argc, char **argv)
{
	struct show_ui ui = { 0 };
	struct lr_error err;
	struct store *s = NULL;
	long id;
	int rc;

	lr_error_clear(&err);
	if (argc != 1) {
		fprintf(stderr, "usage: lrhub runs show N\n");
		return EXIT_USAGE;
	}
	if (number("runs show", argv[0], 1, &id) != 0)
		return EXIT_USAGE;
	if ((rc = open_store(&s, STORE_READONLY)) != 0)
		return rc;
	ui.run_id = id;
	ui.s = s;
	if (nightly_run_each(s, &err, id, show_run, &ui) != 0 ||
	    (ui.runs > 0 && nightly_file_each(s, &err, id, show_file, &ui) != 0) ||
	    (ui.runs > 0 && nightly_run_each(s, &err, id, show_rejects_of, &ui) != 0)) {
		rc = fail(&err);
	} else if (ui.runs == 0) {
		say_error("no run %ld (see 'lrhub runs')", id);
		rc = EXIT_USAGE;
	}
	store_close(s);
	return rc;
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
	if (argc > 0 && strcmp(argv[0], "show") == 0)
		return cmd_runs_show(argc - 1, argv + 1);
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

const struct cli_command cli_runs = { "runs", "lrhub runs [--limit N] | lrhub runs show N", cmd_runs };

const struct cli_command cli_formats = { "formats", "lrhub formats", cmd_formats };
