"""Rate limits on everything anyone may call without signing in (Flask-Limiter).

Every ``PUBLIC`` endpoint of the permission table gets ``RATELIMIT_PUBLIC`` per address; the
endpoints that write (a resident's report, an Open311 request) get tighter limits of their own,
per address and per report code or API key, declared where they are routed. Counters live in
memory by default and in Redis when ``GRIDGOV_RATELIMIT_STORAGE_URL`` is set, which every worker
of a deployment must share.
"""

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from gridgov.auth.permissions import ENDPOINTS, PUBLIC


def _not_public() -> bool:
    method = "GET" if request.method == "HEAD" else request.method
    return ENDPOINTS.get((request.endpoint, method)) != PUBLIC


limiter = Limiter(key_func=get_remote_address, default_limits_exempt_when=_not_public)


def init_app(app) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("RATELIMIT_STORAGE_URL") or "memory://")
    app.config.setdefault("RATELIMIT_DEFAULT", app.config["RATELIMIT_PUBLIC"])
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "gridgov")
    limiter.init_app(app)
