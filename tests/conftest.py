"""The app per database, built once per session; every test rolled back.

SQLite always; PostgreSQL too when ``GRIDGOV_TEST_POSTGRES_URL`` is set. A test that needs a
service the machine lacks skips with the reason, or fails when ``GRIDGOV_TEST_STRICT=1``
(what CI sets: there, a skipped PostgreSQL test is a failure).
"""

import contextlib
import contextvars
import os
import socket
import threading

import flask_migrate
import pytest
import sqlalchemy as sa
from flask_sqlalchemy.session import _app_ctx_id
import sqlalchemy.orm
from sqlalchemy.orm import scoped_session, sessionmaker

from flask.testing import FlaskClient
from werkzeug.serving import make_server

from gridgov import create_app
from gridgov.db import SESSION_OPTIONS, db


class IsolatedClient(FlaskClient):
    """Each request in a context of its own, as under a real server.

    Flask reuses an application context that is already pushed (the ``session`` fixture
    pushes one); requests would then share the test's database session and ``g`` — the
    principal and scope of one request leaking into the next, or into the test's own calls.
    """

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)  # a streamed body is read inside that context too
        return contextvars.Context().run(super().open, *args, **kwargs)

POSTGRES_URL = os.environ.get("GRIDGOV_TEST_POSTGRES_URL") or None
REDIS_URL = os.environ.get("GRIDGOV_TEST_REDIS_URL") or None
STRICT = os.environ.get("GRIDGOV_TEST_STRICT") == "1"


def fresh_app(folder, **settings):
    """An app of its own on a new SQLite file in ``folder``, migrated: for tests whose data must
    really be committed (a live server, the seed, other settings). Dispose of its engine after."""
    app = create_app({**TEST_SETTINGS, "DATABASE_URL": f"sqlite:///{folder / 'gridgov.db'}",
                      "INSTANCE_PATH": str(folder / "instance"), **settings})
    app.test_client_class = IsolatedClient
    with app.app_context():
        flask_migrate.upgrade()
    return app


