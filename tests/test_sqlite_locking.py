"""SQLite takes its write lock at a transaction's first write, not at its first read
(``gridgov.db.configure_engine_events``): a request that only reads never waits for a writer."""

import sqlite3
from datetime import timedelta

import pytest
import sqlalchemy as sa

from gridgov.auth import service as auth_service
from gridgov.auth.models import Principal
from gridgov.auth.permissions import Role
from gridgov.db import db
from gridgov.errors import Unauthenticated
from gridgov.tree import transfer
from gridgov.tree.models import Unit
from tests.conftest import SMALL_TREE_CSV, fresh_app


@pytest.fixture
def app(tmp_path):
    app = fresh_app(tmp_path)
    with app.app_context():
        transfer.import_csv(db.session, data=SMALL_TREE_CSV.encode())
        principal = auth_service.create_principal(db.session, username="reader", display_name="读者",
                                                  role=Role.DISTRICT_COMMAND, scope_unit_id=None)
        _token, app.token = auth_service.issue_token(db.session, principal=principal, name="t",
                                                     expires_in=timedelta(days=1))
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def other_writer(app):
    """A second connection to the same file, as another gunicorn worker would hold it."""
    with app.app_context():
        path = db.engine.url.database
    connection = sqlite3.connect(path, timeout=0, isolation_level=None)
    yield connection
    connection.close()


def test_a_reader_does_not_wait_for_a_writer_and_does_not_see_its_uncommitted_rows(app, other_writer):
    other_writer.execute("BEGIN IMMEDIATE")
    other_writer.execute("UPDATE units SET name = '改名中' WHERE code = '510503'")

    response = app.test_client().get("/api/v1/units?level=district", headers={"Authorization": f"Bearer {app.token}"})

    assert response.status_code == 200, response.json
    assert [unit["name"] for unit in response.json["items"]] == ["纳溪区"]
    other_writer.execute("ROLLBACK")


def test_a_writer_takes_the_lock_at_its_first_write_and_holds_it_to_the_end(app, other_writer):
    with app.app_context():
        db.session.scalar(sa.select(Unit).where(Unit.code == "510503"))
        other_writer.execute("BEGIN IMMEDIATE")  # a read took no lock
        other_writer.execute("ROLLBACK")

        db.session.execute(sa.update(Unit).where(Unit.code == "510503").values(households=1))
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other_writer.execute("BEGIN IMMEDIATE")
        db.session.commit()
        other_writer.execute("BEGIN IMMEDIATE")  # released at the commit
        other_writer.execute("ROLLBACK")


def test_a_locking_read_takes_the_lock(app, other_writer):
    """A read that decides a write (``with_for_update``, a row lock on PostgreSQL) holds the
    write lock from that read on, so that no other writer comes between."""
    with app.app_context():
        db.session.scalar(sa.select(Unit).where(Unit.code == "510503").with_for_update())
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other_writer.execute("BEGIN IMMEDIATE")
        db.session.rollback()
        other_writer.execute("BEGIN IMMEDIATE")
        other_writer.execute("ROLLBACK")


def test_a_write_that_waits_too_long_for_the_lock_answers_503_to_try_again(app, other_writer, monkeypatch):
    """A large import holds the write lock for a while. Before, a request that waited past the
    busy timeout answered 500, a resident's report page an English problem document."""
    from gridgov import db as db_module
    from gridgov.reports import pages as report_pages
    from gridgov.reports import service as report_service
    from gridgov.reports.models import Report

    monkeypatch.setattr(db_module, "SQLITE_BUSY_TIMEOUT_MS", 100)
    with app.app_context():
        db.engine.dispose()  # new connections, with the short timeout
        unit = db.session.scalar(sa.select(Unit).where(Unit.code == "510503001001001001"))
        token = report_service.report_code(db.session, unit=unit).token
        db.session.commit()
    with app.test_request_context():
        form_id = report_pages.new_submission()
    app.testing = False  # the deployed handlers
    other_writer.execute("BEGIN IMMEDIATE")
    try:
        api = app.test_client().post("/api/v1/cases", headers={"Authorization": f"Bearer {app.token}"}, json={
            "title": "邻里纠纷", "category": "family_neighbour", "risk_grade": "blue", "source": "grid_patrol",
            "origin_unit_id": unit.id})
        page = app.test_client().post(f"/r/{token}", headers={"Accept": "text/html"}, data={
            "submission": form_id, "category": "other", "description": "路灯坏了"})
    finally:
        other_writer.execute("ROLLBACK")

    assert api.status_code == 503 and api.mimetype == "application/problem+json"
    assert int(api.headers["Retry-After"]) > 0
    assert page.status_code == 503 and page.mimetype == "text/html" and "系统繁忙" in page.get_data(as_text=True)
    assert "您填写的内容没有保存" in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)) == 0


@pytest.mark.parametrize("password", ["correct horse battery", "a wrong guess"])
def test_a_sign_in_checks_the_password_before_it_takes_the_write_lock(app, other_writer, monkeypatch, password):
    """argon2 takes a tenth of a second on purpose: before, a sign-in held the database's write
    lock all through it (its locking read of the account), and every other writer waited; a
    stream of sign-ins, even as no one, stalled logging for seconds."""
    with app.app_context():
        principal = db.session.scalar(sa.select(Principal).where(Principal.username == "reader"))
        auth_service.set_password(db.session, principal=principal, password="correct horse battery")
        db.session.commit()
        hasher = auth_service.password_hasher()
        writes_while_checking = []

        class Hasher:
            def __getattr__(self, name):
                return getattr(hasher, name)

            def verify(self, hashed, given):
                other_writer.execute("BEGIN IMMEDIATE")  # timeout 0: "database is locked" if it is held
                other_writer.execute("ROLLBACK")
                writes_while_checking.append(True)
                return hasher.verify(hashed, given)

        monkeypatch.setattr(auth_service, "password_hasher", Hasher)
        try:
            signed_in = auth_service.authenticate(db.session, username="reader", password=password)
        except Unauthenticated:
            signed_in = None
        db.session.rollback()
        assert writes_while_checking == [True]
        assert (signed_in is not None) == (password == "correct horse battery")
