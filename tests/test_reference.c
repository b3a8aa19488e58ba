/*
 * emgmm against scikit-learn, from an identical start.
 *
 * Usage: test_reference SCRIPT
 *
 * SCRIPT (tests/reference/sklearn_reference.py) is run once with a Python
 * that has numpy and scikit-learn, into a fresh temporary folder. For each
 * dataset it writes X.npy, init.json (an emgmm model file: the starting
 * parameters) and expected.json (scikit-learn's GaussianMixture after
 * exactly max_iter EM iterations from that start, tol=0). Each test here
 * fits the same data from the same start with the same max_iter and
 * reg_covar and compares everything scikit-learn reports.
 *
 * The Python interpreter is $EMGMM_PYTHON if set, else /usr/bin/python3
 * (Debian's, which has numpy) if it is executable, else python3 from PATH.
 * When no interpreter can be run, or numpy/scikit-learn cannot be imported,
 * the program says why and exits with 77, which meson reports as SKIP:
 * nothing has been checked, so it must not count as a pass.
 */
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "dataio.h"
#include "emgmm.h"
#include "test_util.h"

#define EXIT_SKIP 77

/* Relative tolerance for every comparison with scikit-learn. The two
 * implementations do the same arithmetic in a different order; an
 * independent NumPy EM agrees with scikit-learn to 1e-12 or better on these
 * datasets (3e-10 on the 1e6-offset data, where scikit-learn itself loses
 * digits), so 1e-6 leaves a wide margin while still catching an
 * algorithmic difference: a covariance formed as E[xx^T] - mu mu^T is off
 * by ~4e-4 on the offset data, and its score by ~2e-6. */
#define RTOL 1e-6

static char g_dir[] = "/tmp/emgmm-reference-XXXXXX";

/* ------------------------------------------------------------------ */
/* Temporary folder and the Python run                                 */
/* ------------------------------------------------------------------ */

/* Removes a folder tree written by the script (plain files and folders). */
static int remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    DIR *dir = opendir(path);
    if (dir == NULL)
        return -1;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        char *child = malloc(len);
        if (child == NULL) {
            rc = -1;
            break;
        }
        snprintf(child, len, "%s/%s", path, e->d_name);
        if (remove_tree(child) != 0)
            rc = -1;
        free(child);
    }
    closedir(dir);
    if (rmdir(path) != 0)
        rc = -1;
    return rc;
}

static const char *python_interpreter(void)
{
    const char *env = getenv("EMGMM_PYTHON");
    if (env != NULL && env[0] != '\0')
        return env;
    if (access("/usr/bin/python3", X_OK) == 0)
        return "/usr/bin/python3";
    return "python3";
}

/* Runs PYTHON SCRIPT OUTDIR. Returns 0 on success, EXIT_SKIP when the
 * interpreter cannot be started or lacks numpy/scikit-learn, 1 otherwise. */
static int run_script(const char *script, const char *outdir)
{
    const char *python = python_interpreter();
    printf("running: %s %s %s\n", python, script, outdir);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "test_reference: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        char *const args[] = {(char *)python, (char *)script, (char *)outdir,
                              NULL};
        execvp(python, args);
        fprintf(stderr, "test_reference: cannot run %s: %s\n", python,
                strerror(errno));
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "test_reference: waitpid: %s\n", strerror(errno));
            return 1;
        }
    }
    if (WIFEXITED(status)) {
        int code = WEXITSTATUS(status);
        if (code == 0)
            return 0;
        if (code == 127) {
            printf("SKIP: no Python interpreter could be run (%s); set "
                   "EMGMM_PYTHON to one with numpy and scikit-learn\n",
                   python);
            return EXIT_SKIP;
        }
        if (code == EXIT_SKIP) {
            printf("SKIP: %s lacks numpy or scikit-learn (see the message "
                   "above); set EMGMM_PYTHON to one that has them\n", python);
            return EXIT_SKIP;
        }
        fprintf(stderr, "test_reference: %s %s failed with exit status %d\n",
                python, script, code);
        return 1;
    }
    fprintf(stderr, "test_reference: %s %s was killed by signal %d\n",
            python, script, WIFSIGNALED(status) ? WTERMSIG(status) : -1);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Loading one dataset                                                 */
