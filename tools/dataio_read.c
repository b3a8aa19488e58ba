/*
 * Readers for the program's data files: .npy, delimited text (CSV, TSV,
 * ';' or space separated) and raw little-endian float64; HDF5 is handed
 * to dataio_hdf5.c.
 *
 * All input goes through one buffered reader, so the format can be told
 * from the first bytes even on standard input, which cannot seek back.
 * Binary data is converted from that buffer straight into the result, so
 * a large file is never held in memory twice.
 */
/* madvise(MADV_DONTNEED) (Linux, BSD): glibc's posix_madvise ignores
 * POSIX_MADV_DONTNEED, and --stream needs the pages really dropped. */
#define _DEFAULT_SOURCE
#include "dataio.h"
#include "dataio_private.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

/* Read-buffer size: binary data is converted chunk by chunk. */
enum { CHUNK = 64 * 1024 };
/* numpy itself refuses headers over 10000 bytes by default. */
enum { NPY_MAX_HEADER = 1024 * 1024 };
/* The longest offending field quoted in an error message. */
enum { FIELD_SHOWN = 40 };


/* ---- Buffered input --------------------------------------------------- */

typedef struct reader {
    FILE *fp;
    bool is_stdin;
    const char *name;   /* for messages: the path, or "<stdin>" */
    unsigned char *buf; /* CHUNK bytes; unread ones are buf[pos, len) */
    size_t pos, len;
    bool eof;           /* nothing more will come from fp */
    int read_errno;     /* nonzero once a read failed */
    long long size;     /* a regular file's size, else -1 */
    size_t taken;       /* bytes handed out so far (the file offset) */
    bool allow_missing; /* NaN and empty cells are values (missing) */
    /* Reads only the rows choose picks (NULL: every row). */
    dataio_row_range_fn choose;
    void *choose_user;
    size_t first_row;   /* of the block read, in the whole file */
    size_t total_rows;  /* of the whole file */
    bool want_names;    /* keep a text header's column names */
    char **names;       /* those names (one block), or NULL */
} reader;

static int reader_open(reader *r, const char *path, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->size = -1;
    r->is_stdin = strcmp(path, "-") == 0;
    r->name = r->is_stdin ? "<stdin>" : path;
    r->fp = r->is_stdin ? stdin : fopen(path, "rb");
    if (!r->fp) {
        dataio_set_error(err, errlen, "%s: cannot open: %s", r->name, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(r->fp), &st) == 0) {
        /* fopen() happily opens a folder; reading it would fail later
         * with a less clear message. */
        if (S_ISDIR(st.st_mode)) {
            dataio_set_error(err, errlen, "%s: cannot open: %s", r->name,
                    strerror(EISDIR));
            goto fail;
        }
        /* Standard input may already have been read from: size unknown. */
        if (S_ISREG(st.st_mode) && !r->is_stdin)
            r->size = (long long)st.st_size;
    }
    r->buf = malloc(CHUNK);
    if (!r->buf) {
        dataio_set_error(err, errlen, "%s: out of memory", r->name);
        goto fail;
    }
    return 0;
fail:
    if (!r->is_stdin)
        fclose(r->fp);
    return -1;
}

static void reader_close(reader *r)
{
    free(r->buf);
    if (!r->is_stdin)
        fclose(r->fp); /* read-only: nothing to lose if this fails */
}

/* Makes at least `want` (<= CHUNK) unread bytes available unless the input
 * ends first; returns how many are available. */
static size_t reader_ensure(reader *r, size_t want)
{
    size_t avail = r->len - r->pos;
    if (avail >= want || r->eof)
        return avail;
    memmove(r->buf, r->buf + r->pos, avail);
    r->pos = 0;
    r->len = avail;
    while (r->len < want && !r->eof) {
        /* fread only comes back short at end of input or on error. */
        r->len += fread(r->buf + r->len, 1, CHUNK - r->len, r->fp);
        if (r->len < CHUNK) {
            if (ferror(r->fp))
                r->read_errno = errno ? errno : EIO;
            r->eof = true;
        }
    }
    return r->len - r->pos;
}

static void reader_skip(reader *r, size_t n)
{
    r->pos += n;
    r->taken += n;
}

/* Copies up to n bytes out; returns how many there were. */
static size_t reader_take(reader *r, void *dst, size_t n)
{
    unsigned char *d = dst;
    size_t done = 0;
    while (done < n) {
        size_t avail = reader_ensure(r, 1);
        if (avail == 0)
            break;
        size_t k = n - done < avail ? n - done : avail;
        memcpy(d + done, r->buf + r->pos, k);
        reader_skip(r, k);
        done += k;
    }
    return done;
}

/* Reads and counts everything left (only to report a size mismatch). */
static size_t reader_drain(reader *r)
{
    size_t n = 0, avail;
    while ((avail = reader_ensure(r, 1)) > 0) {
        n += avail;
        reader_skip(r, avail);
    }
    return n;
}

/* Reads one line, without its '\n', into *line (grown as needed, always
 * NUL-terminated); *len counts its bytes, which may include NULs.
 * Returns 1, 0 at the end of the input, -1 when out of memory. */
static int reader_line(reader *r, char **line, size_t *cap, size_t *len)
{
    size_t n = 0;
    bool any = false;
    for (;;) {
        size_t avail = reader_ensure(r, 1);
        if (avail == 0)
            break;
        const unsigned char *start = r->buf + r->pos;
        const unsigned char *nl = memchr(start, '\n', avail);
        size_t k = nl ? (size_t)(nl - start) : avail;
        if (n + k + 1 > *cap) {
            size_t c = *cap ? *cap : 256;
            while (c < n + k + 1) {
                if (c > SIZE_MAX / 2)
                    return -1;
                c *= 2;
            }
            char *p = realloc(*line, c);
            if (!p)
                return -1;
            *line = p;
            *cap = c;
        }
        memcpy(*line + n, start, k);
        n += k;
        any = true;
        reader_skip(r, k + (nl ? 1 : 0));
        if (nl)
            break;
    }
    if (!any)
        return 0;
    (*line)[n] = '\0';
    *len = n;
    return 1;
}

/* ---- Checks shared by the binary formats -------------------------------- */

/* Reports a read error if there was one. */
static int read_failed(const reader *r, char *err, size_t errlen)
{
    if (!r->read_errno)
        return 0;
    dataio_set_error(err, errlen, "%s: read failed: %s", r->name,
            strerror(r->read_errno));
    return 1;
}

/* Reports the first infinity, or NaN unless missing values are allowed,
 * in row-major order, 1-based. */
static int check_finite(const reader *r, const double *a, size_t rows,
                        size_t cols, char *err, size_t errlen)
{
    size_t n = rows * cols;
    for (size_t k = 0; k < n; k++) {
        if (isfinite(a[k]) || (isnan(a[k]) && r->allow_missing))
            continue;
        size_t i = r->first_row + k / cols + 1, j = k % cols + 1;
        if (isnan(a[k]))
            dataio_set_error(err, errlen,
                    "%s: row %zu, column %zu: missing value (NaN; pass "
                    "--missing to accept gaps)", r->name, i, j);
        else
            dataio_set_error(err, errlen,
                    "%s: row %zu, column %zu: value is not finite (%s)",
                    r->name, i, j, a[k] > 0 ? "inf" : "-inf");
        return -1;
    }
    return 0;
}

