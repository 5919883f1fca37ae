"""Writing the admin audit log, in the same transaction as the change it records."""

import getpass
import ipaddress

from flask import has_request_context, request

from sqlalchemy.orm import Session

from gridgov.auth.models import AdminEvent
from gridgov.auth.scope import current_principal


def actor_label() -> tuple[int | None, str]:
    """Who is acting: the signed-in principal, someone not (yet) signed in on the web, or the
    operating-system user of a command."""
    principal = current_principal()
    if principal is not None:
        return principal.id, principal.username
    if has_request_context():
        return None, f"web:{_address()}"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return None, f"cli:{user}"


def _address() -> str:
    """The client's address; "unknown" if what came is none. Behind a proxy trusted one hop too
    many (``GRIDGOV_PROXY_FIX``) it is whatever a client wrote in X-Forwarded-For."""
    try:
        return str(ipaddress.ip_address(request.remote_addr or ""))
    except ValueError:
        return "unknown"


def record(
    session: Session,
    *,
    action: str,
    target_type: str,
    target_id: int | None,
    target_label: str,
    path: str | None,
    district_id: int | None,
    details: dict | None = None,
) -> AdminEvent:
    actor_id, actor = actor_label()
    event = AdminEvent(
        actor_id=actor_id,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_label=target_label[:200],
        path=path,
        district_id=district_id,
        details=details or {},
    )
    session.add(event)
    return event


def record_unit(session: Session, *, action: str, unit, details: dict | None = None) -> AdminEvent:
    return record(
        session,
        action=action,
        target_type="unit",
        target_id=unit.id,
        target_label=f"{unit.code} {unit.name}",
        path=unit.path,
        district_id=unit.district_id,
        details=details,
    )


def record_principal(session: Session, *, action: str, principal, details: dict | None = None) -> AdminEvent:
    return record(
        session,
        action=action,
        target_type="principal",
        target_id=principal.id,
        target_label=principal.username,
        path=principal.scope_path,
        district_id=principal.district_id,
        details=details,
    )
