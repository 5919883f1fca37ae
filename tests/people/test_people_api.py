"""The people API (issue 5) over HTTP: the roster, studios, planning who covers what, coverage,
deactivation with minimal churn, and cases given to a studio.

On ``conftest.SMALL_TREE_CSV``::

    510503 纳溪区                         ← "command", a district_command, is scoped here
    ├── 510503001 安富街道
    │   ├── 510503001001 永安社区 (V1)      ← "station", a village_station, is scoped here
    │   │   ├── G11 (M111, M112)
    │   │   └── G12 (M121)
    │   └── 510503001002 新民社区 (V2)
    │       └── G21 (M211)
    └── 510503100 大渡口镇
        └── 510503100201 金龙村 (V3)
            └── G31 (M311)

Duties there: 3 villages (a mediator each), 4 grids (a grid officer each), 5 micro-grids (exactly
one responsible worker each): 12 in all.
"""

from collections import Counter
from datetime import datetime

import pytest

from gridgov.cases.calendar import TIMEZONE
from tests.conftest import bearer_client, statements_during

API = "/api/v1"
W = f"{API}/workers"
S = f"{API}/studios"
PLAN = f"{API}/assignments/plan"

DISTRICT = "510503"
V1, V2, V3 = "510503001001", "510503001002", "510503100201"
G11, G12, G21, G31 = "510503001001001", "510503001001002", "510503001002001", "510503100201001"
M111, M112, M121 = "510503001001001001", "510503001001001002", "510503001001002001"
M211, M311 = "510503001002001001", "510503100201001001"
VILLAGES, GRIDS, MICROGRIDS = (V1, V2, V3), (G11, G12, G21, G31), (M111, M112, M121, M211, M311)
DUTY_OF_LEVEL = {"village": "village_mediator", "grid": "grid_officer", "microgrid": "microgrid_responsible"}
ALL_DUTIES = {(DUTY_OF_LEVEL["village"], code) for code in VILLAGES} | {
    (DUTY_OF_LEVEL["grid"], code) for code in GRIDS} | {(DUTY_OF_LEVEL["microgrid"], code) for code in MICROGRIDS}


def today():
    return datetime.now(TIMEZONE).date().isoformat()


def ok(response, status=200):
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return response.get_json()


def problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    assert response.mimetype == "application/problem+json"
    return response.get_json()


class People:
    """The district command's client, and helpers that speak the API."""

    def __init__(self, client, units):
        self.client = client
        self.units = units  # code → Unit
        self.code_of = {unit.id: code for code, unit in units.items()}

    def id(self, code):
        return self.units[code].id

    def worker(self, role, home, *, capacity=1, name=None, phone="13812345678", **extra):
        body = {"name": name or f"{role}@{home}", "role": role, "home_unit_id": self.id(home),
                "capacity": capacity, "phone": phone, **extra}
        return ok(self.client.post(W, json=body), 201)

    def plan(self, scope=DISTRICT, *, apply=False, status=200, **extra):
        response = self.client.post(PLAN, json={"scope_unit_id": self.id(scope), "apply": apply, **extra})
        return ok(response, status) if status < 400 else problem(response, status)

    def unit_assignments(self, code, *, history=False):
        url = f"{API}/units/{self.id(code)}/assignments" + ("?history=true" if history else "")
        return ok(self.client.get(url))["items"]

    def worker_assignments(self, worker_id, *, history=False):
        url = f"{W}/{worker_id}/assignments" + ("?history=true" if history else "")
        return ok(self.client.get(url))["items"]

    def current(self):
        """Every current assignment in the district as {(duty, unit code, worker id): row}."""
        rows = {}
        for code in VILLAGES + GRIDS + MICROGRIDS:
            for row in self.unit_assignments(code):
                assert row["ends_on"] is None
                rows[(row["duty"], code, row["worker_id"])] = row
        return rows

    def history(self):
        return [row | {"code": code} for code in VILLAGES + GRIDS + MICROGRIDS
                for row in self.unit_assignments(code, history=True)]

    def coverage(self, code=DISTRICT):
        return ok(self.client.get(f"{API}/units/{self.id(code)}/coverage"))

    def triples(self, items):
        return {(item["duty"], self.code_of[item["unit_id"]], item["worker_id"]) for item in items}


@pytest.fixture
def command(app, small_tree, make_principal):
    _id, token = make_principal("district_command", DISTRICT)
    return People(bearer_client(app, token), small_tree)


@pytest.fixture
def station(app, small_tree, make_principal):
    _id, token = make_principal("village_station", V1)
    return People(bearer_client(app, token), small_tree)


def full_roster(people: People) -> dict[str, int]:
    """Enough people to cover every duty of the district, by name → id."""
    return {
        "v1_mediator": people.worker("mediator", V1, capacity=10)["id"],
        "v1_officer": people.worker("grid_officer", V1, capacity=2)["id"],
        "v2_mediator": people.worker("mediator", V2, capacity=5)["id"],
        "g21_officer": people.worker("grid_officer", G21, capacity=1)["id"],
        "v3_mediator": people.worker("mediator", V3, capacity=5)["id"],
        "g31_officer": people.worker("grid_officer", G31, capacity=1)["id"],
    }


# --- the roster ---------------------------------------------------------------------------------


def test_a_worker_is_created_and_read_back(command):
    created = command.worker("mediator", V1, capacity=4, name="王调解", phone="13812345678")
    assert created["name"] == "王调解" and created["role"] == "mediator" and created["capacity"] == 4
    assert created["home_unit_id"] == command.id(V1)
    assert created["active"] is True and created["version"] == 1 and created["principal_id"] is None
    assert created["phone"] == "13812345678"  # the district command has pii:read

    again = ok(command.client.get(f"{W}/{created['id']}"))
    assert again == created
    listed = ok(command.client.get(f"{W}?role=mediator&home_unit_id={command.id(V1)}"))["items"]
    assert [worker["id"] for worker in listed] == [created["id"]]


@pytest.mark.parametrize("name", ["张\n三", "张\t三", "\u200b"])
def test_a_workers_name_is_one_visible_line(command, name):
    """Before, a name with a line break (or of a zero-width space alone) was taken: it broke
    the roster's CSV rows and the planner's tables, or showed blank."""
    body = {"name": name, "role": "mediator", "home_unit_id": command.id(V1), "capacity": 1}
    assert "name" in problem(command.client.post(W, json=body), 422)["errors"]
    assert ok(command.client.get(W))["items"] == []


