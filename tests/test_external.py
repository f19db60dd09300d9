"""The external-validation study (marsutils.study.external): the scores of K models on one
external folder, the drop from the in-release scores, the comparisons again, the predictions
files, the folder and its record, tables and figures."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, jaccard_score

from marsutils.core import paper
from marsutils.core.layout import ExperimentFiles, RunLayout
from marsutils.core.profiles import get_profile
from marsutils.core.records import ExternalRecord, record_for
from marsutils.data.errors import DataError
from marsutils.stats import crossval, rules
from marsutils.stats.metrics import MetricsError
from marsutils.study.external import predictions, scores, tables
from marsutils.study.findings import COMPARISONS

LABELS = [0, 1, 2, 3]
N_BOOT = 300
ORACLES = {
    "accuracy": lambda y, p, labels: accuracy_score(y, p),
    "macro_f1": lambda y, p, labels: f1_score(
        y, p, labels=labels, average="macro", zero_division=0
    ),
    "mean_iou": lambda y, p, labels: jaccard_score(
        y, p, labels=labels, average="macro", zero_division=0
    ),
}


def _images(n: int = 60, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images in twin families of 2 or 3 (twins share a class), classes cycling over
    the families so every class has several."""
    rng = np.random.default_rng(seed)
    sizes, total = [], 0
    while total < n:
        sizes.append(min(int(rng.integers(2, 4)), n - total))
        total += sizes[-1]
    groups = np.repeat(np.arange(len(sizes)), sizes)
    y = (groups % k).astype(np.int64)
    return y, groups


def _predict(rng: np.random.Generator, y: np.ndarray, accuracy: float, k: int = 4) -> np.ndarray:
    right = rng.random(len(y)) < accuracy
    return np.where(right, y, (y + rng.integers(1, k, len(y))) % k)


def _mean_oracle(metric: str, y: np.ndarray, preds: np.ndarray, labels) -> float:
    return float(np.mean([ORACLES[metric](y, p, labels) for p in preds]))


# --------------------------------------------------------------------------------------------
# scores
# --------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_model_scores_are_the_mean_of_scikit_learns_over_the_k_models():
    y, g = _images()
    rng = np.random.default_rng(1)
    preds = np.stack([_predict(rng, y, acc) for acc in (0.6, 0.7, 0.8)])
    preds[0, :4] = 6  # a class outside the scored ones: still an error
    part = ~np.isin(g, [0, 1, 2, 3])  # one family of each class left out
    subsets = {"all": np.ones(len(y), bool), "part": part, "none": np.zeros(len(y), bool)}
    out = scores.model_scores(y, preds, g, LABELS, subsets, n_boot=N_BOOT, random_state=0)
    assert out["metrics"]["none"] is None
    for name in ("all", "part"):
        mask = subsets[name]
        assert set(out["metrics"][name]) == set(scores.METRICS)
        for metric, res in out["metrics"][name].items():
            expected = _mean_oracle(metric, y[mask], preds[:, mask], LABELS)
            assert res["estimate"] == pytest.approx(expected), (name, metric)
            assert res["low"] <= res["estimate"] <= res["high"]
            assert res["low"] < res["high"]  # the models are not perfect: the bootstrap varies
            assert res["n_families"] == len(np.unique(g[mask]))
            assert res["n_repeats"] == 3
            assert res["n_boot"] == N_BOOT
    # leaving families out changes the score: the subset is really applied
    assert out["metrics"]["part"]["macro_f1"]["estimate"] != pytest.approx(
        out["metrics"]["all"]["macro_f1"]["estimate"]
    )
    per_model = out["per_model_macro_f1"]
    assert len(per_model) == 3
    for value, p in zip(per_model, preds, strict=True):
        assert value == pytest.approx(ORACLES["macro_f1"](y, p, LABELS))
    again = scores.model_scores(y, preds, g, LABELS, subsets, n_boot=N_BOOT, random_state=0)
    assert again == out  # seeded


