/* Checkpoints and SIGTERM/SIGINT for long fits (see cli_checkpoint.h). */
#include "cli_checkpoint.h"
#include "cli_common.h"
#include "cli_mpi.h"

#include <errno.h>
#include <string.h>

/* Noted by the handler, acted upon at the end of the iteration in
 * progress. */
static volatile sig_atomic_t g_signal;

static void note_signal(int sig)
{
    g_signal = sig;
}

void cli_checkpoint_begin(cli_checkpoint *c, const char *path, int every)
{
    memset(c, 0, sizeof *c);
    c->path = path;
    c->every = every > 0 ? every : 1;
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = note_signal;
    act.sa_flags = SA_RESTART; /* a checkpoint being written goes on */
    sigemptyset(&act.sa_mask);
    g_signal = 0;
    sigaction(SIGTERM, &act, &c->old_term);
    sigaction(SIGINT, &act, &c->old_int);
}

void cli_checkpoint_end(cli_checkpoint *c)
{
    sigaction(SIGTERM, &c->old_term, NULL);
    sigaction(SIGINT, &c->old_int, NULL);
}

int cli_checkpoint_after(cli_checkpoint *c, int iteration,
                         cli_checkpoint_save_fn save, const void *model)
{
    int stop = g_signal != 0;
    if (cli_mpi_size() > 1) {
        /* Under mpirun the signal reaches the ranks at slightly different
         * times: agree, so that rank 0 writes the checkpoint of the
         * iteration at which all of them stop. */
        double any = stop;
        if (cli_mpi_allreduce(&any, 1, NULL) == 0)
            stop = any != 0.0;
    }
    c->last_iteration = iteration;
    if (c->path != NULL && (stop || iteration % c->every == 0)) {
        errno = 0;
        if (save(model, c->path) != 0) {
            c->failed = errno ? errno : EIO;
            return 1; /* stops the fit */
        }
        c->saved_iteration = iteration;
    }
    if (stop) {
        c->interrupted = g_signal ? (int)g_signal : SIGTERM;
        return 1;
    }
    return 0;
}

int cli_checkpoint_outcome(const cli_checkpoint *c)
{
    const char *sig = c->interrupted == SIGINT ? "SIGINT" : "SIGTERM";
    if (c->failed)
        return cli_error(EXIT_WORK_FAILED,
                         "--checkpoint: cannot write '%s': %s", c->path,
                         strerror(c->failed));
    if (c->interrupted && c->saved_iteration > 0)
        return cli_error(EXIT_INTERRUPTED,
                         "interrupted by %s after iteration %d; checkpoint "
                         "written to '%s' (continue with --resume %s)",
                         sig, c->saved_iteration, c->path, c->path);
    if (c->interrupted)
        return cli_error(EXIT_INTERRUPTED,
                         "interrupted by %s after iteration %d; nothing "
                         "saved (use --checkpoint FILE to keep the state)",
                         sig, c->last_iteration);
    return 0;
}