def test_a_workers_phone_is_masked_without_pii_read(command, station):
    created = command.worker("grid_worker", G11, phone="13812345678")

    seen = ok(station.client.get(f"{W}/{created['id']}"))
    assert seen["phone"] == "138****5678"
    assert [worker["phone"] for worker in ok(station.client.get(W))["items"]] == ["138****5678"]
    assert ok(command.client.get(f"{W}/{created['id']}"))["phone"] == "13812345678"


def test_a_worker_linked_to_an_unknown_or_taken_principal_is_refused_and_nothing_is_made(command, make_principal):
    """Before, an unknown principal reached the database's foreign key: a 409 saying the
    principal was linked already, and the test transaction poisoned."""
    body = {"name": "李调解", "role": "mediator", "home_unit_id": command.id(V1), "principal_id": 2**31 - 1}
    assert "Principal" in problem(command.client.post(W, json=body), 404)["detail"]

    principal_id, _token = make_principal("specialist", DISTRICT)
    first = command.worker("mediator", V1, principal_id=principal_id)
    taken = problem(command.client.post(W, json={**body, "principal_id": principal_id}), 409)
    assert "another worker" in taken["detail"]
    assert [worker["id"] for worker in ok(command.client.get(W))["items"]] == [first["id"]]


def test_a_worker_at_an_unknown_unit_is_not_found(command):
    response = command.client.post(W, json={"name": "无处", "role": "mediator", "home_unit_id": 987654321})
    problem(response, 404)


def test_a_worker_outside_the_callers_scope_is_not_found(app, command, station, make_principal):
    # The village station may not add workers at all; a command scoped at V1 finds no V3.
    problem(station.client.post(W, json={"name": "甲", "role": "mediator", "home_unit_id": command.id(V1)}), 403)
    _id, token = make_principal("district_command", V1)
    village_command = bearer_client(app, token)
    problem(village_command.post(W, json={"name": "乙", "role": "mediator", "home_unit_id": command.id(V3)}), 404)
    ok(village_command.post(W, json={"name": "丙", "role": "mediator", "home_unit_id": command.id(V1)}), 201)
    # Nor does the station see a worker based outside its village.
    outside = command.worker("mediator", V3)
    problem(station.client.get(f"{W}/{outside['id']}"), 404)
    problem(station.client.get(f"{W}/{outside['id']}/assignments"), 404)


def test_a_worker_is_patched_with_versions(command):
    worker = command.worker("mediator", V1, capacity=2)
    changed = ok(command.client.patch(f"{W}/{worker['id']}", json={"name": "改名", "capacity": 3, "version": 1}))
    assert changed["name"] == "改名" and changed["capacity"] == 3 and changed["version"] == 2
    problem(command.client.patch(f"{W}/{worker['id']}", json={"name": "再改", "version": 1}), 409)


def test_capacity_cannot_fall_below_what_the_worker_covers_now(command):
    roster = full_roster(command)
    command.plan(apply=True)
    covering = len(command.worker_assignments(roster["v1_mediator"]))
    assert covering == 4  # V1 and its three micro-grids: nobody else may cover them

    body = problem(command.client.patch(f"{W}/{roster['v1_mediator']}", json={"capacity": covering - 1}), 422)
    assert "covers 4" in body["detail"]
    assert ok(command.client.get(f"{W}/{roster['v1_mediator']}"))["capacity"] == 10
    assert ok(command.client.patch(f"{W}/{roster['v1_mediator']}", json={"capacity": covering}))["capacity"] == 4


# --- studios ------------------------------------------------------------------------------------


def test_a_studio_is_created_and_its_members_changed(command, station):
    a = command.worker("gold_mediator", DISTRICT, capacity=0)["id"]
    b = command.worker("counsellor", DISTRICT, capacity=0)["id"]
    c = command.worker("legal_expert", DISTRICT, capacity=0)["id"]
    studio = ok(command.client.post(S, json={"name": "家事邻里调解室", "unit_id": command.id(DISTRICT),
                                             "specialties": ["family_neighbour", "labour"], "member_ids": [b, a]}), 201)
    assert studio["member_ids"] == sorted([a, b])
    assert studio["specialties"] == ["family_neighbour", "labour"] and studio["unit_id"] == command.id(DISTRICT)

    patched = ok(command.client.patch(f"{S}/{studio['id']}", json={"member_ids": [c, a], "name": "家事调解室"}))
    assert patched["member_ids"] == sorted([a, c]) and patched["name"] == "家事调解室"
    assert ok(command.client.get(f"{S}/{studio['id']}"))["member_ids"] == sorted([a, c])
    assert ok(command.client.patch(f"{S}/{studio['id']}", json={"member_ids": []}))["member_ids"] == []

    problem(command.client.patch(f"{S}/{studio['id']}", json={"member_ids": [a, 987654321]}), 404)
    problem(command.client.post(S, json={"name": "无", "unit_id": command.id(DISTRICT), "member_ids": [987654321]}),
            404)
    problem(command.client.post(S, json={"name": "无", "unit_id": command.id(DISTRICT), "specialties": ["gossip"]}),
            422)
    # It sits at the district and serves the village below: the station finds it to give it
    # cases (before, it could give it cases but not find it).
    assert ok(station.client.get(f"{S}/{studio['id']}"))["name"] == "家事调解室"
    assert [item["id"] for item in ok(station.client.get(S))["items"]] == [studio["id"]]


def test_a_studio_is_found_from_below_but_not_from_beside_and_changed_only_where_it_sits(
        app, command, station, make_principal):
    town_studio = ok(command.client.post(S, json={"name": "镇调解室", "unit_id": command.id(TOWN_A)}), 201)
    other_town = ok(command.client.post(S, json={"name": "别镇调解室", "unit_id": command.id(TOWN_B)}), 201)
    assert [item["id"] for item in ok(station.client.get(S))["items"]] == [town_studio["id"]]
    problem(station.client.get(f"{S}/{other_town['id']}"), 404)

    # District command of the town only: the district's studio serves it, the district manages it.
    district_studio = ok(command.client.post(S, json={"name": "区调解室", "unit_id": command.id(DISTRICT)}), 201)
    town_command = People(bearer_client(app, make_principal("district_command", TOWN_A)[1]), command.units)
    problem(town_command.client.patch(f"{S}/{district_studio['id']}", json={"name": "改名"}), 403)
    assert ok(command.client.get(f"{S}/{district_studio['id']}"))["name"] == "区调解室"


