"""Planning 1,000,000 customers with one and with two real Celery worker processes.

    python bench/workers_benchmark.py                        # 1,000,000 customers, 3 rounds
    python bench/workers_benchmark.py --customers 100000 --rounds 1
    python bench/workers_benchmark.py --reuse --output docs/benchmarks-workers.md

What it does, in one run (docs/benchmarks-workers.md has the method and the results):

1. drops and creates the bench database (its name must contain "bench"), migrates, and loads the
   customers with bench/run.py's loader (one ``became_customer`` milestone each, set-based SQL);
   ``--reuse`` keeps a database that already holds exactly that many customers;
2. after one uncounted warm-up sweep, for every round, measures 1 worker and 2 workers (1 then 2,
   and 2 then 1 in the next round, so that drift does not favour one side): empties the planner's
   tables and the Redis queues, starts N ``celery -A nurture worker --concurrency 1 -Q planning,celery``
   processes and waits until they are ready, sends ``campaigns.tasks.plan_sweep`` and waits for
   the sweep's PlannerRun to finish. Wall time: from sending the sweep to its ``finished_at``;
3. reads the job runs (nurture/services/job_runs.py) for where the time went: the serial part (the sweep task:
   window, slots, chunk rows) and how many chunks each worker took;
4. prints medians, the ratio (2 workers / 1 worker: the median of each round's ratio) and PASS/FAIL
   against the target (<= 0.7), and with ``--output`` writes them into a Markdown file's results.

``--own-postgres`` runs the benchmark on a PostgreSQL of its own (tests/support/servers.py, durable
settings) instead of DATABASE_URL's, and ``--nice -10`` (as root) gives it and the workers priority
over whatever else the machine runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    argument_parser,
    bench_database_name,
    celery_worker_command,
    checkpoint,
    connect,
    database_name,
    execute,
    load_averages,
    log,
    log_tail,
    machine,
    machine_cpu_times,
    migrate,
    postgres_facts,
    recreate_database,
    scalar,
    start_logged,
    stop_groups,
    vacuum_analyze,
    wait_for_log,
    worker_env,
    write_section,
)
from bench.run import check_rules, create_managers, truncate_planner
from bench.run import load_customers as load_customer_range

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/nurture_bench_workers"
DEFAULT_REDIS = "redis://127.0.0.1:6379/12"
TARGET = 0.7
RESULTS_START = "<!-- workers-bench:results:start -->"
RESULTS_END = "<!-- workers-bench:results:end -->"
QUEUE_KEYS = ["celery", "planning", "rendering", "unacked", "unacked_index", "unacked_mutex"]
LOAD_STEP = 250_000


@dataclass
class Measurement:
    workers: int
    seconds: float
    idle_share: float
    load_average: float
    serial_seconds: float
    chunks: int
    created: int
    chunks_per_worker: dict[str, int]
    chunk_seconds: float


@dataclass
class Results:
    customers: int
    rounds: int
    measurements: list[Measurement] = field(default_factory=list)

    def seconds(self, workers: int) -> list[float]:
        return [m.seconds for m in self.measurements if m.workers == workers]

    def median(self, workers: int) -> float:
        return statistics.median(self.seconds(workers))

    @property
    def round_ratios(self) -> list[float]:
        """Each round's 2-worker time over its 1-worker time, measured back to back."""
        ones, twos = self.seconds(1), self.seconds(2)
        return [two / one for one, two in zip(ones, twos, strict=False)]

    @property
    def ratio(self) -> float:
        """The median of the rounds' ratios: pairing measurements taken minutes apart cancels slow drift
        in what else the machine is doing; with one round it is simply that round's ratio."""
        return statistics.median(self.round_ratios)


# Niceness for the processes the benchmark starts (--nice).
NICE = 0


