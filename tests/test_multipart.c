/*
 * Unit tests: the multipart/form-data parser (lrs/multipart.c): good
 * bodies whole and fed in every split, the boundary parameter, a missing
 * closing boundary, headers too long, too many parts, CRLF and LF line
 * ends, delimiter look-alikes in the content.
 */
#include "lrs/error.h"
#include "lrs/multipart.h"
#include "tests/test.h"

#include <stdlib.h>

#define B "----lrhubTestBoundary7MA4YWxk"

static const char form[] =
	"preamble to ignore\r\n"
	"--" B "\r\n"
	"Content-Disposition: form-data; name=\"format\"\r\n"
	"\r\n"
	"moodle-scorm\r\n"
	"--" B "\r\n"
	"Content-Disposition: form-data; name=\"file\"; filename=\"exp \\\"1\\\".csv\"\r\n"
	"Content-Type: text/csv\r\n"
	"\r\n"
	"a,b\r\n1,2\r\n\r\n--not-the-boundary\r\n\r\r\n-\r\n------lrhubTestBoundary7MA4YWxQ\r\n"
	"--" B "--\r\n"
	"epilogue\r\n";

/* The second part's content. */
static const char file_content[] = "a,b\r\n1,2\r\n\r\n--not-the-boundary\r\n\r\r\n-\r\n------lrhubTestBoundary7MA4YWxQ";

static void test_boundary_param(void)
{
	char b[MULTIPART_BOUNDARY_MAX + 1];
	struct lr_error err;

	lr_error_clear(&err);
	CHECK_INT(multipart_boundary(b, sizeof(b), &err, "multipart/form-data; boundary=abc123"), 0);
	CHECK_STR(b, "abc123");
	CHECK_INT(multipart_boundary(b, sizeof(b), &err,
				     "Multipart/Form-Data; charset=utf-8; boundary=\"a b;c\""), 0);
	CHECK_STR(b, "a b;c");
	CHECK_INT(multipart_boundary(b, sizeof(b), &err, "multipart/form-data;boundary=x;foo=bar"), 0);
	CHECK_STR(b, "x");
	lr_error_clear(&err);
	CHECK_INT(multipart_boundary(b, sizeof(b), &err, "application/json"), LR_EINVAL);
	CHECK(strstr(err.text, "not multipart/form-data") != NULL);
	lr_error_clear(&err);
	CHECK_INT(multipart_boundary(b, sizeof(b), &err, "multipart/form-data"), LR_EINVAL);
	CHECK(strstr(err.text, "no boundary") != NULL);
	lr_error_clear(&err);
	CHECK_INT(multipart_boundary(b, sizeof(b), &err, "multipart/form-data; boundary="), LR_EINVAL);
	lr_error_clear(&err);
	CHECK_INT(multipart_boundary(b, sizeof(b), &err, "multipart/form-data; boundary=\"abc"), LR_EINVAL);
	lr_error_clear(&err);
	CHECK_INT(multipart_boundary(b, sizeof(b), &err,
				     "multipart/form-data; boundary=0123456789012345678901234567890123456789"
				     "0123456789012345678901234567890"), LR_EINVAL);
	CHECK(strstr(err.text, "longer than 70") != NULL);
	lr_error_clear(&err);
	CHECK_INT(multipart_boundary(b, sizeof(b), &err, NULL), LR_EINVAL);
}

static void test_whole(void)
{
	struct multipart_part parts[4];
	size_t n = 99;
	struct lr_error err;

	lr_error_clear(&err);
	CHECK_INT(multipart_parse(parts, 4, &n, &err, form, sizeof(form) - 1, B), 0);
	CHECK_INT(n, 2);
	CHECK_STR(parts[0].info.name, "format");
	CHECK_INT(parts[0].info.has_filename, 0);
	CHECK_INT(parts[0].body_len, 12);
	CHECK(parts[0].body && memcmp(parts[0].body, "moodle-scorm", 12) == 0);
	CHECK_STR(parts[1].info.name, "file");
	CHECK_INT(parts[1].info.has_filename, 1);
	CHECK_STR(parts[1].info.filename, "exp \"1\".csv");
	CHECK_STR(parts[1].info.content_type, "text/csv");
	CHECK_INT(parts[1].body_len, strlen(file_content));
	CHECK(parts[1].body && memcmp(parts[1].body, file_content, parts[1].body_len) == 0);
	/* Spans of the buffer itself. */
	CHECK(parts[1].body > form && parts[1].body < form + sizeof(form));
}