def test_a_studio_shows_its_members_above_the_callers_scope_and_a_change_of_them_is_the_whole_list(
        app, command, make_principal):
    """A town's command sees that a studio of the town has a district expert among its members
    (before: not at all, so a PATCH of the members it saw kept the one it did not, while its
    answer said otherwise)."""
    expert = command.worker("gold_mediator", DISTRICT, capacity=0)["id"]
    local = command.worker("mediator", V1, capacity=0)["id"]
    other = command.worker("counsellor", V1, capacity=0)["id"]
    studio = ok(command.client.post(S, json={"name": "镇调解室", "unit_id": command.id(TOWN_A),
                                             "member_ids": [expert, local]}), 201)
    town_command = bearer_client(app, make_principal("district_command", TOWN_A)[1])
    assert ok(town_command.get(f"{S}/{studio['id']}"))["member_ids"] == sorted([expert, local])

    # Keeping the expert is a list that names them; leaving them out takes them off.
    kept = ok(town_command.patch(f"{S}/{studio['id']}", json={"member_ids": [other, expert], "version": 1}))
    assert kept["member_ids"] == sorted([other, expert]) and kept["version"] == 2
    patched = ok(town_command.patch(f"{S}/{studio['id']}", json={"member_ids": [other], "version": 2}))
    assert patched["member_ids"] == [other] and patched["version"] == 3
    assert ok(command.client.get(f"{S}/{studio['id']}"))["member_ids"] == [other]
    # Adding someone the town cannot see is not for it to do.
    problem(town_command.patch(f"{S}/{studio['id']}", json={"member_ids": [other, expert]}), 404)
    assert ok(command.client.get(f"{S}/{studio['id']}"))["member_ids"] == [other]


def test_the_list_of_studios_costs_the_same_few_queries_however_many_there_are(app, command):
    """Found in review: each studio's members were read on their own."""
    def statements_for_the_list() -> int:
        items = []
        count = statements_during(app, lambda: items.extend(ok(command.client.get(S))["items"]))
        assert all(item["member_ids"] for item in items)
        return count

    def studio():
        member = command.worker("gold_mediator", DISTRICT, capacity=0)["id"]
        ok(command.client.post(S, json={"name": "调解室", "unit_id": command.id(DISTRICT), "member_ids": [member]}), 201)

    studio()
    few = statements_for_the_list()
    for _ in range(5):
        studio()
    assert statements_for_the_list() == few


def test_two_edits_of_a_studio_from_one_read_do_not_overwrite_each_other(command):
    a = command.worker("gold_mediator", DISTRICT, capacity=0)["id"]
    b = command.worker("counsellor", DISTRICT, capacity=0)["id"]
    studio = ok(command.client.post(S, json={"name": "家事邻里调解室", "unit_id": command.id(DISTRICT)}), 201)
    assert studio["version"] == 1

    first = ok(command.client.patch(f"{S}/{studio['id']}", json={"member_ids": [a], "version": 1}))
    assert first["version"] == 2
    stale = problem(command.client.patch(f"{S}/{studio['id']}", json={"member_ids": [b], "version": 1}), 409)
    assert stale["current_version"] == 2
    assert ok(command.client.get(f"{S}/{studio['id']}"))["member_ids"] == [a]
    # Sending what it holds already changes nothing, not even the version.
    assert ok(command.client.patch(f"{S}/{studio['id']}", json={"member_ids": [a]}))["version"] == 2


# --- planning -----------------------------------------------------------------------------------


def test_planning_without_workers_lists_every_uncovered_duty(command):
    body = command.plan(status=422)
    uncovered = body["uncovered"]
    assert {(item["duty"], item["unit_code"]) for item in uncovered} == ALL_DUTIES
    assert len(uncovered) == len(ALL_DUTIES) == 12
    for item in uncovered:
        assert item["reason"] == "no one eligible"
        assert item["unit_id"] == command.id(item["unit_code"])
    assert command.history() == []


def test_planning_lists_only_what_cannot_be_covered_and_changes_nothing(command):
    roster = full_roster(command)
    ok(command.client.patch(f"{W}/{roster['v3_mediator']}", json={"capacity": 1}))  # V3 and M311 need two
    body = command.plan(apply=True, status=422)
    # One of V3's two duties is left over, whichever the flow chose, for want of capacity.
    assert [(item["duty"], item["unit_code"], item["reason"]) for item in body["uncovered"]] in (
        [("microgrid_responsible", M311, "capacity exhausted")],
        [("village_mediator", V3, "capacity exhausted")],
    )
    assert command.history() == []  # never a silent partial plan


def test_a_feasible_plan_answers_the_diff_and_the_load(command):
    roster = full_roster(command)
    body = command.plan()
    assert body["kept"] == [] and body["ended"] == []
    assert {(duty, code) for duty, code, _worker in command.triples(body["added"])} == ALL_DUTIES
    assert len(body["added"]) == 12
    assert set(body["load"]) == {"min", "median", "max"}
    assert body["load"]["min"] <= body["load"]["median"] <= body["load"]["max"]
    assert body["coverage"]["duties"] == body["coverage"]["covered"] == 12
    assert body["coverage"]["uncovered"] == []
    # V1 and its micro-grids all fall to the one mediator there (no other worker is eligible).
    mine = {(duty, code) for duty, code, worker in command.triples(body["added"]) if worker == roster["v1_mediator"]}
    assert mine == {("village_mediator", V1), ("microgrid_responsible", M111), ("microgrid_responsible", M112),
                    ("microgrid_responsible", M121)}
    # Without apply nothing is written.
    assert command.history() == []


def test_applying_a_plan_writes_assignments(command, station):
    roster = full_roster(command)
    plan = command.plan(apply=True)
    current = command.current()
    assert set(current) == command.triples(plan["added"])
    for row in current.values():
        assert row["starts_on"] == today() and row["ends_on"] is None
        assert row["worker_name"]
    micro = command.unit_assignments(M111)
    assert [(row["duty"], row["worker_id"]) for row in micro] == [("microgrid_responsible", roster["v1_mediator"])]
    theirs = command.worker_assignments(roster["v1_officer"])
    assert {(row["duty"], command.code_of[row["unit_id"]]) for row in theirs} == {("grid_officer", G11),
                                                                                 ("grid_officer", G12)}
    assert command.worker_assignments(roster["v1_officer"], history=True) == theirs  # nothing ended yet
    # The village station reads its village's assignments, not the others'.
    assert len(station.unit_assignments(V1)) == 1
    problem(station.client.get(f"{API}/units/{command.id(V3)}/assignments"), 404)
    problem(station.client.post(PLAN, json={"scope_unit_id": command.id(V1)}), 403)


