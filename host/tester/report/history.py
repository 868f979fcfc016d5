"""Lot (yield) and fixture (drift) reports, from what tester.history.queries returns:

- yield_report(...): a list of sections, one per simulated value (False real, True SIMULATED,
  None mixed): {simulated, by, groups: [{group, units, passed, failed, fpy}], total: {units,
  passed, failed, fpy}, by_fault: [{fault, count, cumulative}], by_pin: [{position, pin, anchor,
  count, cumulative}], runs_with_shorts, unjudged}
- drift(...): a list of sections {simulated, fixture, pins: [{position, pin, anchor, stage, n,
  mean, sigma, ucl, lcl, limit, cpk, slope_per_day, slope_t, rising, series?: [{t, r_mohm,
  run_id, out_of_control}]}], rising: [position...]}

A dict with a "sections" list is taken too (with "lot" / "fixture" for the title)."""

from tester.firmware import spec5861

from . import page, svg
from .page import esc

MAX_SERIES_POINTS = 400  # per control chart: the latest runs (the statistics use every run)
SIM_NAMES = {None: "real and simulated runs mixed", False: "real runs", True: "SIMULATED runs"}


def _sections(data):
    if isinstance(data, dict):
        return list(data.get("sections") or []), data
    return list(data or []), {}


def _any_simulated(sections):
    return any(s.get("simulated") in (True, None) for s in sections)


def _pct(v):
    return "-" if v is None else "%.1f %%" % (100 * v)


@svg.styled
def yield_plot(section, name):
    groups = section.get("groups") or []
    fig = svg.figure(10, 2.6, bottom=0.6)
    ax = fig.add_subplot()
    labels = [str(g.get("group") or "(none)") for g in groups]
    bars = ax.bar(range(len(groups)), [100 * (g.get("fpy") or 0) for g in groups], width=0.7,
                  color=[svg.PASS_COLOR if (g.get("fpy") or 0) >= 0.95 else svg.FAIL_COLOR for g in groups])
    for b, g, label in zip(bars, groups, labels):
        b.set_gid("fpy-" + label)
        ax.annotate("%.1f%%\n%d/%d" % (100 * (g.get("fpy") or 0), g.get("passed") or 0, g.get("units") or 0),
                    (b.get_x() + b.get_width() / 2, b.get_height()), xytext=(0, 2), textcoords="offset points", ha="center", fontsize=7)
    ax.set_xticks(range(len(groups)), labels, rotation=30 if len(groups) > 12 else 0, fontsize=7)
    ax.set_xlim(-0.6, max(len(groups), 8) - 0.4)  # one group is not a wall of colour
    ax.set_ylim(0, 115)
    ax.set_ylabel("first-pass yield (%)")
    ax.set_xlabel(section.get("by") or "group")
    if not groups:
        ax.text(0.5, 0.5, "no runs", transform=ax.transAxes, ha="center", color=svg.MUTED)
    return svg.to_svg(fig, name), len(groups)


@svg.styled
def pareto_plot(items, label_key, title, name):
    """Bars of counts, largest first, with the cumulative share on a second axis."""
    fig = svg.figure(5, 2.8, bottom=0.8, right=0.6)
    ax = fig.add_subplot()
    labels = [str(i.get(label_key)) for i in items]
    bars = ax.bar(range(len(items)), [i.get("count") or 0 for i in items], color=svg.FAIL_COLOR, width=0.7)
    for b, label in zip(bars, labels):
        b.set_gid("pareto-" + label.replace(" ", "-"))
    ax.set_xticks(range(len(items)), labels, rotation=45 if len(items) > 4 else 0, ha="right" if len(items) > 4 else "center", fontsize=7)
    ax.set_xlim(-0.6, max(len(items), 5) - 0.4)
    ax.set_ylabel("failures")
    ax.set_title(title, fontsize=9, loc="left")
    if items:
        ax2 = ax.twinx()
        ax2.plot(range(len(items)), [100 * (i.get("cumulative") or 0) for i in items], color="#333", marker="o", markersize=3)
        ax2.set_ylim(0, 105)
        ax2.set_ylabel("cumulative %")
        ax2.grid(False)
    else:
        ax.text(0.5, 0.5, "no failures", transform=ax.transAxes, ha="center", color=svg.MUTED)
    return svg.to_svg(fig, name), len(items)


