"""Headers every answer carries: no page may be framed by another site, no answer is sniffed into
another type, and a page's address (a QR code's token, a tracking code) is not sent to other sites
as the Referer. Before, no answer but an attachment's had any of them."""

import pytest

PAGES = ["/login", "/docs", "/t", "/api/v1/openapi.json", "/healthz", "/no/such/page", "/api/v1/units"]


@pytest.mark.parametrize("path", PAGES)
def test_every_answer_forbids_framing_and_sniffing(anonymous, path):
    response = anonymous.get(path, headers={"Accept": "text/html"})

    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
