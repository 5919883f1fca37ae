"""The roster, studios, assignments and planning who covers what."""

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from statistics import median

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gridgov.auth.models import Principal
from gridgov.auth.scope import UNSCOPED, current_scope_path
from gridgov.cases import calendar
from gridgov.cases.enums import OPEN_STATUSES
from gridgov.cases.models import Case
from gridgov.db import one_by_id
from gridgov.errors import Conflict, Forbidden, NotFound, RuleViolation
from gridgov.people import planner
from gridgov.people.duties import DUTIES, DUTY_BY_NAME, DUTY_ROLES
from gridgov.people.models import Assignment, Studio, Worker, studio_members
from gridgov.tree import paths
from gridgov.tree import service as tree_service
from gridgov.tree.levels import Level
from gridgov.tree.models import Unit, in_subtree

OVERLOADED, UNDERLOADED = 1.2, 0.5  # of the scope's median load


# --- the roster ---------------------------------------------------------------------------------


def get_worker(session: Session, *, worker_id: int) -> Worker:
    return one_by_id(session, Worker, worker_id, label="Worker")


def list_workers(session: Session, *, role=None, home_unit_id=None, active=None, after_id=None, limit: int):
    stmt = sa.select(Worker).order_by(Worker.id).limit(limit + 1)
    if role is not None:
        stmt = stmt.where(Worker.role == role)
    if home_unit_id is not None:
        stmt = stmt.where(in_subtree(Worker.home_path, tree_service.get_unit(session, unit_id=home_unit_id).path))
    if active is not None:
        stmt = stmt.where(Worker.active == active)
    if after_id is not None:
        stmt = stmt.where(Worker.id > after_id)
    return list(session.scalars(stmt))


def create_worker(session: Session, *, name, role, home_unit_id, capacity=1, phone=None, principal_id=None) -> Worker:
    home = _home(session, home_unit_id)
    _check_principal(session, principal_id)
    worker = Worker(
        name=name, role=role, phone=phone, home_unit_id=home.id, home_path=home.path,
        district_id=home.district_id, capacity=capacity, principal_id=principal_id,
    )
    session.add(worker)
    _flush_link(session)
    return worker


def _home(session: Session, unit_id: int) -> Unit:
    home = tree_service.get_unit(session, unit_id=unit_id)
    if not home.active:
        raise RuleViolation(f"{home.name} is no longer in use; no one is based there.",
                            errors={"home_unit_id": ["inactive unit"]})
    return home


def _check_principal(session: Session, principal_id: int | None, *, worker_id: int | None = None) -> None:
    """A worker links to a principal of the caller's scope that no other worker links to."""
    if principal_id is None:
        return
    if session.scalar(sa.select(Principal.id).where(Principal.id == principal_id)) is None:
        raise NotFound(f"Principal {principal_id} does not exist here.")
    linked = session.scalar(sa.select(Worker.id).where(Worker.principal_id == principal_id).execution_options(**UNSCOPED))
    if linked is not None and linked != worker_id:
        raise Conflict("That principal is linked to another worker already.")


def _flush_link(session: Session) -> None:
    try:
        session.flush()
    except sa.exc.IntegrityError:  # another request linked the principal since the check
        session.rollback()  # the whole request fails: nothing of it is kept
        raise Conflict("That principal is linked to another worker already.") from None


