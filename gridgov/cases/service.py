"""Logging cases and acting on them. Every change writes its event in the same transaction."""

import json
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from gridgov.auth import pii
from gridgov.auth import service as auth_service
from gridgov.auth.models import Principal
from gridgov.auth.permissions import ACTION_PERMISSIONS, Role, allows
from gridgov.auth.scope import UNSCOPED, current_principal, current_scope
from gridgov.cases import clock, policy as policy_module
from gridgov.cases.calendar import TIMEZONE
from gridgov.cases.enums import (
    CLOCK_RUNNING,
    DEADLINE_STANDS,
    HANDLING_ORDER,
    EscalationReason,
    OPEN_STATUSES,
    HandlingLevel,
    Outcome,
    RejectionReason,
    Status,
)
from gridgov.cases.models import (
    Case,
    CaseEvent,
    CaseSequence,
    IdempotencyRecord,
    MediationAttempt,
    Party,
    in_area,
    studio_ids_of,
)
from gridgov.cases.transitions import TRANSITIONS, allowed, allowed_from, described_from, sources
from gridgov.db import moment_text, one_by_id, utc_moment, utcnow
from gridgov.errors import BeingMoved, Conflict, Forbidden, InvalidInput, NotFound, RuleViolation
from gridgov.rollups import counters, measures
from gridgov.tree import paths
from gridgov.tree import service as tree_service
from gridgov.tree.levels import ORDER as LEVEL_ORDER, Level
from gridgov.tree.models import Unit, in_subtree

SYSTEM_ACTOR = "system"  # no principal: the sweep, the command line, the seed


def current_policy() -> policy_module.Policy:
    """The deployment's policy, which ``create_app`` built (and checked) from ``CASE_POLICY``."""
    return current_app.extensions["gridgov.case_policy"]


# --- reading ------------------------------------------------------------------------------------


def get_case(session: Session, *, case_id: int) -> Case:
    return one_by_id(session, Case, case_id, label="Case")


def events(session: Session, *, case: Case, after_id: int | None = None, limit: int | None = None) -> list[CaseEvent]:
    """The case's events in the order they happened: all of them, or ``limit + 1`` after
    ``after_id`` (a page, and whether there is another)."""
    stmt = sa.select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
    if after_id is not None:
        stmt = stmt.where(CaseEvent.id > after_id)
    if limit is not None:
        stmt = stmt.limit(limit + 1)
    return list(session.scalars(stmt))


def may_read_pii(principal: Principal | None, case: Case) -> bool:
    """District command and auditors see personal data; so do the specialists a case is given
    to, themselves or through their studio (they call the parties)."""
    if principal is None:
        return True  # the command line
    if allows(principal.role, "pii:read"):
        return True
    if principal.role is not Role.SPECIALIST:
        return False
    if case.assignee_id == principal.id:
        return True
    return case.studio_id is not None and case.studio_id in studio_ids_of(principal.id)


# --- units a case moves between -----------------------------------------------------------------


def handling_unit(session: Session, *, unit: Unit, level: HandlingLevel, lineage: list[Unit] | None = None) -> Unit:
    """The ancestor-or-self of ``unit`` at ``level`` (unscoped: a case may go above its logger),
    taken from ``lineage`` (``tree_service.lineage`` of ``unit``) when it is at hand."""
    if unit.level.rank < level.tree_level.rank:
        raise RuleViolation(f"{unit.name} lies above the {level} level.")
    if lineage is not None:
        return lineage[level.tree_level.rank]
    return tree_service.get_unit_at_path(session, path=paths.ancestor_at(unit.path, level.tree_level.rank))


def in_use(session: Session, unit: Unit, *, lineage: list[Unit] | None = None) -> Unit:
    """``unit`` if it is in use, else the nearest unit above it that is (a retired unit takes no
    cases; its matters go up); in the end the district. ``lineage`` as for ``handling_unit``."""
    while not unit.active and unit.parent_id is not None:
        unit = (lineage[unit.level.rank - 1] if lineage is not None
                else tree_service.get_unit_unscoped(session, unit_id=unit.parent_id))
    return unit


def typed_reference(text: str) -> str:
    """A public reference as someone read it out and typed it (in either case, or full-width as a
    Chinese input method types it) in the form a case carries it (NX-2026-000123)."""
    return unicodedata.normalize("NFKC", text).upper()


def own_level(unit: Unit) -> HandlingLevel:
    """The level that handles what happens in ``unit``: a micro-grid's matters go to its grid."""
    return HandlingLevel.GRID if unit.level is Level.MICROGRID else HandlingLevel(unit.level.value)


# --- logging ------------------------------------------------------------------------------------


def create_case(
    session: Session,
    *,
    actor: Principal | None,
    title: str,
    category,
    risk_grade,
    source,
    origin_unit_id: int,
    description: str = "",
    people_involved: int = 1,
    amount_in_dispute: Decimal | None = None,
    parties: list[dict] = (),
    idempotency_key: str | None = None,
    now: datetime | None = None,
    allow_inactive_origin: bool = False,
) -> tuple[Case, bool]:
    """The new case, owned as policy says, and whether it was created now (False: an
    ``idempotency_key`` already used for the same request answered the first case).

    The origin must be in use (active), unless ``allow_inactive_origin``: a resident's report
    filed while its unit was in use still becomes a case there."""
    now = now or utcnow()
    fields = dict(
        title=title, category=category, risk_grade=risk_grade, source=source, origin_unit_id=origin_unit_id,
        description=description, people_involved=people_involved, amount_in_dispute=amount_in_dispute,
        parties=list(parties),
    )
    record = None
    if idempotency_key is not None:
        earlier, record = _reserve_key(session, actor=actor, key=idempotency_key, fields=fields)
        if earlier is not None:
            return earlier, False

    lineage = tree_service.lineage(session, unit_id=origin_unit_id)  # in the logger's scope, or 404
    origin, district = lineage[-1], lineage[0]
    if not origin.active and not allow_inactive_origin:
        raise RuleViolation(f"{origin.name} is no longer in use; log the case where it happened now.",
                            errors={"origin_unit_id": ["inactive unit"]})
    policy = current_policy()
    required = policy.required_level(
        category=category, risk_grade=risk_grade, people_involved=people_involved, source=source
    )
    level = max(own_level(origin), required, key=lambda lvl: lvl.rank)
    owner = in_use(session, handling_unit(session, unit=origin, level=level, lineage=lineage), lineage=lineage)
    level = own_level(owner)

    case = Case(
        district_id=origin.district_id,
        title=title,
        description=description or "",
        category=category,
        risk_grade=risk_grade,
        people_involved=people_involved,
        # abs(): -0 is 0 ("-0.00" yuan is no amount anyone owes)
        amount_in_dispute=abs(Decimal(amount_in_dispute).quantize(Decimal("0.01"))) if amount_in_dispute is not None else None,
        source=source,
        origin_unit_id=origin.id,
        origin_path=origin.path,
        owner_unit_id=owner.id,
        owner_path=owner.path,
        owner_level=level,
        highest_level=level,
        arrived_at=now,
        status=Status.REPORTED,
        created_by_id=actor.id if actor else None,
        created_at=now,
        updated_at=now,
    )
    case.attachments = []  # a new case has none: no query to find that out after the commit
    case.parties = [_party(session, **party) for party in parties]
    clock.start(case, now=now, policy=policy)
    # From here to the commit no move may change where the case happened (on SQLite, no other
    # writer may write), so all that can be worked out comes before: the lock is held briefly.
    tree_service.lock_lineage(session, lineage=lineage)
    counters.track(session, case, before=None, policy=policy, lineage=lineage)
    case.reference = _next_reference(session, district=district, year=now.astimezone(TIMEZONE).year)
    session.add(case)
    session.flush()
    parties_logged = [_party_as_told(party) for party in parties]
    _event(session, case, actor=actor, action="create", now=now, before={}, from_status=None,
           from_owner=None, reason=None, details={"parties": parties_logged} if parties_logged else None)
    if record is not None:
        record.case_id = case.id
        session.flush()
    return case, True


