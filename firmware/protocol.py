# The fixture <-> host protocol: the one definition both sides use.
#
# Runs unchanged on MicroPython (the fixture) and CPython (the `tester` host package imports this
# file as `tester_firmware.protocol`), so it uses only what both have: json, binascii.
#
# Host -> fixture: one printable-ASCII line per command. The application runs with the USB
# keyboard interrupt off (micropython.kbd_intr(-1)): a stray 0x03 or any control byte only
# discards the line it is in. `REPL` (or mpremote's own Ctrl-C then Ctrl-A) ends the application
# in the safe state and gives the port back to MicroPython's REPL, Ctrl-C restored:
#
#     <id> <VERB> [key=value ...]\n          e.g.  "7 RUN pins=40 stage=initial"
#
# Fixture -> host: one framed line per message, with a sequence number that counts every frame
# since boot and a CRC-32 over everything between '$' and '*':
#
#     $<seq>,<kind>,<json object>*<crc32, 8 lower-case hex>\n
#
# Anything on the wire that is not a frame (a MicroPython traceback, the REPL banner) is not
# protocol: the host logs it and counts it, it never parses it.

import binascii
import json

PROTOCOL_VERSION = 1
FIRMWARE_VERSION = "0.1.0"

# USB identity the host looks for (the Raspberry Pi MicroPython CDC device; each fixture is told
# apart by its USB serial number, which is the RP2040 flash unique id).
USB_VID = 0x2E8A
USB_PID = 0x0005

MAX_LINE = 160  # longest command line the fixture accepts, bytes including '\n'
SEQ_MOD = 1 << 16  # frame sequence numbers wrap here

# Error codes in `err` frames.
E_SYNTAX = "syntax"  # not "<id> <VERB> key=value..."
E_VERB = "verb"  # unknown verb
E_ARG = "arg"  # unknown, missing or repeated argument, wrong type
E_RANGE = "range"  # value out of range (pin, current, positions...)
E_STATE = "state"  # not possible now (busy, lid open)
E_HW = "hardware"  # the fixture failed (ADC checksum, relay readback); all relays are open
E_ABORT = "aborted"
E_CAL = "calibration"  # RUN refused: the calibration is expired, corrupt, missing or incomplete
E_WORN = "worn"  # RUN refused: the fixture's test-board connectors reached their rated cycles

# Frame kinds, fixture -> host.
K_HELLO = "hello"  # handshake: versions, board, simulated, fixture id
K_OK = "ok"  # command accepted / finished; carries `id`
K_ERR = "err"  # command refused or failed; carries `id`, `code`, `msg`
K_LOG = "log"  # human-readable note
K_RUN = "run"  # a test run starts: positions, stage, conditions, source ("host" or "button"), kept
K_STEP = "step"  # progress: step name, done, total
K_CHECK = "check"  # one self-check item: name, value, unit, lo, hi, ok
K_SHORT = "short"  # neighbour isolation result: side, pins, ohm, verdict
K_CONTACT = "contact"  # one contact's 4-wire result
K_ANCHOR = "anchor"  # one anchor plate's 4-wire result
K_DONE = "done"  # a run ends: verdict, counts, fixture time
K_STATUS = "status"  # relays, source, lid, button
K_CAL = "cal"  # one calibration reading: step, pin/anchor/ref, r_mohm (raw), u_mohm
# Discontinuity monitoring (monitor.py).
K_MON = "mon"  # monitoring starts: event definition, channels and their pins, self-check results
K_EVENT = "event"  # one failure (>= EVENT_MIN_US): n (event seq), ch, pins, t_us, len_ns [, replay]
K_MSTATUS = "mstatus"  # once a second and on MSTATUS: elapsed, per-channel counts, longest, losses
K_MDONE = "mdone"  # monitoring ends: verdict PASS/FAIL/INVALID, counts, histograms, losses

# Verdicts, on every frame and record that carries one. PASS/FAIL judge the connector; ERROR the
# fixture or link failed; ABORTED the operator or a signal stopped it; INVALID monitoring lost data.
PASS = "PASS"
FAIL = "FAIL"
ERROR = "ERROR"
ABORTED = "ABORTED"
INVALID = "INVALID"
VERDICTS = (PASS, FAIL, ERROR, ABORTED, INVALID)

# Fault kinds of one contact, anchor or neighbour pair (`fault` on contact/anchor/short frames).
FAULT_OPEN = "open"  # no continuity: the source's compliance clamp reached
FAULT_HIGH = "high"  # continuity above the spec's limit
FAULT_SHORT = "short"  # neighbours bridged
FAULT_PROBE = "probe"  # a sense lead of the fixture is open: the fixture's fault, not the pair's
FAULTS = (FAULT_OPEN, FAULT_HIGH, FAULT_SHORT, FAULT_PROBE)

