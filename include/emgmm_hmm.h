/*
 * emgmm hidden Markov models: Gaussian emissions (one Gaussian per state,
 * hmmlearn's GaussianHMM) or Gaussian-mixture emissions (a mixture of
 * n_mix Gaussians per state, hmmlearn's GMMHMM), trained by Baum-Welch on
 * the mixture's kernels, with hmmlearn's model, defaults and shapes.
 *
 *     emgmm_hmm_params p;
 *     emgmm_hmm_params_default(&p);
 *     p.n_states = 3;
 *     emgmm_hmm *model = NULL;
 *     emgmm_hmm_fit_info info;
 *     size_t lengths[2] = {400, 600};        // two sequences, 1000 rows
 *     int rc = emgmm_hmm_fit(&p, X, 1000, d, d, lengths, 2, &model, &info);
 *     ...
 *     emgmm_hmm_decode(model, X, 1000, d, lengths, 2, states, &logprob);
 *     emgmm_hmm_free(&model);
 *
 * Conventions are the mixture's (emgmm.h): row-major data with a leading
 * dimension, emgmm_status codes, no printing, caller-allocated outputs.
 * Several sequences are given as their rows one after another plus their
 * lengths (hmmlearn's X and lengths); lengths NULL means one sequence of
 * all n rows. States are 0-based.
 *
 * Shapes (hmmlearn's), with K states, M components per state, D features:
 *   Gaussian: means K x D; covariances full K x D x D, tied D x D (shared
 *             by all states), diag K x D, spherical K.
 *   GMM:      weights K x M; means K x M x D; covariances full
 *             K x M x D x D, tied K x D x D (one matrix per state, shared
 *             by its components), diag K x M x D, spherical K x M.
 */
#ifndef EMGMM_HMM_H
#define EMGMM_HMM_H

#include "emgmm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct emgmm_hmm emgmm_hmm;

typedef enum emgmm_hmm_emission {
    EMGMM_HMM_GAUSSIAN = 0, /* "gaussian": one Gaussian per state */
    EMGMM_HMM_GMM = 1       /* "gmm": a Gaussian mixture per state */
} emgmm_hmm_emission;

/** What the progress callback sees after every Baum-Welch iteration. */
typedef struct emgmm_hmm_iteration {
    int iteration;         /**< 1-based */
    double log_likelihood; /**< total over all sequences, at this
                                iteration's E-step (hmmlearn's
                                monitor_.history entry) */
    double change;         /**< against the previous E-step (inf at 1) */
    double seconds;        /**< wall time of this iteration */
    /** The parameters after this iteration's M-step, valid during the
     *  call only. Saving it (emgmm_hmm_save) makes a checkpoint. */
    const emgmm_hmm *model;
} emgmm_hmm_iteration;

/** Return non-zero to stop the fit (EMGMM_ERR_CANCELLED). */
typedef int (*emgmm_hmm_progress_fn)(const emgmm_hmm_iteration *it,
                                     void *user);

typedef struct emgmm_hmm_params {
    int n_states;   /**< required, >= 1 (or given by init_model) */
    emgmm_hmm_emission emission;           /**< default GAUSSIAN */
    int n_mix;      /**< default 1; components per state for GMM */
    emgmm_covariance_type covariance_type; /**< default DIAG (hmmlearn's) */
    int max_iter;   /**< default 10 (hmmlearn's n_iter) */
    /** default 1e-2: stop when the total log-likelihood of an E-step
     *  exceeds the previous one by less than tol (signed, as hmmlearn's
     *  ConvergenceMonitor: a decrease also stops). Negative: run exactly
     *  max_iter iterations (hmmlearn's tol = -inf). */
    double tol;
    /** default 1e-3: added to the diagonal of the data's covariance for
     *  the initial covariances, and the floor a covariance gets when it
     *  stops being positive definite (see emgmm_hmm_fit). */
    double min_covar;
    /* hmmlearn's priors (scalars; hmmlearn also takes arrays). */
    double startprob_prior; /**< default 1 (Dirichlet; 1 = none) */
    double transmat_prior;  /**< default 1 (Dirichlet, per row) */
    double weights_prior;   /**< default 1 (GMM: Dirichlet per state) */
    double means_prior;     /**< default 0 */
    double means_weight;    /**< default 0 */
    /** default NaN: hmmlearn's default for the emission. GaussianHMM:
     *  1e-2, added to every covariance entry; GMMHMM: its inverse-gamma
     *  alpha (diag -1.5, spherical -(M+2)/2) or inverse-Wishart psi
     *  (full, tied: 0), which make its update the maximum-likelihood one
     *  except for spherical (README, "Hidden Markov models"). */
    double covars_prior;
    /** default NaN: GaussianHMM 1; GMMHMM beta (diag, spherical: 0) or
     *  nu (full -(D+2), tied -(M+D+1)). */
    double covars_weight;
    /** default "stmcw": what the M-step updates, as hmmlearn's `params`:
     *  s start probabilities, t transitions, m means, c covariances, w
     *  mixture weights (GMM only; ignored for Gaussian emissions). */
    char params[8];
    /** default "stmcw": what is initialised from the data (hmmlearn's
     *  init_params); with init_model, the other parameters come from it.
     *  Without init_model it must hold every letter of the emission. */
    char init_params[8];
    /** default NULL: a model to start from (its n_states, n_mix,
     *  covariance type and emission are used). Only read during the
     *  call. */
    const emgmm_hmm *init_model;
    /** default 0. With init_model, 1 continues the fit recorded in its
     *  "fit" record (a checkpoint): iterations go on from its n_iter up
     *  to max_iter, and the convergence test compares against its last
     *  E-step value. */
    int resume;
    uint64_t seed;  /**< default 0: the k-means of the initial means */
    int n_init;     /**< default 1: fits from different seeds, the best
                         final log-likelihood kept (not with init_model) */
    int n_threads;  /**< default 0: as emgmm_params.n_threads */
    emgmm_hmm_progress_fn progress; /**< default NULL */
    void *progress_data;
    /** default 0: a NaN in X is an error (EMGMM_ERR_NONFINITE). 1 treats
     *  NaN as missing at random (Gaussian emissions): each row emits the
     *  marginal density of its observed coordinates (a row with nothing
     *  observed emits 1 in every state: the chain runs on through it),
     *  and the M-step uses the expected sufficient statistics, with the
     *  mixture's missing-value machinery (README, "Missing values").
     *  Without any NaN the result is the ordinary fit, bit for bit. */
    int missing;
    /** default NULL: as emgmm_params.allreduce. Each process passes its
     *  own whole sequences; every sum over sequences (log-likelihood,
     *  start and transition counts, state totals, weighted sums and
     *  scatters) goes through it. init_model is required. */
    emgmm_allreduce_fn allreduce;
    void *allreduce_data;
    uint64_t reserved[11];
} emgmm_hmm_params;

