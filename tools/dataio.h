/*
 * Data files for the command line: readers for .npy, CSV/TSV, raw float64
 * and HDF5, writers for .npy, CSV and HDF5, and all-or-nothing output
 * files.
 *
 * Kept out of the library on purpose: the library takes arrays, the
 * program deals with files. Tests link this code directly.
 *
 * Every function returns 0 on success or -1 on failure; on failure `err`
 * (errlen bytes) holds one line without a trailing newline that names the
 * file and, where there is one, the 1-based line and column, e.g.
 *   "data.csv:7:3: 'abc' is not a number"
 *   "data.npy: row 12, column 2: value is not finite (inf)"
 * and nothing has been allocated or written.
 */
#ifndef EMGMM_DATAIO_H
#define EMGMM_DATAIO_H

#include <stddef.h>
#include <stdint.h>

/** A dense row-major matrix of doubles owned by the caller (free data). */
typedef struct dataio_matrix {
    double *data; /* rows * cols values, row-major, contiguous */
    size_t rows;
    size_t cols;
} dataio_matrix;

typedef struct dataio_read_options {
    /** Raw little-endian float64 input of this shape (the --shape N,D
     *  flag); 0/0 = detect .npy (by its magic bytes) or else CSV. */
    size_t raw_rows;
    size_t raw_cols;
    /** Non-zero: NaN (binary), and NaN or an empty cell (CSV), are read
     *  as NaN, a missing value (the --missing flag). */
    int allow_missing;
} dataio_read_options;

/**
 * HDF5 names: a path whose file name ends in .h5 or .hdf5 (any case),
 * optionally followed by ':' and a dataset, "run.h5:/group/x" (the first
 * such extension followed by ':' or the end of the path ends the file
 * name). Returns 1 for such a name, with *file_len the length of the
 * file name and *dataset what follows the ':' (NULL without one); 0
 * otherwise. Either pointer may be NULL.
 */
int dataio_hdf5_name(const char *path, size_t *file_len,
                     const char **dataset);

/** 1 when this build reads and writes HDF5 (Meson found libhdf5), else 0:
 *  then every HDF5 name is an error that says so. */
int dataio_have_hdf5(void);

/**
 * Reads a 2-D matrix from `path` ("-" = standard input). The format is
 * raw float64 when options->raw_rows/raw_cols are set, HDF5 for an HDF5
 * name (see dataio_hdf5_name) or a file that starts with the HDF5
 * signature, .npy when the content starts with the .npy magic string,
 * else delimited text:
 *  - separator detected from the first data line: tab, ',', ';', or runs
 *    of spaces;
 *  - a first line with any field that is not a number is a header;
 *  - every row must have the same number of fields.
 * .npy: float64 or float32, little or big endian, C or Fortran order,
 * 1-D (read as one column) or 2-D. Values must be finite: infinity is an
 * error naming the row and column, and so are NaN and an empty CSV cell
 * (missing values) unless options->allow_missing is set.
 * HDF5: the dataset named after the ':', else the file's only 2-D dataset
 * (or, with none, its only 1-D one); several are an error that lists
 * them. Float64 or float32 values (widened to double), 1-D (one column)
 * or 2-D, contiguous or chunked, with any filter the library has (gzip,
 * shuffle, fletcher32, ...); messages name "FILE:/DATASET".
 * A file with no data rows, or zero columns, is an error.
 */
int dataio_read_matrix(const char *path, const dataio_read_options *options,
                       dataio_matrix *out, char *err, size_t errlen);

/**
 * The same, and *names receives the column names of a delimited text
 * file's header: out->cols strings, trimmed, without surrounding double
 * quotes, in one block that free(*names) releases. *names is NULL when
 * there is no header, when it has not one field per column, for .npy and
 * raw data, and on failure.
 */
int dataio_read_matrix_named(const char *path,
                             const dataio_read_options *options,
                             dataio_matrix *out, char ***names, char *err,
                             size_t errlen);

/**
 * The same, for one process of several: reads only rows
 * [N*part/parts, N*(part+1)/parts) of the N in the file (row-major .npy
 * and raw data in a regular file are read at their offset, an HDF5
 * dataset as a hyperslab of those rows; other inputs
 * are read whole and the block kept). *first_row and *total_rows (when
 * not NULL) receive the block's first row and N. Messages give row
 * numbers in the whole file. A block may be empty (N < parts).
 */
int dataio_read_matrix_part(const char *path,
                            const dataio_read_options *options, size_t part,
                            size_t parts, dataio_matrix *out,
                            size_t *first_row, size_t *total_rows,
                            char *err, size_t errlen);

/**
 * Picks the rows to read once their number in the file, total_rows, is
 * known: rows [*first, *first + *count) (kept within the file). user is
 * the pointer given to dataio_read_matrix_rows.
 */
typedef void (*dataio_row_range_fn)(size_t total_rows, void *user,
                                    size_t *first, size_t *count);

