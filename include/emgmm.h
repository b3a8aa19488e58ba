/*
 * emgmm — Gaussian mixture models fitted by Expectation–Maximisation on
 * BLAS and LAPACK.
 *
 * Getting started:
 *
 *     emgmm_params p;
 *     emgmm_params_default(&p);
 *     p.n_components = 3;
 *     emgmm_model *model = NULL;
 *     emgmm_fit_info info;
 *     int rc = emgmm_fit(&p, X, n, d, d, &model, &info);  // X: n x d, row-major
 *     if (rc != EMGMM_OK) fprintf(stderr, "%s\n", emgmm_strerror(rc));
 *     ...
 *     emgmm_predict(model, X, n, d, labels);
 *     emgmm_free(&model);
 *
 * Conventions
 * - Data are row-major double arrays: row i, column j at X[i * ldx + j],
 *   with ldx >= d (the leading dimension lets a caller pass a column slice
 *   of a wider table without copying).
 * - Every function that can fail returns an emgmm_status (0 = success, a
 *   negative code otherwise). The library never prints, exits or aborts.
 * - Ownership: arrays passed in are only read during the call and never
 *   kept; output arrays are caller-allocated unless a comment says otherwise.
 *   A model returned through `emgmm_model **` belongs to the caller and is
 *   released with emgmm_free().
 * - Thread safety: a fitted model is never modified by predict, score,
 *   sample or save, so one model can serve any number of threads at once.
 *   Different fits may run concurrently on different threads, but the BLAS
 *   thread count is process-wide: a non-zero emgmm_params.n_threads changes
 *   it for the whole process (see that field).
 *
 * Covariance types (scikit-learn's shapes): full (k x d x d), tied (one
 * d x d), diag (k x d variances), spherical (k variances).
 */
#ifndef EMGMM_H
#define EMGMM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(EMGMM_BUILDING_LIBRARY) && defined(__GNUC__)
#define EMGMM_API __attribute__((visibility("default")))
#else
#define EMGMM_API
#endif

#define EMGMM_VERSION_MAJOR 0
#define EMGMM_VERSION_MINOR 1
#define EMGMM_VERSION_PATCH 0

/** The library's version as "MAJOR.MINOR.PATCH" (static storage). */
EMGMM_API const char *emgmm_version(void);

/* ------------------------------------------------------------------ */
/* Status codes. The values are pinned: they will not change.          */
/* ------------------------------------------------------------------ */

typedef enum emgmm_status {
    EMGMM_OK = 0,
    /** An allocation failed. Nothing was leaked; outputs are untouched. */
    EMGMM_ERR_NOMEM = -1,
    /** An argument is out of range or inconsistent (NULL pointer, K < 1,
     *  ldx < d, a model whose shapes do not match the data, ...). */
    EMGMM_ERR_INVALID = -2,
    /** A covariance matrix is not positive definite even after adding
     *  reg_covar; emgmm_fit_info.bad_component names the component.
     *  Raise reg_covar, or use fewer components. */
    EMGMM_ERR_SINGULAR = -3,
    /** The data contain NaN or infinity. */
    EMGMM_ERR_NONFINITE = -4,
    /** A file could not be opened, read, written or renamed (errno kept). */
    EMGMM_ERR_IO = -5,
    /** A model file is malformed or inconsistent (see emgmm_error). */
    EMGMM_ERR_FORMAT = -6,
    /** A feature that this version or build does not implement. */
    EMGMM_ERR_UNSUPPORTED = -7,
    /** Fewer samples (or distinct samples) than components. */
    EMGMM_ERR_TOO_FEW_SAMPLES = -8,
    /** The progress callback asked the fit to stop. */
    EMGMM_ERR_CANCELLED = -9,
    /** The data's spread is beyond what double-precision covariances can
     *  hold (a column range above 1e150, whose squares overflow, or
     *  below 1e-150 but not zero, whose squares underflow): rescale the
     *  data. */
    EMGMM_ERR_RANGE = -10,
    /** A component lost all its samples (its responsibilities sum to less
     *  than one sample's weight) and emgmm_params.fail_on_empty was set;
     *  emgmm_fit_info.bad_component names it. */
    EMGMM_ERR_EMPTY_COMPONENT = -11
} emgmm_status;

