/*
 * test_xapi.c: xAPI statement validation, comparison digest, derived ids and
 * facts (lrs/xapi.c).
 *
 * Runs from the project root:
 *   - fixtures/xapi/valid/<case>/statement.json must validate;
 *   - fixtures/xapi/invalid/<case>/statement.json must not, with the one-line
 *     message in error.txt (as lr_error_format writes it, "FIELD: TEXT");
 *     an optional flags.txt ("strict-103" or "strict-200") selects the rules;
 *   - every statement of the real-world corpus ../shared/corpus/xapi must
 *     validate (a missing corpus is a failure, not a skip).
 */
#include "lrs/error.h"
#include "lrs/uuid.h"
#include "lrs/xapi.h"
#include "lrs/xtime.h"
#include "tests/test.h"

#include <jansson.h>

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef FIXTURES
#define FIXTURES "fixtures/xapi"
#endif
#ifndef CORPUS
#define CORPUS "../shared/corpus/xapi"
#endif

/* Reads a whole file; NULL if it cannot be read. Caller frees. */
static char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	long size;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (text = malloc((size_t)size + 1)) != NULL) {
		if (fread(text, 1, (size_t)size, f) != (size_t)size) {
			free(text);
			text = NULL;
		} else {
			text[size] = '\0';
		}
	}
	fclose(f);
	return text;
}

static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
}

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int skip_entry(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);

	if (!v)
		fprintf(stderr, "test_xapi: bad JSON in a test: %s\n", jerr.text);
	return v;
}

/* Validation message of text under flags, "" when valid. */
static const char *validate_text(const char *text, unsigned flags)
{
	static char msg[LR_ERROR_FIELD_MAX + LR_ERROR_TEXT_MAX + 8];
	struct lr_error err;
	json_t *st = parse(text);

	lr_error_clear(&err);
	msg[0] = '\0';
	if (!st)
		return "(bad json)";
	if (xapi_validate(&err, st, flags) != 0)
		lr_error_format(&err, msg, sizeof(msg));
	json_decref(st);
	return msg;
}

/* ------------------------------------------------------------------ */
/* Fixtures                                                             */
/* ------------------------------------------------------------------ */

static unsigned fixture_flags(const char *dir)
{
	char path[1200];
	char *text;
	unsigned flags = XAPI_ACCEPT_ANY;

	snprintf(path, sizeof(path), "%s/flags.txt", dir);
	if ((text = read_text(path)) == NULL)
		return flags;
	chomp(text);
	if (strcmp(text, "strict-103") == 0)
		flags = XAPI_STRICT_103;
	else if (strcmp(text, "strict-200") == 0)
		flags = XAPI_STRICT_200;
	else
		CHECK_MSG(0, "%s: unknown flags \"%s\"", path, text);
	free(text);
	return flags;
}

static void run_fixture(const char *dir, int expect_valid)
{
	char path[1200], msg[LR_ERROR_FIELD_MAX + LR_ERROR_TEXT_MAX + 8];
	struct lr_error err;
	json_error_t jerr;
	json_t *st;
	char *expected = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/statement.json", dir);
	st = json_load_file(path, 0, &jerr);
	CHECK_MSG(st != NULL, "%s: %s", path, jerr.text);
	if (!st)
		return;
	lr_error_clear(&err);
	rc = xapi_validate(&err, st, fixture_flags(dir));
	lr_error_format(&err, msg, sizeof(msg));
	if (expect_valid) {
		CHECK_MSG(rc == 0, "%s: refused: %s", dir, msg);
		if (rc == 0) {
			unsigned char digest[32];

			CHECK_MSG(xapi_digest(digest, st) == 0, "%s: digest", dir);
		}
	} else {
		snprintf(path, sizeof(path), "%s/error.txt", dir);
		expected = read_text(path);
		CHECK_MSG(expected != NULL, "%s: no error.txt", dir);
		if (expected) {
			chomp(expected);
			CHECK_MSG(rc == LR_EINVAL && strcmp(msg, expected) == 0,
				  "%s:\n  got:      \"%s\"\n  expected: \"%s\"", dir, rc ? msg : "(accepted)",
				  expected);
		}
	}
	free(expected);
	json_decref(st);
}

static int run_fixture_dir(const char *kind, int expect_valid)
{
	char dir[512], sub[1024];
	struct dirent **entries = NULL;
	int n, i, cases = 0;

	snprintf(dir, sizeof(dir), "%s/%s", FIXTURES, kind);
	n = scandir(dir, &entries, skip_entry, alphasort);
	CHECK_MSG(n > 0, "%s: no fixtures (run from the project root)", dir);
	for (i = 0; i < n; i++) {
		snprintf(sub, sizeof(sub), "%s/%s", dir, entries[i]->d_name);
		if (is_dir(sub)) {
			run_fixture(sub, expect_valid);
			cases++;
		}
		free(entries[i]);
	}
	free(entries);
	return cases;
}

