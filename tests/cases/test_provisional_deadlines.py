"""Beyond the holiday data a deadline is counted Monday to Friday and marked provisional; the
sweep counts it again once the data is there."""

from datetime import date, datetime

import pytest

from gridgov.cases import calendar, service, sweep
from gridgov.cases.calendar import TIMEZONE

ARRIVAL = datetime(2026, 9, 30, 10, tzinfo=TIMEZONE)  # the eve of the National Day holiday


@pytest.fixture
def data_ends_on_30_september(monkeypatch):
    """As if the installed calendar knew nothing of October 2026 yet."""
    real = calendar.is_working_day

    def older_data(day: date):
        if day > date(2026, 9, 30):
            return day.weekday() < 5, False
        return real(day)

    monkeypatch.setattr(calendar, "is_working_day", older_data)
    return monkeypatch


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
    # Monday to Friday: 30 Sep (14 h), 1, 2, 5, 6, 7 Oct → due 7 Oct at 10:00.
    assert case.deadline_provisional is True
    assert case.deadline_at == datetime(2026, 10, 7, 10, tzinfo=TIMEZONE)

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


def test_a_case_marked_red_on_a_provisional_deadline_is_marked_again_when_the_recounted_one_passes(
    session, small_tree, data_ends_on_30_september
):
    case = labour_case(session, small_tree)  # the town's: marked red by the sweep, not escalated
    first = datetime(2026, 10, 7, 11, tzinfo=TIMEZONE)  # past the provisional 7 Oct, 10:00
    assert sweep.sweep(session, now=first)["marked"] == 1

    data_ends_on_30_september.undo()
    assert sweep.sweep(session, now=datetime(2026, 10, 7, 12, tzinfo=TIMEZONE))["recounted"] == 1
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
