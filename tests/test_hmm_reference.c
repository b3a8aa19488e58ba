/*
 * emgmm's hidden Markov models against hmmlearn 0.3.3, from an identical
 * start, for the same number of Baum-Welch iterations.
 *
 * Usage: test_hmm_reference SCRIPT
 *
 * SCRIPT is tests/reference/hmmlearn_reference.py. hmmlearn is not
 * packaged by Debian: the script imports an installed one, or the copy
 * built from ../shared/peers by build-hmmlearn.sh into the folder named
 * by $HMMLEARN_PATH (scripts/test.sh builds it there when the peers
 * folder exists). When no Python with numpy and hmmlearn can be run, the
 * program says so and exits with 77, which meson reports as SKIP: nothing
 * was compared, so it must not count as a pass.
 *
 * Each case draws data from a random 3-state model (three sequences),
 * starts both from another random model, runs 10 iterations with
 * tol = -inf, and compares every parameter, the last E-step's total
 * log-likelihood (hmmlearn's monitor_.history[-1]) and the returned
 * model's score; then score, Viterbi and posteriors of one model.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "dataio.h"
#include "naive_hmm.h"

#define EXIT_SKIP 77

/* Relative tolerance against hmmlearn, the issue's: the two do the same
 * arithmetic in different orders (hmmlearn in log space with uncentred
 * sums, emgmm scaled with centred ones), which moves the 12th-14th
 * digit on these data; a formula difference (a prior in the wrong place,
 * a covariance about the old mean) moves the 2nd-4th. Entries near zero
 * are compared against the scale of their array. */
#define RTOL 1e-6

static char g_dir[] = "/tmp/emgmm-hmm-reference-XXXXXX";
static const char *g_script;
static double g_worst[5]; /* largest relative difference per type, gmm */

static const char *python(void)
{
    const char *env = getenv("EMGMM_PYTHON");
    if (env && *env)
        return env;
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3"
                                                  : "python3";
}

/* Runs PYTHON SCRIPT args... with standard output into out_path (may be
 * NULL: /dev/null); returns the exit status (127: could not run). */
static int run_script(const char *const *args, const char *out_path)
{
    const char *argv[32];
    int argc = 0;
    argv[argc++] = python();
    argv[argc++] = g_script;
    for (int i = 0; args[i]; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        if (out_path && !freopen(out_path, "w", stdout))
            _exit(126);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return 1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static void path_in(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", g_dir, name);
}

static json_t *load_json(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j)
        fail_msg("%s: %s", path, e.text);
    return j;
}

static void flatten(const json_t *v, double *out, size_t cap, size_t *count)
{
    if (json_is_number(v)) {
        assert_true(*count < cap);
        out[(*count)++] = json_number_value(v);
        return;
    }
    assert_true(json_is_array(v));
    for (size_t i = 0; i < json_array_size(v); i++)
        flatten(json_array_get(v, i), out, cap, count);
}

/* Compares ours (n values) with the JSON array `key` of ref; entries are
 * relative to the array's largest magnitude. Returns the largest
 * relative difference. */
static double compare(const char *what, const double *ours, size_t n,
                      const json_t *ref, const char *key)
{
    double theirs[256];
    size_t count = 0;
    flatten(json_object_get(ref, key), theirs, 256, &count);
    assert_int_equal(count, n);
    double scale = 0.0, worst = 0.0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(theirs[i]));
    for (size_t i = 0; i < n; i++) {
        const double rel = fabs(ours[i] - theirs[i]) / fmax(scale, 1e-300);
        if (rel > RTOL)
            fail_msg("%s %s[%zu]: emgmm %.17g, hmmlearn %.17g (relative "
                     "%.3g)",
                     what, key, i, ours[i], theirs[i], rel);
        worst = fmax(worst, rel);
    }
    return worst;
}

static double rel_diff(double a, double b)
{
    return fabs(a - b) / fmax(fabs(b), 1e-300);
}

typedef struct ref_case {
    emgmm_covariance_type type;
    int priors; /* 0: hmmlearn's defaults; 1: all set */
    const char *params;
    size_t n_mix; /* 0: GaussianHMM; else GMMHMM with n_mix components */
} ref_case;

static const size_t LEN[3] = {80, 120, 100};

