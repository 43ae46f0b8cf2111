"""countries, E.164 phones, configurable organisation kinds (issue 13)

- organisation_kind: the kinds admins manage, seeded with today's fixed list plus works
  councils, multipliers, migrant organisations, funders, universities, vocational schools,
  recognition offices and partners abroad. organisation.kind stays the same string key; the
  CHECK against the fixed list becomes a foreign key to organisation_kind.key, so no data
  moves and the database still refuses an unknown kind (or deleting one in use).
- organisation.country and person.country (ISO 3166-1 alpha-2, existing rows 'DE').
- organisation.postcode widened to 16 characters (foreign postcodes such as "LV-5401").
- phone_e164 (and person.mobile_e164): the typed number normalised to E.164, backfilled
  here for every number that can be read as a German number; the rest stay empty (the typed
  text is kept as it was).

On SQLite the organisation table is rebuilt from its own CREATE TABLE text (as in
a7c3e91f0b25) so that its indexes and full-text triggers survive; Alembic's batch mode would
drop the triggers.

Revision ID: 6fcf3eb929c0
Revises: e5a1c7d20b94
Create Date: 2026-12-06 01:00:00.000000+00:00

"""

from collections.abc import Callable
from datetime import UTC, datetime

import phonenumbers
import sqlalchemy as sa
from alembic import op

import crm.database

# revision identifiers, used by Alembic.
revision = "6fcf3eb929c0"
down_revision = "e5a1c7d20b94"
branch_labels = None
depends_on = None

BASE_KINDS = (
    ("employer", "Arbeitgeber"),
    ("association", "Verband"),
    ("jobcentre", "Jobcenter"),
    ("employment_agency", "Agentur für Arbeit"),
    ("recognition", "Anerkennungsberatung"),
    ("education", "Bildungs- oder Sprachkursträger"),
    ("chamber", "Kammer"),
    ("authority", "Behörde"),
    ("fair_organiser", "Messeveranstalter"),
    ("partner", "Sonstiger Partner"),
    ("other", "Sonstige"),
)
NEW_KINDS = (
    ("works_council", "Betriebsrat"),
    ("multiplier", "Multiplikator/in"),
    ("migrant_organisation", "Migrantenorganisation"),
    ("funder", "Fördermittelgeber"),
    ("university", "Hochschule"),
    ("vocational_school", "Berufsschule"),
    ("recognition_office", "Anerkennungsstelle"),
    ("partner_abroad", "Partner im Ausland"),
)
_CHECK = "CONSTRAINT ck_organisation_kind_valid"
_FK = (
    "\tCONSTRAINT fk_organisation_kind_organisation_kind "
    'FOREIGN KEY(kind) REFERENCES organisation_kind ("key")'
)
_BATCH = 1000


def _sqlite_rebuild(conn: sa.Connection, name: str, change: Callable[[list[str]], list[str]]):
    """Replace table `name` by one created from its changed CREATE TABLE lines.

    Same columns in the same order, so the rows copy as they are; indexes and triggers are
    created again from their stored text.
    """
    sql = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).scalar_one()
    head, *defs, tail = [line.rstrip(" ").removesuffix(",") for line in sql.split("\n")]
    defs = change(defs)
    extras = [
        text
        for (text,) in conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') "
            "AND sql IS NOT NULL ORDER BY type, name",
            (name,),
        )
    ]
    temp = f"_rebuild_{name}"
    conn.exec_driver_sql("\n".join([f"CREATE TABLE {temp} (", ", \n".join(defs), tail]))
    conn.exec_driver_sql(f"INSERT INTO {temp} SELECT * FROM {name}")  # noqa: S608
    conn.exec_driver_sql(f"DROP TABLE {name}")
    conn.exec_driver_sql(f"ALTER TABLE {temp} RENAME TO {name}")
    for text in extras:
        conn.exec_driver_sql(text)


