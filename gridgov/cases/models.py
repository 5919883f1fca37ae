"""Cases, their parties, mediation attempts, attachments and the append-only event log."""

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import has_request_context, request
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridgov.auth import scope
from gridgov.auth.permissions import Role
from gridgov.cases.enums import (
    DEADLINE_STANDS,
    Category,
    HandlingLevel,
    Outcome,
    PartyRole,
    ReferralChannel,
    RejectionReason,
    RiskGrade,
    Source,
    Status,
)
from gridgov.db import UTCDateTime, binary_string, db, enum_type, not_by_index, utcnow
from gridgov.tree import paths
from gridgov.tree.models import PATH_LENGTH, Unit, in_subtree, register_path_copy


# The statuses whose deadline stands (enums.DEADLINE_STANDS), as SQL with literals: a partial
# index serves a query only when the query names the very same terms.
STANDING_SQL = "status IN ({})".format(", ".join(f"'{status}'" for status in Status if status in DEADLINE_STANDS))


class Case(db.Model):
    __tablename__ = "cases"
    __table_args__ = (
        sa.Index("ix_cases_origin_path", "origin_path"),
        sa.Index("ix_cases_owner_path", "owner_path"),
        sa.Index("ix_cases_status_deadline", "status", "deadline_at"),
        # The working set: cases whose deadline stands, by where they happened. The rollups read
        # the deadline colours from here (an index-only scan), never from the history.
        sa.Index("ix_cases_standing", "origin_path", "deadline_at", "yellow_at",
                 sqlite_where=sa.text(STANDING_SQL), postgresql_where=sa.text(STANDING_SQL)),
        # The few cases whose deadline was counted past the holiday data, which the sweep counts
        # again each run: found without reading every running case. (Each database's spelling
        # of the sweep's condition, which a partial index must match; the column leads the key
        # too, so that SQLite sees an equality to use it for.)
        sa.Index("ix_cases_provisional", "deadline_provisional", "id", sqlite_where=sa.text("deadline_provisional = 1"),
                 postgresql_where=sa.text("deadline_provisional")),
        sa.CheckConstraint("people_involved >= 0", name="people_non_negative"),
        sa.CheckConstraint("amount_in_dispute >= 0", name="amount_non_negative"),
        sa.CheckConstraint("satisfaction BETWEEN 1 AND 5", name="satisfaction_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(32), unique=True)

    district_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    category: Mapped[Category] = mapped_column(enum_type(Category, "case_category"))
    risk_grade: Mapped[RiskGrade] = mapped_column(enum_type(RiskGrade, "case_risk_grade"))
    people_involved: Mapped[int] = mapped_column(default=1)
    amount_in_dispute: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 2))
    source: Mapped[Source] = mapped_column(enum_type(Source, "case_source"))

    # Where it happened (usually a micro-grid) and who handles it now; paths copied for ranges.
    origin_unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)
    origin_path: Mapped[str] = mapped_column(binary_string(PATH_LENGTH))
    owner_unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)
    owner_path: Mapped[str] = mapped_column(binary_string(PATH_LENGTH))
    owner_level: Mapped[HandlingLevel] = mapped_column(enum_type(HandlingLevel, "case_owner_level", 16))
    # When the current owner received it: its attempts and its clock count from here.
    arrived_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When a successful mediation was first recorded since then (None: none yet): the case waits
    # in its unit's inbox to be resolved, whoever mediated it.
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    highest_level: Mapped[HandlingLevel] = mapped_column(enum_type(HandlingLevel, "case_highest_level", 16))
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("principals.id", ondelete="SET NULL"), index=True)
    # The mediation studio or expert team it was given to (assign or refer with studio_id).
    studio_id: Mapped[int | None] = mapped_column(sa.ForeignKey("studios.id", ondelete="SET NULL"), index=True)

    status: Mapped[Status] = mapped_column(enum_type(Status, "case_status"))
    # The status a suspension interrupted, to return to on resume.
    suspended_from: Mapped[Status | None] = mapped_column(enum_type(Status, "case_suspended_from"))

    # The deadline clock (working time, see calendar.py): None while it is stopped.
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    yellow_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline_budget_seconds: Mapped[int | None]
    # Working time left when the clock was stopped (suspension, referral), and when that was: the
    # time left is counted again on restarting, on the holiday data installed then.
    deadline_remaining_seconds: Mapped[int | None]
    clock_stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the clock last (re)started and how much working time it had then: enough to count
    # the deadline again once a provisional one can be counted on the official calendar.
    clock_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    clock_left_seconds: Mapped[int | None]
    deadline_provisional: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Set once by the sweep when it finds the case overdue (red); cleared with a new deadline.
    overdue_marked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    resolved_level: Mapped[HandlingLevel | None] = mapped_column(enum_type(HandlingLevel, "case_resolved_level", 16))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("principals.id", ondelete="SET NULL"))
    resolution_note: Mapped[str | None] = mapped_column(sa.Text)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("principals.id", ondelete="SET NULL"))
    closed_on_time: Mapped[bool | None]
    rejection_reason: Mapped[RejectionReason | None] = mapped_column(enum_type(RejectionReason, "case_rejection", 16))
    rejection_note: Mapped[str | None] = mapped_column(sa.Text)
    referral_channel: Mapped[ReferralChannel | None] = mapped_column(enum_type(ReferralChannel, "case_referral_channel"))
    referral_reference: Mapped[str | None] = mapped_column(sa.String(100))
    satisfaction: Mapped[int | None]

    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("principals.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    # Stale writes fail (UPDATE … WHERE version = :seen): two people never overwrite each other.
    __mapper_args__ = {"version_id_col": version}

    parties: Mapped[list["Party"]] = relationship(
        back_populates="case", order_by="Party.id", cascade="all, delete-orphan", lazy="selectin"
    )
    attachments: Mapped[list["Attachment"]] = relationship(order_by="Attachment.id", lazy="selectin")
    origin_unit: Mapped[Unit] = relationship(foreign_keys=[origin_unit_id], lazy="raise")
    owner_unit: Mapped[Unit] = relationship(foreign_keys=[owner_unit_id], lazy="raise")


class Party(db.Model):
    __tablename__ = "case_parties"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    role: Mapped[PartyRole] = mapped_column(enum_type(PartyRole, "party_role", 16))
    name: Mapped[str] = mapped_column(sa.String(100))
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    # ID numbers only as a keyed hash (HMAC under the app's secret) and their last four characters.
    id_number_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    id_number_last4: Mapped[str | None] = mapped_column(sa.String(4))
    home_unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id", ondelete="SET NULL"))

    case: Mapped[Case] = relationship(back_populates="parties")


class MediationAttempt(db.Model):
    __tablename__ = "mediation_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    by_principal_id: Mapped[int | None] = mapped_column(sa.ForeignKey("principals.id", ondelete="SET NULL"))
    by_name: Mapped[str] = mapped_column(sa.String(100))
    outcome: Mapped[Outcome] = mapped_column(enum_type(Outcome, "attempt_outcome", 16))
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    # Who owned the case then: "a failed attempt at the current level" is read from these.
    owner_unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"))
    owner_level: Mapped[HandlingLevel] = mapped_column(enum_type(HandlingLevel, "attempt_owner_level", 16))


class Attachment(db.Model):
    __tablename__ = "case_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(50))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    storage_name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("principals.id", ondelete="SET NULL"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseEvent(db.Model):
    """Append-only: every change of a case, written in the same transaction as the change."""

    __tablename__ = "case_events"
    __table_args__ = (sa.Index("ix_case_events_case_id_id", "case_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("principals.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(sa.String(100))
    action: Mapped[str] = mapped_column(sa.String(32))
    from_status: Mapped[Status | None] = mapped_column(enum_type(Status, "event_from_status"))
    to_status: Mapped[Status | None] = mapped_column(enum_type(Status, "event_to_status"))
    from_owner_unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id"))
    to_owner_unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id"))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    # What else changed, as field → new value, so that replaying the events rebuilds the case.
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)


class CaseSequence(db.Model):
    """The last reference number given in a district and year (NX-2026-000123)."""

    __tablename__ = "case_sequences"

    district_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True)
    last_number: Mapped[int] = mapped_column(default=0)


class IdempotencyRecord(db.Model):
    """A retried ``POST /cases`` or case action with the same ``Idempotency-Key`` answers the case
    the first request made or acted on (kept ``service.KEYS_KEPT``)."""

    __tablename__ = "idempotency_records"
    __table_args__ = (sa.UniqueConstraint("principal_id", "key", name="uq_idempotency_records_principal_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    principal_id: Mapped[int] = mapped_column(sa.ForeignKey("principals.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(200))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    # None while the first request is still making its case (the key is reserved first).
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


register_path_copy(Case.origin_path, Case.district_id)
register_path_copy(Case.owner_path)


def in_area(case: Case, path: str | None) -> bool:
    """``case`` happened or is handled in the subtree at ``path`` (None: everywhere): the rule of
    ``_case_criterion`` for one case."""
    return not path or any(paths.is_descendant_or_self(case_path, path) for case_path in (case.origin_path, case.owner_path))


# A district's or a town's cases are a large share of all: SQLite would read every one of them
# through the two path indexes and sort them for a page of 50, where reading the newest first (the
# list's own order) and keeping those in scope finds the page at once. Below, the paths' indexes.
WIDE_SCOPE_DEPTH = 1


def _case_criterion(cls, principal_scope):
    """A case is visible where it happened or where it is handled (``in_area``); a specialist sees
    only the cases given to them."""
    clauses = []
    if principal_scope.path:
        origin, owner = cls.origin_path, cls.owner_path
        if paths.depth(principal_scope.path) <= WIDE_SCOPE_DEPTH:
            origin, owner = not_by_index(origin), not_by_index(owner)
        clauses.append(sa.or_(in_subtree(origin, principal_scope.path), in_subtree(owner, principal_scope.path)))
    if principal_scope.role is Role.SPECIALIST:
        # Theirs: assigned to them, or given to a studio they are a member of. The studios as ids,
        # not a subquery: with a subquery in the OR, PostgreSQL uses neither column's index and
        # reads every case in scope for each page.
        clauses.append(sa.or_(cls.assignee_id == principal_scope.principal_id,
                              cls.studio_id.in_(studio_ids_of(principal_scope.principal_id))))
    return sa.and_(*clauses) if clauses else None


def studios_of(principal_id: int):
    """The ids of the studios the principal is a member of, as a worker still on the roster."""
    from gridgov.people.models import Worker, studio_members

    return (
        sa.select(studio_members.c.studio_id)
        .join(Worker, Worker.id == studio_members.c.worker_id)
        .where(Worker.principal_id == principal_id, Worker.active)
    )


def studio_ids_of(principal_id: int) -> frozenset[int]:
    """``studios_of`` read, once a request: a page of cases asks it for each of them."""
    cache = request.environ.setdefault("gridgov.studios", {}) if has_request_context() else {}
    if principal_id not in cache:
        statement = studios_of(principal_id).execution_options(**scope.UNSCOPED)
        cache[principal_id] = frozenset(db.session.scalars(statement))
    return cache[principal_id]


scope.register(Case, _case_criterion)
# Parties, attempts, attachments and events are read only through a case that was found in
# scope first (service.get_case), so they need no criterion of their own.
