"""Screenshots of every console page for docs/console.md, made by code, never by hand.

    python docs/console/screenshots.py            # writes docs/console/*.png

What it shows is real: the pipeline runs three releases of the bundled data (China's rare-earth
magnet exports, monitor/data/) through a file channel and a webhook whose local server refuses
every message (so the outbox has failures to show), a signed-in analyst adds a silence, and a
fourth release brings an alert that the silence mutes. The scenario is tests/web/scenario.py's
(one revision, taken from the dataset's own notes). Needs the web and test extras and Debian's
chromium (apt-get install chromium chromium-driver); nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from monitor.clock import ManualClock  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.daemon.service import Service  # noqa: E402
from monitor.render.links import alert_path, series_path  # noqa: E402
from monitor.web import actions  # noqa: E402
from monitor.web.backend import StaticBackend  # noqa: E402
from monitor.web.options import WebOptions  # noqa: E402
from monitor.web.server import ConsoleServer  # noqa: E402
from tests.notify.servers import HttpPeer, Reply  # noqa: E402
from tests.web import scenario  # noqa: E402
from tests.web.browser import chromium, missing  # noqa: E402

TOKEN = "analyst-token-for-screenshots-0001"
RELEASES = (
    (datetime(2025, 8, 20, 2, 0, tzinfo=UTC), "2025-07", False),
    (datetime(2025, 10, 20, 2, 0, tzinfo=UTC), "2025-09", False),
    (datetime(2025, 11, 20, 2, 0, tzinfo=UTC), "2025-10", True),
    (datetime(2025, 12, 20, 2, 5, tzinfo=UTC), "2025-11", True),
)
US = {**scenario.SERIES, "partner": "US"}
US_JULY_HIGH = "magnets-six-month-high|CN|US|85051110|export|net_weight_kg|2025-07"


def build(folder: Path, hook: HttpPeer) -> tuple[Service, Any, ManualClock]:
    (folder / "tokens").write_text(f"analyst:{TOKEN}\n")
    path = scenario.write_config(
        folder,
        calendar=True,
        channels={"desk": {"type": "webhook", "url": hook.url + "/hooks/desk"}},
    )
    config = load_config(str(path))
    clock = ManualClock(RELEASES[0][0])
    daemon = Service(config, clock=clock)
    for i, (when, until, revised) in enumerate(RELEASES):
        clock.set(when)
        if i == len(RELEASES) - 1:
            # Before the last release an analyst silences the world total's highs for a while.
            actions.add_silence(
                daemon.store,
                actions.SilenceForm.parse(
                    "magnets-six-month-high", "partner=WORLD", "30d", "world total: in the note"
                ),
                actions.Actor("analyst", "127.0.0.1"),
                clock.now(),
                daemon.rules,
            )
        scenario.publish(folder / "published.csv", until, revised=revised)
        daemon.run_once()
    clock.set(datetime(2025, 12, 20, 3, 2, tzinfo=UTC))
    return daemon, config, clock


def fit(driver: Any, width: int, max_height: int) -> None:
    """Grow the window to the page's height (up to ``max_height``) for a whole-page shot."""
    height, frame = driver.execute_script(
        "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]"
    )
    driver.set_window_size(width, min(max(height, 400), max_height) + frame)


def shoot(driver: Any, url: str, out: Path, *, width: int = 1280, max_height: int = 2600) -> None:
    driver.set_window_size(width, 400)  # measured from a short window: no blank tail
    driver.get(url)
    fit(driver, width, max_height)
    driver.save_screenshot(str(out))
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    why = missing()
    if why:
        print(why, file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    hook = HttpPeer()
    hook.default = Reply(404, "no_service")
    hook.start()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        daemon, config, clock = build(folder, hook)
        backend = StaticBackend(daemon.store, config, daemon.rules, daemon.templates, clock)
        options = WebOptions(enabled=True, port=0, token_file=str(folder / "tokens"))
        pages = {
            "alerts": "/alerts",
            "alert": alert_path(US_JULY_HIGH),
            "series": series_path("magnets", US),
            "releases": "/releases",
            "release": "/releases/4",
            "silences": "/silences",
            "outbox": "/outbox",
            "sources": "/sources",
        }
        with ConsoleServer(backend, options) as server:
            desktop = chromium(folder / "desktop", width=1280, height=900)
            try:
                from selenium.webdriver.common.by import By

                desktop.get(server.url + "/login?next=/alerts")
                desktop.find_element(By.NAME, "token").send_keys(TOKEN)
                desktop.find_element(By.CSS_SELECTOR, "form.stack button").click()
                for name, path in pages.items():
                    shoot(desktop, server.url + path, args.out / f"{name}.png")
                preview = "/silences?" + urlencode(
                    [("rule", "magnets-six-month-high"), ("match", "partner=US")]
                )
                desktop.set_window_size(1280, 400)
                desktop.get(server.url + preview)
                desktop.find_element(By.NAME, "until").send_keys("14d")
                desktop.find_element(By.NAME, "comment").send_keys("US licences: known story")
                desktop.find_element(By.CSS_SELECTOR, "button[value=preview]").click()
                fit(desktop, 1280, 2600)
                desktop.save_screenshot(str(args.out / "silence-preview.png"))
                print(f"wrote {args.out / 'silence-preview.png'}")
            finally:
                desktop.quit()
            phone = chromium(folder / "phone", width=390, height=844)
            try:
                for name in ("alerts", "series"):
                    out = args.out / f"phone-{name}.png"
                    shoot(phone, server.url + pages[name], out, width=390, max_height=1800)
            finally:
                phone.quit()
        daemon.close()
    hook.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
