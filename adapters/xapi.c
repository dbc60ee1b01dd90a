/*
 * xapi.c (adapters): reading xAPI statement files (see adapters/xapi.h).
 */
#include "adapters/xapi.h"
#include "adapters/jsonstream.h"
#include "lrs/error.h"

#include <jansson.h>

#include <stdlib.h>
#include <string.h>

struct xapi_state {
	struct jsonstream *stream;
};

static int xapi_sniff(const char *head, size_t len)
{
	size_t i = 0;

	if (len >= 3 && (unsigned char)head[0] == 0xEF && (unsigned char)head[1] == 0xBB &&
	    (unsigned char)head[2] == 0xBF)
		i = 3;
	while (i < len && (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n'))
		i++;
	if (i == len || (head[i] != '[' && head[i] != '{'))
		return 0;
	/* JSON; the more it looks like statements, the surer. */
	if (memmem(head, len, "\"verb\"", 6) || memmem(head, len, "\"statements\"", 12))
		return 90;
	if (memmem(head, len, "\"actor\"", 7))
		return 70;
	return 20;
}

static int xapi_open(void **state, struct lr_error *err, const struct adapter_input *in)
{
	static const char *const wrapper_keys[] = { "statements", NULL };
	struct jsonstream_options opts = { .wrapper_keys = wrapper_keys };
	struct xapi_state *st = calloc(1, sizeof(*st));

	*state = NULL;
	if (!st)
		return lr_error_set(err, LR_ENOMEM, "out of memory");
	if (jsonstream_open(&st->stream, &opts, (jsonstream_read_fn)in->read, in->ctx) != 0) {
		free(st);
		return lr_error_set(err, LR_ENOMEM, "out of memory");
	}
	*state = st;
	return 0;
}

static int xapi_next(void *state, struct adapter_item *item, struct lr_error *err)
{
	struct xapi_state *st = state;
	struct jsonstream_record rec;
	json_error_t jerr;
	json_t *value;
	int rc;

	memset(item, 0, sizeof(*item));
	rc = jsonstream_next(st->stream, &rec, err);
	if (rc <= 0)
		return rc;
	item->line = rec.line;
	item->record = rec.index;
	item->raw = rec.text;
	item->raw_len = rec.len;
	value = json_loadb(rec.text, rec.len, JSON_REJECT_DUPLICATES, &jerr);
	if (!value) {
		lr_error_where(err, NULL, rec.line + (jerr.line > 1 ? jerr.line - 1 : 0), rec.index);
		return lr_error_set(err, LR_EINVAL, "not valid JSON: %s", jerr.text);
	}
	if (!json_is_object(value)) {
		json_decref(value);
		lr_error_where(err, NULL, rec.line, rec.index);
		return lr_error_set(err, LR_EINVAL, "a statement must be a JSON object");
	}
	item->kind = ADAPTER_STATEMENT;
	item->statement = value;
	return 1;
}

static void xapi_close(void *state)
{
	struct xapi_state *st = state;

	if (!st)
		return;
	jsonstream_close(st->stream);
	free(st);
}

const struct adapter adapter_xapi = {
	.name = "xapi",
	.description = "xAPI statements: JSON array, single statement, StatementResult or JSON lines",
	.sniff = xapi_sniff,
	.open = xapi_open,
	.next = xapi_next,
	.close = xapi_close,
};
