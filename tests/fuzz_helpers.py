"""Finding the app's forms and parameters by crawling it, and malformed values to send them.

Nothing here lists routes or fields by hand: a logged-in admin crawls the pages from the
start page; every `<form>` found there (its action, method and fields with their defaults)
and every route in `app.url_map` is what the property-based tests in test_fuzz.py exercise.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_from_bytes, urljoin, urlsplit

import lxml.html
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import strategies as st
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from crm.extensions import db

# Downloads and endpoints whose response is no HTML page to look for links and forms in.
NOT_HTML = (".ics", ".csv", ".xlsx", ".json", "/vcard", "/vorschau.html", "/nachweis")
# Forms that would end the crawling user's session.
SESSION_ENDING = {"accounts.logout"}


@dataclass
class FoundForm:
    """A form as a browser sees it: where it goes and the fields with their default values."""

    endpoint: str
    method: str
    action: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    page: str = ""

    @property
    def names(self) -> list[str]:
        """The names of the fields, each once, in page order."""
        return list(dict.fromkeys(name for name, _ in self.fields if name != "csrf_token"))


@dataclass
class Crawl:
    """What a crawl found: the forms per method and a concrete URL per endpoint."""

    forms: list[FoundForm]
    urls: dict[str, str]
    query_names: dict[str, set[str]]


def endpoint_of(app: Flask, url: str, method: str = "GET") -> str | None:
    """The endpoint a local URL is routed to, or None."""
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, _ = adapter.match(urlsplit(url).path, method=method)
    except HTTPException:
        return None
    return endpoint


def _fields(form: Any) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    for element in form.inputs:
        name = element.get("name")
        if not name:
            continue
        tag = element.tag
        kind = (element.get("type") or "text").lower()
        if tag == "select":
            if element.multiple:
                fields += [(name, v) for v in element.value] or [(name, "")]
            else:
                fields.append((name, element.value or ""))
        elif tag == "textarea":
            fields.append((name, element.value or ""))
        elif kind in ("checkbox", "radio"):
            if element.checked:
                fields.append((name, element.get("value") or "on"))
        elif kind in ("submit", "button", "image", "reset", "file"):
            continue
        else:
            fields.append((name, element.get("value") or ""))
    # The first named submit button: some views read which button was pressed.
    for button in form.xpath(".//button[@name]|.//input[@type='submit'][@name]"):
        fields.append((button.get("name"), button.get("value") or ""))
        break
    return fields


def crawl(app: Flask, client: FlaskClient, per_endpoint: int = 2) -> Crawl:
    """Visit the pages linked from every GET route without arguments, breadth first.

    At most `per_endpoint` URLs per endpoint are visited: one person page shows the forms
    of every person page.
    """
    seen_urls: set[str] = set()
    visits: dict[str, int] = {}
    forms: dict[tuple[str, str, tuple[str, ...]], FoundForm] = {}
    urls: dict[str, str] = {}
    query_names: dict[str, set[str]] = {}
    queue = deque(
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in (rule.methods or ()) and not rule.arguments and rule.endpoint != "static"
    )
    while queue:
        url = queue.popleft()
        if url in seen_urls:
            continue
        seen_urls.add(url)
        endpoint = endpoint_of(app, url)
        if endpoint is None or endpoint == "static":
            continue
        query = urlsplit(url).query
        if query:
            names = {part.split("=", 1)[0] for part in query.split("&") if part}
            query_names.setdefault(endpoint, set()).update(names)
        if visits.get(endpoint, 0) >= per_endpoint:
            continue
        visits[endpoint] = visits.get(endpoint, 0) + 1
        urls.setdefault(endpoint, urlsplit(url).path)
        if any(marker in url for marker in NOT_HTML):
            continue
        response = client.get(url)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        doc = lxml.html.fromstring(response.get_data(as_text=True))
        for href in doc.xpath("//a/@href"):
            target = urljoin(url, href).split("#", 1)[0]
            if target.startswith("/") and not target.startswith("//"):
                queue.append(target)
        for form in doc.forms:
            method = (form.get("method") or "get").upper()
            action = urljoin(url, form.get("action") or url).split("#", 1)[0]
            target_endpoint = endpoint_of(app, action, method)
            if target_endpoint is None or target_endpoint in SESSION_ENDING:
                continue
            fields = _fields(form)
            targets = [(target_endpoint, method, action)]
            # htmx sends the form's fields to its hx-get URL too (live counts, search).
            hx_get = form.get("data-hx-get") or form.get("hx-get")
            if hx_get and (hx_endpoint := endpoint_of(app, urljoin(url, hx_get))):
                targets.append((hx_endpoint, "GET", urljoin(url, hx_get)))
            for target, verb, address in targets:
                found = FoundForm(target, verb, address, fields, page=url)
                forms.setdefault((target, verb, tuple(sorted(found.names))), found)
                if verb == "GET":
                    query_names.setdefault(target, set()).update(found.names)
    return Crawl(list(forms.values()), urls, query_names)


def int_arguments(app: Flask, endpoint: str) -> list[str]:
    """The path arguments of an endpoint's rules that are integers."""
    names: list[str] = []
    for rule in app.url_map.iter_rules(endpoint):
        for name, converter in rule._converters.items():
            if isinstance(converter, IntegerConverter) and name not in names:
                names.append(name)
    return names


