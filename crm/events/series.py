"""Recurrence rules (RFC 5545 RRULE via python-dateutil), expanded in Europe/Berlin local time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
PATTERNS = ("none", "biweekly", "quarterly_first_tuesday", "monthly", "yearly", "custom")
# Guard against rules that would flood the table (FREQ=MINUTELY …).
MAX_OCCURRENCES = 2000


class RuleError(ValueError):
    """The recurrence rule is not valid RFC 5545 or not allowed here."""


def rule_for(pattern: str, start_local: datetime, custom: str = "") -> str | None:
    """The RRULE text for a pattern offered in the form (None for a single date)."""
    if pattern == "none":
        return None
    if pattern == "biweekly":
        return f"FREQ=WEEKLY;INTERVAL=2;BYDAY={WEEKDAYS[start_local.weekday()]}"
    if pattern == "quarterly_first_tuesday":
        return "FREQ=MONTHLY;BYMONTH=1,4,7,10;BYDAY=1TU"
    if pattern == "monthly":
        return "FREQ=MONTHLY"
    if pattern == "yearly":
        return "FREQ=YEARLY"
    if pattern == "custom":
        return validate_rule(custom, start_local)
    raise RuleError(f"unknown pattern {pattern!r}")


def pattern_of(text: str) -> tuple[str, date | None]:
    """The form's pattern a stored rule was made from ("custom" if none) and its last day."""
    parts = _clean(text).split(";")
    until = next((p[6:] for p in parts if p.startswith("UNTIL=")), None)
    core = ";".join(p for p in parts if not p.startswith(("UNTIL=", "COUNT=")))
    last_day = datetime.strptime(until[:8], "%Y%m%d").date() if until else None
    if core in ("FREQ=MONTHLY", "FREQ=YEARLY"):
        return core[5:].lower(), last_day
    if core == "FREQ=MONTHLY;BYMONTH=1,4,7,10;BYDAY=1TU":
        return "quarterly_first_tuesday", last_day
    if core.removeprefix("FREQ=WEEKLY;INTERVAL=2;BYDAY=") in WEEKDAYS:
        return "biweekly", last_day
    return "custom", last_day


def _clean(text: str) -> str:
    text = (text or "").strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    return text.upper()


def validate_rule(text: str, start_local: datetime) -> str:
    """Check a custom rule and return its normalised text (without DTSTART)."""
    text = _clean(text)
    if not text or "\n" in text or "DTSTART" in text:
        raise RuleError("empty or multi-line rule")
    parts = dict(p.split("=", 1) for p in text.split(";") if "=" in p)
    if parts.get("FREQ") not in ("DAILY", "WEEKLY", "MONTHLY", "YEARLY"):
        raise RuleError("FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY")
    try:
        rule = make_rule(text, start_local)
        first = rule.after(start_local, inc=True)
    except (ValueError, TypeError) as exc:
        raise RuleError(str(exc)) from exc
    if first is None:
        raise RuleError("the rule yields no date")
    return text


def make_rule(text: str, start_local: datetime) -> rrule:
    """A dateutil rule on naive local time (UNTIL is read as local time too)."""
    rule = rrulestr(_clean(text), dtstart=start_local.replace(tzinfo=None))
    assert isinstance(rule, rrule)
    return rule


def to_utc(local: datetime) -> datetime:
    """A naive Europe/Berlin wall-clock time as an aware UTC moment."""
    return local.replace(tzinfo=BERLIN).astimezone(UTC)


def occurrences(text: str, start_local: datetime, until: date) -> list[datetime]:
    """Local (naive) start times of the rule's occurrences up to and including `until`."""
    rule = make_rule(text, start_local)
    end = datetime.combine(until, datetime.max.time())
    out: list[datetime] = []
    for local in rule.xafter(start_local.replace(tzinfo=None), inc=True):
        if local > end or len(out) >= MAX_OCCURRENCES:
            break
        out.append(local)
    return out


def with_until(text: str, last_local: datetime) -> str:
    """The rule ending with the occurrence at `last_local` (drops COUNT; local UNTIL)."""
    parts = [p for p in _clean(text).split(";") if not p.startswith(("UNTIL=", "COUNT="))]
    return ";".join([*parts, "UNTIL=" + last_local.strftime("%Y%m%dT%H%M%S")])


def until_utc_text(text: str) -> str:
    """The rule for export: RFC 5545 wants UNTIL in UTC when DTSTART has a TZID."""
    parts = []
    for p in _clean(text).split(";"):
        if p.startswith("UNTIL=") and not p.endswith("Z"):
            value = p[6:]
            local = (
                datetime.strptime(value, "%Y%m%dT%H%M%S")
                if "T" in value
                else datetime.strptime(value, "%Y%m%d") + timedelta(days=1, seconds=-1)
            )
            p = "UNTIL=" + to_utc(local).strftime("%Y%m%dT%H%M%SZ")
        parts.append(p)
    return ";".join(parts)