static void test_fixtures(void)
{
	int valid = run_fixture_dir("valid", 1);
	int invalid = run_fixture_dir("invalid", 0);

	fprintf(stderr, "test_xapi: %d valid and %d invalid fixture cases\n", valid, invalid);
	CHECK(valid >= 25);
	CHECK(invalid >= 45);
}

/* ------------------------------------------------------------------ */
/* Real-world corpus                                                    */
/* ------------------------------------------------------------------ */

static int corpus_statements, corpus_files;

static void corpus_check(const char *path, size_t index, json_t *st)
{
	char msg[LR_ERROR_FIELD_MAX + LR_ERROR_TEXT_MAX + 8];
	unsigned char digest[32];
	struct xapi_facts facts;
	struct lr_error err;
	int rc;

	corpus_statements++;
	lr_error_clear(&err);
	rc = xapi_validate(&err, st, XAPI_ACCEPT_ANY);
	lr_error_format(&err, msg, sizeof(msg));
	CHECK_MSG(rc == 0, "%s [%zu]: %s", path, index, msg);
	if (rc != 0)
		return;
	/* The corpus predates xAPI 2.0: it is valid 1.0.3 too. */
	lr_error_clear(&err);
	rc = xapi_validate(&err, st, XAPI_STRICT_103);
	lr_error_format(&err, msg, sizeof(msg));
	CHECK_MSG(rc == 0, "%s [%zu] (1.0.3): %s", path, index, msg);
	CHECK_MSG(xapi_digest(digest, st) == 0, "%s [%zu]: digest", path, index);
	xapi_facts(&facts, st);
	CHECK_MSG(facts.verb_id != NULL && facts.actor != NULL, "%s [%zu]: facts", path, index);
}

/* Appendix C's interaction definitions come as {"definition": ...}. */
static json_t *wrap_definition(json_t *wrapper)
{
	json_t *st = json_pack("{s:{s:s}, s:{s:s}, s:{s:s, s:s, s:O}}",
			       "actor", "mbox", "mailto:learner@example.org",
			       "verb", "id", "http://adlnet.gov/expapi/verbs/answered",
			       "object", "objectType", "Activity",
			       "id", "http://example.org/appendix-c/interaction",
			       "definition", json_object_get(wrapper, "definition"));

	return st;
}

/*
 * xAPI-Data.md's "Object is Statement" example (L2388) is the object of a
 * statement, a SubStatement, not a statement: it is checked as the object
 * of one.
 */
static json_t *wrap_substatement(json_t *sub)
{
	return json_pack("{s:{s:s}, s:{s:s}, s:O}",
			 "actor", "mbox", "mailto:teacher@example.org",
			 "verb", "id", "http://example.org/verbs/expected",
			 "object", sub);
}

static void corpus_file(const char *path, const char *name)
{
	json_error_t jerr;
	json_t *doc = json_load_file(path, 0, &jerr), *list, *item;
	size_t i;

	corpus_files++;
	CHECK_MSG(doc != NULL, "%s: %s", path, jerr.text);
	if (!doc)
		return;
	if (strncmp(name, "appendixC-interaction-definition-", 33) == 0) {
		json_t *st = wrap_definition(doc);

		CHECK_MSG(st != NULL && json_object_get(doc, "definition"), "%s: not a definition", path);
		if (st)
			corpus_check(path, 0, st);
		json_decref(st);
	} else if (json_is_string(json_object_get(doc, "objectType")) &&
		   strcmp(json_string_value(json_object_get(doc, "objectType")), "SubStatement") == 0) {
		json_t *st = wrap_substatement(doc);

		CHECK(st != NULL);
		if (st)
			corpus_check(path, 0, st);
		json_decref(st);
	} else if (json_is_array(doc)) {
		json_array_foreach(doc, i, item)
			corpus_check(path, i, item);
	} else if (json_is_array(list = json_object_get(doc, "statements"))) {
		json_array_foreach(list, i, item)
			corpus_check(path, i, item);
	} else {
		corpus_check(path, 0, doc);
	}
	json_decref(doc);
}

static void corpus_walk(const char *dir)
{
	struct dirent **entries = NULL;
	char path[2048];
	size_t len;
	int n, i;

	n = scandir(dir, &entries, skip_entry, alphasort);
	CHECK_MSG(n >= 0, "%s: cannot read the directory", dir);
	for (i = 0; i < n; i++) {
		const char *name = entries[i]->d_name;

		snprintf(path, sizeof(path), "%s/%s", dir, name);
		len = strlen(name);
		if (is_dir(path)) {
			/* JSON schemas and the cmi5 vocabulary are not statements. */
			if (strcmp(name, "document-schemas") != 0 && strcmp(name, "cmi5-spec") != 0)
				corpus_walk(path);
		} else if (len > 5 && strcmp(name + len - 5, ".json") == 0) {
			corpus_file(path, name);
		}
		free(entries[i]);
	}
	free(entries);
}

