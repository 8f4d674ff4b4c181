"""Printable papers as PDF: our own HTML print templates rendered by headless Chromium (print-to-PDF).

The print templates carry their own A4 page rules, running header (occupation, grade, part, form) and
page numbers as CSS ``@page`` margin boxes, so the browser's print of the HTML view and the PDF look the
same. Fonts: Noto Serif/Sans CJK SC (Debian ``fonts-noto-cjk``). The page is loaded with
``set_content`` and every network request is refused: the HTML is self-contained (images are embedded
as data URIs).
"""
from __future__ import annotations

import base64
import os

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


class PdfError(RuntimeError):
    """The PDF could not be made (browser missing or failed); the message says why."""


def html_to_pdf(html: str, *, timeout_ms: int = 60_000) -> bytes:
    """Render self-contained HTML to PDF bytes with the system Chromium (A4 from the CSS ``@page``)."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as e:  # pragma: no cover - playwright is a dependency
        raise PdfError(f"playwright is not installed: {e}") from e
    if not os.path.exists(CHROMIUM):
        raise PdfError(f"Chromium not found at {CHROMIUM}")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=timeout_ms)
            try:
                page = browser.new_page()
                page.route("**/*", lambda route: route.abort())
                page.set_default_timeout(timeout_ms)
                page.set_content(html, wait_until="load")
                page.emulate_media(media="print")
                return page.pdf(prefer_css_page_size=True, print_background=True, format="A4")
            finally:
                browser.close()
    except PlaywrightError as e:
        raise PdfError(str(e).splitlines()[0][:300]) from e


def image_data_uri(sha256: str) -> str | None:
    """The stored image as a ``data:`` URI for the self-contained print HTML, or None when missing."""
    from . import media

    try:
        path = media.path_for(sha256)
    except ValueError:
        return None
    if not path.is_file():
        return None
    row = media.get(sha256)
    mime = row.mime if row is not None else "image/png"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")
