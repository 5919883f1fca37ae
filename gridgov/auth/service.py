"""Accounts, passwords, tokens and sign-in."""

import hashlib
import re
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy.orm import Session

from gridgov.auth import audit
from gridgov.auth.models import AdminEvent, ApiToken, Principal
from gridgov.auth.permissions import Role, allows, reads_personal_data
from gridgov.auth.scope import UNSCOPED, current_scope, current_scope_path
from gridgov.db import moment_text, one_by_id, utcnow
from gridgov.errors import Conflict, Forbidden, Locked, NotFound, RuleViolation, Unauthenticated
from gridgov.tree import service as tree_service

USERNAME = re.compile(r"[A-Za-z0-9._-]{3,64}")
TOKEN_PREFIX = "gg_"


def password_hasher() -> PasswordHasher:
    hasher = current_app.extensions.get("gridgov.password_hasher")
    if hasher is None:
        config = current_app.config
        hasher = PasswordHasher(
            time_cost=config["ARGON2_TIME_COST"],
            memory_cost=config["ARGON2_MEMORY_COST"],
            parallelism=config["ARGON2_PARALLELISM"],
        )
        current_app.extensions["gridgov.password_hasher"] = hasher
    return hasher


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- principals ---------------------------------------------------------------------------------


def get_principal(session: Session, *, principal_id: int) -> Principal:
    return one_by_id(session, Principal, principal_id, label="Principal")


def get_principal_by_username(session: Session, *, username: str) -> Principal:
    """As signing in finds it: whatever the case, without surrounding spaces (one account per
    name as people read it)."""
    username = username.strip()
    found = session.scalars(
        sa.select(Principal).where(sa.func.lower(Principal.username) == username.lower()).order_by(Principal.id)
    ).all()
    principal = _the_one_named(found, username)
    if principal is None and found:
        raise Conflict(f"Several accounts are called {username} but for case: "
                       f"{', '.join(account.username for account in found)}; type one exactly.")
    if principal is None:
        raise NotFound(f"No principal is called {username}.")
    return principal


def _the_one_named(candidates: list[Principal], username: str) -> Principal | None:
    """Of the accounts whose name reads as ``username``, the one meant: the one spelt exactly so
    (a database from before 0010 may hold "Bob.Li" and "bob.li"), else the only one, else none."""
    return next((p for p in candidates if p.username == username), candidates[0] if len(candidates) == 1 else None)


def list_principals(session: Session, *, role=None, active=None, after_id=None, limit: int):
    stmt = sa.select(Principal).order_by(Principal.id).limit(limit + 1)
    if role is not None:
        stmt = stmt.where(Principal.role == role)
    if active is not None:
        stmt = stmt.where(Principal.active == active)
    if after_id is not None:
        stmt = stmt.where(Principal.id > after_id)
    return list(session.scalars(stmt))


def username_taken(session: Session, username: str, *, by_other_than: int | None = None) -> bool:
    """Whether a name people would read as this one is taken (``Wang.Wu`` and ``wang.wu`` are one
    name); the unique index decides when two requests race past the check together."""
    taken = (sa.select(Principal.id).where(sa.func.lower(Principal.username) == username.lower())
             .limit(1).execution_options(**UNSCOPED))
    if by_other_than is not None:
        taken = taken.where(Principal.id != by_other_than)
    return session.scalar(taken) is not None


def _check_username(session: Session, username: str, *, by_other_than: int | None = None) -> None:
    if not USERNAME.fullmatch(username):
        raise RuleViolation(
            "A username is 3 to 64 letters, digits, '.', '_' or '-'.",
            errors={"username": ["letters, digits, '.', '_' or '-'"]},
        )
    if username_taken(session, username, by_other_than=by_other_than):
        raise Conflict(f"The username {username} is taken.", errors={"username": ["taken"]})


def create_principal(
    session: Session,
    *,
    username: str,
    display_name: str,
    role: Role,
    scope_unit_id: int,
    password: str | None = None,
) -> Principal:
    check_may_hand_out(role, "create such an account", command="principals create")
    _check_username(session, username)
    scope = _scope_unit(session, scope_unit_id)
    principal = Principal(
        username=username,
        display_name=display_name,
        role=role,
        scope_unit_id=scope.id if scope else None,
        scope_path=scope.path if scope else "",
        district_id=scope.district_id if scope else None,
        password_hash=password_hasher().hash(password) if password else None,
    )
    session.add(principal)
    session.flush()
    audit.record_principal(
        session, action="principal.create", principal=principal,
        details={"role": role.value, "scope": scope.code if scope else "*", "password": bool(password)},
    )
    return principal


