"""Open311 GeoReport v2 at ``/open311/v2``: what civic reporting apps speak.

Every operation of the specification (http://wiki.open311.org/GeoReport_v2), in ``.json`` and
``.xml``. How gridgov maps onto it:

* services are the case categories; ``service_code`` is the category's API spelling;
* ``jurisdiction_id`` is a district's code, optional: a POST then goes to the api_key's district,
  and a GET covers every district;
* ``POST requests`` files a pending report for the triage desk and answers its ``token`` (the
  reporter's tracking code); once the desk dispatches it, ``tokens/{token}`` answers the
  ``service_request_id``, which is the case's reference (``NX-2026-000123``);
* a service request is a case made from a report; GETs show no one's personal data: the
  description is the category and the place, the location is the unit's centroid, not the
  reporter's point, and no photo link (it may show people).
"""

import math
import re
import unicodedata
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, json, request
from werkzeug.exceptions import HTTPException

from gridgov.api import unstorable
from gridgov.auth import pii
from gridgov.auth import service as auth_service
from gridgov.auth.permissions import allows
from gridgov.auth.scope import UNSCOPED
from gridgov.cases.calendar import TIMEZONE
from gridgov.cases.enums import CATEGORY_TITLES, OPEN_STATUSES, Category, Status
from gridgov.cases.models import Case
from gridgov.cases.service import typed_reference
from gridgov.db import db, utcnow
from gridgov import errors
from gridgov.errors import DomainError
from gridgov.reports import service
from gridgov.reports.models import Channel, Report
from gridgov.tree import paths
from gridgov.tree import service as tree_service
from gridgov.tree.levels import Level
from gridgov.tree.models import Unit

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

FORMAT = "<any(json, xml):fmt>"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = datetime(2026, 11, 27, tzinfo=TIMEZONE)  # when these definitions last changed
WINDOW = timedelta(days=90)  # the specification's default and widest date range
MAX_REQUESTS = 1000  # one answer; narrow the dates for more
BODY_LIMIT = 64 * 1024
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,185}")
# XML: the element each list's items are wrapped in.
XML_ITEMS = {"endpoints": "endpoint", "formats": "format", "attributes": "attribute", "values": "value"}
KEYWORDS = {
    Category.FAMILY_NEIGHBOUR: "家庭,邻里,婚姻,赡养",
    Category.LABOUR: "欠薪,工资,劳动合同,工伤",
    Category.CONSUMER: "消费,退款,商家",
    Category.TRAFFIC_INJURY: "交通事故,人身损害,赔偿",
    Category.PROPERTY_MANAGEMENT: "物业,小区,停车",
    Category.LAND_HOUSING: "土地,宅基地,房屋,征收",
    Category.PETITION: "信访,诉求",
    Category.SAFETY_HAZARD: "安全隐患,消防,危房",
    Category.OTHER: "其他",
}


class Open311Error(Exception):
    """An error in the specification's format: ``[{"code": 400, "description": "…"}]``."""

    def __init__(self, code: int, description: str):
        super().__init__(description)
        self.code = code
        self.description = description


# --- format ---------------------------------------------------------------------------------------


def _format() -> str:
    if request.view_args and "fmt" in request.view_args:
        return request.view_args["fmt"]
    return "xml" if request.path.endswith(".xml") else "json"  # a path no route matched


# Characters XML 1.0 cannot hold at all, even escaped (an id echoed from the URL may have them).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _datetime(value)
    return "" if value is None else str(value)


def _xml_text(value) -> str:
    return _NOT_XML.sub("\ufffd", _text(value))


def _xml_element(tag: str, value) -> ET.Element:
    element = ET.Element(tag)
    if isinstance(value, dict):
        for name, child in value.items():
            element.append(_xml_element(name, child))
    elif isinstance(value, list):
        for child in value:
            element.append(_xml_element(XML_ITEMS.get(tag, "item"), child))
    else:
        element.text = _xml_text(value)
    return element


