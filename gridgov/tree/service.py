"""Operations on the unit tree. Module functions, keyword-only arguments, an explicit session;
every refusal is a ``DomainError``."""

import sqlalchemy as sa
from flask import current_app, g
from sqlalchemy.orm import Session, aliased

from gridgov.auth import audit
from gridgov.auth.models import AdminEvent
from gridgov.auth.scope import UNSCOPED, current_scope_path
from gridgov.db import db, one_by_id, utcnow
from gridgov.errors import BeingMoved, Conflict, Forbidden, NotFound, RuleViolation, denied, schema_missing, unreachable
from gridgov.tree import paths
from gridgov.tree.levels import (
    CODE_LENGTH,
    GENERATED_CODE_LEVELS,
    GENERATED_SEQUENCE_WIDTH,
    Level,
    code_problem,
    nesting_problem,
    parent_problem,
    typed_code,
)
from gridgov.tree.models import PATH_COPIES, Unit, ancestor_or_self, in_subtree

# Fields a PATCH may change. Code and level are identities; the parent changes only by a move.
EDITABLE_FIELDS = ("name", "city_code", "households", "population", "latitude", "longitude", "active")
PATH_ALLOCATION_ATTEMPTS = 5


def get_unit(session: Session, *, unit_id: int) -> Unit:
    return one_by_id(session, Unit, unit_id, label="Unit")


def get_unit_unscoped(session: Session, *, unit_id: int) -> Unit:
    """A unit wherever it lies: for what a case or a plan reaches beyond the caller's subtree
    (an escalation's target, a party's home), never for answering the caller."""
    return one_by_id(session, Unit, unit_id, label="Unit", **UNSCOPED)


def site_name() -> str:
    """What the pages call the service: ``SITE_NAME``, or the one district's centre."""
    if current_app.config.get("SITE_NAME"):
        return current_app.config["SITE_NAME"]
    if "site_name" in g:  # once a request: a page may show it twice
        return g.site_name
    try:
        districts = db.session.scalars(
            sa.select(Unit.name).where(Unit.parent_id.is_(None)).limit(2).execution_options(**UNSCOPED)
        ).all()
    except sa.exc.DBAPIError as error:
        if not (schema_missing(error) or unreachable(error) or denied(error)):
            raise
        # No schema yet, no rights on it, or no database just now: the page (sign-in, "try again
        # later") still says who it is.
        db.session.rollback()
        districts = []
    g.site_name = (districts[0] if len(districts) == 1 else "") + "社会治理中心"
    return g.site_name


def get_unit_in_or_above_scope(session: Session, *, unit_id: int) -> Unit:
    """A unit of the caller's subtree or one above it: a filter by where cases are handled
    (a grid's cases escalated to its village or town are still the grid worker's to read)."""
    unit = get_unit_unscoped(session, unit_id=unit_id)
    scope = current_scope_path()
    if scope and not (paths.is_descendant_or_self(unit.path, scope) or paths.is_descendant_or_self(scope, unit.path)):
        raise NotFound(f"Unit {unit_id} does not exist.")
    return unit


def get_unit_at_path(session: Session, *, path: str) -> Unit | None:
    """The unit with this path, wherever it lies (unscoped, like ``get_unit_unscoped``)."""
    return session.scalar(sa.select(Unit).where(Unit.path == path).execution_options(**UNSCOPED))


def get_unit_by_code(session: Session, *, code: str) -> Unit:
    code = typed_code(code)
    # A code is digits; anything else names no unit (and a NUL byte would not reach PostgreSQL).
    unit = session.scalar(sa.select(Unit).where(Unit.code == code)) if code.isascii() and code.isdigit() else None
    if unit is None:
        raise NotFound(f"No unit has the code {code}.")
    return unit


# --- reading ------------------------------------------------------------------------------------


def list_units(session: Session, *, level=None, parent_id=None, q=None, after_id=None, limit: int):
    """Units by id; ``q`` matches part of a name (ASCII letters in either case, on every database)
    or the start of a code."""
    stmt = sa.select(Unit).order_by(Unit.id).limit(limit + 1)
    if level is not None:
        stmt = stmt.where(Unit.level == level)
    if parent_id is not None:
        get_unit(session, unit_id=parent_id)  # 404 for a parent not there, as every filter by unit answers
        stmt = stmt.where(Unit.parent_id == parent_id)
    if q:
        q = typed_code(q)  # 第１网格 and ５１０… as a full-width input method types them
        code_low, code_high = paths.subtree_range(q)
        stmt = stmt.where(
            sa.or_(
                # lower() on both sides: SQLite's LIKE ignores the case of ASCII, PostgreSQL's does not
                Unit.name.icontains(q, autoescape=True),
                sa.and_(Unit.code >= code_low, Unit.code < code_high),
            )
        )
    if after_id is not None:
        stmt = stmt.where(Unit.id > after_id)
    return list(session.scalars(stmt))


