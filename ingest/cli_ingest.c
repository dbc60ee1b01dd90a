/*
 * cli_ingest.c: lrhub ingest: files and folders of one org's exports into the store.
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

/* ---- ingest ---- */

static const char usage_ingest[] =
	"lrhub ingest --org ORG [--format NAME] [--course KEY] [--json] [--quiet|-q] [--batch N]\n"
	"                    FILE|DIR ...";

struct ingest_ui {
	int json, quiet, progress;
	json_t *files;        /* --json: the file reports */
	json_t *rejects;      /* --json: the first rejects */
	long shown_rejects;
};

#define MAX_SHOWN_REJECTS 1000

static void on_reject(void *ctx, const char *kind, const struct lr_error *rej)
{
	struct ingest_ui *ui = ctx;
	char line[1024];

	lr_error_format(rej, line, sizeof(line));
	if (ui->shown_rejects++ >= MAX_SHOWN_REJECTS) {
		if (ui->shown_rejects == MAX_SHOWN_REJECTS + 1 && !ui->quiet)
			say_error("more rejects not shown: see 'lrhub rejects'");
		return;
	}
	if (ui->json) {
		json_array_append_new(ui->rejects,
				      json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "kind", kind,
						"file", rej->source, "line", (json_int_t)rej->line,
						"record", (json_int_t)rej->record, "field", rej->field,
						"reason", rej->text, "message", line));
	}
	if (ui->progress)
		fputs("\r\033[K", stderr);
	if (!ui->quiet)
		say_error("%s%s", line, strcmp(kind, "conflict") == 0 ? " (conflict)" : "");
}

static void on_progress(void *ctx, const char *path, int64_t done, int64_t total, long records)
{
	struct ingest_ui *ui = ctx;

	if (!ui->progress)
		return;
	if (total > 0)
		fprintf(stderr, "\r\033[K%s: %3d%% of %.1f MB, %ld records", path,
			(int)(done * 100 / total), (double)total / 1e6, records);
	else
		fprintf(stderr, "\r\033[K%s: %ld records", path, records);
	fflush(stderr);
}

static void on_file(void *ctx, const struct ingest_file_result *f)
{
	struct ingest_ui *ui = ctx;

	if (ui->progress)
		fputs("\r\033[K", stderr);
	if (ui->json) {
		json_array_append_new(
			ui->files,
			json_pack("{s:s, s:s?, s:s?, s:I, s:s, s:s?, s:I, s:I, s:I, s:I}", "path", f->path,
				  "format", f->format, "sha256", f->sha256[0] ? f->sha256 : NULL,
				  "size", (json_int_t)f->size, "status", f->status, "error", f->error,
				  "accepted", (json_int_t)f->counts.accepted,
				  "duplicates", (json_int_t)f->counts.duplicates,
				  "conflicts", (json_int_t)f->counts.conflicts,
				  "rejected", (json_int_t)f->counts.rejected));
		return;
	}
	if (f->error) {
		/* One line, in the form every other error has: FILE:LINE: record N: what. */
		struct lr_error e;
		char line[1024];

		lr_error_clear(&e);
		lr_error_where(&e, f->path, f->error_line, f->error_record);
		lr_error_set(&e, LR_EINVAL, "%s", f->reason ? f->reason : f->error);
		say_error("%s%s", lr_error_format(&e, line, sizeof(line)),
			  strcmp(f->status, "partial") == 0 ? " (the records before it went in)" : "");
	}
	if (ui->quiet)
		return;
	if (f->format)
		printf("%s: %s (%s): %ld accepted, %ld duplicates, %ld conflicts, %ld rejected\n",
		       f->path, f->status, f->format, f->counts.accepted, f->counts.duplicates,
		       f->counts.conflicts, f->counts.rejected);
	else
		printf("%s: %s: not read\n", f->path, f->status);
}

/* The peak resident memory of this process so far, in KiB. */
static long max_rss_kb(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
}

