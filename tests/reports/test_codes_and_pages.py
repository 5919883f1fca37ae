"""Report codes, QR codes and the resident's pages (issue 6).

Covered:
- ``GET /api/v1/units/{id}/report-code``: made once and stable, its ``url`` built on
  ``GRIDGOV_PUBLIC_URL`` (or this request's host), only for villages, grids and micro-grids;
  ``POST …/report-code/rotate``: a new token, the old page gone, an entry in the audit log.
- ``qr.svg`` / ``qr.png``: well-formed files whose modules are the QR code of the report URL
  (read back from the drawing, compared with ``segno.make(url, error="m")``), and the printable
  ``qr-sheet`` of a village's or grid's micro-grids.
- ``/r/<token>``: the zh-CN form, filing a report (then on the triage desk's queue, phone masked),
  anonymity, every bad input (422 / 413 / 400 / 404 pages, nothing written), HTML kept as text.
- ``/t/<code>``: the stage in plain words and dated steps, from pending through dispatch and the
  case's lifecycle, merged and rejected reports, forgiving code spelling, and no personal data.
"""

import io
import re
import secrets
import struct
import time
import xml.etree.ElementTree as ET
import zlib
from datetime import datetime

import pytest
import segno
import sqlalchemy as sa

from gridgov.cases import calendar
from gridgov.cases.calendar import TIMEZONE
from gridgov.reports import service as report_service
from gridgov.reports.models import ReportCode
from tests.conftest import SMALL_TREE_CSV, bearer_client, chromium, fresh_app, full_width, need_chromium

API = "/api/v1"
D, T1 = "510503", "510503001"
V1, V2 = "510503001001", "510503001002"
G11 = "510503001001001"
M111, M112, M121 = "510503001001001001", "510503001001001002", "510503001001002001"
M211 = "510503001002001001"

SUBMISSION_FIELD = re.compile(r'name="submission" type="hidden" value="([^"]+)"')
TRACKING = re.compile(r'id="tracking-code">([A-Z0-9]+)<')
STAGE = re.compile(r'<p class="stage" id="stage">([^<]*)</p>')
STEP = re.compile(r'<li><time datetime="([^"]+)">([^<]+)</time> ([^<]*)</li>')

PHONE = "13957318426"  # distinctive: must never reach a public page
MASKED_PHONE = "139****8426"
# The day is the triage desk's working day: today's, or the next one.
PENDING_WORDS = re.compile(r"已收到，工作人员将于\d{1,2}月\d{1,2}日（星期[一二三四五]）内核实并分派")


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def ids(small_tree) -> dict[str, int]:
    return {code: unit.id for code, unit in small_tree.items()}


@pytest.fixture
def names(small_tree) -> dict[str, str]:
    return {code: unit.name for code, unit in small_tree.items()}


@pytest.fixture
def clerk(app, make_principal, small_tree):
    """信息清洗员 of the district: no pii:read, so phones come masked."""
    _id, token = make_principal("triage_clerk", D)
    return bearer_client(app, token)


@pytest.fixture
def command(app, make_principal, small_tree):
    """District command: handles cases and sees personal data unmasked."""
    _id, token = make_principal("district_command", D)
    return bearer_client(app, token)


@pytest.fixture
def verifier(app, make_principal, small_tree):
    """A second district command account: who closes may not be who resolved."""
    _id, token = make_principal("district_command", D)
    return bearer_client(app, token)


# --- helpers ------------------------------------------------------------------------------------


def ok(response, status: int = 200):
    assert response.status_code == status, response.get_data(as_text=True)[:1000]
    return response


def assert_problem(response, status: int) -> None:
    assert response.status_code == status, response.get_data(as_text=True)[:1000]
    assert response.mimetype == "application/problem+json"


def assert_page(response, status: int) -> str:
    """An HTML page (not JSON, not a traceback) with the given status."""
    assert response.status_code == status, response.get_data(as_text=True)[:1000]
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert '<html lang="zh-CN">' in text
    return text


def report_code(client, unit_id: int, **kwargs) -> dict:
    return ok(client.get(f"{API}/units/{unit_id}/report-code", **kwargs)).get_json()


def rotate(client, unit_id: int) -> dict:
    return ok(client.post(f"{API}/units/{unit_id}/report-code/rotate")).get_json()


def token_of(client, unit_id: int) -> str:
    return report_code(client, unit_id)["token"]


def form_id(browser, token: str) -> str:
    """The report page's signed form id (it stands in for a CSRF token)."""
    match = SUBMISSION_FIELD.search(assert_page(browser.get(f"/r/{token}"), 200))
    assert match, "no form id on the report page"
    return match.group(1)


def submit(browser, token: str, *, with_form_id: bool = True, **fields):
    """POST the report form as a resident's browser would (category defaults to 家事邻里)."""
    form = {"category": "family_neighbour", **fields}
    if with_form_id:
        form["submission"] = form_id(browser, token)
    return browser.post(f"/r/{token}", data=form)


def file_report(browser, token: str, **fields) -> str:
    """A report filed through the form; its tracking code."""
    fields.setdefault("description", "楼上邻居深夜装修，协商无果。")
    page = assert_page(submit(browser, token, **fields), 201)
    match = TRACKING.search(page)
    assert match, page
    return match.group(1)


def all_reports(clerk, **query) -> list[dict]:
    return ok(clerk.get(f"{API}/reports", query_string={"limit": 500, **query})).get_json()["items"]


def report_by_code(clerk, tracking_code: str) -> dict:
    [report] = [item for item in all_reports(clerk) if item["tracking_code"] == tracking_code]
    return report


def triage(clerk, tracking_code: str, action: str, **fields) -> dict:
    report = report_by_code(clerk, tracking_code)
    response = clerk.post(f"{API}/reports/{report['id']}/actions", json={"action": action, **fields})
    return ok(response).get_json()


def case_act(client, case_id: int, action: str, **fields) -> dict:
    case = ok(client.get(f"{API}/cases/{case_id}")).get_json()
    response = client.post(f"{API}/cases/{case_id}/actions",
                           json={"action": action, "version": case["version"], **fields})
    return ok(response).get_json()


def tracking_page(anonymous, code: str, status: int = 200) -> str:
    return assert_page(anonymous.get(f"/t/{code}"), status)


def stage(page: str) -> str:
    match = STAGE.search(page)
    assert match, page
    return match.group(1)


def steps(page: str) -> list[str]:
    """The words of each step; each must carry its date, ISO in the markup and local on screen."""
    found = STEP.findall(page)
    assert found, page
    for iso, shown, _words in found:
        moment = datetime.fromisoformat(iso)
        assert moment.tzinfo is not None
        assert shown == moment.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M")
    return [words for _iso, _shown, words in found]


