"""The life of a case through the HTTP API, as the people at each level meet it.

Callers: a grid worker of G11, village stations of V1 (two: a resolver and a verifier), the town
centre of T1 and district command (see ``conftest.actors``). Cases are logged through the API, or,
where a test needs a case in a given status or at a given moment, built through the service.
"""

import hashlib
import json
import re
from datetime import date, timedelta
from datetime import timezone as datetime_timezone

import pytest
import sqlalchemy as sa

from gridgov.auth import pii
from gridgov.cases import calendar, clock
from gridgov.cases import service as cases_service
from gridgov.cases.enums import DeadlineColour, Outcome, Status
from gridgov.cases.models import CaseEvent, Party
from gridgov.db import utcnow
from gridgov.errors import RuleViolation
from tests.cases.support import (
    API,
    CASES,
    EXPECTED,
    INBOX,
    D,
    G11,
    G12,
    M111,
    M112,
    M121,
    M211,
    M311,
    OTHER_D,
    OTHER_DISTRICT_CSV,
    T1,
    T2,
    V1,
    V2,
    V3,
    act,
    act_response,
    assert_problem,
    case_body,
    at,
    case_in,
    do,
    fresh,
    get,
    holiday_data_ends,
    log,
    new_case,
    parse,
    set_clock,
    timeline,
)
from tests.conftest import bearer_client, cursor_at, every_page


def working_days(case: dict) -> float:
    return calendar.working_days_between(parse(case["arrived_at"]), parse(case["deadline_at"]))


# --- logging ------------------------------------------------------------------------------------


def test_a_case_logged_at_a_micro_grid_is_owned_by_its_grid(actors, ids):
    case = log(actors.grid.client, ids[M111])
    assert case["origin_unit_id"] == ids[M111]
    assert case["owner_unit_id"] == ids[G11]
    assert case["owner_level"] == "grid"
    assert case["highest_level"] == "grid"
    assert case["status"] == "reported"
    assert case["version"] == 1
    year = parse(case["created_at"]).year
    assert case["reference"] == f"NX-{year}-000001"
    assert working_days(case) == pytest.approx(1)
    assert case["deadline_colour"] == "green"
    assert case["resolved_level"] is None and case["assignee_id"] is None

    second = log(actors.grid.client, ids[M112])
    assert second["reference"] == f"NX-{year}-000002"


@pytest.mark.parametrize(
    ("overrides", "owner", "level", "days"),
    [
        ({"category": "labour"}, T1, "town", 5),  # labour's own town deadline
        ({"category": "petition"}, T1, "town", 5),
        ({"category": "traffic_injury"}, V1, "village", 2),
        ({"risk_grade": "orange"}, V1, "village", 2),
        ({"risk_grade": "red"}, T1, "town", 4),
        ({"people_involved": 30}, T1, "town", 4),
        ({"people_involved": 100}, D, "district", 10),
        ({"category": "consumer", "risk_grade": "yellow", "people_involved": 29}, G11, "grid", 1),
    ],
)
def test_category_grade_and_size_decide_who_owns_a_new_case(actors, ids, overrides, owner, level, days):
    case = log(actors.grid.client, ids[M111], **overrides)
    assert (case["owner_unit_id"], case["owner_level"], case["highest_level"]) == (ids[owner], level, level)
    assert working_days(case) == pytest.approx(days)


def test_a_case_logged_at_a_village_is_owned_by_the_village(actors, ids):
    case = log(actors.village.client, ids[V1])
    assert (case["owner_unit_id"], case["owner_level"]) == (ids[V1], "village")
    assert working_days(case) == pytest.approx(2)


def test_a_grid_worker_logs_only_where_their_scope_reaches(actors, ids):
    assert_problem(actors.grid.client.post(CASES, json={
        "title": "x", "category": "other", "risk_grade": "blue", "source": "other", "origin_unit_id": ids[M211],
    }), 404)
    assert_problem(actors.grid.client.post(CASES, json={
        "title": "x", "category": "other", "risk_grade": "blue", "source": "other", "origin_unit_id": ids[M121],
    }), 404)


@pytest.mark.parametrize(("field", "value"), [
    ("title", "\u200b"),  # blank to the eye: a title of spaces alone was already refused
    ("title", "楼上\n漏水"),  # a title is one line: it heads lists, CSV rows and pages
    ("title", "楼上\u202e水漏"),  # the text after it would read backwards
    ("parties", [{"role": "applicant", "name": "王\n五"}]),
    ("parties", [{"role": "applicant", "name": "王\u200b五"}]),
])
def test_text_that_reads_other_than_it_is_stored_is_refused(actors, ids, field, value):
    body = {"title": "楼上漏水", "category": "family_neighbour", "risk_grade": "blue", "source": "grid_patrol",
            "origin_unit_id": ids[M111], field: value}
    assert field in assert_problem(actors.grid.client.post(CASES, json=body), 422)["errors"]
    assert actors.district.client.get(CASES).get_json()["items"] == []


def test_a_description_keeps_its_lines_and_emoji_and_a_title_its_emoji(actors, ids):
    text = "楼上漏水。\n家里👨\u200d👩\u200d👧都受影响"  # a family emoji is joined by zero-width joiners
    assert log(actors.grid.client, ids[M111], description=text)["description"] == text
    assert log(actors.grid.client, ids[M111], title="楼上漏水👨\u200d👩\u200d👧")["title"] == "楼上漏水👨\u200d👩\u200d👧"


def test_required_fields_and_values_are_checked(actors, ids):
    body = assert_problem(actors.grid.client.post(CASES, json={"title": "x"}), 422)
    assert {"category", "risk_grade", "source", "origin_unit_id"} <= body["errors"].keys()
    body = assert_problem(actors.grid.client.post(CASES, json={
        "title": "x", "category": "gossip", "risk_grade": "purple", "source": "rumour", "origin_unit_id": ids[M111],
    }), 422)
    assert {"category", "risk_grade", "source"} <= body["errors"].keys()


def test_every_moment_is_answered_in_one_form(actors, ids):
    """Found by an audit: a moment on a whole second (a deadline) was written without the
    microseconds the others had, and an app's parser takes one form or the other (Swift's
    ISO8601DateFormatter with or without fractional seconds)."""
    one_form = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00")
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    moments = {name: value for name, value in case.items() if name.endswith("_at") and value is not None}
    assert {"created_at", "arrived_at", "deadline_at"} <= set(moments)
    assert parse(case["deadline_at"]).microsecond == 0  # the end of a working day
    assert all(one_form.fullmatch(value) for value in moments.values()), moments
    for event in timeline(actors.village.client, case["id"]):
        written = [event["at"]] + [value for name, value in event["details"]["changes"].items()
                                   if name.endswith("_at") and value is not None]
        assert all(one_form.fullmatch(value) for value in written), event


# --- idempotent logging ---------------------------------------------------------------------------


def test_a_retried_post_with_the_same_idempotency_key_answers_the_first_case(actors, ids):
    headers = {"Idempotency-Key": "phone-7f3a-0001"}
    first = actors.grid.client.post(CASES, json={
        "title": "欠薪", "category": "consumer", "risk_grade": "blue", "source": "grid_patrol",
        "origin_unit_id": ids[M111], "amount_in_dispute": "1200.50",
    }, headers=headers)
    again = actors.grid.client.post(CASES, json={
        "title": "欠薪", "category": "consumer", "risk_grade": "blue", "source": "grid_patrol",
        "origin_unit_id": ids[M111], "amount_in_dispute": "1200.50",
    }, headers=headers)
    assert first.status_code == 201, first.get_data(as_text=True)
    assert again.status_code == 200, again.get_data(as_text=True)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["reference"] == first.get_json()["reference"]
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers

    listed = actors.district.client.get(CASES).get_json()["items"]
    assert [case["id"] for case in listed] == [first.get_json()["id"]]


def test_the_same_idempotency_key_with_a_different_body_is_refused(actors, ids):
    """422, not 409: a client that retries a 409 unchanged (as the IETF draft lets it) would
    send the mismatched body for ever."""
    headers = {"Idempotency-Key": "phone-7f3a-0002"}
    log(actors.grid.client, ids[M111], headers=headers)
    body = assert_problem(
        actors.grid.client.post(CASES, json={
            "title": "另一件事", "category": "family_neighbour", "risk_grade": "blue", "source": "grid_patrol",
            "origin_unit_id": ids[M111],
        }, headers=headers),
        422,
    )
    assert "Idempotency-Key" in body["detail"]
    assert body["errors"] == {"Idempotency-Key": ["used for a different request"]}
    assert len(actors.district.client.get(CASES).get_json()["items"]) == 1


def test_a_retried_post_keeps_no_plain_hash_of_the_parties_id_numbers(app, session, actors, ids, monkeypatch):
    """The fingerprint that matches a retry to its request is keyed: before, it was a plain
    SHA-256 of the request, ID numbers in full, and a search over birth dates (the case keeps the
    last four) gave a number back from a copy of the database in under a second."""
    from gridgov.cases.models import IdempotencyRecord

    fingerprinted, fingerprint = [], cases_service._fingerprint
    monkeypatch.setattr(cases_service, "_fingerprint",
                        lambda fields: fingerprinted.append(fields) or fingerprint(fields))
    party = {"role": "applicant", "name": "陈建国", "id_number": "510503198703151239"}
    log(actors.grid.client, ids[M111], parties=[party], headers={"Idempotency-Key": "phone-7f3a-0003"})
    [stored] = session.scalars(sa.select(IdempotencyRecord.request_hash)).all()
    [fields] = fingerprinted
    assert "510503198703151239" in json.dumps(fields)  # what is fingerprinted holds the number
    assert stored != hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()
    with app.test_request_context():  # under another secret, the same request has another fingerprint
        app.secret_key, secret = "another-secret-of-sixteen-characters", app.secret_key
        try:
            assert fingerprint(fields) != stored
        finally:
            app.secret_key = secret


def test_a_retried_action_with_the_same_idempotency_key_is_done_once(actors, ids):
    """Found by an audit: the retry of an attempt whose answer was lost answered 409 (its own
    version stale), as a colleague's change would; sent again on a fresh version, as the README
    said of a 409, the attempt was recorded twice."""
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    body = {"action": "record_attempt", "version": case["version"], "outcome": "failure", "notes": "第一次调解"}
    headers = {"Idempotency-Key": "phone-7f3a-0101"}
    first = actors.village.client.post(f"{CASES}/{case['id']}/actions", json=body, headers=headers)
    again = actors.village.client.post(f"{CASES}/{case['id']}/actions", json=body, headers=headers)
    assert first.status_code == again.status_code == 200, again.get_data(as_text=True)
    assert again.get_json()["version"] == first.get_json()["version"] == case["version"] + 1
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    # Sent again after reading the case again, with the version it read then: the same request.
    reread = actors.village.client.post(f"{CASES}/{case['id']}/actions", headers=headers,
                                        json={**body, "version": again.get_json()["version"]})
    assert reread.status_code == 200 and reread.headers["Idempotent-Replayed"] == "true"
    assert [event["action"] for event in timeline(actors.village.client, case["id"])].count("record_attempt") == 1

    # Another action, or the same on another case, under that key: a mistake, said at once.
    other = {**body, "outcome": "success"}
    problem = assert_problem(actors.village.client.post(f"{CASES}/{case['id']}/actions", json=other, headers=headers),
                             422)
    assert problem["errors"] == {"Idempotency-Key": ["used for a different request"]}
    # Without a key, a retry finds its version stale, and says where the case is now.
    assert assert_problem(act_response(actors.village.client, case, "record_attempt", outcome="failure"),
                          409)["current_version"] == case["version"] + 1


def test_a_retry_of_a_case_now_outside_the_callers_scope_says_it_was_done(app, actors, ids, make_principal):
    """Found by an audit: the grid worker moved to another grid, the retry of their logging
    answered 404 for the unit (and, had the unit still been in scope, would have made a second
    case): now it names the case it made."""
    headers = {"Idempotency-Key": "phone-7f3a-0102"}
    body = case_body(ids[M111])
    made = actors.grid.client.post(CASES, json=body, headers=headers).get_json()
    admin = bearer_client(app, make_principal("admin", D)[1])
    moved = admin.patch(f"{API}/principals/{actors.grid.id}", json={"scope_unit_id": ids[G12]})
    assert moved.status_code == 200, moved.get_data(as_text=True)

    problem = assert_problem(actors.grid.client.post(CASES, json=body, headers=headers), 403)
    assert made["reference"] in problem["detail"]
    assert len(actors.district.client.get(CASES).get_json()["items"]) == 1


def test_the_sweep_forgets_idempotency_keys_after_a_week(session, actors, ids):
    from gridgov.cases.models import IdempotencyRecord
    from gridgov.cases.sweep import sweep

    old = log(actors.grid.client, ids[M111], headers={"Idempotency-Key": "phone-7f3a-0103"})
    log(actors.grid.client, ids[M112], headers={"Idempotency-Key": "phone-7f3a-0104"})
    session.execute(sa.update(IdempotencyRecord).where(IdempotencyRecord.key == "phone-7f3a-0103")
                    .values(created_at=utcnow() - timedelta(days=7, minutes=1)))
    session.commit()

    assert sweep(session)["keys_forgotten"] == 1
    assert session.scalars(sa.select(IdempotencyRecord.key)).all() == ["phone-7f3a-0104"]
    # Forgotten, the key is free: the same request makes a case again, as any new request.
    again = log(actors.grid.client, ids[M111], headers={"Idempotency-Key": "phone-7f3a-0103"})
    assert again["id"] != old["id"]


