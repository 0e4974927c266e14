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
   once, reduced to one row by the database (no rows to Python, no scoring, no writes); median of 2;
3. the real run: campaigns.services.health.health_score_day in this process, chunk by chunk (one
   facts statement, the pure scoring, one bulk upsert per table), with the peak resident memory
   after each chunk;
4. the same day again (idempotent: the row counts stay), then prints the ratio to the bare
   statement (target: within 3x) and whether memory stayed flat (the peak after the last chunk at
   most 20% above the peak after the first tenth of the chunks).

The database URL comes from --database-url only, never from DATABASE_URL.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.admin_benchmark import Plan, load, timed
from bench.common import (
    Stopwatch,
    add_database_url_argument,
    argument_parser,
    bench_database_name,
    execute,
    log,
    machine,
    marked,
    own_peak_rss_kib,
    setup_django,
    write_section,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/nurture_bench_health"
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


def bare_seconds(as_of: dt.date) -> float:
    from django.db import connection

    from campaigns.selectors.health import facts_sql
    from nurture.lib.customer_scope import CustomerScope

    statement, params = facts_sql(CustomerScope.everyone(), as_of)
    reduced = f"SELECT count(*), sum(coalesce(calls_reached, 0)), max(last_touch_at) FROM ({statement}) facts"
    times = []
    for _ in range(2):
        watch = Stopwatch()
        with connection.cursor() as cursor:
            cursor.execute(reduced, params)
            cursor.fetchall()
        times.append(watch.seconds)
    return statistics.median(times)


def scoring_run(as_of: dt.date, chunk_size: int) -> dict[str, Any]:
    from campaigns.services.health import health_score_day

    peaks: list[int] = []
    watch = Stopwatch()
    result = health_score_day(
        as_of=as_of, chunk_size=chunk_size, progress=lambda done, total: peaks.append(own_peak_rss_kib())
    )
    wall, cpu = watch.elapsed()
    early = peaks[max(0, len(peaks) // 10 - 1)] if peaks else 0
    return {
        "seconds": wall,
        "cpu": cpu,
        "scored": result.scored,
        "moved": result.moved,
        "chunks": result.chunks,
        "rss_early_mb": early / 1024,
        "rss_end_mb": (peaks[-1] if peaks else 0) / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__)
    add_database_url_argument(parser, DEFAULT_URL)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--touchpoints", type=int, help="default: 5 per customer")
    parser.add_argument("--chunk-size", type=int, default=5000)
    parser.add_argument("--date", help="the day scored (default: today)")
    parser.add_argument("--skip-load", action="store_true", help="measure the loaded database again")
    parser.add_argument("--output", type=Path, help="write the results into this Markdown file")
    args = parser.parse_args(argv)
    url = args.database_url
    bench_database_name(url)
    today = dt.date.fromisoformat(args.date) if args.date else dt.date.today()
    plan = Plan(customers=args.customers, touchpoints=args.touchpoints or 5 * args.customers, today=today)
    if not args.skip_load:
        load(url, plan)
        load_activities(url, today)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    setup_django()

    log("the bare statement: the same aggregates for every customer at once")
    bare = bare_seconds(today)
    log(f"  {bare:.1f}s")
    log(f"scoring every customer as of {today} in chunks of {args.chunk_size:,}")
    first = scoring_run(today, args.chunk_size)
    log(f"  {first['scored']:,} scored in {first['seconds']:.1f}s (CPU {first['cpu']:.1f}s)")
    log("the same day again")
    again = scoring_run(today, args.chunk_size)

    from campaigns.models import HealthScore, HealthSnapshot

    rows = (HealthScore.objects.count(), HealthSnapshot.objects.filter(date=today).count())
    ratio = first["seconds"] / bare if bare else float("inf")
    flat = first["rss_end_mb"] <= FLAT_GROWTH * max(first["rss_early_mb"], 1)
    lines = [
        f"| customers | {first['scored']:,} (chunks of {args.chunk_size:,}: {first['chunks']}) |",
        f"| bare statement | {bare:.1f} s |",
        f"| scoring run | {first['seconds']:.1f} s (CPU {first['cpu']:.1f} s), {first['moved']:,} moved band |",
        f"| ratio to bare | {ratio:.1f}x (target {TARGET_RATIO:.0f}x): {'PASS' if ratio <= TARGET_RATIO else 'FAIL'} |",
        f"| same day again | {again['seconds']:.1f} s; rows after: {rows[0]:,} scores, {rows[1]:,} snapshots |",
        f"| peak memory | {first['rss_early_mb']:.0f} MB after a tenth of the chunks, "
        f"{first['rss_end_mb']:.0f} MB at the end: {'flat' if flat else 'GROWING'} |",
    ]
    facts = [f"| {name} | {value} |" for name, value in machine()]
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
    return 0 if ratio <= TARGET_RATIO and flat and rows[1] == first["scored"] else 1


if __name__ == "__main__":
    sys.exit(main())
