"""Allocating paths (and generated codes) under one parent from many connections at once."""

import threading

import pytest
import sqlalchemy as sa

from gridgov.db import db
from gridgov.tree import service
from gridgov.tree.levels import Level
from gridgov.tree.models import Unit, in_subtree

WORKERS = 8
PER_WORKER = 5


@pytest.fixture
def scratch_village(app, committed):
    """A committed district → town → village of its own, deleted afterwards.

    PostgreSQL serialises the inserts on the parent's row lock; SQLite on its database lock
    (``BEGIN IMMEDIATE``); either way no two children may get one path or one code.
    """
    district = service.create_unit(committed, name="并发测试区", level=Level.DISTRICT, code="990001")
    town = service.create_unit(committed, name="并发镇", level=Level.TOWN, code="990001001", parent_id=district.id)
    village = service.create_unit(
        committed, name="并发村", level=Level.VILLAGE, code="990001001001", parent_id=town.id
    )
    committed.commit()
    ids = village.id, district.path
    committed.close()  # the threads use connections of their own
    yield ids
    for depth in range(4, -1, -1):
        committed.execute(sa.delete(Unit).where(in_subtree(Unit.path, district.path), Unit.depth == depth))
    committed.commit()


def test_parallel_inserts_under_one_parent_get_distinct_paths_and_codes(app, scratch_village):
    village_id, district_path = scratch_village
    start = threading.Barrier(WORKERS)
    failures = []

    def work():
        with app.app_context():
            start.wait()
            try:
                for _ in range(PER_WORKER):
                    service.create_unit(db.session, name="网格", level=Level.GRID, parent_id=village_id)
                    db.session.commit()
            except Exception as error:  # noqa: BLE001 — reported below
                failures.append(error)

    threads = [threading.Thread(target=work) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    with app.app_context():
        grids = db.session.scalars(sa.select(Unit).where(Unit.parent_id == village_id)).all()
        village = db.session.get(Unit, village_id)
        total = WORKERS * PER_WORKER
        assert len(grids) == total
        assert len({grid.path for grid in grids}) == total
        assert sorted(grid.code for grid in grids) == [f"990001001001{n:03d}" for n in range(1, total + 1)]
        assert village.next_child == total
        assert all(grid.path.startswith(village.path) for grid in grids)
