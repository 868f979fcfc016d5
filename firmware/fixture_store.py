# What the fixture keeps in its EEPROM (24LC256 on I2C0, board.EEPROM_ADDR): its identity, its
# calibration and the mating-cycle counter of its own test boards. The one definition of the
# layout; the simulated fixture builds its factory image with the same functions.
#
# Layout (addresses in bytes; 64-byte pages; every record ends with a CRC-32 (binascii.crc32,
# as the link's frames) over the record's bytes before it; an erased part reads 0xFF):
#
#   addr    size  record
#   0x0000    64  identity, copy A   "FXID" ver:u8 len:u8 id:16s(ASCII, NUL padded) crc:u32
#   0x0040    64  identity, copy B   (same bytes; read: the first copy whose CRC holds)
#   0x0100   192  calibration, slot A  (3 pages)
#   0x0200   192  calibration, slot B
#                 "FXCL" ver:u8 flags:u8 positions:u8 anchors:u8 gen:u32 date:u32 due:u32
#                 gain_ppm:u32 bulk:82 x u16 (µΩ; contacts 1..80 then anchors 1..2) crc:u32
#                 flags bit 0: made on the SIMULATED fixture. gen counts calibrations: a new one
#                 is written to the slot that does not hold the newest valid one, so a write that
#                 dies half-way leaves the previous calibration intact.
#   0x1000  1024  mating-cycle counter ring: 64 slots x 16 bytes  seq:u32 count:u32 crc:u32 pad:4
#                 (wear levelling: each increment writes the next slot; the slot with the highest
#                 seq whose CRC holds is current; 64 slots x 1e6 write cycles of the part)
#
# States of the calibration: "none" (both slots erased), "corrupt" (something written, no slot's
# CRC holds: never used), "valid", "expired" (today > due; today comes from the host: the
# fixture has no real-time clock), "incomplete" (the run has more positions than were
# calibrated). A run refuses anything but "valid" unless the host sends allow_expired_cal=1.
#
# Dates are integers YYYYMMDD (they order like dates).
#
# Cycles: the fixture's own test boards carry 5861 connectors that the DUT mates with; the
# series is rated for 30 mating cycles (spec 8.5 durability). The fixture warns from
# CYCLES_WARN on and refuses a run at CYCLES_LIMIT unless the host sends allow_worn=1; after the
# test-board connectors are replaced, `CYCLES reset=1` starts the count again.

import binascii
import struct

ID_A = 0x0000
ID_B = 0x0040
ID_LEN = 16
CAL_A = 0x0100
CAL_B = 0x0200
CAL_BULK = 82  # 80 contact positions + 2 anchors (fixture_v1's MAX_POSITIONS)
RING = 0x1000
RING_SLOTS = 64
RING_SLOT = 16

CYCLES_WARN = 25
CYCLES_LIMIT = 30  # 5861 durability: 30 mating cycles (spec 8.5)

_ID_FMT = "<4sBB16s"
_CAL_HDR = "<4sBBBBIIII"
_CAL_FMT = _CAL_HDR + "82H"
_CAL_BODY = struct.calcsize(_CAL_FMT)  # 188
CAL_SIZE = _CAL_BODY + 4  # 192: three pages
ID_SIZE = struct.calcsize(_ID_FMT) + 4
FLAG_SIMULATED = 1

NONE = "none"
CORRUPT = "corrupt"
VALID = "valid"
EXPIRED = "expired"
INCOMPLETE = "incomplete"


def crc32(b):
    return binascii.crc32(b) & 0xFFFFFFFF


def _erased(b):
    for x in b:
        if x != 0xFF:
            return False
    return True


