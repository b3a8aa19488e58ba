/*
 * emgmm select: model selection. Fits every asked-for number of
 * components K and covariance type, prints their BIC (or AIC) as a table
 * like mclust's BIC summary (or as JSON), keeps the best model, and can
 * draw the criterion against K. A combination that fails (a singular
 * covariance, too few samples for K) is reported, not fatal.
 */
#include "cli_common.h"
#include "cli_distributed.h"
#include "cli_mpi.h"
#include "svg.h"

#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

enum {
    OPT_CRITERION = 256,
    OPT_INIT,
    OPT_SEED,
    OPT_N_INIT,
    OPT_TOL,
    OPT_MAX_ITER,
    OPT_REG_COVAR,
    OPT_THREADS,
    OPT_SHAPE,
    OPT_WEIGHTS,
    OPT_MISSING,
    OPT_PLOT,
    OPT_JSON
};

#define MAX_KS 1000 /* values of K in one run */
#define N_TYPES 4

static const char select_optstring[] = ":k:c:o:vh";

static const struct option select_options[] = {
    {"n-components", required_argument, NULL, 'k'},
    {"covariance-type", required_argument, NULL, 'c'},
    {"criterion", required_argument, NULL, OPT_CRITERION},
    {"init", required_argument, NULL, OPT_INIT},
    {"seed", required_argument, NULL, OPT_SEED},
    {"n-init", required_argument, NULL, OPT_N_INIT},
    {"tol", required_argument, NULL, OPT_TOL},
    {"max-iter", required_argument, NULL, OPT_MAX_ITER},
    {"reg-covar", required_argument, NULL, OPT_REG_COVAR},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"shape", required_argument, NULL, OPT_SHAPE},
    {"weights", required_argument, NULL, OPT_WEIGHTS},
    {"missing", no_argument, NULL, OPT_MISSING},
    {"output", required_argument, NULL, 'o'},
    {"plot", required_argument, NULL, OPT_PLOT},
    {"json", no_argument, NULL, OPT_JSON},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

/* mclust's names for the same models. */
static const char *mclust_name(emgmm_covariance_type t)
{
    switch (t) {
    case EMGMM_COVARIANCE_FULL: return "VVV";
    case EMGMM_COVARIANCE_TIED: return "EEE";
    case EMGMM_COVARIANCE_DIAG: return "VVI";
    case EMGMM_COVARIANCE_SPHERICAL: return "VII";
    }
    return "?";
}

static const char *type_name(emgmm_covariance_type t)
{
    const char *name = emgmm_covariance_type_name(t);
    return name ? name : "?";
}

