"""``flask units import FILE``.

The commands use ``db.session`` of the current app context; the ``session`` fixture provides
that context, so the command's commit only releases a savepoint of the test's transaction.
"""

import sqlalchemy as sa

from gridgov.tree import service
from gridgov.tree.levels import Level
from gridgov.tree.models import Unit
from tests.conftest import SMALL_TREE_CSV


def import_file(app, path):
    return app.test_cli_runner().invoke(args=["units", "import", str(path)])


def snapshot(session):
    columns = (Unit.code, Unit.id, Unit.name, Unit.parent_id, Unit.path, Unit.version)
    return {row.code: tuple(row) for row in session.execute(sa.select(*columns))}


def test_import_creates_the_units_and_reports_counts(app, session, tmp_path):
    path = tmp_path / "units.csv"
    path.write_text(SMALL_TREE_CSV, encoding="utf-8-sig")

    result = import_file(app, path)

    assert result.exit_code == 0, result.output
    assert result.stdout == "15 created, 0 updated, 0 moved, 0 unchanged\n"
    unit = service.get_unit_by_code(session, code="510503001001001001")
    assert unit.level is Level.MICROGRID
    assert session.get(Unit, unit.parent_id).code == "510503001001001"


def test_a_gbk_file_imports_with_its_encoding_and_is_refused_with_a_hint_without(app, session, tmp_path):
    path = tmp_path / "units.csv"
    path.write_text(SMALL_TREE_CSV, encoding="gbk")

    refused = import_file(app, path)
    assert refused.exit_code == 1 and "--encoding gbk" in refused.stderr
    assert session.scalar(sa.select(sa.func.count()).select_from(Unit)) == 0

    result = app.test_cli_runner().invoke(args=["units", "import", "--encoding", "gbk", str(path)])
    assert result.exit_code == 0, result.output
    assert service.get_unit_by_code(session, code="510503").name == "纳溪区"


def test_importing_again_reports_everything_unchanged(app, session, small_tree, tmp_path):
    path = tmp_path / "units.csv"
    path.write_text(SMALL_TREE_CSV, encoding="utf-8")
    before = snapshot(session)

    result = import_file(app, path)

    assert result.exit_code == 0, result.output
    assert result.stdout == "0 created, 0 updated, 0 moved, 15 unchanged\n"
    assert snapshot(session) == before


def test_a_bad_file_exits_non_zero_naming_its_lines_and_changes_nothing(app, session, small_tree, tmp_path):
    path = tmp_path / "units.csv"
    path.write_text(
        "code,name,level,parent_code\n"
        "510503001001,改名社区,village,510503001\n"
        "510503001009,某社区,village,510503999\n"
        "510503001010,某社区,hamlet,510503001\n",
        encoding="utf-8",
    )
    before = snapshot(session)

    result = import_file(app, path)

    assert result.exit_code == 1
    assert "\nError: The file was not imported: 2 problem(s). Nothing was changed.\n" in result.stderr
    assert "line 4: level 'hamlet'" in result.stderr
    assert result.stdout == ""
    assert snapshot(session) == before


def test_a_file_with_an_unknown_parent_names_that_line(app, session, small_tree, tmp_path):
    path = tmp_path / "units.csv"
    path.write_text("code,name,level,parent_code\n510503001009,某社区,village,510503999\n", encoding="utf-8")

    result = import_file(app, path)

    assert result.exit_code == 1
    assert "line 2: parent_code 510503999 is neither in the file nor in the database" in result.stderr
    assert session.scalar(sa.select(Unit.id).where(Unit.code == "510503001009")) is None


def test_a_file_that_is_not_utf8_exits_non_zero_naming_its_line(app, session, tmp_path):
    path = tmp_path / "units.csv"
    path.write_bytes(b"code,name,level,parent_code\n510504," + "江阳区".encode("gbk") + b",district,\n")

    result = import_file(app, path)

    assert result.exit_code == 1
    assert "line 2: not valid UTF-8" in result.stderr
    assert session.scalar(sa.select(Unit.id).where(Unit.code == "510504")) is None


def test_a_missing_file_is_a_usage_error(app, session, tmp_path):
    result = import_file(app, tmp_path / "nowhere.csv")

    assert result.exit_code == 2
    assert "does not exist" in result.stderr
