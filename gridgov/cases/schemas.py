import marshmallow as ma
from marshmallow import fields, validate

from gridgov.api import PAGE_SIZE_MAX, Decimal, FullMatch, Id, Integer, Moment, PageArgs, Phone, Text
from gridgov.cases.enums import (
    Category,
    DeadlineColour,
    EscalationReason,
    HandlingLevel,
    Outcome,
    PartyRole,
    ReferralChannel,
    RejectionReason,
    RiskGrade,
    Source,
    Status,
)
from gridgov.cases.policy import DEFAULT
from gridgov.cases.transitions import ACTIONS, TRANSITIONS

ID_NUMBER = FullMatch(r"^[0-9A-Za-z]{6,20}$", error="Not an identity document number.")


def _amount(value) -> None:
    # Not validate.Range: apispec would print its bounds as strings, which the schema forbids.
    if not 0 <= value < 10**12:
        raise ma.ValidationError("From 0 to 999,999,999,999.99 yuan.")


def enum(cls, **kwargs):
    return fields.Enum(cls, by_value=True, **kwargs)


class PartyInSchema(ma.Schema):
    role = enum(PartyRole, required=True)
    name = Text(required=True, min_length=1, max_length=100, single_line=True)
    phone = Phone(allow_none=True)
    id_number = fields.String(validate=ID_NUMBER, allow_none=True,
                              metadata={"description": "Stored only as a keyed hash and its last four characters."})
    home_unit_id = Id(allow_none=True)


class PartyOutSchema(ma.Schema):
    id = fields.Integer(required=True)
    role = enum(PartyRole, required=True)
    name = fields.String(required=True, metadata={"description": "Masked without pii:read."})
    phone = fields.String(allow_none=True, required=True, metadata={"description": "Masked without pii:read."})
    id_number_last4 = fields.String(allow_none=True, required=True)
    home_unit_id = fields.Integer(allow_none=True, required=True)


class CaseCreateSchema(ma.Schema):
    title = Text(required=True, min_length=1, max_length=200, single_line=True)
    description = Text(load_default="", max_length=5000)
    category = enum(Category, required=True)
    risk_grade = enum(RiskGrade, required=True)
    source = enum(Source, required=True)
    origin_unit_id = Id(required=True)
    people_involved = fields.Integer(strict=True, load_default=1, validate=validate.Range(0, 100_000))
    amount_in_dispute = Decimal(places=2, allow_none=True, validate=_amount, allow_nan=False, metadata={
        "description": "Yuan, from 0 to 999,999,999,999.99, to the fen (two decimal places at most)."})
    parties = fields.List(fields.Nested(PartyInSchema), load_default=list, validate=validate.Length(max=50))


class AttachmentSchema(ma.Schema):
    id = fields.Integer(required=True)
    filename = fields.String(required=True)
    content_type = fields.String(required=True)
    size = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    uploaded_at = Moment(required=True)


class CaseSchema(ma.Schema):
    id = fields.Integer(required=True)
    reference = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    category = enum(Category, required=True)
    risk_grade = enum(RiskGrade, required=True)
    people_involved = fields.Integer(required=True)
    amount_in_dispute = fields.Decimal(places=2, as_string=True, allow_none=True, required=True,
                                       metadata={"type": "string", "format": "decimal", "example": "12000.00",
                                                 "description": "Yuan, as a decimal string (exact, unlike a JSON number)."})
    source = enum(Source, required=True)
    origin_unit_id = fields.Integer(required=True)
    owner_unit_id = fields.Integer(required=True)
    owner_level = enum(HandlingLevel, required=True)
    highest_level = enum(HandlingLevel, required=True)
    resolved_level = enum(HandlingLevel, allow_none=True, required=True)
    assignee_id = fields.Integer(allow_none=True, required=True)
    studio_id = fields.Integer(allow_none=True, required=True)
    status = enum(Status, required=True)
    arrived_at = Moment(required=True)
    settled_at = Moment(allow_none=True, required=True, metadata={"description": (
        "When a successful mediation was first recorded since the case came to its owner: it may be resolved.")})
    deadline_at = Moment(allow_none=True, required=True)
    yellow_at = Moment(allow_none=True, required=True, metadata={"description": (
        "When the case turns yellow (`deadline_colour`), as `deadline_at` when it turns red: time changes the "
        "colour, not `updated_at`, so an app that keeps cases reads it off these two.")})
    deadline_provisional = fields.Boolean(required=True, metadata={"description": (
        "Counted beyond the official calendar's data (Monday–Friday less the statutory holidays); on a "
        "closed case, whether it closed on time is judged again once the data is there.")})
    deadline_colour = enum(DeadlineColour, allow_none=True, required=True, attribute="deadline_colour")
    resolved_at = Moment(allow_none=True, required=True)
    closed_at = Moment(allow_none=True, required=True)
    referral_channel = enum(ReferralChannel, allow_none=True, required=True)
    referral_reference = fields.String(allow_none=True, required=True)
    rejection_reason = enum(RejectionReason, allow_none=True, required=True)
    rejection_note = fields.String(allow_none=True, required=True)
    satisfaction = fields.Integer(allow_none=True, required=True)
    parties = fields.List(fields.Nested(PartyOutSchema), required=True, attribute="parties_view")
    attachments = fields.List(fields.Nested(AttachmentSchema), required=True)
    created_at = Moment(required=True)
    updated_at = Moment(required=True)
    version = fields.Integer(required=True)