def render_lot(yield_data, lot=None):
    sections, meta = _sections(yield_data)
    lot = lot or meta.get("lot")
    title = "First-pass yield" + (", lot %s" % lot if lot else "")
    out = ["<h1>%s</h1><p class=\"sub\">Kyocera 5861 contact resistance runs: each connector's first judged run</p>" % esc(title)]
    if not sections:
        out.append("<p>No contact resistance runs stored for this selection.</p>")
    for k, s in enumerate(sections):
        t = s.get("total") or {}
        sim = s.get("simulated")
        out.append('<h2 data-simulated="%s">%s: %s</h2>' % (esc(sim), esc(SIM_NAMES.get(sim, sim)), _pct(t.get("fpy"))))
        out.append('<p class="summary">%d connector(s), %d passed, %d failed%s%s</p>' % (
            t.get("units") or 0, t.get("passed") or 0, t.get("failed") or 0,
            ", %d with shorts" % s["runs_with_shorts"] if s.get("runs_with_shorts") else "",
            "; %d run(s) ended ERROR or ABORTED, not counted" % s["unjudged"] if s.get("unjudged") else ""))
        svg_y, n = yield_plot(s, "yield%d" % k)
        out.append(page.plot("yield%d" % k, svg_y, "First-pass yield by %s (red below 95 %%)." % (s.get("by") or "group"), bars=n))
        groups = s.get("groups") or []
        out.append(page.table([s.get("by") or "group", "units", "passed", "failed", "FPY"],
                              [[g.get("group") or "(none)", g.get("units"), g.get("passed"), g.get("failed"), _pct(g.get("fpy"))] for g in groups],
                              numeric=(1, 2, 3, 4)))
        f_svg, nf = pareto_plot(s.get("by_fault") or [], "fault", "failures by fault", "pareto-fault%d" % k)
        p_svg, npin = pareto_plot(s.get("by_pin") or [], "position", "failures by pin", "pareto-pin%d" % k)
        worst = ", ".join(esc(i.get("position")) for i in (s.get("by_pin") or [])[:3])
        out.append('<h3>Pareto of failures</h3><div class="cols pair">%s%s</div>' % (
            page.plot("pareto-fault%d" % k, f_svg, "Failing measurements of first-pass failing runs, by fault.", bars=nf),
            page.plot("pareto-pin%d" % k, p_svg, "By pin%s." % ((": most often " + worst) if worst else ""), bars=npin)))
    return page.document(title, "".join(out), _any_simulated(sections), banner=_banner(sections))


def _banner(sections):
    sims = {s.get("simulated") for s in sections}
    if sims == {True}:
        return None  # the standard text
    if True in sims or None in sims:
        return "SIMULATED runs included: their figures are shown apart from (or mixed with, where said) real ones"
    return None


