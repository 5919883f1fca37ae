"""``flask --app gridgov cases …``"""

import sys

import click

from gridgov.cases import sweep as sweep_module
from gridgov.db import CommandGroup, db


@click.group(cls=CommandGroup, help="Cases.")
def cases():
    pass


@cases.command("sweep")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=1000, show_default=True)
def sweep_command(batch_size):
    """Escalate overdue cases where policy says so; mark the others red.

    Idempotent and safe to run in parallel; run it every few minutes, e.g. from cron:
    */5 * * * * cd /srv/gridgov && .venv/bin/flask --app gridgov cases sweep
    """
    counts = sweep_module.sweep(db.session, batch_size=batch_size,
                                progress=lambda n: click.echo(f"  {n} handled", err=True) if n else None)
    click.echo(f"{counts['escalated']} escalated, {counts['marked']} marked red, "
               f"{counts['recounted']} provisional deadlines recounted", file=sys.stdout)
