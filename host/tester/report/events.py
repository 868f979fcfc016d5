"""Monitoring records (tester monitor, vibration, shock): events on a timeline per channel, the
width histogram of glitches below the event definition, the detector self-check, the windows;
for vibration, the whole qualification procedure (initial contact resistance, X, Y, Z, after)."""

import json
import re
from pathlib import Path

from tester.firmware import FIRMWARE_DIR, protocol, spec5861

from . import contact, page, svg
from .page import esc

MAX_POINTS = 20000  # events drawn on a timeline; past that the plot says how many were left out
TITLES = {"monitor": "Discontinuity monitoring", "vibration": "Vibration qualification (spec 8.6)", "shock": "Shock test (spec 8.7)"}


def hist_edges_ns(record):
    """Upper bin edges of the glitch histogram: from the record (each window keeps the bins the
    fixture sent); records written before it did: read (not imported: it is device code) from the
    detector driver, their one home."""
    for w in record.get("windows") or []:
        if w.get("hist_edges_ns"):
            return list(w["hist_edges_ns"])
    if (record.get("definition") or {}).get("hist_edges_ns"):
        return list(record["definition"]["hist_edges_ns"])
    text = (FIRMWARE_DIR / "drivers" / "event_detector.py").read_text()
    m = re.search(r"^HIST_EDGES_NS\s*=\s*\(([^)]*)\)", text, re.M)
    return [int(v) for v in m.group(1).split(",") if v.strip()]


def channel_label(ch):
    pins = ch.get("pins") or []
    return "ch %s: %s" % (ch.get("channel"), " ".join(str(p) for p in pins))


@svg.styled
def timeline_plot(record):
    kind = record.get("kind")
    channels = record.get("channels") or []
    rows = {c.get("channel"): i for i, c in enumerate(channels)}
    events = (record.get("events") or [])[:MAX_POINTS]
    height = max(2.6, 0.16 * len(channels) + 1.1)
    windows = record.get("windows") or []
    if kind == "vibration":
        panels = [(w.get("axis") or w.get("label"), [e for e in events if e.get("window") == w.get("label")], w) for w in windows]
    else:
        panels = [(None, events, None)]
    fig = svg.figure(10, height, left=1.0, right=0.2, bottom=0.65 if kind == "shock" else 0.5)
    axes = fig.subplots(1, max(1, len(panels)), sharey=True, squeeze=False)[0]
    mappable = None
    for ax, (axis, evs, w) in zip(axes, panels):
        xs, ys, colors, hollow = [], [], [], []
        for e in evs:
            if e.get("channel") not in rows:
                continue
            ys.append(rows[e["channel"]])
            if kind == "shock":
                n = int(e.get("shock") or 0)
                window_s = (record.get("conditions") or {}).get("window_s") or 1
                xs.append(n - 0.5 + min(1.0, float(e.get("t_axis_s") or 0) / window_s))
            else:
                xs.append(float(e.get("t_axis_s") if e.get("t_axis_s") not in (None, "") else (e.get("t_us") or 0) / 1e6))
            colors.append(float(e.get("sweep_hz")) if e.get("sweep_hz") not in (None, "") else 0.0)
            hollow.append(bool(e.get("open_at_end")))
        name = "events" if axis is None else "events-%s" % axis
        if kind == "vibration":
            sc = ax.scatter(xs, ys, c=colors, cmap="viridis", vmin=10, vmax=55, marker="|", s=140, linewidths=2)
            mappable = sc
        else:
            sc = ax.scatter(xs, ys, color=svg.FAIL_COLOR, marker="|", s=140, linewidths=2)
        sc.set_gid(name)
        if kind == "shock":
            dirs = {int(w2.get("tags", {}).get("shock") or 0): w2.get("tags", {}).get("direction") for w2 in windows}
            n_shocks = max(dirs or {0: None}) or 18
            ax.set_xticks(range(1, n_shocks + 1), ["%d\n%s" % (i, dirs.get(i) or "") for i in range(1, n_shocks + 1)], fontsize=7)
            ax.set_xlim(0.4, n_shocks + 0.6)
            ax.set_xlabel("shock number and direction (time within each window)")
        else:
            span = (w or {}).get("seconds") or (record.get("conditions") or {}).get("duration_s") or max(xs or [1])
            ax.set_xlim(0, span)
            ax.set_xlabel("time into axis %s (s)" % axis if kind == "vibration" else "time (s)")
        if kind == "vibration":
            ax.set_title("axis %s: %d event(s)" % (axis, len(xs)), fontsize=9, color=svg.FAIL_COLOR if xs else "#333")
        if not xs:
            ax.text(0.5, 0.5, "no events", transform=ax.transAxes, ha="center", va="center", color=svg.MUTED)
    axes[0].set_yticks(range(len(channels)), [channel_label(c) for c in channels], fontsize=7)
    axes[0].set_ylim(len(channels) - 0.5, -0.5)
    failing = {c.get("channel") for c in record.get("failing") or []}
    for tick, c in zip(axes[0].get_yticklabels(), channels):
        if c.get("channel") in failing:
            tick.set_color(svg.FAIL_COLOR)
            tick.set_fontweight("bold")
    if mappable is not None:
        fig.colorbar(mappable, ax=list(axes), label="sweep frequency (Hz)", pad=0.01, fraction=0.03)
    return svg.to_svg(fig, "timeline")


