/*
 * test_jsonfast: jsonfast_loadb against jansson's json_loadb, input by
 * input: a table of corner cases (numbers, escapes, UTF-8, nesting at and
 * over the limit, duplicate keys, every kind of syntax error) and every
 * .json / .jsonl file of fixtures/ and the shared corpus (.jsonl line by
 * line), each with flags 0 and JSON_REJECT_DUPLICATES. For each input:
 *   - the fast path alone (jsonfast__parse) succeeds exactly when jansson
 *     does, and then builds the same tree: same type at every node
 *     (integer vs real), same values (reals bit for bit, strings byte for
 *     byte), same member order, and json_dumps gives the same text;
 *   - jsonfast_loadb returns the same tree, or NULL with the same error
 *     (text, line, column, position, source, code).
 */
#include "lrs/jsonfast.h"
#include "fuzz/targets.h"
#include "tests/test.h"

#include <jansson.h>

#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>

static long fast_ok, jansson_ok, inputs;

/* 1 if json_dumps prints a and b alike. */
static int same_text(json_t *a, json_t *b)
{
	char *ta = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
	char *tb = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
	int same = ta && tb && strcmp(ta, tb) == 0;

	free(ta);
	free(tb);
	return same;
}

/* Compares both parsers on one input; returns 1 if the fast path took it. */
static int compare(const char *label, const char *text, size_t len, size_t flags)
{
	json_error_t ej, ef;
	json_t *j, *fast, *f;
	int took;

	memset(&ej, 0x5a, sizeof(ej));
	memset(&ef, 0x5a, sizeof(ef));
	j = json_loadb(text, len, flags, &ej);
	fast = jsonfast__parse(text, len, flags);
	f = jsonfast_loadb(text, len, flags, &ef);
	took = fast != NULL;
	inputs++;
	if (j)
		jansson_ok++;
	if (fast)
		fast_ok++;
	/*
	 * The fast path takes what jansson accepts, except text with a NUL byte:
	 * jansson skips one that ends a number or a word ("[1\0]" is [1]).
	 */
	CHECK_MSG(!fast == !j || (j && memchr(text, 0, len)), "%s (flags %zu): jansson %s, fast path %s",
		  label, flags, j ? "accepts" : "refuses", fast ? "accepts" : "declines");
	if (fast && j)
		CHECK_MSG(fuzz_same_json(j, fast) && same_text(j, fast), "%s (flags %zu): fast tree differs",
			  label, flags);
	CHECK_MSG(!f == !j, "%s (flags %zu): jsonfast_loadb %s", label, flags, f ? "accepts" : "refuses");
	if (f && j)
		CHECK_MSG(fuzz_same_json(j, f) && same_text(j, f), "%s (flags %zu): tree differs", label, flags);
	/* The error (or what is left in it after a success) is jansson's, byte for byte. */
	CHECK_MSG(memcmp(&ej, &ef, sizeof(ej)) == 0,
		  "%s (flags %zu): error \"%s\" %d:%d@%d vs \"%s\" %d:%d@%d", label, flags,
		  ej.text, ej.line, ej.column, ej.position, ef.text, ef.line, ef.column, ef.position);
	json_decref(j);
	json_decref(fast);
	json_decref(f);
	return took;
}

static void compare_both(const char *label, const char *text, size_t len)
{
	compare(label, text, len, 0);
	compare(label, text, len, JSON_REJECT_DUPLICATES);
}

#define CASE(s) { s, sizeof(s) - 1 }