static void test_corpus(void)
{
	if (!is_dir(CORPUS)) {
		fprintf(stderr, "test_xapi: FATAL: corpus %s is missing (run from the project "
			"root with shared/ beside it)\n", CORPUS);
		CHECK_MSG(0, "corpus %s missing", CORPUS);
		return;
	}
	corpus_walk(CORPUS);
	fprintf(stderr, "test_xapi: %d corpus statements from %d files\n", corpus_statements,
		corpus_files);
	CHECK_MSG(corpus_statements >= 150, "only %d corpus statements", corpus_statements);
}

/* ------------------------------------------------------------------ */
/* Validation details the fixtures do not show                          */
/* ------------------------------------------------------------------ */

#define MINIMAL_HEAD \
	"{\"actor\":{\"mbox\":\"mailto:a@example.org\"}," \
	"\"verb\":{\"id\":\"http://example.org/v\"},"

static void test_validate_flags(void)
{
	const char *v200 = MINIMAL_HEAD "\"object\":{\"id\":\"http://example.org/a\"},\"version\":\"2.0.0\"}";
	const char *agents = MINIMAL_HEAD "\"object\":{\"id\":\"http://example.org/a\"},"
		"\"context\":{\"contextAgents\":[{\"objectType\":\"contextAgent\","
		"\"agent\":{\"mbox\":\"mailto:m@example.org\"}}]}}";
	const char *single = MINIMAL_HEAD "\"object\":{\"id\":\"http://example.org/a\"},"
		"\"context\":{\"contextActivities\":{\"parent\":{\"id\":\"http://example.org/p\"}}}}";
	const char *local = MINIMAL_HEAD "\"object\":{\"id\":\"http://example.org/a\"},"
		"\"timestamp\":\"2024-01-01T00:00:00\"}";

	CHECK_STR(validate_text(v200, XAPI_ACCEPT_ANY), "");
	CHECK_STR(validate_text(v200, XAPI_STRICT_200), "");
	CHECK_STR(validate_text(v200, XAPI_STRICT_103), "version: is not a supported version");
	CHECK_STR(validate_text(agents, XAPI_ACCEPT_ANY), "");
	CHECK_STR(validate_text(agents, XAPI_STRICT_200), "");
	CHECK_STR(validate_text(agents, XAPI_STRICT_103),
		  "context.contextAgents: is not allowed in xAPI 1.0.3");
	CHECK_STR(validate_text(single, XAPI_ACCEPT_ANY), "");
	CHECK_STR(validate_text(single, XAPI_STRICT_103), "");
	CHECK_STR(validate_text(single, XAPI_STRICT_200),
		  "context.contextActivities.parent: must be an array");
	CHECK_STR(validate_text(local, XAPI_ACCEPT_ANY), "");
	CHECK_STR(validate_text(local, XAPI_STRICT_200), "timestamp: is not a valid timestamp");
}

static void test_validate_api(void)
{
	const char *bad = MINIMAL_HEAD "\"object\":{\"id\":\"nope\"}}";
	json_t *st = parse(bad);
	struct lr_error err;

	/* err may be NULL. */
	CHECK_INT(xapi_validate(NULL, st, 0), LR_EINVAL);
	/* The first error is kept. */
	lr_error_clear(&err);
	lr_error_set(&err, LR_EIO, "earlier");
	CHECK_INT(xapi_validate(&err, st, 0), LR_EINVAL);
	CHECK_INT(err.code, LR_EIO);
	CHECK_STR(err.text, "earlier");
	CHECK_STR(err.field, "");
	json_decref(st);
	/* Non-objects. */
	CHECK_STR(validate_text("\"statement\"", 0), "the statement must be a JSON object");
	CHECK_STR(validate_text("null", 0), "the statement must be a JSON object");
	CHECK_STR(validate_text(MINIMAL_HEAD "\"object\":[]}", 0), "object: must be an object");
	CHECK_STR(validate_text(MINIMAL_HEAD "\"object\":{\"id\":\"http://example.org/a\"},"
				"\"result\":{\"score\":null}}", 0), "result.score: must not be null");
}

