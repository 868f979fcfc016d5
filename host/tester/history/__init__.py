"""The history database: every record a command writes is also stored here (SQLite by default,
PostgreSQL for a line of fixtures), and yield/drift/history are asked of it. The JSON record in
the result directory stays the source of truth; `tester import` loads directories again."""
