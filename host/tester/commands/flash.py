"""`tester flash`: deploy the firmware onto fixtures with mpremote, keep (or write) each
fixture's identity, reconnect, check the handshake (firmware and protocol version), report.

    tester flash --port /dev/ttyACM0            one fixture
    tester flash --serial-number E661410403     the fixture with this USB serial number
    tester flash --all                          every fixture attached (USB VID:PID of the CDC)
    tester flash --sim [--workdir DIR]          the SIMULATED fixture kept in DIR (its flash and
                                                EEPROM persist there; default ~/.local/share/
                                                tester/sim-fixture)

Before mpremote: the application runs with Ctrl-C off (kbd_intr(-1)), so mpremote's Ctrl-C
cannot stop it; `tester flash` first sends the protocol's REPL command (the app goes safe and
hands the port to MicroPython's REPL) and waits for its `ok`. No answer (older firmware, a board
already at the REPL): mpremote goes on as it always did.
"""

import os
import sys
import time
from pathlib import Path

from tester import deploy as deploy_mod
from tester import exitcodes
from tester.commands import add_command, common
from tester.exitcodes import FixtureError, UsageError
from tester.firmware import FIRMWARE_DIR
from tester.fixture import Fixture
from tester.link import Link, LinkError

RECONNECT_S = 15.0
REPL_ANSWER_S = 2.0  # the app answers REPL at once; silence means no app is listening


def data_dir():
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "tester"


def default_sim_workdir():
    return data_dir() / "sim-fixture"


DESCRIPTION = """\
Deploy this tester's firmware onto fixtures with mpremote and check that each comes back with
it. The running application is first asked to give the port to MicroPython's REPL; unchanged
files are skipped; each package is staged and swapped in whole (never a partial one); the
native merge goes as /event_merge.mpy. The fixture keeps its id (or is given --fixture-id), is
reset and must answer the handshake with the deployed firmware and protocol version. A deploy
cut short (the cable pulled) says so: the same command repairs it.

examples:
  tester flash --port /dev/ttyACM0
  tester flash --all                   every fixture attached (by USB VID:PID)
  tester flash --sim                   the SIMULATED fixture kept in ~/.local/share/tester/sim-fixture"""


def add_parser(sub):
    p = add_command(sub, "flash", "deploy the firmware onto fixtures and check them",
                    DESCRIPTION, exitcodes.TOOLS, run)
    common.add_kept_fixture_args(p, everyone="every fixture attached (by USB VID:PID)")
    p.add_argument("--source", metavar="DIR", default=str(FIRMWARE_DIR), help="firmware tree to deploy (default: this tester's)")
    p.add_argument("--board", default="fixture_v1", help="board profile copied as /board.py (boards/NAME/board.py)")
    p.add_argument("--fixture-id", metavar="ID", help="write this fixture id to the fixture's EEPROM (default: keep it)")
    p.add_argument("--timeout", type=float, default=RECONNECT_S, metavar="S", help="wait this long for the fixture after the reset")
    return p


def targets(args):
    if args.sim:
        return [None]
    if args.port:
        return [args.port]
    from tester.ports import find_fixture, list_fixtures

    if args.all:
        ports = [p.device for p in list_fixtures()]
        if not ports:
            find_fixture()  # raises the "no fixture found" error
        return ports
    return [find_fixture(args.serial_number)]


def _check(args):
    src = Path(args.source)
    if not (src / "main.py").exists() or not (src / "protocol.py").exists():
        raise UsageError("--source %s is not a firmware tree (no main.py / protocol.py)" % src)
    if args.workdir and not args.sim:
        raise UsageError("--workdir is for the simulated fixture (--sim)")
    if args.fixture_id:
        from tester.firmware import protocol

        try:
            protocol.check_args("IDENT", {"id": args.fixture_id})
        except protocol.ProtocolError as e:
            raise UsageError("--fixture-id %r: %s" % (args.fixture_id, e.msg))
    return deploy_mod.firmware_version(src)


