/*
 * HMM model files: "format": "emgmm-hmm", with hmmlearn's array shapes,
 * written and read through json_io.h (17 significant digits, so a save
 * and load round-trip bit for bit; atomic saves).
 */
#include "json_io.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

/* A nested array of `dims` levels with the given extents: the last two
 * levels as rows of numbers, one a line; deeper levels as lists of
 * those. */
static int put_nested(FILE *f, const double *x, const size_t *ext, int dims,
                      const char *indent)
{
    if (dims == 1)
        return emgmm__json_put_row(f, x, ext[0]);
    if (dims == 2)
        return emgmm__json_put_matrix(f, x, ext[0], ext[1], indent);
    size_t inner = 1;
    for (int i = 1; i < dims; i++)
        inner *= ext[i];
    char deeper[32];
    snprintf(deeper, sizeof deeper, "%s  ", indent);
    if (fputs("[\n", f) < 0)
        return EMGMM_ERR_IO;
    for (size_t i = 0; i < ext[0]; i++) {
        if (fputs(deeper, f) < 0)
            return EMGMM_ERR_IO;
        int rc = put_nested(f, x + i * inner, ext + 1, dims - 1, deeper);
        if (rc != EMGMM_OK)
            return rc;
        if (fputs(i + 1 < ext[0] ? ",\n" : "\n", f) < 0)
            return EMGMM_ERR_IO;
    }
    return fprintf(f, "%s]", indent) < 0 ? EMGMM_ERR_IO : EMGMM_OK;
}

/* The extents of a GMM emission's covariances (hmmlearn's GMMHMM shapes)
 * and their shape in words. */
static const char *gmm_cov_shape(emgmm_covariance_type type, size_t k,
                                 size_t mm, size_t d, size_t ext[4],
                                 int *dims)
{
    ext[0] = k;
    switch (type) {
    case EMGMM_COVARIANCE_FULL:
        ext[1] = mm, ext[2] = d, ext[3] = d, *dims = 4;
        return "k x n_mix x d x d";
    case EMGMM_COVARIANCE_TIED:
        ext[1] = d, ext[2] = d, *dims = 3;
        return "k x d x d";
    case EMGMM_COVARIANCE_DIAG:
        ext[1] = mm, ext[2] = d, *dims = 3;
        return "k x n_mix x d";
    case EMGMM_COVARIANCE_SPHERICAL:
        break;
    }
    ext[1] = mm, *dims = 2;
    return "k x n_mix";
}

