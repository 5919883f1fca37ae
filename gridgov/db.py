"""The declarative base, the Flask-SQLAlchemy extension, and column types shared by every domain."""

import contextlib
import functools
from datetime import datetime, timezone

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase

from gridgov.errors import DENIED_HINT, SCHEMA_HINT, DomainError, NotFound, busy, denied, schema_missing, unreachable

# How long a writer waits for SQLite's write lock before it gives up ("database is locked"):
# then the request answers 503 with Retry-After (errors.handle_database_conflict).
SQLITE_BUSY_TIMEOUT_MS = 10_000

# Stable constraint names, so that Alembic can drop and alter what it created on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


# Objects stay readable after commit: a view commits, then serialises what it changed, and
# re-reading every row for that would double the queries of each request.
SESSION_OPTIONS = {"expire_on_commit": False}
db = SQLAlchemy(model_class=Base, session_options=dict(SESSION_OPTIONS))  # it adds its own keys


def one_by_id(session, model, row_id: int, *, label: str, **execution_options):
    """The row with this id, or ``NotFound``.

    A SELECT, never ``session.get()``: the identity map would hand back a row loaded earlier
    without the scope criterion that ``gridgov.auth.scope`` adds to every select.
    """
    row = session.scalar(sa.select(model).where(model.id == row_id).execution_options(**execution_options))
    if row is None:
        raise NotFound(f"{label} {row_id} does not exist.")
    return row


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def utc_moment(value: datetime) -> datetime:
    """``value`` (aware) in UTC; a ``ValueError`` for a naive one or one UTC cannot hold
    (year 1 east of Greenwich, year 9999 west of it)."""
    if value.tzinfo is None:
        raise ValueError("a moment needs its UTC offset")
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("the moment lies outside the years 1 to 9999 in UTC") from None


def moment_text(value: datetime) -> str:
    """``value`` as every answer writes a moment: UTC, always with microseconds. (``isoformat``
    leaves them out when they are 0, and clients' parsers, Swift's ISO8601DateFormatter among
    them, take one form or the other.)"""
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


