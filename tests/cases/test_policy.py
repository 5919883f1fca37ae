"""The local-first policy as data (pure: no database)."""

import pytest

from gridgov.cases import policy
from gridgov.cases.enums import Category, HandlingLevel, RiskGrade

G, V, T, D = HandlingLevel.GRID, HandlingLevel.VILLAGE, HandlingLevel.TOWN, HandlingLevel.DISTRICT
P = policy.DEFAULT

DEFAULT_MINIMUM = {
    Category.FAMILY_NEIGHBOUR: G,
    Category.CONSUMER: G,
    Category.PROPERTY_MANAGEMENT: G,
    Category.SAFETY_HAZARD: G,
    Category.OTHER: G,
    Category.TRAFFIC_INJURY: V,
    Category.LAND_HOUSING: V,
    Category.LABOUR: T,
    Category.PETITION: T,
}


def required(category, risk_grade=RiskGrade.BLUE, people=1, *, of=P):
    return of.required_level(category=category, risk_grade=risk_grade, people_involved=people)


@pytest.mark.parametrize("category", list(Category))
def test_default_minimum_level_per_category(category):
    assert required(category) is DEFAULT_MINIMUM[category]
    assert required(category, RiskGrade.YELLOW) is DEFAULT_MINIMUM[category]  # yellow raises nothing


@pytest.mark.parametrize("category", list(Category))
def test_orange_raises_to_at_least_village_and_red_to_at_least_town(category):
    base = DEFAULT_MINIMUM[category]
    assert required(category, RiskGrade.ORANGE) is max(base, V, key=lambda level: level.rank)
    assert required(category, RiskGrade.RED) is max(base, T, key=lambda level: level.rank)


@pytest.mark.parametrize(
    ("people", "level"),
    [(0, G), (1, G), (29, G), (30, T), (99, T), (100, D), (5000, D)],
)
def test_size_raises_the_level_the_largest_threshold_reached_applies(people, level):
    assert required(Category.FAMILY_NEIGHBOUR, people=people) is level


def test_the_highest_of_category_grade_and_size_wins():
    assert required(Category.LAND_HOUSING, RiskGrade.BLUE, 1) is V
    assert required(Category.LAND_HOUSING, RiskGrade.RED, 1) is T
    assert required(Category.LABOUR, RiskGrade.ORANGE, 1) is T  # orange does not lower labour
    assert required(Category.PETITION, RiskGrade.RED, 150) is D


def test_default_deadlines_per_level():
    for level, days in {G: 1, V: 2, T: 4, D: 10}.items():
        assert P.deadline(level=level, category=Category.FAMILY_NEIGHBOUR) == days


def test_category_deadline_overrides_apply_only_to_the_levels_named():
    assert P.deadline(level=T, category=Category.LABOUR) == 5
    assert P.deadline(level=V, category=Category.LABOUR) == 2
    assert P.deadline(level=D, category=Category.LABOUR) == 10
    assert P.deadline(level=T, category=Category.PETITION) == 5
    assert P.deadline(level=D, category=Category.PETITION) == 15
    assert P.deadline(level=G, category=Category.PETITION) == 1


def test_sweep_escalates_only_from_grid_and_village_by_default():
    assert P.sweep_escalates_from == {G, V}
    assert P.reopen_days == 30
    assert P.yellow_after == pytest.approx(0.8)


def test_no_overrides_is_the_default_policy():
    assert policy.from_config(None) is policy.DEFAULT
    assert policy.from_config({}) is policy.DEFAULT


@pytest.mark.parametrize("overrides", [False, 0, [], ""])
def test_a_policy_that_is_not_an_object_is_refused_not_read_as_none(overrides):
    with pytest.raises(ValueError, match="JSON object"):
        policy.from_config(overrides)