def test_idempotency_keys_belong_to_one_principal(app, actors, ids, make_principal):
    _, token = make_principal("grid_worker", G11)
    colleague = bearer_client(app, token)
    headers = {"Idempotency-Key": "shared-key"}
    mine = log(actors.grid.client, ids[M111], headers=headers)
    theirs = log(colleague, ids[M111], headers=headers)  # 201: a new case
    assert theirs["id"] != mine["id"]


def test_an_unusable_idempotency_key_is_refused(actors, ids):
    assert_problem(
        actors.grid.client.post(CASES, json={
            "title": "x", "category": "other", "risk_grade": "blue", "source": "other", "origin_unit_id": ids[M111],
        }, headers={"Idempotency-Key": "k" * 201}),
        422,
    )


# --- every transition, allowed and refused ---------------------------------------------------------

# A body for each action that satisfies its guards on a case owned by the village V1 (see below).
BODIES = {
    "accept": lambda ids, actors: {},
    "assign": lambda ids, actors: {"assignee_id": actors.village2.id},  # the grid worker cannot see it
    "record_attempt": lambda ids, actors: {"outcome": "partial", "notes": "第一次调解"},
    "resolve": lambda ids, actors: {"note": "双方签订调解协议"},
    "escalate": lambda ids, actors: {"reason": "beyond_authority", "risk_grade": "red"},
    "delegate": lambda ids, actors: {"unit_id": ids[G11], "note": "属地处置"},
    "refer": lambda ids, actors: {"channel": "legal_aid", "external_reference": "法援〔2026〕12号"},
    "return_from_referral": lambda ids, actors: {"outcome": "judgment", "note": "法院判决"},
    "suspend": lambda ids, actors: {"reason": "当事人外出务工"},
    "resume": lambda ids, actors: {},
    "close": lambda ids, actors: {"note": "回访核实"},
    "send_back": lambda ids, actors: {"reason": "回访核实：协议未履行"},
    "reopen": lambda ids, actors: {"reason": "申请人异议"},
    "follow_up": lambda ids, actors: {"satisfaction": 5, "comment": "满意"},
    "reject": lambda ids, actors: {"reason": "duplicate"},
    "regrade": lambda ids, actors: {"risk_grade": "blue", "note": "经核实风险较低"},
    "add_party": lambda ids, actors: {"party": {"role": "respondent", "name": "李四", "home_unit_id": ids[V3]}},
}
ALLOWED_PAIRS = [
    (status, action) for action, (sources, _target) in EXPECTED.items() for status in sorted(sources)
]


def expected_allowed(status) -> set[str]:
    allowed = {action for action, (sources, _) in EXPECTED.items() if status in sources}
    return allowed | ({"escalate"} if status == "reported" else set())


@pytest.mark.parametrize(("status", "action"), ALLOWED_PAIRS)
def test_every_allowed_transition(session, actors, ids, status, action):
    # Logged at the village itself: owned by V1, so it can be delegated down and escalated up.
    case = case_in(session, status, ids[V1])
    body = BODIES[action](ids, actors)
    if action == "escalate" and status == "reported":
        # From reported only because the deadline passed there.
        set_clock(session, case.id, deadline_at=utcnow() - timedelta(minutes=1),
                  yellow_at=utcnow() - timedelta(hours=2))
        body = {"reason": "deadline_exceeded"}
    before = get(actors.district.client, case.id)

    after = act(actors.district.client, before, action, **body)

    target = EXPECTED[action][1]
    otherwise = {"resume": "accepted", "follow_up": "closed", "send_back": "in_progress"}
    expected_status = otherwise.get(action, target) or status
    assert after["status"] == expected_status
    assert after["version"] > before["version"]
    event = timeline(actors.district.client, case.id)[-1]
    assert (event["action"], event["from_status"], event["to_status"]) == (action, status, expected_status)


@pytest.mark.parametrize("status", [status.value for status in Status])
def test_every_refused_transition_answers_409_with_the_allowed_actions(session, actors, ids, status):
    case = case_in(session, status, ids[V1])
    seen = get(actors.district.client, case.id)
    logged = timeline(actors.district.client, case.id)
    refused = sorted(set(EXPECTED) - expected_allowed(status))
    if status == "reported":
        refused.append("escalate")  # with a reason other than deadline_exceeded
    for action in refused:
        body = BODIES[action](ids, actors)
        if action == "escalate":
            body = {"reason": "mediation_failed"}
        problem = assert_problem(act_response(actors.district.client, seen, action, **body), 409)
        assert set(problem["allowed_actions"]) == expected_allowed(status), action
        assert action in problem["detail"]
        if status == "reported" and action == "escalate":
            # Not "escalate is not allowed …; allowed: …, escalate, …", which contradicted itself.
            assert "with that reason" in problem["detail"]
            assert "escalate (only with the reason deadline_exceeded)" in problem["detail"]
    now = get(actors.district.client, case.id)
    assert (now["status"], now["version"]) == (status, seen["version"])
    assert timeline(actors.district.client, case.id) == logged  # nothing was written


def test_a_deadline_reads_the_same_in_every_answer(actors, ids):
    """Before, the answer to logging gave it in +08:00 and a later read in UTC: the same moment,
    but a client comparing the strings saw a change."""
    case = log(actors.grid.client, ids[M111])
    assert case["deadline_at"].endswith("+00:00")
    accepted = act(actors.village.client, case, "accept")
    assert accepted["deadline_at"] == case["deadline_at"] == get(actors.village.client, case["id"])["deadline_at"]
    escalated = act(actors.village.client, act(actors.village.client, accepted, "record_attempt", outcome="failure"),
                    "escalate", reason="mediation_failed")
    assert escalated["deadline_at"] == get(actors.village.client, case["id"])["deadline_at"]
    assert escalated["deadline_at"].endswith("+00:00")


def test_a_stale_version_is_a_conflict(actors, ids):
    case = log(actors.grid.client, ids[M111])
    accepted = act(actors.village.client, case, "accept")
    assert accepted["version"] == 2
    problem = assert_problem(act_response(actors.village2.client, case, "reject", reason="duplicate"), 409)
    assert problem["current_version"] == 2
    assert "allowed_actions" not in problem
    assert get(actors.village.client, case["id"])["status"] == "accepted"


def test_the_fields_must_fit_the_action(actors, ids):
    case = log(actors.grid.client, ids[M111])
    problem = assert_problem(act_response(actors.village.client, case, "assign"), 422)
    assert "assignee_id" in problem["errors"]
    problem = assert_problem(act_response(actors.village.client, case, "accept", satisfaction=3), 422)
    assert "satisfaction" in problem["errors"]
    assert_problem(act_response(actors.village.client, case, "teleport"), 422)


# --- escalation -------------------------------------------------------------------------------------


def test_mediation_failed_needs_a_failed_attempt_at_the_current_level(actors, ids):
    case = log(actors.grid.client, ids[M111])
    case = act(actors.village.client, case, "accept")

    refused = assert_problem(act_response(actors.village.client, case, "escalate", reason="mediation_failed"), 422)
    assert refused["must_try_locally"] is True
    case = act(actors.village.client, case, "record_attempt", outcome="partial")
    refused = assert_problem(act_response(actors.village.client, case, "escalate", reason="mediation_failed"), 422)
    assert refused["must_try_locally"] is True

    case = act(actors.village.client, case, "record_attempt", outcome="failure", notes="双方分歧大")
    grid_deadline = parse(case["deadline_at"])
    escalated = act(actors.village.client, case, "escalate", reason="mediation_failed", note="网格调解不成")

    assert escalated["owner_unit_id"] == ids[V1]
    assert escalated["owner_level"] == "village"
    assert escalated["highest_level"] == "village"
    assert escalated["status"] == "reported"
    assert escalated["assignee_id"] is None
    assert parse(escalated["deadline_at"]) > grid_deadline
    assert working_days(escalated) == pytest.approx(2)  # the village's own deadline, from arrival
    assert escalated["deadline_colour"] == "green"

    # At the village, the grid's failure does not count: it must try itself.
    escalated = act(actors.village.client, escalated, "accept")
    refused = assert_problem(act_response(actors.village.client, escalated, "escalate", reason="mediation_failed"), 422)
    assert refused["must_try_locally"] is True


def test_deadline_exceeded_is_refused_before_the_deadline_and_accepted_after(session, actors, ids):
    case = log(actors.grid.client, ids[M111])
    refused = assert_problem(act_response(actors.village.client, case, "escalate", reason="deadline_exceeded"), 422)
    assert refused["must_try_locally"] is True

    past = utcnow() - timedelta(minutes=5)
    set_clock(session, case["id"], deadline_at=past, yellow_at=past - timedelta(hours=4))
    case = get(actors.village.client, case["id"])
    assert case["deadline_colour"] == "red"

    escalated = act(actors.village.client, case, "escalate", reason="deadline_exceeded")  # from reported
    assert (escalated["owner_unit_id"], escalated["owner_level"], escalated["status"]) == (ids[V1], "village", "reported")
    assert escalated["deadline_colour"] == "green"
    assert working_days(escalated) == pytest.approx(2)
    event = timeline(actors.village.client, case["id"])[-1]
    assert (event["action"], event["reason"]) == ("escalate", "deadline_exceeded")


def test_deadline_exceeded_through_the_service_at_a_given_moment(session, ids):
    start = at(2026, 3, 11, 10)  # a Wednesday with no holiday near
    case = new_case(session, ids[M111], now=start)
    assert case.deadline_at == at(2026, 3, 12, 10)

    with pytest.raises(RuleViolation) as refused:
        do(session, case, "escalate", reason="deadline_exceeded", now=at(2026, 3, 12, 9, 59))
    assert refused.value.extra == {"must_try_locally": True}

    moment = at(2026, 3, 12, 10, 1)
    do(session, case, "escalate", reason="deadline_exceeded", now=moment)
    assert case.status is Status.REPORTED
    assert case.owner_unit_id == ids[V1]
    assert case.arrived_at == moment
    assert case.deadline_at == at(2026, 3, 16, 10, 1)  # two working days: Thursday → Monday


@pytest.mark.parametrize("stop, start", [
    ("suspend", "resume"),
    ("refer", "return_from_referral"),
])
def test_an_overdue_case_taken_up_again_on_a_holiday_stays_overdue(session, ids, stop, start):
    case = new_case(session, ids[M111], now=at(2026, 9, 28, 9))  # the grid: due Tuesday 29 Sep, 09:00
    do(session, case, "accept", now=at(2026, 9, 28, 10))
    fields = {"reason": "当事人外出"} if stop == "suspend" else {"channel": "legal_aid"}
    do(session, case, stop, now=at(2026, 9, 30, 9), **fields)  # a day late: no time left
    do(session, case, start, now=at(2026, 10, 1, 10),
       **({"outcome": "judgment"} if start == "return_from_referral" else {}))

    assert case.deadline_at == at(2026, 10, 1, 10)  # not 8 October, after the holiday
    assert clock.colour(case, now=at(2026, 10, 2, 10)) is DeadlineColour.RED
    do(session, case, "escalate", reason="deadline_exceeded", now=at(2026, 10, 2, 10))
    assert case.owner_unit_id == ids[V1]


def test_a_suspended_case_has_no_deadline_and_nothing_provisional(session, ids, monkeypatch):
    holiday_data_ends(monkeypatch, date(2026, 9, 30))
    case = new_case(session, ids[V1], now=at(2026, 9, 30, 10))
    assert case.deadline_provisional is True
    do(session, case, "suspend", reason="当事人外出", now=at(2026, 9, 30, 12))
    assert (case.deadline_at, case.deadline_provisional) == (None, False)
    do(session, case, "resume", now=at(2026, 9, 30, 14))
    assert case.deadline_provisional is True  # counted again past the data


def test_a_mediation_attempt_cannot_predate_the_cases_arrival_at_its_owner(actors, ids):
    case = log(actors.grid.client, ids[M111])
    case = act(actors.village.client, case, "accept")
    case = act(actors.village.client, case, "record_attempt", outcome="failure")
    case = act(actors.village.client, case, "escalate", reason="mediation_failed")
    case = act(actors.village.client, case, "accept")

    # Dated before it came to the village (a phone's clock a few minutes off aside): it would
    # count as the village's failure.
    before = (parse(case["arrived_at"]) - timedelta(minutes=10)).isoformat()
    refused = assert_problem(act_response(actors.village.client, case, "record_attempt", outcome="failure",
                                          attempted_at=before), 422)
    assert "attempted_at" in refused["errors"]
    assert assert_problem(act_response(actors.village.client, case, "escalate", reason="mediation_failed"),
                          422)["must_try_locally"] is True


