"""Local first: who owns a case, for how long, when it may go up, and whose inbox it waits in.
All of it data.

A case is owned by the lowest handling level the policy allows at or above where it happened,
and moves up one level only with a reason that holds (see ``service.escalate``). Deployments
change the defaults with ``GRIDGOV_CASE_POLICY``, a JSON object of the same fields.
"""

from dataclasses import dataclass, field, fields, replace

from gridgov.cases.enums import Category, HandlingLevel, RiskGrade, Source
from gridgov.tree.levels import Level

G, V, T, D = HandlingLevel.GRID, HandlingLevel.VILLAGE, HandlingLevel.TOWN, HandlingLevel.DISTRICT


@dataclass(frozen=True)
class Policy:
    # Working days each level has from when the case arrives (Gaotai's "four levels, seven days"
    # is of this order).
    deadline_days: dict = field(default_factory=lambda: {G: 1, V: 2, T: 4, D: 10})
    # Per category, overriding deadline_days for the levels named.
    category_deadline_days: dict = field(default_factory=lambda: {
        Category.LABOUR: {T: 5},
        Category.PETITION: {T: 5, D: 15},
    })
    # The lowest level that may handle each category (小事不出村、大事不出镇).
    minimum_level: dict = field(default_factory=lambda: {
        Category.FAMILY_NEIGHBOUR: G,
        Category.CONSUMER: G,
        Category.PROPERTY_MANAGEMENT: G,
        Category.SAFETY_HAZARD: G,
        Category.OTHER: G,
        Category.TRAFFIC_INJURY: V,
        Category.LAND_HOUSING: V,
        Category.LABOUR: T,
        Category.PETITION: T,
    })
    # Residents' reports the triage desk dispatches: categories that go to the town (属地街道)
    # rather than to the grid of the report's unit. Only where the case starts: the town may
    # still delegate it down.
    citizen_report_level: dict = field(default_factory=lambda: {Category.TRAFFIC_INJURY: T})
    # Grades that raise the minimum level, whatever the category.
    risk_minimum_level: dict = field(default_factory=lambda: {RiskGrade.ORANGE: V, RiskGrade.RED: T})
    # People involved → minimum level (the largest threshold reached applies).
    size_minimum_level: dict = field(default_factory=lambda: {30: T, 100: D})
    # When the sweep finds a case overdue at these levels, it escalates it (deadline_exceeded);
    # at the others it only marks it red for command to see.
    sweep_escalates_from: frozenset = frozenset({G, V})
    # Share of the deadline after which a case turns yellow.
    yellow_after: float = 0.8
    # Calendar days after closing within which the applicant may object (reopen).
    reopen_days: int = 30
    # Calendar days before a case was logged within which a mediation attempt may be recorded on
    # it, until it is first handed on (escalated, delegated, transferred or reopened): a dispute
    # settled on the spot (当场调解) is logged afterwards, at the end of the day or after a weekend.
    attempts_before_logging_days: int = 7
    # Risk weights for the risk score (used by rollups).
    risk_weights: dict = field(default_factory=lambda: {
        RiskGrade.BLUE: 1, RiskGrade.YELLOW: 2, RiskGrade.ORANGE: 4, RiskGrade.RED: 8,
    })

    def required_level(
        self, *, category: Category, risk_grade: RiskGrade, people_involved: int, source: Source | None = None,
    ) -> HandlingLevel:
        """The lowest level this case may be handled at, as it is now graded (``source``: when it
        is made, see ``citizen_report_level``)."""
        levels = [self.minimum_level.get(category, G)]
        if source is Source.CITIZEN_REPORT:
            levels.append(self.citizen_report_level.get(category, G))
        if risk_grade in self.risk_minimum_level:
            levels.append(self.risk_minimum_level[risk_grade])
        levels += [level for threshold, level in self.size_minimum_level.items() if people_involved >= threshold]
        return max(levels, key=lambda level: level.rank)

    def required_level_of(self, case) -> HandlingLevel:
        """``required_level`` of a case as it is graded now (its source counts only when it is made)."""
        return self.required_level(category=case.category, risk_grade=case.risk_grade,
                                   people_involved=case.people_involved)

    def deadline(self, *, level: HandlingLevel, category: Category) -> float:
        """Working days a level has for a case of this category."""
        return self.category_deadline_days.get(category, {}).get(level, self.deadline_days[level])


DEFAULT = Policy()