def children(session: Session, *, unit: Unit) -> list[Unit]:
    return list(session.scalars(sa.select(Unit).where(Unit.parent_id == unit.id).order_by(Unit.path)))


def descendants(session: Session, *, unit: Unit, level=None, after_path=None, limit: int):
    """Proper descendants in tree order (each unit before its children)."""
    low, high = paths.subtree_range(unit.path)
    stmt = (
        sa.select(Unit)
        .where(Unit.path > max(low, after_path or low), Unit.path < high)
        .order_by(Unit.path)
        .limit(limit + 1)
    )
    if level is not None:
        stmt = stmt.where(Unit.level == level)
    return list(session.scalars(stmt))


def ancestors(session: Session, *, unit: Unit) -> list[Unit]:
    """Root first."""
    wanted = paths.ancestor_paths(unit.path)
    if not wanted:
        return []
    return list(session.scalars(sa.select(Unit).where(Unit.path.in_(wanted)).order_by(Unit.path)))


def _lineage_of_unit(*columns):
    """``columns`` of the unit ``:unit_id`` and its ancestors, root first."""
    below = aliased(Unit)
    return (sa.select(*columns).join(below, ancestor_or_self(Unit.path, below.path))
            .where(below.id == sa.bindparam("unit_id")).order_by(Unit.path))


# Built once: the prefixes and the alias cost more to build than the query takes to run.
LINEAGE = _lineage_of_unit(Unit).execution_options(populate_existing=True, **UNSCOPED)
# Share locks on a unit's lineage: a move that would change it must update one of these rows
# (paths are rewritten from the moved unit down), so it waits for the commit. All of the lineage,
# not only the unit: a move rewriting the rows above the unit first would otherwise hold them
# against the locker's foreign-key checks while waiting for the unit (a deadlock). A retirement
# updates its unit's row too, so it waits as well (or is waited for). On SQLite: the write lock.
SHARE_LINEAGE = (_lineage_of_unit(Unit.id, Unit.active).with_for_update(read=True, of=Unit)
                 .execution_options(**UNSCOPED))


def lineage(session: Session, *, unit_id: int) -> list[Unit]:
    """The unit, which must be in the caller's scope (or ``NotFound``), after its ancestors
    wherever they lie, root first: one query for what a case needs to know of where it happened
    (its owner above, its district)."""
    found = list(session.scalars(LINEAGE, {"unit_id": unit_id}))
    scope_path = current_scope_path()
    if not found or (scope_path and not paths.is_descendant_or_self(found[-1].path, scope_path)):
        raise NotFound(f"Unit {unit_id} does not exist.")
    return found


def lock_lineage(session: Session, *, lineage: list[Unit]) -> None:
    """Keep ``lineage`` (as ``lineage()`` read it) as it is until the commit: no move or
    retirement may change it. ``Conflict`` if one already has since it was read (the caller's
    work was for the old place, or for a unit that takes no more cases)."""
    locked = [tuple(row) for row in session.execute(SHARE_LINEAGE, {"unit_id": lineage[-1].id})]
    if locked != [(unit.id, unit.active) for unit in lineage]:
        raise Conflict(f"{lineage[-1].name} or a unit above it was moved or retired just now; try again.")


# Every move that changes a unit's path rewrites the unit's own row (its path is a key), so a
# key-share lock on that row keeps the path; renames and creations (no-key locks) pass. Not
# waiting for it (SKIP LOCKED, which also leaves the transaction usable): the holder may hold case
# rows already (a sweep, a batch of them), which a move rewrites after its units; waiting here
# would close the circle.
HOLD_PLACES = (sa.select(Unit.id, Unit.path).where(Unit.id.in_(sa.bindparam("unit_ids", expanding=True)))
               .order_by(Unit.id).with_for_update(read=True, key_share=True, skip_locked=True)
               .execution_options(**UNSCOPED))


