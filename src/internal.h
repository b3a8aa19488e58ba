/*
 * Internal declarations shared by the library's files. Not installed.
 *
 * Architecture (one file each):
 *   alloc.c      every allocation goes through emgmm__malloc/free
 *   linalg.c     per-component Cholesky and precision factors
 *   model.c      the model object: lifetime, validation, accessors
 *   estep.c      log-densities on row blocks (gemm), log-sum-exp
 *   kernels.c    own E-/M-step kernels for moderate d (kernels.h, x86/)
 *   cpu.c        which instruction sets the CPU runs (cpu.h)
 *   mstep.c      weights, means (gemm), covariances (syrk, centred)
 *   init.c       initial responsibilities: kmeans, kmeans++, random, ...
 *   fit.c        the EM loop, restarts, progress
 *   float32.c    float32 data: E-/M-steps with float32 BLAS (float32.h)
 *   missing.c    EM with missing values (NaN), imputation
 *   predict.c    predict, predict_proba, score*, bic, aic
 *   sample.c     drawing from a model
 *   model_json.c model files (json_io.h: what they share with hmm_json.c)
 *   hmm.c        hidden Markov models: the model object, sampling
 *   hmm_forward_backward.c  emissions, scaled forward-backward, Viterbi
 *   hmm_fit.c    Baum-Welch: initialisation, M-step with hmmlearn's priors
 *   hmm_json.c   HMM model files
 */
#ifndef EMGMM_INTERNAL_H
#define EMGMM_INTERNAL_H

#include "emgmm.h"

#include <stddef.h>
#include <stdint.h>

/* ---- allocation (alloc.c) ------------------------------------------- */

/* malloc of count*size bytes with an overflow check; NULL on failure
 * (also when the test hook says so). Never returns NULL for size 0. */
void *emgmm__malloc(size_t count, size_t size);
/* The same, zero-filled. */
void *emgmm__calloc(size_t count, size_t size);
void emgmm__free(void *p);

/* Test hook: the n-th allocation from now (1-based) and every later one
 * fail, until reset with 0. */
void emgmm__fail_allocation_after(long n);
/* Number of live allocations (for leak checks in tests). */
long emgmm__live_allocations(void);

/* ---- the model (model.c) -------------------------------------------- */

/* How a model was fitted (the model file's "fit" record). A model handed
 * to the progress callback, or saved from it, has one with converged 0,
 * log_likelihood NaN (not yet known) and lower_bound the last E-step's
 * value: with n_iter, what a resumed fit needs to go on exactly. */
typedef struct emgmm_fit_record {
    int present;
    int converged;
    int n_iter;
    int max_iter;          /* 0 when unknown */
    double log_likelihood; /* NaN when unknown */
    double lower_bound;    /* NaN when unknown */
    double tol;
    double reg_covar;
    uint64_t seed;
} emgmm_fit_record;

struct emgmm_model {
    emgmm_covariance_type type;
    size_t k, d;
    double *weights;     /* k */
    double *means;       /* k x d */
    double *covariances; /* emgmm__cov_size(type, k, d): full k x d x d,
                            tied d x d, diag k x d, spherical k */
    /* Derived, for the E-step (see linalg.c and estep.c). The precision
     * factor U of a covariance satisfies U U^T = Sigma^-1, so that
     * log N(x) = -d/2 log(2 pi) + log det U - 1/2 ||(x - mu)^T U||^2:
     *   prec:      full: d x (k*d) row-major, the upper-triangular U_k in
     *                columns k*d .. k*d+d-1 (side by side, so one gemm
     *                can project a block on all components);
     *              tied: d x d, the one U;
     *              diag: k x d, 1/sigma_kj (U is diagonal);
     *              spherical: k, 1/sigma_k.
     *   centre:    d, the weighted mean of the means. Rows are shifted by
     *     it before the projection, so that data far from the origin do
     *     not lose digits in (x U_k - mu_k U_k) (see estep.c).
     *   mean_proj: k x d, (mu_k - centre)^T U_k.
     *   log_norm:  k, log w_k - d/2 log(2 pi) + log det U_k. */
    double *prec;
    double *centre;
    double *mean_proj;
    double *log_norm;
    emgmm_fit_record fit;
    /* 0 for a mixture. 1 when the components are the states of an HMM
     * (hmm.c): log_norm then leaves out log w_k, so that the E-step
     * kernels give each state's own log-density; the weights stay
     * uniform and only serve the centre. */
    int unweighted;
};