# --- reading QR codes back ----------------------------------------------------------------------


def expected_modules(url: str) -> list[list[bool]]:
    return [[bool(bit) for bit in row] for row in segno.make(url, error="m").matrix]


def decoded_payload(png: bytes) -> str | None:
    """The QR payload, where a decoder happens to be installed (none is a dependency)."""
    try:
        import zxingcpp
        from PIL import Image
    except ImportError:
        return None
    [result] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    return result.text


def png_pixels(data: bytes) -> list[list[bool]]:
    """A greyscale or palette PNG as rows of dark (True) / light pixels, checking its structure."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        kind, body = data[offset + 4:offset + 8], data[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        offset += 12 + length
    assert chunks[0][0] == b"IHDR" and len(chunks[0][1]) == 13 and chunks[-1][0] == b"IEND"
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert width > 0 and height > 0 and (compression, filtering, interlace) == (0, 0, 0)
    assert colour in (0, 3) and depth in (1, 2, 4, 8), f"colour type {colour}, depth {depth}"
    palette = next((body for kind, body in chunks if kind == b"PLTE"), None)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = (width * depth + 7) // 8
    bpp = max(1, depth // 8)
    rows, previous, at = [], bytearray(stride), 0
    for _ in range(height):
        kind, line = raw[at], bytearray(raw[at + 1:at + 1 + stride])
        at += 1 + stride
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                nearest = min((abs(p - left), 0, left), (abs(p - up), 1, up), (abs(p - corner), 2, corner))[2]
                line[i] = (line[i] + nearest) & 0xFF
            else:
                assert kind == 0, f"filter type {kind}"
        previous = line
        bits = "".join(f"{byte:08b}" for byte in line)
        values = [int(bits[x * depth:(x + 1) * depth], 2) for x in range(width)]
        if colour == 3:
            assert palette is not None
            values = [sum(palette[3 * v:3 * v + 3]) // 3 for v in values]
        else:
            values = [v * 255 // ((1 << depth) - 1) for v in values]
        rows.append([v < 128 for v in values])
    assert at == len(raw)
    return rows


def png_modules(data: bytes) -> list[list[bool]]:
    """The QR modules drawn in a PNG, whatever its scale and quiet zone: the top-left finder
    pattern's first row (7 dark modules) gives both."""
    pixels = png_pixels(data)
    top = next(y for y, row in enumerate(pixels) if any(row))
    left = pixels[top].index(True)
    run = next(x for x in range(left, len(pixels[top])) if not pixels[top][x]) - left
    assert run % 7 == 0
    scale = run // 7
    right = max(x for x, dark in enumerate(pixels[top]) if dark) + 1
    assert (right - left) % scale == 0
    size = (right - left) // scale
    return [[pixels[top + r * scale + scale // 2][left + c * scale + scale // 2] for c in range(size)]
            for r in range(size)]


def svg_modules(svg: ET.Element) -> list[list[bool]]:
    """The QR modules drawn by a segno-style SVG path: horizontal strokes, one module high."""
    # Inline in HTML the SVG has no namespace; as a file it has the SVG one.
    [path] = [element for element in svg.iter() if element.tag.rpartition("}")[2] == "path"]
    dark, x, y = set(), 0.0, 0.0
    for command, number_text in re.findall(r"([MmHhVv])([-\d. ]+)", path.get("d")):
        numbers = [float(n) for n in number_text.split()]
        if command == "M":
            x, y = numbers
        elif command == "m":
            x, y = x + numbers[0], y + numbers[1]
        elif command in "hH":
            end = x + numbers[0] if command == "h" else numbers[0]
            dark |= {(int(y), int(column)) for column in range(int(x), int(end))}
            x = end
        else:
            y = y + numbers[0] if command == "v" else numbers[0]
    assert dark
    top, left = min(r for r, _ in dark), min(c for _, c in dark)
    size = max(c for _, c in dark) - left + 1
    return [[(top + r, left + c) in dark for c in range(size)] for r in range(size)]


def sheet_figures(html: str) -> list[str]:
    return re.findall(r"<figure>(.*?)</figure>", html, flags=re.S)


# --- report codes -------------------------------------------------------------------------------


@pytest.mark.parametrize("level_code", [V1, G11, M111])
def test_report_code_is_made_once_and_stays_the_same(client, ids, level_code):
    first = report_code(client, ids[level_code])
    second = report_code(client, ids[level_code])

    assert first == second
    assert first["unit_id"] == ids[level_code]
    assert re.fullmatch(r"[A-Za-z0-9_-]{16,43}", first["token"])
    # Without GRIDGOV_PUBLIC_URL the address is this request's host.
    assert first["url"] == f"http://localhost/r/{first['token']}"


def test_each_unit_has_its_own_report_code(client, ids):
    tokens = {token_of(client, ids[code]) for code in (V1, G11, M111, M112)}
    assert len(tokens) == 4


def test_report_code_url_follows_the_request_host_when_no_public_url_is_set(client, ids):
    code = report_code(client, ids[M111], base_url="https://grid.naxi.test")
    assert code["url"] == f"https://grid.naxi.test/r/{code['token']}"


@pytest.mark.parametrize("path", ["{M}/qr.png", "{M}/qr.svg", "{V}/qr-sheet"])
def test_a_host_too_long_for_a_qr_code_is_refused_and_makes_no_codes(session, client, ids, path):
    """Without GRIDGOV_PUBLIC_URL the code carries the host the request named. Before, a host too
    long for any QR code answered 500, and the codes the request had made were kept."""
    host = ".".join(["a" * 60] * 45)
    url = f"{API}/units/" + path.format(M=ids[M111], V=ids[V1])
    assert_problem(client.get(url, base_url=f"http://{host}"), 400)

    assert session.scalar(sa.select(sa.func.count()).select_from(ReportCode)) == 0
    assert client.get(url).status_code == 200
    assert session.scalar(sa.select(sa.func.count()).select_from(ReportCode)) > 0


@pytest.mark.parametrize("level_code", [D, T1])
def test_report_code_is_refused_above_the_village(client, ids, level_code):
    for path in ("report-code", "qr.svg", "qr.png"):
        assert_problem(client.get(f"{API}/units/{ids[level_code]}/{path}"), 422)
    assert_problem(client.post(f"{API}/units/{ids[level_code]}/report-code/rotate"), 422)


def test_report_code_of_a_unit_that_does_not_exist_is_not_found(client, small_tree):
    assert_problem(client.get(f"{API}/units/99999999/report-code"), 404)
    assert_problem(client.get(f"{API}/units/99999999/qr.png"), 404)


def test_report_code_url_is_built_on_gridgov_public_url(monkeypatch, tmp_path):
    """An app of its own, configured the way a deployment is: by the environment."""
    from gridgov.auth import service as auth_service
    from gridgov.auth.permissions import Role
    from gridgov.db import db
    from gridgov.tree import service as tree_service
    from gridgov.tree import transfer

    monkeypatch.setenv("GRIDGOV_PUBLIC_URL", "https://jiufen.naxi.example/")
    app = fresh_app(tmp_path)
    try:
        with app.app_context():
            transfer.import_csv(db.session, data=SMALL_TREE_CSV.encode())
            microgrid_id = tree_service.get_unit_by_code(db.session, code=M111).id
            admin = auth_service.create_principal(db.session, username="admin.public", display_name="管理员",
                                                  role=Role.ADMIN, scope_unit_id=None, password=None)
            _token, text = auth_service.issue_token(db.session, principal=admin, name="t", expires_in=None)
            db.session.commit()
        client = bearer_client(app, text)

        # The configured base wins over the host the request came to; one slash between.
        code = report_code(client, microgrid_id, base_url="http://10.0.0.7:8000")
        assert code["url"] == f"https://jiufen.naxi.example/r/{code['token']}"
        assert png_modules(ok(client.get(f"{API}/units/{microgrid_id}/qr.png")).data) == expected_modules(code["url"])
        assert_page(app.test_client().get(f"/r/{code['token']}"), 200)
    finally:
        with app.app_context():
            db.engine.dispose()


def test_rotating_retires_the_old_code_and_the_new_one_works(client, anonymous, clerk, ids, names):
    old = report_code(client, ids[M111])
    new = rotate(client, ids[M111])

    assert new["unit_id"] == ids[M111]
    assert new["token"] != old["token"]
    assert new["url"] == f"http://localhost/r/{new['token']}"
    assert report_code(client, ids[M111]) == new

    gone = assert_page(anonymous.get(f"/r/{old['token']}"), 404)
    assert "二维码已失效" in gone
    # A printed sign with the old code cannot file a report any more.
    assert_page(anonymous.post(f"/r/{old['token']}", data={"category": "other", "description": "旧码"}), 404)
    assert names[M111] in assert_page(anonymous.get(f"/r/{new['token']}"), 200)
    assert all_reports(clerk) == []
    # The QR codes carry the new address from now on.
    assert png_modules(ok(client.get(f"{API}/units/{ids[M111]}/qr.png")).data) == expected_modules(new["url"])


def test_rotating_is_recorded_in_the_audit_log(app, client, make_principal, ids):
    query = {"action": "unit.report_code.rotate"}
    assert ok(client.get(f"{API}/audit", query_string=query)).get_json()["items"] == []

    rotate(client, ids[G11])

    _id, token = make_principal("auditor", D)
    for reader in (client, bearer_client(app, token)):
        [event] = ok(reader.get(f"{API}/audit", query_string=query)).get_json()["items"]
        assert event["target_type"] == "unit"
        assert event["target_id"] == ids[G11]
        assert G11 in event["target_label"]


# --- QR codes -----------------------------------------------------------------------------------


def test_qr_svg_is_well_formed_and_carries_the_report_url(client, ids):
    response = ok(client.get(f"{API}/units/{ids[M111]}/qr.svg"))

    assert response.mimetype == "image/svg+xml"
    svg = ET.fromstring(response.data)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    url = report_code(client, ids[M111])["url"]
    assert svg_modules(svg) == expected_modules(url)


def test_the_codes_and_pages_carry_the_brand_the_deployment_gives(app, client, anonymous, ids, monkeypatch):
    """Found by a two-district audit: every district's QR codes and pages said Naxi's 纳安解纷码."""
    monkeypatch.setitem(app.config, "REPORT_BRAND", "江阳解纷码")
    token = token_of(client, ids[M111])
    code = file_report(anonymous, token)
    seen = [ok(client.get(f"{API}/units/{ids[M111]}/qr.svg")).get_data(as_text=True),
            ok(client.get(f"{API}/units/{ids[G11]}/qr-sheet")).get_data(as_text=True),
            assert_page(anonymous.get(f"/r/{token}"), 200), assert_page(anonymous.get(f"/t/{code}"), 200),
            assert_page(anonymous.get("/r/no-such-code"), 404)]
    for text in seen:
        assert "江阳解纷码" in text and "纳安解纷码" not in text


def test_qr_png_is_a_valid_png_of_the_report_url(client, ids):
    response = ok(client.get(f"{API}/units/{ids[G11]}/qr.png"))

    assert response.mimetype == "image/png"
    url = report_code(client, ids[G11])["url"]
    payload = decoded_payload(response.data)
    if payload is not None:
        assert payload == url
    assert png_modules(response.data) == expected_modules(url)


def test_qr_codes_of_different_units_differ(client, ids):
    first = ok(client.get(f"{API}/units/{ids[M111]}/qr.png")).data
    second = ok(client.get(f"{API}/units/{ids[M112]}/qr.png")).data
    assert png_modules(first) != png_modules(second)


def test_qr_code_made_first_is_the_one_report_code_answers(client, ids):
    # No report-code asked for yet: the QR endpoint makes it, and it must stick.
    svg = ET.fromstring(ok(client.get(f"{API}/units/{ids[V2]}/qr.svg")).data)
    assert svg_modules(svg) == expected_modules(report_code(client, ids[V2])["url"])


@pytest.mark.parametrize("parent, children", [(V1, [M111, M112, M121]), (G11, [M111, M112])])
def test_qr_sheet_has_one_figure_per_microgrid_below(client, ids, names, parent, children):
    response = ok(client.get(f"{API}/units/{ids[parent]}/qr-sheet"))

    assert response.mimetype == "text/html"
    figures = sheet_figures(response.get_data(as_text=True))
    assert len(figures) == len(children)
    for figure, code in zip(figures, children):
        assert names[code] in figure
        assert f'<div class="code">{code}</div>' in figure
        svg = ET.fromstring(re.search(r"<svg.*?</svg>", figure, flags=re.S).group(0))
        assert svg_modules(svg) == expected_modules(report_code(client, ids[code])["url"])


def test_qr_sheet_fits_a_phones_screen(client, ids, tmp_path):
    """Found by a phone audit: the sheet alone had no viewport, so a phone laid it out 980 px wide
    and shrank its captions to a third (a station checks the sheet on a phone before printing)."""
    need_chromium()
    sheet = tmp_path / "sheet.html"
    sheet.write_bytes(ok(client.get(f"{API}/units/{ids[V1]}/qr-sheet")).data)
    with chromium(phone=True) as driver:
        driver.get(sheet.as_uri())
        widths = driver.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]")
    assert widths[0] == 360 and widths[1] <= 360, widths


def test_qr_sheet_leaves_out_microgrids_elsewhere(client, ids, names):
    html = ok(client.get(f"{API}/units/{ids[G11]}/qr-sheet")).get_data(as_text=True)
    assert M121 not in html and names[M121] not in html
    assert M211 not in html


def retire(client, unit_id: int) -> None:
    unit = ok(client.get(f"{API}/units/{unit_id}")).get_json()
    ok(client.patch(f"{API}/units/{unit_id}", json={"active": False, "version": unit["version"]}))


def test_a_retired_unit_has_no_code_to_print(client, ids, names):
    """Before, the sheet and the code endpoints handed out codes that answered "二维码无效"."""
    retire(client, ids[M112])
    html = ok(client.get(f"{API}/units/{ids[G11]}/qr-sheet")).get_data(as_text=True)
    assert len(sheet_figures(html)) == 1 and M111 in html and M112 not in html
    for path in ("report-code", "qr.svg", "qr.png"):
        assert_problem(client.get(f"{API}/units/{ids[M112]}/{path}"), 422)
    assert_problem(client.post(f"{API}/units/{ids[M112]}/report-code/rotate"), 422)
    retire(client, ids[V2])
    assert_problem(client.get(f"{API}/units/{ids[V2]}/qr-sheet"), 422)


@pytest.mark.parametrize("level_code", [M111, T1, D])
def test_qr_sheet_is_only_for_a_village_or_a_grid(client, ids, level_code):
    assert_problem(client.get(f"{API}/units/{ids[level_code]}/qr-sheet"), 422)


# --- /r/<token>: filing a report ----------------------------------------------------------------


def test_report_page_is_a_chinese_form_naming_the_unit(client, anonymous, ids, names):
    page = assert_page(anonymous.get(f"/r/{token_of(client, ids[M111])}"), 200)

    assert names[M111] in page and M111 in page
    assert "纠纷类型" in page and "家事邻里纠纷" in page
    assert 'name="description"' in page and 'name="phone"' in page and 'name="anonymous"' in page
    assert SUBMISSION_FIELD.search(page)
    assert "Set-Cookie" not in anonymous.get(f"/r/{token_of(client, ids[M111])}").headers  # no cookie on a resident


def test_filed_report_is_pending_on_the_triage_desk_with_the_phone_masked(client, anonymous, clerk, ids):
    token = token_of(client, ids[M111])
    code = file_report(anonymous, token, category="consumer", description="网购家电不退货。",
                       phone=PHONE, media_url="https://img.example/photo.jpg")

    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{10}", code)
    response = ok(clerk.get(f"{API}/reports", query_string={"status": "pending"}))
    [report] = response.get_json()["items"]
    assert report["tracking_code"] == code
    assert report["status"] == "pending"
    assert report["channel"] == "qr"
    assert report["unit_id"] == ids[M111]
    assert report["category"] == "consumer"
    assert report["description"] == "网购家电不退货。"
    assert report["media_url"] == "https://img.example/photo.jpg"
    assert report["anonymous"] is False
    assert report["phone"] == MASKED_PHONE
    assert PHONE not in response.get_data(as_text=True)


def test_the_phone_is_kept_for_those_allowed_to_see_it(client, anonymous, command, ids):
    code = file_report(anonymous, token_of(client, ids[M111]), phone=PHONE)
    assert report_by_code(command, code)["phone"] == PHONE


@pytest.mark.parametrize(("typed", "kept"), [
    ("１３９５７３１８４２６", PHONE),  # full-width, as a Chinese input method in full-width mode types
    ("(0830)1234567", "(0830)1234567"),  # a landline, its area code in brackets
    ("139 5731 8426", "139 5731 8426"),
])
def test_a_phone_is_taken_as_residents_write_it(client, anonymous, command, ids, typed, kept):
    """Before, the full-width digits and the bracketed area code were refused as not a phone."""
    code = file_report(anonymous, token_of(client, ids[M111]), phone=typed)
    assert report_by_code(command, code)["phone"] == kept


@pytest.mark.parametrize("typed", ["(0830 1234567", "0830)1234567", "12ab"])
def test_a_phone_that_is_none_is_refused(client, anonymous, clerk, ids, typed):
    page = assert_page(submit(anonymous, token_of(client, ids[M111]), description="路灯坏了", phone=typed), 422)
    assert "请填写有效的电话号码" in page and all_reports(clerk) == []


def test_the_receipt_names_the_day_the_report_will_be_seen_to(client, anonymous, ids):
    """A report made on a Saturday is seen to on Monday: the receipt says so (before: "当个工作日内",
    which is no day at all on a weekend)."""
    saturday, _provisional = calendar.end_of_working_day(datetime(2026, 11, 28, 10, tzinfo=TIMEZONE))
    assert report_service.due_day(saturday) == "11月30日（星期一）"
    page = assert_page(submit(anonymous, token_of(client, ids[M111]), description="路灯坏了"), 201)
    due, _provisional = calendar.end_of_working_day(datetime.now(TIMEZONE))
    assert f"工作人员将于{report_service.due_day(due)}内核实并分派" in page


def test_anonymous_report_keeps_no_phone(client, anonymous, command, ids):
    code = file_report(anonymous, token_of(client, ids[G11]), phone=PHONE, anonymous="y")

    report = report_by_code(command, code)  # district command sees phones unmasked
    assert report["anonymous"] is True
    assert report["phone"] is None
    assert report["unit_id"] == ids[G11]


def test_no_cache_keeps_a_residents_form_receipt_or_progress(client, anonymous, ids):
    """Before, the form page could be cached: behind a caching proxy the next resident got the
    first one's form id, and their report was answered with the first one's receipt."""
    token = token_of(client, ids[M111])
    form = anonymous.get(f"/r/{token}")
    receipt = submit(anonymous, token, description="噪音扰民")
    code = TRACKING.search(receipt.get_data(as_text=True)).group(1)
    progress = anonymous.get(f"/t/{code}")

    for response in (form, receipt, progress):
        assert response.headers["Cache-Control"] == "no-store", response.request.path


def test_receipt_links_to_the_tracking_page(client, anonymous, ids):
    token = token_of(client, ids[M111])
    page = assert_page(submit(anonymous, token, description="噪音扰民"), 201)
    code = TRACKING.search(page).group(1)
    assert f'href="/t/{code}"' in page


BAD_FORMS = {
    "no description": {"description": ""},
    "description too long": {"description": "纠" * 2001},
    "bad phone": {"phone": "call me maybe"},
    "javascript media_url": {"media_url": "javascript:alert(1)"},
    "ftp media_url": {"media_url": "ftp://files.example/photo.jpg"},
    "NUL in description": {"description": "邻里\x00纠纷"},
    "bell in description": {"description": "邻里\x07纠纷"},
    "escape in description": {"description": "邻里\x1b[31m纠纷"},
    "unknown category": {"category": "alien_invasion"},
}


@pytest.mark.parametrize("fields", BAD_FORMS.values(), ids=BAD_FORMS.keys())
def test_bad_report_is_refused_with_a_page_and_nothing_written(client, anonymous, clerk, ids, fields):
    token = token_of(client, ids[M111])
    form = {"description": "楼道堆物纠纷", "phone": PHONE, **fields}

    page = assert_page(submit(anonymous, token, **form), 422)

    assert "请检查填写的内容" in page
    assert 'name="description"' in page  # the form again, to correct
    assert all_reports(clerk) == []


@pytest.mark.parametrize("field", ["description", "phone", "media_url", "category"])
def test_a_file_sent_for_a_text_field_is_no_value_not_a_500(client, anonymous, clerk, ids, field):
    """Found by fuzzing: the form read uploaded files first, and a file where text is expected
    broke the validators (500)."""
    token = token_of(client, ids[M111])
    fields = {"description": "楼道堆物纠纷", "phone": PHONE, field: (io.BytesIO(b"x"), "f.txt")}
    response = submit(anonymous, token, **fields)
    if field in ("description", "category"):  # required: the form again
        assert 'name="description"' in assert_page(response, 422)
        assert all_reports(clerk) == []
    else:
        assert_page(response, 201)
        assert [report.get(field) for report in all_reports(clerk)] == [None]


def test_blank_description_writes_nothing(client, anonymous, clerk, ids):
    response = submit(anonymous, token_of(client, ids[M111]), description="  \u3000 ")
    assert response.status_code == 422
    assert all_reports(clerk) == []


def test_blank_description_is_refused_with_the_form_page(client, anonymous, ids):
    page = assert_page(submit(anonymous, token_of(client, ids[M111]), description="   "), 422)
    assert 'name="description"' in page


def test_body_over_32_kb_is_refused(client, anonymous, clerk, ids):
    token = token_of(client, ids[M111])
    page = assert_page(submit(anonymous, token, description="x" * (33 * 1024)), 413)
    assert "内容过长" in page
    assert all_reports(clerk) == []



# A phone's keyboard ends with a space or a line break as often as not; before, such a form sent
# again read as changed (the report keeps the text stripped) and filed a second report.
@pytest.mark.parametrize("description", ["楼上漏水，协商无果。", "楼上漏水，协商无果。 ", "楼上漏水，\r\n协商无果。\r\n",
                                         "\u3000楼上漏水，协商无果。"])
def test_the_same_form_sent_twice_files_one_report(app, client, anonymous, clerk, ids, description):
    """A refreshed receipt or a double tap sends the form again; before, each filed a report."""
    token = token_of(client, ids[M111])
    page = assert_page(anonymous.get(f"/r/{token}"), 200)
    form = {"submission": SUBMISSION_FIELD.search(page).group(1),
            "category": "family_neighbour", "description": description}
    first = TRACKING.search(assert_page(anonymous.post(f"/r/{token}", data=form), 201)).group(1)
    again = TRACKING.search(assert_page(anonymous.post(f"/r/{token}", data=form), 200)).group(1)
    # A double tap, from a browser that keeps nothing between the two: the form is enough.
    twice = TRACKING.search(assert_page(app.test_client(use_cookies=False).post(f"/r/{token}", data=form),
                                        200)).group(1)
    assert again == twice == first
    assert [report["tracking_code"] for report in all_reports(clerk)] == [first]
    # A new page load is a new report.
    second = file_report(anonymous, token, description="又一次漏水。")
    assert second != first and len(all_reports(clerk)) == 2


def test_a_copy_that_passes_the_first_on_its_way_answers_the_first_report(client, anonymous, clerk, ids, monkeypatch):
    """Two copies of one form in flight at once: both find no report yet, and the database's
    unique submission decides. Before, the loser's recovery failed (a 500)."""
    from gridgov.reports import service

    real, calls = service.find_by_submission, []

    def not_yet_for_the_page(session, *, submission):
        calls.append(submission)
        return real(session, submission=submission) if len(calls) > 2 else None  # the 3rd: the loser's recovery

    monkeypatch.setattr(service, "find_by_submission", not_yet_for_the_page)
    token = token_of(client, ids[M111])
    page = assert_page(anonymous.get(f"/r/{token}"), 200)
    form = {"submission": SUBMISSION_FIELD.search(page).group(1),
            "category": "family_neighbour", "description": "楼上漏水，协商无果。"}
    first = TRACKING.search(assert_page(anonymous.post(f"/r/{token}", data=form), 201)).group(1)
    second = anonymous.post(f"/r/{token}", data=form)
    assert second.status_code in (200, 201), second.get_data(as_text=True)[:500]
    assert TRACKING.search(second.get_data(as_text=True)).group(1) == first
    assert len(calls) == 3 and [report["tracking_code"] for report in all_reports(clerk)] == [first]


def test_a_refused_form_speaks_chinese_and_says_when_the_page_expired(client, anonymous, ids, monkeypatch):
    token = token_of(client, ids[M111])
    page = assert_page(submit(anonymous, token, category="alien_invasion", description="噪音",
                              media_url="https://img.example/" + "p" * 500), 422)
    assert "请从列表中选择" in page and "请控制在 500 字以内" in page and "Not a valid" not in page

    stale = form_id(anonymous, token)
    now = time.time()
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: now + 13 * 3600)  # 13 hours later
    expired = assert_page(anonymous.post(f"/r/{token}", data={"submission": stale, "category": "other",
                                                             "description": "噪音还在继续"}), 400)
    assert "页面已过期" in expired and "噪音还在继续" in expired  # kept, to be sent again
    fresh = SUBMISSION_FIELD.search(expired).group(1)
    assert fresh != stale
    assert_page(anonymous.post(f"/r/{token}", data={"submission": fresh, "category": "other",
                                                    "description": "噪音还在继续"}), 201)


