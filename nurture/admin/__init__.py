"""The customer side's admin, one module per area; importing the package registers them all."""

from nurture.admin import customers, staff

__all__ = ["customers", "staff"]
