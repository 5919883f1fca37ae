"""A partial index of the cases whose deadline is provisional, which the sweep counts again on
every run (without it, each run read every running case to find the few).

Revision ID: 0007_provisional_index
Revises: 0006_rollups
Create Date: 2026-11-27 09:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_provisional_index'
down_revision = '0006_rollups'
branch_labels = None
depends_on = None

WHERE = dict(sqlite_where=sa.text("deadline_provisional = 1"), postgresql_where=sa.text("deadline_provisional"))


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_provisional', ['deadline_provisional', 'id'], unique=False, **WHERE)


def downgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_provisional', **WHERE)
