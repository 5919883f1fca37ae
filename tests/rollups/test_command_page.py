"""``/command`` in a real browser (headless Chromium through Selenium), against the seeded 纳溪区 demo.

Covered: an anonymous visit is sent to ``/login?next=/command``; signing in through the form as
district command brings the page back with the district's tiles equal to the rollup API's figures
(rates as the page formats them); the children table has one row per town with the API's names and
numbers; clicking a town drills down (crumbs 纳溪区 › town, the town's tiles, its villages); a
screenshot is saved; the browser console has no errors. Without a browser: a signed-in principal
without ``cases:read`` gets 403 at ``/command`` and an anonymous request a 302 to ``/login``.

The browser tests run once per module on an app of their own (a SQLite file, served over HTTP by
werkzeug in a thread), not once per database: the page reads the same API on either.
"""

import re
import shutil
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from gridgov.db import db
from tests.conftest import BROWSER_WAIT_SECONDS, bearer_client, chromium, fresh_app, need_chromium, served

DISTRICT_CODE = "510503"
DISTRICT_NAME = "纳溪区"
COMMAND_USER = "naxi.command"
DEMO_PASSWORD = "naxi-demo-2026"
WAIT_SECONDS = BROWSER_WAIT_SECONDS
OUT_OF_REACH = "2147483647"  # a unit id no one has
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
TILE_IDS = ("tile-cases", "tile-open", "tile-closure-rate", "tile-on-time", "tile-local", "tile-overdue", "tile-risk")


# --- what the page should show, computed from the API's figures --------------------------------


def fixed(value: float, digits: int = 1) -> str:
    """JavaScript's ``Number.prototype.toFixed``: the exact binary value, halves rounded up
    (Python's format rounds an exact half to even: 6.25 → "6.2" where the page shows "6.3")."""
    return str(Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def percent(rate: float, of: int) -> str:
    """As the page shows a rate: "–" when nothing was due (or resolved), not 0.0%."""
    return fixed(rate * 100) + "%" if of else "–"


def expected_tiles(totals: dict) -> dict[str, str]:
    return {
        "tile-cases": str(totals["cases"]),
        "tile-open": str(totals["open"]),
        "tile-closure-rate": percent(totals["closure_rate"], totals["due_to_close"]),
        "tile-on-time": percent(totals["on_time_closure_rate"], totals["due_to_close"]),
        "tile-local": percent(totals["local_resolution_rate"], totals["resolved"]),
        "tile-overdue": str(totals["overdue"]),
        "tile-risk": fixed(totals["risk_score"]),
    }


def expected_row(child: dict) -> list[str]:
    """A children-table row's cells, in the table's column order."""
    t = child["totals"]
    colours = t["deadline_colours"]
    return [
        child["unit"]["name"], str(t["cases"]), str(t["open"]), percent(t["closure_rate"], t["due_to_close"]),
        percent(t["on_time_closure_rate"], t["due_to_close"]), percent(t["local_resolution_rate"], t["resolved"]),
        str(colours["green"]), str(colours["yellow"]), str(colours["red"]), fixed(t["risk_score"]),
    ]


# --- the served app and the browser (once per module) ------------------------------------------


@pytest.fixture(scope="module")
def needs_chromium():
    need_chromium()


@pytest.fixture(scope="module")
def live(needs_chromium, tmp_path_factory):
    """The demo district (150 cases) on a fresh SQLite file, served over HTTP; yields
    (app, base URL). Checked for Chromium first, so that a skip costs no seeding."""
    app = fresh_app(tmp_path_factory.mktemp("command_page"))
    seeded = app.test_cli_runner().invoke(args=["seed", "naxi", "--cases", "150"])
    assert seeded.exit_code == 0, seeded.output
    assert COMMAND_USER in seeded.output  # the demo account the browser signs in as

    with served(app) as base:
        yield app, base
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="module")
def api(live):
    """A test client of the same app holding a bearer token of district command."""
    from gridgov.auth import service as auth_service
    from gridgov.auth.models import Principal

    app, _base = live
    with app.app_context():
        principal = db.session.scalar(sa.select(Principal).where(Principal.username == COMMAND_USER))
        _token, text = auth_service.issue_token(db.session, principal=principal, name="page test", expires_in=None)
        db.session.commit()
    return bearer_client(app, text)


