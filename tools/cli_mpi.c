/* The processes of an MPI run (see cli_mpi.h). */
#include "cli_mpi.h"
#include "cli_config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* One process: the gathered rows are its own. */
static int copy_rows(const void *rows, size_t n_rows, size_t cols,
                     size_t size, void **all)
{
    *all = malloc((n_rows * cols != 0 ? n_rows * cols : 1) * size);
    if (!*all)
        return -1;
    memcpy(*all, rows, n_rows * cols * size);
    return 0;
}

int cli_mpi_launcher_size(void)
{
    /* Open MPI's mpirun; MPICH's Hydra and srun --mpi=pmi2 (PMI). */
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE",
                                       NULL};
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 1)
            return atoi(v);
    }
    return 1;
}

int cli_mpi_launcher_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK",
                                       NULL};
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v)
            return atoi(v);
    }
    return 0;
}

#if EMGMM_CLI_HAVE_MPI
#include <mpi.h>

static int g_active, g_rank, g_size = 1;

/* Set by Open MPI's, MPICH's (Hydra) and PMIx launchers, and by srun. */
static int launched_by_mpi(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE",
                                       "PMIX_RANK", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

int cli_mpi_init(int *argc, char ***argv)
{
    if (!launched_by_mpi())
        return 0;
    int provided;
    /* Only the main thread calls MPI; OpenMP threads compute. */
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) !=
        MPI_SUCCESS)
        return -1;
    g_active = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    return 0;
}

void cli_mpi_finalize(void)
{
    if (g_active)
        MPI_Finalize();
    g_active = 0;
}

int cli_mpi_active(void) { return g_active; }
int cli_mpi_rank(void) { return g_rank; }
int cli_mpi_size(void) { return g_size; }

int cli_mpi_allreduce(double *values, size_t count, void *unused)
{
    (void)unused;
    if (!g_active || g_size == 1)
        return 0;
    /* In pieces of at most INT_MAX (MPI counts are int). */
    while (count > 0) {
        int n = count > INT_MAX ? INT_MAX : (int)count;
        if (MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, MPI_SUM,
                          MPI_COMM_WORLD) != MPI_SUCCESS)
            return -1;
        values += n;
        count -= (size_t)n;
    }
    return 0;
}

int cli_mpi_bcast_string(char *buf, size_t cap)
{
    if (!g_active || g_size == 1)
        return 0;
    return MPI_Bcast(buf, (int)(cap < INT_MAX ? cap : INT_MAX), MPI_CHAR, 0,
                     MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : -1;
}

int cli_mpi_max(int value)
{
    if (!g_active || g_size == 1)
        return value;
    int out = value;
    MPI_Allreduce(&value, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return out;
}

/* Element counts and offsets of every process's rows; -1 if any count
 * exceeds what MPI can address. */
static int layout(size_t n_rows, size_t cols, int **counts, int **offsets,
                  size_t *total)
{
    long long mine = (long long)(n_rows * cols), *all = NULL;
    *counts = malloc((size_t)g_size * sizeof **counts);
    *offsets = malloc((size_t)g_size * sizeof **offsets);
    all = malloc((size_t)g_size * sizeof *all);
    int ok = *counts && *offsets && all;
    int ok_all = 0;
    MPI_Allreduce(&ok, &ok_all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!ok_all) {
        free(all);
        return -1;
    }
    MPI_Allgather(&mine, 1, MPI_LONG_LONG, all, 1, MPI_LONG_LONG,
                  MPI_COMM_WORLD);
    long long sum = 0;
    for (int r = 0; r < g_size; r++) {
        if (sum > INT_MAX || all[r] > INT_MAX - sum) {
            free(all);
            return -1;
        }
        (*counts)[r] = (int)all[r];
        (*offsets)[r] = (int)sum;
        sum += all[r];
    }
    free(all);
    *total = (size_t)sum / (cols ? cols : 1);
    return 0;
}

/* Every process's rows in rank order, to every process (to_all) or to
 * rank 0 only; int32 values when is_int, doubles otherwise. */
static int gather(const void *rows, size_t n_rows, size_t cols, int is_int,
                  int to_all, void **all, size_t *total_rows)
{
    const size_t size = is_int ? sizeof(int32_t) : sizeof(double);
    *all = NULL;
    *total_rows = n_rows;
    if (!g_active || g_size == 1)
        return copy_rows(rows, n_rows, cols, size, all);
    int *counts = NULL, *offsets = NULL, rc = -1;
    size_t total = 0;
    if (layout(n_rows, cols, &counts, &offsets, &total) == 0) {
        int ok = 1, ok_all = 0;
        if (to_all || g_rank == 0)
            ok = (*all = malloc((total * cols != 0 ? total * cols : 1) *
                                size)) != NULL;
        MPI_Allreduce(&ok, &ok_all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        MPI_Datatype type = is_int ? MPI_INT32_T : MPI_DOUBLE;
        const int n = (int)(n_rows * cols);
        if (ok_all &&
            (to_all ? MPI_Allgatherv(rows, n, type, *all, counts, offsets,
                                     type, MPI_COMM_WORLD)
                    : MPI_Gatherv(rows, n, type, *all, counts, offsets, type,
                                  0, MPI_COMM_WORLD)) == MPI_SUCCESS) {
            *total_rows = total;
            rc = 0;
        }
    }
    free(counts);
    free(offsets);
    if (rc != 0) {
        free(*all);
        *all = NULL;
    }
    return rc;
}

int cli_mpi_allgather_rows(const double *rows, size_t n_rows, size_t cols,
                           double **all, size_t *total_rows)
{
    return gather(rows, n_rows, cols, 0, 1, (void **)all, total_rows);
}

int cli_mpi_gather_rows(const void *rows, size_t n_rows, size_t cols,
                        int is_int, void **all)
{
    size_t total;
    return gather(rows, n_rows, cols, is_int, 0, all, &total);
}

#else /* one process */

int cli_mpi_init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* P copies of the whole job, each writing the same outputs, is never
     * what a launcher's user wants. */
    return cli_mpi_launcher_size() > 1 ? CLI_MPI_NOT_BUILT : 0;
}
void cli_mpi_finalize(void) {}
int cli_mpi_active(void) { return 0; }
int cli_mpi_rank(void) { return 0; }
int cli_mpi_size(void) { return 1; }
int cli_mpi_allreduce(double *values, size_t count, void *unused)
{
    (void)values;
    (void)count;
    (void)unused;
    return 0;
}
int cli_mpi_max(int value) { return value; }
int cli_mpi_bcast_string(char *buf, size_t cap)
{
    (void)buf;
    (void)cap;
    return 0;
}

int cli_mpi_allgather_rows(const double *rows, size_t n_rows, size_t cols,
                           double **all, size_t *total_rows)
{
    *total_rows = n_rows;
    return copy_rows(rows, n_rows, cols, sizeof **all, (void **)all);
}

int cli_mpi_gather_rows(const void *rows, size_t n_rows, size_t cols,
                        int is_int, void **all)
{
    return copy_rows(rows, n_rows, cols,
                     is_int ? sizeof(int32_t) : sizeof(double), all);
}

#endif
