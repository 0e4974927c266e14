"""The customer side's admin, one module per area; importing the package registers them all."""

from nurture.admin import api_tokens, customers, referrals, staff

__all__ = ["api_tokens", "customers", "referrals", "staff"]
