/*
 * Helpers shared by the emgmm commands: error messages, strict number
 * parsing, loading data and models with messages that say what and where,
 * status -> exit code mapping, and all-or-nothing output sets.
 *
 * Convention: a helper that can fail prints exactly one line on standard
 * error ("emgmm: ...") and returns the exit code (EXIT_WORK_FAILED or
 * EXIT_BAD_USAGE); 0 means success. Nothing here calls exit(): codes travel
 * back up to main().
 */
#ifndef EMGMM_CLI_COMMON_H
#define EMGMM_CLI_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "emgmm.h"
#include "emgmm_hmm.h"
#include "dataio.h"

/* Exit statuses (SPEC section 5); 0 is success. */
enum {
    EXIT_WORK_FAILED = 1, /* singular fit, no convergence, unwritable output */
    EXIT_BAD_USAGE = 2,   /* bad option or value, bad input file or model */
    EXIT_INTERRUPTED = 3  /* SIGTERM/SIGINT stopped a fit (see --checkpoint) */
};

#if defined(__GNUC__)
#define CLI_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define CLI_PRINTF(fmt, args)
#endif

/** Prints "emgmm: <message>\n" on standard error and returns `code`
 *  (unless quiet: see cli_set_quiet). */
int cli_error(int code, const char *fmt, ...) CLI_PRINTF(2, 3);
/** The same, printed even when quiet: for an error only this process of
 *  an MPI run sees (a bad value in its block of rows). */
int cli_error_always(int code, const char *fmt, ...) CLI_PRINTF(2, 3);
/** Quiet: cli_error prints nothing. Ranks other than 0 of an MPI run are
 *  quiet, so that an error all of them meet is printed once. */
void cli_set_quiet(int quiet);
/** The command being run (argv[1]: "fit", "hmm", ...), set by main(): it
 *  chooses the default dataset of some HDF5 outputs. */
void cli_set_command(const char *name);

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

/** Reports the option getopt_long rejected: c is '?' or ':' (from an
 *  optstring that starts with ':', with opterr = 0). Returns
 *  EXIT_BAD_USAGE. */
int cli_bad_option(const char *command, int c, char *const argv[],
                   const char *optstring);

/** Exactly the named positional arguments (NULL-terminated names) must
 *  remain after the options (from optind on). */
int cli_positionals(const char *command, int argc, char **argv,
                    const char *const *names);

/* Strict parsers: the whole string must be a number in [min, max]. On
 * failure they print e.g. "emgmm: --tol: 'abc' is not a number" and
 * return EXIT_BAD_USAGE; `flag` is the option's name as shown there. */
int cli_parse_int(const char *flag, const char *s, long min, long max,
                  int *out);
int cli_parse_size(const char *flag, const char *s, size_t min,
                   size_t *out);
int cli_parse_u64(const char *flag, const char *s, uint64_t *out);
/** A finite double >= min. */
int cli_parse_double(const char *flag, const char *s, double min,
                     double *out);
/** "float32" (*f32 = 1) or "float64" (*f32 = 0), for --dtype. */
int cli_parse_dtype(const char *flag, const char *s, int *f32);
/** "N,D" with N, D >= 1, for raw float64 input (--shape). */
int cli_parse_shape(const char *flag, const char *s,
                    dataio_read_options *opt);

/* ------------------------------------------------------------------ */
/* Inputs                                                              */
/* ------------------------------------------------------------------ */

/** Reads a data matrix; EXIT_BAD_USAGE with the reader's message naming
 *  file, line and column. */
int cli_load_data(const char *path, const dataio_read_options *opt,
                  dataio_matrix *out);
/** The same, with the header's column names when names is not NULL (see
 *  dataio_read_matrix_named; free(*names)). */
int cli_load_data_named(const char *path, const dataio_read_options *opt,
                        dataio_matrix *out, char ***names);
