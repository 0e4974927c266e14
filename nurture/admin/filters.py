"""Customer list filters that stay cheap at a million customers.

Django's own choices would run ``SELECT DISTINCT country`` and ``SELECT DISTINCT
account_manager_id`` over every customer on every page of the list (a sequential scan each;
docs/benchmarks-admin.md). These ask the indexes instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db import connection
from django.db.models import Field, QuerySet
from django.http import HttpRequest

from nurture.admin.base import staff_users
from nurture.models import Customer
from nurture.querysets import sees_all_customers

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise

# A loose index scan: one probe of the (account_manager, country) or (country) index per
# country in use, however many customers there are. Plain SQL that SQLite runs too.
_DISTINCT_COUNTRIES = """
WITH RECURSIVE countries (country) AS (
    SELECT min(country) FROM {table} WHERE {scope}
    UNION ALL
    SELECT (SELECT min(c.country) FROM {table} c WHERE c.country > countries.country AND {inner_scope})
    FROM countries WHERE countries.country IS NOT NULL
)
SELECT country FROM countries WHERE country IS NOT NULL
"""


def countries_in_use(*, account_manager_id: int | None = None) -> list[str]:
    """The distinct countries of every customer, or of one account manager's customers."""
    table = connection.ops.quote_name(Customer._meta.db_table)
    if account_manager_id is None:
        sql = _DISTINCT_COUNTRIES.format(table=table, scope="1 = 1", inner_scope="1 = 1")
        params: list[Any] = []
    else:
        sql = _DISTINCT_COUNTRIES.format(
            table=table, scope="account_manager_id = %s", inner_scope="c.account_manager_id = %s"
        )
        params = [account_manager_id, account_manager_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [str(code) for (code,) in cursor.fetchall()]


class CountryFilter(admin.SimpleListFilter):
    """The countries of the customers the user sees (``?country=GB``, as Django's own filter)."""

    title = "country"
    parameter_name = "country"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        user = request.user
        manager_id = None if sees_all_customers(user) else int(user.pk or 0)
        return [(code, code or "(none)") for code in countries_in_use(account_manager_id=manager_id)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset if value is None else queryset.filter(country=value)


# The tiers in use, by a loose index scan of the partial customer_tier index (tier <> ''): one probe
# per tier. For an account manager, their own customers' tiers (a scan of their customers only).
_DISTINCT_TIERS = """
WITH RECURSIVE tiers (tier) AS (
    SELECT min(tier) FROM {table} WHERE tier <> ''
    UNION ALL
    SELECT (SELECT min(c.tier) FROM {table} c WHERE c.tier > tiers.tier AND c.tier <> '')
    FROM tiers WHERE tiers.tier IS NOT NULL
)
SELECT tier FROM tiers WHERE tier IS NOT NULL
"""


def tiers_in_use(*, account_manager_id: int | None = None) -> list[str]:
    """The distinct tiers of every customer, or of one account manager's customers."""
    if account_manager_id is not None:
        return list(
            Customer.objects.filter(account_manager_id=account_manager_id)
            .exclude(tier="")
            .order_by("tier")
            .values_list("tier", flat=True)
            .distinct()
        )
    with connection.cursor() as cursor:
        cursor.execute(_DISTINCT_TIERS.format(table=connection.ops.quote_name(Customer._meta.db_table)))
        return [str(tier) for (tier,) in cursor.fetchall()]


class TierFilter(admin.SimpleListFilter):
    """The tiers of the customers the user sees (``?tier=gold``; ``?tier=`` for none)."""

    title = "tier"
    parameter_name = "tier"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        user = request.user
        manager_id = None if sees_all_customers(user) else int(user.pk or 0)
        return [*((tier, tier) for tier in tiers_in_use(account_manager_id=manager_id)), ("", "(none)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset if value is None else queryset.filter(tier=value)


class AccountManagerFilter(admin.RelatedFieldListFilter):
    """The active staff users, not a DISTINCT over every customer's account manager.

    CustomerAdmin shows it only to those who see every customer: an account manager's list holds
    their own customers only, so the filter would have one choice.
    """

    def field_choices(
        self, field: Field[Any, Any], request: HttpRequest, model_admin: Any
    ) -> list[tuple[str, str | _StrPromise]]:
        return [(str(user.pk), str(user)) for user in staff_users()]


class UndeliverableFilter(admin.SimpleListFilter):
    """Customers whose address a returned card flagged (the partial indexes customer_undeliverable and
    customer_manager_undeliverable)."""

    title = "address"
    parameter_name = "address"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("undeliverable", "Undeliverable (a card came back)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "undeliverable":
            return queryset.filter(address_undeliverable_on__isnull=False)
        return queryset
