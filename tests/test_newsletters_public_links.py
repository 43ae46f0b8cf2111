"""Public links (unsubscribe, web version) act only on the very row they were made for."""

from __future__ import annotations

import sqlalchemy as sa

from crm.contacts.models import Person
from crm.newsletters import service
from crm.newsletters.models import Subscription
from tests.factories import make_list, make_person
from tests.newsletter_sending_helpers import make_campaign


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def _subscribed(db_session, lst, *, id=None, token_nonce=None, **person):
    """A confirmed subscriber; `id` forces a number (as a restored backup might hand out)."""
    p = make_person(db_session, **person)
    db_session.flush()
    if id is not None:
        db_session.execute(sa.update(Person).where(Person.id == p.id).values(id=id))
        db_session.expire_all()
        p = db_session.get(Person, id)
    if token_nonce is not None:
        p.token_nonce = token_nonce
    service.record_consent(db_session, person=p, lst=lst, method="paper")
    db_session.flush()
    return p


def test_every_new_person_gets_a_random_nonce_that_their_links_carry(app, db_session):
    lst = make_list(db_session)
    a, b = make_person(db_session), make_person(db_session)
    db_session.flush()
    assert a.token_nonce
    assert b.token_nonce
    assert a.token_nonce != b.token_nonce
    settings = service.MailSettings.from_config(app.config)
    _, _, nonce = service.read_unsubscribe_token(
        settings, service.unsubscribe_token(settings, a, lst.id)
    )
    assert nonce == a.token_nonce


def test_an_unsubscribe_link_never_acts_on_someone_who_got_the_same_id(app, client, db_session):
    lst = make_list(db_session)
    erased = _subscribed(db_session, lst, first_name="Erika", last_name="Gelöscht")
    db_session.commit()
    settings = service.MailSettings.from_config(app.config)
    path = _path(service.unsubscribe_url(settings, erased, lst.id))
    same_id = erased.id
    db_session.delete(erased)
    db_session.commit()
    # Whatever hands out the number again (a restored backup, a database without
    # AUTOINCREMENT): the new row has another nonce.
    newcomer = _subscribed(db_session, lst, id=same_id, first_name="Nina", last_name="Neu")
    db_session.commit()
    assert newcomer.id == same_id

    for response in (
        client.get(path),
        client.post(path, data={"List-Unsubscribe": "One-Click"}, csrf=False),
    ):
        assert response.status_code == 410
        assert "nicht mehr gültig" in response.get_data(as_text=True)
    db_session.expire_all()
    sub = db_session.scalar(sa.select(Subscription).where(Subscription.person_id == same_id))
    assert sub.status == "confirmed"


def test_a_web_version_link_of_a_deleted_person_shows_nobody_else(app, client, db_session):
    lst = make_list(db_session)
    erased = _subscribed(db_session, lst, first_name="Erika", last_name="Gelöscht")
    campaign = make_campaign(db_session, lst)
    db_session.commit()
    settings = service.MailSettings.from_config(app.config)
    path = _path(service.webversion_url(settings, campaign.id, erased))
    assert "Gelöscht" in client.get(path).get_data(as_text=True)
    same_id = erased.id
    db_session.delete(erased)
    db_session.commit()
    _subscribed(db_session, lst, id=same_id, first_name="Nina", last_name="Neu")
    db_session.commit()

    response = client.get(path)
    assert response.status_code == 410
    assert "Neu" not in response.get_data(as_text=True)


def test_old_links_without_a_nonce_still_work_for_people_from_before_and_no_one_else(
    app, client, db_session
):
    lst = make_list(db_session)
    before = _subscribed(db_session, lst, token_nonce="")  # created before links had one
    since = _subscribed(db_session, lst)
    db_session.commit()
    settings = service.MailSettings.from_config(app.config)
    legacy = service.URLSafeSerializer(settings.secret_key, salt=service.UNSUBSCRIBE_SALT)

    assert (
        client.post(
            f"/newsletter/abmelden/{legacy.dumps([before.id, lst.id])}", csrf=False
        ).status_code
        == 200
    )
    assert (
        client.post(
            f"/newsletter/abmelden/{legacy.dumps([since.id, lst.id])}", csrf=False
        ).status_code
        == 410
    )
    db_session.expire_all()
    status = dict(db_session.execute(sa.select(Subscription.person_id, Subscription.status)).all())
    assert status == {before.id: "unsubscribed", since.id: "confirmed"}


def test_the_person_nonce_is_not_written_to_the_audit_log(db_session):
    from crm.audit.models import AuditEntry

    p = make_person(db_session)
    db_session.flush()
    changes = db_session.scalars(
        sa.select(AuditEntry.changes).where(
            AuditEntry.entity_type == "person", AuditEntry.entity_id == p.id
        )
    ).all()
    assert p.token_nonce not in repr(changes)
    assert Person.__audit_ignore__ >= {"token_nonce"}


def test_the_web_version_is_a_whole_german_document_titled_with_the_subject(
    app, client, db_session
):
    lst = make_list(db_session)
    person = _subscribed(db_session, lst, first_name="Jörg", last_name="Weiß")
    campaign = make_campaign(db_session, lst)
    text_only = make_campaign(db_session, lst, name="Nur Text", body_html="")
    db_session.commit()
    settings = service.MailSettings.from_config(app.config)
    page = client.get(_path(service.webversion_url(settings, campaign.id, person)))
    html = page.get_data(as_text=True)
    assert html.startswith('<!doctype html>\n<html lang="de">\n<head>\n<meta charset="utf-8">')
    assert "<title>Neuigkeiten für Jörg – Größe &amp; Qualität</title>" in html
    assert "<body>\n<p>Hallo " in html
    plain = client.get(_path(service.webversion_url(settings, text_only.id, person)))
    html = plain.get_data(as_text=True)
    assert html.startswith("<!doctype html>")
    assert '<pre style="white-space: pre-wrap">Hallo ' in html
