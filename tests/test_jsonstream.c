/*
 * test_jsonstream.c: runs every fixtures/jsonstream/<case>/ through the
 * stream, fed in chunks of many sizes (so records straddle chunk borders at
 * every byte) and from a file, and compares what it yields with the case's
 * expected.txt. Then streams generated inputs too large for fixtures: many
 * records, a record far over the limit, a million open brackets.
 *
 * expected.txt, one line per thing the stream yields:
 *   record LINE INDEX TEXT      (TEXT with line breaks written \n, CRs \r)
 *   error LINE INDEX MESSAGE    (a skipped record, LR_EINVAL)
 *   fatal LINE MESSAGE          (the stream ended with an error)
 *   shape ARRAY|WRAPPER|OBJECT|LINES|EMPTY|UNKNOWN
 * options.txt, optional: "max_record N", "max_depth N", "wrapper_keys a,b"
 * (default: wrapper_keys statements).
 *
 * Run from the project root.
 */
#include "adapters/jsonstream.h"
#include "lrs/error.h"
#include "tests/memory_source.h"
#include "tests/test.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>

#define FIXTURES "fixtures/jsonstream"

/* A growable string for what the stream yields. */
struct text {
	char *data;
	size_t len, cap;
};

static void text_add(struct text *t, const char *bytes, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 256;

		while (cap < t->len + n + 1)
			cap *= 2;
		t->data = realloc(t->data, cap);
		if (!t->data) {
			fprintf(stderr, "out of memory\n");
			exit(2);
		}
		t->cap = cap;
	}
	memcpy(t->data + t->len, bytes, n);
	t->len += n;
	t->data[t->len] = '\0';
}

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_printf(struct text *t, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		text_add(t, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* Reads a whole file; NULL if it cannot. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct text t = {0};
	char buf[4096];
	size_t n;

	if (!f)
		return NULL;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		text_add(&t, buf, n);
	fclose(f);
	if (!t.data)
		text_add(&t, "", 0);
	*len = t.len;
	return t.data;
}

static ssize_t file_read(void *ctx, void *buf, size_t len)
{
	FILE *f = ctx;
	size_t n = fread(buf, 1, len, f);

	if (n == 0 && ferror(f))
		return -1;
	return (ssize_t)n;
}

static const char *shape_name(enum jsonstream_shape shape)
{
	switch (shape) {
	case JSONSTREAM_UNKNOWN: return "UNKNOWN";
	case JSONSTREAM_ARRAY: return "ARRAY";
	case JSONSTREAM_WRAPPER: return "WRAPPER";
	case JSONSTREAM_OBJECT: return "OBJECT";
	case JSONSTREAM_LINES: return "LINES";
	case JSONSTREAM_EMPTY: return "EMPTY";
	}
	return "?";
}

/*
 * Streams everything read/ctx gives and writes it down in the expected.txt
 * form. Also checks what every caller relies on: len matches the text, and
 * after the end or a fatal error the stream keeps saying so.
 */
static char *dump(const struct jsonstream_options *opts, jsonstream_read_fn read, void *ctx)
{
	struct jsonstream *s = NULL;
	struct jsonstream_record rec;
	struct lr_error err;
	struct text t = {0};
	size_t i;
	int rc;

	if (jsonstream_open(&s, opts, read, ctx) != 0) {
		text_printf(&t, "open failed\n");
		return t.data;
	}
	for (;;) {
		lr_error_clear(&err);
		rc = jsonstream_next(s, &rec, &err);
		if (rc == 1) {
			text_printf(&t, "record %ld %ld ", rec.line, rec.index);
			for (i = 0; i < rec.len; i++) {
				if (rec.text[i] == '\n')
					text_add(&t, "\\n", 2);
				else if (rec.text[i] == '\r')
					text_add(&t, "\\r", 2);
				else
					text_add(&t, rec.text + i, 1);
			}
			text_add(&t, "\n", 1);
			if (rec.text[rec.len] != '\0' || strlen(rec.text) != rec.len)
				text_printf(&t, "BAD: len %zu does not match the text\n", rec.len);
		} else if (rc == LR_EINVAL) {
			text_printf(&t, "error %ld %ld %s\n", err.line, err.record, err.text);
		} else if (rc == 0) {
			break;
		} else {
			text_printf(&t, "fatal %ld %s\n", err.line, err.text);
			if (rc != LR_EFORMAT)
				text_printf(&t, "BAD: code %d, expected LR_EFORMAT\n", rc);
			lr_error_clear(&err);
			if (jsonstream_next(s, &rec, &err) != rc || err.code != rc)
				text_printf(&t, "BAD: a second call does not repeat the error\n");
			break;
		}
	}
	if (rc == 0 && jsonstream_next(s, &rec, &err) != 0)
		text_printf(&t, "BAD: a call after the end does not return 0\n");
	text_printf(&t, "shape %s\n", shape_name(jsonstream_shape(s)));
	jsonstream_close(s);
	return t.data;
}

/* Reads options.txt into opts (keys points into storage). */
static void read_options(const char *dir, struct jsonstream_options *opts,
			 const char *keys[8], char storage[256])
{
	char path[600], line[256];
	FILE *f;
	size_t n = 0;
	char *tok, *save;

	memset(opts, 0, sizeof(*opts));
	keys[0] = "statements";
	keys[1] = NULL;
	opts->wrapper_keys = keys;
	snprintf(path, sizeof(path), "%s/options.txt", dir);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long v;

		if (sscanf(line, "max_record %lu", &v) == 1) {
			opts->max_record = v;
		} else if (sscanf(line, "max_depth %lu", &v) == 1) {
			opts->max_depth = v;
		} else if (sscanf(line, "wrapper_keys %255s", storage) == 1) {
			for (tok = strtok_r(storage, ",", &save); tok && n < 7; tok = strtok_r(NULL, ",", &save))
				keys[n++] = tok;
			keys[n] = NULL;
		} else {
			fprintf(stderr, "%s: unknown option line: %s", path, line);
		}
	}
	fclose(f);
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_fixture(const char *name)
{
	static const size_t steps[] = {1, 2, 3, 7, 64, 4093, 65536, 1 << 20};
	char dir[512], path[600], current[700];
	const char *keys[8];
	char storage[256];
	struct jsonstream_options opts;
	char *input, *expected, *got;
	size_t input_len, expected_len, i;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/%s", FIXTURES, name);
	snprintf(path, sizeof(path), "%s/input.json", dir);
	input = slurp(path, &input_len);
	if (!input) {
		snprintf(path, sizeof(path), "%s/input.jsonl", dir);
		input = slurp(path, &input_len);
	}
	snprintf(current, sizeof(current), "%s/expected.txt", dir);
	expected = slurp(current, &expected_len);
	test_current = name;
	CHECK_MSG(input && expected, "%s: needs input.json(l) and expected.txt", dir);
	if (!input || !expected)
		goto out;
	read_options(dir, &opts, keys, storage);

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct memory_source m = {input, input_len, 0, steps[i], 0};

		snprintf(current, sizeof(current), "%s, %zu-byte reads", name, steps[i]);
		test_current = current;
		got = dump(&opts, memory_read, &m);
		CHECK_STR(got, expected);
		free(got);
	}

	snprintf(current, sizeof(current), "%s, from the file", name);
	test_current = current;
	f = fopen(path, "rb");
	CHECK(f != NULL);
	if (f) {
		got = dump(&opts, file_read, f);
		CHECK_STR(got, expected);
		free(got);
		fclose(f);
	}
out:
	free(input);
	free(expected);
}

