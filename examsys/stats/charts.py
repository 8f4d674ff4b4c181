"""Hand-written SVG charts for the statistics pages (no JavaScript, no matplotlib start-up cost).

Every chart is a self-contained ``<svg>`` with a ``viewBox`` (it scales with the page), a ``<title>`` for
screen readers, text in the page language, and lines told apart by dash pattern and marker as well as colour,
so that a black-and-white print stays readable. Text passed in is escaped.
"""
from __future__ import annotations

import math

from markupsafe import Markup, escape

W, H = 700, 300
ML, MR, MT, MB = 52, 170, 16, 44  # margins (the right one holds the legend)
PALETTE = ["#1f4e79", "#b35900", "#2e7d32", "#7b1fa2", "#c62828", "#00838f", "#5d4037", "#455a64", "#9e9d24"]
DASHES = ["", "6 3", "2 3", "8 3 2 3", "1 2", "10 4", "4 2 1 2", "3 6", "12 3 3 3"]


def _n(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".") if math.isfinite(x) else "0"


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw), default=raw)
    start = math.ceil(lo / step) * step
    out, v = [], start
    while v <= hi + 1e-9 * step:
        out.append(round(v, 10))
        v += step
    return out


class _Frame:
    def __init__(self, x0, x1, y0, y1, width=W, height=H):
        self.x0, self.x1, self.y0, self.y1 = x0, x1, y0, y1
        self.w, self.h = width, height

    def x(self, v):
        return ML + (v - self.x0) / ((self.x1 - self.x0) or 1) * (self.w - ML - MR)

    def y(self, v):
        return self.h - MB - (v - self.y0) / ((self.y1 - self.y0) or 1) * (self.h - MT - MB)


def _open(title: str, cls: str, width=W, height=H) -> list[str]:
    return [f'<svg class="chart {cls}" viewBox="0 0 {width} {height}" role="img" xmlns="http://www.w3.org/2000/svg" '
            f'font-family="sans-serif" font-size="11">', f"<title>{escape(title)}</title>",
            f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>']


def _axes(f: _Frame, xticks, yticks, xlabel: str, ylabel: str, xfmt=_n, yfmt=_n) -> list[str]:
    out = [f'<g stroke="#999" stroke-width="0.5">']
    for t in yticks:
        out.append(f'<line x1="{ML}" x2="{f.w - MR}" y1="{f.y(t):.1f}" y2="{f.y(t):.1f}" stroke-dasharray="1 3"/>')
    out.append("</g>")
    out.append(f'<line x1="{ML}" x2="{ML}" y1="{MT}" y2="{f.h - MB}" stroke="#000"/>')
    out.append(f'<line x1="{ML}" x2="{f.w - MR}" y1="{f.h - MB}" y2="{f.h - MB}" stroke="#000"/>')
    for t in yticks:
        out.append(f'<text x="{ML - 5}" y="{f.y(t) + 4:.1f}" text-anchor="end">{escape(yfmt(t))}</text>')
    for t in xticks:
        out.append(f'<line x1="{f.x(t):.1f}" x2="{f.x(t):.1f}" y1="{f.h - MB}" y2="{f.h - MB + 4}" stroke="#000"/>')
        out.append(f'<text x="{f.x(t):.1f}" y="{f.h - MB + 16}" text-anchor="middle">{escape(xfmt(t))}</text>')
    out.append(f'<text x="{(ML + f.w - MR) / 2:.1f}" y="{f.h - 6}" text-anchor="middle">{escape(xlabel)}</text>')
    out.append(f'<text x="12" y="{(MT + f.h - MB) / 2:.1f}" text-anchor="middle" '
               f'transform="rotate(-90 12 {(MT + f.h - MB) / 2:.1f})">{escape(ylabel)}</text>')
    return out


def histogram(edges, counts, *, title: str, xlabel: str, ylabel: str, cut: float | None = None,
              cut_label: str = "") -> Markup:
    """Score histogram: bars over ``edges`` with ``counts``, and the pass mark as a dashed line."""
    edges = [float(e) for e in edges]
    counts = [int(c) for c in counts]
    if len(edges) < 2 or not counts:
        return Markup("")
    top = max(counts) or 1
    f = _Frame(edges[0], edges[-1], 0, top * 1.08)
    out = _open(title, "histogram")
    out += _axes(f, _ticks(edges[0], edges[-1], 8), _ticks(0, top, 4), xlabel, ylabel)
    out.append('<g fill="#9bb7d4" stroke="#1f4e79" stroke-width="0.7">')
    for lo, hi, c in zip(edges[:-1], edges[1:], counts):
        if c <= 0:
            continue
        x0, x1 = f.x(lo), f.x(hi)
        out.append(f'<rect x="{x0:.1f}" y="{f.y(c):.1f}" width="{max(0.5, x1 - x0):.1f}" '
                   f'height="{f.y(0) - f.y(c):.1f}"><title>{_n(lo)}–{_n(hi)}: {c}</title></rect>')
    out.append("</g>")
    if cut is not None and edges[0] <= cut <= edges[-1]:
        x = f.x(cut)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{MT}" y2="{f.h - MB}" stroke="#c62828" stroke-width="1.5" '
                   f'stroke-dasharray="6 3"/>')
        out.append(f'<text x="{x + 4:.1f}" y="{MT + 10}" fill="#c62828">{escape(cut_label)} {escape(_n(cut))}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def _legend(f: _Frame, entries) -> list[str]:
    """entries: (label, colour, dash, width, marker)."""
    out = []
    x = f.w - MR + 12
    for k, (label, colour, dash, width, marker) in enumerate(entries):
        y = MT + 8 + k * 16
        out.append(f'<line x1="{x}" x2="{x + 22}" y1="{y}" y2="{y}" stroke="{colour}" stroke-width="{width}" '
                   f'stroke-dasharray="{dash}"/>')
        if marker:
            out.append(_marker(marker, x + 11, y, colour))
        out.append(f'<text x="{x + 27}" y="{y + 4}">{escape(label)}</text>')
    return out


def _marker(kind: str, x: float, y: float, colour: str, r: float = 3.2) -> str:
    if kind == "square":
        return f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r:.1f}" height="{2 * r:.1f}" fill="{colour}"/>'
    if kind == "triangle":
        return (f'<path d="M{x:.1f},{y - r - 0.8:.1f} L{x + r:.1f},{y + r:.1f} L{x - r:.1f},{y + r:.1f} Z" '
                f'fill="{colour}"/>')
    if kind == "open":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="#fff" stroke="{colour}"/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{colour}"/>'


