# The host while the fixture is busy: a test run (sequencer.py, between two measurements) and a
# monitoring window (monitor.py, once a host period) read what the host sent meanwhile through
# poll_host, so the fixture answers the same way whatever keeps it busy. A command that cannot
# run now is refused (err "state") and nothing is queued: the host sends it again when the
# fixture is free.

import protocol


def poll_host(link, stop, answers, doing):
    """Read and answer every command line that arrived, without waiting.

    stop: the verbs that end what is running (first: the one the refusals name), answered
        ok {running: true}; poll_host returns that verb at once (the lines after it wait for
        the idle loop, which serves them as usual).
    answers: verb -> handler(cmd_id, args), answered meanwhile (STATUS, HELLO, MSTATUS...).
    doing: what keeps the fixture busy, for the refusals ("a run is in progress").
    Returns None when no stop verb arrived."""
    while True:
        line = link.read_line(0)
        if line is None:
            return None
        try:
            cmd_id, verb, args = protocol.parse_command(line)
        except protocol.ProtocolError as e:
            link.reply_error(e.cmd_id if e.cmd_id is not None else 0, e.code, e.msg)
            continue
        if verb in stop:
            link.send(protocol.K_OK, {"id": cmd_id, "running": True})
            return verb
        handler = answers.get(verb)
        if handler is not None:
            handler(cmd_id, args)
        elif verb == "REPL":  # not now: what runs ends first, in the safe state, nothing dropped
            link.reply_error(cmd_id, protocol.E_STATE, "busy: %s (%s it first)" % (doing, stop[0]))
        else:
            link.reply_error(cmd_id, protocol.E_STATE, "busy: %s (%s ends it)" % (doing, stop[0]))