/* Collects a streamed body as "part NAME [FILENAME]: CONTENT|" entries. */
struct sink {
	char text[4096];
	size_t len;
	long parts, ends;
};

static void sink_add(struct sink *s, const char *data, size_t len)
{
	if (s->len + len < sizeof(s->text)) {
		memcpy(s->text + s->len, data, len);
		s->len += len;
		s->text[s->len] = '\0';
	}
}

static int on_part(void *ctx, struct lr_error *err, const struct multipart_part_info *info)
{
	struct sink *s = ctx;
	char head[600];

	(void)err;
	snprintf(head, sizeof(head), "part %s [%s]: ", info->name, info->filename);
	sink_add(s, head, strlen(head));
	s->parts++;
	return 0;
}

static int on_data(void *ctx, struct lr_error *err, const char *data, size_t len)
{
	(void)err;
	sink_add(ctx, data, len);
	return 0;
}

static int on_end(void *ctx, struct lr_error *err)
{
	struct sink *s = ctx;

	(void)err;
	sink_add(s, "|", 1);
	s->ends++;
	return 0;
}

static const struct multipart_callbacks sink_cb = { on_part, on_data, on_end };

/* Streams body in pieces of chunk bytes (or split once at split when chunk is 0). */
static int stream(struct sink *s, struct lr_error *err, const char *body, size_t len,
		  const char *boundary, size_t chunk, size_t split, size_t max_parts)
{
	struct multipart_parser *p = NULL;
	size_t at = 0;
	int rc;

	memset(s, 0, sizeof(*s));
	lr_error_clear(err);
	if ((rc = multipart_new(&p, err, boundary, max_parts, &sink_cb, s)) != 0)
		return rc;
	if (chunk == 0) {
		if ((rc = multipart_feed(p, err, body, split)) == 0)
			rc = multipart_feed(p, err, body + split, len - split);
	} else {
		while (at < len && rc == 0) {
			size_t n = len - at < chunk ? len - at : chunk;
			rc = multipart_feed(p, err, body + at, n);
			at += n;
		}
	}
	if (rc == 0)
		rc = multipart_finish(p, err);
	multipart_free(p);
	return rc;
}

static void test_splits(void)
{
	char expect[1024];
	struct sink s;
	struct lr_error err;
	size_t split, chunk, len = sizeof(form) - 1;
	int bad = 0;

	snprintf(expect, sizeof(expect), "part format []: moodle-scorm|part file [exp \"1\".csv]: %s|",
		 file_content);
	/* Every place one split can fall, delimiters cut included. */
	for (split = 0; split <= len; split++) {
		if (stream(&s, &err, form, len, B, 0, split, 0) != 0 || strcmp(s.text, expect) != 0) {
			if (!bad++)
				fprintf(stderr, "split at %zu: %s / %s\n", split, err.text, s.text);
		}
	}
	CHECK_INT(bad, 0);
	for (chunk = 1; chunk <= 9; chunk++) {
		CHECK_INT(stream(&s, &err, form, len, B, chunk, 0, 0), 0);
		CHECK_STR(s.text, expect);
	}
	CHECK_INT(s.parts, 2);
	CHECK_INT(s.ends, 2);
}

static void test_missing_close(void)
{
	static const char body[] = "--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\ndata\r\n--b\r\n";
	static const char cut[] = "--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\ndata, cut";
	struct sink s;
	struct lr_error err;

	CHECK_INT(stream(&s, &err, body, sizeof(body) - 1, "b", 4096, 0, 0), LR_EINVAL);
	CHECK(strstr(err.text, "without the closing boundary") != NULL);
	CHECK_INT(stream(&s, &err, cut, sizeof(cut) - 1, "b", 4096, 0, 0), LR_EINVAL);
	CHECK(strstr(err.text, "without the closing boundary") != NULL);
	CHECK_INT(stream(&s, &err, "no parts at all", 15, "b", 4096, 0, 0), LR_EINVAL);
	CHECK(strstr(err.text, "no boundary line") != NULL);
	CHECK_INT(stream(&s, &err, "", 0, "b", 4096, 0, 0), LR_EINVAL);
	/* A boundary line that goes on is not a delimiter. */
	CHECK_INT(stream(&s, &err, "--bX\r\n", 6, "b", 4096, 0, 0), LR_EINVAL);
	CHECK(strstr(err.text, "byte 3: the boundary line goes on") != NULL);
	/* Only a closing delimiter: no parts, fine. */
	CHECK_INT(stream(&s, &err, "--b--", 5, "b", 4096, 0, 0), 0);
	CHECK_INT(s.parts, 0);
	/* After an error, more input is refused with the same code. */
	{
		struct multipart_parser *p = NULL;
		lr_error_clear(&err);
		CHECK_INT(multipart_new(&p, &err, "b", 0, NULL, NULL), 0);
		CHECK_INT(multipart_feed(p, &err, "--b?", 4), LR_EINVAL);
		CHECK_INT(multipart_feed(p, &err, "\r\n", 2), LR_EINVAL);
		multipart_free(p);
	}
}

static void test_limits(void)
{
	char *body = malloc(20000);
	struct sink s;
	struct lr_error err;
	size_t n = 0, i;
	char boundary[80];

	/* Headers too long: one header line of 9000 bytes. */
	n = (size_t)sprintf(body, "--b\r\nX-Long: ");
	for (i = 0; i < 9000; i++)
		body[n++] = 'x';
	n += (size_t)sprintf(body + n, "\r\n\r\nhi\r\n--b--\r\n");
	CHECK_INT(stream(&s, &err, body, n, "b", 1000, 0, 0), LR_ELIMIT);
	CHECK(strstr(err.text, "headers are longer than 8192 bytes") != NULL);
	/* Too many header lines. */
	n = (size_t)sprintf(body, "--b\r\n");
	for (i = 0; i < 40; i++)
		n += (size_t)sprintf(body + n, "X-H%zu: v\r\n", i);
	n += (size_t)sprintf(body + n, "\r\nhi\r\n--b--\r\n");
	CHECK_INT(stream(&s, &err, body, n, "b", 1000, 0, 0), LR_ELIMIT);
	CHECK(strstr(err.text, "more than 32 header lines") != NULL);
	/* Too many parts. */
	n = 0;
	for (i = 0; i < 5; i++)
		n += (size_t)sprintf(body + n, "--b\r\nContent-Disposition: form-data; name=\"p%zu\"\r\n\r\nv\r\n", i);
	n += (size_t)sprintf(body + n, "--b--\r\n");
	CHECK_INT(stream(&s, &err, body, n, "b", 7, 0, 4), LR_ELIMIT);
	CHECK(strstr(err.text, "more parts than allowed") != NULL);
	CHECK_INT(stream(&s, &err, body, n, "b", 7, 0, 5), 0);
	CHECK_INT(s.parts, 5);
	{
		struct multipart_part parts[3];
		size_t got = 9;
		lr_error_clear(&err);
		CHECK_INT(multipart_parse(parts, 3, &got, &err, body, n, "b"), LR_ELIMIT);
		CHECK_INT(got, 0);
	}
	/* A name too long for its field. */
	n = (size_t)sprintf(body, "--b\r\nContent-Disposition: form-data; name=\"");
	for (i = 0; i < 300; i++)
		body[n++] = 'n';
	n += (size_t)sprintf(body + n, "\"\r\n\r\nv\r\n--b--");
	CHECK_INT(stream(&s, &err, body, n, "b", 100, 0, 0), LR_ELIMIT);
	CHECK(strstr(err.text, "name is too long") != NULL);
	/* Bad boundaries. */
	memset(boundary, 'z', 71);
	boundary[71] = '\0';
	CHECK_INT(stream(&s, &err, "x", 1, boundary, 1, 0, 0), LR_EINVAL);
	CHECK_INT(stream(&s, &err, "x", 1, "", 1, 0, 0), LR_EINVAL);
	CHECK_INT(stream(&s, &err, "x", 1, "a\r\nb", 1, 0, 0), LR_EINVAL);
	/* A header line without a colon; folded lines. */
	CHECK_INT(stream(&s, &err, "--b\r\nnonsense\r\n\r\nv\r\n--b--", 26, "b", 100, 0, 0), LR_EINVAL);
	CHECK(strstr(err.text, "byte 5: a part's header line has no 'name:'") != NULL);
	CHECK_INT(stream(&s, &err, "--b\r\nA: 1\r\n  2\r\n\r\nv\r\n--b--", 27, "b", 100, 0, 0), LR_EINVAL);
	CHECK(strstr(err.text, "folded") != NULL);
	free(body);
}

