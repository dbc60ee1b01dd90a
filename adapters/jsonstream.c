/*
 * jsonstream.c: finds the records in a JSON document of any size.
 *
 * The input is read in chunks of JS_CHUNK bytes through the caller's read
 * function. A small state machine walks the outer structure (the top-level
 * array, the members of a wrapper object, the lines of a JSON-lines file),
 * and one tight byte loop (js_scan) walks each record, tracking only strings,
 * escapes, nesting and line breaks. A record's bytes are copied into one
 * reusable buffer capped at max_record; a longer record is walked to its end
 * without being kept. Nesting is a counter plus one bit per level saying which
 * bracket opened it, never recursion, so deep input costs no stack.
 *
 * Only the first top-level object (and each object after a wrapper object) is
 * walked member by member, to see whether one of the wrapper keys holds an
 * array; everything else goes through js_scan.
 */
#include "jsonstream.h"
#include "lrs/error.h"

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JS_CHUNK (64 * 1024)                 /* bytes asked of read at a time */
#define JS_DEFAULT_MAX_RECORD (16 * 1024 * 1024)
#define JS_DEFAULT_MAX_DEPTH 64
#define JS_KIND_LEVELS 65536                 /* levels whose bracket kind is checked */
#define JS_KEY_MAX 64                        /* longest member name compared with the wrapper keys */
#define JS_RECORD_MIN 4096                   /* first size of the record buffer */

/* Where jsonstream_next is in the input's outer structure. */
enum js_state {
	JS_START,        /* nothing read yet */
	JS_ARRAY_OPEN,   /* after an array's '[': an element or ']' */
	JS_ARRAY_NEXT,   /* after ',': an element */
	JS_ARRAY_AFTER,  /* after an element: ',' or ']' */
	JS_WRAPPER_REST, /* after the wrapper's array: the rest of its object */
	JS_TOP_AFTER,    /* after a top-level value: white space, the end or another value */
	JS_LINES,        /* JSON lines: at the start of a line */
	JS_END,          /* the end was reached */
	JS_FAILED        /* a fatal error was reported; s->fatal says which */
};

/* How js_scan stopped. */
enum js_scan_result {
	SCAN_DONE,       /* the value is complete; pos is after it */
	SCAN_EOF,        /* the input ended inside the value */
	SCAN_NEWLINE,    /* (lines) a line break inside the value, left unread */
	SCAN_MISMATCH    /* a closing bracket that closes nothing open, left unread */
};

/* A step of jsonstream_next that found no record and no error yet. */
#define JS_CONTINUE 2

struct jsonstream {
	jsonstream_read_fn read;
	void *ctx;
	char **wrapper_keys;         /* owned copy, NULL-terminated; NULL for none */
	size_t max_record;
	size_t max_depth;

	unsigned char *chunk;        /* JS_CHUNK bytes; [pos, end) not yet walked */
	size_t pos, end;
	int eof;                     /* read returned 0: never call it again */
	long line;                   /* the line of chunk[pos] */

	enum js_state state;
	enum jsonstream_shape shape;
	long count;                  /* records seen, kept or not */

	size_t depth;                /* open brackets, counted from the top level */
	size_t limit;                /* depth beyond which the record is too deep */
	size_t kind_levels;          /* levels that have a bit in kinds */
	uint64_t *kinds;             /* bit level - 1: 1 if '[' opened that level */
	int in_string;               /* js_scan stopped inside a string */
	long string_line;            /* where the last string opened */

	char *rec;                   /* the record being read, NUL-terminated when returned */
	size_t rec_len, rec_cap;
	int keep;                    /* the bytes walked belong to a record */
	int too_long, too_deep;
	long rec_line, rec_index;

	unsigned char bad;           /* the byte behind SCAN_MISMATCH */
	unsigned char bad_expected;  /* the closer that was due, or 0 */
	long bad_line;

	struct lr_error fatal;       /* the error that ended the stream */
	struct lr_error reject;      /* why the last record was skipped */
};

/* Bytes that stop the byte loop outside strings. */
static const unsigned char js_plain_stop[256] = {
	['"'] = 1, ['{'] = 1, ['['] = 1, ['}'] = 1, [']'] = 1, ['\n'] = 1,
};

