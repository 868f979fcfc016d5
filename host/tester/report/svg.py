"""matplotlib figures as inline SVG for a self-contained page.

Figures are made with matplotlib.figure.Figure (no pyplot: no global state, no GUI backend) and
saved by the Agg canvas's SVG writer. Text stays text (svg.fonttype none): the page can be
searched, and a browser test can find a failing pin's name in the plot. Every id in a figure is
prefixed with the figure's name, so several figures inline in one page never share an id.
"""

import io
import re

import matplotlib

matplotlib.use("Agg")  # no display: reports are drawn on servers and in CI

from matplotlib.figure import Figure  # noqa: E402

FAIL_COLOR = "#c62828"
PASS_COLOR = "#4a78b5"
ANCHOR_COLOR = "#6a8caf"
LIMIT_COLOR = "#e65100"
MUTED = "#9e9e9e"

_RC = {
    "svg.fonttype": "none",
    "font.size": 9,
    "font.family": "DejaVu Sans",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}

_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|href="#)([^)"]+)')


def figure(width_in, height_in, left=0.6, right=0.15, top=0.3, bottom=0.5, wspace=0.15, hspace=0.45):
    """A figure with fixed margins in inches: a layout engine would draw every figure twice to
    measure it, which doubles the render time."""
    fig = Figure(figsize=(width_in, height_in))
    fig.subplots_adjust(left=left / width_in, right=1 - right / width_in, top=1 - top / height_in, bottom=bottom / height_in,
                        wspace=wspace, hspace=hspace)
    return fig


def to_svg(fig, name):
    """The figure as an <svg> element (no XML prolog), its ids prefixed with name."""
    buf = io.StringIO()
    with matplotlib.rc_context(dict(_RC, **{"svg.hashsalt": name})):
        fig.savefig(buf, format="svg")
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = _ID.sub(lambda m: 'id="%s-%s"' % (name, m.group(1)), text)
    text = _REF.sub(lambda m: "%s%s-%s" % (m.group(1), name, m.group(2)), text)
    # Scale with the page: the viewBox keeps the aspect ratio, CSS sets the width.
    return re.sub(r'<svg ([^>]*?)width="[^"]*" height="[^"]*"', r'<svg \1', text, count=1)


def styled(fn):
    """Decorator: draw under the report's rc settings (fonts, grid) without touching the global ones."""

    def wrapper(*a, **kw):
        with matplotlib.rc_context(_RC):
            return fn(*a, **kw)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper
