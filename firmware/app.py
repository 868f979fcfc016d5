# The fixture application: answers the host's commands and the operator's START button.
#
# Everything the host sends is checked against protocol.COMMANDS before anything moves; every
# refusal is an `err` frame naming the command. A run, a refusal or a failure all end with
# every relay open and every source off.
#
# A long-lived device: the fixture stays powered across many host commands (RUN, MONITOR, CAL in
# any order, for days), so every large buffer (the detector's rings, the event log) is allocated
# once at boot, before the heap fragments. The watchdog (WDT_MS) is fed by the idle loop and by
# every long procedure through tick(); a hang resets the board, and the board boots safe. START
# pressed while a command runs is latched by tick() and runs when that command ends.

import json

import machine
import micropython

import calibration
import fixture_store
import monitor
import protocol
import spec5861
from fixture import Fixture
from link import Link
from sequencer import Aborted, Sequencer

CONFIG_FILE = "config.json"  # what START runs: {"pins": 40, "stage": "initial"}
WDT_MS = 5000  # the RP2040's watchdog allows at most 8388 ms; a drain or a measurement takes ms
# RP2040 WATCHDOG CTRL (base 0x40058000) through its atomic clear alias (+0x3000): bit 30 ENABLE.
# MicroPython's WDT has no deinit; handing the port to the REPL (mpremote) clears ENABLE as the
# pico-sdk's watchdog_disable() does, or the board would reset in the middle of a deploy.
WATCHDOG_CTRL_CLR = 0x40058000 + 0x3000
WATCHDOG_CTRL_ENABLE = 1 << 30
_RESET_CAUSES = {machine.PWRON_RESET: "power-on", machine.WDT_RESET: "watchdog"}


class ReplRequested(Exception):
    """The host asked for MicroPython's REPL (REPL, or mpremote's Ctrl-C Ctrl-A)."""


