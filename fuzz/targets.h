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

#endif
