/*
 * The EM loop. Per iteration, as scikit-learn's GaussianMixture.fit:
 *   E-step  (responsibilities and the mean log-likelihood L_t of the
 *            current parameters, in one pass)
 *   M-step  (new parameters)
 *   stop when |L_t - L_{t-1}| < tol, or after max_iter iterations.
 * After the loop one more E-step scores the returned parameters; the best
 * of n_init restarts by that score is kept. With emgmm__set_fused(1) (off
 * by default: no faster on an idle machine, bench/RESULTS.md), in-memory
 * float64 fits without gaps make both steps of an iteration in one pass
 * over X (emgmm__fused_step, mstep.c), with the same loop around it.
 *
 * Everything the loop touches is allocated before it starts, except in
 * a streamed fit with missing values, which lays out the gaps of each
 * block as it reads it (their size is bounded by the block's, not n).
 */
#include "internal.h"
#include "emgmm_config.h"
#include "float32.h"
#include "rng.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <string.h>

void emgmm_params_default(emgmm_params *p)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    p->n_components = 0;
    p->covariance_type = EMGMM_COVARIANCE_FULL;
    p->tol = 1e-3;
    p->reg_covar = 1e-6;
    p->max_iter = 100;
    p->n_init = 1;
    p->init = EMGMM_INIT_KMEANS;
    p->init_model = NULL;
    p->seed = 0;
    p->n_threads = 0;
}

static void info_reset(emgmm_fit_info *info)
{
    memset(info, 0, sizeof *info);
    info->bad_component = -1;
    info->log_likelihood = NAN;
    info->lower_bound = NAN;
    info->bic = NAN;
    info->aic = NAN;
}

static int check_params(const emgmm_params *p, size_t n, size_t d,
                        size_t ldx, size_t *k)
{
    if (d == 0 || n == 0 || ldx < d)
        return EMGMM_ERR_INVALID;
    if (!emgmm_covariance_type_name(p->covariance_type) ||
        !emgmm_init_method_name(p->init))
        return EMGMM_ERR_INVALID;
    if (!(p->tol >= 0.0) || !(p->reg_covar >= 0.0) || p->max_iter < 0 ||
        p->n_init < 1 || p->n_threads < 0 || p->first_init < 0 ||
        p->n_init > INT_MAX - p->first_init || !isfinite(p->tol) ||
        !isfinite(p->reg_covar))
        return EMGMM_ERR_INVALID;
    if (p->init_model) {
        const emgmm_model *im = p->init_model;
        if (im->d != d ||
            (p->n_components != 0 && (size_t)p->n_components != im->k))
            return EMGMM_ERR_INVALID;
        *k = im->k;
    } else {
        if (p->n_components < 1)
            return EMGMM_ERR_INVALID;
        *k = (size_t)p->n_components;
    }
    return EMGMM_OK;
}

/* EMGMM_ERR_NONFINITE for infinity, and for NaN unless allow_nan;
 * EMGMM_ERR_RANGE when a column's range is so large that squared
 * deviations overflow (> 1e150), or so small but not zero that they
 * underflow (< 1e-150): covariances of such data cannot be represented,
 * so say so rather than fail later as a "singular" matrix or "too few
 * distinct samples". With allow_nan, the range is that of the observed
 * values, and a column with none is EMGMM_ERR_INVALID. */
static int check_data(const double *X, size_t n, size_t d, size_t ldx,
                      int allow_nan, int distributed)
{
    for (size_t j = 0; j < d; j++) {
        double lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            const double v = X[i * ldx + j];
            if (isnan(v) && allow_nan)
                continue;
            if (!isfinite(v))
                return EMGMM_ERR_NONFINITE;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        if (lo > hi) { /* nothing observed (here: see column_counts) */
            if (distributed)
                continue;
            return EMGMM_ERR_INVALID;
        }
        const double range = hi - lo; /* may overflow to inf: also too big */
        if (range > 1e150 || (range > 0.0 && range < 1e-150))
            return EMGMM_ERR_RANGE;
    }
    return EMGMM_OK;
}

/* What the EM loop runs on: the caller's data, or, with missing values,
 * a compact copy without the rows that have nothing observed, its gaps
 * filled (see missing.c), and their layout. */
typedef struct fit_data {
    const double *X;
    /* Float32 data (emgmm_fit_f32): X is NULL and Xf holds the rows; the
     * steps dispatch to float32.c, with f32 their extra work space. */
    const float *Xf;
    int f32_blas_ok;
    emgmm_f32_work f32;
    size_t n, ldx;
    const double *weight;
    double total_weight;
    double *filled;      /* owned copy (missing values only), n x d */
    double *weight_copy; /* owned, the kept rows' weights */
    double *column_mean; /* d: mean of each column's observed values */
    emgmm_gaps gaps;     /* n_incomplete == 0: no gaps, ordinary EM */
    size_t n_all_missing;
    size_t n_nan;        /* NaN values (missing values only) */
    size_t n_global;     /* rows over all processes (n with one) */
    /* A streamed fit (X is NULL): rows come from source, a block at a
     * time, and responsibilities are recomputed instead of kept. */
    emgmm_rows_fn source;
    emgmm_rows_fn weight_source; /* NULL: unweighted */
    void *source_data;
    int stream_missing;  /* NaN are missing values (p->missing) */
    double *block;       /* block_rows x d */
    double *block_resp;  /* block_rows x k */
    double *block_weight; /* block_rows (weight_source only) */
    double *sum_nk;      /* k: the last E-step's sum_i r_ik */
    double *sum_x;       /* k x d: its sum_i r_ik x_i */
    emgmm_model *old;    /* the parameters of the last E-step */
    /* Missing values, streamed: the gaps of the block in hand, the fill
     * of every gap (d), and the per-component scatters of a block
     * (k x d x d). */
    emgmm_gaps block_gaps;
    double *fill;
    double *gap_scatter;
} fit_data;