def test_a_receipt_reloaded_after_the_page_expired_is_still_the_receipt(client, anonymous, clerk, ids, monkeypatch):
    token = token_of(client, ids[M111])
    form = {"submission": form_id(anonymous, token), "category": "other", "description": "路灯坏了"}
    first = TRACKING.search(assert_page(anonymous.post(f"/r/{token}", data=form), 201)).group(1)
    now = time.time()
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: now + 13 * 3600)  # the next morning

    again = TRACKING.search(assert_page(anonymous.post(f"/r/{token}", data=form), 200)).group(1)

    assert again == first and len(all_reports(clerk)) == 1


def test_a_form_without_a_good_form_id_is_refused(client, anonymous, clerk, ids):
    token = token_of(client, ids[M111])
    assert_page(submit(anonymous, token, with_form_id=False, description="无令牌提交"), 400)
    assert_page(anonymous.post(f"/r/{token}", data={"submission": "forged.AAAAAA.BBBBBB", "category": "other",
                                                    "description": "伪造令牌"}), 400)
    assert all_reports(clerk) == []


def test_a_browser_that_keeps_no_cookies_still_reports(app, client, clerk, ids):
    """Before, the form's CSRF token lived in the session cookie: without cookies every send
    answered "页面已过期"."""
    token = token_of(client, ids[M111])
    no_cookies = app.test_client(use_cookies=False)
    page = assert_page(no_cookies.get(f"/r/{token}"), 200)
    done = no_cookies.post(f"/r/{token}", data={"submission": SUBMISSION_FIELD.search(page).group(1),
                                                 "category": "other", "description": "路灯坏了"})
    assert done.status_code == 201, done.get_data(as_text=True)
    assert len(all_reports(clerk)) == 1


