"""The resident's pages: ``/r/<token>`` (report, from the QR code) and ``/t/<code>`` (progress).

No sign-in. Each request body is small and limited; every text is checked before it reaches the
database and escaped on the way out (Jinja's autoescape), so HTML in a report stays text.
"""

import hashlib
import secrets

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, DataRequired, InputRequired, Length, Optional, ValidationError

from gridgov import security
from gridgov.api import unstorable
from gridgov.auth import pii
from gridgov.cases.calendar import TIMEZONE
from gridgov.cases.enums import CATEGORY_TITLES, Category
from gridgov.db import db
from gridgov.errors import NotFound
from gridgov.forms import TextForm
from gridgov.reports import service
from gridgov.reports.models import Channel
from gridgov.reports.views import report_brand

bp = Blueprint("report_pages", __name__)

PUBLIC_BODY_LIMIT = 32 * 1024  # a form of a few short fields; nothing larger is read


# Each form carries a submission id of its own, and a receipt or a progress page is one
# resident's: a shared cache in between would hand them to the next person (whose report would
# then be taken for a resend of the first, and answered with its receipt).
bp.after_request(security.kept_by_no_cache)


def _storable(form, field):
    if field.data and unstorable(field.data) is not None:
        raise ValidationError("包含无法保存的字符（如控制字符），请删除后再提交。")


def _phone(form, field):
    if not pii.is_phone(field.data):
        raise ValidationError("请填写有效的电话号码")


class _Choice(SelectField):
    def pre_validate(self, form):
        if not self.data:
            raise ValidationError("请选择纠纷类型")
        if self.data not in {choice.value for choice in self.choices}:
            raise ValidationError("请从列表中选择")


# How long a report page stays good to send: a page left open over a working day still files.
FORM_MAX_AGE = 12 * 60 * 60


def _form_signer() -> TimestampSigner:
    return TimestampSigner(current_app.secret_key, salt="gridgov.report-form")


def new_submission() -> str:
    """A page load's own id, signed with the time it was made."""
    return _form_signer().sign(secrets.token_urlsafe(16)).decode()


def _fresh(form, field):
    try:
        form.submission_id = _form_signer().unsign(field.data or "", max_age=FORM_MAX_AGE).decode()
    except SignatureExpired as old:
        form.expired_id = old.payload.decode()  # ours, only too old: it may have filed a report already
        raise ValidationError("页面已过期") from None
    except BadSignature:
        raise ValidationError("页面已过期") from None


class ReportForm(TextForm):
    class Meta:
        # The form's signed id stands in for a session's CSRF token: a resident whose browser
        # keeps no cookies can still report (before, the page said "expired" every time), and
        # no cookie is set on a resident at all.
        csrf = False

    # Each page load's own id: the same form sent twice (a refresh of the receipt, a double tap)
    # answers the report it filed, instead of filing another. Signed and dated: a page too old
    # (or a form made elsewhere) is refused as expired.
    submission = HiddenField(validators=[_fresh])
    submission_id: str | None = None
    expired_id: str | None = None
    # Nothing chosen for the resident: one who skips the list is asked, not filed as 家事邻里.
    category = _Choice("纠纷类型", choices=[SelectChoice("", "请选择"),
                                         *(SelectChoice(c.value, title) for c, title in CATEGORY_TITLES.items())],
                       validators=[InputRequired("请选择纠纷类型")])
    # A browser counts a line break as one character against maxlength and sends it as two (CRLF).
    # Stripped as the report keeps it: the same form sent again must read as what was filed.
    description = TextAreaField("发生了什么", filters=[lambda text: text.replace("\r\n", "\n").strip() if text else text],
                                validators=[DataRequired("请简要说明情况"), Length(max=2000, message="请控制在 2000 字以内"),
                                            _storable])
    media_url = StringField("照片链接（选填）", validators=[
        Optional(), Length(max=500, message="请控制在 500 字以内"), URL(message="请填写有效的链接"), _storable])
    phone = StringField("联系电话（选填）", filters=[lambda text: pii.typed_phone(text) if text else text],
                        validators=[Optional(), _phone])
    anonymous = BooleanField("匿名反映（不留联系方式）")

    def validate_media_url(self, field):
        if field.data and not service.is_web_link(field.data):
            raise ValidationError("请填写以 http:// 或 https:// 开头的链接")


bp.add_app_template_filter(service.due_day, "due_day")


