"""What ``bench/cases.py`` serves with gunicorn: gridgov, and beside it under ``/_baseline`` the
smallest Flask app that inserts one row into the same database — the ceiling to compare with."""

import os

import sqlalchemy as sa
from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from gridgov import create_app
from gridgov.db import configure_engine_events

gridgov_app = create_app()
baseline = Flask("baseline")
engine = sa.create_engine(os.environ["GRIDGOV_DATABASE_URL"])
configure_engine_events(engine)
rows = sa.table("bench_rows", sa.column("id", sa.Integer), sa.column("payload", sa.String))


@baseline.post("/insert")
def insert():
    with engine.begin() as connection:
        connection.execute(sa.insert(rows).values(payload="x" * 100))
    return {"ok": True}, 201


app = DispatcherMiddleware(gridgov_app, {"/_baseline": baseline})
