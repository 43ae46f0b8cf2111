"""`flask crm ...` commands."""

from __future__ import annotations

import getpass
import sys
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from crm.config import served_base_url
from crm.extensions import db

crm_cli = AppGroup("crm", help="netzwerk-crm commands.")


@crm_cli.command("create-office")
@click.argument("name")
@click.option("--street", default="", help="Street and number.")
@click.option("--postcode", default="", help="Postcode.")
@click.option("--city", default="", help="City.")
@click.option(
    "--address",
    default=None,
    help='Whole address in one: "Street 1, 39104 City" (instead of --street/--postcode/--city).',
)
@click.option("--weekly-entries", type=float, default=1.0, show_default=True)
@click.option("--weekly-exits", type=float, default=1.0, show_default=True)
def create_office_command(
    name: str,
    street: str,
    postcode: str,
    city: str,
    address: str | None,
    weekly_entries: float,
    weekly_exits: float,
) -> None:
    """Create a branch office (Geschäftsstelle) NAME with its weekly targets."""
    from crm.audit.service import Actor, acting_as
    from crm.offices.service import OfficeError, create_office

    if address:
        street, postcode, city = _split_address(address)
    try:
        with acting_as(Actor(None, "cli")):
            office = create_office(
                db.session,
                name,
                street=street,
                postcode=postcode,
                city=city,
                weekly_entries=weekly_entries,
                weekly_exits=weekly_exits,
            )
            db.session.commit()
    except OfficeError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Geschäftsstelle {office.name!r} angelegt (Nr. {office.id}).")


def _split_address(address: str) -> tuple[str, str, str]:
    """ "Breiter Weg 1, 39104 Magdeburg" → (street, postcode, city); a part may be missing."""
    street, _sep, place = address.rpartition(",")
    if not _sep:
        street, place = "", address
    postcode, _sep, city = place.strip().partition(" ")
    if not postcode[:1].isdigit():
        postcode, city = "", place.strip()
    return street.strip(), postcode.strip(), city.strip()


