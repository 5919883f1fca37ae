"""``flask --app gridgov seed …``: demo and scale data, written through the same services as
real use."""

import sys
from datetime import timedelta

import click
import sqlalchemy as sa

from gridgov.auth import service as auth_service
from gridgov.auth.models import Principal
from gridgov.auth.permissions import Role
from gridgov.cases import calendar
from gridgov.db import CommandGroup, db
from gridgov.tree import service as tree_service
from gridgov.tree import transfer
from gridgov.tree.levels import Level
from gridgov.tree.models import Unit, in_subtree
from seeds import cases as case_seed
from seeds import people as people_seed
from seeds import naxi, stories, synthetic

DEMO_TOKEN_DAYS = 30


@click.group(cls=CommandGroup, help="Load demo or synthetic data.")
def seed():
    pass


@seed.command("naxi")
@click.option("--cases", "case_count", type=click.IntRange(0, 100_000), default=case_seed.COUNT, show_default=True,
              help="Generated cases (only when the district has none yet).")
def seed_naxi(case_count: int):
    """纳溪区: 13 towns/streets, 156 villages/communities, 202 grids, 3,286 micro-grids, an
    account per role, and generated cases."""
    rows = naxi.rows()
    with click.progressbar(length=len(rows), label="纳溪区 units", file=sys.stderr) as bar:
        counts = transfer.import_units(db.session, rows=rows, progress=bar.update)
    db.session.commit()
    click.echo(f"纳溪区 ({naxi.CODE}): " + ", ".join(f"{n} {what}" for what, n in counts.items()))
    planned = people_seed.seed(db.session, district_code=naxi.CODE, today=calendar.today())
    db.session.commit()
    if planned:
        click.echo(f"roster: {len(planned['added'])} assignments planned; load per worker "
                   f"min {planned['load']['min']}, median {planned['load']['median']}, max {planned['load']['max']}")
    accounts = _demo_accounts()
    people_seed.link_specialist(db.session, district_code=naxi.CODE, principal=accounts["naxi.expert"])
    stations = _station_accounts(accounts)
    with click.progressbar(length=case_count, label="纳溪区 cases", file=sys.stderr) as bar:
        made = case_seed.seed(db.session, district_code=naxi.CODE, count=case_count, progress=bar.update,
                              stations=case_seed.Stations(db.session, by_unit=stations,
                                                          command=accounts["naxi.command"]))
    if case_count:
        click.echo(f"{made} generated cases" if made else "cases: the district has some already; none added")
    told = stories.seed(db.session, district_code=naxi.CODE, accounts=accounts, today=calendar.today())
    db.session.commit()
    if told:
        click.echo("the district's two stories, as cases: " + ", ".join(told))


def _demo_accounts() -> dict[str, Principal]:
    """One account per role with a fresh token each run; existing accounts keep their password."""
    lines = []
    accounts = {}
    for username, role, scope_code, display_name in naxi.DEMO_ACCOUNTS:
        # As people type it (Naxi.Command is naxi.command): an account made so by hand is the one.
        principal = db.session.scalars(sa.select(Principal).where(sa.func.lower(Principal.username) == username)
                                        .order_by(Principal.id).limit(1)).first()
        if principal is None:
            scope = tree_service.get_unit_by_code(db.session, code=scope_code)
            password = None if role == Role.INTEGRATION else naxi.DEMO_PASSWORD
            principal = auth_service.create_principal(
                db.session, username=username, display_name=display_name, role=Role(role),
                scope_unit_id=scope.id, password=password,
            )
        accounts[username] = principal
        if not principal.active:  # someone deactivated it: it stays so, and gets no token
            lines.append(f"  {role:<17} {principal.username:<17} (deactivated: no token)")
            continue
        _token, text = auth_service.issue_token(
            db.session, principal=principal, name="demo", expires_in=timedelta(days=DEMO_TOKEN_DAYS)
        )
        lines.append(f"  {role:<17} {principal.username:<17} {text}")
    db.session.commit()
    click.echo(f"\nDemo accounts (password {naxi.DEMO_PASSWORD!r} unless changed; the integration account has none).")
    click.echo(f"A fresh API token for each, valid {DEMO_TOKEN_DAYS} days:")
    click.echo("\n".join(lines))
    click.echo('Try: curl -H "Authorization: Bearer <token>" <the service\'s address>/api/v1/me')
    return accounts


def _station_accounts(demo: dict[str, Principal]) -> dict[int, Principal]:
    """An account for every town, village and grid of the district (the demo account where one
    is scoped there), by unit id; made once, without password or token."""
    by_unit = {account.scope_unit_id: account for account in demo.values()
               if account.role in (Role.TOWN_CENTRE, Role.VILLAGE_STATION, Role.GRID_WORKER)}
    district = tree_service.get_unit_by_code(db.session, code=naxi.CODE)
    existing = {principal.username.lower(): principal for principal in db.session.scalars(
        sa.select(Principal).where(sa.func.lower(Principal.username).like("naxi.5%")))}
    units = db.session.scalars(sa.select(Unit).where(
        in_subtree(Unit.path, district.path), Unit.level.in_([Level.TOWN, Level.VILLAGE, Level.GRID])).order_by(Unit.path))
    made = 0
    for unit in units:
        if unit.id in by_unit:
            continue
        role, suffix = naxi.STATIONS[unit.level.value]
        username = naxi.station_username(unit.code)
        principal = existing.get(username)
        if principal is None:
            principal = auth_service.create_principal(db.session, username=username, display_name=unit.name + suffix,
                                                      role=Role(role), scope_unit_id=unit.id)
            made += 1
        by_unit[unit.id] = principal
    db.session.commit()
    if made:
        click.echo(f"{made} accounts of the towns' centres, villages' stations and grids' workers "
                   f"(naxi.<unit code>; no password: the timelines name them)")
    return by_unit


@seed.command("synthetic")
@click.option("--districts", type=click.IntRange(1, 9999), required=True, help="How many districts.")
def seed_synthetic(districts: int):
    """A deterministic forest of DISTRICTS districts of Naxi's shape (3,658 units each)."""
    total = {"created": 0, "updated": 0, "moved": 0, "unchanged": 0}
    with click.progressbar(length=districts, label="districts", file=sys.stderr) as bar:
        for rows in synthetic.rows(districts):
            counts = transfer.import_units(db.session, rows=rows)
            db.session.commit()
            for key, value in counts.items():
                total[key] += value
            bar.update(1)
    click.echo(f"{districts} synthetic district{'' if districts == 1 else 's'}: " + ", ".join(f"{n} {what}" for what, n in total.items()))
