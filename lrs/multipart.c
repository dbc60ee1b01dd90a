/*
 * multipart.c: the streaming multipart/form-data parser (see multipart.h).
 *
 * A body is: a preamble, "--BOUNDARY", then parts, each "CRLF headers CRLF
 * content" followed by the delimiter "CRLF--BOUNDARY", and finally "--"
 * and an epilogue. The content is scanned for the delimiter with memchr for
 * its CR and a byte-by-byte match after it. As the boundary holds no CR,
 * a failed match can only restart at a CR: the bytes matched so far are
 * content. A match cut by the end of a feed is carried to the next one
 * (the carried bytes are a prefix of the delimiter, so they need no
 * buffer of their own).
 */
#include "multipart.h"
#include "error.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum mp_state {
	MP_PREAMBLE,    /* before the first delimiter: bytes ignored */
	MP_AFTER_DELIM, /* just after "--BOUNDARY": "--", padding or a line end */
	MP_CLOSE_DASH,  /* after "--BOUNDARY-": the second dash */
	MP_PADDING,     /* spaces and tabs after the boundary */
	MP_AFTER_CR,    /* the CR of the boundary's line end */
	MP_HEADERS,     /* a part's header lines */
	MP_BODY,        /* a part's content */
	MP_EPILOGUE,    /* after the closing delimiter: bytes ignored */
	MP_FAILED
};

struct multipart_parser {
	enum mp_state state;
	int failed_code;
	char delim[4 + MULTIPART_BOUNDARY_MAX + 1]; /* "\r\n--BOUNDARY" */
	size_t dlen;
	size_t m;                  /* bytes of delim matched */
	int carried;               /* the match began in an earlier feed */
	size_t offset;             /* bytes fed before the current feed */
	size_t parts, max_parts;
	struct multipart_part_info info;
	char line[MULTIPART_HEADERS_MAX + 1];
	size_t line_len;           /* bytes of the current header line */
	size_t line_at;            /* where it starts in the body */
	size_t header_bytes;       /* bytes of the current header block */
	size_t header_lines;
	const struct multipart_callbacks *cb;
	void *ctx;
};

static int valid_boundary(const char *b)
{
	size_t n = strlen(b), i;

	if (n < 1 || n > MULTIPART_BOUNDARY_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (b[i] == '\r' || b[i] == '\n' || b[i] == '\0')
			return 0;
	return 1;
}

int multipart_boundary(char *out, size_t out_size, struct lr_error *err, const char *content_type)
{
	const char *p = content_type;
	size_t n = 0;

	if (!p)
		return lr_error_set(err, LR_EINVAL, "no Content-Type: use multipart/form-data");
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "multipart/form-data", 19) != 0 ||
	    (p[19] != '\0' && p[19] != ';' && p[19] != ' ' && p[19] != '\t'))
		return lr_error_set(err, LR_EINVAL, "Content-Type is not multipart/form-data");
	p += 19;
	for (;;) {
		const char *name;
		size_t name_len;

		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		if (*p == '\0')
			break;
		name = p;
		while (*p && *p != '=' && *p != ';' && *p != ' ' && *p != '\t')
			p++;
		name_len = (size_t)(p - name);
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '=') {
			while (*p && *p != ';')
				p++;
			continue;
		}
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (name_len == 8 && strncasecmp(name, "boundary", 8) == 0) {
			if (*p == '"') {
				for (p++; *p && *p != '"'; p++) {
					if (*p == '\\' && p[1])
						p++;
					if (n + 1 >= out_size || n >= MULTIPART_BOUNDARY_MAX)
						return lr_error_set(err, LR_EINVAL,
								    "the multipart boundary is longer than %d characters",
								    MULTIPART_BOUNDARY_MAX);
					out[n++] = *p;
				}
				if (*p != '"')
					return lr_error_set(err, LR_EINVAL, "the multipart boundary's quote is not closed");
			} else {
				for (; *p && *p != ';' && *p != ' ' && *p != '\t'; p++) {
					if (n + 1 >= out_size || n >= MULTIPART_BOUNDARY_MAX)
						return lr_error_set(err, LR_EINVAL,
								    "the multipart boundary is longer than %d characters",
								    MULTIPART_BOUNDARY_MAX);
					out[n++] = *p;
				}
			}
			out[n] = '\0';
			if (n == 0 || !valid_boundary(out))
				return lr_error_set(err, LR_EINVAL, "the multipart boundary is empty or has a line break");
			return 0;
		}
		/* Another parameter: skip its value. */
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++)
				if (*p == '\\' && p[1])
					p++;
			if (*p == '"')
				p++;
		} else {
			while (*p && *p != ';')
				p++;
		}
	}
	return lr_error_set(err, LR_EINVAL, "Content-Type multipart/form-data has no boundary");
}

