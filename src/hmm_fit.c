/*
 * Baum-Welch for Gaussian HMMs, with hmmlearn 0.3.3's model: its
 * initialisation letters, its priors and its order of operations (E-step,
 * then M-step, then the convergence test on the E-step's total).
 *
 * M-step (hmmlearn's GaussianHMM._do_mstep), with g_t(c) the state
 * posteriors, N_c = sum_t g_t(c), and d_c = mu_c - means_prior:
 *   pi_j   proportional to max(startprob_prior - 1 + sum_seq g_1(j), 0)
 *   A_ij   proportional to max(transmat_prior - 1 + xi_ij, 0)
 *   mu_c   = (means_weight * means_prior + sum_t g_t(c) x_t)
 *            / (means_weight + N_c)
 *   full:  Sigma_c = (covars_prior J + S_c + means_weight d_c d_c^T)
 *                    / (max(covars_weight - D, 0) + N_c)
 *          with S_c = sum_t g_t(c) (x_t - mu_c)(x_t - mu_c)^T and J the
 *          all-ones matrix: hmmlearn adds the scalar prior to every entry,
 *          off the diagonal too, and so does this (README);
 *   tied:  (covars_prior J + sum_c (S_c + means_weight d_c d_c^T))
 *          / (max(covars_weight - D, 0) + sum_c N_c);
 *   diag:  (covars_prior + S_c,jj + means_weight d_cj^2)
 *          / max(max(covars_weight - 1, 0) + N_c, 1e-5);
 *   spherical: the mean over j of the diag values.
 * hmmlearn sums x x^T uncentred and subtracts; here S_c comes from the
 * mixture's two-pass kernels (rows centred on the new mean), the same
 * value without the cancellation far from the origin. Zeros in pi and A
 * stay zero.
 *
 * Where hmmlearn would put NaN or zeros into a model, this keeps the
 * previous value instead (and counts it in emgmm_hmm_fit_info): a state
 * with N_c < 1e-10 keeps its mean and covariance; a row of A (or pi)
 * without counts keeps its values; a covariance that is not positive
 * definite gets min_covar added to its diagonal, ten times more on each
 * further try.
 */
#include "internal.h"
#include "rng.h"
#include "emgmm_config.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* Expected rows below which a state counts as empty. */
static const double EMPTY_BELOW = 1e-10;

static int letters_ok(const char *s)
{
    if (memchr(s, '\0', 8) == NULL)
        return 0;
    for (; *s; s++)
        if (!strchr("stmcw", *s))
            return 0;
    return 1;
}

static int has(const char *letters, char c)
{
    return strchr(letters, c) != NULL;
}

/* ---- initialisation ------------------------------------------------ */

/* The data's covariance (divisor n - 1, as numpy.cov) plus min_covar on
 * the diagonal, into cov (d x d); two-pass: centred on the mean first.
 * z: rows x d scratch (gather_rows of the workspace). */
static void data_covariance(const double *X, size_t n, size_t d,
                            size_t ldx, double min_covar, double *mean,
                            double *cov, double *z, size_t rows)
{
    memset(mean, 0, d * sizeof(double));
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            mean[j] += X[i * ldx + j];
    for (size_t j = 0; j < d; j++)
        mean[j] /= (double)n;
    memset(cov, 0, d * d * sizeof(double));
    for (size_t i0 = 0; i0 < n; i0 += rows) {
        const size_t r = n - i0 < rows ? n - i0 : rows;
        for (size_t i = 0; i < r; i++)
            for (size_t j = 0; j < d; j++)
                z[i * d + j] = X[(i0 + i) * ldx + j] - mean[j];
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)d, (int)r,
                    1.0, z, (int)d, 1.0, cov, (int)d);
    }
    emgmm__finish_covariance(cov, d, n > 1 ? (double)(n - 1) : 1.0,
                             min_covar);
}

/* GMM means: within each state's k-means cluster (labels: the hard
 * responsibilities in resp, n x k), a k-means of n_mix centres; a cluster
 * with fewer distinct rows than that takes n_mix random rows of X
 * instead (hmmlearn draws them around the data's centre). */