@crm_cli.command("create-user")
@click.option("--email", required=True)
@click.option("--name", "display_name", required=True)
@click.option(
    "--role",
    type=click.Choice(["admin", "lead", "counsellor", "staff", "readonly"]),
    required=True,
)
@click.option(
    "--office",
    "offices",
    multiple=True,
    help="Name of a branch office; repeat for several (the first is the home office).",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user_command(
    email: str, display_name: str, role: str, offices: tuple[str, ...], password_stdin: bool
) -> None:
    """Create a user (asks for the password unless --password-stdin)."""
    from crm.accounts.passwords import PasswordPolicyError
    from crm.accounts.service import AccountError, create_user
    from crm.audit.service import Actor, acting_as
    from crm.offices.service import office_by_name, office_names

    found = []
    for name in offices:
        office = office_by_name(db.session, name)
        if office is None:
            known = ", ".join(office_names(db.session)) or "keine / none"
            raise click.ClickException(
                f"Geschäftsstelle {name!r} nicht gefunden / branch office not found. "
                f"Vorhanden / existing: {known}. "
                "Anlegen / create: flask --app wsgi crm create-office NAME"
            )
        found.append(office)
    password = sys.stdin.readline().rstrip("\n") if password_stdin else getpass.getpass()
    try:
        with acting_as(Actor(None, "cli")):
            user = create_user(
                db.session,
                email=email,
                display_name=display_name,
                password=password,
                role=role,
                office=found[0] if found else None,
                other_offices=found[1:],
            )
            db.session.commit()
    except (AccountError, PasswordPolicyError) as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Benutzer {user.email} ({user.role}) angelegt.")


@crm_cli.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing if users exist already.")
@click.option("--host", default="127.0.0.1", help="Where `crm serve` will listen (for links).")
@click.option("--port", default=None, type=int, help="Where `crm serve` will listen (for links).")
def seed_demo_command(if_empty: bool, host: str, port: int | None) -> None:
    """Load German demo data (development only).

    The demo sends its reminders and invitations at once, so their links must already point
    where `make run` will serve (PORT=5001 make run): --host/--port as given to `crm serve`.
    """
    from crm import demo

    if port is not None:
        use_served_address(current_app, host, port)
    if current_app.config["CRM_ENV"] == "production":
        raise click.ClickException("Demo data is not loaded in production (CRM_ENV=production).")
    if not demo.is_empty(db.session):
        if if_empty:
            click.echo("Datenbank enthält schon Daten; keine Demodaten geladen.")
            return
        raise click.ClickException("The database is not empty.")
    counts = demo.seed(db.session)
    db.session.commit()
    click.echo("Demodaten geladen: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


def use_served_address(app: Flask, host: str, port: int) -> None:
    """Without CRM_BASE_URL, links in e-mails point where this server runs (PORT=5001 → :5001).

    The embedded scheduler shares the app, so reminders and digests it queues get the same
    address; a separately started worker or scheduler still needs CRM_BASE_URL.
    """
    if not app.config.get("CRM_BASE_URL_CONFIGURED"):
        app.config["CRM_BASE_URL"] = served_base_url(host, port)


def login_hints(app: Flask) -> list[str]:
    """What the start banner says about logging in, from the accounts that really exist.

    The demo logins are listed only where seed-demo created them: on an empty install they
    would send a new office to accounts that do not exist, while what it needs is the command
    that creates its first admin.
    """
    import sqlalchemy as sa
    from sqlalchemy.exc import SQLAlchemyError

    from crm.accounts.models import User
    from crm.demo import DEMO_PASSWORD, DEMO_USERS

    demo_emails = [email for email, _name, _role, _office in DEMO_USERS]
    try:
        with app.app_context():
            has_users = db.session.scalar(sa.select(sa.exists().select_from(User))) or False
            present = set(
                db.session.scalars(sa.select(User.email).where(User.email.in_(demo_emails)))
            )
    except SQLAlchemyError:
        # An unmigrated database: the app itself answers with the `db upgrade` hint.
        return []
    if not has_users:
        return [
            "  Noch kein Benutzerkonto. Die erste Administration anlegen mit:",
            "    flask --app wsgi crm create-user --email … --name … --role admin",
        ]
    lines = []
    demo_users = [row for row in DEMO_USERS if row[0] in present]
    if demo_users:
        lines.append("  Demo-Anmeldungen (Passwort für alle: " + DEMO_PASSWORD + "):")
        for email, _name, role, office in demo_users:
            lines.append(f"    {role:<11} {email}  ({office})")
    return lines


@crm_cli.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option("--reload/--no-reload", default=True)
def serve_command(host: str, port: int, reload: bool) -> None:
    """Development server with the scheduler embedded exactly once."""
    from werkzeug.serving import is_running_from_reloader, run_simple

    from crm.jobs.scheduler import start_embedded

    app = _real_app()
    use_served_address(app, host, port)
    # With the reloader, the parent process only watches files: the scheduler belongs to the
    # child that serves requests, and a reload starts a fresh child (and scheduler).
    if not reload or is_running_from_reloader():
        start_embedded(app)
    if not is_running_from_reloader():
        click.echo("")
        click.echo(f"  netzwerk-crm läuft auf  http://{host}:{port}/")
        click.echo(f"  Links in E-Mails:       {app.config['CRM_BASE_URL']}/")
        click.echo(f"  Postausgang (E-Mails):  {app.config['CRM_MAIL_OUTBOX_DIR']}")
        for line in login_hints(app):
            click.echo(line)
        click.echo("")
    run_simple(host, port, app, use_reloader=reload, use_debugger=False, threaded=True)


@crm_cli.command("scheduler")
def scheduler_command() -> None:
    """Run the scheduler process in the foreground (same as `python -m scheduled`)."""
    from crm.jobs.scheduler import run_forever

    run_forever(_real_app())


@crm_cli.command("worker")
@click.option("--once", is_flag=True, help="Run the queued jobs, then exit.")
@click.option("--max-jobs", type=int, default=None, help="Exit after N jobs.")
def worker_command(once: bool, max_jobs: int | None) -> None:
    """Run queued background jobs (imports) until stopped; SIGTERM finishes the current job."""
    import signal

    from crm.jobs.worker import Worker

    worker = Worker(_real_app())
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    click.echo(f"{worker.run(once=once, max_jobs=max_jobs)} jobs")


@crm_cli.command("run-jobs")
@click.option("--once", is_flag=True, required=True, help="Run due work now and exit.")
def run_jobs_command(once: bool) -> None:
    """Run every scheduled job once, now."""
    from crm.jobs.periodic import run_all_once

    for job_id, result in run_all_once(_real_app()).items():
        click.echo(f"{job_id}: {result}")


@crm_cli.command("send-outbox")
@click.option(
    "--max-messages", "--max", "max_messages", type=int, default=None, help="Stop after N messages."
)
@click.option(
    "--connections",
    type=click.IntRange(min=1, max=64),
    default=None,
    help="SMTP connections (default CRM_NEWSLETTER_CONNECTIONS).",
)
def send_outbox_command(max_messages: int | None, connections: int | None) -> None:
    """Deliver the due mail (outbox and campaigns), then exit; non-zero if stopped on errors."""
    from crm.mail.sender import run_outbox

    report = run_outbox(_real_app(), max_messages=max_messages, connections=connections)
    click.echo(str(report))
    if report.error:
        raise SystemExit(1)


@crm_cli.command("check-schema")
def check_schema_command() -> None:
    """Exit 1 if the database is not at the newest migration."""
    from crm.schema import UPGRADE_COMMAND, schema_is_current

    if not schema_is_current():
        raise click.ClickException(f"Schema veraltet. Bitte ausführen: {UPGRADE_COMMAND}")
    click.echo("Schema aktuell.")


@crm_cli.command("access-report")
@click.argument("query", required=False, default="")
@click.option("--record", "records", multiple=True, help="person:12 or participant:3 (repeat).")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON (Art. 20) instead of text.")
def access_report_command(query: str, records: tuple[str, ...], as_json: bool) -> None:
    """Art. 15: list the records matching QUERY, or print the report of the --record(s)."""
    import json

    from flask_babel import force_locale

    from crm.audit.service import Actor, acting_as, record
    from crm.privacy import access

    with force_locale("de"):
        if not records:
            for c in access.find_candidates(db.session, query):
                click.echo(
                    f"{c.group:>3}  {c.ref!s:<20} {c.kind_label:<16} {c.name}  {' '.join(c.emails)}"
                )
            return
        refs = [access.RecordRef.parse(r) for r in records]
        if None in refs:
            raise click.ClickException("--record must look like person:12 or participant:3.")
        report = access.build_report(
            db.session, [r for r in refs if r is not None], config=current_app.config
        )
        if not report.records:
            raise click.ClickException("Keiner der Datensätze existiert.")
        with acting_as(Actor(None, "cli")):
            for ref in report.records:
                record(
                    db.session,
                    "access_export",
                    entity_type=ref.kind,
                    entity_id=ref.id,
                    summary=f"Art. 15 ({'JSON' if as_json else 'Text'}, CLI)",
                )
        db.session.commit()
        if as_json:
            click.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
        else:
            click.echo(access.as_text(report), nl=False)


@crm_cli.command("reapply-erasures")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Only erasures logged on or after this day (UTC), e.g. the backup's date.",
)
def reapply_erasures_command(since: Any) -> None:
    """After restoring a backup: erase again every person the erasure log names."""
    from datetime import UTC
    from pathlib import Path

    from crm.audit.service import Actor, acting_as
    from crm.privacy import erasure
    from crm.privacy.service import reapply_erasures

    directories = {"outbox": Path(current_app.config["CRM_MAIL_OUTBOX_DIR"])}
    with acting_as(Actor(None, "cli")):
        results = reapply_erasures(
            db.session,
            since=since.replace(tzinfo=UTC) if since else None,
            directories=directories,
        )
        db.session.commit()
    erasure.finish_erasure(db.engine)
    again = sum(1 for _rec, done in results if done)
    click.echo(f"{len(results)} Löschprotokolle geprüft, {again} Löschungen erneut ausgeführt.")


def _real_app() -> Flask:
    """The application behind `current_app`, for code that outlives the app context."""
    # Flask types current_app as Flask itself, so the proxy's method is unknown to mypy.
    return current_app._get_current_object()  # type: ignore[attr-defined]