/* Bytes that stop the byte loop inside strings. */
static const unsigned char js_string_stop[256] = {
	['"'] = 1, ['\\'] = 1, ['\n'] = 1,
};

/* Bytes that end a bare value (number, true, false, null or stray text). */
static const unsigned char js_token_stop[256] = {
	[' '] = 1, ['\t'] = 1, ['\r'] = 1, ['\n'] = 1, [','] = 1, [':'] = 1,
	['['] = 1, [']'] = 1, ['{'] = 1, ['}'] = 1, ['"'] = 1,
};

static int js_fail(struct jsonstream *s, int code, long line, long record, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int js_reject(struct jsonstream *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Ends the stream with code: every later jsonstream_next returns it again. */
static int js_fail(struct jsonstream *s, int code, long line, long record, const char *fmt, ...)
{
	va_list ap;

	if (s->state == JS_FAILED)
		return s->fatal.code;
	lr_error_clear(&s->fatal);
	s->fatal.code = code;
	va_start(ap, fmt);
	vsnprintf(s->fatal.text, sizeof(s->fatal.text), fmt, ap);
	va_end(ap);
	s->fatal.line = line;
	s->fatal.record = record;
	s->state = JS_FAILED;
	return code;
}

/* Skips the current record: LR_EINVAL, at the record's line and number. */
static int js_reject(struct jsonstream *s, const char *fmt, ...)
{
	va_list ap;

	lr_error_clear(&s->reject);
	s->reject.code = LR_EINVAL;
	va_start(ap, fmt);
	vsnprintf(s->reject.text, sizeof(s->reject.text), fmt, ap);
	va_end(ap);
	s->reject.line = s->rec_line;
	s->reject.record = s->rec_index;
	return LR_EINVAL;
}

/* Names byte c for a message: 'x' when printable, 0xNN otherwise. */
static const char *js_byte_name(char buf[16], unsigned char c)
{
	if (c > 0x20 && c < 0x7f)
		snprintf(buf, 16, "'%c'", c);
	else
		snprintf(buf, 16, "byte 0x%02X", (unsigned)c);
	return buf;
}

/*
 * Reads the next chunk; call only when pos == end. Returns 0 with new bytes,
 * 1 at the end of the input, or LR_EIO.
 */
static int js_fill(struct jsonstream *s)
{
	ssize_t n;

	if (s->eof)
		return 1;
	n = s->read(s->ctx, s->chunk, JS_CHUNK);
	if (n < 0 || (size_t)n > JS_CHUNK)
		return js_fail(s, LR_EIO, s->line, 0, "cannot read the input");
	if (n == 0) {
		s->eof = 1;
		return 1;
	}
	s->pos = 0;
	s->end = (size_t)n;
	return 0;
}

/* Adds n bytes to the current record, unless it is not kept or too long. */
static int js_keep(struct jsonstream *s, const unsigned char *bytes, size_t n)
{
	size_t need, cap;
	char *grown;

	if (!s->keep || s->too_long || n == 0)
		return 0;
	if (n > s->max_record - s->rec_len) {
		s->too_long = 1; /* walk on to its end without keeping it */
		return 0;
	}
	need = s->rec_len + n + 1;
	if (need > s->rec_cap) {
		cap = s->rec_cap ? s->rec_cap : JS_RECORD_MIN;
		while (cap < need)
			cap *= 2;
		if (cap > s->max_record + 1)
			cap = s->max_record + 1;
		grown = realloc(s->rec, cap);
		if (!grown)
			return js_fail(s, LR_ENOMEM, s->rec_line, s->rec_index,
				       "out of memory for a record of %zu bytes", need);
		s->rec = grown;
		s->rec_cap = cap;
	}
	memcpy(s->rec + s->rec_len, bytes, n);
	s->rec_len += n;
	return 0;
}

static void js_kind_set(uint64_t *kinds, size_t level, int is_array)
{
	size_t i = level - 1;

	if (is_array)
		kinds[i >> 6] |= (uint64_t)1 << (i & 63);
	else
		kinds[i >> 6] &= ~((uint64_t)1 << (i & 63));
}

static int js_kind_is_array(const uint64_t *kinds, size_t level)
{
	size_t i = level - 1;

	return (int)((kinds[i >> 6] >> (i & 63)) & 1);
}

/* Opens a level of the outer structure with bracket c ('{' or '['). */
static void js_open(struct jsonstream *s, unsigned char c)
{
	s->depth++;
	if (s->depth <= s->kind_levels)
		js_kind_set(s->kinds, s->depth, c == '[');
}

/* Starts a record at the current byte, at the current depth. */
static void js_begin(struct jsonstream *s)
{
	s->rec_len = 0;
	s->keep = 1;
	s->too_long = 0;
	s->too_deep = 0;
	s->in_string = 0;
	s->rec_line = s->line;
	s->rec_index = ++s->count;
	s->limit = s->depth + s->max_depth;
}

/* Hands the finished record out, or rejects it if it broke a limit. */
static int js_emit(struct jsonstream *s, struct jsonstream_record *out)
{
	s->keep = 0;
	if (s->too_long)
		return js_reject(s, "record is longer than %zu bytes", s->max_record);
	if (s->too_deep)
		return js_reject(s, "record is nested deeper than %zu levels", s->max_depth);
	s->rec[s->rec_len] = '\0';
	out->text = s->rec;
	out->len = s->rec_len;
	out->line = s->rec_line;
	out->index = s->rec_index;
	return 1;
}

/*
 * Walks on from the current byte until the nesting comes back to stop: either
 * a value starting here with '{', '[' or '"' (s->depth == stop), or the rest
 * of a value already open (s->depth > stop). Keeps the bytes walked. lines:
 * a line break anywhere in the value ends the walk (SCAN_NEWLINE). Returns an
 * enum js_scan_result or a negative code. This is the hot loop.
 */
static int js_scan(struct jsonstream *s, size_t stop, int lines)
{
	const unsigned char *p = s->chunk + s->pos;
	const unsigned char *end = s->chunk + s->end;
	const unsigned char *start = p;
	const size_t limit = s->limit, levels = s->kind_levels;
	uint64_t *const kinds = s->kinds;
	size_t depth = s->depth;
	long line = s->line;
	int in_string = s->in_string, escaped = 0, rc;
	unsigned char c;

	for (;;) {
		if (!in_string) {
			while (p < end && !js_plain_stop[*p])
				p++;
			if (p == end)
				goto more;
			c = *p++;
			if (c == '"') {
				in_string = 1;
				s->string_line = line;
			} else if (c == '{' || c == '[') {
				depth++;
				if (depth <= levels)
					js_kind_set(kinds, depth, c == '[');
				if (depth > limit)
					s->too_deep = 1;
			} else if (c == '}' || c == ']') {
				if (depth <= stop ||
				    (depth <= levels && js_kind_is_array(kinds, depth) != (c == ']'))) {
					p--;
					s->bad = c;
					s->bad_expected = depth <= stop ? 0 :
						js_kind_is_array(kinds, depth) ? ']' : '}';
					s->bad_line = line;
					rc = SCAN_MISMATCH;
					goto out;
				}
				if (--depth == stop) {
					rc = SCAN_DONE;
					goto out;
				}
			} else { /* '\n' */
				if (lines) {
					p--;
					rc = SCAN_NEWLINE;
					goto out;
				}
				line++;
			}
			continue;
		}
		if (escaped) {
			escaped = 0;
			c = *p++;
		} else {
			while (p < end && !js_string_stop[*p])
				p++;
			if (p == end)
				goto more;
			c = *p++;
			if (c == '"') {
				in_string = 0;
				if (depth == stop) {
					rc = SCAN_DONE;
					goto out;
				}
				continue;
			}
			if (c == '\\') {
				if (p == end) {
					escaped = 1;
					goto more;
				}
				c = *p++;
			}
		}
		/* c is a raw line break or the byte after a backslash. */
		if (c == '\n') {
			/* Not valid JSON in a string, but the lines must still be counted. */
			if (lines) {
				p--;
				rc = SCAN_NEWLINE;
				goto out;
			}
			line++;
		}
		continue;
more:
		rc = js_keep(s, start, (size_t)(p - start));
		if (rc < 0)
			return rc;
		s->pos = s->end;
		s->line = line;
		s->depth = depth;
		rc = js_fill(s);
		if (rc < 0)
			return rc;
		if (rc > 0) {
			s->in_string = in_string;
			return SCAN_EOF;
		}
		p = start = s->chunk + s->pos;
		end = s->chunk + s->end;
	}
out:
	s->pos = (size_t)(p - s->chunk);
	s->line = line;
	s->depth = depth;
	s->in_string = in_string;
	if (rc == SCAN_DONE) {
		int kept = js_keep(s, start, (size_t)(p - start));

		if (kept < 0)
			return kept;
	}
	return rc;
}

/* Walks a bare value (a number, true, false, null or stray text), keeping it. */
static int js_token(struct jsonstream *s)
{
	const unsigned char *p = s->chunk + s->pos;
	const unsigned char *end = s->chunk + s->end;
	const unsigned char *start = p;
	int rc;

	for (;;) {
		while (p < end && !js_token_stop[*p])
			p++;
		if (p < end)
			break;
		rc = js_keep(s, start, (size_t)(p - start));
		if (rc < 0)
			return rc;
		s->pos = s->end;
		rc = js_fill(s);
		if (rc < 0)
			return rc;
		if (rc > 0)
			return SCAN_DONE;
		p = start = s->chunk + s->pos;
		end = s->chunk + s->end;
	}
	rc = js_keep(s, start, (size_t)(p - start));
	if (rc < 0)
		return rc;
	s->pos = (size_t)(p - s->chunk);
	return SCAN_DONE;
}

/* Walks the value that starts at the current byte; see js_scan. */
static int js_value(struct jsonstream *s, size_t stop, int lines)
{
	unsigned char c = s->chunk[s->pos];

	s->in_string = 0;
	if (c == '{' || c == '[' || c == '"')
		return js_scan(s, stop, lines);
	return js_token(s);
}

/* Skips JSON white space. Returns 0 at a byte, 1 at the end, or a negative code. */
static int js_skip_space(struct jsonstream *s)
{
	unsigned char c;
	int rc;

	for (;;) {
		while (s->pos < s->end) {
			c = s->chunk[s->pos];
			if (c == '\n')
				s->line++;
			else if (c != ' ' && c != '\t' && c != '\r')
				return 0;
			s->pos++;
		}
		rc = js_fill(s);
		if (rc != 0)
			return rc;
	}
}

/* Skips to the next line break (left unread) or the end. Returns 0 or a negative code. */
static int js_skip_line(struct jsonstream *s)
{
	const unsigned char *nl;
	int rc;

	for (;;) {
		nl = memchr(s->chunk + s->pos, '\n', s->end - s->pos);
		if (nl) {
			s->pos = (size_t)(nl - s->chunk);
			return 0;
		}
		s->pos = s->end;
		rc = js_fill(s);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
}

/*
 * Turns a js_scan that stopped short inside a record (in_record) or inside
 * the rest of a wrapper object into the fatal LR_EFORMAT.
 */
static int js_broken(struct jsonstream *s, int rc, int in_record)
{
	char name[16];
	long record = in_record ? s->rec_index : 0;

	if (rc < 0)
		return rc;
	if (rc == SCAN_MISMATCH) {
		if (s->bad_expected)
			return js_fail(s, LR_EFORMAT, s->bad_line, record, "unexpected %s, expected '%c'",
				       js_byte_name(name, s->bad), s->bad_expected);
		return js_fail(s, LR_EFORMAT, s->bad_line, record, "unexpected %s",
			       js_byte_name(name, s->bad));
	}
	/*
	 * At the end of the file, the line where a string last opened can be far
	 * from the quote that is missing (every quote after it pairs wrongly);
	 * the start of the record that never closed is where to look.
	 */
	if (s->in_string)
		return js_fail(s, LR_EFORMAT, in_record ? s->rec_line : s->string_line, record,
			       "unterminated string at the end of the file");
	if (in_record)
		return js_fail(s, LR_EFORMAT, s->rec_line, record,
			       "record is not closed at the end of the file");
	return js_fail(s, LR_EFORMAT, s->line, 0, "object is not closed at the end of the file");
}

/*
 * Reads a member name of a watched object (pos at its opening '"'), keeping its
 * bytes. Returns 1 if it is one of the wrapper keys, 0 if not, or a negative
 * code. Names are compared as written, escapes and all.
 */
static int js_key(struct jsonstream *s)
{
	char name[JS_KEY_MAX];
	size_t len = 0, i;
	int escaped = 0, fits = 1, rc;
	unsigned char c;

	rc = js_keep(s, s->chunk + s->pos, 1);
	if (rc < 0)
		return rc;
	s->pos++;
	for (;;) {
		if (s->pos == s->end) {
			rc = js_fill(s);
			if (rc < 0)
				return rc;
			if (rc > 0)
				return js_fail(s, LR_EFORMAT, s->rec_line, s->rec_index,
					       "unterminated string at the end of the file");
		}
		c = s->chunk[s->pos++];
		rc = js_keep(s, &c, 1);
		if (rc < 0)
			return rc;
		if (c == '\n')
			s->line++;
		if (escaped)
			escaped = 0;
		else if (c == '\\')
			escaped = 1;
		else if (c == '"')
			break;
		if (len < sizeof(name))
			name[len++] = (char)c;
		else
			fits = 0;
	}
	if (!fits || !s->wrapper_keys)
		return 0;
	for (i = 0; s->wrapper_keys[i]; i++)
		if (strlen(s->wrapper_keys[i]) == len && memcmp(s->wrapper_keys[i], name, len) == 0)
			return 1;
	return 0;
}

/*
 * After the first top-level object: the shape is JSON lines if that object
 * was on one line, nothing else follows on that line, and another value
 * follows on a later line. Leaves pos at the next value. A read error here is
 * reported by the next call, so the record in hand is not lost.
 */
static void js_after_first(struct jsonstream *s)
{
	int one_line = s->line == s->rec_line, newline = 0;
	unsigned char c;

	s->shape = JSONSTREAM_OBJECT;
	s->state = JS_TOP_AFTER;
	for (;;) {
		if (s->pos == s->end && js_fill(s) != 0)
			return;
		c = s->chunk[s->pos];
		if (c == '\n') {
			newline = 1;
			s->line++;
		} else if (c != ' ' && c != '\t' && c != '\r') {
			break;
		}
		s->pos++;
	}
	if (one_line && newline) {
		s->shape = JSONSTREAM_LINES;
		s->state = JS_LINES;
	}
}

/*
 * Reads a top-level object (pos at its '{') member by member: if one of the
 * wrapper keys holds an array, streams that array from here (JS_CONTINUE);
 * otherwise the object is a record. As soon as the members stop looking like
 * JSON, the object cannot be a wrapper and is walked like any record.
 */
static int js_object(struct jsonstream *s, struct jsonstream_record *out)
{
	enum { MEMBER, COLON, VALUE, AFTER } expect = MEMBER;
	int wrapper_key = 0, rc;
	unsigned char c;

	js_begin(s);
	js_open(s, '{');
	rc = js_keep(s, s->chunk + s->pos, 1);
	if (rc < 0)
		return rc;
	s->pos++;
	for (;;) {
		if (s->pos == s->end) {
			rc = js_fill(s);
			if (rc < 0)
				return rc;
			if (rc > 0)
				return js_fail(s, LR_EFORMAT, s->rec_line, s->rec_index,
					       "record is not closed at the end of the file");
		}
		c = s->chunk[s->pos];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			if (c == '\n')
				s->line++;
			rc = js_keep(s, &c, 1);
			if (rc < 0)
				return rc;
			s->pos++;
			continue;
		}
		if (expect == MEMBER && c == '"') {
			wrapper_key = js_key(s);
			if (wrapper_key < 0)
				return wrapper_key;
			expect = COLON;
		} else if ((expect == COLON && c == ':') || (expect == AFTER && c == ',')) {
			rc = js_keep(s, &c, 1);
			if (rc < 0)
				return rc;
			s->pos++;
			expect = expect == COLON ? VALUE : MEMBER;
		} else if (expect == VALUE && c == '[' && wrapper_key) {
			if (s->shape == JSONSTREAM_UNKNOWN)
				s->shape = JSONSTREAM_WRAPPER;
			s->count--; /* the wrapper object is not a record */
			s->keep = 0;
			js_open(s, '[');
			s->pos++;
			s->state = JS_ARRAY_OPEN;
			return JS_CONTINUE;
		} else if (expect == VALUE && c != ',' && c != ':' && c != '}' && c != ']') {
			rc = js_value(s, 1, 0);
			if (rc != SCAN_DONE)
				return js_broken(s, rc, 1);
			expect = AFTER;
		} else {
			break; /* '}', or not a JSON member: find the end by nesting alone */
		}
	}
	rc = js_scan(s, 0, 0);
	if (rc != SCAN_DONE)
		return js_broken(s, rc, 1);
	if (s->shape == JSONSTREAM_UNKNOWN)
		js_after_first(s);
	else
		s->state = JS_TOP_AFTER;
	return js_emit(s, out);
}

/* Reads the encoding and the first byte of the input, and from them the shape. */
static int js_start(struct jsonstream *s, struct jsonstream_record *out)
{
	const unsigned char *b = s->chunk;
	ssize_t n;
	int rc;

	/* Four bytes are enough to see a byte order mark or the NULs of UTF-16/32. */
	while (s->end < 4 && !s->eof) {
		n = s->read(s->ctx, s->chunk + s->end, JS_CHUNK - s->end);
		if (n < 0 || (size_t)n > JS_CHUNK - s->end)
			return js_fail(s, LR_EIO, 1, 0, "cannot read the input");
		if (n == 0)
			s->eof = 1;
		else
			s->end += (size_t)n;
	}
	if (s->end >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF) {
		s->pos = 3;
	} else if (s->end >= 4 && ((b[0] == 0 && b[1] == 0 && b[2] == 0xFE && b[3] == 0xFF) ||
				   (b[0] == 0xFF && b[1] == 0xFE && b[2] == 0 && b[3] == 0))) {
		return js_fail(s, LR_EFORMAT, 1, 0, "file is UTF-32 encoded; save it as UTF-8");
	} else if (s->end >= 2 && ((b[0] == 0xFF && b[1] == 0xFE) || (b[0] == 0xFE && b[1] == 0xFF))) {
		return js_fail(s, LR_EFORMAT, 1, 0, "file is UTF-16 encoded; save it as UTF-8");
	} else if (memchr(b, 0, s->end < 4 ? s->end : 4)) {
		/* Only the first four bytes, always read by now: the answer may not
		   depend on how much the first read happened to return. */
		if (s->end >= 4 && ((b[0] == 0 && b[1] == 0 && b[2] == 0) ||
				    (b[1] == 0 && b[2] == 0 && b[3] == 0)))
			return js_fail(s, LR_EFORMAT, 1, 0, "file is UTF-32 encoded; save it as UTF-8");
		return js_fail(s, LR_EFORMAT, 1, 0, "file is UTF-16 encoded; save it as UTF-8");
	}

	rc = js_skip_space(s);
	if (rc < 0)
		return rc;
	if (rc > 0) {
		s->shape = JSONSTREAM_EMPTY;
		s->state = JS_END;
		return 0;
	}
	if (s->chunk[s->pos] == '[') {
		s->shape = JSONSTREAM_ARRAY;
		js_open(s, '[');
		s->pos++;
		s->state = JS_ARRAY_OPEN;
		return JS_CONTINUE;
	}
	if (s->chunk[s->pos] == '{')
		return js_object(s, out);
	return js_fail(s, LR_EFORMAT, s->line, 0, "not JSON: expected '[' or '{'");
}

/* Inside a streamed array: the next element, or the array's end. */
static int js_array(struct jsonstream *s, struct jsonstream_record *out)
{
	char name[16];
	unsigned char c;
	int rc;

	rc = js_skip_space(s);
	if (rc < 0)
		return rc;
	if (rc > 0)
		return js_fail(s, LR_EFORMAT, s->line, 0, "array is not closed at the end of the file");
	c = s->chunk[s->pos];
	if (c == ']' && s->state != JS_ARRAY_NEXT) {
		s->pos++;
		s->depth--;
		s->state = s->depth ? JS_WRAPPER_REST : JS_TOP_AFTER;
		return JS_CONTINUE;
	}
	if (s->state == JS_ARRAY_AFTER) {
		if (c == ',') {
			s->pos++;
			s->state = JS_ARRAY_NEXT;
			return JS_CONTINUE;
		}
		return js_fail(s, LR_EFORMAT, s->line, 0, "expected ',' or ']' after record %ld, found %s",
			       s->count, js_byte_name(name, c));
	}
	if (c == ',' || c == ':' || c == '}' || c == ']')
		return js_fail(s, LR_EFORMAT, s->line, 0, "expected a record, found %s",
			       js_byte_name(name, c));
	js_begin(s);
	rc = js_value(s, s->depth, 0);
	if (rc != SCAN_DONE)
		return js_broken(s, rc, 1);
	s->state = JS_ARRAY_AFTER;
	return js_emit(s, out);
}

/* After the wrapper's array: skips the rest of the wrapper object. */
static int js_wrapper_rest(struct jsonstream *s)
{
	int rc;

	s->keep = 0;
	s->in_string = 0;
	s->limit = SIZE_MAX;
	rc = js_scan(s, 0, 0);
	if (rc != SCAN_DONE)
		return js_broken(s, rc, 0);
	s->state = JS_TOP_AFTER;
	return JS_CONTINUE;
}

/* After a top-level value: the end, or another value of the same kind. */
static int js_top_after(struct jsonstream *s, struct jsonstream_record *out)
{
	char name[16];
	unsigned char c;
	int rc;

	rc = js_skip_space(s);
	if (rc < 0)
		return rc;
	if (rc > 0) {
		s->state = JS_END;
		return 0;
	}
	c = s->chunk[s->pos];
	if (s->shape == JSONSTREAM_ARRAY && c == '[') {
		js_open(s, '[');
		s->pos++;
		s->state = JS_ARRAY_OPEN;
		return JS_CONTINUE;
	}
	if (s->shape == JSONSTREAM_WRAPPER && c == '{')
		return js_object(s, out);
	if (s->shape == JSONSTREAM_OBJECT && c == '{') {
		js_begin(s);
		rc = js_value(s, 0, 0);
		if (rc != SCAN_DONE)
			return js_broken(s, rc, 1);
		return js_emit(s, out);
	}
	return js_fail(s, LR_EFORMAT, s->line, 0, "unexpected %s after the end of the %s",
		       js_byte_name(name, c), s->shape == JSONSTREAM_ARRAY ? "array" : "object");
}

/* JSON lines: the record on the next non-blank line. */
static int js_line(struct jsonstream *s, struct jsonstream_record *out)
{
	char name[16];
	unsigned char c;
	int rc;

	s->depth = 0;
	rc = js_skip_space(s);
	if (rc < 0)
		return rc;
	if (rc > 0) {
		s->state = JS_END;
		return 0;
	}
	js_begin(s);
	c = s->chunk[s->pos];
	if (c != '{' && c != '[') {
		rc = js_skip_line(s);
		return rc < 0 ? rc : js_reject(s, "not JSON: expected '{' or '['");
	}
	rc = js_scan(s, 0, 1);
	if (rc < 0)
		return rc;
	if (rc == SCAN_NEWLINE)
		return js_reject(s, "record is not closed at the end of the line");
	if (rc == SCAN_EOF)
		return js_reject(s, "record is not closed at the end of the file");
	if (rc == SCAN_MISMATCH) {
		rc = js_skip_line(s);
		if (rc < 0)
			return rc;
		if (s->bad_expected)
			return js_reject(s, "unexpected %s, expected '%c'",
					 js_byte_name(name, s->bad), s->bad_expected);
		return js_reject(s, "unexpected %s", js_byte_name(name, s->bad));
	}
	/* The rest of the line must be blank. */
	for (;;) {
		if (s->pos == s->end) {
			rc = js_fill(s);
			if (rc < 0)
				return rc;
			if (rc > 0)
				break;
		}
		c = s->chunk[s->pos];
		if (c == '\n')
			break;
		if (c != ' ' && c != '\t' && c != '\r') {
			rc = js_skip_line(s);
			return rc < 0 ? rc : js_reject(s, "unexpected %s after the record",
						       js_byte_name(name, c));
		}
		s->pos++;
	}
	return js_emit(s, out);
}

/* Copies the NULL-terminated keys into one block owned by the stream. */
static char **js_copy_keys(const char *const *keys)
{
	size_t n = 0, bytes = 0, i;
	char **copy, *text;

	for (i = 0; keys[i]; i++) {
		n++;
		bytes += strlen(keys[i]) + 1;
	}
	copy = malloc((n + 1) * sizeof(*copy) + bytes);
	if (!copy)
		return NULL;
	text = (char *)(copy + n + 1);
	for (i = 0; i < n; i++) {
		size_t len = strlen(keys[i]) + 1;

		memcpy(text, keys[i], len);
		copy[i] = text;
		text += len;
	}
	copy[n] = NULL;
	return copy;
}

int jsonstream_open(struct jsonstream **out, const struct jsonstream_options *opts,
		    jsonstream_read_fn read, void *ctx)
{
	struct jsonstream *s = NULL;
	int rc = LR_ENOMEM;

	assert(out && read);
	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		goto out;
	s->read = read;
	s->ctx = ctx;
	s->max_record = opts && opts->max_record ? opts->max_record : JS_DEFAULT_MAX_RECORD;
	if (s->max_record > SIZE_MAX / 4)
		s->max_record = SIZE_MAX / 4;
	s->max_depth = opts && opts->max_depth ? opts->max_depth : JS_DEFAULT_MAX_DEPTH;
	if (s->max_depth > SIZE_MAX / 4)
		s->max_depth = SIZE_MAX / 4;
	/* A record starts at most two levels down (inside a wrapper's array). */
	s->kind_levels = s->max_depth + 2 < JS_KIND_LEVELS ? s->max_depth + 2 : JS_KIND_LEVELS;
	s->line = 1;
	s->shape = JSONSTREAM_UNKNOWN;
	s->state = JS_START;
	if (opts && opts->wrapper_keys) {
		s->wrapper_keys = js_copy_keys(opts->wrapper_keys);
		if (!s->wrapper_keys)
			goto out;
	}
	s->kinds = calloc((s->kind_levels + 63) / 64, sizeof(*s->kinds));
	s->chunk = malloc(JS_CHUNK);
	if (!s->kinds || !s->chunk)
		goto out;
	*out = s;
	s = NULL;
	rc = 0;
out:
	jsonstream_close(s);
	return rc;
}

int jsonstream_next(struct jsonstream *s, struct jsonstream_record *out, struct lr_error *err)
{
	int rc;

	assert(s && out);
	do {
		switch (s->state) {
		case JS_START:
			rc = js_start(s, out);
			break;
		case JS_ARRAY_OPEN:
		case JS_ARRAY_NEXT:
		case JS_ARRAY_AFTER:
			rc = js_array(s, out);
			break;
		case JS_WRAPPER_REST:
			rc = js_wrapper_rest(s);
			break;
		case JS_TOP_AFTER:
			rc = js_top_after(s, out);
			break;
		case JS_LINES:
			rc = js_line(s, out);
			break;
		case JS_FAILED:
			rc = s->fatal.code;
			break;
		case JS_END:
		default:
			rc = 0;
			break;
		}
	} while (rc == JS_CONTINUE);

	if (rc < 0) {
		const struct lr_error *why = rc == LR_EINVAL ? &s->reject : &s->fatal;

		lr_error_set(err, rc, "%s", why->text);
		lr_error_where(err, NULL, why->line, why->record);
	}
	return rc;
}

enum jsonstream_shape jsonstream_shape(const struct jsonstream *s)
{
	return s->shape;
}

void jsonstream_close(struct jsonstream *s)
{
	if (!s)
		return;
	free(s->wrapper_keys);
	free(s->rec);
	free(s->kinds);
	free(s->chunk);
	free(s);
}