static void fit_data_free(fit_data *fd)
{
    emgmm__f32_work_free(&fd->f32);
    emgmm__free(fd->block);
    emgmm__free(fd->block_resp);
    emgmm__free(fd->block_weight);
    emgmm__free(fd->fill);
    emgmm__free(fd->gap_scatter);
    emgmm__gaps_free(&fd->block_gaps);
    emgmm__free(fd->sum_nk);
    emgmm__free(fd->sum_x);
    emgmm_free(&fd->old);
    emgmm__free(fd->filled);
    emgmm__free(fd->weight_copy);
    emgmm__free(fd->column_mean);
    emgmm__gaps_free(&fd->gaps);
}

/* Puts the column means into every gap: the fill k-means starts from,
 * the same for every restart. */
static void fill_gaps_with_column_means(fit_data *fd, size_t d)
{
    const emgmm_gaps *g = &fd->gaps;
    for (size_t s = 0; s < g->n_incomplete; s++) {
        const size_t p = g->slot_pattern[s];
        for (size_t a = g->coord_first[p]; a < g->coord_first[p + 1]; a++)
            fd->filled[g->slot_row[s] * d + g->coords[a]] =
                fd->column_mean[g->coords[a]];
    }
}

/* Sets up fd for data with NaN (p->missing): copies the rows with
 * something observed and finds their gaps. */
static int prepare_missing(const emgmm_params *p, const double *X, size_t n,
                           size_t d, size_t ldx, size_t k,
                           emgmm_covariance_type type, int n_threads,
                           fit_data *fd)
{
    size_t n_nan = 0, kept = 0;
    for (size_t i = 0; i < n; i++) {
        size_t row_nan = 0;
        for (size_t j = 0; j < d; j++)
            row_nan += isnan(X[i * ldx + j]) != 0;
        n_nan += row_nan;
        if (row_nan == d)
            fd->n_all_missing++;
    }
    fd->n_nan = n_nan;
    if (n_nan == 0)
        return EMGMM_OK; /* the ordinary fit, untouched */
    kept = n - fd->n_all_missing;
    fd->filled = emgmm__malloc(kept * d, sizeof(double));
    fd->column_mean = emgmm__calloc(d, sizeof(double));
    if (p->sample_weight)
        fd->weight_copy = emgmm__malloc(kept, sizeof(double));
    size_t *observed = emgmm__calloc(d, sizeof(size_t));
    int rc = EMGMM_ERR_NOMEM;
    if (!fd->filled || !fd->column_mean || !observed ||
        (p->sample_weight && !fd->weight_copy))
        goto done;
    size_t t = 0;
    for (size_t i = 0; i < n; i++) {
        const double *x = X + i * ldx;
        size_t row_nan = 0;
        for (size_t j = 0; j < d; j++)
            row_nan += isnan(x[j]) != 0;
        if (row_nan == d)
            continue;
        memcpy(fd->filled + t * d, x, d * sizeof(double));
        if (fd->weight_copy)
            fd->weight_copy[t] = p->sample_weight[i];
        for (size_t j = 0; j < d; j++)
            if (!isnan(x[j])) {
                fd->column_mean[j] += x[j];
                observed[j]++;
            }
        t++;
    }
    for (size_t j = 0; j < d; j++) /* none observed here: another process
                                      has some (checked), any fill will do */
        fd->column_mean[j] = observed[j] ? fd->column_mean[j] /
                                               (double)observed[j]
                                         : 0.0;
    rc = emgmm__gaps_build(&fd->gaps, fd->filled, kept, d, d, k, type,
                           n_threads);
    if (rc != EMGMM_OK)
        goto done;
    fill_gaps_with_column_means(fd, d);
    fd->X = fd->filled;
    fd->n = kept;
    fd->ldx = d;
    if (fd->weight_copy) {
        fd->weight = fd->weight_copy;
        fd->total_weight = 0.0;
        for (size_t i = 0; i < kept; i++)
            fd->total_weight += fd->weight_copy[i];
    } else {
        fd->total_weight = (double)kept;
    }
done:
    emgmm__free(observed);
    return rc;
}

/* Sums *ll over the processes and agrees on the status of a pass (the
 * first failing code of any process, as emgmm__collective) in one
 * allreduce. */
static int reduce_pass(const emgmm_workspace *ws, double *ll, int rc)
{
    double v[17] = {0.0}; /* the sum; v[1 + c]: processes that failed -c */
    v[0] = ll ? *ll : 0.0;
    if (rc != EMGMM_OK)
        v[1 + ((-rc) & 15)] = 1.0;
    if (emgmm__allreduce(ws, v, 17) != EMGMM_OK)
        return EMGMM_ERR_IO;
    if (ll)
        *ll = v[0];
    for (int c = 1; c < 16; c++)
        if (v[1 + c] != 0.0)
            return -c;
    return EMGMM_OK;
}

