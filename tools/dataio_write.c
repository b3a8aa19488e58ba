/*
 * Writers for the program's array outputs (.npy, CSV, or HDF5 through
 * dataio_hdf5.c) and the all-or-nothing output set: every output is
 * written to a temporary file next to its final name and renamed into
 * place only once all succeeded.
 */
#include "dataio.h"
#include "dataio_private.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


static bool is_stdout_path(const char *path)
{
    return strcmp(path, "-") == 0;
}

static bool is_npy_path(const char *path)
{
    size_t n = strlen(path);
    return n >= 4 && strcmp(path + n - 4, ".npy") == 0;
}

/* ---- One output file ---------------------------------------------------- */

typedef struct out_file {
    FILE *fp;
    const char *path;
    const char *name;  /* for messages: the path, or "<stdout>" */
    bool is_stdout;
    bool regular;      /* a regular file: synced, and removed on failure */
    int write_errno;   /* the first failure; 0 while all went well */
} out_file;

static int out_open(out_file *f, const char *path, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    f->is_stdout = is_stdout_path(path);
    f->name = f->is_stdout ? "<stdout>" : path;
    f->fp = f->is_stdout ? stdout : fopen(path, "wb");
    if (!f->fp) {
        dataio_set_error(err, errlen, "%s: cannot open for writing: %s", path,
                strerror(errno));
        return -1;
    }
    struct stat st;
    f->regular = !f->is_stdout && fstat(fileno(f->fp), &st) == 0 &&
                 S_ISREG(st.st_mode);
    return 0;
}

/* Records the first failure; later writes are skipped. */
static void out_failed(out_file *f)
{
    if (!f->write_errno)
        f->write_errno = errno ? errno : EIO;
}

static void out_bytes(out_file *f, const void *p, size_t n)
{
    if (!f->write_errno && n > 0 && fwrite(p, 1, n, f->fp) != n)
        out_failed(f);
}

/* Flushes, syncs a regular file to disk and closes it, so that a full
 * disk is seen here and not after the rename. On failure a regular file
 * is removed: no partial output is left. */
static int out_close(out_file *f, char *err, size_t errlen)
{
    if (f->is_stdout) {
        if (!f->write_errno && fflush(stdout) != 0)
            out_failed(f);
    } else {
        if (!f->write_errno && fflush(f->fp) != 0)
            out_failed(f);
        if (!f->write_errno && f->regular && fsync(fileno(f->fp)) != 0)
            out_failed(f);
        if (fclose(f->fp) != 0)
            out_failed(f);
        if (f->write_errno && f->regular)
            remove(f->path);
    }
    if (!f->write_errno)
        return 0;
    dataio_set_error(err, errlen, "%s: write failed: %s", f->name,
            strerror(f->write_errno));
    return -1;
}

/* ---- .npy --------------------------------------------------------------- */

static void store_le(unsigned char *dst, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        dst[i] = (unsigned char)(v >> (8 * i));
}

/* Writes the version 1.0 preamble: magic, version, header length and the
 * header dict, padded with spaces and ended by '\n' so that the data
 * starts at a multiple of 64 bytes (the .npy format's alignment). */
