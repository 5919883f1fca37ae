"""Rollups: a unit's figures and its children's, read from the counters.

What each figure means is ``DEFINITIONS`` (printed in the API docs). Cases count where they
originated, so the children's figures add up to their parent's. A rollup reads one totals row
per unit in its answer, the day rows of its window, and the cases whose deadline stands (the
working set: being handled, or resolved and waiting to be verified), for the deadlines and
yellow marks that fall today (a day row cannot say which of today's are already past); never the
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
from gridgov.cases.enums import Category, HandlingLevel, RiskGrade, Status
from gridgov.cases.models import STANDING_SQL, Case
from gridgov.cases.policy import DEFAULT
from gridgov.cases.service import current_policy
from gridgov.db import utcnow
from gridgov.errors import RuleViolation
from gridgov.rollups import measures
from gridgov.rollups import counters
from gridgov.rollups.counters import DAY_LEVELS
from gridgov.rollups.models import unit_days, unit_totals
from gridgov.tree import service as tree_service
from gridgov.tree.models import Unit, in_subtree

BOUNDS = [bound for bound in measures.RESOLVE_BUCKETS if bound is not None]
DEFINITIONS = {
    "cases": "cases that originated in the unit's subtree, now (whatever the window)",
    "open": "of those, not resolved, closed or rejected, now",
    "by_status, by_category, by_risk_grade, by_owner_level": "the cases, now, by each",
    "new, resolved, closed": "cases logged, resolved (化解) and closed (结案) in the window",
    "due_to_close": "cases closed in the window plus those not closed whose deadline (standing: see "
                    "deadline_colours) fell in the window and has passed",
    "closed_on_time": "cases closed in the window by the deadline then in force (the verification that closes a "
                      "resolved case is part of the time)",
    "closure_rate": "结案率 = closed ÷ due_to_close",
    "on_time_closure_rate": "按期结案率 = closed_on_time ÷ due_to_close",
    "local_resolution_rate": "cases resolved at grid or village level ÷ all cases resolved, in the window",
    "resolved_at_or_below_town_rate": "cases resolved at grid, village or town level ÷ all resolved, in the window",
    "escalations": "escalations in the window, by the level they went up to",
    "resolve_working_days": "median and 90th percentile of working days from logging to resolution, of the "
                            "cases resolved in the window, each given as the upper bound of its bucket "
                            f"({', '.join(map(str, BOUNDS))} working days; null above {BOUNDS[-1]} or "
                            "when nothing was resolved)",
    "deadline_colours": "cases whose deadline stands, now (being handled, or resolved and waiting to be "
                        f"verified): green before {DEFAULT.yellow_after:.0%} of the deadline (by default: the "
                        "case policy says), yellow after, red past it (suspended and referred cases have no colour)",
    "overdue": "the red count",
    "satisfaction": "average follow-up satisfaction (1–5) of the cases closed in the window; null without any",
    "risk_score": "Σ over open cases of the grade's weight (by default "
                  f"{', '.join(f'{grade} {weight:g}' for grade, weight in DEFAULT.risk_weights.items())}: the case "
                  f"policy says) × (1 + working days since logging ÷ {measures.RISK_AGE_DAYS})",
    "rates": "fractions in [0, 1]; 0 when the denominator is 0",
    "own": "the same figures for the cases that originated at the unit itself, in no child (a report "
           "made at a village's own code, a case logged at a town): the unit's figures are its own "
           "plus its children's",
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
        for name, day in (("from", self.start), ("to", self.end)):
            if day is not None and not 1900 <= day.year <= 2999:
                raise RuleViolation(f"`{name}` must lie between the years 1900 and 2999.", errors={name: ["out of range"]})
        if self.start and self.end and self.end < self.start:
            raise RuleViolation("`to` lies before `from`.", errors={"to": ["before from"]})
        return self


def rollup(session: Session, *, unit: Unit, window: Window, now: datetime | None = None) -> dict:
    """``{"unit", "totals", "own", "children": [{"unit", "totals"}, …]}`` for ``unit`` (in scope)."""
    now = now or utcnow()
    children = tree_service.children(session, unit=unit)
    figures = Figures(session, [unit, *children], window=window, now=now, policy_weights=_weights())
    return {
        "unit": unit,
        "totals": figures.of(unit),
        "own": figures.own(),
        "children": [{"unit": child, "totals": figures.of(child)} for child in children],
    }


def _weights() -> dict:
    return current_policy().risk_weights


class Figures:
    """The figures of several units (a parent and its children), read in a few queries."""

    def __init__(self, session: Session, units: list[Unit], *, window: Window, now: datetime, policy_weights: dict):
        self.units, self.window, self.now, self.weights = units, window, now, policy_weights
        counters.flush_pending(session)  # this transaction's own changes, if any
        ids = [unit.id for unit in units]
        self.totals = {row["unit_id"]: row for row in session.execute(
            sa.select(unit_totals).where(unit_totals.c.unit_id.in_(ids))
        ).mappings()}
        # Micro-grids keep no day rows: a window's sums of theirs are counted from their cases. All
        # time needs no counting: the totals rows hold it, of micro-grids too.
        leaves = [] if window.all_time else [unit for unit in units if unit.level not in DAY_LEVELS]
        self.dated = self._day_sums(session, [unit for unit in units if unit not in leaves])
        if leaves:
            self.dated.update(self._leaf_sums(session, leaves))
        self.present = self._running(session)

    def _day_sums(self, session, units) -> dict[int, dict[str, float]]:
        if self.window.all_time:  # the totals row holds the all-time sums
            return {u.id: {c: (self.totals.get(u.id) or {}).get(c, 0) for c in measures.DATED} for u in units}
        if not units:
            return {}
        statement = (
            sa.select(unit_days.c.unit_id, *[sa.func.sum(unit_days.c[c]).label(c) for c in measures.DATED])
            .where(unit_days.c.unit_id.in_([u.id for u in units]))
            .group_by(unit_days.c.unit_id)
        )
        if self.window.start is not None:
            statement = statement.where(unit_days.c.day >= self.window.start)
        if self.window.end is not None:
            statement = statement.where(unit_days.c.day <= self.window.end)
        return {row["unit_id"]: dict(row) for row in session.execute(statement).mappings()}

    def _leaf_sums(self, session, leaves: list[Unit]) -> dict[int, dict[str, float]]:
        """Micro-grids: the window's sums from their own cases and escalations."""
        days = counters.days_from_cases(session, origin_ids=[u.id for u in leaves], weights=self.weights)
        return {u.id: _sum_days(days.get(u.id, {}), measures.DATED, self.window) for u in leaves}

    def _running(self, session) -> dict[int, dict[str, int]]:
        """Per unit: cases whose deadline stands, how many have passed their yellow mark and
        their deadline, and how many deadlines passed inside the window. One grouped query over
        the working set (the partial index ``ix_cases_standing``), never over the history."""
        parent, children = self.units[0], self.units[1:]
        width = len(children[0].path) if children else len(parent.path)
        child = sa.func.substr(Case.origin_path, 1, width).label("child")
        due = Case.deadline_at <= self.now
        if self.window.start is not None:
            due = sa.and_(due, Case.deadline_at >= _day_start(self.window.start))
        if self.window.end is not None:
            due = sa.and_(due, Case.deadline_at < _day_start(self.window.end + timedelta(days=1)))
        rows = session.execute(
            sa.select(
                child,
                sa.func.count().label("running"),
                sa.func.sum(sa.case((Case.yellow_at <= self.now, 1), else_=0)).label("yellow_reached"),
                sa.func.sum(sa.case((Case.deadline_at <= self.now, 1), else_=0)).label("red"),
                sa.func.sum(sa.case((due, 1), else_=0)).label("due"),
            )
            .where(STANDING, in_subtree(Case.origin_path, parent.path))
            .group_by(child)
            .execution_options(**UNSCOPED)
        ).mappings().all()
        by_path = {unit.path: unit.id for unit in children}
        present = defaultdict(lambda: defaultdict(int))
        for row in rows:
            targets = [parent.id] + ([by_path[row["child"]]] if row["child"] in by_path else [])
            for unit_id in targets:
                for key in ("running", "yellow_reached", "red", "due"):
                    present[unit_id][key] += int(row[key] or 0)
        return present

    def of(self, unit: Unit) -> dict:
        return self._figures(self.totals.get(unit.id) or {}, self.dated.get(unit.id) or {},
                             self.present.get(unit.id) or {})

    def own(self) -> dict:
        """The parent's (the first unit's) figures less its children's: its own cases'. Every
        figure is worked out from sums, so the differences of the sums give them exactly."""
        parent, children = self.units[0], self.units[1:]

        def less(rows: dict) -> dict:
            left = defaultdict(float, {key: value for key, value in (rows.get(parent.id) or {}).items()
                                       if isinstance(value, (int, float))})
            for child in children:
                for key, value in (rows.get(child.id) or {}).items():
                    if isinstance(value, (int, float)):
                        left[key] -= value
            return left

        return self._figures(less(self.totals), less(self.dated), less(self.present))

    def _figures(self, total: dict, dated: dict, now: dict) -> dict:
        def t(column):
            return int(total.get(column) or 0)

        def d(column):
            return dated.get(column) or 0

        red, yellow_reached = now.get("red", 0), now.get("yellow_reached", 0)
        due_to_close = d("closed") + now.get("due", 0)
        resolved = d("resolved")
        local = d("resolved_grid") + d("resolved_village")
        weight = total.get("risk_weight") or 0
        age = calendar.working_day_index(self.now) * weight - (total.get("risk_weight_age") or 0)
        risk = weight + age / measures.RISK_AGE_DAYS
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
                "green": now.get("running", 0) - yellow_reached,
                "yellow": yellow_reached - red,
                "red": red,
            },
            "overdue": red,
            "satisfaction": round(d("satisfaction_sum") / d("satisfaction_count"), 2) if d("satisfaction_count") else None,
            "risk_score": round(max(risk, 0.0), 2),
            "by_status": {status.value: t(f"status_{status}") for status in Status},
            "by_category": {category.value: t(f"category_{category}") for category in Category},
            "by_risk_grade": {grade.value: t(f"risk_{grade}") for grade in RiskGrade},
            "by_owner_level": {level.value: t(f"owner_{level}") for level in HandlingLevel},
        }


# The cases whose deadline stands, as the partial index ix_cases_standing states it (a
# literal list: SQLite uses a partial index only for the very terms of its WHERE).
STANDING = sa.text(STANDING_SQL)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=calendar.TIMEZONE)


def _sum_days(days: dict, columns: list[str], window: Window) -> dict[str, float]:
    start, end = window.start, window.end
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
    closed late in it, and cases not closed whose deadline passed in it."""
    now = now or utcnow()
    end = window.end or measures.local_day(now)
    # By default whole periods (26 weeks from a Monday, 13 months from a 1st): a first bar counting
    # only part of its period would read as a drop.
    default_start = end - timedelta(weeks=25) if interval == "week" else date(end.year - 1, end.month, 1)
    start = window.start or _period_start(default_start, interval)
    if end < start:  # `from` alone, after today (the default `to`)
        raise RuleViolation("`from` lies after `to`, which is today when not given.", errors={"from": ["after to"]})
    if (end - start).days > 3 * 366:
        raise RuleViolation("A trend spans three years at most.", errors={"from": ["too early"]})
    columns = ["new", "resolved", "closed_late"]
    counters.flush_pending(session)
    if unit.level in DAY_LEVELS:
        rows = session.execute(
            sa.select(unit_days.c.day, *[unit_days.c[c] for c in columns])
            .where(unit_days.c.unit_id == unit.id, unit_days.c.day >= start, unit_days.c.day <= end)
        ).mappings().all()
        days = {row["day"]: dict(row) for row in rows}
    else:
        days = counters.days_from_cases(session, origin_ids=[unit.id], weights=_weights()).get(unit.id, {})
    # Cases not closed past a deadline that fell in the range: from the working set, as in the rollup.
    for deadline in session.scalars(
        sa.select(Case.deadline_at)
        .where(STANDING, in_subtree(Case.origin_path, unit.path), Case.deadline_at <= now,
               Case.deadline_at >= _day_start(start))
        .execution_options(**UNSCOPED)
    ):
        row = days.setdefault(measures.local_day(deadline), {})
        row["overdue_open"] = row.get("overdue_open", 0) + 1
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
        period["overdue"] += int(row.get("closed_late") or 0) + int(row.get("overdue_open") or 0)
    return list(periods.values())


def _period_start(day: date, interval: str) -> date:
    return day - timedelta(days=day.weekday()) if interval == "week" else day.replace(day=1)


def _next_period(day: date, interval: str) -> date:
    if interval == "week":
        return day + timedelta(weeks=1)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def riskmap(session: Session, *, unit: Unit, now: datetime | None = None) -> dict:
    """The children as GeoJSON points at their centroids (null geometry without one), with
    their counts and risk score; and the unit's own cases (``own``), if any, at its centroid."""
    result = rollup(session, unit=unit, window=Window(), now=now)
    features = [_feature(child["unit"], child["totals"], own=False) for child in result["children"]]
    if result["own"]["cases"]:
        # What happened at the unit itself (a report made at a village's own code), in no child:
        # a point at the unit's centroid, so the map adds up to the tiles as the table does.
        features.append(_feature(unit, result["own"], own=True))
    return {"type": "FeatureCollection", "features": features}


def _feature(place: Unit, figures: dict, *, own: bool) -> dict:
    return {
        "type": "Feature",
        "id": place.id,
        "geometry": (
            {"type": "Point", "coordinates": [place.longitude, place.latitude]}
            if place.latitude is not None and place.longitude is not None else None
        ),
        "properties": {
            "id": place.id, "code": place.code, "name": place.name, "level": place.level.value, "own": own,
            "cases": figures["cases"], "open": figures["open"], "overdue": figures["overdue"],
            "deadline_colours": figures["deadline_colours"], "risk_score": figures["risk_score"],
        },
    }
