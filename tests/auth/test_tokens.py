"""API tokens: signing in for one, using it, and every way a token stops working."""

import hashlib
import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from gridgov.auth import service
from gridgov.auth.models import ApiToken
from gridgov.db import db, utcnow
from tests.conftest import bearer_client

SIGN_IN = "/api/v1/auth/token"
ME = "/api/v1/me"
TOKENS = "/api/v1/tokens"
PASSWORD = "correct horse battery"
TOKEN_FORM = re.compile(r"gg_[A-Za-z0-9_-]{32,}")

T1, T2 = "510503001", "510503100"
G11 = "510503001001001"


@pytest.fixture
def tree(small_tree) -> dict[str, int]:
    """The small tree of ``conftest.SMALL_TREE_CSV``, code → id."""
    return {code: unit.id for code, unit in small_tree.items()}


def assert_unauthenticated(response) -> dict:
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = response.get_json()
    assert body["status"] == 401 and body["title"] and body["detail"]
    return body


def sign_in(anonymous, username, password=PASSWORD):
    return anonymous.post(SIGN_IN, json={"username": username, "password": password})


def expire(app, token: str, *, at: datetime) -> None:
    with app.app_context():
        db.session.execute(
            sa.update(ApiToken).where(ApiToken.token_hash == service.token_hash(token)).values(expires_at=at)
        )
        db.session.commit()


# --- signing in ---------------------------------------------------------------------------------


def test_sign_in_gives_a_gg_token_that_expires_after_the_configured_hours(app, anonymous, make_principal):
    principal_id, _ = make_principal("grid_worker", password=PASSWORD, username="wang.wu")
    before = datetime.now(timezone.utc)

    response = sign_in(anonymous, "wang.wu")

    after = datetime.now(timezone.utc)
    assert response.status_code == 201, response.get_data(as_text=True)
    issued = response.get_json()
    assert TOKEN_FORM.fullmatch(issued["token"]), issued["token"]
    assert issued["principal_id"] == principal_id
    assert issued["username"] == "wang.wu"
    assert issued["token"].startswith(issued["prefix"])
    lifetime = timedelta(hours=app.config["SIGN_IN_TOKEN_HOURS"])
    expires_at = datetime.fromisoformat(issued["expires_at"])
    assert before + lifetime - timedelta(seconds=2) <= expires_at <= after + lifetime + timedelta(seconds=2)


def test_every_sign_in_gives_a_different_token(anonymous, make_principal):
    make_principal("grid_worker", password=PASSWORD, username="wang.wu")

    first, second = (sign_in(anonymous, "wang.wu").get_json()["token"] for _ in range(2))

    assert first != second
    assert first[3:13] != second[3:13]  # random from the first character on


def test_the_signed_in_token_opens_me(app, anonymous, make_principal):
    principal_id, _ = make_principal("auditor", password=PASSWORD, username="li.si")
    token = sign_in(anonymous, "li.si").get_json()["token"]

    response = bearer_client(app, token).get(ME)

    assert response.status_code == 200, response.get_data(as_text=True)
    me = response.get_json()
    assert (me["id"], me["username"], me["role"]) == (principal_id, "li.si", "auditor")
    assert "audit:read" in me["permissions"]
    assert "password_hash" not in me and "token" not in me


def test_only_the_sha256_of_a_token_is_stored(app, anonymous, make_principal):
    _id, fixture_token = make_principal("grid_worker", password=PASSWORD, username="wang.wu")
    signed_in = sign_in(anonymous, "wang.wu").get_json()["token"]

    with app.app_context():
        rows = db.session.execute(sa.text("SELECT * FROM api_tokens")).mappings().all()
        events = db.session.execute(sa.text("SELECT * FROM admin_events")).mappings().all()

    hashes = {row["token_hash"] for row in rows}
    for token in (fixture_token, signed_in):
        assert hashlib.sha256(token.encode()).hexdigest() in hashes
        secret_part = token[10:]  # what the stored prefix does not show
        for row in [*rows, *events]:
            for column, value in row.items():
                assert secret_part not in str(value), f"the token's text is stored in {column}"


# --- tokens that do not work --------------------------------------------------------------------


def test_an_expired_token_is_refused(app, make_principal):
    _id, token = make_principal("grid_worker")
    expire(app, token, at=utcnow() - timedelta(seconds=1))

    body = assert_unauthenticated(bearer_client(app, token).get(ME))

    assert "expired" in body["detail"]


def test_a_token_just_before_its_expiry_still_works(app, make_principal):
    _id, token = make_principal("grid_worker")
    expire(app, token, at=utcnow() + timedelta(minutes=1))

    assert bearer_client(app, token).get(ME).status_code == 200