/* Reads the block of rows [i0, i0 + rows) (and their weights) and turns
 * it into responsibilities under m (times the weights) in
 * fd->block_resp, the block's log-likelihood in *ll. With missing
 * values, the rows with nothing observed are dropped first (*kept rows
 * stay, at the front of the block), the gaps are laid out in
 * fd->block_gaps and filled with fd->fill: the M-step's second pass
 * calls this again with the E-step's parameters and gets the same bits.
 * The gaps are laid out again for every block (allocated here, of the
 * block's size): keeping them from the E-step would take memory growing
 * with n. */
static int stream_block(const emgmm_model *m, fit_data *fd,
                        emgmm_workspace *ws, size_t i0, size_t rows,
                        size_t *kept, double *ll)
{
    const size_t k = m->k, d = m->d;
    double *w = fd->weight_source ? fd->block_weight : NULL;
    *kept = 0;
    *ll = 0.0;
    if (fd->source(i0, rows, fd->block, fd->source_data) != 0 ||
        (w && fd->weight_source(i0, rows, w, fd->source_data) != 0))
        return EMGMM_ERR_IO;
    size_t t = rows;
    if (fd->stream_missing) {
        t = 0;
        for (size_t i = 0; i < rows; i++) {
            const double *x = fd->block + i * d;
            size_t row_nan = 0;
            for (size_t j = 0; j < d; j++)
                row_nan += isnan(x[j]) != 0;
            if (row_nan == d)
                continue; /* no information: left out, as in emgmm_fit */
            if (t != i) {
                memmove(fd->block + t * d, x, d * sizeof(double));
                if (w)
                    w[t] = w[i];
            }
            t++;
        }
        emgmm__gaps_free(&fd->block_gaps);
        if (t == 0)
            return EMGMM_OK;
        int rc = emgmm__gaps_build(&fd->block_gaps, fd->block, t, d, d, k,
                                   m->type, 1);
        if (rc != EMGMM_OK)
            return rc;
        const emgmm_gaps *g = &fd->block_gaps;
        for (size_t sl = 0; sl < g->n_incomplete; sl++) {
            const size_t pat = g->slot_pattern[sl];
            for (size_t a = g->coord_first[pat]; a < g->coord_first[pat + 1];
                 a++)
                fd->block[g->slot_row[sl] * d + g->coords[a]] =
                    fd->fill[g->coords[a]];
        }
    }
    *kept = t;
    if (fd->stream_missing && fd->block_gaps.n_incomplete > 0) {
        /* The gaps kernels loop over a workspace's blocks: this block is
         * one (t <= block_rows). */
        emgmm_workspace one = *ws;
        one.n_blocks = 1;
        return emgmm__estep_gaps(m, fd->block, d, w, fd->block_resp, &one,
                                 &fd->block_gaps, ll, NULL);
    }
    *ll = emgmm__estep_block(m, fd->block, t, d, ws->proj, w,
                             fd->block_resp, NULL);
    return EMGMM_OK;
}

/* Streamed E-step: the log-likelihood and the first M-step sums (N_k,
 * sum r x, with each gap counted at its conditional means as
 * emgmm__mstep_gaps does) of every block; the blocks' responsibilities
 * are dropped. */
static int e_step_streamed(const emgmm_model *m, fit_data *fd,
                           emgmm_workspace *ws, double *ll)
{
    const size_t k = m->k, d = m->d, br = ws->block_rows;
    emgmm__model_copy(fd->old, m);
    memset(fd->sum_nk, 0, k * sizeof(double));
    memset(fd->sum_x, 0, k * d * sizeof(double));
    if (fd->stream_missing) {
        /* Gaps filled with the mixture's mean: finite and near the rows,
         * which keeps the cancellation in the marginal densities small
         * (see missing.c), and the same for both passes. */
        for (size_t j = 0; j < d; j++) {
            double v = 0.0;
            for (size_t c = 0; c < k; c++)
                v += m->weights[c] * m->means[c * d + j];
            fd->fill[j] = v;
        }
    }
    double total = 0.0;
    int rc = EMGMM_OK;
    for (size_t i0 = 0; rc == EMGMM_OK && i0 < fd->n; i0 += br) {
        const size_t rows = fd->n - i0 < br ? fd->n - i0 : br;
        size_t t;
        double block_ll;
        rc = stream_block(m, fd, ws, i0, rows, &t, &block_ll);
        if (rc != EMGMM_OK || t == 0)
            continue;
        total += block_ll;
        for (size_t i = 0; i < t; i++)
            for (size_t c = 0; c < k; c++)
                fd->sum_nk[c] += fd->block_resp[i * k + c];
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)d,
                    (int)t, 1.0, fd->block_resp, (int)k, fd->block,
                    (int)d, 1.0, fd->sum_x, (int)d);
        if (fd->stream_missing && fd->block_gaps.n_incomplete > 0) {
            const double *shift = emgmm__gaps_mean_shift(
                &fd->block_gaps, fd->block, d, fd->block_resp, k);
            for (size_t i = 0; i < k * d; i++)
                fd->sum_x[i] += shift[i];
        }
    }
    rc = reduce_pass(ws, &total, rc);
    *ll = total;
    return rc;
}

/* Streamed M-step: weights and means from the E-step's sums, then a
 * second pass for the centred scatter about the new means, with each
 * block's responsibilities (and, with gaps, conditional means and
 * covariances) recomputed from the E-step's parameters (the same bits as
 * in the E-step). Centring on the new means keeps data far from the
 * origin from losing digits, as in mstep.c. */
