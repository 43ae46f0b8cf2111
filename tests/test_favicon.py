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


def test_every_page_links_an_svg_and_an_ico_icon_that_are_served(client: Any) -> None:
    page = client.get("/anmelden").get_data(as_text=True)

    links = re.findall(r'<link rel="icon" href="([^"]+)"', page)
    assert sorted(link.rsplit(".", 1)[1] for link in links) == ["ico", "svg"]
    bodies = []
    for link in links:
        response = client.get(link)
        assert response.status_code == 200
        bodies.append(response.data)
        response.close()
    assert any(body.startswith(b"\x00\x00\x01\x00") for body in bodies)  # the ICO
    assert any(b"<svg" in body for body in bodies)