# Monitoring's loss counters (`lost` on mstatus/mdone frames and in the record). Any non-zero
# data loss makes the window INVALID; link drops are reported apart (the fixture replays events).
LOST_FIFO_STALLS = "fifo_stalls"  # a PIO state machine's FIFO was full: edges lost
LOST_RING_OVERRUN = "ring_overrun_records"  # DMA overwrote ring records before the merge read them
LOST_EVENT_LOG = "event_log_dropped"  # a failure the event log had no room for
LOST_LOG_OVERFLOW = "log_overflow"  # a logged event overwritten before it was ever sent
LOST_UNMEASURED = "unmeasured_events"  # open across a loss: no length (never judged)
LOST_LINK_BYTES = "link_bytes_dropped"  # bytes the USB link could not send (host not reading)
LOST_LINK_FRAMES = "link_frames_dropped"
LOSSES_OF_DATA = (LOST_FIFO_STALLS, LOST_RING_OVERRUN, LOST_EVENT_LOG, LOST_LOG_OVERFLOW)

# START runs kept on the fixture's flash for a host to collect (kept_runs.py; on hello/status).
STORED_RUNS = "stored_runs"  # kept, not yet collected (KEPT lists them)
STORED_DROPPED = "stored_dropped"  # kept runs dropped for room before a host collected them: lost
STORED_WRITE_FAILED = "stored_write_failed"  # runs whose copy could not be written whole (flash full)

# Argument kinds for the command table.
INT = "int"
STR = "str"

# VERB -> {key: (kind, required, low, high)} ; for STR, low is a tuple of allowed values or None.
COMMANDS = {  # type: dict[str, dict[str, tuple]]
    "HELLO": {},
    "STATUS": {},
    "SAFE": {},
    "ABORT": {},
    "REPL": {},  # end the application (safe state first) and give the port to the REPL (mpremote)
    "SELFCHECK": {"pins": (INT, True, 2, 200)},
    "RUN": {
        "pins": (INT, True, 2, 200),
        "stage": (STR, False, ("initial", "after"), None),
        "current_ma": (INT, False, 1, 5000),
        "serial": (STR, False, None, 32),
        "date": (INT, False, 20000101, 20991231),  # today (YYYYMMDD): the fixture has no clock
        "allow_expired_cal": (INT, False, 0, 1),  # run with an expired/corrupt/missing calibration
        "allow_worn": (INT, False, 0, 1),  # run past the test boards' rated mating cycles
    },
    "MEASURE": {
        "pins": (INT, True, 2, 200),
        "stage": (STR, False, ("initial", "after"), None),  # which anchor limit applies
        "pin": (INT, False, 1, 200),
        "anchor": (INT, False, 1, 2),
        "current_ma": (INT, False, 1, 5000),
    },
    "CONFIG": {
        "pins": (INT, True, 2, 200),
        "stage": (STR, False, ("initial", "after"), None),
    },
    # Identity, calibration, mating cycles (fixture_store.py: the EEPROM layout).
    "IDENT": {"id": (STR, False, None, 16)},  # no id: report it; id=FX-0007: write it
    "CAL": {
        "step": (STR, True, ("zero", "gain", "store"), None),
        "pins": (INT, False, 2, 200),  # zero: positions of the coupon to measure
        "current_ma": (INT, False, 1, 5000),
        "date": (INT, False, 20000101, 20991231),  # store: calibration date
        "due": (INT, False, 20000101, 20991231),  # store: due date
    },
    "CALINFO": {"date": (INT, False, 20000101, 20991231)},
    "CYCLES": {"reset": (INT, False, 1, 1)},
    # Discontinuity monitoring (monitor.py): axis X/Y/Z (vibration) or a shock direction.
    "MONITOR": {
        "pins": (INT, True, 2, 200),
        "seconds": (INT, True, 1, 86400),
        "axis": (STR, False, ("X", "Y", "Z", "+X", "-X", "+Y", "-Y", "+Z", "-Z"), None),
        "label": (STR, False, None, 24),
    },
    "MSTATUS": {},
    "MSTOP": {},
    "EVENTS": {"since": (INT, True, 0, 999999999)},
    # START runs kept on the fixture (kept_runs.py): no argument lists them; one of replay=N (its
    # frames again), drop=N (forget it: the host stored it), stamp=N started=<ISO time> (date it).
    "KEPT": {
        "replay": (INT, False, 1, 999999999),
        "drop": (INT, False, 1, 999999999),
        "stamp": (INT, False, 1, 999999999),
        "started": (STR, False, None, 32),
    },
}


class ProtocolError(Exception):
    """A line or frame that breaks the protocol. `code` is one of the E_* codes."""

    def __init__(self, code, msg):
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.cmd_id = None


_WS = " \t\n\r\x0b\x0c"  # what MicroPython's str.strip() removes


def _printable(s):
    for ch in s:
        o = ord(ch)
        if o < 0x20 or o > 0x7E:
            return False
    return True


def format_command(cmd_id, verb, args=None):
    """Build one command line (str, ends with '\\n'). Raises ProtocolError on bad input."""
    check_args(verb, args or {})
    parts = [str(cmd_id), verb]
    if args:
        for k in sorted(args):
            parts.append("%s=%s" % (k, args[k]))
    line = " ".join(parts) + "\n"
    if len(line) > MAX_LINE:
        raise ProtocolError(E_SYNTAX, "command longer than %d bytes" % MAX_LINE)
    return line


