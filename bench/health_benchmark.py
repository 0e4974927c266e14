"""The nightly health score at scale: every customer scored, against a bare SQL statement that
computes the same per-customer aggregates, and memory along the way.

    python bench/health_benchmark.py                          # 1,000,000 customers, 5,000,000 touchpoints
    python bench/health_benchmark.py --customers 20000        # a small run (a minute)
    python bench/health_benchmark.py --skip-load --output docs/benchmarks-health.md

What it does (docs/health.md has the method):

1. loads the bench database as bench/admin_benchmark.py does (customers, touchpoints over three
   years with call outcomes and completion times, mailed cards), and activities in other channels
   (NPS answers, support tickets, meetings: about 0.8 per customer), unless --skip-load;
2. the bare statement: the facts statement of campaigns.selectors.health for every customer at
   once, reduced to one row by the database (no rows to Python, no scoring, no writes), with the
   server's planner settings and with the chunks' (random_page_cost 1.1, no JIT:
   campaigns.selectors.health.chunk_planner_settings); the faster of the two,
   each the median of 2;
3. the real run as production runs it, a night on top of a month of history (the day's snapshots
   and later ones are deleted first, earlier ones kept; the --history nights before the day, 30 by
   default, are scored first, untimed, where they have none; the loaded customers were added 60
   days to 3 years before the day):
   one Celery worker with the Procfile's concurrency (--workers, 2) is sent
   campaigns.tasks.health_sweep, which fans the day's chunks out to its processes (one statement a
   chunk on PostgreSQL: facts, scoring, the snapshots' upsert); the time from sending the sweep to
   the run's finished_at, the workers' CPU time, and their peak resident memory after the first
   tenth of the chunks and at the end. --workers 0 runs the chunks in this process instead
   (campaigns.services.health.health_score_day, as the score_health command does);
4. the same day again (idempotent: the row counts stay, and nothing changed is written), then
   prints the ratio to the bare statement (target: within 3x) and whether memory stayed flat (the
   peak at the end at most 20% above the peak after the first tenth of the chunks).

Each timing starts after a checkpoint, so that the pages the set-up dirtied are not written during
it (the timing's own writes and checkpoints count). The machine may be shared: the load averages and
the share of the machine's CPU that was idle are recorded with each timing, and the ratio compares
timings of the same run.

The database URL comes from --database-url only, never from DATABASE_URL; the broker from
--redis-url only.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.admin_benchmark import Plan, load, timed
from bench.common import (
    Stopwatch,
    add_database_url_argument,
    argument_parser,
    bench_database_name,
    celery_worker_command,
    connect,
    cpu_seconds,
    execute,
    load_averages,
    log,
    log_tail,
    machine,
    machine_cpu_times,
    marked,
    own_peak_rss_kib,
    peak_rss_mb,
    postgres_cpu_seconds,
    postgres_facts,
    process_tree,
    setup_django,
    start_logged,
    stop_groups,
    wait_for_log,
    worker_env,
    write_section,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/nurture_bench_health"
# A Redis database of its own: a benchmark purges its queue, and two at once would take each
# other's tasks.
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
TARGET_RATIO = 3.0
FLAT_GROWTH = 1.2
START, END = "<!-- health-benchmark:start -->", "<!-- health-benchmark:end -->"


# The activities of other channels that feed the NPS and support ticket measures and count as a
# contact for recency, about 0.8 per customer: an NPS answer for a third of the customers (a second,
# older one for a tenth), a support ticket for a quarter, a meeting for a fifth, over 400 days.
ACTIVITIES_SQL = """
INSERT INTO campaigns_activity (customer_id, channel, occurred_at, subject, score, source, external_id, created_at)
SELECT c.id, a.channel, a.at, '', a.score, 'bench', '', a.at
FROM nurture_customer c
CROSS JOIN LATERAL (VALUES
    ('nps', c.id %% 3 = 0, (c.id * 7) %% 11, %(today)s::timestamptz - make_interval(days => (c.id %% 400)::int + 1)),
    ('nps', c.id %% 10 = 0, (c.id * 3) %% 11, %(today)s::timestamptz - make_interval(days => (c.id %% 400)::int + 30)),
    ('support_ticket', c.id %% 4 = 0, NULL, %(today)s::timestamptz - make_interval(days => (c.id %% 200)::int + 1)),
    ('meeting', c.id %% 5 = 0, NULL, %(today)s::timestamptz - make_interval(days => (c.id %% 300)::int + 1))
) AS a(channel, wanted, score, at)
WHERE a.wanted
"""


def load_activities(url: str, today: dt.date) -> None:
    timed("activities (NPS answers, support tickets, meetings)", url, ACTIVITIES_SQL, {"today": today})
    execute(url, "VACUUM ANALYZE campaigns_activity", autocommit=True)


# The loaded customers were added over the years before the day (60 days to about 3 years ago), so
# that the nights of the history before it score them.
BACKDATE_SQL = "UPDATE nurture_customer SET created_at = created_at - make_interval(days => 60 + (id %% 1000)::int)"


def backdate_customers(url: str) -> None:
    timed("customers added over the years before the day", url, BACKDATE_SQL, {})
    execute(url, "VACUUM ANALYZE nurture_customer", autocommit=True)


def bare_seconds(as_of: dt.date, cpu: dict[str, float] | None = None) -> dict[str, float]:
    """The bare statement's seconds (median of 2) with the server's settings and the chunks';
    ``cpu`` gets the database server's CPU seconds of each (the mean of the 2)."""
    from django.db import connection, transaction

    from campaigns.selectors.health import chunk_planner_settings, facts_sql
    from campaigns.services.health import CHUNK_SIZE
    from nurture.lib.customer_scope import CustomerScope

    statement, params = facts_sql(CustomerScope.everyone(), as_of)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM ({statement}) facts LIMIT 0", params)
        names = [column[0] for column in cursor.description]
    # Every column counted: the planner drops the columns a query does not use, and with them whole
    # joins and windows (a count of one column computed about half of the facts, 3.6 s against
    # 8.1 s at full size). Counting each column makes it compute every aggregate the scoring reads.
    reduced = f"SELECT {', '.join(f'count({name})' for name in names)} FROM ({statement}) facts"
    result: dict[str, float] = {}
    a_chunk = CustomerScope.id_range(1, CHUNK_SIZE)  # what a chunk's statement runs with
    for label, chunk_settings in (("server settings", False), ("chunk settings", True)):
        times = []
        server_cpu = []
        for _ in range(2):
            watch = Stopwatch()
            before = postgres_cpu_seconds()
            with transaction.atomic(), connection.cursor() as cursor:
                if chunk_settings:
                    chunk_planner_settings(cursor, a_chunk)
                cursor.execute(reduced, params)
                cursor.fetchall()
            times.append(watch.seconds)
            server_cpu.append(postgres_cpu_seconds() - before)
        result[label] = statistics.median(times)
        if cpu is not None:
            cpu[label] = statistics.mean(server_cpu)
    return result


