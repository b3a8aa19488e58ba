/* emgmm fit: fit a mixture to a data file and write the model, labels,
 * responsibilities, a JSON summary (SPEC section 5) and a picture of the
 * log-likelihood per iteration (--trace). */
#include "cli_checkpoint.h"
#include "cli_common.h"
#include "cli_distributed.h"
#include "cli_mpi.h"
#include "svg.h"

#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <signal.h>
#include <string.h>

#include <jansson.h>

enum {
    OPT_INIT = 256,
    OPT_INIT_MODEL,
    OPT_SEED,
    OPT_N_INIT,
    OPT_TOL,
    OPT_MAX_ITER,
    OPT_REG_COVAR,
    OPT_THREADS,
    OPT_SHAPE,
    OPT_REQUIRE_CONVERGED,
    OPT_FAIL_ON_EMPTY,
    OPT_CHECKPOINT,
    OPT_CHECKPOINT_EVERY,
    OPT_RESUME,
    OPT_LABELS,
    OPT_PROBA,
    OPT_TRACE,
    OPT_WEIGHTS,
    OPT_MISSING,
    OPT_STREAM,
    OPT_JSON,
    OPT_DTYPE
};

static const char fit_optstring[] = ":k:c:o:vh";

static const struct option fit_options[] = {
    {"n-components", required_argument, NULL, 'k'},
    {"covariance-type", required_argument, NULL, 'c'},
    {"init", required_argument, NULL, OPT_INIT},
    {"init-model", required_argument, NULL, OPT_INIT_MODEL},
    {"seed", required_argument, NULL, OPT_SEED},
    {"n-init", required_argument, NULL, OPT_N_INIT},
    {"tol", required_argument, NULL, OPT_TOL},
    {"max-iter", required_argument, NULL, OPT_MAX_ITER},
    {"reg-covar", required_argument, NULL, OPT_REG_COVAR},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"shape", required_argument, NULL, OPT_SHAPE},
    {"weights", required_argument, NULL, OPT_WEIGHTS},
    {"missing", no_argument, NULL, OPT_MISSING},
    {"stream", no_argument, NULL, OPT_STREAM},
    {"dtype", required_argument, NULL, OPT_DTYPE},
    {"require-converged", no_argument, NULL, OPT_REQUIRE_CONVERGED},
    {"fail-on-empty", no_argument, NULL, OPT_FAIL_ON_EMPTY},
    {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
    {"checkpoint-every", required_argument, NULL, OPT_CHECKPOINT_EVERY},
    {"resume", required_argument, NULL, OPT_RESUME},
    {"output", required_argument, NULL, 'o'},
    {"labels", required_argument, NULL, OPT_LABELS},
    {"proba", required_argument, NULL, OPT_PROBA},
    {"trace", required_argument, NULL, OPT_TRACE},
    {"json", no_argument, NULL, OPT_JSON},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

static void fit_help(FILE *f)
{
    emgmm_params d;
    emgmm_params_default(&d);
    const char *cov = emgmm_covariance_type_name(d.covariance_type);
    const char *init = emgmm_init_method_name(d.init);
    fprintf(f,
        "Usage: emgmm fit DATA [options]\n"
        "\n"
        "Fits a Gaussian mixture to DATA by Expectation-Maximisation and writes\n"
        "the model as JSON. DATA is a .npy file, a CSV/TSV file (optional header\n"
        "row), raw little-endian float64 with --shape, - for standard input,\n"
        "or an HDF5 dataset, FILE.h5:/path/to/dataset (FILE.h5 alone: its only\n"
        "2-D dataset; float64 or float32). Under mpirun each process reads\n"
        "only its block of rows of a .npy, raw or HDF5 file.\n"
        "\n"
        "Model and algorithm:\n"
        "  -k, --n-components K   number of components, >= 1 (required unless\n"
        "                         --init-model or --resume gives it)\n"
        "  -c, --covariance-type TYPE\n"
        "                         full, tied, diag or spherical (default %s)\n"
        "      --init METHOD      kmeans, kmeans++, random or random-data\n"
        "                         (default %s)\n"
        "      --init-model MODEL start from the weights, means and covariances\n"
        "                         of this model file instead of --init; a\n"
        "                         file without \"covariance_type\" has the\n"
        "                         shapes of -c (full by default)\n"
        "      --seed S           random seed, 0 to 2^64-1 (default %llu)\n"
        "      --n-init N         restarts, the highest log-likelihood is kept;\n"
        "                         not used with --init-model, 1 with --resume\n"
        "                         (default %d)\n"
        "      --tol T            stop when the mean log-likelihood per sample\n"
        "                         changes by less than T; 0 runs --max-iter\n"
        "                         iterations (default %g)\n"
        "      --max-iter M       most EM iterations per restart; 0 with\n"
        "                         --init-model returns that model (default %d)\n"
        "      --reg-covar R      added to the covariance diagonals (default %g)\n"
        "      --threads T        threads; 0 means OMP_NUM_THREADS, else all\n"
        "                         cores (default %d). Row blocks run on\n"
        "                         these threads with a one-thread BLAS, so\n"
        "                         the two never oversubscribe the cores\n",
        cov ? cov : "full", init ? init : "kmeans",
        (unsigned long long)d.seed, d.n_init, d.tol, d.max_iter, d.reg_covar,
        d.n_threads);
    fputs(
        "\n"
        "Input:\n"
        "      --shape N,D        DATA is raw little-endian float64: N rows, D\n"
        "                         columns (default: detect .npy or CSV)\n"
        "      --weights FILE     a non-negative weight for each row of DATA\n"
        "                         (.npy or CSV, one column, N rows): a row of\n"
        "                         weight w counts as w copies of itself; the\n"
        "                         log-likelihood is then per unit of weight\n"
        "                         and BIC uses N = the sum of the weights\n"
        "      --missing          accept missing values: NaN in .npy or raw\n"
        "                         data, NaN or an empty cell in CSV. Each row\n"
        "                         counts by the likelihood of its observed\n"
        "                         values (missing at random is assumed);\n"
        "                         rows with nothing observed are skipped and\n"
        "                         counted (n_rows_all_missing in --json);\n"
        "                         --labels and --proba use the observed\n"
        "                         values. Fill the gaps with 'emgmm impute'\n"
        "      --stream           do not load DATA: map the file (.npy in C\n"
        "                         order, float64 or float32, or raw with\n"
        "                         --shape), or read the HDF5 dataset by\n"
        "                         hyperslabs, block by block, twice per\n"
        "                         iteration, so that memory does not grow\n"
        "                         with N and a file larger than memory can be\n"
        "                         fitted; --labels and --proba are written\n"
        "                         block by block too (under mpirun: .npy or\n"
        "                         HDF5). k-means starts from at most 65,536\n"
        "                         evenly spaced rows (with their weights;\n"
        "                         one start per --n-init restart, the best\n"
        "                         fit kept). --weights FILE is then mapped\n"
        "                         alike (.npy, N x 1 or N values); with\n"
        "                         --missing, NaN in DATA are missing values\n"
        "      --dtype TYPE       float64 (default) or float32: hold DATA in\n"
        "                         memory as float32 (half the memory; the big\n"
        "                         products in single precision, every sum and\n"
        "                         the model in float64, the model file the\n"
        "                         same). Float32 .npy, raw and HDF5 files are\n"
        "                         read as they are; float64 data and CSV are\n"
        "                         rounded to float32 first (CSV is parsed as\n"
        "                         float64 whole, then narrowed). Not with\n"
        "                         --stream, --missing or under mpirun (yet)\n"
        ,
        f);
    fputs(
        "\n"
        "Output (a file name ending in .npy is written as .npy, one ending in\n"
        ".h5 or .hdf5 as an HDF5 dataset (FILE.h5:/name, else /labels and\n"
        "/proba; one file may take both), else CSV; - is standard output;\n"
        "files appear only if everything succeeds):\n"
        "  -o, --output MODEL     write the model JSON to MODEL (default:\n"
        "                         standard output, unless --json or another\n"
        "                         output uses it)\n"
        "      --labels OUT       write each row's label (0-based component)\n"
        "      --proba OUT        write each row's component probabilities\n"
        "                         (N x K)\n"
        "      --trace SVG        draw the mean log-likelihood per iteration\n"
        "                         (one line per restart) as an SVG picture\n"
        "      --json             print one JSON object on standard output:\n"
        "                         n_components, n_features, n_samples,\n"
        "                         covariance_type, n_iter, converged,\n"
        "                         log_likelihood (mean per sample), bic, aic,\n"
        "                         seconds; with --missing also\n"
        "                         n_missing_values and n_rows_all_missing\n"
        "      --require-converged\n"
        "                         fail (exit 1, no output written) if the fit\n"
        "                         did not converge within --max-iter\n"
        "      --fail-on-empty    fail (exit 1) as soon as a component loses\n"
        "                         all its samples (responsibilities summing\n"
        "                         to less than one sample); by default such a\n"
        "                         component is kept, as scikit-learn does,\n"
        "                         and a warning says how many there are\n"
        "\n"
        "  -v, --verbose          print one line per iteration on standard\n"
        "                         error: iteration, mean log-likelihood,\n"
        "                         change, seconds (and 'init I/N' before each\n"
        "                         restart when --n-init > 1)\n"
        "  -h, --help             show this help and exit\n",
        f);
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
        "                         or a model written by fit) on the same DATA\n"
        "                         and --weights: the result equals the\n"
        "                         uninterrupted fit bit for bit; --tol,\n"
        "                         --reg-covar, --seed and --max-iter (the\n"
        "                         total) come from FILE unless given. -k, -c,\n"
        "                         --init and --n-init 1 may stay on the\n"
        "                         command line that started the fit: -k and\n"
        "                         -c must agree with FILE; --init is not used\n"
        "                         any more, so any method is accepted unless\n"
        "                         FILE's \"fit\" record names another\n"
        "\n"
        "Exit status: 0 success; 1 the fit or an output failed; 2 bad usage or\n"
        "bad input; 3 interrupted by SIGTERM or SIGINT (after writing the\n"
        "checkpoint, with --checkpoint).\n"
        "\n"
        "Examples:\n"
        "  emgmm fit data/sightings.csv -k 2 -o model.json --labels labels.csv\n"
        "  emgmm fit big.npy -k 8 --tol 0 --max-iter 50 --json -v\n"
        "  emgmm fit data.csv --init-model start.json -o model.json\n"
        "  emgmm fit big.npy -k 8 --checkpoint ckpt.json -o model.json\n"
        "  emgmm fit big.npy --resume ckpt.json -o model.json\n"
        "  emgmm fit gappy.csv -k 3 --missing -o model.json\n"
        "  emgmm fit huge.npy -k 16 --stream --checkpoint ckpt.json -o model.json\n",
        f);
}

