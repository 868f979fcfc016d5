"""Host side of the Kyocera 5861 connector tester: the `tester` CLI."""
