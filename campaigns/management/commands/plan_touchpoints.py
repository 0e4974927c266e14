import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from campaigns.models import Touchpoint
from campaigns.services import planning
from campaigns.services.cards import cards_follow_touchpoints


class Command(BaseCommand):
    help = "Plan touchpoints as of a date (default: now), up to a horizon of days ahead."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", help="Plan as if it were the start of this day (YYYY-MM-DD).")
        parser.add_argument("--horizon", type=int, help="Days ahead to plan (default: NURTURE_PLAN_HORIZON_DAYS).")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        if options["date"]:
            try:
                day = dt.date.fromisoformat(options["date"])
            except ValueError:
                raise CommandError(f"--date {options['date']!r} is not a date (YYYY-MM-DD)") from None
            now = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
        verbosity = options["verbosity"]
        horizon = options["horizon"]
        if horizon is not None and horizon < 0:
            raise CommandError(f"--horizon {horizon} must not be negative")

        def progress(done: int, total: int) -> None:
            if verbosity >= 1 and (done == total or done % 10 == 0):
                self.stderr.write(f"  planned chunk {done}/{total}")

        pending_before = Touchpoint.objects.pending().count()
        result = planning.plan(now=now, horizon_days=horizon, progress=progress)
        left_alone = pending_before - result.cancelled
        self.stdout.write(
            f"Planned as of {timezone.localdate(now).isoformat()} up to {result.window_end}: "
            f"{result.created} created, {result.cancelled} cancelled, {left_alone} left alone."
        )
        # As the workers do after each chunk: a card for every new card touchpoint, and the cards
        # of cancelled touchpoints withdrawn. The fit checks are queued for the rendering workers.
        withdrawn, drafted = cards_follow_touchpoints(today=timezone.localdate(now))
        self.stdout.write(f"Cards: {drafted} drafted, {withdrawn} withdrawn.")
