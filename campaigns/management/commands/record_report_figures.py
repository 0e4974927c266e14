"""Write the reports' daily figures now (what the nightly Beat job does): every day not yet written."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from campaigns.services.report_figures import report_figures_record


class Command(BaseCommand):
    help = "Write the reports' daily figures for every closed day not yet written."

    def handle(self, *args: Any, **options: Any) -> None:
        written = report_figures_record()
        for name, days in written.items():
            self.stdout.write(f"{name}: {days} day(s) written")