MARKERS = ["circle", "square", "triangle", "open"]


def option_lines(groups, labels, key, *, title: str, xlabel: str, ylabel: str, omit_label: str,
                 key_label: str) -> Markup:
    """Share choosing each option in each score group (lowest group left); the key bold, solid."""
    k = len(groups)
    if k == 0 or not labels:
        return Markup("")
    f = _Frame(0.5, k + 0.5, 0, 1)
    out = _open(title, "options")
    out += _axes(f, list(range(1, k + 1)), [0, 0.25, 0.5, 0.75, 1.0], xlabel, ylabel,
                 xfmt=lambda t: str(int(t)), yfmt=lambda t: f"{t:.0%}")
    series = [(lab, [g["options"].get(lab, 0.0) for g in groups]) for lab in labels]
    if any(g.get("omit") for g in groups):
        series.append((omit_label, [g.get("omit", 0.0) for g in groups]))
    legend = []
    for s, (lab, ys) in enumerate(series):
        is_key = lab == key
        colour = "#000" if is_key else PALETTE[(s + 1) % len(PALETTE)]
        dash = "" if is_key else DASHES[(s % (len(DASHES) - 1)) + 1]
        width = 2.6 if is_key else 1.4
        marker = MARKERS[s % len(MARKERS)]
        pts = " ".join(f"{f.x(i + 1):.1f},{f.y(v):.1f}" for i, v in enumerate(ys))
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="{width}" '
                   f'stroke-dasharray="{dash}"/>')
        for i, v in enumerate(ys):
            out.append(_marker(marker, f.x(i + 1), f.y(v), colour))
        legend.append((f"{lab} {key_label}" if is_key else lab, colour, dash, width, marker))
    out += _legend(f, legend[:14])
    out.append("</svg>")
    return Markup("".join(out))


