"""The rollup counters: one row per unit (totals) and one per unit and day. Their columns are
``measures.TOTAL_COLUMNS`` and ``measures.DAY_COLUMNS``; what a case adds to each is
``measures.contribution``."""

import sqlalchemy as sa

from gridgov.db import db
from gridgov.rollups.measures import DAY_COLUMNS, TOTAL_COLUMNS


def _counter(name: str) -> sa.Column:
    # Floats: the risk sums are fractional; counts stay exact far beyond any district's (2**53).
    return sa.Column(name, sa.Float, nullable=False, server_default="0")


unit_totals = sa.Table(
    "rollup_unit_totals",
    db.metadata,
    sa.Column("unit_id", sa.Integer, sa.ForeignKey("units.id", ondelete="CASCADE"), primary_key=True),
    *[_counter(name) for name in TOTAL_COLUMNS],
)

unit_days = sa.Table(
    "rollup_unit_days",
    db.metadata,
    sa.Column("unit_id", sa.Integer, sa.ForeignKey("units.id", ondelete="CASCADE"), primary_key=True),
    # (unit, day) first: a window of one unit's days is one index range.
    sa.Column("day", sa.Date, primary_key=True),
    *[_counter(name) for name in DAY_COLUMNS],
)
