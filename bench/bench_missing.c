/*
 * The cost of an EM iteration with missing values, by missing fraction
 * (driven by bench/run.sh; prints a Markdown table on standard output,
 * progress on standard error):
 *
 *   bench_missing [--quick] [--repeats R] [--threads T] [--case I]
 *                 [--fraction F]
 *
 * --case I runs only the I-th case (1 or 2); --fraction F only the 0 %
 * reference and the fraction F (in %, e.g. 1), without the control row:
 * both are for profiling one configuration.
 *
 * For each case (full covariance; --quick: N=4,000 D=16 K=8, 3 iterations
 * and N=3,000 D=64 K=16, 2 iterations, a smoke test)
 *   N=100,000 D=16 K=8, 5 iterations    N=50,000 D=64 K=16, 3 iterations
 * it draws X from a fixed mixture (built here, deterministic: K Gaussians
 * with Dirichlet(5) weights, random rotations, covariance eigenvalues
 * log-spaced from 1 to 100, means about two standard deviations apart, as
 * bench/make_data.py makes them) and one starting model from X (K rows
 * moved three quarters of the way to the data's mean, identity
 * covariances times the mean per-feature variance, equal weights; built
 * with emgmm_model_create). Entries are then removed independently with
 * probability 0, 1 %, 10 %, 30 %: entry (i, j) is missing when its own
 * uniform draw u_ij < the fraction, so the gaps of a smaller fraction are
 * a subset of those of a larger one; a row that would lose every entry
 * keeps the one with the largest u_ij (never a whole row).
 *
 * Every fit: emgmm_fit with missing = 1, init_model = the start, tol = 0,
 * max_iter = ITERS, n_threads = T (default 2), R fits of each (default 5),
 * every iteration timed by the progress callback (one E-step and one
 * M-step). The 0 % data have no NaN, so missing = 1 runs the ordinary
 * complete-data EM: that is the reference. One more row, "0 %, missing =
 * 0", runs the same data without the flag, as a control. The fractions
 * are interleaved: repeat r runs them in an order rotated by r, so that
 * (with R >= 5) every row takes every place in the sequence and noise on
 * the shared machine hits all of them alike.
 *
 * Columns: s / iteration is the median over all ITERS x R timed
 * iterations, next to the range of the R per-fit medians; "× complete"
 * divides it by the 0 % figure; "paired by repeat" is the median over the
 * repeats of (this fit's median / the 0 % fit's median in the same
 * repeat), from which slow drifts of the machine's speed cancel out; the
 * whole call (the set-up of the gap layout and the fill included) is the
 * median over the R calls, divided by ITERS. Incomplete rows, distinct
 * patterns and missing entries are counted here from the data.
 */
#include "emgmm.h"

