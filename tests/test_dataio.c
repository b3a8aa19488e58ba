/*
 * The data-file readers and writers (tools/dataio_*.c): .npy, CSV/TSV,
 * raw and HDF5 input with their error messages, .npy/CSV/HDF5 output, and
 * the all-or-nothing output set. The .npy files are built byte by byte
 * here, so the tests need no numpy; the HDF5 files are made with the HDF5
 * API (a build without HDF5 checks the message that says so).
 */
#include "test_util.h"

#include "dataio.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <float.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef EMGMM_HAVE_HDF5
#include <hdf5.h>
#endif

/* Every test works in this folder, emptied after each test. */
static char tmpdir[] = "/tmp/test_dataio-XXXXXX";

enum { ERRLEN = 512, PATHLEN = 256 };

#define assert_contains(hay, needle)                                       \
    do {                                                                   \
        if (!strstr((hay), (needle))) {                                    \
            print_error("\"%s\"\ndoes not contain\n\"%s\"\n", (hay),       \
                        (needle));                                         \
            fail();                                                        \
        }                                                                  \
    } while (0)

/* ---- Helpers ------------------------------------------------------------ */

/* Allocation failure in a test is not what is under test. */
static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        abort();
    return p;
}

static void path_in(char *out, const char *name)
{
    int n = snprintf(out, PATHLEN, "%s/%s", tmpdir, name);
    assert_true(n > 0 && n < PATHLEN);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* The whole file, NUL-terminated; *n its size. */
static char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            cap *= 2;
            char *bigger = xmalloc(cap);
            memcpy(bigger, buf, len);
            free(buf);
            buf = bigger;
        }
    }
    assert_int_equal(fclose(f), 0);
    buf[len] = '\0';
    if (n)
        *n = len;
    return buf;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void remove_contents(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[PATHLEN * 2];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            remove_contents(p);
            rmdir(p);
        } else {
            unlink(p);
        }
    }
    closedir(d);
}

/* Reads text content written to a file "in.csv"; *path gets its name. */
static int read_text(const char *text, char *path, dataio_matrix *m,
                     char *err)
{
    path_in(path, "in.csv");
    write_bytes(path, text, strlen(text));
    return dataio_read_matrix(path, NULL, m, err, ERRLEN);
}

static void assert_matrix(const dataio_matrix *m, size_t rows, size_t cols,
                          const double *want)
{
    assert_non_null(m->data);
    assert_int_equal(m->rows, rows);
    assert_int_equal(m->cols, cols);
    for (size_t k = 0; k < rows * cols; k++)
        assert_close(m->data[k], want[k], 0, 0);
}

static void assert_failed_clean(int rc, const dataio_matrix *m)
{
    assert_int_equal(rc, -1);
    assert_null(m->data);
    assert_int_equal(m->rows, 0);
    assert_int_equal(m->cols, 0);
}

/* Expects reading `text` to fail with exactly "<path><suffix>". */
static void expect_text_error(const char *text, const char *suffix)
{
    char path[PATHLEN], err[ERRLEN], want[ERRLEN];
    dataio_matrix m = {0};
    assert_failed_clean(read_text(text, path, &m, err), &m);
    snprintf(want, sizeof want, "%s%s", path, suffix);
    assert_string_equal(err, want);
}

static void put_f8(unsigned char *dst, double v, bool big)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    for (int i = 0; i < 8; i++)
        dst[big ? 7 - i : i] = (unsigned char)(u >> (8 * i));
}

static void put_f4(unsigned char *dst, float v, bool big)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    for (int i = 0; i < 4; i++)
        dst[big ? 3 - i : i] = (unsigned char)(u >> (8 * i));
}

/* A .npy file by hand: magic, version major.0, header length (2 bytes for
 * 1.0, 4 for 2.0), the dict padded with spaces to a multiple of `align`
 * (1: no padding) and ended by '\n', then the data bytes. */
static void write_npy(const char *path, int major, const char *dict,
                      size_t align, const void *data, size_t datalen)
{
    size_t pre = major == 1 ? 10 : 12;
    size_t hlen = strlen(dict) + 1;
    while ((pre + hlen) % align)
        hlen++;
    size_t total = pre + hlen + datalen;
    unsigned char *b = xmalloc(total);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    for (size_t i = 0; i < pre - 8; i++)
        b[8 + i] = (unsigned char)(hlen >> (8 * i));
    memset(b + pre, ' ', hlen);
    memcpy(b + pre, dict, strlen(dict));
    b[pre + hlen - 1] = '\n';
    if (datalen)
        memcpy(b + pre + hlen, data, datalen);
    write_bytes(path, b, total);
    free(b);
}

/* rows x cols float64 values v[i*cols+j] = 10*i + j + 0.25, laid out in
 * the given order and endianness. */
static unsigned char *f8_data(size_t rows, size_t cols, bool fortran,
                              bool big)
{
    unsigned char *b = xmalloc(rows * cols * 8);
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            size_t k = fortran ? j * rows + i : i * cols + j;
            put_f8(b + 8 * k, 10.0 * (double)i + (double)j + 0.25, big);
        }
    return b;
}

static void assert_f8_pattern(const dataio_matrix *m, size_t rows,
                              size_t cols)
{
    assert_int_equal(m->rows, rows);
    assert_int_equal(m->cols, cols);
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            assert_close(m->data[i * cols + j],
                         10.0 * (double)i + (double)j + 0.25, 0, 0);
}

/* Reads through a pipe on standard input, which cannot seek. */
static int read_stdin(const void *bytes, size_t n,
                      const dataio_read_options *o, dataio_matrix *m,
                      char *err)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_true(n < 60000); /* fits in the pipe without a reader */
    assert_int_equal(write(fds[1], bytes, n), (ssize_t)n);
    assert_int_equal(close(fds[1]), 0);
    int saved = dup(STDIN_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fds[0], STDIN_FILENO) >= 0);
    close(fds[0]);
    clearerr(stdin);
    int rc = dataio_read_matrix("-", o, m, err, ERRLEN);
    assert_true(dup2(saved, STDIN_FILENO) >= 0);
    close(saved);
    clearerr(stdin);
    return rc;
}

/* Values that stress a text round trip: exponents far apart, -0,
 * subnormals, the extremes. */
static double *tricky_values(size_t n)
{
    double *a = xmalloc(n * sizeof *a);
    test_rng rng = {42};
    for (size_t k = 0; k < n; k++)
        a[k] = test_rng_normal(&rng) *
               pow(10.0, (double)((int)(test_rng_next(&rng) % 40) - 20));
    const double special[] = {0.1, -0.0, DBL_MIN, DBL_MAX, -DBL_MAX,
                              4.9406564584124654e-324, 1.0 / 3.0, 1e-310};
    for (size_t k = 0; k < sizeof special / sizeof *special && k < n; k++)
        a[k] = special[k];
    return a;
}

/* ---- CSV and other delimited text ----------------------------------------- */

static void test_csv_with_header(void **state)
{
    (void)state;
    char path[PATHLEN], err[ERRLEN];
    dataio_matrix m;
    assert_int_equal(read_text("x,y\n1,2\n3.5,-4e2\n", path, &m, err), 0);
    assert_matrix(&m, 2, 2, (double[]){1, 2, 3.5, -400});
    dataio_matrix_free(&m);
    assert_null(m.data);
}

static void test_csv_without_header(void **state)
{
    (void)state;
    char path[PATHLEN], err[ERRLEN];
    dataio_matrix m;
    assert_int_equal(read_text("1,2,3\n4,5,6\n", path, &m, err), 0);
    assert_matrix(&m, 2, 3, (double[]){1, 2, 3, 4, 5, 6});
    dataio_matrix_free(&m);
}

/* dataio_read_matrix_named keeps a header's names (trimmed, unquoted, in
 * one block), and gives none without a header or when the header does
 * not name every column. */
static void test_csv_header_names(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *names[2]; /* NULL: no names */
    } cases[] = {
        {"x,y\n1,2\n", {"x", "y"}},
        {"\xEF\xBB\xBF \"a b\" ; c \n1;2\n", {"a b", "c"}},
        {"left\tright\n1\t2\n", {"left", "right"}},
        {"x,\n1,2\n", {"x", ""}},
        {"1,2\n3,4\n", {NULL, NULL}},
        {"a,b,c\n1,2\n", {NULL, NULL}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char path[PATHLEN], err[ERRLEN];
        path_in(path, "in.csv");
        write_bytes(path, cases[k].text, strlen(cases[k].text));
        dataio_matrix m;
        char **names = (char **)&m; /* must be reset */
        int rc = dataio_read_matrix_named(path, NULL, &m, &names, err,
                                          ERRLEN);
        if (rc != 0)
            print_error("text %zu: %s\n", k, err);
        assert_int_equal(rc, 0);
        assert_int_equal(m.cols, 2);
        if (cases[k].names[0] == NULL) {
            assert_null(names);
        } else {
            assert_non_null(names);
            assert_string_equal(names[0], cases[k].names[0]);
            assert_string_equal(names[1], cases[k].names[1]);
        }
        free(names);
        dataio_matrix_free(&m);
    }

    /* A failed read gives no names and no matrix. */
    char path[PATHLEN], err[ERRLEN];
    path_in(path, "in.csv");
    write_bytes(path, "x,y\n1,z\n", 8);
    dataio_matrix m;
    char **names = (char **)&m;
    assert_failed_clean(dataio_read_matrix_named(path, NULL, &m, &names, err,
                                                 ERRLEN), &m);
    assert_null(names);
}

static void test_csv_separators(void **state)
{
    (void)state;
    static const char *texts[] = {
        "1\t2\n3\t4\n",           /* tab */
        "1;2\n3;4\n",             /* semicolon */
        "  1   2  \n3 \t 4\n",    /* runs of whitespace */
        " 1 , 2 \n\t3,4\t\n",     /* spaces around fields */
        "a b\tc\n1\t2\n3\t4\n",   /* tab beats the header's space */
        "0x1p0;2\n3;4e0\n",       /* what strtod reads */
    };
    for (size_t k = 0; k < sizeof texts / sizeof *texts; k++) {
        char path[PATHLEN], err[ERRLEN];
        dataio_matrix m;
        int rc = read_text(texts[k], path, &m, err);
        if (rc != 0)
            print_error("text %zu: %s\n", k, err);
        assert_int_equal(rc, 0);
        assert_matrix(&m, 2, 2, (double[]){1, 2, 3, 4});
        dataio_matrix_free(&m);
    }
}

