/*
 * `emgmm fit` and `emgmm hmm fit` under mpirun with P = 1, 2, 3, 4 ranks
 * against the same fit without mpirun: the model (to 1e-10 relative), the
 * log-likelihood, the labels or states (identical) and the
 * probabilities; with HDF5, an .h5 input read and written by every rank.
 * predict, score, hmm decode and hmm score likewise against the same
 * command without mpirun; impute (each rank its rows) and select (every
 * candidate fitted over the ranks) too.
 * Run by meson only in a build with MPI; EMGMM_PROG is the program and
 * EMGMM_MPIRUN mpirun.
 */
#include "test_util.h"
#include "dataio.h"
#include "emgmm.h"
#include "emgmm_hmm.h"

#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef EMGMM_HAVE_HDF5
#include <hdf5.h>
#endif

static char g_dir[PATH_MAX];
static const char *g_prog, *g_mpirun;

/* Runs a shell command in g_dir; returns its exit status. */
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* n rows of three groups in d dimensions, some values missing. */
static void write_data(const char *path, size_t n, size_t d, double gaps)
{
    test_rng r = {2024};
    double *X = malloc(n * d * sizeof(double));
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            X[i * d + j] = (double)(i % 3) * 5.0 * (j % 2 ? 1 : -1) +
                           test_rng_normal(&r) * (1.0 + 0.2 * (double)j);
            if (test_rng_uniform(&r) < gaps)
                X[i * d + j] = NAN;
        }
    char err[256];
    assert_int_equal(dataio_write_matrix(path, X, n, d, err, sizeof err), 0);
    free(X);
}

static void write_weights(const char *path, size_t n)
{
    test_rng r = {77};
    double *w = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        w[i] = 0.5 + test_rng_uniform(&r);
    char err[256];
    assert_int_equal(dataio_write_matrix(path, w, n, 1, err, sizeof err), 0);
    free(w);
}

static emgmm_model *load(const char *name)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    emgmm_model *m = NULL;
    assert_int_equal(emgmm_load(path, &m, NULL), EMGMM_OK);
    return m;
}

static void assert_same_model(const emgmm_model *a, const emgmm_model *b)
{
    const size_t k = emgmm_n_components(a), d = emgmm_n_features(a);
    assert_int_equal(emgmm_n_components(b), k);
    size_t nc = 0;
    switch (emgmm_get_covariance_type(a)) {
    case EMGMM_COVARIANCE_FULL: nc = k * d * d; break;
    case EMGMM_COVARIANCE_TIED: nc = d * d; break;
    case EMGMM_COVARIANCE_DIAG: nc = k * d; break;
    case EMGMM_COVARIANCE_SPHERICAL: nc = k; break;
    }
    for (size_t i = 0; i < k; i++)
        assert_close(emgmm_weights(a)[i], emgmm_weights(b)[i], 1e-10, 1e-15);
    for (size_t i = 0; i < k * d; i++)
        assert_close(emgmm_means(a)[i], emgmm_means(b)[i], 1e-10, 1e-12);
    for (size_t i = 0; i < nc; i++)
        assert_close(emgmm_covariances(a)[i], emgmm_covariances(b)[i],
                     1e-10, 1e-12);
}

static double json_field(const char *name, const char *field)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    assert_non_null(j);
    const json_t *v = json_object_get(j, field);
    assert_true(json_is_number(v));
    double x = json_number_value(v);
    json_decref(j);
    return x;
}

static double json_ll(const char *name)
{
    return json_field(name, "log_likelihood");
}

/* Two JSON summaries agree: these fields to 1e-10 relative. */
static void assert_same_fields(const char *a, const char *b,
                               const char *const *fields)
{
    for (size_t i = 0; fields[i] != NULL; i++)
        assert_close(json_field(a, fields[i]), json_field(b, fields[i]),
                     1e-10, 0);
}

/* Two matrix files agree to 1e-9 relative. */
static void assert_same_matrix(const char *a, const char *b)
{
    char err[256];
    dataio_matrix ma = {NULL, 0, 0}, mb = {NULL, 0, 0};
    assert_int_equal(dataio_read_matrix(a, NULL, &ma, err, sizeof err), 0);
    assert_int_equal(dataio_read_matrix(b, NULL, &mb, err, sizeof err), 0);
    assert_int_equal(ma.rows, mb.rows);
    assert_int_equal(ma.cols, mb.cols);
    for (size_t i = 0; i < ma.rows * ma.cols; i++)
        assert_close(ma.data[i], mb.data[i], 1e-9, 1e-12);
    dataio_matrix_free(&ma);
    dataio_matrix_free(&mb);
}

static void compare_outputs(const char *tag, int P)
{
    char a[64], b[64];
    snprintf(a, sizeof a, "%s-1.json", tag);
    snprintf(b, sizeof b, "%s-mpi%d.json", tag, P);
    emgmm_model *one = load(a), *many = load(b);
    assert_same_model(one, many);
    emgmm_free(&one);
    emgmm_free(&many);
    snprintf(a, sizeof a, "%s-1.out", tag);
    snprintf(b, sizeof b, "%s-mpi%d.out", tag, P);
    assert_close(json_ll(a), json_ll(b), 1e-10, 0);
    assert_int_equal(sh("cd %s && cmp -s %s-1.labels.npy %s-mpi%d.labels.npy",
                        g_dir, tag, tag, P), 0);
    /* The probabilities, written by every rank into its rows. */
    char pa[PATH_MAX + 64], pb[PATH_MAX + 64], err[256];
    snprintf(pa, sizeof pa, "%s/%s-1.proba.npy", g_dir, tag);
    snprintf(pb, sizeof pb, "%s/%s-mpi%d.proba.npy", g_dir, tag, P);
    dataio_matrix ma = {NULL, 0, 0}, mb = {NULL, 0, 0};
    assert_int_equal(dataio_read_matrix(pa, NULL, &ma, err, sizeof err), 0);
    assert_int_equal(dataio_read_matrix(pb, NULL, &mb, err, sizeof err), 0);
    assert_int_equal(ma.rows, mb.rows);
    assert_int_equal(ma.cols, mb.cols);
    for (size_t i = 0; i < ma.rows * ma.cols; i++)
        assert_close(ma.data[i], mb.data[i], 1e-9, 1e-12);
    dataio_matrix_free(&ma);
    dataio_matrix_free(&mb);
}

