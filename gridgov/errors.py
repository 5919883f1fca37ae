"""Every error the service answers is an RFC 9457 problem document (``application/problem+json``).

Services raise ``DomainError`` subclasses; views never build error responses themselves. One
handler turns these, HTTP errors from Werkzeug and validation errors from flask-smorest into the
same shape: ``type``, ``title``, ``status``, ``detail`` and, for bad input, ``errors`` (field →
messages).
"""

import logging
import re
import uuid
from http import HTTPStatus

import sqlalchemy as sa
from flask import Flask, current_app, g, has_request_context, make_response, render_template, request
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

PROBLEM_MIMETYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://gridgov.example/problems/"


class DomainError(Exception):
    """A rule of the domain refused the request; ``status`` says how the API answers it."""

    status = 400
    type = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, errors: dict | None = None, headers: dict | None = None, **extra):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra


class Unauthenticated(DomainError):
    status, type, title = 401, "unauthenticated", "Sign-in required"

    def __init__(self, detail: str, **kwargs):
        headers = {"WWW-Authenticate": 'Bearer realm="gridgov"'}
        super().__init__(detail, headers=headers, **kwargs)


class Forbidden(DomainError):
    status, type, title = 403, "forbidden", "Not permitted"


class NotFound(DomainError):
    # Titles are HTTP's phrases where the type is HTTP's: one title per type (RFC 9457), whether
    # the service or the router answers.
    status, type, title = 404, "not-found", "Not Found"


class Conflict(DomainError):
    status, type, title = 409, "conflict", "Conflict"


class BeingMoved(Conflict):
    """A unit the request must name is being moved by another transaction: try again shortly."""


class Gone(DomainError):
    """It was here and is no more (a stored file lost from the disk)."""

    status, type, title = 410, "gone", "Gone"


class Unavailable(DomainError):
    """Something the request needs beside the database is out of order (the attachments' disk)."""

    status, type, title = 503, "service-unavailable", "Service Unavailable"


class RuleViolation(DomainError):
    """Valid input that breaks a rule of the domain (422)."""

    status, type, title = 422, "rule-violation", "Unprocessable request"


class InvalidInput(DomainError):
    """Input that is malformed before any rule applies (a bad cursor, an unreadable file)."""

    status, type, title = 400, "invalid-input", "Invalid input"


class UnsupportedMediaType(DomainError):
    status, type, title = 415, "unsupported-media-type", "Unsupported Media Type"


class Locked(DomainError):
    """Too many failed sign-ins: the account waits (``Retry-After`` says how long)."""

    status, type, title = 429, "locked", "Too many failed attempts"


def problem(status: int, *, title=None, detail=None, type_=None, errors=None, **extra):
    body = {
        "type": PROBLEM_TYPE_BASE + (type_ or _slug(status)),
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail or HTTPStatus(status).description,
    }
    if errors:
        body["errors"] = errors
    if status >= 500 and has_request_context() and "request_id" in g:
        body["request_id"] = g.request_id  # what a user quotes, to find the log's lines of it
    body.update(extra)
    response = current_app.json.response(body)
    response.status_code = status
    response.mimetype = PROBLEM_MIMETYPE
    return response


def _slug(status: int) -> str:
    return HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")


def _flatten_messages(messages) -> dict:
    """webargs nests messages by location (``{"json": {"name": [...]}}``); clients want fields."""
    flat = {}
    if not isinstance(messages, dict):
        return {"_schema": messages if isinstance(messages, list) else [str(messages)]}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            for field, field_messages in fields.items():
                flat[str(field)] = field_messages
        else:
            flat[str(location)] = fields
    return flat


def handle_http_exception(error: HTTPException):
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    status = error.code or 500
    if messages is not None:
        return problem(
            status,
            type_="validation-error",
            title="Invalid request" if status == 400 else "Validation failed",
            detail="The request has invalid fields; see `errors`.",
            errors=_flatten_messages(messages),
        )
    if status == 500:  # a handler's own fault (Flask has logged it): what the 500 handler says
        return out_of_order(500, UNEXPECTED)
    if status == 404 and _wants_a_page():
        # A resident's mistyped link (/r/, /t/a/b …) is a page in their words, not a problem document.
        return render_template("message.html", title="页面不存在",
                               message="您访问的页面不存在。请扫描网格内张贴的二维码，或检查链接是否完整。"), 404
    response = problem(status, detail=data.get("message") or http_detail(error))
    for name, value in (error.get_headers() if hasattr(error, "get_headers") else []):
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    return response


