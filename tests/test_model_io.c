/* Model files: bit-exact save/load, atomic writes, and every malformed or
 * inconsistent file rejected with a message (and a position for syntax
 * errors). */
#include "test_util.h"
#include "naive.h"

#include "emgmm.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int make_dir(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/emgmm-model-io-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)))
            if (e->d_name[0] != '.' || strlen(e->d_name) > 2) {
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    return rmdir(dir);
}

static const char *path_in_dir(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

/* Temporary files left in the folder. */
static size_t count_temporaries(void)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp-"))
            n++;
    closedir(d);
    return n;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Random parameters with full 53-bit mantissas over a wide range of
 * exponents: the hardest case for printing and parsing. */
static emgmm_model *ugly_model(size_t k, size_t d, uint64_t seed)
{
    test_rng r = {seed};
    double *w = malloc(k * 8), *mu = malloc(k * d * 8),
           *s = malloc(k * d * d * 8);
    double total = 0.0;
    for (size_t c = 0; c < k; c++)
        total += w[c] = test_rng_uniform(&r) + 1e-3;
    for (size_t c = 0; c < k; c++)
        w[c] /= total;
    for (size_t i = 0; i < k * d; i++)
        mu[i] = test_rng_normal(&r) * pow(10.0, (double)(i % 40) - 20.0);
    for (size_t c = 0; c < k; c++)
        random_spd(&r, d, 1e-3 * (double)(c + 1), s + c * d * d);
    emgmm_model *m = NULL;
    assert_int_equal(
        emgmm_model_create(EMGMM_COVARIANCE_FULL, k, d, w, mu, s, &m, NULL),
        EMGMM_OK);
    free(w);
    free(mu);
    free(s);
    return m;
}

static void assert_same_model(const emgmm_model *a, const emgmm_model *b)
{
    size_t k = emgmm_n_components(a), d = emgmm_n_features(a);
    assert_int_equal(emgmm_n_components(b), k);
    assert_int_equal(emgmm_n_features(b), d);
    assert_memory_equal(emgmm_weights(a), emgmm_weights(b), k * 8);
    assert_memory_equal(emgmm_means(a), emgmm_means(b), k * d * 8);
    assert_memory_equal(emgmm_covariances(a), emgmm_covariances(b),
                        k * d * d * 8);
}

static void test_save_load_is_bit_exact(void **state)
{
    (void)state;
    for (size_t t = 0; t < 4; t++) {
        size_t k = 1 + t * 2, d = 1 + t * 3;
        emgmm_model *m = ugly_model(k, d, 50 + t), *back = NULL;
        const char *p = path_in_dir("model.json");
        assert_int_equal(emgmm_save(m, p), EMGMM_OK);
        emgmm_error err;
        assert_int_equal(emgmm_load(p, &back, &err), EMGMM_OK);
        assert_same_model(m, back);
        /* Saved again, the text is identical. */
        assert_int_equal(emgmm_save(back, path_in_dir("again.json")),
                         EMGMM_OK);
        emgmm_model *third = NULL;
        assert_int_equal(emgmm_load(path_in_dir("again.json"), &third, &err),
                         EMGMM_OK);
        assert_same_model(m, third);
        emgmm_free(&m);
        emgmm_free(&back);
        emgmm_free(&third);
    }
    /* The temporary files are gone. */
    assert_int_equal(count_temporaries(), 0);
}

/* Every covariance type: a fitted model saved and loaded gives back the
 * same bits, and the file holds the covariances in the type's shape. */
static void test_every_type_round_trips(void **state)
{
    (void)state;
    const size_t n = 300, d = 3, k = 2;
    double *X = malloc(n * d * sizeof(double));
    test_rng r = {21};
    for (size_t i = 0; i < n * d; i++)
        X[i] = test_rng_normal(&r) * (1.0 + (double)(i % 3)) +
               (i / d % 2 ? 6.0 : 0.0);
    static const size_t sizes[4] = {k * d * d, d * d, k * d, k};
    static const char *const shapes[4] = {
        "\"covariances\": [\n    [\n      [", "\"covariances\": [\n    [",
        "\"covariances\": [\n    [", "\"covariances\": ["};
    for (int t = 0; t < 4; t++) {
        emgmm_params p;
        emgmm_params_default(&p);
        p.n_components = (int)k;
        p.covariance_type = (emgmm_covariance_type)t;
        emgmm_model *m = NULL, *back = NULL;
        assert_int_equal(emgmm_fit(&p, X, n, d, d, &m, NULL), EMGMM_OK);
        const char *path = path_in_dir("typed.json");
        assert_int_equal(emgmm_save(m, path), EMGMM_OK);
        emgmm_error err;
        assert_int_equal(emgmm_load(path, &back, &err), EMGMM_OK);
        assert_int_equal(emgmm_get_covariance_type(back), t);
        assert_memory_equal(emgmm_weights(m), emgmm_weights(back), k * 8);
        assert_memory_equal(emgmm_means(m), emgmm_means(back), k * d * 8);
        assert_memory_equal(emgmm_covariances(m), emgmm_covariances(back),
                            sizes[t] * 8);
        FILE *f = fopen(path, "r");
        char text[4096];
        size_t len = fread(text, 1, sizeof text - 1, f);
        text[len] = '\0';
        fclose(f);
        if (!strstr(text, shapes[t]))
            fail_msg("%s: covariances not in the expected shape:\n%s",
                     emgmm_covariance_type_name(p.covariance_type), text);
        double a, b;
        assert_int_equal(emgmm_score(m, X, n, d, &a), EMGMM_OK);
        assert_int_equal(emgmm_score(back, X, n, d, &b), EMGMM_OK);
        assert_memory_equal(&a, &b, sizeof a);
        emgmm_free(&m);
        emgmm_free(&back);
    }
    free(X);
}

static void test_fit_record_round_trip(void **state)
{
    (void)state;
    size_t n = 200;
    double *X = malloc(n * 2 * 8);
    test_rng r = {3};
    for (size_t i = 0; i < 2 * n; i++)
        X[i] = test_rng_normal(&r) + (i % 4 < 2 ? 5.0 : 0.0);
    emgmm_params p;
    emgmm_params_default(&p);
    p.n_components = 2;
    p.seed = 77;
    emgmm_model *m = NULL, *back = NULL;
    assert_int_equal(emgmm_fit(&p, X, n, 2, 2, &m, NULL), EMGMM_OK);
    const char *path = path_in_dir("fitted.json");
    assert_int_equal(emgmm_save(m, path), EMGMM_OK);
    FILE *f = fopen(path, "r");
    char text[8192];
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    fclose(f);
    assert_non_null(strstr(text, "\"fit\": {\"converged\": "));
    assert_non_null(strstr(text, "\"seed\": 77}"));
    assert_non_null(strstr(text, "\"format\": \"emgmm-model\""));
    emgmm_error err;
    assert_int_equal(emgmm_load(path, &back, &err), EMGMM_OK);
    assert_same_model(m, back);
    emgmm_free(&m);
    emgmm_free(&back);
    free(X);
}

/* A hand-written start: only the three arrays; weights within 1e-6 of
 * summing to 1 are renormalised. */
static void test_minimal_file(void **state)
{
    (void)state;
    const char *p = path_in_dir("minimal.json");
    write_text(p, "{\"weights\": [0.25, 0.7500004],\n"
                  " \"means\": [[0, 0], [3, 3]],\n"
                  " \"covariances\": [[[1, 0.5], [0.5, 1]], [[2, 0], [0, 2]]]}");
    emgmm_model *m = NULL;
    emgmm_error err;
    assert_int_equal(emgmm_load(p, &m, &err), EMGMM_OK);
    assert_int_equal(emgmm_n_components(m), 2);
    assert_int_equal(emgmm_n_features(m), 2);
    assert_close(emgmm_weights(m)[0] + emgmm_weights(m)[1], 1.0, 1e-15, 0);
    assert_close(emgmm_covariances(m)[1], 0.5, 0, 0);
    emgmm_free(&m);
}

/* emgmm_load_as: a file without "covariance_type" has the given type's
 * shape; one that names its type keeps it; emgmm_load stays full. */
static void test_load_as_default_type(void **state)
{
    (void)state;
    const char *p = path_in_dir("untyped.json");
    write_text(p, "{\"weights\": [0.5, 0.25, 0.25],\n"
                  " \"means\": [[0, 0], [3, 3], [6, 6]],\n"
                  " \"covariances\": [[1, 2], [3, 4], [5, 6]]}");
    emgmm_model *m = NULL;
    emgmm_error err;
    assert_int_equal(emgmm_load_as(p, EMGMM_COVARIANCE_DIAG, &m, &err),
                     EMGMM_OK);
    assert_int_equal(emgmm_get_covariance_type(m), EMGMM_COVARIANCE_DIAG);
    for (int i = 0; i < 6; i++)
        assert_close(emgmm_covariances(m)[i], i + 1.0, 0, 0);
    emgmm_free(&m);

    m = (emgmm_model *)&m; /* must be reset to NULL */
    assert_int_equal(emgmm_load(p, &m, &err), EMGMM_ERR_FORMAT);
    assert_null(m);
    assert_non_null(strstr(err.message, "k x d x d array"));
    assert_non_null(strstr(err.message, "no \"covariance_type\""));
    assert_int_equal(emgmm_load_as(p, EMGMM_COVARIANCE_SPHERICAL, &m, &err),
                     EMGMM_ERR_FORMAT);
    assert_non_null(strstr(err.message, "must be a k array"));
    assert_int_equal(emgmm_load_as(p, (emgmm_covariance_type)42, &m, &err),
                     EMGMM_ERR_INVALID);
    assert_null(m);

    p = path_in_dir("typed.json");
    write_text(p, "{\"covariance_type\": \"spherical\", \"weights\": [1],\n"
                  " \"means\": [[0, 0]], \"covariances\": [2]}");
    assert_int_equal(emgmm_load_as(p, EMGMM_COVARIANCE_TIED, &m, &err),
                     EMGMM_OK);
    assert_int_equal(emgmm_get_covariance_type(m),
                     EMGMM_COVARIANCE_SPHERICAL);
    emgmm_free(&m);
}

typedef struct bad_case {
    const char *text;
    int status;
    int line, column; /* expected position, 0 = none */
    const char *message_part;
} bad_case;

static void test_bad_files_are_rejected(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"{\n  \"weights\": [1.0],\n  \"means\": [[0, 0]],,\n}",
         EMGMM_ERR_FORMAT, 3, 21, ""},
        {"[1, 2]", EMGMM_ERR_FORMAT, 1, 1, "JSON object"},
        {"{\"format\": \"other\", \"weights\": [1], \"means\": [[0]], "
         "\"covariances\": [[[1]]]}", EMGMM_ERR_FORMAT, 0, 0, "format"},
        {"{\"weights\": [1], \"means\": [[0, 1]], \"covariances\": [[[1]]]}",
         EMGMM_ERR_FORMAT, 0, 0, "covariances"},
        {"{\"n_components\": 2, \"weights\": [1], \"means\": [[0]], "
         "\"covariances\": [[[1]]]}", EMGMM_ERR_FORMAT, 0, 0, "n_components"},
        {"{\"weights\": [1.5, -0.5], \"means\": [[0], [1]], "
         "\"covariances\": [[[1]], [[1]]]}", EMGMM_ERR_FORMAT, 0, 0,
         "negative"},
        {"{\"weights\": [0.5, 0.6], \"means\": [[0], [1]], "
         "\"covariances\": [[[1]], [[1]]]}", EMGMM_ERR_FORMAT, 0, 0, "sum"},
        {"{\"weights\": [1], \"means\": [[0, 0]], "
         "\"covariances\": [[[1, 0.5], [0.4, 1]]]}", EMGMM_ERR_FORMAT, 0, 0,
         "not symmetric"},
        {"{\"weights\": [0.5, 0.5], \"means\": [[0, 0], [1, 1]], "
         "\"covariances\": [[[1, 0], [0, 1]], [[1, 2], [2, 1]]]}",
         EMGMM_ERR_FORMAT, 0, 0, "covariances[1] is not positive definite"},
        {"{\"weights\": [1], \"means\": [[\"a\"]], \"covariances\": [[[1]]]}",
         EMGMM_ERR_FORMAT, 0, 0, "means"},
        {"{\"covariance_type\": \"diag\", \"weights\": [1], \"means\": "
         "[[0]], \"covariances\": [[[1]]]}", EMGMM_ERR_FORMAT, 0, 0,
         "k x d array"},
        {"{\"covariance_type\": \"diag\", \"weights\": [0.5, 0.5], "
         "\"means\": [[0, 0], [1, 1]], \"covariances\": [[1, 1], [1, 0]]}",
         EMGMM_ERR_FORMAT, 0, 0, "covariances[1] has a variance"},
        {"{\"covariance_type\": \"spherical\", \"weights\": [1], "
         "\"means\": [[0, 0]], \"covariances\": [-1]}", EMGMM_ERR_FORMAT, 0,
         0, "covariances[0] has a variance"},
        {"{\"covariance_type\": \"tied\", \"weights\": [0.5, 0.5], "
         "\"means\": [[0], [1]], \"covariances\": [[[1]], [[1]]]}",
         EMGMM_ERR_FORMAT, 0, 0, "d x d array"},
        {"{\"covariance_type\": \"tied\", \"weights\": [1], "
         "\"means\": [[0, 0]], \"covariances\": [[1, 2], [2, 1]]}",
         EMGMM_ERR_FORMAT, 0, 0, "tied covariance is not positive"},
        {"{\"covariance_type\": \"round\", \"weights\": [1], \"means\": "
         "[[0]], \"covariances\": [[[1]]]}", EMGMM_ERR_FORMAT, 0, 0,
         "covariance_type"},
        {"{\"version\": 2, \"weights\": [1], \"means\": [[0]], "
         "\"covariances\": [[[1]]]}", EMGMM_ERR_FORMAT, 0, 0, "version"},
        {"", EMGMM_ERR_FORMAT, 0, 0, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *p = path_in_dir("bad.json");
        write_text(p, cases[i].text);
        emgmm_model *m = (emgmm_model *)&m; /* must be reset to NULL */
        emgmm_error err;
        int rc = emgmm_load(p, &m, &err);
        if (rc != cases[i].status || !strstr(err.message,
                                             cases[i].message_part))
            fail_msg("case %zu: status %d (want %d), message '%s' (want "
                     "'%s')", i, rc, cases[i].status, err.message,
                     cases[i].message_part);
        assert_null(m);
        assert_true(strlen(err.message) > 0);
        if (cases[i].line) {
            assert_int_equal(err.line, cases[i].line);
            assert_int_equal(err.column, cases[i].column);
        }
    }
    emgmm_model *m = NULL;
    emgmm_error err;
    assert_int_equal(emgmm_load(path_in_dir("missing.json"), &m, &err),
                     EMGMM_ERR_IO);
    assert_non_null(strstr(err.message, "No such file"));
}

