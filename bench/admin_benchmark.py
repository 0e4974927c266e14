"""The admin at scale: Today and the customer and touchpoint change lists on 1,000,000 customers.

    python bench/admin_benchmark.py                       # 1,000,000 customers, 5,000,000 touchpoints
    python bench/admin_benchmark.py --quick               # 50,000 customers, 250,000 touchpoints: a smoke run
    python bench/admin_benchmark.py --skip-load --output docs/benchmarks-admin.md   # measure the loaded database again

What it does, in one run (docs/benchmarks-admin.md has the method and the results):

1. drops and creates the bench database (its name must contain "bench"), runs ``manage.py migrate``
   (bench/run.py's helpers), creates 20 account managers (the "Account managers" group) and a
   superuser, and loads with set-based SQL: the customers with one ``became_customer`` milestone
   each (bench/run.py's loader; one customer in 21 has no account manager), a few statuses and tags,
   the touchpoints (due dates uniform over about three years ending 60 days ahead, in due-date
   order like the planner writes them: done in the past, some overdue, pending ahead; 40% calls),
   the cards of the card touchpoints (mailed in daily batches, drafts and approved ahead, cancelled),
   then VACUUM ANALYZE;
2. in a child process with DATABASE_URL pointing at the bench database (Django set up there, no
   network), signs in with ``django.test.Client.force_login`` as an account manager and as the
   superuser and GETs each page: once to warm up, once with the SQL captured
   (``CaptureQueriesContext``), once more with the list at a smaller page size (the number of queries
   must not change: no N+1), then ``--runs`` times, each round timing the page around
   ``client.get`` (the whole Django request and response) and then the page's main query bare,
   through a psycopg cursor on its own connection;
3. checks every captured statement: each COUNT must have a LIMIT (the capped paginator), no
   sequential scan of a big table in its plan (EXPLAIN), no select box with thousands of options in
   the HTML; times every statement of the page bare (median of 5) and keeps EXPLAIN ANALYZE of the
   main and the slowest query;
4. prints the table and PASS/FAIL (median <= 300 ms), and with ``--output`` writes it into a
   section of a Markdown file (``--section`` names it, so that runs of different versions can sit
   side by side).

The database URL comes from ``--database-url`` only, never from DATABASE_URL.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg import sql as pgsql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    ROOT,
    Stopwatch,
    add_database_url_argument,
    argument_parser,
    bench_database_name,
    child_env,
    connect,
    execute,
    log,
    machine,
    marked,
    migrate,
    postgres_facts,
    recreate_database,
    setup_django,
    vacuum_analyze,
    write_section,
)
from bench.run import Setup, load_customers

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/nurture_bench_admin"
SECTION_DEFAULT = "results"
TARGET_MS = 300.0
ACCOUNT_MANAGERS = 20
# Due dates run from DAYS_BACK days ago to HORIZON days ahead (about three years), in one slot per
# touchpoint of a customer, so a customer's touchpoints never share a (rule, milestone, date).
HORIZON = 60
DAYS_BACK = 3 * 365 - HORIZON
CALL_SHARE = 0.4
BIG_TABLES = ("nurture_customer", "nurture_milestone", "campaigns_touchpoint", "campaigns_card")
# A select box with more options than this lists a table, not a handful of choices.
SELECT_LIMIT = 500


# --- Loading ---------------------------------------------------------------------------------

USERS_SQL = """
INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active,
    date_joined)
SELECT '!', false, 'bench-am-' || lpad(g::text, 2, '0'), 'Manager', g::text, 'am' || g || '@example.com', true,
    true, now()
FROM generate_series(1, %(managers)s) g
ORDER BY g
RETURNING id
"""

CUSTOMER_STATUS_SQL = """
UPDATE nurture_customer SET status = CASE
    WHEN id %% 100 < 5 THEN 'paused' WHEN id %% 100 < 8 THEN 'churned' ELSE 'do_not_contact' END
WHERE id %% 100 < 10
"""

TAGS_SQL = """
WITH tags AS (
    INSERT INTO nurture_tag (slug, name) VALUES ('vip', 'VIP'), ('newsletter', 'Newsletter'), ('partner', 'Partner')
    RETURNING id, slug
)
INSERT INTO nurture_customer_tags (customer_id, tag_id)
SELECT c.id, t.id FROM nurture_customer c JOIN tags t
    ON (t.slug = 'vip' AND c.id %% 20 = 3) OR (t.slug = 'newsletter' AND c.id %% 4 = 1)
        OR (t.slug = 'partner' AND c.id %% 50 = 7)
