# The simulated RP2040's boot: runs main.py from the filesystem (the working directory) as
# MicroPython does after reset, and boots it again after a watchdog reset (simhw.BoardReset).
# The parts outside the RP2040 keep their state across the reset, as on the fixture board: the
# relays and the sources stay as they were until the firmware's boot puts them safe.
#
#   micropython simboot.py     (cwd: the fixture's filesystem)

import gc
import sys

import machine
import simhw

SIM_DIR = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."


def forget_firmware():
    """Unload every module that is not the simulated board: the rebooted chip imports afresh (and
    its heap is empty again: what the old firmware held is collected)."""
    for name in list(sys.modules):
        f = getattr(sys.modules[name], "__file__", None)
        if f is not None and not f.startswith(SIM_DIR):
            del sys.modules[name]
    gc.collect()


def safety_snapshot():
    """What the parts outside the RP2040 do now: relays made, source and monitor current on."""
    w = simhw.world()
    return {"relays_made": len(w.chain.made_bits()), "source_on": bool(w.source_on()), "monitor_on": bool(w.mon_en)}


def main():
    # The device's sys.path: the filesystem first ('' : the working directory), not this
    # script's folder (which MICROPYPATH already has, for the simulated machine/rp2/time).
    if sys.path[0] != "":
        sys.path[0] = ""
    while True:
        try:
            with open("main.py") as f:
                code = f.read()
            exec(code, {"__name__": "__main__"})
            return
        except SystemExit:
            raise
        except simhw.BoardReset as e:
            sys.stderr.write("simulated board: reset (cause %d); outside the RP2040: %s; booting again\n" % (e.cause, safety_snapshot()))
            simhw.reboot()
            forget_firmware()


if __name__ == "__main__":
    main()