@bp.app_template_filter("local_time")
def local_time(moment) -> str:
    return moment.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M")


@bp.before_request
def _small_bodies():
    request.max_content_length = PUBLIC_BODY_LIMIT


@bp.route("/r/<token>", methods=["GET", "POST"])
def report(token: str):
    unit = service.unit_for_token(db.session, token=token)
    form = ReportForm()
    status = 200
    if form.validate_on_submit():
        submission, fields = form.submission_id, _filled_in(form)
        earlier = service.find_by_submission(db.session, submission=submission)
        if earlier is not None and not _as_filed(earlier, fields):
            # The form came back changed under the id it was sent with (Back to a page the browser
            # kept as it was left, a phone number added): a report of its own, under an id of its
            # own, so that sending this one again is this one.
            submission = f"{submission}.{hashlib.sha256(repr(sorted(fields.items())).encode()).hexdigest()[:16]}"
            earlier = service.find_by_submission(db.session, submission=submission)
        if earlier is not None:
            return render_template("report_done.html", report=earlier, unit=unit), 200
        made = service.submit_report(db.session, unit=unit, channel=Channel.QR, submission=submission, **fields)
        db.session.commit()
        return render_template("report_done.html", report=made, unit=unit), 201
    if form.expired_id and (earlier := service.find_by_submission(db.session, submission=form.expired_id)):
        return render_template("report_done.html", report=earlier, unit=unit), 200  # a receipt reloaded a day later
    if request.method == "POST":
        status = 400 if form.submission.errors else 422
    if request.method == "GET" or form.submission.errors:
        form.submission.data = new_submission()  # an expired page gets a fresh id: it may be sent again
    return render_template("report.html", form=form, unit=unit), status


def _filled_in(form: ReportForm) -> dict:
    """What the resident filled in, as ``submit_report`` takes it. Reported anonymously, without
    the phone the form may still hold: it is kept nowhere, not even in a fingerprint."""
    return {
        "category": Category(form.category.data),
        "description": form.description.data,
        "media_url": (form.media_url.data or "").strip() or None,
        "phone": None if form.anonymous.data else form.phone.data or None,  # (the form's filter strips it)
        "anonymous": form.anonymous.data,
    }


def _as_filed(report, fields: dict) -> bool:
    """Whether ``report`` holds what ``fields`` say."""
    return all(getattr(report, name) == value for name, value in fields.items())


@bp.route("/t", methods=["GET"])
def track_lookup():
    """A box to type a tracking code into (from the report's receipt)."""
    # Letters and digits only: a "/" would leave the page for a path that is not there.
    code = service.typed_tracking_code(request.args.get("code", ""))
    if code:
        return redirect(url_for("report_pages.track", code=code))
    return render_template("track.html", progress=None, code="")


@bp.route("/t/<code>")
def track(code: str):
    try:
        progress = service.progress(db.session, tracking_code=code)
    except NotFound:
        return render_template("track.html", progress=None, code=code, missing=True), 404
    return render_template("track.html", progress=progress, code=code)


@bp.errorhandler(429)
def _too_many(error):
    title, message = "提交过于频繁", "您提交得太频繁了，请稍后再试。紧急情况请拨打 110。"
    if request.endpoint == "report_pages.report" and request.method == "POST":
        try:
            unit = service.unit_for_token(db.session, token=request.view_args["token"])
        except NotFound:  # no such code: nothing to show the form at
            unit = None
        if unit is not None:
            # The form again, as typed, and with its own id: nothing the resident wrote is lost
            # while they wait, and sent again it files one report, not a second. A form that
            # filed one already (a receipt refreshed too often) answers with that receipt.
            form = ReportForm()
            if not form.submission.validate(form):
                form.submission.data = new_submission()
            elif earlier := service.find_by_submission(db.session, submission=form.submission_id):
                return render_template("report_done.html", report=earlier, unit=unit), 200
            return render_template("report.html", form=form, unit=unit, notice=f"{title}：{message}"), 429
    return render_template("message.html", brand=report_brand(), title=title, message=message), 429


@bp.errorhandler(NotFound)
def _not_found(error):
    return render_template("message.html", brand=report_brand(), title="二维码无效",
                           message="该二维码已失效或不存在，请扫描网格内张贴的最新二维码。"), 404


@bp.errorhandler(413)
def _too_large(error):
    return render_template("message.html", brand=report_brand(), title="内容过长", message="提交的内容过长，请精简后再试。"), 413
