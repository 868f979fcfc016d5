# The detector's native merge (_merge, @micropython.viper) and the layout of the state it works on.
# EventDetector (drivers/event_detector.py) keeps its merge state in `st` permanently, so a drain
# is: a few stores, ONE _merge call. EventDetector._step (Python) is the reference and takes the
# rare steps _merge hands back (tests/test_event_merge.py holds the two equal).
#
# A top-level module, NOT in drivers/ and NOT frozen (boards/fixture_v1/manifest.py leaves it
# out): frozen viper code ran away on its first call on MicroPython v1.28.0 (issue 9), the same
# code from a .py or an .mpy on the filesystem ran right. The device loads /event_merge.mpy
# (mpy-cross -march=armv6m); a drivers/ folder on the filesystem would hide the frozen package.
#
# Every value in `st` stays below 2**30 and every product below 2**31, so the same code is right on
# the RP2040 (32-bit words) and on the 64-bit unix port; the one 32-bit quantity, the counter
# difference, is masked with S_M32 (0xFFFFFFFF: all ones on the device). Times are system clock
# cycles relative to the detector's time base. Viper keeps most locals on the stack: the six
# candidates of the next step sit at constant indices (one load each) and set bits are found
# with a de Bruijn multiply, not a bit loop.

import micropython
from micropython import const

# The rp2 stubs' idiom: mypy sees viper's names; on the device the import fails -> False.
try:
    from typing_extensions import TYPE_CHECKING  # type: ignore
except ImportError:
    TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    ptr32 = Any  # viper's 32-bit pointer into any buffer and its machine-word cast: names of the
    uint = int  # viper emitter, not in the stubs

S_HT = const(0)  # S_HT + k: time of SM k's next record (NONE: none or not known yet)
S_CT = const(3)  # S_CT + k: time of SM k's pending check (NONE: none)
S_MERGED = const(6)  # merged channel word
S_CUT = const(7)  # last time to merge
S_CHMASK = const(8)
S_WMASK = const(9)  # ring words - 1
S_M32 = const(10)  # 0xFFFFFFFF
S_LASTT = const(11)  # time of the last record merged
S_RW = const(12)  # ring words (ring k starts at word k * S_RW)
S_LOGMIN = const(13)  # events at least this long (ns) go into the event log
S_EVN = const(14)  # events in the log
S_EVMAX = const(15)
S_DROP = const(16)  # events that did not fit in the log
S_MINNS = const(17)  # failure threshold (ns)
S_OFAIL = const(18)  # offsets in `acc` of failures, longest, hist, ev_ch, ev_len, ev_t_rel
S_OLONG = const(19)
S_OHIST = const(20)
S_OEVCH = const(21)
S_OEVLEN = const(22)
S_OEVT = const(23)
SMB = const(24)  # per SM: SMW words from SMB + SMW * k
SMW = const(8)
SM_READ = const(0)  # words of its ring read since start (absolute, < 2**30)
SM_END = const(1)  # where its unread words end (absolute; the drain sets it)
SM_LOOPS = const(2)  # loop of its last record
SM_COUNT = const(3)  # counter of its last record
SM_WORD = const(4)  # its last word (NONE: unknown: a new reference follows)
SM_HEAD = const(5)  # loop of its next record (NONE: as S_HT)
SM_CHKL = const(6)  # loop of its pending check
SM_CHKB = const(7)  # channels of the check (0: none)
S_START = const(48)  # per channel (24): time its open event started (NONE, OLD, UNK)
S_EDGES = const(72)  # the histogram's first N_BINS - 1 edges (ns)
S_WHY = const(77)  # after _merge: 0 everything up to the cut merged, 1 a step for Python
S_DEBRUIJN = const(80)  # 32 entries: bit index of ((x & -x) * DEBRUIJN) >> 27
S_W = const(112)  # S_W + k: words SM k's DMA has written since start (the drain sets them)
ST_WORDS = const(115)
DEBRUIJN = const(0x077CB531)
NONE = const(0x3FFFFFFF)  # above every time: an empty candidate never comes first
OLD = const(0x3FFFFFFE)  # started before the time base
UNK = const(0x3FFFFFFD)  # started in lost data: its end is counted, its length not measured
REL_LIMIT = const(1 << 29)  # relative times stay below this (4.3 s)
REL_LOOPS = const(1 << 26)  # relative loops and counter gaps stay below this
LONG_CYCLES = const(1 << 27)  # an event this long (1.07 s) is timed in Python (ns > 2**30)