static const struct {
	const char *text;
	size_t len;
} cases[] = {
	/* structure */
	CASE("{}"), CASE("[]"), CASE(" \t\r\n{} \t\r\n"), CASE("{} x"), CASE("{}{}"), CASE(""),
	CASE(" "), CASE("1"), CASE("\"a\""), CASE("null"), CASE("true"), CASE("{\"a\"}"),
	CASE("{\"a\":}"), CASE("{\"a\":1,}"), CASE("[1,]"), CASE("[,1]"), CASE("{,}"),
	CASE("{\"a\" 1}"), CASE("{1:2}"), CASE("[1 2]"), CASE("["), CASE("{"), CASE("]"),
	CASE("}"), CASE("[1"), CASE("{\"a\":1"), CASE("\""), CASE("[\"abc"), CASE("[\"abc\""),
	CASE("{\"a\":1}\n"), CASE("\f[]"), CASE("[\v]"), CASE("[1]\0"), CASE("\0[1]"),
	CASE("[[],{},[[]],{\"a\":{}}]"), CASE("{\"a\":[1,{\"b\":[true,false,null]}],\"c\":\"d\"}"),
	CASE("[1,\n2,\r\n3\t]"), CASE("[1\0]"), CASE("[true\0]"), CASE("{\"a\":2\0}"), CASE("[1\0\0]"),
	CASE("{ \"a\" : 1 , \"b\" : [ 2 , 3 ] }"), CASE("[}"), CASE("{]"),
	CASE("{\"a\":1]"), CASE("[1}"), CASE("\xef\xbb\xbf{}"), CASE("[] \xef\xbb\xbf"),
	/* literals */
	CASE("[true]"), CASE("[false]"), CASE("[null]"), CASE("[tru]"), CASE("[truex]"),
	CASE("[nul]"), CASE("[True]"), CASE("[true1]"), CASE("[nulll]"), CASE("[fals]"),
	CASE("[t"), CASE("[NaN]"), CASE("[Infinity]"), CASE("[-Infinity]"),
	/* numbers */
	CASE("[0]"), CASE("[-0]"), CASE("[1.0]"), CASE("[1e5]"), CASE("[1E-5]"), CASE("[1e+5]"),
	CASE("[123456789012345678901234567890]"), CASE("[9223372036854775807]"),
	CASE("[9223372036854775808]"), CASE("[-9223372036854775808]"),
	CASE("[-9223372036854775809]"), CASE("[99999999999999999999]"), CASE("[0.1e1]"),
	CASE("[1.7976931348623157e308]"), CASE("[1.7976931348623159e308]"), CASE("[1e309]"),
	CASE("[-1e309]"), CASE("[1E400]"), CASE("[1e-400]"), CASE("[-1e-400]"), CASE("[01]"),
	CASE("[-01]"), CASE("[00]"), CASE("[-]"), CASE("[-a]"), CASE("[1.]"), CASE("[.5]"),
	CASE("[1e]"), CASE("[1e+]"), CASE("[1E-]"), CASE("[+1]"), CASE("[0x10]"), CASE("[1.5e-7]"),
	CASE("[123.456]"), CASE("[0.1]"), CASE("[0.30000000000000004]"),
	CASE("[2.2250738585072014e-308]"), CASE("[2.2250738585072011e-308]"), CASE("[4.9e-324]"),
	CASE("[5e-324]"), CASE("[2e-324]"), CASE("[9007199254740993]"), CASE("[9007199254740993.0]"),
	CASE("[1e22]"), CASE("[1e23]"), CASE("[123456789012345.6]"), CASE("[999999999999999e22]"),
	CASE("[1234567890123456e-22]"), CASE("[0.000001]"), CASE("[1e-22]"), CASE("[3.14159e-23]"),
	CASE("[-0.0]"), CASE("[-0e0]"), CASE("[1e-0]"), CASE("[0e1000]"), CASE("[0e99999999999]"),
	CASE("[1e99999999999]"), CASE("[1e-99999999999]"), CASE("[1ee1]"), CASE("[1.2.3]"),
	CASE("[1-2]"), CASE("[--1]"), CASE("[- 1]"), CASE("[1 ]"), CASE("[0.5,-0.5,1e1,-1E+1]"),
	CASE("[0.1234567890123456789012345678901234567890123456789012345678901234567890123]"),
	CASE("[12345678901234567890123456789012345678901234567890123456789012345678.90123]"),
	CASE("[1.00000000000000000000000000000000000000000000000000000000000000000000000000001]"),
	CASE("{\"score\":{\"scaled\":0.95,\"raw\":95,\"min\":0,\"max\":100}}"),
	CASE("[0.85,0.9,0.333,12.5,99.99,0.05,1.1,2.675]"),
	/* strings and escapes */
	CASE("[\"\"]"), CASE("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]"), CASE("[\"\\u0041\\u00e9\\u20AC\"]"),
	CASE("[\"\\ud83d\\ude00\"]"), CASE("[\"\\uD83D\\uDE00x\"]"), CASE("[\"\\u0000\"]"),
	CASE("[\"a\\u0000b\"]"), CASE("[\"\\ud800\"]"), CASE("[\"\\udc00\"]"),
	CASE("[\"\\ud800\\u0041\"]"), CASE("[\"\\ud800x\"]"), CASE("[\"\\ud800\\\"]"),
	CASE("[\"\\ud800\\ud800\"]"), CASE("[\"\\u12\"]"), CASE("[\"\\u12g4\"]"), CASE("[\"\\x\"]"),
	CASE("[\"\\\"]"), CASE("[\"\\"), CASE("[\"\\u\"]"), CASE("[\"\\U0041\"]"), CASE("[\"\\'\"]"),
	CASE("[\"\x01\"]"), CASE("[\"\t\"]"), CASE("[\"\n\"]"), CASE("[\"\x1f\"]"), CASE("[\"\x7f\"]"),
	CASE("[\"a\0b\"]"), CASE("[\"\\u007f\\u0080\\u07ff\\u0800\\uffff\\ufffe\"]"),
	CASE("[\"\\udbff\\udfff\"]"), CASE("[\"\\ue000\"]"),
	/* UTF-8 */
	CASE("[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"]"), CASE("[\"\xc0\x80\"]"),
	CASE("[\"\xc1\xbf\"]"), CASE("[\"\xc2\x80\"]"), CASE("[\"\xe0\x80\x80\"]"),
	CASE("[\"\xe0\x9f\xbf\"]"), CASE("[\"\xe0\xa0\x80\"]"), CASE("[\"\xed\x9f\xbf\"]"),
	CASE("[\"\xed\xa0\x80\"]"), CASE("[\"\xed\xbf\xbf\"]"), CASE("[\"\xee\x80\x80\"]"),
	CASE("[\"\xf0\x8f\xbf\xbf\"]"), CASE("[\"\xf0\x90\x80\x80\"]"), CASE("[\"\xf4\x90\x80\x80\"]"),
	CASE("[\"\xf5\x80\x80\x80\"]"), CASE("[\"\xff\"]"), CASE("[\"\x80\"]"), CASE("[\"\xe2\x82\"]"),
	CASE("[\"\xe2\x82"), CASE("[\"\xf0\x9f\x98\"]"), CASE("[\"\xc3\"]"), CASE("[\"\xc3"),
	CASE("[\"\xc3\x28\"]"), CASE("[\xc3\xa9]"), CASE("{\"\xc3\xa9\":1}"), CASE("{\"\xc3\":1}"),
	/* keys */
	CASE("{\"\":1}"), CASE("{\"a\\u0000\":1}"), CASE("{\"\\u0000\":1}"), CASE("{\"a\0\":1}"),
	CASE("{\"\\u0041\":1,\"A\":2}"), CASE("{\"a\":1,\"a\":2}"), CASE("{\"a\":1,\"b\":2,\"a\":3}"),
	CASE("{\"a\":{\"x\":1},\"a\":[2]}"), CASE("{\"a\":[1],\"b\":{\"a\":1,\"a\":{}}}"),
	CASE("{\"z\":1,\"y\":2,\"x\":3,\"w\":4,\"v\":5,\"u\":6,\"t\":7,\"s\":8,\"r\":9,\"q\":10}"),
	CASE("{\"k\\n\\t\\\"\":\"v\\n\",\"k\\u00e9\":\"\\u00e9\"}"), CASE("{\"a\":1,\"a\\u0000\":2}"),
	CASE("{\"a\":1 \"b\":2}"), CASE("{\"a\"::1}"), CASE("{\"a\":1,,\"b\":2}"), CASE("{\"a\":1,\"b\"}"),
	CASE("{'a':1}"), CASE("{a:1}"),
};

