"""The app's secret key (``gridgov.auth.keys``) and the personal-data helpers (``gridgov.auth.pii``)."""

import multiprocessing
import re
import stat
import threading
import time

import flask_migrate
import pytest
from flask import Flask

from gridgov import create_app
from gridgov.auth import keys, pii
from gridgov.auth import service as auth_service
from gridgov.auth.keys import SECRET_FILE, load_or_create
from gridgov.auth.permissions import Role
from gridgov.db import db

PASSWORD = "correct horse battery"
CHEAP_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8, "ARGON2_PARALLELISM": 1}
CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


# --- keys.load_or_create ------------------------------------------------------------------------


def test_the_key_is_created_once_in_a_file_only_its_owner_can_read(tmp_path):
    instance = tmp_path / "instance"  # not there yet

    key = load_or_create(str(instance))

    path = instance / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == key
    assert len(key) >= 32
    assert load_or_create(str(instance)) == key
    assert path.read_text().strip() == key


def test_another_instance_folder_gets_another_key(tmp_path):
    assert load_or_create(str(tmp_path / "a")) != load_or_create(str(tmp_path / "b"))


def test_threads_racing_on_an_empty_folder_all_get_the_same_key(tmp_path):
    for round_ in range(20):
        instance = tmp_path / str(round_)
        start = threading.Barrier(12)
        found = []

        def load():
            start.wait()
            found.append(load_or_create(str(instance)))

        threads = [threading.Thread(target=load) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert len(found) == 12
        assert set(found) == {(instance / SECRET_FILE).read_text().strip()}


def _race(instance: str, start, results) -> None:
    start.wait()
    results.put(load_or_create(instance))


def test_processes_racing_on_an_empty_folder_all_get_the_same_key(tmp_path):
    """As gunicorn workers, forked together, would."""
    context = multiprocessing.get_context("fork")
    start = context.Barrier(6)
    results = context.Queue()
    processes = [context.Process(target=_race, args=(str(tmp_path), start, results)) for _ in range(6)]
    for process in processes:
        process.start()
    found = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)

    assert all(process.exitcode == 0 for process in processes)
    assert set(found) == {(tmp_path / SECRET_FILE).read_text().strip()}


def test_a_reader_waits_for_a_key_file_another_process_is_still_writing(tmp_path):
    path = tmp_path / SECRET_FILE
    path.touch(mode=0o600)  # created, not yet written

    def write_later():
        time.sleep(0.2)
        path.write_text("written-by-the-other-process")

    writer = threading.Thread(target=write_later)
    writer.start()
    key = load_or_create(str(tmp_path))
    writer.join()

    assert key == "written-by-the-other-process"


def test_a_key_file_that_stays_empty_is_an_error_naming_the_file(tmp_path, monkeypatch):
    (tmp_path / SECRET_FILE).touch()
    monkeypatch.setattr(keys.time, "sleep", lambda _seconds: None)

    with pytest.raises(RuntimeError, match="secret_key is empty"):
        load_or_create(str(tmp_path))


# --- the key an app uses ------------------------------------------------------------------------


def make_app(instance, **config):
    return create_app({"TESTING": True, "INSTANCE_PATH": str(instance), "DATABASE_URL": "sqlite://", **config})


def test_without_a_configured_key_the_app_keeps_one_in_its_instance_folder(tmp_path):
    app = make_app(tmp_path)

    assert app.secret_key == (tmp_path / SECRET_FILE).read_text().strip()


def test_a_configured_secret_key_wins_and_no_file_is_written(tmp_path):
    app = make_app(tmp_path, SECRET_KEY="configured-secret-key-of-enough-length")

    assert app.secret_key == "configured-secret-key-of-enough-length"
    assert not (tmp_path / SECRET_FILE).exists()


def test_gridgov_secret_key_from_the_environment_wins_over_the_file(tmp_path, monkeypatch):
    load_or_create(str(tmp_path))
    monkeypatch.setenv("GRIDGOV_SECRET_KEY", "from-the-environment-0123456789abcdef")

    app = make_app(tmp_path)

    assert app.secret_key == "from-the-environment-0123456789abcdef"


