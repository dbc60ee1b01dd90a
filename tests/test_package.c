/*
 * Unit tests: reading course packages. Each folder fixtures/packages/<case>/
 * holds package/ (the files, zipped here with libzip: no zip is committed)
 * and expected.txt (the structure read, or "error: ..."). Hostile zips
 * that would be large or odd to commit (a zip bomb, 100,000 entries, '..'
 * names, a truncated zip) are made by the test.
 */
#include "lrs/error.h"
#include "lrs/package.h"
#include "tests/test.h"

#include <zip.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[128];
static const char *root = ".";

/* Adds the files under dir (folder name prefix inside the zip) to za. */
static int add_tree(zip_t *za, const char *dir, const char *prefix)
{
	struct dirent **names = NULL;
	int n, i, rc = 0;

	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0)
		return -1;
	for (i = 0; i < n; i++) {
		char path[1024], name[1024];
		struct stat st;

		if (strcmp(names[i]->d_name, ".") == 0 || strcmp(names[i]->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		snprintf(name, sizeof(name), "%.500s%.500s", prefix, names[i]->d_name);
		if (stat(path, &st) != 0) {
			rc = -1;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			char sub[1024];
			snprintf(sub, sizeof(sub), "%.1000s/", name);
			if (zip_dir_add(za, name, ZIP_FL_ENC_UTF_8) < 0 || add_tree(za, path, sub) != 0)
				rc = -1;
		} else {
			zip_source_t *src = zip_source_file(za, path, 0, -1);
			if (!src || zip_file_add(za, name, src, ZIP_FL_ENC_UTF_8) < 0) {
				zip_source_free(src);
				rc = -1;
			}
		}
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

static int zip_folder(const char *dir, const char *zip_path)
{
	int ze = 0;
	zip_t *za;

	unlink(zip_path);
	za = zip_open(zip_path, ZIP_CREATE | ZIP_TRUNCATE, &ze);
	if (!za)
		return -1;
	if (add_tree(za, dir, "") != 0) {
		zip_discard(za);
		return -1;
	}
	return zip_close(za) == 0 ? 0 : -1;
}

/* Writes what was read from a package (or its error) as expected.txt has it. */
static void dump(char *out, size_t size, const struct package *p, int rc,
		 const struct lr_error *err)
{
	size_t used = 0;
	long i;

#define PUT(...) do { \
		int n_ = snprintf(out + used, size - used, __VA_ARGS__); \
		if (n_ > 0 && (size_t)n_ < size - used) used += (size_t)n_; \
	} while (0)
	out[0] = '\0';
	if (rc != 0) {
		PUT("error: %s: %s\n", lr_strerror(rc), err->text);
		return;
	}
	PUT("kind: %s\n", package_kind(p));
	if (package_title(p))
		PUT("title: %s\n", package_title(p));
	if (package_version(p))
		PUT("version: %s\n", package_version(p));
	if (package_identifier(p))
		PUT("identifier: %s\n", package_identifier(p));
	if (package_course_iri(p))
		PUT("course_iri: %s\n", package_course_iri(p));
	PUT("manifest: %s\n", package_manifest(p));
	PUT("parts: %ld\n", package_part_count(p));
	PUT("assets: %ld\n", package_asset_count(p));
	for (i = 0; i < package_item_count(p); i++) {
		const struct package_item *it = package_item(p, i);
		PUT("item: %d %s %s", it->depth, it->is_part ? (it->required ? "R" : "P") : "-",
		    it->identifier);
		if (it->title)
			PUT(" | %s", it->title);
		if (it->launch)
			PUT(" | launch=%s", it->launch);
		if (it->has_mastery)
			PUT(" | mastery=%g", it->mastery_score);
		if (it->move_on)
			PUT(" | moveOn=%s", it->move_on);
		if (it->activity_iri)
			PUT(" | iri=%s", it->activity_iri);
		PUT("\n");
	}
	for (i = 0; i < package_warning_count(p); i++)
		PUT("warning: %s\n", package_warning(p, i));
#undef PUT
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(fp);
	return buf;
}

static void test_fixtures(void)
{
	char dir[512];
	struct dirent **cases = NULL;
	int n, i, ran = 0;

	snprintf(dir, sizeof(dir), "%s/fixtures/packages", root);
	n = scandir(dir, &cases, NULL, alphasort);
	CHECK_MSG(n > 2, "no fixture folders in %s", dir);
	for (i = 0; i < n; i++) {
		char src[1024], zip_path[512], expected_path[1024], got[16384];
		struct package *p = NULL;
		struct lr_error err;
		char *expected;
		int rc;

		if (cases[i]->d_name[0] == '.')
			continue;
		test_current = cases[i]->d_name;
		snprintf(src, sizeof(src), "%s/%s/package", dir, cases[i]->d_name);
		snprintf(expected_path, sizeof(expected_path), "%s/%s/expected.txt", dir, cases[i]->d_name);
		snprintf(zip_path, sizeof(zip_path), "%s/%s.zip", tmp, cases[i]->d_name);
		CHECK_INT(zip_folder(src, zip_path), 0);
		lr_error_clear(&err);
		rc = package_read(&p, &err, zip_path);
		dump(got, sizeof(got), p, rc, &err);
		expected = slurp(expected_path);
		CHECK_MSG(expected != NULL, "cannot read %s", expected_path);
		if (expected)
			CHECK_STR(got, expected);
		free(expected);
		package_free(p);
		ran++;
	}
	for (i = 0; i < n; i++)
		free(cases[i]);
	free(cases);
	test_current = "test_fixtures";
	CHECK(ran >= 15);
}

/* Makes a zip at path from name/content pairs (NULL-ended); level 9 deflate. */
static int make_zip(const char *path, const char *const *entries, const size_t *sizes)
{
	int ze = 0, i;
	zip_t *za;

	unlink(path);
	za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &ze);
	if (!za)
		return -1;
	for (i = 0; entries[2 * i]; i++) {
		zip_source_t *src = zip_source_buffer(za, entries[2 * i + 1], sizes[i], 0);
		zip_int64_t at;
		if (!src || (at = zip_file_add(za, entries[2 * i], src, 0)) < 0) {
			zip_source_free(src);
			zip_discard(za);
			return -1;
		}
		zip_set_file_compression(za, (zip_uint64_t)at, ZIP_CM_DEFLATE, 9);
	}
	return zip_close(za) == 0 ? 0 : -1;
}

static const char small_manifest[] =
	"<?xml version=\"1.0\"?>\n"
	"<manifest identifier=\"m\" xmlns:adlcp=\"http://www.adlnet.org/xsd/adlcp_rootv1p2\">"
	"<metadata><schemaversion>1.2</schemaversion></metadata>"
	"<organizations default=\"o\"><organization identifier=\"o\"><title>T</title>"
	"<item identifier=\"i\" identifierref=\"r\"><title>I</title></item></organization></organizations>"
	"<resources><resource identifier=\"r\" adlcp:scormtype=\"sco\" href=\"i.html\"/></resources>"
	"</manifest>\n";

/* Reads path; returns the code and leaves the error text in err. */
static int read_code(const char *path, struct lr_error *err)
{
	struct package *p = NULL;
	int rc;

	lr_error_clear(err);
	rc = package_read(&p, err, path);
	package_free(p);
	return rc;
}

static void test_zip_bomb(void)
{
	char path[256];
	size_t size = (TEST_VALGRIND ? 1u : 4u) * 1024 * 1024, head = strlen(small_manifest) - 12;
	char *bomb = malloc(size);
	struct lr_error err;
	const char *entries[] = { "imsmanifest.xml", bomb, NULL, NULL };
	size_t sizes[1] = { size };

	CHECK(bomb != NULL);
	if (!bomb)
		return;
	/* A valid manifest padded with 4 MiB of spaces inside a comment. */
	memcpy(bomb, small_manifest, head);
	memcpy(bomb + head, "<!--", 4);
	memset(bomb + head + 4, ' ', size - head - 4 - 16);
	memcpy(bomb + size - 16, "--></manifest>\n ", 16);
	snprintf(path, sizeof(path), "%s/bomb.zip", tmp);
	CHECK_INT(make_zip(path, entries, sizes), 0);
	CHECK_INT(read_code(path, &err), LR_ELIMIT);
	CHECK_MSG(strstr(err.text, "a zip bomb, refused") != NULL, "%s", err.text);
	free(bomb);
}

static void test_many_entries(void)
{
	char path[256], name[32], want[80];
	struct lr_error err;
	int ze = 0, i, n = TEST_VALGRIND ? 10001 : 100000;
	zip_t *za;

	snprintf(path, sizeof(path), "%s/many.zip", tmp);
	unlink(path);
	za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &ze);
	CHECK(za != NULL);
	if (!za)
		return;
	zip_file_add(za, "imsmanifest.xml",
		     zip_source_buffer(za, small_manifest, strlen(small_manifest), 0), 0);
	for (i = 0; i < n; i++) {
		zip_source_t *src = zip_source_buffer(za, "", 0, 0);
		zip_int64_t idx;

		snprintf(name, sizeof(name), "f/%d", i);
		/* Stored, not deflated: a deflate state per entry made this slow. */
		if ((idx = zip_file_add(za, name, src, 0)) < 0 ||
		    zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0) < 0) {
			zip_source_free(src);
			break;
		}
	}
	CHECK_INT(zip_close(za), 0);
	CHECK_INT(read_code(path, &err), LR_ELIMIT);
	snprintf(want, sizeof(want), "the zip has %d entries, more than the limit of 10000", n + 1);
	CHECK_STR(err.text, want);
	unlink(path);
}