def test_planning_again_with_nothing_changed_changes_nothing(command):
    full_roster(command)
    first = command.plan(apply=True)
    before = command.current()

    again = command.plan(apply=True)
    assert again["added"] == [] and again["ended"] == []
    assert command.triples(again["kept"]) == command.triples(first["added"])
    after = command.current()
    assert {key: row["id"] for key, row in after.items()} == {key: row["id"] for key, row in before.items()}
    assert len(command.history()) == 12


def test_planning_a_village_leaves_the_rest_alone(command):
    full_roster(command)
    body = command.plan(V2, apply=True)
    assert {code for _duty, code, _worker in command.triples(body["added"])} == {V2, G21, M211}
    assert {code for _duty, code, _worker in command.current()} == {V2, G21, M211}
    # The other villages can still be planned, and then the district is covered as it is.
    command.plan(apply=True)
    assert command.coverage()["uncovered"] == []


def test_capacities_are_respected(command):
    """V1 needs 1 mediator, 2 officers and 3 micro-grid responsibles; with little room each the
    plan must spread them (and give nobody more than their capacity)."""
    mediator = command.worker("mediator", V1, capacity=2)["id"]
    helper = command.worker("grid_worker", G11, capacity=1)["id"]
    police = command.worker("auxiliary_police", V1, capacity=1)["id"]
    officer_1 = command.worker("grid_officer", G11, capacity=1)["id"]
    officer_2 = command.worker("grid_officer", V1, capacity=1)["id"]
    capacity = {mediator: 2, helper: 1, police: 1, officer_1: 1, officer_2: 1}

    body = command.plan(V1, apply=True)
    per_worker = Counter(worker for _duty, _code, worker in command.triples(body["added"]))
    assert per_worker == capacity  # exactly full: 6 duties, 6 places
    assert Counter(worker for _d, _c, worker in command.current()) == capacity
    assert ("grid_officer", G11, officer_1) in command.current()

    # Each covers exactly their capacity now, so none may lower it.
    for worker_id, room in capacity.items():
        problem(command.client.patch(f"{W}/{worker_id}", json={"capacity": room - 1}), 422)


def test_capacity_exhausted_is_reported(command):
    command.worker("mediator", V1, capacity=2)
    command.worker("grid_officer", V1, capacity=2)
    body = command.plan(V1, status=422)
    # Four places wanted of a mediator with room for two: two of them are left over.
    assert len(body["uncovered"]) == 2
    assert {item["reason"] for item in body["uncovered"]} == {"capacity exhausted"}
    assert {item["unit_code"] for item in body["uncovered"]} <= {V1, M111, M112, M121}


# --- deactivation -------------------------------------------------------------------------------


def test_deactivating_a_worker_re_plans_only_their_units(command):
    """Two mediators in V1 share its village duty and micro-grids; when one leaves, the other
    takes over their micro-grids and nothing else moves."""
    roster = full_roster(command)
    roster["v1_mediator_b"] = command.worker("mediator", V1, capacity=10)["id"]
    command.plan(apply=True)
    before = command.current()
    leaver, stayer = roster["v1_mediator"], roster["v1_mediator_b"]
    theirs = {key for key in before if key[2] == leaver}
    assert ("village_mediator", V1, leaver) in theirs and len(theirs) >= 2
    assert any(key[2] == stayer for key in before)

    worker = ok(command.client.patch(f"{W}/{leaver}", json={"active": False}))
    assert worker["active"] is False and worker["version"] == 2

    after = command.current()
    assert not any(key[2] == leaver for key in after)
    # The others keep their rows (the same rows, not new ones) …
    for key, row in before.items():
        if key not in theirs:
            assert after[key]["id"] == row["id"], key
    # … the leaver's rows end today and stay in the history …
    ended = command.worker_assignments(leaver, history=True)
    assert {(row["duty"], command.code_of[row["unit_id"]], row["worker_id"]) for row in ended} == theirs
    assert all(row["ends_on"] == today() for row in ended)
    assert command.worker_assignments(leaver) == []
    # … and new rows appear only for the leaver's units, every one of which is covered again.
    new = set(after) - set(before)
    assert new and {code for _duty, code, _worker in new} <= {code for _duty, code, _worker in theirs}
    assert {worker for _duty, _code, worker in new} == {stayer}
    assert {(duty, code) for duty, code, _worker in after} == {(duty, code) for duty, code, _worker in before}
    assert command.coverage()["uncovered"] == []
    assert ok(command.client.get(f"{W}?active=false"))["items"][0]["id"] == leaver
    # A micro-grid that changed hands: one current row, and with ?history=true the ended one too.
    moved = next(code for duty, code, _worker in theirs if duty == "microgrid_responsible")
    assert [row["worker_id"] for row in command.unit_assignments(moved)] == [stayer]
    history = command.unit_assignments(moved, history=True)
    assert sorted((row["worker_id"], row["ends_on"]) for row in history) == sorted(
        [(stayer, None), (leaver, today())])


def test_deactivating_a_grid_worker_moves_only_their_micro_grids(command):
    roster = full_roster(command)
    a = command.worker("grid_worker", G11, capacity=5)["id"]
    b = command.worker("grid_worker", G11, capacity=5)["id"]
    command.plan(apply=True)
    before = command.current()
    leaver = next(worker for worker in (a, b) if any(key[2] == worker for key in before))
    theirs = {key for key in before if key[2] == leaver}

    ok(command.client.patch(f"{W}/{leaver}", json={"active": False}))

    after = command.current()
    assert {key: after[key]["id"] for key in before if key not in theirs} == {
        key: row["id"] for key, row in before.items() if key not in theirs}
    # Only the leaver's units change hands (to whom is the planner's balance to decide; the
    # other grid worker of G11 is one of the candidates now, not ignored).
    new = set(after) - set(before)
    assert {(duty, code) for duty, code, _worker in new} == {(duty, code) for duty, code, _worker in theirs}
    assert all(worker != leaver for _duty, _code, worker in new)
    assert roster and command.coverage()["uncovered"] == []


