"""The sweep: overdue cases are escalated where policy says so, otherwise marked red;
provisional deadlines are counted again on the holiday calendar as installed now; and the
idempotency keys of requests older than a week are forgotten.

Run it every few minutes (``flask --app gridgov cases sweep``, from cron or a systemd timer).
It is idempotent — a marked case is not marked again, an escalated one has a new deadline — and
safe in two processes at once: on PostgreSQL each batch is taken with ``FOR UPDATE SKIP LOCKED``,
so no case is handled by both; SQLite lets one writer in at a time, from its first look.
"""

from datetime import datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gridgov.cases import calendar, service, transitions
from gridgov.cases.enums import DEADLINE_STANDS, EscalationReason, HandlingLevel, Status
from gridgov.cases.models import Case, CaseEvent
from gridgov.db import UTCDateTime, moment_text, utcnow
from gridgov.errors import BeingMoved
from gridgov.tree import service as tree_service

# Where an overdue case may go up from: the statuses escalate allows with deadline_exceeded.
ESCALATABLE = sorted(transitions.sources("escalate", reason=EscalationReason.DEADLINE_EXCEEDED.value))
# Cases whose standing deadline was counted past the holiday data (the partial index
# ix_cases_provisional finds them).
PROVISIONAL = sa.and_(Case.deadline_provisional, Case.status.in_(DEADLINE_STANDS))


def closed_provisional(data_end: datetime):
    """Closed cases judged on time or late against such a deadline whose clock started before
    ``data_end`` (the end of the installed holiday data): for the others the data says nothing
    new yet, and until it does they would pile up, every run taking them again."""
    return sa.and_(Case.deadline_provisional, Case.status == Status.CLOSED, Case.clock_started_at < data_end)


def sweep(session: Session, *, now: datetime | None = None, batch_size: int = 1000, progress=None) -> dict:
    """Handle every case overdue at ``now``; commits batch by batch. Returns the counts."""
    # Each batch is stamped (its events, updated_at) with the moment it is handled, not the
    # sweep's start: an app syncing by updated_at while a long sweep runs would read past changes
    # committed later, and miss them for good. A given ``now`` (a simulated clock) stamps all.
    stamp = (lambda: now) if now is not None else utcnow
    now = now or utcnow()
    progress = progress or (lambda _n: None)
    policy = service.current_policy()
    escalating_levels = [level for level in policy.sweep_escalates_from if level is not HandlingLevel.DISTRICT]
    overdue = sa.and_(Case.status.in_(DEADLINE_STANDS), Case.deadline_at <= now)
    escalate_here = sa.and_(Case.owner_level.in_(escalating_levels), Case.status.in_(ESCALATABLE))
    # Cases whose units are being moved (BeingMoved) are left to the next run: this one holds
    # their rows, which the move needs next, and must not wait for it.
    skipped: set[int] = set()

    recounted = _recount_provisional(session, stamp=stamp, batch_size=batch_size)
    escalated = _escalate(session, sa.and_(overdue, escalate_here), stamp=stamp, batch_size=batch_size,
                          skipped=skipped, progress=progress)
    # Marked red once. An escalatable case is escalated even so (above): one marked while it
    # could not be (reopened) and accepted since would otherwise wait where it is for good.
    unmarked = Case.overdue_marked_at.is_(None)
    marked = _mark_overdue(session, sa.and_(overdue, unmarked, sa.not_(escalate_here)), stamp=stamp,
                           batch_size=batch_size, skipped=skipped, progress=progress)
    forgotten = service.forget_idempotency_keys(session, now=now)
    session.commit()  # end the transaction the last look opened (on SQLite it holds the lock)
    return {"recounted": recounted, "escalated": escalated, "marked": marked, "keys_forgotten": forgotten}