typedef struct fit_args {
    const char *data;
    const char *init_model;
    const char *out;
    const char *labels;
    const char *proba;
    const char *trace;
    const char *weights;
    int k;                    /* 0 = not given */
    int cov_given;
    emgmm_covariance_type cov;
    dataio_read_options read;
    int require_converged;
    int fail_on_empty;
    const char *checkpoint;
    int checkpoint_every;
    const char *resume;
    unsigned given; /* CLI_EM_* bits of the EM options given */
    int json;
    int stream;
    int f32; /* --dtype float32 */
    int verbose;
    int help;
} fit_args;

/* Parses the command line into *a and the library parameters *p. */
static int parse_fit_args(int argc, char **argv, fit_args *a,
                          emgmm_params *p)
{
    int c, rc = 0;
    opterr = 0;
    optind = 1;
    int li = -1;
    while (rc == 0 && (c = getopt_long(argc, argv, fit_optstring,
                                       fit_options, &li)) != -1) {
        if (li >= 0 && cli_parse_em_option(fit_options[li].name, optarg, 0,
                                           p, &a->given, &rc)) {
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
        case OPT_REQUIRE_CONVERGED: a->require_converged = 1; break;
        case OPT_FAIL_ON_EMPTY: a->fail_on_empty = 1; break;
        case 'o': a->out = optarg; break;
        case OPT_LABELS: a->labels = optarg; break;
        case OPT_PROBA: a->proba = optarg; break;
        case OPT_TRACE: a->trace = optarg; break;
        case OPT_WEIGHTS: a->weights = optarg; break;
        case OPT_STREAM: a->stream = 1; break;
        case OPT_DTYPE:
            rc = cli_parse_dtype("--dtype", optarg, &a->f32);
            break;
        case OPT_MISSING:
            a->read.allow_missing = 1;
            p->missing = 1;
            break;
        case OPT_JSON: a->json = 1; break;
        case 'v': a->verbose = 1; break;
        case 'h': a->help = 1; return 0;
        default: return cli_bad_option("fit", c, argv, fit_optstring);
        }
    }
    if (rc != 0)
        return rc;
    if (optind >= argc)
        return cli_error(EXIT_BAD_USAGE,
                         "fit: missing DATA (see 'emgmm fit --help')");
    if (argc - optind > 1)
        return cli_error(EXIT_BAD_USAGE, "fit: unexpected argument '%s'",
                         argv[optind + 1]);
    a->data = argv[optind];
    if ((a->given & CLI_EM_INIT) && a->init_model != NULL)
        return cli_error(EXIT_BAD_USAGE,
                         "fit: --init and --init-model exclude each other");
    if (a->resume != NULL && a->init_model != NULL)
        return cli_error(EXIT_BAD_USAGE,
                         "fit: --resume and --init-model exclude each other");
    /* -k, -c and --init may stay on the command line that started the
     * job (checked against the file once it is read), but a resumed fit
     * is one fit. */
    if (a->resume != NULL && p->n_init != 1)
        return cli_error(EXIT_BAD_USAGE,
                         "fit: --resume continues one fit, so --n-init "
                         "must be 1, not %d", p->n_init);
    if (a->k == 0 && a->init_model == NULL && a->resume == NULL)
        return cli_error(EXIT_BAD_USAGE,
                         "fit: -k is required (or --init-model)");
    if (a->checkpoint != NULL && p->n_init > 1)
        return cli_error(EXIT_BAD_USAGE,
                         "fit: --checkpoint needs --n-init 1 (a checkpoint "
                         "holds one fit)");
    if (a->checkpoint != NULL && strcmp(a->checkpoint, "-") == 0)
        return cli_error(EXIT_BAD_USAGE,
                         "fit: --checkpoint needs a file, not standard "
                         "output");
    if (a->checkpoint_every == 0)
        a->checkpoint_every = 1;
    if (a->init_model != NULL && strcmp(a->init_model, "-") == 0 &&
        strcmp(a->data, "-") == 0)
        return cli_error(EXIT_BAD_USAGE,
                         "fit: DATA and --init-model cannot both be "
                         "standard input");
    if (a->init_model != NULL && a->weights != NULL &&
        strcmp(a->init_model, "-") == 0 && strcmp(a->weights, "-") == 0)
        return cli_error(EXIT_BAD_USAGE,
                         "fit: --weights and --init-model cannot both be "
                         "standard input");
    if (a->f32 && (a->stream || p->missing))
        return cli_error(EXIT_BAD_USAGE, "fit: --dtype float32 is not "
                         "available with %s", a->stream ? "--stream"
                                                        : "--missing");
    p->n_components = a->k;
    if (a->cov_given)
        p->covariance_type = a->cov;
    return 0;
}

