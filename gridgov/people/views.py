"""``/api/v1/workers``, ``/studios``, assignments, the planner and coverage."""

from functools import partial

from flask import g
from flask.views import MethodView

from gridgov.api import Blueprint, page_by_id
from gridgov.auth import pii
from gridgov.auth.permissions import allows
from gridgov.cases.calendar import today
from gridgov.db import db
from gridgov.people import service
from gridgov.people.schemas import (
    AssignmentListSchema,
    CoverageSchema,
    HistoryArgs,
    PlanRequestSchema,
    PlanSchema,
    StudioCreateSchema,
    StudioListSchema,
    StudioPatchSchema,
    StudioSchema,
    WorkerCreateSchema,
    WorkerListArgs,
    WorkerPageSchema,
    WorkerPatchSchema,
    WorkerSchema,
)
from gridgov.tree import service as tree_service

blp = Blueprint("people", __name__, url_prefix="/api/v1", description="The roster, studios, and who covers which unit.")


def present(worker):
    """A worker's phone is personal data: masked (on a copy for the answer) without pii:read."""
    principal = g.get("principal")
    if principal is None or allows(principal.role, "pii:read"):
        return worker
    return {**{key: getattr(worker, key) for key in
               ("id", "name", "role", "home_unit_id", "capacity", "active", "principal_id", "version")},
            "phone": pii.mask_phone(worker.phone)}


@blp.route("/workers")
class Workers(MethodView):
    @blp.arguments(WorkerListArgs, location="query")
    @blp.response(200, WorkerPageSchema)
    def get(self, args):
        """The roster of your scope (workers based in your subtree)."""
        answer = page_by_id(args, partial(service.list_workers, db.session))
        answer["items"] = [present(worker) for worker in answer["items"]]
        return answer

    @blp.arguments(WorkerCreateSchema)
    @blp.response(201, WorkerSchema)
    def post(self, data):
        """Put a worker on the roster, based at a unit of your scope."""
        worker = service.create_worker(db.session, **data)
        db.session.commit()
        return present(worker)


@blp.route("/workers/<id:worker_id>")
class WorkerById(MethodView):
    @blp.response(200, WorkerSchema)
    def get(self, worker_id):
        """One worker of the roster."""
        return present(service.get_worker(db.session, worker_id=worker_id))

    @blp.arguments(WorkerPatchSchema)
    @blp.response(200, WorkerSchema)
    def patch(self, data, worker_id):
        """Change a worker; `active: false` re-plans only the units they covered, or answers 422
        listing the units that would be left uncovered."""
        worker = service.get_worker(db.session, worker_id=worker_id)
        worker = service.update_worker(db.session, worker=worker, today=today(), **data)
        db.session.commit()
        return present(worker)


@blp.route("/workers/<id:worker_id>/assignments")
class WorkerAssignments(MethodView):
    @blp.arguments(HistoryArgs, location="query")
    @blp.response(200, AssignmentListSchema)
    def get(self, args, worker_id):
        """What the worker covers (`history=true`: also what they covered once)."""
        worker = service.get_worker(db.session, worker_id=worker_id)
        return {"items": service.assignments(db.session, worker=worker, history=args["history"]), "next_cursor": None}


@blp.route("/units/<id:unit_id>/assignments")
class UnitAssignments(MethodView):
    @blp.arguments(HistoryArgs, location="query")
    @blp.response(200, AssignmentListSchema)
    def get(self, args, unit_id):
        """Who covers the unit (`history=true`: also who covered it once)."""
        unit = tree_service.get_unit(db.session, unit_id=unit_id)
        return {"items": service.assignments(db.session, unit=unit, history=args["history"]), "next_cursor": None}


@blp.route("/units/<id:unit_id>/coverage")
class Coverage(MethodView):
    @blp.response(200, CoverageSchema)
    def get(self, unit_id):
        """Uncovered duties in the subtree, and workers above 120% or below 50% of the median load."""
        return service.coverage(db.session, unit=tree_service.get_unit(db.session, unit_id=unit_id))


@blp.route("/assignments/plan")
class Plan(MethodView):
    @blp.arguments(PlanRequestSchema)
    @blp.response(200, PlanSchema)
    def post(self, data):
        """Plan who covers every duty of a subtree: balance load within capacities, keep current
        assignments where possible. `apply: true` makes it so, atomically. Infeasible → 422
        listing every uncovered duty and why; nothing is changed."""
        answer = service.plan_scope(db.session, today=today(), **data)
        db.session.commit()
        return answer


@blp.route("/studios")
class Studios(MethodView):
    @blp.response(200, StudioListSchema)
    def get(self):
        """The studios of your scope, and those above it that serve it (to give cases to)."""
        return {"items": service.list_studios(db.session), "next_cursor": None}

    @blp.arguments(StudioCreateSchema)
    @blp.response(201, StudioSchema)
    def post(self, data):
        """Open a studio at a unit of your scope, with its specialties and members."""
        studio = service.create_studio(db.session, **data)
        db.session.commit()
        return studio


@blp.route("/studios/<id:studio_id>")
class StudioById(MethodView):
    @blp.response(200, StudioSchema)
    def get(self, studio_id):
        """One studio."""
        return service.get_studio(db.session, studio_id=studio_id)

    @blp.arguments(StudioPatchSchema)
    @blp.response(200, StudioSchema)
    def patch(self, data, studio_id):
        """Rename a studio, or change its specialties or members; `version` guards against a stale edit."""
        studio = service.update_studio(db.session, studio=service.get_studio(db.session, studio_id=studio_id), **data)
        db.session.commit()
        return studio
