/*
 * Missing values (NaN): EM on the observed part of every row (Ghahramani
 * and Jordan, 1994), and imputation from a fitted model. Missing at
 * random is assumed: whether a value is missing may depend on the
 * observed values, not on the missing one.
 *
 * E-step. Row i's density under component c is the marginal Gaussian of
 * its observed coordinates o. Rather than factor Sigma_oo for every row,
 * the ordinary full-row E-step runs on a copy Xf of the data whose gaps
 * are filled with any finite values, and each incomplete row gets a
 * correction. With P = Sigma^-1, e = xf - mu, m the missing coordinates
 * (r of them) and g = (P e)_m:
 *   (x_o - mu_o)^T Sigma_oo^-1 (x_o - mu_o) = e^T P e - g^T P_mm^-1 g
 *   log det Sigma_oo = log det Sigma + log det P_mm
 *   E[x_m | x_o] = xf_m - P_mm^-1 g,   Cov[x_m | x_o] = P_mm^-1.
 * (Minimising the quadratic form over x_m gives the first line; the
 * minimiser is the conditional mean; the Schur complement gives the
 * second.) So each pattern needs one Cholesky factor of the r x r P_mm
 * per component, each incomplete row O(r d) more work per component, and
 * every row, complete or not, still goes through the level-3 BLAS of the
 * ordinary E-step. Complete rows get exactly the ordinary result.
 *
 * Stability: the first line subtracts g^T P_mm^-1 g from e^T P e. Both
 * grow with the distance between the fill and the conditional mean, so
 * the fill is kept close: after every M-step each gap is refilled with
 * its conditional expectation under the mixture, which is where EM's
 * answer is heading. P_mm is a principal block of a positive definite
 * matrix, so its Cholesky factor exists; it is applied by triangular
 * solves, never inverted, in the E-step.
 *
 * M-step: the expected sufficient statistics. Gaps are replaced by the
 * conditional means of each component, and the conditional covariance
 * P_mm^-1, the same for all rows of a pattern, is added to the scatter
 * with the pattern's total responsibility. The scatter stays two-pass
 * (centred on the new mean), as in mstep.c. For tied, diag and spherical
 * the full expected scatter is reduced to the type's shape.
 */
#include "internal.h"
#include "emgmm_config.h"
#include "rng.h"

#include <cblas.h>
#include <limits.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double LOG_2PI = 1.8378770664093454835606594728112;

/* ---- layout --------------------------------------------------------- */

typedef struct masked_row {
    const uint64_t *mask;
    size_t words;
    size_t row;
    size_t slot; /* the row's place among the incomplete rows */
} masked_row;

static int compare_patterns(const masked_row *a, const masked_row *b)
{
    for (size_t w = 0; w < a->words; w++)
        if (a->mask[w] != b->mask[w])
            return a->mask[w] < b->mask[w] ? -1 : 1;
    return 0;
}

/* Orders rows by pattern, then by row number (qsort is not stable). */
static int compare_masks(const void *pa, const void *pb)
{
    const masked_row *a = pa, *b = pb;
    int by_pattern = compare_patterns(a, b);
    if (by_pattern != 0)
        return by_pattern;
    return (a->row > b->row) - (a->row < b->row);
}

void emgmm__gaps_free(emgmm_gaps *g)
{
    emgmm__free(g->slot_row);
    emgmm__free(g->pattern_first);
    emgmm__free(g->pattern_slots);
    emgmm__free(g->pattern_weight);
    emgmm__free(g->coord_first);
    emgmm__free(g->coords);
    emgmm__free(g->row_slot);
    emgmm__free(g->slot_pattern);
    emgmm__free(g->cond_first);
    emgmm__free(g->cond);
    emgmm__free(g->precision);
    emgmm__free(g->scatter);
    emgmm__free(g->mean_shift);
    emgmm__free(g->scratch);
    memset(g, 0, sizeof *g);
}