static void test_fixtures(void)
{
	DIR *d = opendir(FIXTURES);
	struct dirent *e;
	char *names[256];
	size_t n = 0, i;

	CHECK_MSG(d != NULL, "cannot open %s: run from the project root", FIXTURES);
	if (!d)
		return;
	while ((e = readdir(d)) != NULL && n < 256) {
		if (e->d_name[0] == '.')
			continue;
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), compare_names);
	CHECK(n >= 50);
	for (i = 0; i < n; i++) {
		run_fixture(names[i]);
		free(names[i]);
	}
}

/*
 * A source that makes its input as it is read, so inputs far larger than
 * memory we want to spend can be streamed: pieces of text, each repeated.
 */
struct piece {
	const char *text;
	size_t times;
};

struct piece_source {
	const struct piece *pieces;
	size_t count, at, done, off, step;
};

static ssize_t piece_read(void *ctx, void *buf, size_t len)
{
	struct piece_source *g = ctx;
	char *out = buf;
	size_t n = 0;

	if (len > g->step)
		len = g->step;
	while (n < len && g->at < g->count) {
		const struct piece *p = &g->pieces[g->at];
		size_t plen = strlen(p->text), take = plen - g->off;

		if (g->done == p->times) {
			g->at++;
			g->done = 0;
			continue;
		}
		if (take > len - n)
			take = len - n;
		memcpy(out + n, p->text + g->off, take);
		n += take;
		g->off += take;
		if (g->off == plen) {
			g->off = 0;
			g->done++;
		}
	}
	return (ssize_t)n;
}