static void test_line_ends(void)
{
	/* Header lines may end in a bare LF; padding after the boundary is allowed. */
	static const char lf[] = "--b \t\nContent-Disposition: form-data; name=f; filename=C:\\dir\\x.csv\n\n"
				 "one\ntwo\r\n--b--";
	/* Content delimiters must be CRLF: a body with LF only never ends its first part. */
	static const char lf_only[] = "--b\nContent-Disposition: form-data; name=f\n\nv\n--b--\n";
	/* A CR not followed by LF after the boundary. */
	static const char bad_cr[] = "--b\rX";
	struct sink s;
	struct lr_error err;

	CHECK_INT(stream(&s, &err, lf, sizeof(lf) - 1, "b", 3, 0, 0), 0);
	CHECK_STR(s.text, "part f [C:\\dir\\x.csv]: one\ntwo|");
	CHECK_INT(stream(&s, &err, lf_only, sizeof(lf_only) - 1, "b", 5, 0, 0), LR_EINVAL);
	CHECK(strstr(err.text, "without the closing boundary") != NULL);
	CHECK_INT(stream(&s, &err, bad_cr, sizeof(bad_cr) - 1, "b", 5, 0, 0), LR_EINVAL);
	CHECK(strstr(err.text, "byte 4: a CR after the boundary") != NULL);
	/* CRs inside the content stay content, whatever the split. */
	{
		static const char crs[] = "--b\r\n\r\n\r\r\r\n-\r\n--\r\n--c\r\r\n--b--";
		size_t split;
		int bad = 0;
		for (split = 0; split < sizeof(crs); split++)
			if (stream(&s, &err, crs, sizeof(crs) - 1, "b", 0, split, 0) != 0 ||
			    strcmp(s.text, "part  []: \r\r\r\n-\r\n--\r\n--c\r|") != 0)
				bad++;
		CHECK_INT(bad, 0);
	}
}

/* A callback can stop the parser. */
static int refuse(void *ctx, struct lr_error *err, const struct multipart_part_info *info)
{
	(void)ctx;
	(void)info;
	return lr_error_set(err, LR_ELIMIT, "no parts wanted");
}

static void test_callback_stops(void)
{
	static const struct multipart_callbacks cb = { refuse, NULL, NULL };
	struct multipart_parser *p = NULL;
	struct lr_error err;

	lr_error_clear(&err);
	CHECK_INT(multipart_new(&p, &err, "b", 0, &cb, NULL), 0);
	CHECK_INT(multipart_feed(p, &err, "--b\r\n\r\nx\r\n--b--", 15), LR_ELIMIT);
	CHECK_STR(err.text, "no parts wanted");
	CHECK_INT(multipart_finish(p, &err), LR_ELIMIT);
	multipart_free(p);
	multipart_free(NULL);
}

int main(void)
{
	RUN(test_boundary_param);
	RUN(test_whole);
	RUN(test_splits);
	RUN(test_missing_close);
	RUN(test_limits);
	RUN(test_line_ends);
	RUN(test_callback_stops);
	TEST_END();
}
