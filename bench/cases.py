"""Cases: logging throughput against the ceiling of the same server, and the sweep at scale.

    python -m bench.cases [--postgres URL] [--requests 1500] [--cases 1000000] [--overdue 10000]

1. ``POST /api/v1/cases`` under gunicorn (2 workers), side by side with a minimal Flask endpoint
   that inserts one row into the same database under the same server (bench/serve.py).
2. The sweep over ``--cases`` cases of which ``--overdue`` are overdue: marking them red against a
   raw UPDATE of those rows; then escalating them, with their events.
"""

import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta

import flask_migrate
import sqlalchemy as sa

from bench.common import OUT, arguments, bench_apps
from gridgov.auth import service as auth_service
from gridgov.auth.permissions import Role
from gridgov.cases import sweep
from gridgov.cases.enums import HandlingLevel, Status
from gridgov.cases.models import Case, CaseEvent
from gridgov.db import db, utcnow
from gridgov.tree import transfer
from gridgov.tree.levels import Level
from gridgov.tree.models import Unit
from seeds import naxi

PORT = 18731
CONCURRENCY = 8


def prepare(app) -> tuple[str, list[int]]:
    """Schema, the Naxi tree, a grid worker with a token over the district; micro-grid ids."""
    with app.app_context():
        flask_migrate.upgrade()
        transfer.import_units(db.session, rows=naxi.rows())
        db.session.execute(sa.text("CREATE TABLE IF NOT EXISTS bench_rows (id INTEGER PRIMARY KEY, payload VARCHAR(200))"
                                   if db.engine.dialect.name == "sqlite" else
                                   "CREATE TABLE IF NOT EXISTS bench_rows (id SERIAL PRIMARY KEY, payload VARCHAR(200))"))
        district = db.session.scalar(sa.select(Unit).where(Unit.code == naxi.CODE))
        principal = db.session.scalar(sa.select(auth_service.Principal).where(auth_service.Principal.username == "bench.logger"))
        if principal is None:
            principal = auth_service.create_principal(
                db.session, username="bench.logger", display_name="bench", role=Role.DISTRICT_COMMAND,
                scope_unit_id=district.id,
            )
        _token, text = auth_service.issue_token(db.session, principal=principal, name="bench", expires_in=timedelta(days=1))
        micro = list(db.session.scalars(sa.select(Unit.id).where(Unit.level == Level.MICROGRID).order_by(Unit.id)))
        db.session.commit()
        return text, micro