def update_worker(session: Session, *, worker: Worker, version: int | None = None, today: date, **changes) -> Worker:
    home_id = changes.pop("home_unit_id", worker.home_unit_id)
    home = _home(session, home_id) if home_id != worker.home_unit_id else None
    plans_read = bool({"active", "capacity"} & set(changes)) or home is not None  # a phone number is not
    if plans_read:
        districts = _districts_involved(session, worker, home)
        _take_turn(session, district_ids=districts)
    session.refresh(worker, with_for_update=True)  # the version compared is the row's, not an earlier read's
    if plans_read and _districts_involved(session, worker, home) - districts:
        raise Conflict(f"A unit {worker.name} covers moved to another district meanwhile; try again.")
    if version is not None and version != worker.version:
        raise Conflict(f"Worker {worker.id} has changed since version {version}.", current_version=worker.version)
    changed = False
    active = changes.pop("active", None)
    if active is False and worker.active:
        deactivate_worker(session, worker=worker, today=today)  # a version step of its own
    elif active is True and not worker.active:
        worker.active = True  # back on the roster; the next plan may give them units
        changed = True
    if "capacity" in changes and changes["capacity"] < worker.capacity:
        covering = len(_current_of(session, worker.id))
        if changes["capacity"] < covering:
            raise RuleViolation(
                f"{worker.name} covers {covering} units now; plan them away before lowering the capacity."
            )
    if "principal_id" in changes:
        _check_principal(session, changes["principal_id"], worker_id=worker.id)
    if home is not None:
        covering = len(_current_of(session, worker.id))
        if covering:
            # Where a worker is based decides what they may cover: deactivating them first hands
            # their units to others, as leaving would.
            raise Conflict(f"{worker.name} covers {covering} units now; deactivate them first "
                           "(their units change hands), then change where they are based.")
        worker.home_unit_id, worker.home_path, worker.district_id = home.id, home.path, home.district_id
        changed = True
    for key, value in changes.items():
        if getattr(worker, key) != value:
            setattr(worker, key, value)
            changed = True
    if changed:
        worker.version += 1
    _flush_link(session)
    return worker


# --- studios ------------------------------------------------------------------------------------


def get_studio(session: Session, *, studio_id: int) -> Studio:
    return one_by_id(session, Studio, studio_id, label="Studio")


def list_studios(session: Session) -> list[Studio]:
    studios = list(session.scalars(sa.select(Studio).order_by(Studio.id)))
    members = defaultdict(list)  # every studio's member ids in one query, not one per studio
    for studio_id, worker_id in session.execute(
        sa.select(studio_members.c.studio_id, studio_members.c.worker_id)
        .where(studio_members.c.studio_id.in_([studio.id for studio in studios])).order_by(studio_members.c.worker_id)
    ):
        members[studio_id].append(worker_id)
    for studio in studios:
        studio._member_ids = members[studio.id]
    return studios


def create_studio(session: Session, *, name, unit_id, specialties=(), member_ids=()) -> Studio:
    unit = tree_service.get_unit(session, unit_id=unit_id)
    studio = Studio(
        name=name, unit_id=unit.id, path=unit.path, district_id=unit.district_id,
        specialties=sorted({str(category) for category in specialties}),
    )
    studio.members = _workers(session, member_ids)
    session.add(studio)
    session.flush()
    return studio


def update_studio(session: Session, *, studio: Studio, name=None, specialties=None, member_ids=None,
                  version: int | None = None) -> Studio:
    scope_path = current_scope_path()
    if scope_path and not paths.is_descendant_or_self(studio.path, scope_path):
        # Seen from below (it serves the scope) but managed where it sits.
        raise Forbidden(f"{studio.name} belongs to a unit above your scope; it is managed there.")
    session.refresh(studio, with_for_update=True)  # the version compared is the row's, not an earlier read's
    if version is not None and version != studio.version:
        raise Conflict(f"Studio {studio.id} has changed since version {version}.", current_version=studio.version)
    before = (studio.name, list(studio.specialties), studio.member_ids)
    if name is not None:
        studio.name = name
    if specialties is not None:
        studio.specialties = sorted({str(category) for category in specialties})
    if member_ids is not None and set(member_ids) != set(before[2]):
        # Written on the table itself: ``members`` holds only those the editor's scope shows, and
        # assigning it would keep every member above the scope, whatever the list said.
        _workers(session, set(member_ids) - set(before[2]))  # one adds only whom one sees (404)
        session.execute(sa.delete(studio_members).where(studio_members.c.studio_id == studio.id))
        if member_ids:
            session.execute(sa.insert(studio_members), [{"studio_id": studio.id, "worker_id": worker_id}
                                                        for worker_id in sorted(set(member_ids))])
        session.expire(studio, ["members"])
        studio._member_ids = None
    if (studio.name, list(studio.specialties), studio.member_ids) != before:
        studio.version += 1
    session.flush()
    return studio


