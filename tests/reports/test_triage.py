"""The triage desk (信息清洗): ``/api/v1/reports`` and ``/api/v1/reports/{id}/actions``.

Covered: who may read reports (``reports:read``) and triage them (``reports:triage``) and what they see of them (scope, order,
filters, cursor pages, personal data masked without ``pii:read``); the triage deadline (the end
of the working day the report came in, on the official 2026 calendar with its holidays and
adjusted working weekends) and the overdue flag and filter; the four actions — classify,
reject, merge (into a report, following merge chains, or into a case) and dispatch (a case
owned as the case policy says, also with ``CASE_POLICY`` overridden) — and their refusals
(409 once handled, 422 naming the field, 404 outside scope); two clerks dispatching one report
at once (PostgreSQL); and the tree keeping reports with their units (no delete, moves follow).
"""

import threading
import time
from datetime import date, datetime, timedelta
from types import SimpleNamespace

import flask_migrate
import pytest
import sqlalchemy as sa

from gridgov import create_app
from gridgov.cases import service as case_service
from gridgov.cases.calendar import TIMEZONE
from gridgov.cases.enums import Category
from gridgov.cases.models import Case, Party
from gridgov.db import db
from gridgov.reports import service
from gridgov.reports.models import Channel, Report
from tests.cases.support import (
    D, G11, G21, M111, M112, M121, M211, M311, OTHER_DISTRICT_CSV, OTHER_V, T1, T2, V1, V2, V3, assert_problem,
    case_in, holiday_data_ends,
)
from tests.conftest import bearer_client, delete_district, every_page, statements_during
from tests.reports.test_codes_and_pages import SUBMISSION_FIELD

API = "/api/v1"
REPORTS = f"{API}/reports"
PHONE = "13812345678"
NAME = "张三丰"


def at(*args) -> datetime:
    """A moment in Asia/Shanghai."""
    return datetime(*args, tzinfo=TIMEZONE)


def parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def file_report(session, unit, *, category="family_neighbour", description="楼上装修噪音扰民，多次沟通无果。",
                phone=PHONE, reporter_name=None, anonymous=False, now=None) -> int:
    """A pending QR report, committed (to the test's savepoint); its id."""
    report = service.submit_report(
        session, unit=unit, channel=Channel.QR, category=Category(category), description=description,
        phone=phone, reporter_name=reporter_name, anonymous=anonymous, now=now,
    )
    session.commit()
    return report.id


def listed(client, **query) -> list[dict]:
    """Every report the list answers, following the cursor to the end."""
    return every_page(client, REPORTS, **query)


def listed_ids(client, **query) -> list[int]:
    return [item["id"] for item in listed(client, **query)]


