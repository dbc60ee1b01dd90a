/*
 * cli_nightly.c: lrhub nightly (the unattended inbox and pull run, under a
 * lock) and lrhub backup (a consistent copy of the store while it is used).
 */
#include "ingest/cli.h"
#include "ingest/nightly.h"
#include "ingest/pull.h"
#include "lrs/backup.h"
#include "lrs/error.h"
#include "lrs/store.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- nightly ---- */

static const char usage_nightly[] =
	"lrhub nightly --inbox DIR [--settle SECONDS] [--no-pull] [--ca-file FILE] [--json]\n"
	"                     [--quiet|-q]";

struct nightly_ui {
	int json, quiet;
	const char *inbox;
};

static void on_file(void *ctx, const struct nightly_file *f)
{
	struct nightly_ui *ui = ctx;
	const char *shown = f->path;
	size_t n = strlen(ui->inbox);

	if (strncmp(shown, ui->inbox, n) == 0 && shown[n] == '/')
		shown += n + 1;
	if (strcmp(f->outcome, "failed") == 0) {
		say_error("%s: %s%s%s", shown, f->reason ? f->reason : "failed",
			  f->moved_to ? "; moved to " : "", f->moved_to ? f->moved_to : "");
		if (ui->json || ui->quiet)
			return;
	}
	if (ui->json || ui->quiet)
		return;
	if (strcmp(f->outcome, "waiting") == 0)
		printf("%s: waiting: %s\n", shown, f->reason);
	else if (strcmp(f->outcome, "duplicate") == 0)
		printf("%s: duplicate: %s; moved to %s\n", shown, f->reason, f->moved_to);
	else if (strcmp(f->outcome, "failed") != 0)
		printf("%s: %s (%s): %ld accepted, %ld duplicates, %ld conflicts, %ld rejected; "
		       "moved to %s%s\n",
		       shown, f->outcome, f->format ? f->format : "?", f->counts.accepted,
		       f->counts.duplicates, f->counts.conflicts, f->counts.rejected, f->moved_to,
		       strcmp(f->outcome, "rejects") == 0 ? " (see its .rejects.txt)" : "");
}

static void on_group(void *ctx, const struct nightly_group *g)
{
	(void)ctx;
	if (g->error[0])
		say_error("%s %s: %s", g->kind, g->name, g->error);
}

static void on_pull_retry(void *ctx, const char *source, const char *why, long wait_ms)
{
	struct nightly_ui *ui = ctx;

	if (!ui->quiet)
		say_error("source %s: %s; trying again in %.1f s", source, why, wait_ms / 1000.0);
}

static void print_table(const struct nightly_report *r, const char *status)
{
	size_t i;

	printf("nightly run %lld: %s\n", (long long)r->run_id, status);
	printf("%-6s %-22s %6s %6s %8s %10s %7s %8s %9s %10s %8s %9s\n", "KIND", "ORG/SOURCE", "RUN",
	       "FILES", "REJECTS", "DUP-FILES", "FAILED", "WAITING", "ACCEPTED", "DUPLICATES",
	       "REJECTED", "CONFLICTS");
	for (i = 0; i <= r->n_groups; i++) {
		const struct nightly_group *g = i < r->n_groups ? &r->groups[i] : &r->total;
		char run[24];
		snprintf(run, sizeof(run), "%lld", (long long)g->run_id);
		printf("%-6s %-22s %6s %6ld %8ld %10ld %7ld %8ld %9ld %10ld %8ld %9ld%s\n",
		       i < r->n_groups ? g->kind : "", g->name,
		       i == r->n_groups ? "" : g->run_id ? run : "-", g->files, g->files_rejects,
		       g->files_duplicate, g->files_failed, g->files_waiting, g->counts.accepted,
		       g->counts.duplicates, g->counts.rejected, g->counts.conflicts,
		       g->error[0] ? "  (failed: see above)" : "");
	}
}

static json_t *group_json(const struct nightly_group *g)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s?}",
			 "kind", g->kind, "name", g->name, "org", g->org, "run", (json_int_t)g->run_id,
			 "files", (json_int_t)g->files, "files_rejects", (json_int_t)g->files_rejects,
			 "files_duplicate", (json_int_t)g->files_duplicate,
			 "files_failed", (json_int_t)g->files_failed,
			 "files_waiting", (json_int_t)g->files_waiting, "pages", (json_int_t)g->pages,
			 "accepted", (json_int_t)g->counts.accepted,
			 "duplicates", (json_int_t)g->counts.duplicates,
			 "rejected", (json_int_t)g->counts.rejected,
			 "conflicts", (json_int_t)g->counts.conflicts,
			 "error", g->error[0] ? g->error : NULL);
}

