"""Headless Debian Chromium through chromedriver, as the book test drives it."""

from __future__ import annotations

import shutil

import pytest


def require_chromium() -> tuple[str, str]:
    """Paths of chromium and chromedriver; skips the test when either is absent.

    CI installs both with ``make browser`` (Debian packages), so there the tests run.
    """
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        pytest.skip("chromium and chromedriver are not installed (run `make browser`)")
    return binary, driver


def chromium_driver(width: int = 1200, height: int = 900):
    """A headless Chromium WebDriver (see :func:`require_chromium`)."""
    binary, driver = require_chromium()
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


def check_explorer(browser) -> int:
    """Click through every offline explorer on the open page; returns how many there are.

    For each :mod:`marsutils.book.explorer` component: its pictures decode, and choosing another
    method, another explained class and another image changes the overlay's ``src`` to the map
    the component holds for that choice. Its script must have run to the end (``data-ready``);
    console messages are not checked here, since a book's theme logs its own.
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    roots = browser.find_elements(By.CSS_SELECTOR, "div.mars-xai-explorer")
    for root in roots:
        data = browser.execute_script(
            "return JSON.parse(arguments[0].querySelector('script[data-role=\"data\"]')"
            ".textContent)",
            root,
        )

        def control(role, root=root):
            return root.find_element(By.CSS_SELECTOR, f'[data-role="{role}"]')

        def expected(method: str, root=root, data=data) -> str | None:
            image = data["images"][int(control("image", root).get_attribute("value"))]
            target = control("target", root).get_attribute("value")
            return image["maps"].get(method, {}).get(target)

        def overlay(root=root) -> str | None:
            return control("overlay", root).get_dom_attribute("src")

        assert root.get_dom_attribute("data-ready") == "1", "the explorer's script ran"
        browser.execute_script("arguments[0].scrollIntoView()", root)
        loaded = browser.execute_script(
            "return Array.from(arguments[0].querySelectorAll('img'))"
            ".every(i => i.complete && i.naturalWidth > 0)",
            root,
        )
        assert loaded, "every picture of the explorer decodes"
        methods = [m for m, *_ in data["methods"]]
        first = overlay()
        assert first and first == expected(methods[0])
        if len(methods) > 1:
            control(f"method-{methods[1]}").click()
            assert overlay() == expected(methods[1]) and overlay() != first
        targets = Select(control("target"))
        if len(targets.options) > 1:
            before = overlay()
            targets.select_by_index(1)
            assert overlay() == expected(methods[min(1, len(methods) - 1)])
            assert overlay() != before
        images = Select(control("image"))
        if len(images.options) > 1:
            before = control("image-under").get_dom_attribute("src")
            images.select_by_index(len(images.options) - 1)
            assert control("image-under").get_dom_attribute("src") != before
    return len(roots)