/* A failed save leaves nothing behind and the old file untouched. */
static void test_failed_save_changes_nothing(void **state)
{
    (void)state;
    emgmm_model *m = ugly_model(2, 2, 5);
    assert_int_equal(emgmm_save(m, "/nonexistent-dir/emgmm/m.json"),
                     EMGMM_ERR_IO);
    char p[512];
    snprintf(p, sizeof p, "%s", path_in_dir("keep.json"));
    write_text(p, "old content");
    /* Saving over an existing file replaces it whole: the old one stays
     * until the new one is complete (rename), and no temporary remains. */
    assert_int_equal(emgmm_save(m, path_in_dir("other.json")), EMGMM_OK);
    assert_int_equal(emgmm_save(m, path_in_dir("other.json")), EMGMM_OK);
    assert_int_equal(count_temporaries(), 0);

    /* A new model file gets the mode any new file would get (0666 less
     * the umask), an existing one keeps its mode. */
    mode_t old_mask = umask(022);
    struct stat st;
    unlink(path_in_dir("mode.json"));
    assert_int_equal(emgmm_save(m, path_in_dir("mode.json")), EMGMM_OK);
    assert_int_equal(stat(path_in_dir("mode.json"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(chmod(path_in_dir("mode.json"), 0600), 0);
    assert_int_equal(emgmm_save(m, path_in_dir("mode.json")), EMGMM_OK);
    assert_int_equal(stat(path_in_dir("mode.json"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    umask(old_mask);

    FILE *f = fopen(p, "r");
    char buf[32] = {0};
    assert_true(fread(buf, 1, sizeof buf - 1, f) > 0);
    fclose(f);
    assert_string_equal(buf, "old content");
    emgmm_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_save_load_is_bit_exact),
        cmocka_unit_test(test_every_type_round_trips),
        cmocka_unit_test(test_fit_record_round_trip),
        cmocka_unit_test(test_minimal_file),
        cmocka_unit_test(test_load_as_default_type),
        cmocka_unit_test(test_bad_files_are_rejected),
        cmocka_unit_test(test_failed_save_changes_nothing),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
