/*
 * xapi.c (adapters): reading xAPI statement files (see adapters/xapi.h).
 *
 * Parsing is most of the cost of reading a statement (jansson builds a tree
 * of small allocations), so with adapter_xapi_pipeline a thread of its own
 * reads, splits and parses ahead into a bounded ring of items while the
 * caller validates and stores the ones already returned.
 */
#include "adapters/xapi.h"
#include "adapters/jsonstream.h"
#include "lrs/error.h"
#include "lrs/hash.h"
#include "lrs/jsonfast.h"
#include "lrs/jsonmem.h"
#include "lrs/store.h"
#include "lrs/uuid.h"
#include "lrs/xapi.h"

#include <jansson.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RING_ITEMS 64                /* items parsed ahead at most ... */
#define RING_BYTES (4u << 20)        /* ... and record bytes held at most (one item always) */
#define SLOT_KEEP (256u << 10)       /* a slot's buffer above this is freed after use */

/* One item read ahead: what xapi_next returned for it, with its own copy of the record. */
struct slot {
	int rc;
	struct adapter_item item;
	struct lr_error err;
	char *buf;
	size_t cap, len;
	struct json_t *kept;         /* a reference to the item's statement, dropped here */
	struct jsonmem_arena *arena; /* where the thread's jansson values for this slot come from */
};

