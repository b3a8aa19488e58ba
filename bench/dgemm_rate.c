/*
 * The machine's reference rate for bench/run.sh: times cblas_dgemm on
 * N x N matrices (default 2000), best of REPEATS (default 3) after one
 * warm-up call, and prints one JSON line. The BLAS thread count is the
 * provider's own setting: run.sh sets OPENBLAS_NUM_THREADS (and
 * OMP_NUM_THREADS) to 1 and to 2.
 *
 *   dgemm_rate [N [REPEATS]]
 */
#include <cblas.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    int repeats = argc > 2 ? atoi(argv[2]) : 3;
    if (n < 1 || repeats < 1) {
        fprintf(stderr, "usage: dgemm_rate [N [REPEATS]]\n");
        return 2;
    }
    size_t nn = (size_t)n * (size_t)n;
    double *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b),
           *c = malloc(nn * sizeof *c);
    if (!a || !b || !c) {
        fprintf(stderr, "dgemm_rate: out of memory\n");
        return 1;
    }
    unsigned long s = 12345;
    for (size_t i = 0; i < nn; i++) {
        s = s * 6364136223846793005UL + 1442695040888963407UL;
        a[i] = (double)(s >> 11) / 9007199254740992.0 - 0.5;
        b[i] = (double)((s >> 7) & 0xffff) / 65536.0 - 0.5;
        c[i] = 0.0;
    }
    double best = 1e300;
    for (int r = 0; r <= repeats; r++) {
        double t0 = now();
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0,
                    a, n, b, n, 0.0, c, n);
        double t = now() - t0;
        if (r > 0 && t < best) /* r == 0 is the warm-up */
            best = t;
    }
    double flops = 2.0 * (double)n * (double)n * (double)n;
    const char *env = getenv("OPENBLAS_NUM_THREADS");
    printf("{\"kernel\": \"dgemm\", \"n\": %d, \"repeats\": %d, "
           "\"openblas_num_threads\": \"%s\", \"seconds_best\": %.6g, "
           "\"gflops\": %.4g, \"check\": %.6g}\n",
           n, repeats, env ? env : "", best, flops / best * 1e-9, c[nn / 2]);
    free(a);
    free(b);
    free(c);
    return 0;
}