/* Record number i of the generated inputs. */
static int make_record(char *buf, size_t size, long i)
{
	return snprintf(buf, size,
			"{\"id\":\"%08ld\",\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/completed\"},"
			"\"s\":\"a\\\"]}[{\\\\\"}", i);
}

/* Makes N generated records as JSON lines, an array or a wrapper. */
enum layout { LAYOUT_LINES, LAYOUT_ARRAY, LAYOUT_WRAPPER };

struct record_source {
	enum layout layout;
	long count, next; /* next: records made so far */
	char pending[256];
	size_t len, off, step;
	int finished;
};

static ssize_t record_read(void *ctx, void *buf, size_t len)
{
	struct record_source *g = ctx;
	char *out = buf;
	size_t n = 0, take;
	int k;

	if (len > g->step)
		len = g->step;
	while (n < len) {
		if (g->off == g->len) {
			if (g->finished)
				break;
			g->off = 0;
			if (g->next == g->count) {
				g->finished = 1;
				g->len = (size_t)snprintf(g->pending, sizeof(g->pending), "%s",
					g->layout == LAYOUT_LINES ? "" :
					g->layout == LAYOUT_ARRAY ? "]\n" : "],\n\"more\": \"\"}\n");
				continue;
			}
			g->next++;
			k = snprintf(g->pending, sizeof(g->pending), "%s",
				     g->next > 1 ? (g->layout == LAYOUT_LINES ? "" : ",\n") :
				     g->layout == LAYOUT_ARRAY ? "[" :
				     g->layout == LAYOUT_WRAPPER ? "{\"statements\": [\n" : "");
			k += make_record(g->pending + k, sizeof(g->pending) - (size_t)k, g->next);
			if (g->layout == LAYOUT_LINES)
				k += snprintf(g->pending + k, sizeof(g->pending) - (size_t)k, "\n");
			g->len = (size_t)k;
		}
		take = g->len - g->off;
		if (take > len - n)
			take = len - n;
		memcpy(out + n, g->pending + g->off, take);
		n += take;
		g->off += take;
	}
	return (ssize_t)n;
}

static void stream_many(enum layout layout, enum jsonstream_shape shape)
{
	static const char *const keys[] = {"statements", NULL};
	struct jsonstream_options opts = {keys, 0, 0};
	struct record_source g = {layout, 200000, 0, "", 0, 0, 4093, 0};
	struct jsonstream *s = NULL;
	struct jsonstream_record rec;
	struct lr_error err;
	char want[256];
	long seen = 0, wrong = 0;
	int rc;

	lr_error_clear(&err);
	CHECK_INT(jsonstream_open(&s, &opts, record_read, &g), 0);
	while ((rc = jsonstream_next(s, &rec, &err)) == 1) {
		seen++;
		make_record(want, sizeof(want), seen);
		/* Lines: record i on line i; array and wrapper: the same, one after "[" or "{...[\n". */
		if (strcmp(rec.text, want) != 0 || rec.index != seen ||
		    rec.line != seen + (layout == LAYOUT_WRAPPER))
			wrong++;
	}
	CHECK_INT(rc, 0);
	CHECK_INT(seen, 200000);
	CHECK_INT(wrong, 0);
	CHECK_INT(jsonstream_shape(s), shape);
	jsonstream_close(s);
}

static void test_many_lines(void)
{
	stream_many(LAYOUT_LINES, JSONSTREAM_LINES);
}

static void test_many_array(void)
{
	stream_many(LAYOUT_ARRAY, JSONSTREAM_ARRAY);
}

static void test_many_wrapper(void)
{
	stream_many(LAYOUT_WRAPPER, JSONSTREAM_WRAPPER);
}

