/* emgmm hmm fit | decode | score | sample: hidden Markov models with
 * Gaussian or Gaussian-mixture emissions (include/emgmm_hmm.h), with
 * hmmlearn's GaussianHMM and GMMHMM models, defaults and array shapes. */
#include "cli_common.h"

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
    OPT_ALGORITHM
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
        "\n"
        "Sequences: DATA holds the rows of every sequence, one sequence after\n"
        "the other; --lengths L gives the rows of each: a file (one integer a\n"
        "line, or a .npy of integers) or a list such as 100,200,50 (a file of\n"
        "that name wins). The lengths must add up to the rows of DATA.\n"
        "Without --lengths, DATA is one sequence. DATA is .npy, CSV/TSV, raw\n"
        "float64 with --shape N,D, or - for standard input.\n"
        "\n"

        "Exit status: 0 success; 1 the work failed (a covariance that stays\n"
        "singular, an unwritable output); 2 bad usage or bad input.\n"
        "\n"
        "Examples:\n"
        "  emgmm hmm fit data/tracks.csv -k 3 -c full \\\n"
        "      --lengths data/tracks-lengths.txt -o hmm.json --json\n"
        "  emgmm hmm decode hmm.json data/tracks.csv \\\n"
        "      --lengths data/tracks-lengths.txt -o states.csv\n"
        "  emgmm hmm score hmm.json data/tracks.csv \\\n"
        "      --lengths data/tracks-lengths.txt --json\n"
        "  emgmm hmm sample hmm.json -n 500 --seed 7 -o sim.csv --states "
        "sim-states.csv\n",
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
    {"threads", required_argument, NULL, OPT_THREADS},
    {"shape", required_argument, NULL, OPT_SHAPE},
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
        "DATA is .npy, CSV/TSV (optional header row), raw little-endian\n"
        "float64 with --shape, or - for standard input; its rows are one or\n"
        "several sequences (--lengths).\n"
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
        "disagrees with -k or -c, a \"gmm\" model file).\n"
        "\n"
        "Examples:\n"
        "  emgmm hmm fit data/tracks.csv -k 3 -c full \\\n"
        "      --lengths data/tracks-lengths.txt -o hmm.json --states s.csv\n"
        "  emgmm hmm fit x.npy -k 2 --lengths 100,200,50 --json -v\n"
        "  emgmm hmm fit x.npy --init-model start.json --tol -1 --max-iter 20 "
        "-o hmm.json\n",
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
        case OPT_SHAPE:
            rc = cli_parse_shape("--shape", optarg, &a->read);
            break;
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
    return 0;
}

/* -k and -c must agree with the starting model. */
static int check_init_model(const hmm_fit_args *a, const emgmm_hmm *m)
{
    size_t k = emgmm_hmm_n_states(m);
    emgmm_covariance_type t = emgmm_hmm_get_covariance_type(m);
    if (a->k != 0 && (size_t)a->k != k)
        return cli_error(EXIT_BAD_USAGE,
                         "hmm fit: -k %d disagrees with --init-model %s, "
                         "which has %zu state%s", a->k, a->init_model, k,
                         k == 1 ? "" : "s");
    const size_t mix = emgmm_hmm_get_emission(m) == EMGMM_HMM_GMM
                           ? emgmm_hmm_n_mix(m)
                           : 0;
    if (a->mix != 0 && (size_t)a->mix != mix)
        return cli_error(EXIT_BAD_USAGE,
                         "hmm fit: --mix %d disagrees with --init-model %s, "
                         "which has %s", a->mix, a->init_model,
                         mix ? "another number of components per state"
                             : "Gaussian emissions (no --mix)");
    if (a->cov_given && a->cov != t) {
        const char *name = emgmm_covariance_type_name(t);
        return cli_error(EXIT_BAD_USAGE,
                         "hmm fit: -c %s disagrees with --init-model %s, "
                         "whose covariance type is %s",
                         emgmm_covariance_type_name(a->cov), a->init_model,
                         name ? name : "unknown");
    }
    return 0;
}

/* -v: one line per iteration on standard error. */
typedef struct fit_progress {
    int n_init;
    int run;  /* the start in progress, 0-based; -1 before the first */
    int last; /* its last iteration */
} fit_progress;

static int on_iteration(const emgmm_hmm_iteration *it, void *user)
{
    fit_progress *s = user;
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
                      const dataio_matrix *x)
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
                         x->rows, p->n_states);
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

