"""Referrals: a customer (the referrer) brought in another (the referred customer).

A referral is pending, then qualified (after the review period, NURTURE_REFERRAL_REVIEW_DAYS),
then thanked (the referrer's thank-you card was mailed or the thank-you call made); or void.
Qualifying gives the referrer a `referred_customer` milestone, which the "Referral thanks" cadence
counts from (docs/referrals.md). The states and their dates are held together by check
constraints; one referrer per referred customer by a unique constraint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from django.db import models

from nurture.models.customers import Customer, Milestone
from nurture.querysets import CustomerScopedQuerySet, sees_all_customers

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


class ReferralQuerySet(CustomerScopedQuerySet["Referral"]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> Self:
        """An account manager sees the referrals that touch their customers: as referrer or referred."""
        if not user.is_authenticated:
            return self.none()
        if sees_all_customers(user):
            return self
        return self.filter(
            models.Q(referrer__account_manager_id=user.pk) | models.Q(referred__account_manager_id=user.pk)
        )

    def counted(self) -> Self:
        """The referrals that count for the referrer (the advocate flag): qualified or thanked."""
        return self.filter(status__in=Referral.COUNTED)


class Referral(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending (in review)"
        QUALIFIED = "qualified", "Qualified"
        THANKED = "thanked", "Thanked"
        VOID = "void", "Void"

    class Source(models.TextChoices):
        ADMIN = "admin", "Admin"
        IMPORT = "import", "CSV import"
        API = "api", "API event"
        CRM = "crm", "CRM"

    COUNTED = (Status.QUALIFIED, Status.THANKED)
    # What may still be voided: a thanked referral is history.
    VOIDABLE = (Status.PENDING, Status.QUALIFIED)

    referrer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="referrals_made", help_text="The customer who referred."
    )
    referred = models.OneToOneField(
        Customer,
        on_delete=models.CASCADE,
        related_name="referral",
        verbose_name="referred customer",
        help_text="The new customer they brought in; a customer has one referrer at most.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    source = models.CharField(max_length=10, choices=Source.choices, help_text="How the referral came in.")
    source_name = models.CharField(
        max_length=50, blank=True, help_text="Which integration, e.g. the API token's name or 'hubspot'."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    qualifies_on = models.DateField(
        help_text="The review period's end: a pending referral qualifies on this day (NURTURE_REFERRAL_REVIEW_DAYS)."
    )
    qualified_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The referrer's referred_customer milestone that qualifying gave them; the thank-you
    # touchpoints count from it. Referrals qualified the same day share it (one thank-you).
    milestone = models.ForeignKey(
        Milestone, on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="referrals"
    )
    thanked_at = models.DateTimeField(null=True, blank=True, editable=False)
    voided_at = models.DateTimeField(null=True, blank=True, editable=False)
    void_reason = models.CharField(max_length=200, blank=True, editable=False)

    objects = ReferralQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # No self-referral, whatever writes the row.
            models.CheckConstraint(condition=~models.Q(referrer=models.F("referred")), name="referral_not_self"),
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "qualified", "thanked", "void"]),
                name="referral_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(source__in=["admin", "import", "api", "crm"]), name="referral_source_valid"
            ),
            # Each state has its dates: qualified and thanked ones were qualified; thanked ones thanked;
            # void ones say when and why.
            models.CheckConstraint(
                condition=~models.Q(status__in=["qualified", "thanked"]) | models.Q(qualified_at__isnull=False),
                name="referral_qualified_has_date",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="thanked") | models.Q(thanked_at__isnull=False),
                name="referral_thanked_has_date",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="void") | (models.Q(voided_at__isnull=False) & ~models.Q(void_reason="")),
                name="referral_void_has_reason",
            ),
        ]
        indexes = [
            # The advocate flag and the customer page: a referrer's referrals by status.
            models.Index(fields=["referrer", "status"], name="referral_referrer_status"),
            # The Beat task: pending referrals whose review period has ended (referrals_qualify_due).
            models.Index(fields=["qualifies_on"], condition=models.Q(status="pending"), name="referral_pending_due"),
            # Thanking: the qualified referrals of the milestones whose thank-you was made.
            models.Index(fields=["milestone"], condition=models.Q(status="qualified"), name="referral_qualified_ms"),
        ]

    def __str__(self) -> str:
        return f"{self.referrer} referred {self.referred}"
