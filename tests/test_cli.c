/*
 * The emgmm program end to end: runs it (argv[1]) in a fresh temporary
 * folder per test, captures standard output, standard error and the exit
 * status, and checks outputs with the library, the data readers and
 * jansson. argv[2] is the source root (for the demo data set).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#ifdef EMGMM_HAVE_HDF5
#include <hdf5.h>
#endif

#include "emgmm.h"
#include "emgmm_hmm.h"
#include "dataio.h"
#include "test_util.h"

extern char **environ;

static char g_prog[PATH_MAX]; /* the emgmm program */
static char g_src[PATH_MAX];  /* the source root */
static char g_root[64];       /* our temporary folder */
static char g_dir[PATH_MAX];  /* the current test's folder, inside it */

#define N_ROWS 200 /* rows of data.csv: two groups of 100 */

/* A result of the program compared with the same computation made in
 * this process. In the valgrind suite the program runs on other BLAS
 * kernels than this process (valgrind does not pass AVX-512 through, so
 * OpenBLAS picks its AVX2 kernels under it on an AVX-512 CPU), and the
 * last bits of every product differ: only agreement to rounding, grown
 * by a fit's iterations, is promised, relative to the scale of the
 * values compared. A real difference (another fit, another formula) is
 * many orders of magnitude larger. */
#define OTHER_PROCESS_RTOL 1e-12

/* ------------------------------------------------------------------ */
/* Files and folders                                                   */
/* ------------------------------------------------------------------ */

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the current folder, sorted, one a line (caller frees). */
static char *list_dir(void)
{
    DIR *d = opendir(".");
    assert_non_null(d);
    char *names[256];
    int n = 0;
    size_t total = 1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        assert_true(n < 256);
        names[n] = strdup(e->d_name);
        assert_non_null(names[n]);
        total += strlen(names[n]) + 1;
        n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    char *s = malloc(total);
    assert_non_null(s);
    s[0] = '\0';
    for (int i = 0; i < n; i++) {
        strcat(s, names[i]);
        strcat(s, "\n");
        free(names[i]);
    }
    return s;
}

static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d != NULL) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 ||
                    strcmp(e->d_name, "..") == 0)
                    continue;
                char sub[PATH_MAX];
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                remove_tree(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* ------------------------------------------------------------------ */
/* Running the program                                                 */
/* ------------------------------------------------------------------ */

typedef struct run_result {
    int status; /* exit status, or 128 + signal */
    char *out;
    size_t out_len;
    char *err;
} run_result;

static void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

/* argv for running the program: under EMGMM_TEST_VALGRIND=1 every command
 * runs under valgrind memcheck (its report goes to a file, and any error
 * or leak turns the exit status into 99, which no expectation accepts).
 * Every run of a test goes through here, so that two results a test
 * compares bit for bit come from the same BLAS kernels: valgrind does not
 * pass AVX-512 through, so OpenBLAS picks other kernels under it than
 * natively on such a CPU, and the last bits differ. log_opt is storage
 * for the valgrind option. Returns the number of entries (NULL-ended). */
static int program_argv(const char **argv, int max, char *log_opt,
                        size_t log_len, const char *const *args)
{
    int argc = 0;
    if (getenv("EMGMM_TEST_VALGRIND") != NULL) {
        snprintf(log_opt, log_len, "--log-file=%s/valgrind-%%p.log", g_root);
        argv[argc++] = "valgrind";
        argv[argc++] = "-q";
        argv[argc++] = "--error-exitcode=99";
        argv[argc++] = "--leak-check=full";
        argv[argc++] = "--errors-for-leak-kinds=definite,indirect";
        argv[argc++] = log_opt;
    }
    argv[argc++] = g_prog;
    for (int i = 0; args[i] != NULL; i++) {
        assert_true(argc < max - 1);
        argv[argc++] = args[i];
    }
    argv[argc] = NULL;
    return argc;
}

/* Starts the program (see program_argv) with the given standard streams
 * (NULL: /dev/null in, err to /dev/null) and environment; returns its pid. */
static pid_t spawn_program(const char *in, const char *out, const char *err,
                           char *const *env, const char *const *args)
{
    const char *argv[64];
    char log_opt[PATH_MAX + 32];
    program_argv(argv, 64, log_opt, sizeof log_opt, args);
    posix_spawn_file_actions_t fa;
    assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
    assert_int_equal(posix_spawn_file_actions_addopen(
                         &fa, 0, in ? in : "/dev/null", O_RDONLY, 0), 0);
    assert_int_equal(posix_spawn_file_actions_addopen(
                         &fa, 1, out ? out : "/dev/null",
                         O_WRONLY | O_CREAT | O_TRUNC, 0644), 0);
    assert_int_equal(posix_spawn_file_actions_addopen(
                         &fa, 2, err ? err : "/dev/null",
                         O_WRONLY | O_CREAT | O_TRUNC, 0644), 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv,
                          env ? env : environ);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(rc, 0);
    return pid;
}

/* Waits for pid; its exit status, or 128 + the signal that ended it. */
static int wait_program(pid_t pid)
{
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        assert_int_equal(errno, EINTR);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* Runs emgmm with args (NULL-terminated), standard input from `in`
 * (NULL: /dev/null), in the current folder. Output is captured in files
 * outside it, so that the folder holds only what the program wrote. */
static void run_env(run_result *r, const char *in, char *const *env,
                    const char *const *args)
{
    char out_path[PATH_MAX + 16], err_path[PATH_MAX + 16];
    snprintf(out_path, sizeof out_path, "%s/stdout.txt", g_root);
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", g_root);
    pid_t pid = spawn_program(in, out_path, err_path, env, args);
    memset(r, 0, sizeof *r);
    r->status = wait_program(pid);
    r->out = read_all(out_path, &r->out_len);
    r->err = read_all(err_path, NULL);
    assert_non_null(r->out);
    assert_non_null(r->err);
}

static void run_in(run_result *r, const char *in, const char *const *args)
{
    run_env(r, in, NULL, args);
}

#define RUN(r, ...) run_in((r), NULL, (const char *const[]){__VA_ARGS__, NULL})
#define RUN_STDIN(r, in, ...) \
    run_in((r), (in), (const char *const[]){__VA_ARGS__, NULL})

static void show(const run_result *r)
{
    print_message("exit %d\n--- stdout ---\n%.2000s\n--- stderr ---\n%s\n",
                  r->status, r->out, r->err);
}

static void expect_status(const run_result *r, int status)
{
    if (r->status != status)
        show(r);
    assert_int_equal(r->status, status);
}

/* Exactly one line on standard error, starting with "emgmm: ". */
static void expect_one_error_line(const run_result *r)
{
    size_t len = strlen(r->err);
    if (len == 0 || r->err[len - 1] != '\n' ||
        strchr(r->err, '\n') != r->err + len - 1 ||
        strncmp(r->err, "emgmm: ", 7) != 0)
        show(r);
    assert_true(len > 7);
    assert_int_equal(strncmp(r->err, "emgmm: ", 7), 0);
    assert_true(strchr(r->err, '\n') == r->err + len - 1);
}

static void expect_in_stderr(const run_result *r, const char *text)
{
    if (strstr(r->err, text) == NULL) {
        print_message("stderr lacks \"%s\"\n", text);
        show(r);
    }
    assert_non_null(strstr(r->err, text));
}

/* Exit 0, nothing on standard error. */
static void expect_ok(const run_result *r)
{
    expect_status(r, 0);
    if (r->err[0] != '\0')
        show(r);
    assert_string_equal(r->err, "");
}

static json_t *parse_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (j == NULL)
        print_message("not JSON (%d:%d: %s):\n%s\n", e.line, e.column,
                      e.text, text);
    assert_non_null(j);
    assert_true(json_is_object(j));
    return j;
}

/* The object has exactly these keys (NULL-terminated). */
static void expect_keys(const json_t *obj, const char *const *keys)
{
    size_t n = 0;
    for (; keys[n] != NULL; n++) {
        if (json_object_get(obj, keys[n]) == NULL)
            print_message("missing key \"%s\"\n", keys[n]);
        assert_non_null(json_object_get(obj, keys[n]));
    }
    assert_int_equal(json_object_size(obj), n);
}

static double json_num(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    assert_non_null(v);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static long long json_int(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    assert_non_null(v);
    assert_true(json_is_integer(v));
    return (long long)json_integer_value(v);
}

static dataio_matrix read_matrix(const char *path)
{
    /* A name ending in .npy must hold .npy, not CSV (the reader would
     * take either). */
    size_t len = strlen(path);
    if (len > 4 && strcmp(path + len - 4, ".npy") == 0) {
        char magic[6] = {0};
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        assert_int_equal(fread(magic, 1, 6, f), 6);
        fclose(f);
        assert_memory_equal(magic, "\x93NUMPY", 6);
    }
    dataio_matrix m = {NULL, 0, 0};
    char err[512] = "";
    dataio_read_options opt = {0, 0, 0};
    if (dataio_read_matrix(path, &opt, &m, err, sizeof err) != 0)
        print_message("%s\n", err);
    assert_non_null(m.data);
    return m;
}

static emgmm_model *load_model(const char *path)
{
    emgmm_model *m = NULL;
    emgmm_error e;
    memset(&e, 0, sizeof e);
    int rc = emgmm_load(path, &m, &e);
    if (rc != EMGMM_OK)
        print_message("%s:%d:%d: %s\n", path, e.line, e.column, e.message);
    assert_int_equal(rc, EMGMM_OK);
    return m;
}

/* ------------------------------------------------------------------ */
/* Test data                                                           */
/* ------------------------------------------------------------------ */

/* Two well separated round groups: rows 0..99 near (0, 0), rows
 * 100..199 near (10, 10), with a header like the demo data set's. */
static void write_two_groups(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    test_rng r = {12345};
    fprintf(f, "x_km,y_km\n");
    for (int i = 0; i < N_ROWS; i++) {
        double c = i < N_ROWS / 2 ? 0.0 : 10.0;
        fprintf(f, "%.17g,%.17g\n", c + test_rng_normal(&r),
                c + 0.5 * test_rng_normal(&r));
    }
    assert_int_equal(fclose(f), 0);
}

/* A model with 3 features, for shape mismatches. */
static void write_model_3d(const char *path)
{
    double w[2] = {0.5, 0.5};
    double mu[6] = {0, 0, 0, 1, 1, 1};
    double cov[18] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1};
    emgmm_model *m = NULL;
    assert_int_equal(emgmm_model_create(EMGMM_COVARIANCE_FULL, 2, 3, w, mu,
                                        cov, &m, NULL), EMGMM_OK);
    assert_int_equal(emgmm_save(m, path), EMGMM_OK);
    emgmm_free(&m);
}

/* Fits data.csv with 2 components into m.json (and l.csv labels). */
static void fit_model(void)
{
    run_result r;
    RUN(&r, "fit", "data.csv", "-k", "2", "-o", "m.json", "--labels",
        "l.csv");
    expect_ok(&r);
    assert_string_equal(r.out, "");
    run_free(&r);
}

/* Per test: a fresh folder holding data.csv, as the current folder. */
static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s/tXXXXXX", g_root);
    if (mkdtemp(g_dir) == NULL || chdir(g_dir) != 0)
        return -1;
    write_two_groups("data.csv");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (chdir(g_root) != 0)
        return -1;
    remove_tree(g_dir);
    return 0;
}

/* ------------------------------------------------------------------ */
/* fit                                                                 */
/* ------------------------------------------------------------------ */

static void test_fit_prints_model(void **state)
{
    (void)state;
    run_result r;
    RUN(&r, "fit", "data.csv", "-k", "2");
    expect_ok(&r);
    write_text("stdout.json", r.out);
    emgmm_model *m = load_model("stdout.json");
    assert_int_equal(emgmm_n_components(m), 2);
    assert_int_equal(emgmm_n_features(m), 2);
    /* The two means are near (0, 0) and (10, 10), in some order. */
    const double *mu = emgmm_means(m);
    double lo = fmin(mu[0], mu[2]), hi = fmax(mu[0], mu[2]);
    assert_close(lo, 0.0, 0, 0.5);
    assert_close(hi, 10.0, 0, 0.5);
    emgmm_free(&m);
    run_free(&r);
}

static void test_fit_all_outputs(void **state)
{
    (void)state;
    static const char *const keys[] = {
        "n_components", "n_features", "n_samples", "covariance_type",
        "n_iter", "converged", "log_likelihood", "bic", "aic", "seconds",
        NULL};
    run_result r;
    RUN(&r, "fit", "data.csv", "-k", "2", "-o", "m.json", "--labels",
        "l.csv", "--proba", "p.npy", "--json");
    expect_ok(&r);
    json_t *j = parse_json(r.out);
    expect_keys(j, keys);
    assert_int_equal(json_int(j, "n_samples"), N_ROWS);
    assert_int_equal(json_int(j, "n_components"), 2);
    assert_int_equal(json_int(j, "n_features"), 2);
    assert_string_equal(
        json_string_value(json_object_get(j, "covariance_type")), "full");
    assert_true(json_is_true(json_object_get(j, "converged")));
    assert_true(json_int(j, "n_iter") >= 1);
    assert_true(json_num(j, "seconds") >= 0);
    /* BIC and AIC from the mean log-likelihood, p = 11 free parameters
     * (2 x 3 covariance entries, 2 x 2 means, 1 weight). */
    double ll = json_num(j, "log_likelihood");
    assert_close(json_num(j, "bic"), -2.0 * N_ROWS * ll + 11 * log(N_ROWS),
                 1e-9, 1e-9);
    assert_close(json_num(j, "aic"), -2.0 * N_ROWS * ll + 22, 1e-9, 1e-9);
    json_decref(j);

    char *names = list_dir();
    assert_string_equal(names, "data.csv\nl.csv\nm.json\np.npy\n");
    free(names);

    emgmm_model *m = load_model("m.json");
    assert_int_equal(emgmm_n_components(m), 2);
    emgmm_free(&m);

    /* New files get the usual mode (0666 less the umask), not a
     * temporary file's 0600. */
    mode_t mask = umask(022);
    umask(mask);
    static const char *const files[] = {"m.json", "l.csv", "p.npy"};
    for (int i = 0; i < 3; i++) {
        struct stat st;
        assert_int_equal(stat(files[i], &st), 0);
        if ((st.st_mode & 0777) != (0666 & ~mask))
            print_message("%s has mode %o\n", files[i],
                          (unsigned)(st.st_mode & 0777));
        assert_int_equal(st.st_mode & 0777, 0666 & ~mask);
    }

    /* Labels: 0 or 1, one group each. */
    dataio_matrix l = read_matrix("l.csv");
    assert_int_equal(l.rows, N_ROWS);
    assert_int_equal(l.cols, 1);
    for (size_t i = 0; i < l.rows; i++) {
        assert_true(l.data[i] == 0.0 || l.data[i] == 1.0);
        assert_true(l.data[i] == l.data[i < N_ROWS / 2 ? 0 : N_ROWS - 1]);
    }
    assert_true(l.data[0] != l.data[N_ROWS - 1]);

    /* Responsibilities: N x 2, rows sum to 1, agree with the labels. */
    dataio_matrix p = read_matrix("p.npy");
    assert_int_equal(p.rows, N_ROWS);
    assert_int_equal(p.cols, 2);
    for (size_t i = 0; i < p.rows; i++) {
        assert_close(p.data[2 * i] + p.data[2 * i + 1], 1.0, 1e-12, 1e-12);
        int best = p.data[2 * i + 1] > p.data[2 * i];
        assert_int_equal(best, (int)l.data[i]);
    }
    dataio_matrix_free(&l);
    dataio_matrix_free(&p);
    run_free(&r);
}

/* --labels - takes standard output; the model is then not printed. */
static void test_fit_labels_to_stdout(void **state)
{
    (void)state;
    run_result r;
    RUN(&r, "fit", "data.csv", "-k", "2", "--labels", "-");
    expect_ok(&r);
    write_text("stdout.csv", r.out);
    dataio_matrix l = read_matrix("stdout.csv");
    assert_int_equal(l.rows, N_ROWS);
    assert_int_equal(l.cols, 1);
    dataio_matrix_free(&l);
    run_free(&r);

    /* -o - is standard output too, like the default. */
    RUN(&r, "fit", "data.csv", "-k", "2", "-o", "-");
    expect_ok(&r);
    write_text("m.json", r.out);
    emgmm_model *m = load_model("m.json");
    emgmm_free(&m);
    run_free(&r);
}

static void test_fit_tol0_runs_max_iter(void **state)
{
    (void)state;
    run_result r;
    RUN(&r, "fit", "data.csv", "-k", "2", "--tol", "0", "--max-iter", "5",
        "--json");
    expect_ok(&r);
    json_t *j = parse_json(r.out);
    assert_int_equal(json_int(j, "n_iter"), 5);
    assert_true(json_is_false(json_object_get(j, "converged")));
    json_decref(j);
    run_free(&r);
}

static void expect_same_array(const double *a, const double *b, size_t n)
{
    assert_memory_equal(a, b, n * sizeof(double));
}

static void test_fit_init_model_round_trip(void **state)
{
    (void)state;
    fit_model();
    run_result r;
    RUN(&r, "fit", "data.csv", "--init-model", "m.json", "--max-iter", "0",
        "-o", "m2.json", "--json");
    expect_ok(&r);
    json_t *j = parse_json(r.out);
    assert_int_equal(json_int(j, "n_iter"), 0);
    assert_int_equal(json_int(j, "n_components"), 2);
    json_decref(j);
    emgmm_model *a = load_model("m.json"), *b = load_model("m2.json");
    assert_int_equal(emgmm_n_components(b), 2);
    assert_int_equal(emgmm_n_features(b), 2);
    expect_same_array(emgmm_weights(a), emgmm_weights(b), 2);
    expect_same_array(emgmm_means(a), emgmm_means(b), 4);
    expect_same_array(emgmm_covariances(a), emgmm_covariances(b), 8);
    emgmm_free(&a);
    emgmm_free(&b);
    run_free(&r);

    /* -k and -c that agree with the model are fine. */
    RUN(&r, "fit", "data.csv", "--init-model", "m.json", "-k", "2", "-c",
        "full", "--json");
    expect_ok(&r);
    json_decref(parse_json(r.out));
    run_free(&r);
}

/* A start without "covariance_type" has the shapes of -c: K x D
 * variances for diag, K for spherical, one D x D matrix for tied (K = 3,
 * D = 2, so that no two shapes are alike). --max-iter 0 gives the start
 * back, so the numbers read are checked exactly. */
static void test_fit_init_model_takes_c(void **state)
{
    (void)state;
    static const char *const head =
        "{\"weights\": [0.25, 0.25, 0.5], "
        "\"means\": [[0, 0], [10, 10], [5, 5]], \"covariances\": ";
    static const struct {
        const char *type, *covs;
        size_t n;
        double want[6];
    } cases[] = {
        {"diag", "[[1, 2], [3, 4], [5, 6]]}", 6, {1, 2, 3, 4, 5, 6}},
        {"spherical", "[1, 2, 3]}", 3, {1, 2, 3}},
        {"tied", "[[2, 0.5], [0.5, 1]]}", 4, {2, 0.5, 0.5, 1}},
    };
    char text[256];
    for (size_t t = 0; t < 3; t++) {
        snprintf(text, sizeof text, "%s%s", head, cases[t].covs);
        write_text("start.json", text);
        run_result r;
        RUN(&r, "fit", "data.csv", "--init-model", "start.json", "-c",
            cases[t].type, "--max-iter", "0", "-o", "m0.json");
        expect_ok(&r);
        run_free(&r);
        emgmm_model *m = load_model("m0.json");
        assert_string_equal(
            emgmm_covariance_type_name(emgmm_get_covariance_type(m)),
            cases[t].type);
        assert_int_equal(emgmm_n_components(m), 3);
        expect_same_array(emgmm_covariances(m), cases[t].want, cases[t].n);
        emgmm_free(&m);

        /* And a real fit from it keeps the type (the middle component
         * may lose its samples: a warning, not a failure). */
        RUN(&r, "fit", "data.csv", "--init-model", "start.json", "-c",
            cases[t].type, "-k", "3", "--json");
        expect_status(&r, 0);
        json_t *j = parse_json(r.out);
        assert_string_equal(
            json_string_value(json_object_get(j, "covariance_type")),
            cases[t].type);
        json_decref(j);
        run_free(&r);

        /* Without -c the start is full, which this shape is not. */
        RUN(&r, "fit", "data.csv", "--init-model", "start.json", "-o",
            "no.json");
        expect_status(&r, 2);
        expect_one_error_line(&r);
        expect_in_stderr(&r, "\"covariances\" must be a k x d x d array");
        assert_false(file_exists("no.json"));
        run_free(&r);
    }

    /* A shape that fits neither type: the message names the one
     * expected. */
    static const char *const wrong[][2] = {
        {"spherical", "must be a k array"},
        {"tied", "must be a d x d array"},
        {"full", "must be a k x d x d array"},
    };
    snprintf(text, sizeof text, "%s%s", head, cases[0].covs); /* diag */
    write_text("start.json", text);
    for (size_t t = 0; t < 3; t++) {
        run_result r;
        RUN(&r, "fit", "data.csv", "--init-model", "start.json", "-c",
            wrong[t][0], "-o", "no.json");
        expect_status(&r, 2);
        expect_one_error_line(&r);
        expect_in_stderr(&r, "start.json: \"covariances\" ");
        expect_in_stderr(&r, wrong[t][1]);
        expect_in_stderr(&r, "no \"covariance_type\"");
        assert_false(file_exists("no.json"));
        run_free(&r);
    }

    /* A file that names its type must agree with -c. */
    snprintf(text, sizeof text, "{\"covariance_type\": \"diag\", %s%s",
             head + 1, cases[0].covs);
    write_text("typed.json", text);
    run_result r;
    RUN(&r, "fit", "data.csv", "--init-model", "typed.json", "-c",
        "spherical");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "-c spherical disagrees with --init-model "
                         "typed.json, whose covariance type is diag");
    run_free(&r);
    RUN(&r, "fit", "data.csv", "--init-model", "typed.json", "--max-iter",
        "0", "-o", "m1.json");
    expect_ok(&r);
    run_free(&r);
    emgmm_model *m = load_model("m1.json");
    assert_int_equal(emgmm_get_covariance_type(m), EMGMM_COVARIANCE_DIAG);
    emgmm_free(&m);
}

static void test_fit_same_seed_same_bits(void **state)
{
    (void)state;
    run_result r;
    RUN(&r, "fit", "data.csv", "-k", "2", "--seed", "5", "--init", "random",
        "-o", "a.json", "--threads", "1");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "fit", "data.csv", "-k", "2", "--seed", "5", "--init", "random",
        "-o", "b.json", "--threads", "1");
    expect_ok(&r);
    run_free(&r);
    size_t na, nb;
    char *a = read_all("a.json", &na), *b = read_all("b.json", &nb);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a);
    free(b);
}

static void expect_same_bytes(const char *a, const char *b);

/* A float32 .npy (little endian, C order) of rows x cols values. */
static void write_npy_f32(const char *path, const float *x, size_t rows,
                          size_t cols)
{
    char header[128];
    int len = snprintf(header, sizeof header,
                       "{'descr': '<f4', 'fortran_order': False, "
                       "'shape': (%zu, %zu), }", rows, cols);
    const int total = 10 + len + 1; /* magic, version, length, '\n' */
    const int pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    const unsigned short hlen = (unsigned short)(len + pad + 1);
    const unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                   (unsigned char)(hlen & 0xff),
                                   (unsigned char)(hlen >> 8)};
    assert_int_equal(fwrite(pre, 1, 10, f), 10);
    assert_int_equal(fwrite(header, 1, (size_t)len, f), (size_t)len);
    for (int i = 0; i < pad; i++)
        fputc(' ', f);
    fputc('\n', f);
    assert_int_equal(fwrite(x, sizeof(float), rows * cols, f), rows * cols);
    assert_int_equal(fclose(f), 0);
}

/* fit --dtype float32 against --dtype float64 from the same --init-model
 * on the same (float32) values: 36 columns, so the float32 products run
 * in single precision. The final mean log-likelihoods agree to 1e-7
 * relative (the tolerance of tests/test_float32.c); a float64 file read
 * with --dtype float32 is narrowed (here exactly: its values are float32
 * values); predict and score --dtype float32 agree with float64. */