/** A short English sentence for a status code; never NULL (unknown codes
 *  get "unknown error"). Static storage. */
EMGMM_API const char *emgmm_strerror(int status);

/* ------------------------------------------------------------------ */
/* Enumerations and their names (the names used by the command line    */
/* and the model file).                                                 */
/* ------------------------------------------------------------------ */

typedef enum emgmm_covariance_type {
    EMGMM_COVARIANCE_FULL = 0,      /* "full":      K x D x D */
    EMGMM_COVARIANCE_TIED = 1,      /* "tied":      D x D, shared */
    EMGMM_COVARIANCE_DIAG = 2,      /* "diag":      K x D variances */
    EMGMM_COVARIANCE_SPHERICAL = 3  /* "spherical": K variances */
} emgmm_covariance_type;

typedef enum emgmm_init_method {
    /** k-means++ seeding, then Lloyd iterations; responsibilities are the
     *  hard k-means labels (scikit-learn's default). */
    EMGMM_INIT_KMEANS = 0,
    /** k-means++ seeding only; each sample goes to its nearest seed. */
    EMGMM_INIT_KMEANSPP = 1,
    /** Uniform random responsibilities, normalised per sample. */
    EMGMM_INIT_RANDOM = 2,
    /** K distinct random samples as means; each sample goes to its
     *  nearest mean. */
    EMGMM_INIT_RANDOM_DATA = 3
} emgmm_init_method;

/** "full", "tied", "diag", "spherical"; NULL for an unknown value. */
EMGMM_API const char *emgmm_covariance_type_name(emgmm_covariance_type type);
/** Parses a name above; returns EMGMM_OK or EMGMM_ERR_INVALID. */
EMGMM_API int emgmm_covariance_type_parse(const char *name,
                                          emgmm_covariance_type *type);
/** "kmeans", "kmeans++", "random", "random-data"; NULL if unknown. */
EMGMM_API const char *emgmm_init_method_name(emgmm_init_method method);
/** Parses a name above; returns EMGMM_OK or EMGMM_ERR_INVALID. */
EMGMM_API int emgmm_init_method_parse(const char *name,
                                      emgmm_init_method *method);

/* ------------------------------------------------------------------ */
/* Fitting                                                             */
/* ------------------------------------------------------------------ */

typedef struct emgmm_model emgmm_model;

/** What the progress callback sees after every EM iteration. */
typedef struct emgmm_iteration {
    int init_run;          /**< restart index, 0 .. n_init-1 */
    int iteration;         /**< 1-based iteration within this restart */
    double log_likelihood; /**< mean log-likelihood per sample at this
                                iteration's E-step */
    double change;         /**< against the previous E-step (inf at 1) */
    double seconds;        /**< wall time of this iteration */
    /** The parameters after this iteration's M-step, valid during the
     *  call only. Saving it (emgmm_save) makes a checkpoint: its "fit"
     *  record holds the iteration count and the last E-step's value, so a
     *  fit with resume = 1 continues exactly where this one stands. */
    const emgmm_model *model;
} emgmm_iteration;

/** Called after every iteration; return non-zero to stop the fit, which
 *  then returns EMGMM_ERR_CANCELLED. Runs on the calling thread. */
typedef int (*emgmm_progress_fn)(const emgmm_iteration *it, void *user);

/** For a fit spread over several processes: sums `count` doubles element
 *  by element over all of them, in place, so that every process ends with
 *  the same sums (e.g. MPI_Allreduce with MPI_SUM on MPI_DOUBLE). Every
 *  process must get the same bits. Returns 0, or non-zero on failure. */
typedef int (*emgmm_allreduce_fn)(double *values, size_t count, void *user);

