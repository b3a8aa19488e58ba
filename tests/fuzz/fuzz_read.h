/*
 * The data-file reader on fuzz bytes (shared by fuzz_csv.c and
 * fuzz_npy.c): read, then check what a successful read promises.
 */
#ifndef EMGMM_FUZZ_READ_H
#define EMGMM_FUZZ_READ_H

#include "dataio.h"
#include "fuzz_util.h"

#include <math.h>

static inline void fuzz_read_matrix(const uint8_t *data, size_t size)
{
    const char *path = fuzz_tmp_file(data, size);
    if (!path)
        return;
    dataio_matrix m;
    char err[512];
    if (dataio_read_matrix(path, NULL, &m, err, sizeof err) != 0) {
        /* Failure: nothing allocated, one non-empty line of message. */
        FUZZ_CHECK(m.data == NULL && m.rows == 0 && m.cols == 0);
        FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
        return;
    }
    FUZZ_CHECK(m.data != NULL && m.rows > 0 && m.cols > 0);
    for (size_t i = 0; i < m.rows * m.cols; i++)
        FUZZ_CHECK(isfinite(m.data[i]));
    dataio_matrix_free(&m);
}

#endif /* EMGMM_FUZZ_READ_H */