static void run_case(const ref_case *rc)
{
    const size_t n = 300;
    const size_t mm = rc->n_mix;
    naive_hmm truth =
        mm ? random_gmm_model(rc->type, mm, 100 + (uint64_t)rc->type)
           : random_model(rc->type, 100 + (uint64_t)rc->type);
    naive_hmm start =
        mm ? random_gmm_model(rc->type, mm, 200 + (uint64_t)rc->type)
           : random_model(rc->type, 200 + (uint64_t)rc->type);
    /* A start in the data's region: the truth's means, moved. */
    for (size_t i = 0; i < truth.k * (mm ? mm : 1) * truth.d; i++)
        start.mu[i] = truth.mu[i] + 0.7 * ((double)(i % 3) - 1.0);
    double *X = draw(&truth, n, 17, 0.0);
    char x_path[256], l_path[256], s_path[256], o_path[256];
    path_in(x_path, sizeof x_path, "X.npy");
    path_in(l_path, sizeof l_path, "lengths.txt");
    path_in(s_path, sizeof s_path, "start.json");
    path_in(o_path, sizeof o_path, "out.json");
    char err[256];
    assert_int_equal(dataio_write_matrix(x_path, X, n, truth.d, err,
                                         sizeof err),
                     0);
    FILE *f = fopen(l_path, "w");
    assert_non_null(f);
    fprintf(f, "%zu\n%zu\n%zu\n", LEN[0], LEN[1], LEN[2]);
    fclose(f);
    emgmm_hmm *s = to_model(&start);
    assert_int_equal(emgmm_hmm_save(s, s_path), EMGMM_OK);

    emgmm_hmm_params p;
    emgmm_hmm_params_default(&p);
    p.init_model = s;
    p.init_params[0] = '\0';
    p.tol = -1.0;
    p.max_iter = 10;
    /* GMMHMM's covariance priors are inverse-Wishart (full, tied: psi,
     * nu) or inverse-gamma (diag, spherical: alpha, beta) parameters. */
    const int wishart =
        rc->type == EMGMM_COVARIANCE_FULL || rc->type == EMGMM_COVARIANCE_TIED;
    const char *cp = mm && !wishart ? "1.0" : "0.2";
    const char *cw = mm ? (wishart ? "4.0" : "0.5") : "5.0";
    if (rc->priors) {
        p.startprob_prior = 2.0;
        p.transmat_prior = 1.5;
        p.means_prior = 0.25;
        p.means_weight = 3.0;
        p.covars_prior = atof(cp);
        p.covars_weight = atof(cw);
        if (mm)
            p.weights_prior = 1.5;
    }
    snprintf(p.params, sizeof p.params, "%s", rc->params);
    const char *args_default[] = {"fit", x_path, s_path, "10", "--lengths",
                                  l_path, "--params", rc->params, NULL};
    const char *args_priors[] = {"fit", x_path, s_path, "10", "--lengths",
                                 l_path, "--params", rc->params,
                                 "--startprob-prior", "2",
                                 "--transmat-prior", "1.5", "--means-prior",
                                 "0.25", "--means-weight", "3",
                                 "--covars-prior", cp, "--covars-weight",
                                 cw, mm ? "--weights-prior" : NULL, "1.5",
                                 NULL};
    assert_int_equal(run_script(rc->priors ? args_priors : args_default,
                                o_path),
                     0);
    json_t *ref = load_json(o_path);

    emgmm_hmm *m = NULL;
    emgmm_hmm_fit_info info;
    assert_int_equal(emgmm_hmm_fit(&p, X, n, truth.d, truth.d, LEN, 3, &m,
                                   &info),
                     EMGMM_OK);
    assert_int_equal(info.n_iter, 10);
    char name[48];
    snprintf(name, sizeof name, "%s%s", mm ? "gmm " : "",
             emgmm_covariance_type_name(rc->type));
    const size_t k = truth.k, d = truth.d, m1 = mm ? mm : 1;
    const size_t n_cov = !mm ? cov_size(rc->type, k, d)
                         : rc->type == EMGMM_COVARIANCE_TIED
                             ? k * d * d
                             : k * cov_size(rc->type, mm, d);
    double worst = 0.0;
    worst = fmax(worst, compare(name, emgmm_hmm_startprob(m), k, ref,
                                "startprob"));
    worst = fmax(worst, compare(name, emgmm_hmm_transmat(m), k * k, ref,
                                "transmat"));
    if (mm)
        worst = fmax(worst, compare(name, emgmm_hmm_weights(m), k * mm, ref,
                                    "weights"));
    worst = fmax(worst, compare(name, emgmm_hmm_means(m), k * m1 * d, ref,
                                "means"));
    worst = fmax(worst, compare(name, emgmm_hmm_covariances(m), n_cov, ref,
                                "covariances"));
    const json_t *hist = json_object_get(ref, "history");
    assert_int_equal(json_array_size(hist), 10);
    const double last =
        json_number_value(json_array_get(hist, json_array_size(hist) - 1));
    const double score = json_number_value(json_object_get(ref, "score"));
    assert_close(info.last_estep, last, RTOL, 0);
    assert_close(info.log_likelihood, score, RTOL, 0);
    worst = fmax(worst, rel_diff(info.last_estep, last));
    worst = fmax(worst, rel_diff(info.log_likelihood, score));
    const int slot = mm ? 4 : (int)rc->type;
    g_worst[slot] = fmax(g_worst[slot], worst);
    printf("%-13s %-7s params %-5s: largest relative difference %.2e\n",
           name, rc->priors ? "priors" : "default", rc->params, worst);

    json_decref(ref);
    emgmm_hmm_free(&m);
    emgmm_hmm_free(&s);
    free(X);
    naive_free(&truth);
    naive_free(&start);
}

