/*
 * Initial responsibilities, from which one M-step gives the starting
 * parameters (as in scikit-learn):
 *   kmeans       k-means++ seeding, then Lloyd iterations; hard labels
 *   kmeans++     k-means++ seeding; each sample to its nearest seed
 *   random       uniform random responsibilities, normalised per sample
 *   random-data  k distinct random samples as centres; nearest centre
 *
 * Distances are computed in coordinates shifted by the column means of X:
 * ||x - c||^2 = ||x'||^2 - 2 x'.c' + ||c'||^2 with x' = x - s, c' = c - s.
 * The expanded form lets one gemm compute a block's distances to all
 * centres; the shift keeps its three terms of the size of the spread of
 * the data, not of its offset, so the subtraction keeps its digits.
 *
 * Initialisation runs once per restart, so it may allocate.
 */
#include "internal.h"
#include "rng.h"
#include "emgmm_config.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>
#if EMGMM_HAVE_OPENMP
#include <omp.h>
#endif

enum { KMEANS_MAX_ITER = 300, BLOCK_ROWS = 256, SUM_ROWS = 4096 };

typedef struct kmeans_state {
    const double *X;
    const double *w;  /* sample weights, or NULL (all 1) */
    size_t n, d, ldx, k;
    double *shift;    /* d: column means */
    double *centres;  /* k x d, shifted coordinates */
    double *c_norm;   /* k: ||c'||^2 */
    int n_threads;    /* assign() spreads row blocks over these */
    double *block;    /* n_threads x BLOCK_ROWS x d, shifted rows */
    double *gram;     /* n_threads x BLOCK_ROWS x k */
    int32_t *labels;  /* n */
    double *dist;     /* n: squared distance to the own centre */
    double *x_norm;   /* n: ||x_i - shift||^2, fixed for the whole run */
    double *sums;     /* k x d */
    double *partial;  /* n_sum_blocks x k x d: per-block centre sums,
                         added in block order so that the result does not
                         depend on the thread count */
    size_t n_sum_blocks;
    double *counts;   /* k: points in each cluster */
    double *mass;     /* k: their total weight */
} kmeans_state;

static inline double weight_of(const kmeans_state *s, size_t i)
{
    return s->w ? s->w[i] : 1.0;
}

static void kmeans_free(kmeans_state *s)
{
    emgmm__free(s->shift);
    emgmm__free(s->centres);
    emgmm__free(s->c_norm);
    emgmm__free(s->block);
    emgmm__free(s->gram);
    emgmm__free(s->labels);
    emgmm__free(s->dist);
    emgmm__free(s->x_norm);
    emgmm__free(s->sums);
    emgmm__free(s->partial);
    emgmm__free(s->counts);
    emgmm__free(s->mass);
}

static int kmeans_alloc(kmeans_state *s, const double *X, size_t n,
                        size_t d, size_t ldx, const double *w, size_t k,
                        int n_threads)
{
    memset(s, 0, sizeof *s);
    s->n_threads = n_threads < 1 ? 1 : n_threads;
    const size_t t = (size_t)s->n_threads;
    s->X = X;
    s->w = w;
    s->n = n;
    s->d = d;
    s->ldx = ldx;
    s->k = k;
    s->shift = emgmm__calloc(d, sizeof(double));
    s->centres = emgmm__malloc(k * d, sizeof(double));
    s->c_norm = emgmm__malloc(k, sizeof(double));
    s->block = emgmm__malloc(t * BLOCK_ROWS * d, sizeof(double));
    s->gram = emgmm__malloc(t * BLOCK_ROWS * k, sizeof(double));
    s->labels = emgmm__malloc(n, sizeof(int32_t));
    s->dist = emgmm__malloc(n, sizeof(double));
    s->x_norm = emgmm__malloc(n, sizeof(double));
    s->sums = emgmm__malloc(k * d, sizeof(double));
    s->n_sum_blocks = (n + SUM_ROWS - 1) / SUM_ROWS;
    s->partial = emgmm__malloc(s->n_sum_blocks * k, d * sizeof(double));
    s->counts = emgmm__malloc(k, sizeof(double));
    s->mass = emgmm__malloc(k, sizeof(double));
    if (!s->shift || !s->centres || !s->c_norm || !s->block || !s->gram ||
        !s->labels || !s->dist || !s->x_norm || !s->sums || !s->partial ||
        !s->counts || !s->mass) {
        kmeans_free(s);
        return EMGMM_ERR_NOMEM;
    }
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double wi = weight_of(s, i);
        total += wi;
        for (size_t j = 0; j < d; j++)
            s->shift[j] += wi * X[i * ldx + j];
    }
    for (size_t j = 0; j < d; j++)
        s->shift[j] /= total;
    for (size_t i = 0; i < n; i++) {
        double a = 0.0;
        for (size_t j = 0; j < d; j++) {
            double t = X[i * ldx + j] - s->shift[j];
            a += t * t;
        }
        s->x_norm[i] = a;
    }
    return EMGMM_OK;
}