int emgmm__gaps_build(emgmm_gaps *g, const double *X, size_t n, size_t d,
                      size_t ldx, size_t k, emgmm_covariance_type type,
                      int n_threads)
{
    memset(g, 0, sizeof *g);
    g->n = n;
    g->d = d;
    g->k = k;
    g->n_threads = n_threads < 1 ? 1 : n_threads;
    size_t n_inc = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            if (isnan(X[i * ldx + j])) {
                n_inc++;
                break;
            }
    g->n_incomplete = n_inc;
    if (n_inc == 0)
        return EMGMM_OK;

    const size_t words = (d + 63) / 64;
    uint64_t *masks = emgmm__calloc(n_inc * words, sizeof(uint64_t));
    masked_row *order = emgmm__malloc(n_inc, sizeof(masked_row));
    g->row_slot = emgmm__calloc(n, sizeof(size_t));
    g->slot_row = emgmm__malloc(n_inc, sizeof(size_t));
    g->slot_pattern = emgmm__malloc(n_inc, sizeof(size_t));
    g->cond_first = emgmm__malloc(n_inc, sizeof(size_t));
    g->pattern_first = emgmm__malloc(n_inc + 1, sizeof(size_t));
    g->pattern_slots = emgmm__malloc(n_inc, sizeof(size_t));
    g->coord_first = emgmm__malloc(n_inc + 1, sizeof(size_t));
    int rc = EMGMM_ERR_NOMEM;
    if (!masks || !order || !g->row_slot || !g->slot_row ||
        !g->pattern_slots ||
        !g->slot_pattern || !g->cond_first || !g->pattern_first ||
        !g->coord_first)
        goto done;

    size_t t = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t *mask = masks + t * words;
        int any = 0;
        for (size_t j = 0; j < d; j++)
            if (isnan(X[i * ldx + j])) {
                mask[j / 64] |= (uint64_t)1 << (j % 64);
                any = 1;
            }
        if (any) {
            order[t] = (masked_row){mask, words, i, t};
            t++;
        }
    }
    qsort(order, n_inc, sizeof *order, compare_masks);

    /* Count patterns and their coordinates, then lay them out. Slots
     * are in row order (the M-step reads rows in order, and their
     * conditional means with them); pattern_slots lists them by pattern
     * (the E-step works pattern by pattern). */
    size_t n_coords = 0, n_cond = 0;
    g->n_patterns = 0;
    size_t *r_of = emgmm__malloc(n_inc, sizeof(size_t)); /* slot's gaps */
    if (!r_of)
        goto done;
    for (size_t q = 0; q < n_inc; q++) {
        size_t r = 0;
        for (size_t w = 0; w < words; w++)
            r += (size_t)__builtin_popcountll(order[q].mask[w]);
        if (q == 0 || compare_patterns(&order[q - 1], &order[q]) != 0) {
            g->pattern_first[g->n_patterns] = q;
            g->coord_first[g->n_patterns] = n_coords;
            g->n_patterns++;
            n_coords += r;
        }
        const size_t s = order[q].slot;
        g->pattern_slots[q] = s;
        g->slot_row[s] = order[q].row;
        g->row_slot[order[q].row] = s + 1;
        g->slot_pattern[s] = g->n_patterns - 1;
        r_of[s] = r;
        if (r > g->max_missing)
            g->max_missing = r;
    }
    for (size_t s = 0; s < n_inc; s++) {
        g->cond_first[s] = n_cond;
        n_cond += k * r_of[s];
    }
    emgmm__free(r_of);
    g->pattern_first[g->n_patterns] = n_inc;
    g->coord_first[g->n_patterns] = n_coords;
    g->coords = emgmm__malloc(n_coords, sizeof(size_t));
    g->cond = emgmm__malloc(n_cond, sizeof(double));
    const size_t n_prec = type == EMGMM_COVARIANCE_TIED ? 1 : k;
    g->precision = emgmm__malloc(n_prec * d, d * sizeof(double));
    if (type != EMGMM_COVARIANCE_FULL)
        g->scatter = emgmm__malloc(k * d, d * sizeof(double));
    g->mean_shift = emgmm__malloc(k, d * sizeof(double));
    g->pattern_weight = emgmm__malloc((size_t)g->n_threads * g->n_patterns,
                                      sizeof(double));
    const size_t r_max = g->max_missing;
    /* E-step: L (r^2), g (r), e (d); M-step: L, a column (r), and the
     * inverse (r^2). */
    g->scratch_size = 2 * r_max * r_max + r_max + d;
    g->scratch = emgmm__malloc((size_t)g->n_threads * g->scratch_size,
                               sizeof(double));
    if (!g->coords || !g->cond || !g->precision || !g->scratch ||
        !g->mean_shift || !g->pattern_weight ||
        (type != EMGMM_COVARIANCE_FULL && !g->scatter))
        goto done;
    for (size_t p = 0; p < g->n_patterns; p++) {
        const uint64_t *mask = order[g->pattern_first[p]].mask; /* sorted */
        size_t *out = g->coords + g->coord_first[p];
        for (size_t j = 0; j < d; j++)
            if (mask[j / 64] >> (j % 64) & 1)
                *out++ = j;
    }
    rc = EMGMM_OK;
done:
    emgmm__free(masks);
    emgmm__free(order);
    if (rc != EMGMM_OK)
        emgmm__gaps_free(g);
    return rc;
}

/* ---- small dense helpers -------------------------------------------- */

/* Explicit Sigma^-1 = U U^T of every component (one for tied). */
static void compute_precisions(const emgmm_model *m, emgmm_gaps *g)
{
    const size_t k = m->k, d = m->d;
    switch (m->type) {
    case EMGMM_COVARIANCE_FULL:
    case EMGMM_COVARIANCE_TIED: {
        const size_t n_prec = m->type == EMGMM_COVARIANCE_TIED ? 1 : k;
        const size_t ldu = m->type == EMGMM_COVARIANCE_TIED ? d : k * d;
        for (size_t c = 0; c < n_prec; c++) {
            double *P = g->precision + c * d * d;
            cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, (int)d,
                        (int)d, 1.0, m->prec + c * d, (int)ldu, 0.0, P,
                        (int)d);
            for (size_t a = 0; a < d; a++)
                for (size_t b = 0; b < a; b++)
                    P[b * d + a] = P[a * d + b];
        }
        return;
    }
    case EMGMM_COVARIANCE_DIAG:
    case EMGMM_COVARIANCE_SPHERICAL:
        memset(g->precision, 0, k * d * d * sizeof(double));
        for (size_t c = 0; c < k; c++)
            for (size_t j = 0; j < d; j++) {
                const double u = m->type == EMGMM_COVARIANCE_DIAG
                                     ? m->prec[c * d + j]
                                     : m->prec[c];
                g->precision[c * d * d + j * d + j] = u * u;
            }
        return;
    }
}

