"""Helpers for the card rendering tests (no database needed)."""

import io
import shutil
import subprocess
from typing import Any, cast

from PIL import Image
from pypdf import PdfReader

from campaigns.printing import DesignSpec, PrintCard, Recipient
from campaigns.printing.formats import PT_PER_MM

MESSAGE = "Dear Ann,\n\nThank you for five wonderful years with us.\n\nWarm regards,\nJordan"


def design(**overrides) -> DesignSpec:
    values = {"slug": "anniversary-a6", "format": "a6_folded", "artwork": "anniversary", "typeface": "script"}
    values.update(overrides)
    return DesignSpec(**values)


def card(number: int = 1, *, batch: int = 12, message: str = MESSAGE, name: str = "", **design_overrides) -> PrintCard:
    return PrintCard(
        sequence_code=f"B{batch}-{number:03d}",
        design=design(**design_overrides),
        message=message,
        recipient=Recipient(
            name=name or f"Ann Example {number}",
            company="Example & Sons Ltd",
            line1=f"{number} Harbour Street",
            city="Bristol",
            postal_code="BS1 4RN",
            country="GB",
        ),
    )


def read(pdf: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(pdf))


def page_texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in read(pdf).pages]


def mm(points: float) -> float:
    return float(points) / PT_PER_MM


def media_mm(page) -> tuple[float, float]:
    return mm(page.mediabox.width), mm(page.mediabox.height)


def png_is_blank(png: bytes) -> bool:
    image = Image.open(io.BytesIO(png)).convert("L")
    low = cast(tuple[int, int], image.getextrema())[0]
    return low > 245


def grey(image: Image.Image, x: int, y: int) -> int:
    """The grey level (0 black, 255 white) of a pixel of an "L" image."""
    return cast(int, image.getpixel((x, y)))


def colours(image: Image.Image) -> set[tuple[int, int, int]]:
    """The distinct colours of an RGB image."""
    counted = cast(list[tuple[int, tuple[int, int, int]]], image.getcolors(maxcolors=10_000_000))
    return {colour for _count, colour in counted}


def pdf_dict(obj: Any) -> Any:
    """A PDF object as a plain mapping for the type checker (pypdf's types are loose)."""
    return obj.get_object()


def render_page_png(pdf: bytes, page: int = 1, dpi: int = 30) -> bytes:
    from campaigns.printing.render import pdf_page_png

    return pdf_page_png(pdf, page=page, dpi=dpi)


def pdffonts(pdf: bytes, tmp_path) -> list[list[str]]:
    """Rows of `pdffonts` (name, type, encoding, emb, sub, uni, ...)."""
    path = tmp_path / "fonts.pdf"
    path.write_bytes(pdf)
    executable = shutil.which("pdffonts")
    assert executable, "poppler-utils is not installed"
    output = subprocess.run([executable, str(path)], check=True, capture_output=True, text=True).stdout
    return [line.split() for line in output.splitlines()[2:] if line.strip()]


class RecordingServer:
    """A tiny HTTP server on 127.0.0.1 (a free port) that records every request it gets.

    Every path answers with a redirect to file:///etc/passwd, in case anything follows it.
    """

    def __init__(self) -> None:
        import http.server
        import threading

        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                self.send_response(302)
                self.send_header("Location", "file:///etc/passwd")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "RecordingServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
