"""The audit log: who changed which record and which fields, without sensitive values."""

from __future__ import annotations

import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.audit.service import Actor, acting_as, query_entries
from tests import factories


def _entries(session, entity_id):
    return session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.entity_type == "user_account", AuditEntry.entity_id == entity_id)
        .order_by(AuditEntry.id)
    ).all()


def test_create_update_delete_are_logged_with_actor_and_fields(db_session):
    with acting_as(Actor(7, "tester@example.org", "192.0.2.5")):
        user = factories.make_user(db_session, display_name="Erika Muster")
        user_id = user.id
        user.display_name = "Erika Mustermann"
        user.role = "lead"
        db_session.flush()
        db_session.delete(user)
        db_session.flush()
    actions = [(e.action, e.actor_id, e.actor_label, e.ip) for e in _entries(db_session, user_id)]
    assert actions == [
        ("create", 7, "tester@example.org", "192.0.2.5"),
        ("update", 7, "tester@example.org", "192.0.2.5"),
        ("delete", 7, "tester@example.org", "192.0.2.5"),
    ]
    update = _entries(db_session, user_id)[1]
    assert sorted(update.changes["fields"]) == ["display_name", "role"]


def test_personal_values_are_not_copied_into_the_log(db_session):
    user = factories.make_user(db_session, display_name="Ayşe Yılmaz")
    user.display_name = "Ayşe Demir"
    user.password_hash = "x"
    db_session.flush()
    entries = _entries(db_session, user.id)
    text = " ".join(str(e.changes) + e.summary for e in entries)
    assert "Yılmaz" not in text
    assert "Demir" not in text
    assert "$argon2" not in text
    assert "password_hash" in entries[-1].changes["fields"]
    assert "password_hash" not in entries[-1].changes["values"]


def test_non_personal_values_like_the_role_are_kept(db_session):
    user = factories.make_user(db_session, role="readonly")
    user.role = "staff"
    db_session.flush()
    assert _entries(db_session, user.id)[-1].changes["values"]["role"] == ["readonly", "staff"]


def test_an_update_that_changes_nothing_writes_no_entry(db_session):
    user = factories.make_user(db_session, display_name="Gleich")
    before = len(_entries(db_session, user.id))
    user.display_name = "Gleich"
    db_session.flush()
    assert len(_entries(db_session, user.id)) == before


def test_a_rolled_back_change_leaves_no_audit_entry(db_session):
    nested = db_session.begin_nested()
    user = factories.make_user(db_session)
    user_id = user.id
    nested.rollback()
    assert _entries(db_session, user_id) == []


def test_the_audit_page_filters_by_action_and_user(admin_client, db_session):
    with acting_as(Actor(4242, "filter@example.org")):
        factories.make_user(db_session, display_name="Gefiltert")
    db_session.commit()
    page = admin_client.get("/verwaltung/protokoll/?aktion=create&benutzer=4242")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "filter@example.org" in body
    # Actions and kinds of record in German words, not the stored codes.
    assert "<td>angemeldet</td>" not in body
    assert "<td>erfasst</td>" in body
    assert "Benutzerkonto Nr." in body
    assert ">user_account<" not in body


def test_query_entries_pages_newest_first(db_session):
    with acting_as(Actor(99, "pager")):
        for _ in range(3):
            factories.make_user(db_session)
    items, total = query_entries(db_session, actor_id=99, per_page=2)
    assert total == 3
    assert len(items) == 2
    assert items[0].id > items[1].id


def test_the_audit_page_shows_empty_yes_and_no_values_in_german(admin_client, db_session):
    """„must_change_password: None → True“ was Python, not German."""
    with acting_as(Actor(4243, "werte@example.org")):
        factories.make_user(db_session, display_name="Werte", role="lead")
    db_session.commit()
    body = admin_client.get("/verwaltung/protokoll/?benutzer=4243").get_data(as_text=True)
    assert "role: – → lead" in body
    assert "is_active_flag: – → ja" in body
    assert "None" not in body
    assert "True" not in body


def test_the_participant_page_leads_admins_and_leads_to_who_looked_at_or_changed_it(
    client_as, db_session
):
    participant = factories.make_participant(db_session, last_name="Protokollova")
    other = factories.make_participant(db_session, last_name="Nebenfall")
    db_session.commit()
    for role in ("admin", "lead"):
        viewer = client_as(role)
        page = viewer.get(f"/teilnehmende/{participant.id}").get_data(as_text=True)
        link = f'href="/verwaltung/protokoll/?typ=participant&amp;datensatz={participant.id}"'
        assert f'id="audit-participant" {link}' in page
        log = viewer.get(f"/verwaltung/protokoll/?typ=participant&datensatz={participant.id}")
        text = log.get_data(as_text=True)
        # Her record being opened just now is there, with who opened it; other records are not.
        assert viewer.user.email in text
        assert f"Teilnehmende #{participant.id}" in text
        assert f"Teilnehmende #{other.id}" not in text
    counsellor = client_as("counsellor", office=participant.office)
    page = counsellor.get(f"/teilnehmende/{participant.id}").get_data(as_text=True)
    assert 'id="audit-participant"' not in page


def test_after_an_erasure_the_audit_log_names_what_happened_in_german_without_values(
    client_as, db_session
):
    """The log's action column and filter showed "erase_delete" and "erase_anonymise"."""
    person = factories.make_person(db_session, first_name="Ilse", last_name="Löschantrag")
    db_session.commit()
    admin = client_as("admin")
    response = admin.post(
        f"/datenschutz/personen/{person.id}/loeschen",
        data={"confirm": "yes", "legal_basis": "request"},
    )
    assert response.status_code == 302
    page = admin.get("/verwaltung/protokoll/?aktion=erase_delete").get_data(as_text=True)
    assert "bei einer Löschung (Art. 17) gelöscht" in page
    assert ">erase_delete<" not in page
    assert "Löschantrag" not in page
    # The rows it removed are named as records, not as tables ("audit_entry").
    assert "Eintrag im Änderungsprotokoll" in page
    assert ">audit_entry<" not in page


def test_every_audited_kind_of_record_has_a_german_name_in_the_log(app):
    from flask_babel import force_locale

    from crm.audit.labels import RECORD_LABELS
    from crm.audit.mixins import Audited
    from crm.extensions import db

    audited = {
        m.class_.__tablename__ for m in db.Model.registry.mappers if issubclass(m.class_, Audited)
    }
    assert audited - set(RECORD_LABELS) == set()
    with app.test_request_context(), force_locale("de"):
        assert str(RECORD_LABELS["event_minutes"]) == "Protokoll eines Termins"
