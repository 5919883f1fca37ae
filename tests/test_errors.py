"""What a client and an operator see when the service itself fails."""

import logging

import click
import pytest
import sqlalchemy as sa

from gridgov import create_app
from gridgov.auth import guard
from gridgov.auth.permissions import PUBLIC


@pytest.fixture
def failing_app(tmp_path, monkeypatch):
    """A deployed app (its 500 handler on) with two public endpoints that fail: ``/boom`` raises,
    ``/bad-sql`` as the database would for a statement with a mistake in it."""
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "INSTANCE_PATH": str(tmp_path),
                      "TESTING": False, "RATELIMIT_ENABLED": False})

    @app.get("/boom")
    def boom():
        raise RuntimeError("the secret internals")

    @app.get("/bad-sql")
    def bad_sql():
        raise sa.exc.ProgrammingError("SELEC 1", {}, Exception("syntax error"))

    monkeypatch.setitem(guard.ENDPOINTS, ("boom", "GET"), PUBLIC)
    monkeypatch.setitem(guard.ENDPOINTS, ("bad_sql", "GET"), PUBLIC)
    return app


def test_an_unexpected_error_answers_a_bare_problem_and_is_logged_with_its_traceback(failing_app, caplog):
    with caplog.at_level(logging.ERROR):
        response = failing_app.test_client().get("/boom")

    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert "secret" not in response.get_data(as_text=True)
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR and "GET /boom failed" in r.getMessage()]
    assert record.exc_info and "the secret internals" in str(record.exc_info[1])

    # A resident's browser gets a page in their words; before, the problem document's JSON.
    page = failing_app.test_client().get("/boom", headers={"Accept": "text/html"})
    assert page.status_code == 500 and page.mimetype == "text/html"
    assert "系统故障" in page.get_data(as_text=True) and "secret" not in page.get_data(as_text=True)
    assert f"错误编号：{page.headers['X-Request-ID']}" in page.get_data(as_text=True)  # to quote when they call


def test_a_fault_names_its_request_in_the_answer_and_in_the_log(failing_app, caplog):
    """Before, a user's 500 said "it has been logged", and the log line held only the time and the
    path: with four workers, which traceback was theirs could not be told."""
    client = failing_app.test_client()
    with caplog.at_level(logging.ERROR):
        made = client.get("/boom")
        given = client.get("/boom", headers={"X-Request-ID": "nginx-7f3a9c"})
        odd = client.get("/boom", headers={"X-Request-ID": "a b\x01<script>"})

    request_id = made.get_json()["request_id"]
    assert len(request_id) == 32 and made.headers["X-Request-ID"] == request_id
    assert given.get_json()["request_id"] == given.headers["X-Request-ID"] == "nginx-7f3a9c"  # the proxy's own
    assert odd.get_json()["request_id"] != "a b\x01<script>"
    logged = [record.getMessage() for record in caplog.records if "GET /boom failed" in record.getMessage()]
    assert [f"[request {request_id}]" in line for line in logged] == [True, False, False]
    assert "[request nginx-7f3a9c]" in logged[1]
    assert all(line.count("[request ") == 1 for line in logged)  # once, however many apps were made
    # a request that went well says its id too, and no body changes
    assert client.get("/healthz").headers["X-Request-ID"]


def test_a_database_fault_answers_as_any_other_fault(failing_app):
    """A statement the database refuses for a reason that is no conflict (a bug): before, the
    conflict handler raised it again, and the answer was Werkzeug's generic 500 text."""
    response = failing_app.test_client().get("/bad-sql")
    assert response.status_code == 500
    assert response.get_json()["detail"] == "An unexpected error occurred; it has been logged."


@pytest.mark.parametrize("path", ["/r/", "/t/a/b", "/nothing-here"])
def test_a_browser_that_follows_a_broken_link_gets_a_page_in_chinese(anonymous, path):
    """Before, a resident's mistyped link answered an English problem document."""
    response = anonymous.get(path, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "页面不存在" in response.get_data(as_text=True)


def test_a_program_gets_a_problem_for_a_broken_link_and_one_title_per_type(anonymous, client):
    for response in (anonymous.get("/nothing-here"),
                     anonymous.get("/api/v1/nothing", headers={"Accept": "text/html"}),
                     client.get("/api/v1/units/2147483647")):
        assert response.status_code == 404 and response.mimetype == "application/problem+json"
        assert response.get_json()["title"] == "Not Found"


def test_a_command_refused_by_a_rule_says_so_in_one_line_not_a_traceback(app):
    """What a request would answer with a 4xx, a command says as a one-line error (exit 1): the
    commands that catch nothing themselves (the seed) stopped with a traceback."""
    from gridgov.db import CommandGroup
    from gridgov.errors import RuleViolation

    @click.group(cls=CommandGroup)
    def group():
        pass

    @group.command("refuse")
    def refuse():
        raise RuleViolation("太平社区第2网格3号微网格 is no longer in use.")

    result = app.test_cli_runner().invoke(group, ["refuse"])

    assert result.exit_code == 1
    assert result.output == "Error: 太平社区第2网格3号微网格 is no longer in use.\n"
