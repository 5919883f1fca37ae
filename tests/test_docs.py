"""The API documentation page works offline, from the package's own assets, at /docs."""

import re
from urllib.parse import urljoin

import pytest

from gridgov.cases import transitions
from gridgov.cases.enums import Status
from gridgov.cases.transitions import TRANSITIONS
from tests.conftest import BROWSER_WAIT_SECONDS, chromium, need_chromium, served


def test_the_docs_page_and_every_asset_it_refers_to_answer_without_signing_in(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<html lang="en">' in html  # the API's words are English: read in an English voice
    references = re.findall(r'(?:href|src|url:)\s*=?\s*"([^"]+)"', html)
    assert references and not any(ref.startswith(("http:", "https:", "//", "/")) for ref in references)
    for reference in references:
        asset = client.get(urljoin("http://localhost/docs", reference))
        assert asset.status_code == 200, reference


def test_docs_with_a_trailing_slash_sends_the_browser_to_docs(client):
    """From /docs/ the relative asset URLs would resolve under /docs/ and the page stayed blank."""
    response = client.get("/docs/")
    assert response.status_code == 302
    assert urljoin("http://localhost/docs/", response.headers["Location"]) == "http://localhost/docs"


def test_the_export_is_documented_in_both_formats_and_the_json_matches_its_schema(client, small_tree):
    """Before, the document said only "OK": neither format, nor the rows' fields."""
    spec = client.get("/api/v1/openapi.json").get_json()
    answer = spec["paths"]["/api/v1/units/{unit_id}/export"]["get"]["responses"]["200"]
    assert answer["description"]
    assert set(answer["content"]) == {"text/csv", "application/json"}
    row_schema = spec["components"]["schemas"][answer["content"]["application/json"]["schema"]["items"]["$ref"].split("/")[-1]]

    district = client.get("/api/v1/units/by-code/510503").get_json()
    rows = client.get(f"/api/v1/units/{district['id']}/export", query_string={"format": "json"}).get_json()
    assert len(rows) == 15
    for row in rows:
        assert set(row_schema["required"]) <= set(row) <= set(row_schema["properties"])


def _operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method, path, operation


def test_every_operation_is_named_and_summarised_for_a_generated_client(client):
    """Before, no operation had an operationId (generators invented `apiV1UnitsUnitIdGet`) and
    sixteen had no summary."""
    spec = client.get("/api/v1/openapi.json").get_json()
    operations = list(_operations(spec))
    names = [operation.get("operationId") for _method, _path, operation in operations]
    assert all(names) and len(set(names)) == len(names)
    assert [(method, path) for method, path, operation in operations if not operation.get("summary")] == []
    by_name = {operation["operationId"]: (method, path) for method, path, operation in operations}
    assert by_name["getUnitById"] == ("get", "/api/v1/units/{unit_id}")
    assert by_name["postCases"] == ("post", "/api/v1/cases")


def test_every_answer_that_is_a_file_says_its_media_type(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    bare = [(method, path) for method, path, operation in _operations(spec)
            for status, answer in operation["responses"].items()
            if status.startswith("2") and status != "204" and not answer.get("content")]
    assert bare == []
    media = {path: set(operation["responses"]["200"]["content"]) for method, path, operation in _operations(spec)
             if method == "get" and path.endswith(("qr.png", "riskmap.geojson", "cases.csv", "{attachment_id}"))}
    assert media["/api/v1/units/{unit_id}/qr.png"] == {"image/png"}
    assert media["/api/v1/units/{unit_id}/riskmap.geojson"] == {"application/geo+json"}
    assert media["/api/v1/cases.csv"] == {"text/csv"}
    assert {"image/jpeg", "application/pdf"} <= media["/api/v1/cases/{case_id}/attachments/{attachment_id}"]


def test_every_property_has_a_type_so_that_nullable_means_something(client):
    """OpenAPI 3.0 ignores `nullable` on a schema without a type: before, every enum (a case's
    status, its deadline colour …) had none, and generated clients made them non-nullable."""
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    untyped = [(name, field) for name, schema in schemas.items()
               for field, prop in schema.get("properties", {}).items()
               if not {"type", "$ref", "allOf", "oneOf", "anyOf"} & set(prop)]
    assert untyped == []
    colour = schemas["Case"]["properties"]["deadline_colour"]
    assert colour["type"] == "string" and colour["nullable"] is True and "red" in colour["enum"]


def test_the_case_export_documents_no_paging_it_does_not_do(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    names = {parameter["name"] for parameter in spec["paths"]["/api/v1/cases.csv"]["get"]["parameters"]}
    assert "status" in names and not {"limit", "cursor"} & names


def test_the_case_actions_are_documented_each_with_its_statuses_and_fields(client):
    """Before, the operation listed 14 of the 16 actions (not regrade, not add_party) and said
    nothing of the fields each needs; the note's description said only delegate needs one."""
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/cases/{case_id}/actions"]["post"]
    rows = {cells[0].strip("` "): [cell.strip() for cell in cells[1:]]
            for cells in (line.strip("|").split("|") for line in operation["description"].splitlines()
                          if line.startswith("| `"))}
    assert set(rows) == set(TRANSITIONS)
    for action, (sources, *_rest) in rows.items():  # as the service decides it, status by status
        listed = {source.split(" ")[0] for source in sources.split(", ")}
        assert listed == {status.value for status in Status for reason in (None, "deadline_exceeded")
                          if transitions.allowed(action, status, reason=reason)}, action
    assert rows["regrade"] == ["reported, accepted, in_progress, reopened", "unchanged",
                               "note, risk_grade or category or people_involved", "–"]
    assert rows["escalate"][0] == "accepted, in_progress, reported (only for deadline_exceeded)"
    assert rows["delegate"][2] == "note, unit_id"
    assert rows["resume"][:2] == ["suspended", "the status it was suspended in"]
    action = spec["components"]["schemas"]["Action"]["properties"]
    assert set(action["action"]["enum"]) == set(TRANSITIONS)
    assert action["note"]["description"] == "Why; required by delegate, regrade."
    assert "resume" in action["reason"]["description"]


@pytest.mark.parametrize("screen", [{"window_size": "1350,900"}, {"phone": True}])
def test_the_docs_page_does_not_scroll_sideways_on_a_laptop_or_a_phone(app, tmp_path, screen):
    """The permission table has a column per role (18 of them): before, it made the whole page
    2,000 px wide on a 1,350 px window, and the role names scrolled out of sight. On a phone, a
    tag's long description (rollups) ran 130 px past the screen's edge."""
    need_chromium()
    from selenium.webdriver.support.ui import WebDriverWait

    with served(app) as base, chromium(**screen) as driver:
        driver.get(f"{base}/docs")
        WebDriverWait(driver, BROWSER_WAIT_SECONDS).until(
            lambda d: d.find_elements("css selector", ".swagger-ui .info .description table")
            and d.find_elements("css selector", ".swagger-ui .opblock-tag small"))
        widths = driver.execute_script(
            "const table = document.querySelector('.swagger-ui .info .description table');"
            "return [document.documentElement.scrollWidth, window.innerWidth, table.scrollWidth, table.clientWidth];")

    page_width, window_width, table_width, table_shown = widths
    # A phone widens its window to a page wider than its screen, and shows it zoomed out.
    assert page_width <= (360 if screen.get("phone") else window_width), widths
    assert table_width > table_shown, widths  # the table is wider: it scrolls within itself