/**
 * The same, for a range of rows that depends on the file's row count
 * (hmm commands under mpirun: a rank's whole sequences): `choose` is
 * called once with the number of rows N and picks the range. Row-major
 * .npy and raw data in a regular file are then read from the range's
 * offset, an HDF5 dataset as a hyperslab of those rows, and no value
 * outside the range is read or checked; CSV, Fortran-order .npy and
 * standard input are read (and checked) whole, `choose` called after,
 * and the range kept. dataio_read_matrix_part is this with the range
 * [N*part/parts, N*(part+1)/parts). *first_row and *total_rows (when not
 * NULL) receive the range's first row and N; the range may be empty.
 * choose NULL reads every row.
 */
int dataio_read_matrix_rows(const char *path,
                            const dataio_read_options *options,
                            dataio_row_range_fn choose, void *user,
                            dataio_matrix *out, size_t *first_row,
                            size_t *total_rows, char *err, size_t errlen);

/** Where a block of rows lies in a file. */
typedef struct dataio_shape {
    size_t rows, cols;     /* of this part */
    size_t first_row;      /* this part's first row in the file */
    size_t total_rows;     /* of the file */
} dataio_shape;

/**
 * A .npy (C order, float64 or float32, either byte order) or raw float64
 * file, memory-mapped and converted to doubles a block of rows at a time
 * (fit --stream): nothing but the block is held in memory, and pages
 * already read are dropped from the process. An HDF5 dataset (an HDF5
 * name, or a file with the HDF5 signature; float64 or float32, 1-D or
 * 2-D, contiguous or chunked, compressed or not) is not mapped: each
 * call reads its rows as a hyperslab (the chunk cache holds at most a
 * row of chunks, within 64 MiB). Part `part` of `parts` is the same block
 * of rows as dataio_read_matrix_part's.
 */
typedef struct dataio_map dataio_map;
int dataio_map_open(const char *path, const dataio_read_options *options,
                    size_t part, size_t parts, dataio_map **out,
                    dataio_shape *shape, char *err, size_t errlen);
/** Rows [first, first + count) of the part into out (count x cols); -1
 *  on a value that is not finite (then dataio_map_error says where),
 *  except NaN when the options of dataio_map_open allowed missing
 *  values. */
int dataio_map_rows(dataio_map *m, size_t first, size_t count, double *out);
const char *dataio_map_error(const dataio_map *m);
void dataio_map_close(dataio_map *m);

/**
 * Reads the lengths of sequences (emgmm hmm --lengths) from `path` ("-" =
 * standard input): a .npy array of integers (any integer dtype, or float
 * values that are whole numbers), 1-D or with one row or one column; or
 * text with one integer a line (blank lines are skipped); or an HDF5
 * dataset of integers or whole floats (FILE.h5:/lengths, or the file's
 * only 1-D dataset), 1-D or one row or column. Every length
 * must be a whole number >= 1; messages name the line and column (text)
 * or the element (.npy). *lengths (*n values) and, when lines is not
 * NULL, *lines (the 1-based line of each value in a text file; NULL for
 * .npy) are the caller's to free.
 */
int dataio_read_lengths(const char *path, size_t **lengths, size_t **lines,
                        size_t *n, char *err, size_t errlen);

/** Frees out->data and zeroes *m. */
void dataio_matrix_free(dataio_matrix *m);

/** A dense row-major matrix of float32 values (free data). */
typedef struct dataio_matrix_f32 {
    float *data;
    size_t rows;
    size_t cols;
} dataio_matrix_f32;

/**
 * dataio_read_matrix into float32 (--dtype float32): the same formats and
 * checks. .npy in C order, raw data and HDF5 datasets are read a block of
 * rows at a time (no float64 copy of the whole; float32 files keep their
 * values exactly); CSV, Fortran-order .npy and standard input are read
 * whole as float64, then narrowed. Float64 values are rounded to the
 * nearest float32; one beyond float32's range is an error.
 */
int dataio_read_matrix_f32(const char *path,
                           const dataio_read_options *options,
                           dataio_matrix_f32 *out, char *err, size_t errlen);
void dataio_matrix_f32_free(dataio_matrix_f32 *m);

/** Writes rows x cols doubles: .npy ('<f8', C order) when `path` ends in
 *  ".npy", an HDF5 float64 dataset (rows x cols, contiguous) for an HDF5
 *  name (the dataset after ':', else "/data"), else CSV with 17
 *  significant digits. "-" = standard output (CSV).
 *  HDF5: a file that is missing, empty or not HDF5 is created; an HDF5
 *  file gets the dataset added (an error if it has one of that name; the
 *  output set below always hands out a new, empty file). */
int dataio_write_matrix(const char *path, const double *a, size_t rows,
                        size_t cols, char *err, size_t errlen);
/** The same, with `dataset` (NULL: "/data") for an HDF5 name without
 *  one. */
int dataio_write_matrix_as(const char *path, const char *dataset,
                           const double *a, size_t rows, size_t cols,
                           char *err, size_t errlen);