def test_line_breaks_count_once_as_the_browser_counted_them(client, anonymous, clerk, ids):
    """A browser sends each line break as CRLF: 2,000 characters as typed were 2,200 to the server."""
    token = token_of(client, ids[M111])
    typed = "\r\n".join(["一二三四五六七八九"] * 200)  # 1,999 characters with "\n" breaks
    file_report(anonymous, token, description=typed)
    [report] = all_reports(clerk)
    assert "\r" not in report["description"] and len(report["description"]) == 1999


def test_a_resident_who_skips_the_category_is_asked_for_it(client, anonymous, clerk, ids):
    token = token_of(client, ids[M111])
    page = assert_page(anonymous.get(f"/r/{token}"), 200)
    assert '<option value="">请选择</option>' in page and " selected" not in page  # the browser asks first
    refused = assert_page(submit(anonymous, token, category="", description="邻居吵架"), 422)
    assert "请选择纠纷类型" in refused
    assert all_reports(clerk) == []


@pytest.mark.parametrize("token", [
    "well-formed-but-unknown-token",
    "short",
    "has.a.dot.in.it.is.not.allowed",
    "nul%00byte-inside-the-token",
    "%00",
    "A" * 4000,
    "%E7%BA%B3%E5%AE%89%E8%A7%A3%E7%BA%B7%E7%A0%81",
], ids=["unknown", "short", "dots", "nul", "only-nul", "very-long", "chinese"])
def test_unknown_or_malformed_token_is_a_404_page(anonymous, clerk, token):
    assert "二维码已失效" in assert_page(anonymous.get(f"/r/{token}"), 404)
    assert_page(anonymous.post(f"/r/{token}", data={"category": "other", "description": "x"}), 404)
    assert all_reports(clerk) == []