def _party(session: Session, *, role, name, phone=None, id_number=None, home_unit_id=None) -> Party:
    if home_unit_id is not None:
        tree_service.get_unit_unscoped(session, unit_id=home_unit_id)  # a party may live outside the logger's scope
    return Party(
        role=role,
        name=name,
        phone=phone,
        id_number_hash=pii.keyed_hash(id_number, purpose="id_number") if id_number else None,
        id_number_last4=pii.last_four(id_number) if id_number else None,
        home_unit_id=home_unit_id,
    )


def _fingerprint(fields: dict) -> str:
    """The request's fingerprint, keyed: its parties' ID numbers are in it."""
    return pii.keyed_digest(json.dumps(fields, sort_keys=True, default=str).encode(), purpose="idempotency")


def _reserve_key(session: Session, *, actor, key: str, fields: dict) -> tuple[Case | None, IdempotencyRecord | None]:
    """The case an earlier request with this key made or acted on, or a new reservation of the key.

    The key is reserved before the case is made, in the same transaction: a retry racing the
    first request waits on the unique index (PostgreSQL) or the database lock (SQLite), then
    finds its case, or, the first having failed, goes on itself. (So a record seen has its case.)
    """
    if actor is None:
        raise RuleViolation("An Idempotency-Key needs a signed-in principal.")
    fingerprint = _fingerprint(fields)
    lookup = sa.select(IdempotencyRecord).where(IdempotencyRecord.principal_id == actor.id, IdempotencyRecord.key == key)
    record = session.scalar(lookup)
    if record is None:
        try:
            with session.begin_nested():
                record = IdempotencyRecord(principal_id=actor.id, key=key, request_hash=fingerprint)
                session.add(record)
            return None, record
        except sa.exc.IntegrityError:
            record = session.scalar(lookup)
            if record is None:  # not the key's uniqueness: something else refused the row
                raise
    if record.request_hash != fingerprint:
        # 422, not 409: sending it again cannot help (draft-ietf-httpapi-idempotency-key-header).
        raise RuleViolation("This Idempotency-Key was used for a different request; use a new key for each request.",
                            errors={"Idempotency-Key": ["used for a different request"]})
    case = session.scalar(sa.select(Case).where(Case.id == record.case_id))  # as the caller may see it now
    if case is None:
        # Not a second case, nor a 404 the phone would take for "not logged": it was done.
        reference = session.scalar(sa.select(Case.reference).where(Case.id == record.case_id)
                                   .execution_options(**UNSCOPED))
        raise Forbidden(f"The request with this Idempotency-Key was done: case {reference}, which is outside "
                        "your scope now.")
    return case, None


# How long a retried request with an Idempotency-Key answers what the first one did: a phone
# out of reach in the hills for days still gets its own case back. Older keys are forgotten by
# the sweep (``forget_idempotency_keys``).
KEYS_KEPT = timedelta(days=7)


def forget_idempotency_keys(session: Session, *, now: datetime) -> int:
    """Forget the keys older than ``KEYS_KEPT``; how many."""
    return session.execute(sa.delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - KEYS_KEPT)).rowcount


_sequences = CaseSequence.__table__
# A Core statement, built once: the ORM's UPDATE machinery would cost more than the update.
BUMP_SEQUENCE = (
    sa.update(_sequences)
    .where(_sequences.c.district_id == sa.bindparam("district"), _sequences.c.year == sa.bindparam("in_year"))
    .values(last_number=_sequences.c.last_number + 1)
    .returning(_sequences.c.last_number)
)


def _next_reference(session: Session, *, district: Unit, year: int) -> str:
    """``NX-2026-000123``: a per-district, per-year sequence. The increment is one UPDATE …
    RETURNING, which takes the row lock itself: concurrent cases queue for it, never share it."""
    key = {"district": district.id, "in_year": year}
    number = session.execute(BUMP_SEQUENCE, key).scalar()
    if number is None:  # the year's first case in the district
        try:
            with session.begin_nested():
                session.execute(sa.insert(_sequences).values(district_id=district.id, year=year, last_number=1))
            number = 1
        except sa.exc.IntegrityError:  # another transaction made the row first
            number = session.execute(BUMP_SEQUENCE, key).scalar()
    prefix = current_app.config["CASE_REFERENCE_PREFIXES"].get(district.code, district.code)
    return f"{prefix}-{year}-{number:06d}"


# --- acting -------------------------------------------------------------------------------------


def act(
    session: Session,
    *,
    case: Case,
    action: str,
    actor: Principal | None,
    version: int | None,
    params: dict,
    now: datetime | None = None,
) -> Case:
    """Apply ``action`` to ``case`` if its status, the actor's role and scope, and the domain's
    rules allow it; write the event; refuse with a problem otherwise."""
    now = now or utcnow()
    # A stale version first: who may act is judged on the case as it is now (reassigned or
    # escalated since it was read, the refusal would tell the caller to do what is moot).
    if version is not None and version != case.version:
        raise Conflict(
            f"Case {case.reference} has changed since version {version}; it is at {case.version}.",
            current_version=case.version,
        )
    _check_actor(case=case, action=action, actor=actor)
    reason = params.get("reason")
    if not allowed(action, case.status, reason=reason.value if hasattr(reason, "value") else reason):
        possible = allowed_from(case.status)
        raise Conflict(
            f"{action} is not allowed while the case is {case.status}"
            f"{' with that reason' if action in possible else ''}; "
            f"allowed: {', '.join(described_from(case.status)) or 'nothing'}.",
            allowed_actions=possible,
        )
    # The units the change names after the case's row is locked at the flush — the owner (by
    # the event; a hand-over holds its target too) and where it happened with all above (by the
    # counters) — are held first, so that nothing waits for a move that waits for the case.
    held_lineage = _hold_units(session, case)
    before = _snapshot(case)
    counted = counters.state(case, current_policy())
    reference, from_status, from_owner = case.reference, case.status, case.owner_unit_id
    try:
        # No flush half-way: the handlers' queries must not write the row before it is complete
        # (that would also count two versions for one action).
        with session.no_autoflush:
            result = HANDLERS[action](session, case, actor=actor, now=now, **params)
            target = TRANSITIONS[action].target
            if target is not None:
                case.status = target
            case.updated_at = now
        session.flush()
    except StaleDataError:
        # UPDATE … WHERE version = :seen found no row: someone else acted first.
        raise Conflict(f"Case {reference} was changed by someone else just now; reload it.") from None
    note, details = result if isinstance(result, tuple) else (result, {})
    _event(session, case, actor=actor, action=action, now=now, before=before, from_status=from_status,
           from_owner=from_owner, reason=note, details=details)
    escalated = measures.escalation(level=case.owner_level, at=now) if action == "escalate" else None
    counters.track(session, case, before=counted, policy=current_policy(), extra=escalated, lineage=held_lineage)
    return case