static void test_fit_every_type(void **state)
{
    (void)state;
    for (int t = 0; t < 4; t++) {
        const ref_case a = {TYPES[t], 0, "stmc", 0},
                       b = {TYPES[t], 1, "stmc", 0},
                       c = {TYPES[t], 0, "tmc", 0};
        run_case(&a);
        run_case(&b);
        run_case(&c);
    }
    for (int t = 0; t < 4; t++)
        printf("largest relative difference to hmmlearn, %s: %.2e\n",
               emgmm_covariance_type_name(TYPES[t]), g_worst[TYPES[t]]);
}

/* GMMHMM, two components per state, three sequences, every type, with
 * its default priors, set priors, and without updating the weights. */
static void test_gmm_every_type(void **state)
{
    (void)state;
    for (int t = 0; t < 4; t++) {
        const ref_case a = {TYPES[t], 0, "stmcw", 2},
                       b = {TYPES[t], 1, "stmcw", 2},
                       c = {TYPES[t], 0, "stmc", 2};
        run_case(&a);
        run_case(&b);
        run_case(&c);
    }
    printf("largest relative difference to hmmlearn, GMMHMM: %.2e\n",
           g_worst[4]);
}

/* score, Viterbi path and its log-probability, posteriors. */
static void test_inference(void **state)
{
    (void)state;
    naive_hmm h = random_model(EMGMM_COVARIANCE_FULL, 300);
    const size_t n = 300;
    double *X = draw(&h, n, 19, 0.0);
    char x_path[256], l_path[256], m_path[256], o_path[256], err[256];
    path_in(x_path, sizeof x_path, "X.npy");
    path_in(l_path, sizeof l_path, "lengths.txt");
    path_in(m_path, sizeof m_path, "model.json");
    path_in(o_path, sizeof o_path, "score.json");
    assert_int_equal(dataio_write_matrix(x_path, X, n, h.d, err, sizeof err),
                     0);
    FILE *f = fopen(l_path, "w");
    assert_non_null(f);
    fprintf(f, "%zu\n%zu\n%zu\n", LEN[0], LEN[1], LEN[2]);
    fclose(f);
    emgmm_hmm *m = to_model(&h);
    assert_int_equal(emgmm_hmm_save(m, m_path), EMGMM_OK);
    const char *args[] = {"score", m_path, x_path, "--lengths", l_path, NULL};
    assert_int_equal(run_script(args, o_path), 0);
    json_t *ref = load_json(o_path);
    double ll, lp;
    int32_t path[300];
    double proba[300 * 3];
    assert_int_equal(emgmm_hmm_score(m, X, n, h.d, LEN, 3, &ll), EMGMM_OK);
    assert_int_equal(emgmm_hmm_decode(m, X, n, h.d, LEN, 3, path, &lp),
                     EMGMM_OK);
    assert_int_equal(emgmm_hmm_predict_proba(m, X, n, h.d, LEN, 3, proba),
                     EMGMM_OK);
    assert_close(ll, json_number_value(json_object_get(ref, "log_likelihood")),
                 1e-10, 0);
    assert_close(lp,
                 json_number_value(
                     json_object_get(ref, "viterbi_log_probability")),
                 1e-10, 0);
    const json_t *states = json_object_get(ref, "viterbi_states");
    assert_int_equal(json_array_size(states), n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(path[i],
                         json_integer_value(json_array_get(states, i)));
    double theirs[900];
    size_t count = 0;
    flatten(json_object_get(ref, "posteriors"), theirs, 900, &count);
    assert_int_equal(count, n * 3);
    for (size_t i = 0; i < n * 3; i++)
        assert_close(proba[i], theirs[i], 0, 1e-10);
    json_decref(ref);
    emgmm_hmm_free(&m);
    free(X);
    naive_free(&h);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s HMMLEARN_REFERENCE_SCRIPT\n", argv[0]);
        return 2;
    }
    g_script = argv[1];
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    const char *check[] = {"check", NULL};
    const int rc = run_script(check, NULL);
    if (rc != 0) {
        printf("SKIP: hmmlearn cannot be imported by %s (%s); build it with "
               "../shared/peers/build-hmmlearn.sh and set HMMLEARN_PATH, or "
               "install it\n",
               python(), rc == 127 ? "no interpreter" : "see above");
        rmdir(g_dir);
        return EXIT_SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_every_type),
        cmocka_unit_test(test_gmm_every_type),
        cmocka_unit_test(test_inference),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    static const char *const files[] = {"X.npy", "lengths.txt", "start.json",
                                        "out.json", "model.json",
                                        "score.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[256];
        path_in(p, sizeof p, files[i]);
        remove(p);
    }
    rmdir(g_dir);
    return failed;
}
