"""Health checks (/healthz, /readyz), and what every request answers while the database cannot
be reached: 503 with Retry-After, not 500 — and, on PostgreSQL, no failed request at all after
the server dropped the connections a worker kept."""

import os
import time

import pytest
import sqlalchemy as sa

from gridgov import create_app, errors
from gridgov.auth.guard import SESSION_KEY
from gridgov.db import db
from gridgov.errors import RETRY_SECONDS
from tests.conftest import TEST_SETTINGS, IsolatedClient, never_answering

TOKEN = "gg_" + "x" * 40
REPORT_CODE = "A" * 22  # the form of a real code: the page looks it up


@pytest.fixture(params=["sqlite", "postgresql"])
def out_of_reach(request, tmp_path):
    """An app whose database cannot be reached: an SQLite file in a folder that is not there, or
    a PostgreSQL port nothing listens on (the app is built and served all the same). Its public
    endpoints take two requests a minute from an address."""
    url = {"sqlite": f"sqlite:///{tmp_path / 'missing' / 'gridgov.db'}",
           "postgresql": "postgresql+psycopg://postgres@127.0.0.1:9/gridgov"}[request.param]
    app = create_app({**TEST_SETTINGS, "DATABASE_URL": url, "INSTANCE_PATH": str(tmp_path / "instance"),
                      "RATELIMIT_ENABLED": True, "RATELIMIT_PUBLIC": "2 per minute"})
    app.testing = False  # the deployed handlers
    app.test_client_class = IsolatedClient
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("operators", [None, "1"])
def test_a_database_server_that_never_answers_is_out_of_reach_within_seconds(tmp_path, monkeypatch, operators):
    """A server that takes the connection and never answers (a hung host, a half-open firewall).
    Before, a request waited for ever, to be killed by gunicorn's timeout as its HTML 500. An
    operator's own PGCONNECT_TIMEOUT (libpq's) is kept."""
    if operators:
        monkeypatch.setenv("PGCONNECT_TIMEOUT", operators)
    with never_answering() as port:
        app = create_app({**TEST_SETTINGS, "INSTANCE_PATH": str(tmp_path / "instance"),
                          "DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{port}/gridgov"})
        app.testing = False
        started = time.monotonic()
        ready = app.test_client().get("/readyz")
        waited = time.monotonic() - started
        assert waited < 20 if operators is None else waited < 4.5
    assert ready.status_code == 503 and "cannot be reached" in ready.get_json()["detail"]
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("credentials", ["none", "token", "cookie"])
def test_liveness_answers_without_asking_the_database(out_of_reach, credentials):
    """Whatever the probe carries: a token (a monitor's global header, a proxy's) or a signed-in
    cookie is not looked up. Before, either answered 503 and got a healthy worker restarted."""
    client = out_of_reach.test_client()
    if credentials == "cookie":
        with client.session_transaction() as session:
            session[SESSION_KEY] = {"id": 1, "generation": 0}
    headers = {"Authorization": f"Bearer {TOKEN}"} if credentials == "token" else {}
    response = client.get("/healthz", headers=headers)

    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_a_database_out_of_reach_answers_503_with_retry_after(out_of_reach):
    """Before, every request that needed the database answered 500, as if the service were broken."""
    client = out_of_reach.test_client()
    ready = client.get("/readyz")
    api = client.get("/api/v1/me", headers={"Authorization": f"Bearer {TOKEN}"})
    page = client.get(f"/r/{REPORT_CODE}", headers={"Accept": "text/html"})

    for response in (ready, api):
        assert response.status_code == 503 and response.mimetype == "application/problem+json"
        assert "cannot be reached" in response.get_json()["detail"]
        assert response.headers["Retry-After"] == str(RETRY_SECONDS)
    assert page.status_code == 503 and "系统繁忙" in page.get_data(as_text=True)
    # A page that was only being looked at: nothing filled in to lose (before, it said so).
    assert "请稍候片刻再试" in page.get_data(as_text=True) and "没有保存" not in page.get_data(as_text=True)
    # A public page is rate-limited: the limiter's window (a minute) does not replace the few seconds.
    assert page.headers["Retry-After"] == str(RETRY_SECONDS)


