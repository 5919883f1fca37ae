"""The role table, written out as the issues give it: ``test_matrix`` derives what it expects from
``ROLE_PERMISSIONS`` itself, so a permission added to a role by mistake passed it (a specialist
given rollups:read would read every unit's figures)."""

import pytest

from gridgov.auth.permissions import ROLE_PERMISSIONS, Role

HANDLING = {"units:read", "cases:read", "cases:log", "cases:attempt", "cases:handle", "people:read", "rollups:read"}

EXPECTED = {
    Role.GRID_WORKER: {"units:read", "cases:read", "cases:log", "cases:attempt", "rollups:read"},
    Role.VILLAGE_STATION: HANDLING,
    Role.TOWN_CENTRE: HANDLING,
    Role.DISTRICT_COMMAND: HANDLING | {"units:write", "pii:read", "people:write", "people:plan", "reports:read",
                                       "reports:triage"},
    Role.TRIAGE_CLERK: {"units:read", "cases:read", "reports:read", "reports:triage", "rollups:read"},
    Role.SPECIALIST: {"units:read", "cases:read", "cases:attempt"},
    Role.AUDITOR: {"units:read", "audit:read", "pii:read", "cases:read", "people:read", "reports:read", "rollups:read"},
    Role.ADMIN: {"units:read", "units:write", "principals:manage", "tokens:manage", "audit:read"},
    Role.INTEGRATION: {"reports:file"},
}


def test_every_role_is_written_out():
    assert set(EXPECTED) == set(Role)


@pytest.mark.parametrize("role", list(Role))
def test_a_role_may_do_what_the_issues_give_it_and_nothing_more(role):
    assert ROLE_PERMISSIONS[role] == EXPECTED[role]