def _workers(session: Session, ids) -> list[Worker]:
    ids = set(ids)
    found = list(session.scalars(sa.select(Worker).where(Worker.id.in_(ids)))) if ids else []
    if len(found) != len(ids):
        raise NotFound(f"Workers {sorted(ids - {worker.id for worker in found})} do not exist.")
    return sorted(found, key=lambda worker: worker.id)


# --- assignments --------------------------------------------------------------------------------


def assignments(session: Session, *, unit: Unit | None = None, worker: Worker | None = None, history: bool = False):
    stmt = sa.select(Assignment).order_by(Assignment.starts_on.desc(), Assignment.id.desc())
    if unit is not None:
        stmt = stmt.where(Assignment.unit_id == unit.id)
    if worker is not None:
        stmt = stmt.where(Assignment.worker_id == worker.id)
    if not history:
        stmt = stmt.where(Assignment.ends_on.is_(None))
    return list(session.scalars(stmt))


def _people_guard(session: Session, unit) -> str | None:
    """The roster keeps its places: where workers live and studios sit, and who covered what."""
    def exists(stmt) -> bool:
        return session.scalar(stmt.limit(1).execution_options(**UNSCOPED)) is not None

    if exists(sa.select(Assignment.id).where(Assignment.unit_id == unit.id, Assignment.ends_on.is_(None))):
        return f"Unit {unit.code} has current assignments; end them (re-plan) first."
    if exists(sa.select(Worker.id).where(Worker.home_unit_id == unit.id)):
        return f"Workers have unit {unit.code} as their home unit; change their home unit first."
    if exists(sa.select(Studio.id).where(Studio.unit_id == unit.id)):
        return f"A studio sits at unit {unit.code}; move it first."
    if exists(sa.select(Assignment.id).where(Assignment.unit_id == unit.id)):
        return f"Unit {unit.code} was covered by workers (the assignment history keeps it); deactivate it instead."
    return None


tree_service.DELETE_GUARDS.append(_people_guard)


def _before_move(session: Session, *, unit: Unit, new_parent: Unit) -> None:
    """A move rewrites where workers are based and which units their assignments name: it takes
    the districts' turns as a plan does, so that the two queue instead of each holding rows the
    other needs (PostgreSQL then ends one with a deadlock), and so that no plan adds an
    assignment with the old path while the move runs. (A district without workers locks no rows.)"""
    _take_turn(session, district_ids={unit.district_id, new_parent.district_id})


tree_service.BEFORE_MOVE.append(_before_move)


def _end_duties_of_retired(session: Session, *, unit: Unit) -> None:
    """Retired units carry no duties: what their workers covered there ends today, and counts
    no more against their capacity (before, it stayed current until the next plan)."""
    _take_turn(session, district_ids={unit.district_id})
    session.execute(
        sa.update(Assignment).where(Assignment.unit_id == unit.id, Assignment.ends_on.is_(None))
        .values(ends_on=calendar.today()).execution_options(synchronize_session=False)
    )


tree_service.RETIRED.append(_end_duties_of_retired)


# --- planning -----------------------------------------------------------------------------------


def _villages_of(session: Session, scope: Unit) -> list[Unit]:
    """The villages whose units and workers a plan over ``scope`` involves."""
    if scope.level.rank <= Level.VILLAGE.rank:
        return list(session.scalars(
            sa.select(Unit).where(in_subtree(Unit.path, scope.path), Unit.level == Level.VILLAGE)
            .order_by(Unit.path).execution_options(**UNSCOPED)
        ))
    return [tree_service.get_unit_at_path(session, path=paths.ancestor_at(scope.path, Level.VILLAGE.rank))]


