from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from nurture.models import Scope
from nurture.services.api_tokens import ApiTokenError, api_token_create, parse_scopes


class Command(BaseCommand):
    help = (
        "Create an API token for an integration and print it once (only its hash is stored). "
        f"Scopes: {', '.join(Scope.values)}."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="What the integration is, e.g. HubSpot.")
        parser.add_argument("--owner", required=True, help="The username the token acts as (their customers).")
        parser.add_argument("--scopes", required=True, help="Comma-separated, e.g. events:write,customers:read.")
        parser.add_argument("--expires-days", type=int, default=None, help="Expire after N days (default: never).")

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        owner = User.objects.filter(**{User.USERNAME_FIELD: options["owner"]}).first()
        if owner is None:
            raise CommandError(f"No user {options['owner']!r}.")
        try:
            created = api_token_create(
                name=options["name"],
                owner=owner,
                scopes=parse_scopes(options["scopes"]),
                expires_days=options["expires_days"],
            )
        except ApiTokenError as exc:
            raise CommandError(str(exc)) from None
        token = created.token
        expiry = f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "never expires"
        self.stderr.write(
            f"Token {token.name!r} for {owner.get_username()} ({', '.join(token.scopes)}), {expiry}. "
            "It is shown once: store it now."
        )
        self.stdout.write(created.secret)
