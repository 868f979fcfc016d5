"""`tester calibrate`: calibrate a fixture and store the calibration on it and on the host.

Steps (the operator is prompted before each; --yes answers for automation):
  1. fit the zero-reference coupon in place of a connector (it joins each position's plug and
     receptacle pads right at the footprint): CAL step=zero measures every position's bulk
     resistance of the two test boards, which every run then subtracts;
  2. CAL step=gain measures the fixture's reference resistors (4-terminal standards on the
     matrix): gain = nominal / measured;
  3. CAL step=store date=today due=today+--due-days: the fixture writes it to its EEPROM with a
     CRC-32 and reads it back; the host keeps a copy (tester.calibration: where).
With --sim the SIMULATED fixture kept in --workdir (the one `tester flash --sim` deploys to) is
calibrated, with the simulated coupon fitted for the zero step; the calibration is marked
simulated on the fixture and on the host.
"""

import argparse
import json
import sys

from tester import calibration as calmod
from tester import exitcodes
from tester.commands import add_command, common
from tester.commands.flash import default_sim_workdir
from tester.exitcodes import UsageError
from tester.firmware import protocol, spec5861

STEP_TIMEOUT_S = 300.0

DESCRIPTION = """\
Calibrate a fixture and store the calibration on it (EEPROM, with a CRC-32) and on the host:
  1. the zero-reference coupon fitted in place of a connector: the bulk resistance of the test
     boards at every position, which every run then subtracts;
  2. the coupon removed: the gain, from the fixture's reference resistors;
  3. stored with today's date and the due date (--due-days).
The operator is prompted before each step (--yes for automation). A step the fixture refuses
(a position reading more than a board's bulk: the coupon is not fitted) stores nothing. Runs
and monitoring refuse an expired or corrupt calibration unless --allow-expired-cal.

examples:
  tester calibrate --port /dev/ttyACM0
  tester calibrate --sim --yes         the SIMULATED fixture of tester flash --sim"""


def add_parser(sub):
    p = add_command(sub, "calibrate", "calibrate a fixture: coupon, reference resistors, store",
                    DESCRIPTION, exitcodes.TOOLS, run)
    common.add_kept_fixture_args(p)
    p.add_argument("--pins", type=int, metavar="N", help="positions to calibrate (default: all the fixture holds)")
    p.add_argument("--due-days", type=int, default=calmod.DEFAULT_DUE_DAYS, metavar="D", help="due in D days (default %(default)s)")
    p.add_argument("--date", type=int, metavar="YYYYMMDD", help=argparse.SUPPRESS)  # hidden: a date other than today
    p.add_argument("--yes", action="store_true", help="do not prompt (the coupon is fitted)")
    p.add_argument("--cal-dir", metavar="DIR", help="where the host copy goes (default <data dir>/calibrations)")
    p.add_argument("--current-ma", type=int, metavar="I", help="test current (default %d mA)" % spec5861.LLCR_CURRENT_MA_DEFAULT)
    p.add_argument("--timeout", type=common.seconds, default=10.0, metavar="S", help="longest silence of the fixture (s)")
    return p


def _prompt(args, text, out):
    out.write(text + "\n")
    if args.yes:
        out.write("  (--yes)\n")
        return
    try:
        input("  press Enter when done, Ctrl-C to stop ")
    except EOFError:
        raise UsageError("no operator input (stdin closed): use --yes to calibrate unattended")


def run(args, out=None):
    out = out or sys.stdout
    if args.workdir and not args.sim:
        raise UsageError("--workdir is for the simulated fixture (--sim)")
    if args.due_days < 1 or args.due_days > 3650:
        raise UsageError("--due-days must be 1..3650")
    date = args.date or calmod.today()
    due = calmod.add_days(date, args.due_days)
    if args.sim:
        from tester.sim.flashable import SimBoard

        board = SimBoard(args.workdir or default_sim_workdir())
        sc = json.loads(board.scenario_path.read_text())
        sc.setdefault("fixture", {})["coupon"] = True  # the simulated operator fits the coupon
        try:
            with board.boot(sc) as sim:
                fix = "tester flash --sim --workdir %s" % board.workdir
                return _calibrate(args, sim.port, date, due, out, fix=fix)
        finally:
            sc["fixture"]["coupon"] = False
            board.set_scenario(sc)
    port = args.port
    if not port:
        from tester.ports import find_fixture

        port = find_fixture(args.serial_number)
    return _calibrate(args, port, date, due, out)


def _calibrate(args, port, date, due, out, fix=None):
    with common.kept_fixture(port, args.timeout, fix, same_firmware=True) as fx:
        hello = fx.hello
        sim = bool(hello.get("simulated"))
        pins = args.pins or fx.max_positions
        common.check_positions(pins, fx.max_positions)
        label = " (SIMULATED)" if sim else ""
        out.write("fixture %s%s on %s, firmware %s; calibration now: %s\n"
                  % (hello.get("fixture_id"), label, port, hello.get("firmware"), calmod.describe(hello.get("calibration"))))
        frames = []
        fx.on_frame = lambda f: frames.append(f) if f.kind == protocol.K_CAL else None
        extra = {"current_ma": args.current_ma} if args.current_ma else {}

        _prompt(args, "1/3 Fit the zero-reference coupon in place of a connector and close the lid.", out)
        z = fx.command("CAL", timeout=STEP_TIMEOUT_S, step="zero", pins=pins, **extra).payload
        zero = [f.payload for f in frames if f.get("step") == "zero"]
        out.write("    bulk of the test boards, %d positions: %.4f .. %.4f mOhm; anchors %s mOhm\n"
                  % (pins, z["bulk_min_mohm"], z["bulk_max_mohm"], ", ".join("%.4f" % a for a in z["anchors_mohm"])))

        _prompt(args, "2/3 Remove the coupon. The gain is measured on the fixture's reference resistors.", out)
        g = fx.command("CAL", timeout=STEP_TIMEOUT_S, step="gain", **extra).payload
        refs = [f.payload for f in frames if f.get("step") == "gain"]
        out.write("    gain %.6f (references: %s)\n" % (g["gain"], ", ".join("%.5f mOhm" % r["r_mohm"] for r in refs)))

        s = fx.command("CAL", timeout=30, step="store", date=date, due=due).payload
        info = fx.command("CALINFO", date=date).payload
        cal = info["calibration"]
        out.write("3/3 stored on the fixture: %s\n" % calmod.describe(cal))
        doc = {
            "fixture_id": hello.get("fixture_id"),
            "uid": hello.get("uid"),
            "board": hello.get("board"),
            "firmware": hello.get("firmware"),
            "simulated": sim,
            "calibration": cal,
            "stored": s.get("calibration"),
            "bulk_mohm": info.get("bulk_mohm"),
            "anchor_bulk_mohm": info.get("anchor_bulk_mohm"),
            "zero_readings": zero,
            "gain_readings": refs,
            "gains": g.get("gains"),
        }
        path = calmod.save_copy(doc, args.cal_dir)
        out.write("host copy: %s\n" % path)
        if sim:
            out.write("*** SIMULATED FIXTURE: this calibration is simulated ***\n")
        return 0
