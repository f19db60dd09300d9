"""The offline explorer: its data, its checks, and clicking through it in headless Chromium."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from marsutils.book import explorer as xe
from marsutils.xai import cache as xai_cache
from marsutils.xai.cache import compute_attribution_set
from marsutils.xai.methods import AttributionSettings, explain
from marsutils.xai.testing import TinyCNN

CLASSES = ["crater", "dune", "other"]


def payload(html: str) -> dict:
    marker = '<script type="application/json" data-role="data">'
    start = html.index(marker) + len(marker)
    return json.loads(html[start : html.index("</script>", start)])


def decode(uri: str) -> Image.Image:
    prefix = "data:image/jpeg;base64,"
    assert uri.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(uri[len(prefix) :])))


@pytest.fixture(scope="module")
def case():
    torch.manual_seed(0)
    model = TinyCNN(num_classes=3).eval()
    inputs = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    settings = AttributionSettings(n_steps=4, blur_sigma=3.0)
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    y_true = np.array([0, 1, 1, 0, 2, 2])  # images 1 and 3 are misclassified
    computed = compute_attribution_set(
        model, inputs, image_ids=[f"img{i}" for i in range(6)], targets=y_pred, settings=settings
    )
    probs = np.full((6, 3), 0.1, dtype=np.float32)
    probs[np.arange(6), y_pred] = 0.8
    attributions = dataclasses.replace(computed, y_pred=y_pred, probabilities=probs)
    images = inputs[:, 0].numpy()
    images = (images - images.min()) / (images.max() - images.min())
    return model, inputs, attributions, y_true, images


def synthetic_html(**options) -> str:
    """Four images, two classes, three methods; image 3 lacks IG (black) for class 0."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:40] / 39.0
    images = np.stack([(xx + i * yy) / (1 + i) for i in range(4)])
    maps = []
    for i in range(4):
        entry = {}
        for t in (0, 1):
            blob = np.exp(-(((xx - 0.2 - 0.6 * t) ** 2) + (yy - 0.25 * i) ** 2) * 8)
            entry[("gradcam", t)] = blob
            entry[("ig_black", t)] = blob * rng.random((40, 40))
            entry[("ig_blur", t)] = -blob * rng.random((40, 40))  # signed: shown on [-1, 1]
        maps.append(entry)
    del maps[3][("ig_black", 0)]
    probs = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.2, 0.8]])
    return xe.build_explorer_html(
        images,
        y_true=[0, 0, 1, 1],
        y_pred=[0, 1, 0, 1],
        class_names=["crater", "dune"],
        maps=maps,
        image_ids=[f"img{i}" for i in range(4)],
        probabilities=probs,
        **options,
    )


def test_component_is_self_contained_and_sized():
    html = synthetic_html(size=32)
    data = payload(html)
    assert html.startswith('<div class="mars-xai-explorer"') and html.endswith("</div>")
    assert "http:" not in html and "https:" not in html and "<link" not in html
    assert "src=" not in html.replace(".src =", ""), "images come from the data block only"
    assert [m for m, *_ in data["methods"]] == ["gradcam", "ig_black", "ig_blur"]
    assert [r["id"] for r in data["images"]] == ["img0", "img1", "img2", "img3"]
    assert set(data["images"][3]["maps"]["ig_black"]) == {"1"}
    first = decode(data["images"][0]["maps"]["gradcam"]["0"])
    assert first.size == (32, 32) and first.mode == "RGB"
    assert decode(data["images"][0]["img"]).mode == "L"
    assert data["images"][1]["prob"] == [0.3, 0.7]
    assert xe.describe_explorer(html).startswith("explorer: 4 images, 23 maps, ")
    assert len(synthetic_html(size=96)) > 2 * len(html), "size grows with the JPEG side"
    assert synthetic_html(size=32) == html, "the component is deterministic"