def respond(body, *, root: str, item: str | None = None, status: int = 200) -> Response:
    """``body`` as JSON, or as XML under ``root`` (a list: each entry an ``item``)."""
    if _format() == "xml":
        element = ET.Element(root)
        if isinstance(body, list):
            for entry in body:
                element.append(_xml_element(item, entry))
        else:
            for name, value in body.items():
                element.append(_xml_element(name, value))
        text = ET.tostring(element, encoding="unicode", xml_declaration=False)
        return Response('<?xml version="1.0" encoding="utf-8"?>' + text, status, mimetype="text/xml")
    return Response(json.dumps(body, default=_text), status, mimetype="application/json")


def _error_response(code: int, description: str) -> Response:
    return respond([{"code": code, "description": description}], root="errors", item="error", status=code)


@bp.errorhandler(Open311Error)
def _open311_error(error: Open311Error):
    return _error_response(error.code, error.description)


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError):
    return _error_response(error.status, error.detail)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    response = _error_response(error.code or 500, errors.http_detail(error))
    for name, value in error.get_headers():
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    return response


@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
def _unrouted(error: HTTPException):
    """A path under /open311 that no route matches (or a method none takes) answers in the
    specification's format too; anywhere else, the app's problem+json."""
    if request.path.startswith(bp.url_prefix + "/"):
        return _http_error(error)
    return errors.handle_http_exception(error)


@bp.url_value_preprocessor
def _small_bodies(endpoint, values):
    # Before any before_request (the rate limiter reads the form for the api_key).
    request.max_content_length = BODY_LIMIT


# --- parameters -------------------------------------------------------------------------------------


def param(name: str, *, max_length: int = 200) -> str | None:
    """A query-string or form parameter; empty counts as absent (clients send ``lat=&long=``).
    Given twice, in the query and the form alike (api_key), it must say the same both times."""
    given = {value.strip() for value in request.values.getlist(name)} - {""}
    if len(given) > 1:
        raise Open311Error(400, f"{name} is given more than once; give several values as one comma-delimited list.")
    if not given:
        return None
    (value,) = given
    if len(value) > max_length:
        raise Open311Error(400, f"{name} is longer than {max_length} characters.")
    if unstorable(value) is not None:
        raise Open311Error(400, f"{name} contains characters that cannot be stored.")
    return value


def _service_code(text: str, *, status: int = 400) -> Category:
    """The category of a service code; ``status`` when there is none (filing a request for a
    service not found is a 404 in the specification; a filter naming one, a bad query)."""
    try:
        return Category(text)
    except ValueError:
        raise Open311Error(status, f"service_code {text!r} is not a service here; see services.json.") from None


def _datetime(moment: datetime) -> str:
    return moment.astimezone(TIMEZONE).isoformat(timespec="seconds")


def _parse_datetime(name: str) -> datetime | None:
    text = param(name, max_length=40)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise Open311Error(400, f"{name} must be a W3C datetime such as 2026-11-01T00:00:00+08:00.") from None
    if not 1900 <= moment.year <= 2999:
        raise Open311Error(400, f"{name} must lie between the years 1900 and 2999.")
    return moment if moment.tzinfo else moment.replace(tzinfo=TIMEZONE)


DECIMAL = re.compile(r"[-+]?[0-9]{1,3}(?:\.[0-9]{1,20})?", re.ASCII)


def _coordinate(name: str, bound: float) -> float | None:
    text = param(name, max_length=30)
    if text is None:
        return None
    # Plain decimal degrees only: float() also reads "1_0" and full-width digits.
    value = float(text) if DECIMAL.fullmatch(text) else math.nan
    if not math.isfinite(value) or abs(value) > bound:
        raise Open311Error(400, f"{name} must be a number from -{bound:g} to {bound:g}.")
    return value


