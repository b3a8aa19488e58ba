/*
 * emgmm's side of the benchmark (driven by bench/run.sh). Two modes, each
 * printing one JSON line on standard output:
 *
 *   bench_emgmm fit X.npy init.json ITERS REPEATS THREADS [REG_COVAR]
 *       Fits X from the model in init.json for exactly ITERS iterations
 *       (tol 0), REPEATS times. Every iteration is timed by the progress
 *       callback (one E-step plus one M-step); seconds_per_iter_median is
 *       the median over all ITERS * REPEATS iterations. Also reports the
 *       whole emgmm_fit() calls, the final mean log-likelihood (the proof
 *       that the same work was done as by the peers) and the peak RSS
 *       (getrusage ru_maxrss) after loading X and at the end.
 *       With BENCH_BUDGET_S set in the environment, the repeats stop once
 *       the fits have taken that many seconds in all (at least one runs);
 *       "repeats" in the output is the number that ran.
 *
 *   bench_emgmm ops X.npy init.json REPEATS THREADS
 *       The costs around an iteration, each the median of REPEATS calls:
 *         iteration      one EM iteration (progress callback, 3 per call)
 *         estep          emgmm_fit(init_model, max_iter 0): one E-step on
 *                        the start model, plus the call's set-up (the
 *                        finiteness check and the allocations)
 *         predict, predict_proba, score_samples, score   on the start model
 *                        (score's value is printed as mean_log_likelihood)
 *         init_kmeans    emgmm_fit(K, init kmeans, max_iter 0): k-means++
 *                        seeding and Lloyd iterations, then the M-step from
 *                        its labels and the final E-step of the call
 *         init_kmeanspp  the same with init kmeans++ (seeding only)
 *
 * THREADS is emgmm_params.n_threads (0 = OMP_NUM_THREADS). The predict
 * family has no thread argument and follows OMP_NUM_THREADS.
 */
#include "dataio.h"
#include "emgmm.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long maxrss_kb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss; /* kilobytes on Linux */
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
        return 0.0;
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

/* Records each iteration's seconds into a caller-sized array. */
typedef struct recorder {
    double *seconds;
    size_t count, capacity;
} recorder;

static int record(const emgmm_iteration *it, void *user)
{
    recorder *r = user;
    if (r->count < r->capacity)
        r->seconds[r->count++] = it->seconds;
    return 0;
}

