"""Morning digests sent to account managers."""

from django.conf import settings
from django.db import models


class DigestDelivery(models.Model):
    """One morning digest per account manager per day, claimed before it is sent."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    calls_due = models.PositiveIntegerField(default=0)
    calls_overdue = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "date"], name="digest_once_per_user_per_day")]

    def __str__(self) -> str:
        return f"digest for {self.user_id} on {self.date.isoformat()}"
