"""POST /api/v1/units/import: a CSV table of units, upserted all or nothing, errors by line."""

import csv
import io

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gridgov.db import db
from gridgov.tree import transfer
from gridgov.tree.models import Unit
from tests.conftest import SMALL_TREE_CSV, fresh_app, full_width

URL = "/api/v1/units/import"
HEADER = "code,name,level,parent_code,households,population,latitude,longitude\n"


def post_csv(client, body, content_type="text/csv"):
    if isinstance(body, str):
        body = body.encode()
    return client.post(URL, data=body, content_type=content_type)


def get_unit(client, code):
    response = client.get(f"/api/v1/units/by-code/{code}")
    assert response.status_code == 200, response.json
    return response.json


def snapshot(session):
    """Every unit as the database holds it now (read afresh, not from the identity map)."""
    columns = (Unit.code, Unit.id, Unit.name, Unit.parent_id, Unit.path, Unit.households, Unit.version)
    return {row.code: tuple(row) for row in session.execute(sa.select(*columns))}


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == status


# --- creating ------------------------------------------------------------------------------------


def test_creates_a_tree_from_rows_given_children_first(client):
    response = post_csv(
        client,
        HEADER
        + "510504001001001001,一号微网格,microgrid,510504001001001,60,150,,\n"
        + "510504001001001,第1网格,grid,510504001001,600,1500,,\n"
        + "510504001001,南城社区,village,510504001,1200,3000,,\n"
        + "510504001,南城街道,town,510504,,,,\n"
        + "510504,江阳区,district,510500,,,28.88,105.44\n",
    )

    assert response.status_code == 200, response.json
    assert response.json == {"created": 5, "updated": 0, "moved": 0, "unchanged": 0}
    district = get_unit(client, "510504")
    chain = [get_unit(client, code) for code in ("510504", "510504001", "510504001001", "510504001001001", "510504001001001001")]
    for parent, child in zip(chain, chain[1:]):
        assert child["parent_id"] == parent["id"]
        assert child["path"].startswith(parent["path"]) and child["path"] != parent["path"]
        assert child["district_id"] == district["id"]
    assert chain[-1]["households"] == 60


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["plain", "with-BOM"])
def test_reads_utf8_with_or_without_byte_order_mark(client, bom):
    response = post_csv(client, bom + "code,name,level,parent_code\n510504,江阳区,district,\n".encode())

    assert response.status_code == 200, response.json
    assert get_unit(client, "510504")["name"] == "江阳区"


def test_a_district_records_its_city_which_need_not_exist(client):
    response = post_csv(client, "code,name,level,parent_code\n510504,江阳区,district,510500\n")

    assert response.status_code == 200, response.json
    assert get_unit(client, "510504")["city_code"] == "510500"
    assert client.get("/api/v1/units/by-code/510500").status_code == 404


def test_header_columns_in_any_order_and_case_and_blank_lines_still_count():
    rows = transfer.parse_csv("Name,CODE,Level,Parent_Code\n\n江阳区,510504,District,\n".encode()).rows

    assert [(row.line, row.code, row.name, row.level.value) for row in rows] == [(3, "510504", "江阳区", "district")]


# --- upserting -----------------------------------------------------------------------------------


def test_importing_the_same_file_again_changes_nothing(client, session, small_tree):
    before = snapshot(session)

    response = post_csv(client, SMALL_TREE_CSV)

    assert response.status_code == 200, response.json
    assert response.json == {"created": 0, "updated": 0, "moved": 0, "unchanged": 15}
    assert snapshot(session) == before


def test_an_existing_code_updates_name_and_households(client, session, small_tree):
    before = get_unit(client, "510503001001")

    response = post_csv(
        client,
        HEADER
        + "510503001001,永安新社区,village,510503001,1300,3100,28.801,105.361\n"
        + "510503001003,新建社区,village,510503001,100,250,,\n",
    )

    assert response.json == {"created": 1, "updated": 1, "moved": 0, "unchanged": 0}
    after = get_unit(client, "510503001001")
    assert (after["name"], after["households"], after["population"]) == ("永安新社区", 1300, 3100)
    assert (after["id"], after["path"]) == (before["id"], before["path"])
    assert after["version"] == before["version"] + 1
    assert get_unit(client, "510503001003")["parent_id"] == small_tree["510503001"].id
    # one entry in the admin log for the whole import, with its counts (not one per unit)
    newest = client.get("/api/v1/audit", query_string={"limit": 1}).json["items"][0]
    assert (newest["action"], newest["details"]) == ("unit.import", response.json)
    log = client.get("/api/v1/audit", query_string={"limit": 500}).json["items"]
    assert not [event for event in log if event["action"] == "unit.update"]


