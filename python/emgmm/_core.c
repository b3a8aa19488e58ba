/*
 * emgmm._core: the CPython binding of the emgmm library, on its public
 * headers only (emgmm.h, emgmm_hmm.h).
 *
 * Arrays cross through the buffer protocol: C-contiguous float64 (int32
 * for labels and states, int64 for sequence lengths). The Python side
 * (emgmm/_gmm.py, emgmm/_hmm.py) converts anything else with
 * numpy.ascontiguousarray before calling, so an array that already fits
 * is read in place, without a copy, and a read-only one is fine. Outputs
 * are written into writable arrays that the caller allocates, which
 * keeps this file free of the NumPy C API.
 *
 * Every library call runs with the GIL released: other Python threads go
 * on meanwhile, and two fits in two threads run side by side. The
 * progress callbacks therefore touch no Python object.
 *
 * Status codes become exceptions: ValueError for bad input (SingularError,
 * a ValueError, for a covariance that is not positive definite),
 * MemoryError, OSError for files, NotImplementedError for what the
 * library does not do yet, RuntimeError otherwise.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emgmm.h"
#include "emgmm_hmm.h"

/* emgmm._core.SingularError (a ValueError subclass). */
static PyObject *SingularError;

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* Sets the exception for a library status; always returns NULL.
 * `what` names the call; `bad` is the component or state of a singular
 * covariance (-1: none known). */
static PyObject *raise_status(int rc, const char *what, int bad)
{
    const char *msg = emgmm_strerror(rc);
    switch (rc) {
    case EMGMM_ERR_NOMEM:
        return PyErr_NoMemory();
    case EMGMM_ERR_SINGULAR:
        if (bad >= 0)
            PyErr_Format(SingularError, "%s: %s (component or state %d)",
                         what, msg, bad);
        else
            PyErr_Format(SingularError, "%s: %s", what, msg);
        return NULL;
    case EMGMM_ERR_INVALID:
    case EMGMM_ERR_NONFINITE:
    case EMGMM_ERR_TOO_FEW_SAMPLES:
    case EMGMM_ERR_RANGE:
    case EMGMM_ERR_FORMAT:
        PyErr_Format(PyExc_ValueError, "%s: %s", what, msg);
        return NULL;
    case EMGMM_ERR_IO:
        PyErr_Format(PyExc_OSError, "%s: %s", what, msg);
        return NULL;
    case EMGMM_ERR_UNSUPPORTED:
        PyErr_Format(PyExc_NotImplementedError, "%s: %s", what, msg);
        return NULL;
    default:
        PyErr_Format(PyExc_RuntimeError, "%s: %s (status %d)", what, msg,
                     rc);
        return NULL;
    }
}

/* A file operation failed: OSError with errno and the path for I/O
 * (FileNotFoundError and friends), ValueError with the position for a
 * malformed file, the usual mapping otherwise. */
static PyObject *raise_file_status(int rc, const char *what,
                                   PyObject *path_bytes, int saved_errno,
                                   const emgmm_error *err)
{
    if (rc == EMGMM_ERR_IO && saved_errno != 0) {
        PyObject *name = PyUnicode_DecodeFSDefaultAndSize(
            PyBytes_AS_STRING(path_bytes), PyBytes_GET_SIZE(path_bytes));
        if (!name)
            return NULL;
        errno = saved_errno;
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, name);
        Py_DECREF(name);
        return NULL;
    }
    if (rc == EMGMM_ERR_FORMAT && err && err->message[0] != '\0') {
        const char *path = PyBytes_AS_STRING(path_bytes);
        if (err->line > 0)
            PyErr_Format(PyExc_ValueError, "%s: %s:%d:%d: %s", what, path,
                         err->line, err->column, err->message);
        else
            PyErr_Format(PyExc_ValueError, "%s: %s: %s", what, path,
                         err->message);
        return NULL;
    }
    return raise_status(rc, what, -1);
}

/* ------------------------------------------------------------------ */
/* Buffers                                                             */
/* ------------------------------------------------------------------ */

typedef enum { KIND_F64, KIND_I32, KIND_I64 } elem_kind;

static const char *kind_name(elem_kind kind)
{
    switch (kind) {
    case KIND_F64: return "float64";
    case KIND_I32: return "int32";
    case KIND_I64: return "int64";
    }
    return "?";
}

/* Whether a struct-module format string is one element of the kind, in
 * this machine's byte order ("d", "<d" on little-endian, "=d", ...). */
static int format_is(const char *fmt, elem_kind kind, Py_ssize_t itemsize)
{
    if (!fmt)
        fmt = "B"; /* PEP 3118: no format means unsigned bytes */
    if (*fmt == '@' || *fmt == '=') {
        fmt++;
    } else if (*fmt == '<' || *fmt == '>' || *fmt == '!') {
        const uint16_t probe = 1;
        const int little = *(const unsigned char *)&probe == 1;
        if ((*fmt == '<') != little)
            return 0;
        fmt++;
    }
    if (fmt[0] == '\0' || fmt[1] != '\0')
        return 0;
    switch (kind) {
    case KIND_F64: return fmt[0] == 'd' && itemsize == 8;
    case KIND_I32: return (fmt[0] == 'i' || fmt[0] == 'l') && itemsize == 4;
    case KIND_I64: return (fmt[0] == 'l' || fmt[0] == 'q') && itemsize == 8;
    }
    return 0;
}

/* Takes a buffer of obj: C-contiguous, of the kind, with ndim dimensions,
 * writable when asked. Read-only buffers are fine for inputs. On failure
 * the exception is set and nothing is held. */
