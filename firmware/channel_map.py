# The one rule that assigns the connector's contacts and its two anchor plates to the event
# monitor channels (one comparator GPIO each, sampled together by PIO). Runs on MicroPython and
# CPython; hardware/ generates its tables from it, the PIO detector names events with it.
#
# Rule:
#   - channel `ref_channel` carries the reference interrupter only, never a DUT member;
#   - the members are grouped by what is physically neighbouring: row 1 (pins 1..N/2), row 2
#     (pins N/2+1..N), anchor plate A1, anchor plate A2 (the anchors sit at the two ends and are
#     not neighbours of each other); a chain never crosses from one group to another while there
#     are enough channels for that;
#   - the DUT channels go to the groups so that the longest chain is as short as possible
#     (greedy: each further channel goes to the group whose longest chain is longest, ties to the
#     larger group, then the earlier one);
#   - inside a group the members are cut into contiguous daisy chains whose lengths differ by at
#     most one (longer chains first);
#   - channels are numbered upwards from 0 skipping `ref_channel`, in the order row 1, row 2,
#     A1, A2. Channels left over (small position counts) are unused and not listed.
# With fewer than 4 DUT channels the anchors join the rows (A1 before pin 1, A2 after pin N);
# with one, everything is one chain.

ANCHOR_NAMES = ("A1", "A2")


def _groups(positions, n_dut):
    half = positions // 2
    row1 = list(range(1, half + 1))
    row2 = list(range(half + 1, positions + 1))
    if n_dut >= 4:
        return [row1, row2, ["A1"], ["A2"]]
    if n_dut >= 2:
        return [["A1"] + row1, row2 + ["A2"]]
    return [["A1"] + row1 + row2 + ["A2"]]


def _longest(size, chans):
    return (size + chans - 1) // chans


def channels(positions, n_channels=24, ref_channel=23):
    """[(channel, (member, ...)), ...] in channel order; members are pin numbers (int) or
    "A1"/"A2"."""
    if positions < 2 or positions % 2:
        raise ValueError("positions must be even and at least 2")
    if ref_channel is not None and not 0 <= ref_channel < n_channels:
        raise ValueError("ref_channel outside the channels")
    free = [c for c in range(n_channels) if c != ref_channel]
    n_dut = len(free)
    if n_dut < 1:
        raise ValueError("no channel left for the connector")
    groups = _groups(positions, n_dut)
    alloc = [1] * len(groups)
    spare = n_dut - len(groups)
    while spare > 0:
        best = -1
        key = None
        for i in range(len(groups)):
            size = len(groups[i])
            if alloc[i] >= size:
                continue  # every member already alone
            k = (_longest(size, alloc[i]), size, -i)
            if key is None or k > key:
                key = k
                best = i
        if best < 0:
            break
        alloc[best] += 1
        spare -= 1
    out = []
    ci = 0
    for i in range(len(groups)):
        members = groups[i]
        n = alloc[i]
        base, extra = divmod(len(members), n)
        start = 0
        for j in range(n):
            length = base + (1 if j < extra else 0)
            out.append((free[ci], tuple(members[start:start + length])))
            ci += 1
            start += length
    return out


def channel_of(positions, member, n_channels=24, ref_channel=23):
    """The channel that carries `member` (pin number or "A1"/"A2"); ValueError if none."""
    for ch, members in channels(positions, n_channels, ref_channel):
        if member in members:
            return ch
    raise ValueError("no channel carries %r" % (member,))


def members_of(positions, channel, n_channels=24, ref_channel=23):
    """The members on `channel` (empty tuple for the reference or an unused channel)."""
    for ch, members in channels(positions, n_channels, ref_channel):
        if ch == channel:
            return members
    return ()


def name(members):
    """Short label of a chain, e.g. "1-4", "A1", "17"."""
    if len(members) == 1:
        return str(members[0])
    return "%s-%s" % (members[0], members[-1])