int multipart_new(struct multipart_parser **out, struct lr_error *err, const char *boundary,
		  size_t max_parts, const struct multipart_callbacks *cb, void *ctx)
{
	struct multipart_parser *p;
	static const struct multipart_callbacks none = { NULL, NULL, NULL };

	*out = NULL;
	if (!boundary || !valid_boundary(boundary))
		return lr_error_set(err, LR_EINVAL, "the multipart boundary must be 1 to %d characters without line breaks",
				    MULTIPART_BOUNDARY_MAX);
	p = calloc(1, sizeof(*p));
	if (!p)
		return lr_error_set(err, LR_ENOMEM, "out of memory");
	p->dlen = (size_t)snprintf(p->delim, sizeof(p->delim), "\r\n--%s", boundary);
	p->state = MP_PREAMBLE;
	p->m = 2; /* the body may start with "--BOUNDARY" at once: as if after a CRLF */
	p->max_parts = max_parts ? max_parts : 64;
	p->cb = cb ? cb : &none;
	p->ctx = ctx;
	*out = p;
	return 0;
}

void multipart_free(struct multipart_parser *p)
{
	free(p);
}

static int fail_at(struct multipart_parser *p, struct lr_error *err, int code, size_t where,
		   const char *what)
{
	lr_error_set(err, code, "multipart body, byte %zu: %s", where, what);
	p->state = MP_FAILED;
	p->failed_code = code;
	return code;
}

static int fail(struct multipart_parser *p, struct lr_error *err, int code, size_t at,
		const char *what)
{
	lr_error_set(err, code, "multipart body, byte %zu: %s", p->offset + at, what);
	p->state = MP_FAILED;
	p->failed_code = code;
	return code;
}

/* Stops the parser with a callback's code (the callback set err, or gets a generic message). */
static int stop(struct multipart_parser *p, struct lr_error *err, int code)
{
	lr_error_set(err, code, "multipart body: stopped by its reader");
	p->state = MP_FAILED;
	p->failed_code = code;
	return code;
}

