"""``flask principals …`` and ``flask tokens …``.

The commands use ``db.session`` of the current app context; the ``session`` fixture provides that
context, so a command's commit only releases a savepoint of the test's transaction.
"""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from gridgov.auth import service
from gridgov.auth.models import AdminEvent, ApiToken, Principal
from gridgov.db import utcnow
from tests.conftest import bearer_client

ME = "/api/v1/me"
PASSWORD = "correct horse battery"
TOKEN_FORM = re.compile(r"gg_[A-Za-z0-9_-]{32,}")
G11 = "510503001001001"
T2 = "510503100"


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def principal(session, username) -> Principal | None:
    return session.scalar(sa.select(Principal).where(Principal.username == username))


def issue(app, username, *options) -> str:
    result = run(app, "tokens", "issue", username, *options)
    assert result.exit_code == 0, result.output
    return result.output.splitlines()[-1]


# --- principals create --------------------------------------------------------------------------


def test_create_makes_an_account_that_signs_in_with_its_password(app, session, small_tree):
    result = run(app, "principals", "create", "zhao.liu", "--role", "grid_worker", "--scope", G11, "--password", PASSWORD)

    assert result.exit_code == 0, result.output
    assert result.stdout == f"Created zhao.liu (grid_worker, scope {G11} 永安社区第1网格).\n"
    created = principal(session, "zhao.liu")
    assert (created.role.value, created.scope_unit.code, created.display_name) == ("grid_worker", G11, "zhao.liu")
    assert created.password_hash.startswith("$argon2id$")
    signed_in = app.test_client().post("/api/v1/auth/token", json={"username": "zhao.liu", "password": PASSWORD})
    assert signed_in.status_code == 201


def test_create_asks_for_the_password_when_told_to(app, session, small_tree):
    """Found by a command-line audit: the only way to create an account with a password put it in
    the shell's history and in `ps`."""
    result = app.test_cli_runner().invoke(args=["principals", "create", "zhao.liu", "--role", "grid_worker",
                                                "--scope", G11, "--ask-password"], input=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    signed_in = app.test_client().post("/api/v1/auth/token", json={"username": "zhao.liu", "password": PASSWORD})
    assert signed_in.status_code == 201


def test_create_takes_a_password_that_begins_with_a_dash(app, session, small_tree):
    result = run(app, "principals", "create", "zhao.liu", "--role", "grid_worker", "--scope", G11,
                 "--password", "-Secret-Pass-2026!")

    assert result.exit_code == 0, result.output
    signed_in = app.test_client().post("/api/v1/auth/token",
                                       json={"username": "zhao.liu", "password": "-Secret-Pass-2026!"})
    assert signed_in.status_code == 201


def test_create_with_scope_star_covers_every_district_and_takes_a_display_name(app, session, small_tree):
    result = run(app, "principals", "create", "city.ops", "--role", "auditor", "--scope", "*", "--name", "市级审计")

    assert result.exit_code == 0, result.output
    assert "every district" in result.stdout
    created = principal(session, "city.ops")
    assert created.scope_unit is None and created.scope_path == ""
    assert created.display_name == "市级审计"
    assert created.password_hash is None


def test_create_is_audited_as_the_command_line(app, session, small_tree):
    run(app, "principals", "create", "zhao.liu", "--role", "grid_worker", "--scope", G11)

    event = session.scalar(sa.select(AdminEvent).where(AdminEvent.action == "principal.create", AdminEvent.target_label == "zhao.liu"))
    assert event.actor_id is None
    assert event.actor.startswith("cli:")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--role", "wizard", "--scope", G11], "wizard"),
        (["--role", "grid_worker", "--scope", "510503999"], "510503999"),
        (["--role", "grid_worker"], "--scope"),
        (["--scope", G11], "--role"),
    ],
    ids=["bad-role", "unknown-scope", "no-scope", "no-role"],
)
def test_create_with_a_bad_role_or_scope_fails_and_creates_nothing(app, session, small_tree, args, message):
    result = run(app, "principals", "create", "zhao.liu", *args)

    assert result.exit_code != 0
    assert message in result.stderr
    assert principal(session, "zhao.liu") is None


@pytest.mark.parametrize("username", ["ab", "zhao liu", "赵六"])
def test_create_with_a_bad_username_fails(app, session, small_tree, username):
    result = run(app, "principals", "create", username, "--role", "grid_worker", "--scope", G11)

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert principal(session, username) is None


