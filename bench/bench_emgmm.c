/*
 * emgmm's side of the benchmark: fits X.npy from the model in init.json for
 * exactly ITERS iterations (tol 0), REPEATS times, and prints one JSON line
 * with the median seconds per iteration and the final log-likelihood (the
 * proof that the same work was done as by the peers).
 *
 *   bench_emgmm X.npy init.json ITERS REPEATS [THREADS]
 */
#include "dataio.h"
#include "emgmm.h"

#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_emgmm X.npy init.json ITERS REPEATS "
                        "[THREADS]\n");
        return 2;
    }
    char err[512];
    dataio_matrix X = {0};
    dataio_read_options opt = {0, 0};
    if (dataio_read_matrix(argv[1], &opt, &X, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    emgmm_model *start = NULL;
    emgmm_error lerr;
    if (emgmm_load(argv[2], &start, &lerr) != EMGMM_OK) {
        fprintf(stderr, "%s: %s\n", argv[2], lerr.message);
        return 2;
    }
    int iters = atoi(argv[3]), repeats = atoi(argv[4]);
    int threads = argc > 5 ? atoi(argv[5]) : 0;
    double *per_iter = calloc((size_t)repeats, sizeof(double));
    double score = 0.0;
    for (int r = 0; r < repeats; r++) {
        emgmm_params p;
        emgmm_params_default(&p);
        p.init_model = start;
        p.tol = 0.0;
        p.max_iter = iters;
        p.n_threads = threads;
        emgmm_model *m = NULL;
        emgmm_fit_info info;
        int rc = emgmm_fit(&p, X.data, X.rows, X.cols, X.cols, &m, &info);
        if (rc != EMGMM_OK) {
            fprintf(stderr, "fit failed: %s\n", emgmm_strerror(rc));
            return 1;
        }
        /* info.seconds covers the iterations and the final scoring pass,
         * as scikit-learn's fit() covers its iterations plus one extra
         * E-step. */
        per_iter[r] = info.seconds / iters;
        score = info.log_likelihood;
        emgmm_free(&m);
    }
    qsort(per_iter, (size_t)repeats, sizeof(double), cmp);
    printf("{\"peer\": \"emgmm\", \"seconds_per_iter_median\": %.6g, "
           "\"runs\": [",
           per_iter[repeats / 2]);
    for (int r = 0; r < repeats; r++)
        printf("%s%.6g", r ? ", " : "", per_iter[r] * iters);
    printf("], \"score\": %.17g, \"n_samples\": %zu, \"n_features\": %zu, "
           "\"n_components\": %zu, \"iters\": %d, \"threads\": %d}\n",
           score, X.rows, X.cols, emgmm_n_components(start), iters, threads);
    free(per_iter);
    emgmm_free(&start);
    dataio_matrix_free(&X);
    return 0;
}
