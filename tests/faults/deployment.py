"""A small nurture deployment of real processes for the fault tests.

One PostgreSQL server of the tests' own (tests/support/servers.py) holds a migrated and seeded
template database; every test clones it into a fresh database, starts a fresh Redis, and runs
real Celery workers and Beat processes against them (``celery -A nurture ...`` subprocesses with
DATABASE_URL and REDIS_URL in their environment). The test process reads the database with
psycopg and sends tasks through a Celery client of its own: it never points its own Django
settings at these servers.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tests.support.servers import PostgresServer, RedisServer

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = "nurture_fault_template"
# Customers per planning chunk in the fault tests: a sweep of the seed data is several chunks.
CHUNK_SIZE = 10
# Became-customer milestones this many days before today: welcome calls due every day around
# today, six-month follow-up cards and anniversary cards due soon.
SEED_DAYS_AGO = [*range(1, 31), *range(170, 201), *range(355, 376)]
PROTOTYPE = "F-00000"
PLAN_SWEEP = "campaigns.tasks.plan_sweep"
QUEUES = ("celery", "planning", "rendering")

SEED_SCRIPT = """
import datetime as dt
from django.utils import timezone
from nurture.signals import bulk_changes
from nurture.models import Customer, Milestone, MilestoneKind

today = timezone.localdate()
kind = MilestoneKind.objects.get(slug="became_customer")
days = {days!r}
with bulk_changes():
    customers = Customer.objects.bulk_create([
        Customer(external_id=f"F-{{i:05d}}", first_name=f"C{{i}}", last_name="Fault", country="GB",
                 time_zone="UTC", address_line1="1 Test Street", city="London", postal_code="N1 1AA")
        for i in range(len(days))
    ])
    Milestone.objects.bulk_create([
        Milestone(customer=c, kind=kind, date=today - dt.timedelta(days=d)) for c, d in zip(customers, days)
    ])
print(len(customers))
"""


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def base_env(database_url: str, redis_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_TASK_ALWAYS_EAGER", "MEDIA_ROOT")}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        VAR_DIR=str(var_dir),
        DJANGO_SETTINGS_MODULE="config.settings",
        NURTURE_PLAN_CHUNK_SIZE=str(CHUNK_SIZE),
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def build_template(postgres: PostgresServer, var_dir: Path) -> None:
    """Migrate and seed the database every fault test starts from."""
    postgres.create_database(TEMPLATE)
    # The broker is never used here: any Redis URL will do (nothing is sent).
    env = base_env(postgres.url(TEMPLATE), "redis://127.0.0.1:1/0", var_dir)
    manage(env, "migrate", "--noinput", "--verbosity", "0", timeout=180)
    manage(env, "shell", "--no-startup", "-c", SEED_SCRIPT.format(days=SEED_DAYS_AGO))
    with postgres.connect(TEMPLATE, autocommit=True) as conn:
        # Only the planning sweep is scheduled; each test sets how often it fires.
        conn.execute("UPDATE django_celery_beat_periodictask SET enabled = (task = %s)", [PLAN_SWEEP])


class Process:
    """A child process in its own process group, its output in a log file."""

    def __init__(self, name: str, args: Sequence[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = list(args)
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self, *, ready: str | None = None, timeout: float = 60) -> Process:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.args,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        if ready is not None:
            wait_for(lambda: self._ready(ready), timeout=timeout, what=f"{self.name} to start:\n{self.log()}")
        return self

    def _ready(self, text: str) -> bool:
        if self.popen is not None and self.popen.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.log()}")
        return text in self.log_path.read_text(errors="replace")

    def log(self, chars: int | None = 6000) -> str:
        """The process's output: the end of it, or all of it with chars=None."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text if chars is None else text[-chars:]

    def count(self, text: str) -> int:
        return self.log(None).count(text)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def children(self) -> list[int]:
        """The pids of this process's children (a worker's pool processes)."""
        if self.popen is None:
            return []
        path = Path(f"/proc/{self.popen.pid}/task/{self.popen.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def kill(self) -> None:
        """SIGKILL the whole process group: no clean-up, no acknowledgement, nothing."""
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, timeout: float = 15) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        # A worker's pool processes may outlive their parent for a moment.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)


