"""Two requests with one Idempotency-Key at the same moment: the unique constraint lets one
through, the other's work rolls back and it answers with the first one's response."""

import threading
from typing import Any

import pytest
from django.db import connection

from campaigns.models import Activity, IdempotencyKey
from campaigns.services.idempotency import Answer, idempotent_run
from nurture.models import ApiToken
from tests.factories import make_api_token, make_customer


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_apply_once(alice: Any, on_postgresql: bool) -> None:
    if not on_postgresql:
        pytest.skip("SQLite has one writer at a time: the second request waits for the first to finish")
    make_api_token(alice, name="CRM")
    token = ApiToken.objects.get()
    customer = make_customer(account_manager=alice)
    both_checked = threading.Barrier(2, timeout=10)
    answers: list[Answer] = []
    errors: list[BaseException] = []

    def request(n: int) -> None:
        def run() -> Answer:
            both_checked.wait()  # both have looked for the key and found none
            activity = Activity.objects.create(customer=customer, channel="email", occurred_at="2026-11-20T10:00Z")
            return Answer(202, {"activity": activity.pk, "request": n})

        try:
            answers.append(idempotent_run(token=token, key="same-key", fingerprint="same-body", run=run))
        except BaseException as exc:  # reported by the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=request, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert len(answers) == 2 and answers[0].body == answers[1].body
    assert sorted(answer.replayed for answer in answers) == [False, True]
    assert Activity.objects.count() == 1 and IdempotencyKey.objects.count() == 1
    assert Activity.objects.get().pk == answers[0].body["activity"]