def test_deactivation_counts_the_others_capacity_once(command):
    roster = full_roster(command)
    stayer = command.worker("mediator", V1, capacity=4)["id"]
    command.plan(apply=True)
    assert any(key[2] == stayer for key in command.current())

    # The stayer then covers V1 and its three micro-grids: exactly their capacity.
    ok(command.client.patch(f"{W}/{roster['v1_mediator']}", json={"active": False}))
    assert {(duty, code) for duty, code, worker in command.current() if worker == stayer} == {
        ("village_mediator", V1), ("microgrid_responsible", M111), ("microgrid_responsible", M112),
        ("microgrid_responsible", M121)}


def test_deactivating_a_worker_without_assignments_just_deactivates(command):
    idle = command.worker("counsellor", DISTRICT, capacity=0)
    worker = ok(command.client.patch(f"{W}/{idle['id']}", json={"active": False}))
    assert worker["active"] is False
    assert [w["id"] for w in ok(command.client.get(f"{W}?active=false"))["items"]] == [idle["id"]]


def test_a_deactivated_worker_can_be_reactivated(command):
    worker = command.worker("mediator", V1, capacity=3)
    ok(command.client.patch(f"{W}/{worker['id']}", json={"active": False}))
    again = ok(command.client.patch(f"{W}/{worker['id']}", json={"active": True}))
    assert again["active"] is True


def test_each_change_of_a_workers_status_moves_the_version(command):
    """Before, reactivating kept the version: an edit made from the copy read while the worker was
    off the roster went through, unseen by the one who had put them back."""
    worker = command.worker("mediator", V1, capacity=3)
    off = ok(command.client.patch(f"{W}/{worker['id']}", json={"active": False, "version": worker["version"]}))
    on = ok(command.client.patch(f"{W}/{worker['id']}", json={"active": True, "version": off["version"]}))
    assert worker["version"] < off["version"] < on["version"]

    stale = command.client.patch(f"{W}/{worker['id']}", json={"name": "旧页面的修改", "version": off["version"]})
    problem(stale, 409)


def test_deactivating_the_only_eligible_worker_is_refused_and_changes_nothing(command):
    roster = full_roster(command)
    command.plan(apply=True)
    before = command.current()

    body = problem(command.client.patch(f"{W}/{roster['v1_mediator']}", json={"active": False}), 422)
    assert {(item["duty"], item["unit_code"]) for item in body["uncovered"]} == {
        ("village_mediator", V1), ("microgrid_responsible", M111), ("microgrid_responsible", M112),
        ("microgrid_responsible", M121),
    }
    assert all(item["reason"] == "no one eligible" for item in body["uncovered"])
    assert all(item["unit_id"] == command.id(item["unit_code"]) for item in body["uncovered"])
    worker = ok(command.client.get(f"{W}/{roster['v1_mediator']}"))
    assert worker["active"] is True and worker["version"] == 1
    assert {key: row["id"] for key, row in command.current().items()} == {key: row["id"] for key, row in before.items()}
    assert len(command.history()) == len(before)


def test_deactivation_refused_when_the_others_have_no_room(command):
    roster = full_roster(command)
    helper = command.worker("grid_worker", G11, capacity=1)["id"]
    command.plan(apply=True)
    before = command.current()
    covered_by_helper = [key for key in before if key[2] == helper]
    assert len(covered_by_helper) == 1
    # The mediator, the only other one who could take it, has no room left.
    mediator_now = len(command.worker_assignments(roster["v1_mediator"]))
    ok(command.client.patch(f"{W}/{roster['v1_mediator']}", json={"capacity": mediator_now}))

    body = problem(command.client.patch(f"{W}/{helper}", json={"active": False}), 422)
    # (the reason given is checked in test_a_refusal_says_capacity_exhausted_when_it_is)
    assert [(item["duty"], item["unit_code"]) for item in body["uncovered"]] == [covered_by_helper[0][:2]]
    assert ok(command.client.get(f"{W}/{helper}"))["active"] is True
    assert {key: row["id"] for key, row in command.current().items()} == {key: row["id"] for key, row in before.items()}


def test_a_refusal_says_capacity_exhausted_when_it_is(command):
    roster = full_roster(command)
    leaver = roster["v1_mediator"]
    stayer = command.worker("mediator", V1, capacity=10)["id"]
    command.plan(apply=True)
    before = command.current()
    theirs_micro = {code for duty, code, worker in before if worker == leaver and duty == "microgrid_responsible"}
    assert theirs_micro and ("village_mediator", V1, stayer) in before
    ok(command.client.patch(f"{W}/{stayer}", json={"capacity": len(command.worker_assignments(stayer))}))

    body = problem(command.client.patch(f"{W}/{leaver}", json={"active": False}), 422)
    # The stayer keeps V1's mediator duty; the leaver's micro-grids find them full.
    assert {(item["duty"], item["unit_code"], item["reason"]) for item in body["uncovered"]} == {
        ("microgrid_responsible", code, "capacity exhausted") for code in theirs_micro}


def test_planning_a_grid_uses_the_workers_based_in_its_village(command):
    full_roster(command)
    body = command.plan(G12)
    assert {(duty, code) for duty, code, _worker in command.triples(body["added"])} == {
        ("grid_officer", G12), ("microgrid_responsible", M121)}


# --- units with assignments, coverage -----------------------------------------------------------


def test_a_unit_with_current_assignments_cannot_be_deleted(command):
    full_roster(command)
    command.plan(apply=True)
    problem(command.client.delete(f"{API}/units/{command.id(M111)}"), 409)
    assert ok(command.client.get(f"{API}/units/{command.id(M111)}"))["code"] == M111


def test_a_unit_that_is_a_workers_home_or_a_studios_place_cannot_be_deleted(command):
    """Before, the database's foreign key refused it, and the answer (409 "try again") misled:
    trying again never helps."""
    command.worker("grid_worker", M112)
    ok(command.client.post(S, json={"name": "微网格调解点", "unit_id": command.id(M121)}), 201)

    assert "home unit" in problem(command.client.delete(f"{API}/units/{command.id(M112)}"), 409)["detail"]
    assert "studio" in problem(command.client.delete(f"{API}/units/{command.id(M121)}"), 409)["detail"]
    assert command.client.delete(f"{API}/units/{command.id(M211)}").status_code == 204  # nothing there


