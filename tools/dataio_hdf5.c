/*
 * HDF5 files for the data readers and writers: FILE.h5:/path/to/dataset
 * names, float32 or float64 datasets read whole or one block of rows (a
 * hyperslab), and float64 matrices and int32 labels written as datasets.
 *
 * Built on the serial HDF5 library when Meson finds it (-Dhdf5); without
 * it, every entry point fails with a message that says so. The library's
 * own error stack is never printed: each failure becomes one line that
 * names the file and the dataset, with the innermost HDF5 message when
 * there is nothing better to say.
 */
#include "dataio.h"
#include "dataio_private.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef EMGMM_HAVE_HDF5
#include <hdf5.h>
#endif

/* Lengths of sequences beyond this are refused (as for .npy and text). */
#define H5_LENGTH_MAX 9007199254740992.0 /* 2^53 */

/* ".h5" or ".hdf5" (any case) at s, ending the file name: followed by
 * ':' or the end. Returns the extension's length, or 0. */
static size_t hdf5_extension(const char *s)
{
    static const char *const ext[] = {".h5", ".hdf5"};
    for (size_t k = 0; k < sizeof ext / sizeof ext[0]; k++) {
        const size_t n = strlen(ext[k]);
        if (strncasecmp(s, ext[k], n) == 0 && (s[n] == ':' || s[n] == '\0'))
            return n;
    }
    return 0;
}

int dataio_hdf5_name(const char *path, size_t *file_len,
                     const char **dataset)
{
    if (!path)
        return 0;
    for (size_t i = 1; path[i] != '\0'; i++) {
        if (path[i] != '.' || path[i - 1] == '/')
            continue;
        const size_t n = hdf5_extension(path + i);
        if (n == 0)
            continue;
        if (file_len)
            *file_len = i + n;
        if (dataset)
            *dataset = path[i + n] == ':' ? path + i + n + 1 : NULL;
        return 1;
    }
    return 0;
}

int dataio_have_hdf5(void)
{
#ifdef EMGMM_HAVE_HDF5
    return 1;
#else
    return 0;
#endif
}

#ifndef EMGMM_HAVE_HDF5

/* ---- A build without HDF5 ------------------------------------------------ */

static int no_hdf5(const char *path, size_t file_len, char *err,
                   size_t errlen)
{
    dataio_set_error(err, errlen, "%.*s: this emgmm was built without HDF5 "
                     "support (install libhdf5-dev and build again)",
                     (int)file_len, path);
    return -1;
}

int dataio_h5_read_matrix(const char *path, size_t file_len,
                          const char *dataset, int allow_missing,
                          dataio_row_range_fn choose, void *choose_user,
                          dataio_matrix *out, size_t *first_row,
                          size_t *total_rows, char *err, size_t errlen)
{
    (void)dataset, (void)allow_missing, (void)choose, (void)choose_user;
    (void)out, (void)first_row, (void)total_rows;
    return no_hdf5(path, file_len, err, errlen);
}

int dataio_h5_read_lengths(const char *path, size_t file_len,
                           const char *dataset, size_t **lengths, size_t *n,
                           char *err, size_t errlen)
{
    (void)dataset, (void)lengths, (void)n;
    return no_hdf5(path, file_len, err, errlen);
}

int dataio_h5_write(const char *path, const char *default_dataset,
                    const void *a, size_t rows, size_t cols, int int32,
                    char *err, size_t errlen)
{
    size_t file_len = strlen(path);
    (void)dataio_hdf5_name(path, &file_len, NULL);
    (void)default_dataset, (void)a, (void)rows, (void)cols, (void)int32;
    return no_hdf5(path, file_len, err, errlen);
}

int dataio_h5_create(const char *path, const char *default_dataset,
                     size_t rows, size_t cols, int int32, char *err,
                     size_t errlen)
{
    return dataio_h5_write(path, default_dataset, NULL, rows, cols, int32,
                           err, errlen);
}

int dataio_h5_write_rows(const char *path, const char *default_dataset,
                         size_t first_row, const void *rows, size_t n_rows,
                         size_t cols, int int32, char *err, size_t errlen)
{
    (void)first_row, (void)n_rows;
    return dataio_h5_write(path, default_dataset, rows, 0, cols, int32, err,
                           errlen);
}

int dataio_h5_in_open(const char *path, size_t file_len, const char *dataset,
                      dataio_h5_in **out, size_t *rows, size_t *cols,
                      char *shown, size_t showlen, char *err, size_t errlen)
{
    (void)dataset, (void)rows, (void)cols, (void)shown, (void)showlen;
    *out = NULL;
    return no_hdf5(path, file_len, err, errlen);
}

int dataio_h5_in_rows(dataio_h5_in *s, size_t first, size_t count,
                      double *out, char *err, size_t errlen)
{
    (void)s, (void)first, (void)count, (void)out;
    dataio_set_error(err, errlen, "HDF5 is not available");
    return -1;
}

void dataio_h5_in_close(dataio_h5_in *s) { (void)s; }

int dataio_h5_out_open(const char *path, const char *default_dataset,
                       int create, size_t total_rows, size_t cols, int int32,
                       dataio_h5_out **out, char *err, size_t errlen)
{
    size_t file_len = strlen(path);
    (void)dataio_hdf5_name(path, &file_len, NULL);
    (void)default_dataset, (void)create, (void)total_rows, (void)cols;
    (void)int32;
    *out = NULL;
    return no_hdf5(path, file_len, err, errlen);
}

int dataio_h5_out_rows(dataio_h5_out *w, size_t first_row, const void *rows,
                       size_t n, char *err, size_t errlen)
{
    (void)w, (void)first_row, (void)rows, (void)n;
    dataio_set_error(err, errlen, "HDF5 is not available");
    return -1;
}

int dataio_h5_out_close(dataio_h5_out *w, char *err, size_t errlen)
{
    (void)w, (void)err, (void)errlen;
    return 0;
}

#else /* EMGMM_HAVE_HDF5 */

/* ---- Names and messages ------------------------------------------------ */

#define NO_ID ((hid_t)-1)

/* Closes what was opened (any kind of identifier); a failure to close
 * matters only for a file written, which is closed with H5Fclose. */
static void close_id(hid_t id)
{
    if (id >= 0)
        (void)H5Idec_ref(id);
}