@micropython.viper
def _merge(st: ptr32, ring: ptr32, acc: ptr32) -> int:
    merged = int(st[S_MERGED])
    cut = int(st[S_CUT])
    chmask = int(st[S_CHMASK])
    wmask = int(st[S_WMASK])
    m32 = int(st[S_M32])
    rw = int(st[S_RW])
    st[S_WHY] = 0
    # Where each ring's unread whole records end (from the DMA counts); a DMA that lapped its
    # reader: -1, nothing merged (Python skips and counts). Heads not known yet (the ring was
    # empty at the last step): from the counter of the next record; a gap 32 bits cannot hold:
    # Python (cut = -1 ends the loop before a step).
    busy = 0
    k = 0
    while k < 3:
        sm = ptr32(uint(st) + ((SMB + SMW * k) << 2))
        rd = int(sm[SM_READ])
        p = int(st[S_W + k]) - rd
        if p > rw:
            return -1
        end = rd + p - (p & 1)
        sm[SM_END] = end
        if int(st[S_CT + k]) != NONE:
            busy = 1
        if rd != end:
            busy = 1
            if int(st[S_HT + k]) == NONE:
                rk = ptr32(uint(ring) + ((rw * k) << 2))
                d = (int(sm[SM_COUNT]) - int(rk[(rd + 1) & wmask])) & m32
                if d > 0 and d < REL_LOOPS:
                    h = int(sm[SM_LOOPS]) + d
                    sm[SM_HEAD] = h
                    st[S_HT + k] = 4 + 2 * k + 5 * h
                else:
                    st[S_WHY] = 1
                    cut = -1
        k += 1
    if not busy:
        return 0  # nothing new (the usual case between events)
    n = 0
    while True:
        # The earliest record or check, in EventDetector._step's order (strictly earlier wins);
        # unrolled on purpose: a constant index is one load, a loop over j computes every index.
        t = NONE
        k = 0
        rec = 0
        x = int(st[S_HT])
        if x < t:
            t = x
            rec = 1
        x = int(st[S_CT])
        if x < t:
            t = x
            rec = 0
        x = int(st[S_HT + 1])
        if x < t:
            t = x
            k = 1
            rec = 1
        x = int(st[S_CT + 1])
        if x < t:
            t = x
            k = 1
            rec = 0
        x = int(st[S_HT + 2])
        if x < t:
            t = x
            k = 2
            rec = 1
        x = int(st[S_CT + 2])
        if x < t:
            t = x
            k = 2
            rec = 0
        if t > cut:
            break  # (NONE: nothing left)
        # SM k's words and ring (constant offsets from a pointer: cheaper than st[b + i] in viper)
        sm = ptr32(uint(st) + ((SMB + SMW * k) << 2))
        rk = ptr32(uint(ring) + ((int(st[S_RW]) * k) << 2))
        rd = 0
        if rec:
            rd = int(sm[SM_READ])
            word = int(rk[rd & wmask]) & chmask
            prev = int(sm[SM_WORD])
            if prev == NONE:
                st[S_WHY] = 1
                break  # a new reference after a loss: Python
            eff = word ^ prev
            m = int(sm[SM_HEAD])
            if int(st[S_CT + k]) == t:  # its check on this same sample: taken with the record
                eff |= int(sm[SM_CHKB])
                rec = 2
            eff &= word ^ merged
        else:
            word = int(sm[SM_WORD])
            if word == NONE:
                sm[SM_CHKB] = 0
                st[S_CT + k] = NONE
                continue
            eff = int(sm[SM_CHKB]) & (word ^ merged)
            m = int(sm[SM_CHKL])
        # An event this step ends must be one 32 bits can time; else Python takes the step.
        e = eff & word
        ok = 1
        while e:
            low = e & (0 - e)
            e ^= low
            c = int(st[S_DEBRUIJN + ((((low * DEBRUIJN) & m32) >> 27) & 31)])
            s = int(st[S_START + c])
            if s != NONE and (s >= UNK or t - s >= LONG_CYCLES):
                ok = 0
        if not ok:
            st[S_WHY] = 1
            break
        if rec:
            cnt = int(rk[((rd + 1) & wmask)])
            rd += 2
            sm[SM_READ] = rd
            sm[SM_LOOPS] = m
            sm[SM_COUNT] = cnt
            sm[SM_WORD] = word
            h = NONE
            ht = NONE
            if rd != int(sm[SM_END]):
                d = (cnt - int(rk[((rd + 1) & wmask)])) & m32
                if d > 0 and d < REL_LOOPS:
                    h = m + d
                    ht = t + 5 * d
                else:  # 0 (2**32 loops) or too far: Python, after this step
                    st[S_WHY] = 1
                    cut = -1
            sm[SM_HEAD] = h
            st[S_HT + k] = ht
            st[S_LASTT] = t
            n += 1
        if rec != 1:
            sm[SM_CHKB] = 0
            st[S_CT + k] = NONE
        if not eff:
            continue
        merged ^= eff
        # Edges: starts and ends of events.
        e = eff
        while e:
            low = e & (0 - e)
            e ^= low
            c = int(st[S_DEBRUIJN + ((((low * DEBRUIJN) & m32) >> 27) & 31)])
            if word & low:
                s = int(st[S_START + c])
                if s != NONE:
                    st[S_START + c] = NONE
                    ln = (t - s) * 8
                    if ln >= int(st[S_MINNS]):
                        a = int(st[S_OFAIL]) + c
                        acc[a] = int(acc[a]) + 1
                    else:
                        acc[c] = int(acc[c]) + 1
                        bb = 0
                        while bb < 5 and ln >= int(st[S_EDGES + bb]):
                            bb += 1
                        a = int(st[S_OHIST]) + 6 * c + bb
                        acc[a] = int(acc[a]) + 1
                    a = int(st[S_OLONG]) + c
                    lg = int(acc[a])
                    if (lg >> 30) == 0 and lg < ln:  # >= 2**30 (set in Python): longer
                        acc[a] = ln
                    if ln >= int(st[S_LOGMIN]):
                        i = int(st[S_EVN])
                        if i < int(st[S_EVMAX]):
                            acc[int(st[S_OEVCH]) + i] = c
                            acc[int(st[S_OEVLEN]) + i] = ln
                            acc[int(st[S_OEVT]) + i] = s
                            st[S_EVN] = i + 1
                        else:
                            st[S_DROP] = int(st[S_DROP]) + 1
            else:
                st[S_START + c] = t
        # SMs that still disagree on these channels: their next sample decides again.
        j = 0
        while j < 3:
            smj = ptr32(uint(st) + ((SMB + SMW * j) << 2))
            w = int(smj[SM_WORD])
            if w != NONE:
                dis = (w ^ merged) & eff
                if dis:
                    cb = int(smj[SM_CHKB])
                    if not cb:
                        # Its first sample after t (t is a sample of SM k, loop m): the one after
                        # its own record takes two loops.
                        nl = m
                        if k >= j:
                            nl += 1
                        if nl == int(smj[SM_LOOPS]) + 1:
                            nl += 1
                        smj[SM_CHKL] = nl
                        st[S_CT + j] = 4 + 2 * j + 5 * nl
                    smj[SM_CHKB] = cb | dis
            j += 1
    st[S_MERGED] = merged
    return n
