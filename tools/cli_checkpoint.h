/*
 * Checkpoints and the signals of batch schedulers, shared by `fit` and
 * `hmm fit`: SIGTERM (what SLURM sends at the time limit) or SIGINT stops
 * a fit after the iteration in progress, the checkpoint (when asked for)
 * is written atomically every N iterations and at the stop, and the
 * program exits with EXIT_INTERRUPTED saying how to resume.
 */
#ifndef EMGMM_CLI_CHECKPOINT_H
#define EMGMM_CLI_CHECKPOINT_H

#include <signal.h>

typedef struct cli_checkpoint {
    const char *path;    /* --checkpoint FILE; NULL: none (or not rank 0) */
    int every;           /* --checkpoint-every */
    int last_iteration;  /* the last completed iteration */
    int saved_iteration; /* of the last checkpoint written, 0 = none */
    int failed;          /* errno of a failed write, or 0 */
    int interrupted;     /* the signal that stopped the fit, or 0 */
    struct sigaction old_term, old_int;
} cli_checkpoint;

/* Writes `model` to path; returns 0, or non-zero with errno set. */
typedef int (*cli_checkpoint_save_fn)(const void *model, const char *path);

/* From here to cli_checkpoint_end, SIGTERM and SIGINT are only noted. */
void cli_checkpoint_begin(cli_checkpoint *c, const char *path, int every);
void cli_checkpoint_end(cli_checkpoint *c);
/* Called after every iteration (from the progress callback): writes the
 * checkpoint when it is due or a signal arrived (under mpirun the ranks
 * agree on the signal first, so that all stop at the same iteration).
 * Returns 1 when the fit must stop. */
int cli_checkpoint_after(cli_checkpoint *c, int iteration,
                         cli_checkpoint_save_fn save, const void *model);
/* After a fit that stopped: if it was for a failed checkpoint or a
 * signal, prints the one-line message and returns the exit status;
 * otherwise 0. */
int cli_checkpoint_outcome(const cli_checkpoint *c);

#endif
