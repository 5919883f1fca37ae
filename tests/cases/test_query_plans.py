"""Case queries read off each database's own plan: the sweep finds its few provisional deadlines
from their own index, not by reading every running case (it runs every few minutes); a page of a
case list is read from an index, not by sorting every case in scope."""

from datetime import datetime

import pytest
import sqlalchemy as sa

from gridgov.auth.permissions import Role
from gridgov.auth.scope import Scope
from gridgov.cases.models import Case, _case_criterion
from gridgov.cases.calendar import TIMEZONE
from gridgov.cases.enums import Status
from gridgov.cases.sweep import PROVISIONAL, closed_provisional
from tests.cases.support import new_case
from tests.tree.test_query_plans import plan


def _many_running_cases_few_provisional(session, small_tree, count=5000) -> None:
    """What the sweep meets: thousands of running and closed cases, a handful provisional, and statistics
    that say so. (On an empty table PostgreSQL's choice between the two partial indexes is a coin
    toss: it took ix_cases_standing on one machine and not on another.)"""
    case = new_case(session, small_tree["510503001001001001"].id)
    session.flush()
    columns = [column.name for column in Case.__table__.columns if column.name not in ("id", "reference")]
    session.execute(sa.text(
        f"INSERT INTO cases (reference, {', '.join(columns)}) SELECT reference || '-' || n, {', '.join(columns)} "
        f"FROM cases, generate_series(1, {count}) AS n WHERE id = :id"), {"id": case.id})
    session.execute(sa.update(Case).where(Case.id % 2 == 0).values(status=Status.CLOSED))  # the record, mostly
    session.execute(sa.update(Case).where(Case.id % 1000 < 2).values(deadline_provisional=True))
    session.execute(sa.text("ANALYZE cases"))


@pytest.mark.parametrize("condition", [PROVISIONAL, closed_provisional(datetime(2027, 1, 1, tzinfo=TIMEZONE))])
def test_the_sweep_reads_provisional_deadlines_from_their_partial_index(session, dialect, small_tree, condition):
    if dialect == "postgresql":
        _many_running_cases_few_provisional(session, small_tree)
    stmt = sa.select(Case.id).where(condition, Case.id > 0).order_by(Case.id).limit(1000)
    text = plan(session, dialect, stmt)
    assert "ix_cases_provisional" in text, text
    assert "SCAN cases" not in text and "Seq Scan" not in text, text


@pytest.mark.parametrize(("code", "wide"), [("510503", True), ("510503001", True), ("510503001001", False)])
def test_a_page_of_cases_in_scope_is_read_from_an_index_without_sorting_them_all(session, dialect, small_tree,
                                                                                code, wide):
    """District command's and a town's lists: their cases are a large share of all, and SQLite,
    finding them through the two path indexes, read and sorted every one for a page of 50 (1.1 s
    at 100,000 cases): it now reads the newest first and keeps those in scope. A village's are
    few: found through the path indexes, as before."""
    scope = Scope(path=small_tree[code].path, principal_id=1, role=Role.TOWN_CENTRE)
    stmt = (sa.select(Case).where(_case_criterion(Case, scope))
            .order_by(Case.created_at.desc(), Case.id.desc()).limit(51))
    text = plan(session, dialect, stmt)
    if dialect == "sqlite" and wide:
        assert "ix_cases_created_at" in text and "TEMP B-TREE" not in text, text
    elif dialect == "sqlite":
        assert "ix_cases_origin_path" in text and "ix_cases_owner_path" in text, text
    else:  # PostgreSQL weighs the paths' indexes against the order's by its statistics
        assert "Seq Scan" not in text, text