static int init_mixture_means(emgmm_hmm *m, const double *X, size_t n,
                              size_t ldx, const double *resp, emgmm_rng *rng,
                              emgmm_hmm_work *w)
{
    const size_t k = m->k, d = m->d, mm = m->n_mix;
    double *g = emgmm__malloc(n, d * sizeof(double));
    double *r = emgmm__malloc(n, mm * sizeof(double));
    double *nk = emgmm__malloc(mm, sizeof(double));
    int rc = g && r && nk ? EMGMM_OK : EMGMM_ERR_NOMEM;
    for (size_t s = 0; s < k && rc == EMGMM_OK; s++) {
        size_t count = 0;
        for (size_t i = 0; i < n; i++)
            if (resp[i * k + s] > 0.5)
                memcpy(g + count++ * d, X + i * ldx, d * sizeof(double));
        double *mu = m->mix_means + s * mm * d;
        rc = count >= mm ? emgmm__init_resp(EMGMM_INIT_KMEANS, g, count, d,
                                            d, NULL, mm, w->ws.n_threads, rng,
                                            r)
                         : EMGMM_ERR_TOO_FEW_SAMPLES;
        if (rc == EMGMM_OK) {
            emgmm__mstep_sums(g, count, d, r, mm, d, nk, mu);
            for (size_t c = 0; c < mm; c++)
                for (size_t j = 0; j < d; j++)
                    mu[c * d + j] /= nk[c];
        } else if (rc == EMGMM_ERR_TOO_FEW_SAMPLES) {
            for (size_t c = 0; c < mm; c++)
                memcpy(mu + c * d, X + emgmm__rng_below(rng, n) * ldx,
                       d * sizeof(double));
            rc = EMGMM_OK;
        }
    }
    emgmm__free(g);
    emgmm__free(r);
    emgmm__free(nk);
    return rc;
}

/* The parameters named in `letters` from the data, as hmmlearn's _init:
 * s, t uniform; m the k-means centres (this library's k-means, seeded by
 * rng; for GMM emissions, k-means within each state's cluster); c the
 * data's covariance plus min_covar I in every state's (and component's)
 * shape; w uniform. */
static int initialise(emgmm_hmm *m, const char *letters, const double *X,
                      size_t n, size_t ldx, double min_covar,
                      emgmm_rng *rng, emgmm_hmm_work *w)
{
    const size_t k = m->k, d = m->d, mm = m->n_mix;
    double *means = m->mix ? m->mix_means : m->emis->means;
    double *covs = m->mix ? m->mix_covs : m->emis->covariances;
    if (has(letters, 's'))
        for (size_t j = 0; j < k; j++)
            m->startprob[j] = 1.0 / (double)k;
    if (has(letters, 't'))
        for (size_t i = 0; i < k * k; i++)
            m->transmat[i] = 1.0 / (double)k;
    if (m->mix && has(letters, 'w'))
        for (size_t i = 0; i < k * mm; i++)
            m->mix_weights[i] = 1.0 / (double)mm;
    if (has(letters, 'm')) {
        /* Hard k-means labels as responsibilities; the centres are the
         * labelled rows' means. w->post is free until the first E-step. */
        int rc = emgmm__init_resp(EMGMM_INIT_KMEANS, X, n, d, ldx, NULL, k,
                                  w->ws.n_threads, rng, w->post);
        if (rc != EMGMM_OK)
            return rc;
        if (m->mix) {
            if ((rc = init_mixture_means(m, X, n, ldx, w->post, rng, w)) !=
                EMGMM_OK)
                return rc;
        } else {
            double *nk = w->shift; /* n >= k: free room */
            emgmm__mstep_sums(X, n, ldx, w->post, k, d, nk, means);
            for (size_t c = 0; c < k; c++)
                for (size_t j = 0; j < d; j++)
                    means[c * d + j] /= nk[c];
        }
    }
    if (has(letters, 'c')) {
        double *mean = w->ws.sphere, *cov = w->ws.scratch;
        data_covariance(X, n, d, ldx, min_covar, mean, cov, w->ws.centred,
                        w->ws.gather_rows);
        /* Gaussians: one per state; GMM: n_mix per state (tied: one matrix
         * per state for GMM, one in all for Gaussian emissions). */
        const size_t comps = m->mix ? k * mm : k;
        const size_t tied_mats = m->mix ? k : 1;
        double avg = 0.0;
        switch (m->type) {
        case EMGMM_COVARIANCE_FULL:
            for (size_t c = 0; c < comps; c++)
                memcpy(covs + c * d * d, cov, d * d * sizeof(double));
            break;
        case EMGMM_COVARIANCE_TIED:
            for (size_t c = 0; c < tied_mats; c++)
                memcpy(covs + c * d * d, cov, d * d * sizeof(double));
            break;
        case EMGMM_COVARIANCE_DIAG:
            for (size_t c = 0; c < comps; c++)
                for (size_t j = 0; j < d; j++)
                    covs[c * d + j] = cov[j * d + j];
            break;
        case EMGMM_COVARIANCE_SPHERICAL:
            /* hmmlearn takes cv.mean(): the mean of every entry of the
             * matrix, off-diagonal ones included. */
            for (size_t i = 0; i < d * d; i++)
                avg += cov[i];
            avg /= (double)(d * d);
            for (size_t c = 0; c < comps; c++)
                covs[c] = avg;
            break;
        }
    }
    return EMGMM_OK;
}

/* ---- M-step -------------------------------------------------------- */

/* pi or a row of A from expected counts: max(prior - 1 + count, 0), zero
 * where the old value is zero, normalised; kept when nothing is left.
 * Returns 1 if kept. */
