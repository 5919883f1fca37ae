"""The district's two stories (seeds/stories.py), as ``flask seed naxi`` makes them, read back
through the API and the resident's tracking page.

1. The injured elderly resident: a QR report, dispatched by the triage clerk the same day to the
   street (安富街道), resolved within 3 working days and closed; the timeline in that order.
2. The wage arrears of 18 workers: given to the labour-dispute mediation studio, then legal aid,
   labour arbitration, litigation (a judgment), and litigation again for enforcement.

Also: their /t pages in plain words, without anyone's personal data, and seeding twice tells each
story once. Naxi is seeded once for the module, on its own SQLite file.
"""

import itertools
import re
from datetime import datetime

import pytest

from gridgov.auth import service as auth_service
from gridgov.auth.models import Principal
from gridgov.auth.permissions import Role
from gridgov.cases.calendar import TIMEZONE, working_days_between
from gridgov.db import db
from gridgov.tree import service as tree_service
from seeds.stories import INJURY, WAGES
from tests.conftest import bearer_client, fresh_app

API = "/api/v1"
DISTRICT, STREET = "510503", "510503001"  # 纳溪区, 安富街道
STEP = re.compile(r'<li><time datetime="[^"]+">[^<]*</time>\s*([^<]+?)\s*</li>')
STAGE = re.compile(r'<p class="stage" id="stage">([^<]+)</p>')


def seed_naxi(app):
    result = app.test_cli_runner().invoke(args=["seed", "naxi", "--cases", "0"])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def naxi(tmp_path_factory):
    app = fresh_app(tmp_path_factory.mktemp("naxi"))
    seed_naxi(app)
    yield app
    with app.app_context():
        db.engine.dispose()


def token_for(app, role: str, scope_code: str) -> str:
    with app.app_context():
        scope = tree_service.get_unit_by_code(db.session, code=scope_code)
        principal = auth_service.create_principal(
            db.session, username=f"story.{role}", display_name=f"测试 {role}", role=Role(role),
            scope_unit_id=scope.id, password=None,
        )
        _token, text = auth_service.issue_token(db.session, principal=principal, name="test", expires_in=None)
        db.session.commit()
        return text


@pytest.fixture(scope="module")
def command(naxi):
    """The district command (纳溪区社会治理中心指挥部): reads reports, cases and people."""
    return bearer_client(naxi, token_for(naxi, "district_command", DISTRICT))


@pytest.fixture(scope="module")
def admin(naxi):
    """For looking up the demo accounts (principals:manage)."""
    return bearer_client(naxi, token_for(naxi, "admin", DISTRICT))


