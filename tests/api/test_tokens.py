"""API tokens: created once and stored hashed, scopes, owners, expiry, revocation, last use."""

import datetime as dt
import io

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.management import CommandError, call_command

from nurture.models import ApiToken, hash_token
from nurture.services.api_tokens import (
    ApiTokenError,
    api_token_create,
    api_tokens_revoke,
    api_tokens_warn_expiring,
)
from tests.factories import bearer, make_api_token, make_customer

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)


def test_the_command_prints_the_token_once_and_stores_only_its_hash(alice):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_api_token",
        "HubSpot",
        "--owner",
        "alice",
        "--scopes",
        "events:write,customers:read",
        stdout=out,
        stderr=err,
    )
    secret = out.getvalue().strip()
    assert secret.startswith("nur_") and len(secret) > 40
    token = ApiToken.objects.get()
    assert token.key_hash == hash_token(secret) and secret not in (token.key_hash, token.prefix)
    assert secret.startswith(token.prefix)
    assert token.scopes == ["customers:read", "events:write"] and token.owner == alice
    assert token.expires_at is None
    assert "shown once" in err.getvalue()


def test_the_command_names_what_is_wrong(alice):
    with pytest.raises(CommandError, match="Unknown scope events:delete"):
        call_command("create_api_token", "X", "--owner", "alice", "--scopes", "events:delete")
    with pytest.raises(CommandError, match="No user 'nobody'"):
        call_command("create_api_token", "X", "--owner", "nobody", "--scopes", "events:write")
    with pytest.raises(CommandError, match="at least 1"):
        call_command("create_api_token", "X", "--owner", "alice", "--scopes", "events:write", "--expires-days", "0")
    assert not ApiToken.objects.exists()


def test_a_name_is_unique_per_owner(alice):
    api_token_create(name="CRM", owner=alice, scopes=["events:write"])
    with pytest.raises(ApiTokenError, match="already has a token named 'CRM'"):
        api_token_create(name="CRM", owner=alice, scopes=["events:write"])


def test_no_wrong_or_missing_token_gets_in(client, alice):
    make_customer(account_manager=alice)
    assert client.get("/api/v1/customers").status_code == 401
    assert client.get("/api/v1/customers", **bearer("nur_not-a-token")).status_code == 401
    assert client.get("/api/v1/customers", HTTP_AUTHORIZATION="Basic YWxpY2U6cHc=").status_code == 401


def test_a_token_without_the_scope_gets_403(client, alice):
    secret = make_api_token(alice, scopes=["events:write"])
    response = client.get("/api/v1/customers", **bearer(secret))
    assert response.status_code == 403
    assert "customers:read" in response.json()["detail"]


def test_an_expired_token_gets_401(client, alice):
    with time_machine.travel(NOW, tick=False):
        secret = make_api_token(alice, expires_days=30)
        assert client.get("/api/v1/customers", **bearer(secret)).status_code == 200
    with time_machine.travel(NOW + dt.timedelta(days=30, seconds=1), tick=False):
        assert client.get("/api/v1/customers", **bearer(secret)).status_code == 401


def test_a_revoked_token_gets_401(client, alice):
    secret = make_api_token(alice)
    assert client.get("/api/v1/customers", **bearer(secret)).status_code == 200
    assert api_tokens_revoke(tokens=ApiToken.objects.all()) == 1
    assert client.get("/api/v1/customers", **bearer(secret)).status_code == 401


def test_a_token_of_an_inactive_user_gets_401(client, alice):
    secret = make_api_token(alice)
    alice.is_active = False
    alice.save()
    assert client.get("/api/v1/customers", **bearer(secret)).status_code == 401


def test_last_use_is_written_at_most_once_a_minute(client, alice, django_assert_max_num_queries):
    secret = make_api_token(alice)
    token = ApiToken.objects.get()
    with time_machine.travel(NOW, tick=False):
        client.get("/api/v1/customers", **bearer(secret))
    token.refresh_from_db()
    assert token.last_used_at == NOW
    with time_machine.travel(NOW + dt.timedelta(seconds=59), tick=False):
        client.get("/api/v1/customers", **bearer(secret))
    token.refresh_from_db()
    assert token.last_used_at == NOW
    with time_machine.travel(NOW + dt.timedelta(seconds=61), tick=False):
        client.get("/api/v1/customers", **bearer(secret))
    token.refresh_from_db()
    assert token.last_used_at == NOW + dt.timedelta(seconds=61)


def test_the_owner_is_warned_once_14_days_before_expiry(alice, bob):
    with time_machine.travel(NOW, tick=False):
        make_api_token(alice, name="Help desk", expires_days=20)
        make_api_token(bob, name="CRM", expires_days=60)
        make_api_token(bob, name="Forever")
        assert api_tokens_warn_expiring(now=NOW) == 0
    later = NOW + dt.timedelta(days=7)
    assert api_tokens_warn_expiring(now=later) == 1
    assert api_tokens_warn_expiring(now=later + dt.timedelta(days=1)) == 0
    [message] = mail.outbox
    assert message.to == ["alice@example.com"]
    assert "Help desk" in message.subject and "13 days" in message.subject
    assert "create_api_token" in message.body and "'" not in message.body.split("create_api_token")[0][-5:]


def test_the_admin_revokes_and_shows_only_ones_own_tokens(client, alice, bob, superuser):
    make_api_token(alice, name="Alice's CRM")
    make_api_token(bob, name="Bob's CRM")
    alice.user_permissions.add(Permission.objects.get(codename="view_apitoken"))
    client.force_login(alice)
    page = client.get("/admin/nurture/apitoken/").content.decode()
    assert "Alice&#x27;s CRM" in page and "Bob&#x27;s CRM" not in page
    client.force_login(superuser)
    page = client.get("/admin/nurture/apitoken/")
    assert "Alice&#x27;s CRM" in page.content.decode() and "Bob&#x27;s CRM" in page.content.decode()
    bob_token = ApiToken.objects.get(name="Bob's CRM")
    response = client.post(
        "/admin/nurture/apitoken/", {"action": "revoke", "_selected_action": [bob_token.pk]}, follow=True
    )
    assert "Revoked 1 token." in response.content.decode()
    bob_token.refresh_from_db()
    assert bob_token.revoked_at is not None
    assert ApiToken.objects.get(name="Alice's CRM").revoked_at is None


ADD = "/admin/nurture/apitoken/add/"


def test_the_admin_creates_a_token_showing_its_secret_once(client, alice, superuser):
    client.force_login(superuser)
    response = client.post(ADD, {"name": "Help desk", "owner": alice.pk, "scopes": ["customers:read", "events:write"]})

    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    secret = response.context["created"].secret
    assert f'<code id="api-token-secret">{secret}</code>' in response.content.decode()
    token = ApiToken.objects.get()
    assert (token.name, token.owner, token.scopes, token.expires_at) == (
        "Help desk",
        alice,
        ["customers:read", "events:write"],
        None,
    )
    assert token.key_hash == hash_token(secret)
    assert client.get("/api/v1/customers", **bearer(secret)).status_code == 200
    # The same name again for the same owner: the form says why, and nothing is shown or made.
    again = client.post(ADD, {"name": "Help desk", "owner": alice.pk, "scopes": ["customers:read"]})
    assert again.context["created"] is None
    assert "alice already has a token named &#x27;Help desk&#x27;." in again.content.decode()
    assert ApiToken.objects.count() == 1


def test_without_a_scope_nothing_is_created(client, superuser):
    client.force_login(superuser)
    response = client.post(ADD, {"name": "Help desk", "owner": superuser.pk, "expires_days": "0"})

    errors = response.context["form"].errors
    assert set(errors) == {"scopes", "expires_days"}
    assert not ApiToken.objects.exists()


def test_someone_who_is_not_a_superuser_creates_tokens_for_themselves_only(client, alice, bob):
    alice.user_permissions.add(*Permission.objects.filter(codename__in=["add_apitoken", "view_apitoken"]))
    client.force_login(alice)

    form = client.get(ADD).context["form"]
    assert list(form.fields["owner"].queryset) == [alice]
    response = client.post(ADD, {"name": "Mine", "owner": bob.pk, "scopes": ["customers:read"]})
    assert "owner" in response.context["form"].errors and not ApiToken.objects.exists()
    client.force_login(bob)  # no add permission
    assert client.get(ADD).status_code == 403