# The same lock on a unit and all its ancestors (not the alias the lineage is found through).
HOLD_LINEAGE = (_lineage_of_unit(Unit.id, Unit.level)
                .with_for_update(read=True, key_share=True, skip_locked=True, of=Unit).execution_options(**UNSCOPED))


def hold_lineage(session: Session, *, unit_id: int, depth: int) -> list:
    """The unit ``unit_id`` (at ``depth``, which no move changes) and its ancestors, root first,
    as ``(id, level)`` rows, each held as ``try_to_hold`` holds a unit: for what names them all
    (a case's counters, along where it happened). ``BeingMoved`` if a move is changing one."""
    held = session.execute(HOLD_LINEAGE, {"unit_id": unit_id}).all()
    if len(held) != depth + 1 or held[-1].id != unit_id:
        raise BeingMoved("Where this case happened is being moved just now; try again in a moment.")
    return held


# The unit a case is handed to, held as HOLD_PLACES holds a unit, and read to see that it is
# still in use: a retirement locks its row FOR UPDATE (``lock_out_takers``), which this
# key-share lock keeps waiting, so it sees the case arrive; renames and new children pass.
HOLD_TAKER = (sa.select(Unit.path, Unit.active).where(Unit.id == sa.bindparam("unit_id"))
              .with_for_update(read=True, key_share=True, skip_locked=True).execution_options(**UNSCOPED))


def hold_taker(session: Session, *, unit: Unit) -> str:
    """The path of ``unit`` (as read), which is to take a case, kept as it is and in use until the
    commit. ``BeingMoved`` while a move or a retirement of it is under way, or if it has been
    moved or retired since it was read: asked again, the caller finds where it is, or the unit
    above. (A retired district is the end of the line: it keeps its cases.)"""
    held = session.execute(HOLD_TAKER, {"unit_id": unit.id}).one_or_none()
    if held is None:
        raise BeingMoved(f"{unit.name} is being moved or retired just now; try again in a moment.")
    if not held.active and unit.parent_id is not None:
        raise BeingMoved(f"{unit.name} was retired just now; try again.")
    if held.path != unit.path:
        raise BeingMoved(f"{unit.name} was moved just now; try again.")
    return held.path


def lock_out_takers(session: Session, *, unit: Unit) -> None:
    """Wait for what is under way that names ``unit`` (hand-overs to it, ``hold_taker``; inserts
    whose foreign keys name it, such as a party living there) and keep new ones out until the
    commit, so that what follows sees all of it: a retirement every case the unit holds, a delete
    every row that forbids it. FOR UPDATE, where ``lock_units``' FOR NO KEY UPDATE lets key-share
    locks by. Before the row is updated: PostgreSQL lets a key-share lock take the version a
    no-key update left behind."""
    session.execute(sa.select(Unit.id).where(Unit.id == unit.id).with_for_update().execution_options(**UNSCOPED))


def try_to_hold(session: Session, *, unit_ids) -> dict[int, str]:
    """The paths of those of the units ``unit_ids`` that no move is changing now, each kept as it
    is until the commit.

    For a change that names them on other rows (a case's owner, its events): no move of them can
    begin until it commits, and their foreign-key checks never wait for one, so the change may
    hold other rows first. (PostgreSQL; on SQLite writers take turns: every unit is held.)"""
    return dict(session.execute(HOLD_PLACES, {"unit_ids": sorted(set(unit_ids))}).all())


def hold_places(session: Session, *, unit_ids) -> dict[int, str]:
    """``try_to_hold``, all or ``BeingMoved``."""
    held = try_to_hold(session, unit_ids=unit_ids)
    if missing := set(unit_ids) - held.keys():
        names = session.scalars(sa.select(Unit.name).where(Unit.id.in_(missing)).execution_options(**UNSCOPED))
        raise BeingMoved(f"{'、'.join(names) or 'A unit of this case'} is being moved or removed just now; "
                         "try again in a moment.")
    return held


def lock_units(session: Session, *, units: list[Unit]) -> None:
    """Lock the rows of ``units`` for this transaction (in id order, so that two lockers never
    wait for each other in a circle) and read them again: what is decided from them from here on
    is decided from their state as it is, not as an earlier read saw it.

    ``FOR NO KEY UPDATE`` on PostgreSQL: it keeps other writers of these rows out, but not the
    key-share locks of foreign-key checks. With ``FOR UPDATE``, a locked district would hold up
    every insert naming it as ``district_id`` (a new grid anywhere in it), and that insert's
    transaction may hold a unit the locker waits for next: a deadlock."""
    session.scalars(
        sa.select(Unit).where(Unit.id.in_({unit.id for unit in units})).order_by(Unit.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True, **UNSCOPED)
    ).all()


