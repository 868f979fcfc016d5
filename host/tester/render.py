"""What the operator sees: the header, a live table with a progress bar, the final verdict
(LiveView); monitoring's live view: a table per channel redrawn on a terminal (MonitorTable,
with rich), events and status lines elsewhere (MonitorView); monitor_view() picks one.

On a terminal the progress bar is redrawn in place under the table; anywhere else (a pipe, a
CI log) the output is plain lines. With --json all of this goes to stderr.
"""

import os
import sys
import time

from tester.firmware import protocol
from tester.records.monitor import sweep_hz

BAR_WIDTH = 30
SIM_BANNER = "*** SIMULATED FIXTURE: these results do not come from real hardware ***"


class LiveView:
    def __init__(self, stream=None, tty=None, quiet=False):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.quiet = quiet
        self.total = 0
        self.done = 0
        self.step = ""
        self._bar_shown = False
        self._table_started = False
        self.above = None  # while a live table is on screen: prints a line above it

    def live_ok(self):
        """Whether a redrawn table fits this stream: a terminal that moves its cursor."""
        return self.tty and not self.quiet and os.environ.get("TERM", "") not in ("dumb", "unknown")

    # -- low level ------------------------------------------------------------------------

    def _clear_bar(self):
        if self._bar_shown:
            self.stream.write("\r\x1b[K")
            self._bar_shown = False

    def line(self, text=""):
        if self.quiet:
            return
        try:
            if self.above is not None:
                self.above(text)
                return
            self._clear_bar()
            self.stream.write(text + "\n")
            self._draw_bar()
            self.stream.flush()
        except OSError:  # the terminal went away (SIGHUP): the record still gets written
            self.quiet = True

    def _draw_bar(self):
        if not self.tty or not self.total or self.quiet:
            return
        frac = min(1.0, self.done / self.total)
        fill = int(frac * BAR_WIDTH)
        self.stream.write(
            "\r[%s%s] %3d%%  %d/%d  %s" % ("#" * fill, "." * (BAR_WIDTH - fill), frac * 100, self.done, self.total, self.step)
        )
        self._bar_shown = True
        self.stream.flush()

    # -- the run --------------------------------------------------------------------------

    def header(self, hello, fixture_info, args_desc, simulated):
        if simulated:
            self.line(SIM_BANNER)
        self.line(
            "fixture %s (%s) on %s, firmware %s, protocol %s%s"
            % (
                fixture_info.get("id"),
                fixture_info.get("board"),
                fixture_info.get("port"),
                hello.get("firmware"),
                hello.get("protocol"),
                ", SIMULATED" if simulated else "",
            )
        )
        self.line(args_desc)

    def on_run(self, payload, positions):
        self.total = positions + 2
        cond = payload.get("conditions") or {}
        lim = payload.get("limits") or {}
        self.line(
            "test current %s mA (limit %s mA, rating %s mA/contact), open-circuit <= %s mV; limits: contact %s mOhm, anchor %s mOhm"
            % (
                cond.get("current_ma"),
                cond.get("current_limit_ma"),
                cond.get("rating_ma"),
                cond.get("open_circuit_mv_max"),
                lim.get("contact_mohm"),
                lim.get("anchor_mohm"),
            )
        )

    def on_step(self, payload):
        self.step = str(payload.get("step", ""))
        if not self.tty:
            self.line("-- %s" % self.step)
        else:
            self._clear_bar()
            self._draw_bar()

    def on_check(self, p):
        if not p.get("ok"):
            self.line("self-check FAILED: %s = %s %s (allowed %s..%s)" % (p.get("name"), p.get("value"), p.get("unit", ""), p.get("lo"), p.get("hi")))

    def on_short(self, p):
        pins = p.get("pins") or []
        self.line("SHORT  %s board, pins %s: %s ohm" % (p.get("side"), "-".join(str(x) for x in pins), p.get("ohm")))

    def _table_head(self):
        if not self._table_started:
            self._table_started = True
            self.line("%-8s %10s %8s %9s %7s  %-7s %s" % ("where", "R mOhm", "+-uOhm", "EMF uV", "limit", "verdict", "fault"))

    def _row(self, where, p):
        self._table_head()
        r = p.get("r_mohm")
        u = p.get("u_mohm")
        e = p.get("emf_uv")
        self.line(
            "%-8s %10s %8s %9s %7s  %-7s %s"
            % (
                where,
                "-" if r is None else "%.3f" % r,
                "-" if u is None else "%.1f" % (u * 1000.0),
                "-" if e is None else "%.1f" % e,
                "-" if p.get("limit_mohm") is None else "%.0f" % p["limit_mohm"],
                p.get("verdict"),
                p.get("fault") or "",
            )
        )

    def on_contact(self, p):
        self.done += 1
        self._row("pin %s" % p.get("pin"), p)

    def on_anchor(self, p):
        self.done += 1
        self._row("anchor %s" % p.get("anchor"), p)

    def on_log(self, p):
        if p.get("level") in ("warning", "error", "WARNING", "ERROR"):
            self.line("fixture %s: %s" % (p.get("level"), p.get("msg")))

    # -- the end --------------------------------------------------------------------------

    def finish(self, record, result_dir=None):
        self._clear_bar()
        self.total = 0
        d = record.data
        sim = " (SIMULATED)" if d["simulated"] else ""
        verdict = d["verdict"]
        for reason in record.failures():
            self.line("  " + reason)
        if d.get("error"):
            self.line("  " + d["error"])
        if result_dir is not None:
            self.line("record: %s" % result_dir)
        if d["simulated"]:
            self.line(SIM_BANNER)
        self.line("%s%s" % (verdict, sim))


