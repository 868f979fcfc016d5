"""One module per `tester` command (or family of commands); each has add_parser(subparsers) and
a function per command, args -> exit code."""

import argparse

from tester import exitcodes


def add_command(sub, name, summary, description, codes=exitcodes.TOOLS, func=None):
    """A command's parser: `summary` is its one line in `tester --help`; its own --help says what
    it does, with an example (`description`, laid out as written), and the exit codes it gives."""
    p = sub.add_parser(name, help=summary, description=description, epilog=exitcodes.epilog(codes),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    if func is not None:
        p.set_defaults(func=func)
    return p
