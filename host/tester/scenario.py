"""Scenario files: the simulated connector (and fixture, and link) described in TOML.

A scenario is the contract for tests of the tester. `load()` reads and validates a file and
returns a `Scenario`: `.sim` is the normalized dict the simulated hardware reads (written as
JSON into the simulated fixture's working directory), `.link` is for the launcher (it is the
simulated USB cable, not the fixture). Every problem is a `ScenarioError` whose message names
the file, the key and what is wrong; the CLI turns it into exit code 2.

    [dut]        positions (int, required), contact_mohm, anchor_mohm, spread_mohm, seed
    [pin.N]      contact_mohm, open (bool), sense_open ("plug" | "receptacle")
    [anchor.N]   contact_mohm, open (bool)                    N = 1 or 2
    [[short]]    side ("plug" | "receptacle"), pins = [a, b] (neighbours), ohm
    [fixture]    bulk_mohm, emf_uv, bulk_spread_mohm, coupon, gain_error_ppm, cal
    [link]       drop_after_frames (int >= 0), unplug_after_frames (int >= 0), unplug_for_s (> 0),
                 garble_kind (a frame kind: its first frame arrives with one byte flipped)
    [[intermittent]] pin, rate_hz, duration_us
"""

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from tester.exitcodes import USAGE, TesterError
from tester.firmware import protocol, spec5861

SIDES = ("plug", "receptacle")

DEFAULTS = {"contact_mohm": 30.0, "anchor_mohm": 8.0, "spread_mohm": 0.0, "seed": 0}


class ScenarioError(TesterError):
    code = USAGE


@dataclass
class Scenario:
    sim: dict
    link: dict = field(default_factory=dict)
    path: str | None = None
    text: str | None = None

    @property
    def positions(self):
        return self.sim["positions"]


# key -> (type name, check(value) -> error text or None)
def _num(lo=0.0, lo_open=False):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return "expected a number, got %s %r" % (_tname(v), v)
        if v != v or v in (float("inf"), float("-inf")):
            return "expected a finite number, got %r" % v
        if lo is not None and (v < lo or (lo_open and v == lo)):
            return "must be %s %g, got %r" % (">" if lo_open else ">=", lo, v)
        return None

    return check


def _int(lo=None, hi=None):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int):
            return "expected an integer, got %s %r" % (_tname(v), v)
        if lo is not None and v < lo:
            return "must be >= %d, got %d" % (lo, v)
        if hi is not None and v > hi:
            return "must be <= %d, got %d" % (hi, v)
        return None

    return check


def _bool(v):
    if not isinstance(v, bool):
        return "expected true or false, got %s %r" % (_tname(v), v)
    return None


def _side(v):
    if v not in SIDES:
        return "expected \"plug\" or \"receptacle\", got %r" % (v,)
    return None


def _tname(v):
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "table"}.get(
        type(v), type(v).__name__
    )


DUT_KEYS = {
    "positions": _int(),
    "contact_mohm": _num(),
    "anchor_mohm": _num(),
    "spread_mohm": _num(),
    "seed": _int(0),
}
PIN_KEYS = {"contact_mohm": _num(), "open": _bool, "sense_open": _side}
ANCHOR_KEYS = {"contact_mohm": _num(), "open": _bool}
SHORT_KEYS = {"side": _side, "pins": None, "ohm": _num()}
def _cal_kind(v):
    if v not in CAL_KINDS:
        return "expected one of %s, got %r" % (", ".join('"%s"' % k for k in CAL_KINDS), v)
    return None


