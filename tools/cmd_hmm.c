/* emgmm hmm fit | decode | score | sample | plot: hidden Markov models with
 * Gaussian or Gaussian-mixture emissions (include/emgmm_hmm.h), with
 * hmmlearn's GaussianHMM and GMMHMM models, defaults and array shapes. */
#include "cli_checkpoint.h"
#include "cli_common.h"
#include "cli_distributed.h"
#include "cli_mpi.h"
#include "plot_common.h"
#include "svg.h"

#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

enum {
    OPT_LENGTHS = 256,
    OPT_INIT_MODEL,
    OPT_SEED,
    OPT_N_INIT,
    OPT_TOL,
    OPT_MAX_ITER,
    OPT_MIN_COVAR,
    OPT_PARAMS,
    OPT_INIT_PARAMS,
    OPT_STARTPROB_PRIOR,
    OPT_TRANSMAT_PRIOR,
    OPT_MEANS_PRIOR,
    OPT_MEANS_WEIGHT,
    OPT_COVARS_PRIOR,
    OPT_COVARS_WEIGHT,
    OPT_WEIGHTS_PRIOR,
    OPT_MIX,
    OPT_THREADS,
    OPT_SHAPE,
    OPT_STATES,
    OPT_PROBA,
    OPT_JSON,
    OPT_ALGORITHM,
    OPT_CHECKPOINT,
    OPT_CHECKPOINT_EVERY,
    OPT_RESUME,
    OPT_MAX_POINTS,
    OPT_MISSING
};

static const char *const model_and_data[] = {"MODEL", "DATA", NULL};
static const char *const data_only[] = {"DATA", NULL};
static const char *const model_only[] = {"MODEL", NULL};

static void hmm_usage(FILE *f)
{
    fputs(
        "Usage:\n"
        "  emgmm hmm fit    DATA -k STATES [-c TYPE] [--mix M] [--lengths L]\n"
        "                   [--init-model MODEL] [--seed S] [--n-init N]\n"
        "                   [--tol T] [--max-iter N] [--min-covar C]\n"
        "                   [--params LETTERS] [--init-params LETTERS]\n"
        "                   [--startprob-prior X] [--transmat-prior X]\n"
        "                   [--weights-prior X] [--means-prior X]\n"
        "                   [--means-weight X]\n"
        "                   [--covars-prior X] [--covars-weight X]\n"
        "                   [--threads T] [--shape N,D] [-o MODEL]\n"
        "                   [--states OUT] [--proba OUT] [--json] [-v]\n"
        "  emgmm hmm decode MODEL DATA [--lengths L] [--algorithm viterbi|map]\n"
        "                   [-o STATES] [--proba OUT] [--json] [--shape N,D]\n"
        "  emgmm hmm score  MODEL DATA [--lengths L] [--json] [--shape N,D]\n"
        "  emgmm hmm sample MODEL -n N [--seed S] -o OUT [--states OUT]\n"
        "  emgmm hmm plot   MODEL DATA [--lengths L] [--max-points N]\n"
        "                   [--shape N,D] -o SVG\n"
        "  emgmm hmm COMMAND --help\n"
        "\n"
        "Hidden Markov models trained by Baum-Welch, with hmmlearn's models,\n"
        "defaults and array shapes. A model has K states, start\n"
        "probabilities (K), a transition matrix (K x K) and its emissions:\n"
        "one Gaussian per state (GaussianHMM: means K x D, covariances full\n"
        "K x D x D, tied D x D, diag K x D, spherical K), or with --mix M a\n"
        "mixture of M Gaussians per state (GMMHMM: weights K x M, means\n"
        "K x M x D, covariances full K x M x D x D, tied K x D x D, diag\n"
        "K x M x D, spherical K x M).\n"
        "\n"
        "Commands:\n"
        "  fit     fit a model to DATA and write it (JSON)\n"
        "  decode  write the most probable state of each row: the Viterbi\n"
        "          path, or each row's most probable state (--algorithm map)\n"
        "  score   print the log-likelihood of DATA (total over the\n"
        "          sequences)\n"
        "  sample  draw one sequence of N rows (and its states) from a model\n"
        "  plot    draw DATA against time, coloured by the Viterbi states\n"
        "          (SVG)\n"
        "\n"
        "Sequences: DATA holds the rows of every sequence, one sequence after\n"
        "the other; --lengths L gives the rows of each: a file (one integer a\n"
        "line, or a .npy of integers) or a list such as 100,200,50 (a file of\n"
        "that name wins). The lengths must add up to the rows of DATA.\n"
        "Without --lengths, DATA is one sequence. DATA is .npy, CSV/TSV,\n"
        "HDF5 (FILE.h5:/dataset; --lengths too), raw float64 with --shape\n"
        "N,D, or - for standard input.\n"
        "\n"

        "Exit status: 0 success; 1 the work failed (a covariance that stays\n"
        "singular, an unwritable output); 2 bad usage or bad input; 3 a fit\n"
        "interrupted by SIGTERM or SIGINT.\n"
        "\n"
        "Examples:\n"
        "  emgmm hmm fit data/tracks.csv -k 3 -c full \\\n"
        "      --lengths data/tracks-lengths.txt -o hmm.json --json\n"
        "  emgmm hmm decode hmm.json data/tracks.csv \\\n"
        "      --lengths data/tracks-lengths.txt -o states.csv\n"
        "  emgmm hmm score hmm.json data/tracks.csv \\\n"
        "      --lengths data/tracks-lengths.txt --json\n"
        "  emgmm hmm sample hmm.json -n 500 --seed 7 -o sim.csv --states "
        "sim-states.csv\n"
        "  emgmm hmm plot hmm.json data/tracks.csv \\\n"
        "      --lengths data/tracks-lengths.txt -o tracks.svg\n",
        f);
}

/* ------------------------------------------------------------------ */
/* Shared                                                              */
/* ------------------------------------------------------------------ */

/* rows x cols doubles (at least one), or NULL with the error printed. */
static double *alloc_matrix(size_t rows, size_t cols, const char *what)
{
    if (cols != 0 && rows > SIZE_MAX / sizeof(double) / cols) {
        cli_error(EXIT_WORK_FAILED, "%s: out of memory (%zu x %zu)", what,
                  rows, cols);
        return NULL;
    }
    double *a = malloc((rows * cols != 0 ? rows * cols : 1) * sizeof *a);
    if (a == NULL)
        cli_error(EXIT_WORK_FAILED, "%s: out of memory (%zu x %zu)", what,
                  rows, cols);
    return a;
}

static int32_t *alloc_states(size_t n, const char *what)
{
    int32_t *s = malloc((n != 0 ? n : 1) * sizeof *s);
    if (s == NULL)
        cli_error(EXIT_WORK_FAILED, "%s: out of memory (%zu rows)", what, n);
    return s;
}

/* The library's inference calls on x, with gaps (NaN, read with
 * --missing) marginalised when `missing` is set. */
static int hmm_proba_of(const emgmm_hmm *m, const dataio_matrix *x,
                        const size_t *lengths, size_t n_seq, int missing,
                        double *proba)
{
    return (missing ? emgmm_hmm_predict_proba_missing
                    : emgmm_hmm_predict_proba)(m, x->data, x->rows, x->cols,
                                               lengths, n_seq, proba);
}

static int hmm_decode_of(const emgmm_hmm *m, const dataio_matrix *x,
                         const size_t *lengths, size_t n_seq, int missing,
                         int32_t *states, double *log_probability)
{
    return (missing ? emgmm_hmm_decode_missing
                    : emgmm_hmm_decode)(m, x->data, x->rows, x->cols,
                                        lengths, n_seq, states,
                                        log_probability);
}

static int hmm_score_of(const emgmm_hmm *m, const dataio_matrix *x,
                        const size_t *lengths, size_t n_seq, int missing,
                        double *log_likelihood)
{
    return (missing ? emgmm_hmm_score_missing
                    : emgmm_hmm_score)(m, x->data, x->rows, x->cols, lengths,
                                       n_seq, log_likelihood);
}

/* Says why a library call on a model failed; returns the exit status. */
static int hmm_failed(const char *what, int status)
{
    if (status == EMGMM_ERR_NOMEM)
        return cli_error(EXIT_WORK_FAILED, "%s: out of memory", what);
    return cli_library_error(what, status);
}

/* The Viterbi path (viterbi) or each row's most probable state (map, from
 * the posteriors in proba, n x k). */
static void argmax_rows(const double *proba, size_t n, size_t k,
                        int32_t *states)
{
    for (size_t i = 0; i < n; i++) {
        size_t best = 0;
        for (size_t c = 1; c < k; c++)
            if (proba[i * k + c] > proba[i * k + best])
                best = c;
        states[i] = (int32_t)best;
    }
}

/* Prints one JSON object (taking it) on standard output. */
static int print_json(json_t *obj, const char *what)
{
    if (obj == NULL)
        return cli_error(EXIT_WORK_FAILED, "cannot write the JSON summary "
                         "(%s)", what);
    int rc = json_dumpf(obj, stdout, JSON_REAL_PRECISION(17));
    json_decref(obj);
    if (rc != 0 || fputc('\n', stdout) == EOF)
        return cli_error(EXIT_WORK_FAILED, "standard output: write error");
    return 0;
}

