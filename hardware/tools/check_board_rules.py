"""Check the test-board design rules against the class tables of JIS C 5014.

    python -m hardware.tools.check_board_rules [RULES.toml]   # default hardware/test_board_rules.toml

Prints one line per rule: PASS, FAIL (with the clause, the table's value and why) or INFO (the
standard is silent: what we checked instead). Exit 0 if nothing fails, 1 otherwise.

The logic: the finest conductor width and spacing decide the class the board needs (Tables 8,
10); the ordered class must be at least that; a width or spacing finer than class III has no
class at all ("beyond the standard"). Every tolerance the design assumes must be at least the
standard's tolerance for the ordered class (a fab conforming to class III only guarantees
that), and every minimum must be met.
"""

import sys
import tomllib
from dataclasses import dataclass

from . import common

TABLES = common.HARDWARE / "jis" / "jis_c_5014_tables.toml"
RULES = common.HARDWARE / "test_board_rules.toml"
CLASSES = ("I", "II", "III")
EPS = 1e-9


@dataclass
class Result:
    rule: str
    status: str  # PASS / FAIL / INFO
    clause: str
    message: str

    def line(self):
        return "%-4s %-34s [JIS C 5014 %s] %s" % (self.status, self.rule, self.clause, self.message)


def load_tables():
    with open(TABLES, "rb") as f:
        return tomllib.load(f)


def class_of(value, table):
    """The class whose [lo, hi) range holds value; None if finer than class III."""
    for c in CLASSES:
        lo, hi = table[c]
        if lo - EPS <= value < hi - EPS:
            return c
    return None


def rank(c):
    return CLASSES.index(c)


def thickness_tol(t, cls, tab):
    tt = tab["thickness_tol"]
    if t >= 2.0 - EPS:
        return t * tt["over_2_0_pct"][cls] / 100.0
    for key in ("0.4", "0.6", "0.8", "1.0", "1.2", "1.6"):
        if abs(t - float(key)) < EPS:
            return tt[key][cls]
    return None


def hole_copper_min(t, cls, tab):
    hc = tab["hole_copper_min_um"]
    if t > 1.0 + EPS:
        return hc["over_1_0"][cls]
    if t > 0.5 + EPS:
        return hc["over_0_5_to_1_0"][cls]
    return hc["upto_0_5"][cls]