def test_coverage_lists_uncovered_duties_before_planning_and_none_after(command, station):
    bare = command.coverage()
    assert {(item["duty"], item["unit_code"]) for item in bare["uncovered"]} == ALL_DUTIES
    assert {item["reason"] for item in bare["uncovered"]} == {"no one eligible"}

    full_roster(command)
    before = command.coverage()
    assert {(item["duty"], item["unit_code"]) for item in before["uncovered"]} == ALL_DUTIES
    assert {item["reason"] for item in before["uncovered"]} == {"not assigned"}
    village = station.coverage(V1)
    assert {item["unit_code"] for item in village["uncovered"]} == {V1, G11, G12, M111, M112, M121}

    command.plan(apply=True)
    after = command.coverage()
    assert after["uncovered"] == []
    assert set(after) >= {"uncovered", "overloaded", "underloaded"}
    assert station.coverage(V1)["uncovered"] == []
    problem(station.client.get(f"{API}/units/{command.id(V3)}/coverage"), 404)


# --- cases given to a studio --------------------------------------------------------------------


@pytest.mark.parametrize("specialist_scope", [DISTRICT, V1])
def test_a_case_given_to_a_studio_is_seen_by_its_members(app, command, make_principal, specialist_scope):
    member_principal, member_token = make_principal("specialist", specialist_scope)
    other_principal, other_token = make_principal("specialist", specialist_scope)
    member = command.worker("gold_mediator", DISTRICT, capacity=0, principal_id=member_principal)
    command.worker("gold_mediator", DISTRICT, capacity=0, principal_id=other_principal)  # in no studio
    assert member["principal_id"] == member_principal
    studio = ok(command.client.post(S, json={"name": "家事邻里调解室", "unit_id": command.id(DISTRICT),
                                             "specialties": ["family_neighbour"], "member_ids": [member["id"]]}), 201)
    case = ok(command.client.post(f"{API}/cases", json={
        "title": "永安社区邻里纠纷", "category": "family_neighbour", "risk_grade": "blue", "source": "grid_patrol",
        "origin_unit_id": command.id(M121)}), 201)
    member_client, other_client = bearer_client(app, member_token), bearer_client(app, other_token)
    problem(member_client.get(f"{API}/cases/{case['id']}"), 404)

    case = ok(command.client.post(f"{API}/cases/{case['id']}/actions",
                                  json={"action": "accept", "version": case["version"]}))
    case = ok(command.client.post(f"{API}/cases/{case['id']}/actions",
                                  json={"action": "assign", "version": case["version"], "studio_id": studio["id"]}))
    assert case["studio_id"] == studio["id"] and case["assignee_id"] is None

    seen = ok(member_client.get(f"{API}/cases/{case['id']}"))
    assert seen["studio_id"] == studio["id"]
    assert [item["id"] for item in ok(member_client.get(f"{API}/cases"))["items"]] == [case["id"]]
    problem(other_client.get(f"{API}/cases/{case['id']}"), 404)
    assert ok(other_client.get(f"{API}/cases"))["items"] == []

    # Taken out of the studio, the member no longer sees it.
    ok(command.client.patch(f"{S}/{studio['id']}", json={"member_ids": []}))
    problem(member_client.get(f"{API}/cases/{case['id']}"), 404)


# --- moves, retirement and changes to the roster ------------------------------------------------

TOWN_A = "510503001"  # 安富街道: V1 and V2
TOWN_B = "510503100"  # 大渡口镇: V3


def move(people: People, code, parent_code):
    unit = ok(people.client.get(f"{API}/units/{people.id(code)}"))
    ok(people.client.post(f"{API}/units/{unit['id']}/move", json={"parent_id": people.id(parent_code)}))


def test_a_town_account_deactivating_a_worker_hands_over_every_unit_they_cover(app, command, make_principal):
    """G12 moves to the other town; the V1 worker covering its micro-grid is deactivated by an
    account of the first town, which cannot see that unit. Before, only the units the caller could
    see were handed over, and the rest stayed with someone no longer on the roster."""
    full_roster(command)
    command.worker("mediator", V1, capacity=10)  # so that anyone in V1 may leave
    command.worker("grid_worker", V1, capacity=10)
    command.plan(apply=True)
    v1_worker = next(worker for duty, code, worker in command.current() if code == M121)
    move(command, G12, V3)
    mine = {code for _duty, code, worker in command.current() if worker == v1_worker}
    assert mine - {M121}  # it covers M121, now in the other town, and units in V1

    _id, town_token = make_principal("district_command", TOWN_A)
    town = People(bearer_client(app, town_token), command.units)
    ok(town.client.patch(f"{W}/{v1_worker}", json={"active": False}))

    assert command.worker_assignments(v1_worker) == []  # nothing left current, in either town
    assert v1_worker not in {row["worker_id"] for row in command.unit_assignments(M121)}
    # M121 was theirs no longer to hold (based in V1, it lies in V3 now): it waits for V3's plan.
    assert {item["unit_code"]: item["reason"] for item in command.coverage(V3)["uncovered"]
            if item["unit_code"] == M121} == {M121: "not assigned"}


def test_after_a_move_coverage_flags_workers_based_elsewhere_and_a_plan_replaces_them(command):
    """Moving G12 from V1 to V3 leaves it and M121 with V1's people, who may not cover them
    from there. Before, coverage of the district said all was covered while V3's said M121 was
    not assigned, and planning V3 gave M121 a second "exactly one" responsible worker."""
    roster = full_roster(command)
    v3_officer = command.worker("grid_officer", V3, capacity=1)["id"]  # free for a grid that comes to V3
    command.plan(apply=True)
    move(command, G12, V3)

    expected = {("grid_officer", G12), ("microgrid_responsible", M121)}
    for scope in (DISTRICT, TOWN_B, V3, G12):
        flagged = {(item["duty"], item["unit_code"]): item["reason"] for item in command.coverage(scope)["uncovered"]}
        assert set(flagged) == expected, scope
        assert set(flagged.values()) == {"assigned worker no longer eligible"}

    body = command.plan(V3, apply=True)
    assert {(duty, code) for duty, code, _worker in command.triples(body["ended"])} == expected
    assert {worker for _duty, _code, worker in command.triples(body["ended"])} == {
        roster["v1_officer"], roster["v1_mediator"]}
    assert [row["worker_id"] for row in command.unit_assignments(M121)] == [roster["v3_mediator"]]
    assert [row["worker_id"] for row in command.unit_assignments(G12)] == [v3_officer]
    assert command.coverage()["uncovered"] == []