/* Copies a header parameter value (quoted string or token) at *pp into out. 0, or -1 if too long. */
static int param_value(const char **pp, char *out, size_t out_size)
{
	const char *p = *pp;
	size_t n = 0;

	if (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			/* Backslash escapes only a quote or a backslash: a Windows path keeps its backslashes. */
			if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
				p++;
			if (n + 1 >= out_size)
				return -1;
			out[n++] = *p;
		}
		if (*p == '"')
			p++;
	} else {
		for (; *p && *p != ';' && *p != ' ' && *p != '\t'; p++) {
			if (n + 1 >= out_size)
				return -1;
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	*pp = p;
	return 0;
}

/* Reads one header line (without its line end) into p->info. */
static int header_line(struct multipart_parser *p, struct lr_error *err)
{
	size_t at = p->line_at;

	char *line = p->line, *colon = strchr(line, ':'), *v;
	size_t name_len, i;

	if (!colon || colon == line)
		return fail_at(p, err, LR_EINVAL, at, "a part's header line has no 'name:'");
	name_len = (size_t)(colon - line);
	for (i = 0; i < name_len; i++)
		if (!isgraph((unsigned char)line[i]))
			return fail_at(p, err, LR_EINVAL, at, "a part's header name has a space or control character");
	v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	if (name_len == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
		size_t n = strlen(v);
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		if (n >= sizeof(p->info.content_type))
			return fail_at(p, err, LR_ELIMIT, at, "a part's Content-Type is too long");
		memcpy(p->info.content_type, v, n);
		p->info.content_type[n] = '\0';
	} else if (name_len == 19 && strncasecmp(line, "Content-Disposition", 19) == 0) {
		const char *q = v;
		while (*q && *q != ';')
			q++;
		while (*q) {
			const char *pname;
			size_t pname_len;
			char skip[MULTIPART_NAME_MAX];

			while (*q == ';' || *q == ' ' || *q == '\t')
				q++;
			if (!*q)
				break;
			pname = q;
			while (*q && *q != '=' && *q != ';' && *q != ' ' && *q != '\t')
				q++;
			pname_len = (size_t)(q - pname);
			while (*q == ' ' || *q == '\t')
				q++;
			if (*q != '=')
				continue;
			q++;
			while (*q == ' ' || *q == '\t')
				q++;
			if (pname_len == 4 && strncasecmp(pname, "name", 4) == 0) {
				if (param_value(&q, p->info.name, sizeof(p->info.name)) != 0)
					return fail_at(p, err, LR_ELIMIT, at, "a part's name is too long");
			} else if (pname_len == 8 && strncasecmp(pname, "filename", 8) == 0) {
				if (param_value(&q, p->info.filename, sizeof(p->info.filename)) != 0)
					return fail_at(p, err, LR_ELIMIT, at, "a part's filename is too long");
				p->info.has_filename = 1;
			} else if (param_value(&q, skip, sizeof(skip)) != 0) {
				return fail_at(p, err, LR_ELIMIT, at, "a Content-Disposition parameter is too long");
			}
		}
	}
	return 0;
}

/*
 * Scans data[*i..len) for the delimiter, in the preamble (ignoring what is
 * before it) or in a part's content (handing it to on_data). Stops after a
 * whole delimiter (state MP_AFTER_DELIM) or at the end of the data.
 */
static int scan(struct multipart_parser *p, struct lr_error *err, const char *data, size_t len,
		size_t *ip)
{
	int content = p->state == MP_BODY;
	size_t i = *ip, run = i, match_start = i;
	int rc;

#define EMIT(ptr, n) do { \
		if (content && (n) > 0 && p->cb->on_data && \
		    (rc = p->cb->on_data(p->ctx, err, (ptr), (n))) != 0) \
			return stop(p, err, rc); \
	} while (0)

	while (i < len) {
		if (p->m == 0) {
			const char *cr = memchr(data + i, '\r', len - i);
			if (!cr) {
				i = len;
				break;
			}
			i = (size_t)(cr - data);
			match_start = i;
			p->carried = 0;
			p->m = 1;
			i++;
			continue;
		}
		if (data[i] == p->delim[p->m]) {
			p->m++;
			i++;
			if (p->m == p->dlen) {
				if (!p->carried)
					EMIT(data + run, match_start - run);
				p->m = 0;
				p->carried = 0;
				if (content && p->cb->on_part_end && (rc = p->cb->on_part_end(p->ctx, err)) != 0)
					return stop(p, err, rc);
				p->state = MP_AFTER_DELIM;
				*ip = i;
				return 0;
			}
			continue;
		}
		/* Not the delimiter: what matched is content. */
		if (p->carried) {
			EMIT(p->delim, p->m);
			run = i;
			p->carried = 0;
		}
		p->m = 0;
		if (data[i] == '\r') {
			match_start = i;
			p->m = 1;
			i++;
		}
	}
	/* The end of this feed: keep a partial match for the next one. */
	if (p->m > 0 && !p->carried) {
		EMIT(data + run, match_start - run);
		p->carried = 1;
	} else if (p->m == 0) {
		EMIT(data + run, len - run);
	}
#undef EMIT
	*ip = len;
	return 0;
}

static int begin_headers(struct multipart_parser *p, struct lr_error *err, size_t at)
{
	if (++p->parts > p->max_parts)
		return fail(p, err, LR_ELIMIT, at, "more parts than allowed");
	memset(&p->info, 0, sizeof(p->info));
	p->line_len = 0;
	p->header_bytes = 0;
	p->header_lines = 0;
	p->state = MP_HEADERS;
	return 0;
}

