/*
 * jsonfast.c: single-pass JSON parser building jansson values (see
 * jsonfast.h).
 *
 * The rules are jansson 2.14's (src/load.c, src/utf.c):
 *   - whitespace is space, tab, newline and carriage return;
 *   - the text is one object or array (no top-level scalar without
 *     JSON_DECODE_ANY) and nothing but whitespace after it;
 *   - a value at nesting depth above 2048 (the top value being depth 1) is
 *     refused (JSON_PARSER_MAX_DEPTH);
 *   - numbers: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?; a real iff
 *     it has '.', 'e' or 'E'; integers as strtoll reads them (out of range is
 *     an error), reals as strtod (overflow to infinity is an error, underflow
 *     is not);
 *   - strings: valid UTF-8 only (no overlong forms, no encoded surrogates,
 *     nothing above U+10FFFF), no unescaped byte below 0x20, escapes
 *     \" \\ \/ \b \f \n \r \t \uXXXX with surrogate pairs, no U+0000 (in
 *     values or keys);
 *   - keys keep their order of first appearance; a repeated key replaces
 *     the value (json_object_setn_new_nocheck), or is an error under
 *     JSON_REJECT_DUPLICATES.
 * One quirk is left to jansson rather than copied: its lexer skips a NUL
 * byte that ends a number or a word ("[1\0]" reads as [1]); here any NUL
 * outside a string is refused, and jansson then reads the text its own way.
 * Whatever this parser does not accept it gives to json_loadb, so it needs
 * no error messages of its own: it only has to be right whenever it
 * succeeds.
 *
 * Containers are inserted into their parent as soon as they open and kept
 * on an explicit stack (on the C stack up to LOCAL_DEPTH levels, then on the
 * heap), so deep input costs no recursion. Strings without escapes are
 * passed to jansson straight from the input; escaped ones are decoded into a
 * reused scratch buffer.
 */
#include "lrs/jsonfast.h"

#include <jansson.h>

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 2048          /* jansson's JSON_PARSER_MAX_DEPTH */
#define LOCAL_DEPTH 64          /* containers kept on the C stack */
#define SCRATCH_LOCAL 512       /* decoded string bytes kept on the C stack */
#define NUMBER_LOCAL 64         /* number text copied on the C stack for strtod */

/* A buffer for decoded strings: local storage first, the heap when longer. */
struct scratch {
	char *data;
	size_t cap;
	char local[SCRATCH_LOCAL];
};

static void scratch_init(struct scratch *s)
{
	s->data = s->local;
	s->cap = sizeof(s->local);
}

static void scratch_release(struct scratch *s)
{
	if (s->data != s->local)
		free(s->data);
}

/* At least n bytes, or NULL (out of memory). Earlier contents are not kept. */
static char *scratch_reserve(struct scratch *s, size_t n)
{
	char *d;

	if (n <= s->cap)
		return s->data;
	d = malloc(n);
	if (!d)
		return NULL;
	scratch_release(s);
	s->data = d;
	s->cap = n;
	return d;
}

/* 1 for the bytes a string may hold as they are: ASCII 0x20..0x7f but '"' and '\\'. */
static const unsigned char plain[256] = {
	['\x20'] = 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/*
 * Non-zero if one of the 8 bytes of v may not be plain: a byte >= 0x80,
 * below 0x20, '"' or '\\' (may say so when all are plain, never the other
 * way round).
 */
static inline uint64_t not_all_plain(uint64_t v)
{
	uint64_t below_space = (v - ONES * 0x20) & ~v;
	uint64_t quote = v ^ (ONES * '"'), backslash = v ^ (ONES * '\\');

	return (v | below_space | ((quote - ONES) & ~quote) | ((backslash - ONES) & ~backslash)) & HIGHS;
}

#define IS_DIGIT(c) ((unsigned)(c) - '0' < 10u)
#define IS_SPACE(c) ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t')

static const unsigned char *skip_space(const unsigned char *p, const unsigned char *end)
{
	while (p < end && IS_SPACE(*p))
		p++;
	return p;
}

/*
 * The length of the valid multi-byte UTF-8 sequence at p (lead byte >= 0x80),
 * or 0: jansson's utf8_check_first + utf8_check_full.
 */
static size_t utf8_length(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0];
	size_t have = (size_t)(end - p);

	if (c < 0xC2)           /* continuation byte, or overlong C0/C1 */
		return 0;
	if (c < 0xE0)
		return have >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c < 0xF0) {
		if (have < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && p[1] < 0xA0)   /* overlong */
			return 0;
		if (c == 0xED && p[1] >= 0xA0)  /* U+D800..U+DFFF */
			return 0;
		return 3;
	}
	if (c < 0xF5) {
		if (have < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
		    (p[3] & 0xC0) != 0x80)
			return 0;
		if (c == 0xF0 && p[1] < 0x90)   /* overlong */
			return 0;
		if (c == 0xF4 && p[1] >= 0x90)  /* above U+10FFFF */
			return 0;
		return 4;
	}
	return 0;
}