/* -k and -c must agree with a starting model or a checkpoint, named
 * "`what` `path`" in messages ("--init-model m.json", "the checkpoint
 * ckpt.json"). */
static int check_init_model(const fit_args *a, const emgmm_model *m,
                            const char *what, const char *path)
{
    size_t k = emgmm_n_components(m);
    emgmm_covariance_type t = emgmm_get_covariance_type(m);
    if (a->k != 0 && (size_t)a->k != k)
        return cli_error(EXIT_BAD_USAGE,
                         "fit: -k %d disagrees with %s %s, which has %zu "
                         "component%s", a->k, what, path, k,
                         k == 1 ? "" : "s");
    if (a->cov_given && a->cov != t) {
        const char *name = emgmm_covariance_type_name(t);
        return cli_error(EXIT_BAD_USAGE,
                         "fit: -c %s disagrees with %s %s, whose "
                         "covariance type is %s",
                         emgmm_covariance_type_name(a->cov), what, path,
                         name ? name : "unknown");
    }
    return 0;
}

/* With --resume, the fit settings recorded in the file, for those not
 * given on the command line. */
static int resume_settings(const fit_args *a, emgmm_params *p)
{
    json_error_t jerr;
    json_t *root = json_load_file(a->resume, 0, &jerr);
    const json_t *fit = root ? json_object_get(root, "fit") : NULL;
    if (!json_is_object(fit)) {
        json_decref(root);
        return cli_error(EXIT_BAD_USAGE,
                         "%s: no \"fit\" record to resume (use --init-model "
                         "for a warm start)", a->resume);
    }
    const json_t *v = json_object_get(fit, "init");
    /* The start of a resumed fit is long past: --init only has to agree
     * with a method the file records (fit does not record one). */
    const char *init = emgmm_init_method_name(p->init);
    if ((a->given & CLI_EM_INIT) && json_is_string(v) && init &&
        strcmp(json_string_value(v), init) != 0) {
        int rc = cli_error(EXIT_BAD_USAGE,
                           "fit: --init %s disagrees with the checkpoint "
                           "%s, which was started by %s", init, a->resume,
                           json_string_value(v));
        json_decref(root);
        return rc;
    }
    if (!(a->given & CLI_EM_TOL) && json_is_number(v = json_object_get(fit, "tol")))
        p->tol = json_number_value(v);
    if (!(a->given & CLI_EM_REG_COVAR) &&
        json_is_number(v = json_object_get(fit, "reg_covar")))
        p->reg_covar = json_number_value(v);
    if (!(a->given & CLI_EM_SEED) && json_is_integer(v = json_object_get(fit, "seed")))
        p->seed = (uint64_t)json_integer_value(v);
    if (!(a->given & CLI_EM_MAX_ITER) &&
        json_is_integer(v = json_object_get(fit, "max_iter")) &&
        json_integer_value(v) > 0 && json_integer_value(v) <= INT_MAX)
        p->max_iter = (int)json_integer_value(v);
    json_decref(root);
    return 0;
}