/* The library prints its error stack on standard error by default; the
 * messages here are made of it instead. Called by every entry point (the
 * setting is the process's, and cheap to repeat). */
static void h5_quiet(void)
{
    static bool once;
    if (!once) {
        once = true;
        /* No clean-up at exit: HDF5 1.10 crashes there on a file whose
         * close failed (a full disk while writing). Every file is closed
         * here before the entry point returns; what the library keeps
         * is freed by the exit itself. (Fails harmlessly when the
         * library was started already.) */
        (void)H5dont_atexit();
    }
    (void)H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* The innermost message of the HDF5 error stack (what actually failed),
 * shortened; "" when there is none. */
typedef struct h5_reason {
    char text[200];
} h5_reason;

static herr_t reason_walk(unsigned n, const H5E_error2_t *e, void *data)
{
    h5_reason *r = data;
    if (n != 0 || !e->desc)
        return 0;
    /* A failed system call reads "file write failed: time = ...,
     * filename = ..., errno = 28, error message = 'No space left on
     * device', ...": keep its first words and the system's message. */
    const char *msg = strstr(e->desc, "error message = '");
    const char *colon = strchr(e->desc, ':');
    if (msg && colon && colon < msg) {
        msg += strlen("error message = '");
        snprintf(r->text, sizeof r->text, "%.*s: %.*s",
                 (int)(colon - e->desc), e->desc, (int)strcspn(msg, "'"),
                 msg);
    } else {
        snprintf(r->text, sizeof r->text, "%s", e->desc);
    }
    return 0;
}

static const char *h5_why(h5_reason *r)
{
    r->text[0] = '\0';
    (void)H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, reason_walk, r);
    return r->text;
}

/* A file and the dataset named in it: for messages, "FILE:/DATASET". */
typedef struct h5_target {
    char *file;    /* the file's name (malloc'd) */
    char *dataset; /* "/path/to/dataset" (malloc'd), or NULL */
    char shown[384];
} h5_target;

static void target_show(h5_target *t)
{
    if (t->dataset)
        snprintf(t->shown, sizeof t->shown, "%s:%s", t->file, t->dataset);
    else
        snprintf(t->shown, sizeof t->shown, "%s", t->file);
}

/* "name" and "/name" are the same dataset (the root's); the message
 * shows the absolute form. */
static char *absolute_name(const char *name)
{
    const size_t n = strlen(name);
    char *s = malloc(n + 2);
    if (!s)
        return NULL;
    s[0] = '/';
    memcpy(s + (name[0] == '/' ? 0 : 1), name, n + 1);
    return s;
}

static void target_free(h5_target *t)
{
    free(t->file);
    free(t->dataset);
    memset(t, 0, sizeof *t);
}

/* Splits path (FILE[:DATASET], file_len the length of FILE) into t;
 * default_dataset (may be NULL) stands for a missing DATASET. */
static int target_init(h5_target *t, const char *path, size_t file_len,
                       const char *dataset, const char *default_dataset,
                       char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    t->file = strndup(path, file_len);
    if (!t->file) {
        dataio_set_error(err, errlen, "%.*s: out of memory", (int)file_len,
                         path);
        return -1;
    }
    target_show(t);
    if (dataset && strspn(dataset, "/") == strlen(dataset)) {
        dataio_set_error(err, errlen, "%s: no dataset name after ':' (write "
                         "%s:/path/to/dataset)", t->file, t->file);
        target_free(t);
        return -1;
    }
    if (!dataset)
        dataset = default_dataset;
    if (dataset) {
        t->dataset = absolute_name(dataset);
        if (!t->dataset) {
            dataio_set_error(err, errlen, "%s: out of memory", t->file);
            target_free(t);
            return -1;
        }
        target_show(t);
    }
    return 0;
}

/* Whether the file starts with the HDF5 signature. */
static bool has_signature(const char *file)
{
    static const unsigned char magic[8] = {0x89, 'H', 'D', 'F',
                                           '\r', '\n', 0x1a, '\n'};
    unsigned char b[8];
    FILE *f = fopen(file, "rb");
    if (!f)
        return false;
    const bool yes = fread(b, 1, sizeof b, f) == sizeof b &&
                     memcmp(b, magic, sizeof b) == 0;
    fclose(f);
    return yes;
}

/* File access: HDF5's file locks where the file system has them, and no
 * failure where it has none (Lustre and NFS mounts often do not). */
static hid_t file_access(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 12, 1) || \
    (H5_VERSION_GE(1, 10, 7) && !H5_VERSION_GE(1, 12, 0))
    if (fapl >= 0 && H5Pset_file_locking(fapl, 1, 1) < 0) {
        H5Pclose(fapl);
        return NO_ID;
    }
#endif
    return fapl;
}

/* Opens t->file read-only (or for writing), with the system's message
 * when it cannot be opened at all. */
static hid_t open_file(const h5_target *t, bool write, char *err,
                       size_t errlen)
{
    int fd = open(t->file, write ? O_RDWR : O_RDONLY);
    struct stat st;
    int failed = fd < 0 ? errno : 0;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
        failed = EISDIR;
    if (fd >= 0)
        close(fd);
    if (failed) {
        dataio_set_error(err, errlen, "%s: cannot open: %s", t->file,
                         strerror(failed));
        return NO_ID;
    }
    hid_t fapl = file_access();
    hid_t f = fapl < 0 ? NO_ID
                       : H5Fopen(t->file,
                                 write ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl);
    h5_reason why;
    h5_why(&why);
    close_id(fapl);
    if (f < 0) {
        if (!has_signature(t->file))
            dataio_set_error(err, errlen, "%s: not an HDF5 file (a name "
                             "ending in .h5 or .hdf5 is read as HDF5)",
                             t->file);
        else
            dataio_set_error(err, errlen, "%s: cannot open as HDF5 (%s)",
                             t->file, why.text);
    }
    return f;
}

/* ---- The datasets of a file ------------------------------------------- */

typedef struct h5_entry {
    char *name; /* absolute */
    int rank;
    hsize_t dims[2];
} h5_entry;

typedef struct h5_list {
    h5_entry *e;
    size_t n, cap;
    bool failed; /* out of memory */
} h5_list;

static void list_free(h5_list *l)
{
    for (size_t k = 0; k < l->n; k++)
        free(l->e[k].name);
    free(l->e);
    memset(l, 0, sizeof *l);
}

static herr_t visit_link(hid_t group, const char *name,
                         const H5L_info_t *info, void *data)
{
    h5_list *l = data;
    if (info->type != H5L_TYPE_HARD)
        return 0;
    hid_t obj = H5Oopen(group, name, H5P_DEFAULT);
    if (obj < 0)
        return 0; /* not readable: not a candidate */
    h5_entry e = {NULL, -1, {0, 0}};
    if (H5Iget_type(obj) == H5I_DATASET) {
        hid_t space = H5Dget_space(obj);
        e.rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
        if (e.rank >= 1 && e.rank <= 2 &&
            H5Sget_simple_extent_dims(space, e.dims, NULL) < 0)
            e.rank = -1;
        close_id(space);
    }
    close_id(obj);
    if (e.rank < 0)
        return 0; /* a group, a named type, or an unreadable dataset */
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        h5_entry *p = realloc(l->e, cap * sizeof *p);
        if (!p) {
            l->failed = true;
            return -1;
        }
        l->e = p;
        l->cap = cap;
    }
    e.name = absolute_name(name);
    if (!e.name) {
        l->failed = true;
        return -1;
    }
    l->e[l->n++] = e;
    return 0;
}

/* Every dataset of the file, in name order. */
static int list_datasets(hid_t f, const h5_target *t, h5_list *l, char *err,
                         size_t errlen)
{
    memset(l, 0, sizeof *l);
    if (H5Lvisit(f, H5_INDEX_NAME, H5_ITER_INC, visit_link, l) < 0) {
        h5_reason why;
        h5_why(&why);
        if (l->failed)
            dataio_set_error(err, errlen, "%s: out of memory", t->file);
        else
            dataio_set_error(err, errlen, "%s: cannot list the datasets "
                             "(%s)", t->file, why.text);
        list_free(l);
        return -1;
    }
    return 0;
}

/* "/a (100 x 3), /b (7), ..." : the datasets of rank `rank` (0: all) in
 * at most cap bytes. */
static void describe(const h5_list *l, int rank, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t k = 0; k < l->n; k++) {
        const h5_entry *e = &l->e[k];
        if (rank && e->rank != rank)
            continue;
        char one[320];
        if (e->rank == 2)
            snprintf(one, sizeof one, "%s%s (%llu x %llu)", used ? ", " : "",
                     e->name, (unsigned long long)e->dims[0],
                     (unsigned long long)e->dims[1]);
        else if (e->rank == 1)
            snprintf(one, sizeof one, "%s%s (%llu)", used ? ", " : "",
                     e->name, (unsigned long long)e->dims[0]);
        else
            snprintf(one, sizeof one, "%s%s (%d-D)", used ? ", " : "",
                     e->name, e->rank);
        if (used + strlen(one) + 6 > cap) {
            snprintf(out + used, cap - used, "%s...", used ? ", " : "");
            return;
        }
        memcpy(out + used, one, strlen(one) + 1);
        used += strlen(one);
    }
}

static size_t count_rank(const h5_list *l, int rank)
{
    size_t n = 0;
    for (size_t k = 0; k < l->n; k++)
        n += l->e[k].rank == rank;
    return n;
}

/* Without a dataset in the name: the only dataset of rank `want` (data:
 * the only 2-D one, else the only 1-D one; lengths: the only 1-D one). */
static int pick_dataset(hid_t f, h5_target *t, bool lengths, char *err,
                        size_t errlen)
{
    h5_list l;
    if (list_datasets(f, t, &l, err, errlen) != 0)
        return -1;
    int want = lengths ? 1 : count_rank(&l, 2) > 0 ? 2 : 1;
    const size_t n = count_rank(&l, want);
    int rc = 0;
    if (n == 1) {
        for (size_t k = 0; k < l.n; k++)
            if (l.e[k].rank == want) {
                t->dataset = l.e[k].name;
                l.e[k].name = NULL;
            }
        target_show(t);
    } else {
        char names[300];
        const char *example = "/path/to/dataset";
        for (size_t k = l.n; k-- > 0;)
            if (l.e[k].rank == want)
                example = l.e[k].name;
        describe(&l, n > 1 ? want : 0, names, sizeof names);
        /* FILE:/DATASET is read as such only for a .h5 or .hdf5 name. */
        const char *rename = dataio_hdf5_name(t->file, NULL, NULL)
                                 ? "" : " (with the file renamed to .h5)";
        if (n > 1)
            dataio_set_error(err, errlen, "%s: %zu %s datasets: %s; name "
                             "one, as in %s:%s%s", t->file, n,
                             want == 2 ? "two-dimensional" : "one-dimensional",
                             names, t->file, example, rename);
        else if (l.n == 0)
            dataio_set_error(err, errlen, "%s: no dataset in the file",
                             t->file);
        else
            dataio_set_error(err, errlen, "%s: no %s dataset (the file has "
                             "%s); name one, as in %s:/path/to/dataset%s",
                             t->file,
                             lengths ? "one-dimensional"
                                     : "one- or two-dimensional",
                             names, t->file, rename);
        rc = -1;
    }
    list_free(&l);
    return rc;
}

/* Opens t->dataset, with a message that lists the datasets there are
 * when it is not one. */
static hid_t open_dataset(hid_t f, const h5_target *t, char *err,
                          size_t errlen)
{
    hid_t obj = H5Oopen(f, t->dataset, H5P_DEFAULT);
    if (obj >= 0 && H5Iget_type(obj) == H5I_DATASET)
        return obj;
    const H5I_type_t type = obj >= 0 ? H5Iget_type(obj) : H5I_BADID;
    close_id(obj);
    h5_list l;
    char names[300] = "";
    if (list_datasets(f, t, &l, err, errlen) == 0) {
        describe(&l, 0, names, sizeof names);
        list_free(&l);
    }
    dataio_set_error(err, errlen, "%s: %s (the file has %s)", t->shown,
                     type == H5I_BADID ? "no such dataset"
                     : type == H5I_GROUP ? "a group, not a dataset"
                                         : "not a dataset",
                     names[0] ? names : "no dataset");
    return NO_ID;
}

/* The filters of a dataset this library does not have (a plugin's
 * compression, such as h5py's lzf): the reason a read failed. */
static bool missing_filter(hid_t d, char *name, size_t namelen)
{
    hid_t dcpl = H5Dget_create_plist(d);
    int n = dcpl < 0 ? 0 : H5Pget_nfilters(dcpl);
    bool missing = false;
    for (int i = 0; i < n && !missing; i++) {
        unsigned flags = 0, config = 0;
        size_t nelmts = 0;
        name[0] = '\0';
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &nelmts,
                                         NULL, namelen, name, &config);
        if (id >= 0 && H5Zfilter_avail(id) <= 0) {
            missing = true;
            if (!name[0])
                snprintf(name, namelen, "filter %d", (int)id);
        }
    }
    close_id(dcpl);
    return missing;
}

/* The dataset's shape: rank 1 (n values) or 2. */
static int dataset_shape(hid_t d, const h5_target *t, int *rank,
                         hsize_t dims[2], char *err, size_t errlen)
{
    hid_t space = H5Dget_space(d);
    int r = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    dims[0] = dims[1] = 0;
    if (r >= 1 && r <= 2 && H5Sget_simple_extent_dims(space, dims, NULL) < 0)
        r = -1;
    h5_reason why;
    h5_why(&why); /* before another call clears the error stack */
    close_id(space);
    if (r < 0) {
        dataio_set_error(err, errlen, "%s: cannot read the shape (%s)",
                         t->shown, why.text);
        return -1;
    }
    if (r < 1 || r > 2) {
        dataio_set_error(err, errlen, "%s: the dataset has %d dimensions; "
                         "emgmm reads 1-D (one column) or 2-D datasets",
                         t->shown, r);
        return -1;
    }
    *rank = r;
    return 0;
}

/* The class of the values: float (data) or also integer (lengths). */
static int check_type(hid_t d, const h5_target *t, bool integers_too,
                      bool *integer, char *err, size_t errlen)
{
    hid_t type = H5Dget_type(d);
    H5T_class_t cls = type < 0 ? H5T_NO_CLASS : H5Tget_class(type);
    size_t size = type < 0 ? 0 : H5Tget_size(type);
    close_id(type);
    *integer = cls == H5T_INTEGER;
    if (cls == H5T_FLOAT && (size == 4 || size == 8))
        return 0;
    if (integers_too && cls == H5T_INTEGER)
        return 0;
    const char *what = cls == H5T_INTEGER  ? "integers"
                       : cls == H5T_FLOAT  ? "floats of an unusual size"
                       : cls == H5T_STRING ? "strings"
                       : cls == H5T_COMPOUND ? "compound values"
                                             : "values that are not numbers";
    if (integers_too)
        dataio_set_error(err, errlen, "%s: the dataset holds %s; lengths "
                         "are integers (or whole float64 numbers)",
                         t->shown, what);
    else
        dataio_set_error(err, errlen, "%s: the dataset holds %s (%zu bytes "
                         "each); emgmm reads float64 or float32 data",
                         t->shown, what, size);
    return -1;
}

/* Reads rows [r0, r0 + n) (all columns) as doubles into out. */
static int read_rows(hid_t d, const h5_target *t, int rank,
                     const hsize_t dims[2], size_t r0, size_t n, double *out,
                     char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    hsize_t start[2] = {r0, 0}, count[2] = {n, rank == 2 ? dims[1] : 1};
    hid_t file_space = H5Dget_space(d);
    hid_t mem_space = H5Screate_simple(rank, count, NULL);
    herr_t st = file_space < 0 || mem_space < 0
                    ? -1
                    : H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start,
                                          NULL, count, NULL);
    if (st >= 0)
        st = H5Dread(d, H5T_NATIVE_DOUBLE, mem_space, file_space,
                     H5P_DEFAULT, out);
    h5_reason why;
    h5_why(&why);
    close_id(file_space);
    close_id(mem_space);
    if (st >= 0)
        return 0;
    char filter[64];
    if (missing_filter(d, filter, sizeof filter))
        dataio_set_error(err, errlen, "%s: the dataset is compressed with "
                         "%s, which this HDF5 library does not have (rewrite "
                         "it with gzip: h5repack -f GZIP=4)", t->shown,
                         filter);
    else
        dataio_set_error(err, errlen, "%s: cannot read rows %zu to %zu (%s)",
                         t->shown, r0 + 1, r0 + n, why.text);
    return -1;
}

/* Opens t's file and dataset for reading (the only suitable one when t
 * names none; lengths: 1-D datasets and integers are wanted), and checks
 * its type and shape. *f and *d are the caller's to close, also on
 * failure (NO_ID when not opened). */
static int open_for_reading(h5_target *t, bool lengths, hid_t *f, hid_t *d,
                            bool *integer, int *rank, hsize_t dims[2],
                            char *err, size_t errlen)
{
    h5_quiet();
    *f = open_file(t, false, err, errlen);
    if (*f < 0 || (!t->dataset && pick_dataset(*f, t, lengths, err,
                                               errlen) != 0))
        return -1;
    if ((*d = open_dataset(*f, t, err, errlen)) < 0)
        return -1;
    if (check_type(*d, t, lengths, integer, err, errlen) != 0 ||
        dataset_shape(*d, t, rank, dims, err, errlen) != 0)
        return -1;
    return 0;
}

/* ---- Reading ------------------------------------------------------------- */

