/*
 * emgmm plot: an SVG picture of a model on its data. Points are coloured
 * by their predicted component; each component gets its 1- and 2-sigma
 * ellipses and a cross at its mean. Data with more than two features are
 * projected on their first two principal components (the leading
 * eigenvectors of the data covariance: plot_common.c), and so are the
 * means and covariances.
 */
#include "cli_common.h"
#include "plot_common.h"
#include "svg.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

enum { OPT_SHAPE = 256, OPT_MAX_POINTS };

#define DEFAULT_MAX_POINTS PLOT_DEFAULT_MAX_POINTS
#define LEGEND_MAX PLOT_LEGEND_MAX

static void plot_help(FILE *f)
{
    fprintf(f,
        "Usage: emgmm plot MODEL DATA [options]\n"
        "\n"
        "Draws the model in MODEL on DATA as an SVG picture (800 x 600): the\n"
        "points coloured by their most probable component, each component's\n"
        "1- and 2-sigma ellipses and a cross at its mean. With more than two\n"
        "features, data, means and covariances are projected on the first two\n"
        "principal components of DATA, and the picture says so. DATA needs at\n"
        "least two columns. With two, the axes carry the column names of\n"
        "DATA's header row (CSV/TSV), or 'feature 1' and 'feature 2' without\n"
        "one.\n"
        "\n"
        "Options:\n"
        "  -o, --output OUT       write the SVG here (default: standard output)\n"
        "      --max-points N     draw at most N points, >= 1 (default %d):\n"
        "                         with more rows, every k-th row is drawn and\n"
        "                         the picture says how many (the principal\n"
        "                         components use every row)\n"
        "      --shape N,D        DATA is raw little-endian float64: N rows,\n"
        "                         D columns (default: detect .npy or CSV)\n"
        "  -h, --help             show this help and exit\n"
        "\n"
        "Exit status: 0 success; 1 the output could not be written; 2 bad\n"
        "usage or bad input.\n"
        "\n"
        "Example:\n"
        "  emgmm fit data/sightings.csv -k 2 -o model.json\n"
        "  emgmm plot model.json data/sightings.csv -o sightings.svg\n",
        DEFAULT_MAX_POINTS);
}

/* What the picture shows, computed before the output is opened. */
typedef struct picture {
    const char *model_path, *data_path;
    size_t n_rows, d, k;
    emgmm_covariance_type type;
    size_t n_shown, every; /* rows drawn: every `every`-th */
    double *pts;           /* n_shown x 2, projected */
    int32_t *labels;       /* n_shown */
    double *means;         /* k x 2, projected */
    double *cov2;          /* k x 2 x 2, projected */
    const double *weights; /* k, owned by the model */
    double explained[2];   /* fraction of variance along each axis (d > 2) */
    char **names;          /* DATA's column names (CSV header), or NULL */
} picture;

/* The D x D covariance of component j in full form, from the model's
 * shape (see emgmm_covariance_type). */
static void component_covariance(const emgmm_model *m, size_t j, double *out)
{
    size_t d = emgmm_n_features(m);
    const double *c = emgmm_covariances(m);
    switch (emgmm_get_covariance_type(m)) {
    case EMGMM_COVARIANCE_FULL:
        memcpy(out, c + j * d * d, d * d * sizeof *out);
        return;
    case EMGMM_COVARIANCE_TIED:
        memcpy(out, c, d * d * sizeof *out);
        return;
    case EMGMM_COVARIANCE_DIAG:
    case EMGMM_COVARIANCE_SPHERICAL:
        break;
    }
    int diag = emgmm_get_covariance_type(m) == EMGMM_COVARIANCE_DIAG;
    memset(out, 0, d * d * sizeof *out);
    for (size_t a = 0; a < d; a++)
        out[a * d + a] = diag ? c[j * d + a] : c[j];
}

/* Everything the picture needs from the model and the data. */
static int prepare(picture *pic, const emgmm_model *m, const dataio_matrix *x,
                   size_t max_points)
{
    size_t n = x->rows, d = x->cols, k = emgmm_n_components(m);
    double *basis = calloc(d * 2, sizeof *basis);
    double *center = calloc(d, sizeof *center);
    double *cov = malloc(d * d * sizeof *cov);
    double *tmp = malloc(d * 2 * sizeof *tmp);
    pic->n_rows = n;
    pic->d = d;
    pic->k = k;
    pic->type = emgmm_get_covariance_type(m);
    pic->weights = emgmm_weights(m);
    pic->every = plot_stride(n, max_points);
    pic->n_shown = (n + pic->every - 1) / pic->every;
    pic->pts = malloc(pic->n_shown * 2 * sizeof *pic->pts);
    pic->labels = malloc(pic->n_shown * sizeof *pic->labels);
    pic->means = malloc(k * 2 * sizeof *pic->means);
    pic->cov2 = malloc(k * 4 * sizeof *pic->cov2);
    int rc = 0;
    if (!basis || !center || !cov || !tmp || !pic->pts || !pic->labels ||
        !pic->means || !pic->cov2)
        rc = cli_error(EXIT_WORK_FAILED, "plot: out of memory");
    if (rc == 0 && d == 2) {
        basis[0] = basis[3] = 1; /* the features themselves */
    } else if (rc == 0 &&
               plot_principal_axes(x, basis, center, pic->explained))
        rc = cli_error(EXIT_WORK_FAILED,
                       "plot: cannot find the principal components");
    if (rc == 0) {
        /* Labels of the drawn rows only: a strided view of the data. */
        int st = emgmm_predict(m, x->data, pic->n_shown, pic->every * d,
                               pic->labels);
        if (st != EMGMM_OK)
            rc = cli_library_error("plot: predict", st);
    }
    for (size_t i = 0; rc == 0 && i < pic->n_shown; i++)
        plot_project(x->data + i * pic->every * d, center, basis, d,
                     pic->pts + 2 * i);
    for (size_t j = 0; rc == 0 && j < k; j++) {
        plot_project(emgmm_means(m) + j * d, center, basis, d,
                     pic->means + 2 * j);
        /* basis^T * cov * basis, a 2 x 2 matrix. */
        component_covariance(m, j, cov);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, 2,
                    (int)d, 1.0, cov, (int)d, basis, 2, 0.0, tmp, 2);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, 2, 2, (int)d,
                    1.0, basis, 2, tmp, 2, 0.0, pic->cov2 + 4 * j, 2);
    }
    /* Data or covariances too large for their squares (a hand-made
     * model, say) would give coordinates SVG cannot hold. */
    int finite = 1;
    for (size_t i = 0; rc == 0 && i < 2 * pic->n_shown; i++)
        finite &= isfinite(pic->pts[i]) != 0;
    for (size_t j = 0; rc == 0 && j < 4 * k; j++)
        finite &= isfinite(pic->cov2[j]) && isfinite(pic->means[j / 2]);
    if (rc == 0 && !finite)
        rc = cli_error(EXIT_BAD_USAGE, "plot: %s: the values are too large "
                       "to draw (their squares overflow); rescale the data",
                       pic->data_path);
    free(basis);
    free(center);
    free(cov);
    free(tmp);
    return rc;
}

static void picture_free(picture *pic)
{
    free(pic->names);
    free(pic->pts);
    free(pic->labels);
    free(pic->means);
    free(pic->cov2);
}

/* An ellipse for the 2 x 2 covariance s (data units) at (cx, cy), scaled
 * to `sigmas`: the covariance is taken to pixel units first, so that the
 * ellipse is right whatever the scales of the two axes. */
static void ellipse(const svg_plot *p, const double *s, double cx,
                    double cy, double sigmas, const char *color, int dashed)
{
    double sx = svg_sx(p), sy = -svg_sy(p); /* pixel y grows downwards */
    double a = s[0] * sx * sx, b = s[1] * sx * sy, c = s[3] * sy * sy;
    double mid = 0.5 * (a + c), r = hypot(0.5 * (a - c), b);
    double l1 = mid + r, l2 = fmax(mid - r, 0);
    double angle = 0.5 * atan2(2 * b, a - c) * 180.0 / 3.14159265358979323846;
    double px = svg_px(p, cx), py = svg_py(p, cy);
    fprintf(p->f,
            "<ellipse cx=\"%.2f\" cy=\"%.2f\" rx=\"%.2f\" ry=\"%.2f\" "
            "transform=\"rotate(%.3f %.2f %.2f)\" fill=\"none\" "
            "stroke=\"%s\" stroke-width=\"2\"%s/>\n",
            px, py, sigmas * sqrt(l1), sigmas * sqrt(l2), angle, px, py,
            color, dashed ? " stroke-dasharray=\"7 5\"" : "");
}

static int write_picture(FILE *f, const void *data)
{
    const picture *pic = data;
    size_t k = pic->k;
    const char *type = emgmm_covariance_type_name(pic->type);
    char title[128], note[512];
    snprintf(title, sizeof title, "%zu-component Gaussian mixture, %s "
             "covariance", k, type ? type : "?");
    int len = snprintf(note, sizeof note, "%s on %s",
                       cli_display_name(pic->model_path),
                       cli_display_name(pic->data_path));
    if (pic->d > 2 && len >= 0 && (size_t)len < sizeof note)
        len += snprintf(note + len, sizeof note - (size_t)len,
                        "; projected on principal components 1-2");
    if (pic->every > 1 && len >= 0 && (size_t)len < sizeof note)
        snprintf(note + len, sizeof note - (size_t)len,
                 "; showing %zu of %zu points (every %zu%s row)",
                 pic->n_shown, pic->n_rows, pic->every,
                 plot_ordinal_suffix(pic->every));
    svg_begin(f, title, note);

    /* The range holds every drawn point and every 2-sigma ellipse. */
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (size_t i = 0; i < pic->n_shown; i++) {
        x0 = fmin(x0, pic->pts[2 * i]);
        x1 = fmax(x1, pic->pts[2 * i]);
        y0 = fmin(y0, pic->pts[2 * i + 1]);
        y1 = fmax(y1, pic->pts[2 * i + 1]);
    }
    for (size_t j = 0; j < k; j++) {
        double hx = 2 * sqrt(fmax(pic->cov2[4 * j], 0)),
               hy = 2 * sqrt(fmax(pic->cov2[4 * j + 3], 0));
        x0 = fmin(x0, pic->means[2 * j] - hx);
        x1 = fmax(x1, pic->means[2 * j] + hx);
        y0 = fmin(y0, pic->means[2 * j + 1] - hy);
        y1 = fmax(y1, pic->means[2 * j + 1] + hy);
    }
    /* The same scale on both axes, unless their ranges differ so much
     * that one would be squashed into a strip. */
    double ratio = (x1 - x0) / (y1 - y0);
    int equal = ratio > 0.25 && ratio < 4;
    svg_plot p;
    svg_plot_init(&p, f, x0, x1, y0, y1, equal);
    char xl[96], yl[96];
    if (pic->d > 2) {
        snprintf(xl, sizeof xl, "principal component 1 (%.1f%% of variance)",
                 100 * pic->explained[0]);
        snprintf(yl, sizeof yl, "principal component 2 (%.1f%% of variance)",
                 100 * pic->explained[1]);
        svg_axes(&p, xl, yl, 0);
    } else {
        /* Two features are drawn as they are: a header names them (an
         * empty name keeps the number). */
        svg_axes(&p, plot_feature_name(pic->names, 0, xl, sizeof xl),
                 plot_feature_name(pic->names, 1, yl, sizeof yl), 0);
    }

    fprintf(f, "<clipPath id=\"area\"><rect x=\"%.2f\" y=\"%.2f\" "
               "width=\"%.2f\" height=\"%.2f\"/></clipPath>\n"
               "<g clip-path=\"url(#area)\">\n",
            p.left, p.top, p.right - p.left, p.bottom - p.top);
    double r = pic->n_shown > 1000 ? 2.0 : 3.0;
    for (size_t j = 0; j < k; j++) {
        fprintf(f, "<g fill=\"%s\" fill-opacity=\"0.55\">\n", svg_color(j));
        for (size_t i = 0; i < pic->n_shown; i++)
            if ((size_t)pic->labels[i] == j)
                fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%g\"/>\n",
                        svg_px(&p, pic->pts[2 * i]),
                        svg_py(&p, pic->pts[2 * i + 1]), r);
        fputs("</g>\n", f);
    }
    for (size_t j = 0; j < k; j++) {
        double mx = pic->means[2 * j], my = pic->means[2 * j + 1];
        ellipse(&p, pic->cov2 + 4 * j, mx, my, 1, svg_color(j), 0);
        ellipse(&p, pic->cov2 + 4 * j, mx, my, 2, svg_color(j), 1);
    }
    for (size_t j = 0; j < k; j++)
        svg_cross(f, svg_px(&p, pic->means[2 * j]),
                  svg_py(&p, pic->means[2 * j + 1]), 6, "black", 2.5);
    fputs("</g>\n", f);

    /* Legend: the components (as many as fit), then the symbols. */
    size_t shown = k <= LEGEND_MAX - 3 ? k : LEGEND_MAX - 4;
    for (size_t j = 0; j < shown; j++)
        svg_legend(&p, SVG_LEGEND_DOT, svg_color(j),
                   "component %zu (weight %.2f)", j, pic->weights[j]);
    if (shown < k)
        svg_legend(&p, SVG_LEGEND_DOT, "white", "... %zu more components",
                   k - shown);
    svg_legend(&p, SVG_LEGEND_CROSS, "black", "mean");
    svg_legend(&p, SVG_LEGEND_SOLID, "#444444", "1-sigma ellipse");
    svg_legend(&p, SVG_LEGEND_DASHED, "#444444", "2-sigma ellipse");
    svg_end(f);
    return 0;
}

int cmd_plot(int argc, char **argv)
{
    static const char optstring[] = ":o:h";
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'},
        {"max-points", required_argument, NULL, OPT_MAX_POINTS},
        {"shape", required_argument, NULL, OPT_SHAPE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    static const char *const model_and_data[] = {"MODEL", "DATA", NULL};
    const char *out_path = "-";
    size_t max_points = DEFAULT_MAX_POINTS;
    dataio_read_options read = {0, 0, 0};
    int c, rc = 0;

    opterr = 0;
    optind = 1;
    while (rc == 0 &&
           (c = getopt_long(argc, argv, optstring, options, NULL)) != -1) {
        switch (c) {
        case 'o': out_path = optarg; break;
        case OPT_MAX_POINTS:
            rc = cli_parse_size("--max-points", optarg, 1, &max_points);
            break;
        case OPT_SHAPE: rc = cli_parse_shape("--shape", optarg, &read); break;
        case 'h': plot_help(stdout); return 0;
        default: return cli_bad_option("plot", c, argv, optstring);
        }
    }
    if (rc == 0)
        rc = cli_positionals("plot", argc, argv, model_and_data);
    if (rc != 0)
        return rc;

    cli_outputs out;
    int i_out = -1;
    rc = cli_outputs_single(&out, "-o", out_path, &i_out);
    if (rc != 0)
        return rc;

    emgmm_model *m = NULL;
    dataio_matrix x = {NULL, 0, 0};
    picture pic;
    memset(&pic, 0, sizeof pic);
    pic.model_path = argv[optind];
    pic.data_path = argv[optind + 1];
    rc = cli_load_model_and_data_named("plot", argv[optind],
                                       argv[optind + 1], &read, &m, &x,
                                       &pic.names);
    if (rc == 0 && x.cols < 2)
        rc = cli_error(EXIT_BAD_USAGE,
                       "plot: %s has 1 column; a picture needs at least 2",
                       strcmp(pic.data_path, "-") == 0 ? "<stdin>"
                                                       : pic.data_path);
    if (rc == 0)
        rc = prepare(&pic, m, &x, max_points);
    if (rc == 0)
        rc = cli_outputs_open(&out);
    if (rc == 0)
        rc = cli_write_stream(&out, i_out, write_picture, &pic);
    if (rc == 0)
        rc = cli_outputs_commit(&out);
    cli_outputs_free(&out);
    picture_free(&pic);
    dataio_matrix_free(&x);
    emgmm_free(&m);
    return rc;
}
