"""Every page can be found by clicking: an admin on demo data reaches every GET route from `/`.

A page that exists but that no link, iframe or GET form leads to is a page no user finds. The
test crawls in-process like ../shared/tools/reachable.py crawls a running app: logged in as the
demo admin, breadth-first from the start page, it follows `a[href]`, `iframe[src]` and every
GET form submitted with its default values (parsed with lxml), and compares the routes it
reached with the GET routes of `app.url_map`. What it may leave out is decided by a property of
the route, never by a list of today's URLs (see `exempt`).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import lxml.html
import pytest
from flask import Flask
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule

from crm import demo
from crm.extensions import db
from crm.security import PUBLIC, declared_permission, is_fragment
from tests.conftest import CSRFClient, build_app, login

pytestmark = pytest.mark.slow

# Pages fetched per route at most (the shared crawler's --per-rule, 3 there): the 41
# participants' pages are alike; a handful of each shows whether their links lead on, and a few
# more than 3 keep the result independent of which records a start page happens to list first.
PER_RULE = 5
# A path ending in a file extension is a download (CSV, Excel, iCalendar, PDF, JSON), not a
# page; `.html` is a page (the sandboxed newsletter preview).
DOWNLOAD = re.compile(r"\.(?:<[^>]+>|[A-Za-z0-9]+)$")
# Links that end the session.
LOGOUT = re.compile(r"/abmelden$")


def exempt(app: Flask, rule: Rule) -> str | None:
    """Why a GET route need not be reached by clicking as admin, or None if it must be."""
    if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
        return "static file"
    if declared_permission(app, rule.endpoint) == PUBLIC:
        # Login, health check, sign-up and the token links in e-mails and calendar feeds:
        # pages for people without an account, reached from outside the app.
        return "public page"
    if DOWNLOAD.search(rule.rule) and not rule.rule.endswith(".html"):
        return "download"
    if is_fragment(app, rule.endpoint):
        # Marked with crm.security.fragment: htmx polling and record-picker options, which only
        # scripts request; the pages using them work without them (they are links of no one).
        return "fragment for scripts"
    return None


@dataclass
class Crawl:
    """What a crawl saw: the first URL of each reached route, server errors, pages fetched."""

    reached: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    pages: int = 0


def _form_url(form: Any, page_url: str) -> str:
    """The URL a GET form is submitted to with its default values, as a browser would."""
    values: list[tuple[str, str]] = []
    for element in form.iter("input", "select", "textarea"):
        name = element.get("name")
        if not name or element.get("disabled") is not None:
            continue
        if element.tag == "input":
            kind = (element.get("type") or "text").lower()
            if kind in ("submit", "button", "reset", "image", "file"):
                continue
            if kind in ("checkbox", "radio"):
                if element.get("checked") is not None:
                    values.append((name, element.get("value", "on")))
                continue
            values.append((name, element.get("value", "")))
        elif element.tag == "select":
            options = element.findall(".//option")
            chosen = [o for o in options if o.get("selected") is not None]
            if not chosen and options and element.get("multiple") is None:
                chosen = options[:1]
            for option in chosen:
                values.append((name, option.get("value", option.text_content())))
        else:
            values.append((name, element.text or ""))
    action = urljoin(page_url, form.get("action") or page_url)
    return urlsplit(action)._replace(query=urlencode(values), fragment="").geturl()


def _targets(body: str, page_url: str) -> Iterator[str]:
    """Same-site URLs a click leads to from this page: links, frames, GET forms."""
    doc = lxml.html.document_fromstring(body)
    for element in doc.iter("a", "iframe", "form"):
        if element.tag == "a" and element.get("href"):
            yield urljoin(page_url, element.get("href"))
        elif element.tag == "iframe" and element.get("src"):
            yield urljoin(page_url, element.get("src"))
        elif element.tag == "form" and (element.get("method") or "get").lower() == "get":
            yield _form_url(element, page_url)


def crawl(app: Flask, client: CSRFClient, start: str = "/") -> Crawl:
    """Breadth-first over links, frames and GET forms from `start`, at most PER_RULE per route."""
    adapter = app.url_map.bind("localhost")
    result = Crawl()
    per_rule: dict[str, int] = {}
    seen: set[str] = set()
    queue: deque[tuple[str, str]] = deque([(start, "(start)")])
    while queue:
        url, came_from = queue.popleft()
        parts = urlsplit(url)
        if parts.scheme not in ("", "http") or parts.netloc not in ("", "localhost"):
            continue  # another site
        path = parts.path
        local = path + (f"?{parts.query}" if parts.query else "")
        if local in seen or LOGOUT.search(path):
            continue
        seen.add(local)
        try:
            rule, _args = adapter.match(path, method="GET", return_rule=True)
        except HTTPException:
            rule = None  # not a route (a redirect target with a slash, or a broken link)
        key = rule.rule if rule is not None else path
        if per_rule.get(key, 0) >= PER_RULE:
            continue
        per_rule[key] = per_rule.get(key, 0) + 1
        response = client.get(local)
        result.pages += 1
        if response.status_code >= 500:
            result.errors.append(f"{local} answered {response.status_code} (link on {came_from})")
        if rule is not None and response.status_code < 400:
            result.reached.setdefault(rule.rule, local)
        if response.status_code in (301, 302, 303, 307, 308) and response.location:
            queue.append((urljoin(f"http://localhost{local}", response.location), came_from))
            continue
        if response.status_code >= 400 or response.mimetype != "text/html":
            continue
        body = response.get_data(as_text=True)
        for target in _targets(body, f"http://localhost{local}"):
            queue.append((target, local))
    return result


@pytest.fixture(scope="module")
def demo_app(make_database: Any, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The app on a fresh, migrated database with the demo data (as `make run` loads it)."""
    from flask_migrate import upgrade

    app = build_app(make_database(), str(tmp_path_factory.mktemp("reachability-instance")))
    app.test_client_class = CSRFClient
    with app.app_context():
        upgrade()
        demo.seed(db.session)
        db.session.commit()
    return app


