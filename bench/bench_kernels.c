/*
 * The E- and M-step kernels alone, own kernels (each path the CPU has)
 * against the BLAS path, one thread (run with OPENBLAS_NUM_THREADS=1):
 *
 *   bench_kernels [N [K [REPEATS [TYPE [D [DTYPE]]]]]]
 *                                 (defaults 50000 8 7 full, all, float64)
 *
 * For each d in 4 8 12 16 24 32 48 64 (or D alone): a random model of K
 * components of TYPE (full or tied) on N random rows; the median over
 * REPEATS of one E-step (emgmm__estep: projections, log-sum-exp) and of
 * one M-step's scatter (emgmm__mstep_scatter_add), in ms. Prints a
 * Markdown table. The kernels are used at every d they reach
 * (EMGMM__KERNEL_MAX_D), whatever the ranges chosen from these figures
 * (src/kernels.c).
 * DTYPE float32: the float32 steps instead (float32.c: emgmm__estep_f32
 * and the whole emgmm__mstep_f32, means and factorisation included) on
 * the same values rounded to float32, for d in 40 48 64 (where float32.c
 * chooses between its kernels and float32 BLAS); "BLAS" is then the
 * float32 BLAS path.
 * The times are the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), which
 * leaves out the time a busy machine holds the thread off the core, and
 * the rounds alternate the paths, so that a noisy neighbour hits them
 * alike.
 */
#include "float32.h"
#include "internal.h"
#include "kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static uint64_t state = 88172645463325252ull;
static double uniform(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)(state >> 11) * 0x1p-53;
}
static double normal(void)
{
    double u = uniform() + 0x1p-60, v = uniform();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

enum { PATHS = EMGMM__ISA_COUNT + 1 }; /* BLAS, then each ISA */

int main(int argc, char **argv)
{
    const size_t n = argc > 1 ? (size_t)atol(argv[1]) : 50000;
    const size_t k = argc > 2 ? (size_t)atol(argv[2]) : 8;
    const int reps = argc > 3 ? atoi(argv[3]) : 7;
    const emgmm_covariance_type type =
        argc > 4 && strcmp(argv[4], "tied") == 0 ? EMGMM_COVARIANCE_TIED
                                                 : EMGMM_COVARIANCE_FULL;
    static const size_t dims64[] = {4, 8, 12, 16, 24, 32, 48, 64};
    static const size_t dims32[] = {40, 48, 64};
    const int f32 = argc > 6 && strcmp(argv[6], "float32") == 0;
    const size_t *dims = f32 ? dims32 : dims64;
    const size_t n_dims = f32 ? 3 : 8;
    int have[PATHS] = {1};
    for (int p = 1; p < PATHS; p++)
        have[p] = emgmm__kernel_path_of((emgmm__isa)(p - 1)) != NULL;

    printf("N=%zu K=%zu %s %s, one thread, median of %d, CPU ms (E-step / "
           "M-step %s)\n\n| d | BLAS |",
           n, k, type == EMGMM_COVARIANCE_TIED ? "tied" : "full",
           f32 ? "float32" : "float64", reps, f32 ? "whole" : "scatter");
    for (int p = 1; p < PATHS; p++)
        if (have[p])
            printf(" %s |", emgmm__isa_name((emgmm__isa)(p - 1)));
    printf("\n|---|---|");
    for (int p = 1; p < PATHS; p++)
        if (have[p])
            printf("---|");
    printf("\n");

    const size_t only = argc > 5 ? (size_t)atol(argv[5]) : 0;
    for (size_t di = 0; di < n_dims; di++) {
        const size_t d = only ? only : dims[di];
        if (only && di > 0)
            break;
        double *X = malloc(n * d * sizeof(double));
        double *w = malloc(k * sizeof(double));
        double *mu = malloc(k * d * sizeof(double));
        size_t cs = emgmm__cov_size(type, k, d);
        double *cov = calloc(cs, sizeof(double));
        double *resp = malloc(n * k * sizeof(double));
        for (size_t c = 0; c < k; c++) {
            w[c] = 1.0 / (double)k;
            for (size_t j = 0; j < d; j++)
                mu[c * d + j] = 2.0 * normal();
        }
        for (size_t c = 0; c < (type == EMGMM_COVARIANCE_TIED ? 1 : k); c++)
            for (size_t j = 0; j < d; j++)
                cov[c * d * d + j * d + j] = 1.0 + uniform();
        for (size_t i = 0; i < n; i++) {
            const size_t c = i % k;
            for (size_t j = 0; j < d; j++)
                X[i * d + j] = mu[c * d + j] + normal();
        }
        emgmm_model *m = NULL;
        if (emgmm_model_create(type, k, d, w, mu, cov, &m, NULL) != EMGMM_OK)
            return 1;
        emgmm_workspace ws = {0};
        if (emgmm__workspace_alloc(&ws, n, k, d, 1) != EMGMM_OK)
            return 1;
        emgmm__estep(m, X, n, d, NULL, resp, &ws);
        double *raw = calloc(cs, sizeof(double));
        float *Xf = NULL;
        emgmm_f32_work fw = {0};
        if (f32) {
            Xf = malloc(n * d * sizeof(float));
            if (!Xf)
                return 1;
            for (size_t i = 0; i < n * d; i++)
                Xf[i] = (float)X[i];
            if (emgmm__f32_work_alloc(&fw, &ws, n, k, d, type, 1) !=
                EMGMM_OK)
                return 1;
        }

        double te[PATHS][64], tm[PATHS][64];
        const int r_max = reps > 64 ? 64 : reps;
        for (int r = 0; r < r_max; r++)
            for (int p = 0; p < PATHS; p++) {
                if (!have[p])
                    continue;
                emgmm__set_kernel_use(p > 0 ? EMGMM__KERNELS_EVERYWHERE
                                            : EMGMM__KERNELS_OFF);
                if (p > 0)
                    emgmm__set_kernel_isa((emgmm__isa)(p - 1));
                double t0 = cpu_now(), t1, t2;
                if (f32) {
                    emgmm__estep_f32(m, Xf, n, d, NULL, resp, &ws, &fw);
                    t1 = cpu_now();
                    int bad = -1;
                    if (emgmm__mstep_f32(m, Xf, n, d, resp, 1e-6, &ws, &fw,
                                         &bad) != EMGMM_OK)
                        return 1;
                } else {
                    emgmm__estep(m, X, n, d, NULL, resp, &ws);
                    t1 = cpu_now();
                    memset(raw, 0, cs * sizeof(double));
                    emgmm__mstep_scatter_add(m, X, n, d, resp, raw, &ws);
                }
                t2 = cpu_now();
                te[p][r] = t1 - t0;
                tm[p][r] = t2 - t1;
            }
        printf("| %zu |", d);
        for (int p = 0; p < PATHS; p++)
            if (have[p])
                printf(" %.2f / %.2f |", 1e3 * median(te[p], (size_t)r_max),
                       1e3 * median(tm[p], (size_t)r_max));
        printf("\n");
        fflush(stdout);
        if (f32)
            emgmm__f32_work_free(&fw);
        free(Xf);
        emgmm__workspace_free(&ws);
        emgmm_free(&m);
        free(X);
        free(w);
        free(mu);
        free(cov);
        free(resp);
        free(raw);
    }
    return 0;
}