/* The same fit, alone and on P = 1..4 ranks. */
static void run_case(const char *tag, const char *args)
{
    assert_int_equal(sh("cd %s && %s fit %s -o %s-1.json --labels "
                        "%s-1.labels.npy --proba %s-1.proba.npy --json > "
                        "%s-1.out", g_dir, g_prog, args, tag, tag, tag, tag),
                     0);
    for (int P = 1; P <= 4; P++) {
        assert_int_equal(sh("cd %s && %s --oversubscribe -np %d %s fit %s "
                            "-o %s-mpi%d.json --labels %s-mpi%d.labels.npy "
                            "--proba %s-mpi%d.proba.npy --json > "
                            "%s-mpi%d.out", g_dir, g_mpirun, P, g_prog, args,
                            tag, P, tag, P, tag, P, tag, P), 0);
        compare_outputs(tag, P);
    }
}

static void test_kmeans_start_full(void **state)
{
    (void)state;
    run_case("full", "data.npy -k 3 --tol 0 --max-iter 25");
}

static void test_missing_weights_diag(void **state)
{
    (void)state;
    run_case("gaps", "gaps.npy -k 3 -c diag --missing --weights w.npy "
                     "--tol 1e-8 --max-iter 200");
}

static void test_tied_csv(void **state)
{
    (void)state;
    run_case("tied", "data.csv -k 3 -c tied --tol 0 --max-iter 10");
}

/* fit --stream with --weights and --missing, and --n-init 3: alone,
 * loaded, against P = 1..4 ranks (1e-10). */
static void run_fit_pair(const char *tag, const char *args, int P,
                         const char *extra)
{
    if (P == 0)
        assert_int_equal(sh("cd %s && %s fit %s %s -o %s-1.json --json > "
                            "%s-1.out", g_dir, g_prog, args, extra, tag,
                            tag),
                         0);
    else
        assert_int_equal(sh("cd %s && %s --oversubscribe -np %d %s fit %s "
                            "%s -o %s-mpi%d.json --json > %s-mpi%d.out",
                            g_dir, g_mpirun, P, g_prog, args, extra, tag, P,
                            tag, P),
                         0);
}

static void compare_fits(const char *tag, const char *other)
{
    char a[64], b[64];
    snprintf(a, sizeof a, "%s-1.json", tag);
    snprintf(b, sizeof b, "%s.json", other);
    emgmm_model *one = load(a), *many = load(b);
    assert_same_model(one, many);
    emgmm_free(&one);
    emgmm_free(&many);
    snprintf(a, sizeof a, "%s-1.out", tag);
    snprintf(b, sizeof b, "%s.out", other);
    assert_close(json_ll(a), json_ll(b), 1e-10, 0);
}

static void test_stream_weights_missing_over_ranks(void **state)
{
    (void)state;
    const char *const cases[2][2] = {
        {"sgaps", "gaps.npy -k 3 --missing --weights w.npy --tol 0 "
                  "--max-iter 20"},
        {"sinit", "data.npy -k 4 -c diag --n-init 3 --seed 3 --tol 0 "
                  "--max-iter 15"}};
    for (int c = 0; c < 2; c++) {
        const char *tag = cases[c][0], *args = cases[c][1];
        char other[64];
        run_fit_pair(tag, args, 0, ""); /* loaded, one process */
        /* streamed, one process */
        snprintf(other, sizeof other, "%s-s", tag);
        assert_int_equal(sh("cd %s && %s fit %s --stream -o %s.json --json "
                            "> %s.out", g_dir, g_prog, args, other, other),
                         0);
        compare_fits(tag, other);
        for (int P = 1; P <= 4; P++) {
            /* streamed on P ranks */
            run_fit_pair(tag, args, P, "--stream");
            snprintf(other, sizeof other, "%s-mpi%d", tag, P);
            compare_fits(tag, other);
            if (c == 1 && (P == 2 || P == 3)) {
                /* restarts under mpirun, loaded */
                char loaded[64];
                snprintf(loaded, sizeof loaded, "%s-l", tag);
                run_fit_pair(loaded, args, P, "");
                snprintf(other, sizeof other, "%s-l-mpi%d", tag, P);
                compare_fits(tag, other);
            }
        }
    }
}

/* An error on one rank's block ends every rank, with exit status 2. */
static void test_bad_value_on_one_rank(void **state)
{
    (void)state;
    FILE *f = fopen("bad.csv", "w");
    assert_non_null(f);
    for (int i = 0; i < 40; i++) {
        if (i == 33)
            fprintf(f, "1,inf\n");
        else
            fprintf(f, "%d,%d\n", i, i % 7);
    }
    assert_int_equal(fclose(f), 0);
    assert_int_equal(sh("cd %s && %s --oversubscribe -np 3 %s fit bad.csv "
                        "-k 2 -o never.json 2> err.txt", g_dir, g_mpirun,
                        g_prog),
                     2);
    assert_int_equal(sh("cd %s && grep -q 'bad.csv:34:2: value is not "
                        "finite' err.txt && test ! -e never.json", g_dir),
                     0);
}

/* hmm fit: the same fit alone and on P = 1..4 ranks (whole sequences per
 * rank): the model to 1e-10, the log-likelihood, the Viterbi states
 * (identical). */
static void run_hmm_case(const char *tag, const char *args)
{
    assert_int_equal(sh("cd %s && %s hmm fit %s -o %s-1.json --states "
                        "%s-1.states.csv --json > %s-1.out", g_dir, g_prog,
                        args, tag, tag, tag),
                     0);
    for (int P = 1; P <= 4; P++) {
        assert_int_equal(sh("cd %s && %s --oversubscribe -np %d %s hmm fit "
                            "%s -o %s-mpi%d.json --states %s-mpi%d.states.csv "
                            "--json > %s-mpi%d.out",
                            g_dir, g_mpirun, P, g_prog, args, tag, P, tag, P,
                            tag, P),
                         0);
        char a[PATH_MAX + 64], b[PATH_MAX + 64];
        snprintf(a, sizeof a, "%s/%s-1.json", g_dir, tag);
        snprintf(b, sizeof b, "%s/%s-mpi%d.json", g_dir, tag, P);
        emgmm_hmm *one = NULL, *many = NULL;
        assert_int_equal(emgmm_hmm_load(a, &one, NULL), EMGMM_OK);
        assert_int_equal(emgmm_hmm_load(b, &many, NULL), EMGMM_OK);
        const size_t k = emgmm_hmm_n_states(one),
                     md = emgmm_hmm_n_mix(one) * emgmm_hmm_n_features(one);
        for (size_t i = 0; i < k * k; i++)
            assert_close(emgmm_hmm_transmat(one)[i],
                         emgmm_hmm_transmat(many)[i], 1e-10, 1e-12);
        for (size_t i = 0; i < k * md; i++)
            assert_close(emgmm_hmm_means(one)[i], emgmm_hmm_means(many)[i],
                         1e-10, 1e-12);
        emgmm_hmm_free(&one);
        emgmm_hmm_free(&many);
        snprintf(a, sizeof a, "%s-1.out", tag);
        snprintf(b, sizeof b, "%s-mpi%d.out", tag, P);
        assert_close(json_ll(a), json_ll(b), 1e-10, 0);
        assert_int_equal(sh("cd %s && cmp -s %s-1.states.csv "
                            "%s-mpi%d.states.csv", g_dir, tag, tag, P),
                         0);
    }
}

