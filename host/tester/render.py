"""What the operator sees: the header, a live table with a progress bar, the final verdict
(LiveView); monitoring's events and status lines (MonitorView).

On a terminal the progress bar is redrawn in place under the table; anywhere else (a pipe, a
CI log) the output is plain lines. With --json all of this goes to stderr.
"""

import sys

from tester.firmware import protocol

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

    # -- low level ------------------------------------------------------------------------

    def _clear_bar(self):
        if self._bar_shown:
            self.stream.write("\r\x1b[K")
            self._bar_shown = False

    def line(self, text=""):
        if self.quiet:
            return
        try:
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

    def start_window(self, desc, seconds):
        self.shown = 0
        self.last_s = -1e9
        self.view.line("monitoring %s: %d s" % (desc, seconds))

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