/* The value of 4 hex digits at p, or -1. */
static long hex4(const unsigned char *p)
{
	long v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		unsigned c = p[i];
		v <<= 4;
		if (IS_DIGIT(c))
			v += c - '0';
		else if (c >= 'a' && c <= 'f')
			v += c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v += c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/*
 * Decodes the escaped string body [p, end) (end is the closing quote, every
 * byte outside escapes already checked) into s. 0, or -1 if jansson would
 * refuse it (bad escape, lone surrogate, U+0000) or memory ran out.
 */
static int decode_escapes(struct scratch *s, const unsigned char *p, const unsigned char *end,
			  const char **out, size_t *out_len)
{
	char *t = scratch_reserve(s, (size_t)(end - p));
	char *start = t;
	long cp, lo;

	if (!t)
		return -1;
	while (p < end) {
		if (*p != '\\') {
			*t++ = (char)*p++;
			continue;
		}
		p++;                    /* the byte after '\\' is before end: checked by the scan */
		switch (*p) {
		case '"': case '\\': case '/': *t++ = (char)*p; p++; continue;
		case 'b': *t++ = '\b'; p++; continue;
		case 'f': *t++ = '\f'; p++; continue;
		case 'n': *t++ = '\n'; p++; continue;
		case 'r': *t++ = '\r'; p++; continue;
		case 't': *t++ = '\t'; p++; continue;
		case 'u': break;
		default: return -1;
		}
		if (end - p < 5 || (cp = hex4(p + 1)) < 0)
			return -1;
		p += 5;
		if (cp >= 0xD800 && cp <= 0xDBFF) {
			if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || (lo = hex4(p + 2)) < 0 ||
			    lo < 0xDC00 || lo > 0xDFFF)
				return -1;
			p += 6;
			cp = ((cp - 0xD800) << 10) + (lo - 0xDC00) + 0x10000;
		} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
			return -1;
		} else if (cp == 0) {
			return -1;
		}
		if (cp < 0x80) {
			*t++ = (char)cp;
		} else if (cp < 0x800) {
			*t++ = (char)(0xC0 | (cp >> 6));
			*t++ = (char)(0x80 | (cp & 0x3F));
		} else if (cp < 0x10000) {
			*t++ = (char)(0xE0 | (cp >> 12));
			*t++ = (char)(0x80 | ((cp >> 6) & 0x3F));
			*t++ = (char)(0x80 | (cp & 0x3F));
		} else {
			*t++ = (char)(0xF0 | (cp >> 18));
			*t++ = (char)(0x80 | ((cp >> 12) & 0x3F));
			*t++ = (char)(0x80 | ((cp >> 6) & 0x3F));
			*t++ = (char)(0x80 | (cp & 0x3F));
		}
	}
	*out = start;
	*out_len = (size_t)(t - start);
	return 0;
}

/*
 * The string whose opening quote is at p[-1]: *out (in the input, or
 * decoded into s) and *out_len. Returns the position after the closing
 * quote, or NULL if jansson would refuse it.
 */
static const unsigned char *scan_string(const unsigned char *p, const unsigned char *end,
					struct scratch *s, const char **out, size_t *out_len)
{
	const unsigned char *start = p;
	int escaped = 0;

	for (;;) {
		size_t n;

		/* Eight plain bytes at a time, then byte by byte up to the next other one. */
		while (end - p >= 8) {
			uint64_t v;

			memcpy(&v, p, 8);
			if (!not_all_plain(v))
				p += 8;
			else
				break;
		}
		while (p < end && plain[*p])
			p++;
		if (p >= end)
			return NULL;
		if (*p == '"')
			break;
		if (*p == '\\') {
			if (end - p < 2)
				return NULL;
			escaped = 1;
			p += 2;         /* the escape itself is checked by decode_escapes */
			continue;
		}
		if (*p < 0x80)          /* a control character */
			return NULL;
		n = utf8_length(p, end);
		if (!n)
			return NULL;
		p += n;
	}
	if (!escaped) {
		*out = (const char *)start;
		*out_len = (size_t)(p - start);
	} else if (decode_escapes(s, start, p, out, out_len) != 0) {
		return NULL;
	}
	return p + 1;
}

