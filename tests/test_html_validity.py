"""Every page reachable by links, as an admin and as a counsellor on demo data, is valid HTML.

The Nu Html Checker (vnu, npm `vnu-jar` run by Java) decides, once for all pages. Skipped only
where Java or the jar is genuinely missing on a developer's machine; under CI (`CI=true`) a
missing validator fails the test instead, so CI never passes without it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from crm import demo
from crm.accounts.models import User
from crm.followups.service import create_followup
from crm.newsletters.models import NewsletterList
from scripts import validate_html as vnu
from tests.conftest import login
from tests.newsletter_sending_helpers import make_campaign, started_campaign
from tests.vnu_helpers import missing_validator

pytestmark = pytest.mark.slow

# The first demo user of each role (admin, lead, counsellor, staff, read-only): each sees
# other buttons, forms and fields on the same pages. The admin comes first.
_FIRST_OF_ROLE: dict[str, str] = {}
for _email, _name, _role, _office in demo.DEMO_USERS:
    _FIRST_OF_ROLE.setdefault(_role, _email)
ROLES = tuple(_FIRST_OF_ROLE.values())


@pytest.fixture
def validator() -> None:
    """vnu and Java, or a skip (locally) / a failure (in CI) saying what is missing."""
    missing = missing_validator()
    if missing:
        pytest.skip(missing)


@pytest.fixture
def demo_site(app: Flask, db_session: Any) -> Flask:
    """Demo data plus what the demo lacks: a follow-up and campaigns, so their pages are seen."""
    # The loader runs the import job and the mail sender, which read the app's settings.
    with app.app_context():
        demo.seed(db_session)
    admin = db_session.scalar(sa.select(User).where(User.email == ROLES[0]))
    create_followup(db_session, subject="Rückruf", due_date=date(2026, 12, 1), assignee=admin)
    newsletter = db_session.scalar(sa.select(NewsletterList).limit(1))
    make_campaign(db_session, newsletter)
    started_campaign(db_session, 2)
    db_session.commit()
    return app


def _pages_seen_by(app: Flask, email: str | None, seeds: list[str]) -> dict[str, str]:
    browser = app.test_client()
    if email:
        assert login(browser, email, demo.DEMO_PASSWORD).status_code == 302

    def fetch(url: str) -> tuple[int, str, str]:
        response = browser.get(url)
        return response.status_code, response.content_type, response.get_data(as_text=True)

    who = email or "anonymous"
    return {f"{who} {url}": html for url, html in vnu.crawl(fetch, seeds).items()}


def test_every_page_a_user_of_any_role_reaches_is_valid_html(
    validator, demo_site, db_session, capsys
):
    # Start at / and also at every GET route without arguments (pages only a menu reaches).
    seeds = ["/"] + sorted(
        rule.rule
        for rule in demo_site.url_map.iter_rules()
        if "GET" in (rule.methods or ()) and not rule.arguments and not rule.rule.startswith("/__")
    )
    pages: dict[str, str] = {}
    for email in ROLES:
        pages |= _pages_seen_by(demo_site, email, seeds)
    # Without an account: the login page and the public newsletter sign-up pages.
    slugs = db_session.scalars(
        sa.select(NewsletterList.slug).where(NewsletterList.public_signup.is_(True))
    )
    pages |= _pages_seen_by(
        demo_site, None, ["/anmelden", *(f"/newsletter/anmelden/{s}" for s in slugs)]
    )
    assert len(pages) > 100, "the crawl should reach the app's pages"

    messages = vnu.validate(pages)

    # Warnings do not fail the test but are always shown, also when it passes.
    with capsys.disabled():
        errors = vnu.report(pages, messages, lambda line: print(f"\n{line}", end=""))
        print()
    assert errors == 0, "\n".join(str(m) for m in messages if m.kind == "error")
