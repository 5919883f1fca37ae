"""Two (and more) sweeps at once, on real commits: no case is escalated or marked twice.

PostgreSQL takes each batch with ``FOR UPDATE SKIP LOCKED``; SQLite lets one writer in at a time.
"""

import threading
from collections import Counter

import sqlalchemy as sa

from gridgov.cases import service
from gridgov.cases.enums import HandlingLevel, Status
from gridgov.cases.models import Case, CaseEvent
from gridgov.cases.sweep import sweep
from gridgov.db import db
from tests.cases.support import at

START = at(2026, 3, 2, 9)
LATER = at(2026, 3, 20, 12)  # every deadline below has passed
GRID_CASES, TOWN_CASES, SWEEPERS = 24, 8, 4


def test_parallel_sweeps_escalate_and_mark_every_overdue_case_exactly_once(app, scratch_district):
    with app.app_context():
        for n in range(GRID_CASES):
            service.create_case(db.session, actor=None, title=f"网格事项{n}", category="family_neighbour",
                                risk_grade="blue", source="grid_patrol", origin_unit_id=scratch_district.microgrid,
                                now=START)
        for n in range(TOWN_CASES):
            service.create_case(db.session, actor=None, title=f"镇级事项{n}", category="labour",
                                risk_grade="blue", source="grid_patrol", origin_unit_id=scratch_district.microgrid,
                                now=START)
        db.session.commit()

    start = threading.Barrier(SWEEPERS)
    counts, failures = [], []

    def work():
        with app.app_context():
            start.wait()
            try:
                counts.append(sweep(db.session, now=LATER, batch_size=3))
                db.session.commit()
            except Exception as error:  # noqa: BLE001 — reported below
                failures.append(error)

    threads = [threading.Thread(target=work) for _ in range(SWEEPERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert sum(count["escalated"] for count in counts) == GRID_CASES
    assert sum(count["marked"] for count in counts) == TOWN_CASES

    with app.app_context():
        cases = db.session.scalars(sa.select(Case).where(Case.district_id == scratch_district.district)).all()
        events = db.session.scalars(
            sa.select(CaseEvent).where(CaseEvent.case_id.in_([case.id for case in cases]))
        ).all()
        per_case = Counter((event.case_id, event.action) for event in events)
        grid_cases = [case for case in cases if case.category == "family_neighbour"]
        town_cases = [case for case in cases if case.category == "labour"]
        assert len(grid_cases) == GRID_CASES and len(town_cases) == TOWN_CASES
        for case in grid_cases:
            assert per_case[(case.id, "escalate")] == 1, case.reference
            assert per_case[(case.id, "mark_overdue")] == 0
            assert (case.owner_unit_id, case.owner_level, case.status) == (
                scratch_district.village, HandlingLevel.VILLAGE, Status.REPORTED,
            )
        for case in town_cases:
            assert per_case[(case.id, "mark_overdue")] == 1, case.reference
            assert per_case[(case.id, "escalate")] == 0
            assert case.overdue_marked_at == LATER
        # and a sweep after them finds nothing left
        assert sweep(db.session, now=LATER) == {"recounted": 0, "escalated": 0, "marked": 0, "keys_forgotten": 0}
        db.session.commit()
