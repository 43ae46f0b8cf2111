"""Settings from the environment (a `.env` file is loaded first by python-dotenv)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

ENVIRONMENTS = ("development", "testing", "production")
# The value shipped in .env.example; starting outside development with it is refused.
PLACEHOLDER_SECRET = "change-me"  # noqa: S105 - the value refused below, not a secret


# Where links in e-mails point when CRM_BASE_URL is not set and no server said where it runs.
DEFAULT_BASE_URL = "http://127.0.0.1:5000"


class ConfigError(RuntimeError):
    """The configuration cannot run the application safely."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on", "ja"}


def _str(name: str, default: str) -> str:
    # An empty value (as `.env.example` ships them) means "use the default".
    return os.environ.get(name) or default


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


SECRET_FILE = "secret_key"  # noqa: S105 - a file name, not a secret


def _instance_secret(instance: Path) -> str:
    """The development key kept in the instance folder, made once (readable by its owner only)."""
    path = instance / SECRET_FILE
    try:
        existing = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        existing = ""
    if len(existing) >= 64:
        return existing
    instance.mkdir(parents=True, exist_ok=True)
    # Written to a private temporary file and linked into place: two processes starting at
    # once (the server and `crm seed-demo`) end up with the same key, never a half-written one.
    tmp = instance / f".{SECRET_FILE}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(os.urandom(32).hex() + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text(encoding="ascii").strip()


