"""iCal text: titles and names with line breaks, separators and long non-ASCII text stay text.

Every .ics the app serves is checked line by line (CRLF ends, at most 75 octets) and parsed
back with icalendar; the values must come back exactly (line breaks as LF) and a title such as
"x\\r\\nATTENDEE:evil" must never add a property.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar
from icalendar import Event as VEvent

from crm.events import ical, service
from crm.events.models import Event
from crm.events.series import to_utc
from crm.followups import service as fu_service
from tests import factories

LONG = "Jobmesse für Geflüchtete – Ärztinnen, Pflegekräfte; 日本語 🎉 " * 3
HOSTILE = [
    "x\r\nATTENDEE:evil",
    "x\nATTENDEE:evil",
    "x\rATTENDEE:evil",
    "x\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:injected",
    "Teil 1; Teil 2, Teil 3",
    "C:\\Neu\\nicht\\\\zwei",
    "Ende mit Backslash \\",
    LONG[:190],
]
# Everything in one string, for the fields that hold long text.
EVERYTHING = "\r\n".join(HOSTILE) + "\r\n" + LONG * 10
EVENT_PROPERTIES = {
    "UID",
    "DTSTAMP",
    "SUMMARY",
    "DTSTART",
    "DTEND",
    "LOCATION",
    "DESCRIPTION",
    "STATUS",
    "RRULE",
    "EXDATE",
    "RECURRENCE-ID",
    "URL",
}


def _as_read(text: str) -> str:
    """What a calendar shows: the line break of the text, whatever its form, as LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _unescape(raw: str) -> str:
    """RFC 5545 TEXT unescaping, for X- properties that icalendar hands back raw."""
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m[1] in "nN" else m[1], raw)


def _parse(data: bytes) -> Calendar:
    """Check the physical lines, then parse; fails on anything a strict client would reject."""
    assert data.endswith(b"\r\n")
    lines = data[:-2].split(b"\r\n")
    for line in lines:
        assert b"\r" not in line
        assert b"\n" not in line
        assert len(line) <= 75, line
        line.decode("utf-8")  # folding never splits a character
    unfolded = re.sub(rb"\r\n[ \t]", b"", data).split(b"\r\n")
    begins = [line for line in unfolded if line.startswith(b"BEGIN:")]
    assert begins.count(b"BEGIN:VCALENDAR") == 1
    cal = Calendar.from_ical(data)
    for component in cal.walk():
        assert "ATTENDEE" not in component
        assert not component.errors
    for vevent in cal.walk("VEVENT"):
        assert set(vevent.keys()) <= EVENT_PROPERTIES
    return cal


def _event(session, title: str, **kwargs) -> Event:
    return service.create_event(
        session,
        service.EventData(
            kind="fair",
            title=title,
            start_local=datetime(2030, 3, 4, 9),
            end_local=datetime(2030, 3, 4, 17),
            **kwargs,
        ),
    )


@pytest.mark.parametrize("title", HOSTILE)
def test_an_event_download_keeps_any_title_as_the_text_of_one_event(client_as, db_session, title):
    c = client_as("staff")
    event = _event(db_session, title, place=title, description=EVERYTHING)
    db_session.commit()

    response = c.get(f"/termine/{event.id}.ics")

    assert response.status_code == 200
    cal = _parse(response.data)
    (vevent,) = cal.walk("VEVENT")
    assert [tz["tzid"] for tz in cal.walk("VTIMEZONE")] == ["Europe/Berlin"]
    assert _unescape(str(cal["X-WR-CALNAME"])) == _as_read(event.title)
    assert str(vevent["SUMMARY"]) == _as_read(event.title)
    assert str(vevent["LOCATION"]) == _as_read(event.place)
    assert str(vevent["DESCRIPTION"]) == _as_read(event.description)


def test_a_series_download_keeps_hostile_titles_of_the_series_and_a_moved_date(
    client_as, db_session
):
    c = client_as("staff")
    title = HOSTILE[0] + " / " + HOSTILE[5]
    s = service.create_series(
        db_session,
        service.EventData(
            kind="presentation",
            title=title,
            start_local=datetime(2030, 1, 1, 10),
            end_local=datetime(2030, 1, 1, 12),
            place=HOSTILE[4],
            description=EVERYTHING,
        ),
        "FREQ=MONTHLY;BYMONTHDAY=1",
        today=date(2030, 1, 1),
        horizon_days=100,
    )
    events = sorted(
        db_session.scalars(sa.select(Event).where(Event.series_id == s.id)),
        key=lambda e: e.starts_at,
    )
    moved_title = HOSTILE[3]
    service.update_event(
        db_session,
        events[1],
        service.EventData(
            kind="presentation",
            title=moved_title,
            start_local=datetime(2030, 2, 2, 10),
            end_local=datetime(2030, 2, 2, 12),
        ),
    )
    db_session.commit()

    cal = _parse(c.get(f"/termine/{events[0].id}.ics").data)

    assert _unescape(str(cal["X-WR-CALNAME"])) == _as_read(s.title)
    master, override = sorted(cal.walk("VEVENT"), key=lambda v: "RECURRENCE-ID" in v)
    assert str(master["SUMMARY"]) == _as_read(s.title)
    assert str(master["LOCATION"]) == HOSTILE[4]
    assert str(master["DESCRIPTION"]) == _as_read(s.description)
    assert str(override["SUMMARY"]) == _as_read(events[1].title)
    assert str(master["UID"]) == str(override["UID"]) == f"series-{s.id}@localhost"