def test_create_with_a_taken_username_fails_and_keeps_the_first(app, session, small_tree):
    run(app, "principals", "create", "zhao.liu", "--role", "grid_worker", "--scope", G11)

    result = run(app, "principals", "create", "zhao.liu", "--role", "admin", "--scope", "*")

    assert result.exit_code == 1
    assert "taken" in result.stderr
    assert principal(session, "zhao.liu").role.value == "grid_worker"


# --- principals list / deactivate ---------------------------------------------------------------


def test_list_shows_every_account_with_role_scope_and_state(app, session, small_tree):
    run(app, "principals", "create", "b.worker", "--role", "grid_worker", "--scope", G11)
    run(app, "principals", "create", "a.auditor", "--role", "auditor", "--scope", "*")
    run(app, "principals", "create", "c.gone", "--role", "town_centre", "--scope", T2)
    run(app, "principals", "deactivate", "c.gone")
    locked = principal(session, "b.worker")
    locked.locked_until = utcnow() + timedelta(minutes=5)
    session.commit()

    result = run(app, "principals", "list")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["a.auditor", "b.worker", "c.gone"]
    assert lines[0].split()[1:3] == ["auditor", "*"] and lines[0].endswith("(active)")
    assert lines[1].split()[1:4] == ["grid_worker", G11, "永安社区第1网格"] and lines[1].endswith("(active, locked)")
    assert lines[2].split()[1:4] == ["town_centre", T2, "大渡口镇"] and lines[2].endswith("(deactivated)")


def test_deactivate_ends_the_account_and_its_tokens(app, session, small_tree):
    run(app, "principals", "create", "zhao.liu", "--role", "grid_worker", "--scope", G11)
    token = issue(app, "zhao.liu")
    assert bearer_client(app, token).get(ME).status_code == 200

    result = run(app, "principals", "deactivate", "zhao.liu")

    assert result.exit_code == 0, result.output
    assert result.stdout == "Deactivated zhao.liu.\n"
    assert principal(session, "zhao.liu").active is False
    assert bearer_client(app, token).get(ME).status_code == 401
    # Run again, it says it did nothing (before: "Deactivated zhao.liu." again).
    assert run(app, "principals", "deactivate", "zhao.liu").stdout == "zhao.liu is deactivated already.\n"


def test_activate_brings_a_deactivated_account_back_without_its_old_tokens(app, session, small_tree):
    run(app, "principals", "create", "zhao.liu", "--role", "grid_worker", "--scope", G11)
    token = issue(app, "zhao.liu")
    run(app, "principals", "deactivate", "zhao.liu")

    result = run(app, "principals", "activate", "zhao.liu")

    assert result.exit_code == 0, result.output
    assert result.stdout == "Reactivated zhao.liu.\n"
    assert principal(session, "zhao.liu").active is True
    assert bearer_client(app, token).get(ME).status_code == 401
    assert bearer_client(app, issue(app, "zhao.liu")).get(ME).status_code == 200
    assert run(app, "principals", "activate", "zhao.liu").stdout == "zhao.liu is active already.\n"


@pytest.mark.parametrize("args", [
    ["principals", "deactivate", "zhao.l\udce9"], ["principals", "unlock", "\udcd5\udcd4"],
    ["tokens", "issue", "zhao.l\udce9"], ["tokens", "revoke", "gg_\udce9"],
])
def test_a_name_the_terminal_sent_in_another_encoding_is_refused_in_one_line(app, session, args):
    """Found by a command-line audit: bytes a GBK terminal sent into a UTF-8 locale (which Python
    reads as surrogates) ended the command in a traceback."""
    result = run(app, *args)

    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "not valid text in this terminal's encoding" in result.output


def test_deactivate_of_an_unknown_user_fails(app, session):
    result = run(app, "principals", "deactivate", "nobody.here")

    assert result.exit_code == 1
    assert "nobody.here" in result.stderr


# --- tokens issue / revoke ----------------------------------------------------------------------


def test_issue_prints_the_token_alone_on_the_last_line_and_it_works(app, session, small_tree):
    run(app, "principals", "create", "zhao.liu", "--role", "grid_worker", "--scope", G11)

    result = run(app, "tokens", "issue", "zhao.liu")

    assert result.exit_code == 0, result.output
    token = result.output.splitlines()[-1]
    assert TOKEN_FORM.fullmatch(token)
    assert result.stdout == token + "\n"  # the token alone on stdout; the notice goes to stderr
    assert "shown only now" in result.stderr
    me = bearer_client(app, token).get(ME)
    assert me.status_code == 200 and me.get_json()["username"] == "zhao.liu"


