"""The resident's report page (/r/<token>) in a real browser (headless Chromium through Selenium):
Back after the receipt and 提交 again files no second report (the page's one script keeps the
sent form's id), and a browser that keeps no cookies reports like any other.
"""

import pytest
import sqlalchemy as sa

from gridgov.db import db
from gridgov.reports import service as report_service
from gridgov.reports.models import Report
from gridgov.tree import service as tree_service
from gridgov.tree import transfer
from tests.conftest import BROWSER_WAIT_SECONDS, SMALL_TREE_CSV, chromium, fresh_app, need_chromium, served

WAIT_SECONDS = BROWSER_WAIT_SECONDS
M111 = "510503001001001001"


@pytest.fixture(scope="module")
def needs_chromium():
    need_chromium()


@pytest.fixture(scope="module")
def live(needs_chromium, tmp_path_factory):
    """The small tree on a fresh SQLite file, served over HTTP; yields (app, report page URL)."""
    app = fresh_app(tmp_path_factory.mktemp("report_page"))
    with app.app_context():
        transfer.import_csv(db.session, data=SMALL_TREE_CSV.encode())
        unit = tree_service.get_unit_by_code(db.session, code=M111)
        token = report_service.report_code(db.session, unit=unit).token
        db.session.commit()
    with served(app) as base:
        yield app, f"{base}/r/{token}"
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def phone():
    with chromium(phone=True) as browser:
        yield browser


@pytest.fixture
def phone_without_cookies():
    with chromium(phone=True, cookies=False) as browser:
        yield browser


def reports_made(app) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.execute(sa.select(Report.tracking_code, Report.description).order_by(Report.id)).all()
        db.session.rollback()
        return [tuple(row) for row in rows]


def fill_and_send(driver, description: str) -> str:
    """Choose a category, type the description, tap 提交; the tracking code on the receipt."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    Select(driver.find_element(By.ID, "category")).select_by_value("family_neighbour")
    box = driver.find_element(By.ID, "description")
    box.clear()
    box.send_keys(description)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(driver, WAIT_SECONDS).until(ec.presence_of_element_located((By.ID, "tracking-code")))
    return driver.find_element(By.ID, "tracking-code").text


def test_back_after_the_receipt_and_send_again_files_one_report(live, phone):
    """Before, the reloaded page had a new form id, and the same words became a second report
    with a second tracking code."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    app, page = live
    before = len(reports_made(app))
    phone.get(page)
    first = fill_and_send(phone, "楼上每晚装修到十一点，协商无果。")

    phone.back()
    WebDriverWait(phone, WAIT_SECONDS).until(ec.presence_of_element_located((By.ID, "description")))
    assert phone.find_element(By.ID, "description").get_attribute("value") == "楼上每晚装修到十一点，协商无果。"
    phone.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(phone, WAIT_SECONDS).until(ec.presence_of_element_located((By.ID, "tracking-code")))

    assert phone.find_element(By.ID, "tracking-code").text == first
    assert reports_made(app)[before:] == [(first, "楼上每晚装修到十一点，协商无果。")]

    # Back again, a phone number added: not dropped under the first receipt (before, the same
    # words took the first form's id whatever else had changed), but a report of its own.
    phone.back()
    WebDriverWait(phone, WAIT_SECONDS).until(ec.presence_of_element_located((By.ID, "phone")))
    phone.find_element(By.ID, "phone").send_keys("13957318426")
    phone.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(phone, WAIT_SECONDS).until(ec.presence_of_element_located((By.ID, "tracking-code")))
    second = phone.find_element(By.ID, "tracking-code").text
    assert second != first
    with app.app_context():
        assert db.session.scalar(sa.select(Report.phone).where(Report.tracking_code == second)) == "13957318426"
        db.session.rollback()

    # A new visit is a new report.
    phone.get(page)
    assert fill_and_send(phone, "楼道堆放杂物。") not in (first, second)
    assert len(reports_made(app)) == before + 3


def test_a_browser_that_keeps_no_cookies_reports(live, phone_without_cookies):
    """Before, the form's check lived in a session cookie: such a browser was told "页面已过期"
    on every try."""
    app, page = live
    before = len(reports_made(app))
    phone_without_cookies.get(page)
    code = fill_and_send(phone_without_cookies, "路口路灯坏了一周。")
    assert reports_made(app)[before:] == [(code, "路口路灯坏了一周。")]


def test_an_expired_page_can_be_sent_again_with_scripts_on(live, phone):
    """Before, the script put the expired form's id back on the refreshed page: every 提交
    answered "页面已过期" again."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    app, page = live
    before = len(reports_made(app))
    phone.get(page)
    Select(phone.find_element(By.ID, "category")).select_by_value("other")
    phone.find_element(By.ID, "description").send_keys("井盖缺失，夜间危险。")
    phone.execute_script('document.getElementById("submission").value = "stale.AAAAAA.BBBBBB";')
    phone.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(phone, WAIT_SECONDS).until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "页面已过期"))

    phone.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()  # as the page asks
    WebDriverWait(phone, WAIT_SECONDS).until(ec.presence_of_element_located((By.ID, "tracking-code")))
    assert reports_made(app)[before:] == [(phone.find_element(By.ID, "tracking-code").text, "井盖缺失，夜间危险。")]
