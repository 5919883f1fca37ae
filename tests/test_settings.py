"""Settings that make no sense stop the start; those that do are honoured."""

import os
import subprocess
import sys
from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa

from gridgov import create_app, errors
from gridgov.auth import service as auth_service
from gridgov.auth.permissions import Role
from gridgov.db import db
from gridgov.reports import pages as report_pages
from gridgov.reports import service as report_service
from gridgov.tree import service as tree_service
from gridgov.tree import transfer
from tests.conftest import SMALL_TREE_CSV

ROOT = Path(__file__).resolve().parents[1]


def _settings(tmp_path, **overrides) -> dict:
    return {"DATABASE_URL": f"sqlite:///{tmp_path / 'settings.db'}", "INSTANCE_PATH": str(tmp_path),
            "RATELIMIT_ENABLED": False, "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8, **overrides}


@pytest.mark.parametrize("size", [0, 501, "50", True, 2.5])
def test_a_default_page_size_outside_1_to_500_stops_the_start(tmp_path, size):
    with pytest.raises(ValueError, match="GRIDGOV_PAGE_SIZE_DEFAULT"):
        create_app(_settings(tmp_path, PAGE_SIZE_DEFAULT=size))


@pytest.mark.parametrize("name, value", [
    ("RATELIMIT_PUBLIC", "banana"), ("RATELIMIT_REPORT", "5 per minute;lots"), ("RATELIMIT_OPEN311_POST", ""),
    ("SIGN_IN_TOKEN_HOURS", -1), ("SIGN_IN_TOKEN_HOURS", 0), ("LOCKOUT_THRESHOLD", 0), ("LOCKOUT_MINUTES", "15"),
    ("PROXY_FIX", -1),
    # Before, these started and then refused (413) or broke (500) every request with a body, put
    # a bare host on every printed QR code, or signed cookies with one space.
    ("MAX_CONTENT_LENGTH", -1), ("MAX_CONTENT_LENGTH", 0), ("MAX_CONTENT_LENGTH", 1.5), ("MAX_CONTENT_LENGTH", "16MB"),
    ("PUBLIC_URL", "gridgov.naxi.gov.cn"), ("PUBLIC_URL", "ftp://gridgov.naxi.gov.cn"),
    ("SECRET_KEY", " "), ("SECRET_KEY", "short"),
    # Before, these stopped it with an error of SQLAlchemy's or the limits library's that named
    # no setting.
    ("DATABASE_URL", "foo://x"), ("DATABASE_URL", "not a url"), ("RATELIMIT_STORAGE_URL", "foo://bar"),
    # Before, two districts given one prefix started, and then every case of the second was
    # refused (409) for a reference the first had taken; a prefix of digits could be a district's code.
    ("CASE_REFERENCE_PREFIXES", {"510503": "NX", "510502": "NX"}), ("CASE_REFERENCE_PREFIXES", {"510502": "510503"}),
    ("CASE_REFERENCE_PREFIXES", {"510503": "N-X"}), ("CASE_REFERENCE_PREFIXES", ["NX"]),
    ("CASE_REFERENCE_PREFIXES", {"510503": "nx"}),  # found by a review: looked up in capitals, never found
    ("REPORT_BRAND", " "), ("REPORT_BRAND", "码" * 41),
])
def test_a_setting_that_makes_no_sense_stops_the_start_naming_it(tmp_path, name, value):
    """Before, a bad rate limit answered 500 on every public page, and a negative token life
    handed out tokens already expired."""
    with pytest.raises(ValueError, match=f"GRIDGOV_{name}"):
        create_app(_settings(tmp_path, **{name: value}))


def test_a_relative_instance_path_is_from_where_the_command_runs(tmp_path, monkeypatch):
    """Before, Flask refused it with an error that named no setting."""
    monkeypatch.chdir(tmp_path)
    app = create_app(_settings(tmp_path, INSTANCE_PATH="inst"))
    assert app.instance_path == str(tmp_path / "inst")


def test_the_default_page_size_is_what_a_list_without_limit_gives(tmp_path):
    app = create_app(_settings(tmp_path, PAGE_SIZE_DEFAULT=2))
    with app.app_context():
        flask_migrate.upgrade()
        transfer.import_csv(db.session, data="code,name,level,parent_code\n510502,江阳区,district,\n"
                                             "510503,纳溪区,district,\n510504,龙马潭区,district,\n".encode())
        principal = auth_service.create_principal(db.session, username="settings.admin", display_name="管理员",
                                                  role=Role.ADMIN, scope_unit_id=None)
        _token, text = auth_service.issue_token(db.session, principal=principal, name="t", expires_in=None)
        db.session.commit()
    headers = {"Authorization": f"Bearer {text}"}
    first = app.test_client().get("/api/v1/units", headers=headers).get_json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    assert len(app.test_client().get("/api/v1/units?limit=3", headers=headers).get_json()["items"]) == 3


def test_a_database_without_the_schema_says_what_to_run(tmp_path):
    """Before, the API answered 500 and every command printed a traceback."""
    app = create_app(_settings(tmp_path))  # never upgraded
    app.testing = False  # the deployed handlers, not the test client's exceptions
    response = app.test_client().post("/api/v1/auth/token", json={"username": "naxi.admin", "password": "x" * 8})
    assert response.status_code == 503 and response.mimetype == "application/problem+json"
    assert "db upgrade" in response.get_json()["detail"]
    for args in (["principals", "list"], ["cases", "sweep"], ["seed", "naxi", "--cases", "5"]):
        result = app.test_cli_runner().invoke(args=args)
        assert result.exit_code != 0, args
        assert "db upgrade" in result.output and "Traceback" not in result.output, (args, result.output)


def test_a_command_on_a_database_out_of_reach_or_busy_says_so_in_one_line(tmp_path, monkeypatch):
    """Found by a command-line audit: cron mailed a hundred lines of traceback when a sweep met an
    import holding SQLite's lock, and any command did for a database it could not open."""
    import sqlite3

    from gridgov import db as db_module

    nowhere = create_app(_settings(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"))
    result = nowhere.test_cli_runner().invoke(args=["principals", "list"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith("Error: The database cannot be reached (unable to open database file)")

    app = create_app(_settings(tmp_path))
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()
    monkeypatch.setattr(db_module, "SQLITE_BUSY_TIMEOUT_MS", 50)
    writer = sqlite3.connect(tmp_path / "settings.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another writer: a large import, say
    try:
        result = app.test_cli_runner().invoke(args=["principals", "create", "ops.li", "--role", "admin",
                                                    "--scope", "*"])
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith("Error: The database stayed busy with another writer"), result.output
    assert app.test_cli_runner().invoke(args=["principals", "list"]).output.count("ops.li") == 0


def test_a_command_on_a_database_behind_the_code_says_what_to_run_and_writes_nothing(tmp_path):
    """Before, `seed naxi` wrote the 3,658 units and then stopped on the first newer table, and
    other commands ran on the older schema as if nothing were amiss."""
    app = create_app(_settings(tmp_path))
    with app.app_context():
        flask_migrate.upgrade(revision="0011_report_provisional")
    for args in (["seed", "naxi", "--cases", "0"], ["principals", "list"], ["cases", "sweep"]):
        result = app.test_cli_runner().invoke(args=args)
        assert result.exit_code == 1, (args, result.output)
        assert "db upgrade" in result.output and "0011_report_provisional" in result.output, result.output
        assert "Traceback" not in result.output
    with app.app_context():
        assert db.session.scalar(sa.text("SELECT count(*) FROM units")) == 0
        flask_migrate.upgrade()
    assert app.test_cli_runner().invoke(args=["principals", "list"]).exit_code == 0

    # Newer code upgraded it, and this code is older: upgrading is no help.
    with app.app_context():
        db.session.execute(sa.text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["principals", "list"])
    assert result.exit_code == 1 and "newer than this code" in result.output and "db upgrade" not in result.output


def test_code_ahead_of_its_database_says_what_to_run_and_logs_no_personal_data(tmp_path, capfd):
    """A deploy whose `db upgrade` has not run yet: before, an INSERT into a table an older
    revision made answered 500, and the log held the reporter's name and phone."""
    app = create_app(_settings(tmp_path, WTF_CSRF_ENABLED=False))
    with app.app_context():
        flask_migrate.upgrade(revision="0010_username_lower")  # reports without triage_due_provisional
        transfer.import_csv(db.session, data=SMALL_TREE_CSV.encode())
        unit = tree_service.get_unit_by_code(db.session, code="510503001001001001")
        token = report_service.report_code(db.session, unit=unit).token
        db.session.commit()
    app.testing = False  # the deployed handlers, not the test client's exceptions

    with app.test_request_context():
        form_id = report_pages.new_submission()
    response = app.test_client().post(f"/r/{token}", data={
        "submission": form_id, "category": "family_neighbour", "description": "楼上漏水", "reporter_name": "王小红",
        "phone": "13911112222"})

    assert response.status_code == 503
    assert "db upgrade" in response.get_data(as_text=True)
    logged = capfd.readouterr().err
    assert "triage_due_provisional" in logged
    assert "13911112222" not in logged and "王小红" not in logged and "楼上漏水" not in logged


def test_a_database_errors_message_leaves_out_the_statements_values(tmp_path):
    """What the 500 handler logs of an unexpected database error: the statement, not the
    residents' data it carried."""
    app = create_app(_settings(tmp_path))
    with app.app_context(), pytest.raises(sa.exc.DBAPIError) as failed:
        db.session.execute(sa.text("INSERT INTO nowhere (phone) VALUES (:phone)"), {"phone": "13911112222"})
    assert "nowhere" in str(failed.value) and "13911112222" not in str(failed.value)


def test_an_insert_naming_a_column_an_older_revision_lacks_is_a_schema_behind_the_code(tmp_path):
    """SQLite says so in its own words ("table units has no column named …"): 503 and the
    hint to run db upgrade, not a 500."""
    app = create_app(_settings(tmp_path))
    with app.app_context():
        flask_migrate.upgrade()
        with pytest.raises(sa.exc.DBAPIError) as failed:
            db.session.execute(sa.text("INSERT INTO units (added_later) VALUES (1)"))
    assert "has no column named" in str(failed.value.orig)
    assert errors.schema_missing(failed.value)


def test_the_instance_folder_and_the_attachments_are_for_the_services_own_user(tmp_path):
    """Before, instance/ (the SQLite file with residents' names and phones) and the attachments
    were created readable by every local account."""
    from gridgov.cases import attachments

    instance = tmp_path / "fresh-instance"
    app = create_app({**_settings(tmp_path), "INSTANCE_PATH": str(instance),
                      "DATABASE_URL": f"sqlite:///{instance / 'gridgov.db'}"})
    with app.app_context():
        photos = attachments.directory()
        attachments._store(photos, "photo.png", b"\x89PNG")  # the folder is made with its first file
    assert instance.stat().st_mode & 0o077 == 0
    assert photos.stat().st_mode & 0o077 == 0


def test_a_setting_given_empty_in_the_environment_is_unset(tmp_path, monkeypatch):
    """Compose and systemd files often hold `GRIDGOV_SECRET_KEY=`: it means none, not a key of no
    characters (which now stops the start)."""
    from gridgov import config

    monkeypatch.setenv("GRIDGOV_SECRET_KEY", "")
    monkeypatch.setenv("GRIDGOV_PUBLIC_URL", "")
    assert "SECRET_KEY" not in config.from_environment() and "PUBLIC_URL" not in config.from_environment()
    app = create_app(_settings(tmp_path))
    assert app.config["PUBLIC_URL"] is None and len(app.config["SECRET_KEY"]) >= 16  # generated


def test_an_instance_folder_that_cannot_be_written_names_the_settings_that_mend_it(tmp_path):
    """Before: a FileNotFoundError or "Read-only file system" traceback, naming no setting."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="GRIDGOV_INSTANCE_PATH"):
        create_app({**_settings(tmp_path), "DATABASE_URL": None, "INSTANCE_PATH": str(blocker / "instance")})
    with pytest.raises(ValueError, match="GRIDGOV_SECRET_KEY is not set, and no key can be kept"):
        create_app({**_settings(tmp_path), "INSTANCE_PATH": str(blocker / "instance")})


def test_a_database_driver_not_installed_stops_the_start_naming_the_setting(tmp_path):
    """psycopg 3 is the driver installed; a psycopg2 URL failed later, as ModuleNotFoundError."""
    with pytest.raises(ValueError, match="GRIDGOV_DATABASE_URL names a driver that is not installed"):
        create_app(_settings(tmp_path, DATABASE_URL="postgresql+psycopg2://gridgov@127.0.0.1/gridgov"))


def test_gunicorn_is_told_a_bad_setting_in_one_line_and_stops(tmp_path):
    """Before, each worker printed a 40-line traceback and the master started workers again."""
    env = {**os.environ, "GRIDGOV_INSTANCE_PATH": str(tmp_path), "GRIDGOV_PAGE_SIZE_DEFAULT": "0",
           "GRIDGOV_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 3  # gunicorn's "worker failed to boot": the master stops
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "GRIDGOV_PAGE_SIZE_DEFAULT" in result.stderr and "Traceback" not in result.stderr