/* ------------------------------------------------------------------ */

typedef struct ref_case {
    const char *name;
    dataio_matrix X;
    emgmm_model *init;
    json_t *expected;
    emgmm_model *fit;
} ref_case;

static void case_path(char *buf, size_t len, const char *name,
                      const char *file)
{
    int n = snprintf(buf, len, "%s/%s/%s", g_dir, name, file);
    assert_true(n > 0 && (size_t)n < len);
}

static json_t *get_key(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        fail_msg("expected.json has no \"%s\"", key);
    return v;
}

static double get_number(const json_t *obj, const char *key)
{
    json_t *v = get_key(obj, key);
    if (!json_is_number(v))
        fail_msg("expected.json: \"%s\" is not a number", key);
    return json_number_value(v);
}

/* Appends the numbers of a nested JSON array, in row-major order, to
 * out[*count ..]; fails on anything but numbers or more than cap values. */
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

/* The array `key` of expected.json, exactly n numbers (caller frees). */
static double *get_array(const json_t *obj, const char *key, size_t n)
{
    double *a = malloc(n * sizeof *a);
    assert_non_null(a);
    size_t count = 0;
    flatten(get_key(obj, key), a, n, &count);
    if (count != n) {
        free(a);
        fail_msg("expected.json: \"%s\" has %zu numbers, not %zu", key,
                 count, n);
    }
    return a;
}

static int case_setup(void **state)
{
    ref_case *c = *state;
    char path[4096], err[512];
    dataio_read_options opts;
    memset(&opts, 0, sizeof opts);

    case_path(path, sizeof path, c->name, "X.npy");
    if (dataio_read_matrix(path, &opts, &c->X, err, sizeof err) != 0) {
        print_error("%s\n", err);
        return -1;
    }
    case_path(path, sizeof path, c->name, "init.json");
    emgmm_error e;
    int rc = emgmm_load(path, &c->init, &e);
    if (rc != EMGMM_OK) {
        print_error("%s:%d:%d: %s (%s)\n", path, e.line, e.column, e.message,
                    emgmm_strerror(rc));
        return -1;
    }
    case_path(path, sizeof path, c->name, "expected.json");
    json_error_t jerr;
    c->expected = json_load_file(path, 0, &jerr);
    if (c->expected == NULL) {
        print_error("%s:%d:%d: %s\n", path, jerr.line, jerr.column,
                    jerr.text);
        return -1;
    }
    return 0;
}

static int case_teardown(void **state)
{
    ref_case *c = *state;
    dataio_matrix_free(&c->X);
    emgmm_free(&c->init);
    emgmm_free(&c->fit);
    json_decref(c->expected);
    c->expected = NULL;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Comparisons                                                         */
/* ------------------------------------------------------------------ */

static double rel_diff(double a, double b)
{
    return fabs(a - b) / fabs(b);
}

/*
 * Element-wise comparison of got[] with want[] (n values), as the brief
 * for this test asks: |a - b| <= RTOL * max(|b|, scale), with scale the
 * largest |b| in the array (so small entries are held to the array's
 * magnitude, not to their own, which could be ~0). `den`, if not NULL,
 * gives a second, finer per-entry scale that must also hold:
 * |a - b| <= RTOL * den[i]. Prints the largest ratio of each kind.
 */
static void compare_array(const char *ds, const char *what,
                          const double *got, const double *want,
                          const double *den, size_t n)
{
    double scale = 0.0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    double worst = 0.0, worst_fine = 0.0;
    size_t at = 0, at_fine = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - want[i]);
        double r = d / fmax(fabs(want[i]), scale);
        if (!(r <= worst)) { /* also catches NaN */
            worst = r;
            at = i;
        }
        if (den != NULL) {
            double rf = d / den[i];
            if (!(rf <= worst_fine)) {
                worst_fine = rf;
                at_fine = i;
            }
        }
    }
    if (den != NULL)
        print_message("  %-12s max rel diff %.3g (to the array's largest "
                      "entry), %.3g (entry-wise)\n", what, worst, worst_fine);
    else
        print_message("  %-12s max rel diff %.3g (to the array's largest "
                      "entry)\n", what, worst);
    if (!(worst <= RTOL))
        fail_msg("%s: %s[%zu] = %.17g, scikit-learn %.17g: |diff| / %.3g = "
                 "%.3g > %g", ds, what, at, got[at], want[at], scale, worst,
                 RTOL);
    if (den != NULL && !(worst_fine <= RTOL))
        fail_msg("%s: %s[%zu] = %.17g, scikit-learn %.17g: |diff| / %.3g = "
                 "%.3g > %g", ds, what, at_fine, got[at_fine], want[at_fine],
                 den[at_fine], worst_fine, RTOL);
}

