"""One account per name as people read it: a unique index on the lower-cased username, which
also serves the sign-in's case-blind lookup. A database that holds two names differing only in
case stops here, naming them (rename one first: `flask --app gridgov principals rename OLD NEW`).

Revision ID: 0010_username_lower
Revises: 0009_report_submission
Create Date: 2026-11-27 15:20:00

"""
import click
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_username_lower'
down_revision = '0009_report_submission'
branch_labels = None
depends_on = None


def upgrade():
    clashes = op.get_bind().execute(sa.text(
        "SELECT lower(username) FROM principals GROUP BY lower(username) HAVING count(*) > 1 ORDER BY 1"
    )).scalars().all()
    if clashes:
        # One line that says what to do, rather than the index's IntegrityError.
        raise click.ClickException(
            "Usernames that differ only in case: " + ", ".join(clashes)
            + ". Rename all but one of each (flask --app gridgov principals rename OLD NEW), then upgrade again."
        )
    op.create_index('uq_principals_username_lower', 'principals', [sa.text('lower(username)')], unique=True)


def downgrade():
    op.drop_index('uq_principals_username_lower', table_name='principals')