static void test_hmm_sequences_over_ranks(void **state)
{
    (void)state;
    FILE *f = fopen("lengths.txt", "w");
    assert_non_null(f);
    size_t total = 0;
    for (int q = 0; q < 9; q++) {
        fprintf(f, "%d\n", 200 + 37 * q);
        total += (size_t)(200 + 37 * q);
    }
    assert_int_equal(fclose(f), 0);
    write_data("seq.npy", total, 3, 0.0);
    write_data("seqgaps.npy", total, 3, 0.1);
    run_hmm_case("hmm", "seq.npy -k 3 -c full --lengths lengths.txt "
                        "--tol -1 --max-iter 15");
    run_hmm_case("hmmgmm", "seq.npy -k 2 --mix 2 -c diag --lengths "
                           "lengths.txt --tol -1 --max-iter 10");
    run_hmm_case("hmmgaps", "seqgaps.npy -k 3 -c tied --missing --lengths "
                            "lengths.txt --tol -1 --max-iter 10");
}

/* predict and score of a model, alone and on P = 1..4 ranks (each its
 * block of rows): the labels .npy byte for byte, the probabilities (.npy
 * written by every rank, CSV gathered on rank 0), the score summary. */
static void run_model_case(const char *tag, const char *model,
                           const char *data, const char *opts)
{
    static const char *const fields[] = {"n_samples", "log_likelihood",
                                         "bic", "aic", NULL};
    assert_int_equal(sh("cd %s && %s predict %s %s %s -o %s-p1.labels.npy "
                        "--proba %s-p1.proba.npy && %s predict %s %s %s "
                        "--proba %s-p1.proba.csv > %s-p1.labels.csv && %s "
                        "score %s %s %s --json > %s-s1.json", g_dir, g_prog,
                        model, data, opts, tag, tag, g_prog, model, data,
                        opts, tag, tag, g_prog, model, data, opts, tag),
                     0);
    for (int P = 1; P <= 4; P++) {
        assert_int_equal(sh("cd %s && %s --oversubscribe -np %d %s predict "
                            "%s %s %s -o %s-pmpi%d.labels.npy --proba "
                            "%s-pmpi%d.proba.npy", g_dir, g_mpirun, P, g_prog,
                            model, data, opts, tag, P, tag, P), 0);
        assert_int_equal(sh("cd %s && %s --oversubscribe -np %d %s predict "
                            "%s %s %s --proba %s-pmpi%d.proba.csv > "
                            "%s-pmpi%d.labels.csv", g_dir, g_mpirun, P,
                            g_prog, model, data, opts, tag, P, tag, P), 0);
        assert_int_equal(sh("cd %s && %s --oversubscribe -np %d %s score %s "
                            "%s %s --json > %s-smpi%d.json", g_dir, g_mpirun,
                            P, g_prog, model, data, opts, tag, P), 0);
        assert_int_equal(sh("cd %s && cmp -s %s-p1.labels.npy "
                            "%s-pmpi%d.labels.npy && cmp -s %s-p1.labels.csv "
                            "%s-pmpi%d.labels.csv", g_dir, tag, tag, P, tag,
                            tag, P), 0);
        char a[64], b[64];
        snprintf(a, sizeof a, "%s-p1.proba.npy", tag);
        snprintf(b, sizeof b, "%s-pmpi%d.proba.npy", tag, P);
        assert_same_matrix(a, b);
        snprintf(a, sizeof a, "%s-p1.proba.csv", tag);
        snprintf(b, sizeof b, "%s-pmpi%d.proba.csv", tag, P);
        assert_same_matrix(a, b);
        snprintf(a, sizeof a, "%s-s1.json", tag);
        snprintf(b, sizeof b, "%s-smpi%d.json", tag, P);
        assert_same_fields(a, b, fields);
    }
}

static void test_predict_score_over_ranks(void **state)
{
    (void)state;
    assert_int_equal(sh("cd %s && %s fit data.npy -k 3 --tol 0 --max-iter "
                        "10 -o pm.json && %s fit gaps.npy -k 3 -c diag "
                        "--missing --tol 0 --max-iter 10 -o pmgaps.json",
                        g_dir, g_prog, g_prog), 0);
    run_model_case("pred", "pm.json", "data.npy", "");
    run_model_case("predgaps", "pmgaps.json", "gaps.npy", "--missing");
}

/* predict --stream and score --stream on P = 1..4 ranks (each maps its
 * rows and writes them, a block at a time, into one .npy or HDF5 file):
 * the labels of predict without mpirun and without --stream byte for
 * byte, the probabilities and the score to 1e-10; fit --stream --labels
 * the labels of fit --stream alone; a text output is refused (exit 2,
 * nothing written). */