/* Number of doubles in the covariances (and in prec) of a type. */
size_t emgmm__cov_size(emgmm_covariance_type type, size_t k, size_t d);

/* Allocates a model with uninitialised parameter arrays. */
int emgmm__model_alloc(emgmm_covariance_type type, size_t k, size_t d,
                       emgmm_model **out);
/* Recomputes prec, centre, mean_proj and log_norm from weights, means and
 * covariances. Returns EMGMM_ERR_SINGULAR (component in *bad) if a
 * covariance is not positive definite. `scratch` holds d*d doubles. */
int emgmm__model_update_derived(emgmm_model *m, double *scratch, int *bad);
/* The rules of emgmm_model_create, shared with the HMM's: a distribution
 * (weights, start probabilities, a transition row) is finite,
 * non-negative and sums to 1 within 1e-6 (EMGMM_ERR_INVALID otherwise,
 * its sum in *total); copied, it is kept bit for bit when the sum is 1 up
 * to rounding, else renormalised (out may be p). A covariance matrix is
 * finite and symmetric within 1e-10 relative; copied, its lower triangle
 * (the one used) is mirrored (t may be s). */
int emgmm__check_distribution(const double *p, size_t k, double *total);
void emgmm__copy_distribution(const double *p, size_t k, double total,
                              double *out);
int emgmm__symmetric(const double *s, size_t d);
void emgmm__copy_lower(const double *s, size_t d, double *t);

/* Copies parameters and derived arrays of src into dst (same shapes). */
void emgmm__model_copy(emgmm_model *dst, const emgmm_model *src);

/* ---- linear algebra helpers (linalg.c) ------------------------------ */

/* Cholesky factor of a (d x d, row-major, lower triangle read) in place:
 * the lower triangle receives L with L L^T = a; the strict upper triangle
 * is zeroed. Returns 0, or non-zero if a is not positive definite. */
int emgmm__cholesky_lower(double *a, size_t d);
/* Given L (lower, d x d; overwritten with L^-1), writes U = L^-T (upper)
 * into u with leading dimension ldu, and returns log det U = -sum log L_ii. */
double emgmm__precision_factor(double *l, size_t d, double *u,
                               size_t ldu);

/* ---- workspace (estep.c) -------------------------------------------- */

/* Everything the E- and M-steps need, allocated once per fit (or per
 * predict call) so that the EM loop itself never allocates. Each thread
 * owns a slice of proj and centred. */
typedef struct emgmm_workspace {
    size_t block_rows; /* rows per E-step block */
    size_t gather_rows; /* rows per M-step syrk call */
    size_t n_blocks;   /* ceil(n / block_rows) */
    int n_threads;
    double *proj;      /* n_threads * block_rows * (k*d + d) */
    double *centred;   /* n_threads * centred_stride (M-step): the
                          gathered rows (gather_rows * d), or the work of
                          the M-step kernels (kernels.h) */
    size_t centred_stride; /* doubles per thread in centred */
    double *block_ll;  /* n_blocks: per-block log-likelihood sums, added
                          in block order so the total does not depend on
                          the thread count */
    double *scratch;   /* d * d */
    double *sphere;    /* k * d: spherical M-step, per-feature sums */
    /* The M-step's sums (N_k, R^T X) in fixed chunks of sum_rows rows
     * (set by n alone), spread over threads and added in chunk order,
     * so that the result does not depend on the thread count: n_sums
     * chunks of k * d + k doubles. */
    size_t sum_rows, n_sums;
    double *sums;
    /* For the smallest d (kernels.h): the E-step's kernel also adds up the
     * M-step's first moments while the responsibilities are in
     * registers, per block (n_blocks x (k * d + k), laid out as sums);
     * moments_ready says that they belong to the responsibilities of the
     * last emgmm__estep, and emgmm__mstep uses them (and clears it) in
     * place of another pass. NULL where the kernel does not serve. */
    double *moments;
    int moments_ready;
    /* Set for a fit spread over several processes (emgmm_params
     * .allreduce): sums of the E- and M-steps are added over all of them
     * before they are used. NULL: one process. */
    emgmm_allreduce_fn reduce;
    void *reduce_data;
    /* The fused iteration (emgmm__fused_step; NULL slots: not laid out).
     * Rows are taken in chunks of fused_rows (a multiple of block_rows);
     * the chunks are split into n_slots contiguous runs, both set by n,
     * k, d and the type alone, never by the thread count. Each slot
     * (slot_size doubles: log-likelihood, N_k, sum r (x - centre), raw
     * scatter sums) is filled by one thread, in chunk order, and the
     * slots are added in slot order. */
    size_t fused_rows, n_slots, slot_size;
    double *slots;
} emgmm_workspace;

/* Sums v (count doubles) over the processes of a distributed fit;
 * EMGMM_OK at once for a single process, EMGMM_ERR_IO if the sum failed. */
int emgmm__allreduce(const emgmm_workspace *ws, double *v, size_t count);
/* For a fit spread over processes (allreduce not NULL): every process
 * passes its status and gets the same one back, the most severe error
 * any of them had (so that none is left waiting in a sum while another
 * has returned). EMGMM_ERR_IO if the sum itself failed. */
int emgmm__collective(emgmm_allreduce_fn allreduce, void *data, int rc);

int emgmm__workspace_alloc(emgmm_workspace *ws, size_t n, size_t k,
                           size_t d, int n_threads);
void emgmm__workspace_free(emgmm_workspace *ws);

/* ---- E-step (estep.c) ----------------------------------------------- */

/* Rows per block: large enough for efficient gemm, small enough that the
 * projection of a block on all components stays a few MiB. */
size_t emgmm__estep_block_rows(size_t k, size_t d);

/* Weighted log-densities log w_k + log N(x_i | mu_k, Sigma_k) of rows
 * [0, rows) of X into logp (rows x k, leading dimension k).
 * proj: workspace of rows * (k*d + d) doubles. */
void emgmm__log_prob_block(const emgmm_model *m, const double *X,
                           size_t rows, size_t ldx, double *proj,
                           double *logp);

/* Turns rows of weighted log-densities (rows x k) into responsibilities in
 * place, by a stable log-sum-exp. Writes log p(x_i) to log_norm[i] when
 * log_norm is not NULL; returns their sum. With sample weights (weight
 * not NULL), row i's responsibilities are multiplied by weight[i] (what
 * the M-step sums) and the sum is weighted. */
double emgmm__normalize_log_resp(double *logp, size_t rows, size_t k,
                                 const double *weight, double *log_norm);

/* One block's E-step: emgmm__log_prob_block into resp, then
 * emgmm__normalize_log_resp (lse: its log_norm), or for the smallest d
 * both in one kernel (kernels.h) with the same per-row results; returns
 * the block's (weighted) total. */
double emgmm__estep_block(const emgmm_model *m, const double *X,
                          size_t rows, size_t ldx, double *proj,
                          const double *weight, double *resp, double *lse);

/* The whole E-step over X: resp (n x k) receives responsibilities (times
 * the sample weights, when weight is not NULL); returns the (weighted)
 * total log-likelihood. */
double emgmm__estep(const emgmm_model *m, const double *X, size_t n,
                    size_t ldx, const double *weight, double *resp,
                    emgmm_workspace *ws);