@dataclass
class World:
    """Plain values for the planner, for a scope."""

    units: dict  # id → planner.UnitInfo: the scope's units in use that have duties
    # id → planner.WorkerInfo: the active workers who may cover them, with what they hold outside
    # the scope taken off their capacity
    workers: dict
    current: set  # every current assignment of the scope's units (an ineligible one too: a plan ends it)
    here: set  # the workers the scope's load figures are about: based in it, or covering something in it
    elsewhere: dict  # worker id → the load of what they cover outside the scope (in its village)


def _world(session: Session, *, scope: Unit, exclude_worker: int | None = None) -> World:
    villages = _villages_of(session, scope)
    if not villages:
        return World({}, {}, set(), set(), {})
    # One range holds them all: the scope itself, or for a grid or micro-grid its village.
    region = scope.path if scope.level.rank <= Level.VILLAGE.rank else villages[0].path
    rows = session.execute(
        sa.select(Unit.id, Unit.level, Unit.path, Unit.parent_id, Unit.households, Unit.active)
        .where(in_subtree(Unit.path, region)).execution_options(**UNSCOPED)
    ).all()
    by_id = {row.id: row for row in rows}
    open_cases = Counter(dict(session.execute(
        sa.select(Case.origin_unit_id, sa.func.count())
        .where(in_subtree(Case.origin_path, region), Case.status.in_(OPEN_STATUSES))
        .group_by(Case.origin_unit_id).execution_options(**UNSCOPED)
    ).all()))
    # Open cases count for the unit they happened in and every unit above it in the village.
    case_load = Counter()
    for unit_id, count in open_cases.items():
        current = by_id.get(unit_id)
        while current is not None:
            case_load[current.id] += count
            current = by_id.get(current.parent_id)

    def load_of(row) -> float:
        return (row.households or 0) / planner.HOUSEHOLDS_PER_LOAD + case_load[row.id]

    id_at_path = {row.path: row.id for row in rows}

    def id_at_level(path: str, level: Level) -> int | None:
        """The unit of ``level`` above (or at) ``path``, read off the path itself."""
        return id_at_path.get(paths.ancestor_at(path, level.rank)) if paths.depth(path) >= level.rank else None

    units = {}
    for row in rows:
        if (row.level not in (Level.VILLAGE, Level.GRID, Level.MICROGRID) or not row.active
                or not paths.is_descendant_or_self(row.path, scope.path)):
            continue  # no duty here: above the villages, retired, or outside the scope (a grid's village)
        village_id, grid_id = id_at_level(row.path, Level.VILLAGE), id_at_level(row.path, Level.GRID)
        units[row.id] = planner.UnitInfo(row.id, row.level, village_id, grid_id, load_of(row))

    # Workers are based at a village or below (duties never reach further), so the region's range
    # finds them; a worker based above the villages (the expert team) covers no duty.
    workers_rows = [
        worker for worker in session.scalars(
            sa.select(Worker).where(Worker.active, in_subtree(Worker.home_path, region)).execution_options(**UNSCOPED)
        )
        if paths.depth(worker.home_path) >= Level.VILLAGE.rank and worker.id != exclude_worker
    ]
    current = {tuple(row) for row in session.execute(
        sa.select(Assignment.duty, Assignment.unit_id, Assignment.worker_id)
        .where(Assignment.ends_on.is_(None), in_subtree(Assignment.unit_path, scope.path))
        .execution_options(**UNSCOPED)
    )}
    held, elsewhere = Counter(), defaultdict(float)
    for worker_id, unit_id in session.execute(
        sa.select(Assignment.worker_id, Assignment.unit_id)
        .join(Worker, Worker.id == Assignment.worker_id)
        .where(Assignment.ends_on.is_(None), Worker.active, in_subtree(Worker.home_path, region),
               sa.not_(in_subtree(Assignment.unit_path, scope.path)))
        .execution_options(**UNSCOPED)
    ):
        held[worker_id] += 1
        if unit_id in by_id:  # a unit moved out of the village since has no load known here
            elsewhere[worker_id] += load_of(by_id[unit_id])
    workers = {
        worker.id: planner.WorkerInfo(
            worker.id, worker.role.value, worker.home_unit_id, max(0, worker.capacity - held[worker.id]),
            village_id=id_at_level(worker.home_path, Level.VILLAGE), held=held[worker.id],
            held_load=elsewhere.get(worker.id, 0.0),
        )
        for worker in workers_rows
    }
    here = {worker.id for worker in workers_rows
            if worker.capacity > 0 and worker.role.value in DUTY_ROLES
            and paths.is_descendant_or_self(worker.home_path, scope.path)}
    here |= {worker_id for _duty, _unit_id, worker_id in current if worker_id in workers}
    return World(units, workers, current, here, dict(elsewhere))