static int get_array(PyObject *obj, Py_buffer *view, elem_kind kind,
                     int ndim, int writable, const char *name)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT;
    if (writable)
        flags |= PyBUF_WRITABLE;
    if (PyObject_GetBuffer(obj, view, flags) != 0)
        return -1;
    if (!format_is(view->format, kind, view->itemsize)) {
        PyErr_Format(PyExc_TypeError,
                     "%s: a C-contiguous %s array is expected, got format "
                     "'%s'", name, kind_name(kind),
                     view->format ? view->format : "B");
        PyBuffer_Release(view);
        return -1;
    }
    if (view->ndim != ndim) {
        PyErr_Format(PyExc_ValueError,
                     "%s: a %d-dimensional array is expected, got %d "
                     "dimensions", name, ndim, view->ndim);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* Checks view's shape against dims (ndim already checked); releases the
 * view and sets ValueError when it differs. */
static int check_shape(Py_buffer *view, const Py_ssize_t *dims,
                       const char *name)
{
    for (int i = 0; i < view->ndim; i++)
        if (view->shape[i] != dims[i]) {
            PyErr_Format(PyExc_ValueError,
                         "%s: dimension %d is %zd, %zd expected", name, i,
                         view->shape[i], dims[i]);
            PyBuffer_Release(view);
            return -1;
        }
    return 0;
}

/* A data matrix X (n x d float64) whose d must be `d` (0: any). */
static int get_data(PyObject *obj, Py_buffer *view, size_t d,
                    const char *name)
{
    if (get_array(obj, view, KIND_F64, 2, 0, name) != 0)
        return -1;
    if (d != 0 && (size_t)view->shape[1] != d) {
        PyErr_Format(PyExc_ValueError,
                     "%s has %zd features, but the model has %zu", name,
                     view->shape[1], d);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* A writable output of the kind with exactly `count` elements (any
 * number of dimensions: the caller allocated it in the right shape). */
static int get_output(PyObject *obj, Py_buffer *view, elem_kind kind,
                      size_t count, const char *name)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE;
    if (PyObject_GetBuffer(obj, view, flags) != 0)
        return -1;
    if (!format_is(view->format, kind, view->itemsize) ||
        (size_t)view->len != count * (size_t)view->itemsize) {
        PyErr_Format(PyExc_ValueError,
                     "%s: a writable C-contiguous %s array of %zu elements "
                     "is expected", name, kind_name(kind), count);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* Optional sequence lengths (None or a 1-D int64 array) as size_t, in
 * *out (PyMem_Free it; NULL for None). */
static int get_lengths(PyObject *obj, size_t **out, size_t *n_seq)
{
    *out = NULL;
    *n_seq = 0;
    if (obj == Py_None)
        return 0;
    Py_buffer view;
    if (get_array(obj, &view, KIND_I64, 1, 0, "lengths") != 0)
        return -1;
    const size_t count = (size_t)view.shape[0];
    const int64_t *src = view.buf;
    size_t *len = PyMem_Malloc((count ? count : 1) * sizeof(size_t));
    if (!len) {
        PyBuffer_Release(&view);
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        if (src[i] < 0) {
            PyBuffer_Release(&view);
            PyMem_Free(len);
            PyErr_SetString(PyExc_ValueError,
                            "lengths must not be negative");
            return -1;
        }
        len[i] = (size_t)src[i];
    }
    PyBuffer_Release(&view);
    *out = len;
    *n_seq = count;
    return 0;
}

static int parse_type(const char *name, emgmm_covariance_type *type)
{
    if (emgmm_covariance_type_parse(name, type) != EMGMM_OK) {
        PyErr_Format(PyExc_ValueError,
                     "unknown covariance type '%s' (full, tied, diag or "
                     "spherical)", name);
        return -1;
    }
    return 0;
}

/* Elements of a covariance array: mixture shapes (n_mix 0) or an HMM's
 * GMM-emission shapes (see emgmm_hmm.h), as dims; returns ndim. */
static int cov_dims(emgmm_covariance_type type, size_t k, size_t n_mix,
                    size_t d, Py_ssize_t *dims)
{
    const Py_ssize_t K = (Py_ssize_t)k, M = (Py_ssize_t)n_mix,
                     D = (Py_ssize_t)d;
    if (n_mix == 0) {
        switch (type) {
        case EMGMM_COVARIANCE_FULL:
            dims[0] = K, dims[1] = D, dims[2] = D;
            return 3;
        case EMGMM_COVARIANCE_TIED:
            dims[0] = D, dims[1] = D;
            return 2;
        case EMGMM_COVARIANCE_DIAG:
            dims[0] = K, dims[1] = D;
            return 2;
        case EMGMM_COVARIANCE_SPHERICAL:
            dims[0] = K;
            return 1;
        }
    } else {
        switch (type) {
        case EMGMM_COVARIANCE_FULL:
            dims[0] = K, dims[1] = M, dims[2] = D, dims[3] = D;
            return 4;
        case EMGMM_COVARIANCE_TIED:
            dims[0] = K, dims[1] = D, dims[2] = D;
            return 3;
        case EMGMM_COVARIANCE_DIAG:
            dims[0] = K, dims[1] = M, dims[2] = D;
            return 3;
        case EMGMM_COVARIANCE_SPHERICAL:
            dims[0] = K, dims[1] = M;
            return 2;
        }
    }
    return -1;
}

static size_t dims_count(const Py_ssize_t *dims, int ndim)
{
    size_t c = 1;
    for (int i = 0; i < ndim; i++)
        c *= (size_t)dims[i];
    return c;
}

/* ------------------------------------------------------------------ */
/* Progress callbacks (run without the GIL: plain C only)              */
/* ------------------------------------------------------------------ */

/* What a fit's callback keeps: each iteration's value and time (for
 * verbose output and hmmlearn's monitor_.history) and, when `custom`,
 * the stopping rule applied here instead of the library's. The library
 * then runs with its own test off; the callback stops it by returning
 * non-zero (the fit returns EMGMM_ERR_CANCELLED and no model), so it
 * keeps a copy of the model of the stopping iteration. */
typedef struct watch {
    double *values, *seconds;
    size_t count, cap;
    int no_memory;
    int custom;
    double tol;
    double previous;    /* mixture: the value before the first E-step */
    double first_shift; /* mixture: added to the first E-step's value */
    int stopped;
    int stop_iter;
    emgmm_model *kept;
    emgmm_hmm *kept_hmm;
    int kept_rc;
} watch;

static void watch_free(watch *w)
{
    free(w->values);
    free(w->seconds);
    emgmm_free(&w->kept);
    emgmm_hmm_free(&w->kept_hmm);
}

static int watch_record(watch *w, double value, double seconds)
{
    if (w->count == w->cap) {
        const size_t cap = w->cap ? 2 * w->cap : 64;
        double *v = realloc(w->values, cap * sizeof(double));
        if (!v)
            return -1;
        w->values = v;
        double *s = realloc(w->seconds, cap * sizeof(double));
        if (!s)
            return -1;
        w->seconds = s;
        w->cap = cap;
    }
    w->values[w->count] = value;
    w->seconds[w->count] = seconds;
    w->count++;
    return 0;
}

/* scikit-learn's rule: |lower_bound - previous| < tol, the first E-step's
 * value shifted by log(sum of the initial weights) (scikit-learn's
 * initial weights need not sum to 1; the library normalises them, which
 * changes no responsibility, only that first value), and `previous` the
 * warm start's lower_bound_. */
static int mixture_progress(const emgmm_iteration *it, void *user)
{
    watch *w = user;
    const double value =
        it->log_likelihood + (it->iteration == 1 ? w->first_shift : 0.0);
    if (watch_record(w, value, it->seconds) != 0) {
        w->no_memory = 1;
        return 1;
    }
    if (!w->custom)
        return 0;
    const double change = value - w->previous;
    w->previous = value;
    if (fabs(change) < w->tol) {
        const emgmm_model *m = it->model;
        w->stopped = 1;
        w->stop_iter = it->iteration;
        w->kept_rc = emgmm_model_create(
            emgmm_get_covariance_type(m), emgmm_n_components(m),
            emgmm_n_features(m), emgmm_weights(m), emgmm_means(m),
            emgmm_covariances(m), &w->kept, NULL);
        return 1;
    }
    return 0;
}

/* hmmlearn's rule for a finite negative tol (stop once the change is
 * below it: a fall by more than |tol|); the library runs every
 * iteration for any negative tol. */
static int hmm_progress(const emgmm_hmm_iteration *it, void *user)
{
    watch *w = user;
    if (watch_record(w, it->log_likelihood, it->seconds) != 0) {
        w->no_memory = 1;
        return 1;
    }
    if (!w->custom || !(it->change < w->tol))
        return 0;
    const emgmm_hmm *m = it->model;
    const emgmm_covariance_type type = emgmm_hmm_get_covariance_type(m);
    const size_t k = emgmm_hmm_n_states(m), d = emgmm_hmm_n_features(m);
    w->stopped = 1;
    w->stop_iter = it->iteration;
    if (emgmm_hmm_get_emission(m) == EMGMM_HMM_GMM)
        w->kept_rc = emgmm_hmm_create_gmm(
            type, k, emgmm_hmm_n_mix(m), d, emgmm_hmm_startprob(m),
            emgmm_hmm_transmat(m), emgmm_hmm_weights(m), emgmm_hmm_means(m),
            emgmm_hmm_covariances(m), &w->kept_hmm, NULL);
    else
        w->kept_rc = emgmm_hmm_create(
            type, k, d, emgmm_hmm_startprob(m), emgmm_hmm_transmat(m),
            emgmm_hmm_means(m), emgmm_hmm_covariances(m), &w->kept_hmm,
            NULL);
    return 1;
}

/* The recorded values as a list of floats. */
static PyObject *list_of(const double *v, size_t count)
{
    PyObject *list = PyList_New((Py_ssize_t)count);
    if (!list)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        PyObject *x = PyFloat_FromDouble(v[i]);
        if (!x) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, x);
    }
    return list;
}

/* ------------------------------------------------------------------ */
/* Mixture: an emgmm_model                                             */
/* ------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    emgmm_model *model;
} MixtureObject;

static PyTypeObject MixtureType;

static void Mixture_dealloc(MixtureObject *self)
{
    emgmm_free(&self->model);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Wraps a model (taken over: freed on failure). */
static PyObject *wrap_mixture(emgmm_model *m)
{
    MixtureObject *o = PyObject_New(MixtureObject, &MixtureType);
    if (!o) {
        emgmm_free(&m);
        return NULL;
    }
    o->model = m;
    return (PyObject *)o;
}

static PyObject *Mixture_get_type(MixtureObject *self, void *closure)
{
    (void)closure;
    return PyUnicode_FromString(emgmm_covariance_type_name(
        emgmm_get_covariance_type(self->model)));
}

static PyObject *Mixture_get_k(MixtureObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(emgmm_n_components(self->model));
}

static PyObject *Mixture_get_d(MixtureObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(emgmm_n_features(self->model));
}

static PyObject *Mixture_get_n_parameters(MixtureObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(emgmm_n_parameters(self->model));
}

static PyGetSetDef Mixture_getset[] = {
    {"covariance_type", (getter)Mixture_get_type, NULL,
     "full, tied, diag or spherical", NULL},
    {"n_components", (getter)Mixture_get_k, NULL, "K", NULL},
    {"n_features", (getter)Mixture_get_d, NULL, "D", NULL},
    {"n_parameters", (getter)Mixture_get_n_parameters, NULL,
     "free parameters, as scikit-learn counts them", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* parameters(weights, means, covariances): copies the model's parameters
 * into three writable float64 arrays of the right sizes. */
static PyObject *Mixture_parameters(MixtureObject *self, PyObject *args)
{
    PyObject *ow, *om, *oc;
    if (!PyArg_ParseTuple(args, "OOO:parameters", &ow, &om, &oc))
        return NULL;
    const emgmm_model *m = self->model;
    const size_t k = emgmm_n_components(m), d = emgmm_n_features(m);
    Py_ssize_t dims[4];
    const int nd = cov_dims(emgmm_get_covariance_type(m), k, 0, d, dims);
    Py_buffer w, mu, c;
    if (get_output(ow, &w, KIND_F64, k, "weights") != 0)
        return NULL;
    if (get_output(om, &mu, KIND_F64, k * d, "means") != 0) {
        PyBuffer_Release(&w);
        return NULL;
    }
    if (get_output(oc, &c, KIND_F64, dims_count(dims, nd),
                   "covariances") != 0) {
        PyBuffer_Release(&w);
        PyBuffer_Release(&mu);
        return NULL;
    }
    memcpy(w.buf, emgmm_weights(m), k * sizeof(double));
    memcpy(mu.buf, emgmm_means(m), k * d * sizeof(double));
    memcpy(c.buf, emgmm_covariances(m),
           dims_count(dims, nd) * sizeof(double));
    PyBuffer_Release(&w);
    PyBuffer_Release(&mu);
    PyBuffer_Release(&c);
    Py_RETURN_NONE;
}

/* predict(X, labels): labels (int32, n) receives the most probable
 * component of each row. */
static PyObject *Mixture_predict(MixtureObject *self, PyObject *args)
{
    PyObject *ox, *ol;
    if (!PyArg_ParseTuple(args, "OO:predict", &ox, &ol))
        return NULL;
    Py_buffer x, lab;
    if (get_data(ox, &x, emgmm_n_features(self->model), "X") != 0)
        return NULL;
    const size_t n = (size_t)x.shape[0], d = (size_t)x.shape[1];
    if (get_output(ol, &lab, KIND_I32, n, "labels") != 0) {
        PyBuffer_Release(&x);
        return NULL;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = emgmm_predict(self->model, x.buf, n, d, lab.buf);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&x);
    PyBuffer_Release(&lab);
    if (rc != EMGMM_OK)
        return raise_status(rc, "predict", -1);
    Py_RETURN_NONE;
}

/* The row-wise calls that fill an n x (k or 1) float64 output, with or
 * without missing values. */
typedef enum { ROWS_PROBA, ROWS_LOGP, ROWS_IMPUTE } rows_call;

static PyObject *mixture_rows(MixtureObject *self, PyObject *args,
                              rows_call call, const char *what)
{
    PyObject *ox, *oo;
    int missing = 0;
    if (!PyArg_ParseTuple(args, "OO|p", &ox, &oo, &missing))
        return NULL;
    const emgmm_model *m = self->model;
    Py_buffer x, out;
    if (get_data(ox, &x, emgmm_n_features(m), "X") != 0)
        return NULL;
    const size_t n = (size_t)x.shape[0], d = (size_t)x.shape[1];
    const size_t width = call == ROWS_PROBA    ? emgmm_n_components(m)
                         : call == ROWS_LOGP ? 1
                                             : d;
    if (get_output(oo, &out, KIND_F64, n * width, "out") != 0) {
        PyBuffer_Release(&x);
        return NULL;
    }
    int rc = EMGMM_ERR_INVALID;
    Py_BEGIN_ALLOW_THREADS
    switch (call) {
    case ROWS_PROBA:
        rc = missing ? emgmm_predict_proba_missing(m, x.buf, n, d, out.buf)
                     : emgmm_predict_proba(m, x.buf, n, d, out.buf);
        break;
    case ROWS_LOGP:
        rc = missing ? emgmm_score_samples_missing(m, x.buf, n, d, out.buf)
                     : emgmm_score_samples(m, x.buf, n, d, out.buf);
        break;
    case ROWS_IMPUTE:
        rc = emgmm_impute(m, x.buf, n, d, out.buf);
        break;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&x);
    PyBuffer_Release(&out);
    if (rc != EMGMM_OK)
        return raise_status(rc, what, -1);
    Py_RETURN_NONE;
}

static PyObject *Mixture_predict_proba(MixtureObject *self, PyObject *args)
{
    return mixture_rows(self, args, ROWS_PROBA, "predict_proba");
}

static PyObject *Mixture_score_samples(MixtureObject *self, PyObject *args)
{
    return mixture_rows(self, args, ROWS_LOGP, "score_samples");
}

static PyObject *Mixture_impute(MixtureObject *self, PyObject *args)
{
    return mixture_rows(self, args, ROWS_IMPUTE, "impute");
}

/* save(path) of either kind of model: the JSON model file, written
 * atomically by `save`, without the GIL. */
typedef int (*model_save_fn)(const void *model, const char *path);

static PyObject *save_model(const void *model, model_save_fn save,
                            PyObject *args)
{
    PyObject *path = NULL;
    if (!PyArg_ParseTuple(args, "O&:save", PyUnicode_FSConverter, &path))
        return NULL;
    int rc, saved_errno = 0;
    const char *p = PyBytes_AS_STRING(path);
    Py_BEGIN_ALLOW_THREADS
    errno = 0;
    rc = save(model, p);
    saved_errno = errno;
    Py_END_ALLOW_THREADS
    PyObject *result = NULL;
    if (rc != EMGMM_OK)
        raise_file_status(rc, "save", path, saved_errno, NULL);
    else
        result = Py_NewRef(Py_None);
    Py_DECREF(path);
    return result;
}

static int save_mixture(const void *model, const char *path)
{
    return emgmm_save(model, path);
}

static PyObject *Mixture_save(MixtureObject *self, PyObject *args)
{
    return save_model(self->model, save_mixture, args);
}

static PyMethodDef Mixture_methods[] = {
    {"parameters", (PyCFunction)Mixture_parameters, METH_VARARGS,
     "parameters(weights, means, covariances): copy them out"},
    {"predict", (PyCFunction)Mixture_predict, METH_VARARGS,
     "predict(X, labels)"},
    {"predict_proba", (PyCFunction)Mixture_predict_proba, METH_VARARGS,
     "predict_proba(X, out, missing=False)"},
    {"score_samples", (PyCFunction)Mixture_score_samples, METH_VARARGS,
     "score_samples(X, out, missing=False)"},
    {"impute", (PyCFunction)Mixture_impute, METH_VARARGS,
     "impute(X, out): NaN filled by conditional expectation"},
    {"save", (PyCFunction)Mixture_save, METH_VARARGS, "save(path)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject MixtureType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "emgmm._core.Mixture",
    .tp_basicsize = sizeof(MixtureObject),
    .tp_dealloc = (destructor)Mixture_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A Gaussian mixture of the emgmm library (immutable).",
    .tp_methods = Mixture_methods,
    .tp_getset = Mixture_getset,
};

/* mixture_create(covariance_type, weights, means, covariances) */
static PyObject *mixture_create(PyObject *module, PyObject *args)
{
    (void)module;
    const char *type_name;
    PyObject *ow, *om, *oc;
    if (!PyArg_ParseTuple(args, "sOOO:mixture_create", &type_name, &ow, &om,
                          &oc))
        return NULL;
    emgmm_covariance_type type;
    if (parse_type(type_name, &type) != 0)
        return NULL;
    Py_buffer w, mu, c;
    if (get_array(ow, &w, KIND_F64, 1, 0, "weights") != 0)
        return NULL;
    if (get_array(om, &mu, KIND_F64, 2, 0, "means") != 0) {
        PyBuffer_Release(&w);
        return NULL;
    }
    const size_t k = (size_t)w.shape[0], d = (size_t)mu.shape[1];
    Py_ssize_t dims[4] = {(Py_ssize_t)k, (Py_ssize_t)d, 0, 0};
    if (k == 0 || d == 0) {
        PyBuffer_Release(&w);
        PyBuffer_Release(&mu);
        PyErr_SetString(PyExc_ValueError,
                        "a mixture needs at least one component and one "
                        "feature");
        return NULL;
    }
    if (check_shape(&mu, dims, "means") != 0) {
        PyBuffer_Release(&w);
        return NULL;
    }
    const int nd = cov_dims(type, k, 0, d, dims);
    if (get_array(oc, &c, KIND_F64, nd, 0, "covariances") != 0 ||
        check_shape(&c, dims, "covariances") != 0) {
        PyBuffer_Release(&w);
        PyBuffer_Release(&mu);
        return NULL;
    }
    emgmm_model *m = NULL;
    int rc, bad = -1;
    Py_BEGIN_ALLOW_THREADS
    rc = emgmm_model_create(type, k, d, w.buf, mu.buf, c.buf, &m, &bad);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&w);
    PyBuffer_Release(&mu);
    PyBuffer_Release(&c);
    if (rc != EMGMM_OK)
        return raise_status(rc, "mixture_create", bad);
    return wrap_mixture(m);
}

/* mixture_load(path, default_type="full") */
static PyObject *mixture_load(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *path = NULL;
    const char *type_name = "full";
    if (!PyArg_ParseTuple(args, "O&|s:mixture_load", PyUnicode_FSConverter,
                          &path, &type_name))
        return NULL;
    emgmm_covariance_type type;
    if (parse_type(type_name, &type) != 0) {
        Py_DECREF(path);
        return NULL;
    }
    emgmm_model *m = NULL;
    emgmm_error err;
    memset(&err, 0, sizeof err);
    int rc, saved_errno = 0;
    const char *p = PyBytes_AS_STRING(path);
    Py_BEGIN_ALLOW_THREADS
    errno = 0;
    rc = emgmm_load_as(p, type, &m, &err);
    saved_errno = errno;
    Py_END_ALLOW_THREADS
    PyObject *result = NULL;
    if (rc != EMGMM_OK)
        raise_file_status(rc, "load", path, saved_errno, &err);
    else
        result = wrap_mixture(m);
    Py_DECREF(path);
    return result;
}

/* fit_mixture(X, init, *, max_iter, tol, reg_covar, n_threads=0,
 *             sample_weight=None, missing=False, previous=-inf,
 *             first_shift=0.0, custom=False)
 * EM in the library from the model `init` (emgmm_fit with init_model).
 * With custom, scikit-learn's stopping rule is applied by the callback
 * (see mixture_progress) instead of the library's. Returns (model,
 * n_iter, converged, lower_bound, values, seconds, n_empty,
 * n_rows_all_missing). */
static PyObject *fit_mixture(PyObject *module, PyObject *args, PyObject *kw)
{
    (void)module;
    static char *kwlist[] = {"X", "init", "max_iter", "tol", "reg_covar",
                             "n_threads", "sample_weight", "missing",
                             "previous", "first_shift", "custom", NULL};
    PyObject *ox, *osw = Py_None;
    MixtureObject *init;
    int max_iter = 100, n_threads = 0, missing = 0, custom = 0;
    double tol = 1e-3, reg_covar = 1e-6, previous = -INFINITY,
           first_shift = 0.0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO!|$iddiOpddp:fit_mixture",
                                     kwlist, &ox, &MixtureType, &init,
                                     &max_iter, &tol, &reg_covar,
                                     &n_threads, &osw, &missing, &previous,
                                     &first_shift, &custom))
        return NULL;
    if (!(tol >= 0.0) || !isfinite(tol) || max_iter < 0 || n_threads < 0 ||
        !isfinite(first_shift)) {
        PyErr_SetString(PyExc_ValueError,
                        "fit_mixture: tol must be finite and >= 0, max_iter "
                        "and n_threads >= 0");
        return NULL;
    }
    Py_buffer x, sw;
    int have_sw = 0;
    if (get_data(ox, &x, emgmm_n_features(init->model), "X") != 0)
        return NULL;
    const size_t n = (size_t)x.shape[0], d = (size_t)x.shape[1];
    if (osw != Py_None) {
        const Py_ssize_t dims[1] = {(Py_ssize_t)n};
        if (get_array(osw, &sw, KIND_F64, 1, 0, "sample_weight") != 0 ||
            check_shape(&sw, dims, "sample_weight") != 0) {
            PyBuffer_Release(&x);
            return NULL;
        }
        have_sw = 1;
    }

    emgmm_params p;
    emgmm_params_default(&p);
    p.init_model = init->model;
    p.max_iter = max_iter;
    p.tol = custom ? 0.0 : tol; /* custom: the callback decides */
    p.reg_covar = reg_covar;
    p.n_threads = n_threads;
    p.missing = missing;
    p.sample_weight = have_sw ? sw.buf : NULL;
    watch w;
    memset(&w, 0, sizeof w);
    w.custom = custom;
    w.tol = tol;
    w.previous = previous;
    w.first_shift = first_shift;
    w.kept_rc = EMGMM_OK;
    p.progress = mixture_progress;
    p.progress_data = &w;

    emgmm_model *model = NULL;
    emgmm_fit_info info;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = emgmm_fit(&p, x.buf, n, d, d, &model, &info);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&x);
    if (have_sw)
        PyBuffer_Release(&sw);

    int n_iter = info.n_iter, converged = info.converged;
    if (rc == EMGMM_ERR_CANCELLED && w.no_memory) {
        rc = EMGMM_ERR_NOMEM;
    } else if (rc == EMGMM_ERR_CANCELLED && w.stopped) {
        rc = w.kept_rc;
        model = w.kept;
        w.kept = NULL;
        n_iter = w.stop_iter;
        converged = 1;
    }
    if (rc != EMGMM_OK) {
        watch_free(&w);
        emgmm_free(&model);
        return raise_status(rc, "fit", info.bad_component);
    }
    /* The lower bound as scikit-learn reports it: the last E-step's value
     * (shifted when it is the first). */
    const double lower_bound =
        w.count > 0 ? w.values[w.count - 1] : -INFINITY;
    PyObject *values = list_of(w.values, w.count);
    PyObject *seconds = values ? list_of(w.seconds, w.count) : NULL;
    watch_free(&w);
    PyObject *wrapped = seconds ? wrap_mixture(model) : NULL;
    if (!seconds)
        emgmm_free(&model);
    if (!wrapped) {
        Py_XDECREF(values);
        Py_XDECREF(seconds);
        return NULL;
    }
    return Py_BuildValue("(NiNdNNin)", wrapped, n_iter,
                         PyBool_FromLong(converged), lower_bound, values,
                         seconds, info.n_empty,
                         (Py_ssize_t)info.n_rows_all_missing);
}

/* ------------------------------------------------------------------ */
/* HMM: an emgmm_hmm                                                   */
/* ------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    emgmm_hmm *model;
} HMMObject;

static PyTypeObject HMMType;

static void HMM_dealloc(HMMObject *self)
{
    emgmm_hmm_free(&self->model);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *wrap_hmm(emgmm_hmm *m)
{
    HMMObject *o = PyObject_New(HMMObject, &HMMType);
    if (!o) {
        emgmm_hmm_free(&m);
        return NULL;
    }
    o->model = m;
    return (PyObject *)o;
}

static int hmm_is_gmm(const emgmm_hmm *m)
{
    return emgmm_hmm_get_emission(m) == EMGMM_HMM_GMM;
}

static PyObject *HMM_get_emission(HMMObject *self, void *closure)
{
    (void)closure;
    return PyUnicode_FromString(
        emgmm_hmm_emission_name(emgmm_hmm_get_emission(self->model)));
}

static PyObject *HMM_get_type(HMMObject *self, void *closure)
{
    (void)closure;
    return PyUnicode_FromString(emgmm_covariance_type_name(
        emgmm_hmm_get_covariance_type(self->model)));
}

static PyObject *HMM_get_k(HMMObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(emgmm_hmm_n_states(self->model));
}

static PyObject *HMM_get_m(HMMObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(emgmm_hmm_n_mix(self->model));
}

static PyObject *HMM_get_d(HMMObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(emgmm_hmm_n_features(self->model));
}

static PyGetSetDef HMM_getset[] = {
    {"emission", (getter)HMM_get_emission, NULL, "gaussian or gmm", NULL},
    {"covariance_type", (getter)HMM_get_type, NULL,
     "full, tied, diag or spherical", NULL},
    {"n_states", (getter)HMM_get_k, NULL, "K", NULL},
    {"n_mix", (getter)HMM_get_m, NULL, "M (1 for Gaussian emissions)", NULL},
    {"n_features", (getter)HMM_get_d, NULL, "D", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* The covariance dims of a model (hmmlearn's per-type shapes). */
static int hmm_cov_dims(const emgmm_hmm *m, Py_ssize_t *dims)
{
    const size_t k = emgmm_hmm_n_states(m), d = emgmm_hmm_n_features(m);
    return cov_dims(emgmm_hmm_get_covariance_type(m), k,
                    hmm_is_gmm(m) ? emgmm_hmm_n_mix(m) : 0, d, dims);
}

/* parameters(startprob, transmat, weights, means, covariances): copies
 * them out (weights None for Gaussian emissions). */
static PyObject *HMM_parameters(HMMObject *self, PyObject *args)
{
    PyObject *o[5];
    if (!PyArg_ParseTuple(args, "OOOOO:parameters", &o[0], &o[1], &o[2],
                          &o[3], &o[4]))
        return NULL;
    const emgmm_hmm *m = self->model;
    const size_t k = emgmm_hmm_n_states(m), d = emgmm_hmm_n_features(m);
    const size_t mm = emgmm_hmm_n_mix(m);
    const int gmm = hmm_is_gmm(m);
    Py_ssize_t dims[4];
    const int nd = hmm_cov_dims(m, dims);
    const size_t count[5] = {k, k * k, gmm ? k * mm : 0, k * mm * d,
                             dims_count(dims, nd)};
    const double *src[5] = {emgmm_hmm_startprob(m), emgmm_hmm_transmat(m),
                            emgmm_hmm_weights(m), emgmm_hmm_means(m),
                            emgmm_hmm_covariances(m)};
    static const char *names[5] = {"startprob", "transmat", "weights",
                                   "means", "covariances"};
    Py_buffer view[5];
    int held = 0;
    for (; held < 5; held++) {
        if (held == 2 && !gmm) {
            if (o[2] != Py_None) {
                PyErr_SetString(PyExc_ValueError,
                                "weights: None expected for Gaussian "
                                "emissions");
                break;
            }
            continue;
        }
        if (get_output(o[held], &view[held], KIND_F64, count[held],
                       names[held]) != 0)
            break;
    }
    for (int i = 0; i < held; i++) {
        if (i == 2 && !gmm)
            continue;
        if (held == 5)
            memcpy(view[i].buf, src[i], count[i] * sizeof(double));
        PyBuffer_Release(&view[i]);
    }
    if (held != 5)
        return NULL;
    Py_RETURN_NONE;
}

/* The sequence calls: X, lengths, then an output (or none for score). */
typedef enum { SEQ_SCORE, SEQ_PROBA, SEQ_DECODE } seq_call;

static PyObject *hmm_sequences(HMMObject *self, PyObject *args,
                               seq_call call, const char *what)
{
    PyObject *ox, *ol, *oo = Py_None;
    int missing = 0;
    if (call == SEQ_SCORE) {
        if (!PyArg_ParseTuple(args, "OO|p", &ox, &ol, &missing))
            return NULL;
    } else if (!PyArg_ParseTuple(args, "OOO|p", &ox, &ol, &oo, &missing)) {
        return NULL;
    }
    const emgmm_hmm *m = self->model;
    size_t *lengths = NULL, n_seq = 0;
    if (get_lengths(ol, &lengths, &n_seq) != 0)
        return NULL;
    Py_buffer x, out;
    if (get_data(ox, &x, emgmm_hmm_n_features(m), "X") != 0) {
        PyMem_Free(lengths);
        return NULL;
    }
    const size_t n = (size_t)x.shape[0], d = (size_t)x.shape[1];
    const int has_out = call != SEQ_SCORE;
    if (has_out &&
        get_output(oo, &out, call == SEQ_PROBA ? KIND_F64 : KIND_I32,
                   call == SEQ_PROBA ? n * emgmm_hmm_n_states(m) : n,
                   "out") != 0) {
        PyBuffer_Release(&x);
        PyMem_Free(lengths);
        return NULL;
    }
    double value = NAN;
    int rc = EMGMM_ERR_INVALID;
    Py_BEGIN_ALLOW_THREADS
    switch (call) {
    case SEQ_SCORE:
        rc = missing ? emgmm_hmm_score_missing(m, x.buf, n, d, lengths,
                                               n_seq, &value)
                     : emgmm_hmm_score(m, x.buf, n, d, lengths, n_seq,
                                       &value);
        break;
    case SEQ_PROBA:
        rc = missing ? emgmm_hmm_predict_proba_missing(m, x.buf, n, d,
                                                       lengths, n_seq,
                                                       out.buf)
                     : emgmm_hmm_predict_proba(m, x.buf, n, d, lengths,
                                               n_seq, out.buf);
        break;
    case SEQ_DECODE:
        rc = missing ? emgmm_hmm_decode_missing(m, x.buf, n, d, lengths,
                                                n_seq, out.buf, &value)
                     : emgmm_hmm_decode(m, x.buf, n, d, lengths, n_seq,
                                        out.buf, &value);
        break;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&x);
    if (has_out)
        PyBuffer_Release(&out);
    PyMem_Free(lengths);
    if (rc != EMGMM_OK)
        return raise_status(rc, what, -1);
    if (call == SEQ_PROBA)
        Py_RETURN_NONE;
    return PyFloat_FromDouble(value);
}

static PyObject *HMM_score(HMMObject *self, PyObject *args)
{
    return hmm_sequences(self, args, SEQ_SCORE, "score");
}

static PyObject *HMM_predict_proba(HMMObject *self, PyObject *args)
{
    return hmm_sequences(self, args, SEQ_PROBA, "predict_proba");
}

static PyObject *HMM_decode(HMMObject *self, PyObject *args)
{
    return hmm_sequences(self, args, SEQ_DECODE, "decode");
}

static PyObject *HMM_n_parameters(HMMObject *self, PyObject *args)
{
    const char *params = NULL;
    if (!PyArg_ParseTuple(args, "|z:n_parameters", &params))
        return NULL;
    return PyLong_FromSize_t(emgmm_hmm_n_parameters(self->model, params));
}

static int save_hmm(const void *model, const char *path)
{
    return emgmm_hmm_save(model, path);
}

static PyObject *HMM_save(HMMObject *self, PyObject *args)
{
    return save_model(self->model, save_hmm, args);
}

static PyMethodDef HMM_methods[] = {
    {"parameters", (PyCFunction)HMM_parameters, METH_VARARGS,
     "parameters(startprob, transmat, weights, means, covariances)"},
    {"score", (PyCFunction)HMM_score, METH_VARARGS,
     "score(X, lengths, missing=False) -> total log-likelihood"},
    {"predict_proba", (PyCFunction)HMM_predict_proba, METH_VARARGS,
     "predict_proba(X, lengths, out, missing=False)"},
    {"decode", (PyCFunction)HMM_decode, METH_VARARGS,
     "decode(X, lengths, states, missing=False) -> Viterbi log-probability"},
    {"n_parameters", (PyCFunction)HMM_n_parameters, METH_VARARGS,
     "n_parameters(params=None): free parameters, as hmmlearn counts"},
    {"save", (PyCFunction)HMM_save, METH_VARARGS, "save(path)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject HMMType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "emgmm._core.HMM",
    .tp_basicsize = sizeof(HMMObject),
    .tp_dealloc = (destructor)HMM_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A hidden Markov model of the emgmm library (immutable).",
    .tp_methods = HMM_methods,
    .tp_getset = HMM_getset,
};

static int parse_emission(const char *name, int *gmm)
{
    if (strcmp(name, "gaussian") == 0)
        *gmm = 0;
    else if (strcmp(name, "gmm") == 0)
        *gmm = 1;
    else {
        PyErr_Format(PyExc_ValueError,
                     "unknown emission '%s' (gaussian or gmm)", name);
        return -1;
    }
    return 0;
}

/* hmm_create(emission, covariance_type, startprob, transmat, weights,
 *            means, covariances): hmmlearn's shapes (weights None for
 *            Gaussian emissions). */
static PyObject *hmm_create(PyObject *module, PyObject *args)
{
    (void)module;
    const char *emission, *type_name;
    PyObject *o[5];
    if (!PyArg_ParseTuple(args, "ssOOOOO:hmm_create", &emission, &type_name,
                          &o[0], &o[1], &o[2], &o[3], &o[4]))
        return NULL;
    int gmm;
    emgmm_covariance_type type;
    if (parse_emission(emission, &gmm) != 0 ||
        parse_type(type_name, &type) != 0)
        return NULL;
    if (!gmm && o[2] != Py_None) {
        PyErr_SetString(PyExc_ValueError,
                        "weights: None expected for Gaussian emissions");
        return NULL;
    }
    Py_buffer sp, tm, w, mu, c;
    memset(&w, 0, sizeof w); /* only taken for GMM emissions */
    if (get_array(o[0], &sp, KIND_F64, 1, 0, "startprob") != 0)
        return NULL;
    const size_t k = (size_t)sp.shape[0];
    Py_ssize_t dims[4] = {(Py_ssize_t)k, (Py_ssize_t)k, 0, 0};
    if (get_array(o[1], &tm, KIND_F64, 2, 0, "transmat") != 0 ||
        check_shape(&tm, dims, "transmat") != 0) {
        PyBuffer_Release(&sp);
        return NULL;
    }
    if (get_array(o[3], &mu, KIND_F64, gmm ? 3 : 2, 0, "means") != 0) {
        PyBuffer_Release(&sp);
        PyBuffer_Release(&tm);
        return NULL;
    }
    const size_t mm = gmm ? (size_t)mu.shape[1] : 1;
    const size_t d = (size_t)mu.shape[gmm ? 2 : 1];
    dims[0] = (Py_ssize_t)k;
    dims[1] = gmm ? (Py_ssize_t)mm : (Py_ssize_t)d;
    dims[2] = (Py_ssize_t)d;
    if (check_shape(&mu, dims, "means") != 0) {
        PyBuffer_Release(&sp);
        PyBuffer_Release(&tm);
        return NULL;
    }
    if (gmm) {
        dims[1] = (Py_ssize_t)mm;
        if (get_array(o[2], &w, KIND_F64, 2, 0, "weights") != 0 ||
            check_shape(&w, dims, "weights") != 0) {
            PyBuffer_Release(&sp);
            PyBuffer_Release(&tm);
            PyBuffer_Release(&mu);
            return NULL;
        }
    }
    const int nd = cov_dims(type, k, gmm ? mm : 0, d, dims);
    if (k == 0 || d == 0 || mm == 0 ||
        get_array(o[4], &c, KIND_F64, nd, 0, "covariances") != 0 ||
        check_shape(&c, dims, "covariances") != 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError,
                            "an HMM needs at least one state, component "
                            "and feature");
        PyBuffer_Release(&sp);
        PyBuffer_Release(&tm);
        PyBuffer_Release(&mu);
        if (gmm)
            PyBuffer_Release(&w);
        return NULL;
    }
    emgmm_hmm *m = NULL;
    int rc, bad = -1;
    Py_BEGIN_ALLOW_THREADS
    if (gmm)
        rc = emgmm_hmm_create_gmm(type, k, mm, d, sp.buf, tm.buf, w.buf,
                                  mu.buf, c.buf, &m, &bad);
    else
        rc = emgmm_hmm_create(type, k, d, sp.buf, tm.buf, mu.buf, c.buf, &m,
                              &bad);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&sp);
    PyBuffer_Release(&tm);
    PyBuffer_Release(&mu);
    PyBuffer_Release(&c);
    if (gmm)
        PyBuffer_Release(&w);
    if (rc != EMGMM_OK)
        return raise_status(rc, "hmm_create", bad);
    return wrap_hmm(m);
}