def _jurisdiction() -> Unit | None:
    code = param("jurisdiction_id", max_length=32)
    if code is None:
        return None
    district = db.session.scalar(
        sa.select(Unit).where(Unit.code == code, Unit.level == Level.DISTRICT).execution_options(**UNSCOPED)
    ) if code.isascii() and code.isdigit() else None
    if district is None:
        raise Open311Error(404, f"jurisdiction_id {code} is not a district served here.")
    return district


# --- discovery and services ---------------------------------------------------------------------------


@bp.route(f"/discovery.{FORMAT}")
def discovery(fmt):
    base = (current_app.config.get("PUBLIC_URL") or request.host_url).rstrip("/") + "/open311/v2"
    return respond({
        "changeset": CHANGESET,
        "contact": f"{tree_service.site_name()} (the district's social governance centre)",
        "key_service": "Ask the district's system administrator for an API token of the role integration.",
        "endpoints": [{
            "specification": SPECIFICATION,
            "url": base,
            "changeset": CHANGESET,
            "type": "production",
            "formats": ["text/xml", "application/json"],
        }],
    }, root="discovery")


def _service(category: Category) -> dict:
    return {
        "service_code": category.value,
        "service_name": CATEGORY_TITLES[category],
        "description": f"{CATEGORY_TITLES[category]}：由区社会治理中心当日核实，分派至属地网格、村（社区）或镇（街道）调处。",
        "metadata": True,
        "type": "batch",  # a token first; the request id once the triage desk has dispatched it
        "keywords": KEYWORDS[category],
        "group": "安全隐患" if category is Category.SAFETY_HAZARD else "矛盾纠纷",
    }


@bp.route(f"/services.{FORMAT}")
def services(fmt):
    _jurisdiction()
    return respond([_service(category) for category in Category], root="services", item="service")


@bp.route(f"/services/<service_code>.{FORMAT}")
def service_definition(service_code, fmt):
    _jurisdiction()
    try:
        category = Category(service_code)
    except ValueError:
        raise Open311Error(404, f"service_code {service_code!r} is not a service here.") from None
    return respond({
        "service_code": category.value,
        "attributes": [
            {
                "variable": True, "code": "unit_code", "datatype": "string", "required": False,
                "datatype_description": "The 12-, 15- or 18-digit code printed under the QR code of the village, "
                                        "grid or micro-grid.",
                "order": 1, "description": "网格/微网格编码", "values": [],
            },
            {
                "variable": True, "code": "anonymous", "datatype": "singlevaluelist", "required": False,
                "datatype_description": "true: keep no name, phone or email of the reporter.",
                "order": 2, "description": "匿名反映",
                "values": [{"key": "true", "name": "是"}, {"key": "false", "name": "否"}],
            },
        ],
    }, root="service_definition")


# --- filing a request ---------------------------------------------------------------------------------


# What names or reaches the reporter: in the form body only. A URL is written to access logs
# (the proxy's, gunicorn's), which keep it where no masking reaches.
PERSONAL_PARAMS = ("first_name", "last_name", "phone", "email")


