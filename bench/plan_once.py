"""One planner sweep in this (fresh) process, timed: the child that bench/run.py starts.

    DATABASE_URL=postgres://... python bench/plan_once.py --date 2026-04-01

Runs ``campaigns.services.planning.plan(now=<date at midnight>)`` exactly as ``manage.py plan_touchpoints``
does, and prints one JSON line on stdout: the seconds spent in ``plan()`` (Django start-up
excluded), rows created and cancelled, chunks, the process's peak RSS, and where the time went
(start_sweep, reconcile, materialise, the rest of each chunk's bookkeeping), measured by wrapping
those module functions with timers. Progress lines go to stderr.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Stopwatch, add_date_argument, argument_parser, own_peak_rss_kib, setup_django, start_of_day


def _timed(totals: dict[str, float], name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        watch = Stopwatch()
        try:
            return func(*args, **kwargs)
        finally:
            totals[name] = totals.get(name, 0.0) + watch.seconds

    return wrapper


def insert_columns(sql: str) -> list[str] | None:
    match = re.search(r"INSERT INTO \S+ \((.*?)\)", sql, re.DOTALL)
    return [column.strip() for column in match.group(1).split(",")] if match else None


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__)
    add_date_argument(parser)
    parser.add_argument("--label", default="plan", help="prefix of the progress lines")
    args = parser.parse_args(argv)

    setup_django()
    from campaigns.services import planning

    totals: dict[str, float] = {}
    for name in ("start_sweep", "compute_slots", "reconcile", "materialise", "finish_run_if_complete"):
        setattr(planning, name, _timed(totals, name, getattr(planning, name)))

    now = start_of_day(args.date)
    watch = Stopwatch()
    step = 1

    def progress(done: int, total: int) -> None:
        nonlocal step
        if done == 1:
            step = max(1, total // 10)
        if done == total or done % step == 0:
            print(f"    {args.label}: chunk {done}/{total}, {watch.seconds:.1f}s", file=sys.stderr)

    result = planning.plan(now=now, progress=progress)
    seconds = watch.seconds
    report = {
        "seconds": seconds,
        "created": result.created,
        "cancelled": result.cancelled,
        "chunks": result.chunks,
        "window": [str(result.window_start), str(result.window_end)],
        # Linux reports ru_maxrss in KiB.
        "peak_rss_mib": own_peak_rss_kib() / 1024,
        "breakdown": totals,
        # The column list of the planner's INSERT, so that run.py can check that the bare SQL writes the same.
        "insert_columns": insert_columns(getattr(planning, "_INSERT_SQL", "")),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