def act_once(session: Session, *, case_id: int, action: str, actor: Principal | None, version: int | None,
             params: dict, idempotency_key: str | None = None) -> tuple[Case, bool]:
    """``act`` on the case ``case_id``, once for an ``idempotency_key``: the same request sent again
    (a phone's retry, its first answer lost on the way) answers the case as it is now, and False,
    where it would otherwise find its own version stale, or do the same thing twice."""
    record = None
    if idempotency_key is not None:
        # Not the version: a phone that read the case again before it retried sends the one it
        # read then, and means the same thing.
        fields = {"case_id": case_id, "action": action, **params}
        earlier, record = _reserve_key(session, actor=actor, key=idempotency_key, fields=fields)
        if earlier is not None:
            return earlier, False
    case = act(session, case=get_case(session, case_id=case_id), action=action, actor=actor, version=version,
               params=params)
    if record is not None:
        record.case_id = case.id
    return case, True


def _hold_units(session: Session, case: Case) -> list:
    """Hold (``tree_service.try_to_hold``) the case's owner and the lineage of where it happened;
    the lineage, for the counters. ``BeingMoved`` while a move changes one of them."""
    tree_service.hold_places(session, unit_ids=[case.owner_unit_id])
    return tree_service.hold_lineage(session, unit_id=case.origin_unit_id, depth=paths.depth(case.origin_path))


# What the principal a case is assigned to may do on it wherever they sit: the work they were
# given (a grid worker mediating a case its village handles). Deciding it stays with the owner.
ASSIGNEE_WORK = {"record_attempt", "attach"}


def check_role(*, action: str, actor: Principal | None) -> None:
    """Whether the actor's role may take ``action`` at all, whatever the case (403)."""
    if actor is None:
        return  # the sweep, the command line
    permission = ACTION_PERMISSIONS[action]
    if not allows(actor.role, permission):
        who = " Station and centre accounts decide cases; a grid worker works on those assigned to them." \
            if actor.role is Role.GRID_WORKER else ""
        raise Forbidden(f"The role {actor.role} may not {action} cases (needs {permission}).{who}")


def _check_actor(*, case: Case, action: str, actor: Principal | None) -> None:
    if actor is None:
        return  # the sweep, the command line
    check_role(action=action, actor=actor)
    assigned = case.assignee_id == actor.id
    if action == "record_attempt" and actor.role is Role.GRID_WORKER and not assigned:
        raise Forbidden("A grid worker records attempts only on the cases assigned to them: ask the village "
                        "station that handles it to assign it to you.")
    if assigned and action in ASSIGNEE_WORK:
        return
    scope = current_scope()
    if scope is not None and actor.role is not Role.SPECIALIST and not paths.is_descendant_or_self(case.owner_path, scope.path):
        # Visible (it happened here) but handled elsewhere now: reading is all that is left.
        raise Forbidden("The case is handled by a unit outside your scope now.")


def hold_as_it_is(session: Session, case: Case, *, alone: bool = False) -> Case:
    """Share-lock the case and read it again, for a note that changes nothing of it (a file, a
    merged report) but must not land after it was closed or rejected: an action under way
    finishes first and is seen, or waits for the note. ``alone``: lock it against other such
    notes too (two copies of one file sent at once must find each other)."""
    session.scalars(sa.select(Case).where(Case.id == case.id).with_for_update(read=not alone, of=Case)
                    .execution_options(populate_existing=True, **UNSCOPED)).all()
    return case


def touch(session: Session, case: Case, *, now: datetime) -> None:
    """The case's answer changed (a file attached) though the case did not: ``updated_at`` says so
    to an app that refreshes what changed, and ``version`` stays, so that no one's action in hand
    turns stale for a photo. (Under ``hold_as_it_is(alone=True)``.)"""
    session.execute(sa.update(Case.__table__).where(Case.__table__.c.id == case.id).values(updated_at=now))
    set_committed_value(case, "updated_at", now)


def check_may_attach(case: Case, actor: Principal | None) -> None:
    """Attaching is work on the case: for its owner's people, its assignee and whoever logged
    it (the photos of the scene, taken where it happened, while the town already handles it),
    while the case lives."""
    if actor is None or case.created_by_id != actor.id:
        _check_actor(case=case, action="attach", actor=actor)
    if case.status is Status.REJECTED:
        raise Conflict(f"Case {case.reference} was rejected; it takes no attachments.")


def _fail_locally(message: str) -> RuleViolation:
    """A refused escalation: it says what must be tried where the case is first."""
    return RuleViolation(message, must_try_locally=True)


def _accept(session, case, *, actor, now, note=None):
    return note


def _assign(session, case, *, actor, now, assignee_id=None, studio_id=None, note=None):
    if assignee_id is None and studio_id is None:
        raise RuleViolation("Assign to a principal (assignee_id) or a studio (studio_id).",
                            errors={"assignee_id": ["or studio_id"]})
    names = []
    if assignee_id is not None:
        # Share-locked and read as it is: an account being deactivated or moved meanwhile either
        # waits for this assignment (and then lets go of it) or is seen as it now is.
        assignee = session.scalar(sa.select(Principal).where(Principal.id == assignee_id)
                                  .with_for_update(read=True, of=Principal)
                                  .execution_options(populate_existing=True, **UNSCOPED))
        expert = assignee is not None and assignee.role is Role.SPECIALIST
        if assignee is None or not assignee.active or not _may_be_given(case, assignee.scope_path, from_above=expert):
            raise NotFound(f"Principal {assignee_id} does not exist here or is inactive.")
        if why_not := _cannot_work_on(case, assignee):
            raise RuleViolation(f"{assignee.display_name} cannot work on this case: {why_not}.",
                                errors={"assignee_id": [why_not]})
        case.assignee_id = assignee.id
        names.append(assignee.display_name)
    if studio_id is not None:
        names.append(_give_to_studio(session, case, studio_id))
    return note or f"assigned to {', '.join(names)}"


def _cannot_work_on(case: Case, principal: Principal) -> str | None:
    """Why ``principal`` could not do the work of an assignee on ``case`` (record its mediation
    attempts, and so read it), or None."""
    if not allows(principal.role, ACTION_PERMISSIONS["record_attempt"]):
        return f"the role {principal.role} does not record mediation attempts"
    if not in_area(case, principal.scope_path):
        return "it lies outside their scope"
    return None


def _release_assigned(session: Session, *, principal: Principal) -> None:
    """The open cases assigned to an account that may no longer work on them (deactivated, or
    its role or scope changed) go back to their owners unassigned, each with an event: the work
    must not wait on someone who has left."""
    cases = session.scalars(
        sa.select(Case).where(Case.assignee_id == principal.id, Case.status.in_(OPEN_STATUSES))
        .order_by(Case.id).with_for_update().execution_options(**UNSCOPED)
    ).all()
    for case in cases:
        _release_if_out_of_reach(session, case, assignee=principal)