def test_the_feed_keeps_hostile_user_names_subjects_notes_and_event_titles_as_text(
    client, db_session
):
    me = factories.make_user(db_session, display_name="Zoë\r\nATTENDEE:evil; A, B\\C")
    fu = fu_service.create_followup(
        db_session,
        subject=HOSTILE[3],
        due_date=date(2030, 3, 4),
        assignee=me,
        note=EVERYTHING,
    )
    event = _event(db_session, HOSTILE[0], place=HOSTILE[2])
    service.add_slot(
        db_session, event, me, to_utc(datetime(2030, 3, 4, 9)), to_utc(datetime(2030, 3, 4, 12))
    )
    token = ical.new_token(db_session, me.id, datetime.now(UTC))
    db_session.commit()

    cal = _parse(client.get(f"/kalender/{token}.ics").data)

    assert _unescape(str(cal["X-WR-CALNAME"])) == "netzwerk-crm: " + _as_read(me.display_name)
    by_uid = {str(v["UID"]): v for v in cal.walk("VEVENT")}
    assert set(by_uid) == {f"followup-{fu.id}@localhost", *(k for k in by_uid if "slot-" in k)}
    assert len(by_uid) == 2
    followup = by_uid[f"followup-{fu.id}@localhost"]
    assert str(followup["SUMMARY"]) == "Wiedervorlage: " + _as_read(fu.subject)
    assert str(followup["DESCRIPTION"]) == _as_read(fu.note)
    (slot,) = (v for uid, v in by_uid.items() if uid.startswith("slot-"))
    assert str(slot["SUMMARY"]) == "Standdienst: " + _as_read(event.title)
    assert str(slot["LOCATION"]) == _as_read(event.place)


def test_control_characters_that_icalendar_text_cannot_hold_are_left_out(client_as, db_session):
    c = client_as("staff")
    event = _event(db_session, "Messe\x0b Burg\x07\x1b[31m\x7f", description="a\tb\x01c")
    db_session.commit()

    cal = _parse(c.get(f"/termine/{event.id}.ics").data)

    (vevent,) = cal.walk("VEVENT")
    assert str(vevent["SUMMARY"]) == "Messe Burg[31m"
    assert _unescape(str(cal["X-WR-CALNAME"])) == "Messe Burg[31m"
    assert str(vevent["DESCRIPTION"]) == "a\tbc"


def test_an_event_title_with_line_breaks_keeps_the_event_pages_working(client_as, db_session):
    c = client_as("staff")
    form = {
        "kind": "fair",
        "title": "Jobmesse\r\nATTENDEE:evil",
        "start_date": "2030-05-12",
        "start_time": "09:00",
        "end_date": "2030-05-12",
        "end_time": "16:00",
        "place": "Halle\r\n1",
        "description": "Zeile 1\r\nZeile 2",
        "responsible_id": str(c.user.id),
        "pattern": "none",
    }
    response = c.post("/termine/neu", data=form)
    assert response.status_code == 302, response.data
    event = db_session.scalar(sa.select(Event).where(Event.title.like("Jobmesse%")))

    for url in (
        "/termine/",
        f"/termine/{event.id}",
        f"/termine/{event.id}/bearbeiten",
        f"/termine/{event.id}.ics",
    ):
        assert c.get(url).status_code == 200, url
    response = c.post(f"/termine/{event.id}/bearbeiten", data={**form, "title": "x\rEND:VEVENT"})
    assert response.status_code == 302, response.data
    cal = _parse(c.get(f"/termine/{event.id}.ics").data)
    (vevent,) = cal.walk("VEVENT")
    assert str(vevent["SUMMARY"]) == "x\nEND:VEVENT"


def _expected(value: str) -> str:
    """What must come back: the text without control characters, line breaks as LF."""
    kept = "".join(ch for ch in value if ch in "\t\r\n" or not (ord(ch) < 32 or ord(ch) == 127))
    return _as_read(kept)


@settings(max_examples=100, deadline=None, database=None)
@given(value=st.text(max_size=400) | st.text(alphabet="\\;,:\r\nNn\t \"'ä😀", max_size=80))
def test_any_text_comes_back_from_an_ics_file_as_it_was_written(value):
    cal = Calendar()
    cal.add("prodid", ical.PRODID)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", ical.text(value))
    vevent = VEvent()
    vevent.add("uid", "u@localhost")
    vevent.add("dtstamp", datetime(2030, 1, 1, tzinfo=UTC))
    vevent.add("summary", ical.text(value))
    vevent.add("description", ical.text(value * 3))
    cal.add_component(vevent)

    parsed = _parse(cal.to_ical())

    (back,) = parsed.walk("VEVENT")
    assert str(back["SUMMARY"]) == _expected(value)
    assert str(back["DESCRIPTION"]) == _expected(value * 3)
    assert _unescape(str(parsed["X-WR-CALNAME"])) == _expected(value)
