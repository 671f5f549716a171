"""The console in a real browser (Debian's chromium through selenium), served by the real daemon
(``customs-monitor run`` as a child process) over the bundled data published month by month.

The click-through: find an alert, open its series, sign in, add a silence after its preview,
publish the next release, and see that release's alert recorded as silenced (and not sent)."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.daemon.helpers import DaemonProcess, free_port, wait_for
from tests.web import scenario
from tests.web.browser import chromium, missing

pytestmark = pytest.mark.slow

TOKEN = "analyst-token-5f1d0c7e9a2b4c68"


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[Any]:
    why = missing()
    if why:
        pytest.fail(why)
    driver = chromium(tmp_path_factory.mktemp("profile"))
    yield driver
    driver.quit()


class Console:
    def __init__(self, folder: Path, url: str, daemon: DaemonProcess) -> None:
        self.folder, self.url, self.daemon = folder, url, daemon

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.url + path, timeout=30) as answer:
            return str(answer.read().decode())

    def publish(self, until: str) -> None:
        scenario.publish(self.folder / "published.csv", until)

    def evaluated(self, number: int) -> bool:
        try:
            page = self.get("/releases")
        except OSError:  # not listening yet
            return False
        return f'href="/releases/{number}"' in page and "pending" not in page

    def wait_for_release(self, number: int) -> None:
        wait_for(
            lambda: self.evaluated(number),
            90,
            f"release {number} evaluated (daemon log: {self.daemon.log_path})",
            every=0.5,
        )


@pytest.fixture(scope="module")
def console(tmp_path_factory) -> Iterator[Console]:
    folder = tmp_path_factory.mktemp("daemon")
    (folder / "tokens").write_text(f"# console users\nanalyst:{TOKEN}\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    scenario.publish(folder / "published.csv", "2025-09")
    config = scenario.write_config(
        folder,
        web={"port": port, "token_file": "tokens", "public_url": url},
        schedule="@every 5s",
    )
    daemon = DaemonProcess(config, folder / "daemon.log")
    site = Console(folder, url, daemon)
    try:
        site.wait_for_release(1)
        yield site
    finally:
        daemon.signal(15)
        try:
            assert daemon.wait(60) == 0, daemon.log()
        finally:
            daemon.kill()


def click_and_wait(driver: Any, element: Any) -> None:
    """Click something that loads a page, and wait until the old page is gone: reading the
    next page before that would find the old one's elements (stale on a loaded machine)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 60).until(lambda _: _gone(old))


def _gone(element: Any) -> bool:
    """Whether ``element``'s page has been replaced. Mid-navigation chromedriver may answer
    "Node with given id does not belong to the document" instead of a stale element: gone too."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False


def click_link(driver: Any, text: str) -> None:
    from selenium.webdriver.common.by import By

    click_and_wait(driver, driver.find_element(By.PARTIAL_LINK_TEXT, text))


def test_find_an_alert_silence_it_and_see_the_next_release_silenced(browser, console) -> None:
    """Alerts -> the July US high -> its series -> sign in -> preview -> add the silence ->
    the next release's US high is recorded as silenced and reaches no channel."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    d = browser
    d.get(console.url + "/alerts")
    Select(d.find_element(By.NAME, "rule")).select_by_visible_text("magnets-six-month-high")
    d.find_element(By.NAME, "partner").send_keys("US")
    click_and_wait(d, d.find_element(By.CSS_SELECTOR, "form.filters button"))
    assert "2 alerts matching rule=magnets-six-month-high, partner=US" in d.page_source

    click_link(d, "United States hit a six-month high in July 2025")
    assert "619 t in July 2025" in d.find_element(By.CLASS_NAME, "lead").text
    chart = d.find_element(By.CSS_SELECTOR, "img.chart")
    assert d.execute_script("return arguments[0].naturalWidth", chart) > 0  # the PNG loaded

    click_link(d, "CN → US · 85051110")
    assert d.find_element(By.TAG_NAME, "h1").text.startswith(
        "China's exports of rare-earth permanent magnets to the United States"
    )
    rows = [r.text for r in d.find_elements(By.CSS_SELECTOR, "table.vintages tbody tr")]
    assert rows[0].startswith("2025-09 420 t")
    rules = d.find_element(By.CSS_SELECTOR, "ul.rules").text
    assert "magnets-six-month-high · period_high · warning fired on 2025-07" in rules

    d.back()
    click_link(d, "Silence alerts like this")
    click_link(d, "Sign in")
    d.find_element(By.NAME, "token").send_keys(TOKEN)
    click_and_wait(d, d.find_element(By.CSS_SELECTOR, "form.stack button"))
    assert d.find_element(By.NAME, "rule").get_attribute("value") == "magnets-six-month-high"
    matches = d.find_element(By.NAME, "matches").get_attribute("value")
    assert matches.splitlines() == ["partner=US", "commodity=85051110"]
    d.find_element(By.NAME, "until").send_keys("7d")
    d.find_element(By.NAME, "comment").send_keys("US licences: known story")
    click_and_wait(d, d.find_element(By.CSS_SELECTOR, "button[value=preview]"))
    preview = d.find_element(By.TAG_NAME, "main").text
    assert "2 match it, on 1 series" in preview  # the US highs of July 2019 and July 2025
    assert "hit a six-month high in July 2025" in preview
    click_and_wait(d, d.find_element(By.CSS_SELECTOR, "button[value=add]"))
    flash = d.find_element(By.CSS_SELECTOR, ".flash.ok").text
    assert flash.startswith("Silence 1 added: rule=magnets-six-month-high, commodity=85051110")
    assert "analyst" in d.find_element(By.CSS_SELECTOR, "main table").text

    console.publish("2025-10")
    console.wait_for_release(2)

    d.get(console.url + "/alerts?" + urlencode({"period": "2025-10", "partner": "US"}))
    cards = {
        c.find_element(By.TAG_NAME, "h2").text: c.text
        for c in d.find_elements(By.CSS_SELECTOR, "article.card")
    }
    high = next(t for h, t in cards.items() if "six-month high in October 2025" in h)
    assert "silenced" in high and "silenced: recorded, not sent" in high
    jump = next(t for h, t in cards.items() if "month on month" in h)
    assert "firing" in jump and re.search(r"archive sent \d{4}-\d{2}-\d{2}", jump)
    archived = "".join(p.read_text() for p in (console.folder / "sent").glob("*.json"))
    assert "six-month high in October 2025" not in archived
    assert "month on month" in archived


