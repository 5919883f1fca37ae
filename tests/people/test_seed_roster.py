"""``flask seed naxi`` seeds 纳溪区's roster with exactly the district's numbers and plans it:
every grid an officer (three of them two), every micro-grid exactly one responsible worker, every
village a mediator, nothing uncovered, no capacity exceeded (issue 5)."""

from collections import Counter

import pytest
import sqlalchemy as sa

from gridgov.people import service
from gridgov.people.models import Assignment, Studio, Worker
from gridgov.tree import service as tree_service
from gridgov.tree.levels import Level
from gridgov.tree.models import Unit

ROLES = {
    "grid_officer": 205,
    "community_police_chief": 15,
    "legal_expert": 6,
    "gold_mediator": 30,
    "counsellor": 16,
    "social_worker": 71,
}
VILLAGE_STAFF = {"grid_worker", "mediator", "auxiliary_police"}  # 388 in all
GRIDS, MICROGRIDS, VILLAGES = 202, 3286, 156


@pytest.fixture
def naxi(app, session):
    result = app.test_cli_runner().invoke(args=["seed", "naxi", "--cases", "0"])
    assert result.exit_code == 0, result.output
    assert "roster:" in result.output
    return result


def current(session, duty=None):
    stmt = (sa.select(Assignment.duty, Assignment.unit_id, Assignment.worker_id, Unit.level)
            .join(Unit, Unit.id == Assignment.unit_id).where(Assignment.ends_on.is_(None)))
    if duty is not None:
        stmt = stmt.where(Assignment.duty == duty)
    return session.execute(stmt).all()


def units_of(session, level):
    return set(session.scalars(sa.select(Unit.id).where(Unit.level == level)))


def test_the_roster_has_exactly_the_districts_numbers(session, naxi):
    per_role = Counter({role.value: count for role, count in
                        session.execute(sa.select(Worker.role, sa.func.count()).group_by(Worker.role))})
    village_staff = sum(per_role.pop(role, 0) for role in VILLAGE_STAFF)
    assert village_staff == 388
    assert dict(per_role) == ROLES  # and no other roles
    assert session.scalar(sa.select(sa.func.count()).select_from(Worker).where(~Worker.active)) == 0


def test_every_grid_has_an_officer_and_three_have_two(session, naxi):
    officers = Counter(row.unit_id for row in current(session, "grid_officer"))
    assert set(officers) == units_of(session, Level.GRID) and len(officers) == GRIDS
    assert Counter(officers.values()) == {1: GRIDS - 3, 2: 3}
    roles = dict(session.execute(sa.select(Worker.id, Worker.role)).all())
    assert {roles[row.worker_id].value for row in current(session, "grid_officer")} == {"grid_officer"}
    assert {row.level for row in current(session, "grid_officer")} == {Level.GRID}


def test_every_micro_grid_has_exactly_one_responsible_worker(session, naxi):
    rows = current(session, "microgrid_responsible")
    responsible = Counter(row.unit_id for row in rows)
    assert set(responsible) == units_of(session, Level.MICROGRID) and len(responsible) == MICROGRIDS
    assert set(responsible.values()) == {1}
    roles = dict(session.execute(sa.select(Worker.id, Worker.role)).all())
    assert {roles[row.worker_id].value for row in rows} <= VILLAGE_STAFF


def test_every_village_has_a_mediator(session, naxi):
    rows = current(session, "village_mediator")
    assert {row.unit_id for row in rows} == units_of(session, Level.VILLAGE)
    assert len(units_of(session, Level.VILLAGE)) == VILLAGES
    roles = dict(session.execute(sa.select(Worker.id, Worker.role)).all())
    assert {roles[row.worker_id].value for row in rows} == {"mediator"}


def test_only_the_issues_duties_are_assigned(session, naxi):
    assert {row.duty for row in current(session)} == {"grid_officer", "microgrid_responsible", "village_mediator"}
    # 205 officers in their grids, one responsible per micro-grid, one mediator per village.
    assert Counter(row.duty for row in current(session)) == {
        "grid_officer": 205, "microgrid_responsible": MICROGRIDS, "village_mediator": VILLAGES}
    assert session.scalar(sa.select(sa.func.count()).select_from(Assignment).where(Assignment.ends_on.isnot(None))) == 0


def test_capacities_are_respected(session, naxi):
    capacity = dict(session.execute(sa.select(Worker.id, Worker.capacity)).all())
    load = Counter(row.worker_id for row in current(session))
    over = {worker: count for worker, count in load.items() if count > capacity[worker]}
    assert over == {}


def test_the_district_coverage_lists_nothing_uncovered(session, naxi):
    district = tree_service.get_unit_by_code(session, code="510503")
    assert service.coverage(session, unit=district)["uncovered"] == []


def test_studio_members_come_from_the_roster(session, naxi):
    studios = list(session.scalars(sa.select(Studio)))
    assert len(studios) >= 3
    assert all(studio.members for studio in studios)
    names = {studio.name for studio in studios}
    assert {"劳动争议调解工作室", "消费纠纷调解室", "家事邻里调解室"} <= names
    total = session.scalar(sa.select(sa.func.count()).select_from(Worker))
    assert total == 388 + sum(ROLES.values())  # studios added nobody


def test_planning_the_seeded_district_again_changes_nothing(session, naxi):
    from datetime import date

    district = tree_service.get_unit_by_code(session, code="510503")
    again = service.plan_scope(session, scope_unit_id=district.id, apply=False, today=date.today())
    assert again["added"] == [] and again["ended"] == []
    assert len(again["kept"]) == len(current(session))