# Ledgers of the requests themselves (throttles count refused attempts on purpose).
REQUEST_LEDGERS = {"login_attempt", "newsletter_signup_attempt", "intake_attempt"}


def row_counts() -> dict[str, int]:
    """The number of rows of every data table, in one statement."""
    tables = [t for t in db.metadata.sorted_tables if t.name not in REQUEST_LEDGERS]
    counts = [
        sa.select(sa.func.count()).select_from(table).scalar_subquery().label(f"n{i}")
        for i, table in enumerate(tables)
    ]
    row = db.session.execute(sa.select(*counts)).one()
    return {table.name: n for table, n in zip(tables, row, strict=True)}


def encode(pairs: list[tuple[str, str]]) -> bytes:
    """A form body; lone surrogates go out as the invalid UTF-8 a hostile client could send."""
    return "&".join(
        quote_from_bytes(k.encode("utf-8", "surrogatepass"), safe="")
        + "="
        + quote_from_bytes(v.encode("utf-8", "surrogatepass"), safe="")
        for k, v in pairs
    ).encode("ascii")


# --- malformed values ----------------------------------------------------------------------

EDGE_VALUES = [
    "",
    " ",
    "0",
    "-1",
    "-0",
    "2147483647",
    "2147483648",
    "-2147483649",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "9" * 5000,
    "1e309",
    "-1e309",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1_000",
    "0x1F",
    "1,5",
    "0001-01-01",
    "9999-12-31",
    "1899-12-31",
    "2201-01-01",
    "2026-02-30",
    "2026-13-01",
    "0000-00-00",
    "31.12.2026",
    "2026-11-21T25:61",
    "24:00",
    "99:99",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\r\nX-Injected: 1",
    "<script>alert(1)</script>",
    "{{ 7*7 }}",
    "' OR 1=1 --",
    "true",
    "None",
    "[]",
    "{}",
    "x" * 100_000,
]

# The values every field gets once in `make fuzz`, whatever hypothesis draws besides.
SWEEP_VALUES = [
    "9223372036854775808",
    "-2147483649",
    "nan",
    "inf",
    "1e309",
    "0001-01-01",
    "9999-12-31",
    "a\x00b",
    "x" * 100_000,
]

malformed_values = st.one_of(
    st.sampled_from(EDGE_VALUES),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.dates().map(lambda d: d.isoformat()),
    # Any code point, lone surrogates and NUL included.
    st.text(alphabet=st.characters(exclude_categories=()), max_size=40),
)
