"""The exported figures folder: raster-only figures become one JPEG, line plots keep SVG + PNG;
the published folder stays small."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from marsutils.book.notebook import REPO_ROOT
from marsutils.book.outputs import main, rasterize_figures


def _save(fig: Figure, folder, name):
    for fmt in ("png", "svg"):
        fig.savefig(folder / f"{name}.{fmt}", format=fmt)


def test_raster_only_figures_become_one_jpeg(tmp_path):
    heat = Figure()
    heat.add_subplot().imshow(np.random.default_rng(0).random((20, 20)))
    line = Figure()
    line.add_subplot().plot([0, 1, 2], [1, 0, 1])
    _save(heat, tmp_path, "heat")
    _save(line, tmp_path, "line")
    assert rasterize_figures(tmp_path) == [tmp_path / "heat.jpg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["heat.jpg", "line.png", "line.svg"]
    with Image.open(tmp_path / "heat.jpg") as image:
        assert image.format == "JPEG" and image.mode == "RGB"
    assert main(["rasterize", str(tmp_path)]) == 0  # nothing left to convert
    assert sorted(p.name for p in tmp_path.iterdir()) == ["heat.jpg", "line.png", "line.svg"]


def test_the_published_figures_folder_is_small_and_raster_grids_are_jpeg():
    folder = REPO_ROOT / "figures"
    total = sum(p.stat().st_size for p in folder.iterdir())
    assert total < 15 * 2**20, f"figures/ is {total / 2**20:.1f} MB"
    raster_svgs = [
        p.name for p in folder.glob("*.svg") if "<image" in p.read_text(errors="replace")
    ]
    assert raster_svgs == [], raster_svgs
