"""Reasons as long as the notes they carry: an event's reason and a case's rejection reason
become text. An action's note may be 2,000 characters; the event cut it at 500, and a rejection
with a long note did not fit its column (PostgreSQL refused the write).

Revision ID: 0008_long_reasons
Revises: 0007_provisional_index
Create Date: 2026-11-27 12:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_long_reasons'
down_revision = '0007_provisional_index'
branch_labels = None
depends_on = None

COLUMNS = [('case_events', 'reason'), ('cases', 'rejection_reason')]


def upgrade():
    for table, column in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.String(length=500), type_=sa.Text(), existing_nullable=True)


def downgrade():
    for table, column in COLUMNS:
        # What no longer fits is cut, as the events did before.
        op.execute(sa.text(f"UPDATE {table} SET {column} = substr({column}, 1, 500) WHERE length({column}) > 500"))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.Text(), type_=sa.String(length=500), existing_nullable=True)