def _release_out_of_reach(session: Session, *, new_path: str) -> None:
    """After a move, the open cases given to a studio of another district now, or to someone whose
    scope no longer holds them, go back to their owners without them: a town moved to another
    district leaves the old district's studios and experts behind, and takes its own studios
    away from the old district's cases."""
    from gridgov.people.models import Studio

    moved_studios = sa.select(Studio.id).where(in_subtree(Studio.path, new_path))
    inside = sa.and_(sa.or_(in_subtree(Case.origin_path, new_path), in_subtree(Case.owner_path, new_path)),
                     sa.or_(Case.studio_id.is_not(None), Case.assignee_id.is_not(None)))
    cases = session.scalars(
        sa.select(Case).where(Case.status.in_(OPEN_STATUSES), sa.or_(inside, Case.studio_id.in_(moved_studios)))
        .order_by(Case.id).with_for_update(of=Case).execution_options(**UNSCOPED)
    ).all()
    for case in cases:
        _release_if_out_of_reach(session, case)


def _release_if_out_of_reach(session: Session, case: Case, *, assignee: Principal | None = None,
                             now: datetime | None = None) -> None:
    """Let go of the case's studio if it serves another district now, and of its assignee
    (``assignee``, already read, or the case's) if they may no longer work on it (deactivated,
    or their role or scope changed); ``now``: the moment of the action that does it."""
    from gridgov.people.models import Studio

    if case.studio_id is not None:
        studio = session.scalar(sa.select(Studio).where(Studio.id == case.studio_id).execution_options(**UNSCOPED))
        if studio.district_id != case.district_id:
            _unassign(session, case, studio=True, reason=f"{studio.name} serves another district now", now=now)
    if case.assignee_id is not None:
        assignee = assignee or session.get(Principal, case.assignee_id)
        why = "their account was deactivated" if not assignee.active else _cannot_work_on(case, assignee)
        if why is not None:
            _unassign(session, case, reason=f"{assignee.display_name} may no longer work on it: {why}", now=now)


def _unassign(session: Session, case: Case, *, reason: str, studio: bool = False, now: datetime | None = None) -> None:
    """Take the case from its assignee (``studio``: from its studio) with an event: the work must
    not wait on someone who cannot see it."""
    before, now = _snapshot(case), now or utcnow()
    if studio:
        case.studio_id = None
    else:
        case.assignee_id = None
    case.updated_at = now
    session.flush()
    _event(session, case, actor=current_principal(), action="unassign", now=now, before=before,
           from_status=case.status, from_owner=case.owner_unit_id, reason=reason)


auth_service.ACCESS_CHANGED.append(_release_assigned)


def _follow_move(session: Session, *, unit_id: int, old_path: str, new_path: str) -> None:
    """属地: the open cases whose owner no longer lies above where they happened after a move
    (handled by the old town of a moved village; or delegated into the moved village from
    elsewhere) go to the unit of the same level above where they happened, each with an event
    (``_transfer``). Resolved and closed cases stay the record of who handled them (a reopened
    one follows then, see ``_reopen``)."""
    # The paths were rewritten in bulk: read units and cases as they are now. (The counters have
    # moved the subtree's sums already: rollups.counters' hook comes first, registered as this
    # module imports it; what is tracked here lands on the lineage as it is now.)
    session.expire_all()
    inside_origin, inside_owner = in_subtree(Case.origin_path, new_path), in_subtree(Case.owner_path, new_path)
    stranded = [
        case for case in session.scalars(
            sa.select(Case).where(Case.status.in_(OPEN_STATUSES),
                                  sa.or_(sa.and_(inside_origin, sa.not_(inside_owner)),
                                         sa.and_(inside_owner, sa.not_(inside_origin))))
            .order_by(Case.id).with_for_update(of=Case).execution_options(**UNSCOPED)
        )
        if _apart(case)
    ]
    if stranded:
        moved = tree_service.get_unit_unscoped(session, unit_id=unit_id)
    for case in stranded:
        _transfer(session, case, to=None,
                  why=lambda target: f"{moved.name} was moved: {target.name} handles the case's "
                                     f"{case.owner_level}-level work where it happened now")
    _release_out_of_reach(session, new_path=new_path)


def _leave_retired(session: Session, *, unit: Unit) -> None:
    """A retired unit takes no cases, and no one works there any more: the open cases it handles
    go to the unit above it that is in use (as new cases there would), each with an event. A
    district has none above it: its cases stay where they are."""
    target = in_use(session, unit)
    if target.id == unit.id:
        return
    cases = session.scalars(
        sa.select(Case).where(Case.owner_unit_id == unit.id, Case.status.in_(OPEN_STATUSES))
        .order_by(Case.id).with_for_update(of=Case).execution_options(**UNSCOPED)
    ).all()
    if cases:
        tree_service.hold_taker(session, unit=target)  # not being retired itself meanwhile
    why = f"{unit.name} is no longer in use: {target.name} handles the case"
    for case in cases:
        _transfer(session, case, to=target, why=lambda _target: why)


def _transfer(session: Session, case: Case, *, to: Unit | None, why: Callable[[Unit], str]) -> None:
    """Hand ``case`` to ``to`` (None: back where it happened, ``_back_where_it_happened``) because
    its owner changed shape, not because anyone acted on it. It arrives as a hand-over does:
    waiting to be accepted (a suspended one, once resumed; a referred one comes back in progress,
    as it would have), on a fresh deadline, with no one given it: the old unit's people and
    studios work on it no more. ``why(target)`` is the event's reason."""
    now, policy = utcnow(), current_policy()
    before, counted = _snapshot(case), counters.state(case, policy)
    from_status, from_owner = case.status, case.owner_unit_id
    # No flush half-way (as in ``act``): a row with the new owner and the old deadline, and a
    # version counted twice for one transfer.
    with session.no_autoflush:
        if to is None:
            target, lineage = _back_where_it_happened(session, case, now=now)
            tree_service.hold_taker(session, unit=target)  # not retired meanwhile (``to`` is held by its caller)
        else:
            target, lineage = to, list(session.scalars(tree_service.LINEAGE, {"unit_id": case.origin_unit_id}))
            _set_owner(case, target, path=target.path, now=now)
        if case.status in (Status.ACCEPTED, Status.IN_PROGRESS):
            case.status = Status.REPORTED
        if case.suspended_from in (Status.ACCEPTED, Status.IN_PROGRESS):
            case.suspended_from = Status.REPORTED
        if case.status in CLOCK_RUNNING:
            clock.start(case, now=now, policy=policy)
        else:  # suspended or referred: the new owner's full deadline when it runs again
            case.deadline_remaining_seconds = None
        case.updated_at = now
    session.flush()
    _event(session, case, actor=current_principal(), action="transfer", now=now, before=before,
           from_status=from_status, from_owner=from_owner, reason=why(target))
    counters.track(session, case, before=counted, policy=policy, lineage=lineage)


def _apart(case: Case) -> bool:
    """Whether a move has taken the case's owner away from where it happened: their lowest common
    ancestor lies above the highest level the case reached. Delegation keeps both within the unit
    that delegated, which is at that level or below, so an owner beside or below where it
    happened (delegated there) is not apart; the old town of a moved village is."""
    common = paths.common_ancestor([case.owner_path, case.origin_path])
    return common is None or paths.depth(common) < case.highest_level.tree_level.rank


