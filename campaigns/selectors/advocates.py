"""Advocates: customers whose latest NPS answer is 9 or 10, or who made at least two referrals that
count (qualified or thanked).

Computed when asked, never stored: both facts change with writes on two sides (an NPS answer
recorded, a referral qualified or voided), and a stored flag would need each of those writers, and
a repair job, to keep it true. As a filter it is two indexed subqueries that the customer list ORs
with its other filters: each customer's latest NPS answer through activity_nps_customer_time, the
referrers with two or more through referral_referrer_status.
"""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q

from campaigns.models import Activity
from campaigns.models.activities import PROMOTER_MIN_SCORE
from nurture.models import Referral

# How many referrals that count make a customer an advocate.
ADVOCATE_REFERRALS = 2


def advocate_q() -> Q:
    """The advocates, as a filter on customers."""
    answers = Activity.objects.nps()
    later = answers.filter(customer_id=OuterRef("customer_id")).filter(
        Q(occurred_at__gt=OuterRef("occurred_at")) | Q(occurred_at=OuterRef("occurred_at"), pk__gt=OuterRef("pk"))
    )
    promoters = answers.filter(score__gte=PROMOTER_MIN_SCORE).exclude(Exists(later)).values("customer_id")
    referrers = (
        Referral.objects.counted()
        .order_by()
        .values("referrer_id")
        .annotate(n=Count("id"))
        .filter(n__gte=ADVOCATE_REFERRALS)
        .values("referrer_id")
    )
    return Q(pk__in=promoters) | Q(pk__in=referrers)