@pytest.fixture(scope="module")
def district_id(live) -> int:
    from gridgov.tree import service as tree_service

    app, _base = live
    with app.app_context():
        return tree_service.get_unit_by_code(db.session, code=DISTRICT_CODE).id


@pytest.fixture(scope="module")
def driver(needs_chromium):
    with chromium(console=True) as browser:
        yield browser


@pytest.fixture(scope="module")
def console(driver):
    """Every browser console entry of the module's tests (get_log hands each entry out once)."""
    entries = []

    def collect():
        entries.extend(driver.get_log("browser"))
        return entries

    return collect


@pytest.fixture(scope="module")
def signed_in(live, driver, console):
    """The browser, sent to /login by /command and signed in there through the form as
    district command; yields the URL /login was opened at."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _app, base = live
    driver.get(base + "/command")
    login_url = driver.current_url
    driver.find_element(By.ID, "username").send_keys(COMMAND_USER)
    driver.find_element(By.ID, "password").send_keys(DEMO_PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    # Not url_contains("/command"): the sign-in page's own address holds it, in ?next=.
    WebDriverWait(driver, WAIT_SECONDS).until(lambda d: urlsplit(d.current_url).path != "/login")
    console()
    return login_url


# --- browser helpers ------------------------------------------------------------------------------


def wait_loaded(driver, unit_id: int) -> None:
    """Until the page has shown ``unit_id``'s data (it sets body[data-loaded-unit] then)."""
    from selenium.webdriver.support.ui import WebDriverWait

    def loaded(d):
        if d.find_element("id", "error").is_displayed():
            raise AssertionError("the page failed to load: " + d.find_element("id", "error").text)
        return d.find_element("tag name", "body").get_attribute("data-loaded-unit") == str(unit_id)

    WebDriverWait(driver, WAIT_SECONDS).until(loaded)


def open_command(live, driver, district_id) -> None:
    _app, base = live
    driver.get(base + "/command")
    wait_loaded(driver, district_id)


def shown_tiles(driver) -> dict[str, str]:
    return {tile: driver.find_element("id", tile).text for tile in TILE_IDS}


def shown_rows(driver) -> dict[int, list[str]]:
    """The children table: unit id → the row's cell texts (the unit's own cases' row aside)."""
    rows = driver.find_elements("css selector", "#children-table tbody tr[data-unit-id]")
    return {int(row.get_attribute("data-unit-id")): [td.text for td in row.find_elements("tag name", "td")]
            for row in rows}


def shown_own_row(driver) -> list[str] | None:
    rows = driver.find_elements("css selector", "#children-table tbody tr.own")
    return [td.text for td in rows[0].find_elements("tag name", "td")] if rows else None


def rollup(api, unit_id: int) -> dict:
    response = api.get(f"/api/v1/units/{unit_id}/rollup")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


# --- the browser tests ----------------------------------------------------------------------------


def test_an_anonymous_visit_is_sent_to_login_and_back_to_command(live, driver, signed_in, district_id):
    login = urlsplit(signed_in)
    assert login.path == "/login"
    assert parse_qs(login.query)["next"] == ["/command"]

    # Signing in returned the browser to the page it asked for, showing the user's own district.
    wait_loaded(driver, district_id)
    assert urlsplit(driver.current_url).path == "/command"
    assert driver.find_element("id", "unit-name").text.startswith(DISTRICT_NAME)
    assert COMMAND_USER in driver.find_element("css selector", "header .who").text


def test_the_tiles_show_the_districts_rollup(live, driver, signed_in, api, district_id):
    open_command(live, driver, district_id)
    figures = rollup(api, district_id)

    assert figures["totals"]["cases"] > 0  # seeded: a page of dashes would not pass either way
    assert shown_tiles(driver) == expected_tiles(figures["totals"])