def _back_where_it_happened(session: Session, case: Case, *, now: datetime) -> tuple[Unit, list[Unit]]:
    """Give the case to the unit (in use) of its owner's level above where it happened (where it
    happened itself, when that lies higher). That unit, and the lineage of where it happened.
    (Parties living beyond that unit are for it to escalate cross_boundary, as anywhere.)"""
    lineage = list(session.scalars(tree_service.LINEAGE, {"unit_id": case.origin_unit_id}))
    origin = lineage[-1]
    level = case.owner_level if origin.level.rank >= case.owner_level.tree_level.rank else own_level(origin)
    target = in_use(session, handling_unit(session, unit=origin, level=level, lineage=lineage), lineage=lineage)
    _set_owner(case, target, path=target.path, now=now)
    return target, lineage


tree_service.AFTER_MOVE.append(_follow_move)
tree_service.RETIRED.append(_leave_retired)


def _may_be_given(case: Case, path: str | None, *, from_above: bool) -> bool:
    """A case may go to the people and studios of the giver's subtree; and, ``from_above``
    (studios and experts), to those above it whose area holds the case: a town gives a labour
    case to the district's labour studio or to one of the district's experts, not to the
    district's command (that is an escalation)."""
    scope = current_scope()
    if scope is None or not scope.path or (path and paths.is_descendant_or_self(path, scope.path)):
        return True
    return from_above and in_area(case, path)


def _give_to_studio(session, case, studio_id: int) -> str:
    from gridgov.people.models import Studio

    studio = session.scalar(sa.select(Studio).where(Studio.id == studio_id).execution_options(**UNSCOPED))
    # A studio serves its own district's cases, whoever gives them (a city-wide account too).
    in_district = studio is not None and studio.district_id == case.district_id
    if not in_district or not _may_be_given(case, studio.path, from_above=True):
        raise NotFound(f"Studio {studio_id} does not exist here.")
    if not _studio_takes(studio, case.category):
        raise RuleViolation(f"{studio.name} takes {', '.join(studio.specialties)} cases, not {case.category}.",
                            errors={"studio_id": ["not this studio's specialty"]})
    case.studio_id = studio.id
    return studio.name


# A phone's clock a few minutes off, either way, breaks no rule.
CLOCK_SKEW = timedelta(minutes=5)


def _record_attempt(session, case, *, actor, now, outcome, attempted_at=None, by=None, notes=""):
    attempted_at = attempted_at or now
    if attempted_at > now + CLOCK_SKEW:
        raise RuleViolation("A mediation attempt cannot lie in the future.", errors={"attempted_at": ["in the future"]})
    # Attempts are credited to the present owner's level (escalation and resolution read them so):
    # one from before the case came to it was another level's, or none. Except where it was
    # logged, until it is first handed on: a dispute mediated on the spot is logged afterwards.
    if case.arrived_at == case.created_at:
        days = current_policy().attempts_before_logging_days
        if attempted_at < case.created_at - timedelta(days=days) - CLOCK_SKEW:
            raise RuleViolation(f"A mediation attempt may come at most {days} days before the case was logged.",
                                errors={"attempted_at": [f"more than {days} days before {_plain(case.created_at)}"]})
    elif attempted_at < case.arrived_at - CLOCK_SKEW:
        raise RuleViolation("A mediation attempt recorded here cannot come before the case came to its present owner.",
                            errors={"attempted_at": [f"before {_plain(case.arrived_at)}"]})
    attempt = MediationAttempt(
        case_id=case.id,
        attempted_at=attempted_at,
        recorded_at=now,
        by_principal_id=actor.id if actor and by is None else None,
        by_name=by or (actor.display_name if actor else SYSTEM_ACTOR),
        outcome=outcome,
        notes=notes or "",
        owner_unit_id=case.owner_unit_id,
        owner_level=case.owner_level,
    )
    session.add(attempt)
    if outcome is Outcome.SUCCESS and case.settled_at is None:
        case.settled_at = now
    return f"attempt: {outcome}", {"attempt": {
        "attempted_at": _plain(attempted_at), "by": attempt.by_name, "outcome": outcome.value,
        "notes": attempt.notes, "level": case.owner_level.value, "owner_unit_id": case.owner_unit_id,
    }}


def _resolve(session, case, *, actor, now, note=None):
    # Only what was achieved since the case came to its owner (logged, handed over or
    # reopened) counts: the success of a closing the applicant objected to does not.
    if case.settled_at is None and not note:
        raise RuleViolation("Resolving needs a successful mediation attempt here or a resolution note.")
    case.resolved_level = case.owner_level
    case.resolved_at = now
    case.resolved_by_id = actor.id if actor else None
    case.resolution_note = note
    return note


def _escalate(session, case, *, actor, now, reason, note=None, risk_grade=None, people_involved=None,
              category=None):
    policy = current_policy()
    reason = EscalationReason(reason)
    if case.owner_level is HandlingLevel.DISTRICT:
        raise RuleViolation("The district cannot escalate: it refers the case or closes it.")
    if category is not None:
        _check_studio_takes(session, case, category)
        case.category = category
    if risk_grade is not None:
        case.risk_grade = risk_grade
    if people_involved is not None:
        case.people_involved = people_involved
    next_level = HANDLING_ORDER[case.owner_level.rank + 1]
    required = policy.required_level_of(case)  # as the escalation may have regraded it
    owner = tree_service.get_unit_unscoped(session, unit_id=case.owner_unit_id)

    if reason is EscalationReason.MEDIATION_FAILED:
        failed = session.scalar(
            sa.select(MediationAttempt.id).where(
                MediationAttempt.case_id == case.id,
                MediationAttempt.owner_unit_id == case.owner_unit_id,
                MediationAttempt.outcome == Outcome.FAILURE,
                MediationAttempt.recorded_at >= case.arrived_at,
            ).limit(1)
        )
        if failed is None:
            raise _fail_locally(f"Record a failed mediation attempt at {owner.name} before escalating.")
        target = handling_unit(session, unit=owner, level=next_level)
    elif reason is EscalationReason.DEADLINE_EXCEEDED:
        if case.deadline_at is None or now < case.deadline_at:
            raise _fail_locally(f"{owner.name}'s deadline has not passed; try to settle it there first.")
        target = handling_unit(session, unit=owner, level=next_level)
    elif reason is EscalationReason.BEYOND_AUTHORITY:
        if required.rank <= case.owner_level.rank:
            raise _fail_locally(f"As graded, the case is within {owner.name}'s authority ({case.owner_level}).")
        target = handling_unit(session, unit=owner, level=required)
    else:
        homes = [party.home_unit_id for party in case.parties if party.home_unit_id is not None]
        units = [tree_service.get_unit_unscoped(session, unit_id=unit_id) for unit_id in homes]
        outside = [unit for unit in units if not paths.is_descendant_or_self(unit.path, owner.path)]
        if not homes:
            raise _fail_locally("No party's home unit is recorded: add the parties with their home units "
                                "(add_party) first.")
        if not outside:
            raise _fail_locally(f"Every party lives within {owner.name}; handle it there.")
        # Above the owner too: the lowest unit whose subtree holds the owner and every party.
        common = paths.common_ancestor([case.owner_path, case.origin_path, *[unit.path for unit in units]])
        if common is None:
            raise RuleViolation("The parties live in different districts; refer the case.")
        lca = tree_service.get_unit_at_path(session, path=common)
        target = lca if lca.level is not Level.MICROGRID else handling_unit(session, unit=lca, level=HandlingLevel.GRID)

    # Whatever the reason, the case lands no lower than policy allows for it as now graded: a
    # failed mediation that also regrades the case red goes to the town, not to the village.
    if own_level(target).rank < required.rank:
        target = handling_unit(session, unit=target, level=required)
    _hand_over(session, case, target=in_use(session, target), now=now, policy=policy, up=True)
    return f"{reason.value}: {note}" if note else reason.value


