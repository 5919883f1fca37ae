"""``flask --app gridgov cases …``"""

import sys

import click

from gridgov.cases import sweep as sweep_module
from gridgov.cases.service import KEYS_KEPT
from gridgov.db import CommandGroup, db
from gridgov.reports import service as report_service


@click.group(cls=CommandGroup, help="Cases.")
def cases():
    pass


@cases.command("sweep")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@click.option("--quiet", is_flag=True, help="Print the counts only when something was done (cron mails any output).")
def sweep_command(batch_size, quiet):
    """Escalate overdue cases where policy says so; mark the others red; count provisional
    deadlines (cases') and due times (residents' reports') again on the installed holiday data;
    forget idempotency keys older than a week.

    Idempotent and safe to run in parallel; run it every few minutes, e.g. from cron:
    */5 * * * * cd /srv/gridgov && .venv/bin/flask --app gridgov cases sweep --quiet
    """
    counts = sweep_module.sweep(db.session, batch_size=batch_size,
                                progress=lambda n: click.echo(f"  {n} handled", err=True) if n else None)
    reports = report_service.recount_triage_due(db.session, batch_size=batch_size)
    # Keys are forgotten on most runs: that is housekeeping, not news for cron to mail.
    if quiet and not (reports or any(count for name, count in counts.items() if name != "keys_forgotten")):
        return
    click.echo(f"{counts['escalated']} escalated, {counts['marked']} marked red, "
               f"{counts['recounted']} provisional deadlines recounted, "
               f"{reports} reports' triage due times recounted, "
               f"{counts['keys_forgotten']} idempotency keys older than {KEYS_KEPT.days} days forgotten",
               file=sys.stdout)