/* Squared distance of row i to a point p given in shifted coordinates. */
static double dist2_to(const kmeans_state *s, size_t i, const double *p)
{
    const double *x = s->X + i * s->ldx;
    double acc = 0.0;
    for (size_t j = 0; j < s->d; j++) {
        double t = (x[j] - s->shift[j]) - p[j];
        acc += t * t;
    }
    return acc;
}

static void set_centre_from_row(kmeans_state *s, size_t c, size_t i)
{
    for (size_t j = 0; j < s->d; j++)
        s->centres[c * s->d + j] = s->X[i * s->ldx + j] - s->shift[j];
}

/* Labels and distances of every row to the nearest centre (gemm form). */
static void assign(kmeans_state *s)
{
    const size_t n = s->n, d = s->d, k = s->k;
    for (size_t c = 0; c < k; c++) {
        double a = 0.0;
        for (size_t j = 0; j < d; j++)
            a += s->centres[c * d + j] * s->centres[c * d + j];
        s->c_norm[c] = a;
    }
    /* Each row's label depends on that row only: blocks may run on any
     * thread without changing a bit. */
    const long n_blocks = (long)((n + BLOCK_ROWS - 1) / BLOCK_ROWS);
#if EMGMM_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(s->n_threads) \
    if (s->n_threads > 1)
#endif
    for (long b = 0; b < n_blocks; b++) {
        int t = 0;
#if EMGMM_HAVE_OPENMP
        t = omp_get_thread_num();
#endif
        double *block = s->block + (size_t)t * BLOCK_ROWS * d;
        double *gram = s->gram + (size_t)t * BLOCK_ROWS * k;
        const size_t i0 = (size_t)b * BLOCK_ROWS;
        const size_t rows = n - i0 < BLOCK_ROWS ? n - i0 : BLOCK_ROWS;
        for (size_t i = 0; i < rows; i++)
            for (size_t j = 0; j < d; j++)
                block[i * d + j] = s->X[(i0 + i) * s->ldx + j] - s->shift[j];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows,
                    (int)k, (int)d, 1.0, block, (int)d, s->centres, (int)d,
                    0.0, gram, (int)k);
        for (size_t i = 0; i < rows; i++) {
            const double x_norm = s->x_norm[i0 + i];
            size_t best = 0;
            double best_d = INFINITY;
            for (size_t c = 0; c < k; c++) {
                double dd = x_norm - 2.0 * gram[i * k + c] + s->c_norm[c];
                if (dd < best_d) {
                    best_d = dd;
                    best = c;
                }
            }
            s->labels[i0 + i] = (int32_t)best;
            s->dist[i0 + i] = best_d > 0.0 ? best_d : 0.0;
        }
    }
}

/* Gives every empty cluster (no points of positive weight) the point
 * farthest from its own centre, as scikit-learn's k-means does. Returns
 * EMGMM_ERR_TOO_FEW_SAMPLES when no point lies away from its centre, i.e.
 * there are fewer distinct (positively weighted) samples than clusters. */
static int fill_empty_clusters(kmeans_state *s)
{
    const size_t n = s->n, k = s->k;
    memset(s->counts, 0, k * sizeof(double));
    memset(s->mass, 0, k * sizeof(double));
    for (size_t i = 0; i < n; i++)
        if (weight_of(s, i) > 0.0) {
            s->counts[s->labels[i]] += 1.0;
            s->mass[s->labels[i]] += weight_of(s, i);
        }
    for (size_t c = 0; c < k; c++) {
        if (s->counts[c] > 0.0)
            continue;
        size_t far = 0;
        double far_d = -1.0;
        for (size_t i = 0; i < n; i++)
            if (weight_of(s, i) > 0.0 && s->counts[s->labels[i]] > 1.0 &&
                s->dist[i] > far_d) {
                far_d = s->dist[i];
                far = i;
            }
        if (far_d <= 0.0)
            return EMGMM_ERR_TOO_FEW_SAMPLES;
        s->counts[s->labels[far]] -= 1.0;
        s->mass[s->labels[far]] -= weight_of(s, far);
        s->labels[far] = (int32_t)c;
        s->counts[c] = 1.0;
        s->mass[c] = weight_of(s, far);
        s->dist[far] = 0.0;
        set_centre_from_row(s, c, far);
    }
    return EMGMM_OK;
}

