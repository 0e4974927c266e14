"""EXPLAIN ANALYZE the statements of one chunk of a planner sweep, as the planner builds them.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/nurture_bench \\
        python bench/explain_chunk.py --date 2026-04-01 --chunk 40 [--constraints-immediate]

Inside one transaction that is rolled back at the end: starts a sweep as of --date
(``planning.start_sweep``), runs ``planning.run_chunk`` for chunk --chunk in a savepoint while
recording every statement it sends, rolls the savepoint back, and prints
``EXPLAIN (ANALYZE, BUFFERS)`` of each recorded statement that joins tables (the reconcile SELECT
and the materialise INSERT). With --constraints-immediate the deferred foreign key checks run at
the end of each statement, so EXPLAIN ANALYZE shows their cost ("Trigger for constraint ...");
normally they run at COMMIT. On a database with a completed sweep this explains the next,
incremental sweep.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Stopwatch, add_date_argument, argument_parser, setup_django, start_of_day


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__)
    add_date_argument(parser)
    parser.add_argument("--chunk", type=int, default=0, help="the chunk's index (default 0)")
    parser.add_argument(
        "--constraints-immediate",
        action="store_true",
        help="SET CONSTRAINTS ALL IMMEDIATE, so that EXPLAIN ANALYZE shows the foreign key checks",
    )
    args = parser.parse_args(argv)

    setup_django()
    from django.db import connection, transaction

    from campaigns.services import planning

    now = start_of_day(args.date)
    recorded: list[tuple[str, Any, float]] = []

    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        watch = Stopwatch()
        try:
            return execute(sql, params, many, context)
        finally:
            recorded.append((sql, params, watch.seconds))

    with transaction.atomic():
        watch = Stopwatch()
        run = planning.start_sweep(now=now)
        print(f"-- start_sweep: {watch.seconds:.2f}s, {run.chunk_count} chunks")
        with connection.cursor() as cursor:
            if args.constraints_immediate:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        savepoint = transaction.savepoint()
        watch = Stopwatch()
        with connection.execute_wrapper(record):
            created, cancelled = planning.run_chunk(run_id=run.pk, index=args.chunk)
        print(f"-- run_chunk {args.chunk}: {watch.seconds:.2f}s, {created} created, {cancelled} cancelled")
        for sql, _params, seconds in recorded:
            print(f"--   {seconds:7.3f}s  {' '.join(sql.split())[:100]}")
        transaction.savepoint_rollback(savepoint)
        with connection.cursor() as cursor:
            for sql, params, _seconds in recorded:
                if " JOIN " not in " ".join(sql.upper().split()):
                    continue
                print(f"\n-- {' '.join(sql.split())[:100]}")
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                for (line,) in cursor.fetchall():
                    print(line)
        transaction.set_rollback(True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
