"""Keeping the counters: every case change adds its difference to its origin's and each
ancestor's rows in the same transaction; a unit move shifts the subtree's sums from the old
ancestors to the new; ``rebuild`` computes them all from the cases.

Micro-grids keep totals but no day rows: a micro-grid's own cases are few, and its windowed
figures are counted from them (``service``). Day rows at that level would be about one per case,
the largest table in the database for the least-asked question.
"""

import copy
import functools
from collections import defaultdict
from datetime import date

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy import event
from sqlalchemy.orm import Session, aliased

from gridgov.auth.scope import UNSCOPED
from gridgov.cases.enums import HandlingLevel
from gridgov.cases.models import Case, CaseEvent
from gridgov.rollups import measures
from gridgov.rollups.models import unit_days, unit_totals
from gridgov.tree import paths
from gridgov.tree import service as tree_service
from gridgov.tree.levels import Level
from gridgov.tree.models import Unit, ancestor_or_self

Totals = dict[str, float]
Days = dict[date, dict[str, float]]

# The levels that keep day rows (see the module's docstring).
DAY_LEVELS = frozenset(Level) - {Level.MICROGRID}
# session.info key of the changes not yet written (see flush_pending).
PENDING = "gridgov.rollups.pending"
SAVED = "gridgov.rollups.saved"  # the pending changes as each open savepoint began
# Origin unit → its lineage [(unit id, level)], where a caller read it under a lock that keeps it
# until the commit (see track); a move in this transaction, or a savepoint's rollback, forgets them.
LINEAGES = "gridgov.rollups.lineages"


def state(case, policy) -> tuple[Totals, Days]:
    """What ``case`` counts for now: take it before a change, pass it to ``track`` after."""
    return measures.contribution(case, weights=policy.risk_weights)


def track(session: Session, case, *, before: tuple[Totals, Days] | None, policy, extra=None, lineage=None) -> None:
    """Add what the change of ``case`` made to the counters (``before`` None: a new case);
    ``extra``: flows that are not state, such as an escalation; ``lineage``: the origin's
    units, root first, when the caller holds them (``tree_service.lock_lineage``, ``hold_lineage``):
    it saves ``flush_pending`` the query."""
    if lineage is not None:
        session.info.setdefault(LINEAGES, {})[case.origin_unit_id] = [(unit.id, unit.level) for unit in lineage]
    after_totals, after_days = state(case, policy)
    before_totals, before_days = before or ({}, {})
    totals = _difference(after_totals, before_totals)
    days = {day: _difference(after_days.get(day, {}), before_days.get(day, {}))
            for day in after_days.keys() | before_days.keys()}
    if extra is not None:
        extra_totals, extra_days = extra
        _accumulate(totals, extra_totals)
        for day, row in extra_days.items():
            _accumulate(days.setdefault(day, {}), row)
    apply(session, origin_unit_id=case.origin_unit_id, totals=totals, days=days)


def apply(session: Session, *, origin_unit_id: int, totals: Totals, days: Days) -> None:
    """Add ``totals`` and ``days`` to the rows of the unit and its ancestors, when the
    transaction commits (``flush_pending``). Kept by unit, not path: a move in this transaction
    writes them first, on the lineage they were made in."""
    pending = session.info.setdefault(PENDING, {})
    pending_totals, pending_days = pending.setdefault(origin_unit_id, ({}, {}))
    _accumulate(pending_totals, totals)
    for day, row in days.items():
        _accumulate(pending_days.setdefault(day, {}), row)


_origin = aliased(Unit)
LINEAGES_OF = (
    sa.select(_origin.id.label("origin_id"), Unit.id, Unit.level)
    .join(_origin, ancestor_or_self(Unit.path, _origin.path))
    .where(_origin.id.in_(sa.bindparam("origin_ids", expanding=True))).execution_options(**UNSCOPED)
)


