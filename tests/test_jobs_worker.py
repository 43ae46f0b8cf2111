"""Imports as database jobs run by real worker processes (`flask crm worker`).

Two app instances with separate instance folders share one database, as two web nodes
would: an upload through one is followed through the other. Workers are separate processes,
killed with SIGKILL where the test is about a worker dying.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEntry
from crm.contacts import import_jobs, importer
from crm.contacts.import_models import ImportItem, ImportJob
from crm.contacts.models import Organisation, Person
from crm.extensions import db
from crm.jobs.models import BackgroundJob, JobFile
from tests import factories
from tests.conftest import CSRFClient, build_app, login
from tests.test_contacts_import import csv_bytes, upload

ROOT = Path(__file__).resolve().parent.parent
HEADER = "Firma;Vorname;Nachname;E-Mail"
MAPPING = {"col_0": "org_name", "col_1": "first_name", "col_2": "last_name", "col_3": "email",
           "policy": "skip", "sheet": ""}  # fmt: skip


def rows(n: int, prefix: str = "p") -> list[str]:
    return [
        f"Firma {prefix}{i // 4};Vorname{i};Nachname{i};{prefix}{i}@example.org" for i in range(n)
    ]


class Nodes:
    """Two web nodes (apps with their own instance folders) on one fresh database."""

    def __init__(self, url: str, tmp_path: Path) -> None:
        from flask_migrate import upgrade

        self.url = url
        self.tmp_path = tmp_path
        self.a = build_app(url, str(tmp_path / "node-a"))
        self.b = build_app(url, str(tmp_path / "node-b"))
        for application in (self.a, self.b):
            application.test_client_class = CSRFClient
        with self.a.app_context():
            upgrade()
            user = factories.make_user(db.session, role="staff")
            db.session.commit()
            self.email = user.email

    def client(self, application):
        client = application.test_client()
        assert login(client, self.email).status_code == 302
        return client

    def scalar(self, stmt):
        with self.b.app_context():
            try:
                return db.session.scalar(stmt)
            finally:
                db.session.remove()

    def count(self, model, *where) -> int:
        return self.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0

    def worker(self, *args: str, lease: int = 60) -> subprocess.Popen:
        """`flask crm worker ...` as a process of its own, with a third instance folder."""
        env = {
            **os.environ,
            "CRM_ENV": "development",
            "CRM_INSTANCE_PATH": str(self.tmp_path / "worker"),
            "DATABASE_URL": self.url,
            "CRM_JOB_LEASE_SECONDS": str(lease),
            "CRM_WORKER_POLL_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
        }
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "crm", "worker", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def close(self) -> None:
        for application in (self.a, self.b):
            with application.app_context():
                db.session.remove()
                db.engine.dispose()


@pytest.fixture
def nodes(make_database, tmp_path):
    two = Nodes(make_database(), tmp_path)
    yield two
    two.close()


def finish(proc: subprocess.Popen, timeout: float = 120) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out
    return out


def upload_and_run(client, name: str, data: bytes) -> tuple[str, int]:
    response = upload(client, name, data)
    assert response.status_code == 302, response.get_data(as_text=True)
    job_url = response.headers["Location"]
    assert client.post(job_url, data={**MAPPING, "run": "1"}).status_code == 302
    return job_url, int(job_url.rstrip("/").rsplit("/", 1)[1])


def enqueue_import(application, name: str, data: bytes) -> int:
    """Upload, map and queue a run through the services (as the pages do)."""
    from crm.audit.service import Actor

    with application.app_context():
        s = db.session
        job = importer.create_job(s, data=data, filename=name, user_id=None, max_bytes=10**8)
        s.commit()
        importer.claim_job(s, job)
        import_jobs.enqueue(s, job, dry_run=False, actor=Actor(None, "test"), locale="de")
        s.commit()
        job_id = job.id
        s.remove()
    return job_id


def wait_for(predicate, timeout: float = 60, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(step)


def test_an_import_uploaded_on_node_a_is_run_by_a_worker_process_and_followed_on_node_b(nodes):
    assert nodes.a.instance_path != nodes.b.instance_path
    a, b = nodes.client(nodes.a), nodes.client(nodes.b)
    job_url, job_id = upload_and_run(a, "gross.csv", csv_bytes(HEADER, rows(1500)))

    # Node B never saw the upload, yet shows the queued job with its polling progress bar.
    page = b.get(job_url).get_data(as_text=True)
    assert "<progress" in page
    assert "data-hx-trigger" in page
    assert "Wartet darauf, dass ein Hintergrundprozess den Auftrag übernimmt." in page
    assert nodes.count(Person) == 0  # the web request only queued it

    out = finish(nodes.worker("--once"))
    assert "1 jobs" in out

    status = b.get(f"{job_url}/status", headers={"HX-Request": "true"})
    assert status.headers.get("HX-Refresh") == "true"
    body = status.get_data(as_text=True)
    assert 'max="1500" value="1500"' in body
    assert "data-hx-trigger" not in body
    report = b.get(job_url).get_data(as_text=True)
    assert "Neu: <strong>1500</strong>" in report
    assert f"{job_url}/rueckgaengig" in report
    assert nodes.scalar(sa.select(ImportJob.status).where(ImportJob.id == job_id)) == "done"
    assert nodes.count(Person) == 1500
    background = nodes.scalar(sa.select(BackgroundJob))
    assert (background.status, background.attempts, background.progress_done) == ("done", 1, 1500)
    entry = nodes.scalar(sa.select(AuditEntry).where(AuditEntry.action == "import"))
    assert entry.actor_label == nodes.email
    # No node keeps the upload or the progress in its instance folder.
    for application in (nodes.a, nodes.b):
        assert not (Path(application.instance_path) / "imports").exists()
    assert nodes.count(JobFile) == 1


def test_two_worker_processes_share_the_queue_and_run_every_job_exactly_once(nodes):
    if not nodes.url.startswith("postgresql"):
        pytest.skip("several workers on one queue is the PostgreSQL layout (SKIP LOCKED)")
    jobs, per_job = 12, 400
    for n in range(jobs):
        enqueue_import(nodes.a, f"teil-{n}.csv", csv_bytes(HEADER, rows(per_job, f"j{n}-")))
    first, second = nodes.worker("--once"), nodes.worker("--once")
    outputs = [finish(first), finish(second)]

    ran = [int(out.strip().splitlines()[-1].split()[0]) for out in outputs]
    assert sum(ran) == jobs, outputs
    with nodes.b.app_context():
        background = db.session.scalars(sa.select(BackgroundJob)).all()
        assert {(j.status, j.attempts) for j in background} == {("done", 1)}
        assert len({j.claimed_by for j in background}) == 2, "both workers took jobs"
        statuses = db.session.scalars(sa.select(ImportJob.status)).all()
        assert statuses == ["done"] * jobs
        db.session.remove()
    assert nodes.count(Person) == jobs * per_job
    assert nodes.count(ImportItem, ImportItem.entity_type == "person") == jobs * per_job
    assert nodes.count(AuditEntry, AuditEntry.action == "import") == jobs


def test_a_worker_killed_mid_import_loses_its_lease_and_the_job_completes_exactly_once(nodes):
    total = 8000
    job_id = enqueue_import(nodes.a, "gross.csv", csv_bytes(HEADER, rows(total)))
    victim = nodes.worker("--once", lease=2)
    try:
        # Killed once at least one batch is committed: the import is half written.
        wait_for(lambda: nodes.count(ImportItem) > 0, timeout=120)
        os.kill(victim.pid, signal.SIGKILL)
    finally:
        victim.wait(timeout=30)
        victim.stdout.close()
    partial = nodes.count(Person)
    assert 0 < partial < total
    assert nodes.scalar(sa.select(BackgroundJob.status)) == "running"

    time.sleep(2.5)  # the lease runs out
    out = finish(nodes.worker("--once", lease=2))
    assert "1 jobs" in out
    background = nodes.scalar(sa.select(BackgroundJob))
    assert (background.status, background.attempts) == ("done", 2)
    assert nodes.scalar(sa.select(ImportJob.status).where(ImportJob.id == job_id)) == "done"
    # Every row once: the retry first removed what the killed attempt had committed.
    assert nodes.count(Person) == total
    assert nodes.scalar(sa.select(sa.func.count(sa.distinct(Person.email)))) == total
    assert nodes.count(ImportItem, ImportItem.entity_type == "person") == total
    assert nodes.count(AuditEntry, AuditEntry.action == "import") == 1
    # ... and its report counts every row as new, none as a duplicate of its own half-import.
    counts = nodes.scalar(sa.select(ImportJob.counts).where(ImportJob.id == job_id))
    assert (counts["create"], counts["skip"], counts["people"]) == (total, 0, total)


def test_web_writes_stay_fast_while_a_worker_process_imports_a_large_file(nodes):
    total = 8000
    enqueue_import(nodes.a, "gross.csv", csv_bytes(HEADER, rows(total)))
    b = nodes.client(nodes.b)
    worker = nodes.worker("--once")
    try:
        wait_for(lambda: nodes.scalar(sa.select(BackgroundJob.status)) == "running")
        durations = []
        n = 0
        while nodes.scalar(sa.select(BackgroundJob.status)) == "running" and n < 200:
            n += 1
            form = {
                "name": f"Nebenbei {n} GmbH",
                "kind": "employer",
                "size_class": "10-49",
                "postcode": "39104",
                "city": "Magdeburg",
                "owner_id": "0",
            }
            started = time.monotonic()
            response = b.post("/kontakte/organisationen/neu", data=form)
            durations.append(time.monotonic() - started)
            assert response.status_code == 302, response.get_data(as_text=True)
        finish(worker)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert len(durations) >= 3, "the import ended before the web could write"
    # The worker holds the write lock for one batch at a time, never for the whole file.
    assert max(durations) < 2.0, sorted(durations)[-5:]
    assert nodes.count(Person) == total
    assert nodes.count(Organisation, Organisation.name.like("Nebenbei %")) == len(durations)


def test_sigterm_lets_the_worker_finish_its_current_job_and_then_stop(nodes):
    total = 8000
    job_id = enqueue_import(nodes.a, "gross.csv", csv_bytes(HEADER, rows(total)))
    worker = nodes.worker()  # no --once: it would poll for more work forever
    try:
        wait_for(lambda: nodes.count(ImportItem) > 0, timeout=120)
        worker.send_signal(signal.SIGTERM)
        out = finish(worker, timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert "1 jobs" in out
    assert nodes.scalar(sa.select(ImportJob.status).where(ImportJob.id == job_id)) == "done"
    assert nodes.count(Person) == total
    background = nodes.scalar(sa.select(BackgroundJob))
    assert (background.status, background.attempts) == ("done", 1)


def test_the_scheduler_process_runs_queued_imports_without_a_separate_worker(nodes):
    job_id = enqueue_import(nodes.a, "klein.csv", csv_bytes(HEADER, rows(50)))
    env = {
        **os.environ,
        "CRM_ENV": "development",
        "CRM_INSTANCE_PATH": str(nodes.tmp_path / "scheduler"),
        "DATABASE_URL": nodes.url,
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "scheduled"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(
            lambda: (
                nodes.scalar(sa.select(ImportJob.status).where(ImportJob.id == job_id)) == "done"
            ),
            timeout=60,
            step=0.2,
        )
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert nodes.count(Person) == 50
