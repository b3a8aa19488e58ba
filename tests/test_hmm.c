/*
 * Hidden Markov models against a textbook implementation (naive_hmm.h:
 * forward, backward, posteriors, transition counts, Viterbi and
 * Baum-Welch with hmmlearn's priors, in log space). Then: zeros
 * that stay zero, underflow, monotone likelihood, recovery of a known
 * model, thread counts, model files, errors and allocation failures.
 */
#include "internal.h"
#include "naive_hmm.h"

static const size_t LEN[3] = {7, 12, 5};

/* ---- tests -------------------------------------------------------------- */

/* score, posteriors and Viterbi against the textbook, every type, three
 * sequences, data near and far (1e4) from the origin. */
static void test_inference_matches_textbook(void **state)
{
    (void)state;
    for (int t = 0; t < 4; t++)
        for (int far = 0; far < 2; far++) {
            naive_hmm h = random_model(TYPES[t], 11 + (uint64_t)t);
            const double off = far ? 1e4 : 0.0;
            shift_means(&h, off);
            const size_t n = 24, k = h.k;
            double *X = draw(&h, n, 5, 0.0);
            emgmm_hmm *m = to_model(&h);
            double *lb = naive_emissions(&h, X, n);
            double *g = calloc(n * k, sizeof(double));
            double xi[9] = {0};
            int32_t path[24], want_path[24];
            double want = 0.0, want_lp = 0.0;
            for (size_t q = 0, a0 = 0; q < 3; a0 += LEN[q], q++) {
                want += naive_fb(&h, lb, a0, LEN[q], g, xi);
                want_lp += naive_viterbi(&h, lb, a0, LEN[q], want_path);
            }
            double ll, lp, proba[24 * 3];
            assert_int_equal(emgmm_hmm_score(m, X, n, h.d, LEN, 3, &ll),
                             EMGMM_OK);
            assert_close(ll, want, 1e-11, 0);
            assert_int_equal(
                emgmm_hmm_predict_proba(m, X, n, h.d, LEN, 3, proba),
                EMGMM_OK);
            for (size_t i = 0; i < n * k; i++)
                assert_close(proba[i], g[i], 0, 1e-10);
            assert_int_equal(
                emgmm_hmm_decode(m, X, n, h.d, LEN, 3, path, &lp), EMGMM_OK);
            assert_memory_equal(path, want_path, sizeof path);
            assert_close(lp, want_lp, 1e-11, 0);
            emgmm_hmm_free(&m);
            free(lb);
            free(g);
            free(X);
            naive_free(&h);
        }
}

/* One to three Baum-Welch iterations from the same start equal the
 * textbook's, every type, default priors and non-default ones. */
static void test_baum_welch_matches_textbook(void **state)
{
    (void)state;
    for (int t = 0; t < 4; t++)
        for (int priors = 0; priors < 2; priors++) {
            naive_hmm h = random_model(TYPES[t], 21 + (uint64_t)t);
            const size_t n = 24;
            double *X = draw(&h, n, 7, 0.0);
            emgmm_hmm *start = to_model(&h);
            emgmm_hmm_params p;
            emgmm_hmm_params_default(&p);
            p.init_model = start;
            p.init_params[0] = '\0';
            p.tol = -1.0;
            p.max_iter = 3;
            if (priors) {
                p.startprob_prior = 1.5;
                p.transmat_prior = 2.0;
                p.means_prior = 0.5;
                p.means_weight = 2.0;
                p.covars_prior = 0.3;
                p.covars_weight = 6.0;
            }
            emgmm_hmm *fit = NULL;
            emgmm_hmm_fit_info info;
            assert_int_equal(
                emgmm_hmm_fit(&p, X, n, h.d, h.d, LEN, 3, &fit, &info),
                EMGMM_OK);
            assert_int_equal(info.n_iter, 3);
            assert_false(info.converged);
            double last = 0.0;
            for (int it = 0; it < 3; it++)
                last = naive_iteration(&h, X, n, LEN, 3, &p);
            assert_close(info.last_estep, last, 1e-10, 0);
            expect_model_close(fit, &h, 1e-9);
            emgmm_hmm_free(&fit);
            emgmm_hmm_free(&start);
            free(X);
            naive_free(&h);
        }
}

/* A left-right model: the zeros of pi and A stay zero through fitting,
 * and the textbook agrees. */
static void test_structural_zeros(void **state)
{
    (void)state;
    naive_hmm h = random_model(EMGMM_COVARIANCE_DIAG, 31);
    const size_t k = 3;
    h.pi[0] = 1.0, h.pi[1] = h.pi[2] = 0.0;
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < k; j++)
            h.a[i * k + j] = j < i ? 0.0 : (j == i ? 0.7 : 0.3);
    h.a[2 * k + 2] = 1.0;
    h.a[1 * k + 2] = 0.3;
    h.a[0 * k + 2] = 0.1, h.a[0 * k + 1] = 0.2;
    const size_t n = 24;
    double *X = draw(&h, n, 3, 0.0);
    emgmm_hmm *start = to_model(&h);
    emgmm_hmm_params p;
    emgmm_hmm_params_default(&p);
    p.init_model = start;
    p.init_params[0] = '\0';
    p.tol = -1.0;
    p.max_iter = 4;
    emgmm_hmm *fit = NULL;
    assert_int_equal(emgmm_hmm_fit(&p, X, n, h.d, h.d, LEN, 3, &fit, NULL),
                     EMGMM_OK);
    for (int it = 0; it < 4; it++)
        naive_iteration(&h, X, n, LEN, 3, &p);
    expect_model_close(fit, &h, 1e-9);
    assert_true(emgmm_hmm_startprob(fit)[1] == 0.0);
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < i; j++)
            assert_true(emgmm_hmm_transmat(fit)[i * k + j] == 0.0);
    emgmm_hmm_free(&fit);
    emgmm_hmm_free(&start);
    free(X);
    naive_free(&h);
}