def glitch_hist(record):
    """(edges, {channel: counts}) summed over every window."""
    edges = hist_edges_ns(record)
    per = {}
    labels = {}
    for w in record.get("windows") or []:
        for ch in w.get("channels") or []:
            h = ch.get("hist")
            if not h:
                continue
            acc = per.setdefault(ch.get("channel"), [0] * len(h))
            for i, v in enumerate(h):
                acc[i] += v
            labels[ch.get("channel")] = ch
    return edges, {c: v for c, v in per.items() if sum(v)}, labels


@svg.styled
def histogram_plot(record):
    edges, per, labels = glitch_hist(record)
    fig = svg.figure(10, 2.8)
    ax = fig.add_subplot()
    lows = [0] + edges[:-1]
    names = ["%d-%d" % (lo, hi) for lo, hi in zip(lows, edges)]
    bottom = [0] * len(edges)
    top = sorted(per, key=lambda c: -sum(per[c]))
    shown, rest = top[:8], top[8:]
    series = [(channel_label(labels[c]), per[c], c) for c in shown]
    if rest:
        series.append(("%d other channels" % len(rest), [sum(per[c][i] for c in rest) for i in range(len(edges))], "other"))
    for label, counts, c in series:
        bars = ax.bar(range(len(edges)), counts, bottom=bottom, width=0.8, label=label)
        for i, b in enumerate(bars):
            b.set_gid("hist-%s-%d" % (c, i))
        bottom = [a + b for a, b in zip(bottom, counts)]
    if not series:
        ax.bar(range(len(edges)), [0] * len(edges), width=0.8)
        ax.text(0.5, 0.5, "no glitches below %g µs" % spec5861.EVENT_MIN_US, transform=ax.transAxes, ha="center", va="center", color=svg.MUTED)
        ax.set_ylim(0, 1)
    else:
        ax.legend(fontsize=7, loc="upper left")
    ax.set_xticks(range(len(edges)), names)
    ax.set_xlabel("glitch width (ns); %g µs and longer is an event (failure)" % spec5861.EVENT_MIN_US)
    ax.set_ylabel("glitches")
    return svg.to_svg(fig, "glitches"), len(edges), sum(sum(v) for v in per.values())


