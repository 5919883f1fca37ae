"""``/login`` and ``/logout``, and the cookie session they manage: CSRF, redirects, cookies."""

import io
import json
import re
import time
from urllib.parse import urljoin

import pytest
from itsdangerous.timed import TimestampSigner

from tests.conftest import bearer_client

ME = "/api/v1/me"
PRINCIPALS = "/api/v1/principals"
PASSWORD = "correct horse battery"
CSRF_FIELD = re.compile(r'<input id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)">')


def csrf_token(browser, page="/login") -> str:
    """The CSRF token a page hands this browser (bound to the browser's session)."""
    match = CSRF_FIELD.search(browser.get(page).get_data(as_text=True))
    assert match, f"{page} has no csrf_token field"
    return match.group(1)


def post_login(browser, username, password=PASSWORD, *, next_=None, token=None):
    data = {"username": username, "password": password, "csrf_token": token or csrf_token(browser)}
    return browser.post("/login", data=data, query_string={"next": next_} if next_ else None)


def session_cookie(response) -> str:
    [cookie] = [value for value in response.headers.getlist("Set-Cookie") if value.startswith("session=")]
    return cookie


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["detail"]
    return body


@pytest.fixture
def admin(make_principal) -> int:
    """An admin over every district who signs in with a password."""
    principal_id, _token = make_principal("admin", password=PASSWORD, username="admin.zhang")
    return principal_id


@pytest.fixture
def browser(app, admin):
    """A browser signed in at /login as ``admin.zhang``."""
    browser = app.test_client()
    assert post_login(browser, "admin.zhang").status_code == 302
    return browser


# --- the sign-in page ---------------------------------------------------------------------------


def test_the_login_page_is_in_chinese_with_a_csrf_field(anonymous):
    response = anonymous.get("/login")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "登录" in html and "用户名" in html and "密码" in html
    assert CSRF_FIELD.search(html)
    assert 'name="username"' in html and 'type="password"' in html


@pytest.mark.parametrize("field", ["username", "password"])
def test_a_file_sent_for_the_name_or_password_is_no_value_not_a_500(anonymous, admin, field):
    """Found by fuzzing: a file part where text is expected broke the form's validators (500)."""
    data = {"username": "admin.zhang", "password": PASSWORD, "csrf_token": csrf_token(anonymous),
            field: (io.BytesIO(b"x"), "f.txt")}
    response = anonymous.post("/login", data=data)
    assert response.status_code == 422 and response.mimetype == "text/html"
    assert 'name="username"' in response.get_data(as_text=True)  # the form again, not signed in


def test_the_pages_name_the_one_districts_centre_or_none_where_several_share_the_service(app, session, small_tree,
                                                                                        anonymous, monkeypatch):
    """Before, every installation's pages said 纳溪区社会治理中心."""
    from gridgov.tree import transfer

    assert "<h1>纳溪区社会治理中心 · 登录</h1>" in anonymous.get("/login").get_data(as_text=True)
    transfer.import_csv(session, data="code,name,level,parent_code\n510502,江阳区,district,510500\n".encode())
    session.commit()
    page = anonymous.get("/login").get_data(as_text=True)
    assert "<h1>社会治理中心 · 登录</h1>" in page and "纳溪区" not in page
    monkeypatch.setitem(app.config, "SITE_NAME", "泸州市社会治理中心")
    assert "<title>登录 · 泸州市社会治理中心</title>" in anonymous.get("/login").get_data(as_text=True)
    assert anonymous.get("/open311/v2/discovery.json").get_json()["contact"].startswith("泸州市社会治理中心")


def test_signing_in_sets_an_httponly_samesite_lax_cookie_and_redirects_home(app, admin):
    browser = app.test_client()

    response = post_login(browser, "admin.zhang")

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    cookie = session_cookie(response)
    assert "; HttpOnly" in cookie
    assert "; SameSite=Lax" in cookie
    me = browser.get(ME)
    assert me.status_code == 200
    assert (me.get_json()["id"], me.get_json()["username"]) == (admin, "admin.zhang")


@pytest.mark.parametrize("role, page", [("district_command", "command"), ("town_centre", "command"),
                                        ("admin", "docs"), ("integration", "docs"), (None, "docs")])
def test_home_is_the_command_page_for_those_who_watch_figures_and_the_docs_for_others(app, make_principal, role, page):
    """Before, everyone signed in at /login without ?next landed on the API docs, district
    command too."""
    browser = app.test_client()
    if role is not None:
        make_principal(role, password=PASSWORD, username=f"home.{role}")
        assert post_login(browser, f"home.{role}").headers["Location"] == "/"
    home = browser.get("/")
    assert home.status_code == 302 and home.headers["Location"].rstrip("/").endswith(page)