def test_a_revoked_token_stops_working_at_once_and_is_listed_as_revoked(app, client, make_principal):
    principal_id, token = make_principal("grid_worker")
    worker = bearer_client(app, token)
    assert worker.get(ME).status_code == 200
    [listed] = client.get(TOKENS, query_string={"principal_id": principal_id}).get_json()["items"]
    assert listed["revoked_at"] is None

    response = client.delete(f"{TOKENS}/{listed['id']}")

    assert response.status_code == 204
    body = assert_unauthenticated(worker.get(ME))
    assert "revoked" in body["detail"]
    [listed] = client.get(TOKENS, query_string={"principal_id": principal_id}).get_json()["items"]
    assert datetime.fromisoformat(listed["revoked_at"]) <= datetime.now(timezone.utc)


def test_revoking_twice_keeps_the_first_revocation_time(client, make_principal):
    principal_id, _token = make_principal("grid_worker")
    [listed] = client.get(TOKENS, query_string={"principal_id": principal_id}).get_json()["items"]
    client.delete(f"{TOKENS}/{listed['id']}")
    [first] = client.get(TOKENS, query_string={"principal_id": principal_id}).get_json()["items"]

    assert client.delete(f"{TOKENS}/{listed['id']}").status_code == 204

    [second] = client.get(TOKENS, query_string={"principal_id": principal_id}).get_json()["items"]
    assert second["revoked_at"] == first["revoked_at"]


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("{token}", id="token-without-scheme"),
        pytest.param("Token {token}", id="other-scheme"),
        pytest.param("Basic d2FuZzpwYXNzd29yZA==", id="basic"),
        pytest.param("Bearer", id="bearer-alone"),
        pytest.param("Bearer ", id="bearer-empty"),
        pytest.param("Bearer    ", id="bearer-blank"),
        pytest.param("", id="empty-header"),
        pytest.param("Bearer garbage", id="garbage"),
        pytest.param("Bearer gg_" + "A" * 43, id="well-formed-unknown"),
        pytest.param("Bearer {token}x", id="one-character-more"),
        pytest.param("Bearer " + "gg_" + "A" * 10_240, id="10kB"),
    ],
)
def test_a_malformed_or_unknown_authorization_is_refused(app, make_principal, header):
    _id, token = make_principal("admin")
    client = app.test_client()

    response = client.get(ME, headers={"Authorization": header.format(token=token)})

    assert_unauthenticated(response)


def test_the_bearer_scheme_is_case_insensitive(app, make_principal):
    _id, token = make_principal("grid_worker")

    response = app.test_client().get(ME, headers={"Authorization": f"bearer {token}"})

    assert response.status_code == 200


def test_no_credentials_at_all_is_refused(anonymous):
    assert_unauthenticated(anonymous.get(ME))


def test_a_token_acts_as_its_own_principal(app, make_principal):
    first_id, first_token = make_principal("grid_worker", username="zhang.san")
    second_id, second_token = make_principal("admin", username="li.si")

    first = bearer_client(app, first_token).get(ME).get_json()
    second = bearer_client(app, second_token).get(ME).get_json()

    assert (first["id"], first["username"], first["role"]) == (first_id, "zhang.san", "grid_worker")
    assert (second["id"], second["username"], second["role"]) == (second_id, "li.si", "admin")
    # and the grid worker's token does not carry the admin's rights
    assert bearer_client(app, first_token).get("/api/v1/principals").status_code == 403


def test_the_tokens_of_a_deactivated_principal_stop_working(app, client, anonymous, make_principal):
    principal_id, fixture_token = make_principal("grid_worker", password=PASSWORD, username="wang.wu")
    signed_in = sign_in(anonymous, "wang.wu").get_json()["token"]
    assert bearer_client(app, signed_in).get(ME).status_code == 200

    assert client.post(f"/api/v1/principals/{principal_id}/deactivate").status_code == 200

    for token in (fixture_token, signed_in):
        assert_unauthenticated(bearer_client(app, token).get(ME))


def test_a_token_of_a_principal_deactivated_behind_the_apis_back_stops_working(app, make_principal):
    """Even a token that was never revoked: the account's state is checked on every request."""
    principal_id, token = make_principal("grid_worker")
    with app.app_context():
        db.session.execute(sa.text("UPDATE principals SET active = :no WHERE id = :id"), {"no": False, "id": principal_id})
        db.session.commit()

    body = assert_unauthenticated(bearer_client(app, token).get(ME))

    assert "deactivated" in body["detail"]


# --- issuing and listing tokens -----------------------------------------------------------------