/* ---- Binary values ---------------------------------------------------- */

/* How the values lie in the file. */
typedef struct binary_layout {
    size_t itemsize; /* 4 (float32) or 8 (float64) */
    bool big_endian;
    bool fortran;    /* column by column */
    size_t rows, cols;
} binary_layout;

/* Byte-order conversion by shifts: right on any host, and compilers turn
 * the native-order case into a plain load. */
static double load_f8(const unsigned char *b, bool big)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | b[big ? i : 7 - i];
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static double load_f4(const unsigned char *b, bool big)
{
    uint32_t u = 0;
    for (int i = 0; i < 4; i++)
        u = u << 8 | b[big ? i : 3 - i];
    float f;
    memcpy(&f, &u, sizeof f);
    return (double)f;
}

/* Converts n consecutive file values into dst[0], dst[stride], ... */
static void convert(const binary_layout *l, const unsigned char *src,
                    size_t n, double *dst, size_t stride)
{
    if (l->itemsize == 8) {
        for (size_t k = 0; k < n; k++)
            dst[k * stride] = load_f8(src + 8 * k, l->big_endian);
    } else {
        for (size_t k = 0; k < n; k++)
            dst[k * stride] = load_f4(src + 4 * k, l->big_endian);
    }
}

/* The message for a data size that disagrees with the shape. */
static void size_mismatch(const reader *r, const binary_layout *l,
                          bool raw, size_t found, char *err, size_t errlen)
{
    size_t expected = l->rows * l->cols * l->itemsize;
    if (raw)
        dataio_set_error(err, errlen,
                "%s: raw float64 data of shape %zu,%zu needs %zu bytes, "
                "the file has %zu", r->name, l->rows, l->cols, expected,
                found);
    else
        dataio_set_error(err, errlen,
                "%s: expected %zu bytes of data for shape (%zu, %zu), "
                "found %zu%s", r->name, expected, l->rows, l->cols, found,
                found < expected ? " (truncated file)" : "");
}

/* Fails early, before allocating, when a regular file's size already
 * shows the data cannot have the expected length. */
static int check_known_size(const reader *r, const binary_layout *l,
                            bool raw, char *err, size_t errlen)
{
    if (r->size < 0)
        return 0;
    unsigned long long left = r->size > (long long)r->taken
                                  ? (unsigned long long)r->size - r->taken
                                  : 0;
    size_t expected = l->rows * l->cols * l->itemsize;
    if (left == expected)
        return 0;
    size_t found = left > SIZE_MAX ? SIZE_MAX : (size_t)left;
    size_mismatch(r, l, raw, found, err, errlen);
    return -1;
}

/* Reads rows*cols values in the given layout into row-major `out`,
 * converting from the read buffer chunk by chunk. The input must end
 * right after them. */
static int read_values(reader *r, const binary_layout *l, bool raw,
                       double *out, char *err, size_t errlen)
{
    size_t total = l->rows * l->cols, done = 0;
    size_t i = 0, j = 0; /* Fortran order: next row and column */
    while (done < total) {
        size_t avail = reader_ensure(r, l->itemsize);
        if (avail < l->itemsize) {
            if (!read_failed(r, err, errlen))
                size_mismatch(r, l, raw, done * l->itemsize + avail, err,
                              errlen);
            return -1;
        }
        size_t n = avail / l->itemsize;
        if (n > total - done)
            n = total - done;
        const unsigned char *src = r->buf + r->pos;
        if (!l->fortran) {
            convert(l, src, n, out + done, 1);
        } else {
            /* Scatter one column segment at a time, stride cols. */
            for (size_t k = 0; k < n;) {
                size_t seg = l->rows - i < n - k ? l->rows - i : n - k;
                convert(l, src + k * l->itemsize, seg, out + i * l->cols + j,
                        l->cols);
                k += seg;
                i += seg;
                if (i == l->rows) {
                    i = 0;
                    j++;
                }
            }
        }
        reader_skip(r, n * l->itemsize);
        done += n;
    }
    if (r->total_rows > 0) /* a block read at its offset: rows follow */
        return read_failed(r, err, errlen) ? -1 : 0;
    if (reader_ensure(r, 1) > 0) {
        size_t extra = reader_drain(r);
        size_mismatch(r, l, raw, total * l->itemsize + extra, err, errlen);
        return -1;
    }
    if (read_failed(r, err, errlen))
        return -1;
    return 0;
}

/* Allocates the result and reads the values of a checked layout. */
static int read_binary(reader *r, const binary_layout *l, bool raw,
                       dataio_matrix *out, char *err, size_t errlen)
{
    if (l->rows == 0 || l->cols == 0) {
        dataio_set_error(err, errlen, "%s: no data (shape %zu x %zu)", r->name,
                l->rows, l->cols);
        return -1;
    }
    if (l->rows > SIZE_MAX / l->cols ||
        l->rows * l->cols > SIZE_MAX / sizeof(double)) {
        dataio_set_error(err, errlen, "%s: shape %zu x %zu is too large", r->name,
                l->rows, l->cols);
        return -1;
    }
    if (check_known_size(r, l, raw, err, errlen) != 0)
        return -1;
    /* A range of the rows (a process of a distributed fit): row-major
     * data in a regular file are read at their offset; otherwise
     * everything is read and the range kept. */
    binary_layout part = *l;
    if (r->choose && !l->fortran && r->size >= 0) {
        r->total_rows = l->rows;
        size_t r0, r1;
        dataio_pick_rows(r->choose, r->choose_user, l->rows, &r0, &r1);
        const size_t row_bytes = l->cols * l->itemsize;
        const long long at = (long long)r->taken + (long long)(r0 * row_bytes);
        if (fseeko(r->fp, (off_t)at, SEEK_SET) != 0) {
            dataio_set_error(err, errlen, "%s: cannot seek to row %zu: %s",
                    r->name, r0 + 1, strerror(errno));
            return -1;
        }
        r->pos = r->len = 0;
        r->eof = false;
        r->taken = (size_t)at;
        r->first_row = r0;
        part.rows = r1 - r0;
    }
    const size_t n_values = part.rows * part.cols;
    double *data = malloc((n_values ? n_values : 1) * sizeof *data);
    if (!data) {
        dataio_set_error(err, errlen, "%s: out of memory for %zu x %zu values",
                r->name, part.rows, part.cols);
        return -1;
    }
    if (read_values(r, &part, raw, data, err, errlen) != 0 ||
        check_finite(r, data, part.rows, part.cols, err, errlen) != 0) {
        free(data);
        return -1;
    }
    out->data = data;
    out->rows = part.rows;
    out->cols = part.cols;
    return 0;
}

static int read_raw(reader *r, size_t rows, size_t cols, dataio_matrix *out,
                    char *err, size_t errlen)
{
    binary_layout l = {8, false, false, rows, cols};
    return read_binary(r, &l, true, out, err, errlen);
}

/* ---- .npy ------------------------------------------------------------- */

