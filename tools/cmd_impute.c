/* emgmm impute: fill the missing values of a data set from a fitted
 * model, by conditional expectation or by draws (multiple imputation). */
#include "cli_common.h"
#include "cli_distributed.h"
#include "cli_mpi.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_SHAPE = 256, OPT_SEED, OPT_DRAWS, OPT_STREAM };

static void impute_help(FILE *f)
{
    fputs(
        "Usage: emgmm impute MODEL DATA -o OUT [--draws M] [--seed S]\n"
        "                    [--shape N,D] [--stream]\n"
        "\n"
        "Fills the missing values of DATA (NaN in .npy or raw data, NaN or\n"
        "an empty cell in CSV) from the mixture in MODEL (a model JSON file,\n"
        "e.g. from 'emgmm fit --missing'). Each gap gets its conditional\n"
        "expectation given the row's observed values,\n"
        "  E[x_m | x_o] = sum_k p(k | x_o) E[x_m | x_o, k],\n"
        "the posterior of each component given the observed values times\n"
        "that component's conditional mean. Observed values are copied bit\n"
        "for bit; a row with nothing observed gets the mixture's mean.\n"
        "Missing at random is assumed (whether a value is missing may depend\n"
        "on the observed values, not on the missing one).\n"
        "\n"
        "Under mpirun each process reads only its block of rows of a .npy,\n"
        "raw or HDF5 file and fills it; a .npy or HDF5 OUT gets each\n"
        "process's rows in place, CSV is gathered by process 0. With --draws\n"
        "process 0 reads and draws all the rows alone (with --stream each\n"
        "process draws its own rows, the same numbers).\n"
        "\n"
        "Options:\n"
        "  -o, --output OUT       the completed data, N x D (.npy when the\n"
        "                         name ends in .npy, an HDF5 dataset when it\n"
        "                         ends in .h5 (OUT.h5:/name, default /data),\n"
        "                         else CSV; - is standard output). Required\n"
        "      --draws M          multiple imputation: write M completed\n"
        "                         copies, each gap drawn from its conditional\n"
        "                         mixture, stacked as M*N rows (copy t in rows\n"
        "                         t*N .. t*N+N-1; reshape to (M, N, D))\n"
        "      --seed S           random seed of the draws, 0 to 2^64-1\n"
        "                         (default 0); the same seed gives the same\n"
        "                         numbers\n"
        "      --shape N,D        DATA is raw little-endian float64: N rows,\n"
        "                         D columns (default: detect .npy or CSV)\n"
        "      --stream           do not load DATA: map the file (.npy in C\n"
        "                         order, raw float64 with --shape) or read\n"
        "                         the HDF5 dataset a block of rows at a time,\n"
        "                         and write OUT block by block: memory does\n"
        "                         not grow with the rows; the same values\n"
        "                         (--draws: the file is read once a copy).\n"
        "                         Under mpirun OUT must be .npy or HDF5\n"
        "  -h, --help             show this help and exit\n"
        "\n"
        "Exit status: 0 success; 1 the imputation or the output failed; 2 bad\n"
        "usage or bad input.\n"
        "\n"
        "Examples:\n"
        "  emgmm fit gappy.csv -k 3 --missing -o model.json\n"
        "  emgmm impute model.json gappy.csv -o filled.csv\n"
        "  emgmm impute model.json gappy.npy --draws 20 --seed 1 -o draws.npy\n"
        "  emgmm impute model.json big.h5:/x --stream -o filled.h5\n",
        f);
}

/* The completed rows of x (copies > 1: --draws, stacked) in *filled
 * (malloc'd). Returns the library status, or EMGMM_ERR_NOMEM. */
static int fill_rows(const emgmm_model *m, const dataio_matrix *x,
                     size_t draws, uint64_t seed, double **filled)
{
    const size_t n = x->rows, d = x->cols, copies = draws ? draws : 1;
    *filled = NULL;
    if (d != 0 && n > SIZE_MAX / sizeof(double) / d / copies)
        return EMGMM_ERR_NOMEM;
    *filled = malloc((copies * n * d != 0 ? copies * n * d : 1) *
                     sizeof **filled);
    if (*filled == NULL)
        return EMGMM_ERR_NOMEM;
    int st = draws ? emgmm_impute_draws(m, x->data, n, d, draws, seed,
                                        *filled)
                   : emgmm_impute(m, x->data, n, d, *filled);
    if (st != EMGMM_OK) {
        free(*filled);
        *filled = NULL;
    }
    return st;
}

