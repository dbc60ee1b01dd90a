/*
 * test_fuzz: replays inputs through the fuzz targets (fuzz/targets.c) as a
 * regression test: every fixture and corpus file of each target's format,
 * and every file libFuzzer found interesting (fuzz/corpus/<target>/, when
 * present). Each input that runs with its invariants intact counts as passed;
 * a broken invariant or a sanitizer report aborts the program, which the
 * runner counts as a failure.
 */
#include "fuzz/targets.h"
#include "tests/test.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>

typedef int (*target_fn)(const uint8_t *data, size_t size);

static long files_run;

static void replay_file(target_fn fn, const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf;
	long size;

	if (!fp)
		return;
	fseek(fp, 0, SEEK_END);
	size = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	if (size < 0 || size > (4L << 20)) {
		fclose(fp);
		return;
	}
	buf = malloc((size_t)size + 1);
	if (buf && fread(buf, 1, (size_t)size, fp) == (size_t)size) {
		fn(buf, (size_t)size);
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
	CHECK(files_run - before > 300);
}

static void test_jsonstream(void)
{
	long before = files_run;

	replay(fuzz_jsonstream_one, "fixtures/jsonstream", json_files, 1);
	replay(fuzz_jsonstream_one, "fixtures/multiorg", json_files, 1);
	replay(fuzz_jsonstream_one, "../shared/corpus/xapi/xapi-spec", json_files, 1);
	replay(fuzz_jsonstream_one, "fuzz/corpus/jsonstream", any_file, 0);
	CHECK(files_run - before > 60);
}

static void test_csv(void)
{
	long before = files_run;

	replay(fuzz_csv_one, "fixtures", text_files, 1);
	replay(fuzz_csv_one, "../shared/corpus/lms-exports", text_files, 1);
	replay(fuzz_csv_one, "fuzz/corpus/csv", any_file, 0);
	CHECK(files_run - before > 100);
}

int main(void)
{
	RUN(test_xapi);
	RUN(test_jsonstream);
	RUN(test_csv);
	TEST_END();
}
