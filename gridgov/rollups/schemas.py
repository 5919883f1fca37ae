import marshmallow as ma
from marshmallow import fields, validate

from gridgov.rollups.service import DEFINITIONS
from gridgov.tree.schemas import UnitSchema


def _count_map(description: str):
    return fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                       metadata={"description": description})


class WindowArgs(ma.Schema):
    # `from` is a Python keyword: the field is start, read from the query as `from`.
    start = fields.Date(data_key="from", load_default=None, metadata={"description": "First local date of the window."})
    end = fields.Date(data_key="to", load_default=None, metadata={"description": "Last local date of the window."})


class TrendArgs(WindowArgs):
    interval = fields.String(load_default="month", validate=validate.OneOf(["week", "month"]))


class PercentilesSchema(ma.Schema):
    median = fields.Float(allow_none=True, required=True)
    p90 = fields.Float(allow_none=True, required=True)


class ColoursSchema(ma.Schema):
    green = fields.Integer(required=True)
    yellow = fields.Integer(required=True)
    red = fields.Integer(required=True)


class TotalsSchema(ma.Schema):
    class Meta:
        ordered = True

    cases = fields.Integer(required=True)
    open = fields.Integer(required=True)
    new = fields.Integer(required=True)
    resolved = fields.Integer(required=True)
    closed = fields.Integer(required=True)
    due_to_close = fields.Integer(required=True)
    closed_on_time = fields.Integer(required=True)
    closure_rate = fields.Float(required=True)
    on_time_closure_rate = fields.Float(required=True)
    local_resolution_rate = fields.Float(required=True)
    resolved_at_or_below_town_rate = fields.Float(required=True)
    resolved_by_level = _count_map("cases resolved in the window, by the level that resolved them")
    escalations = _count_map(DEFINITIONS["escalations"])
    resolve_working_days = fields.Nested(PercentilesSchema, required=True)
    deadline_colours = fields.Nested(ColoursSchema, required=True)
    overdue = fields.Integer(required=True)
    satisfaction = fields.Float(allow_none=True, required=True)
    risk_score = fields.Float(required=True)
    by_status = _count_map("cases by status, now")
    by_category = _count_map("cases by category, now")
    by_risk_grade = _count_map("cases by risk grade, now")
    by_owner_level = _count_map("cases by the level that owns them, now")


class UnitTotalsSchema(ma.Schema):
    unit = fields.Nested(UnitSchema, required=True)
    totals = fields.Nested(TotalsSchema, required=True)


class RollupSchema(UnitTotalsSchema):
    own = fields.Nested(TotalsSchema, required=True, metadata={"description": DEFINITIONS["own"]})
    children = fields.List(fields.Nested(UnitTotalsSchema), required=True)


class TrendPointSchema(ma.Schema):
    period = fields.Date(required=True, metadata={"description": "The period's first day (a Monday, or the 1st)."})
    new = fields.Integer(required=True)
    resolved = fields.Integer(required=True)
    overdue = fields.Integer(required=True)


class TrendSchema(ma.Schema):
    unit_id = fields.Integer(required=True)
    interval = fields.String(required=True)
    items = fields.List(fields.Nested(TrendPointSchema), required=True)
