"""``flask --app gridgov principals …`` and ``flask --app gridgov tokens …``."""

import re
import sys
from datetime import timedelta

import click
import marshmallow as ma
import sqlalchemy as sa

from gridgov.api import MAX_ID
from gridgov.auth import service
from gridgov.auth.models import ApiToken, Principal
from gridgov.auth.permissions import Role
from gridgov.auth.schemas import PasswordSchema, PrincipalCreateSchema, PrincipalPatchSchema, TokenCreateSchema
from gridgov.db import TYPED_TEXT, CommandGroup, db
from gridgov.errors import DomainError
from gridgov.tree import service as tree_service


def _fail(error: DomainError) -> None:
    db.session.rollback()
    click.echo(f"Error: {error.detail}", err=True)
    sys.exit(1)


def _change(username: str, change) -> Principal:
    """The account USERNAME after ``change(principal)``, committed; or the command ends saying
    what is wrong."""
    try:
        principal = service.get_principal_by_username(db.session, username=username)
        change(principal)
        db.session.commit()
    except DomainError as error:
        _fail(error)
    return principal


def _change_noting(username: str, change, was) -> tuple[Principal, object]:
    """``_change``, and ``was(principal)`` as it stood before the change: to say when the command
    changed nothing."""
    before = []
    principal = _change(username, lambda principal: (before.append(was(principal)), change(principal)))
    return principal, before[0]


def _checked(schema: ma.Schema, values: dict, *, partial=()) -> dict:
    """``values`` as the API would take them (the same schema: lengths, characters, passwords),
    or the command ends naming what is wrong, an option a line."""
    try:
        given = {key: value for key, value in values.items() if value is not None or key == "scope_unit_id"}
        return schema.load(given, partial=partial)
    except ma.ValidationError as error:
        problems = "\n  ".join(f"{OPTIONS.get(field, field)}: {' '.join(map(str, messages))}"
                                for field, messages in error.normalized_messages().items())
        click.echo(f"Error: {problems}", err=True)
        sys.exit(1)


# The options the schemas' fields come from, to name them in errors.
OPTIONS = {"display_name": "--name", "password": "--password", "name": "--name", "username": "USERNAME"}


@click.group(cls=CommandGroup, help="Accounts.")
def principals():
    pass


@principals.command("create")
@click.argument("username", type=TYPED_TEXT)
@click.option("--role", required=True, type=click.Choice([role.value for role in Role]))
@click.option("--scope", "scope_code", required=True,
              help="Code of the unit whose subtree they act in; '*' for every district.")
@click.option("--password", default=None, help="Omit for an account that uses tokens only.")
# A password typed on the command line stays in the shell's history and shows in `ps` meanwhile.
@click.option("--ask-password", is_flag=True, help="Ask for the password (twice, not shown) instead.")
@click.option("--name", "display_name", default=None, help="Display name (default: the username).")
def create_command(username, role, scope_code, password, ask_password, display_name):
    """Create the account USERNAME."""
    if ask_password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        scope = None if scope_code == "*" else tree_service.get_unit_by_code(db.session, code=scope_code)
        fields = _checked(PrincipalCreateSchema(), {
            "username": username, "display_name": display_name, "role": role,
            "scope_unit_id": scope.id if scope else None, "password": password,
        }, partial=("display_name",) if display_name is None else ())
        fields.setdefault("display_name", username)  # a valid username is a valid display name
        principal = service.create_principal(db.session, **fields)
        db.session.commit()
    except DomainError as error:
        _fail(error)
    where = f"{scope.code} {scope.name}" if scope else "every district"
    click.echo(f"Created {principal.username} ({principal.role}, scope {where}).")


@principals.command("list")
def list_command():
    """Every account, with role, scope and state."""
    rows = db.session.scalars(sa.select(Principal).order_by(Principal.username))
    for principal in rows:
        state = "active" if principal.active else "deactivated"
        if service.is_locked(principal):
            state += ", locked"
        scope = f"{principal.scope_unit.code:<18} {principal.scope_unit.name}" if principal.scope_unit else f"{'*':<18} 全部"
        click.echo(f"{principal.username:<28} {principal.role.value:<17} {scope}  ({state})")


@principals.command("deactivate")
@click.argument("username", type=TYPED_TEXT)
def deactivate_command(username):
    """Deactivate USERNAME: sessions end, tokens are revoked."""
    principal, was_active = _change_noting(
        username, lambda principal: service.deactivate(db.session, principal=principal),
        was=lambda principal: principal.active)
    click.echo(f"Deactivated {principal.username}." if was_active else f"{principal.username} is deactivated already.")


@principals.command("activate")
@click.argument("username", type=TYPED_TEXT)
def activate_command(username):
    """Reactivate USERNAME, deactivated before; its old tokens stay revoked."""
    principal, was_active = _change_noting(
        username, lambda principal: service.activate(db.session, principal=principal),
        was=lambda principal: principal.active)
    click.echo(f"{principal.username} is active already." if was_active else f"Reactivated {principal.username}.")


