/*
 * Model files, shared by the mixture's (model_json.c) and the HMM's
 * (hmm_json.c): numbers with 17 significant digits (a bit-exact round
 * trip), atomic saves, nested arrays read with their extents checked.
 * Not installed.
 */
#ifndef EMGMM_JSON_IO_H
#define EMGMM_JSON_IO_H

#include "internal.h"

#include <jansson.h>
#include <stdio.h>

/* A number ("null" for a value not known yet: NaN or infinite). */
int emgmm__json_put_number(FILE *f, double x);
/* "[a, b, c]" */
int emgmm__json_put_row(FILE *f, const double *x, size_t n);
/* rows x cols as a list of rows, one a line, each line indented. */
int emgmm__json_put_matrix(FILE *f, const double *x, size_t rows,
                           size_t cols, const char *indent);

/* Covariances in the shape of the type (full: k matrices, one a block). */
int emgmm__json_put_covariances(FILE *f, emgmm_covariance_type type,
                                size_t k, size_t d, const double *cov);

/* Writes `object` to f; returns a status. */
typedef int (*emgmm__writer_fn)(const void *object, FILE *f);
/* Writes through `write` into a temporary file next to path, then renames
 * it over path (a device or pipe is written directly): readers see the old
 * file or the whole new one, and a failure leaves no file behind. */
int emgmm__save_atomic(const char *path, emgmm__writer_fn write,
                       const void *object);

/* Fills *err (when not NULL) and returns rc. */
int emgmm__json_fail(emgmm_error *err, int rc, int line, int column,
                     const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Reads an array of `dims` nested levels with the given extents into out
 * (row-major, from out[*pos] on); 0 on success, -1 for a wrong shape or a
 * value that is not a finite number. */
int emgmm__json_read_array(const json_t *v, const size_t *extent, int dims,
                           double *out, size_t *pos);
/* The extents (ext, *dims levels) of a type's covariances, and their
 * shape in words ("k x d x d", "d x d", "k x d", "k"). */
const char *emgmm__json_cov_shape(emgmm_covariance_type type, size_t k,
                                  size_t d, size_t ext[3], int *dims);
/* Parses the JSON object in path ("-": standard input) into *root
 * (json_decref it); EMGMM_ERR_IO or EMGMM_ERR_FORMAT with err filled. */
int emgmm__json_load_root(const char *path, json_t **root, emgmm_error *err);
/* A number of an object; NaN when absent or null. */
double emgmm__json_number_or_nan(const json_t *obj, const char *key);
/* A positive integer of an object into *out; -1 if absent or not one. */
int emgmm__json_get_size(const json_t *root, const char *key, size_t *out);

#endif
