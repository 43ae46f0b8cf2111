"""The app has an icon: linked from every page and served where browsers look without a link."""

from __future__ import annotations

import re
from typing import Any


def test_favicon_ico_is_served_at_the_root_without_login(client: Any) -> None:
    response = client.get("/favicon.ico")

    assert response.status_code == 200
    assert response.mimetype == "image/vnd.microsoft.icon"
    assert response.data[:4] == b"\x00\x00\x01\x00"  # the ICO file header
    response.close()


def test_every_page_links_an_svg_icon_that_is_served(client: Any) -> None:
    page = client.get("/anmelden").get_data(as_text=True)

    links = re.findall(r'<link rel="icon" href="([^"]+)"', page)
    assert "/favicon.ico" in links
    svg = next(link for link in links if link.endswith(".svg"))
    response = client.get(svg)
    assert response.status_code == 200
    assert b"<svg" in response.data
    response.close()
