"""``flask seed naxi`` and ``flask seed synthetic``: the demo district and the scale forest."""

from collections import defaultdict

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import aliased

from gridgov.cases.models import Case
from gridgov.tree import service, transfer
from gridgov.tree.levels import Level
from gridgov.tree.models import Unit, in_subtree
from seeds import naxi, synthetic

NAXI_SHAPE = {"district": 1, "town": 13, "village": 156, "grid": 202, "microgrid": 3286}
NAXI_UNITS = sum(NAXI_SHAPE.values())  # 3,658
VILLAGES_PER_TOWN = {
    "安富街道": 9, "永宁街道": 11, "东升街道": 8, "大渡口镇": 12, "护国镇": 20, "打古镇": 15, "上马镇": 9,
    "合面镇": 12, "丰乐镇": 12, "白节镇": 16, "天仙镇": 15, "新乐镇": 7, "龙车镇": 10,
}


def run(app, *args):
    result = app.test_cli_runner().invoke(args=["seed", *args])
    assert result.exit_code == 0, result.output
    return result


def shape(session, district_code):
    """Units per level in a district's subtree."""
    district = service.get_unit_by_code(session, code=district_code)
    stmt = sa.select(Unit.level, sa.func.count()).where(in_subtree(Unit.path, district.path)).group_by(Unit.level)
    return {level.value: count for level, count in session.execute(stmt)}


def children_per_unit(session, level):
    """For every unit of ``level``: its name and how many children it has."""
    child = aliased(Unit)
    stmt = (
        sa.select(Unit.code, Unit.name, sa.func.count(child.id))
        .outerjoin(child, child.parent_id == Unit.id)
        .where(Unit.level == level)
        .group_by(Unit.id)
    )
    return list(session.execute(stmt))


def snapshot(session):
    columns = (Unit.code, Unit.id, Unit.path, Unit.version, Unit.households, Unit.population)
    return {row.code: tuple(row) for row in session.execute(sa.select(*columns))}


@pytest.fixture
def naxi_seeded(app, session):
    return run(app, "naxi", "--cases", "0")  # the tree and the accounts; cases have their own test


def test_naxi_has_the_real_district_shape(session, naxi_seeded):
    assert f"{NAXI_UNITS} created" in naxi_seeded.stdout
    assert shape(session, "510503") == NAXI_SHAPE


def test_naxi_villages_per_town(session, naxi_seeded):
    towns = children_per_unit(session, "town")

    assert {name: count for _code, name, count in towns} == VILLAGES_PER_TOWN


def test_naxi_every_village_has_grids_and_every_grid_micro_grids(session, naxi_seeded):
    grids_per_village = [count for *_unit, count in children_per_unit(session, "village")]
    micro_per_grid = [count for *_unit, count in children_per_unit(session, "grid")]

    assert min(grids_per_village) >= 1
    assert min(micro_per_grid) >= 1
    assert 15.5 <= sum(micro_per_grid) / len(micro_per_grid) <= 17  # 3,286 / 202 ≈ 16.3


def test_seeding_naxi_twice_changes_nothing(app, session, naxi_seeded):
    before = snapshot(session)

    again = run(app, "naxi", "--cases", "0")

    assert f"0 created, 0 updated, 0 moved, {NAXI_UNITS} unchanged" in again.stdout
    assert snapshot(session) == before


def test_seeding_again_after_a_demo_account_was_deactivated_leaves_it_so(app, session, naxi_seeded):
    """Before, the second run stopped with a traceback, half done."""
    from gridgov.auth.models import Principal

    assert app.test_cli_runner().invoke(args=["principals", "deactivate", "naxi.auditor"]).exit_code == 0
    again = run(app, "naxi", "--cases", "0")
    assert "naxi.auditor" in again.stdout and "deactivated: no token" in again.stdout
    assert session.scalar(sa.select(Principal.active).where(Principal.username == "naxi.auditor")) is False


