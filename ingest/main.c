/*
 * main.c: the lrhub command line. It parses arguments, opens the store,
 * calls the library, and decides what to print and which exit status to
 * return; nothing below it prints or exits.
 *
 * Exit status: 0 all good; 1 usage; 2 some records rejected (the rest went
 * in); 3 nothing could be ingested, or a fatal error.
 */
#include "adapters/adapter.h"
#include "adapters/csv.h"
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

#ifndef LRHUB_VERSION
#define LRHUB_VERSION "0.1.0"
#endif

enum exit_status { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_REJECTS = 2, EXIT_FATAL = 3 };

static const char *db_path;
static const char *progname = "lrhub";

static void say_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * Prints err and returns the exit status for it: 1 when the command line
 * asked for something wrong (a bad value, an unknown org or course, a name
 * that is taken), 3 when the work could not be done (files, the store).
 */
static int fail(const struct lr_error *err)
{
	char line[1024];

	say_error("%s", lr_error_format(err, line, sizeof(line)));
	return err->code == LR_EINVAL || err->code == LR_ENOTFOUND || err->code == LR_EEXISTS
		       ? EXIT_USAGE : EXIT_FATAL;
}

static const char *plural(long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* Parses a whole number option value into *out; prints why not and returns -1. */
static int number(const char *option, const char *text, long min, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < min) {
		say_error("%s: '%s' is not a whole number of at least %ld", option, text, min);
		return -1;
	}
	*out = v;
	return 0;
}

/* ---- argument parsing ---- */

struct opt {
	const char *name;       /* "--org"; "-o" */
	const char **value;     /* for options with a value */
	int *flag;              /* for flags */
};

/*
 * Parses argv[0..argc) against opts. Positional arguments are collected in
 * pos (room for argc). Returns 0, or -1 after printing a usage error.
 */
static int parse(int argc, char **argv, const struct opt *opts, const char *usage,
		 char **pos, int *n_pos)
{
	int i, only_pos = 0;

	*n_pos = 0;
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];
		const struct opt *o;
		const char *eq;
		size_t name_len;

		if (only_pos || a[0] != '-' || strcmp(a, "-") == 0) {
			pos[(*n_pos)++] = argv[i];
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_pos = 1;
			continue;
		}
		eq = strchr(a, '=');
		name_len = eq ? (size_t)(eq - a) : strlen(a);
		for (o = opts; o->name; o++)
			if (strlen(o->name) == name_len && strncmp(o->name, a, name_len) == 0)
				break;
		if (!o->name) {
			say_error("unknown option '%.*s'", (int)name_len, a);
			fprintf(stderr, "usage: %s\n", usage);
			return -1;
		}
		if (o->flag) {
			if (eq) {
				say_error("option '%s' takes no value", o->name);
				return -1;
			}
			*o->flag = 1;
		} else if (eq) {
			*o->value = eq + 1;
		} else if (i + 1 < argc) {
			*o->value = argv[++i];
		} else {
			say_error("option '%s' needs a value", o->name);
			fprintf(stderr, "usage: %s\n", usage);
			return -1;
		}
	}
	return 0;
}

static int wants_help(int argc, char **argv)
{
	int i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return 0;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	}
	return 0;
}

static int open_store(struct store **s, unsigned flags)
{
	struct lr_error err;

	lr_error_clear(&err);
	if (store_open(s, &err, db_path, flags) != 0)
		return fail(&err);
	return 0;
}

/* ---- init ---- */

static const char usage_init[] = "lrhub [--db PATH] init";

static int cmd_init(int argc, char **argv)
{
	struct opt opts[] = { { NULL, NULL, NULL } };
	struct store *s;
	char *pos[8];
	struct stat st;
	int n, existed, rc;

	if (argc > 0) {
		if (argc <= 8 && parse(argc, argv, opts, usage_init, pos, &n) != 0)
			return EXIT_USAGE;
		say_error("init takes no arguments");
		fprintf(stderr, "usage: %s\n", usage_init);
		return EXIT_USAGE;
	}
	existed = stat(db_path, &st) == 0;
	if ((rc = open_store(&s, STORE_CREATE)) != 0)
		return rc;
	printf("%s store %s (schema version %d)\n", existed ? "opened" : "created", db_path,
	       store_schema_version(s));
	store_close(s);
	return EXIT_OK;
}

