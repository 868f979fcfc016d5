"""Seeded input generator for the fault campaign: batches of host -> fixture chunks.

A chunk is (delay_us, bytes, action): what the host writes at once. One chunk is one input. The
mix: valid commands (cheap ones often, runs and monitor windows rarely), mutated commands, random
printable and binary lines, over-long lines, control bytes (0x03 alone, 0x03 0x01 = mpremote's
REPL request, NUL, CR/LF mixes), floods (hundreds of lines in one write, or a few KB with no
newline), and, inside a batch that started a run or a monitor window, commands that arrive
mid-run (delays in fixture time), the lid opening, and a host that stops reading for a while.
Argument ranges come from protocol.COMMANDS; nothing about the protocol is restated here.
"""

import random

from tester.firmware import protocol

POSITIONS = 10  # the campaign's scenario (scenario() below)
HEAVY = ("RUN", "MONITOR", "SELFCHECK", "MEASURE", "CAL")
CHEAP = [v for v in protocol.COMMANDS if v not in HEAVY and v != "REPL"]
CTRL = (b"\x00", b"\x01", b"\x03", b"\x04", b"\x08", b"\x1b", b"\x7f", b"\x1c", b"\x0b", b"\x0c", b"\t")


def scenario():
    """A clean 10-position pair with an intermittent contact that fails (1.5 us) now and then
    while monitoring: monitor windows have events to lose or double."""
    return {
        "positions": POSITIONS, "contact_mohm": 30.0, "anchor_mohm": 8.0, "spread_mohm": 0.0, "seed": 7,
        "pins": {}, "anchors": {}, "shorts": [], "fixture": {},
        "intermittent": [{"pin": 3, "rate_hz": 40.0, "duration_us": 1.5}],
    }


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.next_id = 1

    def _id(self):
        i = self.next_id
        self.next_id += 1
        return i

    def _value(self, key, spec):
        r = self.r
        kind, _, lo, hi = spec
        if key == "pins":
            return POSITIONS if r.random() < 0.8 else r.choice((0, 1, 9, 11, 12, 200, 201, -4))
        if key == "seconds":  # a valid long window is no fault, only slow: 1-2 s, or out of range
            return r.choice((1, 1, 2, lo - 1, hi + 1))
        if kind == protocol.INT:
            if r.random() < 0.8:
                return r.randint(lo, hi)
            return r.choice((lo - 1, hi + 1, 0, -1, 10**9, "x", "1.5", "0x10", ""))
        if lo is not None:
            return r.choice(lo) if r.random() < 0.85 else r.choice(("", "x", "initial2", "Z9"))
        n = r.randint(1, (hi or 8) + 3)
        return "".join(r.choice("ABCXYZ0189-_.") for _ in range(n))

    def command(self, verb=None):
        """One command line (bytes, '\\n' ended), mostly valid."""
        r = self.r
        verb = verb or r.choice(CHEAP)
        spec = protocol.COMMANDS.get(verb, {})
        args = {}
        for k, s in spec.items():
            if s[1] or r.random() < 0.3:
                args[k] = self._value(k, s)
        if verb == "IDENT" and "id" in args and r.random() < 0.9:
            del args["id"]  # writing the id is fine, but not on every other line
        if verb == "CYCLES" and r.random() < 0.7:
            args.pop("reset", None)
        if r.random() < 0.05:
            args[r.choice(("bogus", "pins", "x"))] = r.randint(0, 99)
        parts = [str(self._id()), verb] + ["%s=%s" % kv for kv in args.items()]
        return (" ".join(parts) + "\n").encode()

    def heavy(self):
        """A command that runs for a while: what follows it in the batch arrives mid-run."""
        r = self.r
        i = self._id()
        v = r.choice(("RUN", "RUN", "MONITOR", "MONITOR", "SELFCHECK", "MEASURE", "CAL"))
        if v == "RUN":
            extra = " allow_expired_cal=1" if r.random() < 0.9 else ""
            extra += " allow_worn=1" if r.random() < 0.9 else ""
            extra += r.choice(("", " stage=after", " current_ma=50", " serial=SN-%d" % i))
            line = "%d RUN pins=%d%s" % (i, POSITIONS, extra)
        elif v == "MONITOR":
            line = "%d MONITOR pins=%d seconds=%d%s" % (i, POSITIONS, r.choice((1, 1, 2)), r.choice(("", " axis=X", " label=L%d" % i)))
        elif v == "SELFCHECK":
            line = "%d SELFCHECK pins=%d" % (i, POSITIONS)
        elif v == "MEASURE":
            line = "%d MEASURE pins=%d %s" % (i, POSITIONS, r.choice(("pin=%d" % r.randint(1, POSITIONS), "anchor=1", "anchor=2 stage=after")))
        else:
            line = "%d CAL step=%s" % (i, r.choice(("gain", "zero pins=%d" % POSITIONS, "store date=20260101 due=20270101")))
        return (line + "\n").encode()

    def mutate(self, b):
        r = self.r
        b = bytearray(b)
        for _ in range(r.randint(1, 3)):
            op = r.randrange(6)
            i = r.randrange(len(b) + 1)
            if op == 0 and b:
                b[min(i, len(b) - 1)] ^= 1 << r.randrange(8)
            elif op == 1:
                b[i:i] = bytes([r.randrange(256)])
            elif op == 2 and b:
                del b[i : i + r.randint(1, 4)]
            elif op == 3:
                b[i:i] = r.choice(CTRL)
            elif op == 4:
                j = r.randrange(len(b) + 1)
                b[i:i] = b[min(i, j) : max(i, j)][:40]
            else:
                b[i:i] = r.choice((b" ", b"=", b"==", b"  ", b"\xc3\xa9", b"\xff", b"\r", b"\n", b"-", b"9" * 12))
        return bytes(b)

    def noise(self):
        r = self.r
        k = r.randrange(100)
        if k < 30:
            n = r.randint(0, 60)
            return bytes(r.randrange(0x20, 0x7F) for _ in range(n)) + b"\n"
        if k < 55:
            n = r.randint(1, 60)
            return bytes(r.randrange(256) for _ in range(n)) + r.choice((b"\n", b"\r", b"\r\n", b""))
        if k < 70:  # over-long, sometimes a good command right after it
            n = r.randint(protocol.MAX_LINE - 3, 1200)
            body = bytes(r.randrange(0x20, 0x7F) for _ in range(n))
            return body + b"\n" + (self.command(r.choice(("HELLO", "STATUS"))) if r.random() < 0.5 else b"")
        if k < 85:  # control sequences around good lines
            c = self.command(r.choice(("HELLO", "STATUS", "SAFE")))
            return r.choice(
                (
                    b"\x03" + c,
                    c[:-1] + b"\x03\n",
                    c[: len(c) // 2] + b"\x03" + c,
                    b"\x03\r\n\x01",  # mpremote's interrupt + raw REPL: the app gives the port up
                    b"\x03\x03\x01" + c,
                    b"\x00" * r.randint(1, 20) + b"\n",
                    b"\r" * r.randint(1, 20),
                    c.replace(b"\n", b"\r"),
                    c.replace(b"\n", b"\r\n"),
                    b"\x01\x02\x03\x04\x05\n",
                )
            )
        return self.mutate(self.command())

    def flood(self):
        r = self.r
        if r.random() < 0.3:
            return bytes(r.randrange(0x21, 0x7F) for _ in range(r.randint(1000, 5000)))  # no newline at all
        out = b""
        for _ in range(r.randint(20, 200)):
            c = self.command(r.choice(("STATUS", "HELLO", "MSTATUS", "EVENTS"))) if r.random() < 0.7 else self.noise()
            if len(out) + len(c) > 12000:  # the driver's input buffer is 16 KB
                break
            out += c
        return out

    def chunk(self):
        r = self.r
        k = r.randrange(100)
        if k < 35:
            return self.command()
        if k < 60:
            return self.mutate(self.command(r.choice(list(protocol.COMMANDS))))
        if k < 95:
            return self.noise()
        return self.flood()

    def batch(self, heavy_p=0.06):
        """One batch: a list of [delay_us, bytes, action]."""
        r = self.r
        out = []
        n = r.randint(5, 25)
        busy = False
        for _ in range(n):
            if not busy and r.random() < heavy_p:
                out.append([0, self.heavy(), None])
                busy = True
                continue
            delay = r.choice((0, 0, 1000, 20000, 150000, 400000)) if busy else 0
            action = None
            if busy:
                a = r.randrange(100)
                if a < 4:
                    action = "lid0"
                elif a < 7:
                    action = "stall"
                elif a < 10:
                    action = "unstall"
                elif a < 13:
                    out.append([delay, self.command(r.choice(("ABORT", "MSTOP"))), None])
                    continue
            out.append([delay, self.chunk(), action])
        return out