def test_a_numeric_secret_key_from_the_environment_is_used_as_text(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDGOV_SECRET_KEY", "31415926535897932384626433832795")

    app = make_app(tmp_path)

    assert app.secret_key == "31415926535897932384626433832795"
    assert app.test_client().get("/login").status_code == 200


@pytest.fixture
def shared_instance(tmp_path):
    """Two apps on one instance folder and one database, as two gunicorn workers are; with an
    account ``zhao.liu`` that signs in with ``PASSWORD``."""
    config = {"TESTING": True, "INSTANCE_PATH": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}", **CHEAP_ARGON2}
    first, second = create_app(config), create_app(config)
    with first.app_context():
        flask_migrate.upgrade()
        auth_service.create_principal(
            db.session, username="zhao.liu", display_name="赵六", role=Role.GRID_WORKER, scope_unit_id=None, password=PASSWORD
        )
        db.session.commit()
    yield first, second
    for app in (first, second):
        with app.app_context():
            db.engine.dispose()


def signed_in_cookie(app) -> str:
    browser = app.test_client()
    token = CSRF_FIELD.search(browser.get("/login").get_data(as_text=True)).group(1)
    response = browser.post("/login", data={"csrf_token": token, "username": "zhao.liu", "password": PASSWORD})
    assert response.status_code == 302
    return browser.get_cookie("session").value


def test_two_apps_on_one_instance_folder_accept_each_others_sessions(shared_instance):
    first, second = shared_instance
    assert first.secret_key == second.secret_key

    other_worker = second.test_client()
    other_worker.set_cookie("session", signed_in_cookie(first))

    me = other_worker.get("/api/v1/me")
    assert me.status_code == 200, me.get_data(as_text=True)
    assert me.get_json()["username"] == "zhao.liu"


def test_an_app_with_another_key_refuses_the_session(shared_instance, tmp_path):
    first, _second = shared_instance
    stranger = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "elsewhere"), "DATABASE_URL": first.config["DATABASE_URL"]})
    assert stranger.secret_key != first.secret_key

    browser = stranger.test_client()
    browser.set_cookie("session", signed_in_cookie(first))

    assert browser.get("/api/v1/me").status_code == 401
    with stranger.app_context():
        db.engine.dispose()


# --- pii ----------------------------------------------------------------------------------------


def app_with_key(key: str) -> Flask:
    app = Flask("pii-test")
    app.secret_key = key
    return app


def keyed_hash(key: str, value: str, purpose: str = "id_number") -> str:
    with app_with_key(key).app_context():
        return pii.keyed_hash(value, purpose=purpose)


ID_NUMBER = "51050319900101123X"


def test_a_keyed_hash_is_stable_under_one_key():
    first = keyed_hash("key-one", ID_NUMBER)

    assert first == keyed_hash("key-one", ID_NUMBER)
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert ID_NUMBER not in first and ID_NUMBER.lower() not in first


def test_a_keyed_hash_differs_under_another_key_or_purpose():
    assert keyed_hash("key-one", ID_NUMBER) != keyed_hash("key-two", ID_NUMBER)
    assert keyed_hash("key-one", ID_NUMBER, "id_number") != keyed_hash("key-one", ID_NUMBER, "phone")


def test_a_keyed_hash_ignores_case_and_surrounding_space():
    assert keyed_hash("key-one", " 51050319900101123x\n") == keyed_hash("key-one", ID_NUMBER)


def test_a_keyed_hash_tells_different_values_apart():
    assert keyed_hash("key-one", ID_NUMBER) != keyed_hash("key-one", "510503199001011230")


def test_last_four():
    assert pii.last_four(" 51050319900101123X ") == "123X"
    assert pii.last_four("51050319900101123x") == "123X"  # as the hash reads it


@pytest.mark.parametrize(
    "phone, masked",
    [
        ("13812345678", "138****5678"),
        (" 13812345678 ", "138****5678"),
        ("08304123456", "083****3456"),
        ("4123456", "***3456"),
        ("12345", "*****"),  # before, "*2345"
        ("1234", "****"),
        ("", ""),
        (None, None),
    ],
)
def test_mask_phone(phone, masked):
    assert pii.mask_phone(phone) == masked


def test_a_masked_phone_never_shows_the_middle_digits():
    assert "1234" not in pii.mask_phone("13812345678")


@pytest.mark.parametrize(
    "name, masked",
    [("张三", "张*"), ("王小明", "王**"), ("欧阳娜娜", "欧***"), ("李", "李"), ("", ""), (None, None)],
)
def test_mask_name_keeps_the_first_character_only(name, masked):
    assert pii.mask_name(name) == masked