/* One process with all of DATA: without mpirun, and with --draws under
 * mpirun (on rank 0 alone: the library numbers each draw's random stream
 * by its copy and its row in the whole data, so a rank drawing its block
 * would draw other numbers). */
static int impute_whole(const char *model_path, const char *data_path,
                        const dataio_read_options *read,
                        const char *out_path, size_t draws, uint64_t seed)
{
    cli_outputs out;
    int i_out = -1;
    int rc = cli_outputs_single(&out, "-o", out_path, &i_out);
    if (rc != 0)
        return rc;
    emgmm_model *m = NULL;
    dataio_matrix x = {NULL, 0, 0};
    double *filled = NULL;
    rc = cli_load_model_and_data("impute", model_path, data_path, read, &m,
                                 &x);
    if (rc == 0) {
        const size_t copies = draws ? draws : 1;
        int st = fill_rows(m, &x, draws, seed, &filled);
        if (st == EMGMM_ERR_NOMEM)
            rc = cli_error(EXIT_WORK_FAILED, "out of memory (%zu x %zu x "
                           "%zu)", copies, x.rows, x.cols);
        else if (st != EMGMM_OK)
            rc = cli_library_error("impute", st);
        if (rc == 0)
            rc = cli_outputs_open(&out);
        if (rc == 0)
            rc = cli_write_matrix(&out, i_out, filled, copies * x.rows,
                                  x.cols);
        if (rc == 0)
            rc = cli_outputs_commit(&out);
    }
    cli_outputs_free(&out);
    free(filled);
    dataio_matrix_free(&x);
    emgmm_free(&m);
    return rc;
}

/* The output set of a run on every rank: rank 0 declares -o and checks
 * that it can be written (the others hold an empty set). Not collective:
 * the caller agrees on the status with cli_mpi_max. */
static int declare_output(cli_outputs *out, const char *out_path,
                          int *i_out)
{
    int rc = 0;
    cli_outputs_init(out);
    if (cli_mpi_rank() == 0)
        rc = cli_outputs_declare(out, "-o", out_path, i_out);
    if (cli_mpi_rank() == 0 && rc == 0)
        rc = cli_outputs_check(out);
    return rc;
}

/* Under mpirun: every rank reads its block of rows of DATA and fills it;
 * a .npy or HDF5 output gets each rank's rows in place, any other output
 * (CSV, standard output) is gathered on rank 0, which writes it. Every
 * step ends with the ranks agreeing on the status. */
static int impute_block(const char *model_path, const char *data_path,
                        const dataio_read_options *read,
                        const char *out_path)
{
    const int root = cli_mpi_rank() == 0;
    const int shared = cli_is_shared_name(out_path);
    cli_outputs out;
    int i_out = -1, rc = declare_output(&out, out_path, &i_out);
    if ((rc = cli_mpi_max(rc)) != 0) {
        cli_outputs_free(&out);
        return rc;
    }
    emgmm_model *m = NULL;
    dataio_matrix x = {NULL, 0, 0};
    double *filled = NULL, *all = NULL;
    size_t first = 0, total = 0;
    rc = cli_load_model_and_block("impute", model_path, data_path, read, &m,
                                  &x, &first, &total);
    if (rc == 0) {
        /* A failure here is this rank's own (its rows): printed here. */
        int st = fill_rows(m, &x, 0, 0, &filled);
        if (st == EMGMM_ERR_NOMEM)
            rc = cli_error_always(EXIT_WORK_FAILED, "out of memory (%zu x "
                                  "%zu)", x.rows, x.cols);
        else if (st != EMGMM_OK)
            rc = cli_error_always(cli_status_exit(st), "impute: %s",
                                  emgmm_strerror(st));
        rc = cli_mpi_max(rc);
        if (rc == 0 && !shared &&
            cli_mpi_gather_rows(filled, x.rows, x.cols, 0,
                                (void **)&all) != 0)
            rc = cli_error(EXIT_WORK_FAILED, "-o: cannot gather the rows");
        rc = cli_mpi_max(rc);
        if (rc == 0 && root)
            rc = cli_outputs_open(&out);
        rc = cli_mpi_max(rc);
        if (rc == 0 && shared)
            rc = cli_write_shared_rows(&out, i_out, "-o", out_path, filled,
                                       x.rows, x.cols, 0, first, total);
        else if (rc == 0 && root)
            rc = cli_write_matrix(&out, i_out, all, total, x.cols);
        if (rc == 0 && root)
            rc = cli_outputs_commit(&out);
        rc = cli_mpi_max(rc);
    }
    cli_outputs_free(&out);
    free(filled);
    free(all);
    dataio_matrix_free(&x);
    emgmm_free(&m);
    return rc;
}

