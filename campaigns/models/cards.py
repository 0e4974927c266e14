"""Greeting cards: designs, the printable part of a card touchpoint, print batches, and their reads.

The print room's queue is ``Card.objects.printable(due_by)``: approved cards, in no batch, whose
touchpoint is still pending and due by the date, for customers who may still be contacted at an
address no card came back from.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Self

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F
from django.db.models.functions import Upper

from campaigns.models.touchpoints import Touchpoint
from campaigns.printing.artworks import ARTWORKS
from campaigns.printing.specs import DesignSpec
from campaigns.statuses import (
    BATCH_DOWNLOADABLE,
    BATCH_RENDERING,
    CARD_IN_UNMAILED_BATCH,
    CARD_OPEN,
    BatchOrder,
    BatchStatus,
    CardStatus,
    TouchpointStatus,
)
from nurture.lib.customer_scope import CustomerScope
from nurture.models import Customer
from nurture.querysets import CustomerScopedQuerySet


class CardDesign(models.Model):
    class Format(models.TextChoices):
        A6_FOLDED = "a6_folded", "A6 folded card (from A5, fits a C6 envelope)"
        FOLDED_5X7 = "5x7_folded", "5 x 7 in folded card (from 10 x 7 in, fits an A7 envelope)"
        A6_POSTCARD = "a6_postcard", "A6 postcard"
        POSTCARD_4X6 = "4x6_postcard", "4 x 6 in postcard"

    # The artworks of the registry (campaigns/printing/artworks.py), in its order: a new design is
    # an entry there, not a change here. Members are named after the slugs (Artwork.THANK_YOU).
    # Built with Django's functional API, which the type checker cannot follow.
    Artwork: Any = models.TextChoices(  # type: ignore[call-overload]
        "Artwork",
        [(artwork.slug.upper(), (artwork.slug, artwork.label)) for artwork in ARTWORKS],
        module=__name__,
        qualname="CardDesign.Artwork",
    )

    class Typeface(models.TextChoices):
        SCRIPT = "script", "Handwritten (Dancing Script)"
        SERIF = "serif", "Classic (EB Garamond)"
        SANS = "sans", "Modern (Inter)"

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(unique=True, help_text="Stable code, e.g. anniversary-a6.")
    format = models.CharField(max_length=20, choices=Format.choices, default=Format.A6_FOLDED)
    artwork = models.CharField(
        "front artwork",
        max_length=20,
        choices=Artwork.choices,
        default=Artwork.ANNIVERSARY,
        help_text="A built-in design, or the uploaded image below.",
    )
    front_image = models.ImageField(
        upload_to="designs/",
        blank=True,
        help_text="For 'uploaded image': the full front including bleed, at 300 dpi (e.g. 1276 x 1819 px for A6).",
    )
    headline = models.CharField(
        max_length=60, blank=True, help_text="Text on the front of a built-in design; empty for its default."
    )
    accent_color = models.CharField(
        max_length=7,
        default="#8c2f39",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a colour like #8c2f39.")],
        help_text="Colour of the built-in artwork and the inside ornaments.",
    )
    typeface = models.CharField(
        max_length=10, choices=Typeface.choices, default=Typeface.SCRIPT, help_text="Typeface of the message."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(artwork="uploaded") | ~models.Q(front_image=""),
                name="carddesign_uploaded_needs_image",
            ),
            models.CheckConstraint(
                condition=models.Q(format__in=["a6_folded", "5x7_folded", "a6_postcard", "4x6_postcard"]),
                name="carddesign_format_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_postcard(self) -> bool:
        return self.format in (self.Format.A6_POSTCARD, self.Format.POSTCARD_4X6)

    def spec(self) -> DesignSpec:
        """The design as the renderer takes it (plain data: the renderer never sees a model)."""
        return DesignSpec(
            slug=self.slug,
            format=self.format,
            artwork=self.artwork,
            front_image=self.front_image.name if self.front_image else "",
            headline=self.headline,
            accent_color=self.accent_color,
            typeface=self.typeface,
        )


class CardQuerySet(CustomerScopedQuerySet["Card"]):
    # Like touchpoints: an account manager sees the cards of their own customers; the print room
    # (campaigns.print_cards) sees every card, without seeing the customers themselves.
    account_manager_lookup = "touchpoint__customer__account_manager_id"
    sees_all_permissions = ("campaigns.print_cards",)

    def in_scope(self, scope: CustomerScope) -> Self:
        """The cards of a planner chunk (a range of customer ids) or of some customers."""
        return self.filter(scope.q("touchpoint__customer_id"))

    def open(self) -> Self:
        """Cards whose message may still change: draft or approved."""
        return self.filter(status__in=CARD_OPEN)

    def drafts(self) -> Self:
        return self.filter(status=CardStatus.DRAFT)

    def unchecked(self) -> Self:
        """Open cards whose message has not been checked against the inside panel yet."""
        return self.open().filter(fits__isnull=True)

    def printable(self, due_by: dt.date | None = None) -> Self:
        """Approved cards that may go into a batch (fit aside): the print room's queue."""
        qs = self.filter(
            status=CardStatus.APPROVED,
            batch__isnull=True,
            touchpoint__status=TouchpointStatus.PENDING,
            touchpoint__customer__status=Customer.Status.ACTIVE,
            # Never to an address a card came back from (the planner holds these cards too).
            touchpoint__customer__address_undeliverable_on__isnull=True,
        )
        if due_by is not None:
            qs = qs.filter(touchpoint__due_on__lte=due_by)
        return qs

    def batchable(self, due_by: dt.date | None = None) -> Self:
        """Printable cards whose message is known to fit."""
        return self.printable(due_by).filter(fits=True)

    def unfit(self) -> Self:
        return self.filter(fits=False)

    def in_print_order(self, order: str = BatchOrder.MAIL_BY) -> Self:
        """The order of sequence numbers in a batch (its cards, labels and manifest rows).

        ``mail_by``: mail-by date, surname, then id. ``postal``: country and postal code, for bulk
        postage discounts (presorted mail), then mail-by date. ``manager``: by account manager
        (surname, first name, user name; customers without one last), then mail-by date.
        """
        tail = ("touchpoint__due_on", "touchpoint__customer__last_name", "id")
        if order == BatchOrder.POSTAL:
            return self.order_by(Upper("country"), Upper("postal_code"), *tail)
        if order == BatchOrder.MANAGER:
            manager = "touchpoint__customer__account_manager__"
            return self.order_by(
                F(f"{manager}last_name").asc(nulls_last=True),
                F(f"{manager}first_name").asc(nulls_last=True),
                F(f"{manager}username").asc(nulls_last=True),
                *tail,
            )
        if order != BatchOrder.MAIL_BY:
            raise ValueError(f"Unknown batch order {order!r}; expected one of {', '.join(BatchOrder.values)}")
        return self.order_by(*tail)

    def for_print(self) -> Self:
        return self.select_related("design").order_by("sequence")

    def returned(self) -> Self:
        """Cards that came back undeliverable (the health score counts them)."""
        return self.filter(status=CardStatus.RETURNED)

    def withdrawn(self) -> Self:
        """Cards in a batch, not mailed, that must not be mailed any more.

        The customer became do-not-contact (or churned, or paused), the touchpoint was cancelled,
        skipped or held, or a card came back from the customer's address, after the card entered
        its batch. The print room takes them out of the pile;
        marking the batch mailed leaves them as they are.
        """
        return self.filter(status__in=CARD_IN_UNMAILED_BATCH).filter(
            ~models.Q(touchpoint__status=TouchpointStatus.PENDING)
            | ~models.Q(touchpoint__customer__status=Customer.Status.ACTIVE)
            | models.Q(touchpoint__customer__address_undeliverable_on__isnull=False)
        )


