"""German dictionary order (DIN 5007-1) for names: a stored, indexed sort key per record.

Lists order by `sort_name` (then id), which holds `normalize.sort_key()` of the name columns:
"Bäckerei" sorts as "backerei", before "Beispiel"; "Straße" as "strasse". The key is kept
here, not by each service, so every write path gets it:

- ORM saves (forms, merges, demo data): `before_insert` / `before_update` on the model;
- Core inserts (ORM bulk inserts, bench/generate.py): the column's Python default, computed
  from the row's own name values;
- Core updates of a name and PostgreSQL COPY bypass both: they set `sort_name` themselves
  (the importer's inserts and its refresh after filling empty fields, the participant
  erasure), as tests/test_collation.py checks.

On PostgreSQL the column uses COLLATE "C" so that both databases compare the keys by code
point: the same order on SQLite and PostgreSQL whatever the server's locale, and no ICU
collation or SQLite function to register per connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, mapped_column

from crm.contacts.normalize import sort_key

__all__ = ["SortName", "sort_key", "sort_name_column"]


def sort_name_column(*sources: str, length: int) -> Mapped[str]:
    """The `sort_name` column: DIN 5007-1 key of the `sources` columns, in this order."""

    def default(context: Any) -> str:
        params = context.get_current_parameters()
        return sort_key(*(params.get(name) for name in sources), length=length)

    return mapped_column(
        sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql"),
        default=default,
        server_default="",
    )


class SortName:
    """Mixin: keeps `sort_name` equal to the sort key of the columns in `__sort_name_from__`."""

    __sort_name_from__: ClassVar[tuple[str, ...]] = ()
    if TYPE_CHECKING:
        # Declared by each model with sort_name_column() (lengths differ).
        sort_name: str

    @classmethod
    def sort_name_of(cls, *values: str | None) -> str:
        """The key for these name values (given in the order of `__sort_name_from__`)."""
        length = cls.__table__.c.sort_name.type.length  # type: ignore[attr-defined]
        return sort_key(*values, length=length)

    def refresh_sort_name(self) -> None:
        """Recompute the sort key from the current name values."""
        self.sort_name = self.sort_name_of(*(getattr(self, n) for n in self.__sort_name_from__))


@event.listens_for(SortName, "before_insert", propagate=True)
def _sort_name_on_insert(mapper: Any, connection: Any, target: SortName) -> None:
    target.refresh_sort_name()


@event.listens_for(SortName, "before_update", propagate=True)
def _sort_name_on_update(mapper: Any, connection: Any, target: SortName) -> None:
    # Only when a name changed: an unrelated update must not load or rewrite the key.
    state = sa.inspect(target)
    if any(state.attrs[name].history.has_changes() for name in target.__sort_name_from__):
        target.refresh_sort_name()
