"""The sweep: overdue grid and village cases go up a level, town and district ones are marked red."""

from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

from gridgov.cases import calendar, service
from gridgov.cases.enums import HandlingLevel, Status
from gridgov.cases.models import CaseEvent, IdempotencyRecord
from gridgov.cases.policy import DEFAULT
from gridgov.cases.sweep import sweep
from gridgov.db import utcnow
from tests.cases.support import D, G11, M111, M112, M121, T1, V1, at, case_in, fresh, set_clock

START = at(2026, 3, 2, 9)  # Monday
# Friday 20 March: the grid (1 day), village (2), town (labour: 5) and district (10) deadlines have all passed.
LATER = at(2026, 3, 20, 12)


def events_of(session, case_id) -> list[CaseEvent]:
    return list(session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)))


def count_events(session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(CaseEvent))


@pytest.fixture
def overdue(session, ids):
    """Cases at every level, most of them overdue at LATER, some that the sweep must leave alone."""
    made = {
        "grid": case_in(session, "reported", ids[M111], now=START),
        "village": case_in(session, "accepted", ids[V1], now=START),
        "village_busy": case_in(session, "in_progress", ids[M121], now=START, category="traffic_injury"),
        "town": case_in(session, "accepted", ids[M111], now=START, category="labour"),
        "district": case_in(session, "reported", ids[M112], now=START, people_involved=150),
        "reopened": case_in(session, "reopened", ids[M111], now=START),  # overdue, but cannot go up
        "fresh": case_in(session, "reported", ids[M111], now=LATER - timedelta(hours=2)),
        "suspended": case_in(session, "suspended", ids[M111], now=START),
        "resolved": case_in(session, "resolved", ids[M112], now=START),  # not verified by its deadline: marked
        "rejected": case_in(session, "rejected", ids[M112], now=START),
    }
    assert made["town"].owner_level is HandlingLevel.TOWN
    assert made["district"].owner_level is HandlingLevel.DISTRICT
    assert made["village_busy"].owner_level is HandlingLevel.VILLAGE
    return {name: case.id for name, case in made.items()}


def test_overdue_grid_and_village_cases_are_escalated_and_the_others_marked(session, ids, overdue):
    before = {name: fresh(session, case_id).version for name, case_id in overdue.items()}

    assert sweep(session, now=LATER) == {"recounted": 0, "escalated": 3, "marked": 4, "keys_forgotten": 0}

    grid = fresh(session, overdue["grid"])
    assert (grid.owner_unit_id, grid.owner_level, grid.status) == (ids[V1], HandlingLevel.VILLAGE, Status.REPORTED)
    assert grid.arrived_at == LATER
    assert grid.deadline_at == calendar.add_working_days(LATER, 2)[0]
    assert grid.overdue_marked_at is None
    last = events_of(session, grid.id)[-1]
    assert (last.action, last.actor, last.actor_id) == ("escalate", service.SYSTEM_ACTOR, None)
    assert last.reason.startswith("deadline_exceeded")
    assert (last.from_owner_unit_id, last.to_owner_unit_id) == (ids[G11], ids[V1])

    for name in ("village", "village_busy"):
        case = fresh(session, overdue[name])
        assert (case.owner_unit_id, case.owner_level, case.status) == (ids[T1], HandlingLevel.TOWN, Status.REPORTED)
        assert case.highest_level is HandlingLevel.TOWN

    for name, status, owner in [("town", Status.ACCEPTED, T1), ("district", Status.REPORTED, D),
                                ("reopened", Status.REOPENED, G11), ("resolved", Status.RESOLVED, G11)]:
        case = fresh(session, overdue[name])
        assert (case.status, case.owner_unit_id) == (status, ids[owner]), name
        assert case.overdue_marked_at == LATER
        assert case.version == before[name] + 1
        last = events_of(session, case.id)[-1]
        assert (last.action, last.from_status, last.to_status) == ("mark_overdue", status, status)
        assert last.actor == service.SYSTEM_ACTOR

    for name in ("fresh", "suspended", "rejected"):
        case = fresh(session, overdue[name])
        assert case.version == before[name], name
        assert case.overdue_marked_at is None
        assert events_of(session, case.id)[-1].action != "mark_overdue"


def test_a_second_sweep_changes_nothing(session, overdue):
    sweep(session, now=LATER)
    events = count_events(session)
    versions = {case_id: fresh(session, case_id).version for case_id in overdue.values()}

    assert sweep(session, now=LATER) == {"recounted": 0, "escalated": 0, "marked": 0, "keys_forgotten": 0}
    assert sweep(session, now=LATER + timedelta(minutes=10)) == \
        {"recounted": 0, "escalated": 0, "marked": 0, "keys_forgotten": 0}
    assert count_events(session) == events
    assert {case_id: fresh(session, case_id).version for case_id in overdue.values()} == versions


