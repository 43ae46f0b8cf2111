"""The `Audited` marker mixin, kept apart from the audit service so models need not import it.

The service's flush hook (crm/audit/service.py) logs changes to instances of this class.
"""

from __future__ import annotations

from typing import ClassVar


class Audited:
    """Mixin for models holding personal data: every create, update and delete is logged.

    Only the names of changed fields are logged, except for fields listed in
    `__audit_values__`, whose old and new values are kept because they are not personal
    (a role, a status, a kind). Fields in `__audit_ignore__` are not mentioned at all.
    """

    __audit_values__: ClassVar[frozenset[str]] = frozenset()
    __audit_ignore__: ClassVar[frozenset[str]] = frozenset({"created_at", "updated_at"})

    def audit_label(self) -> str:
        """A short, non-sensitive description of the record for the log."""
        return f"{type(self).__name__} #{getattr(self, 'id', '?')}"
