"""Who must cover which unit, as data (issue 5's defaults).

A duty says, for one level of the tree: which worker roles may cover a unit of that level, where
such a worker must be based (the unit itself, its grid, or its village), and how many are needed
— at least that many, or exactly that many.
"""

from dataclasses import dataclass

from gridgov.tree.levels import Level

SELF, GRID, VILLAGE = "self", "grid", "village"


@dataclass(frozen=True)
class Duty:
    name: str
    level: Level
    roles: frozenset[str]
    based_in: frozenset[str]  # of SELF, GRID, VILLAGE
    count: int = 1
    exact: bool = False  # exactly ``count``; otherwise at least ``count``


DUTIES: tuple[Duty, ...] = (
    # Every grid at least one stationed political-legal officer (驻网格政法干警).
    Duty("grid_officer", Level.GRID, frozenset({"grid_officer"}), frozenset({SELF, VILLAGE})),
    # Every micro-grid exactly one responsible person (微网格长), based in its grid or village, or
    # living in the micro-grid itself, as a 微网格长 often does.
    Duty(
        "microgrid_responsible",
        Level.MICROGRID,
        frozenset({"grid_worker", "mediator", "auxiliary_police"}),
        frozenset({SELF, GRID, VILLAGE}),
        exact=True,
    ),
    # Every village at least one full-time people's mediator.
    Duty("village_mediator", Level.VILLAGE, frozenset({"mediator"}), frozenset({SELF})),
)

DUTY_BY_NAME = {duty.name: duty for duty in DUTIES}
# The roles that cover units at all (not the expert team, the police chiefs, the triage clerks).
DUTY_ROLES = frozenset(role for duty in DUTIES for role in duty.roles)
