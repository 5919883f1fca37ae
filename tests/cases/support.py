"""What the case tests share: the small tree's codes, request helpers, and cases built through
the service in a given status.

The tree (``tests.conftest.SMALL_TREE_CSV``)::

    510503 纳溪区 (D)
    ├── 510503001 安富街道 (T1)
    │   ├── 510503001001 永安社区 (V1) ── grids G11 (micro-grids M111, M112), G12 (M121)
    │   └── 510503001002 新民社区 (V2) ── grid G21 (M211)
    └── 510503100 大渡口镇 (T2)
        └── 510503100201 金龙村 (V3) ── grid G31 (M311)
"""

from datetime import date, datetime

import sqlalchemy as sa

from gridgov.cases import calendar, service
from gridgov.cases.calendar import TIMEZONE
from gridgov.cases.enums import Outcome, ReferralChannel, Status
from gridgov.cases.models import Case
from tests.conftest import every_page

API = "/api/v1"
CASES = f"{API}/cases"
INBOX = f"{API}/inbox"

D = "510503"
T1, T2 = "510503001", "510503100"
V1, V2, V3 = "510503001001", "510503001002", "510503100201"
G11, G12, G21, G31 = "510503001001001", "510503001001002", "510503001002001", "510503100201001"
M111, M112, M121 = "510503001001001001", "510503001001001002", "510503001001002001"
M211, M311 = "510503001002001001", "510503100201001001"
# Another district beside it (a city runs one service for all its districts), to import where needed.
OTHER_D, OTHER_T, OTHER_V = "510504", "510504001", "510504001001"
OTHER_DISTRICT_CSV = """code,name,level,parent_code
510504,合江县,district,510500
510504001,合江镇,town,510504
510504001001,城西社区,village,510504001
"""


S = Status
# The lifecycle as the issue tells it, written out independently of transitions.TRANSITIONS:
# action → (the statuses it is allowed from, the status it leads to; None: unchanged / back to before)
EXPECTED = {
    "accept": ({S.REPORTED, S.REOPENED}, S.ACCEPTED),
    "assign": ({S.ACCEPTED, S.IN_PROGRESS}, S.IN_PROGRESS),
    "record_attempt": ({S.ACCEPTED, S.IN_PROGRESS}, S.IN_PROGRESS),
    "resolve": ({S.ACCEPTED, S.IN_PROGRESS}, S.RESOLVED),
    "escalate": ({S.ACCEPTED, S.IN_PROGRESS}, S.REPORTED),
    "delegate": ({S.REPORTED, S.ACCEPTED, S.IN_PROGRESS}, S.REPORTED),
    "refer": ({S.ACCEPTED, S.IN_PROGRESS}, S.REFERRED),
    "return_from_referral": ({S.REFERRED}, S.IN_PROGRESS),
    "suspend": ({S.REPORTED, S.ACCEPTED, S.IN_PROGRESS}, S.SUSPENDED),
    "resume": ({S.SUSPENDED}, None),
    "close": ({S.RESOLVED}, S.CLOSED),
    "reopen": ({S.CLOSED}, S.REOPENED),
    "follow_up": ({S.CLOSED}, None),
    "reject": ({S.REPORTED, S.ACCEPTED}, S.REJECTED),
    # Not in the list, but what its users need where it is silent: a mis-graded case
    # corrected where it is (before, only an escalation could regrade it), and the parties met
    # after logging recorded (before, a resident's case could never go cross_boundary).
    "regrade": ({S.REPORTED, S.ACCEPTED, S.IN_PROGRESS, S.REOPENED}, None),
    "add_party": ({S.REPORTED, S.ACCEPTED, S.IN_PROGRESS, S.SUSPENDED, S.REFERRED, S.REOPENED}, None),
    # And a verification that fails (核查不通过): before, a resolved case could only be closed.
    # In progress again, or reported where its owner is gone (None: the handler decides).
    "send_back": ({S.RESOLVED}, None),
}


