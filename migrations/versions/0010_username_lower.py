"""One account per name as people read it: a unique index on the lower-cased username, which
also serves the sign-in's case-blind lookup. A database that holds two names differing only in
case stops here (rename one first: `flask --app gridgov principals …`).

Revision ID: 0010_username_lower
Revises: 0009_report_submission
Create Date: 2026-11-27 15:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_username_lower'
down_revision = '0009_report_submission'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('uq_principals_username_lower', 'principals', [sa.text('lower(username)')], unique=True)


def downgrade():
    op.drop_index('uq_principals_username_lower', table_name='principals')
