"""The permission mechanism, safe redirects and security headers.

Every endpoint declares who may call it with one of the decorators below. A global
`before_request` hook enforces the declaration and refuses endpoints that declare nothing
(default deny), so a forgotten check fails closed and a test lists every route.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeGuard, TypeVar
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, redirect, request, url_for
from flask_login import current_user

from crm.accounts.models import Role

F = TypeVar("F", bound=Callable[..., Any])

PUBLIC = "public"
AUTHENTICATED = "authenticated"

_ALL_DOMAIN = {
    "dashboard.view",
    "contacts.view",
    "contacts.edit",
    "contacts.import",
    "contacts.export",
    "contacts.merge",
    "participants.view",
    "participants.edit",
    # Configure the support checklist's item types (admins and leads only).
    "participants.configure",
    # Merge organisations that participants' releases, referrals or referrers name, and
    # confirm the releases such a merge moved (admins and leads only).
    "participants.releases",
    # Export a selection of participants (CSV/XLSX) from the list (admins and leads only): the
    # most sensitive data in the product leaving it without a partner's release.
    "participants.export",
    "reports.view",
    "reports.targets",
    # The funder report for any period and its saved definitions (admins and leads only).
    "reports.funder",
    "events.view",
    "events.edit",
    "followups.view",
    "followups.edit",
    "newsletters.view",
    "newsletters.edit",
    "newsletters.send",
    # Inquiries (crm.intake): see and work the queue within one's scope, capture hotline calls.
    "intake.view",
    "intake.edit",
    # See every inquiry and reassign one (leads and admins).
    "intake.manage",
    # Keep the absences of the users in one's offices (leads; admins: everybody's).
    "absences.manage",
}
# intake.configure: assignment rules and the public form's embed code.
# admin.privacy: DSGVO exports and erasure (Art. 15/17), the retention review list.
_ADMIN = {"admin.users", "admin.audit", "admin.system", "admin.privacy", "intake.configure"}

ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset(_ALL_DOMAIN | _ADMIN),
    Role.LEAD: frozenset(_ALL_DOMAIN | {"admin.audit"}),
    Role.COUNSELLOR: frozenset(
        {
            "dashboard.view",
            "contacts.view",
            "contacts.edit",
            "contacts.export",
            "participants.view",
            "participants.edit",
            "reports.view",
            "events.view",
            "events.edit",
            "followups.view",
            "followups.edit",
            "newsletters.view",
            "intake.view",
            "intake.edit",
        }
    ),
    # Assistenz: runs contacts, events and newsletters, never sees participants by name.
    Role.STAFF: frozenset(
        {
            "dashboard.view",
            "contacts.view",
            "contacts.edit",
            "contacts.import",
            "contacts.export",
            "contacts.merge",
            "reports.view",
            "events.view",
            "events.edit",
            "followups.view",
            "followups.edit",
            "newsletters.view",
            "newsletters.edit",
            "newsletters.send",
            # The hotline is often answered by the assistants.
            "intake.view",
            "intake.edit",
        }
    ),
    Role.READONLY: frozenset(
        {
            "dashboard.view",
            "contacts.view",
            "reports.view",
            "events.view",
            "followups.view",
            "newsletters.view",
        }
    ),
}
ALL_PERMISSIONS = frozenset(_ALL_DOMAIN | _ADMIN)


def has_permission(user: Any, permission: str) -> bool:
    """True if `user` (a User or Flask-Login's anonymous user) holds `permission`."""
    if permission == PUBLIC:
        return True
    if not getattr(user, "is_authenticated", False):
        return False
    if permission == AUTHENTICATED:
        return True
    return permission in ROLE_PERMISSIONS.get(Role(user.role), frozenset())


def _declare(value: str) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        view._crm_permission = value  # type: ignore[attr-defined]
        return view

    return decorator


def require(permission: str) -> Callable[[F], F]:
    """Only users whose role grants `permission` may call the view."""
    if permission not in ALL_PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    return _declare(permission)


public = _declare(PUBLIC)
"""Anyone may call the view, logged in or not."""

authenticated = _declare(AUTHENTICATED)
"""Any logged-in user may call the view (their own account pages)."""


def writes_on_get(view: F) -> F:
    """Mark a GET view that writes (e.g. audits an export), so SQLite locks for writing."""
    view._crm_writes = True  # type: ignore[attr-defined]
    return view


def fragment(view: F) -> F:
    """Mark a GET view that answers scripts (htmx polling, record pickers) with a piece of a
    page: no link leads to it, and the page that uses it works without it."""
    view._crm_fragment = True  # type: ignore[attr-defined]
    return view


def embeddable(view: F) -> F:
    """Mark a public page other websites may show in a frame (the inquiry form): its
    frame-ancestors come from CRM_INTAKE_FRAME_ANCESTORS; every other page stays unframeable."""
    view._crm_embeddable = True  # type: ignore[attr-defined]
    return view


def is_fragment(app: Flask, endpoint: str) -> bool:
    """True if the endpoint's view is marked as a fragment (`fragment`)."""
    return bool(getattr(app.view_functions.get(endpoint), "_crm_fragment", False))


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def request_writes() -> bool:
    """True if the current request may write: an unsafe method or a view marked writes_on_get."""
    if request.method not in SAFE_METHODS:
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "_crm_writes", False))


