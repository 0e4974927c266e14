"""Each staff user's private calendar URL: created on first use, replaced on request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from nurture.models import CalendarFeed, new_feed_token

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def feed_for(*, user: AbstractBaseUser) -> CalendarFeed:
    feed, _ = CalendarFeed.objects.get_or_create(user_id=user.pk)
    return feed


def feed_reset(*, user: AbstractBaseUser) -> CalendarFeed:
    """A new secret URL; the old one stops working at once."""
    with transaction.atomic():
        feed = feed_for(user=user)
        feed.token = new_feed_token()
        feed.save(update_fields=["token"])
    return feed
