"""Delivering webhooks from the outbox with the Procfile's worker, against a bare loop posting the same payloads.

    python bench/webhooks_benchmark.py                 # 10,000 deliveries
    python bench/webhooks_benchmark.py --count 1000    # a small run

What it does:

1. drops and creates the bench database (its name must contain "bench") and migrates it;
2. creates an endpoint pointing at a local receiver process (tests/support/webhook_receiver.py:
   it verifies every signature with the Standard Webhooks reference library and logs each
   webhook-id), allowed through NURTURE_WEBHOOK_ALLOWED_HOSTS;
3. **bare loop**: in this process, signs and POSTs `count` payloads of the same shape with the
   same HTTP client (campaigns.outbound.WebhookClient), one after the other;
4. **webhooks**: starts the Procfile's worker (``celery -A config worker --concurrency 2``),
   records `count` card.mailed events in one transaction (the outbox; its commit queues a
   dispatch; timed apart), and measures from the commit until every delivery is marked
   delivered in the database;
5. checks that the receiver saw every webhook-id once, verified, and prints the times, the ratio
   (webhooks / bare loop) and PASS/FAIL against the target (<= 2).

DATABASE_URL is not used: --database-url names the bench database; REDIS_URL must be set.
"""

from __future__ import annotations

import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    Stopwatch,
    argument_parser,
    bench_database_name,
    celery_worker_command,
    log,
    log_tail,
    migrate,
    recreate_database,
    setup_django,
    start_logged,
    stop_groups,
    wait_for_log,
    worker_env,
)

TARGET = 2.0
ALLOWED = "127.0.0.1"


def main() -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--count", type=int, default=10_000, help="deliveries (default 10,000)")
    parser.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/nurture_bench_webhooks",
        help="the bench database, dropped and created",
    )
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("set REDIS_URL: the worker's broker")
    bench_database_name(args.database_url)
    log(f"database {args.database_url}: recreate and migrate")
    recreate_database(args.database_url)
    migrate(args.database_url)
    os.environ.update(DATABASE_URL=args.database_url, NURTURE_WEBHOOK_ALLOWED_HOSTS=ALLOWED, LOG_LEVEL="WARNING")
    setup_django()

    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from campaigns.models import WebhookDelivery
    from campaigns.outbound import WebhookClient, resolve_destination
    from campaigns.outbound.signing import webhook_headers
    from campaigns.services.webhooks import webhook_endpoint_create, webhook_events_record
    from tests.support.servers import free_port

    work = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    port = free_port()
    owner = get_user_model().objects.create_user("bench", email="bench@example.com", is_staff=True)
    endpoint = webhook_endpoint_create(url=f"http://{ALLOWED}:{port}/hooks", event_types=["card.mailed"], owner=owner)
    env = worker_env(args.database_url, NURTURE_WEBHOOK_ALLOWED_HOSTS=ALLOWED)
    receiver_log = work / "received.jsonl"
    receiver = start_logged(
        [sys.executable, "-m", "tests.support.webhook_receiver", str(port), endpoint.secret, str(receiver_log)],
        work / "receiver.log",
        env,
    )
    processes = [receiver]
    try:
        time.sleep(1.0)

        def data(i: int) -> dict[str, object]:
            return {"card": i, "touchpoint": i, "customer": f"C-{i:06d}", "design": "anniversary-a6",
                    "batch": "B1", "sequence": f"B1-{i:03d}", "mail_by": "2025-03-10"}  # fmt: skip

        # Bare loop: the same client, the same payload shape, signed, one after the other.
        client = WebhookClient()
        destination = resolve_destination(endpoint.url, allowed_hosts=[ALLOWED])
        watch = Stopwatch()
        for i in range(args.count):
            payload = {"type": "card.mailed", "timestamp": timezone.now().isoformat(), "data": data(i)}
            body = json.dumps(payload, separators=(",", ":")).encode()
            headers = webhook_headers(
                secrets=[endpoint.secret], message_id=f"bare_{i}", timestamp=int(time.time()), body=body
            )
            result = client.post(destination, body=body, headers=headers)
            assert result.ok, result
        bare = watch.seconds
        client.close()
        log(f"bare loop: {args.count} posts in {bare:.2f}s ({args.count / bare:.0f}/s)")

        worker_log = work / "worker.log"
        # The Procfile's worker: every queue, concurrency 2.
        worker = start_logged(celery_worker_command(2, "bench-webhooks@%h"), worker_log, env)
        processes.append(worker)
        if not wait_for_log(worker, worker_log, time.monotonic() + 60):
            raise SystemExit(f"the worker did not start:\n{log_tail(worker_log)}")

        watch = Stopwatch()
        with transaction.atomic():
            webhook_events_record(type="card.mailed", events=[(i, data(i)) for i in range(args.count)])
        recorded = watch.seconds
        # Delivery is timed from the commit (recording is the caller's transaction, timed apart).
        watch = Stopwatch()
        deadline = time.monotonic() + 600
        while WebhookDelivery.objects.filter(status="delivered").count() < args.count:
            if time.monotonic() > deadline:
                raise SystemExit(f"not every delivery was made in time:\n{log_tail(worker_log)}")
            time.sleep(0.1)
        webhooks = watch.seconds
        log(f"webhooks: recorded in {recorded:.2f}s; all {args.count} delivered {webhooks:.2f}s after the commit")

        lines = [json.loads(line) for line in receiver_log.read_text().splitlines() if line.strip()]
        ids = collections.Counter(str(line["id"]) for line in lines if not str(line["id"]).startswith("bare_"))
        assert len(ids) == args.count, f"{len(ids)} webhook-ids received, {args.count} expected"
        assert all(line["verified"] for line in lines), "a signature did not verify"
        duplicates = sum(n - 1 for n in ids.values())
        ratio = webhooks / bare
        verdict = "PASS" if ratio <= TARGET else "FAIL"
        log(f"ratio webhooks / bare loop: {ratio:.2f} (target <= {TARGET}): {verdict}; duplicates: {duplicates}")
        print(
            json.dumps(
                {"count": args.count, "bare_s": bare, "record_s": recorded, "webhooks_s": webhooks, "ratio": ratio}
            )
        )
        return 0 if verdict == "PASS" else 1
    finally:
        stop_groups(processes, timeout=15, kill_after=True)


if __name__ == "__main__":
    raise SystemExit(main())
