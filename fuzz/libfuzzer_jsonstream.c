/* libfuzzer_jsonstream.c: the libFuzzer entry point of the jsonstream target (make fuzz). */
#include "fuzz/targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_jsonstream_one(data, size);
}
