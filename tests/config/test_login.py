"""Logging in: everyone lands on Today, and failed logins are throttled (django-axes, config/login.py)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.urls import reverse

from config.login import client_ip
from nurture.roles import ADMINISTRATORS
from nurture.services.calendar_feeds import feed_for
from tests.factories import NOON_UTC, make_user

pytestmark = pytest.mark.django_db

PASSWORD = "a long and proper password"
LOGIN = reverse("admin:login")
TODAY = reverse("today")
# The test client's own address (REMOTE_ADDR) unless a test says otherwise.
HERE = "127.0.0.1"


@pytest.fixture
def alice(alice, fast_passwords):
    """tests/conftest.py's account manager, who logs in with a password."""
    alice.set_password(PASSWORD)
    alice.save(update_fields=["password"])
    return alice


@pytest.fixture
def bob(bob, fast_passwords):
    bob.set_password(PASSWORD)
    bob.save(update_fields=["password"])
    return bob


def log_in(client, username, password=PASSWORD, *, ip=HERE, path=LOGIN, **data_and_meta):
    """POST the admin's login form as a browser at `ip` would."""
    data = {"username": username, "password": password}
    meta: dict[str, str] = {}
    for key, value in data_and_meta.items():
        (meta if key.startswith(("HTTP_", "REMOTE_")) else data)[key] = value
    return client.post(path, data, REMOTE_ADDR=ip, **meta)


def fail(client, times, username="alice", **kwargs):
    return [log_in(client, username, "wrong password", **kwargs).status_code for _ in range(times)]


def signed_in(client) -> bool:
    return client.get(TODAY).status_code == 200


# --- Where logging in lands ------------------------------------------------------------------------


def test_logging_in_lands_on_today(client, alice):
    response = log_in(client, "alice")

    assert response.status_code == 302
    assert response["Location"] == TODAY


def test_logging_in_from_the_admins_index_lands_on_today(client, alice):
    """/admin/ sends an anonymous visitor to the login page with next=/admin/: that is no choice of theirs."""
    to_login = client.get(reverse("admin:index"))
    assert to_login.status_code == 302
    login_page = client.get(to_login["Location"])
    assert login_page.context["next"] == ""  # the form's hidden field

    response = log_in(client, "alice", path=to_login["Location"], next=login_page.context["next"])

    assert response["Location"] == TODAY


def test_a_safe_next_still_wins(client, alice):
    customers = reverse("admin:nurture_customer_changelist") + "?q=ada"

    assert client.get(f"{LOGIN}?next={customers}").context["next"] == customers
    assert log_in(client, "alice", next=customers)["Location"] == customers


def test_an_unsafe_next_lands_on_today(client, alice):
    assert log_in(client, "alice", next="https://evil.example/phish")["Location"] == TODAY


def test_the_login_page_sends_someone_already_signed_in_on(alice_client):
    assert alice_client.get(LOGIN)["Location"] == TODAY
    customers = reverse("admin:nurture_customer_changelist")
    assert alice_client.get(f"{LOGIN}?next={customers}")["Location"] == customers


# --- Throttling ------------------------------------------------------------------------------------


def test_after_five_failed_logins_the_username_is_refused_even_with_the_right_password(client, alice, settings):
    settings.TIME_ZONE = "UTC"
    with time_machine.travel(NOON_UTC, tick=False):
        assert fail(client, 4) == [200, 200, 200, 200]  # the login page again, with its error
        locked = log_in(client, "alice", "wrong password")

        assert locked.status_code == 429
        again = log_in(client, "alice")

    assert again.status_code == 429
    assert not signed_in(client)
    page = again.content.decode()
    assert 'id="lockout-message"' in page
    assert "Too many failed login attempts for “alice”" in page
    assert "After 5 failed attempts" in page
    assert "blocked for 15 minutes" in page
    assert "Try again after <strong><time" in page and "12:15 UTC" in page
    assert 'id="site-name"' in page  # the admin's look: its header
    assert reverse("admin:login") in page
    assert again["Retry-After"] == "900"


def test_a_locked_username_is_refused_from_any_address(client, alice):
    fail(client, 5, ip="198.51.100.1")

    assert log_in(client, "alice", ip="198.51.100.2").status_code == 429
    assert not signed_in(client)


def test_a_client_trying_many_usernames_is_refused_whatever_username_it_tries_next(client, alice):
    for number in range(5):
        log_in(client, f"guess{number}", "wrong password", ip="198.51.100.1")

    assert log_in(client, "alice", ip="198.51.100.1").status_code == 429
    # Someone else, elsewhere, logs in as usual.
    assert log_in(client, "alice", ip="198.51.100.2")["Location"] == TODAY


def test_the_lock_lifts_after_the_cool_off(client, alice):
    with time_machine.travel(NOON_UTC, tick=False):
        fail(client, 5)
    with time_machine.travel(NOON_UTC + dt.timedelta(minutes=15, seconds=1), tick=False):
        response = log_in(client, "alice")

    assert response["Location"] == TODAY


