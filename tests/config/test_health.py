"""GET /health/ and the admin's stale-planner banner."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from campaigns.models import PlannerRun
from config import context_processors
from tests.support.worker import ROOT

pytestmark = pytest.mark.django_db

D = dt.date


def finished_sweep(hours_ago: float, *, scope: str = "sweep") -> PlannerRun:
    finished = timezone.now() - dt.timedelta(hours=hours_ago)
    return PlannerRun.objects.create(
        scope=scope,
        as_of=finished.date(),
        planned_at=finished,
        window_start=finished.date(),
        window_end=finished.date() + dt.timedelta(days=60),
        finished_at=finished,
    )


def iso(moment: dt.datetime | None) -> str:
    assert moment is not None
    return moment.isoformat()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def probe(client):
    def get(**extra):
        response = client.get("/health/", HTTP_HOST="localhost", **extra)
        assert response["Content-Type"] == "application/json"
        return response

    return get


# --- /health/ -------------------------------------------------------------------------


def test_it_is_healthy_when_the_planner_completed_recently(probe, broker_url):
    run = finished_sweep(0.5)

    response = probe()

    assert response.status_code == 200
    assert response.json() == {
        "database": "ok",
        "broker": "ok",
        "planner": {"last_completed": iso(run.finished_at), "ok": True},
    }
    assert "no-cache" in response["Cache-Control"]


def test_a_planner_that_has_not_completed_for_too_long_is_unhealthy(probe, broker_url, settings):
    run = finished_sweep(4)
    # A sweep that started but never finished, and a re-plan of a few customers, do not count.
    PlannerRun.objects.create(
        as_of=D(2025, 3, 10), planned_at=timezone.now(), window_start=D(2025, 3, 10), window_end=D(2025, 5, 9)
    )
    finished_sweep(0, scope="customers")

    response = probe()

    assert response.status_code == 503
    assert response.json()["planner"] == {"last_completed": iso(run.finished_at), "ok": False}
    assert response.json()["database"] == response.json()["broker"] == "ok"

    settings.NURTURE_PLANNER_STALE_HOURS = 5
    assert probe().status_code == 200


def test_a_planner_that_never_completed_is_unhealthy(probe, broker_url):
    response = probe()

    assert response.status_code == 503
    assert response.json()["planner"] == {"last_completed": None, "ok": False}


def test_a_broker_that_does_not_answer_is_unhealthy_and_answers_quickly(probe, settings):
    finished_sweep(0.1)
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"

    started = time.monotonic()
    response = probe()

    assert time.monotonic() - started < 10
    assert response.status_code == 503
    assert response.json()["broker"] == "error"
    assert response.json()["database"] == "ok"
    assert response.json()["planner"]["ok"] is True


def test_head_is_allowed_and_post_is_not(client, broker_url):
    finished_sweep(0.1)
    assert client.head("/health/", HTTP_HOST="localhost").status_code == 200
    assert client.post("/health/", HTTP_HOST="localhost").status_code == 405


@pytest.mark.timeout(120)
def test_a_database_that_does_not_answer_is_unhealthy(tmp_path):
    """In a separate process whose DATABASE_URL points at a port nobody listens on."""
    script = (
        "import json; from django.test import Client; "
        "r = Client(HTTP_HOST='localhost').get('/health/'); "
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_TASK_ALWAYS_EAGER")}
    env.update(DATABASE_URL=f"postgres://postgres@127.0.0.1:{free_port()}/nowhere", VAR_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-startup", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer == {
        "status": 503,
        "body": {"database": "error", "broker": "ok", "planner": {"last_completed": None, "ok": False}},
    }


# --- The admin banner -----------------------------------------------------------------


@pytest.fixture
def with_banner(settings):
    """The context processor, as settings.TEMPLATES lists it in the deployed project."""
    templates = copy.deepcopy(settings.TEMPLATES)
    processors = templates[0]["OPTIONS"]["context_processors"]
    if "config.context_processors.planner_health" not in processors:
        processors.append("config.context_processors.planner_health")
    settings.TEMPLATES = templates
    cache.delete(context_processors.PLANNER_HEALTH_CACHE_KEY)
    yield
    cache.delete(context_processors.PLANNER_HEALTH_CACHE_KEY)


def test_the_admin_says_loudly_when_the_planner_is_stale(with_banner, staff_client):
    finished_sweep(7)

    page = staff_client.get(reverse("admin:index")).content.decode()

    assert 'id="planner-stale"' in page
    assert "The planner is not running" in page
    assert "7\xa0hours" in page  # timesince
    assert reverse("admin:nurture_jobrun_jobs") in page


def test_the_banner_is_on_the_today_page(with_banner, superuser_client):
    finished_sweep(4)

    response = superuser_client.get(reverse("today"))

    assert response.status_code == 200
    assert 'id="planner-stale"' in response.content.decode()


def test_the_banner_is_on_every_admin_page(with_banner, staff_client):
    page = staff_client.get(reverse("admin:password_change")).content.decode()

    assert "It has never completed a sweep" in page


def test_no_banner_when_the_planner_is_fine(with_banner, staff_client):
    finished_sweep(1)

    assert 'id="planner-stale"' not in staff_client.get(reverse("admin:index")).content.decode()


def test_no_banner_for_someone_not_signed_in(with_banner, client):
    assert 'id="planner-stale"' not in client.get(reverse("admin:login")).content.decode()


def test_the_banner_costs_one_query_a_minute(with_banner, django_assert_num_queries):
    finished_sweep(5)
    with django_assert_num_queries(1):
        assert context_processors.cached_planner_health().stale
    finished_sweep(0)
    with django_assert_num_queries(0):
        # Cached: the sweep that just completed shows within a minute.
        assert context_processors.cached_planner_health().stale

    cache.delete(context_processors.PLANNER_HEALTH_CACHE_KEY)
    assert context_processors.cached_planner_health().ok


def test_a_page_that_does_not_show_the_banner_costs_no_query(rf, django_assert_num_queries):
    with django_assert_num_queries(0):
        context_processors.planner_health(rf.get("/"))
