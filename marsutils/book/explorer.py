"""An offline explorer of the explanation maps: one self-contained HTML component for the book.

The live :class:`~marsutils.book.widgets.XAIExplorer` needs a kernel; the published book has none.
This module renders a bounded set of precomputed maps into a single ``<div>`` with inline CSS, an
inline JSON block and a few lines of vanilla JavaScript: the reader filters the images by true
class and by correct or wrong prediction, picks an image, a method (Grad-CAM, IG with a black or
a blurred baseline) and a target class, and sees the image beside the image with the map laid
over it (opacity slider). Every picture is a base64 JPEG ``data:`` URI, so the component makes no
network request and works from a file, in a notebook output (``IPython.display.HTML``) and in
the static book (MyST-NB keeps ``text/html`` outputs, scripts included).

* :func:`explorer_rows` picks the images (per true class, up to ``n_correct`` correct and
  ``n_wrong`` misclassified ones, as :func:`~marsutils.xai.selection.select_images`);
* :func:`explorer_targets` picks the classes to explain per image: the model's ``top_k`` classes
  by probability plus the true class and the explained one;
* :func:`collect_explorer_maps` takes the maps of the explained class from the run's
  :class:`~marsutils.xai.cache.AttributionSet` and computes the others once through
  :func:`~marsutils.xai.cache.cached_attribution_set` (cached in the run directory under the
  same key rules, so a re-run reuses them);
* :func:`build_explorer_html` renders the component; :func:`standalone_page` wraps it into a
  page and :func:`write_explorer` writes that page atomically;
* :func:`explorer_for_set` does all of it for a run's explained images.

Size. The component holds, per image, one grayscale JPEG and one colour JPEG per (method,
target) pair, each base64-encoded (4/3 of the bytes), plus about 8 KB of markup and code:
``size ~ 8 KB + N * (g + M * T * h)`` for ``N`` images, ``M`` methods and ``T`` targets per
image, where ``g`` is a grayscale and ``h`` a heat-map JPEG. Measured at 128 px and quality 80 on
HiRISE crops explained at 160 px by the EfficientNet-Lite0 model: ``g`` ~ 3 KB, ``h`` ~ 3.4 KB for
Grad-CAM (smooth) and 6.5-7.7 KB for IG (speckled), so ~18 KB per (image, target) for the three
methods. The size grows linearly in images, methods and targets: the reference selection (8
classes x (2 correct + 2 wrong) = at most 32 images, 3 methods, 3-4 targets) comes to about
2 MB, the smoke run's (6 images, 63 maps) to 0.30 MB; the chapter prints the figure of its run
(:func:`describe_explorer`). Halving ``size`` divides the bytes by about three.

Cost. Maps of classes other than the explained one are computed once (IG dominates: two
baselines times the profile's path points per image and class) and cached; with ``top_k=3`` that
is about 2.3 extra (image, class) pairs per shown image, i.e. for the reference selection about
0.8 times the work of the chapter's own 96 explained images. Lower ``top_k``, ``n_correct`` or
``n_wrong`` of :func:`explorer_for_set` to spend less.
"""

from __future__ import annotations

import base64
import hashlib
import html as html_lib
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from PIL import Image
from torch import Tensor, nn

from marsutils.core.atomic import write_text
from marsutils.figures.xai import display_scale
from marsutils.xai.cache import AttributionSet, cached_attribution_set, compute_attribution_set
from marsutils.xai.methods import METHOD_LABELS
from marsutils.xai.selection import select_images

__all__ = [
    "MapKey",
    "build_explorer_html",
    "collect_explorer_maps",
    "describe_explorer",
    "explorer_for_set",
    "explorer_rows",
    "explorer_targets",
    "standalone_page",
    "write_explorer",
]

MapKey = tuple[str, int]
"""``(method, target_class)``: the key of one map of one image."""

#: Colour maps per method, as in the chapter's figures (Grad-CAM over the image, IG on its own).
CMAPS = {"gradcam": "jet"}
DEFAULT_CMAP = "magma"
#: How to read each colour map, shown under the map.
HINTS = {"gradcam": "red = strongest evidence, blue = none"}
DEFAULT_HINT = "bright = largest attribution, scaled per map to its 99th percentile"


