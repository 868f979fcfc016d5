"""The fixture EEPROM: the 24LC256 driver against the part's model (page writes, page wrap, ACK
polling through the write cycle, a part that stays busy, persistence across a restart), and the
layout of fixture_store (identity, calibration slots, wear-levelled cycle counter): corrupt data
is detected and never used."""

import json

from tester_firmware import fixture_store as fs_host

PRELUDE = """
import json, simhw, simclock, board
import machine
from drivers.eeprom import EEPROM, EEPROMError
import fixture_store as fs
w = simhw.world()
model = w.eeprom
i2c = machine.I2C(board.I2C_ID, scl=machine.Pin(board.I2C_SCL), sda=machine.Pin(board.I2C_SDA))
ee = EEPROM(i2c, board.EEPROM_ADDR)
def out(**kw):
    print("RESULT " + json.dumps(kw))
"""

NO_CAL = {"positions": 40, "fixture": {"cal": "none"}}


def result(r):
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise AssertionError("no RESULT in output:\n" + r.stdout + r.stderr)


def test_page_writes_wrap_and_ack_polling(mpy):
    d = result(mpy(PRELUDE + """
data = bytes(range(200))
t0 = simclock.now_us()
ee.write(0x0030, data)            # 0x30..0xF7: crosses three page boundaries
t_write = simclock.now_us() - t0
back = ee.read(0x0030, 200)
writes = model.writes
naks = model.naks
# the part itself: a raw write that runs past the page end wraps to the page start
i2c.writeto(board.EEPROM_ADDR, bytes([0x01, 0x3C]) + b"ABCDEFGH")   # page 0x0100..0x013F, 8 bytes from 0x13C
ee.wait_ready()
wrapped = ee.read(0x0100, 4)
tail = ee.read(0x013C, 4)
after = ee.read(0x0140, 4)
out(ok=back == data, writes=writes, naks=naks, polls=ee.polls, t_write=t_write,
    wrapped=wrapped.decode(), tail=tail.decode(), after=list(after))
""", scenario=NO_CAL))
    assert d["ok"]
    assert d["writes"] == 4  # 0x30-0x3F, 0x40-0x7F, 0x80-0xBF, 0xC0-0xF7: split at each page boundary
    assert d["naks"] > 0 and d["polls"] > 0  # the write cycle was waited out by ACK polling
    assert 4 * 3500 <= d["t_write"] < 4 * 3500 + 20000  # not blind 5 ms sleeps, not zero
    assert d["wrapped"] == "EFGH" and d["tail"] == "ABCD" and d["after"] == [255] * 4


def test_part_that_stays_busy_times_out(mpy):
    d = result(mpy(PRELUDE + """
model.write_us = 50000   # longer than the driver's timeout
try:
    ee.write(0x0200, b"xyz", verify=False)
    err = None
except EEPROMError as e:
    err = str(e)
out(err=err)
""", scenario=NO_CAL))
    assert d["err"] and "still busy" in d["err"]


def test_contents_survive_a_restart(mpy):
    mpy(PRELUDE + """
st = fs.Store(ee)
st.write_id("FX-0042")
out(ok=1)
""", scenario=NO_CAL)
    d = result(mpy(PRELUDE + """
out(id=fs.Store(ee).read_id(), loaded=model.loaded)
""", scenario=NO_CAL))
    assert d == {"id": "FX-0042", "loaded": True}


def test_calibration_slots_and_corruption(mpy):
    d = result(mpy(PRELUDE + """
st = fs.Store(ee)
res = {"blank": st.read_cal()[0]}
c1 = fs.Calibration(1.001, [500] * 82, 80, 20260101, 20260401)
st.write_cal(c1)
s, c = st.read_cal()
res["first"] = [s, c.gen, c.slot, c.gain, c.contact_bulk_mohm(3)]
model.corrupt(fs.CAL_A + 50)               # the only copy: corrupt, never used
res["corrupt_only"] = list(st.read_cal()[0:1]) + [st.read_cal()[1] is None]
c1b = fs.Calibration(1.001, [500] * 82, 80, 20260101, 20260401)
st.write_cal(c1b)                            # slot A was not valid: written to A again
c2 = fs.Calibration(0.999, [700] * 82, 80, 20260201, 20260501)
st.write_cal(c2)                             # the newest valid is in A: goes to B
s, c = st.read_cal()
res["second"] = [s, c.gen, c.slot, c.date]
model.corrupt(fs.CAL_B + 100)               # newest corrupt: the previous one is used, and said
s, c = st.read_cal()
res["fallback"] = [s, c.gen, c.date, st.note]
model.corrupt(fs.CAL_A + 7)
res["both"] = st.read_cal()[0]
out(**res)
""", scenario=NO_CAL))
    assert d["blank"] == "none"
    assert d["first"] == ["valid", 1, 0, 1.001, 0.5]
    assert d["corrupt_only"] == ["corrupt", True]
    assert d["second"] == ["valid", 2, 1, 20260201]
    assert d["fallback"][:3] == ["valid", 1, 20260101] and "slot B is corrupt" in d["fallback"][3]
    assert d["both"] == "corrupt"


def test_cycle_counter_wear_levelling_and_crc(mpy):
    d = result(mpy(PRELUDE + """
st = fs.Store(ee)
n0 = st.cycles()
for _ in range(70):
    st.bump_cycles()
idx = st._ring[0]
st2 = fs.Store(ee)                     # a reboot: the ring is scanned again
n = st2.cycles()
model.corrupt(fs.RING + idx * fs.RING_SLOT + 4)   # the newest slot's count byte
n_bad = fs.Store(ee).cycles()
st2.reset_cycles()
out(n0=n0, n=n, idx=idx, n_bad=n_bad, after_reset=fs.Store(ee).cycles(), summary=fs.cycles_summary(26))
""", scenario=NO_CAL))
    assert d["n0"] == 0 and d["n"] == 70
    assert d["idx"] == 5  # 70 writes over 64 slots: the 70th landed in slot 5 (the ring wrapped)
    assert d["n_bad"] == 69  # the corrupt slot is skipped, never used
    assert d["after_reset"] == 0
    assert d["summary"]["state"] == "warn" and d["summary"]["limit"] == 30


def test_layout_fits_and_does_not_overlap():
    regions = [
        (fs_host.ID_A, fs_host.ID_SIZE),
        (fs_host.ID_B, fs_host.ID_SIZE),
        (fs_host.CAL_A, fs_host.CAL_SIZE),
        (fs_host.CAL_B, fs_host.CAL_SIZE),
        (fs_host.RING, fs_host.RING_SLOTS * fs_host.RING_SLOT),
    ]
    regions.sort()
    for (a, n), (b, _) in zip(regions, regions[1:]):
        assert a + n <= b
    assert regions[-1][0] + regions[-1][1] <= 32768
    assert fs_host.CAL_SIZE == 192 and fs_host.CAL_A % 64 == 0 and fs_host.CAL_B % 64 == 0
    assert 64 % fs_host.RING_SLOT == 0  # a slot never straddles a page
    c = fs_host.Calibration(1.0, list(range(82)), 80, 20260101, 20260201)
    rec = bytearray(c.encode())
    assert fs_host.decode_cal(bytes(rec))[0] == "valid"
    rec[10] ^= 1
    assert fs_host.decode_cal(bytes(rec)) == ("corrupt", None)
    assert fs_host.decode_cal(b"\xff" * 192) == ("none", None)