static const unsigned char NPY_MAGIC[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
/* An HDF5 file's signature (at its start, unless it has a user block). */
static const unsigned char HDF5_MAGIC[8] = {0x89, 'H', 'D', 'F',
                                            '\r', '\n', 0x1a, '\n'};

static bool starts_with(reader *r, const unsigned char *magic, size_t n)
{
    return reader_ensure(r, n) >= n && memcmp(r->buf + r->pos, magic, n) == 0;
}

/* A cursor over the header text, a Python dict literal such as
 *   {'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }     */
typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_space(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' ||
                             *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* Skips spaces, then consumes `ch` if it comes next. */
static bool accept(cursor *c, char ch)
{
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

static bool accept_word(cursor *c, const char *w)
{
    size_t n = strlen(w);
    skip_space(c);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0)
        return false;
    c->p += n;
    return true;
}

/* A '...' or "..." string (no escapes: none of the values needs them)
 * of fewer than outlen bytes. */
static bool parse_string(cursor *c, char *out, size_t outlen)
{
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return false;
    char q = *c->p++;
    const char *s = c->p;
    while (c->p < c->end && *c->p != q)
        c->p++;
    if (c->p >= c->end || (size_t)(c->p - s) >= outlen)
        return false;
    memcpy(out, s, (size_t)(c->p - s));
    out[c->p - s] = '\0';
    c->p++;
    return true;
}

/* A non-negative integer; Python 2 era files may write 3L. */
static bool parse_dim(cursor *c, size_t *v)
{
    skip_space(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        return false;
    size_t x = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        size_t d = (size_t)(*c->p - '0');
        if (x > (SIZE_MAX - d) / 10)
            return false;
        x = x * 10 + d;
        c->p++;
    }
    if (c->p < c->end && *c->p == 'L')
        c->p++;
    *v = x;
    return true;
}

enum { NPY_MAX_RANK = 32 };

/* A tuple of dimensions: (), (n,), (n, d), ... */
static bool parse_shape(cursor *c, size_t *dims, int *rank)
{
    *rank = 0;
    if (!accept(c, '('))
        return false;
    if (accept(c, ')'))
        return true;
    for (;;) {
        if (*rank == NPY_MAX_RANK || !parse_dim(c, &dims[*rank]))
            return false;
        ++*rank;
        if (accept(c, ')'))
            return true;
        if (!accept(c, ','))
            return false;
        if (accept(c, ')'))
            return true;
    }
}

/* What the header says, before it is checked. */
typedef struct npy_dict {
    char descr[32];
    bool fortran;
    size_t dims[NPY_MAX_RANK];
    int rank;
    bool has_descr, has_fortran, has_shape;
} npy_dict;

/* Parses the value of one key; `what` names what went wrong. */
static bool parse_entry(cursor *c, const char *key, npy_dict *d,
                        const char **what)
{
    bool *seen;
    if (strcmp(key, "descr") == 0)
        seen = &d->has_descr;
    else if (strcmp(key, "fortran_order") == 0)
        seen = &d->has_fortran;
    else if (strcmp(key, "shape") == 0)
        seen = &d->has_shape;
    else {
        *what = "unexpected key";
        return false;
    }
    if (*seen) {
        *what = "repeated key";
        return false;
    }
    *seen = true;
    if (!accept(c, ':')) {
        *what = "':' expected";
        return false;
    }
    if (seen == &d->has_descr) {
        /* A list here is a structured dtype, which we do not read. */
        *what = "unsupported dtype (not a plain float64 or float32)";
        return parse_string(c, d->descr, sizeof d->descr);
    }
    if (seen == &d->has_fortran) {
        *what = "'fortran_order' is not True or False";
        if (accept_word(c, "True"))
            d->fortran = true;
        else if (accept_word(c, "False"))
            d->fortran = false;
        else
            return false;
        return true;
    }
    *what = "bad 'shape'";
    return parse_shape(c, d->dims, &d->rank);
}

/* Parses the header dict: keys in any order, exactly the three numpy
 * writes (as numpy itself requires). */
static int parse_npy_dict(const reader *r, const char *text, size_t n,
                          npy_dict *d, char *err, size_t errlen)
{
    cursor c = {text, text + n};
    const char *what = "'{' expected";
    memset(d, 0, sizeof *d);
    if (!accept(&c, '{'))
        goto bad;
    while (!accept(&c, '}')) {
        char key[32];
        what = "key expected";
        if (!parse_string(&c, key, sizeof key))
            goto bad;
        if (!parse_entry(&c, key, d, &what))
            goto bad;
        if (accept(&c, '}'))
            break;
        what = "',' expected";
        if (!accept(&c, ','))
            goto bad;
    }
    skip_space(&c);
    what = "text after the dict";
    if (c.p != c.end)
        goto bad;
    what = !d->has_descr     ? "no 'descr'"
           : !d->has_fortran ? "no 'fortran_order'"
           : !d->has_shape   ? "no 'shape'"
                             : NULL;
    if (what)
        goto bad;
    return 0;
bad:
    dataio_set_error(err, errlen, "%s: malformed .npy header: %s", r->name, what);
    return -1;
}

/* Host byte order, for the native-order '=' dtypes. */
static bool host_big_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 0;
}

/* Turns the parsed header into a layout: float64/float32, 1-D or 2-D. */
static int npy_layout(const reader *r, const npy_dict *d, binary_layout *l,
                      char *err, size_t errlen)
{
    const char *t = d->descr;
    bool ok = strlen(t) == 3 && (t[0] == '<' || t[0] == '>' || t[0] == '=') &&
              t[1] == 'f' && (t[2] == '8' || t[2] == '4');
    if (!ok) {
        dataio_set_error(err, errlen,
                "%s: unsupported dtype '%s' (expected float64 or float32: "
                "'<f8', '>f8', '<f4' or '>f4')", r->name, t);
        return -1;
    }
    l->itemsize = t[2] == '8' ? 8 : 4;
    l->big_endian = t[0] == '>' || (t[0] == '=' && host_big_endian());
    l->fortran = d->fortran;
    if (d->rank != 1 && d->rank != 2) {
        dataio_set_error(err, errlen,
                "%s: the array has %d dimensions; expected 1 or 2", r->name,
                d->rank);
        return -1;
    }
    l->rows = d->dims[0];
    l->cols = d->rank == 2 ? d->dims[1] : 1;
    return 0;
}

/* Reads the preamble and the header dict; leaves the reader at the
 * data. */
static int npy_read_dict(reader *r, npy_dict *d, char *err, size_t errlen)
{
    unsigned char pre[12];
    if (reader_take(r, pre, 10) != 10)
        goto truncated;
    size_t hlen;
    if (pre[6] == 1) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (reader_take(r, pre + 10, 2) != 2)
            goto truncated;
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 |
               (size_t)pre[11] << 24;
    } else {
        dataio_set_error(err, errlen, "%s: unsupported .npy format version %d.%d",
                r->name, pre[6], pre[7]);
        return -1;
    }
    if (hlen > NPY_MAX_HEADER) {
        dataio_set_error(err, errlen, "%s: .npy header of %zu bytes is too long",
                r->name, hlen);
        return -1;
    }
    char *text = malloc(hlen + 1);
    if (!text) {
        dataio_set_error(err, errlen, "%s: out of memory", r->name);
        return -1;
    }
    if (reader_take(r, text, hlen) != hlen) {
        free(text);
        goto truncated;
    }
    int rc = parse_npy_dict(r, text, hlen, d, err, errlen);
    free(text);
    return rc;
truncated:
    if (!read_failed(r, err, errlen))
        dataio_set_error(err, errlen, "%s: truncated .npy header", r->name);
    return -1;
}

