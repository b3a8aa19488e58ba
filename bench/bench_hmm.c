/*
 * emgmm's side of the HMM benchmark against hmmlearn (driven by
 * bench/hmm_bench.py through bench/run.sh --only hmm). Prints one JSON
 * line on standard output:
 *
 *   bench_hmm X.npy LENGTHS START.json ITERS REPEATS THREADS [ONLY]
 *
 * X.npy holds the rows of every sequence one after the other, LENGTHS a
 * text file of the sequence lengths (whitespace-separated integers) and
 * START.json an emgmm-hmm model (Gaussian emissions), the start shared
 * with hmmlearn.
 *
 * Each repeat makes four calls, in an order that alternates between
 * repeats (HMM first in even repeats, the mixture first in odd ones):
 *   hmm_n   emgmm_hmm_fit(init_model = START, init_params "", tol -1,
 *           max_iter ITERS): exactly ITERS Baum-Welch iterations
 *           (hmmlearn's tol = -inf), each timed by the progress callback
 *           (one E-step, one M-step, as hmmlearn's loop body);
 *   hmm_0   the same with max_iter 0: the call's set-up, the check of X
 *           and the final scoring of the returned model (one forward
 *           pass), which every call makes once;
 *   mix_n   emgmm_fit of a mixture from the same parameters (K
 *           components with the HMM's means and covariances, equal
 *           weights, the same covariance type), tol 0, max_iter ITERS;
 *   mix_0   the same with max_iter 0.
 * Seconds per iteration are given two ways: the median over all ITERS x
 * REPEATS callback times ("seconds_per_iter_median"), and the median
 * over the repeats of (hmm_n - hmm_0) / ITERS ("seconds_per_iter_diff":
 * the whole call, with the set-up and the one final scoring subtracted;
 * both calls score one model, so what remains is ITERS iterations).
 *
 * Also, once, on the start model: the time of emgmm_hmm_score (emission
 * densities + forward pass) and emgmm_hmm_predict_proba (+ backward
 * pass), and how soft the posteriors are: the share of rows whose largest
 * state posterior is below 0.99 and the share of (row, state) posteriors
 * above 1e-10 (an M-step that skipped negligible weights could skip only
 * the others).
 *
 * THREADS is n_threads of both fits; the inference calls follow
 * OMP_NUM_THREADS. ONLY ("hmm" or "mixture") makes only that one's two
 * calls per repeat and skips the inference calls: for profiling one of
 * them (perf record, callgrind); the other's numbers are then null.
 */
#include "dataio.h"
#include "emgmm.h"
#include "emgmm_hmm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n-1]; sorts a copy. */
static double median(const double *v, size_t n)
{
    if (n == 0)
        return NAN;
    double *s = malloc(n * sizeof *s);
    if (!s)
        return v[0];
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp);
    double m = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
    return m;
}

static void print_array(const char *name, const double *v, size_t n)
{
    printf("\"%s\": [", name);
    for (size_t i = 0; i < n; i++)
        printf("%s%.6g", i ? ", " : "", v[i]);
    printf("]");
}

typedef struct recorder {
    double *seconds;
    size_t count, capacity;
} recorder;

static int record_hmm(const emgmm_hmm_iteration *it, void *user)
{
    recorder *r = user;
    if (r->count < r->capacity)
        r->seconds[r->count++] = it->seconds;
    return 0;
}

static int record_mix(const emgmm_iteration *it, void *user)
{
    recorder *r = user;
    if (r->count < r->capacity)
        r->seconds[r->count++] = it->seconds;
    return 0;
}

static int parse_int(const char *s, int min, int *out)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < min || v > 1000000)
        return -1;
    *out = (int)v;
    return 0;
}

