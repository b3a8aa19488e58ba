/* Thread counts of the BLAS provider and of the row-block loops; timing. */
#include "internal.h"
#include "emgmm_config.h"

#include <time.h>
#if EMGMM_HAVE_OPENMP
#include <omp.h>
#endif

/* The provider-specific calls, declared here rather than through each
 * provider's own header (not every provider installs one). */
#if EMGMM_HAVE_OPENBLAS_SET_NUM_THREADS
void openblas_set_num_threads(int n);
#endif
#if EMGMM_HAVE_OPENBLAS_GET_NUM_THREADS
int openblas_get_num_threads(void);
#endif
#if EMGMM_HAVE_FLEXIBLAS_SET_NUM_THREADS
void flexiblas_set_num_threads(int n);
#endif
#if EMGMM_HAVE_FLEXIBLAS_GET_NUM_THREADS
int flexiblas_get_num_threads(void);
#endif

int emgmm__get_blas_threads(void)
{
#if EMGMM_HAVE_OPENBLAS_GET_NUM_THREADS
    return openblas_get_num_threads();
#elif EMGMM_HAVE_FLEXIBLAS_GET_NUM_THREADS
    return flexiblas_get_num_threads();
#else
    return 0;
#endif
}

void emgmm__set_blas_threads(int n)
{
    if (n < 1)
        return;
#if EMGMM_HAVE_OPENBLAS_SET_NUM_THREADS
    openblas_set_num_threads(n);
#elif EMGMM_HAVE_FLEXIBLAS_SET_NUM_THREADS
    flexiblas_set_num_threads(n);
#else
    (void)n;
#endif
}

/* Holders of the one-thread BLAS setting, and the count to restore when
 * the last one lets go: calls that overlap on different threads neither
 * restore too early nor leave the BLAS at one thread. */
static int blas_holders = 0;
static int blas_saved = 0;

void emgmm__blas_hold_one_thread(void)
{
#if EMGMM_HAVE_OPENMP
#pragma omp critical(emgmm_blas_threads)
#endif
    {
        if (blas_holders++ == 0) {
            blas_saved = emgmm__get_blas_threads();
            emgmm__set_blas_threads(1);
        }
    }
}

void emgmm__blas_release_one_thread(void)
{
#if EMGMM_HAVE_OPENMP
#pragma omp critical(emgmm_blas_threads)
#endif
    {
        if (blas_holders > 0 && --blas_holders == 0)
            emgmm__set_blas_threads(blas_saved);
    }
}

int emgmm__loop_threads(int n_threads)
{
#if EMGMM_HAVE_OPENMP
    return n_threads > 0 ? n_threads : omp_get_max_threads();
#else
    (void)n_threads;
    return 1;
#endif
}

int emgmm__work_threads(int n_threads, size_t n, size_t k, size_t d)
{
    if ((double)n * (double)k * (double)d * (double)(d + 2) < 4e6)
        return 1;
    return emgmm__loop_threads(n_threads);
}

int emgmm__thread_id(void)
{
#if EMGMM_HAVE_OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

double emgmm__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
