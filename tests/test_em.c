/*
 * The EM driver through the public API: monotone log-likelihood, recovery
 * of known parameters, initialisations, restarts, errors, determinism,
 * clean failure under allocation faults.
 */
#include "test_util.h"
#include "naive.h"

#include "internal.h"
#include "emgmm_config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if EMGMM_HAVE_OPENMP
#include <omp.h>
#endif

/* A known 3-component model in 2-D, and data drawn from it. */
static const double true_w[3] = {0.5, 0.3, 0.2};
static const double true_mu[6] = {0.0, 0.0, 6.0, 1.0, 1.0, 7.0};
static const double true_sigma[12] = {2.0, 0.8, 0.8, 1.0, /**/ 0.5, 0.0,
                                      0.0, 0.5, /**/ 1.0, -0.6, -0.6, 1.5};

static emgmm_model *true_model(void)
{
    emgmm_model *m = NULL;
    assert_int_equal(emgmm_model_create(EMGMM_COVARIANCE_FULL, 3, 2, true_w,
                                        true_mu, true_sigma, &m, NULL),
                     EMGMM_OK);
    return m;
}

static double *sample_data(size_t n, uint64_t seed)
{
    emgmm_model *m = true_model();
    double *X = malloc(n * 2 * sizeof(double));
    assert_int_equal(emgmm_sample(m, n, seed, X, NULL), EMGMM_OK);
    emgmm_free(&m);
    return X;
}

typedef struct trace {
    int n;
    double ll[512];
} trace;

static int record(const emgmm_iteration *it, void *user)
{
    trace *t = user;
    if (t->n < 512)
        t->ll[t->n++] = it->log_likelihood;
    return 0;
}

static void test_log_likelihood_never_decreases(void **state)
{
    (void)state;
    double *X = sample_data(3000, 1);
    for (int t = 0; t < 16; t++) {
        const int init = t % 4;
        emgmm_params p;
        emgmm_params_default(&p);
        p.covariance_type = (emgmm_covariance_type)(t / 4);
        p.n_components = 4; /* one more than the truth: slow, wandering EM */
        p.tol = 0.0;
        p.max_iter = 200;
        p.init = (emgmm_init_method)init;
        trace tr = {0};
        p.progress = record;
        p.progress_data = &tr;
        emgmm_model *m = NULL;
        emgmm_fit_info info;
        assert_int_equal(emgmm_fit(&p, X, 3000, 2, 2, &m, &info), EMGMM_OK);
        assert_int_equal(tr.n, 200);
        assert_int_equal(info.n_iter, 200);
        assert_false(info.converged);
        for (int i = 1; i < tr.n; i++)
            if (tr.ll[i] < tr.ll[i - 1] - 1e-12 * fabs(tr.ll[i - 1]))
                fail_msg("%s, init %d: log-likelihood fell at iteration "
                         "%d: %.17g -> %.17g",
                         emgmm_covariance_type_name(p.covariance_type), init,
                         i + 1, tr.ll[i - 1], tr.ll[i]);
        /* The returned model scores at least the last E-step's value. */
        assert_true(info.log_likelihood >= tr.ll[tr.n - 1] - 1e-12);
        emgmm_free(&m);
    }
    free(X);
}

/* Matches each fitted component to the true one with the nearest mean. */
static void test_recovers_known_parameters(void **state)
{
    (void)state;
    const size_t n = 30000;
    double *X = sample_data(n, 2);
    emgmm_params p;
    emgmm_params_default(&p);
    p.n_components = 3;
    p.n_init = 2;
    emgmm_model *m = NULL;
    emgmm_fit_info info;
    assert_int_equal(emgmm_fit(&p, X, n, 2, 2, &m, &info), EMGMM_OK);
    assert_true(info.converged);
    const double *w = emgmm_weights(m), *mu = emgmm_means(m),
                 *sigma = emgmm_covariances(m);
    for (size_t t = 0; t < 3; t++) {
        size_t best = 0;
        double best_d = INFINITY;
        for (size_t c = 0; c < 3; c++) {
            double dx = mu[c * 2] - true_mu[t * 2],
                   dy = mu[c * 2 + 1] - true_mu[t * 2 + 1];
            if (dx * dx + dy * dy < best_d) {
                best_d = dx * dx + dy * dy;
                best = c;
            }
        }
        /* Sampling error at n = 30000 is ~1e-2; allow a few times that. */
        assert_close(w[best], true_w[t], 0.0, 0.02);
        assert_close(mu[best * 2], true_mu[t * 2], 0.0, 0.06);
        assert_close(mu[best * 2 + 1], true_mu[t * 2 + 1], 0.0, 0.06);
        for (size_t j = 0; j < 4; j++)
            assert_close(sigma[best * 4 + j], true_sigma[t * 4 + j], 0.0,
                         0.1);
    }
    emgmm_free(&m);
    free(X);
}

