"""Contact resistance record (tester run): resistance bars against the limits, thermal EMF,
the shorts map of both test boards, the measurement table."""

from tester.firmware import protocol, spec5861

from . import page, svg
from .page import esc, fmt

BOARDS = ("plug", "receptacle")


def _items(record):
    """Contacts then anchors, as (label, item) in the order they are plotted."""
    out = [(str(c.get("pin")), c) for c in record.get("contacts") or []]
    out += [("A%s" % a.get("anchor"), a) for a in record.get("anchors") or []]
    return out


def failing(record):
    """(label, item) of every contact or anchor that did not pass."""
    return [(label, it) for label, it in _items(record) if it.get("verdict") not in (None, protocol.PASS)]


@svg.styled
def resistance_plot(record, name="resistance"):
    items = _items(record)
    fig = svg.figure(10, 3.4)
    ax = fig.add_subplot()
    limits = [it.get("limit_mohm") for _, it in items]
    values = [it.get("r_mohm") for _, it in items]
    known = [v for v in values if v is not None] + [v for v in limits if v is not None]
    top_limit = max([v for v in limits if v is not None] or [spec5861.CONTACT_LIMIT_MOHM])
    # An open contact or a huge reading would flatten every other bar: clip at 2x the limit.
    ymax = min(max(known or [top_limit]) * 1.15, top_limit * 2.0)
    ymax = max(ymax, top_limit * 1.2)
    x = list(range(len(items)))
    bad = [it.get("verdict") not in (None, protocol.PASS) for _, it in items]
    heights = [ymax if r is None else min(r, ymax) for r in values]
    colors = [svg.FAIL_COLOR if b else (svg.ANCHOR_COLOR if label.startswith("A") else svg.PASS_COLOR) for b, (label, _) in zip(bad, items)]
    bars = ax.bar(x, heights, width=0.75, color=colors)
    last_label, lift = -9, 0
    for i, (bar, (label, it), r, b, h) in enumerate(zip(bars, items, values, bad, heights)):
        bar.set_gid("bar-" + label)
        if r is None:  # open: no value, drawn hatched to the top
            bar.set_hatch("//")
            bar.set_alpha(0.35)
        if b:
            lift = lift + 22 if i - last_label <= 2 else 0  # neighbours' labels stacked, not overlapped
            last_label = i
            what = it.get("fault") or "fail"
            value = "open" if r is None else "%.1f" % r
            ax.annotate("%s %s\n%s" % ("anchor" if label.startswith("A") else "pin", label, value if what == protocol.FAULT_OPEN else "%s, %s" % (value, what)),
                        (bar.get_x() + bar.get_width() / 2, h), xytext=(0, 4 + lift), textcoords="offset points", ha="center", va="bottom",
                        color=svg.FAIL_COLOR, fontsize=8, fontweight="bold", gid="label-" + label)
    # The limit of each bar (contacts and anchors differ): a short segment over it.
    lx = [i for i, lim in enumerate(limits) if lim is not None]
    ax.hlines([limits[i] for i in lx], [i - 0.45 for i in lx], [i + 0.45 for i in lx], colors=svg.LIMIT_COLOR, linewidth=1.6)
    ax.plot([], [], color=svg.LIMIT_COLOR, linewidth=1.6, label="limit")
    ax.set_xticks(x, [label for label, _ in items], fontsize=7, rotation=90 if len(items) > 50 else 0)
    ax.set_xlim(-0.7, len(items) - 0.3)
    ax.set_ylim(0, ymax * 1.3)
    ax.set_ylabel("R (mΩ)")
    ax.set_xlabel("pin (A1, A2: anchor plates)")
    ax.legend(loc="upper right", fontsize=8)
    return svg.to_svg(fig, name)


@svg.styled
def emf_plot(record, name="emf"):
    items = [(label, it) for label, it in _items(record)]
    fig = svg.figure(10, 2.4)
    ax = fig.add_subplot()
    drawn = [(i, label, it) for i, (label, it) in enumerate(items) if it.get("emf_uv") is not None]
    bars = ax.bar([i for i, _, _ in drawn], [it["emf_uv"] for _, _, it in drawn], width=0.75,
                  color=[svg.FAIL_COLOR if it.get("verdict") not in (None, protocol.PASS) else svg.PASS_COLOR for _, _, it in drawn])
    for bar, (_, label, _) in zip(bars, drawn):
        bar.set_gid("emf-" + label)
    ax.axhline(0, color="#444", linewidth=0.8)
    ax.set_xticks(range(len(items)), [label for label, _ in items], fontsize=7, rotation=90 if len(items) > 50 else 0)
    ax.set_xlim(-0.7, len(items) - 0.3)
    ax.set_ylabel("thermal EMF (µV)")
    ax.set_xlabel("pin")
    return svg.to_svg(fig, name)