static void test_validate_long_path(void)
{
	char key[400], text[1200];
	struct lr_error err;
	size_t i, len;
	int shift;
	json_t *st;

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	snprintf(text, sizeof(text), MINIMAL_HEAD "\"object\":{\"id\":\"http://example.org/a\","
		 "\"definition\":{\"extensions\":{\"%s\":1}}}}", key);
	st = parse(text);
	lr_error_clear(&err);
	CHECK_INT(xapi_validate(&err, st, 0), LR_EINVAL);
	CHECK_INT(strlen(err.field), LR_ERROR_FIELD_MAX - 1);
	CHECK(strncmp(err.field, "object.definition.extensions.kkk", 32) == 0);
	CHECK_STR(err.text, "is not an IRI");
	json_decref(st);

	/* A cut never leaves half a UTF-8 character ("é" is 2 bytes; 29 + 2n > 127). */
	for (i = 0; i < 150; i++)
		memcpy(key + 2 * i, "\xc3\xa9", 2);
	key[300] = '\0';
	for (shift = 0; shift < 2; shift++) {
		snprintf(text, sizeof(text), MINIMAL_HEAD "\"object\":{\"id\":\"http://example.org/a\","
			 "\"definition\":{\"extensions\":{\"%s%s\":1}}}}", shift ? "x" : "", key);
		st = parse(text);
		lr_error_clear(&err);
		CHECK_INT(xapi_validate(&err, st, 0), LR_EINVAL);
		len = strlen(err.field);
		CHECK(len >= LR_ERROR_FIELD_MAX - 2);
		CHECK((unsigned char)err.field[len - 1] == 0xa9);
		json_decref(st);
	}
}

static void test_language_tags(void)
{
	static const char *const good[] = {
		"en", "en-US", "zh-Hant-TW", "und", "es-419", "de-CH-1996", "sl-rozaj-biske",
		"x-whatever", "qaa-Qaaa-QM-x-southern", "en-a-myext-b-another", "i-klingon",
		"zh-min-nan", "art-lojban", "hy-Latn-IT-arevela", "de-DE-u-co-phonebk", "EN-us",
		"sgn-BE-FR", "cel-gaulish", "az-Latn", "yue-HK", "en-US-x-twain"
	};
	static const char *const bad[] = {
		"", "e", "en-", "-en", "en--US", "en_US", "123", "en-US-", "toolongtag",
		"en-a", "en-a-b", "x", "en-x", "i-foo", "de-419-DE-x", "english language", "a-DE",
		"ar-a-aaa-b-bbb-a-ccc-x-", "en-US-abcdefghi"
	};
	char text[256];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), MINIMAL_HEAD "\"object\":{\"id\":\"http://example.org/a\"},"
			 "\"context\":{\"language\":\"%s\"}}", good[i]);
		CHECK_MSG(validate_text(text, 0)[0] == '\0', "%s: %s", good[i], validate_text(text, 0));
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), MINIMAL_HEAD "\"object\":{\"id\":\"http://example.org/a\"},"
			 "\"context\":{\"language\":\"%s\"}}", bad[i]);
		CHECK_MSG(strcmp(validate_text(text, 0), "context.language: is not a language tag") == 0,
			  "%s: %s", bad[i], validate_text(text, 0));
	}
}

static void test_iris(void)
{
	static const char *const good[] = {
		"http://example.org", "https://example.org/a?b=c#d", "urn:isbn:0451450523",
		"tag:example.org,2024:x", "mailto:a@example.org", "x-y.z+w:q",
		"http://example.com/\xd9\x81\xd8\xb9\xd9\x84", "http://[::1]:8080/x%20y"
	};
	static const char *const bad[] = {
		"", "example.org", "/relative/path", "#fragment", "1http://example.org",
		"http:", "http://exa mple.org", "http://example.org/\t", "ab=c://x",
		"http://example.org/<x>", "http://example.org/{id}", ":nothing"
	};
	char text[256];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), MINIMAL_HEAD "\"object\":{\"id\":\"%s\"}}", good[i]);
		CHECK_MSG(validate_text(text, 0)[0] == '\0', "%s: %s", good[i], validate_text(text, 0));
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *st = json_pack("{s:{s:s}, s:{s:s}, s:{s:s}}", "actor", "mbox", "mailto:a@example.org",
				       "verb", "id", "http://example.org/v", "object", "id", bad[i]);
		struct lr_error err;

		lr_error_clear(&err);
		CHECK_MSG(xapi_validate(&err, st, 0) == LR_EINVAL && strcmp(err.text, "is not an IRI") == 0 &&
			  strcmp(err.field, "object.id") == 0, "\"%s\": %s", bad[i], err.text);
		json_decref(st);
	}
}

/* ------------------------------------------------------------------ */
/* Digest                                                               */
/* ------------------------------------------------------------------ */

