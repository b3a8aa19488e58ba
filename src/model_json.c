/*
 * Model files (SPEC section 4): JSON read with jansson, written with one
 * row of numbers per line. Numbers are encoded by jansson with 17
 * significant digits, which is enough for strtod to give back the same
 * double, so save and load round-trip bit for bit (and jansson keeps the
 * decimal point a '.' whatever the process locale).
 */
#include "json_io.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- writing -------------------------------------------------------- */

int emgmm__json_put_number(FILE *f, double x)
{
    if (!isfinite(x)) /* a value not known yet (see emgmm_fit_record) */
        return fputs("null", f) < 0 ? EMGMM_ERR_IO : EMGMM_OK;
    json_t *v = json_real(x);
    char *text = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17))
                   : NULL;
    json_decref(v);
    if (!text)
        return EMGMM_ERR_NOMEM;
    int ok = fputs(text, f) >= 0;
    free(text);
    return ok ? EMGMM_OK : EMGMM_ERR_IO;
}

/* Writes "[a, b, c]". */
int emgmm__json_put_row(FILE *f, const double *x, size_t n)
{
    if (fputc('[', f) == EOF)
        return EMGMM_ERR_IO;
    for (size_t i = 0; i < n; i++) {
        if (i && fputs(", ", f) < 0)
            return EMGMM_ERR_IO;
        int rc = emgmm__json_put_number(f, x[i]);
        if (rc != EMGMM_OK)
            return rc;
    }
    return fputc(']', f) == EOF ? EMGMM_ERR_IO : EMGMM_OK;
}

/* Writes rows x cols as a list of rows, one a line, indented. */
int emgmm__json_put_matrix(FILE *f, const double *x, size_t rows,
                           size_t cols, const char *indent)
{
    if (fputs("[\n", f) < 0)
        return EMGMM_ERR_IO;
    for (size_t r = 0; r < rows; r++) {
        if (fprintf(f, "%s  ", indent) < 0)
            return EMGMM_ERR_IO;
        int rc = emgmm__json_put_row(f, x + r * cols, cols);
        if (rc != EMGMM_OK)
            return rc;
        if (fputs(r + 1 < rows ? ",\n" : "\n", f) < 0)
            return EMGMM_ERR_IO;
    }
    return fprintf(f, "%s]", indent) < 0 ? EMGMM_ERR_IO : EMGMM_OK;
}

int emgmm__json_put_covariances(FILE *f, emgmm_covariance_type type,
                                size_t k, size_t d, const double *cov)
{
    int rc = EMGMM_OK;
    switch (type) {
    case EMGMM_COVARIANCE_FULL: /* k matrices d x d */
        if (fputs("[\n", f) < 0)
            return EMGMM_ERR_IO;
        for (size_t c = 0; c < k; c++) {
            if (fputs("    ", f) < 0)
                return EMGMM_ERR_IO;
            rc = emgmm__json_put_matrix(f, cov + c * d * d, d, d, "    ");
            if (rc != EMGMM_OK)
                return rc;
            if (fputs(c + 1 < k ? ",\n" : "\n", f) < 0)
                return EMGMM_ERR_IO;
        }
        rc = fputs("  ]", f) < 0 ? EMGMM_ERR_IO : EMGMM_OK;
        break;
    case EMGMM_COVARIANCE_TIED: /* one matrix d x d */
        rc = emgmm__json_put_matrix(f, cov, d, d, "  ");
        break;
    case EMGMM_COVARIANCE_DIAG: /* k rows of d variances */
        rc = emgmm__json_put_matrix(f, cov, k, d, "  ");
        break;
    case EMGMM_COVARIANCE_SPHERICAL: /* k variances */
        rc = emgmm__json_put_row(f, cov, k);
        break;
    }
    return rc;
}

int emgmm_write(const emgmm_model *m, FILE *f)
{
    if (!m || !f)
        return EMGMM_ERR_INVALID;
    const size_t k = m->k, d = m->d;
    int rc = EMGMM_OK;
    if (fprintf(f,
                "{\n  \"format\": \"emgmm-model\", \"version\": 1,\n"
                "  \"covariance_type\": \"%s\", \"n_components\": %zu, "
                "\"n_features\": %zu,\n  \"weights\": ",
                emgmm_covariance_type_name(m->type), k, d) < 0)
        return EMGMM_ERR_IO;
    if ((rc = emgmm__json_put_row(f, m->weights, k)) != EMGMM_OK)
        return rc;
    if (fputs(",\n  \"means\": ", f) < 0)
        return EMGMM_ERR_IO;
    if ((rc = emgmm__json_put_matrix(f, m->means, k, d, "  ")) != EMGMM_OK)
        return rc;
    if (fputs(",\n  \"covariances\": ", f) < 0)
        return EMGMM_ERR_IO;
    rc = emgmm__json_put_covariances(f, m->type, k, d, m->covariances);
    if (rc != EMGMM_OK)
        return rc;
    if (m->fit.present) {
        if (fprintf(f,
                    ",\n  \"fit\": {\"converged\": %s, \"n_iter\": %d, "
                    "\"max_iter\": %d, \"log_likelihood\": ",
                    m->fit.converged ? "true" : "false", m->fit.n_iter,
                    m->fit.max_iter) < 0)
            return EMGMM_ERR_IO;
        if ((rc = emgmm__json_put_number(f, m->fit.log_likelihood)) != EMGMM_OK)
            return rc;
        if (fputs(", \"lower_bound\": ", f) < 0)
            return EMGMM_ERR_IO;
        if ((rc = emgmm__json_put_number(f, m->fit.lower_bound)) != EMGMM_OK)
            return rc;
        if (fputs(", \"tol\": ", f) < 0)
            return EMGMM_ERR_IO;
        if ((rc = emgmm__json_put_number(f, m->fit.tol)) != EMGMM_OK)
            return rc;
        if (fputs(", \"reg_covar\": ", f) < 0)
            return EMGMM_ERR_IO;
        if ((rc = emgmm__json_put_number(f, m->fit.reg_covar)) != EMGMM_OK)
            return rc;
        if (fprintf(f, ", \"seed\": %" PRIu64 "}", m->fit.seed) < 0)
            return EMGMM_ERR_IO;
    }
    return fputs("\n}\n", f) < 0 ? EMGMM_ERR_IO : EMGMM_OK;
}

/* Creates a new file next to `path` with O_EXCL and mode 0666, so that the
 * process umask applies as for any new file (mkstemp would force 0600, and
 * reading the umask is not thread-safe). Returns the descriptor and the
 * name in *tmp_out (emgmm__free it), or -1. */
static int create_temporary(const char *path, char **tmp_out)
{
    static atomic_uint counter;
    size_t len = strlen(path);
    char *tmp = emgmm__malloc(len + 64, 1);
    if (!tmp) {
        errno = ENOMEM;
        return -1;
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(tmp, len + 64, "%s.tmp-%ld-%u", path, (long)getpid(),
                 atomic_fetch_add(&counter, 1));
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            *tmp_out = tmp;
            return fd;
        }
        if (errno != EEXIST)
            break;
    }
    int saved = errno;
    emgmm__free(tmp);
    errno = saved;
    return -1;
}