static int m_step_streamed(emgmm_model *m, fit_data *fd, double reg_covar,
                           emgmm_workspace *ws, int *bad)
{
    const size_t k = m->k, d = m->d, br = ws->block_rows;
    double total;
    memcpy(m->log_norm, fd->sum_nk, k * sizeof(double));
    memcpy(m->means, fd->sum_x, k * d * sizeof(double));
    int rc = emgmm__mstep_finish_means(m, ws, &total);
    if (rc != EMGMM_OK)
        return rc;
    double *raw = emgmm__mstep_raw(m, ws);
    int local_bad = -1;
    for (size_t i0 = 0; rc == EMGMM_OK && i0 < fd->n; i0 += br) {
        const size_t rows = fd->n - i0 < br ? fd->n - i0 : br;
        size_t t;
        double block_ll;
        rc = stream_block(fd->old, fd, ws, i0, rows, &t, &block_ll);
        if (rc != EMGMM_OK || t == 0)
            continue;
        if (fd->stream_missing && fd->block_gaps.n_incomplete > 0)
            rc = emgmm__gaps_scatter_add(m, fd->block, d, fd->block_resp,
                                         ws, &fd->block_gaps,
                                         fd->gap_scatter, raw, &local_bad);
        else
            emgmm__mstep_scatter_add(m, fd->block, t, d, fd->block_resp,
                                     raw, ws);
    }
    if ((rc = reduce_pass(ws, NULL, rc)) != EMGMM_OK) {
        *bad = local_bad;
        return rc;
    }
    rc = emgmm__allreduce(ws, raw, emgmm__mstep_raw_size(m->type, k, d));
    if (rc != EMGMM_OK)
        return rc;
    return emgmm__mstep_finish(m, raw, total, reg_covar, ws, bad);
}

/* One E-step (total log-likelihood in *ll, over every process of a
 * distributed fit), with or without gaps. A failure on any process is a
 * failure on all. */
static int e_step(const emgmm_model *m, fit_data *fd, double *resp,
                  emgmm_workspace *ws, double *ll)
{
    if (fd->source)
        return e_step_streamed(m, fd, ws, ll);
    int rc = EMGMM_OK;
    double sums[2] = {0.0, 0.0}; /* log-likelihood, failed processes */
    if (fd->Xf)
        sums[0] = emgmm__estep_f32(m, fd->Xf, fd->n, fd->ldx, fd->weight,
                                   resp, ws, &fd->f32);
    else if (fd->gaps.n_incomplete == 0)
        sums[0] = emgmm__estep(m, fd->X, fd->n, fd->ldx, fd->weight, resp,
                               ws);
    else
        rc = emgmm__estep_gaps(m, fd->X, fd->ldx, fd->weight, resp, ws,
                               &fd->gaps, &sums[0], NULL);
    sums[1] = rc != EMGMM_OK;
    int reduced = emgmm__allreduce(ws, sums, 2);
    if (reduced != EMGMM_OK)
        return reduced;
    *ll = sums[0];
    return sums[1] != 0.0 ? EMGMM_ERR_SINGULAR : EMGMM_OK;
}

static int m_step(emgmm_model *m, fit_data *fd, const double *resp,
                  double reg_covar, emgmm_workspace *ws, int *bad)
{
    if (fd->source)
        return m_step_streamed(m, fd, reg_covar, ws, bad);
    if (fd->Xf)
        return emgmm__mstep_f32(m, fd->Xf, fd->n, fd->ldx, resp, reg_covar,
                                ws, &fd->f32, bad);
    if (fd->gaps.n_incomplete == 0)
        return emgmm__mstep(m, fd->X, fd->n, fd->ldx, resp, reg_covar, ws,
                            bad);
    return emgmm__mstep_gaps(m, fd->filled, fd->ldx, resp, reg_covar, ws,
                             &fd->gaps, bad);
}

/* The outcome of one restart. */
typedef struct run_result {
    int n_iter;
    int converged;
    double lower_bound;
    double score; /* mean log-likelihood of the final parameters */
} run_result;

/* Components with less than one sample's share of the weight: their
 * responsibilities sum to under 1 (under the mean sample weight with
 * weights). Returns how many, and the first in *first. */
static int count_empty(const emgmm_model *m, size_t n, int *first)
{
    int count = 0;
    *first = -1;
    for (size_t c = 0; c < m->k; c++)
        if (m->weights[c] * (double)n < 1.0) {
            if (count++ == 0)
                *first = (int)c;
        }
    return count;
}

