"""A unit moved with the cases that happened in it: the open ones that a unit it has left
handles go to the unit of the same level above where it is now (属地)."""

from datetime import datetime

from gridgov.cases import service
from gridgov.people import service as people_service
from gridgov.rollups import counters
from gridgov.tree import service as tree_service, transfer
from tests.cases.support import (
    CASES, D, G11, INBOX, M111, M121, M211, OTHER_D, OTHER_DISTRICT_CSV, T1, T2, V1, V2, act, act_response,
    assert_problem, do, fresh, get, log, new_case, parse, timeline,
)
from tests.conftest import bearer_client, every_page


def test_a_moved_village_takes_its_open_town_cases_to_its_new_town(app, session, actors, ids, client,
                                                                   make_principal):
    town_case = log(actors.district.client, ids[M111], category="labour", title="拖欠工资")
    assert town_case["owner_unit_id"] == ids[T1]
    town_case = act(actors.town.client, town_case, "accept")
    town_case = act(actors.town.client, town_case, "record_attempt", outcome="partial")
    village_case = act(actors.village.client, log(actors.district.client, ids[M121], risk_grade="orange"), "accept")
    district_case = log(actors.district.client, ids[M111], people_involved=120)
    closed = log(actors.district.client, ids[M111], category="labour")
    for action, fields in [("accept", {}), ("resolve", {"note": "已和解"})]:
        closed = act(actors.town.client, closed, action, **fields)
    closed = act(actors.district.client, closed, "close")
    assert (village_case["owner_unit_id"], district_case["owner_unit_id"]) == (ids[V1], ids[D])

    moved_at = datetime.now().astimezone()
    response = client.post(f"/api/v1/units/{ids[V1]}/move", json={"parent_id": ids[T2]})
    assert response.status_code == 200, response.get_data(as_text=True)

    handed = get(actors.district.client, town_case["id"])
    assert handed["owner_unit_id"] == ids[T2] and handed["owner_level"] == "town"
    # It waits for the new town to accept it, on the new town's deadline, with no one given it.
    assert handed["status"] == "reported" and handed["assignee_id"] is None
    assert parse(handed["deadline_at"]) > moved_at
    last = timeline(actors.district.client, town_case["id"])[-1]
    assert last["action"] == "transfer"
    assert (last["from_owner_unit_id"], last["to_owner_unit_id"]) == (ids[T1], ids[T2])
    assert (last["from_status"], last["to_status"]) == ("in_progress", "reported")
    assert handed["version"] == town_case["version"] + 1  # one change, one version: before, two

    # The new town has it to do; the old one no longer sees it (it happened outside it now).
    _id, token = make_principal("town_centre", T2)
    new_town = bearer_client(app, token)
    assert town_case["id"] in [case["id"] for case in new_town.get(INBOX).get_json()["items"]]
    assert town_case["id"] not in [case["id"] for case in actors.town.client.get(INBOX).get_json()["items"]]
    assert_problem(act_response(actors.town.client, handed, "accept"), 404)
    act(new_town, handed, "accept")

    # What the village handles moved with it; what the district handles stays with the district,
    # which is still above it; a closed case is the old town's record.
    assert _unchanged(get(actors.district.client, village_case["id"])) == _unchanged(village_case)
    assert get(actors.district.client, district_case["id"])["owner_unit_id"] == ids[D]
    assert get(actors.district.client, closed["id"])["owner_unit_id"] == ids[T1]
    for case in (village_case, district_case, closed):
        assert "transfer" not in [event["action"] for event in timeline(actors.district.client, case["id"])]

    session.expire_all()
    kept = counters.read_all(session)
    counters.rebuild(session, policy=service.current_policy())
    assert counters.read_all(session) == kept


def _unchanged(case: dict) -> dict:
    return {key: case[key] for key in ("owner_unit_id", "status", "version", "deadline_at")}