static void test_escaping_names(void)
{
	static const char *const bad[] = { "../evil.txt", "/etc/cron.d/evil", "a/../../evil",
					   "C:\\evil.txt", "a\\..\\..\\evil", NULL };
	char path[256], want[256];
	struct lr_error err;
	int i;

	snprintf(path, sizeof(path), "%s/escape.zip", tmp);
	for (i = 0; bad[i]; i++) {
		const char *entries[] = { "imsmanifest.xml", small_manifest, bad[i], "x", NULL, NULL };
		size_t sizes[2] = { strlen(small_manifest), 1 };

		test_current = bad[i];
		CHECK_INT(make_zip(path, entries, sizes), 0);
		CHECK_INT(read_code(path, &err), LR_EINVAL);
		snprintf(want, sizeof(want),
			 "entry '%s' points outside the package (an absolute path or '..'): refused", bad[i]);
		CHECK_STR(err.text, want);
	}
	test_current = "test_escaping_names";
	/* A name that only looks like it ('..' inside a word) is fine. */
	{
		const char *entries[] = { "imsmanifest.xml", small_manifest, "a..b/c...d", "x", NULL, NULL };
		size_t sizes[2] = { strlen(small_manifest), 1 };
		CHECK_INT(make_zip(path, entries, sizes), 0);
		CHECK_INT(read_code(path, &err), 0);
	}
}

