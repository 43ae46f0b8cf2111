"""Display names of the participant enumerations used on the board and in reports."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

CHANNEL_LABELS = {
    "recognition_office": _l("Recognition counselling office"),
    "association_presentation": _l("Association presentation"),
    "job_fair": _l("Job fair"),
    "jobcentre_agency": _l("Job centre / employment agency"),
    "language_course_provider": _l("Language-course provider"),
    "branch_outreach": _l("Outreach in a branch office"),
    "website_hotline": _l("Website / hotline"),
    "other": _l("Other"),
}
OUTCOME_LABELS = {
    "employment": _l("Employment"),
    "qualification": _l("Qualification / training"),
    "recognition": _l("Recognition obtained"),
    "moved_away": _l("Moved away"),
    "dropped_out": _l("Dropped out"),
    "other": _l("Other"),
    "": _l("Outcome not recorded"),
}


def channel_labels() -> dict[str, str]:
    """Channel labels as plain strings in the current language."""
    return {k: str(v) for k, v in CHANNEL_LABELS.items()}