#include <math.h>
#include <stdint.h>
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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n-1]; sorts v. */
static double median_inplace(double *v, size_t n)
{
    if (n == 0)
        return 0.0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- a small deterministic generator (splitmix64) ------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Uniform on (0, 1). */
static double rng_uniform(rng *r)
{
    return ((double)(rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double rng_normal(rng *r)
{
    const double u = rng_uniform(r), v = rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* ---- the data and the start ----------------------------------------- */

/* Q (d x d, row-major): an orthogonal matrix, modified Gram-Schmidt on a
 * Gaussian matrix (its rows). */
static void random_rotation(rng *r, size_t d, double *Q)
{
    for (size_t i = 0; i < d * d; i++)
        Q[i] = rng_normal(r);
    for (size_t i = 0; i < d; i++) {
        double *qi = Q + i * d;
        for (size_t j = 0; j < i; j++) {
            const double *qj = Q + j * d;
            double dot = 0.0;
            for (size_t t = 0; t < d; t++)
                dot += qi[t] * qj[t];
            for (size_t t = 0; t < d; t++)
                qi[t] -= dot * qj[t];
        }
        double norm = 0.0;
        for (size_t t = 0; t < d; t++)
            norm += qi[t] * qi[t];
        norm = sqrt(norm);
        for (size_t t = 0; t < d; t++)
            qi[t] /= norm;
    }
}

/* The true mixture of a case (see the top of the file). */
static int make_truth(size_t d, size_t k, uint64_t seed, emgmm_model **out)
{
    rng r = {seed};
    double *w = malloc(k * sizeof *w), *mu = malloc(k * d * sizeof *mu);
    double *cov = malloc(k * d * d * sizeof *cov);
    double *Q = malloc(d * d * sizeof *Q), *eig = malloc(d * sizeof *eig);
    int rc = EMGMM_ERR_NOMEM;
    if (!w || !mu || !cov || !Q || !eig)
        goto done;
    double eig_mean = 0.0;
    for (size_t j = 0; j < d; j++) {
        eig[j] = d > 1 ? pow(100.0, (double)j / (double)(d - 1)) : 10.0;
        eig_mean += eig[j] / (double)d;
    }
    const double spread = 2.0 * sqrt(eig_mean) / sqrt(2.0 * (double)d);
    double wsum = 0.0;
    for (size_t c = 0; c < k; c++) {
        double g = 0.0; /* Gamma(5, 1): Dirichlet(5) after normalising */
        for (int t = 0; t < 5; t++)
            g -= log(rng_uniform(&r));
        w[c] = g;
        wsum += g;
    }
    for (size_t c = 0; c < k; c++) {
        w[c] /= wsum;
        for (size_t j = 0; j < d; j++)
            mu[c * d + j] = spread * rng_normal(&r);
        random_rotation(&r, d, Q);
        /* Sigma = Q^T diag(eig) Q, lower triangle computed, then mirrored
         * so that it is exactly symmetric. */
        double *S = cov + c * d * d;
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b <= a; b++) {
                double s = 0.0;
                for (size_t t = 0; t < d; t++)
                    s += Q[t * d + a] * eig[t] * Q[t * d + b];
                S[a * d + b] = S[b * d + a] = s;
            }
    }
    int bad = -1;
    rc = emgmm_model_create(EMGMM_COVARIANCE_FULL, k, d, w, mu, cov, out,
                            &bad);
done:
    free(w);
    free(mu);
    free(cov);
    free(Q);
    free(eig);
    return rc;
}

/* The start: rows i * n / k moved 3/4 of the way to the mean of X,
 * identity covariances times the mean per-feature variance, equal
 * weights. */
static int make_start(const double *X, size_t n, size_t d, size_t k,
                      emgmm_model **out)
{
    double *center = calloc(d, sizeof *center), *w = malloc(k * sizeof *w);
    double *mu = malloc(k * d * sizeof *mu);
    double *cov = calloc(k * d * d, sizeof *cov);
    int rc = EMGMM_ERR_NOMEM;
    if (!center || !w || !mu || !cov)
        goto done;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            center[j] += X[i * d + j];
    for (size_t j = 0; j < d; j++)
        center[j] /= (double)n;
    double var = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            const double e = X[i * d + j] - center[j];
            var += e * e;
        }
    var /= (double)n * (double)d;
    for (size_t c = 0; c < k; c++) {
        const double *x = X + (c * n / k) * d;
        w[c] = 1.0 / (double)k;
        for (size_t j = 0; j < d; j++) {
            mu[c * d + j] = center[j] + 0.25 * (x[j] - center[j]);
            cov[c * d * d + j * d + j] = var;
        }
    }
    rc = emgmm_model_create(EMGMM_COVARIANCE_FULL, k, d, w, mu, cov, out,
                            NULL);
done:
    free(center);
    free(w);
    free(mu);
    free(cov);
    return rc;
}

/* ---- the gaps -------------------------------------------------------- */

static size_t mask_words; /* for cmp_mask */

static int cmp_mask(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    for (size_t w = 0; w < mask_words; w++)
        if (x[w] != y[w])
            return x[w] < y[w] ? -1 : 1;
    return 0;
}

/* Xm = X with entry (i, j) NaN where u[i * d + j] < frac; a row that would
 * lose every entry keeps its largest u. Counts the incomplete rows, the
 * distinct patterns among them and the missing entries. */
static int make_gaps(const double *X, const double *u, size_t n, size_t d,
                     double frac, double *Xm, size_t *n_incomplete,
                     size_t *n_patterns, size_t *n_missing)
{
    const size_t words = (d + 63) / 64;
    uint64_t *masks = calloc(n * words, sizeof *masks);
    if (!masks)
        return -1;
    size_t inc = 0, miss = 0;
    for (size_t i = 0; i < n; i++) {
        const double *ui = u + i * d;
        size_t r = 0, keep = 0;
        for (size_t j = 0; j < d; j++) {
            r += ui[j] < frac;
            if (ui[j] > ui[keep])
                keep = j;
        }
        uint64_t *mask = masks + inc * words;
        for (size_t j = 0; j < d; j++) {
            const int gap = ui[j] < frac && !(r == d && j == keep);
            Xm[i * d + j] = gap ? NAN : X[i * d + j];
            if (gap) {
                mask[j / 64] |= (uint64_t)1 << (j % 64);
                miss++;
            }
        }
        if (r > 0)
            inc++;
    }
    mask_words = words;
    qsort(masks, inc, words * sizeof *masks, cmp_mask);
    size_t pat = 0;
    for (size_t s = 0; s < inc; s++)
        if (s == 0 || cmp_mask(masks + (s - 1) * words, masks + s * words))
            pat++;
    free(masks);
    *n_incomplete = inc;
    *n_patterns = pat;
    *n_missing = miss;
    return 0;
}

/* ---- timing ----------------------------------------------------------- */

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

typedef struct variant {
    double frac;
    int missing_flag;
    double *X;
    size_t n_incomplete, n_patterns, n_missing;
    double *iter_s; /* iters * repeats */
    double *call_s; /* repeats */
    double *fit_median; /* repeats: median iteration of each call */
    recorder rec;
    double score;
    int skip; /* left out by --fraction */
} variant;

typedef struct bench_case {
    size_t n, d, k;
    int iters;
} bench_case;

static const double fractions[] = {0.0, 0.01, 0.10, 0.30};
enum { N_FRAC = sizeof fractions / sizeof fractions[0], N_VAR = N_FRAC + 1 };

static int run_case(const bench_case *bc, int repeats, int threads,
                    uint64_t seed, double only_frac)
{
    const size_t n = bc->n, d = bc->d, k = bc->k;
    const int iters = bc->iters;
    emgmm_model *truth = NULL, *start = NULL;
    double *X = malloc(n * d * sizeof *X), *u = malloc(n * d * sizeof *u);
    variant v[N_VAR];
    memset(v, 0, sizeof v);
    int rc = 1;
    if (!X || !u)
        goto done;
    if (make_truth(d, k, seed, &truth) != EMGMM_OK ||
        emgmm_sample(truth, n, seed + 1, X, NULL) != EMGMM_OK ||
        make_start(X, n, d, k, &start) != EMGMM_OK) {
        fprintf(stderr, "bench_missing: could not make the data\n");
        goto done;
    }
    rng r = {seed + 2};
    for (size_t i = 0; i < n * d; i++)
        u[i] = rng_uniform(&r);

    /* v[0..N_FRAC-1]: missing = 1 at each fraction; v[N_FRAC]: the 0 %
     * data without the flag. */
    for (int f = 0; f < N_VAR; f++) {
        variant *x = &v[f];
        x->frac = f < N_FRAC ? fractions[f] : 0.0;
        x->missing_flag = f < N_FRAC;
        x->skip = only_frac >= 0.0 && f > 0 &&
                  !(x->missing_flag && x->frac == only_frac);
        x->iter_s = calloc((size_t)iters * (size_t)repeats, sizeof(double));
        x->call_s = calloc((size_t)repeats, sizeof(double));
        x->fit_median = calloc((size_t)repeats, sizeof(double));
        x->rec = (recorder){x->iter_s, 0, (size_t)iters * (size_t)repeats};
        if (!x->iter_s || !x->call_s || !x->fit_median)
            goto done;
        if (f < N_FRAC) {
            x->X = malloc(n * d * sizeof(double));
            if (!x->X || make_gaps(X, u, n, d, x->frac, x->X,
                                   &x->n_incomplete, &x->n_patterns,
                                   &x->n_missing) != 0)
                goto done;
        } else {
            x->X = v[0].X; /* shared; freed with v[0] */
        }
    }
    free(u);
    u = NULL;

    for (int rep = 0; rep < repeats; rep++) {
        for (int t = 0; t < N_VAR; t++) {
            variant *x = &v[(t + rep) % N_VAR];
            if (x->skip)
                continue;
            emgmm_params p;
            emgmm_params_default(&p);
            p.init_model = start;
            p.tol = 0.0;
            p.max_iter = iters;
            p.n_threads = threads;
            p.missing = x->missing_flag;
            p.progress = record;
            p.progress_data = &x->rec;
            emgmm_model *m = NULL;
            emgmm_fit_info info;
            const size_t first = x->rec.count;
            const double t0 = now();
            int frc = emgmm_fit(&p, x->X, n, d, d, &m, &info);
            x->call_s[rep] = now() - t0;
            emgmm_free(&m);
            if (frc != EMGMM_OK || info.n_iter != iters) {
                fprintf(stderr, "bench_missing: N=%zu D=%zu K=%zu, %g %%: "
                                "%s (%d iterations)\n",
                        n, d, k, 100.0 * x->frac, emgmm_strerror(frc),
                        info.n_iter);
                goto done;
            }
            x->score = info.log_likelihood;
            double *mine = malloc((size_t)iters * sizeof *mine);
            if (!mine)
                goto done;
            memcpy(mine, x->iter_s + first, (size_t)iters * sizeof *mine);
            x->fit_median[rep] = median_inplace(mine, (size_t)iters);
            free(mine);
            fprintf(stderr, "  N=%zu D=%zu K=%zu %4.0f %%%s, repeat %d: "
                            "%.4g s per iteration, call %.3g s\n",
                    n, d, k, 100.0 * x->frac,
                    x->missing_flag ? "" : " (missing = 0)", rep + 1,
                    x->fit_median[rep], x->call_s[rep]);
        }
    }

    double ref = 0.0;
    for (int f = 0; f < N_VAR; f++) {
        variant *x = &v[f];
        if (x->skip)
            continue;
        const double lo = x->fit_median[0], hi = x->fit_median[0];
        double fmin = lo, fmax = hi;
        for (int rep = 1; rep < repeats; rep++) {
            fmin = x->fit_median[rep] < fmin ? x->fit_median[rep] : fmin;
            fmax = x->fit_median[rep] > fmax ? x->fit_median[rep] : fmax;
        }
        /* Each fit against the 0 % fit of the same repeat (run close in
         * time), then the median of those ratios: robust to slow drifts
         * of the machine's speed. */
        double ratios[1000];
        for (int rep = 0; rep < repeats; rep++)
            ratios[rep] = x->fit_median[rep] / v[0].fit_median[rep];
        const double paired = median_inplace(ratios, (size_t)repeats);
        const double it = median_inplace(x->iter_s, x->rec.count);
        const double call = median_inplace(x->call_s, (size_t)repeats);
        if (f == 0)
            ref = it;
        char label[64];
        if (x->missing_flag)
            snprintf(label, sizeof label, "%g %%", 100.0 * x->frac);
        else
            snprintf(label, sizeof label, "0 %%, missing = 0 (control)");
        printf("| N=%zu D=%zu K=%zu, %d iterations | %s | %zu (%.1f %%) | "
               "%zu | %zu | %.4g | %.4g–%.4g | **%.2f×** | %.2f× | %.4g | "
               "%.12f |\n",
               n, d, k, iters, label, x->n_incomplete,
               100.0 * (double)x->n_incomplete / (double)n, x->n_patterns,
               x->n_missing, it, fmin, fmax, it / ref, paired, call / iters,
               x->score);
    }
    fflush(stdout);
    rc = 0;
done:
    for (int f = 0; f < N_FRAC; f++)
        free(v[f].X);
    for (int f = 0; f < N_VAR; f++) {
        free(v[f].iter_s);
        free(v[f].call_s);
        free(v[f].fit_median);
    }
    free(X);
    free(u);
    emgmm_free(&truth);
    emgmm_free(&start);
    return rc;
}

static int parse_int(const char *s, int min, int *out)
{
    char *end = NULL;
    long x = s ? strtol(s, &end, 10) : 0;
    if (!s || end == s || *end != '\0' || x < min || x > 1000)
        return -1;
    *out = (int)x;
    return 0;
}

int main(int argc, char **argv)
{
    int quick = 0, repeats = 5, threads = 2, only_case = 0;
    double only_frac = -1.0;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[a], "--repeats") == 0) {
            if (parse_int(argv[++a], 1, &repeats))
                goto usage;
        } else if (strcmp(argv[a], "--threads") == 0) {
            if (parse_int(argv[++a], 0, &threads))
                goto usage;
        } else if (strcmp(argv[a], "--case") == 0) {
            if (parse_int(argv[++a], 1, &only_case) || only_case > 2)
                goto usage;
        } else if (strcmp(argv[a], "--fraction") == 0) {
            int pct;
            if (parse_int(argv[++a], 1, &pct) || pct > 99)
                goto usage;
            only_frac = pct / 100.0;
            int known = 0;
            for (int f = 1; f < N_FRAC; f++)
                known |= fractions[f] == only_frac;
            if (!known)
                goto usage;
        } else {
            goto usage;
        }
    }
    static const bench_case full[] = {{100000, 16, 8, 5},
                                      {50000, 64, 16, 3}};
    static const bench_case small[] = {{4000, 16, 8, 3}, {3000, 64, 16, 2}};
    const bench_case *cases = quick ? small : full;
    printf("| case | missing | incomplete rows | distinct patterns | "
           "missing entries | s / iteration (median) | range of the "
           "per-fit medians | × complete (0 %%) | × complete, paired by "
           "repeat | whole call / iterations | final mean log-likelihood "
           "|\n"
           "|---|---|---|---|---|---|---|---|---|---|---|\n");
    fflush(stdout);
    const double t0 = now();
    for (size_t c = 0; c < 2; c++)
        if ((only_case == 0 || (size_t)only_case == c + 1) &&
            run_case(&cases[c], repeats, threads, 1000 + c, only_frac) != 0)
            return 1;
    printf("\n%d fits per row (interleaved), %d thread%s; emgmm %s; "
           "took %.0f s.\n",
           repeats, threads, threads == 1 ? "" : "s", emgmm_version(),
           now() - t0);
    return 0;
usage:
    fprintf(stderr, "usage: bench_missing [--quick] [--repeats R] "
                    "[--threads T] [--case 1|2] [--fraction 1|10|30]\n");
    return 2;
}
