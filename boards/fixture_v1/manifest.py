# Frozen modules of the fixture_v1 UF2 (MicroPython manifest API: include/module/package and
# convert_path for the $(...) variables, see micropython tools/manifestfile.py).
# The port's own manifest first: it freezes rp2.py (asm_pio, the PIO DSL) and the rest of the
# rp2 port's Python modules, which the firmware's PIO detector needs.
include("$(PORT_DIR)/boards/manifest.py")

import os

# The fixture firmware at the top level, as it sits on the device: every module of firmware/, and
# drivers/ as a whole package. NOT event_merge.py: native (viper) code is never frozen (frozen
# viper ran away on its first call on MicroPython v1.28.0); the device loads /event_merge.mpy
# from the filesystem (README.md).
NOT_FROZEN = ("event_merge.py",)
for name in sorted(os.listdir(convert_path("$(BOARD_DIR)/../../firmware"))):  # noqa: F821 (manifest API)
    if name.endswith(".py") and name not in NOT_FROZEN:
        module(name, base_path="$(BOARD_DIR)/../../firmware")
package("drivers", base_path="$(BOARD_DIR)/../../firmware")

# The pin profile. A /board.py on the filesystem comes first on sys.path ('' before '.frozen'),
# so a copied profile overrides this frozen one.
module("board.py", base_path="$(BOARD_DIR)")