/* Rows i .. i + n - 1 of this process's part of the map, read into in
 * and filled into filled (both n x d): the conditional expectations, or
 * with --draws copy t of them (the numbers emgmm_impute_draws gives those
 * rows among all the rows of the file). */
static int fill_mapped_block(const emgmm_model *m, dataio_map *map,
                             const dataio_shape *shape, size_t i, size_t n,
                             size_t draws, size_t t, uint64_t seed,
                             double *in, double *filled)
{
    const size_t d = shape->cols;
    if (dataio_map_rows(map, i, n, in) != 0) {
        const char *why = dataio_map_error(map);
        return cli_error_always(EXIT_BAD_USAGE, "%s",
                                why ? why : "cannot read the data");
    }
    int st = draws ? emgmm_impute_draws_rows(m, in, n, d,
                                             shape->first_row + i,
                                             shape->total_rows, t, seed,
                                             filled)
                   : emgmm_impute(m, in, n, d, filled);
    if (st == EMGMM_ERR_NOMEM)
        return cli_error_always(EXIT_WORK_FAILED, "out of memory (%zu x "
                                "%zu)", n, d);
    if (st != EMGMM_OK)
        return cli_error_always(cli_status_exit(st), "impute: %s",
                                emgmm_strerror(st));
    return 0;
}

/* --stream: DATA mapped (an HDF5 dataset read by hyperslab) and filled a
 * block of rows at a time, each block written before the next is read,
 * so memory does not grow with the rows; the output is the bytes of
 * impute without --stream. With --draws the file is read once for each
 * copy (copy t is rows t*N .. t*N + N - 1 of the output). Under mpirun
 * every rank streams its own rows into one .npy or HDF5 file (with
 * --draws its rows of every copy). Collective. */
static int impute_stream(const char *model_path, const char *data_path,
                         const dataio_read_options *read,
                         const char *out_path, size_t draws, uint64_t seed)
{
    const int root = cli_mpi_rank() == 0, parts = cli_mpi_size() > 1;
    const size_t copies = draws ? draws : 1;
    cli_outputs out;
    int i_out = -1, rc = declare_output(&out, out_path, &i_out);
    /* Under several ranks every rank writes its rows into one .npy or
     * HDF5 file; text would have to be gathered on rank 0. */
    if (rc == 0 && parts && !cli_is_shared_name(out_path))
        rc = cli_error(EXIT_BAD_USAGE, "impute: -o '%s': with --stream "
                       "under mpirun the outputs are written by every rank "
                       "into one .npy or HDF5 file, not text (name it .npy "
                       "or .h5)", out_path);
    if ((rc = cli_mpi_max(rc)) != 0) {
        cli_outputs_free(&out);
        return rc;
    }
    emgmm_model *m = NULL;
    dataio_map *map = NULL;
    dataio_shape shape = {0, 0, 0, 0};
    cli_rows *w = NULL;
    double *in = NULL, *filled = NULL;
    size_t block = 0;
    rc = cli_open_model_and_map(model_path, data_path, read, &m, &map,
                                &shape);
    const size_t d = shape.cols, n_all = shape.total_rows;
    if (rc == 0 && n_all > SIZE_MAX / copies)
        rc = cli_error(EXIT_WORK_FAILED, "out of memory (%zu x %zu x %zu)",
                       copies, n_all, d);
    if (rc == 0 && root)
        rc = cli_outputs_open(&out);
    rc = cli_mpi_max(rc);
    if (rc == 0)
        rc = cli_rows_create(&out, i_out, "-o", out_path, 0, d,
                             shape.first_row, shape.rows, copies * n_all,
                             &w);
    if (rc == 0) {
        block = cli_stream_block_rows(d, emgmm_n_components(m));
        in = malloc(block * d * sizeof *in);
        filled = malloc(block * d * sizeof *filled);
        if (in == NULL || filled == NULL)
            rc = cli_error_always(EXIT_WORK_FAILED, "out of memory (%zu "
                                  "rows of %zu columns)", block, d);
        rc = cli_mpi_max(rc);
    }
    /* Into an HDF5 file under mpirun one rank after the other (the
     * serial HDF5 library); else every rank at once. */
    const int turns = rc == 0 && cli_rows_serial(w) ? cli_mpi_size() : 1;
    for (int turn = 0; turn < turns && rc == 0; turn++) {
        if (turns == 1 || turn == cli_mpi_rank()) {
            /* One process writes the whole file in order; a rank of
             * several writes its rows of each copy, one run each. */
            if (!parts)
                rc = cli_rows_open(w);
            for (size_t t = 0; rc == 0 && t < copies; t++) {
                if (parts) {
                    cli_rows_at(w, t * n_all + shape.first_row, shape.rows);
                    rc = cli_rows_open(w);
                }
                for (size_t i = 0; rc == 0 && i < shape.rows; i += block) {
                    const size_t n = shape.rows - i < block ? shape.rows - i
                                                            : block;
                    rc = fill_mapped_block(m, map, &shape, i, n, draws, t,
                                           seed, in, filled);
                    if (rc == 0)
                        rc = cli_rows_write(w, filled, n);
                }
                if (rc == 0 && parts)
                    rc = cli_rows_close(w);
            }
            if (rc == 0 && !parts)
                rc = cli_rows_close(w);
        }
        rc = cli_mpi_max(rc);
    }
    if (rc == 0 && root)
        rc = cli_outputs_commit(&out);
    rc = cli_mpi_max(rc);
    cli_rows_free(w);
    cli_outputs_free(&out);
    free(in);
    free(filled);
    dataio_map_close(map);
    emgmm_free(&m);
    return rc;
}