@svg.styled
def shorts_plot(record, name="shorts"):
    """Each board's pads in their two rows; a shorted pair is a red link between its pads."""
    n = record.get("positions") or len(record.get("contacts") or [])
    row_a, row_b = spec5861.rows(n)
    where = {p: (i, 1) for i, p in enumerate(row_a)}
    where.update({p: (i, 0) for i, p in enumerate(row_b)})
    shorts = record.get("shorts") or []
    fig = svg.figure(10, 2.9, left=0.2, right=0.2, top=0.3, bottom=0.05, hspace=0.35)
    axes = fig.subplots(2, 1)
    for ax, board in zip(axes, BOARDS):
        mine = [s for s in shorts if s.get("side") == board]
        hot = {p for s in mine for p in s.get("pins") or []}
        xs = [where[p][0] for p in where]
        ys = [where[p][1] for p in where]
        colors = [svg.FAIL_COLOR if p in hot else "#b0bec5" for p in where]
        ax.scatter(xs, ys, s=46, marker="s", c=colors, zorder=3)
        for p, (x, y) in where.items():
            if len(where) <= 80:
                ax.text(x, y + (0.28 if y else -0.28), str(p), ha="center", va="center", fontsize=6,
                        color=svg.FAIL_COLOR if p in hot else "#555")
        for s in mine:
            pins = [p for p in s.get("pins") or [] if p in where]
            for a, b in zip(pins, pins[1:]):
                (xa, ya), (xb, yb) = where[a], where[b]
                line = ax.plot([xa, xb], [ya, yb], color=svg.FAIL_COLOR, linewidth=4, zorder=4, solid_capstyle="round")[0]
                line.set_gid("short-%s-%s-%s" % (board, a, b))
            if pins:
                x0, y0 = where[pins[0]]
                ohm = s.get("ohm")
                ax.annotate("pins %s shorted%s" % ("-".join(map(str, pins)), "" if ohm is None else " (%.2f Ω)" % ohm),
                            (x0, y0), xytext=(8, 18 if y0 else -24), textcoords="offset points", color=svg.FAIL_COLOR,
                            fontsize=8, fontweight="bold")
        ax.set_title("%s board: %s" % (board, "%d short(s)" % len(mine) if mine else "no shorts"), fontsize=9, loc="left",
                     color=svg.FAIL_COLOR if mine else "#333")
        ax.set_xlim(-1, max(len(row_a), len(row_b)))
        ax.set_ylim(-0.8, 1.8)
        ax.axis("off")
    return svg.to_svg(fig, name)


def identity_rows(record):
    fx = record.get("fixture") or {}
    fw = record.get("firmware") or {}
    scen = record.get("scenario") or {}
    return [
        ("serial", record.get("serial") or "-"),
        ("lot", record.get("lot")),
        ("operator", record.get("operator")),
        ("stage", record.get("stage")),
        ("positions", record.get("positions")),
        ("started", record.get("started")),
        ("duration (s)", record.get("duration_s")),
        ("fixture", "%s (%s)" % (fx.get("id"), fx.get("board")) if fx else None),
        ("firmware / protocol", "%s / %s" % (fw.get("version"), fw.get("protocol")) if fw else None),
        ("scenario (simulated)", scen.get("path") or ("default" if scen else None)),
        ("interrupted by", record.get("interrupted_by")),
        ("error", record.get("error")),
    ]


def calibration_rows(cal):
    if not cal:
        return [("calibration", "none recorded")]
    return [
        ("id", cal.get("id")), ("state", cal.get("state")), ("applied", cal.get("applied")),
        ("date", cal.get("date")), ("due", cal.get("due")), ("gain", cal.get("gain")),
        ("generation", cal.get("gen")), ("positions", cal.get("positions")),
        ("expired calibration allowed", cal.get("overridden")), ("problem", cal.get("problem")),
        ("simulated", cal.get("simulated")),
    ]


def conditions_rows(record):
    c = record.get("conditions") or {}
    adc = c.get("adc") or {}
    lim = record.get("limits") or {}
    mc = c.get("mating_cycles") or {}
    return [
        ("method", c.get("method")),
        ("test current (mA)", c.get("current_ma")),
        ("open-circuit voltage max (mV)", c.get("open_circuit_mv_max")),
        ("current reversal", c.get("reversal")),
        ("samples per polarity", c.get("samples_per_polarity")),
        ("settle (µs)", c.get("settle_us")),
        ("ADC", "%s SPS, %s, gain %s" % (adc.get("rate_sps"), adc.get("filter"), adc.get("gain")) if adc else None),
        ("contact limit (mΩ)", lim.get("contact_mohm")),
        ("anchor plate limit (mΩ)", lim.get("anchor_mohm")),
        ("short: below (Ω) at (mA)", "%s at %s" % (c.get("short_limit_ohm"), c.get("short_test_current_ma")) if c.get("short_limit_ohm") else None),
        ("mating cycles", "%s of %s" % (mc.get("count"), mc.get("limit")) if mc else None),
    ]


