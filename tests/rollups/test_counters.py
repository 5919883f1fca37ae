"""The rollup counters stay right.

* After a generated history (seeded: cases logged across the small tree's micro-grids over a
  few weeks of 2026, then random allowed actions through ``cases.service.act`` and the sweep),
  the counters that every change kept up equal the counters rebuilt from the cases.
* Unit moves (a village to another town, a grid to another village, a micro-grid to another
  grid) carry their counts: the counters still equal a rebuild, and what the old ancestors lost
  is exactly what the new ones gained.
* The figures add up: for every unit with children, the children's counts sum to the parent's
  in ``GET /api/v1/units/{id}/rollup``, with and without a window.
"""

import random
from collections import Counter
from datetime import date, timedelta

import pytest

from gridgov.auth.models import Principal
from gridgov.cases import service
from gridgov.cases.enums import OPEN_STATUSES, Category, HandlingLevel, Outcome, ReferralChannel, RiskGrade, Status
from gridgov.cases.sweep import sweep
from gridgov.db import utcnow
from gridgov.rollups import counters
from gridgov.rollups.service import Window, rollup
from gridgov.tree import service as tree_service
from tests.cases.support import (
    API, D, G11, G12, G21, G31, M111, M112, M121, M211, M311, T1, T2, V1, V2, V3, at, new_case,
)
from tests.conftest import bearer_client
from tests.rollups.support import counter_mismatches

START = at(2026, 3, 2, 8)  # a Monday
MICRO_GRIDS = [M111, M112, M121, M211, M311]
CASE_COUNT = 60
# 1 stays at the grid; 35 people take a case to the town, 120 to the district (policy).
PEOPLE = [1, 1, 1, 2, 4, 12, 35, 120]
# The actions the history must have used at least once (so the comparison covers them).
REQUIRED_ACTIONS = {
    "accept", "attempt_success", "attempt_failure", "resolve", "close", "escalate", "suspend", "resume",
    "refer", "return_from_referral", "reject", "reopen", "follow_up",
}
SUMMED = ["cases", "open", "new", "resolved", "closed", "due_to_close", "closed_on_time", "overdue"]
SUMMED_MAPS = ["by_status", "by_category", "by_risk_grade", "by_owner_level", "escalations", "resolved_by_level",
               "deadline_colours"]
PARENTS = [D, T1, T2, V1, V2, V3, G11, G12, G21, G31]
# All time, a window inside the history, and one open-ended window that reaches today.
WINDOWS = ["", "?from=2026-03-09&to=2026-03-22", "?from=2026-03-20"]


# --- the generated history ---------------------------------------------------------------------


def _choices(case, now) -> list[str]:
    """The actions the case allows now (its status, the level it is at, the reopening period)."""
    status = case.status
    options = []
    if status in (Status.REPORTED, Status.REOPENED):
        options += ["accept", "accept"]
    if status is Status.REPORTED:
        options += ["reject", "suspend"]
    if status in (Status.ACCEPTED, Status.IN_PROGRESS):
        options += ["attempt_success", "attempt_failure", "resolve", "resolve", "suspend", "refer"]
        if case.owner_level is not HandlingLevel.DISTRICT:
            options.append("escalate")
    if status is Status.ACCEPTED:
        options.append("reject")
    if status is Status.SUSPENDED:
        options.append("resume")
    if status is Status.REFERRED:
        options.append("return_from_referral")
    if status is Status.RESOLVED:
        options += ["close", "close"]
    if status is Status.CLOSED:
        options.append("follow_up")
        if now <= case.closed_at + timedelta(days=service.current_policy().reopen_days):
            options.append("reopen")
    return options


def _act(session, case, action, *, actor=None, now, **params):
    return service.act(session, case=case, action=action, actor=actor, version=case.version, params=params, now=now)