/** Reads and checks a model file: "emgmm: MODEL:LINE:COL: message" (or
 *  "emgmm: MODEL: message" without a position). EXIT_BAD_USAGE, or
 *  EXIT_WORK_FAILED when out of memory. */
int cli_load_model(const char *path, emgmm_model **out);
/** --dtype float32 (one process): the model and DATA as float32 (see
 *  dataio_read_matrix_f32), its column count checked against the model;
 *  shape receives DATA's rows and columns (no data). */
int cli_load_model_and_f32(const char *model_path, const char *data_path,
                           const dataio_read_options *read, emgmm_model **m,
                           dataio_matrix_f32 *x, dataio_matrix *shape);
/** Labels and/or probabilities (NULL: not wanted) of float32 rows,
 *  allocated here (free them). */
int cli_predict_f32(const emgmm_model *m, const dataio_matrix_f32 *x,
                    int32_t **labels, double **proba);
/** The same, reading a file without "covariance_type" as `type` (a
 *  start for fit -c TYPE; see emgmm_load_as). */
int cli_load_model_as(const char *path, emgmm_covariance_type type,
                      emgmm_model **out);
/** Reads and checks a hidden Markov model file (emgmm_hmm_load), with
 *  the messages of cli_load_model; a "gmm" file is EXIT_BAD_USAGE (not
 *  implemented yet). */
int cli_load_hmm_model(const char *path, emgmm_hmm **out);
/** The data must have as many columns as the model has features. */
int cli_check_features(const char *data_path, const dataio_matrix *x,
                       const char *model_path, const emgmm_model *m);

/** Reads sample weights for the rows of x (--weights): one non-negative
 *  number a row (.npy or CSV, one column), as many rows as x, not all
 *  zero. *out (x->rows values) is the caller's to free. EXIT_BAD_USAGE
 *  with a message otherwise. */
int cli_load_weights(const char *path, const char *data_path,
                     const dataio_matrix *x, double **out);

/** Loads MODEL and DATA (not both standard input) and checks that they
 *  have the same number of features. */
int cli_load_model_and_data(const char *command, const char *model_path,
                            const char *data_path,
                            const dataio_read_options *read,
                            emgmm_model **m, dataio_matrix *x);
/** The same for a hidden Markov model file. */
int cli_load_hmm_model_and_data(const char *command, const char *model_path,
                                const char *data_path,
                                const dataio_read_options *read,
                                emgmm_hmm **m, dataio_matrix *x);
/** The same, with DATA's column names (see cli_load_data_named; hmm
 *  plot labels its panels with them). */
int cli_load_hmm_model_and_data_named(const char *command,
                                      const char *model_path,
                                      const char *data_path,
                                      const dataio_read_options *read,
                                      emgmm_hmm **m, dataio_matrix *x,
                                      char ***names);
/**
 * The sequences of DATA's n_rows rows (--lengths SPEC). SPEC is a file
 * (one integer a line, or a .npy of integers; - is standard input) or,
 * when no file has that name, a list such as 100,200,50. Every length is
 * a whole number >= 1 and they add up to n_rows; otherwise
 * EXIT_BAD_USAGE with a message giving the sum and the rows (and the
 * file's line). spec NULL: one sequence (*lengths NULL, *n_seq 1). The
 * caller frees *lengths.
 */
int cli_load_lengths(const char *spec, const char *data_path, size_t n_rows,
                     size_t **lengths, size_t *n_seq);
/** The same, with DATA's column names as cli_load_data_named gives them
 *  (plot labels its axes with them). */
int cli_load_model_and_data_named(const char *command,
                                  const char *model_path,
                                  const char *data_path,
                                  const dataio_read_options *read,
                                  emgmm_model **m, dataio_matrix *x,
                                  char ***names);

/** Data read with --missing: exit status 2, naming the column, when a
 *  column has no observed value (nothing to estimate it from); else 0.
 *  over_ranks: x is this rank's block, count over every rank (all of them
 *  must call it). */
