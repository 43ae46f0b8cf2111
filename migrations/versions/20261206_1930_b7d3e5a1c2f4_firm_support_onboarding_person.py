"""firm support: the onboarding contact as a person of the firm (the old free text stays as it was)

Revision ID: b7d3e5a1c2f4
Revises: 8d2f6a1c4e90
Create Date: 2026-12-06 19:30:00.000000+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7d3e5a1c2f4'
down_revision = '8d2f6a1c4e90'
branch_labels = None
depends_on = None


def upgrade():
    # Only a new nullable column: firm_support.onboarding_contact keeps its text untouched
    # (no guessing which person a text meant; staff pick the person when they next edit).
    with op.batch_alter_table('firm_support', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column('onboarding_person_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_firm_support_onboarding_person_id'), ['onboarding_person_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_firm_support_onboarding_person_id_person'), 'person', ['onboarding_person_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('firm_support', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_firm_support_onboarding_person_id_person'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_firm_support_onboarding_person_id'))
        batch_op.drop_column('onboarding_person_id')
