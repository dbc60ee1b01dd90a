/*
 * itemqueue.h: a queue of adapter items, for formats where one record gives
 * several items (an LMS attempt gives a completed and a passed statement,
 * a registration gives statements and an identity link) or an error. The
 * adapter pushes what a record gives, then next() pops one at a time; the
 * strings of a popped item stay valid until the next pop, as the adapter
 * contract asks.
 */
#ifndef LRHUB_ITEMQUEUE_H
#define LRHUB_ITEMQUEUE_H

#include <stddef.h>

#include "adapter.h"

struct json_t;
struct lr_error;
struct itemq;

/* A new empty queue in *out, or LR_ENOMEM. Free with itemq_free. */
int itemq_new(struct itemq **out);
/* Frees q and what is left in it; itemq_free(NULL) does nothing. */
void itemq_free(struct itemq *q);

/* Queues a statement (the reference is taken over, also on failure). 0 or LR_ENOMEM. */
int itemq_push_statement(struct itemq *q, struct json_t *statement, const char *course_key,
			 const char *part_key, long line, long record);
/* Queues an identity link (strings copied). 0 or LR_ENOMEM. */
int itemq_push_identity(struct itemq *q, const char *key, const char *email, long line,
			long record);
/* Queues a reject: err (copied) with its line and record set; raw may be NULL. */
int itemq_push_error(struct itemq *q, const struct lr_error *err, long line, long record,
		     const char *raw, size_t raw_len);

/* 1 if nothing is queued. */
int itemq_empty(const struct itemq *q);

/*
 * Pops the next entry into item (and err for a reject). Returns 1 for an
 * item, LR_EINVAL for a reject, 0 when the queue is empty.
 */
int itemq_pop(struct itemq *q, struct adapter_item *item, struct lr_error *err);

#endif
