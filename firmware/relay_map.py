# The one rule that maps connector positions to relays of the matrix. The firmware drives relays
# through it, hardware/ generates its tables from it and the tests check them.
#
# The matrix has four buses: HI_F (I+), HI_S (V+), LO_F (I-), LO_S (V-). A *node* is one
# Kelvin terminal pair (a force lead and a sense lead that meet at one pad of a test board).
# Every node has four relays, one to each bus, so any node can be the HI or the LO end of a
# 4-wire measurement:
#
#   nodes 0 .. M-1        plug board, positions 1..M          (M = board.MAX_POSITIONS)
#   nodes M, M+1          plug board, anchor plates 1, 2
#   nodes M+2 .. 2M+1     receptacle board, positions 1..M
#   nodes 2M+2, 2M+3      receptacle board, anchor plates 1, 2
#   nodes 2M+4 ..         reference resistors, two nodes each (end A, end B)
#
#   relay bit = node * 4 + bus        (bit 0 is the first output of the chain's last register)

HI_F = 0
HI_S = 1
LO_F = 2
LO_S = 3
BUS_NAMES = ("HI_F", "HI_S", "LO_F", "LO_S")

PLUG = 0
RECEPTACLE = 1
SIDE_NAMES = ("plug", "receptacle")


def nodes_per_side(max_positions):
    return max_positions + 2


def contact_node(max_positions, side, pin):
    return side * nodes_per_side(max_positions) + pin - 1


def anchor_node(max_positions, side, anchor):
    return side * nodes_per_side(max_positions) + max_positions + anchor - 1


def ref_node(max_positions, ref, end):
    return 2 * nodes_per_side(max_positions) + 2 * ref + end


def node_count(max_positions, refs):
    return 2 * nodes_per_side(max_positions) + 2 * refs


def relay_bit(node, bus):
    return node * 4 + bus


def relay_count(max_positions, refs):
    return node_count(max_positions, refs) * 4


def register_count(max_positions, refs):
    """8-output TPIC6C595 shift registers in the chain."""
    return (relay_count(max_positions, refs) + 7) // 8


def kelvin(hi_node, lo_node):
    """The four relay bits that put hi_node on the HI buses and lo_node on the LO buses."""
    return (
        relay_bit(hi_node, HI_F),
        relay_bit(hi_node, HI_S),
        relay_bit(lo_node, LO_F),
        relay_bit(lo_node, LO_S),
    )


def describe_bit(max_positions, bit):
    """(kind, side or ref index, number, bus name) for a relay bit, for docs and errors."""
    node, bus = divmod(bit, 4)
    per = nodes_per_side(max_positions)
    if node < 2 * per:
        side, k = divmod(node, per)
        if k < max_positions:
            return ("contact", SIDE_NAMES[side], k + 1, BUS_NAMES[bus])
        return ("anchor", SIDE_NAMES[side], k - max_positions + 1, BUS_NAMES[bus])
    ref, end = divmod(node - 2 * per, 2)
    return ("ref", ref, "AB"[end], BUS_NAMES[bus])
