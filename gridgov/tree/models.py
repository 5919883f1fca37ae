"""The ``units`` table, and the one helper that turns a subtree into an index range."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from gridgov.auth import scope
from gridgov.db import UTCDateTime, binary_string, db, enum_type, utcnow
from gridgov.tree import paths
from gridgov.tree.levels import Level

PATH_LENGTH = 64
CODE_LENGTH = 32


class Unit(db.Model):
    __tablename__ = "units"
    __table_args__ = (
        sa.Index("ix_units_path", "path", unique=True),
        sa.Index("ix_units_code", "code", unique=True),
        sa.CheckConstraint("households >= 0", name="households_non_negative"),
        sa.CheckConstraint("population >= 0", name="population_non_negative"),
        sa.CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude_range"),
        sa.CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude_range"),
        sa.CheckConstraint("next_child >= 0", name="next_child_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(binary_string(CODE_LENGTH))
    name: Mapped[str] = mapped_column(sa.String(100))
    level: Mapped[Level] = mapped_column(enum_type(Level, "unit_level", 16))
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("units.id", ondelete="RESTRICT"), index=True
    )
    # The root of the unit's tree (a district is its own district): every tenant row knows it.
    district_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id"), index=True)
    path: Mapped[str] = mapped_column(binary_string(PATH_LENGTH))
    depth: Mapped[int] = mapped_column(sa.SmallInteger)
    # The last sequence number handed to a child; allocation locks this row (see service).
    next_child: Mapped[int] = mapped_column(default=0, server_default="0")
    # A district's parent in the national tables (its city), recorded but not required to exist.
    city_code: Mapped[str | None] = mapped_column(sa.String(CODE_LENGTH))
    households: Mapped[int | None]
    population: Mapped[int | None]
    latitude: Mapped[float | None] = mapped_column(sa.Float)
    longitude: Mapped[float | None] = mapped_column(sa.Float)
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<Unit {self.code} {self.name} {self.level}>"


def in_subtree(path_column, path: str):
    """``path_column`` lies in the subtree at ``path``: the range form, which every database
    serves from a B-tree index (``startswith`` renders a LIKE, which SQLite cannot)."""
    low, high = paths.subtree_range(path)
    return sa.and_(path_column >= low, path_column < high)


def ancestor_or_self(ancestor_path_column, path_column):
    """``ancestor_path_column`` is the path of ``path_column``'s unit or of one of its ancestors:
    equal to one of its prefixes (one per level), so each is an index lookup, where a LIKE would
    scan. It finds a unit's lineage in the same query as the unit."""
    step = paths.SEGMENT_WIDTH + 1
    return ancestor_path_column.in_([sa.func.substr(path_column, 1, step * depth) for depth in range(1, len(Level) + 1)])


def subtree_criterion(path_column_name: str):
    """The usual scope rule: the row's copied path lies in the principal's subtree."""

    def criterion(cls, principal_scope):
        if not principal_scope.path:
            return None
        return in_subtree(getattr(cls, path_column_name), principal_scope.path)

    return criterion


scope.register(Unit, subtree_criterion("path"))


# Columns on other tables that hold a copy of a unit path (cases, reports, assignments …), each
# with the district column of its row, if any. Domains register theirs at import time; a move
# rewrites every one in the same transaction.
PATH_COPIES: list[tuple[sa.orm.InstrumentedAttribute, sa.orm.InstrumentedAttribute | None]] = []


def register_path_copy(path_column, district_column=None) -> None:
    PATH_COPIES.append((path_column, district_column))