/* ---- the predict family (predict.c; float32.c's _f32 variants) ------- */

/* What a predict-family call makes of each block's weighted
 * log-densities. */
typedef enum emgmm_want {
    EMGMM_WANT_LABELS, /* out: int32 labels (n) */
    EMGMM_WANT_PROBA,  /* out: posteriors (n x k); the block's logp is
                          already out + i0 * k */
    EMGMM_WANT_LOGP,   /* out: log p(x_i) (n) */
    EMGMM_WANT_TOTAL   /* *block_ll: the block's sum of log p(x_i) */
} emgmm_want;

/* Turns the weighted log-densities of rows [i0, i0 + rows) (logp,
 * rows x k) into what w asks for, in out (or *block_ll). */
void emgmm__predict_block(emgmm_want w, double *logp, size_t rows, size_t k,
                          void *out, size_t i0, double *block_ll);

/* ---- M-step (mstep.c) ----------------------------------------------- */

/* Sets m's weights, means and covariances from responsibilities (n x k;
 * already multiplied by the sample weights, if any) and recomputes the
 * derived arrays. Where ws->moments_ready, the first moments are the
 * E-step's (resp must be that E-step's, unchanged). Returns
 * EMGMM_ERR_SINGULAR with *bad
 * set if a covariance is not positive definite after adding reg_covar. */
int emgmm__mstep(emgmm_model *m, const double *X, size_t n, size_t ldx,
                 const double *resp, double reg_covar, emgmm_workspace *ws,
                 int *bad);

/* N_k = sum_i r_ik into nk (k) and sum_i r_ik x_i into sums (k x d, one
 * gemm R^T X), for rows [0, n) of X with responsibilities resp (n x k). */
void emgmm__mstep_sums(const double *X, size_t n, size_t ldx,
                       const double *resp, size_t k, size_t d, double *nk,
                       double *sums);

/* The first half of every M-step: N_k (+10 eps, into m->log_norm, which
 * serves as scratch until the derived arrays are recomputed), the weights
 * and the means (one gemm R^T X, plus mean_correction (k x d) when not
 * NULL, summed over the processes before the division). sum_k N_k into
 * *total. */
int emgmm__mstep_weights_means(emgmm_model *m, const double *X, size_t n,
                               size_t ldx, const double *resp,
                               const double *mean_correction,
                               const emgmm_workspace *ws, double *total);
/* The end of emgmm__mstep_weights_means, for sums made elsewhere (a
 * streamed fit): N_k (no eps yet) in m->log_norm and sum_i r_ik x_i in
 * m->means; sums them over processes, then weights and means. */
int emgmm__mstep_finish_means(emgmm_model *m, const emgmm_workspace *ws,
                              double *total);
/* Zeroes and returns where the raw scatter sums of m's type go. */
double *emgmm__mstep_raw(emgmm_model *m, emgmm_workspace *ws);
/* Adds rows [0, n) of X with their responsibilities to the raw scatter
 * sums about m's (new) means. */
void emgmm__mstep_scatter_add(emgmm_model *m, const double *X, size_t n,
                              size_t ldx, const double *resp, double *raw,
                              emgmm_workspace *ws);
/* The second half: raw scatter sums (already summed over processes) to
 * covariances. raw is m->covariances (full: lower triangles; tied: the
 * lower triangle; diag: per-feature sums) or, for spherical, k x d
 * per-feature sums. Then the derived arrays. */
int emgmm__mstep_finish(emgmm_model *m, const double *raw, double total,
                        double reg_covar, emgmm_workspace *ws, int *bad);
/* Doubles of raw scatter sums of a type (what is summed over processes). */
size_t emgmm__mstep_raw_size(emgmm_covariance_type type, size_t k, size_t d);
/* Lower triangle of a scatter matrix / divisor, mirrored to the upper
 * one, plus reg on the diagonal. */
void emgmm__finish_covariance(double *cov, size_t d, double divisor,
                              double reg);

/* ---- the fused iteration (mstep.c) ---------------------------------- */

/* Lays out ws's slots for the fused iteration on n rows (after
 * emgmm__workspace_alloc). EMGMM_ERR_NOMEM on failure. */
int emgmm__fused_alloc(emgmm_workspace *ws, size_t n,
                       emgmm_covariance_type type, size_t k, size_t d);
/* One EM iteration in one pass over X (no missing values): the E-step
 * under m's parameters (responsibilities, times the weights, into resp;
 * the total log-likelihood, summed over processes, into *ll: the same
 * bits as emgmm__estep) and the M-step sums, with the scatter centred on
 * m's current means and corrected exactly to the new ones (see mstep.c);
 * then m receives the new parameters, as from emgmm__mstep on resp. */
int emgmm__fused_step(emgmm_model *m, const double *X, size_t n, size_t ldx,
                      const double *weight, double *resp, double reg_covar,
                      emgmm_workspace *ws, double *ll, int *bad);
/* Whether in-memory fits without missing values use the fused iteration
 * (1) or the separate E- and M-step passes (0). For tests and
 * benchmarks; not to be changed while a fit runs. */
void emgmm__set_fused(int on);
int emgmm__fused(void);

/* ---- missing values (missing.c) ------------------------------------- */

/* Where the gaps (NaN) of a data set are. Incomplete rows are grouped by
 * their pattern of missing coordinates, so that each pattern needs one
 * small factorisation per component; complete rows need nothing here.
 * "Slots" number the incomplete rows in row order. */
typedef struct emgmm_gaps {
    size_t n, d, k;
    size_t n_incomplete;   /* rows with a gap */
    size_t n_patterns;
    size_t max_missing;    /* the most gaps in one row */
    size_t *slot_row;      /* n_incomplete: the row of each slot (slots
                              are the incomplete rows in row order) */
    size_t *pattern_slots; /* n_incomplete: the slots grouped by pattern */
    size_t *pattern_first; /* n_patterns + 1: pattern p has slots
                              pattern_slots[pattern_first[p] ..
                              pattern_first[p+1]-1] */
    double *pattern_weight; /* per thread, n_patterns: M-step sums */
    size_t *coord_first;   /* n_patterns + 1: its missing coordinates are
                              coords[coord_first[p] .. coord_first[p+1]-1],
                              ascending */
    size_t *coords;
    size_t *row_slot;      /* n: slot + 1 of a row, 0 for a complete row */
    size_t *slot_pattern;  /* n_incomplete */
    size_t *cond_first;    /* n_incomplete: where the slot's k x r
                              conditional means start in cond */
    double *cond;          /* E[x_m | x_o, component c], per slot: k x r */
    double *precision;     /* k (tied: 1) x d x d: Sigma^-1, explicit */
    double *scatter;       /* k x d x d: M-step sums (tied, diag,
                              spherical) */
    double *mean_shift;    /* k x d: M-step, conditional means - fill */
    double *scratch;       /* per thread: see missing.c */
    size_t scratch_size;   /* doubles per thread */
    int n_threads;
} emgmm_gaps;

/* Finds the NaN entries of X (n x d) and lays out the structure for k
 * components of `type`. Returns EMGMM_ERR_NOMEM, or EMGMM_OK (also when
 * there is no gap: then n_incomplete is 0 and nothing else is needed). */
int emgmm__gaps_build(emgmm_gaps *g, const double *X, size_t n, size_t d,
                      size_t ldx, size_t k, emgmm_covariance_type type,
                      int n_threads);
void emgmm__gaps_free(emgmm_gaps *g);

/* E-step on data with gaps. Xf is the data with every gap filled by any
 * finite value (the result does not depend on it, see missing.c); resp
 * as emgmm__estep; each row's log p(x_o) into row_log_lik when not NULL.
 * Also stores the conditional means in g->cond. Returns
 * EMGMM_OK or EMGMM_ERR_SINGULAR; the total log-likelihood in *total. */
