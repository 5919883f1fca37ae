"""Migrations: empty → head → base on each database, and the models match the migrations."""

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gridgov import create_app
from gridgov.db import db
from tests.conftest import POSTGRES_URL, drop_database, scratch_postgres_database


@pytest.fixture
def empty_app(dialect, tmp_path):
    """An app on a database of the same kind as ``app``'s, but empty."""
    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrations.db'}"
    else:
        url = scratch_postgres_database(POSTGRES_URL, "migrations")
    app = create_app({"TESTING": True, "DATABASE_URL": url, "INSTANCE_PATH": str(tmp_path)})
    yield app
    with app.app_context():
        db.engine.dispose()
    if dialect != "sqlite":
        drop_database(url)


def tables(app) -> set[str]:
    with app.app_context():
        return set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_builds_every_table_and_downgrade_removes_them(empty_app):
    assert tables(empty_app) == set()
    with empty_app.app_context():
        flask_migrate.upgrade()
    assert tables(empty_app) == set(db.metadata.tables)
    with empty_app.app_context():
        flask_migrate.downgrade(revision="base")
    assert tables(empty_app) == set()
    with empty_app.app_context():  # and up again: downgrades leave nothing behind that blocks it
        flask_migrate.upgrade()
    assert tables(empty_app) == set(db.metadata.tables)


def test_models_match_the_migrations(empty_app):
    with empty_app.app_context():
        flask_migrate.upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "render_as_batch": True}
            )
            differences = compare_metadata(context, db.metadata)
    assert differences == []
