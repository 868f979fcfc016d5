# Frozen modules of the fixture_v1 UF2.
# The port's own manifest first: it freezes rp2.py (asm_pio, the PIO DSL) and the rest of the
# rp2 port's Python modules, which the firmware's PIO detector needs.
include("$(PORT_DIR)/boards/manifest.py")

# The fixture firmware: every module of firmware/ (drivers/ as a package), at the top level as it
# sits on the device.
freeze("$(BOARD_DIR)/../../firmware")

# The pin profile. A /board.py on the filesystem comes first on sys.path ('' before '.frozen'),
# so a copied profile overrides this frozen one.
module("board.py", base_path="$(BOARD_DIR)")