def flush_pending(session: Session) -> None:
    """Write what this transaction's changes added, all at once and in unit order.

    Held back to the commit on purpose: a transaction that changes cases in two districts (a
    sweep's batch) would otherwise lock the districts' rows in the order it met them, and two
    such transactions could each wait for the other. Sorted, every transaction takes its locks
    in the same order; and the sweep's thousand changes become one upsert per row they touch.
    Reads of the counters call this first, so that a transaction sees its own changes; so does
    a unit move, before it rewrites the paths."""
    pending = session.info.pop(PENDING, None)
    lineages = session.info.pop(LINEAGES, {})
    if not pending:
        return
    missing = sorted(pending.keys() - lineages.keys())
    for start in range(0, len(missing), 500):
        for row in session.execute(LINEAGES_OF, {"origin_ids": missing[start:start + 500]}):
            lineages.setdefault(row.origin_id, []).append((row.id, row.level))
    totals: dict[int, Totals] = defaultdict(dict)
    days: dict[tuple[int, date], dict] = defaultdict(dict)
    for origin_id, (origin_totals, origin_days) in pending.items():
        for unit_id, level in lineages[origin_id]:
            _accumulate(totals[unit_id], origin_totals)
            if level in DAY_LEVELS:
                for day, row in origin_days.items():
                    _accumulate(days[(unit_id, day)], row)
    add_rows(session, totals={key: nonzero for key, row in totals.items() if (nonzero := _nonzero(row))},
             days={key: nonzero for key, row in days.items() if (nonzero := _nonzero(row))})


# The pending changes follow the transaction: written when the whole of it commits (not when a
# savepoint is released), dropped when it rolls back, and put back as they were when a savepoint
# rolls back (what was tracked inside it did not happen).
@event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    if not session.in_nested_transaction():
        flush_pending(session)


@event.listens_for(Session, "after_transaction_create")
def _remember_at_savepoint(session: Session, transaction) -> None:
    if transaction.nested:
        saved = session.info.setdefault(SAVED, {})
        saved[id(transaction)] = copy.deepcopy(session.info.get(PENDING, {}))


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, previous_transaction) -> None:
    if previous_transaction.nested:
        remembered = session.info.get(SAVED, {}).get(id(previous_transaction))
        if remembered is not None:
            session.info[PENDING] = remembered
        session.info.pop(LINEAGES, None)  # one may come from a move that did not happen
    elif previous_transaction.parent is None:  # the whole transaction
        session.info.pop(PENDING, None)
        session.info.pop(LINEAGES, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_savepoints(session: Session, transaction) -> None:
    # Not at each savepoint's end: SQLAlchemy ends it before it reports its rollback.
    if transaction.parent is None:
        session.info.pop(SAVED, None)


def add_rows(session: Session, *, totals: dict[int, Totals], days: dict[tuple[int, date], dict]) -> None:
    """Upsert: each value is added to what the row holds (a missing row counts as zeros). One
    statement a table, rows in key order: the order every transaction takes their locks in."""
    _upsert_many(session, unit_totals, ["unit_id"], [({"unit_id": unit_id}, totals[unit_id]) for unit_id in sorted(totals)])
    _upsert_many(session, unit_days, ["unit_id", "day"],
                 [({"unit_id": unit_id, "day": day}, days[(unit_id, day)]) for unit_id, day in sorted(days)])


def _upsert_many(session: Session, table: sa.Table, keys: list[str], rows: list[tuple[dict, dict]]) -> None:
    rows = [(key, values) for key, values in rows if values]
    if not rows:
        return
    # One column list for every row (executemany needs it): adding 0 leaves a column as it was.
    columns = tuple(sorted({column for _key, values in rows for column in values}))
    statement = _upsert_statement(table, tuple(keys), columns, session.get_bind().dialect.name)
    session.execute(statement, [{**key, **{column: values.get(column, 0) for column in columns}}
                                for key, values in rows])


@functools.lru_cache(maxsize=256)
def _upsert_statement(table: sa.Table, keys: tuple[str, ...], columns: tuple[str, ...], dialect: str):
    """Built once per column list: ``excluded`` copies every column of the table, which costs
    more than the statement's execution."""
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={column: table.c[column] + statement.excluded[column] for column in columns},
    )


def _difference(after: dict, before: dict) -> dict:
    return {key: after.get(key, 0) - before.get(key, 0) for key in after.keys() | before.keys()}


def _accumulate(target: dict, source: dict) -> None:
    """``target += source``, in place: the rebuild adds millions of small dicts."""
    for key, value in source.items():
        target[key] = target.get(key, 0) + value


# --- unit moves ----------------------------------------------------------------------------------