static void test_fit_dtype(void **state)
{
    (void)state;
    const size_t n = 600, d = 36;
    float *xf = malloc(n * d * sizeof(float));
    double *xd = malloc(n * d * sizeof(double));
    assert_non_null(xf);
    assert_non_null(xd);
    test_rng rng = {777};
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            const double c = i < n / 2 ? 0.0 : 4.0 + 0.1 * (double)j;
            xf[i * d + j] = (float)(1e3 + c + test_rng_normal(&rng));
            xd[i * d + j] = (double)xf[i * d + j];
        }
    write_npy_f32("x32.npy", xf, n, d);
    char err[256];
    assert_int_equal(dataio_write_matrix("x64.npy", xd, n, d, err,
                                         sizeof err), 0);
    run_result r;
    RUN(&r, "fit", "x64.npy", "-k", "2", "--max-iter", "2", "-o",
        "start.json");
    expect_ok(&r);
    run_free(&r);
    double ll[3];
    const char *const files[3] = {"x32.npy", "x64.npy", "x64.npy"};
    const char *const types[3] = {"float32", "float32", "float64"};
    for (int t = 0; t < 3; t++) {
        char model[32], labels[32];
        snprintf(model, sizeof model, "m%d.json", t);
        snprintf(labels, sizeof labels, "l%d.csv", t);
        RUN(&r, "fit", files[t], "--init-model", "start.json", "--tol", "0",
            "--max-iter", "8", "--dtype", types[t], "--json", "-o", model,
            "--labels", labels);
        expect_ok(&r);
        json_t *j = parse_json(r.out);
        assert_int_equal(json_int(j, "n_iter"), 8);
        ll[t] = json_num(j, "log_likelihood");
        json_decref(j);
        run_free(&r);
    }
    print_message("dtype: float32 %.17g, float64 %.17g\n", ll[0], ll[2]);
    assert_memory_equal(&ll[0], &ll[1], sizeof(double)); /* the same values */
    assert_close(ll[0], ll[2], 1e-7, 0.0);
    /* The two clusters are 35 standard deviations apart, so no row
     * lies anywhere near the boundary: the labels cannot depend on
     * float32 rounding or on the CPU's kernels. */
    expect_same_bytes("l0.csv", "l2.csv");

    /* predict and score on float32 rows, with the float32 fit's model. */
    RUN(&r, "predict", "m0.json", "x32.npy", "--dtype", "float32", "-o",
        "p32.csv");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "predict", "m0.json", "x64.npy", "-o", "p64.csv");
    expect_ok(&r);
    run_free(&r);
    expect_same_bytes("p32.csv", "p64.csv");
    expect_same_bytes("p32.csv", "l0.csv");
    RUN(&r, "score", "m0.json", "x32.npy", "--dtype", "float32", "--json");
    expect_ok(&r);
    json_t *j = parse_json(r.out);
    assert_close(json_num(j, "log_likelihood"), ll[0], 1e-7, 0.0);
    json_decref(j);
    run_free(&r);

    /* CSV is read as float64, then narrowed. */
    RUN(&r, "fit", "data.csv", "-k", "2", "--dtype", "float32", "--json",
        "-o", "csv.json");
    expect_ok(&r);
    json_decref(parse_json(r.out));
    run_free(&r);

    /* Bad usage: exit 2, one line. */
    const char *const bad[][8] = {
        {"fit", "x32.npy", "-k", "2", "--dtype", "float16", NULL},
        {"fit", "x32.npy", "-k", "2", "--dtype", "float32", "--stream", NULL},
        {"fit", "data.csv", "-k", "2", "--dtype", "float32", "--missing",
         NULL},
        {"predict", "m0.json", "x32.npy", "--dtype", "double", NULL},
        {"score", "m0.json", "x32.npy", "--dtype", "float32", "--stream",
         NULL},
    };
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        run_in(&r, NULL, bad[b]);
        expect_status(&r, 2);
        expect_one_error_line(&r);
        run_free(&r);
    }
    free(xf);
    free(xd);
}

static void check_verbose(const char *err, int n_init, int n_iter)
{
    regex_t re;
    assert_int_equal(regcomp(&re,
        "^iter ([0-9]+)  log_likelihood -?[0-9]+\\.[0-9]{5}  change "
        "(-?[0-9]\\.[0-9]e[-+][0-9]{2,3}|inf)  [0-9]+\\.[0-9]{3} s$",
        REG_EXTENDED), 0);
    char *copy = strdup(err);
    assert_non_null(copy);
    int lines = 0, run = 0, expect_iter = 1;
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save), lines++) {
        regmatch_t m[2];
        if (n_init > 1 && strncmp(line, "init ", 5) == 0) {
            char want[32];
            snprintf(want, sizeof want, "init %d/%d", ++run, n_init);
            assert_string_equal(line, want);
            expect_iter = 1;
            continue;
        }
        if (regexec(&re, line, 2, m, 0) != 0)
            print_message("bad -v line: \"%s\"\n", line);
        assert_int_equal(regexec(&re, line, 2, m, 0), 0);
        assert_int_equal(atoi(line + m[1].rm_so), expect_iter);
        if (expect_iter == 1)
            assert_non_null(strstr(line, "change inf"));
        expect_iter++;
    }
    assert_int_equal(lines, n_init * n_iter + (n_init > 1 ? n_init : 0));
    assert_int_equal(run, n_init > 1 ? n_init : 0);
    free(copy);
    regfree(&re);
}

static void test_fit_verbose(void **state)
{
    (void)state;
    run_result r;
    RUN(&r, "fit", "data.csv", "-k", "2", "--tol", "0", "--max-iter", "7",
        "--json", "-v");
    expect_status(&r, 0);
    check_verbose(r.err, 1, 7);
    json_t *j = parse_json(r.out); /* nothing else on standard output */
    assert_int_equal(json_int(j, "n_iter"), 7);
    json_decref(j);
    run_free(&r);

    RUN(&r, "fit", "data.csv", "-k", "2", "--tol", "0", "--max-iter", "3",
        "--n-init", "2", "--verbose", "-o", "m.json");
    expect_status(&r, 0);
    assert_string_equal(r.out, "");
    check_verbose(r.err, 2, 3);
    run_free(&r);
}

static void test_fit_stdin_and_raw(void **state)
{
    (void)state;
    run_result r;
    RUN_STDIN(&r, "data.csv", "fit", "-", "-k", "2", "--json");
    expect_ok(&r);
    json_t *j = parse_json(r.out);
    assert_int_equal(json_int(j, "n_samples"), N_ROWS);
    double ll = json_num(j, "log_likelihood");
    json_decref(j);
    run_free(&r);

    /* The same numbers as raw float64 with --shape. */
    dataio_matrix x = read_matrix("data.csv");
    FILE *f = fopen("data.f64", "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(x.data, sizeof(double), x.rows * x.cols, f),
                     x.rows * x.cols);
    assert_int_equal(fclose(f), 0);
    dataio_matrix_free(&x);
    RUN(&r, "fit", "data.f64", "--shape", "200,2", "-k", "2", "--json");
    expect_ok(&r);
    j = parse_json(r.out);
    assert_int_equal(json_int(j, "n_samples"), N_ROWS);
    assert_int_equal(json_int(j, "n_features"), 2);
    assert_close(json_num(j, "log_likelihood"), ll, 1e-12, 0);
    json_decref(j);
    run_free(&r);
}

/* --stream: the same fit as loading the file, for .npy and raw data;
 * float32 .npy gives what loading the float32 file gives; what it cannot
 * do is refused before any work. */
static void test_fit_stream(void **state)
{
    (void)state;
    dataio_matrix x = read_matrix("data.csv");
    char err[256];
    assert_int_equal(dataio_write_matrix("data.npy", x.data, x.rows, x.cols,
                                         err, sizeof err), 0);
    /* A float32 copy, written by hand: header then little-endian floats. */
    FILE *f = fopen("data32.npy", "wb");
    assert_non_null(f);
    char header[118];
    int len = snprintf(header, sizeof header,
                       "{'descr': '<f4', 'fortran_order': False, "
                       "'shape': (%zu, %zu), }", x.rows, x.cols);
    memset(header + len, ' ', sizeof header - (size_t)len);
    header[sizeof header - 1] = '\n';
    const unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                   sizeof header, 0};
    assert_int_equal(fwrite(pre, 1, 10, f), 10);
    assert_int_equal(fwrite(header, 1, sizeof header, f), sizeof header);
    for (size_t i = 0; i < x.rows * x.cols; i++) {
        float v = (float)x.data[i];
        assert_int_equal(fwrite(&v, sizeof v, 1, f), 1);
    }
    assert_int_equal(fclose(f), 0);
    f = fopen("data.f64", "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(x.data, sizeof(double), x.rows * x.cols, f),
                     x.rows * x.cols);
    assert_int_equal(fclose(f), 0);
    dataio_matrix_free(&x);

    const char *const files[3][3] = {{"data.npy", NULL, NULL},
                                      {"data32.npy", NULL, NULL},
                                      {"data.f64", "--shape", "200,2"}};
    for (int t = 0; t < 3; t++) {
        run_result r;
        double ll[2];
        for (int stream = 0; stream < 2; stream++) {
            const char *out = stream ? "s.json" : "m.json";
            if (files[t][1])
                RUN(&r, "fit", files[t][0], files[t][1], files[t][2], "-k",
                    "2", "--tol", "0", "--max-iter", "15", "--json", "-o",
                    out, stream ? "--stream" : "--seed=0");
            else
                RUN(&r, "fit", files[t][0], "-k", "2", "--tol", "0",
                    "--max-iter", "15", "--json", "-o", out,
                    stream ? "--stream" : "--seed=0");
            expect_ok(&r);
            json_t *j = parse_json(r.out);
            assert_int_equal(json_int(j, "n_samples"), N_ROWS);
            ll[stream] = json_num(j, "log_likelihood");
            json_decref(j);
            run_free(&r);
        }
        assert_close(ll[1], ll[0], 1e-12, 0);
        emgmm_model *a = load_model("m.json"), *b = load_model("s.json");
        for (size_t i = 0; i < 2 * 2; i++)
            assert_close(emgmm_means(a)[i], emgmm_means(b)[i], 1e-10, 1e-12);
        for (size_t i = 0; i < 2 * 2 * 2; i++)
            assert_close(emgmm_covariances(a)[i], emgmm_covariances(b)[i],
                         1e-10, 1e-12);
        emgmm_free(&a);
        emgmm_free(&b);
    }

    run_result r;
    RUN(&r, "fit", "data.csv", "-k", "2", "--stream");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "--stream needs .npy or raw");
    run_free(&r);
    RUN(&r, "fit", "data.npy", "-k", "2", "--stream", "--labels", "l.csv");
    expect_ok(&r);
    assert_true(file_exists("l.csv"));
    run_free(&r);
    RUN_STDIN(&r, "data.npy", "fit", "-", "-k", "2", "--stream");
    expect_status(&r, 2);
    expect_in_stderr(&r, "regular file");
    run_free(&r);
}

/* ------------------------------------------------------------------ */
/* --stream for predict, score and fit's outputs                        */
/* ------------------------------------------------------------------ */

/* More rows than one block of --stream work (65,536 rows here), so that
 * the outputs are written in several blocks. */
#define STREAM_ROWS 70001

#ifdef EMGMM_HAVE_HDF5
static void h5_write(const char *file, const char *name, hid_t type,
                     const double *v, size_t rows, size_t cols,
                     size_t chunk_rows, int add);
static double *h5_read(const char *file, const char *name, hid_t type,
                       size_t rows, size_t cols);
#endif

/* STREAM_ROWS x 2 values of two groups: big.npy, big.f64 (raw) and, with
 * HDF5, big.h5:/g/x (chunked, shuffle, gzip) and big.h5:/x32 (float32,
 * contiguous). A value may be spoiled: row bad_row gets +inf. */
static void write_stream_data(size_t bad_row)
{
    const size_t n = STREAM_ROWS;
    double *x = malloc(n * 2 * sizeof *x);
    assert_non_null(x);
    test_rng r = {77};
    for (size_t i = 0; i < n; i++) {
        const double c = i % 3 == 0 ? 4.0 : 0.0;
        x[2 * i] = c + test_rng_normal(&r);
        x[2 * i + 1] = -c + 0.5 * test_rng_normal(&r);
    }
    if (bad_row < n)
        x[2 * bad_row] = INFINITY;
    char err[256];
    assert_int_equal(dataio_write_matrix("big.npy", x, n, 2, err, sizeof err),
                     0);
    FILE *f = fopen("big.f64", "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(x, sizeof *x, 2 * n, f), 2 * n);
    assert_int_equal(fclose(f), 0);
#ifdef EMGMM_HAVE_HDF5
    h5_write("big.h5", "/g/x", H5T_IEEE_F64LE, x, n, 2, 1000, 0);
    h5_write("big.h5", "/x32", H5T_IEEE_F32LE, x, n, 2, 0, 1);
#endif
    free(x);
}

static void expect_same_bytes(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    char *x = read_all(a, &na), *y = read_all(b, &nb);
    assert_non_null(x);
    assert_non_null(y);
    if (na != nb || memcmp(x, y, na) != 0)
        print_message("%s and %s differ\n", a, b);
    assert_int_equal(na, nb);
    assert_memory_equal(x, y, na);
    free(x);
    free(y);
}

/* The outputs --stream writes block by block. */
static const char *const stream_kinds[] = {"npy", "csv",
#ifdef EMGMM_HAVE_HDF5
                                           "h5"
#endif
};
#define N_STREAM_KINDS (sizeof stream_kinds / sizeof stream_kinds[0])

/* A model of big.npy (write_stream_data) in m.json. */
static void fit_stream_model(void)
{
    run_result r;
    RUN(&r, "fit", "big.npy", "-k", "2", "--max-iter", "5", "-o",
        "m.json");
    expect_ok(&r);
    run_free(&r);
}

/* `emgmm COMMAND m.json DATA [--shape N,D] -o OUT [--proba PROBA]
 * [--stream]` (input: DATA, then "--shape" and its value or NULLs; proba
 * NULL: none) must succeed and print nothing. */
static void run_on_model(const char *command, const char *const input[3],
                         const char *out, const char *proba, int stream)
{
    const char *args[12];
    int a = 0;
    args[a++] = command;
    args[a++] = "m.json";
    args[a++] = input[0];
    if (input[1]) {
        args[a++] = input[1];
        args[a++] = input[2];
    }
    args[a++] = "-o";
    args[a++] = out;
    if (proba) {
        args[a++] = "--proba";
        args[a++] = proba;
    }
    if (stream)
        args[a++] = "--stream";
    args[a] = NULL;
    run_result r;
    run_in(&r, NULL, args);
    expect_ok(&r);
    assert_string_equal(r.out, "");
    run_free(&r);
}

/* No output and no temporary file is left in the folder. */
static void expect_no_temporaries(void)
{
    char *names = list_dir();
    assert_non_null(names);
    if (strstr(names, ".tmp-") != NULL) /* (names tested for gcc's sake) */
        print_message("left behind:\n%s", names ? names : "");
    assert_null(strstr(names, ".tmp-"));
    free(names);
}

/* predict and score with --stream against the same commands on the
 * loaded data: .npy, raw and HDF5 (gzip-chunked float64, contiguous
 * float32) inputs; .npy, CSV and HDF5 outputs written in several blocks:
 * the same bytes (.npy, CSV), the same values (HDF5); the same score. */
static void test_predict_stream(void **state)
{
    (void)state;
    write_stream_data(SIZE_MAX);
    run_result r;
    fit_stream_model();
    const char *const inputs[][3] = {
        {"big.npy", NULL, NULL},
        {"big.f64", "--shape", "70001,2"},
#ifdef EMGMM_HAVE_HDF5
        {"big.h5:/g/x", NULL, NULL},
        {"big.h5:/x32", NULL, NULL},
#endif
    };
    const char *const *kinds = stream_kinds;
    const size_t n_inputs = sizeof inputs / sizeof inputs[0];
    const size_t n_kinds = N_STREAM_KINDS;
    /* Under valgrind (slow): the .npy and the gzip HDF5 inputs, and the
     * binary outputs. */
    const int slow = getenv("EMGMM_TEST_VALGRIND") != NULL;
    for (size_t t = 0; t < n_inputs; t++) {
        if (slow && (t == 1 || t == 3))
            continue;
        const char *shape = inputs[t][1] ? inputs[t][1] : "--json";
        const char *dims = inputs[t][2] ? inputs[t][2] : "--json";
        /* score: the options of the data, or --json repeated. */
        for (size_t o = 0; o < n_kinds; o++) {
            char lab[2][32], pro[2][32];
            if (slow && o == 1)
                continue;
            for (int s = 0; s < 2; s++) {
                const int h5 = strcmp(kinds[o], "h5") == 0;
                snprintf(lab[s], sizeof lab[s], "l%d.%s", s, kinds[o]);
                snprintf(pro[s], sizeof pro[s], "%s%d.%s", h5 ? "l" : "p", s,
                         kinds[o]);
                run_on_model("predict", inputs[t], lab[s], pro[s], s);
            }
            if (strcmp(kinds[o], "h5") != 0) {
                expect_same_bytes(lab[0], lab[1]);
                expect_same_bytes(pro[0], pro[1]);
            }
#ifdef EMGMM_HAVE_HDF5
            else {
                double *a = h5_read("l0.h5", "/labels", H5T_STD_I32LE,
                                    STREAM_ROWS, 0);
                double *b = h5_read("l1.h5", "/labels", H5T_STD_I32LE,
                                    STREAM_ROWS, 0);
                assert_memory_equal(a, b, STREAM_ROWS * sizeof *a);
                free(a);
                free(b);
                a = h5_read("l0.h5", "/proba", H5T_IEEE_F64LE, STREAM_ROWS,
                            2);
                b = h5_read("l1.h5", "/proba", H5T_IEEE_F64LE, STREAM_ROWS,
                            2);
                assert_memory_equal(a, b, STREAM_ROWS * 2 * sizeof *a);
                /* Both components occur: the test means something. */
                double lo = 1.0, hi = 0.0;
                for (size_t i = 0; i < STREAM_ROWS; i++) {
                    lo = a[2 * i] < lo ? a[2 * i] : lo;
                    hi = a[2 * i] > hi ? a[2 * i] : hi;
                }
                assert_true(lo < 0.01 && hi > 0.99);
                free(a);
                free(b);
            }
#endif
            remove(lab[0]);
            remove(lab[1]);
            remove(pro[0]);
            remove(pro[1]);
        }
        double ll[2];
        for (int s = 0; s < 2; s++) {
            if (inputs[t][1])
                RUN(&r, "score", "m.json", inputs[t][0], shape, dims,
                    "--json", s ? "--stream" : "--json");
            else
                RUN(&r, "score", "m.json", inputs[t][0], "--json",
                    s ? "--stream" : "--json");
            expect_ok(&r);
            json_t *j = parse_json(r.out);
            assert_int_equal(json_int(j, "n_samples"), STREAM_ROWS);
            ll[s] = json_num(j, "log_likelihood");
            json_decref(j);
            run_free(&r);
        }
        assert_close(ll[1], ll[0], 1e-12, 0);
    }
    /* Labels to standard output, a block at a time. */
    RUN(&r, "predict", "m.json", "big.npy", "--stream");
    expect_ok(&r);
    size_t lines = 0;
    for (const char *c = r.out; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, STREAM_ROWS);
    run_free(&r);
    expect_no_temporaries();
}

/* What --stream cannot read or write fails with exit status 2 and leaves
 * no output: a value that is not finite in the second block (after the
 * first block was written), text data, --missing, a model of other
 * features. */
static void test_predict_stream_failures(void **state)
{
    (void)state;
    write_stream_data(68000);
    write_model_3d("m3.json");
    run_result r;
    RUN(&r, "fit", "data.csv", "-k", "2", "-o", "m2.json");
    expect_ok(&r);
    run_free(&r);
    const char *const outs[][2] = {{"l.npy", "p.npy"}, {"l.csv", "p.csv"},
#ifdef EMGMM_HAVE_HDF5
                                   {"o.h5", "o.h5"},
#endif
    };
    /* Under valgrind (slow): the .npy outputs only. */
    const size_t n_outs = getenv("EMGMM_TEST_VALGRIND") != NULL
                              ? 1 : sizeof outs / sizeof outs[0];
    for (size_t k = 0; k < n_outs; k++) {
        RUN(&r, "predict", "m2.json", "big.npy", "--stream", "-o",
            outs[k][0], "--proba", outs[k][1]);
        expect_status(&r, 2);
        expect_one_error_line(&r);
        expect_in_stderr(&r, "big.npy: row 68001, column 1: value is not "
                             "finite (inf)");
        assert_false(file_exists(outs[k][0]));
        assert_false(file_exists(outs[k][1]));
        run_free(&r);
    }
#ifdef EMGMM_HAVE_HDF5
    RUN(&r, "score", "m2.json", "big.h5:/g/x", "--stream");
    expect_status(&r, 2);
    expect_in_stderr(&r, "big.h5:/g/x: row 68001, column 1: value is not "
                         "finite (inf)");
    run_free(&r);
#endif
    RUN(&r, "predict", "m2.json", "data.csv", "--stream", "-o", "l.npy");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "--stream needs .npy or raw");
    run_free(&r);
    RUN(&r, "predict", "m2.json", "big.npy", "--stream", "--missing", "-o",
        "l.npy");
    expect_status(&r, 2); /* --missing takes NaN, not inf */
    expect_one_error_line(&r);
    expect_in_stderr(&r, "row 68001, column 1: value is not finite (inf)");
    run_free(&r);
    RUN(&r, "score", "m3.json", "big.npy", "--stream");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "has 3 features");
    run_free(&r);
    assert_false(file_exists("l.npy"));
    expect_no_temporaries();
}

/* fit --stream --labels/--proba: the labels of the fit without --stream
 * from the same start, byte for byte, and its probabilities to 1e-10
 * (the two fits agree to that); .npy, CSV and HDF5. */
static void test_fit_stream_outputs(void **state)
{
    (void)state;
    write_stream_data(SIZE_MAX);
    run_result r;
    RUN(&r, "fit", "big.npy", "-k", "2", "--max-iter", "3", "-o",
        "start.json");
    expect_ok(&r);
    run_free(&r);
    const char *const kinds[] = {"npy", "csv",
#ifdef EMGMM_HAVE_HDF5
                                 "h5"
#endif
    };
    /* Under valgrind (slow): the .npy outputs only. */
    const size_t n_kinds = getenv("EMGMM_TEST_VALGRIND") != NULL
                               ? 1 : sizeof kinds / sizeof kinds[0];
    for (size_t o = 0; o < n_kinds; o++) {
        char lab[2][32], pro[2][32];
        for (int s = 0; s < 2; s++) {
            snprintf(lab[s], sizeof lab[s], "fl%d.%s", s, kinds[o]);
            snprintf(pro[s], sizeof pro[s], "fp%d.%s", s, kinds[o]);
            RUN(&r, "fit", "big.npy", "--init-model", "start.json", "--tol",
                "0", "--max-iter", "5", "-o", "f.json", "--labels", lab[s],
                "--proba", pro[s], s ? "--stream" : "--json");
            expect_ok(&r);
            run_free(&r);
        }
#ifdef EMGMM_HAVE_HDF5
        if (strcmp(kinds[o], "h5") == 0) {
            double *a = h5_read("fl0.h5", "/labels", H5T_STD_I32LE,
                                STREAM_ROWS, 0);
            double *b = h5_read("fl1.h5", "/labels", H5T_STD_I32LE,
                                STREAM_ROWS, 0);
            assert_memory_equal(a, b, STREAM_ROWS * sizeof *a);
            free(a);
            free(b);
            a = h5_read("fp0.h5", "/proba", H5T_IEEE_F64LE, STREAM_ROWS, 2);
            b = h5_read("fp1.h5", "/proba", H5T_IEEE_F64LE, STREAM_ROWS, 2);
            for (size_t i = 0; i < STREAM_ROWS * 2; i++)
                assert_close(b[i], a[i], 1e-10, 1e-12);
            free(a);
            free(b);
            continue;
        }
#endif
        expect_same_bytes(lab[0], lab[1]);
        dataio_matrix a = read_matrix(pro[0]), b = read_matrix(pro[1]);
        assert_int_equal(a.rows, STREAM_ROWS);
        assert_int_equal(b.rows, STREAM_ROWS);
        assert_int_equal(b.cols, 2);
        for (size_t i = 0; i < STREAM_ROWS * 2; i++)
            assert_close(b.data[i], a.data[i], 1e-10, 1e-12);
        dataio_matrix_free(&a);
        dataio_matrix_free(&b);
    }
    expect_no_temporaries();
}

/* fit --stream with --weights, --missing and --n-init: the same fit as
 * the loaded data (1e-10), from the same start. */
static void stream_expect_same_fit(const char *loaded, const char *streamed,
                                   double tol)
{
    emgmm_model *a = load_model(loaded), *b = load_model(streamed);
    const size_t k = emgmm_n_components(a), d = emgmm_n_features(a);
    assert_int_equal(emgmm_n_components(b), k);
    for (size_t i = 0; i < k; i++)
        assert_close(emgmm_weights(a)[i], emgmm_weights(b)[i], tol, 1e-15);
    for (size_t i = 0; i < k * d; i++)
        assert_close(emgmm_means(a)[i], emgmm_means(b)[i], tol, tol);
    const size_t nc = emgmm_get_covariance_type(a) ==
                              EMGMM_COVARIANCE_FULL
                          ? k * d * d
                          : 0;
    for (size_t i = 0; i < nc; i++)
        assert_close(emgmm_covariances(a)[i], emgmm_covariances(b)[i], tol,
                     tol);
    emgmm_free(&a);
    emgmm_free(&b);
}

/* Writes data.npy, gappy.npy (some values NaN, row 7 entirely) and
 * w.npy (N_ROWS x 1 weights) from data.csv. */
static void write_stream_inputs(void)
{
    dataio_matrix x = read_matrix("data.csv");
    char err[256];
    assert_int_equal(dataio_write_matrix("data.npy", x.data, x.rows, x.cols,
                                         err, sizeof err), 0);
    double *w = malloc(x.rows * sizeof *w);
    assert_non_null(w);
    for (size_t i = 0; i < x.rows; i++)
        w[i] = i % 11 == 3 ? 0.0 : 0.25 + 0.3 * (double)(i % 7);
    assert_int_equal(dataio_write_matrix("w.npy", w, x.rows, 1, err,
                                         sizeof err), 0);
    for (size_t i = 0; i < x.rows * x.cols; i++)
        if (i % 9 == 4 || i / x.cols == 7)
            x.data[i] = NAN;
    assert_int_equal(dataio_write_matrix("gappy.npy", x.data, x.rows,
                                         x.cols, err, sizeof err), 0);
    free(w);
    dataio_matrix_free(&x);
}

static void test_fit_stream_weights_missing(void **state)
{
    (void)state;
    write_stream_inputs();
    run_result r;
    RUN(&r, "fit", "data.csv", "-k", "2", "--max-iter", "0", "-o",
        "start.json");
    expect_ok(&r);
    run_free(&r);
    /* weights; missing values; both: from the same --init-model, and
     * from the k-means start of each (all rows are the sample here). */
    const char *const data[3] = {"data.npy", "gappy.npy", "gappy.npy"};
    for (int kind = 0; kind < 3; kind++) {
        for (int given = 0; given < 2; given++) {
            double ll[2];
            long long missing[2];
            for (int stream = 0; stream < 2; stream++) {
                const char *out = stream ? "s.json" : "m.json";
                const char *args[24] = {"fit", data[kind], "-k", "2",
                                        "--tol", "0", "--max-iter", "12",
                                        "--json", "-o", out};
                int n = 11;
                if (kind != 1) {
                    args[n++] = "--weights";
                    args[n++] = "w.npy";
                }
                if (kind != 0)
                    args[n++] = "--missing";
                if (given) {
                    args[n++] = "--init-model";
                    args[n++] = "start.json";
                }
                if (stream)
                    args[n++] = "--stream";
                args[n] = NULL;
                run_in(&r, NULL, args);
                expect_ok(&r);
                json_t *j = parse_json(r.out);
                ll[stream] = json_num(j, "log_likelihood");
                missing[stream] = kind != 0
                                      ? json_int(j, "n_missing_values")
                                      : -1;
                if (kind != 0)
                    assert_int_equal(json_int(j, "n_rows_all_missing"), 1);
                json_decref(j);
                run_free(&r);
            }
            assert_close(ll[1], ll[0], 1e-10, 0);
            assert_true(missing[0] == missing[1]);
            if (kind != 0)
                assert_true(missing[0] > N_ROWS / 5);
            stream_expect_same_fit("m.json", "s.json", 1e-10);
        }
    }

    /* --n-init 3: the restarts of the loaded fit, the best kept. */
    double ll[2];
    for (int stream = 0; stream < 2; stream++) {
        const char *out = stream ? "s.json" : "m.json";
        if (stream)
            RUN(&r, "fit", "gappy.npy", "-k", "3", "--missing", "--weights",
                "w.npy", "--n-init", "3", "--seed", "5", "--json", "-o", out,
                "--stream");
        else
            RUN(&r, "fit", "gappy.npy", "-k", "3", "--missing", "--weights",
                "w.npy", "--n-init", "3", "--seed", "5", "--json", "-o",
                out);
        expect_ok(&r);
        json_t *j = parse_json(r.out);
        ll[stream] = json_num(j, "log_likelihood");
        json_decref(j);
        run_free(&r);
    }
    assert_close(ll[1], ll[0], 1e-10, 0);
    stream_expect_same_fit("m.json", "s.json", 1e-10);
    /* The restarts differ: one alone is another fit. */
    RUN(&r, "fit", "gappy.npy", "-k", "3", "--missing", "--weights", "w.npy",
        "--n-init", "3", "--seed", "5", "-v", "--stream", "-o", "s.json");
    expect_status(&r, 0);
    expect_in_stderr(&r, "init 3/3");
    run_free(&r);

    /* NaN without --missing names the option; a bad weight names the row;
     * weights of another length are refused. */
    RUN(&r, "fit", "gappy.npy", "-k", "2", "--stream");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "--missing");
    run_free(&r);
    char err[256];
    double w[N_ROWS];
    for (size_t i = 0; i < N_ROWS; i++)
        w[i] = i == 150 ? -1.0 : 1.0;
    assert_int_equal(dataio_write_matrix("wbad.npy", w, N_ROWS, 1, err,
                                         sizeof err), 0);
    RUN(&r, "fit", "data.npy", "-k", "2", "--stream", "--weights",
        "wbad.npy", "-o", "s2.json");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "row 151: negative weight");
    assert_false(file_exists("s2.json"));
    run_free(&r);
    assert_int_equal(dataio_write_matrix("wshort.npy", w, N_ROWS - 1, 1,
                                         err, sizeof err), 0);
    RUN(&r, "fit", "data.npy", "-k", "2", "--stream", "--weights",
        "wshort.npy");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "expected 200 rows of one column");
    run_free(&r);
}

/* predict and score --missing with --stream: one gap, in the second
 * block only, must make every block take the posteriors given the
 * observed values, as the loaded run does: the same bytes, the same
 * score; a row with nothing observed is counted. */
static void test_predict_stream_missing(void **state)
{
    (void)state;
    write_stream_data(SIZE_MAX);
    run_result r;
    fit_stream_model();
    dataio_matrix x = read_matrix("big.npy");
    char err[256];
    /* Under valgrind (slow): the second case only. */
    for (int t = getenv("EMGMM_TEST_VALGRIND") != NULL; t < 2; t++) {
        x.data[2 * 68000 + 1] = NAN;   /* row 68001 */
        if (t == 1) {                 /* and row 10 wholly missing */
            x.data[2 * 9] = NAN;
            x.data[2 * 9 + 1] = NAN;
        }
        assert_int_equal(dataio_write_matrix("gaps.npy", x.data, x.rows,
                                             x.cols, err, sizeof err), 0);
        RUN(&r, "predict", "m.json", "gaps.npy", "--missing", "-o", "l0.npy",
            "--proba", "p0.npy");
        expect_ok(&r);
        run_free(&r);
        RUN(&r, "predict", "m.json", "gaps.npy", "--missing", "--stream",
            "-o", "l1.npy", "--proba", "p1.npy");
        expect_ok(&r);
        run_free(&r);
        expect_same_bytes("l0.npy", "l1.npy");
        expect_same_bytes("p0.npy", "p1.npy");
        double ll[2];
        long long none[2];
        for (int s = 0; s < 2; s++) {
            RUN(&r, "score", "m.json", "gaps.npy", "--missing", "--json",
                s ? "--stream" : "--json");
            expect_ok(&r);
            json_t *j = parse_json(r.out);
            ll[s] = json_num(j, "log_likelihood");
            none[s] = json_int(j, "n_rows_all_missing");
            json_decref(j);
            run_free(&r);
        }
        assert_close(ll[1], ll[0], 1e-12, 0);
        assert_int_equal(none[0], t);
        assert_int_equal(none[1], t);
    }
    dataio_matrix_free(&x);
    /* Without --missing the gap is refused, naming where it is. */
    RUN(&r, "predict", "m.json", "gaps.npy", "--stream", "-o", "l2.npy");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "gaps.npy: row 10, column 1");
    assert_false(file_exists("l2.npy"));
    run_free(&r);
    expect_no_temporaries();
}

/* big.npy with gaps (NaN) in every block: about 1% of the values, row 10
 * wholly missing, a gap in row 68001 (the second block); written as
 * gaps.npy, gaps.f64 (raw) and, with HDF5, gaps.h5:/g/x (gzip-chunked).
 * Returns the matrix (caller frees). */
static dataio_matrix write_stream_gaps(void)
{
    write_stream_data(SIZE_MAX);
    dataio_matrix x = read_matrix("big.npy");
    for (size_t i = 0; i < x.rows; i += 53)
        x.data[2 * i + (i / 53) % 2] = NAN;
    x.data[2 * 9] = NAN;
    x.data[2 * 9 + 1] = NAN;
    x.data[2 * 68000 + 1] = NAN;
    char err[256];
    assert_int_equal(dataio_write_matrix("gaps.npy", x.data, x.rows, x.cols,
                                         err, sizeof err), 0);
    FILE *f = fopen("gaps.f64", "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(x.data, sizeof *x.data, 2 * x.rows, f),
                     2 * x.rows);
    assert_int_equal(fclose(f), 0);
#ifdef EMGMM_HAVE_HDF5
    h5_write("gaps.h5", "/g/x", H5T_IEEE_F64LE, x.data, x.rows, 2, 1000, 0);
#endif
    return x;
}

/* The completed rows y of x: every gap filled with a finite value, every
 * observed value copied bit for bit. Returns the number of gaps. */
static size_t expect_completed(const dataio_matrix *x, const double *y)
{
    size_t gaps = 0;
    for (size_t j = 0; j < x->rows * x->cols; j++) {
        if (isnan(x->data[j])) {
            assert_true(isfinite(y[j]));
            gaps++;
        } else {
            assert_memory_equal(&x->data[j], &y[j], sizeof y[j]);
        }
    }
    return gaps;
}

/* impute --stream against impute on the loaded data: .npy, raw and HDF5
 * inputs; .npy, CSV and HDF5 outputs written in several blocks: the same
 * bytes (.npy, CSV), the same values (HDF5); --draws: the same draws;
 * standard output. */
static void test_impute_stream(void **state)
{
    (void)state;
    dataio_matrix x = write_stream_gaps();
    run_result r;
    fit_stream_model();
    const char *const inputs[][3] = {
        {"gaps.npy", NULL, NULL},
        {"gaps.f64", "--shape", "70001,2"},
#ifdef EMGMM_HAVE_HDF5
        {"gaps.h5:/g/x", NULL, NULL},
#endif
    };
    const char *const *kinds = stream_kinds;
    const size_t n_inputs = sizeof inputs / sizeof inputs[0];
    const size_t n_kinds = N_STREAM_KINDS;
    /* Under valgrind (slow): the .npy and HDF5 inputs, binary outputs. */
    const int slow = getenv("EMGMM_TEST_VALGRIND") != NULL;
    for (size_t t = 0; t < n_inputs; t++) {
        if (slow && t == 1)
            continue;
        for (size_t o = 0; o < n_kinds; o++) {
            char out[2][32];
            if (slow && o == 1)
                continue;
            for (int s = 0; s < 2; s++) {
                snprintf(out[s], sizeof out[s], "f%d.%s", s, kinds[o]);
                run_on_model("impute", inputs[t], out[s], NULL, s);
            }
            if (strcmp(kinds[o], "h5") != 0) {
                expect_same_bytes(out[0], out[1]);
                if (strcmp(kinds[o], "npy") == 0) {
                    dataio_matrix y = read_matrix(out[1]);
                    assert_int_equal(y.rows, x.rows);
                    assert_int_equal(y.cols, 2);
                    assert_true(expect_completed(&x, y.data) >= 1300);
                    dataio_matrix_free(&y);
                }
            }
#ifdef EMGMM_HAVE_HDF5
            else {
                double *a = h5_read("f0.h5", "/data", H5T_IEEE_F64LE,
                                    STREAM_ROWS, 2);
                double *b = h5_read("f1.h5", "/data", H5T_IEEE_F64LE,
                                    STREAM_ROWS, 2);
                assert_memory_equal(a, b, STREAM_ROWS * 2 * sizeof *a);
                assert_true(expect_completed(&x, b) >= 1300);
                free(a);
                free(b);
            }
#endif
            remove(out[0]);
            remove(out[1]);
        }
    }
    /* --draws: the file read once a copy, each block's draws numbered by
     * their rows in the whole file: the draws of the loaded run. */
    RUN(&r, "impute", "m.json", "gaps.npy", "--draws", "2", "--seed", "3",
        "-o", "d0.npy");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "impute", "m.json", "gaps.npy", "--draws", "2", "--seed", "3",
        "--stream", "-o", "d1.npy");
    expect_ok(&r);
    run_free(&r);
    expect_same_bytes("d0.npy", "d1.npy");
    dataio_matrix y = read_matrix("d1.npy");
    assert_int_equal(y.rows, 2 * x.rows);
    expect_completed(&x, y.data);
    expect_completed(&x, y.data + 2 * x.rows);
    /* The two copies draw different numbers in the gap of row 68001. */
    assert_true(y.data[2 * 68000 + 1] !=
                y.data[2 * x.rows + 2 * 68000 + 1]);
    dataio_matrix_free(&y);
    /* Standard output, a block at a time: the CSV of the loaded run. */
    RUN(&r, "impute", "m.json", "gaps.npy", "-o", "f0.csv");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "impute", "m.json", "gaps.npy", "--stream", "-o", "-");
    expect_ok(&r);
    size_t len = 0;
    char *csv = read_all("f0.csv", &len);
    assert_non_null(csv);
    assert_int_equal(strlen(r.out), len);
    assert_memory_equal(r.out, csv, len);
    free(csv);
    run_free(&r);
    dataio_matrix_free(&x);
    expect_no_temporaries();
}

/* impute --stream: a value that is not finite in the second block (after
 * the first block was written) is exit status 2 naming the row and
 * column, and no output is left behind; text data and a model of other
 * features are refused. */
static void test_impute_stream_failures(void **state)
{
    (void)state;
    write_stream_data(68000);
    write_model_3d("m3.json");
    run_result r;
    RUN(&r, "fit", "data.csv", "-k", "2", "-o", "m2.json");
    expect_ok(&r);
    run_free(&r);
    const char *const outs[] = {"f.npy", "f.csv",
#ifdef EMGMM_HAVE_HDF5
                                "f.h5",
#endif
    };
    const size_t n_outs = getenv("EMGMM_TEST_VALGRIND") != NULL
                              ? 1 : sizeof outs / sizeof outs[0];
    for (size_t k = 0; k < n_outs; k++) {
        RUN(&r, "impute", "m2.json", "big.npy", "--stream", "-o", outs[k]);
        expect_status(&r, 2);
        expect_one_error_line(&r);
        expect_in_stderr(&r, "big.npy: row 68001, column 1: value is not "
                             "finite (inf)");
        assert_false(file_exists(outs[k]));
        run_free(&r);
    }
    RUN(&r, "impute", "m2.json", "big.npy", "--stream", "--draws", "2",
        "-o", "d.npy");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "big.npy: row 68001, column 1: value is not "
                         "finite (inf)");
    assert_false(file_exists("d.npy"));
    run_free(&r);
#ifdef EMGMM_HAVE_HDF5
    RUN(&r, "impute", "m2.json", "big.h5:/g/x", "--stream", "-o", "f.npy");
    expect_status(&r, 2);
    expect_in_stderr(&r, "big.h5:/g/x: row 68001, column 1: value is not "
                         "finite (inf)");
    assert_false(file_exists("f.npy"));
    run_free(&r);
#endif
    RUN(&r, "impute", "m2.json", "data.csv", "--stream", "-o", "f.npy");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "--stream needs .npy or raw");
    run_free(&r);
    RUN(&r, "impute", "m3.json", "big.npy", "--stream", "-o", "f.npy");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "has 3 features");
    run_free(&r);
    assert_false(file_exists("f.npy"));
    expect_no_temporaries();
}

static void test_fit_require_converged(void **state)
{
    (void)state;
    write_text("keep.json", "KEEP\n");
    run_result r;
    RUN(&r, "fit", "data.csv", "-k", "2", "--max-iter", "1",
        "--require-converged", "-o", "keep.json", "--labels", "l.csv",
        "--json");
    expect_status(&r, 1);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "converge");
    assert_string_equal(r.out, "");
    char *names = list_dir();
    assert_string_equal(names, "data.csv\nkeep.json\n");
    free(names);
    char *keep = read_all("keep.json", NULL);
    assert_string_equal(keep, "KEEP\n");
    free(keep);
    run_free(&r);

    /* The same with enough iterations succeeds. */
    RUN(&r, "fit", "data.csv", "-k", "2", "--require-converged", "-o",
        "keep.json");
    expect_ok(&r);
    run_free(&r);
    emgmm_model *m = load_model("keep.json");
    emgmm_free(&m);
}

/* A component far from every point loses all its samples: a warning by
 * default, a failure that names it with --fail-on-empty. */
static void test_fit_empty_component(void **state)
{
    (void)state;
    write_text("far.json", "{\"weights\": [0.5, 0.5], \"means\": [[0, 0], "
                           "[1e4, 1e4]], \"covariances\": [[[1, 0], [0, 1]], "
                           "[[1, 0], [0, 1]]]}");
    run_result r;
    RUN(&r, "fit", "data.csv", "--init-model", "far.json", "-o", "m.json");
    expect_status(&r, 0);
    expect_one_error_line(&r); /* the warning */
    expect_in_stderr(&r, "warning: 1 component lost all its samples");
    run_free(&r);
    RUN(&r, "fit", "data.csv", "--init-model", "far.json", "--fail-on-empty",
        "-o", "m2.json");
    expect_status(&r, 1);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "component 1 lost all its samples");
    assert_int_equal(file_exists("m2.json"), 0);
    run_free(&r);
}

/* Overlapping groups (rows x d, d >= 3): EM moves slowly, so a fit with
 * --tol 0 runs until it is stopped. */
static void write_slow_data(const char *path, int d)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    test_rng g = {2024};
    for (int i = 0; i < 4000; i++) {
        fprintf(f, "%.17g,%.17g,%.17g", test_rng_normal(&g) + (i % 3),
                test_rng_normal(&g), test_rng_normal(&g) * (1 + i % 2));
        for (int j = 3; j < d; j++)
            fprintf(f, ",%.17g", test_rng_normal(&g) + 0.5 * (i % 2) * j);
        fputc('\n', f);
    }
    assert_int_equal(fclose(f), 0);
}

/* A fit stopped by SIGTERM (what a batch scheduler sends at the time
 * limit) exits 3 after writing a checkpoint; --resume from it ends with
 * the same model, bit for bit, as an uninterrupted fit. */
static void test_fit_sigterm_checkpoint_resume(void **state)
{
    (void)state;
    /* Overlapping groups and tol 0: the fit runs until it is stopped. */
    write_slow_data("slow.csv", 3);

    /* Started as every other run of this test (under valgrind in the
     * valgrind suite), so that the resumed and the whole fit below use
     * the kernels that wrote the checkpoint. */
    pid_t pid = spawn_program(NULL, NULL, "sigterm.err", NULL,
                              (const char *const[]){
                                  "fit", "slow.csv", "-k", "4", "--tol", "0",
                                  "--max-iter", "1000000", "--checkpoint",
                                  "ckpt.json", "-o", "never.json", NULL});
    /* Wait for the first checkpoint (60 s at most), then stop the fit. */
    struct stat st;
    const struct timespec tick = {0, 10 * 1000 * 1000};
    for (int tries = 0; tries < 6000 && stat("ckpt.json", &st) != 0; tries++)
        nanosleep(&tick, NULL);
    assert_int_equal(stat("ckpt.json", &st), 0);
    assert_int_equal(kill(pid, SIGTERM), 0);
    assert_int_equal(wait_program(pid), 3);
    char *err = read_all("sigterm.err", NULL);
    assert_non_null(strstr(err, "interrupted by SIGTERM"));
    assert_non_null(strstr(err, "--resume ckpt.json"));
    free(err);
    assert_int_equal(file_exists("never.json"), 0);

    /* The checkpoint is a complete model file with its iteration. */
    json_error_t jerr;
    json_t *ck = json_load_file("ckpt.json", 0, &jerr);
    assert_non_null(ck);
    const int done = (int)json_integer_value(
        json_object_get(json_object_get(ck, "fit"), "n_iter"));
    json_decref(ck);
    assert_true(done >= 1);
    char total[32];
    snprintf(total, sizeof total, "%d", done + 5);

    run_result r;
    RUN(&r, "fit", "slow.csv", "--resume", "ckpt.json", "--max-iter", total,
        "-o", "resumed.json");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "fit", "slow.csv", "-k", "4", "--tol", "0", "--max-iter", total,
        "-o", "whole.json");
    expect_ok(&r);
    run_free(&r);
    char *a = read_all("resumed.json", NULL), *b = read_all("whole.json", NULL);
    assert_string_equal(a, b);
    free(a);
    free(b);

    /* --resume takes the model from its file. */
    RUN(&r, "fit", "slow.csv", "--resume", "ckpt.json", "-k", "3");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    run_free(&r);
}

/* --resume takes -k, -c, --init and --n-init 1 that agree with the
 * checkpoint, so a job script can append it to the command that started
 * the fit; the result is that of --resume alone (and of a fit never
 * stopped). What disagrees is refused before any work. */
static void test_fit_resume_with_start_options(void **state)
{
    (void)state;
    run_result r;
    RUN(&r, "fit", "data.csv", "-k", "2", "-c", "diag", "--tol", "0",
        "--max-iter", "3", "--checkpoint", "ck.json", "-o", "m3.json");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "fit", "data.csv", "--resume", "ck.json", "--max-iter", "8",
        "-o", "alone.json");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "fit", "data.csv", "-k", "2", "-c", "diag", "--init", "random",
        "--n-init", "1", "--resume", "ck.json", "--max-iter", "8", "-o",
        "agree.json", "--json");
    expect_ok(&r);
    json_t *j = parse_json(r.out);
    assert_int_equal(json_int(j, "n_iter"), 8);
    json_decref(j);
    run_free(&r);
    RUN(&r, "fit", "data.csv", "-k", "2", "-c", "diag", "--tol", "0",
        "--max-iter", "8", "-o", "whole.json");
    expect_ok(&r);
    run_free(&r);
    char *alone = read_all("alone.json", NULL);
    char *agree = read_all("agree.json", NULL);
    char *whole = read_all("whole.json", NULL);
    assert_non_null(alone);
    assert_non_null(agree);
    assert_non_null(whole);
    assert_string_equal(agree, alone);
    assert_string_equal(agree, whole);
    free(alone);
    free(agree);
    free(whole);

    static const char *const bad[][3] = {
        {"-k", "3", "-k 3 disagrees with the checkpoint ck.json, which has "
                    "2 components"},
        {"-c", "full", "-c full disagrees with the checkpoint ck.json, whose "
                       "covariance type is diag"},
        {"--n-init", "2", "--n-init must be 1"},
        {"--init-model", "m3.json", "--resume and --init-model exclude"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        RUN(&r, "fit", "data.csv", bad[i][0], bad[i][1], "--resume",
            "ck.json", "-o", "no.json");
        expect_status(&r, 2);
        expect_one_error_line(&r);
        expect_in_stderr(&r, bad[i][2]);
        assert_false(file_exists("no.json"));
        run_free(&r);
    }

    /* A "fit" record that names its start method: --init must agree. */
    json_error_t jerr;
    json_t *ck = json_load_file("ck.json", 0, &jerr);
    assert_non_null(ck);
    assert_int_equal(json_object_set_new(json_object_get(ck, "fit"), "init",
                                         json_string("kmeans")), 0);
    assert_int_equal(json_dump_file(ck, "ck2.json", 0), 0);
    json_decref(ck);
    RUN(&r, "fit", "data.csv", "--init", "random", "--resume", "ck2.json",
        "-o", "no.json");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "--init random disagrees with the checkpoint "
                         "ck2.json");
    assert_false(file_exists("no.json"));
    run_free(&r);
    RUN(&r, "fit", "data.csv", "--init", "kmeans", "--resume", "ck2.json",
        "--max-iter", "8", "-o", "named.json");
    expect_ok(&r);
    run_free(&r);
}

/* A copy of the environment with one more (or a replaced) variable. */
static char **environment_with(const char *assignment)
{
    const size_t name_len = strcspn(assignment, "=") + 1;
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    char **env = calloc(n + 2, sizeof *env);
    assert_non_null(env);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], assignment, name_len) != 0)
            env[m++] = environ[i];
    env[m++] = (char *)assignment;
    env[m] = NULL;
    return env;
}