static void test_not_a_zip(void)
{
	char path[256], good[256];
	struct lr_error err;
	FILE *fp;
	long size;
	char *buf;
	const char *entries[] = { "imsmanifest.xml", small_manifest, NULL, NULL };
	size_t sizes[1] = { strlen(small_manifest) };

	snprintf(path, sizeof(path), "%s/text.zip", tmp);
	fp = fopen(path, "wb");
	fputs("this is a text file, not a zip\n", fp);
	fclose(fp);
	CHECK_INT(read_code(path, &err), LR_EFORMAT);
	CHECK_STR(err.text, "not a zip file");

	fp = fopen(path, "wb");
	fclose(fp);
	CHECK_INT(read_code(path, &err), LR_EFORMAT);
	CHECK_STR(err.text, "not a zip file");

	CHECK_INT(read_code("/nonexistent/package.zip", &err), LR_EIO);

	/* A good zip cut in half: the directory at its end is gone. */
	snprintf(good, sizeof(good), "%s/good.zip", tmp);
	CHECK_INT(make_zip(good, entries, sizes), 0);
	CHECK_INT(read_code(good, &err), 0);
	buf = NULL;
	fp = fopen(good, "rb");
	fseek(fp, 0, SEEK_END);
	size = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc((size_t)size);
	CHECK_INT(fread(buf, 1, (size_t)size, fp), size);
	fclose(fp);
	fp = fopen(path, "wb");
	fwrite(buf, 1, (size_t)size / 2, fp);
	fclose(fp);
	free(buf);
	CHECK_INT(read_code(path, &err), LR_EFORMAT);
	CHECK_STR(err.text, "the zip file is truncated or damaged: its central directory is missing");
}