/* Whitespace-separated positive integers; *count of them into *out. */
static int read_lengths(const char *path, size_t **out, size_t *count)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 64, n = 0;
    size_t *v = malloc(cap * sizeof *v);
    long long x;
    int rc = 0;
    while (v && fscanf(f, "%lld", &x) == 1) {
        if (x < 1) {
            rc = -1;
            break;
        }
        if (n == cap) {
            size_t *w = realloc(v, 2 * cap * sizeof *v);
            if (!w) {
                rc = -1;
                break;
            }
            v = w;
            cap *= 2;
        }
        v[n++] = (size_t)x;
    }
    if (!feof(f) || n == 0 || !v)
        rc = -1;
    fclose(f);
    if (rc != 0) {
        fprintf(stderr, "bench_hmm: %s: not a list of positive lengths\n",
                path);
        free(v);
        return -1;
    }
    *out = v;
    *count = n;
    return 0;
}

/* The mixture with the HMM's emissions as components, equal weights. */
static int mixture_start(const emgmm_hmm *h, emgmm_model **out)
{
    const size_t k = emgmm_hmm_n_states(h), d = emgmm_hmm_n_features(h);
    double *w = malloc(k * sizeof *w);
    if (!w)
        return EMGMM_ERR_NOMEM;
    for (size_t i = 0; i < k; i++)
        w[i] = 1.0 / (double)k;
    int bad = -1;
    int rc = emgmm_model_create(emgmm_hmm_get_covariance_type(h), k, d, w,
                                emgmm_hmm_means(h), emgmm_hmm_covariances(h),
                                out, &bad);
    free(w);
    return rc;
}

typedef struct runs {
    double *iter_s;      /* ITERS x REPEATS callback times */
    double *call_n;      /* REPEATS whole calls of ITERS iterations */
    double *call_0;      /* REPEATS whole calls of 0 iterations */
    double *diff;        /* REPEATS (call_n - call_0) / ITERS */
    recorder rec;
    double log_likelihood, last_estep;
} runs;

static int runs_alloc(runs *r, int iters, int repeats)
{
    const size_t total = (size_t)iters * (size_t)repeats;
    r->iter_s = calloc(total, sizeof(double));
    r->call_n = calloc((size_t)repeats, sizeof(double));
    r->call_0 = calloc((size_t)repeats, sizeof(double));
    r->diff = calloc((size_t)repeats, sizeof(double));
    r->rec = (recorder){r->iter_s, 0, total};
    r->log_likelihood = r->last_estep = NAN;
    return r->iter_s && r->call_n && r->call_0 && r->diff ? 0 : -1;
}

static void runs_free(runs *r)
{
    free(r->iter_s);
    free(r->call_n);
    free(r->call_0);
    free(r->diff);
}

static void runs_print(const char *name, const runs *r, int iters,
                       int repeats)
{
    printf("\"%s\": {\"seconds_per_iter_median\": %.6g, "
           "\"seconds_per_iter_diff\": %.6g, ",
           name, median(r->iter_s, r->rec.count),
           median(r->diff, (size_t)repeats));
    print_array("iter_seconds", r->iter_s, r->rec.count);
    printf(", ");
    print_array("call_seconds", r->call_n, (size_t)repeats);
    printf(", ");
    print_array("call0_seconds", r->call_0, (size_t)repeats);
    printf(", \"iters\": %d, \"log_likelihood\": %.17g, "
           "\"last_estep\": %.17g}",
           iters, r->log_likelihood, r->last_estep);
}

static int fit_hmm(const emgmm_hmm *start, const dataio_matrix *X,
                   const size_t *lengths, size_t n_seq, int iters,
                   int threads, runs *r, int slot)
{
    emgmm_hmm_params p;
    emgmm_hmm_params_default(&p);
    p.init_model = start;
    p.init_params[0] = '\0';
    p.tol = -1.0;
    p.n_threads = threads;
    emgmm_hmm_fit_info info;
    for (int pass = 0; pass < 2; pass++) {
        const int n_it = pass == 0 ? iters : 0;
        p.max_iter = n_it;
        p.progress = n_it ? record_hmm : NULL;
        p.progress_data = n_it ? &r->rec : NULL;
        emgmm_hmm *m = NULL;
        const double t0 = now();
        int rc = emgmm_hmm_fit(&p, X->data, X->rows, X->cols, X->cols,
                               lengths, n_seq, &m, &info);
        const double t = now() - t0;
        emgmm_hmm_free(&m);
        if (rc != EMGMM_OK) {
            fprintf(stderr, "bench_hmm: hmm fit failed: %s\n",
                    emgmm_strerror(rc));
            return -1;
        }
        if (info.n_iter != n_it) {
            fprintf(stderr, "bench_hmm: hmm ran %d iterations, not %d\n",
                    info.n_iter, n_it);
            return -1;
        }
        if (n_it) {
            r->call_n[slot] = t;
            r->log_likelihood = info.log_likelihood;
            r->last_estep = info.last_estep;
        } else {
            r->call_0[slot] = t;
        }
    }
    r->diff[slot] = (r->call_n[slot] - r->call_0[slot]) / iters;
    return 0;
}