static const double *precision_of(const emgmm_model *m,
                                  const emgmm_gaps *g, size_t c)
{
    return g->precision +
           (m->type == EMGMM_COVARIANCE_TIED ? 0 : c * m->d * m->d);
}

/* Solves L y = v in place (forward substitution), where v[0 .. from-1]
 * are known to be zero. */
static void solve_lower_raw(const double *L, size_t r, double *v,
                            size_t from)
{
    for (size_t a = from; a < r; a++) {
        double s = v[a];
        for (size_t b = from; b < a; b++)
            s -= L[a * r + b] * v[b];
        v[a] = s / L[a * r + a];
    }
}

static void solve_lower(const double *L, size_t r, double *v)
{
    solve_lower_raw(L, r, v, 0);
}

/* Solves L^T x = v in place (back substitution). */
static void solve_upper_t(const double *L, size_t r, double *v)
{
    for (size_t a = r; a-- > 0;) {
        double s = v[a];
        for (size_t b = a + 1; b < r; b++)
            s -= L[b * r + a] * v[b];
        v[a] = s / L[a * r + a];
    }
}

/* Blocks up to this size are inverted by the loops below (and factored
 * by linalg.c's loops, up to the same size):
 * a pattern's block is usually a few rows wide, and a LAPACK call costs
 * about a microsecond of overhead, more than the work on a 3 x 3 block
 * (measured at 10 % missing, D = 64: 11.9x the complete-data iteration
 * with LAPACK for every block, 6.5x with loops up to 24). Above 8 the
 * loops lose to LAPACK (30 % missing, r near 19: 33x against 23x). */
enum { SMALL_BLOCK = 8 };

/* L (r x r, row-major lower) = Cholesky factor of P[mis, mis]. */
static int factor_block(const double *P, size_t d, const size_t *mis,
                        size_t r, double *L)
{
    for (size_t a = 0; a < r; a++)
        for (size_t b = 0; b <= a; b++)
            L[a * r + b] = P[mis[a] * d + mis[b]];
    return emgmm__cholesky_lower(L, r); /* loops for small r (linalg.c) */
}

/* Given L from factor_block, the lower triangle of (L L^T)^-1 in place,
 * column by column from L^-T L^-1 (potri above SMALL_BLOCK). */
static int invert_factored(double *L, size_t r, double *col)
{
    if (r > SMALL_BLOCK)
        return LAPACKE_dpotri_work(LAPACK_COL_MAJOR, 'U', (lapack_int)r, L,
                                   (lapack_int)r) != 0;
    /* Solve L L^T x = e_b for each b; keep entries a >= b, written after
     * every column is solved (they overwrite L). */
    double *inv = col + r;
    for (size_t b = 0; b < r; b++) {
        for (size_t a = 0; a < r; a++)
            col[a] = a == b ? 1.0 : 0.0;
        solve_lower_raw(L, r, col, b);
        solve_upper_t(L, r, col);
        for (size_t a = b; a < r; a++)
            inv[a * r + b] = col[a];
    }
    for (size_t a = 0; a < r; a++)
        for (size_t b = 0; b <= a; b++)
            L[a * r + b] = inv[a * r + b];
    return 0;
}


/* ---- E-step --------------------------------------------------------- */

/* Corrects the full-row log-densities of pattern p's rows to marginal
 * ones and stores their conditional means. */