/* Powers of ten a double holds exactly. */
static const double exact_pow10[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/*
 * The real written [start, end) (already checked against the grammar), as
 * strtod in the C locale reads it. When the significant digits make an
 * integer below 2^53 and the power of ten is exact, one correctly rounded
 * multiplication or division gives strtod's correctly rounded result;
 * otherwise strtod itself. -1 on overflow (jansson: "real number overflow")
 * or no memory.
 */
static int read_real(double *out, const unsigned char *start, const unsigned char *end)
{
	const unsigned char *p = start;
	uint64_t mantissa = 0;
	int digits = 0, negative = 0;
	long exponent = 0, exp_value = 0;
	char local[NUMBER_LOCAL], *text;
	size_t len = (size_t)(end - start);
	double v;

	if (*p == '-') {
		negative = 1;
		p++;
	}
	for (; p < end && IS_DIGIT(*p); p++) {
		if (mantissa || *p != '0')
			digits++;
		mantissa = mantissa * 10 + (unsigned)(*p - '0');
		if (digits > 15)
			goto slow;
	}
	if (p < end && *p == '.') {
		for (p++; p < end && IS_DIGIT(*p); p++) {
			if (mantissa || *p != '0')
				digits++;
			mantissa = mantissa * 10 + (unsigned)(*p - '0');
			exponent--;
			if (digits > 15)
				goto slow;
		}
	}
	if (p < end) {          /* 'e' or 'E' */
		int exp_negative = 0;

		p++;
		if (*p == '+' || *p == '-')
			exp_negative = *p++ == '-';
		for (; p < end; p++) {
			exp_value = exp_value * 10 + (*p - '0');
			if (exp_value > 1000)
				goto slow;
		}
		exponent += exp_negative ? -exp_value : exp_value;
	}
#if FLT_EVAL_METHOD == 0
	if (mantissa == 0) {
		*out = negative ? -0.0 : 0.0;
		return 0;
	}
	if (exponent >= -22 && exponent <= 22) {
		v = (double)mantissa;
		v = exponent < 0 ? v / exact_pow10[-exponent] : v * exact_pow10[exponent];
		*out = negative ? -v : v;
		return 0;
	}
#else
	(void)exact_pow10;
#endif
slow:
	text = len < sizeof(local) ? local : malloc(len + 1);
	if (!text)
		return -1;
	memcpy(text, start, len);
	text[len] = '\0';
	errno = 0;
	v = strtod(text, NULL);
	if (text != local)
		free(text);
	if ((v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE)
		return -1;
	*out = v;
	return 0;
}

/*
 * The number at p: a new integer or real in *out. Returns the position after
 * it, or NULL if jansson would refuse it (or memory ran out).
 */
static const unsigned char *scan_number(const unsigned char *p, const unsigned char *end,
					json_t **out)
{
	const unsigned char *start = p, *digits;
	uint64_t value = 0, limit = INT64_MAX;
	int real = 0;
	double d;

	if (*p == '-') {
		limit = (uint64_t)INT64_MAX + 1;
		p++;
	}
	digits = p;
	if (p >= end)
		return NULL;
	if (*p == '0') {
		p++;
		if (p < end && IS_DIGIT(*p))
			return NULL;
	} else if (IS_DIGIT(*p)) {
		while (p < end && IS_DIGIT(*p))
			p++;
	} else {
		return NULL;
	}
	if (p < end && *p == '.') {
		p++;
		if (p >= end || !IS_DIGIT(*p))
			return NULL;
		while (p < end && IS_DIGIT(*p))
			p++;
		real = 1;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || !IS_DIGIT(*p))
			return NULL;
		while (p < end && IS_DIGIT(*p))
			p++;
		real = 1;
	}
	if (real) {
		if (read_real(&d, start, p) != 0)
			return NULL;
		*out = json_real(d);
		return *out ? p : NULL;
	}
	for (; digits < p; digits++) {
		unsigned digit = (unsigned)(*digits - '0');
		if (value > (limit - digit) / 10)
			return NULL;    /* strtoll: ERANGE */
		value = value * 10 + digit;
	}
	if (*start != '-')
		*out = json_integer((json_int_t)value);
	else if (value == (uint64_t)INT64_MAX + 1)
		*out = json_integer(INT64_MIN);
	else
		*out = json_integer(-(json_int_t)value);
	return *out ? p : NULL;
}

/*
 * The tree of the text, or NULL wherever jansson's might differ (the caller
 * then asks jansson).
 */
static json_t *parse(const unsigned char *p, const unsigned char *end, size_t flags)
{
	json_t *local_stack[LOCAL_DEPTH];
	json_t **stack = local_stack;
	json_t *root = NULL, *value = NULL, *top;
	struct scratch key_buf, value_buf;
	size_t depth = 0;
	const char *key = NULL, *text;
	size_t key_len = 0, text_len;
	int in_object;

	scratch_init(&key_buf);
	scratch_init(&value_buf);
	p = skip_space(p, end);
	if (p >= end || (*p != '{' && *p != '['))
		goto fail;
	root = *p == '{' ? json_object() : json_array();
	if (!root)
		goto fail;
	p++;
	stack[depth++] = root;

opened:         /* just after the '{' or '[' of stack[depth - 1] */
	top = stack[depth - 1];
	in_object = json_is_object(top);
	p = skip_space(p, end);
	if (p >= end)
		goto fail;
	if (*p == (in_object ? '}' : ']')) {
		p++;
		goto closed;
	}

next:           /* at the next member or element of top */
	if (in_object) {
		if (*p != '"')
			goto fail;
		p = scan_string(p + 1, end, &key_buf, &key, &key_len);
		if (!p)
			goto fail;
		p = skip_space(p, end);
		if (p >= end || *p != ':')
			goto fail;
		p = skip_space(p + 1, end);
		if (p >= end)
			goto fail;
	}
	if (depth >= MAX_DEPTH)
		goto fail;
	switch (*p) {
	case '{':
	case '[':
		value = *p == '{' ? json_object() : json_array();
		p++;
		break;
	case '"':
		p = scan_string(p + 1, end, &value_buf, &text, &text_len);
		if (!p)
			goto fail;
		value = json_stringn_nocheck(text, text_len);
		break;
	case 't':
		if (end - p < 4 || memcmp(p, "true", 4) != 0)
			goto fail;
		value = json_true();
		p += 4;
		break;
	case 'f':
		if (end - p < 5 || memcmp(p, "false", 5) != 0)
			goto fail;
		value = json_false();
		p += 5;
		break;
	case 'n':
		if (end - p < 4 || memcmp(p, "null", 4) != 0)
			goto fail;
		value = json_null();
		p += 4;
		break;
	default:
		if (*p != '-' && !IS_DIGIT(*p))
			goto fail;
		p = scan_number(p, end, &value);
		if (!p)
			goto fail;
		break;
	}
	if (!value)
		goto fail;
	if (in_object) {
		size_t before = flags & JSON_REJECT_DUPLICATES ? json_object_size(top) : 0;

		/* json_object_setn_new_nocheck takes value over, also when it fails. */
		if (json_object_setn_new_nocheck(top, key, key_len, value) != 0)
			goto fail;
		if ((flags & JSON_REJECT_DUPLICATES) && json_object_size(top) == before)
			goto fail;
	} else if (json_array_append_new(top, value) != 0) {
		goto fail;
	}
	if (json_is_object(value) || json_is_array(value)) {
		if (depth == LOCAL_DEPTH && stack == local_stack) {
			stack = malloc(MAX_DEPTH * sizeof(*stack));
			if (!stack) {
				stack = local_stack;
				goto fail;
			}
			memcpy(stack, local_stack, sizeof(local_stack));
		}
		stack[depth++] = value;
		goto opened;
	}

after:          /* after a member or element of top */
	p = skip_space(p, end);
	if (p >= end)
		goto fail;
	if (*p == ',') {
		p = skip_space(p + 1, end);
		if (p >= end)
			goto fail;
		goto next;
	}
	if (*p != (in_object ? '}' : ']'))
		goto fail;
	p++;

closed:         /* after the '}' or ']' of stack[depth - 1] */
	if (--depth > 0) {
		top = stack[depth - 1];
		in_object = json_is_object(top);
		goto after;
	}
	if (skip_space(p, end) != end)
		goto fail;
	goto out;

fail:
	json_decref(root);
	root = NULL;
out:
	if (stack != local_stack)
		free(stack);
	scratch_release(&key_buf);
	scratch_release(&value_buf);
	return root;
}

json_t *jsonfast__parse(const char *buf, size_t len, size_t flags)
{
	if (!buf || (flags & ~(size_t)JSON_REJECT_DUPLICATES) != 0)
		return NULL;
	return parse((const unsigned char *)buf, (const unsigned char *)buf + len, flags);
}

json_t *jsonfast_loadb(const char *buf, size_t len, size_t flags, json_error_t *error)
{
	json_t *value = jsonfast__parse(buf, len, flags);

	if (!value)
		return json_loadb(buf, len, flags, error);
	if (error) {
		/* What json_loadb leaves in error after a success. */
		error->text[0] = '\0';
		error->line = -1;
		error->column = -1;
		error->position = (int)len;
		strcpy(error->source, "<buffer>");
	}
	return value;
}