/** Writes n labels: .npy ('<i4') when `path` ends in ".npy", an HDF5 int32
 *  dataset of n values for an HDF5 name (the dataset after ':', else
 *  "/labels"), else one integer a line. "-" = standard output. */
int dataio_write_labels(const char *path, const int32_t *labels, size_t n,
                        char *err, size_t errlen);
/** The same, with `dataset` (NULL: "/labels") for an HDF5 name without
 *  one. */
int dataio_write_labels_as(const char *path, const char *dataset,
                           const int32_t *labels, size_t n, char *err,
                           size_t errlen);

/*
 * One .npy array written by several processes (fit under mpirun): one
 * creates it with the header of the whole array (rows x cols doubles, or
 * rows int32 labels when int32 is set and cols is 0) and its full size,
 * then each writes its own rows at their place.
 */
int dataio_npy_create(const char *path, size_t rows, size_t cols,
                      int int32, size_t *data_offset, char *err,
                      size_t errlen);
int dataio_npy_write_rows(const char *path, size_t data_offset,
                          size_t first_row, const void *rows, size_t n_rows,
                          size_t cols, int int32, char *err, size_t errlen);

/*
 * The same for an HDF5 dataset (`path` an HDF5 name; `dataset` stands
 * for a missing dataset part): one process creates the dataset with its
 * whole shape (the file as dataio_write_matrix does), then the processes
 * write their rows one after the other (serial HDF5: never two at once).
 */
int dataio_h5_create(const char *path, const char *dataset, size_t rows,
                     size_t cols, int int32, char *err, size_t errlen);
int dataio_h5_write_rows(const char *path, const char *dataset,
                         size_t first_row, const void *rows, size_t n_rows,
                         size_t cols, int int32, char *err, size_t errlen);

/*
 * An array written a block of rows at a time (predict --stream, fit
 * --stream --labels/--proba): nothing but the block is held in memory.
 * int32 labels (int32 set, cols 0) or rows of cols doubles.
 * dataio_rows_begin writes a whole array of total_rows rows, in order:
 * .npy when `path` ends in ".npy" (the header first), an HDF5 dataset for
 * an HDF5 name (chunked, each block written as a hyperslab; `dataset`
 * for a name without one, NULL: "/labels" or "/data"), else text (one
 * label a line, or CSV with 17 significant digits); "-" is standard
 * output. The bytes are those dataio_write_labels_as and
 * dataio_write_matrix_as write for the whole array (HDF5: the same
 * values and type, stored in chunks).
 * dataio_rows_begin_part writes rows [first_row, first_row + n_rows) of
 * an array that dataio_npy_create (data_offset) or dataio_h5_create
 * made: one process of several writing its rows.
 * dataio_rows_end checks that every row came, flushes and syncs the
 * file, and frees w; dataio_rows_abort frees w without finishing (a
 * regular .npy or text file that dataio_rows_begin made is removed; an
 * HDF5 file, which may hold other datasets, is left to the caller: the
 * output set below removes its temporary files).
 */
typedef struct dataio_rows dataio_rows;
int dataio_rows_begin(const char *path, const char *dataset,
                      size_t total_rows, size_t cols, int int32,
                      dataio_rows **out, char *err, size_t errlen);
int dataio_rows_begin_part(const char *path, const char *dataset,
                           size_t data_offset, size_t first_row,
                           size_t n_rows, size_t cols, int int32,
                           dataio_rows **out, char *err, size_t errlen);
int dataio_rows_put(dataio_rows *w, const void *rows, size_t n, char *err,
                    size_t errlen);
int dataio_rows_end(dataio_rows *w, char *err, size_t errlen);
void dataio_rows_abort(dataio_rows *w);

/*
 * All-or-nothing outputs. Each output is first written to a temporary
 * file in the same folder as its final name; outputs_commit renames them
 * all into place, outputs_abort removes them all. So a failure never
 * leaves a partial file, and an existing file is only replaced by a
 * complete one. "-" (standard output) is passed through untouched.
 * HDF5 names (FILE.h5:/DATASET): the temporary stands for FILE, and
 * several outputs may name the same file (with different datasets, or
 * none): they share one temporary file, each adding its dataset.
 */
typedef struct dataio_outputs dataio_outputs;

/** Creates an empty set; NULL if out of memory. */
dataio_outputs *outputs_new(void);
/**
 * Reserves a temporary path for `final_path` and stores it in *tmp_path
 * (owned by the set; "-" gives back "-"; for an HDF5 name, the temporary
 * file followed by the same ":DATASET"). The caller writes the complete
 * content there (with dataio_write_* or emgmm_save).
 */
int outputs_add(dataio_outputs *set, const char *final_path,
                const char **tmp_path, char *err, size_t errlen);
/** Renames every temporary file onto its final name. */
int outputs_commit(dataio_outputs *set, char *err, size_t errlen);
/** Removes every temporary file that was not committed, frees the set.
 *  Safe after commit (then it only frees). NULL is fine. */
void outputs_free(dataio_outputs *set);

#endif /* EMGMM_DATAIO_H */