def _recount_provisional(session: Session, *, stamp, batch_size: int) -> int:
    """Deadlines counted past the holiday data (and closings judged against one), counted again in
    case newer data has been installed since (the package is updated when the State Council
    publishes)."""
    recounted = 0
    data_end = datetime.combine(calendar.last_known_day() + timedelta(days=1), time(), tzinfo=calendar.TIMEZONE)
    # One after the other, not OR-ed: each is read from the partial index on its own.
    for condition in (PROVISIONAL, closed_provisional(data_end)):
        last_id = 0
        while ids := _take(session, sa.and_(condition, Case.id > last_id), batch_size, order=Case.id):
            now = stamp()
            for case in session.scalars(sa.select(Case).where(Case.id.in_(ids)).order_by(Case.id)):
                try:
                    recounted += service.recount_deadline(session, case=case, now=now)
                except BeingMoved:  # its owner is being moved: the next run counts it
                    session.expire(case)
            session.commit()
            last_id = ids[-1]
    return recounted


def _escalate(session: Session, condition, *, stamp, batch_size: int, skipped: set[int], progress) -> int:
    escalated = 0
    while ids := _take(session, sa.and_(condition, Case.id.not_in(skipped)), batch_size):
        now = stamp()
        for case in session.scalars(sa.select(Case).where(Case.id.in_(ids)).order_by(Case.id)):
            try:
                service.act(
                    session, case=case, action="escalate", actor=None, version=None,
                    params={"reason": EscalationReason.DEADLINE_EXCEEDED, "note": "overdue (sweep)"}, now=now,
                )
                escalated += 1
            except BeingMoved:
                session.expire(case)
                skipped.add(case.id)
        session.commit()
        progress(len(ids))
    return escalated


def _mark_overdue(session: Session, condition, *, stamp, batch_size: int, skipped: set[int], progress) -> int:
    marked_in_all = 0
    while ids := _take(session, sa.and_(condition, Case.id.not_in(skipped)), batch_size):
        marked = _mark_red(session, ids=ids, now=stamp())
        skipped.update(set(ids) - set(marked))
        session.commit()
        marked_in_all += len(marked)
        progress(len(ids))
    return marked_in_all


def _take(session: Session, condition, batch_size: int, order=None) -> list[int]:
    """Ids of up to ``batch_size`` cases, locked for this transaction; others' locks skipped."""
    ordering = (order,) if order is not None else (Case.deadline_at, Case.id)
    # SQLite has no row locks: there the locking read takes the database's write lock (db.py).
    stmt = sa.select(Case.id).where(condition).order_by(*ordering).limit(batch_size).with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def _mark_red(session: Session, *, ids: list[int], now: datetime) -> list[int]:
    """One UPDATE and one INSERT … SELECT of their events for the whole batch: the rows never
    travel to Python and back. Returns the ids marked: all but those whose owner is being moved
    (their events name it)."""
    owners = dict(session.execute(sa.select(Case.id, Case.owner_unit_id).where(Case.id.in_(ids))).all())
    held = tree_service.try_to_hold(session, unit_ids=owners.values())
    ids = [case_id for case_id in ids if owners[case_id] in held]
    if not ids:
        return []
    session.execute(
        sa.update(Case)
        .where(Case.id.in_(ids), Case.overdue_marked_at.is_(None))
        .values(overdue_marked_at=now, version=Case.version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    details = {"changes": {"overdue_marked_at": moment_text(now)}}
    session.execute(
        sa.insert(CaseEvent).from_select(
            ["case_id", "at", "actor", "action", "from_status", "to_status",
             "from_owner_unit_id", "to_owner_unit_id", "reason", "details"],
            sa.select(
                Case.id, sa.literal(now, UTCDateTime), sa.literal(service.SYSTEM_ACTOR), sa.literal("mark_overdue"),
                Case.status, Case.status, Case.owner_unit_id, Case.owner_unit_id, sa.literal("overdue"),
                sa.literal(details, sa.JSON),
            ).where(Case.id.in_(ids), Case.overdue_marked_at == now),
        )
    )
    session.expire_all()
    return ids
