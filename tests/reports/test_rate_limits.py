"""Rate limits on what anyone may call without signing in (gridgov/limits.py, the decorators in
gridgov/reports/pages.py and open311.py, the RATELIMIT_* settings).

Covered: a resident's report (/r) per address and per report code, answered by an HTML page with
Retry-After and nothing written; Open311 POST per api_key, in the Open311 error format; the
public limit on public GETs, per address; signed-in API calls outside the public limit; the
counters shared through Redis by two workers (two processes) of one deployment.

Each test builds its own app with limits on and small numbers, on a fresh SQLite file.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from gridgov.auth import service as auth_service
from gridgov.auth.permissions import Role
from gridgov.db import db
from gridgov.reports import service as report_service
from gridgov.reports.models import Report
from gridgov.tree import service as tree_service
from gridgov.tree import transfer
from tests.conftest import SMALL_TREE_CSV, TEST_SETTINGS, bearer_client, fresh_app, never_answering
from tests.reports.test_codes_and_pages import SUBMISSION_FIELD, TRACKING

ROOT = Path(__file__).resolve().parents[2]
D = "510503"
M111, M112 = "510503001001001001", "510503001001001002"
REPORT = {"category": "family_neighbour", "description": "楼上每晚装修到十一点，协商无果。"}
LIMITS = {
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_REPORT": "3 per minute",
    "RATELIMIT_REPORT_CODE": "5 per hour",
    "RATELIMIT_PUBLIC": "10 per minute",
    "RATELIMIT_OPEN311_POST": "2 per minute",
}


def build_app(folder: Path, **overrides):
    """An app with limits on (``LIMITS``, then ``overrides``) and the small tree."""
    # The limit is what is tested here, not the form's CSRF token (tests/auth covers that).
    app = fresh_app(folder, WTF_CSRF_ENABLED=False, **{**LIMITS, **overrides})
    with app.app_context():
        transfer.import_csv(db.session, data=SMALL_TREE_CSV.encode())
        db.session.commit()
    return app


@pytest.fixture
def make_app(tmp_path):
    """``make_app(**settings)`` → an app with limits on, the small tree, and its own SQLite file."""
    built = []

    def make(**overrides):
        folder = tmp_path / f"app{len(built)}"
        folder.mkdir()
        app = build_app(folder, **overrides)
        built.append(app)
        return app

    yield make
    for app in built:
        with app.app_context():
            db.engine.dispose()


def report_token(app, code: str) -> str:
    with app.app_context():
        unit = tree_service.get_unit_by_code(db.session, code=code)
        token = report_service.report_code(db.session, unit=unit).token
        db.session.commit()
        return token


def token_for(app, role: str, scope_code: str | None = D) -> str:
    with app.app_context():
        scope = tree_service.get_unit_by_code(db.session, code=scope_code) if scope_code else None
        principal = auth_service.create_principal(
            db.session, username=f"rl.{role}.{os.urandom(4).hex()}", display_name=f"测试 {role}",
            role=Role(role), scope_unit_id=scope.id if scope else None, password=None,
        )
        _token, text = auth_service.issue_token(db.session, principal=principal, name="test", expires_in=None)
        db.session.commit()
        return text


def count_reports(app, *criteria) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Report).where(*criteria))


def from_address(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def form_id(client, token: str) -> str:
    """A fresh report page's signed form id (each page load is its own report)."""
    return SUBMISSION_FIELD.search(client.get(f"/r/{token}").get_data(as_text=True)).group(1)


def file_report(client, token: str, **fields):
    return client.post(f"/r/{token}", data={**REPORT, "submission": form_id(client, token), **fields})


def test_behind_a_trusted_proxy_each_resident_is_counted_by_their_own_address(make_app):
    app = make_app(PROXY_FIX=1, RATELIMIT_REPORT_CODE="100 per hour")
    token = report_token(app, M111)
    proxy = from_address(app, "10.0.0.2")  # every request arrives from the proxy

    def through_proxy(resident: str):
        return proxy.post(f"/r/{token}", data={**REPORT, "submission": form_id(proxy, token)},
                          headers={"X-Forwarded-For": resident})

    assert [through_proxy("203.0.113.7").status_code for _ in range(4)] == [201, 201, 201, 429]
    assert through_proxy("203.0.113.8").status_code == 201