/* Data drawn from a diag, spherical or tied model give that model back. */
static void test_recovers_every_covariance_type(void **state)
{
    (void)state;
    const size_t n = 30000;
    const double w[2] = {0.6, 0.4}, mu[4] = {0.0, 0.0, 8.0, 3.0};
    const double diag[4] = {2.0, 0.5, 1.0, 3.0};
    const double spherical[2] = {1.5, 0.5};
    const double tied[4] = {2.0, 0.7, 0.7, 1.0};
    const double *truth[3] = {tied, diag, spherical};
    for (int t = 1; t < 4; t++) {
        emgmm_covariance_type type = (emgmm_covariance_type)t;
        emgmm_model *gen = NULL, *m = NULL;
        assert_int_equal(emgmm_model_create(type, 2, 2, w, mu, truth[t - 1],
                                            &gen, NULL),
                         EMGMM_OK);
        double *X = malloc(n * 2 * sizeof(double));
        assert_int_equal(emgmm_sample(gen, n, 5, X, NULL), EMGMM_OK);
        emgmm_params p;
        emgmm_params_default(&p);
        p.n_components = 2;
        p.covariance_type = type;
        emgmm_fit_info info;
        assert_int_equal(emgmm_fit(&p, X, n, 2, 2, &m, &info), EMGMM_OK);
        assert_true(info.converged);
        assert_int_equal(emgmm_get_covariance_type(m), type);
        /* Component 0 is the one whose mean is nearer the origin. */
        const double *fm = emgmm_means(m);
        size_t a = fm[0] * fm[0] + fm[1] * fm[1] <
                           fm[2] * fm[2] + fm[3] * fm[3]
                       ? 0
                       : 1;
        const double *fw = emgmm_weights(m), *fc = emgmm_covariances(m);
        for (size_t c = 0; c < 2; c++) {
            size_t f = c == 0 ? a : 1 - a;
            assert_close(fw[f], w[c], 0.0, 0.02);
            assert_close(fm[f * 2], mu[c * 2], 0.0, 0.05);
            assert_close(fm[f * 2 + 1], mu[c * 2 + 1], 0.0, 0.05);
            if (type == EMGMM_COVARIANCE_DIAG)
                for (size_t j = 0; j < 2; j++)
                    assert_close(fc[f * 2 + j], diag[c * 2 + j], 0.05, 0.02);
            if (type == EMGMM_COVARIANCE_SPHERICAL)
                assert_close(fc[f], spherical[c], 0.05, 0.02);
        }
        if (type == EMGMM_COVARIANCE_TIED)
            for (size_t j = 0; j < 4; j++)
                assert_close(fc[j], tied[j], 0.05, 0.02);
        /* Free parameters as scikit-learn counts them (K=2, D=2). */
        static const size_t params[4] = {11, 8, 9, 7};
        assert_int_equal(emgmm_n_parameters(m), params[t]);
        emgmm_free(&gen);
        emgmm_free(&m);
        free(X);
    }
}

/* Integer sample weights fit the same model as repeated rows, for every
 * covariance type; a weight of zero removes a row. */
static void test_sample_weights_equal_repeated_rows(void **state)
{
    (void)state;
    const size_t n = 400;
    double *X = sample_data(n, 31);
    double *w = malloc(n * sizeof(double));
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += (size_t)(w[i] = (double)(i % 4)); /* 0, 1, 2, 3 */
    double *rep = malloc(total * 2 * sizeof(double));
    size_t r = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < (size_t)w[i]; c++, r++) {
            rep[r * 2] = X[i * 2];
            rep[r * 2 + 1] = X[i * 2 + 1];
        }
    for (int t = 0; t < 4; t++) {
        emgmm_params p;
        emgmm_params_default(&p);
        p.n_components = 3;
        p.covariance_type = (emgmm_covariance_type)t;
        p.tol = 0.0;
        p.max_iter = 30;
        emgmm_model *a = NULL, *b = NULL;
        emgmm_fit_info ia, ib;
        /* The same start for both (k-means on the weighted data). */
        p.sample_weight = w;
        p.max_iter = 0;
        emgmm_model *start = NULL;
        assert_int_equal(emgmm_fit(&p, X, n, 2, 2, &start, NULL), EMGMM_OK);
        p.init_model = start;
        p.max_iter = 30;
        assert_int_equal(emgmm_fit(&p, X, n, 2, 2, &a, &ia), EMGMM_OK);
        p.sample_weight = NULL;
        assert_int_equal(emgmm_fit(&p, rep, total, 2, 2, &b, &ib), EMGMM_OK);
        const size_t cs = emgmm__cov_size(p.init_model->type, 3, 2);
        for (size_t i = 0; i < 3; i++)
            assert_close(emgmm_weights(a)[i], emgmm_weights(b)[i], 1e-10,
                         0.0);
        for (size_t i = 0; i < 6; i++)
            assert_close(emgmm_means(a)[i], emgmm_means(b)[i], 1e-10, 1e-12);
        for (size_t i = 0; i < cs; i++)
            assert_close(emgmm_covariances(a)[i], emgmm_covariances(b)[i],
                         1e-10, 1e-12);
        assert_close(ia.log_likelihood, ib.log_likelihood, 1e-10, 0.0);
        double bic;
        assert_int_equal(emgmm_bic(b, rep, total, 2, &bic), EMGMM_OK);
        assert_close(ia.bic, bic, 1e-10, 0.0);
        assert_close(ib.bic, bic, 1e-12, 0.0);
        emgmm_free(&a);
        emgmm_free(&b);
        emgmm_free(&start);
    }
    /* With k-means from scratch too: rows of weight 0 are not there. */
    double *kept = malloc(n * 2 * sizeof(double));
    double *kept_w = malloc(n * sizeof(double));
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (w[i] > 0.0) {
            kept[m * 2] = X[i * 2];
            kept[m * 2 + 1] = X[i * 2 + 1];
            kept_w[m++] = w[i];
        }
    emgmm_params p;
    emgmm_params_default(&p);
    p.n_components = 3;
    emgmm_model *a = NULL, *b = NULL;
    p.sample_weight = w;
    assert_int_equal(emgmm_fit(&p, X, n, 2, 2, &a, NULL), EMGMM_OK);
    p.sample_weight = kept_w;
    assert_int_equal(emgmm_fit(&p, kept, m, 2, 2, &b, NULL), EMGMM_OK);
    for (size_t i = 0; i < 6; i++)
        assert_close(emgmm_means(a)[i], emgmm_means(b)[i], 1e-10, 1e-12);
    emgmm_free(&a);
    emgmm_free(&b);

    /* Bad weights. */
    w[5] = -1.0;
    p.sample_weight = w;
    assert_int_equal(emgmm_fit(&p, X, n, 2, 2, &a, NULL), EMGMM_ERR_INVALID);
    w[5] = NAN;
    assert_int_equal(emgmm_fit(&p, X, n, 2, 2, &a, NULL), EMGMM_ERR_INVALID);
    for (size_t i = 0; i < n; i++)
        w[i] = 0.0;
    assert_int_equal(emgmm_fit(&p, X, n, 2, 2, &a, NULL), EMGMM_ERR_INVALID);
    assert_null(a);
    free(kept);
    free(kept_w);
    free(rep);
    free(w);
    free(X);
}