static int correct_pattern(const emgmm_model *m, const double *Xf,
                           size_t ldx, emgmm_gaps *g, size_t p,
                           double *scratch, double *logp)
{
    const size_t k = m->k, d = m->d;
    const size_t *mis = g->coords + g->coord_first[p];
    const size_t r = g->coord_first[p + 1] - g->coord_first[p];
    double *L = scratch, *v = L + r * r, *e = v + r;
    for (size_t c = 0; c < k; c++) {
        const double *mu = m->means + c * d;
        if (r == d) {
            /* Nothing observed: the posterior is the prior, the
             * conditional mean the component's mean. */
            for (size_t q = g->pattern_first[p]; q < g->pattern_first[p + 1];
                 q++) {
                const size_t s = g->pattern_slots[q];
                logp[g->slot_row[s] * k + c] =
                    m->unweighted ? 0.0 : log(m->weights[c]);
                memcpy(g->cond + g->cond_first[s] + c * r, mu,
                       d * sizeof(double));
            }
            continue;
        }
        const double *P = precision_of(m, g, c);
        if (factor_block(P, d, mis, r, L) != 0)
            return EMGMM_ERR_SINGULAR;
        double half_log_det = 0.0; /* 1/2 log det P_mm */
        for (size_t a = 0; a < r; a++)
            half_log_det += log(L[a * r + a]);
        const double shift = 0.5 * (double)r * LOG_2PI - half_log_det;
        for (size_t q = g->pattern_first[p]; q < g->pattern_first[p + 1];
             q++) {
            const size_t s = g->pattern_slots[q], i = g->slot_row[s];
            const double *x = Xf + i * ldx;
            for (size_t j = 0; j < d; j++)
                e[j] = x[j] - mu[j];
            for (size_t a = 0; a < r; a++) /* g = (P e)_m */
                v[a] = cblas_ddot((int)d, P + mis[a] * d, 1, e, 1);
            solve_lower(L, r, v);
            double quad = 0.0; /* g^T P_mm^-1 g = ||L^-1 g||^2 */
            for (size_t a = 0; a < r; a++)
                quad += v[a] * v[a];
            solve_upper_t(L, r, v); /* v = P_mm^-1 g */
            double *cond = g->cond + g->cond_first[s] + c * r;
            for (size_t a = 0; a < r; a++)
                cond[a] = x[mis[a]] - v[a];
            logp[i * k + c] += shift + 0.5 * quad;
        }
    }
    return EMGMM_OK;
}

int emgmm__log_prob_gaps(const emgmm_model *m, const double *Xf,
                         size_t ldx, emgmm_workspace *ws, emgmm_gaps *g,
                         double *logp)
{
    const size_t k = m->k, d = m->d, n = g->n, br = ws->block_rows;
    const long n_blocks = (long)ws->n_blocks;
    if (g->n_incomplete > 0)
        compute_precisions(m, g);

    /* Full-row log-densities of every row, through the ordinary kernels. */
#if EMGMM_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(ws->n_threads) \
    if (ws->n_threads > 1)
#endif
    for (long b = 0; b < n_blocks; b++) {
        const size_t i0 = (size_t)b * br;
        const size_t rows = n - i0 < br ? n - i0 : br;
        double *proj =
            ws->proj + (size_t)emgmm__thread_id() * br * (k * d + d);
        emgmm__log_prob_block(m, Xf + i0 * ldx, rows, ldx, proj,
                              logp + i0 * k);
    }

    /* Marginal corrections, pattern by pattern (each writes its own
     * rows, so the result does not depend on the thread count). */
    int failed = 0;
    const long n_patterns = (long)g->n_patterns;
#if EMGMM_HAVE_OPENMP
#pragma omp parallel for schedule(dynamic, 16) \
    num_threads(g->n_threads) if (g->n_threads > 1) reduction(| : failed)
#endif
    for (long p = 0; p < n_patterns; p++) {
        double *scratch = g->scratch + (size_t)emgmm__thread_id() * g->scratch_size;
        if (correct_pattern(m, Xf, ldx, g, (size_t)p, scratch, logp) != 0)
            failed = 1;
    }
    return failed ? EMGMM_ERR_SINGULAR : EMGMM_OK;
}

int emgmm__estep_gaps(const emgmm_model *m, const double *Xf, size_t ldx,
                      const double *weight, double *resp,
                      emgmm_workspace *ws, emgmm_gaps *g, double *total,
                      double *row_log_lik)
{
    const size_t k = m->k, n = g->n, br = ws->block_rows;
    const long n_blocks = (long)ws->n_blocks;
    int rc = emgmm__log_prob_gaps(m, Xf, ldx, ws, g, resp);
    if (rc != EMGMM_OK)
        return rc;
#if EMGMM_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(ws->n_threads) \
    if (ws->n_threads > 1)
#endif
    for (long b = 0; b < n_blocks; b++) {
        const size_t i0 = (size_t)b * br;
        const size_t rows = n - i0 < br ? n - i0 : br;
        ws->block_ll[b] = emgmm__normalize_log_resp(
            resp + i0 * k, rows, k, weight ? weight + i0 : NULL,
            row_log_lik ? row_log_lik + i0 : NULL);
    }
    double sum = 0.0; /* in block order: the same bits for any threads */
    for (long b = 0; b < n_blocks; b++)
        sum += ws->block_ll[b];
    *total = sum;
    return EMGMM_OK;
}

/* ---- M-step --------------------------------------------------------- */

/* Adds sum_i r_ic (xhat_ic - mu)(xhat_ic - mu)^T to the lower triangle of
 * S, where xhat_ic is row i with its gaps replaced by component c's
 * conditional means; then each pattern's conditional covariance times
 * its total responsibility. z: gr x d doubles; L: 2 r_max^2 + r_max. */
