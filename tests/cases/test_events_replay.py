"""The audit trail rebuilds every case: a generated history, replayed event by event.

Forty cases live through random (seeded) sequences of actions taken through ``service.act`` on a
simulated clock, refusals included; then the sweep runs. For every case the fields its events
tell (``service.replay``) must be the fields of its row as the database has it
(``service.snapshot`` after the session forgot everything).
"""

import random
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from gridgov.cases import service
from gridgov.cases.enums import HandlingLevel, Outcome, ReferralChannel, Status
from gridgov.cases.models import Case, CaseEvent
from gridgov.cases.sweep import sweep
from gridgov.cases.transitions import allowed_from
from gridgov.errors import Conflict, DomainError
from gridgov.tree import service as tree_service
from tests.cases.support import G11, G12, G21, G31, M111, M112, M121, M211, M311, T1, T2, V1, V2, V3, at, new_case

ORIGINS = [M111, M112, M121, M211, M311, V1, V3, T1]
HOMES = [None, M111, M211, M311, V2, G12]
CATEGORIES = ["family_neighbour", "consumer", "traffic_injury", "labour", "land_housing", "other"]
GRADES = ["blue", "blue", "yellow", "orange", "red"]
START = at(2026, 3, 2, 9)  # a Monday; the history runs into April (Qingming 4–6 April)


def normalised(state: dict) -> dict:
    """Equal instants and amounts compare equal, whatever offset or scale they were written in."""
    out = {}
    for key, value in state.items():
        if isinstance(value, str) and key.endswith("_at"):
            value = datetime.fromisoformat(value)
        elif key == "amount_in_dispute" and value is not None:
            value = Decimal(value)
        out[key] = value
    return out


def params_for(action, case, rng, ids, assignee_id):
    if action == "assign":
        return {"assignee_id": assignee_id}
    if action == "record_attempt":
        return {"outcome": rng.choice(list(Outcome)), "notes": "调解"}
    if action == "resolve":
        return {"note": "双方和解"} if rng.random() < 0.7 else {}
    if action == "escalate":
        if case.status is Status.REPORTED:
            return {"reason": "deadline_exceeded"}
        reason = rng.choice(["mediation_failed", "deadline_exceeded", "beyond_authority", "cross_boundary"])
        extra = {"risk_grade": "red"} if reason == "beyond_authority" and rng.random() < 0.7 else {}
        return {"reason": reason, **extra}
    if action == "delegate":
        return {"unit_id": ids[rng.choice([V1, V2, V3, G11, G12, G21, G31, T1, T2, M111])], "note": "交办"}
    if action == "refer":
        return {"channel": rng.choice(list(ReferralChannel)), "external_reference": "外部编号"}
    if action == "return_from_referral":
        return {"outcome": rng.choice(["judgment", "award", "withdrawn"])}
    if action in ("suspend", "reopen", "send_back"):
        return {"reason": "理由"}
    if action == "follow_up":
        return {"satisfaction": rng.randint(1, 5)}
    if action == "reject":
        return {"reason": rng.choice(["duplicate", "out_of_scope", "invalid"])}
    if action == "regrade":
        return {"note": "复核定级", "risk_grade": rng.choice(["blue", "yellow"])}
    if action == "add_party":
        return {"party": {"role": "other", "name": "李四", "home_unit_id": ids[rng.choice([M111, V2, V3])]}}
    return {}