static void test_every_init_method_separates_clusters(void **state)
{
    (void)state;
    /* Two far-apart clusters: every method must find them. */
    const size_t n = 400;
    double *X = malloc(n * 2 * sizeof(double));
    test_rng r = {11};
    for (size_t i = 0; i < n; i++) {
        double off = i < n / 2 ? -20.0 : 20.0;
        X[i * 2] = off + test_rng_normal(&r);
        X[i * 2 + 1] = test_rng_normal(&r);
    }
    for (int init = 0; init < 4; init++) {
        emgmm_params p;
        emgmm_params_default(&p);
        p.n_components = 2;
        p.init = (emgmm_init_method)init;
        p.n_init = 3;
        /* Random responsibilities start both components near the global
         * mean, a near-saddle that EM leaves slowly: a loose tol would
         * stop it there. */
        p.tol = 1e-10;
        p.max_iter = 1000;
        emgmm_model *m = NULL;
        assert_int_equal(emgmm_fit(&p, X, n, 2, 2, &m, NULL), EMGMM_OK);
        int32_t *labels = malloc(n * sizeof(int32_t));
        assert_int_equal(emgmm_predict(m, X, n, 2, labels), EMGMM_OK);
        for (size_t i = 1; i < n; i++)
            if ((labels[i] == labels[0]) != (i < n / 2))
                fail_msg("init %s: row %zu labelled %d, row 0 %d",
                         emgmm_init_method_name(p.init), i, labels[i],
                         labels[0]);
        free(labels);
        emgmm_free(&m);
    }
    free(X);
}

static void test_same_seed_same_bits(void **state)
{
    (void)state;
    double *X = sample_data(5000, 3);
    emgmm_model *m[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        emgmm_params p;
        emgmm_params_default(&p);
        p.n_components = 3;
        p.seed = 1234;
        p.n_init = 2;
        p.n_threads = i == 2 ? 2 : 1; /* threads must not change the bits */
        assert_int_equal(emgmm_fit(&p, X, 5000, 2, 2, &m[i], NULL), EMGMM_OK);
    }
    for (int i = 1; i < 3; i++) {
        assert_memory_equal(emgmm_weights(m[0]), emgmm_weights(m[i]),
                            3 * sizeof(double));
        assert_memory_equal(emgmm_means(m[0]), emgmm_means(m[i]),
                            6 * sizeof(double));
        assert_memory_equal(emgmm_covariances(m[0]), emgmm_covariances(m[i]),
                            12 * sizeof(double));
    }
    for (int i = 0; i < 3; i++)
        emgmm_free(&m[i]);
    free(X);
}

/* Large enough for the fit to use two threads (tiny problems stay on one):
 * the model must not change by a bit with the thread count. */
static void test_two_threads_same_bits(void **state)
{
    (void)state;
    const size_t n = 8000, d = 12, k = 4;
    double *X = malloc(n * d * sizeof(double));
    test_rng r = {77};
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            X[i * d + j] = test_rng_normal(&r) + 4.0 * (double)(i % k) *
                                                     (j == i % d ? 1.0 : 0.0);
    for (int t = 0; t < 4; t++) {
        emgmm_model *m[2] = {NULL, NULL};
        for (int i = 0; i < 2; i++) {
            emgmm_params p;
            emgmm_params_default(&p);
            p.n_components = (int)k;
            p.covariance_type = (emgmm_covariance_type)t;
            p.max_iter = 20;
            p.n_threads = i + 1;
            assert_int_equal(emgmm_fit(&p, X, n, d, d, &m[i], NULL),
                             EMGMM_OK);
        }
        const size_t cs = emgmm__cov_size((emgmm_covariance_type)t, k, d);
        assert_memory_equal(emgmm_weights(m[0]), emgmm_weights(m[1]),
                            k * sizeof(double));
        assert_memory_equal(emgmm_means(m[0]), emgmm_means(m[1]),
                            k * d * sizeof(double));
        assert_memory_equal(emgmm_covariances(m[0]), emgmm_covariances(m[1]),
                            cs * sizeof(double));
        emgmm_free(&m[0]);
        emgmm_free(&m[1]);
    }
    free(X);
}

/* A component that loses all its points: counted by default, an error
 * naming it on request; never NaN. */
static void test_empty_component_policy(void **state)
{
    (void)state;
    const size_t n = 200;
    double *X = malloc(n * 2 * sizeof(double));
    test_rng r = {41};
    for (size_t i = 0; i < n * 2; i++)
        X[i] = test_rng_normal(&r);
    /* Component 1 starts far from every point: no responsibility. */
    const double w[2] = {0.5, 0.5}, mu[4] = {0.0, 0.0, 1e3, 1e3},
                 sigma[8] = {1, 0, 0, 1, 1, 0, 0, 1};
    emgmm_model *start = NULL, *m = NULL;
    assert_int_equal(emgmm_model_create(EMGMM_COVARIANCE_FULL, 2, 2, w, mu,
                                        sigma, &start, NULL),
                     EMGMM_OK);
    emgmm_params p;
    emgmm_params_default(&p);
    p.init_model = start;
    emgmm_fit_info info;
    assert_int_equal(emgmm_fit(&p, X, n, 2, 2, &m, &info), EMGMM_OK);
    assert_int_equal(info.n_empty, 1);
    for (size_t i = 0; i < 4; i++)
        assert_true(isfinite(emgmm_means(m)[i]));
    for (size_t i = 0; i < 8; i++)
        assert_true(isfinite(emgmm_covariances(m)[i]));
    emgmm_free(&m);
    p.fail_on_empty = 1;
    assert_int_equal(emgmm_fit(&p, X, n, 2, 2, &m, &info),
                     EMGMM_ERR_EMPTY_COMPONENT);
    assert_int_equal(info.bad_component, 1);
    assert_null(m);
    /* A healthy fit has none. */
    p.init_model = NULL;
    p.n_components = 2;
    assert_int_equal(emgmm_fit(&p, X, n, 2, 2, &m, &info), EMGMM_OK);
    assert_int_equal(info.n_empty, 0);
    emgmm_free(&m);
    emgmm_free(&start);
    free(X);
}