def test_codes_typed_in_full_width_digits_are_read_as_digits(client, small_tree):
    """A clerk typing into a spreadsheet with a Chinese input method in full-width mode: before,
    "５１０５０３００１９２４" was refused as "a village code is 12 digits", though it has 12."""
    row = f"{full_width('510503001924')},新建社区,village,{full_width('510503001')}\n"
    response = post_csv(client, "code,name,level,parent_code\n" + row)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert get_unit(client, "510503001924")["parent_id"] == small_tree["510503001"].id


def test_a_changed_parent_code_moves_the_unit_with_its_descendants(client, small_tree):
    # 新民社区 moves from 安富街道 to 大渡口镇; its grid and micro-grid come along.
    response = post_csv(client, HEADER + "510503001002,新民社区,village,510503100,900,2500,28.802,105.362\n")

    assert response.json == {"created": 0, "updated": 0, "moved": 1, "unchanged": 0}
    town = get_unit(client, "510503100")
    village = get_unit(client, "510503001002")
    assert village["parent_id"] == town["id"]
    assert village["code"] == "510503001002" and village["path"].startswith(town["path"])
    for code in ("510503001002001", "510503001002001001"):
        assert get_unit(client, code)["path"].startswith(village["path"])
    children = client.get(f"/api/v1/units/{small_tree['510503001'].id}/children").json["items"]
    assert [child["code"] for child in children] == ["510503001001"]


# --- refusing ------------------------------------------------------------------------------------

# Lines 2-4 are good (a rename, a move and a new unit); line 5 is replaced by each bad line below.
GOOD_LINES = (
    HEADER
    + "510503001001,改名社区,village,510503001,1,2,,\n"
    + "510503001002,新民社区,village,510503100,900,2500,,\n"
    + "510503001003,新建社区,village,510503001,,,,\n"
)
BAD_LINES = {
    "unknown level": ("510503001004,某社区,hamlet,510503001,,,,", "level 'hamlet' is not one of"),
    "wrong code length": ("51050300100,某社区,village,510503001,,,,", "a village code is 12 digits"),
    "missing parent": ("510503009001,某社区,village,510503009,,,,", "neither in the file nor in the database"),
    "parent of wrong level": ("510503001004,某社区,village,510503,,,,", "the parent of a village must be a town"),
    "duplicate code": ("510503001003,又一社区,village,510503001,,,,", "appears already on line 4"),
    "bad number": ("510503001004,某社区,village,510503001,many,,,", "households 'many' is not a number"),
    "negative number": ("510503001004,某社区,village,510503001,-5,,,", "households '-5' is not a number"),
    "wrong field count": ("510503001004,某社区,village,510503001", "4 fields where the header has 8"),
    "digits with underscores": ("510503001004,某社区,village,510503001,1_000,,,", "households '1_000' is not a number"),
    "full-width digits": ("510503001004,某社区,village,510503001,１０,,,", "households '１０' is not a number"),
    "latitude with underscores": ("510503001004,某社区,village,510503001,,,2_8.5,", "latitude '2_8.5' is not a number"),
    "name with DEL": ("510503001004,某\x7f社区,village,510503001,,,,", "printable characters"),
    "name across lines": ('510503001004,"某\n社区",village,510503001,,,,', "on one line"),
    "name with NEL": ("510503001004,某\x85社区,village,510503001,,,,", "printable characters"),
    "name with a line separator": ("510503001004,某\u2028社区,village,510503001,,,,", "on one line"),
}


@pytest.mark.parametrize("bad_line, message", BAD_LINES.values(), ids=BAD_LINES.keys())
def test_one_bad_line_refuses_the_whole_file(client, session, small_tree, bad_line, message):
    before = snapshot(session)

    response = post_csv(client, GOOD_LINES + bad_line + "\n")

    assert_problem(response, 422)
    assert list(response.json["errors"]) == ["line 5"]
    assert any(message in text for text in response.json["errors"]["line 5"]), response.json
    assert snapshot(session) == before


