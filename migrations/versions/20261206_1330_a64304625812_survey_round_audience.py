"""survey rounds by audience: the filter kept on the round, organisations without a reachable contact

Revision ID: a64304625812
Revises: 9b41c7e2d8a3
Create Date: 2026-12-06 13:30:07.711835+00:00

"""
from alembic import op
import sqlalchemy as sa

import crm.database


# revision identifiers, used by Alembic.
revision = 'a64304625812'
down_revision = "9b41c7e2d8a3"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('survey_unreached',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_survey_unreached_organisation_id_organisation'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['round_id'], ['survey_round.id'], name=op.f('fk_survey_unreached_round_id_survey_round'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_unreached')),
    sa.UniqueConstraint('round_id', 'organisation_id', name=op.f('uq_survey_unreached_round_id_organisation_id')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('survey_unreached', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_unreached_organisation_id'), ['organisation_id'], unique=False)

    with op.batch_alter_table('survey_round', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audience_spec', sa.JSON(), nullable=True))



def downgrade():
    with op.batch_alter_table('survey_round', schema=None) as batch_op:
        batch_op.drop_column('audience_spec')

    with op.batch_alter_table('survey_unreached', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_unreached_organisation_id'))

    op.drop_table('survey_unreached')