def test_model_scores_average_over_the_given_labels_only():
    """A model class without an image (label 3 here) is not in the macro average."""
    y, g = _images()
    y, g = y[y < 3], g[y < 3]
    preds = np.stack([_predict(np.random.default_rng(s), y, 0.7, k=3) for s in range(2)])
    subsets = {"all": np.ones(len(y), bool)}
    out = scores.model_scores(y, preds, g, [0, 1, 2], subsets, n_boot=N_BOOT, random_state=0)
    expected = _mean_oracle("macro_f1", y, preds, [0, 1, 2])
    assert out["metrics"]["all"]["macro_f1"]["estimate"] == pytest.approx(expected)
    four = _mean_oracle("macro_f1", y, preds, LABELS)
    assert expected != pytest.approx(four)  # the check can tell the two class sets apart


def _drops(internal, external, n_boot=N_BOOT):
    return scores.class_drops(
        internal,
        external,
        LABELS,
        paper.DATASET_CLASSES,
        n_boot=n_boot,
        random_state=0,
    )


def test_identical_scores_in_release_and_external_give_no_drop():
    y, g = _images(n=90)
    rng = np.random.default_rng(2)
    preds = np.stack([_predict(rng, y, 0.75) for _ in range(3)])
    out = _drops((y, preds, g), (y, preds, g))
    assert [r["class"] for r in out["per_class"]] == [paper.DATASET_CLASSES[c] for c in LABELS]
    for row, label in zip(out["per_class"], LABELS, strict=True):
        assert row["external"]["estimate"] == pytest.approx(row["in_release"]["estimate"])
        assert row["drop"]["estimate"] == pytest.approx(0.0, abs=1e-12)
        assert row["drop"]["low"] <= 0.0 <= row["drop"]["high"]
        assert row["drop"]["low"] < row["drop"]["high"]  # two independent bootstraps
        families = len(np.unique(g[y == label]))
        assert row["n_families_external"] == row["n_families_in_release"] == families
    shared = out["shared_macro_f1"]
    assert shared["drop"]["estimate"] == pytest.approx(0.0, abs=1e-12)
    assert shared["drop"]["low"] <= 0.0 <= shared["drop"]["high"]


def test_a_class_predicted_worse_externally_shows_a_drop_that_excludes_zero():
    y_in, g_in = _images(n=120, seed=3)
    y_ex, g_ex = _images(n=60, seed=4)
    rng = np.random.default_rng(5)
    p_in = np.stack([_predict(rng, y_in, 0.85) for _ in range(3)])
    p_ex = np.stack([_predict(rng, y_ex, 0.85) for _ in range(3)])
    p_ex[:, y_ex == 2] = 3  # class 2 is never recognised on the external images
    out = _drops((y_in, p_in, g_in), (y_ex, p_ex, g_ex))
    rows = {r["class"]: r for r in out["per_class"]}
    worse = rows[paper.DATASET_CLASSES[2]]
    assert worse["drop"]["estimate"] < -0.5
    assert worse["drop"]["high"] < 0.0
    assert worse["external"]["estimate"] == pytest.approx(0.0)
    # every per-class F1 is scikit-learn's, averaged over the K models
    per_class = {}
    for label in LABELS:
        row = rows[paper.DATASET_CLASSES[label]]
        for side, (y, p) in (("external", (y_ex, p_ex)), ("in_release", (y_in, p_in))):
            f1 = np.mean([f1_score(y, q, labels=[label], average=None)[0] for q in p])
            assert row[side]["estimate"] == pytest.approx(f1), (label, side)
            assert row[side]["low"] <= row[side]["estimate"] <= row[side]["high"]
            per_class[label, side] = f1
        assert row["drop"]["estimate"] == pytest.approx(
            per_class[label, "external"] - per_class[label, "in_release"]
        )
    shared = out["shared_macro_f1"]
    for side, (y, p) in (("external", (y_ex, p_ex)), ("in_release", (y_in, p_in))):
        mean = np.mean([per_class[c, side] for c in LABELS])
        assert shared[side]["estimate"] == pytest.approx(mean)
        assert shared[side]["estimate"] == pytest.approx(_mean_oracle("macro_f1", y, p, LABELS))
    assert shared["drop"]["estimate"] == pytest.approx(
        shared["external"]["estimate"] - shared["in_release"]["estimate"]
    )
    assert shared["drop"]["high"] < 0.0


# --------------------------------------------------------------------------------------------
# comparisons
# --------------------------------------------------------------------------------------------