def test_build_rejects_bad_input():
    images = np.zeros((2, 8, 8))
    good = {"y_true": [0, 1], "y_pred": [0, 1], "class_names": ["a", "b"]}
    maps = [{("gradcam", 0): np.zeros((8, 8))}] * 2
    with pytest.raises(ValueError, match="maps has 1 entries for 2 images"):
        xe.build_explorer_html(images, maps=maps[:1], **good)
    with pytest.raises(ValueError, match="y_true holds a class outside"):
        xe.build_explorer_html(images, maps=maps, **{**good, "y_true": [0, 2]})
    with pytest.raises(ValueError, match="is not \\(method, target\\)"):
        xe.build_explorer_html(images, maps=[{"gradcam": np.zeros((8, 8))}] * 2, **good)
    with pytest.raises(ValueError, match="target outside"):
        xe.build_explorer_html(images, maps=[{("gradcam", 5): np.zeros((8, 8))}] * 2, **good)
    with pytest.raises(ValueError, match="2-D map"):
        xe.build_explorer_html(images, maps=[{("gradcam", 0): np.zeros(8)}] * 2, **good)
    with pytest.raises(ValueError, match="probabilities must have shape"):
        xe.build_explorer_html(images, maps=maps, probabilities=np.zeros((2, 3)), **good)
    with pytest.raises(ValueError, match="quality"):
        xe.build_explorer_html(images, maps=maps, quality=0, **good)
    with pytest.raises(ValueError, match="grayscale"):
        xe.build_explorer_html(np.zeros((2, 3, 8, 8)), maps=maps, **good)


def test_rows_and_targets(case):
    _, _, attributions, y_true, _ = case
    rows = xe.explorer_rows(attributions, y_true, n_correct=1, n_wrong=1, seed=0)
    # by class, correct first; class 2 has no misclassified image, and one of 4 and 5 is drawn
    assert rows.tolist()[:4] == [0, 3, 2, 1] and len(rows) == 5 and rows[4] in (4, 5)
    targets = xe.explorer_targets(attributions, [1, 4], y_true, top_k=1)
    assert targets == [[0, 1], [2]]  # image 1: predicted 0 first (p 0.8), then its true class
    assert xe.explorer_targets(attributions, [4], y_true, top_k=3) == [[2, 0, 1]]
    with pytest.raises(ValueError, match="top_k"):
        xe.explorer_targets(attributions, [0], y_true, top_k=0)
    with pytest.raises(ValueError, match="y_true has 2 entries"):
        xe.explorer_rows(attributions, [0, 1])


def test_collect_reuses_the_set_and_caches_the_other_classes(case, tmp_path, monkeypatch):
    model, inputs, attributions, _, _ = case
    rows, targets = [1, 4], [[0, 1], [2]]
    options = {"model": model, "inputs": inputs, "cache_dir": tmp_path, "model_key": "tiny"}
    maps = xe.collect_explorer_maps(attributions, rows, targets, **options)
    assert set(maps[0]) == {(m, t) for m in attributions.methods for t in (0, 1)}
    assert set(maps[1]) == {(m, 2) for m in attributions.methods}
    # the explained class comes from the set, the other from the same methods and settings
    np.testing.assert_array_equal(maps[1][("ig_blur", 2)], attributions.saliency("ig_blur")[4])
    expected = explain(model, inputs[1:2], 1, "gradcam", attributions.settings)[0].numpy()
    np.testing.assert_allclose(maps[0][("gradcam", 1)], expected, atol=1e-6)
    assert (tmp_path / "explorer_maps.npz").is_file()

    def fail(*_args, **_kwargs):
        raise AssertionError("the cached maps must be reused")

    monkeypatch.setattr(xai_cache, "compute_attribution_set", fail)
    again = xe.collect_explorer_maps(attributions, rows, targets, **options)
    np.testing.assert_array_equal(again[0][("ig_black", 1)], maps[0][("ig_black", 1)])
    with pytest.raises(AssertionError, match="reused"):  # other targets: not in the cache
        xe.collect_explorer_maps(attributions, rows, [[0, 2], [2]], **options)


