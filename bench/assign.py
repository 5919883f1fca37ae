"""The assignment planner: 纳溪区, and the synthetic forest of 180 districts of its shape.

    python -m bench.assign [--districts 180] [--postgres URL]

Each district gets the Naxi roster (seeds/people.py); the planner then plans every duty of
one district, and of every district of the forest, without applying. Goal: Naxi under 2 s; the
forest's time at most 1.3 × the size ratio times Naxi's (it is planned village by village, so
time should grow linearly).
"""

import statistics
import sys
import time
from datetime import date

import flask_migrate
import sqlalchemy as sa

from bench.common import arguments, bench_apps
from gridgov.db import db
from gridgov.people import service
from gridgov.people.models import Worker
from gridgov.tree import transfer
from gridgov.tree.levels import Level
from gridgov.tree.models import Unit, in_subtree
from seeds import naxi, synthetic
from seeds import people as people_seed

TODAY = date(2026, 11, 27)


def build(districts: int) -> None:
    flask_migrate.upgrade()
    if db.session.scalar(sa.select(sa.func.count()).select_from(Unit).where(Unit.code == naxi.CODE)) == 0:
        transfer.import_units(db.session, rows=naxi.rows())
        db.session.commit()
    have = db.session.scalar(sa.select(sa.func.count()).select_from(Unit).where(Unit.level == Level.DISTRICT)) - 1
    for index, rows in enumerate(synthetic.rows(districts), 1):
        if index > have:
            transfer.import_units(db.session, rows=rows)
            db.session.commit()
    for code in [naxi.CODE, *(synthetic.district_code(i) for i in range(1, districts + 1))]:
        people_seed.seed(db.session, district_code=code, today=TODAY, plan=False)
        db.session.commit()
        print(f"\r  roster of {code}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)


def units_below(code: str) -> int:
    district = db.session.scalar(sa.select(Unit).where(Unit.code == code))
    return db.session.scalar(sa.select(sa.func.count()).select_from(Unit).where(in_subtree(Unit.path, district.path)))


def plan(code: str) -> float:
    district = db.session.scalar(sa.select(Unit).where(Unit.code == code))
    start = time.perf_counter()
    answer = service.plan_scope(db.session, scope_unit_id=district.id, apply=False, today=TODAY)
    elapsed = time.perf_counter() - start
    assert answer["coverage"]["covered"] == answer["coverage"]["duties"], answer["coverage"]
    db.session.rollback()
    return elapsed


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--districts", type=int, default=180)
    args = parser.parse_args()
    for label, app in bench_apps(args.postgres, "assign"):
        with app.app_context():
            build(args.districts)
            workers = db.session.scalar(sa.select(sa.func.count()).select_from(Worker))
            naxi_units = units_below(naxi.CODE)
            plan(naxi.CODE)  # warm up (the forest's districts are each planned once, warm too)
            naxi_time = statistics.median(plan(naxi.CODE) for _ in range(5))
            codes = [synthetic.district_code(i) for i in range(1, args.districts + 1)]
            forest_units = sum(units_below(code) for code in codes)
            forest_time = sum(plan(code) for code in codes)
            size_ratio, time_ratio = forest_units / naxi_units, forest_time / naxi_time
            print(f"{label:<11} 纳溪区 {naxi_units} units: {naxi_time:6.2f} s (goal < 2 s)   "
                  f"forest {forest_units} units, {workers} workers: {forest_time:7.1f} s   "
                  f"time ratio {time_ratio:6.1f} / size ratio {size_ratio:6.1f} = {time_ratio / size_ratio:4.2f} "
                  f"(goal ≤ 1.3)")
            db.engine.dispose()


if __name__ == "__main__":
    main()
