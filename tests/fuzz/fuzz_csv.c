/* Fuzz target: the CSV/TSV reader (tools/dataio_read.c), bytes as given. */
#include "fuzz_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_read_matrix(data, size);
    return 0;
}
