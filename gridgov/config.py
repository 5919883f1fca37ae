"""Settings: defaults that need no server, overridden by ``GRIDGOV_*`` environment variables.

Every setting may be given as ``GRIDGOV_<NAME>`` (``GRIDGOV_DATABASE_URL`` → ``DATABASE_URL``);
values are parsed as JSON when they look like JSON (numbers, booleans), otherwise taken as text.
"""

import json
import os

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
    "PAGE_SIZE_DEFAULT": 50,
    "PAGE_SIZE_MAX": 500,
}


def from_environment(environ=os.environ):
    """The ``GRIDGOV_*`` variables of ``environ`` as settings, prefix removed."""
    settings = {}
    for key, raw in environ.items():
        if not key.startswith(PREFIX):
            continue
        name = key[len(PREFIX):]
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        # A URL or a path that happens to parse as JSON (a bare number) stays as given.
        settings[name] = value if isinstance(value, (bool, int, float)) else raw
    return settings
