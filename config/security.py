"""The Content-Security-Policy header (django-csp), as settings.CONTENT_SECURITY_POLICY spells it."""

from __future__ import annotations

from csp.middleware import CSPMiddleware
from django.http import HttpRequest, HttpResponseBase


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, leaving PDF responses without the header.

    Chrome shows a PDF through an internal <embed>, which the policy's object-src 'none' would
    block (crbug.com/271452): the card design's preview and the batch PDFs would not open. A PDF
    runs no script of ours, so the policy protects nothing there.
    """

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if response.get("Content-Type", "").startswith("application/pdf"):
            response._csp_exempt = True  # type: ignore[attr-defined]  # django-csp's own flag
        return super().process_response(request, response)
