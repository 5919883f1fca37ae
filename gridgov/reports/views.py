"""The triage desk (``/api/v1/reports``) and the units' report codes and QR codes."""

import io

import segno
from flask import Response, current_app, g, render_template
from flask.views import MethodView

from gridgov.api import BINARY, TEXT, Blueprint, action_field_errors, page_by_id
from gridgov.auth import pii
from gridgov.auth.permissions import allows
from gridgov.db import db, utcnow
from gridgov.errors import InvalidInput, RuleViolation
from gridgov.reports import service
from gridgov.reports.schemas import ReportCodeSchema, ReportListArgs, ReportPageSchema, ReportSchema, TriageSchema
from gridgov.tree import service as tree_service

blp = Blueprint("reports", __name__, url_prefix="/api/v1",
                description="Residents' reports: the triage desk (信息清洗), report codes and QR codes (纳安解纷码).")


def report_brand() -> str:
    """What residents know the report codes by (``REPORT_BRAND``)."""
    return current_app.config["REPORT_BRAND"]


# Fields answered as stored; the rest are derived or masked in present().
_DERIVED = {"overdue", "reporter_name", "phone", "email", "case_id"}
_STORED = [name for name in ReportSchema().fields if name not in _DERIVED]


def present(report, *, now=None, case_ids: dict | None = None) -> dict:
    """Personal data masked for callers without pii:read (the triage desk works without it);
    ``case_ids`` when a page has found them already (``service.case_ids_of``)."""
    unmasked = allows(g.principal.role, "pii:read")
    return {
        **{name: getattr(report, name) for name in _STORED},
        "overdue": service.is_overdue(report, now=now),
        "case_id": case_ids[report.id] if case_ids is not None else service.case_id_of(db.session, report),
        "reporter_name": report.reporter_name if unmasked else pii.mask_name(report.reporter_name),
        "phone": report.phone if unmasked else pii.mask_phone(report.phone),
        "email": report.email if unmasked else pii.mask_email(report.email),
    }


@blp.route("/reports")
class Reports(MethodView):
    @blp.arguments(ReportListArgs, location="query")
    @blp.response(200, ReportPageSchema)
    def get(self, args):
        """Reports made in your scope, oldest first (`status=pending` is the desk's queue)."""
        now = utcnow()
        result = page_by_id(args, lambda **kw: service.list_reports(db.session, now=now, **kw))
        case_ids = service.case_ids_of(db.session, result["items"])
        result["items"] = [present(report, now=now, case_ids=case_ids) for report in result["items"]]
        return result


@blp.route("/reports/<id:report_id>")
class ReportById(MethodView):
    @blp.response(200, ReportSchema)
    def get(self, report_id):
        """One resident's report (personal data masked without `pii:read`)."""
        return present(service.get_report(db.session, report_id=report_id))


@blp.route("/reports/<id:report_id>/actions")
class Triage(MethodView):
    @blp.arguments(TriageSchema)
    @blp.response(200, ReportSchema)
    def post(self, data, report_id):
        """Triage a pending report: classify, merge, reject or dispatch (which makes the case).

        A report that is not pending any more answers 409."""
        action = data.pop("action")
        spec = service.TRIAGE_ACTIONS[action]
        if errors := action_field_errors(action, data, required=spec.required, optional=spec.optional):
            raise RuleViolation(f"The fields do not fit the action {action}.", errors=errors)
        report = service.triage(db.session, report_id=report_id, action=action, actor=g.principal, params=data)
        db.session.commit()
        return present(report)


@blp.route("/units/<id:unit_id>/report-code")
class ReportCode(MethodView):
    @blp.response(200, ReportCodeSchema)
    def get(self, unit_id):
        """The unit's report code and the address its QR code carries (made on first request)."""
        code = _code(unit_id)
        db.session.commit()
        return _code_view(code)


@blp.route("/units/<id:unit_id>/report-code/rotate")
class RotateReportCode(MethodView):
    @blp.response(200, ReportCodeSchema)
    def post(self, unit_id):
        """Replace the unit's report code: every QR code printed before stops working."""
        unit = tree_service.get_unit(db.session, unit_id=unit_id)
        code = service.rotate_code(db.session, unit=unit)
        db.session.commit()
        return _code_view(code)


@blp.route("/units/<id:unit_id>/qr.svg")
class QrSvg(MethodView):
    @blp.response(200, TEXT, content_type="image/svg+xml", description="The unit's QR code.")
    def get(self, unit_id):
        """The unit's QR code as SVG, for print."""
        return _qr_image(unit_id, kind="svg", mimetype="image/svg+xml", scale=8, title=report_brand(), encoding="utf-8")


@blp.route("/units/<id:unit_id>/qr.png")
class QrPng(MethodView):
    @blp.response(200, BINARY, content_type="image/png", description="The unit's QR code.")
    def get(self, unit_id):
        """The unit's QR code as PNG."""
        return _qr_image(unit_id, kind="png", mimetype="image/png", scale=10)


@blp.route("/units/<id:unit_id>/qr-sheet")
class QrSheet(MethodView):
    @blp.response(200, TEXT, content_type="text/html", description="A printable page of QR codes.")
    def get(self, unit_id):
        """A printable sheet of the QR codes of every micro-grid in use of a village (or a grid),
        each with its unit's name and code under it."""
        unit = tree_service.get_unit(db.session, unit_id=unit_id)
        microgrids = service.sheet_units(db.session, unit=unit)
        codes = service.report_codes(db.session, units=microgrids)
        items = [
            {
                "unit": microgrid,
                "svg": _qr(service.report_url(codes[microgrid.id].token))
                .svg_inline(scale=3, border=2, title=report_brand(), omitsize=True),
            }
            for microgrid in microgrids
        ]
        db.session.commit()
        html = render_template("qr_sheet.html", unit=unit, items=items, title=report_brand())
        return Response(html, mimetype="text/html")


def _code(unit_id: int):
    unit = tree_service.get_unit(db.session, unit_id=unit_id)
    return service.report_code(db.session, unit=unit)


def _code_view(code) -> dict:
    return {"unit_id": code.unit_id, "token": code.token, "url": service.report_url(code.token),
            "created_at": code.created_at}


def _qr_image(unit_id: int, *, kind: str, mimetype: str, **options) -> Response:
    """The unit's QR code (made with its report code on first request) as ``kind``."""
    code = _code(unit_id)
    buffer = io.BytesIO()
    _qr(service.report_url(code.token)).save(buffer, kind=kind, border=2, **options)
    db.session.commit()
    return Response(buffer.getvalue(), mimetype=mimetype)


def _qr(url: str) -> segno.QRCode:
    """The QR code of ``url``; 400 if none can hold it. Without ``GRIDGOV_PUBLIC_URL`` the address
    begins with the host the request named, which may be any length."""
    try:
        return segno.make(url, error="m")
    except segno.DataOverflowError:
        raise InvalidInput(f"The address {url[:80]}… is too long for a QR code: reach the service by its own "
                           "name, or set GRIDGOV_PUBLIC_URL to it.") from None
