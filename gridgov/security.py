"""Headers every answer carries, whatever made it: no page of the service may be framed by another
site (the report form or the sign-in page dressed up as something else), no answer is sniffed into
another type, and the addresses a page was opened at (a QR code's, a tracking code's) are not sent
on to other sites as the Referer when a resident follows a link."""

from flask import Flask

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # X-Frame-Options' successor. An answer with a policy of its own (an attachment) keeps it.
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
}


def init_app(app: Flask) -> None:
    app.after_request(_add_headers)


def _add_headers(response):
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def kept_by_no_cache(response):
    """``Cache-Control: no-store`` unless the answer says otherwise: for the blueprints and
    answers no cache in between may keep."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response
