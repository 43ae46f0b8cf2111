"""Malformed form input gets a German form error, never a 500 or a half-written row.

Duplicate names of newsletter lists, audiences and templates (on create and on rename), and
numbers that are not finite, negative, out of range or overflow a float.
"""

from __future__ import annotations

import html

import pytest
import sqlalchemy as sa

from crm.newsletters.models import Audience, NewsletterList, NewsletterTemplate
from tests.newsletter_helpers import make_list

# --- duplicate names -------------------------------------------------------------------------


def _count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_a_second_newsletter_list_with_the_same_name_is_a_form_error(client_as, db_session):
    make_list(db_session, name="Newsletter Burg", slug="burg")
    db_session.commit()
    c = client_as("staff")
    before = _count(db_session, NewsletterList)

    response = c.post(
        "/newsletter/listen/neu",
        data={"name": "Newsletter Burg", "slug": "burg-neu", "consent_text": "Ja, bitte."},
    )

    assert response.status_code == 200
    assert "Einen Newsletter mit diesem Namen gibt es schon." in _text(response)
    assert _count(db_session, NewsletterList) == before
    assert c.get("/newsletter/").status_code == 200


def test_a_newsletter_list_written_by_someone_else_after_the_check_is_a_form_error(app_ctx):
    from crm.newsletters import service

    session = app_ctx()
    raced = []

    def other_request_was_faster(sess, _context, _instances):
        # The other request's row lands between our name check and our insert.
        if not raced and any(isinstance(o, NewsletterList) for o in sess.new):
            raced.append(True)
            sess.connection().execute(
                sa.insert(NewsletterList.__table__).values(name="Newsletter Genthin", slug="gt")
            )

    sa.event.listen(session, "before_flush", other_request_was_faster)
    try:
        with pytest.raises(service.ListNameTaken):
            service.create_list(
                session, name="Newsletter Genthin", slug="genthin", consent_text="Ja"
            )
    finally:
        sa.event.remove(session, "before_flush", other_request_was_faster)

    assert raced
    # The transaction is still usable (on PostgreSQL a failed statement would abort it).
    assert session.scalar(sa.select(sa.func.count()).select_from(NewsletterList)) == 0


def _audience_data(lst, name: str) -> dict:
    return {"name": name, "list_id": lst.id, "kind": "subscribers", "contact_list_id": 0}


def _template_data(name: str) -> dict:
    return {"name": name, "subject": "Hallo", "body_text": "Text"}


@pytest.mark.parametrize("action", ["create", "rename"])
def test_a_duplicate_audience_name_is_a_form_error(client_as, db_session, action):
    lst = make_list(db_session)
    db_session.commit()
    c = client_as("staff")
    assert (
        c.post("/newsletter/zielgruppen/neu", data=_audience_data(lst, "Alle")).status_code == 302
    )
    url = "/newsletter/zielgruppen/neu"
    if action == "rename":
        assert c.post(url, data=_audience_data(lst, "Andere")).status_code == 302
        other = db_session.scalar(sa.select(Audience).where(Audience.name == "Andere"))
        url = f"/newsletter/zielgruppen/{other.id}"
    before = _count(db_session, Audience)

    response = c.post(url, data=_audience_data(lst, "Alle"))

    assert response.status_code == 200
    assert "Eine Zielgruppe mit diesem Namen gibt es schon." in _text(response)
    assert _count(db_session, Audience) == before
    names = set(db_session.scalars(sa.select(Audience.name)))
    assert names == ({"Alle", "Andere"} if action == "rename" else {"Alle"})


@pytest.mark.parametrize("action", ["create", "rename"])
def test_a_duplicate_template_name_is_a_form_error(client_as, db_session, action):
    c = client_as("staff")
    assert c.post("/newsletter/vorlagen/neu", data=_template_data("Juni")).status_code == 302
    url = "/newsletter/vorlagen/neu"
    if action == "rename":
        assert c.post(url, data=_template_data("Juli")).status_code == 302
        other = db_session.scalar(
            sa.select(NewsletterTemplate).where(NewsletterTemplate.name == "Juli")
        )
        url = f"/newsletter/vorlagen/{other.id}"
    before = _count(db_session, NewsletterTemplate)

    response = c.post(url, data=_template_data("Juni"))

    assert response.status_code == 200
    assert "Eine Vorlage mit diesem Namen gibt es schon." in _text(response)
    assert _count(db_session, NewsletterTemplate) == before