int cli_check_observed_columns(const char *path, const dataio_matrix *x,
                               int over_ranks);

/** Labels (when `labels` is not NULL) and component probabilities (when
 *  `proba` is not NULL, N x K) of every row of x, in arrays the caller
 *  frees. Data with gaps (NaN, read with --missing) get the posteriors
 *  given each row's observed values. On failure both are NULL and the
 *  error has been printed. */
int cli_predict(const emgmm_model *m, const dataio_matrix *x,
                int32_t **labels, double **proba);

/** Exit code for a library status returned while using a model. */
int cli_status_exit(int status);
/** Reports a library failure as "emgmm: <what>: <strerror>" and returns
 *  cli_status_exit(status). */
int cli_library_error(const char *what, int status);

/** The file name without its folders, for captions ("<stdin>" for "-"). */
const char *cli_display_name(const char *path);

/** Monotonic wall clock in seconds. */
double cli_now(void);

/* ------------------------------------------------------------------ */
/* Outputs: every output of a command goes through one set, so that on  */
/* failure no file is left behind and existing files are untouched.     */
/* ------------------------------------------------------------------ */

#define CLI_MAX_OUTPUTS 8

typedef struct cli_outputs {
    int n;
    const char *flag[CLI_MAX_OUTPUTS]; /* option that named the output */
    const char *path[CLI_MAX_OUTPUTS]; /* final path; "-" = stdout */
    const char *tmp[CLI_MAX_OUTPUTS];  /* where to write it (after open) */
    dataio_outputs *set;
} cli_outputs;

void cli_outputs_init(cli_outputs *o);
/**
 * Declares an output named by option `flag` ("-" = standard output) and
 * stores its index in *index. Bad usage (EXIT_BAD_USAGE) when standard
 * output or a file is claimed twice. Call for every output before any
 * work is done.
 */
int cli_outputs_declare(cli_outputs *o, const char *flag, const char *path,
                        int *index);
/** Non-zero when a declared output already writes to standard output. */
int cli_outputs_uses_stdout(const cli_outputs *o);
/** Checks, without creating anything, that every file output's folder
 *  exists and is writable and that no output names a folder, so that a
 *  long fit does not end in an unwritable path. EXIT_WORK_FAILED if not. */
int cli_outputs_check(const cli_outputs *o);
/* The EM options shared by fit and select, as bits of *given. */
enum {
    CLI_EM_INIT = 1 << 0,      /* --init */
    CLI_EM_SEED = 1 << 1,      /* --seed */
    CLI_EM_N_INIT = 1 << 2,    /* --n-init */
    CLI_EM_TOL = 1 << 3,       /* --tol */
    CLI_EM_MAX_ITER = 1 << 4,  /* --max-iter */
    CLI_EM_REG_COVAR = 1 << 5, /* --reg-covar */
    CLI_EM_THREADS = 1 << 6,   /* --threads */
    CLI_EM_MIN_COVAR = 1 << 7, /* --min-covar (hmm fit) */
    CLI_EM_INIT_PARAMS = 1 << 8, /* --init-params (hmm fit) */
    CLI_EM_PARAMS = 1 << 9       /* --params (hmm fit) */
};
/** If the long option `name` is one of the shared EM options, parses
 *  `value` into *p, sets its bit in *given, stores the exit code (0 or an
 *  error already printed) in *rc and returns 1; else returns 0.
 *  min_max_iter is the smallest --max-iter accepted. */
int cli_parse_em_option(const char *name, const char *value,
                        int min_max_iter, emgmm_params *p, unsigned *given,
                        int *rc);
/** The options of hmm fit's Baum-Welch, parsed into *p as
 *  cli_parse_em_option does: --seed, --n-init, --tol (any finite value;
 *  negative runs --max-iter iterations), --max-iter (>= 0), --threads,
 *  --min-covar, --params, --init-params and hmmlearn's priors
 *  (--startprob-prior, --transmat-prior, --means-prior, --means-weight,
 *  --covars-prior, --covars-weight). */
