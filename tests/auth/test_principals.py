"""The admin API for accounts, and the admin audit log of account and unit changes.

On the small tree of ``conftest.SMALL_TREE_CSV``::

    510503 纳溪区 (D)
    ├── 510503001 安富街道 (T1) ── 永安社区 (V1) ── G11, G12;  新民社区 (V2) ── G21
    └── 510503100 大渡口镇 (T2) ── 金龙村 (V3) ── G31
"""

import re

import pytest

from tests.conftest import bearer_client

ME = "/api/v1/me"
P = "/api/v1/principals"
U = "/api/v1/units"
AUDIT = "/api/v1/audit"
TOKENS = "/api/v1/tokens"
PASSWORD = "correct horse battery"
CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')

D = "510503"
T1, T2 = "510503001", "510503100"
V1, V2, V3 = "510503001001", "510503001002", "510503100201"
G11, G12, G21, G31 = "510503001001001", "510503001001002", "510503001002001", "510503100201001"
M112 = "510503001001001002"


@pytest.fixture
def tree(small_tree) -> dict[str, int]:
    """The small tree of ``conftest.SMALL_TREE_CSV``, code → id."""
    return {code: unit.id for code, unit in small_tree.items()}


@pytest.fixture
def town_admin(app, tree, make_principal):
    """An admin whose scope is 安富街道 (T1)."""
    _id, token = make_principal("admin", T1, username="admin.anfu")
    return bearer_client(app, token)


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["detail"]
    return body


def new_account(username="zhao.liu", *, scope, role="grid_worker", **extra) -> dict:
    return {"username": username, "display_name": "赵六", "role": role, "scope_unit_id": scope, **extra}


def usernames(client) -> set[str]:
    response = client.get(P, query_string={"limit": 500})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["next_cursor"] is None
    return {item["username"] for item in response.get_json()["items"]}


