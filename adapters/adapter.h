/*
 * adapter.h: the one interface every input format implements. An adapter
 * reads one source (a file or an upload) and yields xAPI statements, each
 * with where it came from, plus side facts (identity links) when the format
 * carries them. Adding an LMS export format is one new adapters/<name>.c
 * file with one `const struct adapter` and a line in adapters/registry.c.
 *
 * The reading contract of next():
 *   1   an item was produced (item filled)
 *   0   the end of the source
 *   LR_EINVAL   one record was bad: err says where (line, record) and why;
 *               item->raw/raw_len show the record if known; call next again
 *   other < 0   nothing more can be read from this source (err says why)
 */
#ifndef LRHUB_ADAPTER_H
#define LRHUB_ADAPTER_H

#include "lrs/xapi.h"

#include <stddef.h>
#include <sys/types.h>

struct json_t;
struct lr_error;

/* Reads up to len bytes; returns the count, 0 at the end, -1 on error. */
typedef ssize_t (*adapter_read_fn)(void *ctx, void *buf, size_t len);

struct adapter_input {
	adapter_read_fn read;
	void *ctx;
	const char *name;       /* the file name, for messages */
	const char *org;        /* the org code the data belongs to */
	const char *course;     /* the course key given with --course, or NULL */
	const char *timezone;   /* the org's time zone for local times, or NULL */
	const char *lms_url;    /* the org's LMS address (account homePage), or NULL */
};

enum adapter_item_kind {
	ADAPTER_STATEMENT = 1,  /* item->statement is an xAPI statement */
	ADAPTER_IDENTITY = 2,   /* item->key (account name) belongs to item->email */
	ADAPTER_DUPLICATE = 3   /* item->raw is a statement stored already from the same
				   bytes (only from adapter_xapi_pipeline with known) */
};

struct adapter_item {
	int kind;
	struct json_t *statement; /* new reference: the caller takes it over */
	const char *key;          /* borrowed until the next call */
	const char *email;
	long line;                /* where the record starts, 0 if unknown */
	long record;              /* 1-based record number */
	const char *raw;          /* the record's text, borrowed until the next call */
	size_t raw_len;
	/*
	 * For statements made from LMS exports: the org's local key of the course
	 * (scorm id, course id, short name) and of the SCO within it, both
	 * borrowed until the next call; NULL for xAPI input, whose course key is
	 * the Activity object's id.
	 */
	const char *course_key;
	const char *part_key;
	/*
	 * Set only by the xapi adapter's parser thread (adapter_xapi_pipeline):
	 * 1 when the statement passed xapi_validate(XAPI_ACCEPT_ANY) there and
	 * digest is its xapi_digest, so the caller need not do either again;
	 * otherwise 0 (and the caller checks the statement as usual).
	 */
	int checked;
	unsigned char digest[32];
	/*
	 * Also set by the parser thread, with checked: the SHA-256 of raw, the
	 * statement's xapi_facts (pointing into statement) and raw without its
	 * white space (compact, compact_len bytes, borrowed like raw).
	 */
	unsigned char raw_sha[32];
	struct xapi_facts facts;
	const char *compact;
	size_t compact_len;
};

struct adapter {
	const char *name;         /* the --format name */
	const char *description;
	/*
	 * How sure the adapter is that a source starting with head (len bytes,
	 * the first few KiB) is its format: 0 not at all, 100 certain.
	 */
	int (*sniff)(const char *head, size_t len);
	/* Opens the adapter's state over in (borrowed, must outlive the state). */
	int (*open)(void **state, struct lr_error *err, const struct adapter_input *in);
	int (*next)(void *state, struct adapter_item *item, struct lr_error *err);
	void (*close)(void *state);
};

/* The adapter called name, or NULL. */
const struct adapter *adapter_find(const char *name);

/* The adapter most sure about head, or NULL if none is (with its score in *score). */
const struct adapter *adapter_detect(const char *head, size_t len, int *score);

/* The adapters, NULL-terminated, for listing. */
extern const struct adapter *const adapter_list[];

#endif