/* Rows whose every density underflows exp (log-densities near -1e6),
 * and rows best explained by a state the chain cannot reach (the
 * rescued step): finite, and the textbook's values. */
static void test_no_underflow(void **state)
{
    (void)state;
    naive_hmm h = random_model(EMGMM_COVARIANCE_SPHERICAL, 41);
    const size_t k = 3, d = 3, n = 24;
    /* State 0 can only stay; state 2 is far away and explains the data
     * far better, but is unreachable once in state 0. */
    h.pi[0] = 1.0, h.pi[1] = h.pi[2] = 0.0;
    for (size_t j = 0; j < k; j++)
        h.a[j] = j == 0 ? 1.0 : 0.0;
    for (size_t j = 0; j < d; j++)
        h.mu[2 * d + j] = 60.0, h.mu[j] = 0.0;
    double *X = malloc(n * d * sizeof(double));
    for (size_t i = 0; i < n * d; i++)
        X[i] = i < 12 * d ? 2000.0 + (double)(i % 5) : 60.0 + 0.01 * (double)i;
    emgmm_hmm *m = to_model(&h);
    double *lb = naive_emissions(&h, X, n);
    double *g = calloc(n * k, sizeof(double));
    double xi[9] = {0};
    double want = 0.0;
    for (size_t q = 0, a0 = 0; q < 3; a0 += LEN[q], q++)
        want += naive_fb(&h, lb, a0, LEN[q], g, xi);
    double ll, proba[24 * 3];
    assert_int_equal(emgmm_hmm_score(m, X, n, d, LEN, 3, &ll), EMGMM_OK);
    assert_true(isfinite(ll));
    assert_true(ll < -1e5);
    assert_close(ll, want, 1e-12, 0);
    assert_int_equal(emgmm_hmm_predict_proba(m, X, n, d, LEN, 3, proba),
                     EMGMM_OK);
    /* The textbook's log-space values are of size 1e7 here, so its own
     * posteriors carry absolute errors near 1e-9. */
    for (size_t i = 0; i < n * k; i++) {
        assert_true(isfinite(proba[i]));
        assert_close(proba[i], g[i], 0, 1e-8);
    }
    emgmm_hmm_free(&m);
    free(lb);
    free(g);
    free(X);
    naive_free(&h);
}

typedef struct history {
    int n;
    double ll[64];
} history;

static int record(const emgmm_hmm_iteration *it, void *user)
{
    history *hs = user;
    if (hs->n < 64)
        hs->ll[hs->n++] = it->log_likelihood;
    return 0;
}

/* Without priors (covars_prior 0), Baum-Welch never lowers the
 * likelihood; with the default tol it stops when the gain falls below
 * 1e-2. From the library's own initialisation. */
/* A row of zero density under every state (its log-densities all -inf:
 * here the squared distance overflows): the sequence's log-likelihood is
 * -inf, not NaN, and the posteriors stay a distribution (the row carries
 * no information: alpha keeps the prediction). */
static void test_zero_density_row(void **state)
{
    (void)state;
    naive_hmm h = random_model(EMGMM_COVARIANCE_SPHERICAL, 43);
    const size_t k = 3, d = 3, n = 24;
    for (size_t j = 0; j < k; j++)
        h.cov[j] = 1e-200; /* spherical: one variance per state */
    for (size_t i = 0; i < k * d; i++)
        h.mu[i] = 0.0;
    double *X = calloc(n * d, sizeof(double));
    X[5 * d] = 1e60; /* |x - mu| / sigma = 1e160: its square overflows */
    emgmm_hmm *m = to_model(&h);
    double ll, proba[24 * 3];
    int32_t states[24];
    assert_int_equal(emgmm_hmm_score(m, X, n, d, LEN, 3, &ll), EMGMM_OK);
    assert_true(isinf(ll) && ll < 0);
    assert_int_equal(emgmm_hmm_predict_proba(m, X, n, d, LEN, 3, proba),
                     EMGMM_OK);
    for (size_t i = 0; i < n; i++) {
        double sum = 0.0;
        for (size_t j = 0; j < k; j++) {
            assert_true(proba[i * k + j] >= 0.0 && proba[i * k + j] <= 1.0);
            sum += proba[i * k + j];
        }
        assert_close(sum, 1.0, 1e-12, 0.0);
    }
    assert_int_equal(emgmm_hmm_decode(m, X, n, d, LEN, 3, states, &ll),
                     EMGMM_OK);
    for (size_t i = 0; i < n; i++)
        assert_true(states[i] >= 0 && (size_t)states[i] < k);
    emgmm_hmm_free(&m);
    free(X);
    naive_free(&h);
}

