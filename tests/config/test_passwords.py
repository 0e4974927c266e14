"""Passwords: at least 12 characters, not a common one, not only digits (AUTH_PASSWORD_VALIDATORS)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from campaigns.management.commands.seed_demo import DEMO_USERS
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Tr0ub4dor&3", "too short. It must contain at least 12 characters"),
        ("qwertyqwerty", "too common"),
        ("804718305918", "entirely numeric"),
    ],
)
def test_a_weak_password_is_refused(password, reason):
    with pytest.raises(ValidationError) as refused:
        validate_password(password)

    assert reason in " ".join(refused.value.messages)


def test_a_long_uncommon_password_is_accepted():
    validate_password("correct horse battery staple")
    validate_password("vT7#qLm2!xR9")


def test_the_admin_refuses_a_short_password_when_setting_one(superuser_client, fast_passwords):
    user = make_user("dora")

    response = superuser_client.post(
        reverse("admin:auth_user_password_change", args=[user.pk]),
        {"usable_password": "true", "password1": "short-pass1", "password2": "short-pass1"},
    )

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors == {"password2": ["This password is too short. It must contain at least 12 characters."]}
    user.refresh_from_db()
    assert not user.has_usable_password()


def test_the_demo_users_log_in_with_the_passwords_seed_demo_prints(client, fast_passwords):
    """seed_demo sets its printed passwords directly (they are public anyway): they keep working."""
    output = StringIO()
    call_command("seed_demo", customers=0, no_plan=True, stdout=output)

    for username, password, *_ in DEMO_USERS:
        assert f"password {password}" in output.getvalue()
        response = client.post(reverse("admin:login"), {"username": username, "password": password})
        assert response.status_code == 302, username
        assert response["Location"] == reverse("today")
        client.logout()


def test_the_demo_passwords_meet_the_password_rules():
    for _username, password, *_ in DEMO_USERS:
        validate_password(password)  # raises ValidationError naming the rule a password breaks
