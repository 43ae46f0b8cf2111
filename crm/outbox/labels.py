"""German/English names of the outbox's kinds and statuses (the admin page, the Art. 15 report)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

KIND_LABELS = {
    "reminder": _l("Follow-up reminder"),
    "digest": _l("Daily digest"),
    "confirmation": _l("Sign-up confirmation"),
    "test": _l("Test mail"),
    "notice": _l("Notice"),
    "inquiry": _l("Inquiry acknowledgement"),
    "registration": _l("Event registration"),
    "campaign": _l("Newsletter campaign"),
}
STATUS_LABELS = {
    "queued": _l("Waiting"),
    "deferred": _l("Deferred"),
    "sending": _l("Being sent"),
    "sent": _l("Sent"),
    "failed": _l("Failed"),
    "cancelled": _l("Cancelled"),
}
