"""Scope: every read of scoped rows is restricted to the signed-in principal's subtree.

Enforced where data is read, once: a ``do_orm_execute`` listener adds each scoped class's
criterion (a path range, see ``tree.models.in_subtree``) to every ORM select issued while a
principal is acting. A row outside the subtree is then simply not found, so views answer 404 and
never leak that it exists. Commands and tests without a principal see everything.

Queries that guard invariants across the whole database (is this code taken? which path is
free?) opt out with ``.execution_options(**UNSCOPED)``; nothing else should.
"""

from collections.abc import Callable

from flask import g, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

UNSCOPED = {"unscoped": True}

# Mapped class → function(class, scope path) → SQL criterion that keeps the class's rows in scope.
SCOPED: dict[type, Callable] = {}


def scoped_by(criterion: Callable) -> Callable[[type], type]:
    """Class decorator: ``@scoped_by(lambda cls, path: in_subtree(cls.path, path))``."""

    def register(cls: type) -> type:
        SCOPED[cls] = criterion
        return cls

    return register


def register(cls: type, criterion: Callable) -> None:
    SCOPED[cls] = criterion


def current_principal():
    """The principal acting in this request, or None (commands, tests, public pages)."""
    return g.get("principal") if has_app_context() else None


def current_scope_path() -> str | None:
    """The acting principal's subtree as a path; ``""`` is every district, None no principal.

    Kept as plain text in ``g`` when the principal signs in: reading it off the (possibly
    expired) principal would itself run a query, and so this listener, again."""
    return g.get("scope_path") if has_app_context() else None


@event.listens_for(Session, "do_orm_execute")
def _restrict_to_scope(state: ORMExecuteState) -> None:
    if not state.is_select or state.execution_options.get("unscoped"):
        return
    path = current_scope_path()
    if not path:  # no principal, or one whose scope is the whole installation
        return
    state.statement = state.statement.options(
        *(
            with_loader_criteria(cls, criterion(cls, path), include_aliases=True)
            for cls, criterion in SCOPED.items()
        )
    )
