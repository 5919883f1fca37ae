"""Fixtures of the case tests: unit ids by code, and signed-in principals at each level."""

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from tests.cases.support import D, G11, T1, V1, V3
from tests.conftest import bearer_client


@pytest.fixture
def ids(small_tree) -> dict[str, int]:
    return {code: unit.id for code, unit in small_tree.items()}


@dataclass
class Actor:
    id: int
    client: object


@pytest.fixture
def actors(app, make_principal, small_tree):
    """grid worker (G11), two village stations (V1), a village station of another town (V3), the
    town centre (T1) and district command (D)."""

    def make(role, code):
        principal_id, token = make_principal(role, code)
        return Actor(principal_id, bearer_client(app, token))

    return SimpleNamespace(
        grid=make("grid_worker", G11),
        village=make("village_station", V1),
        village2=make("village_station", V1),
        far_village=make("village_station", V3),
        town=make("town_centre", T1),
        district=make("district_command", D),
    )


@pytest.fixture
def scratch_district(app, committed):
    """A committed district → town → village → grid → micro-grid of its own, for tests that need
    real commits on several connections (threads); everything made under it is deleted after.

    PostgreSQL serialises writers on row locks; SQLite on its database lock (``BEGIN IMMEDIATE``).
    """
    from gridgov.tree import service as tree_service
    from gridgov.tree.levels import Level
    from tests.conftest import delete_district

    units = {}
    parent = None
    for level, code in [(Level.DISTRICT, "990003"), (Level.TOWN, "990003001"), (Level.VILLAGE, "990003001001"),
                        (Level.GRID, "990003001001001"), (Level.MICROGRID, "990003001001001001")]:
        parent = tree_service.create_unit(committed, name=f"并发{level.value}", level=level, code=code,
                                          parent_id=parent.id if parent else None)
        units[level.value] = parent
    committed.commit()
    made = SimpleNamespace(**{name: unit.id for name, unit in units.items()}, path=units["district"].path)
    committed.close()  # the threads use connections of their own
    yield made

    committed.rollback()
    delete_district(committed, district_id=made.district, path=made.path)