/* Degenerate data with a documented outcome: a constant column and more
 * features than samples fit thanks to reg_covar; data offset by 1e9 fit
 * the same model as the unshifted data (two-pass sums). */
static void test_degenerate_data(void **state)
{
    (void)state;
    test_rng r = {99};
    emgmm_params p;
    emgmm_params_default(&p);
    p.n_components = 2;
    emgmm_model *m = NULL;
    emgmm_fit_info info;

    /* A constant column. */
    const size_t n = 300;
    double *X = malloc(n * 3 * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        X[i * 3] = test_rng_normal(&r) + (i % 2 ? 6.0 : 0.0);
        X[i * 3 + 1] = 7.0;
        X[i * 3 + 2] = test_rng_normal(&r);
    }
    for (int t = 0; t < 4; t++) {
        p.covariance_type = (emgmm_covariance_type)t;
        assert_int_equal(emgmm_fit(&p, X, n, 3, 3, &m, &info), EMGMM_OK);
        assert_true(isfinite(info.log_likelihood));
        emgmm_free(&m);
    }

    /* D > N: 10 samples in 40 dimensions. */
    double *W = malloc(10 * 40 * sizeof(double));
    for (size_t i = 0; i < 400; i++)
        W[i] = test_rng_normal(&r) + (i / 40 < 5 ? 3.0 : 0.0);
    for (int t = 0; t < 4; t++) {
        p.covariance_type = (emgmm_covariance_type)t;
        assert_int_equal(emgmm_fit(&p, W, 10, 40, 40, &m, &info), EMGMM_OK);
        assert_true(isfinite(info.log_likelihood));
        emgmm_free(&m);
    }

    /* Offset by 1e9: the same fit as the unshifted data, from the same
     * start (means moved by the same offset). */
    for (size_t i = 0; i < n; i++)
        X[i * 3 + 1] = test_rng_normal(&r);
    double *Y = malloc(n * 3 * sizeof(double));
    for (size_t i = 0; i < n * 3; i++)
        Y[i] = X[i] + 1e9;
    const double w0[2] = {0.5, 0.5}, cov0[18] = {1, 0, 0, 0, 1, 0, 0, 0, 1,
                                                 1, 0, 0, 0, 1, 0, 0, 0, 1};
    double mu0[6] = {0, 0, 0, 6, 0, 0}, mu1[6];
    for (size_t i = 0; i < 6; i++)
        mu1[i] = mu0[i] + 1e9;
    emgmm_model *s0 = NULL, *s1 = NULL, *a = NULL, *b = NULL;
    assert_int_equal(emgmm_model_create(EMGMM_COVARIANCE_FULL, 2, 3, w0, mu0,
                                        cov0, &s0, NULL),
                     EMGMM_OK);
    assert_int_equal(emgmm_model_create(EMGMM_COVARIANCE_FULL, 2, 3, w0, mu1,
                                        cov0, &s1, NULL),
                     EMGMM_OK);
    emgmm_params q;
    emgmm_params_default(&q);
    q.tol = 0.0;
    q.max_iter = 30;
    q.init_model = s0;
    assert_int_equal(emgmm_fit(&q, X, n, 3, 3, &a, NULL), EMGMM_OK);
    q.init_model = s1;
    assert_int_equal(emgmm_fit(&q, Y, n, 3, 3, &b, NULL), EMGMM_OK);
    for (size_t i = 0; i < 18; i++)
        assert_close(emgmm_covariances(b)[i], emgmm_covariances(a)[i], 1e-5,
                     1e-6);
    for (size_t i = 0; i < 2; i++)
        assert_close(emgmm_weights(b)[i], emgmm_weights(a)[i], 1e-6, 0.0);
    emgmm_free(&s0);
    emgmm_free(&s1);
    emgmm_free(&a);
    emgmm_free(&b);
    free(Y);
    free(W);
    free(X);
}

typedef struct checkpointer {
    int at;           /* save after this iteration */
    const char *path;
    int saved;
} checkpointer;

static int save_checkpoint(const emgmm_iteration *it, void *user)
{
    checkpointer *c = user;
    if (it->iteration == c->at) {
        assert_int_equal(emgmm_save(it->model, c->path), EMGMM_OK);
        c->saved = 1;
    }
    return 0;
}

/* A fit resumed from a checkpoint saved by the progress callback ends
 * exactly where the uninterrupted fit ends: same bits, same n_iter. */