static int write_hmm(const void *object, FILE *f)
{
    const emgmm_hmm *m = object;
    const size_t k = m->k, d = m->d, mm = m->n_mix;
    int rc;
    if (fprintf(f,
                "{\n  \"format\": \"emgmm-hmm\", \"version\": 1,\n"
                "  \"emission\": \"%s\", \"covariance_type\": \"%s\", "
                "\"n_states\": %zu, \"n_features\": %zu",
                emgmm_hmm_emission_name(m->emission),
                emgmm_covariance_type_name(m->type), k, d) < 0)
        return EMGMM_ERR_IO;
    if (m->mix && fprintf(f, ", \"n_mix\": %zu", mm) < 0)
        return EMGMM_ERR_IO;
    if (fputs(",\n  \"startprob\": ", f) < 0)
        return EMGMM_ERR_IO;
    if ((rc = emgmm__json_put_row(f, m->startprob, k)) != EMGMM_OK)
        return rc;
    if (fputs(",\n  \"transmat\": ", f) < 0)
        return EMGMM_ERR_IO;
    if ((rc = emgmm__json_put_matrix(f, m->transmat, k, k, "  ")) !=
        EMGMM_OK)
        return rc;
    if (m->mix) {
        if (fputs(",\n  \"weights\": ", f) < 0)
            return EMGMM_ERR_IO;
        if ((rc = emgmm__json_put_matrix(f, m->mix_weights, k, mm, "  ")) !=
            EMGMM_OK)
            return rc;
        const size_t mean_ext[3] = {k, mm, d};
        size_t cov_ext[4];
        int cov_dims;
        gmm_cov_shape(m->type, k, mm, d, cov_ext, &cov_dims);
        if (fputs(",\n  \"means\": ", f) < 0)
            return EMGMM_ERR_IO;
        if ((rc = put_nested(f, m->mix_means, mean_ext, 3, "  ")) !=
            EMGMM_OK)
            return rc;
        if (fputs(",\n  \"covariances\": ", f) < 0)
            return EMGMM_ERR_IO;
        rc = put_nested(f, m->mix_covs, cov_ext, cov_dims, "  ");
    } else {
        if (fputs(",\n  \"means\": ", f) < 0)
            return EMGMM_ERR_IO;
        if ((rc = emgmm__json_put_matrix(f, m->emis->means, k, d, "  ")) !=
            EMGMM_OK)
            return rc;
        if (fputs(",\n  \"covariances\": ", f) < 0)
            return EMGMM_ERR_IO;
        rc = emgmm__json_put_covariances(f, m->type, k, d,
                                         m->emis->covariances);
    }
    if (rc != EMGMM_OK)
        return rc;
    const emgmm_hmm_fit_record *r = &m->fit;
    if (r->present) {
        if (fprintf(f,
                    ",\n  \"fit\": {\"converged\": %s, \"n_iter\": %d, "
                    "\"max_iter\": %d, \"params\": \"%s\", "
                    "\"log_likelihood\": ",
                    r->converged ? "true" : "false", r->n_iter, r->max_iter,
                    r->params) < 0)
            return EMGMM_ERR_IO;
        if ((rc = emgmm__json_put_number(f, r->log_likelihood)) != EMGMM_OK)
            return rc;
        if (fputs(", \"last_estep\": ", f) < 0)
            return EMGMM_ERR_IO;
        if ((rc = emgmm__json_put_number(f, r->last_estep)) != EMGMM_OK)
            return rc;
        if (fputs(", \"tol\": ", f) < 0)
            return EMGMM_ERR_IO;
        if ((rc = emgmm__json_put_number(f, r->tol)) != EMGMM_OK)
            return rc;
        if (fprintf(f, ", \"seed\": %" PRIu64 "}", r->seed) < 0)
            return EMGMM_ERR_IO;
    }
    return fputs("\n}\n", f) < 0 ? EMGMM_ERR_IO : EMGMM_OK;
}

int emgmm_hmm_write(const emgmm_hmm *m, FILE *f)
{
    if (!m || !f)
        return EMGMM_ERR_INVALID;
    return write_hmm(m, f);
}

int emgmm_hmm_save(const emgmm_hmm *m, const char *path)
{
    if (!m)
        return EMGMM_ERR_INVALID;
    return emgmm__save_atomic(path, write_hmm, m);
}

/* Reads array `key` with the given extents into out; a message naming
 * the expected shape otherwise. */
static int read_named(const json_t *root, const char *key, const size_t *ext,
                      int dims, const char *shape, double *out,
                      emgmm_error *err)
{
    size_t pos = 0;
    if (emgmm__json_read_array(json_object_get(root, key), ext, dims, out,
                               &pos) != 0)
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                                "\"%s\" must be a %s array of finite numbers",
                                key, shape);
    return EMGMM_OK;
}

