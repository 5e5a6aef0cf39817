"""Chromium, driven by Selenium through Debian's chromium-driver, as an expert uses it.

The driver is always named (``/usr/bin/chromedriver``) and ``SE_AVOID_STATS`` is set, so
that Selenium Manager never runs: it would reach the internet, and nothing may leave this
machine. Without Chromium the tests skip, saying what to install; with
``ANNOTATE_REQUIRE_BROWSER=1`` (CI) they fail instead. A failing test leaves a screenshot
of each browser window in its tmp_path (named in the failure).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.interactive import plain

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
OPTIONS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
    "--window-size=1400,900",
)  # fmt: skip
BLINK_BYTES = 1500  # what a still screen may draw in a second (a blinking cursor)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


class Browser:
    """One Chromium window: what it shows, and the terminal screen its websocket received.

    The terminal is drawn on a canvas, so the screen is read from the websocket frames
    the browser received (Chromium's own network log), control sequences removed.
    """

    def __init__(self, driver: Any, shots: Path) -> None:
        self.driver = driver
        self.shots = shots
        self.frames = bytearray()

    def _pump(self) -> None:
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.webSocketFrameReceived":
                frame = message["params"]["response"]
                if frame["opcode"] == 2:  # binary: the terminal's output
                    self.frames.extend(base64.b64decode(frame["payloadData"]))

    def screen(self) -> str:
        """All the terminal output received since ``forget``, as text."""
        self._pump()
        return plain(bytes(self.frames))

    def forget(self) -> None:
        """Start reading the screen afresh (before a new page or a new screen)."""
        self._pump()
        self.frames.clear()

    def wait(self, condition: Callable[[], object], what: str, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            found = condition()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; screen ends: "
                                     f"{self.screen()[-600:]!r}")  # fmt: skip
            time.sleep(0.1)

    def wait_screen(self, text: str, timeout: float = 60.0) -> str:
        """The screen once TEXT is on it."""
        return str(self.wait(lambda: text in self.screen() and self.screen(), repr(text), timeout))

    def settle(self, quiet: float = 1.0, timeout: float = 30.0) -> None:
        """Wait until the terminal has drawn next to nothing for QUIET seconds.

        (A blinking cursor redraws a cell twice a second: a few hundred bytes.)
        """
        deadline = time.monotonic() + timeout
        sizes: list[tuple[float, int]] = []
        while time.monotonic() < deadline:
            self._pump()
            now = time.monotonic()
            sizes.append((now, len(self.frames)))
            window = [size for when, size in sizes if when >= now - quiet]
            if sizes[0][0] <= now - quiet and window[-1] - window[0] < BLINK_BYTES:
                return
            time.sleep(0.1)

    def type(self, *keys: str) -> None:
        """Type KEYS into the terminal, as into its (hidden) input field."""
        from selenium.webdriver.common.by import By

        field = self.driver.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea")
        field.send_keys(*keys)

    def chord(self, modifier: str, key: str) -> None:
        """Press MODIFIER+KEY (e.g. Ctrl+S) in the terminal."""
        from selenium.webdriver.common.action_chains import ActionChains

        self.type("")  # focus the terminal
        ActionChains(self.driver).key_down(modifier).send_keys(key).key_up(modifier).perform()

    def shoot(self, name: str) -> list[Path]:
        """A screenshot of every window; their paths."""
        paths = []
        for number, handle in enumerate(self.driver.window_handles):
            self.driver.switch_to.window(handle)
            path = self.shots / f"{name}-{number}.png"
            self.driver.save_screenshot(str(path))
            paths.append(path)
        return paths


def _unavailable() -> str | None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    if missing:
        return f"{' and '.join(missing)} missing: apt-get install chromium chromium-driver"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium missing: pip install -e '.[dev]'"
    return None


@pytest.fixture
def browser(request: pytest.FixtureRequest, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:  # fmt: skip
    """A fresh headless Chromium (its own profile), closed after the test."""
    reason = _unavailable()
    if reason:
        if os.environ.get("ANNOTATE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"a browser is required here: {reason}")
        pytest.skip(f"browser tests skipped: {reason}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_AVOID_STATS", "true")  # Selenium Manager would phone home
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for option in OPTIONS:
        options.add_argument(option)
    profile = tmp_path / "chromium-profile"
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    browser = Browser(driver, tmp_path)
    try:
        yield browser
    finally:
        failed = getattr(request.node, "report_call", None)
        if failed is not None and failed.failed:
            shots = browser.shoot("failure")
            print("screenshots:", *shots)
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