static int fit_mix(const emgmm_model *start, const dataio_matrix *X,
                   int iters, int threads, runs *r, int slot)
{
    emgmm_params p;
    emgmm_params_default(&p);
    p.init_model = start;
    p.tol = 0.0;
    p.n_threads = threads;
    emgmm_fit_info info;
    for (int pass = 0; pass < 2; pass++) {
        const int n_it = pass == 0 ? iters : 0;
        p.max_iter = n_it;
        p.progress = n_it ? record_mix : NULL;
        p.progress_data = n_it ? &r->rec : NULL;
        emgmm_model *m = NULL;
        const double t0 = now();
        int rc = emgmm_fit(&p, X->data, X->rows, X->cols, X->cols, &m,
                           &info);
        const double t = now() - t0;
        emgmm_free(&m);
        if (rc != EMGMM_OK) {
            fprintf(stderr, "bench_hmm: mixture fit failed: %s\n",
                    emgmm_strerror(rc));
            return -1;
        }
        if (info.n_iter != n_it) {
            fprintf(stderr, "bench_hmm: mixture ran %d iterations, not %d\n",
                    info.n_iter, n_it);
            return -1;
        }
        if (n_it) {
            r->call_n[slot] = t;
            r->log_likelihood = info.log_likelihood; /* mean per row */
            r->last_estep = info.lower_bound;
        } else {
            r->call_0[slot] = t;
        }
    }
    r->diff[slot] = (r->call_n[slot] - r->call_0[slot]) / iters;
    return 0;
}