"""

# One slot of touchpoints: one per customer, due in [start, start + days), written in due-date order.
TOUCHPOINTS_SQL = """
INSERT INTO campaigns_touchpoint (
    customer_id, rule_id, milestone_id, milestone_date, occurrence_index, occurs_on, due_on, kind, status,
    assignee_id, late, rule_version, attempt, hold_reason, cancel_reason, skip_reason, outcome, notes,
    created_at, updated_at, completed_at, completed_by_id
)
SELECT
    t.customer_id,
    CASE WHEN t.is_call THEN %(call_rule)s::bigint ELSE %(card_rule)s::bigint END,
    t.milestone_id, t.milestone_date, %(slot)s,
    CASE WHEN t.is_call THEN t.due_on ELSE t.due_on + 4 END,
    t.due_on,
    CASE WHEN t.is_call THEN 'call' ELSE 'card' END,
    s.status,
    t.assignee_id,
    t.r2 < 0.01,
    1, 0,
    CASE WHEN s.status = 'held' THEN 'frequency cap: 3 in 30 days' ELSE '' END,
    CASE WHEN s.status = 'cancelled' THEN 'rule edited' ELSE '' END,
    CASE WHEN s.status = 'skipped' THEN 'customer asked for no calls this quarter' ELSE '' END,
    CASE WHEN s.status = 'done' AND t.is_call
        THEN ('{reached,reached,voicemail,no_answer}'::text[])[1 + floor(t.r2 * 4)::int] ELSE '' END,
    CASE WHEN s.status = 'done' AND t.is_call AND t.r2 < 0.3 THEN 'Happy with the service; call again in spring.'
        ELSE '' END,
    (t.due_on - 60)::timestamptz,
    CASE WHEN s.status = 'done' THEN t.due_on + interval '10 hours' ELSE (t.due_on - 60)::timestamptz END,
    CASE WHEN s.status = 'done' THEN t.due_on + interval '10 hours' END,
    CASE WHEN s.status = 'done' THEN t.assignee_id END
FROM (
    SELECT c.id AS customer_id, m.id AS milestone_id, m.date AS milestone_date, c.account_manager_id AS assignee_id,
        %(start)s::date + floor(random() * %(days)s)::int AS due_on,
        random() < %(call_share)s AS is_call, random() AS r, random() AS r2
    FROM nurture_customer c JOIN nurture_milestone m ON m.customer_id = c.id AND m.kind_id = %(kind)s
) t
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN t.due_on >= %(today)s THEN
            CASE WHEN t.r < 0.02 THEN 'cancelled' WHEN t.r < 0.03 THEN 'held' ELSE 'pending' END
        WHEN t.due_on >= %(today)s::date - 30 THEN
            CASE WHEN t.r < 0.25 THEN 'pending' WHEN t.r < 0.28 THEN 'skipped' WHEN t.r < 0.32 THEN 'cancelled'
                ELSE 'done' END
        ELSE
            CASE WHEN t.r < 0.003 THEN 'pending' WHEN t.r < 0.033 THEN 'skipped' WHEN t.r < 0.073 THEN 'cancelled'
                ELSE 'done' END
    END AS status
) s
ORDER BY t.due_on, t.customer_id
"""

BATCHES_SQL = """
INSERT INTO campaigns_batch (status, due_by, sheet, labels, "order", card_count, chunk_count, chunks_done, cards_done,
    file_size, file_count, files_done, error, cards_pdf, labels_pdf, manifest_csv, zones_csv, created_at, rendered_at,
    printed_at, mailed_at)
SELECT 'mailed', d, 'card', 'l7160', 'mail_by', 0, 1, 1, 0, 0, 0, 0, '', '', '', '', '', d - 2, d - 2, d - 1, d
FROM (SELECT DISTINCT due_on AS d FROM campaigns_touchpoint WHERE kind = 'card' AND status = 'done') x
ORDER BY d
"""

CARD_COLUMNS = """
INSERT INTO campaigns_card (message, message_edited, fits, fit_problem, status, recipient_name, recipient_company,
    address_line1, address_line2, city, region, postal_code, country, approved_at, sequence, created_at,
    updated_at, approved_by_id, batch_id, touchpoint_id, design_id, mail_by)
"""

MAILED_CARDS_SQL = (
    CARD_COLUMNS
    + """
SELECT 'Dear ' || c.first_name || E',\n\nthank you for another year with us.\n\nWarm regards', false, true, '',
    'mailed', c.first_name || ' ' || c.last_name, c.company, c.address_line1, '', c.city, c.region, c.postal_code,
    c.country, t.created_at, row_number() OVER (PARTITION BY t.due_on ORDER BY t.id), t.created_at,
    t.due_on::timestamptz, t.assignee_id, b.id, t.id, %(design)s, t.due_on
FROM campaigns_touchpoint t
JOIN nurture_customer c ON c.id = t.customer_id
JOIN campaigns_batch b ON b.due_by = t.due_on
WHERE t.kind = 'card' AND t.status = 'done' AND t.due_on >= %(start)s AND t.due_on < %(end)s
"""
)

OPEN_CARDS_SQL = (
    CARD_COLUMNS
    + """