@svg.styled
def control_charts(pins, name, cols=4):
    """Small multiples: each pin's R per run, its mean, mean +- 3 sigma, and its spec limit."""
    n = len(pins)
    rows = max(1, (n + cols - 1) // cols)
    fig = svg.figure(10, 1.9 * rows + 0.3, left=0.6, bottom=0.45, top=0.3, hspace=0.65, wspace=0.25)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
    drawn = 0
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        p = pins[i]
        pts = (p.get("series") or [])[-MAX_SERIES_POINTS:]
        xs = list(range(len(pts)))
        ys = [q.get("r_mohm") for q in pts]
        bad = [bool(q.get("out_of_control")) for q in pts]
        line = ax.plot(xs, ys, color=svg.PASS_COLOR, linewidth=0.8, marker="o", markersize=2)[0]
        line.set_gid("series-%d" % i)
        if any(bad):
            ax.scatter([x for x, b in zip(xs, bad) if b], [y for y, b in zip(ys, bad) if b], color=svg.FAIL_COLOR, s=12, zorder=3)
        for v, style, color in ((p.get("mean"), "-", "#333"), (p.get("ucl"), "--", "#777"), (p.get("lcl"), "--", "#777"),
                                (p.get("limit"), "-", svg.LIMIT_COLOR)):
            if v is not None:
                ax.axhline(v, linestyle=style, color=color, linewidth=1)
        rising = p.get("rising")
        ax.set_title("%s%s  Cpk %s" % (p.get("position"), "  RISING" if rising else "", "-" if p.get("cpk") is None else "%.1f" % p["cpk"]),
                     fontsize=8, loc="left", color=svg.FAIL_COLOR if rising else "#333", fontweight="bold" if rising else "normal")
        ax.tick_params(labelsize=6)
        ax.grid(False)  # small multiples: the mean and limits are the reference lines
        ax.locator_params(nbins=3)
        lim = p.get("limit")
        hi = max([y for y in ys if y is not None] + [p.get("ucl") or 0, (lim or 0) * 1.05])
        ax.set_ylim(0, hi * 1.08 if hi else 1)
        drawn += 1
    fig.supxlabel("run (oldest to newest, the latest %d)" % MAX_SERIES_POINTS, fontsize=8)
    fig.supylabel("R (mΩ)", fontsize=8)
    return svg.to_svg(fig, name), drawn


def render_drift(drift_data, fixture=None):
    sections, meta = _sections(drift_data)
    fixture = fixture or meta.get("fixture") or next((s.get("fixture") for s in sections if s.get("fixture")), None)
    title = "Drift, fixture %s" % (fixture or "?")
    out = ["<h1>%s</h1><p class=\"sub\">Per pin over the fixture's runs: mean, mean ± 3σ (control limits), Cpk against the spec limit "
           "(contact %g mΩ; anchor plate %g / %g mΩ initial / after)</p>"
           % (esc(title), spec5861.CONTACT_LIMIT_MOHM, spec5861.ANCHOR_LIMIT_MOHM["initial"], spec5861.ANCHOR_LIMIT_MOHM["after"])]
    if not sections:
        out.append("<p>No runs of this fixture stored.</p>")
    for k, s in enumerate(sections):
        pins = s.get("pins") or []
        rising = s.get("rising") or []
        out.append('<h2 data-simulated="%s">%s</h2>' % (esc(s.get("simulated")), esc(SIM_NAMES.get(s.get("simulated"), ""))))
        out.append('<p class="summary">%s</p>' % (
            "Rising: " + ", ".join('<span class="failing" data-failing="%s">%s</span>' % (esc(r), esc(r)) for r in rising)
            if rising else "no pin's resistance is rising"))
        charted = [p for p in pins if p.get("series")]
        # Rising pins first, then the lowest Cpk: the charts a reader needs are on top.
        charted.sort(key=lambda p: (not p.get("rising"), p.get("cpk") if p.get("cpk") is not None else 1e9))
        if charted:
            c_svg, n = control_charts(charted, "control%d" % k)
            out.append(page.plot("control%d" % k, c_svg, "Control chart per pin: blue R per run (red: outside mean ± 3σ), "
                                 "black mean, grey dashed mean ± 3σ, orange the spec limit.", charts=n, rising=",".join(rising)))
        out.append(page.table(["position", "runs", "mean (mΩ)", "σ (mΩ)", "LCL", "UCL", "limit", "Cpk", "slope (mΩ/day)", "t", "rising"],
                              [[p.get("position"), p.get("n"), p.get("mean"), p.get("sigma"), p.get("lcl"), p.get("ucl"), p.get("limit"),
                                p.get("cpk"), p.get("slope_per_day"), p.get("slope_t"), "RISING" if p.get("rising") else ""] for p in pins],
                              bad=lambda i: bool(pins[i].get("rising")), numeric=tuple(range(1, 10))))
    return page.document(title, "".join(out), _any_simulated(sections), banner=_banner(sections))
