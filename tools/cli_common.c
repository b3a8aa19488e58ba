/* Helpers shared by the emgmm commands (see cli_common.h). */
#include "cli_common.h"
#include "cli_mpi.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static int g_quiet;

void cli_set_quiet(int quiet) { g_quiet = quiet; }

/* The command running ("fit", "hmm", ...): names the default datasets. */
static const char *g_command = "";

void cli_set_command(const char *name) { g_command = name ? name : ""; }

static void print_error(const char *fmt, va_list ap)
{
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    /* Exactly one line, whatever file names or values were quoted. */
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    fprintf(stderr, "emgmm: %s\n", buf);
}

int cli_error(int code, const char *fmt, ...)
{
    if (g_quiet)
        return code;
    va_list ap;
    va_start(ap, fmt);
    print_error(fmt, ap);
    va_end(ap);
    return code;
}

int cli_error_always(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_error(fmt, ap);
    va_end(ap);
    return code;
}

int cli_bad_option(const char *command, int c, char *const argv[],
                   const char *optstring)
{
    const char *arg = optind > 0 && argv[optind - 1] ? argv[optind - 1] : "";
    int is_long = strncmp(arg, "--", 2) == 0;
    /* optopt is 0 for an unknown long option, the letter for a short one,
     * and the option's value for a known long option used wrongly. A
     * short letter that is not in optstring is an unknown option. */
    int unknown_short = optopt > 0 && optopt < 256 && optopt != ':' &&
                        strchr(optstring, optopt) == NULL;
    if (c == ':') {
        if (is_long)
            return cli_error(EXIT_BAD_USAGE, "%s: option '%s' needs a value",
                             command, arg);
        return cli_error(EXIT_BAD_USAGE, "%s: option '-%c' needs a value",
                         command, optopt);
    }
    if (unknown_short)
        return cli_error(EXIT_BAD_USAGE,
                         "%s: unknown option '-%c' (see 'emgmm %s --help')",
                         command, optopt, command);
    if (optopt == 0 || !is_long)
        return cli_error(EXIT_BAD_USAGE,
                         "%s: unknown option '%s' (see 'emgmm %s --help')",
                         command, arg, command);
    /* A long option that takes no value, given "--name=value". */
    const char *eq = strchr(arg, '=');
    int len = eq ? (int)(eq - arg) : (int)strlen(arg);
    return cli_error(EXIT_BAD_USAGE, "%s: option '%.*s' takes no value",
                     command, len, arg);
}

int cli_positionals(const char *command, int argc, char **argv,
                    const char *const *names)
{
    int want = 0;
    while (names[want] != NULL)
        want++;
    if (argc - optind < want)
        return cli_error(EXIT_BAD_USAGE,
                         "%s: missing %s (see 'emgmm %s --help')", command,
                         names[argc - optind], command);
    if (argc - optind > want)
        return cli_error(EXIT_BAD_USAGE, "%s: unexpected argument '%s'",
                         command, argv[optind + want]);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Strict numbers                                                      */
/* ------------------------------------------------------------------ */

/* A number must be the whole string, without leading blanks. */
static int starts_ok(const char *s)
{
    return s != NULL && s[0] != '\0' && s[0] != ' ' && s[0] != '\t' &&
           s[0] != '\n' && s[0] != '\v' && s[0] != '\f' && s[0] != '\r';
}

static int not_a_number(const char *flag, const char *s, const char *what)
{
    return cli_error(EXIT_BAD_USAGE, "%s: '%s' is not %s", flag, s, what);
}

/* Would strtod take the whole string? Then it is a number, just not an
 * integer: say so. */
static int whole_double(const char *s)
{
    char *end;
    if (!starts_ok(s))
        return 0;
    (void)strtod(s, &end);
    return *end == '\0';
}

int cli_parse_dtype(const char *flag, const char *s, int *f32)
{
    if (strcmp(s, "float32") == 0)
        *f32 = 1;
    else if (strcmp(s, "float64") == 0)
        *f32 = 0;
    else
        return cli_error(EXIT_BAD_USAGE,
                         "%s: unknown type '%s' (float32 or float64)", flag,
                         s);
    return 0;
}

int cli_parse_int(const char *flag, const char *s, long min, long max,
                  int *out)
{
    char *end;
    if (!starts_ok(s))
        return not_a_number(flag, s ? s : "", "a number");
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end != '\0')
        return not_a_number(flag, s, whole_double(s) ? "an integer"
                                                     : "a number");
    if (errno == ERANGE || v < min || v > max || v < INT_MIN || v > INT_MAX) {
        if (max >= INT_MAX)
            return cli_error(EXIT_BAD_USAGE,
                             "%s: '%s' is out of range (must be >= %ld)",
                             flag, s, min);
        return cli_error(EXIT_BAD_USAGE,
                         "%s: '%s' is out of range (must be %ld to %ld)",
                         flag, s, min, max);
    }
    *out = (int)v;
    return 0;
}

/* An unsigned decimal integer; a sign is refused (strtoull would wrap
 * "-1" around). */
static int parse_unsigned(const char *flag, const char *s,
                          unsigned long long *out)
{
    char *end;
    if (!starts_ok(s))
        return not_a_number(flag, s ? s : "", "a number");
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0')
        return not_a_number(flag, s, whole_double(s) ? "an integer"
                                                     : "a number");
    if (s[0] == '-' || errno == ERANGE)
        return cli_error(EXIT_BAD_USAGE, "%s: '%s' is out of range", flag,
                         s);
    *out = v;
    return 0;
}

int cli_parse_size(const char *flag, const char *s, size_t min, size_t *out)
{
    unsigned long long v = 0;
    int rc = parse_unsigned(flag, s, &v);
    if (rc != 0)
        return rc;
    if (v < min || v > SIZE_MAX)
        return cli_error(EXIT_BAD_USAGE,
                         "%s: '%s' is out of range (must be >= %zu)", flag, s,
                         min);
    *out = (size_t)v;
    return 0;
}

int cli_parse_u64(const char *flag, const char *s, uint64_t *out)
{
    unsigned long long v = 0;
    int rc = parse_unsigned(flag, s, &v);
    if (rc != 0)
        return rc;
    if (v > UINT64_MAX)
        return cli_error(EXIT_BAD_USAGE, "%s: '%s' is out of range", flag,
                         s);
    *out = (uint64_t)v;
    return 0;
}

int cli_parse_double(const char *flag, const char *s, double min,
                     double *out)
{
    char *end;
    if (!starts_ok(s))
        return not_a_number(flag, s ? s : "", "a number");
    errno = 0;
    double v = strtod(s, &end);
    if (*end != '\0')
        return not_a_number(flag, s, "a number");
    if (!isfinite(v))
        return not_a_number(flag, s, "a finite number");
    if (v < min)
        return cli_error(EXIT_BAD_USAGE,
                         "%s: '%s' is out of range (must be >= %g)", flag, s,
                         min);
    *out = v;
    return 0;
}

