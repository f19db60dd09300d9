"""The live XAIExplorer widget in a real JupyterLab, driven through headless Chromium.

A JupyterLab server (127.0.0.1 only, a random token, its own config and runtime folders) serves a
temporary folder holding one small notebook that builds an explorer on a tiny synthetic model.
Chromium opens it, runs it through the Run menu, then changes the method and the explained class
and checks that the picture the widget shows changes each time. Every wait is bounded, and the
server (with its kernel) is always stopped.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
SERVER_START_S = 90
NOTEBOOK_LOAD_S = 120
WIDGET_S = 180
CHANGE_S = 60

BUILD_EXPLORER = """\
import torch

from marsutils.book.widgets import explore, on_demand
from marsutils.xai.cache import compute_attribution_set
from marsutils.xai.methods import AttributionSettings
from marsutils.xai.testing import TinyCNN

torch.manual_seed(0)
model = TinyCNN(num_classes=3).eval()
inputs = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(4))
settings = AttributionSettings(n_steps=4, blur_sigma=3.0)
attributions = compute_attribution_set(
    model, inputs, image_ids=[f"img{i}" for i in range(4)], settings=settings
)
images = inputs[:, 0].numpy()
images = (images - images.min()) / (images.max() - images.min())
explorer = explore(
    images,
    attributions,
    y_true=[0, 1, 2, 0],
    class_names=["crater", "dune", "other"],
    compute=on_demand(model, inputs, settings),
)
explorer"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(condition, timeout: float, what: str, poll: float = 0.5):
    """Poll ``condition()`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture()
def lab(tmp_path):
    """A JupyterLab server on 127.0.0.1 serving ``tmp_path/root``; yields ``(url, token)``."""
    from _chromium import require_chromium

    require_chromium()  # no server without a browser to drive it
    root = tmp_path / "root"
    root.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(BUILD_EXPLORER)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, root / "widget.ipynb")
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "MPLBACKEND": "Agg",
    }
    command = [
        str(Path(sys.executable).with_name("jupyter-lab")),
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.terminals_enabled=False",
        # nothing reaches the network: no update check, no news feed, no PyPI extension manager
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=None",
        "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        command.append("--allow-root")
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            if server.poll() is not None:
                pytest.fail(f"jupyter lab exited: {(tmp_path / 'server.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        _wait(up, SERVER_START_S, "the JupyterLab server to answer")
        yield url, token
    finally:
        server.send_signal(signal.SIGTERM)  # the server shuts its kernels down
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):  # what is left of its session (a kernel)
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        log.close()


def _picture(browser, img) -> str:
    """The pixels the widget's ``<img>`` shows, as a PNG data URL drawn through a canvas."""
    return browser.execute_script(
        "var i = arguments[0]; if (!i.complete || !i.naturalWidth) { return null; }"
        "var c = document.createElement('canvas'); c.width = i.naturalWidth;"
        "c.height = i.naturalHeight; c.getContext('2d').drawImage(i, 0, 0);"
        "return c.toDataURL('image/png');",
        img,
    )


@pytest.mark.slow
def test_live_widget_rerenders_in_jupyterlab(lab):
    from _chromium import chromium_driver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    url, token = lab
    browser = chromium_driver(1400, 1000)
    try:
        browser.get(f"{url}/lab/tree/widget.ipynb?token={token}")

        def kernel_idle():
            cells = browser.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-Cell")
            idle = browser.find_elements(
                By.CSS_SELECTOR,
                '.jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator[data-status="idle"]',
            )
            name = browser.find_elements(
                By.CSS_SELECTOR, ".jp-NotebookPanel-toolbar .jp-KernelName"
            )
            return cells and idle and name and "ipykernel" in name[0].text

        def menu(label: str, item: str):
            def click_menu():
                for entry in browser.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item"):
                    if entry.text.strip() == label:
                        entry.click()
                        return True
                return False

            _wait(click_menu, 10, f"the {label} menu")

            def click_item():
                for entry in browser.find_elements(By.CSS_SELECTOR, ".lm-Menu-item"):
                    if entry.text.strip().startswith(item) and entry.is_displayed():
                        entry.click()
                        return True
                return False

            _wait(click_item, 10, f"{label} > {item}")

        _wait(kernel_idle, NOTEBOOK_LOAD_S, "the notebook to open with an idle kernel")
        menu("Run", "Run All Cells")

        def widget_image():
            try:
                found = browser.find_elements(By.CSS_SELECTOR, ".jp-OutputArea img.widget-image")
                return found[0] if found and _picture(browser, found[0]) else None
            except WebDriverException:
                return None

        img = _wait(widget_image, WIDGET_S, "the explorer widget to show its picture")
        output = img.find_element(By.XPATH, "ancestor::div[contains(@class, 'jp-OutputArea')]")
        errors = output.find_elements(
            By.CSS_SELECTOR, '[data-mime-type="application/vnd.jupyter.stderr"]'
        )
        assert not [e.text for e in errors if "Error" in e.text]
        shown = [(img.get_attribute("src"), _picture(browser, img))]

        def changed():
            now = (img.get_attribute("src"), _picture(browser, img))
            return now if now[1] and all(now[1] != old for _, old in shown) else None

        buttons = output.find_elements(By.CSS_SELECTOR, "button.widget-toggle-button")
        labels = [b.text.strip() for b in buttons]
        assert labels == ["Grad-CAM", "IG (black baseline)", "IG (blurred baseline)"]
        buttons[1].click()
        shown.append(_wait(changed, CHANGE_S, "the picture to change with the method"))
        assert shown[-1][0] != shown[0][0], "a new picture gets a new src"

        explain = output.find_element(
            By.XPATH,
            ".//div[contains(@class, 'widget-dropdown')][.//label[normalize-space()='explain']]"
            "//select",
        )
        current = Select(explain).first_selected_option.text
        Select(explain).select_by_visible_text("dune" if current != "dune" else "other")
        shown.append(_wait(changed, CHANGE_S, "the picture to change with the explained class"))

        shots = os.environ.get("MARS_SCREENSHOT_DIR")
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            browser.execute_script("arguments[0].scrollIntoView()", output)
            browser.save_screenshot(str(Path(shots) / "jupyterlab_widget.png"))
    finally:
        browser.quit()