/* Reads the preamble and header of a float matrix; leaves the reader at
 * the data. */
static int npy_read_header(reader *r, binary_layout *l, char *err,
                           size_t errlen)
{
    npy_dict d;
    if (npy_read_dict(r, &d, err, errlen) != 0)
        return -1;
    return npy_layout(r, &d, l, err, errlen);
}

static int read_npy(reader *r, dataio_matrix *out, char *err, size_t errlen)
{
    binary_layout l;
    if (npy_read_header(r, &l, err, errlen) != 0)
        return -1;
    return read_binary(r, &l, false, out, err, errlen);
}

/* ---- Delimited text ----------------------------------------------------- */

typedef struct field {
    char *s;  /* NUL-terminated at s[n] */
    size_t n; /* trimmed length */
} field;

typedef struct text_state {
    reader *r;
    char *line;
    size_t cap, len;
    size_t lineno; /* physical, 1-based: counts headers and blank lines */
    bool seen_first; /* the first non-blank line (maybe a header) */
    field *fields;
    size_t nfields, fields_cap;
    double *data;
    size_t rows, cols, data_cap;
    char **names;   /* the header's fields, when the reader wants them */
    size_t n_names;
} text_state;

/* '\r' is whitespace here, which is what makes CRLF files work. */
static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

static bool is_blank(const char *s, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (!is_space(s[k]))
            return false;
    return true;
}

/* Tab, else ',', else ';', else (0) runs of whitespace. */
static char detect_separator(const char *s, size_t n)
{
    static const char seps[] = "\t,;";
    for (int k = 0; k < 3; k++)
        if (memchr(s, seps[k], n))
            return seps[k];
    return 0;
}

static int add_field(text_state *t, char *s, size_t n)
{
    if (t->nfields == t->fields_cap) {
        size_t c = t->fields_cap ? 2 * t->fields_cap : 16;
        if (c > SIZE_MAX / sizeof(field))
            return -1;
        field *p = realloc(t->fields, c * sizeof *p);
        if (!p)
            return -1;
        t->fields = p;
        t->fields_cap = c;
    }
    s[n] = '\0'; /* a separator, trimmed space or the line's end */
    t->fields[t->nfields++] = (field){s, n};
    return 0;
}

/* Splits the line in place into trimmed fields; sep 0 = whitespace runs. */
static int split_fields(text_state *t, char sep)
{
    char *p = t->line, *end = t->line + t->len;
    t->nfields = 0;
    if (sep == 0) {
        for (;;) {
            while (p < end && is_space(*p))
                p++;
            if (p == end)
                return 0;
            char *s = p;
            while (p < end && !is_space(*p))
                p++;
            if (add_field(t, s, (size_t)(p - s)) != 0)
                return -1;
            if (p < end)
                p++; /* past the '\0' just written */
        }
    }
    for (;;) {
        char *q = memchr(p, sep, (size_t)(end - p));
        if (!q)
            q = end;
        char *s = p, *e = q;
        while (s < e && is_space(*s))
            s++;
        while (e > s && is_space(e[-1]))
            e--;
        if (add_field(t, s, (size_t)(e - s)) != 0)
            return -1;
        if (q == end)
            return 0;
        p = q + 1;
    }
}

/* strtod must consume the whole field: "1.5x" is not a number. */
static bool parse_number(const field *f, double *v)
{
    char *end;
    *v = strtod(f->s, &end);
    return f->n > 0 && end == f->s + f->n;
}

/* A header is a first line with a field that is not a number; empty
 * fields and NaN (both missing values) do not make one. */
static bool is_header(const text_state *t)
{
    for (size_t k = 0; k < t->nfields; k++) {
        double v;
        if (t->fields[k].n > 0 && !parse_number(&t->fields[k], &v))
            return true;
    }
    return false;
}

/* Copies the header's fields into one block: n pointers, then the
 * strings, so that one free() releases them. A name in double quotes
 * loses them. Returns -1 when out of memory. */
static int keep_names(text_state *t)
{
    size_t n = t->nfields;
    if (n > (SIZE_MAX - t->len - 1) / (sizeof(char *) + 1))
        return -1;
    char **names = malloc(n * sizeof(char *) + t->len + n + 1);
    if (!names)
        return -1;
    char *p = (char *)(names + n);
    for (size_t k = 0; k < n; k++) {
        const char *s = t->fields[k].s;
        size_t len = t->fields[k].n;
        if (len >= 2 && s[0] == '"' && s[len - 1] == '"')
            s++, len -= 2;
        memcpy(p, s, len);
        p[len] = '\0';
        names[k] = p;
        p += len + 1;
    }
    t->names = names;
    t->n_names = n;
    return 0;
}

/* Quotes at most FIELD_SHOWN bytes of a field, control bytes as '?', so
 * the message stays one short line. */