def test_a_deadline_skips_the_holiday_and_counts_the_adjusted_working_saturday(session, ids):
    # 2026: 1–7 October off, Saturday 10 October worked (调休).
    before_holiday = new_case(session, ids[V1], now=at(2026, 9, 30, 10))  # the village: 2 working days
    assert before_holiday.deadline_at == at(2026, 10, 9, 10)
    friday = new_case(session, ids[M111], now=at(2026, 10, 9, 10))  # the grid: 1 working day
    assert friday.deadline_at == at(2026, 10, 10, 10)  # the Saturday is a working day
    assert not before_holiday.deadline_provisional and not friday.deadline_provisional


def test_beyond_authority_goes_straight_to_the_level_the_new_grade_needs(actors, ids):
    case = log(actors.grid.client, ids[M111])
    case = act(actors.village.client, case, "accept")
    refused = assert_problem(act_response(actors.village.client, case, "escalate", reason="beyond_authority"), 422)
    assert refused["must_try_locally"] is True
    # The refused regrade is not kept.
    assert get(actors.village.client, case["id"])["risk_grade"] == "blue"

    escalated = act(actors.village.client, case, "escalate", reason="beyond_authority", risk_grade="red",
                    note="可能引发群体性事件")
    assert escalated["owner_unit_id"] == ids[T1]  # the village level is skipped
    assert escalated["owner_level"] == "town"
    assert escalated["highest_level"] == "town"
    assert escalated["risk_grade"] == "red"
    assert escalated["status"] == "reported"
    assert working_days(escalated) == pytest.approx(4)


def test_beyond_authority_by_size_reaches_the_district(actors, ids):
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    escalated = act(actors.village.client, case, "escalate", reason="beyond_authority", people_involved=120)
    assert (escalated["owner_unit_id"], escalated["owner_level"]) == (ids[D], "district")
    assert escalated["people_involved"] == 120


def test_an_escalation_that_regrades_the_case_lands_no_lower_than_the_new_grade_needs(actors, ids):
    """Before, mediation_failed went exactly one level up even when it also regraded the case
    red, and the village then settled a case that policy keeps at the town."""
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    case = act(actors.village.client, case, "record_attempt", outcome="failure")
    escalated = act(actors.village.client, case, "escalate", reason="mediation_failed", risk_grade="red")
    assert (escalated["owner_unit_id"], escalated["owner_level"], escalated["risk_grade"]) == (ids[T1], "town", "red")
    assert working_days(escalated) == pytest.approx(4)  # the town's deadline

    parties = [{"role": "respondent", "name": "钱七", "home_unit_id": ids[M121]}]  # another grid, same village
    case = act(actors.village.client, log(actors.grid.client, ids[M111], parties=parties), "accept")
    escalated = act(actors.village.client, case, "escalate", reason="cross_boundary", people_involved=150)
    assert (escalated["owner_unit_id"], escalated["owner_level"]) == (ids[D], "district")


def test_cross_boundary_goes_to_the_lowest_common_ancestor(actors, ids):
    parties = [
        {"role": "applicant", "name": "王五", "home_unit_id": ids[M111]},
        {"role": "respondent", "name": "赵六", "home_unit_id": ids[V3]},  # 金龙村, 大渡口镇
    ]
    case = act(actors.village.client, log(actors.grid.client, ids[M111], parties=parties), "accept")
    escalated = act(actors.village.client, case, "escalate", reason="cross_boundary")
    assert (escalated["owner_unit_id"], escalated["owner_level"], escalated["highest_level"]) == (
        ids[D], "district", "district",
    )
    # The village no longer owns it, but it happened in its scope: it still reads it.
    assert get(actors.village.client, case["id"])["owner_unit_id"] == ids[D]


def test_cross_boundary_within_the_village_goes_to_the_village(actors, ids):
    parties = [{"role": "respondent", "name": "钱七", "home_unit_id": ids[M121]}]  # grid G12, same village
    case = act(actors.village.client, log(actors.grid.client, ids[M111], parties=parties), "accept")
    escalated = act(actors.village.client, case, "escalate", reason="cross_boundary")
    assert (escalated["owner_unit_id"], escalated["owner_level"]) == (ids[V1], "village")


def test_cross_boundary_is_refused_when_every_party_lives_within_the_owner(actors, ids):
    parties = [
        {"role": "applicant", "name": "孙八", "home_unit_id": ids[M111]},
        {"role": "respondent", "name": "周九", "home_unit_id": ids[M112]},
        {"role": "other", "name": "吴十"},
    ]
    case = act(actors.village.client, log(actors.grid.client, ids[M111], parties=parties), "accept")
    refused = assert_problem(act_response(actors.village.client, case, "escalate", reason="cross_boundary"), 422)
    assert refused["must_try_locally"] is True


def test_an_unknown_escalation_reason_is_refused(actors, ids):
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    problem = assert_problem(act_response(actors.village.client, case, "escalate", reason="too_hard"), 422)
    assert "reason" in problem["errors"]


def test_a_mis_graded_case_is_regraded_where_it_is_and_then_delegated_down(actors, ids):
    """Before, only an escalation could change a grade: a red family case at the town went up to
    the district to come back down."""
    case = act(actors.town.client, log(actors.town.client, ids[M111], risk_grade="red"), "accept")
    assert case["owner_level"] == "town"
    assert assert_problem(act_response(actors.town.client, case, "delegate", unit_id=ids[V1], note="属地处置"), 422)

    case = act(actors.town.client, case, "regrade", risk_grade="blue", note="经核实为一般邻里纠纷")
    assert (case["risk_grade"], case["owner_level"], case["status"]) == ("blue", "town", "accepted")
    event = timeline(actors.town.client, case["id"])[-1]
    assert event["action"] == "regrade" and event["reason"] == "经核实为一般邻里纠纷"
    assert event["details"]["changes"]["risk_grade"] == "blue"
    assert act(actors.town.client, case, "delegate", unit_id=ids[V1], note="属地处置")["owner_unit_id"] == ids[V1]


def test_a_case_logged_under_too_light_a_category_goes_up_with_its_true_one(actors, ids):
    """Before, regrade said to escalate, and escalate took no category: a dead end."""
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")  # family: the grid's
    refused = assert_problem(act_response(actors.village.client, case, "regrade", category="land_housing",
                                          note="实为土地纠纷"), 422)
    assert "beyond_authority and the new category" in refused["detail"] and "category" in refused["errors"]

    escalated = act(actors.village.client, case, "escalate", reason="beyond_authority", category="land_housing")
    assert (escalated["category"], escalated["owner_unit_id"]) == ("land_housing", ids[V1])


def test_regrading_beyond_the_owners_authority_says_to_escalate(actors, ids):
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    problem = assert_problem(act_response(actors.village.client, case, "regrade", risk_grade="red",
                                          note="涉及人数多"), 422)
    assert "beyond_authority" in problem["detail"]
    assert get(actors.village.client, case["id"])["risk_grade"] == case["risk_grade"]
    assert "regrade needs one of" in str(assert_problem(
        act_response(actors.village.client, case, "regrade", note="无变化"), 422)["errors"])
    # Not yet accepted, it cannot be escalated for that either: the message says to accept first.
    waiting = log(actors.grid.client, ids[M111])
    assert "accept it, then escalate" in assert_problem(
        act_response(actors.village.client, waiting, "regrade", risk_grade="red", note="涉及人数多"), 422)["detail"]


@pytest.mark.parametrize(("studio_home", "giver"), [(D, "village"), (V3, "district")])
def test_a_case_with_a_studio_keeps_a_category_the_studio_takes(session, actors, ids, studio_home, giver):
    """Also when the station that regrades cannot see the studio: district command gave the grid's
    case to another town's studio. Before, the station's scoped read found no studio then, and
    the case took a category the studio does not take."""
    from gridgov.people import service as people_service

    studio = people_service.create_studio(session, name="家事邻里调解室", unit_id=ids[studio_home],
                                          specialties=["family_neighbour"])
    session.commit()
    giver = getattr(actors, giver).client
    case = act(giver, act(giver, log(actors.grid.client, ids[M111]), "accept"), "assign", studio_id=studio.id)
    problem = assert_problem(act_response(actors.village.client, case, "regrade", category="consumer",
                                          note="实为消费纠纷"), 422)
    assert "assign it elsewhere first" in problem["detail"]
    assert get(actors.village.client, case["id"])["category"] == "family_neighbour"
    seen = actors.village.client.get(f"/api/v1/studios/{studio.id}").status_code
    assert seen == (200 if studio_home == D else 404)


def test_a_party_met_after_logging_is_added_and_makes_the_case_cross_boundary(actors, ids):
    """Before, parties could be given only when logging: a resident's case (whose one party has
    no home) could never go cross_boundary, and the refusal said every party lived within."""
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    refused = assert_problem(act_response(actors.village.client, case, "escalate", reason="cross_boundary"), 422)
    assert "add_party" in refused["detail"]

    case = act(actors.village.client, case, "add_party",
               party={"role": "respondent", "name": "王五", "phone": "13912345678", "home_unit_id": ids[M211]})
    assert [(party["role"], party["name"], party["home_unit_id"]) for party in case["parties"]] == [
        ("respondent", "王*", ids[M211])]  # masked for the village, as every party is
    event = timeline(actors.village.client, case["id"])[-1]
    assert event["details"]["party"] == {"role": "respondent", "home_unit_id": ids[M211]}
    assert "王五" not in str(event) and "13912345678" not in str(event)

    escalated = act(actors.village.client, case, "escalate", reason="cross_boundary")
    assert escalated["owner_unit_id"] == ids[T1]  # where V1 and M211's village meet


def test_the_district_cannot_escalate(actors, ids):
    case = log(actors.grid.client, ids[M111], people_involved=100)
    assert case["owner_level"] == "district"
    case = act(actors.district.client, case, "accept")
    case = act(actors.district.client, case, "record_attempt", outcome="failure")
    for body in ({"reason": "mediation_failed"}, {"reason": "beyond_authority", "risk_grade": "red"}):
        assert_problem(act_response(actors.district.client, case, "escalate", **body), 422)
    after = get(actors.district.client, case["id"])
    assert (after["owner_unit_id"], after["status"], after["version"]) == (ids[D], "in_progress", case["version"])


# --- delegation -------------------------------------------------------------------------------------


def test_delegating_down_hands_the_case_to_the_unit_below(actors, ids):
    case = log(actors.town.client, ids[T1])  # happened at the town itself: the town handles it
    assert (case["owner_unit_id"], case["owner_level"]) == (ids[T1], "town")
    case = act(actors.town.client, case, "accept")

    delegated = act(actors.town.client, case, "delegate", unit_id=ids[V1], note="交永安社区调处")
    assert (delegated["owner_unit_id"], delegated["owner_level"], delegated["status"]) == (ids[V1], "village", "reported")
    assert delegated["highest_level"] == "town"  # it was there
    assert working_days(delegated) == pytest.approx(2)
    event = timeline(actors.town.client, case["id"])[-1]
    assert (event["action"], event["from_owner_unit_id"], event["to_owner_unit_id"]) == ("delegate", ids[T1], ids[V1])

    # and the village may pass it on to a grid
    down = act(actors.village.client, delegated, "delegate", unit_id=ids[G12], note="网格员熟悉情况")
    assert (down["owner_unit_id"], down["owner_level"]) == (ids[G12], "grid")
    assert timeline(actors.village.client, case["id"])[-1]["reason"] == "网格员熟悉情况"


def test_delegating_needs_a_note_saying_why(actors, ids):
    case = act(actors.town.client, log(actors.town.client, ids[T1]), "accept")
    for body in ({}, {"note": "   "}):
        problem = assert_problem(act_response(actors.town.client, case, "delegate", unit_id=ids[V1], **body), 422)
        assert "note" in problem["errors"]
    assert get(actors.town.client, case["id"])["owner_unit_id"] == ids[T1]


@pytest.mark.parametrize("action, body", [("suspend", {"reason": "  "}), ("resume", {"reason": ""}),
                                          ("reopen", {"reason": " "})])
def test_a_blank_reason_is_refused_not_recorded(actors, ids, action, body):
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    problem = assert_problem(act_response(actors.village.client, case, action, **body), 422)
    assert "reason" in problem["errors"]
    assert get(actors.village.client, case["id"])["version"] == case["version"]


def test_a_unit_no_longer_in_use_takes_no_new_cases_and_no_delegations(session, actors, ids):
    from gridgov.tree.models import Unit

    case = act(actors.town.client, log(actors.town.client, ids[T1]), "accept")
    session.execute(sa.update(Unit).where(Unit.id.in_([ids[M112], ids[V1]])).values(active=False))
    session.commit()

    problem = assert_problem(actors.grid.client.post(CASES, json={
        "title": "噪音", "category": "family_neighbour", "risk_grade": "blue", "source": "grid_patrol",
        "origin_unit_id": ids[M112]}), 422)
    assert "origin_unit_id" in problem["errors"]
    assert "no longer in use" in assert_problem(
        act_response(actors.town.client, case, "delegate", unit_id=ids[V1], note="交办"), 422)["detail"]
    assert get(actors.town.client, case["id"])["owner_unit_id"] == ids[T1]
    assert log(actors.grid.client, ids[M111])["origin_unit_id"] == ids[M111]  # its neighbour still is


def test_a_case_whose_grid_is_retired_goes_to_the_next_level_up(session, actors, ids):
    from gridgov.tree.models import Unit

    session.execute(sa.update(Unit).where(Unit.id == ids[G11]).values(active=False))
    session.commit()
    case = log(actors.grid.client, ids[M111])
    assert (case["owner_unit_id"], case["owner_level"]) == (ids[V1], "village")


