"""Events in through the API against a bare bulk insert of the same rows, in the same run.

    python bench/api_benchmark.py                   # 1,000 events per batch, 5 runs
    python bench/api_benchmark.py --events 200 --runs 3 --output docs/benchmarks-api.md

What it does (docs/api.md, "Benchmark", has the method and the results):

1. drops and creates the bench database (its name must contain "bench"), runs ``manage.py
   migrate``, creates an account manager and an API token for them (``create_api_token``);
2. starts gunicorn (``config.wsgi``, 2 workers) on that database, the rate limit off;
3. each run POSTs one batch of ``--events`` ``deal.won`` events, every one a new customer, to
   ``/api/v1/events/batch`` over HTTP with a new Idempotency-Key (after an untimed batch per
   worker), and times the request; then,
   in this process, times a bare bulk insert of the same rows (the customers, then one
   ``became_customer`` milestone each: two ``bulk_create`` calls in one transaction);
4. prints the medians and their ratio, PASS when the API is within 3x of the bare insert.

The database URL comes from ``--database-url`` only, never from DATABASE_URL.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    ROOT,
    Stopwatch,
    add_database_url_argument,
    argument_parser,
    bench_database_name,
    child_env,
    log,
    log_tail,
    migrate,
    recreate_database,
    setup_django,
    start_logged,
    stop_groups,
    write_section,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/nurture_bench_api"
TARGET_RATIO = 3.0
# One untimed batch per gunicorn worker: a worker's first request imports what it needs (holidays).
WORKERS = 2
WARM_UPS = WORKERS
START = "<!-- api-benchmark:start -->"
END = "<!-- api-benchmark:end -->"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def events(count: int, run: int) -> list[dict[str, object]]:
    return [
        {
            "type": "deal.won",
            "customer": {
                "external_id": f"API-{run}-{n:05d}",
                "first_name": "Bench",
                "last_name": f"Customer {n}",
                "email": f"c{run}-{n}@example.com",
                "country": "DE",
                "time_zone": "Europe/Berlin",
            },
            "date": "2026-11-02",
        }
        for n in range(count)
    ]


def post(url: str, token: str, body: bytes) -> tuple[int, float]:
    request = urllib.request.Request(  # noqa: S310  # our own local server, http only
        url,
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )
    watch = Stopwatch()
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310  # our own local server
        response.read()
        return response.status, watch.seconds


def bare_insert(count: int, run: int, manager_id: int) -> float:
    from django.db import transaction

    from nurture.models import Customer, Milestone, MilestoneKind

    kind = MilestoneKind.objects.get(slug="became_customer")
    now = dt.datetime.now(dt.UTC)
    watch = Stopwatch()
    with transaction.atomic():
        customers = Customer.objects.bulk_create(
            [
                Customer(
                    external_id=f"BARE-{run}-{n:05d}",
                    first_name="Bench",
                    last_name=f"Customer {n}",
                    email=f"b{run}-{n}@example.com",
                    country="DE",
                    time_zone="Europe/Berlin",
                    account_manager_id=manager_id,
                    created_at=now,
                    updated_at=now,
                )
                for n in range(count)
            ]
        )
        Milestone.objects.bulk_create([Milestone(customer=c, kind=kind, date=dt.date(2026, 11, 2)) for c in customers])
    return watch.seconds


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--events", type=int, default=1000, help="events per batch (at most 1,000; default 1,000)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs (default 5), after a warm-up per worker")
    parser.add_argument("--output", type=Path, help="write the results into this Markdown file")
    add_database_url_argument(parser, DEFAULT_URL)
    args = parser.parse_args(argv)
    url = args.database_url
    name = bench_database_name(url)
    log(f"api bench: {args.events:,} events per batch, {args.runs} runs, database {name}")
    recreate_database(url)
    env = child_env(url, NURTURE_API_RATE_LIMIT="", CELERY_TASK_ALWAYS_EAGER="0")
    migrate(env=env)
    os.environ["DATABASE_URL"] = url
    setup_django()
    from django.contrib.auth import get_user_model

    manager = get_user_model().objects.create_user("bench-manager", email="bench@example.com")
    token = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "create_api_token",
            "Bench",
            "--owner",
            manager.get_username(),
            "--scopes",
            "events:write",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "gunicorn.log"
        server = start_logged(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                str(WORKERS),
                "--timeout",
                "120",
            ],
            log_path,
            env,
        )
        try:
            deadline = time.monotonic() + 60
            while b"Booting worker" not in log_path.read_bytes():
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn did not start:\n{log_tail(log_path)}")
                time.sleep(0.2)
            time.sleep(1.0)
            endpoint = f"http://127.0.0.1:{port}/api/v1/events/batch"
            api_times: list[float] = []
            bare_times: list[float] = []
            for run in range(WARM_UPS + args.runs):
                body = json.dumps({"events": events(args.events, run)}).encode()
                status, seconds = post(endpoint, token, body)
                if status != 202:
                    raise SystemExit(f"the API answered {status}")
                bare = bare_insert(args.events, run, manager.pk)
                label = "warm-up" if run < WARM_UPS else f"run {run - WARM_UPS + 1}"
                log(f"  {label}: API {seconds * 1000:.0f} ms, bare insert {bare * 1000:.0f} ms")
                if run >= WARM_UPS:
                    api_times.append(seconds)
                    bare_times.append(bare)
        finally:
            stop_groups([server], timeout=20, kill_after=True)
    api_ms = statistics.median(api_times) * 1000
    bare_ms = statistics.median(bare_times) * 1000
    ratio = api_ms / bare_ms
    verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    section = (
        f"| events per batch | runs | API (HTTP, gunicorn) median | bare bulk insert median | ratio | target |\n"
        f"|---|---|---|---|---|---|\n"
        f"| {args.events:,} | {args.runs} | {api_ms:.0f} ms | {bare_ms:.0f} ms | {ratio:.2f}x | "
        f"<= {TARGET_RATIO:.0f}x: {verdict} |\n"
    )
    print()
    print(section)
    if args.output:
        write_section(args.output, f"{START}\n{section}{END}", START, END, new_file="# API benchmark\n")
        log(f"results written to {args.output}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