def http_detail(error: HTTPException) -> str:
    """What an HTTP error says went wrong, naming the limit where one was passed."""
    if isinstance(error, RateLimitExceeded):  # its description is the limit alone ("3 per 1 minute")
        return f"Too many requests: at most {error.description}. Try again after Retry-After seconds."
    limit = request.max_content_length
    if isinstance(error, RequestEntityTooLarge) and limit and (request.content_length or 0) > limit:
        # (Werkzeug's words name no limit; it also refuses a form of too many parts in their own words.)
        return f"The request body is larger than the {_size(limit)} this endpoint accepts."
    return error.description or error.name


def _size(count: int) -> str:
    """``16 MiB``, ``32 KiB``, ``1,500 bytes``: a limit as a person would say it, never rounded."""
    for unit, factor in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if count >= factor and count % factor == 0:
            return f"{count // factor} {unit}"
    return f"{count:,} bytes"


# Where programs call: their answers are problem documents whatever they accept.
PROGRAM_PREFIXES = ("/api/", "/open311/")


def _wants_a_page() -> bool:
    """A browser asking for a page outside the API."""
    if request.path.startswith(PROGRAM_PREFIXES):
        return False
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def handle_domain_error(error: DomainError):
    response = problem(
        error.status,
        type_=error.type,
        title=error.title,
        detail=error.detail,
        errors=error.errors,
        **error.extra,
    )
    response.headers.update(error.headers)
    return response


# PostgreSQL's deadlock and serialization failures: the transaction lost a race, not a bug.
RETRYABLE_SQLSTATES = {"40P01", "40001"}


# PostgreSQL's undefined table and undefined column; SQLite says so in words.
SCHEMA_SQLSTATES = {"42P01", "42703"}
SCHEMA_HINT = "The database's schema is missing or older than this code: run `flask --app gridgov db upgrade`."
DENIED_HINT = ("The database refused the service's user (permission denied): grant it its rights on the service's "
               "database and tables (GRIDGOV_DATABASE_URL names the user).")
UNEXPECTED = "An unexpected error occurred; it has been logged."
# What a browser's page says when the fault is the service's (500, a schema not there).
FAULT_PAGE = "系统暂时出现故障，请稍后再试。"


def denied(error: Exception) -> bool:
    """Whether ``error`` is PostgreSQL refusing the user its rights (insufficient_privilege)."""
    return getattr(getattr(error, "orig", None), "sqlstate", None) == "42501"


def out_of_order(status: int, detail: str):
    """A fault of the service, not of the request: a page in the resident's words for a browser
    (a problem document's JSON on a resident's phone says nothing), else a problem."""
    if _wants_a_page():
        # The request's id, for the resident to quote when they call: the log's lines of it.
        page = render_template("message.html", title="系统故障", message=FAULT_PAGE, reference=g.get("request_id"))
        return make_response(page, status)
    return problem(status, detail=detail)


def schema_missing(error: Exception) -> bool:
    """Whether ``error`` is the database saying a table or column this code uses is not there."""
    orig = getattr(error, "orig", None)
    if orig is None:
        return False
    # SQLite's words: "no such table: …", "no such column: …", "table reports has no column named …"
    # (an INSERT into a table an older revision made).
    message = str(orig)
    return (getattr(orig, "sqlstate", None) in SCHEMA_SQLSTATES
            or message.startswith(("no such table", "no such column"))
            or (message.startswith("table ") and " has no column named " in message))


RETRY_SECONDS = 5


def busy(error: sa.exc.DBAPIError) -> bool:
    """SQLite's write lock held by another writer for longer than the busy timeout (a large
    import): nothing was written, and the same request a little later will go through."""
    return str(error.orig).startswith(("database is locked", "database is busy"))


def unreachable(error: sa.exc.DBAPIError) -> bool:
    """The database could not be reached: no connection could be made (the error came before
    any statement was sent), or the one in use was lost (the server restarted mid-request)."""
    return isinstance(error, sa.exc.OperationalError) and (
        error.connection_invalidated
        or (error.statement is None and getattr(error.orig, "sqlstate", None) is None))


