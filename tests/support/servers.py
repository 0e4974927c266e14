"""PostgreSQL and Redis servers of the tests' own, on free ports, to stop and restart on purpose.

The fault tests break servers; they never touch the machine's own PostgreSQL (5432) or Redis
(6379). PostgreSQL refuses to run as root, so when the tests run as root the server runs as the
``postgres`` user (``runuser``), with its data directory in a temporary directory it owns.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

POSTGRES_USER = "postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bin_dir() -> Path | None:
    """The newest PostgreSQL server binaries on this machine (Debian layout), or PG_BIN_DIR."""
    configured = os.environ.get("PG_BIN_DIR")
    candidates = [Path(configured)] if configured else []

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.name)) or (0,)

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: version(p.parent), reverse=True)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    return None


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


def _as_postgres_user() -> bool:
    return os.geteuid() == 0


class PostgresServer:
    """initdb + pg_ctl on a free port; start, stop and restart as a test needs."""

    def __init__(self, bin_dir: Path, *, durable: bool = False) -> None:
        self.bin_dir = bin_dir
        # The tests want speed; a benchmark wants the durability settings of a real server.
        self.durable = durable
        # Not pytest's tmp_path: the postgres user must be able to reach it.
        self.root = Path(tempfile.mkdtemp(prefix="nurture-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.port = free_port()

    # -- Running the binaries -------------------------------------------------------------

    def _command(self, *args: str) -> list[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if _as_postgres_user():
            return ["runuser", "-u", POSTGRES_USER, "--", *command]
        return command

    def _run(self, *args: str, timeout: float = 90, check: bool = True) -> subprocess.CompletedProcess[str]:
        # Output to a file, not a pipe: pg_ctl's server would inherit a pipe and keep it open.
        with (self.root / "commands.log").open("a") as out:
            result = subprocess.run(
                self._command(*args),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
                text=True,
            )
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{self.tail()}")
        return result

    def tail(self, lines: int = 40) -> str:
        texts = []
        for path in (self.root / "commands.log", self.log_path):
            if path.exists():
                texts.append("\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(texts)

    # -- Life cycle -----------------------------------------------------------------------

    def init(self) -> PostgresServer:
        if _as_postgres_user():
            shutil.chown(self.root, POSTGRES_USER, POSTGRES_USER)
        self._run("initdb", "-D", str(self.data), "-U", POSTGRES_USER, "-A", "trust", "-E", "UTF8", "--no-sync")
        return self

    def start(self, timeout: float = 60) -> PostgresServer:
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.root}",
                # Throwaway data: durability costs time and proves nothing here.
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        if self.durable:
            options = options.replace("fsync=off", "fsync=on").replace(
                "synchronous_commit=off", "synchronous_commit=on"
            )
            options = options.replace("full_page_writes=off", "full_page_writes=on")
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log_path),
            "-o",
            options,
            "-w",
            "-t",
            str(int(timeout)),
            "start",
        )
        self.wait_ready(timeout)
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: "fast" disconnects every client and rolls back; "immediate" is a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def cleanup(self) -> None:
        """Stop the server whatever its state and remove its files."""
        with contextlib.suppress(Exception):
            if self.running():
                self.stop("immediate")
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            with contextlib.suppress(Exception):
                os.kill(int(pid_file.read_text().splitlines()[0]), signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)

    # -- Databases ------------------------------------------------------------------------

    def url(self, database: str) -> str:
        return f"postgres://{POSTGRES_USER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str, **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url(database), **kwargs)

    def create_database(self, name: str, *, template: str | None = None) -> str:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        with self.connect("postgres", autocommit=True) as conn:
            conn.execute(query)
        return name

    def drop_database(self, name: str) -> None:
        with self.connect("postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class RedisServer:
    """redis-server on a free port as a child process, without persistence: a restart empties it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.log_path = root / f"redis-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 20) -> RedisServer:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.root.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.root),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start:\n{self.log_path.read_text(errors='replace')}")
            time.sleep(0.05)
        return self

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def client(self, db: int = 0) -> Any:
        import redis

        return redis.Redis(port=self.port, db=db, socket_connect_timeout=2, socket_timeout=5)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Stop it the hard way (SIGKILL): whatever it held is lost, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