def test_seeding_again_takes_accounts_named_so_in_another_case_for_its_own(app, session, naxi_seeded):
    """Usernames are one account per name whatever its case; before, an account named Naxi.Command
    (or NAXI.510503002) stopped the next seed with a traceback, trying to make naxi.command."""
    from gridgov.auth.models import Principal

    for old, new in (("naxi.command", "Naxi.Command"), ("naxi.510503002", "NAXI.510503002")):
        renamed = app.test_cli_runner().invoke(args=["principals", "rename", old, new])
        assert renamed.exit_code == 0, renamed.output

    again = run(app, "naxi", "--cases", "0")

    assert "Naxi.Command" in again.stdout
    names = list(session.scalars(sa.select(Principal.username).where(
        sa.func.lower(Principal.username).in_(["naxi.command", "naxi.510503002"]))))
    assert sorted(names) == ["NAXI.510503002", "Naxi.Command"]


def test_cases_are_generated_only_where_units_are_in_use(app, session):
    """Before, the seed picked retired micro-grids too: it stopped half-way with a traceback."""
    transfer.import_units(session, rows=naxi.rows())
    town = service.get_unit_by_code(session, code="510503101")  # 护国镇, where neither story happens
    retired = list(session.scalars(sa.select(Unit).where(in_subtree(Unit.path, town.path),
                                                         Unit.level == Level.MICROGRID)))
    for unit in retired:
        service.update_unit(session, unit=unit, active=False)
    session.commit()

    assert "300 generated cases" in run(app, "naxi", "--cases", "300").stdout
    origins = set(session.scalars(sa.select(Case.origin_unit_id)))
    assert origins and not origins & {unit.id for unit in retired}


def test_naxi_rows_are_deterministic():
    assert naxi.rows() == naxi.rows()


def test_naxi_figures_are_plausible_and_add_up():
    rows = naxi.rows()
    children = defaultdict(list)
    for row in rows:
        children[row.parent_code].append(row)

    for row in rows:
        assert (row.households or 0) >= 0 and (row.population or 0) >= 0, row
        assert abs(row.latitude - 28.77) <= 0.5 and abs(row.longitude - 105.37) <= 0.5, row
        if row.level.value in ("town", "village", "grid"):
            assert row.households == sum(child.households for child in children[row.code]), row


def test_synthetic_districts_have_naxi_shape_and_codes_starting_with_9(app, session):
    result = run(app, "synthetic", "--districts", "2")

    assert f"{2 * NAXI_UNITS} created" in result.stdout
    for code in ("900001", "900002"):
        district = service.get_unit_by_code(session, code=code)
        assert shape(session, code) == NAXI_SHAPE
        codes = session.scalars(sa.select(Unit.code).where(in_subtree(Unit.path, district.path))).all()
        assert all(code.startswith("9") for code in codes)


def test_synthetic_is_deterministic(app, session):
    first, second = list(synthetic.rows(2)), list(synthetic.rows(2))
    assert first == second
    assert [row.households for row in first[0]] != [row.households for row in first[1]]

    run(app, "synthetic", "--districts", "2")
    again = run(app, "synthetic", "--districts", "2")
    assert f"0 created, 0 updated, 0 moved, {2 * NAXI_UNITS} unchanged" in again.stdout


def test_synthetic_needs_at_least_one_district(app, session):
    result = app.test_cli_runner().invoke(args=["seed", "synthetic", "--districts", "0"])

    assert result.exit_code == 2
    assert session.scalar(sa.select(Unit.id).where(Unit.code.startswith("9"))) is None


