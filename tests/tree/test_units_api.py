"""``/api/v1/units`` over HTTP, on the small tree of ``conftest.SMALL_TREE_CSV``.

    510503 纳溪区 (D)
    ├── 510503001 安富街道 (T1)
    │   ├── 510503001001 永安社区 (V1) ── grids G11 (micro-grids M111, M112), G12 (M121)
    │   └── 510503001002 新民社区 (V2) ── grid G21 (M211)
    └── 510503100 大渡口镇 (T2)
        └── 510503100201 金龙村 (V3) ── grid G31 (M311)
"""

import base64
import csv
import io
import json

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gridgov.tree import transfer
from tests.conftest import bearer_client, every_page, fresh_app, full_width

U = "/api/v1/units"

D = "510503"
T1, T2 = "510503001", "510503100"
V1, V2, V3 = "510503001001", "510503001002", "510503100201"
G11, G12, G21, G31 = "510503001001001", "510503001001002", "510503001002001", "510503100201001"
M111, M112, M121 = "510503001001001001", "510503001001001002", "510503001001002001"
M211, M311 = "510503001002001001", "510503100201001001"
ALL = [D, T1, T2, V1, V2, V3, G11, G12, G21, G31, M111, M112, M121, M211, M311]
V1_SUBTREE = [V1, G11, M111, M112, G12, M121]  # tree order


@pytest.fixture
def ids(small_tree) -> dict[str, int]:
    return {code: unit.id for code, unit in small_tree.items()}


# --- helpers ------------------------------------------------------------------------------------


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    assert all(isinstance(body[key], str) and body[key] for key in ("type", "title", "detail"))
    return body


