"""Migrations: empty → head → base on each database, and the models match the migrations."""

import warnings

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
            with warnings.catch_warnings():
                # SQLite's reflection cannot read an index on an expression (lower(username));
                # PostgreSQL's can, and compares it.
                warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
                warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index")
                differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_migrating_down_and_up_keeps_every_cases_history(empty_app):
    """Migration 0008 rebuilds ``cases`` and ``case_events`` on SQLite (copy, drop, rename). With
    foreign keys on, dropping the old ``cases`` deleted every event, party and attempt (ON DELETE
    CASCADE), or was refused where a resident's report refers to its case."""
    from gridgov.cases import service as cases_service
    from gridgov.cases.enums import Outcome
    from gridgov.cases.models import Case, CaseEvent, MediationAttempt, Party
    from gridgov.db import utcnow
    from gridgov.reports.models import Report
    from gridgov.tree import transfer
    from gridgov.tree.models import Unit
    from tests.conftest import SMALL_TREE_CSV

    def counts():
        with empty_app.app_context():
            return {model.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
                    for model in (Case, CaseEvent, Party, MediationAttempt, Report)}

    with empty_app.app_context():
        flask_migrate.upgrade()
        transfer.import_csv(db.session, data=SMALL_TREE_CSV.encode())
        micro = db.session.scalar(sa.select(Unit).where(Unit.code == "510503001001001001"))
        case, _ = cases_service.create_case(
            db.session, actor=None, title="邻里纠纷", category="family_neighbour", risk_grade="blue",
            source="citizen_report", origin_unit_id=micro.id, parties=[{"role": "applicant", "name": "张三"}])
        for action, params in [("accept", {}), ("record_attempt", {"outcome": Outcome.FAILURE})]:
            cases_service.act(db.session, case=case, action=action, actor=None, version=case.version, params=params)
        now = utcnow()
        db.session.add(Report(tracking_code="R0000000001", district_id=micro.district_id, unit_id=micro.id,
                              unit_path=micro.path, channel="qr", category="family_neighbour", description="楼上漏水",
                              status="dispatched", submitted_at=now, triage_due_at=now, case_id=case.id))
        db.session.commit()
    before = counts()
    assert before == {"Case": 1, "CaseEvent": 3, "Party": 1, "MediationAttempt": 1, "Report": 1}

    with empty_app.app_context():
        flask_migrate.downgrade(revision="0007_provisional_index")
    assert counts() == before
    with empty_app.app_context():
        flask_migrate.upgrade()
        if db.engine.dialect.name == "sqlite":  # the migration's connection goes back to the pool
            assert db.session.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
    assert counts() == before


