import marshmallow as ma
from marshmallow import fields, validate

from gridgov.api import Boolean, Float, Id, PageArgs, Phone, Text, page_schema
from gridgov.cases.enums import Category
from gridgov.people.models import WorkerRole


class WorkerSchema(ma.Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    phone = fields.String(allow_none=True, required=True, metadata={"description": "Masked without pii:read."})
    role = fields.Enum(WorkerRole, by_value=True, required=True)
    home_unit_id = fields.Integer(required=True)
    capacity = fields.Integer(required=True)
    active = fields.Boolean(required=True)
    principal_id = fields.Integer(allow_none=True, required=True)
    version = fields.Integer(required=True)


WorkerPageSchema = page_schema(WorkerSchema, "WorkerPage")


class WorkerCreateSchema(ma.Schema):
    name = Text(required=True, min_length=1, max_length=100, single_line=True)
    phone = Phone(allow_none=True)
    role = fields.Enum(WorkerRole, by_value=True, required=True)
    home_unit_id = Id(required=True)
    capacity = fields.Integer(strict=True, load_default=1, validate=validate.Range(0, 1000))
    principal_id = Id(allow_none=True)


class WorkerPatchSchema(ma.Schema):
    name = Text(min_length=1, max_length=100, single_line=True)
    phone = Phone(allow_none=True)
    capacity = fields.Integer(strict=True, validate=validate.Range(0, 1000))
    active = Boolean(metadata={"description": "false deactivates: their units are re-planned, or 422."})
    home_unit_id = Id(metadata={"description": "Where they are based; only while they cover nothing (409)."})
    principal_id = Id(allow_none=True, metadata={"description": "Their account; null unlinks it."})
    version = fields.Integer(strict=True, validate=validate.Range(1, 2**31 - 1))


class WorkerListArgs(PageArgs):
    role = fields.Enum(WorkerRole, by_value=True)
    home_unit_id = Id(strict=False)
    active = fields.Boolean()


class StudioSchema(ma.Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    specialties = fields.List(fields.String(), required=True)
    unit_id = fields.Integer(required=True)
    member_ids = fields.Function(lambda studio: studio.member_ids, required=True,
                                 metadata={"type": "array", "items": {"type": "integer"}})
    version = fields.Integer(required=True)


class StudioListSchema(ma.Schema):
    items = fields.List(fields.Nested(StudioSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class StudioCreateSchema(ma.Schema):
    name = Text(required=True, min_length=1, max_length=100, single_line=True)
    unit_id = Id(required=True)
    specialties = fields.List(fields.Enum(Category, by_value=True), load_default=list)
    member_ids = fields.List(Id(), load_default=list, validate=validate.Length(max=500))


class StudioPatchSchema(ma.Schema):
    name = Text(min_length=1, max_length=100, single_line=True)
    specialties = fields.List(fields.Enum(Category, by_value=True))
    member_ids = fields.List(Id(), validate=validate.Length(max=500))
    version = fields.Integer(strict=True, validate=validate.Range(1, 2**31 - 1),
                             metadata={"description": "The version you read: a stale one answers 409."})


class AssignmentSchema(ma.Schema):
    id = fields.Integer(required=True)
    worker_id = fields.Integer(required=True)
    worker_name = fields.Function(lambda assignment: assignment.worker.name, required=True, metadata={"type": "string"})
    unit_id = fields.Integer(required=True)
    duty = fields.String(required=True)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(allow_none=True, required=True)


class AssignmentListSchema(ma.Schema):
    items = fields.List(fields.Nested(AssignmentSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class HistoryArgs(ma.Schema):
    history = fields.Boolean(load_default=False, metadata={"description": "Ended assignments too."})


class PlanRequestSchema(ma.Schema):
    scope_unit_id = Id(required=True)
    apply = Boolean(load_default=False)
    change_cost = Float(allow_none=True, validate=validate.Range(0, 10_000),
                               metadata={"description": "Cost of changing one assignment, in load units "
                                         "(default: the load of an average micro-grid)."})


class PlanItemSchema(ma.Schema):
    duty = fields.String(required=True)
    unit_id = fields.Integer(required=True)
    worker_id = fields.Integer(required=True)


class PlanSchema(ma.Schema):
    kept = fields.List(fields.Nested(PlanItemSchema), required=True)
    added = fields.List(fields.Nested(PlanItemSchema), required=True)
    ended = fields.List(fields.Nested(PlanItemSchema), required=True)
    load = fields.Dict(keys=fields.String(), values=fields.Float(), required=True,
                       metadata={"description": "min, median and max load per worker"})
    coverage = fields.Dict(required=True)


class CoverageSchema(ma.Schema):
    uncovered = fields.List(fields.Dict(), required=True)
    overloaded = fields.List(fields.Dict(), required=True)
    underloaded = fields.List(fields.Dict(), required=True)
    median_load = fields.Float(required=True)