def failing_summary(record):
    """One line naming every failing pin and short, in words."""
    bits = []
    for label, it in failing(record):
        name = ("anchor " + label) if label.startswith("A") else ("pin " + label)
        r = it.get("r_mohm")
        detail = it.get("fault") or "fail"
        if r is not None and detail != protocol.FAULT_SHORT:
            detail += ", %.2f mΩ > %s mΩ" % (r, fmt(it.get("limit_mohm"), 0)) if detail == protocol.FAULT_HIGH else ", %.2f mΩ" % r
        bits.append('<span class="failing" data-failing="%s">%s</span> (%s)' % (esc(label), esc(name), esc(detail)))
    for s in record.get("shorts") or []:
        bits.append('<span class="failing">%s board: pins %s shorted</span>' % (esc(s.get("side")), esc("-".join(map(str, s.get("pins") or [])))))
    return "; ".join(bits)


def measurement_table(record):
    rows, bad = [], []
    for label, it in _items(record):
        u = it.get("u_mohm")
        rows.append([label, it.get("r_mohm"), None if u is None else u * 1000.0, it.get("limit_mohm"), it.get("emf_uv"), it.get("r_raw_mohm"),
                     it.get("i_ma"), it.get("verdict"), it.get("fault") or ""])
        bad.append(it.get("verdict") not in (None, protocol.PASS))
    return page.table(["pin", "R (mΩ)", "u (µΩ)", "limit (mΩ)", "EMF (µV)", "R raw (mΩ)", "I (mA)", "verdict", "fault"], rows,
                      bad=lambda i: bad[i], numeric=(1, 2, 3, 4, 5, 6))


def selfcheck_table(checks):
    return page.table(["check", "value", "unit", "low", "high", "ok"],
                      [[c.get("name"), c.get("value"), c.get("unit"), c.get("lo"), c.get("hi"), "ok" if c.get("ok") else protocol.FAIL] for c in checks],
                      bad=lambda i: not checks[i].get("ok"), numeric=(1, 3, 4))


def body(record, heading="h2", prefix=""):
    """The sections of a contact resistance record (also used inside the vibration report)."""
    h = heading
    n_items = len(_items(record))
    shorts = record.get("shorts") or []
    out = []
    fails = failing_summary(record)
    out.append('<p class="summary">%s %s</p>' % (page.verdict_badge(record.get("verdict")),
                                                 ("Failing: " + fails) if fails else "every contact and anchor plate within its limit"))
    out.append("<%s>Resistance per pin</%s>" % (h, h))
    out.append(page.plot(prefix + "resistance", resistance_plot(record, prefix + "resistance"),
                         "4-wire resistance per contact and anchor plate; orange: each one's limit; red: failing (named). Open contacts hatched at the top.",
                         bars=n_items, failing=",".join(label for label, _ in failing(record))))
    out.append("<%s>Thermal EMF per pin</%s>" % (h, h))
    out.append(page.plot(prefix + "emf", emf_plot(record, prefix + "emf"),
                         "Offset voltage removed by current reversal; a large or drifting value points at a dissimilar-metal junction or a warm relay.",
                         bars=sum(1 for _, it in _items(record) if it.get("emf_uv") is not None)))
    out.append("<%s>Shorts map (opens and shorts test)</%s>" % (h, h))
    out.append(page.plot(prefix + "shorts", shorts_plot(record, prefix + "shorts"), "Neighbouring pads of each test board; a red link is a short found between them.",
                         shorts=len(shorts)))
    out.append('<div class="cols"><div><%s>Identity</%s>%s</div><div><%s>Conditions</%s>%s</div><div><%s>Calibration</%s>%s</div></div>'
               % (h, h, page.kv_table(identity_rows(record)), h, h, page.kv_table(conditions_rows(record)),
                  h, h, page.kv_table(calibration_rows(record.get("calibration") or (record.get("conditions") or {}).get("calibration")))))
    if record.get("selfcheck"):
        out.append("<%s>Fixture self-check</%s>%s" % (h, h, selfcheck_table(record["selfcheck"])))
    out.append("<%s>Measurements</%s><details open><summary>%d contacts and anchor plates</summary>%s</details>"
               % (h, h, n_items, measurement_table(record)))
    return "".join(out)


def render(record):
    title = "Contact resistance: %s" % (record.get("verdict") or "?")
    head = "<h1>%s</h1><p class=\"sub\">%s %s, spec %s, %s positions, %s stage</p>" % (
        esc(title), esc((record.get("spec") or {}).get("series") or spec5861.SERIES), "low-level contact resistance",
        esc((record.get("spec") or {}).get("spec_no") or spec5861.SPEC_NO), esc(record.get("positions")), esc(record.get("stage")))
    return page.document(title, head + body(record), bool(record.get("simulated")))