static int update_distribution(double *p, const double *count, size_t k,
                               double prior)
{
    double sum = 0.0;
    for (size_t j = 0; j < k; j++)
        if (p[j] != 0.0 && prior - 1.0 + count[j] > 0.0)
            sum += prior - 1.0 + count[j];
    if (!(sum > 0.0) || !isfinite(sum))
        return 1;
    for (size_t j = 0; j < k; j++)
        p[j] = p[j] != 0.0 && prior - 1.0 + count[j] > 0.0
                   ? (prior - 1.0 + count[j]) / sum
                   : 0.0;
    return 0;
}

/* Per-fit buffers of the M-step. */
typedef struct mstep_buffers {
    double *nk;   /* max(k, n_mix) */
    double *xsum; /* max(k, n_mix) x d */
    int *empty;   /* max(k, n_mix) */
    double *resp; /* GMM: n x n_mix, one state's component responsibilities */
} mstep_buffers;

/* Gaussian emissions: covariances from the raw scatter sums (already
 * summed over processes), with GaussianHMM's priors; empty states keep
 * old's. */
static void finish_gaussian_covariances(emgmm_model *e, const emgmm_model *old,
                               const double *raw, const mstep_buffers *b,
                               const emgmm_hmm_params *p)
{
    const size_t k = e->k, d = e->d;
    const double mw = p->means_weight, cp = p->covars_prior;
    const double *mu = e->means;
    const double md = p->means_prior;
    switch (e->type) {
    case EMGMM_COVARIANCE_FULL:
    case EMGMM_COVARIANCE_TIED: {
        const int tied = e->type == EMGMM_COVARIANCE_TIED;
        const double cw = p->covars_weight > (double)d
                              ? p->covars_weight - (double)d
                              : 0.0;
        double total = 0.0;
        for (size_t c = 0; c < k; c++)
            total += b->nk[c];
        for (size_t c = 0; c < (tied ? 1 : k); c++) {
            double *cov = e->covariances + c * d * d;
            if (!tied && b->empty[c]) {
                memcpy(cov, old->covariances + c * d * d,
                       d * d * sizeof(double));
                continue;
            }
            const double den = cw + (tied ? total : b->nk[c]);
            for (size_t i = 0; i < d; i++)
                for (size_t j = 0; j <= i; j++) {
                    double v = cp + cov[i * d + j];
                    if (mw != 0.0)
                        for (size_t s = tied ? 0 : c; s < (tied ? k : c + 1);
                             s++)
                            v += mw * (mu[s * d + i] - md) *
                                 (mu[s * d + j] - md);
                    cov[j * d + i] = cov[i * d + j] = v / den;
                }
        }
        break;
    }
    case EMGMM_COVARIANCE_DIAG:
    case EMGMM_COVARIANCE_SPHERICAL: {
        const int sph = e->type == EMGMM_COVARIANCE_SPHERICAL;
        const double cw = p->covars_weight > 1.0 ? p->covars_weight - 1.0
                                                 : 0.0;
        for (size_t c = 0; c < k; c++) {
            if (b->empty[c]) {
                if (sph)
                    e->covariances[c] = old->covariances[c];
                else
                    memcpy(e->covariances + c * d,
                           old->covariances + c * d, d * sizeof(double));
                continue;
            }
            const double den = fmax(cw + b->nk[c], 1e-5);
            double avg = 0.0;
            for (size_t j = 0; j < d; j++) {
                const double dm = mu[c * d + j] - md;
                const double v =
                    (cp + raw[c * d + j] + mw * dm * dm) / den;
                if (sph)
                    avg += v;
                else
                    e->covariances[c * d + j] = v;
            }
            if (sph)
                e->covariances[c] = avg / (double)d;
        }
        break;
    }
    }
}

/* Adds f to the diagonal of the covariance of state c (or the tied one). */
static void add_to_diagonal(emgmm_model *e, size_t c, double f)
{
    const size_t d = e->d;
    switch (e->type) {
    case EMGMM_COVARIANCE_FULL:
        for (size_t j = 0; j < d; j++)
            e->covariances[c * d * d + j * d + j] += f;
        break;
    case EMGMM_COVARIANCE_TIED:
        for (size_t j = 0; j < d; j++)
            e->covariances[j * d + j] += f;
        break;
    case EMGMM_COVARIANCE_DIAG:
        for (size_t j = 0; j < d; j++)
            e->covariances[c * d + j] += f;
        break;
    case EMGMM_COVARIANCE_SPHERICAL:
        e->covariances[c] += f;
        break;
    }
}

/* GMM emissions: state s's covariances with GMMHMM's priors: psi (full,
 * tied) or alpha (diag, spherical) in cp, nu or beta in cw; raw holds the
 * scatter about the old means (hmmlearn accumulates it in the E-step,
 * before the means move); empty components keep old's. */