# What a browser's page says when the database cannot serve it, by what became of the request.
BUSY_PAGE = {
    "read": "系统暂时无法访问，请稍候片刻再试。",
    "not_saved": "系统正忙，您填写的内容没有保存。请稍候片刻再提交。",
    # The form's own id makes a second sending of the same form answer what the first filed.
    "perhaps_saved": "系统连接中断，您提交的内容可能已经保存。请稍候片刻再提交一次，不会重复登记。",
}


def try_again_later(detail: str, *, perhaps_made: bool = False):
    """503 with ``Retry-After``: a page in the resident's words for a browser, else a problem.
    ``perhaps_made``: the connection was lost as the change was being made."""
    if _wants_a_page():
        said = "read" if request.method in ("GET", "HEAD") else "perhaps_saved" if perhaps_made else "not_saved"
        response = make_response(render_template("message.html", title="系统繁忙", message=BUSY_PAGE[said]), 503)
    else:
        response = problem(503, detail=f"{detail} Try again after Retry-After seconds.")
    response.headers["Retry-After"] = str(RETRY_SECONDS)
    return response


def handle_database_conflict(error: sa.exc.DBAPIError):
    """A write the request's own checks allowed but the database refused, because another
    request made the same change (a username, a code) or took the same rows at the same time.
    The transaction is rolled back, so nothing of the request was written. (A database without
    the schema, or one busy or out of reach, is no conflict: 503, saying what to do.)"""
    from gridgov.db import db  # not at the top: gridgov.db imports this module

    hint = SCHEMA_HINT if schema_missing(error) else DENIED_HINT if denied(error) else None
    if hint is not None:
        db.session.rollback()
        current_app.logger.error("%s %s: %s", request.method, request.path, error.orig)
        return out_of_order(503, hint)
    if busy(error):
        db.session.rollback()
        current_app.logger.warning("%s %s: the database stayed busy: %s", request.method, request.path, error.orig)
        return try_again_later("The database is busy with other writes; nothing was written.")
    if unreachable(error):
        db.session.rollback()
        current_app.logger.error("%s %s: the database cannot be reached: %s", request.method, request.path, error.orig)
        if error.connection_invalidated:  # lost mid-request: perhaps while the server committed
            return try_again_later("The connection to the database was lost; the change may or may not have been "
                                   "made (a retry with the same Idempotency-Key, where one is taken, is safe).",
                                   perhaps_made=True)
        return try_again_later("The database cannot be reached just now; nothing was written.")
    if not isinstance(error, sa.exc.IntegrityError) and getattr(error.orig, "sqlstate", None) not in RETRYABLE_SQLSTATES:
        raise error  # anything else is a fault: the 500 handler, and the log
    db.session.rollback()
    # A lost race and a bug that breaks a constraint look alike from here: the log tells them apart.
    current_app.logger.warning("%s %s refused by the database: %s", request.method, request.path, error.orig)
    return problem(409, detail="Another change made at the same time conflicts with this one; nothing was written. Try again.")


def handle_unexpected_error(error: Exception):
    # Flask logs only what no handler takes; this one does, so it logs. The client learns
    # nothing about the internals.
    current_app.logger.error("%s %s failed", request.method, request.path, exc_info=error)
    return out_of_order(500, UNEXPECTED)


# A proxy's request id (nginx's $request_id, a load balancer's), if it looks like one.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")


def _take_request_id() -> None:
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _send_request_id(response):
    if "request_id" in g:
        response.headers["X-Request-ID"] = g.request_id
    return response


class _RequestIdInLog(logging.Filter):
    """Every line the app logs during a request names it: with several workers, a user's 500
    (its ``request_id``) is found in the log by that, not by the time and path alone."""

    def filter(self, record):
        if has_request_context() and "request_id" in g:
            record.msg = f"[request {g.request_id}] {record.msg}"
        return True


def register_error_handlers(app: Flask) -> None:
    app.before_request(_take_request_id)
    app.after_request(_send_request_id)
    if not any(isinstance(each, _RequestIdInLog) for each in app.logger.filters):  # one logger for every app
        app.logger.addFilter(_RequestIdInLog())
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(sa.exc.IntegrityError, handle_database_conflict)
    app.register_error_handler(sa.exc.OperationalError, handle_database_conflict)
    app.register_error_handler(sa.exc.ProgrammingError, handle_database_conflict)
    if not app.testing:
        app.register_error_handler(Exception, handle_unexpected_error)
