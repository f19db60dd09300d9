"""Headless Debian Chromium through chromedriver, as the book test drives it."""

from __future__ import annotations

import shutil

import pytest


def chromium_driver(width: int = 1200, height: int = 900):
    """A headless Chromium WebDriver; skips the test when chromium or chromedriver is absent.

    CI installs both with ``make browser`` (Debian packages), so there the tests run.
    """
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        pytest.skip("chromium and chromedriver are not installed (run `make browser`)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--window-size={width},{height}"]  # fmt: skip
    for flag in flags:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def severe_console_messages(browser) -> list[str]:
    """The page's console errors (uncaught exceptions, failed loads) since the last call."""
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
