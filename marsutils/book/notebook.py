"""What every notebook does first: resolve its parameters into a run context.

The parameters cell of a notebook holds the papermill defaults; the next cell calls
:func:`setup` with them, which validates and coerces every value (:mod:`marsutils.core.parameters`)
and returns a :class:`NotebookContext`. Later cells read only the context (``ctx.seed``,
``ctx.device`` ...), never a raw parameter.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marsutils.core.layout import RunLayout
from marsutils.core.parameters import resolve_parameters
from marsutils.core.profiles import Profile, get_profile, split_names
from marsutils.core.progress import env_interactive, set_interactive

__all__ = ["REPO_ROOT", "NotebookContext", "setup", "default_run_dir", "display_path"]

REPO_ROOT = Path(__file__).resolve().parents[2]


def default_run_dir(profile: str) -> Path:
    """``runs/<profile>`` inside the repository."""
    return REPO_ROOT / "runs" / profile


def display_path(path: str | os.PathLike, base: str | os.PathLike = REPO_ROOT) -> str:
    """``path`` as printed in a notebook: never an absolute path of the machine that ran it.

    Relative to ``base`` (the repository) when inside it, ``../...`` when inside its parent
    folder (e.g. ``../shared/data/...``), else ``.../<name>``.
    """
    target = Path(os.path.abspath(path))
    root = Path(os.path.abspath(base))
    for folder, prefix in ((root, ""), (root.parent, "../")):
        try:
            rel = target.relative_to(folder).as_posix()
        except ValueError:
            continue
        if rel == ".":
            return prefix.rstrip("/") or "."
        return prefix + rel
    return f".../{target.name}"


@dataclass
class NotebookContext:
    """The resolved parameters of a notebook run, and lazy access to the prepared data."""

    profile: Profile
    seed: int
    data_dir: str | None
    run_dir: Path
    figures_dir: Path
    device: str
    interactive: bool = False
    _data: Any = field(default=None, repr=False)

    @property
    def data(self):
        """The prepared data (dataset, image cache, families, splits); built on first use."""
        if self._data is None:
            # the image-decoding bar is a widget when interactive: static runs skip it
            self._data = self._prepare(self.seed, progress=self.interactive)
        return self._data

    def data_for_seed(self, seed: int):
        """The data prepared with ``seed``'s splits: :attr:`data` for the notebook's own seed,
        else a new preparation (the decoded images come from the same cache; only the splits
        differ)."""
        return self.data if int(seed) == self.seed else self._prepare(int(seed), progress=False)

    def _prepare(self, seed: int, *, progress: bool):
        from marsutils.data.prepare import prepare_data

        return prepare_data(
            self.data_dir,
            splits=split_names(self.profile),
            seed=seed,
            max_images=self.profile.max_images,
            run_dir=self.run_dir,
            progress=progress,
        )

    def save_figure(self, fig, name: str) -> list[Path]:
        """Save ``fig`` as PNG and SVG into the figures folder."""
        from marsutils.figures.plots import save_figure

        return save_figure(fig, self.figures_dir, name)

    def show_figure(
        self,
        fig,
        name: str,
        *,
        label: str | None = None,
        caption: str | None = None,
        image_format: str = "png",
    ) -> None:
        """Save ``fig`` into the figures folder and display it once, whatever the backend.

        Parameters
        ----------
        fig : matplotlib.figure.Figure
            The figure; it is closed afterwards (no second copy from the inline backend).
        name : str
            File stem in the figures folder, e.g. ``"confusion_family"``.
        label : str, optional
            Cross-reference label of the numbered figure (``fig-<chapter>-<what>``); with
            ``caption`` the figure is shown through :func:`marsutils.book.display.show_figure_file`,
            numbered and captioned in the book. Defaults to ``name`` with ``_`` as ``-``.
        caption : str, optional
            One sentence saying what to look at. Without it the figure is shown uncaptioned.
        image_format : {"png", "jpeg"}, default="png"
            ``"png"`` saves PNG and SVG (line plots); ``"jpeg"`` saves only a JPEG, for grids of
            heat maps, which are raster images by nature and several times smaller as JPEG.

        Raises
        ------
        ValueError
            For an unknown ``image_format`` or an invalid label or caption.
        """
        import matplotlib.pyplot as plt

        from marsutils.book.display import show_figure

        if image_format not in ("png", "jpeg"):
            raise ValueError(f"image_format must be 'png' or 'jpeg'; got {image_format!r}")
        try:
            if image_format == "jpeg":
                path = self.save_raster(fig, name)
            else:
                path = self.save_figure(fig, name)[0]
            if caption is None:
                show_figure(fig, image_format=image_format)
                return
        finally:
            plt.close(fig)
        from marsutils.book.display import show_figure_file

        show_figure_file(path, name=label or name.replace("_", "-"), caption=caption)

    def save_raster(self, fig, name: str, *, dpi: int = 100, quality: int = 85) -> Path:
        """Save ``fig`` only as ``<figures_dir>/<name>.jpg`` (atomically) and return the path."""
        from marsutils.core.atomic import atomic_write

        path = self.figures_dir / f"{name}.jpg"
        options = {"pil_kwargs": {"quality": quality}}
        atomic_write(
            path,
            lambda tmp: fig.savefig(tmp, format="jpeg", dpi=dpi, bbox_inches="tight", **options),
        )
        return path

    @property
    def results_dir(self) -> Path:
        """Small result files of this run (JSON/CSV)."""
        path = self.layout.results
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def layout(self) -> RunLayout:
        """The paths of this run folder (:class:`marsutils.core.layout.RunLayout`)."""
        return RunLayout(self.run_dir)


def _is_forked_loader_noise(unraisable: Any, parent_pid: int) -> bool:
    """True for torch's "can only test/join a child process" from a forked DataLoader worker.

    A worker forked from the kernel inherits the kernel's not-yet-collected DataLoader iterators;
    when the worker's garbage collector finalises one, ``_MultiProcessingDataLoaderIter.__del__``
    asks the worker processes of the *kernel* whether they are alive, which multiprocessing
    forbids from a non-parent (AssertionError). The kernel still shuts those workers down itself,
    so the message is noise, but it reached the executed notebooks as a traceback (see e.g.
    github.com/ShuaiLYU/REB/issues/9 and github.com/QVPR/Patch-NetVLAD/issues/34).
    """
    qualname = getattr(unraisable.object, "__qualname__", "")
    return (
        os.getpid() != parent_pid
        and isinstance(unraisable.exc_value, AssertionError)
        and "child process" in str(unraisable.exc_value)
        and qualname.startswith("_MultiProcessingDataLoaderIter.")
    )


def quiet_forked_loader_cleanup() -> None:
    """Install (once) a :data:`sys.unraisablehook` that drops only that forked-worker message.

    Every other unraisable exception, and that one in the kernel process itself, goes to the
    previous hook unchanged.
    """
    previous = sys.unraisablehook
    if getattr(previous, "_marsutils_quiet_loader", False):
        return
    parent_pid = os.getpid()

    def hook(unraisable: Any) -> None:
        if not _is_forked_loader_noise(unraisable, parent_pid):
            previous(unraisable)

    hook._marsutils_quiet_loader = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


def setup(profile: str = "quick", **parameters: Any) -> NotebookContext:
    """Validate a notebook's parameters and return its run context.

    Parameters
    ----------
    profile : str
        The execution profile (:data:`marsutils.core.profiles.PROFILES`).
    **parameters
        The other notebook parameters (:data:`marsutils.core.parameters.PARAMETERS`): ``seed``,
        ``data_dir``, ``run_dir``, ``device``, ``figures_dir``, ``interactive``, in any type
        papermill produces (``seed=1.0`` and ``seed="1"`` mean seed 1).

    Returns
    -------
    NotebookContext
        ``run_dir`` defaults to ``runs/<profile>``, ``figures_dir`` to ``<run_dir>/figures``
        (both created); ``interactive`` is the parameter, else ``$MARS_INTERACTIVE``, else True
        exactly when ``run_dir`` was not given. It also chooses widget or text progress bars.

    Raises
    ------
    marsutils.core.parameters.ParameterError
        For an unknown parameter or an invalid value, naming it and the allowed values.
    """
    values = resolve_parameters({"profile": profile, **parameters})
    prof = get_profile(values["profile"])
    run = values["run_dir"] or default_run_dir(prof.name)
    figs = values["figures_dir"] or RunLayout(run).figures
    interactive = values["interactive"]
    if interactive is None:
        interactive = env_interactive()
    if interactive is None:
        interactive = values["run_dir"] is None
    set_interactive(interactive)
    quiet_forked_loader_cleanup()
    run.mkdir(parents=True, exist_ok=True)
    figs.mkdir(parents=True, exist_ok=True)
    data_dir = str(values["data_dir"]) if values["data_dir"] is not None else None
    ctx = NotebookContext(
        prof, values["seed"], data_dir, run, figs, values["device"], interactive=interactive
    )
    data = f", data {display_path(data_dir)}" if data_dir else ""
    print(
        f"profile {prof.name!r} (seed {ctx.seed}, device {ctx.device}): "
        f"run dir {display_path(run)}{data}"
    )
    from marsutils.train.runtime import (
        requested_precision,  # a bad $MARS_PRECISION fails here, clearly
    )

    precision, source = requested_precision()
    if source != "default":
        print(f"precision {precision} (set by ${source}; see marsutils.train.runtime)")
    return ctx
