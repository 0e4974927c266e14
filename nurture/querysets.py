"""Reads of the customer side (and of the job log), as QuerySet methods typed to their model."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Self

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


class CustomerQuerySet(models.QuerySet["Customer"]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> Self:
        """The customers a user may see: their own unless granted 'see all'."""
        if not user.is_authenticated:
            return self.none()
        if sees_all_customers(user):
            return self
        return self.filter(account_manager_id=user.pk)

    def managed_by(self, user: AbstractBaseUser) -> Self:
        return self.filter(account_manager_id=user.pk)

    def contactable(self) -> Self:
        return self.filter(status="active")

    def changed_since(self, moment: dt.datetime) -> Self:
        return self.filter(updated_at__gte=moment)


class MilestoneQuerySet(models.QuerySet["Milestone"]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> Self:
        if not user.is_authenticated:
            return self.none()
        if sees_all_customers(user):
            return self
        return self.filter(customer__account_manager_id=user.pk)


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
