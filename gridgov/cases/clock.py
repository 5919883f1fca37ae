"""The deadline clock of a case: started when a unit receives it, stopped while it is out of
the unit's hands (suspended, referred), and read as a colour (green, yellow, red)."""

from datetime import datetime, timedelta, timezone

from gridgov.cases import calendar
from gridgov.cases.enums import DEADLINE_STANDS, DeadlineColour
from gridgov.cases.policy import Policy


def start(case, *, now: datetime, policy: Policy) -> None:
    """The owner's full deadline, counted from ``now``."""
    budget = timedelta(days=policy.deadline(level=case.owner_level, category=case.category))
    case.deadline_budget_seconds = int(budget.total_seconds())
    _run(case, now=now, remaining=budget, policy=policy)


def stop(case, *, now: datetime) -> None:
    """Keep the working time left (none when already overdue) and stop counting."""
    if case.deadline_at is None:
        return
    left = calendar.working_time_between(now, case.deadline_at)
    case.deadline_remaining_seconds = int(left.total_seconds())
    case.clock_stopped_at = now
    case.deadline_at = None
    case.yellow_at = None
    case.deadline_provisional = False  # no deadline, nothing provisional about it


def restart(case, *, now: datetime, policy: Policy) -> None:
    """Go on counting what was left when the clock stopped: counted again, from the clock's last
    start to its stop, on the holiday data installed now (a provisional deadline stopped before
    newer data came in had its time left counted on a guess)."""
    if case.deadline_remaining_seconds is None:
        start(case, now=now, policy=policy)
        return
    remaining = timedelta(seconds=case.deadline_remaining_seconds)
    if None not in (case.clock_stopped_at, case.clock_started_at, case.clock_left_seconds):
        used = calendar.working_time_between(case.clock_started_at, case.clock_stopped_at)
        remaining = max(timedelta(seconds=case.clock_left_seconds) - used, timedelta(0))
    _run(case, now=now, remaining=remaining, policy=policy)


def restart_from(case, *, stopped_at: datetime, now: datetime, policy: Policy) -> None:
    """Go on counting from ``now`` with the working time the case had left at ``stopped_at``, as
    if its clock had stopped then (``stop``, ``restart``): a wait that was not the owner's."""
    stop(case, now=stopped_at)
    restart(case, now=now, policy=policy)


def _run(case, *, now: datetime, remaining: timedelta, policy: Policy) -> None:
    case.clock_started_at = now
    case.clock_left_seconds = int(remaining.total_seconds())
    _count(case, policy=policy)
    case.deadline_remaining_seconds = case.clock_stopped_at = None
    case.overdue_marked_at = None


def _count(case, *, policy: Policy) -> None:
    """Deadline and yellow point from the clock's last start and the time it had then."""
    start, remaining = case.clock_started_at, timedelta(seconds=case.clock_left_seconds)
    budget = timedelta(seconds=case.deadline_budget_seconds)
    deadline, provisional = calendar.add_working_time(start, remaining)
    to_yellow = budget * policy.yellow_after - (budget - remaining)
    yellow = start if to_yellow <= timedelta(0) else calendar.add_working_time(start, to_yellow)[0]
    # In UTC, as every moment is kept: the calendar counts in Shanghai, and a moment answered now
    # in +08:00 and after a reload in UTC would look like a change to a client comparing them.
    case.deadline_at, case.yellow_at = deadline.astimezone(timezone.utc), yellow.astimezone(timezone.utc)
    case.deadline_provisional = provisional


def recount(case, *, policy: Policy) -> bool:
    """Count a provisional deadline again (the holiday data may reach further now). True when
    the deadline or its provisional mark changed."""
    if not case.deadline_provisional or case.deadline_at is None or case.clock_started_at is None:
        return False
    before = case.deadline_at, case.yellow_at, case.deadline_provisional
    _count(case, policy=policy)
    if (case.deadline_at, case.deadline_provisional) == (before[0], before[2]):
        # The calendar says nothing new. A yellow share changed in the policy since is not for a
        # recount to bring in, to these cases alone, under the calendar's name.
        case.yellow_at = before[1]
        return False
    if case.overdue_marked_at is not None and case.overdue_marked_at < case.deadline_at:
        case.overdue_marked_at = None  # marked red before the deadline now in force: mark it when it passes
    return (case.deadline_at, case.yellow_at, case.deadline_provisional) != before


def closing_verdict(case) -> tuple[bool, bool]:
    """Whether a case closed against a provisional deadline was closed on time, judged again on
    the calendar as installed now, and whether that is still provisional."""
    if not case.deadline_provisional or case.closed_at is None or case.clock_started_at is None:
        return case.closed_on_time, case.deadline_provisional
    deadline, provisional = calendar.add_working_time(case.clock_started_at, timedelta(seconds=case.clock_left_seconds))
    return case.closed_at <= deadline, provisional


def colour(case, *, now: datetime) -> DeadlineColour | None:
    """None unless the deadline stands (``DEADLINE_STANDS``): a closed, suspended, referred or
    rejected case has no colour."""
    if case.status not in DEADLINE_STANDS or case.deadline_at is None:
        return None
    if now >= case.deadline_at:
        return DeadlineColour.RED
    if now >= case.yellow_at:
        return DeadlineColour.YELLOW
    return DeadlineColour.GREEN