class MonitorView:
    """Monitoring's live view, on a LiveView: a status line per STATUS_EVERY_S of fixture time,
    each failure event (the first MAX_EVENT_LINES of a window), link health."""

    STATUS_EVERY_S = 60
    MAX_EVENT_LINES = 20

    def __init__(self, view):
        self.view = view
        self.shown = 0
        self.last_s = -1e9

    def start_window(self, desc, seconds, tags=None):
        self.shown = 0
        self.last_s = -1e9
        self.view.line("monitoring %s: %d s" % (desc, seconds))

    def on_mon(self, w):
        pass

    def end_window(self, w=None):
        pass

    def on_event(self, w, p):
        if self.shown < self.MAX_EVENT_LINES:
            self.view.line("  EVENT #%d  channel %d (pins %s)  at %.6f s  %d ns%s" % (
                p["n"], p["ch"], "-".join(str(x) for x in p.get("pins") or []), p["t_us"] / 1e6, p["len_ns"],
                "  (recovered)" if p.get("replay") else ""))
        elif self.shown == self.MAX_EVENT_LINES:
            self.view.line("  ... more events: see events.csv")
        self.shown += 1

    def on_status(self, w, p):
        el = (p.get("elapsed_ms") or 0) / 1000.0
        if el - self.last_s < self.STATUS_EVERY_S and el < w.seconds:
            return
        self.last_s = el
        fails = p.get("failures") or []
        per = ", ".join("ch%d:%d" % (i, n) for i, n in enumerate(fails) if n) or "none"
        lost = p.get("lost") or {}
        lt = w.link_totals()
        self.view.line("  %7.0f/%d s  failures %s  glitches %d  longest %d ns  link: %d reconnect(s), %d lost, %d garbled, fixture losses %d" % (
            el, w.seconds, per, sum(p.get("glitches") or []), max(p.get("longest_ns") or [0]), len(w.disconnects),
            lt["lost"], lt["garbled"], sum(v for k, v in lost.items() if k != protocol.LOST_LINK_BYTES)))


def monitor_view(view, plain=False, simulated=False, sweep=None, link_stats=None):
    """Monitoring's live view on `view`: the redrawn table on a terminal, plain lines with
    `plain` (--plain), TERM=dumb or anywhere else (what log collectors and tests parse)."""
    if plain or not view.live_ok():
        return MonitorView(view)
    return MonitorTable(view, simulated=simulated, sweep=sweep, link_stats=link_stats)


def _verdict_so_far(w, st):
    """The window's verdict while it runs, ranked as Window.verdict() ranks the final one."""
    if w.done is not None:
        return w.verdict()
    lost = st.get("lost") or {}
    lt = w.link_totals()
    if any(lost.get(k) for k in protocol.LOSSES_OF_DATA) or lt["lost"] or lt["garbled"]:
        return protocol.INVALID
    if w.events or sum(st.get("failures") or []):
        return protocol.FAIL
    return "no failure so far"