/* How closely a fit resumed on other BLAS kernels (another CPU, another
 * BLAS build) follows the uninterrupted one: both start from the same
 * checkpoint bits, and each product then rounds differently in its last
 * bit (a relative 1e-16 per step, grown by the number of terms and by
 * the fit's conditioning over the iterations). Measured: below 1e-13
 * after 20 iterations here; 1e-9 leaves room for worse-conditioned fits
 * and still fails for any real difference (a different fit differs from
 * the 3rd digit on). The README states this promise. */
#define RESUME_OTHER_KERNEL_RTOL 1e-9

/* A checkpoint written with one CPU's BLAS kernels and resumed with
 * others. OPENBLAS_CORETYPE=Prescott makes the resuming process use
 * OpenBLAS's SSE3 kernels, which no AVX2 or AVX-512 machine picks by
 * itself (natively or under valgrind), so the resumed fit runs on other
 * kernels than the checkpoint's writer on every machine this runs on.
 * (Another BLAS provider ignores the variable; the test then compares
 * equal kernels, which must agree too.) */
static void test_fit_resume_other_blas_kernel(void **state)
{
    (void)state;
    write_slow_data("slow8.csv", 8);
    run_result r;
    RUN(&r, "fit", "slow8.csv", "-k", "4", "--tol", "0", "--max-iter", "5",
        "--checkpoint", "ckpt.json", "-o", "five.json");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "fit", "slow8.csv", "-k", "4", "--tol", "0", "--max-iter", "25",
        "-o", "whole.json", "--json");
    expect_ok(&r);
    json_t *jw = parse_json(r.out);
    run_free(&r);
    char **env = environment_with("OPENBLAS_CORETYPE=Prescott");
    run_env(&r, NULL, env,
            (const char *const[]){"fit", "slow8.csv", "--resume", "ckpt.json",
                                  "--max-iter", "25", "-o", "resumed.json",
                                  "--json", NULL});
    free(env);
    expect_ok(&r);
    json_t *jr = parse_json(r.out);
    run_free(&r);

    assert_int_equal(json_int(jr, "n_iter"), 25);
    assert_close(json_num(jr, "log_likelihood"), json_num(jw, "log_likelihood"),
                 RESUME_OTHER_KERNEL_RTOL, 0);
    emgmm_model *a = load_model("resumed.json"), *b = load_model("whole.json");
    const size_t k = 4, d = 8;
    double worst = 0.0;
    const double *pa[3] = {emgmm_weights(a), emgmm_means(a),
                           emgmm_covariances(a)};
    const double *pb[3] = {emgmm_weights(b), emgmm_means(b),
                           emgmm_covariances(b)};
    const size_t len[3] = {k, k * d, k * d * d};
    for (int t = 0; t < 3; t++)
        for (size_t i = 0; i < len[t]; i++) {
            /* Relative to the largest value of the array: a covariance
             * entry near zero carries the rounding of its neighbours. */
            double scale = 0.0;
            for (size_t j = 0; j < len[t]; j++)
                scale = fmax(scale, fabs(pb[t][j]));
            const double rel = fabs(pa[t][i] - pb[t][i]) / scale;
            worst = fmax(worst, rel);
            assert_true(rel <= RESUME_OTHER_KERNEL_RTOL);
        }
    print_message("resumed on other BLAS kernels: largest relative "
                  "difference %.2e\n", worst);
    emgmm_free(&a);
    emgmm_free(&b);
    json_decref(jw);
    json_decref(jr);
}

static void test_fit_singular(void **state)
{
    (void)state;
    /* Three distinct points, each repeated: with no regularisation each
     * component's covariance is exactly zero. */
    FILE *f = fopen("dup.csv", "w");
    assert_non_null(f);
    for (int i = 0; i < 30; i++)
        fprintf(f, "%d,%d\n", (i % 3) * 10, (i % 3) * 5);
    assert_int_equal(fclose(f), 0);
    run_result r;
    RUN(&r, "fit", "dup.csv", "-k", "3", "--reg-covar", "0", "-o", "m.json");
    expect_status(&r, 1);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "raise --reg-covar");
    assert_false(file_exists("m.json"));
    run_free(&r);
}

static void test_fit_unwritable_output(void **state)
{
    (void)state;
    write_text("plain.txt", "x\n");
    char *before = list_dir();
    static const char *const outs[] = {"nodir/m.json", "plain.txt/m.json",
                                       "."};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        run_result r;
        RUN(&r, "fit", "data.csv", "-k", "2", "--labels", "l.csv", "-o",
            outs[i], "--json");
        expect_status(&r, 1);
        expect_one_error_line(&r);
        assert_string_equal(r.out, "");
        char *after = list_dir();
        assert_string_equal(after, before);
        free(after);
        run_free(&r);
    }

    /* A write that fails half way (a full disk): the model and labels
     * already written to their temporary files are removed again. */
    if (file_exists("/dev/full")) {
        run_result r;
        RUN(&r, "fit", "data.csv", "-k", "2", "-o", "m.json", "--labels",
            "l.csv", "--proba", "/dev/full");
        expect_status(&r, 1);
        expect_one_error_line(&r);
        expect_in_stderr(&r, "/dev/full");
        char *after = list_dir();
        assert_string_equal(after, before);
        free(after);
        run_free(&r);
    }
    free(before);
}

/* ------------------------------------------------------------------ */
/* predict, score, sample                                              */
/* ------------------------------------------------------------------ */

static void test_predict(void **state)
{
    (void)state;
    fit_model();
    size_t n_fit;
    char *fit_labels = read_all("l.csv", &n_fit);
    assert_non_null(fit_labels);

    run_result r;
    RUN(&r, "predict", "m.json", "data.csv");
    expect_ok(&r);
    assert_int_equal(r.out_len, n_fit);
    assert_string_equal(r.out, fit_labels);
    run_free(&r);

    RUN(&r, "predict", "m.json", "data.csv", "-o", "l2.csv", "--proba",
        "p2.csv");
    expect_ok(&r);
    assert_string_equal(r.out, "");
    char *l2 = read_all("l2.csv", NULL);
    assert_non_null(l2);
    assert_string_equal(l2, fit_labels);
    dataio_matrix p = read_matrix("p2.csv");
    assert_int_equal(p.rows, N_ROWS);
    assert_int_equal(p.cols, 2);
    dataio_matrix_free(&p);
    free(l2);
    free(fit_labels);
    run_free(&r);

    /* Labels and --proba cannot both go to standard output. */
    RUN(&r, "predict", "m.json", "data.csv", "--proba", "-");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    assert_string_equal(r.out, "");
    run_free(&r);
}

static void test_score(void **state)
{
    (void)state;
    static const char *const keys[] = {"n_samples", "log_likelihood", "bic",
                                       "aic", NULL};
    run_result r;
    RUN(&r, "fit", "data.csv", "-k", "2", "-o", "m.json", "--json");
    expect_ok(&r);
    json_t *fit = parse_json(r.out);
    run_free(&r);

    RUN(&r, "score", "m.json", "data.csv", "--json");
    expect_ok(&r);
    json_t *j = parse_json(r.out);
    expect_keys(j, keys);
    assert_int_equal(json_int(j, "n_samples"), N_ROWS);
    assert_close(json_num(j, "log_likelihood"),
                 json_num(fit, "log_likelihood"), 1e-12, 0);
    assert_close(json_num(j, "bic"), json_num(fit, "bic"), 1e-12, 0);
    assert_close(json_num(j, "aic"), json_num(fit, "aic"), 1e-12, 0);
    double ll = json_num(j, "log_likelihood");
    json_decref(j);
    json_decref(fit);
    run_free(&r);

    RUN(&r, "score", "m.json", "data.csv");
    expect_ok(&r);
    double ll2, bic, aic;
    int n = 0;
    assert_int_equal(sscanf(r.out, "log_likelihood %lf\nbic %lf\naic %lf\n"
                            "n_samples %d", &ll2, &bic, &aic, &n), 4);
    assert_int_equal(n, N_ROWS);
    assert_close(ll2, ll, 1e-15, 0);
    assert_close(aic, -2.0 * N_ROWS * ll + 22, 1e-9, 0);
    run_free(&r);
}

static void test_sample(void **state)
{
    (void)state;
    fit_model();
    run_result r;
    const char *const seeds[][2] = {{"3", "s1.csv"}, {"3", "s2.csv"},
                                    {"4", "s3.csv"}};
    for (int i = 0; i < 3; i++) {
        RUN(&r, "sample", "m.json", "-n", "100", "--seed", seeds[i][0], "-o",
            seeds[i][1]);
        expect_ok(&r);
        assert_string_equal(r.out, "");
        run_free(&r);
    }
    dataio_matrix s = read_matrix("s1.csv");
    assert_int_equal(s.rows, 100);
    assert_int_equal(s.cols, 2);
    dataio_matrix_free(&s);
    char *a = read_all("s1.csv", NULL), *b = read_all("s2.csv", NULL),
         *c = read_all("s3.csv", NULL);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    free(b);
    free(c);

    /* The default seed is 0; .npy output; standard output. */
    RUN(&r, "sample", "m.json", "-n", "100", "-o", "d.npy");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "sample", "m.json", "-n", "100", "--seed", "0", "-o", "-");
    expect_ok(&r);
    write_text("z.csv", r.out);
    run_free(&r);
    dataio_matrix d = read_matrix("d.npy"), z = read_matrix("z.csv");
    assert_int_equal(d.rows, 100);
    assert_int_equal(z.rows, 100);
    assert_memory_equal(d.data, z.data, 200 * sizeof(double));
    dataio_matrix_free(&d);
    dataio_matrix_free(&z);
    free(a);
}

/* ------------------------------------------------------------------ */
/* Sample weights                                                       */
/* ------------------------------------------------------------------ */

/* Row i of data.csv gets weight i % 4: w.csv holds the weights, rep.csv
 * holds each row repeated that many times (weight 0: left out). */
static void write_weights_and_repeats(void)
{
    dataio_matrix x = read_matrix("data.csv");
    FILE *w = fopen("w.csv", "w"), *rep = fopen("rep.csv", "w");
    assert_non_null(w);
    assert_non_null(rep);
    for (size_t i = 0; i < x.rows; i++) {
        fprintf(w, "%zu\n", i % 4);
        for (size_t c = 0; c < i % 4; c++)
            fprintf(rep, "%.17g,%.17g\n", x.data[2 * i], x.data[2 * i + 1]);
    }
    assert_int_equal(fclose(w), 0);
    assert_int_equal(fclose(rep), 0);
    dataio_matrix_free(&x);
}

static void expect_close_arrays(const double *a, const double *b, size_t n,
                                double rtol)
{
    for (size_t i = 0; i < n; i++)
        assert_close(a[i], b[i], rtol, 1e-300);
}

/* The number of values in the covariances of a model. */
static size_t n_cov_values(const emgmm_model *m)
{
    size_t k = emgmm_n_components(m), d = emgmm_n_features(m);
    switch (emgmm_get_covariance_type(m)) {
    case EMGMM_COVARIANCE_FULL: return k * d * d;
    case EMGMM_COVARIANCE_TIED: return d * d;
    case EMGMM_COVARIANCE_DIAG: return k * d;
    case EMGMM_COVARIANCE_SPHERICAL: return k;
    }
    return 0;
}

static void test_fit_weights_equal_repeats(void **state)
{
    (void)state;
    write_weights_and_repeats();
    static const char *const types[] = {"full", "tied", "diag", "spherical"};
    for (size_t t = 0; t < 4; t++) {
        run_result r;
        /* A rough common start, then the same 20 iterations on both. */
        RUN(&r, "fit", "data.csv", "-k", "2", "-c", types[t], "--max-iter",
            "2", "-o", "start.json");
        expect_ok(&r);
        run_free(&r);
        RUN(&r, "fit", "data.csv", "--weights", "w.csv", "--init-model",
            "start.json", "--tol", "0", "--max-iter", "20", "-o", "a.json",
            "--json");
        expect_ok(&r);
        json_t *ja = parse_json(r.out);
        run_free(&r);
        RUN(&r, "fit", "rep.csv", "--init-model", "start.json", "--tol", "0",
            "--max-iter", "20", "-o", "b.json", "--json");
        expect_ok(&r);
        json_t *jb = parse_json(r.out);
        run_free(&r);

        emgmm_model *a = load_model("a.json"), *b = load_model("b.json");
        assert_int_equal(emgmm_get_covariance_type(a),
                         emgmm_get_covariance_type(b));
        expect_close_arrays(emgmm_weights(a), emgmm_weights(b), 2, 1e-10);
        expect_close_arrays(emgmm_means(a), emgmm_means(b), 4, 1e-10);
        expect_close_arrays(emgmm_covariances(a), emgmm_covariances(b),
                            n_cov_values(a), 1e-10);
        /* Frequency weights: the same mean log-likelihood, and BIC with
         * N = the sum of the weights = the repeated rows. */
        assert_close(json_num(ja, "log_likelihood"),
                     json_num(jb, "log_likelihood"), 1e-10, 0);
        assert_close(json_num(ja, "bic"), json_num(jb, "bic"), 1e-10, 0);
        assert_close(json_num(ja, "aic"), json_num(jb, "aic"), 1e-10, 0);
        emgmm_free(&a);
        emgmm_free(&b);
        json_decref(ja);
        json_decref(jb);
    }

    /* select: the same table either way. */
    run_result r1, r2;
    RUN(&r1, "select", "data.csv", "--weights", "w.csv", "-k", "1..3",
        "--json");
    expect_ok(&r1);
    RUN(&r2, "select", "rep.csv", "-k", "1..3", "--json");
    expect_ok(&r2);
    json_t *j1 = parse_json(r1.out), *j2 = parse_json(r2.out);
    json_t *res1 = json_object_get(j1, "results"),
           *res2 = json_object_get(j2, "results");
    assert_int_equal(json_array_size(res1), 12);
    assert_int_equal(json_array_size(res2), 12);
    for (size_t i = 0; i < 12; i++)
        assert_close(json_num(json_array_get(res1, i), "bic"),
                     json_num(json_array_get(res2, i), "bic"), 1e-6, 0);
    json_decref(j1);
    json_decref(j2);
    run_free(&r1);
    run_free(&r2);
}

/* ------------------------------------------------------------------ */
/* Pictures (SVG)                                                      */
/* ------------------------------------------------------------------ */

static size_t count_of(const char *text, const char *what)
{
    size_t n = 0, len = strlen(what);
    for (const char *p = strstr(text, what); p; p = strstr(p + len, what))
        n++;
    return n;
}

/* A picture: the root element first and last, a title, axis numbers,
 * `elements` times `element` (when not NULL), and well-formed XML by
 * xmllint where it is installed. Returns the text (caller frees). */
static char *check_svg(const char *path, const char *element,
                       size_t elements)
{
    size_t len = 0;
    char *s = read_all(path, &len);
    if (s == NULL)
        print_message("%s was not written\n", path);
    assert_non_null(s);
    assert_int_equal(strncmp(s, "<svg ", 5), 0);
    assert_true(len > 8);
    assert_string_equal(s + len - 7, "</svg>\n");
    assert_int_equal(count_of(s, "<svg"), 1);
    assert_non_null(strstr(s, "viewBox=\"0 0 800 600\""));
    assert_int_equal(count_of(s, "<title>"), 1);
    assert_true(count_of(s, "<text") >= 8); /* title, numbers, labels */
    if (element != NULL && count_of(s, element) != elements)
        print_message("%s has %zu %s, not %zu\n", path, count_of(s, element),
                      element, elements);
    if (element != NULL)
        assert_int_equal(count_of(s, element), elements);
    /* Well-formed XML: xmllint's check, or Python's parser, when one of
     * them is there. */
    char cmd[PATH_MAX + 128];
    if (access("/usr/bin/xmllint", X_OK) == 0) {
        snprintf(cmd, sizeof cmd, "/usr/bin/xmllint --noout '%s'", path);
        assert_int_equal(system(cmd), 0);
    } else if (system("python3 -c 'import xml.etree.ElementTree' "
                      ">/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof cmd, "python3 -c 'import sys, "
                 "xml.etree.ElementTree as E; E.parse(sys.argv[1])' '%s'",
                 path);
        assert_int_equal(system(cmd), 0);
    } else {
        print_message("neither xmllint nor python3 installed: "
                      "well-formedness of %s not checked (skipped)\n", path);
    }
    return s;
}

static void test_plot(void **state)
{
    (void)state;
    fit_model();
    run_result r;
    RUN(&r, "plot", "m.json", "data.csv", "-o", "fit.svg");
    expect_ok(&r);
    assert_string_equal(r.out, "");
    run_free(&r);
    /* 1- and 2-sigma ellipses of both components; a point per row, plus
     * a legend dot per component. */
    char *s = check_svg("fit.svg", "<ellipse", 4);
    assert_int_equal(count_of(s, "<circle"), N_ROWS + 2);
    assert_non_null(strstr(s, "component 1 (weight 0.50)"));
    assert_null(strstr(s, "projected"));
    assert_null(strstr(s, "showing"));
    free(s);

    /* To standard output by default; every 4th row with --max-points. */
    RUN(&r, "plot", "m.json", "data.csv", "--max-points", "50");
    expect_ok(&r);
    write_text("out.svg", r.out);
    run_free(&r);
    s = check_svg("out.svg", "<ellipse", 4);
    assert_int_equal(count_of(s, "<circle"), 50 + 2);
    assert_non_null(strstr(s, "showing 50 of 200 points (every 4th row)"));
    free(s);

    /* Odd characters in file names are escaped. */
    const char *odd = "a&b<c>'q\".csv";
    assert_int_equal(rename("data.csv", odd), 0);
    RUN(&r, "plot", "m.json", odd, "-o", "odd.svg");
    expect_ok(&r);
    run_free(&r);
    s = check_svg("odd.svg", "<ellipse", 4);
    assert_non_null(strstr(s, "a&amp;b&lt;c&gt;&apos;q&quot;.csv"));
    free(s);
}

/* Three features: projected on the principal components, every type. */
static void test_plot_projected(void **state)
{
    (void)state;
    FILE *f = fopen("d3.csv", "w");
    assert_non_null(f);
    test_rng g = {7};
    for (int i = 0; i < 300; i++) {
        double c = (i % 3) * 6.0;
        fprintf(f, "%.17g,%.17g,%.17g\n", c + test_rng_normal(&g),
                -c + 0.5 * test_rng_normal(&g), 0.2 * test_rng_normal(&g));
    }
    assert_int_equal(fclose(f), 0);
    static const char *const types[] = {"full", "tied", "diag", "spherical"};
    for (size_t t = 0; t < 4; t++) {
        run_result r;
        RUN(&r, "fit", "d3.csv", "-k", "3", "-c", types[t], "-o", "m3.json");
        expect_ok(&r);
        run_free(&r);
        RUN(&r, "plot", "m3.json", "d3.csv", "-o", "p3.svg");
        expect_ok(&r);
        run_free(&r);
        char *s = check_svg("p3.svg", "<ellipse", 6);
        assert_non_null(strstr(s, "projected on principal components 1-2"));
        assert_non_null(strstr(s, "principal component 1 ("));
        assert_non_null(strstr(s, types[t]));
        free(s);
    }
}

/* Two features are labelled with the header's names, "feature N" only
 * without a header (or one that does not name every column). */
static void test_plot_axis_names(void **state)
{
    (void)state;
    fit_model(); /* data.csv has the header x_km,y_km */
    run_result r;
    RUN(&r, "plot", "m.json", "data.csv", "-o", "named.svg");
    expect_ok(&r);
    run_free(&r);
    char *s = check_svg("named.svg", "<ellipse", 4);
    assert_non_null(strstr(s, ">x_km</text>"));
    assert_non_null(strstr(s, ">y_km</text>"));
    assert_null(strstr(s, "feature 1"));
    assert_null(strstr(s, "feature 2"));
    free(s);

    /* The same rows without the header line. */
    char *text = read_all("data.csv", NULL);
    assert_non_null(text);
    char *rows = strchr(text, '\n');
    assert_non_null(rows);
    write_text("plain.csv", rows + 1);
    RUN(&r, "plot", "m.json", "plain.csv", "-o", "plain.svg");
    expect_ok(&r);
    run_free(&r);
    s = check_svg("plain.svg", "<ellipse", 4);
    assert_non_null(strstr(s, ">feature 1</text>"));
    assert_non_null(strstr(s, ">feature 2</text>"));
    assert_null(strstr(s, "x_km"));
    free(s);

    /* Quoted names with markup characters are escaped; a header with a
     * name too many names nothing. */
    static const char *const headers[] = {
        "\"speed <km/h>\",\"depth & m\"\n", "a,b,c\n"};
    for (int h = 0; h < 2; h++) {
        size_t n = strlen(headers[h]) + strlen(rows + 1) + 1;
        char *other = malloc(n);
        assert_non_null(other);
        snprintf(other, n, "%s%s", headers[h], rows + 1);
        write_text("other.csv", other);
        free(other);
        RUN(&r, "plot", "m.json", "other.csv", "-o", "other.svg");
        expect_ok(&r);
        run_free(&r);
        s = check_svg("other.svg", "<ellipse", 4);
        if (h == 0) {
            assert_non_null(strstr(s, ">speed &lt;km/h&gt;</text>"));
            assert_non_null(strstr(s, ">depth &amp; m</text>"));
            assert_null(strstr(s, "feature 1"));
        } else {
            assert_non_null(strstr(s, ">feature 1</text>"));
            assert_null(strstr(s, ">a</text>"));
        }
        free(s);
    }
    free(text);

    /* The demo data set has a header too. */
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/data/sightings.csv", g_src);
    if (!file_exists(path))
        return;
    RUN(&r, "fit", path, "-k", "2", "-o", "s.json");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "plot", "s.json", path, "-o", "sightings.svg");
    expect_ok(&r);
    run_free(&r);
    s = check_svg("sightings.svg", "<ellipse", 4);
    assert_non_null(strstr(s, ">x_km</text>"));
    assert_non_null(strstr(s, ">y_km</text>"));
    assert_null(strstr(s, "feature 1"));
    free(s);
}

static void test_fit_trace(void **state)
{
    (void)state;
    run_result r;
    RUN(&r, "fit", "data.csv", "-k", "2", "--tol", "0", "--max-iter", "5",
        "-o", "m.json", "--trace", "trace.svg");
    expect_ok(&r);
    run_free(&r);
    /* One line; a dot per iteration and one in the legend. */
    char *s = check_svg("trace.svg", "<polyline", 1);
    assert_int_equal(count_of(s, "<circle"), 5 + 1);
    assert_non_null(strstr(s, "Log-likelihood per EM iteration"));
    assert_non_null(strstr(s, "not converged after 5 iterations"));
    free(s);

    /* A line per restart, the kept one named. */
    RUN(&r, "fit", "data.csv", "-k", "2", "--n-init", "3", "--json",
        "--trace", "trace3.svg");
    expect_ok(&r);
    json_decref(parse_json(r.out));
    run_free(&r);
    s = check_svg("trace3.svg", "<polyline", 3);
    assert_int_equal(count_of(s, "(kept)"), 1);
    free(s);

    /* The trace is part of the output set: a failed fit leaves none. */
    RUN(&r, "fit", "data.csv", "-k", "2", "--max-iter", "1",
        "--require-converged", "--trace", "t.svg", "-o", "m2.json");
    expect_status(&r, 1);
    assert_false(file_exists("t.svg"));
    assert_false(file_exists("m2.json"));
    run_free(&r);
}

/* ------------------------------------------------------------------ */
/* select                                                              */
/* ------------------------------------------------------------------ */

