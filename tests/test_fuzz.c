/*
 * test_fuzz: replays inputs through the fuzz targets (fuzz/targets.c) as a
 * regression test: every fixture and corpus file of each target's format,
 * and every file libFuzzer found interesting (fuzz/corpus/<target>/, when
 * present), and the inputs that once broke a target (fuzz/regress/<target>/,
 * kept as they were found, each named for what it broke). Targets whose
 * first byte picks a variant (adapter, manifest) get each fixture once per
 * variant. Each input that runs with its invariants intact counts as passed;
 * a broken invariant or a sanitizer report aborts the program, which the
 * runner counts as a failure.
 */
#include "fuzz/targets.h"
#include "tests/test.h"

#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

typedef int (*target_fn)(const uint8_t *data, size_t size);

static long files_run;

/* The first bytes to put before each file (a target's variants); none when n_prefixes is 0. */
static const uint8_t *prefixes;
static size_t n_prefixes;

static void run_input(target_fn fn, uint8_t *buf, size_t size)
{
	size_t i;

	if (!n_prefixes) {
		fn(buf + 1, size);
		return;
	}
	for (i = 0; i < n_prefixes; i++) {
		buf[0] = prefixes[i];
		fn(buf, size + 1);
	}
}

/* Under valgrind one input in VALGRIND_EVERY is replayed (the thresholds below shrink alike). */
#define VALGRIND_EVERY 5
#define ENOUGH(n) (TEST_VALGRIND ? (n) / VALGRIND_EVERY : (n))

static void replay_file(target_fn fn, const char *path)
{
	static long seen;
	FILE *fp;
	uint8_t *buf;
	long size;

	if (TEST_VALGRIND && seen++ % VALGRIND_EVERY != 0)
		return;
	fp = fopen(path, "rb");
	if (!fp)
		return;
	fseek(fp, 0, SEEK_END);
	size = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	if (size < 0 || size > (4L << 20)) {
		fclose(fp);
		return;
	}
	buf = malloc((size_t)size + 2);
	if (buf && fread(buf + 1, 1, (size_t)size, fp) == (size_t)size) {
		run_input(fn, buf, (size_t)size);
		files_run++;
		test_passed++;
	}
	free(buf);
	fclose(fp);
}

/* Replays every file under dir whose name ends with one of the suffixes ("" for any). */
static void replay(target_fn fn, const char *dir, const char *const *suffixes, int required)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d) {
		if (required)
			CHECK_MSG(0, "cannot read %s", dir);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		char path[1024];
		struct stat st;
		const char *const *s;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			replay(fn, path, suffixes, 0);
			continue;
		}
		for (s = suffixes; *s; s++) {
			size_t n = strlen(e->d_name), m = strlen(*s);
			if (n >= m && strcmp(e->d_name + n - m, *s) == 0) {
				replay_file(fn, path);
				break;
			}
		}
	}
	closedir(d);
}

static const char *const json_files[] = { ".json", ".jsonl", NULL };
static const char *const text_files[] = { ".csv", ".tsv", ".txt", ".json", ".jsonl", NULL };
static const char *const any_file[] = { "", NULL };

static void test_xapi(void)
{
	long before = files_run;

	replay(fuzz_xapi_one, "fixtures/xapi", json_files, 1);
	replay(fuzz_xapi_one, "../shared/corpus/xapi", json_files, 1);
	replay(fuzz_xapi_one, "fuzz/corpus/xapi", any_file, 0);
	CHECK(files_run - before > ENOUGH(300));
}

static void test_jsonstream(void)
{
	long before = files_run;

	replay(fuzz_jsonstream_one, "fixtures/jsonstream", json_files, 1);
	replay(fuzz_jsonstream_one, "fixtures/multiorg", json_files, 1);
	replay(fuzz_jsonstream_one, "../shared/corpus/xapi/xapi-spec", json_files, 1);
	replay(fuzz_jsonstream_one, "fuzz/corpus/jsonstream", any_file, 0);
	CHECK(files_run - before > ENOUGH(60));
}

/* Replays the inputs that once broke target: as found, whatever the variant byte. */
static long replay_regressions(target_fn fn, const char *target)
{
	long before = files_run;
	const uint8_t *saved = prefixes;
	size_t saved_n = n_prefixes;
	char dir[256];

	snprintf(dir, sizeof(dir), "fuzz/regress/%s", target);
	n_prefixes = 0;
	replay(fn, dir, any_file, 0);
	prefixes = saved;
	n_prefixes = saved_n;
	return files_run - before;
}

