"""Working-day arithmetic on the official Chinese calendar, with its adjusted working weekends
(调休). Pure functions of aware datetimes; days are Asia/Shanghai dates.

A deadline of N working days is N × 24 hours counted only on working days: a case that arrives on
Friday at 10:00 with one working day is due on Monday at 10:00, and one arriving on a Saturday is
due at the end of Monday. The holiday data (the ``chinese_calendar`` package) reaches only as far
as the State Council has announced; beyond it Monday to Friday are counted, less the days off the
law itself fixes (``STATUTORY_HOLIDAYS``), and the answer is marked provisional, to be recomputed
once the data is there.
"""

import functools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
from lunar_python import Lunar

TIMEZONE = ZoneInfo("Asia/Shanghai")
DAY = timedelta(days=1)
FIRST_DATA_YEAR = min(day.year for day in chinese_calendar.holidays)

# 《全国年节及纪念日放假办法》 (as in force from 2025): the days off the law fixes, every year, as
# (calendar, month, day); "solar" dates are Gregorian, "lunar" ones of the Chinese calendar. One
# that falls on a Saturday or Sunday is made up on the next working day (第六条, 补假). The State
# Council's notice for each year adds bridging days and the weekends worked instead (调休), which
# no rule foretells: past the data, those are what a provisional deadline may still miss.
STATUTORY_HOLIDAYS = (
    ("solar", 1, 1),  # 元旦
    ("lunar", 12, "eve"), ("lunar", 1, 1), ("lunar", 1, 2), ("lunar", 1, 3),  # 春节: 除夕 to 初三
    ("solar_term", "清明", None),  # 清明节
    ("solar", 5, 1), ("solar", 5, 2),  # 劳动节
    ("lunar", 5, 5),  # 端午节
    ("lunar", 8, 15),  # 中秋节
    ("solar", 10, 1), ("solar", 10, 2), ("solar", 10, 3),  # 国庆节
)


@functools.lru_cache(maxsize=64)
def statutory_holidays(year: int) -> frozenset[date]:
    """The days ``STATUTORY_HOLIDAYS`` gives in ``year`` (none past 2100, where the lunar
    calendar's tables end)."""
    if year > 2100:
        return frozenset()
    days = set()
    for kind, month, day in STATUTORY_HOLIDAYS:
        if kind == "solar":
            days.add(date(year, month, day))
        elif kind == "solar_term":
            days.update(when for when, name in chinese_calendar.get_solar_terms(date(year, 3, 1), date(year, 5, 1))
                        if name == month)
        elif day == "eve":  # the last day of the lunar year: the day before the new year's first
            days.add(_solar(Lunar.fromYmd(year, 1, 1)) - DAY)
        else:  # the lunar year that begins in this Gregorian year holds all of these within it
            days.add(_solar(Lunar.fromYmd(year, month, day)))
    for holiday in sorted(days):
        if holiday.weekday() >= 5:  # 补假: the first weekday after it that is not a holiday itself
            instead = holiday + DAY
            while instead.weekday() >= 5 or instead in days:
                instead += DAY
            days.add(instead)
    return frozenset(days)


def _solar(lunar: Lunar) -> date:
    solar = lunar.getSolar()
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


@functools.lru_cache(maxsize=8192)
def is_working_day(day: date) -> tuple[bool, bool]:
    """(is it a working day, is that known from the official calendar). Cached: the data is
    the installed package's, fixed for the process, and the rollups ask about the same days
    for every case."""
    try:
        return chinese_calendar.is_workday(day), True
    except NotImplementedError:
        if day.year < FIRST_DATA_YEAR:
            # Before the data (2000–2003, which only the risk index's epoch reaches): Monday to
            # Friday, as the rollups' stored sums of indices were counted.
            return day.weekday() < 5, False
        return estimated_working_day(day), False


def estimated_working_day(day: date) -> bool:
    """Past the holiday data: Monday to Friday, except the days off the law fixes."""
    return day.weekday() < 5 and day not in statutory_holidays(day.year)


def _start_of_next_day(moment: datetime) -> datetime:
    return datetime.combine(moment.date() + DAY, time(), tzinfo=TIMEZONE)


def add_working_time(start: datetime, amount: timedelta) -> tuple[datetime, bool]:
    """The moment ``amount`` of working time after ``start``, and whether it is provisional."""
    if amount < timedelta(0):
        raise ValueError("amount must not be negative")
    cursor = start.astimezone(TIMEZONE)
    if not amount:
        # Nothing left to count: due now, not at the start of the next working day (an overdue
        # case resumed on a holiday stays overdue).
        return cursor, False
    remaining = amount
    provisional = False
    while True:
        working, known = is_working_day(cursor.date())
        provisional |= not known
        day_end = _start_of_next_day(cursor)
        if working:
            if remaining <= day_end - cursor:
                return cursor + remaining, provisional
            remaining -= day_end - cursor
        cursor = day_end


def add_working_days(start: datetime, days: float) -> tuple[datetime, bool]:
    return add_working_time(start, timedelta(days=days))


def working_time_between(start: datetime, end: datetime) -> timedelta:
    """Working time from ``start`` to ``end`` (zero when ``end`` is not later)."""
    cursor = start.astimezone(TIMEZONE)
    end = end.astimezone(TIMEZONE)
    total = timedelta(0)
    while cursor < end:
        day_end = min(_start_of_next_day(cursor), end)
        if is_working_day(cursor.date())[0]:
            total += day_end - cursor
        cursor = day_end
    return total


def working_days_between(start: datetime, end: datetime) -> float:
    return working_time_between(start, end) / DAY


def today() -> date:
    """Today's date in Asia/Shanghai (assignments start and end on local dates)."""
    return datetime.now(TIMEZONE).date()


def last_known_day() -> date:
    """The last date the installed holiday data covers."""
    return date(max(day.year for day in chinese_calendar.holidays), 12, 31)


def end_of_working_day(moment: datetime) -> tuple[datetime, bool]:
    """The end of ``moment``'s day if it is a working day, else of the next working day (the
    triage desk's "same working day"), and whether that is provisional."""
    cursor = moment.astimezone(TIMEZONE)
    provisional = False
    while True:
        working, known = is_working_day(cursor.date())
        provisional |= not known
        if working:
            return _start_of_next_day(cursor), provisional
        cursor = _start_of_next_day(cursor)


INDEX_EPOCH = date(2000, 1, 1)


@functools.lru_cache(maxsize=64)
def _working_days_in_year(year: int) -> int:
    day, count = date(year, 1, 1), 0
    while day.year == year:
        count += is_working_day(day)[0]
        day += DAY
    return count


@functools.lru_cache(maxsize=4096)
def _working_days_before(day: date) -> int:
    count = sum(_working_days_in_year(year) for year in range(INDEX_EPOCH.year, day.year))
    cursor = date(day.year, 1, 1)
    while cursor < day:
        count += is_working_day(cursor)[0]
        cursor += DAY
    return count


def working_day_index(moment: datetime) -> float:
    """Working days from 2000-01-01 to ``moment``: ``working_days_between(a, b)`` is
    ``working_day_index(b) - working_day_index(a)``, so sums of ages can be kept as sums of
    indices (the rollups' risk score)."""
    local = moment.astimezone(TIMEZONE)
    index = _working_days_before(local.date())
    if is_working_day(local.date())[0]:
        index += (local - datetime.combine(local.date(), time(), tzinfo=TIMEZONE)) / DAY
    return index
