"""Who sees which customers: the permission checks and the QuerySet base that scopes every row
that belongs to a customer (customers, milestones, and on the campaign side touchpoints and cards)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self, TypeVar

from django.db import models

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


def user_has_perm(user: AbstractBaseUser | AnonymousUser, perm: str) -> bool:
    """has_perm for any user object (AbstractBaseUser itself does not declare it)."""
    if getattr(user, "is_superuser", False):
        return True
    has_perm = getattr(user, "has_perm", None)
    return bool(has_perm is not None and has_perm(perm))


def sees_all_customers(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user_has_perm(user, "nurture.view_all_customers")


def account_managers_seen_by(user: AbstractBaseUser | AnonymousUser) -> frozenset[int] | None:
    """The account managers whose customers' rows CustomerScopedQuerySet.visible_to shows `user`
    (for a model without sees_all_permissions), for figures stored per account manager: None for
    everyone's (and those of customers without one), else the user's own, or none at all."""
    if not user.is_authenticated:
        return frozenset()
    if sees_all_customers(user):
        return None
    return frozenset({int(user.pk)})


_M = TypeVar("_M", bound=models.Model)


class CustomerScopedQuerySet(models.QuerySet[_M]):
    """Rows that belong to a customer: an account manager sees those of their own customers, a
    user granted "view all customers" (or one of `sees_all_permissions`) sees every row."""

    # From this model to the id of the customer's account manager.
    account_manager_lookup = "customer__account_manager_id"
    sees_all_permissions: tuple[str, ...] = ()

    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> Self:
        if not user.is_authenticated:
            return self.none()
        if sees_all_customers(user) or any(user_has_perm(user, perm) for perm in self.sees_all_permissions):
            return self
        return self.filter(**{self.account_manager_lookup: user.pk})


# Lists and counts stop here: past it the admin and Today say "more than 1,000".
COUNT_CAP = 1_000


def capped_count(rows: Any, cap: int = COUNT_CAP) -> int:
    """How many rows, counting at most cap + 1 of them: SELECT COUNT(*) FROM (... LIMIT cap + 1).

    A page then costs the same on a table of a thousand rows or of five million. The count drops
    the ORDER BY: any cap + 1 rows answer the question, so nothing is sorted or walked in order.
    """
    if hasattr(rows, "order_by"):
        rows = rows.order_by()
    window = rows[: cap + 1]
    return int(window.count() if hasattr(window, "count") and not isinstance(window, list) else len(window))