def test_random_token_is_not_found(client, anonymous, ids):
    token_of(client, ids[M111])  # codes exist; a guessed one is still not among them
    assert_page(anonymous.get(f"/r/{secrets.token_urlsafe(16)}"), 404)


# --- HTML stays text ----------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"


def test_html_in_a_description_is_stored_as_text(client, anonymous, clerk, ids):
    code = file_report(anonymous, token_of(client, ids[M111]), description=f"邻居{SCRIPT}吵闹")

    response = report_by_code(clerk, code)
    assert response["description"] == f"邻居{SCRIPT}吵闹"


def test_tracking_page_shows_no_description_at_all(client, anonymous, ids):
    code = file_report(anonymous, token_of(client, ids[M111]), description=f"独特描述文字{SCRIPT}")

    page = tracking_page(anonymous, code)
    assert PENDING_WORDS.fullmatch(stage(page))
    assert "alert(1)" not in page
    assert "<script" not in page
    assert "独特描述文字" not in page


def test_a_form_sent_again_with_something_changed_is_a_report_of_its_own(client, anonymous, command, ids):
    """Back to a page the browser kept as it was left, with the id it had sent, and a phone number
    added. Before, the receipt of the first report answered and the number was dropped unseen;
    now it is a report of its own, and sending that form again answers it in turn."""
    token = token_of(client, ids[M111])
    form = {"category": "family_neighbour", "description": "楼上漏水。", "submission": form_id(anonymous, token)}
    first = TRACKING.search(assert_page(anonymous.post(f"/r/{token}", data=form), 201)).group(1)

    changed = {**form, "phone": PHONE}
    second = TRACKING.search(assert_page(anonymous.post(f"/r/{token}", data=changed), 201)).group(1)
    again = TRACKING.search(assert_page(anonymous.post(f"/r/{token}", data=changed), 200)).group(1)
    unchanged = TRACKING.search(assert_page(anonymous.post(f"/r/{token}", data=form), 200)).group(1)

    assert second != first and again == second and unchanged == first
    assert report_by_code(command, second)["phone"] == PHONE
    assert report_by_code(command, first)["phone"] is None


