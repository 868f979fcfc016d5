"""Render hardware/block_diagram.toml to hardware/block_diagram.svg (pure Python, no Graphviz).

    python -m hardware.tools.draw_block_diagram           # write the SVG
    python -m hardware.tools.draw_block_diagram --check   # exit 1 if the SVG is not up to date
"""

import sys
import tomllib
from xml.sax.saxutils import escape

from . import common

SRC = common.HARDWARE / "block_diagram.toml"
SVG = common.HARDWARE / "block_diagram.svg"
CW, RH = 250, 110  # grid cell
BW, BH = 220, 70  # block size in one cell
MARGIN = 20
TOP = 50


def box(b):
    w = b.get("w", 1)
    h = b.get("h", 1)
    x = MARGIN + b["col"] * CW
    y = TOP + b["row"] * RH
    return x, y, (w - 1) * CW + BW, (h - 1) * RH + BH


def render(src=None):
    with open(src or SRC, "rb") as f:
        d = tomllib.load(f)
    blocks = {b["id"]: b for b in d["block"]}
    width = MARGIN * 2 + 5 * CW - (CW - BW)
    height = TOP + (max(b["row"] + b.get("h", 1) for b in d["block"])) * RH + MARGIN
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif">' % (width, height, width, height),
        '<rect width="100%" height="100%" fill="white"/>',
        '<text x="%d" y="30" font-size="18" font-weight="bold">%s</text>' % (MARGIN, escape(d["title"])),
        '<defs><marker id="a" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#444"/></marker></defs>',
    ]
    for a, b, label in d["edges"]:
        if a not in blocks or b not in blocks:
            raise ValueError("edge %s -> %s names an unknown block" % (a, b))
        ax, ay, aw, ah = box(blocks[a])
        bx, by, bw, bh = box(blocks[b])
        x1, y1 = ax + aw / 2, ay + ah / 2
        x2, y2 = bx + bw / 2, by + bh / 2
        # stop the arrow at the target box's border
        dx, dy = x2 - x1, y2 - y1
        t = 1.0
        if dx:
            t = min(t, abs((bw / 2) / dx))
        if dy:
            t = min(t, abs((bh / 2) / dy))
        ex, ey = x2 - dx * t, y2 - dy * t
        out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#444" stroke-width="1.5" marker-end="url(#a)"/>' % (x1, y1, ex, ey))
        if label:
            mx, my = (x1 + ex) / 2, (y1 + ey) / 2
            out.append('<text x="%.1f" y="%.1f" font-size="11" fill="#a03" text-anchor="middle" stroke="white" stroke-width="3" paint-order="stroke">%s</text>' % (mx, my - 3, escape(label)))
    for b in d["block"]:
        x, y, w, h = box(b)
        out.append('<rect x="%d" y="%d" width="%d" height="%d" rx="6" fill="#eef4fb" stroke="#235" stroke-width="1.5"/>' % (x, y, w, h))
        lines = b["label"]
        for i, line in enumerate(lines):
            yy = y + h / 2 + (i - (len(lines) - 1) / 2) * 16 + 5
            weight = ' font-weight="bold"' if i == 0 else ""
            out.append('<text x="%.1f" y="%.1f" font-size="%d" text-anchor="middle"%s>%s</text>' % (x + w / 2, yy, 13 if i == 0 else 11, weight, escape(line)))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    svg = render()
    if "--check" in argv:
        ok = SVG.exists() and SVG.read_text() == svg
        print("block_diagram.svg %s" % ("up to date" if ok else "out of date: python -m hardware.tools.draw_block_diagram"))
        return 0 if ok else 1
    SVG.write_text(svg)
    print("wrote", SVG)
    return 0


if __name__ == "__main__":
    sys.exit(main())