def prioritise(pid: int) -> None:
    """Give a process we started, and its session, the --nice weight.

    With the kernel's autogroup scheduling (Debian's default) CPU is shared between sessions
    first: a process's own nice value only counts against its own session. So the weight is set
    on the session's autogroup too, or a PostgreSQL server whose backends all share one session
    could never get more than one session's share of a busy machine, however many workers it serves.
    """
    if not NICE:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, pid, NICE)
        Path(f"/proc/{pid}/autogroup").write_text(str(NICE))
    except OSError as exc:
        log(f"  could not prioritise process {pid}: {exc}")


def start_workers(n: int, env: dict[str, str], log_dir: Path, label: str) -> list[tuple[subprocess.Popen[bytes], Path]]:
    started = []
    for index in range(1, n + 1):
        log_path = log_dir / f"{label}-worker{index}.log"
        # One process each: "two workers" are two single-process workers, as on two small machines.
        command = celery_worker_command(1, f"bench{index}@%h", "-Q", "planning,celery")
        process = start_logged(command, log_path, env, stdin=subprocess.DEVNULL)
        prioritise(process.pid)
        started.append((process, log_path))
    deadline = time.monotonic() + 120
    for process, log_path in started:
        if not wait_for_log(process, log_path, deadline):
            stop_workers(started)
            raise SystemExit(f"a worker did not start:\n{log_tail(log_path)}")
    return started


def stop_workers(workers: list[tuple[subprocess.Popen[bytes], Path]]) -> None:
    stop_groups((process for process, _ in workers), timeout=30, kill_after=True)


