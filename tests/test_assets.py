"""Static files under content-hashed URLs cached a year; compressed text responses (issue 15)."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path
from typing import Any

import brotli
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.assets import IMMUTABLE, StaticFiles

STATIC = Path(__file__).resolve().parent.parent / "crm" / "static"
BOOTSTRAP_CSS = "vendor/bootstrap/bootstrap.min.css"


def page_asset_urls(client: Any, path: str = "/anmelden") -> list[str]:
    html = client.get(path).get_data(as_text=True)
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', html)


def hashed_url(client: Any, filename: str, page: str = "/anmelden") -> str:
    stem, suffix = filename.rsplit(".", 1)
    pattern = re.compile(rf"/static/{re.escape(stem)}\.[0-9a-f]{{12}}\.{suffix}")
    urls = [u for u in page_asset_urls(client, page) if pattern.fullmatch(u)]
    assert len(urls) == 1, urls
    return urls[0]


def test_every_static_url_on_a_page_names_the_content_hash_of_its_file(client: Any) -> None:
    urls = page_asset_urls(client)

    assert len(urls) >= 5
    for url in urls:
        folder, _, name = url.removeprefix("/static/").rpartition("/")
        stem, digest, suffix = name.rsplit(".", 2)
        original = STATIC / folder / f"{stem}.{suffix}"
        assert hashlib.sha256(original.read_bytes()).hexdigest().startswith(digest), url


def test_a_hashed_url_is_cached_a_year_as_immutable_and_serves_the_file(client: Any) -> None:
    response = client.get(hashed_url(client, BOOTSTRAP_CSS))

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == IMMUTABLE
    assert response.mimetype == "text/css"
    assert response.data == (STATIC / BOOTSTRAP_CSS).read_bytes()
    # The security headers apply to static files as to pages.
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in response.headers


def test_the_plain_path_of_a_static_file_still_works_but_is_revalidated(client: Any) -> None:
    response = client.get(f"/static/{BOOTSTRAP_CSS}")

    assert response.status_code == 200
    assert response.data == (STATIC / BOOTSTRAP_CSS).read_bytes()
    assert "immutable" not in response.headers["Cache-Control"]
    assert "no-cache" in response.headers["Cache-Control"]


def test_an_outdated_hash_gets_the_current_file_without_the_immutable_promise(
    client: Any,
) -> None:
    response = client.get("/static/css/app.000000000000.css")

    assert response.status_code == 200
    assert response.data == (STATIC / "css/app.css").read_bytes()
    assert "immutable" not in response.headers["Cache-Control"]


def test_the_hashed_name_changes_when_the_content_changes(tmp_path: Path) -> None:
    (tmp_path / "css").mkdir()
    style = tmp_path / "css" / "site.min.css"
    style.write_text("body { color: black }")
    files = StaticFiles(tmp_path)
    before = files.hashed_name("css/site.min.css")

    style.write_text("body { color: navy }")
    after = files.hashed_name("css/site.min.css")

    assert re.fullmatch(r"css/site\.min\.[0-9a-f]{12}\.css", before)
    assert before != after
    assert files.resolve(after) == ("css/site.min.css", True)
    assert files.resolve(before) == ("css/site.min.css", False)
    assert files.hashed_name("css/missing.css") == "css/missing.css"


@pytest.mark.parametrize(
    ("encoding", "decode"), [("gzip", gzip.decompress), ("br", brotli.decompress)]
)
def test_static_text_is_compressed_in_the_encoding_the_client_accepts(
    client: Any, encoding: str, decode: Any
) -> None:
    response = client.get(hashed_url(client, BOOTSTRAP_CSS), headers={"Accept-Encoding": encoding})

    assert response.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in response.headers["Vary"]
    assert response.headers["Cache-Control"] == IMMUTABLE
    assert len(response.data) < 50_000
    assert decode(response.data) == (STATIC / BOOTSTRAP_CSS).read_bytes()


def test_nothing_is_compressed_for_a_client_that_does_not_ask(client: Any) -> None:
    for headers in ({}, {"Accept-Encoding": "identity"}):
        response = client.get(hashed_url(client, BOOTSTRAP_CSS), headers=headers)

        assert "Content-Encoding" not in response.headers
        assert "Accept-Encoding" in response.headers["Vary"]
        assert response.data == (STATIC / BOOTSTRAP_CSS).read_bytes()


def test_tiny_files_and_images_are_sent_as_they_are(client: Any) -> None:
    for url in (hashed_url(client, "favicon.svg"), hashed_url(client, "favicon.ico")):
        response = client.get(url, headers={"Accept-Encoding": "gzip, br"})

        assert response.status_code == 200
        assert "Content-Encoding" not in response.headers


@pytest.mark.parametrize("accept", ["", "gzip", "br"])
def test_a_static_file_with_a_matching_etag_is_not_sent_again(client: Any, accept: str) -> None:
    url = hashed_url(client, BOOTSTRAP_CSS)
    first = client.get(url, headers={"Accept-Encoding": accept})

    again = client.get(
        url, headers={"Accept-Encoding": accept, "If-None-Match": first.headers["ETag"]}
    )

    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == first.headers["ETag"]


@pytest.mark.parametrize(("held", "asked"), [("gzip", "br"), ("br", "gzip"), ("gzip", "")])
def test_the_etag_of_one_encoding_does_not_validate_another(
    client: Any, held: str, asked: str
) -> None:
    url = hashed_url(client, BOOTSTRAP_CSS)
    etag = client.get(url, headers={"Accept-Encoding": held}).headers["ETag"]

    response = client.get(url, headers={"Accept-Encoding": asked, "If-None-Match": etag})

    assert response.status_code == 200
    assert response.headers["ETag"] != etag
    assert response.headers.get("Content-Encoding") == (asked or None)


def test_pages_are_compressed_and_keep_their_security_and_cache_headers(
    admin_client: Any,
) -> None:
    response = admin_client.get(
        "/kontakte/organisationen",
        headers={"Accept-Encoding": "gzip", "Sec-Fetch-Site": "same-origin"},
    )

    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["Vary"]
    assert "Sec-Fetch-Site" in response.headers["Vary"]
    assert response.headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" in response.headers
    assert b"</html>" in gzip.decompress(response.data)


def test_compressed_static_files_are_kept_but_pages_never(admin_client: Any) -> None:
    # A kept page would be served to the next user asking for the same path.
    cache = admin_client.application.extensions["crm_compress"].cache
    url = hashed_url(admin_client, BOOTSTRAP_CSS, page="/")
    for _ in range(2):
        admin_client.get(url, headers={"Accept-Encoding": "br"})
        admin_client.get(
            "/kontakte/organisationen",
            headers={"Accept-Encoding": "br", "Sec-Fetch-Site": "same-origin"},
        )

    keys = [key for key in cache.data if key.startswith("br;")]
    assert keys == [f"br;static:{BOOTSTRAP_CSS}:{url.rsplit('.', 2)[1]}"]


@pytest.mark.parametrize("site", ["same-origin", "none"])
def test_pages_opened_from_our_pages_or_the_address_bar_are_compressed(
    admin_client: Any, site: str
) -> None:
    response = admin_client.get(
        "/suche/?q=geheim", headers={"Accept-Encoding": "br", "Sec-Fetch-Site": site}
    )

    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "br"


@pytest.mark.parametrize("site", ["cross-site", "same-site", None])
def test_pages_another_site_makes_the_browser_load_are_not_compressed(
    admin_client: Any, site: str | None
) -> None:
    # BREACH: the size of a compressed page holding the CSRF token and a search term chosen
    # by the other site would tell that site the token, one guess at a time.
    headers = {"Accept-Encoding": "gzip, br"} | ({"Sec-Fetch-Site": site} if site else {})
    response = admin_client.get("/suche/?q=geheim", headers=headers)

    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert b'name="csrf-token"' in response.data
    assert {"Accept-Encoding", "Sec-Fetch-Site"} <= {
        v.strip() for v in response.headers["Vary"].split(",")
    }


def test_static_files_are_compressed_whoever_asks(client: Any) -> None:
    response = client.get(
        hashed_url(client, BOOTSTRAP_CSS),
        headers={"Accept-Encoding": "gzip", "Sec-Fetch-Site": "cross-site"},
    )

    assert response.headers["Content-Encoding"] == "gzip"


def test_a_streamed_download_is_not_compressed(admin_client: Any) -> None:
    response = admin_client.get(
        "/kontakte/organisationen/export.csv",
        headers={"Accept-Encoding": "gzip, br", "Sec-Fetch-Site": "same-origin"},
    )

    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert response.data.startswith("\ufeff".encode())


@pytest.mark.parametrize(
    "path",
    [
        "/static/../crm/__init__.py",
        "/static/%2e%2e/pyproject.toml",
        "/static/css",
        "/static/css/missing.0123456789ab.css",
        "/static/css/app.0123456789ab",
        "/static/" + "a" * 5000 + ".css",
        "/static/css/app.%00.css",
    ],
    ids=["dot-dot", "encoded-dot-dot", "folder", "unknown-hashed", "no-suffix", "long", "nul"],
)
def test_odd_static_paths_are_refused_never_an_error(client: Any, path: str) -> None:
    # 400: the input layer turns away a NUL byte in a path before any route.
    assert client.get(path, headers={"Accept-Encoding": "gzip"}).status_code in (400, 404)


_ANY_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=300
).map(lambda text: text.replace("?", "").replace("#", ""))
# Names shaped like hashed ones, so the lookup of the original file is exercised too.
_HASHED_LIKE = st.from_regex(r"[a-z./]{0,20}\.[0-9a-f]{12}(\.[a-z]{1,4})?", fullmatch=True)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.one_of(_ANY_TEXT, _HASHED_LIKE))
def test_any_static_path_is_answered_without_a_server_error(client: Any, name: str) -> None:
    response = client.get("/static/" + name, headers={"Accept-Encoding": "br, gzip"})

    assert response.status_code in (200, 308, 400, 404), name