static int build(const json_t *root, emgmm_hmm **model, emgmm_error *err)
{
    const json_t *format = json_object_get(root, "format");
    if (format && (!json_is_string(format) ||
                   strcmp(json_string_value(format), "emgmm-hmm") != 0))
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                                "\"format\" is not \"emgmm-hmm\"");
    const json_t *version = json_object_get(root, "version");
    if (version &&
        (!json_is_integer(version) || json_integer_value(version) != 1))
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                                "unsupported \"version\" (this program "
                                "reads version 1)");
    const json_t *emission_v = json_object_get(root, "emission");
    emgmm_hmm_emission emission = EMGMM_HMM_GAUSSIAN;
    if (emission_v) {
        const char *e = json_string_value(emission_v);
        if (e && strcmp(e, "gmm") == 0)
            emission = EMGMM_HMM_GMM;
        else if (!e || strcmp(e, "gaussian") != 0)
            return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                                    "\"emission\" must be gaussian or gmm");
    }
    const int gmm = emission == EMGMM_HMM_GMM;
    const json_t *type_v = json_object_get(root, "covariance_type");
    emgmm_covariance_type type;
    if (!json_is_string(type_v) ||
        emgmm_covariance_type_parse(json_string_value(type_v), &type) !=
            EMGMM_OK)
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                                "\"covariance_type\" must be one of full, "
                                "tied, diag, spherical");
    /* n_states, n_features and n_mix may be left out: the arrays give
     * them. */
    const json_t *start = json_object_get(root, "startprob");
    const json_t *means = json_object_get(root, "means");
    const json_t *weights = json_object_get(root, "weights");
    if (!json_is_array(start) || !json_is_array(means) ||
        !json_is_array(json_object_get(root, "transmat")) ||
        !json_is_array(json_object_get(root, "covariances")) ||
        (gmm && !json_is_array(weights)))
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                                "\"startprob\", \"transmat\", \"means\"%s and "
                                "\"covariances\" are required arrays",
                                gmm ? ", \"weights\"" : "");
    size_t k = json_array_size(start), d = 0, mm = 1;
    const json_t *row = json_array_get(means, 0);
    if (gmm) {
        if (json_is_array(json_array_get(weights, 0)))
            mm = json_array_size(json_array_get(weights, 0));
        row = json_array_get(row, 0);
    }
    if (json_is_array(row))
        d = json_array_size(row);
    if (json_object_get(root, "n_states") &&
        (emgmm__json_get_size(root, "n_states", &k) != 0 ||
         k != json_array_size(start)))
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                                "\"n_states\" does not match the %zu start "
                                "probabilities",
                                json_array_size(start));
    if (json_object_get(root, "n_features") &&
        emgmm__json_get_size(root, "n_features", &d) != 0)
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                                "\"n_features\" must be a positive integer");
    if (gmm && json_object_get(root, "n_mix") &&
        emgmm__json_get_size(root, "n_mix", &mm) != 0)
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                                "\"n_mix\" must be a positive integer");
    if (k == 0 || d == 0 || mm == 0)
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                                "the model has no states, components or "
                                "features");

    /* Read into a scratch model of the right shapes, then build the real
     * one through emgmm_hmm_create*, which validates. */
    emgmm_hmm *m;
    int rc = emgmm__hmm_alloc(emission, type, k, mm, d, &m);
    if (rc != EMGMM_OK)
        return emgmm__json_fail(err, rc, 0, 0, "out of memory");
    size_t ext[4] = {k, k, 0, 0}, cov_ext[4];
    int cov_dims;
    char shape[96], cov_shape[128];
    const char *words =
        gmm ? gmm_cov_shape(type, k, mm, d, cov_ext, &cov_dims)
            : emgmm__json_cov_shape(type, k, d, cov_ext, &cov_dims);
    snprintf(cov_shape, sizeof cov_shape, "%s (%s, k = %zu,%s d = %zu)",
             words, emgmm_covariance_type_name(type), k,
             gmm ? " n_mix given by \"weights\"," : "", d);
    rc = read_named(root, "startprob", ext, 1, "k", m->startprob, err);
    snprintf(shape, sizeof shape, "%zu x %zu", k, k);
    if (rc == EMGMM_OK)
        rc = read_named(root, "transmat", ext, 2, shape, m->transmat, err);
    double *mu = gmm ? m->mix_means : m->emis->means;
    double *cov = gmm ? m->mix_covs : m->emis->covariances;
    if (gmm) {
        ext[1] = mm;
        snprintf(shape, sizeof shape, "%zu x %zu", k, mm);
        if (rc == EMGMM_OK)
            rc = read_named(root, "weights", ext, 2, shape, m->mix_weights,
                            err);
        ext[2] = d;
        snprintf(shape, sizeof shape, "%zu x %zu x %zu", k, mm, d);
        if (rc == EMGMM_OK)
            rc = read_named(root, "means", ext, 3, shape, mu, err);
    } else {
        ext[1] = d;
        snprintf(shape, sizeof shape, "%zu x %zu", k, d);
        if (rc == EMGMM_OK)
            rc = read_named(root, "means", ext, 2, shape, mu, err);
    }
    if (rc == EMGMM_OK)
        rc = read_named(root, "covariances", cov_ext, cov_dims, cov_shape,
                        cov, err);
    int bad = -1;
    if (rc == EMGMM_OK) {
        /* Symmetry and positive definiteness, as emgmm_hmm_create. */
        emgmm_hmm *checked = NULL;
        rc = gmm ? emgmm_hmm_create_gmm(type, k, mm, d, m->startprob,
                                        m->transmat, m->mix_weights, mu, cov,
                                        &checked, &bad)
                 : emgmm_hmm_create(type, k, d, m->startprob, m->transmat,
                                    mu, cov, &checked, &bad);
        if (rc == EMGMM_ERR_INVALID)
            rc = emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                                  "\"startprob\", each row of \"transmat\"%s "
                                  "must be non-negative and sum to 1; "
                                  "covariance matrices symmetric",
                                  gmm ? " and of \"weights\"" : "");
        else if (rc == EMGMM_ERR_SINGULAR)
            rc = emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                                  "a covariance of state %d is not "
                                  "positive definite",
                                  bad);
        else if (rc != EMGMM_OK)
            rc = emgmm__json_fail(err, rc, 0, 0, "%s", emgmm_strerror(rc));
        emgmm_hmm_free(&m);
        m = checked;
    }
    const json_t *fit = json_object_get(root, "fit");
    if (rc == EMGMM_OK && json_is_object(fit)) {
        emgmm_hmm_fit_record *r = &m->fit;
        r->present = 1;
        r->converged = json_is_true(json_object_get(fit, "converged"));
        r->n_iter = (int)json_integer_value(json_object_get(fit, "n_iter"));
        r->max_iter = (int)json_integer_value(json_object_get(fit, "max_iter"));
        r->log_likelihood = emgmm__json_number_or_nan(fit, "log_likelihood");
        r->last_estep = emgmm__json_number_or_nan(fit, "last_estep");
        r->tol = json_number_value(json_object_get(fit, "tol"));
        r->seed = (uint64_t)json_integer_value(json_object_get(fit, "seed"));
        const char *params = json_string_value(json_object_get(fit, "params"));
        snprintf(r->params, sizeof r->params, "%s", params ? params : "stmcw");
        if (r->n_iter < 0 || r->max_iter < 0)
            rc = emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                                  "\"fit\": n_iter and max_iter must not be "
                                  "negative");
    }
    if (rc != EMGMM_OK) {
        emgmm_hmm_free(&m);
        return rc;
    }
    *model = m;
    return EMGMM_OK;
}

int emgmm_hmm_load(const char *path, emgmm_hmm **model, emgmm_error *err)
{
    if (err) {
        err->line = err->column = 0;
        err->message[0] = '\0';
    }
    if (!model || !path)
        return emgmm__json_fail(err, EMGMM_ERR_INVALID, 0, 0,
                                "no path or no output model");
    *model = NULL;
    json_t *root;
    int rc = emgmm__json_load_root(path, &root, err);
    if (rc != EMGMM_OK)
        return rc;
    rc = build(root, model, err);
    json_decref(root);
    return rc;
}
