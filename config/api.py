"""The REST API, version 1: /api/v1/ with its OpenAPI schema (/api/v1/openapi.json) and docs
page (/api/v1/docs, Swagger UI from django-ninja's bundled static files: no CDN, no inline
script). The routers are interfaces of each side: customers in nurture/api/, touchpoints,
activities and events in campaigns/api/; docs/api.md describes them."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import ValidationError

from campaigns.api import activities, crm_hooks, events, touchpoints
from nurture.api import customers
from nurture.api.limits import RateLimited
from nurture.api.schemas import Unprocessable

api = NinjaAPI(
    title="nurture API",
    version="1",
    description=(
        "Customers, milestones, touchpoints, activities and events in. Authenticate with "
        "`Authorization: Bearer nur_...` (a token per integration, with scopes)."
    ),
    urls_namespace="api-v1",
)
api.add_router("", customers.router)
api.add_router("", touchpoints.router)
api.add_router("", activities.router)
api.add_router("", events.router)
api.add_router("", crm_hooks.router)


@api.exception_handler(Unprocessable)
def unprocessable(request: HttpRequest, exc: Unprocessable) -> HttpResponse:
    return api.create_response(request, {"detail": exc.detail}, status=422)


# The names of the views' parameters that hold a whole body or query (not fields of the API).
_PARAMETER_NAMES = {"payload", "filters"}


@api.exception_handler(ValidationError)
def invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """422, each problem's `loc` naming the field as the client sent it: ["body", "customer",
    "email"], not the view's parameter name in between."""
    detail = [
        {
            **error,
            "loc": [
                part for index, part in enumerate(error.get("loc", [])) if not (index == 1 and part in _PARAMETER_NAMES)
            ],
        }
        for error in exc.errors
    ]
    return api.create_response(request, {"detail": detail}, status=422)


@api.exception_handler(RateLimited)
def rate_limited(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    response = api.create_response(request, {"detail": str(exc)}, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response


class RefuseNulCharacters:
    """422 for an API request with a NUL character in its path, query or body: no text column of
    PostgreSQL can hold one, so it could only fail later (settings.MIDDLEWARE)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith("/api/") and _has_nul(request):
            detail = [{"type": "nul_character", "loc": ["request"], "msg": "NUL characters (U+0000) are not accepted."}]
            return JsonResponse({"detail": detail}, status=422)
        return self.get_response(request)


def _has_nul(request: HttpRequest) -> bool:
    query = request.META.get("QUERY_STRING", "")
    return (
        "\x00" in request.path
        or "\x00" in unquote(query)
        or b"\x00" in request.body
        or b"\\u0000" in request.body.lower()
    )
