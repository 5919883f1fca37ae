"""Scope: every read of scoped rows is restricted to the signed-in principal's subtree.

Enforced where data is read, once: a ``do_orm_execute`` listener adds each scoped class's
criterion (a path range, see ``tree.models.in_subtree``) to every ORM select issued while a
principal is acting. A row outside the subtree is then simply not found, so views answer 404 and
never leak that it exists. Commands and tests without a principal see everything.

Queries that guard invariants across the whole database (is this code taken? which path is
free?) opt out with ``.execution_options(**UNSCOPED)``; nothing else should.
"""

from collections.abc import Callable
from dataclasses import dataclass

from flask import g, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from gridgov.auth.permissions import Role

UNSCOPED = {"unscoped": True}


@dataclass(frozen=True)
class Scope:
    """Where the acting principal may see: ``path`` is their subtree (``""`` every district)."""

    path: str
    principal_id: int
    role: Role


# Mapped class → function(class, Scope) → SQL criterion that keeps the class's rows in scope.
SCOPED: dict[type, Callable] = {}


def register(cls: type, criterion: Callable) -> None:
    """``register(Unit, lambda cls, scope: in_subtree(cls.path, scope.path))``"""
    SCOPED[cls] = criterion


def current_principal():
    """The principal acting in this request, or None (commands, tests, public pages)."""
    return g.get("principal") if has_app_context() else None


def current_scope() -> Scope | None:
    """The acting principal's scope, or None.

    Kept as plain values in ``g`` when the principal signs in: reading it off the (possibly
    expired) principal would itself run a query, and so this listener, again."""
    return g.get("scope") if has_app_context() else None


def current_scope_path() -> str | None:
    """The acting principal's subtree as a path; ``""`` is every district, None no principal."""
    scope = current_scope()
    return scope.path if scope is not None else None


@event.listens_for(Session, "do_orm_execute")
def _restrict_to_scope(state: ORMExecuteState) -> None:
    if not state.is_select or state.execution_options.get("unscoped"):
        return
    scope = current_scope()
    if scope is None:
        return
    # Only the classes this statement reads: building every criterion for every query would
    # cost more than most of the queries themselves.
    present = {mapper.class_ for mapper in state.all_mappers}
    options = []
    for cls in present & SCOPED.keys():
        clause = SCOPED[cls](cls, scope)
        if clause is not None:  # None: nothing to restrict (a scope over every district)
            options.append(with_loader_criteria(cls, clause, include_aliases=True))
    if options:
        state.statement = state.statement.options(*options)