static void test_select_demo(void **state)
{
    (void)state;
    static const char *const top_keys[] = {"criterion", "best", "results",
                                           NULL};
    static const char *const best_keys[] = {
        "n_components", "covariance_type", "bic", "aic", "log_likelihood",
        NULL};
    static const char *const result_keys[] = {
        "n_components", "covariance_type", "bic", "aic", "log_likelihood",
        "n_iter", "converged", NULL};
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/data/sightings.csv", g_src);
    if (!file_exists(path))
        skip();
    run_result r;
    RUN(&r, "select", path, "-k", "1..4", "--json", "-o", "best.json",
        "--plot", "bic.svg");
    expect_ok(&r);
    json_t *j = parse_json(r.out);
    expect_keys(j, top_keys);
    assert_string_equal(json_string_value(json_object_get(j, "criterion")),
                        "bic");
    json_t *best = json_object_get(j, "best");
    expect_keys(best, best_keys);
    /* Two groups: the best has 2 components, whatever its type. */
    assert_int_equal(json_int(best, "n_components"), 2);
    const char *best_type =
        json_string_value(json_object_get(best, "covariance_type"));
    assert_non_null(best_type);

    json_t *results = json_object_get(j, "results");
    assert_int_equal(json_array_size(results), 16); /* 4 K x 4 types */
    double lowest = INFINITY;
    for (size_t i = 0; i < 16; i++) {
        json_t *item = json_array_get(results, i);
        expect_keys(item, result_keys);
        /* K outer, the types in their default order inner. */
        assert_int_equal(json_int(item, "n_components"), (long long)i / 4 + 1);
        static const char *const order[] = {"full", "tied", "diag",
                                            "spherical"};
        assert_string_equal(
            json_string_value(json_object_get(item, "covariance_type")),
            order[i % 4]);
        lowest = fmin(lowest, json_num(item, "bic"));
    }
    assert_close(json_num(best, "bic"), lowest, 0, 0);

    /* -o: the best model, with the K and type of "best". */
    emgmm_model *m = load_model("best.json");
    assert_int_equal(emgmm_n_components(m), 2);
    assert_string_equal(
        emgmm_covariance_type_name(emgmm_get_covariance_type(m)), best_type);
    emgmm_free(&m);
    json_decref(j);
    run_free(&r);

    /* The picture: a line and 4 dots per type, the best ringed. */
    char *s = check_svg("bic.svg", "<polyline", 4);
    assert_int_equal(count_of(s, "<circle"), 16 + 4 + 2);
    assert_non_null(strstr(s, "best: K=2"));
    free(s);

    /* The table: rows 1..4, one '*', on K=2's row. */
    RUN(&r, "select", path, "-k", "1..4");
    expect_ok(&r);
    assert_non_null(strstr(r.out, "lower is better"));
    assert_non_null(strstr(r.out, "VVV"));
    assert_int_equal(count_of(r.out, "*"), 1);
    const char *star = strchr(r.out, '*');
    const char *line = star;
    while (line > r.out && line[-1] != '\n')
        line--;
    assert_int_equal(atoi(line), 2);
    assert_non_null(strstr(r.out, "best: K=2"));
    run_free(&r);
}

static void test_select_lists_and_failures(void **state)
{
    (void)state;
    run_result r;
    /* A list, a repeat and a type given twice: K = 1, 2, 3, two types. */
    RUN(&r, "select", "data.csv", "-k", "3,1..2,2", "-c", "diag,full,diag",
        "--criterion", "aic", "--json");
    expect_ok(&r);
    json_t *j = parse_json(r.out);
    assert_string_equal(json_string_value(json_object_get(j, "criterion")),
                        "aic");
    json_t *results = json_object_get(j, "results");
    assert_int_equal(json_array_size(results), 6);
    assert_int_equal(json_int(json_array_get(results, 0), "n_components"), 1);
    assert_int_equal(json_int(json_array_get(results, 5), "n_components"), 3);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(results, 0), "covariance_type")),
                        "diag");
    json_decref(j);
    run_free(&r);

    /* Too few samples for K = 4, 5: reported, not fatal. */
    write_text("few.csv", "1,2\n3,4\n5,7\n");
    RUN(&r, "select", "few.csv", "-k", "1..5", "-c", "spherical", "--json");
    expect_ok(&r);
    j = parse_json(r.out);
    results = json_object_get(j, "results");
    assert_int_equal(json_array_size(results), 5);
    for (size_t i = 3; i < 5; i++) {
        json_t *item = json_array_get(results, i);
        static const char *const keys[] = {"n_components", "covariance_type",
                                           "error", NULL};
        expect_keys(item, keys);
    }
    json_decref(j);
    run_free(&r);
    RUN(&r, "select", "few.csv", "-k", "1..5", "-c", "spherical,diag");
    expect_ok(&r);
    assert_non_null(strstr(r.out, " -"));
    assert_non_null(strstr(r.out, "K=5 spherical:"));
    run_free(&r);

    /* All fail: exit 1, one line, no output. */
    RUN(&r, "select", "few.csv", "-k", "4..5", "-o", "best.json", "--plot",
        "bic.svg");
    expect_status(&r, 1);
    expect_one_error_line(&r);
    assert_string_equal(r.out, "");
    assert_false(file_exists("best.json"));
    assert_false(file_exists("bic.svg"));
    run_free(&r);
}

/* ------------------------------------------------------------------ */
/* Missing values                                                      */
/* ------------------------------------------------------------------ */

/* data.csv with gaps: every 7th value left empty, every 11th "NaN", and
 * row 5 with nothing observed. Returns the number of gaps, and the rows
 * with nothing observed in *empty_rows. */
static size_t write_gappy(const char *path, size_t *empty_rows)
{
    dataio_matrix x = read_matrix("data.csv");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "x_km,y_km\n");
    size_t gaps = 0;
    *empty_rows = 0;
    for (size_t i = 0; i < x.rows; i++) {
        const size_t gaps_before = gaps;
        for (size_t j = 0; j < x.cols; j++) {
            const size_t at = i * x.cols + j;
            if (j > 0)
                fputc(',', f);
            if (i == 5 || at % 7 == 3) {
                gaps++;
            } else if (at % 11 == 4) {
                fputs("NaN", f);
                gaps++;
            } else {
                fprintf(f, "%.17g", x.data[at]);
            }
        }
        fputc('\n', f);
        *empty_rows += gaps - gaps_before == x.cols;
    }
    assert_int_equal(fclose(f), 0);
    dataio_matrix_free(&x);
    return gaps;
}

static dataio_matrix read_gappy(const char *path)
{
    dataio_matrix m = {NULL, 0, 0};
    char err[512] = "";
    dataio_read_options opt = {0, 0, 1};
    if (dataio_read_matrix(path, &opt, &m, err, sizeof err) != 0)
        print_message("%s\n", err);
    assert_non_null(m.data);
    return m;
}

static void test_missing_values(void **state)
{
    (void)state;
    size_t empty_rows;
    const size_t gaps = write_gappy("gappy.csv", &empty_rows);
    run_result r;

    /* Without --missing: an error naming the place and the flag. */
    RUN(&r, "fit", "gappy.csv", "-k", "2", "-o", "m.json");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "gappy.csv:3:2: missing value");
    expect_in_stderr(&r, "--missing");
    assert_false(file_exists("m.json"));
    run_free(&r);

    RUN(&r, "fit", "gappy.csv", "-k", "2", "--missing", "-o", "m.json",
        "--labels", "l.csv", "--json");
    expect_ok(&r);
    json_t *j = parse_json(r.out);
    assert_int_equal(json_int(j, "n_missing_values"), (long long)gaps);
    assert_int_equal(json_int(j, "n_rows_all_missing"), (long long)empty_rows);
    assert_true(empty_rows >= 1);
    assert_int_equal(json_int(j, "n_samples"), N_ROWS);
    const double ll = json_num(j, "log_likelihood");
    json_decref(j);
    run_free(&r);

    /* The same fit through the library. */
    dataio_matrix x = read_gappy("gappy.csv");
    emgmm_params p;
    emgmm_params_default(&p);
    p.n_components = 2;
    p.missing = 1;
    emgmm_model *lib = NULL;
    emgmm_fit_info info;
    assert_int_equal(emgmm_fit(&p, x.data, x.rows, x.cols, x.cols, &lib,
                               &info), EMGMM_OK);
    assert_close(ll, info.log_likelihood, OTHER_PROCESS_RTOL, 0);
    dataio_matrix labels = read_matrix("l.csv");
    assert_int_equal(labels.rows, N_ROWS);
    dataio_matrix_free(&labels);

    /* impute: observed values unchanged, gaps as the library fills them. */
    RUN(&r, "impute", "m.json", "gappy.csv", "-o", "filled.csv");
    expect_ok(&r);
    run_free(&r);
    dataio_matrix filled = read_matrix("filled.csv");
    assert_int_equal(filled.rows, N_ROWS);
    emgmm_model *m = load_model("m.json");
    double *want = malloc(x.rows * x.cols * sizeof(double));
    assert_int_equal(emgmm_impute(m, x.data, x.rows, x.cols, want),
                     EMGMM_OK);
    /* A filled value is a difference of conditional means, so it is
     * compared against the scale of the data, not its own size. */
    double scale = 0.0;
    for (size_t i = 0; i < x.rows * x.cols; i++)
        if (!isnan(x.data[i]))
            scale = fmax(scale, fabs(x.data[i]));
    for (size_t i = 0; i < x.rows * x.cols; i++) {
        if (isnan(x.data[i]))
            assert_close(filled.data[i], want[i], 0,
                         OTHER_PROCESS_RTOL * scale);
        else
            assert_true(filled.data[i] == x.data[i]);
    }
    free(want);
    dataio_matrix_free(&filled);

    /* Multiple imputation: M stacked copies, the same for the same seed. */
    RUN(&r, "impute", "m.json", "gappy.csv", "--draws", "3", "--seed", "5",
        "-o", "d1.npy");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "impute", "m.json", "gappy.csv", "--draws", "3", "--seed", "5",
        "-o", "d2.npy");
    expect_ok(&r);
    run_free(&r);
    size_t n1, n2;
    char *d1 = read_all("d1.npy", &n1), *d2 = read_all("d2.npy", &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(d1, d2, n1);
    free(d1);
    free(d2);
    dataio_matrix draws = read_matrix("d1.npy");
    assert_int_equal(draws.rows, 3 * N_ROWS);
    assert_int_equal(draws.cols, 2);
    for (size_t t = 0; t < 3; t++)
        for (size_t i = 0; i < x.rows * x.cols; i++) {
            const double v = draws.data[t * x.rows * x.cols + i];
            if (isnan(x.data[i]))
                assert_true(isfinite(v));
            else
                assert_true(v == x.data[i]);
        }
    dataio_matrix_free(&draws);

    /* score --missing gives the fit's log-likelihood and BIC. */
    RUN(&r, "score", "m.json", "gappy.csv", "--missing", "--json");
    expect_ok(&r);
    j = parse_json(r.out);
    assert_close(json_num(j, "log_likelihood"), ll, 1e-12, 0);
    assert_close(json_num(j, "bic"), info.bic, OTHER_PROCESS_RTOL, 0);
    assert_int_equal(json_int(j, "n_rows_all_missing"), (long long)empty_rows);
    json_decref(j);
    run_free(&r);

    /* select --missing picks the two groups. */
    RUN(&r, "select", "gappy.csv", "--missing", "-k", "1..3", "-c", "full",
        "--json");
    expect_ok(&r);
    j = parse_json(r.out);
    assert_int_equal(json_int(json_object_get(j, "best"), "n_components"),
                     2);
    json_decref(j);
    run_free(&r);

    /* predict --missing gives the labels fit wrote. */
    RUN(&r, "predict", "m.json", "gappy.csv", "--missing");
    expect_ok(&r);
    char *fit_labels = read_all("l.csv", NULL);
    assert_string_equal(r.out, fit_labels);
    free(fit_labels);
    run_free(&r);
    RUN(&r, "predict", "m.json", "gappy.csv");
    expect_status(&r, 2);
    expect_in_stderr(&r, "--missing");
    run_free(&r);

    /* Usage errors. */
    RUN(&r, "impute", "m.json", "gappy.csv", "--seed", "5", "-o", "x.csv");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    run_free(&r);
    RUN(&r, "impute", "m.json", "gappy.csv");
    expect_status(&r, 2);
    run_free(&r);
    write_text("nocol.csv", "a,b\n1,\n2,NaN\n3,\n");
    RUN(&r, "fit", "nocol.csv", "-k", "1", "--missing");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "column 2 has no observed value");
    run_free(&r);

    emgmm_free(&m);
    emgmm_free(&lib);
    dataio_matrix_free(&x);
}

/* ------------------------------------------------------------------ */
/* Bad usage and bad input: exit 2, one line, nothing written           */
/* ------------------------------------------------------------------ */

typedef struct bad_case {
    const char *args[20];
    const char *message; /* expected in standard error, or NULL */
} bad_case;

static void test_bad_inputs(void **state)
{
    (void)state;
    fit_model(); /* m.json: 2 components, 2 features */
    write_model_3d("m3.json");
    write_text("bad.csv", "x,y\n1,2\n3,abc\n5,6\n");
    write_text("nan.csv", "x,y\n1,2\n3,4\nNaN,6\n");
    write_text("inf.csv", "1,2\n3,inf\n");
    write_text("ragged.csv", "1,2\n3,4\n5\n");
    write_text("empty.csv", "");
    write_text("few.csv", "1,2\n3,4\n5,6\n");
    write_text("bad_model.json", "{\"format\": \"emgmm-model\",\n"
                                 "  \"weights\": [0.5, 0.5,,\n");
    write_text("keep.json", "KEEP\n");
    write_text("w_short.csv", "1\n2\n3\n");
    write_text("w_neg.csv", "1\n-2\n");
    write_text("w_nan.csv", "1\nNaN\n");
    write_text("w_two.csv", "1,2\n3,4\n");
    write_text("one_col.csv", "1\n2\n3\n4\n");
    {
        /* As many weights as rows, one negative or all zero. */
        FILE *f = fopen("w_neg200.csv", "w"), *g = fopen("w_zero.csv", "w");
        assert_non_null(f);
        assert_non_null(g);
        for (int i = 0; i < N_ROWS; i++) {
            fprintf(f, "%d\n", i == 17 ? -1 : 1);
            fprintf(g, "0\n");
        }
        assert_int_equal(fclose(f), 0);
        assert_int_equal(fclose(g), 0);
    }

    static const bad_case cases[] = {
        {{"fit", "data.csv", "-k", "2", "--bogus"}, "--bogus"},
        {{"fit", "data.csv", "-k", "2", "-x"}, "'-x'"},
        {{"fit", "data.csv", "-k", "2", "--json=1"}, "--json"},
        {{"fit", "data.csv", "-k"}, "-k"},
        {{"fit", "data.csv", "-k", "0"}, "-k: '0'"},
        {{"fit", "data.csv", "-k", "2x"}, "-k: '2x'"},
        {{"fit", "data.csv", "-k", "1.5"}, "-k: '1.5'"},
        {{"fit", "data.csv", "-k", ""}, "-k"},
        {{"fit", "data.csv", "-k", "99999999999999999999"}, "-k"},
        {{"fit", "data.csv", "-k", "2", "--tol", "abc"},
         "emgmm: --tol: 'abc' is not a number"},
        {{"fit", "data.csv", "-k", "2", "--tol", "-1"}, "--tol"},
        {{"fit", "data.csv", "-k", "2", "--tol", "nan"}, "--tol"},
        {{"fit", "data.csv", "-k", "2", "--reg-covar", "-1e-3"}, "--reg-covar"},
        {{"fit", "data.csv", "-k", "2", "--max-iter", "-1"}, "--max-iter"},
        {{"fit", "data.csv", "-k", "2", "--n-init", "0"}, "--n-init"},
        {{"fit", "data.csv", "-k", "2", "--threads", "-1"}, "--threads"},
        {{"fit", "data.csv", "-k", "2", "--seed", "-1"}, "--seed"},
        {{"fit", "data.csv", "-k", "2", "--seed", "18446744073709551616"},
         "--seed"},
        {{"fit", "data.csv", "-k", "2", "--shape", "3x2"}, "--shape"},
        {{"fit", "data.csv", "-k", "2", "--init", "best"}, "--init"},
        {{"fit", "data.csv", "-k", "2", "-c", "round"}, "-c"},
        {{"fit", "data.csv"}, "-k"},
        {{"fit", "-k", "2"}, "DATA"},
        {{"fit", "data.csv", "extra.csv", "-k", "2"}, "extra.csv"},
        {{"fit", "missing.csv", "-k", "2"}, "missing.csv"},
        {{"fit", "bad.csv", "-k", "2"}, "bad.csv:3:2:"},
        {{"fit", "nan.csv", "-k", "2"}, "nan.csv:4:1"},
        {{"fit", "inf.csv", "-k", "2"}, "inf.csv"},
        {{"fit", "ragged.csv", "-k", "2"}, "ragged.csv:3"},
        {{"fit", "empty.csv", "-k", "2"}, "empty.csv"},
        {{"fit", "few.csv", "-k", "5"}, "few.csv"},
        {{"fit", "data.csv", "-k", "3", "--init-model", "m.json"}, "-k 3"},
        {{"fit", "data.csv", "-c", "diag", "--init-model", "m.json"}, "-c"},
        {{"fit", "data.csv", "--init", "kmeans", "--init-model", "m.json"},
         "--init"},
        {{"fit", "data.csv", "--init-model", "bad_model.json"},
         "bad_model.json:2:"},
        {{"fit", "data.csv", "--init-model", "nope.json"}, "nope.json"},
        {{"fit", "data.csv", "--init-model", "m3.json"}, "m3.json"},
        {{"fit", "data.csv", "-k", "2", "--json", "--labels", "-"},
         "standard output"},
        {{"fit", "data.csv", "-k", "2", "--labels", "keep.json", "--proba",
          "keep.json"}, "keep.json"},
        {{"predict", "m3.json", "data.csv"}, "m3.json"},
        {{"predict", "m.json"}, "missing DATA"},
        {{"predict"}, "missing MODEL"},
        {{"predict", "m.json", "data.csv", "x"}, "'x'"},
        {{"predict", "bad_model.json", "data.csv"}, "bad_model.json:2:"},
        {{"predict", "m.json", "bad.csv"}, "bad.csv:3:2:"},
        {{"predict", "m.json", "data.csv", "--tol", "1"}, "--tol"},
        {{"score", "m.json", "data.csv", "--bogus"}, "--bogus"},
        {{"score", "m3.json", "data.csv", "--json"}, "m3.json"},
        {{"score", "m.json", "nan.csv"}, "nan.csv:4:1"},
        {{"sample", "m.json", "-n", "0", "-o", "keep.json"}, "-n"},
        {{"sample", "m.json", "-n", "abc", "-o", "keep.json"}, "-n: 'abc'"},
        {{"sample", "m.json", "-n", "10"}, "-o"},
        {{"sample", "m.json", "-o", "keep.json"}, "-n"},
        {{"sample", "m.json", "extra", "-n", "10", "-o", "keep.json"},
         "extra"},
        {{"sample", "bad_model.json", "-n", "10", "-o", "keep.json"},
         "bad_model.json:2:"},
        {{"fit", "data.csv", "-k", "2", "--weights", "w_short.csv"},
         "3 weights"},
        {{"fit", "data.csv", "-k", "2", "--weights", "w_neg.csv"},
         "w_neg.csv"},
        {{"fit", "data.csv", "-k", "2", "--weights", "w_neg200.csv"},
         "row 18 is negative"},
        {{"fit", "data.csv", "-k", "2", "--weights", "w_zero.csv"}, "zero"},
        {{"fit", "data.csv", "-k", "2", "--weights", "w_nan.csv"},
         "w_nan.csv:2:1"},
        {{"fit", "data.csv", "-k", "2", "--weights", "w_two.csv"},
         "columns"},
        {{"fit", "data.csv", "-k", "2", "--weights", "nope.csv"}, "nope.csv"},
        {{"select", "data.csv", "-k", "0..3"}, "-k: '0'"},
        {{"select", "data.csv", "-k", "3..1"}, "3..1"},
        {{"select", "data.csv", "-k", "1..3,0"}, "-k: '0'"},
        {{"select", "data.csv", "-k", "1..x"}, "-k: 'x'"},
        {{"select", "data.csv", "-k", "1,,2"}, "-k"},
        {{"select", "data.csv", "-k", ""}, "-k"},
        {{"select", "data.csv", "-k", "1..100000"}, "-k"},
        {{"select", "data.csv", "-c", "round"}, "-c: unknown covariance "
         "type 'round'"},
        {{"select", "data.csv", "-c", "full,"}, "-c"},
        {{"select", "data.csv", "--criterion", "icl"}, "--criterion"},
        {{"select", "data.csv", "--n-init", "0"}, "--n-init"},
        {{"select", "data.csv", "--bogus"}, "--bogus"},
        {{"select"}, "missing DATA"},
        {{"select", "data.csv", "x.csv"}, "x.csv"},
        {{"select", "nan.csv", "-k", "1..2"}, "nan.csv:4:1"},
        {{"select", "data.csv", "-k", "1..2", "--weights", "w_short.csv"},
         "3 weights"},
        {{"select", "data.csv", "-k", "1..2", "--weights", "w_neg200.csv"},
         "negative"},
        {{"select", "data.csv", "--plot", "keep.json"}, "keep.json"},
        {{"plot", "m.json"}, "missing DATA"},
        {{"plot", "m3.json", "data.csv"}, "m3.json"},
        {{"plot", "m.json", "data.csv", "--max-points", "0"},
         "--max-points"},
        {{"plot", "m.json", "bad.csv"}, "bad.csv:3:2:"},
        {{"plot", "bad_model.json", "data.csv"}, "bad_model.json:2:"},
        {{"plot", "m.json", "data.csv", "--json"}, "--json"},
        {{"frobnicate"}, "frobnicate"},
        {{"--bogus"}, "--bogus"},
    };
    char *before = list_dir();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* fit, predict, select and plot also name keep.json as their
         * output: that existing file must stay as it was. */
        const char *args[24];
        size_t n = 0;
        for (; cases[i].args[n] != NULL; n++)
            args[n] = cases[i].args[n];
        int has_output = strcmp(args[0], "fit") == 0 ||
                         strcmp(args[0], "predict") == 0 ||
                         strcmp(args[0], "select") == 0 ||
                         strcmp(args[0], "plot") == 0;
        /* (not after an option whose value is missing: "-o" would be
         * taken as that value) */
        if (has_output && strcmp(args[n - 1], "-k") != 0) {
            args[n++] = "-o";
            args[n++] = "keep.json";
        }
        args[n] = NULL;
        run_result r;
        run_in(&r, NULL, args);
        if (r.status != 2 || strchr(r.err, '\n') != r.err + strlen(r.err) - 1)
            print_message("case %zu: %s ...\n", i, args[0]);
        expect_status(&r, 2);
        expect_one_error_line(&r);
        if (cases[i].message)
            expect_in_stderr(&r, cases[i].message);
        assert_string_equal(r.out, "");
        char *after = list_dir();
        if (strcmp(after, before) != 0)
            print_message("case %zu changed the folder:\n%s", i, after);
        assert_string_equal(after, before);
        free(after);
        char *keep = read_all("keep.json", NULL);
        assert_string_equal(keep, "KEEP\n");
        free(keep);
        run_free(&r);
    }
    free(before);
}

/* ------------------------------------------------------------------ */
/* Hidden Markov models (emgmm hmm)                                    */
/* ------------------------------------------------------------------ */

#define HMM_ROWS 400 /* hmm.csv: two sequences, of 150 and 250 rows */

/* A sticky two-state chain (it switches with probability 0.05 a step)
 * with well separated emissions, N((0, 0), I) and N((6, 6), I):
 * hmm.csv, its lengths in lengths.txt and its states in truth.csv. */
static void write_hmm_data(void)
{
    FILE *f = fopen("hmm.csv", "w"), *s = fopen("truth.csv", "w");
    assert_non_null(f);
    assert_non_null(s);
    test_rng r = {2024};
    fprintf(f, "a,b\n");
    static const int len[2] = {150, 250};
    for (int q = 0; q < 2; q++) {
        int st = q; /* the first sequence starts in 0, the second in 1 */
        for (int t = 0; t < len[q]; t++) {
            if (t > 0 && test_rng_uniform(&r) < 0.05)
                st = 1 - st;
            double c = st ? 6.0 : 0.0;
            fprintf(f, "%.17g,%.17g\n", c + test_rng_normal(&r),
                    c + test_rng_normal(&r));
            fprintf(s, "%d\n", st);
        }
    }
    assert_int_equal(fclose(f), 0);
    assert_int_equal(fclose(s), 0);
    write_text("lengths.txt", "150\n250\n");
}

/* States written as .npy: int32 ('<i4'), one dimension of n; as
 * doubles (caller frees). */
static double *read_states_npy(const char *path, size_t n)
{
    size_t len = 0;
    char *b = read_all(path, &len);
    assert_non_null(b);
    assert_true(len > 10);
    assert_memory_equal(b, "\x93NUMPY\x01\x00", 8);
    size_t hlen = (size_t)(unsigned char)b[8] |
                  (size_t)(unsigned char)b[9] << 8;
    assert_int_equal(len, 10 + hlen + 4 * n);
    char want[64];
    snprintf(want, sizeof want, "'shape': (%zu,)", n);
    b[10 + hlen - 1] = '\0'; /* the header's closing newline */
    assert_non_null(strstr(b + 10, "'descr': '<i4'"));
    assert_non_null(strstr(b + 10, want));
    double *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) {
        const unsigned char *q = (const unsigned char *)b + 10 + hlen + 4 * i;
        uint32_t u = (uint32_t)q[0] | (uint32_t)q[1] << 8 |
                     (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
        v[i] = (double)(int32_t)u;
    }
    free(b);
    return v;
}

/* Lengths as a .npy of little-endian integers of `size` bytes ('<i8',
 * '<i4'...). */
