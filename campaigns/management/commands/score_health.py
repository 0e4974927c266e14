import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count
from django.utils import timezone

from campaigns.models import HealthBandChange
from campaigns.services import health


class Command(BaseCommand):
    help = "Score every customer's health for a day (default: today), in this process, and say who moved band."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", help="The day to score (YYYY-MM-DD); scoring a day again changes nothing.")
        parser.add_argument(
            "--chunk-size", type=int, default=health.CHUNK_SIZE, help="Customers per chunk (default: %(default)s)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        day = timezone.localdate()
        if options["date"]:
            try:
                day = dt.date.fromisoformat(options["date"])
            except ValueError:
                raise CommandError(f"--date {options['date']!r} is not a date (YYYY-MM-DD)") from None
        if options["chunk_size"] < 1:
            raise CommandError(f"--chunk-size {options['chunk_size']} must be at least 1")
        verbosity = options["verbosity"]

        def progress(done: int, total: int) -> None:
            if verbosity >= 1 and (done == total or done % 10 == 0):
                self.stderr.write(f"  scored chunk {done}/{total}")

        result = health.health_score_day(as_of=day, chunk_size=options["chunk_size"], progress=progress)
        into = dict(HealthBandChange.objects.filter(date=day).values_list("to_band").annotate(n=Count("id")).order_by())
        detail = ", ".join(f"{into.get(band, 0)} into {band}" for band in ("red", "yellow", "green"))
        self.stdout.write(
            f"Scored {result.scored} customers as of {day.isoformat()}: {result.moved} moved band ({detail})."
        )