def from_config(overrides: dict | None) -> Policy:
    """The default policy with a deployment's overrides (JSON: enum values as strings).

    ``create_app`` calls it, so that a policy that does not make sense stops the service from
    starting, with a ``ValueError`` naming the setting, instead of failing every case request.
    """
    if overrides is None:
        return DEFAULT
    if not isinstance(overrides, dict):  # false, 0, [] or "" too: not read as "no overrides"
        raise ValueError("the case policy is a JSON object of settings")
    if not overrides:
        return DEFAULT
    known = {f.name for f in fields(Policy)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown case policy settings: {sorted(unknown)}")
    converted = {}
    for name, value in overrides.items():
        try:
            converted[name] = _convert(name, value)
            _check(name, converted[name])
        except (TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"case policy setting {name!r}: {error}") from None
    return replace(DEFAULT, **converted)


def _check(name: str, value) -> None:
    """What each setting must be, beyond its type: a ``ValueError`` saying what is wrong."""
    if name in ("deadline_days", "category_deadline_days"):
        per_level = value.values() if name == "category_deadline_days" else [value]
        if not all(0 < days <= 365 for levels in per_level for days in levels.values()):  # NaN fails too
            raise ValueError("deadlines are working days above 0, at most 365")
    elif name == "size_minimum_level" and any(threshold < 1 for threshold in value):
        raise ValueError("thresholds are numbers of people, 1 or more")
    elif name in ("risk_minimum_level", "size_minimum_level"):
        # A graver grade, or more people, never lowers the level: red below orange is a slip.
        ordered = [value[key] for key in (RiskGrade if name == "risk_minimum_level" else sorted(value)) if key in value]
        if any(later.rank < earlier.rank for earlier, later in zip(ordered, ordered[1:])):
            raise ValueError("a graver grade or a larger threshold may not name a lower level than a lesser one")
    elif name == "sweep_escalates_from" and D in value:
        raise ValueError("the district cannot escalate: it refers or closes")
    elif name == "risk_weights" and not all(0 <= weight <= 1000 for weight in value.values()):
        raise ValueError("risk weights are from 0 to 1000")
    elif name == "yellow_after" and not (isinstance(value, (int, float)) and 0 < value < 1):
        raise ValueError("a share of the deadline between 0 and 1, e.g. 0.8")
    elif name in ("reopen_days", "attempts_before_logging_days") and not (
            isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 366):
        raise ValueError("a whole number of calendar days, from 0 to 366")


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def _thresholds(value: dict) -> dict:
    converted = {int(k): HandlingLevel(v) for k, v in value.items()}
    if len(converted) < len(value):  # "30" and "030"
        raise ValueError("a threshold is named twice")
    return converted


def _convert(name: str, value):
    level = HandlingLevel
    # Maps keyed by every level or grade are merged into the defaults (a deployment names only
    # what it changes); the rule maps replace theirs, so that a rule can also be dropped.
    if name == "deadline_days":
        return {**DEFAULT.deadline_days, **{level(k): _number(v) for k, v in value.items()}}
    if name == "category_deadline_days":
        return {Category(c): {level(k): _number(v) for k, v in per.items()} for c, per in value.items()}
    if name == "minimum_level":
        return {**DEFAULT.minimum_level, **{Category(k): level(v) for k, v in value.items()}}
    if name == "citizen_report_level":
        return {Category(k): level(v) for k, v in value.items()}
    if name == "risk_minimum_level":
        return {RiskGrade(k): level(v) for k, v in value.items()}
    if name == "size_minimum_level":
        return _thresholds(value)
    if name == "sweep_escalates_from":
        if not isinstance(value, list):  # a map's keys would be taken, whatever its values said
            raise TypeError("a list of levels, e.g. [\"grid\", \"village\"]")
        return frozenset(level(v) for v in value)
    if name == "risk_weights":
        return {**DEFAULT.risk_weights, **{RiskGrade(k): _number(v) for k, v in value.items()}}
    return value


# --- whose inbox --------------------------------------------------------------------------------

# Whose cases wait in a unit's inbox: its own, and at a village its grids' too (a grid worker
# logs and mediates; the village station accepts for the grid). What waits below a town or the
# district is the lower units' to do: the lists and the rollups show it, not the inbox.
INBOX_LEVELS = {
    Level.DISTRICT: [HandlingLevel.DISTRICT],
    Level.TOWN: [HandlingLevel.TOWN],
    Level.VILLAGE: [HandlingLevel.VILLAGE, HandlingLevel.GRID],
    Level.GRID: [HandlingLevel.GRID],
    Level.MICROGRID: [HandlingLevel.GRID],
}


# Whose resolved cases wait for a unit's verification (核查结案): the level above verifies (a town
# its villages' and their grids', district command its towns'), and a unit's own wait for another
# of its people than the one who resolved them.
VERIFY_LEVELS = {
    Level.DISTRICT: [HandlingLevel.DISTRICT, HandlingLevel.TOWN],
    Level.TOWN: [HandlingLevel.TOWN, HandlingLevel.VILLAGE, HandlingLevel.GRID],
    Level.VILLAGE: [HandlingLevel.VILLAGE, HandlingLevel.GRID],
    Level.GRID: [],
    Level.MICROGRID: [],
}
