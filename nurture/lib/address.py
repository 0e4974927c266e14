"""A postal address: the one list of its fields, shared by customers, card snapshots, labels,
the manifest, the import and the export."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# In the order a label prints them and a CSV file lists them.
ADDRESS_FIELDS = ("address_line1", "address_line2", "city", "region", "postal_code", "country")


@dataclass(frozen=True)
class Address:
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""

    @classmethod
    def of(cls, holder: Any) -> Address:
        """The address of anything with the address fields (a customer, a card's snapshot)."""
        return cls(**{name: getattr(holder, name) for name in ADDRESS_FIELDS})

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)
