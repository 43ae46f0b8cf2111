"""No page template sets a style attribute: the Content-Security-Policy (style-src 'self')
makes the browser ignore it, so the layout silently differs from what the template says."""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# E-mails and the PDF are not shown under the app's CSP; inline styles are how they work.
EXEMPT = ("email/", "privacy/report_pdf.html")
STYLE_ATTRIBUTE = re.compile(r"<[a-zA-Z][^<>]*\sstyle=")


def test_page_templates_have_no_inline_style_attributes():
    offenders = [
        str(path.relative_to(TEMPLATES))
        for path in sorted(TEMPLATES.rglob("*.html"))
        if not str(path.relative_to(TEMPLATES)).startswith(EXEMPT)
        and STYLE_ATTRIBUTE.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_retention_page_has_no_inline_style(admin_client):
    page = admin_client.get("/datenschutz/aufbewahrung/").get_data(as_text=True)
    assert not STYLE_ATTRIBUTE.search(page)