def test_a_town_moved_to_another_district_leaves_the_old_districts_studio_and_expert_behind(
        app, session, actors, ids, client, make_principal):
    """Found by a two-district audit: the moved town's cases stayed with the old district's studio
    and expert, who could no longer open them, and out of the town's inbox (a case given to
    someone counts as attended), so no one worked on them."""
    transfer.import_csv(session, data=OTHER_DISTRICT_CSV.encode())
    other_district = tree_service.get_unit_by_code(session, code=OTHER_D).id
    studio = people_service.create_studio(session, name="劳动争议调解工作室", unit_id=ids[D], specialties=["labour"]).id
    session.commit()
    expert, expert_token = make_principal("specialist", D)
    given = {}
    for to in ({"studio_id": studio}, {"assignee_id": expert}):
        case = act(actors.town.client, log(actors.grid.client, ids[M111], category="labour"), "accept")
        given[act(actors.town.client, case, "assign", **to)["id"]] = to
    expert_client, experts_case = bearer_client(app, expert_token), max(given)
    assert expert_client.get(f"{CASES}/{experts_case}").status_code == 200

    response = client.post(f"/api/v1/units/{ids[T1]}/move", json={"parent_id": other_district})
    assert response.status_code == 200, response.get_data(as_text=True)

    inbox = [case["id"] for case in every_page(actors.town.client, INBOX)]
    for case_id in given:
        case = get(actors.town.client, case_id)
        assert (case["owner_unit_id"], case["status"]) == (ids[T1], "in_progress")
        assert (case["studio_id"], case["assignee_id"]) == (None, None)
        assert case_id in inbox
        last = timeline(actors.town.client, case_id)[-1]
        assert last["action"] == "unassign"
        if "studio_id" in given[case_id]:
            assert last["reason"] == "劳动争议调解工作室 serves another district now"
        else:
            assert last["reason"].endswith("may no longer work on it: it lies outside their scope")
    assert expert_client.get(f"{CASES}/{experts_case}").status_code == 404


def test_a_studio_moved_to_another_district_lets_go_of_the_old_districts_cases(
        app, session, actors, ids, client):
    """Found by a review: the same seen from the studio's side, a town's studio moved away with
    its town kept a case of the town that stayed."""
    transfer.import_csv(session, data=OTHER_DISTRICT_CSV.encode())
    other_district = tree_service.get_unit_by_code(session, code=OTHER_D).id
    studio = people_service.create_studio(session, name="大渡口镇调解室", unit_id=ids[T2], specialties=["labour"]).id
    session.commit()
    case = act(actors.town.client, log(actors.grid.client, ids[M111], category="labour"), "accept")
    case = act(actors.district.client, case, "assign", studio_id=studio)
    assert case["studio_id"] == studio

    response = client.post(f"/api/v1/units/{ids[T2]}/move", json={"parent_id": other_district})
    assert response.status_code == 200, response.get_data(as_text=True)

    case = get(actors.town.client, case["id"])
    assert (case["owner_unit_id"], case["studio_id"]) == (ids[T1], None)
    assert case["id"] in [item["id"] for item in every_page(actors.town.client, INBOX)]
    assert timeline(actors.town.client, case["id"])[-1]["reason"] == "大渡口镇调解室 serves another district now"