static void test_resume_is_bit_exact(void **state)
{
    (void)state;
    const size_t n = 2000;
    double *X = sample_data(n, 17);
    char path[] = "/tmp/emgmm-ckpt-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    static const double tols[2] = {0.0, 1e-6};
    for (int t = 0; t < 8; t++) {
        emgmm_params p;
        emgmm_params_default(&p);
        p.n_components = 3;
        p.covariance_type = (emgmm_covariance_type)(t % 4);
        p.tol = tols[t / 4];
        p.max_iter = 40;
        p.n_components = 4; /* one more than the data: a slow EM */
        checkpointer c = {3, path, 0};
        p.progress = save_checkpoint;
        p.progress_data = &c;
        emgmm_model *whole = NULL, *ckpt = NULL, *resumed = NULL;
        emgmm_fit_info a, b;
        assert_int_equal(emgmm_fit(&p, X, n, 2, 2, &whole, &a), EMGMM_OK);
        assert_true(c.saved);
        assert_true(a.n_iter > 3);
        emgmm_error err;
        assert_int_equal(emgmm_load(path, &ckpt, &err), EMGMM_OK);
        p.progress = NULL;
        p.init_model = ckpt;
        p.resume = 1;
        assert_int_equal(emgmm_fit(&p, X, n, 2, 2, &resumed, &b), EMGMM_OK);
        assert_int_equal(b.n_iter, a.n_iter);
        assert_int_equal(b.converged, a.converged);
        assert_memory_equal(&a.log_likelihood, &b.log_likelihood,
                            sizeof(double));
        const size_t cs = emgmm__cov_size(p.covariance_type, 4, 2);
        assert_memory_equal(emgmm_weights(whole), emgmm_weights(resumed),
                            4 * sizeof(double));
        assert_memory_equal(emgmm_means(whole), emgmm_means(resumed),
                            8 * sizeof(double));
        assert_memory_equal(emgmm_covariances(whole),
                            emgmm_covariances(resumed), cs * sizeof(double));
        emgmm_free(&whole);
        emgmm_free(&ckpt);
        emgmm_free(&resumed);
    }
    unlink(path);
    free(X);
}

/* More restarts can only keep a better (or the same) optimum. */
/* predict, predict_proba, score_samples and score on problems large
 * enough for two threads (row blocks over OpenMP threads, BLAS held to
 * one thread): the same bits as on one thread, the BLAS thread count
 * restored afterwards, and score the same sum as the fit's E-step. Both
 * projections: stacked gemm (d = 12) and one trmm per component (d = 40). */
static void test_predict_two_threads_same_bits(void **state)
{
    (void)state;
    const size_t shapes[2][2] = {{20000, 12}, {3000, 40}}, k = 4;
    for (int s = 0; s < 2; s++) {
        const size_t n = shapes[s][0], d = shapes[s][1];
        double *X = malloc(n * d * sizeof(double));
        test_rng r = {78};
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < d; j++)
                X[i * d + j] = test_rng_normal(&r) +
                               4.0 * (double)(i % k) * (j == i % d);
        int32_t *labels[2];
        double *proba[2], *logp[2], score[2];
        for (int i = 0; i < 2; i++) {
            labels[i] = malloc(n * sizeof(int32_t));
            proba[i] = malloc(n * k * sizeof(double));
            logp[i] = malloc(n * sizeof(double));
        }
        for (int t = 0; t < 4; t++) {
            emgmm_params p;
            emgmm_params_default(&p);
            p.n_components = (int)k;
            p.covariance_type = (emgmm_covariance_type)t;
            p.max_iter = 3;
            p.n_threads = 1;
            emgmm_model *m = NULL;
            assert_int_equal(emgmm_fit(&p, X, n, d, d, &m, NULL), EMGMM_OK);
            for (int i = 0; i < 2; i++) {
#if EMGMM_HAVE_OPENMP
                omp_set_num_threads(i + 1);
#endif
                const int blas = emgmm__get_blas_threads();
                emgmm__set_blas_threads(2);
                assert_int_equal(emgmm_predict(m, X, n, d, labels[i]),
                                 EMGMM_OK);
                assert_int_equal(emgmm_predict_proba(m, X, n, d, proba[i]),
                                 EMGMM_OK);
                assert_int_equal(emgmm_score_samples(m, X, n, d, logp[i]),
                                 EMGMM_OK);
                assert_int_equal(emgmm_score(m, X, n, d, &score[i]),
                                 EMGMM_OK);
                if (blas > 0)
                    assert_int_equal(emgmm__get_blas_threads(), 2);
                emgmm__set_blas_threads(blas);
            }
#if EMGMM_HAVE_OPENMP
            omp_set_num_threads(1);
#endif
            assert_memory_equal(labels[0], labels[1], n * sizeof(int32_t));
            assert_memory_equal(proba[0], proba[1], n * k * sizeof(double));
            assert_memory_equal(logp[0], logp[1], n * sizeof(double));
            assert_memory_equal(&score[0], &score[1], sizeof(double));
            double total = 0.0;
            for (size_t i = 0; i < n; i++)
                total += logp[0][i];
            assert_close(score[0], total / (double)n, 1e-13, 0.0);
            /* The fit's E-step on m sums the same blocks in the same
             * order. */
            emgmm_fit_info info;
            emgmm_model *same = NULL;
            p.init_model = m;
            p.max_iter = 0;
            assert_int_equal(emgmm_fit(&p, X, n, d, d, &same, &info),
                             EMGMM_OK);
            assert_memory_equal(&info.log_likelihood, &score[0],
                                sizeof(double));
            emgmm_free(&same);
            emgmm_free(&m);
        }
        for (int i = 0; i < 2; i++) {
            free(labels[i]);
            free(proba[i]);
            free(logp[i]);
        }
        free(X);
    }
}

static void test_n_init_keeps_the_best(void **state)
{
    (void)state;
    double *X = sample_data(2000, 4);
    double ll[2];
    for (int i = 0; i < 2; i++) {
        emgmm_params p;
        emgmm_params_default(&p);
        p.n_components = 5;
        p.init = EMGMM_INIT_RANDOM_DATA;
        p.n_init = i == 0 ? 1 : 6;
        emgmm_model *m = NULL;
        emgmm_fit_info info;
        assert_int_equal(emgmm_fit(&p, X, 2000, 2, 2, &m, &info), EMGMM_OK);
        assert_true(info.best_init >= 0 && info.best_init < p.n_init);
        double score;
        assert_int_equal(emgmm_score(m, X, 2000, 2, &score), EMGMM_OK);
        assert_close(score, info.log_likelihood, 1e-12, 0.0);
        ll[i] = info.log_likelihood;
        emgmm_free(&m);
    }
    assert_true(ll[1] >= ll[0]);
    free(X);
}

