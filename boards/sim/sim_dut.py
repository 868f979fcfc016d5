# The device under test as a resistor network, and the nodal solver the simulated fixture uses.
#
# Scenario: the normalized dict in the JSON file named by env SIM_SCENARIO (the host converts the
# TOML scenario to it); absent = a good 40-position pair:
#   {"positions": 40, "contact_mohm": 30.0, "anchor_mohm": 8.0, "spread_mohm": 1.5, "seed": 7,
#    "emf_uv": 2.0,                        # sigma of the per-contact thermal EMF (default 2.0)
#    "pins": {"17": {"contact_mohm": 74.0}, "5": {"open": true},
#             "9": {"sense_open": "plug"}},  # "plug", "receptacle" or "both"
#    "anchors": {"2": {"contact_mohm": 25.0}},
#    "shorts": [{"side": "plug", "pins": [17, 18], "ohm": 0.2}],
#    "fixture": {"bulk_mohm": 0.25,      # test-board trace resistance, each board, per contact
#                "bulk_spread_mohm": 0.15, # +- uniform spread per position and board (fixture's
#                                          # own seed: the same boards whatever the connector)
#                "coupon": false,        # the zero-reference coupon instead of the connector:
#                                        # every position (1..MAX) reads only the boards' bulk
#                "gain_error_ppm": 0.0,  # test-current full-scale error (calibrated by the gain)
#                "cal": "factory",       # EEPROM at first boot: factory/expired/corrupt/none
#                "emf_uv": 2.0,          # the fixture's own thermal EMF at the ADC input (constant)
#                "relay_mohm": 50.0,     # reed relay contact resistance
#                "lid_closed": true}}
#
# Nodes are relay_map nodes (pads, where a Kelvin force and sense lead meet) plus the four buses
# (negative numbers BUS_NODE[bus]). A plug pad p and the receptacle pad p are joined by the contact
# plus the bulk of both boards; anchors the same; a short joins two pads on one side; a reference
# resistor joins its two ref nodes. Per-contact thermal EMF is a voltage in series with the
# contact; it does not change sign with the current, so current reversal cancels it.

import json
import os
from array import array

import relay_map
from simrand import Rng

BUS_NODE = (-1, -2, -3, -4)  # HI_F, HI_S, LO_F, LO_S

BULK_DEFAULT_MOHM = 0.25  # per board and position: 0.2..0.8 mΩ per position with the spread

DEFAULT = {"positions": 40, "contact_mohm": 30.0, "anchor_mohm": 8.0, "spread_mohm": 1.5, "seed": 7}


def load_scenario():
    path = os.getenv("SIM_SCENARIO")
    if not path:
        return dict(DEFAULT)
    with open(path) as f:
        return json.load(f)