@svg.styled
def selfcheck_plot(record):
    """Each window's reference openings: measured minus nominal width, against the accepted band."""
    fig = svg.figure(10, 2.4)
    ax = fig.add_subplot()
    names, n = [], 0
    for w in record.get("windows") or []:
        for c in w.get("selfcheck") or []:
            if c.get("name") not in names:
                names.append(c.get("name"))
    for i, name in enumerate(names):
        band = None
        xs, ys, bad = [], [], []
        for j, w in enumerate(record.get("windows") or []):
            for c in w.get("selfcheck") or []:
                if c.get("name") != name or c.get("value") is None:
                    continue
                nominal = c.get("nominal_ns") or 0
                band = (c.get("lo", nominal) - nominal, c.get("hi", nominal) - nominal)
                xs.append(i + (j - len(record["windows"]) / 2) * 0.02)
                ys.append(c["value"] - nominal)
                bad.append(not c.get("ok"))
        if band:
            ax.fill_between([i - 0.3, i + 0.3], band[0], band[1], color="#c8e6c9", zorder=1)
        sc = ax.scatter(xs, ys, color=[svg.FAIL_COLOR if b else svg.PASS_COLOR for b in bad], zorder=3, s=18)
        sc.set_gid("check-%d" % i)
        n += len(xs)
    ax.axhline(0, color="#444", linewidth=0.8)
    ax.set_xticks(range(len(names)), names)
    ax.set_xlim(-0.6, max(len(names), 1) - 0.4)
    ax.set_ylabel("measured - nominal (ns)")
    if not names:
        ax.text(0.5, 0.5, "no self-check in this record", transform=ax.transAxes, ha="center", va="center", color=svg.MUTED)
    return svg.to_svg(fig, "selfcheck"), n


def windows_table(record):
    ws = record.get("windows") or []
    rows = []
    for w in ws:
        tags = w.get("tags") or {}
        lost = sum(v for v in (w.get("losses") or {}).values() if isinstance(v, (int, float)))
        rows.append([w.get("label"), tags.get("direction") or w.get("axis") or "", w.get("seconds"), w.get("verdict"), w.get("events"),
                     w.get("failures"), w.get("glitches"), w.get("longest_ns"), lost, "; ".join(map(str, w.get("problems") or [])) or "",
                     "pass" if all(c.get("ok") for c in w.get("selfcheck") or []) and w.get("selfcheck") else (protocol.FAIL if w.get("selfcheck") else "-")])
    return page.table(["window", "axis", "s", "verdict", "events", "failures", "glitches", "longest (ns)", "lost", "problems", "self-check"],
                      rows, bad=lambda i: ws[i].get("verdict") not in (None, protocol.PASS), numeric=(2, 4, 5, 6, 7, 8))


def definition_rows(record):
    d = record.get("definition") or {}
    return [
        ("threshold (Ω)", d.get("threshold_ohm")),
        ("monitor current (mA)", d.get("current_ma")),
        ("minimum duration (µs)", d.get("min_duration_us")),
        ("resolution (ns)", d.get("resolution_ns")),
        ("resolution in a burst (ns)", d.get("burst_resolution_ns")),
        ("sample period (ns)", d.get("sample_period_ns")),
        ("state machines, clock", "%s at %s MHz" % (d.get("state_machines"), (d.get("clock_hz") or 0) / 1e6) if d else None),
    ]


def conditions_rows(record):
    c = dict(record.get("conditions") or {})
    return [(k.replace("_", " "), ", ".join(map(str, v)) if isinstance(v, list) else v) for k, v in c.items()
            if not isinstance(v, dict)]


def failing_summary(record):
    bits = []
    for f in record.get("failing") or []:
        pins = " ".join(str(p) for p in f.get("pins") or [])
        bits.append('<span class="failing" data-failing="%s">channel %s (pins %s)</span>: %s event(s) of %g µs or longer, longest %s ns'
                    % (esc(pins), esc(f.get("channel")), esc(pins), esc(f.get("failures")), spec5861.EVENT_MIN_US, esc(f.get("longest_ns"))))
    return "; ".join(bits)


