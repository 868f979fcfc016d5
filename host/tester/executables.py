"""Where the programs this package runs are: the virtual environment's own first (the pinned
ones, beside this Python), then PATH."""

import shutil
import sys
from pathlib import Path


def find(name):
    """The path of `name`, or None."""
    exe = Path(sys.executable).parent / name
    if exe.exists():
        return str(exe)
    return shutil.which(name)