def test_an_escalation_passes_over_a_retired_village_to_the_town(session, actors, ids):
    """Before, the case went to the retired village, which no one works at any more."""
    from gridgov.tree.models import Unit

    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    case = act(actors.village.client, case, "record_attempt", outcome="failure")
    session.execute(sa.update(Unit).where(Unit.id == ids[V1]).values(active=False))
    session.commit()
    escalated = act(actors.village.client, case, "escalate", reason="mediation_failed")
    assert (escalated["owner_unit_id"], escalated["owner_level"]) == (ids[T1], "town")
    assert escalated["highest_level"] == "town"


def test_a_unit_that_once_handled_a_case_cannot_be_deleted(actors, ids):
    grid = actors.district.client.post("/api/v1/units", json={"name": "新建网格", "level": "grid", "parent_id": ids[V1]})
    assert grid.status_code == 201, grid.get_data(as_text=True)
    grid_id = grid.get_json()["id"]
    case = act(actors.town.client, log(actors.town.client, ids[T1]), "accept")
    case = act(actors.town.client, case, "delegate", unit_id=grid_id, note="交新建网格")
    case = act(actors.village.client, case, "accept")
    case = act(actors.village.client, case, "record_attempt", outcome="failure")
    case = act(actors.village.client, case, "escalate", reason="mediation_failed")
    assert case["owner_unit_id"] == ids[V1]  # the grid neither owns it nor is where it happened

    problem = assert_problem(actors.district.client.delete(f"/api/v1/units/{grid_id}"), 409)
    assert "handled cases" in problem["detail"]


def test_a_unit_a_party_lives_in_cannot_be_deleted(session, actors, ids):
    """Found by an audit: the delete went through and cleared the party's home, with no event:
    the case lost what a cross_boundary escalation reads, and its timeline named a unit gone."""
    home = actors.district.client.post("/api/v1/units", json={"name": "新建微网格", "level": "microgrid",
                                                               "parent_id": ids[G12]})
    assert home.status_code == 201, home.get_data(as_text=True)
    home_id = home.get_json()["id"]
    case = log(actors.grid.client, ids[M111], parties=[{"role": "respondent", "name": "李四", "home_unit_id": home_id}])

    problem = assert_problem(actors.district.client.delete(f"/api/v1/units/{home_id}"), 409)
    assert "Parties" in problem["detail"] and "deactivate" in problem["detail"]
    assert session.scalar(sa.select(Party.home_unit_id).where(Party.case_id == case["id"])) == home_id


def test_the_creation_event_says_where_the_parties_live_not_who_they_are(actors, ids):
    """Found by an audit: the trail kept the homes of parties added later, not of those logged
    with the case, though they decide whether it may go up cross_boundary."""
    case = log(actors.grid.client, ids[M111], parties=[
        {"role": "applicant", "name": "张三", "phone": "13800001234", "home_unit_id": ids[M111]},
        {"role": "respondent", "name": "李四"},
    ])
    [created] = timeline(actors.district.client, case["id"])
    assert created["details"]["parties"] == [{"role": "applicant", "home_unit_id": ids[M111]},
                                             {"role": "respondent", "home_unit_id": None}]
    assert "张三" not in json.dumps(created, ensure_ascii=False)
    [alone] = timeline(actors.district.client, log(actors.grid.client, ids[M111])["id"])
    assert "parties" not in alone["details"]


def test_delegation_below_the_policy_minimum_is_refused(actors, ids):
    case = log(actors.grid.client, ids[M111], category="labour")
    assert case["owner_level"] == "town"
    problem = assert_problem(act_response(actors.town.client, case, "delegate", unit_id=ids[V1], note="交办"), 422)
    assert "town" in problem["detail"]
    assert get(actors.town.client, case["id"])["owner_unit_id"] == ids[T1]


def test_delegation_only_goes_down_and_never_to_a_micro_grid(actors, ids):
    case = log(actors.town.client, ids[T1])
    assert_problem(act_response(actors.town.client, case, "delegate", unit_id=ids[M111], note="交办"), 422)
    assert_problem(act_response(actors.town.client, case, "delegate", unit_id=ids[T1], note="交办"), 422)
    assert_problem(act_response(actors.district.client, case, "delegate", unit_id=ids[V3], note="交办"), 422)  # another town's
    assert_problem(act_response(actors.district.client, case, "delegate", unit_id=ids[D], note="交办"), 422)  # up


# --- resolving, closing, reopening, following up --------------------------------------------------------


def test_resolve_needs_a_successful_attempt_or_a_note(actors, ids):
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    problem = assert_problem(act_response(actors.village.client, case, "resolve"), 422)
    assert "attempt" in problem["detail"]
    case = act(actors.village.client, case, "record_attempt", outcome="failure")
    assert_problem(act_response(actors.village.client, case, "resolve"), 422)  # a failure is not enough

    case = act(actors.village.client, case, "record_attempt", outcome="success", notes="达成调解协议")
    resolved = act(actors.village.client, case, "resolve")
    assert resolved["status"] == "resolved"
    assert resolved["resolved_level"] == "grid"
    assert resolved["resolved_at"] is not None

    other = act(actors.village.client, log(actors.grid.client, ids[M112]), "accept")
    assert act(actors.village.client, other, "resolve", note="当事人撤回")["status"] == "resolved"


def test_a_reopened_case_needs_a_new_success_or_a_note_to_be_resolved_again(actors, ids):
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    case = act(actors.village.client, case, "record_attempt", outcome="success", notes="达成调解协议")
    case = act(actors.village.client, case, "resolve")
    case = act(actors.village2.client, case, "close")
    case = act(actors.village.client, case, "reopen", reason="申请人对协议履行有异议")
    assert case["settled_at"] is None  # the settlement objected to is not one any more
    case = act(actors.village.client, case, "accept")

    problem = assert_problem(act_response(actors.village.client, case, "resolve"), 422)
    assert "attempt" in problem["detail"]
    case = act(actors.village.client, case, "record_attempt", outcome="success", notes="重新调解")
    assert act(actors.village.client, case, "resolve")["status"] == "resolved"


def test_close_needs_a_verifier_other_than_the_resolver(session, actors, ids):
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    case = act(actors.village.client, case, "resolve", note="双方和解")

    problem = assert_problem(act_response(actors.village.client, case, "close"), 422)
    assert "verifier" in problem["detail"]

    closed = act(actors.village2.client, case, "close", note="电话核实")
    assert closed["status"] == "closed"
    assert closed["closed_at"] is not None
    assert closed["deadline_at"] is None and closed["deadline_colour"] is None
    row = fresh(session, case["id"])
    assert row.closed_on_time is True
    assert row.closed_by_id == actors.village2.id
    assert row.resolved_by_id == actors.village.id


def test_a_verifier_sends_back_a_case_found_not_settled(session, actors, ids):
    """核查不通过: before, a resolved case could only be closed, settled or not."""
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    case = act(actors.village.client, case, "assign", assignee_id=actors.grid.id)
    case = act(actors.grid.client, case, "record_attempt", outcome="success", notes="双方口头达成一致")
    resolved = act(actors.village.client, case, "resolve")

    problem = assert_problem(act_response(actors.village.client, resolved, "send_back", reason="自查"), 422)
    assert "verifier" in problem["detail"]
    assert_problem(act_response(actors.village2.client, resolved, "send_back"), 422)  # says what was found

    back = act(actors.village2.client, resolved, "send_back", reason="回访核实：对方未履行协议")
    assert (back["status"], back["owner_unit_id"], back["assignee_id"]) == ("in_progress", ids[G11], actors.grid.id)
    assert back["resolved_at"] is None and back["resolved_level"] is None and back["settled_at"] is None
    assert parse(back["deadline_at"]) >= parse(resolved["deadline_at"])  # the wait is not the owner's (below)
    event = timeline(actors.village.client, case["id"])[-1]
    assert (event["action"], event["from_status"], event["reason"]) == ("send_back", "resolved", "回访核实：对方未履行协议")
    assert back["id"] in [item["id"] for item in actors.grid.client.get(INBOX).get_json()["items"]]

    # What was taken for a settlement was not one: resolving again needs a new one, or a note.
    assert "attempt" in assert_problem(act_response(actors.village.client, back, "resolve"), 422)["detail"]
    back = act(actors.grid.client, back, "record_attempt", outcome="success", notes="协议已履行")
    again = act(actors.village.client, back, "resolve")
    assert act(actors.village2.client, again, "close")["status"] == "closed"
    assert fresh(session, case["id"]).resolved_at is not None


def test_a_case_sent_back_goes_on_with_the_time_it_had_left_when_it_was_resolved(session, ids):
    """Found in review: it went on against the deadline that ran while it waited to be verified, and
    a grid's case sent back a day later went straight up with the next sweep."""
    from gridgov.cases.sweep import sweep

    case = case_in(session, "accepted", ids[M111], now=at(2026, 3, 2, 9))  # a grid's: until Tuesday 9:00
    do(session, case, "resolve", note="双方和解", now=at(2026, 3, 2, 15))  # with 18 hours left
    assert case.deadline_at == at(2026, 3, 3, 9)
    do(session, case, "send_back", reason="回访：协议未履行", now=at(2026, 3, 5, 10))  # on Thursday
    assert (case.status, case.deadline_at) == (Status.IN_PROGRESS, at(2026, 3, 6, 4))  # 18 hours on
    session.commit()
    assert sweep(session, now=at(2026, 3, 5, 11))["escalated"] == 0
    assert fresh(session, case.id).owner_unit_id == ids[G11]

    # Resolved late, it is late when it comes back: up it goes with the sweep, as it would have.
    late = case_in(session, "accepted", ids[M111], now=at(2026, 3, 2, 9))
    do(session, late, "resolve", note="双方和解", now=at(2026, 3, 3, 10))
    do(session, late, "send_back", reason="回访：协议未履行", now=at(2026, 3, 5, 10))
    assert late.deadline_at == at(2026, 3, 5, 10)
    session.commit()
    assert sweep(session, now=at(2026, 3, 5, 11))["escalated"] == 1
    assert fresh(session, late.id).owner_unit_id == ids[V1]


def test_a_case_closed_after_its_deadline_is_not_closed_on_time(session, ids):
    start = at(2026, 3, 11, 10)
    case = case_in(session, "resolved", ids[M111], now=start)
    do(session, case, "close", now=at(2026, 3, 13, 10))  # the grid had until Thursday 10:00
    assert case.closed_on_time is False


def test_reopen_within_30_days_then_accept_again(actors, ids):
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    case = act(actors.village.client, case, "resolve", note="双方和解")
    case = act(actors.village2.client, case, "close")

    reopened = act(actors.village.client, case, "reopen", reason="申请人对结果有异议")
    assert reopened["status"] == "reopened"
    assert reopened["closed_at"] is None and reopened["resolved_at"] is None and reopened["resolved_level"] is None
    assert reopened["deadline_colour"] == "green"
    assert working_days(reopened) == pytest.approx(1)

    accepted = act(actors.village.client, reopened, "accept")
    assert accepted["status"] == "accepted"
    # and it can be resolved and closed again, by the same people as before
    accepted = act(actors.village.client, accepted, "resolve", note="再次调解成功")
    assert act(actors.village2.client, accepted, "close")["status"] == "closed"


def test_a_reopened_case_is_settled_again_not_rejected(actors, ids):
    """Before, rejecting the objection ended a mediated, closed and followed-up matter as 不予受理,
    and took it out of the figures: resolved, closed, local resolution, a late closing too."""
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    case = act(actors.village.client, case, "resolve", note="双方和解")
    case = act(actors.village2.client, case, "close")
    reopened = act(actors.village.client, case, "reopen", reason="申请人对结果有异议")

    problem = assert_problem(act_response(actors.village.client, reopened, "reject", reason="invalid"), 409)
    assert "reject" not in problem["allowed_actions"] and "accept" in problem["allowed_actions"]
    assert get(actors.village.client, case["id"])["status"] == "reopened"


def test_reopen_after_30_calendar_days_is_refused(session, ids):
    closed_at = at(2026, 3, 2, 23, 30)
    case = case_in(session, "closed", ids[M111], now=closed_at)
    with pytest.raises(RuleViolation, match="30 calendar days"):
        do(session, case, "reopen", reason="迟到的异议", now=at(2026, 4, 2, 0, 1))
    assert case.status is Status.CLOSED
    # The thirtieth day counts whole, in Shanghai: before, 30 × 24 hours ended at 23:30.
    do(session, case, "reopen", reason="异议", now=at(2026, 4, 1, 23, 45))
    assert case.status is Status.REOPENED


def test_the_thirtieth_day_is_counted_in_shanghai_when_the_moments_come_from_the_database(session, ids):
    """The service's moments are UTC: closed at 07:30 on 2 March in Shanghai is 1 March in UTC,
    and 1 April, 10:00 in Shanghai is still its thirtieth day."""
    utc = datetime_timezone.utc
    case = case_in(session, "closed", ids[M111], now=at(2026, 3, 2, 7, 30).astimezone(utc))
    case = fresh(session, case.id)  # closed_at as the database gives it back
    do(session, case, "reopen", reason="异议", now=at(2026, 4, 1, 10).astimezone(utc))
    assert case.status is Status.REOPENED


