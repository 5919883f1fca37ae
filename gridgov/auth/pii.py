"""Personal data: keyed hashes for identity numbers, masks for what a viewer may not see."""

import hashlib
import hmac
import re
import unicodedata

from flask import current_app

# A phone as people write one: +86, an area code in brackets as landlines are written
# ((0830)1234567), spaces and hyphens. One rule for every way a number comes in (the API, the
# report page, Open311): a landline a resident gave became a party the API then refused.
PHONE_PATTERN = r"^\+?(?:\([0-9]{1,4}\)|[0-9]{1,4})[0-9 \-]{4,20}$"
_PHONE = re.compile(PHONE_PATTERN)


def typed_phone(text: str) -> str:
    """A phone as typed, read as digits: a Chinese input method in full-width mode types １３８."""
    return unicodedata.normalize("NFKC", text).strip()


def is_phone(text: str) -> bool:
    return _PHONE.fullmatch(text) is not None


def keyed_hash(value: str, *, purpose: str) -> str:
    """HMAC-SHA256 of ``value`` under the app's secret: comparable, not reversible, and useless
    without the key (an ID number has too few possibilities for a plain hash to hide it)."""
    return keyed_digest(value.strip().upper().encode(), purpose=purpose)


def keyed_digest(data: bytes, *, purpose: str) -> str:
    """HMAC-SHA256 of ``data`` as it is, under a key of ``purpose`` drawn from the app's secret:
    for fingerprints of what holds personal data (a plain hash of a request with an ID number in it
    gives the number back to a search over birth dates)."""
    key = hmac.new(current_app.secret_key.encode(), purpose.encode(), hashlib.sha256).digest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def last_four(value: str) -> str:
    return value.strip()[-4:].upper()  # the check character X, as the hash reads it


def mask_phone(phone: str | None) -> str | None:
    """``138****5678``: enough to recognise a number one already knows."""
    if not phone:
        return phone
    digits = phone.strip()
    if len(digits) < 7:  # shorter than a local landline number: its last four would be most of it
        return "*" * len(digits)
    keep_start = 3 if len(digits) >= 11 else 0
    return digits[:keep_start] + "*" * (len(digits) - keep_start - 4) + digits[-4:]


def mask_email(email: str | None) -> str | None:
    """``z***@example.cn``: the first letter and the domain."""
    if not email or "@" not in email:
        return email and "*" * len(email)
    local, domain = email.rsplit("@", 1)
    return local[:1] + "***@" + domain


def mask_name(name: str | None) -> str | None:
    """``张**``: the family name only."""
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)
