/*
 * emgmm: the command-line program. Dispatches to the commands (cmd_fit.c,
 * cmd_model.c, cmd_impute.c, cmd_select.c, cmd_plot.c, cmd_hmm.c) and
 * prints the usage and version. Every command returns its exit status
 * here: 0 success, 1 the work failed, 2 bad usage or input, 3
 * interrupted.
 */
#include "cli_common.h"
#include "cli_mpi.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs(
        "Usage:\n"
        "  emgmm fit DATA [-k K] [-c TYPE] [--init METHOD | --init-model MODEL]\n"
        "            [--seed S] [--n-init N] [--tol T] [--max-iter M]\n"
        "            [--reg-covar R] [--threads T] [--shape N,D]\n"
        "            [--weights FILE] [--missing] [--stream] [--require-converged]\n"
        "            [-o MODEL] [--labels OUT] [--proba OUT] [--trace SVG]\n"
        "            [--json] [-v]\n"
        "  emgmm select DATA [-k KS] [-c TYPES] [--criterion bic|aic]\n"
        "            [--init METHOD] [--n-init N] [--seed S] [--tol T]\n"
        "            [--max-iter M] [--reg-covar R] [--threads T]\n"
        "            [--shape N,D] [--weights FILE] [--missing] [-o BEST_MODEL]\n"
        "            [--plot SVG] [--json] [-v]\n"
        "  emgmm plot    MODEL DATA [-o SVG] [--max-points N] [--shape N,D]\n"
        "  emgmm predict MODEL DATA [-o LABELS] [--proba OUT] [--missing]\n"
        "            [--shape N,D] [--stream]\n"
        "  emgmm score   MODEL DATA [--json] [--missing] [--shape N,D]\n"
        "            [--stream]\n"
        "  emgmm sample  MODEL -n N [--seed S] -o OUT\n"
        "  emgmm impute  MODEL DATA -o OUT [--draws M] [--seed S] [--shape N,D]\n"
        "            [--stream]\n"
        "  emgmm hmm fit    DATA -k STATES [-c TYPE] [--lengths L] [options]\n"
        "  emgmm hmm decode MODEL DATA [--lengths L] [--algorithm viterbi|map]\n"
        "            [-o STATES] [--proba OUT] [--json] [--shape N,D]\n"
        "  emgmm hmm score  MODEL DATA [--lengths L] [--json] [--shape N,D]\n"
        "  emgmm hmm sample MODEL -n N [--seed S] -o OUT [--states OUT]\n"
        "  emgmm hmm plot   MODEL DATA [--lengths L] -o SVG [--max-points N]\n"
        "  emgmm --help | --version | COMMAND --help | hmm COMMAND --help\n"
        "\n"
        "Gaussian mixture models fitted by Expectation-Maximisation.\n"
        "\n"
        "Commands:\n"
        "  fit       fit a mixture to DATA and write the model (JSON)\n"
        "  select    fit every number of components and covariance type\n"
        "            asked for, print their BIC (or AIC), keep the best\n"
        "  plot      draw a model on its data as an SVG picture\n"
        "  predict   write the most probable component of each row of DATA\n"
        "  score     print the mean log-likelihood, BIC and AIC of DATA\n"
        "  sample    draw samples from a model\n"
        "  impute    fill the missing values of DATA from a model\n"
        "  hmm fit | decode | score | sample | plot\n"
        "            hidden Markov models with Gaussian emissions (hmmlearn's\n"
        "            GaussianHMM): fit by Baum-Welch on one or several\n"
        "            sequences (--lengths), decode the states (Viterbi),\n"
        "            score, sample, draw the states (SVG); see 'emgmm hmm\n"
        "            --help'\n"
        "\n"
        "DATA is .npy, CSV/TSV (optional header row), raw float64 with\n"
        "--shape N,D, - for standard input, or an HDF5 dataset,\n"
        "FILE.h5:/path/to/dataset (FILE.h5 alone: its only 2-D dataset);\n"
        "outputs named .h5 or .hdf5 are written as HDF5 datasets. Missing\n"
        "values (NaN, or an empty CSV cell) are accepted with --missing by\n"
        "fit, select, predict and score, and by impute. 'emgmm COMMAND\n"
        "--help' explains each command's options and defaults.\n"
        "\n"
        "Exit status: 0 success; 1 the work failed (singular covariance, no\n"
        "convergence with --require-converged, an unwritable output); 2 bad\n"
        "usage or bad input; 3 fit interrupted by SIGTERM or SIGINT.\n"
        "\n"
        "Example:\n"
        "  emgmm fit data/sightings.csv -k 2 -o model.json\n"
        "  emgmm predict model.json data/sightings.csv\n"
        "  emgmm select data/sightings.csv -k 1..6 -o best.json\n"
        "  emgmm plot model.json data/sightings.csv -o sightings.svg\n"
        "  emgmm hmm fit data/tracks.csv -k 3 -c full \\\n"
        "      --lengths data/tracks-lengths.txt -o hmm.json\n",
        f);
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_BAD_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("emgmm %s\n", emgmm_version());
        return 0;
    }
    cli_set_command(cmd);
    if (strcmp(cmd, "fit") == 0)
        return cmd_fit(argc - 1, argv + 1);
    if (strcmp(cmd, "predict") == 0)
        return cmd_predict(argc - 1, argv + 1);
    if (strcmp(cmd, "score") == 0)
        return cmd_score(argc - 1, argv + 1);
    if (strcmp(cmd, "select") == 0)
        return cmd_select(argc - 1, argv + 1);
    if (strcmp(cmd, "impute") == 0)
        return cmd_impute(argc - 1, argv + 1);
    if (strcmp(cmd, "hmm") == 0 && argc > 2 &&
        (strcmp(argv[2], "fit") == 0 || strcmp(argv[2], "decode") == 0 ||
         strcmp(argv[2], "score") == 0))
        return cmd_hmm(argc - 1, argv + 1);
    /* Under mpirun fit, predict, score, select, impute, hmm fit, hmm
     * decode and hmm score run on every rank; rank 0 runs the others
     * alone. */
    if (cli_mpi_rank() != 0)
        return 0;
    if (strcmp(cmd, "plot") == 0)
        return cmd_plot(argc - 1, argv + 1);
    if (strcmp(cmd, "sample") == 0)
        return cmd_sample(argc - 1, argv + 1);
    if (strcmp(cmd, "hmm") == 0)
        return cmd_hmm(argc - 1, argv + 1);
    if (cmd[0] == '-')
        return cli_error(EXIT_BAD_USAGE,
                         "unknown option '%s' (see 'emgmm --help')", cmd);
    return cli_error(EXIT_BAD_USAGE,
                     "unknown command '%s' (see 'emgmm --help')", cmd);
}

int main(int argc, char **argv)
{
    const int mpi = cli_mpi_init(&argc, &argv);
    if (mpi == CLI_MPI_NOT_BUILT) {
        /* Every rank stops; rank 0 says why, once. */
        cli_set_quiet(cli_mpi_launcher_rank() != 0);
        return cli_error(EXIT_BAD_USAGE,
                         "started as %d ranks by an MPI launcher, but this "
                         "emgmm was built without MPI: each rank would run "
                         "the whole job; build with MPI (apt-get install "
                         "libopenmpi-dev, then meson setup BUILD "
                         "-Dmpi=enabled) or run without the launcher",
                         cli_mpi_launcher_size());
    }
    if (mpi != 0)
        return cli_error(EXIT_WORK_FAILED, "cannot start MPI");
    /* Errors every rank meets are printed once, by rank 0. */
    cli_set_quiet(cli_mpi_rank() != 0);
    int rc = dispatch(argc, argv);
    cli_mpi_finalize();
    /* Output on standard output that could not be written (a full disk,
     * a closed pipe) is a failure, not a success. */
    errno = 0;
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc == 0)
        rc = cli_error(EXIT_WORK_FAILED, "standard output: %s",
                       errno ? strerror(errno) : "write error");
    return rc;
}