class Database:
    """One database on the tests' PostgreSQL, read and written with psycopg."""

    def __init__(self, postgres: PostgresServer, name: str) -> None:
        self.postgres = postgres
        self.name = name

    @property
    def url(self) -> str:
        return self.postgres.url(self.name)

    def query(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def scalar(self, query: str, params: Sequence[Any] = ()) -> Any:
        rows = self.query(query, params)
        return rows[0][0] if rows else None

    def add_customers(self, customers: Iterable[tuple[str, dt.date]]) -> None:
        """Customers (external id, became-customer date) copied from the seed's first customer.

        Copying a row keeps this working whatever columns the models gain. Plain SQL, like an
        import: no signal, so only the planner's sweep plans them.
        """
        with psycopg.connect(self.url, autocommit=True) as conn:
            columns = _columns(conn, "nurture_customer", exclude={"id", "external_id", "created_at", "updated_at"})
            milestone_columns = _columns(
                conn, "nurture_milestone", exclude={"id", "customer_id", "date", "created_at", "updated_at"}
            )
            for external_id, became_on in customers:
                row = conn.execute(
                    sql.SQL(
                        "INSERT INTO nurture_customer ({cols}, external_id, created_at, updated_at) "
                        "SELECT {cols}, %s, now(), now() FROM nurture_customer WHERE external_id = %s RETURNING id"
                    ).format(cols=columns),
                    [external_id, PROTOTYPE],
                ).fetchone()
                assert row is not None
                conn.execute(
                    sql.SQL(
                        "INSERT INTO nurture_milestone ({cols}, customer_id, date, created_at, updated_at) "
                        "SELECT {cols}, %s, %s, now(), now() FROM nurture_milestone m "
                        "JOIN nurture_customer c ON c.id = m.customer_id WHERE c.external_id = %s"
                    ).format(cols=milestone_columns),
                    [row[0], became_on, PROTOTYPE],
                )

    def touchpoints(self) -> list[tuple[Any, ...]]:
        """Every touchpoint by what identifies it (not by id), with its status and late flag."""
        return self.query(
            """
            SELECT c.external_id, r.slug, t.milestone_date, t.occurrence_index, t.occurs_on, t.due_on, t.kind,
                t.status, t.late
            FROM campaigns_touchpoint t
            JOIN nurture_customer c ON c.id = t.customer_id
            JOIN campaigns_rule r ON r.id = t.rule_id
            ORDER BY 1, 2, 3, 4
            """
        )

    def completed_sweeps(self) -> int:
        return int(
            self.scalar("SELECT count(*) FROM campaigns_plannerrun WHERE scope = 'sweep' AND finished_at IS NOT NULL")
        )

    def running_jobs(self) -> int:
        return int(self.scalar("SELECT count(*) FROM nurture_jobrun WHERE status = 'running'"))

    def schedule_sweep(self, *, every_seconds: int | None = None, last_run_at: dt.datetime | None = None) -> None:
        """Change the sweep's Beat schedule and tell a running DatabaseScheduler it changed."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            if every_seconds is not None:
                row = conn.execute(
                    "INSERT INTO django_celery_beat_intervalschedule (every, period) "
                    "VALUES (%s, 'seconds') RETURNING id",
                    [every_seconds],
                ).fetchone()
                assert row is not None
                conn.execute(
                    "UPDATE django_celery_beat_periodictask SET interval_id = %s WHERE task = %s", [row[0], PLAN_SWEEP]
                )
            if last_run_at is not None:
                conn.execute(
                    "UPDATE django_celery_beat_periodictask SET last_run_at = %s WHERE task = %s",
                    [last_run_at, PLAN_SWEEP],
                )
            conn.execute(
                "INSERT INTO django_celery_beat_periodictasks (ident, last_update) VALUES (1, now()) "
                "ON CONFLICT (ident) DO UPDATE SET last_update = now()"
            )


def _columns(conn: psycopg.Connection[Any], table: str, *, exclude: set[str]) -> sql.Composed:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position", [table]
    ).fetchall()
    return sql.SQL(", ").join(sql.Identifier(name) for (name,) in rows if name not in exclude)


class Deployment:
    """A fresh database and Redis, and the worker and Beat processes a test starts on them."""

    def __init__(self, postgres: PostgresServer, redis: RedisServer, root: Path) -> None:
        self.postgres = postgres
        self.redis = redis
        self.root = root
        self.db = self.clone()
        self.processes: list[Process] = []
        self._databases: list[Database] = [self.db]
        self._clients: list[Any] = []

    def clone(self) -> Database:
        database = Database(
            self.postgres, self.postgres.create_database(f"fault_{uuid.uuid4().hex[:10]}", template=TEMPLATE)
        )
        if hasattr(self, "_databases"):
            self._databases.append(database)
        return database

    def env(self, database: Database | None = None, /, **extra: str) -> dict[str, str]:
        return base_env((database or self.db).url, self.redis.url(), self.root / "var", **extra)

    # -- Processes ------------------------------------------------------------------------

    def worker(self, name: str, *, concurrency: int = 1, queues: str | None = None, **env: str) -> Process:
        args = [
            sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO", "--pool", "prefork",
            "--concurrency", str(concurrency), "--hostname", f"{name}@%h", "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        if queues:
            args += ["-Q", queues]
        process = Process(name, args, self.env(None, **env), self.root)
        self.processes.append(process)
        return process.start(ready=" ready.", timeout=60)

    def beat(self, name: str) -> Process:
        args = [
            sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
            "--schedule", str(self.root / f"{name}-schedule"), "--pidfile", str(self.root / f"{name}.pid"),
            "--max-interval", "1",
        ]  # fmt: skip
        process = Process(name, args, self.env(), self.root)
        self.processes.append(process)
        return process.start(ready="beat: Starting...", timeout=60)

    def manage(self, *args: str, database: Database | None = None, timeout: float = 120) -> str:
        return manage(self.env(database), *args, timeout=timeout)

    # -- The broker -----------------------------------------------------------------------

    def send(self, task_name: str, *args: Any) -> str:
        """Send a task through the deployment's Redis, routed as the application routes it."""
        from celery import Celery
        from django.conf import settings

        client = Celery("fault-tests", broker=self.redis.url(), set_as_current=False)
        client.conf.update(
            task_routes=settings.CELERY_TASK_ROUTES,
            task_queues=settings.CELERY_TASK_QUEUES,
            task_default_queue=settings.CELERY_TASK_DEFAULT_QUEUE,
            task_serializer="json",
            accept_content=["json"],
        )
        self._clients.append(client)
        return str(client.send_task(task_name, args=list(args)).id)

    def broker_backlog(self) -> int:
        """Messages waiting in the queues plus messages taken by a worker and not acknowledged."""
        client = self.redis.client()
        return int(sum(client.llen(queue) for queue in QUEUES) + client.hlen("unacked"))

    def wait_quiet(self, *, timeout: float = 60, settle: float = 2.0) -> None:
        """Until nothing is queued, taken or running, for `settle` seconds in a row."""
        quiet_since: float | None = None

        def quiet() -> bool:
            nonlocal quiet_since
            if self.broker_backlog() == 0 and self.db.running_jobs() == 0:
                quiet_since = quiet_since or time.monotonic()
                return time.monotonic() - quiet_since >= settle
            quiet_since = None
            return False

        wait_for(quiet, timeout=timeout, what=f"the deployment to go quiet\n{self.logs()}", interval=0.3)

    def logs(self) -> str:
        return "\n".join(f"---- {p.name}\n{p.log(3000)}" for p in self.processes)

    # -- Clean-up -------------------------------------------------------------------------

    def close(self) -> None:
        for process in self.processes:
            with contextlib.suppress(Exception):
                process.stop(timeout=10)
        for client in self._clients:
            with contextlib.suppress(Exception):
                client.close()
        self.redis.stop()
        if self.postgres.running():
            for database in self._databases:
                with contextlib.suppress(Exception):
                    self.postgres.drop_database(database.name)


# -- What the tests assert ------------------------------------------------------------------


def assert_same_touchpoints(actual: Database, expected: Database, *, compare_late: bool = True) -> None:
    """Every touchpoint of `expected` exists once in `actual`, and nothing else."""

    def rows(database: Database) -> collections.Counter[tuple[Any, ...]]:
        return collections.Counter(row if compare_late else row[:-1] for row in database.touchpoints())

    got, want = rows(actual), rows(expected)
    duplicated = {key: n for key, n in got.items() if n > 1}
    missing = want - got
    extra = got - want
    assert not duplicated, f"duplicated touchpoints: {sorted(duplicated)[:10]}"
    assert not missing and not extra, (
        f"{len(missing)} touchpoints missing, {len(extra)} unexpected "
        f"(of {sum(want.values())}):\nmissing {sorted(missing)[:10]}\nunexpected {sorted(extra)[:10]}"
    )
    assert sum(want.values()) > 0


def assert_cards_consistent(database: Database) -> None:
    """No touchpoint has two cards; once cards are drafted, every pending card touchpoint has its one."""
    doubled = database.scalar(
        "SELECT count(*) FROM (SELECT touchpoint_id FROM campaigns_card GROUP BY 1 HAVING count(*) > 1) d"
    )
    assert doubled == 0
    if database.scalar("SELECT count(*) FROM campaigns_card"):
        missing = database.scalar(
            """
            SELECT count(*) FROM campaigns_touchpoint t JOIN nurture_customer c ON c.id = t.customer_id
            WHERE t.kind = 'card' AND t.status = 'pending' AND c.status = 'active'
                AND NOT EXISTS (SELECT 1 FROM campaigns_card k WHERE k.touchpoint_id = t.id)
            """
        )
        assert missing == 0, f"{missing} pending card touchpoints have no card"


def assert_runs_complete(database: Database) -> None:
    """No job is left 'running': a run cut short by a dead process was delivered again and ended."""
    rows = database.query("SELECT task_name, task_id FROM nurture_jobrun WHERE status = 'running'")
    assert not rows, f"job runs left running: {rows}"


@contextlib.contextmanager
def planning_held(database: Database) -> Iterator[psycopg.Connection[Any]]:
    """Hold the touchpoint table so that a planning chunk waits half-way (after its reconcile).

    SHARE ROW EXCLUSIVE lets the planner read but blocks its INSERT: the chunk is "in the middle"
    for as long as the test wants. Released on exit (or when the server goes away).
    """
    conn = psycopg.connect(database.url, autocommit=False)
    try:
        conn.execute("LOCK TABLE campaigns_touchpoint IN SHARE ROW EXCLUSIVE MODE")
        yield conn
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.rollback()
        with contextlib.suppress(psycopg.Error):
            conn.close()


def backends_waiting_on_locks(database: Database) -> int:
    return int(
        database.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
    )