def lowest_common_ancestor(session: Session, *, unit_ids: list[int]) -> Unit:
    units = list(session.scalars(sa.select(Unit).where(Unit.id.in_(set(unit_ids)))))
    missing = set(unit_ids) - {unit.id for unit in units}
    if missing:
        raise NotFound(f"Units {sorted(missing)} do not exist.")
    common = paths.common_ancestor([unit.path for unit in units])
    if common is None:
        raise RuleViolation("The units lie in different districts and have no common ancestor.",
                            errors={"unit_ids": ["units of more than one district"]})
    return session.scalar(sa.select(Unit).where(Unit.path == common))


# --- writing ------------------------------------------------------------------------------------


def create_unit(
    session: Session,
    *,
    name: str,
    level: Level,
    parent_id: int | None = None,
    code: str | None = None,
    city_code: str | None = None,
    households: int | None = None,
    population: int | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    active: bool = True,
) -> Unit:
    parent = get_unit(session, unit_id=parent_id) if parent_id is not None else None
    _check_parent(level, parent)  # first: a town without a parent is a mistake, not a district
    if parent is None and current_scope_path():
        # A new district lies outside every district's subtree: only an account whose scope is
        # the whole installation (or the command line) may create one.
        raise Forbidden("Creating a district needs a scope over the whole installation.")
    if code is None and level not in GENERATED_CODE_LEVELS:
        raise RuleViolation(
            f"A {level} needs its national division code.",
            errors={"code": [f"required for a {level}"]},
        )
    if city_code is not None and level is not Level.DISTRICT:
        raise RuleViolation("Only a district records a city code.", errors={"city_code": ["districts only"]})
    if parent is not None:
        lock_units(session, units=[parent])  # as it is now: not retired a moment ago
        _check_in_use(parent)
    if code is not None and (problem := code_problem(code, level)
                             or (parent is not None and nesting_problem(code, level, parent.code))):
        raise RuleViolation(f"Code {code}: {problem}.", errors={"code": [problem]})

    unit = Unit(
        code=code,
        name=name,
        level=level,
        parent_id=parent.id if parent else None,
        district_id=parent.district_id if parent else None,
        depth=level.rank,
        city_code=city_code if parent is None else None,
        households=households,
        population=population,
        latitude=latitude,
        longitude=longitude,
        active=active,
    )
    for attempt in range(PATH_ALLOCATION_ATTEMPTS):
        # The parent row is locked first, so concurrent creations under one parent take turns
        # for both the path and a generated code.
        unit.path = allocate_child_path(session, parent=parent)
        if code is None:
            unit.code = next_generated_code(session, parent=parent)
        if session.scalar(sa.select(Unit.id).where(Unit.code == unit.code).execution_options(**UNSCOPED)) is not None:
            raise Conflict(f"A unit with the code {unit.code} exists already.", errors={"code": ["taken"]})
        try:
            with session.begin_nested():
                session.add(unit)
                session.flush()
            break
        except sa.exc.IntegrityError:
            # Only a new root can get here: no parent row to lock, so two may pick one path.
            if attempt == PATH_ALLOCATION_ATTEMPTS - 1:
                raise Conflict("The tree is busy here; try again.") from None
    if parent is None:
        unit.district_id = unit.id
        session.flush()
    audit.record_unit(session, action="unit.create", unit=unit)
    return unit


def _check_parent(level: Level, parent: Unit | None) -> None:
    if problem := parent_problem(level, parent.level if parent else None):
        raise RuleViolation(
            f"{problem.capitalize()}.",
            errors={"parent_id": [problem]},
            expected_parent_level=level.parent.value if level.parent else None,
        )


