"""Several web nodes with separate instance folders on one PostgreSQL database, plus workers.

What the README's production layout promises: any node serves any request. An import
uploaded through node A is followed through node B; a campaign started from node B is
delivered by the worker(s) to the relay, each recipient exactly once.
"""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from tests import factories
from tests.fixtures.cluster import Browser, Cluster, wait_until
from tests.newsletter_sending_helpers import make_campaign, make_list, make_subscribers

pytestmark = pytest.mark.slow

IMPORT_ROWS = 300
RECIPIENTS = 40
IMPORT = "/kontakte/import/"


def seed(cluster: Cluster) -> tuple[str, int, list[str]]:
    """An admin, a list with confirmed subscribers and a draft campaign; returns the admin's
    e-mail, the campaign's id and the recipients' addresses."""
    from crm.extensions import db

    with cluster.app.app_context():
        admin = factories.make_user(db.session, role="admin")
        nl = make_list(db.session)
        people = make_subscribers(db.session, nl, RECIPIENTS)
        campaign = make_campaign(db.session, nl, name="Mehrknoten-Newsletter")
        db.session.commit()
        seeded = admin.email, campaign.id, [p.email for p in people]
        db.session.remove()
    return seeded


def import_csv() -> bytes:
    lines = ["Firma;Vorname;Nachname;E-Mail"]
    lines += [
        f"Firma {i // 3};Vorname{i};Nachname{i};imp{i}@example.org" for i in range(IMPORT_ROWS)
    ]
    return ("\n".join(lines) + "\n").encode()


def upload_and_start_import(browser: Browser, node_a: str, node_b: str) -> str:
    """Upload through node A, read the mapping through node B, start the run through node A;
    return the job's path. (Behind a proxy, each request may land on any node.)"""
    token = browser.csrf_token(f"{node_a}{IMPORT}")
    response = browser.http.post(
        f"{node_a}{IMPORT}",
        data={"csrf_token": token},
        files={"file": ("mehrknoten.csv", import_csv(), "text/csv")},
        allow_redirects=False,
        timeout=60,
    )
    assert response.status_code == 302, response.text
    job_path = urlsplit(response.headers["Location"]).path.rstrip("/")
    form = browser.form_values(f"{node_b}{job_path}", job_path)
    assert form.get("col_3") == "email", form  # node B read the upload's columns
    form.update(policy="skip", run="1")
    form.pop("dry_run", None)
    response = browser.post(f"{node_a}{job_path}", form)
    assert response.status_code == 302, response.text
    return job_path


def follow_import(browser: Browser, node_b: str, job_path: str, cluster: Cluster) -> str:
    """Poll the progress through node B (as htmx does) until it reports the end; the job page."""

    def finished() -> bool:
        response = browser.get(f"{node_b}{job_path}/status", headers={"HX-Request": "true"})
        assert response.status_code == 200, response.text
        return response.headers.get("HX-Refresh") == "true"

    wait_until(finished, 40, f"the import's end, seen through node B\n{cluster.logs()}")
    page = browser.get(f"{node_b}{job_path}")
    assert page.status_code == 200
    return page.text


def start_campaign_and_wait(
    browser: Browser, node_b: str, campaign_id: int, recipients: list[str], cluster: Cluster, smtp
) -> None:
    detail = f"{node_b}/newsletter/aussendungen/{campaign_id}"
    response = browser.post(f"{detail}/starten", {}, token_from=detail)
    assert response.status_code == 302, response.text
    wait_until(
        lambda: len(smtp.messages) >= len(recipients),
        40,
        f"{len(recipients)} messages at the relay (got {len(smtp.messages)})\n{cluster.logs()}",
    )
    from crm.extensions import db
    from crm.newsletters.models import Campaign

    def sent() -> bool:
        with cluster.app.app_context():
            status = db.session.scalar(sa.select(Campaign.status).where(Campaign.id == campaign_id))
            db.session.remove()
        return status == "sent"

    wait_until(sent, 20, "the campaign to be marked sent")
    received = Counter(rcpt for m in smtp.messages for rcpt in m.rcpt_tos)
    assert received == Counter(recipients)  # every recipient exactly once


def imported_people(cluster: Cluster) -> int:
    from crm.contacts.models import Person
    from crm.extensions import db

    with cluster.app.app_context():
        n = db.session.scalar(
            sa.select(sa.func.count(Person.id)).where(Person.email.like("imp%@example.org"))
        )
        db.session.remove()
    return n or 0


def import_job_runner(cluster: Cluster, job_path: str) -> tuple[str, int]:
    """Who ran the import's background job (claimed_by) and in how many attempts."""
    from crm.extensions import db
    from crm.jobs.models import BackgroundJob

    import_id = int(job_path.rsplit("/", 1)[1])
    with cluster.app.app_context():
        job = db.session.scalar(
            sa.select(BackgroundJob).where(
                BackgroundJob.subject_type == "import_job", BackgroundJob.subject_id == import_id
            )
        )
        assert job is not None
        assert job.status == "done", job.error
        runner = job.claimed_by, job.attempts
        db.session.remove()
    return runner


def run_scenario(cluster: Cluster, smtp, workers: int) -> None:
    # A run of this size goes to the background, where node B must still see its progress.
    cluster.extra_env["CRM_IMPORT_BACKGROUND_ROWS"] = str(IMPORT_ROWS // 3)
    admin, campaign_id, recipients = seed(cluster)
    # Started together, then waited for: each process imports the app at the same time.
    web_a = cluster.start_web("web-a", wait=False)
    web_b = cluster.start_web("web-b", wait=False)
    if workers == 0:  # the default layout: the scheduler process runs the worker too
        runners = [cluster.start_scheduler("scheduler")]
    else:
        cluster.start_scheduler("scheduler", runs_worker=False)
        runners = [cluster.start_worker(f"worker-{n}") for n in range(workers)]
    cluster.wait_healthy(web_a, web_b)
    node_a, node_b = web_a.url, web_b.url
    browser = Browser()
    browser.login(web_a, admin, factories.PASSWORD)

    job_path = upload_and_start_import(browser, node_a, node_b)
    page = follow_import(browser, node_b, job_path, cluster)
    assert imported_people(cluster) == IMPORT_ROWS, cluster.logs()
    assert f"{job_path}/rueckgaengig" in page  # node B shows the finished run's undo form
    claimed_by, attempts = import_job_runner(cluster, job_path)
    assert int(claimed_by.split(":")[1]) in {r.proc.pid for r in runners}, claimed_by
    assert attempts == 1

    start_campaign_and_wait(browser, node_b, campaign_id, recipients, cluster, smtp)
    assert "Traceback" not in cluster.logs(), cluster.logs()


def test_two_web_nodes_and_one_worker_share_imports_and_campaigns(cluster, smtp_server):
    """The worker is the scheduler process's own (the default)."""
    run_scenario(cluster, smtp_server, workers=0)


def test_two_web_nodes_and_two_workers_share_imports_and_campaigns(cluster, smtp_server):
    """Two `flask crm worker` processes; the scheduler runs no worker of its own."""
    run_scenario(cluster, smtp_server, workers=2)