def _delegate(session, case, *, actor, now, unit_id, note=None):
    target = tree_service.get_unit(session, unit_id=unit_id)
    if not target.active:
        raise RuleViolation(f"{target.name} is no longer in use; delegate to a unit that is.")
    if target.level is Level.MICROGRID:
        raise RuleViolation("Micro-grids report matters; delegate to a grid or above.")
    if not paths.is_descendant_or_self(target.path, case.owner_path) or target.path == case.owner_path:
        raise RuleViolation("A case is delegated down, to a unit below its owner.")
    policy = current_policy()
    required = policy.required_level_of(case)
    if own_level(target).rank < required.rank:
        raise RuleViolation(f"Policy keeps this case at the {required} level or above.")
    _hand_over(session, case, target=target, now=now, policy=policy, up=False)
    return note


def _hand_over(session: Session, case: Case, *, target: Unit, now: datetime, policy, up: bool) -> None:
    """Give the case to ``target``, above its owner (``up``) or below it."""
    # The target's path as it is now, and kept so: a move committed since it was read, or while
    # this transaction runs, would leave the case with a path no unit has (out of its owner's
    # lists); a retirement, with a unit that takes no cases. And the owner held with it, so where
    # the target lies from it stays as decided.
    owner_path = tree_service.hold_places(session, unit_ids=[case.owner_unit_id])[case.owner_unit_id]
    target_path = tree_service.hold_taker(session, unit=target)
    above, below = (target_path, owner_path) if up else (owner_path, target_path)
    if not paths.is_descendant_or_self(below, above):
        raise BeingMoved(f"{target.name} or the case's present owner was moved just now; try again.")
    _set_owner(case, target, path=target_path, now=now)
    clock.start(case, now=now, policy=policy)


def _set_owner(case: Case, target: Unit, *, path: str, now: datetime) -> None:
    """``target`` (whose path is ``path``) owns the case from ``now``."""
    case.owner_path = path
    case.owner_unit_id = target.id
    case.owner_level = own_level(target)
    case.arrived_at = now
    case.settled_at = None  # what settles it now is the new owner's
    # Who works on it is the new owner's to decide, as whether it waits to be accepted.
    case.assignee_id = case.studio_id = None
    if case.owner_level.rank > case.highest_level.rank:
        case.highest_level = case.owner_level


def _refer(session, case, *, actor, now, channel, external_reference=None, studio_id=None, note=None):
    case.referral_channel = channel
    case.referral_reference = external_reference
    if studio_id is not None:
        _give_to_studio(session, case, studio_id)
    clock.stop(case, now=now)
    return note or f"referred to {channel}"


def _return_from_referral(session, case, *, actor, now, outcome, note=None):
    clock.restart(case, now=now, policy=current_policy())
    return f"{outcome}: {note}" if note else outcome


def _suspend(session, case, *, actor, now, reason):
    case.suspended_from = case.status
    clock.stop(case, now=now)
    return reason


def _resume(session, case, *, actor, now, reason=None):
    case.status = case.suspended_from or Status.IN_PROGRESS
    case.suspended_from = None
    clock.restart(case, now=now, policy=current_policy())
    return reason


def _check_verifier(case: Case, actor: Principal | None) -> None:
    if actor is not None and case.resolved_by_id == actor.id:
        raise RuleViolation("The verifier may not be the principal who resolved the case.")


def _close(session, case, *, actor, now, note=None):
    _check_verifier(case, actor)
    case.closed_at = now
    case.closed_by_id = actor.id if actor else None
    case.closed_on_time = case.deadline_at is None or now <= case.deadline_at
    case.deadline_at = case.yellow_at = None
    # A provisional deadline stays marked: whether it closed on time is judged again once the
    # holiday data is there (``clock.closing_verdict``).
    return note


def _reopen(session, case, *, actor, now, reason):
    days = current_policy().reopen_days
    # Calendar days in Shanghai: closed on 1 September, it may be reopened all of 1 October.
    if (now.astimezone(TIMEZONE).date() - case.closed_at.astimezone(TIMEZONE).date()).days > days:
        raise RuleViolation(f"A case may be reopened within {days} calendar days of closing.")
    case.closed_at = case.closed_by_id = case.closed_on_time = None
    # The follow-up judged the closing the applicant now objects to; the next closing gets its own.
    case.satisfaction = None
    case.arrived_at = now
    _unsettle(session, case, now=now)
    clock.start(case, now=now, policy=current_policy())
    return reason


def _send_back(session, case, *, actor, now, reason):
    """Not settled, the verifier found: its owner settles it again, in progress, with the time it
    had left when it resolved it (the wait to be verified was not the owner's: sent back a day
    late, a grid's case went straight to the sweep, and up)."""
    _check_verifier(case, actor)
    resolved_at = case.resolved_at
    if _unsettle(session, case, now=now):
        case.status = Status.REPORTED  # at a unit that has not had it: to accept, on its own deadline
        clock.start(case, now=now, policy=current_policy())
    else:
        case.status = Status.IN_PROGRESS
        clock.restart_from(case, stopped_at=resolved_at, now=now, policy=current_policy())
    return reason


def _unsettle(session: Session, case: Case, *, now: datetime) -> bool:
    """Take back the resolution of a resolved or closed case, which goes back to work: with its
    owner or, where that was moved away from where it happened or retired since (a resolved case
    stays the record of who handled it), with the unit that handles such cases there now. True
    when it went to that unit."""
    case.resolved_at = case.resolved_by_id = case.resolved_level = case.resolution_note = None
    case.settled_at = None  # what was taken for a settlement needs a new one
    owner = tree_service.get_unit_unscoped(session, unit_id=case.owner_unit_id)
    handed_over = _apart(case) or not owner.active
    if handed_over:
        owner, _lineage = _back_where_it_happened(session, case, now=now)
    # A retirement under way lets go of the open cases it sees, and this one is not open yet.
    tree_service.hold_taker(session, unit=owner)
    # Nor does anyone let go of a resolved or closed case: who worked on it may have left, or
    # moved away, since; it must not come back to wait on them.
    _release_if_out_of_reach(session, case, now=now)
    return handed_over


def _follow_up(session, case, *, actor, now, satisfaction, comment=None):
    case.satisfaction = satisfaction
    return f"satisfaction {satisfaction}" + (f": {comment}" if comment else "")


def _reject(session, case, *, actor, now, reason, note=None):
    case.rejection_reason, case.rejection_note = RejectionReason(reason), note or None
    clock.stop(case, now=now)
    case.deadline_remaining_seconds = None
    return f"{reason}: {note}" if note else reason