#: The claims the planted case below can judge (both models given): full, unet, plain.
_JUDGED = {c[0] for c in COMPARISONS if {c[3], c[4]} <= {"full", "unet", "plain"}}


def _planted(seed: int = 0):
    y, g = _images(n=60, seed=seed)
    rng = np.random.default_rng(seed + 10)
    preds = {
        "full": np.stack([y.copy() for _ in range(3)]),
        "unet": np.stack([_predict(rng, y, 0.2) for _ in range(3)]),
        "plain": np.stack([_predict(rng, y, 0.3) for _ in range(3)]),
    }
    return y, g, preds


def test_external_comparisons_judge_the_claims_whose_models_are_given():
    y, g, preds = _planted()
    together = "attention + head help together"  # full - plain, macro F1
    # its effect set to the planted difference itself: 0 is rejected, the effect is not
    planted = 100 * _mean_oracle("macro_f1", y, preds["full"], LABELS) - 100 * _mean_oracle(
        "macro_f1", y, preds["plain"], LABELS
    )
    effects = {c[0]: 5.0 for c in COMPARISONS} | {together: planted}
    rows = scores.external_comparisons(
        COMPARISONS, preds, y, g, LABELS, effects=effects, n_boot=500, random_state=0
    )
    assert [r["claim"] for r in rows] == [c[0] for c in COMPARISONS]
    assert len(_JUDGED) == 3
    for row, comparison in zip(rows, COMPARISONS, strict=True):
        _, _, _, a, b, metric, _ = comparison
        assert (row["a"], row["b"], row["metric"]) == (a, b, metric)
        assert row["effect"] == effects[row["claim"]]
        if row["claim"] not in _JUDGED:
            missing = [m for m in (a, b) if m not in preds]
            assert row["verdict"] == rules.NOT_RUN
            assert "difference" not in row
            for m in (a, b):
                assert (f"'{m}'" in row["why"]) == (m in missing), row["why"]
            continue
        res = crossval.cv_paired_difference(
            y,
            preds[a],
            preds[b],
            g,
            metric=metric,
            labels=LABELS,
            effect=row["effect"] / 100,
            n_boot=row["n_boot"],
            random_state=0,
        )
        assert row["difference"] == pytest.approx(100 * res["difference"])
        assert row["difference"] > 40
        assert row["low"] <= row["difference"] <= row["high"]
        assert row["n_families"] == len(np.unique(g))
        # Holm over the 6 tests: never below the raw p-values of the same resamples
        assert res["p_zero"] <= row["p_zero"] <= 1.0
        assert res["p_effect"] <= row["p_effect"] <= 1.0
        boot = rules.TestResult(row["difference"], row["p_zero"], row["p_effect"], "bootstrap")
        assert row["verdict"] == rules.comparative_verdict(row["effect"], boot)[0]
        if row["claim"] == together:
            assert row["verdict"] == rules.CONFIRMED
        else:
            assert row["verdict"] == rules.DIRECTION_ONLY
        assert "Holm over the 6 tests of 3 comparisons" in row["why"]
        # one difference per model pair, each scikit-learn's (points)
        assert len(row["fold_differences"]) == len(preds[a]) == 3
        for d, pa, pb in zip(row["fold_differences"], preds[a], preds[b], strict=True):
            oracle = ORACLES[metric]
            assert d == pytest.approx(100 * (oracle(y, pa, LABELS) - oracle(y, pb, LABELS)))


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_a_class_without_a_judged_image_enters_both_models_alike():
    y, g = _images(n=60, seed=1)
    keep = y != 3  # the judged images have no image of class 3, a scored class of the folder
    y, g = y[keep], g[keep]
    a = np.stack([y.copy()] * 2)  # never predicts class 3
    b = a.copy()
    b[:, 0] = 3  # one image predicted as class 3
    claim = "attention + head help together"  # full - plain, macro F1
    rows = scores.external_comparisons(
        COMPARISONS,
        {"full": a, "plain": b},
        y,
        g,
        LABELS,
        effects={c[0]: 1.0 for c in COMPARISONS},
        n_boot=200,
        random_state=0,
    )
    got = {r["claim"]: r for r in rows}[claim]["difference"]
    # the same class set for both models: the classes with a judged image, or all of LABELS
    fixed = [
        100 * (ORACLES["macro_f1"](y, a[0], s) - ORACLES["macro_f1"](y, b[0], s))
        for s in ([0, 1, 2], LABELS)
    ]
    assert got == pytest.approx(fixed[0]) or got == pytest.approx(fixed[1])