static void write_lengths_npy(const char *path, const char *descr,
                              const long long *v, size_t n, size_t size)
{
    char header[128];
    int len = snprintf(header, sizeof header,
                       "{'descr': '%s', 'fortran_order': False, "
                       "'shape': (%zu,), }", descr, n);
    /* padded with spaces to a multiple of 64 bytes, ending in '\n' */
    while ((10 + len + 1) % 64 != 0)
        header[len++] = ' ';
    header[len++] = '\n';
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(len & 0xff, f);
    fputc(len >> 8, f);
    fwrite(header, 1, (size_t)len, f);
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < size; b++)
            fputc((int)(((unsigned long long)v[i] >> (8 * b)) & 0xff), f);
    assert_int_equal(fclose(f), 0);
}

static emgmm_hmm *load_hmm(const char *path)
{
    emgmm_hmm *m = NULL;
    emgmm_error e;
    memset(&e, 0, sizeof e);
    int rc = emgmm_hmm_load(path, &m, &e);
    if (rc != EMGMM_OK)
        print_message("%s:%d:%d: %s\n", path, e.line, e.column, e.message);
    assert_int_equal(rc, EMGMM_OK);
    return m;
}

/* The share of rows on which the labels a and b (0 .. k-1, k <= 3)
 * agree, after renaming a's labels by the best permutation. */
static double best_agreement(const double *a, const double *b, size_t n,
                             int k)
{
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                    {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    assert_true(k >= 1 && k <= 3);
    size_t best = 0;
    for (int p = 0; p < 6; p++) {
        int ok = 1;
        for (int j = 0; j < k; j++)
            ok = ok && perms[p][j] < k;
        if (!ok)
            continue;
        size_t same = 0;
        for (size_t i = 0; i < n; i++) {
            int la = (int)a[i];
            assert_true(la >= 0 && la < k);
            same += perms[p][la] == (int)b[i];
        }
        if (same > best)
            best = same;
    }
    return (double)best / (double)n;
}

/* The number of values in the covariances of an HMM. */
static size_t hmm_cov_values(const emgmm_hmm *m)
{
    size_t k = emgmm_hmm_n_states(m), d = emgmm_hmm_n_features(m);
    switch (emgmm_hmm_get_covariance_type(m)) {
    case EMGMM_COVARIANCE_FULL: return k * d * d;
    case EMGMM_COVARIANCE_TIED: return d * d;
    case EMGMM_COVARIANCE_DIAG: return k * d;
    case EMGMM_COVARIANCE_SPHERICAL: return k;
    }
    return 0;
}

static void expect_same_hmm(const emgmm_hmm *a, const emgmm_hmm *b)
{
    size_t k = emgmm_hmm_n_states(a), d = emgmm_hmm_n_features(a);
    assert_int_equal(emgmm_hmm_n_states(b), k);
    assert_int_equal(emgmm_hmm_n_features(b), d);
    assert_int_equal(emgmm_hmm_get_covariance_type(b),
                     emgmm_hmm_get_covariance_type(a));
    expect_same_array(emgmm_hmm_startprob(a), emgmm_hmm_startprob(b), k);
    expect_same_array(emgmm_hmm_transmat(a), emgmm_hmm_transmat(b), k * k);
    expect_same_array(emgmm_hmm_means(a), emgmm_hmm_means(b), k * d);
    expect_same_array(emgmm_hmm_covariances(a), emgmm_hmm_covariances(b),
                      hmm_cov_values(a));
}

/* hmm fit with every output: the JSON summary, the model, the Viterbi
 * states and the posteriors, against hmm score and the true states. */
static void test_hmm_fit_outputs(void **state)
{
    (void)state;
    static const char *const keys[] = {
        "n_states", "n_mix", "n_features", "n_samples", "n_sequences",
        "covariance_type", "n_iter", "converged", "log_likelihood", "bic",
        "aic", "seconds", NULL};
    write_hmm_data();
    run_result r;
    RUN(&r, "hmm", "fit", "hmm.csv", "-k", "2", "--lengths", "lengths.txt",
        "-o", "m.json", "--states", "s.csv", "--proba", "p.npy", "--json");
    expect_ok(&r);
    json_t *j = parse_json(r.out);
    expect_keys(j, keys);
    assert_int_equal(json_int(j, "n_states"), 2);
    assert_int_equal(json_int(j, "n_mix"), 1);
    assert_int_equal(json_int(j, "n_features"), 2);
    assert_int_equal(json_int(j, "n_samples"), HMM_ROWS);
    assert_int_equal(json_int(j, "n_sequences"), 2);
    assert_string_equal(
        json_string_value(json_object_get(j, "covariance_type")), "diag");
    assert_true(json_int(j, "n_iter") >= 1 && json_int(j, "n_iter") <= 10);
    assert_true(json_is_boolean(json_object_get(j, "converged")));
    assert_true(json_num(j, "seconds") >= 0);
    const double ll = json_num(j, "log_likelihood");
    assert_true(isfinite(ll) && ll < 0);
    run_free(&r);

    char *names = list_dir();
    assert_string_equal(names, "data.csv\nhmm.csv\nlengths.txt\nm.json\n"
                               "p.npy\ns.csv\ntruth.csv\n");
    free(names);

    /* The same model scored on the same sequences: the same total
     * log-likelihood, and BIC/AIC with p = 1 + 2 + 4 + 4 = 11 (start,
     * transitions, means, diagonal variances). */
    RUN(&r, "hmm", "score", "m.json", "hmm.csv", "--lengths", "150,250",
        "--json");
    expect_ok(&r);
    json_t *s = parse_json(r.out);
    static const char *const score_keys[] = {
        "n_samples", "n_sequences", "log_likelihood", "bic", "aic", NULL};
    expect_keys(s, score_keys);
    assert_int_equal(json_int(s, "n_samples"), HMM_ROWS);
    assert_int_equal(json_int(s, "n_sequences"), 2);
    assert_close(json_num(s, "log_likelihood"), ll, 1e-12, 0);
    assert_close(json_num(s, "bic"), -2.0 * ll + 11.0 * log(HMM_ROWS),
                 1e-12, 0);
    assert_close(json_num(s, "aic"), -2.0 * ll + 22.0, 1e-12, 0);
    assert_close(json_num(j, "bic"), json_num(s, "bic"), 1e-12, 0);
    assert_close(json_num(j, "aic"), json_num(s, "aic"), 1e-12, 0);
    json_decref(s);
    run_free(&r);
    /* Without --json: the log-likelihood alone. */
    RUN(&r, "hmm", "score", "m.json", "hmm.csv", "--lengths", "lengths.txt");
    expect_ok(&r);
    char *end = NULL;
    double plain = strtod(r.out, &end);
    assert_string_equal(end, "\n");
    assert_close(plain, ll, 1e-12, 0);
    run_free(&r);
    json_decref(j);

    /* The lengths as a list, or as a .npy of integers, give the same
     * fit. */
    static const long long two[2] = {150, 250};
    write_lengths_npy("lengths.npy", "<i8", two, 2, 8);
    static const char *const specs[] = {"150,250", "lengths.npy"};
    for (int i = 0; i < 2; i++) {
        RUN(&r, "hmm", "fit", "hmm.csv", "-k", "2", "--lengths", specs[i],
            "--json");
        expect_ok(&r);
        j = parse_json(r.out);
        assert_int_equal(json_int(j, "n_sequences"), 2);
        assert_close(json_num(j, "log_likelihood"), ll, 1e-12, 0);
        json_decref(j);
        run_free(&r);
    }
    unlink("lengths.npy");

    emgmm_hmm *m = load_hmm("m.json");
    assert_int_equal(emgmm_hmm_n_states(m), 2);
    assert_int_equal(emgmm_hmm_n_features(m), 2);
    assert_int_equal(emgmm_hmm_get_covariance_type(m),
                     EMGMM_COVARIANCE_DIAG);
    emgmm_hmm_free(&m);

    /* States: one 0-based state a row, the true ones up to renaming. */
    dataio_matrix st = read_matrix("s.csv"), truth = read_matrix("truth.csv");
    assert_int_equal(st.rows, HMM_ROWS);
    assert_int_equal(st.cols, 1);
    assert_true(best_agreement(st.data, truth.data, HMM_ROWS, 2) > 0.97);
    /* Posteriors: N x 2 in [0, 1], rows summing to 1, the most probable
     * state mostly the Viterbi one. */
    dataio_matrix p = read_matrix("p.npy");
    assert_int_equal(p.rows, HMM_ROWS);
    assert_int_equal(p.cols, 2);
    size_t same = 0;
    for (size_t i = 0; i < p.rows; i++) {
        assert_true(p.data[2 * i] >= 0 && p.data[2 * i] <= 1);
        assert_true(p.data[2 * i + 1] >= 0 && p.data[2 * i + 1] <= 1);
        assert_close(p.data[2 * i] + p.data[2 * i + 1], 1.0, 1e-12, 1e-12);
        same += (p.data[2 * i + 1] > p.data[2 * i]) == (st.data[i] == 1.0);
    }
    assert_true(same >= HMM_ROWS - 4);
    dataio_matrix_free(&st);
    dataio_matrix_free(&truth);
    dataio_matrix_free(&p);

    /* Without -o and --json the model goes to standard output; .npy
     * states. */
    RUN(&r, "hmm", "fit", "hmm.csv", "-k", "2", "--lengths", "lengths.txt",
        "--states", "s.npy");
    expect_ok(&r);
    write_text("stdout.json", r.out);
    emgmm_hmm *a = load_hmm("stdout.json"), *b = load_hmm("m.json");
    expect_same_hmm(a, b);
    emgmm_hmm_free(&a);
    emgmm_hmm_free(&b);
    char *file = read_all("m.json", NULL);
    assert_string_equal(r.out, file);
    free(file);
    run_free(&r);
    double *sn = read_states_npy("s.npy", HMM_ROWS);
    st = read_matrix("s.csv");
    expect_same_array(sn, st.data, HMM_ROWS);
    free(sn);
    dataio_matrix_free(&st);
}

/* A negative --tol runs exactly --max-iter iterations; -v prints one line
 * per iteration. */
static void test_hmm_fit_tol_negative(void **state)
{
    (void)state;
    write_hmm_data();
    run_result r;
    RUN(&r, "hmm", "fit", "hmm.csv", "-k", "2", "--lengths", "lengths.txt",
        "--tol", "-1", "--max-iter", "3", "--json", "-v");
    expect_status(&r, 0);
    json_t *j = parse_json(r.out);
    assert_int_equal(json_int(j, "n_iter"), 3);
    assert_true(json_is_false(json_object_get(j, "converged")));
    json_decref(j);
    regex_t re;
    assert_int_equal(regcomp(&re,
                             "^iter 1  log_likelihood -[0-9.]+  change inf  "
                             "[0-9.]+ s\niter 2  .*\niter 3  .*\n$",
                             REG_EXTENDED), 0);
    if (regexec(&re, r.err, 0, NULL, 0) != 0)
        show(&r);
    assert_int_equal(regexec(&re, r.err, 0, NULL, 0), 0);
    regfree(&re);
    run_free(&r);
}

/* --init-model with --max-iter 0 gives the model back; -k and -c that
 * agree with it are accepted, others refused. */
static void test_hmm_init_model_round_trip(void **state)
{
    (void)state;
    write_hmm_data();
    run_result r;
    RUN(&r, "hmm", "fit", "hmm.csv", "-k", "2", "-c", "full", "--lengths",
        "lengths.txt", "-o", "m.json");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "hmm", "fit", "hmm.csv", "--init-model", "m.json", "--lengths",
        "lengths.txt", "--max-iter", "0", "-o", "m2.json", "--json");
    expect_ok(&r);
    json_t *j = parse_json(r.out);
    assert_int_equal(json_int(j, "n_iter"), 0);
    assert_int_equal(json_int(j, "n_states"), 2);
    assert_string_equal(
        json_string_value(json_object_get(j, "covariance_type")), "full");
    json_decref(j);
    run_free(&r);
    emgmm_hmm *a = load_hmm("m.json"), *b = load_hmm("m2.json");
    expect_same_hmm(a, b);
    emgmm_hmm_free(&a);
    emgmm_hmm_free(&b);

    /* Agreeing -k and -c; more iterations from the model. */
    RUN(&r, "hmm", "fit", "hmm.csv", "--init-model", "m.json", "-k", "2",
        "-c", "full", "--lengths", "lengths.txt", "--json");
    expect_ok(&r);
    json_decref(parse_json(r.out));
    run_free(&r);
    /* Disagreeing ones: exit 2, one line, nothing written. */
    RUN(&r, "hmm", "fit", "hmm.csv", "--init-model", "m.json", "-k", "3",
        "-o", "m3.json");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "-k 3 disagrees with --init-model m.json");
    assert_false(file_exists("m3.json"));
    run_free(&r);
    RUN(&r, "hmm", "fit", "hmm.csv", "--init-model", "m.json", "-c", "diag",
        "-o", "m3.json");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "covariance type is full");
    assert_false(file_exists("m3.json"));
    run_free(&r);
}

/* Viterbi and per-row maximum posterior agree on well separated data. */
static void test_hmm_decode(void **state)
{
    (void)state;
    write_hmm_data();
    run_result r;
    RUN(&r, "hmm", "fit", "hmm.csv", "-k", "2", "--lengths", "lengths.txt",
        "-o", "m.json");
    expect_ok(&r);
    run_free(&r);

    /* By default: Viterbi states on standard output. */
    RUN(&r, "hmm", "decode", "m.json", "hmm.csv", "--lengths",
        "lengths.txt");
    expect_ok(&r);
    write_text("v.csv", r.out);
    run_free(&r);
    RUN(&r, "hmm", "decode", "m.json", "hmm.csv", "--lengths",
        "lengths.txt", "--algorithm", "map", "-o", "map.npy", "--proba",
        "p.csv", "--json");
    expect_ok(&r);
    json_t *j = parse_json(r.out);
    static const char *const keys[] = {"n_samples", "n_sequences",
                                       "algorithm", "log_probability", NULL};
    expect_keys(j, keys);
    assert_string_equal(json_string_value(json_object_get(j, "algorithm")),
                        "map");
    assert_true(json_is_null(json_object_get(j, "log_probability")));
    assert_int_equal(json_int(j, "n_sequences"), 2);
    json_decref(j);
    run_free(&r);
    RUN(&r, "hmm", "decode", "m.json", "hmm.csv", "--lengths",
        "lengths.txt", "--json", "-o", "v2.csv");
    expect_ok(&r);
    j = parse_json(r.out);
    expect_keys(j, keys);
    assert_string_equal(json_string_value(json_object_get(j, "algorithm")),
                        "viterbi");
    assert_int_equal(json_int(j, "n_samples"), HMM_ROWS);
    double logprob = json_num(j, "log_probability");
    json_decref(j);
    run_free(&r);
    /* The path's probability is at most the data's. */
    RUN(&r, "hmm", "score", "m.json", "hmm.csv", "--lengths",
        "lengths.txt");
    expect_ok(&r);
    assert_true(logprob <= strtod(r.out, NULL));
    run_free(&r);

    dataio_matrix v = read_matrix("v.csv"), v2 = read_matrix("v2.csv"),
                  p = read_matrix("p.csv"), truth = read_matrix("truth.csv");
    dataio_matrix mp = {read_states_npy("map.npy", HMM_ROWS), HMM_ROWS, 1};
    assert_int_equal(v.rows, HMM_ROWS);
    assert_int_equal(p.rows, HMM_ROWS);
    assert_int_equal(p.cols, 2);
    expect_same_array(v.data, v2.data, HMM_ROWS);
    size_t differ = 0;
    for (size_t i = 0; i < HMM_ROWS; i++) {
        differ += v.data[i] != mp.data[i];
        /* map is the argmax of the posteriors */
        assert_int_equal(mp.data[i] == 1.0, p.data[2 * i + 1] > p.data[2 * i]);
    }
    assert_true(differ <= 4);
    assert_true(best_agreement(v.data, truth.data, HMM_ROWS, 2) > 0.97);
    dataio_matrix_free(&v);
    dataio_matrix_free(&v2);
    dataio_matrix_free(&mp);
    dataio_matrix_free(&p);
    dataio_matrix_free(&truth);

    /* --json takes standard output: states to it too is refused. */
    RUN(&r, "hmm", "decode", "m.json", "hmm.csv", "--json", "-o", "-");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    assert_string_equal(r.out, "");
    run_free(&r);
}

/* Sampling a known model, then fitting the sample, finds its means; the
 * same seed gives the same rows. */
static void test_hmm_sample_and_fit(void **state)
{
    (void)state;
    const double start[2] = {0.5, 0.5}, trans[4] = {0.95, 0.05, 0.1, 0.9};
    const double means[4] = {-3.0, 1.0, 4.0, 2.0}, var[4] = {1, 0.5, 1, 2};
    emgmm_hmm *m = NULL;
    assert_int_equal(emgmm_hmm_create(EMGMM_COVARIANCE_DIAG, 2, 2, start,
                                      trans, means, var, &m, NULL),
                     EMGMM_OK);
    assert_int_equal(emgmm_hmm_save(m, "true.json"), EMGMM_OK);
    emgmm_hmm_free(&m);
    run_result r;
    RUN(&r, "hmm", "sample", "true.json", "-n", "3000", "--seed", "5", "-o",
        "x.npy", "--states", "z.csv");
    expect_ok(&r);
    assert_string_equal(r.out, "");
    run_free(&r);
    RUN(&r, "hmm", "sample", "true.json", "-n", "3000", "--seed", "5", "-o",
        "-");
    expect_ok(&r);
    write_text("x2.csv", r.out);
    run_free(&r);
    dataio_matrix x = read_matrix("x.npy"), x2 = read_matrix("x2.csv"),
                  z = read_matrix("z.csv");
    assert_int_equal(x.rows, 3000);
    assert_int_equal(x.cols, 2);
    assert_int_equal(z.rows, 3000);
    expect_same_array(x.data, x2.data, 6000);
    for (size_t i = 0; i < z.rows; i++)
        assert_true(z.data[i] == 0.0 || z.data[i] == 1.0);
    dataio_matrix_free(&x);
    dataio_matrix_free(&x2);
    dataio_matrix_free(&z);

    RUN(&r, "hmm", "fit", "x.npy", "-k", "2", "--max-iter", "50", "-o",
        "fit.json");
    expect_ok(&r);
    run_free(&r);
    m = load_hmm("fit.json");
    const double *mu = emgmm_hmm_means(m);
    int first = mu[0] < mu[2] ? 0 : 1; /* the state near (-3, 1) */
    assert_close(mu[2 * first], -3.0, 0, 0.2);
    assert_close(mu[2 * first + 1], 1.0, 0, 0.2);
    assert_close(mu[2 * (1 - first)], 4.0, 0, 0.2);
    assert_close(mu[2 * (1 - first) + 1], 2.0, 0, 0.2);
    const double *a = emgmm_hmm_transmat(m);
    assert_close(a[first * 2 + first], 0.95, 0, 0.03);
    emgmm_hmm_free(&m);
}

static void test_hmm_bad_inputs(void **state)
{
    (void)state;
    write_hmm_data();
    run_result r;
    RUN(&r, "hmm", "fit", "hmm.csv", "-k", "2", "-o", "m.json");
    expect_ok(&r);
    run_free(&r);
    /* A "gmm" model file (the file of a Gaussian one, renamed). */
    char *text = read_all("m.json", NULL);
    char *at = strstr(text, "\"gaussian\"");
    assert_non_null(at);
    memmove(at + 5, at + 10, strlen(at + 10) + 1);
    memcpy(at, "\"gmm\"", 5);
    write_text("gmm.json", text);
    free(text);
    write_text("keep.json", "KEEP\n");
    write_text("l_short.txt", "150\n200\n");
    write_text("l_zero.txt", "150\n0\n250\n");
    write_text("l_half.txt", "150\n249.5\n0.5\n");
    write_text("l_neg.txt", "450\n-50\n");
    write_model_3d("m3.json");
    static const long long npy_zero[3] = {150, 0, 250};
    write_lengths_npy("l_zero.npy", "<i4", npy_zero, 3, 4);

    static const bad_case cases[] = {
        {{"hmm", "fit", "hmm.csv", "-k", "2", "--lengths", "l_short.txt"},
         "l_short.txt:2: the 2 lengths add up to 350 but hmm.csv has 400 "
         "rows"},
        {{"hmm", "fit", "hmm.csv", "-k", "2", "--lengths", "100,200"},
         "the 2 lengths add up to 300 but hmm.csv has 400 rows"},
        {{"hmm", "fit", "hmm.csv", "-k", "2", "--lengths", "300,200"},
         "add up to 500 but hmm.csv has 400 rows"},
        {{"hmm", "fit", "hmm.csv", "-k", "2", "--lengths", "l_zero.txt"},
         "l_zero.txt:2:1: length 0"},
        {{"hmm", "fit", "hmm.csv", "-k", "2", "--lengths", "l_zero.npy"},
         "l_zero.npy: element 2: length 0"},
        {{"hmm", "fit", "hmm.csv", "-k", "2", "--lengths", "l_half.txt"},
         "l_half.txt:2:1: '249.5' is not a whole number"},
        {{"hmm", "fit", "hmm.csv", "-k", "2", "--lengths", "l_neg.txt"},
         "l_neg.txt:2:1: length -50"},
        {{"hmm", "fit", "hmm.csv", "-k", "2", "--lengths", "400,0"},
         "(item 2): length 0 is not a positive whole number"},
        {{"hmm", "fit", "hmm.csv", "-k", "2", "--lengths", "450,-50"},
         "(item 2): length -50 is not a positive whole number"},
        {{"hmm", "fit", "hmm.csv", "-k", "2", "--lengths", "2.5"}, "'2.5'"},
        {{"hmm", "fit", "hmm.csv", "-k", "2", "--lengths", "nosuch.txt"},
         "nosuch.txt"},
        {{"hmm", "fit", "hmm.csv", "-k", "2", "-c", "round"},
         "-c: unknown covariance type 'round'"},
        {{"hmm", "fit", "hmm.csv"}, "-k is required"},
        {{"hmm", "fit", "-k", "2"}, "missing DATA"},
        {{"hmm", "fit", "hmm.csv", "-k", "0"}, "-k: '0'"},
        {{"hmm", "fit", "hmm.csv", "-k", "2", "--bogus"}, "--bogus"},
        {{"hmm", "fit", "hmm.csv", "-k", "2", "--max-iter", "-1"},
         "--max-iter"},
        {{"hmm", "fit", "hmm.csv", "-k", "2", "--tol", "nan"}, "--tol"},
        {{"hmm", "fit", "hmm.csv", "-k", "2", "--min-covar", "-1"},
         "--min-covar"},
        {{"hmm", "fit", "hmm.csv", "-k", "2", "--covars-prior", "x"},
         "--covars-prior"},
        {{"hmm", "fit", "hmm.csv", "-k", "2", "--params", "stq"},
         "--params: 'stq'"},
        {{"hmm", "fit", "hmm.csv", "-k", "2", "--init-params", "st"},
         "--init-params 'st'"},
        {{"hmm", "fit", "hmm.csv", "--init-model", "m.json", "-k", "3"},
         "-k 3 disagrees with --init-model m.json, which has 2 states"},
        {{"hmm", "fit", "hmm.csv", "--init-model", "m.json", "--n-init",
          "2"}, "--n-init"},
        {{"hmm", "fit", "hmm.csv", "--init-model", "m3.json"}, "m3.json"},
        {{"hmm", "fit", "hmm.csv", "--init-model", "gmm.json"}, "gmm.json"},
        {{"hmm", "fit", "hmm.csv", "-k", "500"}, "too few"},
        {{"hmm", "decode", "gmm.json", "hmm.csv"}, "gmm.json"},
        {{"hmm", "decode", "m.json", "hmm.csv", "--algorithm", "best"},
         "--algorithm"},
        {{"hmm", "decode", "m.json", "hmm.csv", "--lengths", "100"},
         "the 1 length adds up to 100 but hmm.csv has 400 rows"},
        {{"hmm", "decode", "m.json", "data.csv", "--json", "-o", "-"},
         "standard output"},
        {{"hmm", "decode", "data.csv", "hmm.csv"}, "data.csv"},
        {{"hmm", "score", "gmm.json", "hmm.csv"}, "gmm.json"},
        {{"hmm", "score", "m.json", "hmm.csv", "--lengths", "l_short.txt"},
         "add up to 350"},
        {{"hmm", "score", "m.json"}, "missing DATA"},
        {{"hmm", "sample", "m.json", "-n", "10"}, "-o is required"},
        {{"hmm", "sample", "m.json", "-o", "keep.json"}, "-n is required"},
        {{"hmm", "sample", "gmm.json", "-n", "10", "-o", "keep.json"},
         "gmm.json"},
        {{"hmm", "frobnicate"}, "frobnicate"},
    };
    char *before = list_dir();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* fit and decode also name keep.json as their output: that file
         * must stay as it was. */
        const char *args[24];
        size_t n = 0;
        for (; cases[i].args[n] != NULL; n++)
            args[n] = cases[i].args[n];
        if ((strcmp(args[1], "fit") == 0 || strcmp(args[1], "decode") == 0) &&
            strcmp(args[n - 1], "-") != 0) {
            args[n++] = strcmp(args[1], "fit") == 0 ? "-o" : "--proba";
            args[n++] = "keep.json";
        }
        args[n] = NULL;
        run_in(&r, NULL, args);
        if (r.status != 2)
            print_message("case %zu: %s %s ...\n", i, args[0], args[1]);
        expect_status(&r, 2);
        expect_one_error_line(&r);
        if (cases[i].message)
            expect_in_stderr(&r, cases[i].message);
        /* A "gmm" file without mixture weights names what it lacks. */
        for (size_t a = 0; a < n; a++)
            if (strcmp(args[a], "gmm.json") == 0)
                expect_in_stderr(&r, "\"weights\"");
        assert_string_equal(r.out, "");
        char *after = list_dir();
        if (strcmp(after, before) != 0)
            print_message("case %zu changed the folder:\n%s", i, after);
        assert_string_equal(after, before);
        free(after);
        char *keep = read_all("keep.json", NULL);
        assert_string_equal(keep, "KEEP\n");
        free(keep);
        run_free(&r);
    }
    free(before);
}