static void test_cases(void)
{
	size_t i;
	char label[64];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(label, sizeof(label), "case %zu", i);
		compare_both(label, cases[i].text, cases[i].len);
	}
}

/* depth containers ('[' or '{"a":' each), innermost holding inner (may be ""). */
static char *nested(int depth, int object, const char *inner, size_t *len)
{
	size_t n = strlen(inner), size = (size_t)depth * 6 + n + 1;
	char *s = malloc(size), *t = s;
	int i;

	if (!s)
		return NULL;
	for (i = 0; i < depth; i++)
		t += sprintf(t, "%s", object ? "{\"a\":" : "[");
	if (object && depth > 0)
		t -= 5, t += sprintf(t, "{");       /* the innermost object is empty or holds inner */
	memcpy(t, inner, n);
	t += n;
	for (i = 0; i < depth; i++)
		*t++ = object ? '}' : ']';
	*t = '\0';
	*len = (size_t)(t - s);
	return s;
}

static void test_nesting(void)
{
	static const struct {
		int depth, object;
		const char *inner;
		int accepted;
	} deep[] = {
		{ 2048, 0, "", 1 }, { 2049, 0, "", 0 }, { 2047, 0, "1", 1 }, { 2048, 0, "1", 0 },
		{ 2047, 0, "\"s\"", 1 }, { 2048, 0, "{}", 0 }, { 2047, 0, "{}", 1 },
		{ 2048, 1, "", 1 }, { 2049, 1, "", 0 }, { 2047, 1, "\"b\":1", 1 }, { 2048, 1, "\"b\":1", 0 },
		{ 65, 0, "", 1 }, { 64, 0, "", 1 }, { 63, 1, "\"b\":[]", 1 }, { 5000, 0, "", 0 },
	};
	size_t i, len;
	char label[64];

	for (i = 0; i < sizeof(deep) / sizeof(deep[0]); i++) {
		char *s = nested(deep[i].depth, deep[i].object, deep[i].inner, &len);
		json_t *j;

		if (!s) {
			CHECK(0);
			continue;
		}
		snprintf(label, sizeof(label), "depth %d%s %s", deep[i].depth,
			 deep[i].object ? " objects" : "", deep[i].inner);
		j = json_loadb(s, len, 0, NULL);
		CHECK_MSG(!j == !deep[i].accepted, "%s: jansson's limit is not the expected one", label);
		json_decref(j);
		CHECK_INT(compare(label, s, len, 0), deep[i].accepted);
		compare(label, s, len, JSON_REJECT_DUPLICATES);
		free(s);
	}
	/* Deep, back up, and deep again (the container stack moves to the heap once). */
	{
		size_t a, b;
		char *x = nested(100, 0, "1", &a), *y = nested(70, 1, "\"k\":[1,2]", &b);
		char *s = malloc(2 * a + b + 16);

		if (x && y && s) {
			len = (size_t)sprintf(s, "[%s,%s,%s]", x, y, x);
			CHECK_INT(compare("deep twice", s, len, 0), 1);
			compare("deep twice", s, len, JSON_REJECT_DUPLICATES);
		} else {
			CHECK(0);
		}
		free(x);
		free(y);
		free(s);
	}
}

