"""Reads of the customer side."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

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


class CustomerQuerySet(models.QuerySet[Any]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> CustomerQuerySet:
        """The customers a user may see: their own unless granted 'see all'."""
        if not user.is_authenticated:
            return self.none()
        if sees_all_customers(user):
            return self
        return self.filter(account_manager_id=user.pk)

    def managed_by(self, user: AbstractBaseUser) -> CustomerQuerySet:
        return self.filter(account_manager_id=user.pk)

    def contactable(self) -> CustomerQuerySet:
        return self.filter(status="active")

    def changed_since(self, moment: dt.datetime) -> CustomerQuerySet:
        return self.filter(updated_at__gte=moment)


class MilestoneQuerySet(models.QuerySet[Any]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> MilestoneQuerySet:
        if not user.is_authenticated:
            return self.none()
        if sees_all_customers(user):
            return self
        return self.filter(customer__account_manager_id=user.pk)