/* A row with probability proportional to weight_i * score_i (score NULL:
 * to weight_i); total is that sum, > 0. Rounding that leaves the target
 * past the last partial sum takes the last row with a positive term. */
static size_t draw_row(const kmeans_state *s, const double *score,
                       double total, emgmm_rng *rng)
{
    const double target = emgmm__rng_uniform(rng) * total;
    double acc = 0.0;
    size_t last = 0;
    for (size_t i = 0; i < s->n; i++) {
        const double t = weight_of(s, i) * (score ? score[i] : 1.0);
        if (t <= 0.0)
            continue;
        acc += t;
        last = i;
        if (acc > target)
            return i;
    }
    return last;
}

/* Greedy k-means++ (Arthur and Vassilvitskii 2007, with 2 + ln k local
 * trials per centre as scikit-learn does). */
static int kmeanspp_seed(kmeans_state *s, emgmm_rng *rng)
{
    const size_t n = s->n, k = s->k;
    double *closest = s->dist;
    double *trial = emgmm__malloc(n, sizeof(double));
    double *best_trial = emgmm__malloc(n, sizeof(double));
    if (!trial || !best_trial) {
        emgmm__free(trial);
        emgmm__free(best_trial);
        return EMGMM_ERR_NOMEM;
    }
    const size_t n_trials = 2 + (size_t)log((double)k);

    double total_weight = 0.0;
    for (size_t i = 0; i < n; i++)
        total_weight += weight_of(s, i);
    set_centre_from_row(s, 0, draw_row(s, NULL, total_weight, rng));
    double potential = 0.0;
    for (size_t i = 0; i < n; i++) {
        closest[i] = dist2_to(s, i, s->centres);
        potential += weight_of(s, i) * closest[i];
    }
    int rc = EMGMM_OK;
    for (size_t c = 1; c < k; c++) {
        if (!(potential > 0.0)) {
            rc = EMGMM_ERR_TOO_FEW_SAMPLES;
            break;
        }
        double best_pot = INFINITY;
        size_t best_idx = 0;
        for (size_t t = 0; t < n_trials; t++) {
            /* A row with probability w_i closest_i / potential. */
            size_t idx = draw_row(s, closest, potential, rng);
            set_centre_from_row(s, c, idx);
            double pot = 0.0;
            for (size_t i = 0; i < n; i++) {
                double dd = dist2_to(s, i, s->centres + c * s->d);
                trial[i] = dd < closest[i] ? dd : closest[i];
                pot += weight_of(s, i) * trial[i];
            }
            if (pot < best_pot) {
                best_pot = pot;
                best_idx = idx;
                memcpy(best_trial, trial, n * sizeof(double));
            }
        }
        set_centre_from_row(s, c, best_idx);
        memcpy(closest, best_trial, n * sizeof(double));
        potential = best_pot;
    }
    emgmm__free(trial);
    emgmm__free(best_trial);
    return rc;
}

/* s->sums = per cluster, the weighted sum of its shifted rows. */
static void centre_sums(kmeans_state *s)
{
    const size_t n = s->n, d = s->d, k = s->k;
    const long nb = (long)s->n_sum_blocks;
#if EMGMM_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(s->n_threads) \
    if (s->n_threads > 1)
#endif
    for (long b = 0; b < nb; b++) {
        double *part = s->partial + (size_t)b * k * d;
        memset(part, 0, k * d * sizeof(double));
        const size_t i0 = (size_t)b * SUM_ROWS;
        const size_t i1 = n - i0 < SUM_ROWS ? n : i0 + SUM_ROWS;
        for (size_t i = i0; i < i1; i++) {
            double *sum = part + (size_t)s->labels[i] * d;
            const double wi = weight_of(s, i);
            for (size_t j = 0; j < d; j++)
                sum[j] += wi * (s->X[i * s->ldx + j] - s->shift[j]);
        }
    }
    memcpy(s->sums, s->partial, k * d * sizeof(double));
    for (long b = 1; b < nb; b++)
        for (size_t t = 0; t < k * d; t++)
            s->sums[t] += s->partial[(size_t)b * k * d + t];
}