/* Streams pieces and returns what the stream yields, as in expected.txt. */
static char *dump_pieces(const struct piece *pieces, size_t count, size_t step,
			 const struct jsonstream_options *opts)
{
	struct piece_source g = {pieces, count, 0, 0, 0, step};

	return dump(opts, piece_read, &g);
}

/* A 40 MB record is walked to its end without being kept; the next one is fine. */
static void test_long_record_skipped(void)
{
	static const struct piece array[] = {
		{"[{\"pad\": \"", 1}, {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\\\"[{", 1000000},
		{"\"},\n{\"id\": 2}]", 1},
	};
	static const struct piece lines[] = {
		{"{\"id\": 1}\n{\"pad\": \"", 1}, {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\\\"[{", 1000000},
		{"\"}\n{\"id\": 3}\n", 1},
	};
	char *got;

	got = dump_pieces(array, 3, 65536, NULL);
	CHECK_STR(got, "error 1 1 record is longer than 16777216 bytes\n"
		       "record 2 2 {\"id\": 2}\n"
		       "shape ARRAY\n");
	free(got);
	got = dump_pieces(lines, 3, 65536, NULL);
	CHECK_STR(got, "record 1 1 {\"id\": 1}\n"
		       "error 2 2 record is longer than 16777216 bytes\n"
		       "record 3 3 {\"id\": 3}\n"
		       "shape LINES\n");
	free(got);
}

/* A million open brackets: counted, not recursed into. */
static void test_deep_nesting(void)
{
	static const struct piece closed[] = {
		{"[", 1}, {"[", 1000000}, {"]", 1000000}, {",\n{\"ok\": 1}]", 1},
	};
	static const struct piece unclosed[] = {
		{"[{\"ok\": 1},\n", 1}, {"[{\"a\":", 1000000},
	};
	static const struct piece lines[] = {
		{"{\"ok\": 1}\n{\"a\": ", 1}, {"[", 1000000}, {"\n{\"ok\": 3}\n", 1},
	};
	static const struct piece object[] = {
		{"{\"a\": ", 1}, {"{\"b\": [", 1000000}, {"]}", 1000000}, {"}", 1},
	};
	char *got;

	got = dump_pieces(closed, 4, 65536, NULL);
	CHECK_STR(got, "error 1 1 record is nested deeper than 64 levels\n"
		       "record 2 2 {\"ok\": 1}\n"
		       "shape ARRAY\n");
	free(got);
	got = dump_pieces(unclosed, 2, 65536, NULL);
	CHECK_STR(got, "record 1 1 {\"ok\": 1}\n"
		       "fatal 2 record is not closed at the end of the file\n"
		       "shape ARRAY\n");
	free(got);
	got = dump_pieces(lines, 3, 65536, NULL);
	CHECK_STR(got, "record 1 1 {\"ok\": 1}\n"
		       "error 2 2 record is not closed at the end of the line\n"
		       "record 3 3 {\"ok\": 3}\n"
		       "shape LINES\n");
	free(got);
	got = dump_pieces(object, 4, 65536, NULL);
	CHECK_STR(got, "error 1 1 record is nested deeper than 64 levels\n"
		       "shape OBJECT\n");
	free(got);
}

/* With no options there are no wrapper keys, and the limits are the defaults. */
static void test_default_options(void)
{
	static const struct piece wrapper[] = {{"{\"statements\": [1, 2]}", 1}};
	char *got = dump_pieces(wrapper, 1, 7, NULL);

	CHECK_STR(got, "record 1 1 {\"statements\": [1, 2]}\nshape OBJECT\n");
	free(got);
}

/* The keys are copied: the caller's array may go away after open. */
static void test_keys_copied(void)
{
	static const struct piece wrapper[] = {{"{\"data\": [1, 2]}", 1}};
	struct piece_source g = {wrapper, 1, 0, 0, 0, 5};
	char key[8] = "data";
	const char *keys[] = {key, NULL};
	struct jsonstream_options opts = {keys, 0, 0};
	struct jsonstream *s = NULL;
	struct jsonstream_record rec;
	struct lr_error err;

	lr_error_clear(&err);
	CHECK_INT(jsonstream_open(&s, &opts, piece_read, &g), 0);
	strcpy(key, "xxxx");
	keys[0] = NULL;
	CHECK_INT(jsonstream_shape(s), JSONSTREAM_UNKNOWN);
	CHECK_INT(jsonstream_next(s, &rec, &err), 1);
	CHECK_STR(rec.text, "1");
	CHECK_INT(jsonstream_shape(s), JSONSTREAM_WRAPPER);
	jsonstream_close(s);
	jsonstream_close(NULL);
}