/* One restart: initial parameters into m, then EM. */
static int run_em(const emgmm_params *p, int run, fit_data *fd,
                  emgmm_model *m, double *resp, emgmm_workspace *ws,
                  run_result *out, int *bad)
{
    int rc;
    const double *X = fd->X, *w = fd->weight;
    const size_t n = fd->n, ldx = fd->ldx;
    const double total_weight = fd->total_weight;
    if (fd->gaps.n_incomplete > 0)
        fill_gaps_with_column_means(fd, m->d);
    if (p->init_model) {
        emgmm__model_copy(m, p->init_model);
    } else {
        emgmm_rng rng;
        /* Restart first_init + run's stream: restarts run one per call
         * draw the starts of one call's restarts. */
        emgmm__rng_seed(&rng, p->seed, (uint64_t)(p->first_init + run));
        double *wide = NULL; /* float32 data: widened for the start only */
        if (fd->Xf) {
            wide = emgmm__malloc(n, m->d * sizeof(double));
            if (!wide)
                return EMGMM_ERR_NOMEM;
            emgmm__widen_rows(fd->Xf, n, m->d, ldx, wide);
        }
        rc = emgmm__init_resp(p->init, wide ? wide : X, n, m->d,
                              wide ? m->d : ldx, w, m->k, ws->n_threads,
                              &rng, resp);
        emgmm__free(wide);
        if (rc != EMGMM_OK)
            return rc;
        if (w) /* the M-step sums weighted responsibilities */
            for (size_t i = 0; i < n; i++)
                for (size_t c = 0; c < m->k; c++)
                    resp[i * m->k + c] *= w[i];
        /* With gaps: from the column-mean fill, as k-means saw it. These
         * responsibilities are not an E-step's: its moments (left by the
         * previous restart's last E-step) do not apply. */
        ws->moments_ready = 0;
        rc = fd->Xf ? emgmm__mstep_f32(m, fd->Xf, n, ldx, resp,
                                       p->reg_covar, ws, &fd->f32, bad)
                    : emgmm__mstep(m, X, n, ldx, resp, p->reg_covar, ws,
                                   bad);
        if (rc != EMGMM_OK)
            return rc;
    }

    double previous = -INFINITY;
    int first = 1;
    out->n_iter = 0;
    out->converged = 0;
    out->lower_bound = NAN;
    const emgmm_fit_record *rec = p->init_model ? &p->init_model->fit : NULL;
    if (p->resume && rec && rec->present && rec->n_iter > 0) {
        /* Go on where the recorded fit stands (a converged fit stays). */
        first = rec->converged ? p->max_iter + 1 : rec->n_iter + 1;
        out->converged = rec->converged;
        out->n_iter = rec->n_iter;
        if (isfinite(rec->lower_bound)) {
            previous = rec->lower_bound;
            out->lower_bound = rec->lower_bound;
        }
    }
    m->fit.present = 1; /* the record a checkpoint needs (see internal.h) */
    m->fit.converged = 0;
    m->fit.max_iter = p->max_iter;
    m->fit.log_likelihood = NAN;
    m->fit.tol = p->tol;
    m->fit.reg_covar = p->reg_covar;
    m->fit.seed = p->seed;
    for (int it = first; it <= p->max_iter; it++) {
        double t0 = emgmm__now(), total;
        if (ws->slots) {
            /* Both steps in one pass over X (mstep.c): the E-step's
             * total of theta_t and theta_{t+1}, as the pair below. */
            rc = emgmm__fused_step(m, X, n, ldx, w, resp, p->reg_covar, ws,
                                   &total, bad);
        } else {
            rc = e_step(m, fd, resp, ws, &total);
            if (rc == EMGMM_OK)
                rc = m_step(m, fd, resp, p->reg_covar, ws, bad);
        }
        if (rc != EMGMM_OK)
            return rc;
        const double current = total / total_weight;
        if (p->fail_on_empty && count_empty(m, fd->n_global, bad) > 0)
            return EMGMM_ERR_EMPTY_COMPONENT;
        double change = current - previous;
        previous = current;
        out->n_iter = it;
        out->lower_bound = current;
        m->fit.n_iter = it;
        m->fit.lower_bound = current;
        /* Stopping is collective: a signal reaches the processes of a
         * distributed fit at slightly different times, and each must take
         * part in the same sums (whether or not it has a callback). */
        double stop = 0.0;
        if (p->progress) {
            emgmm_iteration iter = {p->first_init + run, it, current, change,
                                    emgmm__now() - t0, m};
            stop = p->progress(&iter, p->progress_data) != 0;
        }
        if ((rc = emgmm__allreduce(ws, &stop, 1)) != EMGMM_OK)
            return rc;
        if (stop != 0.0)
            return EMGMM_ERR_CANCELLED;
        if (fabs(change) < p->tol) {
            out->converged = 1;
            break;
        }
    }
    double total;
    rc = e_step(m, fd, resp, ws, &total);
    out->score = total / total_weight;
    return rc;
}

/* In a distributed fit, every process learns whether any failed, and
 * all return the same status (the first by code). One process: rc. */
int emgmm__collective(emgmm_allreduce_fn allreduce, void *data, int rc)
{
    if (!allreduce)
        return rc;
    double seen[16] = {0.0}; /* seen[c]: processes that failed with -c */
    if (rc != EMGMM_OK)
        seen[(-rc) & 15] = 1.0;
    if (allreduce(seen, 16, data) != 0)
        return EMGMM_ERR_IO;
    for (int c = 1; c < 16; c++)
        if (seen[c] != 0.0)
            return -c;
    return EMGMM_OK;
}

static int collective(const emgmm_params *p, int rc)
{
    return emgmm__collective(p->allreduce, p->allreduce_data, rc);
}

/* A distributed fit with missing values: a column may have no observed
 * value on one process, but not on all. */
static int check_observed_somewhere(const emgmm_params *p, const double *X,
                                    size_t n, size_t d, size_t ldx)
{
    double *count = emgmm__calloc(d, sizeof(double));
    if (!count)
        return EMGMM_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            count[j] += !isnan(X[i * ldx + j]);
    int rc = p->allreduce(count, d, p->allreduce_data) != 0 ? EMGMM_ERR_IO
                                                            : EMGMM_OK;
    for (size_t j = 0; rc == EMGMM_OK && j < d; j++)
        if (count[j] == 0.0)
            rc = EMGMM_ERR_INVALID;
    emgmm__free(count);
    return rc;
}

/* Everything after the data are in place (fd): allocation, the
 * restarts, and the summary. Takes over fd (freed here); rc is the status
 * so far, already agreed on by every process. */
