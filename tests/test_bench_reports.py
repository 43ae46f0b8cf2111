"""The issue 17 bench (funder report, ESF Plus table, matching) at a tiny scale, so its
generator and scenarios cannot rot between rounds."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench import generate, participants, reports

pytestmark = pytest.mark.slow


def _bench_url(tmp_path: Path) -> str:
    """A file of its own, or a database of its own on the suite's PostgreSQL server."""
    server = os.environ.get("CRM_TEST_DATABASE_URL")
    if not server:
        return f"sqlite:///{tmp_path / 'reports.sqlite3'}"
    url = sa.make_url(server).set(database=f"crm_bench_reports_{secrets.token_hex(4)}")
    return url.render_as_string(hide_password=False)


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench's sizes cut down: 60 participants, 600 sessions, 40 firms."""
    for module, name, value in (
        (participants, "PARTICIPANTS", 60),
        (participants, "SESSIONS", 600),
        (reports, "FIRMS", 40),
        (reports, "PLACEMENT_FIRMS", 20),
        (reports, "PLACEMENTS", 30),
        (reports, "ROUNDS", 2),
        (reports, "RESPONSES_PER_ROUND", 40),
        (reports, "RELEASE_FIRMS", 5),
    ):
        monkeypatch.setattr(module, name, value)


def test_every_report_and_matching_page_answers_and_the_data_is_generated_once(
    tmp_path: Path, tiny: None
) -> None:
    url = _bench_url(tmp_path)
    try:
        results = reports.run(url, requests=2, warmup=1, fresh=True)
        engine = sa.create_engine(generate.driver_url(url))
        with engine.connect() as conn:
            counted = {
                table: conn.scalar(sa.text(f"SELECT count(*) FROM {table}"))  # noqa: S608
                for table in ("participant", "counselling_session", "survey_response", "placement")
            }
            needs = conn.scalar(
                sa.text("SELECT count(*) FROM qualification_need WHERE survey_response_id > 0")
            )
            releases = conn.scalar(sa.text("SELECT count(*) FROM consent_release"))
            esf = conn.scalar(sa.text("SELECT count(*) FROM esf_record"))
            first_ids = conn.scalar(sa.text("SELECT max(id) FROM placement"))
        # A second run reuses the cached rows instead of generating them again.
        reports.ensure_data(url, fresh=False)
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT max(id) FROM placement")) == first_ids
        engine.dispose()
    finally:
        if not url.startswith("sqlite"):
            generate.drop_database(url)
    assert counted == {
        "participant": 60,
        "counselling_session": 600,
        "survey_response": 80,
        "placement": 30,
    }
    assert needs > 0
    assert releases > 0
    assert esf > 0
    names = [r.name for r in results]
    assert names[0] == "bare route"
    assert len(names) == 6
    # run() asserts every response was a 200; each page ran queries.
    assert all(r.queries > 0 for r in results[1:])
    lines = reports.table("sqlite", results)
    assert "baseline" in lines[0]