def by_code(client, code: str) -> dict:
    response = client.get(f"{U}/by-code/{code}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def codes(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["code"] for item in response.json["items"]]


def walk(client, url: str, limit: int = 2) -> list[str]:
    """Codes of every page of a list, following ``next_cursor``."""
    seen, cursor = [], None
    separator = "&" if "?" in url else "?"
    for _ in range(100):
        page_url = f"{url}{separator}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(page_url)
        page = codes(response)
        assert len(page) <= limit
        seen += page
        cursor = response.json["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination does not end")


def create(client, **body):
    return client.post(U, json=body)


def forged_cursor(key) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def move(client, unit_id: int, parent_id):
    return client.post(f"{U}/{unit_id}/move", json={"parent_id": parent_id})


# --- create -------------------------------------------------------------------------------------


def test_create_district_without_parent(client):
    response = create(client, name="江阳区", level="district", code="510502", city_code="510500")
    assert response.status_code == 201, response.json
    district = response.json
    assert (district["code"], district["level"], district["parent_id"]) == ("510502", "district", None)
    assert district["district_id"] == district["id"]
    assert district["depth"] == 0
    assert by_code(client, "510502")["id"] == district["id"]


def test_a_new_district_never_takes_a_deleted_districts_path(client, make_principal):
    """Before, the new district took the deleted one's path, and its auditors read the old
    district's admin log (scoped by path)."""
    create(client, name="江阳区", level="district", code="510502")
    gone = create(client, name="龙马潭区", level="district", code="510504").json
    assert client.delete(f"{U}/{gone['id']}").status_code == 204

    new = create(client, name="泸县", level="district", code="510521").json
    assert new["path"] > gone["path"]
    _id, token = make_principal("auditor", "510521")
    log = client.get("/api/v1/audit", query_string={"limit": 500}, headers={"Authorization": f"Bearer {token}"})
    assert log.status_code == 200, log.get_data(as_text=True)
    labels = [event["target_label"] for event in log.get_json()["items"]]
    assert labels and all("龙马潭区" not in label for label in labels)


def test_create_town_under_district(client, ids):
    response = create(client, name="新镇", level="town", code="510503200", parent_id=ids[D])
    assert response.status_code == 201, response.json
    town = response.json
    district = by_code(client, D)
    assert town["parent_id"] == ids[D] and town["district_id"] == ids[D]
    assert town["path"].startswith(district["path"]) and town["depth"] == 1
    assert "510503200" in codes(client.get(f"{U}/{ids[D]}/children"))


@pytest.mark.parametrize(
    "level, parent, expected",
    [
        ("village", D, "town"),  # skipping a level
        ("town", T1, "district"),  # a sibling level
        ("grid", T1, "village"),
        ("microgrid", V1, "grid"),
        ("town", None, "district"),  # no parent at all
    ],
)
def test_create_under_wrong_level_names_the_expected_parent_level(client, ids, level, parent, expected):
    code = {"town": "510503300", "village": "510503001009", "grid": None, "microgrid": None}[level]
    body = {"name": "新单位", "level": level, "parent_id": ids[parent] if parent else None}
    if code:
        body["code"] = code
    problem = assert_problem(client.post(U, json=body), 422)
    assert problem["expected_parent_level"] == expected
    assert any(expected in message for message in problem["errors"]["parent_id"])


def test_a_scoped_admin_who_leaves_out_a_towns_parent_hears_which_parent_it_needs(client, ids, make_principal):
    """Before, a district-scoped admin heard 403 about creating districts."""
    _id, token = make_principal("admin", D)
    response = client.post(U, json={"name": "新镇", "level": "town", "code": "510503300"},
                           headers={"Authorization": f"Bearer {token}"})
    assert assert_problem(response, 422)["expected_parent_level"] == "district"
    district = client.post(U, json={"name": "江阳区", "level": "district", "code": "510502"},
                           headers={"Authorization": f"Bearer {token}"})
    assert "whole installation" in assert_problem(district, 403)["detail"]


def test_district_with_a_parent_is_refused(client, ids):
    problem = assert_problem(create(client, name="江阳区", level="district", code="510502", parent_id=ids[D]), 422)
    assert "parent_id" in problem["errors"]
    assert client.get(f"{U}/by-code/510502").status_code == 404


@pytest.mark.parametrize(
    "level, parent", [("district", None), ("town", D), ("village", T1)]
)
def test_code_is_required_for_national_levels(client, ids, level, parent):
    body = {"name": "无代码", "level": level}
    if parent:
        body["parent_id"] = ids[parent]
    problem = assert_problem(client.post(U, json=body), 422)
    assert "code" in problem["errors"]


def test_grid_and_microgrid_codes_are_generated_in_sequence(client, ids):
    village = create(client, name="新村", level="village", code="510503001009", parent_id=ids[T1]).json
    first = create(client, name="第1网格", level="grid", parent_id=village["id"])
    second = create(client, name="第2网格", level="grid", parent_id=village["id"])
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json["code"] == "510503001009001"
    assert second.json["code"] == "510503001009002"
    micro = create(client, name="1号微网格", level="microgrid", parent_id=first.json["id"])
    assert micro.status_code == 201 and micro.json["code"] == "510503001009001001"


def test_generated_code_continues_after_existing_children(client, ids):
    assert create(client, name="第3网格", level="grid", parent_id=ids[V1]).json["code"] == "510503001001003"
    assert create(client, name="3号微网格", level="microgrid", parent_id=ids[G11]).json["code"] == M111[:-3] + "003"


def test_a_deleted_units_generated_code_is_not_given_again(client, ids):
    """Codes are identities (the admin log names units by them): before, a grid deleted and a new
    one created got the same code."""
    grid = create(client, name="第3网格", level="grid", parent_id=ids[V1]).json
    assert grid["code"] == V1 + "003"
    assert client.delete(f"{U}/{grid['id']}").status_code == 204
    assert create(client, name="新第3网格", level="grid", parent_id=ids[V1]).json["code"] == V1 + "004"


def test_after_an_explicit_last_code_the_generated_one_takes_the_first_free_number(client, ids):
    """Before, a grid given ``…999`` by hand left "no free code" for the 997 numbers below it."""
    assert create(client, name="第999网格", level="grid", parent_id=ids[V1], code=V1 + "999").status_code == 201
    assert create(client, name="第3网格", level="grid", parent_id=ids[V1]).json["code"] == V1 + "003"
    assert create(client, name="第4网格", level="grid", parent_id=ids[V1]).json["code"] == V1 + "004"


@pytest.mark.parametrize(
    "level, parent, code",
    [
        ("district", None, "510599001"),
        ("town", D, "510599"),
        ("village", T1, "510503009"),
        ("grid", V1, "510503001009"),
        ("microgrid", G11, "510503001001001001001"),
        ("town", D, "51050300A"),
    ],
)
def test_explicit_code_of_wrong_form_is_refused(client, ids, level, parent, code):
    body = {"name": "错代码", "level": level, "code": code}
    if parent:
        body["parent_id"] = ids[parent]
    problem = assert_problem(client.post(U, json=body), 422)
    assert "code" in problem["errors"]
    assert client.get(f"{U}/by-code/{code}").status_code == 404


@pytest.mark.parametrize("level, parent, code", [("town", D, "510502001"), ("village", T1, "510503100209")])
def test_a_new_town_or_village_code_begins_with_its_parents(client, ids, level, parent, code):
    """Found by a two-district audit: one district gave its towns another district's national
    codes (510502…), which that district could then never register as its own."""
    problem = assert_problem(create(client, name="错代码", level=level, code=code, parent_id=ids[parent]), 422)
    assert problem["errors"]["code"] == [f"a new {level}'s division code begins with its "
                                         f"{'district' if level == 'town' else 'town'}'s code, {parent}"]
    assert client.get(f"{U}/by-code/{code}").status_code == 404


def test_a_town_moved_to_another_district_keeps_its_code_and_its_export_imports_again(client, ids, tmp_path):
    """Into this database and, as a review found, into a fresh one (where the moved town is new)."""
    other = create(client, name="江阳区", level="district", code="510502").json
    assert move(client, ids[T2], other["id"]).status_code == 200
    assert create(client, name="新村", level="village", code=T2 + "209", parent_id=ids[T2]).status_code == 201
    export = client.get(f"{U}/{other['id']}/export?format=csv")
    response = client.post(f"{U}/import", data=export.data, content_type="text/csv")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert by_code(client, T2)["parent_id"] == other["id"]
    (tmp_path / "elsewhere").mkdir()
    elsewhere = fresh_app(tmp_path / "elsewhere")
    # A session of its own: the test's db.session is bound to the test's database.
    engine = sa.create_engine(elsewhere.config["SQLALCHEMY_DATABASE_URI"])
    with elsewhere.app_context(), Session(engine) as session:
        assert transfer.import_csv(session, data=export.data)["created"] == 6
        session.commit()
    engine.dispose()


def test_duplicate_code_is_a_conflict(client, ids):
    before = walk(client, U, limit=500)
    problem = assert_problem(create(client, name="另一个安富", level="town", code=T1, parent_id=ids[D]), 409)
    assert problem["errors"] == {"code": ["taken"]}
    assert walk(client, U, limit=500) == before
    assert by_code(client, T1)["name"] == "安富街道"


def test_create_under_missing_parent_is_404(client, ids):
    assert_problem(create(client, name="孤村", level="village", code="510503001009", parent_id=2**31 - 1), 404)


# --- read ---------------------------------------------------------------------------------------


def test_get_by_id_and_by_code_agree(client, ids):
    unit = client.get(f"{U}/{ids[V1]}").json
    assert unit == by_code(client, V1)
    assert (unit["name"], unit["level"], unit["parent_id"]) == ("永安社区", "village", ids[T1])
    assert unit["district_id"] == ids[D] and unit["households"] == 1200


@pytest.mark.parametrize(
    "url", [f"{U}/2147483647", f"{U}/99999999999", f"{U}/0", f"{U}/-1", f"{U}/abc", f"{U}/by-code/999999"]
)
def test_missing_unit_is_404_problem(client, small_tree, url):
    assert_problem(client.get(url), 404)


# --- patch --------------------------------------------------------------------------------------


def test_patch_name_and_households_bumps_version(client, ids):
    before = client.get(f"{U}/{ids[V1]}").json
    response = client.patch(f"{U}/{ids[V1]}", json={"name": "永安新社区", "households": 1300, "version": before["version"]})
    assert response.status_code == 200, response.json
    after = client.get(f"{U}/{ids[V1]}").json
    assert (after["name"], after["households"]) == ("永安新社区", 1300)
    assert after["version"] == before["version"] + 1
    assert (after["code"], after["path"], after["parent_id"]) == (before["code"], before["path"], before["parent_id"])


def test_patch_with_stale_version_is_a_conflict(client, ids):
    version = client.get(f"{U}/{ids[V1]}").json["version"]
    assert client.patch(f"{U}/{ids[V1]}", json={"name": "甲", "version": version}).status_code == 200
    assert_problem(client.patch(f"{U}/{ids[V1]}", json={"name": "乙", "version": version}), 409)
    assert client.get(f"{U}/{ids[V1]}").json["name"] == "甲"


@pytest.mark.parametrize(
    "body",
    [
        {"households": -1},
        {"latitude": 90.5},
        {"longitude": -180.01},
        {"code": "510503001099"},  # codes are identities
        {"parent_id": 1},  # re-parenting is a move
        {"level": "town"},
        {"colour": "red"},
        {"name": ""},
        {"name": "   "},
        {"name": "名" * 101},
    ],
)
def test_patch_refuses_bad_values_and_unknown_fields(client, ids, body):
    before = client.get(f"{U}/{ids[V1]}").json
    problem = assert_problem(client.patch(f"{U}/{ids[V1]}", json=body), 422)
    assert set(body) <= set(problem["errors"])
    assert client.get(f"{U}/{ids[V1]}").json == before


def test_patch_missing_unit_is_404(client, small_tree):
    assert_problem(client.patch(f"{U}/2147483647", json={"name": "无"}), 404)


# --- delete -------------------------------------------------------------------------------------


def test_delete_refused_while_unit_has_children(client, ids):
    assert_problem(client.delete(f"{U}/{ids[G11]}"), 409)
    assert client.get(f"{U}/{ids[G11]}").status_code == 200


def test_delete_leaf_then_it_is_gone(client, ids):
    response = client.delete(f"{U}/{ids[M121]}")
    assert response.status_code == 204 and response.data == b""
    assert_problem(client.get(f"{U}/{ids[M121]}"), 404)
    assert_problem(client.delete(f"{U}/{ids[M121]}"), 404)
    assert M121 not in codes(client.get(f"{U}/{ids[G12]}/children"))
    assert client.delete(f"{U}/{ids[G12]}").status_code == 204  # now a leaf itself


# --- list ---------------------------------------------------------------------------------------


def test_list_walks_every_unit_once_in_stable_order(client, ids):
    first = walk(client, U, limit=2)
    assert sorted(first) == sorted(ALL) and len(first) == len(ALL)
    assert first == sorted(first, key=ids.__getitem__)  # by id
    assert walk(client, U, limit=2) == first
    assert walk(client, U, limit=500) == first


def test_list_by_level(client, small_tree):
    assert codes(client.get(f"{U}?level=town")) == [T1, T2]
    assert walk(client, f"{U}?level=microgrid", limit=2) == [M111, M112, M121, M211, M311]


def test_list_by_parent_id(client, ids):
    # Regression: parent_id in the query string was refused as "Not a valid integer".
    assert codes(client.get(f"{U}?parent_id={ids[T1]}")) == [V1, V2]
    assert codes(client.get(f"{U}?parent_id={ids[T1]}&q=永安")) == [V1]


def test_list_q_matches_part_of_a_name(client, small_tree):
    assert codes(client.get(f"{U}?q=永安")) == [V1, G11, G12, M111, M112, M121]
    assert codes(client.get(f"{U}?q=网格&level=grid")) == [G11, G12, G21, G31]


def test_list_q_matches_the_start_of_a_code(client, small_tree):
    assert codes(client.get(f"{U}?q={T2}")) == [T2, V3, G31, M311]
    assert codes(client.get(f"{U}?q=00100")) == []  # the middle of a code is no match


def test_a_code_typed_in_full_width_digits_finds_its_unit(client, small_tree):
    """Before, ５１０５０３ found nothing (and by-code answered 404) where 510503 found the unit."""
    assert codes(client.get(U, query_string={"q": full_width(T2)})) == [T2, V3, G31, M311]
    assert by_code(client, f" {full_width(M311)}")["code"] == M311
    assert codes(client.get(U, query_string={"q": "永安社区第１网格"})) == [G11, M111, M112]


def test_q_finds_a_latin_name_in_either_case_on_every_database(client, ids):
    """Before, PostgreSQL's LIKE told case apart where SQLite's did not: "cbd" found 'CBD社区' on
    the demo (SQLite) and nothing in production."""
    for code, name in [("510503001998", "CBD社区"), ("510503001999", "cbd小区")]:
        made = client.post(U, json={"name": name, "level": "village", "parent_id": ids[T1], "code": code})
        assert made.status_code == 201
    assert codes(client.get(U, query_string={"q": "cbd"})) == ["510503001998", "510503001999"]
    assert codes(client.get(U, query_string={"q": "CbD社"})) == ["510503001998"]


@pytest.mark.parametrize("q", ["%", "_", "%永%"])
def test_list_q_wildcards_are_literal(client, small_tree, q):
    assert codes(client.get(U, query_string={"q": q})) == []


@pytest.mark.parametrize(
    "cursor", ["not-a-cursor", "!!!!", forged_cursor("0001."), forged_cursor(True), forged_cursor(1.5), forged_cursor([1])]
)
def test_list_bad_cursor_is_400(client, small_tree, cursor):
    assert_problem(client.get(U, query_string={"cursor": cursor}), 400)


@pytest.mark.parametrize("key", [10**30, 2**31, -5])
def test_list_cursor_with_out_of_range_id_is_400(client, small_tree, key):
    # Regression: 10**30 reached SQLite and raised OverflowError (a 500).
    assert_problem(client.get(U, query_string={"cursor": forged_cursor(key)}), 400)


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=two", "level=county", "q=%00", "parent_id=abc", "parent_id=99999999999"])
def test_list_bad_query_is_422(client, small_tree, query):
    assert_problem(client.get(f"{U}?{query}"), 422)


# --- children, descendants, ancestors -----------------------------------------------------------


def test_children_in_tree_order(client, ids):
    assert codes(client.get(f"{U}/{ids[D]}/children")) == [T1, T2]
    assert codes(client.get(f"{U}/{ids[V1]}/children")) == [G11, G12]
    assert codes(client.get(f"{U}/{ids[M111]}/children")) == []


def test_descendants_in_tree_order(client, ids):
    assert codes(client.get(f"{U}/{ids[T1]}/descendants")) == [*V1_SUBTREE, V2, G21, M211]
    assert codes(client.get(f"{U}/{ids[M111]}/descendants")) == []


def test_descendants_by_level_and_by_page(client, ids):
    assert codes(client.get(f"{U}/{ids[T1]}/descendants?level=grid")) == [G11, G12, G21]
    assert walk(client, f"{U}/{ids[D]}/descendants", limit=2) == codes(client.get(f"{U}/{ids[D]}/descendants"))
    assert walk(client, f"{U}/{ids[D]}/descendants?level=microgrid", limit=2) == [M111, M112, M121, M211, M311]


def test_a_descendants_walk_goes_on_where_it_was_after_the_unit_moves(client, ids):
    """A tree sync walks a village's units while district command moves the village to another
    town. Before, the cursor held the last unit's whole path: the next page was empty (the walk
    ended early, 'successfully') or started over. The order below the village is the same."""
    everything = codes(client.get(f"{U}/{ids[V1]}/descendants"))
    first = client.get(f"{U}/{ids[V1]}/descendants", query_string={"limit": 2}).get_json()
    assert move(client, ids[V1], ids[T2]).status_code == 200
    rest = every_page(client, f"{U}/{ids[V1]}/descendants", limit=2, cursor=first["next_cursor"])
    assert [unit["code"] for unit in first["items"] + rest] == everything


@pytest.mark.parametrize("cursor", ["not-a-cursor", forged_cursor(3)])
def test_descendants_bad_cursor_is_400(client, ids, cursor):
    assert_problem(client.get(f"{U}/{ids[D]}/descendants", query_string={"cursor": cursor}), 400)


def test_descendants_cursor_with_lone_surrogate_is_400(client, ids):
    # Regression: the surrogate reached the database driver (UnicodeEncodeError, a 500).
    assert_problem(client.get(f"{U}/{ids[D]}/descendants", query_string={"cursor": forged_cursor("\ud800")}), 400)


def test_ancestors_root_first(client, ids):
    assert codes(client.get(f"{U}/{ids[M121]}/ancestors")) == [D, T1, V1, G12]
    assert codes(client.get(f"{U}/{ids[D]}/ancestors")) == []


@pytest.mark.parametrize("suffix", ["children", "descendants", "ancestors", "export"])
def test_tree_reads_of_missing_unit_are_404(client, small_tree, suffix):
    assert_problem(client.get(f"{U}/2147483647/{suffix}"), 404)


# --- lowest common ancestor ---------------------------------------------------------------------


def lca(client, *unit_ids):
    return client.post(f"{U}/lca", json={"unit_ids": list(unit_ids)})


def test_lca_of_micro_grids_in_two_towns_is_the_district(client, ids):
    assert lca(client, ids[M111], ids[M311]).json["code"] == D


def test_lca_within_one_grid_and_one_town(client, ids):
    assert lca(client, ids[M111], ids[M112]).json["code"] == G11
    assert lca(client, ids[M111], ids[M121], ids[M211]).json["code"] == T1
    assert lca(client, ids[M111], ids[G11]).json["code"] == G11
    assert lca(client, ids[V3]).json["code"] == V3


def test_lca_with_unknown_id_is_404(client, ids):
    assert_problem(lca(client, ids[M111], 2**31 - 1), 404)


def test_lca_across_districts_is_422(client, ids):
    other = create(client, name="江阳区", level="district", code="510502").json
    problem = assert_problem(lca(client, ids[M111], other["id"]), 422)
    assert problem["errors"] == {"unit_ids": ["units of more than one district"]}


@pytest.mark.parametrize("body", [{}, {"unit_ids": []}, {"unit_ids": ["1"]}, {"unit_ids": [0]}, {"unit_ids": 5}])
def test_lca_bad_body_is_422(client, small_tree, body):
    assert_problem(client.post(f"{U}/lca", json=body), 422)


# --- move ---------------------------------------------------------------------------------------


def test_move_village_with_its_subtree_to_the_other_town(client, ids):
    before = {code: by_code(client, code) for code in V1_SUBTREE}
    response = move(client, ids[V1], ids[T2])
    assert response.status_code == 200, response.json
    village = response.json
    assert village["parent_id"] == ids[T2]
    assert village["path"].startswith(by_code(client, T2)["path"])
    assert village["version"] == before[V1]["version"] + 1

    for code in V1_SUBTREE:
        unit = by_code(client, code)
        assert unit["id"] == before[code]["id"] and unit["code"] == code
        assert unit["path"].startswith(village["path"])
        assert unit["depth"] == before[code]["depth"]
        if code != V1:
            assert unit["parent_id"] == before[code]["parent_id"]

    assert codes(client.get(f"{U}/{ids[T2]}/children")) == [V3, V1]  # appended in tree order
    assert set(V1_SUBTREE) <= set(codes(client.get(f"{U}/{ids[T2]}/descendants")))
    assert codes(client.get(f"{U}/{ids[T1]}/descendants")) == [V2, G21, M211]
    assert codes(client.get(f"{U}/{ids[M111]}/ancestors")) == [D, T2, V1, G11]
    assert lca(client, ids[M111], ids[M311]).json["code"] == T2


def test_move_then_create_under_moved_grid_keeps_codes_and_paths_consistent(client, ids):
    assert move(client, ids[V1], ids[T2]).status_code == 200
    micro = create(client, name="新微网格", level="microgrid", parent_id=ids[G11]).json
    assert micro["code"] == M111[:-3] + "003"
    assert micro["path"].startswith(by_code(client, G11)["path"])
    assert codes(client.get(f"{U}/{ids[T2]}/descendants?level=microgrid")) == [M311, M111, M112, micro["code"], M121]


def test_move_town_to_another_district_changes_district_of_the_subtree(client, ids):
    other = create(client, name="江阳区", level="district", code="510502").json
    assert move(client, ids[T2], other["id"]).status_code == 200
    for code in (T2, V3, G31, M311):
        assert by_code(client, code)["district_id"] == other["id"]
    assert by_code(client, T1)["district_id"] == ids[D]
    assert codes(client.get(f"{U}/{other['id']}/descendants")) == [T2, V3, G31, M311]
    assert_problem(lca(client, ids[M111], ids[M311]), 422)


@pytest.mark.parametrize("target", [V1, G11, M111])
def test_move_under_itself_or_its_descendant_is_refused(client, ids, target):
    before = by_code(client, V1)
    assert_problem(move(client, ids[V1], ids[target]), 422)
    assert by_code(client, V1) == before


@pytest.mark.parametrize("target, expected", [(D, "town"), (V2, "town"), (G21, "town")])
def test_move_to_parent_of_wrong_level_names_the_expected_level(client, ids, target, expected):
    problem = assert_problem(move(client, ids[V1], ids[target]), 422)
    assert problem["expected_parent_level"] == expected
    assert any(expected in message for message in problem["errors"]["parent_id"])
    assert by_code(client, V1)["parent_id"] == ids[T1]


def test_move_to_current_parent_changes_nothing(client, ids):
    before = by_code(client, V1)
    assert move(client, ids[V1], ids[T1]).json == before


@pytest.mark.parametrize("parent_id, status", [(2**31 - 1, 404), (99999999999, 422), ("5", 422), (None, 422), (True, 422)])
def test_move_bad_target(client, ids, parent_id, status):
    assert_problem(move(client, ids[V1], parent_id), status)


def test_move_missing_unit_is_404(client, ids):
    assert_problem(move(client, 2**31 - 1, ids[T2]), 404)


# --- export -------------------------------------------------------------------------------------

HEADER = ["code", "name", "level", "parent_code", "households", "population", "latitude", "longitude", "active"]


def test_export_csv(client, ids):
    response = client.get(f"{U}/{ids[T1]}/export?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.data
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == HEADER
    # Codes after a tab: Excel and WPS keep the digits as text (as a number, an 18-digit code
    # showed as 5.10503E+17 and kept 15 digits: a grid's micro-grids all read alike).
    assert all(row[0].startswith("\t") and row[3].startswith("\t") for row in rows[1:])
    rows = [[cell.strip() for cell in row] for row in rows]
    assert [row[0] for row in rows[1:]] == [T1, *V1_SUBTREE, V2, G21, M211]
    first = dict(zip(HEADER, rows[1]))
    assert (first["name"], first["level"], first["parent_code"]) == ("安富街道", "town", D)
    seen = {D}
    for row in rows[1:]:
        assert row[3] in seen  # parents before children
        seen.add(row[0])


def test_export_csv_is_the_default_and_a_district_names_its_city(client, ids):
    response = client.get(f"{U}/{ids[D]}/export")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert [row["code"] for row in rows][:2] == ["\t" + D, "\t" + T1] and len(rows) == len(ALL)
    assert rows[0]["parent_code"] == "\t510500"


def test_export_json(client, ids):
    response = client.get(f"{U}/{ids[V1]}/export?format=json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    rows = response.get_json()
    assert [row["code"] for row in rows] == V1_SUBTREE
    assert rows[0] == {
        "code": V1, "name": "永安社区", "level": "village", "parent_code": T1,
        "households": 1200, "population": 3000, "latitude": 28.801, "longitude": 105.361, "active": True,
    }


@pytest.mark.parametrize("fmt", ["xml", "CSV"])
def test_export_bad_format_is_422(client, ids, fmt):
    assert_problem(client.get(f"{U}/{ids[D]}/export", query_string={"format": fmt}), 422)


def test_export_with_an_empty_format_gives_the_default_csv(client, ids):
    response = client.get(f"{U}/{ids[D]}/export", query_string={"format": ""})
    assert response.status_code == 200 and response.mimetype == "text/csv"


# --- bad input never gives a 500 ----------------------------------------------------------------

JSON = "application/json"
VALID = '{"name": "%s", "level": "district", "code": "510502"}'
BAD_BODIES = {
    "non-utf8": (b'{"name": "\xff\xfe", "level": "district", "code": "510502"}', JSON, 400),
    "deep-open": (b"[" * 100_000, JSON, 400),
    "deep-balanced": (b"[" * 100_000 + b"]" * 100_000, JSON, 400),
    "deep-in-field": (('{"name": ' + "[" * 40 + "]" * 40 + "}").encode(), JSON, 400),
    "truncated": (b'{"name": "x", "level": ', JSON, 400),
    "number-of-4301-digits": (b'{"name": "x", "level": "district", "code": "510502", "households": ' + b"9" * 4301 + b"}",
                              JSON, 400),
    "parent-id-string": (b'{"name": "x", "level": "town", "code": "510503009", "parent_id": "1"}', JSON, 422),
    "households-bool": (b'{"name": "x", "level": "district", "code": "510502", "households": true}', JSON, 422),
    "households-float": (b'{"name": "x", "level": "district", "code": "510502", "households": 1.5}', JSON, 422),
    "latitude-nan": (b'{"name": "x", "level": "district", "code": "510502", "latitude": NaN}', JSON, 422),
    "name-number": (b'{"name": 5, "level": "district", "code": "510502"}', JSON, 422),
    "code-number": (b'{"name": "x", "level": "district", "code": 510502}', JSON, 422),
    "name-null": (b'{"name": null, "level": "district", "code": "510502"}', JSON, 422),
    "level-null": (b'{"name": "x", "level": null, "code": "510502"}', JSON, 422),
    "name-nul": ((VALID % "a\\u0000b").encode(), JSON, 422),
    "name-with-line-break": ((VALID % "永安\\n社区").encode(), JSON, 422),
    "name-with-tab": ((VALID % "永安\\t社区").encode(), JSON, 422),
    "name-with-nel": ((VALID % "永安\\u0085社区").encode(), JSON, 422),
    "name-with-line-separator": ((VALID % "永安\\u2028社区").encode(), JSON, 422),
    # looks blank, or like another name yet is not found as it; or shows backwards on the QR page
    "name-zero-width-space": ((VALID % "\\u200b").encode(), JSON, 422),
    "name-inner-zero-width-space": ((VALID % "零宽\\u200b村").encode(), JSON, 422),
    "name-leading-bom": ((VALID % "\\ufeff带BOM村").encode(), JSON, 422),
    "name-right-to-left-override": ((VALID % "反向\\u202e村").encode(), JSON, 422),
    "code-with-final-line-break": (b'{"name": "x", "level": "district", "code": "510502\\n"}', JSON, 422),
    "city-code-with-final-line-break": (b'{"name": "x", "level": "district", "code": "510502", "city_code": "510500\\n"}',
                                        JSON, 422),
    "name-surrogate": ((VALID % "a\\ud800b").encode(), JSON, 422),
    "code-surrogate": (b'{"name": "x", "level": "district", "code": "51050\\ud800"}', JSON, 422),
    "array-body": (b"[]", JSON, 422),
    "string-body": (b'"hello"', JSON, 422),
    "empty-json": (b"", JSON, 422),
    "empty-form": (b"", "application/x-www-form-urlencoded", 422),
    "text-plain": ((VALID % "x").encode(), "text/plain", 415),
    "form": (b"name=x&level=district&code=510502", "application/x-www-form-urlencoded", 415),
}


@pytest.mark.parametrize("data, content_type, status", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_create_bad_body_is_a_problem_not_a_500(client, small_tree, data, content_type, status):
    assert_problem(client.post(U, data=data, content_type=content_type), status)
    assert client.get(f"{U}/by-code/510502").status_code == 404


JSON_BODIES = {key: value for key, value in BAD_BODIES.items() if value[0] and value[1] == JSON}


@pytest.mark.parametrize("data, content_type, status", JSON_BODIES.values(), ids=JSON_BODIES.keys())
def test_patch_bad_body_is_a_problem_not_a_500(client, ids, data, content_type, status):
    assert_problem(client.patch(f"{U}/{ids[V1]}", data=data, content_type=content_type), status)
    assert by_code(client, V1)["name"] == "永安社区"


def test_patch_with_an_empty_body_changes_nothing(client, ids):
    before = by_code(client, V1)
    response = client.patch(f"{U}/{ids[V1]}", data=b"", content_type=JSON)
    assert response.status_code == 200
    assert by_code(client, V1) == before


def test_patch_with_a_text_body_is_refused_as_the_wrong_media_type(client, ids):
    before = by_code(client, V1)
    response = client.patch(f"{U}/{ids[V1]}", data=(VALID % "x").encode(), content_type="text/plain")
    assert_problem(response, 415)
    assert by_code(client, V1) == before


@pytest.mark.parametrize("endpoint", ["lca", "move"])
@pytest.mark.parametrize(
    "data, content_type, status",
    [
        (b'{"unit_ids": [\xff], "parent_id": \xff}', JSON, 400),
        (b"[" * 100_000, JSON, 400),
        (b'{"unit_ids": [true], "parent_id": true}', JSON, 422),
        (b'{"unit_ids": null, "parent_id": null}', JSON, 422),
        (b"", JSON, 422),
        (b'{"unit_ids": [1], "parent_id": 1}', "text/plain", 415),
    ],
)
def test_lca_and_move_bad_body_is_a_problem_not_a_500(client, ids, endpoint, data, content_type, status):
    url = f"{U}/lca" if endpoint == "lca" else f"{U}/{ids[V1]}/move"
    assert_problem(client.post(url, data=data, content_type=content_type), status)


def test_unknown_field_named_with_lone_surrogate_is_422(client, small_tree):
    # Regression: the name is echoed as a key of `errors`, which could not be encoded (a 500).
    body = b'{"name": "x", "level": "district", "code": "510502", "\\ud800": 1}'
    problem = assert_problem(client.post(U, data=body, content_type=JSON), 422)
    assert "\ud800" in problem["errors"]


def test_method_not_allowed_is_a_problem(client, ids):
    assert_problem(client.put(f"{U}/{ids[V1]}", json={"name": "x"}), 405)


@pytest.mark.parametrize("code", ["%00", "51%0050", "abc"])
def test_a_code_that_is_not_digits_names_no_unit(client, small_tree, code):
    assert_problem(client.get(f"{U}/by-code/{code}"), 404)


def test_empty_query_parameters_mean_any(client, ids):
    """A form or a URL template sends ``?level=&parent_id=&q=`` for "any"; that was a 422."""
    everything = client.get(f"{U}", query_string={"limit": 500}).get_json()["items"]
    blank = client.get(f"{U}?level=&parent_id=&q=&cursor=&limit=500")
    assert blank.status_code == 200, blank.get_data(as_text=True)
    assert blank.get_json()["items"] == everything
    below = client.get(f"{U}/{ids[V1]}/descendants?level=&limit=&cursor=")
    assert below.status_code == 200, below.get_data(as_text=True)
    assert below.get_json()["items"] == client.get(f"{U}/{ids[V1]}/descendants").get_json()["items"]
    assert_problem(client.get(f"{U}?level=county"), 422)  # a value that is there is still checked


def test_a_bare_flag_is_refused_not_read_as_any(client, make_principal):
    """``?overdue`` alone may mean "yes": refused rather than read as "any". ``?active=`` is a
    form's blank choice, and means any, as every other empty parameter does."""
    _id, token = make_principal("district_command")
    headers = {"Authorization": f"Bearer {token}"}
    assert_problem(client.get("/api/v1/reports?overdue", headers=headers), 422)
    assert_problem(client.get("/api/v1/workers?limit=5&active", headers=headers), 422)
    assert client.get("/api/v1/reports?overdue=true", headers=headers).status_code == 200
    for blank in ("active=", "active=&role=", "role=&active="):
        response = client.get(f"/api/v1/principals?{blank}")  # the admin's
        assert response.status_code == 200, (blank, response.get_data(as_text=True))
    assert client.get("/api/v1/workers?active=", headers=headers).status_code == 200


@pytest.mark.parametrize("request_", [
    ("GET", "/api/v1/units/１", None, 404),  # a full-width digit in the path
    ("GET", "/api/v1/units?limit=１", None, 422),
    ("GET", "/api/v1/units?limit=1_0", None, 422),
    ("GET", "/api/v1/units?parent_id=1_0", None, 422),
    ("POST", "/api/v1/units", {"name": "新社区", "level": "district", "code": "510599", "latitude": "1_0"}, 422),
    ("POST", "/api/v1/units", {"name": "新社区", "level": "district", "code": "510599", "longitude": "１０５"}, 422),
])
def test_numbers_are_written_in_plain_digits_everywhere(client, request_):
    """Python reads "1_0" as 10 and "１" as 1; the unit import refused them, the API took them."""
    method, url, body, status = request_
    response = client.open(url, method=method, json=body)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"


def test_a_parameter_that_takes_one_value_given_twice_is_refused(client, ids):
    """Before, ?level=town&level=village answered the towns, and the villages went unseen."""
    problem = assert_problem(client.get(f"{U}?level=town&level=village"), 422)
    assert "level" in problem["errors"]
    assert client.get(f"{U}?level=town").status_code == 200


def test_a_cache_buster_is_ignored_however_often_it_is_given(client, ids):
    """A cache-buster (?_=1&_=2) is nothing the service reads."""
    assert client.get(f"{U}?limit=1&_=1&_=2").status_code == 200


@pytest.mark.parametrize(("role", "path"), [
    ("admin", f"{U}?levle=grid"), ("admin", "/api/v1/principals?scope_unit_id=1"),
    ("district_command", "/api/v1/cases?stauts=closed"), ("district_command", "/api/v1/cases?origin_unit=16"),
])
def test_a_parameter_a_list_does_not_take_is_refused_not_ignored(app, make_principal, ids, role, path):
    """Before, a misspelt filter answered the unfiltered list, which looks like an answer."""
    response = bearer_client(app, make_principal(role)[1]).get(path)

    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    name = path.split("?")[1].split("=")[0]
    assert response.get_json()["errors"] == {name: ["Unknown parameter."]}


@pytest.mark.parametrize("path", ["{U}/{id}/children?level=grid", "{U}/{id}?fields=name", "/api/v1/me?verbose=1"])
def test_an_operation_that_takes_no_parameters_refuses_them(client, ids, path):
    """Before, ``/children?level=grid`` answered every child, as if filtered; now, as in the lists
    (above), a parameter the operation does not take is refused, and a cache-buster is not."""
    url = path.format(U=U, id=ids[D])
    response = client.get(url)

    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    name = url.split("?")[1].split("=")[0]
    assert response.get_json()["errors"] == {name: ["Unknown parameter."]}
    # The same problem as a list's for a parameter it does not take (before: rule-violation).
    assert response.get_json()["type"] == client.get(f"{U}?levle=grid").get_json()["type"]
    assert client.get(url.split("?")[0] + "?_=1700000000").status_code == 200


@pytest.mark.parametrize("latitude", ["1e-5", ".5", "-0.5", " 28.5 ", "28.770000000000003"])
def test_numbers_as_text_in_the_usual_notations_are_read(client, ids, latitude):
    response = client.post(U, json={"name": "新区", "level": "district", "code": "510598", "latitude": latitude})
    assert response.status_code == 201, response.get_data(as_text=True)


def test_listing_by_parent_gives_its_children_and_a_parent_not_there_is_404(client, ids):
    """Before, an unknown parent_id answered an empty list (a typo looked like "no children"),
    where every other filter by unit answers 404."""
    listed = client.get(U, query_string={"parent_id": ids[V1]})
    assert listed.status_code == 200
    assert {unit["code"] for unit in listed.get_json()["items"]} == {"510503001001001", "510503001001002"}
    assert_problem(client.get(U, query_string={"parent_id": 2**31 - 1}), 404)


def test_nothing_new_goes_under_a_retired_unit(client, ids):
    """A retired unit's matters go to the unit above it; before, units could still be created,
    moved or imported under it, and lay in a place no one works."""
    grid = client.get(f"{U}/{ids[G12]}").json
    assert client.patch(f"{U}/{ids[G12]}", json={"active": False, "version": grid["version"]}).status_code == 200

    refused = create(client, name="新微网格", level="microgrid", parent_id=ids[G12])
    assert refused.status_code == 422 and "parent_id" in refused.json["errors"]
    refused = move(client, ids[M111], ids[G12])
    assert refused.status_code == 422 and "no longer in use" in refused.json["detail"]
    assert client.get(f"{U}/{ids[M111]}").json["parent_id"] == ids[G11]
    imported = client.post(f"{U}/import", content_type="text/csv",
                           data=f"code,name,level,parent_code\n{M112},2号微网格,microgrid,{G12}\n".encode())
    assert imported.status_code == 422 and "no longer in use" in imported.json["errors"]["line 2"][0]
    assert client.get(f"{U}/{ids[M112]}").json["parent_id"] == ids[G11]
    # What lies under it already stays, and what is named there unchanged imports as before.
    unchanged = client.post(f"{U}/import", content_type="text/csv",
                            data=f"code,name,level,parent_code\n{M121},{client.get(f'{U}/{ids[M121]}').json['name']},"
                                 f"microgrid,{G12}\n".encode())
    assert unchanged.status_code == 200, unchanged.json