static int expected_scatter(const emgmm_model *m, const double *Xf,
                            size_t ldx, const double *resp,
                            const emgmm_gaps *g, size_t c, const double *mu,
                            double *S, double *z, size_t gr, double *L,
                            double *pattern_weight)
{
    const size_t k = m->k, d = m->d, n = g->n;
    memset(S, 0, d * d * sizeof(double));
    memset(pattern_weight, 0, g->n_patterns * sizeof(double));
    size_t rows = 0;
    for (size_t i = 0; i < n; i++) {
        const double ric = resp[i * k + c];
        if (ric == 0.0)
            continue;
        const double sr = sqrt(ric);
        const double *x = Xf + i * ldx;
        double *zi = z + rows * d;
        for (size_t j = 0; j < d; j++)
            zi[j] = sr * (x[j] - mu[j]);
        const size_t slot = g->row_slot[i];
        if (slot) { /* the gaps: component c's conditional means */
            const size_t s = slot - 1, p = g->slot_pattern[s];
            const size_t *mis = g->coords + g->coord_first[p];
            const size_t r = g->coord_first[p + 1] - g->coord_first[p];
            const double *cond = g->cond + g->cond_first[s] + c * r;
            for (size_t a = 0; a < r; a++)
                zi[mis[a]] = sr * (cond[a] - mu[mis[a]]);
            pattern_weight[p] += ric;
        }
        if (++rows == gr) {
            cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)d,
                        (int)rows, 1.0, z, (int)d, 1.0, S, (int)d);
            rows = 0;
        }
    }
    if (rows > 0)
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)d,
                    (int)rows, 1.0, z, (int)d, 1.0, S, (int)d);

    const double *P = precision_of(m, g, c);
    for (size_t p = 0; p < g->n_patterns; p++) {
        const double weight = pattern_weight[p];
        if (weight == 0.0)
            continue;
        const size_t *mis = g->coords + g->coord_first[p];
        const size_t r = g->coord_first[p + 1] - g->coord_first[p];
        /* Cov[x_m | x_o] = P_mm^-1, from its Cholesky factor. */
        if (factor_block(P, d, mis, r, L) != 0 ||
            invert_factored(L, r, L + r * r) != 0)
            return EMGMM_ERR_SINGULAR;
        /* mis is ascending, so a >= b lands in the lower triangle. */
        for (size_t a = 0; a < r; a++)
            for (size_t b = 0; b <= a; b++)
                S[mis[a] * d + mis[b]] += weight * L[a * r + b];
    }
    return EMGMM_OK;
}

/* Adds the components' scatters (k x d x d, lower triangles) to raw
 * sums in the shape emgmm__mstep_finish takes (see mstep.c): full, the
 * lower triangles; tied, their sum in component order; diag and
 * spherical, the diagonals. */
static void add_scatters_to_raw(emgmm_covariance_type type, size_t k,
                                size_t d, const double *S, double *raw)
{
    switch (type) {
    case EMGMM_COVARIANCE_FULL:
        for (size_t c = 0; c < k; c++)
            for (size_t a = 0; a < d; a++)
                for (size_t b = 0; b <= a; b++)
                    raw[c * d * d + a * d + b] += S[c * d * d + a * d + b];
        break;
    case EMGMM_COVARIANCE_TIED:
        for (size_t c = 0; c < k; c++)
            for (size_t a = 0; a < d; a++)
                for (size_t b = 0; b <= a; b++)
                    raw[a * d + b] += S[c * d * d + a * d + b];
        break;
    case EMGMM_COVARIANCE_DIAG:
    case EMGMM_COVARIANCE_SPHERICAL:
        for (size_t c = 0; c < k; c++)
            for (size_t j = 0; j < d; j++)
                raw[c * d + j] += S[c * d * d + j * d + j];
        break;
    }
}

double *emgmm__gaps_mean_shift(const emgmm_gaps *g, const double *Xf,
                               size_t ldx, const double *resp, size_t k)
{
    /* R^T Xf sums the fill; move each row's share to the conditional
     * means: sum_i r_ic (xhat_ic - xf_i), small, so nothing cancels. */
    const size_t d = g->d;
    double *shift = g->mean_shift;
    memset(shift, 0, k * d * sizeof(double));
    for (size_t s = 0; s < g->n_incomplete; s++) {
        const size_t i = g->slot_row[s], p = g->slot_pattern[s];
        const size_t *mis = g->coords + g->coord_first[p];
        const size_t r = g->coord_first[p + 1] - g->coord_first[p];
        const double *x = Xf + i * ldx;
        for (size_t c = 0; c < k; c++) {
            const double ric = resp[i * k + c];
            if (ric == 0.0)
                continue;
            const double *cond = g->cond + g->cond_first[s] + c * r;
            for (size_t a = 0; a < r; a++)
                shift[c * d + mis[a]] += ric * (cond[a] - x[mis[a]]);
        }
    }
    return shift;
}

