"""The Today page, and its one-click actions (log a call's outcome, approve a card).

Wrapped in admin.site.admin_view by campaigns/urls.py: staff only, CSRF-protected,
never cached. Every write goes through the services and comes back to Today with a message.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from campaigns.models import Card, Touchpoint
from campaigns.selectors.today import today_page
from campaigns.services.cards import CardError, card_approve
from campaigns.services.touchpoints import TouchpointError, touchpoint_log_outcome
from nurture.admin.base import acting_user


def _back() -> HttpResponseRedirect:
    # No #anchor: the message shows at the top of the page, which must stay in view.
    return HttpResponseRedirect(reverse("today"))


def today_view(request: HttpRequest) -> HttpResponse:
    user = acting_user(request)
    page = today_page(user=user)
    context = {
        **admin.site.each_context(request),
        "title": "Today",
        "page": page,
        "outcomes": Touchpoint.Outcome.choices,
        "feed_url": reverse("my-calendar-feed") if page.calls is not None else None,
    }
    return TemplateResponse(request, "admin/today/today.html", context)


@require_POST
def today_log_outcome_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = acting_user(request)
    if not request.user.has_perm("campaigns.change_touchpoint"):
        raise PermissionDenied
    touchpoint = Touchpoint.objects.visible_to(user).select_related("customer").filter(pk=pk).first()
    if touchpoint is None:
        raise Http404("No such call.")
    outcome = request.POST.get("outcome", "")
    try:
        touchpoint_log_outcome(touchpoint=touchpoint, outcome=outcome, notes=request.POST.get("notes", ""), by=user)
    except TouchpointError as exc:
        messages.error(request, str(exc))
        return _back()
    journey = reverse("admin:nurture_customer_change", args=[touchpoint.customer_id]) + "#journey"
    messages.success(
        request,
        format_html(
            'Logged “{}” for the call with {}. <a href="{}">See {}\'s journey</a>',
            Touchpoint.Outcome(outcome).label,
            touchpoint.customer.full_name,
            journey,
            touchpoint.customer.first_name or touchpoint.customer.full_name,
        ),
    )
    return _back()


@require_POST
def today_approve_card_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = acting_user(request)
    if not request.user.has_perm("campaigns.change_card"):
        raise PermissionDenied
    card = Card.objects.visible_to(user).select_related("touchpoint").filter(pk=pk).first()
    if card is None:
        raise Http404("No such card.")
    try:
        card_approve(card=card, by=user)
    except CardError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Approved the card for {card.recipient_name}: it is ready to print.")
    return _back()