def test_retired_units_carry_no_duties(command):
    """A retired micro-grid needs no responsible worker: the one it had is let go of as it is
    retired (before, only the next plan ended it, and till then it held the worker's capacity and
    the unit's delete back), coverage does not ask for one, no worker can be based there."""
    roster = full_roster(command)
    command.plan(apply=True)
    assert [item["worker_id"] for item in command.unit_assignments(M311)] == [roster["v3_mediator"]]
    unit = ok(command.client.get(f"{API}/units/{command.id(M311)}"))
    ok(command.client.patch(f"{API}/units/{unit['id']}", json={"active": False, "version": unit["version"]}))

    assert command.unit_assignments(M311) == []
    assert M311 not in {item["unit_code"] for item in command.coverage()["uncovered"]}
    body = command.plan(V3, apply=True)
    assert body["added"] == [] and body["ended"] == []

    refused = problem(command.client.post(W, json={"name": "张三", "role": "grid_worker", "home_unit_id": command.id(M311)}), 422)
    assert "home_unit_id" in refused["errors"]


def test_a_worker_living_in_a_micro_grid_may_be_its_responsible_person(command):
    """A 微网格长 often lives in the micro-grid; before, one based there could never cover it."""
    command.worker("mediator", V3, capacity=1)
    command.worker("grid_officer", G31, capacity=1)
    resident = command.worker("grid_worker", M311, capacity=1)["id"]
    body = command.plan(V3, apply=True)
    assert ("microgrid_responsible", M311, resident) in command.triples(body["added"])


def test_a_worker_is_linked_to_an_account_and_unlinked(command, make_principal):
    principal, _token = make_principal("specialist", DISTRICT)
    other, _token = make_principal("specialist", DISTRICT)
    worker = command.worker("gold_mediator", DISTRICT, capacity=0)
    taken = command.worker("gold_mediator", DISTRICT, capacity=0, principal_id=other)

    linked = ok(command.client.patch(f"{W}/{worker['id']}", json={"principal_id": principal}))
    assert (linked["principal_id"], linked["version"]) == (principal, worker["version"] + 1)
    problem(command.client.patch(f"{W}/{worker['id']}", json={"principal_id": other}), 409)
    problem(command.client.patch(f"{W}/{worker['id']}", json={"principal_id": 987654321}), 404)
    assert ok(command.client.get(f"{W}/{taken['id']}"))["principal_id"] == other
    unlinked = ok(command.client.patch(f"{W}/{worker['id']}", json={"principal_id": None}))
    assert unlinked["principal_id"] is None
    # Free again: another worker may take it.
    assert ok(command.client.patch(f"{W}/{taken['id']}", json={"principal_id": principal}))["principal_id"] == principal


def test_a_worker_changes_home_only_while_covering_nothing(app, command, station, make_principal):
    roster = full_roster(command)
    command.plan(apply=True)
    mediator = roster["v2_mediator"]
    refused = problem(command.client.patch(f"{W}/{mediator}", json={"home_unit_id": command.id(V1)}), 409)
    assert "deactivate" in refused["detail"]
    assert ok(command.client.get(f"{W}/{mediator}"))["home_unit_id"] == command.id(V2)

    spare = command.worker("mediator", V2, capacity=5)["id"]  # takes V2 over when the first leaves
    moved = ok(command.client.patch(f"{W}/{mediator}", json={"active": False, "home_unit_id": command.id(V1)}))
    assert (moved["home_unit_id"], moved["active"]) == (command.id(V1), False)
    assert [row["worker_id"] for row in command.unit_assignments(V2)] == [spare]
    assert station.client.get(f"{W}/{mediator}").status_code == 200  # now in the station's village
    # A home outside the caller's scope does not exist for them; a retired one takes no one.
    _id, town_token = make_principal("district_command", TOWN_A)
    problem(bearer_client(app, town_token).patch(f"{W}/{mediator}", json={"home_unit_id": command.id(V3)}), 404)
    unit = ok(command.client.get(f"{API}/units/{command.id(M111)}"))
    ok(command.client.patch(f"{API}/units/{unit['id']}", json={"active": False, "version": unit["version"]}))
    problem(command.client.patch(f"{W}/{mediator}", json={"home_unit_id": command.id(M111)}), 422)


def test_coverage_lists_an_idle_worker_as_underloaded(command):
    """Before, only workers who covered something had a load, so the idlest were never listed."""
    full_roster(command)
    command.worker("grid_worker", G11, capacity=3)
    for code in (M111, M112, M121):  # open cases give the units their load
        ok(command.client.post(f"{API}/cases", json={"title": "邻里纠纷", "category": "family_neighbour",
                                                     "risk_grade": "blue", "source": "grid_patrol",
                                                     "origin_unit_id": command.id(code)}), 201)
    command.plan(apply=True)
    idle = command.worker("auxiliary_police", V1, capacity=3)["id"]
    coverage = command.coverage(V1)
    assert coverage["median_load"] > 0
    assert {"worker_id": idle, "load": 0.0} in coverage["underloaded"]


def test_a_studio_takes_only_cases_of_its_specialties(command):
    studio = ok(command.client.post(S, json={"name": "劳动争议调解工作室", "unit_id": command.id(DISTRICT),
                                             "specialties": ["labour"]}), 201)
    case = ok(command.client.post(f"{API}/cases", json={
        "title": "邻里纠纷", "category": "family_neighbour", "risk_grade": "blue", "source": "grid_patrol",
        "origin_unit_id": command.id(M121)}), 201)
    case = ok(command.client.post(f"{API}/cases/{case['id']}/actions", json={"action": "accept", "version": case["version"]}))
    for action, extra in (("assign", {}), ("refer", {"channel": "legal_aid"})):
        refused = problem(command.client.post(f"{API}/cases/{case['id']}/actions", json={
            "action": action, "version": case["version"], "studio_id": studio["id"], **extra}), 422)
        assert "studio_id" in refused["errors"]
    after = ok(command.client.get(f"{API}/cases/{case['id']}"))
    assert (after["status"], after["studio_id"], after["version"]) == ("accepted", None, case["version"])