static void finish_mixture_covariances(emgmm_model *e, const emgmm_model *old,
                                       const double *raw,
                                       const mstep_buffers *b, double total,
                                       const emgmm_hmm_params *p)
{
    const size_t mm = e->k, d = e->d;
    const double mw = p->means_weight, md = p->means_prior;
    const double cp = p->covars_prior, cw = p->covars_weight;
    const double *mu = e->means;
    switch (e->type) {
    case EMGMM_COVARIANCE_FULL:
        for (size_t c = 0; c < mm; c++) {
            double *cov = e->covariances + c * d * d;
            if (b->empty[c]) {
                memcpy(cov, old->covariances + c * d * d,
                       d * d * sizeof(double));
                continue;
            }
            const double den = b->nk[c] + 1.0 + cw + (double)d + 1.0;
            for (size_t i = 0; i < d; i++)
                for (size_t j = 0; j <= i; j++) {
                    const double v =
                        cp + mw * (mu[c * d + i] - md) * (mu[c * d + j] - md) +
                        cov[i * d + j];
                    cov[j * d + i] = cov[i * d + j] = v / den;
                }
        }
        break;
    case EMGMM_COVARIANCE_TIED: {
        double *cov = e->covariances;
        const double den = total + (double)mm + cw + (double)d + 1.0;
        for (size_t i = 0; i < d; i++)
            for (size_t j = 0; j <= i; j++) {
                double v = cp + cov[i * d + j];
                for (size_t c = 0; c < mm; c++)
                    v += mw * (mu[c * d + i] - md) * (mu[c * d + j] - md);
                cov[j * d + i] = cov[i * d + j] = v / den;
            }
        break;
    }
    case EMGMM_COVARIANCE_DIAG:
    case EMGMM_COVARIANCE_SPHERICAL: {
        const int sph = e->type == EMGMM_COVARIANCE_SPHERICAL;
        for (size_t c = 0; c < mm; c++) {
            if (b->empty[c]) {
                if (sph)
                    e->covariances[c] = old->covariances[c];
                else
                    memcpy(e->covariances + c * d, old->covariances + c * d,
                           d * sizeof(double));
                continue;
            }
            double norm2 = 0.0, sum = 0.0;
            for (size_t j = 0; j < d; j++) {
                const double dm = mu[c * d + j] - md;
                if (sph) {
                    norm2 += dm * dm;
                    sum += raw[c * d + j];
                } else {
                    e->covariances[c * d + j] =
                        (mw * dm * dm + 2.0 * cw + raw[c * d + j]) /
                        (b->nk[c] + 1.0 + 2.0 * (cp + 1.0));
                }
            }
            if (sph)
                e->covariances[c] =
                    (mw * norm2 + 2.0 * cw + sum) /
                    ((double)d * (b->nk[c] + 1.0) + 2.0 * (cp + 1.0));
        }
        break;
    }
    }
}

/* Recomputes e's derived arrays; a covariance that is not positive
 * definite gets min_covar on its diagonal, ten times more on each
 * further try. */
static int factor_or_floor(emgmm_model *e, double min_covar, double *scratch,
                           emgmm_hmm_fit_info *info, int *bad)
{
    double floor = min_covar > 0.0 ? min_covar : 1e-10;
    for (int tries = 0;; tries++) {
        int rc = emgmm__model_update_derived(e, scratch, bad);
        if (rc != EMGMM_ERR_SINGULAR || tries == 12)
            return rc;
        add_to_diagonal(e, (size_t)*bad, floor);
        info->n_floored_covariances++;
        floor *= 10.0;
    }
}

/* Gaussian emissions: the mixture's M-step sums with the state
 * posteriors as responsibilities, then GaussianHMM's formulas. */
