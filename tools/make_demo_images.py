"""Draw the technical figures used by the demo bank (examsys/demo/media/*.png).

Run from the repository root:  python tools/make_demo_images.py [OUTDIR]

The figures are simple line drawings made with matplotlib (Agg backend), about 600x400 px:

- stepped_shaft.png   阶梯轴 Φ48×40 / Φ40(0/−0.025)×35 / Φ30×25, total length 100
- tool_angles.png     turning tool in the orthogonal plane: γo, αo, βo, Pr, Ps
- thread_profile.png  60° thread profile with pitch P and thread depth h
- taper.png           outer cone D=Φ40, d=Φ30, L=50, half angle α/2
- star_delta.png      motor stator windings in star (a) and delta (b) connection
- series_circuit.png  E=12 V with R1=4 Ω and R2=2 Ω in series

Chinese labels need a CJK font (Noto Sans CJK SC or WenQuanYi); without one the figures use
English labels, so no missing-glyph warning is raised.  The drawings are deterministic: the
PNG metadata carries no date, so re-running gives the same files.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.patches import Arc, Circle, Polygon, Rectangle  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "examsys" / "demo" / "media"
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
             "Source Han Sans SC", "SimHei", "Microsoft YaHei")

LABELS_ZH = {
    "shaft_title": "阶梯轴", "chamfer": "未注倒角C1", "rake": "前刀面", "flank": "后刀面",
    "pr": "基面Pr", "ps": "切削平面Ps", "tool_title": "车刀正交平面内的角度",
    "workpiece": "工件", "tool": "车刀", "thread_title": "普通螺纹牙型",
    "taper_title": "外圆锥", "star": "(a) 星形（Y）", "delta": "(b) 三角形（Δ）",
    "winding": "定子绕组", "circuit_title": "串联电路",
}
LABELS_EN = {
    "shaft_title": "Stepped shaft", "chamfer": "chamfers C1", "rake": "rake face", "flank": "flank face",
    "pr": "Pr", "ps": "Ps", "tool_title": "Tool angles (orthogonal plane)",
    "workpiece": "workpiece", "tool": "tool", "thread_title": "Metric thread profile",
    "taper_title": "Outer cone", "star": "(a) Y", "delta": "(b) Δ",
    "winding": "stator windings", "circuit_title": "Series circuit",
}


def setup_font() -> dict[str, str]:
    """Use a CJK font when one is installed; return the label set that the font can draw."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in installed:
            plt.rcParams["font.sans-serif"] = [name, "DejaVu Sans"]
            plt.rcParams["font.family"] = "sans-serif"
            plt.rcParams["axes.unicode_minus"] = False
            return LABELS_ZH
    plt.rcParams["font.family"] = "DejaVu Sans"
    return LABELS_EN


def new_figure(xlim, ylim):
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def save(fig, out: Path, name: str) -> Path:
    path = out / name
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path


def dim_h(ax, x1, x2, y, text, ext_from=None, fs=9):
    """Horizontal dimension line with arrows at y, extension lines from ext_from (y of the part)."""
    if ext_from is not None:
        for x in (x1, x2):
            ax.plot([x, x], [ext_from, y + (1.5 if y > ext_from else -1.5)], lw=0.6, color="k")
    ax.annotate("", xy=(x1, y), xytext=(x2, y),
                arrowprops=dict(arrowstyle="<|-|>", lw=0.7, color="k", shrinkA=0, shrinkB=0,
                                mutation_scale=7))
    ax.text((x1 + x2) / 2, y + 1.2, text, ha="center", va="bottom", fontsize=fs)


def dim_v(ax, x, y1, y2, text, fs=9):
    """Vertical (diameter) dimension line at x between y1 and y2, text rotated."""
    ax.annotate("", xy=(x, y1), xytext=(x, y2),
                arrowprops=dict(arrowstyle="<|-|>", lw=0.7, color="k", shrinkA=0, shrinkB=0,
                                mutation_scale=7))
    ax.text(x - 1.2, (y1 + y2) / 2, text, ha="right", va="center", fontsize=fs, rotation=90)


def roughness(ax, x, y, value, fs=8):
    """Surface texture symbol (material removal required) standing on the surface at (x, y)."""
    h = 3.0
    ax.plot([x - h * 0.6, x, x + h * 1.2], [y + h, y, y + 2 * h], lw=0.7, color="k")
    ax.plot([x - h * 0.6, x + h * 0.3], [y + h, y + h], lw=0.7, color="k")
    ax.plot([x + h * 1.2, x + h * 4.2], [y + 2 * h, y + 2 * h], lw=0.7, color="k")
    ax.text(x + h * 1.3, y + 2 * h + 0.3, value, fontsize=fs, va="bottom")