/* ---- org ---- */

static const char usage_org[] =
	"lrhub org add ORG [--name TEXT] [--lms-url URL] [--timezone ZONE]\n"
	"       lrhub org list";

static int zone_exists(const char *zone)
{
	char path[512];
	struct stat st;

	if (strcmp(zone, "UTC") == 0 || strcmp(zone, "Etc/UTC") == 0)
		return 1;
	if (strstr(zone, "..") || zone[0] == '/')
		return 0;
	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", zone);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int print_org(void *ctx, const struct store_org *o)
{
	(void)ctx;
	printf("%-20s %-30s %-30s %s\n", o->code, o->name ? o->name : "-",
	       o->lms_url ? o->lms_url : "-", o->timezone ? o->timezone : "-");
	return 0;
}

static int cmd_org(int argc, char **argv)
{
	struct store_org org = { 0 };
	struct opt opts[] = {
		{ "--name", &org.name, NULL },
		{ "--lms-url", &org.lms_url, NULL },
		{ "--timezone", &org.timezone, NULL },
		{ NULL, NULL, NULL },
	};
	struct lr_error err;
	struct store *s = NULL;
	char **pos = calloc((size_t)argc + 1, sizeof(char *));
	int n, rc = EXIT_USAGE;

	lr_error_clear(&err);
	if (!pos || argc < 1 || parse(argc - 1, argv + 1, opts, usage_org, pos, &n) != 0)
		goto usage;
	if (strcmp(argv[0], "add") == 0 && n == 1) {
		org.code = pos[0];
		if (org.timezone && !zone_exists(org.timezone)) {
			say_error("unknown time zone '%s' (use a name such as Europe/London)",
				  org.timezone);
			goto out;
		}
		if ((rc = open_store(&s, STORE_CREATE)) != 0)
			goto out;
		if (store_org_add(s, &err, &org) != 0) {
			rc = fail(&err);
			goto out;
		}
		printf("added org %s\n", org.code);
		rc = EXIT_OK;
	} else if (strcmp(argv[0], "list") == 0 && n == 0) {
		if ((rc = open_store(&s, 0)) != 0)
			goto out;
		printf("%-20s %-30s %-30s %s\n", "ORG", "NAME", "LMS URL", "TIMEZONE");
		rc = store_org_each(s, &err, print_org, NULL) != 0 ? fail(&err) : EXIT_OK;
	} else {
		goto usage;
	}
	goto out;
usage:
	if (pos)
		fprintf(stderr, "usage: %s\n", usage_org);
	rc = EXIT_USAGE;
out:
	store_close(s);
	free(pos);
	return rc;
}

/* ---- course ---- */

static const char usage_course[] =
	"lrhub course add COURSE --title TEXT\n"
	"       lrhub course alias COURSE [--org ORG] --key LOCAL_KEY\n"
	"       lrhub course list\n"
	"       lrhub course unmapped";

static int print_course(void *ctx, const struct store_course *c)
{
	(void)ctx;
	printf("%-24s %-8ld %s\n", c->code, c->aliases, c->title);
	return 0;
}

static int print_unmapped(void *ctx, const struct store_unmapped *u)
{
	(void)ctx;
	printf("%-16s %10ld %11ld %8ld  %s%s%s%s\n", u->org, u->statements, u->completions,
	       u->learners, u->key, u->name ? " (" : "", u->name ? u->name : "", u->name ? ")" : "");
	return 0;
}

static int cmd_course(int argc, char **argv)
{
	const char *title = NULL, *org = NULL, *key = NULL;
	struct opt opts[] = {
		{ "--title", &title, NULL },
		{ "--org", &org, NULL },
		{ "--key", &key, NULL },
		{ NULL, NULL, NULL },
	};
	struct lr_error err;
	struct store *s = NULL;
	char **pos = calloc((size_t)argc + 1, sizeof(char *));
	int n, rc = EXIT_USAGE;

	lr_error_clear(&err);
	if (!pos || argc < 1 || parse(argc - 1, argv + 1, opts, usage_course, pos, &n) != 0)
		goto usage;
	if (strcmp(argv[0], "add") == 0 && n == 1 && title) {
		if ((rc = open_store(&s, STORE_CREATE)) != 0)
			goto out;
		if (store_course_add(s, &err, pos[0], title) != 0) {
			rc = fail(&err);
			goto out;
		}
		printf("added course %s\n", pos[0]);
		rc = EXIT_OK;
	} else if (strcmp(argv[0], "alias") == 0 && n == 1 && key) {
		int64_t course_id, org_id = 0;
		if ((rc = open_store(&s, 0)) != 0)
			goto out;
		if (store_course_id(s, &err, pos[0], &course_id) != 0 ||
		    (org && store_org_id(s, &err, org, &org_id) != 0) ||
		    store_course_alias(s, &err, course_id, org_id, key) != 0) {
			rc = fail(&err);
			goto out;
		}
		printf("%s in %s%s is course %s\n", key, org ? "org " : "", org ? org : "every org",
		       pos[0]);
		rc = EXIT_OK;
	} else if (strcmp(argv[0], "list") == 0 && n == 0) {
		if ((rc = open_store(&s, 0)) != 0)
			goto out;
		printf("%-24s %-8s %s\n", "COURSE", "ALIASES", "TITLE");
		rc = store_course_each(s, &err, print_course, NULL) != 0 ? fail(&err) : EXIT_OK;
	} else if (strcmp(argv[0], "unmapped") == 0 && n == 0) {
		if ((rc = open_store(&s, 0)) != 0)
			goto out;
		printf("%-16s %10s %11s %8s  %s\n", "ORG", "STATEMENTS", "COMPLETIONS", "LEARNERS",
		       "KEY (NAME)");
		rc = store_unmapped_each(s, &err, print_unmapped, NULL) != 0 ? fail(&err) : EXIT_OK;
	} else {
		goto usage;
	}
	goto out;
usage:
	if (pos)
		fprintf(stderr, "usage: %s\n", usage_course);
	rc = EXIT_USAGE;
out:
	store_close(s);
	free(pos);
	return rc;
}

/* ---- identity ---- */

static const char usage_identity[] = "lrhub identity import MAPPING.csv   (columns: org,key,email)";

static ssize_t file_read(void *ctx, void *buf, size_t len)
{
	FILE *fp = ctx;
	size_t n = fread(buf, 1, len, fp);

	return n == 0 && ferror(fp) ? -1 : (ssize_t)n;
}

static int cmd_identity(int argc, char **argv)
{
	struct opt opts[] = { { NULL, NULL, NULL } };
	struct lr_error err;
	struct store *s = NULL;
	struct csv *csv = NULL;
	struct csv_row row;
	struct store_counts counts = { 0 };
	char **pos = calloc((size_t)argc + 1, sizeof(char *));
	FILE *fp = NULL;
	int64_t run_id = 0;
	long c_org = -1, c_key = -1, c_email = -1;
	int n, rc = EXIT_USAGE, step, in_tx = 0;

	lr_error_clear(&err);
	if (!pos || argc < 1 || parse(argc - 1, argv + 1, opts, usage_identity, pos, &n) != 0 ||
	    strcmp(argv[0], "import") != 0 || n != 1) {
		if (pos)
			fprintf(stderr, "usage: %s\n", usage_identity);
		goto out;
	}
	fp = fopen(pos[0], "rb");
	if (!fp) {
		say_error("%s: cannot read the file: %s", pos[0], strerror(errno));
		rc = EXIT_FATAL;
		goto out;
	}
	if ((rc = open_store(&s, 0)) != 0)
		goto out;
	rc = EXIT_FATAL;
	if (csv_open(&csv, NULL, file_read, fp) != 0) {
		say_error("out of memory");
		goto out;
	}
	step = csv_next(csv, &row, &err);
	if (step == 1) {
		c_org = csv_column(&row, "org");
		c_key = csv_column(&row, "key");
		c_email = csv_column(&row, "email");
	}
	if (c_org < 0 || c_key < 0 || c_email < 0) {
		say_error("%s:1: the first line must be the header org,key,email", pos[0]);
		goto out;
	}
	if (store_begin(s, &err) != 0 || store_run_begin(s, &err, "identity", 0, &run_id) != 0) {
		rc = fail(&err);
		goto out;
	}
	in_tx = 1;
	while ((step = csv_next(csv, &row, &err)) != 0) {
		char line[1024];
		int64_t org_id;
		int is_new;

		if (step == 1 && ((size_t)c_org >= row.n || (size_t)c_key >= row.n ||
				  (size_t)c_email >= row.n)) {
			lr_error_set(&err, LR_EINVAL, "the row has %zu fields, the header has more",
				     row.n);
			step = LR_EINVAL;
		}
		if (step == 1) {
			if (store_org_id(s, &err, row.fields[c_org], &org_id) == 0 &&
			    store_identity_link(s, &err, org_id, row.fields[c_key], row.fields[c_email],
						pos[0], &is_new) == 0) {
				if (is_new)
					counts.accepted++;
				else
					counts.duplicates++;
				continue;
			}
			if (err.code != LR_EINVAL && err.code != LR_ENOTFOUND) {
				rc = fail(&err);
				goto out;
			}
		} else if (step != LR_EINVAL) {
			lr_error_where(&err, pos[0], err.line, err.record);
			rc = fail(&err);
			goto out;
		}
		if (step == 1 || err.line == 0)
			lr_error_where(&err, pos[0], row.line, row.record);
		else
			lr_error_where(&err, pos[0], err.line, err.record);
		say_error("%s", lr_error_format(&err, line, sizeof(line)));
		if (store_reject_add(s, &err, run_id, 0, "invalid", &err, row.raw, row.raw_len) != 0 &&
		    err.code != LR_EINVAL && err.code != LR_ENOTFOUND) {
			rc = fail(&err);
			goto out;
		}
		lr_error_clear(&err);
		counts.rejected++;
	}
	if (store_run_end(s, &err, run_id, counts.rejected ? "done with errors" : "done", &counts, 1) != 0 ||
	    store_commit(s, &err) != 0) {
		rc = fail(&err);
		goto out;
	}
	in_tx = 0;
	printf("%ld identity %s added, %ld already known, %ld rejected\n", counts.accepted,
	       plural(counts.accepted, "link", "links"), counts.duplicates, counts.rejected);
	if (counts.rejected)
		printf("see the rejects with: lrhub rejects --run %lld\n", (long long)run_id);
	if (counts.accepted > 0 && identity_refresh(&err, s) != 0) {
		char line[1024];
		say_error("warning: the links are stored, but the person table could not be refreshed: %s",
			  lr_error_format(&err, line, sizeof(line)));
	}
	rc = counts.rejected ? (counts.accepted + counts.duplicates ? EXIT_REJECTS : EXIT_FATAL) : EXIT_OK;
out:
	if (in_tx)
		store_rollback(s);
	csv_close(csv);
	if (fp)
		fclose(fp);
	store_close(s);
	free(pos);
	return rc;
}

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
	if (f->error)
		say_error("%s: %s%s", f->path, f->error,
			  strcmp(f->status, "partial") == 0 ? " (the records before it went in)" : "");
	if (!ui->quiet)
		printf("%s: %s (%s): %ld accepted, %ld duplicates, %ld conflicts, %ld rejected\n",
		       f->path, f->status, f->format ? f->format : "unknown format",
		       f->counts.accepted, f->counts.duplicates, f->counts.conflicts,
		       f->counts.rejected);
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

/* ---- completions ---- */

static const char usage_completions[] =
	"lrhub completions [--course C] [--org O] [--since DATE] [--until DATE]\n"
	"                  [--format csv|json|table] [--pseudonymise --key-file F] [-o|--output FILE]";

/* Parses DATE or a full timestamp; a bare date's end is its last millisecond. */
static int parse_when(const char *text, int end_of_day, int64_t *out)
{
	char buf[64];

	if (strlen(text) == 10 && text[4] == '-' && text[7] == '-') {
		snprintf(buf, sizeof(buf), "%sT%s", text, end_of_day ? "23:59:59.999Z" : "00:00:00Z");
		return xtime_parse(out, buf, 0);
	}
	return xtime_parse(out, text, 0);
}

static int read_key_file(const char *path, unsigned char *key, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	size_t n;

	if (!fp) {
		say_error("%s: cannot read the key file: %s", path, strerror(errno));
		return EXIT_FATAL;
	}
	n = fread(key, 1, 4096, fp);
	fclose(fp);
	while (n > 0 && (key[n - 1] == '\n' || key[n - 1] == '\r' || key[n - 1] == ' '))
		n--;
	if (n < 16) {
		say_error("%s: the key is too short: use at least 16 bytes, for example "
			  "'head -c 32 /dev/urandom | base64 > %s'", path, path);
		return EXIT_USAGE;
	}
	*len = n;
	return 0;
}

struct table {
	struct completion *rows;
	char **texts;
	size_t n, cap;
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int collect_row(void *ctx, const struct completion *c)
{
	struct table *t = ctx;
	struct completion *r;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct completion *rows = realloc(t->rows, cap * sizeof(*rows));
		if (!rows)
			return LR_ENOMEM;
		t->rows = rows;
		t->cap = cap;
	}
	r = &t->rows[t->n++];
	*r = *c;
	r->person_id = dup_or_null(c->person_id);
	r->email = dup_or_null(c->email);
	r->name = dup_or_null(c->name);
	r->course_id = dup_or_null(c->course_id);
	r->orgs = dup_or_null(c->orgs);
	r->course_title = NULL;
	return 0;
}

static void print_table(FILE *out, struct table *t)
{
	static const char *const heads[] = { "PERSON", "EMAIL", "NAME", "COURSE", "FIRST COMPLETED",
					     "N", "SUCCESS", "SCORE", "ORGS" };
	int w[9], i;
	size_t r;
	char buf[9][64];

	for (i = 0; i < 9; i++)
		w[i] = (int)strlen(heads[i]);
#define CELLS(row) do { \
		xtime_format(buf[4], (row)->first_completed_ms); \
		snprintf(buf[5], sizeof(buf[5]), "%ld", (row)->completions); \
		if ((row)->has_score) snprintf(buf[7], sizeof(buf[7]), "%.6g", (row)->best_score_scaled); \
		else strcpy(buf[7], "-"); \
	} while (0)
	for (r = 0; r < t->n; r++) {
		const struct completion *c = &t->rows[r];
		const char *cells[9];
		CELLS(c);
		cells[0] = c->person_id; cells[1] = c->email ? c->email : "-";
		cells[2] = c->name ? c->name : "-"; cells[3] = c->course_id; cells[4] = buf[4];
		cells[5] = buf[5]; cells[6] = c->success; cells[7] = buf[7]; cells[8] = c->orgs;
		for (i = 0; i < 9; i++) {
			int len = (int)strlen(cells[i]);
			if (len > 40)
				len = 40;
			if (len > w[i])
				w[i] = len;
		}
	}
	for (i = 0; i < 9; i++)
		fprintf(out, "%-*s%s", i == 8 ? 0 : w[i], heads[i], i == 8 ? "\n" : "  ");
	for (r = 0; r < t->n; r++) {
		const struct completion *c = &t->rows[r];
		const char *cells[9];
		CELLS(c);
		cells[0] = c->person_id; cells[1] = c->email ? c->email : "-";
		cells[2] = c->name ? c->name : "-"; cells[3] = c->course_id; cells[4] = buf[4];
		cells[5] = buf[5]; cells[6] = c->success; cells[7] = buf[7]; cells[8] = c->orgs;
		for (i = 0; i < 9; i++)
			fprintf(out, "%-*.*s%s", i == 8 ? 0 : w[i], 40, cells[i], i == 8 ? "\n" : "  ");
	}
#undef CELLS
	fprintf(out, "%zu completion%s\n", t->n, t->n == 1 ? "" : "s");
}