static const char *const base_statement =
	"{\"id\":\"fd41c918-b88b-4b20-a0a5-a4c32391aaa0\","
	"\"actor\":{\"objectType\":\"Agent\",\"name\":\"Alice\",\"mbox\":\"mailto:alice@example.org\"},"
	"\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/completed\",\"display\":{\"en-US\":\"completed\"}},"
	"\"object\":{\"objectType\":\"Activity\",\"id\":\"http://example.org/courses/mecc\","
	"\"definition\":{\"name\":{\"en\":\"MECC\"}}},"
	"\"result\":{\"completion\":true,\"success\":true,\"score\":{\"scaled\":0.9,\"raw\":90,\"min\":0,\"max\":100},"
	"\"duration\":\"PT1H\"},"
	"\"context\":{\"registration\":\"ec231277-b27b-4c15-8291-d29225b2b8f7\","
	"\"team\":{\"objectType\":\"Group\",\"member\":[{\"mbox\":\"mailto:b@example.org\"},{\"mbox\":\"mailto:c@example.org\"}]},"
	"\"contextActivities\":{\"parent\":[{\"id\":\"http://example.org/programmes/p\","
	"\"definition\":{\"name\":{\"en\":\"P\"}}}]}},"
	"\"timestamp\":\"2024-03-05T10:15:30.250Z\"}";

/* Digest of JSON text; all-zero on failure (which is then checked). */
static void digest_of(unsigned char out[32], const char *text)
{
	json_t *st = parse(text);
	struct lr_error err;

	memset(out, 0, 32);
	lr_error_clear(&err);
	CHECK_MSG(st && xapi_validate(&err, st, 0) == 0, "%s: %s", text, err.text);
	CHECK(st && xapi_digest(out, st) == 0);
	json_decref(st);
}

/* Digest of base_statement with from replaced by to (from must occur). */
static void digest_edit(unsigned char out[32], const char *from, const char *to)
{
	const char *at = strstr(base_statement, from);
	char text[4096];

	CHECK_MSG(at != NULL, "\"%s\" not in base statement", from);
	if (!at) {
		memset(out, 0, 32);
		return;
	}
	snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - base_statement), base_statement, to,
		 at + strlen(from));
	digest_of(out, text);
}

#define SAME(from, to) do { \
	unsigned char edited_[32]; \
	digest_edit(edited_, from, to); \
	CHECK_MSG(memcmp(base, edited_, 32) == 0, "should be the same: %s -> %s", from, to); \
} while (0)

#define DIFFERENT(from, to) do { \
	unsigned char edited_[32]; \
	digest_edit(edited_, from, to); \
	CHECK_MSG(memcmp(base, edited_, 32) != 0, "should differ: %s -> %s", from, to); \
} while (0)

static void test_digest_same(void)
{
	unsigned char base[32], other[32];
	static const char reordered[] =
		"{\"timestamp\":\"2024-03-05T10:15:30.250Z\","
		"\"context\":{\"contextActivities\":{\"parent\":[{\"id\":\"http://example.org/programmes/p\"}]},"
		"\"team\":{\"member\":[{\"mbox\":\"mailto:b@example.org\"},{\"mbox\":\"mailto:c@example.org\"}],\"objectType\":\"Group\"},"
		"\"registration\":\"ec231277-b27b-4c15-8291-d29225b2b8f7\"},"
		"\"result\":{\"duration\":\"PT1H\",\"score\":{\"max\":100,\"min\":0,\"raw\":90,\"scaled\":0.9},"
		"\"success\":true,\"completion\":true},"
		"\"object\":{\"id\":\"http://example.org/courses/mecc\",\"objectType\":\"Activity\"},"
		"\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/completed\"},"
		"\"actor\":{\"mbox\":\"mailto:alice@example.org\",\"name\":\"Alice\",\"objectType\":\"Agent\"}}";

	digest_of(base, base_statement);
	/* Property order. */
	digest_of(other, reordered);
	CHECK(memcmp(base, other, 32) == 0);
	/* The same instant in another zone or precision. */
	SAME("2024-03-05T10:15:30.250Z", "2024-03-05T11:15:30.250+01:00");
	SAME("2024-03-05T10:15:30.250Z", "2024-03-05T05:15:30.25-0500");
	SAME("2024-03-05T10:15:30.250Z", "2024-03-05T10:15:30.250123Z");
	/* Case-insensitive email. */
	SAME("mailto:alice@example.org", "mailto:Alice@EXAMPLE.org");
	SAME("mailto:alice@example.org", "MAILTO:alice@example.org");
	/* Group members are an unordered list. */
	SAME("{\"mbox\":\"mailto:b@example.org\"},{\"mbox\":\"mailto:c@example.org\"}",
	     "{\"mbox\":\"mailto:c@example.org\"},{\"mbox\":\"mailto:B@example.org\"}");
	/* Activity definitions are not part of the statement. */
	SAME("\"definition\":{\"name\":{\"en\":\"MECC\"}}",
	     "\"definition\":{\"name\":{\"en\":\"Making Every Contact Count\"},\"type\":\"http://example.org/t\"}");
	SAME(",\"definition\":{\"name\":{\"en\":\"P\"}}", "");
	/* Nor is the verb display. */
	SAME("\"display\":{\"en-US\":\"completed\"}", "\"display\":{\"de\":\"abgeschlossen\"}");
	/* Nor the properties the LRS sets, nor attachments. */
	SAME("\"id\":\"fd41c918-b88b-4b20-a0a5-a4c32391aaa0\",",
	     "\"id\":\"00000000-0000-4000-8000-000000000000\",\"stored\":\"2024-03-06T00:00:00Z\","
	     "\"version\":\"1.0.0\",\"authority\":{\"mbox\":\"mailto:lrs@example.org\"},"
	     "\"attachments\":[{\"usageType\":\"http://example.org/u\",\"display\":{\"en\":\"x\"},"
	     "\"contentType\":\"text/plain\",\"length\":1,"
	     "\"sha2\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}],");
	/* Defaults written out or left implicit. */
	SAME("\"objectType\":\"Agent\",", "");
	SAME("\"objectType\":\"Activity\",", "");
	/* A single context Activity is an array of one. */
	SAME("\"parent\":[{\"id\":\"http://example.org/programmes/p\",\"definition\":{\"name\":{\"en\":\"P\"}}}]",
	     "\"parent\":{\"id\":\"http://example.org/programmes/p\"}");
	/* Numbers by value, UUIDs in any case. */
	SAME("\"raw\":90", "\"raw\":90.0");
	SAME("ec231277-b27b-4c15-8291-d29225b2b8f7", "EC231277-B27B-4C15-8291-D29225B2B8F7");
}

