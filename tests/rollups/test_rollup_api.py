"""The rollup figures mean what their definitions say, on small hand-built histories whose
answers the tests know.

Covered: cases, open and the by_* maps (now); new, resolved and closed in a window and all time
(local dates); due_to_close, closure_rate and on_time_closure_rate (by the deadline then in
force); local_resolution_rate and resolved_at_or_below_town_rate; escalations by level; the
resolve_working_days percentiles as bucket bounds; deadline colours and overdue as time passes
(marks falling today, before and after ``now``); satisfaction; risk_score; rates 0 on a zero
denominator; a micro-grid's figures and trend (counted from its cases) against its grid's; the
trend per week and month; riskmap.geojson; rollup.csv and cases.csv; scope and bad input.
"""

import csv
import io
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from gridgov.cases import calendar
from gridgov.cases.enums import Outcome, ReferralChannel
from gridgov.cases.sweep import sweep
from gridgov.rollups import service as rollup_service
from gridgov.rollups.service import Window, rollup, trend
from gridgov.tree import service as tree_service
from gridgov.tree.levels import Level
from tests.cases.support import (
    API, D, G11, G12, M111, M112, M121, M211, M311, T1, T2, V1, V3, assert_problem, at, case_in, do, holiday_data_ends,
    new_case,
)
from tests.conftest import bearer_client

WEIGHTS = {"blue": 1, "yellow": 2, "orange": 4, "red": 8}  # the policy's default risk weights
BOM = "\ufeff"


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def ids(small_tree) -> dict[str, int]:
    return {code: unit.id for code, unit in small_tree.items()}


@pytest.fixture
def command(app, make_principal):
    """District command: cases:read over the whole district."""
    _id, token = make_principal("district_command", D)
    return bearer_client(app, token)


def accepted(when):
    return [("accept", when, {})]


def resolved(when):
    return [("resolve", when, {"note": "双方和解"})]


def closed(when):
    return [("close", when, {})]


def escalated(when):
    """A failed attempt at the current owner, then up one level (mediation_failed)."""
    return [("record_attempt", when, {"outcome": Outcome.FAILURE}), ("escalate", when, {"reason": "mediation_failed"})]


def suspended(when):
    return [("suspend", when, {"reason": "当事人外出"})]


def followed_up(when, satisfaction):
    return [("follow_up", when, {"satisfaction": satisfaction})]


def log(session, tree, code, created, *steps, **fields):
    """A case logged in ``code`` at ``created``, then the steps (lists of (action, when, params))."""
    case = new_case(session, tree[code].id, now=created, **fields)
    for action, when, params in [step for group in steps for step in group]:
        do(session, case, action, now=when, **params)
    session.commit()
    return case


def figures(session, tree, code, *, now, window=Window()) -> dict[str, dict]:
    """The unit's and its children's totals from the service, by code."""
    result = rollup(session, unit=tree[code], window=window, now=now)
    return {result["unit"].code: result["totals"],
            **{child["unit"].code: child["totals"] for child in result["children"]}}


def get_rollup(client, unit_id, query="") -> dict:
    response = client.get(f"{API}/units/{unit_id}/rollup{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def by_code(body) -> dict[str, dict]:
    return {body["unit"]["code"]: body["totals"], **{c["unit"]["code"]: c["totals"] for c in body["children"]}}


def rate(value):
    return pytest.approx(value, abs=5e-5)  # rates are given to four places


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    raw = response.get_data()
    assert raw.startswith(BOM.encode("utf-8"))
    return list(csv.reader(io.StringIO(raw.decode("utf-8")[len(BOM):])))


# --- cases now ---------------------------------------------------------------------------------


def test_cases_open_and_the_by_maps_count_the_cases_as_they_are_now(session, small_tree, ids, command):
    when = at(2026, 3, 2, 9)
    # status, origin, category, grade, people: the owner level follows from the policy
    # (labour → town, traffic → village, red → town, 120 people → district).
    case_in(session, "reported", ids[M111], now=when)
    case_in(session, "accepted", ids[M112], now=when, category="labour", risk_grade="yellow")
    case_in(session, "in_progress", ids[M121], now=when, category="traffic_injury", risk_grade="orange")
    case_in(session, "resolved", ids[M211], now=when, category="consumer", risk_grade="red")
    case_in(session, "closed", ids[M311], now=when, category="other", people_involved=120)
    case_in(session, "suspended", ids[M111], now=when)
    case_in(session, "referred", ids[M111], now=when, category="property_management", risk_grade="yellow")
    case_in(session, "rejected", ids[M112], now=when, category="safety_hazard")
    case_in(session, "reopened", ids[M121], now=when, category="land_housing")

    body = get_rollup(command, ids[D])
    assert body["unit"]["id"] == ids[D]
    assert [child["unit"]["code"] for child in body["children"]] == [T1, T2]
    district, town1, town2 = body["totals"], body["children"][0]["totals"], body["children"][1]["totals"]

    assert (district["cases"], district["open"]) == (9, 6)  # open: not resolved, closed or rejected
    assert district["by_status"] == {
        "reported": 1, "accepted": 1, "in_progress": 1, "resolved": 1, "closed": 1, "suspended": 1,
        "referred": 1, "rejected": 1, "reopened": 1,
    }
    assert district["by_category"] == {
        "family_neighbour": 2, "labour": 1, "consumer": 1, "traffic_injury": 1, "property_management": 1,
        "land_housing": 1, "petition": 0, "safety_hazard": 1, "other": 1,
    }
    assert district["by_risk_grade"] == {"blue": 5, "yellow": 2, "orange": 1, "red": 1}
    assert district["by_owner_level"] == {"grid": 4, "village": 2, "town": 2, "district": 1}
    # All time: logged 9; resolved the resolved and the closed one (the reopened one no longer is).
    assert (district["new"], district["resolved"], district["closed"]) == (9, 2, 1)

    assert (town1["cases"], town1["open"]) == (8, 6)
    assert (town2["cases"], town2["open"]) == (1, 0)
    assert town2["by_status"]["closed"] == 1 and town2["by_owner_level"]["district"] == 1


# --- windows -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "expected"), [
    ("", (3, 2, 2)),
    ("?from=2026-03-09&to=2026-03-15", (1, 1, 0)),
    # The case logged at 07:30 on 16 March in Shanghai (23:30 on the 15th in UTC) is the 16th's.
    ("?from=2026-03-16&to=2026-03-16", (1, 0, 1)),
    ("?from=2026-03-10", (1, 1, 1)),
    ("?to=2026-03-03", (1, 1, 0)),
])
def test_new_resolved_and_closed_count_in_the_window_by_local_date(session, small_tree, ids, command, query, expected):
    log(session, small_tree, M111, at(2026, 3, 2, 10), accepted(at(2026, 3, 2, 11)), resolved(at(2026, 3, 3, 10)),
        closed(at(2026, 3, 4, 10)))
    log(session, small_tree, M111, at(2026, 3, 9, 10), accepted(at(2026, 3, 9, 11)), resolved(at(2026, 3, 10, 10)),
        closed(at(2026, 3, 16, 10)))
    log(session, small_tree, M111, at(2026, 3, 16, 7, 30))

    # The district (day rows), the micro-grid as its grid's child and on its own (its cases).
    views = [get_rollup(command, ids[D], query)["totals"],
             by_code(get_rollup(command, ids[G11], query))[M111],
             get_rollup(command, ids[M111], query)["totals"]]
    for totals in views:
        assert (totals["new"], totals["resolved"], totals["closed"]) == expected
        assert (totals["cases"], totals["open"]) == (3, 1)  # now, whatever the window