def generate(session, ids, assignee_id, *, seed: int, cases: int = 40):
    """Cases with random lives; returns them and how many actions were applied and refused."""
    rng = random.Random(seed)
    made, applied, refused = [], 0, 0
    for n in range(cases):
        now = START + timedelta(hours=rng.randint(0, 72))
        homes = [rng.choice(HOMES) for _ in range(rng.randint(0, 2))]
        case = new_case(
            session, ids[rng.choice(ORIGINS)], now=now,
            category=rng.choice(CATEGORIES), risk_grade=rng.choice(GRADES),
            people_involved=rng.choice([1, 2, 5, 12, 35]),
            amount_in_dispute=rng.choice([None, Decimal("800.00"), Decimal("12500.50")]),
            parties=[{"role": "applicant", "name": f"当事人{n}", "phone": "13900001111",
                      "id_number": f"51050319800101{n:04d}", "home_unit_id": ids[h] if h else None} for h in homes],
        )
        for _step in range(rng.randint(0, 12)):
            options = allowed_from(case.status)
            if not options:
                break
            action = rng.choice(options)
            now += timedelta(hours=rng.choice([1, 3, 8, 20, 30, 60]), minutes=rng.randint(0, 59))
            params = params_for(action, case, rng, ids, assignee_id)
            try:
                with session.begin_nested():
                    service.act(session, case=case, action=action, actor=None, version=case.version,
                                params=params, now=now)
                applied += 1
            except Conflict:  # pragma: no cover - the generator picks allowed actions only
                raise
            except DomainError:
                refused += 1  # a guard said no (a reason that does not hold, the 30 days …)
        made.append(case)
    session.commit()
    return made, applied, refused


def assert_every_case_replays(session, cases):
    session.expire_all()
    for case in cases:
        row = session.scalar(sa.select(Case).where(Case.id == case.id))
        replayed = service.replay(service.events(session, case=row))
        assert set(replayed) == set(service.REPLAYED_FIELDS)
        assert normalised(replayed) == normalised(service.snapshot(row)), row.reference


@pytest.fixture
def assignee(make_principal, small_tree):
    principal_id, _token = make_principal("grid_worker", G11)
    return principal_id


@pytest.mark.parametrize("seed", [4, 2026])
def test_every_case_of_a_generated_history_is_its_events_replayed(session, ids, assignee, seed):
    cases, applied, refused = generate(session, ids, assignee, seed=seed)
    # The history is rich enough to mean something.
    assert applied > 60 and refused > 5
    statuses = {case.status for case in cases}
    assert len(statuses) >= 6, statuses
    levels = {case.highest_level for case in cases}
    assert {HandlingLevel.VILLAGE, HandlingLevel.TOWN} <= levels
    events = session.scalar(sa.select(sa.func.count()).select_from(CaseEvent))
    assert events == applied + len(cases)  # one per action applied, one per creation; none for refusals

    assert_every_case_replays(session, cases)


def test_the_history_still_replays_after_a_sweep_escalated_and_marked(session, ids, assignee):
    cases, _applied, _refused = generate(session, ids, assignee, seed=7)
    at_grid = new_case(session, ids[M111], now=START)  # owned by G11, due a day later
    at_town = new_case(session, ids[M111], now=START, category="labour")  # owned by T1
    session.commit()
    assert (at_grid.owner_level, at_town.owner_level) == (HandlingLevel.GRID, HandlingLevel.TOWN)

    later = max(event.at for event in session.scalars(sa.select(CaseEvent))) + timedelta(days=30)
    counts = sweep(session, now=later)
    assert counts["escalated"] >= 1 and counts["marked"] >= 1

    session.expire_all()
    grid_row = session.get(Case, at_grid.id)
    town_row = session.get(Case, at_town.id)
    assert grid_row.owner_unit_id == ids[V1] and grid_row.status is Status.REPORTED
    assert town_row.owner_unit_id == ids[T1] and town_row.overdue_marked_at == later
    actions = [event.action for event in service.events(session, case=town_row)]
    assert actions == ["create", "mark_overdue"]

    assert_every_case_replays(session, [*cases, at_grid, at_town])


def test_replay_equals_the_snapshot_of_the_row_exactly(session, ids):
    case = new_case(session, ids[M111])  # now: utcnow(), as in production
    session.commit()
    session.expire_all()
    row = session.get(Case, case.id)
    assert service.replay(service.events(session, case=row)) == service.snapshot(row)


def test_a_unit_move_keeps_the_cases_replayable(session, ids, small_tree):
    case = new_case(session, ids[M111], now=START)
    session.commit()
    before = (case.origin_path, case.owner_path)
    tree_service.move_unit(session, unit=small_tree[G11], new_parent=small_tree[V2])
    session.commit()
    session.expire_all()
    row = session.get(Case, case.id)
    assert (row.origin_path, row.owner_path) != before  # the move did reach the case
    assert normalised(service.replay(service.events(session, case=row))) == normalised(service.snapshot(row))
