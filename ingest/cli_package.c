/*
 * cli_package.c: `lrhub course import` (read a course package zip and
 * record its structure, optionally as the structure of a course) and
 * `lrhub course show` (a course's aliases and imported structure). They are
 * branches of the `course` command in cli_setup.c.
 */
#include "ingest/cli.h"
#include "lrs/error.h"
#include "lrs/package.h"
#include "lrs/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_import[] =
	"lrhub course import [--org ORG] [--course COURSE] PACKAGE.zip";
static const char usage_show[] = "lrhub course show COURSE";

static const char *part_word(const char *kind, long n)
{
	int au = strcmp(kind, "cmi5") == 0 || strcmp(kind, "tincan") == 0;

	return au ? plural(n, "AU", "AUs") : plural(n, "SCO", "SCOs");
}

static int course_import(int argc, char **argv)
{
	const char *org = NULL, *course = NULL;
	struct opt opts[] = {
		{ "--org", &org, NULL },
		{ "--course", &course, NULL },
		{ NULL, NULL, NULL },
	};
	struct package_import_result res;
	struct package *p = NULL;
	struct store *s = NULL;
	struct lr_error err;
	char **pos = calloc((size_t)argc + 1, sizeof(char *));
	int64_t course_id = 0, org_id = 0;
	int n, rc = EXIT_USAGE;
	long i;

	lr_error_clear(&err);
	if (!pos || parse(argc, argv, opts, usage_import, pos, &n) != 0)
		goto out;
	if (n != 1) {
		fprintf(stderr, "usage: %s\n", usage_import);
		goto out;
	}
	if ((rc = open_store(&s, 0)) != 0)
		goto out;
	if ((course && store_course_id(s, &err, course, &course_id) != 0) ||
	    (org && store_org_id(s, &err, org, &org_id) != 0)) {
		rc = fail(&err);
		goto out;
	}
	if (package_read(&p, &err, pos[0]) != 0) {
		char line[1024];
		lr_error_where(&err, pos[0], 0, 0);
		say_error("%s", lr_error_format(&err, line, sizeof(line)));
		rc = EXIT_FATAL;
		goto out;
	}
	for (i = 0; i < package_warning_count(p); i++)
		say_error("%s: warning: %s", pos[0], package_warning(p, i));
	if (package_import(s, &err, p, pos[0], course_id, org_id, &res) != 0) {
		lr_error_where(&err, pos[0], 0, 0);
		rc = fail(&err);
		goto out;
	}
	if (res.already) {
		printf("%s: already imported as package %lld: nothing to do\n", pos[0],
		       (long long)res.package_id);
		rc = EXIT_OK;
		goto out;
	}
	printf("%s: %s \"%s\", %ld %s", pos[0], package_kind(p),
	       package_title(p) ? package_title(p) : "(untitled)", package_part_count(p),
	       part_word(package_kind(p), package_part_count(p)));
	if (package_asset_count(p))
		printf(", %ld %s", package_asset_count(p), plural(package_asset_count(p), "asset", "assets"));
	printf(" (package %lld", (long long)res.package_id);
	if (course)
		printf(", course %s%s%s", course, org ? " at " : "", org ? org : "");
	printf(")\n");
	if (res.aliases_added)
		printf("%ld activity %s now %s of course %s\n", res.aliases_added,
		       plural(res.aliases_added, "IRI is", "IRIs are"),
		       plural(res.aliases_added, "an alias", "aliases"), course);
	rc = EXIT_OK;
out:
	package_free(p);
	store_close(s);
	free(pos);
	return rc;
}

static int print_alias(void *ctx, const char *org, const char *key)
{
	(void)ctx;
	printf("  %-16s %s\n", org ? org : "(every org)", key);
	return 0;
}

static int print_item(void *ctx, const struct package_item *it)
{
	(void)ctx;
	printf("    %*s%s %s", it->depth * 2, "", it->is_part ? "*" : "-", it->identifier);
	if (it->title)
		printf("  \"%s\"", it->title);
	if (it->is_part && !it->required)
		printf("  (not required)");
	if (it->move_on)
		printf("  moveOn=%s", it->move_on);
	if (it->has_mastery)
		printf("  mastery=%g", it->mastery_score);
	if (it->launch)
		printf("  launch=%s", it->launch);
	if (it->activity_iri && strcmp(it->activity_iri, it->identifier) != 0)
		printf("  iri=%s", it->activity_iri);
	printf("\n");
	return 0;
}

struct show_ctx {
	struct store *s;
	struct lr_error *err;
	long packages;
};

static int print_package(void *ctx, const struct package_row *r)
{
	struct show_ctx *c = ctx;

	c->packages++;
	printf("package %lld: %s \"%s\"%s%s, %ld %s (%ld required) for %s\n", (long long)r->id,
	       r->kind, r->title ? r->title : "(untitled)", r->version ? " version " : "",
	       r->version ? r->version : "", r->parts, part_word(r->kind, r->parts), r->required,
	       r->org ? r->org : "every org");
	printf("  file %s (%s), sha256 %s, imported %s\n", r->path ? r->path : "-",
	       r->manifest ? r->manifest : "-", r->sha256, r->imported_at);
	if (r->identifier)
		printf("  identifier %s\n", r->identifier);
	return package_item_each(c->s, c->err, r->id, print_item, NULL);
}

static int course_show(int argc, char **argv)
{
	struct opt opts[] = { { NULL, NULL, NULL } };
	struct store *s = NULL;
	struct lr_error err;
	struct show_ctx c;
	char **pos = calloc((size_t)argc + 1, sizeof(char *));
	int64_t course_id;
	int n, rc = EXIT_USAGE;

	lr_error_clear(&err);
	if (!pos || parse(argc, argv, opts, usage_show, pos, &n) != 0)
		goto out;
	if (n != 1) {
		fprintf(stderr, "usage: %s\n", usage_show);
		goto out;
	}
	if ((rc = open_store(&s, 0)) != 0)
		goto out;
	if (store_course_id(s, &err, pos[0], &course_id) != 0) {
		rc = fail(&err);
		goto out;
	}
	c.s = s;
	c.err = &err;
	c.packages = 0;
	printf("course %s\n", pos[0]);
	printf("aliases:\n");
	if (package_alias_each(s, &err, course_id, print_alias, NULL) != 0) {
		rc = fail(&err);
		goto out;
	}
	if (package_each(s, &err, course_id, print_package, &c) != 0) {
		rc = fail(&err);
		goto out;
	}
	if (c.packages == 0)
		printf("no package imported (lrhub course import --course %s PACKAGE.zip)\n", pos[0]);
	rc = EXIT_OK;
out:
	store_close(s);
	free(pos);
	return rc;
}

int cli_course_package(int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "import") == 0)
		return course_import(argc - 1, argv + 1);
	if (argc >= 1 && strcmp(argv[0], "show") == 0)
		return course_show(argc - 1, argv + 1);
	fprintf(stderr, "usage: %s\n       %s\n", usage_import, usage_show);
	return EXIT_USAGE;
}
