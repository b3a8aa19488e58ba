/* emgmm predict | score | sample: use a fitted model (SPEC section 5). */
#include "cli_common.h"
#include "cli_distributed.h"
#include "cli_mpi.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

enum { OPT_PROBA = 256, OPT_SHAPE, OPT_JSON, OPT_SEED, OPT_MISSING,
       OPT_STREAM, OPT_DTYPE };

static const char *const model_and_data[] = {"MODEL", "DATA", NULL};
static const char *const model_only[] = {"MODEL", NULL};

/* ------------------------------------------------------------------ */
/* predict                                                             */
/* ------------------------------------------------------------------ */

static void predict_help(FILE *f)
{
    fputs(
        "Usage: emgmm predict MODEL DATA [options]\n"
        "\n"
        "Writes the most probable component (0-based label) of each row of\n"
        "DATA under the model in MODEL (a model JSON file from 'emgmm fit').\n"
        "DATA is .npy, CSV/TSV, raw float64 with --shape, an HDF5 dataset\n"
        "(FILE.h5:/dataset), or - for standard input; it must have as many\n"
        "columns as the model has features.\n"
        "\n"
        "Options:\n"
        "  -o, --output LABELS    write the labels here, one a line (CSV),\n"
        "                         .npy int32 when the name ends in .npy, or\n"
        "                         an HDF5 int32 dataset (FILE.h5[:/name],\n"
        "                         default /labels) (default: standard output)\n"
        "      --proba OUT        also write each row's component\n"
        "                         probabilities (N x K; .npy, HDF5 (default\n"
        "                         dataset /proba) or CSV)\n"
        "      --shape N,D        DATA is raw little-endian float64: N rows,\n"
        "                         D columns (default: detect .npy or CSV)\n"
        "      --missing          accept missing values (NaN, or an empty CSV\n"
        "                         cell): rows are labelled by their observed\n"
        "                         values; a row with none gets the component\n"
        "                         of largest weight\n"
        "      --stream           do not load DATA: map the file (.npy in C\n"
        "                         order, raw float64 with --shape) or read\n"
        "                         the HDF5 dataset a block of rows at a time,\n"
        "                         and write the outputs block by block:\n"
        "                         memory does not grow with the rows; the\n"
        "                         same labels and probabilities. Under mpirun\n"
        "                         the outputs must be .npy or HDF5\n"
        "      --dtype TYPE       float64 (default) or float32: hold DATA as\n"
        "                         float32 (half the memory; float32 files are\n"
        "                         read as they are, float64 and CSV rounded);\n"
        "                         the model stays float64. Not with --stream,\n"
        "                         --missing or under mpirun (yet)\n"
        "  -h, --help             show this help and exit\n"
        "\n"
        "Exit status: 0 success; 1 an output could not be written; 2 bad\n"
        "usage or bad input (no output is left behind).\n"
        "\n"
        "Example:\n"
        "  emgmm predict model.json data/sightings.csv -o labels.csv "
        "--proba proba.npy\n"
        "  emgmm predict model.json big.h5:/x --stream -o labels.npy\n",
        f);
}