static PyObject *hmm_load(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *path = NULL;
    if (!PyArg_ParseTuple(args, "O&:hmm_load", PyUnicode_FSConverter, &path))
        return NULL;
    emgmm_hmm *m = NULL;
    emgmm_error err;
    memset(&err, 0, sizeof err);
    int rc, saved_errno = 0;
    const char *p = PyBytes_AS_STRING(path);
    Py_BEGIN_ALLOW_THREADS
    errno = 0;
    rc = emgmm_hmm_load(p, &m, &err);
    saved_errno = errno;
    Py_END_ALLOW_THREADS
    PyObject *result = NULL;
    if (rc != EMGMM_OK)
        raise_file_status(rc, "load", path, saved_errno, &err);
    else
        result = wrap_hmm(m);
    Py_DECREF(path);
    return result;
}

/* Copies a parameter-letter string into the params' char[8]. */
static int copy_letters(char *dst, const char *src, const char *name)
{
    const size_t len = strlen(src);
    if (len >= 8 || strspn(src, "stmcw") != len) {
        PyErr_Format(PyExc_ValueError,
                     "%s: letters from \"stmcw\" expected (at most 7), got "
                     "'%s'", name, src);
        return -1;
    }
    memcpy(dst, src, len + 1);
    return 0;
}