def test_every_bad_line_is_named(client, session, small_tree):
    before = snapshot(session)
    body = (
        GOOD_LINES
        + BAD_LINES["unknown level"][0] + "\n"  # line 5
        + "510503001010,好社区,village,510503001,,,,\n"
        + BAD_LINES["wrong field count"][0] + "\n"  # line 7
        + BAD_LINES["bad number"][0] + "\n"  # line 8
    )

    response = post_csv(client, body)

    assert_problem(response, 422)
    assert set(response.json["errors"]) == {"line 5", "line 7", "line 8"}
    assert snapshot(session) == before


def test_a_bad_line_does_not_blame_its_children_or_hide_a_repeated_code(client, small_tree):
    """Before, a unit with a bad number was dropped before the tree's checks: its micro-grid
    heard that its parent was "neither in the file nor in the database", and a second copy of
    its code went unremarked until the next attempt."""
    body = (GOOD_LINES
            + "510503001001094,新网格,grid,510503001001,-5,,,\n"  # line 5: households
            + "510503001001094001,新微网格,microgrid,510503001001094,,,,\n"  # line 6: its child
            + "510503001001094,新网格（重复）,grid,510503001001,,,,\n")  # line 7: the same code
    response = post_csv(client, body)
    assert_problem(response, 422)
    assert list(response.json["errors"]) == ["line 5", "line 7"]
    assert "households" in response.json["errors"]["line 5"][0]
    assert "appears already on line 5" in response.json["errors"]["line 7"][0]


def test_bad_lines_of_both_kinds_are_named_together(client, small_tree):
    body = GOOD_LINES + BAD_LINES["unknown level"][0] + "\n" + BAD_LINES["missing parent"][0] + "\n"

    response = post_csv(client, body)

    assert_problem(response, 422)
    assert set(response.json["errors"]) == {"line 5", "line 6"}


def test_bad_lines_are_listed_in_the_files_order(client, small_tree):
    """The tree's problems (found after parsing) were listed after the parser's, whatever their lines."""
    body = (GOOD_LINES + BAD_LINES["missing parent"][0] + "\n" + BAD_LINES["unknown level"][0] + "\n"
            + BAD_LINES["missing parent"][0].replace("510503009001", "510503009002") + "\n")
    response = post_csv(client, body)
    assert_problem(response, 422)
    assert list(response.json["errors"]) == ["line 5", "line 6", "line 7"]


def test_a_record_spanning_lines_is_named_by_its_first_line(client, small_tree):
    body = GOOD_LINES + '510503001004,"某\n社区",hamlet,510503001,,,,\n'
    response = post_csv(client, body)
    assert_problem(response, 422)
    assert list(response.json["errors"]) == ["line 5"]


def test_a_nul_character_is_refused_naming_its_line(client, small_tree):
    response = post_csv(client, GOOD_LINES + "510503001004,某\x00社区,village,510503001,,,,\n")
    assert_problem(response, 400)
    assert response.json["errors"] == {"line 5": ["a NUL character"]}


def test_a_file_that_is_not_utf8_is_refused_naming_the_line(client, session):
    before = snapshot(session)
    body = b"code,name,level,parent_code\n510504,x,district,\n510504001," + "南城街道".encode("gbk") + b",town,510504\n"

    response = post_csv(client, body)

    assert_problem(response, 400)
    assert response.json["errors"] == {"line 3": ["not valid UTF-8"]}
    assert snapshot(session) == before


def test_a_file_excel_saved_in_gbk_is_read_when_it_says_so_and_refused_with_a_hint_when_not(client, session):
    """Excel on Chinese Windows saves "CSV (逗号分隔)" in GBK. Before, the answer said only that the
    file was not UTF-8, and a declared charset=gbk was not read."""
    body = "code,name,level,parent_code\n510504,江阳区,district,510500\n510504001,南城街道,town,510504\n".encode("gbk")
    before = snapshot(session)

    refused = post_csv(client, body)
    assert_problem(refused, 400)
    assert "CSV UTF-8" in refused.json["detail"] and "charset=gbk" in refused.json["detail"]
    assert snapshot(session) == before
    assert_problem(post_csv(client, body, content_type="text/csv; charset=koi8-r"), 415)
    assert snapshot(session) == before

    response = post_csv(client, body, content_type="text/csv; charset=GBK")
    assert response.status_code == 200, response.json
    assert get_unit(client, "510504001")["name"] == "南城街道"