/* What the progress callback keeps: -v prints each iteration on standard
 * error, --trace collects the log-likelihoods. */
typedef struct trace_point {
    int run;
    int iteration;
    double log_likelihood;
} trace_point;

typedef struct progress_state {
    int n_init;
    int last_run;
    int verbose;
    int collect;
    int out_of_memory;
    trace_point *points;
    size_t n, cap;
    cli_checkpoint ck;      /* --checkpoint, SIGTERM and SIGINT */
} progress_state;

static int save_model(const void *m, const char *path)
{
    return emgmm_save(m, path) == EMGMM_OK ? 0 : -1;
}

static int on_iteration(const emgmm_iteration *it, void *user)
{
    progress_state *s = user;
    if (cli_checkpoint_after(&s->ck, it->iteration, save_model, it->model))
        return 1;
    if (s->verbose) {
        if (s->n_init > 1 && it->init_run != s->last_run)
            fprintf(stderr, "init %d/%d\n", it->init_run + 1, s->n_init);
        fprintf(stderr, "iter %d  log_likelihood %.5f  change %.1e  %.3f s\n",
                it->iteration, it->log_likelihood, it->change, it->seconds);
    }
    s->last_run = it->init_run;
    if (s->collect) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? 2 * s->cap : 256;
            trace_point *p = realloc(s->points, cap * sizeof *p);
            if (p == NULL) {
                s->out_of_memory = 1;
                return 1; /* stops the fit */
            }
            s->points = p;
            s->cap = cap;
        }
        s->points[s->n++] =
            (trace_point){it->init_run, it->iteration, it->log_likelihood};
    }
    return 0;
}

/* The --trace picture. */
typedef struct trace_picture {
    const progress_state *ps;
    const fit_args *a;
    const emgmm_model *m;
    const emgmm_fit_info *info;
} trace_picture;

static int write_trace(FILE *f, const void *data)
{
    enum { LEGEND_MAX = 20 };
    const trace_picture *t = data;
    const progress_state *ps = t->ps;
    const char *type =
        emgmm_covariance_type_name(emgmm_get_covariance_type(t->m));
    char note[512];
    snprintf(note, sizeof note,
             "%s, K=%zu, %s covariance; %s after %d iteration%s; final %.6g",
             cli_display_name(t->a->data), emgmm_n_components(t->m),
             type ? type : "?",
             t->info->converged ? "converged" : "not converged",
             t->info->n_iter, t->info->n_iter == 1 ? "" : "s",
             t->info->log_likelihood);
    svg_begin(f, "Log-likelihood per EM iteration", note);

    double x1 = 1, y0 = INFINITY, y1 = -INFINITY;
    int runs = 0;
    for (size_t i = 0; i < ps->n; i++) {
        x1 = fmax(x1, ps->points[i].iteration);
        y0 = fmin(y0, ps->points[i].log_likelihood);
        y1 = fmax(y1, ps->points[i].log_likelihood);
        if (ps->points[i].run + 1 > runs)
            runs = ps->points[i].run + 1;
    }
    if (ps->n == 0) /* --max-iter 0: nothing to draw but the axes */
        y0 = y1 = t->info->log_likelihood;
    svg_plot p;
    svg_plot_init(&p, f, 1, x1, y0, y1, 0);
    svg_axes(&p, "iteration", "mean log-likelihood per sample", 1);
    if (ps->n == 0)
        svg_text(f, 0.5 * (p.left + p.right), 0.5 * (p.top + p.bottom), 14,
                 "middle", "no iterations (--max-iter 0)");
    /* The kept restart last, and wider, so that it shows on top. */
    for (int j = 0; j < runs; j++) {
        int best = t->info->best_init >= 0 && t->info->best_init < runs
                       ? t->info->best_init
                       : 0;
        int r = j == runs - 1 ? best : j < best ? j : j + 1;
        const char *color = svg_color((size_t)r);
        size_t count = 0;
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" "
                   "stroke-width=\"%d\" points=\"", color, r == best ? 3 : 2);
        for (size_t i = 0; i < ps->n; i++)
            if (ps->points[i].run == r)
                fprintf(f, "%s%.2f,%.2f", count++ ? " " : "",
                        svg_px(&p, ps->points[i].iteration),
                        svg_py(&p, ps->points[i].log_likelihood));
        fputs("\"/>\n", f);
        if (count <= 60) /* dots only where they stay apart */
            for (size_t i = 0; i < ps->n; i++)
                if (ps->points[i].run == r)
                    fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" "
                               "fill=\"%s\"/>\n",
                            svg_px(&p, ps->points[i].iteration),
                            svg_py(&p, ps->points[i].log_likelihood), color);
    }
    for (int r = 0; r < runs && r < LEGEND_MAX; r++) {
        if (runs == 1)
            svg_legend(&p, SVG_LEGEND_LINE, svg_color(0), "%s",
                       t->a->init_model ? "from --init-model" : "EM");
        else if (r < LEGEND_MAX - 1 || runs == LEGEND_MAX)
            svg_legend(&p, SVG_LEGEND_LINE, svg_color((size_t)r),
                       "restart %d%s", r + 1,
                       r == t->info->best_init ? " (kept)" : "");
        else if (t->info->best_init >= r)
            svg_legend(&p, SVG_LEGEND_DOT, "white",
                       "... %d more (%d kept)", runs - r,
                       t->info->best_init + 1);
        else
            svg_legend(&p, SVG_LEGEND_DOT, "white", "... %d more restarts",
                       runs - r);
    }
    svg_end(f);
    return 0;
}

