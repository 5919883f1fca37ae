"""A report's triage due time counted past the holiday data is marked provisional, and the sweep
counts it again once the data is there (as case deadlines are). Reports filed before this
revision are left unmarked.

Revision ID: 0011_report_provisional
Revises: 0010_username_lower
Create Date: 2026-11-27 17:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_report_provisional'
down_revision = '0010_username_lower'
branch_labels = None
depends_on = None

WHERE = dict(sqlite_where=sa.text("triage_due_provisional = 1"), postgresql_where=sa.text("triage_due_provisional"))


def upgrade():
    # Plain ALTERs (SQLite adds a column with a constant default in place): no copy of the table.
    op.add_column('reports',
                  sa.Column('triage_due_provisional', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index('ix_reports_provisional', 'reports', ['triage_due_provisional', 'id'], unique=False, **WHERE)


def downgrade():
    op.drop_index('ix_reports_provisional', table_name='reports', **WHERE)
    # SQLite drops a column by copying the table. resolve_fks=False: reflecting the tables it
    # refers to would read principals' expression index, which SQLite's reflection cannot.
    with op.batch_alter_table('reports', schema=None, reflect_kwargs={"resolve_fks": False}) as batch_op:
        batch_op.drop_column('triage_due_provisional')
