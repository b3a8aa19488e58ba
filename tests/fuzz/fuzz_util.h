/*
 * Shared helpers of the fuzz targets (tests/fuzz/): a reader that turns
 * fuzz bytes into bounded parameters, and one reusable temporary file for
 * the readers that take a path.
 *
 * Invariant violations call FUZZ_CHECK, which traps (__builtin_trap) so
 * that libFuzzer reports the input; nothing else may abort.
 */
#ifndef EMGMM_FUZZ_UTIL_H
#define EMGMM_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- Bytes to parameters ------------------------------------------------ */

typedef struct fuzz_bytes {
    const uint8_t *p;
    size_t n;
} fuzz_bytes;

/* The next byte, 0 once the input is used up. */
static inline uint8_t fuzz_u8(fuzz_bytes *b)
{
    if (b->n == 0)
        return 0;
    b->n--;
    return *b->p++;
}

/* A value in [lo, hi] (hi - lo < 256). */
static inline int fuzz_range(fuzz_bytes *b, int lo, int hi)
{
    return lo + (int)(fuzz_u8(b) % (unsigned)(hi - lo + 1));
}

static inline uint64_t fuzz_u64(fuzz_bytes *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | fuzz_u8(b);
    return v;
}

/* ---- One temporary file, created once, rewritten per input ------------- */

static char fuzz_tmp_path[64];
static int fuzz_tmp_fd = -1;

static void fuzz_tmp_remove(void)
{
    if (fuzz_tmp_fd >= 0) {
        close(fuzz_tmp_fd);
        unlink(fuzz_tmp_path);
        fuzz_tmp_fd = -1;
    }
}

/* Writes data to the temporary file and returns its path; NULL (and the
 * input is skipped) if the file cannot be made. */
static inline const char *fuzz_tmp_file(const uint8_t *data, size_t size)
{
    if (fuzz_tmp_fd < 0) {
        strcpy(fuzz_tmp_path, "/tmp/emgmm-fuzz-XXXXXX");
        fuzz_tmp_fd = mkstemp(fuzz_tmp_path);
        if (fuzz_tmp_fd < 0)
            return NULL;
        atexit(fuzz_tmp_remove);
    }
    if (ftruncate(fuzz_tmp_fd, 0) != 0)
        return NULL;
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(fuzz_tmp_fd, data + done, size - done, (off_t)done);
        if (w <= 0)
            return NULL;
        done += (size_t)w;
    }
    return fuzz_tmp_path;
}

#endif /* EMGMM_FUZZ_UTIL_H */