static int mstep_gaussian(emgmm_hmm *m, const emgmm_hmm *old,
                          const double *X, size_t n, size_t ldx,
                          const emgmm_hmm_params *p, emgmm_hmm_work *w,
                          mstep_buffers *b, emgmm_hmm_fit_info *info,
                          int *bad)
{
    const size_t k = m->k, d = m->d;
    emgmm_model *e = m->emis;
    const int upd_m = has(p->params, 'm'), upd_c = has(p->params, 'c');
    emgmm__mstep_sums(X, n, ldx, w->post, k, d, b->nk, b->xsum);
    if (w->has_gaps) {
        /* The gaps count with their conditional means, not the fill. */
        const double *shift =
            emgmm__gaps_mean_shift(&w->gaps, X, ldx, w->post, k);
        for (size_t i = 0; i < k * d; i++)
            b->xsum[i] += shift[i];
    }
    int rc = emgmm__allreduce(&w->ws, b->nk, k);
    if (rc == EMGMM_OK)
        rc = emgmm__allreduce(&w->ws, b->xsum, k * d);
    if (rc != EMGMM_OK)
        return rc;
    for (size_t c = 0; c < k; c++) {
        b->empty[c] = !(b->nk[c] >= EMPTY_BELOW);
        info->n_empty_states += b->empty[c];
        if (!upd_m || b->empty[c])
            continue;
        const double den = p->means_weight + b->nk[c];
        for (size_t j = 0; j < d; j++)
            e->means[c * d + j] =
                (p->means_weight * p->means_prior + b->xsum[c * d + j]) /
                den;
    }
    if (upd_c && w->has_gaps) {
        /* The expected scatter: gaps at their conditional means, plus
         * their conditional covariances (missing.c). */
        const double *raw = emgmm__gaps_scatter(e, X, ldx, w->post, &w->ws,
                                                &w->gaps, &rc, bad);
        if (rc != EMGMM_OK)
            return rc;
        finish_gaussian_covariances(e, old->emis, raw, b, p);
    } else if (upd_c) {
        double *raw = emgmm__mstep_raw(e, &w->ws);
        emgmm__mstep_scatter_add(e, X, n, ldx, w->post, raw, &w->ws);
        rc = emgmm__allreduce(&w->ws, raw,
                              emgmm__mstep_raw_size(e->type, k, d));
        if (rc != EMGMM_OK)
            return rc;
        finish_gaussian_covariances(e, old->emis, raw, b, p);
    }
    /* The next E-step's fill: each gap's conditional expectation. */
    if (w->has_gaps)
        emgmm__gaps_refill(&w->gaps, w->filled, w->d, w->post, k);
    return factor_or_floor(e, p->min_covar, w->ws.scratch, info, bad);
}

/* GMM emissions, state by state: the mixture's M-step sums with
 * responsibilities g_t(s) * p(component | x_t, s), then GMMHMM's
 * formulas. A state without mass keeps its whole mixture. */
static int mstep_gmm(emgmm_hmm *m, const emgmm_hmm *old, const double *X,
                     size_t n, size_t ldx, const emgmm_hmm_params *p,
                     emgmm_hmm_work *w, mstep_buffers *b,
                     emgmm_hmm_fit_info *info, int *bad)
{
    const size_t k = m->k, d = m->d, mm = m->n_mix;
    const int upd_w = has(p->params, 'w'), upd_m = has(p->params, 'm'),
              upd_c = has(p->params, 'c');
    const double mw = p->means_weight, wp = p->weights_prior;
    int rc = EMGMM_OK;
    for (size_t s = 0; s < k && rc == EMGMM_OK; s++) {
        emgmm_model *e = m->mix[s];
        for (size_t t = 0; t < n; t++) {
            const double g = w->post[t * k + s];
            const double *q = w->mix_post + (t * k + s) * mm;
            for (size_t c = 0; c < mm; c++)
                b->resp[t * mm + c] = g * q[c];
        }
        emgmm__mstep_sums(X, n, ldx, b->resp, mm, d, b->nk, b->xsum);
        double *raw = NULL;
        if (upd_c) {
            raw = emgmm__mstep_raw(e, &w->ws);
            emgmm__mstep_scatter_add(e, X, n, ldx, b->resp, raw, &w->ws);
        }
        rc = emgmm__allreduce(&w->ws, b->nk, mm);
        if (rc == EMGMM_OK)
            rc = emgmm__allreduce(&w->ws, b->xsum, mm * d);
        if (rc == EMGMM_OK && upd_c)
            rc = emgmm__allreduce(&w->ws, raw,
                                  emgmm__mstep_raw_size(e->type, mm, d));
        if (rc != EMGMM_OK)
            break;
        double total = 0.0;
        for (size_t c = 0; c < mm; c++)
            total += b->nk[c];
        if (!(total >= EMPTY_BELOW)) {
            info->n_empty_states++;
            emgmm__model_copy(e, old->mix[s]);
            continue;
        }
        if (upd_w) {
            /* (N_c + prior - 1) / (N + M (prior - 1)); a prior below 1 can
             * make a weight negative: it becomes 0 (renormalised). */
            double sum = 0.0;
            for (size_t c = 0; c < mm; c++)
                sum += e->weights[c] = fmax(b->nk[c] + wp - 1.0, 0.0);
            for (size_t c = 0; c < mm; c++)
                e->weights[c] = sum > 0.0 ? e->weights[c] / sum
                                          : old->mix[s]->weights[c];
        }
        for (size_t c = 0; c < mm; c++) {
            b->empty[c] = !(b->nk[c] >= EMPTY_BELOW);
            info->n_empty_states += b->empty[c];
            if (!upd_m || b->empty[c])
                continue;
            for (size_t j = 0; j < d; j++)
                e->means[c * d + j] =
                    (mw * p->means_prior + b->xsum[c * d + j]) /
                    (b->nk[c] + mw);
        }
        if (upd_c)
            finish_mixture_covariances(e, old->mix[s], raw, b, total, p);
        rc = factor_or_floor(e, p->min_covar, w->ws.scratch, info, bad);
        if (rc == EMGMM_ERR_SINGULAR)
            *bad = (int)s;
    }
    emgmm__hmm_gather(m);
    return rc;
}