/* fit_hmm(X, lengths, init, *, emission, covariance_type, n_states,
 *         n_mix, max_iter, tol, min_covar, startprob_prior,
 *         transmat_prior, weights_prior, means_prior, means_weight,
 *         covars_prior, covars_weight, params, init_params, seed,
 *         n_init, n_threads, missing)
 * Baum-Welch in the library (emgmm_hmm_fit); init None: the library's
 * initialisation of every parameter. Returns (model, n_iter, converged,
 * last_estep, log_likelihood, history, n_empty_states, n_kept_rows,
 * n_floored_covariances). */
static PyObject *fit_hmm(PyObject *module, PyObject *args, PyObject *kw)
{
    (void)module;
    static char *kwlist[] = {
        "X", "lengths", "init", "emission", "covariance_type", "n_states",
        "n_mix", "max_iter", "tol", "min_covar", "startprob_prior",
        "transmat_prior", "weights_prior", "means_prior", "means_weight",
        "covars_prior", "covars_weight", "params", "init_params", "seed",
        "n_init", "n_threads", "missing", NULL};
    PyObject *ox, *ol, *oinit;
    const char *emission = "gaussian", *type_name = "diag";
    const char *params = "stmcw", *init_params = "stmcw";
    unsigned long long seed = 0;
    emgmm_hmm_params p;
    emgmm_hmm_params_default(&p);
    int missing = 0;
    if (!PyArg_ParseTupleAndKeywords(
            args, kw, "OOO|$ssiii" "ddddddddd" "ssKiip:fit_hmm", kwlist, &ox, &ol,
            &oinit, &emission, &type_name, &p.n_states, &p.n_mix,
            &p.max_iter, &p.tol, &p.min_covar, &p.startprob_prior,
            &p.transmat_prior, &p.weights_prior, &p.means_prior,
            &p.means_weight, &p.covars_prior, &p.covars_weight, &params,
            &init_params, &seed, &p.n_init, &p.n_threads, &missing))
        return NULL;
    int gmm;
    if (parse_emission(emission, &gmm) != 0 ||
        parse_type(type_name, &p.covariance_type) != 0 ||
        copy_letters(p.params, params, "params") != 0 ||
        copy_letters(p.init_params, init_params, "init_params") != 0)
        return NULL;
    if (oinit != Py_None && !PyObject_TypeCheck(oinit, &HMMType)) {
        PyErr_SetString(PyExc_TypeError, "init: an HMM or None expected");
        return NULL;
    }
    p.emission = gmm ? EMGMM_HMM_GMM : EMGMM_HMM_GAUSSIAN;
    p.init_model = oinit == Py_None ? NULL : ((HMMObject *)oinit)->model;
    p.seed = (uint64_t)seed;
    p.missing = missing;
    if (p.init_model)
        p.n_states = 0; /* the start model gives it */
    /* A finite negative tol: hmmlearn stops at a fall by more than |tol|;
     * the library runs every iteration for any negative tol, so the
     * callback applies the rule (see hmm_progress). */
    watch w;
    memset(&w, 0, sizeof w);
    w.custom = p.tol < 0.0 && isfinite(p.tol);
    w.tol = p.tol;
    w.kept_rc = EMGMM_OK;
    p.progress = hmm_progress;
    p.progress_data = &w;

    size_t *lengths = NULL, n_seq = 0;
    if (get_lengths(ol, &lengths, &n_seq) != 0)
        return NULL;
    Py_buffer x;
    if (get_data(ox, &x, p.init_model ? emgmm_hmm_n_features(p.init_model)
                                      : 0,
                 "X") != 0) {
        PyMem_Free(lengths);
        return NULL;
    }
    const size_t n = (size_t)x.shape[0], d = (size_t)x.shape[1];
    emgmm_hmm *model = NULL;
    emgmm_hmm_fit_info info;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = emgmm_hmm_fit(&p, x.buf, n, d, d, lengths, lengths ? n_seq : 0,
                       &model, &info);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&x);
    PyMem_Free(lengths);

    int n_iter = info.n_iter, converged = info.converged;
    double last_estep = info.last_estep, log_likelihood = info.log_likelihood;
    if (rc == EMGMM_ERR_CANCELLED && w.no_memory) {
        rc = EMGMM_ERR_NOMEM;
    } else if (rc == EMGMM_ERR_CANCELLED && w.stopped) {
        rc = w.kept_rc;
        model = w.kept_hmm;
        w.kept_hmm = NULL;
        n_iter = w.stop_iter;
        converged = 1;
        last_estep = w.count > 0 ? w.values[w.count - 1] : NAN;
        log_likelihood = NAN; /* not computed: the caller scores if needed */
    }
    if (rc != EMGMM_OK) {
        watch_free(&w);
        emgmm_hmm_free(&model);
        return raise_status(rc, "fit", info.bad_state);
    }
    PyObject *history = list_of(w.values, w.count);
    watch_free(&w);
    PyObject *wrapped = history ? wrap_hmm(model) : NULL;
    if (!history)
        emgmm_hmm_free(&model);
    if (!wrapped) {
        Py_XDECREF(history);
        return NULL;
    }
    return Py_BuildValue("(NiNddNiii)", wrapped, n_iter,
                         PyBool_FromLong(converged), last_estep,
                         log_likelihood, history, info.n_empty_states,
                         info.n_kept_rows, info.n_floored_covariances);
}