int emgmm__estep_gaps(const emgmm_model *m, const double *Xf, size_t ldx,
                      const double *weight, double *resp,
                      emgmm_workspace *ws, emgmm_gaps *g, double *total,
                      double *row_log_lik);

/* The first half of emgmm__estep_gaps: each row's log-density under each
 * component (log w_c + log N of its observed coordinates; for an
 * unweighted model the state's own density, and 0 for a row with
 * nothing observed) into logp (n x k), and the conditional means into
 * g->cond. EMGMM_OK or EMGMM_ERR_SINGULAR. */
int emgmm__log_prob_gaps(const emgmm_model *m, const double *Xf,
                         size_t ldx, emgmm_workspace *ws, emgmm_gaps *g,
                         double *logp);

/* The pieces of emgmm__mstep_gaps, for an M-step of its own (the HMM's):
 * the correction to R^T Xf (k x d, into g->mean_shift) that puts the
 * conditional means in place of the fill; the expected scatter about m's
 * (new) means, reduced to the type's raw sums (see emgmm__mstep_raw) and
 * summed over processes (NULL with *rc set on failure); and the refill of
 * every gap with its conditional expectation. */
double *emgmm__gaps_mean_shift(const emgmm_gaps *g, const double *Xf,
                               size_t ldx, const double *resp, size_t k);
double *emgmm__gaps_scatter(emgmm_model *m, const double *Xf, size_t ldx,
                            const double *resp, emgmm_workspace *ws,
                            emgmm_gaps *g, int *rc, int *bad);
void emgmm__gaps_refill(const emgmm_gaps *g, double *Xf, size_t ldx,
                        const double *resp, size_t k);
/* The expected scatter of g's rows (one block of a streamed fit) about
 * m's (new) means, with the conditional covariances of g->precision (the
 * E-step's parameters), added to raw in the shape of emgmm__mstep_raw;
 * not summed over processes. S: k x d x d doubles of scratch. One thread.
 * EMGMM_OK, or EMGMM_ERR_SINGULAR with the component in *bad. */
int emgmm__gaps_scatter_add(emgmm_model *m, const double *Xf, size_t ldx,
                            const double *resp, emgmm_workspace *ws,
                            emgmm_gaps *g, double *S, double *raw, int *bad);

/* M-step from the expected sufficient statistics of the last
 * emgmm__estep_gaps; then refills the gaps of Xf with their conditional
 * expectations (so that the next E-step's fill is close, see missing.c). */
int emgmm__mstep_gaps(emgmm_model *m, double *Xf, size_t ldx,
                      const double *resp, double reg_covar,
                      emgmm_workspace *ws, emgmm_gaps *g, int *bad);

/* ---- initialisation (init.c) ---------------------------------------- */

struct emgmm_rng;
/* Fills resp (n x k) with initial responsibilities by `method` (k-means
 * with sample weights, when weight is not NULL; resp is not multiplied by
 * them).
 * Returns EMGMM_ERR_TOO_FEW_SAMPLES when there are fewer distinct samples
 * than components (kmeans, kmeans++, random-data). */
int emgmm__init_resp(emgmm_init_method method, const double *X, size_t n,
                     size_t d, size_t ldx, const double *weight, size_t k,
                     int n_threads, struct emgmm_rng *rng, double *resp);

/* ---- sampling (sample.c) -------------------------------------------- */

/* Cholesky factors of the model's matrices (k for full, 1 for tied;
 * NULL for diag and spherical) into *chol (emgmm__free it). */
int emgmm__sample_factors(const emgmm_model *m, double **chol);
/* x = mu_c + L_c z, z standard normal (drawn into z, d doubles). */
void emgmm__sample_component(const emgmm_model *m, const double *chol,
                             size_t c, struct emgmm_rng *rng, double *z,
                             double *x);