/* Strings longer than the decoding buffer, plain and escaped, as values and keys. */
static void test_long_strings(void)
{
	static const char *const pieces[] = { "abcdefgh", "\\n\\u00e9\\\"", "\xf0\x9f\x98\x80\\ud83d\\ude00", "\\/" };
	size_t sizes[] = { 100, 511, 512, 513, 600, 5000, 70000 };
	size_t i, k;

	for (k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			size_t n = sizes[i], plen = strlen(pieces[k]), reps = n / plen + 1, len;
			char *body = malloc(reps * plen + 1), *doc, label[64];
			size_t r;

			if (!body) {
				CHECK(0);
				continue;
			}
			for (r = 0; r < reps; r++)
				memcpy(body + r * plen, pieces[k], plen);
			body[reps * plen] = '\0';
			doc = malloc(3 * reps * plen + 64);
			if (!doc) {
				free(body);
				CHECK(0);
				continue;
			}
			snprintf(label, sizeof(label), "long string %zu piece %zu", n, k);
			len = (size_t)sprintf(doc, "{\"%s\":\"%s\",\"x\":[\"%s\"]}", body, body, body);
			CHECK_INT(compare(label, doc, len, 0), 1);
			compare(label, doc, len, JSON_REJECT_DUPLICATES);
			/* The same key twice: refused under JSON_REJECT_DUPLICATES. */
			len = (size_t)sprintf(doc, "{\"%s\":1,\"%s\":2}", body, body);
			CHECK_INT(compare(label, doc, len, 0), 1);
			CHECK_INT(compare(label, doc, len, JSON_REJECT_DUPLICATES), 0);
			free(doc);
			free(body);
		}
	}
}

/* Every real printed by %.17g and %.6g from a simple generator parses the same. */
static void test_reals(void)
{
	uint64_t x = 88172645463325252ULL;
	char doc[128];
	int i, n = TEST_VALGRIND ? 2000 : 20000;
	long before = fast_ok;

	for (i = 0; i < n; i++) {
		double d;
		int len;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(&d, &x, sizeof(d));
		if (d != d || d - d != 0)       /* NaN or infinite: not JSON */
			continue;
		len = snprintf(doc, sizeof(doc), i % 3 == 0 ? "[%.17g]" : i % 3 == 1 ? "[%.6g]" : "[%.15e]", d);
		if (!strchr(doc, '.') && !strchr(doc, 'e'))
			continue;
		compare("real", doc, (size_t)len, 0);
		len = snprintf(doc, sizeof(doc), "[%.*f]", (int)(x % 8), (double)(int64_t)(x % 2000001) / 1000.0 - 1000);
		compare("short real", doc, (size_t)len, 0);
	}
	CHECK(fast_ok - before > n);
}