int cli_parse_hmm_option(const char *name, const char *value,
                         emgmm_hmm_params *p, unsigned *given, int *rc);
/** init + declare + check, for a command with a single output. */
int cli_outputs_single(cli_outputs *o, const char *flag, const char *path,
                       int *index);
/** Reserves the temporary paths of every declared output. */
int cli_outputs_open(cli_outputs *o);
/** The path to write output `index` to (its temporary file, or "-"). */
const char *cli_outputs_tmp(const cli_outputs *o, int index);
/** Flushes standard output (an error there fails the command) and renames
 *  every temporary file into place. */
int cli_outputs_commit(cli_outputs *o);
/** Removes temporary files that were not committed; frees the set. */
void cli_outputs_free(cli_outputs *o);

/** A model file or a picture (`path`, named by option `flag`; NULL is
 *  fine) cannot be an HDF5 name: EXIT_BAD_USAGE if it is. cli_write_stream
 *  checks this too; a command calls it first to fail before the work. */
int cli_text_output(const char *flag, const char *path);
/** Writes output `index` with writer(f, data), which returns non-zero on
 *  failure (errors of the stream itself are checked here too); the file
 *  is flushed to disk before the set commits. EXIT_WORK_FAILED on
 *  failure, with a message naming the output. */
int cli_write_stream(const cli_outputs *o, int index,
                     int (*writer)(FILE *f, const void *data),
                     const void *data);
/** Writes the model JSON to output `index`; EXIT_WORK_FAILED on
 *  failure. */
int cli_write_model(const cli_outputs *o, int index, const emgmm_model *m);
/** Writes a hidden Markov model file to output `index`;
 *  EXIT_WORK_FAILED on failure. */
int cli_write_hmm_model(const cli_outputs *o, int index, const emgmm_hmm *m);
/** The dataset an HDF5 output named without one gets (FILE.h5 rather
 *  than FILE.h5:/DATASET): /labels for --labels, /proba for --proba,
 *  /states for --states; for another option (-o), /labels for labels
 *  (predict) or /states for states (hmm decode) when `integers` is set,
 *  else /data (sample, impute, hmm sample). */
const char *cli_default_dataset(const char *flag, int integers);
/** Writes labels (n) to output `index` (an HDF5 name: int32, the dataset
 *  of cli_default_dataset); EXIT_WORK_FAILED on failure. */
int cli_write_labels(const cli_outputs *o, int index, const int32_t *labels,
                     size_t n);
/** Writes a rows x cols matrix to output `index` (an HDF5 name: float64,
 *  the dataset of cli_default_dataset). */
int cli_write_matrix(const cli_outputs *o, int index, const double *a,
                     size_t rows, size_t cols);
/** Under mpirun, a .npy or HDF5 output (cli_is_shared_name) that every
 *  rank writes its rows of: rank 0 creates output `index`'s temporary
 *  file for total_rows x cols (int32 when int32 is set, else float64),
 *  then each rank writes its n_rows rows at first_row. Collective: every
 *  rank calls it and gets the same status (EXIT_WORK_FAILED on failure);
 *  rank 0 commits the file with the other outputs. */
int cli_write_shared_rows(const cli_outputs *o, int index, const char *flag,
                          const char *final_path, const void *rows,
                          size_t n_rows, size_t cols, int int32,
                          size_t first_row, size_t total_rows);
/** Non-zero for an output every rank writes its rows of: .npy, HDF5. */
int cli_is_shared_name(const char *path);