static void table_free(struct table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free((char *)t->rows[i].person_id);
		free((char *)t->rows[i].email);
		free((char *)t->rows[i].name);
		free((char *)t->rows[i].course_id);
		free((char *)t->rows[i].orgs);
	}
	free(t->rows);
}

struct stream_out {
	FILE *out;
	int json;
	long n;
	int failed;
};

static int stream_row(void *ctx, const struct completion *c)
{
	struct stream_out *so = ctx;
	int rc;

	if (so->json) {
		fputs(so->n ? ",\n  " : "\n  ", so->out);
		rc = completions_write_json(so->out, c);
	} else {
		rc = completions_write_csv(so->out, c);
	}
	so->n++;
	if (rc != 0) {
		so->failed = 1;
		return rc;
	}
	return 0;
}

static int cmd_completions(int argc, char **argv)
{
	struct completions_query q = { 0 };
	const char *since = NULL, *until = NULL, *format = "csv", *key_file = NULL, *output = NULL;
	int pseudonymise = 0;
	struct opt opts[] = {
		{ "--course", &q.course, NULL },
		{ "--org", &q.org, NULL },
		{ "--since", &since, NULL },
		{ "--until", &until, NULL },
		{ "--format", &format, NULL },
		{ "--pseudonymise", NULL, &pseudonymise },
		{ "--pseudonymize", NULL, &pseudonymise },
		{ "--key-file", &key_file, NULL },
		{ "-o", &output, NULL },
		{ "--output", &output, NULL },
		{ NULL, NULL, NULL },
	};
	unsigned char key[4096];
	size_t key_len = 0;
	struct lr_error err;
	struct store *s = NULL;
	struct table table = { 0 };
	struct stream_out so = { 0 };
	char **pos = calloc((size_t)argc + 1, sizeof(char *));
	char *tmp = NULL;
	FILE *out = stdout;
	int n, rc = EXIT_USAGE, is_json, is_table;

	lr_error_clear(&err);
	if (!pos || parse(argc, argv, opts, usage_completions, pos, &n) != 0)
		goto out;
	if (n != 0) {
		say_error("completions takes no file arguments (use -o FILE to write one)");
		goto out;
	}
	is_json = strcmp(format, "json") == 0;
	is_table = strcmp(format, "table") == 0;
	if (!is_json && !is_table && strcmp(format, "csv") != 0) {
		say_error("unknown format '%s': use csv, json or table", format);
		goto out;
	}
	if (since && parse_when(since, 0, &q.since_ms) != 0) {
		say_error("--since: '%s' is not a date (YYYY-MM-DD) or timestamp", since);
		goto out;
	}
	if (until && parse_when(until, 1, &q.until_ms) != 0) {
		say_error("--until: '%s' is not a date (YYYY-MM-DD) or timestamp", until);
		goto out;
	}
	q.has_since = since != NULL;
	q.has_until = until != NULL;
	if (pseudonymise != (key_file != NULL)) {
		say_error("--pseudonymise and --key-file go together");
		goto out;
	}
	if (key_file) {
		if ((rc = read_key_file(key_file, key, &key_len)) != 0)
			goto out;
		q.pseudonym_key = key;
		q.pseudonym_key_len = key_len;
	}
	if ((rc = open_store(&s, STORE_READONLY)) != 0)
		goto out;
	{
		/* Unknown names are refused before anything is written. */
		int64_t id;
		if ((q.course && store_course_id(s, &err, q.course, &id) != 0) ||
		    (q.org && store_org_id(s, &err, q.org, &id) != 0)) {
			rc = fail(&err);
			goto out;
		}
	}
	if (output) {
		if (asprintf(&tmp, "%s.tmp-%ld", output, (long)getpid()) < 0 || !(out = fopen(tmp, "wb"))) {
			say_error("%s: cannot write: %s", output, strerror(errno));
			out = stdout;
			rc = EXIT_FATAL;
			goto out;
		}
	}
	so.out = out;
	so.json = is_json;
	if (is_table) {
		rc = completions_each(s, &err, &q, collect_row, &table);
		if (rc == 0)
			print_table(out, &table);
	} else {
		if (is_json)
			fputs("[", out);
		else
			fputs(completions_csv_header, out);
		rc = completions_each(s, &err, &q, stream_row, &so);
		if (is_json)
			fputs(so.n ? "\n]\n" : "]\n", out);
	}
	if (rc != 0) {
		if (!err.code)
			lr_error_set(&err, rc, "writing the completions failed");
		rc = fail(&err);
		goto out;
	}
	if (fflush(out) != 0 || ferror(out)) {
		say_error("%s: write error: %s", output ? output : "standard output", strerror(errno));
		rc = EXIT_FATAL;
		goto out;
	}
	if (output) {
		fclose(out);
		out = stdout;
		if (rename(tmp, output) != 0) {
			say_error("%s: cannot write: %s", output, strerror(errno));
			rc = EXIT_FATAL;
			goto out;
		}
		free(tmp);
		tmp = NULL;
	}
	rc = EXIT_OK;
out:
	if (out != stdout)
		fclose(out);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	table_free(&table);
	store_close(s);
	free(pos);
	return rc;
}

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
	if (ui->raw && r->raw)
		printf("    %s\n", r->raw);
	ui->n++;
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
	if (store_reject_each(s, &err, run_id, print_reject, &ui) != 0)
		rc = fail(&err);
	else if (ui.n == 0)
		printf("no rejects%s%s\n", run ? " in run " : "", run ? run : "");
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

