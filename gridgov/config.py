"""Settings: defaults that need no server, overridden by ``GRIDGOV_*`` environment variables.

Every setting may be given as ``GRIDGOV_<NAME>`` (``GRIDGOV_DATABASE_URL`` → ``DATABASE_URL``);
values are parsed as JSON when they look like JSON (numbers, booleans), otherwise taken as text.
"""

import json
import os
from urllib.parse import urlsplit

import sqlalchemy as sa

PREFIX = "GRIDGOV_"

DEFAULTS = {
    # None means "an SQLite file in the instance folder", resolved in create_app().
    "DATABASE_URL": None,
    # None means Flask's default: the instance/ folder beside the package.
    "INSTANCE_PATH": None,
    # Bodies larger than this are refused with 413 before anything parses them.
    "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
    # Deeper JSON than this is refused with 400 (a recursion bomb must not become a 500).
    "MAX_JSON_DEPTH": 32,
    # Items on a page of a list when the request gives no `limit` (1 to PAGE_SIZE_MAX, below).
    "PAGE_SIZE_DEFAULT": 50,
    # None: generated once and kept in the instance folder (see gridgov.auth.keys).
    "SECRET_KEY": None,
    # argon2id, the library's defaults (RFC 9106 low-memory profile).
    "ARGON2_TIME_COST": 3,
    "ARGON2_MEMORY_COST": 65536,
    "ARGON2_PARALLELISM": 4,
    "LOCKOUT_THRESHOLD": 5,
    "LOCKOUT_MINUTES": 15,
    "SIGN_IN_TOKEN_HOURS": 12,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": False,  # set true behind HTTPS
    "PERMANENT_SESSION_LIFETIME": 12 * 3600,
    # Case references: district code → prefix (NX-2026-000123); other districts use their code.
    "CASE_REFERENCE_PREFIXES": {"510503": "NX"},
    # Overrides of gridgov.cases.policy (JSON object of its fields); None: the defaults.
    "CASE_POLICY": None,
    # Where attachments are kept; None: instance/attachments. A relative folder lies in the instance folder.
    "ATTACHMENT_DIR": None,
    # The address residents reach the service at, for the QR codes (https://…); None: the
    # address the request for the code came to.
    "PUBLIC_URL": None,
    # The name on the pages (社会治理中心 of …); None: the one district's, "<name>社会治理中心",
    # or just "社会治理中心" where several districts share the service.
    "SITE_NAME": None,
    # What residents know the report codes by, on the QR codes and the report pages: Naxi's brand.
    "REPORT_BRAND": "纳安解纷码",
    # Behind a reverse proxy (nginx): how many proxies set X-Forwarded-For / -Proto / -Host.
    # 0 trusts none. Without it every resident would share the proxy's address and its limits.
    "PROXY_FIX": 0,
    # Rate limits (Flask-Limiter notation). Counters in memory unless a storage URL is given
    # (redis://127.0.0.1:6379/0), which every worker of a deployment must then share.
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_STORAGE_URL": None,
    # Every public endpoint, per address.
    "RATELIMIT_PUBLIC": "300 per minute",
    # A resident's report: per address, and per report code (one sign, many phones).
    "RATELIMIT_REPORT": "5 per minute;30 per day",
    "RATELIMIT_REPORT_CODE": "60 per hour",
    # Open311 POST requests, per api_key.
    "RATELIMIT_OPEN311_POST": "120 per minute",
    # CSRF is checked by gridgov.auth.guard for cookie-authenticated changes only.
    "WTF_CSRF_CHECK_DEFAULT": False,
    "WTF_CSRF_TIME_LIMIT": None,
}


# Settings given as JSON in the environment; every other one is taken as text.
JSON_SETTINGS = {"CASE_POLICY", "CASE_REFERENCE_PREFIXES"}


def from_environment(environ=os.environ):
    """The ``GRIDGOV_*`` variables of ``environ`` as settings, prefix removed.

    A setting whose default is a number or a boolean (or that is listed in ``JSON_SETTINGS``)
    is parsed as JSON; any other stays text — a secret key of digits is still a string.
    """
    settings = {}
    for key, raw in environ.items():
        if not key.startswith(PREFIX):
            continue
        name = key[len(PREFIX):]
        default = DEFAULTS.get(name)
        if raw == "" and name in DEFAULTS and default is None:
            continue  # GRIDGOV_SECRET_KEY= in a compose or systemd file: unset, as it reads
        if name in JSON_SETTINGS or isinstance(default, (bool, int, float)):
            try:
                settings[name] = json.loads(raw)
            except ValueError:
                raise ValueError(f"{key} must be JSON here (got {raw!r})") from None
        else:
            settings[name] = raw
    return settings