@pytest.fixture
def due_history(session, small_tree):
    """Grid cases in M111 (one working day each) around the week of 9–13 March 2026."""
    log(session, small_tree, M111, at(2026, 3, 9, 9), accepted(at(2026, 3, 9, 9, 30)))  # due Tue 10th 09:00
    log(session, small_tree, M111, at(2026, 3, 10, 8))  # due Wed 11th 08:00
    log(session, small_tree, M111, at(2026, 3, 11, 14))  # due Thu 12th 14:00
    log(session, small_tree, M111, at(2026, 3, 12, 10))  # due Fri 13th 10:00
    log(session, small_tree, M111, at(2026, 3, 5, 9))  # due Fri 6th: before the window
    # Closed on the 10th at 08:00, before its deadline (09:00): on time.
    log(session, small_tree, M111, at(2026, 3, 9, 9), accepted(at(2026, 3, 9, 9, 10)), resolved(at(2026, 3, 9, 10)),
        closed(at(2026, 3, 10, 8)))
    # Closed on the 11th, a day after its deadline: late.
    late = log(session, small_tree, M111, at(2026, 3, 9, 9), accepted(at(2026, 3, 9, 9, 10)),
               resolved(at(2026, 3, 11, 10)), closed(at(2026, 3, 11, 11)))
    assert late.closed_on_time is False
    log(session, small_tree, M111, at(2026, 3, 9, 9), accepted(at(2026, 3, 9, 9, 10)), suspended(at(2026, 3, 9, 9, 30)))
    # Resolved on the 9th and not yet verified: its deadline (the 10th, 09:00) stands, so it is due.
    log(session, small_tree, M111, at(2026, 3, 9, 9), accepted(at(2026, 3, 9, 9, 10)), resolved(at(2026, 3, 9, 11)))


NOON, AFTERNOON = at(2026, 3, 12, 12), at(2026, 3, 12, 15)  # Thursday, before and after 14:00


@pytest.mark.parametrize(("window", "now", "due", "closed_", "on_time"), [
    # closed in the window (2: on the 10th and 11th) + not closed past a deadline in it (the 10th's
    # two, one of them resolved and waiting to be verified, and the 11th's)
    (Window(date(2026, 3, 9), date(2026, 3, 13)), NOON, 5, 2, 1),
    # … and, later that day, the deadline at 14:00 today too
    (Window(date(2026, 3, 9), date(2026, 3, 13)), AFTERNOON, 6, 2, 1),
    # all time: the 6 March deadline as well
    (Window(), NOON, 6, 2, 1),
    (Window(), AFTERNOON, 7, 2, 1),
    # a deadline on the window's last day is in it
    (Window(date(2026, 3, 9), date(2026, 3, 11)), AFTERNOON, 5, 2, 1),
    (Window(date(2026, 3, 9), date(2026, 3, 10)), AFTERNOON, 3, 1, 1),
    (Window(date(2026, 3, 12), date(2026, 3, 13)), AFTERNOON, 1, 0, 0),
    (Window(date(2026, 3, 12), date(2026, 3, 13)), NOON, 0, 0, 0),
])
def test_due_to_close_and_the_closure_rates(session, small_tree, due_history, window, now, due, closed_, on_time):
    views = [figures(session, small_tree, D, now=now, window=window)[T1],
             figures(session, small_tree, G11, now=now, window=window)[M111],  # counted from its cases
             figures(session, small_tree, M111, now=now, window=window)[M111]]
    for totals in views:
        assert (totals["due_to_close"], totals["closed"], totals["closed_on_time"]) == (due, closed_, on_time)
        assert totals["closure_rate"] == rate(closed_ / due if due else 0)
        assert totals["on_time_closure_rate"] == rate(on_time / due if due else 0)


def test_on_time_means_by_the_deadline_then_in_force(session, small_tree):
    # The grid's deadline (Tue 3rd 09:00) passes, but the case went up to the village on Monday
    # and has its new deadline (Wed 4th 15:00): closed on Wednesday at noon, it is on time.
    escalated_case = log(session, small_tree, M111, at(2026, 3, 2, 9), accepted(at(2026, 3, 2, 10)),
                         escalated(at(2026, 3, 2, 15)), accepted(at(2026, 3, 2, 16)), resolved(at(2026, 3, 4, 10)),
                         closed(at(2026, 3, 4, 12)))
    # Suspended for a week: its clock stopped, so closing after the first deadline is on time.
    paused = log(session, small_tree, M112, at(2026, 3, 2, 9), accepted(at(2026, 3, 2, 10)),
                 suspended(at(2026, 3, 2, 12)), [("resume", at(2026, 3, 9, 9), {})], resolved(at(2026, 3, 9, 10)),
                 closed(at(2026, 3, 9, 11)))
    # Closed a minute after its deadline: late.
    log(session, small_tree, M121, at(2026, 3, 2, 9), accepted(at(2026, 3, 2, 10)), resolved(at(2026, 3, 3, 8)),
        closed(at(2026, 3, 3, 9, 1)))
    assert escalated_case.closed_on_time and paused.closed_on_time

    totals = figures(session, small_tree, D, now=at(2026, 3, 20, 12))[D]
    assert (totals["closed"], totals["closed_on_time"], totals["due_to_close"]) == (3, 2, 3)
    assert totals["closure_rate"] == 1.0
    assert totals["on_time_closure_rate"] == rate(2 / 3)


