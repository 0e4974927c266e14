"""The API against its own OpenAPI schema, by schemathesis (property-based): whatever a client
sends, no answer is a 500 and every answer matches the schema. In-process, against the WSGI
application, with a token of every scope; a few examples per operation so it runs in CI."""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
)

from config.wsgi import application
from tests.factories import make_api_token, make_customer, make_touchpoint

# Examples per operation: enough to find a 500 or a response off the schema, quick enough for CI.
EXAMPLES = 12
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, response_headers_conformance]


@pytest.fixture
def api_schema(db: None) -> Iterator[Any]:
    # The WSGI handler closes the database connection after each request, which would end the
    # test's transaction; Django's test client keeps it open the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def token(django_user_model: Any, settings: Any) -> str:
    settings.NURTURE_API_RATE_LIMIT = None  # hypothesis sends many requests
    owner = django_user_model.objects.create_user("integration", email="integration@example.com")
    customer = make_customer(account_manager=owner, external_id="CRM-1")
    make_touchpoint(customer=customer)
    return make_api_token(owner, name="Schemathesis")


def test_the_api_matches_its_schema(api_schema: Any, token: str) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            if case.headers and "Idempotency-Key" in case.headers:
                headers["Idempotency-Key"] = case.headers["Idempotency-Key"]
            case.call_and_validate(headers=headers, checks=CHECKS)

        run()


def test_the_schema_and_the_docs_page_are_served(client: Any, db: None) -> None:
    schema_json = client.get("/api/v1/openapi.json").json()
    assert schema_json["openapi"].startswith("3.")
    paths = schema_json["paths"]
    assert {"/api/v1/customers", "/api/v1/events", "/api/v1/events/batch", "/api/v1/activities"} <= set(paths)
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    # Swagger UI from our own static files, no inline script: the Content-Security-Policy allows it.
    assert "/static/ninja/swagger-ui-bundle.js" in html and "cdn" not in html.lower()
    assert "script-src 'self'" in docs["Content-Security-Policy"]