int main(int argc, char **argv)
{
    int iters, repeats, threads;
    const char *only = argc == 8 ? argv[7] : "";
    if (argc < 7 || argc > 8 || parse_int(argv[4], 1, &iters) ||
        parse_int(argv[5], 1, &repeats) || parse_int(argv[6], 0, &threads) ||
        (argc == 8 && strcmp(only, "hmm") != 0 &&
         strcmp(only, "mixture") != 0)) {
        fprintf(stderr, "usage: bench_hmm X.npy LENGTHS START.json ITERS "
                        "REPEATS THREADS [hmm|mixture]\n");
        return 2;
    }
    const int do_hmm = strcmp(only, "mixture") != 0,
              do_mix = strcmp(only, "hmm") != 0;
    char err[512];
    dataio_read_options opt = {0, 0, 0};
    dataio_matrix X = {0};
    if (dataio_read_matrix(argv[1], &opt, &X, err, sizeof err) != 0) {
        fprintf(stderr, "bench_hmm: %s\n", err);
        return 2;
    }
    size_t *lengths = NULL, n_seq = 0;
    if (read_lengths(argv[2], &lengths, &n_seq) != 0)
        return 2;
    size_t total = 0;
    for (size_t i = 0; i < n_seq; i++)
        total += lengths[i];
    if (total != X.rows) {
        fprintf(stderr, "bench_hmm: the lengths add up to %zu, X has %zu "
                        "rows\n", total, X.rows);
        return 2;
    }
    emgmm_hmm *start = NULL;
    emgmm_error lerr;
    if (emgmm_hmm_load(argv[3], &start, &lerr) != EMGMM_OK) {
        fprintf(stderr, "bench_hmm: %s:%d:%d: %s\n", argv[3], lerr.line,
                lerr.column, lerr.message);
        return 2;
    }
    if (emgmm_hmm_n_features(start) != X.cols ||
        emgmm_hmm_get_emission(start) != EMGMM_HMM_GAUSSIAN) {
        fprintf(stderr, "bench_hmm: %s: not a Gaussian HMM of %zu features\n",
                argv[3], X.cols);
        return 2;
    }
    const size_t n = X.rows, d = X.cols, k = emgmm_hmm_n_states(start);
    emgmm_model *mix = NULL;
    int rc = mixture_start(start, &mix);
    if (rc != EMGMM_OK) {
        fprintf(stderr, "bench_hmm: mixture start: %s\n", emgmm_strerror(rc));
        return 1;
    }

    runs hmm, mixr;
    double *post = malloc(n * k * sizeof *post);
    if (runs_alloc(&hmm, iters, repeats) || runs_alloc(&mixr, iters, repeats)
        || !post) {
        fprintf(stderr, "bench_hmm: out of memory\n");
        return 1;
    }
    for (int r = 0; r < repeats; r++) {
        int bad = 0;
        for (int j = 0; j < 2 && !bad; j++) {
            const int hmm_turn = j == r % 2; /* HMM first in even repeats */
            if (hmm_turn && do_hmm)
                bad = fit_hmm(start, &X, lengths, n_seq, iters, threads,
                              &hmm, r);
            else if (!hmm_turn && do_mix)
                bad = fit_mix(mix, &X, iters, threads, &mixr, r);
        }
        if (bad)
            return 1;
    }

    /* Inference on the start: timings and the softness of the posteriors. */
    double ll0 = NAN, t_score = NAN, t_proba = NAN;
    size_t soft_rows = 0, above = 0;
    if (do_hmm && do_mix) {
        double t0 = now();
        rc = emgmm_hmm_score(start, X.data, n, d, lengths, n_seq, &ll0);
        t_score = now() - t0;
        t0 = now();
        if (rc == EMGMM_OK)
            rc = emgmm_hmm_predict_proba(start, X.data, n, d, lengths, n_seq,
                                         post);
        t_proba = now() - t0;
        if (rc != EMGMM_OK) {
            fprintf(stderr, "bench_hmm: inference failed: %s\n",
                    emgmm_strerror(rc));
            return 1;
        }
        for (size_t i = 0; i < n; i++) {
            double mx = 0.0;
            for (size_t j = 0; j < k; j++) {
                const double g = post[i * k + j];
                mx = g > mx ? g : mx;
                above += g > 1e-10;
            }
            soft_rows += mx < 0.99;
        }
    }

    printf("{\"peer\": \"emgmm\", \"version\": \"%s\", \"n_samples\": %zu, "
           "\"n_features\": %zu, \"n_states\": %zu, \"n_sequences\": %zu, "
           "\"covariance_type\": \"%s\", \"iters\": %d, \"repeats\": %d, "
           "\"threads\": %d, ",
           emgmm_version(), n, d, k, n_seq,
           emgmm_covariance_type_name(emgmm_hmm_get_covariance_type(start)),
           iters, repeats, threads);
    if (do_hmm)
        runs_print("hmm", &hmm, iters, repeats);
    else
        printf("\"hmm\": null");
    printf(", ");
    if (do_mix)
        runs_print("mixture", &mixr, iters, repeats);
    else
        printf("\"mixture\": null");
    if (do_hmm && do_mix)
        printf(", \"start_log_likelihood\": %.17g, \"score_seconds\": %.6g, "
               "\"predict_proba_seconds\": %.6g, "
               "\"rows_max_posterior_below_0_99\": %.6g, "
               "\"posteriors_above_1e_10\": %.6g}\n",
               ll0, t_score, t_proba, (double)soft_rows / (double)n,
               (double)above / ((double)n * (double)k));
    else
        printf("}\n");
    runs_free(&hmm);
    runs_free(&mixr);
    free(post);
    free(lengths);
    emgmm_free(&mix);
    emgmm_hmm_free(&start);
    dataio_matrix_free(&X);
    return 0;
}