static void npy_header(out_file *f, const char *descr, const char *shape)
{
    char h[256];
    int n = snprintf(h, sizeof h,
                     "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     descr, shape);
    size_t used = 10 + (size_t)n + 1; /* preamble, dict, '\n' */
    size_t total = (used + 63) / 64 * 64;
    size_t hlen = total - 10;
    memset(h + n, ' ', total - used);
    h[hlen - 1] = '\n';
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    store_le(pre + 8, hlen, 2);
    out_bytes(f, pre, sizeof pre);
    out_bytes(f, h, hlen);
}

/* Values go out through a small buffer, converted to little endian. */
enum { OUT_CHUNK = 8192 };

static void npy_doubles(out_file *f, const double *a, size_t n)
{
    unsigned char buf[OUT_CHUNK];
    size_t per = sizeof buf / 8;
    for (size_t k = 0; k < n && !f->write_errno; k += per) {
        size_t m = n - k < per ? n - k : per;
        for (size_t i = 0; i < m; i++) {
            uint64_t u;
            memcpy(&u, &a[k + i], sizeof u);
            store_le(buf + 8 * i, u, 8);
        }
        out_bytes(f, buf, 8 * m);
    }
}

static void npy_int32s(out_file *f, const int32_t *a, size_t n)
{
    unsigned char buf[OUT_CHUNK];
    size_t per = sizeof buf / 4;
    for (size_t k = 0; k < n && !f->write_errno; k += per) {
        size_t m = n - k < per ? n - k : per;
        for (size_t i = 0; i < m; i++)
            store_le(buf + 4 * i, (uint32_t)a[k + i], 4);
        out_bytes(f, buf, 4 * m);
    }
}

/* ---- Text --------------------------------------------------------------- */

/* 17 significant digits: reading the text back gives the same bits. */
static void csv_doubles(out_file *f, const double *a, size_t rows,
                        size_t cols)
{
    for (size_t i = 0; i < rows && !f->write_errno; i++) {
        for (size_t j = 0; j < cols; j++) {
            if (fprintf(f->fp, j ? ",%.17g" : "%.17g", a[i * cols + j]) < 0) {
                out_failed(f);
                return;
            }
        }
        if (fputc('\n', f->fp) == EOF)
            out_failed(f);
    }
}

static void text_int32s(out_file *f, const int32_t *a, size_t n)
{
    for (size_t k = 0; k < n && !f->write_errno; k++)
        if (fprintf(f->fp, "%" PRId32 "\n", a[k]) < 0)
            out_failed(f);
}

/* ---- Entry points ------------------------------------------------------- */

int dataio_write_matrix(const char *path, const double *a, size_t rows,
                        size_t cols, char *err, size_t errlen)
{
    return dataio_write_matrix_as(path, NULL, a, rows, cols, err, errlen);
}

int dataio_write_matrix_as(const char *path, const char *dataset,
                           const double *a, size_t rows, size_t cols,
                           char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!path || (!a && rows && cols) || (cols && rows > SIZE_MAX / cols)) {
        dataio_set_error(err, errlen, "dataio_write_matrix: invalid arguments");
        return -1;
    }
    if (dataio_hdf5_name(path, NULL, NULL)) {
        if (cols == 0) {
            dataio_set_error(err, errlen, "%s: a matrix of no columns", path);
            return -1;
        }
        return dataio_h5_write(path, dataset ? dataset : "/data", a, rows,
                               cols, 0, err, errlen);
    }
    out_file f;
    if (out_open(&f, path, err, errlen) != 0)
        return -1;
    errno = 0;
    if (!f.is_stdout && is_npy_path(path)) {
        char shape[64];
        snprintf(shape, sizeof shape, "(%zu, %zu)", rows, cols);
        npy_header(&f, "<f8", shape);
        npy_doubles(&f, a, rows * cols);
    } else {
        csv_doubles(&f, a, rows, cols);
    }
    return out_close(&f, err, errlen);
}

int dataio_write_labels(const char *path, const int32_t *labels, size_t n,
                        char *err, size_t errlen)
{
    return dataio_write_labels_as(path, NULL, labels, n, err, errlen);
}

int dataio_write_labels_as(const char *path, const char *dataset,
                           const int32_t *labels, size_t n, char *err,
                           size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!path || (!labels && n)) {
        dataio_set_error(err, errlen, "dataio_write_labels: invalid arguments");
        return -1;
    }
    if (dataio_hdf5_name(path, NULL, NULL))
        return dataio_h5_write(path, dataset ? dataset : "/labels", labels, n,
                               0, 1, err, errlen);
    out_file f;
    if (out_open(&f, path, err, errlen) != 0)
        return -1;
    errno = 0;
    if (!f.is_stdout && is_npy_path(path)) {
        char shape[32];
        snprintf(shape, sizeof shape, "(%zu,)", n);
        npy_header(&f, "<i4", shape);
        npy_int32s(&f, labels, n);
    } else {
        text_int32s(&f, labels, n);
    }
    return out_close(&f, err, errlen);
}

/* ---- One .npy written by several processes ----------------------------- */