double *emgmm__gaps_scatter(emgmm_model *m, const double *Xf, size_t ldx,
                            const double *resp, emgmm_workspace *ws,
                            emgmm_gaps *g, int *rc, int *bad)
{
    const size_t k = m->k, d = m->d, gr = ws->gather_rows;
    int first_bad = INT_MAX;
#if EMGMM_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(ws->n_threads) \
    if (ws->n_threads > 1) reduction(min : first_bad)
#endif
    for (long cl = 0; cl < (long)k; cl++) {
        const size_t c = (size_t)cl;
        const int t = emgmm__thread_id();
        double *S = m->type == EMGMM_COVARIANCE_FULL
                        ? m->covariances + c * d * d
                        : g->scatter + c * d * d;
        if (expected_scatter(m, Xf, ldx, resp, g, c, m->means + c * d, S,
                             ws->centred + (size_t)t * gr * d, gr,
                             g->scratch + (size_t)t * g->scratch_size,
                             g->pattern_weight +
                                 (size_t)t * g->n_patterns) != 0)
            first_bad = (int)c < first_bad ? (int)c : first_bad;
    }
    /* A failure here is a pattern's factor on this process only: tell
     * every process, so that all stop together. */
    double failed = first_bad != INT_MAX ? 1.0 : 0.0;
    *rc = emgmm__allreduce(ws, &failed, 1);
    if (*rc != EMGMM_OK)
        return NULL;
    if (failed != 0.0) {
        *bad = first_bad != INT_MAX ? first_bad : -1;
        *rc = EMGMM_ERR_SINGULAR;
        return NULL;
    }

    /* Raw sums in the shape emgmm__mstep_finish takes (see mstep.c); a
     * full model's scatters are already in place. */
    double *raw = m->type == EMGMM_COVARIANCE_SPHERICAL ? ws->sphere
                                                        : m->covariances;
    if (m->type != EMGMM_COVARIANCE_FULL) {
        memset(raw, 0,
               emgmm__mstep_raw_size(m->type, k, d) * sizeof(double));
        add_scatters_to_raw(m->type, k, d, g->scatter, raw);
    }
    *rc = emgmm__allreduce(ws, raw, emgmm__mstep_raw_size(m->type, k, d));
    return *rc == EMGMM_OK ? raw : NULL;
}

int emgmm__gaps_scatter_add(emgmm_model *m, const double *Xf, size_t ldx,
                            const double *resp, emgmm_workspace *ws,
                            emgmm_gaps *g, double *S, double *raw, int *bad)
{
    const size_t k = m->k, d = m->d;
    /* One thread: a streamed fit works on one block at a time. */
    for (size_t c = 0; c < k; c++)
        if (expected_scatter(m, Xf, ldx, resp, g, c, m->means + c * d,
                             S + c * d * d, ws->centred, ws->gather_rows,
                             g->scratch, g->pattern_weight) != 0) {
            *bad = (int)c;
            return EMGMM_ERR_SINGULAR;
        }
    add_scatters_to_raw(m->type, k, d, S, raw);
    return EMGMM_OK;
}

void emgmm__gaps_refill(const emgmm_gaps *g, double *Xf, size_t ldx,
                        const double *resp, size_t k)
{
    /* Each gap gets its conditional expectation under the mixture (see
     * the top of the file). Rows of zero weight keep their fill. */
    for (size_t s = 0; s < g->n_incomplete; s++) {
        const size_t i = g->slot_row[s], p = g->slot_pattern[s];
        const size_t *mis = g->coords + g->coord_first[p];
        const size_t r = g->coord_first[p + 1] - g->coord_first[p];
        double wsum = 0.0;
        for (size_t c = 0; c < k; c++)
            wsum += resp[i * k + c];
        if (!(wsum > 0.0))
            continue;
        for (size_t a = 0; a < r; a++) {
            double v = 0.0;
            for (size_t c = 0; c < k; c++)
                v += resp[i * k + c] * g->cond[g->cond_first[s] + c * r + a];
            Xf[i * ldx + mis[a]] = v / wsum;
        }
    }
}

int emgmm__mstep_gaps(emgmm_model *m, double *Xf, size_t ldx,
                      const double *resp, double reg_covar,
                      emgmm_workspace *ws, emgmm_gaps *g, int *bad)
{
    const size_t k = m->k, n = g->n;
    double total;
    int rc = emgmm__mstep_weights_means(
        m, Xf, n, ldx, resp, emgmm__gaps_mean_shift(g, Xf, ldx, resp, k), ws,
        &total);
    if (rc != EMGMM_OK)
        return rc;
    const double *raw = emgmm__gaps_scatter(m, Xf, ldx, resp, ws, g, &rc, bad);
    if (rc != EMGMM_OK)
        return rc;
    emgmm__gaps_refill(g, Xf, ldx, resp, k);
    return emgmm__mstep_finish(m, raw, total, reg_covar, ws, bad);
}

/* ---- imputation ----------------------------------------------------- */

/* The incomplete rows of X, gathered with their gaps filled by the
 * mixture's mean, their layout, and their posteriors given the observed
 * part (after run_imputation_estep). */
typedef struct imputation {
    size_t n_inc;
    size_t *rows;  /* n_inc: row in X */
    double *Xf;    /* n_inc x d */
    double *resp;  /* n_inc x k */
    emgmm_gaps g;
    emgmm_workspace ws;
} imputation;