static void test_digest_different(void)
{
	unsigned char base[32];

	digest_of(base, base_statement);
	DIFFERENT("\"completion\":true", "\"completion\":false");
	DIFFERENT("\"raw\":90", "\"raw\":91");
	DIFFERENT("\"duration\":\"PT1H\"", "\"duration\":\"PT60M\"");
	DIFFERENT("\"completion\":true,", "");
	DIFFERENT("2024-03-05T10:15:30.250Z", "2024-03-05T10:15:30.251Z");
	DIFFERENT("2024-03-05T10:15:30.250Z", "2024-03-05T10:15:30.250+01:00");
	DIFFERENT("http://adlnet.gov/expapi/verbs/completed", "http://adlnet.gov/expapi/verbs/passed");
	DIFFERENT("http://example.org/courses/mecc", "http://example.org/courses/MECC");
	DIFFERENT("\"name\":\"Alice\",", "");
	DIFFERENT("mailto:alice@example.org", "mailto:alice2@example.org");
	DIFFERENT("{\"mbox\":\"mailto:c@example.org\"}", "{\"mbox\":\"mailto:d@example.org\"}");
	DIFFERENT("\"parent\"", "\"grouping\"");
	DIFFERENT("ec231277-b27b-4c15-8291-d29225b2b8f7", "ec231277-b27b-4c15-8291-d29225b2b8f8");
}

static void test_digest_substatement(void)
{
	static const char a[] =
		"{\"actor\":{\"mbox\":\"mailto:t@example.org\"},\"verb\":{\"id\":\"http://example.com/planned\"},"
		"\"object\":{\"objectType\":\"SubStatement\",\"actor\":{\"mbox\":\"mailto:T@Example.org\"},"
		"\"verb\":{\"id\":\"http://example.com/visited\",\"display\":{\"en\":\"visited\"}},"
		"\"object\":{\"id\":\"http://example.com/site\",\"definition\":{\"name\":{\"en\":\"Site\"}}},"
		"\"timestamp\":\"2030-01-01T01:00:00+01:00\"}}";
	static const char b[] =
		"{\"actor\":{\"mbox\":\"mailto:t@example.org\"},\"verb\":{\"id\":\"http://example.com/planned\"},"
		"\"object\":{\"objectType\":\"SubStatement\",\"actor\":{\"mbox\":\"mailto:t@example.org\"},"
		"\"verb\":{\"id\":\"http://example.com/visited\"},"
		"\"object\":{\"objectType\":\"Activity\",\"id\":\"http://example.com/site\"},"
		"\"timestamp\":\"2030-01-01T00:00:00Z\"}}";
	static const char c[] =
		"{\"actor\":{\"mbox\":\"mailto:t@example.org\"},\"verb\":{\"id\":\"http://example.com/planned\"},"
		"\"object\":{\"objectType\":\"SubStatement\",\"actor\":{\"mbox\":\"mailto:t@example.org\"},"
		"\"verb\":{\"id\":\"http://example.com/visited\"},"
		"\"object\":{\"objectType\":\"Activity\",\"id\":\"http://example.com/site\"},"
		"\"timestamp\":\"2030-01-01T00:00:01Z\"}}";
	unsigned char da[32], db[32], dc[32];

	digest_of(da, a);
	digest_of(db, b);
	digest_of(dc, c);
	CHECK(memcmp(da, db, 32) == 0);
	CHECK(memcmp(db, dc, 32) != 0);
}