static void select_help(FILE *f)
{
    emgmm_params d;
    emgmm_params_default(&d);
    const char *init = emgmm_init_method_name(d.init);
    fprintf(f,
        "Usage: emgmm select DATA [options]\n"
        "\n"
        "Model selection: fits a mixture for every number of components K and\n"
        "covariance type asked for, prints a table of the criterion (rows K,\n"
        "columns the types, the best marked with *), and keeps the best model.\n"
        "\n"
        "The criterion is emgmm's BIC = -2 log L + p ln N (or AIC = -2 log L +\n"
        "2p), where lower is better. R's mclust reports BIC = 2 log L - p ln N,\n"
        "where higher is better: mclust's BIC is minus emgmm's. mclust's names\n"
        "for the types: VVV = full, EEE = tied, VVI = diag, VII = spherical.\n"
        "A combination that fails (a singular covariance, too few samples for\n"
        "K) shows as - in the table and is not an error, unless all fail.\n"
        "\n"
        "Under mpirun each process reads only its block of rows of a .npy,\n"
        "raw or HDF5 file, and every fit runs on all processes together as\n"
        "'emgmm fit' does there: each restart starts from k-means on an\n"
        "evenly spaced sample of at most 65,536 rows gathered from every\n"
        "process (every row below that: the starts of the run without\n"
        "mpirun), and the sums of each EM iteration are added over the\n"
        "processes. Process 0 writes the outputs.\n"
        "\n"
        "Models:\n"
        "  -k, --n-components KS  the values of K: a range 1..10, a list 2,4,8,\n"
        "                         a number, or a mix (1..3,5); each >= 1\n"
        "                         (default 1..10)\n"
        "  -c, --covariance-type TYPES\n"
        "                         a comma list of full, tied, diag, spherical\n"
        "                         (default all four)\n"
        "      --criterion C      bic or aic (default bic)\n"
        "\n"
        "Each fit, as in 'emgmm fit':\n"
        "      --init METHOD      kmeans, kmeans++, random or random-data\n"
        "                         (default %s)\n"
        "      --seed S           random seed, the same for every fit\n"
        "                         (default %llu)\n"
        "      --n-init N         restarts per fit, the best kept (default %d)\n"
        "      --tol T            convergence tolerance (default %g)\n"
        "      --max-iter M       most EM iterations per restart (default %d)\n"
        "      --reg-covar R      added to covariance diagonals (default %g)\n"
        "      --threads T        threads for each fit (default %d: OpenMP's\n"
        "                         default). The fits, and the restarts within\n"
        "                         a fit, run one after another; the threads\n"
        "                         share the rows of each EM iteration\n"
        "      --weights FILE     a non-negative weight for each row of DATA\n"
        "                         (.npy or CSV, one column); BIC then uses\n"
        "                         N = the sum of the weights\n"
        "      --shape N,D        DATA is raw little-endian float64: N rows, D\n"
        "                         columns (default: detect .npy or CSV)\n"
        "      --missing          accept missing values (NaN, or an empty CSV\n"
        "                         cell), as 'emgmm fit --missing'\n"
        "\n"
        "Output (files appear only if everything succeeds):\n"
        "  -o, --output MODEL     write the best model (JSON) to MODEL\n"
        "      --plot SVG         draw the criterion against K, one line per\n"
        "                         covariance type, the best marked\n"
        "      --json             print one JSON object instead of the table:\n"
        "                         criterion, best {n_components,\n"
        "                         covariance_type, bic, aic, log_likelihood},\n"
        "                         results [{n_components, covariance_type, bic,\n"
        "                         aic, log_likelihood, n_iter, converged} or\n"
        "                         {n_components, covariance_type, error}]\n"
        "  -v, --verbose          print each fit's result on standard error as\n"
        "                         it finishes\n"
        "  -h, --help             show this help and exit\n"
        "\n"
        "Exit status: 0 success; 1 every fit failed, or an output could not be\n"
        "written; 2 bad usage or bad input.\n"
        "\n"
        "Examples:\n"
        "  emgmm select data/sightings.csv -k 1..6 -o best.json --plot bic.svg\n"
        "  emgmm select big.npy -k 2,4,8,16 -c full,diag --json\n",
        init ? init : "kmeans", (unsigned long long)d.seed, d.n_init, d.tol,
        d.max_iter, d.reg_covar, d.n_threads);
}

typedef struct select_args {
    const char *data;
    const char *out;
    const char *plot;
    const char *weights;
    int ks[MAX_KS];
    int n_ks;
    emgmm_covariance_type types[N_TYPES];
    int n_types;
    int aic; /* criterion: 0 BIC, 1 AIC */
    int json;
    int verbose;
    int help;
    dataio_read_options read;
} select_args;

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* One K or a range A..B (s is one comma-separated item of -k). */
static int parse_k_item(const char *spec, const char *s, size_t len,
                        int *lo, int *hi)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return cli_error(EXIT_BAD_USAGE, "-k: '%s' is not a number, a "
                         "range A..B or a list", spec);
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *dots = strstr(buf, "..");
    int rc;
    if (dots == NULL) {
        rc = cli_parse_int("-k", buf, 1, INT_MAX, lo);
        *hi = *lo;
        return rc;
    }
    *dots = '\0';
    rc = cli_parse_int("-k", buf, 1, INT_MAX, lo);
    if (rc == 0)
        rc = cli_parse_int("-k", dots + 2, 1, INT_MAX, hi);
    if (rc == 0 && *lo > *hi)
        rc = cli_error(EXIT_BAD_USAGE, "-k: '%s..%s' is an empty range "
                       "(%d > %d)", buf, dots + 2, *lo, *hi);
    return rc;
}