static void imputation_free(imputation *im)
{
    emgmm__free(im->rows);
    emgmm__free(im->Xf);
    emgmm__free(im->resp);
    emgmm__gaps_free(&im->g);
    emgmm__workspace_free(&im->ws);
}

static int check_impute_args(const emgmm_model *m, const double *X, size_t n,
                             size_t ldx, const void *out)
{
    if (!m || !X || !out || n == 0 || ldx < m->d)
        return EMGMM_ERR_INVALID;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m->d; j++)
            if (isinf(X[i * ldx + j]))
                return EMGMM_ERR_NONFINITE;
    return EMGMM_OK;
}

static int run_imputation_estep(const emgmm_model *m, const double *X,
                                size_t n, size_t ldx, int all_rows,
                                double *row_log_lik, imputation *im)
{
    const size_t k = m->k, d = m->d;
    memset(im, 0, sizeof *im);
    for (size_t i = 0; i < n; i++) {
        int gap = 0;
        for (size_t j = 0; j < d; j++)
            gap |= isnan(X[i * ldx + j]);
        im->n_inc += gap || all_rows;
    }
    if (im->n_inc == 0)
        return EMGMM_OK;
    im->rows = emgmm__malloc(im->n_inc, sizeof(size_t));
    im->Xf = emgmm__malloc(im->n_inc * d, sizeof(double));
    im->resp = emgmm__malloc(im->n_inc * k, sizeof(double));
    if (!im->rows || !im->Xf || !im->resp)
        return EMGMM_ERR_NOMEM;
    size_t t = 0;
    for (size_t i = 0; i < n; i++) {
        const double *x = X + i * ldx;
        int gap = 0;
        for (size_t j = 0; j < d; j++)
            gap |= isnan(x[j]);
        if (gap || all_rows) {
            im->rows[t] = i;
            memcpy(im->Xf + t * d, x, d * sizeof(double));
            t++;
        }
    }
    int rc = emgmm__gaps_build(&im->g, im->Xf, im->n_inc, d, d, k, m->type, 1);
    if (rc == EMGMM_OK)
        rc = emgmm__workspace_alloc(&im->ws, im->n_inc, k, d, 1);
    if (rc != EMGMM_OK)
        return rc;
    /* Fill with the mixture's mean: finite, and near the data. */
    for (size_t j = 0; j < d; j++) {
        double mean = 0.0;
        for (size_t c = 0; c < k; c++)
            mean += m->weights[c] * m->means[c * d + j];
        for (size_t r = 0; r < im->n_inc; r++)
            if (isnan(im->Xf[r * d + j]))
                im->Xf[r * d + j] = mean;
    }
    double total;
    return emgmm__estep_gaps(m, im->Xf, d, NULL, im->resp, &im->ws, &im->g,
                             &total, row_log_lik);
}

/* Copies X (n x d) into out (leading dimension d): observed values bit
 * for bit. */
static void copy_rows(const double *X, size_t n, size_t d, size_t ldx,
                      double *out)
{
    for (size_t i = 0; i < n; i++)
        memcpy(out + i * d, X + i * ldx, d * sizeof(double));
}

int emgmm_impute(const emgmm_model *m, const double *X, size_t n,
                 size_t ldx, double *out)
{
    int rc = check_impute_args(m, X, n, ldx, out);
    if (rc != EMGMM_OK)
        return rc;
    imputation im;
    rc = run_imputation_estep(m, X, n, ldx, 0, NULL, &im);
    if (rc == EMGMM_OK) {
        const size_t k = m->k, d = m->d;
        const emgmm_gaps *g = &im.g;
        copy_rows(X, n, d, ldx, out);
        /* E[x_m | x_o] = sum_c p(c | x_o) E[x_m | x_o, c]. */
        for (size_t s = 0; s < g->n_incomplete; s++) {
            const size_t t = g->slot_row[s], p = g->slot_pattern[s];
            const size_t *mis = g->coords + g->coord_first[p];
            const size_t r = g->coord_first[p + 1] - g->coord_first[p];
            double *x = out + im.rows[t] * d;
            for (size_t a = 0; a < r; a++) {
                double v = 0.0;
                for (size_t c = 0; c < k; c++)
                    v += im.resp[t * k + c] *
                         g->cond[g->cond_first[s] + c * r + a];
                x[mis[a]] = v;
            }
        }
    }
    imputation_free(&im);
    return rc;
}

/* Draws first_draw .. first_draw + n_draws - 1 of rows first_row ..
 * first_row + n - 1 of a data set of total_rows rows (X holds those n
 * rows); draw first_draw + t at out + t*n*d. The random stream of a
 * (draw, row) is numbered by the draw and the row in the whole data set,
 * so a block of rows gets the numbers it gets among all of them. */
