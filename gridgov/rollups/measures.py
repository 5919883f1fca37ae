"""What a case counts for in the rollups, as data: every counter column and how a case adds to it.

A unit's counters are the sum, over the cases that *originated* in its subtree, of each case's
``contribution``: a pure function of the case as it is now. So a change of a case adds
``contribution(after) − contribution(before)`` to the counters of its origin and every ancestor
(``counters.track``), and the counters can always be rebuilt from the cases
(``counters.rebuild``), which a test compares with what the changes left.

Two kinds of counter:

* ``TOTAL_COLUMNS``, one row per unit: the state now (by status, category, grade, owner level;
  open; the risk sums) and all-time sums of the dated measures;
* ``DAY_COLUMNS``, one row per unit and Asia/Shanghai date: what happened that day (new,
  resolved, closed …), so that a window's figures are sums over days, not over cases.

Deadline colours are not counters: they change with the clock, not with the cases. The rollup
reads them from the cases whose deadline stands (the working set, which grows with the day's
work, not with the history), through a partial index (see ``service``).

Escalations are not state: ``act`` adds them as they happen (``escalation``), and the rebuild
reads them from the case events.
"""

from datetime import date, datetime

from gridgov.cases import calendar
from gridgov.cases.enums import OPEN_STATUSES, Category, HandlingLevel, RiskGrade, Status

# Working days to resolve, in buckets for the percentiles: (upper bound, column). The last is
# open-ended; a percentile is answered as its bucket's upper bound ("at most N working days").
RESOLVE_BUCKETS = [0.5, 1, 1.5, 2, 3, 4, 5, 7, 10, 15, 20, 30, None]
# A case open this many working days weighs twice its grade's weight in the risk score.
RISK_AGE_DAYS = 10
RESOLVE_COLUMNS = [f"resolve_wd_{index}" for index in range(len(RESOLVE_BUCKETS))]

LEVELS = list(HandlingLevel)

# Dated measures: summed over the days of a window, and kept as all-time sums in the totals.
DATED = [
    "new",  # created that day
    "resolved",  # resolved that day (化解)
    *[f"resolved_{level}" for level in LEVELS],  # … at that level
    "closed",  # closed that day (结案)
    "closed_on_time",  # … by the deadline then in force
    "closed_late",
    *[f"escalated_to_{level}" for level in LEVELS[1:]],  # escalations that day, by the level they went to
    "satisfaction_sum",  # follow-up satisfaction (1–5) of the cases closed that day
    "satisfaction_count",
    *RESOLVE_COLUMNS,  # working days from logging to resolution, of the cases resolved that day
]
DAY_COLUMNS = DATED
TOTAL_COLUMNS = [
    "cases",
    "open",
    *[f"status_{status}" for status in Status],
    *[f"category_{category}" for category in Category],
    *[f"risk_{grade}" for grade in RiskGrade],
    *[f"owner_{level}" for level in LEVELS],
    # Risk score = Σ over open cases of weight × (1 + working days open ÷ RISK_AGE_DAYS)
    #            = risk_weight + (W(now) × risk_weight − risk_weight_age) ÷ RISK_AGE_DAYS,
    # where W is calendar.working_day_index: both sums can be kept, the score is not.
    "risk_weight",
    "risk_weight_age",
    *DATED,
]


def local_day(moment: datetime) -> date:
    return moment.astimezone(calendar.TIMEZONE).date()


def resolve_column(working_days: float) -> str:
    for bound, column in zip(RESOLVE_BUCKETS, RESOLVE_COLUMNS):
        if bound is None or working_days <= bound:
            return column
    raise AssertionError("the last bucket is open-ended")


def contribution(case, *, weights: dict) -> tuple[dict[str, float], dict[date, dict[str, float]]]:
    """(totals, days): what ``case`` adds to its origin's and every ancestor's counters now.
    ``weights``: the policy's risk weight per grade."""
    totals = {
        "cases": 1,
        f"status_{case.status}": 1,
        f"category_{case.category}": 1,
        f"risk_{case.risk_grade}": 1,
        f"owner_{case.owner_level}": 1,
    }
    days: dict[date, dict[str, float]] = {}

    def on(day_of: datetime, column: str, value: float = 1) -> None:
        row = days.setdefault(local_day(day_of), {})
        row[column] = row.get(column, 0) + value
        if column in DATED:
            totals[column] = totals.get(column, 0) + value

    if case.status in OPEN_STATUSES:
        weight = float(weights[case.risk_grade])
        totals["open"] = 1
        totals["risk_weight"] = weight
        totals["risk_weight_age"] = weight * calendar.working_day_index(case.created_at)
    on(case.created_at, "new")
    if case.resolved_at is not None:
        on(case.resolved_at, "resolved")
        on(case.resolved_at, f"resolved_{case.resolved_level}")
        on(case.resolved_at, resolve_column(calendar.working_days_between(case.created_at, case.resolved_at)))
    if case.closed_at is not None:
        on(case.closed_at, "closed")
        on(case.closed_at, "closed_on_time" if case.closed_on_time else "closed_late")
        if case.satisfaction is not None:
            on(case.closed_at, "satisfaction_sum", case.satisfaction)
            on(case.closed_at, "satisfaction_count")
    return totals, days


def escalation(*, level: HandlingLevel, at: datetime) -> tuple[dict[str, float], dict[date, dict[str, float]]]:
    """What one escalation to ``level`` adds, on the day it happened."""
    column = f"escalated_to_{level}"
    return {column: 1}, {local_day(at): {column: 1}}