def test_the_limit_and_the_cool_off_are_settings(client, alice, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = dt.timedelta(minutes=1)

    assert fail(client, 2) == [200, 429]
    page = log_in(client, "alice").content.decode()
    assert "After 2 failed attempts" in page and "blocked for 1 minute." in page


# --- Behind a proxy --------------------------------------------------------------------------------


def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(client, alice, bob):
    """A client that writes a new X-Forwarded-For with every attempt is still one client."""
    for number in range(5):
        log_in(client, f"guess{number}", "wrong", ip="203.0.113.5", HTTP_X_FORWARDED_FOR=f"192.0.2.{number}")

    assert log_in(client, "bob", ip="203.0.113.5", HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429


def test_behind_a_trusted_proxy_the_address_it_forwards_is_the_client(client, alice, bob, settings):
    settings.NURTURE_TRUSTED_PROXIES = 1
    proxy = "10.0.0.2"
    for number in range(5):
        log_in(client, f"guess{number}", "wrong", ip=proxy, HTTP_X_FORWARDED_FOR="198.51.100.7")

    assert log_in(client, "bob", ip=proxy, HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 429
    # What the client wrote itself stands left of what the proxy appended: it changes nothing.
    spoofed = log_in(client, "bob", ip=proxy, HTTP_X_FORWARDED_FOR="192.0.2.1, 198.51.100.7")
    assert spoofed.status_code == 429
    # Another client through the same proxy is not locked.
    assert log_in(client, "bob", ip=proxy, HTTP_X_FORWARDED_FOR="198.51.100.8")["Location"] == TODAY


@pytest.mark.parametrize(
    ("proxies", "header", "meta", "expected"),
    [
        (0, "X-Forwarded-For", {"HTTP_X_FORWARDED_FOR": "198.51.100.7"}, "10.0.0.2"),
        (1, "X-Forwarded-For", {"HTTP_X_FORWARDED_FOR": "192.0.2.1, 198.51.100.7"}, "198.51.100.7"),
        (2, "X-Forwarded-For", {"HTTP_X_FORWARDED_FOR": "192.0.2.1,198.51.100.7, 10.0.0.1"}, "198.51.100.7"),
        (2, "X-Forwarded-For", {"HTTP_X_FORWARDED_FOR": "198.51.100.7"}, "198.51.100.7"),
        (1, "X-Forwarded-For", {}, "10.0.0.2"),
        (1, "X-Forwarded-For", {"HTTP_X_FORWARDED_FOR": "unknown"}, "10.0.0.2"),
        (1, "X-Forwarded-For", {"HTTP_X_FORWARDED_FOR": "2001:DB8::1"}, "2001:db8::1"),
        (1, "X-Real-IP", {"HTTP_X_REAL_IP": "198.51.100.7", "HTTP_X_FORWARDED_FOR": "192.0.2.1"}, "198.51.100.7"),
    ],
)
def test_the_client_address(settings, proxies, header, meta, expected):
    settings.NURTURE_TRUSTED_PROXIES = proxies
    settings.NURTURE_CLIENT_IP_HEADER = header

    assert client_ip(RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", **meta)) == expected


# --- Unlocking -------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [("axes_reset_username", "alice"), ("axes_reset",)])
def test_an_administrator_unlocks_with_a_command(client, alice, command):
    fail(client, 5)
    assert log_in(client, "alice").status_code == 429

    call_command(*command, verbosity=0)

    assert log_in(client, "alice")["Location"] == TODAY


def test_an_administrator_unlocks_in_the_admin(client, alice, superuser):
    fail(client, 5)
    administrator = Client()
    administrator.force_login(superuser)

    attempts = administrator.get(reverse("admin:axes_accessattempt_changelist"))
    assert attempts.status_code == 200
    assert "alice" in attempts.content.decode()
    [attempt] = apps.get_model("axes", "AccessAttempt").objects.filter(username="alice")
    deleted = administrator.post(reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"})
    assert deleted.status_code == 302

    assert log_in(client, "alice")["Location"] == TODAY


# --- Never throttled -------------------------------------------------------------------------------


def test_the_health_endpoint_and_the_calendar_feed_answer_a_locked_out_client(client, alice):
    feed = reverse("calendar-feed", args=[feed_for(user=alice).token])
    fail(client, 5)  # alice is locked, and so is this client's address
    assert log_in(client, "alice").status_code == 429

    health = client.get("/health/", HTTP_HOST="localhost")
    assert health.status_code in (200, 503)  # 503: no planner sweep in this test
    assert set(health.json()) == {"database", "broker", "planner"}
    calendar = client.get(feed)
    assert calendar.status_code == 200
    assert calendar["Content-Type"].startswith("text/calendar")


def test_a_nurture_administrator_may_unlock_in_the_admin(client, alice):
    fail(client, 5)
    administrator = Client()
    administrator.force_login(make_user("ada", groups=[ADMINISTRATORS]))

    [attempt] = apps.get_model("axes", "AccessAttempt").objects.filter(username="alice")
    deleted = administrator.post(reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"})
    assert deleted.status_code == 302

    assert log_in(client, "alice")["Location"] == TODAY
