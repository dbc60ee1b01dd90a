/* libfuzzer_xapi.c: the libFuzzer entry point of the xapi target (make fuzz). */
#include "fuzz/targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_xapi_one(data, size);
}
