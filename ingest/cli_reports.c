/*
 * cli_reports.c: the evaluators' commands: org set / org import (sectors and
 * dated headcounts), report coverage, report trend and export powerbi. The
 * numbers come from lrs/reports.c, the same code the HTTP server calls.
 */
#include "ingest/cli.h"
#include "lrs/error.h"
#include "lrs/reports.h"
#include "lrs/store.h"
#include "lrs/workforce.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- org set / org import ---- */

static void print_reject(void *ctx, const struct lr_error *row_err)
{
	char line[1024];

	(void)ctx;
	say_error("%s", lr_error_format(row_err, line, sizeof(line)));
}

int cli_org_workforce(int argc, char **argv, const char *usage)
{
	const char *name = NULL, *sector = NULL, *headcount = NULL, *frontline = NULL, *as_of = NULL;
	struct opt set_opts[] = {
		{ "--name", &name, NULL },
		{ "--sector", &sector, NULL },
		{ "--headcount", &headcount, NULL },
		{ "--frontline", &frontline, NULL },
		{ "--as-of", &as_of, NULL },
		{ NULL, NULL, NULL },
	};
	struct opt no_opts[] = { { NULL, NULL, NULL } };
	int is_set = strcmp(argv[0], "set") == 0;
	struct lr_error err;
	struct store *s = NULL;
	char **pos = calloc((size_t)argc + 1, sizeof(char *));
	int n, rc = EXIT_USAGE;

	lr_error_clear(&err);
	if (!pos || parse(argc - 1, argv + 1, is_set ? set_opts : no_opts, usage, pos, &n) != 0)
		goto out;
	if (n != 1) {
		fprintf(stderr, "usage: %s\n", usage);
		goto out;
	}
	if (is_set) {
		struct workforce_update u = { pos[0], name, sector, -1, -1, as_of };
		if ((headcount && number("--headcount", headcount, 0, &u.headcount) != 0) ||
		    (frontline && number("--frontline", frontline, 0, &u.frontline) != 0))
			goto out;
		if ((rc = open_store(&s, 0)) != 0)
			goto out;
		if (store_begin(s, &err) != 0 || workforce_set(s, &err, &u, 0, NULL) != 0 ||
		    store_commit(s, &err) != 0) {
			store_rollback(s);
			rc = fail(&err);
			goto out;
		}
		printf("set org %s", u.org);
		if (sector)
			printf(", sector %s", sector[0] ? sector : "(none)");
		if (u.headcount >= 0)
			printf(", headcount %ld", u.headcount);
		if (u.frontline >= 0)
			printf(", frontline %ld", u.frontline);
		if (u.headcount >= 0 || u.frontline >= 0)
			printf(" as of %s", as_of ? as_of : "today");
		printf("\n");
		rc = EXIT_OK;
	} else {
		struct workforce_import_counts counts;
		if ((rc = open_store(&s, 0)) != 0)
			goto out;
		if (workforce_import_csv(s, &err, pos[0], &counts, print_reject, NULL) != 0) {
			rc = fail(&err);
			if (err.code == LR_EINVAL || err.code == LR_EFORMAT)
				rc = EXIT_FATAL;
			goto out;
		}
		printf("%s: %ld %s, %ld set (%ld %s added), %ld rejected\n", pos[0], counts.rows,
		       plural(counts.rows, "row", "rows"), counts.applied, counts.created,
		       plural(counts.created, "org", "orgs"), counts.rejected);
		rc = counts.rejected == 0 ? EXIT_OK : counts.applied > 0 ? EXIT_REJECTS : EXIT_FATAL;
	}
out:
	store_close(s);
	free(pos);
	return rc;
}

/* ---- report ---- */

static const char usage_report[] =
	"lrhub report coverage --course C [--as-of DATE] [--target FRACTION:all|frontline:DATE ...]\n"
	"                      [--org O] [--format table|csv|json]\n"
	"       lrhub report trend --course C [--by month|week] [--org O] [--as-of DATE]\n"
	"                      [--format table|csv|json]";

