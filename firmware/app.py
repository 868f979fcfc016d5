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

import busy
import calibration
import fixture_store
import kept_runs
import monitor
import protocol
from fixture import Fixture
from link import Link
from sequencer import Sequencer, require_lid_closed, run_args

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
    """The command table, the busy flag, START and the watchdog; the commands' own state lives with
    them: the calibration (calibration.Calibrator), the monitoring windows (monitor.Monitor), the
    test run (sequencer.Sequencer)."""

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
        self.calibrator = calibration.Calibrator(fx, link, self.seq.m, self.tick)
        # What a busy fixture still answers (busy.poll_host), whatever keeps it busy.
        self.busy_answers = {"STATUS": self.status, "HELLO": self.hello}
        # The monitor's detector rings and event log, allocated now (main() makes them first of
        # all): after a run the heap is fragmented and could not hold them in one piece.
        self.monitor = monitor.Monitor(fx, link, self.busy_answers, self.tick, bufs)
        # START runs kept on the flash for a host to collect (KEPT), the sequencer's frames
        # teed to them during a START run
        self.kept = kept_runs.KeptRuns(link, self.tick)
        self.kept_tee = kept_runs.Tee(link, self.kept)
        cal = self.calibrator
        mon = self.monitor
        # verb -> (handler(cmd_id, args), busy): every verb of protocol.COMMANDS and no other
        # (tests/test_fw_commands.py). While a busy one runs, STATUS says so and tick() latches
        # a START press.
        self.commands = {
            "HELLO": (self.hello, False),
            "STATUS": (self.status, False),
            "SAFE": (self._safe, False),
            "ABORT": (self._abort, False),
            "REPL": (self._repl, False),
            "RUN": (self._run, True),
            "SELFCHECK": (self.seq.selfcheck, True),
            "MEASURE": (self.seq.measure, False),
            "CONFIG": (self._config, False),
            "IDENT": (self._ident, True),
            "CAL": (cal.step, True),
            "CALINFO": (cal.info, True),
            "CYCLES": (self._cycles, True),
            "MONITOR": (mon.command, True),
            "MSTATUS": (mon.mstatus, False),
            "MSTOP": (mon.mstop, False),
            "EVENTS": (mon.events, False),
            "KEPT": (self.kept.command, True),
        }

    @property
    def fixture_id(self):
        return getattr(self.fx, "fixture_id", None) or ("FX-" + self.fx.uid[-8:])

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

    # -- replies -----------------------------------------------------------------------------

    def hello(self, cmd_id, args=None):
        d = {
            "id": cmd_id,
            "firmware": protocol.FIRMWARE_VERSION,
            "protocol": protocol.PROTOCOL_VERSION,
            "board": self.fx.board.NAME,
            "simulated": self.fx.simulated,
            "fixture_id": self.fixture_id,
            "uid": self.fx.uid,
            "max_positions": self.fx.board.MAX_POSITIONS,
            "calibration": self.calibrator.summary(),
            "cycles": calibration.cycles_count(self.fx),
            "faults": self.faults(),
            "reset_cause": self.reset_cause,
            "watchdog_ms": WDT_MS if self.wdt is not None else None,
            "link": self.link.stats(),
        }
        d.update(self.kept.counts())  # START runs kept for a host, and those lost
        self.link.send(protocol.K_HELLO, d)

    def faults(self):
        f = list(getattr(self.fx, "faults", []))
        if not getattr(monitor.ed, "NATIVE", True):
            f.append("event_merge: native merge not loaded (deploy event_merge.mpy): the detector decodes in Python, slower")
        return f

    def status(self, cmd_id, args=None):
        fx = self.fx
        d = {
            "id": cmd_id,
            "relays_closed": len(fx.relays.closed()),
            "source_on": fx.source.is_on(),
            "lid_closed": fx.panel.lid_closed(),
            "busy": self.busy,
            "start_latched": self.start_latched,
            "link": self.link.stats(),
        }
        d.update(self.kept.counts())
        self.link.send(protocol.K_STATUS, d)

    # -- commands ----------------------------------------------------------------------------

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
        entry = self.commands.get(verb)
        if entry is None:  # in COMMANDS but not handled here: a firmware bug, say so instead of crashing
            raise protocol.ProtocolError(protocol.E_VERB, "%s is not implemented" % verb)
        handler, keeps_busy = entry
        if not keeps_busy:
            handler(cmd_id, args)
            return
        self.busy = True
        try:
            handler(cmd_id, args)
        finally:
            self.busy = False

    def _safe(self, cmd_id, args):
        self.fx.safe()
        self.link.send(protocol.K_OK, {"id": cmd_id})

    def _abort(self, cmd_id, args):  # nothing running: nothing to abort, still an answer
        self.fx.safe()
        self.link.send(protocol.K_OK, {"id": cmd_id, "running": False})

    def _repl(self, cmd_id, args):
        self.fx.safe()
        self.link.send(protocol.K_OK, {"id": cmd_id, "repl": True})
        raise ReplRequested()

    def _config(self, cmd_id, args):
        pins, stage, _ = run_args(args, self.fx.board.MAX_POSITIONS)
        with open(CONFIG_FILE, "w") as f:
            json.dump({"pins": pins, "stage": stage}, f)
        self.link.send(protocol.K_OK, {"id": cmd_id, "pins": pins, "stage": stage})

    def _ident(self, cmd_id, args):
        """IDENT [id=]: the fixture's identity, written to the EEPROM when given."""
        store = self.fx.store
        if "id" in args:
            if not fixture_store.id_ok(args["id"]):
                raise protocol.ProtocolError(protocol.E_RANGE, "id=%s: 1..16 printable characters" % args["id"])
            store.write_id(args["id"])
            self.fx.fixture_id = args["id"]
        self.link.send(protocol.K_OK, {"id": cmd_id, "fixture_id": self.fixture_id, "stored": store.read_id()})

    def _cycles(self, cmd_id, args):
        calibration.cycles(self.fx, self.link, cmd_id, args)

    def _run(self, cmd_id, args):
        """RUN: checked (arguments, lid, calibration, mating cycles) before anything moves."""
        pins, stage, cur = run_args(args, self.fx.board.MAX_POSITIONS)
        require_lid_closed(self.fx)
        if args.get("date") is not None:
            self.calibrator.set_today(args["date"])
        cal, cyc = self._prepare_run(pins, args)
        self.seq.run(cmd_id, pins, stage, cur, args.get("serial"), "host", cal, cyc)

    def _prepare_run(self, positions, args):
        """The calibration and the mating cycles a run needs (the cycle counted): (calibration
        info, cycles info) for the run frame, or raises ProtocolError."""
        cal = self.calibrator.for_run(positions, args.get("allow_expired_cal", 0) == 1)
        cyc = calibration.count_cycle(self.fx, self.link, args.get("allow_worn", 0) == 1)
        return cal, cyc

    def _abort_requested(self):
        """Called between measurements: answer what arrived meanwhile; True to abort."""
        self.tick()
        return busy.poll_host(self.link, ("ABORT",), self.busy_answers, "a run is in progress") is not None

    def start_button(self):
        self.start_latched = False
        try:
            with open(CONFIG_FILE) as f:
                cfg = json.load(f)
            pins, stage, cur = run_args({"pins": int(cfg["pins"]), "stage": cfg.get("stage", "initial")}, self.fx.board.MAX_POSITIONS)
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
        self.busy = True
        try:  # kept on the flash as it runs (kept_runs.py): a host attached later collects it
            self.kept.begin()
            self.seq.link = self.kept_tee
            self.seq.run(0, pins, stage, cur, None, "button", cal, cyc)
        finally:
            self.seq.link = self.link
            self.kept.end()
            self.busy = False

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