/* BENCH_BUDGET_S from the environment; 0 when unset (no limit). */
static double budget_seconds(void)
{
    const char *s = getenv("BENCH_BUDGET_S");
    double v = s ? strtod(s, NULL) : 0.0;
    return v > 0.0 ? v : 0.0;
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

static int load_inputs(const char *xpath, const char *mpath, dataio_matrix *X,
                       emgmm_model **start)
{
    char err[512];
    dataio_read_options opt = {0, 0, 0};
    if (dataio_read_matrix(xpath, &opt, X, err, sizeof err) != 0) {
        fprintf(stderr, "bench_emgmm: %s\n", err);
        return -1;
    }
    emgmm_error lerr;
    if (emgmm_load(mpath, start, &lerr) != EMGMM_OK) {
        fprintf(stderr, "bench_emgmm: %s:%d:%d: %s\n", mpath, lerr.line,
                lerr.column, lerr.message);
        dataio_matrix_free(X);
        return -1;
    }
    if (emgmm_n_features(*start) != X->cols) {
        fprintf(stderr, "bench_emgmm: %s has %zu features, %s has %zu\n",
                mpath, emgmm_n_features(*start), xpath, X->cols);
        emgmm_free(start);
        dataio_matrix_free(X);
        return -1;
    }
    return 0;
}

static int mode_fit(int argc, char **argv)
{
    int iters, repeats, threads;
    double reg = 1e-6;
    if (argc < 7 || argc > 8 || parse_int(argv[4], 1, &iters) ||
        parse_int(argv[5], 1, &repeats) || parse_int(argv[6], 0, &threads)) {
        fprintf(stderr, "usage: bench_emgmm fit X.npy init.json ITERS "
                        "REPEATS THREADS [REG_COVAR]\n");
        return 2;
    }
    if (argc == 8)
        reg = strtod(argv[7], NULL);
    dataio_matrix X = {0};
    emgmm_model *start = NULL;
    if (load_inputs(argv[2], argv[3], &X, &start) != 0)
        return 2;
    const long rss_loaded = maxrss_kb();

    const size_t total = (size_t)iters * (size_t)repeats;
    double *iter_s = calloc(total, sizeof *iter_s);
    double *call_s = calloc((size_t)repeats, sizeof *call_s);
    if (!iter_s || !call_s) {
        fprintf(stderr, "bench_emgmm: out of memory\n");
        return 1;
    }
    recorder rec = {iter_s, 0, total};
    emgmm_fit_info info;
    memset(&info, 0, sizeof info);
    const double budget = budget_seconds();
    double spent = 0.0;
    int done = 0;
    for (int r = 0; r < repeats; r++) {
        emgmm_params p;
        emgmm_params_default(&p);
        p.init_model = start;
        p.tol = 0.0;
        p.reg_covar = reg;
        p.max_iter = iters;
        p.n_threads = threads;
        p.progress = record;
        p.progress_data = &rec;
        emgmm_model *m = NULL;
        double t0 = now();
        int rc = emgmm_fit(&p, X.data, X.rows, X.cols, X.cols, &m, &info);
        call_s[r] = now() - t0;
        spent += call_s[r];
        done = r + 1;
        if (rc != EMGMM_OK) {
            fprintf(stderr, "bench_emgmm: fit failed: %s\n",
                    emgmm_strerror(rc));
            return 1;
        }
        if (info.n_iter != iters) {
            fprintf(stderr, "bench_emgmm: ran %d iterations, not %d\n",
                    info.n_iter, iters);
            return 1;
        }
        emgmm_free(&m);
        if (budget > 0.0 && spent >= budget)
            break;
    }
    printf("{\"peer\": \"emgmm\", \"version\": \"%s\", \"n_samples\": %zu, "
           "\"n_features\": %zu, \"n_components\": %zu, \"iters\": %d, "
           "\"repeats\": %d, \"threads\": %d, \"reg_covar\": %.17g, "
           "\"seconds_per_iter_median\": %.6g, ",
           emgmm_version(), X.rows, X.cols, emgmm_n_components(start), iters,
           done, threads, reg, median(iter_s, rec.count));
    print_array("iter_seconds", iter_s, rec.count);
    printf(", ");
    print_array("fit_seconds", call_s, (size_t)done);
    printf(", \"score\": %.17g, \"lower_bound\": %.17g, "
           "\"maxrss_after_load_kb\": %ld, \"maxrss_kb\": %ld}\n",
           info.log_likelihood, info.lower_bound, rss_loaded, maxrss_kb());
    free(iter_s);
    free(call_s);
    emgmm_free(&start);
    dataio_matrix_free(&X);
    return 0;
}

/* The measurements of `ops`, in print order. */
enum { OP_ITER, OP_ESTEP, OP_PREDICT, OP_PROBA, OP_SCORE_SAMPLES, OP_SCORE,
       OP_KMEANS, OP_KMEANSPP, OP_COUNT };
static const char *const op_names[OP_COUNT] = {
    "iteration", "estep", "predict", "predict_proba", "score_samples",
    "score", "init_kmeans", "init_kmeanspp"};

static int mode_ops(int argc, char **argv)
{
    int repeats, threads;
    if (argc != 6 || parse_int(argv[4], 1, &repeats) ||
        parse_int(argv[5], 0, &threads)) {
        fprintf(stderr, "usage: bench_emgmm ops X.npy init.json REPEATS "
                        "THREADS\n");
        return 2;
    }
    dataio_matrix X = {0};
    emgmm_model *start = NULL;
    if (load_inputs(argv[2], argv[3], &X, &start) != 0)
        return 2;
    const size_t n = X.rows, d = X.cols, k = emgmm_n_components(start);
    const int iter_per_call = 3;
    double *t[OP_COUNT];
    double *iter_s = calloc((size_t)repeats * iter_per_call, sizeof *iter_s);
    double *buf = malloc(n * k * sizeof *buf);
    int32_t *labels = malloc(n * sizeof *labels);
    int ok = iter_s && buf && labels;
    for (int o = 0; o < OP_COUNT; o++) {
        t[o] = calloc((size_t)repeats, sizeof(double));
        ok = ok && t[o];
    }
    if (!ok) {
        fprintf(stderr, "bench_emgmm: out of memory\n");
        return 1;
    }
    recorder rec = {iter_s, 0, (size_t)repeats * iter_per_call};
    double estep_ll = 0.0, score = 0.0;
    for (int r = 0; r < repeats; r++) {
        emgmm_params p;
        emgmm_params_default(&p);
        p.n_threads = threads;
        p.tol = 0.0;
        emgmm_model *m = NULL;
        emgmm_fit_info info;
        double t0;
        int rc = EMGMM_OK;

        /* One EM iteration, timed by the callback. */
        p.init_model = start;
        p.max_iter = iter_per_call;
        p.progress = record;
        p.progress_data = &rec;
        rc = emgmm_fit(&p, X.data, n, d, d, &m, &info);
        emgmm_free(&m);
        p.progress = NULL;
        p.progress_data = NULL;

        /* One E-step on the start model. */
        p.max_iter = 0;
        if (rc == EMGMM_OK) {
            t0 = now();
            rc = emgmm_fit(&p, X.data, n, d, d, &m, &info);
            t[OP_ESTEP][r] = now() - t0;
            estep_ll = info.log_likelihood;
            emgmm_free(&m);
        }
        if (rc == EMGMM_OK) {
            t0 = now();
            rc = emgmm_predict(start, X.data, n, d, labels);
            t[OP_PREDICT][r] = now() - t0;
        }
        if (rc == EMGMM_OK) {
            t0 = now();
            rc = emgmm_predict_proba(start, X.data, n, d, buf);
            t[OP_PROBA][r] = now() - t0;
        }
        if (rc == EMGMM_OK) {
            t0 = now();
            rc = emgmm_score_samples(start, X.data, n, d, buf);
            t[OP_SCORE_SAMPLES][r] = now() - t0;
        }
        if (rc == EMGMM_OK) {
            t0 = now();
            rc = emgmm_score(start, X.data, n, d, &score);
            t[OP_SCORE][r] = now() - t0;
        }

        /* Initialisation from scratch: max_iter 0 without init_model. */
        p.init_model = NULL;
        p.n_components = (int)k;
        p.seed = 0;
        const emgmm_init_method inits[2] = {EMGMM_INIT_KMEANS,
                                            EMGMM_INIT_KMEANSPP};
        const int slots[2] = {OP_KMEANS, OP_KMEANSPP};
        for (int j = 0; j < 2 && rc == EMGMM_OK; j++) {
            p.init = inits[j];
            t0 = now();
            rc = emgmm_fit(&p, X.data, n, d, d, &m, &info);
            t[slots[j]][r] = now() - t0;
            emgmm_free(&m);
        }
        if (rc != EMGMM_OK) {
            fprintf(stderr, "bench_emgmm: ops failed: %s\n",
                    emgmm_strerror(rc));
            return 1;
        }
    }
    printf("{\"peer\": \"emgmm\", \"mode\": \"ops\", \"version\": \"%s\", "
           "\"n_samples\": %zu, \"n_features\": %zu, \"n_components\": %zu, "
           "\"repeats\": %d, \"threads\": %d, \"iteration\": %.6g",
           emgmm_version(), n, d, k, repeats, threads,
           median(iter_s, rec.count));
    for (int o = 1; o < OP_COUNT; o++)
        printf(", \"%s\": %.6g", op_names[o], median(t[o], (size_t)repeats));
    printf(", ");
    print_array("iteration_all", iter_s, rec.count);
    printf(", \"estep_log_likelihood\": %.17g, "
           "\"mean_log_likelihood\": %.17g, \"maxrss_kb\": %ld}\n",
           estep_ll, score, maxrss_kb());
    for (int o = 0; o < OP_COUNT; o++)
        free(t[o]);
    free(iter_s);
    free(buf);
    free(labels);
    emgmm_free(&start);
    dataio_matrix_free(&X);
    return 0;
}

/* splitmix64 and Box-Muller: the synthetic data of `dtype`. */
static uint64_t sm64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double gauss(uint64_t *s)
{
    double u1 = (double)(sm64(s) >> 11) * 0x1.0p-53;
    double u2 = (double)(sm64(s) >> 11) * 0x1.0p-53;
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/*
 * bench_emgmm dtype float32|float64 N D K ITERS REPEATS THREADS [OFFSET]
 *     Full-covariance fits of synthetic data (K Gaussians with random
 *     correlated covariances, means 3 N(0,1) apart, every value shifted
 *     by OFFSET and rounded to float32, so that both dtypes fit the same
 *     values) from the same start (the true weights, the means moved by
 *     half a unit, identity covariances), ITERS iterations (tol 0),
 *     REPEATS times, with emgmm_fit_f32 or emgmm_fit. The data are made
 *     in the dtype fitted (no float64 copy for float32), so that the peak
 *     RSS is that of the dtype. One JSON line, as `fit`.
 */
static int mode_dtype(int argc, char **argv)
{
    int n_i, d_i, k_i, iters, repeats, threads;
    if (argc < 9 || argc > 10 ||
        (strcmp(argv[2], "float32") != 0 && strcmp(argv[2], "float64") != 0) ||
        parse_int(argv[3], 1, &n_i) || parse_int(argv[4], 1, &d_i) ||
        parse_int(argv[5], 1, &k_i) || parse_int(argv[6], 1, &iters) ||
        parse_int(argv[7], 1, &repeats) || parse_int(argv[8], 0, &threads)) {
        fprintf(stderr, "usage: bench_emgmm dtype float32|float64 N D K "
                        "ITERS REPEATS THREADS [OFFSET]\n");
        return 2;
    }
    const int f32 = strcmp(argv[2], "float32") == 0;
    const double offset = argc == 10 ? strtod(argv[9], NULL) : 0.0;
    const size_t n = (size_t)n_i, d = (size_t)d_i, k = (size_t)k_i;
    uint64_t seed = 12345;
    double *mu = malloc(k * d * sizeof *mu);
    double *a = malloc(k * d * d * sizeof *a);
    double *z = malloc(d * sizeof *z);
    double *w = malloc(k * sizeof *w);
    double *cov = calloc(k * d * d, sizeof *cov);
    float *xf = f32 ? malloc(n * d * sizeof *xf) : NULL;
    double *xd = f32 ? NULL : malloc(n * d * sizeof *xd);
    if (!mu || !a || !z || !w || !cov || (f32 ? !xf : !xd)) {
        fprintf(stderr, "bench_emgmm: out of memory\n");
        return 1;
    }
    for (size_t c = 0; c < k; c++) {
        w[c] = 1.0 / (double)k;
        for (size_t j = 0; j < d; j++)
            mu[c * d + j] = 3.0 * gauss(&seed);
        for (size_t i = 0; i < d * d; i++)
            a[c * d * d + i] = 0.3 * gauss(&seed) / sqrt((double)d);
        for (size_t j = 0; j < d; j++)
            a[c * d * d + j * d + j] += 1.0;
    }
    for (size_t i = 0; i < n; i++) {
        const size_t c = (size_t)(sm64(&seed) % k);
        for (size_t j = 0; j < d; j++)
            z[j] = gauss(&seed);
        for (size_t r = 0; r < d; r++) {
            double v = offset + mu[c * d + r];
            for (size_t t = 0; t < d; t++)
                v += a[c * d * d + r * d + t] * z[t];
            if (f32)
                xf[i * d + r] = (float)v;
            else
                xd[i * d + r] = (double)(float)v;
        }
    }
    for (size_t c = 0; c < k; c++) {
        for (size_t j = 0; j < d; j++) {
            mu[c * d + j] += offset + 0.5 * gauss(&seed);
            cov[c * d * d + j * d + j] = 1.0;
        }
    }
    emgmm_model *start = NULL;
    if (emgmm_model_create(EMGMM_COVARIANCE_FULL, k, d, w, mu, cov, &start,
                           NULL) != EMGMM_OK) {
        fprintf(stderr, "bench_emgmm: cannot make the start\n");
        return 1;
    }
    free(a);
    free(z);
    free(cov);
    free(mu);
    free(w);
    const long rss_loaded = maxrss_kb();
    const size_t total = (size_t)iters * (size_t)repeats;
    double *iter_s = calloc(total, sizeof *iter_s);
    double *call_s = calloc((size_t)repeats, sizeof *call_s);
    if (!iter_s || !call_s) {
        fprintf(stderr, "bench_emgmm: out of memory\n");
        return 1;
    }
    recorder rec = {iter_s, 0, total};
    emgmm_fit_info info;
    memset(&info, 0, sizeof info);
    for (int r = 0; r < repeats; r++) {
        emgmm_params p;
        emgmm_params_default(&p);
        p.init_model = start;
        p.tol = 0.0;
        p.max_iter = iters;
        p.n_threads = threads;
        p.progress = record;
        p.progress_data = &rec;
        emgmm_model *m = NULL;
        double t0 = now();
        int rc = f32 ? emgmm_fit_f32(&p, xf, n, d, d, &m, &info)
                     : emgmm_fit(&p, xd, n, d, d, &m, &info);
        call_s[r] = now() - t0;
        if (rc != EMGMM_OK) {
            fprintf(stderr, "bench_emgmm: fit failed: %s\n",
                    emgmm_strerror(rc));
            return 1;
        }
        emgmm_free(&m);
    }
    printf("{\"dtype\": \"%s\", \"n_samples\": %zu, \"n_features\": %zu, "
           "\"n_components\": %zu, \"iters\": %d, \"repeats\": %d, "
           "\"threads\": %d, \"offset\": %g, "
           "\"seconds_per_iter_median\": %.6g, \"fit_seconds_median\": %.6g, ",
           argv[2], n, d, k, iters, repeats, threads, offset,
           median(iter_s, rec.count), median(call_s, (size_t)repeats));
    print_array("iter_seconds", iter_s, rec.count);
    printf(", \"score\": %.17g, \"lower_bound\": %.17g, "
           "\"maxrss_after_data_kb\": %ld, \"maxrss_kb\": %ld}\n",
           info.log_likelihood, info.lower_bound, rss_loaded, maxrss_kb());
    free(iter_s);
    free(call_s);
    free(xf);
    free(xd);
    emgmm_free(&start);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "dtype") == 0)
        return mode_dtype(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "fit") == 0)
        return mode_fit(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "ops") == 0)
        return mode_ops(argc, argv);
    fprintf(stderr,
            "usage: bench_emgmm fit X.npy init.json ITERS REPEATS THREADS "
            "[REG_COVAR]\n"
            "       bench_emgmm ops X.npy init.json REPEATS THREADS\n"
            "       bench_emgmm dtype float32|float64 N D K ITERS REPEATS "
            "THREADS [OFFSET]\n");
    return 2;
}