int cmd_impute(int argc, char **argv)
{
    static const char optstring[] = ":o:h";
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'},
        {"draws", required_argument, NULL, OPT_DRAWS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"shape", required_argument, NULL, OPT_SHAPE},
        {"stream", no_argument, NULL, OPT_STREAM},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    static const char *const positionals[] = {"MODEL", "DATA", NULL};
    const char *out_path = NULL;
    dataio_read_options read = {0, 0, 1};
    size_t draws = 0;
    uint64_t seed = 0;
    int c, rc = 0, seed_given = 0, stream = 0;

    opterr = 0;
    optind = 1;
    while (rc == 0 &&
           (c = getopt_long(argc, argv, optstring, options, NULL)) != -1) {
        switch (c) {
        case 'o': out_path = optarg; break;
        case OPT_DRAWS: rc = cli_parse_size("--draws", optarg, 1, &draws); break;
        case OPT_SEED:
            rc = cli_parse_u64("--seed", optarg, &seed);
            seed_given = 1;
            break;
        case OPT_SHAPE: rc = cli_parse_shape("--shape", optarg, &read); break;
        case OPT_STREAM: stream = 1; break;
        case 'h':
            if (cli_mpi_rank() == 0) /* once under mpirun */
                impute_help(stdout);
            return 0;
        default: return cli_bad_option("impute", c, argv, optstring);
        }
    }
    if (rc == 0)
        rc = cli_positionals("impute", argc, argv, positionals);
    if (rc == 0 && out_path == NULL)
        rc = cli_error(EXIT_BAD_USAGE, "impute: -o is required "
                       "(- for standard output)");
    if (rc == 0 && seed_given && draws == 0)
        rc = cli_error(EXIT_BAD_USAGE, "impute: --seed needs --draws");
    if (rc != 0)
        return rc;

    if (stream)
        return impute_stream(argv[optind], argv[optind + 1], &read,
                             out_path, draws, seed);
    /* Under mpirun every rank fills its block of rows (--draws: rank 0
     * all of them, see impute_whole). */
    if (!cli_mpi_active() || draws > 0) {
        if (cli_mpi_rank() == 0)
            rc = impute_whole(argv[optind], argv[optind + 1], &read,
                              out_path, draws, seed);
        return cli_mpi_max(rc);
    }
    return impute_block(argv[optind], argv[optind + 1], &read, out_path);
}
