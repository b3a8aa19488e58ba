/*
 * Distributed fits (emgmm_params.allreduce) without MPI: P threads play P
 * processes, each fitting its own block of rows, and the sum is done
 * through a barrier in rank order. The model must be the fit of all rows
 * together (to rounding), the same bits on every "process", and a failure
 * or a cancellation on one must stop all of them (no process left
 * waiting in a sum).
 */
#include "test_util.h"
#include "naive.h"
#include "emgmm.h"
#include "emgmm_hmm.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_P = 4, SUM_CAP = 1 << 16 };

typedef struct group {
    int P;
    pthread_barrier_t barrier;
    double *slot[MAX_P];
    double sum[SUM_CAP];
} group;

typedef struct member {
    group *g;
    int rank;
    emgmm_params p;
    const double *X;
    size_t n, d;
    int cancel_at; /* > 0: this member's progress callback stops there */
    emgmm_model *model;
    emgmm_fit_info info;
    int status;
} member;

static int thread_allreduce(double *v, size_t count, void *user)
{
    member *me = user;
    group *g = me->g;
    if (count > SUM_CAP)
        return 1; /* would deadlock the test rather than fail it */
    g->slot[me->rank] = v;
    pthread_barrier_wait(&g->barrier);
    if (me->rank == 0)
        for (size_t i = 0; i < count; i++) {
            double s = 0.0;
            for (int r = 0; r < g->P; r++)
                s += g->slot[r][i];
            g->sum[i] = s;
        }
    pthread_barrier_wait(&g->barrier);
    memcpy(v, g->sum, count * sizeof(double));
    pthread_barrier_wait(&g->barrier);
    return 0;
}

static int stop_at(const emgmm_iteration *it, void *user)
{
    const member *me = user;
    return me->cancel_at > 0 && it->iteration == me->cancel_at;
}

static void *run_member(void *arg)
{
    member *me = arg;
    me->status = emgmm_fit(&me->p, me->X, me->n, me->d, me->d, &me->model,
                           &me->info);
    return NULL;
}

/* Fits X (n x d) split into P row blocks; members[r] holds rank r's
 * result. */
static void fit_split(const emgmm_params *base, const double *X,
                      const double *weights, size_t n, size_t d, int P,
                      int cancel_rank, member *members)
{
    static group g;
    g.P = P;
    pthread_barrier_init(&g.barrier, NULL, (unsigned)P);
    pthread_t th[MAX_P];
    for (int r = 0; r < P; r++) {
        const size_t r0 = n * (size_t)r / (size_t)P,
                     r1 = n * (size_t)(r + 1) / (size_t)P;
        member *me = &members[r];
        memset(me, 0, sizeof *me);
        me->g = &g;
        me->rank = r;
        me->p = *base;
        me->p.allreduce = thread_allreduce;
        me->p.allreduce_data = me;
        me->p.n_threads = 1;
        if (weights)
            me->p.sample_weight = weights + r0;
        if (r == cancel_rank) {
            me->cancel_at = 3;
            me->p.progress = stop_at;
            me->p.progress_data = me;
        }
        me->X = X + r0 * d;
        me->n = r1 - r0;
        me->d = d;
        assert_int_equal(pthread_create(&th[r], NULL, run_member, me), 0);
    }
    for (int r = 0; r < P; r++)
        pthread_join(th[r], NULL);
    pthread_barrier_destroy(&g.barrier);
}

static double *make_data(size_t n, size_t d, uint64_t seed, double gaps)
{
    test_rng r = {seed};
    double *X = malloc(n * d * sizeof(double));
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            double centre = (double)(i % 3) * 4.0 * (j % 2 ? 1.0 : -1.0);
            X[i * d + j] = centre + test_rng_normal(&r) * (1.0 + 0.3 * j);
            if (j > 0)
                X[i * d + j] += 0.5 * X[i * d + j - 1];
            if (test_rng_uniform(&r) < gaps)
                X[i * d + j] = NAN;
        }
    return X;
}