# --- where cases are resolved, and escalations ---------------------------------------------------


def test_local_resolution_rates_count_the_level_that_resolved(session, small_tree):
    created, early, later = at(2026, 3, 2, 9), at(2026, 3, 3, 10), at(2026, 3, 10, 10)
    log(session, small_tree, M111, created, accepted(created), resolved(early))  # grid
    log(session, small_tree, M112, created, accepted(created), resolved(early))  # grid
    log(session, small_tree, M121, created, accepted(created), resolved(early), category="traffic_injury")  # village
    log(session, small_tree, M211, created, accepted(created), resolved(early), category="labour")  # town
    log(session, small_tree, M311, created, accepted(created), resolved(early), people_involved=120)  # district
    # Escalated from the grid, resolved by the village.
    log(session, small_tree, M111, created, accepted(created), escalated(at(2026, 3, 2, 12)),
        accepted(at(2026, 3, 2, 13)), resolved(later))
    log(session, small_tree, M112, created, accepted(created), resolved(later), closed(later))  # grid, closed since
    log(session, small_tree, M111, created, accepted(created))  # not resolved: not counted

    now = at(2026, 3, 20, 12)
    all_time = figures(session, small_tree, D, now=now)
    district, town1, town2 = all_time[D], all_time[T1], all_time[T2]
    assert district["resolved"] == 7
    assert district["resolved_by_level"] == {"grid": 3, "village": 2, "town": 1, "district": 1}
    assert district["local_resolution_rate"] == rate(5 / 7)  # grid 3 + village 2
    assert district["resolved_at_or_below_town_rate"] == rate(6 / 7)
    assert (town1["local_resolution_rate"], town1["resolved_at_or_below_town_rate"]) == (rate(5 / 6), 1.0)
    assert (town2["local_resolution_rate"], town2["resolved_at_or_below_town_rate"]) == (0.0, 0.0)

    week = figures(session, small_tree, D, now=now, window=Window(date(2026, 3, 9), date(2026, 3, 13)))[D]
    assert (week["resolved"], week["local_resolution_rate"]) == (2, 1.0)


def test_escalations_are_counted_in_the_window_by_the_level_they_went_to(session, small_tree):
    climber = log(session, small_tree, M111, at(2026, 3, 2, 9), accepted(at(2026, 3, 2, 10)),
                  escalated(at(2026, 3, 3, 10)))  # → village on the 3rd
    # Left unaccepted at the grid: the sweep sends it up (deadline_exceeded) on the 4th.
    new_case(session, small_tree[M121].id, now=at(2026, 3, 2, 9))
    session.commit()
    assert sweep(session, now=at(2026, 3, 4, 10))["escalated"] == 1
    for action, when, params in [*accepted(at(2026, 3, 4, 11)), *escalated(at(2026, 3, 5, 10)),  # → town
                                 *accepted(at(2026, 3, 5, 11)), *escalated(at(2026, 3, 9, 10))]:  # → district
        do(session, climber, action, now=when, **params)
    session.commit()

    now = at(2026, 3, 20, 12)
    expectations = [
        (Window(), {"village": 2, "town": 1, "district": 1}, {"village": 1, "town": 1, "district": 1}),
        (Window(date(2026, 3, 4), date(2026, 3, 6)), {"village": 1, "town": 1, "district": 0},
         {"village": 0, "town": 1, "district": 0}),
        (Window(date(2026, 3, 9), None), {"village": 0, "town": 0, "district": 1},
         {"village": 0, "town": 0, "district": 1}),
    ]
    for window, district_wide, of_m111 in expectations:
        assert figures(session, small_tree, D, now=now, window=window)[D]["escalations"] == district_wide, window
        assert figures(session, small_tree, T1, now=now, window=window)[T1]["escalations"] == district_wide, window
        assert figures(session, small_tree, G11, now=now, window=window)[M111]["escalations"] == of_m111, window


def test_a_grids_rollup_for_all_time_reads_no_case_history(session, small_tree):
    """All time, a micro-grid's figures come from its totals row, as every other unit's do (the
    figures are those above). Before, a grid's rollup (and its risk map, which the command page
    reloads every minute) read every case of its micro-grids and their events, more each year."""
    log(session, small_tree, M111, at(2026, 3, 2, 9), accepted(at(2026, 3, 2, 10)), escalated(at(2026, 3, 3, 10)))
    session.commit()
    sent = []
    listener = lambda *args: sent.append(args[2])  # noqa: E731 — the statement
    sa.event.listen(session.get_bind(), "before_cursor_execute", listener)
    try:
        figures(session, small_tree, G11, now=at(2026, 3, 20, 12))
    finally:
        sa.event.remove(session.get_bind(), "before_cursor_execute", listener)

    assert sent and not [statement for statement in sent if "case_events" in statement]


# --- durations, colours, satisfaction, risk ----------------------------------------------------


