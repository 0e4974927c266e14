"""The planner benchmark (``make bench``): the planner against a bare SQL INSERT on PostgreSQL.

    python bench/run.py                      # 1,000,000 customers, 3 repetitions
    python bench/run.py --quick              # 50,000 customers, 1 repetition: a smoke run
    python bench/run.py --output docs/benchmarks.md

What it does, in one run (docs/benchmarks.md has the method and the results):

1. drops and creates the bench database (its name must contain "bench"), runs ``manage.py migrate``;
2. loads a quarter of the customers, one ``became_customer`` milestone each, with set-based SQL,
   and runs the planner's full sweep once to get its peak RSS at N/4;
3. loads the rest, VACUUM ANALYZE, creates ``bench_bare_touchpoint`` (LIKE campaigns_touchpoint
   INCLUDING ALL) and checks that it has the same columns, indexes and check constraints;
4. repeats: the full sweep in a fresh process, a second sweep with nothing changed in a fresh
   process, and the bare ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` that writes the same
   number of rows, in a fresh connection; the touchpoints and planner runs are truncated first;
5. prints the medians, the ratios and PASS/FAIL against the targets, and with ``--output``
   writes them into the results section of a Markdown file.

The database URL comes from ``--database-url`` only: ``make bench`` sets DATABASE_URL to the
test database, which this script must never drop.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    ROOT,
    Stopwatch,
    add_database_url_argument,
    argument_parser,
    bench_database_name,
    checkpoint,
    child_env,
    connect,
    execute,
    log,
    machine,
    marked,
    migrate,
    postgres_facts,
    recreate_database,
    run_json,
    vacuum_analyze,
    write_section,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/nurture_bench"
# A Wednesday; the 60-day window holds Easter, May Day, Ascension, ANZAC Day, Memorial Day, Whit Monday
# and the UK bank holidays, so the business-day rules have work to do.
DEFAULT_DATE = "2026-04-01"
HISTORY_DAYS = 5 * 365 + 1
RESULTS_START = "<!-- bench:results:start -->"
RESULTS_END = "<!-- bench:results:end -->"

# Targets (the issue): the full plan within 3x of the bare SQL, a second run with nothing changed
# within 1x of it, and memory flat in the number of customers (peak RSS at N within 1.2x of N/4).
FULL_TARGET = 3.0
SECOND_TARGET = 1.0
RSS_TARGET = 1.2

# (country, region, IANA zone, city); every (country, region) is one the holidays package knows.
CALENDARS = [
    ("US", "CA", "America/Los_Angeles", "San Francisco"),
    ("US", "NY", "America/New_York", "New York"),
    ("GB", "", "Europe/London", "London"),
    ("DE", "BY", "Europe/Berlin", "Munich"),
    ("AU", "NSW", "Australia/Sydney", "Sydney"),
    ("NZ", "", "Pacific/Auckland", "Auckland"),
    ("", "", "UTC", ""),
]
# Index into CALENDARS (1-based) drawn uniformly from these 20 entries: 20% US/CA, 20% US/NY, 15% GB,
# 15% DE/BY, 10% AU/NSW, 5% NZ, 15% no country (weekends only).
CALENDAR_WEIGHTS = [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 6, 7, 7, 7]
ACCOUNT_MANAGERS = 5
FIRST_NAMES = ["Ada", "Ben", "Chloe", "Dev", "Emma", "Felix", "Grace", "Hugo", "Iris", "Jonas", "Kai", "Lena"]
LAST_NAMES = ["Lovelace", "Okafor", "Schmidt", "Nguyen", "Smith", "Garcia", "Tanaka", "Brown", "Rossi", "Kowalski"]

# The default cadence on became_customer (campaigns/migrations/0002_default_cadences.py); the bare
# SQL below hard-codes these schedules, so the run stops if the rules differ.
EXPECTED_RULES = {
    "welcome-call": ("call", 14, "days", None, "next", 3),
    "six-month-follow-up": ("card", 6, "months", None, "none", 3),
    "anniversary-card": ("card", 12, "months", 12, "none", 3),
}

LOAD_CUSTOMERS_SQL = """
INSERT INTO nurture_customer (
    external_id, first_name, last_name, company, email, phone, address_line1, address_line2, city, region,
    postal_code, country, time_zone, account_manager_id, status, tier, holdout, created_at, updated_at
)
SELECT
    'BENCH-' || lpad(s.g::text, 9, '0'),
    (%(first_names)s::text[])[1 + floor(s.r1 * cardinality(%(first_names)s::text[]))::int],
    (%(last_names)s::text[])[1 + floor(s.r2 * cardinality(%(last_names)s::text[]))::int],
    'Company ' || (s.g %% 50000),
    'customer' || s.g || '@example.com',
    '+1 555 ' || lpad((s.g %% 10000000)::text, 7, '0'),
    (1 + s.g %% 999) || ' Bench Street',
    '',
    (%(cities)s::text[])[s.cal],
    (%(regions)s::text[])[s.cal],
    lpad((s.g %% 99999)::text, 5, '0'),
    (%(countries)s::text[])[s.cal],
    (%(zones)s::text[])[s.cal],
    -- one customer in six has no account manager
    (%(managers)s::bigint[])[1 + floor(s.r3 * (cardinality(%(managers)s::bigint[]) + 1))::int],
    'active',
    '',
    false,
    now(),
    now()
