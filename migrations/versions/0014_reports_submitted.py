"""Reports by the time they were submitted: the Open311 list of requests reads the latest of a
window (newest first, up to 1,000), which without an index read every report there was.

Revision ID: 0014_reports_submitted
Revises: 0013_deadline_stands
Create Date: 2026-11-28 03:10:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0014_reports_submitted'
down_revision = '0013_deadline_stands'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_reports_submitted_at', 'reports', ['submitted_at', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_reports_submitted_at', table_name='reports')