class UTCDateTime(sa.TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite has no timezone-aware type; storing naive UTC there and tagging it on the way out
    gives the same answers as PostgreSQL's ``timestamptz``.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; gridgov stores only aware timestamps")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def enum_type(enum_class, name: str, length: int = 32) -> sa.Enum:
    """An enum column stored as its lowercase value (``"town"``), with a CHECK on every database."""
    return sa.Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


def binary_string(length: int) -> sa.types.TypeEngine:
    """A string compared byte by byte on every database.

    Paths and codes are compared with ``>=``/``<`` for subtree ranges; that is only right under a
    binary collation. SQLite's default is binary; PostgreSQL needs ``COLLATE "C"``.
    """
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


class not_by_index(sa.sql.functions.FunctionElement):
    """``column`` as it is, not to be found through its index: SQLite's planner takes a column
    written ``+column`` so (its documented way). Other databases weigh that by their statistics:
    there it is the column."""

    inherit_cache = True

    def __init__(self, column):
        super().__init__(column)
        self.type = column.type


@compiles(not_by_index)
def _column_itself(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(not_by_index, "sqlite")
def _column_with_plus(element, compiler, **kw):
    return "+" + compiler.process(element.clauses, **kw)


def configure_engine_events(engine: sa.engine.Engine) -> None:
    """Make SQLite behave like a real transactional database.

    pysqlite issues its own BEGIN lazily and breaks SAVEPOINT; SQLAlchemy's documented recipe
    hands transaction control back to SQLAlchemy. A transaction begins with ``BEGIN IMMEDIATE``
    (the write lock, taken up front: two deferred transactions that both read and then write
    would otherwise fail with "database is locked" instead of waiting), but only at its first
    write, savepoint or locking read (``with_for_update``). Reads before that run on their own,
    each seeing what is committed, as on PostgreSQL under READ COMMITTED: a service that decides a
    write from a read locks what it read (``with_for_update``), on both databases alike. A request
    holds the lock for its writes, not for its whole length, and never when it only reads.
    Foreign keys are off in SQLite unless asked for.
    """
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _begin_before_writing(connection, cursor, statement, _parameters, context, _executemany):
        if (connection.in_transaction() and not connection.connection.dbapi_connection.in_transaction
                and _takes_write_lock(statement, context)):
            cursor.execute("BEGIN IMMEDIATE")


def _takes_write_lock(statement: str, context) -> bool:
    """Anything but a plain read: a write, a savepoint, DDL, a statement that begins with a CTE
    (it may write), or a locking read (``with_for_update``, which SQLite's SQL does not show)."""
    head = statement.lstrip()[:7].upper()
    if head.startswith(("PRAGMA", "EXPLAIN")):
        return False
    if not head.startswith("SELECT"):
        return True
    compiled = getattr(context, "compiled", None)
    return compiled is not None and getattr(compiled.statement, "_for_update_arg", None) is not None


@contextlib.contextmanager
def read_snapshot(session):
    """Every read inside sees the database as it was at the first of them: figures read in several
    statements (counters, then the cases whose deadline stands) agree with each other while cases
    are written. For requests that only read: it commits the transaction the request ran in so far
    and begins one that keeps a snapshot (REPEATABLE READ on PostgreSQL; on SQLite a plain BEGIN,
    whose first read fixes the snapshot WAL shows it), ended on the way out."""
    session.commit()
    bind = session.get_bind()
    # A session joined to a transaction begun outside it (tests' rollback fixture) reads in that one.
    joined = isinstance(bind, sa.engine.Connection) and bind.in_transaction()
    connection = session.connection(execution_options={"isolation_level": "REPEATABLE READ"}
                                    if bind.dialect.name == "postgresql" and not joined else {})
    driver = connection.connection.driver_connection
    if connection.dialect.name == "sqlite" and not driver.in_transaction:  # (one begun reads one snapshot)
        driver.execute("BEGIN")  # past _begin_before_writing, which would take the write lock
    try:
        yield
    except BaseException:
        session.rollback()
        raise
    session.commit()


class TypedText(click.ParamType):
    """An argument as typed, refused in one line when it is not text: a terminal that sends
    another encoding than the server's locale (GBK into UTF-8) hands over undecodable bytes."""

    name = "text"

    def convert(self, value, param, ctx):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            self.fail("not valid text in this terminal's encoding (is the terminal set to UTF-8?)", param, ctx)
        return value


TYPED_TEXT = TypedText()


class CommandGroup(AppGroup):
    """The command line's groups: a database without the schema, or with an older one, is told
    what to run, in one line, before the command writes anything (instead of a traceback half-way)."""

    def command(self, *args, any_schema: bool = False, **kwargs):
        """``any_schema``: the command runs on an older schema too (a repair that an upgrade
        asks for before it can go on, such as ``principals rename``)."""
        # Always called with parentheses here (``@group.command("name")``): Click's bare form
        # would hand ``super().command`` the function itself.
        assert not (len(args) == 1 and callable(args[0])), "use @group.command(...)"
        register = super().command(*args, **kwargs)  # runs the command in an app context
        if any_schema:
            return register

        def decorator(callback):
            @functools.wraps(callback)
            def checked(*call_args, **call_kwargs):
                _require_current_schema()
                return callback(*call_args, **call_kwargs)

            return register(checked)

        return decorator

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DomainError as error:  # what a request would answer 4xx: said in one line, not a traceback
            raise click.ClickException(error.detail) from None
        except sa.exc.DBAPIError as error:
            # What a request answers 503 for: one line saying what to do, not a traceback in
            # cron's mail. The transaction under way was rolled back (a sweep keeps the batches it
            # committed before).
            if schema_missing(error):
                raise click.ClickException(SCHEMA_HINT) from None
            if denied(error):
                raise click.ClickException(DENIED_HINT) from None
            if busy(error):
                raise click.ClickException("The database stayed busy with another writer (SQLite's lock was held "
                                           "past the wait); what the command was writing was rolled back. "
                                           "Try again.") from None
            if unreachable(error):
                reason = str(error.orig).strip().splitlines()[0] if error.orig else "no connection"
                raise click.ClickException(f"The database cannot be reached ({reason}); what the command was writing "
                                           "was rolled back. Check GRIDGOV_DATABASE_URL and that the server "
                                           "runs.") from None
            raise


def _require_current_schema() -> None:
    """``ClickException`` unless the database's schema is the revision this code's migrations end
    at. (A missing schema fails the query: ``CommandGroup.invoke`` says what to run.)"""
    problem = schema_problem()
    if problem is not None:
        raise click.ClickException(problem)


def schema_problem() -> str | None:
    """What is wrong with the database's schema revision, in one line, or None when it is the
    one this code's migrations end at. Reads the database in a transaction of its own, ended here,
    so that none is left open for what follows (a missing schema raises)."""
    found = set(db.session.scalars(sa.text("SELECT version_num FROM alembic_version")))
    db.session.rollback()
    heads, known = _migration_revisions()
    if found == heads:
        return None
    at, ours = ", ".join(sorted(found)) or "no revision", ", ".join(sorted(heads))
    if found - known:  # a revision this code has never heard of: newer code made it
        return (f"The database's schema ({at}) is newer than this code's ({ours}): run the version of gridgov "
                "that upgraded it.")
    return f"{SCHEMA_HINT} (The database is at {at}; this code's schema is {ours}.)"


def _migration_revisions() -> tuple[set[str], set[str]]:
    """This code's migration heads and every revision it knows, read from the migrations once
    per app (they do not change under a running process)."""
    cached = current_app.extensions.get("gridgov.migration_revisions")
    if cached is None:
        from alembic.script import ScriptDirectory

        migrate = current_app.extensions["migrate"]
        script = ScriptDirectory.from_config(migrate.migrate.get_config(migrate.directory))
        cached = set(script.get_heads()), {revision.revision for revision in script.walk_revisions()}
        current_app.extensions["gridgov.migration_revisions"] = cached
    return cached