/* Says why emgmm_fit failed, and returns the exit status. */
static int fit_failed(int status, const emgmm_params *p,
                      const emgmm_fit_info *info, const fit_args *a,
                      const dataio_matrix *x)
{
    switch (status) {
    case EMGMM_ERR_SINGULAR:
        return cli_error(EXIT_WORK_FAILED,
                         "fit failed: component %d has a covariance that is "
                         "not positive definite; raise --reg-covar (now %g)",
                         info->bad_component, p->reg_covar);
    case EMGMM_ERR_EMPTY_COMPONENT:
        return cli_error(EXIT_WORK_FAILED,
                         "fit failed: component %d lost all its samples "
                         "(--fail-on-empty); try another --seed or fewer "
                         "components", info->bad_component);
    case EMGMM_ERR_TOO_FEW_SAMPLES:
        return cli_error(EXIT_BAD_USAGE,
                         "%s: %zu samples are too few for %d components "
                         "(fewer samples or distinct samples than "
                         "components)", a->data, x->rows, p->n_components);
    case EMGMM_ERR_NONFINITE:
    case EMGMM_ERR_RANGE:
        return cli_error(EXIT_BAD_USAGE, "%s: %s", a->data,
                         emgmm_strerror(status));
    default:
        return cli_library_error("fit failed", status);
    }
}

/* The --json summary: one object on standard output. BIC and AIC come
 * from the fit, which counts sample weights. n_missing < 0: no
 * --missing. */
static int print_summary(const emgmm_model *m, size_t n_samples,
                         long long n_missing, const emgmm_fit_info *info,
                         double seconds)
{
    double bic = info->bic, aic = info->aic;
    emgmm_covariance_type t = emgmm_get_covariance_type(m);
    const char *type = emgmm_covariance_type_name(t);
    json_t *obj = json_pack(
        "{s:I, s:I, s:I, s:s, s:i, s:b, s:f, s:f, s:f, s:f}",
        "n_components", (json_int_t)emgmm_n_components(m),
        "n_features", (json_int_t)emgmm_n_features(m),
        "n_samples", (json_int_t)n_samples,
        "covariance_type", type ? type : "full",
        "n_iter", info->n_iter,
        "converged", info->converged ? 1 : 0,
        "log_likelihood", info->log_likelihood,
        "bic", bic, "aic", aic, "seconds", seconds);
    if (obj != NULL && n_missing >= 0 &&
        (json_object_set_new(obj, "n_missing_values",
                             json_integer((json_int_t)n_missing)) != 0 ||
         json_object_set_new(obj, "n_rows_all_missing",
                             json_integer((json_int_t)
                                              info->n_rows_all_missing)) != 0)) {
        json_decref(obj);
        obj = NULL;
    }
    if (obj == NULL) /* out of memory, or a value that is not finite */
        return cli_error(EXIT_WORK_FAILED,
                         "cannot write the JSON summary (log-likelihood %g)",
                         info->log_likelihood);
    int rc = json_dumpf(obj, stdout, JSON_REAL_PRECISION(17));
    json_decref(obj);
    if (rc != 0 || fputc('\n', stdout) == EOF)
        return cli_error(EXIT_WORK_FAILED, "standard output: write error");
    return 0;
}

/* What a fit hands to its outputs: the labels and probabilities of all
 * rows (NULL when not asked for, or already written by every rank), the
 * row count, the count of missing values (-1 without --missing). */
typedef struct fit_results {
    const int32_t *labels;
    const double *proba;
    size_t n;
    long long n_missing;
    double seconds;
    int labels_written; /* each rank wrote its rows (.npy, HDF5; mpirun) */
    int proba_written;
} fit_results;

/* Everything that runs after a successful fit: the outputs, written to
 * temporary files (files first, then standard output) and committed
 * together. */
static int write_outputs(cli_outputs *o, const int idx[5],
                         const emgmm_model *m, const fit_results *res,
                         const emgmm_fit_info *info,
                         const trace_picture *trace)
{
    enum { MODEL, LABELS, PROBA, JSON, TRACE };
    size_t k = emgmm_n_components(m);
    int rc = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        /* pass 0: files; pass 1: standard output */
        for (int w = 0; w < 5 && rc == 0; w++) {
            int i = idx[w];
            if (i < 0 || (strcmp(o->path[i], "-") == 0) != pass)
                continue;
            if ((w == LABELS && res->labels_written) ||
                (w == PROBA && res->proba_written))
                continue;
            if (w == MODEL)
                rc = cli_write_model(o, i, m);
            else if (w == LABELS)
                rc = cli_write_labels(o, i, res->labels, res->n);
            else if (w == PROBA)
                rc = cli_write_matrix(o, i, res->proba, res->n, k);
            else if (w == TRACE)
                rc = cli_write_stream(o, i, write_trace, trace);
            else
                rc = print_summary(m, res->n, res->n_missing, info,
                                   res->seconds);
        }
    }
    if (rc == 0)
        rc = cli_outputs_commit(o);
    return rc;
}

/* Labels and probabilities of this process's rows (*my_*), gathered on
 * rank 0 (*labels, *proba) unless each rank writes its own (shared_*);
 * the missing-value count over all rows. */
static int collect_results(const emgmm_model *m, const dataio_matrix *x,
                           int want_labels, int want_proba,
                           int shared_labels, int shared_proba, int missing,
                           int32_t **my_labels, double **my_proba,
                           int32_t **labels, double **proba,
                           long long *n_missing)
{
    int rc = 0;
    *labels = NULL;
    *proba = NULL;
    *my_labels = NULL;
    *my_proba = NULL;
    if (want_labels || want_proba)
        rc = cli_predict(m, x, want_labels ? my_labels : NULL,
                         want_proba ? my_proba : NULL);
    rc = cli_mpi_max(rc);
    if (rc == 0 && cli_mpi_size() == 1) { /* nothing to gather */
        *labels = shared_labels ? NULL : *my_labels;
        *proba = shared_proba ? NULL : *my_proba;
        if (!shared_labels)
            *my_labels = NULL;
        if (!shared_proba)
            *my_proba = NULL;
    } else if (rc == 0) {
        if (want_labels && !shared_labels &&
            cli_mpi_gather_rows(*my_labels, x->rows, 1, 1,
                                (void **)labels) != 0)
            rc = cli_error(EXIT_WORK_FAILED,
                           "--labels: cannot gather the rows");
        if (rc == 0 && want_proba && !shared_proba &&
            cli_mpi_gather_rows(*my_proba, x->rows, emgmm_n_components(m),
                                0, (void **)proba) != 0)
            rc = cli_error(EXIT_WORK_FAILED,
                           "--proba: cannot gather the rows");
        rc = cli_mpi_max(rc);
    }
    double count = 0.0;
    for (size_t i = 0; missing && i < x->rows * x->cols; i++)
        count += isnan(x->data[i]) != 0;
    if (rc == 0 && cli_mpi_allreduce(&count, 1, NULL) != 0)
        rc = cli_error(EXIT_WORK_FAILED, "cannot count the missing values");
    *n_missing = missing ? (long long)count : -1;
    return cli_mpi_max(rc);
}

