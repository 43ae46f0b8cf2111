"""DSGVO: Art. 15 exports are complete, Art. 17 erasure leaves no trace, counts stay."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa

from crm.audit.service import record
from crm.contacts.service import add_affiliation, log_activity, save_organisation, save_person
from crm.dashboard import service as board_service
from crm.followups.models import FollowUp
from crm.participants import service as ps
from crm.privacy import erasure, service
from crm.privacy.erasure import ALL_MENTIONS
from tests.dashboard_helpers import entered_on, office_and_counsellor

UNIQUE_FIRST = "Xaverine"
UNIQUE_LAST = "Quabbelmannsky"
UNIQUE = f"{UNIQUE_FIRST} {UNIQUE_LAST}"
EMAIL = "xaverine.quabbel@example.org"


def traces(session, needle: str) -> list[tuple[str, str]]:
    """Every (table, column) of the database whose text still contains `needle`."""
    conn = session.connection()
    found = []
    inspector = sa.inspect(conn)
    for table in inspector.get_table_names():
        for col in inspector.get_columns(table):
            if not isinstance(col["type"], sa.String | sa.JSON):
                continue
            c = sa.column(col["name"])
            expr = sa.cast(c, sa.Text) if isinstance(col["type"], sa.JSON) else c
            hit = conn.execute(
                sa.select(sa.func.count())
                .select_from(sa.table(table))
                .where(sa.func.lower(expr).contains(needle.lower()))
            ).scalar()
            if hit:
                found.append((table, col["name"]))
    return found


def _participant_with_everything(s):
    office, counsellor = office_and_counsellor(s)
    partner = save_organisation(s, {"name": "Beratungsnetz Partner e.V.", "kind": "partner"})
    p = entered_on(
        s,
        date(2026, 3, 10),
        office=office,
        counsellor=counsellor,
        first_name=UNIQUE_FIRST,
        last_name=UNIQUE_LAST,
        email=EMAIL,
        phone="+49 391 5550123",
        notes=f"{UNIQUE} kam über die Messe.",
        country_of_origin="Kolumbien",
        birth_year=1990,
        referrer=partner,
        first_contact_on=date(2026, 3, 1),
    )
    ps.add_session(s, p, held_on=date(2026, 3, 12), minutes=30, note=f"Gespräch mit {UNIQUE}")
    release = ps.add_release(s, p, organisation=partner, granted_on=date(2026, 3, 1), scope="alles")
    ps.create_referral(
        s,
        p,
        organisation=partner,
        referred_on=date(2026, 3, 2),
        direction="to",
        purpose=f"Wohnung für {UNIQUE}",
    )
    items = ps.checklist(s, p)
    ps.update_support_item(s, items[0], status="in_progress", note=f"{UNIQUE_LAST}: Mietvertrag")
    ps.record_exit(s, p, exit_on=date(2026, 6, 1), outcome="employment", note="Arbeit gefunden")
    # Somebody else's record mentions her; an audit summary too.
    other = save_person(
        s, {"first_name": "Olaf", "last_name": "Anders", "notes": f"kennt {UNIQUE}"}
    )
    record(s, "note", entity_type="participant", entity_id=p.id, summary=f"Anruf {UNIQUE}")
    s.flush()
    return p, release, other


def test_erasing_a_participant_leaves_her_name_only_in_unlinked_notes_listed_for_review(app_ctx):
    # Until issue 18 the erasure rewrote the other person's note too (text sweep).
    s = app_ctx
    p, _release, other = _participant_with_everything(s)
    assert traces(s, UNIQUE_LAST)
    preview = service.erasure_preview(s, p)
    assert [(m.table, m.row_id, m.column) for m in preview.unlinked] == [
        ("person", other.id, "notes")
    ]
    service.erase_participant(s, p)
    s.flush()
    for needle in (UNIQUE_LAST, UNIQUE_FIRST):
        assert traces(s, needle) == [("person", "notes")], needle
    for needle in (EMAIL, "5550123"):
        assert traces(s, needle) == [], needle
    s.refresh(p)
    assert p.erased_at is not None
    assert p.entry_on == date(2026, 3, 10)
    assert p.exit_outcome == "employment"
    s.refresh(other)
    assert other.notes == f"kennt {UNIQUE}"


def test_the_board_and_report_count_the_same_after_erasure(app_ctx):
    s = app_ctx
    p, _r, _o = _participant_with_everything(s)
    defaults = board_service.Targets(1, 1)

    def numbers():
        b = board_service.build_board(
            s, year=2026, today=date(2026, 12, 1), offices=None, defaults=defaults
        )
        r = board_service.annual_report(s, year=2026, offices=None)
        return (
            [(w.entries, w.exits) for w in b.weeks],
            [(x.key, x.entries, x.exits) for x in b.by_channel],
            [(x.key, x.entries) for x in b.by_office],
            (b.funnel.first_contact, b.funnel.entry, b.funnel.exit_employment),
            (r.counselled, r.sessions, r.minutes, r.entries, r.exits, r.exits_by_outcome),
        )

    before = numbers()
    service.erase_participant(s, p)
    s.flush()
    assert numbers() == before


def test_an_erased_participant_is_gone_from_lists_and_the_pseudonymised_export(app_ctx):
    s = app_ctx
    p, _r, _o = _participant_with_everything(s)
    old_pseudonym = p.pseudonym
    assert [r[0] for r in board_service.pseudonymised_rows(s, year=2026, offices=None)] == [
        old_pseudonym
    ]
    service.erase_participant(s, p)
    assert board_service.pseudonymised_rows(s, year=2026, offices=None) == []
    assert p.pseudonym != old_pseudonym


def test_erasing_a_contact_person_removes_them_their_texts_and_mentions(app_ctx, db_session):
    s = app_ctx
    from tests import factories

    user = factories.make_user(s, role="staff")
    org = save_organisation(s, {"name": "Maschinenbau Elbe GmbH"})
    person = save_person(
        s,
        {
            "first_name": UNIQUE_FIRST,
            "last_name": UNIQUE_LAST,
            "email": EMAIL,
            "phone": "0391 5550123",
        },
    )
    add_affiliation(s, person, org, function="Personal")
    log_activity(s, kind="call", person=person, subject=f"Anruf {UNIQUE_LAST}", text="Rückruf")
    log_activity(
        s, kind="meeting", person=person, organisation=org, subject="Termin", text=f"mit {UNIQUE}"
    )
    fu = FollowUp(
        subject=f"{UNIQUE_LAST} zurückrufen",
        note=EMAIL,
        due_at=datetime(2026, 12, 1, 8, tzinfo=UTC),
        assignee_id=user.id,
        person_id=person.id,
    )
    s.add(fu)
    # Her record was marked "not a duplicate" of a namesake's on the duplicates page.
    namesake = save_person(s, {"first_name": "Olga", "last_name": "Berg"})
    from crm.contacts.models import DistinctPair
    from crm.contacts.service import mark_distinct

    assert mark_distinct(s, "person", person.id, namesake.id, user=user)
    s.flush()
    service.erase_person(s, person, confirmed=ALL_MENTIONS)
    s.flush()
    for needle in (UNIQUE_LAST, UNIQUE_FIRST, EMAIL):
        assert traces(s, needle) == [], needle
    assert s.scalar(sa.select(sa.func.count()).select_from(DistinctPair)) == 0
    s.refresh(fu)
    assert fu.person_id is None
    assert fu.status == "open"


def test_the_unlinked_mention_scan_covers_the_free_text_of_every_domain(app_ctx):
    # Was: the text sweep covered every table (it no longer rewrites other people's text).
    columns = erasure._prose_columns()
    for table, column in (
        ("participant", "notes"),
        ("person", "notes"),
        ("organisation", "notes"),
        ("activity", "text"),
        ("audit_entry", "summary"),
        ("followup", "note"),
        ("referral", "purpose"),
        ("lead", "note"),
    ):
        assert column in columns.get(table, []), (table, column)
    assert "search_text" not in columns["person"]
    assert "sort_name" not in columns["person"]
    assert "password_hash" not in columns.get("user_account", [])


def test_only_admins_reach_the_privacy_pages(client_as, db_session):
    for role in ("lead", "counsellor", "staff", "readonly"):
        assert client_as(role).get("/datenschutz/").status_code == 403
    assert client_as("admin").get("/datenschutz/").status_code == 200


def test_an_admin_exports_and_erases_through_the_pages(client_as, db_session):
    s = db_session
    p, _r, _o = _participant_with_everything(s)
    s.commit()
    admin = client_as("admin")
    html = admin.get(f"/datenschutz/teilnehmende/{p.id}/auskunft").get_data(as_text=True)
    assert UNIQUE_LAST in html
    report = admin.get(f"/datenschutz/auskunft/bericht.json?r=participant:{p.id}")
    assert UNIQUE_LAST in report.get_data(as_text=True)
    assert admin.post(f"/datenschutz/teilnehmende/{p.id}/loeschen", data={}).status_code == 302
    assert traces(s, UNIQUE_LAST)  # not confirmed: nothing erased
    r = admin.post(f"/datenschutz/teilnehmende/{p.id}/loeschen", data={"confirm": "yes"})
    assert r.status_code == 302
    # Only the other person's unlinked note still names her (listed for review, not changed).
    assert traces(s, UNIQUE_LAST) == [("person", "notes")]
    assert admin.get(f"/datenschutz/teilnehmende/{p.id}/auskunft").status_code == 404
