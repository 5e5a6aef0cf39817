"""A throw-away PostgreSQL server for the test session, with one fresh database per test.

The server binaries come from the distribution package (Debian: ``postgresql``, found
under ``/usr/lib/postgresql/*/bin``) or from ``PATH``. PostgreSQL refuses to run as
root, so under root (CI) the server runs as the ``postgres`` system user through
``runuser``. It listens on 127.0.0.1 on a free ephemeral port and keeps its data in a
temporary directory that is removed afterwards. Durability is switched off (``fsync``)
because the data is thrown away; crash tests kill clients, never this server.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

# A non-UTC server time zone catches timestamps that depend on the server's zone.
SERVER_TIMEZONE = "Pacific/Chatham"
RUN_AS = "postgres"


class Unavailable(Exception):
    """No PostgreSQL server can be started here; the message says why and what to install."""


def find_bindir() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl`` (newest installed version first)."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(on_path)
    for pg_ctl in candidates:
        bindir = Path(pg_ctl).parent
        if (bindir / "initdb").exists() and (bindir / "postgres").exists():
            return bindir
    raise Unavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install the 'postgresql' "
        "package (make test does it when run as root with apt) to run the PostgreSQL tests"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    """One running server; ``url(name)`` gives a SQLAlchemy URL for a database on it."""

    bindir: Path
    workdir: Path
    port: int = 0
    run_as: str | None = None
    # Copies of templates made ahead in a background thread (CREATE DATABASE is the
    # slow part of a test's setup; the server makes them while tests run).
    _ready: dict[str, deque[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: threading.Event = field(default_factory=threading.Event)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _depth: int = 2

    @classmethod
    def start(cls) -> PostgresServer:
        bindir = find_bindir()
        run_as = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(RUN_AS)
            except KeyError:
                raise Unavailable(
                    f"running as root and there is no {RUN_AS!r} user to run PostgreSQL as"
                ) from None
            if shutil.which("runuser") is None:
                raise Unavailable("running as root and 'runuser' is missing (util-linux)")
            run_as = RUN_AS
        workdir = Path(tempfile.mkdtemp(prefix="annotate-pg-"))
        if run_as is not None:
            shutil.chown(workdir, user=run_as)
        server = cls(bindir=bindir, workdir=workdir, run_as=run_as)
        try:
            server._initdb()
            server._pg_ctl_start()
        except BaseException:
            server.stop()
            raise
        return server

    def _run(self, *args: str) -> None:
        command = [*args]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
        if done.returncode != 0:
            log = self.workdir / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise Unavailable(
                f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()} {tail}"
            )

    def _initdb(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.workdir / "data"),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )

    def _pg_ctl_start(self) -> None:
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.workdir}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=100",
                "-c autovacuum=off",
                f"-c timezone={SERVER_TIMEZONE}",
            ]
        )
        for _attempt in range(3):  # the free port may be taken between probe and bind
            self.port = _free_port()
            try:
                self._run(
                    str(self.bindir / "pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(self.workdir / "data"),
                    "-l",
                    str(self.workdir / "server.log"),
                    "-o",
                    f"-p {self.port} {options}",
                )
                return
            except Unavailable:
                if _attempt == 2:
                    raise

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        data = self.workdir / "data"
        if (data / "postmaster.pid").exists():
            with contextlib.suppress(Unavailable):
                self._run(str(self.bindir / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate")
        shutil.rmtree(self.workdir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        )

    def create_database(
        self, template: str | None = None, name: str | None = None, icu_locale: str | None = None
    ) -> str:
        """A new database (copied from ``template`` when given); returns its URL.

        ``icu_locale`` (e.g. ``en-US``) gives the new, empty database that language's
        collation, as production servers often have, instead of the server's C order.
        """
        if icu_locale is not None:
            name = name or f"t_{uuid.uuid4().hex[:16]}"
            with self._admin() as admin:
                admin.execute(
                    f'CREATE DATABASE "{name}" TEMPLATE template0 '
                    f"LOCALE_PROVIDER icu ICU_LOCALE '{icu_locale}'"
                )
            return self.url(name)
        if template is not None and name is None:
            with self._lock:
                ready = self._ready.get(template)
                if ready:
                    made = ready.popleft()
                    self._wake.set()
                    return self.url(made)
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        clause = f" TEMPLATE {template}" if template else ""
        with self._admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"{clause}')
        return self.url(name)

    def prefetch(self, template: str, depth: int = 2) -> None:
        """Keep ``depth`` copies of ``template`` ready (the template must be idle now on)."""
        with self._lock:
            self._ready.setdefault(template, deque())
        self._depth = depth
        if self._thread is None:
            self._thread = threading.Thread(target=self._fill, name="pg-prefetch", daemon=True)
            self._thread.start()
        self._wake.set()

    def _fill(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                wanted = [t for t, ready in self._ready.items() if len(ready) < self._depth]
            if not wanted:
                self._wake.wait(timeout=1)
                self._wake.clear()
                continue
            for template in wanted:
                name = f"t_{uuid.uuid4().hex[:16]}"
                try:
                    with self._admin() as admin:
                        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE {template}')
                except Exception:  # the foreground creates synchronously instead
                    if self._stopping.is_set():
                        return
                    continue
                with self._lock:
                    self._ready[template].append(name)

    def drop_database(self, name: str) -> None:
        with self._admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
