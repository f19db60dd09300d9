"""What every notebook does first: resolve its parameters into a run context."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .profiles import Profile, get_profile

__all__ = ["REPO_ROOT", "NotebookContext", "setup", "default_run_dir"]

REPO_ROOT = Path(__file__).resolve().parents[1]


def default_run_dir(profile: str) -> Path:
    """``runs/<profile>`` inside the repository."""
    return REPO_ROOT / "runs" / profile


@dataclass
class NotebookContext:
    """The resolved parameters of a notebook run, and lazy access to the prepared data."""

    profile: Profile
    seed: int
    data_dir: str | None
    run_dir: Path
    figures_dir: Path
    device: str
    _data: Any = field(default=None, repr=False)

    @property
    def data(self):
        """The prepared data (dataset, image cache, families, splits); built on first use."""
        if self._data is None:
            from .data.prepare import prepare_data

            self._data = prepare_data(
                self.data_dir,
                splits=self.profile.splits,
                seed=self.seed,
                max_images=self.profile.max_images,
                run_dir=self.run_dir,
            )
        return self._data

    def save_figure(self, fig, name: str) -> list[Path]:
        """Save ``fig`` as PNG and SVG into the figures folder."""
        from .plots import save_figure

        return save_figure(fig, self.figures_dir, name)

    def show_figure(self, fig, name: str) -> None:
        """Save ``fig`` (PNG and SVG) and display it once as a PNG, whatever the backend."""
        import matplotlib.pyplot as plt

        from .xai.figures import show_figure

        self.save_figure(fig, name)
        show_figure(fig)
        plt.close(fig)  # no second copy from the inline backend at the end of the cell

    @property
    def results_dir(self) -> Path:
        """Small result files of this run (JSON/CSV)."""
        path = self.run_dir / "results"
        path.mkdir(parents=True, exist_ok=True)
        return path


def setup(
    profile: str,
    *,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    run_dir: str | os.PathLike | None = None,
    device: str = "auto",
    figures_dir: str | os.PathLike | None = None,
    **overrides: Any,
) -> NotebookContext:
    """Resolve a notebook's parameters: the profile (with overrides that are not None), folders."""
    prof = get_profile(profile, **{k: v for k, v in overrides.items() if v is not None})
    run = Path(run_dir) if run_dir else default_run_dir(prof.name)
    figs = Path(figures_dir) if figures_dir else run / "figures"
    run.mkdir(parents=True, exist_ok=True)
    figs.mkdir(parents=True, exist_ok=True)
    ctx = NotebookContext(prof, int(seed), str(data_dir) if data_dir else None, run, figs, device)
    print(f"profile {prof.name!r} (seed {seed}): run dir {run}")
    from .train.runtime import requested_precision  # a bad $MARS_PRECISION fails here, clearly

    precision, source = requested_precision()
    if source != "default":
        print(f"precision {precision} (set by ${source}; see marsutils.train.runtime)")
    return ctx