typedef struct emgmm_params {
    int n_components;                      /**< required, >= 1; default 0
                                                (rejected unless init_model
                                                gives it) */
    emgmm_covariance_type covariance_type; /**< default FULL */
    double tol;        /**< default 1e-3: stop when the mean log-likelihood
                            per sample changes by less; 0 runs max_iter */
    double reg_covar;  /**< default 1e-6: added to covariance diagonals */
    int max_iter;      /**< default 100; 0 with init_model returns it */
    int n_init;        /**< default 1: restarts, best log-likelihood kept */
    emgmm_init_method init; /**< default KMEANS */
    /** default NULL. A model to start from (a warm start): its weights,
     *  means and covariances are the initial parameters and its covariance
     *  type is the one fitted; `init`, `n_init` and `covariance_type` are
     *  ignored, and n_components must be 0 or agree with it. Only read
     *  during the call. */
    const emgmm_model *init_model;
    /** default 0. The same seed, data and parameters give bit-identical
     *  results for any n_threads on the same machine type with the same
     *  library and BLAS builds. Another CPU (whose BLAS kernels round
     *  differently, e.g. AVX2 against AVX-512) or BLAS build gives the
     *  same fit up to rounding: the last bits of each product differ. */
    uint64_t seed;
    /** default 0: as many threads as OpenMP offers (OMP_NUM_THREADS), or
     *  the BLAS's own setting in a build without OpenMP. A positive value
     *  is the number of threads. In an OpenMP build, row blocks are spread
     *  over OpenMP threads and the BLAS is held to one thread during the
     *  call (then restored), so the two never oversubscribe the cores.
     *  Without OpenMP, a positive value sets the BLAS provider's thread
     *  count, process-wide, and leaves it so. */
    int n_threads;
    emgmm_progress_fn progress; /**< default NULL */
    void *progress_data;        /**< passed to progress; default NULL */
    /** default NULL (every row counts once). Otherwise n non-negative,
     *  finite weights, not all zero: a row of weight w counts as w copies
     *  of itself in every sum (responsibility totals, means, covariances,
     *  log-likelihood), so integer weights fit the same model as repeated
     *  rows. The log-likelihood is then the weighted mean per unit of
     *  weight, and BIC uses N = the sum of the weights (frequency weights).
     *  Only read during the call. */
    const double *sample_weight;
    /** default 0. What to do when a component loses all its samples
     *  (responsibilities summing to less than one sample's weight): 0 keeps
     *  scikit-learn's behaviour (the component stays, with a weight near 0
     *  and a covariance near reg_covar I) and counts it in
     *  emgmm_fit_info.n_empty; 1 stops the fit with
     *  EMGMM_ERR_EMPTY_COMPONENT and the component in bad_component. */
    int fail_on_empty;
    /** default 0. With init_model, 1 continues the fit recorded in that
     *  model's "fit" record (a checkpoint saved from the progress callback,
     *  or a finished fit): iterations go on from its n_iter up to max_iter
     *  (the total), and the convergence test compares against its last
     *  E-step value, so the result equals an uninterrupted fit bit for
     *  bit on the same machine type and builds (see seed); resumed on
     *  other BLAS kernels it agrees to rounding (tested to 1e-9
     *  relative). Without a fit record it is an ordinary warm start. */
    int resume;
    /** default 0: a NaN in X is an error (EMGMM_ERR_NONFINITE). 1 treats
     *  NaN as a missing value, missing at random: each row contributes the
     *  marginal likelihood of its observed values, and the M-step uses
     *  the expected sufficient statistics (conditional means and
     *  covariances of the gaps given the observed values). Rows with no
     *  observed value carry no information and are left out (counted in
     *  emgmm_fit_info.n_rows_all_missing); a column with no observed
     *  value is EMGMM_ERR_INVALID. k-means initialisation runs on the data
     *  with gaps filled by column means. Without any NaN the result is
     *  the ordinary fit, bit for bit. Infinity stays an error. */
    int missing;
    /** default NULL (one process). A distributed fit: each process calls
     *  emgmm_fit on its own rows (with its own sample_weight) and the same
     *  parameters, and every sum over rows (responsibility totals, weighted
     *  sums, scatter matrices, the log-likelihood, row counts, and whether
     *  any process failed or was cancelled) goes through this function,
     *  so every process computes the same model: the fit of all rows
     *  together, up to the order of the additions. init_model is required
     *  (initialisation from data is not distributed: fit a sample first,
     *  as `emgmm fit` under mpirun does) and n_init must be 1 (for
     *  restarts, one distributed fit per start: see first_init). Errors are
     *  collective: every process returns the same status. A failed sum is
     *  EMGMM_ERR_IO. */
    emgmm_allreduce_fn allreduce;
    void *allreduce_data; /**< passed to allreduce; default NULL */
    /** default 0. The index of this call's first restart: restart r
     *  draws its random start from the stream of restart first_init + r
     *  of `seed`, and is reported as that index (emgmm_iteration.init_run,
     *  emgmm_fit_info.best_init). So restarts can be run one per call
     *  (with n_init 1, e.g. each from a sample of a large data set, then
     *  streamed or distributed) and get the starts that one call with
     *  n_init restarts would draw. Must be >= 0. */
    int first_init;
    int reserved_int; /**< spare, zeroed by emgmm_params_default() */
    /** Spare room so that fields can be added without breaking the ABI;
     *  emgmm_params_default() zeroes it. */
    uint64_t reserved[12];
} emgmm_params;

