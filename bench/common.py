"""What the benchmarks share: databases to build on, and timing that reports medians."""

import argparse
import os
import statistics
import time
from pathlib import Path

import sqlalchemy as sa

from gridgov import create_app

OUT = Path(__file__).resolve().parent / "out"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--postgres", default=os.environ.get("GRIDGOV_BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
                        help="a PostgreSQL URL whose server may create a scratch database; '' to skip")
    parser.add_argument("--repeat", type=int, default=7, help="runs per measurement (median is shown)")
    return parser


def bench_apps(postgres_url: str, name: str):
    """(label, app) for SQLite and, when reachable, PostgreSQL: each on its own bench database."""
    OUT.mkdir(exist_ok=True)
    yield "sqlite", create_app({"DATABASE_URL": f"sqlite:///{OUT / (name + '.db')}", "INSTANCE_PATH": str(OUT)})
    if postgres_url:
        base = sa.make_url(postgres_url)
        engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            exists = connection.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = %s", (f"gridgov_{name}",)
            ).first()
            if not exists:
                connection.exec_driver_sql(f'CREATE DATABASE "gridgov_{name}"')
        engine.dispose()
        url = base.set(database=f"gridgov_{name}").render_as_string(hide_password=False)
        yield "postgresql", create_app({"DATABASE_URL": url, "INSTANCE_PATH": str(OUT)})


def median_seconds(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.2f} ms"