def test_a_form_whose_connection_was_lost_says_it_may_have_been_saved(app):
    """The server went away as a resident's report was being filed: perhaps it was committed. The
    page says so, and that sending the same form again files nothing twice (the API's detail says
    the same of an Idempotency-Key); before, it said nothing had been saved."""
    lost = sa.exc.OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"),
                                   connection_invalidated=True)
    with app.test_request_context(f"/r/{REPORT_CODE}", method="POST", headers={"Accept": "text/html"}):
        page = errors.handle_database_conflict(lost)
    with app.test_request_context("/api/v1/cases", method="POST"):
        api = errors.handle_database_conflict(lost)

    assert page.status_code == api.status_code == 503
    assert "可能已经保存" in page.get_data(as_text=True) and "没有保存" not in page.get_data(as_text=True)
    assert "may or may not have been made" in api.get_json()["detail"]


def test_ready_when_the_schema_is_this_codes(anonymous):
    response = anonymous.get("/readyz")

    assert response.status_code == 200 and response.get_json() == {"status": "ready"}
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("revision, says", [
    ("0011_report_provisional", "older than this code"),
    ("0099_from_the_future", "newer than this code's"),
])
def test_not_ready_while_the_schema_is_another_revision(rollback, anonymous, revision, says):
    """An upgrade not yet run (or code rolled back under a newer schema) keeps the worker out of
    the load balancer, saying which revision the database is at."""
    rollback.execute(sa.text("UPDATE alembic_version SET version_num = :revision"), {"revision": revision})

    response = anonymous.get("/readyz")

    assert response.status_code == 503 and response.mimetype == "application/problem+json"
    detail = response.get_json()["detail"]
    assert says in detail and revision in detail


def test_a_database_user_without_rights_answers_503_saying_so(app, dialect, tmp_path):
    """GRIDGOV_DATABASE_URL names a user not granted the service's tables. Before, /readyz and
    every request answered a bare 500 (a resident's phone a JSON document), and every command a
    traceback."""
    if dialect != "postgresql":
        pytest.skip("SQLite has no users")
    role = f"gridgov_no_rights_{os.getpid()}"
    with app.app_context():
        url = db.engine.url
        with db.engine.connect() as connection:
            connection.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
            connection.commit()
    served = create_app({**TEST_SETTINGS, "INSTANCE_PATH": str(tmp_path / "instance"),
                         "DATABASE_URL": url.set(username=role, password=None).render_as_string(hide_password=False)})
    served.testing = False
    try:
        client = served.test_client()
        ready = client.get("/readyz")
        page = client.get(f"/r/{REPORT_CODE}", headers={"Accept": "text/html"})
        command = served.test_cli_runner().invoke(args=["cases", "sweep", "--quiet"])
    finally:
        with served.app_context():
            db.engine.dispose()
        with app.app_context(), db.engine.connect() as connection:
            connection.execute(sa.text(f'DROP ROLE "{role}"'))
            connection.commit()
    assert ready.status_code == 503 and "permission denied" in ready.get_json()["detail"]
    assert page.status_code == 503 and "系统故障" in page.get_data(as_text=True)
    assert command.exit_code == 1 and "permission denied" in command.output
    assert "Traceback" not in command.output


def test_a_connection_the_server_dropped_fails_no_request(app, dialect, tmp_path):
    """PostgreSQL restarted (or a firewall closed an idle connection): before, each worker
    answered 500 once for every connection it had kept in its pool."""
    if dialect != "postgresql":
        pytest.skip("SQLite's connections are files: nothing drops them")
    with app.app_context():
        url = db.engine.url
    served = create_app({**TEST_SETTINGS, "DATABASE_URL": url.render_as_string(hide_password=False),
                         "INSTANCE_PATH": str(tmp_path / "instance")})
    served.testing = False
    served.test_client_class = IsolatedClient
    try:
        client = served.test_client()
        with served.app_context():
            kept = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
            db.session.remove()  # back into the pool, as at the end of a request
        with app.app_context():
            assert db.session.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": kept})
            db.session.rollback()

        answers = [client.get("/readyz").status_code for _ in range(3)]

        assert answers == [200, 200, 200]
    finally:
        with served.app_context():
            db.engine.dispose()


def test_probes_are_not_rate_limited_and_a_failed_readiness_is_not_cached(out_of_reach):
    """A probe refused with 429 reads as a dead worker; a 503 kept by a cache outlives the outage."""
    client = out_of_reach.test_client()

    assert [client.get("/healthz").status_code for _ in range(5)] == [200] * 5
    assert [client.get("/login").status_code for _ in range(3)] == [200, 200, 429]  # the limit holds elsewhere
    ready = [client.get("/readyz") for _ in range(5)]
    assert [response.status_code for response in ready] == [503] * 5
    assert all(response.headers["Cache-Control"] == "no-store" for response in ready)