def test_names_that_differ_only_in_case_stop_the_upgrade_naming_them_until_one_is_renamed(empty_app):
    """Before, the unique index's IntegrityError was all an operator saw, with no way to rename."""
    import click

    with empty_app.app_context():
        flask_migrate.upgrade(revision="0009_report_submission")
        for username in ("Bob.Li", "bob.li"):
            db.session.execute(sa.text(
                "INSERT INTO principals (username, display_name, role, scope_path, active, failed_logins, "
                "session_generation, version, created_at, updated_at) "
                "VALUES (:name, '李', 'auditor', '', true, 0, 0, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                {"name": username})
        db.session.commit()
        with pytest.raises(click.ClickException, match=r"bob\.li.*principals rename"):
            flask_migrate.upgrade()
    ambiguous = empty_app.test_cli_runner().invoke(args=["principals", "rename", "BOB.LI", "bob.li.grid"])
    assert ambiguous.exit_code == 1 and "Bob.Li" in ambiguous.output and "bob.li" in ambiguous.output
    # Typed exactly, the one meant (before, the first row of the two, Bob.Li).
    result = empty_app.test_cli_runner().invoke(args=["principals", "rename", "bob.li", "bob.li.grid"])
    assert result.exit_code == 0, result.output
    with empty_app.app_context():
        flask_migrate.upgrade()
        assert sorted(db.session.scalars(sa.text("SELECT username FROM principals"))) == ["Bob.Li", "bob.li.grid"]


def test_upgrading_a_database_with_cases_past_the_rollups_says_to_rebuild_them(empty_app, capfd):
    """The counters start empty; before, `db upgrade` said nothing, and the figures read 0 cases."""
    from gridgov.cases import service as cases_service
    from gridgov.tree import transfer
    from gridgov.tree.models import Unit
    from tests.conftest import SMALL_TREE_CSV

    with empty_app.app_context():
        flask_migrate.upgrade()
        transfer.import_csv(db.session, data=SMALL_TREE_CSV.encode())
        micro = db.session.scalar(sa.select(Unit).where(Unit.code == "510503001001001001"))
        cases_service.create_case(db.session, actor=None, title="邻里纠纷", category="family_neighbour",
                                  risk_grade="blue", source="grid_patrol", origin_unit_id=micro.id)
        db.session.commit()
        flask_migrate.downgrade(revision="0005_reports")
        capfd.readouterr()
        flask_migrate.upgrade()
    assert "rollups rebuild" in capfd.readouterr().err  # alembic's log, as `db upgrade` prints it


def test_a_rejection_written_as_one_text_comes_apart_into_reason_and_note(empty_app):
    """Migration 0015: before it, a rejected case kept "out_of_scope: 属市场监管部门职责" in one
    column; after it, the reason (checked: one of three) and the handler's note apart. Down and up
    again, the case reads as it did."""
    from gridgov.cases import service as cases_service
    from gridgov.cases.models import Case
    from gridgov.tree import transfer
    from gridgov.tree.models import Unit
    from tests.conftest import SMALL_TREE_CSV

    def rejections():
        with empty_app.app_context():
            return db.session.execute(sa.text("SELECT rejection_reason FROM cases ORDER BY id")).scalars().all()

    with empty_app.app_context():
        flask_migrate.upgrade()
        transfer.import_csv(db.session, data=SMALL_TREE_CSV.encode())
        micro = db.session.scalar(sa.select(Unit).where(Unit.code == "510503001001001001"))
        for note in ("属市场监管部门职责: 已告知", None):
            case, _ = cases_service.create_case(db.session, actor=None, title="商品质量投诉", category="consumer",
                                                risk_grade="blue", source="hotline", origin_unit_id=micro.id)
            cases_service.act(db.session, case=case, action="reject", actor=None, version=case.version,
                              params={"reason": "out_of_scope", "note": note})
        db.session.commit()
        flask_migrate.downgrade(revision="0014_reports_submitted")
    assert rejections() == ["out_of_scope: 属市场监管部门职责: 已告知", "out_of_scope"]

    with empty_app.app_context():
        flask_migrate.upgrade()
        assert [(case.rejection_reason, case.rejection_note) for case in db.session.scalars(
            sa.select(Case).order_by(Case.id))] == [("out_of_scope", "属市场监管部门职责: 已告知"), ("out_of_scope", None)]
        with pytest.raises(sa.exc.IntegrityError):  # the reason is one of three, on every database
            db.session.execute(sa.text("UPDATE cases SET rejection_reason = 'spam'"))
        db.session.rollback()


def test_cases_settled_before_the_column_are_settled_after_it(empty_app):
    """Migration 0018: a case with a successful mediation since it came to its owner is settled
    (it waits in the inbox to be resolved); one whose success was its earlier owner's is not."""
    from gridgov.cases import service as cases_service
    from gridgov.cases.enums import EscalationReason, Outcome
    from gridgov.cases.models import Case
    from gridgov.tree import transfer
    from gridgov.tree.models import Unit
    from tests.conftest import SMALL_TREE_CSV

    with empty_app.app_context():
        flask_migrate.upgrade()
        transfer.import_csv(db.session, data=SMALL_TREE_CSV.encode())
        micro = db.session.scalar(sa.select(Unit).where(Unit.code == "510503001001001001"))
        made = []
        for outcomes in ([Outcome.SUCCESS], [Outcome.FAILURE], [Outcome.SUCCESS, Outcome.FAILURE]):
            case, _ = cases_service.create_case(db.session, actor=None, title="邻里纠纷", category="family_neighbour",
                                                risk_grade="blue", source="hotline", origin_unit_id=micro.id)
            cases_service.act(db.session, case=case, action="accept", actor=None, version=case.version, params={})
            for outcome in outcomes:
                cases_service.act(db.session, case=case, action="record_attempt", actor=None, version=case.version,
                                  params={"outcome": outcome})
            made.append(case)
        # the third: escalated after its failure, its grid's success is not the village's
        cases_service.act(db.session, case=made[2], action="escalate", actor=None, version=made[2].version,
                          params={"reason": EscalationReason.MEDIATION_FAILED})
        db.session.commit()
        expected = [case.settled_at is not None for case in made]
        flask_migrate.downgrade(revision="0017_clock_stopped_at")
        flask_migrate.upgrade()
        db.session.expire_all()
        assert [case.settled_at is not None for case in db.session.scalars(sa.select(Case).order_by(Case.id))] \
            == expected == [True, False, False]


def test_cases_upgraded_past_migrations_that_wrote_into_them_replay_from_their_events(empty_app):
    """Found by an audit: 0015 (rejection texts split), 0017 (clock_stopped_at) and 0018
    (settled_at, filled from the attempts) wrote into every case with no event, and no case of an
    upgraded database could be rebuilt from its events. 0019 records what they miss, once."""
    from gridgov.cases import service as cases_service
    from gridgov.cases.enums import Outcome
    from gridgov.cases.models import Case, CaseEvent
    from gridgov.tree import transfer
    from gridgov.tree.models import Unit
    from tests.conftest import SMALL_TREE_CSV

    def replayed_as_it_is() -> list[bool]:
        db.session.expire_all()
        return [cases_service.replay(cases_service.events(db.session, case=case)) == cases_service.snapshot(case)
                for case in db.session.scalars(sa.select(Case).order_by(Case.id))]

    with empty_app.app_context():
        flask_migrate.upgrade()
        transfer.import_csv(db.session, data=SMALL_TREE_CSV.encode())
        micro = db.session.scalar(sa.select(Unit).where(Unit.code == "510503001001001001"))
        for steps in ([("accept", {}), ("record_attempt", {"outcome": Outcome.SUCCESS})],
                      [("reject", {"reason": "duplicate", "note": "与已登记案件重复"})], []):
            case, _ = cases_service.create_case(db.session, actor=None, title="邻里纠纷", category="family_neighbour",
                                                risk_grade="blue", source="hotline", origin_unit_id=micro.id)
            for action, params in steps:
                cases_service.act(db.session, case=case, action=action, actor=None, version=case.version, params=params)
        db.session.commit()
        assert replayed_as_it_is() == [True, True, True]
        # The events as they were written before those columns were: none of them told.
        events = CaseEvent.__table__
        for event_id, details in db.session.execute(sa.select(events.c.id, events.c.details)).all():
            changes = {name: value for name, value in details["changes"].items()
                       if name not in ("settled_at", "clock_stopped_at", "rejection_note")}
            db.session.execute(events.update().where(events.c.id == event_id)
                               .values(details={**details, "changes": changes}))
        db.session.commit()
        assert replayed_as_it_is() == [False, False, False]
        written = db.session.scalar(sa.select(sa.func.count()).select_from(events))

        flask_migrate.downgrade(revision="0018_settled_at")
        flask_migrate.upgrade()
        assert replayed_as_it_is() == [True, True, True]
        upgrades = db.session.scalars(sa.select(CaseEvent).where(CaseEvent.action == "upgrade")
                                      .order_by(CaseEvent.case_id)).all()
        assert len(upgrades) == 3 and written + 3 == db.session.scalar(sa.select(sa.func.count()).select_from(events))
        assert upgrades[1].details["changes"] == {"settled_at": None, "clock_stopped_at": upgrades[1].details[
            "changes"]["clock_stopped_at"], "rejection_note": "与已登记案件重复"}
        # Once: run again, the trail tells every case already.
        flask_migrate.downgrade(revision="0018_settled_at")
        flask_migrate.upgrade()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(events)) == written + 3