# The simulated fixture's own parts (boards/sim/sim_dut.py, sim_fixture.py): bulk_mohm per test
# board and position (default 0.25) with bulk_spread_mohm (+-, default 0.6 x bulk); coupon = true:
# the zero-reference coupon is fitted instead of the connector; gain_error_ppm: the test
# current's full-scale error; cal: what its EEPROM holds at first boot (factory = a valid
# simulated calibration, expired, corrupt, none).
CAL_KINDS = ("factory", "expired", "corrupt", "none")
FIXTURE_KEYS = {
    "bulk_mohm": _num(),
    "emf_uv": _num(lo=None),
    "bulk_spread_mohm": _num(),
    "coupon": _bool,
    "gain_error_ppm": _num(lo=None),
    "cal": _cal_kind,
}
# The frame kinds the fixture sends: protocol.py's K_* constants, their one home.
FRAME_KINDS = tuple(sorted(v for k, v in vars(protocol).items() if k.startswith("K_") and isinstance(v, str)))


def _frame_kind(v):
    if v not in FRAME_KINDS:
        return "expected a frame kind the fixture sends (%s), got %r" % (", ".join('"%s"' % k for k in FRAME_KINDS), v)
    return None


# garble_kind: the simulated USB link flips one byte of the first frame of that kind the fixture
# sends (a corrupted transfer: the host must see it and never give PASS).
LINK_KEYS = {"drop_after_frames": _int(0), "unplug_after_frames": _int(0), "unplug_for_s": _num(lo=0.0, lo_open=True),
             "garble_kind": _frame_kind}
INTERMITTENT_KEYS = {"pin": None, "rate_hz": _num(lo=0.0, lo_open=True), "duration_us": _num(lo=0.0, lo_open=True)}
TOP_KEYS = ("dut", "pin", "anchor", "short", "fixture", "link", "intermittent")


def default(positions, seed=1):
    """The scenario `tester run --sim` uses without --scenario: a good pair."""
    sim = {
        "positions": positions,
        "contact_mohm": 30.0,
        "anchor_mohm": 8.0,
        "spread_mohm": 1.5,
        "seed": seed,
        "pins": {},
        "anchors": {},
        "shorts": [],
        "fixture": {},
        "intermittent": [],
    }
    return Scenario(sim=sim, link={}, path=None, text=None)