/* ---- with --stream (under mpirun: cli_distributed.c) ------------------ */

/* --stream: DATA mapped, and the --weights file (one column) mapped
 * alike, each rank its block; read through the library's callbacks. */
typedef struct mapped_source {
    dataio_map *rows;
    dataio_map *weights; /* NULL without --weights */
    const char *weights_name;
    size_t first_row;    /* this rank's first row in the file */
    char error[512];     /* a bad weight */
} mapped_source;

static int read_mapped_rows(size_t first, size_t count, double *rows,
                            void *user)
{
    mapped_source *s = user;
    return dataio_map_rows(s->rows, first, count, rows);
}

/* The weights map lets NaN through (to be named here as a weight). */
static int read_mapped_weights(size_t first, size_t count, double *w,
                               void *user)
{
    mapped_source *s = user;
    if (dataio_map_rows(s->weights, first, count, w) != 0)
        return -1;
    for (size_t i = 0; i < count; i++)
        if (!(w[i] >= 0.0)) {
            snprintf(s->error, sizeof s->error,
                     "--weights %s: row %zu: %s weight", s->weights_name,
                     s->first_row + first + i + 1,
                     isnan(w[i]) ? "NaN as a" : "negative");
            return -1;
        }
    return 0;
}

/* What went wrong in a read of a mapped source (NULL: nothing known). */
static const char *mapped_error(const mapped_source *s)
{
    if (s->error[0])
        return s->error;
    if (dataio_map_error(s->rows))
        return dataio_map_error(s->rows);
    return s->weights ? dataio_map_error(s->weights) : NULL;
}

/* The starts from a mapped file (--stream): the sample rows (and their
 * weights) read from the map. */
static int sample_start_mapped(const emgmm_params *p, mapped_source *src,
                               const dataio_shape *shape, int n_starts,
                               emgmm_model **starts)
{
    const size_t d = shape->cols;
    const size_t stride = cli_sample_stride(shape->total_rows);
    const size_t most = shape->rows / stride + 1;
    double *mine = malloc(most * d * sizeof *mine);
    double *my_w = malloc(most * sizeof *my_w);
    size_t n = 0;
    int rc = mine && my_w ? 0 : cli_error(EXIT_WORK_FAILED, "out of memory");
    for (size_t i = 0; rc == 0 && i < shape->rows; i++) {
        if ((shape->first_row + i) % stride != 0)
            continue;
        if (read_mapped_rows(i, 1, mine + n * d, src) != 0 ||
            (src->weights && read_mapped_weights(i, 1, my_w + n, src) != 0))
            rc = cli_error_always(EXIT_BAD_USAGE, "%s", mapped_error(src));
        n++;
    }
    rc = cli_mpi_max(rc);
    if (rc == 0)
        rc = cli_start_from_sample(p, mine, src->weights ? my_w : NULL, n,
                                   d, n_starts, starts);
    free(mine);
    free(my_w);
    return rc;
}

