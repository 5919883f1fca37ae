"""Idempotency fingerprints are keyed (HMAC under the app's secret) from now on: a plain SHA-256
of a case's request, which holds its parties' ID numbers in full, gave a number back to anyone
with a copy of the database and a search over birth dates (seconds, given the last four the case
keeps). The records written so far hold such plain hashes: they are deleted. A retry comes within
minutes of its request; one that spans the upgrade logs its case again. (One that spans a change
of GRIDGOV_SECRET_KEY from now on is refused, 422, as another request would be.)

Revision ID: 0016_keyed_idempotency
Revises: 0015_case_rejection_note
Create Date: 2026-11-28 09:20:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0016_keyed_idempotency'
down_revision = '0015_case_rejection_note'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("DELETE FROM idempotency_records")


def downgrade():
    pass  # nothing to undo: a retry that spans the downgrade is refused (422) rather than logged twice
