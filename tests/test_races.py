"""Services that read, then write, on real commits from several sessions at once.

Under PostgreSQL's READ COMMITTED, and on SQLite too (a transaction takes the write lock only at
its first write or locking read: gridgov.db.configure_engine_events), what a request read may have
changed by the time it writes. Each service here locks what it decides from and reads it again;
each test forces the interleaving that would go wrong without that lock (a double submit, two
people at once, a move during a logging) and checks what a user would see.

Everything is committed, in a district of its own (code 990011) that is deleted afterwards.
"""

import contextlib
import csv
import io
import threading
from collections import Counter
from datetime import date
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gridgov.auth import service as auth_service
from gridgov.auth.models import Principal
from gridgov.auth.permissions import Role
from gridgov.cases import service as cases_service
from gridgov.cases.enums import Outcome
from gridgov.cases.models import Case
from gridgov.db import db
from gridgov.errors import Conflict
from gridgov.people import service as people_service
from gridgov.people.models import Assignment, Worker
from gridgov.rollups import counters
from gridgov.tree import paths
from gridgov.tree import service as tree_service
from gridgov.tree.levels import Level
from gridgov.tree.models import Unit
from tests.conftest import bearer_client, delete_district
from tests.rollups.support import counter_mismatches

DISTRICT_CODE = "990011"


@pytest.fixture
def district(app, committed):
    """A committed district with three towns; under the first a village → grid → micro-grid.
    Everything made under the district (cases, workers, assignments, principals, audit events,
    counters) is deleted afterwards."""
    made = {}

    def unit(key, level, code, parent=None, **fields):
        made[key] = tree_service.create_unit(committed, name=f"竞态{key}", level=level, code=code,
                                             parent_id=made[parent].id if parent else None, **fields)

    unit("district", Level.DISTRICT, DISTRICT_CODE)
    for n in (1, 2, 3):
        unit(f"town{n}", Level.TOWN, f"{DISTRICT_CODE}00{n}", "district")
    unit("village", Level.VILLAGE, f"{DISTRICT_CODE}001001", "town1", households=300)
    unit("grid", Level.GRID, f"{DISTRICT_CODE}001001001", "village", households=300)
    unit("microgrid", Level.MICROGRID, f"{DISTRICT_CODE}001001001001", "grid", households=300)
    committed.commit()
    ids = SimpleNamespace(**{key: row.id for key, row in made.items()}, path=made["district"].path)
    committed.close()  # the sessions of the test use connections of their own
    yield ids

    committed.rollback()
    delete_district(committed, district_id=ids.district, path=ids.path)


@contextlib.contextmanager
def request_session(app):
    """The session of one request: an application context of its own, so a session (and a
    connection) of its own, even inside another request's."""
    with app.app_context():
        try:
            yield db.session
        finally:
            db.session.rollback()


def log_case(app, origin_unit_id: int) -> int:
    with request_session(app) as session:
        case, _ = cases_service.create_case(session, actor=None, title="楼上漏水", category="family_neighbour",
                                            risk_grade="blue", source="hotline", origin_unit_id=origin_unit_id)
        session.commit()
        return case.id


def failed_at_its_grid(app, origin_unit_id: int) -> int:
    """A case logged at ``origin_unit_id``, accepted, and a failed mediation recorded: it may go up."""
    case_id = log_case(app, origin_unit_id)
    with request_session(app) as session:
        case = session.get(Case, case_id)
        for action, params in [("accept", {}), ("record_attempt", {"outcome": Outcome.FAILURE})]:
            cases_service.act(session, case=case, action=action, actor=None, version=case.version, params=params)
        session.commit()
    return case_id


def move(app, unit_id: int, new_parent_id: int) -> None:
    with request_session(app) as session:
        tree_service.move_unit(session, unit=tree_service.get_unit(session, unit_id=unit_id),
                               new_parent=tree_service.get_unit(session, unit_id=new_parent_id))
        session.commit()


# --- what must hold afterwards ------------------------------------------------------------------


def assert_tree_and_cases_agree(session, district) -> None:
    """Every unit's path lies under its parent's; every case's paths are its units' paths now."""
    units = {unit.id: unit for unit in session.scalars(sa.select(Unit).where(Unit.district_id == district.district))}
    misplaced = [(unit.code, unit.path, units[unit.parent_id].path) for unit in units.values()
                 if unit.parent_id is not None and paths.parent_path(unit.path) != units[unit.parent_id].path]
    assert misplaced == [], "units whose path is not under their parent's"
    cases = session.scalars(sa.select(Case).where(Case.district_id == district.district))
    stale = [(case.reference, (case.origin_path, case.owner_path), now)
             for case in cases
             if (case.origin_path, case.owner_path) != (now := (units[case.origin_unit_id].path,
                                                                units[case.owner_unit_id].path))]
    assert stale == [], "cases whose paths are not their units' paths"


def assert_counters_match_a_rebuild(app, district) -> None:
    """The district's counters, as kept case by case and move by move, are what a recount from
    the cases gives (the recount is rolled back)."""
    with request_session(app) as session:
        ours = set(session.scalars(sa.select(Unit.id).where(Unit.district_id == district.district)))

        def of_district(read):
            totals, days = read
            return ({unit_id: row for unit_id, row in totals.items() if unit_id in ours},
                    {key: row for key, row in days.items() if key[0] in ours})

        kept = of_district(counters.read_all(session))
        assert kept[0], "the district has counters to compare"
        counters.rebuild(session, policy=cases_service.current_policy(), district_id=district.district)
        assert counter_mismatches(kept, of_district(counters.read_all(session))) == []


# --- 1. moves decided on a stale read -----------------------------------------------------------