def test_an_anonymous_report_keeps_no_trace_of_the_phone_the_form_held(client, anonymous, command, ids):
    """An anonymous report keeps no phone; sent again changed under its id, its id took a hash of
    every field, the phone too: the number could be found again from the stored id by trying every
    mobile number. Now the phone is not part of it: the same changed report with another number is
    still that report."""
    token = token_of(client, ids[M111])
    form = {"category": "labour", "description": "工地老板拖欠工资", "phone": PHONE, "anonymous": "y",
            "submission": form_id(anonymous, token)}
    assert_page(anonymous.post(f"/r/{token}", data=form), 201)
    changed = {**form, "description": "工地老板拖欠三个月工资"}
    second = TRACKING.search(assert_page(anonymous.post(f"/r/{token}", data=changed), 201)).group(1)
    again = TRACKING.search(assert_page(anonymous.post(f"/r/{token}", data={**changed, "phone": "13900001111"}), 200))
    assert again.group(1) == second
    assert report_by_code(command, second)["phone"] is None


def test_a_refused_field_is_named_in_the_alert_and_tied_to_its_message(client, anonymous, ids):
    """Before, the alert said only "请检查填写的内容。", and a screen reader on the phone field heard
    nothing of its error below it."""
    page = assert_page(submit(anonymous, token_of(client, ids[M111]), description="路灯坏了", phone="12ab"), 422)

    assert re.search(r'role="alert">请检查填写的内容：<a href="#phone">联系电话（选填）</a>。', page), page
    field = re.search(r"<input[^>]*\bid=\"phone\"[^>]*>", page).group(0)
    assert 'aria-invalid="true"' in field and 'aria-describedby="phone-error"' in field
    assert re.search(r'<p class="message" id="phone-error">请填写有效的电话号码</p>', page)
    description = re.search(r"<textarea[^>]*\bid=\"description\"[^>]*>", page).group(0)
    assert "aria-invalid" not in description  # the fields without a problem are not marked


