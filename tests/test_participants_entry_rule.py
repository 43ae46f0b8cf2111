"""The 8-hour rule: entry on the day cumulative counselling time first EXCEEDS 8:00."""

from __future__ import annotations

from datetime import date

import pytest

from crm.participants import service
from crm.participants.service import entry_date
from tests.factories import make_participant

D = date


def test_exactly_eight_hours_is_not_an_entry():
    assert entry_date([(D(2026, 1, 5), 240), (D(2026, 1, 12), 240)]) is None


def test_eight_hours_and_one_minute_is_an_entry_on_that_day():
    assert entry_date([(D(2026, 1, 5), 240), (D(2026, 1, 12), 241)]) == D(2026, 1, 12)


def test_sessions_in_any_order_give_the_same_entry():
    pairs = [(D(2026, 3, 2), 300), (D(2026, 1, 5), 120), (D(2026, 2, 2), 61)]
    assert entry_date(pairs) == D(2026, 3, 2)
    assert entry_date(list(reversed(pairs))) == D(2026, 3, 2)


def test_sessions_on_the_same_day_count_together():
    assert entry_date([(D(2026, 1, 5), 400), (D(2026, 1, 5), 81)]) == D(2026, 1, 5)


def test_no_sessions_no_entry():
    assert entry_date([]) is None


@pytest.fixture
def participant(app_ctx):
    return make_participant(app_ctx)


def test_adding_sessions_stores_the_entry_once_hours_exceed_eight(app_ctx, participant):
    service.add_session(app_ctx, participant, held_on=D(2026, 1, 5), minutes=240)
    service.add_session(app_ctx, participant, held_on=D(2026, 1, 12), minutes=240)
    assert participant.total_minutes == 480
    assert participant.entry_on is None
    service.add_session(app_ctx, participant, held_on=D(2026, 1, 19), minutes=1)
    assert participant.entry_on == D(2026, 1, 19)
    assert participant.first_session_on == D(2026, 1, 5)


def test_a_session_entered_late_for_an_earlier_date_moves_the_entry_back(app_ctx, participant):
    service.add_session(app_ctx, participant, held_on=D(2026, 2, 2), minutes=300)
    service.add_session(app_ctx, participant, held_on=D(2026, 3, 2), minutes=300)
    assert participant.entry_on == D(2026, 3, 2)
    service.add_session(app_ctx, participant, held_on=D(2026, 1, 5), minutes=200)
    assert participant.entry_on == D(2026, 2, 2)
    assert participant.first_session_on == D(2026, 1, 5)


def test_deleting_a_session_moves_the_entry_later_or_removes_it(app_ctx, participant):
    first = service.add_session(app_ctx, participant, held_on=D(2026, 1, 5), minutes=300)
    service.add_session(app_ctx, participant, held_on=D(2026, 1, 12), minutes=181)
    service.add_session(app_ctx, participant, held_on=D(2026, 1, 19), minutes=300)
    assert participant.entry_on == D(2026, 1, 12)
    service.delete_session(app_ctx, first)
    assert participant.entry_on == D(2026, 1, 19)
    last = participant.sessions[-1]
    service.delete_session(app_ctx, last)
    assert participant.entry_on is None
    assert participant.total_minutes == 181


def test_editing_a_duration_recomputes_the_entry(app_ctx, participant):
    service.add_session(app_ctx, participant, held_on=D(2026, 1, 5), minutes=240)
    second = service.add_session(app_ctx, participant, held_on=D(2026, 1, 12), minutes=241)
    assert participant.entry_on == D(2026, 1, 12)
    service.update_session(app_ctx, second, held_on=D(2026, 1, 12), minutes=240)
    assert participant.entry_on is None
    service.update_session(app_ctx, second, held_on=D(2025, 12, 1), minutes=300)
    assert participant.entry_on == D(2026, 1, 5)


def test_a_session_must_last_between_one_minute_and_a_day(app_ctx, participant):
    with pytest.raises(service.ParticipantError):
        service.add_session(app_ctx, participant, held_on=D(2026, 1, 5), minutes=0)
    with pytest.raises(service.ParticipantError):
        service.add_session(app_ctx, participant, held_on=D(2026, 1, 5), minutes=1441)
