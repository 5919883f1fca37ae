"""``/api/v1/units``: the unit tree over HTTP."""

import json
from functools import partial

from flask import Response, request, stream_with_context
from flask.views import MethodView

from gridgov.auth.scope import current_scope_path
from gridgov.api import Blueprint, decode_cursor, page, page_by_id, page_limit
from gridgov.db import db
from gridgov.errors import UnsupportedMediaType
from gridgov.tree import service, transfer
from gridgov.tree.schemas import (
    DescendantsArgs,
    ExportArgs,
    ExportRowSchema,
    ImportResultSchema,
    LcaSchema,
    MoveSchema,
    UnitCreateSchema,
    UnitListArgs,
    UnitPageSchema,
    UnitPatchSchema,
    UnitSchema,
)

blp = Blueprint("units", __name__, url_prefix="/api/v1/units", description="The administrative tree: district → town → village → grid → micro-grid.")


@blp.route("")
class Units(MethodView):
    @blp.arguments(UnitListArgs, location="query")
    @blp.response(200, UnitPageSchema)
    def get(self, args):
        """List units by id; filter by level, parent, or `q` (part of a name, start of a code)."""
        return page_by_id(args, partial(service.list_units, db.session))

    @blp.arguments(UnitCreateSchema)
    @blp.response(201, UnitSchema)
    def post(self, data):
        """Create a unit under a parent exactly one level up (a district has none)."""
        unit = service.create_unit(db.session, **data)
        db.session.commit()
        return unit


@blp.route("/<id:unit_id>")
class UnitById(MethodView):
    @blp.response(200, UnitSchema)
    def get(self, unit_id):
        """One unit."""
        return service.get_unit(db.session, unit_id=unit_id)

    @blp.arguments(UnitPatchSchema)
    @blp.response(200, UnitSchema)
    def patch(self, data, unit_id):
        """Change a unit's name, figures or centroid; `"active": false` retires it: its workers' duties
        there end, and its open cases go to the unit above it that is in use, each with an event (a
        district keeps its own). Moving is `POST …/move`."""
        unit = service.get_unit(db.session, unit_id=unit_id)
        unit = service.update_unit(db.session, unit=unit, **data)
        db.session.commit()
        return unit

    @blp.response(204)
    def delete(self, unit_id):
        """Delete a unit that nothing refers to: no children, cases, reports, accounts, workers or
        studios (409 naming what holds it; deactivate it instead)."""
        unit = service.get_unit(db.session, unit_id=unit_id)
        service.delete_unit(db.session, unit=unit)
        db.session.commit()


@blp.route("/by-code/<string(maxlength=64):code>")
class UnitByCode(MethodView):
    @blp.response(200, UnitSchema)
    def get(self, code):
        """The unit with this code (统计用区划代码, or a grid's or micro-grid's)."""
        return service.get_unit_by_code(db.session, code=code)


@blp.route("/<id:unit_id>/children")
class Children(MethodView):
    @blp.response(200, UnitPageSchema)
    def get(self, unit_id):
        """Direct children in tree order (all of them: a unit has at most a few hundred)."""
        unit = service.get_unit(db.session, unit_id=unit_id)
        return {"items": service.children(db.session, unit=unit), "next_cursor": None}


@blp.route("/<id:unit_id>/descendants")
class Descendants(MethodView):
    @blp.arguments(DescendantsArgs, location="query")
    @blp.response(200, UnitPageSchema)
    def get(self, args, unit_id):
        """Every unit below this one in tree order, optionally of one level."""
        unit = service.get_unit(db.session, unit_id=unit_id)
        limit = page_limit(args["limit"])
        # The cursor is the last unit's path below this one: a move of this unit (or of one above
        # it) between two pages rewrites the paths, not the order within.
        below = decode_cursor(args["cursor"], kind=str)
        rows = service.descendants(
            db.session, unit=unit, level=args.get("level"), after_path=below and unit.path + below, limit=limit
        )
        return page(rows, limit, key=lambda member: member.path[len(unit.path):])


@blp.route("/<id:unit_id>/ancestors")
class Ancestors(MethodView):
    @blp.response(200, UnitPageSchema)
    def get(self, unit_id):
        """The unit's ancestors, root (district) first."""
        unit = service.get_unit(db.session, unit_id=unit_id)
        return {"items": service.ancestors(db.session, unit=unit), "next_cursor": None}


@blp.route("/lca")
class LowestCommonAncestor(MethodView):
    @blp.arguments(LcaSchema)
    @blp.response(200, UnitSchema)
    def post(self, data):
        """The lowest unit whose subtree holds every unit given."""
        return service.lowest_common_ancestor(db.session, unit_ids=data["unit_ids"])


@blp.route("/<id:unit_id>/move")
class Move(MethodView):
    @blp.arguments(MoveSchema)
    @blp.response(200, UnitSchema)
    def post(self, data, unit_id):
        """Re-parent the unit with its whole subtree; codes stay, paths change."""
        unit = service.get_unit(db.session, unit_id=unit_id)
        new_parent = service.get_unit(db.session, unit_id=data["parent_id"])
        unit = service.move_unit(db.session, unit=unit, new_parent=new_parent)
        db.session.commit()
        return unit


@blp.route("/<id:unit_id>/export")
class Export(MethodView):
    @blp.arguments(ExportArgs, location="query")
    @blp.response(200)
    @blp.doc(responses={"200": {"description": "The subtree as CSV (UTF-8 with BOM) or JSON, in the import's columns.", "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/json": {"schema": ExportRowSchema(many=True)},
    }}})
    def get(self, args, unit_id):
        """The subtree in the import's columns (`format=csv` or `json`), ready to import elsewhere."""
        unit = service.get_unit(db.session, unit_id=unit_id)
        rows = transfer.export_rows(db.session, unit=unit)
        filename = f"units-{unit.code}.{args['format']}"
        disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
        if args["format"] == "json":
            return Response(json.dumps(list(rows), ensure_ascii=False), mimetype="application/json", headers=disposition)
        return Response(
            stream_with_context(transfer.rows_to_csv(rows)),
            mimetype="text/csv",
            headers=disposition,
        )


@blp.route("/import")
class Import(MethodView):
    @blp.doc(
        requestBody={
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": f"Columns {transfer.HEADER}; UTF-8, or GBK with `charset=gbk` in the Content-Type.",
        }
    )
    @blp.response(200, ImportResultSchema)
    def post(self):
        """Upsert units from a CSV table, all or nothing; errors name their line numbers."""
        if request.mimetype != "text/csv":
            raise UnsupportedMediaType("Send the table as a text/csv body.")
        counts = transfer.import_csv(
            db.session, data=request.get_data(cache=False), encoding=request.mimetype_params.get("charset", "utf-8"),
            scope_path=current_scope_path() or None,
        )
        db.session.commit()
        return counts
