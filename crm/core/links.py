"""Links to many records of one kind from a single `url_for`."""

from __future__ import annotations

from typing import Any

from flask import url_for

# An id no record has: it marks where the record's id goes in the built URL.
_PROBE = 987654321


class RecordLinks:
    """The URL of one endpoint for any record id, built once and then filled in per record.

    A page that links dozens of records (the start page's follow-ups, each with three links
    and two forms) spent a noticeable share of its rendering in `url_for`; the result is the
    same string.
    """

    def __init__(self, endpoint: str, argument: str, **values: Any) -> None:
        url = url_for(endpoint, **{**values, argument: _PROBE})
        head, probe, tail = url.partition(f"/{_PROBE}")
        if not probe or str(_PROBE) in tail:
            raise ValueError(f"{endpoint}: the id {argument} is not one path segment")
        self._head = head + "/"
        self._tail = tail

    def __call__(self, record_id: int) -> str:
        """The URL for the record with this id."""
        return f"{self._head}{int(record_id)}{self._tail}"
