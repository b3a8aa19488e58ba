/* Blocks of rows and the k-means start under mpirun (see
 * cli_distributed.h). */
#include "cli_distributed.h"
#include "cli_mpi.h"

#include <stdlib.h>
#include <string.h>

size_t cli_sample_stride(size_t total)
{
    return total <= CLI_START_SAMPLE_ROWS
               ? 1
               : (total + CLI_START_SAMPLE_ROWS - 1) / CLI_START_SAMPLE_ROWS;
}

int cli_load_block(const char *data_path, const dataio_read_options *read,
                   const char *weights_path, dataio_matrix *x,
                   double **weights, size_t *first, size_t *total)
{
    char err[512] = "";
    const size_t rank = (size_t)cli_mpi_rank(), size = (size_t)cli_mpi_size();
    *weights = NULL;
    if (dataio_read_matrix_part(data_path, read, rank, size, x, first, total,
                                err, sizeof err) != 0)
        return cli_error_always(EXIT_BAD_USAGE, "%s", err[0] ? err :
                                "cannot read the data");
    if (*total < size)
        return cli_error(EXIT_BAD_USAGE,
                         "%s: %zu rows are too few for %zu ranks", data_path,
                         *total, size);
    if (weights_path == NULL)
        return 0;
    dataio_matrix w = {NULL, 0, 0};
    dataio_read_options plain = {0, 0, 0};
    size_t w_first = 0, w_total = 0;
    if (dataio_read_matrix_part(weights_path, &plain, rank, size, &w,
                                &w_first, &w_total, err, sizeof err) != 0)
        return cli_error_always(EXIT_BAD_USAGE, "%s", err[0] ? err :
                                "cannot read the weights");
    int rc = 0;
    if (w.cols != 1 || w_total != *total)
        rc = cli_error(EXIT_BAD_USAGE,
                       "--weights %s: expected %zu rows of one column, found "
                       "%zu x %zu", weights_path, *total, w_total, w.cols);
    for (size_t i = 0; rc == 0 && i < w.rows; i++)
        if (!(w.data[i] >= 0.0))
            rc = cli_error_always(EXIT_BAD_USAGE,
                                  "--weights %s: row %zu: negative weight",
                                  weights_path, w_first + i + 1);
    if (rc != 0) {
        dataio_matrix_free(&w);
        return rc;
    }
    *weights = w.data;
    return 0;
}

int cli_load_model_and_block(const char *command, const char *model_path,
                             const char *data_path,
                             const dataio_read_options *read,
                             emgmm_model **m, dataio_matrix *x,
                             size_t *first, size_t *total)
{
    *first = 0;
    if (!cli_mpi_active()) {
        int rc = cli_load_model_and_data(command, model_path, data_path,
                                         read, m, x);
        *total = x->rows;
        return rc;
    }
    double *no_weights = NULL;
    int rc = 0;
    if (strcmp(model_path, "-") == 0 && strcmp(data_path, "-") == 0)
        rc = cli_error(EXIT_BAD_USAGE,
                       "%s: MODEL and DATA cannot both be standard input",
                       command);
    if (rc == 0)
        rc = cli_load_model(model_path, m);
    if (rc == 0)
        rc = cli_load_block(data_path, read, NULL, x, &no_weights, first,
                            total);
    rc = cli_mpi_max(rc);
    if (rc == 0)
        rc = cli_check_features(data_path, x, model_path, *m);
    return cli_mpi_max(rc);
}

int cli_open_model_and_map(const char *model_path, const char *data_path,
                           const dataio_read_options *read, emgmm_model **m,
                           dataio_map **map, dataio_shape *shape)
{
    char err[512] = "";
    const size_t size = (size_t)cli_mpi_size();
    *map = NULL;
    int rc = cli_load_model(model_path, m);
    if (rc == 0 && dataio_map_open(data_path, read, (size_t)cli_mpi_rank(),
                                   size, map, shape, err, sizeof err) != 0)
        rc = cli_error_always(EXIT_BAD_USAGE, "%s",
                              err[0] ? err : "cannot read the data");
    rc = cli_mpi_max(rc);
    if (rc == 0 && shape->total_rows < size)
        rc = cli_error(EXIT_BAD_USAGE, "%s: %zu rows are too few for %zu "
                       "ranks", data_path, shape->total_rows, size);
    if (rc == 0) { /* the rows stay in the file */
        const dataio_matrix columns = {NULL, 0, shape->cols};
        rc = cli_check_features(data_path, &columns, model_path, *m);
    }
    return cli_mpi_max(rc);
}

