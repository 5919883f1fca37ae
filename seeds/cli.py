"""``flask --app gridgov seed …``: demo and scale data, written through the same services as
real use."""

import sys

import click
from flask.cli import AppGroup

from gridgov.db import db
from gridgov.tree import transfer
from seeds import naxi, synthetic


@click.group(cls=AppGroup, help="Load demo or synthetic data.")
def seed():
    pass


@seed.command("naxi")
def seed_naxi():
    """纳溪区: 13 towns/streets, 156 villages/communities, 202 grids, 3,286 micro-grids."""
    rows = naxi.rows()
    with click.progressbar(length=len(rows), label="纳溪区 units", file=sys.stderr) as bar:
        counts = transfer.import_units(db.session, rows=rows, progress=bar.update)
    db.session.commit()
    click.echo(f"纳溪区 ({naxi.CODE}): " + ", ".join(f"{n} {what}" for what, n in counts.items()))


@seed.command("synthetic")
@click.option("--districts", type=click.IntRange(1, 9999), required=True, help="How many districts.")
def seed_synthetic(districts: int):
    """A deterministic forest of DISTRICTS districts of Naxi's shape (~3,300 units each)."""
    total = {"created": 0, "updated": 0, "moved": 0, "unchanged": 0}
    with click.progressbar(length=districts, label="districts", file=sys.stderr) as bar:
        for rows in synthetic.rows(districts):
            counts = transfer.import_units(db.session, rows=rows)
            db.session.commit()
            for key, value in counts.items():
                total[key] += value
            bar.update(1)
    click.echo(f"{districts} synthetic districts: " + ", ".join(f"{n} {what}" for what, n in total.items()))