class Machine:
    """The machine's idle share and load average over a timing."""

    def __init__(self) -> None:
        self.idle, self.total = machine_cpu_times()
        self.load_before = load_averages()

    def done(self) -> dict[str, Any]:
        idle, total = machine_cpu_times()
        return {
            "idle": (idle - self.idle) / max(total - self.total, 1),
            "load": f"{self.load_before} -> {load_averages()}",
        }


def in_process_run(as_of: dt.date, chunk_size: int) -> dict[str, Any]:
    from campaigns.services.health import health_score_day

    peaks: list[int] = []
    busy = Machine()
    watch = Stopwatch()
    server_before = postgres_cpu_seconds()
    result = health_score_day(
        as_of=as_of, chunk_size=chunk_size, progress=lambda done, total: peaks.append(own_peak_rss_kib())
    )
    wall, cpu = watch.elapsed()
    server_cpu = postgres_cpu_seconds() - server_before
    early = peaks[max(0, len(peaks) // 10 - 1)] if peaks else 0
    return {
        "seconds": wall,
        "cpu": cpu,
        "server_cpu": server_cpu,
        "scored": result.scored,
        "moved": result.moved,
        "chunks": result.chunks,
        "rss_early_mb": early / 1024,
        "rss_end_mb": (peaks[-1] if peaks else 0) / 1024,
        **busy.done(),
    }


def send_sweep(redis_url: str, as_of: dt.date, chunk_size: int) -> None:
    from celery import Celery

    client = Celery("health-bench", broker=redis_url, set_as_current=False)
    client.conf.update(task_serializer="json", accept_content=["json"])
    try:
        client.send_task("campaigns.tasks.health_sweep", args=[as_of.isoformat(), chunk_size], queue="celery")
    finally:
        client.close()


def run_state(conn: Any, since: float) -> tuple[int | None, int, int, float | None, int, int]:
    """The run started after `since`: its id, chunks, chunks done, finished_at (epoch), scored, moved.
    Through one connection kept open (autocommit) for the whole run: a new connection every poll
    would start a server process each time, on the machine the run is timed on."""
    row = conn.execute(
        "SELECT r.id, r.chunk_count, (SELECT count(*) FROM campaigns_healthchunk c WHERE c.run_id = r.id "
        "AND c.finished_at IS NOT NULL), extract(epoch FROM r.finished_at), r.scored_count, r.moved_count "
        "FROM campaigns_healthrun r WHERE r.started_at >= to_timestamp(%s) ORDER BY r.id LIMIT 1",
        [since - 1],
    ).fetchone()
    if row is None:
        return None, 0, 0, None, 0, 0
    return int(row[0]), int(row[1]), int(row[2]), (float(row[3]) if row[3] is not None else None), row[4], row[5]


def worker_run(url: str, redis_url: str, as_of: dt.date, chunk_size: int, concurrency: int) -> dict[str, Any]:
    """The sweep on a real Celery worker of `concurrency` processes, as the Procfile starts it."""
    import redis

    redis.Redis.from_url(redis_url).delete("celery", "unacked", "unacked_index")
    log_dir = Path(tempfile.mkdtemp(prefix="health-bench-"))
    log_path = log_dir / "worker.log"
    env = worker_env(url, REDIS_URL=redis_url, VAR_DIR=str(log_dir), PYTHONUNBUFFERED="1")
    worker = start_logged(
        celery_worker_command(concurrency, "health-bench@%h"), log_path, env, stdin=subprocess.DEVNULL
    )
    conn = connect(url, autocommit=True)
    try:
        if not wait_for_log(worker, log_path, time.monotonic() + 120):
            raise SystemExit(f"the worker did not start:\n{log_tail(log_path)}")
        time.sleep(1)  # its start-up tasks
        pids = process_tree(worker.pid)
        cpu_before = cpu_seconds(pids)
        server_before = postgres_cpu_seconds()
        busy = Machine()
        since = time.time()
        send_sweep(redis_url, as_of, chunk_size)
        early_mb = 0.0
        deadline = time.monotonic() + 6 * 3600
        while True:
            run, chunks, done, finished, scored, moved = run_state(conn, since)
            if run is not None and not early_mb and done >= max(1, chunks // 10):
                early_mb = max(peak_rss_mb(pid) for pid in process_tree(worker.pid))
            if finished is not None:
                break
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(f"the run did not finish:\n{log_tail(log_path)}")
            time.sleep(0.2)
        server_cpu = postgres_cpu_seconds() - server_before
        pids = process_tree(worker.pid)
        cpu = cpu_seconds(pids) - cpu_before
        end_mb = max(peak_rss_mb(pid) for pid in pids)
        return {
            "seconds": finished - since,
            "cpu": cpu,
            "server_cpu": server_cpu,
            "scored": scored,
            "moved": moved,
            "chunks": chunks,
            "rss_early_mb": early_mb,
            "rss_end_mb": end_mb,
            **busy.done(),
        }
    finally:
        conn.close()
        stop_groups([worker], timeout=30, kill_after=True)


def settle(url: str) -> None:
    """A checkpoint before a timing: the pages the set-up dirtied (deleting a day, VACUUM ANALYZE of
    the database) are written now, not by the server during the timing. The timing's own writes,
    and the checkpoints they bring, still count."""
    execute(url, "CHECKPOINT", autocommit=True)


def missing_nights(today: dt.date, nights: int) -> list[dt.date]:
    """The nights of the history before the day that have no snapshots yet, oldest first."""
    from campaigns.models import HealthSnapshot

    scored = set(HealthSnapshot.objects.scored_days())
    return [day for day in (today - dt.timedelta(days=n) for n in range(nights, 0, -1)) if day not in scored]


def scoring_of(args: Any, url: str, as_of: dt.date, chunk_size: int) -> dict[str, Any]:
    if args.workers:
        return worker_run(url, args.redis_url, as_of, chunk_size, args.workers)
    return in_process_run(as_of, chunk_size)


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__)
    add_database_url_argument(parser, DEFAULT_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS, help=f"the workers' broker (default {DEFAULT_REDIS})")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--touchpoints", type=int, help="default: 5 per customer")
    parser.add_argument("--chunk-size", type=int, help="customers per chunk (default: the service's CHUNK_SIZE)")
    parser.add_argument(
        "--workers", type=int, default=2, help="the worker's processes (the Procfile's 2); 0: in this process"
    )
    parser.add_argument("--date", help="the day scored (default: today)")
    parser.add_argument(
        "--history",
        type=int,
        default=30,
        help="nights before the day scored first, untimed, where they have no snapshots (default 30)",
    )
    parser.add_argument("--skip-load", action="store_true", help="measure the loaded database again")
    parser.add_argument("--load-only", action="store_true", help="load the database and stop (then --skip-load)")
    parser.add_argument("--output", type=Path, help="write the results into this Markdown file")
    args = parser.parse_args(argv)
    url = args.database_url
    bench_database_name(url)
    today = dt.date.fromisoformat(args.date) if args.date else dt.date.today()
    plan = Plan(customers=args.customers, touchpoints=args.touchpoints or 5 * args.customers, today=today)
    if not args.skip_load:
        load(url, plan)
        load_activities(url, today)
        backdate_customers(url)
        if args.load_only:
            return 0
    else:
        # The day (and any later one) is scored from scratch again: the first run writes every row.
        # Earlier days stay: the history a nightly run scores on top of.
        for table in ("campaigns_healthsnapshot", "campaigns_healthbandchange"):
            execute(url, f"DELETE FROM {table} WHERE date >= %(today)s", {"today": today})
        execute(url, "VACUUM ANALYZE", autocommit=True)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    setup_django()
    from campaigns.models import HealthSnapshot
    from campaigns.services.health import CHUNK_SIZE

    chunk_size = args.chunk_size or CHUNK_SIZE

    settle(url)
    log("the bare statement: the same aggregates for every customer at once")
    busy = Machine()
    bare_cpus: dict[str, float] = {}
    bares = bare_seconds(today, bare_cpus)
    bare_machine = busy.done()
    bare = min(bares.values())
    bare_label = min(bares, key=lambda label: bares[label])
    bare_cpu = bare_cpus[bare_label]
    log(f"  {', '.join(f'{label} {seconds:.1f}s' for label, seconds in bares.items())}; load {bare_machine['load']}")

    def scoring() -> dict[str, Any]:
        return scoring_of(args, url, today, chunk_size)

    where = f"a worker of {args.workers} processes" if args.workers else "this process"
    missing = missing_nights(today, args.history)
    if missing:
        # A night is scored on top of the history (each customer's band of the day before, a
        # table the planner knows, and an index as large as the history makes it): the nights
        # before that have no snapshots yet first, untimed.
        log(f"the history: scoring {len(missing)} nights before {today} first (not timed)")
        for n, day in enumerate(missing, 1):
            history = scoring_of(args, url, day, chunk_size)
            log(f"  {n}/{len(missing)}: {day}, {history['scored']:,} scored in {history['seconds']:.1f}s")
        execute(url, "ANALYZE campaigns_healthsnapshot", autocommit=True)
    history_days = len([day for day in HealthSnapshot.objects.scored_days() if day < today])
    log(f"scoring every customer as of {today} in chunks of {chunk_size:,} in {where}")
    settle(url)
    first = scoring()
    log(f"  {first['scored']:,} scored in {first['seconds']:.1f}s (CPU {first['cpu']:.1f}s); load {first['load']}")
    log("the same day again")
    settle(url)
    again = scoring()
    log(f"  {again['seconds']:.1f}s (CPU {again['cpu']:.1f}s)")

    snapshots = HealthSnapshot.objects.filter(date=today).count()
    ratio = first["seconds"] / bare if bare else float("inf")
    run_cpu = first["cpu"] + first["server_cpu"]
    cpu_ratio = run_cpu / bare_cpu if bare_cpu else float("inf")
    flat = first["rss_end_mb"] <= FLAT_GROWTH * max(first["rss_early_mb"], 1)
    both = ", ".join(f"{label} {seconds:.1f} s" for label, seconds in bares.items())
    lines = [
        f"| customers | {first['scored']:,} (chunks of {chunk_size:,}: {first['chunks']}) |",
        f"| history before the night | {history_days} days of snapshots |",
        f"| bare statement | {bare:.1f} s ({both}); "
        f"load average {bare_machine['load']}, CPU idle {bare_machine['idle']:.0%} |",
        f"| scoring run | {first['seconds']:.1f} s in {where} (its CPU {first['cpu']:.1f} s), "
        f"{first['moved']:,} moved band; load average {first['load']}, CPU idle {first['idle']:.0%} |",
        f"| ratio to bare | {ratio:.1f}x (target {TARGET_RATIO:.0f}x): {'PASS' if ratio <= TARGET_RATIO else 'FAIL'} |",
        f"| CPU, run against bare | {cpu_ratio:.1f}x: the run {run_cpu:.1f} s (workers {first['cpu']:.1f} s, "
        f"database server {first['server_cpu']:.1f} s) against the bare statement's {bare_cpu:.1f} s of the "
        f"database server ({bare_label}) |",
        f"| same day again | {again['seconds']:.1f} s (CPU {again['cpu']:.1f} s); "
        f"rows after: {snapshots:,} snapshots of the day |",
        f"| peak memory | {first['rss_early_mb']:.0f} MB after a tenth of the chunks, "
        f"{first['rss_end_mb']:.0f} MB at the end: {'flat' if flat else 'GROWING'} |",
    ]
    facts = [f"| {name} | {value} |" for name, value in [*machine(), *postgres_facts(url)]]
    body = "\n".join(["| | |", "|---|---|", *lines, *facts])
    print(body)
    if args.output:
        write_section(
            args.output,
            marked(START, body + "\n", END),
            START,
            END,
            new_file="# Benchmarks: the health score\n\nbench/health_benchmark.py; docs/health.md has the method.\n",
        )
    return 0 if ratio <= TARGET_RATIO and flat and snapshots == first["scored"] else 1


if __name__ == "__main__":
    sys.exit(main())