def test_a_double_submitted_move_moves_the_village_once(app, district):
    """Someone clicks "move" twice: both requests read the village under its old town; the second
    arrives after the first has committed. The village ends up under the new town once — its
    grids and micro-grids with it, the town's numbering advanced once, and the dashboards'
    counters not counting its cases twice."""
    log_case(app, district.microgrid)
    with request_session(app) as session:
        next_child = tree_service.get_unit(session, unit_id=district.town2).next_child

    with request_session(app) as second:
        village, town = (tree_service.get_unit(second, unit_id=district.village),
                         tree_service.get_unit(second, unit_id=district.town2))
        with request_session(app) as first:
            tree_service.move_unit(first, unit=tree_service.get_unit(first, unit_id=district.village),
                                   new_parent=tree_service.get_unit(first, unit_id=district.town2))
            first.commit()
        tree_service.move_unit(second, unit=village, new_parent=town)  # its objects still say town 1
        second.commit()

    with request_session(app) as session:
        village = tree_service.get_unit(session, unit_id=district.village)
        town = tree_service.get_unit(session, unit_id=district.town2)
        assert village.parent_id == town.id
        assert paths.parent_path(village.path) == town.path
        assert town.next_child == next_child + 1
        assert_tree_and_cases_agree(session, district)
    assert_counters_match_a_rebuild(app, district)


def test_two_moves_of_one_village_from_stale_reads_leave_it_where_the_last_put_it(app, district):
    """Two people move the same village at once, to two different towns, each from the page they
    loaded before the other saved. The village ends up under the second person's town, with a path
    (and its grids' and micro-grids' paths) under that town's, and the counters right."""
    log_case(app, district.microgrid)

    with request_session(app) as second:
        village, town3 = (tree_service.get_unit(second, unit_id=district.village),
                          tree_service.get_unit(second, unit_id=district.town3))
        with request_session(app) as first:
            tree_service.move_unit(first, unit=tree_service.get_unit(first, unit_id=district.village),
                                   new_parent=tree_service.get_unit(first, unit_id=district.town2))
            first.commit()
        tree_service.move_unit(second, unit=village, new_parent=town3)  # read while it was in town 1
        second.commit()

    with request_session(app) as session:
        village = tree_service.get_unit(session, unit_id=district.village)
        town3 = tree_service.get_unit(session, unit_id=district.town3)
        assert village.parent_id == town3.id
        assert paths.parent_path(village.path) == town3.path
        assert_tree_and_cases_agree(session, district)
    assert_counters_match_a_rebuild(app, district)


# --- 2. a case logged while its village moves ---------------------------------------------------


def _log_and_move(app, district, monkeypatch, *, pause_after: str):
    """Log a case in the micro-grid, held just after ``tree_service.<pause_after>``; meanwhile
    move its village to town 2. Returns (the logging's outcome, whether the move had to wait
    for the logging)."""
    original = getattr(tree_service, pause_after)
    reached, go_on = threading.Event(), threading.Event()

    def then_pause(session, **kwargs):
        result = original(session, **kwargs)
        if threading.current_thread().name == "logger" and not reached.is_set():
            reached.set()
            go_on.wait()
        return result

    monkeypatch.setattr(tree_service, pause_after, then_pause)
    outcome, failures = [], []

    def logging():
        try:
            outcome.append(log_case(app, district.microgrid))
        except Conflict as refusal:
            outcome.append(refusal)

    def moving():
        try:
            move(app, district.village, district.town2)
        except Exception as error:  # noqa: BLE001 — reported below
            failures.append(repr(error))

    logger = threading.Thread(target=logging, name="logger")
    mover = threading.Thread(target=moving, name="mover")
    logger.start()
    try:
        assert reached.wait(timeout=30), f"the logging never got past {pause_after}"
        mover.start()
        mover.join(timeout=1)
        waited = mover.is_alive()
    finally:
        go_on.set()
        logger.join()
        if mover.ident is not None:
            mover.join()
    assert failures == []
    with request_session(app) as session:
        micro_grid = tree_service.get_unit(session, unit_id=district.microgrid)
        town2 = tree_service.get_unit(session, unit_id=district.town2)
        assert paths.ancestor_at(micro_grid.path, Level.TOWN.rank) == town2.path  # the move did happen
    return outcome[0], waited


def test_a_case_logged_as_its_village_moves_away_is_refused_and_writes_nothing(app, district, monkeypatch):
    """A grid worker logs a case in a micro-grid just as the district moves its village to another
    town, and the move commits between the logging's look at where the micro-grid lies and its
    write. The logging is refused with a conflict ("moved just now; try again"), not filed under
    the old town (it would drop out of the new town's lists, and the old town would count it)."""
    outcome, _waited = _log_and_move(app, district, monkeypatch, pause_after="lineage")

    assert isinstance(outcome, Conflict) and "try again" in outcome.detail
    with request_session(app) as session:
        assert session.scalars(sa.select(Case.id).where(Case.district_id == district.district)).all() == []
        ours = set(session.scalars(sa.select(Unit.id).where(Unit.district_id == district.district)))
        totals, _days = counters.read_all(session)
        assert ours & totals.keys() == set(), "nothing was counted"
        assert_tree_and_cases_agree(session, district)


def test_a_move_waits_for_a_case_being_logged_and_then_carries_it_along(app, district, monkeypatch):
    """The same, but the logging has locked where the micro-grid lies before the move begins: the
    move waits for the logging to commit, then takes the new case along to the new town."""
    outcome, waited = _log_and_move(app, district, monkeypatch, pause_after="lock_lineage")

    assert waited
    with request_session(app) as session:
        case = session.get(Case, outcome)
        assert case.origin_path == tree_service.get_unit(session, unit_id=district.microgrid).path
        assert_tree_and_cases_agree(session, district)
    assert_counters_match_a_rebuild(app, district)


# --- 3. an edit made from a stale page ----------------------------------------------------------


def _unit(app, district):
    """(load, update, the field update sets) for the village."""
    def load(session):
        return tree_service.get_unit(session, unit_id=district.village)

    def update(session, row, version, name):
        tree_service.update_unit(session, unit=row, version=version, name=name)

    return load, update, "name"


def _principal(app, district):
    """… for an account of the village's station."""
    with request_session(app) as session:
        principal_id = auth_service.create_principal(session, username="race.village", display_name="竞态村站",
                                                     role=Role.VILLAGE_STATION, scope_unit_id=district.village).id
        session.commit()

    def load(session):
        return session.get(Principal, principal_id)

    def update(session, row, version, name):
        auth_service.update_principal(session, principal=row, version=version, display_name=name)

    return load, update, "display_name"


