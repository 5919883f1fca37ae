"""Every subtree query is an index range scan, read off each database's own query plan."""

import sqlalchemy as sa

from gridgov.tree.models import Unit, in_subtree


def plan(session, dialect, stmt) -> str:
    sql = str(stmt.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}))
    if dialect == "sqlite":
        rows = session.execute(sa.text("EXPLAIN QUERY PLAN " + sql)).all()
        return "\n".join(row[-1] for row in rows)
    # A handful of rows would make any planner prefer a sequential scan; forbidding it shows
    # whether the index *can* serve the range (under a non-C collation it could not).
    session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    return "\n".join(row[0] for row in session.execute(sa.text("EXPLAIN " + sql)))


def test_subtree_count_is_an_index_range_scan(session, dialect, small_tree):
    town = small_tree["510503001"]
    stmt = sa.select(sa.func.count()).select_from(Unit).where(in_subtree(Unit.path, town.path))
    text = plan(session, dialect, stmt)
    if dialect == "sqlite":
        assert "ix_units_path (path>? AND path<?)" in text, text
        assert "SCAN units" not in text, text
    else:
        assert "ix_units_path" in text and "Index Cond" in text, text
        assert "Seq Scan" not in text, text


def test_descendant_page_is_an_index_range_scan(session, dialect, small_tree):
    district = small_tree["510503"]
    stmt = (
        sa.select(Unit)
        .where(Unit.path > district.path, Unit.path < district.path + "~")
        .order_by(Unit.path)
        .limit(50)
    )
    text = plan(session, dialect, stmt)
    assert "ix_units_path" in text, text
    assert "SCAN units" not in text and "Seq Scan" not in text and "TEMP B-TREE" not in text, text


def test_the_path_index_compares_bytewise(session, dialect, small_tree):
    """Ranges on paths are only right under a binary collation."""
    if dialect == "sqlite":
        columns = session.execute(sa.text("PRAGMA index_xinfo(ix_units_path)")).mappings().all()
        collation = next(column["coll"] for column in columns if column["name"] == "path")
        assert collation == "BINARY"
    else:
        collation = session.scalar(
            sa.text(
                "SELECT collation_name FROM information_schema.columns "
                "WHERE table_name = 'units' AND column_name = 'path'"
            )
        )
        assert collation == "C"


def test_a_lineage_is_one_index_lookup_per_level(session, dialect, small_tree):
    """A unit with its ancestors (what logging a case and its counters read) comes from one
    query: the unit by its key, then each prefix of its path through the path index."""
    from gridgov.tree.service import LINEAGE

    micro = small_tree["510503001001001001"]
    text = plan(session, dialect, LINEAGE.params(unit_id=micro.id))
    if dialect == "sqlite":
        assert "ix_units_path (path=?)" in text, text
        assert "SCAN" not in text, text
    else:
        assert "ix_units_path" in text and "Seq Scan" not in text, text


def test_a_lineage_is_root_first_and_ends_with_the_unit(session, small_tree):
    from gridgov.tree import service

    micro = small_tree["510503001001001001"]
    codes = [unit.code for unit in service.lineage(session, unit_id=micro.id)]
    assert codes == ["510503", "510503001", "510503001001", "510503001001001", "510503001001001001"]
    assert [unit.code for unit in service.lineage(session, unit_id=small_tree["510503"].id)] == ["510503"]