static void assert_models_close(const emgmm_model *a, const emgmm_model *b,
                                double rtol)
{
    const size_t k = emgmm_n_components(a), d = emgmm_n_features(a);
    size_t nc = 0;
    switch (emgmm_get_covariance_type(a)) {
    case EMGMM_COVARIANCE_FULL: nc = k * d * d; break;
    case EMGMM_COVARIANCE_TIED: nc = d * d; break;
    case EMGMM_COVARIANCE_DIAG: nc = k * d; break;
    case EMGMM_COVARIANCE_SPHERICAL: nc = k; break;
    }
    for (size_t i = 0; i < k; i++)
        assert_close(emgmm_weights(a)[i], emgmm_weights(b)[i], rtol, 1e-15);
    for (size_t i = 0; i < k * d; i++)
        assert_close(emgmm_means(a)[i], emgmm_means(b)[i], rtol, rtol);
    for (size_t i = 0; i < nc; i++)
        assert_close(emgmm_covariances(a)[i], emgmm_covariances(b)[i], rtol,
                     rtol);
}

/* P = 1..4 against one process, every covariance type, with and without
 * gaps and sample weights. */
static void test_split_equals_whole(void **state)
{
    (void)state;
    const size_t n = 601, d = 3, k = 3;
    const emgmm_covariance_type types[4] = {
        EMGMM_COVARIANCE_FULL, EMGMM_COVARIANCE_TIED, EMGMM_COVARIANCE_DIAG,
        EMGMM_COVARIANCE_SPHERICAL};
    double *w = malloc(n * sizeof(double));
    test_rng r = {99};
    for (size_t i = 0; i < n; i++)
        w[i] = 0.5 + test_rng_uniform(&r);
    for (int variant = 0; variant < 3; variant++) {
        /* 0: complete; 1: 15 % missing; 2: weights */
        double *X = make_data(n, d, 7 + (uint64_t)variant,
                              variant == 1 ? 0.15 : 0.0);
        const double *weights = variant == 2 ? w : NULL;
        for (int t = 0; t < 4; t++) {
            emgmm_params p;
            emgmm_params_default(&p);
            p.n_components = (int)k;
            p.covariance_type = types[t];
            p.missing = variant == 1;
            p.max_iter = 0; /* the start: k-means on all rows */
            p.sample_weight = weights;
            emgmm_model *start = NULL;
            assert_int_equal(emgmm_fit(&p, X, n, d, d, &start, NULL),
                             EMGMM_OK);
            p.init_model = start;
            p.max_iter = 25;
            p.tol = 0.0;
            p.n_threads = 1;
            emgmm_model *whole = NULL;
            emgmm_fit_info wi;
            assert_int_equal(emgmm_fit(&p, X, n, d, d, &whole, &wi),
                             EMGMM_OK);
            for (int P = 1; P <= MAX_P; P++) {
                member m[MAX_P];
                fit_split(&p, X, weights, n, d, P, -1, m);
                for (int q = 0; q < P; q++) {
                    assert_int_equal(m[q].status, EMGMM_OK);
                    assert_close(m[q].info.log_likelihood,
                                 wi.log_likelihood, 1e-12, 0);
                    assert_close(m[q].info.bic, wi.bic, 1e-12, 0);
                    assert_int_equal(m[q].info.n_iter, wi.n_iter);
                    assert_int_equal(m[q].info.n_rows_all_missing,
                                     wi.n_rows_all_missing);
                    assert_models_close(m[q].model, whole, 1e-10);
                    /* every process has the same bits */
                    assert_memory_equal(emgmm_means(m[q].model),
                                        emgmm_means(m[0].model),
                                        k * d * sizeof(double));
                }
                for (int q = 0; q < P; q++)
                    emgmm_free(&m[q].model);
            }
            emgmm_free(&whole);
            emgmm_free(&start);
        }
        free(X);
    }
    free(w);
}

/* Bad data on one process, or a cancellation on one: every process
 * returns, with the same status. */