FROM (
    SELECT g, random() AS r1, random() AS r2, random() AS r3,
        (%(weights)s::int[])[1 + floor(random() * cardinality(%(weights)s::int[]))::int] AS cal
    FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
) s
"""

LOAD_MILESTONES_SQL = """
INSERT INTO nurture_milestone (customer_id, kind_id, date, note, created_at, updated_at)
SELECT c.id, %(kind)s, %(as_of)s::date - 1 - floor(random() * %(days)s)::int, '', now(), now()
FROM nurture_customer c
WHERE c.id > %(after)s
ORDER BY c.id
"""

# The bare baseline: the three default rules with plain date arithmetic (PostgreSQL's month
# arithmetic clamps to the month's end like nurture.lib.calendar.add_months), weekends only for the
# business days (no public holidays), due dates in [start, end + extra], and only the rows up to
# the (customer, rule) cut, so that it writes exactly the planner's number of rows (see
# docs/benchmarks.md, "The bare SQL").
BARE_COLUMNS = """
SELECT
    c.id, o.rule_id, m.id, m.date, o.k, o.occurs_on, o.due_on, o.action, 'pending',
    c.account_manager_id, o.due_on < %(as_of)s, 1, 0, '', '', '', '', '', now(), now()"""
BARE_FROM = """
FROM nurture_customer c
JOIN nurture_milestone m ON m.customer_id = c.id AND m.kind_id = %(kind)s
CROSS JOIN LATERAL (
    SELECT v.rule_id, v.action, v.k, v.occurs_on,
        CASE WHEN v.action = 'call'
            -- next business day: Saturday + 2, Sunday + 1
            THEN v.occurs_on + ('{0,0,0,0,0,2,1}'::int[])[extract(isodow FROM v.occurs_on)::int]
            -- three business days before: Mon-Wed - 5, Thu-Sat - 3, Sun - 4
            ELSE v.occurs_on - ('{5,5,5,3,3,3,4}'::int[])[extract(isodow FROM v.occurs_on)::int]
        END AS due_on
    FROM (VALUES
        (%(welcome)s::bigint, 'call', 0, m.date + 14),
        (%(six_month)s::bigint, 'card', 0, (m.date + interval '6 months')::date),
        (%(anniversary)s::bigint, 'card', %(year)s - extract(year FROM m.date)::int - 1,
            (m.date + make_interval(years => %(year)s - extract(year FROM m.date)::int))::date),
        (%(anniversary)s::bigint, 'card', %(year)s - extract(year FROM m.date)::int,
            (m.date + make_interval(years => %(year)s + 1 - extract(year FROM m.date)::int))::date)
    ) AS v (rule_id, action, k, occurs_on)
    WHERE v.k >= 0
) o
WHERE c.status = 'active' AND o.due_on BETWEEN %(start)s AND %(end)s::date + %(extra)s
"""
BARE_CUT = """    AND c.id <= %(cut_customer)s AND (c.id, o.rule_id) <= (%(cut_customer)s, %(cut_rule)s)
"""

# The columns of planning._INSERT_SQL, in its order; run.py stops if the planner's list changes.
BARE_INSERT_COLUMNS = [
    "customer_id", "rule_id", "milestone_id", "milestone_date", "occurrence_index", "occurs_on", "due_on", "kind",
    "status", "assignee_id", "late", "rule_version", "attempt", "hold_reason", "cancel_reason", "skip_reason",
    "outcome", "notes", "created_at", "updated_at",
]  # fmt: skip
BARE_INSERT_SQL = (
    f"\nINSERT INTO bench_bare_touchpoint ({', '.join(BARE_INSERT_COLUMNS)})"
    + BARE_COLUMNS
    + BARE_FROM
    + BARE_CUT
    + """ON CONFLICT DO NOTHING
