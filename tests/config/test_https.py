"""HTTPS behind a proxy and the security headers, configured from the environment (config/settings.py)."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from config.security import ContentSecurityPolicyMiddleware
from tests.support.worker import ROOT

pytestmark = pytest.mark.django_db

# docs/operations.md's "Environment" section, behind a TLS-terminating proxy (DATABASE_URL and the
# others that do not change a security check are left out).
PRODUCTION_ENVIRONMENT = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "nurture.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://nurture.example.com",
    "NURTURE_HTTPS": "true",
    "NURTURE_TRUST_X_FORWARDED_PROTO": "true",
    "NURTURE_TRUSTED_PROXIES": "1",
}
# What the settings read from the environment that these tests set themselves.
SETTINGS_VARIABLES = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS")

SHOW_SETTINGS = """
import json
from django.conf import settings as s
print(json.dumps({
    "proxy_ssl_header": s.SECURE_PROXY_SSL_HEADER,
    "session_cookie_secure": s.SESSION_COOKIE_SECURE,
    "csrf_cookie_secure": s.CSRF_COOKIE_SECURE,
    "ssl_redirect": s.SECURE_SSL_REDIRECT,
    "redirect_exempt": s.SECURE_REDIRECT_EXEMPT,
    "hsts_seconds": s.SECURE_HSTS_SECONDS,
    "hsts_include_subdomains": s.SECURE_HSTS_INCLUDE_SUBDOMAINS,
    "hsts_preload": s.SECURE_HSTS_PRELOAD,
    "failure_limit": s.AXES_FAILURE_LIMIT,
    "cool_off_seconds": s.AXES_COOLOFF_TIME.total_seconds(),
    "trusted_proxies": s.NURTURE_TRUSTED_PROXIES,
    "client_ip_header": s.NURTURE_CLIENT_IP_HEADER,
}))
"""


def run(args, tmp_path, **environment):
    """Run a Python command in a fresh process with only `environment` set of what the settings read."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in SETTINGS_VARIABLES and not key.startswith("NURTURE_") and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(DJANGO_SETTINGS_MODULE="config.settings", VAR_DIR=str(tmp_path), **environment)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def settings_in(tmp_path, **environment):
    result = run(["-c", SHOW_SETTINGS], tmp_path, **environment)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- From the environment --------------------------------------------------------------------------


def test_by_default_no_proxy_header_is_trusted_and_https_is_not_demanded(tmp_path):
    assert settings_in(tmp_path) == {
        "proxy_ssl_header": None,
        "session_cookie_secure": False,
        "csrf_cookie_secure": False,
        "ssl_redirect": False,
        "redirect_exempt": [r"^health/$"],
        "hsts_seconds": 0,
        "hsts_include_subdomains": True,
        "hsts_preload": True,
        "failure_limit": 5,
        "cool_off_seconds": 900.0,
        "trusted_proxies": 0,
        "client_ip_header": "X-Forwarded-For",
    }


def test_the_environment_turns_on_https_the_proxy_and_the_throttling_settings(tmp_path):
    assert settings_in(
        tmp_path,
        NURTURE_HTTPS="true",
        NURTURE_TRUST_X_FORWARDED_PROTO="true",
        NURTURE_HSTS_SECONDS="3600",
        NURTURE_HSTS_INCLUDE_SUBDOMAINS="false",
        NURTURE_HSTS_PRELOAD="false",
        NURTURE_LOGIN_FAILURE_LIMIT="3",
        NURTURE_LOGIN_COOLOFF_MINUTES="30",
        NURTURE_TRUSTED_PROXIES="2",
        NURTURE_CLIENT_IP_HEADER="X-Real-IP",
    ) == {
        "proxy_ssl_header": ["HTTP_X_FORWARDED_PROTO", "https"],
        "session_cookie_secure": True,
        "csrf_cookie_secure": True,
        "ssl_redirect": True,
        "redirect_exempt": [r"^health/$"],
        "hsts_seconds": 3600,
        "hsts_include_subdomains": False,
        "hsts_preload": False,
        "failure_limit": 3,
        "cool_off_seconds": 1800.0,
        "trusted_proxies": 2,
        "client_ip_header": "X-Real-IP",
    }