static int cmd_formats(void)
{
	size_t i;

	for (i = 0; adapter_list[i]; i++)
		printf("%-14s %s\n", adapter_list[i]->name, adapter_list[i]->description);
	return EXIT_OK;
}

/* ---- main ---- */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: lrhub [--db PATH] COMMAND ...\n"
		"\n"
		"The store is PATH, else $LRHUB_DB, else ./lrhub.db.\n"
		"\n"
		"commands:\n"
		"  init                          create (or upgrade) the store\n"
		"  org add ORG [--name TEXT] [--lms-url URL] [--timezone ZONE]\n"
		"  org list\n"
		"  course add COURSE --title TEXT\n"
		"  course alias COURSE [--org ORG] --key LOCAL_KEY\n"
		"  course list | course unmapped\n"
		"  identity import MAPPING.csv   columns org,key,email\n"
		"  ingest --org ORG [--format NAME] [--course KEY] [--json] [--quiet] [--batch N]\n"
		"         FILE|DIR ...\n"
		"  completions [--course C] [--org O] [--since DATE] [--until DATE]\n"
		"              [--format csv|json|table] [--pseudonymise --key-file F] [-o FILE]\n"
		"  rejects [--run N] [--raw]     what was refused, and why\n"
		"  runs [--limit N]              the latest ingest runs\n"
		"  formats                       the input formats lrhub reads\n"
		"\n"
		"Run 'lrhub COMMAND --help' for a command's options; 'man lrhub' for all.\n"
		"Exit status: 0 all good, 1 usage, 2 some records rejected, 3 nothing ingested or fatal.\n");
}