def test_a_studio_member_taken_off_the_roster_no_longer_sees_its_cases(app, command, make_principal):
    principal, token = make_principal("specialist", DISTRICT)
    member = command.worker("gold_mediator", DISTRICT, capacity=0, principal_id=principal)
    studio = ok(command.client.post(S, json={"name": "家事邻里调解室", "unit_id": command.id(DISTRICT),
                                             "specialties": ["family_neighbour"], "member_ids": [member["id"]]}), 201)
    case = ok(command.client.post(f"{API}/cases", json={
        "title": "邻里纠纷", "category": "family_neighbour", "risk_grade": "blue", "source": "grid_patrol",
        "origin_unit_id": command.id(M121)}), 201)
    case = ok(command.client.post(f"{API}/cases/{case['id']}/actions", json={"action": "accept", "version": case["version"]}))
    ok(command.client.post(f"{API}/cases/{case['id']}/actions", json={
        "action": "assign", "version": case["version"], "studio_id": studio["id"]}))
    specialist = bearer_client(app, token)
    ok(specialist.get(f"{API}/cases/{case['id']}"))

    ok(command.client.patch(f"{W}/{member['id']}", json={"active": False}))
    problem(specialist.get(f"{API}/cases/{case['id']}"), 404)
    assert ok(specialist.get(f"{API}/cases"))["items"] == []


def test_a_leavers_colleagues_are_counted_once_across_the_villages_of_their_units(command):
    """甲 covers G12's micro-grids, 乙 the rest of V1; then M121 (甲's) and M111 (乙's) move to V3.
    When 乙 leaves, 甲 has room for exactly what 乙 leaves in V1. Before, 甲's micro-grid in V3
    was taken off its capacity twice (once as held outside V1, once as pinned in V3), and the
    leave was refused."""
    new_micro = ok(command.client.post(f"{API}/units", json={"name": "新微网格", "level": "microgrid",
                                                             "parent_id": command.id(G12)}), 201)["id"]
    a = command.worker("mediator", V1, capacity=10, name="甲")["id"]
    command.worker("grid_officer", V1, capacity=2)
    command.worker("mediator", V3, capacity=10)
    command.worker("grid_officer", V3, capacity=10)
    command.plan(G12, apply=True)  # 甲 alone can: it takes M121 and the new micro-grid
    assert {row["unit_id"] for row in command.worker_assignments(a)} == {command.id(M121), new_micro}
    ok(command.client.patch(f"{W}/{a}", json={"capacity": 3}))
    b = command.worker("mediator", V1, capacity=10, name="乙")["id"]
    command.plan(V1, apply=True, change_cost=1000)  # 甲 keeps G12's; both cover V1 (both based there)
    assert {command.code_of.get(row["unit_id"]) for row in command.worker_assignments(b)} == {V1, M111, M112}
    command.plan(V3, apply=True)
    move(command, M121, G31)
    move(command, M111, G31)
    ok(command.client.patch(f"{W}/{a}", json={"capacity": 4}))  # room for M112 besides V1 (kept)

    ok(command.client.patch(f"{W}/{b}", json={"active": False}))
    assert command.worker_assignments(b) == []
    assert {command.code_of.get(row["unit_id"]) for row in command.worker_assignments(a)} >= {V1, M112}


def test_a_leaver_is_not_held_back_by_a_unit_that_moved_away_from_them(command):
    """M112 moved to V3, where no one has room for it: 乙's assignment there was already one it
    may not hold (coverage says so). It just ends; before, the leave was refused over it."""
    a = command.worker("mediator", V1, capacity=10, name="甲")["id"]
    command.worker("grid_officer", V1, capacity=3)
    command.worker("mediator", V3, capacity=1)  # V3's own duties take all they have
    command.worker("grid_officer", V3, capacity=1)
    command.worker("grid_worker", G31, capacity=1)
    command.plan(V3, apply=True)
    ok(command.client.patch(f"{W}/{a}", json={"capacity": 1}))  # V1's village duty only
    b = command.worker("mediator", V1, capacity=10, name="乙")["id"]
    command.plan(V1, apply=True)
    move(command, M112, G31)
    ok(command.client.patch(f"{W}/{a}", json={"capacity": 10}))

    ok(command.client.patch(f"{W}/{b}", json={"active": False}))
    assert command.worker_assignments(b) == []
    moved = {item["unit_code"]: item["reason"] for item in command.coverage(V3)["uncovered"]}
    assert moved == {M112: "not assigned"}  # uncovered, as it was in effect before; a plan of V3 will say why


def test_a_leavers_colleagues_keep_their_places(command):
    """Two officers covered G11; when one leaves, the other keeps G11. Before, the re-plan could
    hand the colleague's grid to others and move the colleague."""
    a = command.worker("grid_officer", V1, capacity=5, name="甲")["id"]
    b = command.worker("grid_officer", V1, capacity=5, name="乙")["id"]
    d = command.worker("grid_officer", G11, capacity=0)["id"]
    e = command.worker("grid_officer", G11, capacity=0)["id"]
    command.worker("mediator", V1, capacity=10)
    command.plan(V1, apply=True)
    for officer in (d, e):
        ok(command.client.patch(f"{W}/{officer}", json={"capacity": 1}))
    before = {row["id"] for row in command.worker_assignments(b)}
    assert before

    ok(command.client.patch(f"{W}/{a}", json={"active": False}))
    assert before <= {row["id"] for row in command.worker_assignments(b)}  # the same rows, not ended


def test_workers_of_roles_that_cover_nothing_do_not_count_in_the_load_figures(command):
    full_roster(command)
    for code in (M111, M112, M121):
        ok(command.client.post(f"{API}/cases", json={"title": "邻里纠纷", "category": "family_neighbour",
                                                     "risk_grade": "blue", "source": "grid_patrol",
                                                     "origin_unit_id": command.id(code)}), 201)
    command.plan(apply=True)
    before = command.coverage(V1)
    social = [command.worker("social_worker", V1)["id"] for _ in range(3)]
    after = command.coverage(V1)
    assert after["median_load"] == before["median_load"] > 0
    assert not {item["worker_id"] for item in after["underloaded"]} & set(social)


@pytest.mark.parametrize("apply", [1, 0, "true", "yes"])
def test_a_body_flag_is_json_true_or_false_not_something_like_it(command, apply):
    """Before, {"apply": 1} applied the plan."""
    response = command.client.post(PLAN, json={"scope_unit_id": command.id(DISTRICT), "apply": apply})
    assert "apply" in problem(response, 422)["errors"]
