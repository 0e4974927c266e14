"""What the benchmark scripts share: progress lines, timing and memory, the machine, the bench database,
Django and child processes, Celery workers, and the results sections of docs/*.md.

The scripts run as ``python bench/<script>.py``: each puts the project root on sys.path, then imports
this module. Nothing here imports Django or psycopg when it is imported (bench/plan_once.py reports
its own peak memory); the functions that need them import them when called.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_MODULE = "config.settings"
READY = b" ready."


# --- Progress and command lines ----------------------------------------------------------------


def log(message: str, *, stderr: bool = False) -> None:
    """A progress line with the time of day, on stdout (on stderr where stdout carries the results)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr if stderr else sys.stdout, flush=True)


def argument_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser whose --help shows the script's docstring as it is written."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_database_url_argument(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--database-url", default=default, help=f"the bench database, dropped and created (default {default})"
    )


def add_date_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", required=True, help="plan as of the start of this day (YYYY-MM-DD)")


# --- Time, CPU time and memory -----------------------------------------------------------------


class Stopwatch:
    """Wall-clock seconds and this process's CPU seconds since it was made."""

    def __init__(self) -> None:
        self.cpu_started = time.process_time()
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def elapsed(self) -> tuple[float, float]:
        """(wall, CPU) seconds, the wall clock read first."""
        wall = time.perf_counter() - self.started
        return wall, time.process_time() - self.cpu_started


def own_peak_rss_kib() -> int:
    """This process's high-water mark of resident memory; Linux reports ru_maxrss in KiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def process_tree(pid: int) -> list[int]:
    """The process and its descendants, from /proc."""
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pids
    for child in children:
        pids += process_tree(int(child))
    return pids


def peak_rss_mb(pid: int) -> float:
    """The process's high-water mark of resident memory (VmHWM), in MB (10^6 bytes, like the targets)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    return 0.0


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time of the processes so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def postgres_cpu_seconds() -> float:
    """User + system CPU time of the local PostgreSQL server so far: every server process's own,
    and what the postmaster's children that have exited used (their backends and parallel workers),
    so that a statement's whole cost counts however many processes ran it. Other databases' work
    on the same server counts too: read it with the machine's idle share."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, rest = stat.split("(", 1)[1].rsplit(")", 1)
        if name != "postgres":
            continue
        fields = rest.split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
        parent = Path(f"/proc/{fields[1]}/comm")
        try:
            is_postmaster = parent.read_text().strip() != "postgres"
        except OSError:
            is_postmaster = True
        if is_postmaster:
            total += int(fields[13]) + int(fields[14])  # cutime, cstime: the children that have exited
    return total / ticks


def machine_cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)


def load_averages() -> str:
    """The 1-, 5- and 15-minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- The machine ---------------------------------------------------------------------------------


def machine() -> list[tuple[str, str]]:
    """CPU, RAM, OS and Python, as rows of a results table."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return [
        ("CPU", f"{os.cpu_count()} x {cpu}"),
        ("RAM", memory),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
    ]


def postgres_facts(url: str) -> list[tuple[str, str]]:
    """The server's version and the settings that matter for the benchmarks."""
    with connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        settings = conn.execute(
            """
            SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name) FROM pg_settings
            WHERE name IN ('shared_buffers', 'work_mem', 'max_wal_size', 'synchronous_commit', 'fsync', 'jit',
                'autovacuum')
            """
        ).fetchone()
    return [("PostgreSQL", f"{version[0] if version else '?'} ({settings[0] if settings else ''})")]


# --- The bench database ----------------------------------------------------------------------------


def connect(url: str, **kwargs: Any) -> psycopg.Connection[Any]:
    import psycopg

    return psycopg.connect(url, **kwargs)


def execute(url: str, query: str | sql.Composed, params: dict[str, Any] | None = None, autocommit: bool = False) -> int:
    """One statement in a connection of its own; the rows it touched."""
    with connect(url, autocommit=autocommit) as conn:
        cursor = conn.execute(query, params)
        return cursor.rowcount


def scalar(url: str, query: str, params: dict[str, Any] | None = None) -> Any:
    """The first column of the first row, or None."""
    with connect(url) as conn:
        row = conn.execute(query, params).fetchone()
        return row[0] if row else None


