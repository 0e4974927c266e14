from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nurture.services.importing import ImportFailed, import_customers


class Command(BaseCommand):
    help = (
        "Import customers and their milestones from a CSV file: all rows or none. Columns: external_id, "
        "first_name, last_name (required); company, email, phone, address_line1, address_line2, city, region, "
        "postal_code, country, time_zone, account_manager, tags, status; and one column per milestone kind slug "
        "holding an ISO date."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="Check the file and say what would change.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        try:
            result = import_customers(data=data, dry_run=options["dry_run"])
        except ImportFailed as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            raise CommandError(f"{path}: {exc}") from None
        self.stdout.write(result.summary())
