"""The life of a case: which action may happen from which status, and where it leads.

reported (上报) → accepted (受理) → in_progress (调处) → resolved (化解) → closed (核查结案), with
suspension (挂起), referral to legal channels (诉非衔接), rejection, and reopening on objection.
Escalation and delegation hand the case to another unit as ``reported``: it waits there to be
accepted, and that unit's clock starts. Guards that depend on more than the status (a reason
that holds, a verifier who is not the resolver) live in ``service``; this table says only what
the status allows.
"""

from dataclasses import dataclass

from gridgov.cases.enums import Status

R, A, P = Status.REPORTED, Status.ACCEPTED, Status.IN_PROGRESS
RESOLVED, CLOSED, SUSPENDED = Status.RESOLVED, Status.CLOSED, Status.SUSPENDED
REFERRED, REJECTED, REOPENED = Status.REFERRED, Status.REJECTED, Status.REOPENED


@dataclass(frozen=True)
class Transition:
    sources: frozenset
    target: Status | None  # None: the status stays as it is
    # Extra source statuses, allowed only for the escalation reasons named.
    only_for_reason: tuple = ()


TRANSITIONS: dict[str, Transition] = {
    "accept": Transition(frozenset({R, REOPENED}), A),
    "assign": Transition(frozenset({A, P}), P),
    "record_attempt": Transition(frozenset({A, P}), P),
    "resolve": Transition(frozenset({A, P}), RESOLVED),
    "escalate": Transition(frozenset({A, P}), R, only_for_reason=((R, "deadline_exceeded"),)),
    "delegate": Transition(frozenset({R, A, P}), R),
    "refer": Transition(frozenset({A, P}), REFERRED),
    "return_from_referral": Transition(frozenset({REFERRED}), P),
    "suspend": Transition(frozenset({R, A, P}), SUSPENDED),
    "resume": Transition(frozenset({SUSPENDED}), None),  # back to the status it was suspended in
    "close": Transition(frozenset({RESOLVED}), CLOSED),
    # Verification found it not settled (核查不通过, 退回重办): back to its owner in progress, or
    # where its owner was moved away or retired since, to the unit in use there, to accept.
    "send_back": Transition(frozenset({RESOLVED}), None),
    "reopen": Transition(frozenset({CLOSED}), REOPENED),
    "follow_up": Transition(frozenset({CLOSED}), None),
    # Not a reopened case: it was settled, and its objection is answered by settling it again
    # (rejecting it, as a duplicate or out of scope, took its settlement out of every figure:
    # a late closing too).
    "reject": Transition(frozenset({R, A}), REJECTED),
    # Corrections while the case lives: its grade (downward, or up within the owner's authority;
    # beyond it, escalate with beyond_authority), and the parties met after it was logged.
    "regrade": Transition(frozenset({R, A, P, REOPENED}), None),
    "add_party": Transition(frozenset({R, A, P, SUSPENDED, REFERRED, REOPENED}), None),
}

ACTIONS = tuple(TRANSITIONS)


def allowed(action: str, status: Status, *, reason: str | None = None) -> bool:
    transition = TRANSITIONS[action]
    if status in transition.sources:
        return True
    return (status, reason) in transition.only_for_reason


def sources(action: str, *, reason: str | None = None) -> frozenset:
    """The statuses ``action`` is allowed from (with ``reason``, those it opens too): what waits
    for an action is read from here, not written out again."""
    transition = TRANSITIONS[action]
    return transition.sources | {status for status, only in transition.only_for_reason if only == reason}


def allowed_from(status: Status) -> list[str]:
    """Every action the status allows (some only with a particular reason)."""
    return [
        action
        for action, transition in TRANSITIONS.items()
        if status in transition.sources or any(source == status for source, _ in transition.only_for_reason)
    ]


def described_from(status: Status) -> list[str]:
    """``allowed_from``, for people: an action allowed only with some reason says which."""
    described = []
    for action in allowed_from(status):
        transition = TRANSITIONS[action]
        reasons = [reason for source, reason in transition.only_for_reason if source == status]
        if status in transition.sources or not reasons:
            described.append(action)
        else:
            described.append(f"{action} (only with the reason {' or '.join(reasons)})")
    return described