void cli_sample_free(cli_sample *s)
{
    free(s->rows);
    free(s->weights);
    memset(s, 0, sizeof *s);
}

int cli_gather_sample_rows(const double *mine, const double *my_w, size_t n,
                           size_t d, cli_sample *s)
{
    size_t n_w = 0;
    memset(s, 0, sizeof *s);
    s->d = d;
    int rc = cli_mpi_allgather_rows(mine, n, d, &s->rows, &s->n) != 0;
    /* my_w is NULL on every rank or on none (the same options). */
    if (rc == 0 && my_w)
        rc = cli_mpi_allgather_rows(my_w, n, 1, &s->weights, &n_w) != 0;
    if (rc != 0) {
        cli_sample_free(s);
        return cli_error(EXIT_WORK_FAILED, "out of memory gathering the "
                         "k-means sample");
    }
    return 0;
}

int cli_gather_sample(const dataio_matrix *x, const double *weights,
                      size_t first, size_t total, cli_sample *s)
{
    const size_t d = x->cols, stride = cli_sample_stride(total);
    double *mine = malloc((x->rows * d != 0 ? x->rows * d : 1) * sizeof *mine);
    double *my_w = malloc((x->rows != 0 ? x->rows : 1) * sizeof *my_w);
    size_t n = 0;
    int rc = mine && my_w ? 0 : 1;
    for (size_t i = 0; rc == 0 && i < x->rows; i++)
        if ((first + i) % stride == 0) {
            memcpy(mine + n * d, x->data + i * d, d * sizeof *mine);
            my_w[n++] = weights ? weights[i] : 1.0;
        }
    memset(s, 0, sizeof *s);
    rc = cli_mpi_max(rc);
    if (rc == 0)
        rc = cli_gather_sample_rows(mine, weights ? my_w : NULL, n, d, s);
    else
        rc = cli_error(EXIT_WORK_FAILED, "out of memory");
    free(mine);
    free(my_w);
    return rc;
}

int cli_start_of_run(const emgmm_params *p, const cli_sample *s, int run,
                     emgmm_model **start, emgmm_fit_info *info)
{
    emgmm_params q = *p;
    q.max_iter = 0; /* the initial M-step only */
    q.n_init = 1;
    q.first_init = run; /* the random stream of restart `run` */
    q.progress = NULL;
    q.progress_data = NULL;
    q.allreduce = NULL;
    q.allreduce_data = NULL;
    q.init_model = NULL;
    q.resume = 0;
    q.sample_weight = s->weights;
    *start = NULL;
    return emgmm_fit(&q, s->rows, s->n, s->d, s->d, start, info);
}

/* Starts 0 .. n_starts - 1 from the gathered sample, which is freed. On
 * failure every start is freed (NULL). */
static int starts_of_sample(const emgmm_params *p, cli_sample *s,
                            int n_starts, emgmm_model **starts)
{
    int st = EMGMM_OK;
    for (int r = 0; r < n_starts; r++)
        starts[r] = NULL;
    for (int r = 0; st == EMGMM_OK && r < n_starts; r++)
        st = cli_start_of_run(p, s, r, &starts[r], NULL);
    /* The same on every rank (the same rows, the same sums), unless
     * memory ran out on one: then every rank takes the worst status. */
    st = -cli_mpi_max(-st);
    cli_sample_free(s);
    if (st == EMGMM_OK)
        return 0;
    for (int r = 0; r < n_starts; r++)
        emgmm_free(&starts[r]);
    return cli_library_error("the k-means start", st);
}

int cli_start_from_sample(const emgmm_params *p, const double *mine,
                          const double *my_w, size_t n, size_t d,
                          int n_starts, emgmm_model **starts)
{
    cli_sample s;
    int rc = cli_gather_sample_rows(mine, my_w, n, d, &s);
    return rc != 0 ? rc : starts_of_sample(p, &s, n_starts, starts);
}

int cli_sample_start(const emgmm_params *p, const dataio_matrix *x,
                     const double *weights, size_t first, size_t total,
                     int n_starts, emgmm_model **starts)
{
    cli_sample s;
    int rc = cli_gather_sample(x, weights, first, total, &s);
    return rc != 0 ? rc : starts_of_sample(p, &s, n_starts, starts);
}