static void test_hmm_help(void **state)
{
    (void)state;
    static const struct {
        const char *sub;
        const char *flags[32];
    } helps[] = {
        {NULL, {"hmm fit", "hmm decode", "hmm score", "hmm sample",
                "hmm plot", "--lengths", "100,200,50", "--mix M", "GMMHMM",
                "Exit status", NULL}},
        {"fit", {"-k", "-c", "--mix", "--weights-prior", "--lengths",
                 "--init-model", "--seed",
                 "--n-init", "--tol", "--max-iter", "--min-covar",
                 "--params", "--init-params", "--startprob-prior",
                 "--transmat-prior", "--means-prior", "--means-weight",
                 "--covars-prior", "--covars-weight", "--threads", "--shape",
                 "-o", "--states", "--proba", "--json", "-v", "diag",
                 "default 10)", "default 0.01)", "default 0.001)",
                 "Exit status", NULL}},
        {"decode", {"--lengths", "--algorithm", "viterbi", "map", "-o",
                    "--proba", "--json", "--shape", "Exit status", NULL}},
        {"score", {"--lengths", "--json", "--shape", "Exit status", NULL}},
        {"sample", {"-n", "--seed", "-o", "--states", "Exit status",
                    NULL}},
        {"plot", {"--lengths", "--max-points", "--shape", "-o", "Viterbi",
                  "principal components", "header", "Exit status", NULL}},
    };
    for (size_t h = 0; h < sizeof helps / sizeof helps[0]; h++) {
        run_result r;
        if (helps[h].sub)
            RUN(&r, "hmm", helps[h].sub, "--help");
        else
            RUN(&r, "hmm", "--help");
        expect_ok(&r);
        for (size_t i = 0; helps[h].flags[i] != NULL; i++) {
            if (strstr(r.out, helps[h].flags[i]) == NULL)
                print_message("'hmm %s --help' does not mention %s\n",
                              helps[h].sub ? helps[h].sub : "",
                              helps[h].flags[i]);
            assert_non_null(strstr(r.out, helps[h].flags[i]));
        }
        assert_non_null(strstr(r.out, "Usage"));
        assert_non_null(strstr(r.out, "xample"));
        run_free(&r);
    }
    /* The program's usage lists them; 'emgmm hmm' alone is bad usage. */
    run_result r;
    RUN(&r, "--help");
    expect_ok(&r);
    assert_non_null(strstr(r.out, "hmm fit"));
    assert_non_null(strstr(r.out, "hmm decode"));
    assert_non_null(strstr(r.out, "hmm score"));
    assert_non_null(strstr(r.out, "hmm sample"));
    assert_non_null(strstr(r.out, "hmm plot"));
    run_free(&r);
    RUN(&r, "hmm");
    expect_status(&r, 2);
    assert_string_equal(r.out, "");
    assert_non_null(strstr(r.err, "emgmm hmm fit"));
    run_free(&r);
}

/* The bundled demo: a fox's six nights of steps, three behaviours. The
 * default start (k-means means, the data's covariance) finds them. */
static void test_hmm_demo_tracks(void **state)
{
    (void)state;
    char data[PATH_MAX + 32], lengths[PATH_MAX + 32], truth[PATH_MAX + 32];
    snprintf(data, sizeof data, "%s/data/tracks.csv", g_src);
    snprintf(lengths, sizeof lengths, "%s/data/tracks-lengths.txt", g_src);
    snprintf(truth, sizeof truth, "%s/data/tracks-states.txt", g_src);
    if (!file_exists(data) || !file_exists(lengths) || !file_exists(truth))
        skip();
    run_result r;
    RUN(&r, "hmm", "fit", data, "-k", "3", "-c", "full", "--lengths",
        lengths, "--states", "s.csv", "--json");
    expect_ok(&r);
    json_t *j = parse_json(r.out);
    assert_int_equal(json_int(j, "n_sequences"), 6);
    json_decref(j);
    run_free(&r);
    dataio_matrix s = read_matrix("s.csv"), t = read_matrix(truth);
    assert_int_equal(s.rows, t.rows);
    double agree = best_agreement(s.data, t.data, s.rows, 3);
    if (!(agree > 0.9))
        print_message("the states agree on %.4f of the rows\n", agree);
    assert_true(agree > 0.9);
    dataio_matrix_free(&s);
    dataio_matrix_free(&t);
}

/* hmm plot: the rows against time, coloured by their Viterbi states. */
static void test_hmm_plot(void **state)
{
    (void)state;
    write_hmm_data(); /* header a,b; two sequences, of 150 and 250 rows */
    run_result r;
    RUN(&r, "hmm", "fit", "hmm.csv", "-k", "2", "--lengths", "lengths.txt",
        "-o", "m.json");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "hmm", "plot", "m.json", "hmm.csv", "--lengths", "lengths.txt",
        "-o", "p.svg");
    expect_ok(&r);
    assert_string_equal(r.out, "");
    run_free(&r);
    /* One boundary between the two sequences; a dot per row in each of
     * the two panels, and one per state in the legend. */
    char *s = check_svg("p.svg", "class=\"seq-boundary\"", 1);
    assert_int_equal(count_of(s, "<circle"), 2 * HMM_ROWS + 2);
    assert_int_equal(count_of(s, ">state 0</text>"), 1);
    assert_int_equal(count_of(s, ">state 1</text>"), 1);
    assert_null(strstr(s, ">state 2</text>"));
    assert_non_null(strstr(s, ">sequence boundary</text>"));
    assert_non_null(strstr(s, "2-state hidden Markov model, diag covariance, "
                              "gaussian emissions"));
    assert_non_null(strstr(s, "2 sequences, 400 rows"));
    assert_non_null(strstr(s, ">a</text>"));
    assert_non_null(strstr(s, ">b</text>"));
    assert_null(strstr(s, "feature 1"));
    assert_null(strstr(s, "PC 1"));
    assert_null(strstr(s, "showing"));
    assert_int_equal(count_of(s, "class=\"state-strip\""), 1);
    /* The sequences are numbered above the panels. */
    assert_non_null(strstr(s, ">sequence</text>"));
    free(s);

    /* Four sequences, to standard output with -o -: three boundaries;
     * --max-points thins the dots (every 4th row), not the boundaries. */
    RUN(&r, "hmm", "plot", "m.json", "hmm.csv", "--lengths",
        "100,100,100,100", "--max-points", "100", "-o", "-");
    expect_ok(&r);
    write_text("out.svg", r.out);
    run_free(&r);
    s = check_svg("out.svg", "class=\"seq-boundary\"", 3);
    assert_int_equal(count_of(s, "<circle"), 2 * 100 + 2);
    assert_non_null(strstr(s, "showing 100 of 400 rows (every 4th)"));
    free(s);
    /* Thinned to every 7th row, the boundary after row 150 (not a
     * multiple of 7) is where it was. */
    RUN(&r, "hmm", "plot", "m.json", "hmm.csv", "--lengths", "lengths.txt",
        "--max-points", "60", "-o", "thin.svg");
    expect_ok(&r);
    run_free(&r);
    s = check_svg("thin.svg", "class=\"seq-boundary\"", 1);
    assert_non_null(strstr(s, "(every 7th)"));
    assert_int_equal(count_of(s, "<circle"), 2 * 58 + 2);
    char *full = read_all("p.svg", NULL);
    assert_non_null(full);
    const char *a = strstr(s, "class=\"seq-boundary\""),
               *b = strstr(full, "class=\"seq-boundary\"");
    assert_non_null(a);
    assert_non_null(b);
    size_t line = strcspn(a, "\n");
    assert_int_equal(strcspn(b, "\n"), line);
    assert_memory_equal(a, b, line);
    free(full);
    free(s);

    /* One sequence: no boundary, no sequence numbers. */
    RUN(&r, "hmm", "plot", "m.json", "hmm.csv", "-o", "one.svg");
    expect_ok(&r);
    run_free(&r);
    s = check_svg("one.svg", "class=\"seq-boundary\"", 0);
    assert_null(strstr(s, "sequence boundary"));
    assert_null(strstr(s, ">sequence</text>"));
    free(s);

    /* Without the header row: "feature 1", "feature 2". */
    char *text = read_all("hmm.csv", NULL);
    assert_non_null(text);
    char *rows = strchr(text, '\n');
    assert_non_null(rows);
    write_text("plain.csv", rows + 1);
    free(text);
    RUN(&r, "hmm", "plot", "m.json", "plain.csv", "--lengths", "lengths.txt",
        "-o", "plain.svg");
    expect_ok(&r);
    run_free(&r);
    s = check_svg("plain.svg", "class=\"seq-boundary\"", 1);
    assert_non_null(strstr(s, ">feature 1</text>"));
    assert_non_null(strstr(s, ">feature 2</text>"));
    assert_null(strstr(s, ">a</text>"));
    free(s);

    /* Three features: the first two principal components; a mixture per
     * state is named in the title. */
    FILE *f = fopen("h3.csv", "w");
    assert_non_null(f);
    test_rng g = {99};
    fprintf(f, "u,v,w\n");
    for (int i = 0; i < 300; i++) {
        double c = (i / 50) % 3 * 5.0;
        fprintf(f, "%.17g,%.17g,%.17g\n", c + test_rng_normal(&g),
                -c + test_rng_normal(&g), 0.3 * test_rng_normal(&g));
    }
    assert_int_equal(fclose(f), 0);
    RUN(&r, "hmm", "fit", "h3.csv", "-k", "3", "--mix", "2", "-c", "full",
        "-o", "m3.json");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "hmm", "plot", "m3.json", "h3.csv", "--lengths", "100,100,100",
        "-o", "p3.svg");
    expect_ok(&r);
    run_free(&r);
    s = check_svg("p3.svg", "class=\"seq-boundary\"", 2);
    assert_non_null(strstr(s, ">PC 1 ("));
    assert_non_null(strstr(s, ">PC 2 ("));
    assert_null(strstr(s, ">u</text>"));
    assert_null(strstr(s, "feature 1"));
    assert_non_null(strstr(s, "3-state hidden Markov model, full covariance, "
                              "gmm emissions (n_mix 2)"));
    for (int j = 0; j < 3; j++) {
        char entry[32];
        snprintf(entry, sizeof entry, ">state %d</text>", j);
        assert_int_equal(count_of(s, entry), 1);
    }
    free(s);

    /* Bad inputs: exit 2 (1 for an unwritable output), one line, and no
     * file written or changed. */
    write_text("keep.svg", "KEEP\n");
    static const bad_case cases[] = {
        {{"hmm", "plot", "m.json", "hmm.csv", "--lengths", "100,200", "-o",
          "bad.svg"}, "the 2 lengths add up to 300 but hmm.csv has 400 rows"},
        {{"hmm", "plot", "m.json", "hmm.csv", "--lengths", "100,200", "-o",
          "keep.svg"}, "add up to 300"},
        {{"hmm", "plot", "m.json", "hmm.csv"}, "-o is required"},
        {{"hmm", "plot", "m.json", "h3.csv", "-o", "bad.svg"},
         "h3.csv: the data have 3 columns but the model m.json has 2 "
         "features"},
        {{"hmm", "plot", "m3.json", "hmm.csv", "-o", "keep.svg"},
         "2 columns"},
        {{"hmm", "plot", "m.json", "hmm.csv", "--max-points", "0", "-o",
          "bad.svg"}, "--max-points"},
        {{"hmm", "plot", "m.json", "-o", "bad.svg"}, "missing DATA"},
        {{"hmm", "plot", "m.json", "hmm.csv", "--bogus", "-o", "bad.svg"},
         "--bogus"},
        {{"hmm", "plot", "hmm.csv", "hmm.csv", "-o", "bad.svg"}, "hmm.csv"},
        {{"hmm", "plot", "m.json", "nosuch.csv", "-o", "bad.svg"},
         "nosuch.csv"},
    };
    char *before = list_dir();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_in(&r, NULL, cases[i].args);
        if (r.status != 2)
            print_message("case %zu\n", i);
        expect_status(&r, 2);
        expect_one_error_line(&r);
        if (cases[i].message)
            expect_in_stderr(&r, cases[i].message);
        assert_string_equal(r.out, "");
        char *after = list_dir();
        if (strcmp(after, before) != 0)
            print_message("case %zu changed the folder:\n%s", i, after);
        assert_string_equal(after, before);
        free(after);
        char *keep = read_all("keep.svg", NULL);
        assert_string_equal(keep, "KEEP\n");
        free(keep);
        run_free(&r);
    }
    free(before);
    assert_false(file_exists("bad.svg"));
    RUN(&r, "hmm", "plot", "m.json", "hmm.csv", "-o", "nosuch/p.svg");
    expect_status(&r, 1);
    expect_one_error_line(&r);
    run_free(&r);

    /* The demo's six nights: five boundaries, the header's names. */
    char data[PATH_MAX + 32], lengths[PATH_MAX + 32];
    snprintf(data, sizeof data, "%s/data/tracks.csv", g_src);
    snprintf(lengths, sizeof lengths, "%s/data/tracks-lengths.txt", g_src);
    if (!file_exists(data) || !file_exists(lengths))
        return;
    RUN(&r, "hmm", "fit", data, "-k", "3", "-c", "full", "--lengths",
        lengths, "-o", "tracks.json");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "hmm", "plot", "tracks.json", data, "--lengths", lengths, "-o",
        "tracks.svg");
    expect_ok(&r);
    run_free(&r);
    s = check_svg("tracks.svg", "class=\"seq-boundary\"", 5);
    assert_non_null(strstr(s, ">log_step_m</text>"));
    assert_non_null(strstr(s, ">turn_cos</text>"));
    assert_non_null(strstr(s, "6 sequences, 2377 rows"));
    for (int j = 0; j < 6; j++) {
        char num[32];
        snprintf(num, sizeof num, "text-anchor=\"middle\">%d</text>", j + 1);
        assert_non_null(strstr(s, num));
    }
    free(s);
}

/* ------------------------------------------------------------------ */
/* --help, --version, usage                                            */
/* ------------------------------------------------------------------ */

static void expect_help(const char *command, const char *const *flags)
{
    run_result r;
    if (command)
        RUN(&r, command, "--help");
    else
        RUN(&r, "--help");
    expect_ok(&r);
    for (size_t i = 0; flags[i] != NULL; i++) {
        if (strstr(r.out, flags[i]) == NULL)
            print_message("'%s --help' does not mention %s\n",
                          command ? command : "emgmm", flags[i]);
        assert_non_null(strstr(r.out, flags[i]));
    }
    assert_non_null(strstr(r.out, "Usage"));
    assert_non_null(strstr(r.out, "xample")); /* an example */
    run_free(&r);
    if (command) { /* -h does the same */
        RUN(&r, command, "-h");
        expect_ok(&r);
        assert_non_null(strstr(r.out, flags[0]));
        run_free(&r);
    }
}

static void test_help_and_version(void **state)
{
    (void)state;
    static const char *const fit_flags[] = {
        "-k", "-c", "--init ", "--init-model", "--seed", "--n-init", "--tol",
        "--max-iter", "--reg-covar", "--threads", "--shape",
        "--require-converged", "-o", "--labels", "--proba", "--json", "-v",
        "--trace", "--weights", "--help", "kmeans", "0.001", "1e-06", "100",
        NULL};
    static const char *const predict_flags[] = {"-o", "--proba", "--shape",
                                                "--help", NULL};
    static const char *const score_flags[] = {"--json", "--shape", "--help",
                                              NULL};
    static const char *const sample_flags[] = {"-n", "--seed", "-o",
                                               "--help", NULL};
    static const char *const select_flags[] = {
        "-k", "-c", "--criterion", "--n-init", "--seed", "--tol",
        "--max-iter", "--reg-covar", "--threads", "--shape", "--weights",
        "-o", "--json", "--plot", "-v", "--help", "1..10", "VVV", "EEE",
        "VVI", "VII", "mclust", NULL};
    static const char *const plot_flags[] = {"-o", "--max-points", "5000",
                                             "--shape", "--help",
                                             "principal components", NULL};
    static const char *const main_flags[] = {"fit", "select", "plot",
                                             "predict", "score", "sample",
                                             "--version", NULL};
    expect_help("fit", fit_flags);
    expect_help("predict", predict_flags);
    expect_help("score", score_flags);
    expect_help("sample", sample_flags);
    expect_help("select", select_flags);
    expect_help("plot", plot_flags);
    expect_help(NULL, main_flags);

    run_result r;
    RUN(&r, "--version");
    expect_ok(&r);
    char want[64];
    snprintf(want, sizeof want, "emgmm %s\n", emgmm_version());
    assert_string_equal(r.out, want);
    run_free(&r);

    /* No arguments: the usage on standard error, exit 2. */
    run_in(&r, NULL, (const char *const[]){NULL});
    expect_status(&r, 2);
    assert_string_equal(r.out, "");
    assert_non_null(strstr(r.err, "emgmm fit DATA"));
    run_free(&r);
}

/* The demo data set, when it is there. */
static void test_demo_data(void **state)
{
    (void)state;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/data/sightings.csv", g_src);
    if (!file_exists(path))
        skip();
    run_result r;
    RUN(&r, "fit", path, "-k", "2", "--json");
    expect_ok(&r);
    json_t *j = parse_json(r.out);
    assert_int_equal(json_int(j, "n_features"), 2);
    assert_true(json_int(j, "n_samples") >= 2);
    assert_true(json_is_true(json_object_get(j, "converged")));
    json_decref(j);
    run_free(&r);
}

/* The tests change folders: make the given paths absolute. */
static int absolute(const char *path, char out[PATH_MAX])
{
    char cwd[PATH_MAX];
    if (path[0] == '/')
        return snprintf(out, PATH_MAX, "%s", path) < PATH_MAX ? 0 : -1;
    if (getcwd(cwd, sizeof cwd) == NULL)
        return -1;
    return snprintf(out, PATH_MAX, "%s/%s", cwd, path) < PATH_MAX ? 0 : -1;
}

/* --mix: Gaussian-mixture emissions end to end. The model file says so,
 * score gives the fit's log-likelihood, decode and sample work on it, a
 * start from it keeps its shape, and --mix must agree with a start. */
static void test_hmm_gmm_emissions(void **state)
{
    (void)state;
    write_hmm_data();
    run_result r;
    RUN(&r, "hmm", "fit", "hmm.csv", "-k", "2", "--mix", "2", "-c", "full",
        "--lengths", "lengths.txt", "-o", "g.json", "--json");
    expect_ok(&r);
    json_t *j = parse_json(r.out);
    assert_int_equal(json_int(j, "n_mix"), 2);
    const double ll = json_num(j, "log_likelihood");
    json_decref(j);
    run_free(&r);
    emgmm_hmm *m = NULL;
    assert_int_equal(emgmm_hmm_load("g.json", &m, NULL), EMGMM_OK);
    assert_int_equal(emgmm_hmm_get_emission(m), EMGMM_HMM_GMM);
    assert_int_equal(emgmm_hmm_n_mix(m), 2);
    emgmm_hmm_free(&m);
    RUN(&r, "hmm", "score", "g.json", "hmm.csv", "--lengths", "lengths.txt",
        "--json");
    expect_ok(&r);
    j = parse_json(r.out);
    assert_close(json_num(j, "log_likelihood"), ll, 1e-12, 0);
    json_decref(j);
    run_free(&r);
    RUN(&r, "hmm", "decode", "g.json", "hmm.csv", "--lengths", "lengths.txt",
        "-o", "gs.csv");
    expect_ok(&r);
    run_free(&r);
    char *states = read_all("gs.csv", NULL), *truth = read_all("truth.csv",
                                                                 NULL);
    size_t same = 0, rows = 0;
    for (const char *a = states, *b = truth; *a && *b; a++, b++)
        if (*a != '\n') {
            rows++;
            same += *a == *b;
        }
    assert_int_equal(rows, 400);
    assert_true(same > 390 || same < 10); /* either labelling */
    free(states);
    free(truth);
    RUN(&r, "hmm", "sample", "g.json", "-n", "50", "--seed", "3", "-o",
        "s.csv");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "hmm", "fit", "hmm.csv", "--init-model", "g.json", "--mix", "2",
        "--max-iter", "2", "--json");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "hmm", "fit", "hmm.csv", "--init-model", "g.json", "--mix", "3");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "--mix 3 disagrees");
    run_free(&r);
    RUN(&r, "hmm", "fit", "hmm.csv", "-k", "2", "--mix", "2",
        "--init-params", "stmc");
    expect_status(&r, 2);
    expect_in_stderr(&r, "and w");
    run_free(&r);
}

/* hmm fit --checkpoint / --resume: a fit resumed from the checkpoint of
 * its third iteration writes the same model file, byte for byte, as the
 * fit that was never stopped; SIGTERM stops a long fit with exit 3 after
 * writing the checkpoint; --resume refuses disagreeing options. */
static void test_hmm_checkpoint_resume(void **state)
{
    (void)state;
    write_hmm_data();
    run_result r;
    RUN(&r, "hmm", "fit", "hmm.csv", "-k", "2", "-c", "full", "--lengths",
        "lengths.txt", "--tol", "-1", "--max-iter", "3", "--checkpoint",
        "ck.json", "-o", "three.json");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "hmm", "fit", "hmm.csv", "--resume", "ck.json", "-k", "2", "-c",
        "full", "--lengths", "lengths.txt", "--max-iter", "8", "-o",
        "resumed.json");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "hmm", "fit", "hmm.csv", "-k", "2", "-c", "full", "--lengths",
        "lengths.txt", "--tol", "-1", "--max-iter", "8", "-o", "whole.json");
    expect_ok(&r);
    run_free(&r);
    char *a = read_all("resumed.json", NULL), *b = read_all("whole.json", NULL);
    assert_non_null(strstr(a, "\"n_iter\": 8"));
    assert_string_equal(a, b);
    free(a);
    free(b);

    RUN(&r, "hmm", "fit", "hmm.csv", "--resume", "ck.json", "-k", "3");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "disagrees with the checkpoint ck.json");
    run_free(&r);
    RUN(&r, "hmm", "fit", "hmm.csv", "--resume", "ck.json", "--init-model",
        "ck.json");
    expect_status(&r, 2);
    run_free(&r);
    RUN(&r, "hmm", "fit", "hmm.csv", "--resume", "three.json", "--mix", "2");
    expect_status(&r, 2);
    run_free(&r);

    /* A fit that would run for ever, stopped by SIGTERM once its first
     * checkpoint exists. */
    pid_t pid = spawn_program(NULL, NULL, "sigterm.err", NULL,
                              (const char *const[]){
                                  "hmm", "fit", "hmm.csv", "-k", "3",
                                  "--tol", "-1", "--max-iter", "100000000",
                                  "--checkpoint", "long.json", "-o",
                                  "never.json", NULL});
    struct stat st;
    const struct timespec tick = {0, 10 * 1000 * 1000};
    for (int tries = 0; tries < 6000 && stat("long.json", &st) != 0; tries++)
        nanosleep(&tick, NULL);
    assert_int_equal(stat("long.json", &st), 0);
    assert_int_equal(kill(pid, SIGTERM), 0);
    assert_int_equal(wait_program(pid), 3);
    char *err = read_all("sigterm.err", NULL);
    assert_non_null(strstr(err, "interrupted by SIGTERM"));
    assert_non_null(strstr(err, "--resume long.json"));
    free(err);
    assert_false(file_exists("never.json"));
    emgmm_hmm *m = NULL;
    assert_int_equal(emgmm_hmm_load("long.json", &m, NULL), EMGMM_OK);
    emgmm_hmm_free(&m);
}

/* --missing: gaps in the rows of an HMM's data. Refused without it (the
 * message says to pass it); with it the fit runs, score --missing gives
 * its log-likelihood, decode --missing labels every row, and a column
 * with nothing observed is named. */