int dataio_npy_create(const char *path, size_t rows, size_t cols,
                      int int32, size_t *data_offset, char *err,
                      size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    const size_t item = int32 ? 4 : 8, width = cols ? cols : 1;
    if (!path || !is_npy_path(path) || is_stdout_path(path) ||
        rows > SIZE_MAX / width / item) {
        dataio_set_error(err, errlen, "dataio_npy_create: invalid arguments");
        return -1;
    }
    out_file f;
    if (out_open(&f, path, err, errlen) != 0)
        return -1;
    char shape[64];
    if (cols)
        snprintf(shape, sizeof shape, "(%zu, %zu)", rows, cols);
    else
        snprintf(shape, sizeof shape, "(%zu,)", rows);
    errno = 0;
    npy_header(&f, int32 ? "<i4" : "<f8", shape);
    long header = ftell(f.fp);
    if (out_close(&f, err, errlen) != 0)
        return -1;
    /* The data's bytes exist (as zeros) before any process writes. */
    if (header < 0 ||
        truncate(path, (off_t)((size_t)header + rows * width * item)) != 0) {
        dataio_set_error(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    *data_offset = (size_t)header;
    return 0;
}

/* Rows of a .npy array (opened as fd) written at their place. */
static int npy_pwrite_rows(int fd, const char *path, size_t data_offset,
                           size_t first_row, const void *rows, size_t n_rows,
                           size_t cols, int int32, char *err, size_t errlen)
{
    const size_t item = int32 ? 4 : 8, width = cols ? cols : 1;
    unsigned char buf[OUT_CHUNK];
    const size_t per = sizeof buf / item, n = n_rows * width;
    off_t at = (off_t)(data_offset + first_row * width * item);
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < n; k += per) {
        const size_t m = n - k < per ? n - k : per;
        for (size_t i = 0; i < m; i++) {
            uint64_t u;
            if (int32) {
                u = (uint32_t)((const int32_t *)rows)[k + i];
            } else {
                memcpy(&u, (const double *)rows + k + i, sizeof u);
            }
            store_le(buf + item * i, u, (int)item);
        }
        size_t done = 0;
        while (rc == 0 && done < m * item) {
            ssize_t w = pwrite(fd, buf + done, m * item - done, at);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                dataio_set_error(err, errlen, "%s: %s", path,
                        strerror(w < 0 ? errno : EIO));
                rc = -1;
                break;
            }
            done += (size_t)w;
            at += w;
        }
    }
    return rc;
}

