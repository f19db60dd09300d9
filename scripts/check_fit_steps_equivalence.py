"""Historical, one-off check (it ran before the layer folders of commit 90e9d92: the old code it
loads imports ``marsutils.atomic`` and friends, which no longer exist at HEAD; run it at a commit
before 90e9d92, or copy it and set its base commit to compare two later versions).

One-off check that the split ``fit()`` (issue #13) trains bit for bit like the one-function
``fit()`` of commit 5fe8831, and ``fit_segmentation`` on the engine's steps like its own loop.

Both versions train the toy of ``tests/test_train_engine.py`` in this process with the same
threads; the final weights (``torch.equal``), the val and test prediction frames (``.equals``),
the history and ``done.json`` (timings left out) and the saved checkpoint (every tensor) must be
identical, for: the default selection, early stopping, forced bf16, label smoothing with fewer
samples per epoch, an interrupted-then-resumed run and a records-only run (weights restored by
retraining). ``fit_segmentation`` is compared the same way (weights, history, confusion matrix,
predicted masks) in fp32 and bf16, with ``eval_every``, a ``forward`` adapter and crops without
a labelled pixel (the skipped-batch path). Run from the repository root::

    PYTHONPATH=$PWD python scripts/check_fit_steps_equivalence.py
"""

from __future__ import annotations

import dataclasses
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from marsutils.core.atomic import read_json
from marsutils.train import FitConfig, seed_everything
from marsutils.train import engine as new_engine
from marsutils.train.checkpoint import load_checkpoint

BASE = "5fe8831"
TIMES = {"epoch_time_s", "images_per_s", "train_time_s", "final_predict_s"}


def old_module(path_in_repo: str, name: str):
    """``path_in_repo`` as it was at commit BASE, imported as ``name`` (same package)."""
    source = subprocess.run(
        ["git", "show", f"{BASE}:{path_in_repo}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / f"{name.rsplit('.', 1)[-1]}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def toy():
    rng = np.random.default_rng(0)
    labels = np.arange(96) % 3
    images = (rng.integers(0, 60, (96, 227, 227)) + 80 * labels[:, None, None]).astype(np.uint8)
    subset = np.array(["train"] * 60 + ["val"] * 18 + ["test"] * 18)
    split = pd.DataFrame(
        {
            "row": np.arange(96),
            "image": [f"{i}.jpg" for i in range(96)],
            "label": labels,
            "subset": subset,
        }
    )
    return images, split


def tiny_model():
    seed_everything(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, 2, 1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.3),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 3),
    )


