/* libfuzzer_jsonfast.c: the libFuzzer entry point of the jsonfast target (make fuzz). */
#include "fuzz/targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_jsonfast_one(data, size);
}
