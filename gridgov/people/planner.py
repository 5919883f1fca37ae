"""Who covers what: a min-cost flow over duties and workers (networkx), then a local search
that evens out the workers' loads; pure — plain values in, a plan out, no database.

The objective (issue 5): the spread of the workers' loads plus a cost C for every assignment the
plan changes, with every duty covered whenever that is possible. Loads are not split (a unit has
one holder per place), which no flow expresses; so it is solved in two steps, village by village:

1. Coverage, keeping what can be kept. For each duty slot (a unit that needs one more person for
   a duty) flow goes ``source → slot → eligible worker → sink``:

   * source → a required slot costs ``-REQUIRED`` (a large reward), so coverage comes first; an
     "at least" duty has optional room for as many as are based in the unit itself (a smaller
     reward); what nobody can take flows straight from source to sink;
   * slot → worker costs ``change_cost`` unless the worker covers that slot now;
   * worker → sink has the worker's capacity.

2. Balance (``_balance``). The spread is measured as the sum of the squares of the workers'
   loads, divided by the typical unit load (so that one move's gain is comparable with C). A
   place moves to another eligible worker with room whenever that lowers the sum of squares
   by more than what it adds in changes; the best such move is made, again and again, until
   none is left. Each move lowers the objective, so it ends; and a plan that nothing has
   changed since is left as it is. A worker's load counts what they hold outside the units
   planned, so planning a grid agrees with planning its village.

Eligibility never crosses a village (workers are based in the unit, its grid or its village), so
each village is planned on its own: time grows linearly with the tree.
"""

from collections import defaultdict
from dataclasses import dataclass
from statistics import mean

import networkx as nx

from gridgov.people.duties import DUTIES, GRID, SELF, VILLAGE, Duty
from gridgov.tree.levels import Level

SCALE = 100  # the change cost is a load, a float; the flow wants integer costs
# A unit's load, which a worker's coverage is balanced by: its open cases, and this many
# households weighing as one more.
HOUSEHOLDS_PER_LOAD = 100
# Rewards for covering: a required slot outweighs everything, an optional one any cost of
# change (so room that can be filled is filled, as a maximum flow would).
REQUIRED = 10**12
OPTIONAL = 10**9


@dataclass(frozen=True)
class UnitInfo:
    id: int
    level: Level
    village_id: int | None  # the village it lies in (itself, for a village)
    grid_id: int | None  # the grid it lies in (itself, for a grid)
    load: float  # households ÷ HOUSEHOLDS_PER_LOAD + open cases


@dataclass(frozen=True)
class WorkerInfo:
    id: int
    role: str
    home_unit_id: int
    capacity: int
    # The village the worker is based in; None: look it up from ``units`` (when it is there).
    village_id: int | None = None
    # Assignments held outside the units planned (``capacity`` is what is left after them), and
    # their load; None: ``held`` units of the typical load.
    held: int = 0
    held_load: float | None = None


@dataclass
class Plan:
    assignments: set  # {(duty, unit_id, worker_id)}
    kept: set
    added: set
    ended: set
    uncovered: list  # [{"unit_id", "duty", "reason"}]
    loads: dict  # worker_id → load

    @property
    def feasible(self) -> bool:
        return not self.uncovered


def eligible(duty: Duty, unit: UnitInfo, worker: WorkerInfo, units: dict[int, UnitInfo]) -> bool:
    # Capacity is not eligibility: someone eligible but full makes a duty "capacity exhausted".
    if worker.role not in duty.roles:
        return False
    bases = {SELF: unit.id, GRID: unit.grid_id, VILLAGE: unit.village_id}
    return worker.home_unit_id in {bases[where] for where in duty.based_in if bases[where] is not None}


def plan(
    *,
    units: dict[int, UnitInfo],
    workers: dict[int, WorkerInfo],
    current: set,
    duties: tuple[Duty, ...] = DUTIES,
    change_cost: float | None = None,
    fixed: frozenset = frozenset(),
) -> Plan:
    """The plan for every duty of ``units``, given the ``current`` assignments
    ``{(duty name, unit id, worker id)}`` of those units. A current assignment the plan does not
    choose (its worker is gone or no longer eligible, or its unit has no duty now) is ended.
    ``fixed`` assignments stay as they are: they fill their places, and their workers'
    ``capacity`` already leaves them out (a leaver's colleagues, who keep what they cover)."""
    if change_cost is None:
        micro = [unit.load for unit in units.values() if unit.level is Level.MICROGRID]
        change_cost = mean(micro) if micro else 1.0
    typical = mean([unit.load for unit in units.values()] or [1.0]) or 1.0
    home_village = {
        worker.id: worker.village_id if worker.village_id is not None
        else units[worker.home_unit_id].village_id if worker.home_unit_id in units else None
        for worker in workers.values()
    }
    by_village_units = defaultdict(list)
    for unit in units.values():
        by_village_units[unit.village_id].append(unit)
    by_village_workers = defaultdict(list)
    for worker in workers.values():
        by_village_workers[home_village[worker.id]].append(worker)

    assignments, uncovered = set(), []
    for village_id in sorted(by_village_units, key=lambda v: (v is None, v)):
        chosen, missing = _plan_village(
            units=units,
            members=sorted(by_village_units[village_id], key=lambda unit: unit.id),
            workers=sorted(by_village_workers.get(village_id, []), key=lambda worker: worker.id),
            current=current,
            fixed=fixed,
            duties=duties,
            change_cost=change_cost,
            typical=typical,
        )
        assignments |= chosen
        uncovered += missing

    assignments |= fixed
    # Per worker who can cover anything at all (experts and chiefs with no capacity do not count).
    loads = {worker_id: 0.0 for worker_id, worker in workers.items() if worker.capacity > 0}
    for _duty, unit_id, worker_id in assignments:
        loads[worker_id] = loads.get(worker_id, 0.0) + units[unit_id].load
    return Plan(
        assignments=assignments,
        kept=assignments & current,
        added=assignments - current,
        ended=current - assignments,
        uncovered=uncovered,
        loads=loads,
    )


