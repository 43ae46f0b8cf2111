"""The Art. 15 report as PDF/A, rendered by WeasyPrint from the report's print HTML."""

from __future__ import annotations

import logging
import warnings

# WeasyPrint logs every layout step at INFO; one PDF would fill the app log with them.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)


def render_pdf(html: str) -> bytes:
    """PDF/A-3b bytes of a self-contained HTML document (no external resources)."""
    # Imported here: WeasyPrint loads Pango at import time, which only this page needs.
    import weasyprint

    with warnings.catch_warnings():
        # WeasyPrint opens its bundled sRGB profile for the PDF/A output intent and leaves
        # the file to the garbage collector; that one warning is not ours to fix.
        warnings.filterwarnings(
            "ignore", message=r"unclosed file .*sRGB2014\.icc", category=ResourceWarning
        )
        return weasyprint.HTML(string=html).write_pdf(pdf_variant="pdf/a-3b")