def shift(session: Session, *, unit_id: int, old_path: str, new_path: str) -> None:
    """After a move: the subtree's sums leave the old ancestors and join the new ones. The
    subtree's own rows stay as they are (its cases moved with it)."""
    total_row = session.execute(sa.select(unit_totals).where(unit_totals.c.unit_id == unit_id)).mappings().first()
    level = session.scalar(sa.select(Unit.level).where(Unit.id == unit_id).execution_options(**UNSCOPED))
    if level in DAY_LEVELS:
        day_rows = session.execute(sa.select(unit_days).where(unit_days.c.unit_id == unit_id)).mappings().all()
    else:  # a micro-grid keeps no day rows: what its ancestors hold for it comes from its cases
        from gridgov.cases.service import current_policy

        own = days_from_cases(session, origin_ids=[unit_id], weights=current_policy().risk_weights).get(unit_id, {})
        day_rows = [{"day": day, **{column: row.get(column, 0) for column in measures.DAY_COLUMNS}}
                    for day, row in own.items()]
    if total_row is None and not day_rows:
        return
    old = _units_at(session, paths.ancestor_paths(old_path))
    new = _units_at(session, paths.ancestor_paths(new_path))
    totals, days = {}, {}
    for ancestors, sign in ((old, -1), (new, 1)):
        for ancestor_id, level in ancestors:
            if total_row is not None:
                _accumulate(totals.setdefault(ancestor_id, {}), _scaled(total_row, measures.TOTAL_COLUMNS, sign))
            if level in DAY_LEVELS:
                for row in day_rows:
                    _accumulate(days.setdefault((ancestor_id, row["day"]), {}), _scaled(row, measures.DAY_COLUMNS, sign))
    add_rows(session, totals={k: _nonzero(v) for k, v in totals.items()},
             days={k: nonzero for k, v in days.items() if (nonzero := _nonzero(v))})


def days_from_cases(session: Session, *, origin_ids: list[int], weights: dict) -> dict[int, Days]:
    """The day sums of units that keep no day rows (micro-grids), from their own cases and
    escalations: the same contributions the counters add up."""
    days: dict[int, Days] = defaultdict(dict)

    def add(origin_id: int, contribution_days: Days) -> None:
        for day, row in contribution_days.items():
            _accumulate(days[origin_id].setdefault(day, {}), row)

    for case in session.execute(
        sa.select(*CASE_COLUMNS).where(Case.origin_unit_id.in_(origin_ids)).execution_options(**UNSCOPED)
    ):
        add(case.origin_unit_id, measures.contribution(case, weights=weights)[1])
    for origin_id, at, level in _escalation_events(session, Case.origin_unit_id.in_(origin_ids)):
        add(origin_id, measures.escalation(level=level, at=at)[1])
    return days


def _escalation_events(session: Session, condition) -> list[tuple[int, object, HandlingLevel]]:
    """(origin unit, when, the level it went to) of every escalation of the cases ``condition`` picks."""
    rows = session.execute(
        sa.select(Case.origin_unit_id, CaseEvent.at, Unit.level)
        .join(Case, Case.id == CaseEvent.case_id)
        .join(Unit, Unit.id == CaseEvent.to_owner_unit_id)
        .where(condition, CaseEvent.action == "escalate")
        .execution_options(**UNSCOPED)
    )
    return [(origin_id, at, HandlingLevel(level.value)) for origin_id, at, level in rows]


def _units_at(session: Session, unit_paths: list[str]) -> list[tuple[int, Level]]:
    return session.execute(
        sa.select(Unit.id, Unit.level).where(Unit.path.in_(unit_paths)).execution_options(**UNSCOPED)
    ).all()


def _scaled(row, columns, sign: int) -> dict:
    return {column: sign * row[column] for column in columns if row[column]}


def _nonzero(values: dict) -> dict:
    return {key: value for key, value in values.items() if value}


# --- rebuilding ----------------------------------------------------------------------------------

# The columns a contribution reads: the rebuild streams these, not whole ORM objects.
CASE_COLUMNS = [
    Case.id, Case.origin_unit_id, Case.status, Case.category, Case.risk_grade, Case.owner_level,
    Case.created_at, Case.resolved_at, Case.resolved_level, Case.closed_at, Case.closed_on_time,
    Case.satisfaction, Case.deadline_at, Case.yellow_at,
]


