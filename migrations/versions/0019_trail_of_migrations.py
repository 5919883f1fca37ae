"""Record in each case's trail what earlier migrations wrote into the case without an event, so
that replaying its events rebuilds it again (issue 4): 0015 split rejection texts into a reason
and a note, 0017 added ``clock_stopped_at``, 0018 added and filled ``settled_at``. Each case whose
events no longer tell its row gets one ``upgrade`` event with the columns they miss or tell
otherwise; the others, none. A migration that writes into cases from now on records its event
itself.

Revision ID: 0019_trail_of_migrations
Revises: 0018_settled_at
Create Date: 2026-11-28 18:00:00

"""
from datetime import datetime, timezone
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0019_trail_of_migrations'
down_revision = '0018_settled_at'
branch_labels = None
depends_on = None

# What the events do not tell, as in gridgov.cases.service.DERIVED_FIELDS (copied: a migration
# must mean the same thing whatever the code becomes).
DERIVED = {"id", "version", "updated_at", "origin_path", "owner_path", "district_id"}
BATCH = 1000


def _as_told(value):
    """A column's value as an event tells it (``service._plain``)."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)  # SQLite's are naive UTC
        return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return value


def _tells(told, value) -> bool:
    """Whether an event's ``told`` is the row's ``value`` (events written over the years spell
    moments with or without microseconds)."""
    if told is None or value is None:
        return told is None and value is None
    if isinstance(value, datetime):
        return datetime.fromisoformat(told) == datetime.fromisoformat(_as_told(value))
    if isinstance(value, Decimal):
        return Decimal(str(told)) == value
    return told == value


def upgrade():
    bind = op.get_bind()
    metadata = sa.MetaData()
    # Not the tables they refer to (principals' index on lower(username) is one SQLite's
    # reflection cannot read).
    cases = sa.Table("cases", metadata, autoload_with=bind, resolve_fks=False)
    events = sa.Table("case_events", metadata, autoload_with=bind, resolve_fks=False)
    told_columns = [column for column in cases.c if column.name not in DERIVED]
    now = datetime.now(timezone.utc)
    last_id = 0
    while rows := bind.execute(sa.select(cases).where(cases.c.id > last_id).order_by(cases.c.id).limit(BATCH)).all():
        last_id = rows[-1].id
        told = {row.id: {} for row in rows}
        for case_id, details in bind.execute(
            sa.select(events.c.case_id, events.c.details)
            .where(events.c.case_id.in_(list(told))).order_by(events.c.case_id, events.c.id)
        ):
            told[case_id].update((details or {}).get("changes", {}))
        missing = []
        for row in rows:
            known = told[row.id]
            changes = {column.name: _as_told(row._mapping[column]) for column in told_columns
                       if column.name not in known or not _tells(known[column.name], row._mapping[column])}
            if changes:
                missing.append({
                    "case_id": row.id, "at": now, "actor_id": None, "actor": "system", "action": "upgrade",
                    "from_status": row.status, "to_status": row.status, "from_owner_unit_id": row.owner_unit_id,
                    "to_owner_unit_id": row.owner_unit_id, "reason": "recorded on upgrading the database",
                    "details": {"changes": changes},
                })
        if missing:
            bind.execute(events.insert(), missing)


def downgrade():
    # The events stay: the trail is append-only, and what they record stays true.
    pass