def explorer_rows(
    attributions: AttributionSet,
    y_true: Sequence[int] | np.ndarray,
    *,
    n_correct: int = 2,
    n_wrong: int = 2,
    seed: int = 0,
) -> np.ndarray:
    """Positions in ``attributions`` of the images to show, ordered by class, correct first.

    Per true class, up to ``n_correct`` correctly and ``n_wrong`` wrongly classified images,
    drawn with ``seed`` (:func:`~marsutils.xai.selection.select_images`); a class with fewer
    gives what it has.

    Raises
    ------
    ValueError
        If ``y_true`` does not have one entry per image of ``attributions``.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    if len(y_true) != len(attributions):
        raise ValueError(f"y_true has {len(y_true)} entries for {len(attributions)} images")
    table = pd.DataFrame(
        {"row": np.arange(len(y_true)), "y_true": y_true, "y_pred": attributions.y_pred}
    )
    picked = select_images(table, n_correct=n_correct, n_wrong=n_wrong, seed=seed)
    return picked["row"].to_numpy(dtype=np.int64)


def explorer_targets(
    attributions: AttributionSet,
    rows: Sequence[int] | np.ndarray,
    y_true: Sequence[int] | np.ndarray,
    *,
    top_k: int = 3,
) -> list[list[int]]:
    """Per row, the classes to explain: the ``top_k`` most probable, the true and explained one.

    Each list is ordered by the model's probability, highest first. ``y_true`` holds the true
    class of every image of ``attributions`` (not only of ``rows``).

    Raises
    ------
    ValueError
        If ``top_k`` is below 1.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1; got {top_k}")
    y_true = np.asarray(y_true, dtype=np.int64)
    out = []
    for row in np.asarray(rows, dtype=np.int64):
        probs = np.asarray(attributions.probabilities[row], dtype=float)
        chosen = set(np.argsort(-probs, kind="stable")[:top_k].tolist())
        chosen |= {int(y_true[row]), int(attributions.targets[row])}
        out.append(sorted(chosen, key=lambda t: (-probs[t], t)))
    return out


