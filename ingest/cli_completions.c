/*
 * cli_completions.c: lrhub completions: one row per person per course, as CSV, JSON or a table.
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

/* ---- completions ---- */

static const char usage_completions[] =
	"lrhub completions [--course C] [--org O] [--since DATE] [--until DATE]\n"
	"                  [--format csv|json|table] [--pseudonymise --key-file F] [-o|--output FILE]";

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
	if (since && xtime_parse_bound(&q.since_ms, since, 0) != 0) {
		say_error("--since: '%s' is not a date (YYYY-MM-DD) or timestamp", since);
		goto out;
	}
	if (until && xtime_parse_bound(&q.until_ms, until, 1) != 0) {
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


const struct cli_command cli_completions = { "completions", usage_completions, cmd_completions };
