"""Working-day arithmetic on the official calendar (pure: no database)."""

from datetime import date, datetime, time, timedelta

import pytest

from gridgov.cases import calendar
from gridgov.cases.calendar import TIMEZONE


def at(*args) -> datetime:
    return datetime(*args, tzinfo=TIMEZONE)


def test_one_working_day_from_friday_morning_is_monday_morning():
    assert calendar.add_working_days(at(2026, 11, 27, 10), 1) == (at(2026, 11, 30, 10), False)


def test_a_case_arriving_on_saturday_is_due_at_the_end_of_monday():
    assert calendar.add_working_days(at(2026, 11, 28, 15), 1) == (at(2026, 12, 1), False)


def test_national_day_holiday_is_skipped_and_the_adjusted_saturday_counts():
    # 2026: 1–7 October off; Saturday 10 October is a working day (调休).
    due, provisional = calendar.add_working_days(at(2026, 9, 30, 10), 4)
    # 30 Sep 14 h, 8 Oct 24 h, 9 Oct 24 h, 10 Oct (Saturday, worked) 24 h, 12 Oct 10 h.
    assert due == at(2026, 10, 12, 10)
    assert provisional is False
    # A plain Monday-to-Friday count would have ended on 6 October.
    assert due - at(2026, 9, 30, 10) == timedelta(days=12)


def test_working_time_between_skips_the_holiday_and_counts_the_adjusted_saturday():
    assert calendar.working_days_between(at(2026, 9, 30), at(2026, 10, 12)) == 4


def test_beyond_the_official_data_monday_to_friday_counts_and_the_answer_is_provisional():
    last = calendar.last_known_day()
    start = datetime.combine(last - timedelta(days=1), datetime.min.time(), tzinfo=TIMEZONE)
    due, provisional = calendar.add_working_days(start, 10)
    assert provisional is True
    assert calendar.is_working_day(last + timedelta(days=1))[1] is False


def test_within_the_data_the_answer_is_not_provisional():
    assert calendar.is_working_day(date(2026, 10, 10)) == (True, True)
    assert calendar.is_working_day(date(2026, 10, 1)) == (False, True)


@pytest.mark.parametrize("days", [0.5, 1, 2, 4, 10])
def test_adding_then_measuring_gives_back_the_same_working_time(days):
    start = at(2026, 9, 25, 9, 30)
    due, _ = calendar.add_working_days(start, days)
    assert calendar.working_days_between(start, due) == pytest.approx(days)


def test_negative_amounts_are_refused():
    with pytest.raises(ValueError):
        calendar.add_working_time(at(2026, 9, 25), timedelta(hours=-1))


def test_no_working_time_left_is_due_at_once_even_on_a_holiday():
    # An overdue case resumed on National Day has nothing left to count: it is due then, not on
    # 8 October.
    assert calendar.add_working_time(at(2026, 10, 1, 10), timedelta(0)) == (at(2026, 10, 1, 10), False)
    assert calendar.add_working_time(at(2026, 11, 28, 10), timedelta(0)) == (at(2026, 11, 28, 10), False)


def test_a_deadline_that_ends_with_a_working_day_ends_at_its_end_not_at_the_next_ones_start():
    """Five working days from a Saturday: Monday to Friday, due at Friday's midnight; half a day
    from Friday noon, due at Friday's midnight too (not Monday's start, which kept a case green
    over the weekend and let a closing on Saturday count as on time)."""
    assert calendar.add_working_days(at(2026, 11, 28, 10), 5) == (at(2026, 12, 5), False)
    assert calendar.add_working_days(at(2026, 11, 27, 12), 0.5) == (at(2026, 11, 28), False)


def test_past_the_holiday_data_saturdays_and_sundays_are_days_off():
    """Deadlines reach past the installed data within weeks of the year's end: there the week
    itself decides."""
    last = calendar.last_known_day()
    saturday = last + timedelta(days=(5 - last.weekday()) % 7 or 7)
    assert calendar.is_working_day(saturday) == (False, False)
    assert calendar.is_working_day(saturday + timedelta(days=1)) == (False, False)
    monday = saturday + timedelta(days=2)
    assert calendar.is_working_day(monday) == (True, False)
    # Monday 09:00 and five working days: the Monday after, 09:00 (provisional: past the data).
    due = calendar.add_working_days(datetime.combine(monday, time(9), TIMEZONE), 5)
    assert due == (datetime.combine(monday + timedelta(days=7), time(9), TIMEZONE), True)



def test_the_risk_index_counts_the_years_before_the_data_monday_to_friday():
    """Found by a review: counting 2000–2003 (before the holiday data, where only the risk
    index's epoch reaches) less the statutory holidays moved every index by 42 working days, and
    every stored risk score read 0 until a rebuild."""
    start, end = datetime(2000, 1, 1, tzinfo=TIMEZONE), datetime(2004, 1, 1, tzinfo=TIMEZONE)
    weekdays = sum((date(2000, 1, 1) + timedelta(days=n)).weekday() < 5 for n in range((end - start).days))
    assert calendar.working_day_index(end) - calendar.working_day_index(start) == weekdays == 1043
