"""Personal data: keyed hashes for identity numbers, masks for what a viewer may not see."""

import hashlib
import hmac

from flask import current_app


def keyed_hash(value: str, *, purpose: str) -> str:
    """HMAC-SHA256 of ``value`` under the app's secret: comparable, not reversible, and useless
    without the key (an ID number has too few possibilities for a plain hash to hide it)."""
    key = hmac.new(current_app.secret_key.encode(), purpose.encode(), hashlib.sha256).digest()
    normalised = value.strip().upper()
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()


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