/* ------------------------------------------------------------------ */
/* The module                                                          */
/* ------------------------------------------------------------------ */

static PyObject *version(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    return PyUnicode_FromString(emgmm_version());
}

static PyMethodDef module_methods[] = {
    {"version", version, METH_NOARGS, "the library's version"},
    {"mixture_create", mixture_create, METH_VARARGS,
     "mixture_create(covariance_type, weights, means, covariances)"},
    {"mixture_load", mixture_load, METH_VARARGS,
     "mixture_load(path, default_type='full')"},
    {"fit_mixture", (PyCFunction)(void (*)(void))fit_mixture,
     METH_VARARGS | METH_KEYWORDS, "EM from a given model (see _core.c)"},
    {"hmm_create", hmm_create, METH_VARARGS,
     "hmm_create(emission, covariance_type, startprob, transmat, weights, "
     "means, covariances)"},
    {"hmm_load", hmm_load, METH_VARARGS, "hmm_load(path)"},
    {"fit_hmm", (PyCFunction)(void (*)(void))fit_hmm,
     METH_VARARGS | METH_KEYWORDS, "Baum-Welch (see _core.c)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "emgmm._core",
    .m_doc = "The emgmm C library, for the classes of the emgmm package.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__core(void); /* the one exported symbol */

PyMODINIT_FUNC PyInit__core(void)
{
    if (PyType_Ready(&MixtureType) < 0 || PyType_Ready(&HMMType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (!m)
        return NULL;
    if (!SingularError) {
        SingularError = PyErr_NewExceptionWithDoc(
            "emgmm._core.SingularError",
            "A covariance is not positive definite (raise reg_covar).",
            PyExc_ValueError, NULL);
        if (!SingularError) {
            Py_DECREF(m);
            return NULL;
        }
    }
    /* PyModule_AddObjectRef leaves our references alone either way. */
    if (PyModule_AddObjectRef(m, "SingularError", SingularError) < 0 ||
        PyModule_AddObjectRef(m, "Mixture", (PyObject *)&MixtureType) < 0 ||
        PyModule_AddObjectRef(m, "HMM", (PyObject *)&HMMType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