/* -k: "1..10", "2,4,8", "3", or a mix; sorted, without repeats. */
static int parse_ks(const char *spec, select_args *a)
{
    int n = 0;
    const char *s = spec;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        int lo, hi;
        int rc = parse_k_item(spec, s, len, &lo, &hi);
        if (rc != 0)
            return rc;
        for (long k = lo; k <= hi; k++) {
            if (n == MAX_KS)
                return cli_error(EXIT_BAD_USAGE, "-k: '%s' has more than %d "
                                 "values", spec, MAX_KS);
            a->ks[n++] = (int)k;
        }
        if (comma == NULL)
            break;
        s = comma + 1;
    }
    qsort(a->ks, (size_t)n, sizeof a->ks[0], cmp_int);
    a->n_ks = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || a->ks[i] != a->ks[i - 1])
            a->ks[a->n_ks++] = a->ks[i];
    return 0;
}

/* -c: a comma list of types, in the order given, without repeats. */
static int parse_types(const char *spec, select_args *a)
{
    const char *s = spec;
    a->n_types = 0;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        char buf[32];
        emgmm_covariance_type t;
        if (len >= sizeof buf)
            len = sizeof buf - 1;
        memcpy(buf, s, len);
        buf[len] = '\0';
        if (emgmm_covariance_type_parse(buf, &t) != EMGMM_OK)
            return cli_error(EXIT_BAD_USAGE,
                             "-c: unknown covariance type '%s' (full, tied, "
                             "diag or spherical)", buf);
        int seen = 0;
        for (int i = 0; i < a->n_types; i++)
            seen |= a->types[i] == t;
        if (!seen)
            a->types[a->n_types++] = t;
        if (comma == NULL)
            break;
        s = comma + 1;
    }
    return 0;
}

static int parse_select_args(int argc, char **argv, select_args *a,
                             emgmm_params *p)
{
    int c, rc = 0, k_given = 0, c_given = 0;
    opterr = 0;
    optind = 1;
    int li = -1;
    unsigned given = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, select_optstring,
                                       select_options, &li)) != -1) {
        if (li >= 0 && cli_parse_em_option(select_options[li].name, optarg,
                                           1, p, &given, &rc)) {
            li = -1;
            continue;
        }
        li = -1;
        switch (c) {
        case 'k': rc = parse_ks(optarg, a); k_given = 1; break;
        case 'c': rc = parse_types(optarg, a); c_given = 1; break;
        case OPT_CRITERION:
            if (strcmp(optarg, "bic") == 0 || strcmp(optarg, "aic") == 0)
                a->aic = optarg[0] == 'a';
            else
                rc = cli_error(EXIT_BAD_USAGE, "--criterion: '%s' is not "
                               "bic or aic", optarg);
            break;
        case OPT_SHAPE:
            rc = cli_parse_shape("--shape", optarg, &a->read);
            break;
        case OPT_WEIGHTS: a->weights = optarg; break;
        case OPT_MISSING: a->read.allow_missing = 1; break;
        case 'o': a->out = optarg; break;
        case OPT_PLOT: a->plot = optarg; break;
        case OPT_JSON: a->json = 1; break;
        case 'v': a->verbose = 1; break;
        case 'h': a->help = 1; return 0;
        default: return cli_bad_option("select", c, argv, select_optstring);
        }
    }
    if (rc != 0)
        return rc;
    if (optind >= argc)
        return cli_error(EXIT_BAD_USAGE,
                         "select: missing DATA (see 'emgmm select --help')");
    if (argc - optind > 1)
        return cli_error(EXIT_BAD_USAGE, "select: unexpected argument '%s'",
                         argv[optind + 1]);
    a->data = argv[optind];
    if (!k_given)
        parse_ks("1..10", a);
    if (!c_given)
        parse_types("full,tied,diag,spherical", a);
    return 0;
}

/* One (K, type) fit. */
typedef struct result {
    int k;
    emgmm_covariance_type type;
    int ok;
    double bic, aic, log_likelihood;
    int n_iter, converged;
    char error[160];
} result;