def test_external_comparisons_without_any_pair_judge_nothing():
    y, g, preds = _planted()
    rows = scores.external_comparisons(
        COMPARISONS,
        {"full": preds["full"]},
        y,
        g,
        LABELS,
        effects={c[0]: 1.0 for c in COMPARISONS},
        n_boot=200,
        random_state=0,
    )
    assert len(rows) == len(COMPARISONS)
    assert all(r["verdict"] == rules.NOT_RUN and "difference" not in r for r in rows)
    assert all("'full'" not in r["why"] for r in rows)


# --------------------------------------------------------------------------------------------
# the folder and its predictions files
# --------------------------------------------------------------------------------------------


@pytest.fixture()
def v1_ext(make_v1_layout, isolated_cache) -> predictions.ExternalFolder:
    """The default v1 folder (labels 0 0 1 1 2 3 4 5 6 6, each image with a rotated twin)."""
    return predictions.external_folder(make_v1_layout())


def _probs(ext: predictions.ExternalFolder, seed: int = 0) -> np.ndarray:
    k = len(paper.DATASET_CLASSES)
    return np.random.default_rng(seed).dirichlet(np.ones(k), len(ext.rows))


def _write(path, ext, probs) -> pd.DataFrame:
    frame = predictions._frame(ext, probs)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return frame


def test_external_folder_scores_the_model_classes_of_a_v1_folder(v1_ext):
    from marsutils.data.classes import SYNONYMS

    ext = v1_ext
    dataset = ext.folder.dataset
    names, labels = dataset.class_names, np.asarray(dataset.labels)
    edge = names.index("edge")
    assert len(labels) == 20
    assert not np.isin(ext.rows, np.flatnonzero(labels == edge)).any()
    assert np.array_equal(ext.rows, np.flatnonzero(labels != edge))
    assert ext.scored_labels == [0, 1, 2, 3, 4, 5]
    assert len(ext.y_true) == len(ext.families) == len(ext.rows) == 16
    for row, y in zip(ext.rows, ext.y_true, strict=True):
        v1_name = names[labels[row]]
        assert paper.DATASET_CLASSES[y] == SYNONYMS.get(v1_name, v1_name)
    streak = labels[ext.rows] == names.index("streak")
    assert streak.any()
    assert {paper.DATASET_CLASSES[y] for y in ext.y_true[streak]} == {"slope streak"}
    impact = labels[ext.rows] == names.index("impact")
    assert {paper.DATASET_CLASSES[y] for y in ext.y_true[impact]} == {"impact ejecta"}
    # each image and its rotated twin are one family
    assert len(np.unique(ext.families)) == 8
    assert ext.name == ext.folder.dataset.root.name
    assert len(ext.fingerprint) == 16

    sub = predictions.external_folder(v1_ext.folder.dataset.root, max_images=8)
    assert len(sub.rows) == len(sub.y_true) == len(sub.families) == 8
    assert set(sub.rows) <= set(ext.rows)
    at = np.searchsorted(ext.rows, sub.rows)
    assert np.array_equal(sub.y_true, ext.y_true[at])
    assert np.array_equal(sub.families, ext.families[at])
    assert sub.fingerprint == ext.fingerprint


def test_external_folder_names_a_missing_folder(tmp_path, isolated_cache):
    absent = tmp_path / "no-such-release"
    with pytest.raises(DataError, match="no-such-release"):
        predictions.external_folder(absent)


