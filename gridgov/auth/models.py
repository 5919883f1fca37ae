"""Principals (accounts), their API tokens, and the admin audit log."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridgov.auth import scope
from gridgov.auth.permissions import Role
from gridgov.db import UTCDateTime, binary_string, db, enum_type, utcnow
from gridgov.tree.models import PATH_LENGTH, Unit, in_subtree, register_path_copy, subtree_criterion


class Principal(db.Model):
    __tablename__ = "principals"
    __table_args__ = (
        sa.Index("ix_principals_scope_path", "scope_path"),
        # One name as people read it (Wang.Wu is wang.wu); it also serves the sign-in's lookup.
        sa.Index("uq_principals_username_lower", sa.func.lower(sa.column("username")), unique=True),
        sa.CheckConstraint("failed_logins >= 0", name="failed_logins_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100))
    role: Mapped[Role] = mapped_column(enum_type(Role, "principal_role"))
    # None: the whole installation, every district (a city's or province's operator).
    scope_unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    # A copy of the scope unit's path ("" for the whole installation, the range of every path):
    # the scope filter is then a range on this table alone.
    scope_path: Mapped[str] = mapped_column(binary_string(PATH_LENGTH))
    district_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped when the password is reset or the account deactivated: older sessions end.
    session_generation: Mapped[int] = mapped_column(default=1, server_default="1")
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    scope_unit: Mapped[Unit | None] = relationship(foreign_keys=[scope_unit_id], lazy="joined")

    def __repr__(self) -> str:
        return f"<Principal {self.username} {self.role}>"


class ApiToken(db.Model):
    """A bearer token. Only its SHA-256 is stored: the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    principal_id: Mapped[int] = mapped_column(sa.ForeignKey("principals.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # The first characters, so that a person can tell their tokens apart.
    prefix: Mapped[str] = mapped_column(sa.String(12))
    name: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    principal: Mapped[Principal] = relationship(lazy="joined")


class AdminEvent(db.Model):
    """The admin audit log: who changed which account, token or unit, when, and how.

    Append-only. ``path`` is the path the unit the change concerns had then (the account's
    scope, the unit itself), so that auditors see the events of their subtree. A later move does
    not carry it along: history stays where it happened, with the auditors who saw it.
    """

    __tablename__ = "admin_events"
    __table_args__ = (sa.Index("ix_admin_events_path", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("principals.id", ondelete="SET NULL"))
    # Kept as text too: the command line acts without a principal, and accounts may go.
    actor: Mapped[str] = mapped_column(sa.String(100))
    action: Mapped[str] = mapped_column(sa.String(50))
    target_type: Mapped[str] = mapped_column(sa.String(20))
    target_id: Mapped[int | None]
    target_label: Mapped[str] = mapped_column(sa.String(200))
    path: Mapped[str | None] = mapped_column(binary_string(PATH_LENGTH))
    district_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id", ondelete="SET NULL"), index=True)
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)


register_path_copy(Principal.scope_path, Principal.district_id)

# An account is in scope when its own scope lies in the viewer's subtree; a token with its account.
scope.register(Principal, subtree_criterion("scope_path"))
scope.register(
    ApiToken,
    lambda cls, principal_scope: cls.principal_id.in_(
        sa.select(Principal.id).where(in_subtree(Principal.scope_path, principal_scope.path))
    ) if principal_scope.path else None,
)
scope.register(AdminEvent, subtree_criterion("path"))