def date_ok(d):
    """True for a plausible YYYYMMDD integer."""
    y = d // 10000
    m = (d // 100) % 100
    dd = d % 100
    return 2000 <= y <= 2099 and 1 <= m <= 12 and 1 <= dd <= 31


def id_ok(s):
    if not s or len(s) > ID_LEN:
        return False
    for ch in s:
        o = ord(ch)
        if o <= 0x20 or o > 0x7E or ch == "=":
            return False
    return True


class Calibration:
    """One calibration: R_reported = gain * R_measured - bulk (per position, mΩ)."""

    def __init__(self, gain, bulk_uohm, positions, date, due, anchors=2, simulated=False, gen=1):
        self.gain = gain
        self.bulk_uohm = bulk_uohm  # list of CAL_BULK ints: contacts 1..80, anchors 1..2
        self.positions = positions
        self.anchors = anchors
        self.date = date
        self.due = due
        self.simulated = simulated
        self.gen = gen
        self.crc = 0
        self.slot = None

    def contact_bulk_mohm(self, pin):
        return self.bulk_uohm[pin - 1] / 1000.0 if 1 <= pin <= CAL_BULK - 2 else 0.0

    def anchor_bulk_mohm(self, anchor):
        return self.bulk_uohm[CAL_BULK - 2 + anchor - 1] / 1000.0

    def ident(self):
        return "%08x" % self.crc

    def state(self, today=None, positions=None):
        if positions is not None and positions > self.positions:
            return INCOMPLETE
        if today is not None and today > self.due:
            return EXPIRED
        return VALID

    def summary(self, today=None, positions=None):
        return {
            "state": self.state(today, positions),
            "id": self.ident(),
            "date": self.date,
            "due": self.due,
            "gain": self.gain,
            "positions": self.positions,
            "simulated": self.simulated,
            "gen": self.gen,
        }

    def encode(self):
        b = list(self.bulk_uohm) + [0] * (CAL_BULK - len(self.bulk_uohm))
        for i in range(CAL_BULK):
            v = int(b[i])
            b[i] = 0 if v < 0 else (0xFFFF if v > 0xFFFF else v)
        body = struct.pack(
            _CAL_FMT,
            b"FXCL",
            1,
            FLAG_SIMULATED if self.simulated else 0,
            self.positions,
            self.anchors,
            self.gen,
            self.date,
            self.due,
            int(self.gain * 1000000 + 0.5),
            *b
        )
        self.crc = crc32(body)
        return body + struct.pack("<I", self.crc)


def decode_cal(rec):
    """(state, Calibration or None) of one slot's bytes: NONE, CORRUPT or VALID."""
    if _erased(rec):
        return NONE, None
    body = rec[:_CAL_BODY]
    (crc,) = struct.unpack("<I", rec[_CAL_BODY:CAL_SIZE])
    if crc32(body) != crc:
        return CORRUPT, None
    v = struct.unpack(_CAL_FMT, body)
    if v[0] != b"FXCL" or v[1] != 1:
        return CORRUPT, None
    c = Calibration(v[8] / 1000000.0, list(v[9:]), v[3], v[6], v[7], v[4], bool(v[2] & FLAG_SIMULATED), v[5])
    c.crc = crc
    return VALID, c


def encode_id(s):
    body = struct.pack(_ID_FMT, b"FXID", 1, len(s), s.encode())
    return body + struct.pack("<I", crc32(body))


def decode_id(rec):
    body = rec[: ID_SIZE - 4]
    (crc,) = struct.unpack("<I", rec[ID_SIZE - 4 : ID_SIZE])
    if crc32(body) != crc:
        return None
    v = struct.unpack(_ID_FMT, body)
    if v[0] != b"FXID" or v[2] > ID_LEN:
        return None
    return v[3][: v[2]].decode()


def encode_slot(seq, count):
    body = struct.pack("<II", seq, count)
    return body + struct.pack("<I", crc32(body)) + b"\xff\xff\xff\xff"


def decode_slot(b):
    seq, count, crc = struct.unpack("<III", b[:12])
    if crc32(b[:8]) != crc:
        return None
    return seq, count


class Store:
    def __init__(self, ee):
        self.ee = ee
        self._ring = None  # (index, seq, count) of the current slot, None: not read yet
        self.note = None  # e.g. "slot B corrupt" when a valid older copy was used

    # -- identity ------------------------------------------------------------------------------

    def read_id(self):
        for a in (ID_A, ID_B):
            s = decode_id(self.ee.read(a, ID_SIZE))
            if s is not None:
                return s
        return None

    def write_id(self, s):
        if not id_ok(s):
            raise ValueError("fixture id must be 1..%d printable characters without spaces or '='" % ID_LEN)
        rec = encode_id(s)
        self.ee.write(ID_A, rec)
        self.ee.write(ID_B, rec)

    # -- calibration ---------------------------------------------------------------------------

    def read_cal(self):
        """(state, Calibration or None): NONE, CORRUPT or VALID (expiry is the caller's: it
        knows today's date). The newest slot whose CRC holds wins."""
        best = None
        states = []
        for slot, a in ((0, CAL_A), (1, CAL_B)):
            st, c = decode_cal(self.ee.read(a, CAL_SIZE))
            states.append(st)
            if c is not None:
                c.slot = slot
                if best is None or c.gen > best.gen:
                    best = c
        self.note = None
        if best is not None:
            other = states[1 - best.slot]
            if other == CORRUPT:
                self.note = "calibration slot %s is corrupt (the other slot is used)" % "AB"[1 - best.slot]
            return VALID, best
        return (CORRUPT if CORRUPT in states else NONE), None

    def write_cal(self, cal):
        """Store `cal` in the slot that does not hold the newest valid calibration."""
        _, cur = self.read_cal()
        cal.gen = (cur.gen + 1) if cur is not None else 1
        slot = 0 if cur is None else 1 - cur.slot
        rec = cal.encode()
        self.ee.write(CAL_B if slot else CAL_A, rec)
        cal.slot = slot
        return cal

    # -- mating cycles -------------------------------------------------------------------------

    def _scan(self):
        best = None
        raw = self.ee.read(RING, RING_SLOTS * RING_SLOT)
        for i in range(RING_SLOTS):
            s = decode_slot(raw[i * RING_SLOT : i * RING_SLOT + 12])
            if s is not None and (best is None or s[0] > best[1]):
                best = (i, s[0], s[1])
        self._ring = best if best is not None else (RING_SLOTS - 1, 0, 0)
        return self._ring

    def cycles(self):
        r = self._ring if self._ring is not None else self._scan()
        return r[2]

    def _write_count(self, count):
        i, seq, _ = self._ring if self._ring is not None else self._scan()
        j = (i + 1) % RING_SLOTS
        self.ee.write(RING + j * RING_SLOT, encode_slot(seq + 1, count))
        self._ring = (j, seq + 1, count)
        return count

    def bump_cycles(self):
        return self._write_count(self.cycles() + 1)

    def reset_cycles(self):
        return self._write_count(0)


def cycles_summary(count):
    return {
        "count": count,
        "warn_at": CYCLES_WARN,
        "limit": CYCLES_LIMIT,
        "state": "worn" if count >= CYCLES_LIMIT else ("warn" if count >= CYCLES_WARN else "ok"),
    }