SELECT 'Dear ' || c.first_name || E',\n\nthank you for another year with us.\n\nWarm regards', false,
    CASE WHEN x.status = 'approved' OR x.r < 0.8 THEN true END, '', x.status,
    c.first_name || ' ' || c.last_name, c.company, c.address_line1, '', c.city, c.region, c.postal_code, c.country,
    CASE WHEN x.status = 'approved' THEN t.created_at END, NULL, t.created_at, t.created_at,
    CASE WHEN x.status = 'approved' THEN t.assignee_id END, NULL, t.id, %(design)s, t.due_on
FROM campaigns_touchpoint t
JOIN nurture_customer c ON c.id = t.customer_id
CROSS JOIN LATERAL (
    SELECT random() AS r, CASE
        WHEN t.status IN ('cancelled', 'skipped') THEN 'cancelled'
        WHEN t.status = 'pending' AND t.due_on < %(today)s::date + 14 AND random() < 0.6 THEN 'approved'
        ELSE 'draft'
    END AS status
) x
WHERE t.kind = 'card' AND t.status <> 'done'
"""
)

BATCH_COUNTS_SQL = """
UPDATE campaigns_batch b SET card_count = n.cards
FROM (SELECT batch_id, count(*) AS cards FROM campaigns_card WHERE batch_id IS NOT NULL GROUP BY batch_id) n
WHERE n.batch_id = b.id
"""


@dataclass
class Plan:
    customers: int
    touchpoints: int
    today: dt.date

    @property
    def slots(self) -> int:
        return max(1, round(self.touchpoints / self.customers))


def create_users(url: str) -> tuple[list[int], int]:
    """The account managers (in the "Account managers" group) and a superuser."""
    with connect(url) as conn:
        managers = [int(row[0]) for row in conn.execute(USERS_SQL, {"managers": ACCOUNT_MANAGERS}).fetchall()]
        group = conn.execute("SELECT id FROM auth_group WHERE name = 'Account managers'").fetchone()
        if group is None:
            raise SystemExit("no 'Account managers' group: did nurture/migrations/0009_roles.py run?")
        conn.execute(
            "INSERT INTO auth_user_groups (user_id, group_id) SELECT unnest(%s::int[]), %s", [managers, group[0]]
        )
        row = conn.execute(
            """
            INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                is_active, date_joined)
            VALUES ('!', true, 'bench-admin', 'Bench', 'Admin', 'admin@example.com', true, true, now())
            RETURNING id
            """
        ).fetchone()
    assert row is not None
    return managers, int(row[0])


def lookup_ids(url: str) -> dict[str, int]:
    with connect(url) as conn:
        kind = conn.execute("SELECT id FROM nurture_milestonekind WHERE slug = 'became_customer'").fetchone()
        rules = dict(conn.execute("SELECT slug, id FROM campaigns_rule").fetchall())
        design = conn.execute("SELECT min(id) FROM campaigns_carddesign").fetchone()
    needed = ["welcome-call", "six-month-follow-up", "anniversary-card"]
    if kind is None or design is None or design[0] is None or any(slug not in rules for slug in needed):
        raise SystemExit("the default milestone kinds, rules or card designs are missing: did the migrations run?")
    return {
        "kind": int(kind[0]),
        "call": int(rules["welcome-call"]),
        "six_month": int(rules["six-month-follow-up"]),
        "anniversary": int(rules["anniversary-card"]),
        "design": int(design[0]),
    }


def timed(label: str, url: str, query: str, params: dict[str, Any] | None = None) -> int:
    """One loading statement, foreign key triggers off (the rows are consistent by construction)."""
    watch = Stopwatch()
    with connect(url) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET work_mem = '256MB'")
        rows = conn.execute(query, params if params is not None else {}).rowcount
    log(f"  {label}: {rows:,} rows in {watch.seconds:.1f}s")
    return rows


@contextmanager
def without_indexes(url: str, tables: list[str]) -> Iterator[None]:
    """Drop the tables' plain (non-unique) indexes while loading and build them again after: a build is
    far faster than millions of inserts into each. The unique ones stay, so they check the data."""
    with connect(url) as conn:
        rows = conn.execute(
            """
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
            WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisunique AND NOT i.indisprimary
            """,
            [tables],
        ).fetchall()
        for name, _definition in rows:
            conn.execute(pgsql.SQL("DROP INDEX {}").format(pgsql.Identifier(name)))
    log(f"  dropped {len(rows)} plain indexes of {', '.join(tables)} for the load")
    yield
    watch = Stopwatch()
    with connect(url) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        for _name, definition in rows:
            conn.execute(definition)
    log(f"  built the {len(rows)} indexes again in {watch.seconds:.1f}s")


def load(url: str, plan: Plan) -> float:
    watch = Stopwatch()
    log("(re)creating the database and migrating")
    recreate_database(url)
    migrate(url)
    ids = lookup_ids(url)
    managers, _admin = create_users(url)
    setup = Setup(kind_id=ids["kind"], rules={}, managers=managers)
    log(f"loading {plan.customers:,} customers over {ACCOUNT_MANAGERS} account managers (and one in 21 without)")
    step = max(1, -(-plan.customers // 4))
    # The customers' plain indexes (the search's trigram indexes among them) are built once, after.
    with without_indexes(url, ["nurture_customer"]):
        for first in range(1, plan.customers + 1, step):
            load_customers(url, setup, first, min(plan.customers, first + step - 1), plan.today)
        timed("customer statuses (5% paused, 3% churned, 2% do not contact)", url, CUSTOMER_STATUS_SQL)
    timed("tags (VIP 5%, newsletter 25%, partner 2%)", url, TAGS_SQL)

    with without_indexes(url, ["campaigns_touchpoint", "campaigns_card"]):
        load_touchpoints(url, plan, ids)
    vacuum_analyze(url)
    seconds = watch.seconds
    log(f"loaded in {seconds:.0f}s")
    return seconds


def load_touchpoints(url: str, plan: Plan, ids: dict[str, int]) -> None:
    slots = plan.slots
    start = plan.today - dt.timedelta(days=DAYS_BACK)
    total_days = DAYS_BACK + HORIZON
    log(f"loading {plan.customers * slots:,} touchpoints: {slots} per customer, due {start} to {plan.today}+{HORIZON}")
    for slot in range(slots):
        first_day = slot * total_days // slots
        last_day = (slot + 1) * total_days // slots
        params = {
            "call_rule": ids["call"],
            "card_rule": ids["six_month"] if slot % 2 == 0 else ids["anniversary"],
            "slot": slot,
            "start": start + dt.timedelta(days=first_day),
            "days": last_day - first_day,
            "call_share": CALL_SHARE,
            "kind": ids["kind"],
            "today": plan.today,
        }
        timed(f"touchpoints, slot {slot + 1}/{slots}", url, TOUCHPOINTS_SQL, params)

    execute(url, "ANALYZE nurture_customer, campaigns_touchpoint", autocommit=True)  # plans for the joins below
    log("loading the cards of the card touchpoints")
    timed("batches (one per mail-by date, mailed)", url, BATCHES_SQL)
    for slot in range(slots):
        first_day = slot * total_days // slots
        last_day = (slot + 1) * total_days // slots
        params = {
            "design": ids["design"],
            "start": start + dt.timedelta(days=first_day),
            "end": start + dt.timedelta(days=last_day),
        }
        timed(f"mailed cards, slot {slot + 1}/{slots}", url, MAILED_CARDS_SQL, params)
    timed("open and cancelled cards", url, OPEN_CARDS_SQL, {"design": ids["design"], "today": plan.today})
    timed("batch card counts", url, BATCH_COUNTS_SQL)


def data_facts(url: str, today: dt.date) -> dict[str, Any]:
    with connect(url) as conn:

        def one(query: str, params: dict[str, Any] | None = None) -> Any:
            row = conn.execute(query, params).fetchone()
            return row[0] if row else None

        manager = one("SELECT id FROM auth_user WHERE username = 'bench-am-01'")
        params = {"manager": manager, "today": today}
        return {
            "customers": one("SELECT count(*) FROM nurture_customer"),
            "touchpoints": one("SELECT count(*) FROM campaigns_touchpoint"),
            "cards": one("SELECT count(*) FROM campaigns_card"),
            "touchpoint_status": dict(
                conn.execute("SELECT status, count(*) FROM campaigns_touchpoint GROUP BY 1 ORDER BY 2 DESC").fetchall()
            ),
            "card_status": dict(
                conn.execute("SELECT status, count(*) FROM campaigns_card GROUP BY 1 ORDER BY 2 DESC").fetchall()
            ),
            "due_range": [
                str(value)
                for value in conn.execute("SELECT min(due_on), max(due_on) FROM campaigns_touchpoint").fetchone() or []
            ],
            "manager": "bench-am-01",
            "manager_customers": one(
                "SELECT count(*) FROM nurture_customer WHERE account_manager_id = %(manager)s", params
            ),
            "manager_touchpoints": one(
                "SELECT count(*) FROM campaigns_touchpoint WHERE assignee_id = %(manager)s", params
            ),
            "manager_overdue_calls": one(
                "SELECT count(*) FROM campaigns_touchpoint WHERE assignee_id = %(manager)s AND kind = 'call' "
                "AND status = 'pending' AND due_on < %(today)s",
                params,
            ),
            "manager_draft_cards": one(
                "SELECT count(*) FROM campaigns_card k JOIN campaigns_touchpoint t ON t.id = k.touchpoint_id "
                "JOIN nurture_customer c ON c.id = t.customer_id "
                "WHERE c.account_manager_id = %(manager)s AND k.status = 'draft'",
                params,
            ),
            "sizes": dict(
                conn.execute(
                    "SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class "
                    "WHERE relname = ANY(%s) ORDER BY relname",
                    [list(BIG_TABLES)],
                ).fetchall()
            ),
        }


# --- Candidate fixes (measured here; the lead applies them to the application) ----------------


# --- Measuring (in the child process, with Django) -------------------------------------------


@dataclass(frozen=True)
class Page:
    key: str
    who: str  # "manager" or "superuser"
    label: str
    view: str  # "today", or the change list of "touchpoint", "customer", "milestone" or "card"
    query: str
    in_target: bool = True


# Searches: "Smith" is a common term (one customer in ten, every Smith together in the name order);
# "customer4242" a rare one (111 customers, in the e-mail address; about 5 of the manager's); an
# external ID is an exact match.
RARE = "customer4242"
EXTERNAL_ID = "BENCH-000424242"

PAGES = [
    Page("am-today", "manager", "Today", "today", ""),
    Page("am-tp-first", "manager", "Touchpoints, first page", "touchpoint", ""),
    Page(
        "am-tp-filtered",
        "manager",
        "Touchpoints, Mine overdue calls (Today's 'see all')",
        "touchpoint",
        "queue=mine_overdue&kind__exact=call",
    ),
    Page("am-cu-first", "manager", "Customers, first page", "customer", ""),
    Page("am-cu-filtered", "manager", "Customers, active in GB", "customer", "status__exact=active&country=GB"),
    Page("am-cu-search", "manager", "Customers, search 'Smith'", "customer", "q=Smith"),
    Page("am-cu-search-rare", "manager", f"Customers, search '{RARE}'", "customer", f"q={RARE}"),
    Page("su-tp-first", "superuser", "Touchpoints, first page", "touchpoint", ""),
    Page("su-tp-filtered", "superuser", "Touchpoints, overdue calls", "touchpoint", "queue=overdue&kind__exact=call"),
    Page("su-cu-first", "superuser", "Customers, first page", "customer", ""),
    Page("su-cu-filtered", "superuser", "Customers, active in GB", "customer", "status__exact=active&country=GB"),
    Page("su-cu-search", "superuser", "Customers, search 'Smith'", "customer", "q=Smith"),
    Page("su-cu-search-rare", "superuser", f"Customers, search '{RARE}'", "customer", f"q={RARE}"),
    Page("su-cu-search-id", "superuser", "Customers, search an external ID", "customer", f"q={EXTERNAL_ID}"),
    Page("su-today", "superuser", "Today (with the print room)", "today", ""),
    # The other lists search the same customer columns through their customer: measured, outside the target.
    Page("su-tp-search", "superuser", "Touchpoints, search 'Smith'", "touchpoint", "q=Smith", in_target=False),
    Page("su-tp-search-id", "superuser", "Touchpoints, search an external ID", "touchpoint", f"q={EXTERNAL_ID}", False),
    Page("su-ms-search", "superuser", "Milestones, search 'Smith'", "milestone", "q=Smith", in_target=False),
    Page("su-ms-search-id", "superuser", "Milestones, search an external ID", "milestone", f"q={EXTERNAL_ID}", False),
    Page("su-card-search", "superuser", "Cards, search 'Smith'", "card", "q=Smith", in_target=False),
    Page("su-card-search-id", "superuser", "Cards, search an external ID", "card", f"q={EXTERNAL_ID}", False),
]
# The change lists and their tables.
LIST_TABLES = {
    "touchpoint": "campaigns_touchpoint",
    "customer": "nurture_customer",
    "milestone": "nurture_milestone",
    "card": "campaigns_card",
}

COUNT_RE = re.compile(r"\bCOUNT\(", re.IGNORECASE)
SEQ_SCAN_RE = re.compile(r"Seq Scan on (\w+)")
SELECT_RE = re.compile(r"<select\b.*?</select>", re.DOTALL | re.IGNORECASE)


def classify_count(sql: str) -> str | None:
    """None for a statement without COUNT; "capped" when the counted rows have a LIMIT."""
    if not COUNT_RE.search(sql):
        return None
    if re.search(r"\bLIMIT\s+\d+", sql, re.IGNORECASE):
        return "capped"
    return "filtered" if re.search(r"\bWHERE\b", sql, re.IGNORECASE) else "whole table"


def largest_select(html: str) -> int:
    return max((block.lower().count("<option") for block in SELECT_RE.findall(html)), default=0)


def bare_ms(cursor: Any, sql: str) -> float:
    watch = Stopwatch()
    cursor.execute(sql)
    cursor.fetchall()
    return watch.seconds * 1000


def short(sql: str, width: int = 160) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def child_main(args: argparse.Namespace) -> int:
    setup_django()

    import psycopg
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    import campaigns.selectors.today
    from campaigns.models import Card, Touchpoint
    from nurture.models import Customer, Milestone

    users = get_user_model().objects
    clients = {"manager": Client(), "superuser": Client()}
    clients["manager"].force_login(users.get(username="bench-am-01"))
    clients["superuser"].force_login(users.get(username="bench-admin"))
    models = {"touchpoint": Touchpoint, "customer": Customer, "milestone": Milestone, "card": Card}
    admins = {view: admin.site._registry[model] for view, model in models.items()}
    paths = {"today": reverse("today")} | {
        view: reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for view, model in models.items()
    }
    bare = psycopg.connect(args.database_url, autocommit=True)
    cursor = bare.cursor()
    runs = args.runs
    selected = [page for page in PAGES if not args.pages or page.key in args.pages]
    results = []

    def get(page: Page, url: str) -> tuple[Any, list[dict[str, Any]]]:
        with CaptureQueriesContext(connection) as captured:
            response = clients[page.who].get(url)
        if response.status_code != 200:
            raise SystemExit(f"{page.key}: GET {url} answered {response.status_code}")
        return response, list(captured.captured_queries)

    original_page_sizes: dict[str, int] = {}

    def page_size(page: Page, size: int | None) -> None:
        """The list's page size (None: back to the default)."""
        if page.view == "today":
            campaigns.selectors.today.CALLS_SHOWN = size or 50
            campaigns.selectors.today.CARDS_SHOWN = size or 25
        else:
            model_admin = admins[page.view]
            original = original_page_sizes.setdefault(page.view, model_admin.list_per_page)
            setattr(model_admin, "list_per_page", size or original)  # noqa: B010 (a ClassVar in the stubs)

    for page in selected:
        url = paths[page.view] + (f"?{page.query}" if page.query else "")
        load = os.getloadavg()[0]
        log(f"  {page.who}: {page.label} ({url})")
        get(page, url)  # warm up
        response, queries = get(page, url)
        html = response.content.decode()
        page_size(page, 10)
        _small, small_queries = get(page, url)
        page_size(page, None)

        # Every distinct statement, bare, median of 5; EXPLAIN for sequential scans of big tables.
        statements = []
        for query in queries:
            sql = query["sql"]
            times = [bare_ms(cursor, sql) for _ in range(5)]
            plan = "\n".join(row[0] for row in cursor.execute("EXPLAIN " + sql).fetchall())
            scans = sorted({table for table in SEQ_SCAN_RE.findall(plan) if table in BIG_TABLES})
            statements.append(
                {
                    "sql": sql,
                    "django_ms": float(query["time"]) * 1000,
                    "bare_ms": statistics.median(times),
                    "count": classify_count(sql),
                    "seq_scans": scans,
                }
            )
        if page.view == "today":
            main = max(statements, key=lambda statement: statement["bare_ms"])
        else:
            table = LIST_TABLES[page.view]
            # The list's rows: LIMIT 50 on a page of many, no LIMIT when they all fit on one page.
            listed = [s for s in statements if s["sql"].startswith(f'SELECT "{table}"."id", ')]
            if len(listed) != 1:
                raise SystemExit(f"{page.key}: expected one statement selecting the listed rows, found {len(listed)}")
            main = listed[0]
        slowest = max(statements, key=lambda statement: statement["bare_ms"])

        page_ms, cpu_ms, main_ms = [], [], []
        for _ in range(runs):
            watch = Stopwatch()
            clients[page.who].get(url)
            wall, cpu = watch.elapsed()
            page_ms.append(wall * 1000)
            cpu_ms.append(cpu * 1000)
            main_ms.append(bare_ms(cursor, main["sql"]))

        def explain(sql: str) -> str:
            rows = cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql).fetchall()
            return "\n".join(row[0] for row in rows)

        result = {
            "key": page.key,
            "who": page.who,
            "label": page.label,
            "url": url,
            "in_target": page.in_target,
            "load": load,
            "page_ms": statistics.median(page_ms),
            "page_runs": page_ms,
            "cpu_ms": statistics.median(cpu_ms),
            "main_ms": statistics.median(main_ms),
            "main_sql": main["sql"],
            "main_explain": explain(main["sql"]),
            "slowest_sql": slowest["sql"],
            "slowest_ms": slowest["bare_ms"],
            "slowest_explain": explain(slowest["sql"]) if slowest is not main else "",
            "sql_total_ms": sum(statement["bare_ms"] for statement in statements),
            "queries": len(queries),
            "queries_small_page": len(small_queries),
            # Without the COUNTs: Today counts a list only when it has more rows than it shows.
            "listing_queries": sum(1 for query in queries if not classify_count(query["sql"])),
            "listing_queries_small_page": sum(1 for query in small_queries if not classify_count(query["sql"])),
            "duplicates": len(queries) - len({query["sql"] for query in queries}),
            "counts": [s["count"] for s in statements if s["count"]],
            "seq_scans": [{"sql": short(s["sql"]), "tables": s["seq_scans"]} for s in statements if s["seq_scans"]],
            "largest_select": largest_select(html),
            "rows_shown": html.count('name="_selected_action"'),
            "statements": [
                {key: value for key, value in statement.items() if key != "sql"} | {"sql": short(statement["sql"])}
                for statement in statements
            ],
        }
        results.append(result)
        log(
            f"    {result['page_ms']:.0f} ms page, {result['main_ms']:.1f} ms main query bare, "
            f"{result['queries']} queries ({result['queries_small_page']} at page size 10), "
            f"slowest statement {result['slowest_ms']:.1f} ms: {short(slowest['sql'], 100)}"
        )
    bare.close()
    Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


