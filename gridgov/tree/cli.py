"""``flask --app gridgov units …``"""

import sys
from pathlib import Path

import click

from gridgov.db import CommandGroup, db
from gridgov.errors import DomainError
from gridgov.tree import transfer


@click.group(cls=CommandGroup, help="The administrative tree.")
def units():
    pass


@units.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--encoding", type=click.Choice(sorted(transfer.ENCODINGS), case_sensitive=False), default="utf-8",
              show_default=True, help="gbk: a file Excel saved as “CSV (逗号分隔)” on Chinese Windows.")
def import_command(file: Path, encoding: str):
    """Upsert units from FILE.csv, all or nothing: columns code,name,level,parent_code, and
    optionally households,population,latitude,longitude,active (the export's)."""
    try:
        table = transfer.parse_csv(file.read_bytes(), encoding=encoding)
        with click.progressbar(length=len(table.rows), label=f"Importing {file.name}", file=sys.stderr) as bar:
            counts = transfer.import_units(
                db.session,
                rows=table.rows,
                columns=table.columns,
                problems=table.problems,
                progress=bar.update,
            )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        click.echo(f"Error: {error.detail}", err=True)  # it says nothing was changed
        for where, messages in (error.errors or {}).items():
            for message in messages:
                click.echo(f"  {where}: {message}", err=True)
        sys.exit(1)
    click.echo(", ".join(f"{count} {what}" for what, count in counts.items()))
