"""The Standard Webhooks signature (www.standardwebhooks.com).

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``; the signature is the base64 of
its HMAC-SHA256 under the key that follows ``whsec_`` in the secret (itself base64), written
``v1,<signature>``. Several signatures (during a secret's rotation) are separated by spaces.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
# 32 random bytes: the specification asks for between 24 and 64.
KEY_BYTES = 32


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(PREFIX):
        raise ValueError("A webhook secret starts with whsec_.")
    return base64.b64decode(secret[len(PREFIX) :])


def sign(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of the body under one secret."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(*, secrets: list[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of the specification, signed with every secret given."""
    signatures = " ".join(sign(secret=s, message_id=message_id, timestamp=timestamp, body=body) for s in secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
        "content-type": "application/json",
    }
