"""A district rollup and a town rollup at 50,000 and at 5,000,000 cases, on SQLite and PostgreSQL.

    python -m bench.rollup [--districts 20] [--sizes 50000,5000000] [--rate 5000] [--postgres URL]

The synthetic forest (``--districts`` of Naxi's shape) gets cases at ``--rate`` a day across the
forest, ending today: 50,000 cases are the last ten days, 5,000,000 the last thousand. So the two
sizes share the present (the same open cases, the same working set) and differ in history, as
one deployment does over the years. Cases are loaded in bulk (COPY on PostgreSQL), then the
counters are built by ``counters.rebuild`` (the code the rebuild test checks), then the
statistics are refreshed (ANALYZE: what autovacuum does on PostgreSQL, and a sampled ANALYZE
on SQLite). Each rollup is the service call the API makes (in an app context of its own, as a request),
median of ``--repeat`` rounds that take every size and database in turn.

The database is built once per size and database (bench/out/rollup-*.db, gridgov_rollup_*).
"""

import random
import statistics
import sys
import time
from datetime import timedelta

import flask_migrate
import sqlalchemy as sa

from bench.common import arguments, bench_apps, ms
from gridgov.cases.enums import Category, HandlingLevel, RiskGrade, Source, Status
from gridgov.cases.models import Case
from gridgov.cases.service import current_policy
from gridgov.db import db, utcnow
from gridgov.rollups import counters, service
from gridgov.tree import paths, transfer
from gridgov.tree.levels import Level
from gridgov.tree.models import Unit
from seeds import synthetic

COLUMNS = [
    "reference", "district_id", "title", "description", "category", "risk_grade", "people_involved", "source",
    "origin_unit_id", "origin_path", "owner_unit_id", "owner_path", "owner_level", "arrived_at", "highest_level",
    "status", "deadline_at", "yellow_at", "deadline_provisional", "resolved_level", "resolved_at", "closed_at",
    "closed_on_time", "satisfaction", "created_at", "updated_at", "version",
]
CATEGORIES, GRADES = list(Category), list(RiskGrade)
OPEN_MIX = [Status.REPORTED, Status.ACCEPTED, Status.IN_PROGRESS, Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED]


def build_forest(districts: int) -> None:
    flask_migrate.upgrade()
    have = db.session.scalar(sa.select(sa.func.count()).select_from(Unit).where(Unit.level == Level.DISTRICT))
    for index, rows in enumerate(synthetic.rows(districts), 1):
        if index > have:
            transfer.import_units(db.session, rows=rows)
            db.session.commit()
            print(f"\r  forest: {index}/{districts} districts", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)


def microgrids() -> list[tuple]:
    """(district id, micro-grid id, its path, its grid's id and path) for every micro-grid."""
    grids = {row.path: row.id for row in db.session.execute(sa.select(Unit.id, Unit.path).where(Unit.level == Level.GRID))}
    rows = db.session.execute(
        sa.select(Unit.district_id, Unit.id, Unit.path).where(Unit.level == Level.MICROGRID).order_by(Unit.id)
    ).all()
    return [(d, i, p, grids[paths.parent_path(p)], paths.parent_path(p)) for d, i, p in rows]


def case_rows(count: int, *, newest_age_days: float, rate: float, places: list[tuple], seed: int):
    """``count`` cases logged from ``newest_age_days`` ago backwards, ``rate`` a day."""
    rng = random.Random(seed)
    now = utcnow()
    for number in range(count):
        age = timedelta(days=newest_age_days + number / rate + rng.random() / rate)
        created = now - age
        district_id, origin_id, origin_path, grid_id, grid_path = places[rng.randrange(len(places))]
        deadline = created + timedelta(days=rng.uniform(1, 5))
        if age > timedelta(days=15):
            status = Status.CLOSED if rng.random() < 0.96 else Status.REJECTED
        elif age > timedelta(days=5):
            status = rng.choice([Status.CLOSED] * 8 + [Status.RESOLVED, Status.IN_PROGRESS])
        else:
            status = rng.choice(OPEN_MIX)
        resolved = closed = None
        if status in (Status.RESOLVED, Status.CLOSED):
            resolved = min(created + timedelta(days=rng.uniform(0.1, 4)), now)
        if status is Status.CLOSED:
            closed = min(resolved + timedelta(hours=rng.uniform(1, 30)), now)
        standing = status in (Status.REPORTED, Status.ACCEPTED, Status.IN_PROGRESS, Status.RESOLVED)
        yield {
            "reference": f"B{seed}-{number:08d}", "district_id": district_id, "title": "bench",
            "description": "", "category": rng.choice(CATEGORIES), "risk_grade": rng.choice(GRADES),
            "people_involved": 1, "source": Source.GRID_PATROL, "origin_unit_id": origin_id,
            "origin_path": origin_path, "owner_unit_id": grid_id, "owner_path": grid_path,
            "owner_level": HandlingLevel.GRID, "arrived_at": created, "highest_level": HandlingLevel.GRID,
            "status": status, "deadline_at": deadline if standing else None,
            "yellow_at": created + (deadline - created) * 0.8 if standing else None, "deadline_provisional": False,
            "resolved_level": HandlingLevel.GRID if resolved else None, "resolved_at": resolved,
            "closed_at": closed, "closed_on_time": (closed <= deadline) if closed else None,
            "satisfaction": rng.randint(1, 5) if closed and rng.random() < 0.5 else None,
            "created_at": created, "updated_at": closed or resolved or created, "version": 1,
        }