int multipart_feed(struct multipart_parser *p, struct lr_error *err, const char *data, size_t len)
{
	size_t i = 0;
	int rc;

	if (p->state == MP_FAILED)
		return lr_error_set(err, p->failed_code, "multipart body: the parser stopped at an earlier error");
	while (i < len) {
		char c = data[i];

		switch (p->state) {
		case MP_PREAMBLE:
		case MP_BODY:
			if ((rc = scan(p, err, data, len, &i)) != 0)
				return rc;
			break;
		case MP_AFTER_DELIM:
			i++;
			if (c == '-')
				p->state = MP_CLOSE_DASH;
			else if (c == ' ' || c == '\t')
				p->state = MP_PADDING;
			else if (c == '\r')
				p->state = MP_AFTER_CR;
			else if (c == '\n') {
				if ((rc = begin_headers(p, err, i)) != 0)
					return rc;
			} else
				return fail(p, err, LR_EINVAL, i - 1, "the boundary line goes on after the boundary");
			break;
		case MP_CLOSE_DASH:
			i++;
			if (c != '-')
				return fail(p, err, LR_EINVAL, i - 1, "the boundary line goes on after the boundary");
			p->state = MP_EPILOGUE;
			break;
		case MP_PADDING:
			i++;
			if (c == '\r')
				p->state = MP_AFTER_CR;
			else if (c == '\n') {
				if ((rc = begin_headers(p, err, i)) != 0)
					return rc;
			} else if (c != ' ' && c != '\t')
				return fail(p, err, LR_EINVAL, i - 1, "the boundary line goes on after the boundary");
			break;
		case MP_AFTER_CR:
			i++;
			if (c != '\n')
				return fail(p, err, LR_EINVAL, i - 1, "a CR after the boundary is not followed by LF");
			if ((rc = begin_headers(p, err, i)) != 0)
				return rc;
			break;
		case MP_HEADERS:
			i++;
			if (++p->header_bytes > MULTIPART_HEADERS_MAX)
				return fail(p, err, LR_ELIMIT, i - 1, "a part's headers are longer than 8192 bytes");
			if (c != '\n') {
				if (p->line_len == 0)
					p->line_at = p->offset + i - 1;
				if (c == '\0')
					return fail(p, err, LR_EINVAL, i - 1, "a part's headers have a NUL byte");
				p->line[p->line_len++] = c;
				break;
			}
			if (p->line_len > 0 && p->line[p->line_len - 1] == '\r')
				p->line_len--;
			p->line[p->line_len] = '\0';
			if (p->line_len == 0) {
				/* The blank line: the content follows. */
				if (p->cb->on_part && (rc = p->cb->on_part(p->ctx, err, &p->info)) != 0)
					return stop(p, err, rc);
				p->state = MP_BODY;
				p->m = 0;
				p->carried = 0;
				break;
			}
			if (p->line[0] == ' ' || p->line[0] == '\t')
				return fail(p, err, LR_EINVAL, i - 1, "folded header lines are not allowed in a part");
			if (++p->header_lines > MULTIPART_HEADER_LINES)
				return fail(p, err, LR_ELIMIT, i - 1, "a part has more than 32 header lines");
			if ((rc = header_line(p, err)) != 0)
				return rc;
			p->line_len = 0;
			break;
		case MP_EPILOGUE:
			i = len;
			break;
		case MP_FAILED:
			return p->failed_code;
		}
	}
	p->offset += len;
	return 0;
}

int multipart_finish(struct multipart_parser *p, struct lr_error *err)
{
	switch (p->state) {
	case MP_EPILOGUE:
		return 0;
	case MP_FAILED:
		return lr_error_set(err, p->failed_code, "multipart body: the parser stopped at an earlier error");
	case MP_PREAMBLE:
		return fail(p, err, LR_EINVAL, 0, "no boundary line: the body is not multipart with this boundary");
	default:
		return fail(p, err, LR_EINVAL, 0, "the body ends without the closing boundary (truncated upload?)");
	}
}

/* ---- the whole-buffer form ---- */

struct collect {
	struct multipart_part *parts;
	size_t max, n;
	int open;
};

static int collect_part(void *ctx, struct lr_error *err, const struct multipart_part_info *info)
{
	struct collect *c = ctx;

	if (c->n >= c->max)
		return lr_error_set(err, LR_ELIMIT, "multipart body: more than %zu parts", c->max);
	memset(&c->parts[c->n], 0, sizeof(c->parts[0]));
	c->parts[c->n].info = *info;
	c->open = 1;
	return 0;
}

static int collect_data(void *ctx, struct lr_error *err, const char *data, size_t len)
{
	struct collect *c = ctx;
	struct multipart_part *part = &c->parts[c->n];

	/* Fed in one piece, a part's content is one span of the body. */
	if (part->body && data != part->body + part->body_len)
		return lr_error_set(err, LR_EINVAL, "multipart body: a part's content is not contiguous");
	if (!part->body)
		part->body = data;
	part->body_len += len;
	return 0;
}

static int collect_end(void *ctx, struct lr_error *err)
{
	struct collect *c = ctx;

	(void)err;
	c->n++;
	c->open = 0;
	return 0;
}

int multipart_parse(struct multipart_part *parts, size_t max_parts, size_t *n_parts,
		    struct lr_error *err, const char *body, size_t len, const char *boundary)
{
	static const struct multipart_callbacks cb = { collect_part, collect_data, collect_end };
	struct collect c = { parts, max_parts, 0, 0 };
	struct multipart_parser *p = NULL;
	int rc;

	*n_parts = 0;
	if ((rc = multipart_new(&p, err, boundary, max_parts ? max_parts : 1, &cb, &c)) != 0)
		return rc;
	if ((rc = multipart_feed(p, err, body, len)) == 0)
		rc = multipart_finish(p, err);
	multipart_free(p);
	if (rc == 0)
		*n_parts = c.n;
	return rc;
}