def database_name(url: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    return str(conninfo_to_dict(url).get("dbname") or "")


def bench_database_name(url: str, refusing: str = "drop database") -> str:
    """The database's name; stops unless it contains "bench" (a benchmark drops or fills its database)."""
    name = database_name(url)
    if "bench" not in name:
        raise SystemExit(f"refusing to {refusing} {name!r}: the bench database's name must contain 'bench'")
    return name


def recreate_database(url: str) -> None:
    """Drop the database (closing its connections) and create it empty."""
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    name = database_name(url)
    with connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def vacuum_analyze(url: str) -> None:
    watch = Stopwatch()
    execute(url, "VACUUM ANALYZE", autocommit=True)
    log(f"  VACUUM ANALYZE in {watch.seconds:.1f}s")


def checkpoint(url: str) -> None:
    execute(url, "CHECKPOINT", autocommit=True)


# --- Django and child processes ----------------------------------------------------------------


def child_env(url: str | None = None, **extra: str) -> dict[str, str]:
    """A child's environment: this one's with the project's settings, DEBUG off, LOG_LEVEL WARNING unless
    set, DATABASE_URL `url` when given, and `extra` on top."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE=SETTINGS_MODULE, DEBUG="0")
    if url is not None:
        env["DATABASE_URL"] = url
    env.setdefault("LOG_LEVEL", "WARNING")
    env.update(extra)
    return env


def worker_env(url: str | None = None, **extra: str) -> dict[str, str]:
    """child_env() for processes that send or run Celery tasks: tasks really queued, quiet logs."""
    env = child_env(url, **{"LOG_LEVEL": "WARNING", **extra})
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    return env


def migrate(url: str | None = None, *, env: dict[str, str] | None = None) -> None:
    """``manage.py migrate`` in a child process, on `url` (or on `env`'s DATABASE_URL)."""
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=env if env is not None else child_env(url),
        check=True,
    )


def run_json(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run a child that prints its report as one JSON line, the last on its stdout; the report."""
    completed = subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, text=True)
    report: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return report


def setup_django() -> None:
    """Set Django up in this process (DATABASE_URL and the rest come from the environment)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    import django

    django.setup()


def start_of_day(date: str) -> dt.datetime:
    """The start of the day YYYY-MM-DD in Django's current time zone (after setup_django())."""
    from django.utils import timezone

    return timezone.make_aware(dt.datetime.combine(dt.date.fromisoformat(date), dt.time.min))


# --- Celery workers ------------------------------------------------------------------------------


def celery_worker_command(concurrency: int, hostname: str, *options: str) -> list[str]:
    """A prefork Celery worker of the project, logging at INFO (its " ready." line tells it started)."""
    return [
        *(sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO"),
        *("--pool", "prefork", "--concurrency", str(concurrency), *options),
        *("--hostname", hostname, "--without-gossip", "--without-mingle"),
    ]


def start_logged(command: list[str], log_path: Path, env: dict[str, str], **popen: Any) -> subprocess.Popen[bytes]:
    """Start a process in a session of its own (stop_groups() stops it with its children), its output
    (stdout and stderr) going to `log_path`."""
    with log_path.open("wb") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **popen
        )


def wait_for_log(process: subprocess.Popen[bytes], log_path: Path, deadline: float, line: bytes = READY) -> bool:
    """Wait until `line` is in the process's log; False if it ended or time.monotonic() passed `deadline`."""
    while line not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def log_tail(log_path: Path, chars: int = 3000) -> str:
    return log_path.read_text(errors="replace")[-chars:]


def stop_groups(processes: Iterable[subprocess.Popen[bytes]], timeout: float, kill_after: bool = False) -> None:
    """SIGTERM each running process's session, then wait for each; a process still running after
    `timeout` seconds gets SIGKILL with `kill_after`, else subprocess.TimeoutExpired is raised."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            if not kill_after:
                raise
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


# --- Results in docs/*.md ------------------------------------------------------------------------


def marked(start: str, body: str, end: str) -> str:
    """A results block: the body between its start and end markers (HTML comments)."""
    return f"{start}\n{body}{end}"


def write_section(path: Path, block: str, start: str, end: str, *, new_file: str = "", heading: str = "") -> None:
    """Put `block` (with its markers) in the place of the Markdown file's block between `start` and `end`;
    without one, append it after `heading`. A missing file starts as `new_file`."""
    text = path.read_text() if path.exists() else new_file
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _match: block, text, count=1)
    else:
        text = text.rstrip() + "\n\n" + heading + block + "\n"
    path.write_text(text)
