/*
 * Float32 matrices for `--dtype float32`: .npy (C order), raw and HDF5
 * data are read through the block reader of dataio_map (only a block of
 * rows is ever float64, then narrowed), so a float32 file is read without
 * a float64 copy and its values are kept exactly. Other inputs (CSV,
 * Fortran-order .npy, standard input) are read whole as float64 and then
 * narrowed. Float64 values are rounded to the nearest float32; a value
 * beyond float32's range is an error naming its row and column.
 */
#include "dataio.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dataio_matrix_f32_free(dataio_matrix_f32 *m)
{
    if (!m)
        return;
    free(m->data);
    m->data = NULL;
    m->rows = m->cols = 0;
}

/* v narrowed into *out; -1 (and a message) beyond float32's range. */
static int narrow(double v, const char *path, size_t row, size_t col,
                  float *out, char *err, size_t errlen)
{
    if (isfinite(v) && fabs(v) > (double)FLT_MAX) {
        snprintf(err, errlen, "%s: row %zu, column %zu: %g is beyond the "
                 "float32 range (--dtype float32)", path, row + 1, col + 1,
                 v);
        return -1;
    }
    *out = (float)v;
    return 0;
}

static int read_mapped(dataio_map *map, const dataio_shape *shape,
                       const char *path, dataio_matrix_f32 *out, char *err,
                       size_t errlen)
{
    const size_t n = shape->rows, d = shape->cols;
    const size_t block = 4096;
    float *data = malloc((n * d != 0 ? n * d : 1) * sizeof *data);
    double *buf = malloc(block * (d != 0 ? d : 1) * sizeof *buf);
    if (!data || !buf) {
        free(data);
        free(buf);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (size_t i0 = 0; i0 < n; i0 += block) {
        const size_t rows = n - i0 < block ? n - i0 : block;
        if (dataio_map_rows(map, i0, rows, buf) != 0) {
            snprintf(err, errlen, "%s", dataio_map_error(map));
            free(data);
            free(buf);
            return -1;
        }
        for (size_t i = 0; i < rows * d; i++)
            if (narrow(buf[i], path, i0 + i / d, i % d, &data[i0 * d + i],
                       err, errlen) != 0) {
                free(data);
                free(buf);
                return -1;
            }
    }
    free(buf);
    out->data = data;
    out->rows = n;
    out->cols = d;
    return 0;
}

int dataio_read_matrix_f32(const char *path,
                           const dataio_read_options *options,
                           dataio_matrix_f32 *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (strcmp(path, "-") != 0) {
        dataio_map *map = NULL;
        dataio_shape shape;
        char map_err[512];
        if (dataio_map_open(path, options, 0, 1, &map, &shape, map_err,
                            sizeof map_err) == 0) {
            int rc = read_mapped(map, &shape, path, out, err, errlen);
            dataio_map_close(map);
            return rc;
        }
        /* Not a mapped format (CSV, Fortran order): read whole below,
         * which also gives the message of a file that cannot be read. */
    }
    dataio_matrix x = {NULL, 0, 0};
    if (dataio_read_matrix(path, options, &x, err, errlen) != 0)
        return -1;
    const size_t count = x.rows * x.cols;
    float *data = malloc((count != 0 ? count : 1) * sizeof *data);
    if (!data) {
        dataio_matrix_free(&x);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (size_t i = 0; i < count; i++)
        if (narrow(x.data[i], path, i / x.cols, i % x.cols, &data[i], err,
                   errlen) != 0) {
            free(data);
            dataio_matrix_free(&x);
            return -1;
        }
    out->data = data;
    out->rows = x.rows;
    out->cols = x.cols;
    dataio_matrix_free(&x);
    return 0;
}
