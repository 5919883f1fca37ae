"""The API documentation page works offline, from the package's own assets, at /docs."""

import re
from urllib.parse import urljoin


def test_the_docs_page_and_every_asset_it_refers_to_answer_without_signing_in(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
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
