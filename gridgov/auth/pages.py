"""``/login`` and ``/logout``: signing in people with a password and a session cookie."""

from urllib.parse import urlsplit

from flask import Blueprint, g, redirect, render_template, request
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length

from gridgov.auth import guard, service
from gridgov.db import db
from gridgov.errors import Locked, Unauthenticated
from gridgov.forms import TextForm

bp = Blueprint("pages", __name__)


class LoginForm(TextForm):
    username = StringField("用户名", validators=[InputRequired("请输入用户名"), Length(max=64)])
    password = PasswordField("密码", validators=[InputRequired("请输入密码"), Length(max=128)])


class LogoutForm(TextForm):
    pass


def _safe_next(target: str | None) -> str:
    """Only a path on this site: an open redirect would make the sign-in page a phishing aid."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    message = None
    status = 200
    if form.validate_on_submit():
        try:
            principal = service.authenticate(db.session, username=form.username.data, password=form.password.data)
        except Locked:
            message, status = "登录失败次数过多，账户已暂时锁定，请稍后再试或联系管理员。", 429
        except Unauthenticated:
            message, status = "用户名或密码错误。", 401
        else:
            db.session.commit()
            guard.sign_in(principal)
            # ``next`` is a path within the service; a proxy's prefix goes before it.
            return redirect(request.script_root + _safe_next(request.args.get("next")))
    elif request.method == "POST":
        if form.csrf_token.errors:
            message, status = "表单已过期，请重新提交。", 400
        elif form.username.data and form.password.data:  # longer than any account's
            message, status = "用户名或密码错误。", 401
        else:
            message, status = "请输入用户名和密码。", 422
    return render_template("login.html", form=form, message=message, principal=g.get("principal")), status


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    if request.path.endswith("/"):
        # Its links are relative (a proxy may put a prefix in front): from /logout/ they would
        # point into /logout/login.
        return redirect("../logout")
    form = LogoutForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template("logout.html", form=form, message="表单已过期，请重试。"), 400
        guard.sign_out(g.get("principal"))
        return redirect("login")
    return render_template("logout.html", form=form, principal=g.get("principal"), message=None)