def same_tree(a, b, where: str) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{where}: keys {a.keys()} != {b.keys()}"
        for k in a:
            if k not in TIMES:
                same_tree(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same_tree(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"


def run(engine, folder: Path, config: FitConfig, case: str):
    images, split = toy()
    model = tiny_model()
    kw = {"progress": False}
    if case == "resume":
        try:
            engine.fit(model, images, split, config, folder, stop_after_epoch=2, **kw)
        except engine.TrainingInterrupted:
            pass
        else:
            raise AssertionError("stop_after_epoch=2 did not interrupt the run")
        model = tiny_model()
    result = engine.fit(model, images, split, config, folder, **kw)
    if case == "records":
        (folder / "best_model.pt").unlink()
        (folder / "checkpoint.pt").unlink()
        records_only = tiny_model()
        engine.fit(records_only, images, split, config, folder, need_weights=False, **kw)
        same_tree(
            records_only.state_dict(),
            tiny_model().to(memory_format=torch.channels_last).state_dict(),
            "records-only keeps the initial weights",
        )
        model = tiny_model()
        result = engine.fit(model, images, split, config, folder, **kw)  # retrains
    return model, result


def main() -> int:
    old = old_module("marsutils/train/engine.py", "marsutils.train._engine_old")
    base = FitConfig(
        epochs=3, batch_size=12, image_size=32, num_workers=0, patience=5, lr=3e-3, precision="fp32"
    )
    cases = {
        "last": (base, "plain"),
        "early-stopping": (
            dataclasses.replace(base, epochs=5, patience=1, selection="best_val_macro_f1"),
            "plain",
        ),
        "bf16": (dataclasses.replace(base, precision="bf16"), "plain"),
        "smoothing": (
            dataclasses.replace(base, label_smoothing=0.1, samples_per_epoch=30, seed=1),
            "plain",
        ),
        "resume": (base, "resume"),
        "resume-best": (
            dataclasses.replace(base, epochs=4, selection="best_val_macro_f1"),
            "resume",
        ),
        "records-only": (base, "records"),
    }
    print(f"torch threads: {torch.get_num_threads()}")
    root = Path(tempfile.mkdtemp())
    try:
        for name, (config, case) in cases.items():
            a_model, a = run(old, root / name / "old", config, case)
            b_model, b = run(new_engine, root / name / "new", config, case)
            same_tree(a_model.state_dict(), b_model.state_dict(), f"{name}: weights")
            assert a.test_predictions.equals(b.test_predictions), f"{name}: test predictions"
            assert a.val_predictions.equals(b.val_predictions), f"{name}: val predictions"
            same_tree(a.history, b.history, f"{name}: history")
            assert (a.best_epoch, a.best_val_macro_f1, a.resumed_from_epoch, a.trained) == (
                b.best_epoch,
                b.best_val_macro_f1,
                b.resumed_from_epoch,
                b.trained,
            ), name
            done_a, done_b = (read_json(root / name / v / "done.json") for v in ("old", "new"))
            same_tree(done_a, done_b, f"{name}: done.json")
            for file in ("checkpoint.pt", "best_model.pt"):
                pa, pb = (root / name / v / file for v in ("old", "new"))
                if pa.exists() or pb.exists():
                    same_tree(load_checkpoint(pa), load_checkpoint(pb), f"{name}: {file}")
            print(
                f"{name:15s} identical: weights, predictions, history, done.json, checkpoints "
                f"(epochs {len(b.history)}, best epoch {b.best_epoch}, "
                f"val macro F1 {b.best_val_macro_f1:.4f})"
            )
    finally:
        shutil.rmtree(root)
    print("OK: the split fit() is bitwise identical to", BASE)
    check_segmentation()
    check_models()
    return 0


def check_models() -> None:
    """Every model's logits and dense scores equal those of its class at BASE, bit for bit."""
    from marsutils.models import MODEL_NAMES, build_model

    old_classifier = old_module("marsutils/models/classifier.py", "marsutils.models._cls_old")
    old_baselines = old_module("marsutils/models/baselines.py", "marsutils.models._base_old")
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    for name in MODEL_NAMES:
        torch.manual_seed(0)
        new = build_model(name, num_classes=5, weights="none").eval()
        if name in ("unet", "deeplabv3plus"):
            old = old_baselines.SmpSegClassifier(new.model, config=new.config)
        else:
            old = old_classifier.AttentionSegClassifier.__new__(
                old_classifier.AttentionSegClassifier
            )
            torch.nn.Module.__init__(old)
            old.pool, old.backbone, old.head, old.config = (
                new.pool,
                new.backbone,
                new.head,
                new.config,
            )
        old.eval()
        with torch.no_grad():
            assert torch.equal(old(x), new(x)), name
            assert torch.equal(old.forward_dense(x), new.forward_dense(x)), name
            assert torch.equal(new.forward_head(new.forward_features(x)), new(x)), name
    print("OK: every model's logits and dense scores are bitwise those of", BASE)


class TinyDense(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 1)
        )

    def forward(self, x):
        raise AssertionError("forward_dense must be used")

    def forward_dense(self, x):
        return self.net(x)


def seg_tiles(n: int, seed: int, size: int = 64, blank_left: bool = False):
    from marsutils.seg.tiles import SegTile

    rng = np.random.default_rng(seed)
    tiles = []
    for i in range(n):
        blocks = rng.integers(1, 5, size=(size // 8, size // 8))
        mask = np.kron(blocks, np.ones((8, 8), dtype=int)).astype(np.uint8)
        gray = (mask.astype(int) * 50 + rng.integers(-5, 6, size=mask.shape)).astype(np.uint8)
        mask[rng.random(mask.shape) < 0.2] = 0
        if blank_left:
            mask[:, : size * 3 // 4] = 0  # many crops without a labelled pixel
        tiles.append(SegTile(f"s{seed}_{i}", gray, mask))
    return tiles


def check_segmentation() -> None:
    from marsutils.seg import train as new_seg

    old_seg = old_module("marsutils/seg/train.py", "marsutils.seg._train_old")
    cases = {
        "fp32": {},
        "bf16": {"precision": "bf16"},
        "eval-every": {"eval_every": 2, "epochs": 4},
        "adapter": {"forward": lambda model, x: model.net(x)},
        "skipped-crops": {"blank_left": True, "crop": 16, "crops_per_tile": 3},
    }
    for name, extra in cases.items():
        extra = dict(extra)
        blank = extra.pop("blank_left", False)
        kwargs = {
            "epochs": 3,
            "crop": 32,
            "batch_size": 4,
            "lr": 5e-2,
            "seed": 0,
            "device": "cpu",
            "image_size": None,
            "precision": "fp32",
            **extra,
        }
        outcomes = []
        for module in (old_seg, new_seg):
            torch.manual_seed(0)
            model = TinyDense()
            fit = module.fit_segmentation(
                model, seg_tiles(4, 0, blank_left=blank), seg_tiles(2, 1), **kwargs
            )
            outcomes.append((model, fit))
        (a_model, a), (b_model, b) = outcomes
        same_tree(a_model.state_dict(), b_model.state_dict(), f"seg {name}: weights")
        same_tree(a.history, b.history, f"seg {name}: history")
        assert np.array_equal(a.iou.confusion, b.iou.confusion), f"seg {name}: confusion"
        assert np.array_equal(a.predictions, b.predictions), f"seg {name}: predicted masks"
        print(
            f"seg {name:13s} identical: weights, history, confusion, predicted masks "
            f"(mIoU {b.iou.miou:.4f}, train loss {[round(h['train_loss'], 4) for h in b.history]})"
        )
    print("OK: fit_segmentation on the engine's steps is bitwise identical to", BASE)


if __name__ == "__main__":
    raise SystemExit(main())
