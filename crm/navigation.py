"""The main navigation: modules appear once they exist and the user may open them."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from crm.security import declared_permission, has_permission


@dataclass(frozen=True)
class NavItem:
    label: object
    endpoint: str
    prefix: str


NAVIGATION = (
    NavItem(_l("Contacts"), "contacts.index", "/kontakte"),
    NavItem(_l("Participants"), "participants.index", "/teilnehmende"),
    NavItem(_l("Inquiries"), "intake.index", "/anfragen"),
    NavItem(_l("Events"), "events.index", "/termine"),
    NavItem(_l("Calendar"), "events.calendar", "/termine/kalender"),
    NavItem(_l("Follow-ups"), "followups.index", "/wiedervorlagen"),
    NavItem(_l("Newsletter"), "newsletters.index", "/newsletter"),
    NavItem(_l("Campaigns"), "newsletter_campaigns.index", "/newsletter/aussendungen"),
    NavItem(_l("Surveys"), "surveys.index", "/bedarfsanalysen"),
    NavItem(_l("Reports"), "dashboard.index", "/auswertung"),
    NavItem(_l("Administration"), "core.admin_index", "/verwaltung"),
)


def navigation_items() -> list[dict[str, object]]:
    """Navigation entries for the current user: label, url (None if not built yet), active."""
    items = []
    # Only the most specific entry is active: campaigns live under /newsletter too.
    matching = [item.prefix for item in NAVIGATION if request.path.startswith(item.prefix)]
    active_prefix = max(matching, key=len, default=None)
    for item in NAVIGATION:
        exists = item.endpoint in current_app.view_functions
        if exists:
            permission = declared_permission(current_app, item.endpoint)
            if permission is None or not has_permission(current_user, permission):
                continue
        items.append(
            {
                "label": item.label,
                "url": url_for(item.endpoint) if exists else None,
                "active": item.prefix == active_prefix,
            }
        )
    return items
