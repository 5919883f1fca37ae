"""The report page's form id on each report it filed: the same form sent twice (a double tap, a
refreshed receipt) answers the report it filed instead of filing another.

Revision ID: 0009_report_submission
Revises: 0008_long_reasons
Create Date: 2026-11-27 15:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_report_submission'
down_revision = '0008_long_reasons'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submission', sa.String(length=64), nullable=True))
        batch_op.create_index('uq_reports_submission', ['submission'], unique=True)


def downgrade():
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index('uq_reports_submission')
        batch_op.drop_column('submission')