def measure(url: str, runs: int, pages: list[str], save: Path | None) -> list[dict[str, Any]]:
    env = child_env(url, ALLOWED_HOSTS="testserver,localhost")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "results.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--child", "--database-url", url]
        command += ["--runs", str(runs), "--json", str(path), *(["--pages", *pages] if pages else [])]
        subprocess.run(command, cwd=ROOT, env=env, check=True)
        results: list[dict[str, Any]] = json.loads(path.read_text())
        if save is not None:
            save.write_text(path.read_text())
    return results


# --- Results ---------------------------------------------------------------------------------


def verdict(result: dict[str, Any]) -> tuple[bool, list[str]]:
    """Whether a page meets the target, and what is wrong with it."""
    problems = []
    if result["page_ms"] > TARGET_MS:
        problems.append(f"{result['page_ms']:.0f} ms > {TARGET_MS:.0f} ms")
    uncapped = [count for count in result["counts"] if count != "capped"]
    if uncapped:
        problems.append(f"COUNT without LIMIT ({', '.join(uncapped)})")
    if result["listing_queries"] != result["listing_queries_small_page"]:
        problems.append("queries grow with the page size (N+1)")
    if result["largest_select"] > SELECT_LIMIT:
        problems.append(f"a select box with {result['largest_select']:,} options")
    return not problems, problems


