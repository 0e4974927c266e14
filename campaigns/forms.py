"""Forms of the card, batch and webhook admin, and the validation of a rule's message template."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib.admin.widgets import AdminDateWidget
from django.utils import timezone

from campaigns.models import Batch, Card, Rule, WebhookEndpoint
from campaigns.models.webhooks import SUBSCRIBABLE_TYPES, WebhookEventType
from campaigns.printing import (
    MERGE_FIELD_HELP,
    MESSAGE_MAX_LENGTH,
    TEMPLATE_MAX_LENGTH,
    MessageTemplateError,
    too_long_message,
)
from campaigns.services.cards import clean_message, rule_validate_message_template
from campaigns.services.webhooks import WebhookError, webhook_url_check


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


class BatchBuildForm(BatchOptionsForm):
    """The "Build a batch" page: every approved card due to be mailed by a date."""

    due_by = forms.DateField(
        label="Due by",
        widget=AdminDateWidget,
        initial=_next_week,
        help_text="Approved cards that must be mailed on or before this date (overdue ones included).",
    )
    field_order = ["due_by", "sheet", "labels"]


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
