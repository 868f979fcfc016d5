"""The HTML page around the plots: one self-contained file (inline CSS and SVG, no script, no
network), a SIMULATED banner on screen and on every printed page, small table helpers."""

import datetime
import html

from tester import __version__

SIMULATED_TEXT = "SIMULATED: these results do not come from real hardware"

# On paper: a page-margin box says SIMULATED at the top of every page (Chromium >= 131), and a
# position:fixed watermark, which browsers repeat on every printed page, says it across each.
_CSS = """
:root { --fail: #c62828; --pass: #2e7d32; --warn: #e65100; --muted: #666; }
* { box-sizing: border-box; }
body { font: 14px/1.45 "DejaVu Sans", system-ui, sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 0 24px 48px; color: #1b1b1b; }
h1 { font-size: 22px; margin: 18px 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 3px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.sub { color: var(--muted); margin: 0 0 12px; }
.sim-banner { background: repeating-linear-gradient(45deg, #ffd54f, #ffd54f 12px, #ffca28 12px, #ffca28 24px);
              color: #000; font-weight: bold; text-align: center; padding: 6px; letter-spacing: .04em;
              position: sticky; top: 0; z-index: 10; border-bottom: 2px solid #000; }
.verdict { display: inline-block; font-size: 20px; font-weight: bold; padding: 4px 16px; border-radius: 4px;
           color: #fff; background: var(--muted); }
.verdict.PASS { background: var(--pass); } .verdict.FAIL { background: var(--fail); }
.verdict.INVALID, .verdict.ERROR, .verdict.ABORTED { background: var(--warn); }
.failing { color: var(--fail); font-weight: bold; }
.summary { margin: 8px 0 4px; }
table { border-collapse: collapse; margin: 6px 0 10px; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 2px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.bad td { background: #fdecea; }
.kv th { width: 14em; }
.cols { display: flex; flex-wrap: wrap; gap: 0 28px; }
.cols.pair { flex-wrap: nowrap; } .cols.pair > figure.plot { flex: 1 1 0; min-width: 0; }
figure.plot { margin: 8px 0 16px; break-inside: avoid; }
figure.plot svg { width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 12px; }
.note { color: var(--muted); font-size: 12px; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; border-top: 1px solid #ddd; padding-top: 6px; }
section.part { break-before: page; }
.sim-watermark { display: none; }
@media print {
  @page { margin: 18mm 12mm 14mm; }
  body { max-width: none; padding: 0; }
  .sim-banner { position: static; }
  .sim-watermark { display: block; position: fixed; top: 40%; left: 0; right: 0; text-align: center;
                   font: bold 96px sans-serif; color: rgba(198, 40, 40, .10); transform: rotate(-30deg); z-index: 20; }
  h2, h3 { break-after: avoid; }
  table { break-inside: auto; } tr { break-inside: avoid; }
}
"""

_SIM_CSS = """
@media print { @page { @top-center { content: "SIMULATED: not real hardware"; font: bold 11pt sans-serif; color: #b00; } } }
"""


def esc(value):
    return html.escape("" if value is None else str(value))


def fmt(value, digits=3):
    """A number for a table: fixed digits for floats, '-' for nothing."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "%.*f" % (digits, value)
    return str(value)


def kv_table(rows):
    """A two-column table of (label, value) with the value escaped; None rows are skipped."""
    out = ['<table class="kv">']
    for label, value in rows:
        if value is None:
            continue
        text = "%.6g" % value if isinstance(value, float) else fmt(value)
        out.append("<tr><th>%s</th><td>%s</td></tr>" % (esc(label), esc(text)))
    out.append("</table>")
    return "".join(out)


def table(headers, rows, bad=None, numeric=()):
    """rows: lists of cells (escaped here); bad(row_index) -> True marks the row."""
    out = ["<table><tr>", "".join("<th>%s</th>" % esc(h) for h in headers), "</tr>"]
    for i, row in enumerate(rows):
        cls = ' class="bad"' if bad and bad(i) else ""
        cells = "".join('<td%s>%s</td>' % (' class="num"' if j in numeric else "", esc(fmt(c))) for j, c in enumerate(row))
        out.append("<tr%s>%s</tr>" % (cls, cells))
    out.append("</table>")
    return "".join(out)


def plot(name, svg, caption, **data):
    """A figure wrapping an inline SVG; data-* attributes say what a test should find in it."""
    attrs = "".join(' data-%s="%s"' % (k.replace("_", "-"), esc(v)) for k, v in data.items())
    return '<figure class="plot" data-plot="%s"%s>%s<figcaption>%s</figcaption></figure>' % (esc(name), attrs, svg, esc(caption))


def verdict_badge(verdict):
    v = esc(verdict or "UNKNOWN")
    return '<span class="verdict %s" data-verdict="%s">%s</span>' % (v, v, v)


def document(title, body, simulated, banner=None):
    """The whole page; a simulated one says so on screen (banner) and on every printed page."""
    banner = ('<div class="sim-banner" data-simulated="true">%s</div><div class="sim-watermark" aria-hidden="true">SIMULATED</div>'
              % esc(banner or SIMULATED_TEXT)) if simulated else ""
    full_title = ("SIMULATED - " if simulated else "") + title
    made = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>%s</title><style>%s%s</style></head><body>%s%s"
        "<footer>tester %s report, made %s%s</footer></body></html>\n"
        % (esc(full_title), _CSS, _SIM_CSS if simulated else "", banner, body, esc(__version__), made, " - SIMULATED" if simulated else "")
    )