def test_the_overdue_list_says_how_many_it_leaves_out_and_links_them_all(live, driver, signed_in, api, district_id):
    """Before, it stopped at 20 without a word while the tile counted more."""
    from datetime import timedelta

    from gridgov.db import utcnow
    from gridgov.tree.levels import Level
    from gridgov.tree.models import Unit
    from tests.cases.support import new_case

    app, _base = live
    with app.app_context():  # a fortnight's backlog: cases logged then, never taken up
        micro = db.session.scalar(sa.select(Unit.id).where(Unit.level == Level.MICROGRID).order_by(Unit.id).limit(1))
        for _ in range(25):
            new_case(db.session, micro, now=utcnow() - timedelta(days=14))
        db.session.commit()
    open_command(live, driver, district_id)
    overdue = rollup(api, district_id)["totals"]["overdue"]
    assert overdue >= 25

    rows = driver.find_elements("css selector", "#overdue-table tbody tr")
    more = driver.find_element("id", "overdue-more")
    assert len(rows) == 20 and more.is_displayed()
    assert f"共 {overdue} 件超期" in more.text and "最早到期的 20 件" in more.text
    link = more.find_element("tag name", "a").get_attribute("href")
    exported = api.get(urlsplit(link).path, query_string=parse_qs(urlsplit(link).query))
    assert exported.status_code == 200
    assert len(exported.get_data(as_text=True).strip().splitlines()) == 1 + overdue  # a header, then each case


def test_the_children_table_has_a_row_per_town_with_the_apis_figures(live, driver, signed_in, api, district_id):
    open_command(live, driver, district_id)
    figures = rollup(api, district_id)

    towns = {child["unit"]["id"]: expected_row(child) for child in figures["children"]}
    assert len(towns) == 13  # 纳溪区's towns and streets
    assert {child["unit"]["level"] for child in figures["children"]} == {"town"}
    assert shown_rows(driver) == towns
    # The children add up to the district: the table is the tiles' breakdown.
    assert sum(int(cells[1]) for cells in towns.values()) == figures["totals"]["cases"]


def test_clicking_a_town_drills_down_to_its_villages(live, driver, signed_in, api, district_id, tmp_path_factory):
    open_command(live, driver, district_id)
    district = rollup(api, district_id)
    # The town with the most cases, so the drilled-down figures are not all zeros.
    town = max(district["children"], key=lambda child: child["totals"]["cases"])["unit"]

    driver.find_element("css selector", f'#children-table tbody tr[data-unit-id="{town["id"]}"]').click()
    wait_loaded(driver, town["id"])
    figures = rollup(api, town["id"])

    assert driver.find_element("id", "crumbs").text == f"{DISTRICT_NAME} › {town['name']}"
    assert figures["totals"]["cases"] > 0
    assert shown_tiles(driver) == expected_tiles(figures["totals"])
    villages = {child["unit"]["id"]: expected_row(child) for child in figures["children"]}
    assert villages and {child["unit"]["level"] for child in figures["children"]} == {"village"}
    assert shown_rows(driver) == villages
    assert shown_tiles(driver) != expected_tiles(district["totals"])
    # A reload keeps the way back up (before, the crumbs forgot the district).
    driver.refresh()
    wait_loaded(driver, town["id"])
    assert driver.find_element("id", "crumbs").text == f"{DISTRICT_NAME} › {town['name']}"

    screenshot = tmp_path_factory.mktemp("screenshots") / "command.png"
    assert driver.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 0
    assert screenshot.read_bytes().startswith(b"\x89PNG")
    if ARTIFACTS.is_dir():
        shutil.copyfile(screenshot, ARTIFACTS / "command.png")


def test_the_keyboard_drills_down_and_back_up(live, driver, signed_in, api, district_id):
    """Before, only a mouse could: the rows and the crumbs took no focus (Tab went from 退出 to
    导出 CSV and round again)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    open_command(live, driver, district_id)
    town = rollup(api, district_id)["children"][0]["unit"]
    for _ in range(40):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        if driver.switch_to.active_element.text == town["name"]:
            break
    else:
        pytest.fail(f"Tab never reached {town['name']}")
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    wait_loaded(driver, town["id"])
    # Where the drill went is said (focus on the unit's name) and titled; before, focus fell to
    # the page's start and the title stayed the district's.
    assert driver.switch_to.active_element.get_attribute("id") == "unit-name"
    assert driver.title.startswith(town["name"] + " · 指挥部")

    crumb = driver.find_element("css selector", "#crumbs a")
    assert crumb.text == DISTRICT_NAME and crumb.get_attribute("href").endswith(f"?unit={district_id}")
    crumb.send_keys(Keys.ENTER)
    wait_loaded(driver, district_id)
    assert driver.find_element("id", "crumbs").text == DISTRICT_NAME


def test_a_refresh_keeps_the_keyboard_where_it_was_and_can_be_paused(live, driver, signed_in, api, district_id):
    """Before, every refresh (each 60 s) re-drew the table and threw the keyboard back to the
    page's start, with no way to stop it."""
    open_command(live, driver, district_id)
    town = rollup(api, district_id)["children"][2]["unit"]
    driver.execute_script("arguments[0].focus();", driver.find_element(
        "css selector", f'#children-table a[data-unit-id="{town["id"]}"]'))
    assert driver.switch_to.active_element.text == town["name"]
    driver.execute_async_script("load().then(arguments[0]);")  # what the timer runs
    assert driver.switch_to.active_element.text == town["name"]
    assert driver.switch_to.active_element.find_element("xpath", "ancestor::table").get_attribute("id") == \
        "children-table"

    pause = driver.find_element("id", "pause")
    pause.click()
    assert pause.get_attribute("aria-pressed") == "true" and pause.text == "恢复自动刷新"
    assert driver.execute_script("return state.paused;") is True
    pause.click()
    assert pause.get_attribute("aria-pressed") == "false"


def test_the_trend_is_a_table_too(live, driver, signed_in, api, district_id):
    """Before, the monthly figures were a chart's pixels only: nothing a screen reader could read."""
    open_command(live, driver, district_id)
    driver.find_element("css selector", "details.data summary").click()
    trend = api.get(f"/api/v1/units/{district_id}/trend?interval=month").get_json()["items"]
    rows = [[td.text for td in row.find_elements("tag name", "td")]
            for row in driver.find_elements("css selector", "#trend-table tbody tr")]
    assert rows == [[item["period"][:7], str(item["new"]), str(item["resolved"]), str(item["overdue"])]
                    for item in trend]
    assert any(row[1] != "0" for row in rows)


def test_form_fields_are_outlined_at_3_to_1(live, driver):
    """WCAG 1.4.11: a field's border was #cbd5e1 on white, 1.48:1, on the sign-in page and the
    residents' form alike (one stylesheet)."""
    _app, base = live
    driver.get(base + "/login")
    border, fill = driver.execute_script(
        "const s = getComputedStyle(document.getElementById('username'));"
        "return [s.borderTopColor, getComputedStyle(document.querySelector('main')).backgroundColor];")
    assert contrast(border, fill) >= 3, (border, fill)


def contrast(one: str, other: str) -> float:
    """WCAG's contrast ratio of two CSS rgb()/rgba() colours."""
    def luminance(css):
        channels = [int(part) / 255 for part in css[css.index("(") + 1:css.index(")")].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(one), luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_back_returns_to_the_unit_drilled_from(live, driver, signed_in, api, district_id):
    """Before, drilling down replaced the page's history entry: Back left /command."""
    open_command(live, driver, district_id)
    town = rollup(api, district_id)["children"][0]["unit"]
    driver.find_element("css selector", f'#children-table tbody tr[data-unit-id="{town["id"]}"]').click()
    wait_loaded(driver, town["id"])
    village = rollup(api, town["id"])["children"][0]["unit"]
    driver.find_element("css selector", f'#children-table tbody tr[data-unit-id="{village["id"]}"]').click()
    wait_loaded(driver, village["id"])

    driver.back()
    wait_loaded(driver, town["id"])
    assert driver.find_element("id", "crumbs").text == f"{DISTRICT_NAME} › {town['name']}"
    driver.back()
    wait_loaded(driver, district_id)
    assert "/command" in driver.current_url


def test_a_link_to_a_unit_out_of_reach_shows_ones_own_and_says_why(live, driver, signed_in, district_id):
    """Before, `?unit=` of another district (or `?unit=abc`) left the page saying "加载中…" for
    good, with the raw path and status."""
    _app, base = live
    for unit in (OUT_OF_REACH, "abc"):
        driver.get(f"{base}/command?unit={unit}")
        wait_loaded(driver, district_id)
        assert f"unit={district_id}" in driver.current_url
        notice = driver.find_element("id", "notice")
        if unit == "abc":  # no unit asked for at all: nothing to explain
            assert not notice.is_displayed()
        else:
            assert notice.is_displayed() and "无权查看该单位或单位不存在" in notice.text


def test_a_towns_own_cases_have_a_row_so_that_the_table_adds_up(live, driver, signed_in, api, district_id):
    """A resident's report made at a village's own code, or a case logged at the town itself,
    happened in no child. Before, the table (and the CSV) left them out and did not add up."""
    town = rollup(api, district_id)["children"][0]["unit"]
    logged = api.post("/api/v1/cases", json={"title": "镇政府门前聚集", "category": "petition", "risk_grade": "orange",
                                             "source": "hotline", "origin_unit_id": town["id"]})
    assert logged.status_code == 201, logged.get_data(as_text=True)
    _app, base = live
    driver.get(f"{base}/command?unit={town['id']}")
    wait_loaded(driver, town["id"])
    figures = rollup(api, town["id"])

    assert figures["own"]["cases"] == 1
    assert shown_own_row(driver) == expected_row({"unit": {"name": "本级直接发生"}, "totals": figures["own"]})
    villages = sum(int(cells[1]) for cells in shown_rows(driver).values())
    assert villages + figures["own"]["cases"] == figures["totals"]["cases"]


def test_the_browser_console_has_no_errors(live, driver, signed_in, district_id, console):
    open_command(live, driver, district_id)

    # The 404s of the unit out of reach were asked for (test_a_link_to_a_unit_out_of_reach…).
    severe = [entry for entry in console() if entry["level"] == "SEVERE" and OUT_OF_REACH not in entry["message"]]
    assert severe == []


# --- without a browser (per database, through the Flask test client) ---------------------------


def test_the_risk_maps_points_say_by_shape_too_what_their_colour_says(live, driver, signed_in, district_id):
    """Found by a phone audit: colour alone told overdue (red) from open (orange), in the risk
    grades' colours, with no legend."""
    open_command(live, driver, district_id)
    points = driver.execute_script(
        "return riskChart.getOption().series[0].data.map((p) => [p.symbol, p.value[3], p.value[4]]);")
    assert points
    for symbol, open_cases, overdue in points:
        assert symbol == ("triangle" if overdue else "circle" if open_cases else "diamond"), points
    legend = driver.find_element("id", "riskmap").find_element("xpath", "following-sibling::p").text
    assert "▲ 红：有超期案件" in legend and "● 橙：有在办案件" in legend and "◆ 绿：无在办案件" in legend


def test_behind_a_proxys_prefix_the_page_signs_in_and_loads_within_it(live, needs_chromium, district_id):
    """Found by a phone audit: the page read the API and sent to sign-in at the site's root, so
    under a proxy's prefix (/gg/command) it failed to load, and sign-in led out of the prefix."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from werkzeug.exceptions import NotFound
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    app, _base = live
    with served(DispatcherMiddleware(NotFound(), {"/gg": app})) as base, chromium() as browser:
        browser.get(base + "/gg/command")
        assert urlsplit(browser.current_url).path == "/gg/login"
        browser.find_element(By.ID, "username").send_keys(COMMAND_USER)
        browser.find_element(By.ID, "password").send_keys(DEMO_PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        # Not url_contains("/command"): the sign-in page's own address holds it, in ?next=.
        WebDriverWait(browser, WAIT_SECONDS).until(lambda d: urlsplit(d.current_url).path != "/gg/login")
        assert urlsplit(browser.current_url).path == "/gg/command"
        wait_loaded(browser, district_id)
        assert browser.find_element("id", "unit-name").text.startswith(DISTRICT_NAME)


def test_an_anonymous_request_is_redirected_to_login(anonymous):
    response = anonymous.get("/command")

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == ["/command"]


def test_a_principal_without_cases_read_gets_403(app, make_principal):
    password = "correct horse battery"
    make_principal("admin", password=password, username="admin.nocases")
    browser = app.test_client()
    token = CSRF_FIELD.search(browser.get("/login").get_data(as_text=True)).group(1)
    signed = browser.post("/login", data={"csrf_token": token, "username": "admin.nocases", "password": password})
    assert signed.status_code == 302  # signed in: the 403 below is about the permission, not the session

    response = browser.get("/command")

    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "无权查看" in page and "退出登录" in page and "纳安解纷码" not in page


def test_the_page_is_kept_by_no_cache_so_back_after_signing_out_shows_nothing(app, make_principal, small_tree):
    password = "correct horse battery"
    make_principal("district_command", "510503", password=password, username="command.cache")
    browser = app.test_client()
    token = CSRF_FIELD.search(browser.get("/login").get_data(as_text=True)).group(1)
    browser.post("/login", data={"csrf_token": token, "username": "command.cache", "password": password})

    response = browser.get("/command")

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