class MonitorTable:
    """Monitoring's live view on a terminal: a rich Live table, one row per monitored channel
    (events >= 1 us, glitches < 1 us, longest, last event), under a header (window, axis, sweep
    frequency or shock, elapsed time, SIMULATED, link health, verdict so far). Redrawn from the
    frames at most every REFRESH_EVERY_S (no refresh thread: a signal never lands in one), left
    on screen when the window ends. Other lines of the view print above it meanwhile."""

    REFRESH_EVERY_S = 0.25

    def __init__(self, view, simulated=False, sweep=None, link_stats=None, console=None, clock=time.monotonic):
        from rich.console import Console

        self.view = view
        self.simulated = simulated
        self.sweep = sweep
        self.link_stats = link_stats  # () -> the current link's stats (frames lost since the last window)
        self.console = console or Console(file=view.stream, highlight=False)
        self.clock = clock
        self.live = None
        self.w = None

    # -- the window -------------------------------------------------------------------------

    def start_window(self, desc, seconds, tags=None):
        from rich.live import Live

        self.desc, self.seconds, self.tags = desc, seconds, dict(tags or {})
        self.w = None
        self.per_ch = {}  # channel -> [events received, longest ns, last t_us]
        self.last_event = None
        self.last_refresh = -1e9
        self.live = Live(console=self.console, auto_refresh=False, get_renderable=self.render,
                         redirect_stdout=False, redirect_stderr=False)
        self.view.above = self._print_above
        self._guard(lambda: self.live.start(refresh=True))

    def on_mon(self, w):
        self.w = w
        self._refresh(force=True)

    def on_event(self, w, p):
        self.w = w
        c = self.per_ch.setdefault(p.get("ch"), [0, 0, None])
        c[0] += 1
        c[1] = max(c[1], p.get("len_ns") or 0)
        c[2] = p.get("t_us") if c[2] is None else max(c[2], p.get("t_us") or 0)
        if self.last_event is None or (p.get("n") or 0) > (self.last_event.get("n") or 0):
            self.last_event = p
        self._refresh()

    def on_status(self, w, p):
        self.w = w
        self._refresh()

    def end_window(self, w=None):
        """The final table stays on screen; the view prints plain lines again."""
        if w is not None:
            self.w = w
        live, self.live = self.live, None
        self.view.above = None
        if live is not None and not self.view.quiet:
            self._guard(live.stop)

    # -- drawing ----------------------------------------------------------------------------

    def _print_above(self, text):
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def _refresh(self, force=False):
        now = self.clock()
        if self.live is None or (not force and now - self.last_refresh < self.REFRESH_EVERY_S):
            return
        self.last_refresh = now
        self._guard(self.live.refresh)

    def _guard(self, draw):
        """The terminal went away (SIGHUP): stop drawing, the record is written all the same."""
        try:
            draw()
        except OSError:
            self.view.quiet = True
            self.view.above = None
            self.live = None

    def rows(self):
        """[(channel, pins, events, glitches, longest_ns, last_t_us)] as the table shows them."""
        w = self.w
        if w is None or not w.mon:
            return []
        st = w.done or w.status or {}
        out = []
        for ch, pins in w.mon.get("channels") or []:
            got = self.per_ch.get(ch, [0, 0, None])
            fails = st.get("failures") or []
            gl = st.get("glitches") or []
            lo = st.get("longest_ns") or []
            out.append((ch, pins, max(got[0], fails[ch] if ch < len(fails) else 0), gl[ch] if ch < len(gl) else 0,
                        max(got[1], lo[ch] if ch < len(lo) else 0), got[2]))
        return out

    def header(self):
        """The header's lines, as plain strings."""
        w = self.w
        st = ((w.done or w.status) if w is not None else None) or {}
        elapsed = (st.get("elapsed_ms") or 0) / 1000.0
        if self.last_event is not None and w is not None and w.done is None:
            elapsed = max(elapsed, (self.last_event.get("t_us") or 0) / 1e6)
        # the window's label when it says more than "monitor" (axis-X, shock-3-+Z)
        where = ["monitoring" + (" %s" % self.desc if self.desc and self.desc != "monitor" else "")]
        if self.tags.get("axis"):
            where.append("axis %s" % self.tags["axis"])
        if self.sweep:
            where.append("sweep %.1f Hz" % sweep_hz(elapsed, self.sweep))
        if self.tags.get("shock"):
            where.append("shock %s (%s)" % (self.tags["shock"], self.tags.get("direction", "")))
        lines = ["  ".join(where), "elapsed %.0f / %d s" % (min(elapsed, self.seconds), self.seconds)]
        if w is not None:
            lt = w.link_totals()
            if w.done is None and self.link_stats is not None:
                cur = self.link_stats() or {}
                lt = {k: v + cur.get(k, 0) for k, v in lt.items()}
            lost = st.get("lost") or {}
            fixture_losses = sum(v for k, v in lost.items() if k != protocol.LOST_LINK_BYTES)
            lines.append("link: %d frame(s) lost, %d garbled, %d reconnect(s), fixture losses %d" % (
                lt["lost"], lt["garbled"], len(w.disconnects), fixture_losses))
            lines.append("%s: %s" % ("verdict" if w.done is not None else "verdict so far", _verdict_so_far(w, st)))
        return lines

    def render(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        head = self.header()
        title = Text(head[0], style="bold")
        if self.simulated:
            title.append("   SIMULATED", style="bold reverse")
        table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
        table.add_column("ch", justify="right")
        table.add_column("pins")
        table.add_column("events >= 1 us", justify="right")
        table.add_column("glitches < 1 us", justify="right")
        table.add_column("longest us", justify="right")
        table.add_column("last event s", justify="right")
        for ch, pins, ev, gl, longest, last in self.rows():
            table.add_row(str(ch), "-".join(str(x) for x in pins), str(ev), str(gl), "%.3f" % (longest / 1000.0) if longest else "-",
                          "-" if last is None else "%.6f" % (last / 1e6), style="bold red" if ev else None)
        parts = [title] + [Text(x) for x in head[1:]] + [table]
        e = self.last_event
        if e is not None:
            parts.append(Text("last event #%s: channel %s (pins %s) at %.6f s, %d ns" % (
                e.get("n"), e.get("ch"), "-".join(str(x) for x in e.get("pins") or []), (e.get("t_us") or 0) / 1e6,
                e.get("len_ns") or 0)))
        return Group(*parts)