/* A number, or null when it is not finite (jansson refuses NaN). */
static json_t *json_real_or_null(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

/* This rank's share of whole sequences under mpirun: sequences [q0, q1),
 * rows [r0, r1). Rank r takes the sequences that start in its share of
 * the rows (at least one each while there are as many sequences as
 * ranks; with fewer, the first ranks take none), so the blocks are
 * balanced by rows. */
static void split_sequences(const size_t *lengths, size_t n_seq,
                            size_t n_rows, size_t ranks, size_t rank,
                            size_t *q0, size_t *q1, size_t *r0, size_t *r1)
{
    size_t row = 0, q = 0;
    *q0 = *q1 = 0;
    for (size_t r = 0; r <= rank; r++) {
        const size_t limit = n_rows * (r + 1) / ranks;
        const size_t first = q;
        while (q < n_seq && (q == first || row + lengths[q] <= limit) &&
               n_seq - q > ranks - r - 1) {
            row += lengths[q];
            q++;
        }
        if (r == rank) {
            *q0 = first;
            *q1 = q;
        }
    }
    *r0 = 0;
    for (size_t i = 0; i < *q0; i++)
        *r0 += lengths[i];
    *r1 = *r0;
    for (size_t i = *q0; i < *q1; i++)
        *r1 += lengths[i];
}

/* A rank's rows of DATA: the whole file without mpirun; under mpirun
 * the rows of its share of whole sequences (split_sequences), read once
 * DATA's row count is known (and with it the lengths), so that a rank
 * reads no other row of a .npy, raw or HDF5 file. */
typedef struct seq_share {
    const char *data_path, *lengths_spec;
    size_t ranks, rank;
    int picked;      /* the lengths were read (under mpirun) */
    int rc;          /* their exit status */
    size_t *lengths; /* every sequence's; NULL: DATA is one (alone) */
    size_t n_seq;
    size_t total;    /* DATA's rows */
    size_t q0, q1;   /* this rank's sequences */
    size_t r0, r1;   /* and their rows */
} seq_share;

/* dataio_row_range_fn: the lengths (read by every rank, checked against
 * the rows of DATA) and this rank's share of them. */
static void pick_share(size_t total, void *user, size_t *first,
                       size_t *count)
{
    seq_share *s = user;
    s->picked = 1;
    s->total = total;
    s->rc = cli_load_lengths(s->lengths_spec, s->data_path, total,
                             &s->lengths, &s->n_seq);
    /* Without --lengths, DATA is one sequence. */
    if (s->rc == 0 && s->lengths == NULL) {
        if ((s->lengths = malloc(sizeof *s->lengths)) == NULL)
            s->rc = cli_error(EXIT_WORK_FAILED, "out of memory");
        else
            s->lengths[0] = total;
        s->n_seq = 1;
    }
    if (s->rc != 0) {
        *first = *count = 0; /* nothing more is read */
        return;
    }
    split_sequences(s->lengths, s->n_seq, total, s->ranks, s->rank, &s->q0,
                    &s->q1, &s->r0, &s->r1);
    *first = s->r0;
    *count = s->r1 - s->r0;
}

/* Reads this rank's rows of DATA into x (see seq_share); under mpirun
 * the lengths too. Not collective: a rank's own read error (a bad value
 * in its rows) is printed by that rank; the caller passes the status to
 * cli_mpi_max. */
static int load_rows(const char *data_path, const dataio_read_options *read,
                     const char *lengths_spec, dataio_matrix *x,
                     seq_share *s)
{
    memset(s, 0, sizeof *s);
    s->data_path = data_path;
    s->lengths_spec = lengths_spec;
    s->ranks = (size_t)cli_mpi_size();
    s->rank = (size_t)cli_mpi_rank();
    s->n_seq = 1;
    if (s->ranks <= 1) {
        int rc = cli_load_data(data_path, read, x);
        s->total = s->r1 = x->rows;
        return rc;
    }
    char err[512] = "";
    size_t first = 0;
    memset(x, 0, sizeof *x);
    if (dataio_read_matrix_rows(data_path, read, pick_share, s, x, &first,
                                NULL, err, sizeof err) != 0) {
        memset(x, 0, sizeof *x);
        /* The lengths' own error was printed when they were read. */
        if (s->picked && s->rc != 0)
            return s->rc;
        return cli_error_always(EXIT_BAD_USAGE, "%s",
                                err[0] ? err : "cannot read the data");
    }
    return s->rc;
}

/* Without mpirun, the lengths once DATA has been read (under mpirun they
 * were read with it). */
static int load_lengths(seq_share *s)
{
    if (s->ranks > 1)
        return 0;
    int rc = cli_load_lengths(s->lengths_spec, s->data_path, s->total,
                              &s->lengths, &s->n_seq);
    s->q0 = 0;
    s->q1 = s->n_seq;
    s->r0 = 0;
    s->r1 = s->total;
    return rc;
}

/* hmm decode and hmm score: the model (every rank) and the rank's rows
 * of DATA, x, with every sequence's length in s->lengths (one sequence
 * of all rows without --lengths). Returns the exit status, the same on
 * every rank. */
static int load_share(const char *command, const char *model_path,
                      const char *data_path, const char *lengths_spec,
                      const dataio_read_options *read, emgmm_hmm **m,
                      dataio_matrix *x, seq_share *s)
{
    int rc = 0;
    memset(s, 0, sizeof *s);
    if (strcmp(model_path, "-") == 0 && strcmp(data_path, "-") == 0)
        rc = cli_error(EXIT_BAD_USAGE, "%s: MODEL and DATA cannot both be "
                       "standard input", command);
    if (rc == 0)
        rc = cli_load_hmm_model(model_path, m);
    /* Under mpirun the lengths are read with DATA: this is checked
     * first. */
    if (rc == 0 && cli_mpi_size() > 1 && lengths_spec != NULL &&
        strcmp(lengths_spec, "-") == 0 && strcmp(model_path, "-") == 0)
        rc = cli_error(EXIT_BAD_USAGE, "%s: MODEL and --lengths cannot both "
                       "be standard input", command);
    if (rc == 0)
        rc = load_rows(data_path, read, lengths_spec, x, s);
    if (rc == 0 && x->cols != emgmm_hmm_n_features(*m))
        rc = cli_error(EXIT_BAD_USAGE,
                       "%s: the data have %zu column%s but the model %s "
                       "has %zu feature%s", data_path, x->cols,
                       x->cols == 1 ? "" : "s", model_path,
                       emgmm_hmm_n_features(*m),
                       emgmm_hmm_n_features(*m) == 1 ? "" : "s");
    if (rc == 0 && lengths_spec != NULL && strcmp(lengths_spec, "-") == 0 &&
        strcmp(model_path, "-") == 0)
        rc = cli_error(EXIT_BAD_USAGE, "%s: MODEL and --lengths cannot both "
                       "be standard input", command);
    if (rc == 0)
        rc = load_lengths(s);
    /* Without --lengths, DATA is one sequence. */
    if (rc == 0 && s->lengths == NULL) {
        if ((s->lengths = malloc(sizeof *s->lengths)) == NULL)
            rc = cli_error(EXIT_WORK_FAILED, "out of memory");
        else
            s->lengths[0] = s->total;
        s->n_seq = 1;
    }
    return cli_mpi_max(rc);
}

/* ------------------------------------------------------------------ */
/* hmm fit                                                             */
/* ------------------------------------------------------------------ */

static const char fit_optstring[] = ":k:c:o:vh";

static const struct option fit_options[] = {
    {"n-states", required_argument, NULL, 'k'},
    {"covariance-type", required_argument, NULL, 'c'},
    {"lengths", required_argument, NULL, OPT_LENGTHS},
    {"init-model", required_argument, NULL, OPT_INIT_MODEL},
    {"seed", required_argument, NULL, OPT_SEED},
    {"n-init", required_argument, NULL, OPT_N_INIT},
    {"tol", required_argument, NULL, OPT_TOL},
    {"max-iter", required_argument, NULL, OPT_MAX_ITER},
    {"min-covar", required_argument, NULL, OPT_MIN_COVAR},
    {"params", required_argument, NULL, OPT_PARAMS},
    {"init-params", required_argument, NULL, OPT_INIT_PARAMS},
    {"startprob-prior", required_argument, NULL, OPT_STARTPROB_PRIOR},
    {"transmat-prior", required_argument, NULL, OPT_TRANSMAT_PRIOR},
    {"means-prior", required_argument, NULL, OPT_MEANS_PRIOR},
    {"means-weight", required_argument, NULL, OPT_MEANS_WEIGHT},
    {"covars-prior", required_argument, NULL, OPT_COVARS_PRIOR},
    {"covars-weight", required_argument, NULL, OPT_COVARS_WEIGHT},
    {"weights-prior", required_argument, NULL, OPT_WEIGHTS_PRIOR},
    {"mix", required_argument, NULL, OPT_MIX},
    {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
    {"checkpoint-every", required_argument, NULL, OPT_CHECKPOINT_EVERY},
    {"resume", required_argument, NULL, OPT_RESUME},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"shape", required_argument, NULL, OPT_SHAPE},
    {"missing", no_argument, NULL, OPT_MISSING},
    {"output", required_argument, NULL, 'o'},
    {"states", required_argument, NULL, OPT_STATES},
    {"proba", required_argument, NULL, OPT_PROBA},
    {"json", no_argument, NULL, OPT_JSON},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

static void fit_help(FILE *f)
{
    emgmm_hmm_params d;
    emgmm_hmm_params_default(&d);
    const char *cov = emgmm_covariance_type_name(d.covariance_type);
    fprintf(f,
        "Usage: emgmm hmm fit DATA -k STATES [options]\n"
        "\n"
        "Fits a hidden Markov model to DATA by Baum-Welch and writes the\n"
        "model as JSON: Gaussian emissions (hmmlearn's GaussianHMM), or with\n"
        "--mix M a mixture of M Gaussians per state (hmmlearn's GMMHMM);\n"
        "the same model, defaults, priors and order of operations.\n"
        "DATA is .npy, CSV/TSV (optional header row), HDF5\n"
        "(FILE.h5:/dataset), raw little-endian float64 with --shape, or - for\n"
        "standard input; its rows are one or several sequences (--lengths).\n"
        "\n"
        "Model and algorithm:\n"
        "  -k, --n-states K       number of hidden states, >= 1 (required\n"
        "                         unless --init-model gives it)\n"
        "  -c, --covariance-type TYPE\n"
        "                         full, tied, diag or spherical (default %s;\n"
        "                         with --mix, tied is one matrix per state)\n"
        "      --mix M            a mixture of M Gaussians per state\n"
        "                         (default: one Gaussian per state)\n"
        "      --lengths L        the rows of each sequence: a file (one\n"
        "                         integer a line, or a .npy of integers) or\n"
        "                         a list such as 100,200,50 (a file of that\n"
        "                         name wins); they must add up to the rows\n"
        "                         of DATA (default: one sequence)\n"
        "      --init-model MODEL start from this model file (from 'emgmm hmm\n"
        "                         fit'); then only the parameters named by\n"
        "                         --init-params are initialised from the\n"
        "                         data (default there: none); -k, -c and\n"
        "                         --mix, if given, must agree with the file\n"
        "      --seed S           seed of the k-means start of the means,\n"
        "                         0 to 2^64-1 (default %llu)\n"
        "      --n-init N         fits from N seeds, the highest final\n"
        "                         log-likelihood kept; not with --init-model\n"
        "                         (default %d)\n"
        "      --tol T            stop when the total log-likelihood of an\n"
        "                         iteration's E-step exceeds the previous one\n"
        "                         by less than T (a decrease stops too, as in\n"
        "                         hmmlearn); negative: run exactly --max-iter\n"
        "                         iterations (default %g)\n"
        "      --max-iter N       most Baum-Welch iterations (hmmlearn's\n"
        "                         n_iter); 0 with --init-model returns that\n"
        "                         model (default %d)\n"
        "      --min-covar C      added to the diagonal of the data's\n"
        "                         covariance for the initial covariances, and\n"
        "                         the floor of a covariance that stops being\n"
        "                         positive definite (default %g)\n"
        "      --params LETTERS   what the M-step updates: s start\n"
        "                         probabilities, t transitions, m means,\n"
        "                         c covariances, w mixture weights (with\n"
        "                         --mix; ignored otherwise) (default %s)\n"
        "      --init-params LETTERS\n"
        "                         what is initialised from the data: s, t\n"
        "                         uniform, m k-means centres, c the data's\n"
        "                         covariance, w uniform; without\n"
        "                         --init-model all of them (default %s;\n"
        "                         with --init-model: none)\n"
        "      --threads T        threads; 0 means OMP_NUM_THREADS, else all\n"
        "                         cores (default %d)\n",
        cov ? cov : "diag", (unsigned long long)d.seed, d.n_init, d.tol,
        d.max_iter, d.min_covar, d.params, d.init_params, d.n_threads);
    fputs(
        "\n"
        "Long jobs:\n"
        "      --checkpoint FILE  save the model and the iteration state to\n"
        "                         FILE (atomically) every --checkpoint-every\n"
        "                         iterations, and when SIGTERM or SIGINT\n"
        "                         arrives (then exit 3 after the iteration\n"
        "                         in progress); needs --n-init 1\n"
        "      --checkpoint-every N\n"
        "                         iterations between checkpoints (default 1)\n"
        "      --resume FILE      continue the fit saved in FILE (a checkpoint\n"
        "                         or a finished fit) on the same data: the\n"
        "                         result equals the uninterrupted fit bit for\n"
        "                         bit on the same machine; --tol, --seed,\n"
        "                         --params and the total --max-iter come\n"
        "                         from FILE unless given; -k, -c, --mix must\n"
        "                         agree with it\n"
        , f);
    fprintf(f,
        "\n"
        "Priors (hmmlearn's, scalars):\n"
        "      --startprob-prior X  Dirichlet prior of the start\n"
        "                           probabilities, 1 = none (default %g)\n"
        "      --transmat-prior X   Dirichlet prior of each row of the\n"
        "                           transition matrix (default %g)\n"
        "      --weights-prior X    Dirichlet prior of each state's mixture\n"
        "                           weights, with --mix (default %g)\n"
        "      --means-prior X      prior mean of the means (default %g)\n"
        "      --means-weight X     its weight, 0 = none (default %g)\n"
        "      --covars-prior X     prior of the covariances (default: 1e-2,\n"
        "                           added to every entry, as hmmlearn; with\n"
        "                           --mix GMMHMM's alpha or psi: diag -1.5,\n"
        "                           spherical -(M+2)/2, full and tied 0)\n"
        "      --covars-weight X    its weight (default: 1; with --mix\n"
        "                           GMMHMM's beta or nu: diag and spherical\n"
        "                           0, full -(D+2), tied -(M+D+1))\n",
        d.startprob_prior, d.transmat_prior, d.weights_prior, d.means_prior,
        d.means_weight);
    fputs(
        "\n"
        "Input:\n"
        "      --shape N,D        DATA is raw little-endian float64: N rows, D\n"
        "                         columns (default: detect .npy or CSV)\n"
        "      --missing          NaN (and empty CSV cells) are missing values:\n"
        "                         each row emits the density of its observed\n                         values; the M-step uses their expected\n                         values (Gaussian emissions; no --mix)\n"
                "\n"
        "Output (a file name ending in .npy is written as .npy, else CSV;\n"
        "- is standard output; files appear only if everything succeeds):\n"
        "  -o, --output MODEL     write the model JSON to MODEL (default:\n"
        "                         standard output, unless --json or another\n"
        "                         output uses it)\n"
        "      --states OUT       write the Viterbi path of the fitted model:\n"
        "                         each row's 0-based state, one a line, or\n"
        "                         .npy int32\n"
        "      --proba OUT        write each row's state posteriors (N x K)\n"
        "      --json             print one JSON object on standard output:\n"
        "                         n_states, n_mix, n_features, n_samples,\n"
        "                         n_sequences, covariance_type, n_iter,\n"
        "                         converged, log_likelihood (total over the\n"
        "                         sequences, of the returned model), bic,\n"
        "                         aic, seconds\n"
        "  -v, --verbose          print one line per iteration on standard\n"
        "                         error: iteration, total log-likelihood of\n"
        "                         its E-step, change, seconds (and 'init I/N'\n"
        "                         before each start when --n-init > 1)\n"
        "  -h, --help             show this help and exit\n"
        "\n"
        "BIC = -2 log L + p ln N and AIC = -2 log L + 2 p, with p the free\n"
        "parameters of the letters in --params counted as hmmlearn counts\n"
        "them and N the rows of DATA.\n"
        "\n"
        "Exit status: 0 success; 1 the fit or an output failed; 2 bad usage or\n"
        "bad input (lengths that do not add up to the rows, a model file that\n"
        "disagrees with -k, -c or --mix); 3 interrupted by SIGTERM or SIGINT\n"
        "(after writing the checkpoint, with --checkpoint).\n"
        "\n"
        "Examples:\n"
        "  emgmm hmm fit data/tracks.csv -k 3 -c full \\\n"
        "      --lengths data/tracks-lengths.txt -o hmm.json --states s.csv\n"
        "  emgmm hmm fit x.npy -k 2 --lengths 100,200,50 --json -v\n"
        "  emgmm hmm fit x.npy --init-model start.json --tol -1 --max-iter 20 "
        "-o hmm.json\n"
        "  emgmm hmm fit big.npy -k 8 --checkpoint ckpt.json -o hmm.json\n"
        "  emgmm hmm fit big.npy --resume ckpt.json -o hmm.json\n",
        f);
}

typedef struct hmm_fit_args {
    const char *data;
    const char *lengths;
    const char *init_model;
    const char *out;
    const char *states;
    const char *proba;
    int k; /* 0 = not given */
    int mix; /* --mix M: GMM emissions with M components; 0 = not given */
    const char *checkpoint;
    int checkpoint_every;
    const char *resume;
    int cov_given;
    emgmm_covariance_type cov;
    dataio_read_options read;
    unsigned given; /* CLI_EM_* bits */
    int json;
    int verbose;
    int help;
} hmm_fit_args;

static int parse_fit_args(int argc, char **argv, hmm_fit_args *a,
                          emgmm_hmm_params *p)
{
    int c, rc = 0, li = -1;
    opterr = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, fit_optstring,
                                       fit_options, &li)) != -1) {
        if (li >= 0 && cli_parse_hmm_option(fit_options[li].name, optarg, p,
                                            &a->given, &rc)) {
            li = -1;
            continue;
        }
        li = -1;
        switch (c) {
        case 'k':
            rc = cli_parse_int("-k", optarg, 1, INT_MAX, &a->k);
            break;
        case 'c':
            if (emgmm_covariance_type_parse(optarg, &a->cov) != EMGMM_OK)
                rc = cli_error(EXIT_BAD_USAGE,
                               "-c: unknown covariance type '%s' (full, "
                               "tied, diag or spherical)", optarg);
            a->cov_given = 1;
            break;
        case OPT_LENGTHS: a->lengths = optarg; break;
        case OPT_MIX:
            rc = cli_parse_int("--mix", optarg, 1, 4096, &a->mix);
            break;
        case OPT_INIT_MODEL: a->init_model = optarg; break;
        case OPT_CHECKPOINT: a->checkpoint = optarg; break;
        case OPT_CHECKPOINT_EVERY:
            rc = cli_parse_int("--checkpoint-every", optarg, 1, INT_MAX,
                               &a->checkpoint_every);
            break;
        case OPT_RESUME: a->resume = optarg; break;
        case OPT_SHAPE:
            rc = cli_parse_shape("--shape", optarg, &a->read);
            break;
        case OPT_MISSING: a->read.allow_missing = 1; break;
        case 'o': a->out = optarg; break;
        case OPT_STATES: a->states = optarg; break;
        case OPT_PROBA: a->proba = optarg; break;
        case OPT_JSON: a->json = 1; break;
        case 'v': a->verbose = 1; break;
        case 'h': a->help = 1; return 0;
        default: return cli_bad_option("hmm fit", c, argv, fit_optstring);
        }
    }
    if (rc == 0)
        rc = cli_positionals("hmm fit", argc, argv, data_only);
    if (rc != 0)
        return rc;
    a->data = argv[optind];
    if (a->resume != NULL && a->init_model != NULL)
        return cli_error(EXIT_BAD_USAGE, "hmm fit: --resume and --init-model "
                         "exclude each other (--resume continues a fit, "
                         "--init-model starts one)");
    if (a->resume != NULL && p->n_init != 1)
        return cli_error(EXIT_BAD_USAGE, "hmm fit: --resume continues one "
                         "fit: --n-init must be 1");
    if (a->checkpoint != NULL && p->n_init != 1)
        return cli_error(EXIT_BAD_USAGE, "hmm fit: --checkpoint needs "
                         "--n-init 1 (a checkpoint holds one fit)");
    if (a->checkpoint != NULL && strcmp(a->checkpoint, "-") == 0)
        return cli_error(EXIT_BAD_USAGE, "hmm fit: --checkpoint needs a "
                         "file, not standard output");
    if (a->resume != NULL && (a->given & CLI_EM_INIT_PARAMS))
        return cli_error(EXIT_BAD_USAGE, "hmm fit: --init-params does not "
                         "go with --resume (the checkpoint holds every "
                         "parameter)");
    /* A resumed fit starts from its checkpoint, as from a model. */
    if (a->resume != NULL)
        a->init_model = a->resume;
    if (a->k == 0 && a->init_model == NULL)
        return cli_error(EXIT_BAD_USAGE, "hmm fit: -k is required (the "
                         "number of states; or --init-model)");
    if (a->init_model != NULL && p->n_init != 1)
        return cli_error(EXIT_BAD_USAGE, "hmm fit: --n-init does not go "
                         "with --init-model (a fit from a model has one "
                         "start)");
    if (a->init_model == NULL && (a->given & CLI_EM_INIT_PARAMS) &&
        !(strchr(p->init_params, 's') && strchr(p->init_params, 't') &&
          strchr(p->init_params, 'm') && strchr(p->init_params, 'c') &&
          (a->mix == 0 || strchr(p->init_params, 'w'))))
        return cli_error(EXIT_BAD_USAGE, "hmm fit: --init-params '%s': "
                         "without --init-model every parameter comes from "
                         "the data, so it must hold s, t, m and c%s",
                         p->init_params, a->mix ? " and w" : "");
    /* With a starting model, only what --init-params names comes from
     * the data: by default nothing, the file is the start. */
    if (a->init_model != NULL && !(a->given & CLI_EM_INIT_PARAMS))
        p->init_params[0] = '\0';
    if (strcmp(a->data, "-") == 0 && a->init_model != NULL &&
        strcmp(a->init_model, "-") == 0)
        return cli_error(EXIT_BAD_USAGE, "hmm fit: DATA and --init-model "
                         "cannot both be standard input");
    if (a->lengths != NULL && a->init_model != NULL &&
        strcmp(a->lengths, "-") == 0 && strcmp(a->init_model, "-") == 0)
        return cli_error(EXIT_BAD_USAGE, "hmm fit: --lengths and "
                         "--init-model cannot both be standard input");
    p->n_states = a->k;
    if (a->cov_given)
        p->covariance_type = a->cov;
    if (a->mix != 0) {
        p->emission = EMGMM_HMM_GMM;
        p->n_mix = a->mix;
    }
    p->missing = a->read.allow_missing;
    return 0;
}