def plan_scope(session: Session, *, scope_unit_id: int, apply: bool, today: date, change_cost: float | None = None) -> dict:
    """Plan every duty in the subtree; with ``apply`` make it so. Infeasible → 422 listing every
    uncovered duty, and nothing is changed."""
    scope = tree_service.get_unit(session, unit_id=scope_unit_id)
    if apply:
        _take_turn(session, district_ids={scope.district_id})
    world = _world(session, scope=scope)
    result = planner.plan(units=world.units, workers=world.workers, current=world.current, change_cost=change_cost)
    if not result.feasible:
        raise RuleViolation(
            f"Not every duty in {scope.name} can be covered; nothing was changed.",
            uncovered=_describe(session, result.uncovered),
        )
    if apply:
        _apply(session, ended=result.ended, added=result.added, today=today)
    return _answer(session, result, world)


def deactivate_worker(session: Session, *, worker: Worker, today: date) -> None:
    """Take the worker off the roster; only the units they covered change hands (everyone else
    keeps what they cover), or nothing happens and 422 lists the units that would be left
    uncovered. The caller (``update_worker``) has taken the turns of the districts involved."""
    theirs = _current_of(session, worker.id)
    worker.active = False
    if theirs:
        units, current = {}, set()
        candidates: dict[int, planner.WorkerInfo] = {}
        villages = set()
        for unit_id in sorted({unit_id for _duty, unit_id, _worker in theirs}):
            unit = tree_service.get_unit_unscoped(session, unit_id=unit_id)
            for village in _villages_of(session, unit) or [unit]:
                if village.id not in villages:
                    villages.add(village.id)
                    world = _world(session, scope=village, exclude_worker=worker.id)
                    units.update(world.units)
                    candidates.update(world.workers)
                    current |= world.current
        # What they may still hold is handed over; what they may not (a unit moved away from where
        # they are based; a unit retired before retiring ended its duties) just ends: coverage
        # shows it already, and it is no reason to keep them.
        leaver = planner.WorkerInfo(worker.id, worker.role.value, worker.home_unit_id, 0)
        handed = {(name, unit_id, holder) for name, unit_id, holder in theirs if unit_id in units
                  and name in DUTY_BY_NAME and planner.eligible(DUTY_BY_NAME[name], units[unit_id], leaver, units)}
        duties = tuple(duty for duty in DUTIES if any(name == duty.name for name, _u, _w in handed))
        # Capacity left, counted once from every current assignment of each candidate, wherever
        # it lies (their villages may be several, after a move).
        used = Counter(dict(session.execute(
            sa.select(Assignment.worker_id, sa.func.count())
            .where(Assignment.ends_on.is_(None), Assignment.worker_id.in_(candidates))
            .group_by(Assignment.worker_id).execution_options(**UNSCOPED)
        ).all())) if candidates else Counter()
        capacity = dict(session.execute(
            sa.select(Worker.id, Worker.capacity).where(Worker.id.in_(candidates)).execution_options(**UNSCOPED)
        ).all()) if candidates else {}
        only = {unit_id: units[unit_id] for _name, unit_id, _worker in handed}
        planned = {duty.name for duty in duties}
        # The colleagues on those units keep their places, as long as they may hold them.
        fixed = frozenset(
            (name, unit_id, holder) for name, unit_id, holder in current
            if unit_id in only and holder != worker.id and name in planned and holder in candidates
            and planner.eligible(DUTY_BY_NAME[name], only[unit_id], candidates[holder], units)
        )
        # The load of what each holds besides (the planner counts the fixed places itself).
        held_load = defaultdict(float)
        for item in current - fixed:
            if item[2] in candidates and item[1] in units:
                held_load[item[2]] += units[item[1]].load
        free = {
            worker_id: planner.WorkerInfo(info.id, info.role, info.home_unit_id,
                                          max(0, capacity[worker_id] - used[worker_id]),
                                          village_id=info.village_id, held=used[worker_id],
                                          held_load=held_load[worker_id])
            for worker_id, info in candidates.items()
        }
        result = planner.plan(units=only, workers=free, current=fixed, fixed=fixed, duties=duties)
        if not result.feasible:
            worker.active = True
            raise RuleViolation(
                f"{worker.name} cannot leave: these would be uncovered.",
                uncovered=_describe(session, result.uncovered),
            )
        _apply(session, ended=theirs, added=result.added, today=today)
    worker.version += 1
    session.flush()


