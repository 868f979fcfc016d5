"""Harness workmanship per JIS C 61191-4 (level C): the acceptance checklist and a checker of
inspection records, both from the limits in hardware/harness/jis_c_61191_4.toml.

    python -m hardware.tools.check_harness RECORD.toml     # pass/fail per item, exit 1 on a fail
    python -m hardware.tools.check_harness --checklist     # (re)write hardware/harness/checklist.md
    python -m hardware.tools.check_harness --check-checklist   # exit 1 if checklist.md is stale

Inspection record (TOML):

    level = "C"
    [[joint]]
    id = "TB1-T3"               # terminal designator
    terminal = "turret"         # turret | bifurcated | pierced | pin | cup | pth
    route = "top"               # bifurcated only: "side" or "top"
    cup_fill_pct = 90           # cup only
    pth = { component_side_wetting_deg = 300, vertical_fill_pct = 100,
            solder_side_fillet_deg = 360, solder_side_land_wetting_pct = 100 }   # pth only
    [[joint.wire]]
    strands = 19
    damaged_strands = 0         # nicked or damaged strands
    diameter_mm = 0.5           # conductor
    insulated_diameter_mm = 1.1
    wrap_deg = 270              # turret/pin/bifurcated; pierced: wrap_turns instead
    turns = 1                   # wires of 0.25 mm or less
    insulation_clearance_mm = 0.6
    insulation_covered_by_solder = false
    conductor_visible_at_insulation = true
"""

import sys
import tomllib

from . import common

HARNESS = common.HARDWARE / "harness"
LIMITS = HARNESS / "jis_c_61191_4.toml"
CHECKLIST = HARNESS / "checklist.md"
WRAPPED = ("turret", "pin", "bifurcated")
TERMINALS = ("turret", "bifurcated", "pierced", "pin", "cup", "pth")


def limits():
    with open(LIMITS, "rb") as f:
        return tomllib.load(f)


def strand_limit(lim, strands, level):
    for lo, hi, ab, c in lim["strand_damage"]["rows"]:
        if strands >= lo and (hi == 0 or strands <= hi):
            return c if level == "C" else ab
    raise ValueError("strand count %r" % strands)


def check(record, lim=None):
    """[(joint id, item, clause, ok, message)]"""
    lim = lim or limits()
    level = record.get("level", lim["level"])
    out = []

    def item(jid, name, clause, ok, msg):
        out.append((jid, name, clause, bool(ok), msg))

    for j in record.get("joint", []):
        jid = j["id"]
        term = j["terminal"]
        if term not in TERMINALS:
            item(jid, "terminal", "4.3", False, "unknown terminal type %r" % term)
            continue
        wires = j.get("wire", [])
        maxw = lim["cup"]["max_wires"] if term == "cup" else lim["wires_per_terminal"]["max"]
        item(jid, "wires per terminal", lim["wires_per_terminal"]["clause"], len(wires) <= maxw, "%d wires, at most %d" % (len(wires), maxw))
        for i, w in enumerate(wires, 1):
            wid = "%s wire %d" % (jid, i)
            allowed = strand_limit(lim, w["strands"], level)
            item(wid, "strand damage", lim["strand_damage"]["clause"], w["damaged_strands"] <= allowed,
                 "%d of %d strands nicked/damaged, level %s allows %d" % (w["damaged_strands"], w["strands"], level, allowed))
            if term in WRAPPED:
                side = term == "bifurcated" and j.get("route") == "side"
                need = lim["side_route"]["min_deg"] if side else lim["wrap"]["min_deg"]
                clause = lim["side_route"]["clause"] if side else lim["wrap"]["clause"]
                item(wid, "wrap", clause, w["wrap_deg"] >= need, "wrapped %d°, at least %d°" % (w["wrap_deg"], need))
                if w["diameter_mm"] <= lim["wrap"]["small_wire_max_dia_mm"]:
                    lo, hi = lim["wrap"]["small_wire_min_turns"], lim["wrap"]["small_wire_max_turns"]
                    t = w.get("turns", 0)
                    item(wid, "turns (wire <= %.2f mm)" % lim["wrap"]["small_wire_max_dia_mm"], lim["wrap"]["clause"], lo <= t <= hi, "%s turns, %d to %d" % (t, lo, hi))
            if term == "pierced":
                t = w.get("wrap_turns", 0)
                p = lim["pierced"]
                item(wid, "wrap (pierced)", p["clause"], p["min_turn"] <= t <= p["max_turn"], "%s turn, %s to %s" % (t, p["min_turn"], p["max_turn"]))
            ic = lim["insulation_clearance"]
            cmax = max(ic["max_times_insulated_dia"] * w["insulated_diameter_mm"], ic["max_floor_mm"])
            item(wid, "insulation clearance max", ic["clause"], w["insulation_clearance_mm"] <= cmax,
                 "%.2f mm, at most %.2f mm (larger of %g x %.2f mm and %.1f mm)" % (w["insulation_clearance_mm"], cmax, ic["max_times_insulated_dia"], w["insulated_diameter_mm"], ic["max_floor_mm"]))
            item(wid, "insulation not covered by solder", ic["clause"], not w["insulation_covered_by_solder"], "insulation may touch the joint, never be covered by solder")
            item(wid, "conductor visible at insulation", ic["clause"], w["conductor_visible_at_insulation"], "the conductor must be visible at the end of the insulation")
        if term == "cup":
            c = lim["cup"]
            item(jid, "cup fill", c["clause"], j["cup_fill_pct"] >= c["min_fill_pct"], "%d %% filled, at least %d %%" % (j["cup_fill_pct"], c["min_fill_pct"]))
        if term == "pth":
            p = lim["pth_terminal"]
            for key in ("component_side_wetting_deg", "vertical_fill_pct", "solder_side_fillet_deg", "solder_side_land_wetting_pct"):
                item(jid, key, p["clause"], j["pth"][key] >= p[key], "%s, at least %s" % (j["pth"][key], p[key]))
    return out


