"""Subtree counts through the path range against a recursive CTE over parent_id, and the move of
a town with everything under it, on the synthetic forest (180 districts: 658,440 units).

    python -m bench.tree [--districts 180] [--postgres URL]

Builds the forest once per database (bench/out/tree.db and the PostgreSQL database
gridgov_tree) and reuses it on later runs.
"""

import sys

import flask_migrate
import sqlalchemy as sa

from bench.common import arguments, bench_apps, median_seconds, ms
from gridgov.db import db
from gridgov.tree import paths, service, transfer
from gridgov.tree.levels import Level
from gridgov.tree.models import Unit
from seeds import synthetic


def build(districts: int) -> None:
    flask_migrate.upgrade()
    have = db.session.scalar(sa.select(sa.func.count()).select_from(Unit).where(Unit.level == Level.DISTRICT))
    if have >= districts:
        return
    for index, rows in enumerate(synthetic.rows(districts), 1):
        if index <= have:
            continue
        transfer.import_units(db.session, rows=rows)
        db.session.commit()
        print(f"\r  building: {index}/{districts} districts", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)


# Both queries are Core statements, built once with bound parameters and run on one connection,
# as a hot path would run them: the comparison is of the databases' work, not of building
# statements in Python (which both would pay alike, and which would hide the difference).
# The form of models.in_subtree, with the bounds as parameters.
RANGE_COUNT = sa.select(sa.func.count()).select_from(Unit).where(Unit.path >= sa.bindparam("low"), Unit.path < sa.bindparam("high"))
_tree = sa.select(Unit.id).where(Unit.id == sa.bindparam("root_id")).cte("subtree", recursive=True)
CTE_COUNT = sa.select(sa.func.count()).select_from(_tree.union_all(sa.select(Unit.id).where(Unit.parent_id == _tree.c.id)))


def range_count(unit: Unit) -> int:
    low, high = paths.subtree_range(unit.path)
    return db.session.connection().execute(RANGE_COUNT, {"low": low, "high": high}).scalar_one()


def cte_count(unit: Unit) -> int:
    return db.session.connection().execute(CTE_COUNT, {"root_id": unit.id}).scalar_one()


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--districts", type=int, default=180)
    args = parser.parse_args()
    print(f"synthetic forest of {args.districts} districts; median of {args.repeat} runs each\n")
    print(f"{'database':<11} {'units':>8}  {'query':<26} {'path range':>12} {'recursive CTE':>14} {'CTE ÷ range':>12}")
    for label, app in bench_apps(args.postgres, "tree"):
        with app.app_context():
            build(args.districts)
            db.session.commit()  # an open snapshot would keep VACUUM from marking pages all-visible
            if db.engine.dialect.name == "postgresql":
                # What autovacuum does after a bulk load: statistics and the visibility map
                # (without it, index-only scans visit the heap).
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.exec_driver_sql("VACUUM (ANALYZE, INDEX_CLEANUP ON) units")
            total = db.session.scalar(sa.select(sa.func.count()).select_from(Unit))
            district = db.session.scalar(sa.select(Unit).where(Unit.code == synthetic.district_code(args.districts // 2)))
            town = service.children(db.session, unit=district)[0]
            for what, unit in (("town subtree count", town), ("district subtree count", district)):
                assert range_count(unit) == cte_count(unit)
                by_range = median_seconds(lambda: range_count(unit), args.repeat)
                by_cte = median_seconds(lambda: cte_count(unit), args.repeat)
                print(f"{label:<11} {total:>8}  {what + f' ({range_count(unit)})':<26} {ms(by_range):>12} {ms(by_cte):>14} {by_cte / by_range:>11.1f}×")

            # Move the town to the neighbouring district and back: each a whole-subtree rewrite.
            other = db.session.scalar(sa.select(Unit).where(Unit.code == synthetic.district_code(args.districts // 2 + 1)))
            size = range_count(town)
            times = []
            for target in (other, district) * ((args.repeat + 1) // 2):
                moving = db.session.get(Unit, town.id)
                target = db.session.get(Unit, target.id)
                times.append(median_seconds(lambda: (service.move_unit(db.session, unit=moving, new_parent=target), db.session.commit()), 1))
            times.sort()
            print(f"{label:<11} {total:>8}  {f'move a town ({size} units)':<26} {ms(times[len(times) // 2]):>12}")
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    main()