def handshake_after_reset(port, want_fw, want_proto, fixture_id=None, timeout=RECONNECT_S, opener=None):
    """Reconnect (the USB port comes back after the reset), HELLO, compare versions."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            link = (opener or Link.open)(port)
            break
        except LinkError as e:
            last = e
            if time.monotonic() > deadline:
                raise FixtureError("the fixture on %s did not come back after the reset: %s" % (port, last.msg))
            time.sleep(0.2)
    try:
        fx = Fixture(link, port)
        try:
            fx.handshake(timeout=max(2.0, deadline - time.monotonic()))
        except FixtureError:
            if fx.hello is None:
                raise
        h = fx.hello
        if h.get("firmware") != want_fw or h.get("protocol") != want_proto:
            raise FixtureError(
                "after the deploy the fixture on %s runs firmware %s (protocol %s), not the deployed %s (protocol %d): "
                "the deploy did not take; run `tester flash --port %s` again"
                % (port, h.get("firmware"), h.get("protocol"), want_fw, want_proto, port)
            )
        if fixture_id:
            f = fx.command("IDENT", id=fixture_id)
            h["fixture_id"] = f.get("fixture_id")
        return dict(h)
    finally:
        link.close()


def port_missing(port):
    """True for a device path that does not exist (COM3, id:... and the like are left to mpremote)."""
    return port.startswith("/") and not os.path.exists(port)


def request_repl(port, timeout=REPL_ANSWER_S, opener=None):
    """Ask the application on `port` to give the port to MicroPython's REPL. True if it said
    `ok` (it is then safe and gone); False if nothing answered so (old firmware, a REPL)."""
    from tester.firmware import protocol

    try:
        link = (opener or Link.open)(port)
    except LinkError:
        return False
    try:
        cmd_id = link.send("REPL")
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            f = link.read_frame(left)
            if f.id == cmd_id and f.kind in (protocol.K_OK, protocol.K_ERR):
                return f.kind == protocol.K_OK
    except LinkError:
        return False
    finally:
        link.close()


def _report(out, rep, hello):
    out.write(
        "%s: firmware %s protocol %d (board %s) deployed: %d copied, %d unchanged\n"
        % (rep["port"], rep["firmware"], rep["protocol"], rep["board"], len(rep["copied"]), len(rep["unchanged"]))
    )
    cal = hello.get("calibration") or {}
    out.write(
        "  handshake: firmware %s protocol %s, fixture %s%s, calibration %s%s, mating cycles %s\n"
        % (
            hello.get("firmware"),
            hello.get("protocol"),
            hello.get("fixture_id"),
            " (SIMULATED)" if hello.get("simulated") else "",
            cal.get("state"),
            " (due %s)" % cal["due"] if cal.get("due") else "",
            hello.get("cycles"),
        )
    )


def flash_sim(args, want_fw, want_proto, out):
    from tester.sim.flashable import SimBoard

    board = SimBoard(args.workdir or default_sim_workdir())
    drop = os.environ.get("TESTER_SIM_DROP_AFTER_FILES")  # test hook: the cable is pulled mid-copy
    with board.repl(drop_after_files=int(drop) if drop else None) as repl:
        try:
            rep = deploy_mod.deploy(repl.port, args.source, args.board, resume=True, target="unix")
        except deploy_mod.DeployError as e:
            if repl.dropped:
                e.msg += "\n(simulated: the USB cable was pulled during the copy)"
            raise
        rep["port"] = "SIMULATED fixture in %s" % board.workdir
        deploy_mod.reset(repl.port, resume=True)
        if not repl.wait_exit(5.0):
            raise FixtureError("the simulated fixture did not reset after the deploy")
    with board.boot() as sim:
        hello = handshake_after_reset(sim.port, want_fw, want_proto, args.fixture_id, args.timeout)
    _report(out, rep, hello)
    return 0


def run(args, out=None):
    out = out or sys.stdout
    want_fw, want_proto = _check(args)
    if args.sim:
        return flash_sim(args, want_fw, want_proto, out)
    failed = []
    for port in targets(args):
        try:
            if port_missing(port):
                raise FixtureError("no such port %s: nothing was flashed (is the fixture plugged in? `tester flash --all` finds it)" % port)
            if request_repl(port):
                time.sleep(0.2)  # the app ends; MicroPython's REPL takes the port
            rep = deploy_mod.deploy(port, args.source, args.board)
            deploy_mod.reset(port)
            time.sleep(1.0)  # the USB device goes away and comes back
            hello = handshake_after_reset(port, want_fw, want_proto, args.fixture_id, args.timeout)
            _report(out, rep, hello)
        except FixtureError as e:
            failed.append((port, e.msg))
            print("tester: %s: %s" % (port, e.msg), file=sys.stderr)
    if failed:
        if len(failed) == 1 and not args.all:
            raise FixtureError(failed[0][1])
        raise FixtureError("%d fixture(s) not flashed: %s" % (len(failed), ", ".join(p for p, _ in failed)))
    return 0