static void test_monotone_and_converges(void **state)
{
    (void)state;
    for (int t = 0; t < 4; t++) {
        naive_hmm h = random_model(TYPES[t], 51 + (uint64_t)t);
        const size_t n = 600;
        double *X = draw(&h, n, 9, 0.0);
        emgmm_hmm_params p;
        emgmm_hmm_params_default(&p);
        p.n_states = 3;
        p.covariance_type = TYPES[t];
        p.covars_prior = 0.0;
        p.max_iter = 60;
        history hs = {0};
        p.progress = record;
        p.progress_data = &hs;
        emgmm_hmm *fit = NULL;
        emgmm_hmm_fit_info info;
        const size_t len[2] = {250, 350};
        assert_int_equal(emgmm_hmm_fit(&p, X, n, 3, 3, len, 2, &fit, &info),
                         EMGMM_OK);
        assert_int_equal(hs.n, info.n_iter);
        for (int i = 1; i < hs.n; i++)
            assert_true(hs.ll[i] >= hs.ll[i - 1] - 1e-9 * fabs(hs.ll[i]));
        assert_true(info.converged);
        assert_true(hs.ll[hs.n - 1] - hs.ll[hs.n - 2] < 1e-2);
        /* The returned model scores at least as well as its last E-step. */
        assert_true(info.log_likelihood >= info.last_estep - 1e-9);
        double ll;
        assert_int_equal(emgmm_hmm_score(fit, X, n, 3, len, 2, &ll),
                         EMGMM_OK);
        assert_close(ll, info.log_likelihood, 1e-12, 0);
        emgmm_hmm_free(&fit);
        free(X);
        naive_free(&h);
    }
}

/* Data drawn from a known sticky 2-state model: the fit recovers it. */
static void test_recovers_known_model(void **state)
{
    (void)state;
    const double pi[2] = {0.6, 0.4}, a[4] = {0.95, 0.05, 0.1, 0.9};
    const double mu[4] = {0.0, 0.0, 3.0, -2.0};
    const double cov[8] = {1.0, 0.3, 0.3, 0.5, 0.6, -0.2, -0.2, 1.2};
    emgmm_hmm *truth = NULL;
    assert_int_equal(emgmm_hmm_create(EMGMM_COVARIANCE_FULL, 2, 2, pi, a, mu,
                                      cov, &truth, NULL),
                     EMGMM_OK);
    const size_t n = 20000;
    double *X = malloc(n * 2 * sizeof(double));
    int32_t *s = malloc(n * sizeof(int32_t));
    assert_int_equal(emgmm_hmm_sample(truth, n, 3, X, s), EMGMM_OK);
    emgmm_hmm_params p;
    emgmm_hmm_params_default(&p);
    p.n_states = 2;
    p.covariance_type = EMGMM_COVARIANCE_FULL;
    p.max_iter = 100;
    emgmm_hmm *fit = NULL;
    assert_int_equal(emgmm_hmm_fit(&p, X, n, 2, 2, NULL, 0, &fit, NULL),
                     EMGMM_OK);
    /* Match the states by their first mean. */
    const int swap = emgmm_hmm_means(fit)[0] > emgmm_hmm_means(fit)[2];
    for (size_t c = 0; c < 2; c++) {
        const size_t f = swap ? 1 - c : c;
        for (size_t j = 0; j < 2; j++)
            assert_close(emgmm_hmm_means(fit)[f * 2 + j], mu[c * 2 + j], 0,
                         0.06);
        for (size_t j = 0; j < 4; j++)
            assert_close(emgmm_hmm_covariances(fit)[f * 4 + j],
                         cov[c * 4 + j], 0, 0.06);
        for (size_t j = 0; j < 2; j++)
            assert_close(emgmm_hmm_transmat(fit)[f * 2 + (swap ? 1 - j : j)],
                         a[c * 2 + j], 0, 0.02);
    }
    /* Viterbi finds the true states almost everywhere. */
    int32_t *path = malloc(n * sizeof(int32_t));
    assert_int_equal(emgmm_hmm_decode(fit, X, n, 2, NULL, 0, path, NULL),
                     EMGMM_OK);
    size_t agree = 0;
    for (size_t i = 0; i < n; i++)
        agree += (swap ? 1 - path[i] : path[i]) == s[i];
    assert_true(agree > 0.97 * (double)n);
    free(path);
    emgmm_hmm_free(&fit);
    emgmm_hmm_free(&truth);
    free(X);
    free(s);
}

/* 1 and 2 threads give the same bits (sums per chunk of sequences, added
 * in order). Large enough for the threaded paths. */
static void test_same_bits_any_threads(void **state)
{
    (void)state;
    naive_hmm h = random_model(EMGMM_COVARIANCE_FULL, 61);
    const size_t n = 60000, n_seq = 120;
    double *X = draw(&h, n, 13, 0.0);
    size_t *len = malloc(n_seq * sizeof(size_t));
    for (size_t q = 0; q < n_seq; q++)
        len[q] = n / n_seq;
    emgmm_hmm *out[2];
    for (int t = 0; t < 2; t++) {
        emgmm_hmm_params p;
        emgmm_hmm_params_default(&p);
        p.n_states = 3;
        p.covariance_type = EMGMM_COVARIANCE_FULL;
        p.n_threads = t + 1;
        p.tol = -1.0;
        p.max_iter = 3;
        assert_int_equal(
            emgmm_hmm_fit(&p, X, n, 3, 3, len, n_seq, &out[t], NULL),
            EMGMM_OK);
    }
    assert_memory_equal(emgmm_hmm_transmat(out[0]),
                        emgmm_hmm_transmat(out[1]), 9 * sizeof(double));
    assert_memory_equal(emgmm_hmm_means(out[0]), emgmm_hmm_means(out[1]),
                        9 * sizeof(double));
    assert_memory_equal(emgmm_hmm_covariances(out[0]),
                        emgmm_hmm_covariances(out[1]), 27 * sizeof(double));
    assert_true(out[0]->fit.log_likelihood == out[1]->fit.log_likelihood);
    emgmm_hmm_free(&out[0]);
    emgmm_hmm_free(&out[1]);
    free(len);
    free(X);
    naive_free(&h);
}

