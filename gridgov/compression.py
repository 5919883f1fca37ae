"""Compressed answers (flask-compress): for phones on mobile networks, a page of 500 cases is
331 kB as JSON and 36 kB gzipped.

Not the pages (BREACH: a CSRF token beside text a stranger can put there, compressed together,
can be read off the answers' sizes), nor streams (they start at once, and are for desks).
"""

import flask_compress
from flask import Flask, request

SETTINGS = {
    "COMPRESS_MIMETYPES": ["application/json", "application/problem+json", "text/csv"],
    "COMPRESS_STREAMS": False,
}


class Compress(flask_compress.Compress):
    """The encoding chosen as RFC 9110 says, by Werkzeug's reading of ``Accept-Encoding``:
    flask-compress 1.25 took one the client refused (``gzip;q=0``)."""

    def after_request(self, response):
        chosen = request.accept_encodings.best_match(self.enabled_algorithms)
        # What flask-compress reads next: the one encoding chosen, or none.
        request.environ["HTTP_ACCEPT_ENCODING"] = chosen or "identity"
        return super().after_request(response)


compress = Compress()


def init_app(app: Flask) -> None:
    """Register first, so that its after_request runs last, on the whole answer."""
    for name, value in SETTINGS.items():
        app.config.setdefault(name, value)
    compress.init_app(app)