def test_a_reopened_case_escalates_for_failed_mediation_only_after_failing_again(session, ids):
    """A failure recorded before the case was closed is not a failure at handling the objection."""
    case = case_in(session, "accepted", ids[M111])
    do(session, case, "record_attempt", outcome=Outcome.FAILURE)
    do(session, case, "resolve", note="后来和解")
    do(session, case, "close")
    do(session, case, "reopen", reason="申请人异议")
    do(session, case, "accept")
    with pytest.raises(RuleViolation, match="failed mediation attempt"):
        do(session, case, "escalate", reason="mediation_failed")
    do(session, case, "record_attempt", outcome=Outcome.FAILURE)
    do(session, case, "escalate", reason="mediation_failed")
    assert case.status is Status.REPORTED and case.owner_level.value == "village"


def test_follow_up_records_satisfaction_from_1_to_5(session, actors, ids):
    case = get(actors.village.client, case_in(session, "closed", ids[M111]).id)
    for wrong in (0, 6, "5"):
        problem = assert_problem(act_response(actors.village.client, case, "follow_up", satisfaction=wrong), 422)
        assert "satisfaction" in problem["errors"]
    followed = act(actors.village.client, case, "follow_up", satisfaction=4, comment="基本满意")
    assert (followed["status"], followed["satisfaction"]) == ("closed", 4)
    event = timeline(actors.village.client, case["id"])[-1]
    assert event["action"] == "follow_up" and "基本满意" in event["reason"]


def test_reopening_drops_the_follow_up_of_the_closing_objected_to(session, actors, ids):
    case = get(actors.village.client, case_in(session, "closed", ids[M111]).id)
    case = act(actors.village.client, case, "follow_up", satisfaction=2, comment="不满意")
    reopened = act(actors.village.client, case, "reopen", reason="申请人对结果有异议")
    assert reopened["satisfaction"] is None
    case = act(actors.village.client, reopened, "accept")
    case = act(actors.village.client, case, "resolve", note="再次调解成功")
    closed = act(actors.village2.client, case, "close")
    assert closed["satisfaction"] is None  # the second closing waits for its own follow-up
    # the event log still tells what the first follow-up said
    events = timeline(actors.village.client, case["id"])
    assert [e["details"]["changes"]["satisfaction"] for e in events if e["action"] in ("follow_up", "reopen")] == [2, None]


def test_suspend_stops_the_clock_and_resume_restarts_it(actors, ids):
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    suspended = act(actors.village.client, case, "suspend", reason="当事人住院")
    assert suspended["status"] == "suspended"
    assert suspended["deadline_at"] is None and suspended["deadline_colour"] is None

    resumed = act(actors.village.client, suspended, "resume", reason="当事人出院")
    assert resumed["status"] == "accepted"  # where it was suspended
    assert resumed["deadline_at"] is not None and resumed["deadline_colour"] == "green"
    # the time left is kept in whole seconds
    assert parse(resumed["deadline_at"]) >= parse(case["deadline_at"]) - timedelta(seconds=1)


def test_resume_counts_on_with_the_working_time_that_was_left(session, ids):
    case = case_in(session, "accepted", ids[V1], now=at(2026, 3, 11, 10))  # a village: 2 working days
    assert case.deadline_at == at(2026, 3, 13, 10)
    do(session, case, "suspend", reason="等待鉴定", now=at(2026, 3, 11, 14))  # 44 h left
    assert case.deadline_at is None
    assert case.deadline_remaining_seconds == 44 * 3600
    do(session, case, "resume", now=at(2026, 3, 16, 9))  # Monday: 15 h + 24 h + 5 h
    assert case.status is Status.ACCEPTED
    assert case.deadline_at == at(2026, 3, 18, 5)


def test_refer_and_return_from_referral(actors, ids):
    case = act(actors.village.client, log(actors.grid.client, ids[M111], category="land_housing"), "accept")
    referred = act(actors.village.client, case, "refer", channel="litigation", external_reference="(2026)川0503民初1号")
    assert referred["status"] == "referred"
    assert referred["referral_channel"] == "litigation"
    assert referred["referral_reference"] == "(2026)川0503民初1号"
    assert referred["deadline_at"] is None and referred["deadline_colour"] is None

    back = act(actors.village.client, referred, "return_from_referral", outcome="judgment", note="法院已判决")
    assert back["status"] == "in_progress"
    assert back["deadline_at"] is not None
    assert timeline(actors.village.client, case["id"])[-1]["reason"] == "judgment: 法院已判决"


def test_reject_needs_a_known_reason(actors, ids):
    case = log(actors.grid.client, ids[M111])
    problem = assert_problem(act_response(actors.village.client, case, "reject", reason="spam"), 422)
    assert "reason" in problem["errors"]
    rejected = act(actors.village.client, case, "reject", reason="duplicate", note="与前案重复")
    assert rejected["status"] == "rejected"
    assert (rejected["rejection_reason"], rejected["rejection_note"]) == ("duplicate", "与前案重复")
    assert rejected["deadline_at"] is None and rejected["deadline_colour"] is None
    problem = assert_problem(act_response(actors.village.client, rejected, "accept"), 409)
    assert problem["allowed_actions"] == []


def test_a_note_of_2000_characters_is_kept_whole_on_the_case_and_in_the_timeline(actors, ids):
    """Before, the timeline cut every reason at 500 characters, and on PostgreSQL a rejection
    with a long note was a 500 (its column held 500)."""
    note = "经核实，" + "双方早已在法院达成和解" * 180  # 2,000 characters with the prefix
    assert len(note) == 1984
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    escalated = act(actors.village.client, case, "escalate", reason="beyond_authority", risk_grade="red", note=note)
    assert timeline(actors.village.client, case["id"])[-1]["reason"] == f"beyond_authority: {note}"

    rejected = act(actors.town.client, escalated, "reject", reason="out_of_scope", note=note)
    assert (rejected["rejection_reason"], rejected["rejection_note"]) == ("out_of_scope", note)
    assert timeline(actors.town.client, case["id"])[-1]["reason"] == f"out_of_scope: {note}"


def test_an_attempt_dated_in_the_future_is_refused(actors, ids):
    case = act(actors.village.client, log(actors.village.client, ids[M111]), "accept")
    future = (utcnow() + timedelta(hours=1)).isoformat()
    refused = assert_problem(act_response(actors.village.client, case, "record_attempt", outcome="partial",
                                          attempted_at=future), 422)
    assert "attempted_at" in refused["errors"]
    assert timeline(actors.village.client, case["id"])[-1]["action"] == "accept"


def test_a_dispute_mediated_on_the_spot_is_logged_afterwards_with_its_attempt(actors, ids):
    """当场调解, logged afterwards: found by an audit, the attempt's true time was refused (it came
    before the case was logged), and so was "now" on a phone whose clock ran two minutes slow."""
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    logged = parse(case["created_at"])
    on_the_spot = (logged - timedelta(days=3)).isoformat()  # Friday evening, logged on Monday
    case = act(actors.village.client, case, "record_attempt", outcome="success", attempted_at=on_the_spot)
    assert parse(timeline(actors.village.client, case["id"])[-1]["details"]["attempt"]["attempted_at"]) == \
        parse(on_the_spot)

    # Not from any time at all: policy's attempts_before_logging_days (7 by default).
    too_early = (logged - timedelta(days=8)).isoformat()
    problem = assert_problem(act_response(actors.village.client, case, "record_attempt", outcome="failure",
                                          attempted_at=too_early), 422)
    assert "7 days" in problem["detail"] and "attempted_at" in problem["errors"]

    # Handed over, the new owner's attempts come after it arrived, give or take a slow clock.
    case = act(actors.village.client, case, "escalate", reason="beyond_authority", risk_grade="red")
    case = act(actors.town.client, case, "accept")
    slow_clock = (parse(case["arrived_at"]) - timedelta(minutes=2)).isoformat()
    assert act(actors.town.client, case, "record_attempt", outcome="partial", attempted_at=slow_clock)


# --- who may act ---------------------------------------------------------------------------------------


def test_a_grid_worker_may_not_accept(actors, ids):
    case = log(actors.grid.client, ids[M111])
    assert_problem(act_response(actors.grid.client, case, "accept"), 403)
    assert get(actors.grid.client, case["id"])["status"] == "reported"


@pytest.mark.parametrize("body", [
    {"action": "accept", "version": 999},  # a stale version
    {"action": "escalate"},  # no reason
    {"action": "accept", "version": "x", "notes": 5},  # fields of the wrong type
])
def test_a_role_that_may_not_act_hears_403_before_its_fields_are_looked_at(app, actors, ids, make_principal, body):
    """Before, an auditor heard 409 for a stale version and 422 for a missing reason, as if the
    action could have been taken with the right body."""
    case = log(actors.grid.client, ids[M111])
    _id, auditor = make_principal("auditor", D)
    assert "cases:attempt" in assert_problem(
        bearer_client(app, auditor).post(f"{CASES}/{case['id']}/actions", json=body), 403)["detail"]
    if body == {"action": "accept", "version": 999}:  # a role that may act, but not this way
        assert "accept" in assert_problem(actors.grid.client.post(f"{CASES}/{case['id']}/actions", json=body),
                                          403)["detail"]


def test_a_grid_worker_acting_on_a_version_since_reassigned_hears_409_not_403(actors, ids):
    """Before, the grid worker heard "records attempts only on the cases assigned to them: ask the
    station" — moot: the case had changed under them, which is what they need to hear."""
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    case = act(actors.village.client, case, "assign", assignee_id=actors.grid.id)
    seen = get(actors.grid.client, case["id"])
    act(actors.village.client, case, "assign", assignee_id=actors.village.id)

    problem = assert_problem(act_response(actors.grid.client, seen, "record_attempt", outcome="failure"), 409)
    assert f"since version {seen['version']}" in problem["detail"]
    # With the version as it is now, the case is no longer theirs: 403.
    assert_problem(act_response(actors.grid.client, get(actors.grid.client, case["id"]), "record_attempt",
                                outcome="failure"), 403)


def test_a_grid_worker_records_attempts_only_on_cases_assigned_to_them(actors, ids):
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    assert_problem(act_response(actors.grid.client, case, "record_attempt", outcome="failure"), 403)

    case = act(actors.village.client, case, "assign", assignee_id=actors.grid.id)
    assert (case["assignee_id"], case["status"]) == (actors.grid.id, "in_progress")
    case = act(actors.grid.client, case, "record_attempt", outcome="failure", notes="上门调解")
    event = timeline(actors.grid.client, case["id"])[-1]
    assert event["action"] == "record_attempt" and event["actor"].startswith("test.grid_worker")

    # a failed attempt by the grid worker counts for the grid's escalation
    escalated = act(actors.village.client, case, "escalate", reason="mediation_failed")
    assert escalated["owner_unit_id"] == ids[V1]


def test_a_grid_worker_assigned_a_case_the_village_handles_records_attempts_on_it(session, actors, ids):
    """A traffic case is the village's from the start; the village gives the mediation to the
    grid worker where it happened. Before, the worker was told the case lies outside their scope."""
    case = log(actors.grid.client, ids[M111], category="traffic_injury")
    assert case["owner_unit_id"] == ids[V1]
    case = act(actors.village.client, act(actors.village.client, case, "accept"), "assign", assignee_id=actors.grid.id)
    case = act(actors.grid.client, case, "record_attempt", outcome="failure", notes="现场调解未果")
    assert case["status"] == "in_progress"
    # the work given, not the deciding: that stays with the village
    assert_problem(act_response(actors.grid.client, case, "resolve", note="已和解"), 403)
    # near its deadline, it waits in the grid worker's inbox
    set_clock(session, case["id"], deadline_at=utcnow() + timedelta(hours=2), yellow_at=utcnow() - timedelta(hours=1))
    assert [item["id"] for item in actors.grid.client.get(INBOX).get_json()["items"]] == [case["id"]]


def test_a_case_is_assigned_only_to_someone_who_can_work_on_it(actors, ids, make_principal):
    """Before, the village assigned a case to another grid's worker (who then could not even open
    it) and district command assigned one to an auditor (who records no attempts)."""
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    other_grid_worker, _token = make_principal("grid_worker", G12)
    auditor, _token = make_principal("auditor", D)
    problem = assert_problem(act_response(actors.village.client, case, "assign", assignee_id=other_grid_worker), 422)
    assert problem["errors"] == {"assignee_id": ["it lies outside their scope"]}
    problem = assert_problem(act_response(actors.district.client, case, "assign", assignee_id=auditor), 422)
    assert "does not record mediation attempts" in problem["errors"]["assignee_id"][0]
    assert get(actors.village.client, case["id"])["assignee_id"] is None
    assert act(actors.village.client, case, "assign", assignee_id=actors.grid.id)["assignee_id"] == actors.grid.id


