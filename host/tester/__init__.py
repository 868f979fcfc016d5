"""Host side of the Kyocera 5861 connector tester: the `tester` CLI."""

__version__ = "0.1.0"
