"""``/docs``: Swagger UI over ``/api/v1/openapi.json``, from assets vendored in the package."""

from flask import Blueprint, redirect, render_template, request

bp = Blueprint("docs", __name__)


@bp.get("/docs")
def docs():
    if request.path.endswith("/"):
        # The page's asset URLs are relative (a proxy may put a prefix in front); from
        # /docs/ they would point into /docs/static/….
        return redirect("../docs")
    return render_template("docs.html")


@bp.get("/")
def home():
    return redirect("docs")