static void test_predict_stream_over_ranks(void **state)
{
    (void)state;
    static const char *const fields[] = {"n_samples", "log_likelihood",
                                         "bic", "aic", NULL};
    const char *fit = "-k 3 --tol 0 --max-iter 8 --init-model ps.json";
    assert_int_equal(sh("cd %s && %s fit data.npy -k 3 --tol 0 --max-iter "
                        "10 -o ps.json && %s predict ps.json data.npy -o "
                        "ps-1.labels.npy --proba ps-1.proba.npy && %s score "
                        "ps.json data.npy --json > ps-1.json && %s fit "
                        "data.npy --stream %s -o fs-1.json --labels "
                        "fs-1.labels.npy", g_dir, g_prog, g_prog, g_prog,
                        g_prog, fit), 0);
#ifdef EMGMM_HAVE_HDF5
    /* The labels alone: the int32 values after the .npy header. */
    FILE *lf = fopen("ps-1.labels.npy", "rb");
    assert_non_null(lf);
    unsigned char pre[10];
    assert_int_equal(fread(pre, 1, 10, lf), 10);
    assert_int_equal(fseek(lf, 10 + pre[8] + 256 * pre[9], SEEK_SET), 0);
    const size_t n = 3001; /* the rows of data.npy */
    int32_t *one = malloc(n * sizeof *one), *many = malloc(n * sizeof *many);
    assert_non_null(one);
    assert_non_null(many);
    assert_int_equal(fread(one, sizeof *one, n, lf), n);
    assert_int_equal(fclose(lf), 0);
#endif
    for (int P = 1; P <= 4; P++) {
        assert_int_equal(sh("cd %s && %s --oversubscribe -np %d %s predict "
                            "ps.json data.npy --stream -o ps-mpi%d.labels.npy "
                            "--proba ps-mpi%d.proba.npy && %s --oversubscribe "
                            "-np %d %s score ps.json data.npy --stream --json "
                            "> ps-mpi%d.json && cmp -s ps-1.labels.npy "
                            "ps-mpi%d.labels.npy", g_dir, g_mpirun, P, g_prog,
                            P, P, g_mpirun, P, g_prog, P, P), 0);
        char a[64], b[64];
        snprintf(b, sizeof b, "ps-mpi%d.proba.npy", P);
        assert_same_matrix("ps-1.proba.npy", b);
        snprintf(b, sizeof b, "ps-mpi%d.json", P);
        assert_same_fields("ps-1.json", b, fields);
#ifdef EMGMM_HAVE_HDF5
        assert_int_equal(sh("cd %s && %s --oversubscribe -np %d %s predict "
                            "ps.json data.npy --stream -o ps-mpi%d.h5 "
                            "--proba ps-mpi%d.h5", g_dir, g_mpirun, P,
                            g_prog, P, P), 0);
        snprintf(a, sizeof a, "ps-mpi%d.h5", P);
        hid_t f = H5Fopen(a, H5F_ACC_RDONLY, H5P_DEFAULT);
        assert_true(f >= 0);
        hid_t d = H5Dopen2(f, "/labels", H5P_DEFAULT);
        assert_true(d >= 0);
        assert_true(H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL,
                            H5P_DEFAULT, many) >= 0);
        H5Dclose(d);
        H5Fclose(f);
        assert_memory_equal(one, many, n * sizeof *one);
        snprintf(a, sizeof a, "ps-mpi%d.h5:/proba", P);
        assert_same_matrix("ps-1.proba.npy", a);
#endif
    }
#ifdef EMGMM_HAVE_HDF5
    free(one);
    free(many);
#endif
    assert_int_equal(sh("cd %s && %s --oversubscribe -np 3 %s fit data.npy "
                        "--stream %s -o fs-3.json --labels fs-3.labels.npy "
                        "&& cmp -s fs-1.labels.npy fs-3.labels.npy", g_dir,
                        g_mpirun, g_prog, fit), 0);
    assert_int_equal(sh("cd %s && %s --oversubscribe -np 2 %s predict "
                        "ps.json data.npy --stream -o never.csv 2> "
                        "pserr.txt", g_dir, g_mpirun, g_prog), 2);
    assert_int_equal(sh("cd %s && grep -q 'not text' pserr.txt && test ! "
                        "-e never.csv", g_dir), 0);
}

/* hmm score and hmm decode of a model, alone and on P = 1..4 ranks (each
 * its share of whole sequences): the score summary, the states file byte
 * for byte, the Viterbi log-probability, the posteriors. */
static void run_hmm_use_case(const char *tag, const char *args)
{
    static const char *const score_fields[] = {"log_likelihood", "bic",
                                               "aic", NULL};
    static const char *const decode_fields[] = {"log_probability", NULL};
    assert_int_equal(sh("cd %s && %s hmm score %s --json > %s-hs1.json && "
                        "%s hmm decode %s -o %s-hd1.states.npy --proba "
                        "%s-hd1.proba.npy --json > %s-hd1.json && %s hmm "
                        "decode %s --algorithm map > %s-hm1.csv", g_dir,
                        g_prog, args, tag, g_prog, args, tag, tag, tag,
                        g_prog, args, tag), 0);
    for (int P = 1; P <= 4; P++) {
        assert_int_equal(sh("cd %s && %s --oversubscribe -np %d %s hmm score "
                            "%s --json > %s-hsmpi%d.json", g_dir, g_mpirun,
                            P, g_prog, args, tag, P), 0);
        assert_int_equal(sh("cd %s && %s --oversubscribe -np %d %s hmm "
                            "decode %s -o %s-hdmpi%d.states.npy --proba "
                            "%s-hdmpi%d.proba.npy --json > %s-hdmpi%d.json",
                            g_dir, g_mpirun, P, g_prog, args, tag, P, tag, P,
                            tag, P), 0);
        assert_int_equal(sh("cd %s && %s --oversubscribe -np %d %s hmm "
                            "decode %s --algorithm map > %s-hmmpi%d.csv",
                            g_dir, g_mpirun, P, g_prog, args, tag, P), 0);
        char a[64], b[64];
        snprintf(a, sizeof a, "%s-hs1.json", tag);
        snprintf(b, sizeof b, "%s-hsmpi%d.json", tag, P);
        assert_same_fields(a, b, score_fields);
        snprintf(a, sizeof a, "%s-hd1.json", tag);
        snprintf(b, sizeof b, "%s-hdmpi%d.json", tag, P);
        assert_same_fields(a, b, decode_fields);
        assert_int_equal(sh("cd %s && cmp -s %s-hd1.states.npy "
                            "%s-hdmpi%d.states.npy && cmp -s %s-hm1.csv "
                            "%s-hmmpi%d.csv", g_dir, tag, tag, P, tag, tag,
                            P), 0);
        snprintf(a, sizeof a, "%s-hd1.proba.npy", tag);
        snprintf(b, sizeof b, "%s-hdmpi%d.proba.npy", tag, P);
        assert_same_matrix(a, b);
    }
}