@pytest.mark.parametrize(
    "next_, location",
    [
        ("/api/v1/me", "/api/v1/me"),
        ("/docs?tag=units", "/docs?tag=units"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("http:/evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("evil.example", "/"),
        ("/\t/evil.example", "/"),
    ],
)
def test_after_signing_in_only_a_local_next_is_followed(app, admin, next_, location):
    response = post_login(app.test_client(), "admin.zhang", next_=next_)

    assert response.status_code == 302
    assert response.headers["Location"] == location


@pytest.mark.parametrize("next_", ["/\\evil.example/", "/\\/evil.example/"])
def test_after_signing_in_a_backslash_next_does_not_leave_the_site(app, admin, next_):
    """Browsers read a backslash in a URL as a slash: ``/\\evil.example`` would be ``//evil.example``.
    ``_safe_next`` lets it through; it is safe only because the Location header is percent-encoded."""
    response = post_login(app.test_client(), "admin.zhang", next_=next_)

    location = response.headers["Location"]
    as_a_browser_reads_it = location.replace("\\", "/")
    assert not as_a_browser_reads_it.startswith("//"), location


def test_signing_in_without_the_csrf_token_is_400_and_signs_nobody_in(app, admin):
    browser = app.test_client()
    browser.get("/login")

    response = browser.post("/login", data={"username": "admin.zhang", "password": PASSWORD})

    assert response.status_code == 400
    assert "表单已过期" in response.get_data(as_text=True)
    assert_problem(browser.get(ME), 401)


def test_signing_in_with_another_browsers_csrf_token_is_400(app, admin):
    other_token = csrf_token(app.test_client())
    browser = app.test_client()
    browser.get("/login")

    response = post_login(browser, "admin.zhang", token=other_token)

    assert response.status_code == 400
    assert_problem(browser.get(ME), 401)


def test_a_wrong_password_on_the_page_is_401_in_chinese_and_signs_nobody_in(app, admin):
    browser = app.test_client()

    response = post_login(browser, "admin.zhang", "wrong password")

    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert "用户名或密码错误" in html
    assert 'value="admin.zhang"' in html  # the name stays filled in
    assert CSRF_FIELD.search(html)  # and the form can be sent again
    assert_problem(browser.get(ME), 401)


def test_an_unknown_user_on_the_page_gets_the_same_message(app, admin):
    wrong = post_login(app.test_client(), "admin.zhang", "wrong password").get_data(as_text=True)
    unknown = post_login(app.test_client(), "nobody.here", "wrong password").get_data(as_text=True)

    assert "用户名或密码错误" in wrong and "用户名或密码错误" in unknown


def test_a_locked_account_on_the_page_is_429_in_chinese(app, admin):
    browser = app.test_client()
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        assert post_login(browser, "admin.zhang", "wrong password").status_code == 401

    response = post_login(browser, "admin.zhang")

    assert response.status_code == 429
    assert "锁定" in response.get_data(as_text=True)
    assert_problem(browser.get(ME), 401)


def test_what_was_typed_as_a_username_is_shown_escaped(app, admin):
    response = post_login(app.test_client(), '"><script>alert(1)</script>', "wrong password")

    html = response.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


@pytest.mark.parametrize("hours_later, status", [(11.9, 200), (12.01, 401)])
def test_a_browser_session_lasts_permanent_session_lifetime(app, browser, monkeypatch, hours_later, status):
    assert app.config["PERMANENT_SESSION_LIFETIME"] == 12 * 3600
    later = int(time.time() + hours_later * 3600)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: later)

    assert browser.get(ME).status_code == status


# --- the cookie session against the API ---------------------------------------------------------


@pytest.fixture
def other(make_principal) -> int:
    principal_id, _token = make_principal("grid_worker", username="wang.wu")
    return principal_id


def test_a_cookie_change_without_the_csrf_header_is_refused_and_changes_nothing(browser, client, other):
    response = browser.patch(f"{PRINCIPALS}/{other}", json={"display_name": "王五"})

    body = assert_problem(response, 400)
    assert "CSRF" in body["detail"]
    assert client.get(f"{PRINCIPALS}/{other}").get_json()["display_name"] != "王五"


def test_a_cookie_post_without_the_csrf_header_is_refused(browser, client, other):
    response = browser.post("/api/v1/tokens", json={"principal_id": other})

    assert_problem(response, 400)
    tokens = client.get("/api/v1/tokens", query_string={"principal_id": other}).get_json()["items"]
    assert [token["name"] for token in tokens] == ["test"]  # only make_principal's


def test_a_cookie_change_with_the_csrf_header_succeeds(browser, other):
    token = csrf_token(browser)  # the page, now signed in, hands out the session's token

    response = browser.patch(f"{PRINCIPALS}/{other}", json={"display_name": "王五"}, headers={"X-CSRFToken": token})

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["display_name"] == "王五"


def test_the_csrf_token_of_the_sign_in_form_does_not_outlive_the_sign_in(app, admin, other):
    """Signing in starts a new session, with a new CSRF token: fetch it from a page afterwards."""
    browser = app.test_client()
    before = csrf_token(browser)
    post_login(browser, "admin.zhang", token=before)

    response = browser.patch(f"{PRINCIPALS}/{other}", json={"display_name": "王五"}, headers={"X-CSRFToken": before})

    assert_problem(response, 400)


def test_a_cookie_change_with_another_sessions_csrf_token_is_refused(app, browser, other):
    stranger_token = csrf_token(app.test_client())

    response = browser.patch(f"{PRINCIPALS}/{other}", json={"display_name": "王五"}, headers={"X-CSRFToken": stranger_token})

    assert_problem(response, 400)


def test_a_bearer_change_needs_no_csrf_token(app, make_principal, other):
    _id, token = make_principal("admin")

    response = bearer_client(app, token).patch(f"{PRINCIPALS}/{other}", json={"display_name": "王五"})

    assert response.status_code == 200, response.get_data(as_text=True)


# --- signing out --------------------------------------------------------------------------------


def test_the_logout_page_asks_to_confirm_with_a_form(browser):
    response = browser.get("/logout")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "确定要退出吗" in html and "admin.zhang" in html
    assert '<form method="post">' in html and CSRF_FIELD.search(html)
    assert browser.get(ME).status_code == 200  # looking at the page signs nobody out


def test_the_logout_page_of_a_stranger_offers_to_sign_in(anonymous):
    html = anonymous.get("/logout").get_data(as_text=True)

    assert "您尚未登录" in html
    assert "<form" not in html


def test_logging_out_with_the_csrf_token_ends_the_session(browser):
    token = csrf_token(browser, "/logout")

    response = browser.post("/logout", data={"csrf_token": token})

    assert response.status_code == 302
    assert response.headers["Location"].endswith("login")
    assert_problem(browser.get(ME), 401)


def test_logging_out_without_the_csrf_token_is_400_and_keeps_the_session(browser):
    response = browser.post("/logout", data={})

    assert response.status_code == 400
    assert "表单已过期" in response.get_data(as_text=True)
    assert browser.get(ME).status_code == 200


@pytest.mark.parametrize("field, value, status, words", [
    ("username", "u" * 65, 401, "用户名或密码错误"),
    ("password", "p" * 129, 401, "用户名或密码错误"),
    ("password", "", 422, "请输入用户名和密码"),
])
def test_a_sign_in_form_no_account_could_match_says_so_not_that_the_page_expired(app, admin, field, value, status, words):
    """Before, an over-long name or password answered "the form expired", however often it was sent."""
    browser = app.test_client()
    token = CSRF_FIELD.search(browser.get("/login").get_data(as_text=True)).group(1)
    form = {"csrf_token": token, "username": "admin.zhang", "password": PASSWORD, field: value}
    response = browser.post("/login", data=form)
    assert response.status_code == status and words in response.get_data(as_text=True)
    assert "过期" not in response.get_data(as_text=True)


DOCS_CSRF = re.compile(r"const csrf = (\"[^\"]*\");")


def test_the_docs_page_lets_a_signed_in_browser_try_changes(browser, anonymous, other):
    """Before, "Try it out" sent the session's cookie without its CSRF token: every change
    answered 400 for someone signed in."""
    token = json.loads(DOCS_CSRF.search(browser.get("/docs").get_data(as_text=True)).group(1))
    assert token
    assert "X-CSRFToken" in browser.get("/docs").get_data(as_text=True)

    response = browser.patch(f"{PRINCIPALS}/{other}", json={"display_name": "王五"}, headers={"X-CSRFToken": token})
    assert response.status_code == 200, response.get_data(as_text=True)

    # A visitor gets no token (and no session just for one).
    page = anonymous.get("/docs")
    assert json.loads(DOCS_CSRF.search(page.get_data(as_text=True)).group(1)) == ""
    assert "Set-Cookie" not in page.headers


def test_logout_with_a_trailing_slash_sends_the_browser_to_logout(anonymous):
    """From /logout/ the page's relative links (and the redirect after signing out) led to
    /logout/login, a 404."""
    response = anonymous.get("/logout/")
    assert response.status_code == 302
    assert urljoin("http://localhost/logout/", response.headers["Location"]) == "http://localhost/logout"


def test_a_new_display_name_ends_no_ones_session_but_a_new_role_does(browser, client, admin):
    """Before, fixing an account's display name signed its owner out."""
    assert client.patch(f"{PRINCIPALS}/{admin}", json={"display_name": "张管理员"}).status_code == 200
    assert browser.get("/api/v1/me").status_code == 200
    assert client.patch(f"{PRINCIPALS}/{admin}", json={"role": "auditor"}).status_code == 200
    assert browser.get("/api/v1/me").status_code == 401