/** Fills *p with the defaults listed above (hmmlearn 0.3.3's). */
EMGMM_API void emgmm_hmm_params_default(emgmm_hmm_params *p);

typedef struct emgmm_hmm_fit_info {
    int n_iter;            /**< Baum-Welch iterations done */
    int converged;         /**< 1 if the change fell below tol */
    int best_init;         /**< restart kept (n_init > 1) */
    int bad_state;         /**< with EMGMM_ERR_SINGULAR: the state */
    double log_likelihood; /**< total over all sequences of the returned
                                model (hmmlearn's score(X, lengths)) */
    double last_estep;     /**< the last E-step's total (before the last
                                M-step; hmmlearn's monitor_.history[-1]) */
    double bic;            /**< -2 log L + p ln N (p: free parameters of
                                the letters in params, as hmmlearn) */
    double aic;            /**< -2 log L + 2 p */
    /** Over all M-steps, how often a state had less than 1e-10 expected
     *  rows: its mean and covariance were kept (hmmlearn would give NaN
     *  means). */
    int n_empty_states;
    /** How often a transition row (or the start vector) had no expected
     *  count: it was kept as it was (hmmlearn would leave zeros). */
    int n_kept_rows;
    /** How often a covariance stopped being positive definite and got
     *  min_covar (ten times more on each further try) added to its
     *  diagonal. */
    int n_floored_covariances;
    double seconds;
    uint64_t reserved[8];
} emgmm_hmm_fit_info;

/**
 * Fits an HMM by Baum-Welch to n rows of X (n x d, leading dimension ldx)
 * holding n_seq sequences of the given lengths (summing to n; NULL: one
 * sequence). On success *model receives a new model (emgmm_hmm_free).
 *
 * Each iteration: emission log-densities by the mixture's kernels, the
 * scaled forward-backward per sequence (see src/hmm_forward_backward.c),
 * then hmmlearn's M-step with its priors. Degenerate cases never put NaN
 * in a model: a state without posterior mass keeps its emission, a
 * transition row without counts keeps its values, a covariance that is
 * not positive definite gets min_covar added to its diagonal (each is
 * counted in info).
 */
EMGMM_API int emgmm_hmm_fit(const emgmm_hmm_params *p, const double *X,
                            size_t n, size_t d, size_t ldx,
                            const size_t *lengths, size_t n_seq,
                            emgmm_hmm **model, emgmm_hmm_fit_info *info);

/**
 * Builds a model from parameters (copied): startprob (k), transmat
 * (k x k, rows summing to 1 within 1e-6), means (k x d) and covariances
 * in the type's shape. Zeros in startprob and transmat are structural:
 * fitting keeps them zero. EMGMM_ERR_INVALID for bad probabilities or
 * shapes, EMGMM_ERR_SINGULAR (state in *bad_state) for a covariance that
 * is not positive definite.
 */
EMGMM_API int emgmm_hmm_create(emgmm_covariance_type type, size_t k,
                               size_t d, const double *startprob,
                               const double *transmat, const double *means,
                               const double *covariances, emgmm_hmm **model,
                               int *bad_state);

/** The same with Gaussian-mixture emissions: weights (k x n_mix, each
 *  state's summing to 1 within 1e-6), means (k x n_mix x d) and
 *  covariances in GMM shapes (see the top of this file). */