def test_html_in_a_refused_form_is_escaped_when_shown_again(client, anonymous, clerk, ids):
    token = token_of(client, ids[M111])
    page = assert_page(submit(anonymous, token, description=SCRIPT, phone="not a phone"), 422)

    assert SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert all_reports(clerk) == []


# --- /t/<code>: following a report --------------------------------------------------------------


def test_pending_report_shows_it_was_received(client, anonymous, ids, names):
    code = file_report(anonymous, token_of(client, ids[M111]), phone=PHONE)

    page = tracking_page(anonymous, code)
    assert PENDING_WORDS.fullmatch(stage(page))
    assert steps(page) == ["已收到您的反映"]
    assert code in page and names[M111] in page and "家事邻里纠纷" in page
    assert PHONE not in page and PHONE[-4:] not in page


def test_report_followed_through_dispatch_and_the_case_lifecycle(
    client, anonymous, clerk, command, verifier, ids, names
):
    grid = names[G11]
    code = file_report(anonymous, token_of(client, ids[M111]), phone=PHONE)

    report = triage(clerk, code, "dispatch", risk_grade="blue")
    assert report["status"] == "dispatched"
    case_id = report["case_id"]
    page = tracking_page(anonymous, code)
    assert stage(page) == f"已分派至{grid}，等待受理"
    assert steps(page) == ["已收到您的反映", f"已分派至{grid}"]
    reference = ok(command.get(f"{API}/cases/{case_id}")).get_json()["reference"]
    assert f"案件编号：{reference}" in page

    case_act(command, case_id, "accept", note="内部备注 NOTE-ACCEPT-5521")
    assert stage(tracking_page(anonymous, code)) == f"{grid}已受理"

    case_act(command, case_id, "record_attempt", outcome="partial", by="调解员欧阳立新",
             notes="内部笔记 NOTE-ATTEMPT-5522")
    assert stage(tracking_page(anonymous, code)) == f"{grid}正在调处"

    case_act(command, case_id, "resolve", note="内部备注 NOTE-RESOLVE-5523")
    assert stage(tracking_page(anonymous, code)) == "已化解，等待核查结案"

    case_act(verifier, case_id, "close", note="内部备注 NOTE-CLOSE-5524")
    page = tracking_page(anonymous, code)
    assert stage(page) == "已办结"
    assert steps(page) == ["已收到您的反映", f"已分派至{grid}", f"{grid}已受理", "已开展调解", "已化解", "已核查结案"]
    # Nobody's personal data and no one's notes, at any point of the case.
    for secret in ("NOTE-", "内部备注", "内部笔记", "欧阳立新", PHONE, PHONE[-4:], "反映人"):
        assert secret not in page


def test_a_case_its_verifier_sends_back_goes_on_for_the_resident(client, anonymous, clerk, command, verifier, ids,
                                                                   names):
    code = file_report(anonymous, token_of(client, ids[M111]))
    case_id = triage(clerk, code, "dispatch", risk_grade="blue")["case_id"]
    case_act(command, case_id, "accept")
    case_act(command, case_id, "resolve", note="内部备注 NOTE-RESOLVE-5526")
    case_act(verifier, case_id, "send_back", reason="内部核查意见 NOTE-BACK-5527")

    page = tracking_page(anonymous, code)
    assert stage(page) == f"{names[G11]}正在调处"
    assert steps(page)[-2:] == ["已化解", "核查未通过，继续办理"]
    assert "NOTE-" not in page


@pytest.mark.parametrize("reason, words", [
    ("out_of_scope", "该事项不属于社会治理中心受理范围，请向相关部门反映"),
    ("duplicate", "与其他相同反映合并办理"),
])
def test_a_case_its_handler_rejects_tells_the_reporter_why(client, anonymous, clerk, command, ids, reason, words):
    code = file_report(anonymous, token_of(client, ids[M111]), phone=PHONE)
    case_id = triage(clerk, code, "dispatch", risk_grade="blue")["case_id"]
    case_act(command, case_id, "reject", reason=reason, note="内部备注 NOTE-REJECT-5525")

    page = tracking_page(anonymous, code)
    assert stage(page) == words
    assert steps(page)[-1] == words
    assert "NOTE-REJECT" not in page and "不予受理" not in page


def test_traffic_injury_is_dispatched_to_the_town(client, anonymous, clerk, ids, names):
    code = file_report(anonymous, token_of(client, ids[M111]), category="traffic_injury",
                       description="摩托车撞伤老人。")
    triage(clerk, code, "dispatch", risk_grade="blue")

    page = tracking_page(anonymous, code)
    assert stage(page) == f"已分派至{names[T1]}，等待受理"
    assert steps(page)[-1] == f"已分派至{names[T1]}"


def test_tracking_never_shows_the_reporters_name_or_phone(app, session, small_tree, anonymous, clerk, command):
    """A report with the reporter's name (as Open311 brings one) becomes a case with that party."""
    from gridgov.cases.enums import Category
    from gridgov.reports import service
    from gridgov.reports.models import Channel

    report = service.submit_report(session, unit=small_tree[M111], channel=Channel.OPEN311,
                                   category=Category.FAMILY_NEIGHBOUR, description="独特描述 DESC-9931",
                                   reporter_name="司马秘名", phone=PHONE)
    session.commit()
    code = report.tracking_code
    case_id = triage(clerk, code, "dispatch", risk_grade="yellow")["case_id"]
    parties = ok(command.get(f"{API}/cases/{case_id}")).get_json()["parties"]
    assert {"name": "司马秘名", "phone": PHONE} in [{"name": p["name"], "phone": p["phone"]} for p in parties]

    page = tracking_page(anonymous, code)
    assert stage(page).startswith("已分派至")
    for secret in ("司马秘名", "司马", PHONE, MASKED_PHONE, PHONE[-4:], "DESC-9931", "独特描述"):
        assert secret not in page


