"""The transition table (pure: no database).

The expectations (``support.EXPECTED``) are written out from the issue's account of the lifecycle,
not read back from ``transitions.TRANSITIONS``: a change to the table the issue does not call for
fails.
"""

import pytest

from gridgov.cases import transitions
from gridgov.cases.enums import EscalationReason, Status
from gridgov.cases.transitions import ACTIONS, TRANSITIONS, allowed, allowed_from
from tests.cases.support import EXPECTED

S = Status

REASONS = [None, *[reason.value for reason in EscalationReason]]


def test_the_table_names_every_action_of_the_issue_and_no_other():
    assert set(ACTIONS) == set(EXPECTED)


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_allowed_agrees_with_the_table_for_every_action_and_status(action, status):
    sources, _target = EXPECTED[action]
    expected = status in sources
    if action != "escalate":
        for reason in REASONS:  # a reason changes nothing for the other actions
            assert allowed(action, status, reason=reason) is expected
    else:
        # From reported, escalation holds only because the deadline there passed.
        for reason in REASONS:
            wanted = expected or (status is S.REPORTED and reason == "deadline_exceeded")
            assert allowed(action, status, reason=reason) is wanted, reason


@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_each_action_leads_where_the_lifecycle_says(action):
    assert TRANSITIONS[action].target == EXPECTED[action][1]


@pytest.mark.parametrize("status", list(Status))
def test_allowed_from_lists_exactly_the_actions_allowed(status):
    listed = allowed_from(status)
    assert len(listed) == len(set(listed))
    expected = {action for action, (sources, _) in EXPECTED.items() if status in sources}
    if status is S.REPORTED:
        expected.add("escalate")  # with deadline_exceeded only
    assert set(listed) == expected
    # and every action listed is allowed with some reason
    assert all(any(allowed(action, status, reason=reason) for reason in REASONS) for action in listed)


def test_escalating_a_reported_case_needs_deadline_exceeded():
    assert allowed("escalate", S.REPORTED, reason="deadline_exceeded")
    for reason in ("mediation_failed", "beyond_authority", "cross_boundary", None):
        assert not allowed("escalate", S.REPORTED, reason=reason)
    # ... and deadline_exceeded opens no other status
    for status in (S.SUSPENDED, S.REFERRED, S.RESOLVED, S.CLOSED, S.REJECTED, S.REOPENED):
        assert not allowed("escalate", status, reason="deadline_exceeded")


def test_final_and_waiting_statuses():
    # Nothing happens to a rejected case any more; a closed one can only be followed up or reopened.
    assert allowed_from(S.REJECTED) == []
    assert set(allowed_from(S.CLOSED)) == {"reopen", "follow_up"}
    assert set(allowed_from(S.RESOLVED)) == {"close", "send_back"}
    assert set(allowed_from(S.SUSPENDED)) == {"resume", "add_party"}
    assert set(allowed_from(S.REFERRED)) == {"return_from_referral", "add_party"}


def test_an_unknown_action_is_not_silently_refused():
    with pytest.raises(KeyError):
        transitions.allowed("approve", S.REPORTED)
