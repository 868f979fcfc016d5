"""Which ports may hold a fixture right now: the station's hot-plug source.

Three kinds, polled together (Station.poll, every POLL_S):
- USB: every serial port with the fixture's USB identity (tester.ports.list_fixtures: the VID:PID
  of the MicroPython CDC device), with its USB serial number; only when neither --port nor --sim
  is given, as `tester run` does;
- --port DEV: those devices whenever they exist (a port that is not a fixture is refused by its
  worker, not here);
- simulated fixtures the station started (--sim N): their port while it is "plugged in".

A port that vanishes is left to its worker (its reads fail: the tile goes to "gone"); a port
that appears gets a worker.
"""

import os
from collections import namedtuple

from tester import scenario as scenario_mod

POLL_S = 1.0

Candidate = namedtuple("Candidate", "device source usb_serial sim scenario")


def sim_uid(n):
    """The simulated RP2040 unique id of the station's n-th simulated fixture (1-based): the
    fixture id is FX-<its last 8 hex digits>, FX-51000001, FX-51000002..."""
    return "e6614104%08x" % (0x51000000 + n)


class Discovery:
    def __init__(self, ports=(), usb=False):
        self.explicit = list(ports)
        self.usb = usb
        self.sims = {}  # device -> (SimFixture, Scenario)

    def add_sim(self, sim, scenario):
        self.sims[sim.port] = (sim, scenario)

    def sim_for(self, device):
        entry = self.sims.get(device)
        return entry[0] if entry else None

    def present(self):
        """{device: Candidate} of every port that exists now."""
        found = {}
        if self.usb:
            from tester.ports import list_fixtures

            try:
                for p in list_fixtures():
                    found[p.device] = Candidate(p.device, "usb", p.serial_number, None, None)
            except OSError:  # the USB listing failed this time (sysfs busy): try at the next poll
                pass
        for dev in self.explicit:
            if os.path.exists(dev):
                found[dev] = Candidate(dev, "port", None, None, None)
        for dev, (sim, scenario) in self.sims.items():
            if os.path.lexists(dev) and sim.alive():
                found[dev] = Candidate(dev, "sim", None, sim, scenario)
        return found


def load_scenarios(paths, pins):
    """The scenarios of --scenario F... (validated now: a bad file is a usage error before any
    fixture starts), or [the default of `pins` positions]."""
    if not paths:
        return [scenario_mod.default(pins or 40)]
    return [scenario_mod.load(p, pins=pins) for p in paths]