static int mstep(emgmm_hmm *m, const emgmm_hmm *old, const double *X,
                 size_t n, size_t ldx, const double *sums,
                 const emgmm_hmm_params *p, emgmm_hmm_work *w,
                 mstep_buffers *b, emgmm_hmm_fit_info *info, int *bad)
{
    const size_t k = m->k;
    if (has(p->params, 's'))
        info->n_kept_rows += update_distribution(m->startprob, sums + 1, k,
                                                 p->startprob_prior);
    if (has(p->params, 't'))
        for (size_t i = 0; i < k; i++)
            info->n_kept_rows += update_distribution(
                m->transmat + i * k, sums + 1 + k + i * k, k,
                p->transmat_prior);
    if (!has(p->params, 'm') && !has(p->params, 'c') &&
        !(m->mix && has(p->params, 'w')))
        return EMGMM_OK;
    return m->mix ? mstep_gmm(m, old, X, n, ldx, p, w, b, info, bad)
                  : mstep_gaussian(m, old, X, n, ldx, p, w, b, info, bad);
}

/* ---- the Baum-Welch loop -------------------------------------------- */

typedef struct bw_result {
    int n_iter, converged;
    double last_estep;
} bw_result;

static int baum_welch(const emgmm_hmm_params *p, const double *X, size_t n,
                      size_t ldx, emgmm_hmm *m, emgmm_hmm *old,
                      emgmm_hmm_work *w, double *sums, mstep_buffers *b,
                      emgmm_hmm_fit_info *info, bw_result *out)
{
    int it = 0;
    double prev = NAN;
    if (p->resume && p->init_model && p->init_model->fit.present) {
        it = p->init_model->fit.n_iter;
        prev = p->init_model->fit.last_estep;
    }
    out->converged = 0;
    out->last_estep = prev;
    while (it < p->max_iter) {
        const double t0 = emgmm__now();
        int rc = emgmm__hmm_estep(m, X, ldx, w, 1, sums);
        if (rc != EMGMM_OK)
            return rc;
        const double ll = sums[0];
        emgmm__hmm_copy(old, m);
        rc = mstep(m, old, X, n, ldx, sums, p, w, b, info, &info->bad_state);
        if (rc != EMGMM_OK)
            return rc;
        it++;
        const double change = isnan(prev) ? INFINITY : ll - prev;
        m->fit.present = 1;
        m->fit.n_iter = it;
        m->fit.converged = 0;
        m->fit.last_estep = ll;
        m->fit.log_likelihood = NAN;
        m->fit.max_iter = p->max_iter;
        m->fit.tol = p->tol;
        m->fit.seed = p->seed;
        memcpy(m->fit.params, p->params, sizeof m->fit.params);
        out->n_iter = it;
        out->last_estep = ll;
        /* Stopping is collective (see fit.c): every process takes part
         * in the same sums, whether or not it has a callback. */
        double stop = 0.0;
        if (p->progress) {
            emgmm_hmm_iteration info_it = {it, ll, change,
                                           emgmm__now() - t0, m};
            stop = p->progress(&info_it, p->progress_data) != 0;
        }
        if ((rc = emgmm__allreduce(&w->ws, &stop, 1)) != EMGMM_OK)
            return rc;
        if (stop != 0.0)
            return EMGMM_ERR_CANCELLED;
        /* hmmlearn's ConvergenceMonitor: signed, so a decrease stops too;
         * a negative tol runs every iteration. */
        if (p->tol >= 0.0 && change < p->tol) {
            out->converged = 1;
            break;
        }
        prev = ll;
    }
    out->n_iter = it;
    return EMGMM_OK;
}

/* Every letter the emission has. */
static int has_all(const char *letters, int gmm)
{
    return has(letters, 's') && has(letters, 't') && has(letters, 'm') &&
           has(letters, 'c') && (!gmm || has(letters, 'w'));
}