@pytest.mark.parametrize("options, days", [([], 90), (["--expires-in", "7"], 7), (["--expires-in", "3650"], 3650)])
def test_issue_sets_the_expiry(app, session, small_tree, options, days):
    run(app, "principals", "create", "zhao.liu", "--role", "grid_worker", "--scope", G11)

    token = issue(app, "zhao.liu", *options)

    row = session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == service.token_hash(token)))
    assert abs(row.expires_at - (utcnow() + timedelta(days=days))) < timedelta(minutes=1)
    assert row.name == "cli"


@pytest.mark.parametrize("days", ["0", "3651", "-1", "ninety"])
def test_issue_refuses_an_expiry_out_of_range(app, session, small_tree, days):
    run(app, "principals", "create", "zhao.liu", "--role", "grid_worker", "--scope", G11)

    result = run(app, "tokens", "issue", "zhao.liu", "--expires-in", days)

    assert result.exit_code == 2
    assert not session.scalars(sa.select(ApiToken).join(Principal).where(Principal.username == "zhao.liu")).all()


def test_issue_for_an_unknown_or_deactivated_account_fails(app, session, small_tree):
    run(app, "principals", "create", "zhao.liu", "--role", "grid_worker", "--scope", G11)
    run(app, "principals", "deactivate", "zhao.liu")

    for username in ("nobody.here", "zhao.liu"):
        result = run(app, "tokens", "issue", username)
        assert result.exit_code == 1, result.output
        assert result.stdout == ""
        assert result.stderr.startswith("Error: ")


@pytest.mark.parametrize("by", ["id", "token"])
def test_revoke_by_id_or_by_the_token_itself(app, session, small_tree, by):
    run(app, "principals", "create", "zhao.liu", "--role", "grid_worker", "--scope", G11)
    token = issue(app, "zhao.liu")
    kept = issue(app, "zhao.liu")
    token_id = session.scalar(sa.select(ApiToken.id).where(ApiToken.token_hash == service.token_hash(token)))

    result = run(app, "tokens", "revoke", str(token_id) if by == "id" else token)

    assert result.exit_code == 0, result.output
    assert result.stdout == f"Revoked token {token_id} of zhao.liu.\n"
    assert bearer_client(app, token).get(ME).status_code == 401
    assert bearer_client(app, kept).get(ME).status_code == 200
    again = run(app, "tokens", "revoke", str(token_id) if by == "id" else token)
    assert again.stdout == f"Token {token_id} of zhao.liu was revoked already.\n"


@pytest.mark.parametrize("argument", ["999999", "gg_not_a_token_of_anyone"])
def test_revoke_of_an_unknown_token_fails(app, session, argument):
    result = run(app, "tokens", "revoke", argument)

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")


# --- the same checks as the API ------------------------------------------------------------------


@pytest.mark.parametrize("options, message", [
    (["--name", "名" * 101], "--name"),
    (["--name", "a\x01b"], "--name"),
    (["--password", "short"], "--password"),
    (["--name", ""], "--name"),
], ids=["long-name", "control-character", "short-password", "blank-name"])
def test_create_checks_what_the_api_checks_and_creates_nothing(app, session, small_tree, options, message):
    """Before, the command saved what the API refuses (and a name too long for PostgreSQL's
    column was a traceback there)."""
    result = run(app, "principals", "create", "zhao.liu", "--role", "grid_worker", "--scope", G11, *options)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert principal(session, "zhao.liu") is None


@pytest.mark.parametrize("name", ["", "x" * 101], ids=["blank", "too-long"])
def test_issue_checks_the_tokens_name_as_the_api_does(app, session, small_tree, name):
    run(app, "principals", "create", "zhao.liu", "--role", "grid_worker", "--scope", G11)
    result = run(app, "tokens", "issue", "zhao.liu", "--name", name)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: --name")
    assert session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0


@pytest.mark.parametrize("argument", ["99999999999999999999999", "²", "٢"])
def test_revoke_takes_an_id_only_in_plain_digits(app, session, small_tree, argument):
    """Before: a traceback for the first two, and "٢" revoked token 2."""
    run(app, "principals", "create", "zhao.liu", "--role", "grid_worker", "--scope", G11)
    issue(app, "zhao.liu")
    issue(app, "zhao.liu")
    result = run(app, "tokens", "revoke", argument)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert session.scalar(sa.select(sa.func.count()).select_from(ApiToken).where(ApiToken.revoked_at.is_not(None))) == 0