static int impute_draws(const emgmm_model *m, const double *X, size_t n,
                        size_t ldx, size_t first_row, size_t total_rows,
                        size_t first_draw, size_t n_draws, uint64_t seed,
                        double *out)
{
    int rc = check_impute_args(m, X, n, ldx, out);
    if (rc != EMGMM_OK)
        return rc;
    if (n_draws == 0 || n > SIZE_MAX / n_draws || first_row > total_rows ||
        n > total_rows - first_row ||
        first_draw > SIZE_MAX - n_draws ||
        total_rows > SIZE_MAX / (first_draw + n_draws))
        return EMGMM_ERR_INVALID;
    imputation im;
    rc = run_imputation_estep(m, X, n, ldx, 0, NULL, &im);
    const size_t k = m->k, d = m->d;
    const emgmm_gaps *g = &im.g;
    const size_t r_max = g->max_missing;
    double *factors = NULL;
    if (rc == EMGMM_OK && im.n_inc > 0) {
        factors = emgmm__malloc(k * r_max * r_max + r_max, sizeof(double));
        if (!factors)
            rc = EMGMM_ERR_NOMEM;
    }
    for (size_t t = 0; rc == EMGMM_OK && t < n_draws; t++)
        copy_rows(X, n, d, ldx, out + t * n * d);
    /* One draw of row i: a component from p(c | x_o), then
     * x_m = E[x_m | x_o, c] + L^-T z with L L^T = P_mm and z standard
     * normal, whose covariance is (L L^T)^-1 = Cov[x_m | x_o, c]. Each
     * (draw, row) has its own stream: the draws do not depend on the
     * order the rows are visited in. */
    for (size_t p = 0; rc == EMGMM_OK && p < g->n_patterns; p++) {
        const size_t *mis = g->coords + g->coord_first[p];
        const size_t r = g->coord_first[p + 1] - g->coord_first[p];
        double *z = factors + k * r_max * r_max;
        for (size_t c = 0; c < k && rc == EMGMM_OK; c++)
            if (factor_block(precision_of(m, g, c), d, mis, r,
                             factors + c * r_max * r_max) != 0)
                rc = EMGMM_ERR_SINGULAR;
        for (size_t t = 0; rc == EMGMM_OK && t < n_draws; t++)
            for (size_t q = g->pattern_first[p]; q < g->pattern_first[p + 1];
                 q++) {
                const size_t s = g->pattern_slots[q];
                const size_t slot_t = g->slot_row[s], row = im.rows[slot_t];
                const uint64_t key = (uint64_t)(first_draw + t) * total_rows +
                                     first_row + row;
                emgmm_rng rng;
                emgmm__rng_seed(&rng, seed,
                                UINT64_C(0x696d70757465) ^ /* "impute" */
                                    key << 16);
                const double u = emgmm__rng_uniform(&rng);
                size_t pick = k - 1;
                double acc = 0.0;
                for (size_t c = 0; c < k; c++) {
                    acc += im.resp[slot_t * k + c];
                    if (u < acc) {
                        pick = c;
                        break;
                    }
                }
                for (size_t a = 0; a < r; a++)
                    z[a] = emgmm__rng_normal(&rng);
                solve_upper_t(factors + pick * r_max * r_max, r, z);
                const double *cond = g->cond + g->cond_first[s] + pick * r;
                double *x = out + t * n * d + row * d;
                for (size_t a = 0; a < r; a++)
                    x[mis[a]] = cond[a] + z[a];
            }
    }
    emgmm__free(factors);
    imputation_free(&im);
    return rc;
}

int emgmm_impute_draws(const emgmm_model *m, const double *X, size_t n,
                       size_t ldx, size_t n_draws, uint64_t seed,
                       double *out)
{
    return impute_draws(m, X, n, ldx, 0, n, 0, n_draws, seed, out);
}

int emgmm_impute_draws_rows(const emgmm_model *m, const double *X, size_t n,
                            size_t ldx, size_t first_row, size_t total_rows,
                            size_t draw, uint64_t seed, double *out)
{
    /* The block must lie within the data set: checked before X is read. */
    if (first_row > total_rows || n > total_rows - first_row)
        return EMGMM_ERR_INVALID;
    return impute_draws(m, X, n, ldx, first_row, total_rows, draw, 1, seed,
                        out);
}

/* Posteriors (into proba, n x k) and log-densities (into logp) of every
 * row given its observed values; either may be NULL. */
static int evaluate_observed(const emgmm_model *m, const double *X, size_t n,
                             size_t ldx, double *proba, double *logp)
{
    int rc = check_impute_args(m, X, n, ldx, proba ? (void *)proba : logp);
    if (rc != EMGMM_OK)
        return rc;
    imputation im;
    rc = run_imputation_estep(m, X, n, ldx, 1, logp, &im);
    if (rc == EMGMM_OK && proba) /* every row was taken, in order */
        memcpy(proba, im.resp, n * m->k * sizeof(double));
    imputation_free(&im);
    return rc;
}

int emgmm_predict_proba_missing(const emgmm_model *m, const double *X,
                                size_t n, size_t ldx, double *proba)
{
    return evaluate_observed(m, X, n, ldx, proba, NULL);
}

int emgmm_score_samples_missing(const emgmm_model *m, const double *X,
                                size_t n, size_t ldx, double *logp)
{
    return evaluate_observed(m, X, n, ldx, NULL, logp);
}