def purge_redis(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete(*QUEUE_KEYS)


def send_sweep(redis_url: str) -> None:
    from celery import Celery

    client = Celery("workers-bench", broker=redis_url, set_as_current=False)
    client.conf.update(task_serializer="json", accept_content=["json"])
    try:
        client.send_task("campaigns.tasks.plan_sweep", queue="planning")
    finally:
        client.close()


def wait_for_sweep(url: str, since: float, timeout: float) -> tuple[float, int, int]:
    """Seconds from `since` (epoch) to the sweep's finished_at; its chunks and created rows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connect(url) as conn:
            row = conn.execute(
                "SELECT extract(epoch FROM finished_at), chunk_count, created_count FROM campaigns_plannerrun "
                "WHERE scope = 'sweep' AND finished_at IS NOT NULL ORDER BY finished_at LIMIT 1"
            ).fetchone()
            failed = conn.execute(
                "SELECT task_name, error FROM nurture_jobrun "
                "WHERE status = 'failed' AND task_name LIKE 'campaigns.tasks.plan%'"
            ).fetchone()
        if row is not None:
            return float(row[0]) - since, int(row[1]), int(row[2])
        if failed is not None:
            raise SystemExit(f"{failed[0]} failed:\n{failed[1]}")
        time.sleep(0.2)
    raise SystemExit(f"the sweep did not finish within {timeout:.0f}s")


def job_facts(url: str) -> tuple[float, dict[str, int], float]:
    """The sweep task's duration (the serial part), chunks per worker, total chunk seconds."""
    with connect(url) as conn:
        serial = conn.execute(
            "SELECT coalesce(max(duration_ms), 0) FROM nurture_jobrun WHERE task_name = 'campaigns.tasks.plan_sweep'"
        ).fetchone()
        rows = conn.execute(
            "SELECT split_part(worker, '@', 1), count(*), sum(duration_ms) FROM nurture_jobrun "
            "WHERE task_name = 'campaigns.tasks.plan_chunk' AND status = 'succeeded' GROUP BY 1 ORDER BY 1"
        ).fetchall()
    per_worker = {str(name): int(count) for name, count, _ in rows}
    chunk_seconds = sum(int(ms or 0) for _, _, ms in rows) / 1000
    return (int(serial[0]) / 1000 if serial else 0.0), per_worker, chunk_seconds


def measure(url: str, redis_url: str, workers: int, var_dir: Path, label: str, timeout: float) -> Measurement:
    truncate_planner(url)
    execute(url, "TRUNCATE nurture_jobrun")
    execute(url, "ANALYZE campaigns_touchpoint")
    checkpoint(url)
    purge_redis(redis_url)
    env = worker_env(url, REDIS_URL=redis_url, VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1")
    started_workers = start_workers(workers, env, var_dir, label)
    try:
        time.sleep(1)  # let the workers' start-up task (resume_batches) pass
        idle_before, total_before = machine_cpu_times()
        since = time.time()
        send_sweep(redis_url)
        seconds, chunks, created = wait_for_sweep(url, since, timeout)
        idle_after, total_after = machine_cpu_times()
        idle_share = (idle_after - idle_before) / max(total_after - total_before, 1)
        load_average = os.getloadavg()[0]
        # The last chunk's job run is written right after it finishes the run.
        time.sleep(1)
    finally:
        stop_workers(started_workers)
    serial, per_worker, chunk_seconds = job_facts(url)
    log(
        f"  {workers} worker(s): {seconds:.1f}s wall, sweep task {serial:.1f}s, {chunks} chunks "
        f"{per_worker}, {chunk_seconds:.1f}s in chunks, {created:,} touchpoints, CPU idle {idle_share:.0%}, "
        f"load average {load_average:.2f}"
    )
    return Measurement(workers, seconds, idle_share, load_average, serial, chunks, created, per_worker, chunk_seconds)


def load(url: str, customers: int, as_of: dt.date, reuse: bool) -> None:
    if reuse:
        try:
            count = scalar(url, "SELECT count(*) FROM nurture_customer")
        except Exception:
            count = None
        if count == customers:
            log(f"reusing {database_name(url)} with {customers:,} customers (migrating it to the current code)")
            migrate(url)
            return
    log(f"(re)creating {database_name(url)} and migrating")
    recreate_database(url)
    migrate(url)
    setup = check_rules(url)
    setup.managers = create_managers(url)
    for first in range(1, customers + 1, LOAD_STEP):
        load_customer_range(url, setup, first, min(first + LOAD_STEP - 1, customers), as_of)
    vacuum_analyze(url)


def render(results: Results, facts: list[tuple[str, str]]) -> str:
    one, two = results.seconds(1), results.seconds(2)
    verdict = "PASS" if results.ratio <= TARGET else "FAIL"
    lines = [
        RESULTS_START,
        f"Run on {dt.date.today().isoformat()}: {results.customers:,} customers, {results.rounds} round(s) "
        f"(`python bench/workers_benchmark.py`).",
        "",
        "| | 1 worker | 2 workers |",
        "|---|---|---|",
        f"| wall time, sweep sent to run finished (median) | {statistics.median(one):.1f} s | "
        f"{statistics.median(two):.1f} s |",
        f"| each run | {', '.join(f'{s:.1f} s' for s in one)} | {', '.join(f'{s:.1f} s' for s in two)} |",
    ]
    by_workers = {n: [m for m in results.measurements if m.workers == n] for n in (1, 2)}
    serial = {n: statistics.median(m.serial_seconds for m in ms) for n, ms in by_workers.items()}
    chunk_time = {n: statistics.median(m.chunk_seconds for m in ms) for n, ms in by_workers.items()}
    lines += [
        f"| the serial part: sweep task (window, slots, chunk rows) | {serial[1]:.1f} s | {serial[2]:.1f} s |",
        f"| time inside chunk tasks, summed over workers | {chunk_time[1]:.1f} s | {chunk_time[2]:.1f} s |",
        "| chunks taken by each worker | "
        + " | ".join(
            "; ".join(", ".join(f"{w} {c}" for w, c in m.chunks_per_worker.items()) for m in by_workers[n])
            for n in (1, 2)
        )
        + " |",
        f"| touchpoints created per sweep | {by_workers[1][0].created:,} | {by_workers[2][0].created:,} |",
        "| machine CPU idle during each run | "
        + " | ".join(", ".join(f"{m.idle_share:.0%}" for m in by_workers[n]) for n in (1, 2))
        + " |",
        "| 1-minute load average at the end of each run | "
        + " | ".join(", ".join(f"{m.load_average:.1f}" for m in by_workers[n]) for n in (1, 2))
        + " |",
        "",
        f"**Ratio, 2 workers / 1 worker: {results.ratio:.2f}** (median of the rounds' ratios "
        f"{', '.join(f'{r:.2f}' for r in results.round_ratios)}; ratio of the medians "
        f"{results.median(2) / results.median(1):.2f}); target <= {TARGET}: **{verdict}**",
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in facts],
        RESULTS_END,
    ]
    return "\n".join(lines)


def write_output(path: Path, section: str) -> None:
    """`section` is the block itself: render() writes its markers."""
    new_file = "# Benchmark: planning with several workers\n\n## Results\n\n"
    write_section(path, section, RESULTS_START, RESULTS_END, new_file=new_file)


def own_postgres() -> Any:
    """A PostgreSQL server of the benchmark's own (tests/support/servers.py), durable settings."""
    from tests.support.servers import PostgresServer, postgres_bin_dir

    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise SystemExit("--own-postgres: no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    server = PostgresServer(bin_dir, durable=True)
    server.init().start()
    prioritise(int((server.data / "postmaster.pid").read_text().split()[0]))
    log(f"started a PostgreSQL of our own on port {server.port} ({server.root})")
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="each round measures 1 and 2 workers (default 3)")
    parser.add_argument("--database-url", default=DEFAULT_URL, help=f"dropped and created (default {DEFAULT_URL})")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS, help=f"its queues are emptied (default {DEFAULT_REDIS})")
    parser.add_argument("--no-warm-up", action="store_true", help="skip the uncounted first sweep")
    parser.add_argument("--reuse", action="store_true", help="keep a bench database that has the customers already")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one sweep may take")
    parser.add_argument("--output", type=Path, help="write the results into this Markdown file's results section")
    parser.add_argument(
        "--own-postgres", action="store_true", help="run a PostgreSQL of the benchmark's own (removed at the end)"
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run the workers (and --own-postgres's server) at this niceness, e.g. -10 as root",
    )
    args = parser.parse_args(argv)
    if args.nice:
        global NICE
        NICE = args.nice
        os.nice(args.nice)
    server = own_postgres() if args.own_postgres else None
    try:
        if server is not None:
            args.database_url = server.url("nurture_bench_workers")
        return run(args)
    finally:
        if server is not None:
            server.cleanup()


def run(args: argparse.Namespace) -> int:

    url = args.database_url
    bench_database_name(url, refusing="use")
    results = Results(customers=args.customers, rounds=args.rounds)
    as_of = dt.date.today()
    load(url, args.customers, as_of, args.reuse)
    with tempfile.TemporaryDirectory(prefix="workers-bench-") as tmp:
        if not args.no_warm_up:
            log("warm-up: one sweep with one worker, not counted (fills the caches after loading)")
            measure(url, args.redis_url, 1, Path(tmp), "warm-up", args.timeout)
        for round_ in range(1, args.rounds + 1):
            order = (1, 2) if round_ % 2 else (2, 1)
            log(f"round {round_}/{args.rounds}: {' then '.join(f'{n} worker(s)' for n in order)}")
            for workers in order:
                label = f"r{round_}-w{workers}"
                results.measurements.append(measure(url, args.redis_url, workers, Path(tmp), label, args.timeout))
    facts: list[tuple[str, str]] = [*machine(), *postgres_facts(url)]
    facts.append(("load average at the end", load_averages()))
    options = [*(["--own-postgres"] if args.own_postgres else []), *([f"--nice {args.nice}"] if args.nice else [])]
    if options:
        facts.append(("run with", " ".join(options)))
    section = render(results, facts)
    print()
    print(section)
    if args.output:
        write_output(args.output, section)
        log(f"results written to {args.output}")
    return 0 if results.ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