def test_from_config_overrides_from_json_values():
    custom = policy.from_config({
        "minimum_level": {"labour": "village"},
        "risk_minimum_level": {"red": "district"},
        "size_minimum_level": {"50": "town"},
        "category_deadline_days": {"consumer": {"grid": 0.5}},
        "sweep_escalates_from": ["grid"],
        "reopen_days": 15,
        "attempts_before_logging_days": 0,
    })
    assert required(Category.LABOUR, of=custom) is V
    # the categories not named keep their defaults
    assert required(Category.PETITION, of=custom) is T
    assert required(Category.FAMILY_NEIGHBOUR, of=custom) is G
    assert required(Category.FAMILY_NEIGHBOUR, RiskGrade.RED, of=custom) is D
    assert required(Category.FAMILY_NEIGHBOUR, RiskGrade.ORANGE, of=custom) is G  # replaced, not merged
    assert required(Category.FAMILY_NEIGHBOUR, people=49, of=custom) is G
    assert required(Category.FAMILY_NEIGHBOUR, people=50, of=custom) is T
    assert custom.deadline(level=G, category=Category.CONSUMER) == 0.5
    assert custom.deadline(level=G, category=Category.OTHER) == 1
    assert custom.deadline(level=T, category=Category.LABOUR) == 4  # its override was replaced
    assert custom.sweep_escalates_from == {G}
    assert (custom.reopen_days, custom.attempts_before_logging_days) == (15, 0)
    # the default is left alone
    assert required(Category.LABOUR) is T
    assert P.reopen_days == 30


def test_from_config_rejects_unknown_settings():
    with pytest.raises(ValueError, match="escalate_after"):
        policy.from_config({"escalate_after": 3})


@pytest.mark.parametrize(
    "overrides",
    [
        {"minimum_level": {"labour": "county"}},
        {"minimum_level": {"gossip": "grid"}},
        {"risk_minimum_level": {"purple": "town"}},
        {"deadline_days": {"grid": "soon"}},
        {"deadline_days": {"grid": -1}},
        {"deadline_days": {"grid": "nan"}},
        {"deadline_days": {"grid": "inf"}},
        {"deadline_days": {"grid": 1e9}},
        {"risk_weights": {"red": "nan"}},
        {"category_deadline_days": {"labour": {"town": 0}}},
        {"minimum_level": "town"},
        {"sweep_escalates_from": "grid"},
        {"size_minimum_level": {"0": "town"}},
        {"risk_weights": {"red": -8}},
        {"yellow_after": "0.8"},
        {"yellow_after": 1.5},
        {"reopen_days": -1},
        {"reopen_days": 7.5},
        {"attempts_before_logging_days": -1},
        {"attempts_before_logging_days": "7"},
        # Found by an audit: it started, and every attempt recorded answered 500 (OverflowError).
        {"attempts_before_logging_days": 1_000_000},
        # Found by a policy audit: these started, and did something else than they said.
        {"risk_minimum_level": {"orange": "town", "red": "village"}},
        {"size_minimum_level": {"30": "district", "100": "town"}},
        {"size_minimum_level": {"30": "town", "030": "district"}},
        {"sweep_escalates_from": {"grid": True, "village": False, "town": False}},
        {"sweep_escalates_from": ["district"]},
        {"deadline_days": {"grid": True}},
        {"deadline_days": {"grid": "1_0"}},
        {"risk_weights": {"red": "8"}},
    ],
)
def test_from_config_rejects_unknown_values(overrides):
    [name] = overrides
    with pytest.raises(ValueError, match=name):
        policy.from_config(overrides)


def test_a_policy_that_makes_no_sense_stops_the_start_not_the_requests(tmp_path):
    """Before, a bad ``GRIDGOV_CASE_POLICY`` let the service start and then answered 500 to
    every case request."""
    from gridgov import create_app

    with pytest.raises(ValueError, match="yellow_after"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "INSTANCE_PATH": str(tmp_path),
                    "CASE_POLICY": {"yellow_after": "0.8"}})
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "INSTANCE_PATH": str(tmp_path),
                      "CASE_POLICY": {"reopen_days": 15}})
    assert app.extensions["gridgov.case_policy"].reopen_days == 15


def test_a_partial_deadline_override_keeps_the_other_levels():
    custom = policy.from_config({"deadline_days": {"grid": 2}})
    assert custom.deadline(level=G, category=Category.OTHER) == 2
    assert custom.deadline(level=V, category=Category.OTHER) == 2  # the default village deadline