static void test_hmm_score_decode_over_ranks(void **state)
{
    (void)state;
    FILE *f = fopen("uselengths.txt", "w");
    assert_non_null(f);
    size_t total = 0;
    for (int q = 0; q < 7; q++) {
        fprintf(f, "%d\n", 150 + 61 * q);
        total += (size_t)(150 + 61 * q);
    }
    assert_int_equal(fclose(f), 0);
    write_data("useseq.npy", total, 3, 0.0);
    write_data("useseqgaps.npy", total, 3, 0.1);
    assert_int_equal(sh("cd %s && %s hmm fit useseq.npy -k 3 -c full "
                        "--lengths uselengths.txt --tol -1 --max-iter 5 -o "
                        "use.json", g_dir, g_prog), 0);
    run_hmm_use_case("use", "use.json useseq.npy --lengths uselengths.txt");
    run_hmm_use_case("usegaps", "use.json useseqgaps.npy --missing "
                                "--lengths uselengths.txt");
    /* One sequence: one rank has it, the others nothing. */
    run_hmm_use_case("useone", "use.json useseq.npy");
}

/* Under mpirun the hmm commands read only the rows of each rank's
 * sequences. DATA has an infinity in row 31 (rank 0's rows of 2) and in
 * row 160 (rank 1's): each rank names the first bad row of its own rows,
 * so row 160 is reported, which no rank would do if it read the whole
 * file (the first bad row there is 31). The same with HDF5 (hyperslabs),
 * and a good .h5 with its lengths in the same file decodes as the .npy
 * alone does. */
static void test_hmm_rows_per_rank(void **state)
{
    (void)state;
    const size_t n = 200, d = 2;
    write_data("rr.npy", n, d, 0.0);
    char err[256];
    dataio_matrix x = {NULL, 0, 0};
    assert_int_equal(dataio_read_matrix("rr.npy", NULL, &x, err, sizeof err),
                     0);
    const double good30 = x.data[30 * d + 1], good159 = x.data[159 * d + 1];
    x.data[30 * d + 1] = INFINITY;
    x.data[159 * d + 1] = INFINITY;
    assert_int_equal(dataio_write_matrix("rrbad.npy", x.data, n, d, err,
                                         sizeof err), 0);
    const char *len = "--lengths 50,50,50,50";
    assert_int_equal(sh("cd %s && %s hmm fit rr.npy -k 2 %s --tol -1 "
                        "--max-iter 3 -o rr.json", g_dir, g_prog, len), 0);
    static const char *const cmds[] = {"hmm score rr.json",
                                       "hmm decode rr.json",
                                       "hmm fit -k 2 -o never.json"};
    for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
        /* hmm fit takes DATA first. */
        const int fit = c == 2;
        assert_int_equal(sh("cd %s && rm -f rrerr.txt && %s --oversubscribe "
                            "-np 2 %s %s %s %s > /dev/null 2> rrerr.txt",
                            g_dir, g_mpirun, g_prog,
                            fit ? "hmm fit rrbad.npy" : cmds[c],
                            fit ? "-k 2 -o never.json" : "rrbad.npy", len),
                         2);
        assert_int_equal(sh("cd %s && grep -q 'rrbad.npy: row 160, column "
                            "2: value is not finite' rrerr.txt && grep -q "
                            "'rrbad.npy: row 31, column 2: value is not "
                            "finite' rrerr.txt && test ! -e never.json",
                            g_dir), 0);
    }
    /* Only rank 1's row is bad: rank 0's rows are read without error. */
    x.data[30 * d + 1] = good30;
    assert_int_equal(dataio_write_matrix("rrbad1.npy", x.data, n, d, err,
                                         sizeof err), 0);
    assert_int_equal(sh("cd %s && %s --oversubscribe -np 2 %s hmm score "
                        "rr.json rrbad1.npy %s > /dev/null 2> rrerr.txt",
                        g_dir, g_mpirun, g_prog, len), 2);
    assert_int_equal(sh("cd %s && grep -q 'rrbad1.npy: row 160, column 2' "
                        "rrerr.txt && ! grep -q 'row 31' rrerr.txt", g_dir),
                     0);
#ifdef EMGMM_HAVE_HDF5
    x.data[30 * d + 1] = INFINITY;
    assert_int_equal(dataio_write_matrix("rrbad.h5:/x", x.data, n, d, err,
                                         sizeof err), 0);
    assert_int_equal(sh("cd %s && %s --oversubscribe -np 2 %s hmm score "
                        "rr.json rrbad.h5:/x %s > /dev/null 2> rrerr.txt",
                        g_dir, g_mpirun, g_prog, len), 2);
    assert_int_equal(sh("cd %s && grep -q 'row 160, column 2: value is not "
                        "finite' rrerr.txt && grep -q 'row 31, column 2' "
                        "rrerr.txt", g_dir), 0);
    x.data[30 * d + 1] = good30;
    x.data[159 * d + 1] = good159;
    const double lengths[4] = {50, 50, 50, 50};
    assert_int_equal(dataio_write_matrix("rr.h5:/x", x.data, n, d, err,
                                         sizeof err), 0);
    assert_int_equal(dataio_write_matrix("rr.h5:/lengths", lengths, 4, 1,
                                         err, sizeof err), 0);
    assert_int_equal(sh("cd %s && %s hmm decode rr.json rr.npy %s -o "
                        "rr-1.npy && %s --oversubscribe -np 2 %s hmm decode "
                        "rr.json rr.h5:/x --lengths rr.h5:/lengths -o "
                        "rr-2.npy && cmp -s rr-1.npy rr-2.npy", g_dir,
                        g_prog, len, g_mpirun, g_prog), 0);
#else
    (void)good159;
#endif
    dataio_matrix_free(&x);
}

#ifdef EMGMM_HAVE_HDF5
/* An HDF5 input (chunked, gzip after shuffle) read by P = 1..4 ranks, each
 * its own hyperslab of rows, and the labels and probabilities written by
 * every rank into one HDF5 file: the model, labels and probabilities of
 * the fit of the same values alone from .npy. */