def load(rows, dialect: str) -> None:
    """Bulk: COPY on PostgreSQL, one executemany per batch on SQLite."""
    if dialect == "postgresql":
        raw = db.session.connection().connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY cases ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([_plain(row[column]) for column in COLUMNS])
        return
    # SQLite: the table's indexes are dropped for the load and built again after it (sorting
    # once beats millions of random B-tree inserts), and rows go in by Core executemany.
    connection = db.session.connection()
    indexes = [index for index in Case.__table__.indexes]
    for index in indexes:
        index.drop(connection)
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == 50_000:
            connection.execute(Case.__table__.insert(), batch)
            batch = []
    if batch:
        connection.execute(Case.__table__.insert(), batch)
    for index in indexes:
        index.create(connection)


def _plain(value):
    return value.value if hasattr(value, "value") else value


def prepare(size: int, rate: float, dialect: str) -> None:
    have = db.session.scalar(sa.select(sa.func.count()).select_from(Case))
    if have == size:
        return
    if have:
        raise SystemExit(f"the bench database holds {have} cases, not {size}: remove it and run again")
    started = time.perf_counter()
    load(case_rows(size, newest_age_days=0, rate=rate, places=microgrids(), seed=size), dialect)
    db.session.commit()
    loaded = time.perf_counter()
    counters.rebuild(db.session, policy=current_policy())
    db.session.commit()
    print(f"  {dialect}: loaded {size:,} cases in {loaded - started:.0f} s, built the counters in "
          f"{time.perf_counter() - loaded:.0f} s", file=sys.stderr)
    if dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    else:
        db.session.execute(sa.text("PRAGMA analysis_limit=1000"))
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--districts", type=int, default=20)
    parser.add_argument("--sizes", default="50000,5000000")
    parser.add_argument("--rate", type=float, default=5000, help="cases a day across the forest")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    print(f"synthetic forest of {args.districts} districts, cases at {args.rate:.0f} a day ending today; "
          f"median of {args.repeat} runs\n")
    apps = {}
    for size in sizes:  # build everything first, then measure the sizes side by side
        for label, app in bench_apps(args.postgres, f"rollup_{size}"):
            with app.app_context():
                build_forest(args.districts)
                prepare(size, args.rate, db.engine.dialect.name)
                db.session.remove()
            apps[(label, size)] = app

    cases = {}  # (label, what, size) → a call of the service, as the API makes it
    for (label, size), app in apps.items():
        with app.app_context():
            district = db.session.scalar(sa.select(Unit).where(Unit.code == synthetic.district_code(1)))
            town = sorted(service.tree_service.children(db.session, unit=district), key=lambda u: u.path)[0]
            db.session.remove()
        window = service.Window(start=(utcnow() - timedelta(days=30)).date(), end=utcnow().date())
        for what, unit_id, span in (("district rollup", district.id, service.Window()),
                                    ("town rollup", town.id, service.Window()),
                                    ("district rollup, 30 days", district.id, window)):
            cases[(label, what, size)] = (app, unit_id, span)

    def call(app, unit_id, span):
        with app.app_context():
            service.rollup(db.session, unit=db.session.get(Unit, unit_id), window=span)
            db.session.remove()

    results = {key: [] for key in cases}
    for key, arguments_ in cases.items():
        call(*arguments_)  # warm: calendar caches, statement caches, the database's pages
    for _round in range(args.repeat):  # interleaved: drift on a shared machine hits every size alike
        for key, arguments_ in cases.items():
            started = time.perf_counter()
            call(*arguments_)
            results[key].append(time.perf_counter() - started)
    results = {key: statistics.median(times) for key, times in results.items()}

    print(f"{'database':<11} {'rollup':<26}" + "".join(f"{f'{size:,} cases':>18}" for size in sizes)
          + f"{'ratio':>10}")
    for label in ("sqlite", "postgresql"):
        for what in ("district rollup", "town rollup", "district rollup, 30 days"):
            times = [results.get((label, what, size)) for size in sizes]
            if None in times:
                continue
            print(f"{label:<11} {what:<26}" + "".join(f"{ms(t):>18}" for t in times) + f"{times[-1] / times[0]:>9.2f}×")


if __name__ == "__main__":
    main()
