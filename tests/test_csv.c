/*
 * Unit tests: the streaming CSV reader (adapters/csv.c): RFC 4180 quoting,
 * line ends, the byte order mark, limits, recovery after a bad row, and the
 * header helpers.
 */
#include "adapters/csv.h"
#include "lrs/error.h"
#include "tests/memory_source.h"
#include "tests/test.h"

/*
 * Reads text (in chunks of chunk bytes) and writes what came out into out,
 * one line per row ("LINE: a|b|c") or error ("LINE: error: TEXT").
 */
static void read_all(char *out, size_t size, const char *text, size_t chunk,
		     const struct csv_options *opts)
{
	struct memory_source r = { text, strlen(text), 0, chunk, 0 };
	struct csv *c = NULL;
	struct csv_row row;
	size_t used = 0, i;
	int rc;

	out[0] = '\0';
	CHECK_INT(csv_open(&c, opts, memory_read, &r), 0);
	for (;;) {
		struct lr_error err;
		lr_error_clear(&err);
		rc = csv_next(c, &row, &err);
		if (rc == 0)
			break;
		if (rc < 0) {
			used += (size_t)snprintf(out + used, size - used, "%ld: error: %s\n", err.line, err.text);
			if (rc != LR_EINVAL)
				break;
			continue;
		}
		used += (size_t)snprintf(out + used, size - used, "%ld:", row.line);
		for (i = 0; i < row.n; i++)
			used += (size_t)snprintf(out + used, size - used, "%s%s", i ? "|" : " ", row.fields[i]);
		used += (size_t)snprintf(out + used, size - used, "\n");
	}
	csv_close(c);
}

static void same_at_every_chunk_size(const char *text, const char *expected,
				     const struct csv_options *opts)
{
	static const size_t chunks[] = { 1, 2, 3, 7, 65536 };
	char out[4096];
	size_t i;

	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		read_all(out, sizeof(out), text, chunks[i], opts);
		CHECK_STR(out, expected);
	}
}

static void test_quoting(void)
{
	same_at_every_chunk_size("a,b,c\n1,\"x, y\",\"say \"\"hi\"\"\"\n",
				 "1: a|b|c\n2: 1|x, y|say \"hi\"\n", NULL);
	/* A line break inside quotes belongs to the field; the next row's line is right. */
	same_at_every_chunk_size("a,b\n\"two\nlines\",x\nlast,row\n",
				 "1: a|b\n2: two\nlines|x\n4: last|row\n", NULL);
	/* Empty fields, quoted and not. */
	same_at_every_chunk_size(",\"\",\n", "1: ||\n", NULL);
}

static void test_line_ends_and_bom(void)
{
	same_at_every_chunk_size("\xEF\xBB\xBFid,name\r\n1,Ann\r\n\r\n2,Bo\n",
				 "1: id|name\n2: 1|Ann\n4: 2|Bo\n", NULL);
	/* No line end after the last row. */
	same_at_every_chunk_size("x,y", "1: x|y\n", NULL);
	/* Tab-separated. */
	{
		struct csv_options tsv = { '\t', 0, 0 };
		same_at_every_chunk_size("Name\tEmail address\nAnn Lee\tann@x.org\n",
					 "1: Name|Email address\n2: Ann Lee|ann@x.org\n", &tsv);
	}
}

static void test_bad_rows_are_skipped(void)
{
	/* A stray quote spoils its row only. */
	same_at_every_chunk_size("a,b\n1,x\"y\n2,ok\n",
				 "1: a|b\n2: error: field 2: a stray '\"' (quote the field and double the quote)\n3: 2|ok\n",
				 NULL);
	/* Limits: a long field and too many fields, then the rows after them. */
	{
		struct csv_options small = { ',', 8, 3 };
		same_at_every_chunk_size("123456789,x\na,b,c,d\nok,row\n",
					 "1: error: field 1 is longer than 8 bytes\n"
					 "2: error: the row has more than 3 fields\n"
					 "3: ok|row\n",
					 &small);
	}
	/* A quote never closed: that row is refused and the lines after its first read again. */
	same_at_every_chunk_size("a\n\"open\nb\nc\n",
				 "1: a\n2: error: field 1: a quote is opened and never closed; the row is skipped\n"
				 "3: b\n4: c\n", NULL);
	same_at_every_chunk_size("a,b\nc,\"d\ne,f\r\ng,h\n",
				 "1: a|b\n2: error: field 2: a quote is opened and never closed; the row is skipped\n"
				 "3: e|f\n4: g|h\n", NULL);
}

static void test_header(void)
{
	struct memory_source r = { "\"bad\nheader\"x\norg,KEY , Email\nrow,1,a@x.org\n", 0, 0, 5, 0 };
	struct csv *c = NULL;
	struct csv_row row;
	struct lr_error err;

	r.len = strlen(r.data);
	lr_error_clear(&err);
	CHECK_INT(csv_open(&c, NULL, memory_read, &r), 0);
	/* The unreadable first row is passed over, and leaves no error behind. */
	CHECK_INT(csv_header(c, &row, &err), 1);
	CHECK_INT(err.code, 0);
	CHECK_INT(row.line, 3);
	CHECK_INT(csv_column(&row, "org"), 0);
	CHECK_INT(csv_column(&row, "key"), 1);
	CHECK_INT(csv_column(&row, "email"), 2);
	CHECK_INT(csv_column(&row, "name"), -1);
	csv_close(c);

	r.data = "\n\n";
	r.len = 2;
	r.off = 0;
	CHECK_INT(csv_open(&c, NULL, memory_read, &r), 0);
	CHECK_INT(csv_header(c, &row, &err), LR_EFORMAT);
	CHECK_STR(err.text, "the file is empty");
	csv_close(c);
}

int main(void)
{
	RUN(test_quoting);
	RUN(test_line_ends_and_bom);
	RUN(test_bad_rows_are_skipped);
	RUN(test_header);
	TEST_END();
}
