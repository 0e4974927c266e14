"""The report pages at scale: every report on 1,000,000 customers and 5,000,000 touchpoints, and the
cadence page with its journey map (which read the same nightly figures).

    python bench/reports_benchmark.py                                  # 1,000,000 customers (about an hour to load)
    python bench/reports_benchmark.py --customers 20000 --runs 3       # a small run: a minute or two
    python bench/reports_benchmark.py --skip-load --skip-figures       # measure the loaded database again

What it does:

1. loads the bench database with bench/admin_benchmark.py's loader (20 account managers, customers,
   touchpoints over three years, cards in daily mailed batches), then adds what the reports read: a
   renewal milestone for one customer in ten over the last two years, the holdout (one customer in
   twenty) and returned cards (one mailed card in fifty);
2. runs the nightly job once (campaigns.services.report_figures: its first run writes
   NURTURE_REPORT_BACKFILL_DAYS days of every report) and prints how long it took;
3. signs in with Django's test client as an account manager and as the superuser and GETs each
   report page, then the "Post-sale nurture" cadence's change page and its journey map as SVG
   (journey figures, customers per stage and moves: docs/journey-map.md): once to warm up, once
   with the SQL captured (every statement is EXPLAINed: a COUNT must be bounded, by a LIMIT or by
   an index range, and no plan may scan a big table sequentially), then --runs times; prints the
   median per page and PASS/FAIL (median <= 300 ms).

The database URL comes from --database-url only (its name must contain "bench").
"""

from __future__ import annotations

import datetime as dt
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.admin_benchmark import BIG_TABLES, Plan, load, timed
from bench.common import Stopwatch, add_database_url_argument, argument_parser, bench_database_name, execute, log

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/nurture_bench_reports"
TARGET_MS = 300.0
# The cadence whose page is measured: the bench's touchpoints are all of its rules.
CADENCE = "Post-sale nurture"

RENEWALS_SQL = """
INSERT INTO nurture_milestone (customer_id, kind_id, date, note, created_at, updated_at)
SELECT c.id, k.id, %(today)s::date - (c.id * 7 %% 730)::int, '', now(), now()
FROM nurture_customer c, nurture_milestonekind k
WHERE k.slug = 'renewal' AND c.id %% 10 = 0
"""
HOLDOUT_SQL = "UPDATE nurture_customer SET holdout = true WHERE id %% 20 = 1"
RETURNED_SQL = """
UPDATE campaigns_card SET status = 'returned', returned_at = updated_at + interval '6 days'
WHERE status = 'mailed' AND id %% 50 = 0
"""

# Band changes over the last 120 days, as nightly scoring writes them: one customer in 300 a day
# (about 400,000 rows at full size), each day a different set, the bands going round.
BAND_CHANGES_SQL = """
INSERT INTO campaigns_healthbandchange (customer_id, date, from_band, to_band, score, created_at)
SELECT c.id, %(today)s::date - d.n, b.from_band, b.to_band, b.score, now()
FROM generate_series(1, 120) AS d(n)
JOIN nurture_customer c ON c.id %% 300 = d.n %% 300
CROSS JOIN LATERAL (
    SELECT (ARRAY['green', 'yellow', 'red'])[1 + (c.id + d.n) %% 3] AS from_band,
           (ARRAY['yellow', 'red', 'green'])[1 + (c.id + d.n) %% 3] AS to_band,
           (ARRAY[60, 40, 80])[1 + (c.id + d.n) %% 3] AS score
) b
ON CONFLICT DO NOTHING
"""
# What the nightly scoring stores of those days when each day's run is over (services/health.py
# _store_band_totals): the band changes per account manager, and the day as stored.
STORED_MOVES_SQL = """
INSERT INTO campaigns_dailyfigure (report, day, manager_id, kind, key, value)
SELECT 'health-moves', b.date, coalesce(c.account_manager_id, 0), '', b.from_band || '>' || b.to_band, count(*)
FROM campaigns_healthbandchange b JOIN nurture_customer c ON c.id = b.customer_id
WHERE b.date < %(today)s::date
GROUP BY 2, 3, 5
ON CONFLICT DO NOTHING
"""
STORED_MOVE_DAYS_SQL = """
INSERT INTO campaigns_reportday (report, day, recorded_at)
SELECT DISTINCT 'health-moves', date, now() FROM campaigns_healthbandchange WHERE date < %(today)s::date
ON CONFLICT DO NOTHING
"""
# The report's own big tables: with rows in them, the planner shows whether a page reads them
# through an index range (an empty table is always scanned whole).
REPORT_BIG_TABLES = (*BIG_TABLES, "campaigns_healthbandchange", "campaigns_healthsnapshot")


