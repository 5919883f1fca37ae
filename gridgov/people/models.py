"""The roster (workers), studios and expert teams, and assignments — who covers which unit."""

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridgov.auth import scope
from gridgov.db import UTCDateTime, binary_string, db, enum_type, utcnow
from gridgov.tree import paths
from gridgov.tree.models import PATH_LENGTH, in_subtree, register_path_copy, subtree_criterion


class WorkerRole(enum.StrEnum):
    """Jobs on the roster; not the principal roles of gridgov.auth (permissions)."""

    GRID_WORKER = "grid_worker"  # 网格员
    GRID_OFFICER = "grid_officer"  # 驻网格政法干警
    COMMUNITY_POLICE_CHIEF = "community_police_chief"  # 社区警长
    MEDIATOR = "mediator"  # 专职人民调解员
    AUXILIARY_POLICE = "auxiliary_police"  # 辅警
    LEGAL_EXPERT = "legal_expert"  # 法律首席专家
    GOLD_MEDIATOR = "gold_mediator"  # 金牌调解员
    COUNSELLOR = "counsellor"  # 心理咨询师
    SOCIAL_WORKER = "social_worker"  # 社会工作者
    TRIAGE_CLERK = "triage_clerk"  # 信息清洗员


class Worker(db.Model):
    __tablename__ = "workers"
    __table_args__ = (
        sa.Index("ix_workers_home_path", "home_path"),
        sa.CheckConstraint("capacity >= 0", name="capacity_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    phone: Mapped[str | None] = mapped_column(sa.String(32))  # personal data
    role: Mapped[WorkerRole] = mapped_column(enum_type(WorkerRole, "worker_role"))
    home_unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)
    home_path: Mapped[str] = mapped_column(binary_string(PATH_LENGTH))
    district_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)
    # The most units the worker may cover at once.
    capacity: Mapped[int] = mapped_column(default=1)
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    principal_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("principals.id", ondelete="SET NULL"), unique=True
    )
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


studio_members = sa.Table(
    "studio_members",
    db.metadata,
    sa.Column("studio_id", sa.ForeignKey("studios.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("worker_id", sa.ForeignKey("workers.id", ondelete="CASCADE"), primary_key=True),
)


class Studio(db.Model):
    """A named mediation studio or expert team (e.g. 劳动争议调解工作室)."""

    __tablename__ = "studios"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    # The case categories it takes, as their API spellings.
    specialties: Mapped[list] = mapped_column(sa.JSON, default=list)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)  # where it sits
    path: Mapped[str] = mapped_column(binary_string(PATH_LENGTH), index=True)
    district_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Two people editing its members must not overwrite each other (PATCH with version).
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    members: Mapped[list[Worker]] = relationship(secondary=studio_members, order_by=Worker.id, lazy="selectin")

    # Read by ``member_ids`` once (a list reads them for all its studios at once, see
    # ``people.service.list_studios``); not mapped.
    _member_ids = None

    @property
    def member_ids(self) -> list[int]:
        """Every member's id, wherever they are based. ``members`` holds only those the caller's
        scope shows: a town sees the district's studio it is served by, whose experts sit above it,
        and must not take it for one without members."""
        if self._member_ids is None:
            self._member_ids = list(sa.orm.object_session(self).scalars(
                sa.select(studio_members.c.worker_id).where(studio_members.c.studio_id == self.id)
                .order_by(studio_members.c.worker_id)
            ))
        return self._member_ids


class Assignment(db.Model):
    """A worker covering a unit for a duty, from one date to another: history, never deleted."""

    __tablename__ = "assignments"
    __table_args__ = (
        sa.Index("ix_assignments_unit_path", "unit_path"),
        sa.Index("ix_assignments_current", "unit_id", "ends_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(sa.ForeignKey("workers.id"), index=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"))
    unit_path: Mapped[str] = mapped_column(binary_string(PATH_LENGTH))
    district_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)
    duty: Mapped[str] = mapped_column(sa.String(50))
    starts_on: Mapped[date] = mapped_column(sa.Date)
    ends_on: Mapped[date | None] = mapped_column(sa.Date)  # None: current
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    worker: Mapped[Worker] = relationship(lazy="joined")


register_path_copy(Worker.home_path, Worker.district_id)
register_path_copy(Studio.path, Studio.district_id)
register_path_copy(Assignment.unit_path, Assignment.district_id)
scope.register(Worker, subtree_criterion("home_path"))


def _studio_criterion(cls, principal_scope):
    """A scope's own studios, and those above it that serve it: a town gives its labour cases
    to the district's labour studio (cases.service._may_be_given), so it must find it."""
    if not principal_scope.path:
        return None
    return sa.or_(in_subtree(cls.path, principal_scope.path), cls.path.in_(paths.ancestor_paths(principal_scope.path)))


scope.register(Studio, _studio_criterion)
scope.register(Assignment, subtree_criterion("unit_path"))