def render(
    results: list[dict[str, Any]],
    facts: dict[str, Any],
    url: str,
    runs: int,
    load_seconds: float | None,
) -> str:
    loaded = f"; loading took {load_seconds:.0f}s" if load_seconds else ""
    loads = [float(result.get("load", 0.0)) for result in results]
    status = ", ".join(f"{name} {count:,}" for name, count in facts["touchpoint_status"].items())
    cards = ", ".join(f"{name} {count:,}" for name, count in facts["card_status"].items())
    lines = [
        f"Run on {dt.date.today().isoformat()} (`{' '.join(['python', 'bench/admin_benchmark.py', *shown_args()])}`)"
        f"{loaded}; 1-minute load average {min(loads):.1f} to {max(loads):.1f} at the start of each page's "
        "measurement (2 cores, shared with other work).",
        "",
        "| | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in [*machine(), *postgres_facts(url)]),
        f"| data | {facts['customers']:,} customers, {facts['touchpoints']:,} touchpoints ({status}), "
        f"{facts['cards']:,} cards ({cards}); due dates {facts['due_range'][0]} to {facts['due_range'][1]} |",
        f"| sizes | {', '.join(f'{table} {size}' for table, size in facts['sizes'].items())} |",
        f"| the account manager | {facts['manager']}: {facts['manager_customers']:,} customers, "
        f"{facts['manager_touchpoints']:,} touchpoints assigned, {facts['manager_overdue_calls']:,} overdue calls, "
        f"{facts['manager_draft_cards']:,} draft cards |",
        "",
        f"Median of {runs} runs after one warm-up, server-side (`client.get`, the whole Django request and response; "
        "'of which CPU': the Django process's own CPU time in it, which other work on the machine does not stretch); "
        "the main query (the statement selecting the listed rows; on Today the slowest one) timed bare through psycopg "
        "in the same rounds; all SQL: every statement of the page bare, median of 5 each, summed.",
        "",
        "| user | page | median ms | of which CPU ms | main query bare ms | all SQL bare ms | slowest statement ms "
        "| queries (at page size 10) | COUNTs | seq scans of big tables | largest select | result |",
        "|---|---|---:|---:|---:|---:|---:|---|---|---|---:|---|",
    ]
    for result in results:
        ok, problems = verdict(result)
        outcome = "PASS" if ok else "FAIL: " + "; ".join(problems)
        if not result["in_target"]:
            outcome = f"({outcome}; not in the target)"
        counts = ", ".join(result["counts"]) or "none"
        scans = ", ".join(sorted({table for scan in result["seq_scans"] for table in scan["tables"]})) or "none"
        lines.append(
            f"| {result['who']} | {result['label']} (`{result['url']}`) | {result['page_ms']:.0f} | "
            f"{result.get('cpu_ms', 0):.0f} | {result['main_ms']:.1f} | {result['sql_total_ms']:.1f} | "
            f"{result['slowest_ms']:.1f} | "
            f"{result['queries']} ({result['queries_small_page']}) | {counts} | {scans} | "
            f"{result['largest_select']} | {outcome} |"
        )
    in_target = [result for result in results if result["in_target"]]
    passed = sum(verdict(result)[0] for result in in_target)
    lines += ["", f"**{passed} of {len(in_target)} pages in the target PASS.**", ""]
    for result in results:
        if verdict(result)[0] and not result["seq_scans"]:
            continue
        lines += [f"<details><summary>{result['who']}: {result['label']}: the statements</summary>", ""]
        lines += ["| statement | bare ms | COUNT | seq scans |", "|---|---:|---|---|"]
        for statement in result["statements"]:
            sql = statement["sql"].replace("|", "\\|")
            lines.append(
                f"| `{sql}` | {statement['bare_ms']:.1f} | {statement['count'] or ''} | "
                f"{', '.join(statement['seq_scans'])} |"
            )
        lines += ["", "Slowest statement, EXPLAIN (ANALYZE, BUFFERS):", "", "```"]
        plan = result["slowest_explain"] or result["main_explain"]
        lines += [short_line(line) for line in plan.splitlines()]
        lines += ["```", "", "</details>", ""]
    return "\n".join(lines) + "\n"