static int cmd_hmm_fit(int argc, char **argv)
{
    hmm_fit_args a;
    emgmm_hmm_params p;
    cli_outputs out;
    enum { MODEL, STATES, PROBA, JSON, N_OUT };
    int idx[N_OUT] = {-1, -1, -1, -1};
    dataio_matrix x = {NULL, 0, 0};
    emgmm_hmm *start = NULL, *model = NULL;
    size_t *lengths = NULL, n_seq = 1;
    int32_t *states = NULL;
    double *proba = NULL;
    emgmm_hmm_fit_info info;
    int rc;

    memset(&a, 0, sizeof a);
    memset(&info, 0, sizeof info);
    emgmm_hmm_params_default(&p);
    cli_outputs_init(&out);

    rc = parse_fit_args(argc, argv, &a, &p);
    if (rc != 0)
        return rc;
    if (a.help) {
        fit_help(stdout);
        return 0;
    }

    /* The outputs are checked before any work. */
    if (a.out != NULL)
        rc = cli_outputs_declare(&out, "-o", a.out, &idx[MODEL]);
    if (rc == 0 && a.json)
        rc = cli_outputs_declare(&out, "--json", "-", &idx[JSON]);
    if (rc == 0 && a.states != NULL)
        rc = cli_outputs_declare(&out, "--states", a.states, &idx[STATES]);
    if (rc == 0 && a.proba != NULL)
        rc = cli_outputs_declare(&out, "--proba", a.proba, &idx[PROBA]);
    if (rc == 0 && a.out == NULL && !cli_outputs_uses_stdout(&out))
        rc = cli_outputs_declare(&out, "-o", "-", &idx[MODEL]);
    if (rc == 0)
        rc = cli_outputs_check(&out);

    if (rc == 0 && a.init_model != NULL) {
        rc = cli_load_hmm_model(a.init_model, &start);
        if (rc == 0)
            rc = check_init_model(&a, start);
        p.init_model = start;
    }
    if (rc == 0)
        rc = cli_load_data(a.data, &a.read, &x);
    if (rc == 0 && start != NULL &&
        x.cols != emgmm_hmm_n_features(start))
        rc = cli_error(EXIT_BAD_USAGE,
                       "%s: the data have %zu column%s but the model %s "
                       "has %zu feature%s", a.data, x.cols,
                       x.cols == 1 ? "" : "s", a.init_model,
                       emgmm_hmm_n_features(start),
                       emgmm_hmm_n_features(start) == 1 ? "" : "s");
    if (rc == 0)
        rc = cli_load_lengths(a.lengths, a.data, x.rows, &lengths, &n_seq);

    fit_progress progress = {start != NULL ? 1 : p.n_init, -1, 0};
    if (rc == 0 && a.verbose) {
        p.progress = on_iteration;
        p.progress_data = &progress;
    }
    double seconds = 0.0;
    if (rc == 0) {
        double t0 = cli_now();
        int st = emgmm_hmm_fit(&p, x.data, x.rows, x.cols, x.cols, lengths,
                               n_seq, &model, &info);
        seconds = cli_now() - t0;
        if (st != EMGMM_OK)
            rc = fit_failed(st, &p, &info, &a, &x);
    }
    const size_t n = x.rows, k = model ? emgmm_hmm_n_states(model) : 0;
    if (rc == 0 && idx[STATES] >= 0) {
        int st;
        if ((states = alloc_states(n, "--states")) == NULL)
            rc = EXIT_WORK_FAILED;
        else if ((st = emgmm_hmm_decode(model, x.data, n, x.cols, lengths,
                                        n_seq, states, NULL)) != EMGMM_OK)
            rc = hmm_failed("--states", st);
    }
    if (rc == 0 && idx[PROBA] >= 0) {
        int st;
        if ((proba = alloc_matrix(n, k, "--proba")) == NULL)
            rc = EXIT_WORK_FAILED;
        else if ((st = emgmm_hmm_predict_proba(model, x.data, n, x.cols,
                                               lengths, n_seq, proba)) !=
                 EMGMM_OK)
            rc = hmm_failed("--proba", st);
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

    cli_outputs_free(&out);
    free(states);
    free(proba);
    free(lengths);
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
        case 'h': decode_help(stdout); return 0;
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

    cli_outputs out;
    int i_states = -1, i_proba = -1, i_json = -1;
    cli_outputs_init(&out);
    if (states_path != NULL)
        rc = cli_outputs_declare(&out, "-o", states_path, &i_states);
    if (rc == 0 && json)
        rc = cli_outputs_declare(&out, "--json", "-", &i_json);
    if (rc == 0 && proba_path != NULL)
        rc = cli_outputs_declare(&out, "--proba", proba_path, &i_proba);
    if (rc == 0)
        rc = cli_outputs_check(&out);
    if (rc != 0)
        return rc;

    emgmm_hmm *m = NULL;
    dataio_matrix x = {NULL, 0, 0};
    size_t *lengths = NULL, n_seq = 1;
    int32_t *states = NULL;
    double *proba = NULL, logprob = NAN;
    rc = cli_load_hmm_model_and_data("hmm decode", model_path, data_path,
                                     &read, &m, &x);
    if (rc == 0 && lengths_spec != NULL && strcmp(lengths_spec, "-") == 0 &&
        strcmp(model_path, "-") == 0)
        rc = cli_error(EXIT_BAD_USAGE, "hmm decode: MODEL and --lengths "
                       "cannot both be standard input");
    if (rc == 0)
        rc = cli_load_lengths(lengths_spec, data_path, x.rows, &lengths,
                              &n_seq);
    const size_t n = x.rows, k = m ? emgmm_hmm_n_states(m) : 0;
    int st = EMGMM_OK;
    if (rc == 0 && (map || i_proba >= 0)) {
        if ((proba = alloc_matrix(n, k, "hmm decode")) == NULL)
            rc = EXIT_WORK_FAILED;
        else
            st = emgmm_hmm_predict_proba(m, x.data, n, x.cols, lengths,
                                         n_seq, proba);
        if (rc == 0 && st != EMGMM_OK)
            rc = hmm_failed("hmm decode", st);
    }
    if (rc == 0 && (states = alloc_states(n, "hmm decode")) == NULL)
        rc = EXIT_WORK_FAILED;
    if (rc == 0 && map) {
        argmax_rows(proba, n, k, states);
    } else if (rc == 0) {
        st = emgmm_hmm_decode(m, x.data, n, x.cols, lengths, n_seq, states,
                              &logprob);
        if (st != EMGMM_OK)
            rc = hmm_failed("hmm decode", st);
    }
    if (rc == 0)
        rc = cli_outputs_open(&out);
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        /* files, then standard output */
        if (i_states >= 0 &&
            (strcmp(out.path[i_states], "-") == 0) == pass && rc == 0)
            rc = cli_write_labels(&out, i_states, states, n);
        if (i_proba >= 0 && (strcmp(out.path[i_proba], "-") == 0) == pass &&
            rc == 0)
            rc = cli_write_matrix(&out, i_proba, proba, n, k);
        if (i_json >= 0 && pass == 1 && rc == 0)
            rc = print_json(
                json_pack("{s:I, s:I, s:s, s:o}", "n_samples", (json_int_t)n,
                          "n_sequences", (json_int_t)n_seq, "algorithm",
                          map ? "map" : "viterbi", "log_probability",
                          map ? json_null() : json_real_or_null(logprob)),
                "hmm decode");
    }
    if (rc == 0)
        rc = cli_outputs_commit(&out);
    cli_outputs_free(&out);
    free(states);
    free(proba);
    free(lengths);
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
        case 'h': score_help(stdout); return 0;
        default: return cli_bad_option("hmm score", c, argv, optstring);
        }
    }
    if (rc == 0)
        rc = cli_positionals("hmm score", argc, argv, model_and_data);
    if (rc != 0)
        return rc;
    const char *model_path = argv[optind], *data_path = argv[optind + 1];

    emgmm_hmm *m = NULL;
    dataio_matrix x = {NULL, 0, 0};
    size_t *lengths = NULL, n_seq = 1;
    double ll = NAN;
    rc = cli_load_hmm_model_and_data("hmm score", model_path, data_path,
                                     &read, &m, &x);
    if (rc == 0 && lengths_spec != NULL && strcmp(lengths_spec, "-") == 0 &&
        strcmp(model_path, "-") == 0)
        rc = cli_error(EXIT_BAD_USAGE, "hmm score: MODEL and --lengths "
                       "cannot both be standard input");
    if (rc == 0)
        rc = cli_load_lengths(lengths_spec, data_path, x.rows, &lengths,
                              &n_seq);
    if (rc == 0) {
        int st = emgmm_hmm_score(m, x.data, x.rows, x.cols, lengths, n_seq,
                                 &ll);
        if (st != EMGMM_OK)
            rc = hmm_failed("hmm score", st);
    }
    if (rc == 0 && json) {
        const double n = (double)x.rows;
        const double p = (double)emgmm_hmm_n_parameters(m, NULL);
        rc = print_json(
            json_pack("{s:I, s:I, s:o, s:o, s:o}", "n_samples",
                      (json_int_t)x.rows, "n_sequences", (json_int_t)n_seq,
                      "log_likelihood", json_real_or_null(ll), "bic",
                      json_real_or_null(-2.0 * ll + p * log(n)), "aic",
                      json_real_or_null(-2.0 * ll + 2.0 * p)),
            "hmm score");
    } else if (rc == 0) {
        printf("%.17g\n", ll);
    }
    free(lengths);
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
    if (sub[0] == '-')
        return cli_error(EXIT_BAD_USAGE,
                         "hmm: unknown option '%s' (see 'emgmm hmm --help')",
                         sub);
    return cli_error(EXIT_BAD_USAGE,
                     "hmm: unknown command '%s' (fit, decode, score or "
                     "sample; see 'emgmm hmm --help')", sub);
}
