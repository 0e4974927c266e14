"""Forms of the cadence, card, batch, health and webhook admin, and the validation of a rule's message template."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.contrib.admin.widgets import AdminDateWidget
from django.utils import timezone

from campaigns.models import Batch, Cadence, Card, HealthMeasure, Rule, WebhookEndpoint
from campaigns.models.health import OVERRIDE_DAYS
from campaigns.models.rules import split_list
from campaigns.models.webhooks import SUBSCRIBABLE_TYPES, WebhookEventType
from campaigns.printing import (
    MERGE_FIELD_HELP,
    MESSAGE_MAX_LENGTH,
    TEMPLATE_MAX_LENGTH,
    MessageTemplateError,
    too_long_message,
)
from campaigns.scoring.combine import MeasureSpec, Score
from campaigns.scoring.measures import MEASURE_KINDS, measure_kind
from campaigns.selectors.health import health_preview
from campaigns.services.cards import clean_message, rule_validate_message_template
from campaigns.services.webhooks import WebhookError, webhook_url_check
from nurture.lib import calendar
from nurture.models import Customer

_SLUG_RE = re.compile(r"^[-a-z0-9_]+$")


def _merge_fields_help() -> str:
    fields = "; ".join(f"{{{{ {name} }}}}: {meaning}" for name, meaning in MERGE_FIELD_HELP.items())
    return (
        f"For cards: the message, with merge fields. {fields}. "
        "{% if %}, {% elif %}, {% else %} and {% endif %} choose text, e.g. {% if company %}...{% endif %}. "
        f"At most {TEMPLATE_MAX_LENGTH:,} characters; the message it makes at most {MESSAGE_MAX_LENGTH:,}."
    )


class RuleForm(forms.ModelForm[Rule]):
    """The rule admin's form: a card rule's message template is checked when it is saved."""

    class Meta:
        model = Rule
        fields = [
            "cadence",
            "slug",
            "name",
            "action",
            "offset_amount",
            "offset_unit",
            "repeat_every_months",
            "repeat_count",
            "repeat_until",
            "business_day_policy",
            "card_lead_days",
            "hold_while_at_risk",
            "stage",
            "card_design",
            "message_template",
            "celebratory",
            "auto_approve",
            "active",
        ]
        help_texts = {"message_template": _merge_fields_help()}
        widgets = {"message_template": forms.Textarea(attrs={"rows": 8, "cols": 80, "maxlength": TEMPLATE_MAX_LENGTH})}

    def clean_message_template(self) -> str:
        source = str(self.cleaned_data.get("message_template") or "")
        try:
            rule_validate_message_template(source=source)
        except MessageTemplateError as exc:
            raise forms.ValidationError(str(exc), code="invalid_template") from None
        return source

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # In the cadence's inline the cadence is the parent being saved, with its new anchor.
        cadence = cleaned.get("cadence")
        if cadence is None and Rule.cadence.is_cached(self.instance):
            cadence = self.instance.cadence
        repeats = cleaned.get("repeat_every_months") or cleaned.get("repeat_count")
        if isinstance(cadence, Cadence) and cadence.is_date_anchored and repeats:
            self.add_error(
                "repeat_every_months",
                "A seasonal cadence repeats by its date (every year, or once): leave 'repeat every' and "
                "'repeat count' empty; 'repeat until' ends it.",
            )
        return cleaned


# The fields each anchor of a cadence needs (and keeps: the others are emptied).
ANCHOR_NEEDS: dict[str, list[str]] = {
    Cadence.Anchor.MILESTONE: ["anchor_kind"],
    Cadence.Anchor.ANNUAL: ["anchor_month", "anchor_day"],
    Cadence.Anchor.ONCE: ["anchor_date"],
    Cadence.Anchor.HOLIDAY: ["anchor_holiday"],
}


class CadenceForm(forms.ModelForm[Cadence]):
    """A cadence's anchor (a milestone kind, or a date) and its segment, checked as a whole."""

    class Meta:
        model = Cadence
        fields = [
            "name",
            "description",
            "anchor",
            "anchor_kind",
            "anchor_month",
            "anchor_day",
            "anchor_date",
            "anchor_holiday",
            "tags",
            "tiers",
            "countries",
            "excluded_customers",
            "active",
            "no_answer_retry_days",
            "no_answer_max_retries",
            "at_risk_follow_up_days",
            "at_risk_quiet_days",
        ]

    def clean_tiers(self) -> str:
        tiers = [tier.lower() for tier in split_list(str(self.cleaned_data.get("tiers") or ""))]
        bad = [tier for tier in tiers if not _SLUG_RE.match(tier)]
        if bad:
            raise forms.ValidationError(
                f"Not a tier: {', '.join(repr(t) for t in bad)}. A tier is a slug: letters, digits, - and _, e.g. gold."
            )
        return ",".join(sorted(set(tiers)))

    def clean_countries(self) -> str:
        countries = [country.upper() for country in split_list(str(self.cleaned_data.get("countries") or ""))]
        for country in countries:
            try:
                calendar.validate_country_region(country)
            except calendar.UnknownRegion as exc:
                raise forms.ValidationError(str(exc)) from None
        return ",".join(sorted(set(countries)))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        anchor = str(cleaned.get("anchor") or "")
        required = ANCHOR_NEEDS.get(anchor, [])
        for name in required:
            if cleaned.get(name) in (None, ""):
                label = str(self.fields[name].label or name).lower()
                self.add_error(name, f"{Cadence.Anchor(anchor).label} needs the {label}.")
        if anchor == Cadence.Anchor.ANNUAL and cleaned.get("anchor_month") and cleaned.get("anchor_day"):
            try:
                calendar.validate_day_of_year(cleaned["anchor_month"], cleaned["anchor_day"])
            except ValueError as exc:
                self.add_error("anchor_day", str(exc))
        if anchor == Cadence.Anchor.HOLIDAY and cleaned.get("anchor_holiday") and "countries" in cleaned:
            self._check_holiday(cleaned)
        # Only the anchor's own fields are kept: a reader never wonders which one counts.
        keep = set(required)
        for name in ("anchor_kind", "anchor_month", "anchor_day", "anchor_date"):
            if name not in keep and name in cleaned:
                cleaned[name] = None
        if "anchor_holiday" not in keep and "anchor_holiday" in cleaned:
            cleaned["anchor_holiday"] = ""
        return cleaned

    def _check_holiday(self, cleaned: dict[str, Any]) -> None:
        """The holiday's name against the countries of the segment (or, without any, the countries of
        the customers): an unknown name is an error naming it; a country of the segment that does
        not keep it is simply not reached."""
        countries = split_list(cleaned["countries"]) or sorted(
            set(Customer.objects.exclude(country="").order_by().values_list("country", flat=True).distinct())
        )
        if not countries:
            return
        this_year = timezone.localdate().year
        try:
            calendar.validate_holiday(cleaned["anchor_holiday"], countries, [this_year, this_year + 1])
        except calendar.UnknownHoliday as exc:
            self.add_error("anchor_holiday", str(exc))