/* Compares every .json file, and every line of every .jsonl file, under dir. */
static void walk(const char *dir, long *files)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		char path[1024];
		struct stat st;
		size_t n = strlen(e->d_name);
		int jsonl;
		FILE *fp;
		char *text;
		long size;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			walk(path, files);
			continue;
		}
		jsonl = n > 6 && strcmp(e->d_name + n - 6, ".jsonl") == 0;
		if (!jsonl && !(n > 5 && strcmp(e->d_name + n - 5, ".json") == 0))
			continue;
		if (st.st_size > (8L << 20))
			continue;
		fp = fopen(path, "rb");
		if (!fp)
			continue;
		size = (long)st.st_size;
		text = malloc((size_t)size + 1);
		if (text && fread(text, 1, (size_t)size, fp) == (size_t)size) {
			(*files)++;
			compare_both(path, text, (size_t)size);
			if (jsonl) {
				char *line = text, *nl, *end = text + size;
				long lineno = 0;

				for (; line < end; line = nl + 1) {
					char label[1100];

					nl = memchr(line, '\n', (size_t)(end - line));
					if (!nl)
						nl = end;
					snprintf(label, sizeof(label), "%s:%ld", path, ++lineno);
					compare_both(label, line, (size_t)(nl - line));
				}
			}
		}
		free(text);
		fclose(fp);
	}
	closedir(d);
}

static void test_files(void)
{
	long files = 0, before_fast = fast_ok, before_ok = jansson_ok, before_inputs = inputs;

	walk("fixtures", &files);
	walk("../shared/corpus", &files);
	printf("files: %ld files, %ld inputs, jansson accepted %ld, fast path took %ld\n", files,
	       inputs - before_inputs, jansson_ok - before_ok, fast_ok - before_fast);
	CHECK(files > 100);
	/* The fast path takes every one jansson accepts (none of them has a duplicate key). */
	CHECK(jansson_ok - before_ok > 300);
	CHECK_INT(fast_ok - before_fast, jansson_ok - before_ok);
}

/* Flags other than JSON_REJECT_DUPLICATES go to jansson as they are. */
static void test_other_flags(void)
{
	static const char *const docs[] = { "1", "\"a\\u0000\"", "[1] x", "{\"a\":1}", "[2]" };
	static const size_t flags[] = { JSON_DECODE_ANY, JSON_ALLOW_NUL | JSON_DECODE_ANY,
					 JSON_DISABLE_EOF_CHECK, JSON_DECODE_INT_AS_REAL };
	size_t i, k;

	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		for (k = 0; k < sizeof(flags) / sizeof(flags[0]); k++) {
			json_error_t ej, ef;
			json_t *j, *f;

			memset(&ej, 0, sizeof(ej));
			memset(&ef, 0, sizeof(ef));
			j = json_loadb(docs[i], strlen(docs[i]), flags[k], &ej);
			f = jsonfast_loadb(docs[i], strlen(docs[i]), flags[k], &ef);
			CHECK(jsonfast__parse(docs[i], strlen(docs[i]), flags[k]) == NULL);
			CHECK(!j == !f);
			CHECK(!j || (fuzz_same_json(j, f) && same_text(j, f)));
			CHECK(memcmp(&ej, &ef, sizeof(ej)) == 0);
			json_decref(j);
			json_decref(f);
		}
	}
	/* A NULL buffer: jansson's "wrong arguments". */
	{
		json_error_t e;
		CHECK(jsonfast_loadb(NULL, 0, 0, &e) == NULL);
		CHECK_INT(json_error_code(&e), json_error_invalid_argument);
	}
}

int main(void)
{
	RUN(test_cases);
	RUN(test_nesting);
	RUN(test_long_strings);
	RUN(test_reals);
	RUN(test_files);
	RUN(test_other_flags);
	printf("%ld inputs, jansson accepted %ld, fast path took %ld\n", inputs, jansson_ok, fast_ok);
	TEST_END();
}
