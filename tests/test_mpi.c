/*
 * `emgmm fit` and `emgmm hmm fit` under mpirun with P = 1, 2, 3, 4 ranks
 * against the same fit without mpirun: the model (to 1e-10 relative), the
 * log-likelihood, the labels or states (identical) and the
 * probabilities; with HDF5, an .h5 input read and written by every rank.
 * predict, score, hmm decode and hmm score likewise against the same
 * command without mpirun.
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
        cmocka_unit_test(test_bad_value_on_one_rank),
        cmocka_unit_test(test_hmm_sequences_over_ranks),
        cmocka_unit_test(test_predict_score_over_ranks),
        cmocka_unit_test(test_hmm_score_decode_over_ranks),
#ifdef EMGMM_HAVE_HDF5
        cmocka_unit_test(test_hdf5_over_ranks),
#endif
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    sh("rm -rf %s", g_dir);
    return failed ? 1 : 0;
}
