"""`tester --help` and each command's help: every command listed with one line, its own
description with an example, and the exit codes from the one table (tester.exitcodes), which
README.md's list says the same way."""

import argparse
import re
from pathlib import Path

from tester import exitcodes
from tester.cli import build_parser

README = Path(__file__).resolve().parent.parent / "README.md"


def _commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, sub


def test_tester_help_lists_every_command_on_one_line(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    parser, sub = _commands()
    text = parser.format_help()
    commands = text[text.index("  COMMAND\n"):text.index("\noptions:")]
    listed = {}
    for line in commands.splitlines():
        m = re.match(r"^    (\S+)\s{2,}(\S.*)$", line)
        if m:
            listed[m.group(1)] = m.group(2)
    assert set(listed) == set(sub.choices), text
    for choice in sub._choices_actions:
        assert listed[choice.dest] == choice.help  # the whole summary, not wrapped onto a second line


def test_each_command_says_what_it_does_with_an_example():
    _, sub = _commands()
    seen = {}
    for name, p in sub.choices.items():
        desc = p.description or ""
        assert len(desc) > 80, name
        assert re.search(r"^  tester %s\b" % name, desc, re.M), "%s: no example of it in its help" % name
        assert desc not in seen, "%s shares its help with %s" % (name, seen.get(desc))
        seen[desc] = name
        assert p.epilog and p.epilog.startswith("exit codes:"), name


def test_exit_codes_come_from_one_table():
    parser, sub = _commands()
    text = parser.format_help()
    codes = [c for c, _, _ in exitcodes.MEANINGS]
    assert sorted(codes) == sorted({exitcodes.PASS, exitcodes.FAIL, exitcodes.USAGE, exitcodes.FIXTURE, exitcodes.INVALID,
                                    exitcodes.INTERRUPTED, exitcodes.TERMINATED, exitcodes.HANGUP})
    for code, name, _ in exitcodes.MEANINGS:
        assert re.search(r"^ +%d  %s: " % (code, re.escape(name)), text, re.M), (code, name)
    # a command lists the codes it can give: monitoring INVALID, a contact resistance run not
    assert "  4  INVALID" in sub.choices["monitor"].format_help()
    assert "  4  INVALID" not in sub.choices["run"].format_help()
    assert "  1  FAIL" not in sub.choices["flash"].format_help()


def test_readme_lists_the_exit_codes_as_the_table_names_them():
    text = " ".join(README.read_text().split())
    listing = text[text.index("Exit codes:"):]
    listing = listing[:listing.index(". ")]
    for code, name, _ in exitcodes.MEANINGS:
        assert "%d %s" % (code, name) in listing, (code, name, listing)


def test_signal_exit_codes_by_number_and_by_name():
    assert exitcodes.signal_exit_code(15) == exitcodes.TERMINATED
    assert exitcodes.signal_exit_code("SIGHUP") == exitcodes.HANGUP
    assert exitcodes.signal_exit_code(None) == exitcodes.INTERRUPTED
    assert exitcodes.signal_exit_code("SIGNOTHING") == exitcodes.INTERRUPTED