/* An index drawn from the discrete distribution p (k entries). */
size_t emgmm__sample_index(struct emgmm_rng *rng, const double *p, size_t k);

/* ---- threads -------------------------------------------------------- */

/* The BLAS provider's thread count, where the provider tells (else 0). */
int emgmm__get_blas_threads(void);
/* Sets it, where the provider allows (else does nothing). */
void emgmm__set_blas_threads(int n);
/* Holds the BLAS to one thread until the matching release (nested and
 * concurrent holds are counted; the last release restores the count the
 * first hold found). */
void emgmm__blas_hold_one_thread(void);
void emgmm__blas_release_one_thread(void);
/* Threads for row-block work on n rows of d features against k
 * components (or states): emgmm__loop_threads(n_threads), but one below
 * about a millisecond of work per pass, where waking a second thread costs
 * more than it saves (and on a busy machine much more). The fit, the
 * predict family and the HMM all use this rule. */
int emgmm__work_threads(int n_threads, size_t n, size_t k, size_t d);
/* The calling thread's number in an OpenMP parallel region (0 outside
 * one, and in a build without OpenMP): the slice of a workspace it owns. */
int emgmm__thread_id(void);
/* Threads the row-block loops use: n_threads if positive, else OpenMP's
 * default; 1 in a build without OpenMP. */
int emgmm__loop_threads(int n_threads);

/* ---- hidden Markov models (hmm*.c) --------------------------------- */

#include "emgmm_hmm.h"

/* How an HMM was fitted (its file's "fit" record): what a resumed fit
 * needs (n_iter, the last E-step's total, the settings) and what a
 * reader wants to know. */
typedef struct emgmm_hmm_fit_record {
    int present;
    int converged;
    int n_iter;
    int max_iter;
    double log_likelihood; /* of the returned model; NaN when unknown */
    double last_estep;     /* NaN when unknown */
    double tol;
    uint64_t seed;
    char params[8];
} emgmm_hmm_fit_record;

struct emgmm_hmm {
    emgmm_hmm_emission emission;
    emgmm_covariance_type type;
    size_t k, d, n_mix; /* n_mix is 1 for Gaussian emissions */
    double *startprob;  /* k */
    double *transmat;   /* k x k, row i: from state i */
    /* Gaussian emissions: one component per state, `unweighted` (its
     * log_norm is each state's normalising constant), so that the
     * mixture's row-block kernels give the emission log-densities and its
     * M-step sums the emission statistics. NULL for GMM emissions. */
    emgmm_model *emis;
    /* GMM emissions: state s is the ordinary mixture mix[s] of n_mix
     * components (hmmlearn's tied: one matrix per state, that mixture's
     * tied matrix). mix_weights (k x n_mix), mix_means (k x n_mix x d) and
     * mix_covs (k times one mixture's covariances) hold the same numbers
     * in hmmlearn's shapes, for the accessors and files. */
    emgmm_model **mix;
    double *mix_weights, *mix_means, *mix_covs;
    emgmm_hmm_fit_record fit;
};

/* Allocates a model with uninitialised parameters. */
int emgmm__hmm_alloc(emgmm_hmm_emission emission, emgmm_covariance_type type,
                     size_t k, size_t n_mix, size_t d, emgmm_hmm **out);
/* GMM emissions: copies mix_* into the per-state mixtures (scatter), or
 * back (gather). Nothing for Gaussian emissions. */
void emgmm__hmm_scatter(emgmm_hmm *m);
void emgmm__hmm_gather(emgmm_hmm *m);
/* Checks startprob, transmat and the mixture weights (finite,
 * non-negative, summing to 1 within 1e-6; renormalised) and recomputes
 * the emissions' derived arrays. EMGMM_ERR_INVALID or EMGMM_ERR_SINGULAR
 * (state in *bad). */
