"""The only way WeasyPrint may read anything while rendering cards.

Card PDFs are rendered from text that staff typed (messages, names, addresses) and from
images that administrators uploaded. All of it is escaped before it reaches WeasyPrint, and as
a second line of defence this fetcher serves nothing but our own card assets and uploaded card
artwork: no network at all, no redirects, no file outside those two folders (after resolving
``..`` and symbolic links), and ``data:`` URLs only for images, which is how the built-in
artwork is passed in. Whatever it refuses raises an exception that WeasyPrint logs and skips:
the document still renders, without that resource.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit
from urllib.request import url2pathname

from django.conf import settings
from weasyprint.urls import URLFetcher, URLFetcherResponse

logger = logging.getLogger(__name__)

#: Our stylesheet and built-in artwork.
STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "cards"

#: What may be read from the allowed folders, by extension.
CONTENT_TYPES = {
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
}

#: What a data: URL may contain.
DATA_CONTENT_TYPES = frozenset({"image/svg+xml", "image/png", "image/jpeg"})


class RefusedURL(ValueError):
    """The URL points somewhere card rendering must not read."""


def uploads_dir() -> Path:
    """Where uploaded card artwork lives (CardDesign.front_image uploads to "designs/")."""
    return Path(settings.MEDIA_ROOT) / "designs"


class CardAssetFetcher(URLFetcher):  # type: ignore[misc]  # WeasyPrint has no type hints
    """Serve files under ``roots`` and image data: URLs; refuse everything else.

    ``fetched`` and ``refused`` list the URLs asked for, in order, for logs and tests.
    """

    def __init__(self, roots: Iterable[Path]) -> None:
        super().__init__(timeout=1, allowed_protocols=("file", "data"), allow_redirects=False)
        self.roots = tuple(Path(root).resolve() for root in roots)
        self.fetched: list[str] = []
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        try:
            response = self._serve(url)
        except RefusedURL as exc:
            self.refused.append(url)
            logger.warning("Refused to fetch %s while rendering cards: %s", _short(url), exc)
            raise
        self.fetched.append(url)
        return response

    def open(self, url: Any, data: Any = None, timeout: Any = None) -> URLFetcherResponse:
        # urllib's OpenerDirector entry point: never let it reach a handler.
        return self.fetch(url if isinstance(url, str) else getattr(url, "full_url", str(url)))

    def __call__(self, url: str) -> URLFetcherResponse:
        return self.fetch(url)

    def _serve(self, url: str) -> URLFetcherResponse:
        scheme, _, rest = url.partition(":")
        scheme = scheme.lower()
        if scheme == "data":
            return self._serve_data(url, rest)
        if scheme == "file":
            return self._serve_file(url)
        raise RefusedURL(f"scheme {scheme!r} is not allowed (only our own files)")

    def _serve_data(self, url: str, rest: str) -> URLFetcherResponse:
        header, comma, payload = rest.partition(",")
        if not comma:
            raise RefusedURL("malformed data: URL")
        params = header.split(";")
        content_type = params[0].strip().lower()
        if content_type not in DATA_CONTENT_TYPES:
            raise RefusedURL(f"data: URL of type {content_type or 'text/plain'!r} is not allowed")
        raw = unquote_to_bytes(payload)
        if "base64" in (p.strip().lower() for p in params[1:]):
            try:
                raw = base64.b64decode(raw, validate=False)
            except (binascii.Error, ValueError):
                raise RefusedURL("malformed base64 in data: URL") from None
        return URLFetcherResponse("data:" + content_type, raw, {"Content-Type": content_type})

    def _serve_file(self, url: str) -> URLFetcherResponse:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise RefusedURL(f"file URL on host {parts.netloc!r}")
        path = Path(url2pathname(parts.path))
        if not path.is_absolute():
            raise RefusedURL("relative file path")
        # Resolving follows symbolic links and removes "..": a link that points out of an
        # allowed folder resolves outside it and is refused.
        resolved = path.resolve()
        if not any(resolved.is_relative_to(root) for root in self.roots):
            raise RefusedURL("file outside the card assets and uploaded artwork")
        content_type = CONTENT_TYPES.get(resolved.suffix.lower())
        if content_type is None:
            raise RefusedURL(f"file type {resolved.suffix!r} is not allowed")
        if not resolved.is_file():
            raise FileNotFoundError(f"No such card asset: {resolved}")
        return URLFetcherResponse(resolved.as_uri(), resolved.read_bytes(), {"Content-Type": content_type})


def _short(url: str) -> str:
    return url if len(url) <= 120 else url[:117] + "..."


def card_asset_fetcher() -> CardAssetFetcher:
    """A fetcher for one rendering: our static card assets and MEDIA_ROOT/designs/."""
    return CardAssetFetcher((STATIC_DIR, uploads_dir()))