def next_generated_code(session: Session, *, parent: Unit) -> str:
    """The parent's code plus the next three-digit sequence under it: after the highest in use or
    ever deleted (the admin log names deleted units by code, and a new unit under an old one's
    code would take its history)."""
    width = CODE_LENGTH[parent.level] + GENERATED_SEQUENCE_WIDTH
    low, high = parent.code + "000", parent.code + "999"
    generated = (Unit.code >= low, Unit.code <= high, sa.func.length(Unit.code) == width)
    taken = session.scalar(sa.select(sa.func.max(Unit.code)).where(*generated).execution_options(**UNSCOPED))
    # The district's deletions (an indexed column; the labels begin with the code).
    deleted = {label.partition(" ")[0] for label in session.scalars(
        sa.select(AdminEvent.target_label).where(AdminEvent.district_id == parent.district_id,
                                                 AdminEvent.action == "unit.delete")
        .execution_options(**UNSCOPED))}
    deleted = {code for code in deleted if len(code) == width and code.startswith(parent.code) and code.isdigit()}
    taken = max([code for code in [taken, *deleted] if code], default=None)
    sequence = int(taken[-GENERATED_SEQUENCE_WIDTH:]) + 1 if taken else 1
    if sequence >= 10**GENERATED_SEQUENCE_WIDTH:
        # The last number is taken (given explicitly, say): the first one free below it.
        used = set(session.scalars(sa.select(Unit.code).where(*generated).execution_options(**UNSCOPED))) | deleted
        sequence = next((n for n in range(1, 10**GENERATED_SEQUENCE_WIDTH)
                         if f"{parent.code}{n:0{GENERATED_SEQUENCE_WIDTH}d}" not in used), None)
        if sequence is None:
            raise RuleViolation(f"No free code is left under {parent.code}; give one explicitly.",
                                errors={"code": ["required: every generated code is taken"]})
    return f"{parent.code}{sequence:0{GENERATED_SEQUENCE_WIDTH}d}"


def last_root_sequence(session: Session) -> int:
    """The highest root (district) sequence ever given, deleted districts included: the admin
    log keeps their paths, and a new district on an old path would show the old one's log to
    its auditors."""
    last_unit = session.scalar(
        sa.select(sa.func.max(Unit.path)).where(Unit.parent_id.is_(None)).execution_options(**UNSCOPED)
    )
    last_logged = session.scalar(sa.select(sa.func.max(AdminEvent.path)).execution_options(**UNSCOPED))
    return max((paths.last_sequence(paths.ancestor_at(path, 0)) for path in (last_unit, last_logged) if path),
               default=0)


def allocate_child_path(session: Session, *, parent: Unit | None) -> str:
    """A fresh path under ``parent`` (or a new root path).

    The parent row is locked (``SELECT … FOR NO KEY UPDATE`` on PostgreSQL; SQLite serialises writers)
    and its ``next_child`` counter taken, so concurrent inserts under one parent never collide.
    Roots have no row to lock; ``UNIQUE(path)`` and the retry in the caller cover them.
    """
    if parent is None:
        return paths.child_path("", last_root_sequence(session) + 1)
    row = session.execute(
        sa.select(Unit.path, Unit.next_child)
        .where(Unit.id == parent.id)
        .with_for_update(key_share=True)  # as lock_units: foreign-key checks may pass
        .execution_options(**UNSCOPED)
    ).one()
    sequence = row.next_child + 1
    session.execute(
        sa.update(Unit)
        .where(Unit.id == parent.id)
        .values(next_child=sequence)
        .execution_options(synchronize_session=False)
    )
    parent.next_child = sequence
    session.expire(parent, ["next_child"])
    return paths.child_path(row.path, sequence)


def retired_parent(parent: Unit) -> str | None:
    """Why ``parent`` may take no new units under it, if so: a retired unit's matters already go
    to the unit above (creating, moving and importing units all ask)."""
    return None if parent.active else f"{parent.name} ({parent.code}) is no longer in use"


def _check_in_use(parent: Unit) -> None:
    if problem := retired_parent(parent):
        raise RuleViolation(f"{problem}; place the unit under one that is.", errors={"parent_id": ["inactive unit"]})


# Called as ``hook(session, unit=)`` in the same transaction after a unit is retired (``active``
# becomes false): other domains let go of what it may no longer hold (the people domain, the
# duties of its workers there).
RETIRED: list = []


def update_unit(session: Session, *, unit: Unit, version: int | None = None, **changes) -> Unit:
    lock_units(session, units=[unit])  # the version compared is the row's, not an earlier read's
    if version is not None and version != unit.version:
        raise Conflict(
            f"Unit {unit.id} has changed since version {version}; it is at {unit.version}.",
            current_version=unit.version,
        )
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise RuleViolation(f"Fields {sorted(unknown)} cannot be changed here.")
    changed = {key: value for key, value in changes.items() if getattr(unit, key) != value}
    if changed.get("active") is False:
        lock_out_takers(session, unit=unit)  # the row as it is: its update would leave the old one to lock
    if changed:
        before = {key: getattr(unit, key) for key in changed}
        for key, value in changed.items():
            setattr(unit, key, value)
        unit.version += 1
        session.flush()
        audit.record_unit(session, action="unit.update", unit=unit, details={"before": before, "after": changed})
        if changed.get("active") is False:
            for hook in RETIRED:
                hook(session, unit=unit)
    return unit