@pytest.fixture(scope="module")
def admin_crawl(demo_app: Flask) -> Crawl:
    """One crawl as the demo admin, shared by the assertions below."""
    client = demo_app.test_client()
    assert login(client, demo.DEMO_USERS[0][0], demo.DEMO_PASSWORD).status_code == 302
    return crawl(demo_app, client)


def test_an_admin_reaches_every_page_of_the_app_by_clicking_from_the_start_page(
    demo_app: Flask, admin_crawl: Crawl
) -> None:
    rules = [r for r in demo_app.url_map.iter_rules() if "GET" in (r.methods or ())]
    wanted = {r.rule for r in rules if exempt(demo_app, r) is None}
    missing = sorted(wanted - set(admin_crawl.reached))
    assert not missing, (
        f"reached {len(wanted) - len(missing)} of {len(wanted)} GET routes "
        f"in {admin_crawl.pages} pages; no link, frame or GET form leads to: {missing}"
    )


def test_no_page_an_admin_reaches_by_clicking_answers_with_a_server_error(
    admin_crawl: Crawl,
) -> None:
    assert admin_crawl.errors == []


def test_the_reachability_exemptions_leave_pages_in_and_scripts_and_files_out(
    demo_app: Flask,
) -> None:
    by_endpoint = {r.endpoint: r for r in demo_app.url_map.iter_rules()}

    def why(endpoint: str) -> str | None:
        return exempt(demo_app, by_endpoint[endpoint])

    assert why("core.index") is None
    assert why("newsletters.template_preview_html") is None  # .html is a page
    assert why("newsletter_campaigns.recipient_count") is None  # a page without htmx
    assert why("contacts.people_export") == "download"
    assert why("newsletters.webversion") == "public page"
    assert why("core.healthz") == "public page"
    assert why("search.suggest") == "fragment for scripts"
    assert why("static") == "static file"
