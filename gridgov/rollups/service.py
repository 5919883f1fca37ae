"""Rollups: a unit's figures and its children's, read from the counters.

What each figure means is ``DEFINITIONS`` (printed in the API docs). Cases count where they
originated, so the children's figures add up to their parent's. A rollup reads one totals row
per unit in its answer, the day rows of its window, and the few running cases whose deadline or
yellow mark falls today (a day row cannot say which of today's are already past); never the
history. A micro-grid keeps no day rows (see ``counters``): its windowed figures are counted
from its own cases, through the same ``measures.contribution``.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gridgov.auth.scope import UNSCOPED
from gridgov.cases import calendar
from gridgov.cases.enums import CLOCK_RUNNING, Category, HandlingLevel, RiskGrade, Status
from gridgov.cases.models import Case, CaseEvent
from gridgov.db import utcnow
from gridgov.errors import RuleViolation
from gridgov.rollups import measures
from gridgov.rollups.counters import DAY_LEVELS
from gridgov.rollups.models import unit_days, unit_totals
from gridgov.tree import service as tree_service
from gridgov.tree.levels import Level
from gridgov.tree.models import Unit, in_subtree

DEFINITIONS = {
    "cases": "cases that originated in the unit's subtree, now (whatever the window)",
    "open": "of those, not resolved, closed or rejected, now",
    "by_status, by_category, by_risk_grade, by_owner_level": "the cases, now, by each",
    "new, resolved, closed": "cases logged, resolved (化解) and closed (结案) in the window",
    "due_to_close": "cases closed in the window plus open cases whose deadline fell in the window and has passed",
    "closed_on_time": "cases closed in the window by the deadline then in force",
    "closure_rate": "结案率 = closed ÷ due_to_close",
    "on_time_closure_rate": "按期结案率 = closed_on_time ÷ due_to_close",
    "local_resolution_rate": "cases resolved at grid or village level ÷ all cases resolved, in the window",
    "resolved_at_or_below_town_rate": "cases resolved at grid, village or town level ÷ all resolved, in the window",
    "escalations": "escalations in the window, by the level they went up to",
    "resolve_working_days": "median and 90th percentile of working days from logging to resolution, of the "
                            "cases resolved in the window, each given as the upper bound of its bucket "
                            "(0.5, 1, 1.5, 2, 3, 4, 5, 7, 10, 15, 20, 30 working days; null above 30 or "
                            "when nothing was resolved)",
    "deadline_colours": "open cases whose clock runs, now: green before 80 % of the deadline, yellow after, "
                        "red past it (suspended and referred cases have no colour)",
    "overdue": "the red count",
    "satisfaction": "average follow-up satisfaction (1–5) of the cases closed in the window; null without any",
    "risk_score": "Σ over open cases of the grade's weight (policy: blue 1, yellow 2, orange 4, red 8) × "
                  "(1 + working days since logging ÷ 10)",
    "rates": "fractions in [0, 1]; 0 when the denominator is 0",
}


@dataclass(frozen=True)
class Window:
    """Local dates, both included; None: open-ended (no window at all is all time)."""

    start: date | None = None
    end: date | None = None

    @property
    def all_time(self) -> bool:
        return self.start is None and self.end is None

    def check(self) -> "Window":
        if self.start and self.end and self.end < self.start:
            raise RuleViolation("`to` lies before `from`.", errors={"to": ["before from"]})
        return self


def rollup(session: Session, *, unit: Unit, window: Window, now: datetime | None = None) -> dict:
    """``{"unit", "totals", "children": [{"unit", "totals"}, …]}`` for ``unit`` (in scope)."""
    now = now or utcnow()
    children = tree_service.children(session, unit=unit)
    figures = Figures(session, [unit, *children], window=window, now=now, policy_weights=_weights())
    return {
        "unit": unit,
        "totals": figures.of(unit),
        "children": [{"unit": child, "totals": figures.of(child)} for child in children],
    }


def _weights() -> dict:
    from gridgov.cases.service import current_policy  # the policy lives with the cases

    return current_policy().risk_weights


class Figures:
    """The counters of several units (a parent and its children), read in a few queries."""

    def __init__(self, session: Session, units: list[Unit], *, window: Window, now: datetime, policy_weights: dict):
        self.units, self.window, self.now, self.weights = units, window, now, policy_weights
        self.today = measures.local_day(now)
        ids = [unit.id for unit in units]
        self.totals = {row["unit_id"]: row for row in session.execute(
            sa.select(unit_totals).where(unit_totals.c.unit_id.in_(ids))
        ).mappings()}
        counted = [unit for unit in units if unit.level in DAY_LEVELS]
        leaves = [unit for unit in units if unit.level not in DAY_LEVELS]
        # Sums of day rows: the window's dated measures, and the deadlines and yellow marks that
        # fell before today (past for sure), and those in the window's past part.
        self.in_window = self._day_sums(session, counted, measures.DATED, self._window_days())
        self.before_today = self._day_sums(session, counted, measures.PENDING, (None, self.today - timedelta(days=1)))
        due_days = self._due_days()
        self.due_in_window = self._day_sums(session, counted, ["due_open"], due_days) if due_days else {}
        if leaves:
            self._count_leaves(session, leaves, due_days)
        self.today_marks = self._today(session)

    # --- reading --------------------------------------------------------------------------------

    def _window_days(self) -> tuple[date | None, date | None]:
        return self.window.start, self.window.end

    def _due_days(self) -> tuple[date | None, date] | None:
        """Days whose passed deadlines count as due in the window: up to yesterday (today's are
        counted case by case, ``_today``), and not beyond the window's end."""
        end = self.today - timedelta(days=1)
        if self.window.end is not None:
            end = min(end, self.window.end)
        if self.window.start is not None and end < self.window.start:
            return None
        return self.window.start, end

    def _day_sums(self, session, units, columns, days) -> dict[int, dict[str, float]]:
        if not units:
            return {}
        start, end = days
        if self.window.all_time and columns is measures.DATED:
            # All time: the totals row holds these sums already.
            return {u.id: {c: (self.totals.get(u.id) or {}).get(c, 0) for c in columns} for u in units}
        statement = (
            sa.select(unit_days.c.unit_id, *[sa.func.sum(unit_days.c[c]).label(c) for c in columns])
            .where(unit_days.c.unit_id.in_([u.id for u in units]))
            .group_by(unit_days.c.unit_id)
        )
        if start is not None:
            statement = statement.where(unit_days.c.day >= start)
        if end is not None:
            statement = statement.where(unit_days.c.day <= end)
        return {row["unit_id"]: dict(row) for row in session.execute(statement).mappings()}

    def _count_leaves(self, session, leaves: list[Unit], due_days) -> None:
        """Micro-grids: the same sums, from their own cases and escalations."""
        ids = {unit.id for unit in leaves}
        contributions = defaultdict(lambda: defaultdict(dict))
        for case in session.execute(
            sa.select(*_CASE_COLUMNS).where(Case.origin_unit_id.in_(ids)).execution_options(**UNSCOPED)
        ):
            _totals, days = measures.contribution(case, weights=self.weights)
            _merge_days(contributions[case.origin_unit_id], days)
        for origin_id, at, level in session.execute(
            sa.select(Case.origin_unit_id, CaseEvent.at, Unit.level)
            .join(Case, Case.id == CaseEvent.case_id).join(Unit, Unit.id == CaseEvent.to_owner_unit_id)
            .where(Case.origin_unit_id.in_(ids), CaseEvent.action == "escalate").execution_options(**UNSCOPED)
        ):
            _merge_days(contributions[origin_id], measures.escalation(level=HandlingLevel(level.value), at=at)[1])
        for unit_id in ids:
            days = contributions.get(unit_id, {})
            self.in_window[unit_id] = _sum_days(days, measures.DATED, self._window_days())
            self.before_today[unit_id] = _sum_days(days, measures.PENDING, (None, self.today - timedelta(days=1)))
            self.due_in_window[unit_id] = _sum_days(days, ["due_open"], due_days) if due_days else {}

    def _today(self, session) -> dict[str, dict[int, int]]:
        """Running cases whose deadline / yellow mark is today and already past, per unit."""
        start = datetime.combine(self.today, time(), tzinfo=calendar.TIMEZONE)
        parent = self.units[0]
        counts = {"due_open": defaultdict(int), "yellow_open": defaultdict(int)}
        by_path = {unit.path: unit.id for unit in self.units}
        for column, key in ((Case.deadline_at, "due_open"), (Case.yellow_at, "yellow_open")):
            rows = session.scalars(
                sa.select(Case.origin_path)
                .where(Case.status.in_(CLOCK_RUNNING), column >= start, column <= self.now,
                       in_subtree(Case.origin_path, parent.path))
                .execution_options(**UNSCOPED)
            )
            for origin_path in rows:
                counts[key][parent.id] += 1
                for unit in self.units[1:]:
                    if origin_path.startswith(unit.path):
                        counts[key][unit.id] += 1
                        break
        return counts

    # --- the figures ----------------------------------------------------------------------------

    def of(self, unit: Unit) -> dict:
        total = self.totals.get(unit.id) or {}
        dated = self.in_window.get(unit.id) or {}
        before = self.before_today.get(unit.id) or {}

        def t(column):
            return int(total.get(column) or 0)

        def d(column):
            return dated.get(column) or 0

        red = (before.get("due_open") or 0) + self.today_marks["due_open"].get(unit.id, 0)
        yellow_reached = (before.get("yellow_open") or 0) + self.today_marks["yellow_open"].get(unit.id, 0)
        due_today = self.today_marks["due_open"].get(unit.id, 0) if self._window_has_today() else 0
        due_to_close = d("closed") + (self.due_in_window.get(unit.id) or {}).get("due_open", 0) + due_today
        resolved = d("resolved")
        local = d("resolved_grid") + d("resolved_village")
        weight = total.get("risk_weight") or 0
        risk = weight + (calendar.working_day_index(self.now) * weight - (total.get("risk_weight_age") or 0)) / 10
        return {
            "cases": t("cases"),
            "open": t("open"),
            "new": int(d("new")),
            "resolved": int(resolved),
            "closed": int(d("closed")),
            "due_to_close": int(due_to_close),
            "closed_on_time": int(d("closed_on_time")),
            "closure_rate": _rate(d("closed"), due_to_close),
            "on_time_closure_rate": _rate(d("closed_on_time"), due_to_close),
            "local_resolution_rate": _rate(local, resolved),
            "resolved_at_or_below_town_rate": _rate(local + d("resolved_town"), resolved),
            "resolved_by_level": {level.value: int(d(f"resolved_{level}")) for level in HandlingLevel},
            "escalations": {level.value: int(d(f"escalated_to_{level}")) for level in list(HandlingLevel)[1:]},
            "resolve_working_days": _percentiles(dated),
            "deadline_colours": {
                "green": max(t("running") - int(yellow_reached), 0),
                "yellow": max(int(yellow_reached) - int(red), 0),
                "red": int(red),
            },
            "overdue": int(red),
            "satisfaction": round(d("satisfaction_sum") / d("satisfaction_count"), 2) if d("satisfaction_count") else None,
            "risk_score": round(max(risk, 0.0), 2),
            "by_status": {status.value: t(f"status_{status}") for status in Status},
            "by_category": {category.value: t(f"category_{category}") for category in Category},
            "by_risk_grade": {grade.value: t(f"risk_{grade}") for grade in RiskGrade},
            "by_owner_level": {level.value: t(f"owner_{level}") for level in HandlingLevel},
        }

    def _window_has_today(self) -> bool:
        return ((self.window.start is None or self.window.start <= self.today)
                and (self.window.end is None or self.today <= self.window.end))