def delete_unit(session: Session, *, unit: Unit) -> None:
    # Before the guards look: a case naming the unit (a party's home) committed between their
    # look and the DELETE would have the foreign key's SET NULL clear it unseen.
    lock_out_takers(session, unit=unit)
    has_child = sa.select(Unit.id).where(Unit.parent_id == unit.id).limit(1).execution_options(**UNSCOPED)
    if session.scalar(has_child) is not None:
        raise Conflict(f"Unit {unit.code} still has child units; move or delete them first.")
    for reason in DELETE_GUARDS:
        if (message := reason(session, unit)) is not None:
            raise Conflict(message)
    audit.record_unit(session, action="unit.delete", unit=unit)
    session.delete(unit)
    session.flush()


# Checks other domains add: each returns why a unit may not be deleted (cases, assignments …).
DELETE_GUARDS: list = []
# What other domains do when a subtree moves: before its paths are rewritten (with the unit and
# its new parent, locked), and after (with the old and new paths).
BEFORE_MOVE: list = []
AFTER_MOVE: list = []


def move_unit(session: Session, *, unit: Unit, new_parent: Unit) -> Unit:
    """Re-parent ``unit`` and its whole subtree, rewriting every path in this transaction."""
    # A move decided on a stale read (a double submit, two moves at once) would rewrite paths
    # from a place the unit has already left.
    lock_units(session, units=[unit, new_parent])
    _check_parent(unit.level, new_parent)
    _check_in_use(new_parent)
    if paths.is_descendant_or_self(new_parent.path, unit.path):
        raise RuleViolation("A unit cannot move under itself or its own descendant.")
    if unit.parent_id == new_parent.id:
        return unit
    session.flush()
    for hook in BEFORE_MOVE:
        hook(session, unit=unit, new_parent=new_parent)
    old_path = unit.path
    details = {"from_parent_id": unit.parent_id, "to_parent_id": new_parent.id, "from_path": old_path}
    # The audit log stays where things happened: the place the unit leaves records its leaving
    # (recorded now, while the unit is still there), and the place it comes to its arrival.
    audit.record_unit(session, action="unit.move_out", unit=unit, details=details)
    new_path = allocate_child_path(session, parent=new_parent)
    rewrite_path_prefix(session, column=Unit.path, old_prefix=old_path, new_prefix=new_path)
    subtree = in_subtree(Unit.path, new_path)
    if new_parent.district_id != unit.district_id:
        session.execute(
            sa.update(Unit)
            .where(subtree)
            .values(district_id=new_parent.district_id)
            .execution_options(synchronize_session=False)
        )
    session.execute(
        sa.update(Unit)
        .where(Unit.id == unit.id)
        .values(parent_id=new_parent.id, version=Unit.version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    for path_column, district_column in PATH_COPIES:
        rewrite_path_prefix(session, column=path_column, old_prefix=old_path, new_prefix=new_path)
        if district_column is not None and new_parent.district_id != unit.district_id:
            session.execute(
                sa.update(path_column.class_)
                .where(in_subtree(path_column, new_path))
                .values({district_column.key: new_parent.district_id})
                .execution_options(synchronize_session=False)
            )
    for hook in AFTER_MOVE:
        hook(session, unit_id=unit.id, old_path=old_path, new_path=new_path)
    session.expire_all()
    moved = session.get(Unit, unit.id)
    audit.record_unit(session, action="unit.move", unit=moved, details=details)
    return moved


def rewrite_path_prefix(session: Session, *, column, old_prefix: str, new_prefix: str) -> None:
    """Every value of ``column`` in the subtree at ``old_prefix`` now starts with ``new_prefix``."""
    session.execute(
        sa.update(column.class_)
        .where(in_subtree(column, old_prefix))
        .values({column.key: sa.literal(new_prefix) + sa.func.substr(column, len(old_prefix) + 1)})
        .execution_options(synchronize_session=False)
    )
