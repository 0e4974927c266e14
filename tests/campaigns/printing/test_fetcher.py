import base64
import io
import urllib.request

import pytest
from PIL import Image
from weasyprint import HTML

from campaigns.printing.fetcher import STATIC_DIR, CardAssetFetcher, RefusedURL, card_asset_fetcher
from tests.campaigns.printing import RecordingServer


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    designs = settings.MEDIA_ROOT / "designs"
    designs.mkdir(parents=True)
    (designs / "front.png").write_bytes(png_bytes())
    (tmp_path / "secret.png").write_bytes(png_bytes())
    (tmp_path / "secret.txt").write_text("top secret")
    return tmp_path


def test_it_serves_our_stylesheet_and_artwork():
    fetcher = card_asset_fetcher()
    response = fetcher.fetch((STATIC_DIR / "cards.css").as_uri())
    assert response.content_type == "text/css"
    assert b".card" in response.read()
    response = fetcher.fetch((STATIC_DIR / "art" / "wreath.svg").as_uri())
    assert response.content_type == "image/svg+xml"
    assert fetcher.fetched and not fetcher.refused


def test_it_serves_uploaded_artwork(media):
    fetcher = card_asset_fetcher()
    response = fetcher.fetch((media / "media" / "designs" / "front.png").as_uri())
    assert response.content_type == "image/png"
    assert response.read() == png_bytes()


def test_it_serves_image_data_urls():
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/>'
    fetcher = card_asset_fetcher()
    response = fetcher.fetch("data:image/svg+xml;base64," + base64.b64encode(svg).decode())
    assert response.read() == svg
    assert fetcher.fetch("data:image/svg+xml,%3Csvg%2F%3E").read() == b"<svg/>"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "file:///etc/hostname",
        "file://localhost/etc/passwd",
        "file://otherhost/etc/passwd",
        "file:///proc/self/environ",
        "data:text/html,<h1>x</h1>",
        "data:text/css,body{}",
        "data:,hello",
        "ftp://127.0.0.1/x.png",
        "gopher://127.0.0.1/",
        "javascript:alert(1)",
    ],
)
def test_it_refuses_anything_else(url):
    fetcher = card_asset_fetcher()
    with pytest.raises(RefusedURL):
        fetcher.fetch(url)
    assert fetcher.refused == [url]
    assert fetcher.fetched == []


def test_it_refuses_files_outside_the_allowed_folders(media):
    fetcher = card_asset_fetcher()
    for path in (media / "secret.png", media / "media" / "other.png"):
        with pytest.raises(RefusedURL, match="outside"):
            fetcher.fetch(path.as_uri())


def test_it_refuses_dot_dot_traversal(media):
    fetcher = card_asset_fetcher()
    designs = (media / "media" / "designs").as_uri()
    with pytest.raises(RefusedURL, match="outside"):
        fetcher.fetch(designs + "/../../secret.png")
    with pytest.raises(RefusedURL, match="outside"):
        fetcher.fetch(designs + "/%2E%2E/%2E%2E/secret.png")
    with pytest.raises(RefusedURL, match="outside"):
        fetcher.fetch(STATIC_DIR.as_uri() + "/../../../../../../etc/passwd")


def test_it_refuses_symlinks_that_escape(media):
    link = media / "media" / "designs" / "escape.png"
    link.symlink_to(media / "secret.png")
    dir_link = media / "media" / "designs" / "up"
    dir_link.symlink_to(media)
    fetcher = card_asset_fetcher()
    with pytest.raises(RefusedURL, match="outside"):
        fetcher.fetch(link.as_uri())
    with pytest.raises(RefusedURL, match="outside"):
        fetcher.fetch(dir_link.as_uri() + "/secret.png")


def test_it_refuses_other_file_types_even_inside(media):
    (media / "media" / "designs" / "notes.txt").write_text("x")
    (media / "media" / "designs" / "page.html").write_text("<p>x</p>")
    fetcher = card_asset_fetcher()
    for name in ("notes.txt", "page.html"):
        with pytest.raises(RefusedURL, match="file type"):
            fetcher.fetch((media / "media" / "designs" / name).as_uri())


def test_a_missing_file_is_an_error_not_a_crash():
    fetcher = card_asset_fetcher()
    with pytest.raises(FileNotFoundError):
        fetcher.fetch((STATIC_DIR / "art" / "missing.svg").as_uri())


def test_no_request_reaches_the_network():
    with RecordingServer() as server:
        fetcher = card_asset_fetcher()
        for url in (f"{server.url}/x.png", f"{server.url}/redirect", server.url.replace("http", "https") + "/x"):
            with pytest.raises(RefusedURL, match="scheme"):
                fetcher.fetch(url)
        # urllib's entry point is closed too.
        with pytest.raises(RefusedURL):
            fetcher.open(urllib.request.Request(f"{server.url}/open"))  # noqa: S310 - it must refuse
        # The server is reachable, it just never hears from the fetcher.
        with pytest.raises(urllib.error.HTTPError):  # the 302 to file:, which urllib does not follow
            urllib.request.build_opener(urllib.request.HTTPHandler).open(f"{server.url}/probe", timeout=5)
    assert server.requests == ["/probe"]


def test_weasyprint_skips_what_the_fetcher_refuses_and_still_renders(tmp_path):
    with RecordingServer() as server:
        fetcher = CardAssetFetcher([STATIC_DIR])
        html = f"""
            <link rel="stylesheet" href="{server.url}/x.css">
            <style>@import url({server.url}/y.css); body {{ background: url(file:///etc/passwd) }}</style>
            <img src="file:///etc/passwd"><img src="{server.url}/z.png">
            <link rel="attachment" href="file:///etc/passwd">
            <p>Still here</p>"""
        pdf = HTML(string=html, base_url=STATIC_DIR.as_uri() + "/", url_fetcher=fetcher).write_pdf()
    assert server.requests == []
    assert "file:///etc/passwd" in fetcher.refused
    assert f"{server.url}/z.png" in fetcher.refused
    assert pdf.startswith(b"%PDF")