static void shown_field(const field *f, char *out, size_t outlen)
{
    size_t n = f->n < FIELD_SHOWN ? f->n : FIELD_SHOWN;
    if (n > outlen - 4)
        n = outlen - 4;
    for (size_t k = 0; k < n; k++) {
        unsigned char ch = (unsigned char)f->s[k];
        out[k] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    strcpy(out + n, n < f->n ? "..." : "");
}

static int parse_value(const text_state *t, size_t col, double *v,
                       char *err, size_t errlen)
{
    const field *f = &t->fields[col];
    const char *name = t->r->name;
    if (f->n > 0 && !parse_number(f, v)) {
        char shown[FIELD_SHOWN + 4];
        shown_field(f, shown, sizeof shown);
        dataio_set_error(err, errlen, "%s:%zu:%zu: '%s' is not a number", name,
                t->lineno, col + 1, shown);
        return -1;
    }
    if (f->n == 0 || isnan(*v)) {
        if (t->r->allow_missing) {
            *v = NAN; /* also for "-nan": one kind of gap */
            return 0;
        }
        dataio_set_error(err, errlen,
                "%s:%zu:%zu: missing value (pass --missing to accept gaps)",
                name, t->lineno, col + 1);
        return -1;
    }
    if (isinf(*v)) { /* also what an overflow like 1e999 gives */
        dataio_set_error(err, errlen, "%s:%zu:%zu: value is not finite", name,
                t->lineno, col + 1);
        return -1;
    }
    return 0;
}

/* Room for one more row; the buffer doubles so n rows cost O(n). */
static int grow_rows(text_state *t)
{
    if (t->rows + 1 > SIZE_MAX / t->cols)
        return -1;
    size_t need = (t->rows + 1) * t->cols;
    if (need <= t->data_cap)
        return 0;
    size_t c = t->data_cap ? t->data_cap : 1024;
    while (c < need)
        c = c > SIZE_MAX / 2 ? need : 2 * c;
    if (c > SIZE_MAX / sizeof(double))
        return -1;
    double *p = realloc(t->data, c * sizeof *p);
    if (!p)
        return -1;
    t->data = p;
    t->data_cap = c;
    return 0;
}

/* Appends the split line as a data row. */
static int add_row(text_state *t, char *err, size_t errlen)
{
    if (t->nfields != t->cols) {
        size_t col = (t->nfields < t->cols ? t->nfields : t->cols) + 1;
        dataio_set_error(err, errlen, "%s:%zu:%zu: expected %zu fields, found %zu",
                t->r->name, t->lineno, col, t->cols, t->nfields);
        return -1;
    }
    if (grow_rows(t) != 0) {
        dataio_set_error(err, errlen, "%s:%zu: out of memory", t->r->name, t->lineno);
        return -1;
    }
    double *row = t->data + t->rows * t->cols;
    for (size_t k = 0; k < t->cols; k++)
        if (parse_value(t, k, &row[k], err, errlen) != 0)
            return -1;
    t->rows++;
    return 0;
}

/* Handles one non-blank line: the optional header, then data rows. */
static int text_line(text_state *t, char *sep, char *err, size_t errlen)
{
    /* The separator comes from the first data line (or the header). */
    char line_sep = t->rows == 0 ? detect_separator(t->line, t->len) : *sep;
    if (split_fields(t, line_sep) != 0) {
        dataio_set_error(err, errlen, "%s:%zu: out of memory", t->r->name, t->lineno);
        return -1;
    }
    if (!t->seen_first) {
        t->seen_first = true;
        if (is_header(t)) {
            if (t->r->want_names && keep_names(t) != 0) {
                dataio_set_error(err, errlen, "%s:%zu: out of memory",
                                 t->r->name, t->lineno);
                return -1;
            }
            return 0;
        }
    }
    if (t->rows == 0) {
        *sep = line_sep;
        t->cols = t->nfields;
    }
    return add_row(t, err, errlen);
}

static int read_text(reader *r, dataio_matrix *out, char *err, size_t errlen)
{
    text_state t = {.r = r};
    char sep = 0;
    int rc = -1;
    for (;;) {
        int got = reader_line(r, &t.line, &t.cap, &t.len);
        if (got < 0) {
            dataio_set_error(err, errlen, "%s:%zu: out of memory", r->name,
                    t.lineno + 1);
            goto done;
        }
        if (got == 0)
            break;
        t.lineno++;
        /* A UTF-8 byte order mark, as some spreadsheets write. */
        if (t.lineno == 1 && t.len >= 3 &&
            memcmp(t.line, "\xEF\xBB\xBF", 3) == 0) {
            memmove(t.line, t.line + 3, t.len - 2);
            t.len -= 3;
        }
        if (is_blank(t.line, t.len))
            continue;
        if (text_line(&t, &sep, err, errlen) != 0)
            goto done;
    }
    if (read_failed(r, err, errlen))
        goto done;
    if (t.rows == 0) {
        dataio_set_error(err, errlen, "%s: no data rows", r->name);
        goto done;
    }
    /* Give back the growth slack: the matrix may be most of memory. */
    double *fit = realloc(t.data, t.rows * t.cols * sizeof *fit);
    if (fit)
        t.data = fit;
    out->data = t.data;
    out->rows = t.rows;
    out->cols = t.cols;
    t.data = NULL;
    /* A header that does not name every column names none. */
    if (t.n_names == t.cols) {
        r->names = t.names;
        t.names = NULL;
    }
    rc = 0;
done:
    free(t.data);
    free(t.fields);
    free(t.line);
    free(t.names);
    return rc;
}

/* ---- Entry points ------------------------------------------------------- */

/* Keeps the rows r->choose picks of m (everything was read). */
static int keep_block(reader *r, dataio_matrix *m, char *err, size_t errlen)
{
    size_t r0, r1;
    dataio_pick_rows(r->choose, r->choose_user, m->rows, &r0, &r1);
    r->total_rows = m->rows;
    r->first_row = r0;
    const size_t n = (r1 - r0) * m->cols;
    double *block = malloc((n ? n : 1) * sizeof *block);
    if (!block) {
        dataio_set_error(err, errlen, "%s: out of memory", r->name);
        return -1;
    }
    memcpy(block, m->data + r0 * m->cols, n * sizeof *block);
    free(m->data);
    m->data = block;
    m->rows = r1 - r0;
    return 0;
}

void dataio_pick_rows(dataio_row_range_fn choose, void *user,
                      size_t total, size_t *r0, size_t *r1)
{
    size_t first = 0, count = total;
    if (choose)
        choose(total, user, &first, &count);
    *r0 = first < total ? first : total;
    *r1 = *r0 + (count < total - *r0 ? count : total - *r0);
}

/* Block `part` of `parts`: rows [N*part/parts, N*(part+1)/parts). */
typedef struct part_of {
    size_t part, parts;
} part_of;

static void choose_part(size_t total, void *user, size_t *first,
                        size_t *count)
{
    const part_of *p = user;
    *first = total * p->part / p->parts;
    *count = total * (p->part + 1) / p->parts - *first;
}

/* What the entry points below share; names may be NULL; choose NULL
 * reads every row. */
static int read_matrix(const char *path, const dataio_read_options *options,
                       dataio_row_range_fn choose, void *choose_user,
                       dataio_matrix *out, size_t *first_row,
                       size_t *total_rows, char ***names, char *err,
                       size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (out)
        memset(out, 0, sizeof *out);
    if (names)
        *names = NULL;
    if (!path || !out) {
        dataio_set_error(err, errlen, "dataio_read_matrix: no path or no output");
        return -1;
    }
    size_t raw_rows = options ? options->raw_rows : 0;
    size_t raw_cols = options ? options->raw_cols : 0;
    if ((raw_rows == 0) != (raw_cols == 0)) {
        dataio_set_error(err, errlen, "%s: raw shape %zu,%zu has a zero dimension",
                strcmp(path, "-") == 0 ? "<stdin>" : path, raw_rows,
                raw_cols);
        return -1;
    }
    size_t h5_len = 0;
    const char *h5_dataset = NULL;
    bool hdf5 = dataio_hdf5_name(path, &h5_len, &h5_dataset);
    reader r;
    if (!hdf5) {
        if (reader_open(&r, path, err, errlen) != 0)
            return -1;
        /* An HDF5 file of another name is known by its signature. */
        hdf5 = raw_rows == 0 && starts_with(&r, HDF5_MAGIC,
                                            sizeof HDF5_MAGIC);
        if (hdf5 && r.is_stdin) {
            reader_close(&r);
            dataio_set_error(err, errlen, "<stdin>: HDF5 data cannot be read "
                             "from standard input; name the file");
            return -1;
        }
        if (hdf5) {
            reader_close(&r);
            h5_len = strlen(path);
        }
    }
    if (hdf5) {
        if (raw_rows > 0) {
            dataio_set_error(err, errlen, "%.*s: --shape is for raw float64 "
                             "data, not HDF5", (int)h5_len, path);
            return -1;
        }
        size_t first = 0, total = 0;
        int rc = dataio_h5_read_matrix(path, h5_len, h5_dataset,
                                       options && options->allow_missing,
                                       choose, choose_user, out, &first,
                                       &total, err, errlen);
        if (rc != 0)
            memset(out, 0, sizeof *out);
        if (first_row)
            *first_row = rc == 0 ? first : 0;
        if (total_rows)
            *total_rows = rc == 0 ? total : 0;
        return rc;
    }
    r.allow_missing = options && options->allow_missing;
    r.choose = choose;
    r.choose_user = choose_user;
    r.first_row = 0;
    r.total_rows = 0;
    r.want_names = names != NULL;
    int rc;
    if (raw_rows > 0)
        rc = read_raw(&r, raw_rows, raw_cols, out, err, errlen);
    else if (reader_ensure(&r, sizeof NPY_MAGIC) >= sizeof NPY_MAGIC &&
             memcmp(r.buf + r.pos, NPY_MAGIC, sizeof NPY_MAGIC) == 0)
        rc = read_npy(&r, out, err, errlen);
    else
        rc = read_text(&r, out, err, errlen);
    /* Text, Fortran order and pipes were read whole: keep the range. */
    if (rc == 0 && r.choose && r.total_rows == 0) {
        rc = keep_block(&r, out, err, errlen);
        if (rc != 0)
            free(out->data);
    } else if (rc == 0 && r.total_rows == 0) {
        r.total_rows = out->rows;
    }
    reader_close(&r);
    if (rc != 0)
        memset(out, 0, sizeof *out);
    if (rc == 0 && names) {
        *names = r.names;
        r.names = NULL;
    }
    free(r.names);
    if (first_row)
        *first_row = rc == 0 ? r.first_row : 0;
    if (total_rows)
        *total_rows = rc == 0 ? r.total_rows : 0;
    return rc;
}

int dataio_read_matrix(const char *path, const dataio_read_options *options,
                       dataio_matrix *out, char *err, size_t errlen)
{
    return read_matrix(path, options, NULL, NULL, out, NULL, NULL, NULL, err,
                       errlen);
}

int dataio_read_matrix_named(const char *path,
                             const dataio_read_options *options,
                             dataio_matrix *out, char ***names, char *err,
                             size_t errlen)
{
    return read_matrix(path, options, NULL, NULL, out, NULL, NULL, names,
                       err, errlen);
}

int dataio_read_matrix_part(const char *path,
                            const dataio_read_options *options, size_t part,
                            size_t parts, dataio_matrix *out,
                            size_t *first_row, size_t *total_rows,
                            char *err, size_t errlen)
{
    part_of p = {part, parts};
    const int split = parts > 1 && part < parts;
    return read_matrix(path, options, split ? choose_part : NULL,
                       split ? &p : NULL, out, first_row, total_rows, NULL,
                       err, errlen);
}

int dataio_read_matrix_rows(const char *path,
                            const dataio_read_options *options,
                            dataio_row_range_fn choose, void *user,
                            dataio_matrix *out, size_t *first_row,
                            size_t *total_rows, char *err, size_t errlen)
{
    return read_matrix(path, options, choose, user, out, first_row,
                       total_rows, NULL, err, errlen);
}

void dataio_matrix_free(dataio_matrix *m)
{
    if (!m)
        return;
    free(m->data);
    memset(m, 0, sizeof *m);
}

/* ---- Memory-mapped binary data (fit --stream) -------------------------- */

struct dataio_map {
    unsigned char *base; /* the whole file, mapped read-only */
    size_t length;
    size_t offset;       /* of the first value */
    binary_layout l;
    size_t first_row;    /* this part's first row in the file */
    size_t rows;         /* this part's rows */
    char name[256];
    char error[512];
    dataio_h5_in *h5;    /* an HDF5 dataset: read by hyperslab, not mapped */
    int allow_missing;   /* NaN is a missing value (--missing) */
};

/* An HDF5 dataset (FILE.h5[:/DATASET], file_len the length of FILE):
 * read a block of rows at a time by hyperslab. */
static int map_open_h5(const char *path, size_t file_len,
                       const char *dataset, size_t part, size_t parts,
                       dataio_map **out, dataio_shape *shape, char *err,
                       size_t errlen)
{
    dataio_map *m = calloc(1, sizeof *m);
    if (!m) {
        dataio_set_error(err, errlen, "%.*s: out of memory", (int)file_len,
                         path);
        return -1;
    }
    size_t rows = 0, cols = 0;
    if (dataio_h5_in_open(path, file_len, dataset, &m->h5, &rows, &cols,
                          m->name, sizeof m->name, err, errlen) != 0) {
        free(m);
        return -1;
    }
    m->l.rows = rows;
    m->l.cols = cols;
    m->l.itemsize = 8;
    if (parts < 1 || part >= parts)
        part = 0, parts = 1;
    m->first_row = rows * part / parts;
    m->rows = rows * (part + 1) / parts - m->first_row;
    if (shape) {
        shape->rows = m->rows;
        shape->cols = cols;
        shape->first_row = m->first_row;
        shape->total_rows = rows;
    }
    *out = m;
    return 0;
}

/* Rows [first, first + count) of the map's share, converted into out:
 * every value finite (NaN allowed with allow_missing), else the error
 * names the row and column in the file. */
static int map_check_values(dataio_map *m, size_t first, size_t count,
                            const double *out)
{
    const size_t cols = m->l.cols;
    for (size_t k = 0; k < count * cols; k++)
        if (!isfinite(out[k]) && !(m->allow_missing && isnan(out[k]))) {
            snprintf(m->error, sizeof m->error,
                     "%s: row %zu, column %zu: value is not finite (%s)",
                     m->name, m->first_row + first + k / cols + 1,
                     k % cols + 1, isnan(out[k]) ? "NaN; --missing reads it "
                     "as a missing value" : out[k] > 0 ? "inf" : "-inf");
            return -1;
        }
    return 0;
}

static int map_h5_rows(dataio_map *m, size_t first, size_t count,
                       double *out)
{
    if (first > m->rows || count > m->rows - first)
        return -1;
    if (dataio_h5_in_rows(m->h5, m->first_row + first, count, out, m->error,
                          sizeof m->error) != 0)
        return -1;
    return map_check_values(m, first, count, out);
}

int dataio_map_open(const char *path, const dataio_read_options *options,
                    size_t part, size_t parts, dataio_map **out,
                    dataio_shape *shape, char *err, size_t errlen)
{
    *out = NULL;
    size_t h5_len = 0;
    const char *h5_dataset = NULL;
    const int allow_missing = options && options->allow_missing;
    if (dataio_hdf5_name(path, &h5_len, &h5_dataset)) {
        if (map_open_h5(path, h5_len, h5_dataset, part, parts, out, shape,
                        err, errlen) != 0)
            return -1;
        (*out)->allow_missing = allow_missing;
        return 0;
    }
    reader r;
    if (reader_open(&r, path, err, errlen) != 0)
        return -1;
    int rc = -1;
    binary_layout l;
    dataio_map *m = NULL;
    if (r.is_stdin || r.size < 0) {
        dataio_set_error(err, errlen, "%s: --stream needs a regular file, "
                "not a pipe", r.name);
        goto done;
    }
    if (options && options->raw_rows > 0) {
        l = (binary_layout){8, false, false, options->raw_rows,
                            options->raw_cols};
    } else if (reader_ensure(&r, sizeof NPY_MAGIC) >= sizeof NPY_MAGIC &&
               memcmp(r.buf + r.pos, NPY_MAGIC, sizeof NPY_MAGIC) == 0) {
        if (npy_read_header(&r, &l, err, errlen) != 0)
            goto done;
    } else if (starts_with(&r, HDF5_MAGIC, sizeof HDF5_MAGIC)) {
        reader_close(&r);
        if (map_open_h5(path, strlen(path), NULL, part, parts, out, shape,
                        err, errlen) != 0)
            return -1;
        (*out)->allow_missing = allow_missing;
        return 0;
    } else {
        dataio_set_error(err, errlen, "%s: --stream needs .npy or raw "
                "(--shape) data, not text", r.name);
        goto done;
    }
    if (l.fortran) {
        dataio_set_error(err, errlen, "%s: --stream needs rows stored one "
                "after another (C order; numpy.ascontiguousarray)", r.name);
        goto done;
    }
    if (l.rows == 0 || l.cols == 0 || l.rows > SIZE_MAX / l.cols / 8) {
        dataio_set_error(err, errlen, "%s: no data, or too much (shape %zu "
                "x %zu)", r.name, l.rows, l.cols);
        goto done;
    }
    if (check_known_size(&r, &l, options && options->raw_rows > 0, err,
                         errlen) != 0)
        goto done;
    m = calloc(1, sizeof *m);
    if (!m) {
        dataio_set_error(err, errlen, "%s: out of memory", r.name);
        goto done;
    }
    m->length = (size_t)r.size;
    m->offset = r.taken;
    m->l = l;
    m->allow_missing = allow_missing;
    if (parts < 1 || part >= parts)
        part = 0, parts = 1;
    m->first_row = l.rows * part / parts;
    m->rows = l.rows * (part + 1) / parts - m->first_row;
    snprintf(m->name, sizeof m->name, "%s", r.name);
    void *base = mmap(NULL, m->length, PROT_READ, MAP_SHARED, fileno(r.fp), 0);
    if (base == MAP_FAILED) {
        dataio_set_error(err, errlen, "%s: cannot map: %s", r.name,
                strerror(errno));
        free(m);
        m = NULL;
        goto done;
    }
    m->base = base;
    madvise(m->base, m->length, MADV_SEQUENTIAL);
    if (shape) {
        shape->rows = m->rows;
        shape->cols = l.cols;
        shape->first_row = m->first_row;
        shape->total_rows = l.rows;
    }
    *out = m;
    rc = 0;
done:
    reader_close(&r); /* the mapping stays valid without the descriptor */
    return rc;
}

int dataio_map_rows(dataio_map *m, size_t first, size_t count, double *out)
{
    if (m->h5)
        return map_h5_rows(m, first, count, out);
    const size_t cols = m->l.cols, item = m->l.itemsize;
    if (first > m->rows || count > m->rows - first)
        return -1;
    const unsigned char *src =
        m->base + m->offset + (m->first_row + first) * cols * item;
    convert(&m->l, src, count * cols, out, 1);
    if (map_check_values(m, first, count, out) != 0)
        return -1;
    /* Drop the pages just read from this process (they stay in the page
     * cache), and those around them: a fault maps up to 64 KiB of
     * neighbouring cached pages at once (the kernel's fault-around), and
     * rows read far apart (the start's evenly spaced sample) would leave
     * all of those mapped. Memory then does not grow with the file; a
     * page dropped here and read again next time is only faulted back in
     * from the cache. */
    const uintptr_t page = 4096, around = 64 * 1024;
    const uintptr_t lo = (uintptr_t)m->base; /* page-aligned */
    const uintptr_t hi = (lo + m->length + page - 1) & ~(page - 1);
    uintptr_t from = ((uintptr_t)src & ~(page - 1));
    uintptr_t to = ((uintptr_t)src + count * cols * item + page - 1) &
                   ~(page - 1);
    from = from - lo > around ? from - around : lo;
    to = to < hi && hi - to > around ? to + around : hi;
    if (to > from)
        madvise((void *)from, to - from, MADV_DONTNEED);
    return 0;
}

const char *dataio_map_error(const dataio_map *m)
{
    return m && m->error[0] ? m->error : NULL;
}

void dataio_map_close(dataio_map *m)
{
    if (!m)
        return;
    dataio_h5_in_close(m->h5);
    if (m->base)
        munmap(m->base, m->length);
    free(m);
}

/* ---- Sequence lengths ---------------------------------------------------- */

typedef struct length_list {
    size_t *value;
    size_t *line; /* text: the 1-based line of each value; .npy: NULL */
    size_t n, cap;
} length_list;

static int lengths_push(length_list *l, size_t value, size_t line,
                        bool with_lines)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        if (cap > SIZE_MAX / sizeof(size_t))
            return -1;
        size_t *v = realloc(l->value, cap * sizeof *v);
        if (!v)
            return -1;
        l->value = v;
        if (with_lines) {
            size_t *w = realloc(l->line, cap * sizeof *w);
            if (!w)
                return -1;
            l->line = w;
        }
        l->cap = cap;
    }
    l->value[l->n] = value;
    if (with_lines)
        l->line[l->n] = line;
    l->n++;
    return 0;
}

/* Lengths beyond this are refused (no data set has that many rows, and
 * sums of a few of them stay far from overflowing). */
static const uint64_t LENGTH_MAX = UINT64_C(1) << 53;

/* A .npy of integers (any integer dtype) or of whole floats, 1-D or with
 * one row or one column. */
static int read_lengths_npy(reader *r, length_list *out, char *err,
                            size_t errlen)
{
    npy_dict d;
    if (npy_read_dict(r, &d, err, errlen) != 0)
        return -1;
    const char *t = d.descr;
    const size_t size = strlen(t) == 3 ? (size_t)(t[2] - '0') : 0;
    const char kind = strlen(t) == 3 ? t[1] : '\0';
    const bool ok = size != 0 && strchr("<>=|", t[0]) != NULL &&
                    (((kind == 'i' || kind == 'u') &&
                      (size == 1 || size == 2 || size == 4 || size == 8)) ||
                     (kind == 'f' && (size == 4 || size == 8)));
    if (!ok) {
        dataio_set_error(err, errlen,
                "%s: unsupported dtype '%s' for lengths (expected integers "
                "such as '<i8' or '<i4', or whole numbers as float64)",
                r->name, t);
        return -1;
    }
    if (!(d.rank == 1 || (d.rank == 2 && (d.dims[0] == 1 || d.dims[1] == 1)))) {
        dataio_set_error(err, errlen,
                "%s: the lengths must be a 1-D array (this one has %d "
                "dimensions%s)", r->name, d.rank,
                d.rank == 2 ? " of more than one row and column" : "");
        return -1;
    }
    const bool big = t[0] == '>' || (t[0] == '=' && host_big_endian());
    const size_t count = d.rank == 1 ? d.dims[0] : d.dims[0] * d.dims[1];
    if (count == 0) {
        dataio_set_error(err, errlen, "%s: no lengths (an empty array)",
                         r->name);
        return -1;
    }
    if (r->size >= 0 && (count > (unsigned long long)r->size / size ||
                         (unsigned long long)r->size - r->taken !=
                             count * size)) {
        dataio_set_error(err, errlen,
                "%s: expected %zu bytes of data for %zu lengths, found %lld",
                r->name, count * size, count,
                r->size - (long long)r->taken);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        unsigned char b[8];
        if (reader_take(r, b, size) != size) {
            if (!read_failed(r, err, errlen))
                dataio_set_error(err, errlen,
                        "%s: truncated file: %zu of %zu lengths", r->name, i,
                        count);
            return -1;
        }
        uint64_t u = 0;
        for (size_t j = 0; j < size; j++)
            u = u << 8 | b[big ? j : size - 1 - j];
        char shown[64];
        bool good;
        uint64_t v = 0;
        if (kind == 'f') {
            double x = size == 8 ? load_f8(b, big) : load_f4(b, big);
            snprintf(shown, sizeof shown, "%.17g", x);
            good = isfinite(x) && x >= 1.0 && x == floor(x) &&
                   x <= (double)LENGTH_MAX;
            v = good ? (uint64_t)x : 0;
        } else if (kind == 'i' && size < 8 && (u >> (8 * size - 1)) != 0) {
            /* negative: sign-extend for the message */
            int64_t s = (int64_t)(u | ~((UINT64_C(1) << (8 * size)) - 1));
            snprintf(shown, sizeof shown, "%lld", (long long)s);
            good = false;
        } else if (kind == 'i' && size == 8 && (u >> 63) != 0) {
            int64_t s;
            memcpy(&s, &u, sizeof s);
            snprintf(shown, sizeof shown, "%lld", (long long)s);
            good = false;
        } else {
            snprintf(shown, sizeof shown, "%llu", (unsigned long long)u);
            good = u >= 1 && u <= LENGTH_MAX;
            v = u;
        }
        if (!good) {
            dataio_set_error(err, errlen,
                    "%s: element %zu: length %s is not a positive whole "
                    "number%s", r->name, i + 1, shown,
                    kind != 'f' && u > LENGTH_MAX && u >> 63 == 0
                        ? " of a sensible size" : "");
            return -1;
        }
        if (lengths_push(out, (size_t)v, 0, false) != 0) {
            dataio_set_error(err, errlen, "%s: out of memory", r->name);
            return -1;
        }
    }
    if (reader_ensure(r, 1) > 0) {
        dataio_set_error(err, errlen, "%s: data after the %zu lengths",
                         r->name, count);
        return -1;
    }
    return read_failed(r, err, errlen) ? -1 : 0;
}

