"""The seasonal batch benchmark: tens of thousands of cards in one week, end to end.

    python bench/seasonal_benchmark.py --cards 10000 100000                  # the issue's run
    python bench/seasonal_benchmark.py --cards 100 200 --output docs/benchmarks-batches.md   # a smoke run

For each scale, in one run (docs/benchmarks-batches.md has the method and the results):

1. drops and creates the bench database (its name must contain "bench"), runs ``manage.py migrate``,
   and loads that many customers, a page at a time: a "became a customer" milestone on the same
   day of different years, addresses in six countries with varied postal codes, five account
   managers; one card rule ("a card 12 months after", a message with merge fields) is the only
   active rule;
2. in a fresh process (its peak RSS is the pipeline's, not the loading's), times each step as the
   product runs it: **plan** (``planning.plan``: the touchpoints), **draft** (``cards_draft_missing``),
   **approve in bulk** (``card_bulk_approve``, with its fit checks), **build** (``batch_create``,
   presorted by country and postal code);
3. one real Celery worker (``--concurrency 2``, the Procfile's) **renders** the batch: every chunk,
   the print files of at most NURTURE_BATCH_FILE_SIZE cards joined as their chunks finish, the
   labels, the manifest and the zones; the clock runs until the batch is ready. CPU time and the
   peak RSS (VmHWM) of every worker process are read from /proc before it stops. The worker is
   started cold, as after a deployment: its first tasks import WeasyPrint and load the fonts, a
   few seconds that a small scale shows and a large one hides;
4. prints a table per scale (time per step, cards per second, peak RSS per process), the pipeline
   process's RSS after each step (VmRSS, and VmHWM so far, from /proc), and whether memory stays
   under the limit and flat from the smallest scale to the largest. Flat is judged per process: the
   pipeline process's peak at the largest scale against its peak at the smallest, and the workers'
   highest peak likewise, each at most RSS_FLAT; comparing only the highest peak of any process
   would hide a pipeline that grows behind a worker whose peak is higher.

The database URL comes from ``--database-url`` only, never from DATABASE_URL.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.batch_benchmark import Worker
from bench.common import (
    Stopwatch,
    bench_database_name,
    load_averages,
    machine,
    marked,
    migrate,
    own_peak_rss_kib,
    recreate_database,
    run_json,
    setup_django,
    worker_env,
    write_section,
)
from bench.common import log as _log

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/nurture_bench_seasonal"
# A Redis database of its own: a benchmark purges its queue, and two at once would take each
# other's tasks.
DEFAULT_REDIS = "redis://127.0.0.1:6379/11"
RESULTS_START = "<!-- bench:seasonal:start -->"
RESULTS_END = "<!-- bench:seasonal:end -->"
RSS_LIMIT_MB = 350
RSS_FLAT = 1.2
# The planner runs on this day; the cards fall due in its horizon.
NOW = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
MILESTONE_DAY = (12, 15)
PAGE = 5000
TEMPLATE = (
    "Dear {{ first_name }},\n\nseason's greetings from all of us! {{ years_together|capfirst }} with you "
    "have been a joy, and we look forward to the year ahead.\n\nWarm wishes,\n{{ signature }}"
)
FIRST_NAMES = ["Ada", "Ben", "Chloe", "Dev", "Emma", "Felix", "Grace", "Hugo", "Iris", "Jonas", "Kai", "Lena"]
LAST_NAMES = ["Lovelace", "Okafor", "Schmidt", "Nguyen", "Smith", "Garcia", "Tanaka", "Brown", "Rossi", "Kowalski"]


def log(message: str) -> None:
    _log(message, stderr=True)


def address(i: int) -> tuple[str, str, str, str]:
    """(city, region, postal code, country): six countries, many postal zones."""
    n = i * 7919  # spread the codes
    match i % 6:
        case 0:
            return "London", "", f"SW{1 + n % 20} {n % 10}AA", "GB"
        case 1:
            return "Munich", "BY", f"{10000 + n % 89999:05d}", "DE"
        case 2:
            return "Springfield", "IL", f"{1000 + n % 98999:05d}", "US"
        case 3:
            return "Paris", "", f"{75000 + n % 20:05d}", "FR"
        case 4:
            return "Toronto", "ON", f"M{n % 10}A {n % 10}B{n % 7}", "CA"
        case _:
            return "Amsterdam", "", f"{1000 + n % 8999} AB", "NL"


def load(count: int) -> None:
    """The customers, their milestones and the one active card rule, a page at a time."""
    from django.contrib.auth import get_user_model

    from campaigns.models import CardDesign, Rule
    from nurture.models import Customer, Milestone, MilestoneKind
    from tests.factories import make_rule

    watch = Stopwatch()
    User = get_user_model()
    managers = [
        User.objects.create_user(f"bench-am-{n}", first_name=name, last_name="Reid")
        for n, name in enumerate(["Jordan", "Sam", "Alex", "Robin", "Kim"])
    ]
    Rule.objects.update(active=False)
    design = CardDesign.objects.get(slug="anniversary-a6")
    rule = make_rule(
        action="card",
        card_design=design,
        offset_amount=12,
        offset_unit="months",
        message_template=TEMPLATE,
        card_lead_days=3,
    )
    kind = MilestoneKind.objects.get(slug="became_customer")
    for start in range(0, count, PAGE):
        customers = Customer.objects.bulk_create(
            [
                Customer(
                    external_id=f"SEASON-{i:07d}",
                    first_name=FIRST_NAMES[i % len(FIRST_NAMES)],
                    last_name=f"{LAST_NAMES[i % len(LAST_NAMES)]} {i:06d}",
                    company=f"Company {i % 997}",
                    address_line1=f"{1 + i % 199} High Street",
                    city=address(i)[0],
                    region=address(i)[1],
                    postal_code=address(i)[2],
                    country=address(i)[3],
                    account_manager=managers[i % len(managers)],
                    time_zone="UTC",
                )
                for i in range(start, min(start + PAGE, count))
            ]
        )
        Milestone.objects.bulk_create(
            [Milestone(customer=c, kind=kind, date=dt.date(2025, *MILESTONE_DAY)) for c in customers]
        )
    log(f"  loaded {count:,} customers (rule {rule.slug}) in {watch.seconds:.1f}s")


def pipeline() -> dict[str, Any]:
    """In this fresh process: plan, draft, approve in bulk, build (presorted). Timed step by step."""
    from django.contrib.auth import get_user_model

    from campaigns.models import Card
    from campaigns.services import planning
    from campaigns.services.batches import batch_create
    from campaigns.services.cards import card_bulk_approve, cards_draft_missing

    steps: dict[str, dict[str, float]] = {}

    def timed(name: str, func: Any) -> Any:
        watch = Stopwatch()
        result = func()
        seconds, cpu = watch.elapsed()
        rss, hwm = own_rss_mb()
        steps[name] = {"seconds": seconds, "cpu_seconds": cpu, "rss_mb": rss, "peak_rss_mb": hwm}
        log(f"    {name}: {seconds:.1f}s ({cpu:.1f}s CPU), RSS {rss:.0f} MB, peak {hwm:.0f} MB")
        return result

    rss, _ = own_rss_mb()
    log(f"    start: RSS {rss:.0f} MB")
    timed("plan", lambda: planning.plan(now=NOW))
    drafted = timed("draft", lambda: cards_draft_missing(today=NOW.date(), check_fit_later=False))
    approver = get_user_model().objects.get(username="bench-am-0")
    approved = timed("approve", lambda: card_bulk_approve(cards=Card.objects.drafts(), by=approver).approved)
    due_by = Card.objects.filter(status="approved").order_by("-mail_by").values_list("mail_by", flat=True).first()
    batch = timed(
        "build",
        lambda: batch_create(due_by=due_by, sheet="card", labels="l7160", order="postal", by=approver),
    )
    return {
        "steps": steps,
        "drafted": drafted,
        "approved": approved,
        "batch_id": batch.pk,
        "card_count": batch.card_count,
        "chunk_count": batch.chunk_count,
        "file_count": batch.file_count,
        "peak_rss_mb": own_peak_rss_kib() * 1024 / 1e6,
    }


def own_rss_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB, from /proc: the memory now and its high-water mark."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return tuple(int(fields[key].split()[0]) * 1024 / 1e6 for key in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def wait_ready(batch_id: int, timeout: float) -> Any:
    from campaigns.models import Batch

    started = time.monotonic()
    deadline = started + timeout
    shown = started
    while True:
        batch = Batch.objects.get(pk=batch_id)
        if batch.status == "ready":
            return batch
        if time.monotonic() - shown >= 30:  # a long render shows it is moving
            shown = time.monotonic()
            rate = batch.cards_done / (shown - started)
            log(
                f"    render: {batch.cards_done:,} of {batch.card_count:,} cards, {batch.files_done} of "
                f"{batch.file_count} files, {rate:.0f} cards/s"
            )
        if batch.status == "failed":
            raise SystemExit(f"batch {batch.code} failed: {batch.error}")
        if time.monotonic() > deadline:
            raise SystemExit(f"batch {batch.code} not ready after {timeout:.0f}s ({batch.cards_done} cards done)")
        time.sleep(0.2)


def run_scale(count: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    log(f"{count:,} cards: recreating {args.database_url} and migrating")
    recreate_database(args.database_url)
    migrate(env=worker_env())
    from django.db import connections

    connections.close_all()
    load(count)
    connections.close_all()
    from config.celery import app

    app.control.purge()
    worker = Worker(work, concurrency=2).start()
    try:
        cpu_before = worker.cpu_seconds()
        watch = Stopwatch()
        result = run_json([sys.executable, str(Path(__file__).resolve()), "--pipeline"], worker_env())
        batch = wait_ready(result["batch_id"], args.timeout)
        total = watch.seconds
        render_seconds = (batch.rendered_at - batch.created_at).total_seconds()
        worker_cpu = worker.cpu_seconds() - cpu_before
        peaks = worker.peaks()
    finally:
        worker.stop()
    if batch.card_count != count:
        raise SystemExit(f"batch {batch.code} has {batch.card_count} cards, expected {count}")
    return {
        "cards": count,
        "total_seconds": total,
        "render_seconds": render_seconds,
        "worker_cpu_seconds": worker_cpu,
        "worker_peaks_mb": sorted(peaks.values(), reverse=True),
        **result,
    }


def report(runs: list[dict[str, Any]], facts: list[tuple[str, str]], command: str) -> tuple[str, bool]:
    lines = [
        f"Run on {dt.date.today().isoformat()} with `{command}`.",
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in facts),
        "",
        "| cards | plan | draft | approve in bulk | build | render + join (print files, labels, manifest) "
        "| total | cards per second | peak RSS: pipeline process, worker processes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        steps = run["steps"]
        rate, render_rate = run["cards"] / run["total_seconds"], run["cards"] / run["render_seconds"]
        files = f"{run['file_count']} print file{'' if run['file_count'] == 1 else 's'}"
        lines.append(
            f"| {run['cards']:,} | "
            + " | ".join(f"{steps[name]['seconds']:.1f} s" for name in ("plan", "draft", "approve", "build"))
            + f" | {run['render_seconds']:.1f} s ({run['worker_cpu_seconds']:.1f} s CPU, {run['chunk_count']} chunks, "
            f"{files}) | {run['total_seconds']:.1f} s | {rate:.1f} "
            f"(rendering {render_rate:.1f}) | {run['peak_rss_mb']:.0f} MB; "
            + ", ".join(f"{mb:.0f}" for mb in run["worker_peaks_mb"])
            + " MB |"
        )
    highest = [max(run["peak_rss_mb"], *run["worker_peaks_mb"]) for run in runs]
    under = max(highest) < RSS_LIMIT_MB
    # Flat per process: the pipeline process against itself and the workers against themselves, so
    # a pipeline that grows with the batch is not hidden behind a worker whose peak is higher.
    kinds = {
        "pipeline process": [run["peak_rss_mb"] for run in runs],
        "worker processes (highest)": [max(run["worker_peaks_mb"]) for run in runs],
    }
    ratios = {kind: peaks[-1] / peaks[0] if peaks[0] else 0.0 for kind, peaks in kinds.items()}
    flat = all(ratio <= RSS_FLAT for ratio in ratios.values())
    lines += [
        "",
        "Pipeline process, RSS after each step (its peak so far): "
        + "; ".join(
            f"{run['cards']:,} cards "
            + ", ".join(
                f"{name} {run['steps'][name]['rss_mb']:.0f} ({run['steps'][name]['peak_rss_mb']:.0f}) MB"
                for name in ("plan", "draft", "approve", "build")
            )
            for run in runs
        )
        + ".",
        "",
        f"Highest peak RSS of any process: {', '.join(f'{mb:.0f} MB' for mb in highest)} "
        f"(target under {RSS_LIMIT_MB} MB: {'**PASS**' if under else '**FAIL**'}). Largest / smallest scale, "
        "per process: "
        + "; ".join(
            f"{kind} {' -> '.join(f'{mb:.0f} MB' for mb in kinds[kind])}, {ratio:.2f}x"
            for kind, ratio in ratios.items()
        )
        + f" (flat: at most {RSS_FLAT}x each, {'**PASS**' if flat else '**FAIL**'}).",
        "",
    ]
    return "\n".join(lines), under and flat


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL, help="Dropped and created again; must contain 'bench'.")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS, help="The broker; purged first.")
    parser.add_argument("--cards", type=int, nargs="+", default=[10_000, 100_000], help="The scales, smallest first.")
    parser.add_argument("--timeout", type=float, default=7200, help="Seconds to wait for a batch.")
    parser.add_argument("--output", type=Path, help="Markdown file whose results section is rewritten.")
    parser.add_argument("--pipeline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if not args.pipeline:
        os.environ["DATABASE_URL"] = args.database_url
        os.environ["REDIS_URL"] = args.redis_url
        work = Path(tempfile.mkdtemp(prefix="nurture-bench-seasonal-"))
        os.environ["MEDIA_ROOT"] = str(work / "media")
        os.environ["VAR_DIR"] = str(work / "var")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    if args.pipeline:  # the child of run_scale(): same environment as the parent
        setup_django()
        print(json.dumps(pipeline()))
        return 0

    bench_database_name(args.database_url, refusing="drop")
    facts = [*machine(), ("Load average at the start", load_averages())]
    setup_django()
    runs = [run_scale(count, args, work) for count in sorted(args.cards)]
    command = "python bench/seasonal_benchmark.py --cards " + " ".join(str(count) for count in sorted(args.cards))
    section, ok = report(runs, facts, command)
    print(section)
    if args.output:
        write_section(args.output, marked(RESULTS_START, section, RESULTS_END), RESULTS_START, RESULTS_END)
        log(f"wrote the results into {args.output}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