static int cmd_ingest(int argc, char **argv)
{
	struct ingest_options io = { 0 };
	struct ingest_ui ui = { 0 };
	struct ingest_report report;
	const char *batch = NULL;
	struct opt opts[] = {
		{ "--org", &io.org, NULL },
		{ "--format", &io.format, NULL },
		{ "--course", &io.course, NULL },
		{ "--batch", &batch, NULL },
		{ "--json", NULL, &ui.json },
		{ "--quiet", NULL, &ui.quiet },
		{ "-q", NULL, &ui.quiet },
		{ NULL, NULL, NULL },
	};
	struct lr_error err;
	struct store *s = NULL;
	char **pos = calloc((size_t)argc + 1, sizeof(char *));
	int n, rc = EXIT_USAGE;
	long total;

	lr_error_clear(&err);
	if (!pos || parse(argc, argv, opts, usage_ingest, pos, &n) != 0)
		goto out;
	if (!io.org || n == 0) {
		say_error(!io.org ? "ingest needs --org ORG" : "ingest needs a FILE or DIR");
		fprintf(stderr, "usage: %s\n", usage_ingest);
		goto out;
	}
	if (batch && number("--batch", batch, 1, &io.batch) != 0)
		goto out;
	ui.progress = !ui.quiet && !ui.json && isatty(STDERR_FILENO);
	if (ui.json) {
		ui.files = json_array();
		ui.rejects = json_array();
	}
	io.on_reject = on_reject;
	io.on_file = on_file;
	io.on_progress = on_progress;
	io.ctx = &ui;
	if ((rc = open_store(&s, 0)) != 0)
		goto out;
	if (ingest_paths(s, &err, &io, (const char *const *)pos, (size_t)n, &report) != 0) {
		rc = fail(&err);
		goto out;
	}
	/* Keep the store's person tables in step with what came in. */
	if (report.counts.accepted > 0 && identity_refresh(&err, s) != 0) {
		char line[1024];
		say_error("warning: the statements are stored, but the person table could not be refreshed: %s",
			  lr_error_format(&err, line, sizeof(line)));
	}
	total = report.counts.accepted + report.counts.duplicates;
	if (report.counts.rejected || report.counts.conflicts || report.files_failed ||
	    report.files_partial)
		rc = total > 0 ? EXIT_REJECTS : EXIT_FATAL;
	else
		rc = total > 0 || report.files > 0 ? EXIT_OK : EXIT_FATAL;
	if (report.files == 0) {
		say_error("no files found to ingest");
		rc = EXIT_FATAL;
	}
	if (ui.json) {
		json_t *doc = json_pack(
			"{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:I, s:o, s:o}",
			"run", (json_int_t)report.run_id, "org", io.org,
			"files", (json_int_t)report.files, "files_failed", (json_int_t)report.files_failed,
			"files_partial", (json_int_t)report.files_partial,
			"accepted", (json_int_t)report.counts.accepted,
			"duplicates", (json_int_t)report.counts.duplicates,
			"conflicts", (json_int_t)report.counts.conflicts,
			"rejected", (json_int_t)report.counts.rejected, "exit_status", rc,
			"max_rss_kb", (json_int_t)max_rss_kb(),
			"file_reports", ui.files, "rejects", ui.rejects);
		ui.files = ui.rejects = NULL;
		if (doc)
			json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(doc);
	} else if (!ui.quiet) {
		printf("run %lld (org %s): %ld %s, %ld accepted, %ld duplicates, %ld conflicts, "
		       "%ld rejected\n",
		       (long long)report.run_id, io.org, report.files, plural(report.files, "file", "files"),
		       report.counts.accepted,
		       report.counts.duplicates, report.counts.conflicts, report.counts.rejected);
		if (report.counts.rejected || report.counts.conflicts)
			printf("see the rejects with: lrhub rejects --run %lld\n",
			       (long long)report.run_id);
	}
out:
	json_decref(ui.files);
	json_decref(ui.rejects);
	store_close(s);
	free(pos);
	return rc;
}


const struct cli_command cli_ingest = { "ingest", usage_ingest, cmd_ingest };
