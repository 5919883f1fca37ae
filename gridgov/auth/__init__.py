"""Principals, tokens, the permission table and scope; ``init_app`` wires them into the app."""

import re

from flask import Flask, g

from gridgov import security
from gridgov.auth import keys, permissions


def init_app(app: Flask, api) -> None:
    """After every blueprint is registered: refuse to start with an endpoint the permission
    table does not name, guard every request, and print the table in the API docs."""
    from gridgov.auth.guard import csrf, guard

    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = keys.load_or_create(app.instance_path)
    csrf.init_app(app)
    missing = permissions.unguarded(app.url_map.iter_rules())
    if missing:
        raise RuntimeError("endpoints without an entry in auth.permissions.ENDPOINTS: " + ", ".join(missing))
    app.before_request(guard)
    app.after_request(_kept_by_no_cache)
    _document(app, api)


def _kept_by_no_cache(response):
    """What a signed-in principal is answered (cases, parties, figures) is kept by no cache in
    between, nor by the browser: Back after signing out on a shared computer shows nothing."""
    return security.kept_by_no_cache(response) if g.get("principal") is not None else response


_PARAMETER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def openapi_path(rule: str) -> str:
    """A Flask URL rule as the OpenAPI document writes it: ``/units/<id:unit_id>`` → ``/units/{unit_id}``."""
    return _PARAMETER.sub(r"{\1}", rule)


def _document(app: Flask, api) -> None:
    api.spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "description": "An API token (`gg_…`)."}
    )
    api.spec.components.security_scheme(
        "session", {"type": "apiKey", "in": "cookie", "name": "session",
                    "description": "The cookie of `/login`; changes also need the session's CSRF token in the "
                                   "`X-CSRFToken` header (/docs adds it when you are signed in; /logout's "
                                   "form holds it)."}
    )
    paths = api.spec._paths  # apispec keeps them here until the document is rendered
    for rule in app.url_map.iter_rules():
        operations = paths.get(openapi_path(rule.rule))
        if not operations:
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = operations.get(method.lower())
            if operation is None:
                continue
            needed = permissions.ENDPOINTS[(rule.endpoint, method)]
            operation["x-permission"] = needed
            if needed == permissions.PUBLIC:
                operation["security"] = []
                note = "**Permission:** none (public)."
            else:
                operation["security"] = [{"bearer": []}, {"session": []}]
                note = ("**Permission:** any signed-in principal." if needed == permissions.SIGNED_IN
                        else f"**Permission:** `{needed}`, within the caller's scope.")
            operation["description"] = (operation.get("description", "") + "\n\n" + note).strip()
