# What the Kyocera 5861 series spec (Spec. No. 201-03-1217) asks of the fixture: its limits,
# current ratings and test conditions. The one home of these numbers; the host imports this file
# as `tester_firmware.spec5861`. Runs on MicroPython and CPython.

SERIES = "Kyocera 5861"
SPEC_NO = "201-03-1217"

# Positions: "10P~", two rows, so even counts from 10. The upper end is the fixture's (its relay
# matrix size, in the board file), not the series'.
POSITIONS_MIN = 10

# Low-level contact resistance (spec 9.3), four-probe method, IEC 60512-2-1 style.
STAGES = ("initial", "after")
CONTACT_LIMIT_MOHM = 70.0  # contact, both stages
ANCHOR_LIMIT_MOHM = {"initial": 20.0, "after": 30.0}  # anchor plate: before / after mech. tests
ANCHORS = 2  # variation 4: two electrically conducting anchor plates
OPEN_CIRCUIT_MV_MAX = 20.0  # dry circuit: source compliance clamp
LLCR_CURRENT_MA_MAX = 100  # method limit for low-level contact resistance
LLCR_CURRENT_MA_DEFAULT = 100
METHOD = "4-wire, current reversal, dry circuit (IEC 60512-2-1 style)"

# Current rating (spec 7.1): the fixture never drives more than this through one contact.
ANCHOR_RATING_MA = 5000


def contact_rating_ma(positions):
    return 500 if positions <= 40 else 300


def positions_error(positions, fixture_max):
    """None if the 5861 series makes `positions` and this fixture can hold it, else why not."""
    if positions < POSITIONS_MIN:
        return "the 5861 series starts at %d positions" % POSITIONS_MIN
    if positions % 2:
        return "the 5861 series has two rows: positions are even"
    if positions > fixture_max:
        return "this fixture's relay matrix holds at most %d positions" % fixture_max
    return None


def current_limit_ma(positions, anchor=False):
    """Highest 4-wire test current allowed: the method limit and the connector's rating."""
    rating = ANCHOR_RATING_MA if anchor else contact_rating_ma(positions)
    return min(rating, LLCR_CURRENT_MA_MAX)


def rows(positions):
    """Pin numbers of the two rows: 1..N/2 and N/2+1..N (neighbours are consecutive in a row)."""
    half = positions // 2
    return (range(1, half + 1), range(half + 1, positions + 1))


def neighbour_pairs(positions):
    pairs = []
    for row in rows(positions):
        for p in row[:-1]:
            pairs.append((p, p + 1))
    return pairs


# Opens and shorts: run at the same dry-circuit clamp, on the low current range, so a bridge up
# to SHORT_DETECT_OHM_MAX is seen and nothing frits a film before the resistance is measured.
SHORT_TEST_CURRENT_MA = 1
SHORT_LIMIT_OHM = 10.0  # below this between neighbours: a short

# Discontinuity (spec 8.6 vibration, 8.7 shock): event definition written into every record.
EVENT_THRESHOLD_OHM = 10.0  # ASTM B878 common choice at 100 mA
EVENT_CURRENT_MA = 100
EVENT_MIN_US = 1.0  # an event this long or longer is a failure
EVENT_MIN_NS = int(EVENT_MIN_US * 1000)  # the same in the detector's unit
