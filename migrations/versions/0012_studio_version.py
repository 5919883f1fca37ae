"""A studio's version: two people editing its members no longer overwrite each other (PATCH
with a stale version answers 409).

Revision ID: 0012_studio_version
Revises: 0011_report_provisional
Create Date: 2026-11-27 17:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012_studio_version'
down_revision = '0011_report_provisional'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('studios', sa.Column('version', sa.Integer(), server_default='1', nullable=False))


def downgrade():
    # resolve_fks=False: reflecting the tables it refers to would reach principals' expression
    # index, which SQLite's reflection cannot read.
    with op.batch_alter_table('studios', schema=None, reflect_kwargs={"resolve_fks": False}) as batch_op:
        batch_op.drop_column('version')