def icc(curve, fit, *, title: str, xlabel: str, ylabel: str, empirical_label: str, fitted_label: str) -> Markup:
    """Empirical item characteristic curve (points sized by group size, joined) and the fitted curve."""
    xs = [float(v) for v in (curve or {}).get("theta", [])]
    ps = [float(v) for v in (curve or {}).get("p", [])]
    ns = [int(v) for v in (curve or {}).get("n", [])] or [1] * len(xs)
    if not xs:
        return Markup("")
    lo, hi = min(-3.0, math.floor(min(xs))), max(3.0, math.ceil(max(xs)))
    f = _Frame(lo, hi, 0, 1)
    out = _open(title, "icc")
    out += _axes(f, _ticks(lo, hi, 6), [0, 0.25, 0.5, 0.75, 1.0], xlabel, ylabel, yfmt=lambda t: f"{t:.2f}")
    legend = []
    if fit and fit.get("a") is not None and fit.get("b") is not None:
        a, b = float(fit["a"]), float(fit["b"])
        pts = []
        steps = 80
        for s in range(steps + 1):
            t = lo + (hi - lo) * s / steps
            z = max(-40.0, min(40.0, a * (t - b)))
            pts.append(f"{f.x(t):.1f},{f.y(1 / (1 + math.exp(-z))):.1f}")
        out.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="#b35900" stroke-width="1.8" '
                   f'stroke-dasharray="7 3"/>')
        legend.append((fitted_label, "#b35900", "7 3", 1.8, None))
    pts = " ".join(f"{f.x(x):.1f},{f.y(p):.1f}" for x, p in zip(xs, ps))
    out.append(f'<polyline points="{pts}" fill="none" stroke="#1f4e79" stroke-width="1.2"/>')
    biggest = max(ns) or 1
    for x, p, n in zip(xs, ps, ns):
        r = 2.5 + 3.5 * math.sqrt(n / biggest)
        out.append(f'<circle cx="{f.x(x):.1f}" cy="{f.y(p):.1f}" r="{r:.1f}" fill="#1f4e79" fill-opacity="0.75">'
                   f'<title>θ≈{x:.2f}: {p:.2f} (n={n})</title></circle>')
    legend.insert(0, (empirical_label, "#1f4e79", "", 1.2, "circle"))
    out += _legend(f, legend)
    out.append("</svg>")
    return Markup("".join(out))


def history(points, *, title: str, xlabel: str, ylabel: str, p_label: str, r_label: str) -> Markup:
    """p and r_rest of an item across sittings (oldest left)."""
    if not points:
        return Markup("")
    k = len(points)
    values = [v for pt in points for v in (pt.get("p"), pt.get("r_rest")) if v is not None]
    lo = min([-0.2] + [math.floor(v * 5) / 5 for v in values])
    f = _Frame(0.5, k + 0.5, lo, 1, height=240)
    out = _open(title, "history", height=240)
    yt = [round(lo + 0.2 * i, 1) for i in range(int(round((1 - lo) / 0.2)) + 1)]
    out += _axes(f, list(range(1, k + 1)), yt, xlabel, ylabel,
                 xfmt=lambda t: str(int(t)), yfmt=lambda t: f"{t:.1f}")
    out.append(f'<line x1="{ML}" x2="{f.w - MR}" y1="{f.y(0):.1f}" y2="{f.y(0):.1f}" stroke="#000" '
               f'stroke-width="0.6"/>')
    for name, colour, dash, marker in (("p", "#1f4e79", "", "circle"), ("r_rest", "#b35900", "6 3", "square")):
        vals = [(i + 1, pt.get(name)) for i, pt in enumerate(points)]
        seg = [(i, v) for i, v in vals if v is not None]
        if seg:
            pts = " ".join(f"{f.x(i):.1f},{f.y(v):.1f}" for i, v in seg)
            out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.6" '
                       f'stroke-dasharray="{dash}"/>')
            for i, v in seg:
                out.append(_marker(marker, f.x(i), f.y(v), colour))
    out += _legend(f, [(p_label, "#1f4e79", "", 1.6, "circle"), (r_label, "#b35900", "6 3", 1.6, "square")])
    out.append("</svg>")
    return Markup("".join(out))