def test_a_current_predictions_file_is_read_back(v1_ext, tmp_path):
    path = tmp_path / "external_v1.csv"
    probs = _probs(v1_ext)
    _write(path, v1_ext, probs)
    got = predictions.read_external(path, v1_ext)
    assert got is not None
    assert np.array_equal(got["row"].to_numpy(), v1_ext.rows)
    assert np.array_equal(got["y_true"].to_numpy(), v1_ext.y_true)
    assert np.array_equal(got["y_pred"].to_numpy(), probs.argmax(axis=1))
    table = v1_ext.folder.dataset.table
    assert got["image"].tolist() == table["image"].to_numpy()[v1_ext.rows].tolist()
    k = len(paper.DATASET_CLASSES)
    assert np.allclose(got[[f"prob_{j}" for j in range(k)]].to_numpy(), probs)
    assert predictions.read_external(tmp_path / "absent.csv", v1_ext) is None
    # a fingerprint of digits only (leading zeros) is kept as text
    digits = dataclasses.replace(v1_ext, fingerprint="0000123400001234")
    _write(path, digits, probs)
    assert predictions.read_external(path, digits) is not None
    assert predictions.read_external(path, v1_ext) is None


def test_a_stale_predictions_file_is_never_reused(v1_ext, tmp_path):
    path = tmp_path / "external_v1.csv"
    _write(path, v1_ext, _probs(v1_ext))
    assert predictions.read_external(path, v1_ext) is not None
    other_release = dataclasses.replace(v1_ext, fingerprint="f" * 16)
    assert predictions.read_external(path, other_release) is None
    shifted = dataclasses.replace(v1_ext, rows=v1_ext.rows + 1)
    assert predictions.read_external(path, shifted) is None
    relabelled = dataclasses.replace(v1_ext, y_true=np.roll(v1_ext.y_true, 1))
    assert predictions.read_external(path, relabelled) is None
    subset = predictions.external_folder(v1_ext.folder.dataset.root, max_images=8)
    assert subset.fingerprint == v1_ext.fingerprint
    assert predictions.read_external(path, subset) is None


def test_a_malformed_predictions_file_raises_metrics_error(v1_ext, tmp_path):
    path = tmp_path / "external_v1.csv"
    frame = predictions._frame(v1_ext, _probs(v1_ext))
    frame.drop(columns=["prob_3"]).to_csv(path, index=False)
    with pytest.raises(MetricsError, match="prob"):
        predictions.read_external(path, v1_ext)
    bad = frame.copy()
    bad["y_pred"] = len(paper.DATASET_CLASSES)  # outside the model's classes
    bad.to_csv(path, index=False)
    with pytest.raises(MetricsError, match="y_pred"):
        predictions.read_external(path, v1_ext)


def test_a_predictions_file_without_its_fingerprint_is_refused(v1_ext, tmp_path):
    path = tmp_path / "external_v1.csv"
    frame = predictions._frame(v1_ext, _probs(v1_ext))
    frame.drop(columns=["data_fingerprint"]).to_csv(path, index=False)
    try:
        got = predictions.read_external(path, v1_ext)
    except MetricsError as err:
        assert "data_fingerprint" in str(err)
    else:
        assert got is None


def test_predict_external_reuses_current_files_and_reports_the_missing(v1_ext, tmp_path):
    profile = get_profile("smoke")
    specs = predictions.external_specs(profile)
    layout = RunLayout(tmp_path / "run")
    probs = {}
    for j, spec in enumerate(specs["full"]):
        probs[spec.key] = _probs(v1_ext, seed=j)
        _write(layout.files(spec.key, 0).external(v1_ext.name), v1_ext, probs[spec.key])
    # plain: fold 0 finished but its weights not kept, and its file is of another release
    stale = layout.files(specs["plain"][0].key, 0)
    _write(
        stale.external(v1_ext.name),
        dataclasses.replace(v1_ext, fingerprint="0" * 16),
        probs[specs["full"][0].key],
    )
    stale.done.write_text("{}")
    out = predictions.predict_external(layout.root, profile, v1_ext, models=("full", "plain"))
    assert list(out) == ["full", "plain"]
    full = out["full"]
    assert full["missing"] == {} and full["predicted"] == []
    assert [s.key for s in full["specs"]] == [s.key for s in specs["full"]]
    for spec, frame in zip(full["specs"], full["frames"], strict=True):
        assert np.array_equal(frame["y_pred"].to_numpy(), probs[spec.key].argmax(axis=1))
    plain = out["plain"]
    assert plain["frames"] == [None, None] and plain["predicted"] == []
    assert plain["missing"] == {
        specs["plain"][0].key: "its weights were not kept",
        specs["plain"][1].key: "not trained yet",
    }