/* A read error is LR_EIO, and a record already complete is still handed out. */
static void test_read_error(void)
{
	struct memory_source at_start = {"", 0, 0, 7, 1};
	struct memory_source mid_array = {"[{\"id\": 1}, {\"id\":", 18, 0, 7, 1};
	struct memory_source after_object = {"{\"id\": 1}", 9, 0, 4, 1};
	struct memory_source mid_lines = {"{\"id\": 1}\n{\"id\": 2}\n{\"i", 23, 0, 3, 1};
	struct jsonstream *s = NULL;
	struct jsonstream_record rec;
	struct lr_error err;

	lr_error_clear(&err);
	CHECK_INT(jsonstream_open(&s, NULL, memory_read, &at_start), 0);
	CHECK_INT(jsonstream_next(s, &rec, &err), LR_EIO);
	CHECK_STR(err.text, "cannot read the input");
	CHECK_INT(jsonstream_next(s, &rec, &err), LR_EIO);
	jsonstream_close(s);

	lr_error_clear(&err);
	CHECK_INT(jsonstream_open(&s, NULL, memory_read, &mid_array), 0);
	CHECK_INT(jsonstream_next(s, &rec, &err), 1);
	CHECK_STR(rec.text, "{\"id\": 1}");
	CHECK_INT(jsonstream_next(s, &rec, &err), LR_EIO);
	jsonstream_close(s);

	lr_error_clear(&err);
	CHECK_INT(jsonstream_open(&s, NULL, memory_read, &after_object), 0);
	CHECK_INT(jsonstream_next(s, &rec, &err), 1);
	CHECK_STR(rec.text, "{\"id\": 1}");
	CHECK_INT(jsonstream_next(s, &rec, &err), LR_EIO);
	jsonstream_close(s);

	lr_error_clear(&err);
	CHECK_INT(jsonstream_open(&s, NULL, memory_read, &mid_lines), 0);
	CHECK_INT(jsonstream_next(s, &rec, &err), 1);
	CHECK_INT(jsonstream_next(s, &rec, &err), 1);
	CHECK_STR(rec.text, "{\"id\": 2}");
	CHECK_INT(jsonstream_next(s, &rec, &err), LR_EIO);
	CHECK_INT(err.line, 3);
	jsonstream_close(s);
}

/* Errors say where, in the form the CLI prints, and keep the caller's source. */
static void test_error_where(void)
{
	static const char input[] = "{\"id\": 1}\n{\"id\": 2\n{\"id\": 3}\n";
	struct memory_source m = {input, sizeof(input) - 1, 0, 64, 0};
	struct jsonstream *s = NULL;
	struct jsonstream_record rec;
	struct lr_error err;
	char line[512];

	CHECK_INT(jsonstream_open(&s, NULL, memory_read, &m), 0);
	lr_error_clear(&err);
	lr_error_where(&err, "export.jsonl", 0, 0);
	CHECK_INT(jsonstream_next(s, &rec, &err), 1);
	CHECK_INT(jsonstream_next(s, &rec, &err), LR_EINVAL);
	CHECK_STR(lr_error_format(&err, line, sizeof(line)),
		  "export.jsonl:2: record 2: record is not closed at the end of the line");
	lr_error_clear(&err);
	CHECK_INT(jsonstream_next(s, &rec, &err), 1);
	CHECK_INT(rec.index, 3);
	CHECK_INT(rec.line, 3);
	CHECK_INT(jsonstream_next(s, &rec, &err), 0);
	CHECK_INT(jsonstream_shape(s), JSONSTREAM_LINES);
	jsonstream_close(s);
}

int main(void)
{
	RUN(test_fixtures);
	RUN(test_many_lines);
	RUN(test_many_array);
	RUN(test_many_wrapper);
	RUN(test_long_record_skipped);
	RUN(test_deep_nesting);
	RUN(test_default_options);
	RUN(test_keys_copied);
	RUN(test_read_error);
	RUN(test_error_where);
	TEST_END();
}
