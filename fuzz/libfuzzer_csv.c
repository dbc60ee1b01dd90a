/* libfuzzer_csv.c: the libFuzzer entry point of the csv target (make fuzz). */
#include "fuzz/targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_csv_one(data, size);
}