class Dut:
    def __init__(self, sc, board):
        M = board.MAX_POSITIONS
        self.M = M
        self.sc = sc
        fx = sc.get("fixture") or {}
        bulk = float(fx.get("bulk_mohm", BULK_DEFAULT_MOHM))
        bspread = float(fx.get("bulk_spread_mohm", bulk * 0.6))
        self.coupon = bool(fx.get("coupon", False))
        # Bulk of both test boards per position (mΩ): the same boards whatever is mated.
        brng = Rng(int(fx.get("seed", 4242)))
        # index 0..M-1: contacts 1..M, then anchors 1, 2 (an array: the sim shares the heap)
        self.bulk = array("d", [0.0] * (M + 2))
        for i in range(M + 2):
            for _ in range(2):
                self.bulk[i] += max(0.0, bulk + bspread * (2 * brng.uniform() - 1))
        if self.coupon:  # a coupon has no connector: nothing of the scenario's DUT applies
            sc = {"positions": M, "contact_mohm": 0.0, "anchor_mohm": 0.0, "seed": sc.get("seed", 7), "emf_uv": 0.0}
        self.relay_ohm = float(fx.get("relay_mohm", 50.0)) / 1000.0
        self.fixture_emf_uv = float(fx.get("emf_uv", 0.0))
        self.lid_closed = bool(fx.get("lid_closed", True))
        self.positions = int(sc.get("positions", 40))
        seed = int(sc.get("seed", 7))
        rng = Rng(seed)
        self.rng = rng
        spread = float(sc.get("spread_mohm", 0.0))
        emf_sigma = float(sc.get("emf_uv", 2.0))
        pins = sc.get("pins") or {}
        anchors = sc.get("anchors") or {}
        self.edges = []  # (a, b, r_ohm, emf_v)
        self.truth = {}  # ("contact", pin) / ("anchor", n) -> mΩ between the pads (None if open)
        self.sense_open = set()
        for p in range(1, self.positions + 1):
            o = pins.get(str(p)) or {}
            r = o.get("contact_mohm")
            base_sp = rng.gauss()
            emf = rng.gauss() * emf_sigma
            if r is None:
                r = float(sc.get("contact_mohm", 30.0)) + spread * base_sp
                r = max(r, 0.0 if self.coupon else 0.1)
            emf = float(o.get("emf_uv", emf))
            a = relay_map.contact_node(M, relay_map.PLUG, p)
            b = relay_map.contact_node(M, relay_map.RECEPTACLE, p)
            so = o.get("sense_open")
            if so in ("plug", "both"):
                self.sense_open.add(a)
            if so in ("receptacle", "both"):
                self.sense_open.add(b)
            if o.get("open"):
                self.truth[("contact", p)] = None
                continue
            r_tot = max(float(r) + self.bulk[p - 1], 1e-6)
            self.truth[("contact", p)] = r_tot
            self.edges.append((a, b, r_tot / 1000.0, emf * 1e-6))
        for k in range(1, 3):
            o = anchors.get(str(k)) or {}
            r = o.get("contact_mohm")
            sp = rng.gauss()
            emf = rng.gauss() * emf_sigma
            if r is None:
                r = max(float(sc.get("anchor_mohm", 8.0)) + spread * sp, 0.0 if self.coupon else 0.1)
            a = relay_map.anchor_node(M, relay_map.PLUG, k)
            b = relay_map.anchor_node(M, relay_map.RECEPTACLE, k)
            if o.get("open"):
                self.truth[("anchor", k)] = None
                continue
            r_tot = max(float(r) + self.bulk[M + k - 1], 1e-6)
            self.truth[("anchor", k)] = r_tot
            self.edges.append((a, b, r_tot / 1000.0, emf * 1e-6))
        for s in sc.get("shorts") or ():
            side = relay_map.PLUG if s.get("side", "plug") == "plug" else relay_map.RECEPTACLE
            ps = s["pins"]
            for i in range(len(ps) - 1):
                a = relay_map.contact_node(M, side, ps[i])
                b = relay_map.contact_node(M, side, ps[i + 1])
                self.edges.append((a, b, float(s.get("ohm", 0.1)), 0.0))
        for i, r in enumerate(board.REF_RESISTORS_MOHM):
            self.edges.append((relay_map.ref_node(M, i, 0), relay_map.ref_node(M, i, 1), r / 1000.0, 0.0))
        self.adj = {}
        for e in self.edges:
            self.adj.setdefault(e[0], []).append(e)
            self.adj.setdefault(e[1], []).append(e)


def component(start, adj):
    seen = {start}
    todo = [start]
    while todo:
        n = todo.pop()
        for e in adj.get(n, ()):
            m = e[1] if e[0] == n else e[0]
            if m not in seen:
                seen.add(m)
                todo.append(m)
    return seen


def merged_adj(base, extra):
    adj = dict(base)
    for e in extra:
        adj[e[0]] = adj.get(e[0], []) + [e]
        adj[e[1]] = adj.get(e[1], []) + [e]
    return adj


def solve(nodes, adj, ground, inject):
    """Node potentials (V) of the connected set `nodes` with `ground` at 0 V; `inject` maps a
    node to the current (A) driven into it. Edges are (a, b, R, emf): the current from a to b is
    (Va - Vb + emf) / R. Gaussian elimination; the sets here are a few nodes."""
    order = [n for n in nodes if n != ground]
    idx = {}
    for i, n in enumerate(order):
        idx[n] = i
    k = len(order)
    G = [[0.0] * (k + 1) for _ in range(k)]
    done = set()
    for n in nodes:
        for e in adj.get(n, ()):
            if id(e) in done:
                continue
            done.add(id(e))
            a, b, r, emf = e
            g = 1.0 / r
            ia = idx.get(a)
            ib = idx.get(b)
            if ia is not None:
                G[ia][ia] += g
                G[ia][k] -= g * emf
                if ib is not None:
                    G[ia][ib] -= g
            if ib is not None:
                G[ib][ib] += g
                G[ib][k] += g * emf
                if ia is not None:
                    G[ib][ia] -= g
    for n, i_a in inject.items():
        if n in idx:
            G[idx[n]][k] += i_a
    for c in range(k):
        p = c
        for r in range(c + 1, k):
            if abs(G[r][c]) > abs(G[p][c]):
                p = r
        G[c], G[p] = G[p], G[c]
        piv = G[c][c]
        if piv == 0.0:
            continue
        row = G[c]
        for r in range(k):
            if r != c:
                f = G[r][c] / piv
                if f != 0.0:
                    rr = G[r]
                    for j in range(c, k + 1):
                        rr[j] -= f * row[j]
    v = {ground: 0.0}
    for i, n in enumerate(order):
        v[n] = G[i][k] / G[i][i] if G[i][i] else 0.0
    return v