def test_external_study_writes_a_record_of_the_complete_models(v1_ext, tmp_path):
    from marsutils.study.external import external_study

    profile = get_profile("smoke")  # n_boot 1000, the least a profile takes
    layout = RunLayout(tmp_path / "run")
    probs = {}
    for j, spec in enumerate(predictions.external_specs(profile)["full"]):
        probs[spec.key] = _probs(v1_ext, seed=j)
        _write(layout.files(spec.key, 0).external(v1_ext.name), v1_ext, probs[spec.key])
    record = external_study(layout.root, profile, v1_ext.folder.dataset.root)
    assert ExternalRecord.from_json(layout.result(ExternalRecord.FILE)) == record
    assert record.config["judged_on"] == "all"  # no split files: the overlap is not checked
    assert record.overlap["checked"] is False
    assert tables.complete_models(record) == ["full"]
    full = record.models["full"]
    preds = np.stack([p.argmax(axis=1) for p in probs.values()])
    assert full["per_model_macro_f1"] == pytest.approx(
        [ORACLES["macro_f1"](v1_ext.y_true, p, v1_ext.scored_labels) for p in preds]
    )
    cm = np.asarray(full["confusion_matrix"])
    assert cm.shape == (len(paper.DATASET_CLASSES),) * 2
    assert cm.sum() == 2 * len(v1_ext.rows)
    assert np.array_equal(cm.sum(axis=1)[:6], 2 * np.bincount(v1_ext.y_true, minlength=6))
    assert "per_class" not in full  # no in-release predictions in this run
    for model in predictions.EXTERNAL_MODELS[1:]:
        assert set(record.models[model]["missing"].values()) == {"not trained yet"}
    assert all(c["verdict"] == rules.NOT_RUN for c in record.comparisons)
    folder = record.folder
    assert folder["n_images"] == 16 and folder["n_folder_images"] == 20
    assert folder["excluded_images"] == {"edge": 4}
    assert folder["no_image_of"] == ["swiss cheese", "spider"]
    text = " ".join(tables.folder_sentences(record))
    assert "edge (4 images)" in text and "streak -> slope streak" in text
    assert "1 of 6 compared classifiers" in tables.status_sentence(record)


# --------------------------------------------------------------------------------------------
# where the folder is, its files, the experiments it scores
# --------------------------------------------------------------------------------------------


def test_locate_external_dir_argument_environment_and_missing(tmp_path, monkeypatch):
    from marsutils.data.locate import locate_external_dir

    given, env = tmp_path / "given", tmp_path / "env"
    given.mkdir()
    env.mkdir()
    monkeypatch.setenv("MARS_EXTERNAL_DIR", str(env))
    assert locate_external_dir(given) == given.resolve()
    assert locate_external_dir() == env.resolve()
    assert locate_external_dir("") == env.resolve()
    absent = tmp_path / "absent-release"
    with pytest.raises(DataError, match="MARS_EXTERNAL_DIR") as err:
        locate_external_dir(absent)
    assert str(absent) in str(err.value)
    monkeypatch.setenv("MARS_EXTERNAL_DIR", str(absent))
    with pytest.raises(DataError, match=r"\$MARS_EXTERNAL_DIR") as err:
        locate_external_dir()
    assert str(absent) in str(err.value)


def test_experiment_files_external_is_a_plain_file_name(tmp_path):
    files = ExperimentFiles(tmp_path)
    assert files.external("hirise-v1") == tmp_path / "external_hirise-v1.csv"
    for bad in ("", "a/b", ".hidden"):
        with pytest.raises(ValueError, match="plain name"):
            files.external(bad)


def test_external_specs_are_the_family_split_models_one_per_fold():
    from marsutils.study.experiments import plan

    profile = get_profile("smoke")
    assert profile.cv_folds == 2
    # the plans hold specs the external study must leave out
    every = [s for nb in ("ablation", "baselines") for s in plan(profile, nb)]
    assert any(s.precision is not None for s in every)
    assert any(s.split_kind != "family" for s in every)
    assert sum(s.model == "full" and s.split_kind == "family" for s in every) > 2
    specs = predictions.external_specs(profile)
    assert list(specs) == list(predictions.EXTERNAL_MODELS)
    for model, found in specs.items():
        assert len(found) == profile.cv_folds, model
        assert [s.split for s in found] == [f"family-cv2-f{k}" for k in range(2)]
        assert all(s.model == model for s in found)
        assert all(s.split_kind == "family" and s.precision is None for s in found)
        assert len({s.key for s in found}) == len(found)