/* -k and -c must agree with the starting model. */
static int check_init_model(const hmm_fit_args *a, const emgmm_hmm *m)
{
    const char *what = a->resume ? "the checkpoint" : "--init-model";
    size_t k = emgmm_hmm_n_states(m);
    emgmm_covariance_type t = emgmm_hmm_get_covariance_type(m);
    if (a->k != 0 && (size_t)a->k != k)
        return cli_error(EXIT_BAD_USAGE,
                         "hmm fit: -k %d disagrees with %s %s, which has "
                         "%zu state%s", a->k, what, a->init_model, k,
                         k == 1 ? "" : "s");
    const size_t mix = emgmm_hmm_get_emission(m) == EMGMM_HMM_GMM
                           ? emgmm_hmm_n_mix(m)
                           : 0;
    if (a->mix != 0 && (size_t)a->mix != mix)
        return cli_error(EXIT_BAD_USAGE,
                         "hmm fit: --mix %d disagrees with %s %s, which "
                         "has %s", a->mix, what, a->init_model,
                         mix ? "another number of components per state"
                             : "Gaussian emissions (no --mix)");
    if (a->cov_given && a->cov != t) {
        const char *name = emgmm_covariance_type_name(t);
        return cli_error(EXIT_BAD_USAGE,
                         "hmm fit: -c %s disagrees with %s %s, whose "
                         "covariance type is %s",
                         emgmm_covariance_type_name(a->cov), what,
                         a->init_model,
                         name ? name : "unknown");
    }
    return 0;
}

/* With --resume, the settings recorded in the checkpoint's "fit" record,
 * for those not given on the command line. */
static int resume_settings(const hmm_fit_args *a, emgmm_hmm_params *p)
{
    json_error_t jerr;
    json_t *root = json_load_file(a->resume, 0, &jerr);
    const json_t *fit = root ? json_object_get(root, "fit") : NULL;
    if (!json_is_object(fit)) {
        json_decref(root);
        return cli_error(EXIT_BAD_USAGE, "%s: no \"fit\" record to resume "
                         "(use --init-model for a warm start)", a->resume);
    }
    const json_t *v;
    if (!(a->given & CLI_EM_TOL) && json_is_number(v = json_object_get(fit, "tol")))
        p->tol = json_number_value(v);
    if (!(a->given & CLI_EM_SEED) &&
        json_is_integer(v = json_object_get(fit, "seed")))
        p->seed = (uint64_t)json_integer_value(v);
    if (!(a->given & CLI_EM_MAX_ITER) &&
        json_is_integer(v = json_object_get(fit, "max_iter")) &&
        json_integer_value(v) > 0 && json_integer_value(v) <= INT_MAX)
        p->max_iter = (int)json_integer_value(v);
    if (!(a->given & CLI_EM_PARAMS) &&
        json_is_string(v = json_object_get(fit, "params")) &&
        strlen(json_string_value(v)) < sizeof p->params)
        strcpy(p->params, json_string_value(v));
    json_decref(root);
    p->resume = 1;
    return 0;
}

/* After each iteration: the checkpoint (and SIGTERM/SIGINT), and with -v
 * one line on standard error. */
typedef struct fit_progress {
    int n_init;
    int run;  /* the start in progress, 0-based; -1 before the first */
    int last; /* its last iteration */
    int verbose;
    cli_checkpoint ck;
} fit_progress;

static int save_hmm(const void *m, const char *path)
{
    return emgmm_hmm_save(m, path) == EMGMM_OK ? 0 : -1;
}

static int on_iteration(const emgmm_hmm_iteration *it, void *user)
{
    fit_progress *s = user;
    if (cli_checkpoint_after(&s->ck, it->iteration, save_hmm, it->model))
        return 1;
    if (!s->verbose)
        return 0;
    if (s->run < 0 || it->iteration <= s->last) {
        s->run++;
        if (s->n_init > 1)
            fprintf(stderr, "init %d/%d\n", s->run + 1, s->n_init);
    }
    s->last = it->iteration;
    fprintf(stderr, "iter %d  log_likelihood %.5f  change %.1e  %.3f s\n",
            it->iteration, it->log_likelihood, it->change, it->seconds);
    return 0;
}

/* Says why emgmm_hmm_fit failed; returns the exit status. */
static int fit_failed(int status, const emgmm_hmm_params *p,
                      const emgmm_hmm_fit_info *info, const hmm_fit_args *a,
                      size_t n_rows)
{
    switch (status) {
    case EMGMM_ERR_SINGULAR:
        return cli_error(EXIT_WORK_FAILED,
                         "hmm fit failed: the covariance of state %d is not "
                         "positive definite; raise --min-covar (now %g)",
                         info->bad_state, p->min_covar);
    case EMGMM_ERR_TOO_FEW_SAMPLES:
        return cli_error(EXIT_BAD_USAGE,
                         "%s: %zu rows are too few for %d states", a->data,
                         n_rows, p->n_states);
    case EMGMM_ERR_NONFINITE:
    case EMGMM_ERR_RANGE:
        return cli_error(EXIT_BAD_USAGE, "%s: %s", a->data,
                         emgmm_strerror(status));
    default:
        return hmm_failed("hmm fit failed", status);
    }
}

static int print_fit_summary(const emgmm_hmm *m, size_t n_samples,
                             size_t n_seq, const emgmm_hmm_fit_info *info,
                             double seconds)
{
    const char *type =
        emgmm_covariance_type_name(emgmm_hmm_get_covariance_type(m));
    json_t *obj = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:s, s:i, s:b, s:o, s:o, s:o, s:f}",
        "n_states", (json_int_t)emgmm_hmm_n_states(m),
        "n_mix", (json_int_t)emgmm_hmm_n_mix(m),
        "n_features", (json_int_t)emgmm_hmm_n_features(m),
        "n_samples", (json_int_t)n_samples,
        "n_sequences", (json_int_t)n_seq,
        "covariance_type", type ? type : "diag",
        "n_iter", info->n_iter,
        "converged", info->converged ? 1 : 0,
        "log_likelihood", json_real_or_null(info->log_likelihood),
        "bic", json_real_or_null(info->bic),
        "aic", json_real_or_null(info->aic),
        "seconds", seconds);
    return print_json(obj, "hmm fit");
}

/* Under mpirun (`ranks` > 1 processes): every rank has read the lengths
 * and the rows of its whole sequences (load_rows). Without a starting
 * model, the start is computed on every rank from rows gathered from all
 * ranks, as in `emgmm fit` under mpirun: every row up to
 * CLI_START_SAMPLE_ROWS rows (then it is the start of the fit without
 * mpirun, bit for bit), else every s-th row of the file
 * (cli_sample_stride), the same for any rank count. Then rank r fits its
 * sequences, every sum through MPI_Allreduce. Returns the exit status
 * (the same on every rank). */
static int distribute(const hmm_fit_args *a, emgmm_hmm_params *p,
                      const dataio_matrix *x, const seq_share *sh,
                      emgmm_hmm **start)
{
    const size_t ranks = (size_t)cli_mpi_size();
    if (sh->n_seq < ranks)
        return cli_error(EXIT_BAD_USAGE,
                         "%s: %zu sequence%s for %zu ranks: under mpirun "
                         "each rank fits whole sequences (--lengths)",
                         a->data, sh->n_seq, sh->n_seq == 1 ? "" : "s",
                         ranks);
    int rc = 0;
    if (*start == NULL) {
        const size_t d = x->cols, stride = cli_sample_stride(sh->total);
        double *mine = malloc((x->rows * d != 0 ? x->rows * d : 1) *
                              sizeof *mine);
        double *all = NULL;
        size_t n = 0, n_all = 0;
        rc = mine != NULL ? 0 : cli_error(EXIT_WORK_FAILED, "out of memory");
        for (size_t i = 0; rc == 0 && i < x->rows; i++)
            if ((sh->r0 + i) % stride == 0)
                memcpy(mine + n++ * d, x->data + i * d, d * sizeof *mine);
        rc = cli_mpi_max(rc);
        if (rc == 0 && cli_mpi_allgather_rows(mine, n, d, &all, &n_all) != 0)
            rc = cli_error(EXIT_WORK_FAILED, "hmm fit: cannot gather the "
                           "rows of the start");
        free(mine);
        if (rc == 0) {
            /* The sample as one sequence: the start does not depend on
             * the sequences. */
            emgmm_hmm_params q = *p;
            q.max_iter = 0; /* the initialisation only */
            q.progress = NULL;
            int st = emgmm_hmm_fit(&q, all, n_all, d, d, &n_all, 1, start,
                                   NULL);
            if (st != EMGMM_OK)
                rc = cli_library_error("hmm fit: the start", st);
        }
        free(all);
    }
    rc = cli_mpi_max(rc);
    if (rc != 0)
        return rc;
    p->init_model = *start;
    if (!p->resume)
        p->init_params[0] = '\0';
    p->allreduce = cli_mpi_allreduce;
    return 0;
}

