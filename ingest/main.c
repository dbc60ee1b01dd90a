/*
 * main.c: the lrhub command line. It finds the store and the command, and
 * holds what the commands share (error printing, option parsing). Each
 * command is in an ingest/cli_*.c file: it parses its arguments, calls the
 * library and decides what to print and which exit status to return; nothing
 * below the front end prints or exits.
 *
 * Exit status: 0 all good; 1 usage; 2 some records rejected (the rest went
 * in); 3 nothing could be ingested, or a fatal error.
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
#include <malloc.h>
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


const char *cli_db_path;

void say_error(const char *fmt, ...)
{
	va_list ap;

	fputs("lrhub: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int fail(const struct lr_error *err)
{
	char line[1024];

	say_error("%s", lr_error_format(err, line, sizeof(line)));
	return err->code == LR_EINVAL || err->code == LR_ENOTFOUND || err->code == LR_EEXISTS
		       ? EXIT_USAGE : EXIT_FATAL;
}

const char *plural(long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

int number(const char *option, const char *text, long min, long *out)
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

int parse(int argc, char **argv, const struct opt *opts, const char *usage,
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

int open_store(struct store **s, unsigned flags)
{
	struct lr_error err;

	lr_error_clear(&err);
	if (store_open(s, &err, cli_db_path, flags) != 0)
		return fail(&err);
	return 0;
}


static const struct cli_command *const commands[] = {
	&cli_init, &cli_org, &cli_course, &cli_identity, &cli_ingest, &cli_completions,
	&cli_rejects, &cli_runs, &cli_formats, &cli_serve, &cli_credential,
	&cli_report, &cli_export,
	&cli_source, &cli_pull, &cli_nightly, &cli_backup, NULL
};

static const struct cli_command *find_command(const char *name)
{
	size_t i;

	for (i = 0; commands[i]; i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
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
		"  org set ORG [--name TEXT] [--sector S] [--headcount N] [--frontline N] [--as-of DATE]\n"
		"  org import FILE.csv           columns org,name,sector,headcount,frontline,as_of\n"
		"  org list\n"
		"  course add COURSE --title TEXT\n"
		"  course alias COURSE [--org ORG] --key LOCAL_KEY\n"
		"  course import [--org ORG] [--course COURSE] PACKAGE.zip\n"
		"  course show COURSE\n"
		"  course list | course unmapped\n"
		"  identity import MAPPING.csv   columns org,key,email\n"
		"  ingest --org ORG [--format NAME] [--course KEY] [--json] [--quiet] [--batch N]\n"
		"         FILE|DIR ...\n"
		"  completions [--course C] [--org O] [--since DATE] [--until DATE]\n"
		"              [--format csv|json|table] [--pseudonymise --key-file F] [-o FILE]\n"
		"  report coverage --course C [--as-of DATE] [--target F:all|frontline:DATE ...]\n"
		"                  [--org O] [--format table|csv|json]\n"
		"  report trend --course C [--by month|week] [--org O] [--as-of DATE]\n"
		"               [--format table|csv|json]\n"
		"  export powerbi DIR [--key-file F]   star schema CSVs, persons pseudonymised\n"
		"  rejects [--run N] [--raw]     what was refused, and why\n"
		"  runs [--limit N]              the latest ingest runs\n"
		"  runs show N                   one run: its files, counts and reasons\n"
		"  formats                       the input formats lrhub reads\n"
		"  serve [--listen ADDR:PORT] [--base /xapi]   run the xAPI LRS (HTTP API)\n"
		"  credential add ORG [--scope write|read-own|read-all|admin]   an API key\n"
		"  credential list | credential revoke KEY   the API keys; stop one working\n"
		"  source add NAME --org ORG --xapi-url URL --user U --password-file F\n"
		"         [--version 1.0.3|2.0.0] [--since DATETIME]   a remote LRS to pull\n"
		"  source list | source remove NAME\n"
		"  pull [--max-pages N] [--retries N] [--ca-file F] [NAME ...]   pull remote LRSs\n"
		"  nightly --inbox DIR [--settle SECONDS] [--no-pull] [--json]   the unattended run\n"
		"  backup FILE                   a consistent copy of the store, also while serving\n"
		"\n"
		"Run 'lrhub COMMAND --help' for a command's options; 'man lrhub' for all.\n"
		"Exit status: 0 all good, 1 usage, 2 some records rejected, 3 nothing ingested or fatal,\n"
		"4 another nightly run holds the lock.\n");
}


int main(int argc, char **argv)
{
	int i = 1;
	const char *name;
	const struct cli_command *cmd;

	/*
	 * Blocks of 1 MiB and more come from the kernel and go back to it when
	 * freed. Otherwise glibc raises this threshold each time such a block is
	 * freed, and the next large arrays come from the heap, which keeps what
	 * is freed in the middle: the person refresh after a large ingest frees
	 * tens of MB of temporary arrays and then needs new ones (peak memory,
	 * docs/performance.md).
	 */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	cli_db_path = getenv("LRHUB_DB");
	if (!cli_db_path || !cli_db_path[0])
		cli_db_path = "lrhub.db";
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
			cli_db_path = argv[i + 1];
			i += 2;
		} else if (strncmp(argv[i], "--db=", 5) == 0) {
			cli_db_path = argv[i] + 5;
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
	name = argv[i++];
	if (strcmp(name, "help") == 0) {
		if (i < argc && (cmd = find_command(argv[i])) != NULL)
			printf("usage: %s\n", cmd->usage);
		else
			usage(stdout);
		return EXIT_OK;
	}
	cmd = find_command(name);
	if (!cmd) {
		say_error("unknown command '%s'", name);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (wants_help(argc - i, argv + i)) {
		printf("usage: %s\n", cmd->usage);
		return EXIT_OK;
	}
	return cmd->run(argc - i, argv + i);
}