def _regrade(session, case, *, actor, now, note, risk_grade=None, category=None, people_involved=None):
    """The case's grade corrected where it is. Its deadline stays as it was set when the case
    came to its owner: a regrade moves no clock."""
    graded = {"category": category or case.category, "risk_grade": risk_grade or case.risk_grade,
              "people_involved": case.people_involved if people_involved is None else people_involved}
    required = current_policy().required_level(**graded)
    if required.rank > case.owner_level.rank:
        # Up a level is an escalation, which says why and hands the case over in one step.
        first = "accept it, then " if case.status in (Status.REPORTED, Status.REOPENED) else ""
        given = [name for name, value in (("category", category), ("risk_grade", risk_grade),
                                          ("people_involved", people_involved)) if value is not None]
        raise RuleViolation(f"As regraded, the case needs the {required} level: {first}escalate it with the reason "
                            f"beyond_authority and the new {' and '.join(given)}.",
                            errors={name: [f"needs the {required} level"] for name in given})
    if category is not None:
        _check_studio_takes(session, case, category)
    case.category, case.risk_grade, case.people_involved = (
        graded["category"], graded["risk_grade"], graded["people_involved"])
    return note


def _studio_takes(studio, category) -> bool:
    """A studio takes the cases of its specialties; one with none named takes any."""
    return not studio.specialties or str(category) in studio.specialties


def _check_studio_takes(session, case, category) -> None:
    """A case with a studio keeps a category the studio takes."""
    if case.studio_id is None:
        return
    from gridgov.people.models import Studio

    # Whoever regrades it, wherever the studio is: the rule is the studio's, not the actor's view.
    studio = session.scalar(sa.select(Studio).where(Studio.id == case.studio_id).execution_options(**UNSCOPED))
    if studio is not None and not _studio_takes(studio, category):
        raise RuleViolation(f"{studio.name}, which has the case, takes {', '.join(studio.specialties)} cases, "
                            f"not {category}: assign it elsewhere first.", errors={"category": ["not the studio's"]})


def _add_party(session, case, *, actor, now, party):
    case.parties.append(_party(session, **party))
    return f"party added: {party['role']}", {"party": _party_as_told(party)}


def _party_as_told(party: dict) -> dict:
    """A party as events name them: their role and where they live (which decides a
    cross_boundary escalation), not who they are: the timeline is read widely."""
    return {"role": str(party["role"]), "home_unit_id": party.get("home_unit_id")}


HANDLERS = {
    "accept": _accept,
    "assign": _assign,
    "record_attempt": _record_attempt,
    "resolve": _resolve,
    "escalate": _escalate,
    "delegate": _delegate,
    "refer": _refer,
    "return_from_referral": _return_from_referral,
    "suspend": _suspend,
    "resume": _resume,
    "close": _close,
    "send_back": _send_back,
    "reopen": _reopen,
    "follow_up": _follow_up,
    "reject": _reject,
    "regrade": _regrade,
    "add_party": _add_party,
}
assert set(HANDLERS) == set(TRANSITIONS)


def recount_deadline(session: Session, *, case: Case, now: datetime) -> bool:
    """Count a provisional deadline again on the calendar as installed now (a closed case's: whether
    it closed on time); write the event if it changed. True when it did."""
    closed = case.status is Status.CLOSED
    # Judged first, before holding the units: nothing to write unless the verdict changed.
    verdict = clock.closing_verdict(case) if closed else None
    if closed and verdict == (case.closed_on_time, case.deadline_provisional):
        return False
    held_lineage = _hold_units(session, case)  # as in act()
    before = _snapshot(case)
    counted = counters.state(case, current_policy())
    if closed:
        case.closed_on_time, case.deadline_provisional = verdict
    elif not clock.recount(case, policy=current_policy()):
        return False
    case.updated_at = now
    session.flush()
    counters.track(session, case, before=counted, policy=current_policy(), lineage=held_lineage)
    if case.deadline_provisional:
        reason = "provisional deadline recounted"
    elif closed:
        judged = "closed on time" if case.closed_on_time else "closed late"
        reason = f"{judged}, counted on the official holiday calendar"
    else:
        reason = "deadline counted on the official holiday calendar"
    _event(session, case, actor=None, action="recount_deadline", now=now, before=before,
           from_status=case.status, from_owner=case.owner_unit_id, reason=reason)
    return True


def record_note(session: Session, *, case: Case, actor, action: str, now: datetime, reason: str,
                details: dict) -> None:
    """An event that changes nothing of the case but belongs to its history (a file attached,
    a resident's report merged into it)."""
    _event(session, case, actor=actor, action=action, now=now, before=_snapshot(case), from_status=case.status,
           from_owner=case.owner_unit_id, reason=reason, details=details)


def note_merged_report(session: Session, *, case: Case, actor, now: datetime, report_id: int,
                       tracking_code: str) -> None:
    """The triage desk merged a resident's report into the case: its handlers hear that one
    more resident reported it."""
    record_note(session, case=case, actor=actor, action="merge_report", now=now, reason=f"report {tracking_code}",
                details={"report_id": report_id})


# --- the event log ------------------------------------------------------------------------------

# Paths and the district are copies of the tree's (a unit move rewrites them for every case
# below it); the events record what happened to the case itself.
DERIVED_FIELDS = ("id", "version", "updated_at", "origin_path", "owner_path", "district_id")
REPLAYED_FIELDS = [column.key for column in Case.__table__.columns if column.key not in DERIVED_FIELDS]


def _plain(value):
    if isinstance(value, datetime):
        return moment_text(value)  # as the row reads back, and as answers write it
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"  # as Numeric(14, 2) stores it
    if hasattr(value, "value"):
        return value.value
    return value


def _snapshot(case: Case) -> dict:
    return {name: _plain(getattr(case, name)) for name in REPLAYED_FIELDS}


def _event(session, case, *, actor, action, now, before, from_status, from_owner, reason, details=None) -> None:
    """Append the event of a change: one INSERT, never updated, so no unit of work."""
    after = _snapshot(case)
    changes = {name: value for name, value in after.items() if not before or before[name] != value}
    session.execute(sa.insert(CaseEvent.__table__), {
        "case_id": case.id,
        "at": now,
        "actor_id": actor.id if actor else None,
        "actor": actor.username if actor else SYSTEM_ACTOR,
        "action": action,
        "from_status": from_status,
        "to_status": case.status,
        "from_owner_unit_id": from_owner,
        "to_owner_unit_id": case.owner_unit_id,
        "reason": (reason or None) and str(reason),
        "details": {"changes": changes, **(details or {})},
    })


def replay(case_events: list[CaseEvent]) -> dict:
    """The case's fields as its events tell them: what a test compares with the row."""
    state: dict = {}
    for event in case_events:
        state.update(event.details["changes"])
    return state


def snapshot(case: Case) -> dict:
    return _snapshot(case)


# --- lists --------------------------------------------------------------------------------------


def colour_filter(colour, *, now: datetime):
    standing = Case.status.in_(DEADLINE_STANDS)
    if colour == "red":
        return sa.and_(standing, Case.deadline_at <= now)
    if colour == "yellow":
        return sa.and_(standing, Case.yellow_at <= now, Case.deadline_at > now)
    return sa.and_(standing, Case.yellow_at > now)


