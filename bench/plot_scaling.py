#!/usr/bin/env python3
"""Scaling plot for the benchmark, without any plotting library:
    bench/plot_scaling.py SCALING.json OUT.svg

SCALING.json (written by bench/bench.py):
  {"title": "...", "subtitle": "...",
   "sweeps": [{"name": "N", "label": "N (D=32, K=8)",
               "x": [...], "y": [seconds per iteration ...],
               "expected_slope": 1}, ...]}

Writes one log-log panel per sweep: the measured seconds per iteration
(points joined by a line) and a dashed reference line of the expected slope
(1 = linear, 2 = quadratic) through the geometric mean of the measurements,
with axes, tick labels, axis titles, a legend and a title.
"""
import json
import math
import sys
from xml.sax.saxutils import escape

PANEL_W, PANEL_H = 300, 250
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 76, 18, 74, 96
GAP = 84
MEASURED = "#1f77b4"
REFERENCE = "#d62728"


def fmt_num(v):
    if v >= 1000:
        s = "%g" % v
        if "e" not in s and float(s) == int(float(s)):
            return "{:,}".format(int(float(s)))
        return s
    return "%g" % v


def fmt_seconds(v):
    if v >= 1:
        return "%g s" % v
    if v >= 1e-3:
        return "%g ms" % (v * 1e3)
    return "%g µs" % (v * 1e6)


def y_ticks(lo, hi):
    """1-2-5 ticks covering [lo, hi] (lo, hi > 0)."""
    ticks = []
    e = math.floor(math.log10(lo))
    while True:
        for m in (1, 2, 5):
            v = m * 10.0 ** e
            if v > hi * 1.0001:
                return ticks
            if v >= lo * 0.9999:
                ticks.append(v)
        e += 1


def panel(out, x0, y0, sweep):
    xs, ys = sweep["x"], sweep["y"]
    pts = [(x, y) for x, y in zip(xs, ys) if x > 0 and y and y > 0]
    slope = sweep.get("expected_slope")
    out.append('<g font-family="sans-serif" font-size="11">')
    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="white" '
               'stroke="#444"/>' % (x0, y0, PANEL_W, PANEL_H))
    out.append('<text x="%g" y="%d" text-anchor="middle" font-size="13" '
               'font-weight="bold">%s</text>'
               % (x0 + PANEL_W / 2, y0 - 8, escape(sweep.get("label", ""))))
    if len(pts) < 2:
        out.append('<text x="%g" y="%g" text-anchor="middle">no data</text>'
                   % (x0 + PANEL_W / 2, y0 + PANEL_H / 2))
        out.append("</g>")
        return
    lx = [math.log(p[0]) for p in pts]
    ly = [math.log(p[1]) for p in pts]
    # The reference line through the geometric mean of the points.
    cx, cy = sum(lx) / len(lx), sum(ly) / len(ly)
    ref = [(a, cy + slope * (a - cx)) for a in (min(lx), max(lx))] \
        if slope else []
    xlo, xhi = min(lx), max(lx)
    ylo = min(ly + [r[1] for r in ref])
    yhi = max(ly + [r[1] for r in ref])
    padx = 0.06 * (xhi - xlo or 1.0)
    pady = 0.08 * (yhi - ylo or 1.0)
    xlo, xhi, ylo, yhi = xlo - padx, xhi + padx, ylo - pady, yhi + pady

    def px(a):
        return x0 + (a - xlo) / (xhi - xlo) * PANEL_W

    def py(b):
        return y0 + PANEL_H - (b - ylo) / (yhi - ylo) * PANEL_H

    # Grid and ticks.
    for v in sorted(set(p[0] for p in pts)):
        X = px(math.log(v))
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>'
                   % (X, y0, X, y0 + PANEL_H))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
                   % (X, y0 + PANEL_H + 15, fmt_num(v)))
    for v in y_ticks(math.exp(ylo), math.exp(yhi)):
        Y = py(math.log(v))
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>'
                   % (x0, Y, x0 + PANEL_W, Y))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>'
                   % (x0 - 5, Y + 4, fmt_seconds(v)))
    out.append('<text x="%g" y="%d" text-anchor="middle" font-size="12">'
               '%s (log scale)</text>'
               % (x0 + PANEL_W / 2, y0 + PANEL_H + 34,
                  escape(sweep["name"])))
    out.append('<text transform="translate(%d,%g) rotate(-90)" '
               'text-anchor="middle" font-size="12">seconds per iteration '
               '(log)</text>' % (x0 - 58, y0 + PANEL_H / 2))
    if ref:
        out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" '
                   'stroke="%s" stroke-width="1.5" stroke-dasharray="6,4"/>'
                   % (px(ref[0][0]), py(ref[0][1]), px(ref[1][0]),
                      py(ref[1][1]), REFERENCE))
    path = " ".join("%s%.1f,%.1f" % ("M" if i == 0 else "L", px(a), py(b))
                    for i, (a, b) in enumerate(zip(lx, ly)))
    out.append('<path d="%s" fill="none" stroke="%s" stroke-width="2"/>'
               % (path, MEASURED))
    for a, b in zip(lx, ly):
        out.append('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>'
                   % (px(a), py(b), MEASURED))
    # Fitted slope, printed under the axis title.
    n = len(lx)
    sxx = sum((a - cx) ** 2 for a in lx)
    fit = sum((a - cx) * (b - cy) for a, b in zip(lx, ly)) / sxx if sxx else 0
    out.append('<text x="%g" y="%d" text-anchor="middle" fill="#444">'
               'fitted slope %.2f over %d points (expected %s)</text>'
               % (x0 + PANEL_W / 2, y0 + PANEL_H + 52, fit, n,
                  "%g" % slope if slope else "?"))
    out.append("</g>")


def main(argv):
    if len(argv) != 3:
        print("usage: plot_scaling.py SCALING.json OUT.svg", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    sweeps = spec["sweeps"]
    width = MARGIN_L + len(sweeps) * PANEL_W + (len(sweeps) - 1) * GAP \
        + MARGIN_R
    height = MARGIN_T + PANEL_H + MARGIN_B
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'viewBox="0 0 %d %d">' % (width, height, width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%g" y="24" text-anchor="middle" font-family="sans-serif"'
           ' font-size="16" font-weight="bold">%s</text>'
           % (width / 2, escape(spec.get("title", "")))]
    if spec.get("subtitle"):
        out.append('<text x="%g" y="42" text-anchor="middle" '
                   'font-family="sans-serif" font-size="11" fill="#444">'
                   '%s</text>' % (width / 2, escape(spec["subtitle"])))
    for i, sweep in enumerate(sweeps):
        panel(out, MARGIN_L + i * (PANEL_W + GAP), MARGIN_T, sweep)
    # Legend, under the panels.
    ly = height - 18
    lx = MARGIN_L
    out.append('<g font-family="sans-serif" font-size="12">')
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" '
               'stroke-width="2"/><circle cx="%d" cy="%d" r="3.5" fill="%s"/>'
               '<text x="%d" y="%d">measured (median seconds per EM '
               'iteration)</text>'
               % (lx, ly, lx + 30, ly, MEASURED, lx + 15, ly, MEASURED,
                  lx + 38, ly + 4))
    lx += 330
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" '
               'stroke-width="1.5" stroke-dasharray="6,4"/>'
               '<text x="%d" y="%d">expected: slope 1 = linear, slope 2 = '
               'quadratic (through the geometric mean)</text>'
               % (lx, ly, lx + 30, ly, REFERENCE, lx + 38, ly + 4))
    out.append("</g>")
    out.append("</svg>")
    with open(argv[2], "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