class CasePageSchema(ma.Schema):
    items = fields.List(fields.Nested(CaseSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class CaseFilterArgs(ma.Schema):
    """What selects cases: the list's filters and order, and the CSV export's."""

    reference = Text(max_length=32, metadata={"description": "The case with this public reference (NX-2026-000123), "
                                                             "as a hotline caller or a court quotes it."})
    origin_unit_id = Id(strict=False, metadata={"description": "Cases that happened in this unit's subtree."})
    owner_unit_id = Id(strict=False, metadata={"description": "Cases handled in this unit's subtree."})
    status = fields.List(enum(Status), metadata={"description": "Repeat for several."})
    category = enum(Category)
    risk_grade = enum(RiskGrade)
    owner_level = enum(HandlingLevel)
    assignee_id = Id(strict=False, metadata={"description": "Cases assigned to this principal (an account's id, "
                                                            "not a worker's)."})
    deadline_colour = enum(DeadlineColour, metadata={
        "description": "Cases whose deadline stands (being handled, or resolved and waiting to be verified; a "
                       "suspended or referred case has none), by how much of it is used: green below "
                       f"{DEFAULT.yellow_after:.0%} (by default: the case policy says), yellow up to the deadline, "
                       "red past it."})
    created_from = Moment(metadata={"description": "Logged at or after this moment."})
    created_to = Moment(metadata={"description": "Logged before this moment (not at it)."})
    updated_from = Moment(metadata={"description": (
        "Changed at or after this moment (an action, the sweep's mark, a file attached): what an app that keeps "
        "cases on the phone fetches again. Pass the `Date` of the answer it last synced with, less a minute: a "
        "change is stamped when it is made and seen when it commits, seconds later (compare `version` to skip "
        "what you have). A case that leaves your scope (its unit moved away) is not listed: sync in full now "
        "and then. The colour changes with time alone: see `yellow_at`.")})
    closed_from = Moment(metadata={"description": "Closed at or after this moment."})
    closed_to = Moment(metadata={"description": "Closed before this moment (not at it)."})
    sort = fields.String(load_default="-created_at", validate=validate.OneOf(["-created_at", "created_at", "deadline_at"]),
                         metadata={"description": "`deadline_at` lists only cases whose deadline stands (see "
                                                  "`deadline_colour`)."})

    @ma.validates_schema
    def _ranges_run_forwards(self, data, **_kwargs):
        # An empty answer would say "none", where the range says nothing at all.
        for start, end in (("created_from", "created_to"), ("closed_from", "closed_to")):
            if data.get(start) and data.get(end) and data[end] < data[start]:
                raise ma.ValidationError(f"{end} lies before {start}.", field_name=end)


class CaseListArgs(PageArgs, CaseFilterArgs):
    pass


# What each action needs and accepts, as data: the view checks the body against it.
ACTION_FIELDS = {
    "accept": (set(), {"note"}),
    "assign": (set(), {"assignee_id", "studio_id", "note"}),
    "record_attempt": ({"outcome"}, {"attempted_at", "by", "notes"}),
    "resolve": (set(), {"note"}),
    "escalate": ({"reason"}, {"note", "risk_grade", "people_involved", "category"}),
    "delegate": ({"unit_id", "note"}, set()),  # the note says why it goes down
    "refer": ({"channel"}, {"external_reference", "studio_id", "note"}),
    "return_from_referral": ({"outcome"}, {"note"}),
    "suspend": ({"reason"}, set()),
    "resume": (set(), {"reason"}),
    "close": (set(), {"note"}),
    "send_back": ({"reason"}, set()),  # what the verification found
    "reopen": ({"reason"}, set()),
    "follow_up": ({"satisfaction"}, {"comment"}),
    "reject": ({"reason"}, {"note"}),
    "regrade": ({"note"}, {"risk_grade", "category", "people_involved"}),  # the note says why
    "add_party": ({"party"}, set()),
}
# Actions that need at least one of several fields.
ONE_OF = {"assign": ("assignee_id", "studio_id"), "regrade": ("risk_grade", "category", "people_involved")}
CHOICES = {
    ("escalate", "reason"): [reason.value for reason in EscalationReason],
    ("reject", "reason"): [reason.value for reason in RejectionReason],
    ("record_attempt", "outcome"): [outcome.value for outcome in Outcome],
}
assert set(ACTION_FIELDS) == set(ACTIONS)


def _needed_by(name: str) -> str:
    return ", ".join(action for action, (required, _optional) in ACTION_FIELDS.items() if name in required)


# Where an action that names no target status leaves the case, when not where it was.
TARGET_WORDS = {
    "resume": "the status it was suspended in",
    "send_back": "in_progress (reported, at the unit that handles such cases there now, where the one that resolved "
                 "it was moved away or retired since)",
}


def _action_row(action: str) -> str:
    transition = TRANSITIONS[action]
    sources = [status for status in Status if status in transition.sources]
    sources += [f"{status} (only for {reason})" for status, reason in transition.only_for_reason]
    required, optional = ACTION_FIELDS[action]
    needs = sorted(required) + ([" or ".join(ONE_OF[action])] if action in ONE_OF else [])
    to = transition.target or TARGET_WORDS.get(action, "unchanged")
    return (f"| `{action}` | {', '.join(sources)} | {to} | {', '.join(needs) or '–'} | "
            f"{', '.join(sorted(optional - set(ONE_OF.get(action, ())))) or '–'} |")


# The transition table and the fields table, for people reading the API's docs.
ACTIONS_DESCRIPTION = "\n".join([
    "`action` says what is done; the status it is done from, the one it leads to, and the other fields it "
    "needs and takes are these. An action the status does not allow answers 409 listing those it does; a stale "
    "`version` answers 409; an escalation without a reason that holds answers 422.",
    "",
    "| action | from | to | needs | takes too |",
    "|---|---|---|---|---|",
    *(_action_row(action) for action in ACTIONS),
])


class ActionSchema(ma.Schema):
    """One action on a case; which fields it takes depends on the action."""

    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    version = fields.Integer(strict=True, required=True, validate=validate.Range(1, 2**31 - 1),
                             metadata={"description": "The version you saw; stale → 409."})
    note = Text(max_length=2000, metadata={"description": f"Why; required by {_needed_by('note')}."})
    # A reason or an outcome, when given, says something: blank is refused, not recorded.
    reason = Text(max_length=500, min_length=1, metadata={"description": (
        f"escalate: {' | '.join(EscalationReason)}; reject: {' | '.join(RejectionReason)}; "
        "suspend, reopen, send_back (required), resume: free text.")})
    assignee_id = Id()
    studio_id = Id(metadata={"description": "assign, refer: the mediation studio or expert team."})
    unit_id = Id(metadata={"description": "delegate: the unit below the owner that takes the case."})
    outcome = Text(max_length=100, min_length=1, metadata={"description": f"record_attempt: {' | '.join(Outcome)}; "
                                             "return_from_referral: what came back (e.g. judgment)."})
    attempted_at = Moment(metadata={"description": (
        "record_attempt: when it happened (default: now), not in the future; not before the case came to its "
        "owner, or, until it is first handed on, up to the policy's attempts_before_logging_days "
        f"({DEFAULT.attempts_before_logging_days} by default) before it was logged: mediated on the spot, logged "
        "afterwards. A few minutes' clock error either way is allowed.")})
    by = Text(max_length=100, single_line=True,
              metadata={"description": "record_attempt: who mediated (default: you)."})
    notes = Text(max_length=5000)
    channel = enum(ReferralChannel)
    external_reference = Text(max_length=100, single_line=True)
    satisfaction = fields.Integer(strict=True, validate=validate.Range(1, 5))
    comment = Text(max_length=2000)
    risk_grade = enum(RiskGrade, metadata={"description": "escalate, regrade: the case's new risk grade."})
    people_involved = fields.Integer(strict=True, validate=validate.Range(0, 100_000))
    category = enum(Category, metadata={"description": "escalate, regrade: the case's new category."})
    party = fields.Nested(PartyInSchema, metadata={"description": "add_party: a party met after the case was logged."})


class EventSchema(ma.Schema):
    id = fields.Integer(required=True)
    at = Moment(required=True)
    actor = fields.String(required=True)
    action = fields.String(required=True)
    from_status = enum(Status, allow_none=True, required=True)
    to_status = enum(Status, allow_none=True, required=True)
    from_owner_unit_id = fields.Integer(allow_none=True, required=True)
    to_owner_unit_id = fields.Integer(allow_none=True, required=True)
    reason = fields.String(allow_none=True, required=True)
    details = fields.Dict(required=True)


class TimelineSchema(ma.Schema):
    items = fields.List(fields.Nested(EventSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class InboxArgs(PageArgs):
    limit = Integer(load_default=100, validate=validate.Range(1, PAGE_SIZE_MAX),
                           metadata={"description": f"Items per page (default 100, at most {PAGE_SIZE_MAX})."})