static const char *command_usage(const char *cmd)
{
	if (strcmp(cmd, "init") == 0) return usage_init;
	if (strcmp(cmd, "org") == 0) return usage_org;
	if (strcmp(cmd, "course") == 0) return usage_course;
	if (strcmp(cmd, "identity") == 0) return usage_identity;
	if (strcmp(cmd, "ingest") == 0) return usage_ingest;
	if (strcmp(cmd, "completions") == 0) return usage_completions;
	if (strcmp(cmd, "rejects") == 0) return usage_rejects;
	if (strcmp(cmd, "runs") == 0) return "lrhub runs [--limit N]";
	if (strcmp(cmd, "formats") == 0) return "lrhub formats";
	return NULL;
}

int main(int argc, char **argv)
{
	int i = 1;
	const char *cmd, *u;

	db_path = getenv("LRHUB_DB");
	if (!db_path || !db_path[0])
		db_path = "lrhub.db";
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
			db_path = argv[i + 1];
			i += 2;
		} else if (strncmp(argv[i], "--db=", 5) == 0) {
			db_path = argv[i] + 5;
			i++;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return EXIT_OK;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("lrhub %s\n", LRHUB_VERSION);
			return EXIT_OK;
		} else {
			say_error("unknown option '%s'", argv[i]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[i++];
	if (strcmp(cmd, "help") == 0) {
		if (i < argc && (u = command_usage(argv[i])) != NULL)
			printf("usage: %s\n", u);
		else
			usage(stdout);
		return EXIT_OK;
	}
	if ((u = command_usage(cmd)) != NULL && wants_help(argc - i, argv + i)) {
		printf("usage: %s\n", u);
		return EXIT_OK;
	}
	if (strcmp(cmd, "init") == 0)
		return cmd_init(argc - i, argv + i);
	if (strcmp(cmd, "org") == 0)
		return cmd_org(argc - i, argv + i);
	if (strcmp(cmd, "course") == 0)
		return cmd_course(argc - i, argv + i);
	if (strcmp(cmd, "identity") == 0)
		return cmd_identity(argc - i, argv + i);
	if (strcmp(cmd, "ingest") == 0)
		return cmd_ingest(argc - i, argv + i);
	if (strcmp(cmd, "completions") == 0)
		return cmd_completions(argc - i, argv + i);
	if (strcmp(cmd, "rejects") == 0)
		return cmd_rejects(argc - i, argv + i);
	if (strcmp(cmd, "runs") == 0)
		return cmd_runs(argc - i, argv + i);
	if (strcmp(cmd, "formats") == 0)
		return cmd_formats();
	say_error("unknown command '%s'", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