def _worker(app, district):
    """… for a mediator on the village's roster."""
    with request_session(app) as session:
        worker_id = people_service.create_worker(session, name="竞态调解员", role="mediator",
                                                 home_unit_id=district.village, capacity=2).id
        session.commit()

    def load(session):
        return people_service.get_worker(session, worker_id=worker_id)

    def update(session, row, version, name):
        people_service.update_worker(session, worker=row, version=version, today=date.today(), name=name)

    return load, update, "name"


@pytest.mark.parametrize("kind", [_unit, _principal, _worker], ids=["unit", "principal", "worker"])
def test_an_edit_from_a_page_loaded_before_another_edit_is_a_conflict(app, district, kind):
    """Two people open the same edit page (a unit, an account, a worker) at version v; the first
    saves. The second's save, still claiming version v, is refused as a conflict — it does not
    silently overwrite the first person's change."""
    load, update, field = kind(app, district)
    with request_session(app) as second:
        stale = load(second)
        version = stale.version
        with request_session(app) as first:
            update(first, load(first), version, "第一人改的")
            first.commit()
        with pytest.raises(Conflict):
            update(second, stale, version, "第二人改的")

    with request_session(app) as session:
        row = load(session)
        assert getattr(row, field) == "第一人改的"
        assert row.version == version + 1


# --- 4. two plans of one village at once --------------------------------------------------------


def test_two_plans_of_one_village_at_once_assign_each_duty_once(app, district, monkeypatch):
    """Two coordinators press "apply plan" for the same village at the same moment. Afterwards each
    duty of each unit has one current assignee, not two, and nobody covers more units than their
    capacity allows.

    Each plan, having read the roster and the current assignments, goes on only once the other plan
    has read them too or is queued for its turn (has asked for a lock): without turns, both plans
    are then made from the same reading; with them, the second waits and reads the first's plan."""
    with request_session(app) as session:
        for name, role, home in [("竞态调解员", "mediator", district.village),
                                 ("竞态驻格干警", "grid_officer", district.grid),
                                 ("竞态网格员", "grid_worker", district.grid)]:
            people_service.create_worker(session, name=name, role=role, home_unit_id=home, capacity=1)
        session.commit()

    names = ("planner-1", "planner-2")
    ready = {name: threading.Event() for name in names}  # has read the world, or asked for a lock

    def note_locking_read(state):
        me = threading.current_thread().name
        if me in ready and getattr(state.statement, "_for_update_arg", None) is not None:
            ready[me].set()

    original_world = people_service._world

    def world_then_wait_for_the_other(session, **kwargs):
        found = original_world(session, **kwargs)
        me = threading.current_thread().name
        ready[me].set()
        other = names[1 - names.index(me)]
        assert ready[other].wait(timeout=30), f"{other} neither read nor asked for a lock"
        return found

    monkeypatch.setattr(people_service, "_world", world_then_wait_for_the_other)
    sa.event.listen(Session, "do_orm_execute", note_locking_read)
    start = threading.Barrier(2)
    failures = []

    def apply_plan():
        with request_session(app) as session:
            start.wait()
            try:
                people_service.plan_scope(session, scope_unit_id=district.village, apply=True, today=date.today())
                session.commit()
            except Exception as error:  # noqa: BLE001 — reported below
                failures.append(repr(error))

    planners = [threading.Thread(target=apply_plan, name=name) for name in names]
    try:
        for thread in planners:
            thread.start()
        for thread in planners:
            thread.join()
    finally:
        sa.event.remove(Session, "do_orm_execute", note_locking_read)

    assert failures == []
    with request_session(app) as session:
        current = session.scalars(sa.select(Assignment).where(Assignment.district_id == district.district,
                                                              Assignment.ends_on.is_(None))).all()
        assert {(a.duty, a.unit_id) for a in current} == {
            ("village_mediator", district.village), ("grid_officer", district.grid),
            ("microgrid_responsible", district.microgrid)}  # every duty is covered …
        per_duty = Counter((a.duty, a.unit_id) for a in current)
        assert [key for key, count in per_duty.items() if count > 1] == []  # … once
        per_worker = Counter(a.worker_id for a in current)
        workers = session.scalars(sa.select(Worker).where(Worker.district_id == district.district)).all()
        assert [(w.name, per_worker[w.id], w.capacity) for w in workers if per_worker[w.id] > w.capacity] == []


# --- 5. an import beside other writers ----------------------------------------------------------


def _import(app, lines: list[str]) -> None:
    from gridgov.tree import transfer

    with request_session(app) as session:
        transfer.import_csv(session, data="\n".join(["code,name,level,parent_code", *lines]).encode())
        session.commit()