static int cmd_hmm_fit(int argc, char **argv)
{
    hmm_fit_args a;
    emgmm_hmm_params p;
    cli_outputs out;
    enum { MODEL, STATES, PROBA, JSON, N_OUT };
    int idx[N_OUT] = {-1, -1, -1, -1};
    dataio_matrix x = {NULL, 0, 0};
    emgmm_hmm *start = NULL, *model = NULL;
    seq_share sh;
    int32_t *states = NULL;
    double *proba = NULL;
    emgmm_hmm_fit_info info;
    int rc;

    memset(&a, 0, sizeof a);
    memset(&info, 0, sizeof info);
    memset(&sh, 0, sizeof sh);
    emgmm_hmm_params_default(&p);
    cli_outputs_init(&out);

    rc = parse_fit_args(argc, argv, &a, &p);
    if (rc != 0)
        return rc;
    if (a.help) {
        fit_help(stdout);
        return 0;
    }

    /* Under mpirun every rank reads the lengths and the rows of its whole
     * sequences, and fits them; rank 0 writes every output. */
    const int ranks = cli_mpi_size(), root = cli_mpi_rank() == 0;
    if (ranks > 1 && p.n_init != 1)
        rc = cli_error(EXIT_BAD_USAGE, "hmm fit: --n-init above 1 is not "
                       "distributed under mpirun yet");

    /* The outputs are checked before any work. */
    if (rc == 0 && root && a.out != NULL)
        rc = cli_outputs_declare(&out, "-o", a.out, &idx[MODEL]);
    if (rc == 0 && root && a.json)
        rc = cli_outputs_declare(&out, "--json", "-", &idx[JSON]);
    if (rc == 0 && root && a.states != NULL)
        rc = cli_outputs_declare(&out, "--states", a.states, &idx[STATES]);
    if (rc == 0 && root && a.proba != NULL)
        rc = cli_outputs_declare(&out, "--proba", a.proba, &idx[PROBA]);
    if (rc == 0 && root && a.out == NULL && !cli_outputs_uses_stdout(&out))
        rc = cli_outputs_declare(&out, "-o", "-", &idx[MODEL]);
    if (rc == 0 && root)
        rc = cli_outputs_check(&out);
    rc = cli_mpi_max(rc);

    if (rc == 0 && a.init_model != NULL) {
        rc = cli_load_hmm_model(a.init_model, &start);
        if (rc == 0)
            rc = check_init_model(&a, start);
        if (rc == 0 && a.resume != NULL)
            rc = resume_settings(&a, &p);
        p.init_model = start;
    }
    if (rc == 0)
        rc = load_rows(a.data, &a.read, a.lengths, &x, &sh);
    rc = cli_mpi_max(rc);
    if (rc == 0 && p.missing)
        rc = cli_check_observed_columns(a.data, &x, ranks > 1);
    if (rc == 0 && start != NULL &&
        x.cols != emgmm_hmm_n_features(start))
        rc = cli_error(EXIT_BAD_USAGE,
                       "%s: the data have %zu column%s but the model %s "
                       "has %zu feature%s", a.data, x.cols,
                       x.cols == 1 ? "" : "s", a.init_model,
                       emgmm_hmm_n_features(start),
                       emgmm_hmm_n_features(start) == 1 ? "" : "s");
    if (rc == 0)
        rc = load_lengths(&sh);
    rc = cli_mpi_max(rc);

    /* x: this rank's rows, those of sequences [sh.q0, sh.q1) (all of
     * them without mpirun; lengths NULL without --lengths). */
    const size_t *lengths = sh.lengths, n_seq = sh.n_seq;
    double seconds = 0.0, t0 = cli_now();
    if (rc == 0 && ranks > 1)
        rc = distribute(&a, &p, &x, &sh, &start);

    fit_progress progress;
    memset(&progress, 0, sizeof progress);
    progress.n_init = start != NULL ? 1 : p.n_init;
    progress.run = -1;
    progress.verbose = a.verbose && root;
    p.progress = on_iteration;
    p.progress_data = &progress;
    if (rc == 0) {
        /* SIGTERM and SIGINT stop the fit after the iteration in progress
         * (with a checkpoint when asked for) instead of killing it. */
        cli_checkpoint_begin(&progress.ck, root ? a.checkpoint : NULL,
                             a.checkpoint_every);
        int st = emgmm_hmm_fit(&p, x.data, x.rows, x.cols, x.cols,
                               lengths ? lengths + sh.q0 : NULL,
                               sh.q1 - sh.q0, &model, &info);
        seconds = cli_now() - t0;
        cli_checkpoint_end(&progress.ck);
        if (st != EMGMM_OK &&
            (rc = cli_checkpoint_outcome(&progress.ck)) != 0)
            ;
        else if (st != EMGMM_OK)
            rc = fit_failed(st, &p, &info, &a, sh.total);
        rc = cli_mpi_max(rc);
    }
    /* --states and --proba: every rank those of its rows (with the model
     * that every rank holds), gathered on rank 0 in rank order, which is
     * row order. */
    const size_t n = sh.total, mine = x.rows,
                 k = model ? emgmm_hmm_n_states(model) : 0;
    const size_t *my_lengths = lengths ? lengths + sh.q0 : NULL;
    int32_t *my_states = NULL;
    double *my_proba = NULL;
    if (rc == 0 && a.states != NULL) {
        int st;
        if ((my_states = alloc_states(mine, "--states")) == NULL)
            rc = EXIT_WORK_FAILED;
        else if (sh.q1 > sh.q0 &&
                 (st = hmm_decode_of(model, &x, my_lengths, sh.q1 - sh.q0,
                                     p.missing, my_states, NULL)) !=
                     EMGMM_OK)
            rc = hmm_failed("--states", st);
    }
    if (rc == 0 && a.proba != NULL) {
        int st;
        if ((my_proba = alloc_matrix(mine, k, "--proba")) == NULL)
            rc = EXIT_WORK_FAILED;
        else if (sh.q1 > sh.q0 &&
                 (st = hmm_proba_of(model, &x, my_lengths, sh.q1 - sh.q0,
                                    p.missing, my_proba)) != EMGMM_OK)
            rc = hmm_failed("--proba", st);
    }
    if (ranks > 1) {
        rc = cli_mpi_max(rc);
        if (rc == 0 && a.states != NULL &&
            cli_mpi_gather_rows(my_states, mine, 1, 1, (void **)&states) !=
                0)
            rc = cli_error(EXIT_WORK_FAILED, "hmm fit: cannot gather the "
                           "states");
        if (rc == 0 && a.proba != NULL &&
            cli_mpi_gather_rows(my_proba, mine, k, 0, (void **)&proba) != 0)
            rc = cli_error(EXIT_WORK_FAILED, "hmm fit: cannot gather the "
                           "posteriors");
        free(my_states);
        free(my_proba);
        rc = cli_mpi_max(rc);
        if (!root && rc == 0)
            goto done; /* rank 0 writes the outputs */
    } else {
        states = my_states;
        proba = my_proba;
    }
    if (rc == 0)
        rc = cli_outputs_open(&out);
    /* Files first, standard output last, then all of them together. */
    for (int pass = 0; pass < 2 && rc == 0; pass++)
        for (int w = 0; w < N_OUT && rc == 0; w++) {
            int i = idx[w];
            if (i < 0 || (strcmp(out.path[i], "-") == 0) != pass)
                continue;
            if (w == MODEL)
                rc = cli_write_hmm_model(&out, i, model);
            else if (w == STATES)
                rc = cli_write_labels(&out, i, states, n);
            else if (w == PROBA)
                rc = cli_write_matrix(&out, i, proba, n, k);
            else
                rc = print_fit_summary(model, n, n_seq, &info, seconds);
        }
    if (rc == 0)
        rc = cli_outputs_commit(&out);
done:
    cli_outputs_free(&out);
    free(states);
    free(proba);
    free(sh.lengths);
    emgmm_hmm_free(&model);
    emgmm_hmm_free(&start);
    dataio_matrix_free(&x);
    return rc;
}

/* ------------------------------------------------------------------ */
/* hmm decode                                                          */
/* ------------------------------------------------------------------ */

static void decode_help(FILE *f)
{
    fputs(
        "Usage: emgmm hmm decode MODEL DATA [options]\n"
        "\n"
        "Writes the most probable hidden state (0-based) of each row of DATA\n"
        "under the model in MODEL (a file from 'emgmm hmm fit'). DATA is\n"
        ".npy, CSV/TSV, raw float64 with --shape, or - for standard input;\n"
        "it must have as many columns as the model has features.\n"
        "\n"
        "Options:\n"
        "      --lengths L        the rows of each sequence: a file (one\n"
        "                         integer a line, or a .npy of integers) or\n"
        "                         a list such as 100,200,50; they must add up\n"
        "                         to the rows of DATA (default: one sequence)\n"
        "      --algorithm A      viterbi: the most probable path of states\n"
        "                         of each sequence (hmmlearn's decode,\n"
        "                         predict); map: each row's most probable\n"
        "                         state from the posteriors, which need not\n"
        "                         form a possible path (default viterbi)\n"
        "  -o, --output STATES    write the states here, one a line (CSV) or\n"
        "                         .npy int32 when the name ends in .npy\n"
        "                         (default: standard output; with --json,\n"
        "                         states are written only with -o FILE)\n"
        "      --proba OUT        also write each row's state posteriors\n"
        "                         (N x K; .npy or CSV)\n"
        "      --json             print one JSON object on standard output:\n"
        "                         n_samples, n_sequences, algorithm,\n"
        "                         log_probability (of the Viterbi path,\n"
        "                         total over the sequences; null for map)\n"
        "      --shape N,D        DATA is raw little-endian float64: N rows,\n"
        "                         D columns (default: detect .npy or CSV)\n"
        "      --missing          NaN (and empty CSV cells) are missing values:\n"
        "                         each row counts with the density of its\n"
        "                         observed values (Gaussian emissions)\n"
        "  -h, --help             show this help and exit\n"
        "\n"
        "Exit status: 0 success; 1 an output could not be written; 2 bad\n"
        "usage or bad input.\n"
        "\n"
        "Examples:\n"
        "  emgmm hmm decode hmm.json data/tracks.csv \\\n"
        "      --lengths data/tracks-lengths.txt -o states.csv\n"
        "  emgmm hmm decode hmm.json x.npy --algorithm map -o s.npy "
        "--proba p.npy --json\n",
        f);
}

