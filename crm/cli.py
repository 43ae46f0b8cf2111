"""`flask crm ...` commands."""

from __future__ import annotations

import getpass
import sys
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from crm.extensions import db

crm_cli = AppGroup("crm", help="netzwerk-crm commands.")


@crm_cli.command("create-user")
@click.option("--email", required=True)
@click.option("--name", "display_name", required=True)
@click.option(
    "--role",
    type=click.Choice(["admin", "lead", "counsellor", "staff", "readonly"]),
    required=True,
)
@click.option("--office", default=None, help="Name of the branch office.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user_command(
    email: str, display_name: str, role: str, office: str | None, password_stdin: bool
) -> None:
    """Create a user (asks for the password unless --password-stdin)."""
    import sqlalchemy as sa

    from crm.accounts.models import Office
    from crm.accounts.passwords import PasswordPolicyError
    from crm.accounts.service import AccountError, create_user
    from crm.audit.service import Actor, acting_as

    password = sys.stdin.readline().rstrip("\n") if password_stdin else getpass.getpass()
    office_obj = None
    if office:
        office_obj = db.session.scalar(sa.select(Office).where(Office.name == office))
        if office_obj is None:
            raise click.ClickException(f"Geschäftsstelle {office!r} nicht gefunden.")
    try:
        with acting_as(Actor(None, "cli")):
            user = create_user(
                db.session,
                email=email,
                display_name=display_name,
                password=password,
                role=role,
                office=office_obj,
            )
            db.session.commit()
    except (AccountError, PasswordPolicyError) as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Benutzer {user.email} ({user.role}) angelegt.")


@crm_cli.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing if users exist already.")
def seed_demo_command(if_empty: bool) -> None:
    """Load German demo data (development only)."""
    from crm import demo

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


@crm_cli.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option("--reload/--no-reload", default=True)
def serve_command(host: str, port: int, reload: bool) -> None:
    """Development server with the scheduler embedded exactly once."""
    from werkzeug.serving import is_running_from_reloader, run_simple

    from crm.demo import DEMO_PASSWORD, DEMO_USERS
    from scheduled.runner import start_embedded

    app = current_app._get_current_object()
    # With the reloader, the parent process only watches files: the scheduler belongs to the
    # child that serves requests, and a reload starts a fresh child (and scheduler).
    if not reload or is_running_from_reloader():
        start_embedded(app)
    if not is_running_from_reloader():
        click.echo("")
        click.echo(f"  netzwerk-crm läuft auf  http://{host}:{port}/")
        click.echo(f"  Postausgang (E-Mails):  {app.config['CRM_MAIL_OUTBOX_DIR']}")
        click.echo("  Demo-Anmeldungen (Passwort für alle: " + DEMO_PASSWORD + "):")
        for email, _name, role, office in DEMO_USERS:
            click.echo(f"    {role:<11} {email}  ({office})")
        click.echo("")
    run_simple(host, port, app, use_reloader=reload, use_debugger=False, threaded=True)


@crm_cli.command("scheduler")
def scheduler_command() -> None:
    """Run the scheduler process in the foreground (same as `python -m scheduled`)."""
    from scheduled.runner import run_forever

    run_forever(current_app._get_current_object())


@crm_cli.command("run-jobs")
@click.option("--once", is_flag=True, required=True, help="Run due work now and exit.")
def run_jobs_command(once: bool) -> None:
    """Run every scheduled job once, now."""
    from scheduled.jobs import run_all_once

    for job_id, result in run_all_once(current_app._get_current_object()).items():
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

    report = run_outbox(
        current_app._get_current_object(), max_messages=max_messages, connections=connections
    )
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
    from crm.contacts.importer import storage_dir
    from crm.privacy import erasure
    from crm.privacy.service import reapply_erasures

    directories = {
        "outbox": Path(current_app.config["CRM_MAIL_OUTBOX_DIR"]),
        "imports": storage_dir(current_app),
    }
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
