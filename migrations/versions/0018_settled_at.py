"""When a successful mediation was first recorded since the case came to its owner: a case its
assignee (a grid worker) settled waits in its unit's inbox to be resolved. Read from the attempts
at each request, the inbox of district command read every open case of the installation
(1.4 ms → 1.4 s at 200,000 on PostgreSQL); kept on the case, it is one column. Filled here from
the attempts already recorded.

Revision ID: 0018_settled_at
Revises: 0017_clock_stopped_at
Create Date: 2026-11-28 16:00:00

"""
import warnings

import sqlalchemy as sa
from alembic import op

import gridgov.db

# revision identifiers, used by Alembic.
revision = '0018_settled_at'
down_revision = '0017_clock_stopped_at'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('cases', sa.Column('settled_at', gridgov.db.UTCDateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE cases SET settled_at = ("
        " SELECT min(recorded_at) FROM mediation_attempts"
        " WHERE mediation_attempts.case_id = cases.id AND mediation_attempts.outcome = 'success'"
        " AND mediation_attempts.recorded_at >= cases.arrived_at)"
    )


def downgrade():
    # On SQLite the batch copies the table, reflecting those it refers to; the index on
    # lower(username) of principals is one SQLite's reflection cannot read, and the copy does not need.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        with op.batch_alter_table('cases', schema=None) as batch_op:
            batch_op.drop_column('settled_at')