def test_a_town_gives_a_case_to_the_districts_studio_and_experts_but_not_to_another_towns(
        session, actors, ids, make_principal):
    """The district's named studios and its expert team serve the whole district. Before, a town
    assigning or referring to them heard 404: its lookups saw only its own subtree."""
    from gridgov.people import service as people_service

    labour_studio = people_service.create_studio(session, name="劳动争议调解工作室", unit_id=ids[D],
                                                 specialties=["labour"]).id
    other_towns = people_service.create_studio(session, name="金龙村调解室", unit_id=ids[V3]).id
    session.commit()
    expert, _token = make_principal("specialist", D)
    far_expert, _token = make_principal("specialist", T2)

    case = act(actors.town.client, log(actors.grid.client, ids[M111], category="labour"), "accept")
    assert_problem(act_response(actors.town.client, case, "assign", studio_id=other_towns), 404)
    assert_problem(act_response(actors.town.client, case, "assign", assignee_id=far_expert), 404)
    # the district's command is no expert: handing it the case would be an escalation
    assert_problem(act_response(actors.town.client, case, "assign", assignee_id=actors.district.id), 404)
    case = act(actors.town.client, case, "assign", studio_id=labour_studio, assignee_id=expert)
    assert (case["studio_id"], case["assignee_id"]) == (labour_studio, expert)
    # and district command cannot give it to an expert of another town, who could not open it
    problem = assert_problem(act_response(actors.district.client, case, "assign", assignee_id=far_expert), 422)
    assert problem["errors"] == {"assignee_id": ["it lies outside their scope"]}


def test_no_one_gives_a_case_to_another_districts_studio_not_even_a_city_wide_account(
        app, session, actors, ids, make_principal):
    """Found by a two-district audit: a city-wide command account gave a Naxi case to 合江县's
    studio, whose members could not open it, and the case left the village's inbox."""
    from gridgov.people import service as people_service
    from gridgov.tree import service as tree_service, transfer

    transfer.import_csv(session, data=OTHER_DISTRICT_CSV.encode())
    other = tree_service.get_unit_by_code(session, code=OTHER_D).id
    theirs = people_service.create_studio(session, name="合江县调解工作室", unit_id=other).id
    ours = people_service.create_studio(session, name="纳溪区调解工作室", unit_id=ids[D]).id
    session.commit()
    _id, token = make_principal("district_command", None)
    city = bearer_client(app, token)

    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    assert_problem(act_response(city, case, "assign", studio_id=theirs), 404)
    assert get(city, case["id"])["studio_id"] is None
    assert act(city, case, "assign", studio_id=ours)["studio_id"] == ours


def test_a_case_handed_up_or_down_leaves_its_assignee_and_studio_behind(session, actors, ids):
    """The new owner decides who works on it. Before, the studio stayed and its members went on
    seeing a case the town had taken over, while the assignee was let go."""
    from gridgov.people import service as people_service

    studio = people_service.create_studio(session, name="家事邻里调解室", unit_id=ids[D],
                                          specialties=["family_neighbour"]).id
    session.commit()
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    case = act(actors.village.client, case, "assign", studio_id=studio, assignee_id=actors.grid.id)
    case = act(actors.village.client, act(actors.village.client, case, "record_attempt", outcome="failure"),
               "escalate", reason="mediation_failed")
    assert (case["owner_unit_id"], case["assignee_id"], case["studio_id"]) == (ids[V1], None, None)
    escalated = timeline(actors.village.client, case["id"])[-1]
    assert escalated["action"] == "escalate"


def test_a_village_cannot_act_on_a_case_the_town_owns_but_still_reads_it(actors, ids):
    case = log(actors.grid.client, ids[M111], risk_grade="red")
    assert case["owner_unit_id"] == ids[T1]
    assert_problem(act_response(actors.village.client, case, "accept"), 403)
    assert_problem(act_response(actors.village.client, case, "reject", reason="invalid"), 403)
    assert get(actors.village.client, case["id"])["status"] == "reported"
    assert timeline(actors.village.client, case["id"])[0]["action"] == "create"
    assert act(actors.town.client, case, "accept")["status"] == "accepted"


def test_a_grid_worker_filters_their_cases_by_the_unit_above_that_handles_them_now(actors, ids):
    """Before, the village that took their grid's case over answered 404 as a filter."""
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    case = act(actors.village.client, act(actors.village.client, case, "record_attempt", outcome="failure"),
               "escalate", reason="mediation_failed")
    assert case["owner_unit_id"] == ids[V1]
    listed = actors.grid.client.get(CASES, query_string={"owner_unit_id": ids[V1]})
    assert listed.status_code == 200, listed.get_data(as_text=True)
    assert [item["id"] for item in listed.get_json()["items"]] == [case["id"]]
    # A unit beside their subtree is still not theirs to name.
    assert_problem(actors.grid.client.get(CASES, query_string={"owner_unit_id": ids[G12]}), 404)


def test_a_case_outside_the_scope_does_not_exist_for_the_caller(actors, ids):
    case = log(actors.grid.client, ids[M111])
    assert_problem(actors.far_village.client.get(f"{CASES}/{case['id']}"), 404)
    assert_problem(act_response(actors.far_village.client, case, "accept"), 404)
    assert_problem(actors.far_village.client.get(f"{CASES}/{case['id']}/timeline"), 404)


def test_admin_has_no_case_permissions(client, ids):
    assert_problem(client.get(CASES), 403)
    assert_problem(client.post(CASES, json={
        "title": "x", "category": "other", "risk_grade": "blue", "source": "other", "origin_unit_id": ids[M111],
    }), 403)


# --- personal data -------------------------------------------------------------------------------------

ID_NUMBER = "51050319900101123X"


def test_personal_data_is_masked_without_the_right_and_the_id_number_is_never_answered(session, actors, ids):
    parties = [{"role": "applicant", "name": "张三丰", "phone": "13812345678", "id_number": ID_NUMBER,
                "home_unit_id": ids[M111]}]
    created = actors.grid.client.post(CASES, json={
        "title": "邻里纠纷", "category": "family_neighbour", "risk_grade": "blue", "source": "grid_patrol",
        "origin_unit_id": ids[M111], "parties": parties,
    })
    assert created.status_code == 201
    case_id = created.get_json()["id"]

    village = actors.village.client
    for response in (village.get(f"{CASES}/{case_id}"), village.get(CASES), created):
        text = response.get_data(as_text=True)
        assert ID_NUMBER not in text and "13812345678" not in text and "张三丰" not in text
    party = get(village, case_id)["parties"][0]
    assert party["name"] == "张**"
    assert party["phone"] == "138****5678"
    assert party["id_number_last4"] == "123X"
    assert "id_number" not in party

    party = get(actors.district.client, case_id)["parties"][0]
    assert (party["name"], party["phone"], party["id_number_last4"]) == ("张三丰", "13812345678", "123X")
    assert "id_number" not in party
    assert ID_NUMBER not in actors.district.client.get(f"{CASES}/{case_id}/timeline").get_data(as_text=True)

    session.expire_all()
    row = session.scalar(sa.select(Party).where(Party.case_id == case_id))
    assert row.id_number_hash == pii.keyed_hash(ID_NUMBER, purpose="id_number")
    assert row.id_number_hash != hashlib.sha256(ID_NUMBER.encode()).hexdigest()
    assert row.id_number_last4 == "123X"
    stored = session.execute(sa.select(Party.__table__).where(Party.case_id == case_id)).one()
    assert not any(ID_NUMBER in str(value) for value in stored)


@pytest.mark.parametrize(("typed", "kept"), [
    ("(0830)1234567", "(0830)1234567"),  # a landline, as the report page takes it and dispatch hands it on
    ("１３８１２３４５６７８", "13812345678"),  # full-width digits
    (" 0830-4123456 ", "0830-4123456"),
])
def test_a_partys_phone_is_taken_as_people_write_it(actors, ids, typed, kept):
    """Before, the API refused a landline the report page took from a resident: a case dispatched
    from that report held a party the API would not let anyone log."""
    case = log(actors.district.client, ids[M111], parties=[{"role": "applicant", "name": "张三", "phone": typed}])
    assert get(actors.district.client, case["id"])["parties"][0]["phone"] == kept


@pytest.mark.parametrize("typed", ["(0830 1234567", "12ab", "1234"])
def test_a_partys_phone_that_is_none_is_refused(actors, ids, typed):
    problem = assert_problem(actors.district.client.post(CASES, json=case_body(ids[M111], parties=[
        {"role": "applicant", "name": "张三", "phone": typed}])), 422)
    assert problem["errors"]["parties"]["0"]["phone"] == ["Not a phone number."]


# --- lists and the inbox -------------------------------------------------------------------------------


@pytest.fixture
def six_cases(session, ids):
    """Six cases of different kinds, states and colours (names as in the filter table below)."""
    now = utcnow()
    made = {
        "a": case_in(session, "reported", ids[M111]),  # G11, grid, family, green
        "b": case_in(session, "accepted", ids[M121], category="traffic_injury"),  # V1, village, green
        "c": case_in(session, "reported", ids[M211], category="labour"),  # T1, town, green
        "d": case_in(session, "resolved", ids[M311]),  # G31, grid, green: its deadline stands until it is closed
        "e": case_in(session, "reported", ids[M311], risk_grade="red"),  # T2, town, red (overdue)
        "f": case_in(session, "accepted", ids[M112], category="consumer"),  # G11, grid, yellow
    }
    set_clock(session, made["e"].id, deadline_at=now - timedelta(hours=1), yellow_at=now - timedelta(hours=5))
    set_clock(session, made["f"].id, yellow_at=now - timedelta(minutes=1))
    return {name: case.id for name, case in made.items()}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, "abcdef"),
        ({"status": "reported"}, "ace"),
        ({"status": ["reported", "accepted"]}, "abcef"),
        ({"status": "resolved"}, "d"),
        ({"category": "family_neighbour"}, "ade"),
        ({"category": "labour"}, "c"),
        ({"risk_grade": "red"}, "e"),
        ({"owner_level": "grid"}, "adf"),
        ({"owner_level": "town"}, "ce"),
        ({"owner_level": "district"}, ""),
        ({"deadline_colour": "red"}, "e"),
        ({"deadline_colour": "yellow"}, "f"),
        ({"deadline_colour": "green"}, "abcd"),
        ({"origin_unit_id": G11}, "af"),
        ({"origin_unit_id": V1}, "abf"),
        ({"origin_unit_id": T1}, "abcf"),
        ({"origin_unit_id": T2}, "de"),
        ({"owner_unit_id": V1}, "abf"),
        ({"owner_unit_id": T1}, "abcf"),
        ({"owner_unit_id": T2}, "de"),
        ({"owner_unit_id": G12}, ""),
        ({"owner_level": "grid", "origin_unit_id": T1}, "af"),
        ({"status": "accepted", "deadline_colour": "yellow"}, "f"),
    ],
)
def test_list_filters(actors, ids, six_cases, query, expected):
    query = {key: ids[value] if key.endswith("unit_id") else value for key, value in query.items()}
    response = actors.district.client.get(CASES, query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    got = {case["id"] for case in response.get_json()["items"]}
    assert got == {six_cases[name] for name in expected}
    # colours in the answer agree with the filter
    if "deadline_colour" in query:
        assert {case["deadline_colour"] for case in response.get_json()["items"]} <= {query["deadline_colour"]}


def test_the_list_is_limited_to_the_callers_scope(actors, six_cases):
    seen = {case["id"] for case in actors.village.client.get(CASES).get_json()["items"]}
    assert seen == {six_cases[name] for name in "abf"}  # happened in V1
    seen = {case["id"] for case in actors.grid.client.get(CASES).get_json()["items"]}
    assert seen == {six_cases[name] for name in "af"}


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "deadline_at"])
def test_cursor_pagination_walks_every_case_once_in_a_stable_order(session, actors, ids, sort):
    tie = utcnow() - timedelta(hours=1)
    origins = [M111, M111, M111, M111, M112, M121, M211, M311, V1]
    made = [new_case(session, ids[code], now=tie if n < 4 else None) for n, code in enumerate(origins)]
    session.commit()  # the first four share one created_at

    items = every_page(actors.district.client, CASES, limit=2, sort=sort)
    got = [case["id"] for case in items]
    assert len(got) == len(set(got)) == len(made)
    assert set(got) == {case.id for case in made}
    key = "deadline_at" if sort == "deadline_at" else "created_at"
    pairs = [(parse(case[key]), case["id"]) for case in items]
    assert pairs == sorted(pairs, reverse=sort.startswith("-"))

    # a filtered list walks the same way
    within = every_page(actors.district.client, CASES, limit=3, sort=sort, origin_unit_id=ids[V1])
    in_v1 = {case.id for case, code in zip(made, origins) if code.startswith(V1)}
    assert [case["id"] for case in within] == [case_id for case_id in got if case_id in in_v1]


def test_a_forged_cursor_is_refused(actors, six_cases):
    assert_problem(actors.district.client.get(CASES, query_string={"cursor": "bm90LWEtY3Vyc29y"}), 400)