static void test_hdf5_over_ranks(void **state)
{
    (void)state;
    char err[256];
    dataio_matrix x = {NULL, 0, 0};
    assert_int_equal(dataio_read_matrix("data.npy", NULL, &x, err,
                                        sizeof err), 0);
    hid_t f = H5Fcreate("data.h5", H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {x.rows, x.cols}, chunk[2] = {100, x.cols};
    hid_t space = H5Screate_simple(2, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    assert_true(f >= 0 && space >= 0 && dcpl >= 0);
    assert_true(H5Pset_chunk(dcpl, 2, chunk) >= 0);
    assert_true(H5Pset_shuffle(dcpl) >= 0);
    assert_true(H5Pset_deflate(dcpl, 4) >= 0);
    hid_t d = H5Dcreate2(f, "/x", H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl,
                         H5P_DEFAULT);
    assert_true(d >= 0);
    assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                         x.data) >= 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
    assert_true(H5Fclose(f) >= 0);
    const size_t n = x.rows;
    dataio_matrix_free(&x);

    const char *args = "-k 3 --tol 0 --max-iter 25";
    assert_int_equal(sh("cd %s && %s fit data.npy %s -o h5-1.json --labels "
                        "h5-1.labels.h5 --proba h5-1.proba.npy --json > "
                        "h5-1.out", g_dir, g_prog, args), 0);
    int32_t *one = malloc(n * sizeof *one), *many = malloc(n * sizeof *many);
    assert_non_null(one);
    assert_non_null(many);
    f = H5Fopen("h5-1.labels.h5", H5F_ACC_RDONLY, H5P_DEFAULT);
    d = H5Dopen2(f, "/labels", H5P_DEFAULT);
    assert_true(H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                        one) >= 0);
    H5Dclose(d);
    H5Fclose(f);
    dataio_matrix pa = {NULL, 0, 0}, pb = {NULL, 0, 0};
    assert_int_equal(dataio_read_matrix("h5-1.proba.npy", NULL, &pa, err,
                                        sizeof err), 0);
    for (int P = 1; P <= 4; P++) {
        assert_int_equal(sh("cd %s && %s --oversubscribe -np %d %s fit "
                            "data.h5:/x %s -o h5-mpi%d.json --labels "
                            "h5-mpi%d.h5 --proba h5-mpi%d.h5 --json > "
                            "h5-mpi%d.out", g_dir, g_mpirun, P, g_prog, args,
                            P, P, P, P), 0);
        char a[64], b[64];
        snprintf(b, sizeof b, "h5-mpi%d.json", P);
        emgmm_model *m1 = load("h5-1.json"), *mp = load(b);
        assert_same_model(m1, mp);
        emgmm_free(&m1);
        emgmm_free(&mp);
        snprintf(b, sizeof b, "h5-mpi%d.out", P);
        assert_close(json_ll("h5-1.out"), json_ll(b), 1e-10, 0);
        snprintf(a, sizeof a, "h5-mpi%d.h5", P);
        f = H5Fopen(a, H5F_ACC_RDONLY, H5P_DEFAULT);
        assert_true(f >= 0);
        d = H5Dopen2(f, "/labels", H5P_DEFAULT);
        assert_true(d >= 0);
        assert_true(H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL,
                            H5P_DEFAULT, many) >= 0);
        H5Dclose(d);
        H5Fclose(f);
        assert_memory_equal(one, many, n * sizeof *one);
        snprintf(a, sizeof a, "h5-mpi%d.h5:/proba", P);
        assert_int_equal(dataio_read_matrix(a, NULL, &pb, err, sizeof err),
                         0);
        assert_int_equal(pb.rows, pa.rows);
        assert_int_equal(pb.cols, pa.cols);
        for (size_t i = 0; i < pa.rows * pa.cols; i++)
            assert_close(pa.data[i], pb.data[i], 1e-9, 1e-12);
        dataio_matrix_free(&pb);
    }
    dataio_matrix_free(&pa);
    free(one);
    free(many);
}
#endif

/* The largest relative difference seen by assert_same_values (for the
 * report at the end of a test). */
static double g_max_rel;

/* Two matrix files (or HDF5 datasets) hold the same values to 1e-10
 * relative, with no missing value left; max_rel gets the largest
 * relative difference. */
static void assert_same_values(const char *a, const char *b)
{
    char err[256];
    dataio_matrix ma = {NULL, 0, 0}, mb = {NULL, 0, 0};
    assert_int_equal(dataio_read_matrix(a, NULL, &ma, err, sizeof err), 0);
    assert_int_equal(dataio_read_matrix(b, NULL, &mb, err, sizeof err), 0);
    assert_int_equal(ma.rows, mb.rows);
    assert_int_equal(ma.cols, mb.cols);
    for (size_t i = 0; i < ma.rows * ma.cols; i++) {
        assert_false(isnan(mb.data[i]));
        assert_close(ma.data[i], mb.data[i], 1e-10, 1e-12);
        double scale = fmax(fabs(ma.data[i]), fabs(mb.data[i]));
        if (scale > 0 && fabs(ma.data[i] - mb.data[i]) / scale > g_max_rel)
            g_max_rel = fabs(ma.data[i] - mb.data[i]) / scale;
    }
    dataio_matrix_free(&ma);
    dataio_matrix_free(&mb);
}

/* impute, alone and on P = 1..4 ranks (each fills its block of rows): the
 * completed data as .npy and HDF5 (written by every rank into its rows)
 * and CSV (gathered on rank 0), to 1e-10; the observed values are those
 * of DATA. --draws runs on rank 0 alone and gives the same bytes. A bad
 * value in one rank's block ends every rank with exit status 2 and no
 * output. */
