"""A qualified referral becomes thanked when the referrer has been thanked for it.

Qualifying gave the referrer a `referred_customer` milestone (nurture.services.referrals); the
cadences counting from it ("Referral thanks" by default: a card, then a call) are planned like any
other. The first of their touchpoints to reach the referrer thanks every qualified referral of that
milestone: a card when its batch is marked mailed, a call when it is logged as reached, voicemail or
at risk ("no answer" thanks nobody). The referral becomes thanked with a conditional UPDATE and its
`referral.thanked` webhook event is recorded in the same transaction (the outbox), once per referral.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.models import Touchpoint
from campaigns.models.webhooks import WebhookEventType
from campaigns.services.webhooks import iso_or_none, webhook_events_record
from nurture.models import Referral

# The outcomes of a call that reached the referrer (a message left counts: they heard the thanks).
THANKING_OUTCOMES = (Touchpoint.Outcome.REACHED, Touchpoint.Outcome.VOICEMAIL, Touchpoint.Outcome.AT_RISK)
_CHUNK = 1000


def referrals_thank(*, touchpoint_ids: Sequence[int], now: dt.datetime | None = None) -> int:
    """Thank the qualified referrals whose milestone one of these (just done) touchpoints counts from.

    Call it in the transaction that made the touchpoints done. Returns how many referrals it thanked.
    """
    if not touchpoint_ids:
        return 0
    now = now or timezone.now()
    thanked = 0
    with transaction.atomic():
        for start in range(0, len(touchpoint_ids), _CHUNK):
            done = Touchpoint.objects.filter(
                Q(kind=Touchpoint.Kind.CARD) | Q(kind=Touchpoint.Kind.CALL, outcome__in=THANKING_OUTCOMES),
                pk__in=touchpoint_ids[start : start + _CHUNK],
                status=Touchpoint.Status.DONE,
                milestone__isnull=False,
            )
            by_milestone = dict(done.order_by("pk").values_list("milestone_id", "pk"))
            if not by_milestone:
                continue
            ids = list(
                Referral.objects.filter(milestone_id__in=by_milestone, status=Referral.Status.QUALIFIED)
                .select_for_update()
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            thanked += Referral.objects.filter(pk__in=ids, status=Referral.Status.QUALIFIED).update(
                status=Referral.Status.THANKED, thanked_at=now
            )
            rows = Referral.objects.filter(pk__in=ids, status=Referral.Status.THANKED).values(
                "pk",
                "referrer__external_id",
                "referred__external_id",
                "source",
                "created_at",
                "qualified_at",
                "thanked_at",
                "milestone_id",
            )
            webhook_events_record(
                type=WebhookEventType.REFERRAL_THANKED,
                events=[
                    (
                        row["pk"],
                        {
                            "referral": row["pk"],
                            "referrer": row["referrer__external_id"],
                            "referred": row["referred__external_id"],
                            "source": row["source"],
                            "created_at": iso_or_none(row["created_at"]),
                            "qualified_at": iso_or_none(row["qualified_at"]),
                            "thanked_at": iso_or_none(row["thanked_at"]),
                            "touchpoint": by_milestone[row["milestone_id"]],
                        },
                    )
                    for row in rows
                ],
            )
    return thanked