class Card(models.Model):
    Status = CardStatus

    touchpoint = models.OneToOneField(Touchpoint, on_delete=models.CASCADE, related_name="card")
    design = models.ForeignKey(CardDesign, on_delete=models.PROTECT, related_name="cards")
    message = models.TextField(help_text="The message inside the card, as it will be printed.")
    message_edited = models.BooleanField(default=False, help_text="Changed by hand after it was drafted.")
    fits = models.BooleanField(null=True, help_text="Whether the message fits the inside panel; empty until checked.")
    fit_problem = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # The recipient as it was when the card was drafted (or last refreshed before printing).
    recipient_name = models.CharField(max_length=200)
    recipient_company = models.CharField(max_length=200, blank=True)
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=10, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    batch = models.ForeignKey("campaigns.Batch", on_delete=models.PROTECT, null=True, blank=True, related_name="cards")
    sequence = models.PositiveIntegerField(null=True, blank=True, help_text="Position in its batch, from 1.")
    # The touchpoint's due date, kept on the card so that "drafts, soonest mail-by first" is one
    # index (card_draft_mail_by) instead of a walk of the touchpoints by date that probes each one's
    # card. Set when the card is drafted (save() and services.cards), moved with the touchpoint
    # (services.touchpoints' snooze, the only change of a due date) and repaired after every
    # planner chunk (services.cards.cards_sync_mail_by). Empty only for cards closed before
    # campaigns 0012 and, during an upgrade, for cards drafted by the previous release until the
    # next planner sweep.
    mail_by = models.DateField(
        "mail by", null=True, blank=True, editable=False, help_text="The touchpoint's due date (the mail-by date)."
    )
    returned_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the print room recorded the card as returned."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CardQuerySet.as_manager()

    class Meta:
        ordering = ["touchpoint__due_on", "id"]
        permissions = [("print_cards", "Can batch and print every customer's cards")]
        constraints = [
            models.UniqueConstraint(fields=["batch", "sequence"], name="card_unique_sequence_in_batch"),
            models.CheckConstraint(
                condition=models.Q(
                    status__in=["draft", "approved", "batched", "printed", "mailed", "returned", "cancelled"]
                ),
                name="card_status_valid",
            ),
            # A card is in a batch exactly when it is batched, printed, mailed or returned.
            models.CheckConstraint(
                condition=(
                    models.Q(
                        status__in=["batched", "printed", "mailed", "returned"],
                        batch__isnull=False,
                        sequence__isnull=False,
                    )
                    | models.Q(status__in=["draft", "approved", "cancelled"], batch__isnull=True, sequence__isnull=True)
                ),
                name="card_batch_matches_status",
            ),
            # A returned card says when it came back.
            models.CheckConstraint(
                condition=~models.Q(status="returned") | models.Q(returned_at__isnull=False),
                name="card_returned_has_time",
            ),
            # "Approved" means ready to print: a message known not to fit sends the card back to draft.
            models.CheckConstraint(
                condition=~models.Q(status="approved", fits=False),
                name="card_approved_fits",
            ),
        ]
        indexes = [
            # The print room's queue: approved cards by mail-by date (CardQuerySet.printable()).
            models.Index(fields=["status", "batch"], name="card_status_batch"),
            # Today's cards to approve, soonest mail-by first, and their bounded count
            # (selectors.today.my_drafts): only the drafts, in the list's order.
            models.Index(fields=["mail_by", "id"], condition=models.Q(status="draft"), name="card_draft_mail_by"),
            # The print room's queue on Today, counted up to a cap along the mail-by dates
            # (selectors.today.mail_by_groups): only the approved cards, which are never in a batch.
            models.Index(fields=["mail_by", "id"], condition=models.Q(status="approved"), name="card_approved_mail_by"),
            # The open cards not checked against the inside panel yet, by id: the recovery of lost fit
            # checks (services.cards.cards_check_fit_overdue, every five minutes) and the checks queued
            # after drafting (CardQuerySet.unchecked()). Partial: a card leaves it once checked.
            models.Index(
                fields=["id"],
                condition=models.Q(fits__isnull=True, status__in=["draft", "approved"]),
                name="card_unchecked",
            ),
            # The cards report's daily figures: the cards approved, and those returned, on one day.
            models.Index(
                fields=["approved_at"], condition=models.Q(approved_at__isnull=False), name="card_approved_at"
            ),
            models.Index(
                fields=["returned_at"], condition=models.Q(returned_at__isnull=False), name="card_returned_at"
            ),
            # The health score's facts (campaigns.selectors.health): a chunk's cards mailed or
            # returned, looked up by touchpoint without reading the wide card rows.
            models.Index(
                fields=["touchpoint"],
                include=["status", "returned_at"],
                condition=models.Q(status__in=["mailed", "returned"]),
                name="card_sent_by_touchpoint",
            ),
        ]

    def __str__(self) -> str:
        return f"Card for {self.recipient_name} ({self.get_status_display()})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.mail_by is None and self.touchpoint_id is not None:
            self.mail_by = self.touchpoint.due_on
        super().save(*args, **kwargs)

    @property
    def sequence_code(self) -> str:
        if self.batch_id is None or self.sequence is None:
            return ""
        return f"B{self.batch_id}-{self.sequence:03d}"