def test_an_export_saved_as_gbk_does_not_rename_rare_characters_to_question_marks(client, session):
    """Excel saving "CSV (逗号分隔)" writes "?" for every character GBK has not (𠮷, 䶮). Before, such
    an edited export imported with charset=gbk renamed the units "?野家村" and said only how many
    were updated."""
    district = {"code": "510504", "name": "江阳区", "level": "district", "city_code": "510500"}
    assert client.post("/api/v1/units", json=district).status_code == 201
    parent_id = get_unit(client, "510504")["id"]
    assert client.post("/api/v1/units", json={"code": "510504001", "name": "𠮷野家街道", "level": "town",
                                              "parent_id": parent_id}).status_code == 201
    body = "code,name,level,parent_code\n510504,江阳区,district,510500\n510504001,𠮷野家街道,town,510504\n"
    before = snapshot(session)

    refused = post_csv(client, body.encode("gbk", errors="replace"), content_type="text/csv; charset=gbk")
    assert_problem(refused, 422)
    assert "CSV UTF-8" in str(refused.json["errors"]["line 3"])
    assert snapshot(session) == before
    renamed = body.replace("𠮷野家街道", "吉野家街道").encode("gbk")  # a real rename in GBK still goes through
    assert post_csv(client, renamed, content_type="text/csv; charset=gbk").json["updated"] == 1


@pytest.mark.parametrize("body", [
    "code,name,level,parent_code\n510505,江阳城区,district,510500\n".encode(),  # UTF-8 that GB18030 would "read"
    "\ufeffcode,name,level,parent_code\n510505,江阳城区,district,510500\n".encode(),  # Excel's "CSV UTF-8"
    "\ufeffcode,name,level,parent_code\n510505,江阳城区,district,510500\n".encode("gb18030"),  # a GB18030 BOM
], ids=["utf-8", "utf-8 with a bom", "gb18030 with a bom"])
def test_a_file_said_to_be_gbk_is_read_as_what_it_is(client, body):
    """Before, UTF-8 sent as charset=gbk was stored as 姹熼槼鍩庡尯, and a byte-order mark stayed
    on the first column's name (missing ['code'])."""
    response = post_csv(client, body, content_type="text/csv; charset=cp936")
    assert response.status_code == 200, response.json
    assert get_unit(client, "510505")["name"] == "江阳城区"


def test_empty_columns_a_spreadsheet_adds_at_the_end_are_ignored(client):
    """Before, "code,name,level,parent_code,," (a column that was only formatted) refused the file."""
    body = "code,name,level,parent_code,,\r\n510504,江阳区,district,510500,,\r\n510504001,南城街道,town,510504,\r\n"
    assert post_csv(client, body).status_code == 200
    assert get_unit(client, "510504001")["name"] == "南城街道"
    refused = post_csv(client, "code,name,level,parent_code,,\n510505,龙马潭区,district,510500,,oops\n")
    assert_problem(refused, 422)
    assert refused.json["errors"] == {"line 2": ["6 fields where the header has 4"]}


def test_a_quote_never_closed_is_named_where_it_opens(client):
    """Before, the answer said only "2 fields where the header has 4": the open quote took the rest
    of the file into one field."""
    body = 'code,name,level,parent_code\n510504,"江阳区,district,510500\n510504001,南城街道,town,510504\n'
    refused = post_csv(client, body)
    assert_problem(refused, 422)
    assert refused.json["errors"] == {
        "line 2": ["2 fields where the header has 4; a quote opened on this line seems not to be closed"]}
    # A name on two lines, its quote closed, on a short line: only the count is wrong.
    refused = post_csv(client, 'code,name,level,parent_code\n510504,"江阳\n区",district\n')
    assert refused.json["errors"] == {"line 2": ["3 fields where the header has 4"]}


def test_a_bad_byte_at_the_start_of_a_line_is_blamed_on_that_line_with_a_bom_too():
    body = b"\xef\xbb\xbfname,code,level,parent_code\n" + "南城街道".encode("gbk") + b",510504,district,\n"

    with pytest.raises(transfer.InvalidInput) as raised:
        transfer.parse_csv(body)

    assert raised.value.errors == {"line 2": ["not valid UTF-8"]}


@pytest.mark.parametrize(
    "body",
    [b"", HEADER, "code,name,level\n510504,江阳区,district\n", "code,name,level,parent_code,colour\n510504,江阳区,district,,red\n"],
    ids=["empty", "header only", "missing column", "unknown column"],
)
def test_a_file_without_a_proper_header_and_units_is_refused(client, session, body):
    before = snapshot(session)

    response = post_csv(client, body)

    assert_problem(response, 400)
    assert snapshot(session) == before