def test_naxi_cases_are_real_cases_in_every_status_mostly_settled_locally(app, session):
    """About 2,000 cases made through the case services: every status, real events, and the
    district's rule in the numbers — at least 70% of what was resolved, resolved at the grid or
    the village; few at the district."""
    from gridgov.cases import service as case_service
    from gridgov.cases.enums import Status
    from gridgov.cases.models import Case, CaseEvent

    result = run(app, "naxi")
    assert "2000 generated cases" in result.stdout
    assert "纳溪区 cases" in result.stderr  # a progress bar: before, nothing moved for a minute
    assert "the district's two stories" in result.stdout  # two more cases: tests/reports/test_stories.py

    by_status = dict(session.execute(sa.select(Case.status, sa.func.count()).group_by(Case.status)).all())
    assert sum(by_status.values()) == 2000 + 2
    assert set(by_status) >= {
        Status.REPORTED, Status.ACCEPTED, Status.IN_PROGRESS, Status.CLOSED,
        Status.SUSPENDED, Status.REFERRED, Status.REJECTED, Status.REOPENED,
    }
    resolved_at = dict(session.execute(
        sa.select(Case.resolved_level, sa.func.count()).where(Case.resolved_level.is_not(None)).group_by(Case.resolved_level)
    ).all())
    resolved = sum(resolved_at.values())
    local = sum(count for level, count in resolved_at.items() if level.value in ("grid", "village"))
    assert local / resolved >= 0.7
    assert resolved_at.get(next(level for level in resolved_at if level.value == "district"), 0) / resolved < 0.1
    # Every case began with a real "create" event, and its events rebuild it.
    firsts = session.execute(
        sa.select(CaseEvent.action).where(CaseEvent.id.in_(
            sa.select(sa.func.min(CaseEvent.id)).group_by(CaseEvent.case_id)
        ))
    ).scalars().all()
    assert len(firsts) == 2000 + 2 and set(firsts) == {"create"}
    for case in session.scalars(sa.select(Case).order_by(Case.id).limit(200)):
        assert case_service.replay(case_service.events(session, case=case)) == case_service.snapshot(case)

    # The timelines name only people who could have done what they record: each event's actor,
    # if any, has the case where it happened or where it was handled within their scope.
    from gridgov.auth.models import Principal
    from gridgov.auth.permissions import Role

    named = session.execute(
        sa.select(Principal.scope_path, Case.origin_path, CaseEvent.from_owner_unit_id, CaseEvent.to_owner_unit_id)
        .join(CaseEvent, CaseEvent.actor_id == Principal.id).join(Case, Case.id == CaseEvent.case_id)
    ).all()
    unit_paths = dict(session.execute(sa.select(Unit.id, Unit.path)).all())
    assert named
    impossible = [row for row in named if not any(
        path.startswith(row.scope_path)
        for path in (row.origin_path, unit_paths.get(row.from_owner_unit_id, ""), unit_paths.get(row.to_owner_unit_id, "")))]
    assert impossible == []
    # … and they name the stations that do the work, not district command for everything: the
    # grid's worker logs, the village's station or the town's centre handles, the level above
    # verifies.
    roles = dict(session.execute(
        sa.select(CaseEvent.action, sa.func.count()).join(Principal, Principal.id == CaseEvent.actor_id)
        .where(Principal.role == "grid_worker").group_by(CaseEvent.action)
    ).all())
    assert roles.get("create", 0) >= 0.95 * 2000
    by_role = dict(session.execute(
        sa.select(Principal.role, sa.func.count()).join(CaseEvent, CaseEvent.actor_id == Principal.id)
        .group_by(Principal.role)
    ).all())
    everyone = sum(by_role.values())
    assert by_role[Role.VILLAGE_STATION] > 0.2 * everyone and by_role[Role.TOWN_CENTRE] > 0.1 * everyone
    assert by_role[Role.DISTRICT_COMMAND] < 0.15 * everyone
    stations = session.scalar(sa.select(sa.func.count()).select_from(Principal).where(Principal.username.like("naxi.5%")))
    assert stations == 13 + 156 + 202 - 3  # every town, village and grid; three have demo accounts

    again = run(app, "naxi")
    assert "none added" in again.stdout