def list_cases(session: Session, *, filters: dict, sort: str, after, limit: int, now: datetime | None = None,
               columns: tuple = ()):
    """Up to ``limit + 1`` of the cases ``filters`` select in the order ``sort`` names, after the
    cursor key ``after``, and the function that makes a row's key. ``columns``: only those of each
    case, as a row (an export of many: no case objects, no parties, no attachments)."""
    now = now or utcnow()
    stmt = sa.select(*columns) if columns else sa.select(Case)
    for key, value in filters.items():
        if value is None or value == []:
            continue
        if key in ("origin_unit_id", "owner_unit_id"):
            # A unit above the caller's subtree too: their cases may be handled up there now.
            unit = tree_service.get_unit_in_or_above_scope(session, unit_id=value)
            column = Case.origin_path if key == "origin_unit_id" else Case.owner_path
            stmt = stmt.where(in_subtree(column, unit.path))
        elif key == "reference":
            stmt = stmt.where(Case.reference == typed_reference(value))
        elif key == "status":
            stmt = stmt.where(Case.status.in_(value))
        elif key in ("category", "risk_grade", "owner_level", "assignee_id"):
            stmt = stmt.where(getattr(Case, key) == value)
        elif key == "deadline_colour":
            stmt = stmt.where(colour_filter(value, now=now))
        elif key == "created_from":
            stmt = stmt.where(Case.created_at >= value)
        elif key == "created_to":
            stmt = stmt.where(Case.created_at < value)
        elif key == "updated_from":
            stmt = stmt.where(Case.updated_at >= value)
        elif key == "closed_from":
            stmt = stmt.where(Case.closed_at >= value)
        elif key == "closed_to":
            stmt = stmt.where(Case.closed_at < value)
    column, descending = {
        "-created_at": (Case.created_at, True),
        "created_at": (Case.created_at, False),
        "deadline_at": (Case.deadline_at, False),
    }[sort]
    if sort == "deadline_at":
        stmt = stmt.where(Case.status.in_(DEADLINE_STANDS), Case.deadline_at.is_not(None))
    return _keyset_page(session, stmt, column, descending=descending, after=after, limit=limit, rows=bool(columns))


def _keyset_page(session: Session, stmt, column, *, descending: bool, after: list | None, limit: int,
                 rows: bool = False):
    """Up to ``limit + 1`` cases of ``stmt`` in (``column``, id) order after the cursor key
    ``after`` (``[moment, id]``), and the function that makes a case's key. ``rows``: ``stmt``
    selects columns, not cases."""
    if after is not None:
        try:
            value, last_id = utc_moment(datetime.fromisoformat(after[0])), after[1]
        except ValueError:
            raise InvalidInput("The cursor is not one this service issued.") from None
        if descending:
            stmt = stmt.where(sa.or_(column < value, sa.and_(column == value, Case.id < last_id)))
        else:
            stmt = stmt.where(sa.or_(column > value, sa.and_(column == value, Case.id > last_id)))
    order = (column.desc(), Case.id.desc()) if descending else (column.asc(), Case.id.asc())
    result = session.execute(stmt.order_by(*order).limit(limit + 1))
    found = list(result if rows else result.scalars())
    return found, (lambda case: [getattr(case, column.key).isoformat(), case.id])


def inbox(session: Session, *, scope_path: str, principal_id: int | None, limit: int, after: list | None = None,
          specialist: bool = False, handles: bool = True,
          now: datetime | None = None) -> tuple[list[Case], Callable[[Case], list]]:
    """What waits for the unit at ``scope_path`` (``policy.INBOX_LEVELS``; for the whole
    installation, at every unit): arrivals not yet accepted, accepted cases near or past their
    deadline, cases in progress that no one is given or that were settled (``settled_at``), and
    resolved cases to verify
    (``policy.VERIFY_LEVELS``), for a principal who ``handles`` cases; and what is being worked
    on by the principal it is assigned to (a ``specialist``: every case they see, which is
    those given to them or their studio). The most urgent first. Up to ``limit + 1`` after the
    keyset ``after`` (``[deadline, id]``), and the key of a row."""
    now = now or utcnow()
    # What each waits for, read from the transition table: to be accepted, worked on, closed.
    waiting = Case.status.in_(sources("accept"))
    working = Case.status.in_(sources("resolve"))
    pressing = sa.and_(working, Case.yellow_at <= now)
    if specialist or not handles:
        arrived = sa.false()
    else:
        units = in_subtree(Case.owner_path, scope_path)
        verifying = units
        if scope_path:
            level = LEVEL_ORDER[paths.depth(scope_path)]
            units = sa.and_(units, Case.owner_level.in_(policy_module.INBOX_LEVELS[level]))
            verifying = sa.and_(verifying, Case.owner_level.in_(policy_module.VERIFY_LEVELS[level]))
        # Not by the one who resolved it: they may not verify it.
        to_verify = sa.and_(verifying, Case.status.in_(sources("close")),
                            Case.resolved_by_id.is_distinct_from(principal_id))
        # Worked on with no one given it: the unit's own work, or let go of by an account that
        # left (``_release_assigned``); it waits on the unit whatever its colour.
        unattended = sa.and_(Case.status == Status.IN_PROGRESS, Case.assignee_id.is_(None), Case.studio_id.is_(None))
        # Settled by whoever it is given to (a grid worker may mediate, not resolve): else it
        # waited unseen until yellow, and the sweep escalated a matter already settled.
        settled = sa.and_(working, Case.settled_at.is_not(None))
        arrived = sa.or_(sa.and_(units, sa.or_(waiting, pressing, unattended, settled)), to_verify)
    # Not IS NULL: a caller without an id (the command line) has nothing assigned.
    given = sa.and_(Case.assignee_id == principal_id, working) if principal_id is not None else sa.false()
    if specialist:
        given = working
    stmt = sa.select(Case).where(sa.or_(arrived, given), Case.deadline_at.is_not(None))
    return _keyset_page(session, stmt, Case.deadline_at, descending=False, after=after, limit=limit)


def _cases_of_unit(session: Session, unit) -> str | None:
    """A unit that cases happened in or are handled by stays: the record must not lose it."""
    used = session.scalar(
        sa.select(Case.id)
        .where(sa.or_(Case.origin_unit_id == unit.id, Case.owner_unit_id == unit.id))
        .limit(1)
        .execution_options(**UNSCOPED)
    )
    if used:
        return f"Cases happened in or are handled by unit {unit.code}; deactivate it instead."
    # A unit that handled a case once (delegated to, then escalated away) is in its history:
    # every owner a case had is some event's new owner. (No index: deleting a unit is rare, and
    # the database's own foreign-key check reads the events the same way.)
    handled = session.scalar(
        sa.select(CaseEvent.id)
        .where(CaseEvent.to_owner_unit_id == unit.id)
        .limit(1)
        .execution_options(**UNSCOPED)
    )
    if handled:
        return f"Unit {unit.code} handled cases (their timelines name it); deactivate it instead."
    # A party's home decides whether their case may go up cross_boundary, and events name it.
    home = session.scalar(sa.select(Party.id).where(Party.home_unit_id == unit.id).limit(1)
                          .execution_options(**UNSCOPED))
    return f"Parties of cases live in unit {unit.code}; deactivate it instead." if home else None


tree_service.DELETE_GUARDS.append(_cases_of_unit)
