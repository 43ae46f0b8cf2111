"""A warm page view makes one request: the page; its assets come from the browser's cache.

Playwright reports a request whether the browser's cache answered it or the network did, and
does not say which (microsoft/playwright#15132). So the server counts what reaches it: a
WSGI wrapper around the live app. The browser's own request events only show that the page
did use its assets, so the count cannot pass merely because nothing was asked for.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, Response, expect

from crm.assets import IMMUTABLE
from tests.browser.conftest import HtmlRecorder, log_in


@pytest.fixture
def server_requests(html_recorder: HtmlRecorder, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests that reach the live server during one test."""
    paths: list[str] = []
    app = html_recorder.app
    inner = app.wsgi_app

    def counting(environ: dict[str, Any], start_response: Any) -> Any:
        paths.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    monkeypatch.setattr(app, "wsgi_app", counting)
    # The live server lets plain static paths be cached an hour (fewer cancelled downloads
    # elsewhere); here they are revalidated as in production, so only the hashed URLs'
    # caching can keep the count down.
    monkeypatch.setitem(app.config, "SEND_FILE_MAX_AGE_DEFAULT", None)
    return paths


def test_a_warm_page_view_sends_only_the_page_over_the_network(
    strict_page: Page, server_requests: list[str]
) -> None:
    page = strict_page
    cold: list[Response] = []
    page.on("response", lambda r: cold.append(r) if "/static/" in r.url else None)
    page.goto("/anmelden")
    log_in(page)
    expect(page).to_have_url(re.compile(r"/$"))
    page.wait_for_load_state("networkidle")
    assert any(p.startswith("/static/") for p in server_requests)
    assert cold
    for response in cold:
        assert response.status == 200, response.url
        assert response.headers["cache-control"] == IMMUTABLE, response.url

    server_requests.clear()
    used: list[str] = []
    page.on("request", lambda r: used.append(r.url) if "/static/" in r.url else None)
    page.get_by_role("navigation").get_by_role("link", name="Wiedervorlagen").click()
    expect(page).to_have_url(re.compile(r"/wiedervorlagen/$"))
    page.wait_for_load_state("networkidle")

    # Nothing else either: no favicon, no revalidation of a style sheet or script.
    assert server_requests == ["/wiedervorlagen/"]
    # The page did load its style sheet and scripts: from the cache, not the server.
    assert any(url.endswith(".css") for url in used), used
    assert any(url.endswith(".js") for url in used), used
