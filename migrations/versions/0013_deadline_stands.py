"""The working set of deadlines takes in resolved cases waiting to be verified: their deadline
stands until they are closed (closing after it is closing late), so they have a colour and count
as due to close. The partial index ix_cases_running becomes ix_cases_standing.

Revision ID: 0013_deadline_stands
Revises: 0012_studio_version
Create Date: 2026-11-27 23:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013_deadline_stands'
down_revision = '0012_studio_version'
branch_labels = None
depends_on = None

RUNNING = "status IN ('reported', 'accepted', 'in_progress', 'reopened')"
STANDING = "status IN ('reported', 'accepted', 'in_progress', 'resolved', 'reopened')"
COLUMNS = ['origin_path', 'deadline_at', 'yellow_at']


def upgrade():
    op.drop_index('ix_cases_running', table_name='cases')
    op.create_index('ix_cases_standing', 'cases', COLUMNS, unique=False,
                    sqlite_where=sa.text(STANDING), postgresql_where=sa.text(STANDING))


def downgrade():
    op.drop_index('ix_cases_standing', table_name='cases')
    op.create_index('ix_cases_running', 'cases', COLUMNS, unique=False,
                    sqlite_where=sa.text(RUNNING), postgresql_where=sa.text(RUNNING))