/* Text: one integer a line; blank lines are skipped. */
static int read_lengths_text(reader *r, length_list *out, char *err,
                             size_t errlen)
{
    char *line = NULL;
    size_t cap = 0, len = 0, lineno = 0;
    int got, rc = 0;
    while (rc == 0 && (got = reader_line(r, &line, &cap, &len)) == 1) {
        lineno++;
        size_t a = 0, b = len;
        while (a < b && is_space(line[a]))
            a++;
        while (b > a && (is_space(line[b - 1]) || line[b - 1] == '\r'))
            b--;
        if (a == b)
            continue; /* a blank line */
        line[b] = '\0';
        const char *s = line + a;
        size_t digits = 0, i = s[0] == '+' || s[0] == '-' ? 1 : 0;
        while (s[i + digits] >= '0' && s[i + digits] <= '9')
            digits++;
        char shown[FIELD_SHOWN + 8];
        snprintf(shown, sizeof shown, "%.*s%s", (int)FIELD_SHOWN, s,
                 strlen(s) > FIELD_SHOWN ? "..." : "");
        const bool nul = memchr(line, '\0', b) != NULL;
        if (nul || digits == 0 || s[i + digits] != '\0') {
            char *end;
            (void)strtod(s, &end);
            bool number = !nul && end != s && *end == '\0';
            dataio_set_error(err, errlen, "%s:%zu:%zu: '%s' is not %s",
                    r->name, lineno, a + 1, shown,
                    number ? "a whole number (lengths count rows)"
                           : "an integer (one length a line)");
            rc = -1;
            break;
        }
        errno = 0;
        unsigned long long v = strtoull(s + i, NULL, 10);
        if (s[0] == '-' || v == 0 || errno == ERANGE || v > LENGTH_MAX) {
            dataio_set_error(err, errlen,
                    "%s:%zu:%zu: length %s is not a positive whole number%s",
                    r->name, lineno, a + 1, shown,
                    s[0] != '-' && v != 0 ? " of a sensible size" : "");
            rc = -1;
            break;
        }
        if (lengths_push(out, (size_t)v, lineno, true) != 0) {
            dataio_set_error(err, errlen, "%s: out of memory", r->name);
            rc = -1;
        }
    }
    free(line);
    if (rc == 0 && got < 0) {
        dataio_set_error(err, errlen, "%s: out of memory", r->name);
        rc = -1;
    }
    if (rc == 0 && read_failed(r, err, errlen))
        rc = -1;
    if (rc == 0 && out->n == 0) {
        dataio_set_error(err, errlen, "%s: no lengths (the file is empty)",
                         r->name);
        rc = -1;
    }
    return rc;
}

