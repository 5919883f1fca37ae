"""Passwords: wrong ones, lock-out, unlocking, resetting, and how they are stored."""

import re
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from gridgov.auth import service
from gridgov.auth.models import AdminEvent, Principal
from gridgov.auth.permissions import Role
from gridgov.db import db, utcnow
from tests.conftest import bearer_client

SIGN_IN = "/api/v1/auth/token"
ME = "/api/v1/me"
PRINCIPALS = "/api/v1/principals"
PASSWORD = "correct horse battery"
NEW_PASSWORD = "new staple 2024"
CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def sign_in(anonymous, username, password=PASSWORD):
    return anonymous.post(SIGN_IN, json={"username": username, "password": password})


def page_sign_in(app, username, password=PASSWORD):
    """A browser client signed in at /login (a cookie session)."""
    browser = app.test_client()
    token = CSRF_FIELD.search(browser.get("/login").get_data(as_text=True)).group(1)
    response = browser.post("/login", data={"csrf_token": token, "username": username, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert browser.get(ME).status_code == 200
    return browser


def fail_until_locked(app, anonymous, username) -> None:
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        assert sign_in(anonymous, username, "wrong password").status_code == 401


def principal_row(app, principal_id):
    with app.app_context():
        return db.session.execute(sa.text("SELECT * FROM principals WHERE id = :id"), {"id": principal_id}).mappings().one()


@pytest.fixture
def worker(make_principal):
    principal_id, _token = make_principal("grid_worker", password=PASSWORD, username="wang.wu")
    return principal_id


# --- wrong passwords ----------------------------------------------------------------------------


def test_a_wrong_password_is_401_with_the_same_answer_as_an_unknown_user(anonymous, worker):
    wrong = assert_problem(sign_in(anonymous, "wang.wu", "wrong password"), 401)
    unknown = assert_problem(sign_in(anonymous, "nobody.here", "wrong password"), 401)

    assert wrong["detail"] == unknown["detail"]
    assert wrong["title"] == unknown["title"]
    assert "WWW-Authenticate" in sign_in(anonymous, "wang.wu", "wrong password").headers


def test_a_deactivated_account_cannot_sign_in_even_with_its_password(app, client, anonymous, worker):
    client.post(f"{PRINCIPALS}/{worker}/deactivate")

    body = assert_problem(sign_in(anonymous, "wang.wu"), 401)

    assert body["detail"] == assert_problem(sign_in(anonymous, "nobody.here"), 401)["detail"]


def test_an_account_without_password_cannot_sign_in_with_any(anonymous, make_principal):
    make_principal("integration", username="open311.gateway")

    assert_problem(sign_in(anonymous, "open311.gateway", "anything at all"), 401)


def test_the_password_is_case_sensitive(anonymous, worker):
    assert_problem(sign_in(anonymous, "wang.wu", PASSWORD.upper()), 401)


# --- lock-out -----------------------------------------------------------------------------------


def test_after_the_threshold_of_failures_even_the_right_password_is_429_with_retry_after(app, anonymous, worker):
    fail_until_locked(app, anonymous, "wang.wu")

    response = sign_in(anonymous, "wang.wu")

    assert_problem(response, 429)
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= app.config["LOCKOUT_MINUTES"] * 60 + 1
    assert_problem(sign_in(anonymous, "wang.wu", "wrong password"), 429)


def test_failures_below_the_threshold_are_forgotten_after_a_success(app, anonymous, worker):
    below = app.config["LOCKOUT_THRESHOLD"] - 1
    for _ in range(below):
        assert sign_in(anonymous, "wang.wu", "wrong password").status_code == 401
    assert sign_in(anonymous, "wang.wu").status_code == 201

    for _ in range(below):
        assert sign_in(anonymous, "wang.wu", "wrong password").status_code == 401
    assert sign_in(anonymous, "wang.wu").status_code == 201


def test_failures_of_one_account_do_not_lock_another(app, anonymous, worker, make_principal):
    make_principal("grid_worker", password=PASSWORD, username="li.si")

    fail_until_locked(app, anonymous, "wang.wu")

    assert sign_in(anonymous, "li.si").status_code == 201


def test_the_lock_ends_by_itself_after_its_time(app, anonymous, worker):
    fail_until_locked(app, anonymous, "wang.wu")
    with app.app_context():
        db.session.execute(
            sa.update(Principal).where(Principal.id == worker).values(locked_until=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()

    assert sign_in(anonymous, "wang.wu").status_code == 201


def test_a_locked_account_shows_as_locked_to_the_admin(app, client, anonymous, worker):
    assert client.get(f"{PRINCIPALS}/{worker}").get_json()["locked"] is False

    fail_until_locked(app, anonymous, "wang.wu")

    assert client.get(f"{PRINCIPALS}/{worker}").get_json()["locked"] is True


def test_an_admin_unlock_lets_them_in_again(app, client, anonymous, worker):
    fail_until_locked(app, anonymous, "wang.wu")
    assert sign_in(anonymous, "wang.wu").status_code == 429

    response = client.post(f"{PRINCIPALS}/{worker}/unlock")

    assert response.status_code == 200
    assert response.get_json()["locked"] is False
    assert sign_in(anonymous, "wang.wu").status_code == 201


def test_after_an_unlock_the_count_starts_again(app, client, anonymous, worker):
    fail_until_locked(app, anonymous, "wang.wu")
    client.post(f"{PRINCIPALS}/{worker}/unlock")

    # one more wrong guess does not lock the account again at once
    assert sign_in(anonymous, "wang.wu", "wrong password").status_code == 401
    assert sign_in(anonymous, "wang.wu").status_code == 201


@pytest.fixture
def committed_worker(app, committed):
    """``race.worker`` with ``PASSWORD``, really committed (for requests on several connections at
    once), and removed again with its audit events."""
    principal = service.create_principal(
        committed, username="race.worker", display_name="并发", role=Role.GRID_WORKER, scope_unit_id=None, password=PASSWORD
    )
    principal_id = principal.id
    committed.commit()
    try:
        yield principal_id
    finally:
        committed.rollback()
        committed.execute(sa.delete(AdminEvent).where(AdminEvent.target_type == "principal", AdminEvent.target_id == principal_id))
        committed.execute(sa.delete(Principal).where(Principal.id == principal_id))
        committed.commit()


def test_parallel_wrong_guesses_get_no_more_tries_than_the_threshold(app, committed_worker, dialect, request, monkeypatch):
    verify = PasswordHasher.verify

    def verify_at_production_cost(self, *args):
        time.sleep(0.05)  # argon2id at the production settings takes about this long
        return verify(self, *args)

    monkeypatch.setattr(PasswordHasher, "verify", verify_at_production_cost)
    guesses = 3 * app.config["LOCKOUT_THRESHOLD"]
    start = threading.Barrier(guesses)
    statuses = []

    def guess():
        client = app.test_client()  # a thread of its own: its own app context, session, connection
        start.wait()
        statuses.append(sign_in(client, "race.worker", "wrong password").status_code)

    threads = [threading.Thread(target=guess) for _ in range(guesses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(set(statuses)) == [401, 429]
    assert statuses.count(401) == app.config["LOCKOUT_THRESHOLD"]
    assert sign_in(app.test_client(), "race.worker").status_code == 429


def test_a_web_sign_in_is_not_audited_as_the_command_line(client, anonymous, worker):
    assert sign_in(anonymous, "wang.wu").status_code == 201

    events = client.get("/api/v1/audit", query_string={"action": "token.issue"}).get_json()["items"]

    [event] = [event for event in events if event["details"]["name"] == "sign-in"]
    assert event["target_label"] == "wang.wu"
    assert not event["actor"].startswith("cli:"), event["actor"]


def test_a_lock_out_over_the_web_is_not_audited_as_the_command_line(app, client, anonymous, worker):
    fail_until_locked(app, anonymous, "wang.wu")

    events = client.get("/api/v1/audit", query_string={"action": "principal.locked"}).get_json()["items"]

    [event] = events
    assert event["target_label"] == "wang.wu"
    assert not event["actor"].startswith("cli:"), event["actor"]


def test_a_lock_out_is_audited_whatever_address_a_proxy_passed_on(app, client, anonymous, worker):
    """Behind a proxy trusted one hop too many (GRIDGOV_PROXY_FIX), the client's address is what
    the client wrote in X-Forwarded-For. Before, a long one made the lock-out's audit row too long
    for its column: PostgreSQL refused it, the fifth wrong password answered 500, and as the
    failure count went with it the account was never locked (guessing went on unhindered)."""
    forged = {"REMOTE_ADDR": "x" * 120}
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        response = anonymous.post(SIGN_IN, json={"username": "wang.wu", "password": "wrong"}, environ_base=forged)
        assert_problem(response, 401)

    assert_problem(sign_in(anonymous, "wang.wu"), 429)
    [event] = client.get("/api/v1/audit", query_string={"action": "principal.locked"}).get_json()["items"]
    assert event["actor"] == "web:unknown"


# --- resetting a password -----------------------------------------------------------------------


def test_a_password_reset_ends_the_old_sessions_and_changes_the_password(app, client, anonymous, worker):
    browser = page_sign_in(app, "wang.wu")

    response = client.post(f"{PRINCIPALS}/{worker}/password", json={"password": NEW_PASSWORD})

    assert response.status_code == 200, response.get_data(as_text=True)
    assert_problem(browser.get(ME), 401)
    assert_problem(sign_in(anonymous, "wang.wu", PASSWORD), 401)
    assert sign_in(anonymous, "wang.wu", NEW_PASSWORD).status_code == 201
    assert page_sign_in(app, "wang.wu", NEW_PASSWORD).get(ME).get_json()["id"] == worker


def test_a_password_reset_unlocks(app, client, anonymous, worker):
    fail_until_locked(app, anonymous, "wang.wu")

    response = client.post(f"{PRINCIPALS}/{worker}/password", json={"password": NEW_PASSWORD})

    assert response.get_json()["locked"] is False
    assert sign_in(anonymous, "wang.wu", NEW_PASSWORD).status_code == 201


def test_a_password_reset_ends_the_sign_in_tokens_got_with_the_old_password(app, client, anonymous, worker):
    token = sign_in(anonymous, "wang.wu").get_json()["token"]

    client.post(f"{PRINCIPALS}/{worker}/password", json={"password": NEW_PASSWORD})

    assert bearer_client(app, token).get(ME).status_code == 401


@pytest.mark.parametrize("password", ["short", "", "x" * 129])
def test_a_new_password_must_be_8_to_128_characters(app, client, anonymous, worker, password):
    response = client.post(f"{PRINCIPALS}/{worker}/password", json={"password": password})

    assert_problem(response, 422)
    assert "password" in response.get_json()["errors"]
    assert sign_in(anonymous, "wang.wu").status_code == 201


def test_only_an_account_manager_may_reset_a_password(app, worker, make_principal):
    _id, token = make_principal("district_command")

    response = bearer_client(app, token).post(f"{PRINCIPALS}/{worker}/password", json={"password": NEW_PASSWORD})

    assert_problem(response, 403)


# --- storage ------------------------------------------------------------------------------------


def test_the_stored_hash_is_argon2id_and_never_the_password(app, client, anonymous, worker):
    row = principal_row(app, worker)
    assert row["password_hash"].startswith("$argon2id$")
    assert all(PASSWORD not in str(value) for value in row.values())

    client.post(f"{PRINCIPALS}/{worker}/password", json={"password": NEW_PASSWORD})

    reset = principal_row(app, worker)
    assert reset["password_hash"].startswith("$argon2id$")
    assert reset["password_hash"] != row["password_hash"]
    assert all(NEW_PASSWORD not in str(value) for value in reset.values())


def test_the_same_password_is_hashed_with_a_different_salt_for_each_account(app, make_principal):
    first, _ = make_principal("grid_worker", password=PASSWORD)
    second, _ = make_principal("grid_worker", password=PASSWORD)

    assert principal_row(app, first)["password_hash"] != principal_row(app, second)["password_hash"]


@pytest.mark.parametrize("username", ["\x00", "zhang\x00san", "张三"])
def test_a_username_no_account_can_have_is_refused_like_a_wrong_password(anonymous, username):
    response = anonymous.post("/api/v1/auth/token", json={"username": username, "password": "whatever1"})
    assert response.status_code == 401
    assert response.json["detail"] == "Wrong username or password."


def test_a_password_with_a_lone_surrogate_is_a_wrong_password_and_counts(app, anonymous, worker):
    """JSON can carry "\\ud800", which no password can be; before, argon2 failed on it with a 500."""
    for username in ("wang.wu", "nobody.here"):
        response = anonymous.post(SIGN_IN, json={"username": username, "password": "\ud800"})
        assert_problem(response, 401)
    assert principal_row(app, worker)["failed_logins"] == 1


def test_a_new_password_with_a_lone_surrogate_is_refused(app, client, anonymous, worker):
    assert "password" in assert_problem(
        client.post(f"{PRINCIPALS}/{worker}/password", json={"password": "\ud800" * 8}), 422)["errors"]
    assert "password" in assert_problem(client.post(PRINCIPALS, json={
        "username": "li.si", "display_name": "李四", "role": "grid_worker", "scope_unit_id": None,
        "password": "ok password \udfff"}), 422)["errors"]
    assert sign_in(anonymous, "wang.wu").status_code == 201


def test_a_username_is_read_as_people_type_it(anonymous, worker):
    """Before, "Wang.Wu" or "wang.wu " (a phone's autocomplete) was a wrong username."""
    for typed in ("Wang.Wu", " wang.wu ", "WANG.WU"):
        assert sign_in(anonymous, typed).status_code == 201, typed


def test_a_username_differing_only_in_case_is_taken(client, worker):
    response = client.post(PRINCIPALS, json={"username": "WANG.WU", "display_name": "王五", "role": "grid_worker",
                                             "scope_unit_id": None})
    assert "username" in assert_problem(response, 409)["errors"]


def test_the_database_keeps_one_account_per_name_however_it_is_cased(app, session, worker):
    """The check above reads before it writes; two requests racing past it are stopped here."""
    import sqlalchemy as sa

    with pytest.raises(sa.exc.IntegrityError):
        with session.begin_nested():
            session.add(Principal(username="WANG.WU", display_name="王五", role=Role.GRID_WORKER, scope_path=""))
            session.flush()