def _plan_village(*, units, members, workers, current, fixed, duties, change_cost, typical):
    graph = nx.DiGraph()
    graph.add_node("source")
    graph.add_node("sink")
    # At least 1 even when changing is free: of plans as good, the flow keeps the current one
    # (else it started anywhere, and the balancing found another plan, no better, every time).
    change = max(1, round(change_cost * SCALE))
    needs = []  # (duty, unit, candidates, how many more it needs, whether it has optional room)
    for unit in members:
        for duty in duties:
            if duty.level is not unit.level:
                continue
            holders = {worker_id for name, unit_id, worker_id in fixed if (name, unit_id) == (duty.name, unit.id)}
            eligible_here = [worker for worker in workers if eligible(duty, unit, worker, units)]
            candidates = [worker for worker in eligible_here if worker.id not in holders]
            needed = max(0, duty.count - len(holders))
            required, optional = ("required", duty.name, unit.id), ("optional", duty.name, unit.id)
            if needed:
                graph.add_edge("source", required, capacity=needed, weight=-REQUIRED)
            # An "at least" duty takes more than its minimum when more eligible people are based
            # in the unit itself (two officers stationed in one grid both cover it). The extra
            # room depends on the roster only, not on the current plan, so re-planning an
            # unchanged world finds the same flow.
            based_here = 0 if duty.exact else sum(worker.home_unit_id == unit.id for worker in eligible_here)
            extra = max(0, based_here - max(duty.count, len(holders)))
            if extra:
                graph.add_edge("source", optional, capacity=extra, weight=-OPTIONAL)
            needs.append((duty, unit, candidates, needed, bool(extra)))
            for worker in candidates:
                cover = ("cover", duty.name, unit.id, worker.id)  # at most once per worker
                now = (duty.name, unit.id, worker.id) in current
                if needed:
                    graph.add_edge(required, cover, capacity=1, weight=0 if now else change)
                if extra:
                    graph.add_edge(optional, cover, capacity=1, weight=0 if now else change)
                graph.add_edge(cover, ("worker", worker.id), capacity=1, weight=0)
    for worker in workers:
        if worker.capacity > 0:
            graph.add_edge(("worker", worker.id), "sink", capacity=worker.capacity, weight=0)

    # Everything the source offers must arrive: what no worker can take goes straight to the
    # sink, at no reward. One network-simplex run, no separate max-flow pass.
    offered = sum(data["capacity"] for _source, _slot, data in graph.out_edges("source", data=True))
    graph.add_edge("source", "sink", capacity=offered, weight=0)
    graph.nodes["source"]["demand"] = -offered
    graph.nodes["sink"]["demand"] = offered
    flow = nx.min_cost_flow(graph) if needs else {}
    chosen, missing = set(), []
    for duty, unit, candidates, needed, _room in needs:
        for worker in candidates:
            if flow.get(("cover", duty.name, unit.id, worker.id), {}).get(("worker", worker.id), 0) > 0:
                chosen.add((duty.name, unit.id, worker.id))
        covered = flow["source"].get(("required", duty.name, unit.id), 0)
        for _ in range(needed - covered):
            reason = "capacity exhausted" if candidates else "no one eligible"
            missing.append({"unit_id": unit.id, "duty": duty.name, "reason": reason})
    # A place of an "at least" duty with optional room stays with whom the flow gave it: that
    # room is for the people based in the unit itself, not for whoever has the least load.
    movable = {(duty.name, unit.id): candidates for duty, unit, candidates, _needed, room in needs if not room}
    return _balance(chosen, units=units, workers=workers, movable=movable, current=current, fixed=fixed,
                    change_cost=change_cost, typical=typical), missing


def _balance(chosen: set, *, units, workers, movable, current, fixed, change_cost, typical) -> set:
    """``chosen`` with places moved to even out the workers' loads (see the module's docstring):
    the best move at a time, while one lowers the objective."""
    chosen = set(chosen)
    load = {worker.id: worker.held * typical if worker.held_load is None else worker.held_load for worker in workers}
    for _duty, unit_id, worker_id in fixed:
        if worker_id in load:
            load[worker_id] += units[unit_id].load
    for _duty, unit_id, worker_id in chosen:
        load[worker_id] += units[unit_id].load
    room = {worker.id: worker.capacity for worker in workers}
    for _duty, _unit_id, worker_id in chosen:
        room[worker_id] -= 1
    held = chosen | fixed

    def changes(item) -> int:
        return 0 if item in current else 1

    while True:
        best, best_delta = None, -1e-9
        for item in sorted(chosen):
            name, unit_id, holder = item
            unit_load = units[unit_id].load
            for worker in movable.get((name, unit_id), ()):
                target = (name, unit_id, worker.id)
                if worker.id == holder or room[worker.id] <= 0 or target in held:
                    continue
                # (L_a - l)² + (L_b + l)² - L_a² - L_b², over the typical load; then the changes.
                delta = 2 * unit_load * (load[worker.id] - load[holder] + unit_load) / typical
                delta += change_cost * (changes(target) - changes(item))
                if delta < best_delta:
                    best, best_delta = (item, target), delta
        if best is None:
            return chosen
        (item, target), unit_load = best, units[best[0][1]].load
        chosen.remove(item)
        held.remove(item)
        chosen.add(target)
        held.add(target)
        load[item[2]] -= unit_load
        load[target[2]] += unit_load
        room[item[2]] += 1
        room[target[2]] -= 1