def stepped_shaft(out: Path, L: dict) -> Path:
    # segments from the left: (diameter, length)
    segs = [(48, 40), (40, 35), (30, 25)]
    fig, ax = new_figure((-18, 118), (-45, 50))
    x = 0.0
    outline_top, outline_bot = [], []
    for d, length in segs:
        r = d / 2
        outline_top += [(x, r), (x + length, r)]
        outline_bot += [(x, -r), (x + length, -r)]
        x += length
    # outline with chamfers C1 at both ends and at the shoulders' outer edges
    c = 1.0
    top = [(0, 0), (0, 24 - c), (c, 24), (40, 24), (40, 20), (75 - 0, 20), (75, 20), (75, 15),
           (100 - c, 15), (100, 15 - c), (100, 0)]
    bot = [(x_, -y_) for x_, y_ in reversed(top)]
    ax.add_patch(Polygon(top + bot, closed=True, fill=False, lw=1.6, color="k"))
    for xs in (40, 75):  # shoulder lines
        r = 24 if xs == 40 else 20
        ax.plot([xs, xs], [-r, r], lw=1.6, color="k")
    ax.plot([-6, 106], [0, 0], lw=0.6, color="k", ls=(0, (12, 3, 2, 3)))  # centre line
    # diameters
    dim_v(ax, 20, -24, 24, "Φ48", fs=9)
    dim_v(ax, 57.5, -20, 20, "Φ40$^{\\ \\ 0}_{-0.025}$", fs=9)
    dim_v(ax, 88, -15, 15, "Φ30", fs=9)
    # lengths
    dim_h(ax, 0, 40, -32, "40", ext_from=-24)
    dim_h(ax, 40, 75, -32, "35", ext_from=-20)
    dim_h(ax, 75, 100, -32, "25", ext_from=-15)
    dim_h(ax, 0, 100, -41, "100", ext_from=-24)
    # surface texture
    roughness(ax, 8, 24, "Ra 3.2")
    roughness(ax, 46, 20, "Ra 1.6")
    roughness(ax, 80, 15, "Ra 1.6")
    ax.text(50, 45, L["shaft_title"] + "    " + L["chamfer"], ha="center", fontsize=10)
    return save(fig, out, "stepped_shaft.png")


def tool_angles(out: Path, L: dict) -> Path:
    fig, ax = new_figure((-60, 70), (-55, 32))
    g, a = 12.0, 8.0  # rake angle γo and clearance angle αo in degrees
    R = 55
    rake = (R * math.cos(math.radians(-g)), R * math.sin(math.radians(-g)))
    flank = (R * math.cos(math.radians(-90 + a)), R * math.sin(math.radians(-90 + a)))
    body = [(0, 0), rake, (rake[0], flank[1]), flank]
    ax.add_patch(Polygon(body, closed=True, facecolor="#dddddd", edgecolor="k", lw=1.5))
    # workpiece (left) with the layer being cut above the edge
    ax.add_patch(Rectangle((-55, -50), 52, 50, facecolor="none", edgecolor="k", lw=1.0,
                           hatch="///"))
    ax.text(-30, -25, L["workpiece"], ha="center", va="center", fontsize=10,
            bbox=dict(facecolor="white", edgecolor="none"))
    ax.text(30, -30, L["tool"], ha="center", fontsize=10)
    # reference planes
    ax.plot([-8, 62], [0, 0], lw=0.8, color="k", ls="--")
    ax.plot([0, 0], [-52, 25], lw=0.8, color="k", ls="--")
    ax.text(62, 1, L["pr"], fontsize=9, ha="right", va="bottom")
    ax.text(1.5, 24, L["ps"], fontsize=9, ha="left", va="top")
    ax.text(rake[0] - 4, rake[1] + 3.5, L["rake"], fontsize=9, ha="right", va="bottom")
    ax.text(flank[0] + 2, flank[1] + 12, L["flank"], fontsize=9, ha="left", rotation=90 - a)
    # angle arcs
    ax.add_patch(Arc((0, 0), 60, 60, theta1=-g, theta2=0, lw=0.9))
    ax.text(32, -3.5, "γo", fontsize=11, va="center")
    ax.add_patch(Arc((0, 0), 70, 70, theta1=-90, theta2=-90 + a, lw=0.9))
    ax.text(2.5, -39, "αo", fontsize=11, ha="left")
    ax.add_patch(Arc((0, 0), 30, 30, theta1=-90 + a, theta2=-g, lw=0.9))
    ax.text(8, -13, "βo", fontsize=11)
    ax.plot([0], [0], "ko", ms=3)
    ax.text(0, 27, L["tool_title"], ha="center", fontsize=10)
    return save(fig, out, "tool_angles.png")