static double criterion(const select_args *a, const result *r)
{
    return a->aic ? r->aic : r->bic;
}

/* One (K, type) fit under mpirun: x is this rank's block, sample the
 * k-means sample gathered from every rank. Restart r starts from the
 * sample as restart r of emgmm_fit would (cli_start_of_run), then runs EM
 * on the rows of every rank; as in emgmm_fit, the restart with the
 * highest final log-likelihood is kept, the first on a tie, and a failed
 * restart fails the fit. Every step is computed alike on every rank or
 * summed over the ranks, so every rank returns the same status and
 * model. */
static int fit_distributed(const emgmm_params *p, const cli_sample *sample,
                           const dataio_matrix *x, emgmm_model **model,
                           emgmm_fit_info *info)
{
    double seconds = 0.0;
    int st = EMGMM_OK;
    *model = NULL;
    for (int run = 0; st == EMGMM_OK && run < p->n_init; run++) {
        emgmm_model *start = NULL, *m = NULL;
        emgmm_fit_info ri;
        memset(&ri, 0, sizeof ri);
        st = cli_start_of_run(p, sample, run, &start, &ri);
        /* The same on every rank, unless memory ran out on one: then
         * every rank takes the worst status. */
        st = -cli_mpi_max(-st);
        if (st == EMGMM_OK) {
            emgmm_params q = *p;
            q.init_model = start;
            q.n_init = 1;
            q.first_init = run; /* reported as restart `run` */
            q.allreduce = cli_mpi_allreduce;
            q.allreduce_data = NULL;
            st = emgmm_fit(&q, x->data, x->rows, x->cols, x->cols, &m, &ri);
        }
        seconds += ri.seconds;
        if (st == EMGMM_OK &&
            (run == 0 || ri.log_likelihood > info->log_likelihood)) {
            emgmm_free(model);
            *model = m;
            m = NULL;
            *info = ri;
        } else if (st != EMGMM_OK) {
            info->bad_component = ri.bad_component;
        }
        emgmm_free(&m);
        emgmm_free(&start);
    }
    if (st != EMGMM_OK)
        emgmm_free(model);
    info->seconds = seconds;
    return st;
}

/* Fits every combination; *best gets the best model and *best_index its
 * result. A failure that concerns the data as a whole (not finite, out of
 * range, out of memory) ends the command. Under mpirun (sample not NULL)
 * x is this rank's block and every rank runs every fit together. */