def get_report(client, report_id: int) -> dict:
    response = client.get(f"{REPORTS}/{report_id}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def act_response(client, target: int, action: str, /, **fields):
    """The action on report ``target``; ``fields`` may hold a ``report_id`` (merge)."""
    return client.post(f"{REPORTS}/{target}/actions", json={"action": action, **fields})


def act(client, target: int, action: str, /, **fields) -> dict:
    response = act_response(client, target, action, **fields)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def case_count(session) -> int:
    session.expire_all()
    return session.scalar(sa.select(sa.func.count()).select_from(Case))


def get_case(client, case_id: int) -> dict:
    response = client.get(f"{API}/cases/{case_id}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


@pytest.fixture
def tree(small_tree):
    """Units by code, and their ids by code."""
    return SimpleNamespace(unit=small_tree, id={code: unit.id for code, unit in small_tree.items()})


@pytest.fixture
def signed_in(app, make_principal, small_tree):
    """``signed_in(role, scope_code)`` → the principal's ``id``, ``token`` and ``client``."""

    def make(role, scope_code=D):
        principal_id, token = make_principal(role, scope_code)
        return SimpleNamespace(id=principal_id, token=token, client=bearer_client(app, token))

    return make


@pytest.fixture
def clerk(signed_in):
    """A triage clerk of the whole district."""
    return signed_in("triage_clerk", D)


@pytest.fixture
def command(signed_in):
    """District command: reports:triage and pii:read."""
    return signed_in("district_command", D)


# --- reading: scope, order, filters, pages, personal data ------------------------------------


def test_the_clerk_lists_the_reports_of_the_district_oldest_first(session, tree, clerk):
    made = [file_report(session, tree.unit[code]) for code in (M311, M111, V2, G11)]

    items = listed(clerk.client)

    assert [item["id"] for item in items] == sorted(made)
    assert [item["unit_id"] for item in items] == [tree.id[code] for code in (M311, M111, V2, G11)]
    assert {item["status"] for item in items} == {"pending"}
    assert {item["channel"] for item in items} == {"qr"}


def test_the_status_filter_lists_the_pending_queue(session, tree, clerk):
    first, second, third = (file_report(session, tree.unit[M111]) for _ in range(3))
    act(clerk.client, second, "reject", reason="spam")

    assert listed_ids(clerk.client, status="pending") == [first, third]
    assert listed_ids(clerk.client, status="rejected") == [second]
    assert listed_ids(clerk.client, status="dispatched") == []


def test_pages_of_two_hold_each_report_exactly_once(session, tree, clerk):
    made = [file_report(session, tree.unit[code]) for code in (M111, M112, M121, M211, M311)]

    pages, cursor = [], None
    while True:
        response = clerk.client.get(REPORTS, query_string={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert pages == [made[0:2], made[2:4], made[4:5]]


def test_the_unit_filter_lists_the_reports_of_a_subtree(session, tree, clerk):
    in_v1 = [file_report(session, tree.unit[code]) for code in (M111, M121)]
    file_report(session, tree.unit[M211])

    assert listed_ids(clerk.client, unit_id=tree.id[V1]) == in_v1
    assert listed_ids(clerk.client, unit_id=tree.id[M121]) == in_v1[1:]


def test_a_bad_cursor_or_status_is_refused(tree, clerk):
    assert_problem(clerk.client.get(REPORTS, query_string={"cursor": "not-a-cursor"}), 400)
    assert_problem(clerk.client.get(REPORTS, query_string={"status": "lost"}), 422)
    assert_problem(clerk.client.get(REPORTS, query_string={"limit": 0}), 422)


def test_a_town_clerk_sees_only_the_reports_of_its_town(session, tree, signed_in):
    here = file_report(session, tree.unit[M111])
    elsewhere = file_report(session, tree.unit[M311])
    town_clerk = signed_in("triage_clerk", T1)

    assert listed_ids(town_clerk.client) == [here]
    assert get_report(town_clerk.client, here)["id"] == here
    assert_problem(town_clerk.client.get(f"{REPORTS}/{elsewhere}"), 404)
    assert_problem(act_response(town_clerk.client, elsewhere, "reject", reason="spam"), 404)
    # the other town's report was left as it was
    assert get_report(signed_in("triage_clerk", T2).client, elsewhere)["status"] == "pending"


def test_an_auditor_reads_reports_with_the_reporters_contact_but_may_not_triage(session, tree, signed_in):
    """Auditors hold pii:read for reporters' contacts, and read everything else in scope; before,
    reports were closed to them."""
    report_id = file_report(session, tree.unit[M111], reporter_name=NAME, phone=PHONE)
    auditor = signed_in("auditor", D)
    report = get_report(auditor.client, report_id)
    assert report["phone"] == PHONE
    assert [item["id"] for item in auditor.client.get(REPORTS).get_json()["items"]] == [report_id]
    assert_problem(act_response(auditor.client, report_id, "reject", reason="spam"), 403)
    assert get_report(auditor.client, report_id)["status"] == "pending"


@pytest.mark.parametrize("role, scope", [
    ("grid_worker", G11), ("village_station", V1), ("town_centre", T1), ("specialist", D),
    ("admin", None), ("integration", D),
])
def test_roles_without_reports_triage_are_refused(session, tree, signed_in, role, scope):
    report_id = file_report(session, tree.unit[M111])
    someone = signed_in(role, scope)

    assert_problem(someone.client.get(REPORTS), 403)
    assert_problem(someone.client.get(f"{REPORTS}/{report_id}"), 403)
    assert_problem(act_response(someone.client, report_id, "reject", reason="spam"), 403)
    assert get_report(signed_in("triage_clerk", D).client, report_id)["status"] == "pending"


def test_without_a_sign_in_the_desk_answers_401(session, tree, anonymous):
    report_id = file_report(session, tree.unit[M111])
    assert_problem(anonymous.get(REPORTS), 401)
    assert_problem(anonymous.get(f"{REPORTS}/{report_id}"), 401)
    assert_problem(act_response(anonymous, report_id, "reject", reason="spam"), 401)


def test_the_clerk_sees_the_reporter_masked_and_district_command_unmasked(session, tree, clerk, command):
    report_id = file_report(session, tree.unit[M111], reporter_name=NAME, phone=PHONE)

    for seen in (get_report(clerk.client, report_id), listed(clerk.client)[0]):
        assert (seen["reporter_name"], seen["phone"]) == ("张**", "138****5678")
    for seen in (get_report(command.client, report_id), listed(command.client)[0]):
        assert (seen["reporter_name"], seen["phone"]) == (NAME, PHONE)


def test_an_anonymous_report_keeps_no_contact(session, tree, command):
    report_id = file_report(session, tree.unit[M111], reporter_name=NAME, phone=PHONE, anonymous=True)
    seen = get_report(command.client, report_id)
    assert seen["anonymous"] is True
    assert (seen["reporter_name"], seen["phone"]) == (None, None)


def test_a_report_made_on_the_qr_page_reaches_the_desk(app, tree, client, anonymous, clerk):
    code = client.get(f"{API}/units/{tree.id[M112]}/report-code").get_json()
    page = anonymous.get(f"/r/{code['token']}")
    assert page.status_code == 200
    form_id = SUBMISSION_FIELD.search(page.get_data(as_text=True)).group(1)

    done = anonymous.post(f"/r/{code['token']}", data={
        "submission": form_id, "category": "consumer", "description": "超市售卖过期食品，拒绝退款。", "phone": PHONE,
    })
    assert done.status_code == 201, done.get_data(as_text=True)

    [item] = listed(clerk.client, status="pending")
    assert (item["unit_id"], item["category"], item["channel"]) == (tree.id[M112], "consumer", "qr")
    assert item["phone"] == "138****5678"
    assert item["tracking_code"] in done.get_data(as_text=True)


# --- the triage deadline -----------------------------------------------------------------------


@pytest.mark.parametrize("submitted, due", [
    pytest.param(at(2026, 3, 4, 10, 0), at(2026, 3, 5), id="weekday-morning"),
    pytest.param(at(2026, 3, 4, 23, 59), at(2026, 3, 5), id="weekday-late-evening"),
    pytest.param(at(2026, 3, 4, 0, 0), at(2026, 3, 5), id="weekday-midnight"),
    pytest.param(at(2026, 3, 6, 18, 0), at(2026, 3, 7), id="friday-evening"),
    pytest.param(at(2026, 3, 7, 9, 0), at(2026, 3, 10), id="saturday-to-monday"),
    pytest.param(at(2026, 3, 8, 22, 0), at(2026, 3, 10), id="sunday-to-monday"),
    pytest.param(at(2026, 10, 1, 9, 0), at(2026, 10, 9), id="national-day-to-the-8th"),
    pytest.param(at(2026, 10, 4, 9, 0), at(2026, 10, 9), id="weekend-in-national-day"),
    pytest.param(at(2026, 9, 25, 9, 0), at(2026, 9, 29), id="mid-autumn-friday-to-monday"),
    pytest.param(at(2026, 10, 10, 9, 0), at(2026, 10, 11), id="adjusted-working-saturday"),
    pytest.param(at(2026, 9, 20, 9, 0), at(2026, 9, 21), id="adjusted-working-sunday"),
    # 16:30 UTC on 30 April is already 1 May (Labour Day) in Shanghai: 1–5 May off, the 6th works
    pytest.param(datetime.fromisoformat("2026-04-30T16:30:00+00:00"), at(2026, 5, 7), id="utc-evening-is-a-holiday"),
    pytest.param(datetime.fromisoformat("2026-04-30T15:30:00+00:00"), at(2026, 5, 1), id="utc-evening-still-working"),
])
def test_the_triage_deadline_is_the_end_of_the_working_day_it_came_in(session, tree, clerk, submitted, due):
    report_id = file_report(session, tree.unit[M111], now=submitted)
    seen = get_report(clerk.client, report_id)
    assert parse(seen["submitted_at"]) == submitted
    assert parse(seen["triage_due_at"]) == due
    assert parse(seen["triage_due_at"]).utcoffset() is not None


def test_a_due_time_past_the_holiday_data_is_provisional_and_the_sweep_counts_it_again(
    app, session, tree, clerk, monkeypatch
):
    holiday_data_ends(monkeypatch, date(2026, 9, 30))
    holiday = file_report(session, tree.unit[M111], now=at(2026, 10, 1, 9, 0))
    handled = file_report(session, tree.unit[M111], now=at(2026, 10, 2, 9, 0))
    act(clerk.client, handled, "reject", reason="invalid")
    seen = get_report(clerk.client, holiday)
    # Counted Monday to Friday less the days off the law fixes (1–3 October, and Monday the 5th for
    # Saturday the 3rd): Tuesday 6 October looked like a working day, which the notice made a day off.
    assert (parse(seen["triage_due_at"]), seen["triage_due_provisional"]) == (at(2026, 10, 7), True)

    monkeypatch.undo()  # the package was updated
    result = app.test_cli_runner().invoke(args=["cases", "sweep"])
    assert result.exit_code == 0, result.output
    assert "2 reports' triage due times recounted" in result.output
    seen = get_report(clerk.client, holiday)
    assert (parse(seen["triage_due_at"]), seen["triage_due_provisional"]) == (at(2026, 10, 9), False)
    assert parse(get_report(clerk.client, handled)["triage_due_at"]) == at(2026, 10, 9)

    result = app.test_cli_runner().invoke(args=["cases", "sweep"])
    assert "0 reports' triage due times recounted" in result.output


def test_a_pending_report_past_its_deadline_is_overdue_and_filtered(session, tree, clerk):
    late = file_report(session, tree.unit[M111], now=at(2026, 3, 4, 10, 0))
    late_rejected = file_report(session, tree.unit[M111], now=at(2026, 3, 4, 11, 0))
    fresh = file_report(session, tree.unit[M111])  # now: due at the end of today's working day at the earliest
    act(clerk.client, late_rejected, "reject", reason="invalid")

    flags = {item["id"]: item["overdue"] for item in listed(clerk.client)}
    assert flags == {late: True, late_rejected: False, fresh: False}
    assert listed_ids(clerk.client, overdue="true") == [late]
    assert listed_ids(clerk.client, overdue="false") == [late_rejected, fresh]
    assert listed_ids(clerk.client, overdue="true", status="pending") == [late]
    assert get_report(clerk.client, late)["overdue"] is True


# --- classify ----------------------------------------------------------------------------------


def test_classify_sets_category_and_risk_and_the_report_stays_pending(session, tree, clerk):
    report_id = file_report(session, tree.unit[M111], category="other")

    seen = act(clerk.client, report_id, "classify", category="consumer", risk_grade="yellow")
    assert (seen["category"], seen["risk_grade"], seen["status"]) == ("consumer", "yellow", "pending")
    assert seen["handled_at"] is None and seen["case_id"] is None

    seen = act(clerk.client, report_id, "classify", risk_grade="orange")
    assert (seen["category"], seen["risk_grade"]) == ("consumer", "orange")
    seen = act(clerk.client, report_id, "classify", category="labour")
    assert (seen["category"], seen["risk_grade"]) == ("labour", "orange")
    assert get_report(clerk.client, report_id)["status"] == "pending"


def test_classify_with_neither_category_nor_risk_is_refused(session, tree, clerk):
    report_id = file_report(session, tree.unit[M111], category="other")

    assert_problem(act_response(clerk.client, report_id, "classify"), 422)
    body = assert_problem(act_response(clerk.client, report_id, "classify", risk_grade="purple"), 422)
    assert "risk_grade" in body["errors"]
    seen = get_report(clerk.client, report_id)
    assert (seen["category"], seen["risk_grade"], seen["status"]) == ("other", None, "pending")


# --- reject ------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["spam", "out_of_scope", "invalid"])
def test_reject_records_the_reason_and_who_handled_it(session, tree, clerk, reason):
    report_id = file_report(session, tree.unit[M111])
    before = datetime.now(TIMEZONE)

    seen = act(clerk.client, report_id, "reject", reason=reason, note="重复广告内容")

    assert (seen["status"], seen["rejection_reason"], seen["rejection_note"]) == ("rejected", reason, "重复广告内容")
    assert seen["handled_by_id"] == clerk.id
    assert before - timedelta(seconds=5) <= parse(seen["handled_at"]) <= datetime.now(TIMEZONE)
    assert seen["case_id"] is None
    assert get_report(clerk.client, report_id) == seen


def test_reject_without_a_note_is_fine_but_without_a_reason_is_refused(session, tree, clerk):
    report_id = file_report(session, tree.unit[M111])

    body = assert_problem(act_response(clerk.client, report_id, "reject"), 422)
    assert "reason" in body["errors"]
    body = assert_problem(act_response(clerk.client, report_id, "reject", reason="boring"), 422)
    assert "reason" in body["errors"]
    assert get_report(clerk.client, report_id)["status"] == "pending"

    seen = act(clerk.client, report_id, "reject", reason="spam")
    assert (seen["rejection_reason"], seen["rejection_note"]) == ("spam", None)


# --- merge -------------------------------------------------------------------------------------


def test_merge_into_another_report(session, tree, clerk):
    original = file_report(session, tree.unit[M111])
    duplicate = file_report(session, tree.unit[M112])

    seen = act(clerk.client, duplicate, "merge", report_id=original)

    assert (seen["status"], seen["merged_into_id"], seen["case_id"]) == ("merged", original, None)
    assert seen["handled_by_id"] == clerk.id and seen["handled_at"] is not None
    assert get_report(clerk.client, original)["status"] == "pending"


def test_merge_into_a_case(session, tree, clerk):
    case, _ = case_service.create_case(session, actor=None, title="装修噪音", category="family_neighbour",
                                       risk_grade="blue", source="grid_patrol", origin_unit_id=tree.id[M111])
    session.commit()
    duplicate = file_report(session, tree.unit[M111])

    seen = act(clerk.client, duplicate, "merge", case_id=case.id)

    assert (seen["status"], seen["case_id"], seen["merged_into_id"]) == ("merged", case.id, None)
    assert case_count(session) == 1


def test_a_city_wide_desk_merges_nothing_across_districts(session, tree, signed_in):
    """Found by a two-district audit: a city-wide clerk merged a 合江县 report into a Naxi case,
    which then answered for it to 合江县's integrations, handled by a Naxi grid."""
    from gridgov.tree import service as tree_service, transfer

    transfer.import_csv(session, data=OTHER_DISTRICT_CSV.encode())
    theirs = file_report(session, tree_service.get_unit_by_code(session, code=OTHER_V))
    ours = file_report(session, tree.unit[M111])
    case, _ = case_service.create_case(session, actor=None, title="装修噪音", category="family_neighbour",
                                       risk_grade="blue", source="grid_patrol", origin_unit_id=tree.id[M111])
    session.commit()
    city = signed_in("triage_clerk", None)

    for into in ({"case_id": case.id}, {"report_id": ours}):
        problem = act_response(city.client, theirs, "merge", **into).get_json()
        assert problem["status"] == 422 and "another district" in problem["detail"]
    assert get_report(city.client, theirs)["status"] == "pending"
    assert act(city.client, ours, "merge", case_id=case.id)["case_id"] == case.id


def test_a_report_merged_into_one_later_dispatched_names_that_case(session, tree, clerk, command):
    original = file_report(session, tree.unit[M111])
    duplicate = file_report(session, tree.unit[M112])
    act(clerk.client, duplicate, "merge", report_id=original)

    case_id = act(clerk.client, original, "dispatch", risk_grade="blue")["case_id"]

    assert get_report(clerk.client, duplicate)["case_id"] == case_id
    assert {item["id"]: item["case_id"] for item in listed(clerk.client)}[duplicate] == case_id
    # Its handlers hear of the second resident too (before, only of reports merged after dispatch).
    events = command.client.get(f"{API}/cases/{case_id}/timeline").get_json()["items"]
    assert [(event["action"], event["details"].get("report_id")) for event in events] == [
        ("create", None), ("merge_report", duplicate)]


def test_a_page_of_merged_reports_costs_the_same_few_queries_however_many_there_are(app, session, tree, clerk):
    """Each merged report's case was looked up on its own: 20 on a page, 20 more queries."""
    def statements_for_the_list() -> int:
        return statements_during(app, lambda: listed(clerk.client))

    def merged_pair():
        original = file_report(session, tree.unit[M111])
        act(clerk.client, file_report(session, tree.unit[M111]), "merge", report_id=original)
        act(clerk.client, original, "dispatch", risk_grade="blue")

    merged_pair()
    few = statements_for_the_list()
    for _ in range(10):
        merged_pair()
    assert statements_for_the_list() == few
    assert all(item["case_id"] is not None for item in listed(clerk.client))


def test_the_handlers_of_a_case_hear_of_a_report_merged_into_it(session, tree, clerk, command):
    case, _ = case_service.create_case(session, actor=None, title="装修噪音", category="family_neighbour",
                                       risk_grade="blue", source="grid_patrol", origin_unit_id=tree.id[M111])
    session.commit()
    duplicate = file_report(session, tree.unit[M111])
    act(clerk.client, duplicate, "merge", case_id=case.id)

    events = command.client.get(f"{API}/cases/{case.id}/timeline").get_json()["items"]
    assert events[-1]["action"] == "merge_report" and events[-1]["details"]["report_id"] == duplicate


@pytest.mark.parametrize("ending", ["closed", "rejected"])
def test_a_report_cannot_be_merged_into_a_closed_or_rejected_case(session, tree, clerk, ending):
    case = case_in(session, ending, tree.id[M111])
    session.commit()
    report_id = file_report(session, tree.unit[M111])

    problem = assert_problem(act_response(clerk.client, report_id, "merge", case_id=case.id), 422)
    assert "dispatch" in problem["detail"] and "case_id" in problem["errors"]
    assert get_report(clerk.client, report_id)["status"] == "pending"


def test_a_report_merged_into_the_report_that_made_a_case_joins_that_case(session, tree, clerk, command):
    """Before, merging through the report (report_id) neither told the case's handlers nor
    minded that the case was closed."""
    original = file_report(session, tree.unit[M111])
    case_id = act(clerk.client, original, "dispatch", risk_grade="blue")["case_id"]
    duplicate = file_report(session, tree.unit[M112])
    act(clerk.client, duplicate, "merge", report_id=original)
    events = command.client.get(f"{API}/cases/{case_id}/timeline").get_json()["items"]
    assert (events[-1]["action"], events[-1]["details"]["report_id"]) == ("merge_report", duplicate)

    session.execute(sa.update(Case).where(Case.id == case_id).values(status="closed"))
    session.commit()
    late = file_report(session, tree.unit[M111])
    problem = assert_problem(act_response(clerk.client, late, "merge", report_id=original), 422)
    assert "report_id" in problem["errors"]
    assert get_report(clerk.client, late)["status"] == "pending"


def test_the_handlers_hear_of_every_report_merged_along_a_chain(session, tree, clerk, command):
    """A merged into T, T then merged into U: when U becomes a case, or T joins one, the handlers
    hear of A as well (before, only of the report merged into it directly)."""
    def merged_reports(case_id):
        events = command.client.get(f"{API}/cases/{case_id}/timeline").get_json()["items"]
        return sorted(event["details"]["report_id"] for event in events if event["action"] == "merge_report")

    first, then, last = (file_report(session, tree.unit[M111]) for _ in range(3))
    act(clerk.client, first, "merge", report_id=then)
    act(clerk.client, then, "merge", report_id=last)
    case_id = act(clerk.client, last, "dispatch", risk_grade="blue")["case_id"]
    assert merged_reports(case_id) == sorted([first, then])

    first, then = (file_report(session, tree.unit[M112]) for _ in range(2))
    act(clerk.client, first, "merge", report_id=then)
    act(clerk.client, then, "merge", case_id=case_id)
    assert len(merged_reports(case_id)) == 4 and {first, then} <= set(merged_reports(case_id))


def test_merge_into_a_merged_report_follows_the_chain_to_its_end(session, tree, clerk):
    first, second, third = (file_report(session, tree.unit[M111]) for _ in range(3))
    act(clerk.client, second, "merge", report_id=first)

    seen = act(clerk.client, third, "merge", report_id=second)
    assert seen["merged_into_id"] == first


@pytest.mark.parametrize("fields", [{}, "both"], ids=["neither", "both"])
def test_merge_names_exactly_one_target(session, tree, clerk, fields):
    case, _ = case_service.create_case(session, actor=None, title="装修噪音", category="family_neighbour",
                                       risk_grade="blue", source="grid_patrol", origin_unit_id=tree.id[M111])
    session.commit()
    target = file_report(session, tree.unit[M111])
    report_id = file_report(session, tree.unit[M111])
    if fields == "both":
        fields = {"report_id": target, "case_id": case.id}

    assert_problem(act_response(clerk.client, report_id, "merge", **fields), 422)
    seen = get_report(clerk.client, report_id)
    assert (seen["status"], seen["merged_into_id"], seen["case_id"]) == ("pending", None, None)


def test_a_report_cannot_be_merged_into_itself_even_around_a_chain(session, tree, clerk):
    first, second = (file_report(session, tree.unit[M111]) for _ in range(2))

    assert "itself" in assert_problem(act_response(clerk.client, first, "merge", report_id=first), 422)["detail"]
    act(clerk.client, second, "merge", report_id=first)
    # second follows first: merging first into second would make first follow itself; the clerk
    # hears that, not that first was merged into itself (which they did not ask)
    around = assert_problem(act_response(clerk.client, first, "merge", report_id=second), 422)
    assert "merged into this one already" in around["detail"] and "itself" not in around["detail"]
    seen = get_report(clerk.client, first)
    assert (seen["status"], seen["merged_into_id"]) == ("pending", None)


def test_a_report_cannot_be_merged_into_a_rejected_one(session, tree, clerk):
    rejected, report_id = (file_report(session, tree.unit[M111]) for _ in range(2))
    act(clerk.client, rejected, "reject", reason="spam")

    assert_problem(act_response(clerk.client, report_id, "merge", report_id=rejected), 422)
    assert get_report(clerk.client, report_id)["status"] == "pending"


def test_merge_into_an_unknown_report_or_case_is_not_found(session, tree, clerk):
    report_id = file_report(session, tree.unit[M111])
    assert_problem(act_response(clerk.client, report_id, "merge", report_id=2**31 - 1), 404)
    assert_problem(act_response(clerk.client, report_id, "merge", case_id=2**31 - 1), 404)
    assert get_report(clerk.client, report_id)["status"] == "pending"


def test_merge_targets_outside_the_clerks_scope_are_not_found(session, tree, signed_in):
    town_clerk = signed_in("triage_clerk", T1)
    here = file_report(session, tree.unit[M111])
    far_report = file_report(session, tree.unit[M311])
    far_case, _ = case_service.create_case(session, actor=None, title="远处的案件", category="family_neighbour",
                                           risk_grade="blue", source="grid_patrol", origin_unit_id=tree.id[M311])
    session.commit()

    assert_problem(act_response(town_clerk.client, here, "merge", report_id=far_report), 404)
    assert_problem(act_response(town_clerk.client, here, "merge", case_id=far_case.id), 404)
    seen = get_report(town_clerk.client, here)
    assert (seen["status"], seen["merged_into_id"], seen["case_id"]) == ("pending", None, None)


# --- dispatch ----------------------------------------------------------------------------------


@pytest.mark.parametrize("category, where, owner, level", [
    ("family_neighbour", M111, G11, "grid"),  # a micro-grid's matters go to its grid
    ("family_neighbour", V3, V3, "village"),  # a village's own code: the village
    ("traffic_injury", M111, T1, "town"),  # citizen_report_level: the town (属地街道)
    ("labour", M111, T1, "town"),  # minimum_level: the town
    ("consumer", M211, G21, "grid"),
])
def test_dispatch_makes_a_case_owned_as_the_policy_says(session, tree, clerk, command, category, where, owner,
                                                        level):
    report_id = file_report(session, tree.unit[where], category=category)

    seen = act(clerk.client, report_id, "dispatch", risk_grade="blue")

    assert seen["status"] == "dispatched" and seen["case_id"] is not None
    assert seen["handled_by_id"] == clerk.id and seen["handled_at"] is not None
    assert seen["risk_grade"] == "blue"
    case = get_case(command.client, seen["case_id"])
    assert (case["source"], case["origin_unit_id"], case["category"]) == ("citizen_report", tree.id[where], category)
    assert (case["owner_unit_id"], case["owner_level"], case["status"]) == (tree.id[owner], level, "reported")
    assert get_report(clerk.client, report_id) == seen


def test_dispatch_uses_the_classification_and_carries_the_reporter_as_applicant(session, tree, clerk, command):
    report_id = file_report(session, tree.unit[M111], category="other", reporter_name=NAME, phone=PHONE,
                            description="小区电梯长期故障，物业不修。")
    act(clerk.client, report_id, "classify", category="property_management", risk_grade="yellow")

    seen = act(clerk.client, report_id, "dispatch")

    case = get_case(command.client, seen["case_id"])
    assert (case["category"], case["risk_grade"]) == ("property_management", "yellow")
    assert case["description"] == "小区电梯长期故障，物业不修。"
    assert [(p["role"], p["name"], p["phone"]) for p in case["parties"]] == [("applicant", NAME, PHONE)]


def test_a_report_filed_before_its_unit_was_retired_is_still_dispatched_there(session, tree, clerk, command):
    from gridgov.tree.models import Unit

    report_id = file_report(session, tree.unit[M111], category="property_management")
    act(clerk.client, report_id, "classify", risk_grade="yellow")
    session.execute(sa.update(Unit).where(Unit.id == tree.unit[M111].id).values(active=False))
    session.commit()

    seen = act(clerk.client, report_id, "dispatch")

    assert get_case(command.client, seen["case_id"])["origin_unit_id"] == tree.unit[M111].id


def test_dispatch_parameters_override_the_classification(session, tree, clerk, command):
    report_id = file_report(session, tree.unit[M111], category="other")
    act(clerk.client, report_id, "classify", risk_grade="yellow")

    seen = act(clerk.client, report_id, "dispatch", category="consumer", risk_grade="red", title="过期食品纠纷",
               people_involved=3)

    assert (seen["category"], seen["risk_grade"]) == ("consumer", "red")
    case = get_case(command.client, seen["case_id"])
    assert (case["title"], case["category"], case["risk_grade"], case["people_involved"]) == (
        "过期食品纠纷", "consumer", "red", 3)
    assert (case["owner_unit_id"], case["owner_level"]) == (tree.id[T1], "town")  # red: at least the town


def test_a_phone_only_reporter_is_an_applicant_and_an_anonymous_one_is_not(session, tree, clerk, command):
    with_phone = file_report(session, tree.unit[M111], phone=PHONE)
    hidden = file_report(session, tree.unit[M111], phone=PHONE, reporter_name=NAME, anonymous=True)

    case = get_case(command.client, act(clerk.client, with_phone, "dispatch", risk_grade="blue")["case_id"])
    assert [(p["role"], p["phone"]) for p in case["parties"]] == [("applicant", PHONE)]
    case = get_case(command.client, act(clerk.client, hidden, "dispatch", risk_grade="blue")["case_id"])
    assert case["parties"] == []


def test_dispatch_without_a_risk_grade_is_refused_and_makes_no_case(session, tree, clerk):
    report_id = file_report(session, tree.unit[M111])

    body = assert_problem(act_response(clerk.client, report_id, "dispatch"), 422)
    assert "risk_grade" in body["errors"]
    assert case_count(session) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(Party)) == 0
    seen = get_report(clerk.client, report_id)
    assert (seen["status"], seen["case_id"], seen["handled_at"]) == ("pending", None, None)


def test_dispatch_of_a_report_outside_the_clerks_scope_is_not_found(session, tree, signed_in):
    far = file_report(session, tree.unit[M311])

    assert_problem(act_response(signed_in("triage_clerk", T1).client, far, "dispatch", risk_grade="blue"), 404)
    assert case_count(session) == 0


def test_a_dispatched_report_shows_on_its_tracking_page(session, tree, clerk, anonymous):
    report_id = file_report(session, tree.unit[M111], category="traffic_injury")
    seen = act(clerk.client, report_id, "dispatch", risk_grade="yellow")
    reference = session.get(Case, seen["case_id"]).reference

    page = anonymous.get(f"/t/{seen['tracking_code']}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert reference in text and "安富街道" in text


@pytest.fixture
def policy_app(app, database_url, tmp_path):
    """The app with ``CASE_POLICY`` sending no category up for being a resident's report; on
    the test's own database (and so inside the test's rolled-back transaction)."""
    other = create_app({
        "TESTING": True,
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path),
        "RATELIMIT_ENABLED": False,
        "CASE_POLICY": {"citizen_report_level": {}},
    })
    other.test_client_class = app.test_client_class
    with other.app_context():
        flask_migrate.upgrade()  # the schema is there already: this is a no-op
    yield other
    with other.app_context():
        db.engine.dispose()


def test_case_policy_config_overrides_the_town_for_resident_reports(policy_app, session, tree, signed_in):
    # Tokens are plain hashes, so the principals made for the test app sign in here too.
    clerk = signed_in("triage_clerk", D)
    report_id = file_report(session, tree.unit[M111], category="traffic_injury")

    seen = act(bearer_client(policy_app, clerk.token), report_id, "dispatch", risk_grade="blue")

    session.expire_all()
    case = session.get(Case, seen["case_id"])
    # minimum_level still says a traffic injury is for the village, not the grid
    assert (case.owner_unit_id, case.owner_level) == (tree.id[V1], "village")


# --- refusals common to every action ------------------------------------------------------------


HANDLED = {
    "rejected": lambda client, rid, other: act(client, rid, "reject", reason="spam"),
    "merged": lambda client, rid, other: act(client, rid, "merge", report_id=other),
    "dispatched": lambda client, rid, other: act(client, rid, "dispatch", risk_grade="blue"),
}
ACTIONS = {
    "classify": {"risk_grade": "red"},
    "reject": {"reason": "spam"},
    "merge": "other",
    "dispatch": {"risk_grade": "blue"},
}


@pytest.mark.parametrize("status", list(HANDLED))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_every_action_on_a_handled_report_is_a_conflict(session, tree, clerk, status, action):
    report_id, other = (file_report(session, tree.unit[M111]) for _ in range(2))
    before = HANDLED[status](clerk.client, report_id, other)
    cases = case_count(session)
    fields = {"report_id": other} if ACTIONS[action] == "other" else ACTIONS[action]

    assert_problem(act_response(clerk.client, report_id, action, **fields), 409)
    assert get_report(clerk.client, report_id) == before
    assert case_count(session) == cases


@pytest.mark.parametrize("action, fields, named", [
    ("classify", {"category": "consumer", "reason": "spam"}, "reason"),
    ("classify", {"risk_grade": "red", "report_id": 1}, "report_id"),
    ("reject", {"reason": "spam", "category": "consumer"}, "category"),
    ("reject", {"reason": "spam", "title": "标题"}, "title"),
    ("merge", {"report_id": 1, "note": "重复"}, "note"),
    ("merge", {"case_id": 1, "risk_grade": "red"}, "risk_grade"),
    ("dispatch", {"risk_grade": "blue", "report_id": 1}, "report_id"),
    ("dispatch", {"risk_grade": "blue", "reason": "spam"}, "reason"),
    ("dispatch", {"risk_grade": "blue", "colour": "red"}, "colour"),
    ("dispatch", {"risk_grade": "blue", "people_involved": "3"}, "people_involved"),
    ("dispatch", {"risk_grade": "blue", "title": ""}, "title"),
    ("promote", {}, "action"),
    (None, {"risk_grade": "blue"}, "action"),
])
def test_a_field_the_action_does_not_take_is_refused_by_name(session, tree, clerk, action, fields, named):
    report_id = file_report(session, tree.unit[M111], category="other")
    payload = {**({"action": action} if action else {}), **fields}

    body = assert_problem(clerk.client.post(f"{REPORTS}/{report_id}/actions", json=payload), 422)

    assert named in body["errors"], body
    seen = get_report(clerk.client, report_id)
    assert (seen["status"], seen["category"], seen["risk_grade"]) == ("pending", "other", None)
    assert case_count(session) == 0


def test_a_body_that_is_not_json_is_refused(session, tree, clerk):
    report_id = file_report(session, tree.unit[M111])
    response = clerk.client.post(f"{REPORTS}/{report_id}/actions", data="action=reject&reason=spam",
                                 content_type="application/x-www-form-urlencoded")
    assert_problem(response, 415)
    assert get_report(clerk.client, report_id)["status"] == "pending"


@pytest.mark.parametrize("report_id", [2**31 - 1, 999_999])
def test_an_unknown_report_is_not_found(tree, clerk, report_id):
    assert_problem(clerk.client.get(f"{REPORTS}/{report_id}"), 404)
    assert_problem(act_response(clerk.client, report_id, "reject", reason="spam"), 404)
    assert_problem(act_response(clerk.client, report_id, "dispatch", risk_grade="blue"), 404)


def test_an_id_beyond_32_bits_is_not_found(tree, clerk):
    assert_problem(clerk.client.get(f"{REPORTS}/{2**31}"), 404)
    assert_problem(clerk.client.get(f"{REPORTS}/0"), 404)


# --- two clerks at once (PostgreSQL) -------------------------------------------------------------


@pytest.fixture
def scratch(app, committed):
    """A committed district of its own with a pending report and two clerks; everything made
    under it is deleted after."""
    from gridgov.auth import service as auth_service
    from gridgov.auth.permissions import Role
    from gridgov.tree import service as tree_service
    from gridgov.tree.levels import Level

    parent = None
    for level, code in [(Level.DISTRICT, "990061"), (Level.TOWN, "990061001"), (Level.VILLAGE, "990061001001"),
                        (Level.GRID, "990061001001001"), (Level.MICROGRID, "990061001001001001")]:
        parent = tree_service.create_unit(committed, name=f"分诊{level.value}", level=level, code=code,
                                          parent_id=parent.id if parent else None)
    district = tree_service.get_unit_by_code(committed, code="990061")
    tokens = []
    for n in range(2):
        principal = auth_service.create_principal(committed, username=f"race.clerk.{n}", display_name="并发清洗员",
                                                  role=Role.TRIAGE_CLERK, scope_unit_id=district.id)
        tokens.append(auth_service.issue_token(committed, principal=principal, name="race", expires_in=None)[1])
    report = service.submit_report(committed, unit=parent, channel=Channel.QR, category=Category.FAMILY_NEIGHBOUR,
                                   description="并发分派测试", phone=PHONE)
    committed.commit()
    made = SimpleNamespace(district=district.id, path=district.path, report=report.id, tokens=tokens)
    committed.close()
    yield made

    committed.rollback()
    delete_district(committed, district_id=made.district, path=made.path)


def test_two_clerks_dispatching_one_report_make_one_case(app, scratch, monkeypatch):
    # Both requests reach their locks together (the first is the report's unit's lineage); the
    # first to lock holds the report a while, so the other is waiting on a lock (not simply
    # arriving after the commit).
    arrived = threading.Barrier(2)
    original_triage, original_dispatch = service.triage, service.HANDLERS["dispatch"]

    def meet_then_triage(session, **kwargs):
        arrived.wait(timeout=10)
        return original_triage(session, **kwargs)

    def slow_dispatch(*args, **kwargs):
        time.sleep(0.5)
        return original_dispatch(*args, **kwargs)

    monkeypatch.setattr(service, "triage", meet_then_triage)
    monkeypatch.setitem(service.HANDLERS, "dispatch", slow_dispatch)
    answers, failures = [], []

    def dispatch(token):
        try:
            response = act_response(bearer_client(app, token), scratch.report, "dispatch", risk_grade="blue")
            answers.append((response.status_code, response.get_json()))
        except Exception as error:  # noqa: BLE001 — reported below
            failures.append(repr(error))

    threads = [threading.Thread(target=dispatch, args=(token,)) for token in scratch.tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert failures == []
    assert sorted(status for status, _ in answers) == [200, 409]
    [winner] = [body for status, body in answers if status == 200]
    with app.app_context():
        cases = db.session.scalars(sa.select(Case).where(Case.district_id == scratch.district)).all()
        assert [case.id for case in cases] == [winner["case_id"]]
        report = db.session.get(Report, scratch.report)
        assert (report.status, report.case_id) == ("dispatched", winner["case_id"])
        db.session.rollback()


def test_two_clerks_merging_two_reports_into_each_other_leave_one_to_dispatch(app, scratch, monkeypatch):
    with app.app_context():
        unit = db.session.get(Report, scratch.report).unit_id
        from gridgov.tree.models import Unit

        other = service.submit_report(db.session, unit=db.session.get(Unit, unit), channel=Channel.QR,
                                      category=Category.FAMILY_NEIGHBOUR, description="同一件事，另一位邻居")
        db.session.commit()
        first, second = scratch.report, other.id
    # Both reach the locks together; the first to hold them takes a while to merge.
    arrived = threading.Barrier(2)
    original_lock, original_merge = service._lock, service.HANDLERS["merge"]

    def meet_then_lock(session, report_ids):
        arrived.wait(timeout=10)
        return original_lock(session, report_ids)

    def slow_merge(*args, **kwargs):
        time.sleep(0.5)
        return original_merge(*args, **kwargs)

    monkeypatch.setattr(service, "_lock", meet_then_lock)
    monkeypatch.setitem(service.HANDLERS, "merge", slow_merge)
    answers, failures = [], []

    def merge(token, source, target):
        try:
            response = act_response(bearer_client(app, token), source, "merge", report_id=target)
            answers.append(response.status_code)
        except Exception as error:  # noqa: BLE001 — reported below
            failures.append(repr(error))

    threads = [threading.Thread(target=merge, args=(scratch.tokens[0], first, second)),
               threading.Thread(target=merge, args=(scratch.tokens[1], second, first))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert failures == []
    # The second clerk finds the first's merge: following it leads back to its own report.
    assert sorted(answers) == [200, 422]
    with app.app_context():
        statuses = sorted(db.session.scalars(sa.select(Report.status).where(Report.id.in_([first, second]))))
        assert statuses == ["merged", "pending"]
        db.session.rollback()


# --- the tree keeps reports with their units ----------------------------------------------------


def test_a_unit_with_reports_cannot_be_deleted(session, tree, client):
    file_report(session, tree.unit[M112])

    assert_problem(client.delete(f"{API}/units/{tree.id[M112]}"), 409)
    assert client.get(f"{API}/units/{tree.id[M112]}").status_code == 200
    # a micro-grid without reports still can be
    assert client.delete(f"{API}/units/{tree.id[M121]}").status_code == 204


def test_a_handled_report_still_keeps_its_unit(session, tree, client, clerk):
    report_id = file_report(session, tree.unit[M112])
    act(clerk.client, report_id, "reject", reason="spam")
    assert_problem(client.delete(f"{API}/units/{tree.id[M112]}"), 409)


def test_the_reports_of_a_moved_unit_follow_it(session, tree, client, signed_in):
    moved = file_report(session, tree.unit[M211])  # in 新民社区 (V2), under 安富街道 (T1)
    stays = file_report(session, tree.unit[M111])
    old_town, new_town = signed_in("triage_clerk", T1), signed_in("triage_clerk", T2)
    assert listed_ids(new_town.client) == []

    response = client.post(f"{API}/units/{tree.id[V2]}/move", json={"parent_id": tree.id[T2]})
    assert response.status_code == 200, response.get_data(as_text=True)

    assert listed_ids(new_town.client) == [moved]
    assert get_report(new_town.client, moved)["unit_id"] == tree.id[M211]
    assert listed_ids(old_town.client) == [stays]
    assert_problem(old_town.client.get(f"{REPORTS}/{moved}"), 404)
    # and the new town's clerk can act on it
    assert act(new_town.client, moved, "dispatch", risk_grade="blue")["status"] == "dispatched"