def test_a_cursor_answers_only_the_query_that_gave_it(actors, ids, six_cases):
    """A dashboard kept its cursor when someone clicked another column or changed a filter:
    before, a creation time was read as a deadline (every overdue case before it skipped) or one
    case's timeline cursor told another case it had no events. Now that is a 400 saying to start
    again; the page size alone may change between pages."""
    district = actors.district.client
    cursor = district.get(CASES, query_string={"sort": "-created_at", "limit": 2}).get_json()["next_cursor"]
    for other in [{"sort": "deadline_at"}, {"sort": "-created_at", "status": "reported"}, {"sort": "created_at"}]:
        problem = assert_problem(district.get(CASES, query_string={**other, "cursor": cursor}), 400)
        assert "belongs to another query" in problem["detail"]
    assert_problem(district.get(INBOX, query_string={"cursor": cursor}), 400)
    # The same query, a larger page: the rest. Also without the default sort, with an empty "any"
    # filter and a cache-buster, as a browser's script may send it.
    for same in [{"sort": "-created_at"}, {"status": "", "_": "1732780800"}]:
        rest = district.get(CASES, query_string={**same, "limit": 10, "cursor": cursor}).get_json()
        assert len(rest["items"]) == 4

    one, two = six_cases["b"], six_cases["a"]  # accepted: two events; reported: one
    later = district.get(f"{CASES}/{one}/timeline", query_string={"limit": 1}).get_json()["next_cursor"]
    assert_problem(district.get(f"{CASES}/{two}/timeline", query_string={"cursor": later}), 400)


@pytest.mark.parametrize("sort", ["-created_at", "deadline_at"])
@pytest.mark.parametrize("moment", ["2026-01-01", "2026-01-01T00:00:00", "0001-01-01T00:00:00+08:00",
                                    "9999-12-31T23:59:59-08:00"])
def test_a_cursor_with_a_moment_the_service_never_issued_is_400(actors, six_cases, sort, moment):
    """Before, a cursor holding a date without its offset, or one UTC cannot hold, reached the
    query and answered 500."""
    cursor = cursor_at(actors.district.client, CASES, [moment, 1], sort=sort)
    problem = assert_problem(actors.district.client.get(CASES, query_string={"cursor": cursor, "sort": sort}), 400)
    assert problem["detail"].startswith("The cursor is not one this service issued")


def test_an_app_fetches_only_the_cases_changed_since_it_last_synced(actors, ids):
    """What a phone keeping its cases offline needs (asked for by an audit): before, it could only
    read every case again."""
    acted, grown, untouched = (log(actors.grid.client, ids[M111]) for _ in range(3))
    synced = utcnow()
    act(actors.village.client, acted, "accept")
    act(actors.village.client, grown, "add_party", party={"role": "respondent", "name": "王五"})

    changed = actors.grid.client.get(CASES, query_string={"updated_from": synced.isoformat()})
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert sorted(case["id"] for case in changed.get_json()["items"]) == sorted([acted["id"], grown["id"]])
    # The colour changes with time alone, and the app reads it off the two moments it has.
    assert parse(untouched["yellow_at"]) < parse(untouched["deadline_at"]) and untouched["deadline_colour"] == "green"
    everything = actors.grid.client.get(CASES, query_string={"updated_from": "2000-01-01T00:00:00+08:00"})
    assert untouched["id"] in [case["id"] for case in everything.get_json()["items"]]


@pytest.mark.parametrize("field", ["created_from", "created_to", "updated_from", "closed_from", "closed_to"])
@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-08:00", "2026-01-01T00:00:00"])
def test_a_date_filter_outside_what_utc_holds_or_without_offset_is_422(actors, six_cases, field, moment):
    problem = assert_problem(actors.district.client.get(CASES, query_string={field: moment}), 422)
    assert field in str(problem["errors"])


def test_a_date_filter_typed_into_a_url_with_a_bare_plus_in_its_offset_is_read(actors, six_cases):
    # "+08:00" unencoded arrives as " 08:00" (form encoding): read as the "+" the user typed.
    typed = actors.district.client.get(f"{CASES}?created_from=2000-01-01T00:00:00+08:00&limit=500")
    encoded = actors.district.client.get(f"{CASES}?created_from=2000-01-01T00:00:00%2B08:00&limit=500")
    assert typed.status_code == 200, typed.get_data(as_text=True)
    assert typed.get_json() == encoded.get_json() and len(typed.get_json()["items"]) == 6
    # and with a space between date and time, as ISO 8601 lets people write it (before: 422)
    spaced = actors.district.client.get(f"{CASES}?created_from=2000-01-01 00:00:00+08:00&limit=500")
    assert spaced.get_json() == encoded.get_json()


def test_a_date_filter_at_the_edges_of_the_calendar_still_answers(actors, six_cases):
    everything = actors.district.client.get(CASES, query_string={
        "created_from": "0001-01-01T00:00:00Z", "created_to": "9999-12-31T23:59:59Z", "limit": 500})
    assert everything.status_code == 200 and len(everything.get_json()["items"]) == 6


def test_an_attempt_dated_outside_what_utc_holds_is_422(actors, ids):
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    problem = assert_problem(act_response(actors.village.client, case, "record_attempt", outcome="failure",
                                          attempted_at="0001-01-01T00:00:00+08:00"), 422)
    assert "attempted_at" in problem["errors"]


def test_the_inbox_lists_what_waits_for_the_callers_units_most_urgent_first(session, actors, ids):
    now = utcnow()
    a = case_in(session, "reported", ids[M111])  # G11: due in 1 working day
    b = case_in(session, "reported", ids[V1])  # V1 itself: due in 2 working days
    c = case_in(session, "reported", ids[M121])  # G12: made due in an hour
    d = case_in(session, "accepted", ids[M112])  # accepted but yellow: due in 3 hours
    e = case_in(session, "accepted", ids[M111])  # accepted and green: not waiting
    f = case_in(session, "reported", ids[M211])  # another village's
    g = case_in(session, "reported", ids[M111], category="labour")  # owned by the town
    h = case_in(session, "rejected", ids[M111])
    r = case_in(session, "reopened", ids[M112])  # the applicant objected: waits to be accepted again
    set_clock(session, c.id, deadline_at=now + timedelta(hours=1), yellow_at=now - timedelta(hours=1))
    set_clock(session, d.id, deadline_at=now + timedelta(hours=3), yellow_at=now - timedelta(hours=1))
    set_clock(session, r.id, deadline_at=now + timedelta(hours=5), yellow_at=now + timedelta(hours=4))

    response = actors.village.client.get(INBOX)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [case["id"] for case in response.get_json()["items"]] == [c.id, d.id, r.id, a.id, b.id]
    assert not {e.id, f.id, g.id, h.id} & {case["id"] for case in response.get_json()["items"]}

    # A grid worker decides nothing: theirs is what is assigned to them (none here).
    assert actors.grid.client.get(INBOX).get_json()["items"] == []
    # The town's is what waits for the town; what waits for its villages is theirs to do. (Before,
    # it held every case waiting anywhere below it, and district command's the whole district's.)
    town = [case["id"] for case in actors.town.client.get(INBOX).get_json()["items"]]
    assert town == [g.id]
    assert actors.district.client.get(INBOX).get_json()["items"] == []


def specialist_in_a_studio(session, ids, make_principal):
    """A specialist's account, the gold mediator on the roster it is, and the family-and-
    neighbour studio the mediator is a member of: (principal id, token, studio)."""
    from gridgov.people import service as people_service

    specialist_id, token = make_principal("specialist", D)
    member = people_service.create_worker(session, name="金牌调解员", role="gold_mediator",
                                          home_unit_id=ids[D], capacity=0, principal_id=specialist_id)
    studio = people_service.create_studio(session, name="家事邻里调解室", unit_id=ids[D],
                                          specialties=["family_neighbour"], member_ids=[member.id])
    session.commit()
    return specialist_id, token, studio


def test_a_specialists_inbox_holds_the_cases_given_to_them_or_their_studio_wherever_they_are_handled(
        app, session, actors, ids, make_principal):
    """Before, only a given case that had turned yellow showed: one just assigned (green, in
    progress) or given to their studio never did."""
    specialist_id, token, studio = specialist_in_a_studio(session, ids, make_principal)
    given = act(actors.village.client, log(actors.grid.client, ids[M111], category="traffic_injury"), "accept")
    given = act(actors.district.client, given, "assign", assignee_id=specialist_id)
    to_studio = act(actors.village.client, log(actors.grid.client, ids[M112]), "accept")
    to_studio = act(actors.village.client, to_studio, "assign", studio_id=studio.id)
    referred = act(actors.village.client, log(actors.grid.client, ids[M112]), "accept")
    referred = act(actors.village.client, referred, "refer", channel="legal_aid", studio_id=studio.id)
    set_clock(session, to_studio["id"], deadline_at=utcnow() + timedelta(hours=2), yellow_at=utcnow() + timedelta(hours=1))

    inbox = bearer_client(app, token).get(INBOX).get_json()["items"]
    # The studio's case is due first; the referred one waits on legal aid, its clock stopped.
    assert [(item["id"], item["owner_level"]) for item in inbox] == [(to_studio["id"], "grid"), (given["id"], "village")]


def test_a_specialist_sees_the_parties_of_a_case_given_to_their_studio(app, session, actors, ids, make_principal):
    """Before, only a case given to them in person showed the parties' names and phones; one
    given to their studio showed them masked, though they are the ones who call the parties."""
    _specialist_id, token, studio = specialist_in_a_studio(session, ids, make_principal)
    case = log(actors.grid.client, ids[M111], parties=[{"role": "applicant", "name": "张三", "phone": "13812345678"}])
    case = act(actors.village.client, act(actors.village.client, case, "accept"), "assign", studio_id=studio.id)

    seen = bearer_client(app, token).get(f"{CASES}/{case['id']}").get_json()
    assert [(party["name"], party["phone"]) for party in seen["parties"]] == [("张三", "13812345678")]
    assert get(actors.village.client, case["id"])["parties"][0]["name"] == "张*"  # still masked for others


def test_a_case_assigned_to_someone_is_in_their_inbox_from_the_start(actors, ids):
    """Before, it showed only once it turned yellow."""
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    case = act(actors.village.client, case, "assign", assignee_id=actors.grid.id)
    assert case["deadline_colour"] == "green"
    assert [item["id"] for item in actors.grid.client.get(INBOX).get_json()["items"]] == [case["id"]]
    act(actors.village.client, case, "resolve", note="双方和解")
    assert actors.grid.client.get(INBOX).get_json()["items"] == []


def test_a_resolved_case_waits_in_the_inbox_of_those_who_may_verify_it(session, actors, ids):
    """Before, a resolved case was in no one's inbox: a village with one account cannot close
    what it resolved, and the town never heard of it."""
    grid_case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    grid_case = act(actors.village.client, grid_case, "resolve", note="双方和解")
    town_case = act(actors.town.client, log(actors.grid.client, ids[M111], category="labour"), "accept")
    town_case = act(actors.town.client, town_case, "resolve", note="已结清工资")

    def inbox(actor):
        return [item["id"] for item in actor.client.get(INBOX).get_json()["items"]]

    assert grid_case["id"] not in inbox(actors.village)  # the one who resolved it
    assert grid_case["id"] in inbox(actors.village2)  # another of the village's people
    assert inbox(actors.town) == [grid_case["id"]]  # the level above; its own case it resolved itself
    assert inbox(actors.district) == [town_case["id"]]
    assert inbox(actors.far_village) == [] and inbox(actors.grid) == []

    act(actors.town.client, grid_case, "close", note="电话核实")
    act(actors.district.client, town_case, "close", note="电话核实")
    assert inbox(actors.village2) == inbox(actors.town) == inbox(actors.district) == []


def test_a_grid_worker_refused_an_action_hears_who_takes_it(actors, ids):
    case = log(actors.grid.client, ids[M111])
    assert "village station" in assert_problem(act_response(actors.grid.client, case, "record_attempt",
                                                            outcome="success"), 403)["detail"]
    assert "Station and centre accounts" in assert_problem(act_response(actors.grid.client, case, "accept"),
                                                           403)["detail"]


@pytest.mark.parametrize("change", ["deactivate", "rescope", "rerole"])
def test_an_account_that_may_no_longer_work_on_its_cases_lets_go_of_them(app, actors, ids, make_principal, change):
    """Before, a deactivated (or moved) grid worker kept its open cases, out of every inbox."""
    admin = bearer_client(app, make_principal("admin", D)[1])
    mine = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    mine = act(actors.village.client, mine, "assign", assignee_id=actors.grid.id)
    other_grid = act(actors.village.client, log(actors.grid.client, ids[M112]), "accept")
    other_grid = act(actors.village.client, other_grid, "assign", assignee_id=actors.grid.id)
    done = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    done = act(actors.village.client, act(actors.village.client, done, "assign", assignee_id=actors.grid.id),
               "resolve", note="已调解")

    principal = f"{API}/principals/{actors.grid.id}"
    response = {
        "deactivate": lambda: admin.post(f"{principal}/deactivate"),
        # Its grid G11 holds M111 and M112; moved to G12, neither is in its reach any more.
        "rescope": lambda: admin.patch(principal, json={"scope_unit_id": ids[G12]}),
        "rerole": lambda: admin.patch(principal, json={"role": "triage_clerk"}),
    }[change]()
    assert response.status_code == 200, response.get_data(as_text=True)

    admin_name = admin.get(f"{API}/me").get_json()["username"]
    waiting = [item["id"] for item in actors.village.client.get(INBOX).get_json()["items"]]
    for case in (mine, other_grid):
        seen = get(actors.village.client, case["id"])
        assert seen["assignee_id"] is None and seen["status"] == "in_progress"
        event = timeline(actors.village.client, case["id"])[-1]
        assert event["action"] == "unassign" and "may no longer work on it" in event["reason"]
        assert event["actor"] == admin_name  # who took the work away, not "system"
        assert case["id"] in waiting  # back with its owner, whatever its colour
    assert get(actors.village.client, done["id"])["assignee_id"] == actors.grid.id  # history stays

    # Reopened, it waits on its owner, not on them: before, it kept them, and sat in no inbox.
    closed = act(actors.village2.client, get(actors.village.client, done["id"]), "close")
    reopened = act(actors.village.client, closed, "reopen", reason="申请人异议")
    assert reopened["assignee_id"] is None
    unassigned, reopen = timeline(actors.village.client, done["id"])[-2:]
    assert [unassigned["action"], reopen["action"]] == ["unassign", "reopen"]
    assert unassigned["at"] == reopen["at"]  # one action, one moment: before, the release's was later
    accepted = act(actors.village.client, reopened, "accept")
    assert accepted["assignee_id"] is None


