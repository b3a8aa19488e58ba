/* Fuzz target: the .npy reader (tools/dataio_read.c). Inputs that do not
 * start with the .npy magic get it prepended, so every input reaches the
 * header parser. */
#include "fuzz_read.h"

static const uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= sizeof magic && memcmp(data, magic, sizeof magic) == 0) {
        fuzz_read_matrix(data, size);
        return 0;
    }
    uint8_t *buf = malloc(size + sizeof magic);
    if (!buf)
        return 0;
    memcpy(buf, magic, sizeof magic);
    if (size)
        memcpy(buf + sizeof magic, data, size);
    fuzz_read_matrix(buf, size + sizeof magic);
    free(buf);
    return 0;
}