@bp.route(f"/requests.{FORMAT}", methods=["POST"])
def create_request(fmt):
    """A pending report for the triage desk; the answer is its token (the tracking code)."""
    if in_url := [name for name in PERSONAL_PARAMS if name in request.args]:
        raise Open311Error(400, f"Send {', '.join(in_url)} in the form-encoded body, not the URL: URLs are logged.")
    integration = _integration()
    district = _jurisdiction() or _home_district(integration)
    # Before locating anything: where it lies, and what it is called, is not this key's to learn.
    if integration.scope_path and not paths.is_descendant_or_self(integration.scope_path, district.path):
        raise Open311Error(403, f"This api_key may not file requests in jurisdiction {district.code}.")
    service_code = param("service_code", max_length=40)
    if service_code is None:
        raise Open311Error(400, "service_code is required.")
    category = _service_code(service_code, status=404)
    description = param("description", max_length=4000)
    if description is None:
        raise Open311Error(400, "description is required: say what happened.")
    latitude, longitude = _coordinate("lat", 90), _coordinate("long", 180)
    if (latitude is None) != (longitude is None):
        raise Open311Error(400, "lat and long go together.")
    address = param("address_string", max_length=300)
    code = param("attribute[unit_code]", max_length=32) or param("address_id", max_length=32)
    unit = service.locate(db.session, district=district, code=code, latitude=latitude, longitude=longitude,
                          address=address)
    if not paths.is_descendant_or_self(unit.path, integration.scope_path):
        # Not named: the key reads no units, and a name at a probed point would map them one by one.
        raise Open311Error(403, "This api_key may not file requests there: the place lies outside its area.")
    media_url = param("media_url", max_length=500)
    if media_url is not None and not service.is_web_link(media_url):
        raise Open311Error(400, "media_url must be an http or https address.")
    phone, email = param("phone", max_length=32), param("email", max_length=254)
    if phone is not None and not pii.is_phone(phone := pii.typed_phone(phone)):
        raise Open311Error(400, "phone is not a phone number.")
    if email is not None and not EMAIL.fullmatch(email):
        raise Open311Error(400, "email is not an email address.")
    anonymous = (param("attribute[anonymous]", max_length=5) or "false").lower()
    if anonymous not in ("true", "false"):
        raise Open311Error(400, "attribute[anonymous] is true or false.")
    name = _reporter_name(param("first_name", max_length=50), param("last_name", max_length=50))

    report = service.submit_report(
        db.session, unit=unit, channel=Channel.OPEN311, category=category, description=description,
        media_url=media_url, anonymous=anonymous == "true", reporter_name=name or None, phone=phone, email=email,
        latitude=latitude, longitude=longitude, address=address, filed_by=integration,
    )
    db.session.commit()
    return respond([{
        "token": report.tracking_code,
        "service_notice": "区社会治理中心将在一个工作日内核实并分派；凭 token 查询受理编号。",
        "account_id": None,
    }], root="service_requests", item="request", status=201)


def _reporter_name(first: str | None, last: str | None) -> str | None:
    """The name as its script writes it: 张 + 三 → 张三 (family name first, no space); John Smith
    (given name first, a space). Before, last + first with nothing between: SmithJohn."""
    if not (first and last):
        return first or last
    wide = any(unicodedata.east_asian_width(char) in ("W", "F") for char in first + last)  # 汉字 and the like
    return f"{last}{first}" if wide else f"{first} {last}"


def _integration():
    key = param("api_key", max_length=200)
    if key is None:
        raise Open311Error(400, "api_key is required to file a request.")
    principal, why_not = auth_service.principal_for_token(db.session, text=key)
    if principal is None:
        raise Open311Error(403, f"Invalid api_key: {why_not}")
    if not allows(principal.role, "reports:file"):
        raise Open311Error(403, "This api_key may not file requests (it is not an integration's key).")
    return principal


def _home_district(principal) -> Unit:
    if not principal.scope_path:
        raise Open311Error(400, "jurisdiction_id is required: this api_key serves every district.")
    return db.session.scalar(
        sa.select(Unit).where(Unit.path == paths.ancestor_at(principal.scope_path, 0)).execution_options(**UNSCOPED)
    )


# --- reading requests -----------------------------------------------------------------------------------


@bp.route(f"/tokens/<token>.{FORMAT}")
def token(token, fmt):
    district = _jurisdiction()
    report = service.find_by_tracking_code(db.session, tracking_code=token)
    # Another district's token is no token here, as another district's request is no request.
    if report is None or (district is not None and report.district_id != district.id):
        raise Open311Error(404, f"No request has the token {token}.")
    case = service.case_of(db.session, report)
    return respond([{"service_request_id": case.reference if case else None, "token": report.tracking_code}],
                   root="service_requests", item="request")