def _apply(session, rng, case, choice, *, now, principals) -> str | None:
    """Apply ``choice``; returns "regraded" when an escalation changed the grade."""
    if choice in ("attempt_success", "attempt_failure"):
        outcome = Outcome.SUCCESS if choice == "attempt_success" else Outcome.FAILURE
        _act(session, case, "record_attempt", now=now, outcome=outcome)
    elif choice == "escalate":
        # mediation_failed holds only after a failed attempt at the current owner.
        _act(session, case, "record_attempt", now=now, outcome=Outcome.FAILURE)
        # Now and then graded anew on the way up: the case's risk weight changes with it.
        regrade = {"risk_grade": rng.choice(list(RiskGrade))} if rng.random() < 0.3 else {}
        _act(session, case, "escalate", now=now, reason="mediation_failed", **regrade)
        return "regraded" if regrade else None
    elif choice == "resolve":
        _act(session, case, "resolve", actor=rng.choice([None, *principals]), now=now, note="双方和解")
    elif choice == "close":
        # The verifier is someone else than the resolver (or the command line).
        verifiers = [None, *[p for p in principals if p.id != case.resolved_by_id]]
        _act(session, case, "close", actor=rng.choice(verifiers), now=now)
    elif choice == "suspend":
        _act(session, case, "suspend", now=now, reason="当事人外出")
    elif choice == "refer":
        _act(session, case, "refer", now=now, channel=rng.choice(list(ReferralChannel)))
    elif choice == "return_from_referral":
        _act(session, case, "return_from_referral", now=now, outcome="judgment")
    elif choice == "reject":
        _act(session, case, "reject", now=now, reason="duplicate")
    elif choice == "reopen":
        _act(session, case, "reopen", now=now, reason="申请人异议")
    elif choice == "follow_up":
        _act(session, case, "follow_up", now=now, satisfaction=rng.randint(1, 5))
    else:
        _act(session, case, choice, now=now)


@pytest.fixture
def principals(session, make_principal) -> list[Principal]:
    """Two district command principals: one resolves, the other (or the command line) verifies."""
    made = [make_principal("district_command", D)[0] for _ in range(2)]
    return [session.get(Principal, principal_id) for principal_id in made]


@pytest.fixture
def history(session, small_tree, principals) -> dict:
    """~60 cases and a few hundred random allowed actions from 2 March 2026 on, with sweeps in
    between and one three weeks after the last action. Returns what was done."""
    rng = random.Random(20260302)
    ids = {code: unit.id for code, unit in small_tree.items()}
    cases, done = [], Counter()
    now = START
    for step in range(420):
        now += timedelta(minutes=rng.randint(20, 260))
        if len(cases) < CASE_COUNT and (not cases or rng.random() < 0.3):
            cases.append(new_case(
                session, ids[rng.choice(MICRO_GRIDS)], now=now,
                category=rng.choice(list(Category)), risk_grade=rng.choice(list(RiskGrade)),
                people_involved=rng.choice(PEOPLE),
            ))
            continue
        case = rng.choice(cases)
        options = _choices(case, now)
        if not options:
            continue
        choice = rng.choice(options)
        if (extra := _apply(session, rng, case, choice, now=now, principals=principals)) is not None:
            done[extra] += 1
        done[choice] += 1
        if step % 60 == 59:
            session.commit()
            done["swept"] += sweep(session, now=now)["escalated"]
    session.commit()
    done["swept"] += sweep(session, now=now + timedelta(days=21))["escalated"]
    session.commit()
    assert len(cases) == CASE_COUNT
    # The history is only a test if it went through what the counters have to follow.
    assert REQUIRED_ACTIONS <= set(done), REQUIRED_ACTIONS - set(done)
    assert done["swept"] > 0 and done["regraded"] > 0
    return {"ids": ids, "done": done, "statuses": Counter(case.status for case in cases)}


# --- comparing counters ------------------------------------------------------------------------


def rebuilt(session) -> tuple[dict, dict]:
    counters.rebuild(session, policy=service.current_policy())
    return counters.read_all(session)


def _difference(minuend: dict, subtrahend: dict) -> dict:
    return {column: minuend.get(column, 0) - subtrahend.get(column, 0) for column in minuend.keys() | subtrahend.keys()}


def _days_of(days: dict, unit_id: int) -> dict[date, dict]:
    return {day: row for (owner, day), row in days.items() if owner == unit_id}