@contextlib.contextmanager
def never_answering():
    """A local port whose connections complete and are never read or answered: a hung server, a
    paused Redis, a half-open firewall. Yields the port."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)
        yield hung.getsockname()[1]


@contextlib.contextmanager
def served(app):
    """``app`` over HTTP on a free local port, in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def every_page(client, url: str, **query) -> list[dict]:
    """Every item a cursor-paginated list answers, following ``next_cursor`` to the end; each
    page holds at most ``limit`` items when one is given."""
    items, cursor = [], None
    for _page in range(1000):
        response = client.get(url, query_string={**query, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        assert "limit" not in query or len(body["items"]) <= int(query["limit"])
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError(f"{url}: the cursor never ends")


def full_width(text: str) -> str:
    """``text`` as a Chinese input method in full-width mode types it (ASCII letters, digits and
    signs as their full-width forms: ５１０５０３, ＮＸ－２０２６)."""
    return "".join(chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char for char in text)


def cursor_at(client, url: str, key, **query) -> str:
    """A cursor the service issued for ``url`` and ``query`` (its first page's, at ``limit=1``),
    made to carry ``key`` instead: what a client that edits its cursor would send."""
    import base64
    import json

    cursor = client.get(url, query_string={**query, "limit": 1}).get_json()["next_cursor"]
    assert cursor, f"{url} has a second page to take a cursor from"
    tag, _key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    return base64.urlsafe_b64encode(json.dumps([tag, key]).encode()).decode().rstrip("=")


def delete_district(session, *, district_id: int, path: str) -> None:
    """Delete a committed test district and everything made in it (reports, cases and what hangs
    off them, the roster and its assignments, principals and their tokens, audit events; the
    counters go with their units), and commit: for fixtures whose tests really commit."""
    import sqlalchemy as sa

    from gridgov.auth.models import AdminEvent, ApiToken, Principal
    from gridgov.cases.models import Attachment, Case, CaseEvent, CaseSequence, IdempotencyRecord, MediationAttempt, Party
    from gridgov.people.models import Assignment, Worker
    from gridgov.reports.models import Report
    from gridgov.tree.models import Unit, in_subtree

    session.execute(sa.delete(Report).where(Report.district_id == district_id))
    case_ids = sa.select(Case.id).where(Case.district_id == district_id).scalar_subquery()
    for model in (CaseEvent, MediationAttempt, Party, Attachment, IdempotencyRecord):
        session.execute(sa.delete(model).where(model.case_id.in_(case_ids)))
    session.execute(sa.delete(Case).where(Case.district_id == district_id))
    session.execute(sa.delete(CaseSequence).where(CaseSequence.district_id == district_id))
    session.execute(sa.delete(Assignment).where(Assignment.district_id == district_id))
    session.execute(sa.delete(Worker).where(Worker.district_id == district_id))
    principal_ids = sa.select(Principal.id).where(in_subtree(Principal.scope_path, path)).scalar_subquery()
    session.execute(sa.delete(ApiToken).where(ApiToken.principal_id.in_(principal_ids)))
    session.execute(sa.delete(Principal).where(in_subtree(Principal.scope_path, path)))
    session.execute(sa.delete(AdminEvent).where(in_subtree(AdminEvent.path, path)))
    for depth in range(4, -1, -1):  # the counters' rows go with their units (ON DELETE CASCADE)
        session.execute(sa.delete(Unit).where(in_subtree(Unit.path, path), Unit.depth == depth))
    session.commit()


def statements_during(app, action) -> int:
    """How many SQL statements ``action()`` sends: for tests that a list costs the same few
    queries however long it is."""
    seen = []
    with app.app_context():
        engine = db.engine
    listener = lambda *args: seen.append(args[2])  # noqa: E731 — the statement
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        action()
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    return len(seen)


def need(condition: bool, reason: str) -> None:
    """Skip (or, under GRIDGOV_TEST_STRICT=1, fail) unless ``condition`` holds."""
    if condition:
        return
    if STRICT:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


# --- a real browser ------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
BROWSER_WAIT_SECONDS = 20


def need_chromium() -> None:
    need(os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER),
         "Chromium: /usr/bin/chromium and /usr/bin/chromedriver are needed (Debian packages chromium, chromium-driver)")


@contextlib.contextmanager
def chromium(*, window_size: str = "1400,1800", cookies: bool = True, console: bool = False, phone: bool = False):
    """Debian's Chromium, headless, through Selenium, with a profile of its own (deleted after);
    ``cookies=False`` blocks them as a browser can; ``console`` keeps the console's log; ``phone``
    makes it a phone's screen, 360 × 740 (a headless window is never narrower than 500 px)."""
    import shutil
    import tempfile

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     f"--window-size={window_size}", f"--user-data-dir={profile}"):
        options.add_argument(argument)
    if phone:
        metrics = {"width": 360, "height": 740, "pixelRatio": 2}
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
    if not cookies:
        options.add_experimental_option("prefs", {"profile.default_content_setting_values.cookies": 2})
    if console:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(BROWSER_WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def pytest_report_header(config):
    if POSTGRES_URL:
        return f"gridgov databases: SQLite and PostgreSQL ({sa.make_url(POSTGRES_URL).render_as_string()})"
    return "gridgov databases: SQLite only (set GRIDGOV_TEST_POSTGRES_URL to run on PostgreSQL too)"


def pytest_terminal_summary(terminalreporter):
    if not POSTGRES_URL:
        terminalreporter.write_line(
            "NOTE: ran on SQLite only; PostgreSQL tests were skipped (GRIDGOV_TEST_POSTGRES_URL not set)."
        )


def scratch_postgres_database(url: str, suffix: str) -> str:
    """A new, empty database beside the one ``url`` names, so that test runs (a developer's and
    CI's, or two helpers') never share tables. Returns its URL; drop it with ``drop_database``."""
    base = sa.make_url(url)
    name = f"{base.database}_{suffix}_{os.getpid()}"
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    target = sa.make_url(url)
    engine = sa.create_engine(target.set(database=sa.make_url(POSTGRES_URL).database), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
    engine.dispose()


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(request, tmp_path_factory):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'gridgov.db'}"
        return
    need(POSTGRES_URL is not None, "PostgreSQL: GRIDGOV_TEST_POSTGRES_URL is not set")
    try:
        url = scratch_postgres_database(POSTGRES_URL, "gridgov")
    except sa.exc.OperationalError as error:
        need(False, f"PostgreSQL at {POSTGRES_URL} is unreachable: {error.orig}")
    yield url
    drop_database(url)


# The settings of every app the tests build.
TEST_SETTINGS = {
    "TESTING": True,
    # argon2 at its cheapest: the tests sign in often; production keeps the defaults.
    "ARGON2_TIME_COST": 1,
    "ARGON2_MEMORY_COST": 8,
    "ARGON2_PARALLELISM": 1,
    # One client makes thousands of requests here; the limits have tests of their own.
    "RATELIMIT_ENABLED": False,
}


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    app = create_app({**TEST_SETTINGS, "DATABASE_URL": database_url,
                      "INSTANCE_PATH": str(tmp_path_factory.mktemp("instance"))})
    app.test_client_class = IsolatedClient
    with app.app_context():
        flask_migrate.upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def dialect(app) -> str:
    with app.app_context():
        return db.engine.dialect.name


@pytest.fixture
def rollback(app):
    """Run the test inside one outer transaction that is rolled back at the end.

    Every request (each in its own app context, as in production) gets its own session, joined
    to that transaction through a SAVEPOINT, so the code's own commits and rollbacks behave
    as they would for real, and nothing outlives the test.
    """
    with app.app_context():
        connection = db.engine.connect()
    transaction = connection.begin()
    original = db.session
    db.session = scoped_session(
        sessionmaker(bind=connection, join_transaction_mode="create_savepoint", **SESSION_OPTIONS),
        scopefunc=_app_ctx_id,
    )
    try:
        yield connection
    finally:
        # Each app context removed its own session when it ended; close any left behind.
        sa.orm.close_all_sessions()
        db.session = original
        transaction.rollback()
        connection.close()


@pytest.fixture
def anonymous(app, rollback):
    """A client that has not signed in."""
    return app.test_client()


@pytest.fixture
def make_principal(app, rollback):
    """``make_principal(role, scope_code, password=None)`` → (principal id, bearer token).

    ``scope_code`` None gives a scope over every district."""
    from gridgov.auth import service as auth_service
    from gridgov.auth.permissions import Role
    from gridgov.tree import service as tree_service

    counter = iter(range(1, 10_000))

    def make(role, scope_code=None, *, password=None, username=None):
        with app.app_context():
            scope = tree_service.get_unit_by_code(db.session, code=scope_code) if scope_code else None
            principal = auth_service.create_principal(
                db.session,
                username=username or f"test.{role}.{next(counter)}",
                display_name=f"测试 {role}",
                role=Role(role),
                scope_unit_id=scope.id if scope else None,
                password=password,
            )
            _token, text = auth_service.issue_token(db.session, principal=principal, name="test", expires_in=None)
            db.session.commit()
            return principal.id, text

    return make


def bearer_client(app, token: str):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@pytest.fixture
def client(app, make_principal):
    """A client signed in (by token) as an admin whose scope is every district: for tests of
    what the API does, not of who may do it (tests/auth/ covers that)."""
    _id, token = make_principal("admin")
    return bearer_client(app, token)


@pytest.fixture
def session(app, rollback):
    """A session for calling services directly, inside an app context, rolled back after."""
    with app.app_context():
        yield db.session


@pytest.fixture
def committed(app):
    """For tests that need real commits (several connections at once): the app as it runs,
    without the outer transaction. The test must clean up what it made."""
    with app.app_context():
        yield db.session
        db.session.remove()


@pytest.fixture
def redis_url() -> str:
    """A Redis database for the rate limiter's counters (``GRIDGOV_TEST_REDIS_URL``), emptied
    before the test."""
    need(REDIS_URL is not None, "Redis: GRIDGOV_TEST_REDIS_URL is not set")
    import redis

    server = redis.Redis.from_url(REDIS_URL)
    try:
        server.flushdb()
    except redis.exceptions.ConnectionError as error:
        need(False, f"Redis at {REDIS_URL} is unreachable: {error}")
    yield REDIS_URL
    server.flushdb()
    server.close()


SMALL_TREE_CSV = """code,name,level,parent_code,households,population,latitude,longitude
510503,纳溪区,district,510500,,,28.77,105.37
510503001,安富街道,town,510503,,,28.80,105.36
510503100,大渡口镇,town,510503,,,28.70,105.40
510503001001,永安社区,village,510503001,1200,3000,28.801,105.361
510503001002,新民社区,village,510503001,900,2500,28.802,105.362
510503100201,金龙村,village,510503100,600,1700,28.701,105.401
510503001001001,永安社区第1网格,grid,510503001001,600,1500,28.8011,105.3611
510503001001002,永安社区第2网格,grid,510503001001,600,1500,28.8012,105.3612
510503001002001,新民社区第1网格,grid,510503001002,900,2500,28.8021,105.3621
510503100201001,金龙村第1网格,grid,510503100201,600,1700,28.7011,105.4011
510503001001001001,永安社区第1网格1号微网格,microgrid,510503001001001,60,150,28.80111,105.36111
510503001001001002,永安社区第1网格2号微网格,microgrid,510503001001001,70,160,28.80112,105.36112
510503001001002001,永安社区第2网格1号微网格,microgrid,510503001001002,80,170,28.80121,105.36121
510503001002001001,新民社区第1网格1号微网格,microgrid,510503001002001,90,180,28.80211,105.36211
510503100201001001,金龙村第1网格1号微网格,microgrid,510503100201001,50,140,28.70111,105.40111
"""


@pytest.fixture
def small_tree(session):
    """A district with two towns, three villages, four grids and five micro-grids, by code."""
    from gridgov.tree import service, transfer

    transfer.import_csv(session, data=SMALL_TREE_CSV.encode())
    session.commit()
    codes = [line.split(",")[0] for line in SMALL_TREE_CSV.strip().splitlines()[1:]]
    return {code: service.get_unit_by_code(session, code=code) for code in codes}
