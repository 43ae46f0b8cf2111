"""survey responses: the channel they came in by (web, phone) and the staff member who entered a phone answer

Revision ID: 9b41c7e2d8a3
Revises: 3f20408adc25
Create Date: 2026-12-06 13:30:12.000000+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9b41c7e2d8a3'
down_revision = '3f20408adc25'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('survey_response', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=10), server_default='web', nullable=False))
        batch_op.add_column(sa.Column('entered_by_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_survey_response_entered_by_id'), ['entered_by_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_survey_response_entered_by_id_user_account'), 'user_account', ['entered_by_id'], ['id'], ondelete='SET NULL')
        batch_op.create_check_constraint(
            batch_op.f('ck_survey_response_channel_valid'), "channel IN ('web', 'phone')"
        )


def downgrade():
    with op.batch_alter_table('survey_response', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_survey_response_channel_valid'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_survey_response_entered_by_id_user_account'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_survey_response_entered_by_id'))
        batch_op.drop_column('entered_by_id')
        batch_op.drop_column('channel')