# The most items a page may hold: part of the API's documented contract, so not a setting.
PAGE_SIZE_MAX = 500
# Whole numbers a setting must lie between; anything else stops the start, naming it.
RANGES = {
    "PAGE_SIZE_DEFAULT": (1, PAGE_SIZE_MAX),
    "LOCKOUT_THRESHOLD": (1, 1000),
    "LOCKOUT_MINUTES": (1, 7 * 24 * 60),
    "SIGN_IN_TOKEN_HOURS": (1, 24 * 366),
    "MAX_JSON_DEPTH": (2, 1000),
    "PROXY_FIX": (0, 10),
    "MAX_CONTENT_LENGTH": (1024, 1024 ** 3),  # bytes: 1 KiB to 1 GiB
}
# A signing key shorter than this is guessable: a forged session cookie signs anyone in.
SECRET_KEY_MIN_LENGTH = 16
RATE_LIMITS = ("RATELIMIT_PUBLIC", "RATELIMIT_REPORT", "RATELIMIT_REPORT_CODE", "RATELIMIT_OPEN311_POST")


def without_password(url: str) -> str:
    """``url`` fit for a log or a message: "redis://:secret@host/0" → "redis://:***@host/0"."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}:" if parts.username else ":"
    return parts._replace(netloc=f"{user}***@{parts.netloc.rpartition('@')[2]}").geturl()


def check(config) -> None:
    """``ValueError`` naming the first setting that makes no sense: better at the start than as
    a 500 on the first request that reads it."""
    import limits.storage
    from limits import parse_many

    for name, (low, high) in RANGES.items():
        value = config[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{PREFIX}{name} must be a whole number from {low} to {high} (got {value!r})")
    for name in RATE_LIMITS:
        try:
            parse_many(config[name])
        except (ValueError, TypeError):
            raise ValueError(f"{PREFIX}{name} must be rate limits such as '5 per minute;30 per day' "
                             f"(got {config[name]!r})") from None
    public_url = config.get("PUBLIC_URL")
    if public_url is not None:
        # Printed on the QR codes: a phone opens only an absolute web address.
        parts = urlsplit(str(public_url))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{PREFIX}PUBLIC_URL must be an address such as https://gridgov.example.cn "
                             f"(got {public_url!r})")
    try:
        dialect = sa.engine.make_url(config["SQLALCHEMY_DATABASE_URI"]).get_dialect()
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as error:
        raise ValueError(f"{PREFIX}DATABASE_URL must be a database URL such as sqlite:////srv/gridgov/gridgov.db or "
                         f"postgresql+psycopg://user@host/gridgov ({error})") from None
    try:
        dialect.import_dbapi()
    except ImportError as error:
        raise ValueError(f"{PREFIX}DATABASE_URL names a driver that is not installed ({error}): PostgreSQL's is "
                         "psycopg 3 (postgresql+psycopg://…), installed with the `postgres` extra") from None
    storage = config.get("RATELIMIT_STORAGE_URL")
    schemes = sorted(scheme for scheme in limits.storage.SCHEMES if not scheme.startswith("async+"))
    if storage and urlsplit(str(storage)).scheme not in schemes:  # Flask-Limiter counts synchronously
        raise ValueError(f"{PREFIX}RATELIMIT_STORAGE_URL must be a storage URL such as redis://127.0.0.1:6379/0 "
                         f"(one of {', '.join(scheme + '://' for scheme in schemes)}; "
                         f"got {without_password(str(storage))!r})")
    prefixes = config["CASE_REFERENCE_PREFIXES"]
    # Capital letters in them: a prefix of digits could be another district's code, the prefix of
    # those not listed, and a reference is looked up as typed in capitals. Two districts with one
    # prefix would take each other's numbers (every case refused).
    if (not isinstance(prefixes, dict)
            or not all(isinstance(code, str) and isinstance(prefix, str) and prefix.isascii() and prefix.isalnum()
                       and not prefix.isdigit() and prefix == prefix.upper() for code, prefix in prefixes.items())
            or len(set(prefixes.values())) < len(prefixes)):
        raise ValueError(f"{PREFIX}CASE_REFERENCE_PREFIXES must map district codes to prefixes of capital letters "
                         f"and digits, one prefix to a district, such as {{\"510503\": \"NX\"}} (got {prefixes!r})")
    brand = config["REPORT_BRAND"]
    if not isinstance(brand, str) or not brand.strip() or len(brand) > 40:
        raise ValueError(f"{PREFIX}REPORT_BRAND must be a name of 1 to 40 characters such as 纳安解纷码 (got {brand!r})")
    secret = config.get("SECRET_KEY")
    if secret is not None and (not isinstance(secret, str) or len(secret.strip()) < SECRET_KEY_MIN_LENGTH):
        raise ValueError(f"{PREFIX}SECRET_KEY must be at least {SECRET_KEY_MIN_LENGTH} characters "
                         "(unset, one is generated into the instance folder)")
