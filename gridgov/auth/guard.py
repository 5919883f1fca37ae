"""Who is calling, and may they: run before every request, before any body is read.

1. Authenticate: a ``Bearer`` token, else the session cookie of a signed-in person.
2. Authorise: the permission ``ENDPOINTS`` names for this endpoint and method, against the
   principal's role (401 without a principal, 403 without the permission).
3. Requests authenticated by the cookie that change something must carry the CSRF token
   (a Bearer request cannot be forged by another site, so it needs none).

The principal is kept in ``flask.g``, where ``auth.scope`` reads its subtree.
"""

from flask import g, request, session
from flask_wtf.csrf import CSRFProtect

from gridgov.auth import service
from gridgov.auth.models import Principal
from gridgov.auth.permissions import ANONYMOUS, ENDPOINTS, PUBLIC, allows
from gridgov.auth.scope import Scope
from gridgov.db import db
from gridgov.errors import Forbidden, Unauthenticated

csrf = CSRFProtect()
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
SESSION_KEY = "principal"


def guard() -> None:
    if request.endpoint is None or request.method == "OPTIONS":
        return  # routing failed (404/405): nothing to guard
    method = "GET" if request.method == "HEAD" else request.method
    permission = ENDPOINTS[(request.endpoint, method)]
    if request.endpoint in ANONYMOUS:
        g.principal = g.scope = None
        return

    principal, by_cookie, why_not = _authenticate()
    g.principal = principal
    g.scope = (
        Scope(path=principal.scope_path, principal_id=principal.id, role=principal.role)
        if principal is not None else None
    )
    if permission == PUBLIC:
        return
    if principal is None:
        raise Unauthenticated(why_not or "Sign in, or send an API token as 'Authorization: Bearer …'.")
    if not allows(principal.role, permission):
        raise Forbidden(f"The role {principal.role} does not have the permission {permission}.")
    if by_cookie and request.method in UNSAFE_METHODS:
        csrf.protect()


def _authenticate() -> tuple[Principal | None, bool, str | None]:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, text = header.partition(" ")
        if scheme.lower() != "bearer" or not text.strip():
            return None, False, "The Authorization header must be 'Bearer <token>'."
        if len(text) > 200:
            return None, False, "The token is not valid."
        principal, why_not = service.principal_for_token(db.session, text=text.strip())
        return principal, False, why_not
    remembered = session.get(SESSION_KEY)
    if not remembered:
        return None, False, None
    principal = db.session.get(Principal, remembered.get("id"))
    if principal is None or not principal.active or principal.session_generation != remembered.get("generation"):
        session.pop(SESSION_KEY, None)
        return None, False, "The session has ended; sign in again."
    return principal, True, None


def sign_in(principal: Principal) -> None:
    session.clear()
    session[SESSION_KEY] = {"id": principal.id, "generation": principal.session_generation}


def sign_out(principal: Principal | None) -> None:
    """End this session, and every other of the same person: a copied cookie must not outlive
    the sign-out."""
    if principal is not None:
        principal.session_generation += 1
        db.session.commit()
    session.clear()
