"""An administrator sets up a seasonal cadence in the admin and previews its reach, in Chromium,
under the Content-Security-Policy."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from campaigns.models import Cadence, Rule
from tests.browser.conftest import log_in, with_password
from tests.browser.test_content_security_policy import PolicyWatch
from tests.factories import make_customer

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_administrator_adds_a_thanksgiving_cadence_inactive_and_previews_its_reach(page, live_server, superuser):
    root: Any = with_password(superuser)
    for _ in range(2):
        make_customer(country="US", region="NY", account_manager=root)
    make_customer(country="GB", account_manager=root)
    watch = PolicyWatch(page)
    url = live_server.url

    log_in(page, url, "root", path=reverse("admin:campaigns_cadence_add"))
    page.fill("#id_name", "Thanksgiving")
    page.select_option("#id_anchor", "holiday")
    page.fill("#id_anchor_holiday", "thanksgiving")
    page.uncheck("#id_active")
    page.click("input[name=_continue]")
    page.wait_for_selector("text=was added successfully")
    watch.assert_none("the cadence's form")

    cadence = Cadence.objects.get(name="Thanksgiving")
    assert (cadence.anchor, cadence.active) == ("holiday", False)
    Rule.objects.create(cadence=cadence, slug="thanksgiving-card", name="Thanksgiving card", action="card")
    page.click("text=Preview how many customers this cadence reaches")
    page.wait_for_selector("#reach")
    assert page.inner_text("#reached-count") == "2"  # the British customer: no Thanksgiving in GB
    assert page.inner_text("#not-reached-count") == "1"
    watch.assert_none("the reach preview")