static void compare_scalar(const char *ds, const char *what, double got,
                           double want)
{
    double r = rel_diff(got, want);
    print_message("  %-12s max rel diff %.3g  (emgmm %.17g, scikit-learn "
                  "%.17g)\n", what, r, got, want);
    if (!(r <= RTOL))
        fail_msg("%s: %s = %.17g, scikit-learn %.17g: rel diff %.3g > %g", ds,
                 what, got, want, r, RTOL);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

/* Fit exactly max_iter iterations from init.json; compare everything. */
/* Number of covariance numbers of a type (SPEC section 1). */
static size_t cov_count(emgmm_covariance_type type, size_t k, size_t d)
{
    switch (type) {
    case EMGMM_COVARIANCE_FULL: return k * d * d;
    case EMGMM_COVARIANCE_TIED: return d * d;
    case EMGMM_COVARIANCE_DIAG: return k * d;
    default: return k;
    }
}

/* The variance of feature a in component j. */
static double variance(const double *cov, emgmm_covariance_type type,
                       size_t j, size_t a, size_t d)
{
    switch (type) {
    case EMGMM_COVARIANCE_FULL: return cov[(j * d + a) * d + a];
    case EMGMM_COVARIANCE_TIED: return cov[a * d + a];
    case EMGMM_COVARIANCE_DIAG: return cov[j * d + a];
    default: return cov[j];
    }
}

static void test_against_sklearn(void **state)
{
    ref_case *c = *state;
    const json_t *ex = c->expected;
    const size_t n = c->X.rows, d = c->X.cols;
    const size_t k = emgmm_n_components(c->init);

    assert_int_equal(emgmm_n_features(c->init), d);
    assert_int_equal((size_t)get_number(ex, "n_samples"), n);
    assert_int_equal((size_t)get_number(ex, "n_features"), d);
    assert_int_equal((size_t)get_number(ex, "n_components"), k);
    const int max_iter = (int)get_number(ex, "max_iter");
    const double reg_covar = get_number(ex, "reg_covar");
    assert_int_equal((int)get_number(ex, "n_iter"), max_iter);

    emgmm_params p;
    emgmm_params_default(&p);
    p.n_components = (int)k;
    p.init_model = c->init;
    p.tol = 0.0;
    p.max_iter = max_iter;
    p.reg_covar = reg_covar;

    emgmm_fit_info info;
    int rc = emgmm_fit(&p, c->X.data, n, d, d, &c->fit, &info);
    if (rc != EMGMM_OK)
        fail_msg("%s: emgmm_fit: %s (bad_component %d)", c->name,
                 emgmm_strerror(rc), info.bad_component);
    assert_non_null(c->fit);

    print_message("%s: N=%zu D=%zu K=%zu max_iter=%d reg_covar=%g\n",
                  c->name, n, d, k, max_iter, reg_covar);
    assert_int_equal(info.n_iter, max_iter);
    assert_int_equal(info.converged, 0);

    /* The mean log-likelihood of the returned model: scikit-learn's
     * score(X) after fit, both as reported by the fit and recomputed. */
    compare_scalar(c->name, "score", info.log_likelihood,
                   get_number(ex, "score"));
    double score = 0.0;
    assert_int_equal(emgmm_score(c->fit, c->X.data, n, d, &score), EMGMM_OK);
    compare_scalar(c->name, "emgmm_score", score, get_number(ex, "score"));
    compare_scalar(c->name, "lower_bound", info.lower_bound,
                   get_number(ex, "lower_bound"));

    double bic = 0.0, aic = 0.0;
    assert_int_equal(emgmm_bic(c->fit, c->X.data, n, d, &bic), EMGMM_OK);
    assert_int_equal(emgmm_aic(c->fit, c->X.data, n, d, &aic), EMGMM_OK);
    compare_scalar(c->name, "bic", bic, get_number(ex, "bic"));
    compare_scalar(c->name, "aic", aic, get_number(ex, "aic"));

    const emgmm_covariance_type type = emgmm_get_covariance_type(c->fit);
    const size_t cs = cov_count(type, k, d);
    double *w = get_array(ex, "weights", k);
    double *mu = get_array(ex, "means", k * d);
    double *cov = get_array(ex, "covariances", cs);
    double *den_mu = malloc(k * d * sizeof *den_mu);
    double *den_cov = malloc(cs * sizeof *den_cov);
    assert_non_null(den_mu);
    assert_non_null(den_cov);
    /* Finer, scale-free checks: a mean to max(|mean|, the component's
     * standard deviation in that feature); a covariance entry to
     * sqrt(S_ii S_jj) (>= |S_ij|), i.e. correlations to RTOL, and a
     * variance to itself. These hold whatever the units of each feature
     * (wine mixes ~1e3 and ~0.1). */
    for (size_t j = 0; j < k; j++)
        for (size_t a = 0; a < d; a++)
            den_mu[j * d + a] =
                fmax(fabs(mu[j * d + a]), sqrt(variance(cov, type, j, a, d)));
    if (type == EMGMM_COVARIANCE_FULL || type == EMGMM_COVARIANCE_TIED) {
        for (size_t j = 0; j < cs / (d * d); j++) {
            const double *s = cov + j * d * d;
            for (size_t a = 0; a < d; a++)
                for (size_t b = 0; b < d; b++)
                    den_cov[(j * d + a) * d + b] =
                        sqrt(s[a * d + a] * s[b * d + b]);
        }
    } else {
        for (size_t i = 0; i < cs; i++)
            den_cov[i] = fabs(cov[i]);
    }
    compare_array(c->name, "weights", emgmm_weights(c->fit), w, NULL, k);
    compare_array(c->name, "means", emgmm_means(c->fit), mu, den_mu, k * d);
    compare_array(c->name, "covariances", emgmm_covariances(c->fit), cov,
                  den_cov, cs);
    free(w);
    free(mu);
    free(cov);
    free(den_mu);
    free(den_cov);
}

/* max_iter = 0 with a starting model returns that model, bit for bit, and
 * the starting model is the file's numbers, bit for bit (weights may be
 * renormalised by the loader, which moves them by an ulp at most). */
static void test_max_iter_zero(void **state)
{
    ref_case *c = *state;
    const size_t n = c->X.rows, d = c->X.cols;
    const size_t k = emgmm_n_components(c->init);

    char path[4096];
    case_path(path, sizeof path, c->name, "init.json");
    json_error_t jerr;
    json_t *file = json_load_file(path, 0, &jerr);
    assert_non_null(file);
    const size_t cs = cov_count(emgmm_get_covariance_type(c->init), k, d);
    double *w = get_array(file, "weights", k);
    double *mu = get_array(file, "means", k * d);
    double *cov = get_array(file, "covariances", cs);
    json_decref(file);
    assert_memory_equal(emgmm_means(c->init), mu, k * d * sizeof *mu);
    assert_memory_equal(emgmm_covariances(c->init), cov, cs * sizeof *cov);
    for (size_t j = 0; j < k; j++)
        assert_close(emgmm_weights(c->init)[j], w[j], 4 * DBL_EPSILON, 0.0);
    free(w);
    free(mu);
    free(cov);

    emgmm_params p;
    emgmm_params_default(&p);
    p.init_model = c->init;
    p.max_iter = 0;
    p.tol = 0.0;
    p.reg_covar = get_number(c->expected, "reg_covar");
    emgmm_fit_info info;
    int rc = emgmm_fit(&p, c->X.data, n, d, d, &c->fit, &info);
    if (rc != EMGMM_OK)
        fail_msg("%s: emgmm_fit(max_iter=0): %s", c->name,
                 emgmm_strerror(rc));
    assert_int_equal(info.n_iter, 0);
    assert_int_equal(emgmm_n_components(c->fit), k);
    assert_int_equal(emgmm_n_features(c->fit), d);
    assert_memory_equal(emgmm_weights(c->fit), emgmm_weights(c->init),
                        k * sizeof(double));
    assert_memory_equal(emgmm_means(c->fit), emgmm_means(c->init),
                        k * d * sizeof(double));
    assert_memory_equal(emgmm_covariances(c->fit),
                        emgmm_covariances(c->init), cs * sizeof(double));
    /* Its log-likelihood is that of the starting model. */
    double score = 0.0;
    assert_int_equal(emgmm_score(c->init, c->X.data, n, d, &score), EMGMM_OK);
    assert_close(info.log_likelihood, score, 1e-12, 0.0);
    print_message("%s: max_iter=0 returns the starting model bit for bit\n",
                  c->name);
}

/* The names sklearn_reference.py writes (see its dataset_list). */
#define N_DATASETS 15
static const char *const dataset_names[N_DATASETS] = {
    "synthetic", "iris", "wine", "digits", "digits_reg", "offset",
    "synthetic_tied", "iris_tied", "digits_reg_tied",
    "synthetic_diag", "iris_diag", "digits_reg_diag",
    "synthetic_spherical", "iris_spherical", "digits_reg_spherical"};

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s tests/reference/sklearn_reference.py\n",
                argv[0]);
        return 1;
    }
    if (mkdtemp(g_dir) == NULL) {
        fprintf(stderr, "test_reference: mkdtemp %s: %s\n", g_dir,
                strerror(errno));
        return 1;
    }
    int rc = run_script(argv[1], g_dir);
    if (rc != 0) {
        remove_tree(g_dir);
        return rc;
    }

    ref_case fits[N_DATASETS], zeros[N_DATASETS];
    struct CMUnitTest tests[2 * N_DATASETS];
    char names[2 * N_DATASETS][64];
    for (size_t i = 0; i < N_DATASETS; i++) {
        memset(&fits[i], 0, sizeof fits[i]);
        memset(&zeros[i], 0, sizeof zeros[i]);
        fits[i].name = zeros[i].name = dataset_names[i];
        snprintf(names[i], sizeof names[i], "sklearn_%s", dataset_names[i]);
        snprintf(names[N_DATASETS + i], sizeof names[0], "max_iter_0_%s",
                 dataset_names[i]);
        tests[i] = (struct CMUnitTest){names[i], test_against_sklearn,
                                       case_setup, case_teardown, &fits[i]};
        tests[N_DATASETS + i] = (struct CMUnitTest){
            names[N_DATASETS + i], test_max_iter_zero, case_setup,
            case_teardown, &zeros[i]};
    }
    rc = cmocka_run_group_tests_name("reference", tests, NULL, NULL);
    if (remove_tree(g_dir) != 0)
        fprintf(stderr, "test_reference: could not remove %s\n", g_dir);
    return rc == 0 ? 0 : 1;
}