/** Fills *p with the defaults listed above (scikit-learn's). */
EMGMM_API void emgmm_params_default(emgmm_params *p);

typedef struct emgmm_fit_info {
    int n_iter;            /**< EM iterations of the returned restart */
    int converged;         /**< 1 if |change| < tol was reached */
    int best_init;         /**< index of the restart that was kept */
    int bad_component;     /**< with EMGMM_ERR_SINGULAR: the 0-based
                                component; -1 otherwise */
    double log_likelihood; /**< mean log-likelihood per sample of the
                                returned model on X (scikit-learn's
                                score(X) after fit) */
    double lower_bound;    /**< the value at the last E-step, before the
                                last M-step (scikit-learn's lower_bound_) */
    double bic;            /**< of the returned model on X (with sample
                                weights: -2 sum w_i log p(x_i) + p ln sum w_i) */
    double aic;            /**< likewise, -2 sum w_i log p(x_i) + 2p */
    int n_empty;           /**< components of the returned model whose
                                responsibilities sum to less than one
                                sample's weight (see fail_on_empty) */
    double seconds;        /**< wall time of the whole call */
    /** With emgmm_params.missing: rows with no observed value, left out
     *  of the fit (the log-likelihood and BIC cover the other rows). */
    size_t n_rows_all_missing;
    /** With emgmm_params.missing: the NaN values in the data (over every
     *  process of a distributed fit), including those of the rows left
     *  out; 0 otherwise. */
    uint64_t n_missing_values;
    uint64_t reserved[6];
} emgmm_fit_info;

/**
 * Fits a mixture to X (n x d, row-major, leading dimension ldx >= d).
 * On success *model receives a new model (free with emgmm_free). On
 * failure *model is set to NULL; `info`, if not NULL, is filled in both
 * cases (bad_component tells which covariance was singular).
 * Not converging within max_iter is not an error: see info->converged.
 */
EMGMM_API int emgmm_fit(const emgmm_params *p, const double *X, size_t n,
                        size_t d, size_t ldx, emgmm_model **model,
                        emgmm_fit_info *info);

/**
 * emgmm_fit on float32 data: X (n x d, row-major, leading dimension ldx)
 * stays float32 in memory (half the memory of a float64 copy), every sum
 * and every parameter is float64, and the model is the same object (and
 * file) as emgmm_fit's. Same parameters, restarts, sample weights,
 * allreduce and results as emgmm_fit of the same values widened to
 * double, up to float32 rounding in the largest products:
 *  - full and tied with d >= 33: the E-step projections (strmm) and the
 *    centred covariance sums (ssyrk over at most 2048 rows at a time,
 *    each result added into float64) run in single precision; the means
 *    are float64 sums. A covariance that is not positive definite after
 *    the float32 sums is recomputed in float64, so float32 rounding never
 *    makes a fit fail where emgmm_fit would not;
 *  - d <= 32, diag and spherical: each block of rows is widened to
 *    float64 in a per-thread buffer and the float64 kernels run on it.
 * Initialisation from the data (no init_model) widens the data to
 * float64 for the duration of the initialisation only. The final mean
 * log-likelihood agrees with emgmm_fit's from the same start to 1e-6
 * relative in the tests (see bench/RESULTS.md for the measured figures).
 * Missing values are not supported: with p->missing, a NaN in X is
 * EMGMM_ERR_UNSUPPORTED (without p->missing, EMGMM_ERR_NONFINITE as in
 * emgmm_fit).
 */
EMGMM_API int emgmm_fit_f32(const emgmm_params *p, const float *X, size_t n,
                            size_t d, size_t ldx, emgmm_model **model,
                            emgmm_fit_info *info);

