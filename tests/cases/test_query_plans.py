"""The sweep finds its few provisional deadlines from their own index, not by reading every
running case (the sweep runs every few minutes)."""

import sqlalchemy as sa

from gridgov.cases.models import Case
from gridgov.cases.sweep import PROVISIONAL
from tests.tree.test_query_plans import plan


def test_the_sweep_reads_provisional_deadlines_from_their_partial_index(session, dialect):
    stmt = sa.select(Case.id).where(PROVISIONAL, Case.id > 0).order_by(Case.id).limit(1000)
    text = plan(session, dialect, stmt)
    assert "ix_cases_provisional" in text, text
    assert "SCAN cases" not in text and "Seq Scan" not in text, text