def monitoring_body(record, h="h2"):
    out = []
    n_events = len(record.get("events") or [])
    tl = timeline_plot(record)
    shown = min(n_events, MAX_POINTS)
    note = "" if shown == n_events else " (first %d of %d events drawn)" % (shown, n_events)
    what = {"vibration": "colour: sweep frequency at the event", "shock": "x: shock number and direction"}.get(record.get("kind"), "")
    out.append("<%s>Events on a timeline, per channel</%s>" % (h, h))
    out.append(page.plot("timeline", tl, "Each mark is an event (resistance above the threshold for at least the minimum duration)%s%s."
                         % ("; " + what if what else "", note), points=shown, channels=len(record.get("channels") or [])))
    hist, bins, glitches = histogram_plot(record)
    out.append("<%s>Glitches below %g µs: width histogram</%s>" % (h, spec5861.EVENT_MIN_US, h))
    out.append(page.plot("glitches", hist, "Openings shorter than the event definition are not failures; counted per channel by width, all windows together.",
                         bins=bins, glitches=glitches))
    chk, n_checks = selfcheck_plot(record)
    out.append("<%s>Detector self-check</%s>" % (h, h))
    out.append(page.plot("selfcheck", chk, "Before each window the fixture opens a reference channel for known times; green: the accepted band.",
                         points=n_checks))
    out.append("<%s>Windows</%s>%s" % (h, h, windows_table(record)))
    events = record.get("events") or []
    if events:
        rows = [[e.get("seq"), e.get("window"), e.get("channel"), e.get("pins"), e.get("axis") or e.get("direction"), e.get("shock"),
                 e.get("t_axis_s"), e.get("sweep_hz"), e.get("length_ns"), e.get("open_at_end")] for e in events[:500]]
        out.append("<%s>Events</%s><details><summary>%d event(s)%s</summary>%s</details>"
                   % (h, h, len(events), "" if len(events) <= 500 else ", the first 500 listed (all in events.csv)",
                      page.table(["seq", "window", "channel", "pins", "axis", "shock", "t (s)", "sweep (Hz)", "length (ns)", "open at end"], rows,
                                 numeric=(0, 2, 6, 7, 8))))
    return "".join(out)


def _stage_record(stage, directory):
    """The contact resistance record of a vibration stage: beside the vibration record first (the
    directory may have moved since), then where the procedure wrote it."""
    d = stage.get("dir")
    if not d:
        return None
    places = ([Path(directory) / Path(d).name] if directory else []) + [Path(d)]
    for p in places:
        f = p / "record.json"
        if f.is_file():
            try:
                return json.loads(f.read_text())
            except (OSError, ValueError):
                continue
    return None


@svg.styled
def delta_plot(before, after):
    """Resistance change per pin from the initial to the after stage."""
    fig = svg.figure(10, 2.4)
    ax = fig.add_subplot()
    b = {label: it.get("r_mohm") for label, it in contact._items(before)}
    labels = [label for label, _ in contact._items(after)]
    n = 0
    for i, (label, it) in enumerate(contact._items(after)):
        r0, r1 = b.get(label), it.get("r_mohm")
        if r0 is None or r1 is None:
            continue
        bar = ax.bar(i, r1 - r0, width=0.75, color=svg.FAIL_COLOR if it.get("verdict") not in (None, protocol.PASS) else svg.PASS_COLOR)[0]
        bar.set_gid("delta-" + label)
        n += 1
    ax.axhline(0, color="#444", linewidth=0.8)
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlim(-0.7, len(labels) - 0.3)
    ax.set_ylabel("ΔR after - initial (mΩ)")
    return svg.to_svg(fig, "delta"), n


def _header(record):
    kind = record.get("kind")
    title = "%s: %s" % (TITLES.get(kind, kind), record.get("verdict") or "?")
    fx = record.get("fixture") or {}
    sub = "Kyocera 5861, %s positions, serial %s, fixture %s, started %s" % (
        record.get("positions"), record.get("serial") or "-", fx.get("id"), record.get("started"))
    return title, "<h1>%s</h1><p class=\"sub\">%s</p>" % (esc(title), esc(sub))


