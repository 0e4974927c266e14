"""Reads of the customer side (and of the job log), as QuerySet methods typed to their model."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Self, TypeVar

from django.db import connections, models
from django.db.models import Count, OuterRef, Q, Subquery

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from nurture.models import Customer, JobRun, Milestone  # noqa: F401 (the QuerySets' type arguments)


def user_has_perm(user: AbstractBaseUser | AnonymousUser, perm: str) -> bool:
    """has_perm for any user object (AbstractBaseUser itself does not declare it)."""
    if getattr(user, "is_superuser", False):
        return True
    has_perm = getattr(user, "has_perm", None)
    return bool(has_perm is not None and has_perm(perm))


def sees_all_customers(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user_has_perm(user, "nurture.view_all_customers")


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


class CustomerQuerySet(CustomerScopedQuerySet["Customer"]):
    account_manager_lookup = "account_manager_id"

    def managed_by(self, user: AbstractBaseUser) -> Self:
        return self.filter(account_manager_id=user.pk)

    def contactable(self) -> Self:
        return self.filter(status=self.model.Status.ACTIVE)

    def changed_since(self, moment: dt.datetime) -> Self:
        return self.filter(updated_at__gte=moment)


class MilestoneQuerySet(CustomerScopedQuerySet["Milestone"]):
    """A milestone is seen by whoever sees its customer."""


class JobRunQuerySet(models.QuerySet["JobRun"]):
    def for_task(self, task_name: str) -> Self:
        return self.filter(task_name=task_name)

    def failed(self) -> Self:
        return self.filter(status="failed")

    def since(self, moment: dt.datetime) -> Self:
        return self.filter(started_at__gte=moment)

    def latest_per_task(self) -> Self:
        """The latest run of each task, by task name (index jobrun_task_latest)."""
        if self._db_vendor() == "postgresql":
            return self.order_by("task_name", "-started_at").distinct("task_name")
        latest = self.model.objects.filter(task_name=OuterRef("task_name")).order_by("-started_at").values("pk")[:1]
        return self.filter(pk=Subquery(latest)).order_by("task_name")

    def counts_since(self, moment: dt.datetime) -> dict[str, tuple[int, int]]:
        """Per task name: (runs, failed runs) started since `moment`."""
        rows = (
            self.since(moment)
            .order_by()
            .values("task_name")
            .annotate(runs=Count("id"), failures=Count("id", filter=Q(status="failed")))
        )
        return {row["task_name"]: (int(row["runs"]), int(row["failures"])) for row in rows}

    def older_than(self, moment: dt.datetime) -> Self:
        """Finished runs started before `moment` (what pruning removes)."""
        return self.filter(started_at__lt=moment).exclude(status="running")

    def _db_vendor(self) -> str:
        return str(connections[self.db].vendor)