/** Reads rows [first, first + count) of a data set into rows (count x d,
 *  row-major, contiguous); returns 0, or non-zero on failure. */
typedef int (*emgmm_rows_fn)(size_t first, size_t count, double *rows,
                             void *user);

/**
 * Fits n rows that are never all in memory: each EM iteration reads them
 * block by block through `read_rows` (twice: once for the E-step sums,
 * once more for the centred covariance sums about the new means, with
 * the responsibilities recomputed rather than kept), so memory does not
 * grow with n. A file larger than memory can be fitted this way (`emgmm
 * fit --stream` maps the file and converts each block). The result is the
 * in-memory fit of the same rows, up to the order of the additions.
 * Requires p->init_model (start from a fit of a sample; with n_init
 * restarts, fit each start and keep the best, see first_init) and
 * p->sample_weight NULL (weights are streamed too: see
 * emgmm_fit_streamed_weighted). p->missing = 1 takes NaN as missing
 * values, as emgmm_fit does (see emgmm_fit_streamed_weighted).
 * p->allreduce may be set (each process streams its own rows). A failed
 * read is EMGMM_ERR_IO.
 */
EMGMM_API int emgmm_fit_streamed(const emgmm_params *p, size_t n, size_t d,
                                 emgmm_rows_fn read_rows, void *user,
                                 emgmm_model **model, emgmm_fit_info *info);

/**
 * emgmm_fit_streamed with sample weights read as the rows are:
 * read_weights (NULL: every weight 1) reads the weights of rows
 * [first, first + count) into `count` doubles (the same callback shape as
 * read_rows, with one column; both get `user`). Weights must be finite
 * and non-negative (EMGMM_ERR_INVALID otherwise), and are read once more
 * with every block of rows, so nothing n-long is held.
 *
 * With p->missing = 1, NaN in the rows is a missing value, exactly as in
 * emgmm_fit: rows with nothing observed are left out (counted in
 * info->n_rows_all_missing), each block's incomplete rows get the
 * marginal likelihood of their observed values in the E-step, and the
 * M-step sums the expected sufficient statistics (each gap replaced by its
 * conditional mean under each component, plus the conditional
 * covariance), computed in the second pass from the E-step's parameters.
 * The in-memory fit keeps every gap filled with its last conditional
 * expectation; a streamed fit cannot keep one value per gap, so each
 * block's gaps are filled with the mixture's mean before its E-step. The
 * marginal densities do not depend on the fill except through rounding,
 * so the result is the in-memory fit of the same rows, from the same
 * init_model, to about 1e-10 relative.
 */
EMGMM_API int emgmm_fit_streamed_weighted(const emgmm_params *p, size_t n,
                                          size_t d, emgmm_rows_fn read_rows,
                                          emgmm_rows_fn read_weights,
                                          void *user, emgmm_model **model,
                                          emgmm_fit_info *info);

/* ------------------------------------------------------------------ */
/* Models built from parameters, and read access                       */
/* ------------------------------------------------------------------ */

/**
 * Builds a model from given parameters (copied): weights (k), means
 * (k x d) and covariances in the shape of the type (see
 * emgmm_covariance_type). Weights must be non-negative and sum to 1 within
 * 1e-6 (they are renormalised, unless they already sum to 1 up to
 * rounding, in which case they are kept bit for bit); covariance matrices
 * must be symmetric within 1e-10 relative (the lower triangle is used) and
 * positive definite, variances positive. Returns EMGMM_ERR_INVALID for bad
 * weights, asymmetry or non-finite numbers, EMGMM_ERR_SINGULAR for a
 * covariance that is not positive definite (component in *bad_component
 * when that pointer is not NULL; 0 for tied).
 */
EMGMM_API int emgmm_model_create(emgmm_covariance_type type, size_t k,
                                 size_t d, const double *weights,
                                 const double *means,
                                 const double *covariances,
                                 emgmm_model **model, int *bad_component);

/** Releases a model and sets *model to NULL. NULL and *NULL are fine. */
EMGMM_API void emgmm_free(emgmm_model **model);

