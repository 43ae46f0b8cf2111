"""Report labels read as German: „Bis“ for the end of a period, whole „Nach …“ headings."""

from __future__ import annotations

import re

import pytest

PAGES = {
    "/auswertung/foerderbericht": "f-bis",
    "/auswertung/esf-plus": "esf-to",
    "/teilnehmende/vermittlungen/": "filter-to",
    "/termine/kennzahlen": "f-bis",
    "/anfragen/auswertung": "f-bis",
}


@pytest.mark.parametrize("url", PAGES)
def test_the_end_of_a_period_is_labelled_bis(admin_client, url):
    response = admin_client.get(url)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    label = re.search(rf'<label for="{PAGES[url]}"[^>]*>([^<]*)</label>', page)
    assert label is not None
    assert label.group(1).strip() == "Bis"


def test_the_funder_report_headings_are_german_not_glued_together(admin_client):
    """„Nach“ + the column label gave „Nach Zuweisende Organisation“; each heading is a
    whole phrase now."""
    page = admin_client.get("/auswertung/foerderbericht").get_data(as_text=True)
    assert "Nach zuweisender Organisation" in page
    assert "Nach Zuweisende" not in page
    assert "Nach Altersgruppe bei Eintritt" in page