int emgmm__save_atomic(const char *path, emgmm__writer_fn write,
                       const void *object)
{
    if (!path || !*path)
        return EMGMM_ERR_INVALID;
    /* A device or pipe (/dev/stdout, a FIFO) cannot be replaced by rename:
     * write to it directly. */
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (exists && !S_ISREG(st.st_mode)) {
        FILE *f = fopen(path, "w");
        if (!f)
            return EMGMM_ERR_IO;
        int rc = write(object, f);
        if (fclose(f) != 0 && rc == EMGMM_OK)
            rc = EMGMM_ERR_IO;
        return rc;
    }
    /* Otherwise a temporary file next to the target, then rename(): an
     * atomic replacement on the same file system, so readers see the old
     * file or the complete new one, never a partial one. */
    char *tmp = NULL;
    int fd = create_temporary(path, &tmp);
    if (fd < 0)
        return errno == ENOMEM ? EMGMM_ERR_NOMEM : EMGMM_ERR_IO;
    int rc = EMGMM_OK;
    if (exists && fchmod(fd, st.st_mode & 07777) != 0)
        rc = EMGMM_ERR_IO; /* keep an existing file's permissions */
    FILE *f = rc == EMGMM_OK ? fdopen(fd, "w") : NULL;
    if (!f) {
        close(fd);
        rc = EMGMM_ERR_IO;
    } else {
        rc = write(object, f);
        if (rc == EMGMM_OK && (fflush(f) != 0 || fsync(fileno(f)) != 0))
            rc = EMGMM_ERR_IO;
        if (fclose(f) != 0 && rc == EMGMM_OK)
            rc = EMGMM_ERR_IO;
    }
    if (rc == EMGMM_OK && rename(tmp, path) != 0)
        rc = EMGMM_ERR_IO;
    if (rc != EMGMM_OK) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
    }
    emgmm__free(tmp);
    return rc;
}

static int write_model(const void *m, FILE *f)
{
    return emgmm_write(m, f);
}

int emgmm_save(const emgmm_model *m, const char *path)
{
    if (!m)
        return EMGMM_ERR_INVALID;
    return emgmm__save_atomic(path, write_model, m);
}

/* ---- reading -------------------------------------------------------- */

int emgmm__json_fail(emgmm_error *err, int rc, int line, int column,
                     const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->line = line;
        err->column = column;
    }
    return rc;
}

/* Reads a JSON array of `dims` nested levels with the given extents into
 * out (row-major). Returns 0 on success. */
int emgmm__json_read_array(const json_t *v, const size_t *extent,
                           int dims, double *out, size_t *pos)
{
    if (dims == 0) {
        if (!json_is_number(v))
            return -1;
        double x = json_number_value(v);
        if (!isfinite(x))
            return -1;
        out[(*pos)++] = x;
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) != extent[0])
        return -1;
    for (size_t i = 0; i < extent[0]; i++)
        if (emgmm__json_read_array(json_array_get(v, i), extent + 1, dims - 1, out, pos))
            return -1;
    return 0;
}