def declared_permission(app: Flask, endpoint: str) -> str | None:
    """The permission an endpoint declared, or None if it declared nothing."""
    if endpoint == "static":
        return PUBLIC
    view = app.view_functions.get(endpoint)
    return getattr(view, "_crm_permission", None)


def enforce_permissions() -> Any:
    """before_request hook: apply the endpoint's declaration, deny if there is none."""
    if request.endpoint is None:  # 404 and 405 are handled by their error pages
        return None
    permission = declared_permission(current_app, request.endpoint)
    if permission is None:
        current_app.logger.error("endpoint %s declares no permission", request.endpoint)
        abort(403)
    if permission == PUBLIC:
        return None
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
    if current_user.must_change_password and request.endpoint not in {
        "accounts.change_password",
        "accounts.logout",
    }:
        return redirect(url_for("accounts.change_password"))
    if not has_permission(current_user, permission):
        abort(403)
    return None


def is_safe_next(target: str | None) -> TypeGuard[str]:
    """True only for a local path on this site (no scheme, host, or browser tricks)."""
    if not target or not target.startswith("/"):
        return False
    # Browsers treat "\" like "/" and drop tabs/newlines, so "/\evil" and "/\t/evil" would
    # become protocol-relative URLs.
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return False
    if target.startswith("//"):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


_SOURCE = re.compile(
    r"^(?:'self'|https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?|https://\*\.[A-Za-z0-9.-]+)$"
)


def _frame_ancestors(setting: object) -> str:
    """The configured sites that may frame the embeddable pages ('self' if none is valid):
    anything else (a quote, a semicolon) could inject further CSP directives."""
    sources = [s for s in str(setting or "").split() if _SOURCE.match(s)]
    return " ".join(sources) or "'self'"


def set_security_headers(response: Any) -> Any:
    """after_request hook: CSP without inline script, and the usual hardening headers."""
    headers = response.headers
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "_crm_embeddable", False):
        ancestors = _frame_ancestors(current_app.config.get("CRM_INTAKE_FRAME_ANCESTORS"))
        headers.setdefault(
            "Content-Security-Policy",
            CSP.replace("frame-ancestors 'none'", f"frame-ancestors {ancestors}"),
        )
        # X-Frame-Options cannot name several sites; browsers that know CSP ignore it anyway.
    else:
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if current_app.config.get("CRM_HSTS"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    # Personal data must not linger in shared caches or the browser's back button cache.
    # Checked last: asking for the user may load it from the database, which error pages
    # (that set Cache-Control themselves) must not do.
    if (
        "Cache-Control" not in headers
        and request.endpoint != "static"
        and current_user.is_authenticated
    ):
        headers["Cache-Control"] = "no-store"
    return response