static int cmd_report(int argc, char **argv)
{
	const char *course = NULL, *as_of = NULL, *by = NULL, *org = NULL, *format = "table";
	const char *target_text = NULL;
	struct opt opts[] = {
		{ "--course", &course, NULL },
		{ "--as-of", &as_of, NULL },
		{ "--by", &by, NULL },
		{ "--org", &org, NULL },
		{ "--format", &format, NULL },
		{ "--target", &target_text, NULL },
		{ NULL, NULL, NULL },
	};
	struct reports_target targets[REPORTS_MAX_TARGETS];
	struct reports_query q;
	enum reports_format fmt;
	struct lr_error err;
	struct store *s = NULL;
	json_t *report = NULL;
	char **pos = calloc((size_t)argc + 1, sizeof(char *));
	char **rest = calloc((size_t)argc + 1, sizeof(char *));
	int n, n_rest = 0, i, rc = EXIT_USAGE, coverage;

	memset(&q, 0, sizeof(q));
	lr_error_clear(&err);
	if (!pos || !rest || argc < 1)
		goto usage;
	coverage = strcmp(argv[0], "coverage") == 0;
	if (!coverage && strcmp(argv[0], "trend") != 0)
		goto usage;
	/* --target may be given more than once: take them out before parsing the rest. */
	for (i = 1; i < argc; i++) {
		const char *t = NULL;
		if (strcmp(argv[i], "--target") == 0 && i + 1 < argc)
			t = argv[++i];
		else if (strncmp(argv[i], "--target=", 9) == 0)
			t = argv[i] + 9;
		if (!t) {
			rest[n_rest++] = argv[i];
			continue;
		}
		if (!coverage) {
			say_error("--target is for report coverage");
			goto out;
		}
		if (q.n_targets == REPORTS_MAX_TARGETS) {
			say_error("at most %d targets", REPORTS_MAX_TARGETS);
			goto out;
		}
		if (reports_target_parse(&targets[q.n_targets], &err, t) != 0) {
			rc = fail(&err);
			goto out;
		}
		q.n_targets++;
	}
	if (parse(n_rest, rest, opts, usage_report, pos, &n) != 0)
		goto out;
	if (n != 0 || !course)
		goto usage;
	if (coverage && by) {
		say_error("--by is for report trend");
		goto out;
	}
	if (reports_format_parse(&fmt, &err, format) != 0 ||
	    (by && reports_period_parse(&q.by, &err, by) != 0)) {
		rc = fail(&err);
		goto out;
	}
	q.course = course;
	q.as_of = as_of;
	q.org = org;
	q.targets = targets;
	if ((rc = open_store(&s, STORE_READONLY)) != 0)
		goto out;
	if ((coverage ? reports_coverage(&report, &err, s, &q) : reports_trend(&report, &err, s, &q)) !=
	    0) {
		rc = fail(&err);
		goto out;
	}
	if ((coverage ? reports_coverage_write(stdout, report, fmt)
		      : reports_trend_write(stdout, report, fmt)) != 0 ||
	    fflush(stdout) != 0) {
		say_error("cannot write the report");
		rc = EXIT_FATAL;
		goto out;
	}
	rc = EXIT_OK;
	goto out;
usage:
	fprintf(stderr, "usage: %s\n", usage_report);
	rc = EXIT_USAGE;
out:
	json_decref(report);
	store_close(s);
	free(pos);
	free(rest);
	return rc;
}

/* ---- export ---- */

static const char usage_export[] = "lrhub export powerbi DIR [--key-file F]";

static int cmd_export(int argc, char **argv)
{
	const char *key_file = NULL;
	struct opt opts[] = {
		{ "--key-file", &key_file, NULL },
		{ NULL, NULL, NULL },
	};
	unsigned char key[REPORTS_KEY_MAX];
	char default_key[4096];
	struct lr_error err;
	struct store *s = NULL;
	char **pos = calloc((size_t)argc + 1, sizeof(char *));
	size_t key_len = 0;
	long rows = 0;
	int n, rc = EXIT_USAGE, created = 0;

	lr_error_clear(&err);
	if (!pos || argc < 1 || strcmp(argv[0], "powerbi") != 0 ||
	    parse(argc - 1, argv + 1, opts, usage_export, pos, &n) != 0 || n != 1) {
		fprintf(stderr, "usage: %s\n", usage_export);
		goto out;
	}
	if (!key_file) {
		snprintf(default_key, sizeof(default_key), "%s.pseudonym-key", cli_db_path);
		key_file = default_key;
	}
	if ((rc = open_store(&s, STORE_READONLY)) != 0)
		goto out;
	if (reports_key_load(key, &key_len, &created, &err, key_file, 1) != 0 ||
	    reports_export_powerbi(s, &err, pos[0], key, key_len, &rows) != 0) {
		rc = fail(&err);
		goto out;
	}
	if (created)
		printf("created the pseudonymisation key %s (keep it secret, keep it for the next export)\n",
		       key_file);
	printf("wrote %s: fact_completion.csv (%ld %s), fact_headcount.csv, dim_person.csv,"
	       " dim_course.csv, dim_org.csv, dim_date.csv\n", pos[0], rows,
	       plural(rows, "row", "rows"));
	rc = EXIT_OK;
out:
	memset(key, 0, sizeof(key));
	store_close(s);
	free(pos);
	return rc;
}

const struct cli_command cli_report = { "report", usage_report, cmd_report };

const struct cli_command cli_export = { "export", usage_export, cmd_export };
