/*
 * cli_setup.c: the commands that set a store up: init, org, course, identity.
 */
#include "adapters/adapter.h"
#include "adapters/csv.h"
#include "ingest/cli.h"
#include "ingest/ingest.h"
#include "lrs/completions.h"
#include "lrs/error.h"
#include "lrs/identity.h"
#include "lrs/store.h"
#include "lrs/workforce.h"
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
	existed = stat(cli_db_path, &st) == 0;
	if ((rc = open_store(&s, STORE_CREATE)) != 0)
		return rc;
	printf("%s store %s (schema version %d)\n", existed ? "opened" : "created", cli_db_path,
	       store_schema_version(s));
	store_close(s);
	return EXIT_OK;
}

/* ---- org ---- */

static const char usage_org[] =
	"lrhub org add ORG [--name TEXT] [--lms-url URL] [--timezone ZONE]\n"
	"       lrhub org set ORG [--name TEXT] [--sector S] [--headcount N] [--frontline N]\n"
	"                     [--as-of DATE]\n"
	"       lrhub org import FILE.csv   columns org,name,sector,headcount,frontline,as_of\n"
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

/* An org's latest workforce figures, kept for org list (strings owned). */
struct org_figures {
	char *code, *sector, *as_of;
	long headcount, frontline;
};

struct org_listing {
	struct org_figures *rows;
	size_t n;
	int failed;                  /* out of memory */
};

static int keep_figures(void *ctx, const struct workforce_org *o)
{
	struct org_listing *l = ctx;
	struct org_figures *grown = realloc(l->rows, (l->n + 1) * sizeof(*grown));
	struct org_figures *f;

	if (!grown) {
		l->failed = 1;
		return 1;
	}
	l->rows = grown;
	f = &l->rows[l->n++];
	memset(f, 0, sizeof(*f));
	f->headcount = o->headcount;
	f->frontline = o->frontline;
	if (!(f->code = strdup(o->code)) || (o->sector && !(f->sector = strdup(o->sector))) ||
	    (o->headcount_as_of && !(f->as_of = strdup(o->headcount_as_of)))) {
		l->failed = 1;
		return 1;
	}
	return 0;
}

static void number_or_dash(char *out, size_t size, long n)
{
	if (n < 0)
		snprintf(out, size, "-");
	else
		snprintf(out, size, "%ld", n);
}

static int print_org(void *ctx, const struct store_org *o)
{
	const struct org_listing *l = ctx;
	const struct org_figures *f = NULL;
	char headcount[24], frontline[24];
	size_t i;

	for (i = 0; i < l->n && !f; i++)
		if (strcmp(l->rows[i].code, o->code) == 0)
			f = &l->rows[i];
	number_or_dash(headcount, sizeof(headcount), f ? f->headcount : -1);
	number_or_dash(frontline, sizeof(frontline), f ? f->frontline : -1);
	printf("%-20s %-30s %-30s %-16s %-12s %9s %9s %s\n", o->code, o->name ? o->name : "-",
	       o->lms_url ? o->lms_url : "-", o->timezone ? o->timezone : "-",
	       f && f->sector ? f->sector : "-", headcount, frontline, f && f->as_of ? f->as_of : "-");
	return 0;
}

/* org list: the orgs with their latest sector and headcounts (lrs/workforce.h). */
static int list_orgs(struct store *s, struct lr_error *err)
{
	struct org_listing l = { NULL, 0, 0 };
	int rc = workforce_each(s, err, NULL, keep_figures, &l);
	size_t i;

	if (rc == 0 && l.failed)
		rc = lr_error_set(err, LR_ENOMEM, "out of memory listing the orgs");
	if (rc == 0) {
		printf("%-20s %-30s %-30s %-16s %-12s %9s %9s %s\n", "ORG", "NAME", "LMS URL", "TIMEZONE",
		       "SECTOR", "HEADCOUNT", "FRONTLINE", "AS OF");
		rc = store_org_each(s, err, print_org, &l);
	}
	for (i = 0; i < l.n; i++) {
		free(l.rows[i].code);
		free(l.rows[i].sector);
		free(l.rows[i].as_of);
	}
	free(l.rows);
	return rc;
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
	if (argc >= 1 && (strcmp(argv[0], "set") == 0 || strcmp(argv[0], "import") == 0)) {
		free(pos);
		return cli_org_workforce(argc, argv, usage_org);
	}
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
		rc = list_orgs(s, &err) != 0 ? fail(&err) : EXIT_OK;
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
	"       lrhub course import [--org ORG] [--course COURSE] PACKAGE.zip\n"
	"       lrhub course show COURSE\n"
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
	if (argc >= 1 && (strcmp(argv[0], "import") == 0 || strcmp(argv[0], "show") == 0)) {
		free(pos);
		return cli_course_package(argc, argv);
	}
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


const struct cli_command cli_init = { "init", usage_init, cmd_init };

const struct cli_command cli_org = { "org", usage_org, cmd_org };

const struct cli_command cli_course = { "course", usage_course, cmd_course };

const struct cli_command cli_identity = { "identity", usage_identity, cmd_identity };
