"""Property-based tests: malformed values in every form and every route parameter.

The forms and parameters are found by crawling the app as an admin over demo data (see
tests/fuzz_helpers.py). For each, hypothesis sends huge and negative numbers, NUL, lone
surrogates, 100,000 characters, invalid dates and repeated fields, and checks: never a 500,
and a refused form leaves every table's row count unchanged. `make test` runs the small `ci`
profile; `make fuzz` the long one (HYPOTHESIS_PROFILE=fuzz).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import quote_from_bytes, urlsplit

import pytest
import sqlalchemy as sa
from hypothesis import example, given
from hypothesis import strategies as st

from crm import demo
from crm.accounts.models import User
from crm.followups.service import create_followup
from crm.newsletters.models import NewsletterList
from tests import fuzz_helpers as fz
from tests.conftest import login
from tests.newsletter_sending_helpers import make_campaign, started_campaign

pytestmark = pytest.mark.fuzz

# Routes added at run time by other tests (e.g. the 500-page test) are not the app's.
TEST_ROUTE = re.compile(r"^/__")


@pytest.fixture
def site(app, db_session) -> tuple[Any, fz.Crawl]:
    """An admin's browser on demo data, and what crawling the app from / found."""
    # The loader runs the import job and the mail sender, which read the app's settings.
    with app.app_context():
        demo.seed(db_session)
    # What the demo lacks: a follow-up and campaigns, so their pages and forms are crawled.
    admin = db_session.scalar(sa.select(User).where(User.email == demo.DEMO_USERS[0][0]))
    create_followup(db_session, subject="Rückruf", due_date=date(2026, 12, 1), assignee=admin)
    newsletter = db_session.scalar(sa.select(NewsletterList).limit(1))
    make_campaign(db_session, newsletter)
    started_campaign(db_session, 2)
    db_session.commit()
    browser = app.test_client()
    assert login(browser, demo.DEMO_USERS[0][0], demo.DEMO_PASSWORD).status_code == 302
    return browser, fz.crawl(app, browser)


def _refused(response: Any) -> bool:
    """True if the app answered with an error or re-showed the form with field errors."""
    if response.status_code >= 400:
        return True
    return response.status_code == 200 and b"invalid-feedback" in response.data


def _failures(checks: list[tuple[str, Any]]) -> list[str]:
    """Run every check; collect each falsified one with hypothesis's example."""
    failures = []
    for label, check in checks:
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - reported all together below
            notes = "\n".join(getattr(exc, "__notes__", []))
            failures.append(f"{label}: {type(exc).__name__}: {str(exc)[:300]}\n{notes[:1500]}")
    return failures


