"""a qualification need's vocational level (helper, skilled worker, master/technician, degree), asked by the needs survey's matrix

Revision ID: 3f20408adc25
Revises: e2a9c4b71f3d
Create Date: 2026-12-06 13:29:36.287786+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3f20408adc25'
down_revision = 'e2a9c4b71f3d'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('qualification_need', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column('qualification_level', sa.String(length=10), server_default='', nullable=False))
        batch_op.create_check_constraint(
            batch_op.f('ck_qualification_need_qualification_level_valid'),
            "qualification_level IN ('', 'helper', 'skilled', 'master', 'academic')",
        )


def downgrade():
    with op.batch_alter_table('qualification_need', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_qualification_need_qualification_level_valid'), type_='check')
        batch_op.drop_column('qualification_level')
