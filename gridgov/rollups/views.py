"""``/api/v1/units/{id}/rollup`` (+ ``.csv``), ``/trend``, ``/riskmap.geojson`` and
``/api/v1/cases.csv``."""

from flask import Response, json
from flask.views import MethodView

from gridgov.api import TEXT, Blueprint
from gridgov.cases import service as case_service
from gridgov.cases.schemas import CaseFilterArgs
from gridgov.db import db, read_snapshot
from gridgov.errors import RuleViolation
from gridgov.rollups import export, service
from gridgov.rollups.schemas import RollupSchema, TrendArgs, TrendSchema, WindowArgs
from gridgov.tree import service as tree_service

DEFINITIONS_DOC = "\n".join(f"* `{name}`: {meaning}" for name, meaning in service.DEFINITIONS.items())

blp = Blueprint("rollups", __name__, url_prefix="/api/v1",
                description="District command's figures: rollups, trends, the risk map, CSV exports.\n\n"
                            + DEFINITIONS_DOC)


def _window(args) -> service.Window:
    return service.Window(start=args["start"], end=args["end"]).check()


@blp.route("/units/<id:unit_id>/rollup")
class Rollup(MethodView):
    @blp.arguments(WindowArgs, location="query")
    @blp.response(200, RollupSchema)
    @blp.doc(description="The unit's figures and each child's (cases counted where they originated, so the "
                         "children add up to the unit). Without `from`/`to` the window is all time.\n\n"
                         + DEFINITIONS_DOC)
    def get(self, args, unit_id):
        """The unit's figures and its children's, for the window (`from`, `to`; default: all time)."""
        with read_snapshot(db.session):
            unit = tree_service.get_unit(db.session, unit_id=unit_id)
            return service.rollup(db.session, unit=unit, window=_window(args))


@blp.route("/units/<id:unit_id>/rollup.csv")
class RollupCsv(MethodView):
    @blp.arguments(WindowArgs, location="query")
    @blp.response(200, TEXT, content_type="text/csv",
                  description="UTF-8 with a BOM: spreadsheets open the Chinese text.")
    def get(self, args, unit_id):
        """The rollup as a table: the unit's row, then one per child."""
        window = _window(args)
        with read_snapshot(db.session):
            unit = tree_service.get_unit(db.session, unit_id=unit_id)
            result = service.rollup(db.session, unit=unit, window=window)
        # Named by its window too: a clerk's monthly downloads are told apart by their names.
        period = "" if window.all_time else f"-{window.start or 'start'}-to-{window.end or 'now'}"
        return export.csv_response(export.rollup_rows(result), filename=f"rollup-{unit.code}{period}.csv")


@blp.route("/units/<id:unit_id>/trend")
class Trend(MethodView):
    @blp.arguments(TrendArgs, location="query")
    @blp.response(200, TrendSchema)
    def get(self, args, unit_id):
        """New, resolved and overdue cases per week or month (default: the last 26 weeks or
        13 months). Overdue: closed late in the period, or open past a deadline that fell in it."""
        with read_snapshot(db.session):
            unit = tree_service.get_unit(db.session, unit_id=unit_id)
            items = service.trend(db.session, unit=unit, interval=args["interval"], window=_window(args))
        return {"unit_id": unit.id, "interval": args["interval"], "items": items}


# The risk map's GeoJSON (RFC 7946), as service.riskmap builds it.
RISK_MAP = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {"type": "array", "items": {
            "type": "object",
            "required": ["type", "id", "geometry", "properties"],
            "properties": {
                "type": {"type": "string", "enum": ["Feature"]},
                "id": {"type": "integer", "description": "The child unit's id."},
                "geometry": {
                    "type": "object", "nullable": True, "description": "Null for a unit without a centroid.",
                    "properties": {"type": {"type": "string", "enum": ["Point"]},
                                   "coordinates": {"type": "array", "items": {"type": "number"}, "minItems": 2,
                                                   "maxItems": 2, "description": "[longitude, latitude]"}},
                },
                "properties": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "code": {"type": "string"}, "name": {"type": "string"},
                    "level": {"type": "string"},
                    "own": {"type": "boolean", "description": "The unit's own cases (in no child), not a child's."},
                    "cases": {"type": "integer"}, "open": {"type": "integer"},
                    "overdue": {"type": "integer"},
                    "deadline_colours": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "risk_score": {"type": "number"},
                }},
            },
        }},
    },
}


@blp.route("/units/<id:unit_id>/riskmap.geojson")
class RiskMap(MethodView):
    @blp.response(200, RISK_MAP, content_type="application/geo+json", description="A GeoJSON FeatureCollection.")
    def get(self, unit_id):
        """The children as points at their centroids, with counts and risk score (see the rollup)."""
        with read_snapshot(db.session):
            unit = tree_service.get_unit(db.session, unit_id=unit_id)
            features = service.riskmap(db.session, unit=unit)
        return Response(json.dumps(features), mimetype="application/geo+json")


@blp.route("/cases.csv")
class CasesCsv(MethodView):
    @blp.arguments(CaseFilterArgs, location="query")
    @blp.response(200, TEXT, content_type="text/csv",
                  description="UTF-8 with a BOM: spreadsheets open the Chinese text.")
    def get(self, args):
        """Every case the filters of `GET /cases` select (all pages, up to 100,000 rows; more is
        refused, 422, rather than cut short), one row each; personal data is not exported."""
        sort = args.pop("sort")
        rows, _key = case_service.list_cases(db.session, filters=args, sort=sort, after=None, limit=export.MAX_ROWS,
                                             columns=export.CASE_COLUMNS)
        if len(rows) > export.MAX_ROWS:  # a spreadsheet that looks whole but is not would mislead
            raise RuleViolation(f"More than {export.MAX_ROWS:,} cases match; narrow the filters "
                                "(created_from and created_to, a unit, a status) and export in parts.")
        return export.csv_response(export.case_rows(db.session, rows), filename="cases.csv")
