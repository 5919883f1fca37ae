"""``/command``: district command's page (指挥部). It holds no data itself: the browser reads the
rollup, trend, risk map and overdue cases from the API with the signed-in session, and again
every minute."""

from flask import Blueprint, g, make_response, redirect, render_template, request, url_for

from gridgov.auth.permissions import allows

bp = Blueprint("command_pages", __name__)
REFRESH_SECONDS = 60


@bp.route("/command")
def command():
    principal = g.get("principal")
    if principal is None:
        return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
    if not allows(principal.role, "rollups:read"):
        return render_template("message.html", title="无权查看", sign_out=True,
                               message="您的账户没有查看统计数据的权限。"), 403
    page = make_response(render_template("command.html", principal=principal, refresh_seconds=REFRESH_SECONDS))
    # Kept by no cache, nor by the browser's back-forward cache: Back after signing out on a
    # shared computer must not show the figures.
    page.headers["Cache-Control"] = "no-store"
    return page