class BatchQuerySet(models.QuerySet["Batch"]):
    def rendering(self) -> Self:
        """Queued or rendering: chunks still to render or the files still to join."""
        return self.filter(status__in=BATCH_RENDERING)

    def downloadable(self) -> Self:
        return self.filter(status__in=BATCH_DOWNLOADABLE)


class Batch(models.Model):
    Status = BatchStatus

    class Sheet(models.TextChoices):
        CARD = "card", "One card per sheet, on card stock"
        A4 = "a4", "Several up on A4, with crop marks"
        LETTER = "letter", "Several up on US Letter, with crop marks"

    class Labels(models.TextChoices):
        L7160 = "l7160", "Avery L7160 labels (A4, 3 x 7)"
        AVERY_5160 = "5160", "Avery 5160 labels (US Letter, 3 x 10)"
        ENVELOPE_C6 = "c6", "C6 envelopes"
        ENVELOPE_A7 = "a7", "A7 envelopes"

    Order = BatchOrder

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    due_by = models.DateField(help_text="Approved cards to be mailed by this date.")
    sheet = models.CharField(max_length=10, choices=Sheet.choices, default=Sheet.CARD)
    labels = models.CharField(max_length=10, choices=Labels.choices, default=Labels.L7160)
    order = models.CharField(
        max_length=10,
        choices=Order.choices,
        default=Order.MAIL_BY,
        help_text="The order of the cards, their labels and the manifest (their sequence numbers).",
    )
    card_count = models.PositiveIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    cards_done = models.PositiveIntegerField(default=0, help_text="Cards whose pages are rendered.")
    file_size = models.PositiveIntegerField(
        default=0, help_text="Cards per print file at most (NURTURE_BATCH_FILE_SIZE when it was built)."
    )
    file_count = models.PositiveIntegerField(default=0, help_text="Print files of the cards.")
    files_done = models.PositiveIntegerField(default=0, help_text="Print files joined and ready to download.")
    started_at = models.DateTimeField(null=True, blank=True, help_text="When the first chunk started rendering.")
    error = models.TextField(blank=True, help_text="Why rendering failed.")
    cards_pdf = models.FileField(
        upload_to="batches/", blank=True, help_text="The cards in one PDF, for a batch of one print file."
    )
    labels_pdf = models.FileField(upload_to="batches/", blank=True)
    manifest_csv = models.FileField(upload_to="batches/", blank=True)
    zones_csv = models.FileField(
        upload_to="batches/", blank=True, help_text="The number of cards per country and postal zone."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    rendered_at = models.DateTimeField(null=True, blank=True)
    printed_at = models.DateTimeField(null=True, blank=True)
    mailed_at = models.DateTimeField(null=True, blank=True)
    card_selection = models.JSONField(
        null=True,
        blank=True,
        editable=False,
        help_text="The cards chosen by hand (ids), for a batch built from a selection; "
        "empty for every approved card due by the date. Re-rendering a failed batch uses it.",
    )
    retry_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="retries",
        editable=False,
        help_text="The failed batch this one renders again.",
    )

    objects = BatchQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "batches"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["queued", "rendering", "ready", "failed", "printed", "mailed"]),
                name="batch_status_valid",
            ),
            models.CheckConstraint(condition=models.Q(chunks_done__lte=models.F("chunk_count")), name="batch_progress"),
            # A print file counts once, whatever joins it twice.
            models.CheckConstraint(
                condition=models.Q(files_done__lte=models.F("file_count")), name="batch_files_progress"
            ),
            # A rendered card counts once, whatever renders its chunk twice.
            models.CheckConstraint(
                condition=models.Q(cards_done__lte=models.F("card_count")), name="batch_cards_progress"
            ),
            models.CheckConstraint(
                condition=models.Q(order__in=["mail_by", "postal", "manager"]), name="batch_order_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"B{self.pk} ({self.card_count} cards, {self.get_status_display()})"

    @property
    def code(self) -> str:
        return f"B{self.pk}"


class BatchChunk(models.Model):
    """A run of consecutive cards of a batch, rendered by one worker and joined in order.

    A chunk renders either the cards' pages or their address labels: labels come in longer runs,
    so that each labels document is a whole number of sheets and few enough to be cheap.
    """

    class Kind(models.TextChoices):
        CARDS = "cards", "Cards"
        LABELS = "labels", "Labels"

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CARDS)
    first_sequence = models.PositiveIntegerField()
    last_sequence = models.PositiveIntegerField()
    pdf = models.FileField(
        upload_to="batches/chunks/", blank=True, help_text="The rendered pages, as a fragment ready to be joined."
    )
    rendered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["batch", "index"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "index"], name="batchchunk_unique_index"),
            models.CheckConstraint(condition=models.Q(kind__in=["cards", "labels"]), name="batchchunk_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} chunk {self.index} of B{self.batch_id}"


class BatchFile(models.Model):
    """A print file: the cards of a run of consecutive cards chunks, joined as soon as the last of
    them is rendered, downloadable while the rest of the batch still renders."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="files")
    index = models.PositiveIntegerField()
    first_sequence = models.PositiveIntegerField()
    last_sequence = models.PositiveIntegerField()
    pdf = models.FileField(upload_to="batches/", blank=True, help_text="The joined cards PDF; empty until joined.")
    joined_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["batch", "index"]
        constraints = [
            # One file per position: building and joining twice never makes a second one.
            models.UniqueConstraint(fields=["batch", "index"], name="batchfile_unique_index"),
            # A file holds at least one card.
            models.CheckConstraint(
                condition=models.Q(last_sequence__gte=models.F("first_sequence")), name="batchfile_cards"
            ),
            # Joined exactly when it has its PDF.
            models.CheckConstraint(
                condition=models.Q(joined_at__isnull=True, pdf="")
                | (models.Q(joined_at__isnull=False) & ~models.Q(pdf="")),
                name="batchfile_joined_has_pdf",
            ),
        ]

    def __str__(self) -> str:
        return f"file {self.index + 1} of B{self.batch_id} (cards {self.first_sequence}-{self.last_sequence})"

    @property
    def card_count(self) -> int:
        return self.last_sequence - self.first_sequence + 1

    @property
    def download_name(self) -> str:
        return f"B{self.batch_id}-cards-{self.index + 1:03d}.pdf"
