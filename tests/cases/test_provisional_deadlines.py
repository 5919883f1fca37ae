"""Beyond the holiday data a deadline is counted Monday to Friday, less the days off the law
fixes, and marked provisional; the sweep counts it again once the data is there."""

from datetime import date, datetime

import pytest

from gridgov.cases import calendar, service, sweep
from gridgov.cases.calendar import TIMEZONE
from tests.cases.support import holiday_data_ends

ARRIVAL = datetime(2026, 9, 30, 10, tzinfo=TIMEZONE)  # the eve of the National Day holiday


@pytest.fixture
def data_ends_on_30_september(monkeypatch):
    """As if the installed calendar knew nothing of October 2026 yet."""
    holiday_data_ends(monkeypatch, date(2026, 9, 30))
    return monkeypatch


@pytest.mark.parametrize("year", range(2025, calendar.last_known_day().year + 1))
def test_the_days_off_the_law_fixes_are_holidays_in_every_year_the_data_holds(year):
    """The estimate past the data is checked against the years the data holds (the law as in
    force from 2025: 元旦, 除夕 to 初三, 清明, 1–2 May, 端午, 中秋, 1–3 October, and a weekday
    off for each of them that falls on a weekend)."""
    days = calendar.statutory_holidays(year)
    assert all(not calendar.is_working_day(day)[0] for day in days), sorted(days)


def test_past_the_data_new_years_day_and_the_spring_festival_are_days_off(monkeypatch):
    """Found by a year-turn audit: past the data (chinese-calendar 1.11 ends with 2026), Friday
    1 January 2027 counted as a working day, and a grid's case logged on New Year's Eve was
    escalated by the sweep on Saturday 2 January."""
    holiday_data_ends(monkeypatch, date(2026, 12, 31))
    assert calendar.is_working_day(date(2027, 1, 1)) == (False, False)
    assert [calendar.is_working_day(date(2027, 2, day))[0] for day in range(4, 12)] == [
        True, False, False, False, False, False, False, True]  # 除夕 5th to 初三 8th; 补假 for the weekend's two
    # 1–2 May 2027 are a Saturday and a Sunday: made up on Monday and Tuesday (before: due 3 May).
    due, _provisional = calendar.add_working_days(datetime(2027, 4, 30, 10, tzinfo=TIMEZONE), 1)
    assert due == datetime(2027, 5, 5, 10, tzinfo=TIMEZONE)
    due, provisional = calendar.add_working_days(datetime(2026, 12, 31, 23, 58, tzinfo=TIMEZONE), 1)
    assert (due, provisional) == (datetime(2027, 1, 4, 23, 58, tzinfo=TIMEZONE), True)


def labour_case(session, small_tree):
    """A labour dispute: owned by the town, 5 working days (policy's labour override)."""
    case, _ = service.create_case(
        session, actor=None, title="欠薪纠纷", category="labour", risk_grade="yellow", source="hotline",
        origin_unit_id=small_tree["510503001001001001"].id, now=ARRIVAL,
    )
    session.commit()
    return case


def test_a_deadline_past_the_data_is_provisional_and_recounted_when_the_data_arrives(
    session, small_tree, data_ends_on_30_september
):
    case = labour_case(session, small_tree)
    # Monday to Friday less the law's 1–3 Oct and Monday 5 Oct (补假 for Saturday the 3rd):
    # 30 Sep (14 h), 6, 7, 8, 9, 12 Oct → due 12 Oct at 10:00.
    assert case.deadline_provisional is True
    assert case.deadline_at == datetime(2026, 10, 12, 10, tzinfo=TIMEZONE)

    data_ends_on_30_september.undo()  # the package was updated
    counts = sweep.sweep(session, now=datetime(2026, 10, 2, tzinfo=TIMEZONE))

    assert counts["recounted"] == 1
    session.refresh(case)
    # The official calendar: 1–7 Oct off, Saturday 10 Oct worked → 8, 9, 10, 12, 13 Oct.
    assert case.deadline_provisional is False
    assert case.deadline_at == datetime(2026, 10, 13, 10, tzinfo=TIMEZONE)
    last = service.events(session, case=case)[-1]
    assert last.action == "recount_deadline" and last.actor == service.SYSTEM_ACTOR
    assert service.replay(service.events(session, case=case)) == service.snapshot(case)


def test_without_newer_data_the_sweep_leaves_a_provisional_deadline_alone(
    session, small_tree, data_ends_on_30_september
):
    case = labour_case(session, small_tree)
    events_before = len(service.events(session, case=case))

    counts = sweep.sweep(session, now=datetime(2026, 10, 2, tzinfo=TIMEZONE))

    assert counts["recounted"] == 0
    assert len(service.events(session, case=case)) == events_before
    assert case.deadline_provisional is True


def test_a_policy_changed_since_is_not_brought_in_by_a_recount_that_finds_nothing_new(
    app, session, small_tree, data_ends_on_30_september, monkeypatch
):
    """Found by a policy audit: after a restart with another yellow share, every run of the sweep
    moved the yellow point of the provisional cases alone, each with a "recounted" event and a new
    version (a client holding the old one got 409)."""
    from dataclasses import replace

    from gridgov.cases import policy

    case = labour_case(session, small_tree)
    before = case.yellow_at, case.version
    monkeypatch.setitem(app.extensions, "gridgov.case_policy", replace(policy.DEFAULT, yellow_after=0.5))

    assert sweep.sweep(session, now=datetime(2026, 10, 2, tzinfo=TIMEZONE))["recounted"] == 0
    session.refresh(case)
    assert (case.yellow_at, case.version) == before