# --------------------------------------------------------------------------------------------
# the record, its tables and figures
# --------------------------------------------------------------------------------------------


def _entry(keys, y, g, preds, internal, subsets):
    out = scores.model_scores(y, preds, g, LABELS, subsets, n_boot=200, random_state=0)
    cm = np.zeros((len(paper.DATASET_CLASSES),) * 2, dtype=np.int64)
    for p in preds:
        np.add.at(cm, (y, p), 1)
    drops = scores.class_drops(
        internal, (y, preds, g), LABELS, paper.DATASET_CLASSES, n_boot=200, random_state=0
    )
    return {"folds": keys, "missing": {}, **out, "confusion_matrix": cm.tolist(), **drops}


def _record() -> ExternalRecord:
    """A record of the shape the study writes: full and plain complete, unet missing."""
    from marsutils.study.external.study import _beside_findings

    y, g, preds = _planted()
    y_in, g_in = _images(n=90, seed=7)
    rng = np.random.default_rng(8)
    internal = {m: (y_in, np.stack([_predict(rng, y_in, 0.8)] * 3), g_in) for m in preds}
    subsets = {"all": np.ones(len(y), bool), "no_overlap": ~np.isin(g, [0, 1, 2, 3])}
    keys = [f"family-cv3-f{k}/{{}}" for k in range(3)]
    models = {
        m: _entry([k.format(m) for k in keys], y, g, preds[m], internal[m], subsets)
        for m in ("full", "plain")
    }
    models["unet"] = {
        "folds": [k.format("unet") for k in keys],
        "missing": {keys[0].format("unet"): "its weights were not kept"}
        | {k.format("unet"): "not trained yet" for k in keys[1:]},
    }
    comparisons = scores.external_comparisons(
        COMPARISONS,
        {m: preds[m] for m in ("full", "plain")},
        y,
        g,
        LABELS,
        effects={c[0]: 5.0 for c in COMPARISONS},
        n_boot=200,
        random_state=0,
    )
    _beside_findings(comparisons, None)
    names = list(paper.DATASET_CLASSES)
    return ExternalRecord(
        config={"profile": "smoke", "seed": 0, "n_boot": 200, "judged_on": "all"},
        folder={
            "name": "hirise-v1",
            "scored_classes": [names[j] for j in LABELS],
            "no_image_of": names[len(LABELS) :],
            "n_images": len(y),
        },
        overlap={"checked": False, "reason": "not checked in this test"},
        models=models,
        comparisons=comparisons,
    )


@pytest.fixture(scope="module")
def record() -> ExternalRecord:
    return _record()


def test_external_record_round_trip(record, tmp_path):
    path = record.to_json(tmp_path / ExternalRecord.FILE)
    assert ExternalRecord.from_json(path) == record
    assert record_for("external.json") is ExternalRecord
    assert record_for(tmp_path / "results" / "external.json") is ExternalRecord


def test_status_sentence_names_the_missing_model_and_why(record):
    text = tables.status_sentence(record)
    assert text.startswith("2 of 3 compared classifiers")
    assert "(full, plain)" in text
    assert "unet: 3 of 3 folds missing" in text
    assert "its weights were not kept" in text and "not trained yet" in text
    assert "full:" not in text and "plain:" not in text


