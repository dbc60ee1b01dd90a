/* libfuzzer_multipart.c: the libFuzzer entry point of the multipart target (make fuzz). */
#include "fuzz/targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_multipart_one(data, size);
}