class CardForm(forms.ModelForm[Card]):
    """A card's change page: edit the message (draft or approved cards) and approve it."""

    approve = forms.BooleanField(
        label="Approve for printing",
        required=False,
        help_text="Tick to approve the card as it will be printed. A message that does not fit cannot be approved.",
    )

    class Meta:
        model = Card
        fields = ["message"]
        widgets = {"message": forms.Textarea(attrs={"rows": 8, "cols": 60, "maxlength": MESSAGE_MAX_LENGTH})}

    def clean_message(self) -> str:
        message = str(self.cleaned_data.get("message") or "")
        if not message.strip():
            raise forms.ValidationError("Write the message the card will carry.")
        length = len(clean_message(message))
        if length > MESSAGE_MAX_LENGTH:
            raise forms.ValidationError(too_long_message(length), code="max_length")
        return message


def _next_week() -> dt.date:
    return timezone.localdate() + dt.timedelta(days=7)


class BatchOptionsForm(forms.Form):
    sheet = forms.ChoiceField(
        label="Sheet",
        choices=Batch.Sheet.choices,
        initial=Batch.Sheet.CARD,
        help_text="One card per sheet on card stock, or several up on A4 or US Letter with crop marks.",
    )
    labels = forms.ChoiceField(
        label="Labels or envelopes",
        choices=Batch.Labels.choices,
        initial=Batch.Labels.L7160,
        help_text="The address labels (or envelopes) printed with the cards, in the same order.",
    )
    order = forms.ChoiceField(
        label="Order",
        choices=Batch.Order.choices,
        initial=Batch.Order.MAIL_BY,
        required=False,
        help_text="The order of the cards, their labels and the manifest. Presorted mail (by country and "
        "postal code) qualifies for bulk postage discounts; by account manager suits hand-signed cards.",
    )

    def clean_order(self) -> str:
        return str(self.cleaned_data.get("order") or Batch.Order.MAIL_BY)


class BatchBuildForm(BatchOptionsForm):
    """The "Build a batch" page: every approved card due to be mailed by a date."""

    due_by = forms.DateField(
        label="Due by",
        widget=AdminDateWidget,
        initial=_next_week,
        help_text="Approved cards that must be mailed on or before this date (overdue ones included).",
    )
    field_order = ["due_by", "sheet", "labels", "order"]


