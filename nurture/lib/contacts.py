"""E-mail addresses and phone numbers reduced to compare them (pure).

"Is this person already a customer?" (a referral must bring in a new one, docs/referrals.md) is
asked by e-mail and by phone, as people write them: " Ada@Example.com" is "ada@example.com", and
"+44 (20) 7946-0018" is "442079460018". The database compares the same reductions through
expression indexes on the customers (nurture.models.customers: email_key(), phone_key()), so the
characters dropped here are the ones those expressions drop.
"""

from __future__ import annotations

# What a phone number may contain that does not change it: spaces, separators, the plus sign.
PHONE_PUNCTUATION = (" ", "-", "(", ")", ".", "/", "+")


def email_key(email: str) -> str:
    return email.strip().lower()


def phone_key(phone: str) -> str:
    key = phone.strip()
    for character in PHONE_PUNCTUATION:
        key = key.replace(character, "")
    return key