def _districts_involved(session: Session, worker: Worker, home: Unit | None) -> set[int]:
    """The districts whose assignments a change of ``worker`` may change: theirs, those of the
    units they cover (a unit may have moved to another district), and where they would be based."""
    covered = session.scalars(
        sa.select(Assignment.district_id).where(Assignment.worker_id == worker.id, Assignment.ends_on.is_(None))
        .execution_options(**UNSCOPED)
    )
    return {worker.district_id, *covered, *([home.district_id] if home else [])}


def _current_of(session: Session, worker_id: int) -> set:
    """The worker's current assignments, wherever they lie (not only in the caller's scope)."""
    return {tuple(row) for row in session.execute(
        sa.select(Assignment.duty, Assignment.unit_id, Assignment.worker_id)
        .where(Assignment.worker_id == worker_id, Assignment.ends_on.is_(None))
        .execution_options(**UNSCOPED)
    )}


def _take_turn(session: Session, *, district_ids: set[int]) -> None:
    """Changes to a district's assignments take turns, on the rows of its roster: a plan reads the
    assignments and the workers' capacities across the district, and two plans made from the same
    reading would each add what the other added too. Several districts (a worker leaving units
    that moved to another district) in id order, as everyone takes them. (Not on the district's
    own row: every case logged in the district share-locks that one, and a plan takes a second
    or so.)"""
    for district_id in sorted(district_ids):
        session.execute(
            sa.select(Worker.id).where(Worker.district_id == district_id).order_by(Worker.id).with_for_update()
            .execution_options(**UNSCOPED)
        ).all()


def _apply(session: Session, *, ended, added, today: date) -> None:
    for duty, unit_id, worker_id in sorted(ended):
        session.execute(
            sa.update(Assignment)
            .where(Assignment.duty == duty, Assignment.unit_id == unit_id, Assignment.worker_id == worker_id,
                   Assignment.ends_on.is_(None))
            .values(ends_on=today)
            .execution_options(synchronize_session=False)
        )
    if added:
        paths = dict(session.execute(
            sa.select(Unit.id, Unit.path).where(Unit.id.in_({unit_id for _d, unit_id, _w in added}))
            .execution_options(**UNSCOPED)
        ).all())
        districts = dict(session.execute(
            sa.select(Unit.id, Unit.district_id).where(Unit.id.in_(paths)).execution_options(**UNSCOPED)
        ).all())
        session.execute(sa.insert(Assignment), [
            {"worker_id": worker_id, "unit_id": unit_id, "unit_path": paths[unit_id],
             "district_id": districts[unit_id], "duty": duty, "starts_on": today}
            for duty, unit_id, worker_id in sorted(added)
        ])
    session.expire_all()