static int fit_run(const emgmm_params *p, fit_data *fd, size_t k, size_t d,
                   emgmm_covariance_type type, int loop_threads, int rc,
                   double t_start, emgmm_model **model,
                   emgmm_fit_info *info)
{
    const int saved_blas_threads = emgmm__get_blas_threads();
    if (EMGMM_HAVE_OPENMP && loop_threads > 1)
        emgmm__set_blas_threads(1);
    else if (p->n_threads > 0)
        emgmm__set_blas_threads(p->n_threads);

    emgmm_model *current = NULL, *best = NULL;
    emgmm_workspace ws = {0};
    double *resp = NULL;
    if (rc == EMGMM_OK && !fd->source) {
        resp = emgmm__malloc(fd->n * k, sizeof(double));
        rc = resp ? EMGMM_OK : EMGMM_ERR_NOMEM;
    }
    if (rc == EMGMM_OK)
        rc = emgmm__workspace_alloc(&ws, fd->n, k, d, loop_threads);
    /* The fused iteration: in-memory float64 data without gaps (the
     * same choice on every process: n_nan is the total). */
    if (rc == EMGMM_OK && emgmm__fused() && !fd->source && !fd->Xf &&
        fd->n_nan == 0)
        rc = emgmm__fused_alloc(&ws, fd->n, type, k, d);
    if (rc == EMGMM_OK && fd->Xf)
        rc = emgmm__f32_work_alloc(&fd->f32, &ws, fd->n, k, d, type,
                                   fd->f32_blas_ok);
    if (rc == EMGMM_OK && fd->source) {
        fd->block = emgmm__malloc(ws.block_rows, d * sizeof(double));
        fd->block_resp = emgmm__malloc(ws.block_rows, k * sizeof(double));
        fd->sum_nk = emgmm__malloc(k, sizeof(double));
        fd->sum_x = emgmm__malloc(k, d * sizeof(double));
        if (fd->weight_source)
            fd->block_weight = emgmm__malloc(ws.block_rows, sizeof(double));
        if (fd->stream_missing) {
            fd->fill = emgmm__malloc(d, sizeof(double));
            fd->gap_scatter = emgmm__malloc(k * d, d * sizeof(double));
        }
        if (!fd->block || !fd->block_resp || !fd->sum_nk || !fd->sum_x ||
            (fd->weight_source && !fd->block_weight) ||
            (fd->stream_missing && (!fd->fill || !fd->gap_scatter)))
            rc = EMGMM_ERR_NOMEM;
        if (rc == EMGMM_OK)
            rc = emgmm__model_alloc(type, k, d, &fd->old);
    }
    if (rc == EMGMM_OK)
        rc = emgmm__model_alloc(type, k, d, &current);
    if (rc == EMGMM_OK)
        rc = emgmm__model_alloc(type, k, d, &best);
    if (rc == EMGMM_OK) {
        ws.reduce = p->allreduce;
        ws.reduce_data = p->allreduce_data;
    }
    rc = collective(p, rc);

    const int n_init = p->init_model ? 1 : p->n_init;
    double best_score = -INFINITY;
    for (int run = 0; rc == EMGMM_OK && run < n_init; run++) {
        run_result r;
        rc = run_em(p, run, fd, current, resp, &ws, &r,
                    &info->bad_component);
        if (rc != EMGMM_OK)
            break;
        if (run == 0 || r.score > best_score) {
            best_score = r.score;
            emgmm__model_copy(best, current);
            info->n_iter = r.n_iter;
            info->converged = r.converged;
            info->lower_bound = r.lower_bound;
            info->log_likelihood = r.score;
            info->best_init = p->first_init + run;
        }
    }

    emgmm__workspace_free(&ws);
    emgmm__free(resp);
    emgmm_free(&current);
    fit_data_free(fd);
    if (EMGMM_HAVE_OPENMP && loop_threads > 1)
        emgmm__set_blas_threads(saved_blas_threads);
    info->seconds = emgmm__now() - t_start;
    if (rc != EMGMM_OK) {
        emgmm_free(&best);
        return rc;
    }
    int first_empty;
    info->n_empty = count_empty(best, fd->n_global, &first_empty);
    const double total_weight = fd->total_weight;
    const double n_params = (double)emgmm_n_parameters(best);
    info->bic = -2.0 * info->log_likelihood * total_weight +
                n_params * log(total_weight);
    info->aic = -2.0 * info->log_likelihood * total_weight + 2.0 * n_params;
    best->fit.present = 1;
    best->fit.converged = info->converged;
    best->fit.n_iter = info->n_iter;
    best->fit.max_iter = p->max_iter;
    best->fit.log_likelihood = info->log_likelihood;
    best->fit.lower_bound = info->lower_bound;
    best->fit.tol = p->tol;
    best->fit.reg_covar = p->reg_covar;
    best->fit.seed = p->seed;
    *model = best;
    return EMGMM_OK;
}

/* The opening of every fit: info (or a local stand-in) reset, *model
 * NULL; EMGMM_ERR_INVALID for a missing argument. */
static int open_fit(const emgmm_params *p, int has_data,
                    emgmm_model **model, emgmm_fit_info **info,
                    emgmm_fit_info *local)
{
    if (!*info)
        *info = local;
    info_reset(*info);
    if (!model)
        return EMGMM_ERR_INVALID;
    *model = NULL;
    return p && has_data ? EMGMM_OK : EMGMM_ERR_INVALID;
}