def test_collect_needs_the_model_for_other_classes(case):
    _, inputs, attributions, _, _ = case
    only_explained = xe.collect_explorer_maps(attributions, [0, 2], [[0], [1]])
    assert len(only_explained[0]) == len(attributions.methods)
    with pytest.raises(ValueError, match="pass model and inputs"):
        xe.collect_explorer_maps(attributions, [0], [[1]])
    with pytest.raises(ValueError, match="differ in length"):
        xe.collect_explorer_maps(attributions, [0, 1], [[0]])
    with pytest.raises(ValueError, match="inputs has 2 images"):
        xe.collect_explorer_maps(attributions, [0], [[1]], model=case[0], inputs=inputs[:2])


def test_explorer_for_set_shows_the_chosen_images(case, tmp_path):
    model, inputs, attributions, y_true, images = case
    html = xe.explorer_for_set(
        images,
        attributions,
        y_true=y_true,
        class_names=CLASSES,
        model=model,
        inputs=inputs,
        cache_dir=tmp_path,
        model_key="tiny",
        n_correct=1,
        n_wrong=1,
        top_k=2,
        size=16,
    )
    data = payload(html)
    assert [r["id"] for r in data["images"]][:4] == ["img0", "img3", "img2", "img1"]
    wrong = data["images"][3]  # img1: true dune, predicted crater; both classes explained
    assert (wrong["y"], wrong["p"]) == (1, 0)
    assert {m: sorted(t) for m, t in wrong["maps"].items()} == {
        m: ["0", "1"] for m in ("gradcam", "ig_black", "ig_blur")
    }
    assert xe.describe_explorer(html).startswith("explorer: 5 images, 30 maps")


def test_write_explorer_is_a_standalone_page(tmp_path):
    html = synthetic_html(size=16)
    path = xe.write_explorer(tmp_path / "figs" / "xai_explorer.html", html, title="a <b>")
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and html in text and "a &lt;b&gt;" in text
    assert [p.name for p in path.parent.iterdir()] == ["xai_explorer.html"], "no temporary left"


# --- in the browser ---------------------------------------------------------------------------
@pytest.mark.slow
def test_clicking_through_the_explorer_in_chromium(tmp_path):
    from _chromium import check_explorer, chromium_driver, severe_console_messages
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    html = synthetic_html()
    data = payload(html)
    page = xe.write_explorer(tmp_path / "explorer.html", html)
    browser = chromium_driver()
    try:
        browser.get(page.as_uri())
        root = browser.find_element(By.CSS_SELECTOR, "div.mars-xai-explorer")

        def control(role):
            return root.find_element(By.CSS_SELECTOR, f'[data-role="{role}"]')

        def shown() -> tuple[str, str]:
            base = control("image-under").get_dom_attribute("src")
            return base, control("overlay").get_dom_attribute("src")

        def uri(image: int, method: str, target: int) -> str:
            return data["images"][image]["maps"][method][str(target)]

        images = browser.execute_script(
            "return Array.from(arguments[0].querySelectorAll('img')).map("
            "i => [i.complete, i.naturalWidth])",
            root,
        )
        assert images == [[True, 128]] * 3, "both pictures and the overlay decode"
        assert shown() == (data["images"][0]["img"], uri(0, "gradcam", 0))
        assert "img0: true crater, predicted crater (correct)" in control("image-caption").text
        assert control("map-caption").text == (
            "Grad-CAM for class crater (red = strongest evidence, blue = none)"
        )

        control("method-ig_black").click()
        assert shown()[1] == uri(0, "ig_black", 0)
        Select(control("target")).select_by_value("1")
        assert shown()[1] == uri(0, "ig_black", 1)
        assert control("map-caption").text.startswith("IG (black baseline) for class dune (bright")

        Select(control("outcome")).select_by_value("wrong")
        labels = [o.text for o in Select(control("image")).options]
        assert labels == ["img1 (crater → dune)", "img2 (dune → crater)"]
        assert shown() == (data["images"][1]["img"], uri(1, "ig_black", 1))  # predicted class
        targets = [o.text for o in Select(control("target")).options]
        assert targets == ["dune (p = 0.70), predicted", "crater (p = 0.30), true"]

        Select(control("outcome")).select_by_value("all")
        Select(control("class")).select_by_value("1")
        Select(control("image")).select_by_value("3")
        control("method-gradcam").click()
        assert shown() == (data["images"][3]["img"], uri(3, "gradcam", 1))
        control("method-ig_black").click()
        Select(control("target")).select_by_value("0")
        assert control("overlay").get_dom_attribute("src") is None
        assert "No precomputed IG (black baseline) map for class crater" in control("status").text

        browser.execute_script(
            "arguments[0].value = '0.9'; arguments[0].dispatchEvent(new Event('input'))",
            control("opacity"),
        )
        assert control("overlay").value_of_css_property("opacity") == "0.9"

        requests = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        assert requests == [], f"the explorer must not fetch anything: {requests}"
        assert severe_console_messages(browser) == []
        browser.get(page.as_uri())
        assert check_explorer(browser) == 1
    finally:
        browser.quit()


