"""The importer looks up only the keys a file contains, with the same duplicate decisions.

Matching used to load every e-mail address, name and organisation of the database before the
first row. Now each batch's keys are looked up in the database (a file that is large for the
database still loads everything at once); these tests pin that the decisions did not change
(first record by id, duplicates within the file, across batches, both ways of loading) and
that the lookups send no key the file does not contain.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from crm.contacts import importer, service
from crm.contacts.import_models import ImportJob
from crm.contacts.models import Person, Tag
from crm.contacts.normalize import organisation_key, person_key
from crm.extensions import db
from tests.factories import make_org, make_person

HEADER = "Firma;PLZ;Vorname;Nachname;E-Mail;Telefon;Schlagworte"
# The tables the duplicate lookups read (not organisation_kind, import_job, job_file …).
LOOKUP_TABLES = re.compile(r"\b(FROM|JOIN)\s+\"?(person|organisation|affiliation|tag)\b\"?(?!_)")


@pytest.fixture
def crowd(app_ctx: Any) -> Any:
    """A database with many people and organisations that no row of the files below names.

    40 people are more than `importer.LOOKUP_PEOPLE_PER_ROW` per row of these files (at most
    8 rows), so the files look up their keys rather than load all of them.
    """
    assert importer.LOOKUP_PEOPLE_PER_ROW * 8 < 40
    for n in range(40):
        org = make_org(app_ctx, name=f"Fremdfirma {n} GmbH", postcode="39104")
        make_person(
            app_ctx,
            first_name="Fritz",
            last_name=f"Fremd{n}",
            email=f"fremd{n}@example.org",
            phone=f"0391 55{n:04d}",
            org=org,
        )
    app_ctx.commit()
    return app_ctx


def _job(session: Any, rows: list[str], policy: str = "skip") -> ImportJob:
    data = ("\n".join([HEADER, *rows]) + "\n").encode()
    job = importer.create_job(
        session, data=data, filename="messe.csv", user_id=None, max_bytes=10 * 1024 * 1024
    )
    job.mapping = {**job.mapping, "Schlagworte": "tags"}
    job.duplicate_policy = policy
    session.flush()
    return job


def _decisions(report: importer.ImportReport) -> list[tuple[int, str, list]]:
    return [(r.line, r.outcome, r.reasons) for r in report.rows]


def test_a_row_is_found_by_e_mail_among_many_unrelated_people(crowd):
    first = make_person(crowd, first_name="Jörg", last_name="Müller", email="j.mueller@example.org")
    # The same address as the second address of a later record: the first by id wins.
    make_person(crowd, first_name="Jörg", last_name="Mueller", email_alt="j.mueller@example.org")
    crowd.commit()
    job = _job(crowd, [";;Georg;Müller;J.Mueller@Example.org;;"])

    report = importer.run_import(crowd, job, dry_run=True)

    assert _decisions(report) == [(1, "skip", [("dup_email", {"id": first.id})])]


def test_a_row_is_found_by_name_and_phone_among_many_unrelated_people(crowd):
    person = make_person(crowd, first_name="Anna", last_name="Ast", email="", mobile="0170 1234567")
    crowd.commit()
    job = _job(crowd, [";;Anna;Ast;;0170 1234567;"])

    report = importer.run_import(crowd, job, dry_run=True)

    assert _decisions(report) == [(1, "skip", [("dup_phone", {"id": person.id})])]


def test_a_row_is_found_by_name_at_its_organisation_among_many_unrelated_people(crowd):
    org = make_org(crowd, name="Harz Holz GmbH", postcode="38820")
    person = make_person(crowd, first_name="Bert", last_name="Borke", email="", org=org)
    # The same name at another firm is another person.
    make_person(crowd, first_name="Bert", last_name="Borke", email="", org=make_org(crowd))
    crowd.commit()
    job = _job(
        crowd,
        ["Harz Holz GmbH;38820;Bert;Borke;;;", "Harz Holz;38820;Bert;Borke;;;"],
        policy="update_empty",
    )

    report = importer.run_import(crowd, job, dry_run=True)

    assert [(line, outcome, reasons[0]) for line, outcome, reasons in _decisions(report)] == [
        (1, "skip", ("dup_name", {"id": person.id})),
        (2, "skip", ("dup_name", {"id": person.id})),
    ]


def test_a_name_without_letters_still_matches_at_its_organisation_as_before(crowd):
    # "-" and "?" both have the empty name key; matching has always treated them as one name.
    org = make_org(crowd, name="Harz Holz GmbH", postcode="38820")
    person = make_person(crowd, first_name="", last_name="?", email="", org=org)
    crowd.commit()
    job = _job(crowd, ["Harz Holz GmbH;38820;;-;;;"])

    report = importer.run_import(crowd, job, dry_run=True)

    assert _decisions(report)[0][:2] == (1, "skip")
    assert ("dup_name", {"id": person.id}) in _decisions(report)[0][2]


def test_an_organisation_is_found_by_name_and_postcode_among_many_unrelated_ones(crowd):
    elsewhere = make_org(crowd, name="Bäckerei Korn", postcode="06108")
    here = make_org(crowd, name="Baeckerei Korn", postcode="39104")
    make_org(crowd, name="Bäckerei Korn", postcode="39104")  # a later record: not chosen
    crowd.commit()
    job = _job(crowd, ["Bäckerei Korn;39104;;;;;", "Bäckerei Korn;;;;;;"])

    report = importer.run_import(crowd, job, dry_run=True)

    assert _decisions(report) == [
        (1, "skip", [("dup_org", {"id": here.id})]),
        # Without a postcode the firm of that name with the lowest id.
        (2, "skip", [("dup_org", {"id": elsewhere.id})]),
    ]


def test_tags_that_exist_are_reused_and_new_ones_created_once(crowd):
    fair = Tag(name="Messe")
    crowd.add_all([fair, Tag(name="Fremd")])
    crowd.commit()
    job = _job(crowd, [";;Ute;Uhl;;;Messe, Neu", ";;Veit;Vogt;;;Neu"])

    importer.run_import(crowd, job, batch_rows=1)

    tags = {t.name: t.id for t in crowd.scalars(sa.select(Tag))}
    assert sorted(tags) == ["Fremd", "Messe", "Neu"]
    assert tags["Messe"] == fair.id


MIXED = [
    # 1: an existing person by e-mail, under another spelling of the name, at a known firm.
    "Harz Holz GmbH;38820;Jorg;Mueller;j.mueller@example.org;;Messe",
    # 2: the existing person's own name at that firm, no e-mail (not linked before the run).
    "Harz Holz GmbH;38820;Jörg;Müller;;;",
    # 3, 4: a new person, then the same person again (a duplicate within the file).
    "Neue Firma KG;39112;Ida;Neu;ida@neu.example;0391 777;Neu",
    "Neue Firma KG;39112;Ida;Neu;;0391 777;",
    # 5: a new firm named again with the postcode written without its leading zero.
    "Saale Stahl;06108;Olaf;Ost;;;",
    "Saale Stahl;6108;Paul;Pohl;;;",
    # 7: the existing person by name and phone.
    ";;Jörg;Müller;;0391 999;",
    # 8: a row that is rejected.
    ";;;;kaputt@;;",
]
MIXED_NAMES = [("Jorg", "Mueller"), ("Jörg", "Müller"), ("Ida", "Neu"), ("Olaf", "Ost")]
MIXED_NAMES += [("Paul", "Pohl")]


def _mixed_database(session: Any) -> None:
    org = make_org(session, name="Harz Holz GmbH", postcode="38820")
    make_person(
        session,
        first_name="Jörg",
        last_name="Müller",
        email="j.mueller@example.org",
        phone="0391 999",
    )
    make_person(session, first_name="Jörg", last_name="Müller", email="", org=org)
    session.commit()


@pytest.mark.parametrize("policy", ["skip", "update_empty", "create"])
def test_batches_of_one_row_decide_as_one_batch_of_all(crowd, policy):
    """Keys are looked up batch by batch; a key first met in a later batch changes nothing."""
    _mixed_database(crowd)
    job = _job(crowd, MIXED, policy=policy)
    outcomes = []
    for batch_rows in (1, 2, 1000):
        savepoint = crowd.begin_nested()
        report = importer.run_import(crowd, job, batch_rows=batch_rows)
        outcomes.append((_decisions(report), report.counts))
        savepoint.rollback()
    assert outcomes[0] == outcomes[1] == outcomes[2]


def test_a_file_large_for_the_database_reads_all_keys_and_decides_the_same(app_ctx):
    """A file with many rows per person in the database loads every key at once instead."""
    _mixed_database(app_ctx)
    job = _job(app_ctx, MIXED, policy="update_empty")
    decisions = []
    for crowd_size in (0, 40):
        # Unrelated records make the same file small for the database: it looks up its keys.
        for n in range(crowd_size):
            make_person(app_ctx, first_name="Fritz", last_name=f"Fremd{n}", phone=f"0391 6{n}")
        app_ctx.commit()
        savepoint = app_ctx.begin_nested()
        decisions.append(_decisions(importer.run_import(app_ctx, job, batch_rows=2)))
        savepoint.rollback()
    assert decisions[0] == decisions[1]
    assert [outcome for _line, outcome, _reasons in decisions[0]] == [
        "update",
        "skip",
        "create",
        "skip",
        "create",
        "create",
        "skip",
        "reject",
    ]


@pytest.fixture
def statements(app_ctx: Any) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements sent, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        seen.append((statement, parameters))

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


def _values(parameters: Any) -> list[Any]:
    if isinstance(parameters, dict):
        return list(parameters.values())
    return list(parameters or ())


def test_the_lookups_send_only_the_keys_the_file_contains(crowd, statements):
    _mixed_database(crowd)
    job = _job(crowd, MIXED, policy="update_empty")
    statements.clear()

    importer.run_import(crowd, job, dry_run=True)

    keys = {"j.mueller@example.org", "ida@neu.example", "Messe", "Neu"}
    keys |= {person_key(first, last) for first, last in MIXED_NAMES}
    keys |= {organisation_key(name) for name in ("Harz Holz GmbH", "Neue Firma KG", "Saale Stahl")}
    lookups = [
        (sql, _values(params))
        for sql, params in statements
        # The number of people (how large the database is for the file) is no lookup.
        if LOOKUP_TABLES.search(sql) and not sql.startswith("SELECT count(*)")
    ]
    assert lookups
    for sql, values in lookups:
        # Every lookup names what it looks for: no reading of whole tables …
        assert values, sql
        # … and it looks for the file's keys (or the ids of records they found), nothing else.
        assert {v for v in values if isinstance(v, str)} <= keys, sql


def test_a_person_found_by_e_mail_is_not_linked_twice_to_a_firm(crowd):
    org = make_org(crowd, name="Harz Holz GmbH", postcode="38820")
    person = make_person(crowd, first_name="Jörg", last_name="Müller", email="jm@example.org")
    service.add_affiliation(crowd, person, org)
    crowd.commit()
    job = _job(crowd, ["Harz Holz GmbH;38820;Georg;Miller;jm@example.org;;"], "update_empty")

    importer.run_import(crowd, job)

    crowd.expire_all()
    assert len(crowd.get(Person, person.id).affiliations) == 1


def test_the_garbage_collector_waits_during_a_run_and_runs_again_after_it(crowd, monkeypatch):
    seen: list[bool] = []
    real = importer.person_search_text

    def watching(person: Any, organisations: Any = ()) -> str:
        seen.append(gc.isenabled())
        return real(person, organisations)

    monkeypatch.setattr(importer, "person_search_text", watching)
    rows = [f"Neu GmbH;39104;Anna;Neu{n};neu{n}@example.org;;" for n in range(3)]

    importer.run_import(crowd, _job(crowd, rows), batch_rows=2)

    assert seen == [False, False, False]
    assert gc.isenabled()


def test_a_run_leaves_a_garbage_collector_switched_off_before_it_off(crowd):
    job = _job(crowd, ["Neu GmbH;39104;Anna;Neu;neu@example.org;;"])
    gc.disable()
    try:
        importer.run_import(crowd, job)
        assert not gc.isenabled()
    finally:
        gc.enable()