static void test_failures_are_collective(void **state)
{
    (void)state;
    const size_t n = 400, d = 2;
    double *X = make_data(n, d, 3, 0.0);
    emgmm_params p;
    emgmm_params_default(&p);
    p.n_components = 2;
    p.max_iter = 0;
    emgmm_model *start = NULL;
    assert_int_equal(emgmm_fit(&p, X, n, d, d, &start, NULL), EMGMM_OK);
    p.init_model = start;
    p.max_iter = 10;
    p.tol = 0.0;
    member m[MAX_P];

    fit_split(&p, X, NULL, n, d, 3, 1, m); /* rank 1 cancels at 3 */
    for (int q = 0; q < 3; q++) {
        assert_int_equal(m[q].status, EMGMM_ERR_CANCELLED);
        assert_null(m[q].model);
    }

    X[350 * d + 1] = INFINITY; /* on the last of 3 ranks */
    fit_split(&p, X, NULL, n, d, 3, -1, m);
    for (int q = 0; q < 3; q++)
        assert_int_equal(m[q].status, EMGMM_ERR_NONFINITE);

    /* Without a starting model a distributed fit is refused. */
    X[350 * d + 1] = 0.0;
    p.init_model = NULL;
    fit_split(&p, X, NULL, n, d, 2, -1, m);
    for (int q = 0; q < 2; q++)
        assert_int_equal(m[q].status, EMGMM_ERR_INVALID);
    emgmm_free(&start);
    free(X);
}

/* ---- hidden Markov models: whole sequences per process ---------------- */

typedef struct hmm_member {
    member base; /* the rank and the group, for thread_allreduce */
    emgmm_hmm_params p;
    const double *X;
    size_t n, d, n_seq;
    const size_t *lengths;
    emgmm_hmm *model;
    emgmm_hmm_fit_info info;
    int status;
} hmm_member;

static int hmm_stop_at(const emgmm_hmm_iteration *it, void *user)
{
    (void)user;
    return it->iteration == 3;
}

static void *run_hmm_member(void *arg)
{
    hmm_member *me = arg;
    me->status = emgmm_hmm_fit(&me->p, me->X, me->n, me->d, me->d,
                               me->lengths, me->n_seq, &me->model,
                               &me->info);
    return NULL;
}

/* Fits the sequences (lengths[0..n_seq)) of X split into P blocks of
 * whole sequences. */
static void hmm_fit_split(const emgmm_hmm_params *base, const double *X,
                          size_t d, const size_t *lengths, size_t n_seq,
                          int P, int cancel_rank, hmm_member *members)
{
    static group g;
    g.P = P;
    pthread_barrier_init(&g.barrier, NULL, (unsigned)P);
    pthread_t th[MAX_P];
    size_t row = 0;
    for (int r = 0; r < P; r++) {
        const size_t q0 = n_seq * (size_t)r / (size_t)P,
                     q1 = n_seq * (size_t)(r + 1) / (size_t)P;
        hmm_member *me = &members[r];
        memset(me, 0, sizeof *me);
        me->base.g = &g;
        me->base.rank = r;
        me->p = *base;
        me->p.allreduce = thread_allreduce;
        me->p.allreduce_data = &me->base;
        me->p.n_threads = 1;
        if (r == cancel_rank)
            me->p.progress = hmm_stop_at;
        me->X = X + row * d;
        me->d = d;
        me->lengths = lengths + q0;
        me->n_seq = q1 - q0;
        for (size_t q = q0; q < q1; q++)
            me->n += lengths[q];
        row += me->n;
        assert_int_equal(pthread_create(&th[r], NULL, run_hmm_member, me),
                         0);
    }
    for (int r = 0; r < P; r++)
        pthread_join(th[r], NULL);
    pthread_barrier_destroy(&g.barrier);
}

/* P = 1..4 processes, each with whole sequences, against one process:
 * Gaussian emissions of every type and GMM emissions; the same bits on
 * every process. Then a cancellation and bad data on one process stop
 * every process with the same status. */