int dataio_npy_write_rows(const char *path, size_t data_offset,
                          size_t first_row, const void *rows, size_t n_rows,
                          size_t cols, int int32, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    int fd = open(path, O_WRONLY);
    if (fd < 0) {
        dataio_set_error(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = npy_pwrite_rows(fd, path, data_offset, first_row, rows, n_rows,
                             cols, int32, err, errlen);
    if (close(fd) != 0 && rc == 0) {
        dataio_set_error(err, errlen, "%s: %s", path, strerror(errno));
        rc = -1;
    }
    return rc;
}

/* ---- An array written a block of rows at a time ------------------------ */

static char *copy_string(const char *s);

enum rows_kind { ROWS_STDIO, ROWS_PWRITE, ROWS_H5 };

struct dataio_rows {
    enum rows_kind kind;
    bool npy;            /* ROWS_STDIO: .npy, else text */
    int int32;
    size_t cols;
    size_t expected;     /* rows to come */
    size_t done;         /* rows written */
    size_t first_row;    /* of the first row written, in the array */
    size_t data_offset;  /* ROWS_PWRITE: of the array's first value */
    int fd;              /* ROWS_PWRITE */
    out_file f;          /* ROWS_STDIO */
    dataio_h5_out *h5;   /* ROWS_H5 */
    char *path;
};

static dataio_rows *rows_new(const char *path, size_t cols, int int32,
                             char *err, size_t errlen)
{
    dataio_rows *w = calloc(1, sizeof *w);
    char *p = copy_string(path);
    if (!w || !p) {
        free(w);
        free(p);
        dataio_set_error(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    w->path = p;
    w->cols = cols;
    w->int32 = int32 != 0;
    w->fd = -1;
    return w;
}

static void rows_free(dataio_rows *w)
{
    free(w->path);
    free(w);
}

int dataio_rows_begin(const char *path, const char *dataset,
                      size_t total_rows, size_t cols, int int32,
                      dataio_rows **out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    *out = NULL;
    const size_t width = cols ? cols : 1;
    if (!path || (int32 && cols) || (!int32 && !cols) ||
        total_rows > SIZE_MAX / width / 8) {
        dataio_set_error(err, errlen, "dataio_rows_begin: invalid arguments");
        return -1;
    }
    dataio_rows *w = rows_new(path, cols, int32, err, errlen);
    if (!w)
        return -1;
    w->expected = total_rows;
    if (dataio_hdf5_name(path, NULL, NULL)) {
        w->kind = ROWS_H5;
        if (dataio_h5_out_open(path, dataset ? dataset
                                             : int32 ? "/labels" : "/data",
                               1, total_rows, cols, int32, &w->h5, err,
                               errlen) != 0) {
            rows_free(w);
            return -1;
        }
        *out = w;
        return 0;
    }
    w->kind = ROWS_STDIO;
    if (out_open(&w->f, w->path, err, errlen) != 0) {
        rows_free(w);
        return -1;
    }
    w->npy = !w->f.is_stdout && is_npy_path(path);
    errno = 0;
    if (w->npy) {
        char shape[64];
        if (cols)
            snprintf(shape, sizeof shape, "(%zu, %zu)", total_rows, cols);
        else
            snprintf(shape, sizeof shape, "(%zu,)", total_rows);
        npy_header(&w->f, int32 ? "<i4" : "<f8", shape);
    }
    *out = w;
    return 0;
}

int dataio_rows_begin_part(const char *path, const char *dataset,
                           size_t data_offset, size_t first_row,
                           size_t n_rows, size_t cols, int int32,
                           dataio_rows **out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    *out = NULL;
    if (!path || is_stdout_path(path) || (int32 && cols) ||
        (!int32 && !cols)) {
        dataio_set_error(err, errlen,
                         "dataio_rows_begin_part: invalid arguments");
        return -1;
    }
    dataio_rows *w = rows_new(path, cols, int32, err, errlen);
    if (!w)
        return -1;
    w->expected = n_rows;
    w->first_row = first_row;
    w->data_offset = data_offset;
    if (dataio_hdf5_name(path, NULL, NULL)) {
        w->kind = ROWS_H5;
        if (dataio_h5_out_open(path, dataset ? dataset
                                             : int32 ? "/labels" : "/data",
                               0, 0, cols, int32, &w->h5, err,
                               errlen) != 0) {
            rows_free(w);
            return -1;
        }
    } else {
        w->kind = ROWS_PWRITE;
        w->fd = open(path, O_WRONLY);
        if (w->fd < 0) {
            dataio_set_error(err, errlen, "%s: %s", path, strerror(errno));
            rows_free(w);
            return -1;
        }
    }
    *out = w;
    return 0;
}

int dataio_rows_put(dataio_rows *w, const void *rows, size_t n, char *err,
                    size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (n > w->expected - w->done) {
        dataio_set_error(err, errlen, "%s: more rows than the %zu expected",
                         w->path, w->expected);
        return -1;
    }
    int rc = 0;
    switch (w->kind) {
    case ROWS_H5:
        rc = dataio_h5_out_rows(w->h5, w->first_row + w->done, rows, n, err,
                                errlen);
        break;
    case ROWS_PWRITE:
        rc = npy_pwrite_rows(w->fd, w->path, w->data_offset,
                             w->first_row + w->done, rows, n, w->cols,
                             w->int32, err, errlen);
        break;
    case ROWS_STDIO:
        errno = 0;
        if (w->npy && w->int32)
            npy_int32s(&w->f, rows, n);
        else if (w->npy)
            npy_doubles(&w->f, rows, n * w->cols);
        else if (w->int32)
            text_int32s(&w->f, rows, n);
        else
            csv_doubles(&w->f, rows, n, w->cols);
        if (w->f.write_errno) {
            dataio_set_error(err, errlen, "%s: write failed: %s", w->f.name,
                             strerror(w->f.write_errno));
            rc = -1;
        }
        break;
    }
    if (rc == 0)
        w->done += n;
    return rc;
}

int dataio_rows_end(dataio_rows *w, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!w)
        return 0;
    if (w->done != w->expected) {
        dataio_set_error(err, errlen, "%s: %zu rows written of %zu", w->path,
                         w->done, w->expected);
        dataio_rows_abort(w);
        return -1;
    }
    int rc = 0;
    switch (w->kind) {
    case ROWS_H5:
        rc = dataio_h5_out_close(w->h5, err, errlen);
        break;
    case ROWS_PWRITE: {
        struct stat st;
        int failed = fstat(w->fd, &st) == 0 && S_ISREG(st.st_mode) &&
                     fsync(w->fd) != 0 ? errno : 0;
        if (close(w->fd) != 0 && !failed)
            failed = errno;
        if (failed) {
            dataio_set_error(err, errlen, "%s: write failed: %s", w->path,
                             strerror(failed));
            rc = -1;
        }
        break;
    }
    case ROWS_STDIO:
        rc = out_close(&w->f, err, errlen);
        break;
    }
    rows_free(w);
    return rc;
}

void dataio_rows_abort(dataio_rows *w)
{
    if (!w)
        return;
    switch (w->kind) {
    case ROWS_H5:
        (void)dataio_h5_out_close(w->h5, NULL, 0);
        break;
    case ROWS_PWRITE:
        close(w->fd);
        break;
    case ROWS_STDIO:
        if (!w->f.write_errno)
            w->f.write_errno = ECANCELED; /* a regular file is removed */
        (void)out_close(&w->f, NULL, 0);
        break;
    }
    rows_free(w);
}

/* ---- All-or-nothing output set ---------------------------------------- */

typedef struct output_entry {
    char *final_path;  /* the file (an HDF5 name without its dataset) */
    char *tmp_path;    /* its temporary file (NULL when shared) */
    /* What the writer is handed: the temporary file, followed by the
     * HDF5 name's ":DATASET" when there is one. */
    char *write_path;
    char *dataset;     /* HDF5: in the name given, after ':', or NULL */
    bool hdf5;
    /* Writes into the temporary file of an earlier output that names the
     * same HDF5 file: that one is renamed and removed. */
    bool shared;
    /* Not a regular file (/dev/null, a pipe): written in place, as a
     * rename would replace the device or pipe itself. */
    bool direct;
    bool committed;
} output_entry;

struct dataio_outputs {
    output_entry *items;
    size_t n, cap;
};

dataio_outputs *outputs_new(void)
{
    return calloc(1, sizeof(dataio_outputs));
}

static char *copy_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* Creates the temporary file for final_path: "<dir>/.tmp-<pid>-<n>.<base>",
 * in the same folder (so rename is atomic), hidden, and ending in the
 * final name so that writers that choose the format by the extension
 * (.npy) see the right one. open(O_EXCL) with mode 0666 lets the umask
 * apply as for any new file; an existing file's mode is copied instead.
 * Returns the name (malloc'd) or NULL with err set. */
static char *create_temp(const char *final_path, const struct stat *old,
                         char *err, size_t errlen)
{
    static unsigned counter;
    const char *slash = strrchr(final_path, '/');
    size_t dirlen = slash ? (size_t)(slash - final_path) + 1 : 0;
    const char *base = final_path + dirlen;
    size_t baselen = strlen(base);
    if (baselen > 200) /* stay within NAME_MAX; keep the extension */
        base += baselen - 200;
    size_t cap = dirlen + 64 + strlen(base);
    char *tmp = malloc(cap);
    if (!tmp) {
        dataio_set_error(err, errlen, "%s: out of memory", final_path);
        return NULL;
    }
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(tmp, cap, "%.*s.tmp-%ld-%u.%s", (int)dirlen, final_path,
                 (long)getpid(), counter++, base);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        dataio_set_error(err, errlen, "%s: cannot create a temporary file: %s",
                final_path, strerror(errno));
        free(tmp);
        return NULL;
    }
    int failed = old && fchmod(fd, old->st_mode & 07777) != 0 ? errno : 0;
    if (close(fd) != 0 && !failed)
        failed = errno;
    if (failed) {
        dataio_set_error(err, errlen, "%s: cannot set up the temporary file %s: %s",
                final_path, tmp, strerror(failed));
        unlink(tmp);
        free(tmp);
        return NULL;
    }
    return tmp;
}

static void entry_free(output_entry *e)
{
    free(e->final_path);
    free(e->tmp_path);
    free(e->write_path);
    free(e->dataset);
}

/* The same dataset: "x" and "/x" are one. */
static bool same_dataset(const char *a, const char *b)
{
    return a && b && strcmp(a + strspn(a, "/"), b + strspn(b, "/")) == 0;
}

/* tmp followed by ":dataset" (dataset not NULL), malloc'd. */
static char *with_dataset(const char *tmp, const char *dataset)
{
    if (!dataset)
        return copy_string(tmp);
    size_t n = strlen(tmp) + strlen(dataset) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s:%s", tmp, dataset);
    return s;
}

static int reserve_entry(dataio_outputs *set)
{
    if (set->n < set->cap)
        return 0;
    size_t c = set->cap ? 2 * set->cap : 4;
    output_entry *p = realloc(set->items, c * sizeof *p);
    if (!p)
        return -1;
    set->items = p;
    set->cap = c;
    return 0;
}

int outputs_add(dataio_outputs *set, const char *final_path,
                const char **tmp_path, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (tmp_path)
        *tmp_path = NULL;
    if (!set || !final_path || !tmp_path || !*final_path) {
        dataio_set_error(err, errlen, "outputs_add: invalid arguments");
        return -1;
    }
    if (is_stdout_path(final_path)) {
        *tmp_path = "-";
        return 0;
    }
    const char *named = final_path; /* as given, for messages */
    size_t file_len = strlen(final_path);
    const char *dataset = NULL;
    const bool hdf5 = dataio_hdf5_name(final_path, &file_len, &dataset);
    if (reserve_entry(set) != 0) {
        dataio_set_error(err, errlen, "%s: out of memory", named);
        return -1;
    }
    output_entry e = {strndup(final_path, file_len), NULL, NULL,
                      dataset ? copy_string(dataset) : NULL, hdf5, false,
                      false, false};
    if (!e.final_path || (dataset && !e.dataset)) {
        dataio_set_error(err, errlen, "%s: out of memory", named);
        entry_free(&e);
        return -1;
    }
    final_path = e.final_path;
    const output_entry *owner = NULL;
    for (size_t k = 0; k < set->n; k++) {
        const output_entry *o = &set->items[k];
        if (strcmp(o->final_path, final_path) != 0)
            continue;
        /* Datasets of one HDF5 file share its temporary file. */
        if (hdf5 && o->hdf5 && !same_dataset(o->dataset, dataset)) {
            if (!o->shared)
                owner = o;
            continue;
        }
        dataio_set_error(err, errlen, "%s: named as two different outputs",
                named);
        entry_free(&e);
        return -1;
    }
    struct stat st;
    bool exists = stat(final_path, &st) == 0;
    const char *problem = NULL;
    if (exists && S_ISDIR(st.st_mode))
        problem = "is a directory";
    else if (file_len == 0 || final_path[file_len - 1] == '/')
        problem = "not a file name";
    if (problem) {
        dataio_set_error(err, errlen, "%s: %s", final_path, problem);
        entry_free(&e);
        return -1;
    }
    if (owner) {
        e.shared = true;
        e.direct = owner->direct;
        e.write_path = with_dataset(owner->tmp_path, dataset);
        if (!e.write_path) {
            dataio_set_error(err, errlen, "%s: out of memory", named);
            entry_free(&e);
            return -1;
        }
    } else {
        e.direct = exists && !S_ISREG(st.st_mode);
        e.tmp_path = e.direct ? copy_string(final_path)
                              : create_temp(final_path, exists ? &st : NULL,
                                            err, errlen);
        if (!e.tmp_path) {
            if (e.direct)
                dataio_set_error(err, errlen, "%s: out of memory", named);
            entry_free(&e);
            return -1;
        }
        e.write_path = with_dataset(e.tmp_path, dataset);
        if (!e.write_path) {
            dataio_set_error(err, errlen, "%s: out of memory", named);
            if (!e.direct)
                unlink(e.tmp_path);
            entry_free(&e);
            return -1;
        }
    }
    set->items[set->n++] = e;
    *tmp_path = e.write_path;
    return 0;
}

int outputs_commit(dataio_outputs *set, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!set) {
        dataio_set_error(err, errlen, "outputs_commit: no output set");
        return -1;
    }
    for (size_t k = 0; k < set->n; k++) {
        output_entry *e = &set->items[k];
        if (e->committed || e->direct || e->shared)
            continue;
        if (rename(e->tmp_path, e->final_path) != 0) {
            dataio_set_error(err, errlen, "%s: cannot rename %s onto it: %s",
                    e->final_path, e->tmp_path, strerror(errno));
            return -1; /* outputs_free removes the temporaries left */
        }
        e->committed = true;
    }
    return 0;
}

void outputs_free(dataio_outputs *set)
{
    if (!set)
        return;
    for (size_t k = 0; k < set->n; k++) {
        output_entry *e = &set->items[k];
        if (!e->committed && !e->direct && !e->shared)
            unlink(e->tmp_path);
        entry_free(e);
    }
    free(set->items);
    free(set);
}
