"""The cadence page's journey map in the browser, under the Content-Security-Policy."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.models import Cadence
from tests.browser.conftest import log_in, with_password
from tests.browser.test_content_security_policy import PolicyWatch
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_cadence_page_draws_the_journey_map_with_its_stages_under_the_policy(page, live_server):
    with_password(make_user("root", superuser=True))
    cadence = Cadence.objects.get(name="Post-sale nurture")
    watch = PolicyWatch(page)

    log_in(page, live_server.url, "root")
    page.goto(live_server.url + reverse("admin:campaigns_cadence_change", args=[cadence.pk]))
    page.wait_for_selector("#journey-map svg .journey-step")

    assert page.locator("#journey-map svg .journey-step").count() == cadence.rules.count()
    bands = page.locator("#journey-map svg .stage-band").evaluate_all("els => els.map(e => e.dataset.stage)")
    assert set(bands) == {"Onboarding", "Adoption", "Renewal"}
    assert page.locator("#journey-map-figures tr.figures-row").count() == cadence.rules.count()
    assert page.locator("#stage-counts").is_visible()
    box = page.locator("#journey-map svg").bounding_box()
    assert box is not None and box["width"] > 600  # drawn at the page's width
    watch.assert_none("the journey map")