/*
 * An output written a block of rows at a time (--stream): int32 labels
 * (int32 set, cols 0) or rows of cols doubles; this process's n_rows rows
 * start at first_row of total_rows. The output is `index` of the set
 * (its temporary file; used on rank 0 only under mpirun), named by
 * option `flag` with final name `final_path` (for messages).
 *  - One process (or mpirun -np 1): the whole file is written in order
 *    (dataio_rows_begin: .npy, a chunked HDF5 dataset, CSV or text, or
 *    standard output for "-").
 *  - Several ranks: .npy or HDF5 only (else EXIT_BAD_USAGE): rank 0
 *    creates the temporary file for the whole array and every rank
 *    writes its rows at their place; into HDF5 one rank after the other
 *    (cli_rows_serial: a rank opens, writes and closes in its own turn
 *    only, see cli_predict_mapped).
 * cli_rows_create is collective (the same status on every rank);
 * cli_rows_open, cli_rows_write and cli_rows_close are this process's
 * (they print their error themselves; cli_mpi_max afterwards);
 * cli_rows_close checks that all n_rows came and syncs the file;
 * cli_rows_free abandons what is still open. The output set commits
 * (rank 0) or removes the file as for any other output.
 */
typedef struct cli_rows cli_rows;
int cli_rows_create(const cli_outputs *o, int index, const char *flag,
                    const char *final_path, int int32, size_t cols,
                    size_t first_row, size_t n_rows, size_t total_rows,
                    cli_rows **out);
int cli_rows_serial(const cli_rows *w);
/** Several ranks: the next cli_rows_open writes n_rows rows starting at
 *  first_row (of the total_rows of cli_rows_create), for a rank whose
 *  rows are not one run (impute --stream --draws: its rows of each
 *  copy), with a cli_rows_close after each run. One process: nothing
 *  changes (the file is written in order, opened once). */
void cli_rows_at(cli_rows *w, size_t first_row, size_t n_rows);
int cli_rows_open(cli_rows *w);
int cli_rows_write(cli_rows *w, const void *rows, size_t n);
int cli_rows_close(cli_rows *w);
void cli_rows_free(cli_rows *w);

/** The rows of a block of --stream work: about 4 MiB of doubles of the
 *  wider of cols and k, 256 to 65536 rows. */
size_t cli_stream_block_rows(size_t cols, size_t k);

/** An output of cli_predict_mapped: its index in the set (rank 0), the
 *  option that named it and its final name. */
typedef struct cli_rows_output {
    int index;
    const char *flag;
    const char *path;
} cli_rows_output;

/** Labels (when `labels` is not NULL) and component probabilities (when
 *  `proba` is not NULL) of the mapped rows (--stream), a block at a time
 *  with cli_predict (the labels and numbers of the loaded rows), written
 *  block by block with cli_rows: memory does not grow with the rows.
 *  `missing` (the map opened with allow_missing, --missing): a first
 *  pass looks for a gap, and if there is one anywhere every block takes
 *  the posteriors given the observed values, as cli_predict does for the
 *  loaded rows. Collective under mpirun (each rank its part of the map).
 *  A value that is not finite is EXIT_BAD_USAGE with the reader's
 *  message (file, row, column); an output that cannot be written
 *  EXIT_WORK_FAILED. The outputs are committed by the caller with the
 *  others. */
int cli_predict_mapped(const emgmm_model *m, dataio_map *map,
                       const dataio_shape *shape, const cli_outputs *o,
                       const cli_rows_output *labels,
                       const cli_rows_output *proba, int missing);

/* ------------------------------------------------------------------ */
/* Commands                                                            */
/* ------------------------------------------------------------------ */

/* Each takes argv starting at the command name and returns the exit
 * status. */
int cmd_fit(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_impute(int argc, char **argv);
int cmd_select(int argc, char **argv);
int cmd_plot(int argc, char **argv);
/* emgmm hmm fit | decode | score | sample | plot (cmd_hmm.c) */
int cmd_hmm(int argc, char **argv);

#endif /* EMGMM_CLI_COMMON_H */