def short_line(line: str, width: int = 240) -> str:
    """A plan line cut short (the time zone lists of the Today filters run to thousands of characters)."""
    return line if len(line) <= width else line[: width - 1] + "…"


def shown_args() -> list[str]:
    """The command line, without where the raw measurements were saved."""
    shown, skip = [], False
    for argument in sys.argv[1:]:
        if skip or argument == "--save-json":
            skip = not skip
            continue
        shown.append(argument)
    return shown


def write_output(path: Path, section: str, body: str) -> None:
    start, end = f"<!-- bench:admin:{section}:start -->", f"<!-- bench:admin:{section}:end -->"
    block = marked(start, body, end)
    write_section(path, block, start, end, new_file="# The admin at scale\n", heading=f"## Results: {section}\n\n")


# --- Main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--customers", type=int, default=None, help="customers to load (default 1,000,000)")
    parser.add_argument("--touchpoints", type=int, default=None, help="touchpoints to load (default 5 per customer)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 50,000 customers, 5 runs per page")
    parser.add_argument("--runs", type=int, default=None, help="timed runs per page (default 15, quick 5)")
    add_database_url_argument(parser, DEFAULT_URL)
    parser.add_argument("--skip-load", action="store_true", help="measure the database as it is (loaded before)")
    parser.add_argument("--pages", nargs="*", default=[], help="measure only these pages (keys, e.g. am-today)")
    parser.add_argument("--output", type=Path, help="write the results into this Markdown file")
    parser.add_argument("--section", default=SECTION_DEFAULT, help="the section of --output to (re)write")
    parser.add_argument("--save-json", type=Path, help="also keep the raw measurements (every statement) here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args)

    customers = args.customers or (50_000 if args.quick else 1_000_000)
    touchpoints = args.touchpoints or 5 * customers
    runs = args.runs or (5 if args.quick else 15)
    url = args.database_url
    name = bench_database_name(url)
    plan = Plan(customers=customers, touchpoints=touchpoints, today=dt.date.today())
    log(f"admin bench: {customers:,} customers, {touchpoints:,} touchpoints, database {name}, {runs} runs per page")
    load_seconds = None if args.skip_load else load(url, plan)
    if args.skip_load:
        execute(url, "ANALYZE", autocommit=True)
    facts = data_facts(url, plan.today)
    log(
        f"data: {facts['customers']:,} customers, {facts['touchpoints']:,} touchpoints, {facts['cards']:,} cards; "
        f"{facts['manager']} has {facts['manager_customers']:,} customers"
    )
    log("measuring the pages (child process, Django test client)")
    results = measure(url, runs, args.pages, args.save_json)
    section = render(results, facts, url, runs, load_seconds)
    print()
    print(section)
    if args.output:
        write_output(args.output, args.section, section)
        log(f"results written to {args.output} (section {args.section})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