def test_model_and_class_tables_hold_the_complete_models_only(record):
    table = tables.model_table(record)
    assert list(zip(table["model"], table["images"], strict=True)) == [
        ("full", "all"),
        ("full", "no overlap"),
        ("plain", "all"),
        ("plain", "no overlap"),
    ]
    for _, row in table.iterrows():
        entry = record.models[row["model"]]
        subset = row["images"].replace(" ", "_")
        res = entry["metrics"][subset]["macro_f1"]
        assert row["macro F1"] == pytest.approx(100 * res["estimate"])
        assert row["macro F1_ci_low"] <= row["macro F1"] <= row["macro F1_ci_high"]
        shared = entry["shared_macro_f1"]["in_release"]["estimate"]
        assert row["in-release macro F1 (same classes)"] == pytest.approx(100 * shared)
        assert row["macro F1 of each model"].endswith("(3 models)")
    # full predicts the truth: every external score is 100
    assert table.loc[table["model"] == "full", "accuracy"].tolist() == pytest.approx([100.0] * 2)
    # an empty subset (None) has no row
    models = {**record.models, "plain": {**record.models["plain"]}}
    models["plain"]["metrics"] = {**models["plain"]["metrics"], "no_overlap": None}
    fewer = tables.model_table(dataclasses.replace(record, models=models))
    assert len(fewer) == 3 and "unet" not in set(fewer["model"])

    classes = tables.class_table(record)
    assert len(classes) == 2 * (len(LABELS) + 1)
    full = classes[classes["model"] == "full"]
    assert full["class"].tolist()[-1] == "macro F1 (shared)"
    for c, (_, row) in zip(record.models["full"]["per_class"], full.iterrows(), strict=False):
        assert row["class"] == c["class"]
        assert row["drop"] == pytest.approx(100 * c["drop"]["estimate"])
    assert len(tables.class_table(record, "plain")) == len(LABELS) + 1


def test_comparison_table_has_a_row_per_comparison(record):
    table = tables.comparison_table(record)
    assert len(table) == len(record.comparisons) == len(COMPARISONS)
    assert table["verdict"].tolist() == [c["verdict"] for c in record.comparisons]
    judged = [c for c in record.comparisons if "difference" in c]
    assert [c["claim"] for c in judged] == ["attention + head help together"]
    row = table.set_index("claim").loc["attention + head help together"]
    assert row["folds with A > B"] == 3
    assert row["difference"] == pytest.approx(judged[0]["difference"])
    assert row["in-release verdict"] == "n/a"
    sentences = tables.summary_sentences(record)
    assert len(sentences) == 3  # one per model with a drop, one for the comparisons
    assert sentences[-1].startswith("Of the 1 comparisons judged")


def test_plot_class_f1_draws_one_panel_per_complete_model(record):
    from matplotlib.figure import Figure

    from marsutils.figures.external import plot_class_f1

    fig = plot_class_f1(record)
    assert isinstance(fig, Figure)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["full", "plain"]
    # one point per class on each panel
    assert len(visible[0].get_legend_handles_labels()[1]) == len(LABELS)
    only = plot_class_f1(record, models=["full", "unet"])
    assert [ax.get_title() for ax in only.axes if ax.get_visible()] == ["full"]
    with pytest.raises(ValueError, match="no model"):
        plot_class_f1(record, models=["unet"])
    none = dataclasses.replace(record, models={"unet": record.models["unet"]})
    with pytest.raises(ValueError, match="no model"):
        plot_class_f1(none)


def test_plot_external_confusion_is_row_normalised_and_refuses_incomplete_models(record):
    from matplotlib.figure import Figure

    from marsutils.figures.external import plot_external_confusion

    fig = plot_external_confusion(record, "plain")
    assert isinstance(fig, Figure)
    mesh = fig.axes[0].collections[0]
    values = np.asarray(mesh.get_array()).reshape(len(LABELS), len(paper.DATASET_CLASSES))
    assert np.allclose(values.sum(axis=1), 1.0)
    cm = np.asarray(record.models["plain"]["confusion_matrix"], dtype=float)[LABELS]
    assert np.allclose(values, cm / cm.sum(axis=1, keepdims=True))
    with pytest.raises(ValueError, match="unet"):
        plot_external_confusion(record, "unet")
    with pytest.raises(ValueError, match="head"):
        plot_external_confusion(record, "head")


def test_the_command_line_names_a_bad_profile_or_folder_in_one_line(tmp_path, capsys):
    from marsutils.study.external.study import main

    assert main(["--run-dir", str(tmp_path), "--profile", "fastest"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "'fastest'" in err and "Traceback" not in err
    missing = tmp_path / "nope"
    code = main(["--run-dir", str(tmp_path), "--profile", "smoke", "--data-dir", str(missing)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(missing) in err
