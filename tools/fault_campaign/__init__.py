"""Fault campaign harness: in-process firmware fuzzing on MicroPython (campaign.py), the end-to-end
pty fuzz (pty_fuzz.py); tests/test_fault_campaign.py and tools/faults.py run them."""
