"""A postal address: the one list of its fields, shared by customers, card snapshots, labels,
the manifest, the import and the export."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# In the order a label prints them and a CSV file lists them.
ADDRESS_FIELDS = ("address_line1", "address_line2", "city", "region", "postal_code", "country")


def postal_zone(country: str, postal_code: str) -> str:
    """The postal zone of an address, the unit bulk mail is sorted and counted by (docs/batches.md).

    US: the first three digits of the ZIP code (the sectional centre). GB: the outward code (the
    part before the space; without a space, all but the last three characters). CA and IE: the
    first three characters (the forward sortation area, the Eircode's routing key). Elsewhere: the
    characters before the first space, or else the first two characters (a German Leitregion, a
    French département). Empty for an address without a postal code.
    """
    country = country.strip().upper()
    code = " ".join(postal_code.upper().split())
    if not code:
        return ""
    if country == "US":
        digits = "".join(char for char in code if char.isdigit())
        return digits[:3] or code[:3]
    if country == "GB":
        if " " in code:
            return code.split(" ", 1)[0]
        return code[:-3] if len(code) > 4 else code
    if country in ("CA", "IE"):
        return code.replace(" ", "")[:3]
    if " " in code:
        return code.split(" ", 1)[0]
    return code[:2]


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