def rename(session: Session, *, principal: Principal, username: str) -> Principal:
    """A new username, checked as a new account's is (the command line's: an admin fixes
    clashes that an older database let in)."""
    username = username.strip()
    _check_username(session, username, by_other_than=principal.id)
    before = principal.username
    principal.username = username
    principal.version += 1
    session.flush()
    audit.record_principal(session, action="principal.rename", principal=principal, details={"before": before})
    return principal


def check_may_hand_out(role: Role, doing: str, *, command: str) -> None:
    """An account cannot hand out the reading of personal data it lacks: the password or a token
    of an account that reads it, or that role. Only one that reads personal data itself, one
    over the whole installation, or the command line (``command``, which does it there) may
    (403 otherwise)."""
    acting = current_scope()
    if acting is None or not acting.path or not reads_personal_data(role):
        return
    if not allows(acting.role, "pii:read"):
        raise Forbidden(f"Only an account that reads personal data itself, one over the whole installation, or the "
                        f"command line (flask --app gridgov {command}) can {doing} "
                        f"(the role {role} reads personal data).")


def _scope_unit(session: Session, scope_unit_id: int | None):
    """The unit a new scope names (None: the whole installation, which only an account with
    that scope, or the command line, may hand out)."""
    if scope_unit_id is not None:
        return tree_service.get_unit(session, unit_id=scope_unit_id)
    if current_scope_path():
        raise Forbidden("Only an account whose scope is the whole installation can grant that scope.")
    return None


# Called as ``hook(session, principal=)`` in the same transaction after an account's role or
# scope changed or it was deactivated: other domains let go of what it may no longer hold (the
# cases domain, the open cases assigned to it).
ACCESS_CHANGED: list = []


def _lock_fresh(session: Session, principal: Principal) -> None:
    """Lock the account and read it again: what is compared and changed is the row as it is, not
    an earlier read. FOR NO KEY UPDATE: rows that only refer to it (an attempt its assignee
    records, an event naming it) go on meanwhile instead of deadlocking with us."""
    session.scalars(sa.select(Principal).where(Principal.id == principal.id)
                    .with_for_update(of=Principal, key_share=True)
                    .execution_options(populate_existing=True, **UNSCOPED)).all()


def update_principal(session: Session, *, principal: Principal, version: int | None = None, **changes) -> Principal:
    _lock_fresh(session, principal)
    if version is not None and version != principal.version:
        raise Conflict(
            f"Principal {principal.username} has changed since version {version}.",
            current_version=principal.version,
        )
    acting = current_scope()
    if acting is not None and acting.principal_id == principal.id and (
        changes.get("role", principal.role) != principal.role
        or changes.get("scope_unit_id", principal.scope_unit_id) != principal.scope_unit_id
    ):
        # Otherwise an admin could make itself district command, and read personal data.
        raise Forbidden("You cannot change your own role or scope; another admin must.")
    if changes.get("role", principal.role) != principal.role:
        check_may_hand_out(changes["role"], "give an account that role", command="principals update")
    if changes.get("scope_unit_id", principal.scope_unit_id) != principal.scope_unit_id:
        check_may_hand_out(changes.get("role", principal.role), "change the scope of such an account",
                           command="principals update")
    before = {}
    if "scope_unit_id" in changes and changes["scope_unit_id"] != principal.scope_unit_id:
        scope = _scope_unit(session, changes.pop("scope_unit_id"))
        before["scope"] = principal.scope_unit.code if principal.scope_unit else "*"
        principal.scope_unit = scope
        principal.scope_path = scope.path if scope else ""
        principal.district_id = scope.district_id if scope else None
    changes.pop("scope_unit_id", None)
    for key, value in changes.items():
        if getattr(principal, key) != value:
            before[key] = getattr(principal, key)
            setattr(principal, key, value)
    if before:
        principal.version += 1
        access_changed = bool({"scope", "role"} & set(before))
        if access_changed:
            # A changed role or scope must not live on in sessions signed in under the old one
            # (a new display name or phone ends no one's session).
            principal.session_generation += 1
        session.flush()
        audit.record_principal(
            session, action="principal.update", principal=principal,
            details={"before": {k: str(v) for k, v in before.items()}},
        )
        if access_changed:
            for hook in ACCESS_CHANGED:
                hook(session, principal=principal)
    return principal


def deactivate(session: Session, *, principal: Principal) -> Principal:
    _lock_fresh(session, principal)  # two at once deactivate once; a version step is never lost
    if principal.active:
        principal.active = False
        principal.session_generation += 1
        principal.version += 1
        _revoke_all_tokens(session, principal)
        session.flush()
        audit.record_principal(session, action="principal.deactivate", principal=principal)
        for hook in ACCESS_CHANGED:
            hook(session, principal=principal)
    return principal


