/*
 * A small SVG writer for the program's pictures (plot, fit --trace,
 * select --plot): a fixed 800 x 600 canvas, one plot area with axes,
 * ticks, numbers and labels, a legend to the right of the plot area, and
 * escaped text. No plotting library needed.
 *
 * Writing functions do not report errors one by one: the caller checks
 * ferror() on the stream at the end (cli_write_output does).
 */
#ifndef EMGMM_SVG_H
#define EMGMM_SVG_H

#include <stddef.h>
#include <stdio.h>

#if defined(__GNUC__)
#define SVG_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define SVG_PRINTF(fmt, args)
#endif

#define SVG_WIDTH 800
#define SVG_HEIGHT 600

/** The plot area and the data range it shows. */
typedef struct svg_plot {
    FILE *f;
    double x0, x1, y0, y1;           /* data range */
    double left, top, right, bottom; /* plot area, pixels */
    int legend_items;                /* entries drawn so far */
} svg_plot;

/** Writes text with &, <, >, " and ' escaped. Control characters and
 *  bytes that are not valid UTF-8 become '?', so that any file name
 *  gives well-formed XML. */
void svg_escape(FILE *f, const char *s);

/** Nice tick positions for [lo, hi]: step is 1, 2 or 5 times a power of
 *  ten, giving about max_ticks ticks (at most max_ticks + 1); *first is
 *  the first multiple of the step >= lo. Returns the number of ticks (0
 *  if the range is empty or not finite). */
int svg_ticks(double lo, double hi, int max_ticks, double *first,
              double *step);

/** A tick number for a given step, e.g. 0.25 -> "0.25", 5000 -> "5000",
 *  with no "-0". */
void svg_format_tick(double v, double step, char *buf, size_t len);

/** The n-th colour of a 10-colour palette (cycled). */
const char *svg_color(size_t i);

/** Starts the document: root element, white background, the title (and
 *  a subtitle under it when not NULL or empty). */
void svg_begin(FILE *f, const char *title, const char *subtitle);
/** Closes the root element. */
void svg_end(FILE *f);

/**
 * Sets up the plot area for data in [x0, x1] x [y0, y1], widened by 4 %
 * on each side (and to a unit interval around a single value).
 * equal_aspect: the same scale on both axes (for points in space), the
 * shorter range widened to keep it.
 */
void svg_plot_init(svg_plot *p, FILE *f, double x0, double x1, double y0,
                   double y1, int equal_aspect);
/** Pixel coordinates of a data point. */
double svg_px(const svg_plot *p, double x);
double svg_py(const svg_plot *p, double y);
/** Pixels per data unit along x and y. */
double svg_sx(const svg_plot *p);
double svg_sy(const svg_plot *p);

/** Frame, grid, ticks with numbers and the two axis labels.
 *  integer_x: ticks on whole numbers only (iterations, K). */
void svg_axes(svg_plot *p, const char *xlabel, const char *ylabel,
              int integer_x);

/** How svg_axes_styled draws the axes of a plot area; all zeros gives
 *  svg_axes's axes (for panels stacked on one x axis, say). */
typedef struct svg_axes_style {
    int integer_x;    /* x ticks on whole numbers only */
    int x_ticks;      /* about this many x ticks (0: 8) */
    int y_ticks;      /* about this many y ticks (0: 8; < 0: none) */
    int no_x_numbers; /* no numbers under the x axis (only tick marks) */
} svg_axes_style;

/** svg_axes with a style (NULL: the defaults); a NULL or empty label is
 *  not drawn. */
void svg_axes_styled(svg_plot *p, const char *xlabel, const char *ylabel,
                     const svg_axes_style *style);

/** Text at pixel (x, y); anchor "start", "middle" or "end". */
void svg_text(FILE *f, double x, double y, double size, const char *anchor,
              const char *fmt, ...) SVG_PRINTF(6, 7);

/** Legend entry kinds (drawn to the right of the plot area). */
typedef enum svg_legend_kind {
    SVG_LEGEND_DOT,    /* a filled dot */
    SVG_LEGEND_LINE,   /* a line with a dot on it */
    SVG_LEGEND_SOLID,  /* a plain line */
    SVG_LEGEND_DASHED, /* a dashed line */
    SVG_LEGEND_CROSS,  /* a cross (x) */
    SVG_LEGEND_RING    /* a ring (the chosen point) */
} svg_legend_kind;

void svg_legend(svg_plot *p, svg_legend_kind kind, const char *color,
                const char *fmt, ...) SVG_PRINTF(4, 5);

/** A cross (x) of half-width r pixels at pixel (x, y). */
void svg_cross(FILE *f, double x, double y, double r, const char *color,
               double width);

#endif /* EMGMM_SVG_H */