/* Save and load: the same bits, every type, with and without a fit
 * record; saving the loaded model writes the same file. */
static void test_model_file_round_trip(void **state)
{
    (void)state;
    for (int t = 0; t < 4; t++) {
        naive_hmm h = random_model(TYPES[t], 71 + (uint64_t)t);
        const size_t n = 60;
        double *X = draw(&h, n, 2, 0.0);
        emgmm_hmm *start = to_model(&h);
        emgmm_hmm_params p;
        emgmm_hmm_params_default(&p);
        p.init_model = start;
        p.init_params[0] = '\0';
        emgmm_hmm *m = NULL;
        assert_int_equal(emgmm_hmm_fit(&p, X, n, 3, 3, NULL, 0, &m, NULL),
                         EMGMM_OK);
        for (int which = 0; which < 2; which++) {
            const emgmm_hmm *src = which ? m : start;
            assert_int_equal(emgmm_hmm_save(src, "hmm-a.json"), EMGMM_OK);
            emgmm_hmm *back = NULL;
            emgmm_error err;
            assert_int_equal(emgmm_hmm_load("hmm-a.json", &back, &err),
                             EMGMM_OK);
            assert_memory_equal(emgmm_hmm_startprob(back),
                                emgmm_hmm_startprob(src), 3 * sizeof(double));
            assert_memory_equal(emgmm_hmm_transmat(back),
                                emgmm_hmm_transmat(src), 9 * sizeof(double));
            assert_memory_equal(emgmm_hmm_means(back), emgmm_hmm_means(src),
                                9 * sizeof(double));
            assert_memory_equal(emgmm_hmm_covariances(back),
                                emgmm_hmm_covariances(src),
                                cov_size(TYPES[t], 3, 3) * sizeof(double));
            assert_int_equal(back->fit.present, src->fit.present);
            assert_int_equal(back->fit.n_iter, src->fit.n_iter);
            if (src->fit.present)
                assert_true(back->fit.log_likelihood ==
                            src->fit.log_likelihood);
            assert_int_equal(emgmm_hmm_save(back, "hmm-b.json"), EMGMM_OK);
            FILE *fa = fopen("hmm-a.json", "rb"), *fb = fopen("hmm-b.json", "rb");
            char ba[8192], bb[8192];
            size_t la = fread(ba, 1, sizeof ba, fa), lb = fread(bb, 1, sizeof bb, fb);
            fclose(fa);
            fclose(fb);
            assert_int_equal(la, lb);
            assert_memory_equal(ba, bb, la);
            emgmm_hmm_free(&back);
        }
        emgmm_hmm_free(&m);
        emgmm_hmm_free(&start);
        free(X);
        naive_free(&h);
    }
    remove("hmm-a.json");
    remove("hmm-b.json");
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Malformed files: each rejected with a sentence; a "gmm" file is
 * unsupported, not malformed. */
static void test_model_file_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "[]",
        "{\"format\": \"emgmm-model\"}",
        "{\"covariance_type\": \"diag\", \"startprob\": [1], \"transmat\": "
        "[[1]], \"means\": [[0]]}",
        "{\"covariance_type\": \"diag\", \"startprob\": [0.5, 0.4], "
        "\"transmat\": [[1, 0], [0, 1]], \"means\": [[0], [1]], "
        "\"covariances\": [[1], [1]]}",
        "{\"covariance_type\": \"diag\", \"startprob\": [0.5, 0.5], "
        "\"transmat\": [[1, 0], [0, 1]], \"means\": [[0], [1]], "
        "\"covariances\": [[1], [-1]]}",
        "{\"covariance_type\": \"full\", \"startprob\": [1], \"transmat\": "
        "[[1]], \"means\": [[0, 0]], \"covariances\": [[1, 0], [0, 1]]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text("bad.json", bad[i]);
        emgmm_hmm *m = NULL;
        emgmm_error err;
        assert_int_equal(emgmm_hmm_load("bad.json", &m, &err),
                         EMGMM_ERR_FORMAT);
        assert_null(m);
        assert_true(strlen(err.message) > 10);
    }
    /* GMM emissions need their weights. */
    write_text("bad.json",
               "{\"emission\": \"gmm\", \"covariance_type\": \"diag\", "
               "\"startprob\": [1], \"transmat\": [[1]], \"means\": "
               "[[[0]]], \"covariances\": [[[1]]]}");
    emgmm_hmm *m = NULL;
    assert_int_equal(emgmm_hmm_load("bad.json", &m, NULL), EMGMM_ERR_FORMAT);
    /* A file with only the parameters is a valid model. */
    write_text("ok.json",
               "{\"covariance_type\": \"spherical\", \"startprob\": [0.5, "
               "0.5], \"transmat\": [[0.9, 0.1], [0.2, 0.8]], \"means\": "
               "[[0, 1], [2, 3]], \"covariances\": [1, 2]}");
    assert_int_equal(emgmm_hmm_load("ok.json", &m, NULL), EMGMM_OK);
    assert_int_equal(emgmm_hmm_n_states(m), 2);
    assert_int_equal(emgmm_hmm_n_features(m), 2);
    assert_false(m->fit.present);
    emgmm_hmm_free(&m);
    remove("bad.json");
    remove("ok.json");
}