def load_report_data(url: str, today: dt.date) -> None:
    timed("renewal milestones (one customer in ten)", url, RENEWALS_SQL, {"today": today})
    timed("holdout (one customer in twenty)", url, HOLDOUT_SQL)
    timed("returned cards (one mailed card in fifty)", url, RETURNED_SQL, {})
    timed("health band changes (one customer in 300 a day, 120 days)", url, BAND_CHANGES_SQL, {"today": today})
    timed("their daily totals, as the nightly scoring stores them", url, STORED_MOVES_SQL, {"today": today})
    timed("their days, as stored", url, STORED_MOVE_DAYS_SQL, {"today": today})
    execute(url, "VACUUM ANALYZE", autocommit=True)


def check_statement(cursor: Any, sql: str) -> list[str]:
    """Problems of one statement: a sequential scan of a big table, an unbounded COUNT."""
    if not sql.lstrip().upper().startswith("SELECT"):
        return []
    cursor.execute("EXPLAIN " + sql)
    plan = "\n".join(row[0] for row in cursor.fetchall())
    problems = [f"seq scan of {table}" for table in REPORT_BIG_TABLES if re.search(rf"Seq Scan on {table}\b", plan)]
    if "COUNT(" in sql.upper() and "LIMIT" not in sql.upper() and "Index" not in plan:
        problems.append("COUNT without a LIMIT or an index range")
    return problems


def measure(url: str, runs: int, record_figures: bool) -> list[dict[str, Any]]:
    os.environ["DATABASE_URL"] = url
    os.environ["ALLOWED_HOSTS"] = "testserver,localhost"  # Django's test client's host
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from bench.common import setup_django

    setup_django()
    import psycopg
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from campaigns.selectors.reports import REPORTS
    from campaigns.services.report_figures import report_figures_record

    if record_figures:
        watch = Stopwatch()
        written = report_figures_record()
        log(f"nightly job, first run: {written} in {watch.seconds:.1f}s")
        watch = Stopwatch()
        report_figures_record()
        log(f"nightly job, a run with nothing left to write: {watch.seconds * 1000:.0f} ms")

    from campaigns.models import Cadence

    cadence = Cadence.objects.get(name=CADENCE)
    pages = [(name, reverse("report", args=[name])) for name in REPORTS]
    pages += [
        ("cadence", reverse("admin:campaigns_cadence_change", args=[cadence.pk])),
        ("cadence-svg", reverse("admin:campaigns_cadence_journey_map", args=[cadence.pk])),
    ]
    users = get_user_model().objects
    clients = {"manager": Client(), "superuser": Client()}
    clients["manager"].force_login(users.get(username="bench-am-01"))
    clients["superuser"].force_login(users.get(username="bench-admin"))
    cursor = psycopg.connect(url, autocommit=True).cursor()
    results = []
    for name, path in pages:
        for who, client in clients.items():
            client.get(path)
            with CaptureQueriesContext(connection) as captured:
                response = client.get(path)
            assert response.status_code == 200, (name, who, response.status_code)
            queries = list(captured.captured_queries)
            problems = sorted({p for q in queries for p in check_statement(cursor, q["sql"])})
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                client.get(path)
                times.append((time.perf_counter() - started) * 1000)
            median = statistics.median(times)
            results.append(
                {
                    "report": name,
                    "who": who,
                    "median_ms": median,
                    "queries": len(queries),
                    "problems": problems,
                    "ok": median <= TARGET_MS and not problems,
                }
            )
            log(f"  {name:<11} {who:<10} median {median:7.1f} ms, {len(queries)} queries {problems}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000, help="customers to load (default 1,000,000)")
    parser.add_argument("--touchpoints", type=int, default=None, help="touchpoints (default 5 per customer)")
    parser.add_argument("--runs", type=int, default=9, help="timed runs per page (default 9)")
    add_database_url_argument(parser, DEFAULT_URL)
    parser.add_argument("--skip-load", action="store_true", help="measure the database as it is")
    parser.add_argument("--skip-figures", action="store_true", help="do not run the nightly job first")
    args = parser.parse_args(argv)
    url = args.database_url
    bench_database_name(url)
    today = dt.date.today()
    if not args.skip_load:
        plan = Plan(customers=args.customers, touchpoints=args.touchpoints or 5 * args.customers, today=today)
        log(f"reports bench: loading {plan.customers:,} customers, {plan.touchpoints:,} touchpoints")
        load(url, plan)
        load_report_data(url, today)
    results = measure(url, args.runs, record_figures=not args.skip_figures)
    failed = [r for r in results if not r["ok"]]
    print()
    print("| page | who | median ms | queries | problems |")
    print("|---|---|---:|---:|---|")
    for r in results:
        print(f"| {r['report']} | {r['who']} | {r['median_ms']:.1f} | {r['queries']} | {', '.join(r['problems'])} |")
    print()
    print("PASS" if not failed else f"FAIL: {len(failed)} page(s) over {TARGET_MS:.0f} ms or with problems")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