static int check_params(const emgmm_hmm_params *p, const double *X,
                        size_t n, size_t d, size_t ldx, emgmm_hmm **model)
{
    if (!p || !X || !model || n == 0 || d == 0 || ldx < d)
        return EMGMM_ERR_INVALID;
    const emgmm_hmm *start = p->init_model;
    const int gmm = start ? start->emission == EMGMM_HMM_GMM
                          : p->emission == EMGMM_HMM_GMM;
    if ((p->emission != EMGMM_HMM_GAUSSIAN &&
         p->emission != EMGMM_HMM_GMM) ||
        !emgmm_covariance_type_name(p->covariance_type) ||
        !letters_ok(p->params) || !letters_ok(p->init_params) ||
        p->max_iter < 0 || p->n_init < 1 || isnan(p->tol) ||
        (!start && p->n_mix < 1) || !(p->min_covar >= 0.0) ||
        !isfinite(p->min_covar) || !isfinite(p->startprob_prior) ||
        !isfinite(p->transmat_prior) || !isfinite(p->weights_prior) ||
        !isfinite(p->means_prior) || !isfinite(p->means_weight) ||
        isinf(p->covars_prior) || isinf(p->covars_weight))
        return EMGMM_ERR_INVALID;
    if (start) {
        if (start->d != d ||
            (p->n_states != 0 && (size_t)p->n_states != start->k) ||
            (p->allreduce && p->init_params[0] != '\0'))
            return EMGMM_ERR_INVALID;
    } else if (p->n_states < 1 || p->allreduce ||
               !has_all(p->init_params, gmm)) {
        return EMGMM_ERR_INVALID;
    }
    if (p->missing && gmm)
        return EMGMM_ERR_UNSUPPORTED; /* GMM emissions with gaps: not yet */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            const double x = X[i * ldx + j];
            if (isinf(x) || (isnan(x) && !p->missing))
                return EMGMM_ERR_NONFINITE;
        }
    return EMGMM_OK;
}

/* The priors left at NaN get the default of hmmlearn's class:
 * GaussianHMM 1e-2 and 1; GMMHMM (see _init_covar_priors) full psi 0,
 * nu -(1 + D + 1); tied psi 0, nu -(M + D + 1); diag alpha -1.5, beta 0;
 * spherical alpha -(M + 2) / 2, beta 0. */
static void resolve_priors(emgmm_hmm_params *q, int gmm,
                           emgmm_covariance_type type, size_t mm, size_t d)
{
    double cp = 1e-2, cw = 1.0;
    if (gmm) {
        switch (type) {
        case EMGMM_COVARIANCE_FULL: cp = 0.0, cw = -(1.0 + (double)d + 1.0); break;
        case EMGMM_COVARIANCE_TIED:
            cp = 0.0, cw = -((double)mm + (double)d + 1.0);
            break;
        case EMGMM_COVARIANCE_DIAG: cp = -1.5, cw = 0.0; break;
        case EMGMM_COVARIANCE_SPHERICAL:
            cp = -((double)mm + 2.0) / 2.0, cw = 0.0;
            break;
        }
    }
    if (isnan(q->covars_prior))
        q->covars_prior = cp;
    if (isnan(q->covars_weight))
        q->covars_weight = cw;
}