/* Digests of base_statement with from replaced by each of to1 and to2. */
static int edits_same(const char *from, const char *to1, const char *to2)
{
	unsigned char d1[32], d2[32];

	digest_edit(d1, from, to1);
	digest_edit(d2, from, to2);
	return memcmp(d1, d2, 32) == 0;
}

static void test_digest_values(void)
{
	/* Durations compare as strings, but only to 0.01 s (xAPI 4.6). */
	CHECK(edits_same("PT1H", "PT1.2345S", "PT1.23S"));
	CHECK(edits_same("PT1H", "PT1.239S", "PT1.23S"));
	CHECK(edits_same("PT1H", "P1DT1.5S", "P1DT1.5S"));
	CHECK(!edits_same("PT1H", "PT1.2S", "PT1.23S"));
	CHECK(!edits_same("PT1H", "PT1.24S", "PT1.23S"));
	CHECK(!edits_same("PT1H", "PT60M", "PT1H"));
	/* Numbers by value, everywhere. */
	CHECK(edits_same("\"completion\":true", "\"completion\":true,\"extensions\":{\"http://e.org/x\":1}",
			 "\"completion\":true,\"extensions\":{\"http://e.org/x\":1.0}"));
	CHECK(edits_same("\"scaled\":0.9", "\"scaled\":0.9", "\"scaled\":0.90"));
	CHECK(edits_same("\"scaled\":0.9", "\"scaled\":1", "\"scaled\":1e0"));
	CHECK(!edits_same("\"scaled\":0.9", "\"scaled\":0.9", "\"scaled\":0.90000001"));
	/* Strings exactly, escapes by what they stand for. */
	CHECK(edits_same("\"completion\":true", "\"response\":\"a/b\\u00e9\"", "\"response\":\"a\\/b\u00e9\""));
	CHECK(!edits_same("\"completion\":true", "\"response\":\"ab\"", "\"response\":\"Ab\""));
	CHECK(!edits_same("\"completion\":true", "\"response\":\"a\\\"\"", "\"response\":\"a\\\\\""));
}

static void test_digest_keeps_input(void)
{
	json_t *st = parse(base_statement);
	char *before = json_dumps(st, JSON_COMPACT), *after;
	unsigned char d1[32], d2[32];

	CHECK_INT(xapi_digest(d1, st), 0);
	after = json_dumps(st, JSON_COMPACT);
	CHECK_STR(after, before);
	CHECK_INT(xapi_digest(d2, st), 0);
	CHECK(memcmp(d1, d2, 32) == 0);
	free(before);
	free(after);
	json_decref(st);
}

/* ------------------------------------------------------------------ */
/* Derived ids                                                          */
/* ------------------------------------------------------------------ */

static void test_derive_id(void)
{
	unsigned char d1[32], d2[32];
	char a[UUID_STR_LEN + 1], b[UUID_STR_LEN + 1], c[UUID_STR_LEN + 1], expect[UUID_STR_LEN + 1];
	char name[256], long_org[600];
	size_t i;

	digest_of(d1, base_statement);
	digest_edit(d2, "\"raw\":90", "\"raw\":91");
	CHECK_INT(xapi_derive_id(a, "nhs-trust-1", d1), 0);
	CHECK_INT(xapi_derive_id(b, "nhs-trust-1", d1), 0);
	CHECK_STR(a, b);
	CHECK(uuid_is_valid(a));
	CHECK(a[14] == '5');
	CHECK(a[19] == '8' || a[19] == '9' || a[19] == 'a' || a[19] == 'b');
	/* The org is part of the name. */
	CHECK_INT(xapi_derive_id(c, "nhs-trust-2", d1), 0);
	CHECK(strcmp(a, c) != 0);
	CHECK_INT(xapi_derive_id(c, "", d1), 0);
	CHECK(strcmp(a, c) != 0);
	/* And so is the content. */
	CHECK_INT(xapi_derive_id(c, "nhs-trust-1", d2), 0);
	CHECK(strcmp(a, c) != 0);
	/* It is uuid_v5 of "xapi\n" + org + "\n" + hex digest. */
	memcpy(name, "xapi\nnhs-trust-1\n", 17);
	for (i = 0; i < 32; i++)
		snprintf(name + 17 + 2 * i, 3, "%02x", d1[i]);
	CHECK_INT(uuid_v5(expect, UUID_NS_LRHUB, name, 17 + 64), 0);
	CHECK_STR(a, expect);
	/* Long org names (past any stack buffer). */
	memset(long_org, 'o', sizeof(long_org) - 1);
	long_org[sizeof(long_org) - 1] = '\0';
	CHECK_INT(xapi_derive_id(b, long_org, d1), 0);
	CHECK(uuid_is_valid(b));
	long_org[sizeof(long_org) - 2] = 'p';
	CHECK_INT(xapi_derive_id(c, long_org, d1), 0);
	CHECK(strcmp(b, c) != 0);
}