EMGMM_API size_t emgmm_n_components(const emgmm_model *m);
EMGMM_API size_t emgmm_n_features(const emgmm_model *m);
EMGMM_API emgmm_covariance_type emgmm_get_covariance_type(const emgmm_model *m);
/** Number of free parameters, counted as scikit-learn does for BIC. */
EMGMM_API size_t emgmm_n_parameters(const emgmm_model *m);
/** Read-only views owned by the model, valid until emgmm_free:
 *  weights (k), means (k x d), covariances (see emgmm_covariance_type). */
EMGMM_API const double *emgmm_weights(const emgmm_model *m);
EMGMM_API const double *emgmm_means(const emgmm_model *m);
EMGMM_API const double *emgmm_covariances(const emgmm_model *m);

/* ------------------------------------------------------------------ */
/* Using a model. All of these are safe to call concurrently.          */
/* ------------------------------------------------------------------ */

/* Threads: predict, predict_proba, score_samples, score, bic and aic take
 * OpenMP's thread count (OMP_NUM_THREADS), as a fit with n_threads 0
 * does; one thread for small inputs and inside a caller's parallel
 * region. In an OpenMP build the row blocks are spread over the threads
 * and the BLAS is held to one thread while the call runs, then restored
 * (process-wide, as in a fit; overlapping calls are counted, and the last
 * to finish restores it). The results are the same bits for any thread
 * count, and emgmm_score is, to the bit, the log-likelihood that a fit
 * from the same model with max_iter 0 reports (unweighted, no gaps). */

/** labels[i] = the most probable component (0-based) of row i. */
EMGMM_API int emgmm_predict(const emgmm_model *m, const double *X, size_t n,
                            size_t ldx, int32_t *labels);
/** proba (n x k, row-major): posterior probability of each component. */
EMGMM_API int emgmm_predict_proba(const emgmm_model *m, const double *X,
                                  size_t n, size_t ldx, double *proba);
/** logp[i] = log p(x_i) under the mixture. */
EMGMM_API int emgmm_score_samples(const emgmm_model *m, const double *X,
                                  size_t n, size_t ldx, double *logp);
/** *mean_log_likelihood = mean over rows of log p(x_i). */
EMGMM_API int emgmm_score(const emgmm_model *m, const double *X, size_t n,
                          size_t ldx, double *mean_log_likelihood);
/** BIC = -2 * total log-likelihood + p * ln(n). Lower is better. */
EMGMM_API int emgmm_bic(const emgmm_model *m, const double *X, size_t n,
                        size_t ldx, double *bic);
/** AIC = -2 * total log-likelihood + 2 * p. Lower is better. */
EMGMM_API int emgmm_aic(const emgmm_model *m, const double *X, size_t n,
                        size_t ldx, double *aic);

/* The same on float32 rows (n x d, leading dimension ldx): the outputs
 * and the model stay float64; the log-densities are computed as in
 * emgmm_fit_f32 (float32 projections for full and tied with d >= 33,
 * float64 on widened blocks otherwise). */
EMGMM_API int emgmm_predict_f32(const emgmm_model *m, const float *X,
                                size_t n, size_t ldx, int32_t *labels);
EMGMM_API int emgmm_predict_proba_f32(const emgmm_model *m, const float *X,
                                      size_t n, size_t ldx, double *proba);
EMGMM_API int emgmm_score_samples_f32(const emgmm_model *m, const float *X,
                                      size_t n, size_t ldx, double *logp);
EMGMM_API int emgmm_score_f32(const emgmm_model *m, const float *X, size_t n,
                              size_t ldx, double *mean_log_likelihood);

/**
 * Draws n samples into X (n x d, row-major, contiguous) and, when labels
 * is not NULL, the component of each. The same seed gives the same bits.
 */
EMGMM_API int emgmm_sample(const emgmm_model *m, size_t n, uint64_t seed,
                           double *X, int32_t *labels);

/* ------------------------------------------------------------------ */
/* Missing values                                                      */
/* ------------------------------------------------------------------ */

/**
 * Fills the missing entries (NaN) of X (n x d, leading dimension ldx)
 * with their conditional expectation under the mixture,
 *   E[x_m | x_o] = sum_c p(c | x_o) E[x_m | x_o, c],
 * where p(c | x_o) is the posterior given the row's observed values and
 * E[x_m | x_o, c] the component's conditional mean. out (n x d,
 * contiguous) receives X with observed entries copied bit for bit. A row
 * with nothing observed gets the mixture's mean. Infinity is
 * EMGMM_ERR_NONFINITE.
 */
