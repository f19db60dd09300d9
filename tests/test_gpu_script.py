"""The GPU script (issue 27) runs where no GPU is lent: the same code on the CPU at smoke size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "gpu_paper_backbone.py"


@pytest.mark.slow
def test_the_gpu_script_trains_resnet50_from_scratch_on_cv_folds_at_smoke_size(tmp_path):
    records = tmp_path / "records"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--smoke",
            *("--run-dir", str(tmp_path / "run")),
            *("--records", str(records), "--threads", "2"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    log = json.loads((records / "grid_log.json").read_text())
    keys = [row["run_key"] for row in log]
    assert len(keys) == 4 and all(row["trained"] for row in log)
    assert {key.split("/")[0] for key in keys} == {"family-cv2-f0", "family-cv2-f1"}
    assert {key.split("/")[1].split("-")[0] for key in keys} == {"full", "plain"}
    assert all("resnet50-none-64px-1ep" in key for key in keys), keys
    for key in keys:
        metrics = json.loads((records / "experiments" / key / "metrics.json").read_text())
        assert 0.0 <= metrics["overall"]["accuracy"] <= 1.0
        assert (metrics["spec"]["backbone"], metrics["spec"]["weights"]) == ("resnet50", "none")


def test_the_gpu_script_refuses_a_smoke_run_without_a_records_folder():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "--smoke needs --records" in done.stderr


def test_the_gpu_script_refuses_an_empty_budget():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--epochs", "0"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "need epochs >= 1" in done.stderr