/* emgmm_fit and emgmm_fit_f32: the data in X (float64) or Xf (float32,
 * X NULL). */
static int fit_memory(const emgmm_params *p, const double *X,
                      const float *Xf, size_t n, size_t d, size_t ldx,
                      emgmm_model **model, emgmm_fit_info *info)
{
    emgmm_fit_info local;
    if (open_fit(p, X != NULL || Xf != NULL, model, &info, &local) !=
        EMGMM_OK)
        return EMGMM_ERR_INVALID;
    const double t_start = emgmm__now();

    size_t k = 0;
    int rc = check_params(p, n, d, ldx, &k);
    /* A warm start fits the starting model's covariance type. */
    const emgmm_covariance_type type =
        p->init_model ? p->init_model->type : p->covariance_type;
    if (rc != EMGMM_OK)
        return rc;
    const int distributed = p->allreduce != NULL;
    if (distributed && (!p->init_model || p->n_init != 1))
        return EMGMM_ERR_INVALID; /* the same answer on every process */
    int f32_blas_ok = 0;
    rc = Xf ? emgmm__check_data_f32(Xf, n, d, ldx, p->missing, &f32_blas_ok)
            : check_data(X, n, d, ldx, p->missing, distributed);
    double total_weight = (double)n; /* this process's share, for now */
    if (rc == EMGMM_OK && p->sample_weight) {
        total_weight = 0.0;
        for (size_t i = 0; i < n; i++) {
            const double wi = p->sample_weight[i];
            if (!(wi >= 0.0) || !isfinite(wi))
                rc = EMGMM_ERR_INVALID;
            total_weight += wi;
        }
    }
    if (rc == EMGMM_OK && distributed && p->missing && X)
        rc = check_observed_somewhere(p, X, n, d, ldx);
    if ((rc = collective(p, rc)) != EMGMM_OK)
        return rc;
    if (!distributed && !(total_weight > 0.0))
        return EMGMM_ERR_INVALID; /* (distributed: checked on the sum) */

    /* Row-block loops run on OpenMP threads, each calling a one-thread
     * BLAS; without OpenMP the BLAS's own threads do the work. Either way
     * the two never multiply into more threads than asked for. */
    int loop_threads = emgmm__work_threads(p->n_threads, n, k, d);
    fit_data fd = {.X = X, .Xf = Xf, .f32_blas_ok = f32_blas_ok, .n = n,
                   .ldx = ldx, .weight = p->sample_weight,
                   .total_weight = total_weight};
    /* Float32 data have no NaN here (refused by the check). */
    if (p->missing && !Xf)
        rc = prepare_missing(p, X, n, d, ldx, k, type, loop_threads, &fd);
    if (rc == EMGMM_OK && fd.n == 0)
        rc = EMGMM_ERR_INVALID; /* this process has only empty rows */
    if ((rc = collective(p, rc)) == EMGMM_OK && distributed) {
        double counts[4] = {(double)fd.n, (double)fd.n_all_missing,
                            fd.total_weight, (double)fd.n_nan};
        if (p->allreduce(counts, 4, p->allreduce_data) != 0)
            rc = EMGMM_ERR_IO;
        fd.n_global = (size_t)counts[0];
        fd.n_all_missing = (size_t)counts[1];
        fd.total_weight = counts[2];
        fd.n_nan = (size_t)counts[3];
    } else {
        fd.n_global = fd.n;
    }
    info->n_rows_all_missing = fd.n_all_missing;
    info->n_missing_values = fd.n_nan;
    if (rc == EMGMM_OK && fd.n_global < k)
        rc = EMGMM_ERR_TOO_FEW_SAMPLES;
    if (rc == EMGMM_OK && !(fd.total_weight > 0.0))
        rc = EMGMM_ERR_INVALID; /* all the weight on rows without values */

    return fit_run(p, &fd, k, d, type, loop_threads, rc, t_start, model,
                   info);
}

int emgmm_fit(const emgmm_params *p, const double *X, size_t n, size_t d,
              size_t ldx, emgmm_model **model, emgmm_fit_info *info)
{
    return fit_memory(p, X, NULL, n, d, ldx, model, info);
}

int emgmm_fit_f32(const emgmm_params *p, const float *X, size_t n, size_t d,
                  size_t ldx, emgmm_model **model, emgmm_fit_info *info)
{
    return fit_memory(p, NULL, X, n, d, ldx, model, info);
}

/* What check_streamed learns of the rows in its pass. */
typedef struct stream_counts {
    size_t kept;          /* rows with something observed */
    size_t all_missing;   /* rows with nothing observed (missing only) */
    size_t nan;           /* NaN values (missing only) */
    double total_weight;  /* of the kept rows */
} stream_counts;

/* The checks of emgmm_fit (check_data, the weights, the columns with
 * nothing observed), made block by block on streamed rows, and the row
 * counts and total weight of the rows the fit keeps (this process's). */