def rebuild(session: Session, *, policy, district_id: int | None = None, progress=None) -> int:
    """Recount every counter (of one district, or all) from the cases and their escalation
    events. Returns the number of cases counted. District by district, so that memory holds one
    district's sums at a time."""
    flush_pending(session)  # written first, so that nothing pending lands on recounted rows later
    districts = [district_id] if district_id is not None else list(session.scalars(
        sa.select(Unit.id).where(Unit.parent_id.is_(None)).order_by(Unit.id).execution_options(**UNSCOPED)
    ))
    counted = 0
    for district in districts:
        counted += _rebuild_district(session, district_id=district, policy=policy)
        if progress is not None:
            progress(1)
    return counted


def _rebuild_district(session: Session, *, district_id: int, policy) -> int:
    # Share-locked: a move in or out of the district waits for the recount, or is seen whole.
    units = {row.id: row for row in session.execute(
        sa.select(Unit.id, Unit.path, Unit.level).where(Unit.district_id == district_id)
        .with_for_update(read=True).execution_options(**UNSCOPED)
    )}
    by_path = {row.path: row for row in units.values()}
    unit_ids = sa.select(Unit.id).where(Unit.district_id == district_id).scalar_subquery()
    session.execute(sa.delete(unit_totals).where(unit_totals.c.unit_id.in_(unit_ids)))
    session.execute(sa.delete(unit_days).where(unit_days.c.unit_id.in_(unit_ids)))

    # Sums per origin unit first: far fewer than cases, and then each goes up its lineage once.
    origin_totals: dict[int, Totals] = defaultdict(dict)
    origin_days: dict[int, Days] = defaultdict(dict)

    def add(origin_id: int, contribution: tuple[Totals, Days]) -> None:
        totals, days = contribution
        _accumulate(origin_totals[origin_id], totals)
        for day, row in days.items():
            _accumulate(origin_days[origin_id].setdefault(day, {}), row)

    counted = 0
    rows = session.execute(
        sa.select(*CASE_COLUMNS).where(Case.district_id == district_id).execution_options(**UNSCOPED, yield_per=5000)
    )
    for case in rows:
        add(case.origin_unit_id, measures.contribution(case, weights=policy.risk_weights))
        counted += 1
    for origin_id, at, level in _escalation_events(session, Case.district_id == district_id):
        add(origin_id, measures.escalation(level=level, at=at))

    totals: dict[int, Totals] = defaultdict(dict)
    days: dict[tuple[int, date], dict] = defaultdict(dict)
    for origin_id in origin_totals.keys() | origin_days.keys():
        path = units[origin_id].path
        for lineage_path in (*paths.ancestor_paths(path), path):
            unit = by_path[lineage_path]
            _accumulate(totals[unit.id], origin_totals[origin_id])
            if unit.level in DAY_LEVELS:
                for day, row in origin_days[origin_id].items():
                    _accumulate(days[(unit.id, day)], row)
    _insert_all(session, unit_totals, [{"unit_id": unit_id, **_nonzero(row)} for unit_id, row in totals.items()],
                measures.TOTAL_COLUMNS)
    _insert_all(session, unit_days, [{"unit_id": unit_id, "day": day, **_nonzero(row)}
                                     for (unit_id, day), row in days.items()], measures.DAY_COLUMNS)
    return counted


def _insert_all(session: Session, table: sa.Table, rows: list[dict], columns: list[str], batch: int = 5000) -> None:
    # executemany needs every row to name the same columns.
    full = [{**{column: 0 for column in columns}, **row} for row in rows]
    for start in range(0, len(full), batch):
        session.execute(sa.insert(table), full[start:start + batch])


def read_all(session: Session) -> tuple[dict, dict]:
    """Every counter as {unit_id: {column: value}} and {(unit_id, day): {…}}, zeros left out:
    what a test compares before and after a rebuild."""
    flush_pending(session)
    totals = {row["unit_id"]: _nonzero({c: row[c] for c in measures.TOTAL_COLUMNS})
              for row in session.execute(sa.select(unit_totals)).mappings()}
    days = {(row["unit_id"], row["day"]): _nonzero({c: row[c] for c in measures.DAY_COLUMNS})
            for row in session.execute(sa.select(unit_days)).mappings()}
    return ({k: v for k, v in totals.items() if v}, {k: v for k, v in days.items() if v})


def _before_move(session: Session, **_move) -> None:
    flush_pending(session)  # pending changes land on the lineage they were made in


tree_service.BEFORE_MOVE.append(_before_move)
tree_service.AFTER_MOVE.append(shift)
