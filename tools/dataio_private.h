/* Shared between dataio_read.c and dataio_write.c; not part of dataio.h. */
#ifndef EMGMM_DATAIO_PRIVATE_H
#define EMGMM_DATAIO_PRIVATE_H

#include <stddef.h>

#include "dataio.h"

#if defined(__GNUC__) || defined(__clang__)
#define DATAIO_PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define DATAIO_PRINTF_LIKE(f, a)
#endif

/* Formats the one-line message into err (errlen bytes); NULL err is fine. */
void dataio_set_error(char *err, size_t errlen, const char *fmt, ...)
    DATAIO_PRINTF_LIKE(3, 4);

/* The rows [*r0, *r1) of `total` that choose (with user) picks, kept
 * within the file; every row when choose is NULL. */
void dataio_pick_rows(dataio_row_range_fn choose, void *user, size_t total,
                      size_t *r0, size_t *r1);

/* HDF5 (dataio_hdf5.c). `path` is FILE[:DATASET] as dataio_hdf5_name
 * splits it: file_len is the length of FILE, dataset what follows the
 * ':' (NULL without one: then the file's only 2-D dataset, or only 1-D
 * one for lengths). Messages as in dataio.h, naming "FILE:/DATASET". */
int dataio_h5_read_matrix(const char *path, size_t file_len,
                          const char *dataset, int allow_missing,
                          dataio_row_range_fn choose, void *choose_user,
                          dataio_matrix *out, size_t *first_row,
                          size_t *total_rows, char *err, size_t errlen);
int dataio_h5_read_lengths(const char *path, size_t file_len,
                           const char *dataset, size_t **lengths, size_t *n,
                           char *err, size_t errlen);
/* Writes rows x cols doubles, or rows int32 (int32 set, cols 0), as the
 * dataset `path` names, else default_dataset ("/data" when NULL). */
int dataio_h5_write(const char *path, const char *default_dataset,
                    const void *a, size_t rows, size_t cols, int int32,
                    char *err, size_t errlen);

/* HDF5 read a block of rows at a time (dataio_map, --stream): the file
 * and the dataset stay open, each call reads one hyperslab. *rows and
 * *cols receive the dataset's shape (1-D: one column); shown (showlen
 * bytes) its "FILE:/DATASET" for messages. */
typedef struct dataio_h5_in dataio_h5_in;
int dataio_h5_in_open(const char *path, size_t file_len, const char *dataset,
                      dataio_h5_in **out, size_t *rows, size_t *cols,
                      char *shown, size_t showlen, char *err, size_t errlen);
int dataio_h5_in_rows(dataio_h5_in *s, size_t first, size_t count,
                      double *out, char *err, size_t errlen);
void dataio_h5_in_close(dataio_h5_in *s);

/* HDF5 written a block of rows at a time (dataio_rows): with `create`,
 * a new chunked dataset of total_rows x cols (int32 with cols 0) is made
 * in the file (created when missing, empty or not HDF5, else added to);
 * without, the existing dataset (made by dataio_h5_create) is opened.
 * dataio_h5_out_close with a NULL err abandons the writing. */
typedef struct dataio_h5_out dataio_h5_out;
int dataio_h5_out_open(const char *path, const char *default_dataset,
                       int create, size_t total_rows, size_t cols, int int32,
                       dataio_h5_out **out, char *err, size_t errlen);
int dataio_h5_out_rows(dataio_h5_out *w, size_t first_row, const void *rows,
                       size_t n, char *err, size_t errlen);
int dataio_h5_out_close(dataio_h5_out *w, char *err, size_t errlen);

#endif
