"""Where the firmware tree is, and the modules the host shares with it (one home each)."""

from pathlib import Path

import tester_firmware
from tester_firmware import protocol, spec5861  # noqa: F401  (re-exported)

FIRMWARE_DIR = Path(next(iter(tester_firmware.__path__)))
REPO_DIR = FIRMWARE_DIR.parent
BOARDS_DIR = REPO_DIR / "boards"