static void test_limits(void)
{
	struct package_limits tight = { PACKAGE_MAX_ENTRIES, PACKAGE_MAX_TOTAL, PACKAGE_MAX_MANIFEST,
					PACKAGE_MAX_RATIO };
	const char *entries[] = { "imsmanifest.xml", small_manifest, "video.mp4", small_manifest,
				  NULL, NULL };
	size_t sizes[2] = { strlen(small_manifest), strlen(small_manifest) };
	struct package *p = NULL;
	struct lr_error err;
	char path[256];

	/* The limits are the documented ones. */
	CHECK_INT(PACKAGE_MAX_ENTRIES, 10000);
	CHECK_INT(PACKAGE_MAX_TOTAL, 1073741824LL);
	CHECK_INT(PACKAGE_MAX_MANIFEST, 16777216);
	CHECK_INT(PACKAGE_MAX_RATIO, 100);

	snprintf(path, sizeof(path), "%s/limits.zip", tmp);
	CHECK_INT(make_zip(path, entries, sizes), 0);
	tight.max_total = (long long)strlen(small_manifest) * 2 - 1;
	lr_error_clear(&err);
	CHECK_INT(package_read_limited(&p, &err, path, &tight), LR_ELIMIT);
	CHECK_MSG(strstr(err.text, "bytes uncompressed, the limit") != NULL, "%s", err.text);
	tight.max_total = PACKAGE_MAX_TOTAL;
	tight.max_manifest = 100;
	lr_error_clear(&err);
	CHECK_INT(package_read_limited(&p, &err, path, &tight), LR_ELIMIT);
	CHECK_MSG(strstr(err.text, "imsmanifest.xml is") && strstr(err.text, "more than the limit of 100"),
		  "%s", err.text);
	tight.max_manifest = PACKAGE_MAX_MANIFEST;
	tight.max_entries = 1;
	lr_error_clear(&err);
	CHECK_INT(package_read_limited(&p, &err, path, &tight), LR_ELIMIT);
	CHECK_STR(err.text, "the zip has 2 entries, more than the limit of 1");
	tight.max_entries = 2;
	lr_error_clear(&err);
	CHECK_INT(package_read_limited(&p, &err, path, &tight), 0);
	CHECK_INT(package_part_count(p), 1);
	CHECK_INT(strlen(package_sha256(p)), 64);
	package_free(p);
	package_free(NULL);
}

/* A cmi5.xml and an imsmanifest.xml side by side: cmi5 is read, the other noted. */
static void test_two_manifests(void)
{
	static const char cmi5[] =
		"<courseStructure xmlns=\"https://w3id.org/xapi/profiles/cmi5/v1/CourseStructure.xsd\">"
		"<course id=\"https://x.example/c\"><title><langstring lang=\"en\">C</langstring></title></course>"
		"<au id=\"https://x.example/au\" moveOn=\"Completed\"><title><langstring>A</langstring></title>"
		"<url>a.html</url></au></courseStructure>";
	const char *entries[] = { "imsmanifest.xml", small_manifest, "cmi5.xml", cmi5, NULL, NULL };
	size_t sizes[2] = { strlen(small_manifest), strlen(cmi5) };
	struct package *p = NULL;
	struct lr_error err;
	char path[256];

	snprintf(path, sizeof(path), "%s/two.zip", tmp);
	CHECK_INT(make_zip(path, entries, sizes), 0);
	lr_error_clear(&err);
	CHECK_INT(package_read(&p, &err, path), 0);
	if (!p)
		return;
	CHECK_STR(package_kind(p), "cmi5");
	CHECK_INT(package_part_count(p), 1);
	CHECK_INT(package_warning_count(p), 1);
	CHECK_STR(package_warning(p, 0), "the zip also has imsmanifest.xml: read cmi5.xml");
	package_free(p);
}

/* An external DTD named by the DOCTYPE is never loaded: its entity stays unexpanded. */
static void test_external_dtd_not_loaded(void)
{
	char dtd[256], manifest[1024], path[256];
	const char *entries[] = { "imsmanifest.xml", manifest, NULL, NULL };
	size_t sizes[1];
	struct package *p = NULL;
	struct lr_error err;
	FILE *fp;

	snprintf(dtd, sizeof(dtd), "%s/evil.dtd", tmp);
	fp = fopen(dtd, "w");
	fputs("<!ENTITY leak \"LEAKED\">\n", fp);
	fclose(fp);
	snprintf(manifest, sizeof(manifest),
		 "<?xml version=\"1.0\"?>\n<!DOCTYPE manifest SYSTEM \"file://%s\">\n"
		 "<manifest identifier=\"m\"><organizations><organization identifier=\"o\">"
		 "<title>&leak;</title></organization></organizations></manifest>\n", dtd);
	sizes[0] = strlen(manifest);
	snprintf(path, sizeof(path), "%s/dtd.zip", tmp);
	CHECK_INT(make_zip(path, entries, sizes), 0);
	lr_error_clear(&err);
	CHECK_INT(package_read(&p, &err, path), 0);
	if (p)
		CHECK(package_title(p) == NULL || strstr(package_title(p), "LEAKED") == NULL);
	package_free(p);
}

int main(void)
{
	const char *r = getenv("LRHUB_ROOT");

	if (r && r[0])
		root = r;
	snprintf(tmp, sizeof(tmp), "/tmp/lrhub-test-package-%ld", (long)getpid());
	mkdir(tmp, 0700);
	RUN(test_fixtures);
	RUN(test_zip_bomb);
	RUN(test_many_entries);
	RUN(test_escaping_names);
	RUN(test_not_a_zip);
	RUN(test_limits);
	RUN(test_two_manifests);
	RUN(test_external_dtd_not_loaded);
	{
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmp);
	}
	TEST_END();
}
