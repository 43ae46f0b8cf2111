"""The bench's casework pages at a tiny scale, so the scenarios cannot rot between rounds."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench import contacts, generate
from bench.__main__ import growth_table
from bench.contacts import Result

pytestmark = pytest.mark.slow

WORK_SCENARIOS = {
    "Mein Tag (counsellor)",
    "Mein Tag (admin)",
    "participant list (counsellor)",
    "follow-up list (counsellor)",
    "follow-up list, later group (counsellor)",
}


def _bench_url(tmp_path: Path) -> str:
    """A file of its own, or a database of its own on the suite's PostgreSQL server."""
    server = os.environ.get("CRM_TEST_DATABASE_URL")
    if not server:
        return f"sqlite:///{tmp_path / 'bench.sqlite3'}"
    url = sa.make_url(server).set(database=f"crm_bench_pages_{secrets.token_hex(4)}")
    return url.render_as_string(hide_password=False)


def test_the_casework_pages_answer_every_request_for_the_counsellor_and_the_admin(
    tmp_path: Path,
) -> None:
    url = _bench_url(tmp_path)
    try:
        gen = generate.generate(url, 0.001, log=lambda _line: None)
        results = contacts.run_pages(
            gen.url,
            requests=3,
            warmup=1,
            only={"work"},
            big_ids=gen.big_organisation_ids,
            n_orgs=gen.plan.organisations,
            log=lambda _line: None,
        )
        # The casework step is additive: a second call keeps the rows it made.
        again = generate.generate(url, 0.001, log=lambda _line: None)
    finally:
        if not url.startswith("sqlite"):
            generate.drop_database(url)
    by_name = {r.name: r for r in results}
    assert set(by_name) == WORK_SCENARIOS | {"bare route (baseline)"}
    for result in results:
        assert result.statuses == {200: 3}, result.name
    assert again.reused
    assert again.timings == {}


def test_the_growth_table_misses_a_scenario_whose_p95_grows_by_more_than_a_quarter() -> None:
    def run(scale: float, bare: float, page: float) -> dict:
        return {
            "server": "SQLite",
            "scale": scale,
            "pages": [
                Result("bare route (baseline)", [bare], note="bare"),
                Result("participant list (counsellor)", [page], note="work"),
            ],
        }

    flat = growth_table([run(0.1, 2.0, 20.0), run(3.0, 2.2, 24.0)])
    grown = growth_table([run(0.1, 2.0, 20.0), run(3.0, 2.0, 26.0)])
    assert "| SQLite | participant list (counsellor) | 1 | 20.00 | 24.00 | +20% | pass |" in flat
    assert (
        "| SQLite | participant list (counsellor) | 1 | 20.00 | 26.00 | +30% | **miss** |" in grown
    )
    assert "(machine)" in flat
