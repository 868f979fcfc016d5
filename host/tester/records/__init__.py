"""Result records: what a command measured, as data written to a result directory.

`base` holds what every record shares (schema version, host, fixture and firmware, the atomic
0644 write, the result directory's name, the rescue directory); `run` the contact resistance
record of `tester run`; `monitor` the record of a monitor, vibration or shock procedure. Records
import neither the link nor the renderers: they are read back by the history, the reports and
`--resume` long after the fixture is gone (tests/test_layering.py holds that).
"""