@pytest.mark.slow
def test_two_explorers_on_a_page_and_an_empty_filter_in_chromium(tmp_path):
    from _chromium import chromium_driver, severe_console_messages
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    rng = np.random.default_rng(1)
    only_correct = xe.build_explorer_html(
        rng.random((2, 16, 16)),
        y_true=[0, 1],
        y_pred=[0, 1],
        class_names=["crater", "dune"],
        maps=[{("gradcam", 0): rng.random((4, 4))}, {("gradcam", 1): rng.random((4, 4))}],
        size=16,
    )
    first = synthetic_html(size=16)
    page = tmp_path / "two.html"
    page.write_text(xe.standalone_page(first + only_correct))
    browser = chromium_driver()
    try:
        browser.get(page.as_uri())
        a, b = browser.find_elements(By.CSS_SELECTOR, "div.mars-xai-explorer")

        def control(root, role):
            return root.find_element(By.CSS_SELECTOR, f'[data-role="{role}"]')

        before = control(a, "overlay").get_dom_attribute("src")
        Select(control(b, "outcome")).select_by_value("wrong")
        assert control(b, "status").text == "No image matches the filters."
        assert not control(b, "overlay").is_displayed()
        assert control(a, "status").text == "" and control(a, "overlay").is_displayed()
        assert control(a, "overlay").get_dom_attribute("src") == before
        Select(control(b, "outcome")).select_by_value("all")
        assert control(b, "status").text == "" and control(b, "overlay").is_displayed()
        assert severe_console_messages(browser) == []
    finally:
        browser.quit()


@pytest.mark.slow
@pytest.mark.book
def test_explorer_works_in_a_built_jupyter_book(tmp_path):
    """MyST-NB keeps the component's inline script in a text/html output (with -W)."""
    import subprocess
    import sys

    import nbformat
    from _chromium import check_explorer, chromium_driver, require_chromium

    require_chromium()
    book = tmp_path / "book"
    book.mkdir()
    (book / "_config.yml").write_text(
        'title: "explorer"\nonly_build_toc_files: true\nexecute:\n  execute_notebooks: "off"\n'
    )
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: maps\n")
    (book / "intro.md").write_text("# Explorer test\n\nA page before the chapter.\n")
    nb = nbformat.v4.new_notebook()
    component = synthetic_html(size=32)
    shown = nbformat.v4.new_output(
        "display_data", data={"text/html": component, "text/plain": "<IPython.core.display.HTML>"}
    )
    cell = nbformat.v4.new_code_cell("display(HTML(page))", outputs=[shown], execution_count=1)
    nb.cells = [nbformat.v4.new_markdown_cell("# The maps"), cell]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, book / "maps.ipynb")
    exe = Path(sys.executable).with_name("jupyter-book")
    done = subprocess.run(
        [str(exe), "build", str(book), "-W", "-n", "-q"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    page = book / "_build" / "html" / "maps.html"
    assert component.split("<script>")[1].split("</script>")[0] in page.read_text()
    browser = chromium_driver()
    try:
        browser.get(page.as_uri())
        assert check_explorer(browser) == 1
    finally:
        browser.quit()