static void test_impute_over_ranks(void **state)
{
    (void)state;
    g_max_rel = 0.0;
    assert_int_equal(sh("cd %s && %s fit gaps.npy -k 3 --missing --tol 0 "
                        "--max-iter 10 -o imp.json && %s impute imp.json "
                        "gaps.npy -o imp-1.npy && %s impute imp.json "
                        "gaps.npy -o imp-1.csv && %s impute imp.json "
                        "gaps.npy --draws 3 --seed 4 -o draws-1.npy",
                        g_dir, g_prog, g_prog, g_prog, g_prog), 0);
#ifdef EMGMM_HAVE_HDF5
    assert_int_equal(sh("cd %s && %s impute imp.json gaps.npy -o imp-1.h5",
                        g_dir, g_prog), 0);
#endif
    /* The gaps are filled, the observed values kept. */
    char err[256];
    dataio_matrix x = {NULL, 0, 0}, f = {NULL, 0, 0};
    dataio_read_options gappy = {0, 0, 1};
    assert_int_equal(dataio_read_matrix("gaps.npy", &gappy, &x, err,
                                        sizeof err), 0);
    assert_int_equal(dataio_read_matrix("imp-1.npy", NULL, &f, err,
                                        sizeof err), 0);
    size_t n_gaps = 0;
    for (size_t i = 0; i < x.rows * x.cols; i++) {
        assert_false(isnan(f.data[i]));
        if (isnan(x.data[i]))
            n_gaps++;
        else
            assert_true(x.data[i] == f.data[i]);
    }
    assert_true(n_gaps > 100);
    dataio_matrix_free(&x);
    dataio_matrix_free(&f);
    for (int P = 1; P <= 4; P++) {
        assert_int_equal(sh("cd %s && %s --oversubscribe -np %d %s impute "
                            "imp.json gaps.npy -o imp-mpi%d.npy && %s "
                            "--oversubscribe -np %d %s impute imp.json "
                            "gaps.npy -o - > imp-mpi%d.csv", g_dir, g_mpirun,
                            P, g_prog, P, g_mpirun, P, g_prog, P), 0);
        char b[64];
        snprintf(b, sizeof b, "imp-mpi%d.npy", P);
        assert_same_values("imp-1.npy", b);
        snprintf(b, sizeof b, "imp-mpi%d.csv", P);
        assert_same_values("imp-1.csv", b);
#ifdef EMGMM_HAVE_HDF5
        assert_int_equal(sh("cd %s && %s --oversubscribe -np %d %s impute "
                            "imp.json gaps.npy -o imp-mpi%d.h5:/filled",
                            g_dir, g_mpirun, P, g_prog, P), 0);
        snprintf(b, sizeof b, "imp-mpi%d.h5:/filled", P);
        assert_same_values("imp-1.h5:/data", b);
#endif
    }
    assert_int_equal(sh("cd %s && %s --oversubscribe -np 3 %s impute "
                        "imp.json gaps.npy --draws 3 --seed 4 -o "
                        "draws-mpi3.npy && cmp -s draws-1.npy draws-mpi3.npy",
                        g_dir, g_mpirun, g_prog), 0);
    print_message("impute: 1 to 4 ranks against one process: largest "
                  "relative difference %.3g\n", g_max_rel);

    /* inf in row 34 of 40: the block of rank 2 of 3. */
    FILE *bad = fopen("impbad.csv", "w");
    assert_non_null(bad);
    for (int i = 0; i < 40; i++)
        fprintf(bad, i == 33 ? "1,inf,,2,3\n" : "%d,%d,,1,2\n", i, i % 7);
    assert_int_equal(fclose(bad), 0);
    assert_int_equal(sh("cd %s && %s --oversubscribe -np 3 %s impute "
                        "imp.json impbad.csv -o never.npy 2> imperr.txt",
                        g_dir, g_mpirun, g_prog), 2);
    assert_int_equal(sh("cd %s && grep -q 'impbad.csv:34:2: value is not "
                        "finite' imperr.txt && test ! -e never.npy", g_dir),
                     0);
    /* Every rank takes a block of rows: 2 rows are too few for 3. */
    assert_int_equal(sh("cd %s && head -n 2 impbad.csv > imp2.csv && %s "
                        "--oversubscribe -np 3 %s impute imp.json imp2.csv "
                        "-o never.csv 2> imperr.txt", g_dir, g_mpirun,
                        g_prog), 2);
    assert_int_equal(sh("cd %s && grep -q 'imp2.csv: 2 rows are too few for "
                        "3 ranks' imperr.txt && test ! -e never.csv", g_dir),
                     0);
}

/* impute --stream on P = 1..4 ranks, each mapping its block of rows (more
 * rows than one block of --stream work) and writing them into one .npy
 * or HDF5 file: the bytes of impute without mpirun, --draws included
 * (each rank draws its own rows, numbered by their rows in the file). A
 * text output is refused with exit status 2 and no file. */
static void test_impute_stream_over_ranks(void **state)
{
    (void)state;
    write_data("sgaps.npy", 70001, 3, 0.01);
    assert_int_equal(sh("cd %s && %s fit sgaps.npy -k 3 --missing --tol 0 "
                        "--max-iter 5 -o simp.json && %s impute simp.json "
                        "sgaps.npy -o simp-1.npy && %s impute simp.json "
                        "sgaps.npy --draws 2 --seed 4 -o sdraws-1.npy",
                        g_dir, g_prog, g_prog, g_prog), 0);
    g_max_rel = 0.0;
    for (int P = 1; P <= 4; P++) {
        assert_int_equal(sh("cd %s && %s --oversubscribe -np %d %s impute "
                            "simp.json sgaps.npy --stream -o simp-mpi%d.npy "
                            "&& cmp -s simp-1.npy simp-mpi%d.npy", g_dir,
                            g_mpirun, P, g_prog, P, P), 0);
        assert_int_equal(sh("cd %s && %s --oversubscribe -np %d %s impute "
                            "simp.json sgaps.npy --stream --draws 2 --seed 4 "
                            "-o sdraws-mpi%d.npy && cmp -s sdraws-1.npy "
                            "sdraws-mpi%d.npy", g_dir, g_mpirun, P, g_prog,
                            P, P), 0);
#ifdef EMGMM_HAVE_HDF5
        assert_int_equal(sh("cd %s && %s --oversubscribe -np %d %s impute "
                            "simp.json sgaps.npy --stream --draws 2 --seed 4 "
                            "-o sdraws-mpi%d.h5:/filled", g_dir, g_mpirun, P,
                            g_prog, P), 0);
        char b[64];
        snprintf(b, sizeof b, "sdraws-mpi%d.h5:/filled", P);
        assert_same_values("sdraws-1.npy", b);
#endif
    }
    assert_true(g_max_rel == 0.0); /* the same values, not only close */
    assert_int_equal(sh("cd %s && %s --oversubscribe -np 2 %s impute "
                        "simp.json sgaps.npy --stream -o never.csv 2> "
                        "simperr.txt", g_dir, g_mpirun, g_prog), 2);
    assert_int_equal(sh("cd %s && grep -q 'with --stream under mpirun' "
                        "simperr.txt && test ! -e never.csv", g_dir), 0);
}

