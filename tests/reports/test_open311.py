"""Open311 GeoReport v2 at ``/open311/v2`` (gridgov/reports/open311.py; the specification:
http://wiki.open311.org/GeoReport_v2).

Covered, through the Flask test client on the session's databases (every test rolled back):

* discovery, services and service definitions, in ``.json`` and ``.xml``;
* ``POST requests``: the api_key (query string or form body; missing, wrong, of another role, of
  an integration scoped elsewhere), the parameters' checks (each bad one a 400 that writes
  nothing), empty optional parameters, the 201 answer in both formats and the pending report the
  triage desk then sees; the location mapping (unit code, address_id, lat/long → nearest
  micro-grid, address_string → the longest unit name) and the jurisdiction;
* ``tokens/{token}``: no id while pending, the case reference once dispatched;
* ``GET requests`` and ``requests/{id}``: only dispatched reports, the spec's fields, every
  filter and its refusals, open/closed following the case, and no personal data anywhere;
* the error format, ``[{"code", "description"}]`` and ``<errors><error>…``.

And, against a real HTTP server on a committed SQLite file, the third-party client ``georeport``
(PyPI) reading services, a definition, lists and single requests in both formats.
"""

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import requests
import sqlalchemy as sa

from gridgov.cases.enums import CATEGORY_TITLES, Category
from gridgov.db import db
from gridgov.reports.models import Report
from tests.cases.support import (
    D, G12, G21, M111, M112, M121, M211, M311, T1, T2, V1, V2, V3, act, get, set_clock,
)
from tests.conftest import SMALL_TREE_CSV, bearer_client, fresh_app, full_width, served

BASE = "/open311/v2"
REPORTS = "/api/v1/reports"
OFFSET = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$")
REQUEST_FIELDS = {
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
    "address", "address_id", "zipcode", "lat", "long", "media_url",
}
# A second district, for jurisdictions: a chain down to one micro-grid.
OTHER_D, OTHER_M = "510504", "510504001001001001"
OTHER_TREE_CSV = """code,name,level,parent_code,households,population,latitude,longitude
510504,合江县,district,510500,,,28.81,105.83
510504001,合江镇,town,510504,,,28.82,105.84
510504001001,城西社区,village,510504001,500,1200,28.821,105.841
510504001001001,城西社区第1网格,grid,510504001001,500,1200,28.8211,105.8411
510504001001001001,城西社区第1网格1号微网格,microgrid,510504001001001,50,120,28.82111,105.84111
"""


# --- helpers ------------------------------------------------------------------------------------


def centroid(code: str) -> tuple[float, float]:
    for line in SMALL_TREE_CSV.strip().splitlines()[1:] + OTHER_TREE_CSV.strip().splitlines()[1:]:
        fields = line.split(",")
        if fields[0] == code:
            return float(fields[6]), float(fields[7])
    raise KeyError(code)


def name_of(code: str) -> str:
    for line in SMALL_TREE_CSV.strip().splitlines()[1:] + OTHER_TREE_CSV.strip().splitlines()[1:]:
        fields = line.split(",")
        if fields[0] == code:
            return fields[1]
    raise KeyError(code)


def xml_items(response, root: str, item: str) -> list[dict]:
    """An XML list answer as dicts of element text; checks the root and item element names."""
    assert response.mimetype == "text/xml", response.get_data(as_text=True)
    element = ET.fromstring(response.data)
    assert element.tag == root
    assert all(child.tag == item for child in element), [child.tag for child in element]
    return [{field.tag: field.text for field in child} for child in element]


def assert_error(response, status: int, fmt: str = "json") -> str:
    """The specification's error format, one error, its code the HTTP status; its description."""
    assert response.status_code == status, response.get_data(as_text=True)
    if fmt == "xml":
        errors = xml_items(response, "errors", "error")
        assert len(errors) == 1 and set(errors[0]) == {"code", "description"}
        assert errors[0]["code"] == str(status)
        description = errors[0]["description"]
    else:
        assert response.mimetype == "application/json"
        body = response.get_json()
        assert isinstance(body, list) and len(body) == 1 and set(body[0]) == {"code", "description"}
        assert body[0]["code"] == status
        description = body[0]["description"]
    assert description
    return description


def form(key: str | None, **fields) -> dict:
    """A valid request's form; a field given as None is left out."""
    body = {"api_key": key, "service_code": "family_neighbour", "description": "楼上漏水，邻里争吵",
            "attribute[unit_code]": M111}
    body.update(fields)
    return {name: value for name, value in body.items() if value is not None}


def post(web, fields: dict, *, fmt: str = "json", query: dict | None = None):
    return web.post(f"{BASE}/requests.{fmt}", data=fields, query_string=query or {})


def file(web, key: str, **fields) -> str:
    """File a request that must be accepted; its token."""
    response = post(web, form(key, **fields))
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert isinstance(body, list) and len(body) == 1
    return body[0]["token"]


def reports(clerk, **query) -> list[dict]:
    response = clerk.get(REPORTS, query_string={"limit": 500, **query})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["items"]


def report_of(clerk, token: str) -> dict:
    (report,) = [report for report in reports(clerk) if report["tracking_code"] == token]
    return report


def triage(clerk, token: str, **action) -> dict:
    response = clerk.post(f"{REPORTS}/{report_of(clerk, token)['id']}/actions", json=action)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def dispatch(clerk, token: str) -> dict:
    """Dispatch the report as the triage desk does; the case it became (as the clerk reads it)."""
    report = triage(clerk, token, action="dispatch", risk_grade="blue")
    return get(clerk, report["case_id"])


def close(handler, verifier, case: dict) -> None:
    """Accept, mediate successfully and resolve as one principal; close as another."""
    case = act(handler, case, "accept")
    case = act(handler, case, "record_attempt", outcome="success")
    case = act(handler, case, "resolve")
    act(verifier, case, "close")