static int cmd_hmm_decode(int argc, char **argv)
{
    static const char optstring[] = ":o:h";
    static const struct option options[] = {
        {"lengths", required_argument, NULL, OPT_LENGTHS},
        {"algorithm", required_argument, NULL, OPT_ALGORITHM},
        {"output", required_argument, NULL, 'o'},
        {"proba", required_argument, NULL, OPT_PROBA},
        {"json", no_argument, NULL, OPT_JSON},
        {"shape", required_argument, NULL, OPT_SHAPE},
        {"missing", no_argument, NULL, OPT_MISSING},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *states_path = NULL, *proba_path = NULL, *lengths_spec = NULL;
    dataio_read_options read = {0, 0, 0};
    int c, rc = 0, json = 0, map = 0;

    opterr = 0;
    optind = 1;
    while (rc == 0 &&
           (c = getopt_long(argc, argv, optstring, options, NULL)) != -1) {
        switch (c) {
        case OPT_LENGTHS: lengths_spec = optarg; break;
        case OPT_ALGORITHM:
            if (strcmp(optarg, "map") == 0)
                map = 1;
            else if (strcmp(optarg, "viterbi") == 0)
                map = 0;
            else
                rc = cli_error(EXIT_BAD_USAGE, "--algorithm: unknown "
                               "algorithm '%s' (viterbi or map)", optarg);
            break;
        case 'o': states_path = optarg; break;
        case OPT_PROBA: proba_path = optarg; break;
        case OPT_JSON: json = 1; break;
        case OPT_SHAPE: rc = cli_parse_shape("--shape", optarg, &read); break;
        case OPT_MISSING: read.allow_missing = 1; break;
        case 'h':
            if (cli_mpi_rank() == 0) /* once under mpirun */
                decode_help(stdout);
            return 0;
        default: return cli_bad_option("hmm decode", c, argv, optstring);
        }
    }
    if (rc == 0)
        rc = cli_positionals("hmm decode", argc, argv, model_and_data);
    if (rc != 0)
        return rc;
    const char *model_path = argv[optind], *data_path = argv[optind + 1];
    if (states_path == NULL && !json)
        states_path = "-";

    /* Under mpirun every rank decodes its share of whole sequences; rank
     * 0 gathers the states (and posteriors) in rank order, which is row
     * order, and writes every output. */
    const int root = cli_mpi_rank() == 0;
    cli_outputs out;
    int i_states = -1, i_proba = -1, i_json = -1;
    cli_outputs_init(&out);
    if (root && states_path != NULL)
        rc = cli_outputs_declare(&out, "-o", states_path, &i_states);
    if (root && rc == 0 && json)
        rc = cli_outputs_declare(&out, "--json", "-", &i_json);
    if (root && rc == 0 && proba_path != NULL)
        rc = cli_outputs_declare(&out, "--proba", proba_path, &i_proba);
    if (root && rc == 0)
        rc = cli_outputs_check(&out);
    if ((rc = cli_mpi_max(rc)) != 0) {
        cli_outputs_free(&out);
        return rc;
    }

    emgmm_hmm *m = NULL;
    dataio_matrix x = {NULL, 0, 0};
    seq_share sh;
    int32_t *states = NULL, *all_states = NULL;
    double *proba = NULL, *all_proba = NULL, logprob = 0.0;
    rc = load_share("hmm decode", model_path, data_path, lengths_spec, &read,
                    &m, &x, &sh);
    /* x: this rank's rows, those of sequences [q0, q1). */
    const size_t *lengths = sh.lengths, n_seq = sh.n_seq, q0 = sh.q0,
                 q1 = sh.q1;
    const size_t n = sh.total, k = m ? emgmm_hmm_n_states(m) : 0;
    const size_t mine = rc == 0 ? x.rows : 0;
    const dataio_matrix part = x;
    const int want_proba = proba_path != NULL;
    int st = EMGMM_OK;
    if (rc == 0 && (map || want_proba)) {
        if ((proba = alloc_matrix(mine, k, "hmm decode")) == NULL)
            rc = EXIT_WORK_FAILED;
        else if (q1 > q0)
            st = hmm_proba_of(m, &part, lengths + q0, q1 - q0,
                              read.allow_missing, proba);
        if (rc == 0 && st != EMGMM_OK)
            rc = hmm_failed("hmm decode", st);
    }
    if (rc == 0 && (states = alloc_states(mine, "hmm decode")) == NULL)
        rc = EXIT_WORK_FAILED;
    if (rc == 0 && map) {
        argmax_rows(proba, mine, k, states);
    } else if (rc == 0 && q1 > q0) {
        st = hmm_decode_of(m, &part, lengths + q0, q1 - q0,
                           read.allow_missing, states, &logprob);
        if (st != EMGMM_OK)
            rc = hmm_failed("hmm decode", st);
    }
    rc = cli_mpi_max(rc);
    if (rc == 0 && !map && cli_mpi_allreduce(&logprob, 1, NULL) != 0)
        rc = cli_error(EXIT_WORK_FAILED, "hmm decode: MPI failed");
    if (rc == 0 && cli_mpi_gather_rows(states, mine, 1, 1,
                                       (void **)&all_states) != 0)
        rc = cli_error(EXIT_WORK_FAILED, "hmm decode: cannot gather the "
                       "states");
    if (rc == 0 && want_proba &&
        cli_mpi_gather_rows(proba, mine, k, 0, (void **)&all_proba) != 0)
        rc = cli_error(EXIT_WORK_FAILED, "hmm decode: cannot gather the "
                       "posteriors");
    rc = cli_mpi_max(rc);
    if (rc == 0 && root)
        rc = cli_outputs_open(&out);
    for (int pass = 0; pass < 2 && rc == 0 && root; pass++) {
        /* files, then standard output */
        if (i_states >= 0 &&
            (strcmp(out.path[i_states], "-") == 0) == pass && rc == 0)
            rc = cli_write_labels(&out, i_states, all_states, n);
        if (i_proba >= 0 && (strcmp(out.path[i_proba], "-") == 0) == pass &&
            rc == 0)
            rc = cli_write_matrix(&out, i_proba, all_proba, n, k);
        if (i_json >= 0 && pass == 1 && rc == 0)
            rc = print_json(
                json_pack("{s:I, s:I, s:s, s:o}", "n_samples", (json_int_t)n,
                          "n_sequences", (json_int_t)n_seq, "algorithm",
                          map ? "map" : "viterbi", "log_probability",
                          map ? json_null() : json_real_or_null(logprob)),
                "hmm decode");
    }
    if (rc == 0 && root)
        rc = cli_outputs_commit(&out);
    rc = cli_mpi_max(rc);
    cli_outputs_free(&out);
    free(states);
    free(proba);
    free(all_states);
    free(all_proba);
    free(sh.lengths);
    dataio_matrix_free(&x);
    emgmm_hmm_free(&m);
    return rc;
}

/* ------------------------------------------------------------------ */
/* hmm score                                                           */
/* ------------------------------------------------------------------ */

static void score_help(FILE *f)
{
    fputs(
        "Usage: emgmm hmm score MODEL DATA [options]\n"
        "\n"
        "Prints the log-likelihood of DATA under the model in MODEL: the sum\n"
        "over the sequences of log p(x_1..x_T) (hmmlearn's score(X, lengths)),\n"
        "as one number.\n"
        "\n"
        "Options:\n"
        "      --lengths L        the rows of each sequence: a file (one\n"
        "                         integer a line, or a .npy of integers) or\n"
        "                         a list such as 100,200,50; they must add up\n"
        "                         to the rows of DATA (default: one sequence)\n"
        "      --json             print one JSON object instead: n_samples,\n"
        "                         n_sequences, log_likelihood, bic, aic, with\n"
        "                         BIC = -2 log L + p ln N and AIC = -2 log L\n"
        "                         + 2 p (p the model's free parameters, as\n"
        "                         hmmlearn counts them; N the rows)\n"
        "      --shape N,D        DATA is raw little-endian float64: N rows,\n"
        "                         D columns (default: detect .npy or CSV)\n"
        "      --missing          NaN (and empty CSV cells) are missing values:\n"
        "                         each row counts with the density of its\n"
        "                         observed values (Gaussian emissions)\n"
        "  -h, --help             show this help and exit\n"
        "\n"
        "Exit status: 0 success; 2 bad usage or bad input.\n"
        "\n"
        "Example:\n"
        "  emgmm hmm score hmm.json data/tracks.csv \\\n"
        "      --lengths data/tracks-lengths.txt --json\n",
        f);
}

static int cmd_hmm_score(int argc, char **argv)
{
    static const char optstring[] = ":h";
    static const struct option options[] = {
        {"lengths", required_argument, NULL, OPT_LENGTHS},
        {"json", no_argument, NULL, OPT_JSON},
        {"shape", required_argument, NULL, OPT_SHAPE},
        {"missing", no_argument, NULL, OPT_MISSING},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *lengths_spec = NULL;
    dataio_read_options read = {0, 0, 0};
    int c, rc = 0, json = 0;

    opterr = 0;
    optind = 1;
    while (rc == 0 &&
           (c = getopt_long(argc, argv, optstring, options, NULL)) != -1) {
        switch (c) {
        case OPT_LENGTHS: lengths_spec = optarg; break;
        case OPT_JSON: json = 1; break;
        case OPT_SHAPE: rc = cli_parse_shape("--shape", optarg, &read); break;
        case OPT_MISSING: read.allow_missing = 1; break;
        case 'h':
            if (cli_mpi_rank() == 0) /* once under mpirun */
                score_help(stdout);
            return 0;
        default: return cli_bad_option("hmm score", c, argv, optstring);
        }
    }
    if (rc == 0)
        rc = cli_positionals("hmm score", argc, argv, model_and_data);
    if (rc != 0)
        return rc;
    const char *model_path = argv[optind], *data_path = argv[optind + 1];

    /* Under mpirun every rank scores its share of whole sequences; the
     * log-likelihoods are added over the ranks and rank 0 prints the
     * result. */
    emgmm_hmm *m = NULL;
    dataio_matrix x = {NULL, 0, 0};
    seq_share sh;
    double ll = 0.0;
    rc = load_share("hmm score", model_path, data_path, lengths_spec, &read,
                    &m, &x, &sh);
    /* x: this rank's rows, those of sequences [sh.q0, sh.q1). */
    if (rc == 0 && sh.q1 > sh.q0) {
        int st = hmm_score_of(m, &x, sh.lengths + sh.q0, sh.q1 - sh.q0,
                              read.allow_missing, &ll);
        if (st != EMGMM_OK)
            rc = hmm_failed("hmm score", st);
    }
    rc = cli_mpi_max(rc);
    if (rc == 0 && cli_mpi_allreduce(&ll, 1, NULL) != 0)
        rc = cli_error(EXIT_WORK_FAILED, "hmm score: MPI failed");
    rc = cli_mpi_max(rc);
    if (cli_mpi_rank() != 0) {
        free(sh.lengths);
        dataio_matrix_free(&x);
        emgmm_hmm_free(&m);
        return rc;
    }
    if (rc == 0 && json) {
        const double n = (double)sh.total;
        const double p = (double)emgmm_hmm_n_parameters(m, NULL);
        rc = print_json(
            json_pack("{s:I, s:I, s:o, s:o, s:o}", "n_samples",
                      (json_int_t)sh.total, "n_sequences",
                      (json_int_t)sh.n_seq,
                      "log_likelihood", json_real_or_null(ll), "bic",
                      json_real_or_null(-2.0 * ll + p * log(n)), "aic",
                      json_real_or_null(-2.0 * ll + 2.0 * p)),
            "hmm score");
    } else if (rc == 0) {
        printf("%.17g\n", ll);
    }
    free(sh.lengths);
    dataio_matrix_free(&x);
    emgmm_hmm_free(&m);
    return rc;
}

/* ------------------------------------------------------------------ */
/* hmm sample                                                          */
/* ------------------------------------------------------------------ */

static void sample_help(FILE *f)
{
    fputs(
        "Usage: emgmm hmm sample MODEL -n N -o OUT [options]\n"
        "\n"
        "Draws one sequence of N rows from the model in MODEL (a first state\n"
        "from the start probabilities, then transitions, each row from its\n"
        "state's Gaussian) and writes it as an N x D matrix: .npy when OUT\n"
        "ends in .npy, else CSV (- = standard output). The same seed gives\n"
        "the same numbers.\n"
        "\n"
        "Options:\n"
        "  -n, --n-samples N      number of rows to draw, >= 1 (required)\n"
        "  -o, --output OUT       where to write them (required)\n"
        "      --states OUT       also write each row's state (0-based), one\n"
        "                         a line, or .npy int32\n"
        "      --seed S           random seed, 0 to 2^64-1 (default 0)\n"
        "  -h, --help             show this help and exit\n"
        "\n"
        "Exit status: 0 success; 1 an output could not be written; 2 bad\n"
        "usage or bad input.\n"
        "\n"
        "Example:\n"
        "  emgmm hmm sample hmm.json -n 1000 --seed 7 -o sim.npy "
        "--states sim-states.csv\n",
        f);
}

static int cmd_hmm_sample(int argc, char **argv)
{
    static const char optstring[] = ":n:o:h";
    static const struct option options[] = {
        {"n-samples", required_argument, NULL, 'n'},
        {"output", required_argument, NULL, 'o'},
        {"states", required_argument, NULL, OPT_STATES},
        {"seed", required_argument, NULL, OPT_SEED},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *out_path = NULL, *states_path = NULL;
    size_t n = 0;
    uint64_t seed = 0;
    int c, rc = 0;

    opterr = 0;
    optind = 1;
    while (rc == 0 &&
           (c = getopt_long(argc, argv, optstring, options, NULL)) != -1) {
        switch (c) {
        case 'n': rc = cli_parse_size("-n", optarg, 1, &n); break;
        case 'o': out_path = optarg; break;
        case OPT_STATES: states_path = optarg; break;
        case OPT_SEED: rc = cli_parse_u64("--seed", optarg, &seed); break;
        case 'h': sample_help(stdout); return 0;
        default: return cli_bad_option("hmm sample", c, argv, optstring);
        }
    }
    if (rc == 0)
        rc = cli_positionals("hmm sample", argc, argv, model_only);
    if (rc == 0 && n == 0)
        rc = cli_error(EXIT_BAD_USAGE, "hmm sample: -n is required");
    if (rc == 0 && out_path == NULL)
        rc = cli_error(EXIT_BAD_USAGE, "hmm sample: -o is required "
                       "(- for standard output)");
    if (rc != 0)
        return rc;

    cli_outputs out;
    int i_out = -1, i_states = -1;
    cli_outputs_init(&out);
    rc = cli_outputs_declare(&out, "-o", out_path, &i_out);
    if (rc == 0 && states_path != NULL)
        rc = cli_outputs_declare(&out, "--states", states_path, &i_states);
    if (rc == 0)
        rc = cli_outputs_check(&out);
    if (rc != 0)
        return rc;

    emgmm_hmm *m = NULL;
    double *samples = NULL;
    int32_t *states = NULL;
    rc = cli_load_hmm_model(argv[optind], &m);
    size_t d = m ? emgmm_hmm_n_features(m) : 0;
    if (rc == 0 && (samples = alloc_matrix(n, d, "hmm sample")) == NULL)
        rc = EXIT_WORK_FAILED;
    if (rc == 0 && i_states >= 0 &&
        (states = alloc_states(n, "hmm sample")) == NULL)
        rc = EXIT_WORK_FAILED;
    if (rc == 0) {
        int st = emgmm_hmm_sample(m, n, seed, samples, states);
        if (st != EMGMM_OK)
            rc = hmm_failed("hmm sample", st);
    }
    if (rc == 0)
        rc = cli_outputs_open(&out);
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        if ((strcmp(out.path[i_out], "-") == 0) == pass)
            rc = cli_write_matrix(&out, i_out, samples, n, d);
        if (rc == 0 && i_states >= 0 &&
            (strcmp(out.path[i_states], "-") == 0) == pass)
            rc = cli_write_labels(&out, i_states, states, n);
    }
    if (rc == 0)
        rc = cli_outputs_commit(&out);
    cli_outputs_free(&out);
    free(samples);
    free(states);
    emgmm_hmm_free(&m);
    return rc;
}

/* ------------------------------------------------------------------ */
/* hmm plot                                                            */
/* ------------------------------------------------------------------ */

static void plot_help(FILE *f)
{
    fprintf(f,
        "Usage: emgmm hmm plot MODEL DATA -o SVG [options]\n"
        "\n"
        "Draws DATA against time as an SVG picture (800 x 600), each row\n"
        "coloured by its state on the Viterbi path of the model in MODEL\n"
        "(what 'emgmm hmm decode' writes). One panel per plotted coordinate,\n"
        "stacked on a shared time axis: the features themselves when DATA\n"
        "has one or two columns (named by its header row, CSV/TSV, or\n"
        "'feature 1' and 'feature 2' without one), else its first two\n"
        "principal components (PC 1, PC 2). The x axis is the row of DATA,\n"
        "the sequences one after the other: dashed lines mark where one\n"
        "sequence ends and the next begins (short marks above the panels\n"
        "when there are very many), and the sequences are numbered above\n"
        "the panels where there is room. A strip under the panels\n"
        "shows the state of every row; the title gives the model's states,\n"
        "covariance type and emissions.\n"
        "\n"
        "Options:\n"
        "  -o, --output SVG       write the picture here (required; - for\n"
        "                         standard output)\n"
        "      --lengths L        the rows of each sequence: a file (one\n"
        "                         integer a line, or a .npy of integers) or\n"
        "                         a list such as 100,200,50; they must add up\n"
        "                         to the rows of DATA (default: one sequence)\n"
        "      --max-points N     draw at most N points a panel, >= 1\n"
        "                         (default %d): with more rows, every k-th\n"
        "                         row is drawn and the picture says how many\n"
        "                         (the states, the strip, the sequence\n"
        "                         boundaries and the principal components\n"
        "                         use every row)\n"
        "      --shape N,D        DATA is raw little-endian float64: N rows,\n"
        "                         D columns (default: detect .npy or CSV)\n"
        "  -h, --help             show this help and exit\n"
        "\n"
        "Exit status: 0 success; 1 the output could not be written; 2 bad\n"
        "usage or bad input (lengths that do not add up to the rows, DATA\n"
        "with another number of columns than the model has features).\n"
        "\n"
        "Example:\n"
        "  emgmm hmm fit data/tracks.csv -k 3 -c full \\\n"
        "      --lengths data/tracks-lengths.txt -o hmm.json\n"
        "  emgmm hmm plot hmm.json data/tracks.csv \\\n"
        "      --lengths data/tracks-lengths.txt -o tracks.svg\n",
        PLOT_DEFAULT_MAX_POINTS);
}

/* Layout of the picture (pixels of the 800 x 600 canvas): the panels
 * from HP_TOP down, the state strip under them, the time axis's numbers
 * and label under the strip. */
#define HP_TOP 84.0
#define HP_PANEL_GAP 14.0
#define HP_STRIP_GAP 8.0
#define HP_STRIP_HEIGHT 14.0
#define HP_STRIP_BOTTOM 538.0
#define HP_STRIP_RUNS 2000 /* more runs of a state: one colour a pixel */
#define HP_LINE_POINTS 600 /* more drawn rows: no line through them */
#define HP_DENSE_BOUNDARIES 8.0 /* pixels a sequence: marks, not lines */

/* What the picture shows, computed before the output is opened. */
typedef struct hmm_picture {
    const char *model_path, *data_path;
    size_t n, d, k, n_mix, n_seq;
    emgmm_covariance_type type;
    emgmm_hmm_emission emission;
    size_t *starts;    /* n_seq + 1: first row of each sequence, then n */
    int32_t *states;   /* n: the Viterbi path */
    size_t n_panels;   /* 1 or 2 */
    double *values;    /* n x n_panels: what each panel draws */
    double lo[2], hi[2];
    double explained[2]; /* share of variance of each component (d > 2) */
    size_t every, n_shown; /* rows drawn: every `every`-th */
    char **names;      /* DATA's column names (CSV header), or NULL */
} hmm_picture;

static void hmm_picture_free(hmm_picture *pic)
{
    free(pic->starts);
    free(pic->states);
    free(pic->values);
    free(pic->names);
}

/* The panels' values (the features, or the data projected on its first
 * two principal components) and their ranges. */
static int hmm_plot_prepare(hmm_picture *pic, const dataio_matrix *x,
                            size_t max_points)
{
    const size_t n = x->rows, d = x->cols;
    pic->n = n;
    pic->d = d;
    pic->n_panels = d >= 2 ? 2 : 1;
    pic->every = plot_stride(n, max_points);
    pic->n_shown = n / pic->every + (n % pic->every != 0);
    if ((pic->values = alloc_matrix(n, pic->n_panels, "hmm plot")) == NULL)
        return EXIT_WORK_FAILED;
    if (d <= 2) {
        memcpy(pic->values, x->data, n * d * sizeof *pic->values);
    } else {
        double *basis = malloc(d * 2 * sizeof *basis);
        double *center = malloc(d * sizeof *center);
        int rc = 0;
        if (basis == NULL || center == NULL)
            rc = cli_error(EXIT_WORK_FAILED, "hmm plot: out of memory");
        else if (plot_principal_axes(x, basis, center, pic->explained) != 0)
            rc = cli_error(EXIT_WORK_FAILED,
                           "hmm plot: cannot find the principal components");
        for (size_t i = 0; rc == 0 && i < n; i++)
            plot_project(x->data + i * d, center, basis, d,
                         pic->values + 2 * i);
        free(basis);
        free(center);
        if (rc != 0)
            return rc;
    }
    int finite = 1;
    for (size_t c = 0; c < pic->n_panels; c++) {
        pic->lo[c] = INFINITY;
        pic->hi[c] = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            double v = pic->values[i * pic->n_panels + c];
            finite &= isfinite(v) != 0;
            pic->lo[c] = fmin(pic->lo[c], v);
            pic->hi[c] = fmax(pic->hi[c], v);
        }
    }
    /* Data too large for their squares would give coordinates SVG
     * cannot hold. */
    if (!finite)
        return cli_error(EXIT_BAD_USAGE, "hmm plot: %s: the values are too "
                         "large to draw (their squares overflow); rescale "
                         "the data", cli_display_name(pic->data_path));
    return 0;
}

/* The state strip: a band per run of rows in one state, or (with very
 * many runs) the state of the row under each pixel. */
static void hmm_plot_strip(FILE *f, const svg_plot *s,
                           const hmm_picture *pic)
{
    size_t runs = 1;
    for (size_t i = 1; i < pic->n; i++)
        runs += pic->states[i] != pic->states[i - 1];
    fputs("<g class=\"state-strip\" shape-rendering=\"crispEdges\">\n", f);
    if (runs <= HP_STRIP_RUNS) {
        for (size_t i = 0, j; i < pic->n; i = j) {
            for (j = i + 1; j < pic->n && pic->states[j] == pic->states[i];)
                j++;
            double a = svg_px(s, (double)i - 0.5),
                   b = svg_px(s, (double)j - 0.5);
            fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                       "height=\"%.2f\" fill=\"%s\"/>\n",
                    a, s->top, b - a, s->bottom - s->top,
                    svg_color((size_t)pic->states[i]));
        }
    } else {
        size_t cols = (size_t)ceil(s->right - s->left);
        int32_t prev = -1;
        double from = s->left;
        for (size_t c = 0; c <= cols; c++) {
            int32_t st = -1;
            if (c < cols) {
                double row = floor(s->x0 + (c + 0.5) / svg_sx(s) + 0.5);
                size_t r = row < 0 ? 0
                           : row >= (double)pic->n ? pic->n - 1
                                                   : (size_t)row;
                st = pic->states[r];
            }
            if (c > 0 && st != prev) {
                double to = fmin(s->left + (double)c, s->right);
                fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                           "height=\"%.2f\" fill=\"%s\"/>\n",
                        from, s->top, to - from, s->bottom - s->top,
                        svg_color((size_t)prev));
                from = to;
            }
            prev = st;
        }
    }
    fputs("</g>\n", f);
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
               "fill=\"none\" stroke=\"#333333\"/>\n",
            s->left, s->top, s->right - s->left, s->bottom - s->top);
}