def get(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def all_reports(command) -> list[dict]:
    return get(command, f"{API}/reports?limit=500")["items"]


def report_told(command, description: str) -> dict:
    [report] = [report for report in all_reports(command) if report["description"] == description]
    return report


def timeline(command, case_id: int) -> list[dict]:
    return get(command, f"{API}/cases/{case_id}/timeline")["items"]


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def local_day(text: str):
    return moment(text).astimezone(TIMEZONE).date()


def collapsed(actions: list[str]) -> list[str]:
    """Runs of one action as one (``record_attempt…``)."""
    return [action for action, _run in itertools.groupby(actions)]


def referrals(events: list[dict]) -> list[tuple]:
    """(action, channel, reason) of each refer and return, the channel replayed from the changes
    (an event records only what it changed)."""
    channel, steps = None, []
    for event in events:
        channel = event["details"].get("changes", {}).get("referral_channel", channel)
        if event["action"] in ("refer", "return_from_referral"):
            steps.append((event["action"], channel, event["reason"] or "",
                          event["details"].get("changes", {}).get("referral_reference")))
    return steps


def tracking_page(naxi, tracking_code: str) -> tuple[str, list[str], str]:
    """(stage, steps in order, the whole page) of /t/<code>, as anyone sees it."""
    response = naxi.test_client().get(f"/t/{tracking_code}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    stage = STAGE.search(page)
    assert stage, page
    return stage.group(1), STEP.findall(page), page


# --- story 1: the injured elderly resident ------------------------------------------------------------


@pytest.fixture(scope="module")
def injury(command):
    report = report_told(command, INJURY)
    case = get(command, f"{API}/cases/{report['case_id']}")
    return report, case


def test_injury_was_reported_through_the_qr_code_and_became_a_case(injury):
    report, case = injury

    assert report["channel"] == "qr"
    assert report["category"] == "traffic_injury"
    assert report["status"] == "dispatched"
    assert case["source"] == "citizen_report" and case["category"] == "traffic_injury"


def test_injury_was_dispatched_by_the_triage_clerk_the_same_day(injury, admin):
    report, _case = injury
    accounts = {p["username"]: p for p in get(admin, f"{API}/principals?limit=500")["items"]}

    assert report["handled_by_id"] == accounts["naxi.triage"]["id"]
    assert accounts["naxi.triage"]["role"] == "triage_clerk"
    assert local_day(report["handled_at"]) == local_day(report["submitted_at"])
    assert moment(report["handled_at"]) <= moment(report["triage_due_at"])
    assert report["overdue"] is False


def test_injury_case_is_owned_by_the_street(injury, command):
    _report, case = injury
    street = get(command, f"{API}/units/by-code/{STREET}")

    assert street["name"] == "安富街道"
    assert case["owner_unit_id"] == street["id"]
    assert case["owner_level"] == "town"


def test_injury_was_resolved_within_three_working_days_and_closed(injury):
    report, case = injury

    assert case["status"] == "closed"
    assert case["resolved_at"] is not None and case["closed_at"] is not None
    assert 0 < working_days_between(moment(report["submitted_at"]), moment(case["resolved_at"])) <= 3
    assert moment(case["resolved_at"]) <= moment(case["closed_at"])
    assert case["satisfaction"] == 5


def test_injury_timeline_reads_as_the_story(injury, command):
    _report, case = injury
    events = timeline(command, case["id"])
    actions = [event["action"] for event in events]

    assert collapsed(actions) == ["create", "accept", "record_attempt", "resolve", "close", "follow_up"]
    assert actions.count("record_attempt") >= 1
    times = [moment(event["at"]) for event in events]
    assert times == sorted(times)


def test_injury_tracking_page_says_it_is_done_in_plain_words(injury, naxi):
    report, case = injury

    stage, steps, page = tracking_page(naxi, report["tracking_code"])

    assert stage == "已办结"
    assert steps[0] == "已收到您的反映"
    assert [step for step in steps if step in ("已分派至安富街道", "安富街道已受理", "已化解", "已核查结案", "已回访")] == [
        "已分派至安富街道", "安富街道已受理", "已化解", "已核查结案", "已回访"]
    assert case["reference"] in page
    # Nobody's personal data: not the reporter's phone, the report's words or the mediators' notes.
    assert "13908301234" not in page and INJURY not in page and "8600" not in page


# --- story 2: the wage arrears ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wages(command):
    report = report_told(command, WAGES)
    case = get(command, f"{API}/cases/{report['case_id']}")
    return report, case


def test_wage_case_is_labour_with_eighteen_people_given_to_the_labour_studio(wages, command):
    report, case = wages
    studios = {studio["name"]: studio for studio in get(command, f"{API}/studios")["items"]}

    assert report["channel"] == "qr" and report["status"] == "dispatched"
    assert case["category"] == "labour"
    assert case["people_involved"] == 18
    assert case["studio_id"] == studios["劳动争议调解工作室"]["id"]


def test_wage_case_went_through_legal_aid_arbitration_and_litigation_into_enforcement(wages, command):
    _report, case = wages

    steps = referrals(timeline(command, case["id"]))

    assert [(action, channel) for action, channel, _reason, _ref in steps] == [
        ("refer", "legal_aid"), ("return_from_referral", "legal_aid"),
        ("refer", "labour_arbitration"), ("return_from_referral", "labour_arbitration"),
        ("refer", "litigation"), ("return_from_referral", "litigation"),
        ("refer", "litigation"),
    ]
    assert steps[5][2].startswith("judgment")  # the court's answer
    assert "执" in steps[6][3]  # the second litigation is enforcement (执行案号)
    assert case["status"] == "referred"
    assert case["referral_channel"] == "litigation"
    assert "执" in case["referral_reference"]


def test_wage_tracking_page_says_it_is_in_court_in_plain_words(wages, naxi):
    report, case = wages

    stage, steps, page = tracking_page(naxi, report["tracking_code"])

    assert stage == "已转入诉讼程序"
    assert steps[:3] == ["已收到您的反映", "已分派至安富街道", "安富街道已受理"]
    assert "已安排调解人员" in steps
    assert case["reference"] in page
    assert "13700830001" not in page and WAGES not in page


def test_wage_tracking_page_names_each_referral_as_it_happened(wages, naxi):
    report, _case = wages

    _stage, steps, _page = tracking_page(naxi, report["tracking_code"])

    referral_steps = [step for step in steps if "程序" in step]
    assert referral_steps == [
        "已转入法律援助程序", "法律援助程序已有结果，继续办理",
        "已转入劳动仲裁程序", "劳动仲裁程序已有结果，继续办理",
        "已转入诉讼程序", "诉讼程序已有结果，继续办理",
        "已转入诉讼程序",
    ]


# --- seeding again ------------------------------------------------------------------------------------


def test_seeding_naxi_again_tells_no_story_twice(naxi, command):
    before = all_reports(command)

    again = seed_naxi(naxi)

    after = all_reports(command)
    assert "two stories" not in again.output
    assert len(after) == len(before) == 2
    assert sorted(report["description"] for report in after) == sorted([INJURY, WAGES])


def test_the_demo_specialist_sees_the_wage_story_given_to_their_studio(naxi, admin):
    """Before, no worker was linked to `naxi.expert`: the README's specialist saw nothing."""
    expert = [item for item in get(admin, f"{API}/principals?limit=500")["items"] if item["username"] == "naxi.expert"]
    with naxi.app_context():
        _token, text = auth_service.issue_token(db.session, principal=db.session.get(Principal, expert[0]["id"]),
                                                name="test", expires_in=None)
        db.session.commit()
    seen = get(bearer_client(naxi, text), f"{API}/cases?limit=500")["items"]
    assert [case["category"] for case in seen] == ["labour"]
    assert seen[0]["studio_id"] is not None

