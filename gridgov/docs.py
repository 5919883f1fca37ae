"""``/docs``: Swagger UI over ``/api/v1/openapi.json``, from assets vendored in the package."""

from flask import Blueprint, g, redirect, render_template, request, session
from flask_wtf.csrf import generate_csrf

from gridgov.auth.guard import SESSION_KEY
from gridgov.auth.permissions import allows

bp = Blueprint("docs", __name__)


@bp.get("/docs")
def docs():
    if request.path.endswith("/"):
        # The page's asset URLs are relative (a proxy may put a prefix in front); from
        # /docs/ they would point into /docs/static/….
        return redirect("../docs")
    # Signed in at /login, "Try it out" sends the session's cookie: its changes need the CSRF
    # header, which the page adds (none for visitors, who would get a session just for it).
    signed_in = g.get("principal") is not None and SESSION_KEY in session
    return render_template("docs.html", csrf=generate_csrf() if signed_in else "")


@bp.get("/")
def home():
    """Signed in with figures to watch (district command, a town's centre …): /command. Anyone
    else, and programs: the API docs."""
    principal = g.get("principal")
    if principal is not None and allows(principal.role, "rollups:read"):
        return redirect("command")
    return redirect("docs")