static void test_csv_crlf_bom_blank_lines(void **state)
{
    (void)state;
    char path[PATHLEN], err[ERRLEN];
    dataio_matrix m;
    assert_int_equal(read_text("x,y\r\n\r\n1,2\r\n  \r\n3,4\r\n\r\n\n\n",
                               path, &m, err),
                     0);
    assert_matrix(&m, 2, 2, (double[]){1, 2, 3, 4});
    dataio_matrix_free(&m);
    /* A UTF-8 byte order mark before data (not taken for a header). */
    assert_int_equal(read_text("\xEF\xBB\xBF" "1;2\n3;4\n", path, &m, err), 0);
    assert_matrix(&m, 2, 2, (double[]){1, 2, 3, 4});
    dataio_matrix_free(&m);
    /* No newline at the end either. */
    assert_int_equal(read_text("5 6", path, &m, err), 0);
    assert_matrix(&m, 1, 2, (double[]){5, 6});
    dataio_matrix_free(&m);
}

static void test_csv_ragged_rows(void **state)
{
    (void)state;
    /* Lines count the header and blank lines; the column is the first
     * missing or extra field. */
    expect_text_error("x,y\n\n1,2\n3\n", ":4:2: expected 2 fields, found 1");
    expect_text_error("1,2\n3,4,5\n", ":2:3: expected 2 fields, found 3");
    expect_text_error("1 2\n3 4\n5 6 7 8\n",
                      ":3:3: expected 2 fields, found 4");
    expect_text_error("1,2\n3,4,\n", ":2:3: expected 2 fields, found 3");
}

static void test_csv_not_a_number(void **state)
{
    (void)state;
    expect_text_error("a,b\n1,2\n3,abc\n", ":3:2: 'abc' is not a number");
    expect_text_error("1,2\n3,4x\n", ":2:2: '4x' is not a number");
    /* Only the first line can be a header. */
    expect_text_error("a,b\nc,d\n", ":2:1: 'c' is not a number");
    /* A long field is cut short in the message. */
    char text[200], want[100];
    snprintf(text, sizeof text, "1,2\n3,%0100d\n", 0);
    memset(text + 8, 'z', 60); /* the field: "00", 60 'z', 38 '0' */
    snprintf(want, sizeof want, ":2:2: '00%038d...' is not a number", 0);
    memset(want + 9, 'z', 38);
    expect_text_error(text, want);
}

static void test_csv_missing_values(void **state)
{
    (void)state;
    const char *msg = "missing value (pass --missing to accept gaps)";
    char want[ERRLEN];
    snprintf(want, sizeof want, ":2:2: %s", msg);
    expect_text_error("1,2\n3,\n", want);
    expect_text_error("1,2\n3, \t\n", want);
    expect_text_error("1;2;3\n4;;6\n", want);
    expect_text_error("1,2\n3,NaN\n", want);
    expect_text_error("x,y\n1,2\n3,nan\n",
                      ":3:2: missing value (pass --missing to accept gaps)");
    /* NaN or an empty cell in the first line does not make a header. */
    expect_text_error("NaN,1\n2,3\n",
                      ":1:1: missing value (pass --missing to accept gaps)");
    expect_text_error("1,\n2,3\n",
                      ":1:2: missing value (pass --missing to accept gaps)");
}

/* With allow_missing, NaN and empty cells are read as NaN; infinity
 * stays an error, and a first line with gaps is still data. */
static void test_csv_missing_allowed(void **state)
{
    (void)state;
    char path[PATHLEN], err[ERRLEN];
    dataio_read_options opt = {0, 0, 1};
    path_in(path, "in.csv");
    const char *text = "NaN,1,2\n3,,nan\n4,5, \n";
    write_bytes(path, text, strlen(text));
    dataio_matrix m = {0};
    assert_int_equal(dataio_read_matrix(path, &opt, &m, err, ERRLEN), 0);
    assert_int_equal(m.rows, 3);
    assert_int_equal(m.cols, 3);
    const int gap[9] = {1, 0, 0, 0, 1, 1, 0, 0, 1};
    const double val[9] = {0, 1, 2, 3, 0, 0, 4, 5, 0};
    for (size_t k = 0; k < 9; k++) {
        if (gap[k])
            assert_true(isnan(m.data[k]));
        else
            assert_true(m.data[k] == val[k]);
    }
    dataio_matrix_free(&m);
    text = "1,2\n3,inf\n";
    write_bytes(path, text, strlen(text));
    assert_int_equal(dataio_read_matrix(path, &opt, &m, err, ERRLEN), -1);
    assert_non_null(strstr(err, ":2:2: value is not finite"));
}

/* Blocks of rows for the processes of a distributed fit: every layout,
 * 10 rows in 1 to 4 blocks, the blocks together giving the whole. */
static void test_read_parts(void **state)
{
    (void)state;
    char path[PATHLEN], err[ERRLEN];
    const size_t rows = 10, cols = 3;
    for (int layout = 0; layout < 3; layout++) {
        /* 0: C-order .npy (read at offsets), 1: Fortran .npy, 2: CSV */
        path_in(path, layout == 2 ? "parts.csv" : "parts.npy");
        if (layout < 2) {
            unsigned char *d = f8_data(rows, cols, layout == 1, false);
            write_npy(path, 1,
                      layout == 1 ? "{'descr': '<f8', 'fortran_order': True, "
                                    "'shape': (10, 3), }"
                                  : "{'descr': '<f8', 'fortran_order': False, "
                                    "'shape': (10, 3), }",
                      64, d, rows * cols * 8);
            free(d);
        } else {
            FILE *f = fopen(path, "w");
            assert_non_null(f);
            for (size_t i = 0; i < rows; i++)
                fprintf(f, "%.17g,%.17g,%.17g\n", 10.0 * (double)i + 0.25,
                        10.0 * (double)i + 1.25, 10.0 * (double)i + 2.25);
            assert_int_equal(fclose(f), 0);
        }
        for (size_t parts = 1; parts <= 4; parts++) {
            size_t next = 0;
            for (size_t part = 0; part < parts; part++) {
                dataio_matrix m = {0};
                size_t first = 99, total = 99;
                assert_int_equal(dataio_read_matrix_part(path, NULL, part,
                                                         parts, &m, &first,
                                                         &total, err, ERRLEN),
                                 0);
                assert_int_equal(total, rows);
                assert_int_equal(first, next);
                assert_int_equal(m.rows, rows * (part + 1) / parts -
                                             rows * part / parts);
                for (size_t i = 0; i < m.rows; i++)
                    for (size_t j = 0; j < cols; j++)
                        assert_true(m.data[i * cols + j] ==
                                    10.0 * (double)(first + i) +
                                        (double)j + 0.25);
                next += m.rows;
                dataio_matrix_free(&m);
            }
            assert_int_equal(next, rows);
        }
    }
    /* A bad value is reported at its row in the whole file. */
    path_in(path, "parts.npy");
    unsigned char *d = f8_data(rows, cols, false, false);
    put_f8(d + 8 * (8 * cols + 1), NAN, false);
    write_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, "
                       "'shape': (10, 3), }", 64, d, rows * cols * 8);
    free(d);
    dataio_matrix m = {0};
    assert_int_equal(dataio_read_matrix_part(path, NULL, 2, 3, &m, NULL,
                                             NULL, err, ERRLEN), -1);
    assert_non_null(strstr(err, "row 9, column 2: missing value"));
}

/* dataio_read_matrix_rows: the range that the chooser picks once it
 * knows the rows. */
typedef struct range_pick {
    size_t first, count; /* the range asked for */
    size_t seen;         /* the row count the chooser was given */
    int calls;
} range_pick;

static void pick_range(size_t total, void *user, size_t *first,
                       size_t *count)
{
    range_pick *r = user;
    r->seen = total;
    r->calls++;
    *first = r->first;
    *count = r->count;
}

/* An explicit range of rows: C-order .npy read at its offset (values
 * outside the range are never read, so an infinity there is no error),
 * Fortran-order .npy and CSV read whole (checked whole) and the range
 * kept; a range past the end is cut at the file's end; a bad value in
 * the range is named at its row in the whole file. */