def test_resolve_working_days_are_percentiles_given_as_bucket_upper_bounds(session, small_tree):
    monday = at(2026, 3, 2, 9)
    log(session, small_tree, M111, monday, accepted(monday), resolved(at(2026, 3, 2, 15)))  # 0.25 → "≤ 0.5"
    # Friday 09:00 to Monday 10:00: the weekend is no working time, 25 hours are (→ "≤ 1.5").
    friday = at(2026, 3, 6, 9)
    log(session, small_tree, M111, friday, accepted(friday), resolved(at(2026, 3, 9, 10)))
    assert calendar.working_days_between(friday, at(2026, 3, 9, 10)) == pytest.approx(25 / 24)
    log(session, small_tree, M111, monday, accepted(monday), resolved(at(2026, 3, 3, 18)))  # 1.375 → "≤ 1.5"
    log(session, small_tree, M111, monday, accepted(monday), resolved(at(2026, 3, 11, 12)))  # 7.125 → "≤ 10"
    # Over 30 working days: the open-ended bucket, answered as null.
    long_ago = at(2025, 12, 1, 9)
    log(session, small_tree, M311, long_ago, accepted(long_ago), resolved(at(2026, 3, 2, 12)), people_involved=120)
    assert calendar.working_days_between(long_ago, at(2026, 3, 2, 12)) > 30

    now = at(2026, 3, 20, 12)
    everything = figures(session, small_tree, D, now=now)
    # sorted bounds: 0.5, 1.5, 1.5, 10, none — the 3rd of 5 is the median, the 5th the 90th percentile
    assert everything[D]["resolve_working_days"] == {"median": 1.5, "p90": None}
    assert everything[T1]["resolve_working_days"] == {"median": 1.5, "p90": 10}  # 0.5, 1.5, 1.5, 10
    assert everything[T2]["resolve_working_days"] == {"median": None, "p90": None}  # above 30 only
    later = figures(session, small_tree, D, now=now, window=Window(date(2026, 3, 9), date(2026, 3, 31)))[D]
    assert later["resolve_working_days"] == {"median": 1.5, "p90": 10}  # 1.5, 10
    first_day = figures(session, small_tree, G11, now=now, window=Window(date(2026, 3, 2), date(2026, 3, 2)))
    assert first_day[M111]["resolve_working_days"] == {"median": 0.5, "p90": 0.5}
    nothing = figures(session, small_tree, D, now=now, window=Window(date(2026, 3, 12), date(2026, 3, 31)))[D]
    assert nothing["resolve_working_days"] == {"median": None, "p90": None}


@pytest.fixture
def clocks(session, small_tree):
    """Cases whose deadline colours change over 2–9 March 2026."""
    monday = at(2026, 3, 2, 9)
    grid = log(session, small_tree, M111, monday)  # 1 working day
    village = log(session, small_tree, M121, monday, category="traffic_injury")  # 2 working days
    town = log(session, small_tree, M311, monday, accepted(at(2026, 3, 2, 9)), category="labour")  # 5 working days
    log(session, small_tree, M111, monday, accepted(monday), suspended(at(2026, 3, 2, 9, 30)))  # no colour
    # Resolved, waiting to be verified: its deadline stands, and its colour changes as the grid case's.
    log(session, small_tree, M112, monday, accepted(monday), resolved(at(2026, 3, 2, 10)))
    # Yellow after 80 % of the working time.
    assert (grid.yellow_at, grid.deadline_at) == (at(2026, 3, 3, 4, 12), at(2026, 3, 3, 9))
    assert (village.yellow_at, village.deadline_at) == (at(2026, 3, 3, 23, 24), at(2026, 3, 4, 9))
    assert (town.yellow_at, town.deadline_at) == (at(2026, 3, 6, 9), at(2026, 3, 9, 9))


@pytest.mark.parametrize(("now", "district", "town1"), [
    (at(2026, 3, 2, 10), (4, 0, 0), (3, 0, 0)),
    (at(2026, 3, 3, 3), (4, 0, 0), (3, 0, 0)),  # the grid cases' yellow mark is today, still ahead
    (at(2026, 3, 3, 5), (2, 2, 0), (1, 2, 0)),  # … and now behind
    (at(2026, 3, 3, 8, 59), (2, 2, 0), (1, 2, 0)),  # their deadline is today, a minute ahead
    (at(2026, 3, 3, 9, 1), (2, 0, 2), (1, 0, 2)),  # … and a minute behind
    (at(2026, 3, 3, 23, 30), (1, 1, 2), (0, 1, 2)),  # the village case's mark, today at 23:24
    (at(2026, 3, 4, 8), (1, 1, 2), (0, 1, 2)),  # marks of yesterday, its deadline today still ahead
    (at(2026, 3, 4, 10), (1, 0, 3), (0, 0, 3)),
    (at(2026, 3, 6, 10), (0, 1, 3), (0, 0, 3)),
    (at(2026, 3, 9, 10), (0, 0, 4), (0, 0, 3)),
])
def test_deadline_colours_and_overdue_as_time_passes(session, small_tree, clocks, now, district, town1):
    for code, unit, expected in [(D, D, district), (D, T1, town1)]:
        totals = figures(session, small_tree, code, now=now)[unit]
        colours = totals["deadline_colours"]
        assert (colours["green"], colours["yellow"], colours["red"]) == expected, unit
        assert totals["overdue"] == expected[2]
    # The micro-grids, counted from their cases, as their grids see them.
    grid = figures(session, small_tree, G11, now=now)
    seen = [grid[M111]["deadline_colours"], grid[M112]["deadline_colours"],
            figures(session, small_tree, G12, now=now)[M121]["deadline_colours"]]
    summed = {colour: sum(colours[colour] for colours in seen) for colour in seen[0]}
    assert (summed["green"], summed["yellow"], summed["red"]) == town1


def test_satisfaction_is_the_average_follow_up_of_the_cases_closed_in_the_window(session, small_tree):
    def closed_case(code, day, *rest):
        created = at(2026, 3, day, 9)
        return log(session, small_tree, code, created, accepted(created), resolved(at(2026, 3, day, 10)),
                   closed(at(2026, 3, day, 11)), *rest)

    closed_case(M111, 3, followed_up(at(2026, 3, 4, 9), 5))
    closed_case(M112, 3, followed_up(at(2026, 3, 4, 9), 2))
    closed_case(M121, 5)  # no follow-up: not in the average
    closed_case(M311, 10, followed_up(at(2026, 3, 11, 9), 4))
    now = at(2026, 3, 20, 12)

    everything = figures(session, small_tree, D, now=now)
    assert everything[D]["satisfaction"] == round((5 + 2 + 4) / 3, 2)
    assert (everything[T1]["satisfaction"], everything[T2]["satisfaction"]) == (3.5, 4.0)
    assert figures(session, small_tree, D, now=now, window=Window(date(2026, 3, 9), None))[D]["satisfaction"] == 4.0
    # Closed in the window, but nobody asked: null, not 0.
    quiet = figures(session, small_tree, D, now=now, window=Window(date(2026, 3, 5), date(2026, 3, 5)))[D]
    assert (quiet["closed"], quiet["satisfaction"]) == (1, None)