static int check_streamed(const emgmm_params *p, size_t n, size_t d,
                          emgmm_rows_fn read_rows,
                          emgmm_rows_fn read_weights, void *user,
                          stream_counts *out)
{
    const size_t br = 4096;
    double *block = emgmm__malloc(br, d * sizeof(double));
    double *w = emgmm__malloc(br, sizeof(double));
    /* lo, hi and the count of observed values of each column */
    double *range = emgmm__malloc(3 * d, sizeof(double));
    if (!block || !w || !range) {
        emgmm__free(block);
        emgmm__free(w);
        emgmm__free(range);
        return collective(p, EMGMM_ERR_NOMEM);
    }
    for (size_t j = 0; j < d; j++) {
        range[j] = INFINITY;
        range[d + j] = -INFINITY;
        range[2 * d + j] = 0.0;
    }
    memset(out, 0, sizeof *out);
    int rc = EMGMM_OK;
    for (size_t i0 = 0; rc == EMGMM_OK && i0 < n; i0 += br) {
        const size_t rows = n - i0 < br ? n - i0 : br;
        if (read_rows(i0, rows, block, user) != 0 ||
            (read_weights && read_weights(i0, rows, w, user) != 0)) {
            rc = EMGMM_ERR_IO;
            break;
        }
        for (size_t i = 0; rc == EMGMM_OK && i < rows; i++) {
            size_t row_nan = 0;
            for (size_t j = 0; j < d; j++) {
                const double v = block[i * d + j];
                if (isnan(v) && p->missing) {
                    row_nan++;
                    continue;
                }
                if (!isfinite(v)) {
                    rc = EMGMM_ERR_NONFINITE;
                    break;
                }
                range[j] = v < range[j] ? v : range[j];
                range[d + j] = v > range[d + j] ? v : range[d + j];
                range[2 * d + j] += 1.0;
            }
            const double wi = read_weights ? w[i] : 1.0;
            if (rc == EMGMM_OK && (!(wi >= 0.0) || !isfinite(wi)))
                rc = EMGMM_ERR_INVALID;
            out->nan += row_nan;
            if (row_nan == d) {
                out->all_missing++;
            } else {
                out->kept++;
                out->total_weight += wi;
            }
        }
    }
    /* Each process checks the range of its own rows, as check_data; a
     * column with nothing observed here must have values elsewhere. */
    for (size_t j = 0; rc == EMGMM_OK && j < d; j++) {
        if (range[2 * d + j] == 0.0) {
            if (!p->allreduce)
                rc = EMGMM_ERR_INVALID;
            continue;
        }
        const double spread = range[d + j] - range[j];
        if (spread > 1e150 || (spread > 0.0 && spread < 1e-150))
            rc = EMGMM_ERR_RANGE;
    }
    if (rc == EMGMM_OK && out->kept == 0)
        rc = EMGMM_ERR_INVALID; /* only rows without values, as emgmm_fit */
    rc = collective(p, rc);
    if (rc == EMGMM_OK && p->allreduce && p->missing) {
        if (p->allreduce(range + 2 * d, d, p->allreduce_data) != 0)
            rc = EMGMM_ERR_IO;
        for (size_t j = 0; rc == EMGMM_OK && j < d; j++)
            if (range[2 * d + j] == 0.0)
                rc = EMGMM_ERR_INVALID;
    }
    emgmm__free(block);
    emgmm__free(w);
    emgmm__free(range);
    return rc;
}

int emgmm_fit_streamed_weighted(const emgmm_params *p, size_t n, size_t d,
                                emgmm_rows_fn read_rows,
                                emgmm_rows_fn read_weights, void *user,
                                emgmm_model **model, emgmm_fit_info *info)
{
    emgmm_fit_info local;
    if (open_fit(p, read_rows != NULL, model, &info, &local) != EMGMM_OK)
        return EMGMM_ERR_INVALID;
    const double t_start = emgmm__now();
    size_t k = 0;
    int rc = check_params(p, n, d, d, &k);
    if (rc != EMGMM_OK)
        return rc;
    /* Starts come from a sample (the same answer on every process);
     * weights are streamed, never an n-long array. */
    if (!p->init_model || p->n_init != 1 || p->sample_weight)
        return EMGMM_ERR_INVALID;
    stream_counts counts = {0, 0, 0, 0.0};
    if ((rc = check_streamed(p, n, d, read_rows, read_weights, user,
                             &counts)) != EMGMM_OK)
        return rc;

    fit_data fd = {.n = n, .ldx = d, .total_weight = counts.total_weight,
                   .n_global = counts.kept,
                   .n_all_missing = counts.all_missing, .n_nan = counts.nan,
                   .source = read_rows, .weight_source = read_weights,
                   .source_data = user, .stream_missing = p->missing != 0};
    if (p->allreduce) {
        double sums[4] = {(double)counts.kept, (double)counts.all_missing,
                          counts.total_weight, (double)counts.nan};
        if (p->allreduce(sums, 4, p->allreduce_data) != 0)
            rc = EMGMM_ERR_IO;
        fd.n_global = (size_t)sums[0];
        fd.n_all_missing = (size_t)sums[1];
        fd.total_weight = sums[2];
        fd.n_nan = (size_t)sums[3];
    }
    info->n_rows_all_missing = fd.n_all_missing;
    info->n_missing_values = fd.n_nan;
    if (rc == EMGMM_OK && fd.n_global < k)
        rc = EMGMM_ERR_TOO_FEW_SAMPLES;
    if (rc == EMGMM_OK && !(fd.total_weight > 0.0))
        rc = EMGMM_ERR_INVALID; /* all the weight on rows without values */
    /* One block at a time: the BLAS calls on it use the threads. */
    return fit_run(p, &fd, k, d, p->init_model->type, 1, rc, t_start, model,
                   info);
}

int emgmm_fit_streamed(const emgmm_params *p, size_t n, size_t d,
                       emgmm_rows_fn read_rows, void *user,
                       emgmm_model **model, emgmm_fit_info *info)
{
    return emgmm_fit_streamed_weighted(p, n, d, read_rows, NULL, user, model,
                                       info);
}
