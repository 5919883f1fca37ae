import marshmallow as ma
from marshmallow import fields, validate

from gridgov.api import Id, Moment, PageArgs, Text, page_schema
from gridgov.cases.enums import Category, RiskGrade
from gridgov.cases.schemas import enum
from gridgov.reports.models import Channel, RejectionReason, ReportStatus
from gridgov.reports.service import TRIAGE_ACTIONS


class ReportListArgs(PageArgs):
    status = enum(ReportStatus)
    overdue = fields.Boolean(metadata={"description": "Pending past the end of the working day they came in."})
    unit_id = Id(strict=False, metadata={"description": "Only reports made in this unit's subtree."})


class ReportSchema(ma.Schema):
    id = fields.Integer(required=True)
    tracking_code = fields.String(required=True)
    unit_id = fields.Integer(required=True)
    channel = enum(Channel, required=True)
    category = enum(Category, required=True)
    risk_grade = enum(RiskGrade, allow_none=True, required=True)
    description = fields.String(required=True)
    media_url = fields.String(allow_none=True, required=True)
    anonymous = fields.Boolean(required=True)
    reporter_name = fields.String(allow_none=True, required=True, metadata={"description": "Masked without pii:read."})
    phone = fields.String(allow_none=True, required=True, metadata={"description": "Masked without pii:read."})
    email = fields.String(allow_none=True, required=True,
                          metadata={"description": "Given over Open311 only; masked without pii:read."})
    latitude = fields.Float(allow_none=True, required=True)
    longitude = fields.Float(allow_none=True, required=True)
    address = fields.String(allow_none=True, required=True)
    status = enum(ReportStatus, required=True)
    submitted_at = Moment(required=True)
    triage_due_at = Moment(required=True, metadata={"description": "The end of the working day it came in."})
    triage_due_provisional = fields.Boolean(required=True, metadata={
        "description": "The due time was counted past the installed holiday data (Monday to Friday less the "
                       "statutory holidays); the sweep counts it again once the data is there."})
    overdue = fields.Boolean(required=True, metadata={"description": "Pending past triage_due_at."})
    handled_at = Moment(allow_none=True, required=True)
    handled_by_id = fields.Integer(allow_none=True, required=True)
    case_id = fields.Integer(allow_none=True, required=True, metadata={"description": "The case it became or joined."})
    merged_into_id = fields.Integer(allow_none=True, required=True)
    rejection_reason = enum(RejectionReason, allow_none=True, required=True)
    rejection_note = fields.String(allow_none=True, required=True)


ReportPageSchema = page_schema(ReportSchema, "ReportPage")


class TriageSchema(ma.Schema):
    """One action of the triage desk; the fields it takes depend on the action."""

    action = fields.String(required=True, validate=validate.OneOf(list(TRIAGE_ACTIONS)), metadata={
        "description": "; ".join(f"`{name}`: {action.meaning}" for name, action in TRIAGE_ACTIONS.items()),
    })
    category = enum(Category)
    risk_grade = enum(RiskGrade)
    report_id = Id(metadata={"description": "merge: the report this one duplicates."})
    case_id = Id(metadata={"description": "merge: the case this one duplicates."})
    reason = enum(RejectionReason, metadata={"description": "reject: why."})
    note = Text(max_length=500)
    title = Text(min_length=1, max_length=200, single_line=True,
                 metadata={"description": "dispatch: the case's title (default: category and unit)."})
    people_involved = fields.Integer(strict=True, validate=validate.Range(0, 100_000))


class ReportCodeSchema(ma.Schema):
    unit_id = fields.Integer(required=True)
    token = fields.String(required=True)
    url = fields.String(required=True, metadata={"description": "What the QR code carries: the report page."})
    created_at = Moment(required=True)