/* ------------------------------------------------------------------ */
/* Facts                                                                */
/* ------------------------------------------------------------------ */

static void test_facts(void)
{
	json_t *st = parse(base_statement);
	struct xapi_facts f;
	int64_t ms = 0;

	xapi_facts(&f, st);
	CHECK_STR(f.id, "fd41c918-b88b-4b20-a0a5-a4c32391aaa0");
	CHECK_STR(f.verb_id, "http://adlnet.gov/expapi/verbs/completed");
	CHECK_STR(f.object_type, "Activity");
	CHECK_STR(f.object_id, "http://example.org/courses/mecc");
	CHECK_STR(f.registration, "ec231277-b27b-4c15-8291-d29225b2b8f7");
	CHECK(f.voided_id == NULL);
	CHECK(f.actor == json_object_get(st, "actor"));
	CHECK_STR(f.actor_type, "Agent");
	CHECK_INT(xtime_parse(&ms, "2024-03-05T10:15:30.250Z", 0), 0);
	CHECK_INT(f.has_timestamp, 1);
	CHECK_INT(f.timestamp_ms, ms);
	CHECK_INT(f.completion, 1);
	CHECK_INT(f.success, 1);
	CHECK_INT(f.has_score_scaled, 1);
	CHECK(f.score_scaled == 0.9);
	json_decref(st);

	st = parse("{\"actor\":{\"objectType\":\"Group\",\"member\":[{\"mbox\":\"mailto:a@example.org\"}]},"
		   "\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/voided\"},"
		   "\"object\":{\"objectType\":\"StatementRef\",\"id\":\"8f87ccde-bb56-4c2e-ab83-44982ef22df0\"}}");
	xapi_facts(&f, st);
	CHECK(f.id == NULL);
	CHECK_STR(f.actor_type, "Group");
	CHECK_STR(f.object_type, "StatementRef");
	CHECK_STR(f.object_id, "8f87ccde-bb56-4c2e-ab83-44982ef22df0");
	CHECK_STR(f.voided_id, "8f87ccde-bb56-4c2e-ab83-44982ef22df0");
	CHECK(f.registration == NULL);
	CHECK_INT(f.has_timestamp, 0);
	CHECK_INT(f.completion, -1);
	CHECK_INT(f.success, -1);
	CHECK_INT(f.has_score_scaled, 0);
	json_decref(st);

	/* Defaults: no actor objectType is an Agent, no object objectType an Activity. */
	st = parse("{\"actor\":{\"mbox\":\"mailto:a@example.org\"},\"verb\":{\"id\":\"http://example.org/v\"},"
		   "\"object\":{\"id\":\"http://example.org/a\"},\"result\":{\"success\":false,\"completion\":false},"
		   "\"timestamp\":\"2024-03-05T11:15:30+01:00\"}");
	xapi_facts(&f, st);
	CHECK_STR(f.actor_type, "Agent");
	CHECK_STR(f.object_type, "Activity");
	CHECK_STR(f.object_id, "http://example.org/a");
	CHECK_INT(f.completion, 0);
	CHECK_INT(f.success, 0);
	CHECK_INT(f.has_timestamp, 1);
	CHECK_INT(f.timestamp_ms, ms - 250);
	json_decref(st);

	/* An Agent object has no object_id; a commented StatementRef is not voided. */
	st = parse("{\"actor\":{\"mbox\":\"mailto:a@example.org\"},\"verb\":{\"id\":\"http://example.org/v\"},"
		   "\"object\":{\"objectType\":\"Agent\",\"mbox\":\"mailto:b@example.org\"}}");
	xapi_facts(&f, st);
	CHECK_STR(f.object_type, "Agent");
	CHECK(f.object_id == NULL);
	json_decref(st);
	st = parse("{\"actor\":{\"mbox\":\"mailto:a@example.org\"},\"verb\":{\"id\":\"http://example.org/commented\"},"
		   "\"object\":{\"objectType\":\"StatementRef\",\"id\":\"8f87ccde-bb56-4c2e-ab83-44982ef22df0\"}}");
	xapi_facts(&f, st);
	CHECK(f.voided_id == NULL);
	json_decref(st);
}

int main(void)
{
	RUN(test_fixtures);
	RUN(test_corpus);
	RUN(test_validate_flags);
	RUN(test_validate_api);
	RUN(test_validate_long_path);
	RUN(test_language_tags);
	RUN(test_iris);
	RUN(test_digest_same);
	RUN(test_digest_different);
	RUN(test_digest_substatement);
	RUN(test_digest_values);
	RUN(test_digest_keeps_input);
	RUN(test_derive_id);
	RUN(test_facts);
	TEST_END();
}