static void test_csv(void)
{
	long before = files_run;

	replay(fuzz_csv_one, "fixtures", text_files, 1);
	replay(fuzz_csv_one, "../shared/corpus/lms-exports", text_files, 1);
	replay(fuzz_csv_one, "fuzz/corpus/csv", any_file, 0);
	CHECK(files_run - before > ENOUGH(100));
}

static void test_adapter(void)
{
	static uint8_t variants[16];
	long before = files_run;
	int i, n = fuzz_adapter_count();

	/* Every adapter, bare and with --course, a time zone and an LMS URL. */
	CHECK(n >= 6 && n <= 8);
	for (i = 0; i < n; i++) {
		variants[2 * i] = (uint8_t)i;
		variants[2 * i + 1] = (uint8_t)(i | 8 | 16 | 32);
	}
	prefixes = variants;
	n_prefixes = (size_t)(2 * n);
	replay(fuzz_adapter_one, "fixtures/moodle-track", any_file, 1);
	replay(fuzz_adapter_one, "fixtures/moodle-users", any_file, 1);
	replay(fuzz_adapter_one, "fixtures/moodle-report", any_file, 1);
	replay(fuzz_adapter_one, "fixtures/scormcloud", any_file, 1);
	replay(fuzz_adapter_one, "fixtures/totara", any_file, 1);
	replay(fuzz_adapter_one, "fixtures/xapi/valid", any_file, 1);
	replay(fuzz_adapter_one, "fixtures/four-formats", any_file, 1);
	replay(fuzz_adapter_one, "../shared/corpus/lms-exports", any_file, 1);
	replay(fuzz_adapter_one, "fuzz/corpus/adapter", any_file, 0);
	n_prefixes = 0;
	CHECK(files_run - before > ENOUGH(100));
	replay_regressions(fuzz_adapter_one, "adapter");
}

static void test_manifest(void)
{
	static const uint8_t variants[] = { 0, 1, 2 };
	static const char *const xml_files[] = { ".xml", NULL };
	long before = files_run;

	prefixes = variants;
	n_prefixes = 3;
	replay(fuzz_manifest_one, "fixtures/packages", xml_files, 1);
	replay(fuzz_manifest_one, "../shared/corpus/lms-exports/scormcloud-v1", xml_files, 1);
	n_prefixes = 0;
	replay(fuzz_manifest_one, "fuzz/corpus/manifest", any_file, 0);
	CHECK(files_run - before > ENOUGH(20));
	replay_regressions(fuzz_manifest_one, "manifest");
}

static void test_zip(void)
{
	static const char *const zip_files[] = { ".zip", NULL };
	long before = files_run;

	replay(fuzz_zip_one, "../shared/corpus/packages", zip_files, 1);
	replay(fuzz_zip_one, "fuzz/corpus/zip", any_file, 0);
	CHECK(files_run - before > ENOUGH(20));
	replay_regressions(fuzz_zip_one, "zip");
}

static void test_query(void)
{
	long before = files_run;

	replay(fuzz_query_one, "fuzz/seeds/query", any_file, 1);
	replay(fuzz_query_one, "fuzz/corpus/query", any_file, 0);
	CHECK(files_run - before >= ENOUGH(10));
	replay_regressions(fuzz_query_one, "query");
}

static void test_jsonfast(void)
{
	long before = files_run;

	replay(fuzz_jsonfast_one, "fixtures", json_files, 1);
	replay(fuzz_jsonfast_one, "../shared/corpus/xapi", json_files, 1);
	replay(fuzz_jsonfast_one, "fuzz/corpus/jsonfast", any_file, 0);
	CHECK(files_run - before > ENOUGH(300));
	replay_regressions(fuzz_jsonfast_one, "jsonfast");
}

static void test_multipart(void)
{
	long before = files_run;

	replay(fuzz_multipart_one, "fuzz/seeds/multipart", any_file, 1);
	replay(fuzz_multipart_one, "fuzz/corpus/multipart", any_file, 0);
	CHECK(files_run - before >= ENOUGH(5));
	replay_regressions(fuzz_multipart_one, "multipart");
}

int main(void)
{
	RUN(test_xapi);
	RUN(test_jsonstream);
	RUN(test_csv);
	RUN(test_adapter);
	RUN(test_manifest);
	RUN(test_zip);
	RUN(test_query);
	RUN(test_multipart);
	RUN(test_jsonfast);
	replay_regressions(fuzz_xapi_one, "xapi");
	replay_regressions(fuzz_jsonstream_one, "jsonstream");
	replay_regressions(fuzz_csv_one, "csv");
	TEST_END();
}