def assert_same_sums(first: dict, second: dict, label: str) -> None:
    for column in first.keys() | second.keys():
        assert first.get(column, 0) == pytest.approx(second.get(column, 0), rel=1e-9, abs=1e-6), (label, column)


def assert_move_carried(before, after, *, unit_id, old_ancestor, new_ancestor) -> None:
    """The old ancestor lost exactly the moved unit's sums as they were, the new one gained
    exactly those as they are (the move hands the unit's open cases that the old ancestors
    handled to the new ones, which changes their statuses)."""
    (totals_before, days_before), (totals_after, days_after) = before, after
    lost = _difference(totals_before.get(old_ancestor, {}), totals_after.get(old_ancestor, {}))
    gained = _difference(totals_after.get(new_ancestor, {}), totals_before.get(new_ancestor, {}))
    assert_same_sums(lost, totals_before[unit_id], "totals: lost vs the moved unit's before")
    assert_same_sums(gained, totals_after[unit_id], "totals: gained vs the moved unit's after")
    for day in _days_of(days_before, old_ancestor).keys() | _days_of(days_after, new_ancestor).keys():
        lost = _difference(days_before.get((old_ancestor, day), {}), days_after.get((old_ancestor, day), {}))
        gained = _difference(days_after.get((new_ancestor, day), {}), days_before.get((new_ancestor, day), {}))
        changed = _difference(days_before.get((unit_id, day), {}), days_after.get((unit_id, day), {}))
        assert_same_sums(_difference(lost, gained), changed, f"day {day}: lost vs gained")


# --- the tests ---------------------------------------------------------------------------------


def test_the_counters_after_a_generated_history_equal_a_rebuild_from_the_cases(session, history):
    kept = counters.read_all(session)
    district = kept[0][history["ids"][D]]
    # The district's row holds every case, and the history left them in many statuses.
    assert district["cases"] == CASE_COUNT
    assert len(history["statuses"]) >= 6, history["statuses"]
    assert district.get("escalated_to_village", 0) + district.get("escalated_to_town", 0) > 0

    assert counter_mismatches(kept, rebuilt(session)) == []


def test_a_rebuild_repairs_counters_that_drifted_from_the_cases(session, history):
    ids = history["ids"]
    kept = counters.read_all(session)
    micro_grid = tree_service.get_unit(session, unit_id=ids[M111])
    counters.apply(session, origin_unit_id=micro_grid.id, totals={"open": 1}, days={})
    drifted = counters.read_all(session)
    # The drift shows on the micro-grid and each of its four ancestors, and only there.
    wrong = counter_mismatches(drifted, kept)
    assert {(table, column) for table, _key, column, _a, _e in wrong} == {("totals", "open")}
    assert {key for _table, key, *_rest in wrong} == {ids[code] for code in (M111, G11, V1, T1, D)}

    assert counter_mismatches(rebuilt(session), kept) == []
    open_now = sum(count for status, count in history["statuses"].items() if status in OPEN_STATUSES)
    assert kept[0][ids[D]].get("open", 0) == open_now


def test_moving_a_village_to_another_town_and_a_grid_to_another_village_keeps_the_counters_right(
    session, history, small_tree
):
    ids = history["ids"]
    before = counters.read_all(session)
    assert before[0][ids[V2]]["cases"] > 0  # the move has something to carry

    tree_service.move_unit(session, unit=small_tree[V2], new_parent=small_tree[T2])
    after = counters.read_all(session)
    assert_move_carried(before, after, unit_id=ids[V2], old_ancestor=ids[T1], new_ancestor=ids[T2])
    # Within the district no case came or went. Its other sums may change: the open cases the old
    # town handled went to the new one as reported (test_unit_moves), and the rebuild below checks
    # every sum.
    assert before[0][ids[D]]["cases"] == after[0][ids[D]]["cases"]
    assert before[0][ids[D]]["open"] == after[0][ids[D]]["open"]
    assert counter_mismatches(after, rebuilt(session)) == []

    before = counters.read_all(session)
    assert before[0][ids[G12]]["cases"] > 0
    tree_service.move_unit(session, unit=tree_service.get_unit(session, unit_id=ids[G12]),
                           new_parent=tree_service.get_unit(session, unit_id=ids[V3]))
    after = counters.read_all(session)
    assert_move_carried(before, after, unit_id=ids[G12], old_ancestor=ids[V1], new_ancestor=ids[V3])
    assert_move_carried(before, after, unit_id=ids[G12], old_ancestor=ids[T1], new_ancestor=ids[T2])
    assert counter_mismatches(after, rebuilt(session)) == []


