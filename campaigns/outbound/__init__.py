"""Webhooks on the wire: signing, where we may send, and the HTTP client. Pure: no models, no settings.

- signing.py: the Standard Webhooks headers and signature (new secrets, sign, the headers);
- destinations.py: a URL's host resolved and refused when private, loopback, link-local...;
- client.py: one kept HTTP client that POSTs to the very address it checked, never follows a
  redirect, and reads at most the start of the response.
"""

from campaigns.outbound.client import PostResult, WebhookClient
from campaigns.outbound.destinations import Destination, DestinationRefused, resolve_destination
from campaigns.outbound.signing import new_secret, sign, webhook_headers

__all__ = [
    "Destination",
    "DestinationRefused",
    "PostResult",
    "WebhookClient",
    "new_secret",
    "resolve_destination",
    "sign",
    "webhook_headers",
]
