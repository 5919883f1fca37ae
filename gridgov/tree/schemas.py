import marshmallow as ma
from marshmallow import fields, validate

from gridgov.api import Boolean, Float, FullMatch, Id, Moment, PageArgs, Text, page_schema
from gridgov.tree.levels import Level

CODE = FullMatch(r"^[0-9]{6,18}$", error="A code is 6 to 18 digits.")


class UnitSchema(ma.Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)
    level = fields.Enum(Level, by_value=True, required=True)
    parent_id = fields.Integer(allow_none=True, required=True)
    district_id = fields.Integer(allow_none=True, required=True)
    path = fields.String(required=True, metadata={"description": "Materialized path; changes on a move."})
    depth = fields.Integer(required=True)
    city_code = fields.String(allow_none=True, metadata={"description": "A district's city code."})
    households = fields.Integer(allow_none=True)
    population = fields.Integer(allow_none=True)
    latitude = fields.Float(allow_none=True)
    longitude = fields.Float(allow_none=True)
    active = fields.Boolean(required=True)
    version = fields.Integer(required=True)
    created_at = Moment(required=True)
    updated_at = Moment(required=True)


UnitPageSchema = page_schema(UnitSchema, "UnitPage")


class UnitFieldsMixin:
    households = fields.Integer(strict=True, allow_none=True, validate=validate.Range(0, 10_000_000))
    population = fields.Integer(strict=True, allow_none=True, validate=validate.Range(0, 100_000_000))
    latitude = Float(allow_none=True, validate=validate.Range(-90, 90))
    longitude = Float(allow_none=True, validate=validate.Range(-180, 180))
    active = Boolean()


class UnitCreateSchema(UnitFieldsMixin, ma.Schema):
    name = Text(required=True, min_length=1, max_length=100, single_line=True)
    level = fields.Enum(Level, by_value=True, required=True)
    parent_id = Id(allow_none=True, metadata={"description": "Required for every level but district."})
    code = fields.String(
        validate=CODE,
        metadata={"description": "Required for districts, towns and villages; generated for "
                  "grids and micro-grids when omitted."},
    )
    city_code = fields.String(validate=CODE, allow_none=True)


class UnitPatchSchema(UnitFieldsMixin, ma.Schema):
    name = Text(min_length=1, max_length=100, single_line=True)
    version = fields.Integer(
        strict=True,
        validate=validate.Range(1, 2**31 - 1),
        metadata={"description": "When given and stale, the change is refused with 409."},
    )


class UnitListArgs(PageArgs):
    level = fields.Enum(Level, by_value=True)
    parent_id = Id(strict=False)
    q = Text(max_length=100, metadata={"description": "Part of a name, or the start of a code."})


class DescendantsArgs(PageArgs):
    level = fields.Enum(Level, by_value=True)


class LcaSchema(ma.Schema):
    unit_ids = fields.List(Id(), required=True, validate=validate.Length(1, 1000))


class MoveSchema(ma.Schema):
    parent_id = Id(required=True)


class ExportArgs(ma.Schema):
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "json"]))


class ImportResultSchema(ma.Schema):
    created = fields.Integer(required=True)
    updated = fields.Integer(required=True)
    moved = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)


class ExportRowSchema(ma.Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    level = fields.String(required=True)
    parent_code = fields.String(allow_none=True, required=True)
    households = fields.Integer(allow_none=True)
    population = fields.Integer(allow_none=True)
    latitude = fields.Float(allow_none=True)
    longitude = fields.Float(allow_none=True)
    active = fields.Boolean(required=True, metadata={"description": "false: retired (an import creates it so)."})