int emgmm_hmm_fit(const emgmm_hmm_params *params, const double *X,
                  size_t n, size_t d, size_t ldx, const size_t *lengths,
                  size_t n_seq, emgmm_hmm **model, emgmm_hmm_fit_info *info)
{
    const double t_start = emgmm__now();
    emgmm_hmm_fit_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    info->bad_state = -1;
    info->log_likelihood = info->last_estep = NAN;
    if (model)
        *model = NULL;
    int rc = check_params(params, X, n, d, ldx, model);
    /* Errors are collective in a distributed fit: all processes return
     * the same status, none is left waiting in a sum. */
    if (params)
        rc = emgmm__collective(params->allreduce, params->allreduce_data, rc);
    if (rc != EMGMM_OK)
        return rc;
    const emgmm_hmm *start = params->init_model;
    const emgmm_hmm_emission emission =
        start ? start->emission : params->emission;
    const size_t k = start ? start->k : (size_t)params->n_states;
    const size_t mm = start ? start->n_mix
                            : emission == EMGMM_HMM_GMM
                                  ? (size_t)params->n_mix
                                  : 1;
    const emgmm_covariance_type type =
        start ? start->type : params->covariance_type;
    emgmm_hmm_params q = *params;
    resolve_priors(&q, emission == EMGMM_HMM_GMM, type, mm, d);
    const emgmm_hmm_params *p = &q;
    if (!start && n < k)
        return EMGMM_ERR_TOO_FEW_SAMPLES;
    size_t *first = NULL;
    rc = emgmm__hmm_bounds(lengths, n_seq, n, &first);
    if ((rc = emgmm__collective(p->allreduce, p->allreduce_data, rc)) !=
        EMGMM_OK) {
        emgmm__free(first);
        return rc;
    }
    if (!lengths)
        n_seq = 1;

    const int threads = emgmm__work_threads(p->n_threads, n, k * mm, d);
    const int saved_blas = emgmm__get_blas_threads();
    if (EMGMM_HAVE_OPENMP && threads > 1)
        emgmm__set_blas_threads(1);
    else if (p->n_threads > 0)
        emgmm__set_blas_threads(p->n_threads);

    emgmm_hmm *current = NULL, *old = NULL, *best = NULL;
    emgmm_hmm_work w = {0};
    const size_t S = 1 + k + k * k, kk = k > mm ? k : mm;
    double *sums = emgmm__malloc(S, sizeof(double));
    mstep_buffers b = {emgmm__malloc(kk, sizeof(double)),
                       emgmm__malloc(kk * d, sizeof(double)),
                       emgmm__malloc(kk, sizeof(int)),
                       mm > 1 || emission == EMGMM_HMM_GMM
                           ? emgmm__malloc(n, mm * sizeof(double))
                           : NULL};
    rc = sums && b.nk && b.xsum && b.empty &&
                 (b.resp || emission == EMGMM_HMM_GAUSSIAN)
             ? EMGMM_OK
             : EMGMM_ERR_NOMEM;
    if (rc == EMGMM_OK)
        rc = emgmm__hmm_work_alloc(&w, k, emission == EMGMM_HMM_GMM ? mm : 0,
                                   d, n, first, n_seq, threads,
                                   emission == EMGMM_HMM_GMM);
    if (rc == EMGMM_OK)
        rc = emgmm__hmm_alloc(emission, type, k, mm, d, &current);
    if (rc == EMGMM_OK)
        rc = emgmm__hmm_alloc(emission, type, k, mm, d, &old);
    if (rc == EMGMM_OK)
        rc = emgmm__hmm_alloc(emission, type, k, mm, d, &best);
    if (rc == EMGMM_OK) {
        w.ws.reduce = p->allreduce;
        w.ws.reduce_data = p->allreduce_data;
    }
    rc = emgmm__collective(p->allreduce, p->allreduce_data, rc);
    if (rc == EMGMM_OK && p->missing) {
        /* From here on the fit works on the filled copy (missing.c). */
        rc = emgmm__hmm_work_gaps(&w, X, ldx, type);
        if (w.has_gaps) {
            X = w.filled;
            ldx = d;
        }
        rc = emgmm__collective(p->allreduce, p->allreduce_data, rc);
    }

    const int n_init = start ? 1 : p->n_init;
    double best_score = -INFINITY;
    for (int run = 0; rc == EMGMM_OK && run < n_init; run++) {
        if (start) {
            emgmm__hmm_copy(current, start);
            if (!p->resume)
                current->fit.present = 0;
        }
        emgmm_rng rng;
        emgmm__rng_seed(&rng, p->seed, UINT64_C(0x686d6d00) + (uint64_t)run);
        rc = initialise(current, start ? p->init_params : "stmcw", X, n, ldx,
                        p->min_covar, &rng, &w);
        if (rc == EMGMM_OK)
            rc = emgmm__hmm_validate(current, &info->bad_state);
        bw_result r = {0, 0, NAN};
        if (rc == EMGMM_OK)
            rc = baum_welch(p, X, n, ldx, current, old, &w, sums, &b, info,
                            &r);
        /* The returned model's own log-likelihood (hmmlearn's score). */
        if (rc == EMGMM_OK)
            rc = emgmm__hmm_estep(current, X, ldx, &w, 0, sums);
        if (rc != EMGMM_OK)
            break;
        if (run == 0 || sums[0] > best_score) {
            best_score = sums[0];
            emgmm__hmm_copy(best, current);
            info->n_iter = r.n_iter;
            info->converged = r.converged;
            info->last_estep = r.last_estep;
            info->log_likelihood = sums[0];
            info->best_init = run;
        }
    }
    double n_total = (double)n;
    if (rc == EMGMM_OK)
        rc = emgmm__allreduce(&w.ws, &n_total, 1);

    emgmm__hmm_work_free(&w);
    emgmm__free(sums);
    emgmm__free(b.nk);
    emgmm__free(b.xsum);
    emgmm__free(b.empty);
    emgmm__free(b.resp);
    emgmm__free(first);
    emgmm_hmm_free(&current);
    emgmm_hmm_free(&old);
    if (EMGMM_HAVE_OPENMP && threads > 1)
        emgmm__set_blas_threads(saved_blas);
    info->seconds = emgmm__now() - t_start;
    if (rc != EMGMM_OK) {
        emgmm_hmm_free(&best);
        return rc;
    }
    const double np = (double)emgmm_hmm_n_parameters(best, p->params);
    info->bic = -2.0 * info->log_likelihood + np * log(n_total);
    info->aic = -2.0 * info->log_likelihood + 2.0 * np;
    best->fit.present = 1;
    best->fit.converged = info->converged;
    best->fit.n_iter = info->n_iter;
    best->fit.max_iter = p->max_iter;
    best->fit.log_likelihood = info->log_likelihood;
    best->fit.last_estep = info->last_estep;
    best->fit.tol = p->tol;
    best->fit.seed = p->seed;
    memcpy(best->fit.params, p->params, sizeof best->fit.params);
    *model = best;
    return EMGMM_OK;
}
