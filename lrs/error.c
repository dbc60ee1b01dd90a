/*
 * error.c: filling and formatting struct lr_error without allocating.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void lr_error_clear(struct lr_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

int lr_error_set(struct lr_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err || err->code != 0)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	return code;
}

void lr_error_field(struct lr_error *err, const char *field)
{
	if (!err || err->field[0] || !field)
		return;
	snprintf(err->field, sizeof(err->field), "%s", field);
}

void lr_error_where(struct lr_error *err, const char *source, long line, long record)
{
	if (!err)
		return;
	if (source)
		snprintf(err->source, sizeof(err->source), "%s", source);
	err->line = line;
	err->record = record;
}

const char *lr_error_format(const struct lr_error *err, char *buf, size_t size)
{
	size_t used = 0;
	int n;

	if (size == 0)
		return buf;
	buf[0] = '\0';
#define APPEND(...) do { \
		n = snprintf(buf + used, size - used, __VA_ARGS__); \
		if (n < 0 || (size_t)n >= size - used) return buf; \
		used += (size_t)n; \
	} while (0)
	if (err->source[0]) {
		APPEND("%s", err->source);
		if (err->line > 0)
			APPEND(":%ld", err->line);
		APPEND(": ");
	} else if (err->line > 0) {
		APPEND("line %ld: ", err->line);
	}
	if (err->record > 0)
		APPEND("record %ld: ", err->record);
	if (err->field[0])
		APPEND("%s: ", err->field);
	APPEND("%s", err->text[0] ? err->text : lr_strerror(err->code));
#undef APPEND
	return buf;
}

const char *lr_strerror(int code)
{
	switch (code) {
	case LR_OK: return "no error";
	case LR_EINVAL: return "invalid input";
	case LR_ENOMEM: return "out of memory";
	case LR_EIO: return "input/output error";
	case LR_EDB: return "store error";
	case LR_ECONFLICT: return "conflicting statement";
	case LR_ENOTFOUND: return "not found";
	case LR_ELIMIT: return "limit exceeded";
	case LR_EFORMAT: return "unknown format";
	case LR_EEXISTS: return "already exists";
	case LR_EBUSY: return "store busy";
	case LR_EVERSION: return "store made by a newer lrhub";
	}
	return "unknown error";
}