/* One panel's points: a faint line through each sequence's drawn rows
 * (when they are far enough apart for it to be seen), then a dot per
 * drawn row in its state's colour. */
static void hmm_plot_points(FILE *f, const svg_plot *p,
                            const hmm_picture *pic, size_t c)
{
    const size_t np = pic->n_panels, every = pic->every;
    const int lines = pic->n_shown <= HP_LINE_POINTS;
    if (lines)
        fputs("<g fill=\"none\" stroke=\"#c4c4c4\" stroke-width=\"0.8\">\n",
              f);
    for (size_t q = 0; lines && q < pic->n_seq; q++) {
        size_t first = (pic->starts[q] + every - 1) / every * every;
        if (first + every >= pic->starts[q + 1])
            continue; /* fewer than two drawn rows */
        fputs("<polyline points=\"", f);
        for (size_t i = first; i < pic->starts[q + 1]; i += every)
            fprintf(f, "%s%.1f,%.1f", i == first ? "" : " ",
                    svg_px(p, (double)i), svg_py(p, pic->values[i * np + c]));
        fputs("\"/>\n", f);
    }
    if (lines)
        fputs("</g>\n", f);
    double r = pic->n_shown <= 1000 ? 2.4 : pic->n_shown <= 3000 ? 1.8 : 1.3;
    for (size_t j = 0; j < pic->k; j++) {
        fprintf(f, "<g fill=\"%s\">\n", svg_color(j));
        for (size_t i = 0; i < pic->n; i += every)
            if ((size_t)pic->states[i] == j)
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%g\"/>\n",
                        svg_px(p, (double)i),
                        svg_py(p, pic->values[i * np + c]), r);
        fputs("</g>\n", f);
    }
}

