"""A FAKE fixture for tests of the host only: speaks the protocol's frames on stdin/stdout.

Never used outside tests/ (the host has no fallback to it). Behaviour from env FAKE_FIXTURE
(JSON): protocol (int), simulated (bool), max_positions, contacts {pin: r_mohm}, open [pins],
probe [pins], shorts [[side, a, b, ohm]], anchors {n: r_mohm}, selfcheck_fail (bool),
garble_frame (index of a frame to corrupt), skip_seq (index of a frame whose seq is skipped),
stop_after (frames, then silence), delay_s (per contact), wrong_done (say PASS whatever).
"""

import json
import os
import select
import sys
import time

from tester_firmware import protocol, spec5861

CFG = json.loads(os.environ.get("FAKE_FIXTURE", "{}"))
OUT = sys.stdout.buffer
seq = 0
count = 0


def send(kind, payload):
    global seq, count
    count += 1
    if CFG.get("stop_after") is not None and count > CFG["stop_after"]:
        return
    if CFG.get("skip_seq") == count:
        seq += 1
    frame = protocol.encode_frame(seq, kind, payload)
    seq += 1
    if CFG.get("garble_frame") == count:
        frame = frame[:10] + b"X" + frame[11:]
    OUT.write(frame)
    OUT.flush()


def pending_abort():
    r, _, _ = select.select([sys.stdin], [], [], 0)
    if r:
        line = sys.stdin.readline()
        try:
            cid, verb, _ = protocol.parse_command(line)
        except protocol.ProtocolError:
            return None
        if verb == "ABORT":
            return cid
    return None


def run(cid, args):
    n = args["pins"]
    stage = args.get("stage", "initial")
    cur = args.get("current_ma", 100)
    alim = spec5861.ANCHOR_LIMIT_MOHM[stage]
    send(
        "run",
        {
            "id": cid,
            "source": "host",
            "positions": n,
            "stage": stage,
            "serial": args.get("serial"),
            "limits": {"contact_mohm": 70.0, "anchor_mohm": alim},
            "conditions": {
                "current_ma": cur,
                "current_limit_ma": spec5861.current_limit_ma(n),
                "rating_ma": spec5861.contact_rating_ma(n),
                "open_circuit_mv_max": 20.0,
                "method": spec5861.METHOD,
                "reversal": True,
                "samples_per_polarity": 4,
                "adc": {"rate_sps": 7200, "gain": 32, "filter": "sinc4"},
                "short_test_current_ma": 1,
                "short_limit_ohm": 10.0,
                "settle_us": 1000,
            },
            "simulated": CFG.get("simulated", True),
        },
    )
    send("step", {"id": cid, "step": "selfcheck", "total": 2})
    ok = not CFG.get("selfcheck_fail")
    send("check", {"id": cid, "name": "ref_10mohm", "value": 10.0 if ok else 14.0, "unit": "mohm", "lo": 9.9, "hi": 10.1, "ok": ok})
    if not ok:
        send("done", {"id": cid, "verdict": "ERROR", "failed": [], "error": "self-check failed", "fixture_us": 1000})
        return
    send("check", {"id": cid, "name": "ref_50mohm", "value": 50.0, "unit": "mohm", "lo": 49.5, "hi": 50.5, "ok": True})
    send("step", {"id": cid, "step": "shorts", "total": n})
    failed = []
    short_pins = set()
    for side, a, b, ohm in CFG.get("shorts", []):
        send("short", {"id": cid, "side": side, "pins": [a, b], "ohm": ohm})
        failed.append("short %s %d-%d" % (side, a, b))
        short_pins |= {a, b}
    send("step", {"id": cid, "step": "contacts", "total": n})
    error = None
    for pin in range(1, n + 1):
        a = pending_abort()
        if a is not None:
            send("ok", {"id": a})
            send("done", {"id": cid, "verdict": "ABORTED", "failed": failed, "error": "aborted", "fixture_us": 5})
            return
        time.sleep(CFG.get("delay_s", 0))
        r = CFG.get("contacts", {}).get(str(pin), 30.0)
        fault = None
        if pin in CFG.get("open", []):
            r, fault = None, "open"
        elif pin in CFG.get("probe", []):
            r, fault = None, "probe"
            error = "probe fault on pin %d" % pin
        elif pin in short_pins:
            fault = "short"
        elif r > 70.0:
            fault = "high"
        verdict = "PASS" if fault is None else ("ERROR" if fault == "probe" else "FAIL")
        if verdict == "FAIL":
            failed.append(pin)
        send(
            "contact",
            {"id": cid, "pin": pin, "r_mohm": r, "u_mohm": 0.02, "emf_uv": 1.5, "limit_mohm": 70.0, "verdict": verdict,
             "fault": fault, "i_ma": cur, "n": 8, "fixture_us": 9000},
        )
    send("step", {"id": cid, "step": "anchors", "total": 2})
    for an in (1, 2):
        r = CFG.get("anchors", {}).get(str(an), 8.0)
        v = "PASS" if r <= alim else "FAIL"
        if v == "FAIL":
            failed.append("anchor %d" % an)
        send("anchor", {"id": cid, "anchor": an, "r_mohm": r, "u_mohm": 0.02, "emf_uv": 0.5, "limit_mohm": alim,
                        "verdict": v, "fault": None if v == "PASS" else "high", "i_ma": cur, "n": 8, "fixture_us": 9000})
    verdict = "ERROR" if error else ("FAIL" if failed else "PASS")
    if CFG.get("wrong_done"):
        verdict = "PASS"
    send("done", {"id": cid, "verdict": verdict, "failed": failed, "error": error, "fixture_us": 400000})


def hello(cid):
    send(
        "hello",
        {"id": cid, "firmware": CFG.get("firmware", protocol.FIRMWARE_VERSION), "protocol": CFG.get("protocol", protocol.PROTOCOL_VERSION),
         "board": "fixture_v1", "simulated": CFG.get("simulated", True), "fixture_id": "FAKE-1", "uid": "e66038b7133d1234",
         "max_positions": CFG.get("max_positions", 80)},
    )


def main():
    hello(0)
    for line in sys.stdin:
        try:
            cid, verb, args = protocol.parse_command(line)
        except protocol.ProtocolError as e:
            send("err", {"id": e.cmd_id or 0, "code": e.code, "msg": e.msg})
            continue
        if verb == "HELLO":
            hello(cid)
        elif verb == "RUN":
            run(cid, args)
        elif verb == "STATUS":
            send("status", {"id": cid, "relays_closed": 0, "source_on": False, "lid_closed": True, "busy": False})
        else:
            send("ok", {"id": cid})


if __name__ == "__main__":
    main()