@pytest.fixture
def risky(session, small_tree) -> dict[str, list]:
    """Open cases (counted in the risk) and closed or rejected ones (not), by town."""
    open_cases = {
        T1: [log(session, small_tree, M111, at(2026, 3, 2, 9), accepted(at(2026, 3, 2, 10))),
             # suspended is still open
             log(session, small_tree, M121, at(2026, 3, 3, 10), accepted(at(2026, 3, 3, 11)),
                 suspended(at(2026, 3, 3, 12)), risk_grade="orange"),
             # graded yellow → red on its way up to the village: weighs 8 now
             log(session, small_tree, M112, at(2026, 3, 4, 9), accepted(at(2026, 3, 4, 9)),
                 [("record_attempt", at(2026, 3, 4, 10), {"outcome": Outcome.FAILURE}),
                  ("escalate", at(2026, 3, 4, 10), {"reason": "mediation_failed", "risk_grade": "red"})],
                 risk_grade="yellow")],
        T2: [log(session, small_tree, M311, at(2026, 3, 5, 14), category="labour", risk_grade="red"),
             log(session, small_tree, M311, at(2026, 3, 6, 8), accepted(at(2026, 3, 6, 9)),
                 [("refer", at(2026, 3, 6, 10), {"channel": ReferralChannel.LEGAL_AID})], risk_grade="yellow")],
    }
    log(session, small_tree, M112, at(2026, 3, 4, 9), accepted(at(2026, 3, 4, 9)), resolved(at(2026, 3, 4, 10)),
        closed(at(2026, 3, 4, 11)), risk_grade="yellow")
    log(session, small_tree, M111, at(2026, 3, 4, 9), [("reject", at(2026, 3, 4, 10), {"reason": "duplicate"})],
        risk_grade="red")
    return {town: [(str(case.risk_grade), case.created_at) for case in cases] for town, cases in open_cases.items()}


def expected_risk(cases, now) -> float:
    return sum(WEIGHTS[grade] * (1 + calendar.working_days_between(created, now) / 10) for grade, created in cases)


@pytest.mark.parametrize("now", [
    at(2026, 3, 12, 12),
    at(2026, 3, 14, 12),  # a Saturday: no working time has passed since Friday's end
    at(2026, 4, 7, 15),  # after the Qingming holiday
])
def test_risk_score_weighs_open_cases_by_grade_and_working_days_open(session, small_tree, risky, now):
    result = figures(session, small_tree, D, now=now)
    town1, town2 = expected_risk(risky[T1], now), expected_risk(risky[T2], now)
    assert result[T1]["risk_score"] == pytest.approx(town1, abs=0.005)
    assert result[T2]["risk_score"] == pytest.approx(town2, abs=0.005)
    assert result[D]["risk_score"] == pytest.approx(town1 + town2, abs=0.005)


def test_rates_are_zero_and_averages_null_without_a_denominator(session, small_tree):
    empty = figures(session, small_tree, D, now=at(2026, 3, 2, 12))[D]
    # Open cases not yet due: nothing due, nothing resolved.
    log(session, small_tree, M111, at(2026, 3, 2, 9))
    not_due = figures(session, small_tree, D, now=at(2026, 3, 2, 12))[D]
    for totals in (empty, not_due):
        assert (totals["due_to_close"], totals["resolved"]) == (0, 0)
        for name in ("closure_rate", "on_time_closure_rate", "local_resolution_rate", "resolved_at_or_below_town_rate"):
            assert totals[name] == 0.0, name
        assert totals["resolve_working_days"] == {"median": None, "p90": None}
        assert totals["satisfaction"] is None
    assert (empty["cases"], empty["risk_score"]) == (0, 0.0)
    assert (not_due["cases"], not_due["open"], not_due["deadline_colours"]["green"]) == (1, 1, 1)


# --- micro-grids -------------------------------------------------------------------------------


@pytest.fixture
def busy_micro_grid(session, small_tree):
    """A varied history in M121, the only micro-grid of G12, and a little in M111 beside it."""
    days = [at(2026, 3, day, 9) for day in (2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 16, 17)]
    for index, created in enumerate(days):
        if index % 4 == 0:
            log(session, small_tree, M121, created, accepted(created), resolved(created + timedelta(hours=3)),
                closed(created + timedelta(days=1, hours=5)), followed_up(created + timedelta(days=2), 1 + index % 5))
        elif index % 4 == 1:
            log(session, small_tree, M121, created, accepted(created), escalated(created + timedelta(hours=2)),
                accepted(created + timedelta(hours=3)), resolved(created + timedelta(days=2)),
                risk_grade="yellow")
        elif index % 4 == 2:
            log(session, small_tree, M121, created, category="traffic_injury", risk_grade="orange")
        else:
            log(session, small_tree, M121, created, accepted(created), suspended(created + timedelta(hours=1)))
        log(session, small_tree, M111, created + timedelta(hours=1))


@pytest.mark.parametrize("window", [
    Window(), Window(date(2026, 3, 4), date(2026, 3, 11)), Window(date(2026, 3, 10), None), Window(None, date(2026, 3, 5)),
])
# After the history: a yellow mark passed today, a deadline passed today, weeks later.
@pytest.mark.parametrize("now", [at(2026, 3, 17, 23, 30), at(2026, 3, 18, 10), at(2026, 4, 20, 12)])
def test_a_micro_grids_figures_agree_with_its_grids_view_of_it(session, small_tree, busy_micro_grid, window, now):
    own = figures(session, small_tree, M121, now=now, window=window)[M121]
    grid = figures(session, small_tree, G12, now=now, window=window)
    # As the grid's child (counted from the cases) and as the grid itself (its day rows): the
    # micro-grid is all there is in G12.
    assert own == grid[M121] == grid[G12]
    assert own["cases"] == 12
    village = figures(session, small_tree, V1, now=now, window=window)
    assert village[G12] == own