def test_accounts_are_found_as_people_type_their_names(app, session, small_tree):
    """Before, `deactivate NAXI.ADMIN` said there was no such account, though sign-in found it."""
    run(app, "principals", "create", "zhao.liu", "--role", "grid_worker", "--scope", G11)
    assert " zhao.liu" not in issue(app, " Zhao.Liu ")
    result = run(app, "principals", "deactivate", "ZHAO.LIU")
    assert result.exit_code == 0 and result.stdout == "Deactivated zhao.liu.\n"


def test_rename_gives_an_account_a_new_name_it_signs_in_with(app, session, small_tree):
    run(app, "principals", "create", "zhao.liu", "--role", "grid_worker", "--scope", G11)
    run(app, "principals", "create", "wang.wu", "--role", "grid_worker", "--scope", G11)
    token = issue(app, "zhao.liu")

    result = run(app, "principals", "rename", "zhao.liu", "Zhao.Liu2")

    assert result.exit_code == 0, result.output
    assert principal(session, "Zhao.Liu2") is not None and principal(session, "zhao.liu") is None
    assert bearer_client(app, token).get(ME).get_json()["username"] == "Zhao.Liu2"
    for taken_or_bad in ("WANG.WU", "x", "有中文"):
        refused = run(app, "principals", "rename", "Zhao.Liu2", taken_or_bad)
        assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert principal(session, "Zhao.Liu2") is not None


# --- principals update / password / unlock ------------------------------------------------------


def test_update_changes_the_role_and_scope_of_an_account_that_reads_personal_data(app, session, small_tree):
    """The README sends operators here for what only an admin over the whole installation may do
    in the API: before, there was no such command."""
    run(app, "principals", "create", "naxi.cmd", "--role", "district_command", "--scope", "510503")
    token = issue(app, "naxi.cmd")

    result = run(app, "principals", "update", "Naxi.Cmd", "--role", "auditor", "--scope", T2, "--name", "大渡口审计")

    assert result.exit_code == 0, result.output
    changed = principal(session, "naxi.cmd")
    assert (changed.role.value, changed.scope_unit.code, changed.display_name) == ("auditor", T2, "大渡口审计")
    assert bearer_client(app, token).get(ME).get_json()["role"] == "auditor"
    assert session.scalar(sa.select(AdminEvent).where(AdminEvent.action == "principal.update")
                          .order_by(AdminEvent.id.desc())).target_id == changed.id
    assert run(app, "principals", "update", "naxi.cmd", "--scope", "*").exit_code == 0
    assert principal(session, "naxi.cmd").scope_unit is None
    for refused in (["--role", "king"], ["--scope", "999999"], ["--name", ""], []):
        result = run(app, "principals", "update", "naxi.cmd", *refused)
        assert result.exit_code != 0 and "Traceback" not in result.output, (refused, result.output)


def test_password_sets_a_new_one_and_ends_the_lock_out_sessions_and_tokens(app, session, small_tree):
    run(app, "principals", "create", "naxi.cmd", "--role", "district_command", "--scope", "510503")
    token = issue(app, "naxi.cmd")

    result = run(app, "principals", "password", "naxi.cmd", "--password", PASSWORD)

    assert result.exit_code == 0, result.output
    assert bearer_client(app, token).get(ME).status_code == 401
    signed_in = app.test_client().post("/api/v1/auth/token", json={"username": "naxi.cmd", "password": PASSWORD})
    assert signed_in.status_code == 201
    short = run(app, "principals", "password", "naxi.cmd", "--password", "short")
    assert short.exit_code == 1 and "--password" in short.output and "Traceback" not in short.output


def test_unlock_ends_a_lock_out(app, session, small_tree):
    run(app, "principals", "create", "zhao.liu", "--role", "grid_worker", "--scope", G11, "--password", PASSWORD)
    for _ in range(5):
        app.test_client().post("/api/v1/auth/token", json={"username": "zhao.liu", "password": "wrong password!"})
    assert service.is_locked(principal(session, "zhao.liu"))

    result = run(app, "principals", "unlock", "zhao.liu")

    assert result.exit_code == 0 and result.stdout == "Unlocked zhao.liu.\n"
    session.expire_all()
    assert not service.is_locked(principal(session, "zhao.liu"))
    assert run(app, "principals", "unlock", "zhao.liu").stdout == "zhao.liu is not locked out.\n"
    signed_in = app.test_client().post("/api/v1/auth/token", json={"username": "zhao.liu", "password": PASSWORD})
    assert signed_in.status_code == 201
