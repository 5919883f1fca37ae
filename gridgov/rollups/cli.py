"""``flask --app gridgov rollups rebuild``: count the rollup counters again from the cases."""

import sys

import click
import sqlalchemy as sa

from gridgov.cases.service import current_policy
from gridgov.db import CommandGroup, db
from gridgov.rollups import counters
from gridgov.tree.models import Unit


@click.group(cls=CommandGroup, help="The rollup counters.")
def rollups():
    pass


@rollups.command("rebuild")
def rebuild():
    """Recount every unit's counters from the cases: after upgrading a database that holds cases
    to revision 0006, after changing the policy's risk weights, and after installing newer
    holiday data (the risk score counts working days)."""
    districts = db.session.scalar(sa.select(sa.func.count()).select_from(Unit).where(Unit.parent_id.is_(None)))
    with click.progressbar(length=districts, label="districts", file=sys.stderr) as bar:
        counted = counters.rebuild(db.session, policy=current_policy(), progress=bar.update)
    db.session.commit()
    click.echo(f"counted {counted} cases")