def _post_malformed(
    browser: Any, form: fz.FoundForm, changes: list[tuple[str, str]], repeat: bool
) -> None:
    """Send the form with `changes`; no 500, no partial write, no page broken by the write."""
    changed = dict(changes)
    pairs = [(n, changed.get(n, v)) for n, v in form.fields if n != "csrf_token"]
    pairs += [(n, v) for n, v in changed.items() if n not in form.names]
    if repeat:  # a field sent twice: a list where the view expects one value
        pairs += list(changed.items())
    body = fz.encode([("csrf_token", browser._csrf_token()), *pairs])
    before = fz.row_counts()
    response = browser.post(
        form.action, data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code < 500, response.status_code
    if _refused(response):
        after = fz.row_counts()
        written = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
        assert not written, f"partial write, answered {response.status_code}: {written}"
        return
    # Whatever was stored must not break the pages that show it.
    for page in {response.location or form.page, form.page}:
        shown = browser.get(page)
        assert shown.status_code < 500, f"GET {page} after the write: {shown.status_code}"


def _form_check(browser: Any, form: fz.FoundForm) -> Any:
    names = form.names or ["unexpected"]

    @given(
        changes=st.lists(st.tuples(st.sampled_from(names), fz.malformed_values), min_size=1),
        repeat=st.booleans(),
    )
    def check(changes: list[tuple[str, str]], repeat: bool) -> None:
        _post_malformed(browser, form, changes, repeat)

    # Each field once with each classic troublemaker: run in `make fuzz` (the `ci` profile
    # skips explicit examples to stay fast).
    for name in form.names:
        for value in fz.SWEEP_VALUES:
            check = example(changes=[(name, value)], repeat=False)(check)
    return check


# Forms whose malformed-input failures belong to another slice of issue 12: tested below as
# expected failures, until that slice's fix is merged.


def test_no_form_answers_500_or_writes_partially_on_malformed_values(app, site):
    browser, crawl = site
    endpoints = {f.endpoint for f in crawl.forms if f.method == "POST"}
    posts = [f for f in crawl.forms if f.method == "POST"]
    # The crawl must reach the forms of every domain; a broken crawl would test nothing.
    for prefix in (
        "accounts.",
        "contacts.",
        "participants.",
        "events.",
        "followups.",
        "newsletters.",
        "privacy.",
        "dashboard.",
    ):
        assert any(e.startswith(prefix) for e in endpoints), prefix
    failures = _failures(
        [(f"POST {f.action} ({f.endpoint})", _form_check(browser, f)) for f in posts]
    )
    assert not failures, "\n\n".join(failures)


def _url(rule: Any, values: dict[str, str]) -> str:
    def fill(match: re.Match[str]) -> str:
        raw = values[match.group(1)]
        return quote_from_bytes(raw.encode("utf-8", "surrogatepass"), safe="")

    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", fill, rule.rule)


def _defaults(app: Any, rule: Any, crawl: fz.Crawl) -> dict[str, str]:
    """Path values that route: those of a crawled URL of the endpoint, else plain guesses."""
    known = crawl.urls.get(rule.endpoint)
    if known:
        adapter = app.url_map.bind("localhost")
        try:
            endpoint, args = adapter.match(urlsplit(known).path)
            if endpoint == rule.endpoint:
                return {k: str(v) for k, v in args.items()}
        except Exception:  # noqa: BLE001, S110 - a different rule of the same endpoint
            pass
    values = {}
    for name, converter in rule._converters.items():
        choices = getattr(converter, "items", None)
        values[name] = sorted(choices)[0] if choices else "1"
    return values


def _route_check(app: Any, browser: Any, rule: Any, crawl: fz.Crawl) -> Any:
    base = _defaults(app, rule, crawl)
    path_names = [n for n, c in rule._converters.items() if not getattr(c, "items", None)]
    query_names = sorted(crawl.query_names.get(rule.endpoint, set()) - {"csrf_token"})
    targets = [("path", n) for n in path_names] + [("query", n) for n in query_names]

    @given(target=st.sampled_from(targets), value=fz.malformed_values)
    def check(target: tuple[str, str], value: str) -> None:
        where, name = target
        path = _url(rule, {**base, name: value} if where == "path" else base)
        if where == "query":
            path += "?" + fz.encode([(name, value)]).decode()
        response = browser.get(path)
        assert response.status_code < 500, response.status_code

    return check


def test_no_get_route_answers_500_on_malformed_path_or_query_values(app, site):
    browser, crawl = site
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if "GET" in (rule.methods or ())
        and rule.endpoint not in ("static", "accounts.logout")
        and not TEST_ROUTE.match(rule.rule)
        and (rule.arguments or crawl.query_names.get(rule.endpoint))
    ]
    assert sum(bool(fz.int_arguments(app, r.endpoint)) for r in rules) > 30
    assert sum(bool(crawl.query_names.get(r.endpoint)) for r in rules) > 5
    checks = [(f"GET {rule.rule}", _route_check(app, browser, rule, crawl)) for rule in rules]
    failures = _failures(checks)
    assert not failures, "\n\n".join(failures)