@pytest.mark.parametrize(("interval", "window"), [
    ("week", Window(date(2026, 3, 2), date(2026, 3, 22))),
    ("week", Window(date(2026, 3, 4), date(2026, 3, 19))),
    ("month", Window(date(2026, 2, 1), date(2026, 4, 30))),
])
def test_a_micro_grids_trend_agrees_with_its_grids(session, small_tree, busy_micro_grid, interval, window):
    now = at(2026, 3, 18, 12)
    own = trend(session, unit=small_tree[M121], interval=interval, window=window, now=now)
    assert own == trend(session, unit=small_tree[G12], interval=interval, window=window, now=now)
    assert sum(period["new"] for period in own) > 0


# --- trend -------------------------------------------------------------------------------------


@pytest.fixture
def trend_history(session, small_tree):
    monday = at(2026, 3, 2, 9)
    log(session, small_tree, M111, monday)  # open; due Tue 3rd: overdue that week
    log(session, small_tree, M111, at(2026, 3, 3, 10), accepted(at(2026, 3, 3, 10)),
        suspended(at(2026, 3, 3, 11)))  # no deadline
    # Closed late on Wednesday 11th (due Tue 10th 09:00): overdue in its week.
    log(session, small_tree, M111, at(2026, 3, 9, 9), accepted(at(2026, 3, 9, 9)), resolved(at(2026, 3, 11, 10)),
        closed(at(2026, 3, 11, 11)))
    log(session, small_tree, M111, at(2026, 3, 16, 9), accepted(at(2026, 3, 16, 9)), resolved(at(2026, 3, 16, 12)),
        closed(at(2026, 3, 16, 13)))  # on time
    log(session, small_tree, M111, at(2026, 4, 1, 9))  # open; due 2 April


def points(response) -> list[tuple]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [(item["period"], item["new"], item["resolved"], item["overdue"]) for item in response.get_json()["items"]]


@pytest.mark.parametrize(("query", "expected"), [
    ("interval=week&from=2026-03-02&to=2026-03-22",
     [("2026-03-02", 2, 0, 1), ("2026-03-09", 1, 1, 1), ("2026-03-16", 1, 1, 0)]),
    # The window clips the first week: what happened on the 2nd and 3rd is outside it.
    ("interval=week&from=2026-03-04&to=2026-03-20",
     [("2026-03-02", 0, 0, 0), ("2026-03-09", 1, 1, 1), ("2026-03-16", 1, 1, 0)]),
    ("interval=month&from=2026-02-01&to=2026-04-30",
     [("2026-02-01", 0, 0, 0), ("2026-03-01", 4, 2, 2), ("2026-04-01", 1, 0, 1)]),
])
def test_the_trend_counts_new_resolved_and_overdue_per_period(ids, command, trend_history, query, expected):
    for code in (D, T1, M111):  # day rows, and the micro-grid's own cases
        response = command.get(f"{API}/units/{ids[code]}/trend?{query}")
        assert points(response) == expected, code
        body = response.get_json()
        assert (body["unit_id"], body["interval"]) == (ids[code], query.split("&")[0].split("=")[1])


def test_the_default_weekly_trend_starts_on_a_monday_so_its_first_week_is_whole(ids, command, trend_history):
    # 25 weeks before Wednesday 26 August is Wednesday 4 March: the week of 2 March, whole.
    items = points(command.get(f"{API}/units/{ids[D]}/trend?interval=week&to=2026-08-26"))
    assert len(items) == 26
    assert items[0] == ("2026-03-02", 2, 0, 1)


def test_a_trend_over_three_years_or_by_day_is_refused(ids, command):
    trend_url = f"{API}/units/{ids[D]}/trend"
    assert command.get(f"{trend_url}?interval=month&from=2023-01-01&to=2025-12-31").status_code == 200
    assert_problem(command.get(f"{trend_url}?interval=month&from=2022-01-01&to=2026-01-01"), 422)
    assert_problem(command.get(f"{trend_url}?interval=week&from=2020-01-01"), 422)  # to today
    assert_problem(command.get(f"{trend_url}?interval=day"), 422)


# --- the risk map ------------------------------------------------------------------------------


def test_the_risk_map_is_a_point_per_child_with_the_rollups_figures(session, small_tree, ids, command, risky,
                                                                   monkeypatch):
    now = at(2026, 3, 12, 12)
    # Both answers at one moment: the risk score grows with the working days open.
    monkeypatch.setattr(rollup_service, "utcnow", lambda: now)
    new_town = tree_service.create_unit(session, name="新建镇", level=Level.TOWN, parent_id=ids[D], code="510503200")
    session.commit()

    response = command.get(f"{API}/units/{ids[D]}/riskmap.geojson")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/geo+json"
    collection = response.get_json()
    assert collection["type"] == "FeatureCollection"
    features = {feature["properties"]["code"]: feature for feature in collection["features"]}
    assert sorted(features) == sorted([T1, T2, "510503200"])

    assert features[T1]["geometry"] == {"type": "Point", "coordinates": [105.36, 28.80]}  # [longitude, latitude]
    assert features[T2]["geometry"] == {"type": "Point", "coordinates": [105.40, 28.70]}
    assert features["510503200"]["geometry"] is None  # no centroid
    assert features["510503200"]["properties"]["id"] == new_town.id

    children = by_code(get_rollup(command, ids[D]))
    for code, feature in features.items():
        properties, totals = feature["properties"], children[code]
        for name in ("cases", "open", "overdue", "deadline_colours", "risk_score"):
            assert properties[name] == totals[name], (code, name)
    assert features[T1]["properties"]["risk_score"] == pytest.approx(expected_risk(risky[T1], now), abs=0.005)
    assert features["510503200"]["properties"]["cases"] == 0
    assert not any(feature["properties"]["own"] for feature in features.values())