def assert_refused_page(response, *, window: int = 60):
    """The resident's 429: a page in plain words, and when to try again (within the limit's
    window, in seconds)."""
    assert response.status_code == 429
    assert response.mimetype == "text/html"
    assert "提交过于频繁" in response.get_data(as_text=True)
    assert 0 < int(response.headers["Retry-After"]) <= window


def assert_open311_error(response, code: int):
    assert response.status_code == code
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body, list) and len(body) == 1
    assert body[0]["code"] == code and body[0]["description"]


# --- a resident's report ---------------------------------------------------------------------------


def test_fourth_report_from_one_address_within_a_minute_is_refused_and_not_written(make_app):
    # Per code generous: only the per-address limit is in play.
    app = make_app(RATELIMIT_REPORT_CODE="100 per hour")
    token = report_token(app, M111)
    phone = from_address(app, "203.0.113.7")

    assert [file_report(phone, token).status_code for _ in range(3)] == [201, 201, 201]
    refused = file_report(phone, token)

    assert_refused_page(refused)
    assert count_reports(app) == 3


def test_the_refusal_keeps_what_was_typed(make_app):
    """Before, the 429 page held no form: what the resident wrote was lost."""
    app = make_app(RATELIMIT_REPORT_CODE="100 per hour")  # 3 reports a minute per address
    token = report_token(app, M111)
    resident = from_address(app, "192.0.2.30")
    assert [file_report(resident, token).status_code for _ in range(3)] == [201] * 3

    posted = form_id(resident, token)
    refused = resident.post(f"/r/{token}", data={**REPORT, "submission": posted, "description": "楼道堆放杂物。"})
    assert_refused_page(refused)
    page = refused.get_data(as_text=True)
    assert "楼道堆放杂物。" in page  # the form, as typed
    # With the id it came with: sent again once the wait is over, it is the one report. (Before,
    # it had a new id, and a resident whose first sending had gone through filed a second.)
    assert SUBMISSION_FIELD.search(page).group(1) == posted
    assert count_reports(app) == 3


def test_a_form_sent_again_past_the_limit_answers_its_receipt(make_app):
    """A resident refreshing the receipt (the browser sends the form again) past the limit sees
    the receipt, not the form with a "too often" notice as if nothing had been filed."""
    app = make_app(RATELIMIT_REPORT_CODE="100 per hour")  # 3 a minute per address
    token = report_token(app, M111)
    resident = from_address(app, "192.0.2.32")
    form = {**REPORT, "submission": form_id(resident, token)}

    answers = [resident.post(f"/r/{token}", data=form) for _ in range(5)]

    assert [answer.status_code for answer in answers] == [201, 200, 200, 200, 200]
    assert len({TRACKING.search(answer.get_data(as_text=True)).group(1) for answer in answers}) == 1
    assert count_reports(app) == 1