def collect_explorer_maps(
    attributions: AttributionSet,
    rows: Sequence[int] | np.ndarray,
    targets: Sequence[Sequence[int]],
    *,
    model: nn.Module | None = None,
    inputs: Tensor | None = None,
    cache_dir: str | os.PathLike | None = None,
    model_key: str | None = None,
    batch_size: int = 8,
    name: str = "explorer_maps",
) -> list[dict[MapKey, np.ndarray]]:
    """The saliency ``(H, W)`` of every method for every ``targets[i]`` of image ``rows[i]``.

    Maps of the class an image was explained for come from ``attributions``; the others are
    computed for all methods of ``attributions.settings`` by
    :func:`~marsutils.xai.cache.compute_attribution_set` on ``inputs[rows]`` (the same inputs
    the set was computed on, ``(N, 3, H, W)``), and cached under ``cache_dir`` as ``name`` when
    ``cache_dir`` and ``model_key`` are given (a different model, input, target list or setting
    recomputes them). IG maps are reduced with the settings' ``ig_reduce``, as in
    :meth:`~marsutils.xai.cache.AttributionSet.saliency`.

    Returns
    -------
    list of dict
        One dict per row, ``{(method, target): saliency}``.

    Raises
    ------
    ValueError
        If ``rows`` and ``targets`` differ in length, or maps of other classes are needed and
        ``model``/``inputs`` are missing or ``inputs`` has the wrong length.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) != len(targets):
        raise ValueError(f"rows ({len(rows)}) and targets ({len(targets)}) differ in length")
    methods = attributions.methods
    saliency = {m: attributions.saliency(m) for m in methods}
    out: list[dict[MapKey, np.ndarray]] = []
    missing: list[tuple[int, int, int]] = []  # (position in rows, row, target)
    for position, (row, wanted) in enumerate(zip(rows, targets, strict=True)):
        maps: dict[MapKey, np.ndarray] = {}
        explained = int(attributions.targets[row])
        for target in wanted:
            if int(target) == explained:
                maps.update({(m, explained): saliency[m][row] for m in methods})
            else:
                missing.append((position, int(row), int(target)))
        out.append(maps)
    if not missing:
        return out
    if model is None or inputs is None:
        raise ValueError(
            f"{len(missing)} map(s) are for classes other than the explained ones: pass model "
            "and inputs to compute them"
        )
    if len(inputs) != len(attributions):
        raise ValueError(f"inputs has {len(inputs)} images; attributions has {len(attributions)}")
    pair_rows = [row for _, row, _ in missing]
    pair_targets = np.asarray([target for _, _, target in missing], dtype=np.int64)
    pair_ids = [f"{attributions.image_ids[row]}#{target}" for _, row, target in missing]
    options = {
        "model": model,
        "inputs": inputs[pair_rows],
        "image_ids": pair_ids,
        "targets": pair_targets,
        "settings": attributions.settings,
        "batch_size": batch_size,
    }
    if cache_dir is not None and model_key:
        extra = cached_attribution_set(cache_dir, model_key=model_key, name=name, **options)
    else:
        extra = compute_attribution_set(**options)
    extra_saliency = {m: extra.saliency(m) for m in methods}
    for k, (position, _, target) in enumerate(missing):
        out[position].update({(m, target): extra_saliency[m][k] for m in methods})
    return out


# --- rendering -------------------------------------------------------------------------------
def _resized(image: Image.Image, size: int) -> Image.Image:
    width, height = image.size
    scale = size / max(width, height)
    shape = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(shape, Image.Resampling.BILINEAR)


def _data_uri(image: Image.Image, quality: int) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _gray_uri(image: np.ndarray, size: int, quality: int) -> str:
    values = np.asarray(image)
    if values.dtype != np.uint8:
        values = (np.clip(values.astype(float), 0.0, 1.0) * 255).round().astype(np.uint8)
    return _data_uri(_resized(Image.fromarray(values, mode="L"), size), quality)


def _heat_uri(heat: np.ndarray, cmap: str, size: int, quality: int) -> str:
    """A map in ``[0, 1]`` (or ``[-1, 1]``) coloured with ``cmap``, as a JPEG data URI."""
    values = np.asarray(heat, dtype=np.float32)
    low = -1.0 if (values < 0).any() else 0.0
    scaled = _resized(Image.fromarray(values, mode="F"), size)
    unit = (np.asarray(scaled, dtype=float) - low) / (1.0 - low)
    rgb = (colormaps[cmap](np.clip(unit, 0.0, 1.0))[..., :3] * 255).round().astype(np.uint8)
    return _data_uri(Image.fromarray(rgb, mode="RGB"), quality)


def build_explorer_html(
    images: np.ndarray,
    *,
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    maps: Sequence[Mapping[MapKey, np.ndarray]],
    image_ids: Sequence[str] | None = None,
    probabilities: np.ndarray | None = None,
    size: int = 128,
    quality: int = 80,
    alpha: float = 0.5,
) -> str:
    """The explorer as one self-contained ``<div>`` (inline style, data and script).

    Parameters
    ----------
    images : ndarray, shape (N, H, W)
        Grayscale display images, ``[0, 1]`` floats or uint8 (see
        :func:`~marsutils.xai.attribution.denormalize`).
    y_true, y_pred : array-like of int, shape (N,)
        True and predicted classes.
    class_names : sequence of str, length K
    maps : sequence of N mappings
        ``maps[i][(method, target)]`` is the saliency ``(H', W')`` of image ``i`` (any size; it
        is resized to the image's display size). Grad-CAM is drawn as it is (``[0, 1]``), other
        methods after :func:`~marsutils.figures.xai.display_scale` (per map, 99th percentile).
    image_ids : sequence of str, optional
        Names shown in the image menu (default ``"image <i>"``).
    probabilities : ndarray, shape (N, K), optional
        The model's softmax outputs; shown next to each target class.
    size : int
        Longest side of every JPEG in pixels (the page shows them at twice this size).
    quality : int
        JPEG quality, 1-95.
    alpha : float
        Initial opacity of the map over the image, in ``[0, 1]``.

    Returns
    -------
    str
        HTML that needs no kernel, no network and no other file.

    Raises
    ------
    ValueError
        If the lengths disagree, a class is out of range, a map key is malformed, or an option
        is out of range.
    """
    images = np.asarray(images)
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    n, k = len(images), len(class_names)
    if images.ndim != 3:
        raise ValueError(f"images must be (N, H, W) grayscale; got shape {images.shape}")
    for label, values in (("y_true", y_true), ("y_pred", y_pred), ("maps", maps)):
        if len(values) != n:
            raise ValueError(f"{label} has {len(values)} entries for {n} images")
    if image_ids is not None and len(image_ids) != n:
        raise ValueError(f"image_ids has {len(image_ids)} entries for {n} images")
    if probabilities is not None and np.shape(probabilities) != (n, k):
        raise ValueError(f"probabilities must have shape {(n, k)}; got {np.shape(probabilities)}")
    if n == 0:
        raise ValueError("no images to show")
    for label, values in (("y_true", y_true), ("y_pred", y_pred)):
        if values.min() < 0 or values.max() >= k:
            raise ValueError(f"{label} holds a class outside 0..{k - 1}")
    if not 8 <= size <= 1024:
        raise ValueError(f"size must be between 8 and 1024 pixels; got {size}")
    if not 1 <= quality <= 95:
        raise ValueError(f"quality must be between 1 and 95; got {quality}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha}")

    methods: list[str] = []
    records = []
    for i in range(n):
        entry: dict[str, dict[str, str]] = {}
        for key, heat in maps[i].items():
            if not (isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], str)):
                raise ValueError(f"maps[{i}] key {key!r} is not (method, target)")
            method, target = key[0], int(key[1])
            if not 0 <= target < k:
                raise ValueError(f"maps[{i}] key {key!r}: target outside 0..{k - 1}")
            heat = np.asarray(heat, dtype=float)
            if heat.ndim != 2:
                raise ValueError(f"maps[{i}][{key!r}] must be a 2-D map; got {heat.shape}")
            if method not in methods:
                methods.append(method)
            shown = heat if method == "gradcam" else display_scale(heat[None])[0]
            cmap = CMAPS.get(method, DEFAULT_CMAP)
            entry.setdefault(method, {})[str(target)] = _heat_uri(shown, cmap, size, quality)
        record = {
            "id": str(image_ids[i]) if image_ids is not None else f"image {i}",
            "y": int(y_true[i]),
            "p": int(y_pred[i]),
            "img": _gray_uri(images[i], size, quality),
            "maps": entry,
        }
        if probabilities is not None:
            record["prob"] = [round(float(v), 4) for v in probabilities[i]]
        records.append(record)
    order = [m for m in METHOD_LABELS if m in methods] + [
        m for m in methods if m not in METHOD_LABELS
    ]
    data = {
        "classes": [str(c) for c in class_names],
        "methods": [[m, METHOD_LABELS.get(m, m), HINTS.get(m, DEFAULT_HINT)] for m in order],
        "images": records,
        "alpha": float(alpha),
        "px": 2 * size,
    }
    # "</" must not appear inside a <script> element
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    uid = "xe" + hashlib.sha1(payload.encode()).hexdigest()[:12]
    return _TEMPLATE.replace("@UID@", uid).replace("@DATA@", payload)


def explorer_for_set(
    images: np.ndarray,
    attributions: AttributionSet,
    *,
    y_true: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    model: nn.Module | None = None,
    inputs: Tensor | None = None,
    cache_dir: str | os.PathLike | None = None,
    model_key: str | None = None,
    n_correct: int = 2,
    n_wrong: int = 2,
    top_k: int = 3,
    seed: int = 0,
    **html_options: Any,
) -> str:
    """The explorer of a run's explained images, in one call (what the chapter uses).

    Picks the images with :func:`explorer_rows`, the classes with :func:`explorer_targets`,
    gathers or computes the maps with :func:`collect_explorer_maps` (``model``, ``inputs``,
    ``cache_dir`` and ``model_key`` as there) and renders them with :func:`build_explorer_html`
    (``html_options``: its ``size``, ``quality`` and ``alpha``).
    ``images`` are the ``(N, H, W)`` display images of all of ``attributions``; correct and wrong
    are judged by ``attributions.y_pred``, as in the live widget.
    """
    rows = explorer_rows(attributions, y_true, n_correct=n_correct, n_wrong=n_wrong, seed=seed)
    targets = explorer_targets(attributions, rows, y_true, top_k=top_k)
    maps = collect_explorer_maps(
        attributions,
        rows,
        targets,
        model=model,
        inputs=inputs,
        cache_dir=cache_dir,
        model_key=model_key,
    )
    return build_explorer_html(
        np.asarray(images)[rows],
        y_true=np.asarray(y_true)[rows],
        y_pred=attributions.y_pred[rows],
        class_names=class_names,
        maps=maps,
        image_ids=[attributions.image_ids[r] for r in rows],
        probabilities=attributions.probabilities[rows],
        **html_options,
    )


def standalone_page(component: str, title: str = "Explanation maps") -> str:
    """``component`` (from :func:`build_explorer_html`) as a complete HTML page."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html_lib.escape(title)}</title>\n</head>\n<body>\n{component}\n</body>\n</html>\n"
    )