def _describe(session: Session, uncovered: list[dict]) -> list[dict]:
    """The uncovered duties with their units' codes and names, for people to read."""
    if not uncovered:
        return []
    named = {row.id: row for row in session.execute(
        sa.select(Unit.id, Unit.code, Unit.name)
        .where(Unit.id.in_({item["unit_id"] for item in uncovered})).execution_options(**UNSCOPED)
    )}
    return [{**item, "unit_code": named[item["unit_id"]].code, "unit_name": named[item["unit_id"]].name}
            for item in uncovered]


def _answer(session: Session, result: planner.Plan, world: World) -> dict:
    def rows(items):
        return [{"duty": duty, "unit_id": unit_id, "worker_id": worker_id} for duty, unit_id, worker_id in sorted(items)]

    # The scope's workers (those based in it and those the plan has cover something in it; not,
    # for a grid, everyone in its village), each with all they would cover in the village.
    theirs = world.here | {worker_id for _duty, _unit_id, worker_id in result.assignments}
    loads = [result.loads.get(worker_id, 0.0) + world.elsewhere.get(worker_id, 0.0) for worker_id in theirs] or [0.0]
    duties = sum(duty.count for unit in world.units.values() for duty in DUTIES if duty.level is unit.level)
    return {
        "kept": rows(result.kept),
        "added": rows(result.added),
        "ended": rows(result.ended),
        "load": {"min": round(min(loads), 2), "median": round(median(loads), 2), "max": round(max(loads), 2)},
        "coverage": {"duties": duties, "covered": duties - len(result.uncovered), "uncovered": []},
    }


def coverage(session: Session, *, unit: Unit) -> dict:
    """The subtree as it is assigned now: uncovered duties, and workers far from the median load.
    An assignment counts only while its worker may cover the unit (active, based where the duty
    says: a unit's move can leave its worker based elsewhere)."""
    world = _world(session, scope=unit)
    units, workers = world.units, world.workers
    valid = {(duty, unit_id, worker_id) for duty, unit_id, worker_id in world.current
             if unit_id in units and worker_id in workers and duty in DUTY_BY_NAME
             and planner.eligible(DUTY_BY_NAME[duty], units[unit_id], workers[worker_id], units)}
    covered = Counter((duty, unit_id) for duty, unit_id, _worker in valid)
    held_by_others = {(duty, unit_id) for duty, unit_id, _worker in world.current - valid}
    uncovered = []
    for info in units.values():
        for duty in DUTIES:
            if duty.level is info.level and covered[(duty.name, info.id)] < duty.count:
                if (duty.name, info.id) in held_by_others:
                    reason = "assigned worker no longer eligible"
                elif any(planner.eligible(duty, info, w, units) for w in workers.values()):
                    reason = "not assigned"
                else:
                    reason = "no one eligible"
                uncovered.append({"unit_id": info.id, "duty": duty.name, "reason": reason})
    # Each worker of the scope with all they cover in the village, so that one busy elsewhere is
    # not called idle here.
    loads = {worker_id: world.elsewhere.get(worker_id, 0.0) for worker_id in world.here}
    for _duty, unit_id, worker_id in valid:
        loads[worker_id] = loads.get(worker_id, 0.0) + units[unit_id].load
    middle = median(loads.values()) if loads else 0
    over = [{"worker_id": w, "load": round(v, 2)} for w, v in sorted(loads.items()) if middle and v > OVERLOADED * middle]
    under = [{"worker_id": w, "load": round(v, 2)} for w, v in sorted(loads.items()) if middle and v < UNDERLOADED * middle]
    return {"uncovered": _describe(session, uncovered), "overloaded": over, "underloaded": under,
            "median_load": round(middle, 2)}