def test_a_suspended_case_resumes_waiting_and_a_reopened_one_and_one_delegated_in_go_where_they_happened(
        app, session, actors, ids, client, make_principal):
    """Found by a race audit: a suspended case resumed as accepted by a town that never accepted
    it; a case resolved before the move and reopened after stayed with the old town for good; and
    one the old town delegated into the moving village from elsewhere left with that village."""
    suspended = log(actors.district.client, ids[M111], category="labour")
    for action, fields in [("accept", {}), ("suspend", {"reason": "当事人外出"})]:
        suspended = act(actors.town.client, suspended, action, **fields)
    resolved = log(actors.district.client, ids[M111], category="labour")
    for action, fields in [("accept", {}), ("resolve", {"note": "已和解"})]:
        resolved = act(actors.town.client, resolved, action, **fields)
    # Happened in V2 (安富街道, staying), handled by the town, delegated into V1 (moving).
    sideways = log(actors.district.client, ids[M211], category="consumer", risk_grade="red")
    assert sideways["owner_unit_id"] == ids[T1]
    sideways = act(actors.town.client, act(actors.town.client, sideways, "accept"), "regrade",
                   note="评估后降级", risk_grade="orange")
    sideways = act(actors.town.client, sideways, "delegate", unit_id=ids[V1], note="由永安社区调解员调处")

    assert client.post(f"/api/v1/units/{ids[V1]}/move", json={"parent_id": ids[T2]}).status_code == 200

    _id, token = make_principal("town_centre", T2)
    new_town = bearer_client(app, token)
    handed = get(actors.district.client, suspended["id"])
    assert (handed["owner_unit_id"], handed["status"]) == (ids[T2], "suspended")
    assert act(new_town, handed, "resume", reason="当事人返回")["status"] == "reported"

    assert get(actors.district.client, resolved["id"])["owner_unit_id"] == ids[T1]  # who resolved it
    closed = act(actors.district.client, get(actors.district.client, resolved["id"]), "close")
    reopened = act(actors.district.client, closed, "reopen", reason="申请人异议")
    assert (reopened["owner_unit_id"], reopened["status"]) == (ids[T2], "reopened")
    act(new_town, reopened, "accept")

    back = get(actors.district.client, sideways["id"])
    assert (back["owner_unit_id"], back["status"]) == (ids[V2], "reported")
    assert timeline(actors.district.client, sideways["id"])[-1]["action"] == "transfer"

    session.expire_all()
    kept = counters.read_all(session)
    counters.rebuild(session, policy=service.current_policy())
    assert counters.read_all(session) == kept


def test_a_case_delegated_beside_or_below_where_it_happened_stays_unless_a_move_parts_them(session, actors, ids):
    """Found in review: the first version took any owner not above where the case happened for
    one a move had parted from it. A case the town delegated sideways was taken back on reopening
    though nothing had moved, and one a village gave its grid could not be reopened (422), nor
    its grid moved."""
    sideways = log(actors.district.client, ids[M211], category="consumer", risk_grade="red")
    sideways = act(actors.town.client, act(actors.town.client, sideways, "accept"), "regrade",
                   note="评估后降级", risk_grade="orange")
    sideways = act(actors.town.client, sideways, "delegate", unit_id=ids[V1], note="由永安社区调处")
    for action, fields in [("accept", {}), ("resolve", {"note": "已和解"})]:
        sideways = act(actors.village.client, sideways, action, **fields)
    sideways = act(actors.district.client, act(actors.district.client, sideways, "close"), "reopen", reason="异议")
    assert sideways["owner_unit_id"] == ids[V1]

    below = new_case(session, ids[V1])  # logged at the village itself, given to one of its grids
    do(session, below, "delegate", unit_id=ids[G11])
    for action, params in [("accept", {}), ("resolve", {"note": "已和解"}), ("close", {}), ("reopen", {"reason": "异议"})]:
        do(session, below, action, **params)
    assert below.owner_unit_id == ids[G11]
    session.commit()

    tree_service.move_unit(session, unit=tree_service.get_unit_unscoped(session, unit_id=ids[G11]),
                           new_parent=tree_service.get_unit_unscoped(session, unit_id=ids[V2]))
    session.commit()
    below = fresh(session, below.id)
    assert (below.owner_unit_id, below.status) == (ids[V1], "reopened")  # back with the village it happened in


