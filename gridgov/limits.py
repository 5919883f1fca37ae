"""Rate limits on everything anyone may call without signing in (Flask-Limiter), in one table.

Every ``PUBLIC`` endpoint of the permission table gets ``RATELIMIT_PUBLIC`` per address. The
endpoints that write get ``ROUTE_LIMITS`` instead: each a setting and what it is counted by (the
address, the QR code, the api_key). Counters live in memory by default and in Redis when
``GRIDGOV_RATELIMIT_STORAGE_URL`` is set, which every worker of a deployment must then share;
while that Redis cannot be reached, each worker counts in its own memory.

Each app gets a limiter of its own (``init_app``): a module-level one would carry one app's
storage and switches into every other app of the process.
"""

import hashlib
import logging
from urllib.parse import urlsplit

from flask import Flask, current_app, g, request
from flask.logging import default_handler
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from gridgov.auth.permissions import ENDPOINTS, PUBLIC
from gridgov.config import without_password


def by_address() -> str:
    return get_remote_address()


def by_report_code() -> str:
    return "code:" + (request.view_args or {}).get("token", "")


def by_api_key() -> str:
    # Read before the view runs; the Open311 blueprint has capped the body size already.
    given = [value.strip() for value in request.values.getlist("api_key") if value.strip()]  # ?api_key= is absent
    if not given:
        return "address:" + get_remote_address()
    # A key is a token: hashed, as the tokens table keeps it, so that the counters' store
    # (a shared Redis) holds nothing anyone could sign in with.
    return "api_key:" + hashlib.sha256(given[0][:200].encode("utf-8", "surrogatepass")).hexdigest()


# (endpoint, method) → [(setting, counted by)]: every limit applies. Each request is counted
# before it runs (a check after the answer would let a burst of simultaneous requests through),
# so a form refused for a mistake counts too; its 429 page keeps what was typed.
ROUTE_LIMITS = {
    ("report_pages.report", "POST"): [("RATELIMIT_REPORT", by_address), ("RATELIMIT_REPORT_CODE", by_report_code)],
    ("open311.create_request", "POST"): [("RATELIMIT_OPEN311_POST", by_api_key), ("RATELIMIT_PUBLIC", by_address)],
}


REDIS_SCHEMES = {"redis", "rediss", "redis+unix"}
LIMITER_LOG = logging.getLogger("flask-limiter")

# A probe refused with 429 would read as a dead worker and get it restarted.
UNLIMITED = {"health.healthz", "health.readyz"}


def _not_public() -> bool:
    method = "GET" if request.method == "HEAD" else request.method
    return ENDPOINTS.get((request.endpoint, method)) != PUBLIC or request.endpoint in UNLIMITED


def _setting(name: str):
    return lambda: current_app.config[name]


def init_app(app: Flask) -> Limiter:
    """The app's limiter, after every blueprint is registered (it wraps their views)."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("RATELIMIT_STORAGE_URL") or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "gridgov")
    # Redis down: count in each worker's memory until it is back, rather than answer residents 500.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    if urlsplit(app.config["RATELIMIT_STORAGE_URI"]).scheme in REDIS_SCHEMES:
        # redis-py waits for ever by default: a Redis that hangs (paused, a half-open connection)
        # hung every request and every worker's start (every command's too) instead of falling
        # back.
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 1, "socket_timeout": 1})
    # Its fallback to memory while Redis is down, and back, said in the service's log, not
    # dropped by the NullHandler Flask-Limiter gives its logger.
    if default_handler not in LIMITER_LOG.handlers:
        LIMITER_LOG.addHandler(default_handler)
        LIMITER_LOG.setLevel(logging.INFO)  # "recovered" is said at INFO
    limiter = Limiter(
        key_func=by_address,
        default_limits=[_setting("RATELIMIT_PUBLIC")],
        default_limits_exempt_when=_not_public,
        enabled=app.config["RATELIMIT_ENABLED"],
    )
    # Flask runs these in the reverse order of registration: the note before the limiter writes
    # its headers, the restoring after.
    app.after_request(_own_retry_after)
    limiter.init_app(app)
    app.after_request(_note_retry_after)
    for (endpoint, method), limits in ROUTE_LIMITS.items():
        view = app.view_functions[endpoint]
        for setting, key in limits:
            view = limiter.limit(_setting(setting), key_func=key, methods=[method], per_method=True)(view)
        app.view_functions[endpoint] = view
    app.extensions["gridgov.limiter"] = limiter
    _say_if_unreachable(app, limiter)
    return limiter


def _say_if_unreachable(app: Flask, limiter: Limiter) -> None:
    """An operator who named a Redis hears at the start that it cannot be reached (Flask-Limiter
    falls back to each worker's memory without a word in the service's log)."""
    url = app.config.get("RATELIMIT_STORAGE_URL")
    if not url or not app.config["RATELIMIT_ENABLED"]:
        return
    try:
        reachable = limiter.storage.check()
    except Exception:  # noqa: BLE001 — whatever the client library raises, the answer is "no"
        reachable = False
    if not reachable:
        app.logger.warning("rate limits: %s cannot be reached; each worker counts in its own memory until it can",
                           without_password(url))


def _note_retry_after(response):
    g.own_retry_after = response.headers.get("Retry-After")
    return response


def _own_retry_after(response):
    """Flask-Limiter writes ``Retry-After`` on every answer, and raises one already there to the
    end of its window. It is about the limits only on a 429; any other answer keeps the one its
    handler gave (a busy database's 503: a few seconds), or has none."""
    if response.status_code == 429:
        return response
    own = g.pop("own_retry_after", None)
    if own is None:
        response.headers.pop("Retry-After", None)
    else:
        response.headers["Retry-After"] = own
    return response