"""
)

PLANNER_TABLES = ["campaigns_touchpoint", "campaigns_plannerrun", "campaigns_plannerchunk", "campaigns_planslot"]


# --- Setting up ------------------------------------------------------------------------------


@dataclass
class Setup:
    kind_id: int
    rules: dict[str, int]
    managers: list[int]


def check_rules(url: str) -> Setup:
    with connect(url) as conn:
        row = conn.execute("SELECT id FROM nurture_milestonekind WHERE slug = 'became_customer'").fetchone()
        if row is None:
            raise SystemExit("no became_customer milestone kind: did the default data migration run?")
        kind_id = int(row[0])
        rows = conn.execute(
            """
            SELECT r.slug, r.id, r.action, r.offset_amount, r.offset_unit, r.repeat_every_months,
                r.business_day_policy, r.card_lead_days
            FROM campaigns_rule r JOIN campaigns_cadence cd ON cd.id = r.cadence_id
            WHERE r.active AND cd.active AND cd.anchor_kind_id = %s AND cd.tiers = '' AND cd.countries = ''
                AND NOT EXISTS (SELECT 1 FROM campaigns_cadence_tags cdt WHERE cdt.cadence_id = cd.id)
            """,
            [kind_id],
        ).fetchall()
    found = {slug: tuple(rest) for slug, _pk, *rest in rows}
    if found != EXPECTED_RULES:
        raise SystemExit(f"the became_customer rules differ from the defaults the bare SQL assumes: {found}")
    return Setup(kind_id=kind_id, rules={slug: int(pk) for slug, pk, *_ in rows}, managers=[])


def create_managers(url: str) -> list[int]:
    with connect(url) as conn:
        rows = conn.execute(
            """
            INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                is_active, date_joined)
            SELECT '!', false, 'bench-manager-' || g, 'Manager', g::text, 'manager' || g || '@example.com',
                true, true, now()
            FROM generate_series(1, %s) g
            RETURNING id
            """,
            [ACCOUNT_MANAGERS],
        ).fetchall()
    return [int(row[0]) for row in rows]


def load_customers(url: str, setup: Setup, first: int, last: int, as_of: dt.date) -> None:
    """Customers first..last (ids follow, in a fresh database), one became_customer milestone each."""
    watch = Stopwatch()
    with connect(url) as conn:
        conn.execute("SELECT setseed(%s)", [0.5 * first / (first + last)])
        after = conn.execute("SELECT coalesce(max(id), 0) FROM nurture_customer").fetchone()
        conn.execute(
            LOAD_CUSTOMERS_SQL,
            {
                "first_names": FIRST_NAMES,
                "last_names": LAST_NAMES,
                "cities": [cal[3] for cal in CALENDARS],
                "regions": [cal[1] for cal in CALENDARS],
                "countries": [cal[0] for cal in CALENDARS],
                "zones": [cal[2] for cal in CALENDARS],
                "managers": setup.managers,
                "weights": CALENDAR_WEIGHTS,
                "first": first,
                "last": last,
            },
        )
        conn.execute(
            LOAD_MILESTONES_SQL,
            {"kind": setup.kind_id, "as_of": as_of, "days": HISTORY_DAYS, "after": after[0] if after else 0},
        )
    log(f"  loaded customers {first:,}..{last:,} with their milestones in {watch.seconds:.1f}s")


def truncate_planner(url: str) -> None:
    execute(url, sql.SQL("TRUNCATE {} CASCADE").format(sql.SQL(", ").join(map(sql.Identifier, PLANNER_TABLES))))


# --- The bare table --------------------------------------------------------------------------


def _shape(conn: psycopg.Connection[Any], table: str) -> dict[str, list[str]]:
    columns = conn.execute(
        """
        SELECT column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(is_identity, '')
        FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position
        """,
        [table],
    ).fetchall()
    indexes = conn.execute(
        """
        SELECT regexp_replace(pg_get_indexdef(i.indexrelid), '^.* USING ', '')
        FROM pg_index i WHERE i.indrelid = %s::regclass
        """,
        [table],
    ).fetchall()
    checks = conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'c'",
        [table],
    ).fetchall()
    foreign_keys = conn.execute(
        "SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'", [table]
    ).fetchall()
    return {
        "columns": [row[0] for row in columns],
        "indexes": sorted(row[0] for row in indexes),
        "checks": sorted(row[0] for row in checks),
        "foreign keys": [str(foreign_keys[0][0])],
    }


def create_bare_table(url: str) -> dict[str, list[str]]:
    with connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_bare_touchpoint")
        conn.execute("CREATE TABLE bench_bare_touchpoint (LIKE campaigns_touchpoint INCLUDING ALL)")
        planner, bare = _shape(conn, "campaigns_touchpoint"), _shape(conn, "bench_bare_touchpoint")
    for key in ("columns", "indexes", "checks"):
        if planner[key] != bare[key]:
            raise SystemExit(f"bench_bare_touchpoint differs from campaigns_touchpoint in its {key}: {bare[key]}")
    log(
        f"  bench_bare_touchpoint: same {len(bare['columns'])} columns, {len(bare['indexes'])} indexes "
        f"(the partial unique one included) and {len(bare['checks'])} check constraints; "
        f"{planner['foreign keys'][0]} foreign keys not copied"
    )
    return planner


@dataclass
class Bare:
    """Which candidate rows the bare SQL writes: due dates up to `extra` days past the window end,
    in (customer, rule) order up to and including (cut_customer, cut_rule)."""

    rows: int
    extra: int
    candidates: int
    cut_customer: int
    cut_rule: int


def bare_params(setup: Setup, as_of: dt.date, end: dt.date, extra: int, cut: tuple[int, int]) -> dict[str, Any]:
    return {
        "kind": setup.kind_id,
        "welcome": setup.rules["welcome-call"],
        "six_month": setup.rules["six-month-follow-up"],
        "anniversary": setup.rules["anniversary-card"],
        "year": as_of.year,
        "as_of": as_of,
        "start": as_of,
        "end": end,
        "extra": extra,
        "cut_customer": cut[0],
        "cut_rule": cut[1],
    }


def plan_bare(url: str, setup: Setup, as_of: dt.date, end: dt.date, rows: int) -> Bare:
    """The fewest extra days with at least `rows` candidates, and the cut after the rows-th (untimed)."""
    columns = ", ".join(f"count(*) FILTER (WHERE o.due_on <= %(end)s::date + {extra})" for extra in range(15))
    with connect(url) as conn:
        row = conn.execute(f"SELECT {columns}" + BARE_FROM, bare_params(setup, as_of, end, 14, (0, 0))).fetchone()
        counts = [int(count) for count in row or []]
        extra = next((extra for extra, count in enumerate(counts) if count >= rows), None)
        if extra is None:
            raise SystemExit(f"the bare SQL finds only {counts[-1]} candidate rows, the planner created {rows}")
        params = {**bare_params(setup, as_of, end, extra, (0, 0)), "offset": rows - 1}
        cut = conn.execute(
            "SELECT c.id, o.rule_id" + BARE_FROM + "ORDER BY c.id, o.rule_id OFFSET %(offset)s LIMIT 1", params
        ).fetchone()
    assert cut is not None
    return Bare(rows=rows, extra=extra, candidates=counts[extra], cut_customer=int(cut[0]), cut_rule=int(cut[1]))


def run_bare(url: str, setup: Setup, as_of: dt.date, end: dt.date, bare: Bare) -> dict[str, Any]:
    execute(url, "TRUNCATE bench_bare_touchpoint RESTART IDENTITY")
    checkpoint(url)
    load = os.getloadavg()[0]
    watch = Stopwatch()
    with connect(url) as conn:
        params = bare_params(setup, as_of, end, bare.extra, (bare.cut_customer, bare.cut_rule))
        written = conn.execute(BARE_INSERT_SQL, params).rowcount
    return {"seconds": watch.seconds, "rows": written, "load": load}


# --- The planner -----------------------------------------------------------------------------


def run_planner(url: str, as_of: dt.date, label: str) -> dict[str, Any]:
    checkpoint(url)
    command = [sys.executable, str(ROOT / "bench" / "plan_once.py"), "--date", as_of.isoformat(), "--label", label]
    load = os.getloadavg()[0]
    watch = Stopwatch()
    report = run_json(command, child_env(url))
    report["process_seconds"] = watch.seconds
    report["load"] = load
    return report


def describe_plan(label: str, report: dict[str, Any]) -> None:
    parts = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in report["breakdown"].items())
    log(
        f"  {label}: {report['seconds']:.2f}s in plan() ({report['process_seconds']:.2f}s with process start-up), "
        f"{report['created']:,} created, {report['cancelled']:,} cancelled, {report['chunks']} chunks, "
        f"peak RSS {report['peak_rss_mib']:.0f} MiB, load average {report['load']:.1f} [{parts}]"
    )


# --- Results ---------------------------------------------------------------------------------


@dataclass
class Results:
    customers: int
    as_of: dt.date
    repetitions: int
    quarter: dict[str, Any] | None = None
    full: list[dict[str, Any]] = field(default_factory=list)
    second: list[dict[str, Any]] = field(default_factory=list)
    bare: list[dict[str, Any]] = field(default_factory=list)
    bare_plan: Bare | None = None
    load_seconds: float = 0.0


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def each(values: Iterable[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


def median(reports: Iterable[dict[str, Any]], key: str = "seconds") -> float:
    return float(statistics.median(report[key] for report in reports))


def render(results: Results, facts: list[tuple[str, str]]) -> str:
    bare_plan = results.bare_plan
    assert bare_plan is not None
    full, bare = median(results.full), median(results.bare)
    full_rss = max(report["peak_rss_mib"] for report in results.full)
    created = results.full[0]["created"]
    loads = [report["load"] for report in (*results.full, *results.second, *results.bare)]
    lines = [
        f"Run on {dt.date.today().isoformat()} (`{' '.join(['python', 'bench/run.py', *sys.argv[1:]])}`): "
        f"{results.customers:,} customers, one `became_customer` milestone each, planned as of "
        f"{results.as_of.isoformat()} with a 60-day horizon; median of "
        f"{results.repetitions} repetition(s); loading took {results.load_seconds:.0f}s; 1-minute load average "
        f"before the measurements {min(loads):.1f} to {max(loads):.1f} (other work on the machine).",
        "",
        "| | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in facts),
        "",
        "| measurement | rows | seconds (median) | each repetition | ratio to bare (median) | ratio in each "
        "repetition | target | result |",
        "|---|---:|---:|---|---:|---|---:|---|",
        f"| bare SQL `INSERT ... SELECT ... ON CONFLICT DO NOTHING` | {bare_plan.rows:,} | {bare:.2f} | "
        f"{each(r['seconds'] for r in results.bare)} | 1.00 | | | |",
    ]
    for label, reports, target in (
        ("planner, full sweep", results.full, FULL_TARGET),
        ("planner, second sweep, nothing changed", results.second, SECOND_TARGET),
    ):
        seconds = median(reports)
        ratios = [r["seconds"] / b["seconds"] for r, b in zip(reports, results.bare, strict=True)]
        lines.append(
            f"| {label} | {reports[0]['created']:,} | {seconds:.2f} | {each(r['seconds'] for r in reports)} | "
            f"{seconds / bare:.2f}x | {each(ratios)} | <= {target:.1f}x | {verdict(seconds <= target * bare)} |"
        )
    if results.quarter is not None:
        quarter_rss = results.quarter["peak_rss_mib"]
        lines += [
            "",
            "| planner, full sweep, fresh process | customers | rows | seconds | peak RSS | target | result |",
            "|---|---:|---:|---:|---:|---:|---|",
            f"| at N/4 | {results.customers // 4:,} | {results.quarter['created']:,} | "
            f"{results.quarter['seconds']:.2f} | {quarter_rss:.0f} MiB | | |",
            f"| at N | {results.customers:,} | {created:,} | {full:.2f} | {full_rss:.0f} MiB | "
            f"<= {RSS_TARGET:.1f}x N/4 | {verdict(full_rss <= RSS_TARGET * quarter_rss)} "
            f"({full_rss / quarter_rss:.2f}x) |",
        ]
    lines += [
        "",
        "Where the planner's time went (seconds, median over the repetitions; start_sweep includes compute_slots):",
        "",
        "| run | start_sweep | compute_slots | reconcile | materialise | other | total in plan() "
        "| with process start-up |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, reports in (("full sweep", results.full), ("second sweep", results.second)):
        parts = {
            name: float(statistics.median(report["breakdown"].get(name, 0.0) for report in reports))
            for name in ("start_sweep", "compute_slots", "reconcile", "materialise")
        }
        total = median(reports)
        other = total - parts["start_sweep"] - parts["reconcile"] - parts["materialise"]
        lines.append(
            f"| {label} | {parts['start_sweep']:.2f} | {parts['compute_slots']:.2f} | {parts['reconcile']:.2f} | "
            f"{parts['materialise']:.2f} | {other:.2f} | {total:.2f} | {median(reports, 'process_seconds'):.2f} |"
        )
    lines += [
        "",
        f"The bare SQL's candidates (due dates up to {bare_plan.extra} day(s) past the window end): "
        f"{bare_plan.candidates:,}; it wrote those up to (customer {bare_plan.cut_customer:,}, rule "
        f"{bare_plan.cut_rule}), exactly the planner's {bare_plan.rows:,} rows.",
    ]
    return "\n".join(lines) + "\n"


def write_output(path: Path, section: str) -> None:
    block = marked(RESULTS_START, section, RESULTS_END)
    write_section(path, block, RESULTS_START, RESULTS_END, new_file="# Benchmarks\n", heading="## Results\n\n")


# --- Main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--customers", type=int, default=None, help="customers to load (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 50,000 customers, 1 repetition")
    parser.add_argument("--repetitions", type=int, default=None, help="measurement rounds (default 3, quick 1)")
    add_database_url_argument(parser, DEFAULT_URL)
    parser.add_argument("--date", default=DEFAULT_DATE, help=f"plan as of this date (default {DEFAULT_DATE})")
    parser.add_argument("--no-memory-check", action="store_true", help="skip the planner run at N/4 customers")
    parser.add_argument("--output", type=Path, help="write the results into this Markdown file's results section")
    args = parser.parse_args(argv)

    customers = args.customers or (50_000 if args.quick else 1_000_000)
    repetitions = args.repetitions or (1 if args.quick else 3)
    url = args.database_url
    name = bench_database_name(url)
    as_of = dt.date.fromisoformat(args.date)
    results = Results(customers=customers, as_of=as_of, repetitions=repetitions)

    log(f"bench: {customers:,} customers, {repetitions} repetition(s), database {name}, as of {as_of}")
    log("(re)creating the database and migrating")
    watch = Stopwatch()
    recreate_database(url)
    migrate(url)
    log(f"  migrated in {watch.seconds:.1f}s")
    setup = check_rules(url)
    setup.managers = create_managers(url)

    quarter = 0 if args.no_memory_check else customers // 4
    if quarter:
        log(f"loading {quarter:,} customers (N/4) for the memory check")
        watch = Stopwatch()
        load_customers(url, setup, 1, quarter, as_of)
        vacuum_analyze(url)
        results.load_seconds += watch.seconds
        log("planner, full sweep at N/4 (fresh process)")
        results.quarter = run_planner(url, as_of, "N/4 sweep")
        describe_plan("full sweep at N/4", results.quarter)
        truncate_planner(url)
    log(f"loading customers {quarter + 1:,}..{customers:,}")
    watch = Stopwatch()
    load_customers(url, setup, quarter + 1, customers, as_of)
    vacuum_analyze(url)
    results.load_seconds += watch.seconds
    create_bare_table(url)

    for repetition in range(1, repetitions + 1):
        log(f"repetition {repetition}/{repetitions}")
        truncate_planner(url)
        full = run_planner(url, as_of, "full sweep")
        describe_plan("full sweep", full)
        results.full.append(full)
        second = run_planner(url, as_of, "second sweep")
        describe_plan("second sweep, nothing changed", second)
        results.second.append(second)
        rows = int(full["created"])
        if full.get("insert_columns") not in (None, BARE_INSERT_COLUMNS):
            raise SystemExit(
                f"planning._INSERT_SQL now writes the columns {full['insert_columns']}; "
                f"update BARE_INSERT_COLUMNS and BARE_COLUMNS in bench/run.py (they write {BARE_INSERT_COLUMNS})"
            )
        window_end = dt.date.fromisoformat(full["window"][1])
        if results.bare_plan is None:
            results.bare_plan = plan_bare(url, setup, as_of, window_end, rows)
        elif rows != results.bare_plan.rows:
            raise SystemExit(f"the planner created {rows} rows this time, {results.bare_plan.rows} before")
        bare = run_bare(url, setup, as_of, window_end, results.bare_plan)
        if bare["rows"] != rows:
            raise SystemExit(f"the bare SQL wrote {bare['rows']} rows, the planner {rows}")
        log(f"  bare SQL: {bare['seconds']:.2f}s, {bare['rows']:,} rows (fresh connection), load {bare['load']:.1f}")
        results.bare.append(bare)

    section = render(results, [*machine(), *postgres_facts(url)])
    print()
    print(section)
    if args.output:
        write_output(args.output, section)
        log(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