def _e164(text: str | None) -> str:
    """The number in E.164 read as a German number, or "" (the rule of crm.contacts.countries)."""
    text = (text or "").strip()
    if not text:
        return ""
    try:
        number = phonenumbers.parse(text, "DE")
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _backfill(conn: sa.Connection, table: str, pairs: tuple[tuple[str, str], ...]) -> None:
    """Normalise the typed numbers of every row (existing rows are all in Germany)."""
    t = sa.table(table, sa.column("id"), *(sa.column(c) for pair in pairs for c in pair))
    typed = [sa.column(src) for src, _dst in pairs]
    last = 0
    while True:
        rows = conn.execute(
            sa.select(t.c.id, *(t.c[src] for src, _dst in pairs))
            .where(t.c.id > last, sa.or_(*(c != "" for c in typed)))
            .order_by(t.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        updates = []
        for row in rows:
            values = {dst: _e164(row[i + 1]) for i, (_src, dst) in enumerate(pairs)}
            if any(values.values()):
                updates.append({"b_id": row[0], **values})
        if updates:
            conn.execute(
                sa.update(t)
                .where(t.c.id == sa.bindparam("b_id"))
                .values({dst: sa.bindparam(dst) for _src, dst in pairs}),
                updates,
            )
        last = rows[-1][0]


def upgrade():
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    kinds = op.create_table(
        "organisation_kind",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=30), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("sort_order", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation_kind")),
        sa.UniqueConstraint("key", name=op.f("uq_organisation_kind_key")),
        sa.UniqueConstraint("label", name=op.f("uq_organisation_kind_label")),
        sqlite_autoincrement=True,
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        kinds,
        [
            {
                "key": key,
                "label": label,
                "active": True,
                "sort_order": 10 * (i + 1),
                "created_at": now,
                "updated_at": now,
            }
            for i, (key, label) in enumerate(BASE_KINDS + NEW_KINDS)
        ],
    )

    if sqlite:

        def change(defs: list[str]) -> list[str]:
            out = [d for d in defs if not d.lstrip().startswith(_CHECK)]
            out = [d.replace("postcode VARCHAR(5)", "postcode VARCHAR(16)") for d in out]
            return [*out, _FK]

        _sqlite_rebuild(conn, "organisation", change)
    else:
        op.drop_constraint(op.f("ck_organisation_kind_valid"), "organisation", type_="check")
        op.alter_column(
            "organisation",
            "postcode",
            existing_type=sa.String(length=5),
            type_=sa.String(length=16),
            existing_nullable=False,
        )
        op.create_foreign_key(
            op.f("fk_organisation_kind_organisation_kind"),
            "organisation",
            "organisation_kind",
            ["kind"],
            ["key"],
        )

    # Plain ADD COLUMN on both databases: no table rebuild, existing rows get the default.
    op.add_column(
        "organisation", sa.Column("country", sa.String(2), server_default="DE", nullable=False)
    )
    op.add_column(
        "organisation", sa.Column("phone_e164", sa.String(16), server_default="", nullable=False)
    )
    op.add_column(
        "person", sa.Column("phone_e164", sa.String(16), server_default="", nullable=False)
    )
    op.add_column(
        "person", sa.Column("mobile_e164", sa.String(16), server_default="", nullable=False)
    )
    op.add_column("person", sa.Column("country", sa.String(2), server_default="DE", nullable=False))
    op.create_index(op.f("ix_organisation_country"), "organisation", ["country"])
    op.create_index(op.f("ix_organisation_phone_e164"), "organisation", ["phone_e164"])
    op.create_index(op.f("ix_person_phone_e164"), "person", ["phone_e164"])
    op.create_index(op.f("ix_person_mobile_e164"), "person", ["mobile_e164"])

    _backfill(conn, "organisation", (("phone", "phone_e164"),))
    _backfill(conn, "person", (("phone", "phone_e164"), ("mobile", "mobile_e164")))


def downgrade():
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    op.drop_index(op.f("ix_person_mobile_e164"), table_name="person")
    op.drop_index(op.f("ix_person_phone_e164"), table_name="person")
    op.drop_index(op.f("ix_organisation_phone_e164"), table_name="organisation")
    op.drop_index(op.f("ix_organisation_country"), table_name="organisation")
    # ALTER TABLE … DROP COLUMN works on both (SQLite ≥ 3.35) and keeps SQLite's triggers.
    for table, column in (
        ("person", "country"),
        ("person", "mobile_e164"),
        ("person", "phone_e164"),
        ("organisation", "phone_e164"),
        ("organisation", "country"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    base = [key for key, _label in BASE_KINDS]
    org = sa.table("organisation", sa.column("kind"), sa.column("postcode"))
    # Kinds added after this migration and foreign postcodes do not fit the old schema.
    conn.execute(sa.update(org).where(org.c.kind.not_in(base)).values(kind="other"))
    conn.execute(sa.update(org).where(sa.func.length(org.c.postcode) > 5).values(postcode=""))
    if sqlite:
        check = "\tCONSTRAINT ck_organisation_kind_valid CHECK (kind IN ({}))".format(
            ", ".join(f"'{k}'" for k in base)
        )

        def change(defs: list[str]) -> list[str]:
            out = [d for d in defs if d != _FK]
            out = [d.replace("postcode VARCHAR(16)", "postcode VARCHAR(5)") for d in out]
            first = next((i for i, d in enumerate(out) if d.startswith("\tCONSTRAINT ")), len(out))
            return [*out[:first], check, *out[first:]]

        _sqlite_rebuild(conn, "organisation", change)
    else:
        op.drop_constraint(
            op.f("fk_organisation_kind_organisation_kind"), "organisation", type_="foreignkey"
        )
        op.alter_column(
            "organisation",
            "postcode",
            existing_type=sa.String(length=16),
            type_=sa.String(length=5),
            existing_nullable=False,
        )
        op.create_check_constraint(
            op.f("ck_organisation_kind_valid"),
            "organisation",
            "kind IN ({})".format(", ".join(f"'{k}'" for k in base)),
        )
    op.drop_table("organisation_kind")
