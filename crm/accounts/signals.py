"""Signals the accounts domain sends; other domains connect to them in their own setup."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: Sent with the session as sender and `user` (already inactive) and `at` (aware UTC) when an
#: admin deactivates a user; receivers withdraw what the user could still reach without a
#: login (feed tokens …) in the same transaction.
user_deactivated = _signals.signal("user-deactivated")