EMGMM_API int emgmm_impute(const emgmm_model *m, const double *X, size_t n,
                           size_t ldx, double *out);

/**
 * As emgmm_predict_proba for rows with missing entries (NaN): proba
 * (n x k) receives each row's posterior given its observed values,
 * p(c | x_o), from the marginal Gaussians of the observed coordinates.
 * Complete rows get what emgmm_predict_proba gives; a row with nothing
 * observed gets the weights.
 */
EMGMM_API int emgmm_predict_proba_missing(const emgmm_model *m,
                                          const double *X, size_t n,
                                          size_t ldx, double *proba);

/**
 * As emgmm_score_samples for rows with missing entries: logp[i] = log of
 * the mixture density of row i's observed values (0 for a row with
 * nothing observed: it carries no information). The mean over the rows
 * with something observed is what emgmm_fit with missing = 1 reports as
 * its log-likelihood.
 */
EMGMM_API int emgmm_score_samples_missing(const emgmm_model *m,
                                          const double *X, size_t n,
                                          size_t ldx, double *logp);

/**
 * Multiple imputation: n_draws completed copies of X, each missing entry
 * drawn from the conditional mixture p(x_m | x_o) (a component from
 * p(c | x_o), then the component's conditional Gaussian), so that the
 * spread across draws carries the uncertainty of the gaps. out holds
 * n_draws x n x d doubles, draw t at out + t*n*d; observed entries are
 * copied bit for bit. The same seed gives the same bits.
 */
EMGMM_API int emgmm_impute_draws(const emgmm_model *m, const double *X,
                                 size_t n, size_t ldx, size_t n_draws,
                                 uint64_t seed, double *out);

/**
 * One draw of emgmm_impute_draws for a block of rows: X holds rows
 * first_row .. first_row + n - 1 of a data set of total_rows rows, and
 * out (n x d) receives exactly those rows of draw `draw` of
 * emgmm_impute_draws(m, <all rows>, total_rows, ..., seed, ...) (each
 * (draw, row) has its own random stream, numbered by the draw and the
 * row in the whole data set), so that data too large for memory can be
 * imputed a block at a time with the same bits. first_row + n must not
 * exceed total_rows (else EMGMM_ERR_INVALID).
 */
EMGMM_API int emgmm_impute_draws_rows(const emgmm_model *m, const double *X,
                                      size_t n, size_t ldx, size_t first_row,
                                      size_t total_rows, size_t draw,
                                      uint64_t seed, double *out);

/* ------------------------------------------------------------------ */
/* Model files (JSON; see SPEC section 4)                              */
/* ------------------------------------------------------------------ */

/** Where and why reading a model file failed. line and column are
 *  1-based, 0 when the problem has no position (a shape mismatch). */
typedef struct emgmm_error {
    int line;
    int column;
    char message[256];
} emgmm_error;

/**
 * Writes the model as JSON, numbers with 17 significant digits so that
 * emgmm_load gives back the same bits. Written atomically: a temporary
 * file in the same folder, then rename; on failure no file is left and an
 * existing file of that name is untouched.
 */
EMGMM_API int emgmm_save(const emgmm_model *m, const char *path);
/** The same JSON text, written to an open stream (not atomic). */
EMGMM_API int emgmm_write(const emgmm_model *m, FILE *stream);

/**
 * Reads and checks a model file (path "-" reads standard input). On
 * failure *model is NULL and err (if not NULL) says where and what.
 * A file with only weights, means and covariances is accepted; the
 * optional "fit" record is kept and written back by emgmm_save.
 */
EMGMM_API int emgmm_load(const char *path, emgmm_model **model,
                         emgmm_error *err);

/**
 * As emgmm_load, but a file without "covariance_type" is read as
 * default_type (emgmm_load assumes EMGMM_COVARIANCE_FULL): its
 * "covariances" must then have default_type's shape. A file that names
 * its type is read as that type whatever default_type says (compare
 * emgmm_get_covariance_type). EMGMM_ERR_INVALID for an unknown
 * default_type.
 */
EMGMM_API int emgmm_load_as(const char *path,
                            emgmm_covariance_type default_type,
                            emgmm_model **model, emgmm_error *err);

#ifdef __cplusplus
}
#endif

#endif /* EMGMM_H */