@pytest.mark.parametrize(
    ("variable", "value"),
    [("NURTURE_HTTPS", "maybe"), ("NURTURE_TRUSTED_PROXIES", "-1"), ("NURTURE_LOGIN_FAILURE_LIMIT", "0")],
)
def test_a_bad_value_fails_at_start(tmp_path, variable, value):
    result = run(["-c", SHOW_SETTINGS], tmp_path, **{variable: value})

    assert result.returncode != 0
    assert variable in result.stderr


@pytest.mark.timeout(180)
def test_check_deploy_passes_with_the_documented_production_environment(tmp_path):
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], tmp_path, **PRODUCTION_ENVIRONMENT)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.timeout(180)
def test_check_deploy_warns_without_https(tmp_path):
    """The check above is no formality: without NURTURE_HTTPS the same environment fails it."""
    environment = {**PRODUCTION_ENVIRONMENT, "NURTURE_HTTPS": "false"}

    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], tmp_path, **environment)

    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr


def test_the_documented_production_environment_is_the_one_checked():
    operations = (ROOT / "docs" / "operations.md").read_text()
    environment = operations.split("\n## Environment\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z_]+)`", environment, flags=re.MULTILINE))

    assert set(PRODUCTION_ENVIRONMENT) <= documented


# --- Behind the proxy ------------------------------------------------------------------------------


@pytest.fixture
def behind_the_proxy(settings):
    """What NURTURE_HTTPS=true and NURTURE_TRUST_X_FORWARDED_PROTO=true set (see the tests above)."""
    settings.ALLOWED_HOSTS = ["nurture.example.com"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True


def test_the_calendar_feed_url_is_https_behind_the_proxy(behind_the_proxy, alice_client):
    page = alice_client.get(
        reverse("my-calendar-feed"), HTTP_HOST="nurture.example.com", HTTP_X_FORWARDED_PROTO="https"
    )

    assert page.status_code == 200
    assert page.context["feed_url"].startswith("https://nurture.example.com/feeds/calls/")
    assert 'value="https://nurture.example.com/feeds/calls/' in page.content.decode()


def test_x_forwarded_proto_is_not_trusted_by_default(alice_client, settings):
    settings.ALLOWED_HOSTS = ["nurture.example.com"]

    page = alice_client.get(
        reverse("my-calendar-feed"), HTTP_HOST="nurture.example.com", HTTP_X_FORWARDED_PROTO="https"
    )

    assert page.context["feed_url"].startswith("http://nurture.example.com/feeds/calls/")


def test_plain_http_is_redirected_to_https_except_the_health_endpoint(behind_the_proxy, client):
    plain = client.get(reverse("admin:login"), HTTP_HOST="nurture.example.com")
    assert plain.status_code == 301
    assert plain["Location"] == "https://nurture.example.com/admin/login/"

    # A load balancer's health check over plain HTTP gets its answer.
    health = client.get("/health/", HTTP_HOST="nurture.example.com")
    assert health.status_code in (200, 503)
    assert "database" in health.json()

    secure = client.get(reverse("admin:login"), HTTP_HOST="nurture.example.com", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert secure.cookies["csrftoken"]["secure"]


# --- Headers ---------------------------------------------------------------------------------------


def policy(response) -> dict[str, list[str]]:
    directives = [part.strip().split() for part in response["Content-Security-Policy"].split(";") if part.strip()]
    return {name: sources for name, *sources in directives}


def test_every_page_has_the_security_headers(client, alice_client):
    response = client.get(reverse("admin:login"))

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    csp = policy(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no inline script, no eval
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert policy(alice_client.get(reverse("today"))) == csp


def test_the_policy_leaves_pdfs_alone():
    """Chrome shows a PDF through an <embed>, which object-src 'none' would block."""
    request = RequestFactory().get("/admin/campaigns/batch/1/cards.pdf")

    def answer(content_type):
        return ContentSecurityPolicyMiddleware(lambda request: HttpResponse(b"", content_type=content_type))(request)

    assert "Content-Security-Policy" not in answer("application/pdf")
    assert "Content-Security-Policy" in answer("text/html; charset=utf-8")