def test_wrong_header_names_line_1(client):
    response = post_csv(client, "code,name,level\n510504,江阳区,district\n")

    assert response.json["errors"] == {"line 1": ["missing ['parent_code']"]}


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "multipart/form-data"])
def test_a_body_that_is_not_text_csv_is_refused(client, session, content_type):
    response = post_csv(client, "code,name,level,parent_code\n510504,江阳区,district,\n", content_type)

    assert_problem(response, 415)
    assert client.get("/api/v1/units/by-code/510504").status_code == 404


# --- round trip ----------------------------------------------------------------------------------


def test_an_exported_subtree_imports_back_unchanged(client, session, small_tree):
    before = snapshot(session)
    exported = client.get(f"/api/v1/units/{small_tree['510503001'].id}/export")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert exported.data.startswith(b"\xef\xbb\xbf")

    response = post_csv(client, exported.data)

    # 安富街道, its 2 villages, 3 grids and 4 micro-grids
    assert response.json == {"created": 0, "updated": 0, "moved": 0, "unchanged": 10}
    assert snapshot(session) == before


def test_a_retired_unit_is_exported_retired_and_imported_retired_into_another_database(client, small_tree, tmp_path):
    """Before, the export said nothing of retirement, and a district moved to another database
    brought every retired unit back into use (duties, QR codes, units placed under them)."""
    grid, microgrid = "510503001001002", "510503001001002001"
    for code in (microgrid, grid):  # what lies below first
        unit = small_tree[code]
        retired = client.patch(f"/api/v1/units/{unit.id}", json={"active": False, "version": unit.version})
        assert retired.status_code == 200, retired.json
    exported = client.get(f"/api/v1/units/{small_tree['510503'].id}/export").data
    rows = list(csv.DictReader(io.StringIO(exported.decode("utf-8-sig"))))
    assert {row["code"].strip(): row["active"] for row in rows}[grid] == "false"

    (tmp_path / "other").mkdir()
    other = fresh_app(tmp_path / "other")
    with other.app_context(), Session(db.engine) as elsewhere:  # db.session is this test's, rolled back
        counts = transfer.import_csv(elsewhere, data=exported)
        elsewhere.commit()
        active = dict(elsewhere.execute(sa.select(Unit.code, Unit.active)).all())
        elsewhere.close()
        db.engine.dispose()
    assert counts["created"] == len(rows)
    assert (active[grid], active[microgrid], active["510503001001001"]) == (False, False, True)

    # Back into the database it came from: nothing changes.
    assert post_csv(client, exported).json["unchanged"] == len(rows)
    # A unit in use here said to be retired is refused: retiring hands on its cases (PATCH does it).
    for row in rows:
        row["active"] = "false" if row["code"].strip() == "510503001001001001" else row["active"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    refused = post_csv(client, buffer.getvalue())
    assert_problem(refused, 422)
    assert list(refused.json["errors"]) == [f"line {2 + [r['code'].strip() for r in rows].index('510503001001001001')}"]
    assert "PATCH" in refused.json["errors"][list(refused.json["errors"])[0]][0]
    # A new unit in use under a retired one is refused; a retired one is taken.
    under_retired = f"code,name,level,parent_code,active\n{grid}009,新微网格,microgrid,{grid},true\n"
    assert_problem(post_csv(client, under_retired), 422)
    assert post_csv(client, under_retired.replace(",true", ",false")).json["created"] == 1


def test_a_retired_grid_whose_micro_grid_is_still_in_use_imports_back_unchanged(client, small_tree):
    grid = small_tree["510503001001002"]
    assert client.patch(f"/api/v1/units/{grid.id}", json={"active": False, "version": grid.version}).status_code == 200
    exported = client.get(f"/api/v1/units/{small_tree['510503'].id}/export").data
    assert post_csv(client, exported).json["unchanged"] == 15


def test_a_name_a_spreadsheet_would_run_is_exported_as_text_and_imports_back_as_it_was(client, session, small_tree):
    """Before, the unit export wrote "=1+2" as it was: a formula in the spreadsheet it opens in."""
    town = small_tree["510503001"].id
    made = client.post("/api/v1/units", json={"name": "=HYPERLINK(\"http://evil.example\")", "level": "village",
                                              "parent_id": town, "code": "510503001009"})
    assert made.status_code == 201, made.get_data(as_text=True)
    exported = client.get(f"/api/v1/units/{town}/export")
    assert "'=HYPERLINK(" in exported.get_data(as_text=True)
    before = snapshot(session)
    response = post_csv(client, exported.data)
    assert response.json["updated"] == 0 and snapshot(session) == before
    assert client.get(f"/api/v1/units/{made.json['id']}").json["name"] == "=HYPERLINK(\"http://evil.example\")"
    # A name that starts with an apostrophe before such a character comes back as it was, too.
    client.patch(f"/api/v1/units/{made.json['id']}", json={"name": "'+86 热线社区"})
    again = post_csv(client, client.get(f"/api/v1/units/{town}/export").data)
    assert again.json["updated"] == 0
    assert client.get(f"/api/v1/units/{made.json['id']}").json["name"] == "'+86 热线社区"


def test_coordinates_of_any_precision_export_and_import_back(client, small_tree):
    unit = get_unit(client, "510503001001")
    patched = client.patch(f"/api/v1/units/{unit['id']}", json={"latitude": 28.773395678901234, "longitude": 1e-05})
    assert patched.status_code == 200, patched.json
    exported = client.get(f"/api/v1/units/{unit['id']}/export")
    assert b"1e-05" in exported.data

    response = post_csv(client, exported.data)

    assert response.status_code == 200, response.json
    assert response.json["updated"] == 0
    assert (get_unit(client, "510503001001")["latitude"], get_unit(client, "510503001001")["longitude"]) == (
        28.773395678901234, 1e-05)


def test_an_exported_district_holds_what_was_imported(client, small_tree):
    exported = client.get(f"/api/v1/units/{small_tree['510503'].id}/export").data

    def table(data):
        return sorted((row.code, row.name, row.level, row.parent_code, row.households, row.population,
                       row.latitude, row.longitude) for row in transfer.parse_csv(data).rows)

    assert table(exported) == table(SMALL_TREE_CSV.encode())


# --- a scoped account ----------------------------------------------------------------------------


def test_a_town_admin_imports_back_its_own_export_which_names_the_district_above(client, small_tree, make_principal):
    """The export's top row names its parent (the district, outside the town's scope) and leaves
    it where it is: that is no write outside the scope. Before, the file was refused."""
    _id, token = make_principal("admin", "510503001")
    headers = {"Authorization": f"Bearer {token}"}
    town = get_unit(client, "510503001")
    exported = client.get(f"/api/v1/units/{town['id']}/export", query_string={"format": "csv"}, headers=headers)
    assert exported.status_code == 200

    response = client.post(URL, data=exported.data, content_type="text/csv", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    rows = len(exported.get_data(as_text=True).strip().splitlines()) - 1
    assert response.json == {"created": 0, "updated": 0, "moved": 0, "unchanged": rows}
    assert rows == 10  # the town, its two villages, their three grids and four micro-grids


@pytest.mark.parametrize("row, blamed", [
    # its village moved to a town outside its scope
    ("510503001002,新民社区,village,510503100\n", "510503100"),
    # a new village under a town outside its scope
    ("510503100299,新村,village,510503100\n", "510503100"),
    # a unit outside its scope renamed
    ("510503100201,改名村,village,510503100\n", "510503100201"),
])
def test_a_town_admin_cannot_write_outside_its_town_by_import(client, small_tree, make_principal, row, blamed):
    _id, token = make_principal("admin", "510503001")
    before = client.get("/api/v1/units/by-code/510503001002").json
    response = client.post(URL, data=("code,name,level,parent_code\n" + row).encode(), content_type="text/csv",
                           headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 422)
    assert response.json["errors"] == {"line 2": [f"unit {blamed} lies outside your scope"]}
    assert client.get("/api/v1/units/by-code/510503001002").json == before
    assert client.get("/api/v1/units/by-code/510503100299").status_code == 404


def test_a_file_bad_on_every_line_lists_its_first_200_bad_lines_in_order(client, session, small_tree):
    """Lines 2–451, each bad; the parser's problems (even lines) are found before the tree's (odd
    lines), yet the answer lists lines 2 to 201, and says there are more."""
    rows = [f"510503009{n:03d},某社区,{'hamlet' if n % 2 == 0 else 'village'},510503009,,,," for n in range(2, 452)]
    before = snapshot(session)
    response = post_csv(client, HEADER + "\n".join(rows) + "\n")
    assert_problem(response, 422)
    assert list(response.json["errors"]) == [f"line {n}" for n in range(2, 202)]
    assert "450 problem(s) (the first 200 lines are listed)" in response.json["detail"]
    assert snapshot(session) == before