struct xapi_state {
	struct jsonstream *stream;
	/* The pipeline, when started: slots [head, head + count) are full, head is held by the caller. */
	int piped;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t room, items;  /* the thread waits for room, the caller for items */
	struct slot ring[RING_ITEMS];
	unsigned head, count;
	size_t bytes;
	int held, stop, ended;
	int thread_waits, caller_waits; /* wake the other side only when it sleeps */
	adapter_xapi_known_fn known;
	void *known_ctx;
	unsigned misses, skip;          /* duplicate probes that found nothing in a row; probes skipped */
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

/*
 * The top-level "id" of the JSON object in raw, written plainly (no escapes),
 * copied into out; 0 if found, -1 if not (the record then takes the full path).
 */
static int raw_top_id(const char *raw, size_t len, char *out, size_t out_size)
{
	size_t i = 0, n;
	int depth = 0, key_next = 0;

	while (i < len && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\r' || raw[i] == '\n'))
		i++;
	if (i == len || raw[i] != '{')
		return -1;
	for (; i < len; i++) {
		char c = raw[i];
		size_t start;

		if (c == '{' || c == '[') {
			depth++;
			key_next = depth == 1;
		} else if (c == '}' || c == ']') {
			depth--;
		} else if (c == ',' && depth == 1) {
			key_next = 1;
		} else if (c == '"') {
			start = ++i;
			while (i < len && raw[i] != '"')
				i += raw[i] == '\\' ? 2 : 1;
			if (i >= len)
				return -1;
			if (!key_next || depth != 1)
				continue;
			key_next = 0;
			if (i - start != 2 || memcmp(raw + start, "id", 2) != 0)
				continue;
			for (i++; i < len && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\r' ||
					      raw[i] == '\n' || raw[i] == ':'); i++)
				;
			if (i == len || raw[i] != '"')
				return -1;
			for (i++, n = 0; i < len && raw[i] != '"' && raw[i] != '\\' && n + 1 < out_size; i++)
				out[n++] = raw[i];
			if (i == len || raw[i] != '"')
				return -1;
			out[n] = '\0';
			return 0;
		}
	}
	return -1;
}

/*
 * 1 when the caller's known() says these exact bytes are a stored statement:
 * the item is then a duplicate with nothing parsed.
 */
static int already_stored(struct xapi_state *st, const char *raw, size_t len)
{
	char id[UUID_STR_LEN + 8];

	if (!st->known)
		return 0;
	/*
	 * A first ingest finds nothing stored: after 256 misses in a row only
	 * every 16th record is probed (an index probe each, mostly a read from
	 * disk once the index outgrows the cache), until one is found again.
	 * A record not probed just takes the full path.
	 */
	if (st->misses >= 256 && st->skip++ % 16 != 0)
		return 0;
	if (raw_top_id(raw, len, id, sizeof(id)) != 0 || !uuid_is_valid(id))
		return 0;
	if (st->known(st->known_ctx, id, raw, len) == 1) {
		st->misses = 0;
		return 1;
	}
	st->misses++;
	return 0;
}

/* Reads and parses the next record (the work the pipeline thread does ahead). */
static int read_next(struct xapi_state *st, struct adapter_item *item, struct lr_error *err)
{
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
	if (already_stored(st, rec.text, rec.len)) {
		item->kind = ADAPTER_DUPLICATE;
		return 1;
	}
	jsonmem_clear();
	value = jsonfast_loadb(rec.text, rec.len, JSON_REJECT_DUPLICATES, &jerr);
	if (jsonmem_failed() || (!value && json_error_code(&jerr) == json_error_out_of_memory)) {
		json_decref(value);
		return lr_error_set(err, LR_ENOMEM, "out of memory reading record %ld", rec.index);
	}
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

/* The pipeline thread: fills slots until the end of the source, a fatal error or stop. */
static void *pipeline_main(void *arg)
{
	struct xapi_state *st = arg;
	unsigned tail;

	for (;;) {
		struct slot *sl;
		int rc;

		pthread_mutex_lock(&st->lock);
		while (!st->stop && (st->count == RING_ITEMS || (st->count > 0 && st->bytes >= RING_BYTES))) {
			st->thread_waits = 1;
			pthread_cond_wait(&st->room, &st->lock);
		}
		st->thread_waits = 0;
		tail = (st->head + st->count) % RING_ITEMS;
		if (st->stop) {
			pthread_mutex_unlock(&st->lock);
			break;
		}
		pthread_mutex_unlock(&st->lock);

		/*
		 * The slot at tail is this thread's until it is counted in. Its last
		 * statement, and whatever validation and the digest allocated from
		 * jansson, came from the slot's arena: an allocation is a pointer
		 * bump, and the arena is emptied at once here (malloc and free
		 * were a quarter of this thread's time, and freeing in the
		 * caller's thread made the two threads contend for malloc's
		 * arenas). Nothing from it is referenced once the slot comes
		 * round again: the caller has dropped its reference, and the
		 * store completes a copy rather than the tree. Only a tree with
		 * parts from malloc (an arena that filled up, or none) is freed
		 * node by node.
		 */
		sl = &st->ring[tail];
		if (sl->kept && jsonmem_arena_spilled(sl->arena))
			json_decref(sl->kept);
		sl->kept = NULL;
		if (!sl->arena)
			sl->arena = jsonmem_arena_new();
		else
			jsonmem_arena_reset(sl->arena);
		jsonmem_arena_use(sl->arena);
		lr_error_clear(&sl->err);
		rc = read_next(st, &sl->item, &sl->err);
		sl->rc = rc;
		sl->kept = json_incref(sl->item.statement);
		if (rc == 1 && sl->item.kind == ADAPTER_STATEMENT) {
			/*
			 * Validation, the comparison digest, the facts the store
			 * indexes and the record's hash here too: the storing thread
			 * is the slower one, and these need nothing from the store.
			 * A statement that fails is left to the caller, whose check
			 * gives the reject its message as before.
			 */
			struct lr_error ignored;
			lr_error_clear(&ignored);
			sl->item.checked = xapi_validate(&ignored, sl->item.statement, XAPI_ACCEPT_ANY) == 0 &&
					   xapi_digest(sl->item.digest, sl->item.statement) == 0 &&
					   hash_sha256(sl->item.raw_sha, sl->item.raw, sl->item.raw_len) == 0;
			if (sl->item.checked)
				xapi_facts(&sl->item.facts, sl->item.statement);
		}
		jsonmem_arena_use(NULL);
		sl->len = 0;
		if (sl->item.raw) {
			/* The record's bytes, and for a checked statement the same without white space. */
			size_t need = sl->item.raw_len + 1 + (sl->item.checked ? sl->item.raw_len + 1 : 0);
			if (need > sl->cap) {
				char *grown = realloc(sl->buf, need);
				if (!grown) {
					json_decref(sl->item.statement);
					memset(&sl->item, 0, sizeof(sl->item));
					lr_error_clear(&sl->err);
					sl->rc = rc = lr_error_set(&sl->err, LR_ENOMEM, "out of memory");
				} else {
					sl->buf = grown;
					sl->cap = need;
				}
			}
			if (sl->item.raw) {
				memcpy(sl->buf, sl->item.raw, sl->item.raw_len);
				sl->buf[sl->item.raw_len] = '\0';
				sl->item.raw = sl->buf;
				sl->len = sl->item.raw_len;
				if (sl->item.checked) {
					char *compact = sl->buf + sl->item.raw_len + 1;
					sl->item.compact_len = store_compact_json(compact, sl->item.raw,
										  sl->item.raw_len);
					compact[sl->item.compact_len] = '\0';
					sl->item.compact = compact;
					sl->len += sl->item.compact_len;
				}
			}
		}
		pthread_mutex_lock(&st->lock);
		st->count++;
		st->bytes += sl->len;
		/*
		 * Wake a waiting caller when a quarter of the ring is ready, not for
		 * each item (the parser is usually the slower side, and a wake-up
		 * per item cost two system calls and a context switch each), or at
		 * once when nothing more will come or the ring is full by bytes.
		 */
		if (st->caller_waits && (st->count >= RING_ITEMS / 4 || st->bytes >= RING_BYTES ||
					 (rc <= 0 && rc != LR_EINVAL)))
			pthread_cond_signal(&st->items);
		pthread_mutex_unlock(&st->lock);
		if (rc <= 0 && rc != LR_EINVAL)
			break;
	}
	return NULL;
}

/* Gives the held slot back to the thread (its buffer trimmed if it grew large). */
static void release_held(struct xapi_state *st)
{
	struct slot *sl = &st->ring[st->head];

	if (!st->held)
		return;
	st->held = 0;
	if (sl->cap > SLOT_KEEP) {
		free(sl->buf);
		sl->buf = NULL;
		sl->cap = 0;
	}
	st->bytes -= sl->len;
	st->head = (st->head + 1) % RING_ITEMS;
	st->count--;
	/* Wake the thread when half the ring is free, not for each slot. */
	if (st->thread_waits && (st->count == 0 || (st->count <= RING_ITEMS / 2 &&
						    st->bytes <= RING_BYTES / 2)))
		pthread_cond_signal(&st->room);
}

static int piped_next(struct xapi_state *st, struct adapter_item *item, struct lr_error *err)
{
	struct slot *sl;
	int rc;

	memset(item, 0, sizeof(*item));
	if (st->ended)
		return 0;
	pthread_mutex_lock(&st->lock);
	release_held(st);
	while (st->count == 0) {
		st->caller_waits = 1;
		pthread_cond_wait(&st->items, &st->lock);
	}
	st->caller_waits = 0;
	sl = &st->ring[st->head];
	st->held = 1;
	pthread_mutex_unlock(&st->lock);
	rc = sl->rc;
	*item = sl->item;
	sl->item.statement = NULL; /* the caller's now */
	if (rc < 0)
		*err = sl->err;
	if (rc <= 0 && rc != LR_EINVAL)
		st->ended = 1;
	return rc;
}

static int xapi_next(void *state, struct adapter_item *item, struct lr_error *err)
{
	struct xapi_state *st = state;

	return st->piped ? piped_next(st, item, err) : read_next(st, item, err);
}

int adapter_xapi_pipeline(void *state, adapter_xapi_known_fn known, void *ctx)
{
	struct xapi_state *st = state;
	json_t *seed;

	if (st->piped)
		return 0;
	/* jansson seeds its hash function on first use: do it here, not racing in the thread. */
	seed = json_object();
	json_decref(seed);
	st->known = known;
	st->known_ctx = ctx;
	if (pthread_mutex_init(&st->lock, NULL) != 0)
		return LR_ENOMEM;
	if (pthread_cond_init(&st->room, NULL) != 0) {
		pthread_mutex_destroy(&st->lock);
		return LR_ENOMEM;
	}
	if (pthread_cond_init(&st->items, NULL) != 0) {
		pthread_cond_destroy(&st->room);
		pthread_mutex_destroy(&st->lock);
		return LR_ENOMEM;
	}
	if (pthread_create(&st->thread, NULL, pipeline_main, st) != 0) {
		pthread_cond_destroy(&st->items);
		pthread_cond_destroy(&st->room);
		pthread_mutex_destroy(&st->lock);
		st->known = NULL;
		return LR_ENOMEM;
	}
	st->piped = 1;
	return 0;
}

static void xapi_close(void *state)
{
	struct xapi_state *st = state;
	unsigned i;

	if (!st)
		return;
	if (st->piped) {
		pthread_mutex_lock(&st->lock);
		st->stop = 1;
		pthread_cond_signal(&st->room);
		pthread_mutex_unlock(&st->lock);
		pthread_join(st->thread, NULL);
		for (i = 0; i < st->count; i++) {
			struct slot *sl = &st->ring[(st->head + i) % RING_ITEMS];
			if (!(i == 0 && st->held))
				json_decref(sl->item.statement);
		}
		for (i = 0; i < RING_ITEMS; i++) {
			json_decref(st->ring[i].kept);
			free(st->ring[i].buf);
		}
		/* Every tree is gone: the arenas can go. */
		for (i = 0; i < RING_ITEMS; i++)
			jsonmem_arena_free(st->ring[i].arena);
		pthread_cond_destroy(&st->items);
		pthread_cond_destroy(&st->room);
		pthread_mutex_destroy(&st->lock);
	}
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