int dataio_read_lengths(const char *path, size_t **lengths, size_t **lines,
                        size_t *n, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!path || !lengths || !n) {
        dataio_set_error(err, errlen, "dataio_read_lengths: no path or no "
                         "output");
        return -1;
    }
    *lengths = NULL;
    *n = 0;
    if (lines)
        *lines = NULL;
    size_t h5_len = 0;
    const char *h5_dataset = NULL;
    if (dataio_hdf5_name(path, &h5_len, &h5_dataset))
        return dataio_h5_read_lengths(path, h5_len, h5_dataset, lengths, n,
                                      err, errlen);
    reader r;
    if (reader_open(&r, path, err, errlen) != 0)
        return -1;
    length_list l = {NULL, NULL, 0, 0};
    int rc;
    if (reader_ensure(&r, sizeof NPY_MAGIC) >= sizeof NPY_MAGIC &&
        memcmp(r.buf + r.pos, NPY_MAGIC, sizeof NPY_MAGIC) == 0) {
        rc = read_lengths_npy(&r, &l, err, errlen);
    } else if (!r.is_stdin && starts_with(&r, HDF5_MAGIC,
                                          sizeof HDF5_MAGIC)) {
        reader_close(&r);
        return dataio_h5_read_lengths(path, strlen(path), NULL, lengths, n,
                                      err, errlen);
    } else {
        rc = read_lengths_text(&r, &l, err, errlen);
    }
    reader_close(&r);
    if (rc != 0) {
        free(l.value);
        free(l.line);
        return -1;
    }
    *lengths = l.value;
    *n = l.n;
    if (lines)
        *lines = l.line;
    else
        free(l.line);
    return 0;
}