def _listed(text: str) -> list[str]:
    """A comma-delimited parameter's items; empty ones (``open,``) are absent, as empty
    parameters are."""
    return [part.strip() for part in text.split(",") if part.strip()]


@bp.route(f"/requests.{FORMAT}", methods=["GET"])
def list_requests(fmt):
    statement = service.requests_query().order_by(Report.submitted_at.desc(), Report.id.desc()).limit(MAX_REQUESTS)
    district = _jurisdiction()
    if district is not None:
        statement = statement.where(Report.district_id == district.id)
    ids = param("service_request_id", max_length=2000)
    if ids is not None:  # overrides every other filter, as the specification says
        statement = statement.where(Case.reference.in_([typed_reference(id_) for id_ in _listed(ids)]))
    else:
        codes = _listed(param("service_code", max_length=400) or "")
        if codes:
            statement = statement.where(Case.category.in_([_service_code(code) for code in codes]))
        wanted = set(_listed(param("status", max_length=20) or ""))
        if wanted:
            if not wanted <= {"open", "closed"}:
                raise Open311Error(400, "status is open, closed or both (comma delimited).")
            if wanted == {"open"}:
                statement = statement.where(Case.status.in_(OPEN_STATUSES))
            elif wanted == {"closed"}:
                statement = statement.where(Case.status.not_in(OPEN_STATUSES))
        start, end = _window()
        # To the end of end_date's second: times are shown to the second, and a request's own
        # requested_datetime given as end_date must take it in.
        end_of_second = end.replace(microsecond=0) + timedelta(seconds=1)
        statement = statement.where(Report.submitted_at >= start, Report.submitted_at < end_of_second)
    rows = db.session.execute(statement).all()
    return respond([_request(*row) for row in rows], root="service_requests", item="request")


def _window() -> tuple[datetime, datetime]:
    start, end = _parse_datetime("start_date"), _parse_datetime("end_date")
    if start is None and end is None:
        end = utcnow()
    if start is None:
        start = end - WINDOW
    if end is None:
        end = start + WINDOW
    if end < start:
        raise Open311Error(400, "end_date lies before start_date.")
    if end - start > WINDOW:
        raise Open311Error(400, "start_date to end_date may not span more than 90 days.")
    return start, end


@bp.route(f"/requests/<service_request_id>.{FORMAT}")
def get_request(service_request_id, fmt):
    statement = service.requests_query().where(Case.reference == typed_reference(service_request_id))
    district = _jurisdiction()
    if district is not None:
        statement = statement.where(Report.district_id == district.id)
    row = db.session.execute(statement.limit(1)).first() if unstorable(service_request_id) is None else None
    if row is None:
        raise Open311Error(404, f"No request has the id {service_request_id}.")
    return respond([_request(*row)], root="service_requests", item="request")


def _request(report: Report, case: Case, origin: Unit, owner: Unit) -> dict:
    """A service request as anyone may see it: no one's name, phone, words or photo."""
    return {
        "service_request_id": case.reference,
        "status": "open" if case.status in OPEN_STATUSES else "closed",
        "status_notes": service.status_words(case, owner_name=owner.name),
        "service_name": CATEGORY_TITLES[case.category],
        "service_code": case.category.value,
        "description": f"{CATEGORY_TITLES[case.category]} · {origin.name}",
        "agency_responsible": owner.name,
        "service_notice": None,
        "requested_datetime": report.submitted_at,
        # For a closed request, when it was closed (the specification); a follow-up call since
        # changes nothing a client of the request knows of.
        "updated_datetime": {Status.CLOSED: case.closed_at, Status.RESOLVED: case.resolved_at}.get(case.status)
        or case.updated_at,
        "expected_datetime": case.deadline_at if case.status in OPEN_STATUSES else None,
        "address": origin.name,
        "address_id": origin.code,
        "zipcode": None,
        "lat": origin.latitude,
        "long": origin.longitude,
        "media_url": None,
    }