def thread_profile(out: Path, L: dict) -> Path:
    P = 20.0  # drawing scale: one pitch = 20 units
    H = P * math.sqrt(3) / 2  # height of the fundamental triangle
    crest, root = P / 8, P / 4  # flat widths at crest (H/8 cut) and root (H/4 cut)
    y_top, y_bot = H * 7 / 8, H * 2 / 8
    fig, ax = new_figure((-8, 92), (-12, 40))
    pts = []
    x0 = 0.0
    for _ in range(4):
        # root flat, rising flank, crest flat, falling flank
        pts += [(x0, y_bot), (x0 + root, y_bot)]
        x_up = x0 + root + (P / 2 - root / 2 - crest / 2)
        pts += [(x_up, y_top), (x_up + crest, y_top)]
        x0 += P
    pts.append((x0, y_bot))
    xs, ys = zip(*pts)
    ax.plot(xs, ys, lw=1.6, color="k")
    ax.fill_between(xs, [-2] * len(xs), ys, color="#e8e8e8")
    # pitch P between two neighbouring crest centres
    c1 = root + (P / 2 - root / 2 - crest / 2) + crest / 2
    c2 = c1 + P
    for c in (c1, c2):
        ax.plot([c, c], [y_top, y_top + 8], lw=0.6, color="k")
    dim_h(ax, c1, c2, y_top + 6, "P", fs=11)
    # 60° between the flanks of one groove
    g_c = c2 + P / 2  # groove centre
    flank_len = 10
    for s in (-1, 1):
        ax.plot([g_c, g_c + s * flank_len * math.sin(math.radians(30))],
                [y_top + 12 - 15, y_top + 12 - 15 + flank_len * math.cos(math.radians(30))],
                lw=0.0)
    ax.add_patch(Arc((g_c, y_bot - (root / 2) / math.tan(math.radians(30))), 22, 22,
                     theta1=60, theta2=120, lw=0.9))
    ax.text(g_c, y_top - 1, "60°", ha="center", va="top", fontsize=11)
    # thread depth h
    xh = 4 * P - 2
    ax.plot([xh - 6, xh + 6], [y_top, y_top], lw=0.6, color="k")
    ax.plot([xh - 6, xh + 6], [y_bot, y_bot], lw=0.6, color="k")
    ax.annotate("", xy=(xh + 4, y_bot), xytext=(xh + 4, y_top),
                arrowprops=dict(arrowstyle="<|-|>", lw=0.7, color="k", shrinkA=0, shrinkB=0,
                                mutation_scale=7))
    ax.text(xh + 5.5, (y_top + y_bot) / 2, "h", fontsize=11, va="center")
    ax.plot([-6, 88], [-8, -8], lw=0.6, color="k", ls=(0, (12, 3, 2, 3)))
    ax.text(40, 36, L["thread_title"], ha="center", fontsize=10)
    return save(fig, out, "thread_profile.png")


def taper(out: Path, L: dict) -> Path:
    D, d, length = 40.0, 30.0, 50.0
    fig, ax = new_figure((-30, 80), (-38, 36))
    outline = [(0, D / 2), (length, d / 2), (length, -d / 2), (0, -D / 2)]
    ax.add_patch(Polygon(outline, closed=True, fill=False, lw=1.6, color="k"))
    ax.add_patch(Rectangle((-18, -D / 2), 18, D, fill=False, lw=1.6, color="k"))
    ax.plot([-22, length + 12], [0, 0], lw=0.6, color="k", ls=(0, (12, 3, 2, 3)))
    dim_v(ax, -8, -D / 2, D / 2, "D=Φ40")
    dim_v(ax, length + 8, -d / 2, d / 2, "d=Φ30")
    for x in (length,):
        ax.plot([x, x + 10], [d / 2, d / 2], lw=0.6, color="k")
        ax.plot([x, x + 10], [-d / 2, -d / 2], lw=0.6, color="k")
    dim_h(ax, 0, length, -29, "L=50", ext_from=-D / 2)
    # half angle between the generatrix and a line parallel to the axis
    half = math.degrees(math.atan((D - d) / (2 * length)))
    ax.plot([0, 38], [D / 2, D / 2], lw=0.6, color="k", ls="--")
    ax.add_patch(Arc((0, D / 2), 60, 60, theta1=-half, theta2=0, lw=0.9))
    ax.text(31, D / 2 + 1.0, "α/2", fontsize=11, va="bottom")
    ax.text(25, 31, L["taper_title"], ha="center", fontsize=10)
    return save(fig, out, "taper.png")


