"""A throwaway PostgreSQL server for the tests and `make bench`: Debian's postgresql 15 binaries,
a cluster in a temporary directory, a unix socket there and a free port, no network. Stopped
(immediate mode, then killed if it must be) and removed whatever happens. initdb refuses root: as
root the server runs as the `postgres` user the Debian package creates."""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("TESTER_PG_BIN", "/usr/lib/postgresql/15/bin"))
INSTALL = "apt-get update && apt-get install -y postgresql-15"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self):
        missing = [b for b in ("initdb", "pg_ctl", "postgres") if not (PG_BIN / b).is_file()]
        if missing:
            raise RuntimeError("PostgreSQL server binaries not found in %s (%s): install them with `%s`"
                               % (PG_BIN, ", ".join(missing), INSTALL))
        self.dir = Path(tempfile.mkdtemp(prefix="tester-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.user = None
        if os.geteuid() == 0:
            self.user = pwd.getpwnam("postgres")
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        self.started = False

    def _run(self, *argv, timeout=60):
        cmd = [str(a) for a in argv]
        if self.user is not None:
            cmd = ["setpriv", "--reuid=%d" % self.user.pw_uid, "--regid=%d" % self.user.pw_gid, "--clear-groups", "--"] + cmd
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=str(self.dir))

    def start(self):
        r = self._run(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        if r.returncode:
            raise RuntimeError("initdb failed: %s" % (r.stderr or r.stdout))
        opts = "-p %d -k %s -c listen_addresses='' -c fsync=off -c full_page_writes=off -c max_connections=50" % (self.port, self.dir)
        r = self._run(PG_BIN / "pg_ctl", "-D", self.data, "-o", opts, "-l", self.dir / "log", "-w", "-t", "60", "start")
        self.started = True  # a half-started server is stopped too
        if r.returncode:
            raise RuntimeError("pg_ctl start failed: %s\n%s" % (r.stderr or r.stdout, self.log()))
        return self

    def log(self):
        try:
            return (self.dir / "log").read_text()[-2000:]
        except OSError:
            return ""

    @property
    def url(self):
        return "postgresql://postgres@/postgres?host=%s&port=%d" % (self.dir, self.port)

    def stop(self):
        try:
            if self.started:
                r = self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "-t", "30", "stop")
                if r.returncode:
                    self._kill()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _kill(self):
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        except (OSError, ValueError, IndexError):
            pass

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