def activate(session: Session, *, principal: Principal) -> Principal:
    """A deactivated account back in use, under its own name (the timelines name it). Its old
    tokens stay revoked: it signs in again, or is issued new ones. Giving back an account that
    reads personal data is handing that out (``check_may_hand_out``); taking it away is not."""
    _lock_fresh(session, principal)
    if not principal.active:
        check_may_hand_out(principal.role, "reactivate such an account", command="principals activate")
        principal.active = True
        principal.version += 1
        session.flush()
        audit.record_principal(session, action="principal.activate", principal=principal)
    return principal


def set_password(session: Session, *, principal: Principal, password: str) -> Principal:
    """A new password: the lock-out ends, and so do the sessions and the tokens of the old one
    (a reset usually means the old password is known to someone else)."""
    check_may_hand_out(principal.role, "set the password of such an account", command="principals password")
    principal.password_hash = password_hasher().hash(password)
    principal.failed_logins = 0
    principal.locked_until = None
    principal.session_generation += 1
    principal.version += 1
    _revoke_all_tokens(session, principal)
    session.flush()
    audit.record_principal(session, action="principal.password_reset", principal=principal)
    return principal


def _revoke_all_tokens(session: Session, principal: Principal) -> None:
    session.execute(
        sa.update(ApiToken)
        .where(ApiToken.principal_id == principal.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def unlock(session: Session, *, principal: Principal) -> Principal:
    if principal.failed_logins or principal.locked_until:
        principal.failed_logins = 0
        principal.locked_until = None
        principal.version += 1
        session.flush()
        audit.record_principal(session, action="principal.unlock", principal=principal)
    return principal


# --- signing in ---------------------------------------------------------------------------------

_DUMMY_HASH = None


def authenticate(session: Session, *, username: str, password: str) -> Principal:
    """The principal whose password this is, or ``Unauthenticated``/``Locked``.

    Every failure counts towards the lock-out and is committed here, even though the request
    itself fails: otherwise an attacker's guesses would roll back with their errors.
    """
    config = current_app.config
    # As bytes: a lone surrogate (JSON can carry one) is then simply a wrong password, where
    # argon2's own encoding would fail. No stored password has one (``schemas.Password``).
    password = password.encode("utf-8", "surrogatepass")
    username = username.strip()  # a phone's autocomplete adds a space
    if not USERNAME.fullmatch(username):
        # No account can have this name (and a NUL byte would not even reach PostgreSQL).
        _verify_against_dummy(password)
        raise Unauthenticated("Wrong username or password.")
    # Read and checked unlocked: argon2 takes a tenth of a second on purpose, and on SQLite a
    # locking read takes the database's write lock, which every other writer would wait behind.
    candidates = session.scalars(
        sa.select(Principal)
        .where(sa.func.lower(Principal.username) == username.lower())  # as people type it
        .execution_options(populate_existing=True, **UNSCOPED)
    ).all()
    principal = _the_one_named(candidates, username)
    _check_not_locked(principal, now=utcnow())
    if principal is None or not principal.active or principal.password_hash is None:
        _verify_against_dummy(password)  # the same time for an unknown name as for a wrong password
        raise Unauthenticated("Wrong username or password.")
    hashed = principal.password_hash
    try:
        password_hasher().verify(hashed, password)
        verified = True
    except (VerificationError, InvalidHashError):
        verified = False
    needs_rehash = verified and password_hasher().check_needs_rehash(hashed)
    rehashed = password_hasher().hash(password) if needs_rehash else None
    # Then counted locked, so that parallel guesses count one after another, not over each other;
    # a guess that locked the account meanwhile locks this one out too.
    principal = session.scalars(
        sa.select(Principal).where(Principal.id == principal.id).with_for_update(of=Principal)
        .execution_options(populate_existing=True, **UNSCOPED)
    ).one()
    now = utcnow()
    if principal.locked_until is not None and principal.locked_until <= now:
        principal.failed_logins, principal.locked_until = 0, None  # a lock that ran out starts afresh
    _check_not_locked(principal, now=now)
    if not principal.active:  # deactivated while the password was checked
        raise Unauthenticated("Wrong username or password.")
    if principal.password_hash != hashed:  # changed (reset) while this one was checked
        verified, rehashed = False, None
    if not verified:
        principal.failed_logins += 1
        if principal.failed_logins >= config["LOCKOUT_THRESHOLD"]:
            principal.locked_until = now + timedelta(minutes=config["LOCKOUT_MINUTES"])
            audit.record_principal(
                session, action="principal.locked", principal=principal,
                details={"failed_logins": principal.failed_logins},
            )
        session.commit()
        raise Unauthenticated("Wrong username or password.") from None
    if principal.failed_logins or principal.locked_until:
        principal.failed_logins = 0
        principal.locked_until = None
    if rehashed is not None:
        principal.password_hash = rehashed
    session.flush()
    return principal


def _check_not_locked(principal: Principal | None, *, now: datetime) -> None:
    if principal is not None and principal.locked_until is not None and principal.locked_until > now:
        raise Locked(
            "Too many failed sign-ins; the account is locked for now.",
            headers={"Retry-After": str(int((principal.locked_until - now).total_seconds()) + 1)},
        )


def _verify_against_dummy(password: bytes) -> None:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = password_hasher().hash("not a password of anyone")
    try:
        password_hasher().verify(_DUMMY_HASH, password)
    except VerificationError:
        pass


# --- tokens -------------------------------------------------------------------------------------


def issue_token(
    session: Session, *, principal: Principal, name: str, expires_in: timedelta | None
) -> tuple[ApiToken, str]:
    """A new token and its text, which is not stored and cannot be shown again."""
    if not principal.active:
        raise RuleViolation(f"{principal.username} is deactivated; it cannot get a token.")
    text = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        principal_id=principal.id,
        token_hash=token_hash(text),
        prefix=text[:10],
        name=name,
        expires_at=utcnow() + expires_in if expires_in is not None else None,
    )
    session.add(token)
    session.flush()
    audit.record_principal(
        session, action="token.issue", principal=principal,
        details={"token_id": token.id, "name": name,
                 "expires_at": moment_text(token.expires_at) if token.expires_at else None},
    )
    return token, text


def token_of_text(session: Session, *, text: str) -> ApiToken:
    row = session.execute(TOKEN_LOOKUP, {"hash": token_hash(text)}).scalar_one_or_none()
    if row is None:
        raise NotFound("No such token.")
    return row


# Every request's first query, so built once.
TOKEN_LOOKUP = sa.select(ApiToken).where(ApiToken.token_hash == sa.bindparam("hash")).execution_options(**UNSCOPED)


def principal_for_token(session: Session, *, text: str) -> tuple[Principal | None, str | None]:
    """The active principal a token belongs to, or ``(None, why not)``. One indexed lookup."""
    row = session.execute(TOKEN_LOOKUP, {"hash": token_hash(text)}).scalar_one_or_none()
    if row is None:
        return None, "The token is not valid."
    if row.revoked_at is not None:
        return None, "The token has been revoked."
    if row.expires_at is not None and row.expires_at <= utcnow():
        return None, "The token has expired."
    if not row.principal.active:
        return None, "The account is deactivated."
    return row.principal, None


def get_token(session: Session, *, token_id: int) -> ApiToken:
    return one_by_id(session, ApiToken, token_id, label="Token")


def list_tokens(session: Session, *, principal_id=None, after_id=None, limit: int):
    stmt = sa.select(ApiToken).order_by(ApiToken.id).limit(limit + 1)
    if principal_id is not None:
        stmt = stmt.where(ApiToken.principal_id == principal_id)
    if after_id is not None:
        stmt = stmt.where(ApiToken.id > after_id)
    return list(session.scalars(stmt))


def revoke_token(session: Session, *, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
        audit.record_principal(
            session, action="token.revoke", principal=token.principal, details={"token_id": token.id}
        )
    return token


def is_locked(principal: Principal, now: datetime | None = None) -> bool:
    return principal.locked_until is not None and principal.locked_until > (now or utcnow())


def list_admin_events(session: Session, *, action=None, target_type=None, before_id=None, limit: int):
    """Newest first."""
    stmt = sa.select(AdminEvent).order_by(AdminEvent.id.desc()).limit(limit + 1)
    if before_id is not None:
        stmt = stmt.where(AdminEvent.id < before_id)
    if action:
        stmt = stmt.where(AdminEvent.action == action)
    if target_type:
        stmt = stmt.where(AdminEvent.target_type == target_type)
    return list(session.scalars(stmt))


def _scope_of_accounts(session: Session, unit) -> str | None:
    count = session.scalar(
        sa.select(sa.func.count()).select_from(Principal)
        .where(Principal.scope_unit_id == unit.id)
        .execution_options(**UNSCOPED)
    )
    return f"{count} account(s) act in the scope of unit {unit.code}; change their scope first." if count else None


tree_service.DELETE_GUARDS.append(_scope_of_accounts)