def test_links_in_messages_open_the_alert_page(browser, console) -> None:
    """The console link in an archived Slack message opens that alert's page."""
    from selenium.webdriver.common.by import By

    message = json.loads(sorted((console.folder / "sent").glob("*r1*.json"))[0].read_text())
    text = " ".join(b["text"]["text"] for b in message["blocks"] if b["type"] == "section")
    link = re.search(r"<(http://127\.0\.0\.1:\d+/alerts/[^|>]+)\|Open in the console>", text)
    assert link, text
    browser.get(link.group(1))
    assert browser.find_element(By.TAG_NAME, "h1").text in text


def test_sources_page_shows_the_daemons_next_poll(browser, console) -> None:
    """Served by the daemon, "next poll" is its scheduler's next run (every 5 s here)."""
    from selenium.webdriver.common.by import By

    browser.get(console.url + "/sources")
    row = browser.find_element(By.CSS_SELECTOR, "main tbody tr").text
    assert "magnets" in row and "@every 5s" in row
    assert re.search(r"in [0-5]s|now", row), row


PAGES = ("/alerts", "/releases", "/releases/1", "/silences", "/outbox", "/sources", "/activity")


def test_pages_fit_a_phone(tmp_path, console) -> None:
    """At 390 px wide no page scrolls sideways (wide tables scroll inside their box)."""
    from selenium.webdriver.common.by import By

    why = missing()
    if why:
        pytest.fail(why)
    phone = chromium(tmp_path / "profile", width=390, height=844)
    try:
        series = re.search(r'href="(/series\?[^"]+)"', console.get("/alerts"))
        alert = re.search(r'href="(/alerts/[^"?]+)"', console.get("/alerts"))
        assert series and alert
        for path in (*PAGES, series.group(1).replace("&amp;", "&"), alert.group(1)):
            phone.get(console.url + path)
            width = phone.execute_script("return document.documentElement.scrollWidth")
            inner = phone.execute_script("return window.innerWidth")
            assert width <= inner, (path, width, inner)
            assert phone.find_element(By.CSS_SELECTOR, "header nav").is_displayed()
    finally:
        phone.quit()


def test_no_page_breaks_its_content_security_policy(browser, console) -> None:
    """Chromium reports no CSP violation (nor any other console error) on any page."""
    browser.get_log("browser")  # drop what earlier tests left
    for path in PAGES:
        browser.get(console.url + path)
        time.sleep(0.2)
    entries = browser.get_log("browser")
    assert [e for e in entries if e["level"] in ("SEVERE", "WARNING")] == []