static void test_errors(void **state)
{
    (void)state;
    double X[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    emgmm_hmm_params p;
    emgmm_hmm_params_default(&p);
    p.n_states = 2;
    emgmm_hmm *m = NULL;
    const size_t bad_len[2] = {3, 2}, zero_len[2] = {6, 0};
    assert_int_equal(emgmm_hmm_fit(&p, X, 6, 2, 2, bad_len, 2, &m, NULL),
                     EMGMM_ERR_INVALID);
    assert_int_equal(emgmm_hmm_fit(&p, X, 6, 2, 2, zero_len, 2, &m, NULL),
                     EMGMM_ERR_INVALID);
    p.emission = EMGMM_HMM_GMM;
    p.n_mix = 0;
    assert_int_equal(emgmm_hmm_fit(&p, X, 6, 2, 2, NULL, 0, &m, NULL),
                     EMGMM_ERR_INVALID);
    p.n_mix = 1;
    p.emission = EMGMM_HMM_GAUSSIAN;
    strcpy(p.params, "stx");
    assert_int_equal(emgmm_hmm_fit(&p, X, 6, 2, 2, NULL, 0, &m, NULL),
                     EMGMM_ERR_INVALID);
    strcpy(p.params, "stmcw");
    strcpy(p.init_params, "st"); /* nothing to take m and c from */
    assert_int_equal(emgmm_hmm_fit(&p, X, 6, 2, 2, NULL, 0, &m, NULL),
                     EMGMM_ERR_INVALID);
    strcpy(p.init_params, "stmcw");
    X[5] = NAN;
    assert_int_equal(emgmm_hmm_fit(&p, X, 6, 2, 2, NULL, 0, &m, NULL),
                     EMGMM_ERR_NONFINITE);
    assert_null(m);
}

/* Every allocation of a fit (with restarts), of the inference calls and
 * of save/load can fail: EMGMM_ERR_NOMEM, nothing leaked. */
static void test_allocation_failures(void **state)
{
    (void)state;
    naive_hmm h = random_model(EMGMM_COVARIANCE_FULL, 81);
    const size_t n = 40;
    double *X = draw(&h, n, 4, 0.0);
    emgmm_hmm *m = to_model(&h);
    assert_int_equal(emgmm_hmm_save(m, "alloc.json"), EMGMM_OK);
    const long live = emgmm__live_allocations();
    int points = 0;
    for (long i = 1; i < 1000; i++) {
        emgmm_hmm_params p;
        emgmm_hmm_params_default(&p);
        p.n_states = 3;
        p.covariance_type = EMGMM_COVARIANCE_FULL;
        p.n_init = 2;
        p.max_iter = 2;
        emgmm_hmm *fit = NULL, *loaded = NULL;
        double ll, proba[40 * 3], Y[40 * 3];
        int32_t path[40];
        emgmm__fail_allocation_after(i);
        int rc = emgmm_hmm_fit(&p, X, n, 3, 3, NULL, 0, &fit, NULL);
        if (rc == EMGMM_OK)
            rc = emgmm_hmm_score(m, X, n, 3, NULL, 0, &ll);
        if (rc == EMGMM_OK)
            rc = emgmm_hmm_predict_proba(m, X, n, 3, NULL, 0, proba);
        if (rc == EMGMM_OK)
            rc = emgmm_hmm_decode(m, X, n, 3, NULL, 0, path, &ll);
        if (rc == EMGMM_OK) {
            /* With gaps (and GMM emissions, in the next call). */
            emgmm_hmm_free(&fit);
            memcpy(Y, X, sizeof Y);
            Y[4] = Y[20] = NAN;
            p.missing = 1;
            p.n_init = 1;
            rc = emgmm_hmm_fit(&p, Y, n, 3, 3, NULL, 0, &fit, NULL);
            if (rc == EMGMM_OK)
                rc = emgmm_hmm_score_missing(m, Y, n, 3, NULL, 0, &ll);
            p.missing = 0;
        }
        if (rc == EMGMM_OK) {
            emgmm_hmm_free(&fit);
            p.emission = EMGMM_HMM_GMM;
            p.n_mix = 2;
            rc = emgmm_hmm_fit(&p, X, n, 3, 3, NULL, 0, &fit, NULL);
        }
        if (rc == EMGMM_OK)
            rc = emgmm_hmm_sample(m, n, 1, Y, NULL) == EMGMM_OK
                     ? emgmm_hmm_load("alloc.json", &loaded, NULL)
                     : EMGMM_ERR_NOMEM;
        emgmm__fail_allocation_after(0);
        emgmm_hmm_free(&fit);
        emgmm_hmm_free(&loaded);
        if (rc == EMGMM_OK)
            break;
        assert_int_equal(rc, EMGMM_ERR_NOMEM);
        assert_int_equal(emgmm__live_allocations(), live);
        points++;
    }
    assert_true(points > 20);
    emgmm_hmm_free(&m);
    free(X);
    naive_free(&h);
    remove("alloc.json");
}

/* Gaussian-mixture emissions (GMMHMM): score, posteriors, Viterbi and
 * three Baum-Welch iterations against the textbook, every type, with
 * GMMHMM's default priors and with set ones; a save/load round trip. */
static void test_gmm_matches_textbook(void **state)
{
    /* Enough rows that no component collapses onto a few points in three
     * iterations (then both sides would only agree to the conditioning of
     * a nearly singular covariance). */
    static const size_t GLEN[3] = {40, 50, 30};
    (void)state;
    for (int t = 0; t < 4; t++)
        for (int priors = 0; priors < 2; priors++) {
            naive_hmm h = random_gmm_model(TYPES[t], 2, 91 + (uint64_t)t);
            const size_t n = 120, k = h.k;
            double *X = draw(&h, n, 5, 0.0);
            emgmm_hmm *start = to_model(&h);
            /* Inference. */
            double *lb = naive_emissions(&h, X, n);
            double *g = calloc(n * k, sizeof(double));
            double xi[9] = {0}, want = 0.0, want_lp = 0.0;
            int32_t path[120], want_path[120];
            for (size_t q = 0, a0 = 0; q < 3; a0 += GLEN[q], q++) {
                want += naive_fb(&h, lb, a0, GLEN[q], g, xi);
                want_lp += naive_viterbi(&h, lb, a0, GLEN[q], want_path);
            }
            double ll, lp, proba[120 * 3];
            assert_int_equal(emgmm_hmm_score(start, X, n, 3, GLEN, 3, &ll),
                             EMGMM_OK);
            assert_close(ll, want, 1e-11, 0);
            assert_int_equal(
                emgmm_hmm_predict_proba(start, X, n, 3, GLEN, 3, proba),
                EMGMM_OK);
            for (size_t i = 0; i < n * k; i++)
                assert_close(proba[i], g[i], 0, 1e-10);
            assert_int_equal(
                emgmm_hmm_decode(start, X, n, 3, GLEN, 3, path, &lp),
                EMGMM_OK);
            assert_memory_equal(path, want_path, sizeof path);
            assert_close(lp, want_lp, 1e-11, 0);
            free(lb);
            free(g);
            /* Baum-Welch. */
            emgmm_hmm_params p;
            emgmm_hmm_params_default(&p);
            p.init_model = start;
            p.init_params[0] = '\0';
            p.tol = -1.0;
            p.max_iter = 3;
            if (priors) {
                p.weights_prior = 1.5;
                p.means_prior = 0.5;
                p.means_weight = 2.0;
                p.covars_prior = TYPES[t] == EMGMM_COVARIANCE_FULL ||
                                         TYPES[t] == EMGMM_COVARIANCE_TIED
                                     ? 0.2
                                     : 1.0;
                p.covars_weight = TYPES[t] == EMGMM_COVARIANCE_FULL ||
                                          TYPES[t] == EMGMM_COVARIANCE_TIED
                                      ? 4.0
                                      : 0.5;
            }
            emgmm_hmm *fit = NULL;
            emgmm_hmm_fit_info info;
            assert_int_equal(
                emgmm_hmm_fit(&p, X, n, 3, 3, GLEN, 3, &fit, &info), EMGMM_OK);
            double last = 0.0;
            for (int it = 0; it < 3; it++)
                last = naive_iteration(&h, X, n, GLEN, 3, &p);
            assert_close(info.last_estep, last, 1e-10, 0);
            expect_model_close(fit, &h, 1e-9);
            /* Save and load: the same bits. */
            assert_int_equal(emgmm_hmm_save(fit, "gmm.json"), EMGMM_OK);
            emgmm_hmm *back = NULL;
            emgmm_error err;
            assert_int_equal(emgmm_hmm_load("gmm.json", &back, &err),
                             EMGMM_OK);
            assert_int_equal(emgmm_hmm_get_emission(back), EMGMM_HMM_GMM);
            assert_int_equal(emgmm_hmm_n_mix(back), 2);
            assert_memory_equal(emgmm_hmm_weights(back),
                                emgmm_hmm_weights(fit), 6 * sizeof(double));
            assert_memory_equal(emgmm_hmm_means(back), emgmm_hmm_means(fit),
                                18 * sizeof(double));
            const size_t n_cov = TYPES[t] == EMGMM_COVARIANCE_TIED
                                     ? 27
                                     : 3 * cov_size(TYPES[t], 2, 3);
            assert_memory_equal(emgmm_hmm_covariances(back),
                                emgmm_hmm_covariances(fit),
                                n_cov * sizeof(double));
            remove("gmm.json");
            emgmm_hmm_free(&back);
            emgmm_hmm_free(&fit);
            emgmm_hmm_free(&start);
            free(X);
            naive_free(&h);
        }
}

/* GMM emissions from the library's own initialisation: monotone without
 * priors, and a model that generated the data is found again. */
static void test_gmm_fit_from_data(void **state)
{
    (void)state;
    for (int t = 0; t < 4; t++) {
        naive_hmm h = random_gmm_model(TYPES[t], 2, 101 + (uint64_t)t);
        /* States apart (centres 6 apart), their two components 3 apart. */
        for (size_t s = 0; s < 3; s++)
            for (size_t q = 0; q < 2; q++)
                for (size_t j = 0; j < 3; j++)
                    h.mu[(s * 2 + q) * 3 + j] =
                        6.0 * (double)s + (j == 0 ? 3.0 * (double)q : 0.0);
        const size_t n = 1500;
        double *X = draw(&h, n, 23, 0.0);
        emgmm_hmm_params p;
        emgmm_hmm_params_default(&p);
        p.emission = EMGMM_HMM_GMM;
        p.n_states = 3;
        p.n_mix = 2;
        p.covariance_type = TYPES[t];
        p.max_iter = 200;
        history hs = {0};
        p.progress = record;
        p.progress_data = &hs;
        emgmm_hmm *fit = NULL;
        emgmm_hmm_fit_info info;
        const size_t len[2] = {700, 800};
        assert_int_equal(emgmm_hmm_fit(&p, X, n, 3, 3, len, 2, &fit, &info),
                         EMGMM_OK);
        /* GMMHMM's default priors make the update maximum likelihood
         * except for spherical (README): monotone for the other three. */
        for (int i = 1; TYPES[t] != EMGMM_COVARIANCE_SPHERICAL && i < hs.n;
             i++)
            assert_true(hs.ll[i] >= hs.ll[i - 1] - 1e-9 * fabs(hs.ll[i]));
        emgmm_hmm *truth = to_model(&h);
        double ll_truth;
        assert_int_equal(emgmm_hmm_score(truth, X, n, 3, len, 2, &ll_truth),
                         EMGMM_OK);
        print_message("%s: fit %.3f truth %.3f iters %d\n", emgmm_covariance_type_name(TYPES[t]), info.log_likelihood, ll_truth, info.n_iter);
        /* At least as likely as the generating model, up to a little. */
        assert_true(info.log_likelihood > ll_truth - 0.01 * fabs(ll_truth));
        emgmm_hmm_free(&truth);
        emgmm_hmm_free(&fit);
        free(X);
        naive_free(&h);
    }
}

/* Missing values (Gaussian emissions): inference and three Baum-Welch
 * iterations against the textbook's marginal densities and expected
 * statistics (explicit sub-matrix inverses), every type, with gaps of
 * every kind (one value observed, none observed); and without any NaN,
 * missing = 1 is the ordinary fit bit for bit. */
static void test_missing_matches_textbook(void **state)
{
    (void)state;
    static const size_t GLEN[3] = {30, 45, 25};
    const size_t n = 100, d = 3;
    for (int t = 0; t < 4; t++) {
        naive_hmm h = random_model(TYPES[t], 111 + (uint64_t)t);
        double *X = draw(&h, n, 31, 0.0);
        double *complete = malloc(n * d * sizeof(double));
        memcpy(complete, X, n * d * sizeof(double));
        test_rng r = {7 + (uint64_t)t};
        for (size_t i = 0; i < n * d; i++)
            if (test_rng_uniform(&r) < 0.2)
                X[i] = NAN;
        X[5 * d] = X[5 * d + 1] = X[5 * d + 2] = NAN; /* nothing observed */
        X[9 * d + 1] = X[9 * d + 2] = NAN;             /* one observed */
        X[9 * d] = 0.25;
        emgmm_hmm *start = to_model(&h);
        /* Inference. */
        double *lb = naive_gappy_emissions(&h, X, n);
        double *g = calloc(n * 3, sizeof(double));
        double xi[9] = {0}, want = 0.0, want_lp = 0.0;
        int32_t path[100], want_path[100];
        for (size_t q = 0, a0 = 0; q < 3; a0 += GLEN[q], q++) {
            want += naive_fb(&h, lb, a0, GLEN[q], g, xi);
            want_lp += naive_viterbi(&h, lb, a0, GLEN[q], want_path);
        }
        double ll, lp, proba[300];
        assert_int_equal(emgmm_hmm_score(start, X, n, d, GLEN, 3, &ll),
                         EMGMM_ERR_NONFINITE);
        assert_int_equal(
            emgmm_hmm_score_missing(start, X, n, d, GLEN, 3, &ll), EMGMM_OK);
        assert_close(ll, want, 1e-11, 0);
        assert_int_equal(emgmm_hmm_predict_proba_missing(start, X, n, d,
                                                         GLEN, 3, proba),
                         EMGMM_OK);
        for (size_t i = 0; i < n * 3; i++)
            assert_close(proba[i], g[i], 0, 1e-10);
        assert_int_equal(emgmm_hmm_decode_missing(start, X, n, d, GLEN, 3,
                                                  path, &lp),
                         EMGMM_OK);
        assert_memory_equal(path, want_path, sizeof path);
        assert_close(lp, want_lp, 1e-11, 0);
        free(lb);
        free(g);
        /* Baum-Welch. */
        emgmm_hmm_params p;
        emgmm_hmm_params_default(&p);
        p.init_model = start;
        p.init_params[0] = '\0';
        p.tol = -1.0;
        p.max_iter = 3;
        p.missing = 1;
        emgmm_hmm *fit = NULL;
        emgmm_hmm_fit_info info;
        assert_int_equal(
            emgmm_hmm_fit(&p, X, n, d, d, GLEN, 3, &fit, &info), EMGMM_OK);
        naive_hmm h2 = random_model(TYPES[t], 111 + (uint64_t)t);
        double last = 0.0;
        for (int it = 0; it < 3; it++)
            last = naive_gappy_iteration(&h2, X, n, GLEN, 3, &p);
        assert_close(info.last_estep, last, 1e-10, 0);
        expect_model_close(fit, &h2, 1e-9);
        emgmm_hmm_free(&fit);
        /* No NaN: missing = 1 changes nothing. */
        emgmm_hmm *a = NULL, *b = NULL;
        assert_int_equal(emgmm_hmm_fit(&p, complete, n, d, d, GLEN, 3, &a,
                                       NULL),
                         EMGMM_OK);
        p.missing = 0;
        assert_int_equal(emgmm_hmm_fit(&p, complete, n, d, d, GLEN, 3, &b,
                                       NULL),
                         EMGMM_OK);
        assert_memory_equal(emgmm_hmm_means(a), emgmm_hmm_means(b),
                            9 * sizeof(double));
        assert_memory_equal(emgmm_hmm_covariances(a),
                            emgmm_hmm_covariances(b),
                            cov_size(TYPES[t], 3, d) * sizeof(double));
        emgmm_hmm_free(&a);
        emgmm_hmm_free(&b);
        emgmm_hmm_free(&start);
        free(X);
        free(complete);
        naive_free(&h);
        naive_free(&h2);
    }
}

/* A column with nothing observed is invalid; GMM emissions with gaps are
 * not supported yet; infinity stays an error. */
static void test_missing_errors(void **state)
{
    (void)state;
    double X[12] = {0, NAN, 1, NAN, 2, NAN, 3, NAN, 4, NAN, 5, NAN};
    emgmm_hmm_params p;
    emgmm_hmm_params_default(&p);
    p.n_states = 2;
    p.missing = 1;
    emgmm_hmm *m = NULL;
    assert_int_equal(emgmm_hmm_fit(&p, X, 6, 2, 2, NULL, 0, &m, NULL),
                     EMGMM_ERR_INVALID);
    X[1] = 1.0;
    X[4] = INFINITY;
    assert_int_equal(emgmm_hmm_fit(&p, X, 6, 2, 2, NULL, 0, &m, NULL),
                     EMGMM_ERR_NONFINITE);
    X[4] = 2.0;
    p.emission = EMGMM_HMM_GMM;
    assert_int_equal(emgmm_hmm_fit(&p, X, 6, 2, 2, NULL, 0, &m, NULL),
                     EMGMM_ERR_UNSUPPORTED);
    assert_null(m);
}

/* The policies where hmmlearn would put NaN or zeros into a model: a
 * state that no row visits keeps its mean and covariance, and its
 * transition row (without counts) its values; a covariance that stops
 * being positive definite (a state whose rows are fewer than its
 * dimensions, without a prior) gets min_covar on its diagonal. Each is
 * counted, and every parameter stays finite. */
static void test_degenerate_policies(void **state)
{
    (void)state;
    const size_t d = 3, n = 60;
    /* Rows near 0 and near 10 (two states' worth); a third state at 1e3
     * explains none of them. */
    double *X = malloc(n * d * sizeof(double));
    test_rng r = {5};
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            X[i * d + j] = (i < 30 ? 0.0 : 10.0) + test_rng_normal(&r);
    const double pi[3] = {0.5, 0.4, 0.1};
    const double a[9] = {0.8, 0.1, 0.1, 0.1, 0.8, 0.1, 0.3, 0.3, 0.4};
    const double mu[9] = {0, 0, 0, 10, 10, 10, 1e3, 1e3, 1e3};
    double cov[27];
    for (size_t c = 0; c < 3; c++)
        for (size_t i = 0; i < 9; i++)
            cov[c * 9 + i] = i % 4 == 0 ? 1.0 : 0.0;
    emgmm_hmm *start = NULL;
    assert_int_equal(emgmm_hmm_create(EMGMM_COVARIANCE_FULL, 3, d, pi, a, mu,
                                      cov, &start, NULL),
                     EMGMM_OK);
    emgmm_hmm_params p;
    emgmm_hmm_params_default(&p);
    p.init_model = start;
    p.init_params[0] = '\0';
    p.tol = -1.0;
    p.max_iter = 5;
    emgmm_hmm *fit = NULL;
    emgmm_hmm_fit_info info;
    assert_int_equal(emgmm_hmm_fit(&p, X, n, d, d, NULL, 0, &fit, &info),
                     EMGMM_OK);
    assert_true(info.n_empty_states > 0);
    assert_true(info.n_kept_rows > 0);
    for (size_t j = 0; j < d; j++)
        assert_true(emgmm_hmm_means(fit)[2 * d + j] == 1e3);
    for (size_t i = 0; i < 9; i++)
        assert_true(emgmm_hmm_covariances(fit)[18 + i] == cov[18 + i]);
    for (size_t j = 0; j < 3; j++)
        assert_true(emgmm_hmm_transmat(fit)[6 + j] == a[6 + j]);
    emgmm_hmm_free(&fit);

    /* Two rows per state in three dimensions, no prior: the scatter has
     * rank one, so the covariance is floored (with 1e-3, then more). */
    double *Y = malloc(4 * d * sizeof(double));
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < d; j++)
            Y[i * d + j] = (i < 2 ? 0.0 : 10.0) + (double)(i % 2) * (1.0 + j);
    const double pi2[2] = {0.5, 0.5}, a2[4] = {0.5, 0.5, 0.5, 0.5};
    const double mu2[6] = {0, 0, 0, 10, 10, 10};
    emgmm_hmm *start2 = NULL;
    assert_int_equal(emgmm_hmm_create(EMGMM_COVARIANCE_FULL, 2, d, pi2, a2,
                                      mu2, cov, &start2, NULL),
                     EMGMM_OK);
    p.init_model = start2;
    p.covars_prior = 0.0;
    assert_int_equal(emgmm_hmm_fit(&p, Y, 4, d, d, NULL, 0, &fit, &info),
                     EMGMM_OK);
    assert_true(info.n_floored_covariances > 0);
    for (size_t i = 0; i < 18; i++)
        assert_true(isfinite(emgmm_hmm_covariances(fit)[i]));
    double ll;
    assert_int_equal(emgmm_hmm_score(fit, Y, 4, d, NULL, 0, &ll), EMGMM_OK);
    assert_true(isfinite(ll));
    emgmm_hmm_free(&fit);
    emgmm_hmm_free(&start);
    emgmm_hmm_free(&start2);
    free(X);
    free(Y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inference_matches_textbook),
        cmocka_unit_test(test_baum_welch_matches_textbook),
        cmocka_unit_test(test_structural_zeros),
        cmocka_unit_test(test_no_underflow),
        cmocka_unit_test(test_zero_density_row),
        cmocka_unit_test(test_monotone_and_converges),
        cmocka_unit_test(test_recovers_known_model),
        cmocka_unit_test(test_same_bits_any_threads),
        cmocka_unit_test(test_model_file_round_trip),
        cmocka_unit_test(test_model_file_errors),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_gmm_matches_textbook),
        cmocka_unit_test(test_gmm_fit_from_data),
        cmocka_unit_test(test_missing_matches_textbook),
        cmocka_unit_test(test_missing_errors),
        cmocka_unit_test(test_degenerate_policies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
