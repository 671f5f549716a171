"""Debian's headless chromium driven by selenium, with nothing reaching the network: no
component updates, no sync, no first-run fetches, a fresh profile per browser. Used by the
browser tests and by docs/console/screenshots.py."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def missing() -> str | None:
    """Why no browser can start here (None when it can)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is missing: apt-get install -y chromium chromium-driver (.ci/run does)"
    return None


def chromium(profile: Path | None = None, *, width: int = 1280, height: int = 900) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # Selenium Manager would look for a driver online; the paths below are all it needs.
    os.environ.setdefault("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    user_data = profile or Path(tempfile.mkdtemp(prefix="chromium-"))
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={user_data}",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
        "--lang=en-GB",
    ):
        options.add_argument(arg)
    # Console messages (CSP violations among them) are read back by the tests.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver
