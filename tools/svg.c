/* A small SVG writer for the program's pictures (see svg.h). */
#include "svg.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

/* Layout of the 800 x 600 canvas: title on top, plot area on the left,
 * legend on the right of it, axis labels outside the ticks. */
#define PLOT_LEFT 90.0
#define PLOT_TOP 75.0
#define PLOT_RIGHT 580.0
#define PLOT_BOTTOM 520.0
#define LEGEND_X 595.0
#define FONT_SIZE 13.0

/* Length of the UTF-8 sequence at s (1 to 4), or 0 when it is not valid
 * UTF-8 or is a character XML does not allow (U+FFFE, U+FFFF). */
static int utf8_length(const unsigned char *s)
{
    unsigned char c = s[0];
    int n;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (int i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    if (n == 3 && c == 0xEF && s[1] == 0xBF && s[2] >= 0xBE)
        return 0;
    return n;
}

void svg_escape(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = utf8_length(p);
        if (n == 0 || *p < 0x20 || *p == 0x7F) {
            fputc('?', f);
            p++;
            continue;
        }
        switch (*p) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: fwrite(p, 1, (size_t)n, f); break;
        }
        p += n;
    }
}

int svg_ticks(double lo, double hi, int max_ticks, double *first,
              double *step)
{
    double range = hi - lo;
    if (!isfinite(range) || range <= 0 || max_ticks < 1)
        return 0;
    double rough = range / max_ticks;
    double mag = pow(10.0, floor(log10(rough)));
    double norm = rough / mag;
    double s = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
    double start = ceil(lo / s - 1e-9) * s;
    int n = (int)floor((hi - start) / s + 1e-9) + 1;
    *first = start;
    *step = s;
    return n > 0 ? n : 0;
}

void svg_format_tick(double v, double step, char *buf, size_t len)
{
    if (fabs(v) < 1e-9 * step)
        v = 0; /* no "-0" */
    int decimals = (int)-floor(log10(step) + 1e-9);
    if (fabs(v) >= 1e9 || decimals > 8)
        snprintf(buf, len, "%.6g", v);
    else
        snprintf(buf, len, "%.*f", decimals > 0 ? decimals : 0, v);
}

const char *svg_color(size_t i)
{
    /* Distinguishable colours (the "tab10" palette). */
    static const char *const palette[] = {
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    return palette[i % (sizeof palette / sizeof palette[0])];
}

static void text_v(FILE *f, double x, double y, double size,
                   const char *anchor, const char *fmt, va_list ap)
{
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%g\" "
               "text-anchor=\"%s\">", x, y, size, anchor);
    svg_escape(f, buf);
    fputs("</text>\n", f);
}

void svg_text(FILE *f, double x, double y, double size, const char *anchor,
              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    text_v(f, x, y, size, anchor, fmt, ap);
    va_end(ap);
}

void svg_begin(FILE *f, const char *title, const char *subtitle)
{
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
            "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" "
            "fill=\"white\"/>\n",
            SVG_WIDTH, SVG_HEIGHT, SVG_WIDTH, SVG_HEIGHT, SVG_WIDTH,
            SVG_HEIGHT);
    fputs("<title>", f);
    svg_escape(f, title);
    fputs("</title>\n", f);
    svg_text(f, SVG_WIDTH / 2.0, 30, 18, "middle", "%s", title);
    if (subtitle != NULL && subtitle[0] != '\0')
        svg_text(f, SVG_WIDTH / 2.0, 52, 12, "middle", "%s", subtitle);
}

void svg_end(FILE *f) { fputs("</svg>\n", f); }

/* Widens [*lo, *hi] by a fraction on each side; a single value gets a
 * unit interval (or one relative to its size). */
static void widen(double *lo, double *hi, double frac)
{
    double r = *hi - *lo;
    if (!(r > 0)) {
        double half = fabs(*lo) > 0 ? 0.5 * fabs(*lo) : 0.5;
        *lo -= half;
        *hi += half;
        return;
    }
    *lo -= frac * r;
    *hi += frac * r;
}

void svg_plot_init(svg_plot *p, FILE *f, double x0, double x1, double y0,
                   double y1, int equal_aspect)
{
    memset(p, 0, sizeof *p);
    p->f = f;
    p->left = PLOT_LEFT;
    p->top = PLOT_TOP;
    p->right = PLOT_RIGHT;
    p->bottom = PLOT_BOTTOM;
    widen(&x0, &x1, 0.04);
    widen(&y0, &y1, 0.04);
    if (equal_aspect) {
        double w = p->right - p->left, h = p->bottom - p->top;
        double u = fmax((x1 - x0) / w, (y1 - y0) / h);
        double cx = 0.5 * (x0 + x1), cy = 0.5 * (y0 + y1);
        x0 = cx - 0.5 * u * w;
        x1 = cx + 0.5 * u * w;
        y0 = cy - 0.5 * u * h;
        y1 = cy + 0.5 * u * h;
    }
    p->x0 = x0;
    p->x1 = x1;
    p->y0 = y0;
    p->y1 = y1;
}

double svg_sx(const svg_plot *p)
{
    return (p->right - p->left) / (p->x1 - p->x0);
}

double svg_sy(const svg_plot *p)
{
    return (p->bottom - p->top) / (p->y1 - p->y0);
}

double svg_px(const svg_plot *p, double x)
{
    return p->left + (x - p->x0) * svg_sx(p);
}

double svg_py(const svg_plot *p, double y)
{
    return p->bottom - (y - p->y0) * svg_sy(p);
}

void svg_axes(svg_plot *p, const char *xlabel, const char *ylabel,
              int integer_x)
{
    svg_axes_style style;
    memset(&style, 0, sizeof style);
    style.integer_x = integer_x;
    svg_axes_styled(p, xlabel, ylabel, &style);
}

void svg_axes_styled(svg_plot *p, const char *xlabel, const char *ylabel,
                     const svg_axes_style *style)
{
    static const svg_axes_style defaults = {0, 0, 0, 0};
    const svg_axes_style *s = style != NULL ? style : &defaults;
    FILE *f = p->f;
    char num[64];
    double first, step;
    int n = svg_ticks(p->x0, p->x1, s->x_ticks > 0 ? s->x_ticks : 8, &first,
                      &step);
    if (s->integer_x && n > 0 && step < 1) {
        step = 1;
        first = ceil(p->x0);
        n = (int)floor(p->x1 - first) + 1;
    }
    fputs("<g stroke=\"#dddddd\" stroke-width=\"1\">\n", f);
    for (int i = 0; i < n; i++) {
        double x = svg_px(p, first + i * step);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n",
                x, p->top, x, p->bottom);
    }
    double yfirst = 0, ystep = 1;
    int ny = s->y_ticks < 0 ? 0
                            : svg_ticks(p->y0, p->y1,
                                        s->y_ticks > 0 ? s->y_ticks : 8,
                                        &yfirst, &ystep);
    for (int i = 0; i < ny; i++) {
        double y = svg_py(p, yfirst + i * ystep);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n",
                p->left, y, p->right, y);
    }
    fputs("</g>\n", f);
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
               "fill=\"none\" stroke=\"#333333\"/>\n",
            p->left, p->top, p->right - p->left, p->bottom - p->top);
    /* Tick marks and numbers. */
    fputs("<g stroke=\"#333333\">\n", f);
    for (int i = 0; i < n; i++) {
        double x = svg_px(p, first + i * step);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n",
                x, p->bottom, x, p->bottom + 5);
    }
    for (int i = 0; i < ny; i++) {
        double y = svg_py(p, yfirst + i * ystep);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n",
                p->left - 5, y, p->left, y);
    }
    fputs("</g>\n", f);
    for (int i = 0; i < n && !s->no_x_numbers; i++) {
        svg_format_tick(first + i * step, step, num, sizeof num);
        svg_text(f, svg_px(p, first + i * step), p->bottom + 19, 11,
                 "middle", "%s", num);
    }
    for (int i = 0; i < ny; i++) {
        svg_format_tick(yfirst + i * ystep, ystep, num, sizeof num);
        svg_text(f, p->left - 8, svg_py(p, yfirst + i * ystep) + 4, 11,
                 "end", "%s", num);
    }
    if (xlabel != NULL && xlabel[0] != '\0')
        svg_text(f, 0.5 * (p->left + p->right), p->bottom + 45, FONT_SIZE,
                 "middle", "%s", xlabel);
    if (ylabel == NULL || ylabel[0] == '\0')
        return;
    double cy = 0.5 * (p->top + p->bottom);
    fprintf(f, "<text x=\"20\" y=\"%.2f\" font-size=\"%g\" "
               "text-anchor=\"middle\" transform=\"rotate(-90 20 %.2f)\">",
            cy, FONT_SIZE, cy);
    svg_escape(f, ylabel);
    fputs("</text>\n", f);
}

void svg_cross(FILE *f, double x, double y, double r, const char *color,
               double width)
{
    fprintf(f, "<path d=\"M%.2f %.2fL%.2f %.2fM%.2f %.2fL%.2f %.2f\" "
               "stroke=\"%s\" stroke-width=\"%g\" fill=\"none\"/>\n",
            x - r, y - r, x + r, y + r, x - r, y + r, x + r, y - r, color,
            width);
}

void svg_legend(svg_plot *p, svg_legend_kind kind, const char *color,
                const char *fmt, ...)
{
    FILE *f = p->f;
    double y = p->top + 10 + 20.0 * p->legend_items++;
    double x0 = LEGEND_X, x1 = LEGEND_X + 24, xm = LEGEND_X + 12;
    switch (kind) {
    case SVG_LEGEND_DOT:
        fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"4\" fill=\"%s\"/>\n",
                xm, y, color);
        break;
    case SVG_LEGEND_LINE:
    case SVG_LEGEND_SOLID:
    case SVG_LEGEND_DASHED:
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                   "stroke=\"%s\" stroke-width=\"2\"%s/>\n",
                x0, y, x1, y, color,
                kind == SVG_LEGEND_DASHED ? " stroke-dasharray=\"6 4\"" : "");
        if (kind == SVG_LEGEND_LINE)
            fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3.5\" "
                       "fill=\"%s\"/>\n", xm, y, color);
        break;
    case SVG_LEGEND_CROSS:
        svg_cross(f, xm, y, 5, color, 2);
        break;
    case SVG_LEGEND_RING:
        fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"7\" fill=\"none\" "
                   "stroke=\"%s\" stroke-width=\"2\"/>\n", xm, y, color);
        break;
    }
    va_list ap;
    va_start(ap, fmt);
    text_v(f, x1 + 8, y + 4.5, 12, "start", fmt, ap);
    va_end(ap);
}