/* Lloyd iterations until labels stop changing or the centres move less
 * than scikit-learn's tolerance (1e-4 times the mean column variance). */
static int lloyd(kmeans_state *s)
{
    const size_t n = s->n, d = s->d, k = s->k;
    /* scikit-learn's tolerance: 1e-4 times the mean column variance
     * (rows read in order; the shift is near the mean, so the sum of
     * squares is as good as a two-pass variance). */
    double ss = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            double t = s->X[i * s->ldx + j] - s->shift[j];
            ss += t * t;
        }
    const double tol = 1e-4 * ss / ((double)n * (double)d);

    assign(s);
    for (int it = 0; it < KMEANS_MAX_ITER; it++) {
        int rc = fill_empty_clusters(s);
        if (rc != EMGMM_OK)
            return rc;
        centre_sums(s);
        double shift2 = 0.0;
        for (size_t c = 0; c < k; c++)
            for (size_t j = 0; j < d; j++) {
                double v = s->sums[c * d + j] / s->mass[c];
                double t = v - s->centres[c * d + j];
                shift2 += t * t;
                s->centres[c * d + j] = v;
            }
        assign(s);
        if (shift2 <= tol)
            break;
    }
    return fill_empty_clusters(s);
}

/* k distinct rows of positive weight, uniformly at random (partial
 * Fisher–Yates over those rows). */
static int random_rows_as_centres(kmeans_state *s, emgmm_rng *rng)
{
    size_t *idx = emgmm__malloc(s->n, sizeof(size_t));
    if (!idx)
        return EMGMM_ERR_NOMEM;
    size_t m = 0;
    for (size_t i = 0; i < s->n; i++)
        if (weight_of(s, i) > 0.0)
            idx[m++] = i;
    if (m < s->k) {
        emgmm__free(idx);
        return EMGMM_ERR_TOO_FEW_SAMPLES;
    }
    for (size_t c = 0; c < s->k; c++) {
        size_t j = c + (size_t)emgmm__rng_below(rng, m - c);
        size_t t = idx[c];
        idx[c] = idx[j];
        idx[j] = t;
        set_centre_from_row(s, c, idx[c]);
    }
    emgmm__free(idx);
    return EMGMM_OK;
}

int emgmm__init_resp(emgmm_init_method method, const double *X, size_t n,
                     size_t d, size_t ldx, const double *weight, size_t k,
                     int n_threads, emgmm_rng *rng, double *resp)
{
    if (method == EMGMM_INIT_RANDOM) {
        for (size_t i = 0; i < n; i++) {
            double s = 0.0;
            for (size_t c = 0; c < k; c++)
                s += resp[i * k + c] = emgmm__rng_uniform(rng);
            for (size_t c = 0; c < k; c++)
                resp[i * k + c] /= s;
        }
        return EMGMM_OK;
    }

    kmeans_state s;
    int rc = kmeans_alloc(&s, X, n, d, ldx, weight, k, n_threads);
    if (rc != EMGMM_OK)
        return rc;
    switch (method) {
    case EMGMM_INIT_KMEANS:
        rc = kmeanspp_seed(&s, rng);
        if (rc == EMGMM_OK)
            rc = lloyd(&s);
        break;
    case EMGMM_INIT_KMEANSPP:
        rc = kmeanspp_seed(&s, rng);
        break;
    case EMGMM_INIT_RANDOM_DATA:
        rc = random_rows_as_centres(&s, rng);
        break;
    default:
        rc = EMGMM_ERR_INVALID;
    }
    if (rc == EMGMM_OK && method != EMGMM_INIT_KMEANS) {
        assign(&s);
        rc = fill_empty_clusters(&s);
    }
    if (rc == EMGMM_OK) {
        memset(resp, 0, n * k * sizeof(double));
        for (size_t i = 0; i < n; i++)
            resp[i * k + (size_t)s.labels[i]] = 1.0;
    }
    kmeans_free(&s);
    return rc;
}
