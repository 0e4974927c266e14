"""API tokens from the admin: create one, see its secret once, use it, revoke it."""

from __future__ import annotations

from typing import Any

import pytest

from nurture.models import ApiToken
from tests.browser.conftest import log_in, with_password
from tests.factories import make_customer, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_administrator_creates_a_token_sees_it_once_uses_it_and_revokes_it(page: Any, live_server: Any) -> None:
    with_password(make_user("root", superuser=True))
    alice = make_user("alice", perms=["nurture.view_customer"])
    make_customer(account_manager=alice, first_name="Ada", last_name="Lovelace", external_id="C-1")
    make_customer(first_name="Grace", last_name="Hopper", external_id="C-2")  # not Alice's

    log_in(page, live_server.url, "root", "/admin/nurture/apitoken/")
    page.get_by_role("link", name="Add API token").click()
    page.wait_for_selector("#api-token-form")
    page.fill("#id_name", "Help desk")
    page.select_option("#id_owner", label="alice")
    page.check("input[name=scopes][value='customers:read']")
    page.fill("#id_expires_days", "30")
    page.click("#api-token-form input[type=submit]")

    secret = page.inner_text("#api-token-secret").strip()
    assert secret.startswith("nur_") and len(secret) > 40
    token = ApiToken.objects.get(name="Help desk")
    assert (token.owner, token.scopes, token.prefix) == (alice, ["customers:read"], secret[: len(token.prefix)])
    assert token.expires_at is not None
    assert secret not in token.key_hash  # stored hashed

    api = f"{live_server.url}/api/v1/customers"
    headers = {"Authorization": f"Bearer {secret}"}
    answer = page.request.get(api, headers=headers)
    assert answer.status == 200, answer.text()
    assert [row["external_id"] for row in answer.json()["items"]] == ["C-1"]  # the owner's customers only

    # Never again: not on the list, not on the token's page.
    page.click("#api-token-done")
    page.wait_for_selector("#result_list")
    assert secret not in page.content()
    page.get_by_role("link", name="Help desk").click()
    page.wait_for_selector("#apitoken_form")
    assert secret not in page.content()

    page.goto(f"{live_server.url}/admin/nurture/apitoken/")
    page.check(f"input[name=_selected_action][value='{token.pk}']")
    page.select_option("select[name=action]", "revoke")
    page.click("button[name=index]")
    page.wait_for_selector("ul.messagelist")
    assert "Revoked 1 token." in page.inner_text("ul.messagelist")

    answer = page.request.get(api, headers=headers)
    assert answer.status == 401