def test_moving_a_micro_grid_to_another_village_keeps_the_counters_right(session, history, small_tree):
    ids = history["ids"]
    before = counters.read_all(session)
    assert before[0][ids[M211]]["cases"] > 0

    tree_service.move_unit(session, unit=small_tree[M211], new_parent=small_tree[G11])
    # V2's only micro-grid with cases has left: nothing happened in V2 in any window.
    old_village = rollup(session, unit=tree_service.get_unit(session, unit_id=ids[V2]),
                         window=Window(date(2026, 3, 1), date(2026, 5, 31)))["totals"]
    assert old_village["cases"] == 0
    assert (old_village["new"], old_village["resolved"], old_village["closed"]) == (0, 0, 0)
    after = counters.read_all(session)
    assert_move_carried(before, after, unit_id=ids[M211], old_ancestor=ids[V2], new_ancestor=ids[V1])
    assert counter_mismatches(after, rebuilt(session)) == []


@pytest.fixture
def command(app, make_principal):
    _id, token = make_principal("district_command", D)
    return bearer_client(app, token)


def _rollup(command, unit_id: int, query: str = "") -> dict:
    response = command.get(f"{API}/units/{unit_id}/rollup{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_the_childrens_figures_add_up_to_their_parents(session, history, command):
    ids = history["ids"]
    # A few cases logged in the last days, so that every deadline colour can occur today.
    rng = random.Random(7)
    for hours in (1, 5, 18, 30, 50, 75):
        new_case(session, ids[rng.choice(MICRO_GRIDS)], now=utcnow() - timedelta(hours=hours),
                 risk_grade=rng.choice(list(RiskGrade)))
    session.commit()

    for query in WINDOWS:
        district = _rollup(command, ids[D], query)
        assert district["totals"]["cases"] == CASE_COUNT + 6
        for code in PARENTS:
            body = _rollup(command, ids[code], query)
            parent, children = body["totals"], [child["totals"] for child in body["children"]]
            assert children, code
            for name in SUMMED:
                assert parent[name] == sum(child[name] for child in children), (query, code, name)
            for name in SUMMED_MAPS:
                for key, value in parent[name].items():
                    assert value == sum(child[name][key] for child in children), (query, code, name, key)
            # The risk score is a sum too (each rounded to two places).
            assert parent["risk_score"] == pytest.approx(sum(c["risk_score"] for c in children),
                                                         abs=0.01 * len(children)), (query, code)


# --- transactions: what is counted is what committed -----------------------------------------------


def test_a_case_logged_before_a_move_in_the_same_transaction_counts_where_its_unit_went(session, small_tree):
    """The counters of a change are written at commit, on the lineage the unit has then."""
    new_case(session, small_tree[M111].id, now=START)
    tree_service.move_unit(session, unit=small_tree[G11], new_parent=small_tree[V2])
    session.commit()

    kept = counters.read_all(session)
    assert kept[0][small_tree[V2].id]["cases"] == 1 and small_tree[V1].id not in kept[0]
    assert counter_mismatches(kept, rebuilt(session)) == []


def test_a_case_logged_in_a_savepoint_that_rolls_back_is_not_counted(session, small_tree):
    new_case(session, small_tree[M111].id, now=START)
    savepoint = session.begin_nested()
    new_case(session, small_tree[M121].id, now=START)
    savepoint.rollback()
    with session.begin_nested():  # released: its case stays, and so do the counts before it
        new_case(session, small_tree[M211].id, now=START)
    session.commit()

    kept = counters.read_all(session)
    assert kept[0][small_tree[D].id]["cases"] == 2
    assert small_tree[G12].id not in kept[0]  # M121's case never happened
    assert counter_mismatches(kept, rebuilt(session)) == []