def test_an_admin_issues_a_token_for_an_account_in_scope_shown_once(app, tree, make_principal):
    _admin, admin_token = make_principal("admin", T1)
    worker_id, _ = make_principal("grid_worker", G11, username="zhao.liu")
    admin = bearer_client(app, admin_token)

    response = admin.post(TOKENS, json={"principal_id": worker_id, "name": "手机"})

    assert response.status_code == 201, response.get_data(as_text=True)
    issued = response.get_json()
    token = issued["token"]
    assert TOKEN_FORM.fullmatch(token)
    assert (issued["principal_id"], issued["name"]) == (worker_id, "手机")
    expires_at = datetime.fromisoformat(issued["expires_at"])
    assert abs(expires_at - (datetime.now(timezone.utc) + timedelta(days=90))) < timedelta(minutes=1)
    me = bearer_client(app, token).get(ME).get_json()
    assert me["username"] == "zhao.liu"

    listing = admin.get(TOKENS, query_string={"principal_id": worker_id})
    assert listing.status_code == 200
    listed = {item["id"]: item for item in listing.get_json()["items"]}
    assert listed[issued["id"]]["prefix"] == token[:10] == issued["prefix"]
    assert "token" not in listed[issued["id"]]
    assert token not in listing.get_data(as_text=True)
    assert token[10:20] not in listing.get_data(as_text=True)


def test_a_token_without_expiry_when_asked_for(app, client, make_principal):
    worker_id, _ = make_principal("grid_worker")

    response = client.post(TOKENS, json={"principal_id": worker_id, "expires_in_days": None})

    assert response.status_code == 201
    assert response.get_json()["expires_at"] is None


def test_the_token_list_never_shows_token_text(app, client, anonymous, make_principal):
    _id, fixture_token = make_principal("grid_worker", password=PASSWORD, username="wang.wu")
    signed_in = sign_in(anonymous, "wang.wu").get_json()["token"]

    listing = client.get(TOKENS, query_string={"limit": 500})

    assert listing.status_code == 200
    text = listing.get_data(as_text=True)
    items = listing.get_json()["items"]
    assert len(items) >= 3  # the admin's, the worker's fixture token and the signed-in one
    for token in (fixture_token, signed_in):
        assert token not in text and token[10:] not in text
    assert all("token" not in item and len(item["prefix"]) <= 10 for item in items)


def test_a_scoped_admin_cannot_issue_list_or_revoke_tokens_outside_its_scope(app, tree, make_principal):
    _admin, admin_token = make_principal("admin", T1)
    outsider_id, outsider_token = make_principal("grid_worker", T2)
    admin = bearer_client(app, admin_token)
    with app.app_context():
        outsider_token_id = db.session.scalar(sa.select(ApiToken.id).where(ApiToken.principal_id == outsider_id))

    issue = admin.post(TOKENS, json={"principal_id": outsider_id})
    listing = admin.get(TOKENS, query_string={"limit": 500}).get_json()["items"]
    revoke = admin.delete(f"{TOKENS}/{outsider_token_id}")

    assert issue.status_code == 404
    assert outsider_id not in {item["principal_id"] for item in listing}
    assert revoke.status_code == 404
    assert bearer_client(app, outsider_token).get(ME).status_code == 200


def test_a_deactivated_account_gets_no_new_token(client, make_principal):
    worker_id, _ = make_principal("grid_worker")
    client.post(f"/api/v1/principals/{worker_id}/deactivate")

    response = client.post(TOKENS, json={"principal_id": worker_id})

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"


def test_what_a_signed_in_principal_is_answered_is_kept_by_no_cache(client, anonymous):
    assert client.get("/api/v1/units").headers["Cache-Control"] == "no-store"
    assert "no-store" not in anonymous.get("/api/v1/openapi.json").headers.get("Cache-Control", "")


def test_a_program_signs_out_by_revoking_the_token_it_calls_with(anonymous, make_principal):
    """Before, only an admin could revoke a token: a phone's sign-in token outlived its sign-out."""
    make_principal("grid_worker", password=PASSWORD, username="worker.token")
    token = anonymous.post("/api/v1/auth/token", json={"username": "worker.token", "password": PASSWORD})
    assert token.status_code == 201, token.get_data(as_text=True)
    phone = {"Authorization": f"Bearer {token.get_json()['token']}"}
    assert anonymous.get(ME, headers=phone).status_code == 200

    assert anonymous.delete("/api/v1/auth/token", headers=phone).status_code == 204

    assert anonymous.get(ME, headers=phone).status_code == 401
    assert anonymous.delete("/api/v1/auth/token", headers=phone).status_code == 401