def load(path, pins=None):
    """Read and validate a scenario file. `pins`: the --pins of the run (must match)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError("%s: cannot read the scenario file: %s" % (path, e))
    return parse(text, str(path), pins=pins)


def parse(text, name="<scenario>", pins=None):
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError("%s: not valid TOML: %s" % (name, e))
    return Scenario(sim=_validate(doc, name, pins), link=_link(doc, name), path=name, text=text)


def _err(name, key, problem):
    return ScenarioError("%s: %s: %s" % (name, key, problem))


def _table(doc, key, name):
    v = doc.get(key, {})
    if not isinstance(v, dict):
        raise _err(name, key, "expected a table [%s], got %s" % (key, _tname(v)))
    return v


def _check_keys(tbl, keys, where, name):
    for k, v in tbl.items():
        if k not in keys:
            raise _err(name, "%s.%s" % (where, k), "unknown key (allowed: %s)" % ", ".join(keys))
        check = keys[k]
        if check is not None:
            problem = check(v)
            if problem:
                raise _err(name, "%s.%s" % (where, k), problem)


def _pin_no(v, positions, key, name):
    if isinstance(v, bool) or not isinstance(v, int):
        raise _err(name, key, "expected a pin number, got %s %r" % (_tname(v), v))
    if not 1 <= v <= positions:
        raise _err(name, key, "pin %d is out of range 1..%d" % (v, positions))
    return v


def _validate(doc, name, pins):
    for k in doc:
        if k not in TOP_KEYS:
            raise _err(name, k, "unknown section (allowed: %s)" % ", ".join(TOP_KEYS))
    dut = _table(doc, "dut", name)
    if "positions" not in dut:
        raise _err(name, "dut.positions", "missing (the connector's position count, must equal --pins)")
    _check_keys(dut, DUT_KEYS, "dut", name)
    positions = dut["positions"]
    problem = spec5861.positions_error(positions, 10**6)
    if problem:
        raise _err(name, "dut.positions", "%d: %s" % (positions, problem))
    if pins is not None and positions != pins:
        raise _err(name, "dut.positions", "the scenario describes %d positions but --pins is %d" % (positions, pins))

    sim = {"positions": positions}
    for k, d in DEFAULTS.items():
        v = dut.get(k, d)
        sim[k] = float(v) if isinstance(d, float) else v

    sim["pins"] = {}
    for n, tbl in _table(doc, "pin", name).items():
        key = "pin.%s" % n
        if not n.isdigit():
            raise _err(name, key, "expected [pin.N] with N a pin number")
        _pin_no(int(n), positions, key, name)
        if not isinstance(tbl, dict):
            raise _err(name, key, "expected a table, got %s" % _tname(tbl))
        _check_keys(tbl, PIN_KEYS, key, name)
        sim["pins"][str(int(n))] = _floats(tbl)

    sim["anchors"] = {}
    for n, tbl in _table(doc, "anchor", name).items():
        key = "anchor.%s" % n
        if n not in ("1", "2"):
            raise _err(name, key, "there are two anchor plates: [anchor.1] and [anchor.2]")
        if not isinstance(tbl, dict):
            raise _err(name, key, "expected a table, got %s" % _tname(tbl))
        _check_keys(tbl, ANCHOR_KEYS, key, name)
        sim["anchors"][n] = _floats(tbl)

    neighbours = set(spec5861.neighbour_pairs(positions))
    sim["shorts"] = []
    for i, tbl in enumerate(_array(doc, "short", name)):
        key = "short[%d]" % i
        _check_keys(tbl, SHORT_KEYS, key, name)
        for req in ("side", "pins", "ohm"):
            if req not in tbl:
                raise _err(name, "%s.%s" % (key, req), "missing")
        pair = tbl["pins"]
        if not isinstance(pair, list) or len(pair) != 2:
            raise _err(name, key + ".pins", "expected two pin numbers [a, b], got %r" % (pair,))
        a, b = (_pin_no(x, positions, key + ".pins", name) for x in pair)
        if (min(a, b), max(a, b)) not in neighbours:
            raise _err(
                name,
                key + ".pins",
                "pins %d and %d are not neighbours (neighbours are consecutive pins in one row: 1..%d, %d..%d)"
                % (a, b, positions // 2, positions // 2 + 1, positions),
            )
        sim["shorts"].append({"side": tbl["side"], "pins": [min(a, b), max(a, b)], "ohm": float(tbl["ohm"])})

    fx = _table(doc, "fixture", name)
    _check_keys(fx, FIXTURE_KEYS, "fixture", name)
    sim["fixture"] = _floats(fx)

    sim["intermittent"] = []
    for i, tbl in enumerate(_array(doc, "intermittent", name)):
        key = "intermittent[%d]" % i
        _check_keys(tbl, INTERMITTENT_KEYS, key, name)
        for req in INTERMITTENT_KEYS:
            if req not in tbl:
                raise _err(name, "%s.%s" % (key, req), "missing")
        pin = _pin_no(tbl["pin"], positions, key + ".pin", name)
        sim["intermittent"].append(
            {"pin": pin, "rate_hz": float(tbl["rate_hz"]), "duration_us": float(tbl["duration_us"])}
        )
    return sim


def _array(doc, key, name):
    v = doc.get(key, [])
    if not isinstance(v, list) or not all(isinstance(t, dict) for t in v):
        raise _err(name, key, "expected an array of tables [[%s]]" % key)
    return v


def _floats(tbl):
    return {k: (float(v) if isinstance(v, int) and not isinstance(v, bool) else v) for k, v in tbl.items()}


def _link(doc, name):
    link = _table(doc, "link", name)
    _check_keys(link, LINK_KEYS, "link", name)
    if "unplug_for_s" in link and "unplug_after_frames" not in link:  # else a fault that never happens
        raise _err(name, "link.unplug_for_s", "needs link.unplug_after_frames (when the cable is pulled)")
    return dict(link)
