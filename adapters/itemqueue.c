/*
 * itemqueue.c: a queue of adapter items (see itemqueue.h). A growing array
 * with a read position; it is reset to empty whenever it has been drained.
 */
#include "adapters/itemqueue.h"
#include "lrs/error.h"

#include <jansson.h>

#include <stdlib.h>
#include <string.h>

struct entry {
	int rc;                 /* 1 item, LR_EINVAL reject */
	int kind;
	json_t *statement;
	char *key, *email, *course_key, *part_key, *raw;
	size_t raw_len;
	long line, record;
	struct lr_error err;
};

struct itemq {
	struct entry *entries;
	size_t n, cap, head;
	int popped;             /* entries[head - 1] was handed out and holds borrowed strings */
};

int itemq_new(struct itemq **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : LR_ENOMEM;
}

static void entry_free(struct entry *e)
{
	json_decref(e->statement);
	free(e->key);
	free(e->email);
	free(e->course_key);
	free(e->part_key);
	free(e->raw);
	memset(e, 0, sizeof(*e));
}

void itemq_free(struct itemq *q)
{
	size_t i;

	if (!q)
		return;
	for (i = 0; i < q->n; i++)
		entry_free(&q->entries[i]);
	free(q->entries);
	free(q);
}

static struct entry *push(struct itemq *q)
{
	struct entry *e;

	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		e = realloc(q->entries, cap * sizeof(*e));
		if (!e)
			return NULL;
		q->entries = e;
		q->cap = cap;
	}
	e = &q->entries[q->n++];
	memset(e, 0, sizeof(*e));
	return e;
}

static char *dup_or_null(const char *s, int *failed)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*failed = 1;
	return d;
}

int itemq_push_statement(struct itemq *q, json_t *statement, const char *course_key,
			 const char *part_key, long line, long record)
{
	struct entry *e = push(q);
	int failed = 0;

	if (!e) {
		json_decref(statement);
		return LR_ENOMEM;
	}
	e->rc = 1;
	e->kind = ADAPTER_STATEMENT;
	e->statement = statement;
	e->course_key = dup_or_null(course_key, &failed);
	e->part_key = dup_or_null(part_key, &failed);
	e->line = line;
	e->record = record;
	if (failed) {
		entry_free(e);
		q->n--;
		return LR_ENOMEM;
	}
	return 0;
}

int itemq_push_identity(struct itemq *q, const char *key, const char *email, long line,
			long record)
{
	struct entry *e = push(q);
	int failed = 0;

	if (!e)
		return LR_ENOMEM;
	e->rc = 1;
	e->kind = ADAPTER_IDENTITY;
	e->key = dup_or_null(key, &failed);
	e->email = dup_or_null(email, &failed);
	e->line = line;
	e->record = record;
	if (failed) {
		entry_free(e);
		q->n--;
		return LR_ENOMEM;
	}
	return 0;
}

int itemq_push_error(struct itemq *q, const struct lr_error *err, long line, long record,
		     const char *raw, size_t raw_len)
{
	struct entry *e = push(q);

	if (!e)
		return LR_ENOMEM;
	e->rc = LR_EINVAL;
	e->err = *err;
	if (e->err.code == 0)
		e->err.code = LR_EINVAL;
	lr_error_where(&e->err, NULL, line, record);
	e->line = line;
	e->record = record;
	if (raw) {
		e->raw = malloc(raw_len + 1);
		if (!e->raw) {
			q->n--;
			return LR_ENOMEM;
		}
		memcpy(e->raw, raw, raw_len);
		e->raw[raw_len] = '\0';
		e->raw_len = raw_len;
	}
	return 0;
}

int itemq_empty(const struct itemq *q)
{
	return q->head >= q->n;
}

int itemq_pop(struct itemq *q, struct adapter_item *item, struct lr_error *err)
{
	struct entry *e;

	if (q->popped) {
		entry_free(&q->entries[q->head - 1]);
		q->popped = 0;
	}
	if (q->head >= q->n) {
		q->head = q->n = 0;
		return 0;
	}
	e = &q->entries[q->head++];
	q->popped = 1;
	memset(item, 0, sizeof(*item));
	item->kind = e->kind;
	item->statement = e->statement;
	e->statement = NULL;       /* the caller takes it over */
	item->key = e->key;
	item->email = e->email;
	item->course_key = e->course_key;
	item->part_key = e->part_key;
	item->line = e->line;
	item->record = e->record;
	item->raw = e->raw;
	item->raw_len = e->raw_len;
	if (e->rc == LR_EINVAL && err) {
		*err = e->err;
		return LR_EINVAL;
	}
	return e->rc;
}
