/*
 * HMM model files: "format": "emgmm-hmm", with hmmlearn's array shapes,
 * written and read through json_io.h (17 significant digits, so a save
 * and load round-trip bit for bit; atomic saves).
 */
#include "json_io.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

static int write_hmm(const void *object, FILE *f)
{
    const emgmm_hmm *m = object;
    const size_t k = m->k, d = m->d;
    const emgmm_covariance_type type = m->emis->type;
    int rc;
    if (fprintf(f,
                "{\n  \"format\": \"emgmm-hmm\", \"version\": 1,\n"
                "  \"emission\": \"%s\", \"covariance_type\": \"%s\", "
                "\"n_states\": %zu, \"n_features\": %zu,\n"
                "  \"startprob\": ",
                emgmm_hmm_emission_name(m->emission),
                emgmm_covariance_type_name(type), k, d) < 0)
        return EMGMM_ERR_IO;
    if ((rc = emgmm__json_put_row(f, m->startprob, k)) != EMGMM_OK)
        return rc;
    if (fputs(",\n  \"transmat\": ", f) < 0)
        return EMGMM_ERR_IO;
    if ((rc = emgmm__json_put_matrix(f, m->transmat, k, k, "  ")) !=
        EMGMM_OK)
        return rc;
    if (fputs(",\n  \"means\": ", f) < 0)
        return EMGMM_ERR_IO;
    if ((rc = emgmm__json_put_matrix(f, m->emis->means, k, d, "  ")) !=
        EMGMM_OK)
        return rc;
    if (fputs(",\n  \"covariances\": ", f) < 0)
        return EMGMM_ERR_IO;
    rc = emgmm__json_put_covariances(f, type, k, d, m->emis->covariances);
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
    const json_t *emission = json_object_get(root, "emission");
    if (emission && (!json_is_string(emission) ||
                     (strcmp(json_string_value(emission), "gaussian") != 0 &&
                      strcmp(json_string_value(emission), "gmm") != 0)))
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                                "\"emission\" must be gaussian or gmm");
    if (emission && strcmp(json_string_value(emission), "gmm") == 0)
        return emgmm__json_fail(err, EMGMM_ERR_UNSUPPORTED, 0, 0,
                                "Gaussian-mixture emissions (\"gmm\") are "
                                "not implemented yet");
    const json_t *type_v = json_object_get(root, "covariance_type");
    emgmm_covariance_type type;
    if (!json_is_string(type_v) ||
        emgmm_covariance_type_parse(json_string_value(type_v), &type) !=
            EMGMM_OK)
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                                "\"covariance_type\" must be one of full, "
                                "tied, diag, spherical");
    /* n_states and n_features may be left out: the arrays give them. */
    const json_t *start = json_object_get(root, "startprob");
    const json_t *means = json_object_get(root, "means");
    if (!json_is_array(start) || !json_is_array(means) ||
        !json_is_array(json_object_get(root, "transmat")) ||
        !json_is_array(json_object_get(root, "covariances")))
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                                "\"startprob\", \"transmat\", \"means\" and "
                                "\"covariances\" are required arrays");
    size_t k = json_array_size(start), d = 0;
    if (json_is_array(json_array_get(means, 0)))
        d = json_array_size(json_array_get(means, 0));
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
    if (k == 0 || d == 0)
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                                "the model has no states or no features");

    emgmm_hmm *m;
    int rc = emgmm__hmm_alloc(type, k, d, &m);
    if (rc != EMGMM_OK)
        return emgmm__json_fail(err, rc, 0, 0, "out of memory");
    size_t ext[3] = {k, k, 0}, cov_ext[3];
    int cov_dims;
    const char *shape = emgmm__json_cov_shape(type, k, d, cov_ext, &cov_dims);
    char cov_shape[64];
    snprintf(cov_shape, sizeof cov_shape, "%s (%s, k = %zu, d = %zu)", shape,
             emgmm_covariance_type_name(type), k, d);
    char km[48], kd[48];
    snprintf(km, sizeof km, "%zu x %zu", k, k);
    snprintf(kd, sizeof kd, "%zu x %zu", k, d);
    rc = read_named(root, "startprob", ext, 1, "k", m->startprob, err);
    if (rc == EMGMM_OK)
        rc = read_named(root, "transmat", ext, 2, km, m->transmat, err);
    ext[1] = d;
    if (rc == EMGMM_OK)
        rc = read_named(root, "means", ext, 2, kd, m->emis->means, err);
    if (rc == EMGMM_OK)
        rc = read_named(root, "covariances", cov_ext, cov_dims, cov_shape,
                        m->emis->covariances, err);
    int bad = -1;
    if (rc == EMGMM_OK) {
        /* Symmetry and positive definiteness, as emgmm_hmm_create. */
        emgmm_hmm *checked = NULL;
        rc = emgmm_hmm_create(type, k, d, m->startprob, m->transmat,
                              m->emis->means, m->emis->covariances, &checked,
                              &bad);
        if (rc == EMGMM_ERR_INVALID)
            rc = emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                                  "\"startprob\" and each row of "
                                  "\"transmat\" must be non-negative and "
                                  "sum to 1; covariance matrices "
                                  "symmetric");
        else if (rc == EMGMM_ERR_SINGULAR)
            rc = emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                                  "the covariance of state %d is not "
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
        snprintf(r->params, sizeof r->params, "%s", params ? params : "stmc");
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