def parse_command(line):
    """Parse one command line into (id, verb, args). Raises ProtocolError.

    `id` is returned as soon as it is known (as ProtocolError.cmd_id) so that the error reply
    can name the command it refuses."""
    if isinstance(line, (bytes, bytearray)):
        # Bytes first: MicroPython's decode() does not validate UTF-8, so an overlong sequence
        # (b"\xc0\xbd" for "=") would come out as an ASCII character on the fixture alone.
        for b in line:
            if b > 0x7E:
                raise ProtocolError(E_SYNTAX, "not ASCII")
        line = line.decode()
    line = line.strip(_WS)  # not strip(): CPython's also strips \x1c-\x1f, MicroPython's does not
    if not line:
        raise ProtocolError(E_SYNTAX, "empty line")
    if len(line) >= MAX_LINE:
        raise ProtocolError(E_SYNTAX, "line longer than %d bytes" % MAX_LINE)
    if not _printable(line):
        raise ProtocolError(E_SYNTAX, "non-printable byte in command")
    parts = line.split()
    if len(parts) < 2 or not parts[0].isdigit() or len(parts[0]) > 9:
        raise ProtocolError(E_SYNTAX, "expected '<id> <VERB> [key=value ...]'")
    cmd_id = int(parts[0])
    verb = parts[1]
    args = {}
    try:
        for p in parts[2:]:
            k, sep, v = p.partition("=")
            if not sep or not k or not v:
                raise ProtocolError(E_SYNTAX, "argument %r is not key=value" % p)
            if k in args:
                raise ProtocolError(E_ARG, "argument %r given twice" % k)
            args[k] = v
        args = check_args(verb, args)
    except ProtocolError as e:
        e.cmd_id = cmd_id
        raise
    return cmd_id, verb, args


def check_args(verb, args):
    """Check (and convert from text) the arguments of `verb` against COMMANDS."""
    spec = COMMANDS.get(verb)
    if spec is None:
        raise ProtocolError(E_VERB, "unknown command %r" % verb)
    out = {}
    for k in args:
        if k not in spec:
            raise ProtocolError(E_ARG, "%s takes no argument %r" % (verb, k))
    for k in spec:
        kind, required, lo, hi = spec[k]
        if k not in args:
            if required:
                raise ProtocolError(E_ARG, "%s needs %s=" % (verb, k))
            continue
        v = args[k]
        if kind == INT:
            if isinstance(v, str):
                if not (v.isdigit() or (v[:1] == "-" and v[1:].isdigit())) or len(v) > 9:
                    raise ProtocolError(E_ARG, "%s=%s is not an integer" % (k, v))
                v = int(v)
            elif not isinstance(v, int) or isinstance(v, bool):
                raise ProtocolError(E_ARG, "%s=%r is not an integer" % (k, v))
            if v < lo or v > hi:
                raise ProtocolError(E_RANGE, "%s=%d is out of range %d..%d" % (k, v, lo, hi))
        else:
            v = str(v)
            if not v or not _printable(v) or " " in v or "=" in v:
                raise ProtocolError(E_ARG, "%s=%r must be printable, without spaces or '='" % (k, v))
            if lo is not None and v not in lo:
                raise ProtocolError(E_RANGE, "%s=%s is not one of %s" % (k, v, "/".join(lo)))
            if hi is not None and len(v) > hi:
                raise ProtocolError(E_RANGE, "%s is longer than %d characters" % (k, hi))
        out[k] = v
    return out


def _crc(body):
    return "%08x" % (binascii.crc32(body) & 0xFFFFFFFF)


def encode_frame(seq, kind, payload):
    """One frame as bytes, ready to write."""
    body = ("%d,%s,%s" % (seq % SEQ_MOD, kind, json.dumps(payload))).encode()
    return b"$" + body + b"*" + _crc(body).encode() + b"\n"


def decode_frame(line):
    """Parse one received line into (seq, kind, payload dict). Raises ProtocolError on a garbled
    or truncated frame; the caller decides whether that is fatal."""
    if isinstance(line, str):
        line = line.encode()
    line = line.strip()
    if not line.startswith(b"$"):
        raise ProtocolError(E_SYNTAX, "not a frame")
    star = line.rfind(b"*")
    if star < 0 or len(line) - star - 1 != 8:
        raise ProtocolError(E_SYNTAX, "frame has no checksum")
    body = line[1:star]
    if _crc(body).encode() != line[star + 1 :].lower():
        raise ProtocolError(E_SYNTAX, "frame checksum mismatch")
    try:
        text = body.decode()
        seq_s, kind, js = text.split(",", 2)
        payload = json.loads(js)
        seq = int(seq_s)
    except Exception:
        raise ProtocolError(E_SYNTAX, "frame body malformed")
    if not isinstance(payload, dict):
        raise ProtocolError(E_SYNTAX, "frame payload is not an object")
    return seq, kind, payload