def check(rules, tab=None):
    tab = tab or load_tables()
    out = []

    def res(rule, ok, clause, msg):
        out.append(Result(rule, "PASS" if ok else "FAIL", clause, msg))

    b, c, lands, holes, plating = rules["board"], rules["conductor"], rules["connector_lands"], rules["holes"], rules["plating"]
    cls = b["class"]
    if cls not in CLASSES:
        out.append(Result("board.class", "FAIL", "3", "class %r is not one of %s" % (cls, ", ".join(CLASSES))))
        return out

    # Class needed by the finest width and spacing.
    needed = "I"
    for rule, key, table, what in (
        ("conductor.min_width", "min_width", "design_conductor_width", "width"),
        ("conductor.min_spacing", "min_spacing", "design_conductor_spacing", "spacing"),
    ):
        v = c[key]
        k = class_of(v, tab[table])
        clause = tab[table]["clause"]
        if k is None:
            lo = tab[table]["III"][0]
            res(rule, False, clause, "%.3f mm is finer than class III (%.2f mm minimum): beyond the standard, no class covers it" % (v, lo))
            continue
        if rank(k) > rank(needed):
            needed = k
        ok = rank(cls) >= rank(k)
        res(rule, ok, clause, "%.3f mm %s needs class %s; ordered class %s%s" % (v, what, k, cls, "" if ok else ": order class %s" % k))
    # The connector lands' own gap is a spacing too (design pitch - pad width).
    gap = lands["pitch"] - lands["pad_width"]
    k = class_of(gap, tab["design_conductor_spacing"])
    if k is None:
        res("connector_lands.gap", False, "4.7.1 Table 10", "land gap %.3f mm (pitch %.2f - pad %.2f) is finer than class III: beyond the standard" % (gap, lands["pitch"], lands["pad_width"]))
    else:
        ok = rank(cls) >= rank(k)
        res("connector_lands.gap", ok, "4.7.1 Table 10", "land gap %.3f mm (pitch %.2f - pad %.2f) needs class %s; ordered %s" % (gap, lands["pitch"], lands["pad_width"], k, cls))
        if rank(k) > rank(needed):
            needed = k
    out.append(Result("board.class_needed", "INFO", "4.6.1/4.7.1", "finest features need class %s (ordered %s)" % (needed, cls)))

    # Tolerances the design assumes vs the standard's for the ordered class.
    def tol(rule, assumed, std, clause, what):
        ok = assumed >= std - EPS
        res(rule, ok, clause, "design assumes ±%.3f mm %s, class %s gives ±%.3f mm%s" % (assumed, what, cls, std, "" if ok else ": the fab is not held to the tighter value; the design must tolerate the standard's"))

    w_tab = tab["finished_conductor_width_tol"]
    tol("conductor.width_tol", c["width_tol"], w_tab["over_0_3"] if c["min_width"] > 0.3 else w_tab[cls], w_tab["clause"], "finished width")
    s_tab = tab["finished_conductor_spacing_tol"]
    tol("conductor.spacing_tol", c["spacing_tol"], s_tab["over_0_3"] if c["min_spacing"] > 0.3 else s_tab[cls], s_tab["clause"], "finished spacing")
    std_t = thickness_tol(b["thickness"], cls, tab)
    if std_t is None:
        out.append(Result("board.thickness_tol", "INFO", "4.4.1 Table 3", "no tolerance in Table 3 for %.2f mm (only 0.4-1.6 nominal steps and 2.0 and over): agree it with the fab" % b["thickness"]))
    else:
        tol("board.thickness_tol", b["thickness_tol"], std_t, "4.4.1 Table 3", "on %.2f mm thickness" % b["thickness"])
    ol = max(b["outline"])
    o = tab["outline_tol"]
    std_o = o[cls] + (0 if ol <= 100 else -(-(ol - 100) // 50) * o["per_50_over_100"][cls])
    tol("board.outline_tol", b["outline_tol"], std_o, o["clause"], "outline (%.0f mm)" % ol)
    tol("connector_lands.pitch_tol", lands["pitch_tol"], tab["footprint_pad_pitch_tol"]["under_0_4" if lands["pitch"] < 0.4 else "from_0_4"], "4.10.1 Table 18", "pad pitch")
    tol("connector_lands.pad_width_tol", lands["pad_width_tol"], tab["footprint_pad_width_tol"]["upto_0_35" if lands["pad_width"] <= 0.35 else "over_0_35"], "4.10.2 Table 19", "pad width")
    tol("holes.outer_land_to_hole_tol", holes["outer_land_to_hole_tol"], tab["outer_land_to_hole_tol"][cls], "4.8.2 Table 14", "outer land/hole offset")
    tol("holes.inner_land_to_hole_tol", holes["inner_land_to_hole_tol"], tab["inner_land_to_hole_tol"][cls], "4.8.1 Table 13", "inner land/hole offset")
    ch = tab["component_hole_dia_tol"]
    key = "plated_0_6_to_2_0" if holes["component_hole"] < 2.0 else "plated_2_0_up"
    tol("holes.component_hole_tol", holes["component_hole_tol"], ch[key][cls], ch["clause"], "plated component hole")
    tol("holes.hole_position_tol", holes["hole_position_tol"], tab["hole_position_tol"][cls], "4.5.2 Table 4", "hole position")

    # Minimums.
    def minimum(rule, value, lo, clause, what):
        ok = value >= lo - EPS
        res(rule, ok, clause, "%s %.3g, minimum %.3g%s" % (what, value, lo, "" if ok else ": too small"))

    e = tab["conductor_to_edge"]
    minimum("conductor.outer_to_edge", c["outer_to_edge"], e["outer_min"], e["clause"], "outer conductor to edge")
    minimum("conductor.inner_to_edge", c["inner_to_edge"], e["inner_min"], e["clause"], "inner conductor to edge")
    minimum("conductor.ground_to_edge", c["ground_to_edge"], e["ground_min"], e["clause"], "ground to edge")
    minimum("conductor.hole_wall_to_inner_conductor", c["hole_wall_to_inner_conductor"], tab["hole_wall_to_conductor_design_min"][cls], "4.7.3 Table 12", "hole wall to inner conductor (design)")
    minimum("conductor.dielectric", c["dielectric"], tab["dielectric"]["design_min"], "4.7.4", "dielectric layer (design)")
    minimum("holes.min_hole_to_edge", holes["min_hole_to_edge"], b["thickness"] * tab["hole_to_edge"]["min_times_thickness"], "4.5.1", "hole wall to board edge (>= thickness)")
    minimum("plating.hole_copper_um", plating["hole_copper_um"], hole_copper_min(b["thickness"], cls, tab), "4.12.1 Table 22", "hole wall copper µm (%.1f mm board, class %s)" % (b["thickness"], cls))

    # Annular ring after the worst land-to-hole offset the class allows (drilled hole, plating not
    # counted: conservative for w1, exact for w2).
    ar = tab["min_annular_ring"]
    for side, land_key, tol_key in (("outer", "via_outer_land", "outer_land_to_hole_tol"), ("inner", "via_inner_land", "inner_land_to_hole_tol")):
        need = ar[side].get(cls)
        ring = (holes[land_key] - holes["via_drill"]) / 2 - holes[tol_key]
        if need is None:
            out.append(Result("holes.%s_annular_ring" % side, "INFO", ar["clause"], "class %s gives no number for the %s ring (ring %.3f mm at worst offset)" % (cls, side, ring)))
        else:
            ok = ring >= need - EPS
            res("holes.%s_annular_ring" % side, ok, ar["clause"], "%s land %.2f on %.2f drill at ±%.2f offset leaves %.3f mm, class %s needs %.2f%s" % (side, holes[land_key], holes["via_drill"], holes[tol_key], ring, cls, need, "" if ok else ": enlarge the land or drill smaller"))

    # Worst-case finished gap between two connector lands with the standard's footprint
    # tolerances (each land may be wider by the pad-width tolerance, the pitch short by its
    # tolerance). JIS C 5014 gives no minimum here: the limit is the fixture's own.
    std_pw = tab["footprint_pad_width_tol"]["upto_0_35" if lands["pad_width"] <= 0.35 else "over_0_35"]
    std_pp = tab["footprint_pad_pitch_tol"]["under_0_4" if lands["pitch"] < 0.4 else "from_0_4"]
    worst = lands["pitch"] - std_pp - lands["pad_width"] - std_pw
    ok = worst >= lands["min_finished_gap"] - EPS
    out.append(Result("connector_lands.worst_gap", "PASS" if ok else "FAIL", "4.10 Tables 18/19",
                      "worst-case land gap %.3f mm with the standard's tolerances; fixture requirement %.3f mm (JIS C 5014 is silent on a minimum)%s" % (worst, lands["min_finished_gap"], "" if ok else ": solder bridges between neighbours"))) 
    if b["layers"] < 3:
        res("board.layers", False, "1", "%d layers: not a multilayer board, outside the scope of JIS C 5014 (clause 1)" % b["layers"])
    else:
        out.append(Result("board.layers", "INFO", "1", "%d layers: the standard gives no rule on layer count" % b["layers"]))
    for s in tab["silent"]["items"]:
        out.append(Result("silent", "INFO", "-", "the standard is silent: " + s))
    return out


def failures(results):
    return [r for r in results if r.status == "FAIL"]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else RULES
    with open(path, "rb") as f:
        rules = tomllib.load(f)
    results = check(rules)
    print("JIS C 5014 design-rule check of %s (%s)" % (path, rules["board"]["name"]))
    for r in results:
        print(r.line())
    bad = failures(results)
    print("%s: %d rules fail" % ("FAIL" if bad else "PASS", len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