EMGMM_API int emgmm_hmm_create_gmm(emgmm_covariance_type type, size_t k,
                                   size_t n_mix, size_t d,
                                   const double *startprob,
                                   const double *transmat,
                                   const double *weights, const double *means,
                                   const double *covariances,
                                   emgmm_hmm **model, int *bad_state);

EMGMM_API void emgmm_hmm_free(emgmm_hmm **model);

EMGMM_API size_t emgmm_hmm_n_states(const emgmm_hmm *m);
EMGMM_API size_t emgmm_hmm_n_features(const emgmm_hmm *m);
EMGMM_API size_t emgmm_hmm_n_mix(const emgmm_hmm *m);
EMGMM_API emgmm_hmm_emission emgmm_hmm_get_emission(const emgmm_hmm *m);
EMGMM_API emgmm_covariance_type
emgmm_hmm_get_covariance_type(const emgmm_hmm *m);
/** Read-only views, valid until emgmm_hmm_free: startprob (k), transmat
 *  (k x k), weights (GMM: k x n_mix; NULL for Gaussian emissions), means
 *  and covariances (the shapes at the top of this file). */
EMGMM_API const double *emgmm_hmm_startprob(const emgmm_hmm *m);
EMGMM_API const double *emgmm_hmm_transmat(const emgmm_hmm *m);
EMGMM_API const double *emgmm_hmm_weights(const emgmm_hmm *m);
EMGMM_API const double *emgmm_hmm_means(const emgmm_hmm *m);
EMGMM_API const double *emgmm_hmm_covariances(const emgmm_hmm *m);
/** Free parameters for the letters in `params` (NULL: all), counted as
 *  hmmlearn counts them for BIC (for GMM, "w" counts n_mix - 1, as
 *  hmmlearn does). */
EMGMM_API size_t emgmm_hmm_n_parameters(const emgmm_hmm *m,
                                        const char *params);

/* Using a model; all are safe to call concurrently on one model. */

/** *log_likelihood = total over the sequences of log p(x_1..x_T). */
EMGMM_API int emgmm_hmm_score(const emgmm_hmm *m, const double *X, size_t n,
                              size_t ldx, const size_t *lengths,
                              size_t n_seq, double *log_likelihood);
/** proba (n x k): posterior probability of each state at each row. */
EMGMM_API int emgmm_hmm_predict_proba(const emgmm_hmm *m, const double *X,
                                      size_t n, size_t ldx,
                                      const size_t *lengths, size_t n_seq,
                                      double *proba);
/** Viterbi: the most probable state path (states, n) and its total log
 *  probability over the sequences (log_probability, may be NULL). */
EMGMM_API int emgmm_hmm_decode(const emgmm_hmm *m, const double *X,
                               size_t n, size_t ldx, const size_t *lengths,
                               size_t n_seq, int32_t *states,
                               double *log_probability);
/** The same three with missing values (NaN) in X, marginalised over each
 *  row's observed coordinates (Gaussian emissions; see
 *  emgmm_hmm_params.missing). Infinity stays EMGMM_ERR_NONFINITE. */
EMGMM_API int emgmm_hmm_score_missing(const emgmm_hmm *m, const double *X,
                                      size_t n, size_t ldx,
                                      const size_t *lengths, size_t n_seq,
                                      double *log_likelihood);
EMGMM_API int emgmm_hmm_predict_proba_missing(const emgmm_hmm *m,
                                              const double *X, size_t n,
                                              size_t ldx,
                                              const size_t *lengths,
                                              size_t n_seq, double *proba);
EMGMM_API int emgmm_hmm_decode_missing(const emgmm_hmm *m, const double *X,
                                       size_t n, size_t ldx,
                                       const size_t *lengths, size_t n_seq,
                                       int32_t *states,
                                       double *log_probability);
/** Draws one sequence of n rows (X, n x d contiguous) and, when states is
 *  not NULL, its states. The same seed gives the same bits. */
EMGMM_API int emgmm_hmm_sample(const emgmm_hmm *m, size_t n, uint64_t seed,
                               double *X, int32_t *states);

/* Model files ("format": "emgmm-hmm"; README "Hidden Markov models"). */

/** Writes the model as JSON, 17 significant digits (a bit-exact round
 *  trip), atomically (a temporary file renamed over path). */
EMGMM_API int emgmm_hmm_save(const emgmm_hmm *m, const char *path);
/** Writes the same JSON to an open stream (e.g. stdout). */
EMGMM_API int emgmm_hmm_write(const emgmm_hmm *m, FILE *f);
/** Reads a model file ("-": standard input); on failure err (when not
 *  NULL) says why, with the line and column of a JSON syntax error. A
 *  file with only the parameters (no "fit" record) is valid. */
EMGMM_API int emgmm_hmm_load(const char *path, emgmm_hmm **model,
                             emgmm_error *err);
/** "gaussian", "gmm"; NULL if unknown. */
EMGMM_API const char *emgmm_hmm_emission_name(emgmm_hmm_emission e);

#ifdef __cplusplus
}
#endif

#endif
