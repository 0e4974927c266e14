"""The Content-Security-Policy holds and the pages still work under it: the browser reports any violation.

Each page is visited in Chromium with a listener for `securitypolicyviolation` events and the
console's CSP errors; the test fails on any, and on a page served without the policy.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from nurture.lib import calendar
from nurture.models import CalendarFeed, ImportJob
from nurture.tasks import check_import, run_import
from tests.browser.conftest import PASSWORD, log_in, with_password
from tests.factories import make_customer, make_touchpoint

pytestmark = pytest.mark.django_db(transaction=True)

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__cspViolations.push(`${event.effectiveDirective} blocked ${event.blockedURI || "inline code"} in ${where}`);
});
"""


class PolicyWatch:
    """Every violation of the policy on `page`: its events (per document) and console errors."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._console)
        page.on("response", self._response)
        self.unprotected: list[str] = []

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def _response(self, response: Any) -> None:
        is_page = response.request.resource_type == "document" and response.status < 300
        if is_page and "content-security-policy" not in response.headers:
            self.unprotected.append(response.url)

    def assert_none(self, where: str) -> None:
        # Violation events are queued as tasks: let the ones already queued run first.
        self.page.evaluate("() => new Promise((resolve) => setTimeout(resolve, 0))")
        violations = self.page.evaluate("() => window.__cspViolations || []")
        assert not violations, f"{where}: {violations}"
        assert not self.console, f"{where}: {self.console}"
        assert not self.unprotected, f"pages without the policy: {self.unprotected}"


@pytest.fixture
def root(superuser: Any) -> Any:
    return with_password(superuser)


def test_the_admin_today_the_journey_the_import_and_the_feed_page_work_under_the_policy(
    page, live_server, root, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path / "media")  # the import keeps its uploads in the media storage
    today = calendar.local_today(timezone.now(), "UTC")
    ada = make_customer(first_name="Ada", last_name="Lovelace", account_manager=root)
    make_touchpoint(customer=ada, due_on=today)
    make_touchpoint(customer=ada, due_on=today + dt.timedelta(days=20))
    watch = PolicyWatch(page)
    url = live_server.url

    # The login page, then Today, where logging in lands.
    log_in(page, url, "root", path="/admin/login/")
    assert page.url == url + reverse("today")
    page.wait_for_selector('#due-today tr >> text="Ada Lovelace"')
    watch.assert_none("Today")

    # The admin: its index, a list with its filters and actions, a form with its widgets.
    for path in (
        reverse("admin:index"),
        reverse("admin:nurture_customer_changelist"),
        reverse("admin:nurture_customer_add"),
        reverse("admin:campaigns_touchpoint_changelist"),
        reverse("admin:password_change"),
    ):
        page.goto(url + path)
        page.wait_for_selector("#content")
        watch.assert_none(path)
    # The sidebar's filter (admin/js/nav_sidebar.js) runs.
    page.fill("#nav-filter", "touch")
    page.wait_for_selector("#nav-sidebar tr[style*='display: none']", state="attached")
    watch.assert_none("the sidebar's filter")

    # The customer's journey.
    page.goto(url + reverse("admin:nurture_customer_change", args=[ada.pk]))
    page.wait_for_selector("#journey svg")
    watch.assert_none("the journey")

    # The import's pages: the upload form, and the page uploading a file leads to (what importing
    # it would do, or its progress while that is worked out).
    page.goto(url + reverse("admin:nurture_customer_import"))
    page.wait_for_selector("#id_file")
    watch.assert_none("the import's upload page")
    page.set_input_files(
        "#id_file",
        files=[
            {
                "name": "customers.csv",
                "mimeType": "text/csv",
                "buffer": b"external_id,first_name,last_name\nC-9,Alan,Turing\n",
            }
        ],
    )
    with page.expect_navigation(wait_until="load"):
        page.click("input[name=upload]")
    assert "/import/" in page.url and page.url != url + reverse("admin:nurture_customer_import")
    assert page.locator(".errornote, .errorlist").count() == 0
    watch.assert_none("the import's progress")
    # What a worker does, here in the test's process: check the file, then (once confirmed) import it.
    job = ImportJob.objects.get()
    check_import(job.pk)
    page.reload()
    page.wait_for_selector("#import-stats")
    watch.assert_none("the import's preview")
    with page.expect_navigation(wait_until="load"):
        page.click("#import-confirm input[name=confirm]")
    run_import(job.pk)
    page.reload()
    page.wait_for_selector("#import-done")
    watch.assert_none("the import's result")

    # My calendar feed: its script (a static file) selects the URL and asks before a reset.
    page.goto(url + reverse("my-calendar-feed"))
    page.click("#feed-url")
    selected = page.evaluate(
        "() => { const input = document.getElementById('feed-url');"
        " return [input.selectionStart, input.selectionEnd, input.value.length]; }"
    )
    assert selected[0] == 0 and selected[1] == selected[2] > 0
    assert page.input_value("#feed-url").startswith(url + "/feeds/calls/")
    token = CalendarFeed.objects.get(user=root).token
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#reset-feed input[type=submit]")
    assert CalendarFeed.objects.get(user=root).token == token  # dismissed: nothing sent
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#reset-feed input[type=submit]")
    page.wait_for_selector(".messagelist .success")
    assert CalendarFeed.objects.get(user=root).token != token
    watch.assert_none("My calendar feed")

    # django-celery-beat's periodic task form, whose inline script became a static file.
    task = PeriodicTask.objects.exclude(crontab=None).order_by("pk").first()
    assert task is not None
    page.goto(url + reverse("admin:django_celery_beat_periodictask_change", args=[task.pk]))
    page.wait_for_selector(".field-crontab")
    page.wait_for_selector(".field-crontab_translation", state="hidden")
    page.select_option("#id_crontab", str(task.crontab_id))
    page.dispatch_event("#id_crontab", "change")
    page.wait_for_selector(".field-crontab .help >> text=Translation:")
    watch.assert_none("a periodic task")


def test_a_locked_out_login_sees_the_lockout_page_under_the_policy(page, live_server, root):
    watch = PolicyWatch(page)
    page.goto(live_server.url + reverse("admin:login"))
    for _ in range(5):
        page.fill("#id_username", "root")
        page.fill("#id_password", "not the password")
        page.click("#login-form input[type=submit]")
        page.wait_for_selector("#lockout-message, .errornote")

    assert "Too many failed login attempts" in page.inner_text("#lockout-message")
    assert "Try again after" in page.inner_text("#lockout-retry")
    watch.assert_none("the lockout page")

    # Even the right password is refused now.
    page.click("text=Back to the login page")
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.click("#login-form input[type=submit]")
    page.wait_for_selector("#lockout-message")


def test_the_api_docs_page_works_under_the_policy(page, live_server):
    """Swagger UI from django-ninja's bundled static files: no CDN, no inline script."""
    watch = PolicyWatch(page)
    page.goto(live_server.url + "/api/v1/docs")
    page.wait_for_selector(".opblock", timeout=15_000)
    assert page.get_by_text("/api/v1/events/batch").count() >= 1
    assert page.locator(".opblock").count() >= 10
    watch.assert_none("the API docs")