_CASE_COLUMNS = [
    Case.id, Case.origin_unit_id, Case.status, Case.category, Case.risk_grade, Case.owner_level,
    Case.created_at, Case.resolved_at, Case.resolved_level, Case.closed_at, Case.closed_on_time,
    Case.satisfaction, Case.deadline_at, Case.yellow_at,
]


def _merge_days(target: dict, days: dict) -> None:
    for day, row in days.items():
        into = target.setdefault(day, {})
        for column, value in row.items():
            into[column] = into.get(column, 0) + value


def _sum_days(days: dict, columns: list[str], bounds) -> dict[str, float]:
    start, end = bounds
    sums = dict.fromkeys(columns, 0)
    for day, row in days.items():
        if (start is None or day >= start) and (end is None or day <= end):
            for column in columns:
                sums[column] += row.get(column, 0)
    return sums


def _rate(part: float, whole: float) -> float:
    return round(min(part / whole, 1.0), 4) if whole else 0.0


def _percentiles(dated: dict) -> dict:
    counts = [dated.get(column) or 0 for column in measures.RESOLVE_COLUMNS]
    total = sum(counts)

    def at(share: float):
        if not total:
            return None
        seen = 0
        for bound, count in zip(measures.RESOLVE_BUCKETS, counts):
            seen += count
            if seen >= share * total:
                return bound
        return None

    return {"median": at(0.5), "p90": at(0.9)}