def _winding(ax, p, q, label):
    """A stator winding drawn as a small rectangle between points p and q."""
    (x1, y1), (x2, y2) = p, q
    ang = math.atan2(y2 - y1, x2 - x1)
    length = math.hypot(x2 - x1, y2 - y1)
    w, h = length * 0.5, 3.2
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    ux, uy = math.cos(ang), math.sin(ang)
    a = (cx - ux * w / 2, cy - uy * w / 2)
    b = (cx + ux * w / 2, cy + uy * w / 2)
    ax.plot([x1, a[0]], [y1, a[1]], lw=1.2, color="k")
    ax.plot([b[0], x2], [b[1], y2], lw=1.2, color="k")
    nx, ny = -uy * h / 2, ux * h / 2
    rect = [(a[0] + nx, a[1] + ny), (b[0] + nx, b[1] + ny), (b[0] - nx, b[1] - ny),
            (a[0] - nx, a[1] - ny)]
    ax.add_patch(Polygon(rect, closed=True, facecolor="white", edgecolor="k", lw=1.2))
    ax.text(cx + nx * 2.6, cy + ny * 2.6, label, fontsize=8, ha="center", va="center")


def star_delta(out: Path, L: dict) -> Path:
    fig, ax = new_figure((0, 120), (-5, 75))
    # (a) star: the ends U2, V2, W2 are joined at the star point, U1, V1, W1 go to the lines
    c = (30.0, 30.0)
    ends = [(30.0, 60.0), (6.0, 16.0), (54.0, 16.0)]
    for (x, y), ph in zip(ends, ("U", "V", "W")):
        _winding(ax, (x, y), c, ph)
        ax.add_patch(Circle((x, y), 1.3, facecolor="white", edgecolor="k", lw=1.0, zorder=3))
    ax.plot([c[0]], [c[1]], "ko", ms=4)
    for (x, y), line in zip(ends, ("L1", "L2", "L3")):
        ax.text(x, y + 4 if y > 40 else y - 7, line, fontsize=8, ha="center")
    ax.text(30, 0, L["star"], ha="center", fontsize=10)
    # (b) delta: windings along the sides of a triangle
    A, B, C = (90.0, 60.0), (66.0, 16.0), (114.0, 16.0)
    _winding(ax, A, B, "U")
    _winding(ax, B, C, "V")
    _winding(ax, C, A, "W")
    for (x, y), line in zip((A, B, C), ("L1", "L2", "L3")):
        ax.add_patch(Circle((x, y), 1.3, facecolor="white", edgecolor="k", lw=1.0, zorder=3))
        ax.text(x, y + 4 if y > 40 else y - 7, line, fontsize=8, ha="center")
    ax.text(90, 0, L["delta"], ha="center", fontsize=10)
    ax.text(60, 71, L["winding"], ha="center", fontsize=10)
    return save(fig, out, "star_delta.png")


def series_circuit(out: Path, L: dict) -> Path:
    fig, ax = new_figure((0, 120), (0, 80))
    k = dict(lw=1.4, color="k")
    # loop: left side battery, top R1, right side R2
    ax.plot([20, 20], [15, 32], **k)
    ax.plot([20, 20], [40, 65], **k)
    ax.plot([14, 26], [40, 40], lw=2.0, color="k")   # long plate (+)
    ax.plot([17, 23], [36, 36], lw=3.0, color="k")   # short plate (−)
    ax.plot([20, 20], [32, 36], **k)
    ax.text(10, 44, "+", fontsize=11)
    ax.text(29, 37, "E=12V", fontsize=10, va="center")
    ax.plot([20, 45], [65, 65], **k)
    ax.add_patch(Rectangle((45, 61), 25, 8, fill=False, **k))
    ax.text(57.5, 72, "R1=4Ω", ha="center", fontsize=10)
    ax.plot([70, 100], [65, 65], **k)
    ax.plot([100, 100], [65, 52], **k)
    ax.add_patch(Rectangle((96, 27), 8, 25, fill=False, **k))
    ax.text(107, 39.5, "R2=2Ω", fontsize=10, va="center")
    ax.plot([100, 100], [27, 15], **k)
    ax.plot([100, 20], [15, 15], **k)
    ax.annotate("", xy=(88, 65), xytext=(78, 65),
                arrowprops=dict(arrowstyle="-|>", color="k", lw=1.2, mutation_scale=10))
    ax.text(83, 58, "I", fontsize=11, ha="center")
    ax.text(60, 4, L["circuit_title"], ha="center", fontsize=10)
    return save(fig, out, "series_circuit.png")


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    labels = setup_font()
    for draw in (stepped_shaft, tool_angles, thread_profile, taper, star_delta, series_circuit):
        path = draw(out, labels)
        print(f"{path}  {path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
