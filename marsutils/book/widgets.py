"""Interactive explorer of the explanation maps (ipywidgets), and its static stand-in.

:class:`XAIExplorer` lets one filter the images by true class and by correct/wrong prediction,
pick an image, the class to explain, the method (Grad-CAM, IG black, IG blur) and the overlay
opacity; every change re-renders the picture into an ``ipywidgets.Image`` as PNG. Maps come from an
:class:`~marsutils.xai.cache.AttributionSet`; a map that is not there (another target class) is
computed by the optional ``compute`` callable, e.g. :func:`on_demand`, and memoised.

The static book has no kernel, so widgets would be dead: :func:`gallery` returns a matplotlib
figure of chosen correct and wrong examples per class in its place, and
:func:`should_show_widget` decides which of the two a notebook shows. The book also shows
:mod:`marsutils.book.explorer`'s offline explorer, which does in the browser alone what this widget
does with a kernel, on maps computed in advance for a bounded set of images and classes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from torch import Tensor, nn

from marsutils.figures.xai import (
    display_scale,
    explanation_grid,
    explanation_panel,
)
from marsutils.xai.cache import AttributionSet
from marsutils.xai.methods import METHOD_LABELS, AttributionSettings, explain
from marsutils.xai.selection import select_images

__all__ = ["ComputeFn", "XAIExplorer", "explore", "gallery", "on_demand", "should_show_widget"]

ComputeFn = Callable[[int, int, str], np.ndarray]
"""``compute(image_index, target_class, method) -> (H, W)`` saliency (IG already reduced)."""

ALL = -1
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def should_show_widget(
    interactive: bool | str | None, run_dir: str | os.PathLike | None = None
) -> bool:
    """Whether a notebook shows the live explorer (True) or the static gallery (False).

    ``interactive`` decides when given: a bool, or a string such as ``"true"``/``"false"`` (what
    ``papermill -p interactive true`` passes). ``None`` means "detect": the book's pipeline always
    passes ``run_dir`` (papermill), while a reader who opens the notebook leaves it ``None``; so
    the widget is shown exactly when ``run_dir`` is ``None``.
    """
    if interactive is None:
        return run_dir is None
    if isinstance(interactive, bool):
        return interactive
    if isinstance(interactive, str) and interactive.strip().lower() in _TRUE | _FALSE:
        return interactive.strip().lower() in _TRUE
    raise ValueError(
        f"interactive must be True, False, None or 'true'/'false'; got {interactive!r}"
    )


def on_demand(
    model: nn.Module, inputs: Tensor, settings: AttributionSettings | None = None
) -> ComputeFn:
    """A :data:`ComputeFn` that explains ``inputs[index]`` for any class with ``model``."""
    settings = settings or AttributionSettings()

    def compute(index: int, target: int, method: str) -> np.ndarray:
        maps = explain(model, inputs[index : index + 1], target, method, settings)
        return maps[0].detach().cpu().numpy()

    return compute


class XAIExplorer:
    """Widgets to browse explanation maps; ``display(explorer)`` or ``explorer.widget`` shows it.

    ``images`` are display images ``(N, H, W)`` (``[0, 1]`` floats or uint8), in the order of
    ``attributions``; ``y_true`` the true classes. All widgets are public attributes, so the
    explorer can also be driven from code (e.g. ``explorer.opacity.value = 0.8``).
    """

    def __init__(
        self,
        images: np.ndarray,
        attributions: AttributionSet,
        *,
        y_true: Sequence[int] | np.ndarray,
        class_names: Sequence[str],
        compute: ComputeFn | None = None,
        alpha: float = 0.5,
        panel_size: float = 4.0,
    ) -> None:
        self.images = np.asarray(images)
        self.attributions = attributions
        self.y_true = np.asarray(y_true, dtype=np.int64)
        self.class_names = list(class_names)
        self.compute = compute
        self.panel_size = panel_size
        n = len(attributions)
        if len(self.images) != n or len(self.y_true) != n:
            raise ValueError(
                f"images ({len(self.images)}), y_true ({len(self.y_true)}) and attributions ({n}) "
                "must have the same length"
            )
        self._memo: dict[tuple[int, int, str], np.ndarray] = {}
        self._quiet = False

        classes = [("all classes", ALL), *[(c, i) for i, c in enumerate(self.class_names)]]
        self.class_filter = widgets.Dropdown(options=classes, value=ALL, description="class")
        self.outcome_filter = widgets.Dropdown(
            options=["all", "correct", "wrong"], value="all", description="prediction"
        )
        self.image_select = widgets.Dropdown(description="image")
        self.target_select = widgets.Dropdown(
            options=[(c, i) for i, c in enumerate(self.class_names)], description="explain"
        )
        self.method_select = widgets.ToggleButtons(
            options=[(METHOD_LABELS.get(m, m), m) for m in attributions.methods]
        )
        self.opacity = widgets.FloatSlider(
            value=alpha, min=0.0, max=1.0, step=0.05, description="opacity"
        )
        self.image = widgets.Image(format="png")
        self.status = widgets.HTML()

        for control in (self.class_filter, self.outcome_filter):
            control.observe(self._on_filter, names="value")
        self.image_select.observe(self._on_image, names="value")
        for control in (self.target_select, self.method_select, self.opacity):
            control.observe(self._on_change, names="value")
        self._refresh_images()
        self.render()

    # --- state -----------------------------------------------------------------------------------
    def matching_indices(self) -> list[int]:
        """Indices of the images that pass the class and outcome filters."""
        keep = np.ones(len(self.y_true), dtype=bool)
        if self.class_filter.value != ALL:
            keep &= self.y_true == self.class_filter.value
        correct = self.y_true == self.attributions.y_pred
        if self.outcome_filter.value == "correct":
            keep &= correct
        elif self.outcome_filter.value == "wrong":
            keep &= ~correct
        return np.flatnonzero(keep).tolist()

    def _image_label(self, i: int) -> str:
        true = self.class_names[self.y_true[i]]
        pred = self.class_names[self.attributions.y_pred[i]]
        return f"{self.attributions.image_ids[i]} ({true} → {pred})"

    def heatmap(self, index: int, target: int, method: str) -> np.ndarray | None:
        """The saliency of ``method`` for class ``target`` on image ``index`` (None if unknown)."""
        if int(self.attributions.targets[index]) == target:
            return self.attributions.saliency(method)[index]
        key = (index, target, method)
        if key not in self._memo:
            if self.compute is None:
                return None
            self._memo[key] = np.asarray(self.compute(index, target, method), dtype=float)
        return self._memo[key]

    # --- events ----------------------------------------------------------------------------------
    def _refresh_images(self) -> None:
        self._quiet = True
        try:
            indices = self.matching_indices()
            self.image_select.options = [(self._image_label(i), i) for i in indices]
            self.image_select.value = indices[0] if indices else None
            if indices:
                self.target_select.value = int(self.attributions.targets[indices[0]])
        finally:
            self._quiet = False

    def _on_filter(self, _change: dict) -> None:
        self._refresh_images()
        self.render()

    def _on_image(self, change: dict) -> None:
        if self._quiet or change["new"] is None:
            return
        self._quiet = True
        try:
            self.target_select.value = int(self.attributions.targets[change["new"]])
        finally:
            self._quiet = False
        self.render()

    def _on_change(self, _change: dict) -> None:
        if not self._quiet:
            self.render()

    # --- drawing ---------------------------------------------------------------------------------
    def figure(self) -> Figure:
        """The current view as a figure (:func:`~marsutils.figures.xai.explanation_panel`)."""
        index = self.image_select.value
        if index is None:
            self.status.value = "No image matches the filters."
            return explanation_panel(None, panel_size=self.panel_size)
        target, method = int(self.target_select.value), self.method_select.value
        heat = self.heatmap(index, target, method)
        if heat is None:
            self.status.value = (
                f"No cached {METHOD_LABELS.get(method, method)} map for class "
                f"<b>{self.class_names[target]}</b>; pass <code>compute=</code> to compute it."
            )
        else:
            self.status.value = ""
            if method != "gradcam":
                heat = display_scale(heat[None])[0]
        title = (
            f"{self._image_label(index)}\n{METHOD_LABELS.get(method, method)} "
            f"for class {self.class_names[target]}"
        )
        return explanation_panel(
            self.images[index], heat, alpha=self.opacity.value, title=title,
            panel_size=self.panel_size,
        )  # fmt: skip

    def render(self) -> bytes:
        """Redraw the picture; returns the PNG bytes now shown."""
        buffer = io.BytesIO()
        self.figure().savefig(buffer, format="png", dpi=80)
        self.image.value = buffer.getvalue()
        return self.image.value

    @property
    def widget(self) -> widgets.VBox:
        """The assembled widget box."""
        return widgets.VBox(
            [
                widgets.HBox([self.class_filter, self.outcome_filter]),
                self.image_select,
                widgets.HBox([self.target_select, self.method_select]),
                self.opacity,
                self.image,
                self.status,
            ]
        )

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def explore(images: np.ndarray, attributions: AttributionSet, **options: Any) -> XAIExplorer:
    """Build an :class:`XAIExplorer` (display the returned object in a notebook).

    ``options`` are the explorer's keyword arguments (``y_true``, ``class_names``, ``compute``,
    ``alpha``, ``panel_size``).
    """
    return XAIExplorer(images, attributions, **options)


def gallery(
    images: np.ndarray,
    attributions: AttributionSet,
    *,
    y_true: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    n_correct: int = 1,
    n_wrong: int = 1,
    methods: Sequence[str] | None = None,
    compute: ComputeFn | None = None,
    contrast_method: str = "gradcam",
    alpha: float = 0.5,
    seed: int = 0,
) -> Figure:
    """The static stand-in for the explorer: per class, correct and wrong examples, all methods.

    With ``compute`` (e.g. :func:`on_demand`), a last column shows ``contrast_method``'s map for
    the *true* class, which is what the explorer's "explain" menu offers: for a misclassified
    image it shows the evidence the model saw for the class it missed (for a correct one it is
    the explained class's map again).
    """
    y_true = np.asarray(y_true)
    if len(y_true) != len(attributions) or len(images) != len(attributions):
        raise ValueError("images, y_true and attributions must have the same length")
    if compute is not None and contrast_method not in attributions.methods:
        raise ValueError(
            f"contrast_method {contrast_method!r} is not one of {attributions.methods}"
        )
    table = pd.DataFrame(
        {
            "row": np.arange(len(attributions)),
            "image": attributions.image_ids,
            "y_true": y_true,
            "y_pred": attributions.y_pred,
        }
    )
    picked = select_images(table, n_correct=n_correct, n_wrong=n_wrong, seed=seed)
    if picked.empty:
        raise ValueError("no examples to show")
    rows = picked["row"].to_numpy()
    chosen = list(methods) if methods is not None else list(attributions.methods)
    maps = {m: attributions.saliency(m)[rows] for m in chosen}
    overlay = ["gradcam"]
    if compute is not None:
        name = f"{METHOD_LABELS.get(contrast_method, contrast_method)} for the true class"
        saliency = attributions.saliency(contrast_method)
        maps[name] = np.stack(
            [
                saliency[r]
                if int(attributions.targets[r]) == int(y_true[r])
                else np.asarray(compute(int(r), int(y_true[r]), contrast_method), dtype=float)
                for r in rows
            ]
        )
        if contrast_method == "gradcam":
            overlay.append(name)
    return explanation_grid(
        np.asarray(images)[rows],
        maps,
        y_true=y_true[rows],
        y_pred=attributions.y_pred[rows],
        class_names=class_names,
        image_ids=picked["image"].tolist(),
        overlay=overlay,
        alpha=alpha,
    )