def test_a_units_own_cases_are_a_point_of_its_risk_map(session, small_tree, ids, command):
    """A village whose reports come in at its own code: before, its map showed only its grids
    (at 0) beside a risk tile that was not."""
    tree_service.update_unit(session, unit=small_tree[V1], latitude=28.78, longitude=105.37)
    session.commit()
    log(session, small_tree, V1, at(2026, 3, 10, 9))

    collection = command.get(f"{API}/units/{ids[V1]}/riskmap.geojson").get_json()
    own = [feature for feature in collection["features"] if feature["properties"]["own"]]
    rollup = get_rollup(command, ids[V1])
    assert [(feature["properties"]["code"], feature["properties"]["open"]) for feature in own] == [(V1, 1)]
    assert own[0]["geometry"] == {"type": "Point", "coordinates": [105.37, 28.78]}
    assert sum(feature["properties"]["open"] for feature in collection["features"]) == rollup["totals"]["open"]


# --- CSV ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "?from=2026-03-09&to=2026-03-13"])
def test_the_rollup_csv_is_the_rollup_table_in_utf8_with_a_bom(session, small_tree, ids, command, due_history, query):
    log(session, small_tree, M311, at(2026, 3, 10, 9))
    rows = read_csv(command.get(f"{API}/units/{ids[D]}/rollup.csv{query}"))
    header, body = rows[0], rows[1:]
    for title in ("单位编码", "单位名称", "案件总数", "在办", "新增", "结案", "结案率", "按期结案率", "风险指数"):
        assert title in header, title
    column = {title: index for index, title in enumerate(header)}

    figures_ = get_rollup(command, ids[D], query)
    units = [figures_["unit"], *[child["unit"] for child in figures_["children"]]]
    totals = [figures_["totals"], *[child["totals"] for child in figures_["children"]]]
    assert [row[column["单位名称"]] for row in body] == ["纳溪区", "安富街道", "大渡口镇"]
    # Named by its window: two months' downloads are told apart.
    disposition = command.get(f"{API}/units/{ids[D]}/rollup.csv{query}").headers["Content-Disposition"]
    assert disposition == f'attachment; filename="rollup-510503{"-2026-03-09-to-2026-03-13" if query else ""}.csv"'
    # After a tab, which keeps a spreadsheet from reading the digits as a number (5.10503E+17).
    assert [row[column["单位编码"]] for row in body] == ["\t" + unit["code"] for unit in units]
    for row, expected in zip(body, totals):
        for title, name in (("案件总数", "cases"), ("在办", "open"), ("新增", "new"), ("结案", "closed"),
                            ("应结案", "due_to_close")):
            assert int(row[column[title]]) == expected[name], (row[0], title)
        assert float(row[column["结案率"]]) == expected["closure_rate"]
    assert int(body[0][column["新增"]]) == (10 if not query else 9)  # the 5 March case is before the window


def test_the_cases_csv_follows_the_list_filters_and_holds_no_personal_data(session, small_tree, ids, command):
    parties = [{"role": "applicant", "name": "张三丰", "phone": "13800001111"},
               {"role": "respondent", "name": "李四光", "phone": "13900002222"}]
    when = at(2026, 3, 2, 9)
    wanted = [case_in(session, "closed", ids[M111], now=when, title="楼道堆物纠纷", parties=parties),
              case_in(session, "closed", ids[M121], now=when, title="装修噪音纠纷", parties=parties)]
    case_in(session, "reported", ids[M111], now=when, parties=parties)  # V1, but open
    case_in(session, "closed", ids[M311], now=when, parties=parties)  # closed, but in V3

    response = command.get(f"{API}/cases.csv?status=closed&origin_unit_id={ids[V1]}")
    rows = read_csv(response)
    text = response.get_data().decode("utf-8")
    header, body = rows[0], rows[1:]
    assert header[:3] == ["案件编号", "标题", "类别"]
    column = {title: index for index, title in enumerate(header)}
    assert sorted(row[column["案件编号"]] for row in body) == sorted(case.reference for case in wanted)
    assert {row[column["标题"]] for row in body} == {"楼道堆物纠纷", "装修噪音纠纷"}
    assert {row[column["类别"]] for row in body} == {"家事邻里纠纷"}
    # Words, not the API's codes: the file is for people with a spreadsheet.
    assert {row[column["状态"]] for row in body} == {"已结案"}
    assert {row[column["风险等级"]] for row in body} <= {"蓝", "黄", "橙", "红"}
    assert {row[column["承办层级"]] for row in body} <= {"网格", "村/社区", "镇/街道", "区"}
    assert {row[column["发生地"]] for row in body} == {small_tree[M111].name, small_tree[M121].name}
    for personal in ("张三丰", "李四光", "13800001111", "13900002222"):
        assert personal not in text

    everything = read_csv(command.get(f"{API}/cases.csv"))
    assert len(everything) == 1 + 4
    assert_problem(command.get(f"{API}/cases.csv?status=bogus"), 422)
    assert_problem(command.get(f"{API}/cases.csv?origin_unit_id=999999"), 404)


def test_the_cases_csv_marks_a_deadline_counted_past_the_holiday_data(session, ids, command, monkeypatch):
    """Found by a year-turn audit: only the JSON said a deadline was a guess; a clerk working from
    the spreadsheet took 2027's dates as the official ones."""
    holiday_data_ends(monkeypatch, date(2026, 9, 30))
    guessed = case_in(session, "reported", ids[M111], now=at(2026, 9, 30, 10))
    known = case_in(session, "reported", ids[M111], now=at(2026, 3, 2, 9))
    rows = read_csv(command.get(f"{API}/cases.csv"))
    column = rows[0].index("办理期限")
    deadlines = {row[0]: row[column] for row in rows[1:]}
    assert deadlines[guessed.reference].endswith("（暂定）") and "暂定" not in deadlines[known.reference]