def page_sign_in(app, username, password=PASSWORD):
    browser = app.test_client()
    token = CSRF_FIELD.search(browser.get("/login").get_data(as_text=True)).group(1)
    response = browser.post("/login", data={"csrf_token": token, "username": username, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    return browser


def audit_events(client, **query) -> list[dict]:
    response = client.get(AUDIT, query_string={"limit": 500, **query})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["items"]


# --- creating -----------------------------------------------------------------------------------


def test_an_admin_creates_an_account_that_can_sign_in(app, client, anonymous, tree):
    response = client.post(P, json=new_account(scope=tree[G11], password=PASSWORD))

    assert response.status_code == 201, response.get_data(as_text=True)
    created = response.get_json()
    assert (created["username"], created["display_name"], created["role"]) == ("zhao.liu", "赵六", "grid_worker")
    assert created["scope_unit"]["code"] == G11
    assert created["district_id"] == tree[D]
    assert created["active"] is True and created["locked"] is False and created["has_password"] is True
    assert "password" not in created and "password_hash" not in created
    assert client.get(f"{P}/{created['id']}").get_json() == created
    signed_in = anonymous.post("/api/v1/auth/token", json={"username": "zhao.liu", "password": PASSWORD})
    assert signed_in.status_code == 201


def test_an_account_without_a_password_cannot_sign_in(client, anonymous, tree):
    created = client.post(P, json=new_account(scope=tree[G11])).get_json()

    assert created["has_password"] is False
    assert anonymous.post("/api/v1/auth/token", json={"username": "zhao.liu", "password": ""}).status_code == 422
    assert anonymous.post("/api/v1/auth/token", json={"username": "zhao.liu", "password": "x"}).status_code == 401


@pytest.mark.parametrize(
    "username",
    ["ab", "a" * 65, "zhao liu", "赵六", "zhao;liu", "zhao/liu", "zhao.liu\n", "", "zhao@example.com"],
)
def test_a_username_breaking_the_rules_is_422(client, tree, username):
    response = client.post(P, json=new_account(username, scope=tree[G11]))

    body = assert_problem(response, 422)
    assert "username" in body["errors"]
    assert username not in usernames(client)


@pytest.mark.parametrize("username", ["abc", "a" * 64, "Zhao_Liu-2.x"])
def test_a_username_within_the_rules_is_accepted(client, tree, username):
    assert client.post(P, json=new_account(username, scope=tree[G11])).status_code == 201


def test_a_taken_username_is_409(client, tree, make_principal):
    make_principal("grid_worker", username="zhao.liu")

    body = assert_problem(client.post(P, json=new_account(scope=tree[G11])), 409)

    assert body["errors"] == {"username": ["taken"]}


def test_a_username_taken_by_a_racing_request_is_409_and_leaves_nothing(client, tree, monkeypatch, caplog):
    """Two admins create one username at the same moment: both pass the friendly check, the
    database's unique index refuses the second. It answers a problem (not a 500), and neither the
    account nor its audit entry is left half-made."""
    from gridgov.auth import service

    assert client.post(P, json=new_account(scope=tree[G11])).status_code == 201
    monkeypatch.setattr(service, "username_taken", lambda session, username, **_kwargs: False)
    before = audit_events(client, action="principal.create")

    body = assert_problem(client.post(P, json=new_account(scope=tree[G12], display_name="另一个赵六")), 409)

    assert "try again" in body["detail"].lower()
    # the operator can tell a lost race from a bug: the refusal is in the log, with the request
    assert any(record.levelname == "WARNING" and "POST /api/v1/principals" in record.getMessage()
               and "refused by the database" in record.getMessage() for record in caplog.records)
    assert audit_events(client, action="principal.create") == before
    [account] = [item for item in client.get(P, query_string={"limit": 500}).get_json()["items"]
                 if item["username"] == "zhao.liu"]
    assert account["display_name"] == "赵六"


def test_a_taken_username_is_409_even_when_its_account_is_outside_the_admins_scope(town_admin, make_principal, tree):
    make_principal("grid_worker", T2, username="zhao.liu")

    assert_problem(town_admin.post(P, json=new_account(scope=tree[G11])), 409)


@pytest.mark.parametrize("role", ["no_such_role", "Admin", ""])
def test_an_unknown_role_is_422(client, tree, role):
    assert_problem(client.post(P, json=new_account(scope=tree[G11], role=role)), 422)


@pytest.mark.parametrize("password", ["short", "x" * 129])
def test_a_password_must_be_8_to_128_characters(client, tree, password):
    assert_problem(client.post(P, json=new_account(scope=tree[G11], password=password)), 422)


def test_a_scope_outside_the_admins_own_is_404_and_creates_nothing(client, town_admin, tree):
    response = town_admin.post(P, json=new_account(scope=tree[V3]))

    assert_problem(response, 404)
    assert "zhao.liu" not in usernames(client)


def test_a_scope_inside_the_admins_own_is_fine(town_admin, tree):
    response = town_admin.post(P, json=new_account(scope=tree[G21], role="admin"))

    assert response.status_code == 201
    assert response.get_json()["scope_unit"]["code"] == G21


def test_a_scoped_admin_cannot_grant_every_district(client, town_admin, tree):
    body = assert_problem(town_admin.post(P, json=new_account(scope=None, role="admin")), 403)

    assert "whole installation" in body["detail"]
    assert "zhao.liu" not in usernames(client)


def test_a_scoped_admin_cannot_widen_an_account_to_every_district(client, town_admin, tree, make_principal):
    account, _ = make_principal("grid_worker", G11)

    assert_problem(town_admin.patch(f"{P}/{account}", json={"scope_unit_id": None}), 403)

    assert client.get(f"{P}/{account}").get_json()["scope_unit"]["code"] == G11


def test_an_admin_over_every_district_can_grant_it(client, tree):
    response = client.post(P, json=new_account(scope=None, role="auditor"))

    assert response.status_code == 201
    assert response.get_json()["scope_unit_id"] is None and response.get_json()["scope_unit"] is None


# --- reading ------------------------------------------------------------------------------------


def test_the_list_holds_only_the_accounts_of_the_admins_subtree(client, town_admin, tree, make_principal):
    for username, scope in [("in.t1", T1), ("in.v2", V2), ("in.g11", G11), ("out.t2", T2), ("out.g31", G31), ("out.d", D)]:
        make_principal("grid_worker", scope, username=username)
    make_principal("auditor", None, username="out.everywhere")

    seen = usernames(town_admin)

    assert seen == {"admin.anfu", "in.t1", "in.v2", "in.g11"}
    assert {"out.t2", "out.g31", "out.d", "out.everywhere", "admin.anfu", "in.g11"} <= usernames(client)


def test_the_list_filters_by_role_and_state_and_pages(client, tree, make_principal):
    workers = [make_principal("grid_worker", G11)[0] for _ in range(3)]
    client.post(f"{P}/{workers[0]}/deactivate")

    active_workers = client.get(P, query_string={"role": "grid_worker", "active": "true"}).get_json()["items"]
    first = client.get(P, query_string={"limit": 2}).get_json()
    second = client.get(P, query_string={"limit": 2, "cursor": first["next_cursor"]}).get_json()

    assert [item["id"] for item in active_workers] == workers[1:]
    assert len(first["items"]) == 2 and first["next_cursor"]
    assert not {item["id"] for item in first["items"]} & {item["id"] for item in second["items"]}


@pytest.mark.parametrize(
    "method, suffix, body",
    [
        ("get", "", None),
        ("patch", "", {"display_name": "外人"}),
        ("post", "/deactivate", None),
        ("post", "/unlock", None),
        ("post", "/password", {"password": "a new password"}),
    ],
)
def test_an_account_outside_the_admins_scope_does_not_exist_for_them(client, town_admin, make_principal, method, suffix, body):
    outsider, token = make_principal("grid_worker", T2, username="out.t2")

    response = getattr(town_admin, method)(f"{P}/{outsider}{suffix}", json=body)

    assert_problem(response, 404)
    after = client.get(f"{P}/{outsider}").get_json()
    assert (after["display_name"], after["active"], after["version"]) == ("测试 grid_worker", True, 1)


# --- changing -----------------------------------------------------------------------------------


def test_a_patch_with_the_current_version_changes_and_bumps_it(client, tree, make_principal):
    account, _ = make_principal("grid_worker", G11)

    response = client.patch(f"{P}/{account}", json={"display_name": "赵六", "role": "village_station", "scope_unit_id": tree[V1], "version": 1})

    assert response.status_code == 200, response.get_data(as_text=True)
    changed = response.get_json()
    assert (changed["display_name"], changed["role"], changed["scope_unit"]["code"]) == ("赵六", "village_station", V1)
    assert changed["version"] == 2


def test_a_patch_with_a_stale_version_is_409_and_changes_nothing(client, tree, make_principal):
    account, _ = make_principal("grid_worker", G11)
    client.patch(f"{P}/{account}", json={"display_name": "赵六"})  # now at version 2

    response = client.patch(f"{P}/{account}", json={"display_name": "钱七", "version": 1})

    body = assert_problem(response, 409)
    assert body["current_version"] == 2
    assert client.get(f"{P}/{account}").get_json()["display_name"] == "赵六"


def test_a_patch_that_changes_nothing_keeps_the_version(client, tree, make_principal):
    account, _ = make_principal("grid_worker", G11)

    response = client.patch(f"{P}/{account}", json={"role": "grid_worker", "scope_unit_id": tree[G11]})

    assert response.get_json()["version"] == 1


@pytest.mark.parametrize("change", ["role", "scope"])
def test_an_admin_cannot_change_its_own_role_or_scope(app, tree, make_principal, change):
    me, token = make_principal("admin", T1)
    admin = bearer_client(app, token)
    body = {"role": "district_command"} if change == "role" else {"scope_unit_id": tree[G11]}  # even narrower

    assert_problem(admin.patch(f"{P}/{me}", json=body), 403)

    after = admin.get(ME).get_json()
    assert (after["role"], after["scope_unit"]["code"], after["version"]) == ("admin", T1, 1)


def test_an_admin_may_change_its_own_display_name(app, make_principal):
    me, token = make_principal("admin")

    response = bearer_client(app, token).patch(f"{P}/{me}", json={"display_name": "张管理员"})

    assert response.status_code == 200
    assert response.get_json()["display_name"] == "张管理员"


def test_a_role_change_ends_the_accounts_sessions_and_takes_effect_on_its_tokens(app, client, tree, make_principal):
    account, token = make_principal("grid_worker", G11, password=PASSWORD, username="zhao.liu")
    browser = page_sign_in(app, "zhao.liu")

    client.patch(f"{P}/{account}", json={"role": "auditor"})

    assert_problem(browser.get(ME), 401)
    assert bearer_client(app, token).get(ME).get_json()["role"] == "auditor"


def test_deactivating_revokes_tokens_ends_sessions_and_sign_in(app, client, anonymous, tree, make_principal):
    account, fixture_token = make_principal("grid_worker", G11, password=PASSWORD, username="zhao.liu")
    client.post(TOKENS, json={"principal_id": account, "name": "second"})
    browser = page_sign_in(app, "zhao.liu")

    response = client.post(f"{P}/{account}/deactivate")

    assert response.status_code == 200
    assert response.get_json()["active"] is False
    tokens = client.get(TOKENS, query_string={"principal_id": account}).get_json()["items"]
    assert len(tokens) == 2 and all(token["revoked_at"] for token in tokens)
    assert_problem(bearer_client(app, fixture_token).get(ME), 401)
    assert_problem(browser.get(ME), 401)
    assert_problem(anonymous.post("/api/v1/auth/token", json={"username": "zhao.liu", "password": PASSWORD}), 401)


def test_deactivating_twice_changes_nothing_more(client, tree, make_principal):
    account, _ = make_principal("grid_worker", G11)
    first = client.post(f"{P}/{account}/deactivate").get_json()

    second = client.post(f"{P}/{account}/deactivate").get_json()

    assert second["version"] == first["version"]
    assert len(audit_events(client, action="principal.deactivate")) == 1


def test_a_deactivated_account_can_be_reactivated_under_its_own_name(app, client, anonymous, tree, make_principal):
    """Before, nothing turned an account back on, and its name stayed taken: one mistaken
    deactivation of district command's account meant a new account under a new name."""
    account, old_token = make_principal("grid_worker", G11, password=PASSWORD, username="zhao.liu")
    off = client.post(f"{P}/{account}/deactivate").get_json()

    on = client.post(f"{P}/{account}/activate")

    assert on.status_code == 200 and on.get_json()["active"] is True
    assert on.get_json()["version"] > off["version"]
    assert_problem(bearer_client(app, old_token).get(ME), 401)  # revoked stays revoked
    signed_in = anonymous.post("/api/v1/auth/token", json={"username": "zhao.liu", "password": PASSWORD})
    assert signed_in.status_code == 201
    assert bearer_client(app, signed_in.get_json()["token"]).get(ME).get_json()["username"] == "zhao.liu"
    assert len(audit_events(client, action="principal.activate")) == 1
    again = client.post(f"{P}/{account}/activate").get_json()  # already active: nothing more
    assert again["version"] == on.get_json()["version"]
    assert len(audit_events(client, action="principal.activate")) == 1


def test_an_admin_that_may_not_hand_out_personal_data_may_take_it_away_but_not_give_it_back(
        app, client, tree, make_principal):
    admin = bearer_client(app, make_principal("admin", D)[1])
    command, _ = make_principal("district_command", D)
    worker, _ = make_principal("grid_worker", G11)

    assert admin.post(f"{P}/{command}/deactivate").status_code == 200  # in an incident, at once
    refusal = assert_problem(admin.post(f"{P}/{command}/activate"), 403)["detail"]
    assert "personal data" in refusal and "flask --app gridgov principals activate" in refusal  # what does it
    assert client.get(f"{P}/{command}").get_json()["active"] is False
    assert client.post(f"{P}/{command}/activate").get_json()["active"] is True  # the installation's admin

    admin.post(f"{P}/{worker}/deactivate")
    assert admin.post(f"{P}/{worker}/activate").get_json()["active"] is True


# --- the audit log ------------------------------------------------------------------------------


def test_every_account_change_is_in_the_audit_log_with_actor_action_and_target(app, client, anonymous, tree):
    me = client.get(ME).get_json()
    account = client.post(P, json=new_account(scope=tree[G11], password=PASSWORD)).get_json()["id"]
    client.patch(f"{P}/{account}", json={"display_name": "赵小六"})
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        anonymous.post("/api/v1/auth/token", json={"username": "zhao.liu", "password": "wrong password"})
    client.post(f"{P}/{account}/unlock")
    client.post(f"{P}/{account}/password", json={"password": "another password"})
    token_id = client.post(TOKENS, json={"principal_id": account}).get_json()["id"]
    client.delete(f"{TOKENS}/{token_id}")
    client.post(f"{P}/{account}/deactivate")

    events = [event for event in audit_events(client, target_type="principal") if event["target_id"] == account]

    by_admin = [event for event in events if event["action"] != "principal.locked"]
    assert [event["action"] for event in reversed(by_admin)] == [
        "principal.create",
        "principal.update",
        "principal.unlock",
        "principal.password_reset",
        "token.issue",
        "token.revoke",
        "principal.deactivate",
    ]
    for event in by_admin:
        assert (event["actor_id"], event["actor"]) == (me["id"], me["username"])
        assert (event["target_type"], event["target_label"]) == ("principal", "zhao.liu")
    update = next(event for event in events if event["action"] == "principal.update")
    assert update["details"]["before"] == {"display_name": "赵六"}
    issue = next(event for event in events if event["action"] == "token.issue")
    assert issue["details"]["token_id"] == token_id
    assert "principal.locked" in {event["action"] for event in events}
    assert all(PASSWORD not in str(event) and "another password" not in str(event) for event in events)


def test_unit_changes_are_in_the_audit_log(client, tree):
    me = client.get(ME).get_json()
    created = client.post(U, json={"name": "新网格", "level": "grid", "parent_id": tree[V1]}).get_json()
    client.patch(f"{U}/{created['id']}", json={"name": "新网格（改）"})
    client.post(f"{U}/{created['id']}/move", json={"parent_id": tree[V2]})
    client.delete(f"{U}/{created['id']}")
    imported = client.post(
        f"{U}/import",
        data="code,name,level,parent_code\n510503100202,石龙村,village,510503100\n",
        content_type="text/csv",
    )
    assert imported.status_code == 200, imported.get_data(as_text=True)

    events = audit_events(client, target_type="unit")

    # by label: on SQLite the imported village may take the deleted grid's id
    mine = [event for event in events if event["target_label"].startswith(created["code"] + " ")]
    assert [event["action"] for event in reversed(mine)] == [
        "unit.create", "unit.update", "unit.move_out", "unit.move", "unit.delete"]
    assert all((event["actor_id"], event["actor"]) == (me["id"], me["username"]) for event in mine)
    assert all(event["target_id"] == created["id"] for event in mine)
    assert mine[-1]["target_label"] == f"{created['code']} 新网格"
    update = next(event for event in mine if event["action"] == "unit.update")
    assert update["details"]["after"] == {"name": "新网格（改）"}
    move = next(event for event in mine if event["action"] == "unit.move")
    assert move["details"]["to_parent_id"] == tree[V2]
    imported_event = next(event for event in events if event["action"] == "unit.import")  # the newest
    assert imported_event["target_label"] == "510503100202 石龙村"
    assert imported_event["details"]["created"] == 1
    assert imported_event["actor"] == me["username"]


def test_the_audit_log_is_newest_first_and_filters_by_action(client, tree, make_principal):
    accounts = [make_principal("grid_worker", G11)[0] for _ in range(3)]

    events = audit_events(client, action="principal.create")

    assert all(event["action"] == "principal.create" for event in events)
    assert [event["target_id"] for event in events if event["target_id"] in accounts] == accounts[::-1]
    assert [event["id"] for event in events] == sorted((event["id"] for event in events), reverse=True)


def test_an_auditor_reads_the_audit_log_of_its_subtree_only(app, client, tree, make_principal):
    _id, auditor_token = make_principal("auditor", T2)
    inside, _ = make_principal("grid_worker", G31, username="in.g31")
    outside, _ = make_principal("grid_worker", G11, username="out.g11")
    client.patch(f"{P}/{inside}", json={"display_name": "甲"})
    client.patch(f"{P}/{outside}", json={"display_name": "乙"})
    client.patch(f"{U}/{tree[G31]}", json={"households": 610})
    client.patch(f"{U}/{tree[G11]}", json={"households": 620})
    auditor = bearer_client(app, auditor_token)

    events = audit_events(auditor)

    labels = {(event["action"], event["target_label"]) for event in events}
    assert {("principal.create", "in.g31"), ("principal.update", "in.g31")} <= labels
    assert ("unit.update", f"{G31} 金龙村第1网格") in labels
    outside = {"out.g11", f"{G11} 永安社区第1网格", f"{D} 纳溪区"}  # the last: the tree's import
    assert not outside & {label for _action, label in labels}
    everywhere = {(event["action"], event["target_label"]) for event in audit_events(client)}
    assert ("principal.update", "out.g11") in everywhere and ("unit.update", f"{G11} 永安社区第1网格") in everywhere


def test_a_move_leaves_the_audit_log_where_things_happened(app, client, tree, make_principal):
    """Before, moving a grid to another town carried its history along: the first town's auditor
    lost the events it had seen, and never saw the grid leave."""
    _id, first = make_principal("auditor", T1)
    _id, second = make_principal("auditor", T2)
    first, second = bearer_client(app, first), bearer_client(app, second)
    grid = client.post(U, json={"name": "新网格", "level": "grid", "parent_id": tree[V1]}).get_json()
    client.patch(f"{U}/{grid['id']}", json={"name": "新网格（改）"})
    client.post(f"{U}/{grid['id']}/move", json={"parent_id": tree[V3]})

    def actions(auditor):
        return [event["action"] for event in reversed(audit_events(auditor)) if event["target_id"] == grid["id"]]

    assert actions(first) == ["unit.create", "unit.update", "unit.move_out"]
    assert actions(second) == ["unit.move"]


def test_an_import_across_districts_is_in_each_districts_audit_log(app, client, tree, make_principal):
    _id, naxi = make_principal("auditor", D)
    imported = client.post(f"{U}/import", content_type="text/csv", data=(
        "code,name,level,parent_code\n510504,江阳测试区,district,510500\n510503001001,永安社区（更名）,village,510503001\n"))
    assert imported.status_code == 200, imported.get_data(as_text=True)

    (event,) = [e for e in audit_events(bearer_client(app, naxi)) if e["action"] == "unit.import"][:1]
    assert event["target_label"] == "510503001001 永安社区（更名）" and event["details"]["units_here"] == 1
    labels = {e["target_label"] for e in audit_events(client, action="unit.import")}
    assert {"510504 江阳测试区", "510503001001 永安社区（更名）"} <= labels


@pytest.mark.parametrize("role", ["grid_worker", "district_command", "triage_clerk"])
def test_roles_without_audit_read_get_403(app, tree, make_principal, role):
    _id, token = make_principal(role, T1)

    assert_problem(bearer_client(app, token).get(AUDIT), 403)


# --- units that are someone's scope -------------------------------------------------------------


def test_deleting_a_unit_that_is_an_accounts_scope_is_409(client, tree, make_principal):
    make_principal("grid_worker", M112, username="micro.grid")

    body = assert_problem(client.delete(f"{U}/{tree[M112]}"), 409)

    assert M112 in body["detail"]
    assert client.get(f"{U}/{tree[M112]}").status_code == 200


def test_deleting_a_unit_that_is_a_deactivated_accounts_scope_is_409_too(client, tree, make_principal):
    account, _ = make_principal("grid_worker", M112)
    client.post(f"{P}/{account}/deactivate")

    assert_problem(client.delete(f"{U}/{tree[M112]}"), 409)


def test_a_unit_is_deletable_once_no_account_has_it_as_scope(client, tree, make_principal):
    account, _ = make_principal("grid_worker", M112)
    client.patch(f"{P}/{account}", json={"scope_unit_id": tree[G11]})

    assert client.delete(f"{U}/{tree[M112]}").status_code == 204


def test_moving_a_unit_moves_the_scope_of_its_accounts(app, client, tree, make_principal):
    _id, v2_admin_token = make_principal("admin", V2)
    account, _ = make_principal("grid_worker", G11, username="moves.along")
    v2_admin = bearer_client(app, v2_admin_token)
    assert "moves.along" not in usernames(v2_admin)

    assert client.post(f"{U}/{tree[G11]}/move", json={"parent_id": tree[V2]}).status_code == 200

    assert "moves.along" in usernames(v2_admin)
    assert v2_admin.get(f"{P}/{account}").get_json()["scope_unit"]["code"] == G11


# --- handing out personal data ------------------------------------------------------------------


def test_a_district_admin_cannot_hand_itself_the_reading_of_personal_data(app, client, tree, make_principal):
    """Before, an admin without pii:read issued itself a token of district command (or set its
    password, or made an account of that role) and read every party's name and phone."""
    admin = bearer_client(app, make_principal("admin", D)[1])
    command, _ = make_principal("district_command", D)
    worker, _ = make_principal("grid_worker", G11)

    refused = [
        admin.post(TOKENS, json={"principal_id": command, "name": "x"}),
        admin.post(f"{P}/{command}/password", json={"password": "a new password"}),
        admin.post(P, json=new_account(scope=tree[D], role="auditor", password=PASSWORD)),
        admin.patch(f"{P}/{worker}", json={"role": "district_command", "scope_unit_id": tree[D]}),
    ]
    # Each refusal names the command that does it on the command line.
    commands = ["tokens issue", "principals password", "principals create", "principals update"]
    for response, command_line in zip(refused, commands, strict=True):
        detail = assert_problem(response, 403)["detail"]
        assert "personal data" in detail and f"(flask --app gridgov {command_line})" in detail
    tokens = client.get(TOKENS, query_string={"principal_id": command}).get_json()["items"]
    assert [token["name"] for token in tokens] == ["test"]
    assert "zhao.liu" not in usernames(client)
    assert client.get(f"{P}/{worker}").get_json()["role"] == "grid_worker"

    # A specialist reads the parties of the cases given to them; a town's command, widened to
    # the district, would read the district's.
    specialist, _ = make_principal("specialist", D)
    town_command, _ = make_principal("district_command", T1)
    for response in (admin.post(TOKENS, json={"principal_id": specialist, "name": "x"}),
                     admin.post(f"{P}/{specialist}/password", json={"password": "a new password"}),
                     admin.patch(f"{P}/{town_command}", json={"scope_unit_id": tree[D]})):
        assert "personal data" in assert_problem(response, 403)["detail"]
    assert client.get(f"{P}/{town_command}").get_json()["scope_unit"]["code"] == T1

    # What reads no personal data stays the admin's to hand out; so does all of it to the
    # installation's own admin.
    assert admin.post(TOKENS, json={"principal_id": worker, "name": "手机"}).status_code == 201
    assert client.post(TOKENS, json={"principal_id": command, "name": "x"}).status_code == 201