def checklist(lim=None):
    lim = lim or limits()
    L = lim
    rows = []
    for lo, hi, ab, c in L["strand_damage"]["rows"]:
        rows.append("| %s | %d | %d |" % ("%d or more" % lo if hi == 0 else ("%d-%d" % (lo, hi) if lo != hi else str(lo)), ab, c))
    ic = L["insulation_clearance"]
    text = """# Fixture harness: acceptance checklist (JIS C 61191-4, level %(level)s)

Generated by `python -m hardware.tools.check_harness --checklist` from
`hardware/harness/jis_c_61191_4.toml`. Do not edit by hand. Level C is the standard's highest
(1.2: A general, B dedicated service, C high performance). Record each joint in an inspection
record (see `examples/`) and run `python -m hardware.tools.check_harness RECORD.toml`.

## 1. Wire preparation (clause %(sd_clause)s)

- [ ] Insulation stripped without nicks; chemical strippers on solid wire only, neutralised.
- [ ] Stranded wire pre-tinned where it is soldered; solder wicking under the insulation minimal (4.1.1).
- [ ] Nicked or damaged strands per wire at most:

| strands | level A and B | level C |
|---|---|---|
%(strand_rows)s

At level C no strand may be nicked or damaged, whatever the strand count.

## 2. Attachment to terminals

- [ ] Turret and pin terminals: wire wrapped at least %(wrap)d° (%(wrap_clause)s); wire end at least one wire diameter from the post's end.
- [ ] Wires of %(small).2f mm diameter or less: %(tmin)d to %(tmax)d turns (%(wrap_clause)s).
- [ ] Bifurcated side route, mechanically secured: at least %(side)d° (%(side_clause)s); top-and-bottom route bent at least 90° (4.3.3).
- [ ] Pierced terminals: %(pmin)s to %(pmax)s turn through the hole (%(pierced_clause)s).
- [ ] At most %(maxw)d wires per terminal or per slot (%(maxw_clause)s); no overlapping turns; alternate wrap directions (4.3.2).
- [ ] Stress relief; service loop (4.3.5, 4.3.9).
- [ ] Solder cups: at most %(cupw)d wires, solder fills at least %(cupfill)d %% of the cup (%(cup_clause)s).

## 3. Insulation clearance (clause %(ic_clause)s)

- [ ] Minimum: insulation may touch the joint but is not covered by solder; the conductor is visible at the end of the insulation.
- [ ] Maximum: the larger of %(icx)g x the insulated wire diameter and %(icf).1f mm, and never close enough to short a neighbour.

## 4. Terminals in plated through-holes (clause %(pth_clause)s, level C)

- [ ] Component-side wetting of lead and barrel at least %(p_a)d°.
- [ ] Vertical solder fill at least %(p_b)d %%.
- [ ] Solder-side fillet and wetting at least %(p_c)d°.
- [ ] Solder-side land wetted area at least %(p_e)d %%.
""" % dict(
        level=L["level"], sd_clause=L["strand_damage"]["clause"], strand_rows="\n".join(rows),
        wrap=L["wrap"]["min_deg"], wrap_clause=L["wrap"]["clause"], small=L["wrap"]["small_wire_max_dia_mm"],
        tmin=L["wrap"]["small_wire_min_turns"], tmax=L["wrap"]["small_wire_max_turns"],
        side=L["side_route"]["min_deg"], side_clause=L["side_route"]["clause"],
        pmin=L["pierced"]["min_turn"], pmax=L["pierced"]["max_turn"], pierced_clause=L["pierced"]["clause"],
        maxw=L["wires_per_terminal"]["max"], maxw_clause=L["wires_per_terminal"]["clause"],
        cupw=L["cup"]["max_wires"], cupfill=L["cup"]["min_fill_pct"], cup_clause=L["cup"]["clause"],
        ic_clause=ic["clause"], icx=ic["max_times_insulated_dia"], icf=ic["max_floor_mm"],
        pth_clause=L["pth_terminal"]["clause"], p_a=L["pth_terminal"]["component_side_wetting_deg"],
        p_b=L["pth_terminal"]["vertical_fill_pct"], p_c=L["pth_terminal"]["solder_side_fillet_deg"],
        p_e=L["pth_terminal"]["solder_side_land_wetting_pct"],
    )
    return text


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--checklist":
        CHECKLIST.write_text(checklist())
        print("wrote", CHECKLIST)
        return 0
    if argv and argv[0] == "--check-checklist":
        ok = CHECKLIST.exists() and CHECKLIST.read_text() == checklist()
        print("checklist.md %s" % ("up to date" if ok else "out of date: python -m hardware.tools.check_harness --checklist"))
        return 0 if ok else 1
    if len(argv) != 1:
        print(__doc__)
        return 2
    with open(argv[0], "rb") as f:
        record = tomllib.load(f)
    results = check(record)
    for jid, name, clause, ok, msg in results:
        print("%-4s %-16s %-34s [JIS C 61191-4 %s] %s" % ("PASS" if ok else "FAIL", jid, name, clause, msg))
    bad = sum(1 for r in results if not r[3])
    print("%s: %d items, %d fail" % ("FAIL" if bad else "PASS", len(results), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
