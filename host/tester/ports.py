"""Finding fixtures by their USB identity (never the simulator: that is only ever asked for)."""

from tester.exitcodes import FixtureError, UsageError
from tester.firmware import protocol


def list_fixtures():
    """The USB serial ports that look like a fixture (VID:PID of the MicroPython CDC device)."""
    from serial.tools import list_ports

    found = []
    for p in list_ports.comports():
        if p.vid == protocol.USB_VID and p.pid == protocol.USB_PID:
            found.append(p)
    return sorted(found, key=lambda p: p.device)


def find_fixture(serial_number=None):
    """The device path of the one fixture attached (or the one with `serial_number`)."""
    ports = list_fixtures()
    if serial_number:
        ports = [p for p in ports if (p.serial_number or "").lower() == serial_number.lower()]
    ident = "USB %04x:%04x" % (protocol.USB_VID, protocol.USB_PID)
    if not ports:
        what = "with USB serial number %s " % serial_number if serial_number else ""
        raise FixtureError(
            "no fixture %sfound (looked for %s). Connect one, give its port with --port DEV, "
            "or use --sim for the simulated fixture." % (what, ident)
        )
    if len(ports) > 1:
        listing = "\n".join("  %s  serial number %s  %s" % (p.device, p.serial_number, p.description or "") for p in ports)
        raise UsageError(
            "%d fixtures found; choose one with --port DEV or --serial-number SN:\n%s" % (len(ports), listing)
        )
    return ports[0].device