def _summary(record):
    fails = failing_summary(record)
    t = record.get("totals") or {}
    line = fails or "no event of %g µs or longer on any channel" % spec5861.EVENT_MIN_US
    return '<p class="summary">%s %s</p><p class="note">%s events, %s glitches, longest %s ns%s</p>' % (
        page.verdict_badge(record.get("verdict")), line, esc(t.get("events")), esc(t.get("glitches")), esc(t.get("longest_ns")),
        ("; error: " + esc(record.get("error"))) if record.get("error") else "")


def _identity(record):
    fx = record.get("fixture") or {}
    fw = record.get("firmware") or {}
    scen = record.get("scenario") or {}
    return [("serial", record.get("serial") or "-"), ("lot", record.get("lot")), ("operator", record.get("operator")),
            ("positions", record.get("positions")), ("started", record.get("started")), ("duration (s)", record.get("duration_s")),
            ("fixture", "%s (%s)" % (fx.get("id"), fx.get("board")) if fx else None),
            ("firmware / protocol", "%s / %s" % (fw.get("version"), fw.get("protocol")) if fw else None),
            ("scenario (simulated)", scen.get("path") or ("default" if scen else None)),
            ("interrupted by", record.get("interrupted_by"))]


def render(record, directory=None, stages=None):
    title, head = _header(record)
    facts = '<div class="cols"><div><h2>Identity</h2>%s</div><div><h2>Event definition</h2>%s</div><div><h2>Conditions</h2>%s</div><div><h2>Calibration</h2>%s</div></div>' % (
        page.kv_table(_identity(record)), page.kv_table(definition_rows(record)), page.kv_table(conditions_rows(record)),
        page.kv_table(contact.calibration_rows(record.get("calibration"))))
    if record.get("kind") != "vibration":
        return page.document(title, head + _summary(record) + monitoring_body(record) + facts, bool(record.get("simulated")))
    # The qualification report: the whole procedure in one file, one part per printed page.
    given = stages or {}
    stages = record.get("stages") or {}
    loaded = {name: given.get(name) or _stage_record(stages.get(name) or {}, directory) for name in ("initial", "after")}
    steps = [("contact resistance, initial", (stages.get("initial") or {}).get("verdict"))]
    steps += [("axis %s monitored" % (w.get("axis") or w.get("label")), w.get("verdict")) for w in record.get("windows") or []]
    steps += [("contact resistance, after", (stages.get("after") or {}).get("verdict"))]
    proc = page.table(["step", "verdict"], steps, bad=lambda i: steps[i][1] != protocol.PASS)
    parts = [head, _summary(record), "<h2>Procedure</h2>", proc]
    # The vibration's finding first, then the contact resistance it is judged with before and after.
    for name, label in (("monitor", None), ("initial", "Contact resistance before vibration"), ("after", "Contact resistance after vibration")):
        if name == "monitor":
            parts.append('<section><h2>Vibration: discontinuity monitoring, axes %s</h2>%s</section>'
                         % (esc(", ".join(str(w.get("axis")) for w in record.get("windows") or [])), monitoring_body(record, "h3")))
            continue
        rec = loaded[name]
        if rec is None:
            st = stages.get(name)
            parts.append('<section class="part"><h2>%s</h2><p>%s</p></section>' % (esc(label), esc(
                "not run" if not st else "verdict %s, failing %s; its record was not found beside this one (%s)" % (st.get("verdict"), st.get("failures"), st.get("dir")))))
        else:
            parts.append('<section class="part" data-stage="%s"><h2>%s</h2>%s</section>' % (name, esc(label), contact.body(rec, "h3", prefix=name + "-")))
    if loaded["initial"] and loaded["after"]:
        d, n = delta_plot(loaded["initial"], loaded["after"])
        parts.append("<h2>Resistance change through vibration</h2>" + page.plot("delta", d, "After minus initial, per contact and anchor plate.", bars=n))
    parts.append('<section class="part"><h2>Record</h2>%s</section>' % facts)
    return page.document(title, "".join(parts), bool(record.get("simulated")))
