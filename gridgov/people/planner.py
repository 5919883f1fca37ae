"""Who covers what: a min-cost flow over duties and workers (networkx), pure — plain values in,
a plan out, no database.

For each duty slot (a unit that needs one more person for a duty) flow goes
``source → slot → eligible worker → worker's k-th assignment → sink``:

* source → a required slot costs ``-REQUIRED`` (a large reward), so coverage comes first; an
  "at least" duty has optional room for as many as are based in the unit itself (a smaller
  reward); what nobody can take flows straight from source to sink;
* slot → worker costs ``change_cost`` unless the worker covers that slot now (re-planning moves
  few people);
* the worker's k-th assignment costs ``(2k − 1) × mean unit load``: convex, so load spreads
  evenly within capacities (the sum of squares of counts, weighted by the typical load); k counts
  on from what the worker holds outside the units planned, so planning a grid agrees with
  planning its village;
* a worker's capacity is the number of their k-arcs.

Eligibility never crosses a village (workers are based in the unit, its grid or its village), so
each village is planned on its own: time grows linearly with the tree.
"""

from collections import defaultdict
from dataclasses import dataclass
from statistics import mean

import networkx as nx

from gridgov.people.duties import DUTIES, GRID, SELF, VILLAGE, Duty
from gridgov.tree.levels import Level

SCALE = 100  # loads are floats; the flow wants integer costs
# Rewards for covering: a required slot outweighs everything, an optional one any cost of load
# or change (so room that can be filled is filled, as a maximum flow would).
REQUIRED = 10**12
OPTIONAL = 10**9


@dataclass(frozen=True)
class UnitInfo:
    id: int
    level: Level
    village_id: int | None  # the village it lies in (itself, for a village)
    grid_id: int | None  # the grid it lies in (itself, for a grid)
    load: float  # households ÷ 100 + open cases


@dataclass(frozen=True)
class WorkerInfo:
    id: int
    role: str
    home_unit_id: int
    capacity: int
    # The village the worker is based in; None: look it up from ``units`` (when it is there).
    village_id: int | None = None
    # Assignments held outside the units planned (``capacity`` is what is left after them).
    held: int = 0


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
    change = round(change_cost * SCALE)
    step = round(typical * SCALE) or 1
    needs = []  # (duty, unit, candidates, how many more it needs)
    for unit in members:
        for duty in duties:
            if duty.level is not unit.level:
                continue
            holders = {worker_id for name, unit_id, worker_id in fixed if (name, unit_id) == (duty.name, unit.id)}
            eligible_here = [worker for worker in workers if eligible(duty, unit, worker, units)]
            candidates = [worker for worker in eligible_here if worker.id not in holders]
            needed = max(0, duty.count - len(holders))
            needs.append((duty, unit, candidates, needed))
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
            for worker in candidates:
                cover = ("cover", duty.name, unit.id, worker.id)  # at most once per worker
                now = (duty.name, unit.id, worker.id) in current
                if needed:
                    graph.add_edge(required, cover, capacity=1, weight=0 if now else change)
                if extra:
                    graph.add_edge(optional, cover, capacity=1, weight=0 if now else change)
                graph.add_edge(cover, ("worker", worker.id), capacity=1, weight=0)
    for worker in workers:
        for k in range(worker.held + 1, worker.held + worker.capacity + 1):
            graph.add_edge(("worker", worker.id), ("load", worker.id, k), capacity=1, weight=(2 * k - 1) * step)
            graph.add_edge(("load", worker.id, k), "sink", capacity=1, weight=0)

    # Everything the source offers must arrive: what no worker can take goes straight to the
    # sink, at no reward. One network-simplex run, no separate max-flow pass.
    offered = sum(data["capacity"] for _source, _slot, data in graph.out_edges("source", data=True))
    graph.add_edge("source", "sink", capacity=offered, weight=0)
    graph.nodes["source"]["demand"] = -offered
    graph.nodes["sink"]["demand"] = offered
    flow = nx.min_cost_flow(graph) if needs else {}
    chosen, missing = set(), []
    for duty, unit, candidates, needed in needs:
        for worker in candidates:
            if flow.get(("cover", duty.name, unit.id, worker.id), {}).get(("worker", worker.id), 0) > 0:
                chosen.add((duty.name, unit.id, worker.id))
        covered = flow["source"].get(("required", duty.name, unit.id), 0)
        for _ in range(needed - covered):
            reason = "capacity exhausted" if candidates else "no one eligible"
            missing.append({"unit_id": unit.id, "duty": duty.name, "reason": reason})
    return chosen, missing