def test_a_refusal_at_a_code_not_there_is_the_plain_page_not_a_500(make_app):
    app = make_app(RATELIMIT_REPORT="2 per minute")
    resident = from_address(app, "192.0.2.31")
    answers = [resident.post("/r/AAAAAAAAAAAAAAAAAAAAAA", data=REPORT) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [404, 404, 429]
    assert_refused_page(answers[-1])


def test_another_address_still_reports_when_one_is_refused(make_app):
    app = make_app(RATELIMIT_REPORT_CODE="100 per hour")
    token = report_token(app, M111)
    busy = from_address(app, "203.0.113.7")
    for _ in range(3):
        assert file_report(busy, token).status_code == 201
    assert file_report(busy, token).status_code == 429

    neighbour = file_report(from_address(app, "203.0.113.8"), token)

    assert neighbour.status_code == 201
    assert count_reports(app) == 4


def test_report_code_limit_stops_many_addresses_reporting_through_one_code(make_app):
    app = make_app()  # 5 per hour per code, 3 per minute per address
    token, other_token = report_token(app, M111), report_token(app, M112)
    statuses = [file_report(from_address(app, f"198.51.100.{n}"), token).status_code for n in range(1, 6)]
    assert statuses == [201] * 5

    sixth = file_report(from_address(app, "198.51.100.6"), token)

    assert_refused_page(sixth, window=3600)
    assert count_reports(app) == 5
    # The limit is the code's, not the whole service's: another micro-grid's sign still works.
    assert file_report(from_address(app, "198.51.100.7"), other_token).status_code == 201


# --- Open311 -----------------------------------------------------------------------------------------


def open311_post(client, api_key: str):
    return client.post("/open311/v2/requests.json", data={
        "api_key": api_key, "service_code": "family_neighbour", "description": "邻里噪音纠纷",
        "attribute[unit_code]": M111,
    })


def test_open311_post_is_limited_per_api_key_in_the_open311_error_format(make_app):
    app = make_app()  # 2 per minute per api_key
    first_key, second_key = token_for(app, "integration"), token_for(app, "integration")
    client = app.test_client()  # one address for both keys: the key is what counts
    assert [open311_post(client, first_key).status_code for _ in range(2)] == [201, 201]

    refused = open311_post(client, first_key)

    assert_open311_error(refused, 429)
    assert "Retry-After" in refused.headers
    assert count_reports(app) == 2
    assert open311_post(client, second_key).status_code == 201
    assert count_reports(app) == 3


# --- public GETs and the signed-in API -----------------------------------------------------------------


@pytest.mark.parametrize("url, answer", [
    ("/open311/v2/services.json", "open311"),
    ("/t", "html"),
])
def test_public_get_is_limited_per_address_by_the_public_limit(make_app, url, answer):
    app = make_app()  # 10 per minute per address
    visitor = from_address(app, "192.0.2.10")
    assert [visitor.get(url).status_code for _ in range(10)] == [200] * 10

    refused = visitor.get(url)

    if answer == "open311":
        assert_open311_error(refused, 429)
    else:
        assert refused.status_code == 429 and refused.mimetype == "text/html"
    assert "Retry-After" in refused.headers
    assert from_address(app, "192.0.2.11").get(url).status_code == 200


def test_only_a_refusal_tells_the_client_to_wait_and_it_says_the_limit_in_words(make_app):
    """Before, every public answer carried Retry-After (a 200 of services.json, a 401 of a wrong
    password), and a 429's detail read only "10 per 1 minute"."""
    app = make_app()  # 10 per minute per address
    visitor = from_address(app, "192.0.2.40")
    answered = [visitor.post("/api/v1/auth/token", json={"username": "nobody", "password": "wrong password"})
                for _ in range(11)]
    assert [response.status_code for response in answered] == [401] * 10 + [429]
    assert not any("Retry-After" in response.headers for response in answered[:10])
    refused = answered[-1]
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.get_json()["detail"].startswith("Too many requests: at most 10 per 1 minute")
    assert "Retry-After" not in from_address(app, "192.0.2.41").get("/open311/v2/services.json").headers


def test_signed_in_api_is_not_held_to_the_public_limit(make_app):
    app = make_app()  # public: 10 per minute
    client = bearer_client(app, token_for(app, "district_command"))

    statuses = [client.get("/api/v1/units").status_code for _ in range(15)]

    assert statuses == [200] * 15


def test_limits_of_one_app_do_not_reach_another_app_of_the_process(make_app):
    unlimited = make_app(RATELIMIT_ENABLED=False)
    make_app()  # limits on, 3 reports per minute per address
    token = report_token(unlimited, M111)
    client = unlimited.test_client()

    statuses = [file_report(client, token).status_code for _ in range(8)]

    assert statuses == [201] * 8


# --- Redis: one count for every worker ------------------------------------------------------------------

# A second worker: its own process (so nothing of the first app is shared but the database file and
# Redis), its own app, the same report code.
WORKER = """
import json, logging, re, sys
logging.disable(logging.CRITICAL)
from gridgov import create_app
config, token, count = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
client = create_app(config).test_client()
report = json.loads(sys.argv[4])

def form_id():
    page = client.get("/r/" + token).get_data(as_text=True)
    return re.search(r'name="submission" type="hidden" value="([^"]+)"', page).group(1)

print(json.dumps([client.post("/r/" + token, data={**report, "submission": form_id()}).status_code
                  for _ in range(count)]))
"""


def run_worker(config: dict, token: str, count: int) -> list[int]:
    result = subprocess.run(
        [sys.executable, "-c", WORKER, json.dumps(config), token, str(count), json.dumps(REPORT)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_workers_sharing_redis_share_the_count(tmp_path, redis_url):
    import redis

    shared = {**LIMITS, "RATELIMIT_STORAGE_URL": redis_url, "RATELIMIT_REPORT_CODE": "100 per hour"}
    worker_a = build_app(tmp_path, **shared)
    token = report_token(worker_a, M111)
    try:
        # Both workers see the same address (behind one proxy, one resident's phone).
        assert [file_report(worker_a.test_client(), token).status_code for _ in range(2)] == [201, 201]

        config_b = {**TEST_SETTINGS, **shared, "WTF_CSRF_ENABLED": False,
                    "DATABASE_URL": worker_a.config["DATABASE_URL"], "INSTANCE_PATH": str(tmp_path / "instance-b")}
        assert run_worker(config_b, token, 2) == [201, 429]

        assert count_reports(worker_a) == 3
        keys = redis.Redis.from_url(redis_url).keys()
        assert keys and any(b"gridgov" in key for key in keys)
    finally:
        with worker_a.app_context():
            db.engine.dispose()


def test_the_shared_counters_hold_no_api_key_anyone_could_use(make_app, redis_url):
    import redis

    store = redis.Redis.from_url(redis_url)
    app = make_app(RATELIMIT_STORAGE_URL=redis_url)
    key = token_for(app, "integration")
    client = app.test_client()
    assert [open311_post(client, key).status_code for _ in range(3)] == [201, 201, 429]  # counted per key

    stored = b" ".join(store.keys())
    assert b"open311" in stored
    assert key.encode() not in stored and key.split("_")[-1].encode() not in stored


@pytest.mark.timeout(60)
def test_a_redis_that_never_answers_is_given_up_on_within_seconds(make_app, caplog):
    """A Redis that takes connections and never answers (paused, or a half-open firewall). Before,
    redis-py waited for ever: every worker hung at its start, every public request until
    gunicorn killed it (an HTML 500), and every command (the sweep's cron line) for good. And the
    log line gave the URL's password away."""
    with never_answering() as port:
        started = time.monotonic()
        app = make_app(RATELIMIT_STORAGE_URL=f"redis://:s3cret@127.0.0.1:{port}/0")
        visitor = from_address(app, "192.0.2.21")
        assert visitor.get("/open311/v2/services.json").status_code == 200
        assert time.monotonic() - started < 20
    assert ":***@127.0.0.1" in caplog.text and "cannot be reached" in caplog.text
    assert "s3cret" not in caplog.text


def test_falling_back_to_memory_is_said_in_the_service_log(make_app, capsys):
    """Before, Flask-Limiter's word that it counted in memory now went to its NullHandler: Redis
    going down in the day was never told, though every limit now counted per worker."""
    app = make_app(RATELIMIT_STORAGE_URL="redis://127.0.0.1:9/14")
    capsys.readouterr()
    assert from_address(app, "192.0.2.22").get("/open311/v2/services.json").status_code == 200
    assert "falling back to in-memory storage" in capsys.readouterr().err


def test_an_unreachable_redis_still_answers_and_still_limits(make_app, caplog):
    """Before, every public page answered 500 while the limiter's Redis was down; and the
    operator was never told."""
    app = make_app(RATELIMIT_STORAGE_URL="redis://127.0.0.1:9/14")  # the discard port: nothing answers
    assert "redis://127.0.0.1:9/14 cannot be reached" in caplog.text
    visitor = from_address(app, "192.0.2.20")
    assert [visitor.get("/open311/v2/services.json").status_code for _ in range(10)] == [200] * 10
    assert_open311_error(visitor.get("/open311/v2/services.json"), 429)
    token = report_token(app, M111)
    assert [file_report(visitor, token).status_code for _ in range(4)] == [201, 201, 201, 429]