/* A number of an object, NaN when absent or null. */
double emgmm__json_number_or_nan(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

int emgmm__json_get_size(const json_t *root, const char *key, size_t *out)
{
    const json_t *v = json_object_get(root, key);
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return -1;
    *out = (size_t)json_integer_value(v);
    return 0;
}

const char *emgmm__json_cov_shape(emgmm_covariance_type type, size_t k,
                                  size_t d, size_t ext[3], int *dims)
{
    switch (type) {
    case EMGMM_COVARIANCE_FULL:
        ext[0] = k, ext[1] = d, ext[2] = d, *dims = 3;
        return "k x d x d";
    case EMGMM_COVARIANCE_TIED:
        ext[0] = d, ext[1] = d, *dims = 2;
        return "d x d";
    case EMGMM_COVARIANCE_DIAG:
        ext[0] = k, ext[1] = d, *dims = 2;
        return "k x d";
    case EMGMM_COVARIANCE_SPHERICAL:
        break;
    }
    ext[0] = k, *dims = 1;
    return "k";
}

/* default_type is the type of a file without "covariance_type". */
static int build_model(const json_t *root, emgmm_covariance_type default_type,
                       emgmm_model **model, emgmm_error *err)
{
    const json_t *format = json_object_get(root, "format");
    if (format && (!json_is_string(format) ||
                   strcmp(json_string_value(format), "emgmm-model") != 0))
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                    "\"format\" is not \"emgmm-model\"");
    const json_t *version = json_object_get(root, "version");
    if (version && (!json_is_integer(version) ||
                    json_integer_value(version) != 1))
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                    "unsupported \"version\" (this program reads version 1)");
    const json_t *type_v = json_object_get(root, "covariance_type");
    emgmm_covariance_type type = default_type;
    if (type_v && (!json_is_string(type_v) ||
                   emgmm_covariance_type_parse(json_string_value(type_v),
                                               &type) != EMGMM_OK))
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                    "\"covariance_type\" must be one of full, tied, diag, "
                    "spherical");
    /* n_components / n_features may be omitted in a hand-written start:
     * then the arrays give them. */
    const json_t *weights = json_object_get(root, "weights");
    const json_t *means = json_object_get(root, "means");
    const json_t *covs = json_object_get(root, "covariances");
    if (!json_is_array(weights) || !json_is_array(means) ||
        !json_is_array(covs))
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                    "\"weights\", \"means\" and \"covariances\" are required "
                    "arrays");
    size_t k = json_array_size(weights), d = 0;
    const json_t *first_mean = json_array_get(means, 0);
    if (json_is_array(first_mean))
        d = json_array_size(first_mean);
    if (json_object_get(root, "n_components") &&
        (emgmm__json_get_size(root, "n_components", &k) != 0 ||
         k != json_array_size(weights)))
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                    "\"n_components\" does not match the %zu weights",
                    json_array_size(weights));
    if (json_object_get(root, "n_features") &&
        emgmm__json_get_size(root, "n_features", &d) != 0)
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                    "\"n_features\" must be a positive integer");
    if (k == 0 || d == 0)
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                    "the model has no components or no features");

    int rc = EMGMM_OK;
    double *w = emgmm__malloc(k, sizeof(double));
    double *mu = emgmm__malloc(k * d, sizeof(double));
    double *sigma = emgmm__malloc(emgmm__cov_size(type, k, d), sizeof(double));
    if (!w || !mu || !sigma) {
        rc = emgmm__json_fail(err, EMGMM_ERR_NOMEM, 0, 0, "out of memory");
        goto done;
    }
    size_t ext[3] = {k, d, d}, pos = 0;
    if (emgmm__json_read_array(weights, ext, 1, w, &pos)) {
        rc = emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                  "\"weights\" must be %zu finite numbers", k);
        goto done;
    }
    pos = 0;
    if (emgmm__json_read_array(means, ext, 2, mu, &pos)) {
        rc = emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                  "\"means\" must be a %zu x %zu array of finite numbers", k,
                  d);
        goto done;
    }
    size_t cov_ext[3];
    int cov_dims;
    const char *shape = emgmm__json_cov_shape(type, k, d, cov_ext, &cov_dims);
    pos = 0;
    if (emgmm__json_read_array(covs, cov_ext, cov_dims, sigma, &pos)) {
        /* Say when the type was assumed: the shape may be right for
         * another type. */
        rc = emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                  "\"covariances\" must be a %s array of finite numbers "
                  "(covariance type %s, k = %zu, d = %zu%s)",
                  shape, emgmm_covariance_type_name(type), k, d,
                  type_v ? "" : "; the file gives no \"covariance_type\"");
        goto done;
    }
    double total = 0.0;
    for (size_t c = 0; c < k; c++) {
        if (w[c] < 0.0) {
            rc = emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                      "weights[%zu] is negative", c);
            goto done;
        }
        total += w[c];
    }
    if (!(fabs(total - 1.0) <= 1e-6)) {
        rc = emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                  "the weights sum to %.17g, not 1", total);
        goto done;
    }
    int bad = -1;
    rc = emgmm_model_create(type, k, d, w, mu, sigma, model, &bad);
    if (rc == EMGMM_ERR_SINGULAR && type == EMGMM_COVARIANCE_TIED)
        rc = emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                  "the tied covariance is not positive definite");
    else if (rc == EMGMM_ERR_SINGULAR && type != EMGMM_COVARIANCE_FULL)
        rc = emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                  "covariances[%d] has a variance that is not positive",
                  bad);
    else if (rc == EMGMM_ERR_SINGULAR)
        rc = emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                  "covariances[%d] is not positive definite", bad);
    else if (rc == EMGMM_ERR_INVALID && type == EMGMM_COVARIANCE_TIED)
        rc = emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                  "the tied covariance is not symmetric");
    else if (rc == EMGMM_ERR_INVALID)
        rc = emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                  "covariances[%d] is not symmetric", bad);
    else if (rc != EMGMM_OK)
        rc = emgmm__json_fail(err, rc, 0, 0, "%s", emgmm_strerror(rc));
    if (rc != EMGMM_OK)
        goto done;

    const json_t *fit = json_object_get(root, "fit");
    if (json_is_object(fit)) {
        emgmm_fit_record *r = &(*model)->fit;
        r->present = 1;
        r->converged = json_is_true(json_object_get(fit, "converged"));
        r->n_iter = (int)json_integer_value(json_object_get(fit, "n_iter"));
        r->max_iter =
            (int)json_integer_value(json_object_get(fit, "max_iter"));
        r->log_likelihood = emgmm__json_number_or_nan(fit, "log_likelihood");
        r->lower_bound = emgmm__json_number_or_nan(fit, "lower_bound");
        r->tol = json_number_value(json_object_get(fit, "tol"));
        r->reg_covar = json_number_value(json_object_get(fit, "reg_covar"));
        r->seed = (uint64_t)json_integer_value(json_object_get(fit, "seed"));
        if (r->n_iter < 0 || r->max_iter < 0) {
            emgmm_free(model);
            rc = emgmm__json_fail(err, EMGMM_ERR_FORMAT, 0, 0,
                      "\"fit\": n_iter and max_iter must not be negative");
        }
    }
done:
    emgmm__free(w);
    emgmm__free(mu);
    emgmm__free(sigma);
    return rc;
}

int emgmm__json_load_root(const char *path, json_t **root, emgmm_error *err)
{
    *root = NULL;
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return emgmm__json_fail(err, EMGMM_ERR_IO, 0, 0, "cannot open: %s",
                                strerror(errno));
    json_error_t jerr;
    json_t *r = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    if (f != stdin)
        fclose(f);
    if (!r)
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT,
                                jerr.line > 0 ? jerr.line : 0,
                                jerr.column > 0 ? jerr.column : 0, "%s",
                                jerr.text);
    if (!json_is_object(r)) {
        json_decref(r);
        return emgmm__json_fail(err, EMGMM_ERR_FORMAT, 1, 1,
                                "a model file is a JSON object");
    }
    *root = r;
    return EMGMM_OK;
}

int emgmm_load_as(const char *path, emgmm_covariance_type default_type,
                  emgmm_model **model, emgmm_error *err)
{
    if (err) {
        err->line = err->column = 0;
        err->message[0] = '\0';
    }
    if (!model)
        return emgmm__json_fail(err, EMGMM_ERR_INVALID, 0, 0, "no output model");
    *model = NULL;
    if (!path)
        return emgmm__json_fail(err, EMGMM_ERR_INVALID, 0, 0, "no path");
    if (!emgmm_covariance_type_name(default_type))
        return emgmm__json_fail(err, EMGMM_ERR_INVALID, 0, 0, "unknown covariance type");

    json_t *root;
    int rc = emgmm__json_load_root(path, &root, err);
    if (rc != EMGMM_OK)
        return rc;
    rc = build_model(root, default_type, model, err);
    json_decref(root);
    return rc;
}

int emgmm_load(const char *path, emgmm_model **model, emgmm_error *err)
{
    return emgmm_load_as(path, EMGMM_COVARIANCE_FULL, model, err);
}