# --- trend and risk map ------------------------------------------------------------------------


def trend(session: Session, *, unit: Unit, interval: str, window: Window, now: datetime | None = None) -> list[dict]:
    """New, resolved and overdue per week (Monday first) or month. Overdue in a period: cases
    closed late in it, and open cases whose deadline passed in it."""
    now = now or utcnow()
    today = measures.local_day(now)
    end = window.end or today
    start = window.start or (end - timedelta(weeks=25) if interval == "week" else date(end.year - 1, end.month, 1))
    if (end - start).days > 3 * 366:
        raise RuleViolation("A trend spans three years at most.", errors={"from": ["too early"]})
    columns = ["new", "resolved", "closed_late", "due_open"]
    if unit.level in DAY_LEVELS:
        rows = session.execute(
            sa.select(unit_days.c.day, *[unit_days.c[c] for c in columns])
            .where(unit_days.c.unit_id == unit.id, unit_days.c.day >= start, unit_days.c.day <= end)
        ).mappings().all()
        days = {row["day"]: row for row in rows}
    else:
        days = {}
        for case in session.execute(
            sa.select(*_CASE_COLUMNS).where(Case.origin_unit_id == unit.id).execution_options(**UNSCOPED)
        ):
            _merge_days(days, measures.contribution(case, weights=_weights())[1])
    periods: dict[date, dict] = {}
    cursor = _period_start(start, interval)
    while cursor <= end:
        periods[cursor] = {"period": cursor, "new": 0, "resolved": 0, "overdue": 0}
        cursor = _next_period(cursor, interval)
    for day, row in days.items():
        if not start <= day <= end:
            continue
        period = periods[_period_start(day, interval)]
        period["new"] += int(row.get("new") or 0)
        period["resolved"] += int(row.get("resolved") or 0)
        period["overdue"] += int(row.get("closed_late") or 0) + (int(row.get("due_open") or 0) if day < today else 0)
    return list(periods.values())


def _period_start(day: date, interval: str) -> date:
    return day - timedelta(days=day.weekday()) if interval == "week" else day.replace(day=1)


def _next_period(day: date, interval: str) -> date:
    if interval == "week":
        return day + timedelta(weeks=1)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def riskmap(session: Session, *, unit: Unit, now: datetime | None = None) -> dict:
    """The children as GeoJSON points at their centroids (null geometry without one), with
    their counts and risk score."""
    result = rollup(session, unit=unit, window=Window(), now=now)
    features = []
    for child in result["children"]:
        place, figures = child["unit"], child["totals"]
        features.append({
            "type": "Feature",
            "id": place.id,
            "geometry": (
                {"type": "Point", "coordinates": [place.longitude, place.latitude]}
                if place.latitude is not None and place.longitude is not None else None
            ),
            "properties": {
                "id": place.id, "code": place.code, "name": place.name, "level": place.level.value,
                "cases": figures["cases"], "open": figures["open"], "overdue": figures["overdue"],
                "deadline_colours": figures["deadline_colours"], "risk_score": figures["risk_score"],
            },
        })
    return {"type": "FeatureCollection", "features": features}