int cmd_predict(int argc, char **argv)
{
    static const char optstring[] = ":o:h";
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'},
        {"proba", required_argument, NULL, OPT_PROBA},
        {"shape", required_argument, NULL, OPT_SHAPE},
        {"missing", no_argument, NULL, OPT_MISSING},
        {"stream", no_argument, NULL, OPT_STREAM},
        {"dtype", required_argument, NULL, OPT_DTYPE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *labels_path = "-", *proba_path = NULL;
    dataio_read_options read = {0, 0, 0};
    int c, rc = 0, stream = 0, f32 = 0;

    opterr = 0;
    optind = 1;
    while (rc == 0 &&
           (c = getopt_long(argc, argv, optstring, options, NULL)) != -1) {
        switch (c) {
        case 'o': labels_path = optarg; break;
        case OPT_PROBA: proba_path = optarg; break;
        case OPT_SHAPE: rc = cli_parse_shape("--shape", optarg, &read); break;
        case OPT_MISSING: read.allow_missing = 1; break;
        case OPT_STREAM: stream = 1; break;
        case OPT_DTYPE: rc = cli_parse_dtype("--dtype", optarg, &f32); break;
        case 'h':
            if (cli_mpi_rank() == 0) /* once under mpirun */
                predict_help(stdout);
            return 0;
        default: return cli_bad_option("predict", c, argv, optstring);
        }
    }
    if (rc == 0)
        rc = cli_positionals("predict", argc, argv, model_and_data);
    if (rc == 0 && f32 && (stream || read.allow_missing || cli_mpi_active()))
        rc = cli_error(EXIT_BAD_USAGE, "predict: --dtype float32 is not "
                       "available with %s", stream ? "--stream"
                       : read.allow_missing ? "--missing" : "mpirun");
    if (rc != 0)
        return rc;
    const char *model_path = argv[optind], *data_path = argv[optind + 1];

    /* Under mpirun every rank labels its block of rows: a .npy or HDF5
     * output gets each rank's rows in place, the others are gathered on
     * rank 0, which writes them. */
    const int root = cli_mpi_rank() == 0, distributed = cli_mpi_active();
    cli_outputs out;
    int i_labels = -1, i_proba = -1;
    cli_outputs_init(&out);
    if (root)
        rc = cli_outputs_declare(&out, "-o", labels_path, &i_labels);
    if (root && rc == 0 && proba_path != NULL)
        rc = cli_outputs_declare(&out, "--proba", proba_path, &i_proba);
    if (root && rc == 0)
        rc = cli_outputs_check(&out);
    /* --stream under several ranks: every rank writes its rows into one
     * .npy or HDF5 file; text would have to be gathered on rank 0. */
    for (int j = 0; j < 2 && rc == 0 && stream && cli_mpi_size() > 1; j++) {
        const char *path = j == 0 ? labels_path : proba_path;
        if (path != NULL && !cli_is_shared_name(path))
            rc = cli_error(EXIT_BAD_USAGE, "predict: %s '%s': with --stream "
                           "under mpirun the outputs are written by every "
                           "rank into one .npy or HDF5 file, not text (name "
                           "it .npy or .h5)", j == 0 ? "-o" : "--proba",
                           path);
    }
    if ((rc = cli_mpi_max(rc)) != 0) {
        cli_outputs_free(&out);
        return rc;
    }
    if (stream) {
        emgmm_model *m = NULL;
        dataio_map *map = NULL;
        dataio_shape shape = {0, 0, 0, 0};
        rc = cli_open_model_and_map(model_path, data_path, &read, &m, &map,
                                    &shape);
        if (rc == 0 && root)
            rc = cli_outputs_open(&out);
        rc = cli_mpi_max(rc);
        const cli_rows_output lo = {i_labels, "-o", labels_path};
        const cli_rows_output po = {i_proba, "--proba", proba_path};
        if (rc == 0)
            rc = cli_predict_mapped(m, map, &shape, &out, &lo,
                                    proba_path ? &po : NULL,
                                    read.allow_missing);
        if (rc == 0 && root)
            rc = cli_outputs_commit(&out);
        rc = cli_mpi_max(rc);
        cli_outputs_free(&out);
        dataio_map_close(map);
        emgmm_free(&m);
        return rc;
    }

    emgmm_model *m = NULL;
    dataio_matrix x = {NULL, 0, 0};
    int32_t *labels = NULL, *all_labels = NULL;
    double *proba = NULL, *all_proba = NULL;
    size_t first = 0, total = 0;
    const int shared_labels = distributed && cli_is_shared_name(labels_path);
    const int shared_proba = distributed && proba_path != NULL &&
                             cli_is_shared_name(proba_path);
    dataio_matrix_f32 xf = {NULL, 0, 0}; /* --dtype float32 */
    if (f32) {
        rc = cli_load_model_and_f32(model_path, data_path, &read, &m, &xf,
                                    &x);
        total = x.rows;
    } else {
        rc = cli_load_model_and_block("predict", model_path, data_path,
                                      &read, &m, &x, &first, &total);
    }
    if (rc == 0) {
        const size_t k = emgmm_n_components(m);
        rc = cli_mpi_max(
            f32 ? cli_predict_f32(m, &xf, &labels, proba_path ? &proba : NULL)
                : cli_predict(m, &x, &labels, proba_path ? &proba : NULL));
        if (rc == 0 && !shared_labels &&
            cli_mpi_gather_rows(labels, x.rows, 1, 1,
                                (void **)&all_labels) != 0)
            rc = cli_error(EXIT_WORK_FAILED, "-o: cannot gather the rows");
        if (rc == 0 && proba_path && !shared_proba &&
            cli_mpi_gather_rows(proba, x.rows, k, 0,
                                (void **)&all_proba) != 0)
            rc = cli_error(EXIT_WORK_FAILED, "--proba: cannot gather the "
                           "rows");
        rc = cli_mpi_max(rc);
        if (rc == 0 && root)
            rc = cli_outputs_open(&out);
        rc = cli_mpi_max(rc);
        if (rc == 0 && shared_labels)
            rc = cli_write_shared_rows(&out, i_labels, "-o", labels_path,
                                       labels, x.rows, 0, 1, first, total);
        if (rc == 0 && shared_proba)
            rc = cli_write_shared_rows(&out, i_proba, "--proba", proba_path,
                                       proba, x.rows, k, 0, first, total);
        /* Files first, standard output last, then commit them together. */
        if (rc == 0 && root && i_proba >= 0 && !shared_proba &&
            strcmp(proba_path, "-") != 0)
            rc = cli_write_matrix(&out, i_proba, all_proba, total, k);
        if (rc == 0 && root && !shared_labels)
            rc = cli_write_labels(&out, i_labels, all_labels, total);
        if (rc == 0 && root && i_proba >= 0 && strcmp(proba_path, "-") == 0)
            rc = cli_write_matrix(&out, i_proba, all_proba, total, k);
        if (rc == 0 && root)
            rc = cli_outputs_commit(&out);
        rc = cli_mpi_max(rc);
    }
    cli_outputs_free(&out);
    free(labels);
    free(proba);
    free(all_labels);
    free(all_proba);
    dataio_matrix_free(&x);
    dataio_matrix_f32_free(&xf);
    emgmm_free(&m);
    return rc;
}

/* ------------------------------------------------------------------ */
/* score                                                               */
/* ------------------------------------------------------------------ */

/* score --missing: the total log-likelihood of the observed values over
 * the rows that have some; those that have none are counted. */
static int score_observed(const emgmm_model *m, const dataio_matrix *x,
                          double *sum_ll, size_t *all_missing)
{
    double *logp = malloc((x->rows ? x->rows : 1) * sizeof *logp);
    if (!logp)
        return EMGMM_ERR_NOMEM;
    int st = emgmm_score_samples_missing(m, x->data, x->rows, x->cols, logp);
    double sum = 0.0;
    *all_missing = 0;
    for (size_t i = 0; st == EMGMM_OK && i < x->rows; i++) {
        size_t j = 0;
        while (j < x->cols && isnan(x->data[i * x->cols + j]))
            j++;
        if (j == x->cols)
            ++*all_missing;
        else
            sum += logp[i];
    }
    *sum_ll = sum;
    free(logp);
    return st;
}

/* score --stream: the total log-likelihood of this process's mapped
 * rows, a block at a time. */
static int score_mapped(const emgmm_model *m, dataio_map *map,
                        const dataio_shape *shape, int missing,
                        double *sum_ll, size_t *all_missing)
{
    const size_t d = shape->cols;
    const size_t block = cli_stream_block_rows(d, emgmm_n_components(m));
    double *buf = malloc(block * d * sizeof *buf), sum = 0.0;
    int rc = 0;
    *all_missing = 0;
    if (buf == NULL)
        rc = cli_error_always(EXIT_WORK_FAILED, "out of memory (%zu rows "
                              "of %zu columns)", block, d);
    for (size_t i = 0; rc == 0 && i < shape->rows; i += block) {
        const size_t n = shape->rows - i < block ? shape->rows - i : block;
        double mean = 0.0;
        int st;
        if (dataio_map_rows(map, i, n, buf) != 0) {
            const char *why = dataio_map_error(map);
            rc = cli_error_always(EXIT_BAD_USAGE, "%s",
                                  why ? why : "cannot read the data");
        } else if (missing) { /* as score --missing on loaded rows */
            const dataio_matrix x = {buf, n, d};
            double part = 0.0;
            size_t none = 0;
            if ((st = score_observed(m, &x, &part, &none)) != EMGMM_OK)
                rc = cli_error_always(cli_status_exit(st), "score: %s",
                                      emgmm_strerror(st));
            sum += part;
            *all_missing += none;
        } else if ((st = emgmm_score(m, buf, n, d, &mean)) != EMGMM_OK) {
            rc = cli_error_always(cli_status_exit(st), "score: %s",
                                  emgmm_strerror(st));
        } else {
            sum += mean * (double)n;
        }
    }
    free(buf);
    *sum_ll = sum;
    return rc;
}

static void score_help(FILE *f)
{
    fputs(
        "Usage: emgmm score MODEL DATA [options]\n"
        "\n"
        "Prints how well the model in MODEL fits DATA: the mean log-likelihood\n"
        "per sample, BIC = -2 * total log-likelihood + p * ln(N) and\n"
        "AIC = -2 * total log-likelihood + 2 * p (p free parameters, counted\n"
        "as scikit-learn does; lower BIC/AIC is better), and the number of\n"
        "samples N:\n"
        "  log_likelihood X\n"
        "  bic X\n"
        "  aic X\n"
        "  n_samples N\n"
        "\n"
        "Options:\n"
        "      --json             print one JSON object instead: n_samples,\n"
        "                         log_likelihood, bic, aic (default: the\n"
        "                         lines above)\n"
        "      --shape N,D        DATA is raw little-endian float64: N rows,\n"
        "                         D columns (default: detect .npy or CSV)\n"
        "      --missing          accept missing values (NaN, or an empty CSV\n"
        "                         cell): each row counts by the likelihood of\n"
        "                         its observed values; rows with none are left\n"
        "                         out of the mean and of N (as fit --missing\n"
        "                         does), and counted in n_rows_all_missing\n"
        "      --stream           do not load DATA: map the file (.npy in C\n"
        "                         order, raw float64 with --shape) or read\n"
        "                         the HDF5 dataset a block of rows at a time;\n"
        "                         memory does not grow with the rows\n"
        "      --dtype TYPE       float64 (default) or float32: hold DATA as\n"
        "                         float32 (as predict --dtype)\n"
        "  -h, --help             show this help and exit\n"
        "\n"
        "Exit status: 0 success; 2 bad usage or bad input.\n"
        "\n"
        "Example:\n"
        "  emgmm score model.json data/sightings.csv --json\n",
        f);
}

int cmd_score(int argc, char **argv)
{
    static const char optstring[] = ":h";
    static const struct option options[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"shape", required_argument, NULL, OPT_SHAPE},
        {"missing", no_argument, NULL, OPT_MISSING},
        {"stream", no_argument, NULL, OPT_STREAM},
        {"dtype", required_argument, NULL, OPT_DTYPE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    dataio_read_options read = {0, 0, 0};
    int c, rc = 0, json = 0, stream = 0, f32 = 0;
    size_t all_missing = 0;

    opterr = 0;
    optind = 1;
    while (rc == 0 &&
           (c = getopt_long(argc, argv, optstring, options, NULL)) != -1) {
        switch (c) {
        case OPT_JSON: json = 1; break;
        case OPT_SHAPE: rc = cli_parse_shape("--shape", optarg, &read); break;
        case OPT_MISSING: read.allow_missing = 1; break;
        case OPT_STREAM: stream = 1; break;
        case OPT_DTYPE: rc = cli_parse_dtype("--dtype", optarg, &f32); break;
        case 'h':
            if (cli_mpi_rank() == 0) /* once under mpirun */
                score_help(stdout);
            return 0;
        default: return cli_bad_option("score", c, argv, optstring);
        }
    }
    if (rc == 0)
        rc = cli_positionals("score", argc, argv, model_and_data);
    if (rc == 0 && f32 && (stream || read.allow_missing || cli_mpi_active()))
        rc = cli_error(EXIT_BAD_USAGE, "score: --dtype float32 is not "
                       "available with %s", stream ? "--stream"
                       : read.allow_missing ? "--missing" : "mpirun");
    if (rc != 0)
        return rc;

    /* Under mpirun every rank scores its block of rows; the sums of the
     * log-likelihoods and of the rows are added over the ranks, and rank
     * 0 prints the result. */
    emgmm_model *m = NULL;
    dataio_matrix x = {NULL, 0, 0};
    size_t first = 0, n_rows = 0;
    dataio_map *map = NULL; /* --stream */
    dataio_shape shape = {0, 0, 0, 0};
    dataio_matrix_f32 xf = {NULL, 0, 0}; /* --dtype float32 (x: shape) */
    if (stream) {
        rc = cli_open_model_and_map(argv[optind], argv[optind + 1], &read,
                                    &m, &map, &shape);
        n_rows = shape.total_rows;
    } else if (f32) {
        rc = cli_load_model_and_f32(argv[optind], argv[optind + 1], &read,
                                    &m, &xf, &x);
        n_rows = x.rows;
    } else {
        rc = cli_load_model_and_block("score", argv[optind],
                                      argv[optind + 1], &read, &m, &x,
                                      &first, &n_rows);
    }
    double ll = 0, bic = 0, aic = 0;
    int st = EMGMM_OK;
    if (rc == 0) {
        /* One pass over the data: BIC and AIC follow from the total
         * log-likelihood (their definitions in emgmm.h). */
        double mean = 0.0, sums[3] = {0.0, (double)x.rows, 0.0};
        if (stream) {
            /* Block by block: the sum of the blocks' totals. */
            sums[1] = (double)shape.rows;
            rc = score_mapped(m, map, &shape, read.allow_missing, &sums[0],
                              &all_missing);
            sums[2] = (double)all_missing;
            if (cli_mpi_size() == 1)
                mean = sums[0] / (double)shape.rows;
        } else if (read.allow_missing) {
            st = score_observed(m, &x, &sums[0], &all_missing);
            sums[2] = (double)all_missing;
        } else if (f32 && x.rows > 0) {
            st = emgmm_score_f32(m, xf.data, xf.rows, xf.cols, &mean);
            sums[0] = mean * (double)x.rows;
        } else if (x.rows > 0) {
            st = emgmm_score(m, x.data, x.rows, x.cols, &mean);
            sums[0] = mean * (double)x.rows;
        }
        if (st == EMGMM_ERR_NOMEM)
            rc = cli_error_always(EXIT_WORK_FAILED, "out of memory (%zu "
                                  "rows)", x.rows);
        else if (rc != 0)
            ; /* --stream: printed already */
        else if (st != EMGMM_OK)
            rc = cli_library_error("score", st);
        rc = cli_mpi_max(rc);
        if (rc == 0 && cli_mpi_allreduce(sums, 3, NULL) != 0)
            rc = cli_error(EXIT_WORK_FAILED, "score: MPI failed");
        rc = cli_mpi_max(rc);
        all_missing = (size_t)sums[2];
        if (rc == 0 && read.allow_missing && all_missing == n_rows)
            rc = cli_library_error("score", EMGMM_ERR_INVALID);
        if (rc == 0) {
            const double n = (double)(n_rows - all_missing);
            /* One process: the library's mean itself. */
            ll = cli_mpi_size() == 1 && !read.allow_missing ? mean
                                                            : sums[0] / n;
            const double p = (double)emgmm_n_parameters(m);
            bic = -2.0 * ll * n + p * log(n);
            aic = -2.0 * ll * n + 2.0 * p;
        }
    }
    dataio_map_close(map);
    dataio_matrix_f32_free(&xf);
    if (cli_mpi_rank() != 0) {
        dataio_matrix_free(&x);
        emgmm_free(&m);
        return rc;
    }
    if (rc == 0 && json) {
        json_t *obj = json_pack("{s:I, s:f, s:f, s:f}", "n_samples",
                                (json_int_t)n_rows, "log_likelihood", ll,
                                "bic", bic, "aic", aic);
        if (obj && read.allow_missing &&
            json_object_set_new(obj, "n_rows_all_missing",
                                json_integer((json_int_t)all_missing)) != 0) {
            json_decref(obj);
            obj = NULL;
        }
        if (obj == NULL)
            rc = cli_error(EXIT_WORK_FAILED,
                           "cannot write the JSON summary (log-likelihood "
                           "%g)", ll);
        else {
            if (json_dumpf(obj, stdout, JSON_REAL_PRECISION(17)) != 0)
                rc = cli_error(EXIT_WORK_FAILED,
                               "standard output: write error");
            json_decref(obj);
            if (rc == 0)
                fputc('\n', stdout);
        }
    } else if (rc == 0) {
        printf("log_likelihood %.17g\nbic %.17g\naic %.17g\nn_samples %zu\n",
               ll, bic, aic, n_rows);
    }
    dataio_matrix_free(&x);
    emgmm_free(&m);
    return rc;
}

/* ------------------------------------------------------------------ */
/* sample                                                              */
/* ------------------------------------------------------------------ */

static void sample_help(FILE *f)
{
    fputs(
        "Usage: emgmm sample MODEL -n N -o OUT [options]\n"
        "\n"
        "Draws N samples from the model in MODEL and writes them as an N x D\n"
        "matrix: .npy when OUT ends in .npy, an HDF5 dataset when it ends in\n"
        ".h5 or .hdf5 (OUT.h5:/name, default /data), else CSV (- = standard\n"
        "output).\n"
        "The same seed gives the same numbers.\n"
        "\n"
        "Options:\n"
        "  -n, --n-samples N      number of samples to draw, >= 1 (required)\n"
        "  -o, --output OUT       where to write them (required)\n"
        "      --seed S           random seed, 0 to 2^64-1 (default 0)\n"
        "  -h, --help             show this help and exit\n"
        "\n"
        "Exit status: 0 success; 1 the output could not be written; 2 bad\n"
        "usage or bad input.\n"
        "\n"
        "Example:\n"
        "  emgmm sample model.json -n 1000 --seed 7 -o samples.npy\n",
        f);
}

int cmd_sample(int argc, char **argv)
{
    static const char optstring[] = ":n:o:h";
    static const struct option options[] = {
        {"n-samples", required_argument, NULL, 'n'},
        {"output", required_argument, NULL, 'o'},
        {"seed", required_argument, NULL, OPT_SEED},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *out_path = NULL;
    size_t n = 0;
    uint64_t seed = 0;
    int c, rc = 0;

    opterr = 0;
    optind = 1;
    while (rc == 0 &&
           (c = getopt_long(argc, argv, optstring, options, NULL)) != -1) {
        switch (c) {
        case 'n': rc = cli_parse_size("-n", optarg, 1, &n); break;
        case 'o': out_path = optarg; break;
        case OPT_SEED: rc = cli_parse_u64("--seed", optarg, &seed); break;
        case 'h': sample_help(stdout); return 0;
        default: return cli_bad_option("sample", c, argv, optstring);
        }
    }
    if (rc == 0)
        rc = cli_positionals("sample", argc, argv, model_only);
    if (rc == 0 && n == 0)
        rc = cli_error(EXIT_BAD_USAGE, "sample: -n is required");
    if (rc == 0 && out_path == NULL)
        rc = cli_error(EXIT_BAD_USAGE, "sample: -o is required "
                       "(- for standard output)");
    if (rc != 0)
        return rc;

    cli_outputs out;
    int i_out = -1;
    rc = cli_outputs_single(&out, "-o", out_path, &i_out);
    if (rc != 0)
        return rc;

    emgmm_model *m = NULL;
    double *samples = NULL;
    rc = cli_load_model(argv[optind], &m);
    if (rc == 0) {
        size_t d = emgmm_n_features(m);
        int st;
        if (d != 0 && n > SIZE_MAX / sizeof(double) / d)
            rc = cli_error(EXIT_WORK_FAILED, "-n %zu: out of memory", n);
        else if ((samples = malloc(n * d * sizeof *samples)) == NULL)
            rc = cli_error(EXIT_WORK_FAILED, "-n %zu: out of memory", n);
        else if ((st = emgmm_sample(m, n, seed, samples, NULL)) != EMGMM_OK)
            rc = cli_library_error("sample", st);
        if (rc == 0)
            rc = cli_outputs_open(&out);
        if (rc == 0)
            rc = cli_write_matrix(&out, i_out, samples, n, d);
        if (rc == 0)
            rc = cli_outputs_commit(&out);
    }
    cli_outputs_free(&out);
    free(samples);
    emgmm_free(&m);
    return rc;
}