def _run_together(first, second, *, names=("first", "second")) -> list[str]:
    """Run two callables in threads of those names; the failures they raised."""
    failures = []

    def run(work):
        try:
            work()
        except Exception as error:  # noqa: BLE001 — reported to the test
            failures.append(repr(error))

    threads = [threading.Thread(target=run, args=(work,), name=name) for work, name in zip((first, second), names)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return failures


def _pause_in(monkeypatch, module, name: str, *, thread: str, then_wait: float = 0.5, until=None):
    """Make ``module.name`` (in the thread named ``thread``) set the returned event when it has
    run, then pause ``then_wait`` seconds, time for the other writer to reach its next lock (or
    until the event ``until`` is set, if that comes first)."""
    done = threading.Event()
    original = getattr(module, name)

    def paused(*args, **kwargs):
        result = original(*args, **kwargs)
        if threading.current_thread().name == thread:
            done.set()
            (until or threading.Event()).wait(then_wait)
        return result

    monkeypatch.setattr(module, name, paused)
    return done


def test_an_import_renaming_a_district_and_a_new_grid_in_it_both_go_through(app, district, monkeypatch):
    """A coordinator adds a grid under a village while an import renames the district and the
    village. The grid's insert names the district (its ``district_id``) while the import holds the
    district and waits for the village, which the insert holds. Both commit, one after the other;
    before, the district's lock kept out the insert's foreign-key check and PostgreSQL ended one of
    them as a deadlock (409 to the user)."""
    holding_village = _pause_in(monkeypatch, tree_service, "allocate_child_path", thread="creator")

    def create_grid():
        with request_session(app) as session:
            tree_service.create_unit(session, name="新网格", level=Level.GRID, parent_id=district.village)
            session.commit()

    def rename_both():
        assert holding_village.wait(timeout=30)
        _import(app, [f"{DISTRICT_CODE},竞态区改名,district,", f"{DISTRICT_CODE}001001,竞态村改名,village,{DISTRICT_CODE}001"])

    assert _run_together(create_grid, rename_both, names=("creator", "importer")) == []
    with request_session(app) as session:
        assert tree_service.get_unit(session, unit_id=district.district).name == "竞态区改名"
        assert tree_service.get_unit(session, unit_id=district.village).name == "竞态村改名"
        grids = session.scalars(sa.select(Unit.name).where(Unit.parent_id == district.village)).all()
        assert "新网格" in grids


def test_an_import_that_changes_nothing_holds_up_no_one(app, district, dialect, monkeypatch):
    """An import of rows exactly as they are locks no unit: on PostgreSQL it finishes while a grid
    is being created under the village it names. (On SQLite writers take turns: the import's audit
    entry waits for the grid's commit.)"""
    imported = threading.Event()
    # On SQLite the import waits for the grid's commit: no use waiting long for it.
    holding_village = _pause_in(monkeypatch, tree_service, "allocate_child_path", thread="creator",
                                until=imported, then_wait=30 if dialect == "postgresql" else 0.5)
    import_done_before_grid_commit = []

    def create_grid():
        with request_session(app) as session:
            tree_service.create_unit(session, name="新网格", level=Level.GRID, parent_id=district.village)
            import_done_before_grid_commit.append(imported.is_set())
            session.commit()

    def import_as_is():
        assert holding_village.wait(timeout=30)
        _import(app, [f"{DISTRICT_CODE},竞态district,district,", f"{DISTRICT_CODE}001001,竞态village,village,{DISTRICT_CODE}001"])
        imported.set()

    assert _run_together(create_grid, import_as_is, names=("creator", "importer")) == []
    assert import_done_before_grid_commit == [dialect == "postgresql"]


def test_an_import_and_a_move_of_the_same_village_at_once_both_go_through(app, district, monkeypatch):
    """An import moves a village to town 3 while someone moves it there by hand. Both lock the
    village and town 3, in the same order: the second waits for the first and finds the village
    already there. Before, the import locked the village first and town 3 only when it moved it,
    the hand move the other way round: a deadlock."""
    import_locked = _pause_in(monkeypatch, tree_service, "lock_units", thread="importer")

    def move_by_hand():
        assert import_locked.wait(timeout=30)
        move(app, district.village, district.town3)

    def import_the_move():
        _import(app, [f"{DISTRICT_CODE}001001,竞态village,village,{DISTRICT_CODE}003"])

    assert _run_together(import_the_move, move_by_hand, names=("importer", "mover")) == []
    with request_session(app) as session:
        village = tree_service.get_unit(session, unit_id=district.village)
        assert village.parent_id == district.town3
        assert_tree_and_cases_agree(session, district)


# --- 6. a case handed over while its new owner moves ----------------------------------------------


def test_a_case_escalated_to_a_village_as_the_village_moves_keeps_the_villages_path(app, district, monkeypatch):
    """The village takes a case up from its grid just as the district moves the village to another
    town. Whichever commits first, the case's owner path is the village's path afterwards. Before,
    the escalation wrote the path it had read; the move, committed meanwhile, did not see the
    case: it had a path no unit has, and the village lost it from its lists (and could not act)."""
    case_id = failed_at_its_grid(app, district.microgrid)
    handing_over = _pause_in(monkeypatch, cases_service, "_hand_over", thread="escalator")

    def escalate():
        with request_session(app) as session:
            case = session.get(Case, case_id)
            cases_service.act(session, case=case, action="escalate", actor=None, version=case.version,
                              params={"reason": "mediation_failed"})
            session.commit()

    def move_the_village():
        assert handing_over.wait(timeout=30)
        move(app, district.village, district.town2)

    assert _run_together(escalate, move_the_village, names=("escalator", "mover")) == []
    with request_session(app) as session:
        case = session.get(Case, case_id)
        village = tree_service.get_unit(session, unit_id=district.village)
        assert (case.owner_unit_id, village.parent_id) == (district.village, district.town2)
        assert case.owner_path == village.path
        assert_tree_and_cases_agree(session, district)


def overdue_at_its_grid(app, origin_unit_id: int) -> int:
    """A case logged 20 days ago at ``origin_unit_id``: long overdue at its grid."""
    from datetime import timedelta

    from gridgov.db import utcnow

    with request_session(app) as session:
        case, _ = cases_service.create_case(session, actor=None, title="楼上漏水", category="family_neighbour",
                                            risk_grade="blue", source="hotline", origin_unit_id=origin_unit_id,
                                            now=utcnow() - timedelta(days=20))
        session.commit()
        return case.id


def sweep_as_a_move_goes(app, monkeypatch, dialect, *, unit_id: int, new_parent_id: int, pause_in: str) -> None:
    """Run the sweep and a move of ``unit_id`` at once: the sweep takes its batch (the cases'
    rows locked) and waits until the move has done ``pause_in`` (``lock_units``: locked its
    units; ``rewrite_path_prefix``: rewritten their paths), then goes on. Both must succeed."""
    from gridgov.cases import sweep as sweep_module

    took, moved_so_far = threading.Event(), threading.Event()
    take, step = sweep_module._take, getattr(tree_service, pause_in)

    def take_then_let_the_move_go(*args, **kwargs):
        ids = take(*args, **kwargs)
        if threading.current_thread().name == "sweeper" and ids and not took.is_set():
            took.set()
            moved_so_far.wait(5 if dialect == "postgresql" else 0.5)  # SQLite: the move waits for the sweep
        return ids

    def step_then_signal(*args, **kwargs):
        step(*args, **kwargs)
        if threading.current_thread().name == "mover" and kwargs.get("column", Unit.path) is Unit.path:
            moved_so_far.set()
            threading.Event().wait(0.3)

    monkeypatch.setattr(sweep_module, "_take", take_then_let_the_move_go)
    monkeypatch.setattr(tree_service, pause_in, step_then_signal)

    def sweep():
        with request_session(app) as session:
            sweep_module.sweep(session)

    def move_it():
        assert took.wait(30)
        move(app, unit_id, new_parent_id)

    assert _run_together(sweep, move_it, names=("sweeper", "mover")) == []
    monkeypatch.setattr(sweep_module, "_take", take)
    monkeypatch.setattr(tree_service, pause_in, step)


def sweep_again(app) -> None:
    from gridgov.cases import sweep as sweep_module

    with request_session(app) as session:
        sweep_module.sweep(session)


def test_a_sweep_and_a_move_of_the_village_it_escalates_to_both_go_through(app, district, dialect, monkeypatch):
    """The sweep has taken a batch of overdue cases (their rows locked) as the district moves the
    village an overdue grid case would go up to. Before, the sweep waited for the village the move
    holds while the move waited for the case the sweep holds: PostgreSQL ended one as a deadlock
    (the sweep's whole batch, or the user's move). Now the sweep leaves that case to its next run
    if the move got there first, and no one waits in a circle."""
    case_id = overdue_at_its_grid(app, district.microgrid)
    sweep_as_a_move_goes(app, monkeypatch, dialect, unit_id=district.village, new_parent_id=district.town2,
                         pause_in="lock_units")
    with request_session(app) as session:
        assert tree_service.get_unit(session, unit_id=district.village).parent_id == district.town2
        assert_tree_and_cases_agree(session, district)
        assert session.get(Case, case_id).owner_unit_id in (district.grid, district.village)
    sweep_again(app)  # whichever way it went, the next run finds the case escalated or escalates it
    with request_session(app) as session:
        assert session.get(Case, case_id).owner_unit_id == district.village


def act_as_a_move_is_under_way(app, monkeypatch, *, case_id: int, action: str, params: dict,
                               unit_id: int, new_parent_id: int) -> str:
    """Act on the case (the service, committing) while a move of ``unit_id`` has rewritten the
    units' paths and not yet committed; "done", or the refusal's detail."""
    rewritten, acted = threading.Event(), threading.Event()
    rewrite = tree_service.rewrite_path_prefix

    def rewrite_then_wait(session, *, column, **kwargs):
        rewrite(session, column=column, **kwargs)
        if threading.current_thread().name == "mover" and column is Unit.path:
            rewritten.set()
            assert acted.wait(30)

    monkeypatch.setattr(tree_service, "rewrite_path_prefix", rewrite_then_wait)
    outcome = []

    def act():
        assert rewritten.wait(30)
        try:
            with request_session(app) as session:
                case = session.get(Case, case_id)
                cases_service.act(session, case=case, action=action, actor=None, version=case.version, params=params)
                session.commit()
                outcome.append("done")
        except Conflict as conflict:
            outcome.append(conflict.detail)
        finally:
            acted.set()

    assert _run_together(lambda: move(app, unit_id, new_parent_id), act, names=("mover", "actor")) == []
    monkeypatch.setattr(tree_service, "rewrite_path_prefix", rewrite)
    [what] = outcome
    return what


def test_an_escalation_to_a_village_being_moved_is_told_to_try_again(app, district, dialect, monkeypatch):
    """The move has rewritten the village's path but not yet committed: an escalation there answers
    409 at once ("being moved just now") instead of waiting in line behind it, and once the move
    has committed it goes through with the new path."""
    if dialect == "sqlite":
        pytest.skip("SQLite lets one writer in at a time: an escalation never meets a move under way")
    case_id = failed_at_its_grid(app, district.microgrid)
    escalate = {"action": "escalate", "params": {"reason": "mediation_failed"}}

    what = act_as_a_move_is_under_way(app, monkeypatch, case_id=case_id, **escalate,
                                      unit_id=district.village, new_parent_id=district.town2)
    assert "being moved" in what
    with request_session(app) as session:
        case = session.get(Case, case_id)
        assert case.owner_unit_id == district.grid
        cases_service.act(session, case=case, actor=None, version=case.version, **escalate)
        session.commit()
        assert case.owner_path == tree_service.get_unit(session, unit_id=district.village).path
        assert_tree_and_cases_agree(session, district)


def test_a_sweep_and_a_move_of_the_grid_that_owns_an_overdue_case_both_go_through(app, district, dialect, monkeypatch):
    """The district moves a grid to another village while the sweep holds the batch with the grid's
    overdue case. The move has rewritten the grid and waits for the case; the sweep's escalation
    names the grid in its event. Before, that event's check waited for the move: a deadlock, and
    the sweep's whole batch lost. Now the sweep leaves the case to its next run."""
    with request_session(app) as session:
        other_village = tree_service.create_unit(session, name="竞态另一村", level=Level.VILLAGE,
                                                 code=f"{DISTRICT_CODE}001002", parent_id=district.town1).id
        session.commit()
    case_id = overdue_at_its_grid(app, district.microgrid)
    sweep_as_a_move_goes(app, monkeypatch, dialect, unit_id=district.grid, new_parent_id=other_village,
                         pause_in="rewrite_path_prefix")
    with request_session(app) as session:
        assert tree_service.get_unit(session, unit_id=district.grid).parent_id == other_village
        assert_tree_and_cases_agree(session, district)
    sweep_again(app)  # the next run escalates it, if this one left it
    with request_session(app) as session:
        # PostgreSQL: left to this run, so it goes to the grid's new village; SQLite: the move
        # waited for the sweep, which sent it to the grid's old village, and the move handed it
        # to the new one (where it happened now)
        assert session.get(Case, case_id).owner_unit_id == other_village
        assert_tree_and_cases_agree(session, district)


def test_acting_on_a_town_case_whose_village_is_being_moved_is_told_to_try_again(app, district, dialect, monkeypatch):
    """A labour case from a micro-grid is the town's. As the town resolves it, the district is
    moving the micro-grid's village (rewritten, not committed). The resolution's counters (today's
    rows, new) name the village; before, they waited for the move while the move waited for the
    case: a deadlock. Now the town hears 409 at once; the move hands the case to the village's
    new town, which accepts and resolves it."""
    from datetime import timedelta

    from gridgov.db import utcnow

    if dialect == "sqlite":
        pytest.skip("SQLite lets one writer in at a time: an action never meets a move under way")
    yesterday = utcnow() - timedelta(days=1)  # so that today's counter rows are new, named by key
    with request_session(app) as session:
        case, _ = cases_service.create_case(session, actor=None, title="欠薪", category="labour", risk_grade="blue",
                                            source="hotline", origin_unit_id=district.microgrid, now=yesterday)
        cases_service.act(session, case=case, action="accept", actor=None, version=case.version, params={},
                          now=yesterday)
        session.commit()
        case_id = case.id
        assert case.owner_unit_id == district.town1
    resolve = {"action": "resolve", "params": {"note": "双方和解"}}

    what = act_as_a_move_is_under_way(app, monkeypatch, case_id=case_id, **resolve,
                                      unit_id=district.village, new_parent_id=district.town2)
    assert "being moved" in what
    with request_session(app) as session:
        case = session.get(Case, case_id)
        assert (case.owner_unit_id, case.status) == (district.town2, "reported")
        cases_service.act(session, case=case, action="accept", actor=None, version=case.version, params={})
        cases_service.act(session, case=case, actor=None, version=case.version, **resolve)
        session.commit()
        assert_tree_and_cases_agree(session, district)
    assert_counters_match_a_rebuild(app, district)


def test_a_report_dispatched_as_its_village_moves_becomes_a_case_where_the_village_is_now(app, district, monkeypatch):
    """The triage clerk dispatches a resident's report as the district moves its village: the move
    has rewritten the village and goes on to the reports. Before, the dispatch held the report and
    waited for the village, the move held the village and waited for the report: a deadlock. Now
    the dispatch waits for the move first, and its case lies where the village is now."""
    from gridgov.cases.enums import Category
    from gridgov.reports import service as reports_service
    from gridgov.reports.models import Channel, Report

    with request_session(app) as session:
        report_id = reports_service.submit_report(
            session, unit=tree_service.get_unit(session, unit_id=district.microgrid), channel=Channel.QR,
            category=Category.FAMILY_NEIGHBOUR, description="楼上装修噪音扰民", phone="13812345678").id
        session.commit()
    rewritten = threading.Event()
    rewrite = tree_service.rewrite_path_prefix

    def rewrite_then_pause(session, *, column, **kwargs):
        rewrite(session, column=column, **kwargs)
        if threading.current_thread().name == "mover" and column is Unit.path:
            rewritten.set()
            threading.Event().wait(0.5)  # time for the dispatch to reach its locks

    monkeypatch.setattr(tree_service, "rewrite_path_prefix", rewrite_then_pause)

    def dispatch():
        assert rewritten.wait(30)
        with request_session(app) as session:
            reports_service.triage(session, report_id=report_id, action="dispatch", actor=None,
                                   params={"risk_grade": "blue"})
            session.commit()

    assert _run_together(lambda: move(app, district.village, district.town2), dispatch,
                         names=("mover", "clerk")) == []
    with request_session(app) as session:
        report = session.get(Report, report_id)
        assert report.case_id is not None
        assert report.unit_path == tree_service.get_unit(session, unit_id=district.microgrid).path
        assert_tree_and_cases_agree(session, district)


def test_moves_and_roster_changes_of_one_district_take_turns(app, district, dialect):
    """A move rewrites where workers are based and which units assignments name; a plan or a
    leaving worker locks the district's roster in id order. Before, the move updated the same
    rows in its own order, and PostgreSQL ended one of the two with a deadlock (a 409 after a
    second's stall, in about one pair in three). Now the move takes the roster's turn first."""
    if dialect == "sqlite":
        pytest.skip("SQLite lets one writer in at a time: a move never meets a plan half-way")
    with request_session(app) as session:
        other = tree_service.create_unit(session, name="竞态另一村", level=Level.VILLAGE, code=f"{DISTRICT_CODE}001002",
                                         parent_id=district.town1)
        for n in range(12):  # a roster of some size, so that the two lock many rows
            people_service.create_worker(session, name=f"竞态网格员{n}", role="grid_worker",
                                         home_unit_id=district.grid, capacity=3)
        people_service.create_worker(session, name="竞态调解员", role="mediator", home_unit_id=district.village,
                                     capacity=3)
        people_service.create_worker(session, name="竞态干警", role="grid_officer", home_unit_id=district.grid,
                                     capacity=1)
        session.commit()
        other_id = other.id
    failures, places = [], [other_id, district.village]
    for round_ in range(10):
        start = threading.Barrier(2)

        def plan():
            with request_session(app) as session:
                start.wait()
                people_service.plan_scope(session, scope_unit_id=district.village, apply=True, today=date.today(),
                                          change_cost=0)
                session.commit()

        def move_grid():
            start.wait()
            move(app, district.grid, places[round_ % 2])

        failures += _run_together(plan, move_grid, names=("plan", "move"))
    assert failures == []
    with request_session(app) as session:
        assert_tree_and_cases_agree(session, district)


# --- an account changed while work is given to it -----------------------------------------------


def test_an_assignment_to_an_account_being_deactivated_is_let_go_of_not_left(app, district, monkeypatch):
    """The station assigns a case to a grid worker just as an admin deactivates the account. The
    assignment read the account before the deactivation committed; before, it then wrote the
    stale decision after the deactivation had let go of the account's cases: the case stayed
    with an account no one can sign in as, out of every inbox."""
    with request_session(app) as session:
        worker = auth_service.create_principal(session, username="race.grid", display_name="竞态网格员",
                                               role=Role.GRID_WORKER, scope_unit_id=district.grid)
        session.commit()
        worker_id = worker.id
    case_id = log_case(app, district.microgrid)
    with request_session(app) as session:
        case = session.get(Case, case_id)
        cases_service.act(session, case=case, action="accept", actor=None, version=case.version, params={})
        session.commit()

    read, go = threading.Event(), threading.Event()
    real = cases_service._cannot_work_on

    def paused(case, principal):  # the assignment has read the account: hold it there
        read.set()
        go.wait(timeout=20)
        return real(case, principal)

    monkeypatch.setattr(cases_service, "_cannot_work_on", paused)
    outcomes = {}

    def assign():
        with request_session(app) as session:
            case = session.get(Case, case_id)
            cases_service.act(session, case=case, action="assign", actor=None, version=case.version,
                              params={"assignee_id": worker_id})
            session.commit()
        outcomes["assign"] = "done"

    def deactivate():
        read.wait(timeout=20)
        with request_session(app) as session:
            auth_service.deactivate(session, principal=session.get(Principal, worker_id))
            session.commit()
        outcomes["deactivate"] = "done"

    threads = [threading.Thread(target=assign), threading.Thread(target=deactivate)]
    for thread in threads:
        thread.start()
    read.wait(timeout=20)
    threads[1].join(timeout=1)  # the deactivation waits for the assignment (with the fix), or is done
    go.set()
    for thread in threads:
        thread.join(timeout=30)

    assert outcomes == {"assign": "done", "deactivate": "done"}
    with request_session(app) as session:
        case = session.get(Case, case_id)
        assert case.assignee_id is None  # let go of, with an event saying why
        assert cases_service.events(session, case=case)[-1].action == "unassign"


# --- a case given to a unit as it is retired ----------------------------------------------------


def retire_as(app, monkeypatch, *, unit_id: int, meanwhile) -> str:
    """Retire ``unit_id`` and, once the retirement has updated the unit and handed on its open
    cases but not yet committed, run ``meanwhile``; the retirement commits when that is done, or
    after a second if it waits for the retirement. "done", or the refusal's detail."""
    retired, finished = threading.Event(), threading.Event()

    def pause(session, *, unit):
        if threading.current_thread().name == "retirer":
            retired.set()
            finished.wait(1)

    monkeypatch.setattr(tree_service, "RETIRED", [*tree_service.RETIRED, pause])
    outcome = []

    def other():
        assert retired.wait(30)
        try:
            meanwhile()
            outcome.append("done")
        except Conflict as refusal:
            outcome.append(refusal.detail)
        finally:
            finished.set()

    assert _run_together(lambda: retire(app, unit_id), other, names=("retirer", "other")) == []
    [what] = outcome
    return what


def retire(app, unit_id: int) -> None:
    with request_session(app) as session:
        tree_service.update_unit(session, unit=tree_service.get_unit(session, unit_id=unit_id), active=False)
        session.commit()


def act_on(app, case_id: int, action: str, **params) -> None:
    """``action`` on the case, in a request of its own, committed."""
    with request_session(app) as session:
        case = session.get(Case, case_id)
        cases_service.act(session, case=case, action=action, actor=None, version=case.version, params=params)
        session.commit()


def owner_of(app, case_id: int) -> SimpleNamespace:
    """The case's owner now: its id, name and whether it is in use."""
    with request_session(app) as session:
        unit = tree_service.get_unit(session, unit_id=session.get(Case, case_id).owner_unit_id)
        return SimpleNamespace(id=unit.id, name=unit.name, active=unit.active)


def test_a_case_escalated_to_a_village_being_retired_goes_to_a_unit_in_use(app, district, monkeypatch):
    """The grid takes a case up to its village just as the town retires the village. The
    retirement hands on the open cases it sees, and this one is not the village's yet. Before,
    the escalation went through and the case was left with the retired village, which no one
    works at any more. Now it is told to try again (PostgreSQL) or goes straight to the town
    (SQLite: the retirement committed before it began); asked again, it goes to the town."""
    case_id = failed_at_its_grid(app, district.microgrid)

    def escalate():
        act_on(app, case_id, "escalate", reason="mediation_failed")

    what = retire_as(app, monkeypatch, unit_id=district.village, meanwhile=escalate)
    owner = owner_of(app, case_id)
    assert owner.active, f"the case was left with {owner.name}, retired"
    if what != "done":
        assert "try again" in what and owner.id == district.grid
        escalate()
    assert owner_of(app, case_id).id == district.town1


def test_a_case_logged_under_a_grid_being_retired_is_refused_then_goes_to_the_village(app, district, monkeypatch):
    """A grid worker logs a case in a micro-grid as its grid is retired: the logging read the grid
    in use, and the retirement commits before the logging writes. Before, the case was filed with
    the retired grid; now the logging is refused ("retired just now; try again") and writes
    nothing, and logged again it goes to the village."""
    outcome = []
    what = retire_as(app, monkeypatch, unit_id=district.grid,
                     meanwhile=lambda: outcome.append(log_case(app, district.microgrid)))

    assert "retired just now; try again" in what, outcome and owner_of(app, outcome[0]).name
    with request_session(app) as session:
        assert session.scalars(sa.select(Case.id).where(Case.district_id == district.district)).all() == []
    assert owner_of(app, log_case(app, district.microgrid)).id == district.village


def test_a_case_reopened_as_its_grid_is_retired_reopens_with_a_unit_in_use(app, district, monkeypatch):
    """The applicant objects to a closed case just as its grid is retired: the retirement lets go
    of the open cases it sees, and a closed case is not open. Before, the case reopened with the
    retired grid; now the reopening is told to try again, or finds the grid retired and reopens
    with the village."""
    case_id = log_case(app, district.microgrid)
    for action, params in [("accept", {}), ("resolve", {"note": "双方和解"}), ("close", {})]:
        act_on(app, case_id, action, **params)

    def reopen():
        act_on(app, case_id, "reopen", reason="申请人不满意")

    what = retire_as(app, monkeypatch, unit_id=district.grid, meanwhile=reopen)
    if what != "done":
        assert "try again" in what
        reopen()
    owner = owner_of(app, case_id)
    assert owner.id == district.village, f"the case reopened with {owner.name}"


def test_a_village_retired_as_its_town_is_retired_hands_its_cases_to_a_unit_in_use(app, district, monkeypatch):
    """The village and its town are retired at the same time; the village's open case goes to the
    unit above it that is in use. Before, the village's retirement read the town in use and gave
    it the case, which the town's retirement (under way) did not see. Now the village's
    retirement is told to try again, or finds the town retired and gives the case to the
    district."""
    case_id = failed_at_its_grid(app, district.microgrid)
    act_on(app, case_id, "escalate", reason="mediation_failed")
    assert owner_of(app, case_id).id == district.village

    what = retire_as(app, monkeypatch, unit_id=district.town1, meanwhile=lambda: retire(app, district.village))
    if what != "done":
        assert "try again" in what and owner_of(app, case_id).id == district.village
        retire(app, district.village)
    owner = owner_of(app, case_id)
    assert owner.id == district.district, f"the case went to {owner.name}"


def test_a_case_goes_up_to_its_district_even_when_the_district_is_retired(app, district):
    """A retired district is the end of the line: it keeps the cases that reach it (as it keeps
    its own). Before, holding it against its retirement refused every escalation to it for good."""
    case_id = failed_at_its_grid(app, district.microgrid)
    for unit_id in (district.district, district.town1, district.village):
        retire(app, unit_id)

    act_on(app, case_id, "escalate", reason="mediation_failed")

    assert owner_of(app, case_id).id == district.district


def test_an_escalation_to_a_village_being_renamed_goes_through(app, district, monkeypatch):
    """A rename of the village is no retirement: the case goes up to it meanwhile (PostgreSQL:
    the escalation does not wait for the rename, nor is it told to try again)."""
    case_id = failed_at_its_grid(app, district.microgrid)
    renamed, finished = threading.Event(), threading.Event()
    record = tree_service.audit.record_unit

    def paused(*args, **kwargs):
        record(*args, **kwargs)
        if threading.current_thread().name == "renamer":
            renamed.set()
            finished.wait(1)

    monkeypatch.setattr(tree_service.audit, "record_unit", paused)
    outcome = []

    def rename():
        with request_session(app) as session:
            unit = tree_service.get_unit(session, unit_id=district.village)
            tree_service.update_unit(session, unit=unit, name="竞态新村名")
            session.commit()

    def escalate():
        assert renamed.wait(30)
        try:
            act_on(app, case_id, "escalate", reason="mediation_failed")
            outcome.append("done")
        except Conflict as refusal:
            outcome.append(refusal.detail)
        finally:
            finished.set()

    assert _run_together(rename, escalate, names=("renamer", "escalator")) == []
    assert outcome == ["done"]
    assert owner_of(app, case_id).id == district.village


# --- a rollup read while cases are logged -------------------------------------------------------


@pytest.mark.parametrize("what", ["rollup", "rollup.csv", "riskmap.geojson"])
def test_a_rollup_read_while_a_case_is_logged_adds_up(app, district, what):
    """District command's tiles are read in several statements (the counters, then the cases whose
    deadline stands). A case logged between them was counted by one and not the other: the
    deadline colours added up to one more case than the total (seen under load on both databases).
    Every figure is now read from one moment: the new case is in none of them or in all."""
    with request_session(app) as session:
        command = auth_service.create_principal(session, username="race.command", display_name="竞态指挥",
                                                role=Role.DISTRICT_COMMAND, scope_unit_id=district.district)
        _token, token = auth_service.issue_token(session, principal=command, name="test", expires_in=None)
        session.commit()
    log_case(app, district.microgrid)
    logged = []

    def log_one_between(_connection, _cursor, statement, *_args):
        if statement.startswith("SELECT rollup_unit_totals") and not logged:  # the counters are read
            logged.append("logging")  # (its own statements come here too)
            logged.append(log_case(app, district.microgrid))

    sa.event.listen(db.engine, "after_cursor_execute", log_one_between)
    try:
        answer = bearer_client(app, token).get(f"/api/v1/units/{district.district}/{what}")
    finally:
        sa.event.remove(db.engine, "after_cursor_execute", log_one_between)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert logged, "a case was logged while the rollup was read"
    if what == "rollup":
        figures = [answer.json["totals"], *(child["totals"] for child in answer.json["children"])]
        tiles = [(tile["cases"], sum(tile["deadline_colours"].values())) for tile in figures]
    elif what == "rollup.csv":
        rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff"))))
        tiles = [(int(row["案件总数"]), sum(int(row[column]) for column in ("绿灯", "黄灯", "红灯（超期）")))
                 for row in rows]
    else:
        tiles = [(feature["properties"]["cases"], sum(feature["properties"]["deadline_colours"].values()))
                 for feature in answer.json["features"]]
    # Every case here waits to be accepted: counted once, with a colour. The read began before the
    # second case came: it sees the first alone.
    assert [cases for cases, _ in tiles] == [colours for _, colours in tiles], tiles
    assert (sum(cases for cases, _ in tiles) if what == "riskmap.geojson" else tiles[0][0]) == 1


def test_a_case_sent_back_to_a_village_being_retired_goes_to_a_unit_in_use(app, district, monkeypatch):
    """The town gave a case from its first village to a second one (交办); the second village moves
    to another town, so the case goes back to the village where it happened (属地), just as that
    village is retired. Before the hand-back held the village, the case could be left with it
    retired. Now the move is told to try again (PostgreSQL) or finds the village retired and gives
    the case to the town (SQLite: the retirement committed first); moved again, the same."""
    with request_session(app) as session:
        second = tree_service.create_unit(session, name="竞态二村", level=Level.VILLAGE, code=f"{DISTRICT_CODE}001002",
                                          parent_id=district.town1).id
        case, _ = cases_service.create_case(session, actor=None, title="邻里纠纷", category="family_neighbour",
                                            risk_grade="red", source="hotline", origin_unit_id=district.microgrid)
        session.commit()
        case_id = case.id
    assert owner_of(app, case_id).id == district.town1
    act_on(app, case_id, "accept")
    act_on(app, case_id, "regrade", risk_grade="blue", note="经核实为一般纠纷")
    act_on(app, case_id, "delegate", unit_id=second, note="由二村调处")
    assert owner_of(app, case_id).id == second

    what = retire_as(app, monkeypatch, unit_id=district.village, meanwhile=lambda: move(app, second, district.town2))
    owner = owner_of(app, case_id)
    assert owner.active, f"the case was left with {owner.name}, retired"
    if what != "done":
        assert "try again" in what and owner.id == second
        move(app, second, district.town2)
    assert owner_of(app, case_id).id == district.town1