static int write_hmm_picture(FILE *f, const void *data)
{
    const hmm_picture *pic = data;
    const size_t n = pic->n, np = pic->n_panels;
    const char *type = emgmm_covariance_type_name(pic->type);
    const char *emission = emgmm_hmm_emission_name(pic->emission);
    char title[160], note[512], mix[48] = "";
    if (pic->emission == EMGMM_HMM_GMM)
        snprintf(mix, sizeof mix, " (n_mix %zu)", pic->n_mix);
    snprintf(title, sizeof title, "%zu-state hidden Markov model, %s "
             "covariance, %s emissions%s", pic->k, type ? type : "?",
             emission ? emission : "?", mix);
    int len = snprintf(note, sizeof note, "%s on %s: Viterbi states; %zu "
                       "sequence%s, %zu rows",
                       cli_display_name(pic->model_path),
                       cli_display_name(pic->data_path), pic->n_seq,
                       pic->n_seq == 1 ? "" : "s", n);
    /* The thinning, shorter when the line would not fit the width. */
    const char *th = plot_ordinal_suffix(pic->every);
    if (pic->every > 1 && len >= 0 && len < 70)
        snprintf(note + len, sizeof note - (size_t)len,
                 "; showing %zu of %zu rows (every %zu%s)", pic->n_shown, n,
                 pic->every, th);
    else if (pic->every > 1 && len >= 0 && (size_t)len < sizeof note)
        snprintf(note + len, sizeof note - (size_t)len,
                 "; showing every %zu%s row", pic->every, th);
    svg_begin(f, title, note);

    /* The panels, then the strip, on one time axis: row i at x = i. */
    svg_plot panel[2], strip;
    const double x0 = -0.5, x1 = (double)n - 0.5;
    const double strip_top = HP_STRIP_BOTTOM - HP_STRIP_HEIGHT;
    const double height =
        (strip_top - HP_STRIP_GAP - HP_TOP - HP_PANEL_GAP * (double)(np - 1)) /
        (double)np;
    svg_axes_style style;
    memset(&style, 0, sizeof style);
    style.integer_x = 1;
    style.y_ticks = np > 1 ? 5 : 8;
    style.no_x_numbers = 1;
    for (size_t c = 0; c < np; c++) {
        svg_plot *p = &panel[c];
        svg_plot_init(p, f, x0, x1, pic->lo[c], pic->hi[c], 0);
        p->x0 = x0; /* no margin: the axis is the rows */
        p->x1 = x1;
        p->top = HP_TOP + (double)c * (height + HP_PANEL_GAP);
        p->bottom = p->top + height;
        char label[128], buf[32];
        if (pic->d > 2)
            snprintf(label, sizeof label, "PC %zu (%.1f%% of variance)",
                     c + 1, 100 * pic->explained[c]);
        else
            snprintf(label, sizeof label, "%s",
                     plot_feature_name(pic->names, c, buf, sizeof buf));
        svg_axes_styled(p, NULL, label, &style);
    }
    svg_plot_init(&strip, f, x0, x1, 0, 1, 0);
    strip.x0 = x0;
    strip.x1 = x1;
    strip.top = strip_top;
    strip.bottom = HP_STRIP_BOTTOM;
    style.y_ticks = -1;
    style.no_x_numbers = 0;
    svg_axes_styled(&strip, pic->n_seq > 1 ? "time step (row of DATA, the "
                    "sequences one after the other)" : "time step (row of "
                    "DATA)", NULL, &style);
    svg_text(f, strip.left - 8, strip.top + 0.5 * HP_STRIP_HEIGHT + 4, 11,
             "end", "state");
    hmm_plot_strip(f, &strip, pic);
    for (size_t c = 0; c < np; c++)
        hmm_plot_points(f, &panel[c], pic, c);

    /* Sequence boundaries across the panels and the strip (only marks
     * above the panels when they are a few pixels apart on average, so
     * as not to hide the points), and the sequences' numbers above the
     * panels where they fit. */
    const svg_plot *top = &panel[0];
    const int dense =
        (top->right - top->left) / (double)pic->n_seq < HP_DENSE_BOUNDARIES;
    if (pic->n_seq > 1)
        fprintf(f, "<g stroke=\"#444444\" %s>\n",
                dense ? "stroke-width=\"0.6\""
                      : "stroke-width=\"1.2\" stroke-dasharray=\"5 3\"");
    for (size_t q = 1; q < pic->n_seq; q++) {
        double x = svg_px(top, (double)pic->starts[q] - 0.5);
        fprintf(f, "<line class=\"seq-boundary\" x1=\"%.2f\" y1=\"%.2f\" "
                   "x2=\"%.2f\" y2=\"%.2f\"/>\n",
                x, dense ? top->top - 4 : top->top, x,
                dense ? top->top : strip.bottom);
    }
    if (pic->n_seq > 1)
        fputs("</g>\n", f);
    int numbered = 0;
    for (size_t q = 0; pic->n_seq > 1 && q < pic->n_seq; q++) {
        double a = svg_px(top, (double)pic->starts[q] - 0.5),
               b = svg_px(top, (double)pic->starts[q + 1] - 0.5);
        char num[32];
        int digits = snprintf(num, sizeof num, "%zu", q + 1);
        if (b - a >= 6.5 * digits + 6) {
            svg_text(f, 0.5 * (a + b), top->top - 6, 11, "middle", "%s",
                     num);
            numbered = 1;
        }
    }
    if (numbered)
        svg_text(f, top->left - 8, top->top - 6, 11, "end", "sequence");

    /* Legend: the states (as many as fit), then the boundaries. */
    size_t shown = pic->k <= PLOT_LEGEND_MAX - 1 ? pic->k
                                                  : PLOT_LEGEND_MAX - 2;
    for (size_t j = 0; j < shown; j++)
        svg_legend(&panel[0], SVG_LEGEND_DOT, svg_color(j), "state %zu", j);
    if (shown < pic->k)
        svg_legend(&panel[0], SVG_LEGEND_DOT, "white",
                   "... %zu more states", pic->k - shown);
    if (pic->n_seq > 1)
        svg_legend(&panel[0], dense ? SVG_LEGEND_SOLID : SVG_LEGEND_DASHED,
                   "#444444", "sequence boundary");
    svg_end(f);
    return 0;
}

static int cmd_hmm_plot(int argc, char **argv)
{
    static const char optstring[] = ":o:h";
    static const struct option options[] = {
        {"lengths", required_argument, NULL, OPT_LENGTHS},
        {"max-points", required_argument, NULL, OPT_MAX_POINTS},
        {"output", required_argument, NULL, 'o'},
        {"shape", required_argument, NULL, OPT_SHAPE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *out_path = NULL, *lengths_spec = NULL;
    size_t max_points = PLOT_DEFAULT_MAX_POINTS;
    dataio_read_options read = {0, 0, 0};
    int c, rc = 0;

    opterr = 0;
    optind = 1;
    while (rc == 0 &&
           (c = getopt_long(argc, argv, optstring, options, NULL)) != -1) {
        switch (c) {
        case OPT_LENGTHS: lengths_spec = optarg; break;
        case OPT_MAX_POINTS:
            rc = cli_parse_size("--max-points", optarg, 1, &max_points);
            break;
        case 'o': out_path = optarg; break;
        case OPT_SHAPE: rc = cli_parse_shape("--shape", optarg, &read); break;
        case 'h': plot_help(stdout); return 0;
        default: return cli_bad_option("hmm plot", c, argv, optstring);
        }
    }
    if (rc == 0)
        rc = cli_positionals("hmm plot", argc, argv, model_and_data);
    if (rc == 0 && out_path == NULL)
        rc = cli_error(EXIT_BAD_USAGE, "hmm plot: -o is required (- for "
                       "standard output)");
    if (rc != 0)
        return rc;
    const char *model_path = argv[optind], *data_path = argv[optind + 1];

    cli_outputs out;
    int i_out = -1;
    rc = cli_outputs_single(&out, "-o", out_path, &i_out);
    if (rc != 0)
        return rc;

    emgmm_hmm *m = NULL;
    dataio_matrix x = {NULL, 0, 0};
    size_t *lengths = NULL;
    hmm_picture pic;
    memset(&pic, 0, sizeof pic);
    pic.model_path = model_path;
    pic.data_path = data_path;
    pic.n_seq = 1;
    rc = cli_load_hmm_model_and_data_named("hmm plot", model_path, data_path,
                                           &read, &m, &x, &pic.names);
    if (rc == 0 && lengths_spec != NULL && strcmp(lengths_spec, "-") == 0 &&
        strcmp(model_path, "-") == 0)
        rc = cli_error(EXIT_BAD_USAGE, "hmm plot: MODEL and --lengths "
                       "cannot both be standard input");
    if (rc == 0)
        rc = cli_load_lengths(lengths_spec, data_path, x.rows, &lengths,
                              &pic.n_seq);
    if (rc == 0) {
        pic.k = emgmm_hmm_n_states(m);
        pic.n_mix = emgmm_hmm_n_mix(m);
        pic.type = emgmm_hmm_get_covariance_type(m);
        pic.emission = emgmm_hmm_get_emission(m);
        pic.starts = malloc((pic.n_seq + 1) * sizeof *pic.starts);
        if (pic.starts == NULL)
            rc = cli_error(EXIT_WORK_FAILED, "hmm plot: out of memory");
        else if ((pic.states = alloc_states(x.rows, "hmm plot")) == NULL)
            rc = EXIT_WORK_FAILED;
    }
    if (rc == 0) {
        pic.starts[0] = 0;
        for (size_t q = 0; q < pic.n_seq; q++)
            pic.starts[q + 1] =
                pic.starts[q] + (lengths != NULL ? lengths[q] : x.rows);
        int st = emgmm_hmm_decode(m, x.data, x.rows, x.cols, lengths,
                                  pic.n_seq, pic.states, NULL);
        if (st != EMGMM_OK)
            rc = hmm_failed("hmm plot", st);
    }
    if (rc == 0)
        rc = hmm_plot_prepare(&pic, &x, max_points);
    if (rc == 0)
        rc = cli_outputs_open(&out);
    if (rc == 0)
        rc = cli_write_stream(&out, i_out, write_hmm_picture, &pic);
    if (rc == 0)
        rc = cli_outputs_commit(&out);
    cli_outputs_free(&out);
    hmm_picture_free(&pic);
    free(lengths);
    dataio_matrix_free(&x);
    emgmm_hmm_free(&m);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

int cmd_hmm(int argc, char **argv)
{
    if (argc < 2) {
        hmm_usage(stderr);
        return EXIT_BAD_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        hmm_usage(stdout);
        return 0;
    }
    if (strcmp(sub, "fit") == 0)
        return cmd_hmm_fit(argc - 1, argv + 1);
    if (strcmp(sub, "decode") == 0)
        return cmd_hmm_decode(argc - 1, argv + 1);
    if (strcmp(sub, "score") == 0)
        return cmd_hmm_score(argc - 1, argv + 1);
    if (strcmp(sub, "sample") == 0)
        return cmd_hmm_sample(argc - 1, argv + 1);
    if (strcmp(sub, "plot") == 0)
        return cmd_hmm_plot(argc - 1, argv + 1);
    if (sub[0] == '-')
        return cli_error(EXIT_BAD_USAGE,
                         "hmm: unknown option '%s' (see 'emgmm hmm --help')",
                         sub);
    return cli_error(EXIT_BAD_USAGE,
                     "hmm: unknown command '%s' (fit, decode, score, "
                     "sample or plot; see 'emgmm hmm --help')", sub);
}