static void test_tol_and_max_iter(void **state)
{
    (void)state;
    double *X = sample_data(2000, 5);
    emgmm_params p;
    emgmm_params_default(&p);
    p.n_components = 3;
    emgmm_model *m = NULL;
    emgmm_fit_info info;
    assert_int_equal(emgmm_fit(&p, X, 2000, 2, 2, &m, &info), EMGMM_OK);
    assert_true(info.converged);
    assert_true(info.n_iter >= 1 && info.n_iter < 100);
    emgmm_free(&m);

    p.tol = 0.0;
    p.max_iter = 7;
    assert_int_equal(emgmm_fit(&p, X, 2000, 2, 2, &m, &info), EMGMM_OK);
    assert_false(info.converged);
    assert_int_equal(info.n_iter, 7);
    emgmm_free(&m);
    free(X);
}

/* A warm start with max_iter 0 returns the given parameters untouched. */
static void test_init_model_max_iter_zero(void **state)
{
    (void)state;
    double *X = sample_data(500, 6);
    emgmm_model *start = true_model();
    emgmm_params p;
    emgmm_params_default(&p);
    p.init_model = start;
    p.max_iter = 0;
    emgmm_model *m = NULL;
    emgmm_fit_info info;
    assert_int_equal(emgmm_fit(&p, X, 500, 2, 2, &m, &info), EMGMM_OK);
    assert_int_equal(info.n_iter, 0);
    assert_memory_equal(emgmm_weights(m), emgmm_weights(start), 3 * 8);
    assert_memory_equal(emgmm_means(m), emgmm_means(start), 6 * 8);
    assert_memory_equal(emgmm_covariances(m), emgmm_covariances(start),
                        12 * 8);
    double score;
    assert_int_equal(emgmm_score(start, X, 500, 2, &score), EMGMM_OK);
    assert_close(info.log_likelihood, score, 1e-13, 0.0);
    emgmm_free(&m);

    /* A disagreeing n_components is rejected. */
    p.n_components = 4;
    assert_int_equal(emgmm_fit(&p, X, 500, 2, 2, &m, &info),
                     EMGMM_ERR_INVALID);
    assert_null(m);
    emgmm_free(&start);
    free(X);
}

/* A leading dimension larger than d gives the same fit as packed data. */
static void test_leading_dimension(void **state)
{
    (void)state;
    const size_t n = 1000;
    double *X = sample_data(n, 7);
    double *wide = malloc(n * 5 * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        wide[i * 5] = X[i * 2];
        wide[i * 5 + 1] = X[i * 2 + 1];
        wide[i * 5 + 2] = wide[i * 5 + 3] = wide[i * 5 + 4] = NAN;
    }
    emgmm_params p;
    emgmm_params_default(&p);
    p.n_components = 3;
    emgmm_model *a = NULL, *b = NULL;
    assert_int_equal(emgmm_fit(&p, X, n, 2, 2, &a, NULL), EMGMM_OK);
    assert_int_equal(emgmm_fit(&p, wide, n, 2, 5, &b, NULL), EMGMM_OK);
    assert_memory_equal(emgmm_means(a), emgmm_means(b), 6 * 8);
    assert_memory_equal(emgmm_covariances(a), emgmm_covariances(b), 12 * 8);
    emgmm_free(&a);
    emgmm_free(&b);
    free(wide);
    free(X);
}

/* A component that collapses onto one repeated point, with no
 * regularisation, is reported with its index instead of giving NaN. */
