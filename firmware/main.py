# Runs at boot on the fixture. Ctrl-C off first of all: a stray 0x03 on USB CDC during the
# imports would raise KeyboardInterrupt and leave the fixture at the REPL (app.py says more).
# Any way out of the application leaves every relay open and every source off: app.main()
# sees to it.
import micropython

micropython.kbd_intr(-1)

import app  # noqa: E402

app.main()