int dataio_h5_read_matrix(const char *path, size_t file_len,
                          const char *dataset, int allow_missing,
                          dataio_row_range_fn choose, void *choose_user,
                          dataio_matrix *out, size_t *first_row,
                          size_t *total_rows, char *err, size_t errlen)
{
    h5_target t;
    if (target_init(&t, path, file_len, dataset, NULL, err, errlen) != 0)
        return -1;
    int rc = -1;
    hid_t f = NO_ID, d = NO_ID;
    double *data = NULL;
    bool integer;
    int rank = 0;
    hsize_t dims[2];
    if (open_for_reading(&t, false, &f, &d, &integer, &rank, dims, err,
                         errlen) != 0)
        goto done;
    const size_t rows = (size_t)dims[0];
    const size_t cols = rank == 2 ? (size_t)dims[1] : 1;
    if (rows == 0 || cols == 0) {
        dataio_set_error(err, errlen, "%s: no data (shape %zu x %zu)",
                         t.shown, rows, cols);
        goto done;
    }
    if (dims[0] > SIZE_MAX || dims[1] > SIZE_MAX || rows > SIZE_MAX / cols ||
        rows * cols > SIZE_MAX / sizeof(double)) {
        dataio_set_error(err, errlen, "%s: shape %llu x %llu is too large",
                         t.shown, (unsigned long long)dims[0],
                         (unsigned long long)(rank == 2 ? dims[1] : 1));
        goto done;
    }
    /* The rows chosen (a rank's block): one hyperslab, the same rows as
     * a .npy's. */
    size_t r0, r1;
    dataio_pick_rows(choose, choose_user, rows, &r0, &r1);
    const size_t n = (r1 - r0) * cols;
    data = malloc((n ? n : 1) * sizeof *data);
    if (!data) {
        dataio_set_error(err, errlen, "%s: out of memory for %zu x %zu "
                         "values", t.shown, r1 - r0, cols);
        goto done;
    }
    if (read_rows(d, &t, rank, dims, r0, r1 - r0, data, err, errlen) != 0)
        goto done;
    for (size_t k = 0; k < n; k++) {
        if (isfinite(data[k]) || (isnan(data[k]) && allow_missing))
            continue;
        const size_t i = r0 + k / cols + 1, j = k % cols + 1;
        if (isnan(data[k]))
            dataio_set_error(err, errlen, "%s: row %zu, column %zu: missing "
                             "value (NaN; pass --missing to accept gaps)",
                             t.shown, i, j);
        else
            dataio_set_error(err, errlen, "%s: row %zu, column %zu: value is "
                             "not finite (%s)", t.shown, i, j,
                             data[k] > 0 ? "inf" : "-inf");
        goto done;
    }
    out->data = data;
    out->rows = r1 - r0;
    out->cols = cols;
    data = NULL;
    if (first_row)
        *first_row = r0;
    if (total_rows)
        *total_rows = rows;
    rc = 0;
done:
    free(data);
    close_id(d);
    close_id(f);
    target_free(&t);
    return rc;
}

int dataio_h5_read_lengths(const char *path, size_t file_len,
                           const char *dataset, size_t **lengths, size_t *n,
                           char *err, size_t errlen)
{
    h5_target t;
    if (target_init(&t, path, file_len, dataset, NULL, err, errlen) != 0)
        return -1;
    int rc = -1;
    hid_t f = NO_ID, d = NO_ID;
    double *v = NULL;
    size_t *out = NULL;
    bool integer;
    int rank = 0;
    hsize_t dims[2];
    if (open_for_reading(&t, true, &f, &d, &integer, &rank, dims, err,
                         errlen) != 0)
        goto done;
    if (rank == 2 && dims[0] != 1 && dims[1] != 1) {
        dataio_set_error(err, errlen, "%s: the lengths must be a 1-D array "
                         "(this one has 2 dimensions of more than one row "
                         "and column)", t.shown);
        goto done;
    }
    const hsize_t count = rank == 2 ? dims[0] * dims[1] : dims[0];
    if (count == 0) {
        dataio_set_error(err, errlen, "%s: no lengths (an empty array)",
                         t.shown);
        goto done;
    }
    if (count > SIZE_MAX / sizeof(double)) {
        dataio_set_error(err, errlen, "%s: %llu lengths are too many",
                         t.shown, (unsigned long long)count);
        goto done;
    }
    v = malloc((size_t)count * sizeof *v);
    out = malloc((size_t)count * sizeof *out);
    if (!v || !out) {
        dataio_set_error(err, errlen, "%s: out of memory", t.shown);
        goto done;
    }
    if (read_rows(d, &t, rank, dims, 0, (size_t)dims[0], v, err, errlen) != 0)
        goto done;
    for (size_t i = 0; i < (size_t)count; i++) {
        const double x = v[i];
        if (!(isfinite(x) && x >= 1.0 && x == floor(x) && x <= H5_LENGTH_MAX)) {
            char shown[64];
            snprintf(shown, sizeof shown, integer ? "%.0f" : "%.17g", x);
            dataio_set_error(err, errlen, "%s: element %zu: length %s is not "
                             "a positive whole number%s", t.shown, i + 1,
                             shown,
                             x > H5_LENGTH_MAX ? " of a sensible size" : "");
            goto done;
        }
        out[i] = (size_t)x;
    }
    *lengths = out;
    *n = (size_t)count;
    out = NULL;
    rc = 0;
done:
    free(v);
    free(out);
    close_id(d);
    close_id(f);
    target_free(&t);
    return rc;
}

/* ---- Writing ------------------------------------------------------------- */

/* Flushes a file HDF5 has closed to the disk, so that a full disk shows
 * here and not after the rename. */
static int sync_file(const char *file)
{
    int fd = open(file, O_RDONLY);
    if (fd < 0)
        return errno;
    struct stat st;
    int failed = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && fsync(fd) != 0)
        failed = errno;
    if (close(fd) != 0 && !failed)
        failed = errno;
    return failed;
}

/* Splits an output's name into its file and dataset parts; -1 with a
 * message when it is not an HDF5 name. */
static int output_name(const char *path, size_t *file_len,
                       const char **dataset, char *err, size_t errlen)
{
    if (dataio_hdf5_name(path, file_len, dataset))
        return 0;
    dataio_set_error(err, errlen, "%s: not an HDF5 name (.h5 or .hdf5)",
                     path);
    return -1;
}

/*
 * Creates the dataset t->dataset (rows x cols doubles, or rows int32 when
 * int32 is set and cols is 0) and writes `a` into it, or, when a is NULL,
 * only allocates it (for dataio_h5_write_rows). A file that is missing,
 * empty (an output set's new temporary) or not HDF5 is created; an HDF5
 * file gets the dataset added.
 */
static int write_dataset(const h5_target *t, const void *a, size_t rows,
                         size_t cols, int int32, char *err, size_t errlen)
{
    struct stat st;
    const bool add = stat(t->file, &st) == 0 && S_ISREG(st.st_mode) &&
                     st.st_size > 0 && has_signature(t->file);
    hid_t f = NO_ID, space = NO_ID, lcpl = NO_ID, dcpl = NO_ID, d = NO_ID;
    hid_t fapl = file_access();
    h5_reason why = {""};
    const char *doing = "cannot create the file";
    bool made = false;
    int rc = -1;
    if (fapl < 0)
        goto failed;
    if (add) {
        f = open_file(t, true, err, errlen);
        if (f < 0)
            goto done;
        if (H5Lexists(f, t->dataset, H5P_DEFAULT) > 0) {
            dataio_set_error(err, errlen, "%s: the file has a dataset of "
                             "that name already", t->shown);
            goto done;
        }
    } else {
        f = H5Fcreate(t->file, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        if (f < 0)
            goto failed;
    }
    const hsize_t dims[2] = {rows, cols};
    const int rank = cols == 0 ? 1 : 2;
    doing = "cannot create the dataset";
    space = H5Screate_simple(rank, dims, NULL);
    lcpl = H5Pcreate(H5P_LINK_CREATE);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (space < 0 || lcpl < 0 || dcpl < 0 ||
        H5Pset_create_intermediate_group(lcpl, 1) < 0)
        goto failed;
    /* Rows written later by several processes: the space is there from
     * the start, and nothing is written twice. */
    if (!a && (H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) < 0 ||
               H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0))
        goto failed;
    d = H5Dcreate2(f, t->dataset, int32 ? H5T_STD_I32LE : H5T_IEEE_F64LE,
                   space, lcpl, dcpl, H5P_DEFAULT);
    if (d < 0)
        goto failed;
    made = true;
    doing = "cannot write the dataset";
    if (a && rows > 0 &&
        H5Dwrite(d, int32 ? H5T_NATIVE_INT32 : H5T_NATIVE_DOUBLE, H5S_ALL,
                 H5S_ALL, H5P_DEFAULT, a) < 0)
        goto failed;
    doing = "cannot close the dataset";
    hid_t dd = d;
    d = NO_ID;
    if (H5Dclose(dd) < 0)
        goto failed;
    doing = "cannot write the file";
    hid_t ff = f;
    f = NO_ID;
    if (H5Fclose(ff) < 0)
        goto failed;
    int failed = sync_file(t->file);
    if (failed) {
        dataio_set_error(err, errlen, "%s: write failed: %s", t->file,
                         strerror(failed));
        goto done;
    }
    rc = 0;
    goto done;
failed:
    h5_why(&why);
    dataio_set_error(err, errlen, "%s: %s (%s)", t->shown, doing,
                     why.text[0] ? why.text : "HDF5 error");
done:
    close_id(d);
    if (rc != 0 && made && add && f >= 0)
        (void)H5Ldelete(f, t->dataset, H5P_DEFAULT); /* best effort */
    close_id(f);
    close_id(space);
    close_id(lcpl);
    close_id(dcpl);
    close_id(fapl);
    /* A file made here is not left half written. */
    if (rc != 0 && !add && stat(t->file, &st) == 0 && S_ISREG(st.st_mode))
        remove(t->file);
    return rc;
}

int dataio_h5_write(const char *path, const char *default_dataset,
                    const void *a, size_t rows, size_t cols, int int32,
                    char *err, size_t errlen)
{
    h5_quiet();
    size_t file_len = 0;
    const char *dataset = NULL;
    if (output_name(path, &file_len, &dataset, err, errlen) != 0)
        return -1;
    h5_target t;
    if (target_init(&t, path, file_len, dataset,
                    default_dataset ? default_dataset : "/data", err,
                    errlen) != 0)
        return -1;
    const int rc = write_dataset(&t, a, rows, cols, int32, err, errlen);
    target_free(&t);
    return rc;
}

int dataio_h5_create(const char *path, const char *default_dataset,
                     size_t rows, size_t cols, int int32, char *err,
                     size_t errlen)
{
    return dataio_h5_write(path, default_dataset, NULL, rows, cols, int32,
                           err, errlen);
}

int dataio_h5_write_rows(const char *path, const char *default_dataset,
                         size_t first_row, const void *rows, size_t n_rows,
                         size_t cols, int int32, char *err, size_t errlen)
{
    h5_quiet();
    size_t file_len = 0;
    const char *dataset = NULL;
    if (output_name(path, &file_len, &dataset, err, errlen) != 0)
        return -1;
    h5_target t;
    if (target_init(&t, path, file_len, dataset,
                    default_dataset ? default_dataset : "/data", err,
                    errlen) != 0)
        return -1;
    int rc = -1;
    hid_t f = open_file(&t, true, err, errlen), d = NO_ID;
    hid_t file_space = NO_ID, mem_space = NO_ID;
    const char *doing = "cannot open the dataset";
    h5_reason why = {""};
    if (f < 0)
        goto done;
    d = H5Dopen2(f, t.dataset, H5P_DEFAULT);
    if (d < 0)
        goto failed;
    doing = "cannot write the rows";
    const int rank = cols == 0 ? 1 : 2;
    hsize_t start[2] = {first_row, 0}, count[2] = {n_rows, cols};
    hsize_t dims[2] = {0, 0};
    file_space = H5Dget_space(d);
    if (file_space < 0 || H5Sget_simple_extent_ndims(file_space) != rank ||
        H5Sget_simple_extent_dims(file_space, dims, NULL) < 0 ||
        first_row + n_rows > dims[0] || (rank == 2 && dims[1] != cols)) {
        dataio_set_error(err, errlen, "%s: rows %zu to %zu do not fit the "
                         "dataset", t.shown, first_row + 1,
                         first_row + n_rows);
        goto done;
    }
    if (n_rows > 0) {
        mem_space = H5Screate_simple(rank, count, NULL);
        if (mem_space < 0 ||
            H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL,
                                count, NULL) < 0 ||
            H5Dwrite(d, int32 ? H5T_NATIVE_INT32 : H5T_NATIVE_DOUBLE,
                     mem_space, file_space, H5P_DEFAULT, rows) < 0)
            goto failed;
    }
    doing = "cannot close the dataset";
    hid_t dd = d;
    d = NO_ID;
    if (H5Dclose(dd) < 0)
        goto failed;
    doing = "cannot write the file";
    hid_t ff = f;
    f = NO_ID;
    if (H5Fclose(ff) < 0)
        goto failed;
    int failed_errno = sync_file(t.file);
    if (failed_errno) {
        dataio_set_error(err, errlen, "%s: write failed: %s", t.file,
                         strerror(failed_errno));
        goto done;
    }
    rc = 0;
    goto done;
failed:
    h5_why(&why);
    dataio_set_error(err, errlen, "%s: %s (%s)", t.shown, doing,
                     why.text[0] ? why.text : "HDF5 error");
done:
    close_id(mem_space);
    close_id(file_space);
    close_id(d);
    close_id(f);
    target_free(&t);
    return rc;
}


/* ---- A block of rows at a time (--stream) -------------------------------- */

struct dataio_h5_in {
    hid_t f, d;
    int rank;
    hsize_t dims[2];
    h5_target t;
};

void dataio_h5_in_close(dataio_h5_in *s)
{
    if (!s)
        return;
    close_id(s->d);
    close_id(s->f);
    target_free(&s->t);
    free(s);
}

/* The chunk cache of a dataset read a block of rows at a time: room for
 * a row of chunks (all the chunks that hold one row), so that a
 * compressed chunk is inflated once and not once per block, within
 * bounds (64 MiB) that do not depend on the number of rows. */
static hid_t stream_access(hid_t f, const char *dataset)
{
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    hid_t d = dapl < 0 ? NO_ID : H5Dopen2(f, dataset, H5P_DEFAULT);
    hid_t dcpl = d < 0 ? NO_ID : H5Dget_create_plist(d);
    hid_t type = d < 0 ? NO_ID : H5Dget_type(d);
    hid_t space = d < 0 ? NO_ID : H5Dget_space(d);
    if (dcpl >= 0 && type >= 0 && space >= 0 &&
        H5Pget_layout(dcpl) == H5D_CHUNKED) {
        hsize_t chunk[2] = {1, 1}, dims[2] = {1, 1};
        const int r = H5Pget_chunk(dcpl, 2, chunk);
        const int n = H5Sget_simple_extent_dims(space, dims, NULL);
        if (r >= 1 && r <= 2 && r == n) {
            double bytes = (double)chunk[0] * (double)H5Tget_size(type);
            if (r == 2)
                bytes *= (double)chunk[1] *
                         (double)((dims[1] + chunk[1] - 1) / chunk[1]);
            const double most = 64.0 * 1024 * 1024, least = 1024.0 * 1024;
            bytes = 2 * bytes < least ? least : 2 * bytes > most ? most
                                                                : 2 * bytes;
            (void)H5Pset_chunk_cache(dapl, 12421, (size_t)bytes, 1.0);
        }
    }
    close_id(space);
    close_id(type);
    close_id(dcpl);
    close_id(d);
    return dapl;
}

int dataio_h5_in_open(const char *path, size_t file_len, const char *dataset,
                      dataio_h5_in **out, size_t *rows, size_t *cols,
                      char *shown, size_t showlen, char *err, size_t errlen)
{
    h5_quiet();
    *out = NULL;
    dataio_h5_in *s = calloc(1, sizeof *s);
    if (!s) {
        dataio_set_error(err, errlen, "%.*s: out of memory", (int)file_len,
                         path);
        return -1;
    }
    s->f = s->d = NO_ID;
    if (target_init(&s->t, path, file_len, dataset, NULL, err, errlen) != 0) {
        free(s);
        return -1;
    }
    hid_t dapl = NO_ID;
    bool integer;
    s->f = open_file(&s->t, false, err, errlen);
    if (s->f < 0 ||
        (!s->t.dataset && pick_dataset(s->f, &s->t, false, err, errlen) != 0))
        goto failed;
    hid_t probe = open_dataset(s->f, &s->t, err, errlen);
    if (probe < 0)
        goto failed;
    close_id(probe);
    dapl = stream_access(s->f, s->t.dataset);
    s->d = H5Dopen2(s->f, s->t.dataset, dapl >= 0 ? dapl : H5P_DEFAULT);
    close_id(dapl);
    if (s->d < 0) {
        h5_reason why;
        dataio_set_error(err, errlen, "%s: cannot open the dataset (%s)",
                         s->t.shown, h5_why(&why));
        goto failed;
    }
    if (check_type(s->d, &s->t, false, &integer, err, errlen) != 0 ||
        dataset_shape(s->d, &s->t, &s->rank, s->dims, err, errlen) != 0)
        goto failed;
    const size_t n = (size_t)s->dims[0];
    const size_t c = s->rank == 2 ? (size_t)s->dims[1] : 1;
    if (n == 0 || c == 0) {
        dataio_set_error(err, errlen, "%s: no data (shape %zu x %zu)",
                         s->t.shown, n, c);
        goto failed;
    }
    if (s->dims[0] > SIZE_MAX || s->dims[1] > SIZE_MAX ||
        n > SIZE_MAX / c / sizeof(double)) {
        dataio_set_error(err, errlen, "%s: shape %llu x %llu is too large",
                         s->t.shown, (unsigned long long)s->dims[0],
                         (unsigned long long)c);
        goto failed;
    }
    *rows = n;
    *cols = c;
    if (shown)
        snprintf(shown, showlen, "%s", s->t.shown);
    *out = s;
    return 0;
failed:
    dataio_h5_in_close(s);
    return -1;
}

int dataio_h5_in_rows(dataio_h5_in *s, size_t first, size_t count,
                      double *out, char *err, size_t errlen)
{
    if (first > (size_t)s->dims[0] || count > (size_t)s->dims[0] - first) {
        dataio_set_error(err, errlen, "%s: rows %zu to %zu are outside the "
                         "dataset", s->t.shown, first + 1, first + count);
        return -1;
    }
    return read_rows(s->d, &s->t, s->rank, s->dims, first, count, out, err,
                     errlen);
}

struct dataio_h5_out {
    hid_t f, d;
    int rank, int32;
    size_t rows, cols;
    h5_target t;
};

int dataio_h5_out_close(dataio_h5_out *w, char *err, size_t errlen)
{
    if (!w)
        return 0;
    int rc = 0;
    if (err) {
        const char *doing = "cannot close the dataset";
        hid_t d = w->d, f = w->f;
        w->d = w->f = NO_ID;
        herr_t st = H5Dclose(d);
        if (st >= 0) {
            doing = "cannot write the file";
            st = H5Fclose(f);
            f = NO_ID;
        }
        if (st < 0) {
            h5_reason why;
            h5_why(&why);
            dataio_set_error(err, errlen, "%s: %s (%s)", w->t.shown, doing,
                             why.text[0] ? why.text : "HDF5 error");
            close_id(f);
            rc = -1;
        } else {
            const int failed = sync_file(w->t.file);
            if (failed) {
                dataio_set_error(err, errlen, "%s: write failed: %s",
                                 w->t.file, strerror(failed));
                rc = -1;
            }
        }
    }
    close_id(w->d);
    close_id(w->f);
    target_free(&w->t);
    free(w);
    return rc;
}

int dataio_h5_out_open(const char *path, const char *default_dataset,
                       int create, size_t total_rows, size_t cols, int int32,
                       dataio_h5_out **out, char *err, size_t errlen)
{
    h5_quiet();
    *out = NULL;
    size_t file_len = 0;
    const char *dataset = NULL;
    if (output_name(path, &file_len, &dataset, err, errlen) != 0)
        return -1;
    dataio_h5_out *w = calloc(1, sizeof *w);
    if (!w) {
        dataio_set_error(err, errlen, "%.*s: out of memory", (int)file_len,
                         path);
        return -1;
    }
    w->f = w->d = NO_ID;
    w->rank = cols == 0 ? 1 : 2;
    w->int32 = int32;
    w->rows = total_rows;
    w->cols = cols;
    if (target_init(&w->t, path, file_len, dataset,
                    default_dataset ? default_dataset : "/data", err,
                    errlen) != 0) {
        free(w);
        return -1;
    }
    hid_t fapl = NO_ID, space = NO_ID, lcpl = NO_ID, dcpl = NO_ID;
    const char *doing = "cannot open the dataset";
    struct stat st;
    const bool add = !create || (stat(w->t.file, &st) == 0 &&
                                 S_ISREG(st.st_mode) && st.st_size > 0 &&
                                 has_signature(w->t.file));
    if (add) {
        w->f = open_file(&w->t, true, err, errlen);
        if (w->f < 0)
            goto done;
    } else {
        doing = "cannot create the file";
        fapl = file_access();
        w->f = fapl < 0 ? NO_ID
                        : H5Fcreate(w->t.file, H5F_ACC_TRUNC, H5P_DEFAULT,
                                    fapl);
        if (w->f < 0)
            goto failed;
    }
    if (!create) {
        w->d = H5Dopen2(w->f, w->t.dataset, H5P_DEFAULT);
        if (w->d < 0)
            goto failed;
        *out = w;
        w = NULL;
        goto done;
    }
    if (H5Lexists(w->f, w->t.dataset, H5P_DEFAULT) > 0) {
        dataio_set_error(err, errlen, "%s: the file has a dataset of that "
                         "name already", w->t.shown);
        goto done;
    }
    /* Chunks of about 1 MiB of whole rows (the default chunk cache's
     * size), no more rows than the dataset has. */
    const size_t row_bytes = (cols ? cols : 1) * (int32 ? 4 : 8);
    size_t chunk_rows = (size_t)1 << 20 >= row_bytes
                            ? ((size_t)1 << 20) / row_bytes : 1;
    if (chunk_rows > total_rows)
        chunk_rows = total_rows > 0 ? total_rows : 1;
    const hsize_t dims[2] = {total_rows, cols};
    const hsize_t chunk[2] = {chunk_rows, cols};
    doing = "cannot create the dataset";
    space = H5Screate_simple(w->rank, dims, NULL);
    lcpl = H5Pcreate(H5P_LINK_CREATE);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (space < 0 || lcpl < 0 || dcpl < 0 ||
        H5Pset_create_intermediate_group(lcpl, 1) < 0 ||
        H5Pset_chunk(dcpl, w->rank, chunk) < 0)
        goto failed;
    w->d = H5Dcreate2(w->f, w->t.dataset,
                      int32 ? H5T_STD_I32LE : H5T_IEEE_F64LE, space, lcpl,
                      dcpl, H5P_DEFAULT);
    /* On disk at once: another output of the same file (--labels and
     * --proba into one .h5) opens it while this one writes. */
    if (w->d < 0 || H5Fflush(w->f, H5F_SCOPE_LOCAL) < 0)
        goto failed;
    *out = w;
    w = NULL;
    goto done;
failed:
    {
        h5_reason why;
        h5_why(&why);
        dataio_set_error(err, errlen, "%s: %s (%s)", w->t.shown, doing,
                         why.text[0] ? why.text : "HDF5 error");
    }
done:
    close_id(space);
    close_id(lcpl);
    close_id(dcpl);
    close_id(fapl);
    if (w)
        (void)dataio_h5_out_close(w, NULL, 0);
    return *out ? 0 : -1;
}

int dataio_h5_out_rows(dataio_h5_out *w, size_t first_row, const void *rows,
                       size_t n, char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    hsize_t start[2] = {first_row, 0}, count[2] = {n, w->cols};
    hsize_t dims[2] = {0, 0};
    hid_t file_space = H5Dget_space(w->d), mem_space = NO_ID;
    int rc = -1;
    if (file_space < 0 || H5Sget_simple_extent_ndims(file_space) != w->rank ||
        H5Sget_simple_extent_dims(file_space, dims, NULL) < 0 ||
        first_row + n > dims[0] || (w->rank == 2 && dims[1] != w->cols)) {
        dataio_set_error(err, errlen, "%s: rows %zu to %zu do not fit the "
                         "dataset", w->t.shown, first_row + 1, first_row + n);
        goto done;
    }
    mem_space = H5Screate_simple(w->rank, count, NULL);
    if (mem_space < 0 ||
        H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, count,
                            NULL) < 0 ||
        H5Dwrite(w->d, w->int32 ? H5T_NATIVE_INT32 : H5T_NATIVE_DOUBLE,
                 mem_space, file_space, H5P_DEFAULT, rows) < 0) {
        h5_reason why;
        h5_why(&why);
        dataio_set_error(err, errlen, "%s: cannot write rows %zu to %zu "
                         "(%s)", w->t.shown, first_row + 1, first_row + n,
                         why.text[0] ? why.text : "HDF5 error");
        goto done;
    }
    rc = 0;
done:
    close_id(mem_space);
    close_id(file_space);
    return rc;
}

#endif /* EMGMM_HAVE_HDF5 */
