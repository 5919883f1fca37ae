"""Health checks, for whatever runs the service: a load balancer, an orchestrator, a monitor.

``/healthz`` (liveness): the process answers. It asks nothing of the database, so that an
outage of the database does not get healthy workers restarted.
``/readyz`` (readiness): the service can serve: the database answers and its schema is the one
this code's migrations end at. Otherwise 503 with what is wrong (a database out of reach answers
503 through ``errors.handle_database_conflict``, as every request does then).

Neither is rate-limited (``limits.UNLIMITED``) nor kept by a cache.
"""

from flask import Blueprint, current_app

from gridgov import security
from gridgov.db import schema_problem
from gridgov.errors import problem

bp = Blueprint("health", __name__)


# A cache in between would answer for a worker that is gone (or one that is back).
bp.after_request(security.kept_by_no_cache)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    trouble = schema_problem()
    if trouble is not None:
        current_app.logger.error("GET /readyz: %s", trouble)
        return problem(503, detail=trouble)
    return {"status": "ready"}