def test_a_suspension_keeps_the_remaining_time_for_the_recount(session, small_tree, data_ends_on_30_september):
    case = labour_case(session, small_tree)
    service.act(session, case=case, action="suspend", actor=None, version=None,
                params={"reason": "当事人外出"}, now=datetime(2026, 9, 30, 12, tzinfo=TIMEZONE))
    service.act(session, case=case, action="resume", actor=None, version=None, params={},
                now=datetime(2026, 9, 30, 14, tzinfo=TIMEZONE))
    session.commit()
    assert case.deadline_provisional is True

    data_ends_on_30_september.undo()
    sweep.sweep(session, now=datetime(2026, 10, 2, tzinfo=TIMEZONE))

    session.refresh(case)
    # Two hours stood still: due two hours later than without the suspension.
    assert case.deadline_at == datetime(2026, 10, 13, 12, tzinfo=TIMEZONE)
    assert case.deadline_provisional is False


def test_time_left_at_a_suspension_on_a_provisional_deadline_is_counted_again_on_resuming(
    session, small_tree, data_ends_on_30_september
):
    """Found by a year-turn audit: the time left was kept as counted at the suspension, on the
    guess, and never counted again (the sweep recounts only deadlines that stand)."""
    case = labour_case(session, small_tree)
    service.act(session, case=case, action="suspend", actor=None, version=None,
                params={"reason": "当事人外出"}, now=datetime(2026, 10, 6, 8, tzinfo=TIMEZONE))
    session.commit()
    # On the guess, Tuesday 6 October was a working day: 14 h + 8 h used, 98 h left.
    assert case.deadline_remaining_seconds == 98 * 3600

    data_ends_on_30_september.undo()  # the package was updated while the case was suspended
    service.act(session, case=case, action="resume", actor=None, version=None, params={},
                now=datetime(2026, 10, 8, 9, tzinfo=TIMEZONE))
    session.commit()
    # Officially 1–7 October were off: 14 h used, 106 h left from Thursday 8 October at 09:00 —
    # 8 (15 h), 9, Saturday 10 (worked), 12 October, and 19 h of the 13th.
    assert case.deadline_at == datetime(2026, 10, 13, 19, tzinfo=TIMEZONE)
    assert case.deadline_provisional is False
    assert service.replay(service.events(session, case=case)) == service.snapshot(case)


def test_a_case_closed_late_on_a_provisional_deadline_is_judged_again_when_the_data_arrives(
    session, small_tree, data_ends_on_30_september
):
    """Found by a year-turn audit: closed after the guessed deadline but before the official one,
    a case stayed "closed late" for good, in the rollups too (按期结案率)."""
    from gridgov.rollups import counters

    case = labour_case(session, small_tree)
    for action, params, day, hour in [("accept", {}, 6, 9), ("resolve", {"note": "已和解"}, 8, 9), ("close", {}, 12, 20)]:
        service.act(session, case=case, action=action, actor=None, version=None, params=params,
                    now=datetime(2026, 10, day, hour, tzinfo=TIMEZONE))
    session.commit()
    assert (case.closed_on_time, case.deadline_provisional) == (False, True)  # the guess: due 12 October, 10:00

    assert sweep.sweep(session, now=datetime(2026, 10, 12, 21, tzinfo=TIMEZONE))["recounted"] == 0  # no newer data
    data_ends_on_30_september.undo()
    assert sweep.sweep(session, now=datetime(2026, 10, 12, 21, tzinfo=TIMEZONE))["recounted"] == 1
    session.refresh(case)
    assert (case.closed_on_time, case.deadline_provisional) == (True, False)  # officially due 13 October
    last = service.events(session, case=case)[-1]
    assert last.action == "recount_deadline"
    assert last.reason == "closed on time, counted on the official holiday calendar"
    assert service.replay(service.events(session, case=case)) == service.snapshot(case)
    # The rollups count it on time, at every unit above where it happened.
    totals, _days = counters.read_all(session)
    assert totals and all((row.get("closed_on_time"), row.get("closed_late")) == (1, None) for row in totals.values())
    assert sweep.sweep(session, now=datetime(2026, 10, 12, 22, tzinfo=TIMEZONE))["recounted"] == 0


def test_a_case_marked_red_on_a_provisional_deadline_is_marked_again_when_the_recounted_one_passes(
    session, small_tree, data_ends_on_30_september
):
    case = labour_case(session, small_tree)  # the town's: marked red by the sweep, not escalated
    first = datetime(2026, 10, 12, 11, tzinfo=TIMEZONE)  # past the provisional 12 Oct, 10:00
    assert sweep.sweep(session, now=first)["marked"] == 1

    data_ends_on_30_september.undo()
    assert sweep.sweep(session, now=datetime(2026, 10, 12, 12, tzinfo=TIMEZONE))["recounted"] == 1
    session.refresh(case)
    assert case.deadline_at == datetime(2026, 10, 13, 10, tzinfo=TIMEZONE)
    assert case.overdue_marked_at is None  # the mark was for a deadline no longer in force

    late = datetime(2026, 10, 13, 11, tzinfo=TIMEZONE)
    assert sweep.sweep(session, now=late)["marked"] == 1
    session.refresh(case)
    assert case.overdue_marked_at == late
    marks = [event.at for event in service.events(session, case=case) if event.action == "mark_overdue"]
    assert marks == [first, late]
    assert service.replay(service.events(session, case=case)) == service.snapshot(case)
