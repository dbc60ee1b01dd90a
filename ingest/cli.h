/*
 * cli.h: what the command-line front end's files share: exit statuses, the
 * store path, one-line error printing, option parsing, and the commands.
 * Only the front end (ingest/main.c and ingest/cli_*.c) prints or exits.
 */
#ifndef LRHUB_CLI_H
#define LRHUB_CLI_H

#include <stdint.h>

struct lr_error;
struct store;

/* 4: another lrhub nightly holds the store's lock; this run did nothing. */
enum exit_status { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_REJECTS = 2, EXIT_FATAL = 3, EXIT_LOCKED = 4 };

/* The store path: --db, else $LRHUB_DB, else ./lrhub.db. */
extern const char *cli_db_path;

/* Prints "lrhub: MESSAGE" and a newline on standard error. */
void say_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Prints err and returns the exit status for it: 1 when the command line
 * asked for something wrong (a bad value, an unknown org or course, a name
 * that is taken), 3 when the work could not be done (files, the store).
 */
int fail(const struct lr_error *err);

const char *plural(long n, const char *one, const char *many);

/* Parses a whole number option value into *out; prints why not and returns -1. */
int number(const char *option, const char *text, long min, long *out);

/* An option: with value for "--name VALUE" / "--name=VALUE", with flag for "--name". */
struct opt {
	const char *name;       /* "--org"; "-o" */
	const char **value;
	int *flag;
};

/*
 * Parses argv[0..argc) against opts (ended by a zero entry). Positional
 * arguments are collected in pos (room for argc). Returns 0, or -1 after
 * printing what was wrong and the usage.
 */
int parse(int argc, char **argv, const struct opt *opts, const char *usage, char **pos, int *n_pos);

/* Opens the store at cli_db_path; returns 0 or the exit status after printing why. */
int open_store(struct store **s, unsigned flags);

/* A command: its name, its usage text, and its function (argv after the name). */
struct cli_command {
	const char *name;
	const char *usage;
	int (*run)(int argc, char **argv);
};

/* The commands, each defined in its ingest/cli_*.c file. */
extern const struct cli_command cli_init, cli_org, cli_course, cli_identity, cli_ingest,
	cli_completions, cli_rejects, cli_runs, cli_formats;

/* `course import` and `course show` (ingest/cli_package.c): argv[0] is "import" or "show". */
int cli_course_package(int argc, char **argv);

/*
 * `org set` and `org import` (ingest/cli_reports.c): argv[0] is "set" or
 * "import"; usage is the org command's usage text.
 */
int cli_org_workforce(int argc, char **argv, const char *usage);

/* The evaluators' reports and the Power BI export (ingest/cli_reports.c). */
extern const struct cli_command cli_report, cli_export;

/* The xAPI HTTP API commands (ingest/cli_serve.c). */
extern const struct cli_command cli_serve, cli_credential;

/* Remote LRS sources (ingest/cli_pull.c): source add|list|remove, pull. */
extern const struct cli_command cli_source, cli_pull;

/* The unattended run and the store's backup (ingest/cli_nightly.c). */
extern const struct cli_command cli_nightly, cli_backup;

#endif