def at(*args) -> datetime:
    """A moment in Asia/Shanghai."""
    return datetime(*args, tzinfo=TIMEZONE)


def parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


def case_body(origin_id: int, **overrides) -> dict:
    body = {
        "title": "邻里噪音纠纷",
        "description": "楼上装修噪音，双方多次争吵。",
        "category": "family_neighbour",
        "risk_grade": "blue",
        "source": "grid_patrol",
        "origin_unit_id": origin_id,
    }
    body.update(overrides)
    return body


def log(client, origin_id: int, *, expect: int = 201, headers=None, **overrides) -> dict:
    response = client.post(CASES, json=case_body(origin_id, **overrides), headers=headers or {})
    assert response.status_code == expect, response.get_data(as_text=True)
    return response.get_json()


def act_response(client, case: dict, action: str, *, version: int | None = None, **fields):
    payload = {"action": action, "version": case["version"] if version is None else version, **fields}
    return client.post(f"{CASES}/{case['id']}/actions", json=payload)


def act(client, case: dict, action: str, **fields) -> dict:
    """The action through the API; it must succeed."""
    response = act_response(client, case, action, **fields)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def get(client, case_id: int) -> dict:
    response = client.get(f"{CASES}/{case_id}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def timeline(client, case_id: int, *, limit: int | None = None) -> list[dict]:
    """Every event of the case, page after page (``limit`` a page)."""
    return every_page(client, f"{CASES}/{case_id}/timeline", **({"limit": limit} if limit else {}))


# --- through the service (no principal: the command line's view) ------------------------------

STEPS = {
    "reported": [],
    "accepted": [("accept", {})],
    "in_progress": [("accept", {}), ("record_attempt", {"outcome": Outcome.PARTIAL})],
    "resolved": [("accept", {}), ("resolve", {"note": "双方和解"})],
    "closed": [("accept", {}), ("resolve", {"note": "双方和解"}), ("close", {})],
    "reopened": [("accept", {}), ("resolve", {"note": "双方和解"}), ("close", {}), ("reopen", {"reason": "申请人异议"})],
    "suspended": [("accept", {}), ("suspend", {"reason": "当事人外出"})],
    "referred": [("accept", {}), ("refer", {"channel": ReferralChannel.LEGAL_AID})],
    "rejected": [("reject", {"reason": "duplicate"})],
}


def new_case(session, origin_id: int, *, now=None, **overrides) -> Case:
    fields = dict(title="测试事项", category="family_neighbour", risk_grade="blue", source="grid_patrol")
    fields.update(overrides)
    case, created = service.create_case(session, actor=None, origin_unit_id=origin_id, now=now, **fields)
    assert created
    return case


def do(session, case: Case, action: str, *, now=None, **params) -> Case:
    return service.act(session, case=case, action=action, actor=None, version=case.version, params=params, now=now)


def case_in(session, status: str, origin_id: int, *, now=None, **overrides) -> Case:
    """A committed case brought to ``status`` by the service's own actions."""
    case = new_case(session, origin_id, now=now, **overrides)
    for action, params in STEPS[status]:
        do(session, case, action, now=now, **params)
    session.commit()
    assert case.status == status
    return case


def fresh(session, case_id: int) -> Case:
    """The row as the database has it now (requests change it behind the test's session)."""
    session.expire_all()
    return session.scalar(sa.select(Case).where(Case.id == case_id))


def set_clock(session, case_id: int, **values) -> None:
    """Move a case's deadline or yellow mark (e.g. into the past) behind the service's back."""
    session.execute(sa.update(Case).where(Case.id == case_id).values(**values).execution_options(synchronize_session=False))
    session.commit()
    session.expire_all()


def holiday_data_ends(monkeypatch, last: date) -> None:
    """As if the installed holiday data knew nothing after ``last``: past it, the calendar's own
    estimate, marked provisional (``monkeypatch.undo()``: the package was updated)."""
    real = calendar.is_working_day
    monkeypatch.setattr(calendar, "is_working_day",
                        lambda day: (calendar.estimated_working_day(day), False) if day > last else real(day))