static void test_singular_covariance_names_component(void **state)
{
    (void)state;
    const size_t n = 300;
    double *X = malloc(n * 2 * sizeof(double));
    test_rng r = {13};
    for (size_t i = 0; i < n; i++) {
        if (i % 3 == 0) {
            X[i * 2] = 50.0; /* 100 copies of one point */
            X[i * 2 + 1] = 50.0;
        } else {
            X[i * 2] = test_rng_normal(&r);
            X[i * 2 + 1] = test_rng_normal(&r);
        }
    }
    const double w[2] = {0.5, 0.5}, mu[4] = {0.0, 0.0, 50.0, 50.0},
                 sigma[8] = {1.0, 0.0, 0.0, 1.0, 0.1, 0.0, 0.0, 0.1};
    emgmm_model *start = NULL;
    assert_int_equal(emgmm_model_create(EMGMM_COVARIANCE_FULL, 2, 2, w, mu,
                                        sigma, &start, NULL),
                     EMGMM_OK);
    emgmm_params p;
    emgmm_params_default(&p);
    p.init_model = start;
    p.reg_covar = 0.0;
    emgmm_model *m = NULL;
    emgmm_fit_info info;
    assert_int_equal(emgmm_fit(&p, X, n, 2, 2, &m, &info),
                     EMGMM_ERR_SINGULAR);
    assert_int_equal(info.bad_component, 1);
    assert_null(m);

    /* The default reg_covar keeps it positive definite. */
    p.reg_covar = 1e-6;
    assert_int_equal(emgmm_fit(&p, X, n, 2, 2, &m, &info), EMGMM_OK);
    assert_true(isfinite(info.log_likelihood));
    emgmm_free(&m);
    emgmm_free(&start);
    free(X);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    double X[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    emgmm_params p;
    emgmm_params_default(&p);
    emgmm_model *m = NULL;
    assert_int_equal(emgmm_fit(&p, X, 4, 2, 2, &m, NULL), EMGMM_ERR_INVALID);
    p.n_components = 2;
    assert_int_equal(emgmm_fit(&p, X, 4, 2, 1, &m, NULL), EMGMM_ERR_INVALID);
    assert_int_equal(emgmm_fit(&p, NULL, 4, 2, 2, &m, NULL),
                     EMGMM_ERR_INVALID);
    assert_int_equal(emgmm_fit(&p, X, 4, 2, 2, NULL, NULL),
                     EMGMM_ERR_INVALID);
    p.n_components = 5;
    assert_int_equal(emgmm_fit(&p, X, 4, 2, 2, &m, NULL),
                     EMGMM_ERR_TOO_FEW_SAMPLES);
    p.n_components = 2;
    p.tol = -1.0;
    assert_int_equal(emgmm_fit(&p, X, 4, 2, 2, &m, NULL), EMGMM_ERR_INVALID);
    p.tol = 1e-3;
    p.covariance_type = (emgmm_covariance_type)4;
    assert_int_equal(emgmm_fit(&p, X, 4, 2, 2, &m, NULL), EMGMM_ERR_INVALID);
    p.covariance_type = EMGMM_COVARIANCE_FULL;
    X[5] = INFINITY;
    assert_int_equal(emgmm_fit(&p, X, 4, 2, 2, &m, NULL),
                     EMGMM_ERR_NONFINITE);
    X[5] = 5.0;
    /* Spreads whose squares leave the double range. */
    double big[8] = {0, 1e200, 1, 2, 3, -1e200, 5, 6};
    assert_int_equal(emgmm_fit(&p, big, 4, 2, 2, &m, NULL), EMGMM_ERR_RANGE);
    double tiny[8] = {1e-300, 0, 2e-300, 1, 3e-300, 2, 4e-300, 3};
    assert_int_equal(emgmm_fit(&p, tiny, 4, 2, 2, &m, NULL),
                     EMGMM_ERR_RANGE);
    /* Large values with a modest spread are fine (two-pass sums). */
    double offset[8] = {1e12, 0, 1e12 + 1, 1, 1e12 + 2, 0, 1e12 + 3, 1};
    assert_int_equal(emgmm_fit(&p, offset, 4, 2, 2, &m, NULL), EMGMM_OK);
    emgmm_free(&m);
    /* Four identical points cannot seed two clusters. */
    double same[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(emgmm_fit(&p, same, 4, 2, 2, &m, NULL),
                     EMGMM_ERR_TOO_FEW_SAMPLES);
    assert_null(m);
    assert_string_equal(emgmm_strerror(EMGMM_ERR_SINGULAR),
                        emgmm_strerror(-3));
    assert_string_equal(emgmm_strerror(12345), "unknown error");
}

static int stop_at_three(const emgmm_iteration *it, void *user)
{
    (void)user;
    return it->iteration == 3;
}

static void test_progress_can_cancel(void **state)
{
    (void)state;
    double *X = sample_data(1000, 8);
    emgmm_params p;
    emgmm_params_default(&p);
    p.n_components = 3;
    p.tol = 0.0;
    p.progress = stop_at_three;
    const long live = emgmm__live_allocations();
    emgmm_model *m = NULL;
    assert_int_equal(emgmm_fit(&p, X, 1000, 2, 2, &m, NULL),
                     EMGMM_ERR_CANCELLED);
    assert_null(m);
    assert_int_equal(emgmm__live_allocations(), live);
    free(X);
}

/* Samples follow the model: moments of a large sample. */
static void test_sample_moments(void **state)
{
    (void)state;
    emgmm_model *m = true_model();
    const size_t n = 200000;
    double *X = malloc(n * 2 * sizeof(double));
    int32_t *labels = malloc(n * sizeof(int32_t));
    assert_int_equal(emgmm_sample(m, n, 99, X, labels), EMGMM_OK);
    for (size_t c = 0; c < 3; c++) {
        double cnt = 0, s[2] = {0, 0}, ss[4] = {0, 0, 0, 0};
        for (size_t i = 0; i < n; i++)
            if ((size_t)labels[i] == c) {
                cnt++;
                s[0] += X[i * 2];
                s[1] += X[i * 2 + 1];
            }
        double mean[2] = {s[0] / cnt, s[1] / cnt};
        for (size_t i = 0; i < n; i++)
            if ((size_t)labels[i] == c)
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++)
                        ss[a * 2 + b] += (X[i * 2 + a] - mean[a]) *
                                         (X[i * 2 + b] - mean[b]);
        assert_close(cnt / (double)n, true_w[c], 0.0, 0.005);
        for (int a = 0; a < 2; a++)
            assert_close(mean[a], true_mu[c * 2 + a], 0.0, 0.03);
        for (int j = 0; j < 4; j++)
            assert_close(ss[j] / cnt, true_sigma[c * 4 + j], 0.0, 0.05);
    }
    /* Same seed, same bits. */
    double *Y = malloc(n * 2 * sizeof(double));
    assert_int_equal(emgmm_sample(m, n, 99, Y, NULL), EMGMM_OK);
    assert_memory_equal(X, Y, n * 2 * sizeof(double));
    free(Y);
    free(X);
    free(labels);
    emgmm_free(&m);
}

/* predict, predict_proba, score_samples, score, bic and aic agree with
 * each other and with the naive density. */
static void test_predict_and_scores(void **state)
{
    (void)state;
    emgmm_model *m = true_model();
    const size_t n = 300;
    double *X = sample_data(n, 10);
    int32_t *labels = malloc(n * sizeof(int32_t));
    double *proba = malloc(n * 3 * sizeof(double));
    double *logp = malloc(n * sizeof(double));
    assert_int_equal(emgmm_predict(m, X, n, 2, labels), EMGMM_OK);
    assert_int_equal(emgmm_predict_proba(m, X, n, 2, proba), EMGMM_OK);
    assert_int_equal(emgmm_score_samples(m, X, n, 2, logp), EMGMM_OK);
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        double lp[3], mx = -INFINITY, s = 0.0;
        size_t arg = 0;
        for (size_t c = 0; c < 3; c++) {
            lp[c] = naive_log_density(X + i * 2, true_mu + c * 2,
                                      true_sigma + c * 4, true_w[c], 2);
            if (lp[c] > mx) {
                mx = lp[c];
                arg = c;
            }
        }
        for (size_t c = 0; c < 3; c++)
            s += exp(lp[c] - mx);
        assert_close(logp[i], mx + log(s), 1e-12, 0.0);
        assert_int_equal(labels[i], (int32_t)arg);
        for (size_t c = 0; c < 3; c++)
            assert_close(proba[i * 3 + c], exp(lp[c] - mx) / s, 1e-10,
                         1e-14);
        total += logp[i];
    }
    double score, bic, aic;
    assert_int_equal(emgmm_score(m, X, n, 2, &score), EMGMM_OK);
    assert_int_equal(emgmm_bic(m, X, n, 2, &bic), EMGMM_OK);
    assert_int_equal(emgmm_aic(m, X, n, 2, &aic), EMGMM_OK);
    /* Full covariance, K = 3, D = 2: 2 weights + 6 means + 9 covariances. */
    assert_int_equal(emgmm_n_parameters(m), 17);
    assert_close(score, total / (double)n, 1e-13, 0.0);
    assert_close(bic, -2.0 * total + 17.0 * log((double)n), 1e-13, 0.0);
    assert_close(aic, -2.0 * total + 34.0, 1e-13, 0.0);
    free(labels);
    free(proba);
    free(logp);
    free(X);
    emgmm_free(&m);
}

