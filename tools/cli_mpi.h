/*
 * The processes of a run under mpirun (or srun), for the commands that
 * run on every rank (fit, select, predict, score, impute, hmm fit, hmm
 * decode, hmm score): rank, size, and the few collective operations the
 * program needs. In a build without MPI, or when the program was not
 * started by an MPI launcher, there is one process and every operation
 * is trivial, so the same binary runs alone or under mpirun.
 */
#ifndef EMGMM_CLI_MPI_H
#define EMGMM_CLI_MPI_H

#include <stddef.h>
#include <stdint.h>

/** Starts MPI when an MPI launcher started this process (its environment
 *  says so); otherwise does nothing. Returns 0, CLI_MPI_NOT_BUILT when a
 *  launcher started several ranks but this build has no MPI, or another
 *  non-zero value if MPI could not be started. */
int cli_mpi_init(int *argc, char ***argv);
enum { CLI_MPI_NOT_BUILT = 2 };
/** The number of ranks a launcher's environment announces
 *  (OMPI_COMM_WORLD_SIZE, PMI_SIZE), 1 without one; and this process's
 *  rank there (0 without one). Read even in a build without MPI. */
int cli_mpi_launcher_size(void);
int cli_mpi_launcher_rank(void);
/** Ends MPI if it was started. */
void cli_mpi_finalize(void);
/** 1 when running under an MPI launcher (even with one process). */
int cli_mpi_active(void);
int cli_mpi_rank(void);
int cli_mpi_size(void);

/** emgmm_allreduce_fn: sums count doubles over all processes in place. */
int cli_mpi_allreduce(double *values, size_t count, void *unused);
/** Rank 0's string (cap bytes) to every process. */
int cli_mpi_bcast_string(char *buf, size_t cap);
/** The largest of every process's value (exit statuses: the worst). */
int cli_mpi_max(int value);
/** Every process's rows, in rank order, to every process: *all (malloc'd,
 *  *total_rows x cols). Returns 0, or -1 when out of memory or when MPI
 *  fails (the same answer on every process). */
int cli_mpi_allgather_rows(const double *rows, size_t n_rows, size_t cols,
                           double **all, size_t *total_rows);
/** The same to process 0 only (elsewhere *all is NULL). Counts are
 *  int32 labels when is_int is set, doubles otherwise. */
int cli_mpi_gather_rows(const void *rows, size_t n_rows, size_t cols,
                        int is_int, void **all);

#endif