static int fit_all(const select_args *a, const emgmm_params *base,
                   const dataio_matrix *x, const cli_sample *sample,
                   result *res, emgmm_model **best, int *best_index)
{
    const int verbose = a->verbose && cli_mpi_rank() == 0;
    int i = 0;
    *best_index = -1;
    for (int ki = 0; ki < a->n_ks; ki++) {
        for (int ti = 0; ti < a->n_types; ti++, i++) {
            result *r = &res[i];
            emgmm_params p = *base;
            emgmm_fit_info info;
            emgmm_model *m = NULL;
            memset(r, 0, sizeof *r);
            memset(&info, 0, sizeof info);
            r->k = a->ks[ki];
            r->type = a->types[ti];
            p.n_components = r->k;
            p.covariance_type = r->type;
            int st = sample ? fit_distributed(&p, sample, x, &m, &info)
                            : emgmm_fit(&p, x->data, x->rows, x->cols,
                                        x->cols, &m, &info);
            if (st == EMGMM_ERR_SINGULAR)
                snprintf(r->error, sizeof r->error,
                         "component %d has a covariance that is not positive "
                         "definite (raise --reg-covar)", info.bad_component);
            else if (st == EMGMM_ERR_TOO_FEW_SAMPLES)
                snprintf(r->error, sizeof r->error,
                         "fewer distinct samples than components");
            else if (st == EMGMM_ERR_NONFINITE || st == EMGMM_ERR_RANGE)
                return cli_error(cli_status_exit(st), "%s: %s", a->data,
                                 emgmm_strerror(st));
            else if (st != EMGMM_OK)
                return cli_library_error("select: fit failed", st);
            r->ok = st == EMGMM_OK;
            if (r->ok) {
                r->bic = info.bic;
                r->aic = info.aic;
                r->log_likelihood = info.log_likelihood;
                r->n_iter = info.n_iter;
                r->converged = info.converged;
            }
            if (verbose && r->ok)
                fprintf(stderr, "K=%d %s: bic %.2f  aic %.2f  %d iterations"
                        "%s  %.3f s\n", r->k, type_name(r->type), r->bic,
                        r->aic, r->n_iter, r->converged ? ""
                                                        : " (not converged)",
                        info.seconds);
            else if (verbose)
                fprintf(stderr, "K=%d %s: failed: %s\n", r->k,
                        type_name(r->type), r->error);
            if (r->ok && (*best_index < 0 ||
                          criterion(a, r) < criterion(a, &res[*best_index]))) {
                emgmm_free(best);
                *best = m;
                m = NULL;
                *best_index = i;
            }
            emgmm_free(&m);
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Outputs                                                             */
/* ------------------------------------------------------------------ */

typedef struct report {
    const select_args *a;
    const result *res;
    int n;
    int best;
} report;

static void print_table(const report *rep)
{
    const select_args *a = rep->a;
    const char *name = a->aic ? "AIC" : "BIC";
    char num[64];
    int width = 9; /* "spherical" */
    for (int i = 0; i < rep->n; i++)
        if (rep->res[i].ok) {
            int len = snprintf(num, sizeof num, "%.2f",
                               criterion(a, &rep->res[i]));
            if (len > width)
                width = len;
        }
    if (a->aic)
        printf("AIC = -2 log L + 2p, lower is better\n");
    else
        printf("BIC = -2 log L + p ln N, lower is better "
               "(mclust's BIC is minus this)\n");
    printf("%4s", "K");
    for (int t = 0; t < a->n_types; t++)
        printf("  %*s%s", width, type_name(a->types[t]),
               t + 1 < a->n_types ? " " : "");
    printf("\n%4s", "");
    for (int t = 0; t < a->n_types; t++) {
        char m[8];
        snprintf(m, sizeof m, "(%s)", mclust_name(a->types[t]));
        printf("  %*s%s", width, m, t + 1 < a->n_types ? " " : "");
    }
    putchar('\n');
    for (int ki = 0; ki < a->n_ks; ki++) {
        printf("%4d", a->ks[ki]);
        for (int t = 0; t < a->n_types; t++) {
            int i = ki * a->n_types + t;
            const result *r = &rep->res[i];
            /* the column after each number holds the best's mark */
            if (r->ok)
                printf("  %*.2f", width, criterion(a, r));
            else
                printf("  %*s", width, "-");
            if (i == rep->best)
                putchar('*');
            else if (t + 1 < a->n_types)
                putchar(' ');
        }
        putchar('\n');
    }
    const result *b = &rep->res[rep->best];
    printf("best: K=%d, %s covariance (mclust %s), %s %.2f\n", b->k,
           type_name(b->type), mclust_name(b->type), name, criterion(a, b));
    int failed = 0;
    for (int i = 0; i < rep->n; i++)
        if (!rep->res[i].ok) {
            if (failed++ == 0)
                printf("failed (-):\n");
            printf("  K=%d %s: %s\n", rep->res[i].k,
                   type_name(rep->res[i].type), rep->res[i].error);
        }
}

static int print_json(const report *rep)
{
    const select_args *a = rep->a;
    const result *b = &rep->res[rep->best];
    json_t *results = json_array();
    json_t *obj = json_pack(
        "{s:s, s:{s:i, s:s, s:f, s:f, s:f}}", "criterion",
        a->aic ? "aic" : "bic", "best", "n_components", b->k,
        "covariance_type", type_name(b->type), "bic", b->bic, "aic", b->aic,
        "log_likelihood", b->log_likelihood);
    int rc = obj == NULL || results == NULL;
    for (int i = 0; rc == 0 && i < rep->n; i++) {
        const result *r = &rep->res[i];
        json_t *item =
            r->ok ? json_pack("{s:i, s:s, s:f, s:f, s:f, s:i, s:b}",
                              "n_components", r->k, "covariance_type",
                              type_name(r->type), "bic", r->bic, "aic",
                              r->aic, "log_likelihood", r->log_likelihood,
                              "n_iter", r->n_iter, "converged",
                              r->converged ? 1 : 0)
                  : json_pack("{s:i, s:s, s:s}", "n_components", r->k,
                              "covariance_type", type_name(r->type), "error",
                              r->error);
        rc = json_array_append_new(results, item) != 0;
    }
    if (rc == 0)
        rc = json_object_set_new(obj, "results", results) != 0;
    else
        json_decref(results);
    if (rc == 0)
        rc = json_dumpf(obj, stdout, JSON_REAL_PRECISION(17)) != 0 ||
             fputc('\n', stdout) == EOF;
    json_decref(obj);
    return rc ? -1 : 0;
}

static int write_report(FILE *f, const void *data)
{
    const report *rep = data;
    (void)f; /* always standard output */
    if (rep->a->json)
        return print_json(rep);
    print_table(rep);
    return 0;
}

/* The --plot picture: the criterion against K, a line per type. */
static int write_plot(FILE *f, const void *data)
{
    const report *rep = data;
    const select_args *a = rep->a;
    const char *name = a->aic ? "AIC" : "BIC";
    char title[64], note[512], ylabel[64];
    snprintf(title, sizeof title, "%s by number of components", name);
    snprintf(note, sizeof note, "%s; lower is better%s",
             cli_display_name(a->data),
             a->aic ? "" : " (mclust's BIC is minus this)");
    snprintf(ylabel, sizeof ylabel, "%s (lower is better)", name);
    svg_begin(f, title, note);

    double y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < rep->n; i++)
        if (rep->res[i].ok) {
            y0 = fmin(y0, criterion(a, &rep->res[i]));
            y1 = fmax(y1, criterion(a, &rep->res[i]));
        }
    svg_plot p;
    svg_plot_init(&p, f, a->ks[0], a->ks[a->n_ks - 1], y0, y1, 0);
    svg_axes(&p, "number of components K", ylabel, 1);
    int nt = a->n_types;
    for (int t = 0; t < nt; t++) {
        const char *color = svg_color((size_t)t);
        /* One polyline per run of successful fits: a failed K leaves a
         * gap rather than a line across it. */
        int open = 0;
        for (int ki = 0; ki <= a->n_ks; ki++) {
            const result *r = ki < a->n_ks ? &rep->res[ki * nt + t] : NULL;
            if (r != NULL && r->ok) {
                if (!open)
                    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" "
                               "stroke-width=\"2\" points=\"", color);
                fprintf(f, "%s%.2f,%.2f", open ? " " : "",
                        svg_px(&p, r->k), svg_py(&p, criterion(a, r)));
                open = 1;
            } else if (open) {
                fputs("\"/>\n", f);
                open = 0;
            }
        }
        for (int ki = 0; ki < a->n_ks; ki++) {
            const result *r = &rep->res[ki * nt + t];
            if (r->ok)
                fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3.5\" "
                           "fill=\"%s\"/>\n",
                        svg_px(&p, r->k), svg_py(&p, criterion(a, r)), color);
        }
    }
    const result *b = &rep->res[rep->best];
    double bx = svg_px(&p, b->k), by = svg_py(&p, criterion(a, b));
    fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"9\" fill=\"none\" "
               "stroke=\"black\" stroke-width=\"2\"/>\n", bx, by);
    /* The label goes on the side of the point with more room. */
    int right = bx < 0.5 * (p.left + p.right);
    svg_text(f, bx + (right ? 14 : -14), by - 12, 12, right ? "start" : "end",
             "best: K=%d, %s", b->k, type_name(b->type));
    for (int t = 0; t < nt; t++)
        svg_legend(&p, SVG_LEGEND_LINE, svg_color((size_t)t), "%s (%s)",
                   type_name(a->types[t]), mclust_name(a->types[t]));
    svg_legend(&p, SVG_LEGEND_RING, "black", "best");
    svg_end(f);
    return 0;
}