static void test_read_row_range(void **state)
{
    (void)state;
    char path[PATHLEN], err[ERRLEN];
    const size_t rows = 10, cols = 3;
    for (int layout = 0; layout < 3; layout++) {
        /* 0: C-order .npy, 1: Fortran .npy, 2: CSV */
        path_in(path, layout == 2 ? "range.csv" : "range.npy");
        if (layout < 2) {
            unsigned char *d = f8_data(rows, cols, layout == 1, false);
            write_npy(path, 1,
                      layout == 1 ? "{'descr': '<f8', 'fortran_order': True, "
                                    "'shape': (10, 3), }"
                                  : "{'descr': '<f8', 'fortran_order': False, "
                                    "'shape': (10, 3), }",
                      64, d, rows * cols * 8);
            free(d);
        } else {
            FILE *f = fopen(path, "w");
            assert_non_null(f);
            for (size_t i = 0; i < rows; i++)
                fprintf(f, "%.17g,%.17g,%.17g\n", 10.0 * (double)i + 0.25,
                        10.0 * (double)i + 1.25, 10.0 * (double)i + 2.25);
            assert_int_equal(fclose(f), 0);
        }
        static const size_t ranges[][3] = {
            /* first, count asked; count kept */
            {3, 4, 4}, {0, 10, 10}, {9, 1, 1}, {7, 0, 0}, {8, 5, 2},
            {12, 3, 0}};
        for (size_t c = 0; c < sizeof ranges / sizeof ranges[0]; c++) {
            range_pick r = {ranges[c][0], ranges[c][1], 0, 0};
            dataio_matrix m = {0};
            size_t first = 99, total = 99;
            assert_int_equal(dataio_read_matrix_rows(path, NULL, pick_range,
                                                     &r, &m, &first, &total,
                                                     err, ERRLEN),
                             0);
            assert_int_equal(r.calls, 1);
            assert_int_equal(r.seen, rows);
            assert_int_equal(total, rows);
            assert_int_equal(m.rows, ranges[c][2]);
            assert_int_equal(m.cols, cols);
            assert_int_equal(first, r.first < rows ? r.first : rows);
            for (size_t i = 0; i < m.rows; i++)
                for (size_t j = 0; j < cols; j++)
                    assert_true(m.data[i * cols + j] ==
                                10.0 * (double)(first + i) + (double)j +
                                    0.25);
            dataio_matrix_free(&m);
        }
    }
    /* C order: an infinity in row 2 is outside rows 5..10; inside rows
     * 4..10 it is not, nor for a Fortran-order file read whole. */
    for (int fortran = 0; fortran < 2; fortran++) {
        path_in(path, "range.npy");
        unsigned char *d = f8_data(rows, cols, fortran, false);
        put_f8(d + 8 * (fortran ? 1 * rows + 1 : 1 * cols + 1), INFINITY,
               false);
        write_npy(path, 1,
                  fortran ? "{'descr': '<f8', 'fortran_order': True, "
                            "'shape': (10, 3), }"
                          : "{'descr': '<f8', 'fortran_order': False, "
                            "'shape': (10, 3), }",
                  64, d, rows * cols * 8);
        free(d);
        range_pick r = {4, 6, 0, 0};
        dataio_matrix m = {0};
        size_t first = 99;
        assert_int_equal(dataio_read_matrix_rows(path, NULL, pick_range, &r,
                                                 &m, &first, NULL, err,
                                                 ERRLEN),
                         fortran ? -1 : 0);
        if (fortran) {
            assert_null(m.data);
            assert_non_null(strstr(err, "row 2, column 2: value is not "
                                        "finite (inf)"));
            continue;
        }
        assert_int_equal(m.rows, 6);
        assert_int_equal(first, 4);
        assert_true(m.data[0] == 40.25);
        dataio_matrix_free(&m);
        r.first = 1;
        r.count = 3;
        assert_int_equal(dataio_read_matrix_rows(path, NULL, pick_range, &r,
                                                 &m, NULL, NULL, err,
                                                 ERRLEN),
                         -1);
        assert_null(m.data);
        assert_non_null(strstr(err, "row 2, column 2: value is not finite "
                                    "(inf)"));
    }
    /* No chooser: every row. */
    dataio_matrix m = {0};
    path_in(path, "range.csv");
    assert_int_equal(dataio_read_matrix_rows(path, NULL, NULL, NULL, &m,
                                             NULL, NULL, err, ERRLEN),
                     0);
    assert_int_equal(m.rows, rows);
    dataio_matrix_free(&m);
}

static void test_csv_not_finite(void **state)
{
    (void)state;
    expect_text_error("1,2\n3,inf\n", ":2:2: value is not finite");
    expect_text_error("1,2\n-inf,3\n", ":2:1: value is not finite");
    expect_text_error("1,2\n3,1e999\n", ":2:2: value is not finite");
}

static void test_csv_no_data(void **state)
{
    (void)state;
    expect_text_error("", ": no data rows");
    expect_text_error("x,y\n\n", ": no data rows");
    expect_text_error("\n \n", ": no data rows");
}

static void test_csv_long_lines_many_rows(void **state)
{
    (void)state;
    /* A 100 kB line is longer than the read buffer. */
    enum { WIDE = 20000, TALL = 5000 };
    size_t cap = (size_t)WIDE * 16 * 2 + 64, len = 0;
    char *text = xmalloc(cap);
    for (int r = 0; r < 2; r++) {
        for (int j = 0; j < WIDE; j++)
            len += (size_t)snprintf(text + len, cap - len,
                                    j ? ",%d.5" : "%d.5", j + r);
        len += (size_t)snprintf(text + len, cap - len, "\n");
    }
    char path[PATHLEN], err[ERRLEN];
    dataio_matrix m;
    assert_int_equal(read_text(text, path, &m, err), 0);
    assert_int_equal(m.rows, 2);
    assert_int_equal(m.cols, WIDE);
    assert_close(m.data[WIDE - 1], WIDE - 1 + 0.5, 0, 0);
    assert_close(m.data[2 * WIDE - 1], WIDE + 0.5, 0, 0);
    dataio_matrix_free(&m);
    free(text);

    /* Many rows: the buffer grows several times. */
    cap = (size_t)TALL * 32;
    text = xmalloc(cap);
    len = (size_t)snprintf(text, cap, "a\tb\n");
    for (int i = 0; i < TALL; i++)
        len += (size_t)snprintf(text + len, cap - len, "%d\t%d\n", i, -2 * i);
    assert_int_equal(read_text(text, path, &m, err), 0);
    assert_int_equal(m.rows, TALL);
    assert_int_equal(m.cols, 2);
    for (int i = 0; i < TALL; i++) {
        assert_close(m.data[2 * i], i, 0, 0);
        assert_close(m.data[2 * i + 1], -2 * i, 0, 0);
    }
    dataio_matrix_free(&m);
    free(text);
}

static void test_csv_from_stdin(void **state)
{
    (void)state;
    char err[ERRLEN];
    dataio_matrix m;
    const char *text = "x,y\n1,2\n3,4\n";
    assert_int_equal(read_stdin(text, strlen(text), NULL, &m, err), 0);
    assert_matrix(&m, 2, 2, (double[]){1, 2, 3, 4});
    dataio_matrix_free(&m);
    text = "1,2\n3,oops\n";
    assert_failed_clean(read_stdin(text, strlen(text), NULL, &m, err), &m);
    assert_string_equal(err, "<stdin>:2:2: 'oops' is not a number");
}

/* ---- Opening ---------------------------------------------------------- */

static void test_open_errors(void **state)
{
    (void)state;
    char path[PATHLEN], err[ERRLEN], want[ERRLEN];
    dataio_matrix m;
    path_in(path, "missing.csv");
    assert_failed_clean(dataio_read_matrix(path, NULL, &m, err, ERRLEN), &m);
    snprintf(want, sizeof want, "%s: cannot open: %s", path,
             strerror(ENOENT));
    assert_string_equal(err, want);
    assert_failed_clean(dataio_read_matrix(tmpdir, NULL, &m, err, ERRLEN),
                        &m);
    snprintf(want, sizeof want, "%s: cannot open: %s", tmpdir,
             strerror(EISDIR));
    assert_string_equal(err, want);
}

/* ---- .npy -------------------------------------------------------------- */

static void test_npy_f8_c_order(void **state)
{
    (void)state;
    char path[PATHLEN], err[ERRLEN];
    path_in(path, "a.npy");
    unsigned char *d = f8_data(2, 3, false, false);
    write_npy(path, 1,
              "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
              64, d, 48);
    dataio_matrix m;
    assert_int_equal(dataio_read_matrix(path, NULL, &m, err, ERRLEN), 0);
    assert_f8_pattern(&m, 2, 3);
    dataio_matrix_free(&m);
    free(d);
}

static void test_npy_f8_fortran_big_endian(void **state)
{
    (void)state;
    char path[PATHLEN], err[ERRLEN];
    path_in(path, "a.npy");
    unsigned char *d = f8_data(2, 3, true, true);
    write_npy(path, 1,
              "{'descr': '>f8', 'fortran_order': True, 'shape': (2, 3), }",
              64, d, 48);
    dataio_matrix m;
    assert_int_equal(dataio_read_matrix(path, NULL, &m, err, ERRLEN), 0);
    assert_f8_pattern(&m, 2, 3);
    dataio_matrix_free(&m);
    free(d);
}

static void test_npy_f4(void **state)
{
    (void)state;
    const float v[6] = {0.5f, -1.25f, 0.1f, 3e38f, -7.0f, 1e-40f};
    for (int big = 0; big < 2; big++) {
        for (int fortran = 0; fortran < 2; fortran++) {
            unsigned char d[24];
            /* shape (3, 2); v is row-major */
            for (size_t i = 0; i < 3; i++)
                for (size_t j = 0; j < 2; j++)
                    put_f4(d + 4 * (fortran ? j * 3 + i : i * 2 + j),
                           v[i * 2 + j], big);
            char dict[128], path[PATHLEN], err[ERRLEN];
            snprintf(dict, sizeof dict,
                     "{'descr': '%cf4', 'fortran_order': %s, "
                     "'shape': (3, 2), }",
                     big ? '>' : '<', fortran ? "True" : "False");
            path_in(path, "f4.npy");
            write_npy(path, 1, dict, 64, d, sizeof d);
            dataio_matrix m;
            assert_int_equal(dataio_read_matrix(path, NULL, &m, err, ERRLEN),
                             0);
            assert_int_equal(m.rows, 3);
            assert_int_equal(m.cols, 2);
            for (int k = 0; k < 6; k++)
                assert_close(m.data[k], (double)v[k], 0, 0);
            dataio_matrix_free(&m);
        }
    }
}

static void test_npy_1d_and_v2_header(void **state)
{
    (void)state;
    char path[PATHLEN], err[ERRLEN];
    path_in(path, "a.npy");
    unsigned char *d = f8_data(5, 1, false, false);
    write_npy(path, 1,
              "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }",
              64, d, 40);
    dataio_matrix m;
    assert_int_equal(dataio_read_matrix(path, NULL, &m, err, ERRLEN), 0);
    assert_f8_pattern(&m, 5, 1);
    dataio_matrix_free(&m);

    /* Version 2.0 (4-byte header length), keys in another order, odd
     * spacing, a Python 2 long. */
    write_npy(path, 2,
              "{ 'shape' : ( 5L , 1 ) ,'fortran_order':False,"
              "\"descr\" :'<f8' }",
              64, d, 40);
    assert_int_equal(dataio_read_matrix(path, NULL, &m, err, ERRLEN), 0);
    assert_f8_pattern(&m, 5, 1);
    dataio_matrix_free(&m);

    /* A header over 64 KiB (only 2.0 can say so), longer than the read
     * buffer, leaving the data at an odd offset. */
    write_npy(path, 2,
              "{'descr': '<f8', 'fortran_order': False, 'shape': (5, 1)}",
              70001, d, 40);
    assert_int_equal(dataio_read_matrix(path, NULL, &m, err, ERRLEN), 0);
    assert_f8_pattern(&m, 5, 1);
    dataio_matrix_free(&m);
    free(d);

    /* '=' is the host's byte order. */
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    d = f8_data(5, 1, false, first == 0);
    write_npy(path, 1,
              "{'descr': '=f8', 'fortran_order': False, 'shape': (5,), }",
              64, d, 40);
    assert_int_equal(dataio_read_matrix(path, NULL, &m, err, ERRLEN), 0);
    assert_f8_pattern(&m, 5, 1);
    dataio_matrix_free(&m);
    free(d);
}

static void test_npy_large_unaligned_fortran(void **state)
{
    (void)state;
    /* 280 kB in Fortran order behind an unpadded header: values straddle
     * the read buffer's chunks and columns span several chunks. */
    enum { R = 5000, C = 7 };
    char path[PATHLEN], err[ERRLEN];
    path_in(path, "big.npy");
    unsigned char *d = f8_data(R, C, true, false);
    write_npy(path, 1,
              "{'descr': '<f8', 'fortran_order': True, 'shape': (5000, 7)}",
              1, d, (size_t)R * C * 8);
    dataio_matrix m;
    assert_int_equal(dataio_read_matrix(path, NULL, &m, err, ERRLEN), 0);
    assert_f8_pattern(&m, R, C);
    dataio_matrix_free(&m);
    free(d);
}

static void test_npy_from_stdin(void **state)
{
    (void)state;
    enum { R = 400, C = 3 }; /* 9.6 kB: fits in a pipe */
    char path[PATHLEN], err[ERRLEN];
    path_in(path, "a.npy");
    unsigned char *d = f8_data(R, C, false, true);
    write_npy(path, 1,
              "{'descr': '>f8', 'fortran_order': False, 'shape': (400, 3), }",
              64, d, (size_t)R * C * 8);
    size_t n;
    char *bytes = read_all(path, &n);
    dataio_matrix m;
    assert_int_equal(read_stdin(bytes, n, NULL, &m, err), 0);
    assert_f8_pattern(&m, R, C);
    dataio_matrix_free(&m);
    /* Truncated on a pipe: the size is only known at its end. */
    assert_failed_clean(read_stdin(bytes, n - 12, NULL, &m, err), &m);
    assert_string_equal(err, "<stdin>: expected 9600 bytes of data for shape "
                             "(400, 3), found 9588 (truncated file)");
    free(bytes);
    free(d);
}

static void expect_npy_error(const char *dict, const void *data,
                             size_t datalen, const char *suffix)
{
    char path[PATHLEN], err[ERRLEN], want[ERRLEN];
    path_in(path, "bad.npy");
    write_npy(path, 1, dict, 64, data, datalen);
    dataio_matrix m = {0};
    assert_failed_clean(dataio_read_matrix(path, NULL, &m, err, ERRLEN), &m);
    snprintf(want, sizeof want, "%s%s", path, suffix);
    assert_string_equal(err, want);
}

static void test_npy_size_errors(void **state)
{
    (void)state;
    unsigned char *d = f8_data(3, 2, false, false);
    const char *dict =
        "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }";
    expect_npy_error(dict, d, 40,
                     ": expected 48 bytes of data for shape (3, 2), "
                     "found 40 (truncated file)");
    expect_npy_error(dict, d, 0,
                     ": expected 48 bytes of data for shape (3, 2), "
                     "found 0 (truncated file)");
    unsigned char more[56] = {0};
    memcpy(more, d, 48);
    expect_npy_error(dict, more, sizeof more,
                     ": expected 48 bytes of data for shape (3, 2), "
                     "found 56");
    expect_npy_error(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 2), }", d, 0,
        ": no data (shape 0 x 2)");
    expect_npy_error(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 0), }", d, 0,
        ": no data (shape 3 x 0)");
    /* rows * cols * 8 would overflow. */
    expect_npy_error("{'descr': '<f8', 'fortran_order': False, 'shape': "
                     "(4294967296, 4294967296), }",
                     d, 48, ": shape 4294967296 x 4294967296 is too large");
    expect_npy_error("{'descr': '<f8', 'fortran_order': False, 'shape': "
                     "(99999999999999999999, 1), }",
                     d, 48, ": malformed .npy header: bad 'shape'");
    free(d);
}

static void test_npy_header_errors(void **state)
{
    (void)state;
    unsigned char d[48] = {0};
    expect_npy_error(
        "{'descr': '<i8', 'fortran_order': False, 'shape': (3, 2), }", d, 48,
        ": unsupported dtype '<i8' (expected float64 or float32: '<f8', "
        "'>f8', '<f4' or '>f4')");
    expect_npy_error(
        "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 2), }", d, 6,
        ": unsupported dtype '|u1' (expected float64 or float32: '<f8', "
        "'>f8', '<f4' or '>f4')");
    expect_npy_error("{'descr': [('a', '<f8')], 'fortran_order': False, "
                     "'shape': (3,), }",
                     d, 24,
                     ": malformed .npy header: unsupported dtype (not a "
                     "plain float64 or float32)");
    expect_npy_error(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 1, 3), }", d,
        48, ": the array has 3 dimensions; expected 1 or 2");
    expect_npy_error("{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
                     d, 8, ": the array has 0 dimensions; expected 1 or 2");
    expect_npy_error("{'descr': '<f8', 'shape': (3, 2), }", d, 48,
                     ": malformed .npy header: no 'fortran_order'");
    expect_npy_error(
        "{'descr': '<f8', 'fortran_order': 0, 'shape': (3, 2), }", d, 48,
        ": malformed .npy header: 'fortran_order' is not True or False");
    expect_npy_error("{'descr': '<f8', 'fortran_order': False, "
                     "'shape': (3, 2), 'extra': 1}",
                     d, 48, ": malformed .npy header: unexpected key");
    expect_npy_error(
        "{'descr': '<f8' 'fortran_order': False, 'shape': (3, 2), }", d, 48,
        ": malformed .npy header: ',' expected");

    /* Cut inside the header; an unknown version. */
    char path[PATHLEN], err[ERRLEN], want[ERRLEN];
    path_in(path, "cut.npy");
    write_bytes(path, "\x93NUMPY\x01\x00\x76\x00{'descr'", 17);
    dataio_matrix m;
    assert_failed_clean(dataio_read_matrix(path, NULL, &m, err, ERRLEN), &m);
    snprintf(want, sizeof want, "%s: truncated .npy header", path);
    assert_string_equal(err, want);
    write_bytes(path, "\x93NUMPY\x04\x00\x76\x00{}", 12);
    assert_failed_clean(dataio_read_matrix(path, NULL, &m, err, ERRLEN), &m);
    snprintf(want, sizeof want, "%s: unsupported .npy format version 4.0",
             path);
    assert_string_equal(err, want);
}

static void test_npy_not_finite(void **state)
{
    (void)state;
    const char *dict =
        "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }";
    unsigned char *d = f8_data(3, 2, false, false);
    put_f8(d + 8 * 3, NAN, false); /* row 2, column 2 */
    expect_npy_error(dict, d, 48,
                     ": row 2, column 2: missing value (NaN; pass --missing "
                     "to accept gaps)");
    free(d);
    d = f8_data(3, 2, false, false);
    put_f8(d + 8 * 1, -INFINITY, false);
    put_f8(d + 8 * 4, INFINITY, false);
    expect_npy_error(dict, d, 48,
                     ": row 1, column 2: value is not finite (-inf)");
    free(d);
    /* Fortran order: file position 1 is row 2, column 1. */
    d = f8_data(3, 2, true, false);
    put_f8(d + 8 * 1, INFINITY, false);
    expect_npy_error(
        "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 2), }", d, 48,
        ": row 2, column 1: value is not finite (inf)");
    free(d);
    /* float32 infinity too. */
    unsigned char f[8];
    put_f4(f, 1.0f, false);
    put_f4(f + 4, INFINITY, false);
    expect_npy_error(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f, 8,
        ": row 2, column 1: value is not finite (inf)");
}

/* ---- Raw float64 ------------------------------------------------------- */

static void test_raw(void **state)
{
    (void)state;
    char path[PATHLEN], err[ERRLEN], want[ERRLEN];
    path_in(path, "a.bin");
    unsigned char *d = f8_data(3, 2, false, false);
    write_bytes(path, d, 48);
    dataio_read_options o = {3, 2, 0};
    dataio_matrix m;
    assert_int_equal(dataio_read_matrix(path, &o, &m, err, ERRLEN), 0);
    assert_f8_pattern(&m, 3, 2);
    dataio_matrix_free(&m);

    /* The same bytes through a pipe. */
    assert_int_equal(read_stdin(d, 48, &o, &m, err), 0);
    assert_f8_pattern(&m, 3, 2);
    dataio_matrix_free(&m);

    o = (dataio_read_options){4, 2, 0};
    assert_failed_clean(dataio_read_matrix(path, &o, &m, err, ERRLEN), &m);
    snprintf(want, sizeof want,
             "%s: raw float64 data of shape 4,2 needs 64 bytes, the file "
             "has 48", path);
    assert_string_equal(err, want);
    o = (dataio_read_options){2, 2, 0};
    assert_failed_clean(read_stdin(d, 48, &o, &m, err), &m);
    assert_string_equal(err, "<stdin>: raw float64 data of shape 2,2 needs "
                             "32 bytes, the file has 48");
    o = (dataio_read_options){3, 0, 0};
    assert_failed_clean(dataio_read_matrix(path, &o, &m, err, ERRLEN), &m);
    assert_contains(err, "zero dimension");

    /* Non-finite raw values are named by row and column. */
    put_f8(d + 8 * 5, NAN, false);
    write_bytes(path, d, 48);
    o = (dataio_read_options){3, 2, 0};
    assert_failed_clean(dataio_read_matrix(path, &o, &m, err, ERRLEN), &m);
    assert_contains(err, ": row 3, column 2: missing value");
    free(d);
}

/* ---- Writers ----------------------------------------------------------- */

static void test_write_npy_round_trip(void **state)
{
    (void)state;
    enum { R = 1000, C = 5 };
    double *a = tricky_values((size_t)R * C);
    char path[PATHLEN], err[ERRLEN];
    path_in(path, "out.npy");
    assert_int_equal(dataio_write_matrix(path, a, R, C, err, ERRLEN), 0);

    size_t n;
    unsigned char *bytes = (unsigned char *)read_all(path, &n);
    assert_memory_equal(bytes, "\x93NUMPY\x01\x00", 8);
    size_t hlen = (size_t)bytes[8] | (size_t)bytes[9] << 8;
    assert_int_equal((10 + hlen) % 64, 0);
    assert_int_equal(bytes[10 + hlen - 1], '\n');
    assert_int_equal(n, 10 + hlen + (size_t)R * C * 8);
    const char *want = "{'descr': '<f8', 'fortran_order': False, "
                       "'shape': (1000, 5), }";
    assert_memory_equal(bytes + 10, want, strlen(want));
    /* Little endian whatever the host. */
    unsigned char first[8];
    put_f8(first, a[0], false);
    assert_memory_equal(bytes + 10 + hlen, first, 8);
    free(bytes);

    dataio_matrix m;
    assert_int_equal(dataio_read_matrix(path, NULL, &m, err, ERRLEN), 0);
    assert_int_equal(m.rows, R);
    assert_int_equal(m.cols, C);
    assert_memory_equal(m.data, a, sizeof(double) * R * C);
    dataio_matrix_free(&m);
    free(a);
}

static void test_write_csv_round_trip(void **state)
{
    (void)state;
    enum { R = 1000, C = 5 };
    double *a = tricky_values((size_t)R * C);
    char path[PATHLEN], err[ERRLEN];
    path_in(path, "out.csv");
    assert_int_equal(dataio_write_matrix(path, a, R, C, err, ERRLEN), 0);
    char *text = read_all(path, NULL);
    const char *line1 = "0.10000000000000001,-0,2.2250738585072014e-308,"
                        "1.7976931348623157e+308,-1.7976931348623157e+308\n";
    assert_memory_equal(text, line1, strlen(line1));
    free(text);
    dataio_matrix m;
    assert_int_equal(dataio_read_matrix(path, NULL, &m, err, ERRLEN), 0);
    assert_int_equal(m.rows, R);
    assert_int_equal(m.cols, C);
    /* Bit for bit, -0 and subnormals included. */
    assert_memory_equal(m.data, a, sizeof(double) * R * C);
    dataio_matrix_free(&m);
    free(a);
}

static void test_write_labels(void **state)
{
    (void)state;
    const int32_t labels[4] = {0, 2, -1, 2147483647};
    char path[PATHLEN], err[ERRLEN];
    path_in(path, "labels.txt");
    assert_int_equal(dataio_write_labels(path, labels, 4, err, ERRLEN), 0);
    char *text = read_all(path, NULL);
    assert_string_equal(text, "0\n2\n-1\n2147483647\n");
    free(text);

    path_in(path, "labels.npy");
    assert_int_equal(dataio_write_labels(path, labels, 4, err, ERRLEN), 0);
    size_t n;
    unsigned char *b = (unsigned char *)read_all(path, &n);
    assert_int_equal(n, 128 + 16);
    assert_memory_equal(b, "\x93NUMPY\x01\x00\x76\x00", 10);
    const char *want =
        "{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }";
    assert_memory_equal(b + 10, want, strlen(want));
    assert_int_equal(b[127], '\n');
    assert_int_equal(b[126], ' ');
    const unsigned char data[16] = {0, 0, 0, 0, 2, 0, 0, 0,
                                    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                    0x7f};
    assert_memory_equal(b + 128, data, 16);
    free(b);
}

static void test_write_stdout(void **state)
{
    (void)state;
    char path[PATHLEN], err[ERRLEN];
    path_in(path, "stdout.txt");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(f), STDOUT_FILENO) >= 0);
    const double a[4] = {1.5, -2, 0.25, 1e300};
    const int32_t l[2] = {1, 0};
    int rc1 = dataio_write_matrix("-", a, 2, 2, err, ERRLEN);
    int rc2 = dataio_write_labels("-", l, 2, err, ERRLEN);
    fflush(stdout);
    assert_true(dup2(saved, STDOUT_FILENO) >= 0);
    close(saved);
    fclose(f);
    assert_int_equal(rc1, 0);
    assert_int_equal(rc2, 0);
    char *text = read_all(path, NULL);
    assert_string_equal(text, "1.5,-2\n0.25,1.0000000000000001e+300\n1\n0\n");
    free(text);
}

static void test_write_errors(void **state)
{
    (void)state;
    char path[PATHLEN], err[ERRLEN], want[ERRLEN];
    const double a[2] = {1, 2};
    path_in(path, "nope/out.csv");
    assert_int_equal(dataio_write_matrix(path, a, 1, 2, err, ERRLEN), -1);
    snprintf(want, sizeof want, "%s: cannot open for writing: %s", path,
             strerror(ENOENT));
    assert_string_equal(err, want);
    assert_int_equal(count_entries(tmpdir), 0);

    /* A full disk is reported, not ignored. */
    if (access("/dev/full", W_OK) != 0)
        skip();
    assert_int_equal(dataio_write_matrix("/dev/full", a, 1, 2, err, ERRLEN),
                     -1);
    snprintf(want, sizeof want, "/dev/full: write failed: %s",
             strerror(ENOSPC));
    assert_string_equal(err, want);
    const int32_t l[1] = {3};
    assert_int_equal(dataio_write_labels("/dev/full", l, 1, err, ERRLEN), -1);
    assert_string_equal(err, want);
    struct stat st;
    assert_int_equal(stat("/dev/full", &st), 0); /* still there */
    assert_true(S_ISCHR(st.st_mode));
}

/* ---- All-or-nothing outputs ------------------------------------------- */

static void test_outputs_commit(void **state)
{
    (void)state;
    char a[PATHLEN], b[PATHLEN], err[ERRLEN], prefix[PATHLEN];
    path_in(a, "a.csv");
    path_in(b, "b.npy");
    write_bytes(b, "old", 3);
    mode_t old_mask = umask(027);
    dataio_outputs *set = outputs_new();
    assert_non_null(set);
    const char *ta, *tb, *tstd;
    assert_int_equal(outputs_add(set, a, &ta, err, ERRLEN), 0);
    assert_int_equal(outputs_add(set, b, &tb, err, ERRLEN), 0);
    assert_int_equal(outputs_add(set, "-", &tstd, err, ERRLEN), 0);
    umask(old_mask);
    assert_string_equal(tstd, "-");
    /* Hidden temporaries next to the final names, ending in them, so
     * that a writer sees the .npy extension of the final name. */
    path_in(prefix, ".tmp-");
    assert_memory_equal(ta, prefix, strlen(prefix));
    assert_memory_equal(tb, prefix, strlen(prefix));
    assert_string_equal(ta + strlen(ta) - 6, ".a.csv");
    assert_string_equal(tb + strlen(tb) - 6, ".b.npy");
    assert_int_equal(count_entries(tmpdir), 3);

    const double x[2] = {1, 2};
    assert_int_equal(dataio_write_matrix(ta, x, 2, 1, err, ERRLEN), 0);
    assert_int_equal(dataio_write_matrix(tb, x, 1, 2, err, ERRLEN), 0);
    assert_int_equal(access(a, F_OK), -1); /* not there before commit */
    char *text = read_all(b, NULL);
    assert_string_equal(text, "old");
    free(text);

    assert_int_equal(outputs_commit(set, err, ERRLEN), 0);
    assert_int_equal(outputs_commit(set, err, ERRLEN), 0); /* nothing left */
    outputs_free(set);
    assert_int_equal(count_entries(tmpdir), 2); /* temporaries gone */
    text = read_all(a, NULL);
    assert_string_equal(text, "1\n2\n");
    free(text);
    size_t blen = 0;
    text = read_all(b, &blen);
    assert_true(blen > 6);
    assert_memory_equal(text, "\x93NUMPY", 6); /* written as .npy */
    free(text);
    dataio_matrix m;
    assert_int_equal(dataio_read_matrix(b, NULL, &m, err, ERRLEN), 0);
    assert_matrix(&m, 1, 2, x);
    dataio_matrix_free(&m);
    /* A new file gets the usual mode, not mkstemp's 0600. */
    struct stat st;
    assert_int_equal(stat(a, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
}

static void test_outputs_free_without_commit(void **state)
{
    (void)state;
    char a[PATHLEN], b[PATHLEN], err[ERRLEN];
    path_in(a, "keep.csv");
    path_in(b, "new.csv");
    write_bytes(a, "old\n", 4);
    dataio_outputs *set = outputs_new();
    assert_non_null(set);
    const char *ta, *tb;
    assert_int_equal(outputs_add(set, a, &ta, err, ERRLEN), 0);
    assert_int_equal(outputs_add(set, b, &tb, err, ERRLEN), 0);
    const double x[1] = {5};
    assert_int_equal(dataio_write_matrix(ta, x, 1, 1, err, ERRLEN), 0);
    assert_int_equal(count_entries(tmpdir), 3);
    outputs_free(set); /* tb never written, never committed */
    assert_int_equal(count_entries(tmpdir), 1);
    char *text = read_all(a, NULL);
    assert_string_equal(text, "old\n");
    free(text);
    assert_int_equal(access(b, F_OK), -1);
    outputs_free(NULL);
}

static void test_outputs_errors(void **state)
{
    (void)state;
    char p[PATHLEN], err[ERRLEN], want[ERRLEN];
    dataio_outputs *set = outputs_new();
    assert_non_null(set);
    const char *t = "untouched";

    assert_int_equal(outputs_add(set, tmpdir, &t, err, ERRLEN), -1);
    assert_null(t);
    snprintf(want, sizeof want, "%s: is a directory", tmpdir);
    assert_string_equal(err, want);

    path_in(p, "nope/out.csv");
    assert_int_equal(outputs_add(set, p, &t, err, ERRLEN), -1);
    snprintf(want, sizeof want, "%s: cannot create a temporary file: %s", p,
             strerror(ENOENT));
    assert_string_equal(err, want);

    path_in(p, "twice.csv");
    assert_int_equal(outputs_add(set, p, &t, err, ERRLEN), 0);
    assert_int_equal(outputs_add(set, p, &t, err, ERRLEN), -1);
    assert_contains(err, "named as two different outputs");

    /* A device is written in place and never replaced. */
    assert_int_equal(outputs_add(set, "/dev/null", &t, err, ERRLEN), 0);
    assert_string_equal(t, "/dev/null");
    const double x[1] = {5};
    assert_int_equal(dataio_write_matrix(t, x, 1, 1, err, ERRLEN), 0);

    /* The commit fails if a temporary went missing; the rest is cleaned. */
    path_in(p, "later.csv");
    const char *tl;
    assert_int_equal(outputs_add(set, p, &tl, err, ERRLEN), 0);
    assert_int_equal(count_entries(tmpdir), 2);
    char first[PATHLEN];
    path_in(first, "twice.csv");
    assert_int_equal(outputs_commit(set, err, ERRLEN), 0);
    assert_int_equal(access(first, F_OK), 0);
    assert_int_equal(access(p, F_OK), 0);
    outputs_free(set);
    struct stat st;
    assert_int_equal(stat("/dev/null", &st), 0);
    assert_true(S_ISCHR(st.st_mode));

    set = outputs_new();
    assert_non_null(set);
    path_in(p, "gone.csv");
    assert_int_equal(outputs_add(set, p, &t, err, ERRLEN), 0);
    assert_int_equal(unlink(t), 0);
    assert_int_equal(outputs_commit(set, err, ERRLEN), -1);
    assert_contains(err, "cannot rename");
    outputs_free(set);
    assert_int_equal(access(p, F_OK), -1);
}

/* A write that fails half way (the file size limit standing in for a
 * full disk) is reported, and no temporary is left behind. */
static void test_outputs_failed_write(void **state)
{
    (void)state;
    char p[PATHLEN], err[ERRLEN], want[ERRLEN];
    dataio_outputs *set = outputs_new();
    assert_non_null(set);
    path_in(p, "x.npy");
    const char *t;
    assert_int_equal(outputs_add(set, p, &t, err, ERRLEN), 0);
    double *a = tricky_values(10000);

    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = {4096, old.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    int rc = dataio_write_matrix(t, a, 10000, 1, err, ERRLEN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);

    assert_int_equal(rc, -1);
    snprintf(want, sizeof want, "%s: write failed: %s", t, strerror(EFBIG));
    assert_string_equal(err, want);
    assert_int_equal(count_entries(tmpdir), 0); /* the writer removed it */
    outputs_free(set);
    assert_int_equal(count_entries(tmpdir), 0);
    free(a);
}

/* ---- HDF5 ---------------------------------------------------------------- */

#ifdef EMGMM_HAVE_HDF5

/* A dataset written with the HDF5 API itself: rows x cols (cols 0: 1-D)
 * values of file type `type` from doubles (or int64 when ints is set),
 * contiguous, or chunked by chunk_rows rows with gzip after shuffle and
 * Fletcher's checksum. The file is created unless add is set. */
static void h5_put(const char *file, const char *name, hid_t type,
                   const void *values, bool ints, size_t rows, size_t cols,
                   size_t chunk_rows, bool add)
{
    hid_t f = add ? H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT)
                  : H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    const int rank = cols ? 2 : 1;
    hsize_t dims[2] = {rows, cols}, chunk[2] = {chunk_rows, cols};
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    assert_true(space >= 0 && lcpl >= 0 && dcpl >= 0);
    assert_true(H5Pset_create_intermediate_group(lcpl, 1) >= 0);
    if (chunk_rows) {
        assert_true(H5Pset_chunk(dcpl, rank, chunk) >= 0);
        assert_true(H5Pset_shuffle(dcpl) >= 0);
        assert_true(H5Pset_deflate(dcpl, 6) >= 0);
        assert_true(H5Pset_fletcher32(dcpl) >= 0);
    }
    hid_t d = H5Dcreate2(f, name, type, space, lcpl, dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    assert_true(H5Dwrite(d, ints ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE,
                         H5S_ALL, H5S_ALL, H5P_DEFAULT, values) >= 0);
    assert_true(H5Dclose(d) >= 0);
    assert_true(H5Pclose(dcpl) >= 0);
    assert_true(H5Pclose(lcpl) >= 0);
    assert_true(H5Sclose(space) >= 0);
    assert_true(H5Fclose(f) >= 0);
}

/* The pattern of f8_data as doubles: 10*i + j + 0.25 (exact in float32
 * too). */
static double *pattern(size_t rows, size_t cols)
{
    double *v = xmalloc(rows * cols * sizeof *v);
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            v[i * cols + j] = 10.0 * (double)i + (double)j + 0.25;
    return v;
}

/* FILE:DATASET in out. */
static void h5_name(char *out, const char *file, const char *dataset)
{
    int n = snprintf(out, PATHLEN, "%s/%s:%s", tmpdir, file, dataset);
    assert_true(n > 0 && n < PATHLEN);
}

static void test_h5_names(void **state)
{
    (void)state;
    size_t len = 0;
    const char *d = "x";
    assert_int_equal(dataio_hdf5_name("a/b.h5", &len, &d), 1);
    assert_int_equal(len, 6);
    assert_null(d);
    assert_int_equal(dataio_hdf5_name("run.HDF5:/g/x", &len, &d), 1);
    assert_int_equal(len, 8);
    assert_string_equal(d, "/g/x");
    /* The first .h5 that ends a name; a folder ending in .h5 is not. */
    assert_int_equal(dataio_hdf5_name("d.h5/e.h5:x:y", &len, &d), 1);
    assert_int_equal(len, 9);
    assert_string_equal(d, "x:y");
    assert_int_equal(dataio_hdf5_name("x.h5x", &len, &d), 0);
    assert_int_equal(dataio_hdf5_name("x.npy", NULL, NULL), 0);
    assert_int_equal(dataio_hdf5_name("dir/.h5", NULL, NULL), 0);
    assert_int_equal(dataio_hdf5_name("-", NULL, NULL), 0);
    assert_int_equal(dataio_have_hdf5(), 1);
}

/* float64 and float32 (widened to double), contiguous and chunked with
 * gzip and shuffle, named or the only 2-D dataset of the file. */
static void test_h5_read_types_and_layouts(void **state)
{
    (void)state;
    char file[PATHLEN], name[PATHLEN], err[ERRLEN];
    const size_t rows = 37, cols = 3;
    double *v = pattern(rows, cols);
    path_in(file, "t.h5");
    h5_put(file, "/f64", H5T_IEEE_F64LE, v, false, rows, cols, 0, false);
    h5_put(file, "/g/f32", H5T_IEEE_F32BE, v, false, rows, cols, 0, true);
    h5_put(file, "/g/zip", H5T_IEEE_F64BE, v, false, rows, cols, 8, true);
    h5_put(file, "zip32", H5T_IEEE_F32LE, v, false, rows, cols, 5, true);
    const char *const names[] = {"/f64", "/g/f32", "g/zip", "/zip32"};
    for (size_t k = 0; k < 4; k++) {
        dataio_matrix m = {0};
        h5_name(name, "t.h5", names[k]);
        if (dataio_read_matrix(name, NULL, &m, err, ERRLEN) != 0)
            print_error("%s\n", err);
        assert_non_null(m.data);
        assert_f8_pattern(&m, rows, cols);
        dataio_matrix_free(&m);
    }
    /* float32 values are widened exactly: 0.1f is not 0.1. */
    const double tenth = 0.1;
    path_in(file, "one.h5");
    h5_put(file, "/only", H5T_IEEE_F32LE, &tenth, false, 1, 1, 0, false);
    dataio_matrix m = {0};
    assert_int_equal(dataio_read_matrix(file, NULL, &m, err, ERRLEN), 0);
    assert_int_equal(m.rows, 1);
    assert_int_equal(m.cols, 1);
    assert_true(m.data[0] == (double)0.1f);
    dataio_matrix_free(&m);
    free(v);
}

/* A 1-D dataset is one column; a file with one 2-D dataset and 1-D ones
 * gives the 2-D one; several 2-D datasets are listed. */
static void test_h5_1d_and_choice(void **state)
{
    (void)state;
    char file[PATHLEN], name[PATHLEN], err[ERRLEN], want[ERRLEN + 2 * PATHLEN];
    double *v = pattern(6, 2);
    path_in(file, "c.h5");
    h5_put(file, "/col", H5T_IEEE_F64LE, v, false, 6, 0, 0, false);
    dataio_matrix m = {0};
    assert_int_equal(dataio_read_matrix(file, NULL, &m, err, ERRLEN), 0);
    assert_int_equal(m.rows, 6);
    assert_int_equal(m.cols, 1);
    assert_true(m.data[5] == v[5]);
    dataio_matrix_free(&m);

    h5_put(file, "/x", H5T_IEEE_F64LE, v, false, 6, 2, 0, true);
    assert_int_equal(dataio_read_matrix(file, NULL, &m, err, ERRLEN), 0);
    assert_f8_pattern(&m, 6, 2);
    dataio_matrix_free(&m);

    h5_put(file, "/a/y", H5T_IEEE_F64LE, v, false, 3, 4, 0, true);
    assert_failed_clean(dataio_read_matrix(file, NULL, &m, err, ERRLEN), &m);
    snprintf(want, sizeof want, "%s: 2 two-dimensional datasets: /a/y (3 x "
             "4), /x (6 x 2); name one, as in %s:/a/y", file, file);
    assert_string_equal(err, want);

    /* A dataset that is not there: the file and the dataset are named,
     * and what there is. */
    h5_name(name, "c.h5", "/nope");
    assert_failed_clean(dataio_read_matrix(name, NULL, &m, err, ERRLEN), &m);
    snprintf(want, sizeof want, "%s: no such dataset (the file has /a/y "
             "(3 x 4), /col (6), /x (6 x 2))", name);
    assert_string_equal(err, want);
    h5_name(name, "c.h5", "/a");
    assert_failed_clean(dataio_read_matrix(name, NULL, &m, err, ERRLEN), &m);
    assert_contains(err, ":/a: a group, not a dataset");
    h5_name(name, "c.h5", "");
    assert_failed_clean(dataio_read_matrix(name, NULL, &m, err, ERRLEN), &m);
    assert_contains(err, "no dataset name after ':'");
    /* Integers are not data; an unknown file is not HDF5. */
    const long long ints[2] = {1, 2};
    h5_put(file, "/ints", H5T_STD_I64LE, ints, true, 2, 0, 0, true);
    h5_name(name, "c.h5", "/ints");
    assert_failed_clean(dataio_read_matrix(name, NULL, &m, err, ERRLEN), &m);
    snprintf(want, sizeof want, "%s: the dataset holds integers (8 bytes "
             "each); emgmm reads float64 or float32 data", name);
    assert_string_equal(err, want);
    path_in(file, "text.h5");
    write_bytes(file, "1,2\n", 4);
    assert_failed_clean(dataio_read_matrix(file, NULL, &m, err, ERRLEN), &m);
    assert_contains(err, "text.h5: not an HDF5 file");
    path_in(file, "absent.h5");
    assert_failed_clean(dataio_read_matrix(file, NULL, &m, err, ERRLEN), &m);
    snprintf(want, sizeof want, "%s: cannot open: %s", file,
             strerror(ENOENT));
    assert_string_equal(err, want);
    /* An HDF5 file of another name is read by its content. */
    path_in(file, "c.h5");
    path_in(name, "c.data");
    assert_int_equal(rename(file, name), 0);
    assert_failed_clean(dataio_read_matrix(name, NULL, &m, err, ERRLEN), &m);
    assert_contains(err, "2 two-dimensional datasets");
    free(v);
}

/* Parts of the rows (processes of a distributed fit) are hyperslabs of a
 * contiguous or chunked dataset; a bad value is named at its row in the
 * whole file, and NaN is a value only with allow_missing. */
static void test_h5_parts_and_values(void **state)
{
    (void)state;
    char file[PATHLEN], name[PATHLEN], err[ERRLEN], want[ERRLEN + 2 * PATHLEN];
    const size_t rows = 10, cols = 3;
    double *v = pattern(rows, cols);
    path_in(file, "p.h5");
    h5_put(file, "/flat", H5T_IEEE_F64LE, v, false, rows, cols, 0, false);
    h5_put(file, "/zip", H5T_IEEE_F32LE, v, false, rows, cols, 3, true);
    for (int layout = 0; layout < 2; layout++) {
        h5_name(name, "p.h5", layout ? "/zip" : "/flat");
        for (size_t parts = 1; parts <= 4; parts++) {
            size_t next = 0;
            for (size_t part = 0; part < parts; part++) {
                dataio_matrix m = {0};
                size_t first = 99, total = 99;
                assert_int_equal(dataio_read_matrix_part(name, NULL, part,
                                                         parts, &m, &first,
                                                         &total, err, ERRLEN),
                                 0);
                assert_int_equal(total, rows);
                assert_int_equal(first, next);
                assert_int_equal(m.rows, rows * (part + 1) / parts -
                                             rows * part / parts);
                assert_int_equal(m.cols, cols);
                for (size_t k = 0; k < m.rows * cols; k++)
                    assert_true(m.data[k] == v[first * cols + k]);
                next += m.rows;
                dataio_matrix_free(&m);
            }
            assert_int_equal(next, rows);
        }
    }
    v[8 * cols + 1] = NAN;
    v[9 * cols + 2] = -INFINITY;
    h5_put(file, "/bad", H5T_IEEE_F64LE, v, false, rows, cols, 4, true);
    h5_name(name, "p.h5", "/bad");
    dataio_matrix m = {0};
    assert_failed_clean(dataio_read_matrix_part(name, NULL, 2, 3, &m, NULL,
                                                NULL, err, ERRLEN), &m);
    snprintf(want, sizeof want, "%s: row 9, column 2: missing value (NaN; "
             "pass --missing to accept gaps)", name);
    assert_string_equal(err, want);
    dataio_read_options missing = {0, 0, 1};
    assert_failed_clean(dataio_read_matrix(name, &missing, &m, err, ERRLEN),
                        &m);
    snprintf(want, sizeof want, "%s: row 10, column 3: value is not finite "
             "(-inf)", name);
    assert_string_equal(err, want);
    /* The first two parts hold no infinity: the NaN is a gap. */
    assert_int_equal(dataio_read_matrix_part(name, &missing, 0, 2, &m, NULL,
                                             NULL, err, ERRLEN), 0);
    dataio_matrix_free(&m);
    assert_int_equal(dataio_read_matrix_part(name, &missing, 1, 3, &m, NULL,
                                             NULL, err, ERRLEN), 0);
    dataio_matrix_free(&m);
    /* An explicit range is one hyperslab: rows 1..8 hold no bad value,
     * row 9 (NaN) is named in the whole file. */
    range_pick r = {0, 8, 0, 0};
    size_t first = 99, total = 99;
    assert_int_equal(dataio_read_matrix_rows(name, NULL, pick_range, &r, &m,
                                             &first, &total, err, ERRLEN),
                     0);
    assert_int_equal(r.seen, rows);
    assert_int_equal(m.rows, 8);
    assert_int_equal(first, 0);
    assert_int_equal(total, rows);
    assert_true(m.data[7 * cols + 2] == v[7 * cols + 2]);
    dataio_matrix_free(&m);
    r.first = 6;
    r.count = 3;
    assert_failed_clean(dataio_read_matrix_rows(name, NULL, pick_range, &r,
                                                &m, NULL, NULL, err, ERRLEN),
                        &m);
    assert_contains(err, "row 9, column 2: missing value");
    /* --shape does not go with HDF5. */
    dataio_read_options raw = {10, 3, 0};
    assert_failed_clean(dataio_read_matrix(name, &raw, &m, err, ERRLEN), &m);
    assert_contains(err, "--shape is for raw float64 data, not HDF5");
    /* --stream reads the dataset by hyperslabs: part 1 of 2 is rows
     * rows/2.., its rows as stored; a bad value is named by its row in
     * the file. */
    dataio_map *map = NULL;
    dataio_shape shape = {0, 0, 0, 0};
    assert_int_equal(dataio_map_open(name, NULL, 1, 2, &map, &shape, err,
                                     ERRLEN), 0);
    assert_int_equal(shape.total_rows, rows);
    assert_int_equal(shape.first_row, rows / 2);
    assert_int_equal(shape.rows, rows - rows / 2);
    assert_int_equal(shape.cols, cols);
    double *got = malloc(shape.rows * cols * sizeof *got);
    assert_non_null(got);
    assert_int_equal(dataio_map_rows(map, 0, 3, got), 0); /* rows 6 to 8 */
    for (size_t k = 0; k < 3 * cols; k++)
        assert_true(got[k] == v[rows / 2 * cols + k]);
    assert_int_equal(dataio_map_rows(map, 3, 2, got), -1);
    snprintf(want, sizeof want, "%s: row 9, column 2: value is not finite",
             name);
    assert_non_null(dataio_map_error(map));
    assert_contains(dataio_map_error(map), want);
    dataio_map_close(map);
    free(got);
    free(v);
}

static void test_h5_lengths(void **state)
{
    (void)state;
    char file[PATHLEN], name[PATHLEN], err[ERRLEN], want[ERRLEN + 2 * PATHLEN];
    const long long len[3] = {5, 7, 11};
    double *x = pattern(23, 2);
    path_in(file, "l.h5");
    h5_put(file, "/x", H5T_IEEE_F64LE, x, false, 23, 2, 0, false);
    h5_put(file, "/seq/len", H5T_STD_U16BE, len, true, 3, 0, 0, true);
    size_t *v = NULL, *lines = NULL, n = 0;
    /* Named, or the file's only 1-D dataset. */
    for (int named = 0; named < 2; named++) {
        if (named)
            h5_name(name, "l.h5", "seq/len");
        else
            path_in(name, "l.h5");
        assert_int_equal(dataio_read_lengths(name, &v, &lines, &n, err,
                                             ERRLEN), 0);
        assert_int_equal(n, 3);
        assert_null(lines);
        assert_int_equal(v[0], 5);
        assert_int_equal(v[2], 11);
        free(v);
    }
    const double whole[2] = {3.0, 20.0}, half[2] = {3.0, 2.5};
    h5_put(file, "/w", H5T_IEEE_F32LE, whole, false, 1, 2, 0, true);
    h5_put(file, "/h", H5T_IEEE_F64LE, half, false, 2, 0, 0, true);
    const long long neg[2] = {4, -2};
    h5_put(file, "/n", H5T_STD_I8LE, neg, true, 2, 0, 0, true);
    h5_name(name, "l.h5", "/w");
    assert_int_equal(dataio_read_lengths(name, &v, NULL, &n, err, ERRLEN), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[1], 20);
    free(v);
    h5_name(name, "l.h5", "/h");
    assert_int_equal(dataio_read_lengths(name, &v, NULL, &n, err, ERRLEN), -1);
    assert_null(v);
    snprintf(want, sizeof want, "%s: element 2: length 2.5 is not a positive "
             "whole number", name);
    assert_string_equal(err, want);
    h5_name(name, "l.h5", "/n");
    assert_int_equal(dataio_read_lengths(name, &v, NULL, &n, err, ERRLEN), -1);
    snprintf(want, sizeof want, "%s: element 2: length -2 is not a positive "
             "whole number", name);
    assert_string_equal(err, want);
    h5_name(name, "l.h5", "/x");
    assert_int_equal(dataio_read_lengths(name, &v, NULL, &n, err, ERRLEN), -1);
    assert_contains(err, "the lengths must be a 1-D array");
    /* Several 1-D datasets now: the name must be given. */
    assert_int_equal(dataio_read_lengths(file, &v, NULL, &n, err, ERRLEN), -1);
    assert_contains(err, "3 one-dimensional datasets: /h (2), /n (2), "
                         "/seq/len (3)");
    free(x);
}

/* The datasets written: float64 matrices, int32 labels, the default
 * names, groups made on the way, no second dataset of one name. */
static void test_h5_write(void **state)
{
    (void)state;
    char file[PATHLEN], name[PATHLEN], err[ERRLEN];
    double *a = tricky_values(60);
    const int32_t labels[4] = {0, 2, -1, 2147483647};
    path_in(file, "w.h5");
    assert_int_equal(dataio_write_matrix(file, a, 20, 3, err, ERRLEN), 0);
    assert_int_equal(dataio_write_labels(file, labels, 4, err, ERRLEN), 0);
    h5_name(name, "w.h5", "/deep/er/m");
    assert_int_equal(dataio_write_matrix_as(name, "/ignored", a, 60, 1, err,
                                            ERRLEN), 0);
    path_in(name, "w.h5:/deep/er/m");
    assert_int_equal(dataio_write_matrix(name, a, 60, 1, err, ERRLEN), -1);
    assert_contains(err, "w.h5:/deep/er/m: the file has a dataset of that "
                         "name already");
    /* Read back: with the readers, and with the HDF5 API. */
    dataio_matrix m = {0};
    h5_name(name, "w.h5", "data");
    assert_int_equal(dataio_read_matrix(name, NULL, &m, err, ERRLEN), 0);
    assert_int_equal(m.rows, 20);
    assert_int_equal(m.cols, 3);
    assert_memory_equal(m.data, a, 60 * sizeof *a); /* the same bits */
    dataio_matrix_free(&m);
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, "/labels", H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t type = H5Dget_type(d);
    assert_true(H5Tequal(type, H5T_STD_I32LE) > 0);
    H5Tclose(type);
    int32_t back[4];
    assert_true(H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                        back) >= 0);
    assert_memory_equal(back, labels, sizeof labels);
    H5Dclose(d);
    d = H5Dopen2(f, "/deep/er/m", H5P_DEFAULT);
    assert_true(d >= 0);
    type = H5Dget_type(d);
    assert_true(H5Tequal(type, H5T_IEEE_F64LE) > 0);
    H5Tclose(type);
    H5Dclose(d);
    H5Fclose(f);
    /* A file that is not HDF5 is replaced; a folder is no file. */
    path_in(file, "old.h5");
    write_bytes(file, "old", 3);
    assert_int_equal(dataio_write_labels(file, labels, 4, err, ERRLEN), 0);
    path_in(file, "nope/x.h5");
    assert_int_equal(dataio_write_labels(file, labels, 4, err, ERRLEN), -1);
    assert_contains(err, "nope/x.h5:/labels: cannot create the file");
    assert_int_equal(count_entries(tmpdir), 2);
    free(a);
}

/* Rows written by several processes, one after the other. */
static void test_h5_rows_by_parts(void **state)
{
    (void)state;
    char name[PATHLEN], err[ERRLEN];
    const size_t rows = 11, cols = 2;
    double *v = pattern(rows, cols);
    int32_t lab[11];
    for (size_t i = 0; i < rows; i++)
        lab[i] = (int32_t)(i * 3);
    h5_name(name, "r.h5", "/p");
    assert_int_equal(dataio_h5_create(name, NULL, rows, cols, 0, err, ERRLEN),
                     0);
    path_in(name, "r.h5");
    assert_int_equal(dataio_h5_create(name, "/lab", rows, 0, 1, err, ERRLEN),
                     0);
    for (size_t part = 0; part < 3; part++) {
        const size_t r0 = rows * part / 3, r1 = rows * (part + 1) / 3;
        h5_name(name, "r.h5", "/p");
        assert_int_equal(dataio_h5_write_rows(name, NULL, r0, v + r0 * cols,
                                              r1 - r0, cols, 0, err, ERRLEN),
                         0);
        path_in(name, "r.h5");
        assert_int_equal(dataio_h5_write_rows(name, "/lab", r0, lab + r0,
                                              r1 - r0, 0, 1, err, ERRLEN),
                         0);
    }
    assert_int_equal(dataio_h5_write_rows(name, "/lab", 10, lab, 2, 0, 1, err,
                                          ERRLEN), -1);
    assert_contains(err, "rows 11 to 12 do not fit the dataset");
    dataio_matrix m = {0};
    h5_name(name, "r.h5", "/p");
    assert_int_equal(dataio_read_matrix(name, NULL, &m, err, ERRLEN), 0);
    assert_f8_pattern(&m, rows, cols);
    dataio_matrix_free(&m);
    size_t *n_back = NULL, n = 0;
    h5_name(name, "r.h5", "/lab");
    /* Labels 0, 3, ... are not lengths (0 is not), but the reader says so
     * at element 1: the values arrived. */
    assert_int_equal(dataio_read_lengths(name, &n_back, NULL, &n, err,
                                         ERRLEN), -1);
    assert_contains(err, "element 1: length 0 is not");
    free(v);
}

/* Outputs naming one HDF5 file share its temporary file; each adds its
 * dataset, and the file appears whole at the commit. */
static void test_h5_outputs_share_a_file(void **state)
{
    (void)state;
    char a[PATHLEN], b[PATHLEN], c[PATHLEN], err[ERRLEN];
    path_in(a, "o.h5:/x");
    path_in(b, "o.h5");
    path_in(c, "o.h5:x");
    dataio_outputs *set = outputs_new();
    assert_non_null(set);
    const char *ta, *tb, *tc;
    assert_int_equal(outputs_add(set, a, &ta, err, ERRLEN), 0);
    assert_int_equal(outputs_add(set, b, &tb, err, ERRLEN), 0);
    assert_int_equal(outputs_add(set, c, &tc, err, ERRLEN), -1);
    assert_contains(err, "named as two different outputs");
    assert_int_equal(count_entries(tmpdir), 1); /* one temporary */
    assert_string_equal(ta + strlen(ta) - 8, ".o.h5:/x");
    assert_memory_equal(ta, tb, strlen(tb));
    const double x[3] = {1, 2, 3};
    const int32_t l[3] = {4, 5, 6};
    assert_int_equal(dataio_write_matrix(ta, x, 3, 1, err, ERRLEN), 0);
    assert_int_equal(dataio_write_labels(tb, l, 3, err, ERRLEN), 0);
    path_in(b, "o.h5");
    assert_int_equal(access(b, F_OK), -1);
    assert_int_equal(outputs_commit(set, err, ERRLEN), 0);
    outputs_free(set);
    assert_int_equal(count_entries(tmpdir), 1);
    dataio_matrix m = {0};
    assert_int_equal(dataio_read_matrix(a, NULL, &m, err, ERRLEN), 0);
    assert_matrix(&m, 3, 1, x);
    dataio_matrix_free(&m);
    size_t *v = NULL, n = 0;
    path_in(c, "o.h5:/labels");
    assert_int_equal(dataio_read_lengths(c, &v, NULL, &n, err, ERRLEN), 0);
    assert_int_equal(n, 3);
    assert_int_equal(v[2], 6);
    free(v);

    /* Not committed: nothing is left, the old file is untouched. */
    set = outputs_new();
    assert_non_null(set);
    assert_int_equal(outputs_add(set, a, &ta, err, ERRLEN), 0);
    assert_int_equal(outputs_add(set, c, &tc, err, ERRLEN), 0);
    assert_int_equal(dataio_write_matrix(ta, x, 3, 1, err, ERRLEN), 0);
    outputs_free(set);
    assert_int_equal(count_entries(tmpdir), 1);
    assert_int_equal(dataio_read_matrix(a, NULL, &m, err, ERRLEN), 0);
    dataio_matrix_free(&m);
}

#else /* without HDF5 */

static void test_h5_not_built(void **state)
{
    (void)state;
    char name[PATHLEN], err[ERRLEN], want[ERRLEN + 2 * PATHLEN];
    dataio_matrix m = {0};
    assert_int_equal(dataio_have_hdf5(), 0);
    path_in(name, "x.h5:/data");
    assert_failed_clean(dataio_read_matrix(name, NULL, &m, err, ERRLEN), &m);
    path_in(name, "x.h5");
    snprintf(want, sizeof want, "%s: this emgmm was built without HDF5 "
             "support (install libhdf5-dev and build again)", name);
    assert_string_equal(err, want);
    const double x[1] = {1};
    assert_int_equal(dataio_write_matrix(name, x, 1, 1, err, ERRLEN), -1);
    assert_string_equal(err, want);
    size_t *v = NULL, n = 0;
    assert_int_equal(dataio_read_lengths(name, &v, NULL, &n, err, ERRLEN), -1);
    assert_string_equal(err, want);
    /* An HDF5 file known by its signature. */
    path_in(name, "sig.bin");
    write_bytes(name, "\x89HDF\r\n\x1a\n....", 12);
    assert_failed_clean(dataio_read_matrix(name, NULL, &m, err, ERRLEN), &m);
    assert_contains(err, "built without HDF5 support");
    assert_int_equal(count_entries(tmpdir), 1);
}

#endif /* EMGMM_HAVE_HDF5 */

/* ---- Runner ------------------------------------------------------------ */

static int clean_dir(void **state)
{
    (void)state;
    remove_contents(tmpdir);
    return 0;
}

static int make_dir(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int drop_dir(void **state)
{
    (void)state;
    remove_contents(tmpdir);
    return rmdir(tmpdir);
}

#define T(f) cmocka_unit_test_teardown(f, clean_dir)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_csv_with_header),
        T(test_csv_without_header),
        T(test_csv_header_names),
        T(test_csv_separators),
        T(test_csv_crlf_bom_blank_lines),
        T(test_csv_ragged_rows),
        T(test_csv_not_a_number),
        T(test_csv_missing_values),
        T(test_csv_missing_allowed),
        T(test_csv_not_finite),
        T(test_read_parts),
        T(test_read_row_range),
        T(test_csv_no_data),
        T(test_csv_long_lines_many_rows),
        T(test_csv_from_stdin),
        T(test_open_errors),
        T(test_npy_f8_c_order),
        T(test_npy_f8_fortran_big_endian),
        T(test_npy_f4),
        T(test_npy_1d_and_v2_header),
        T(test_npy_large_unaligned_fortran),
        T(test_npy_from_stdin),
        T(test_npy_size_errors),
        T(test_npy_header_errors),
        T(test_npy_not_finite),
        T(test_raw),
        T(test_write_npy_round_trip),
        T(test_write_csv_round_trip),
        T(test_write_labels),
        T(test_write_stdout),
        T(test_write_errors),
        T(test_outputs_commit),
        T(test_outputs_free_without_commit),
        T(test_outputs_errors),
        T(test_outputs_failed_write),
#ifdef EMGMM_HAVE_HDF5
        T(test_h5_names),
        T(test_h5_read_types_and_layouts),
        T(test_h5_1d_and_choice),
        T(test_h5_parts_and_values),
        T(test_h5_lengths),
        T(test_h5_write),
        T(test_h5_rows_by_parts),
        T(test_h5_outputs_share_a_file),
#else
        T(test_h5_not_built),
#endif
    };
    return cmocka_run_group_tests(tests, make_dir, drop_dir);
}
