"""What every admin of nurture builds on: the acting user, scoping, read-only admins.

An account manager (staff without the "view all customers" permission) sees only the customers
they manage and what belongs to them: every scoped admin filters get_queryset through the
QuerySets' visible_to(), limits foreign key choices the same way, and answers 404 for an object
outside that scope.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import ForeignKey, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect

from nurture.models import Customer

if TYPE_CHECKING:
    from django.contrib.auth.models import User

admin.site.site_header = "nurture"
admin.site.site_title = "nurture"
admin.site.index_title = "Customers, cadences and touchpoints"

_M = TypeVar("_M", bound=models.Model)


def acting_user(request: HttpRequest) -> AbstractBaseUser:
    """The signed-in user behind an admin request (the admin lets no anonymous user in)."""
    user = request.user
    if not isinstance(user, AbstractBaseUser) or not user.is_authenticated:
        raise PermissionDenied
    return user


def staff_users() -> QuerySet[User]:
    return get_user_model().objects.filter(is_staff=True, is_active=True).order_by("username")


class ScopedAdmin(admin.ModelAdmin[_M]):
    """An admin over rows that belong to an account manager's customers.

    Subclasses filter get_queryset() with visible_to(); a change, delete or history URL of a row
    outside that scope is a 404, like a row that does not exist (no hint that it does).
    """

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> _M | None:
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with ID {object_id!r}.")
        return obj

    def formfield_for_foreignkey(self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.related_model is Customer:
            kwargs["queryset"] = Customer.objects.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ReadOnlyAdminMixin:
    """For admins and inlines of rows that the application writes and people only read."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ConcurrentChangeMixin(admin.ModelAdmin[_M]):
    """A change page whose save loses a race (someone else changed the row between the form's check
    and the service's conditional UPDATE) says so and shows the row again, instead of a 500.

    The services raise ``concurrent_change_errors``; the view's transaction has rolled back.
    """

    concurrent_change_errors: tuple[type[Exception], ...] = ()

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except self.concurrent_change_errors as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
