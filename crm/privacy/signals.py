"""Signals the privacy domain sends; each domain connects its receivers in its own setup."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: Sent with the session as sender and `plan` (an `ErasurePlan`) while an erasure is planned,
#: both for the preview and for the erasure itself. Each domain adds, by foreign key, the rows
#: it holds about `plan.subject` and what to do with each (delete, anonymise fields), the
#: linked free text that may mention the person (changed only when an admin confirms it) and
#: files that are copies of the person's data. Receivers only read; the privacy service
#: applies the plan and audits every row it changes.
erasure_planned = _signals.signal("erasure-planned")
