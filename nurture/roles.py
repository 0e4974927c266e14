"""The roles: groups with permissions, created by a migration (nurture/migrations/0009_roles.py).

Scoping by customer is not a permission: an account manager sees only the customers they manage
unless they have nurture.view_all_customers (QuerySet.visible_to). The print room sees every
customer's cards through campaigns.print_cards, and no customer records.
"""

from __future__ import annotations

from typing import Any

ACCOUNT_MANAGERS = "Account managers"
PRINT_ROOM = "Print room"
ADMINISTRATORS = "Nurture administrators"

ROLE_PERMISSIONS: dict[str, dict[str, list[str]]] = {
    ACCOUNT_MANAGERS: {
        "nurture": [
            "view_customer",
            "change_customer",
            "view_milestone",
            "add_milestone",
            "change_milestone",
            "delete_milestone",
            "view_tag",
            "view_milestonekind",
            "view_referral",
            "add_referral",
            "change_referral",
        ],
        "campaigns": [
            "view_touchpoint",
            "change_touchpoint",
            "view_card",
            "change_card",
            "view_cadence",
            "view_rule",
            "view_carddesign",
        ],
    },
    PRINT_ROOM: {
        "campaigns": [
            "print_cards",
            "view_card",
            "view_carddesign",
            "view_batch",
            "add_batch",
            "change_batch",
        ],
    },
    # Everything in these apps, plus users and groups, and the login throttle's records (to unlock
    # someone locked out by failed logins: nurture/migrations/0013_administrators_unlock_logins.py).
    ADMINISTRATORS: {
        "nurture": ["*"],
        "campaigns": ["*"],
        "django_celery_beat": ["*"],
        "auditlog": ["*"],
        "auth": ["*"],
        "axes": ["*"],
    },
}


def ensure_roles(group_model: Any, permission_model: Any) -> None:
    """Create the groups and give them their permissions (adds; never removes what an admin granted)."""
    for name, by_app in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=name)
        for app_label, codenames in by_app.items():
            permissions = permission_model.objects.filter(content_type__app_label=app_label)
            if codenames != ["*"]:
                permissions = permissions.filter(codename__in=codenames)
                missing = set(codenames) - set(permissions.values_list("codename", flat=True))
                # An earlier migration runs this with today's roles: the permissions of a model that
                # a later migration creates do not exist yet (that migration grants them).
                content_types = permission_model._meta.get_field("content_type").related_model
                models_there = set(content_types.objects.filter(app_label=app_label).values_list("model", flat=True))
                missing = {codename for codename in missing if codename.split("_", 1)[1] in models_there}
                if missing:
                    raise RuntimeError(f"{name}: unknown permissions {sorted(missing)} in {app_label}")
            group.permissions.add(*permissions)
