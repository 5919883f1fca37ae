"""When a case's clock last stopped (suspended, referred): its working time left is counted again
on resuming, from when the clock started to when it stopped, on the holiday data installed then.
Before, the time left was kept as counted when the clock stopped: past the data, Monday to Friday,
and never recounted (a case suspended on 4 January 2027 lost 1 January as a working day). Cases
stopped before this revision keep the time they were given.

Revision ID: 0017_clock_stopped_at
Revises: 0016_keyed_idempotency
Create Date: 2026-11-28 12:30:00

"""
import warnings

import sqlalchemy as sa
from alembic import op

import gridgov.db

# revision identifiers, used by Alembic.
revision = '0017_clock_stopped_at'
down_revision = '0016_keyed_idempotency'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('cases', sa.Column('clock_stopped_at', gridgov.db.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    # On SQLite the batch copies the table, reflecting those it refers to; the index on
    # lower(username) of principals is one SQLite's reflection cannot read, and the copy does not need.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        with op.batch_alter_table('cases', schema=None) as batch_op:
            batch_op.drop_column('clock_stopped_at')
