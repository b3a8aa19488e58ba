/*
 * What the data commands share under mpirun (fit, select, predict, score,
 * impute): each rank's block of rows of DATA (and of --weights), and the
 * k-means start of a distributed fit, computed alike on every rank from
 * an evenly spaced sample of rows gathered from all ranks. Without
 * mpirun there is one rank and its block is the whole file.
 *
 * Every function here is collective unless it says otherwise: all ranks
 * call it and get the same exit status (0, or EXIT_WORK_FAILED /
 * EXIT_BAD_USAGE after a message), so that no rank waits for one that
 * gave up.
 */
#ifndef EMGMM_CLI_DISTRIBUTED_H
#define EMGMM_CLI_DISTRIBUTED_H

#include "cli_common.h"

#include <stddef.h>
#include <stdint.h>

/** Rows of the k-means start under mpirun (and with --stream): every row
 *  up to this many, else evenly spaced rows (the same for every rank
 *  count). */
enum { CLI_START_SAMPLE_ROWS = 65536 };

/** The stride of the start's sample: 1 up to CLI_START_SAMPLE_ROWS rows,
 *  else s = ceil(total / CLI_START_SAMPLE_ROWS): rows 0, s, 2s, ... of
 *  the file, whatever the rank count. */
size_t cli_sample_stride(size_t total);

/**
 * This rank's block of DATA, rows *first .. of *total (dataio's split:
 * rows N*r/P to N*(r+1)/P), and of --weights when weights_path is not
 * NULL (*weights: x->rows values, non-negative, the caller frees; NULL
 * without). Not collective: a rank's own read error is printed by that
 * rank, and the caller passes the status to cli_mpi_max. Fewer rows than
 * ranks is EXIT_BAD_USAGE.
 */
int cli_load_block(const char *data_path, const dataio_read_options *read,
                   const char *weights_path, dataio_matrix *x,
                   double **weights, size_t *first, size_t *total);

/** MODEL (read by every rank) and this rank's block of DATA, with the
 *  checks of cli_load_model_and_data. Without mpirun: the whole file
 *  (*first 0, *total its rows). Collective. */
int cli_load_model_and_block(const char *command, const char *model_path,
                             const char *data_path,
                             const dataio_read_options *read,
                             emgmm_model **m, dataio_matrix *x,
                             size_t *first, size_t *total);

/** --stream: MODEL (read by every rank) and this rank's block of DATA
 *  opened with dataio_map_open (mapped, or an HDF5 dataset read by
 *  hyperslab a block of rows at a time), with the feature check of
 *  cli_load_model_and_block; fewer rows than ranks is EXIT_BAD_USAGE.
 *  The caller closes *map (dataio_map_close; NULL on failure is fine)
 *  and frees *m. Collective. */
int cli_open_model_and_map(const char *model_path, const char *data_path,
                           const dataio_read_options *read, emgmm_model **m,
                           dataio_map **map, dataio_shape *shape);

/** The sample rows of the k-means start, gathered from every rank in
 *  rank order (which is row order): n x d rows and, with sample
 *  weights, their weights (else NULL). The same on every rank. */
typedef struct cli_sample {
    double *rows;
    double *weights;
    size_t n, d;
} cli_sample;

/** Gathers the sample rows of an in-memory block (x: rows first .. of
 *  total, with their weights or NULL). Collective; cli_sample_free
 *  after. */
int cli_gather_sample(const dataio_matrix *x, const double *weights,
                      size_t first, size_t total, cli_sample *s);
/** The same from rows a rank has already picked (mine: n x d, my_w their
 *  weights or NULL), for a block that is not in memory (--stream). */
int cli_gather_sample_rows(const double *mine, const double *my_w,
                           size_t n, size_t d, cli_sample *s);
void cli_sample_free(cli_sample *s);

/**
 * The start of restart `run` (0-based) of a distributed fit of p: the
 * k-means (p->init) start and the M-step on its labels, computed on the
 * sample, from the library's random stream of restart `run`
 * (emgmm_params.first_init), so that with every row in the sample (N up
 * to CLI_START_SAMPLE_ROWS) the restarts are exactly those of emgmm_fit
 * with p->n_init restarts without mpirun. Not collective (it uses no
 * MPI) but deterministic, so every rank computes the same model and the
 * same status; returns the library status (EMGMM_OK, or e.g.
 * EMGMM_ERR_TOO_FEW_SAMPLES; info, when not NULL, says which component
 * was singular) and prints nothing.
 */
int cli_start_of_run(const emgmm_params *p, const cli_sample *s, int run,
                     emgmm_model **start, emgmm_fit_info *info);

/**
 * The starts of a fit under mpirun: the sample of an in-memory block
 * gathered, then starts[r] = cli_start_of_run(p, .., r) for r = 0 ..
 * n_starts - 1 (n_starts 1, or --n-init). Collective; a library failure
 * is reported ("the k-means start: ...") and leaves every starts[r]
 * NULL.
 */
int cli_sample_start(const emgmm_params *p, const dataio_matrix *x,
                     const double *weights, size_t first, size_t total,
                     int n_starts, emgmm_model **starts);
/** The same from rows a rank has already picked (--stream). */
int cli_start_from_sample(const emgmm_params *p, const double *mine,
                          const double *my_w, size_t n, size_t d,
                          int n_starts, emgmm_model **starts);

#endif