def serve(url: str):
    env = {**os.environ, "GRIDGOV_DATABASE_URL": url, "GRIDGOV_INSTANCE_PATH": str(OUT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{PORT}", "bench.serve:app"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    for _ in range(100):
        try:
            http.client.HTTPConnection("127.0.0.1", PORT, timeout=1).request("GET", "/docs")
            return process
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start")


def load(path: str, bodies, headers: dict, total: int, method: str = "POST") -> float:
    """Requests per second for ``total`` requests from CONCURRENCY threads."""
    counter = iter(range(total))
    lock = threading.Lock()
    failures = []

    def worker():
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        while True:
            with lock:
                number = next(counter, None)
            if number is None:
                return
            connection.request(method, path, body=bodies(number), headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status >= 300:
                failures.append(response.status)
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)

    threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[:3]}")
    return total / elapsed


def throughput(label: str, url: str, token: str, micro: list[int], total: int) -> None:
    rng = random.Random(1)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def case_body(_number):
        return json.dumps({
            "title": "邻里噪音纠纷", "category": "family_neighbour", "risk_grade": "yellow", "source": "grid_patrol",
            "origin_unit_id": rng.choice(micro),
            "parties": [{"role": "applicant", "name": "张三", "phone": "13812345678"}],
        })

    process = serve(url)
    try:
        load("/api/v1/cases", case_body, headers, 100)  # warm up both workers
        load("/_baseline/insert", lambda _n: "", {}, 100)
        ceilings, cases, reads = [], [], []
        for _ in range(3):  # interleaved, so that drift on a shared machine hits both alike
            ceilings.append(load("/_baseline/insert", lambda _n: "", {}, total))
            cases.append(load("/api/v1/cases", case_body, headers, total))
            reads.append(load("/api/v1/me", lambda _n: None, headers, total, method="GET"))
        ceiling, real, read = statistics.median(ceilings), statistics.median(cases), statistics.median(reads)
        print(f"{label:<11} POST /api/v1/cases {real:8.0f} req/s   minimal insert {ceiling:8.0f} req/s   "
              f"ratio {real / ceiling:5.0%}  (goal ≥ 50%)")
        # What any authenticated API request costs, before it writes anything: the same token,
        # the same guard, limiter and JSON answer.
        print(f"{label:<11} GET /api/v1/me     {read:8.0f} req/s   minimal insert {ceiling:8.0f} req/s   "
              f"ratio {read / ceiling:5.0%}  (a request that reads the caller and writes nothing)")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()


def bulk_cases(app, count: int, overdue: int) -> None:
    """``count`` cases straight into the table (no events: this is the haystack), ``overdue`` of
    them past their deadline at the town level."""
    with app.app_context():
        have = db.session.scalar(sa.select(sa.func.count()).select_from(Case))
        if have >= count:
            return
        db.session.execute(sa.delete(Case))
        towns = db.session.execute(sa.select(Unit.id, Unit.path).where(Unit.level == Level.TOWN)).all()
        micro = db.session.execute(sa.select(Unit.id, Unit.path, Unit.district_id).where(Unit.level == Level.MICROGRID)).all()
        now = utcnow()
        rng = random.Random(7)
        overdue_rows = set(rng.sample(range(count), overdue))
        columns = ["reference", "district_id", "title", "description", "category", "risk_grade", "people_involved",
                   "source", "origin_unit_id", "origin_path", "owner_unit_id", "owner_path", "owner_level",
                   "arrived_at", "highest_level", "status", "deadline_at", "yellow_at", "deadline_budget_seconds",
                   "deadline_provisional", "created_at", "updated_at", "version"]

        def row(i):
            origin_id, origin_path, district_id = micro[i % len(micro)]
            town_id, town_path = towns[i % len(towns)]
            late = i in overdue_rows
            created = now - timedelta(days=3 if late else 1)
            deadline = now - timedelta(hours=1) if late else now + timedelta(days=3)
            status = "accepted" if late else ("closed" if i % 3 else "in_progress")
            return (f"BN-{i:07d}", district_id, "批量案件", "", "family_neighbour", "yellow", 1, "grid_patrol",
                    origin_id, origin_path, town_id, town_path, "town", created, "town", status,
                    deadline if status != "closed" else None, deadline - timedelta(hours=12) if status != "closed" else None,
                    4 * 86400, False, created, created, 1)

        connection = db.session.connection()
        if db.engine.dialect.name == "postgresql":
            raw = connection.connection.driver_connection
            with raw.cursor().copy(f"COPY cases ({', '.join(columns)}) FROM STDIN") as copy:
                for i in range(count):
                    copy.write_row(row(i))
        else:
            table = Case.__table__
            for start in range(0, count, 20_000):
                chunk = [dict(zip(columns, row(i))) for i in range(start, min(start + 20_000, count))]
                connection.execute(table.insert(), chunk)
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as autocommit:
                autocommit.exec_driver_sql("VACUUM ANALYZE cases")


def sweep_bench(label: str, app, overdue: int) -> None:
    with app.app_context():
        now = utcnow()
        late = sa.and_(Case.status == Status.ACCEPTED, Case.deadline_at <= now)

        def reset(level: HandlingLevel):
            db.session.execute(sa.update(Case).where(late).values(overdue_marked_at=None, owner_level=level)
                               .execution_options(synchronize_session=False))
            db.session.commit()

        raws, markings = [], []
        for _ in range(3):  # interleaved; medians shown
            reset(HandlingLevel.TOWN)
            start = time.perf_counter()
            db.session.execute(sa.update(Case).where(late, Case.overdue_marked_at.is_(None))
                               .values(overdue_marked_at=now).execution_options(synchronize_session=False))
            db.session.commit()
            raws.append(time.perf_counter() - start)

            reset(HandlingLevel.TOWN)
            db.session.execute(sa.delete(CaseEvent).where(CaseEvent.action == "mark_overdue"))
            db.session.commit()
            start = time.perf_counter()
            counts = sweep.sweep(db.session, now=now)
            markings.append(time.perf_counter() - start)
            assert counts["marked"] == overdue, counts
        raw, marking = statistics.median(raws), statistics.median(markings)
        print(f"{label:<11} mark {overdue} overdue red: sweep {marking:6.2f} s   raw UPDATE {raw:6.2f} s   "
              f"ratio {marking / raw:5.1f}×  (goal ≤ 3×)")

        # Escalation: the same cases, now overdue at the village level (which the sweep escalates).
        reset(HandlingLevel.VILLAGE)
        start = time.perf_counter()
        counts = sweep.sweep(db.session, now=now)
        escalating = time.perf_counter() - start
        assert counts["escalated"] == overdue, counts
        print(f"{label:<11} escalate {overdue} overdue with their events: {escalating:6.1f} s  (goal < 60 s)")
        # Put them back for the next run.
        db.session.execute(sa.update(Case).where(Case.reference.like("BN-%"), Case.status == Status.REPORTED)
                           .values(status=Status.ACCEPTED, owner_level=HandlingLevel.TOWN,
                                   deadline_at=now - timedelta(hours=1), overdue_marked_at=None)
                           .execution_options(synchronize_session=False))
        db.session.execute(sa.text("DELETE FROM case_events WHERE case_id IN (SELECT id FROM cases WHERE reference LIKE 'BN-%')"))
        db.session.commit()


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--overdue", type=int, default=10_000)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-sweep", action="store_true")
    args = parser.parse_args()
    for label, app in bench_apps(args.postgres, "cases"):
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        token, micro = prepare(app)
        if not args.skip_throughput:
            throughput(label, url, token, micro, args.requests)
        if not args.skip_sweep:
            bulk_cases(app, args.cases, args.overdue)
            sweep_bench(label, app, args.overdue)
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    main()