/* The one JSON line for log collectors. */
static void print_json(const struct nightly_report *r, const char *inbox, const char *status,
		       int exit_status, const char *error)
{
	json_t *groups = json_array(), *doc;
	const struct nightly_group *t = &r->total;
	size_t i;

	for (i = 0; i < r->n_groups; i++)
		json_array_append_new(groups, group_json(&r->groups[i]));
	doc = json_pack("{s:s, s:I, s:s, s:i, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
			"s:o, s:s?}",
			"event", "lrhub.nightly", "run", (json_int_t)r->run_id, "status", status,
			"exit_status", exit_status, "inbox", inbox, "files", (json_int_t)t->files,
			"files_rejects", (json_int_t)t->files_rejects,
			"files_duplicate", (json_int_t)t->files_duplicate,
			"files_failed", (json_int_t)t->files_failed,
			"files_waiting", (json_int_t)t->files_waiting, "pages", (json_int_t)t->pages,
			"accepted", (json_int_t)t->counts.accepted,
			"duplicates", (json_int_t)t->counts.duplicates,
			"rejected", (json_int_t)t->counts.rejected,
			"conflicts", (json_int_t)t->counts.conflicts, "groups", groups, "error", error);
	if (doc)
		json_dumpf(doc, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(doc);
}

static int cmd_nightly(int argc, char **argv)
{
	const char *settle = NULL, *ca_file = NULL;
	int no_pull = 0, q_flag = 0;
	struct nightly_ui ui = { 0 };
	struct opt opts[] = {
		{ "--inbox", &ui.inbox, NULL },
		{ "--settle", &settle, NULL },
		{ "--no-pull", NULL, &no_pull },
		{ "--ca-file", &ca_file, NULL },
		{ "--json", NULL, &ui.json },
		{ "--quiet", NULL, &ui.quiet },
		{ "-q", NULL, &q_flag },
		{ NULL, NULL, NULL },
	};
	struct nightly_options no;
	struct nightly_report report;
	struct pull_options po;
	struct lr_error err;
	struct store *s = NULL;
	char *lock_path = NULL;
	char *pos[64];
	char line[1024];
	int n, rc = EXIT_USAGE, lock_fd = -1, ran;
	long settle_s = 60;

	memset(&report, 0, sizeof(report));
	memset(&no, 0, sizeof(no));
	memset(&po, 0, sizeof(po));
	lr_error_clear(&err);
	if (argc > 60 || parse(argc, argv, opts, usage_nightly, pos, &n) != 0)
		return EXIT_USAGE;
	ui.quiet |= q_flag;
	if (!ui.inbox || n != 0) {
		say_error(!ui.inbox ? "nightly needs --inbox DIR" : "unexpected argument '%s'", pos[0]);
		fprintf(stderr, "usage: %s\n", usage_nightly);
		return EXIT_USAGE;
	}
	if (settle && number("--settle", settle, 0, &settle_s) != 0)
		return EXIT_USAGE;
	if (asprintf(&lock_path, "%s.lock", cli_db_path) < 0) {
		say_error("out of memory");
		return EXIT_FATAL;
	}
	if (nightly_lock(&lock_fd, &err, lock_path) != 0) {
		rc = err.code == LR_EBUSY ? EXIT_LOCKED : EXIT_FATAL;
		say_error("%s", lr_error_format(&err, line, sizeof(line)));
		if (ui.json)
			print_json(&report, ui.inbox, "locked", rc, err.text);
		goto out;
	}
	if ((rc = open_store(&s, 0)) != 0) {
		if (ui.json)
			print_json(&report, ui.inbox, "failed", rc, "cannot open the store");
		goto out;
	}
	po.ca_file = ca_file;
	po.on_retry = on_pull_retry;
	po.ctx = &ui;
	no.inbox = ui.inbox;
	no.settle_seconds = settle_s;
	no.pull = !no_pull;
	no.pull_opts = &po;
	no.on_file = on_file;
	no.on_group = on_group;
	no.ctx = &ui;
	ran = nightly_run(s, &err, &no, &report);
	if (ran != 0) {
		lr_error_format(&err, line, sizeof(line));
		say_error("%s", line);
		rc = EXIT_FATAL;
		if (ui.json)
			print_json(&report, ui.inbox, "failed", rc, line);
		else if (report.run_id)
			print_table(&report, "failed");
		goto out;
	}
	rc = report.needs_attention ? EXIT_REJECTS : EXIT_OK;
	if (ui.json)
		print_json(&report, ui.inbox, rc ? "done with errors" : "done", rc, NULL);
	else if (!ui.quiet || rc)
		print_table(&report, rc ? "done with errors (a human should look: 'lrhub runs show' it)"
				     : "done");
out:
	nightly_report_free(&report);
	store_close(s);
	nightly_unlock(lock_fd);
	free(lock_path);
	return rc;
}

/* ---- backup ---- */

static const char usage_backup[] = "lrhub backup FILE";

static int cmd_backup(int argc, char **argv)
{
	struct lr_error err;
	char *pos[64];
	int n;

	lr_error_clear(&err);
	if (argc > 60 || parse(argc, argv, (const struct opt[]){ { NULL, NULL, NULL } }, usage_backup,
			       pos, &n) != 0 || n != 1) {
		fprintf(stderr, "usage: %s\n", usage_backup);
		return EXIT_USAGE;
	}
	if (backup_store(&err, cli_db_path, pos[0]) != 0)
		return fail(&err);
	printf("backed up %s to %s\n", cli_db_path, pos[0]);
	return EXIT_OK;
}

const struct cli_command cli_nightly = { "nightly", usage_nightly, cmd_nightly };
const struct cli_command cli_backup = { "backup", usage_backup, cmd_backup };