def load_config(instance_path: str) -> dict[str, Any]:
    """Build the Flask config from environment variables."""
    load_dotenv(override=False)
    env = _str("CRM_ENV", "production").strip().lower()
    if env not in ENVIRONMENTS:
        raise ConfigError(f"CRM_ENV must be one of {', '.join(ENVIRONMENTS)}, got {env!r}")
    development = env == "development"
    instance = Path(instance_path)

    secret = os.environ.get("SECRET_KEY", "")
    if not secret or secret == PLACEHOLDER_SECRET:
        if env == "production":
            raise ConfigError(
                "SECRET_KEY is not set. Generate one with "
                "`python -c 'import secrets; print(secrets.token_hex(32))'` and put it in the "
                "environment or .env (see .env.example)."
            )
        # Development keeps one random key per instance folder, so every process of `make run`
        # (demo seeding, the server and its reloaded children, CLI sends) signs alike and the
        # links in mails already in the outbox keep working after a restart. Tests get a
        # per-process key. Either way no guessable key is in the repository.
        secret = _instance_secret(instance) if development else os.urandom(32).hex()

    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'crm.sqlite3'}"
    # psycopg 3 is the PostgreSQL driver; accept the common URL spellings.
    for prefix in ("postgres://", "postgresql://"):
        if database_url.startswith(prefix):
            database_url = "postgresql+psycopg://" + database_url[len(prefix) :]

    secure_cookies = _bool(os.environ.get("CRM_SECURE_COOKIES"), default=not development)
    return {
        "CRM_ENV": env,
        "DEBUG": development,
        "TESTING": env == "testing",
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # Sessions and cookies
        "SESSION_COOKIE_NAME": "__Host-crm_session" if secure_cookies else "crm_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure_cookies,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": secure_cookies,
        "CRM_SESSION_IDLE_MINUTES": _int("CRM_SESSION_IDLE_MINUTES", 480),
        "CRM_SESSION_MAX_HOURS": _int("CRM_SESSION_MAX_HOURS", 12),
        "CRM_HSTS": _bool(os.environ.get("CRM_HSTS"), default=secure_cookies),
        # Login throttling (counted in the database so every worker sees the same numbers)
        "CRM_LOGIN_WINDOW_MINUTES": _int("CRM_LOGIN_WINDOW_MINUTES", 15),
        "CRM_LOGIN_MAX_FAILURES_ACCOUNT": _int("CRM_LOGIN_MAX_FAILURES_ACCOUNT", 5),
        "CRM_LOGIN_MAX_FAILURES_IP": _int("CRM_LOGIN_MAX_FAILURES_IP", 20),
        # Uploads
        "MAX_CONTENT_LENGTH": _int("CRM_MAX_UPLOAD_MB", 50) * 1024 * 1024 + 64 * 1024,
        "CRM_MAX_UPLOAD_MB": _int("CRM_MAX_UPLOAD_MB", 50),
        # CSRF tokens live as long as the session
        "WTF_CSRF_TIME_LIMIT": None,
        # Language and time
        "BABEL_DEFAULT_LOCALE": "de",
        "BABEL_DEFAULT_TIMEZONE": "Europe/Berlin",
        "CRM_LANGUAGES": ("de", "en"),
        # Mail
        "CRM_MAIL_TRANSPORT": _str("CRM_MAIL_TRANSPORT", "file"),
        "CRM_MAIL_OUTBOX_DIR": _str("CRM_MAIL_OUTBOX_DIR", str(instance / "outbox")),
        "CRM_MAIL_FROM": _str("CRM_MAIL_FROM", "netzwerk-crm <crm@localhost>"),
        "CRM_MAIL_REPLY_TO": _str("CRM_MAIL_REPLY_TO", ""),
        "CRM_SMTP_HOST": _str("CRM_SMTP_HOST", "localhost"),
        "CRM_SMTP_PORT": _int("CRM_SMTP_PORT", 587),
        "CRM_SMTP_SECURITY": _str("CRM_SMTP_SECURITY", "starttls"),
        "CRM_SMTP_USERNAME": _str("CRM_SMTP_USERNAME", ""),
        "CRM_SMTP_PASSWORD": _str("CRM_SMTP_PASSWORD", ""),
        "CRM_SMTP_TIMEOUT": _int("CRM_SMTP_TIMEOUT", 30),
        # The relay takes SMTPUTF8 (addresses like jörg@…): forms then accept them.
        "CRM_SMTPUTF8": _bool(os.environ.get("CRM_SMTPUTF8"), default=False),
        "CRM_BASE_URL": _str("CRM_BASE_URL", DEFAULT_BASE_URL),
        # False: `flask crm serve` replaces the default with the host and port it serves on.
        "CRM_BASE_URL_CONFIGURED": bool(os.environ.get("CRM_BASE_URL", "").strip()),
        # Mail outbox (Administration → Mail outbox): the text of sent messages is dropped
        # after TEXT_DAYS, finished rows deleted after KEEP_DAYS (admins can change both under
        # retention periods).
        "CRM_MAIL_OUTBOX_TEXT_DAYS": _int("CRM_MAIL_OUTBOX_TEXT_DAYS", 14),
        "CRM_MAIL_OUTBOX_KEEP_DAYS": _int("CRM_MAIL_OUTBOX_KEEP_DAYS", 90),
        # Funder reports: the project's term (ISO dates, both or neither) is one of the period
        # presets, unless an admin stored one (crm.dashboard.term); export cells counting
        # fewer people than MIN_CELL are shown as "< MIN_CELL"
        # (funder report, ESF Plus indicators; the ESF disability row always at least 3).
        "CRM_PROJECT_START": _str("CRM_PROJECT_START", ""),
        "CRM_PROJECT_END": _str("CRM_PROJECT_END", ""),
        "CRM_REPORT_MIN_CELL": _int("CRM_REPORT_MIN_CELL", 3),
        # ESF Plus short survey: its personal link takes answers this many days after sending.
        "CRM_ESF_LINK_VALID_DAYS": _int("CRM_ESF_LINK_VALID_DAYS", 60),
        "CRM_SCHEMA_CHECK": _bool(os.environ.get("CRM_SCHEMA_CHECK"), True),
        # Imports: uploaded files (stored in the database) are kept N days.
        "CRM_IMPORT_KEEP_DAYS": _int("CRM_IMPORT_KEEP_DAYS", 30),
        # Workers: a job whose worker has not renewed its lease for this long is taken over;
        # an idle worker looks for work this often; the scheduler process runs a worker.
        "CRM_JOB_LEASE_SECONDS": _int("CRM_JOB_LEASE_SECONDS", 60),
        "CRM_WORKER_POLL_SECONDS": _int("CRM_WORKER_POLL_SECONDS", 1),
        "CRM_SCHEDULER_RUNS_WORKER": _bool(os.environ.get("CRM_SCHEDULER_RUNS_WORKER"), True),
        # Imports: what a file may hold (checked while it is read; a file beyond is refused).
        "CRM_IMPORT_MAX_ROWS": _int("CRM_IMPORT_MAX_ROWS", 200_000),
        "CRM_IMPORT_MAX_COLUMNS": _int("CRM_IMPORT_MAX_COLUMNS", 200),
        "CRM_IMPORT_MAX_CELL_CHARS": _int("CRM_IMPORT_MAX_CELL_CHARS", 10_000),
        "CRM_IMPORT_MAX_UNPACKED_MB": _int("CRM_IMPORT_MAX_UNPACKED_MB", 100),
        "CRM_IMPORT_MAX_RATIO": _int("CRM_IMPORT_MAX_RATIO", 100),
        # Seconds between the scheduler's every-minute ticks (tests shorten it).
        "CRM_SCHEDULER_TICK_SECONDS": _int("CRM_SCHEDULER_TICK_SECONDS", 60),
        # Scheduler leadership (crm/jobs/leadership.py): the leader renews its lease every RENEW
        # seconds; a frozen leader is replaced LEASE + RENEW seconds after its last renewal; a
        # job starts only while the lease has MARGIN seconds left. Need RENEW + MARGIN < LEASE.
        "CRM_SCHEDULER_LEASE_SECONDS": _int("CRM_SCHEDULER_LEASE_SECONDS", 40),
        "CRM_SCHEDULER_RENEW_SECONDS": _int("CRM_SCHEDULER_RENEW_SECONDS", 10),
        "CRM_SCHEDULER_LEASE_MARGIN_SECONDS": _int("CRM_SCHEDULER_LEASE_MARGIN_SECONDS", 10),
        # How often the sender looks for due mail (a confirmation goes out within this).
        "CRM_OUTBOX_POLL_SECONDS": _int("CRM_OUTBOX_POLL_SECONDS", 10),
        # How many days ahead the occurrences of event series are created.
        "CRM_SERIES_HORIZON_DAYS": _int("CRM_SERIES_HORIZON_DAYS", 180),
        # Number of reverse proxies in front of the app whose X-Forwarded-* headers to trust.
        "CRM_PROXY_FIX": _int("CRM_PROXY_FIX", 0),
        # Newsletters: sender (empty = CRM_MAIL_FROM / CRM_MAIL_REPLY_TO), an optional mailbox
        # for mailto: unsubscribes, validity of double opt-in links, sign-ups per IP and window.
        "CRM_NEWSLETTER_FROM": _str("CRM_NEWSLETTER_FROM", ""),
        "CRM_NEWSLETTER_REPLY_TO": _str("CRM_NEWSLETTER_REPLY_TO", ""),
        "CRM_NEWSLETTER_UNSUBSCRIBE_MAILTO": _str("CRM_NEWSLETTER_UNSUBSCRIBE_MAILTO", ""),
        "CRM_NEWSLETTER_CONFIRM_HOURS": _int("CRM_NEWSLETTER_CONFIRM_HOURS", 48),
        "CRM_NEWSLETTER_SIGNUP_MAX_PER_IP": _int("CRM_NEWSLETTER_SIGNUP_MAX_PER_IP", 5),
        "CRM_NEWSLETTER_SIGNUP_WINDOW_MINUTES": _int("CRM_NEWSLETTER_SIGNUP_WINDOW_MINUTES", 60),
        # Inquiries (crm.intake): sites that may frame the public form (space-separated CSP
        # sources such as https://www.example.org), the per-address limit of the form, and
        # the first-response deadline in working days (Monday to Friday).
        "CRM_INTAKE_FRAME_ANCESTORS": _str("CRM_INTAKE_FRAME_ANCESTORS", "'self'"),
        "CRM_INTAKE_MAX_PER_IP": _int("CRM_INTAKE_MAX_PER_IP", 5),
        "CRM_INTAKE_WINDOW_MINUTES": _int("CRM_INTAKE_WINDOW_MINUTES", 60),
        "CRM_INTAKE_RESPONSE_DAYS": _int("CRM_INTAKE_RESPONSE_DAYS", 2),
        # Targets board: default weekly targets when no year has its own (Auswertung).
        "CRM_TARGET_ENTRIES_PER_WEEK": _int("CRM_TARGET_ENTRIES_PER_WEEK", 1),
        "CRM_TARGET_EXITS_PER_WEEK": _int("CRM_TARGET_EXITS_PER_WEEK", 1),
        # Case work: a planned transfer's follow-up falls due this many days before it.
        "CRM_TRANSFER_LEAD_DAYS": _int("CRM_TRANSFER_LEAD_DAYS", 14),
        # Placements: an internship's follow-up falls due this many days before its end.
        "CRM_INTERNSHIP_LEAD_DAYS": _int("CRM_INTERNSHIP_LEAD_DAYS", 7),
        # DSGVO: participants are due for erasure this many years after their exit.
        "CRM_RETENTION_YEARS_AFTER_EXIT": _int("CRM_RETENTION_YEARS_AFTER_EXIT", 5),
        # The mail sender (crm/mail/sender.py): messages per second over all connections
        # (0 = no limit), rows claimed per batch, SMTP connections in parallel, seconds
        # without an accepted message before a campaign pauses, lease of a claimed row (a dead
        # sender's rows are retried after it), attempts before a row fails, row back-off base,
        # permanent refusals in a row that pause a campaign, connection back-off (base, cap).
        "CRM_NEWSLETTER_RATE": float(os.environ.get("CRM_NEWSLETTER_RATE") or 0),
        "CRM_NEWSLETTER_BATCH": _int("CRM_NEWSLETTER_BATCH", 100),
        "CRM_NEWSLETTER_CONNECTIONS": _int("CRM_NEWSLETTER_CONNECTIONS", 2),
        "CRM_NEWSLETTER_PAUSE_AFTER_SECONDS": _int("CRM_NEWSLETTER_PAUSE_AFTER_SECONDS", 600),
        "CRM_NEWSLETTER_LEASE_SECONDS": _int("CRM_NEWSLETTER_LEASE_SECONDS", 300),
        "CRM_NEWSLETTER_MAX_ATTEMPTS": _int("CRM_NEWSLETTER_MAX_ATTEMPTS", 8),
        "CRM_NEWSLETTER_BACKOFF_SECONDS": _int("CRM_NEWSLETTER_BACKOFF_SECONDS", 60),
        "CRM_NEWSLETTER_MAX_CONSECUTIVE_ERRORS": _int("CRM_NEWSLETTER_MAX_CONSECUTIVE_ERRORS", 10),
        "CRM_NEWSLETTER_CONNECTION_BACKOFF_SECONDS": float(
            os.environ.get("CRM_NEWSLETTER_CONNECTION_BACKOFF_SECONDS") or 0.5
        ),
        "CRM_NEWSLETTER_CONNECTION_BACKOFF_MAX_SECONDS": float(
            os.environ.get("CRM_NEWSLETTER_CONNECTION_BACKOFF_MAX_SECONDS") or 30
        ),
    }


def served_base_url(host: str, port: int) -> str:
    """The address a server listening on host:port is reached at from this machine.

    A wildcard address (0.0.0.0, ::) is not one a browser can open: links use the loopback.
    """
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - compared with, not bound to
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
