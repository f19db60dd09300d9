"""Evaluating a trained classifier on another labelled folder: cluster bootstrap, class
matching by name, checkpoint checks, and the command line end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, jaccard_score

from marsutils.cli.main import main
from marsutils.evaluate import clustered_bootstrap_ci, confusion_scores, load_classifier
from marsutils.train.checkpoint import CheckpointError


def _toy(seed: int = 0, n: int = 60, k: int = 4):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, k, n)
    y_pred = np.where(rng.random(n) < 0.7, y_true, rng.integers(0, k, n))
    return y_true, y_pred


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_point_estimates_match_sklearn():
    y_true, y_pred = _toy()
    y_pred[:5] = 4  # predictions of a class outside the scored ones count as errors
    scored = [0, 1, 2, 3]
    cm = np.zeros((5, 5))
    np.add.at(cm, (y_true, y_pred), 1)
    scores = confusion_scores(cm, scored)
    assert scores["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    f1 = f1_score(y_true, y_pred, labels=scored, average="macro", zero_division=0)
    assert scores["macro_f1"] == pytest.approx(f1)
    iou = jaccard_score(y_true, y_pred, labels=scored, average="macro", zero_division=0)
    assert scores["mean_iou"] == pytest.approx(iou)
    recall = [np.mean(y_pred[y_true == c] == c) for c in scored]
    assert scores["balanced_accuracy"] == pytest.approx(np.mean(recall))
    full = clustered_bootstrap_ci(y_true, y_pred, np.arange(60), n_classes=5, scored=scored)
    assert full["macro_f1"]["estimate"] == pytest.approx(f1)


def test_cluster_bootstrap_resamples_families_not_images():
    y_true, y_pred = _toy(n=40)
    # every image has 4 identical twins: 200 images but only 40 independent pieces of evidence
    t, p = np.repeat(y_true, 5), np.repeat(y_pred, 5)
    families = np.repeat(np.arange(40), 5)
    clustered = clustered_bootstrap_ci(t, p, families, n_classes=4, n_boot=500)
    naive = clustered_bootstrap_ci(t, p, np.arange(200), n_classes=4, n_boot=500)
    width = {
        n: r["accuracy"]["high"] - r["accuracy"]["low"] for n, r in (("c", clustered), ("n", naive))
    }
    assert width["c"] > 1.6 * width["n"]  # ~sqrt(5) wider in expectation
    assert clustered["accuracy"]["n_groups"] == 40
    single = clustered_bootstrap_ci(y_true, y_pred, np.arange(40), n_classes=4, n_boot=500)
    assert width["c"] == pytest.approx(
        single["accuracy"]["high"] - single["accuracy"]["low"], abs=0.05
    )
    again = clustered_bootstrap_ci(t, p, families, n_classes=4, n_boot=500)
    assert again == clustered  # seeded
    with pytest.raises(ValueError, match="equal"):
        clustered_bootstrap_ci(t, p[:-1], families, n_classes=4)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_a_model_class_without_images_is_left_out_of_the_macro_averages(
    make_v1_layout, isolated_cache, monkeypatch
):
    import torch

    import marsutils.train
    from marsutils.data import load_dataset
    from marsutils.data.classes import V1_CLASS_NAMES
    from marsutils.evaluate import evaluate_folder, format_evaluation

    # v1 names "impact" (5) and the model's "swiss cheese" (6) have no image in the folder;
    # "edge" images are not the model's and are left out
    v1 = make_v1_layout(labels=(0, 0, 1, 1, 2, 3, 4, 6))
    model_names = (*V1_CLASS_NAMES[:6], "swiss cheese")
    labels = load_dataset(v1).labels
    seen = {}

    def fake_predict_proba(model, images, rows, **kwargs):
        seen["true"] = labels[rows]
        pred = labels[rows].copy()
        pred[0] = 5  # one prediction of the absent class "impact": an error
        pred[4] = 0  # and one plain error (a crater called other)
        seen["pred"] = pred
        return np.eye(len(model_names))[pred]

    monkeypatch.setattr(marsutils.train, "predict_proba", fake_predict_proba)
    result = evaluate_folder(torch.nn.Identity(), model_names, v1, image_size=32, n_boot=20)
    t, p = seen["true"], seen["pred"]
    present = [0, 1, 2, 3, 4]
    assert sorted(set(t)) == present and result["n_images"] == 14
    m = {name: v["estimate"] for name, v in result["metrics"].items()}
    f1 = f1_score(t, p, labels=present, average="macro", zero_division=0)
    assert m["macro_f1"] == pytest.approx(f1)
    # the rule is not a no-op: averaging over every model class would give less
    assert f1 > f1_score(t, p, labels=range(7), average="macro", zero_division=0) + 0.1
    iou = jaccard_score(t, p, labels=present, average="macro", zero_division=0)
    assert m["mean_iou"] == pytest.approx(iou)
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(t, p))
    assert m["accuracy"] == pytest.approx(accuracy_score(t, p)) == pytest.approx(12 / 14)
    assert result["no_image_of"] == ["impact", "swiss cheese"]
    assert [row["class"] for row in result["per_class"]] == list(model_names[:5])
    text = format_evaluation(result)
    assert "no image of: impact, swiss cheese" in text


@pytest.fixture()
def trained_run(make_sample_layout, isolated_cache, tmp_path):
    """A tiny classifier trained by run_classifier on classes other / crater / swiss_cheese."""
    from marsutils.core.profiles import get_profile
    from marsutils.data import prepare_data
    from marsutils.study.experiments import ClassifierSpec, run_classifier

    root = make_sample_layout(n_per_class=8, seed=5)
    (root / "classmap.csv").write_text("label,name\n0,other\n1,Crater\n2,swiss_cheese\n")
    spec = ClassifierSpec(
        "plain", "family", weights="none", image_size=32, epochs=1, samples_per_epoch=16
    )
    run = tmp_path / "run"
    data = prepare_data(root, splits=("family",), run_dir=run, progress=False)
    run_classifier(spec, data, get_profile("smoke"), run, progress=False)
    return run, spec.key, root


def test_evaluate_cli_on_v1_folder(trained_run, make_v1_layout, tmp_path, capsys):
    run, key, _ = trained_run
    v1 = make_v1_layout(labels=(0, 0, 1, 1, 1, 2, 6, 6))
    out = tmp_path / "eval.json"
    argv = ["evaluate", "--run-dir", str(run), "--model-key", key, "--data-dir", str(v1)]
    assert main([*argv, "--n-boot", "50", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "other -> other" in text and "crater -> Crater" in text
    assert "edge (4)" in text and "dark dune (2)" in text  # left out and named
    assert "model classes the data lacks: swiss_cheese" in text
    assert "no image of: swiss_cheese" in text
    result = json.loads(out.read_text())
    assert result["layout"] == "jpl-v1"
    assert result["n_images"] == 10  # 5 landmarks of other/crater, each with its -r90 twin
    assert result["n_families"] == 5
    assert result["classes"]["data_only"] == [
        "dark dune",
        "streak",
        "bright dune",
        "impact",
        "edge",
    ]
    assert result["excluded_images"]["edge"] == 4
    assert result["metrics"]["accuracy"]["n_groups"] == 5
    cm = np.array(result["confusion_matrix"])
    assert cm.shape == (3, 3) and cm.sum() == 10 and cm[2].sum() == 0
    assert cm[0].sum() == 4 and cm[1].sum() == 6
    m = result["metrics"]["accuracy"]
    assert m["low"] <= m["estimate"] <= m["high"]
    # the same command twice gives the same numbers
    assert main([*argv, "--n-boot", "50", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["metrics"] == result["metrics"]


def test_evaluate_by_checkpoint_path_on_sample_folder(trained_run, capsys):
    run, key, root = trained_run
    ckpt = run / "experiments" / key / "seed0" / "best_model.pt"
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(ckpt),
                "--data-dir",
                str(root),
                "--n-boot",
                "20",
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["n_images"] == 48 and result["classes"]["data_only"] == []


def test_checkpoint_mismatch_is_a_clear_error(trained_run, capsys):
    run, key, root = trained_run
    folder = run / "experiments" / key / "seed0"
    done_path = folder / "done.json"
    done = json.loads(done_path.read_text())

    bad = json.loads(json.dumps(done))
    bad["model"]["class_names"] = ["other", "crater"]
    done_path.write_text(json.dumps(bad))
    with pytest.raises(CheckpointError, match="3 outputs but 2 class names"):
        load_classifier(run_dir=run, model_key=key)

    bad = json.loads(json.dumps(done))
    bad["model"]["name"], bad["model"]["attention"] = "full", True
    done_path.write_text(json.dumps(bad))
    with pytest.raises(CheckpointError, match="does not fit the model configuration"):
        load_classifier(folder / "best_model.pt")

    bad = json.loads(json.dumps(done))
    bad["fingerprint"] = "0" * 16
    done_path.write_text(json.dumps(bad))
    argv = ["evaluate", "--run-dir", str(run), "--model-key", key, "--data-dir", str(root)]
    assert main(argv) == 2
    assert "is not the run recorded in" in capsys.readouterr().err

    done_path.unlink()
    assert main(argv) == 2
    assert "done.json is missing" in capsys.readouterr().err
    assert main(["evaluate", "--checkpoint", str(folder / "nope.pt"), "--data-dir", str(root)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_records_folder_without_weights_is_named_as_such(trained_run, tmp_path, capsys):
    """``results/<profile>`` keeps done.json but no best_model.pt: the error says so."""
    import shutil

    run, key, root = trained_run
    records = tmp_path / "records"
    target = records / "experiments" / key / "seed0"
    target.mkdir(parents=True)
    shutil.copy(run / "experiments" / key / "seed0" / "done.json", target / "done.json")
    argv = ["evaluate", "--run-dir", str(records), "--model-key", key, "--data-dir", str(root)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "records folder" in err and str(target / "best_model.pt") in err
    assert "runs/<profile>" in err


def test_twins_in_finds_rotated_and_flipped_copies_only():
    import torch

    from marsutils.data.overlap import twins_in
    from marsutils.data.twins import thumbnails

    rng = np.random.default_rng(0)
    reference = rng.integers(0, 255, size=(6, 48, 48)).astype(np.uint8)
    query = np.stack(
        [
            np.rot90(reference[0]),
            np.fliplr(reference[3]),
            np.clip(reference[5] * 0.5 + 40, 0, 255),  # brightness and contrast change
            rng.integers(0, 255, size=(48, 48)),  # a new image
        ]
    )
    found = twins_in(thumbnails(query), thumbnails(reference))
    assert found.tolist() == [True, True, True, False]
    assert twins_in(thumbnails(query), torch.zeros((0, 32, 32))).tolist() == [False] * 4


def _write_v1(root, rows):
    """A v1-layout folder from (name, uint8 array, label) rows."""
    from PIL import Image

    (root / "map-proj").mkdir(parents=True)
    for name, img, _ in rows:
        Image.fromarray(np.ascontiguousarray(img)).save(root / "map-proj" / name, quality=95)
    (root / "labels-map-proj.txt").write_text("".join(f"{n} {lab}\n" for n, _, lab in rows))
    return root


def test_evaluate_counts_twins_of_training_images_and_scores_the_rest(
    trained_run, tmp_path, capsys, monkeypatch
):
    import shutil

    from PIL import Image

    from marsutils.data import load_split

    run, key, root = trained_run
    split = load_split(run / "splits" / "family-seed0.csv")
    train = split[split["subset"] == "train"]
    fitted = split["subset"].isin(["train", "val"])
    # 1. the training folder itself: every train and val image matches by name, the test images
    #    (other families: the split is by family) are the part without overlap
    argv = ["evaluate", "--run-dir", str(run), "--model-key", key, "--n-boot", "30"]
    assert main([*argv, "--data-dir", str(root), "--training-data-dir", str(root), "--json"]) == 0
    own = json.loads(capsys.readouterr().out)["overlap"]
    assert own["checked"] and own["n_training_images"] == int(fitted.sum())
    assert own["name"] == int(fitted.sum()) and own["bytes"] == own["look"] == 0
    assert own["n_images_without_overlap"] == int((~fitted).sum())
    # 2. another release: a byte copy and a rotated re-encoding of training images (one family
    #    each, with a new twin of its own), and new images that the model never saw
    copy_src = root / "images" / train["image"].iat[0]
    rot_src = np.asarray(Image.open(root / "images" / train["image"].iat[2]).convert("L"))
    rng = np.random.default_rng(11)
    new = [rng.integers(0, 255, size=rot_src.shape).astype(np.uint8) for _ in range(3)]
    rows = [("ESP_000001_1000_RED-0001.jpg", np.asarray(Image.open(copy_src).convert("L")), 0)]
    rows += [("ESP_000002_1000_RED-0002.jpg", np.rot90(rot_src), 1)]
    rows += [("ESP_000002_1000_RED-0002-r90.jpg", np.rot90(rot_src, 2), 1)]
    rows += [(f"ESP_00000{3 + i}_1000_RED-000{3 + i}.jpg", img, i % 2) for i, img in enumerate(new)]
    other = _write_v1(tmp_path / "v1", rows)
    shutil.copyfile(copy_src, other / "map-proj" / rows[0][0])  # the bytes, not a re-encoding
    out = tmp_path / "eval.json"
    base = [*argv, "--data-dir", str(other), "--training-data-dir", str(root)]
    assert main([*base, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    result = json.loads(out.read_text())
    ov = result["overlap"]
    assert (ov["name"], ov["bytes"], ov["look"]) == (0, 1, 2)
    assert ov["twin_images"] == 3 and ov["overlapping_images"] == 3
    assert ov["n_images_without_overlap"] == 3 == result["n_images"] - 3
    assert ov["metrics_without_overlap"]["accuracy"]["n_groups"] == 3
    assert "3 scored images are twins of them (name 0, bytes 1, thumbnail 2)" in text
    assert "without them (3 images)" in text
    # 3. a training folder with another fingerprint is refused by name, not matched
    monkeypatch.setenv("MARS_DATA_DIR", str(other))
    assert main([*argv, "--data-dir", str(other), "--json"]) == 0
    refused = json.loads(capsys.readouterr().out)["overlap"]
    assert not refused["checked"] and f"training folder {other}" in refused["reason"]
    assert "is not the data of" in refused["reason"]
    # 4. asked not to: said so
    assert main([*argv, "--data-dir", str(other), "--no-overlap"]) == 0
    assert "not checked (not asked for)" in capsys.readouterr().out


def test_a_checkpoint_outside_a_run_folder_says_why_overlap_is_unchecked(trained_run, tmp_path):
    import shutil

    from marsutils.evaluate import training_images

    run, key, _ = trained_run
    loose = tmp_path / "loose"
    shutil.copytree(run / "experiments" / key / "seed0", loose)
    reason = training_images(loose / "best_model.pt")
    assert isinstance(reason, str) and "not inside a run folder" in reason
    (run / "splits" / "family-seed0.csv").unlink()
    reason = training_images(run / "experiments" / key / "seed0" / "best_model.pt")
    assert isinstance(reason, str) and "family-seed0.csv does not exist" in reason


def test_overlap_section_reports_why_the_overlap_was_not_checked():
    from marsutils.evaluate.overlap import overlap_section

    rows = np.arange(3)

    def never(_: np.ndarray) -> dict:
        raise AssertionError("nothing is scored when the overlap is not checked")

    assert overlap_section(None, None, rows, rows, rows, never) == {
        "checked": False,
        "reason": "not asked for",
    }
    reason = "the run's split file x.csv does not exist"
    assert overlap_section(reason, None, rows, rows, rows, never) == {
        "checked": False,
        "reason": reason,
    }