def test_a_case_its_assignee_settled_waits_in_the_units_inbox_to_be_resolved(actors, ids):
    """A grid worker may mediate, not resolve. Before, the case they settled stayed in their own
    inbox alone until it turned yellow, and past its deadline the sweep escalated a matter that
    had been settled."""
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    case = act(actors.village.client, case, "assign", assignee_id=actors.grid.id)
    failed = act(actors.grid.client, case, "record_attempt", outcome="failure", notes="双方各执一词")
    assert failed["settled_at"] is None

    def waiting():
        return [item["id"] for item in actors.village.client.get(INBOX).get_json()["items"]]

    assert case["id"] not in waiting()  # being worked on by its assignee
    settled = act(actors.grid.client, failed, "record_attempt", outcome="success", notes="达成调解协议")
    assert settled["settled_at"] is not None
    assert case["id"] in waiting()
    act(actors.village.client, settled, "resolve")
    assert case["id"] not in waiting()  # for another of the unit's people to verify, not its resolver


def test_the_inbox_comes_in_pages_most_urgent_first(actors, ids):
    for origin in (M111, M112, M111, M112, M111):
        log(actors.grid.client, ids[origin])
    whole = actors.village.client.get(INBOX).get_json()
    assert len(whole["items"]) == 5 and whole["next_cursor"] is None

    walked = every_page(actors.village.client, INBOX, limit=2)
    assert [case["id"] for case in walked] == [case["id"] for case in whole["items"]]
    assert [case["deadline_at"] for case in walked] == sorted(case["deadline_at"] for case in walked)
    cursor = cursor_at(actors.village.client, INBOX, ["2026-01-01", 1])
    refused = assert_problem(actors.village.client.get(INBOX, query_string={"cursor": cursor}), 400)
    assert "not one this service issued" in refused["detail"]


# --- the timeline --------------------------------------------------------------------------------------


def test_the_timeline_lists_every_event_in_order_with_statuses_and_owners(session, actors, ids):
    case = log(actors.grid.client, ids[M111])
    case = act(actors.village.client, case, "accept")
    case = act(actors.village.client, case, "record_attempt", outcome="failure", notes="双方各执一词")
    case = act(actors.village.client, case, "escalate", reason="mediation_failed", note="网格调解不成")
    case = act(actors.village.client, case, "accept")

    events = timeline(actors.village.client, case["id"])
    rows = [(e["action"], e["from_status"], e["to_status"], e["from_owner_unit_id"], e["to_owner_unit_id"])
            for e in events]
    g11, v1 = ids[G11], ids[V1]
    assert rows == [
        ("create", None, "reported", None, g11),
        ("accept", "reported", "accepted", g11, g11),
        ("record_attempt", "accepted", "in_progress", g11, g11),
        ("escalate", "in_progress", "reported", g11, v1),
        ("accept", "reported", "accepted", v1, v1),
    ]
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    assert [parse(e["at"]) for e in events] == sorted(parse(e["at"]) for e in events)
    assert events[0]["actor"].startswith("test.grid_worker")
    assert all(e["actor"].startswith("test.village_station") for e in events[1:])
    assert events[2]["reason"] == "attempt: failure"
    assert events[3]["reason"] == "mediation_failed: 网格调解不成"
    assert events[3]["details"]["changes"]["owner_unit_id"] == v1
    # the log is the one in the database, every row of it
    session.expire_all()
    assert session.scalar(sa.select(sa.func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case["id"])) == 5


# --- defects found while writing these tests (now fixed; kept as regression tests) --------------


def test_a_village_cannot_record_attempts_on_a_case_the_town_owns(actors, ids):
    case = log(actors.grid.client, ids[M111], risk_grade="red")
    case = act(actors.town.client, case, "accept")
    assert_problem(act_response(actors.village.client, case, "record_attempt", outcome="failure"), 403)
    # had it been let through, the town could escalate without having tried itself:
    assert_problem(act_response(actors.town.client, get(actors.town.client, case["id"]), "escalate",
                                reason="mediation_failed"), 422)


def test_a_town_case_delegated_to_another_village_escalates_up_again(actors, ids):
    # Failed at the grid and at the village, the case reaches the town, which gives it to V2.
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    case = act(actors.village.client, case, "record_attempt", outcome="failure")
    case = act(actors.village.client, case, "escalate", reason="mediation_failed")
    case = act(actors.village.client, case, "accept")
    case = act(actors.village.client, case, "record_attempt", outcome="failure")
    case = act(actors.village.client, case, "escalate", reason="mediation_failed")
    assert case["owner_unit_id"] == ids[T1]
    case = act(actors.town.client, case, "delegate", unit_id=ids[V2], note="交新民社区")  # V2, 新民社区
    case = act(actors.town.client, case, "accept")
    case = act(actors.town.client, case, "record_attempt", outcome="failure")
    up = act(actors.town.client, case, "escalate", reason="mediation_failed")
    assert (up["owner_unit_id"], up["owner_level"]) == (ids[T1], "town")


def test_cross_boundary_escalation_never_moves_a_case_down(actors, ids):
    parties = [{"role": "respondent", "name": "郑一", "home_unit_id": ids[M112]}]
    case = act(actors.village.client, log(actors.grid.client, ids[M111], parties=parties), "accept")
    case = act(actors.village.client, case, "record_attempt", outcome="failure")
    case = act(actors.village.client, case, "escalate", reason="mediation_failed")
    case = act(actors.village.client, case, "accept")
    case = act(actors.village.client, case, "record_attempt", outcome="failure")
    case = act(actors.village.client, case, "escalate", reason="mediation_failed")
    case = act(actors.town.client, case, "delegate", unit_id=ids[V2], note="交新民社区")  # V2: the party lives outside it
    case = act(actors.town.client, case, "accept")
    up = act_response(actors.town.client, case, "escalate", reason="cross_boundary")
    if up.status_code == 200:
        levels = ["grid", "village", "town", "district"]
        assert levels.index(up.get_json()["owner_level"]) > levels.index("village"), up.get_json()["owner_level"]
    else:
        assert_problem(up, 422)


def test_the_reference_year_is_the_year_in_shanghai(session, ids):
    from datetime import datetime, timezone

    moment = datetime(2026, 12, 31, 16, 30, tzinfo=timezone.utc)  # 2027-01-01 00:30 in Shanghai
    case = new_case(session, ids[M111], now=moment)
    assert case.reference == "NX-2027-000001"


def test_the_timeline_shows_what_a_mediation_attempt_recorded(actors, ids):
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    act(actors.village.client, case, "record_attempt", outcome="failure", by="金牌调解员李四",
        notes="双方就赔偿金额分歧较大")
    text = actors.village.client.get(f"{CASES}/{case['id']}/timeline").get_data(as_text=True)
    assert "金牌调解员李四" in text and "双方就赔偿金额分歧较大" in text


def test_a_long_timeline_comes_in_pages_oldest_first(actors, ids):
    case = act(actors.village.client, log(actors.grid.client, ids[M111]), "accept")
    for number in range(5):
        case = act(actors.village.client, case, "record_attempt", outcome="failure", notes=f"第{number + 1}次调解")
    first = actors.village.client.get(f"{CASES}/{case['id']}/timeline", query_string={"limit": 3}).get_json()
    assert [e["action"] for e in first["items"]] == ["create", "accept", "record_attempt"]
    assert first["next_cursor"] is not None

    paged = timeline(actors.village.client, case["id"], limit=3)
    assert paged == timeline(actors.village.client, case["id"])  # one page of 50 holds all seven
    assert [e["action"] for e in paged] == ["create", "accept"] + ["record_attempt"] * 5
    assert [e["id"] for e in paged] == sorted({e["id"] for e in paged})
    assert_problem(actors.village.client.get(f"{CASES}/{case['id']}/timeline", query_string={"cursor": "nonsense"}), 400)
    assert_problem(actors.village.client.get(f"{CASES}/{case['id']}/timeline", query_string={"limit": 0}), 422)


def test_a_case_is_found_by_its_reference_as_it_is_read_out(actors, ids, six_cases):
    """A hotline clerk or a court quotes the reference; before, the list took no such filter."""
    wanted = get(actors.district.client, six_cases["c"])["reference"]

    found = actors.district.client.get(CASES, query_string={"reference": f" {wanted.lower()} "}).get_json()["items"]

    assert [case["id"] for case in found] == [six_cases["c"]]
    assert actors.district.client.get(CASES, query_string={"reference": "NX-1999-000001"}).get_json()["items"] == []


def test_sorting_by_deadline_lists_only_cases_whose_deadline_stands(session, actors, ids):
    running = case_in(session, "accepted", ids[M111])
    waiting = case_in(session, "resolved", ids[M112])  # to be verified: by its deadline
    case_in(session, "suspended", ids[M121])
    case_in(session, "closed", ids[M111])
    listed = actors.district.client.get(CASES, query_string={"sort": "deadline_at"}).get_json()["items"]
    assert [case["id"] for case in listed] == [running.id, waiting.id]


def test_a_reference_prefix_belongs_to_the_district_not_to_a_reused_id(session):
    """A district imported and rolled back (a failed import) must not lend its prefix to the next
    district that gets the same id (SQLite hands out a rolled-back id again)."""
    from gridgov.tree import service as tree_service, transfer
    from gridgov.tree.levels import Level
    from tests.conftest import SMALL_TREE_CSV

    with session.begin_nested() as attempt:
        other = tree_service.create_unit(session, name="临时区", level=Level.DISTRICT, code="990009")
        first = new_case(session, other.id)
        assert first.reference.startswith("990009-")
        attempt.rollback()
    transfer.import_csv(session, data=SMALL_TREE_CSV.encode())
    session.commit()
    micro = tree_service.get_unit_by_code(session, code=M111)
    assert new_case(session, micro.id).reference.startswith("NX-")


def test_a_range_that_runs_backwards_is_refused_not_answered_empty(actors):
    for start, end in (("created_from", "created_to"), ("closed_from", "closed_to")):
        problem = assert_problem(actors.district.client.get(CASES, query_string={
            start: "2026-12-01T00:00:00+08:00", end: "2026-01-01T00:00:00+08:00"}), 422)
        assert end in problem["errors"]


def test_an_amount_of_minus_nothing_is_nothing(actors, ids):
    case = log(actors.grid.client, ids[M111], amount_in_dispute="-0")
    assert case["amount_in_dispute"] == "0.00"


@pytest.mark.parametrize("amount", ["１０", "1_000", "10０"])
def test_an_amount_in_anything_but_plain_digits_is_refused(actors, ids, amount):
    """Python's Decimal reads full-width digits and underscores; before, "1_000" was 1000 yuan."""
    response = actors.grid.client.post(CASES, json={
        "title": "欠薪", "category": "labour", "risk_grade": "blue", "source": "grid_patrol",
        "origin_unit_id": ids[M111], "amount_in_dispute": amount})
    assert "amount_in_dispute" in assert_problem(response, 422)["errors"]


@pytest.mark.parametrize("amount", [12.345, "12.345", "0.001", 1e-7])
def test_an_amount_with_more_than_two_decimal_places_is_refused_not_rounded(actors, ids, amount):
    """Before, 12.345 yuan was stored as 12.34 (rounded half to even) without a word."""
    response = actors.grid.client.post(CASES, json={
        "title": "借款纠纷", "category": "other", "risk_grade": "blue", "source": "grid_patrol",
        "origin_unit_id": ids[M111], "amount_in_dispute": amount})
    assert "decimal places" in str(assert_problem(response, 422)["errors"]["amount_in_dispute"])


def test_an_amount_beyond_what_is_kept_is_422_not_500(actors, ids):
    """The fuzzer's find: 1e+26 made the decimal-places check itself fail (a 500)."""
    response = actors.grid.client.post(CASES, json={
        "title": "借款纠纷", "category": "other", "risk_grade": "blue", "source": "grid_patrol",
        "origin_unit_id": ids[M111], "amount_in_dispute": 1e26})
    assert "amount_in_dispute" in assert_problem(response, 422)["errors"]


def test_an_amount_in_yuan_and_fen_is_kept_as_given(actors, ids):
    assert log(actors.grid.client, ids[M111], amount_in_dispute=12.3)["amount_in_dispute"] == "12.30"
    assert log(actors.grid.client, ids[M111], amount_in_dispute="12.300")["amount_in_dispute"] == "12.30"