@principals.command("rename", any_schema=True)  # what `db upgrade` past 0010 may ask for first
@click.argument("username", type=TYPED_TEXT)
@click.argument("new_username", type=TYPED_TEXT)
def rename_command(username, new_username):
    """Rename USERNAME to NEW_USERNAME (e.g. one of two names that differ only in case, which
    `db upgrade` past 0010 refuses). Sign-in uses the new name; tokens and sessions go on."""
    principal = _change(username, lambda principal: service.rename(db.session, principal=principal,
                                                                   username=new_username))
    click.echo(f"Renamed {username.strip()} to {principal.username}.")


@principals.command("update")
@click.argument("username", type=TYPED_TEXT)
@click.option("--role", default=None, type=click.Choice([role.value for role in Role]))
@click.option("--scope", "scope_code", default=None,
              help="Code of the unit whose subtree they act in; '*' for every district.")
@click.option("--name", "display_name", default=None, help="Display name.")
def update_command(username, role, scope_code, display_name):
    """Change the role, scope or display name of USERNAME (from here also for the accounts that
    read personal data, which only an admin over the whole installation may change in the API).
    A new role or scope ends their sessions and lets go of the cases they may no longer work on."""
    try:
        principal = service.get_principal_by_username(db.session, username=username)
        changes = {"role": role, "display_name": display_name}
        if scope_code is not None:
            scope = None if scope_code == "*" else tree_service.get_unit_by_code(db.session, code=scope_code)
            changes["scope_unit_id"] = scope.id if scope else None
        changes = _checked(PrincipalPatchSchema(), changes)
        if not changes:
            click.echo("Error: say what to change: --role, --scope or --name.", err=True)
            sys.exit(1)
        service.update_principal(db.session, principal=principal, **changes)
        db.session.commit()
    except DomainError as error:
        _fail(error)
    where = f"{principal.scope_unit.code} {principal.scope_unit.name}" if principal.scope_unit else "every district"
    click.echo(f"{principal.username}: {principal.display_name}, {principal.role}, scope {where}.")


@principals.command("password")
@click.argument("username", type=TYPED_TEXT)
@click.password_option(help="The new password (asked for, twice, when not given).")
def password_command(username, password):
    """Set the password of USERNAME: a lock-out ends, and so do their sessions and tokens."""
    password = _checked(PasswordSchema(), {"password": password})["password"]
    principal = _change(username, lambda principal: service.set_password(db.session, principal=principal,
                                                                         password=password))
    click.echo(f"Set the password of {principal.username}; their sessions and tokens have ended.")


@principals.command("unlock")
@click.argument("username", type=TYPED_TEXT)
def unlock_command(username):
    """End the lock-out of USERNAME after too many wrong passwords."""
    principal, was_locked = _change_noting(
        username, lambda principal: service.unlock(db.session, principal=principal),
        was=lambda principal: bool(principal.failed_logins or principal.locked_until))
    click.echo(f"Unlocked {principal.username}." if was_locked else f"{principal.username} is not locked out.")


@click.group(cls=CommandGroup, help="API tokens.")
def tokens():
    pass


@tokens.command("issue")
@click.argument("username", type=TYPED_TEXT)
@click.option("--expires-in", "days", type=click.IntRange(1, 3650), default=90, show_default=True,
              help="Days until the token expires.")
@click.option("--name", default="cli", show_default=True, help="A label to tell tokens apart.")
def issue_command(username, days, name):
    """Issue a token for USERNAME; the token alone is printed on the last line."""
    try:
        principal = service.get_principal_by_username(db.session, username=username)
        name = _checked(TokenCreateSchema(), {"principal_id": principal.id, "name": name})["name"]
        token, text = service.issue_token(db.session, principal=principal, name=name, expires_in=timedelta(days=days))
        db.session.commit()
    except DomainError as error:
        _fail(error)
    click.echo(f"Token {token.id} for {principal.username}, expires {token.expires_at:%Y-%m-%d %H:%M} UTC; "
               "it is shown only now:", err=True)
    click.echo(text)


@tokens.command("revoke")
@click.argument("token", type=TYPED_TEXT)
def revoke_command(token):
    """Revoke TOKEN, given as its id or as the token itself."""
    try:
        if re.fullmatch(r"[0-9]{1,10}", token) and int(token) <= MAX_ID:  # an id (isdigit() takes "²", "٢")
            row = service.get_token(db.session, token_id=int(token))
        else:
            row = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == service.token_hash(token)))
            if row is None:
                click.echo("Error: no such token.", err=True)
                sys.exit(1)
        revoked_before = row.revoked_at is not None
        service.revoke_token(db.session, token=row)
        db.session.commit()
    except DomainError as error:
        _fail(error)
    click.echo(f"Token {row.id} of {row.principal.username} was revoked already." if revoked_before
               else f"Revoked token {row.id} of {row.principal.username}.")