@pytest.mark.parametrize("reason, words", [
    ("spam", "经核实，该反映无有效内容"),
    ("out_of_scope", "该事项不属于社会治理中心受理范围，请向相关部门反映"),
    ("invalid", "经核实，该反映无需处理"),
])
def test_rejected_report_shows_the_reason_in_words(client, anonymous, clerk, ids, reason, words):
    code = file_report(anonymous, token_of(client, ids[M111]))
    triage(clerk, code, "reject", reason=reason)

    page = tracking_page(anonymous, code)
    assert stage(page) == words
    assert steps(page) == ["已收到您的反映", words]


def test_report_merged_into_another_follows_it(client, anonymous, clerk, command, ids, names):
    token = token_of(client, ids[M111])
    first = file_report(anonymous, token, description="第一条反映")
    duplicate = file_report(anonymous, token, description="同一件事的第二条反映")
    triage(clerk, duplicate, "merge", report_id=report_by_code(clerk, first)["id"])

    page = tracking_page(anonymous, duplicate)
    assert stage(page) == "与其他相同反映合并办理，等待核实分派"
    assert steps(page) == ["已收到您的反映", "与其他相同反映合并办理"]

    case_id = triage(clerk, first, "dispatch", risk_grade="blue")["case_id"]
    page = tracking_page(anonymous, duplicate)
    assert stage(page) == f"已分派至{names[G11]}，等待受理"
    assert "与其他相同反映合并办理" in steps(page)

    case_act(command, case_id, "accept")
    assert stage(tracking_page(anonymous, duplicate)) == stage(tracking_page(anonymous, first)) == f"{names[G11]}已受理"


def test_report_merged_into_a_report_later_rejected_says_so(client, anonymous, clerk, ids):
    token = token_of(client, ids[M112])
    first = file_report(anonymous, token)
    duplicate = file_report(anonymous, token)
    triage(clerk, duplicate, "merge", report_id=report_by_code(clerk, first)["id"])
    triage(clerk, first, "reject", reason="spam")

    assert stage(tracking_page(anonymous, duplicate)) == "与其他相同反映合并办理，经核实，该反映无有效内容"


def test_report_merged_into_a_case_follows_the_case(client, anonymous, clerk, command, ids, names):
    token = token_of(client, ids[M111])
    original = file_report(anonymous, token)
    case_id = triage(clerk, original, "dispatch", risk_grade="blue")["case_id"]
    case_act(command, case_id, "accept")
    later = file_report(anonymous, token, description="又有人反映同一件事")

    triage(clerk, later, "merge", case_id=case_id)

    page = tracking_page(anonymous, later)
    assert stage(page) == f"{names[G11]}已受理"
    assert "与其他相同反映合并办理" in steps(page)
    case_act(command, case_id, "resolve", note="双方和解")
    assert stage(tracking_page(anonymous, later)) == "已化解，等待核查结案"


def test_a_merged_reports_steps_are_in_time_order(client, anonymous, clerk, command, ids):
    """What the case went through between the report and its merge comes before the merge."""
    token = token_of(client, ids[M111])
    case_id = triage(clerk, file_report(anonymous, token), "dispatch", risk_grade="blue")["case_id"]
    case_act(command, case_id, "accept")
    later = file_report(anonymous, token, description="又有人反映同一件事")
    case_act(command, case_id, "record_attempt", outcome="partial")

    triage(clerk, later, "merge", case_id=case_id)

    assert steps(tracking_page(anonymous, later)) == ["已收到您的反映", "已开展调解", "与其他相同反映合并办理"]


def test_tracking_code_is_forgiven_case_and_spaces(client, anonymous, ids):
    code = file_report(anonymous, token_of(client, ids[M111]))
    spaced = f"{code[:5].lower()} {code[5:].lower()}"

    page = tracking_page(anonymous, spaced)
    assert PENDING_WORDS.fullmatch(stage(page))
    assert code in page
    # as a link or a bookmark holds what was typed: full-width, a dash, an ideographic space
    for typed in (full_width(code), f"{code[:4]}-{code[4:]}", f"{code[:4]}\u3000{code[4:]}"):
        assert code in tracking_page(anonymous, typed)


@pytest.mark.parametrize("code", [
    "ZZZZZZZZZZ", "abc", "%00", "ABCDE%00FGH", "2" * 500, "%E6%9F%A5%E8%AF%A2%E7%A0%81%E5%95%8A%E5%95%8A%E5%95%8A",
    "O0I1O0I1O0",
], ids=["unknown", "short", "nul", "nul-inside", "very-long", "chinese", "confusable"])
def test_unknown_tracking_code_is_a_404_page(anonymous, small_tree, code):
    page = tracking_page(anonymous, code, status=404)
    assert "没有找到查询码" in page
    assert STAGE.search(page) is None


def test_html_in_an_unknown_tracking_code_is_escaped(anonymous, small_tree):
    page = tracking_page(anonymous, "%3Cscript%3Ealert(1)", status=404)
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)" in page


def test_tracking_lookup_redirects_to_the_code(client, anonymous, ids):
    code = file_report(anonymous, token_of(client, ids[M111]))

    response = anonymous.get("/t", query_string={"code": f"  {code}  "})
    assert response.status_code in (301, 302, 303, 307, 308)
    assert response.headers["Location"].endswith(f"/t/{code}")
    assert PENDING_WORDS.fullmatch(stage(assert_page(anonymous.get(response.headers["Location"]), 200)))

    assert 'name="code"' in assert_page(anonymous.get("/t"), 200)  # no code: the box to type it in
    # Typed with separators, a "/" among them: the same page (before, a "/" gave an English 404).
    for typed in (f"{code[:4]}/{code[4:]}", f"{code[:5]}-{code[5:]}"):
        response = anonymous.get("/t", query_string={"code": typed})
        assert response.headers["Location"].endswith(f"/t/{code}")
    assert anonymous.get("/t", query_string={"code": full_width(code)}).headers["Location"].endswith(f"/t/{code}")
    unknown = anonymous.get("/t", query_string={"code": "AB/CD"}, follow_redirects=True)
    assert unknown.status_code == 404 and "没有找到查询码" in unknown.get_data(as_text=True)
    # The message is the box's own, for a screen reader on it (before, it announced the code alone).
    assert 'id="code-error"' in unknown.get_data(as_text=True)
    assert 'aria-invalid="true" aria-describedby="code-error"' in unknown.get_data(as_text=True)