int emgmm__hmm_validate(emgmm_hmm *m, int *bad);
/* Copies src's parameters into dst (same shapes). */
void emgmm__hmm_copy(emgmm_hmm *dst, const emgmm_hmm *src);

/* Sequence boundaries: first (n_seq + 1 entries) from lengths (NULL: one
 * sequence of n rows). EMGMM_ERR_INVALID when they do not add up to n or
 * one is zero. */
int emgmm__hmm_bounds(const size_t *lengths, size_t n_seq, size_t n,
                      size_t **first);

/* Everything one E-step of an HMM needs, allocated once per fit (or per
 * call) so that iterations never allocate. */
typedef struct emgmm_hmm_work {
    size_t n, k, d, n_seq, n_chunks;
    const size_t *first;  /* n_seq + 1 sequence boundaries */
    double *frame;        /* n x k: emission log-densities, then scaled
                             probabilities exp(log p - shift) */
    double *shift;        /* n: each row's largest log-density */
    double *post;         /* n x k: scaled forward variables, then the
                             state posteriors */
    double *scale;        /* n: the forward recursion's normalisers */
    double *chunk_sums;   /* n_chunks x (1 + k + k*k): per chunk of
                             sequences, log-likelihood, start and
                             transition counts, added in chunk order so
                             that the totals do not depend on threads */
    double *vec;          /* n_threads x 5k: per-thread vectors */
    double *trans_t;      /* k x k: the transition matrix, transposed */
    size_t n_mix;         /* GMM emissions: components per state; else 1 */
    double *mix_rows;     /* GMM: n_threads x block_rows x n_mix */
    double *mix_post;     /* GMM, when fitting: n x k x n_mix, each
                             state's component posteriors given the state */
    emgmm_workspace ws;   /* the mixture's (projections, M-step) */
    /* Missing values (emgmm__hmm_work_gaps): the data with every gap
     * filled (n x d), where the gaps are, and the log-densities of the
     * observed coordinates (n x k), kept for the rescued step. */
    int has_gaps;
    double *filled;
    double *log_frame;
    emgmm_gaps gaps;
} emgmm_hmm_work;

/* With missing values (NaN) in X: fills w->filled with X, each gap with
 * its column's observed mean, lays out the gaps for a model of k states
 * of `type`, and sets has_gaps. Without any NaN it leaves has_gaps 0 (the
 * ordinary computation, bit for bit). A column with no observed value
 * (over all processes, when reduce is set) is EMGMM_ERR_INVALID;
 * infinity EMGMM_ERR_NONFINITE. */
int emgmm__hmm_work_gaps(emgmm_hmm_work *w, const double *X, size_t ldx,
                         emgmm_covariance_type type);

/* n_mix: 0 for Gaussian emissions, else the components per state;
 * keep_mix: store the GMM component posteriors (a fit's M-step needs
 * them). */
int emgmm__hmm_work_alloc(emgmm_hmm_work *w, size_t k, size_t n_mix,
                          size_t d, size_t n, const size_t *first,
                          size_t n_seq, int n_threads, int keep_mix);
void emgmm__hmm_work_free(emgmm_hmm_work *w);

/* Emission log-densities of every row into w->frame (threaded over row
 * blocks, by the mixture's kernels). */
int emgmm__hmm_log_emissions(const emgmm_hmm *m, const double *X,
                              size_t ldx, emgmm_hmm_work *w);
/* The E-step: emissions, then the scaled forward-backward on every
 * sequence. w->post receives the state posteriors; sums (1 + k + k*k)
 * the total log-likelihood, the expected start counts and the expected
 * transition counts (summed over processes when w->ws.reduce is set).
 * With posteriors 0, only the forward pass runs and sums[0] is the
 * log-likelihood. */
int emgmm__hmm_estep(const emgmm_hmm *m, const double *X, size_t ldx,
                     emgmm_hmm_work *w, int posteriors, double *sums);

/* ---- timing --------------------------------------------------------- */
double emgmm__now(void);

#endif