class App:
    def __init__(self, fx, link, wdt=None, bufs=None):
        self.fx = fx
        self.link = link
        self.wdt = wdt
        self.seq = Sequencer(fx, link)
        self.seq.abort_check = self._abort_requested
        self.busy = False
        self.start_latched = False  # START pressed while busy: runs when the command ends
        try:
            self.reset_cause = _RESET_CAUSES.get(machine.reset_cause(), "other")
        except Exception:
            self.reset_cause = "unknown"
        self.fixture_id = getattr(fx, "fixture_id", None) or ("FX-" + fx.uid[-8:])
        # The fixture has no clock: `today` is the last date a host sent (RUN/CALINFO date=).
        self.today = None
        self.cal_state = fixture_store.NONE  # type: str | None
        self.cal = None  # type: fixture_store.Calibration | None
        self.cal_note = None  # type: str | None
        self._zero = None  # pending CAL step=zero: (positions, [raw mΩ contacts], [raw mΩ anchors])
        self._gain = None  # pending CAL step=gain: gain
        self.load_cal()
        # The monitor's detector rings and event log, allocated now (main() makes them first of
        # all): after a run the heap is fragmented and could not hold them in one piece.
        self.monitor = monitor.Monitor(fx, link, self._answer_busy, self.tick, bufs)

    def tick(self, polled=False):
        """Called by every long procedure between its steps (and by the idle loop): feeds the
        watchdog and latches a START press. Cheap: one I2C read at most, none when the caller
        has just polled the panel (polled=True: the monitor reads START and the lid together)."""
        if self.wdt is not None:
            self.wdt.feed()
        if not self.busy:
            return
        panel = self.fx.panel
        pressed = panel.take_press() if polled else panel.start_pressed()
        if pressed and not self.start_latched:
            self.start_latched = True
            self.link.send(protocol.K_LOG, {"level": "info", "msg": "START pressed while busy: it runs when this command ends"})

    def _answer_busy(self, cmd_id, verb):
        if verb == "STATUS":
            self.status(cmd_id)
        else:
            self.hello(cmd_id)

    # -- EEPROM: calibration, cycles ---------------------------------------------------------

    def load_cal(self):
        """Read the calibration from the EEPROM; only a valid one is ever applied."""
        store = getattr(self.fx, "store", None)
        self.cal = None
        self.cal_note = None
        if store is None:
            self.cal_state = fixture_store.NONE
        else:
            try:
                self.cal_state, self.cal = store.read_cal()
                self.cal_note = store.note
            except Exception as e:
                self.cal_state = fixture_store.CORRUPT
                self.cal_note = "EEPROM unreadable: %s" % e
        self.seq.m.cal = self.cal

    def cal_summary(self, positions=None, today=None):
        t = today if today is not None else self.today
        if self.cal is None:
            d = {"state": self.cal_state}
        else:
            d = self.cal.summary(t, positions)
        d["today"] = t
        if self.cal_note:
            d["note"] = self.cal_note
        return d

    def cycles_count(self):
        try:
            return self.fx.store.cycles()
        except Exception:
            return None

    def _prepare_run(self, positions, args):
        """Check the calibration and the mating cycles before a run; count the cycle.
        Returns (calibration info, cycles info) for the run frame, or raises ProtocolError."""
        date = args.get("date")
        if date is not None:
            if not fixture_store.date_ok(date):
                raise protocol.ProtocolError(protocol.E_RANGE, "date=%d is not a date (YYYYMMDD)" % date)
            self.today = date
        allow_cal = args.get("allow_expired_cal", 0) == 1
        info = self.cal_summary(positions)
        state = info["state"]
        c = self.cal
        if state != fixture_store.VALID:
            if not allow_cal:
                if state == fixture_store.EXPIRED and c is not None:
                    why = "the calibration expired on %d (today %s)" % (c.due, self.today)
                elif state == fixture_store.INCOMPLETE and c is not None:
                    why = "the calibration covers %d positions, the run has %d" % (c.positions, positions)
                elif state == fixture_store.CORRUPT:
                    why = "the stored calibration is corrupt (CRC mismatch)"
                else:
                    why = "the fixture has no calibration"
                raise protocol.ProtocolError(protocol.E_CAL, why + ": calibrate the fixture, or run with allow_expired_cal=1")
        info["overridden"] = state != fixture_store.VALID
        info["applied"] = self.cal is not None and state in (fixture_store.VALID, fixture_store.EXPIRED, fixture_store.INCOMPLETE)
        info["expiry_checked"] = self.today is not None
        self.seq.m.cal = self.cal if info["applied"] else None
        n = self.cycles_count()
        cyc = fixture_store.cycles_summary(n if n is not None else 0)
        if n is None:
            cyc["state"] = "unknown"
        elif n >= fixture_store.CYCLES_LIMIT and args.get("allow_worn", 0) != 1:
            raise protocol.ProtocolError(
                protocol.E_WORN,
                "the fixture's test-board connectors have %d mating cycles, rated %d (5861 spec 8.5): replace them "
                "and reset the count (CYCLES reset=1), or run with allow_worn=1" % (n, fixture_store.CYCLES_LIMIT),
            )
        if n is not None:
            try:
                cyc = fixture_store.cycles_summary(self.fx.store.bump_cycles())
            except Exception as e:
                self.link.send(protocol.K_LOG, {"level": "error", "msg": "mating-cycle counter not written: %s" % e})
            cyc["overridden"] = n >= fixture_store.CYCLES_LIMIT
            if cyc["count"] >= fixture_store.CYCLES_WARN:
                self.link.send(
                    protocol.K_LOG,
                    {
                        "level": "warning",
                        "msg": "test-board connectors: %d of %d rated mating cycles: plan their replacement"
                        % (cyc["count"], fixture_store.CYCLES_LIMIT),
                    },
                )
        return info, cyc

    # -- replies -----------------------------------------------------------------------------

    def hello(self, cmd_id):
        self.link.send(
            protocol.K_HELLO,
            {
                "id": cmd_id,
                "firmware": protocol.FIRMWARE_VERSION,
                "protocol": protocol.PROTOCOL_VERSION,
                "board": self.fx.board.NAME,
                "simulated": self.fx.simulated,
                "fixture_id": self.fixture_id,
                "uid": self.fx.uid,
                "max_positions": self.fx.board.MAX_POSITIONS,
                "calibration": self.cal_summary(),
                "cycles": self.cycles_count(),
                "faults": self.faults(),
                "reset_cause": self.reset_cause,
                "watchdog_ms": WDT_MS if self.wdt is not None else None,
                "link": self.link.stats(),
            },
        )

    def faults(self):
        f = list(getattr(self.fx, "faults", []))
        if not getattr(monitor.ed, "NATIVE", True):
            f.append("event_merge: native merge not loaded (deploy event_merge.mpy): the detector decodes in Python, slower")
        return f

    def status(self, cmd_id):
        fx = self.fx
        self.link.send(
            protocol.K_STATUS,
            {
                "id": cmd_id,
                "relays_closed": len(fx.relays.closed()),
                "source_on": fx.source.is_on(),
                "lid_closed": fx.panel.lid_closed(),
                "busy": self.busy,
                "start_latched": self.start_latched,
                "link": self.link.stats(),
            },
        )

    # -- commands ----------------------------------------------------------------------------

    def _validate_run(self, args):
        """(positions, stage, current_ma) or raises ProtocolError."""
        pins = args["pins"]
        why = spec5861.positions_error(pins, self.fx.board.MAX_POSITIONS)
        if why:
            raise protocol.ProtocolError(protocol.E_RANGE, "pins=%d: %s" % (pins, why))
        stage = args.get("stage", "initial")
        cur = args.get("current_ma", spec5861.LLCR_CURRENT_MA_DEFAULT)
        lim = spec5861.current_limit_ma(pins)
        if cur > lim:
            if lim == spec5861.LLCR_CURRENT_MA_MAX:
                why = "the low-level method allows at most %d mA" % lim
            else:
                why = "the %d-position rating is %d mA per contact" % (pins, lim)
            raise protocol.ProtocolError(protocol.E_RANGE, "current_ma=%d: %s" % (cur, why))
        return pins, stage, cur

    def _lid_closed(self):
        if not self.fx.panel.lid_closed():
            raise protocol.ProtocolError(protocol.E_STATE, "the lid is open: close it to measure")

    def handle(self, line):
        try:
            cmd_id, verb, args = protocol.parse_command(line)
        except protocol.ProtocolError as e:
            self.link.reply_error(e.cmd_id if e.cmd_id is not None else 0, e.code, e.msg)
            return
        try:
            self.dispatch(cmd_id, verb, args)
        except protocol.ProtocolError as e:
            self.link.reply_error(cmd_id, e.code, e.msg)
        except ReplRequested:
            raise
        except MemoryError as e:  # not the hardware's fault: say so (a firmware bug to report)
            self.fx.safe()
            self.link.reply_error(cmd_id, protocol.E_HW, "out of memory: %s" % e)
        except Exception as e:  # a driver or hardware failure: safe first, then say so
            self.fx.safe()
            self.link.reply_error(cmd_id, protocol.E_HW, "%s: %s" % (type(e).__name__, e))

    def dispatch(self, cmd_id, verb, args):
        link = self.link
        if verb == "HELLO":
            self.hello(cmd_id)
        elif verb == "STATUS":
            self.status(cmd_id)
        elif verb == "SAFE":
            self.fx.safe()
            link.send(protocol.K_OK, {"id": cmd_id})
        elif verb == "ABORT":  # nothing running: nothing to abort, still an answer
            self.fx.safe()
            link.send(protocol.K_OK, {"id": cmd_id, "running": False})
        elif verb == "REPL":
            self.fx.safe()
            link.send(protocol.K_OK, {"id": cmd_id, "repl": True})
            raise ReplRequested()
        elif verb == "RUN":
            pins, stage, cur = self._validate_run(args)
            self._lid_closed()
            cal, cyc = self._prepare_run(pins, args)
            self._run(cmd_id, pins, stage, cur, args.get("serial"), "host", cal, cyc)
        elif verb == "SELFCHECK":
            pins, _, cur = self._validate_run(args)
            self._lid_closed()
            self.busy = True
            try:
                ok = self.seq.selfcheck_only(cmd_id, pins, cur)
            except Aborted:
                raise protocol.ProtocolError(protocol.E_ABORT, "SELFCHECK aborted by the host")
            finally:
                self.busy = False
            link.send(protocol.K_OK, {"id": cmd_id, "ok": ok})
        elif verb == "MEASURE":
            self._measure(cmd_id, args)
        elif verb == "CONFIG":
            pins, stage, _ = self._validate_run(args)
            with open(CONFIG_FILE, "w") as f:
                json.dump({"pins": pins, "stage": stage}, f)
            link.send(protocol.K_OK, {"id": cmd_id, "pins": pins, "stage": stage})
        elif verb in ("IDENT", "CAL", "CALINFO", "CYCLES"):
            self.busy = True
            try:
                calibration.handle(self, cmd_id, verb, args)
            finally:
                self.busy = False
        elif verb in ("MONITOR", "MSTATUS", "MSTOP", "EVENTS"):
            monitor.handle(self, cmd_id, verb, args)
        else:  # in COMMANDS but not handled here: a firmware bug, say so instead of crashing
            raise protocol.ProtocolError(protocol.E_VERB, "%s is not implemented" % verb)

    def _measure(self, cmd_id, args):
        pins, _, cur = self._validate_run(args)
        self._lid_closed()
        if ("pin" in args) == ("anchor" in args):
            raise protocol.ProtocolError(protocol.E_ARG, "MEASURE needs exactly one of pin= or anchor=")
        m = self.seq.m
        stage = args.get("stage", "initial")
        if "pin" in args and args["pin"] > pins:
            raise protocol.ProtocolError(protocol.E_RANGE, "pin=%d: a %d-position pair has pins 1..%d" % (args["pin"], pins, pins))
        self.fx.source.set_limit_ma(spec5861.current_limit_ma(pins, anchor="anchor" in args))
        try:
            if "pin" in args:
                r = m.contact(args["pin"], cur)
                lim = spec5861.CONTACT_LIMIT_MOHM
                kind, key, n = protocol.K_CONTACT, "pin", args["pin"]
            else:
                r = m.anchor(args["anchor"], cur)
                lim = spec5861.ANCHOR_LIMIT_MOHM[stage]
                kind, key, n = protocol.K_ANCHOR, "anchor", args["anchor"]
            self.seq.send_result(kind, key, n, cmd_id, r, lim, self.seq.judge(r, lim))
        finally:
            self.fx.safe()
        self.link.send(protocol.K_OK, {"id": cmd_id})

    def _run(self, cmd_id, pins, stage, cur, serial, source, cal=None, cycles=None):
        self.busy = True
        try:
            self.seq.run(cmd_id, pins, stage, cur, serial, source, cal, cycles)
        finally:
            self.busy = False

    def _abort_requested(self):
        """Called between measurements: answer what arrived meanwhile; True to abort."""
        self.tick()
        while True:
            line = self.link.read_line(0)
            if line is None:
                return False
            try:
                cmd_id, verb, _ = protocol.parse_command(line)
            except protocol.ProtocolError as e:
                self.link.reply_error(e.cmd_id if e.cmd_id is not None else 0, e.code, e.msg)
                continue
            if verb == "ABORT":
                self.link.send(protocol.K_OK, {"id": cmd_id, "running": True})
                return True
            if verb == "REPL":  # no: a run in progress ends first (ABORT), nothing is dropped
                self.link.reply_error(cmd_id, protocol.E_STATE, "busy: a run is in progress (ABORT it first)")
                continue
            if verb == "STATUS":
                self.status(cmd_id)
            elif verb == "HELLO":
                self.hello(cmd_id)
            else:
                self.link.reply_error(cmd_id, protocol.E_STATE, "busy: a run is in progress (send ABORT)")

    def start_button(self):
        self.start_latched = False
        try:
            with open(CONFIG_FILE) as f:
                cfg = json.load(f)
            pins, stage, cur = self._validate_run({"pins": int(cfg["pins"]), "stage": cfg.get("stage", "initial")})
        except Exception as e:
            self.fx.panel.leds(False, True, False)
            self.link.send(protocol.K_LOG, {"level": "error", "msg": "START: no valid %s (%s); use CONFIG" % (CONFIG_FILE, e)})
            return
        if not self.fx.panel.lid_closed():
            self.link.send(protocol.K_LOG, {"level": "error", "msg": "START: the lid is open"})
            return
        try:  # no host date: the expiry is checked against the last date a host sent
            cal, cyc = self._prepare_run(pins, {})
        except protocol.ProtocolError as e:
            self.fx.panel.leds(False, True, False)
            self.link.send(protocol.K_LOG, {"level": "error", "msg": "START: %s" % e.msg})
            return
        self._run(0, pins, stage, cur, None, "button", cal, cyc)

    def loop(self):
        """Serve until the host asks for the REPL (returns) or the firmware fails (raises)."""
        self.hello(0)
        link = self.link
        try:
            while True:
                self.tick()
                line = link.read_line(20)
                if line is not None:
                    self.handle(line)
                if link.repl_requested:
                    raise ReplRequested()
                try:
                    if self.start_latched or self.fx.panel.start_pressed():
                        self.start_button()
                except Exception as e:  # the panel's bus failed: safe, say so, keep serving
                    self.fx.safe()
                    link.send(protocol.K_LOG, {"level": "error", "msg": "START: %s: %s" % (type(e).__name__, e)})
        except ReplRequested:
            self.fx.safe()
            self.link.send(protocol.K_LOG, {"level": "info", "msg": "application ended: MicroPython REPL on this port"})


def release_for_repl():
    """Give the port to the REPL as MicroPython left it: Ctrl-C on, no watchdog."""
    try:
        machine.mem32[WATCHDOG_CTRL_CLR] = WATCHDOG_CTRL_ENABLE
    except Exception:
        pass
    micropython.kbd_intr(3)


def main():
    link = Link()
    fx = None
    # Ctrl-C off while the application runs: on USB CDC a stray 0x03 would raise
    # KeyboardInterrupt anywhere (it is not an Exception) and leave the fixture at the REPL.
    micropython.kbd_intr(-1)
    try:
        bufs = monitor.Buffers()  # the largest buffers first, while the heap is in one piece
        fx = Fixture()
        wdt = machine.WDT(timeout=WDT_MS)
        App(fx, link, wdt, bufs).loop()
    except Exception as e:
        link.send(protocol.K_LOG, {"level": "error", "msg": "fixture stopped: %s: %s" % (type(e).__name__, e)})
        raise
    finally:
        if fx is not None:
            fx.safe()
        release_for_repl()