int cli_parse_shape(const char *flag, const char *s, dataio_read_options *opt)
{
    const char *comma = s ? strchr(s, ',') : NULL;
    char rows[64];
    size_t len = comma ? (size_t)(comma - s) : 0;
    if (comma == NULL || len == 0 || len >= sizeof rows)
        return cli_error(EXIT_BAD_USAGE,
                         "%s: '%s' is not N,D (rows,columns)", flag,
                         s ? s : "");
    memcpy(rows, s, len);
    rows[len] = '\0';
    size_t n = 0, d = 0;
    int rc = cli_parse_size(flag, rows, 1, &n);
    if (rc == 0)
        rc = cli_parse_size(flag, comma + 1, 1, &d);
    if (rc != 0)
        return rc;
    opt->raw_rows = n;
    opt->raw_cols = d;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Inputs                                                              */
/* ------------------------------------------------------------------ */

int cli_load_data(const char *path, const dataio_read_options *opt,
                  dataio_matrix *out)
{
    return cli_load_data_named(path, opt, out, NULL);
}

int cli_load_data_named(const char *path, const dataio_read_options *opt,
                        dataio_matrix *out, char ***names)
{
    char err[512] = "";
    memset(out, 0, sizeof *out);
    if (names ? dataio_read_matrix_named(path, opt, out, names, err,
                                         sizeof err) != 0
              : dataio_read_matrix(path, opt, out, err, sizeof err) != 0) {
        memset(out, 0, sizeof *out);
        if (err[0] == '\0')
            return cli_error(EXIT_BAD_USAGE, "%s: cannot read the data",
                             path);
        return cli_error(EXIT_BAD_USAGE, "%s", err);
    }
    return 0;
}

int cli_load_model(const char *path, emgmm_model **out)
{
    return cli_load_model_as(path, EMGMM_COVARIANCE_FULL, out);
}

int cli_load_model_and_f32(const char *model_path, const char *data_path,
                           const dataio_read_options *read, emgmm_model **m,
                           dataio_matrix_f32 *x, dataio_matrix *shape)
{
    char err[512] = "";
    memset(shape, 0, sizeof *shape);
    int rc = cli_load_model(model_path, m);
    if (rc != 0)
        return rc;
    if (dataio_read_matrix_f32(data_path, read, x, err, sizeof err) != 0)
        return cli_error(EXIT_BAD_USAGE, "%s",
                         err[0] ? err : "cannot read the data");
    shape->rows = x->rows;
    shape->cols = x->cols;
    return cli_check_features(data_path, shape, model_path, *m);
}

int cli_predict_f32(const emgmm_model *m, const dataio_matrix_f32 *x,
                    int32_t **labels, double **proba)
{
    const size_t n = x->rows, k = emgmm_n_components(m);
    int st = EMGMM_OK;
    if (labels != NULL) {
        *labels = malloc((n != 0 ? n : 1) * sizeof **labels);
        if (*labels == NULL)
            return cli_error(EXIT_WORK_FAILED, "out of memory");
        st = emgmm_predict_f32(m, x->data, n, x->cols, *labels);
    }
    if (st == EMGMM_OK && proba != NULL) {
        *proba = malloc((n * k != 0 ? n * k : 1) * sizeof **proba);
        if (*proba == NULL)
            return cli_error(EXIT_WORK_FAILED, "out of memory");
        st = emgmm_predict_proba_f32(m, x->data, n, x->cols, *proba);
    }
    return st == EMGMM_OK ? 0 : cli_library_error("predict failed", st);
}

/* A model file that did not load: "MODEL:LINE:COL: message". */
static int model_load_error(const char *path, int rc, const emgmm_error *e)
{
    int code = rc == EMGMM_ERR_NOMEM ? EXIT_WORK_FAILED : EXIT_BAD_USAGE;
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    const char *msg = e->message[0] ? e->message : emgmm_strerror(rc);
    if (e->line > 0 && e->column > 0)
        return cli_error(code, "%s:%d:%d: %s", name, e->line, e->column,
                         msg);
    if (e->line > 0)
        return cli_error(code, "%s:%d: %s", name, e->line, msg);
    return cli_error(code, "%s: %s", name, msg);
}

int cli_load_model_as(const char *path, emgmm_covariance_type type,
                      emgmm_model **out)
{
    emgmm_error e;
    memset(&e, 0, sizeof e);
    *out = NULL;
    int rc = emgmm_load_as(path, type, out, &e);
    if (rc == EMGMM_OK)
        return 0;
    emgmm_free(out);
    return model_load_error(path, rc, &e);
}

int cli_load_hmm_model(const char *path, emgmm_hmm **out)
{
    emgmm_error e;
    memset(&e, 0, sizeof e);
    *out = NULL;
    int rc = emgmm_hmm_load(path, out, &e);
    if (rc == EMGMM_OK)
        return 0;
    emgmm_hmm_free(out);
    return model_load_error(path, rc, &e);
}

/* The data must have d columns, as the model has features. */
static int check_feature_count(const char *data_path, const dataio_matrix *x,
                               const char *model_path, size_t d)
{
    if (x->cols != d)
        return cli_error(EXIT_BAD_USAGE,
                         "%s: the data have %zu column%s but the model %s "
                         "has %zu feature%s",
                         data_path, x->cols, x->cols == 1 ? "" : "s",
                         model_path, d, d == 1 ? "" : "s");
    return 0;
}

int cli_check_features(const char *data_path, const dataio_matrix *x,
                       const char *model_path, const emgmm_model *m)
{
    return check_feature_count(data_path, x, model_path,
                               emgmm_n_features(m));
}

int cli_load_hmm_model_and_data(const char *command, const char *model_path,
                                const char *data_path,
                                const dataio_read_options *read,
                                emgmm_hmm **m, dataio_matrix *x)
{
    return cli_load_hmm_model_and_data_named(command, model_path, data_path,
                                             read, m, x, NULL);
}

int cli_load_hmm_model_and_data_named(const char *command,
                                      const char *model_path,
                                      const char *data_path,
                                      const dataio_read_options *read,
                                      emgmm_hmm **m, dataio_matrix *x,
                                      char ***names)
{
    if (strcmp(model_path, "-") == 0 && strcmp(data_path, "-") == 0)
        return cli_error(EXIT_BAD_USAGE,
                         "%s: MODEL and DATA cannot both be standard input",
                         command);
    int rc = cli_load_hmm_model(model_path, m);
    if (rc == 0)
        rc = cli_load_data_named(data_path, read, x, names);
    if (rc == 0)
        rc = check_feature_count(data_path, x, model_path,
                                 emgmm_hmm_n_features(*m));
    return rc;
}

/* --lengths as a list, "100,200,50": each item a whole number >= 1. */
static int parse_length_list(const char *spec, size_t **out, size_t *n)
{
    size_t count = 1;
    for (const char *c = spec; *c; c++)
        count += *c == ',';
    size_t *v = malloc(count * sizeof *v);
    char *copy = strdup(spec);
    if (v == NULL || copy == NULL) {
        free(v);
        free(copy);
        return cli_error(EXIT_WORK_FAILED, "out of memory");
    }
    int rc = 0;
    char *item = copy;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        char *comma = strchr(item, ',');
        if (comma != NULL)
            *comma = '\0';
        char flag[64];
        snprintf(flag, sizeof flag, "--lengths (item %zu)", i + 1);
        /* Zero or a negative integer: the files' message. */
        size_t at = item[0] == '-' || item[0] == '+' ? 1 : 0;
        int zero = item[at] != '\0', digits = item[at] != '\0';
        for (const char *c = item + at; *c; c++) {
            digits = digits && *c >= '0' && *c <= '9';
            zero = zero && *c == '0';
        }
        if (item[0] == '\0')
            rc = cli_error(EXIT_BAD_USAGE, "%s: empty; give lengths as "
                           "100,200,50 or a file", flag);
        else if (digits && (zero || item[0] == '-'))
            rc = cli_error(EXIT_BAD_USAGE, "%s: length %s is not a "
                           "positive whole number", flag, item);
        else
            rc = cli_parse_size(flag, item, 1, &v[i]);
        item = comma != NULL ? comma + 1 : item;
    }
    free(copy);
    if (rc != 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = count;
    return 0;
}

int cli_load_lengths(const char *spec, const char *data_path, size_t n_rows,
                     size_t **lengths, size_t *n_seq)
{
    *lengths = NULL;
    *n_seq = 1;
    if (spec == NULL)
        return 0;
    if (spec[0] == '\0')
        return cli_error(EXIT_BAD_USAGE, "--lengths: empty (give a file or "
                         "a list such as 100,200,50)");
    size_t *v = NULL, *lines = NULL, n = 0;
    const int from_stdin = strcmp(spec, "-") == 0;
    struct stat st;
    /* FILE.h5:/lengths names a file too (the reader says if it is not
     * there). */
    int is_file = from_stdin || stat(spec, &st) == 0 ||
                  dataio_hdf5_name(spec, NULL, NULL);
    int saved = errno;
    int rc = 0;
    if (from_stdin && strcmp(data_path, "-") == 0)
        return cli_error(EXIT_BAD_USAGE, "DATA and --lengths cannot both "
                         "be standard input");
    if (is_file) {
        char err[512] = "";
        if (dataio_read_lengths(spec, &v, &lines, &n, err, sizeof err) != 0)
            return cli_error(EXIT_BAD_USAGE, "--lengths: %s",
                             err[0] ? err : "cannot read the lengths");
    } else if (strchr(spec, ',') != NULL || strchr("0123456789+-", spec[0])) {
        /* Not a file: a list such as 100,200,50 (a file of that name
         * would have been read instead). */
        if ((rc = parse_length_list(spec, &v, &n)) != 0)
            return rc;
    } else {
        return cli_error(EXIT_BAD_USAGE, "--lengths: cannot open '%s': %s "
                         "(give a file, or a list such as 100,200,50)",
                         spec, strerror(saved));
    }
    /* The sum, and where it first passes the rows (sums saturate). */
    size_t sum = 0, past = n;
    for (size_t i = 0; i < n; i++) {
        sum = v[i] > SIZE_MAX - sum ? SIZE_MAX : sum + v[i];
        if (sum > n_rows && past == n)
            past = i;
    }
    if (sum != n_rows) {
        const char *data = strcmp(data_path, "-") == 0 ? "<stdin>"
                                                       : data_path;
        const char *name = from_stdin ? "<stdin>" : spec;
        const size_t at = past < n ? past : n - 1;
        const char *adds = n == 1 ? " adds" : "s add";
        char total[32];
        if (sum == SIZE_MAX)
            snprintf(total, sizeof total, "more than %zu", n_rows);
        else
            snprintf(total, sizeof total, "%zu", sum);
        if (!is_file)
            rc = cli_error(EXIT_BAD_USAGE,
                           "--lengths: the %zu length%s up to %s but %s has "
                           "%zu rows", n, adds, total, data, n_rows);
        else if (lines != NULL)
            rc = cli_error(EXIT_BAD_USAGE,
                           "--lengths: %s:%zu: the %zu length%s up to %s "
                           "but %s has %zu rows%s", name, lines[at], n, adds,
                           total, data, n_rows,
                           past < n ? " (passed at this line)"
                                    : " (short at the last line)");
        else
            rc = cli_error(EXIT_BAD_USAGE,
                           "--lengths: %s: element %zu: the %zu length%s "
                           "up to %s but %s has %zu rows%s", name, at + 1, n,
                           adds, total, data, n_rows,
                           past < n ? " (passed at this element)"
                                    : " (short at the last element)");
    }
    free(lines);
    if (rc != 0) {
        free(v);
        return rc;
    }
    *lengths = v;
    *n_seq = n;
    return 0;
}

int cli_load_weights(const char *path, const char *data_path,
                     const dataio_matrix *x, double **out)
{
    dataio_matrix w = {NULL, 0, 0};
    dataio_read_options opt = {0, 0, 0};
    *out = NULL;
    if (strcmp(path, "-") == 0 && strcmp(data_path, "-") == 0)
        return cli_error(EXIT_BAD_USAGE, "DATA and --weights cannot both "
                         "be standard input");
    int rc = cli_load_data(path, &opt, &w);
    if (rc != 0)
        return rc;
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    double total = 0;
    if (w.cols != 1)
        rc = cli_error(EXIT_BAD_USAGE, "--weights: %s has %zu columns; it "
                       "must have one weight a row", name, w.cols);
    else if (w.rows != x->rows)
        rc = cli_error(EXIT_BAD_USAGE, "--weights: %s has %zu weight%s but "
                       "the data have %zu rows", name, w.rows,
                       w.rows == 1 ? "" : "s", x->rows);
    for (size_t i = 0; rc == 0 && i < w.rows; i++) {
        /* The reader has already refused NaN and infinity. */
        if (w.data[i] < 0)
            rc = cli_error(EXIT_BAD_USAGE, "--weights: %s: the weight of row "
                           "%zu is negative (%g)", name, i + 1, w.data[i]);
        total += w.data[i];
    }
    if (rc == 0 && !(total > 0))
        rc = cli_error(EXIT_BAD_USAGE, "--weights: %s: every weight is "
                       "zero", name);
    if (rc == 0 && !isfinite(total))
        rc = cli_error(EXIT_BAD_USAGE, "--weights: %s: the weights sum to "
                       "more than a double holds", name);
    if (rc != 0) {
        dataio_matrix_free(&w);
        return rc;
    }
    *out = w.data; /* n x 1, contiguous: the weights themselves */
    return 0;
}

int cli_load_model_and_data(const char *command, const char *model_path,
                            const char *data_path,
                            const dataio_read_options *read,
                            emgmm_model **m, dataio_matrix *x)
{
    return cli_load_model_and_data_named(command, model_path, data_path,
                                         read, m, x, NULL);
}

int cli_load_model_and_data_named(const char *command,
                                  const char *model_path,
                                  const char *data_path,
                                  const dataio_read_options *read,
                                  emgmm_model **m, dataio_matrix *x,
                                  char ***names)
{
    if (strcmp(model_path, "-") == 0 && strcmp(data_path, "-") == 0)
        return cli_error(EXIT_BAD_USAGE,
                         "%s: MODEL and DATA cannot both be standard input",
                         command);
    int rc = cli_load_model(model_path, m);
    if (rc == 0)
        rc = cli_load_data_named(data_path, read, x, names);
    if (rc == 0)
        rc = cli_check_features(data_path, x, model_path, *m);
    return rc;
}

int cli_check_observed_columns(const char *path, const dataio_matrix *x,
                               int over_ranks)
{
    double *count = calloc(x->cols ? x->cols : 1, sizeof *count);
    if (!count)
        return cli_error(EXIT_WORK_FAILED, "out of memory");
    for (size_t i = 0; i < x->rows; i++)
        for (size_t j = 0; j < x->cols; j++)
            count[j] += !isnan(x->data[i * x->cols + j]);
    int rc = over_ranks && cli_mpi_allreduce(count, x->cols, NULL) != 0
                 ? cli_error(EXIT_WORK_FAILED, "MPI_Allreduce failed")
                 : 0;
    for (size_t j = 0; rc == 0 && j < x->cols; j++)
        if (count[j] == 0.0)
            rc = cli_error(EXIT_BAD_USAGE,
                           "%s: column %zu has no observed value (every row "
                           "is missing it)",
                           strcmp(path, "-") == 0 ? "<stdin>" : path, j + 1);
    free(count);
    return rc;
}

/* Posteriors given the observed values, for data with gaps (read with
 * --missing); labels are their argmax. */
static int predict_with_gaps(const emgmm_model *m, const dataio_matrix *x,
                             int32_t **labels, double **proba)
{
    size_t n = x->rows, k = emgmm_n_components(m);
    double *p = NULL;
    if (labels != NULL)
        *labels = NULL;
    if (proba != NULL)
        *proba = NULL;
    if (k != 0 && n > SIZE_MAX / sizeof(double) / k)
        return cli_error(EXIT_WORK_FAILED, "out of memory (%zu rows)", n);
    p = malloc((n * k != 0 ? n * k : 1) * sizeof *p);
    int32_t *l = labels ? malloc((n != 0 ? n : 1) * sizeof *l) : NULL;
    if (p == NULL || (labels != NULL && l == NULL)) {
        free(p);
        free(l);
        return cli_error(EXIT_WORK_FAILED, "out of memory (%zu rows)", n);
    }
    int st = emgmm_predict_proba_missing(m, x->data, n, x->cols, p);
    if (st != EMGMM_OK) {
        free(p);
        free(l);
        return cli_library_error("predict", st);
    }
    for (size_t i = 0; l != NULL && i < n; i++) {
        size_t best = 0;
        for (size_t c = 1; c < k; c++)
            if (p[i * k + c] > p[i * k + best])
                best = c;
        l[i] = (int32_t)best;
    }
    if (labels != NULL)
        *labels = l;
    if (proba != NULL)
        *proba = p;
    else
        free(p);
    return 0;
}

int cli_predict(const emgmm_model *m, const dataio_matrix *x,
                int32_t **labels, double **proba)
{
    size_t n = x->rows, k = emgmm_n_components(m);
    int st = EMGMM_OK, nomem = 0;
    for (size_t i = 0; i < n * x->cols; i++)
        if (isnan(x->data[i]))
            return predict_with_gaps(m, x, labels, proba);
    if (labels != NULL) {
        *labels = malloc((n != 0 ? n : 1) * sizeof **labels);
        if (*labels == NULL)
            nomem = 1;
        else
            st = emgmm_predict(m, x->data, n, x->cols, *labels);
    }
    if (proba != NULL) {
        *proba = NULL;
        if (!nomem && st == EMGMM_OK) {
            if (k != 0 && n > SIZE_MAX / sizeof(double) / k)
                nomem = 1;
            else if ((*proba = malloc((n * k != 0 ? n * k : 1) *
                                      sizeof **proba)) == NULL)
                nomem = 1;
            else
                st = emgmm_predict_proba(m, x->data, n, x->cols, *proba);
        }
    }
    if (!nomem && st == EMGMM_OK)
        return 0;
    if (labels != NULL) {
        free(*labels);
        *labels = NULL;
    }
    if (proba != NULL) {
        free(*proba);
        *proba = NULL;
    }
    if (nomem)
        return cli_error(EXIT_WORK_FAILED, "out of memory (%zu rows)", n);
    return cli_library_error("predict", st);
}

int cli_status_exit(int status)
{
    switch (status) {
    case EMGMM_OK:
        return 0;
    case EMGMM_ERR_INVALID:
    case EMGMM_ERR_NONFINITE:
    case EMGMM_ERR_FORMAT:
    case EMGMM_ERR_UNSUPPORTED:
    case EMGMM_ERR_TOO_FEW_SAMPLES:
    case EMGMM_ERR_RANGE: /* the data need rescaling */
        return EXIT_BAD_USAGE;
    default: /* NOMEM, SINGULAR, IO, CANCELLED, unknown */
        return EXIT_WORK_FAILED;
    }
}

int cli_library_error(const char *what, int status)
{
    return cli_error(cli_status_exit(status), "%s: %s", what,
                     emgmm_strerror(status));
}

const char *cli_display_name(const char *path)
{
    if (strcmp(path, "-") == 0)
        return "<stdin>";
    const char *slash = strrchr(path, '/');
    return slash != NULL && slash[1] != '\0' ? slash + 1 : path;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* Outputs                                                             */
/* ------------------------------------------------------------------ */

static int is_stdout(const char *path) { return strcmp(path, "-") == 0; }

const char *cli_default_dataset(const char *flag, int integers)
{
    if (strcmp(flag, "--labels") == 0)
        return "/labels";
    if (strcmp(flag, "--proba") == 0)
        return "/proba";
    if (strcmp(flag, "--states") == 0)
        return "/states";
    if (integers) /* predict -o LABELS, hmm decode -o STATES */
        return strcmp(g_command, "hmm") == 0 ? "/states" : "/labels";
    return "/data";
}

/* The dataset an HDF5 output name gives, or the default its option
 * surely has (NULL when that depends on what is written: -o). */
static const char *known_dataset(const char *flag, const char *dataset)
{
    if (dataset)
        return dataset;
    if (strcmp(flag, "--labels") == 0 || strcmp(flag, "--proba") == 0 ||
        strcmp(flag, "--states") == 0)
        return cli_default_dataset(flag, 0);
    return NULL;
}

/* Whether two output names write the same thing: the same file, or, for
 * HDF5, the same dataset of one file (several datasets may share it). */
static int same_output(const char *flag_a, const char *a, const char *flag_b,
                       const char *b)
{
    size_t la = 0, lb = 0;
    const char *da = NULL, *db = NULL;
    if (!dataio_hdf5_name(a, &la, &da) || !dataio_hdf5_name(b, &lb, &db))
        return strcmp(a, b) == 0;
    if (la != lb || memcmp(a, b, la) != 0)
        return 0;
    da = known_dataset(flag_a, da);
    db = known_dataset(flag_b, db);
    return da && db && strcmp(da + strspn(da, "/"), db + strspn(db, "/")) == 0;
}

void cli_outputs_init(cli_outputs *o) { memset(o, 0, sizeof *o); }

int cli_outputs_declare(cli_outputs *o, const char *flag, const char *path,
                        int *index)
{
    for (int i = 0; i < o->n; i++) {
        if (is_stdout(path) && is_stdout(o->path[i]))
            return cli_error(EXIT_BAD_USAGE,
                             "%s and %s both write to standard output",
                             o->flag[i], flag);
        if (same_output(o->flag[i], o->path[i], flag, path))
            return cli_error(EXIT_BAD_USAGE, "%s and %s both write to '%s'",
                             o->flag[i], flag, path);
    }
    if (path[0] == '\0')
        return cli_error(EXIT_BAD_USAGE, "%s: empty file name", flag);
    size_t file_len = 0;
    const char *dataset = NULL;
    if (dataio_hdf5_name(path, &file_len, &dataset)) {
        if (!dataio_have_hdf5())
            return cli_error(EXIT_BAD_USAGE, "%s: %.*s: this emgmm was built "
                             "without HDF5 support (install libhdf5-dev and "
                             "build again)", flag, (int)file_len, path);
        if (dataset && strspn(dataset, "/") == strlen(dataset))
            return cli_error(EXIT_BAD_USAGE, "%s: '%s': no dataset name "
                             "after ':' (write %.*s:/path/to/dataset)", flag,
                             path, (int)file_len, path);
    }
    if (o->n >= CLI_MAX_OUTPUTS) /* a programming error, not a user's */
        return cli_error(EXIT_WORK_FAILED, "too many outputs");
    o->flag[o->n] = flag;
    o->path[o->n] = path;
    o->tmp[o->n] = NULL;
    *index = o->n++;
    return 0;
}

int cli_outputs_uses_stdout(const cli_outputs *o)
{
    for (int i = 0; i < o->n; i++)
        if (is_stdout(o->path[i]))
            return 1;
    return 0;
}

/* Where the shared EM options of a command go; NULL for one it does not
 * take. */
typedef struct em_targets {
    emgmm_init_method *init;
    uint64_t *seed;
    int *n_init;
    double *tol;
    double tol_min;
    int *max_iter;
    int min_max_iter;
    double *reg_covar;
    int *threads;
} em_targets;

static int parse_em_into(const char *name, const char *value,
                         const em_targets *t, unsigned *given, int *rc)
{
    unsigned bit;
    if (t->init && strcmp(name, "init") == 0) {
        bit = CLI_EM_INIT;
        *rc = emgmm_init_method_parse(value, t->init) == EMGMM_OK
                  ? 0
                  : cli_error(EXIT_BAD_USAGE,
                              "--init: unknown method '%s' (kmeans, "
                              "kmeans++, random or random-data)", value);
    } else if (t->seed && strcmp(name, "seed") == 0) {
        bit = CLI_EM_SEED;
        *rc = cli_parse_u64("--seed", value, t->seed);
    } else if (t->n_init && strcmp(name, "n-init") == 0) {
        bit = CLI_EM_N_INIT;
        *rc = cli_parse_int("--n-init", value, 1, INT_MAX, t->n_init);
    } else if (t->tol && strcmp(name, "tol") == 0) {
        bit = CLI_EM_TOL;
        *rc = cli_parse_double("--tol", value, t->tol_min, t->tol);
    } else if (t->max_iter && strcmp(name, "max-iter") == 0) {
        bit = CLI_EM_MAX_ITER;
        *rc = cli_parse_int("--max-iter", value, t->min_max_iter, INT_MAX,
                            t->max_iter);
    } else if (t->reg_covar && strcmp(name, "reg-covar") == 0) {
        bit = CLI_EM_REG_COVAR;
        *rc = cli_parse_double("--reg-covar", value, 0, t->reg_covar);
    } else if (t->threads && strcmp(name, "threads") == 0) {
        bit = CLI_EM_THREADS;
        *rc = cli_parse_int("--threads", value, 0, INT_MAX, t->threads);
    } else {
        return 0;
    }
    *given |= bit;
    return 1;
}

int cli_parse_em_option(const char *name, const char *value,
                        int min_max_iter, emgmm_params *p, unsigned *given,
                        int *rc)
{
    const em_targets t = {&p->init,     &p->seed,     &p->n_init,
                          &p->tol,      0.0,          &p->max_iter,
                          min_max_iter, &p->reg_covar, &p->n_threads};
    return parse_em_into(name, value, &t, given, rc);
}

/* hmmlearn's params and init_params: letters of "stmcw", each at most
 * once (possibly none). */
static int parse_letters(const char *flag, const char *s, char out[8])
{
    size_t n = strlen(s);
    int bad = n > 5;
    for (size_t i = 0; !bad && i < n; i++)
        bad = strchr("stmcw", s[i]) == NULL || strchr(s + i + 1, s[i]) != NULL;
    if (bad)
        return cli_error(EXIT_BAD_USAGE,
                         "%s: '%s' is not made of the letters s (start "
                         "probabilities), t (transitions), m (means), c "
                         "(covariances) and w (mixture weights, with "
                         "--mix), each at most once", flag, s);
    memcpy(out, s, n + 1);
    return 0;
}

int cli_parse_hmm_option(const char *name, const char *value,
                         emgmm_hmm_params *p, unsigned *given, int *rc)
{
    /* A negative --tol runs exactly --max-iter iterations. */
    const em_targets t = {NULL, &p->seed, &p->n_init, &p->tol, -INFINITY,
                          &p->max_iter, 0, NULL, &p->n_threads};
    if (parse_em_into(name, value, &t, given, rc))
        return 1;
    /* The priors: >= 0 where hmmlearn's meaning needs it; the covariance
     * priors may be negative (GMMHMM's defaults are). */
    static const struct {
        const char *name;
        size_t offset;
        double min;
    } real[] = {
        {"min-covar", offsetof(emgmm_hmm_params, min_covar), 0.0},
        {"startprob-prior", offsetof(emgmm_hmm_params, startprob_prior), 0.0},
        {"transmat-prior", offsetof(emgmm_hmm_params, transmat_prior), 0.0},
        {"means-prior", offsetof(emgmm_hmm_params, means_prior), -INFINITY},
        {"means-weight", offsetof(emgmm_hmm_params, means_weight), 0.0},
        {"covars-prior", offsetof(emgmm_hmm_params, covars_prior), -INFINITY},
        {"covars-weight", offsetof(emgmm_hmm_params, covars_weight),
         -INFINITY},
        {"weights-prior", offsetof(emgmm_hmm_params, weights_prior), 0.0},
    };
    char flag[32];
    snprintf(flag, sizeof flag, "--%s", name);
    for (size_t i = 0; i < sizeof real / sizeof real[0]; i++)
        if (strcmp(name, real[i].name) == 0) {
            *rc = cli_parse_double(flag, value, real[i].min,
                                   (double *)((char *)p + real[i].offset));
            if (i == 0)
                *given |= CLI_EM_MIN_COVAR;
            return 1;
        }
    if (strcmp(name, "params") == 0) {
        *rc = parse_letters("--params", value, p->params);
        *given |= CLI_EM_PARAMS;
    } else if (strcmp(name, "init-params") == 0) {
        *rc = parse_letters("--init-params", value, p->init_params);
        *given |= CLI_EM_INIT_PARAMS;
    } else {
        return 0;
    }
    return 1;
}

int cli_outputs_single(cli_outputs *o, const char *flag, const char *path,
                       int *index)
{
    cli_outputs_init(o);
    int rc = cli_outputs_declare(o, flag, path, index);
    return rc != 0 ? rc : cli_outputs_check(o);
}

int cli_outputs_check(const cli_outputs *o)
{
    for (int i = 0; i < o->n; i++) {
        const char *path = o->path[i];
        struct stat st;
        if (is_stdout(path))
            continue;
        /* An HDF5 name's file: FILE.h5 of FILE.h5:/dataset. */
        size_t file_len = strlen(path);
        (void)dataio_hdf5_name(path, &file_len, NULL);
        char *file = strndup(path, file_len);
        if (file == NULL)
            return cli_error(EXIT_WORK_FAILED, "out of memory");
        const int is_dir = stat(file, &st) == 0 && S_ISDIR(st.st_mode);
        free(file);
        const char *slash = NULL;
        for (size_t k = 0; k < file_len; k++)
            if (path[k] == '/')
                slash = path + k;
        if (is_dir)
            return cli_error(EXIT_WORK_FAILED, "%s: cannot write '%s': %s",
                             o->flag[i], path, strerror(EISDIR));
        /* The folder that will hold the file and its temporary. */
        size_t len = slash == NULL   ? 0
                     : slash == path ? 1 /* "/name": the root folder */
                                     : (size_t)(slash - path);
        char *dir = malloc(len + 2);
        if (dir == NULL)
            return cli_error(EXIT_WORK_FAILED, "out of memory");
        if (len == 0) {
            strcpy(dir, ".");
        } else {
            memcpy(dir, path, len);
            dir[len] = '\0';
        }
        int bad = 0;
        if (stat(dir, &st) != 0)
            bad = errno;
        else if (!S_ISDIR(st.st_mode))
            bad = ENOTDIR;
        else if (access(dir, W_OK | X_OK) != 0)
            bad = errno;
        free(dir);
        if (bad != 0)
            return cli_error(EXIT_WORK_FAILED, "%s: cannot write '%s': %s",
                             o->flag[i], path, strerror(bad));
    }
    return 0;
}

int cli_outputs_open(cli_outputs *o)
{
    char err[512] = "";
    o->set = outputs_new();
    if (o->set == NULL)
        return cli_error(EXIT_WORK_FAILED, "out of memory");
    for (int i = 0; i < o->n; i++) {
        if (is_stdout(o->path[i])) {
            o->tmp[i] = "-";
            continue;
        }
        if (outputs_add(o->set, o->path[i], &o->tmp[i], err, sizeof err) != 0)
            return cli_error(EXIT_WORK_FAILED, "%s: %s", o->flag[i],
                             err[0] ? err : "cannot create the output");
    }
    return 0;
}

const char *cli_outputs_tmp(const cli_outputs *o, int index)
{
    return o->tmp[index];
}

int cli_outputs_commit(cli_outputs *o)
{
    char err[512] = "";
    if (cli_outputs_uses_stdout(o)) {
        errno = 0;
        if (fflush(stdout) != 0 || ferror(stdout))
            return cli_error(EXIT_WORK_FAILED, "standard output: %s",
                             errno ? strerror(errno) : "write error");
    }
    if (o->set != NULL && outputs_commit(o->set, err, sizeof err) != 0)
        return cli_error(EXIT_WORK_FAILED, "%s",
                         err[0] ? err : "cannot move the outputs into place");
    return 0;
}

void cli_outputs_free(cli_outputs *o)
{
    outputs_free(o->set);
    o->set = NULL;
}

int cli_text_output(const char *flag, const char *path)
{
    if (path != NULL && dataio_hdf5_name(path, NULL, NULL))
        return cli_error(EXIT_BAD_USAGE, "%s: '%s': this output is text "
                         "(JSON or SVG), not HDF5; give it another name",
                         flag, path);
    return 0;
}

int cli_write_stream(const cli_outputs *o, int index,
                     int (*writer)(FILE *f, const void *data),
                     const void *data)
{
    const char *tmp = o->tmp[index];
    int rc = cli_text_output(o->flag[index], o->path[index]);
    if (rc != 0)
        return rc;
    if (strcmp(tmp, "-") == 0) {
        if (writer(stdout, data) != 0 || ferror(stdout))
            return cli_error(EXIT_WORK_FAILED, "%s: standard output: "
                             "write error", o->flag[index]);
        return 0;
    }
    FILE *f = fopen(tmp, "wb");
    if (f == NULL)
        return cli_error(EXIT_WORK_FAILED, "%s: cannot write '%s': %s",
                         o->flag[index], o->path[index], strerror(errno));
    struct stat st;
    int regular = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
    errno = 0;
    int failed = writer(f, data) != 0 || ferror(f) || fflush(f) != 0 ||
                 (regular && fsync(fileno(f)) != 0);
    int saved = errno;
    if (fclose(f) != 0 && !failed) {
        failed = 1;
        saved = errno;
    }
    if (failed)
        return cli_error(EXIT_WORK_FAILED, "%s: cannot write '%s': %s",
                         o->flag[index], o->path[index],
                         saved ? strerror(saved) : "write error");
    return 0;
}

static int write_model_json(FILE *f, const void *m)
{
    return emgmm_write(m, f) == EMGMM_OK ? 0 : -1;
}

/*
 * The output set already gives the all-or-nothing replacement, so the
 * model is written straight into its temporary file with emgmm_write
 * rather than with emgmm_save (which would add a second temporary file,
 * and which renames even over a non-regular target such as /dev/null,
 * where the output set writes in place).
 */
int cli_write_model(const cli_outputs *o, int index, const emgmm_model *m)
{
    return cli_write_stream(o, index, write_model_json, m);
}

int cli_write_labels(const cli_outputs *o, int index, const int32_t *labels,
                     size_t n)
{
    char err[512] = "";
    if (dataio_write_labels_as(o->tmp[index],
                               cli_default_dataset(o->flag[index], 1), labels,
                               n, err, sizeof err) != 0)
        return cli_error(EXIT_WORK_FAILED, "%s: cannot write '%s': %s",
                         o->flag[index], o->path[index],
                         err[0] ? err : "write error");
    return 0;
}

int cli_write_matrix(const cli_outputs *o, int index, const double *a,
                     size_t rows, size_t cols)
{
    char err[512] = "";
    if (dataio_write_matrix_as(o->tmp[index],
                               cli_default_dataset(o->flag[index], 0), a,
                               rows, cols, err, sizeof err) != 0)
        return cli_error(EXIT_WORK_FAILED, "%s: cannot write '%s': %s",
                         o->flag[index], o->path[index],
                         err[0] ? err : "write error");
    return 0;
}

static int write_hmm_json(FILE *f, const void *m)
{
    return emgmm_hmm_write(m, f) == EMGMM_OK ? 0 : -1;
}

/* As cli_write_model, for an HMM. */
int cli_write_hmm_model(const cli_outputs *o, int index, const emgmm_hmm *m)
{
    return cli_write_stream(o, index, write_hmm_json, m);
}

/* ------------------------------------------------------------------ */
/* Outputs written a block of rows at a time                            */
/* ------------------------------------------------------------------ */

struct cli_rows {
    const char *flag, *final_path;
    char path[4096];     /* the temporary file (every rank's copy) */
    const char *dataset; /* for an HDF5 name without one */
    int int32;
    size_t cols, first_row, n_rows, total_rows;
    size_t offset;       /* .npy under mpirun: of the array's values */
    int parts;           /* several ranks write their rows of one file */
    int hdf5;
    dataio_rows *w;      /* between open and close */
};

int cli_rows_create(const cli_outputs *o, int index, const char *flag,
                    const char *final_path, int int32, size_t cols,
                    size_t first_row, size_t n_rows, size_t total_rows,
                    cli_rows **out)
{
    char err[512] = "";
    int rc = 0;
    *out = NULL;
    cli_rows *w = calloc(1, sizeof *w);
    if (w == NULL)
        rc = cli_error_always(EXIT_WORK_FAILED, "%s: out of memory", flag);
    if (w != NULL) {
        w->flag = flag;
        w->final_path = final_path;
        w->dataset = cli_default_dataset(flag, int32);
        w->int32 = int32;
        w->cols = cols;
        w->first_row = first_row;
        w->n_rows = n_rows;
        w->total_rows = total_rows;
        w->parts = cli_mpi_size() > 1;
        w->hdf5 = dataio_hdf5_name(final_path, NULL, NULL);
        if (w->parts && !cli_is_shared_name(final_path))
            rc = cli_error(EXIT_BAD_USAGE, "%s: '%s': under mpirun the rows "
                           "are written by every rank into one .npy or HDF5 "
                           "file, not text (name it .npy or .h5)", flag,
                           final_path);
    }
    if (!w || !w->parts) {
        if (rc == 0)
            snprintf(w->path, sizeof w->path, "%s",
                     cli_outputs_tmp(o, index));
        if (rc == 0)
            *out = w;
        else
            free(w);
        return rc;
    }
    /* Under mpirun: rank 0 creates the temporary file with the whole
     * array's header and size (the whole dataset), then hands its name
     * (and the .npy's data offset) to the others. */
    double offset = 0.0;
    if (rc == 0 && cli_mpi_rank() == 0) {
        size_t at = 0;
        snprintf(w->path, sizeof w->path, "%s", cli_outputs_tmp(o, index));
        if ((w->hdf5 ? dataio_h5_create(w->path, w->dataset, total_rows,
                                        cols, int32, err, sizeof err)
                     : dataio_npy_create(w->path, total_rows, cols, int32,
                                         &at, err, sizeof err)) != 0)
            rc = cli_error(EXIT_WORK_FAILED, "%s: cannot write '%s': %s",
                           flag, final_path, err);
        offset = (double)at;
    }
    if ((rc = cli_mpi_max(rc)) == 0 &&
        (cli_mpi_bcast_string(w->path, sizeof w->path) != 0 ||
         cli_mpi_allreduce(&offset, 1, NULL) != 0))
        rc = cli_error(EXIT_WORK_FAILED, "%s: MPI failed", flag);
    if ((rc = cli_mpi_max(rc)) != 0) {
        free(w);
        return rc;
    }
    w->offset = (size_t)offset;
    *out = w;
    return 0;
}

void cli_rows_at(cli_rows *w, size_t first_row, size_t n_rows)
{
    if (w->parts) {
        w->first_row = first_row;
        w->n_rows = n_rows;
    }
}

int cli_rows_serial(const cli_rows *w)
{
    return w != NULL && w->parts && w->hdf5;
}

int cli_rows_open(cli_rows *w)
{
    char err[512] = "";
    int st = w->parts ? dataio_rows_begin_part(w->path, w->dataset,
                                               w->offset, w->first_row,
                                               w->n_rows, w->cols, w->int32,
                                               &w->w, err, sizeof err)
                      : dataio_rows_begin(w->path, w->dataset,
                                          w->total_rows, w->cols, w->int32,
                                          &w->w, err, sizeof err);
    if (st != 0)
        return cli_error_always(EXIT_WORK_FAILED, "%s: cannot write '%s': "
                                "%s", w->flag, w->final_path,
                                err[0] ? err : "write error");
    return 0;
}

int cli_rows_write(cli_rows *w, const void *rows, size_t n)
{
    char err[512] = "";
    if (dataio_rows_put(w->w, rows, n, err, sizeof err) != 0)
        return cli_error_always(EXIT_WORK_FAILED, "%s: cannot write '%s': "
                                "%s", w->flag, w->final_path,
                                err[0] ? err : "write error");
    return 0;
}

int cli_rows_close(cli_rows *w)
{
    char err[512] = "";
    dataio_rows *r = w->w;
    w->w = NULL;
    if (dataio_rows_end(r, err, sizeof err) != 0)
        return cli_error_always(EXIT_WORK_FAILED, "%s: cannot write '%s': "
                                "%s", w->flag, w->final_path,
                                err[0] ? err : "write error");
    return 0;
}

void cli_rows_free(cli_rows *w)
{
    if (w == NULL)
        return;
    dataio_rows_abort(w->w);
    free(w);
}

/* The turns of writing: every rank at once, or one rank after the other
 * when one of the outputs is an HDF5 file under mpirun (the serial HDF5
 * library: never two writers of one file at once). */
static int rows_turns(cli_rows *const *w, int n)
{
    for (int i = 0; i < n; i++)
        if (cli_rows_serial(w[i]))
            return cli_mpi_size();
    return 1;
}

/* A .npy or HDF5 output written by every rank under mpirun (no rank
 * holds all the rows): the rows in memory, written by the writer above
 * in one block. */
int cli_write_shared_rows(const cli_outputs *o, int index, const char *flag,
                          const char *final_path, const void *rows,
                          size_t n_rows, size_t cols, int int32,
                          size_t first_row, size_t total_rows)
{
    cli_rows *w = NULL;
    int rc = cli_rows_create(o, index, flag, final_path, int32, cols,
                             first_row, n_rows, total_rows, &w);
    if (rc != 0)
        return rc;
    const int turns = rows_turns(&w, 1);
    /* Every rank takes part in each turn (cli_mpi_max is collective, and
     * ends the turn for all). */
    for (int turn = 0; turn < turns && rc == 0; turn++) {
        if (turns == 1 || turn == cli_mpi_rank()) {
            rc = cli_rows_open(w);
            if (rc == 0)
                rc = cli_rows_write(w, rows, n_rows);
            if (rc == 0)
                rc = cli_rows_close(w);
        }
        rc = cli_mpi_max(rc);
    }
    cli_rows_free(w);
    return rc;
}

size_t cli_stream_block_rows(size_t cols, size_t k)
{
    const size_t width = cols > k ? cols : k;
    size_t b = ((size_t)4 << 20) / (8 * (width ? width : 1));
    return b < 256 ? 256 : b > 65536 ? 65536 : b;
}

/* Whether any of the mapped rows of any rank has a gap (NaN): a pass
 * over the rows, a block at a time. */
static int mapped_gaps(dataio_map *map, const dataio_shape *shape,
                       double *buf, size_t block, int *gaps)
{
    const size_t d = shape->cols;
    int rc = 0, found = 0;
    for (size_t i = 0; rc == 0 && !found && i < shape->rows; i += block) {
        const size_t n = shape->rows - i < block ? shape->rows - i : block;
        if (dataio_map_rows(map, i, n, buf) != 0) {
            const char *why = dataio_map_error(map);
            rc = cli_error_always(EXIT_BAD_USAGE, "%s",
                                  why ? why : "cannot read the data");
        }
        for (size_t j = 0; rc == 0 && !found && j < n * d; j++)
            found = isnan(buf[j]);
    }
    *gaps = cli_mpi_max(found);
    return cli_mpi_max(rc);
}

int cli_predict_mapped(const emgmm_model *m, dataio_map *map,
                       const dataio_shape *shape, const cli_outputs *o,
                       const cli_rows_output *labels,
                       const cli_rows_output *proba, int missing)
{
    const size_t d = shape->cols, k = emgmm_n_components(m);
    const size_t block = cli_stream_block_rows(d, k);
    const cli_rows_output *want[2] = {labels, proba};
    cli_rows *w[2] = {NULL, NULL};
    int rc = 0, gaps = 0;
    for (int j = 0; j < 2 && rc == 0; j++)
        if (want[j] != NULL)
            rc = cli_rows_create(o, want[j]->index, want[j]->flag,
                                 want[j]->path, j == 0, j == 0 ? 0 : k,
                                 shape->first_row, shape->rows,
                                 shape->total_rows, &w[j]);
    double *buf = NULL;
    if (rc == 0 && (buf = malloc(block * d * sizeof *buf)) == NULL)
        rc = cli_error_always(EXIT_WORK_FAILED, "out of memory (%zu rows "
                              "of %zu columns)", block, d);
    rc = cli_mpi_max(rc);
    /* With --missing, cli_predict on loaded rows takes the posteriors
     * given the observed values for every row as soon as one value of
     * the data is missing: so do all blocks then, for the same numbers. */
    if (rc == 0 && missing)
        rc = mapped_gaps(map, shape, buf, block, &gaps);
    const int turns = rows_turns(w, 2);
    for (int turn = 0; turn < turns && rc == 0; turn++) {
        if (turns == 1 || turn == cli_mpi_rank()) {
            for (int j = 0; j < 2 && rc == 0; j++)
                if (w[j] != NULL)
                    rc = cli_rows_open(w[j]);
            for (size_t i = 0; rc == 0 && i < shape->rows; i += block) {
                const size_t n = shape->rows - i < block ? shape->rows - i
                                                         : block;
                if (dataio_map_rows(map, i, n, buf) != 0) {
                    const char *why = dataio_map_error(map);
                    rc = cli_error_always(EXIT_BAD_USAGE, "%s",
                                          why ? why : "cannot read the data");
                    break;
                }
                /* The block as cli_predict takes loaded rows: the same
                 * labels and numbers. */
                const dataio_matrix x = {buf, n, d};
                int32_t *l = NULL;
                double *p = NULL;
                rc = gaps ? predict_with_gaps(m, &x, w[0] ? &l : NULL,
                                              w[1] ? &p : NULL)
                          : cli_predict(m, &x, w[0] ? &l : NULL,
                                        w[1] ? &p : NULL);
                if (rc == 0 && w[0] != NULL)
                    rc = cli_rows_write(w[0], l, n);
                if (rc == 0 && w[1] != NULL)
                    rc = cli_rows_write(w[1], p, n);
                free(l);
                free(p);
            }
            for (int j = 0; j < 2 && rc == 0; j++)
                if (w[j] != NULL)
                    rc = cli_rows_close(w[j]);
        }
        rc = cli_mpi_max(rc);
    }
    free(buf);
    cli_rows_free(w[0]);
    cli_rows_free(w[1]);
    return rc;
}

/* Outputs every rank writes its rows of: .npy and HDF5. */
int cli_is_shared_name(const char *path)
{
    size_t n = strlen(path);
    return (n > 4 && strcmp(path + n - 4, ".npy") == 0) ||
           dataio_hdf5_name(path, NULL, NULL);
}
