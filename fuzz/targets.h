/*
 * targets.h: lrhub's fuzz targets. Each takes any bytes, runs one parser over
 * them and checks invariants that must hold for every input; a broken
 * invariant aborts (so libFuzzer and the sanitizers report it). They are
 * linked into libFuzzer binaries by `make fuzz` and into tests/test_fuzz, which
 * replays every fixture through them in `make check`.
 */
#ifndef LRHUB_FUZZ_TARGETS_H
#define LRHUB_FUZZ_TARGETS_H

#include <stddef.h>
#include <stdint.h>

/* xAPI validation, digest, facts and derived ids of a statement (JSON text). */
int fuzz_xapi_one(const uint8_t *data, size_t size);

/* The streaming JSON splitter: the same records whatever the read sizes. */
int fuzz_jsonstream_one(const uint8_t *data, size_t size);

/* The CSV reader, comma- and tab-separated: the same rows whatever the read sizes. */
int fuzz_csv_one(const uint8_t *data, size_t size);

/*
 * Each tracking-export adapter (adapters/adapter.h) through its interface.
 * data[0] picks the adapter (its index in adapter_list, modulo their count)
 * and the options (bit 3: a --course key, bit 4: a time zone, bit 5: an LMS
 * URL); the rest is the export. The same items whatever the read sizes.
 */
int fuzz_adapter_one(const uint8_t *data, size_t size);
/* The number of adapters fuzz_adapter_one picks from. */
int fuzz_adapter_count(void);

/*
 * The course package manifest readers (SCORM imsmanifest.xml, tincan.xml,
 * cmi5.xml) without a zip: data[0] % 3 picks which, the rest is the XML.
 */
int fuzz_manifest_one(const uint8_t *data, size_t size);

/* The course package zip reader (package_read_limited) over a whole zip file. */
int fuzz_zip_one(const uint8_t *data, size_t size);

/*
 * The GET /statements query parameters: data is a URL query string
 * ("agent=...&limit=10"), split and percent-decoded as the HTTP server does,
 * then read by statements_query_parse.
 */
int fuzz_query_one(const uint8_t *data, size_t size);

/*
 * multipart/form-data bodies (lrs/multipart.h): the first line is the
 * Content-Type value ("multipart/form-data; boundary=...") or, if it does
 * not start with "multipart/", the boundary itself; the rest is the body.
 * The whole-buffer parse and the streaming parser fed in pieces agree.
 */
int fuzz_multipart_one(const uint8_t *data, size_t size);

/*
 * The fast JSON parser (lrs/jsonfast.h) against jansson's json_loadb, with
 * flags 0 and JSON_REJECT_DUPLICATES: the fast path takes what jansson
 * accepts (except text holding a NUL byte, which it leaves to jansson) and
 * builds the same tree (types, values bit for bit, member order);
 * jsonfast_loadb returns the same tree or leaves the same error.
 */
int fuzz_jsonfast_one(const uint8_t *data, size_t size);

/* 1 if a and b are the same JSON tree: types, values (reals bit for bit), member order. */
struct json_t;
int fuzz_same_json(struct json_t *a, struct json_t *b);

#endif