/* A field of one entry of select's --json results. */
static double result_field(const json_t *r, const char *field)
{
    const json_t *v = json_object_get(r, field);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

/* select's --json summaries a (alone) and b (under mpirun): the same best
 * (K, type), every result's bic, aic and log-likelihood to 1e-10
 * relative, the same iterations and failures. */
static void assert_same_selection(const char *a, const char *b)
{
    json_error_t e;
    json_t *ja = json_load_file(a, 0, &e), *jb = json_load_file(b, 0, &e);
    assert_non_null(ja);
    assert_non_null(jb);
    const json_t *ba = json_object_get(ja, "best"),
                 *bb = json_object_get(jb, "best");
    assert_int_equal(json_integer_value(json_object_get(ba, "n_components")),
                     json_integer_value(json_object_get(bb, "n_components")));
    assert_string_equal(
        json_string_value(json_object_get(ba, "covariance_type")),
        json_string_value(json_object_get(bb, "covariance_type")));
    const json_t *ra = json_object_get(ja, "results"),
                 *rb = json_object_get(jb, "results");
    assert_true(json_array_size(ra) > 1);
    assert_int_equal(json_array_size(ra), json_array_size(rb));
    static const char *const fields[] = {"bic", "aic", "log_likelihood",
                                         NULL};
    size_t ok = 0;
    for (size_t i = 0; i < json_array_size(ra); i++) {
        const json_t *x = json_array_get(ra, i), *y = json_array_get(rb, i);
        assert_int_equal(json_integer_value(json_object_get(x, "n_components")),
                         json_integer_value(json_object_get(y, "n_components")));
        if (json_object_get(x, "error") != NULL) {
            assert_non_null(json_object_get(y, "error"));
            continue;
        }
        ok++;
        for (size_t f = 0; fields[f] != NULL; f++) {
            double u = result_field(x, fields[f]), v = result_field(y, fields[f]);
            assert_close(u, v, 1e-10, 0);
            if (fabs(u - v) / fmax(fabs(u), fabs(v)) > g_max_rel)
                g_max_rel = fabs(u - v) / fmax(fabs(u), fabs(v));
        }
        assert_int_equal(json_integer_value(json_object_get(x, "n_iter")),
                         json_integer_value(json_object_get(y, "n_iter")));
    }
    assert_true(ok > 1);
    json_decref(ja);
    json_decref(jb);
}

/* select, alone and on P = 1..4 ranks (every candidate fitted as fit does
 * under mpirun): the same chosen model, the criteria, the best model. */
static void run_select_case(const char *tag, const char *args)
{
    assert_int_equal(sh("cd %s && %s select %s --json -o %s-1.json > "
                        "%s-1.out", g_dir, g_prog, args, tag, tag), 0);
    for (int P = 1; P <= 4; P++) {
        assert_int_equal(sh("cd %s && %s --oversubscribe -np %d %s select %s "
                            "--json -o %s-mpi%d.json --plot %s-mpi%d.svg > "
                            "%s-mpi%d.out && test -s %s-mpi%d.svg", g_dir,
                            g_mpirun, P, g_prog, args, tag, P, tag, P, tag, P,
                            tag, P), 0);
        char a[64], b[64];
        snprintf(a, sizeof a, "%s-1.out", tag);
        snprintf(b, sizeof b, "%s-mpi%d.out", tag, P);
        assert_same_selection(a, b);
        snprintf(a, sizeof a, "%s-1.json", tag);
        snprintf(b, sizeof b, "%s-mpi%d.json", tag, P);
        emgmm_model *one = load(a), *many = load(b);
        assert_same_model(one, many);
        emgmm_free(&one);
        emgmm_free(&many);
    }
}

static void test_select_over_ranks(void **state)
{
    (void)state;
    g_max_rel = 0.0;
    run_select_case("sel", "data.npy -k 1..4 -c full,tied --tol 1e-6");
    /* Restarts (from the sample, as restart r of the fit alone), gaps,
     * weights, AIC, and a K too large for the data (a failed fit). */
    run_select_case("selgaps", "gaps.npy -k 2,3,2500 -c diag,spherical "
                               "--missing --weights w.npy --n-init 3 "
                               "--init random --criterion aic --tol 1e-6");
    print_message("select: 1 to 4 ranks against one process: largest "
                  "relative difference of a criterion %.3g\n", g_max_rel);
    /* Every rank takes a block of rows: 2 rows are too few for 3. */
    assert_int_equal(sh("cd %s && head -n 2 data.csv > sel2.csv && %s "
                        "--oversubscribe -np 3 %s select sel2.csv -k 1 -o "
                        "never.json 2> selerr.txt", g_dir, g_mpirun, g_prog),
                     2);
    assert_int_equal(sh("cd %s && grep -q 'sel2.csv: 2 rows are too few for "
                        "3 ranks' selerr.txt && test ! -e never.json", g_dir),
                     0);
}

int main(void)
{
    g_prog = getenv("EMGMM_PROG");
    g_mpirun = getenv("EMGMM_MPIRUN");
    if (!g_prog || !g_mpirun) {
        fprintf(stderr, "EMGMM_PROG and EMGMM_MPIRUN must be set\n");
        return 1;
    }
    snprintf(g_dir, sizeof g_dir, "%s/emgmm-mpi-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_dir) || chdir(g_dir) != 0)
        return 1;
    write_data("data.npy", 3001, 4, 0.0);
    write_data("data.csv", 900, 3, 0.0);
    write_data("gaps.npy", 2000, 5, 0.15);
    write_weights("w.npy", 2000);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kmeans_start_full),
        cmocka_unit_test(test_missing_weights_diag),
        cmocka_unit_test(test_tied_csv),
        cmocka_unit_test(test_stream_weights_missing_over_ranks),
        cmocka_unit_test(test_bad_value_on_one_rank),
        cmocka_unit_test(test_hmm_sequences_over_ranks),
        cmocka_unit_test(test_predict_score_over_ranks),
        cmocka_unit_test(test_predict_stream_over_ranks),
        cmocka_unit_test(test_hmm_score_decode_over_ranks),
        cmocka_unit_test(test_hmm_rows_per_rank),
#ifdef EMGMM_HAVE_HDF5
        cmocka_unit_test(test_hdf5_over_ranks),
#endif
        cmocka_unit_test(test_impute_over_ranks),
        cmocka_unit_test(test_impute_stream_over_ranks),
        cmocka_unit_test(test_select_over_ranks),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    sh("rm -rf %s", g_dir);
    return failed ? 1 : 0;
}