def listed(web, fmt: str = "json", **query) -> list[dict]:
    response = web.get(f"{BASE}/requests.{fmt}", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    if fmt == "xml":
        return xml_items(response, "service_requests", "request")
    return response.get_json()


def ids(items: list[dict]) -> set[str]:
    return {item["service_request_id"] for item in items}


def w3c(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def desk(app, make_principal, small_tree):
    """An integration of the district (its api_key), a triage clerk, two village stations of V1
    (one resolves, the other verifies) and an anonymous web client."""
    _id, key = make_principal("integration", D)
    _id, clerk = make_principal("triage_clerk", D)
    _id, station = make_principal("village_station", V1)
    _id, verifier = make_principal("village_station", V1)
    return SimpleNamespace(
        key=key, clerk=bearer_client(app, clerk), station=bearer_client(app, station),
        verifier=bearer_client(app, verifier), web=app.test_client(),
        unit_ids={code: unit.id for code, unit in small_tree.items()},
    )


@pytest.fixture
def other_district(session, small_tree):
    from gridgov.tree import transfer

    transfer.import_csv(session, data=OTHER_TREE_CSV.encode())
    session.commit()


# --- discovery and services ---------------------------------------------------------------------


def test_discovery_names_the_specification_and_both_formats(anonymous):
    body = anonymous.get(f"{BASE}/discovery.json").get_json()
    assert OFFSET.match(body["changeset"])
    (endpoint,) = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}

    response = anonymous.get(f"{BASE}/discovery.xml")
    root = ET.fromstring(response.data)
    assert response.mimetype == "text/xml" and root.tag == "discovery"
    endpoints = root.find("endpoints")
    assert [child.tag for child in endpoints] == ["endpoint"]
    formats = endpoints.find("endpoint").find("formats")
    assert {child.tag for child in formats} == {"format"}
    assert {child.text for child in formats} == {"text/xml", "application/json"}
    assert endpoints.find("endpoint").findtext("specification") == "http://wiki.open311.org/GeoReport_v2"


def test_services_are_the_case_categories_in_both_formats(anonymous):
    services = anonymous.get(f"{BASE}/services.json").get_json()
    assert {service["service_code"] for service in services} == {category.value for category in Category}
    for service in services:
        assert service["service_name"] == CATEGORY_TITLES[Category(service["service_code"])]
        assert service["metadata"] is True and service["type"] in ("realtime", "batch", "blackbox")
        assert {"description", "keywords", "group"} <= set(service)

    items = xml_items(anonymous.get(f"{BASE}/services.xml"), "services", "service")
    assert {item["service_code"] for item in items} == {category.value for category in Category}
    assert {item["metadata"] for item in items} == {"true"}


def test_a_service_definition_describes_the_unit_code_and_anonymous_attributes(anonymous):
    body = anonymous.get(f"{BASE}/services/family_neighbour.json").get_json()
    assert body["service_code"] == "family_neighbour"
    attributes = {attribute["code"]: attribute for attribute in body["attributes"]}
    assert set(attributes) == {"unit_code", "anonymous"}
    assert attributes["unit_code"]["datatype"] == "string" and attributes["unit_code"]["required"] is False
    assert {value["key"] for value in attributes["anonymous"]["values"]} == {"true", "false"}

    response = anonymous.get(f"{BASE}/services/family_neighbour.xml")
    root = ET.fromstring(response.data)
    assert response.mimetype == "text/xml" and root.tag == "service_definition"
    assert root.findtext("service_code") == "family_neighbour"
    attributes = root.find("attributes")
    assert {child.tag for child in attributes} == {"attribute"}
    assert {child.findtext("code") for child in attributes} == {"unit_code", "anonymous"}
    (anonymous_attribute,) = [child for child in attributes if child.findtext("code") == "anonymous"]
    values = anonymous_attribute.find("values")
    assert {child.tag for child in values} == {"value"}
    assert {child.findtext("key") for child in values} == {"true", "false"}


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_unknown_service_or_jurisdiction_is_404_in_the_error_format(anonymous, fmt):
    assert_error(anonymous.get(f"{BASE}/services/parking_tickets.{fmt}"), 404, fmt)
    assert_error(anonymous.get(f"{BASE}/services.{fmt}", query_string={"jurisdiction_id": "999999"}), 404, fmt)
    assert_error(anonymous.get(f"{BASE}/services/labour.{fmt}", query_string={"jurisdiction_id": "纳溪"}), 404, fmt)


def test_a_known_jurisdiction_is_accepted_on_services(anonymous, small_tree):
    response = anonymous.get(f"{BASE}/services.json", query_string={"jurisdiction_id": D})
    assert response.status_code == 200 and len(response.get_json()) == len(Category)


# --- POST requests ------------------------------------------------------------------------------


def test_a_post_files_a_pending_open311_report_for_the_triage_desk(desk):
    response = post(desk.web, form(desk.key, phone="13800001111", first_name="小明", last_name="王"))
    assert response.status_code == 201
    assert response.mimetype == "application/json"
    (answer,) = response.get_json()
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{10}", answer["token"])

    report = report_of(desk.clerk, answer["token"])
    assert report["status"] == "pending"
    assert report["channel"] == "open311"
    assert report["category"] == "family_neighbour"
    assert report["unit_id"] == desk.unit_ids[M111]
    assert report["description"] == "楼上漏水，邻里争吵"
    assert [r["tracking_code"] for r in reports(desk.clerk, status="pending")] == [answer["token"]]


@pytest.mark.parametrize(("first", "last", "kept"), [("小明", "王", "王小明"), ("翠花", "欧阳", "欧阳翠花"),
                                                     ("John", "Smith", "John Smith"), ("José", None, "José")])
def test_the_reporters_name_reads_as_its_script_writes_it(app, desk, make_principal, first, last, kept):
    """Family name first and no space in Chinese; given name first and a space in Latin script.
    Before, last and first were run together: "SmithJohn"."""
    _id, command = make_principal("district_command", D)  # who reads personal data
    token = file(desk.web, desk.key, first_name=first, last_name=last)
    assert report_of(bearer_client(app, command), token)["reporter_name"] == kept


def test_personal_data_in_the_url_of_a_post_is_refused_and_nothing_is_filed(desk):
    """The reporter's phone, email and name go in the form body: a URL is written to access logs,
    where no masking reaches. Before, a POST with all of them in the query string was filed."""
    for name, value in [("phone", "13800001111"), ("email", "a@example.org"), ("last_name", "王")]:
        description = assert_error(post(desk.web, form(desk.key), query={name: value}), 400)
        assert f"Send {name} in the form-encoded body" in description
    assert reports(desk.clerk) == []


@pytest.mark.parametrize(("typed", "kept"), [("(0830)1234567", "(0830)1234567"), ("１３８００００１１１１", "13800001111")])
def test_a_phone_is_taken_over_open311_as_on_the_report_page(desk, app, make_principal, typed, kept):
    """Before, a landline with its area code in brackets, which the report page takes, was 400."""
    token = file(desk.web, desk.key, phone=typed)
    _id, command = make_principal("district_command", D)
    assert report_of(bearer_client(app, command), token)["phone"] == kept


def test_an_email_given_over_open311_reaches_the_desk_masked_and_command_whole(desk, app, make_principal):
    """Before, it was stored where no one could ever read it."""
    token = file(desk.web, desk.key, email="wang.xm@example.cn", phone=None)
    assert report_of(desk.clerk, token)["email"] == "w***@example.cn"
    _id, command = make_principal("district_command", D)
    assert report_of(bearer_client(app, command), token)["email"] == "wang.xm@example.cn"


def test_the_xml_answer_to_a_post_is_a_service_requests_list_with_a_token(desk):
    response = post(desk.web, form(desk.key), fmt="xml")
    assert response.status_code == 201
    (item,) = xml_items(response, "service_requests", "request")
    assert item["token"]
    assert report_of(desk.clerk, item["token"])["status"] == "pending"


@pytest.mark.parametrize("where", ["query", "form"])
def test_the_api_key_and_jurisdiction_may_come_in_the_query_string_or_the_form(desk, where):
    fields = form(None)
    if where == "query":
        response = post(desk.web, fields, query={"api_key": desk.key, "jurisdiction_id": D})
    else:
        response = post(desk.web, {**fields, "api_key": desk.key, "jurisdiction_id": D})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert report_of(desk.clerk, response.get_json()[0]["token"])["channel"] == "open311"


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("key, status", [
    (None, 400),
    ("", 400),
    ("gg_not-a-real-key-at-all", 403),
    ("clerk", 403),  # a valid token, but of a triage clerk: not an integration
    ("station", 403),
])
def test_a_missing_wrong_or_non_integration_api_key_is_refused(desk, make_principal, key, status, fmt):
    if key == "clerk":
        _id, key = make_principal("triage_clerk", D)
    elif key == "station":
        _id, key = make_principal("village_station", V1)
    assert_error(post(desk.web, form(key), fmt=fmt), status, fmt)
    assert reports(desk.clerk) == []


BAD_REQUESTS = {
    "no service_code": {"service_code": None},
    "no description": {"description": None},
    "blank description": {"description": "   "},
    "overlong description": {"description": "长" * 4001},
    "a NUL in the description": {"description": "漏水\x00"},
    "no location": {"attribute[unit_code]": None},
    "all locations empty": {"attribute[unit_code]": "", "address_id": "", "lat": "", "long": "",
                            "address_string": ""},
    "unknown unit code": {"attribute[unit_code]": "510503999999999999"},
    "a town is no reporting unit": {"attribute[unit_code]": T1},
    "the district is no reporting unit": {"address_id": D, "attribute[unit_code]": None},
    "a unit code that is not digits": {"attribute[unit_code]": "M111"},
    "address naming no unit": {"attribute[unit_code]": None, "address_string": "北京市朝阳区某街道"},
    "lat without long": {"attribute[unit_code]": None, "lat": "28.8"},
    "long without lat": {"attribute[unit_code]": None, "long": "105.36"},
    "lat not a number": {"attribute[unit_code]": None, "lat": "north", "long": "105.36"},
    "lat out of range": {"attribute[unit_code]": None, "lat": "91", "long": "105.36"},
    "long not finite": {"attribute[unit_code]": None, "lat": "28.8", "long": "inf"},
    "lat nan": {"attribute[unit_code]": None, "lat": "nan", "long": "105.36"},
    # Before, each was filed at whatever micro-grid lay nearest, however far.
    "a phone without a fix (0, 0)": {"attribute[unit_code]": None, "lat": "0", "long": "0"},
    "a point in another province": {"attribute[unit_code]": None, "lat": "28.0", "long": "106.5"},
    "lat with an underscore": {"attribute[unit_code]": None, "lat": "2_8.8", "long": "105.36"},
    "long in full-width digits": {"attribute[unit_code]": None, "lat": "28.8", "long": "１０５.36"},
    "media_url ftp": {"media_url": "ftp://photos.example.org/a.jpg"},
    "media_url javascript": {"media_url": "javascript:alert(1)"},
    "media_url relative": {"media_url": "/uploads/a.jpg"},
    "phone not a number": {"phone": "call me maybe"},
    "email not an address": {"email": "nobody"},
    "anonymous neither true nor false": {"attribute[anonymous]": "maybe"},
}


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("fields", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_a_bad_request_answers_400_and_files_nothing(desk, fields, fmt):
    assert_error(post(desk.web, form(desk.key, **fields), fmt=fmt), 400, fmt)
    assert reports(desk.clerk) == []


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_request_for_a_service_not_found_answers_404_and_files_nothing(desk, fmt):
    """The specification's POST errors: "404 - service_code or jurisdiction_id was not found"."""
    assert_error(post(desk.web, form(desk.key, service_code="potholes"), fmt=fmt), 404, fmt)
    assert reports(desk.clerk) == []


def test_empty_optional_parameters_count_as_absent(desk):
    token = file(desk.web, desk.key, lat="", long="", email="", phone="", media_url="", address_string="",
                 first_name="", last_name="", jurisdiction_id="", address_id="", **{"attribute[anonymous]": ""})
    report = report_of(desk.clerk, token)
    assert report["unit_id"] == desk.unit_ids[M111]
    assert (report["latitude"], report["longitude"], report["media_url"], report["address"]) == (None,) * 4
    assert (report["phone"], report["reporter_name"], report["anonymous"]) == (None, None, False)


def test_an_http_media_url_and_the_reporters_point_are_kept_for_the_desk(desk):
    token = file(desk.web, desk.key, media_url="https://photos.example.org/a.jpg", lat="28.80119",
                 long="105.36119", address_string="幸福路88号")
    report = report_of(desk.clerk, token)
    assert report["media_url"] == "https://photos.example.org/a.jpg"
    assert (report["latitude"], report["longitude"]) == (28.80119, 105.36119)
    assert report["address"] == "幸福路88号"
    # The unit code wins over the point and the address.
    assert report["unit_id"] == desk.unit_ids[M111]


def test_an_oversized_body_is_413_in_the_error_format(desk):
    assert "larger than the 64 KiB" in assert_error(post(desk.web, form(desk.key, description="长" * 40_000)), 413)
    assert reports(desk.clerk) == []


# --- where a request is -------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["attribute[unit_code]", "address_id"])
@pytest.mark.parametrize("code", [M112, G12, V2, M311])
def test_a_unit_code_or_address_id_names_the_unit(desk, field, code):
    token = file(desk.web, desk.key, **{"attribute[unit_code]": None, field: code})
    assert report_of(desk.clerk, token)["unit_id"] == desk.unit_ids[code]


@pytest.mark.parametrize("point, expected", [
    ((28.80212, 105.36212), M211),  # right next to 新民社区第1网格1号微网格
    ((28.8012, 105.3612), M121),  # G12's own centroid: the nearest micro-grid, never the grid
    ((28.70111, 105.40111), M311),
    ((28.72, 105.42), M311),  # 3 km off the nearest centroid: still it
])
def test_lat_long_map_to_the_nearest_micro_grid_centroid(desk, point, expected):
    token = file(desk.web, desk.key, **{"attribute[unit_code]": None}, lat=str(point[0]), long=str(point[1]))
    assert report_of(desk.clerk, token)["unit_id"] == desk.unit_ids[expected]


@pytest.mark.parametrize("address, expected", [
    ("纳溪区新民社区菜市场门口", V2),
    ("永安社区第2网格3栋楼下", G12),
    # Names V1, G11 and M112: the longest name wins.
    ("泸州市纳溪区永安社区第1网格2号微网格旁边", M112),
    ("金龙村第1网格1号微网格", M311),
])
def test_address_string_maps_to_the_unit_with_the_longest_name_it_contains(desk, address, expected):
    token = file(desk.web, desk.key, **{"attribute[unit_code]": None}, address_string=address)
    report = report_of(desk.clerk, token)
    assert report["unit_id"] == desk.unit_ids[expected]
    assert report["address"] == address


def test_an_address_naming_a_village_of_two_towns_goes_to_the_town_it_names(desk, client):
    """Village names repeat across a district; before, the first of them took the report."""
    response = client.post("/api/v1/units", json={"name": "永安社区", "level": "village",
                                                  "parent_id": desk.unit_ids[T2], "code": "510503100202"})
    assert response.status_code == 201, response.get_data(as_text=True)
    namesake = response.get_json()["id"]

    token = file(desk.web, desk.key, **{"attribute[unit_code]": None}, address_string="大渡口镇永安社区路口")
    assert report_of(desk.clerk, token)["unit_id"] == namesake
    token = file(desk.web, desk.key, **{"attribute[unit_code]": None}, address_string="纳溪区安富街道永安社区")
    assert report_of(desk.clerk, token)["unit_id"] == desk.unit_ids[V1]
    # A grid's name holds its village's: the grid of the one 永安社区 that has it.
    token = file(desk.web, desk.key, **{"attribute[unit_code]": None}, address_string="永安社区第2网格")
    assert report_of(desk.clerk, token)["unit_id"] == desk.unit_ids[G12]

    before = len(reports(desk.clerk))
    error = assert_error(post(desk.web, form(desk.key, **{"attribute[unit_code]": None},
                                             address_string="永安社区门口")), 400)
    assert "安富街道" in error and "大渡口镇" in error and "attribute[unit_code]" in error
    assert len(reports(desk.clerk)) == before


@pytest.mark.parametrize("field", ["attribute[unit_code]", "address_id"])
def test_a_unit_code_of_another_jurisdiction_is_400(desk, other_district, field):
    fields = form(desk.key, **{"attribute[unit_code]": None, field: OTHER_M})
    assert_error(post(desk.web, fields), 400)
    # Nor may an address naming the other district's unit file there.
    fields = form(desk.key, **{"attribute[unit_code]": None}, address_string=name_of(OTHER_M))
    assert_error(post(desk.web, fields), 400)
    assert reports(desk.clerk) == []


def test_without_jurisdiction_id_a_request_goes_to_the_api_keys_district(desk, other_district, make_principal):
    # Coordinates right at the other district's micro-grid: the key's district still decides, and
    # the point is not in it (before, it was filed at the key district's nearest micro-grid).
    lat, long = centroid(OTHER_M)
    response = post(desk.web, form(desk.key, **{"attribute[unit_code]": None}, lat=str(lat), long=str(long)))
    assert "510503" in assert_error(response, 400)
    token = file(desk.web, desk.key)  # by its code: the key's district
    assert report_of(desk.clerk, token)["unit_id"] == desk.unit_ids[M111]


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("jurisdiction", ["999999", "510503001", "nanxi", "５１０５０３"])
def test_an_unknown_jurisdiction_id_is_404(desk, jurisdiction, fmt):
    assert_error(post(desk.web, form(desk.key, jurisdiction_id=jurisdiction), fmt=fmt), 404, fmt)
    assert reports(desk.clerk) == []


def test_an_integration_scoped_at_a_village_files_only_there(desk, make_principal):
    _id, key = make_principal("integration", V3)
    assert_error(post(desk.web, form(key, **{"attribute[unit_code]": V1})), 403)
    assert_error(post(desk.web, form(key, **{"attribute[unit_code]": None}, address_string="永安社区")), 403)
    assert reports(desk.clerk) == []
    # Its own village is fine, and its district is the home of the request without jurisdiction_id.
    token = file(desk.web, key, **{"attribute[unit_code]": M311})
    assert report_of(desk.clerk, token)["unit_id"] == desk.unit_ids[M311]


def test_an_integration_of_every_district_must_name_the_jurisdiction(desk, make_principal, other_district):
    _id, key = make_principal("integration")
    assert_error(post(desk.web, form(key)), 400)
    assert reports(desk.clerk) == []
    token = file(desk.web, key, jurisdiction_id=D)
    assert report_of(desk.clerk, token)["unit_id"] == desk.unit_ids[M111]
    # In the other district, M111's code is nobody's.
    assert_error(post(desk.web, form(key, jurisdiction_id=OTHER_D)), 400)


def test_an_integration_of_a_town_is_not_told_the_names_of_units_outside_it(desk, make_principal):
    """Found by a review: a key of one town heard the name of the micro-grid at any code or point
    of the district it probed."""
    _id, key = make_principal("integration", T1)
    for where in ({"attribute[unit_code]": M311},
                  {"attribute[unit_code]": None, "lat": "28.70111", "long": "105.40111"}):
        response = post(desk.web, form(key, **where))
        assert_error(response, 403)
        assert name_of(M311) not in response.get_data(as_text=True) and M311 not in response.get_data(as_text=True)


def test_an_integration_of_one_district_may_not_file_in_another(desk, other_district):
    fields = form(desk.key, jurisdiction_id=OTHER_D, **{"attribute[unit_code]": OTHER_M})
    assert_error(post(desk.web, fields), 403)


@pytest.mark.parametrize("where", [
    {"attribute[unit_code]": OTHER_M}, {"attribute[unit_code]": OTHER_M[:-1] + "9"},
    {"attribute[unit_code]": None, "address_string": "城西社区"},
    {"attribute[unit_code]": None, "lat": "28.82111", "long": "105.84111"},
])
def test_an_integration_learns_nothing_of_another_districts_units(desk, other_district, where):
    """Found by a two-district audit: the unit was located before the key's scope was checked, so
    a 403 named the unit at a code or a point, and a 400 told real codes from made-up ones."""
    response = post(desk.web, form(desk.key, jurisdiction_id=OTHER_D, **where))
    assert_error(response, 403)
    text = response.get_data(as_text=True)
    assert "城西" not in text and OTHER_M not in text


# --- tokens -------------------------------------------------------------------------------------


def test_a_token_has_no_request_id_while_pending_and_the_case_reference_once_dispatched(desk):
    token = file(desk.web, desk.key)
    response = desk.web.get(f"{BASE}/tokens/{token}.json")
    assert response.status_code == 200
    assert response.get_json() == [{"service_request_id": None, "token": token}]
    (item,) = xml_items(desk.web.get(f"{BASE}/tokens/{token}.xml"), "service_requests", "request")
    assert item == {"service_request_id": None, "token": token}

    case = dispatch(desk.clerk, token)
    assert re.fullmatch(r"NX-\d{4}-\d{6}", case["reference"])
    assert desk.web.get(f"{BASE}/tokens/{token}.json").get_json() == [
        {"service_request_id": case["reference"], "token": token}]
    (item,) = xml_items(desk.web.get(f"{BASE}/tokens/{token}.xml"), "service_requests", "request")
    assert item == {"service_request_id": case["reference"], "token": token}
    # People read tracking codes aloud and type them in lower case.
    assert desk.web.get(f"{BASE}/tokens/{token.lower()}.json").get_json()[0]["service_request_id"] == case["reference"]


def test_a_token_is_looked_up_in_the_jurisdiction_asked_for(desk, client):
    """Before, `jurisdiction_id` was ignored here: a token of one district answered for any."""
    token = file(desk.web, desk.key)
    assert desk.web.get(f"{BASE}/tokens/{token}.json", query_string={"jurisdiction_id": D}).status_code == 200
    other = client.post("/api/v1/units", json={"code": "510504", "name": "龙马潭区", "level": "district"})
    assert other.status_code == 201, other.get_data(as_text=True)
    assert_error(desk.web.get(f"{BASE}/tokens/{token}.json", query_string={"jurisdiction_id": "510504"}), 404)
    assert_error(desk.web.get(f"{BASE}/tokens/{token}.json", query_string={"jurisdiction_id": "999999"}), 404)
    assert_error(desk.web.get(f"{BASE}/tokens/{token}.json", query_string={"jurisdiction_id": "abc"}), 404)


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("token", ["ABCDEFGHJK", "nothing", "A" * 300])
def test_an_unknown_token_is_404_in_the_error_format(desk, token, fmt):
    assert_error(desk.web.get(f"{BASE}/tokens/{token}.{fmt}"), 404, fmt)


@pytest.mark.parametrize("path", ["tokens", "requests"])
def test_a_control_character_in_the_path_is_404_in_json(desk, path):
    assert_error(desk.web.get(f"{BASE}/{path}/AB%00%01CD.json"), 404)


@pytest.mark.parametrize("path", ["tokens", "requests"])
def test_a_control_character_in_the_path_is_404_in_well_formed_xml(desk, path):
    assert_error(desk.web.get(f"{BASE}/{path}/AB%00%01CD.xml"), 404, "xml")


# --- GET requests -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_get_requests_lists_only_dispatched_reports_with_the_specs_fields(desk, fmt):
    dispatched = file(desk.web, desk.key, **{"attribute[unit_code]": M121})
    file(desk.web, desk.key, service_code="consumer")  # stays pending
    rejected = file(desk.web, desk.key)
    triage(desk.clerk, rejected, action="reject", reason="spam")
    assert listed(desk.web, fmt) == []

    case = dispatch(desk.clerk, dispatched)
    (item,) = listed(desk.web, fmt)
    assert set(item) == REQUEST_FIELDS
    assert item["service_request_id"] == case["reference"]
    assert item["status"] == "open"
    assert item["service_code"] == "family_neighbour"
    assert item["service_name"] == CATEGORY_TITLES[Category.FAMILY_NEIGHBOUR]
    assert item["agency_responsible"] == name_of(G12)  # the grid of the report's micro-grid owns it
    assert item["address"] == name_of(M121) and item["address_id"] == M121
    assert name_of(G12) in item["status_notes"]
    for field in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert OFFSET.match(item[field]), (field, item[field])
    assert datetime.fromisoformat(item["requested_datetime"]) <= datetime.fromisoformat(item["updated_datetime"])
    assert datetime.fromisoformat(item["expected_datetime"]) > datetime.fromisoformat(item["requested_datetime"])
    lat, long = centroid(M121)
    if fmt == "json":
        assert (item["lat"], item["long"]) == (lat, long)
        assert item["media_url"] is None and item["zipcode"] is None
    else:
        assert (float(item["lat"]), float(item["long"])) == (lat, long)
        assert item["media_url"] is None and item["zipcode"] is None


def test_a_closed_requests_updated_datetime_is_when_it_was_closed(desk, session):
    """The specification: "For requests with status=closed, this will be the date the request was
    closed". Before, a follow-up call days later moved it."""
    case = dispatch(desk.clerk, file(desk.web, desk.key))
    close(desk.station, desk.verifier, case)
    closed_at = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
    set_clock(session, case["id"], closed_at=closed_at)
    act(desk.verifier, get(desk.clerk, case["id"]), "follow_up", satisfaction=5)

    (item,) = listed(desk.web, service_request_id=case["reference"])
    assert item["status"] == "closed"
    assert datetime.fromisoformat(item["updated_datetime"]) == closed_at


def test_service_request_id_takes_a_comma_list_and_overrides_the_other_filters(desk):
    first = dispatch(desk.clerk, file(desk.web, desk.key))["reference"]
    second = dispatch(desk.clerk, file(desk.web, desk.key, service_code="consumer"))["reference"]
    dispatch(desk.clerk, file(desk.web, desk.key))
    assert len(listed(desk.web)) == 3

    assert ids(listed(desk.web, service_request_id=f"{first}, {second}")) == {first, second}
    assert ids(listed(desk.web, "xml", service_request_id=f"{first},{second}")) == {first, second}
    assert ids(listed(desk.web, service_request_id=f"{second},NX-1999-000001")) == {second}
    # Filters that would exclude them, and even a bad one, do not count next to the ids.
    far_past = datetime.now(timezone.utc) - timedelta(days=400)
    overridden = listed(desk.web, service_request_id=first, service_code="labour", status="closed",
                        start_date=w3c(far_past), end_date=w3c(far_past + timedelta(days=1)))
    assert ids(overridden) == {first}


def test_service_code_filters_by_a_comma_list_and_an_unknown_code_is_400(desk):
    family = dispatch(desk.clerk, file(desk.web, desk.key))["reference"]
    consumer = dispatch(desk.clerk, file(desk.web, desk.key, service_code="consumer"))["reference"]
    hazard = dispatch(desk.clerk, file(desk.web, desk.key, service_code="safety_hazard"))["reference"]

    assert ids(listed(desk.web, service_code="consumer")) == {consumer}
    assert ids(listed(desk.web, "xml", service_code="consumer,safety_hazard")) == {consumer, hazard}
    assert ids(listed(desk.web, service_code="labour")) == set()
    assert ids(listed(desk.web, service_code="")) == {family, consumer, hazard}
    for fmt in ("json", "xml"):
        assert_error(desk.web.get(f"{BASE}/requests.{fmt}", query_string={"service_code": "consumer,potholes"}),
                     400, fmt)


def test_status_follows_the_case_and_filters_open_or_closed(desk):
    to_close = dispatch(desk.clerk, file(desk.web, desk.key))
    still_open = dispatch(desk.clerk, file(desk.web, desk.key, **{"attribute[unit_code]": M112}))
    assert {item["status"] for item in listed(desk.web)} == {"open"}

    close(desk.station, desk.verifier, to_close)
    closed_ref, open_ref = to_close["reference"], still_open["reference"]
    statuses = {item["service_request_id"]: item["status"] for item in listed(desk.web)}
    assert statuses == {closed_ref: "closed", open_ref: "open"}
    (closed_item,) = listed(desk.web, service_request_id=closed_ref)
    assert closed_item["expected_datetime"] is None  # nothing is expected of a closed case
    assert ids(listed(desk.web, status="open")) == {open_ref}
    assert ids(listed(desk.web, "xml", status="closed")) == {closed_ref}
    assert ids(listed(desk.web, status="open,closed")) == {closed_ref, open_ref}
    (item,) = listed(desk.web, "xml", status="closed")
    assert item["status"] == "closed"
    for fmt in ("json", "xml"):
        for bogus in ("pending", "open,archived", "OPEN"):
            assert_error(desk.web.get(f"{BASE}/requests.{fmt}", query_string={"status": bogus}), 400, fmt)


def test_the_date_window_defaults_to_the_last_90_days_and_may_not_span_more(desk, session):
    recent = dispatch(desk.clerk, file(desk.web, desk.key))["reference"]
    old_token = file(desk.web, desk.key)
    old = dispatch(desk.clerk, old_token)["reference"]
    now = datetime.now(timezone.utc)
    filed = now - timedelta(days=100)
    # Filed 100 days ago: outside the default window.
    session.execute(sa.update(Report).where(Report.tracking_code == old_token).values(submitted_at=filed))
    session.commit()

    assert ids(listed(desk.web)) == {recent}
    assert ids(listed(desk.web, start_date=w3c(filed - timedelta(days=1)), end_date=w3c(filed + timedelta(days=1)))) \
        == {old}
    # Only a start: 90 days from it; only an end: 90 days up to it.
    assert ids(listed(desk.web, start_date=w3c(filed - timedelta(days=1)))) == {old}
    assert ids(listed(desk.web, "xml", end_date=w3c(filed + timedelta(days=1)))) == {old}
    assert ids(listed(desk.web, end_date=w3c(now + timedelta(minutes=5)))) == {recent}
    # Offsets other than Z, and a "+" sent unencoded (it arrives as a space), as clients do.
    shanghai = (filed - timedelta(days=1)).astimezone(timezone(timedelta(hours=8))).isoformat(timespec="seconds")
    assert ids(listed(desk.web, start_date=shanghai)) == {old}
    response = desk.web.get(f"{BASE}/requests.json?start_date={shanghai}")
    assert response.status_code == 200 and ids(response.get_json()) == {old}

    for fmt in ("json", "xml"):
        for query in (
            {"start_date": w3c(now - timedelta(days=91)), "end_date": w3c(now)},  # more than 90 days
            {"start_date": w3c(now), "end_date": w3c(now - timedelta(days=1))},  # end before start
            {"start_date": "last tuesday"},
            {"end_date": "2026-13-01T00:00:00Z"},
        ):
            assert_error(desk.web.get(f"{BASE}/requests.{fmt}", query_string=query), 400, fmt)


@pytest.mark.parametrize("query", [
    {"start_date": "0001-01-01T00:00:00+08:00"},
    {"end_date": "0001-01-01T00:00:00Z"},
    {"start_date": "9999-12-31T23:00:00"},
], ids=["start in year 1 with an offset", "end in year 1", "start in year 9999"])
def test_a_date_at_the_edge_of_the_calendar_is_a_400_or_an_empty_list(desk, query):
    response = desk.web.get(f"{BASE}/requests.json", query_string=query)
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.get_json() == []
    else:
        assert_error(response, 400)


def test_jurisdiction_id_filters_by_district_and_an_unknown_one_is_404(desk, other_district, make_principal, app):
    _id, key = make_principal("integration")
    _id, clerk = make_principal("triage_clerk")
    clerk = bearer_client(app, clerk)
    here = dispatch(clerk, file(desk.web, key, jurisdiction_id=D))["reference"]
    there_case = dispatch(clerk, file(desk.web, key, jurisdiction_id=OTHER_D, **{"attribute[unit_code]": OTHER_M}))
    there = there_case["reference"]
    assert there.startswith(f"{OTHER_D}-")  # a district without a prefix of its own uses its code

    assert ids(listed(desk.web)) == {here, there}
    assert ids(listed(desk.web, jurisdiction_id=D)) == {here}
    assert ids(listed(desk.web, "xml", jurisdiction_id=OTHER_D)) == {there}
    assert desk.web.get(f"{BASE}/requests/{there}.json", query_string={"jurisdiction_id": OTHER_D}).status_code == 200
    for fmt in ("json", "xml"):
        assert_error(desk.web.get(f"{BASE}/requests.{fmt}", query_string={"jurisdiction_id": "999999"}), 404, fmt)
        # The request exists, but not in that jurisdiction.
        assert_error(desk.web.get(f"{BASE}/requests/{there}.{fmt}", query_string={"jurisdiction_id": D}), 404, fmt)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_single_request_is_answered_as_a_list_of_one(desk, fmt):
    case = dispatch(desk.clerk, file(desk.web, desk.key, **{"attribute[unit_code]": M211}))
    dispatch(desk.clerk, file(desk.web, desk.key))
    response = desk.web.get(f"{BASE}/requests/{case['reference']}.{fmt}")
    assert response.status_code == 200
    items = xml_items(response, "service_requests", "request") if fmt == "xml" else response.get_json()
    assert isinstance(items, list) and len(items) == 1
    (item,) = items
    assert set(item) == REQUEST_FIELDS
    assert item["service_request_id"] == case["reference"]
    assert item["address_id"] == M211 and item["status"] == "open"
    assert item == listed(desk.web, fmt, service_request_id=case["reference"])[0]
    # As a resident types it off a receipt: lower case, or full-width.
    typed = [case["reference"].lower(), full_width(case["reference"])]
    assert [desk.web.get(f"{BASE}/requests/{reference}.{fmt}").status_code for reference in typed] == [200, 200]
    assert listed(desk.web, fmt, service_request_id=",".join(typed)) == [item]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_unknown_or_undispatched_request_is_404_in_the_error_format(desk, fmt):
    token = file(desk.web, desk.key)
    for request_id in ("NX-2026-999999", token, "x" * 500):
        assert_error(desk.web.get(f"{BASE}/requests/{request_id}.{fmt}"), 404, fmt)


def test_no_personal_data_appears_in_any_get(desk):
    secrets = {
        "phone": "13987650423", "first_name": "翠花", "last_name": "欧阳", "email": "cuihua.ouyang7781@example.org",
        "description": "暗号七七八一：楼道里堆满杂物", "media_url": "https://photos.example.org/evidence-7781.jpg",
        "address_string": "幸福路88号3单元", "lat": "28.80119", "long": "105.36119",
    }
    token = file(desk.web, desk.key, **secrets)
    pending_bodies = [desk.web.get(f"{BASE}/tokens/{token}.{fmt}") for fmt in ("json", "xml")]
    case = dispatch(desk.clerk, token)
    reference = case["reference"]
    # The case itself (for those allowed to read it) carries the reporter as its applicant.
    assert any(party["role"] == "applicant" for party in case["parties"])

    responses = pending_bodies + [
        desk.web.get(f"{BASE}/{path}.{fmt}", query_string=query)
        for fmt in ("json", "xml")
        for path, query in (
            ("requests", {}), ("requests", {"service_request_id": reference}), (f"requests/{reference}", {}),
            (f"tokens/{token}", {}), ("services", {}), ("discovery", {}),
        )
    ]
    for response in responses:
        assert response.status_code == 200
        # JSON escapes non-ASCII; compare the text as a reader sees it.
        text = (json.dumps(response.get_json(), ensure_ascii=False) if response.mimetype == "application/json"
                else response.get_data(as_text=True))
        for name, value in secrets.items():
            assert value not in text, (response.request.path, name)
        for fragment in ("7781", "欧阳", "翠花", "幸福路", "楼道", "evidence"):
            assert fragment not in text, (response.request.path, fragment)
    # They are not empty: the request and its place are there.
    listing = json.dumps(listed(desk.web), ensure_ascii=False)
    assert reference in listing and name_of(M111) in listing


def test_every_xml_answer_parses_with_the_expected_root(desk):
    token = file(desk.web, desk.key)
    reference = dispatch(desk.clerk, token)["reference"]
    roots = {
        f"{BASE}/discovery.xml": "discovery",
        f"{BASE}/services.xml": "services",
        f"{BASE}/services/labour.xml": "service_definition",
        f"{BASE}/tokens/{token}.xml": "service_requests",
        f"{BASE}/requests.xml": "service_requests",
        f"{BASE}/requests/{reference}.xml": "service_requests",
        f"{BASE}/requests/NX-2026-999999.xml": "errors",
        f"{BASE}/requests.xml?status=bogus": "errors",
    }
    for url, root in roots.items():
        response = desk.web.get(url)
        assert response.mimetype == "text/xml", url
        assert response.data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
        assert ET.fromstring(response.data).tag == root, url


# --- a third-party client against a real server --------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app over HTTP on a committed SQLite file: two dispatched reports (one closed) and a
    pending one, filed through Open311 itself."""
    from gridgov.auth import service as auth_service
    from gridgov.auth.permissions import Role
    from gridgov.tree import service as tree_service
    from gridgov.tree import transfer

    app = fresh_app(tmp_path_factory.mktemp("open311_server"))
    tokens = {}
    with app.app_context():
        transfer.import_csv(db.session, data=SMALL_TREE_CSV.encode())
        db.session.commit()
        for name, role, scope in [("integration", Role.INTEGRATION, D), ("clerk", Role.TRIAGE_CLERK, D),
                                  ("station", Role.VILLAGE_STATION, V1), ("verifier", Role.VILLAGE_STATION, V1)]:
            unit = tree_service.get_unit_by_code(db.session, code=scope)
            principal = auth_service.create_principal(db.session, username=f"open311.{name}", display_name=name,
                                                      role=role, scope_unit_id=unit.id)
            _token, tokens[name] = auth_service.issue_token(db.session, principal=principal, name="t",
                                                             expires_in=None)
        db.session.commit()
        db.session.remove()

    with served(app) as base:
        yield from _serve_requests(app, tokens, root=f"{base}{BASE}")
    with app.app_context():
        db.engine.dispose()


def _serve_requests(app, tokens: dict, *, root: str):
    clients = {name: bearer_client(app, token) for name, token in tokens.items()}

    def file_over_http(**fields) -> str:
        response = requests.post(f"{root}/requests.json", data=form(tokens["integration"], **fields), timeout=10)
        assert response.status_code == 201, response.text
        return response.json()[0]["token"]

    closed = dispatch(clients["clerk"], file_over_http(**{"attribute[unit_code]": M111}))
    close(clients["station"], clients["verifier"], closed)
    open_ = dispatch(clients["clerk"], file_over_http(service_code="safety_hazard", **{"attribute[unit_code]": M211}))
    file_over_http(service_code="consumer")  # pending: no service request yet

    yield SimpleNamespace(root=root, closed=closed["reference"], open=open_["reference"])


def as_list(answer) -> list[dict]:
    """xmltodict gives one repeated element as a dict, several as a list."""
    return answer if isinstance(answer, list) else [answer]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_client_reads_the_service_list(server, fmt):
    import georeport

    services = as_list(georeport.GeoReport(server.root, output_format=fmt).get_service_list())
    assert {service["service_code"] for service in services} == {category.value for category in Category}
    (labour,) = [service for service in services if service["service_code"] == "labour"]
    assert labour["service_name"] == CATEGORY_TITLES[Category.LABOUR]
    assert str(labour["metadata"]).lower() == "true"
    # With the jurisdiction the client was made for.
    assert len(as_list(georeport.GeoReport(server.root, jurisdiction=D, output_format=fmt).get_service_list())) \
        == len(Category)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_client_reads_a_service_definition(server, fmt):
    import georeport

    definition = georeport.GeoReport(server.root, jurisdiction=D, output_format=fmt) \
        .get_service_definition("traffic_injury")
    assert definition["service_code"] == "traffic_injury"
    attributes = definition["attributes"] if fmt == "json" else as_list(definition["attributes"]["attribute"])
    assert {attribute["code"] for attribute in attributes} == {"unit_code", "anonymous"}
    (anonymous,) = [attribute for attribute in attributes if attribute["code"] == "anonymous"]
    values = anonymous["values"] if fmt == "json" else as_list(anonymous["values"]["value"])
    assert {value["key"] for value in values} == {"true", "false"}


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_client_lists_and_filters_service_requests(server, fmt):
    import georeport

    client = georeport.GeoReport(server.root, output_format=fmt)
    every = as_list(client.get_service_requests())
    assert ids(every) == {server.closed, server.open}
    assert all(set(item) == REQUEST_FIELDS for item in every)
    assert {item["service_request_id"]: item["status"] for item in every} == {server.closed: "closed",
                                                                              server.open: "open"}
    assert all(OFFSET.match(item["requested_datetime"]) for item in every)

    assert ids(as_list(client.get_service_requests(status="closed"))) == {server.closed}
    assert ids(as_list(client.get_service_requests(status="open"))) == {server.open}
    assert ids(as_list(client.get_service_requests(service_code="safety_hazard,labour"))) == {server.open}
    assert ids(as_list(client.get_service_requests(service_request_id=f"{server.open},{server.closed}",
                                                   status="open"))) == {server.closed, server.open}
    now = datetime.now(timezone.utc)
    windowed = client.get_service_requests(start_date=w3c(now - timedelta(days=1)),
                                           end_date=w3c(now + timedelta(days=1)))
    assert ids(as_list(windowed)) == {server.closed, server.open}
    assert ids(as_list(georeport.GeoReport(server.root, jurisdiction=D, output_format=fmt)
                       .get_service_requests(service_code="family_neighbour"))) == {server.closed}
    if fmt == "json":  # an empty XML list has no request element for the client to index
        assert client.get_service_requests(start_date=w3c(now - timedelta(days=200)),
                                           end_date=w3c(now - timedelta(days=150))) == []
    with pytest.raises(requests.HTTPError) as refused:
        client.get_service_requests(status="pending")
    assert refused.value.response.status_code == 400


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_client_reads_a_single_service_request(server, fmt):
    import georeport

    client = georeport.GeoReport(server.root, jurisdiction=D, output_format=fmt)
    item = client.get_service_request(server.open)
    assert set(item) == REQUEST_FIELDS
    assert item["service_request_id"] == server.open
    assert item["status"] == "open" and item["service_code"] == "safety_hazard"
    assert item["address_id"] == M211 and item["agency_responsible"] == name_of(G21)
    assert float(item["lat"]) == centroid(M211)[0] and float(item["long"]) == centroid(M211)[1]
    assert OFFSET.match(item["expected_datetime"])

    closed = client.get_service_request(server.closed)
    assert closed["status"] == "closed" and closed["address_id"] == M111
    assert closed["expected_datetime"] is None

    with pytest.raises(requests.HTTPError) as missing:
        client.get_service_request("NX-2026-999999")
    assert missing.value.response.status_code == 404
    assert missing.value.response.headers["Content-Type"].startswith("text/xml" if fmt == "xml" else "application/json")


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_path_or_method_no_route_takes_answers_in_the_specifications_format(anonymous, fmt):
    assert_error(anonymous.get(f"{BASE}/no-such-thing.{fmt}"), 404, fmt)
    response = anonymous.delete(f"{BASE}/services.{fmt}")
    assert_error(response, 405, fmt)
    assert "GET" in response.headers["Allow"]
    # Outside /open311 the API's own format still holds.
    assert anonymous.get("/api/v1/no-such-thing").mimetype == "application/problem+json"


def test_a_report_merged_into_a_case_is_that_request_for_tokens_and_requests_alike(desk):
    """Before, ``tokens`` named the case a report was merged into, and ``requests/{id}`` said no
    request had that id."""
    first = file(desk.web, desk.key)
    case = dispatch(desk.clerk, first)
    duplicate = file(desk.web, desk.key, **{"attribute[unit_code]": M112})
    chained = file(desk.web, desk.key)
    triage(desk.clerk, duplicate, action="merge", case_id=case["id"])
    triage(desk.clerk, chained, action="merge", report_id=report_of(desk.clerk, duplicate)["id"])

    for token in (first, duplicate, chained):
        (answer,) = desk.web.get(f"{BASE}/tokens/{token}.json").get_json()
        assert answer["service_request_id"] == case["reference"]
        (request,) = listed(desk.web, service_request_id=answer["service_request_id"])
        assert request["address_id"] == M111  # as its first report made it
        got = desk.web.get(f"{BASE}/requests/{case['reference']}.json")
        assert got.status_code == 200 and got.get_json()[0]["service_request_id"] == case["reference"]
    assert [item["service_request_id"] for item in listed(desk.web)] == [case["reference"]]  # once


def test_a_resolved_request_expects_nothing_more(desk):
    case = dispatch(desk.clerk, file(desk.web, desk.key))
    case = act(desk.station, case, "accept")
    case = act(desk.station, case, "record_attempt", outcome="success")
    act(desk.station, case, "resolve")
    (item,) = listed(desk.web, service_request_id=case["reference"])
    assert (item["status"], item["expected_datetime"]) == ("closed", None)


def test_a_parameter_given_twice_with_two_values_is_refused(desk):
    """Before, ?status=open&status=closed read "open" and answered nothing closed."""
    assert_error(desk.web.get(f"{BASE}/requests.json?status=open&status=closed"), 400)
    assert desk.web.get(f"{BASE}/requests.json?status=open&status=open").status_code == 200


def test_an_empty_item_in_a_comma_list_counts_as_absent(desk):
    reference = dispatch(desk.clerk, file(desk.web, desk.key))["reference"]
    for query in ({"status": "open, "}, {"status": ","}, {"service_code": "family_neighbour,"}, {"service_code": " ,"}):
        assert ids(listed(desk.web, **query)) == {reference}, query


def test_a_merged_report_does_not_change_what_its_request_says(desk, session):
    """The request is its case as the first report made it: a duplicate filed under another
    service, or later, merged into it, neither lists it under that service nor moves it into a
    later window (before, both did, and the list then disagreed with requests/{id})."""
    first = file(desk.web, desk.key)
    case = dispatch(desk.clerk, first)
    filed = datetime.now(timezone.utc) - timedelta(days=10)
    session.execute(sa.update(Report).where(Report.tracking_code == first).values(submitted_at=filed))
    session.commit()
    duplicate = file(desk.web, desk.key, service_code="labour", **{"attribute[unit_code]": M112})
    triage(desk.clerk, duplicate, action="merge", case_id=case["id"])

    assert listed(desk.web, service_code="labour") == []
    assert ids(listed(desk.web, service_code="family_neighbour")) == {case["reference"]}
    assert listed(desk.web, start_date=w3c(filed + timedelta(days=5))) == []
    (got,) = desk.web.get(f"{BASE}/requests/{case['reference']}.json").get_json()
    (item,) = listed(desk.web)
    assert got == item and got["address_id"] == M111


def test_a_requests_own_time_as_end_date_takes_it_in(desk):
    """Times are shown to the second; end_date ("the latest to include") compared to the
    microsecond: a request's own requested_datetime as end_date left it out."""
    case = dispatch(desk.clerk, file(desk.web, desk.key))
    (item,) = listed(desk.web)
    assert [found["service_request_id"] for found in listed(desk.web, end_date=item["requested_datetime"])] == [
        case["reference"]]
    assert listed(desk.web, start_date=item["requested_datetime"], end_date=item["requested_datetime"]) == [item]


def test_a_report_filed_earlier_but_merged_later_does_not_move_the_request(desk):
    """The request is its case as the report that made it made it, not the lowest id among
    those merged into it later."""
    early = file(desk.web, desk.key, service_code="labour", **{"attribute[unit_code]": M112})
    later = file(desk.web, desk.key)
    case = dispatch(desk.clerk, later)
    (before,) = listed(desk.web)
    triage(desk.clerk, early, action="merge", case_id=case["id"])
    (after,) = listed(desk.web)
    assert after == before and after["address_id"] == M111
    assert desk.web.get(f"{BASE}/requests/{case['reference']}.json").get_json() == [before]


def test_a_place_typed_in_full_width_digits_is_the_place_it_names(desk):
    """A Chinese input method in full-width mode types ５１０… and 第１网格. Before, the code was
    refused as no unit's, and the address filed the report at the village, not its micro-grid."""
    by_code = file(desk.web, desk.key, **{"attribute[unit_code]": full_width(M311)})
    by_name = file(desk.web, desk.key, **{"attribute[unit_code]": None}, address_string="金龙村第１网格１号微网格")
    assert report_of(desk.clerk, by_code)["unit_id"] == report_of(desk.clerk, by_name)["unit_id"] == desk.unit_ids[M311]


def test_a_point_without_a_fix_yields_to_the_address_given_with_it(desk):
    """A phone without a fix sends 0,0 and the address typed in: the address places it."""
    token = file(desk.web, desk.key, **{"attribute[unit_code]": None}, lat="0", long="0",
                 address_string="金龙村第1网格1号微网格")
    assert report_of(desk.clerk, token)["unit_id"] == desk.unit_ids[M311]


def test_an_empty_api_key_in_the_query_leaves_the_one_in_the_form(desk):
    """Before, ?api_key= hid the key sent in the form (the empty one was read first)."""
    response = post(desk.web, form(desk.key), query={"api_key": ""})
    assert response.status_code == 201, response.get_data(as_text=True)