class ReturnedMailForm(forms.Form):
    """The print room's returned mail: the sequence codes of the cards that came back."""

    codes = forms.CharField(
        label="Sequence codes",
        max_length=40_000,
        widget=forms.Textarea(attrs={"rows": 10, "cols": 40, "autofocus": True, "spellcheck": "false"}),
        help_text="The code printed beside each card and on its label, e.g. B12-034: type or scan them, one per "
        "line (or separated by spaces or commas). Upper or lower case; a code scanned twice counts once.",
    )


# --- The health score (docs/health.md) --------------------------------------------------------------


class HealthMeasureForm(forms.ModelForm[HealthMeasure]):
    """A measure, and a customer to preview its effect on before saving ("Preview" does not save)."""

    kind = forms.ChoiceField(help_text=HealthMeasure._meta.get_field("kind").help_text)
    preview_customer = forms.IntegerField(
        label="Preview for customer (ID)",
        required=False,
        min_value=1,
        help_text="Press Preview to see this customer's score with the values above, before saving.",
    )

    class Meta:
        model = HealthMeasure
        fields = ["name", "kind", "weight", "trial_weight", "params", "active", "position"]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["kind"].choices = [  # type: ignore[attr-defined]
            (key, f"{kind.label}: {kind.description}") for key, kind in sorted(MEASURE_KINDS.items())
        ]

    @property
    def previewing(self) -> bool:
        return "_preview" in self.data

    # Set by the admin: who previews (they see only their customers).
    user: Any = None
    preview: Score | None = None
    preview_customer_obj: Customer | None = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.previewing:
            return cleaned
        customer_id = cleaned.get("preview_customer")
        if not customer_id:
            self.add_error("preview_customer", "Give the ID of a customer to preview.")
            return cleaned
        customer = Customer.objects.visible_to(self.user).filter(pk=customer_id).first()
        if customer is None:
            self.add_error("preview_customer", f"No customer with ID {customer_id} that you can see.")
            return cleaned
        if self.errors:
            return cleaned
        kind = str(cleaned["kind"])
        try:
            measure_kind(kind).params(cleaned.get("params") or {})
        except ValueError as exc:
            self.add_error("params", str(exc))
            return cleaned
        edited = MeasureSpec(
            id=self.instance.pk or 0,
            kind=kind,
            name=str(cleaned["name"]),
            weight=float(cleaned["weight"]),
            params=cleaned.get("params") or {},
        )
        others = [spec for spec in HealthMeasure.objects.specs() if spec.id != edited.id]
        measures = [*others, edited] if cleaned.get("active") else others
        self.preview = health_preview(customer_id=customer.pk, measures=measures, as_of=timezone.localdate())
        self.preview_customer_obj = customer
        # A preview never saves: the form stays unbound to the database until "Save".
        raise forms.ValidationError("This is a preview: nothing was saved. Press Save to keep these values.")


def _override_expiry() -> dt.date:
    return timezone.localdate() + dt.timedelta(days=OVERRIDE_DAYS)


class HealthOverrideForm(forms.Form):
    score = forms.IntegerField(min_value=0, max_value=100, help_text="The score in force instead of the computed one.")
    reason = forms.CharField(
        max_length=300, widget=forms.Textarea(attrs={"rows": 3}), help_text="Why: shown on the customer page."
    )
    expires_on = forms.DateField(
        initial=_override_expiry,
        widget=AdminDateWidget,
        help_text=f"The last day it is in force (default: in {OVERRIDE_DAYS} days). Recomputation keeps it until then.",
    )

    def clean_expires_on(self) -> dt.date:
        value: dt.date = self.cleaned_data["expires_on"]
        if value < timezone.localdate():
            raise forms.ValidationError("The expiry is in the past.")
        return value


class WebhookEndpointForm(forms.ModelForm):  # type: ignore[type-arg]
    """An endpoint's URL (checked: public addresses only), what it receives and a description."""

    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        help_text="Where the events are POSTed. It must resolve to a public address (docs/webhooks.md).",
    )
    event_types = forms.MultipleChoiceField(
        choices=[
            (value, f"{value}: {label}") for value, label in WebhookEventType.choices if value in SUBSCRIBABLE_TYPES
        ],
        widget=forms.CheckboxSelectMultiple,
        help_text="The events this endpoint receives (docs/webhooks.md describes each payload).",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "event_types"]

    def clean_url(self) -> str:
        try:
            return webhook_url_check(self.cleaned_data["url"])
        except WebhookError as exc:
            raise forms.ValidationError(str(exc)) from exc
