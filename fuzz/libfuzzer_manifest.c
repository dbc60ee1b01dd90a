/* libfuzzer_manifest.c: the libFuzzer entry point of the manifest target (make fuzz). */
#include "fuzz/targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_manifest_one(data, size);
}
