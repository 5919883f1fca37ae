"""A case's rejection keeps its reason and its note apart, as a report's does: the reason is one of
duplicate, out_of_scope and invalid (checked), the note the handler's words. Before, both were one
text ("out_of_scope: 属市场监管部门职责"), which no one could filter or count by reason. The
timeline's events keep what they recorded (an event's reason is still "reason: note").

Revision ID: 0015_case_rejection_note
Revises: 0014_reports_submitted
Create Date: 2026-11-28 09:00:00

"""
import contextlib
import warnings

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_case_rejection_note'
down_revision = '0014_reports_submitted'
branch_labels = None
depends_on = None

REASONS = ('duplicate', 'out_of_scope', 'invalid')
cases = sa.table('cases', sa.column('id', sa.Integer), sa.column('rejection_reason', sa.Text),
                 sa.column('rejection_note', sa.Text))


@contextlib.contextmanager
def cases_batch():
    """``op.batch_alter_table('cases')``. On SQLite it copies the table, reflecting the tables it
    refers to: SQLite's reflection cannot read the index on lower(username) of ``principals``, and
    the copy of ``cases`` does not need it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        with op.batch_alter_table('cases', schema=None) as batch_op:
            yield batch_op


def upgrade():
    with cases_batch() as batch_op:
        batch_op.add_column(sa.Column('rejection_note', sa.Text(), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.select(cases.c.id, cases.c.rejection_reason)
                              .where(cases.c.rejection_reason.is_not(None))).all()
    for case_id, text in rows:
        reason, _, note = text.partition(':')
        if reason not in REASONS:  # not written by the service (it took only these); kept as the note
            reason, note = 'invalid', text
        connection.execute(sa.update(cases).where(cases.c.id == case_id)
                           .values(rejection_reason=reason, rejection_note=note.strip() or None))
    with cases_batch() as batch_op:
        batch_op.alter_column('rejection_reason', existing_type=sa.Text(), existing_nullable=True,
                              type_=sa.Enum(*REASONS, name='case_rejection', native_enum=False,
                                            create_constraint=True, length=16))


def downgrade():
    with cases_batch() as batch_op:
        batch_op.alter_column('rejection_reason', type_=sa.Text(), existing_nullable=True,
                              existing_type=sa.Enum(*REASONS, name='case_rejection', native_enum=False,
                                                    create_constraint=True, length=16))
    op.execute(cases.update().where(cases.c.rejection_note.is_not(None))
               .values(rejection_reason=cases.c.rejection_reason + ': ' + cases.c.rejection_note))
    with cases_batch() as batch_op:
        batch_op.drop_column('rejection_note')