def test_the_cases_csv_of_a_town_holds_its_own_cases_only(app, session, small_tree, ids, make_principal):
    """The export reads columns, not cases, and the caller's scope still holds for it."""
    ours = [case_in(session, "reported", ids[M111], now=at(2026, 3, 2, 9)),
            case_in(session, "closed", ids[M211], now=at(2026, 3, 2, 9))]
    theirs = case_in(session, "reported", ids[M311], now=at(2026, 3, 2, 9))
    town = bearer_client(app, make_principal("town_centre", T1)[1])

    rows = read_csv(town.get(f"{API}/cases.csv"))

    assert sorted(row[0] for row in rows[1:]) == sorted(case.reference for case in ours)
    assert theirs.reference not in {row[0] for row in rows}
    assert {row[5] for row in rows[1:]} == {small_tree[M111].name, small_tree[M211].name}  # 发生地


def test_a_cases_csv_that_would_pass_the_row_limit_is_refused_not_cut_short(session, small_tree, ids, command,
                                                                             monkeypatch):
    from gridgov.rollups import export

    for _ in range(3):
        case_in(session, "reported", ids[M111], now=at(2026, 3, 2, 9))
    monkeypatch.setattr(export, "MAX_ROWS", 3)
    assert len(read_csv(command.get(f"{API}/cases.csv"))) == 1 + 3
    case_in(session, "reported", ids[M111], now=at(2026, 3, 2, 9))
    assert "narrow the filters" in assert_problem(command.get(f"{API}/cases.csv"), 422)["detail"]


def test_a_title_a_spreadsheet_would_run_is_exported_as_text(session, small_tree, ids, command):
    case_in(session, "reported", ids[M111], now=at(2026, 3, 2, 9), title="=HYPERLINK(\"http://evil.example\",\"点我\")")
    case_in(session, "reported", ids[M111], now=at(2026, 3, 2, 9), title="-楼道堆物")

    rows = read_csv(command.get(f"{API}/cases.csv"))
    titles = {row[rows[0].index("标题")] for row in rows[1:]}
    assert titles == {"'=HYPERLINK(\"http://evil.example\",\"点我\")", "'-楼道堆物"}


def test_a_units_own_cases_make_the_children_add_up(session, small_tree, ids, command):
    """Cases logged at a town or a village itself (a report made at a village's own code) lie in
    no child. Before, the children's rows did not add up to their parent and nothing said why."""
    log(session, small_tree, T1, at(2026, 3, 2, 9))
    log(session, small_tree, V1, at(2026, 3, 2, 9), accepted(at(2026, 3, 2, 10)), resolved(at(2026, 3, 2, 11)))
    log(session, small_tree, M111, at(2026, 3, 2, 9), accepted(at(2026, 3, 2, 10)))
    log(session, small_tree, M211, at(2026, 3, 2, 9))

    town = get_rollup(command, ids[T1], "?from=2026-03-01&to=2026-03-31")
    assert (town["own"]["cases"], town["own"]["open"]) == (1, 1)
    for field in ("cases", "open", "new", "resolved", "due_to_close"):
        assert town["own"][field] + sum(child["totals"][field] for child in town["children"]) == \
            town["totals"][field], field
    for colour in ("green", "yellow", "red"):
        assert town["own"]["deadline_colours"][colour] + sum(
            child["totals"]["deadline_colours"][colour] for child in town["children"]) == \
            town["totals"]["deadline_colours"][colour], colour
    village = get_rollup(command, ids[V1], "?from=2026-03-01&to=2026-03-31")
    own = village["own"]
    assert (own["cases"], own["resolved"], own["resolved_by_level"]["village"]) == (1, 1, 1)
    assert own["local_resolution_rate"] == 1.0 and own["by_status"]["resolved"] == 1
    assert get_rollup(command, ids[D])["own"]["cases"] == 0

    rows = read_csv(command.get(f"{API}/units/{ids[T1]}/rollup.csv"))
    names = [row[1] for row in rows[1:]]
    assert names[:2] == [small_tree[T1].name, small_tree[T1].name + "（本级直接发生）"]
    assert int(rows[2][rows[0].index("案件总数")]) == 1
    assert rows[1][rows[0].index("层级")] == "镇/街道"
    assert len(read_csv(command.get(f"{API}/units/{ids[T2]}/rollup.csv"))) == 1 + 1 + 1  # no own cases: no row


# --- scope and input ---------------------------------------------------------------------------


def test_a_village_station_sees_its_own_subtree_only(app, small_tree, ids, make_principal):
    _id, token = make_principal("village_station", V1)
    village = bearer_client(app, token)
    assert get_rollup(village, ids[V1])["unit"]["code"] == V1
    for path in ("rollup", "rollup.csv", "trend", "riskmap.geojson"):
        assert_problem(village.get(f"{API}/units/{ids[V3]}/{path}"), 404)
    assert_problem(village.get(f"{API}/units/{ids[D]}/rollup"), 404)


def test_a_role_without_cases_read_is_forbidden(small_tree, ids, client, anonymous):
    # The admin manages units and accounts, but reads no cases.
    for url in (f"{API}/units/{ids[D]}/rollup", f"{API}/units/{ids[D]}/trend", f"{API}/cases.csv"):
        assert_problem(client.get(url), 403)
        assert_problem(anonymous.get(url), 401)


@pytest.mark.parametrize("query", [
    "from=2026-03-10&to=2026-03-09",  # from after to
    "from=2026-02-30",
    "to=03/01/2026",
    "from=yesterday",
    "from=0001-01-01",
    "to=9999-12-31",
])
@pytest.mark.parametrize("path", ["rollup", "rollup.csv", "trend"])
def test_bad_windows_are_refused(ids, command, path, query):
    assert_problem(command.get(f"{API}/units/{ids[D]}/{path}?{query}"), 422)


def test_a_trend_from_a_day_after_today_alone_is_refused(ids, command):
    """Its `to` is today: before, the answer was silently empty."""
    problem = assert_problem(command.get(f"{API}/units/{ids[D]}/trend?interval=week&from=2999-12-01"), 422)
    assert "from" in problem["errors"]


@pytest.mark.parametrize("path", ["rollup", "trend"])
def test_an_empty_window_means_none(ids, command, path):
    """``?from=&to=`` is a form left blank: the same answer as no window at all."""
    blank = command.get(f"{API}/units/{ids[D]}/{path}?from=&to=")
    assert blank.status_code == 200, blank.get_data(as_text=True)
    assert blank.get_json() == command.get(f"{API}/units/{ids[D]}/{path}").get_json()