def test_an_escalated_case_goes_up_again_when_its_new_deadline_passes(session, ids, overdue):
    sweep(session, now=LATER)
    # Two working days later the village's deadline has passed too (and the grid's of the case that
    # was fresh at LATER); the marked ones stay as they are.
    again = LATER + timedelta(days=4)  # Tuesday
    assert sweep(session, now=again) == {"recounted": 0, "escalated": 2, "marked": 0, "keys_forgotten": 0}
    grid = fresh(session, overdue["grid"])
    assert (grid.owner_unit_id, grid.highest_level) == (ids[T1], HandlingLevel.TOWN)
    assert [event.action for event in events_of(session, grid.id)] == ["create", "escalate", "escalate"]
    # the three cases escalated to the town are overdue there later: marked, not escalated
    assert sweep(session, now=again + timedelta(days=14)) == \
        {"recounted": 0, "escalated": 1, "marked": 3, "keys_forgotten": 0}
    assert fresh(session, overdue["fresh"]).owner_unit_id == ids[T1]


def test_a_reopened_case_marked_red_goes_up_once_it_is_accepted_still_overdue(session, ids, overdue):
    """Reopened, it could not be escalated and was marked red; accepted again, it can. Before,
    the mark kept it out of every later sweep: accepted, red and at the grid for good."""
    sweep(session, now=LATER)
    reopened = fresh(session, overdue["reopened"])
    assert reopened.overdue_marked_at == LATER
    service.act(session, case=reopened, action="accept", actor=None, version=reopened.version, params={}, now=LATER)
    session.commit()

    assert sweep(session, now=LATER + timedelta(minutes=10)) == \
        {"recounted": 0, "escalated": 1, "marked": 0, "keys_forgotten": 0}
    case = fresh(session, overdue["reopened"])
    assert (case.owner_unit_id, case.status, case.overdue_marked_at) == (ids[V1], Status.REPORTED, None)


def test_the_sweep_escalates_only_from_the_levels_policy_names(app, session, overdue, monkeypatch):
    grid_only = replace(DEFAULT, sweep_escalates_from=frozenset({HandlingLevel.GRID}))
    monkeypatch.setitem(app.extensions, "gridgov.case_policy", grid_only)
    assert sweep(session, now=LATER) == {"recounted": 0, "escalated": 1, "marked": 6, "keys_forgotten": 0}
    assert fresh(session, overdue["village"]).overdue_marked_at == LATER


def test_small_batches_handle_every_case_once(session, overdue):
    assert sweep(session, now=LATER, batch_size=1) == {"recounted": 0, "escalated": 3, "marked": 4, "keys_forgotten": 0}


def test_the_cli_sweeps_and_prints_the_counts(app, session, ids, make_principal):
    now = utcnow()
    grid = case_in(session, "reported", ids[M111])
    town = case_in(session, "reported", ids[M111], category="labour")
    waiting = case_in(session, "reported", ids[M112])  # not overdue
    for case in (grid, town):
        set_clock(session, case.id, deadline_at=now - timedelta(minutes=1), yellow_at=now - timedelta(hours=1))

    runner = app.test_cli_runner()
    result = runner.invoke(args=["cases", "sweep"])
    assert result.exit_code == 0, result.output
    assert "1 escalated, 1 marked red, 0 provisional deadlines recounted" in result.output
    assert fresh(session, grid.id).owner_unit_id == ids[V1]
    assert fresh(session, town.id).overdue_marked_at is not None
    assert fresh(session, waiting.id).version == 1

    result = runner.invoke(args=["cases", "sweep", "--batch-size", "10"])
    assert result.exit_code == 0, result.output
    assert "0 escalated, 0 marked red, 0 provisional deadlines recounted" in result.output
    # From cron: nothing to say when nothing was done (cron mails any output); forgetting old
    # idempotency keys is housekeeping, done on most runs, not news.
    key = IdempotencyRecord(principal_id=make_principal("grid_worker", G11)[0], key="phone-0001", request_hash="0" * 64,
                            case_id=grid.id, created_at=now - timedelta(days=8))
    session.add(key)
    session.commit()
    result = runner.invoke(args=["cases", "sweep", "--quiet"])
    assert (result.exit_code, result.stdout) == (0, "")
    assert session.scalar(sa.select(sa.func.count()).select_from(IdempotencyRecord)) == 0


def test_the_cli_refuses_a_batch_size_of_zero(app, session):
    result = app.test_cli_runner().invoke(args=["cases", "sweep", "--batch-size", "0"])
    assert result.exit_code != 0
    assert "batch-size" in result.output


def test_a_long_sweep_stamps_each_batch_when_it_is_handled(session, ids, monkeypatch):
    """Found by an audit: every case a sweep escalated was stamped with the moment the sweep began
    and committed batches later, so an app syncing by `updated_from` meanwhile read past them, and
    kept them at the grid for good."""
    now = utcnow()
    cases = [case_in(session, "reported", ids[M111]) for _ in range(2)]
    for case in cases:
        set_clock(session, case.id, deadline_at=now - timedelta(minutes=1), yellow_at=now - timedelta(hours=1))
    commits, commit = [], session.commit
    monkeypatch.setattr(session, "commit", lambda: (commit(), commits.append(utcnow())))

    assert sweep(session, batch_size=1)["escalated"] == 2
    first, second = (fresh(session, case.id) for case in cases)
    # The second batch is stamped after the first was committed (and seen).
    assert first.updated_at < commits[0] <= second.updated_at
    assert [event.at for event in service.events(session, case=second)][-1] == second.updated_at
