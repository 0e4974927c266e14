"""The user admin with the nurture profile (signature line, lead) inline."""

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from nurture.models import StaffProfile


class StaffProfileInline(admin.StackedInline[StaffProfile, Any]):
    model = StaffProfile
    fk_name = "user"
    can_delete = False
    verbose_name = "nurture profile"
    autocomplete_fields = ["lead"]


class NurtureUserAdmin(UserAdmin[Any]):
    inlines = [*UserAdmin.inlines, StaffProfileInline]


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), NurtureUserAdmin)