/* Every allocation of a fit, made to fail in turn: the fit returns
 * EMGMM_ERR_NOMEM and frees everything. */
static void test_allocation_failures_are_clean(void **state)
{
    (void)state;
    double *X = sample_data(600, 12);
    long failures = 0;
    const long live = emgmm__live_allocations();
    for (long nth = 1; nth < 1000; nth++) {
        emgmm_params p;
        emgmm_params_default(&p);
        p.n_components = 3;
        p.n_init = 2;
        emgmm_model *m = NULL;
        emgmm__fail_allocation_after(nth);
        int rc = emgmm_fit(&p, X, 600, 2, 2, &m, NULL);
        emgmm__fail_allocation_after(0);
        if (rc == EMGMM_OK) {
            emgmm_free(&m);
            assert_int_equal(emgmm__live_allocations(), live);
            break;
        }
        assert_int_equal(rc, EMGMM_ERR_NOMEM);
        assert_null(m);
        assert_int_equal(emgmm__live_allocations(), live);
        failures++;
    }
    assert_true(failures > 10);
    print_message("%ld allocation points failed cleanly\n", failures);
    free(X);
}

/* The same for everything else that allocates: predict, predict_proba,
 * score_samples, score, bic, sample, save and load. */
static void test_allocation_failures_elsewhere(void **state)
{
    (void)state;
    const size_t n = 300;
    double *X = sample_data(n, 13);
    emgmm_model *m = true_model();
    int32_t *labels = malloc(n * sizeof(int32_t));
    double *out = malloc(n * 3 * sizeof(double));
    char path[] = "/tmp/emgmm-alloc-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    const long live = emgmm__live_allocations();
    long points = 0;
    for (int op = 0; op < 8; op++) {
        for (long nth = 1; nth < 100; nth++) {
            emgmm__fail_allocation_after(nth);
            double v;
            emgmm_model *loaded = NULL;
            int rc = EMGMM_OK;
            switch (op) {
            case 0: rc = emgmm_predict(m, X, n, 2, labels); break;
            case 1: rc = emgmm_predict_proba(m, X, n, 2, out); break;
            case 2: rc = emgmm_score_samples(m, X, n, 2, out); break;
            case 3: rc = emgmm_score(m, X, n, 2, &v); break;
            case 4: rc = emgmm_bic(m, X, n, 2, &v); break;
            case 5: rc = emgmm_sample(m, n, 1, out, labels); break;
            case 6: rc = emgmm_save(m, path); break;
            case 7: rc = emgmm_load(path, &loaded, NULL); break;
            }
            emgmm__fail_allocation_after(0);
            emgmm_free(&loaded);
            assert_int_equal(emgmm__live_allocations(), live);
            if (rc == EMGMM_OK)
                break;
            if (rc != EMGMM_ERR_NOMEM)
                fail_msg("operation %d, allocation %ld: %s", op, nth,
                         emgmm_strerror(rc));
            points++;
        }
    }
    print_message("%ld more allocation points failed cleanly\n", points);
    assert_true(points >= 8);
    unlink(path);
    free(labels);
    free(out);
    emgmm_free(&m);
    free(X);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_likelihood_never_decreases),
        cmocka_unit_test(test_recovers_known_parameters),
        cmocka_unit_test(test_recovers_every_covariance_type),
        cmocka_unit_test(test_sample_weights_equal_repeated_rows),
        cmocka_unit_test(test_every_init_method_separates_clusters),
        cmocka_unit_test(test_same_seed_same_bits),
        cmocka_unit_test(test_two_threads_same_bits),
        cmocka_unit_test(test_predict_two_threads_same_bits),
        cmocka_unit_test(test_n_init_keeps_the_best),
        cmocka_unit_test(test_tol_and_max_iter),
        cmocka_unit_test(test_init_model_max_iter_zero),
        cmocka_unit_test(test_leading_dimension),
        cmocka_unit_test(test_singular_covariance_names_component),
        cmocka_unit_test(test_empty_component_policy),
        cmocka_unit_test(test_degenerate_data),
        cmocka_unit_test(test_resume_is_bit_exact),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_progress_can_cancel),
        cmocka_unit_test(test_sample_moments),
        cmocka_unit_test(test_predict_and_scores),
        cmocka_unit_test(test_allocation_failures_are_clean),
        cmocka_unit_test(test_allocation_failures_elsewhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