def test_a_retired_village_hands_its_open_cases_to_its_town(app, session, actors, ids, client, make_principal):
    """Found by an audit: a retired village kept its open cases, waiting where no one works any
    more until the sweep escalated them; and a case it resolved, reopened later, went back to it."""
    open_case = act(actors.village.client, log(actors.district.client, ids[M121], risk_grade="orange"), "accept")
    resolved = act(actors.village.client, log(actors.district.client, ids[M121], risk_grade="orange"), "accept")
    resolved = act(actors.village.client, resolved, "resolve", note="已和解")
    resolved = act(actors.town.client, resolved, "close")
    assert open_case["owner_unit_id"] == resolved["owner_unit_id"] == ids[V1]

    village = client.get(f"/api/v1/units/{ids[V1]}").get_json()
    response = client.patch(f"/api/v1/units/{ids[V1]}", json={"active": False, "version": village["version"]})
    assert response.status_code == 200, response.get_data(as_text=True)

    handed = get(actors.district.client, open_case["id"])
    assert (handed["owner_unit_id"], handed["owner_level"], handed["status"]) == (ids[T1], "town", "reported")
    last = timeline(actors.district.client, open_case["id"])[-1]
    assert last["action"] == "transfer" and "no longer in use" in last["reason"]
    assert (last["from_owner_unit_id"], last["to_owner_unit_id"]) == (ids[V1], ids[T1])
    assert open_case["id"] in [case["id"] for case in actors.town.client.get(INBOX).get_json()["items"]]

    # The closed case stays the village's record, until it is reopened: then the town has it.
    assert get(actors.district.client, resolved["id"])["owner_unit_id"] == ids[V1]
    reopened = act(actors.town.client, resolved, "reopen", reason="申请人对协议履行有异议")
    assert (reopened["owner_unit_id"], reopened["status"]) == (ids[T1], "reopened")

    session.expire_all()
    kept = counters.read_all(session)
    counters.rebuild(session, policy=service.current_policy())
    assert counters.read_all(session) == kept


def test_a_case_sent_back_after_its_village_retired_goes_to_the_town(session, actors, ids, client):
    """A resolved case stays the record of the village that resolved it; sent back by its
    verifier, the work goes to the town, to accept on its own deadline, not to a unit no one
    works at."""
    resolved = act(actors.village.client, log(actors.district.client, ids[M121], risk_grade="orange"), "accept")
    resolved = act(actors.village.client, resolved, "assign", assignee_id=actors.village2.id)
    resolved = act(actors.village.client, resolved, "resolve", note="已和解")
    village = client.get(f"/api/v1/units/{ids[V1]}").get_json()
    retired = client.patch(f"/api/v1/units/{ids[V1]}", json={"active": False, "version": village["version"]})
    assert retired.status_code == 200
    assert get(actors.district.client, resolved["id"])["owner_unit_id"] == ids[V1]

    back = act(actors.town.client, get(actors.town.client, resolved["id"]), "send_back", reason="核查发现协议未履行")
    assert (back["owner_unit_id"], back["owner_level"], back["status"]) == (ids[T1], "town", "reported")
    assert back["assignee_id"] is None and back["resolved_at"] is None
    assert back["deadline_at"] != resolved["deadline_at"] and back["deadline_colour"] == "green"
    assert back["id"] in [case["id"] for case in actors.town.client.get(INBOX).get_json()["items"]]
    assert act(actors.town.client, back, "accept")["status"] == "accepted"

    session.expire_all()
    kept = counters.read_all(session)
    counters.rebuild(session, policy=service.current_policy())
    assert counters.read_all(session) == kept


def test_a_retired_district_keeps_its_cases_having_no_unit_above(session, actors, ids, client):
    """Before, they were handed to the district itself: sent back to reported, unassigned, on a
    fresh clock, with an event saying it handles them."""
    case = act(actors.district.client, log(actors.district.client, ids[M111], people_involved=120), "accept")
    assert case["owner_unit_id"] == ids[D]

    district = client.get(f"/api/v1/units/{ids[D]}").get_json()
    retired = client.patch(f"/api/v1/units/{ids[D]}", json={"active": False, "version": district["version"]})
    assert retired.status_code == 200

    assert _unchanged(get(actors.district.client, case["id"])) == _unchanged(case)
    assert "transfer" not in [event["action"] for event in timeline(actors.district.client, case["id"])]