int cmd_fit(int argc, char **argv)
{
    fit_args a;
    emgmm_params p;
    cli_outputs out;
    int idx[5] = {-1, -1, -1, -1, -1}; /* model, labels, proba, json, trace */
    dataio_matrix x = {NULL, 0, 0};
    dataio_matrix_f32 xf = {NULL, 0, 0}; /* --dtype float32: the rows; x
                                             then has the shape only */
    emgmm_model *start = NULL, *model = NULL;
    double *weights = NULL;
    emgmm_fit_info info;
    int rc;
    /* Under mpirun every rank runs this with the same arguments, on its
     * own block of rows; rank 0 writes the outputs. The ranks agree on
     * the status after each step, so that none waits for another that
     * gave up. */
    const int distributed = cli_mpi_active();
    const int root = cli_mpi_rank() == 0;
    size_t first_row = 0, total_rows = 0;
    dataio_map *map = NULL; /* --stream */
    dataio_shape shape = {0, 0, 0, 0};
    mapped_source src; /* --stream: map and the weights' map */
    /* Under mpirun or with --stream without a given start: one start
     * from the sample for each of the --n-init restarts. */
    emgmm_model **starts = NULL;
    int n_starts = 0;
    memset(&src, 0, sizeof src);

    memset(&a, 0, sizeof a);
    memset(&info, 0, sizeof info);
    emgmm_params_default(&p);
    cli_outputs_init(&out);

    rc = parse_fit_args(argc, argv, &a, &p);
    if (rc != 0)
        return rc;
    if (a.help) {
        if (root)
            fit_help(stdout);
        return 0;
    }

    /* Usage checks on the outputs come before any work. */
    rc = cli_text_output("-o", a.out);
    if (rc == 0)
        rc = cli_text_output("--trace", a.trace);
    if (root && rc == 0 && a.out != NULL)
        rc = cli_outputs_declare(&out, "-o", a.out, &idx[0]);
    if (root && rc == 0 && a.json)
        rc = cli_outputs_declare(&out, "--json", "-", &idx[3]);
    if (root && rc == 0 && a.labels != NULL)
        rc = cli_outputs_declare(&out, "--labels", a.labels, &idx[1]);
    if (root && rc == 0 && a.proba != NULL)
        rc = cli_outputs_declare(&out, "--proba", a.proba, &idx[2]);
    if (root && rc == 0 && a.trace != NULL)
        rc = cli_outputs_declare(&out, "--trace", a.trace, &idx[4]);
    /* By default the model goes to standard output, unless something
     * else was asked to go there. */
    if (root && rc == 0 && a.out == NULL && !cli_outputs_uses_stdout(&out))
        rc = cli_outputs_declare(&out, "-o", "-", &idx[0]);
    if (root && rc == 0)
        rc = cli_outputs_check(&out);
    /* --stream under several ranks: --labels and --proba are written by
     * every rank into one .npy or HDF5 file (text would be gathered). */
    for (int j = 0; j < 2 && rc == 0 && a.stream && cli_mpi_size() > 1; j++) {
        const char *path = j == 0 ? a.labels : a.proba;
        if (path != NULL && !cli_is_shared_name(path))
            rc = cli_error(EXIT_BAD_USAGE, "fit: %s '%s': with --stream "
                           "under mpirun the rows are written by every rank "
                           "into one .npy or HDF5 file, not text (name it "
                           ".npy or .h5)", j == 0 ? "--labels" : "--proba",
                           path);
    }
    if ((rc = cli_mpi_max(rc)) != 0) {
        cli_outputs_free(&out);
        return rc;
    }

    /* A start without "covariance_type" has the shapes of -c. */
    const emgmm_covariance_type start_type =
        a.cov_given ? a.cov : EMGMM_COVARIANCE_FULL;
    if (a.init_model != NULL) {
        rc = cli_load_model_as(a.init_model, start_type, &start);
        if (rc == 0)
            rc = check_init_model(&a, start, "--init-model", a.init_model);
        p.init_model = start;
    } else if (a.resume != NULL) {
        rc = cli_load_model_as(a.resume, start_type, &start);
        if (rc == 0)
            rc = check_init_model(&a, start, "the checkpoint", a.resume);
        if (rc == 0)
            rc = resume_settings(&a, &p);
        p.init_model = start;
        p.resume = 1;
        a.init_model = a.resume; /* for the messages below */
    }
    if (rc == 0 && a.stream) {
        char err[512] = "";
        if (dataio_map_open(a.data, &a.read, (size_t)cli_mpi_rank(),
                            (size_t)cli_mpi_size(), &map, &shape, err,
                            sizeof err) != 0)
            rc = cli_error_always(EXIT_BAD_USAGE, "%s", err);
        rc = cli_mpi_max(rc);
        if (rc == 0 && shape.total_rows < (size_t)cli_mpi_size())
            rc = cli_error(EXIT_BAD_USAGE, "%s: %zu rows are too few for %d "
                           "ranks", a.data, shape.total_rows, cli_mpi_size());
        x.cols = shape.cols; /* the rows stay in the file */
        first_row = shape.first_row;
        total_rows = shape.total_rows;
        src.rows = map;
        src.first_row = first_row;
        src.weights_name = a.weights;
        /* The weights are mapped as one column of the same rows (NaN let
         * through to be named as a bad weight). */
        dataio_read_options plain = {0, 0, 1};
        dataio_shape wshape = {0, 0, 0, 0};
        if (rc == 0 && a.weights != NULL &&
            dataio_map_open(a.weights, &plain, (size_t)cli_mpi_rank(),
                            (size_t)cli_mpi_size(), &src.weights, &wshape,
                            err, sizeof err) != 0)
            rc = cli_error_always(EXIT_BAD_USAGE, "--weights: %s", err);
        rc = cli_mpi_max(rc);
        if (rc == 0 && a.weights != NULL &&
            (wshape.total_rows != total_rows || wshape.cols != 1))
            rc = cli_error(EXIT_BAD_USAGE,
                           "--weights %s: expected %zu rows of one column, "
                           "found %zu x %zu", a.weights, total_rows,
                           wshape.total_rows, wshape.cols);
    } else if (rc == 0 && distributed && a.f32) {
        rc = cli_mpi_max(cli_error(EXIT_BAD_USAGE, "fit: --dtype float32 "
                                   "is not available under mpirun"));
    } else if (rc == 0 && distributed) {
        rc = cli_mpi_max(cli_load_block(a.data, &a.read, a.weights, &x,
                                        &weights, &first_row, &total_rows));
        if (rc == 0 && p.missing)
            rc = cli_check_observed_columns(a.data, &x, 1);
    } else if (rc == 0 && a.f32) {
        char err[512] = "";
        if (dataio_read_matrix_f32(a.data, &a.read, &xf, err, sizeof err) !=
            0)
            rc = cli_error(EXIT_BAD_USAGE, "%s",
                           err[0] ? err : "cannot read the data");
        x.rows = xf.rows;
        x.cols = xf.cols;
        if (rc == 0 && a.weights != NULL)
            rc = cli_load_weights(a.weights, a.data, &x, &weights);
        total_rows = x.rows;
    } else if (rc == 0) {
        rc = cli_load_data(a.data, &a.read, &x);
        if (rc == 0 && p.missing)
            rc = cli_check_observed_columns(a.data, &x, 0);
        if (rc == 0 && a.weights != NULL)
            rc = cli_load_weights(a.weights, a.data, &x, &weights);
        total_rows = x.rows;
    }
    if (rc == 0 && start != NULL)
        rc = cli_check_features(a.data, &x, a.init_model, start);
    p.sample_weight = weights;
    p.fail_on_empty = a.fail_on_empty;
    if (distributed || a.stream) {
        rc = cli_mpi_max(rc);
        if (rc == 0 && start == NULL) {
            n_starts = p.n_init;
            starts = calloc((size_t)n_starts, sizeof *starts);
            if (starts == NULL)
                rc = cli_error(EXIT_WORK_FAILED, "out of memory");
            rc = cli_mpi_max(rc);
            if (rc == 0)
                rc = a.stream ? sample_start_mapped(&p, &src, &shape,
                                                    n_starts, starts)
                              : cli_sample_start(&p, &x, weights, first_row,
                                                 total_rows, n_starts,
                                                 starts);
        }
        if (distributed)
            p.allreduce = cli_mpi_allreduce;
    }

    progress_state ps;
    memset(&ps, 0, sizeof ps);
    if (rc == 0) {
        ps.n_init = start != NULL ? 1 : p.n_init;
        ps.last_run = -1;
        ps.verbose = a.verbose && root;
        ps.collect = a.trace != NULL;
        p.progress = on_iteration;
        p.progress_data = &ps;
        /* SIGTERM and SIGINT stop the fit after the iteration in progress
         * (with a checkpoint when asked for) instead of killing it. */
        cli_checkpoint_begin(&ps.ck, root ? a.checkpoint : NULL,
                             a.checkpoint_every);
        double t0 = cli_now();
        int st = EMGMM_OK;
        /* Under mpirun or with --stream the restarts (--n-init) run here:
         * one fit from each start, the best final log-likelihood kept
         * (ties to the first), as emgmm_fit keeps the best of its own
         * restarts. The ranks' sums are the same bits, so every rank
         * keeps the same fit. */
        for (int r = 0; r < (starts != NULL ? n_starts : 1); r++) {
            emgmm_params q = p;
            emgmm_model *fitted = NULL;
            emgmm_fit_info fi;
            if (distributed || a.stream)
                q.n_init = 1; /* one start per call, given or sampled */
            if (starts != NULL) {
                q.init_model = starts[r];
                q.first_init = r; /* reported as restart r */
            }
            st = a.stream
                     ? emgmm_fit_streamed_weighted(
                           &q, shape.rows, shape.cols, read_mapped_rows,
                           src.weights ? read_mapped_weights : NULL, &src,
                           &fitted, &fi)
                 : a.f32 ? emgmm_fit_f32(&q, xf.data, xf.rows, xf.cols,
                                         xf.cols, &fitted, &fi)
                         : emgmm_fit(&q, x.data, x.rows, x.cols, x.cols,
                                     &fitted, &fi);
            if (st != EMGMM_OK || r == 0 ||
                fi.log_likelihood > info.log_likelihood) {
                emgmm_free(&model);
                model = fitted;
                info = fi;
            } else {
                emgmm_free(&fitted);
            }
            if (st != EMGMM_OK)
                break;
        }
        double seconds = cli_now() - t0;
        cli_checkpoint_end(&ps.ck);
        trace_picture trace = {&ps, &a, model, &info};
        if (st != EMGMM_OK && ps.out_of_memory)
            rc = cli_error(EXIT_WORK_FAILED, "--trace: out of memory");
        else if (st != EMGMM_OK && (rc = cli_checkpoint_outcome(&ps.ck)) != 0)
            ;
        else if (st == EMGMM_ERR_IO && a.stream && mapped_error(&src))
            rc = cli_error_always(EXIT_BAD_USAGE, "%s", mapped_error(&src));
        else if (st != EMGMM_OK)
            rc = fit_failed(st, &p, &info, &a, &x);
        else if (a.require_converged && !info.converged)
            rc = cli_error(EXIT_WORK_FAILED,
                           "fit did not converge in %d iterations (tol %g); "
                           "raise --max-iter or --tol", info.n_iter, p.tol);
        if (rc == 0) {
            if (info.n_empty > 0)
                cli_error(0,
                          "warning: %d component%s lost all %s samples "
                          "(weight below 1/N); see --fail-on-empty",
                          info.n_empty, info.n_empty == 1 ? "" : "s",
                          info.n_empty == 1 ? "its" : "their");
            int32_t *labels = NULL, *my_labels = NULL;
            double *proba = NULL, *my_proba = NULL;
            fit_results res = {NULL, NULL, total_rows, -1, seconds, 0, 0};
            /* Under mpirun each rank writes its own rows of a .npy or
             * an HDF5 dataset; with --stream the rows are labelled and
             * written a block at a time (as predict --stream does). */
            res.labels_written = a.labels &&
                                 (a.stream || (distributed &&
                                               cli_is_shared_name(a.labels)));
            res.proba_written = a.proba &&
                                (a.stream || (distributed &&
                                              cli_is_shared_name(a.proba)));
            if (a.f32)
                rc = cli_predict_f32(model, &xf, a.labels ? &labels : NULL,
                                 a.proba ? &proba : NULL);
            else if (!a.stream)
                rc = collect_results(model, &x, a.labels != NULL,
                                     a.proba != NULL, res.labels_written,
                                     res.proba_written, p.missing,
                                     &my_labels, &my_proba, &labels, &proba,
                                     &res.n_missing);
            else if (p.missing) /* counted by the fit's pass over the file */
                res.n_missing = (long long)info.n_missing_values;
            res.labels = labels;
            res.proba = proba;
            if (rc == 0 && root)
                rc = cli_outputs_open(&out);
            rc = cli_mpi_max(rc);
            if (rc == 0 && a.stream && (a.labels || a.proba)) {
                const cli_rows_output lo = {idx[1], "--labels", a.labels};
                const cli_rows_output po = {idx[2], "--proba", a.proba};
                rc = cli_predict_mapped(model, map, &shape, &out,
                                        a.labels ? &lo : NULL,
                                        a.proba ? &po : NULL, p.missing);
            }
            if (rc == 0 && res.labels_written && !a.stream)
                rc = cli_write_shared_rows(&out, idx[1], "--labels",
                                           a.labels, my_labels, x.rows, 0, 1,
                                           first_row, total_rows);
            if (rc == 0 && res.proba_written && !a.stream)
                rc = cli_write_shared_rows(&out, idx[2], "--proba",
                                           a.proba, my_proba, x.rows,
                                           emgmm_n_components(model), 0,
                                           first_row, total_rows);
            if (rc == 0 && root)
                rc = write_outputs(&out, idx, model, &res, &info, &trace);
            free(labels);
            free(proba);
            free(my_labels);
            free(my_proba);
        }
    }
    rc = cli_mpi_max(rc);
    free(ps.points);
    free(weights);

    cli_outputs_free(&out);
    emgmm_free(&model);
    emgmm_free(&start);
    dataio_matrix_free(&x);
    dataio_matrix_f32_free(&xf);
    dataio_map_close(map);
    dataio_map_close(src.weights);
    for (int r = 0; starts != NULL && r < n_starts; r++)
        emgmm_free(&starts[r]);
    free(starts);
    return rc;
}