static void test_hmm_split_equals_whole(void **state)
{
    (void)state;
    const size_t d = 3, n_seq = 11;
    size_t lengths[11], n = 0;
    for (size_t q = 0; q < n_seq; q++)
        n += lengths[q] = 40 + 7 * q;
    double *X = make_data(n, d, 21, 0.0);
    const emgmm_covariance_type types[4] = {
        EMGMM_COVARIANCE_FULL, EMGMM_COVARIANCE_TIED, EMGMM_COVARIANCE_DIAG,
        EMGMM_COVARIANCE_SPHERICAL};
    for (int v = 0; v < 5; v++) {
        emgmm_hmm_params p;
        emgmm_hmm_params_default(&p);
        p.n_states = 3;
        p.covariance_type = types[v % 4];
        if (v == 4) {
            p.emission = EMGMM_HMM_GMM;
            p.n_mix = 2;
        }
        p.max_iter = 0; /* the start, from all rows */
        emgmm_hmm *start = NULL;
        assert_int_equal(emgmm_hmm_fit(&p, X, n, d, d, lengths, n_seq,
                                       &start, NULL),
                         EMGMM_OK);
        p.init_model = start;
        p.init_params[0] = '\0';
        p.max_iter = 15;
        p.tol = -1.0;
        p.n_threads = 1;
        emgmm_hmm *whole = NULL;
        emgmm_hmm_fit_info wi;
        assert_int_equal(emgmm_hmm_fit(&p, X, n, d, d, lengths, n_seq,
                                       &whole, &wi),
                         EMGMM_OK);
        const size_t mm = emgmm_hmm_n_mix(whole);
        for (int P = 1; P <= MAX_P; P++) {
            hmm_member m[MAX_P];
            hmm_fit_split(&p, X, d, lengths, n_seq, P, -1, m);
            for (int q = 0; q < P; q++) {
                assert_int_equal(m[q].status, EMGMM_OK);
                assert_close(m[q].info.log_likelihood, wi.log_likelihood,
                             1e-12, 0);
                assert_close(m[q].info.bic, wi.bic, 1e-12, 0);
                for (size_t i = 0; i < 9; i++)
                    assert_close(emgmm_hmm_transmat(m[q].model)[i],
                                 emgmm_hmm_transmat(whole)[i], 1e-10,
                                 1e-12);
                for (size_t i = 0; i < 3 * mm * d; i++)
                    assert_close(emgmm_hmm_means(m[q].model)[i],
                                 emgmm_hmm_means(whole)[i], 1e-10, 1e-10);
                assert_memory_equal(emgmm_hmm_means(m[q].model),
                                    emgmm_hmm_means(m[0].model),
                                    3 * mm * d * sizeof(double));
                assert_memory_equal(emgmm_hmm_transmat(m[q].model),
                                    emgmm_hmm_transmat(m[0].model),
                                    9 * sizeof(double));
            }
            for (int q = 0; q < P; q++)
                emgmm_hmm_free(&m[q].model);
        }
        if (v == 0) {
            hmm_member m[MAX_P];
            hmm_fit_split(&p, X, d, lengths, n_seq, 3, 2, m);
            for (int q = 0; q < 3; q++) {
                assert_int_equal(m[q].status, EMGMM_ERR_CANCELLED);
                assert_null(m[q].model);
            }
            X[(n - 5) * d] = NAN; /* on the last rank */
            hmm_fit_split(&p, X, d, lengths, n_seq, 3, -1, m);
            for (int q = 0; q < 3; q++)
                assert_int_equal(m[q].status, EMGMM_ERR_NONFINITE);
            X[(n - 5) * d] = 0.5;
        }
        emgmm_hmm_free(&whole);
        emgmm_hmm_free(&start);
    }
    free(X);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_equals_whole),
        cmocka_unit_test(test_failures_are_collective),
        cmocka_unit_test(test_hmm_split_equals_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