static void test_hmm_missing_values(void **state)
{
    (void)state;
    write_hmm_data();
    /* Every 7th row loses its second value, every 23rd both. */
    char *text = read_all("hmm.csv", NULL);
    FILE *f = fopen("gappy.csv", "w");
    assert_non_null(f);
    int row = -1;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"),
              row++) {
        char *comma = strchr(line, ',');
        if (row >= 0 && row % 23 == 0)
            fprintf(f, ",\n");
        else if (row >= 0 && row % 7 == 0 && comma)
            fprintf(f, "%.*s,\n", (int)(comma - line), line);
        else
            fprintf(f, "%s\n", line);
    }
    assert_int_equal(fclose(f), 0);
    free(text);
    run_result r;
    RUN(&r, "hmm", "fit", "gappy.csv", "-k", "2", "--lengths", "lengths.txt");
    expect_status(&r, 2);
    expect_in_stderr(&r, "--missing");
    run_free(&r);
    RUN(&r, "hmm", "fit", "gappy.csv", "-k", "2", "-c", "full", "--lengths",
        "lengths.txt", "--missing", "-o", "m.json", "--json", "--states",
        "s.csv");
    expect_ok(&r);
    json_t *j = parse_json(r.out);
    const double ll = json_num(j, "log_likelihood");
    json_decref(j);
    run_free(&r);
    RUN(&r, "hmm", "score", "m.json", "gappy.csv", "--lengths", "lengths.txt",
        "--missing", "--json");
    expect_ok(&r);
    j = parse_json(r.out);
    assert_close(json_num(j, "log_likelihood"), ll, 1e-12, 0);
    json_decref(j);
    run_free(&r);
    RUN(&r, "hmm", "decode", "m.json", "gappy.csv", "--lengths",
        "lengths.txt", "--missing", "-o", "d.csv");
    expect_ok(&r);
    run_free(&r);
    char *a = read_all("s.csv", NULL), *b = read_all("d.csv", NULL);
    assert_string_equal(a, b);
    free(a);
    free(b);
    /* A column with nothing observed. */
    f = fopen("empty.csv", "w");
    assert_non_null(f);
    fprintf(f, "a,b\n");
    for (int i = 0; i < 40; i++)
        fprintf(f, "%d,\n", i % 5);
    assert_int_equal(fclose(f), 0);
    RUN(&r, "hmm", "fit", "empty.csv", "-k", "2", "--missing");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "column 2");
    run_free(&r);
}

/* A build without MPI started as several ranks by a launcher (mpirun -np
 * 3 of a program that cannot talk MPI) refuses to run the whole job on
 * every rank: exit 2, one line saying how to build with MPI, no output.
 * (A build with MPI would start MPI instead; the mpi suite tests that.) */
static void test_launcher_without_mpi(void **state)
{
    (void)state;
#if EMGMM_TEST_PROGRAM_HAS_MPI
    skip(); /* this program is built with MPI: see the mpi suite */
#else
    fit_model();
    char **env = environment_with("OMPI_COMM_WORLD_SIZE=3");
    run_result r;
    run_env(&r, NULL, env,
            (const char *const[]){"fit", "data.csv", "-k", "2", "-o",
                                  "never.json", NULL});
    free(env);
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "built without MPI");
    expect_in_stderr(&r, "-Dmpi=enabled");
    assert_false(file_exists("never.json"));
    run_free(&r);
#endif
}

/* ------------------------------------------------------------------ */
/* HDF5                                                                */
/* ------------------------------------------------------------------ */

#ifdef EMGMM_HAVE_HDF5

/* The values of a data file, as the readers give them. */
static dataio_matrix values_of(const char *path)
{
    return read_matrix(path);
}

/* rows x cols doubles into FILE as dataset `name`, stored as `type`;
 * chunked by chunk_rows rows with shuffle and gzip unless 0. The file is
 * created unless add is set. */
static void h5_write(const char *file, const char *name, hid_t type,
                     const double *v, size_t rows, size_t cols,
                     size_t chunk_rows, int add)
{
    hid_t f = add ? H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT)
                  : H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    const int rank = cols ? 2 : 1;
    hsize_t dims[2] = {rows, cols}, chunk[2] = {chunk_rows, cols};
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    assert_true(space >= 0 && lcpl >= 0 && dcpl >= 0);
    assert_true(H5Pset_create_intermediate_group(lcpl, 1) >= 0);
    if (chunk_rows) {
        assert_true(H5Pset_chunk(dcpl, rank, chunk) >= 0);
        assert_true(H5Pset_shuffle(dcpl) >= 0);
        assert_true(H5Pset_deflate(dcpl, 4) >= 0);
    }
    hid_t d = H5Dcreate2(f, name, type, space, lcpl, dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                         v) >= 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    H5Sclose(space);
    assert_true(H5Fclose(f) >= 0);
}

/* A dataset read with the HDF5 API: its type must be `type`, its shape
 * rows x cols (cols 0: 1-D); the values as doubles (caller frees). */
static double *h5_read(const char *file, const char *name, hid_t type,
                       size_t rows, size_t cols)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0)
        print_message("%s: no dataset %s\n", file, name);
    assert_true(d >= 0);
    hid_t t = H5Dget_type(d), space = H5Dget_space(d);
    assert_true(H5Tequal(t, type) > 0);
    hsize_t dims[2] = {0, 0};
    assert_int_equal(H5Sget_simple_extent_ndims(space), cols ? 2 : 1);
    H5Sget_simple_extent_dims(space, dims, NULL);
    assert_int_equal(dims[0], rows);
    assert_int_equal(dims[1], cols);
    double *v = malloc(rows * (cols ? cols : 1) * sizeof *v);
    assert_non_null(v);
    assert_true(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                        v) >= 0);
    H5Tclose(t);
    H5Sclose(space);
    H5Dclose(d);
    H5Fclose(f);
    return v;
}

static void expect_same_file(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    char *x = read_all(a, &na), *y = read_all(b, &nb);
    assert_non_null(x);
    assert_non_null(y);
    if (na != nb || memcmp(x, y, na) != 0)
        print_message("%s and %s differ:\n%s\n%s\n", a, b, x, y);
    assert_int_equal(na, nb);
    assert_memory_equal(x, y, na);
    free(x);
    free(y);
}

/* Fits an HDF5 file written with the HDF5 API (chunked, gzip after
 * shuffle): the same model as from the CSV, bit for bit; the labels and
 * probabilities written as HDF5 datasets into one file, read back. */
static void test_hdf5_fit(void **state)
{
    (void)state;
    dataio_matrix x = values_of("data.csv");
    h5_write("data.h5", "/obs/xy", H5T_IEEE_F64LE, x.data, x.rows, x.cols,
             16, 0);
    run_result r;
    RUN(&r, "fit", "data.csv", "-k", "2", "-o", "csv.json", "--labels",
        "l.npy", "--proba", "p.npy");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "fit", "data.h5:/obs/xy", "-k", "2", "-o", "h5.json", "--labels",
        "out.h5", "--proba", "out.h5");
    expect_ok(&r);
    run_free(&r);
    expect_same_file("csv.json", "h5.json");
    double *l = read_states_npy("l.npy", N_ROWS);
    dataio_matrix p = read_matrix("p.npy");
    double *hl = h5_read("out.h5", "/labels", H5T_STD_I32LE, N_ROWS, 0);
    double *hp = h5_read("out.h5", "/proba", H5T_IEEE_F64LE, N_ROWS, 2);
    assert_memory_equal(hl, l, N_ROWS * sizeof(double));
    assert_memory_equal(hp, p.data, 2 * N_ROWS * sizeof(double));
    free(hl);
    free(hp);
    /* The file's only 2-D dataset needs no name; the outputs' datasets
     * can be named, in groups. */
    RUN(&r, "fit", "data.h5", "-k", "2", "-o", "h5b.json", "--proba",
        "o2.h5:/run/1/proba");
    expect_ok(&r);
    run_free(&r);
    expect_same_file("csv.json", "h5b.json");
    hp = h5_read("o2.h5", "/run/1/proba", H5T_IEEE_F64LE, N_ROWS, 2);
    assert_memory_equal(hp, p.data, 2 * N_ROWS * sizeof(double));
    free(hp);

    /* predict, sample and impute write HDF5 too. */
    RUN(&r, "predict", "csv.json", "data.h5:obs/xy", "-o", "pred.h5",
        "--proba", "pred.h5");
    expect_ok(&r);
    run_free(&r);
    hl = h5_read("pred.h5", "/labels", H5T_STD_I32LE, N_ROWS, 0);
    assert_memory_equal(hl, l, N_ROWS * sizeof(double));
    free(hl);
    hp = h5_read("pred.h5", "/proba", H5T_IEEE_F64LE, N_ROWS, 2);
    free(hp);
    RUN(&r, "sample", "csv.json", "-n", "7", "--seed", "3", "-o", "s.npy");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "sample", "csv.json", "-n", "7", "--seed", "3", "-o", "s.h5");
    expect_ok(&r);
    run_free(&r);
    dataio_matrix s = read_matrix("s.npy");
    double *hs = h5_read("s.h5", "/data", H5T_IEEE_F64LE, 7, 2);
    assert_memory_equal(hs, s.data, 14 * sizeof(double));
    free(hs);
    dataio_matrix_free(&s);
    RUN(&r, "impute", "csv.json", "data.h5", "-o", "imp.h5:/filled");
    expect_ok(&r);
    run_free(&r);
    hs = h5_read("imp.h5", "/filled", H5T_IEEE_F64LE, N_ROWS, 2);
    assert_memory_equal(hs, x.data, 2 * N_ROWS * sizeof(double));
    free(hs);
    free(l);
    dataio_matrix_free(&p);
    dataio_matrix_free(&x);
}

/* Errors: one line naming the file and the dataset, exit 2, nothing
 * written and an existing output untouched. */
static void test_hdf5_errors(void **state)
{
    (void)state;
    dataio_matrix x = values_of("data.csv");
    h5_write("two.h5", "/a", H5T_IEEE_F64LE, x.data, x.rows, x.cols, 0, 0);
    h5_write("two.h5", "/b", H5T_IEEE_F32LE, x.data, x.rows, x.cols, 0, 1);
    x.data[2 * 57 + 1] = INFINITY;
    h5_write("two.h5", "/bad", H5T_IEEE_F64LE, x.data, x.rows, x.cols, 50, 1);
    dataio_matrix_free(&x);
    write_text("out.h5", "precious");
    char *before = list_dir();
    run_result r;
    RUN(&r, "fit", "two.h5", "-k", "2", "--labels", "out.h5");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "two.h5: 3 two-dimensional datasets: /a (200 x 2), "
                         "/b (200 x 2), /bad (200 x 2); name one, as in "
                         "two.h5:/a");
    run_free(&r);
    RUN(&r, "fit", "two.h5:/c", "-k", "2", "--labels", "out.h5");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "two.h5:/c: no such dataset (the file has /a (200 "
                         "x 2), /b (200 x 2), /bad (200 x 2))");
    run_free(&r);
    RUN(&r, "fit", "two.h5:/bad", "-k", "2", "--labels", "out.h5");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "two.h5:/bad: row 58, column 2: value is not "
                         "finite (inf)");
    run_free(&r);
    /* Two outputs in one dataset; a model is not HDF5. */
    RUN(&r, "fit", "two.h5:/a", "-k", "2", "--labels", "o.h5:/x", "--proba",
        "o.h5:x");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "--labels and --proba both write to 'o.h5:x'");
    run_free(&r);
    RUN(&r, "fit", "two.h5:/a", "-k", "2", "--labels", "out.h5", "-o",
        "model.h5");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "-o: 'model.h5': this output is text (JSON or "
                         "SVG), not HDF5");
    run_free(&r);
    char *after = list_dir();
    assert_string_equal(before, after);
    free(after);

    /* A write that fails half way (the file size limit standing in for a
     * full disk): exit 1, one line, no file left, nothing else touched. */
    RUN(&r, "fit", "two.h5:/a", "-k", "2", "-o", "m.json");
    expect_ok(&r);
    run_free(&r);
    free(before);
    before = list_dir();
    struct rlimit old, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = 64 * 1024;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    RUN(&r, "sample", "m.json", "-n", "100000", "-o", "big.h5", "--seed",
        "1");
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    expect_status(&r, 1);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "-o: cannot write 'big.h5': ");
    expect_in_stderr(&r, strerror(EFBIG));
    run_free(&r);
    after = list_dir();
    assert_string_equal(before, after);
    char *kept = read_all("out.h5", NULL);
    assert_string_equal(kept, "precious");
    free(kept);
    free(before);
    free(after);
}

/* hmm fit, decode and sample: the data and the lengths from one HDF5
 * file, the states and probabilities into HDF5. */
static void test_hdf5_hmm(void **state)
{
    (void)state;
    write_hmm_data();
    dataio_matrix x = values_of("hmm.csv");
    const double lengths[2] = {150, 250};
    h5_write("seq.h5", "/x", H5T_IEEE_F64LE, x.data, x.rows, x.cols, 64, 0);
    h5_write("seq.h5", "/lengths", H5T_STD_I64LE, lengths, 2, 0, 0, 1);
    run_result r;
    RUN(&r, "hmm", "fit", "hmm.csv", "-k", "2", "--lengths", "lengths.txt",
        "-o", "csv.json", "--states", "st.npy");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "hmm", "fit", "seq.h5", "-k", "2", "--lengths", "seq.h5", "-o",
        "h5.json", "--states", "st.h5", "--proba", "st.h5");
    expect_ok(&r);
    run_free(&r);
    expect_same_file("csv.json", "h5.json");
    double *want = read_states_npy("st.npy", x.rows);
    double *got = h5_read("st.h5", "/states", H5T_STD_I32LE, x.rows, 0);
    assert_memory_equal(got, want, x.rows * sizeof(double));
    free(got);
    got = h5_read("st.h5", "/proba", H5T_IEEE_F64LE, x.rows, 2);
    free(got);
    RUN(&r, "hmm", "decode", "h5.json", "seq.h5:/x", "--lengths",
        "seq.h5:/lengths", "-o", "dec.h5", "--proba", "dec.h5:/post");
    expect_ok(&r);
    run_free(&r);
    got = h5_read("dec.h5", "/states", H5T_STD_I32LE, x.rows, 0);
    assert_memory_equal(got, want, x.rows * sizeof(double));
    free(got);
    got = h5_read("dec.h5", "/post", H5T_IEEE_F64LE, x.rows, 2);
    free(got);
    RUN(&r, "hmm", "sample", "h5.json", "-n", "9", "-o", "hs.h5",
        "--states", "hs.h5");
    expect_ok(&r);
    run_free(&r);
    got = h5_read("hs.h5", "/data", H5T_IEEE_F64LE, 9, 2);
    free(got);
    got = h5_read("hs.h5", "/states", H5T_STD_I32LE, 9, 0);
    free(got);
    free(want);
    dataio_matrix_free(&x);
}

/* An executable on PATH (or an absolute path). */
static int have_program(const char *name)
{
    if (strchr(name, '/') != NULL)
        return access(name, X_OK) == 0;
    const char *path = getenv("PATH");
    char dir[PATH_MAX];
    while (path != NULL && *path != '\0') {
        size_t n = strcspn(path, ":");
        snprintf(dir, sizeof dir, "%.*s/%s", (int)n, path, name);
        if (n > 0 && access(dir, X_OK) == 0)
            return 1;
        path += n + (path[n] == ':');
    }
    return 0;
}

/* Debian's Python with h5py (python3-h5py), as the reference suite
 * chooses it: $EMGMM_PYTHON, else /usr/bin/python3, else python3. */
static const char *python_with_h5py(void)
{
    static char cmd[PATH_MAX + 64];
    const char *py = getenv("EMGMM_PYTHON");
    if (py == NULL)
        py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3"
                                                   : "python3";
    snprintf(cmd, sizeof cmd, "%s -c 'import h5py, numpy' 2>/dev/null", py);
    if (system(cmd) != 0)
        return NULL;
    return py;
}

/* Files written by h5py (float64 chunked with gzip and shuffle, float32
 * as numpy stores it) give the models of the same values from .npy and
 * CSV; h5py reads what emgmm wrote. */
static void test_hdf5_h5py(void **state)
{
    (void)state;
    const char *py = python_with_h5py();
    if (py == NULL) {
        print_message("h5py not installed (apt-get install python3-h5py): "
                      "skipped\n");
        skip();
    }
    write_text("make.py",
               "import h5py, numpy as np\n"
               "x = np.loadtxt('data.csv', delimiter=',', skiprows=1)\n"
               "np.save('x32.npy', x.astype(np.float32))\n"
               "with h5py.File('py.h5', 'w') as f:\n"
               "    f.create_dataset('grp/x64', data=x, chunks=(32, 2),\n"
               "                     compression='gzip', shuffle=True)\n"
               "    f.create_dataset('x32', data=x.astype(np.float32))\n"
               "    f.create_dataset('len', data=np.array([120, 80]))\n");
    char cmd[PATH_MAX + 128];
    snprintf(cmd, sizeof cmd, "%s make.py", py);
    assert_int_equal(system(cmd), 0);
    run_result r;
    RUN(&r, "fit", "data.csv", "-k", "2", "-o", "csv.json", "--labels",
        "l.npy");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "fit", "py.h5:/grp/x64", "-k", "2", "-o", "py64.json",
        "--labels", "out.h5", "--proba", "out.h5");
    expect_ok(&r);
    run_free(&r);
    expect_same_file("csv.json", "py64.json");
    RUN(&r, "fit", "x32.npy", "-k", "2", "-o", "npy32.json");
    expect_ok(&r);
    run_free(&r);
    RUN(&r, "fit", "py.h5:x32", "-k", "2", "-o", "py32.json");
    expect_ok(&r);
    run_free(&r);
    expect_same_file("npy32.json", "py32.json");
    RUN(&r, "hmm", "fit", "py.h5:/grp/x64", "-k", "2", "--lengths",
        "py.h5:/len", "-o", "hmm.json");
    expect_ok(&r);
    run_free(&r);
    write_text("check.py",
               "import h5py, numpy as np\n"
               "with h5py.File('out.h5', 'r') as f:\n"
               "    l, p = f['labels'], f['proba']\n"
               "    assert l.dtype == np.int32 and l.shape == (200,)\n"
               "    assert p.dtype == np.float64 and p.shape == (200, 2)\n"
               "    assert (l[()] == np.load('l.npy')).all()\n"
               "    assert np.allclose(p[()].sum(axis=1), 1)\n");
    snprintf(cmd, sizeof cmd, "%s check.py", py);
    assert_int_equal(system(cmd), 0);
}

/* Files written by the HDF5 tools: h5import (float64 and big-endian
 * float32 from raw values) and h5repack (chunked, shuffle, gzip). */
static void test_hdf5_tools(void **state)
{
    (void)state;
    if (!have_program("h5import") || !have_program("h5repack")) {
        print_message("h5import or h5repack missing (apt-get install "
                      "hdf5-tools): skipped\n");
        skip();
    }
    dataio_matrix x = values_of("data.csv");
    FILE *f = fopen("xy.f64", "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(x.data, sizeof(double), x.rows * x.cols, f),
                     x.rows * x.cols);
    assert_int_equal(fclose(f), 0);
    /* The same values rounded to float32, for the float32 file. */
    f = fopen("x32.csv", "w");
    assert_non_null(f);
    for (size_t i = 0; i < x.rows; i++)
        fprintf(f, "%.17g,%.17g\n", (double)(float)x.data[2 * i],
                (double)(float)x.data[2 * i + 1]);
    assert_int_equal(fclose(f), 0);
    for (int bits = 64; bits >= 32; bits -= 32) {
        char conf[512];
        snprintf(conf, sizeof conf,
                 "PATH /obs/xy\nINPUT-CLASS FP\nINPUT-SIZE 64\n"
                 "INPUT-BYTE-ORDER LE\nRANK 2\nDIMENSION-SIZES %zu 2\n"
                 "OUTPUT-CLASS FP\nOUTPUT-SIZE %d\nOUTPUT-ARCHITECTURE IEEE\n"
                 "OUTPUT-BYTE-ORDER %s\n", x.rows, bits,
                 bits == 64 ? "LE" : "BE");
        write_text("conf.txt", conf);
        assert_int_equal(system("h5import xy.f64 -c conf.txt -o imp.h5 "
                                "> /dev/null"), 0);
        assert_int_equal(system("h5repack -f SHUF -f GZIP=5 -l "
                                "/obs/xy:CHUNK=16x2 imp.h5 rep.h5"), 0);
        run_result r;
        RUN(&r, "fit", bits == 64 ? "data.csv" : "x32.csv", "-k", "2", "-o",
            "csv.json");
        expect_ok(&r);
        run_free(&r);
        RUN(&r, "fit", "imp.h5", "-k", "2", "-o", "imp.json");
        expect_ok(&r);
        run_free(&r);
        expect_same_file("csv.json", "imp.json");
        RUN(&r, "fit", "rep.h5:/obs/xy", "-k", "2", "-o", "rep.json");
        expect_ok(&r);
        run_free(&r);
        expect_same_file("csv.json", "rep.json");
        assert_int_equal(unlink("imp.h5"), 0);
        assert_int_equal(unlink("rep.h5"), 0);
    }
    dataio_matrix_free(&x);
}

#else /* built without HDF5 */

static void test_hdf5_not_built(void **state)
{
    (void)state;
    run_result r;
    RUN(&r, "fit", "data.h5:/x", "-k", "2");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "data.h5: this emgmm was built without HDF5 "
                         "support");
    run_free(&r);
    RUN(&r, "fit", "data.csv", "-k", "2", "-o", "m.json", "--labels",
        "l.h5");
    expect_status(&r, 2);
    expect_one_error_line(&r);
    expect_in_stderr(&r, "--labels: l.h5: this emgmm was built without "
                         "HDF5 support");
    assert_false(file_exists("m.json"));
    run_free(&r);
}

#endif /* EMGMM_HAVE_HDF5 */

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s EMGMM_PROGRAM SOURCE_ROOT\n", argv[0]);
        return 2;
    }
    if (absolute(argv[1], g_prog) != 0 || absolute(argv[2], g_src) != 0) {
        fprintf(stderr, "path too long\n");
        return 2;
    }
    snprintf(g_root, sizeof g_root, "/tmp/emgmm-test-cli-XXXXXX");
    if (mkdtemp(g_root) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    /* EMGMM_TEST_FILTER=pattern runs only the matching tests (cmocka's
     * wildcards), e.g. EMGMM_TEST_FILTER='*resume*'. */
    if (getenv("EMGMM_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("EMGMM_TEST_FILTER"));
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_fit_prints_model),
        T(test_fit_all_outputs),
        T(test_fit_labels_to_stdout),
        T(test_fit_tol0_runs_max_iter),
        T(test_fit_init_model_round_trip),
        T(test_fit_init_model_takes_c),
        T(test_fit_same_seed_same_bits),
        T(test_fit_dtype),
        T(test_fit_verbose),
        T(test_fit_stdin_and_raw),
        T(test_fit_stream),
        T(test_fit_stream_weights_missing),
        T(test_predict_stream),
        T(test_predict_stream_failures),
        T(test_fit_stream_outputs),
        T(test_predict_stream_missing),
        T(test_impute_stream),
        T(test_impute_stream_failures),
        T(test_fit_require_converged),
        T(test_fit_empty_component),
        T(test_fit_sigterm_checkpoint_resume),
        T(test_fit_resume_other_blas_kernel),
        T(test_fit_resume_with_start_options),
        T(test_fit_singular),
        T(test_fit_unwritable_output),
        T(test_predict),
        T(test_score),
        T(test_sample),
        T(test_missing_values),
        T(test_fit_weights_equal_repeats),
        T(test_plot),
        T(test_plot_projected),
        T(test_plot_axis_names),
        T(test_fit_trace),
        T(test_select_demo),
        T(test_select_lists_and_failures),
        T(test_bad_inputs),
        T(test_help_and_version),
        T(test_demo_data),
        T(test_hmm_fit_outputs),
        T(test_hmm_fit_tol_negative),
        T(test_hmm_init_model_round_trip),
        T(test_hmm_decode),
        T(test_hmm_sample_and_fit),
        T(test_hmm_bad_inputs),
        T(test_hmm_help),
        T(test_hmm_demo_tracks),
        T(test_hmm_plot),
        T(test_hmm_gmm_emissions),
        T(test_hmm_checkpoint_resume),
        T(test_hmm_missing_values),
        T(test_launcher_without_mpi),
#ifdef EMGMM_HAVE_HDF5
        T(test_hdf5_fit),
        T(test_hdf5_errors),
        T(test_hdf5_hmm),
        T(test_hdf5_h5py),
        T(test_hdf5_tools),
#else
        T(test_hdf5_not_built),
#endif
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (chdir("/") == 0)
        remove_tree(g_root);
    return failed ? 1 : 0;
}
