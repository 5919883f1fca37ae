"""``/docs``: Swagger UI over ``/api/v1/openapi.json``, from assets vendored in the package."""

from flask import Blueprint, redirect, render_template

bp = Blueprint("docs", __name__)


@bp.get("/docs")
def docs():
    return render_template("docs.html")


@bp.get("/")
def home():
    return redirect("docs")