def write_explorer(
    path: str | os.PathLike, component: str, title: str = "Explanation maps"
) -> Path:
    """Write ``component`` as a standalone page to ``path`` atomically; returns the path."""
    return write_text(path, standalone_page(component, title))


def describe_explorer(component: str) -> str:
    """One line: images, maps and the bytes that ``component`` adds to a page."""
    marker = '<script type="application/json" data-role="data">'
    start = component.index(marker) + len(marker)
    data = json.loads(component[start : component.index("</script>", start)].replace("<\\/", "</"))
    n_maps = sum(len(t) for record in data["images"] for t in record["maps"].values())
    size = len(component.encode("utf-8"))
    return (
        f"explorer: {len(data['images'])} images, {n_maps} maps, "
        f"{size / 1e6:.2f} MB added to the page"
    )


_TEMPLATE = """<div class="mars-xai-explorer" data-explorer="@UID@">
<style>
.mars-xai-explorer{font:14px/1.4 system-ui,sans-serif;border:1px solid #ccc;border-radius:6px;
padding:10px;margin:8px 0;max-width:720px}
.mars-xai-explorer .xe-controls{display:flex;flex-wrap:wrap;gap:6px 14px;align-items:center;
margin-bottom:8px}
.mars-xai-explorer label{white-space:nowrap}
.mars-xai-explorer [data-role="methods"] label{margin-right:12px}
.mars-xai-explorer select{max-width:330px}
.mars-xai-explorer .xe-panels{display:flex;flex-wrap:wrap;gap:12px}
.mars-xai-explorer figure{margin:0}
.mars-xai-explorer .xe-stack{position:relative;line-height:0}
.mars-xai-explorer .xe-stack img{display:block}
.mars-xai-explorer .xe-stack img.xe-overlay{position:absolute;left:0;top:0}
.mars-xai-explorer figcaption{font-size:12px;max-width:290px}
.mars-xai-explorer .xe-status{color:#a00;min-height:1.2em;margin:4px 0 0}
</style>
<div class="xe-controls">
<label>class <select data-role="class"></select></label>
<label>prediction <select data-role="outcome"><option value="all">all</option>
<option value="correct">correct</option><option value="wrong">wrong</option></select></label>
<label>image <select data-role="image"></select></label>
</div>
<div class="xe-controls">
<span data-role="methods"></span>
<label>explain <select data-role="target"></select></label>
<label>opacity <input data-role="opacity" type="range" min="0" max="1" step="0.05"></label>
</div>
<div class="xe-panels">
<figure><img data-role="image-alone" alt="image"><figcaption data-role="image-caption">
</figcaption></figure>
<figure><div class="xe-stack"><img data-role="image-under" alt="image">
<img class="xe-overlay" data-role="overlay" alt="explanation map"></div>
<figcaption data-role="map-caption"></figcaption></figure>
</div>
<p class="xe-status" data-role="status"></p>
<script type="application/json" data-role="data">@DATA@</script>
<script>
(function () {
  "use strict";
  var roots = document.querySelectorAll('div[data-explorer="@UID@"]');
  Array.prototype.forEach.call(roots, function (root) {
    if (root.getAttribute("data-bound")) { return; }
    root.setAttribute("data-bound", "1");
    var data = JSON.parse(root.querySelector('script[data-role="data"]').textContent);
    function el(role) { return root.querySelector('[data-role="' + role + '"]'); }
    function option(select, value, text) {
      var o = document.createElement("option");
      o.value = String(value); o.textContent = text; select.appendChild(o);
    }
    var classSel = el("class"), outcomeSel = el("outcome"), imageSel = el("image");
    var targetSel = el("target"), opacity = el("opacity"), overlay = el("overlay");
    var status = el("status"), method = data.methods[0][0];
    var group = "@UID@-" + Math.random().toString(36).slice(2);
    option(classSel, "all", "all classes");
    data.classes.forEach(function (c, i) { option(classSel, i, c); });
    data.methods.forEach(function (m, i) {
      var label = document.createElement("label"), input = document.createElement("input");
      input.type = "radio"; input.name = group; input.value = m[0]; input.checked = i === 0;
      input.setAttribute("data-role", "method-" + m[0]);
      input.addEventListener("change", function () { method = m[0]; render(); });
      label.appendChild(input); label.appendChild(document.createTextNode(" " + m[1] + " "));
      el("methods").appendChild(label);
    });
    opacity.value = String(data.alpha);
    ["image-alone", "image-under", "overlay"].forEach(function (role) {
      el(role).width = data.px; el(role).height = data.px;
    });
    function name(i) { return data.classes[i]; }
    function matching() {
      var out = [];
      data.images.forEach(function (r, i) {
        var ok = classSel.value === "all" || String(r.y) === classSel.value;
        if (outcomeSel.value === "correct") { ok = ok && r.y === r.p; }
        if (outcomeSel.value === "wrong") { ok = ok && r.y !== r.p; }
        if (ok) { out.push(i); }
      });
      return out;
    }
    function fillImages() {
      imageSel.innerHTML = "";
      matching().forEach(function (i) {
        var r = data.images[i];
        option(imageSel, i, r.id + " (" + name(r.y) + " \\u2192 " + name(r.p) + ")");
      });
      fillTargets();
    }
    function fillTargets() {
      targetSel.innerHTML = "";
      if (imageSel.value === "") { return; }
      var r = data.images[Number(imageSel.value)], seen = {};
      Object.keys(r.maps).forEach(function (m) {
        Object.keys(r.maps[m]).forEach(function (t) { seen[t] = true; });
      });
      var targets = Object.keys(seen).map(Number);
      if (r.prob) { targets.sort(function (a, b) { return r.prob[b] - r.prob[a] || a - b; }); }
      targets.forEach(function (t) {
        var text = name(t);
        if (r.prob) { text += " (p = " + r.prob[t].toFixed(2) + ")"; }
        if (t === r.p) { text += ", predicted"; }
        if (t === r.y) { text += ", true"; }
        option(targetSel, t, text);
      });
      targetSel.value = String(r.p) in seen ? String(r.p) : String(targets[0]);
    }
    function render() {
      overlay.style.opacity = opacity.value;
      if (imageSel.value === "") {
        status.textContent = "No image matches the filters.";
        root.querySelector(".xe-panels").style.display = "none";
        return;
      }
      root.querySelector(".xe-panels").style.display = "";
      var r = data.images[Number(imageSel.value)];
      var t = targetSel.value, chosen = data.methods.filter(function (m) {
        return m[0] === method; })[0], label = chosen[1];
      el("image-alone").src = r.img; el("image-under").src = r.img;
      el("image-caption").textContent = r.id + ": true " + name(r.y) + ", predicted " +
        name(r.p) + (r.y === r.p ? " (correct)" : " (wrong)");
      var src = r.maps[method] && r.maps[method][t];
      if (src) {
        overlay.src = src; overlay.style.visibility = "visible"; status.textContent = "";
      } else {
        overlay.removeAttribute("src"); overlay.style.visibility = "hidden";
        status.textContent = "No precomputed " + label + " map for class " + name(Number(t)) + ".";
      }
      el("map-caption").textContent = label + " for class " + name(Number(t)) + " (" +
        chosen[2] + ")";
    }
    classSel.addEventListener("change", function () { fillImages(); render(); });
    outcomeSel.addEventListener("change", function () { fillImages(); render(); });
    imageSel.addEventListener("change", function () { fillTargets(); render(); });
    targetSel.addEventListener("change", render);
    opacity.addEventListener("input", render);
    fillImages();
    render();
    root.setAttribute("data-ready", "1");
  });
})();
</script>
</div>"""
