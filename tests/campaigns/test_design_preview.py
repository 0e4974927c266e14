"""The design preview's parameters: anything it does not support is a 400 or a 404, never a 500."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.models import CardDesign

pytestmark = pytest.mark.django_db


def png_url(pk: int) -> str:
    return reverse("admin:campaigns_carddesign_preview_png", args=[pk])


@pytest.fixture
def design_pk() -> int:
    return int(CardDesign.objects.order_by("pk").values_list("pk", flat=True)[0])


@pytest.mark.parametrize(
    "query",
    [
        {"page": "x"},
        {"page": ""},
        {"page": "-1"},
        {"page": "0"},
        {"page": "3"},
        {"page": "4"},
        {"page": "1.5"},
        {"page": "1e3"},
        {"page": " 1"},
        {"page": "99999999999999999999999999"},
        {"page": "٢"},  # an Arabic-Indic two: int() would take it
        {"dpi": "abc"},
        {"dpi": "-72"},
        {"dpi": "0"},
        {"dpi": "35"},
        {"dpi": "151"},
        {"dpi": "100000"},
        {"dpi": "1e9"},
        {"dpi": "72.0"},
        {"dpi": "NaN"},
        {"page": "1", "dpi": "inf"},
    ],
    ids=lambda query: "&".join(f"{key}={value}" for key, value in query.items()),
)
def test_an_unsupported_parameter_is_a_400(superuser_client, design_pk, query):
    response = superuser_client.get(png_url(design_pk), query)

    assert response.status_code == 400
    name = "dpi" if "dpi" in query and query.get("page", "1") == "1" else "page"
    assert f"{name} must be a whole number from" in response.content.decode()


@pytest.mark.parametrize("pk", [0, 999999, 2**31, 2**63, 10**30])
@pytest.mark.parametrize("view", ["png", "pdf"])
def test_an_unknown_design_is_a_404(superuser_client, pk, view):
    response = superuser_client.get(reverse(f"admin:campaigns_carddesign_preview_{view}", args=[pk]), {"page": "1"})

    assert response.status_code == 404


@pytest.mark.parametrize("pk", ["x", "-1", "1.5", "%00"])
def test_a_design_id_that_is_not_a_number_never_reaches_the_preview(superuser_client, pk):
    # No preview URL matches: the admin's own "no such object" answer, never an error or an image.
    response = superuser_client.get(png_url(1).replace("/1/", f"/{pk}/"), follow=True)

    assert response.status_code in (200, 404)
    assert response.get("Content-Type", "").startswith("text/html")


@pytest.mark.parametrize("query", [{}, {"page": "1"}, {"page": "2", "dpi": "36"}, {"dpi": "150", "v": "123"}])
def test_the_supported_parameters_render(superuser_client, design_pk, query):
    response = superuser_client.get(png_url(design_pk), query)

    assert (response.status_code, response["Content-Type"]) == (200, "image/png")