int cmd_select(int argc, char **argv)
{
    select_args a;
    emgmm_params p;
    cli_outputs out;
    int i_model = -1, i_plot = -1, i_report = -1;
    dataio_matrix x = {NULL, 0, 0};
    double *weights = NULL;
    emgmm_model *best = NULL;
    result *res = NULL;
    cli_sample sample = {NULL, NULL, 0, 0};
    int rc;
    /* Under mpirun every rank reads its block of rows and every fit runs
     * on all ranks together (distributed as 'emgmm fit' is); rank 0
     * writes the outputs. The ranks agree on the status after each
     * step. */
    const int distributed = cli_mpi_active();
    const int root = cli_mpi_rank() == 0;

    memset(&a, 0, sizeof a);
    emgmm_params_default(&p);
    cli_outputs_init(&out);
    rc = parse_select_args(argc, argv, &a, &p);
    if (rc != 0)
        return rc;
    if (a.help) {
        if (root) /* once under mpirun */
            select_help(stdout);
        return 0;
    }
    if (a.weights != NULL && strcmp(a.weights, "-") == 0 &&
        strcmp(a.data, "-") == 0)
        return cli_error(EXIT_BAD_USAGE, "select: DATA and --weights cannot "
                         "both be standard input");

    if (root)
        rc = cli_outputs_declare(&out, a.json ? "--json" : "the table", "-",
                                 &i_report);
    if (root && rc == 0 && a.out != NULL)
        rc = cli_outputs_declare(&out, "-o", a.out, &i_model);
    if (root && rc == 0 && a.plot != NULL)
        rc = cli_outputs_declare(&out, "--plot", a.plot, &i_plot);
    if (root && rc == 0)
        rc = cli_outputs_check(&out);
    if ((rc = cli_mpi_max(rc)) != 0) {
        cli_outputs_free(&out);
        return rc;
    }

    size_t first_row = 0, total_rows = 0;
    if (distributed) {
        rc = cli_mpi_max(cli_load_block(a.data, &a.read, a.weights, &x,
                                        &weights, &first_row, &total_rows));
        if (rc == 0 && a.read.allow_missing)
            rc = cli_check_observed_columns(a.data, &x, 1);
        /* The k-means sample, gathered once for every fit. */
        if (rc == 0)
            rc = cli_gather_sample(&x, weights, first_row, total_rows,
                                   &sample);
    } else {
        rc = cli_load_data(a.data, &a.read, &x);
        if (rc == 0 && a.read.allow_missing)
            rc = cli_check_observed_columns(a.data, &x, 0);
        if (rc == 0 && a.weights != NULL)
            rc = cli_load_weights(a.weights, a.data, &x, &weights);
    }
    p.sample_weight = weights;
    p.missing = a.read.allow_missing;
    int n = a.n_ks * a.n_types, best_index = -1;
    if (rc == 0 && (res = calloc((size_t)n, sizeof *res)) == NULL)
        rc = cli_error_always(EXIT_WORK_FAILED, "out of memory");
    rc = cli_mpi_max(rc);
    if (rc == 0)
        rc = fit_all(&a, &p, &x, distributed ? &sample : NULL, res, &best,
                     &best_index);
    if (rc == 0 && best_index < 0)
        rc = cli_error(EXIT_WORK_FAILED,
                       "select: every fit failed (K=%d %s: %s)", res[0].k,
                       type_name(res[0].type), res[0].error);
    report rep = {&a, res, n, best_index};
    if (rc == 0 && root)
        rc = cli_outputs_open(&out);
    /* Files first, standard output last, then commit them together. */
    if (rc == 0 && root && i_model >= 0)
        rc = cli_write_model(&out, i_model, best);
    if (rc == 0 && root && i_plot >= 0)
        rc = cli_write_stream(&out, i_plot, write_plot, &rep);
    if (rc == 0 && root)
        rc = cli_write_stream(&out, i_report, write_report, &rep);
    if (rc == 0 && root)
        rc = cli_outputs_commit(&out);
    rc = cli_mpi_max(rc);
    cli_outputs_free(&out);
    cli_sample_free(&sample);
    emgmm_free(&best);
    free(res);
    free(weights);
    dataio_matrix_free(&x);
    return rc;
}
