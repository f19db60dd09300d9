"""The findings: every claim of the paper, our number, and a verdict computed from the run.

One row per claim, so the tally counts claims. Every verdict follows a rule of the rules module
(``marsutils.stats.rules``, shown above the table), and every interval is recomputed here from the
saved test predictions with a bootstrap over twin families (the split file's ``family`` column),
so rotated and flipped copies of an image count once. The columns:

* **paper**: the value or effect the paper prints, and where;
* **ours**: our value on the leak-free family split with its 95% interval (for comparisons the
  paired difference in points), the primary metric first and the others after it;
* **paper protocol (leaks)**: the same score on the paper's random split, shown and not judged;
* **seeds**: mean ± SD over training seeds where several exist;

  these three are composed for display from the numbers of each claim's primary result (the
  :data:`NUMBER_COLUMNS`, the numeric fields of :class:`marsutils.core.records.Finding`), which this
  module records unformatted: ``ours`` holds the rest of the sentence with
  :data:`marsutils.core.records.RESULT_MARK` where the primary result goes;
* **n families**: the effective sample size of the interval;
* **contains 0** and **contains paper**: whether our interval contains 0 and the paper's value or
  effect;
* **p (Holm)**: the Holm-adjusted p-value where the claim belongs to a tested family;
* **trained to plateau**: for comparisons, whether each compared model's validation curve had
  levelled off at its last epoch (the training-length rule of ``marsutils.stats.rules``, read from
  the ``history.json`` beside each seed's predictions); "yes" when both had;
* **verdict** and **why**.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from scipy import stats

from marsutils.core import paper
from marsutils.core.layout import RunLayout
from marsutils.core.profiles import Profile, split_names
from marsutils.core.records import (
    FINDING_NUMBERS,
    RESULT_MARK,
    ClassifierMetrics,
    EfficiencyRecord,
    FindingsRecord,
    Record,
    SegPointingRecord,
    SegStudyRecord,
    XaiSummary,
)
from marsutils.data.splits import parse_split
from marsutils.stats import crossval, rules
from marsutils.stats.metrics import load_predictions
from marsutils.stats.rules import (
    CONFIRMED,
    CONSISTENT,
    CONTRADICTED,
    INCONCLUSIVE,
    NOT_RUN,
    UNTESTABLE,
    VERDICTS,
)
from marsutils.study.comparisons import read_history
from marsutils.study.experiments import ClassifierSpec, plan

__all__ = [
    "COLUMNS",
    "COMPARISONS",
    "Evidence",
    "MODEL_NAMES",
    "RunEvidence",
    "NUMBER_COLUMNS",
    "VERDICTS",
    "evaluate_claims",
    "holm_bootstrap_p",
    "table3_effect",
    "findings_record",
    "verdict_counts",
]

R = TypeVar("R", bound=Record)

COLUMNS = [
    "claim",
    "kind",
    "source",
    "paper",
    "test",
    "ours",
    "paper protocol (leaks)",
    "seeds",
    "n families",
    "contains 0",
    "contains paper",
    "p (Holm)",
    "trained to plateau",
    "verdict",
    "why",
]
#: The numeric columns of :func:`evaluate_claims` after :data:`COLUMNS`: the primary result of a
#: claim (``estimate``, ``low``, ``high``, ``unit``, ``decimals``, ``difference``), the same score
#: on the paper's split (``protocol_*``) and over seeds (``seed_mean``, ``seed_sd``, ``n_seeds``);
#: None where the claim has no such number (see :class:`marsutils.core.records.Finding`).
NUMBER_COLUMNS = list(FINDING_NUMBERS)
CLASSES = list(paper.DATASET_CLASSES)


# --------------------------------------------------------------------------------------------
# reading a run
# --------------------------------------------------------------------------------------------


class ComparisonError(ValueError):
    """Two compared experiments were trained at different precisions or thread counts."""


@dataclass
class Evidence:
    """The test predictions of one configuration over the run's seeds (pooled over CV folds).

    ``runs`` holds ``(y_true, y_pred, family)`` per seed, ``rows`` the row ids of each seed's
    images (sorted), ``folds`` the fold of each image per seed (cross-validation only),
    ``sizes`` the ``(n_train, n_test)`` of each fold of each seed, ``specs`` every spec read
    and ``seeds`` the seeds in order.
    """

    runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    rows: list[np.ndarray]
    folds: list[np.ndarray] | None
    sizes: list[tuple[int, int]]
    specs: list[ClassifierSpec]
    seeds: list[int]

    @property
    def cv(self) -> bool:
        return self.folds is not None

    def frame(self, index: int = 0) -> pd.DataFrame:
        """The predictions of seed number ``index`` as a frame (``row``, ``y_true``,
        ``y_pred``, ``family``)."""
        y, p, f = self.runs[index]
        return pd.DataFrame({"row": self.rows[index], "y_true": y, "y_pred": p, "family": f})


class RunEvidence:
    """Predictions of a run joined with their twin families, read once.

    An experiment's results live in ``experiments/<key>/seed<k>/``; a run folder written before
    seeds were a study axis (such as ``results/reference-v1``) holds them in ``experiments/<key>/``,
    read as seed 0. Each seed has its own split file ``splits/<split>-seed<k>.csv``; under
    cross-validation each fold is a split (``family-cv5-f0`` ...), and a configuration's
    evidence pools its folds' test predictions: every image once per seed.

    Parameters
    ----------
    run_dir : Path
        The run folder (``runs/<profile>`` or a committed ``results/<profile>``).
    profile : Profile
        The run's profile: its plan, seeds, ``n_boot`` and training rule.
    seed : int
        The run's seed: read first, and the seed of every resample.
    """

    def __init__(self, run_dir: Path, profile: Profile, seed: int):
        self.dir, self.profile, self.seed = run_dir, profile, seed
        self.layout = RunLayout(run_dir)
        self.n_boot = profile.n_boot
        self.rule = rules.TrainingRule.from_profile(profile)
        self._families: dict[tuple[str, int], pd.DataFrame | None] = {}
        self._evidence: dict[tuple, Evidence | None] = {}

    def split_path(self, split: str, seed: int | None = None) -> Path:
        return self.layout.split_file(split, self.seed if seed is None else seed)

    def split_frame(self, split: str, seed: int | None = None) -> pd.DataFrame | None:
        seed = self.seed if seed is None else seed
        if (split, seed) not in self._families:
            path = self.split_path(split, seed)
            frame = pd.read_csv(path) if path.is_file() else None
            if frame is not None and not {"row", "family"} <= set(frame.columns):
                raise ValueError(f"split file {path} lacks the row or family column")
            self._families[(split, seed)] = None if frame is None else frame.set_index("row")
        return self._families[(split, seed)]

    def families(self, split: str, seed: int | None = None) -> pd.Series | None:
        frame = self.split_frame(split, seed)
        return None if frame is None else frame["family"]

    def _path(self, spec: ClassifierSpec, seed: int, headline: bool) -> Path:
        views = self.profile.tta_views if headline else 1
        return self.layout.predictions(spec.key, seed, "test", views)

    def predictions(
        self, spec: ClassifierSpec, *, headline: bool = False, seed: int | None = None
    ) -> pd.DataFrame | None:
        """Test predictions with a ``family`` column (TTA ones for the headline), or None."""
        seed = self.seed if seed is None else seed
        path = self._path(spec, seed, headline)
        families = self.families(spec.split, seed)
        if families is None or not path.is_file():
            return None
        frame = load_predictions(path, n_classes=len(CLASSES))
        frame["row"] = pd.read_csv(path, usecols=["row"])["row"].to_numpy()
        missing = ~frame["row"].isin(families.index)
        if missing.any():
            raise ValueError(
                f"{path}: rows {frame.loc[missing, 'row'].head(3).tolist()} are not in the "
                f"split file {self.split_path(spec.split, seed)}"
            )
        frame["family"] = families.loc[frame["row"]].to_numpy()
        return frame.sort_values("row").reset_index(drop=True)

    def _seeds(self, kind: str, found: Sequence[int] = ()) -> list[int]:
        """The seeds a configuration on split ``kind`` is read under, the run's seed first:
        the profile's and those ``found`` in the run folder."""
        seeds = sorted({*self.profile.seeds, *found})
        if kind == "paper" and self.profile.paper_split_seeds is not None:
            seeds = seeds[: self.profile.paper_split_seeds]
        if self.seed in seeds:
            seeds.remove(self.seed)
        return [self.seed, *seeds]

    def evidence(
        self,
        notebook: str,
        model: str,
        kind: str = "family",
        *,
        headline: bool = False,
        precision: str | None = None,
    ) -> Evidence | None:
        """The pooled test predictions of ``model`` (``notebook``'s plan) on split ``kind``.

        None when the run's seed lacks them; other seeds count when complete (every fold).
        """
        cache_key = (notebook, model, kind, headline, precision)
        if cache_key not in self._evidence:
            self._evidence[cache_key] = self._read_evidence(
                notebook, model, kind, headline, precision
            )
        return self._evidence[cache_key]

    def _read_evidence(self, notebook, model, kind, headline, precision) -> Evidence | None:
        runs, rows, folds, sizes, specs, seeds = [], [], [], [], [], []
        first = [s for s in plan(self.profile, notebook) if s.model == model]
        found = self.layout.seeds(first[0].key) if first else []
        for seed in self._seeds(kind, found):
            chosen = [
                s
                for s in plan(self.profile, notebook, seed=seed)
                if s.model == model and s.split_kind == kind and s.precision == precision
            ]
            frames = [self.predictions(s, headline=headline, seed=seed) for s in chosen]
            if not chosen or any(f is None for f in frames):
                if seed == self.seed:
                    return None
                continue
            for s, f in zip(chosen, frames, strict=True):
                f["fold"] = -1 if s.fold is None else s.fold
                split = self.split_frame(s.split, seed)
                sizes.append(
                    (
                        int((split["subset"] == "train").sum()),
                        int((split["subset"] == "test").sum()),
                    )
                )
            pooled = pd.concat(frames).sort_values("row").reset_index(drop=True)
            if pooled["row"].duplicated().any():
                raise ValueError(f"{model} on {kind}, seed {seed}: an image is tested twice")
            runs.append(
                (
                    pooled["y_true"].to_numpy(),
                    pooled["y_pred"].to_numpy(),
                    pooled["family"].to_numpy(),
                )
            )
            rows.append(pooled["row"].to_numpy())
            folds.append(pooled["fold"].to_numpy())
            specs += chosen
            seeds.append(seed)
        cv = bool(self.profile.cv_folds)
        if cv and any(not np.array_equal(r, rows[0]) for r in rows):
            raise ValueError(f"{model} on {kind}: the seeds' folds cover different images")
        return Evidence(runs, rows, folds if cv else None, sizes, specs, seeds)

    def history(self, spec: ClassifierSpec, seed: int | None = None) -> list[dict] | None:
        """The learning curve (``history.json``) beside the predictions of ``spec``, or None."""
        seed = spec.seed if seed is None else seed
        path = self.layout.history(spec.key, seed)
        return read_history(path) if path.is_file() else None

    def training_checks(self, evidence: Evidence) -> list:
        """:func:`marsutils.stats.rules.training_check` of every run behind ``evidence``."""
        checks = []
        for spec in evidence.specs:
            history = self.history(spec)
            try:
                checks.append(rules.training_check(history, self.rule))
            except ValueError as err:
                path = self.layout.history(spec.key, spec.seed)
                raise ValueError(f"{path}: {err}") from err
        return checks

    def runtime(self, evidence: Evidence) -> tuple[set, set]:
        """The recorded precisions and torch thread counts of the runs behind ``evidence``."""
        precisions, threads = set(), set()
        for spec in evidence.specs:
            metrics = ClassifierMetrics.read(self.layout.metrics(spec.key, spec.seed))
            if metrics is None:
                continue
            precisions.add(metrics.precision)
            threads.add(metrics.torch_threads)
        return precisions - {None}, threads - {None}

    def record(self, record: type[R]) -> R | None:
        """The chapter record ``record`` of the run (:mod:`marsutils.core.records`), or None."""
        return record.read(self.layout.result(record.FILE))

    # ------------------------------------------------------------------ intervals and tests
    def interval(
        self, evidence: Evidence, metric: str, cls: str | None = None, *, seed_offset: int = 0
    ) -> dict[str, Any]:
        """A score of ``evidence`` with its interval, in fractions (see :mod:`~.stats.crossval`)."""
        label = None if cls is None else CLASSES.index(cls)
        common = dict(
            metric=metric, label=label, n_boot=self.n_boot, random_state=self.seed + seed_offset
        )
        if evidence.cv:
            y, _, fam = evidence.runs[0]
            preds = np.stack([p for _, p, _ in evidence.runs])
            return crossval.cv_interval(y, preds, fam, **common)
        return crossval.seeds_interval(evidence.runs, **common)

    def paired(
        self,
        a: Evidence,
        b: Evidence,
        metric: str,
        *,
        effect: float | None = None,
        cls: str | None = None,
        n_boot: int | None = None,
    ) -> dict[str, Any]:
        """The paired difference A - B on the same images (fractions; :mod:`crossval`)."""
        if len(a.runs) != len(b.runs) or any(
            not np.array_equal(ra, rb) for ra, rb in zip(a.rows, b.rows, strict=True)
        ):
            raise ValueError("the two models were not tested on the same images")
        common = dict(
            metric=metric,
            label=None if cls is None else CLASSES.index(cls),
            effect=effect,
            n_boot=n_boot or self.n_boot,
            random_state=self.seed,
        )
        if a.cv:
            y, _, fam = a.runs[0]
            pa = np.stack([p for _, p, _ in a.runs])
            pb = np.stack([p for _, p, _ in b.runs])
            return crossval.cv_paired_difference(y, pa, pb, fam, **common)
        runs = [(y, pa, pb, f) for (y, pa, f), (_, pb, _) in zip(a.runs, b.runs, strict=True)]
        return crossval.seeds_paired_difference(runs, **common)

    def fold_differences(self, a: Evidence, b: Evidence, metric: str) -> dict[str, Any] | None:
        """Per fold and seed, the score of A minus that of B: the corrected t-test's input."""
        if not a.cv:
            return None
        diffs = []
        for (y, pa, fam), (_, pb, _), folds in zip(a.runs, b.runs, a.folds, strict=True):
            for k in np.unique(folds):
                m = folds == k
                sampler = crossval.FamilyResampler(y[m], fam[m])
                diffs.append(
                    sampler.scores(pa[m], None, metric)[0] - sampler.scores(pb[m], None, metric)[0]
                )
        n_train = float(np.mean([s[0] for s in a.sizes]))
        n_test = float(np.mean([s[1] for s in a.sizes]))
        return {"differences": diffs, "n_train": n_train, "n_test": n_test}


def _runtime_check(run: RunEvidence, a: Evidence, b: Evidence, name_a: str, name_b: str) -> str:
    """Refuse (or, for a run whose profile fixed no precision, state) a precision or thread
    count that differs between two compared experiments.

    Returns the sentence for the reason ("" when both agree).

    Raises
    ------
    ComparisonError
        When the profile fixes a precision and the recorded ones differ.
    """
    (prec_a, threads_a), (prec_b, threads_b) = run.runtime(a), run.runtime(b)
    problems = []
    if len(prec_a | prec_b) > 1:
        problems.append(f"precision {name_a} {sorted(prec_a)}, {name_b} {sorted(prec_b)}")
    if len(threads_a | threads_b) > 1:
        problems.append(f"torch threads {name_a} {sorted(threads_a)}, {name_b} {sorted(threads_b)}")
    if not problems:
        return ""
    text = "; ".join(problems)
    if run.profile.precision is not None:
        raise ComparisonError(
            f"{run.dir}: {name_a} and {name_b} cannot be compared: they were trained with "
            f"different settings ({text}); the profile {run.profile.name!r} fixes one for every "
            "model, so retrain the odd ones"
        )
    return (
        f". The two were trained with different settings ({text}): the difference mixes their "
        "effect in (a run made before one precision per comparison was the rule)"
    )


def _row(claim: str, kind: str, source: str, paper_text: str, test: str, **rest: Any) -> dict:
    row: dict[str, Any] = dict.fromkeys(COLUMNS, "") | dict.fromkeys(NUMBER_COLUMNS, None)
    row.update(claim=claim, kind=kind, source=source, paper=paper_text, test=test)
    row.update(rest)
    return row


def _not_run(row: dict, what: str) -> dict:
    return {**row, "ours": "n/a", "verdict": NOT_RUN, "why": what}


def _ci_text(value: float, low: float, high: float, sign: bool = False) -> str:
    """A secondary result in the ``ours`` sentence (``"; also macro F1 90.1 [82.0, 96.0]"``),
    which stays text; a claim's primary result is recorded as numbers (:func:`_result`)."""
    fmt = "{:+.1f}" if sign else "{:.1f}"
    return f"{fmt.format(value)} [{fmt.format(low)}, {fmt.format(high)}]"


def _result(
    estimate: float,
    low: float | None = None,
    high: float | None = None,
    *,
    unit: str,
    decimals: int = 1,
    difference: bool = False,
) -> dict[str, Any]:
    """The numeric columns of a claim's primary result (see :data:`NUMBER_COLUMNS`)."""
    return {
        "estimate": float(estimate),
        "low": None if low is None else float(low),
        "high": None if high is None else float(high),
        "unit": unit,
        "decimals": decimals,
        "difference": difference,
    }


# --------------------------------------------------------------------------------------------
# value claims
# --------------------------------------------------------------------------------------------


def _n_text(n: Any) -> Any:
    return ", ".join(map(str, n)) if isinstance(n, list) else n


def _seed_columns(res: dict) -> dict[str, Any]:
    """``seed_mean``, ``seed_sd`` and ``n_seeds`` in percent (or points) from the per-seed values
    of a hold-out interval with several seeds (none for one seed or for cross-validation)."""
    per_seed = res.get("per_seed")
    if not per_seed or len(per_seed) < 2:
        return {}
    v = 100 * np.asarray(per_seed, dtype=float)
    return {"seed_mean": float(v.mean()), "seed_sd": float(v.std(ddof=1)), "n_seeds": len(v)}


def _pct(res: dict, key: str = "estimate") -> tuple[float, float, float]:
    return 100 * res[key], 100 * res["low"], 100 * res["high"]


_METRIC_NAMES = {"accuracy": "accuracy", "macro_f1": "macro F1", "mean_iou": "image-level Jaccard"}


def _design(run: RunEvidence) -> str:
    if run.profile.cv_folds:
        repeats = len(run.profile.seeds)
        return (
            f"family-grouped {run.profile.cv_folds}-fold CV"
            + (f", {repeats} repeats" if repeats > 1 else "")
            + ", every image tested"
        )
    return "family split"


def _value_claim_list() -> list[tuple[str, str, float, str, str | None]]:
    """The value claims C1-C4: (claim, source, paper value, metric, class or None)."""
    headline = paper.HEADLINE
    t1 = paper.table1()
    claims: list[tuple[str, str, float, str, str | None]] = [
        (
            "accuracy 92.61",
            headline["accuracy"].source,
            headline["accuracy"].value,
            "accuracy",
            None,
        ),
        ("F1 88.48 (macro F1)", headline["f1"].source, headline["f1"].value, "macro_f1", None),
    ]
    for cls, f1 in paper.ABSTRACT_CLASS_F1.items():
        level = "high" if f1 > 90 else "lower"
        claims.append((f"{cls} F1 {f1:.2f} ({level})", "Abstract; Table 1", f1, "f1", cls))
    for cls in ("impact ejecta", "spider"):
        recall = float(t1.loc[cls, "recall"])
        claims.append(
            (f"{cls} recall {recall:.2f} (reduced)", "Table 1; p. 7", recall, "recall", cls)
        )
    return claims


def _value_others(
    run: RunEvidence,
    interval: Callable[..., dict],
    tta: Evidence | None,
    metric: str,
    cls: str | None,
) -> list[str]:
    """The secondary results of a value claim's ``ours`` sentence."""
    others = []
    if cls is None:
        others = [
            f"{_METRIC_NAMES[m]} {_ci_text(*_pct(interval(m)))}"
            for m in ("accuracy", "macro_f1", "mean_iou")
            if m != metric
        ]
    if metric == "macro_f1":  # the paper does not say which F1 it reports
        others.append(
            f"weighted F1 {_ci_text(*_pct(interval('weighted_f1')))} (the other reading of "
            "the paper's F1; the verdict judges macro F1)"
        )
    views = run.profile.tta_views
    if tta is not None and views > 1:
        others.append(f"{views}-view TTA {_ci_text(*_pct(run.interval(tta, metric, cls)))}")
    return others


def _value_row(
    run: RunEvidence,
    row: dict,
    interval: Callable[..., dict],
    evidence: tuple[Evidence | None, Evidence | None],
    value: float,
    metric: str,
    cls: str | None,
) -> dict:
    """The judged row of one value claim; ``evidence`` is the (TTA, paper protocol) pair."""
    tta, pap = evidence
    res = interval(metric, cls)
    v, lo, hi = _pct(res)
    verdict, why = rules.value_verdict(lo, hi, value)
    if res["method"].startswith("exact"):
        why += (
            f" ({res['method']}: the bootstrap cannot vary when every image has the same outcome)"
        )
    if pap is None:
        leak: dict[str, Any] = {"paper protocol (leaks)": "n/a"}
    else:
        p_v, p_lo, p_hi = _pct(run.interval(pap, metric, cls))
        leak = {"protocol_estimate": p_v, "protocol_low": p_lo, "protocol_high": p_hi}
    others = _value_others(run, interval, tta, metric, cls)
    return {
        **row,
        "ours": RESULT_MARK + (f"; also {'; '.join(others)}" if others else ""),
        **_result(v, lo, hi, unit="%"),
        **leak,
        **_seed_columns(res),
        "n families": _n_text(res["n_families"]),
        "contains paper": lo <= value <= hi,
        "verdict": verdict,
        "why": why,
    }


def _value_claims(run: RunEvidence) -> list[dict]:
    fam = run.evidence("training", "full", "family")
    tta = run.evidence("training", "full", "family", headline=True)
    pap = run.evidence("training", "full", "paper")

    @functools.cache
    def interval(metric: str, cls: str | None = None) -> dict:
        """Each interval once: C1-C3 quote one another's."""
        return run.interval(fam, metric, cls)

    rows = []
    for claim, source, value, metric, cls in _value_claim_list():
        name = _METRIC_NAMES.get(metric, metric) if cls is None else f"{cls} {metric}"
        row = _row(
            claim,
            "value",
            source,
            f"{value:.2f}",
            f"{name}, full model, {_design(run)}, single view",
        )
        if fam is None:
            rows.append(
                _not_run(row, "the training chapter's predictions or split file are missing")
            )
            continue
        rows.append(_value_row(run, row, interval, (tta, pap), value, metric, cls))
    rows.insert(2, _mean_iou_claim(run, None if fam is None else interval("mean_iou")))
    rows.append(_lowest_claim(run, fam))
    return rows


def _mean_iou_claim(run: RunEvidence, jaccard: dict | None) -> dict:
    """The headline "mean IoU 84.7" is a mask overlap; this data has one label per image.

    ``jaccard`` is the image-level Jaccard's interval, or None when the training chapter's
    predictions are missing."""
    text, numbers = "n/a", {}
    if jaccard is not None:
        text, numbers = RESULT_MARK, {**_result(*_pct(jaccard), unit="%"), **_seed_columns(jaccard)}
    seg = run.record(SegStudyRecord)
    study = {} if seg is None else seg.models
    pixel = ""
    if "full" in study:
        miou = next(r for r in study["full"]["summary"] if r["class"] == "mIoU")
        pixel = (
            f"; real pixel mIoU of the full model on mars-orbital-seg-53: "
            f"{100 * miou['mean']:.1f} ± {100 * miou['std']:.1f} over folds"
        )
    return _row(
        "mean IoU 84.7 of the segmentation",
        "untestable",
        paper.HEADLINE["mean_iou"].source,
        f"{paper.HEADLINE['mean_iou'].value:.2f}",
        "no pixel masks exist for the landmark images",
        ours=f"image-level Jaccard ({_design(run)}): {text}{pixel}",
        **numbers,
        verdict=UNTESTABLE,
        why="the labels are one class per image, and a segmentation IoU needs masks; the "
        f"image-level Jaccard the paper's own Table 1 implies is {paper.table1_mean_iou():.2f}",
    )


_LOWEST = ("impact ejecta", "slope streak")


def _lowest_claim(run: RunEvidence, fam: Evidence | None) -> dict:
    """The two lowest per-class F1 of the full model, judged on the bootstrap distribution of
    the classes' ranks (:func:`marsutils.stats.rules.ranking_verdict`)."""
    row = _row(
        "impact ejecta and slope streak score lowest",
        "ranking",
        "Abstract; Table 1",
        "F1 76.92 and 80.62, the two lowest of Table 1",
        f"rank of each class by F1 (1 = lowest), full model, {_design(run)}, single view; "
        "95% bootstrap interval of the rank",
    )
    if fam is None:
        return _not_run(row, "the training chapter's predictions or split file are missing")
    if fam.cv:
        y, _, groups = fam.runs[0]
        preds = np.stack([p for _, p, _ in fam.runs])
        ranks = crossval.rank_distribution(
            y, preds, groups, n_boot=run.n_boot, random_state=run.seed
        )
    else:
        ranks = crossval.seeds_rank_distribution(fam.runs, n_boot=run.n_boot, random_state=run.seed)
    named = {CLASSES[c]: r for c, r in ranks.items()}
    verdict, why = rules.ranking_verdict({c: named[c] for c in _LOWEST}, claimed=2)
    order = sorted(named, key=lambda c: named[c]["f1"])
    return {
        **row,
        "ours": ", ".join(f"{c} {100 * named[c]['f1']:.1f}" for c in order[:3]),
        "n families": _n_text([len(np.unique(f)) for _, _, f in fam.runs][: 1 if fam.cv else None]),
        "verdict": verdict,
        "why": why,
    }


# --------------------------------------------------------------------------------------------
# comparative claims
# --------------------------------------------------------------------------------------------

#: How the comparisons name their models in the "why" sentences.
MODEL_NAMES = {
    "full": "the full model",
    "unet": "U-Net",
    "deeplabv3plus": "DeepLabV3+",
    "attention": "the attention model",
    "head": "the head model",
    "plain": "the plain fine-tune",
}

#: The comparative claims C12-C18: ``(claim, source, notebook, a, b, metric, effect)``, the
#: effect in points (None: Table 3's difference of ``a`` and ``b``, :func:`table3_effect`).
COMPARISONS = (
    (
        "beats U-Net in F1",
        "Abstract",
        "baselines",
        "full",
        "unet",
        "macro_f1",
        paper.ABSTRACT_GAINS["f1_vs_unet"].value,
    ),
    (
        "beats DeepLabV3+ in F1",
        "Abstract",
        "baselines",
        "full",
        "deeplabv3plus",
        "macro_f1",
        paper.ABSTRACT_GAINS["f1_vs_deeplabv3plus"].value,
    ),
    (
        "beats U-Net in IoU by 8.7 points",
        "Abstract; IoU paragraph",
        "baselines",
        "full",
        "unet",
        "mean_iou",
        paper.ABSTRACT_GAINS["iou_vs_unet"].value,
    ),
    (
        "beats DeepLabV3+ in IoU by 3.2 points",
        "Abstract; IoU paragraph",
        "baselines",
        "full",
        "deeplabv3plus",
        "mean_iou",
        paper.ABSTRACT_GAINS["iou_vs_deeplabv3plus"].value,
    ),
    ("attention helps", "Table 3", "ablation", "attention", "plain", "macro_f1", None),
    ("the segmentation head helps", "Table 3", "ablation", "head", "plain", "macro_f1", None),
    ("attention + head help together", "Table 3", "ablation", "full", "plain", "macro_f1", None),
)
#: Most resamples a comparison is raised to when a p-value lies near its threshold.
MAX_BOOT_FACTOR = 4


def table3_effect(a: str, b: str, metric: str) -> float:
    """Table 3's difference ``a - b`` in points of ``metric`` (``macro_f1`` reads its F1)."""
    t3 = paper.table3()
    column = "f1" if metric == "macro_f1" else "iou" if metric == "mean_iou" else metric
    return round(float(t3.loc[a, column] - t3.loc[b, column]), 2)


def _pixel_miou(run: RunEvidence, a: str, b: str) -> str:
    study = run.record(SegStudyRecord)
    models = {} if study is None else study.models
    if a not in models or b not in models:
        return ""
    folds = {
        m: pd.DataFrame(models[m]["per_fold"]).query("`class` == 'mIoU'").set_index("fold")["iou"]
        for m in (a, b)
    }
    diff = 100 * (folds[a] - folds[b]).dropna()
    return (
        f"; pixel mIoU on mars-orbital-seg-53 ({len(diff)} folds): {a} - {b} "
        f"{diff.mean():+.1f} ± {diff.std(ddof=1):.1f} (mean ± SD over folds)"
    )


def _holm_adjust(ps: list[float]) -> list[float]:
    return [float(x) for x in rules.holm(ps)[1]] if ps else []


def _comparison_test(run: RunEvidence, comparison: tuple) -> tuple[dict, dict | None]:
    """The row of one comparative claim and its test's inputs (None when not run)."""
    claim, source, notebook, a, b, metric, effect = comparison
    effect = table3_effect(a, b, metric) if effect is None else float(effect)
    name = _METRIC_NAMES[metric]
    checks = "; corrected resampled t-test over the folds" if run.profile.cv_folds else ""
    row = _row(
        claim,
        "comparative",
        source,
        f"{effect:+.2f} points ({name if metric != 'mean_iou' else 'IoU'})",
        f"{a} - {b}, paired bootstrap over twin families stratified by class{checks}, "
        f"{name}, {_design(run)}, single view",
    )
    ev_a, ev_b = run.evidence(notebook, a), run.evidence(notebook, b)
    if ev_a is None or ev_b is None:
        return _not_run(row, f"the {notebook} chapter's predictions are missing"), None
    note = _runtime_check(run, ev_a, ev_b, a, b)
    results = {
        m: run.paired(ev_a, ev_b, m, effect=effect / 100 if m == metric else None)
        for m in ("macro_f1", "mean_iou", "accuracy")
    }
    folds = run.fold_differences(ev_a, ev_b, metric)
    others = "; ".join(
        f"{_METRIC_NAMES[m]} "
        + _ci_text(100 * r["difference"], 100 * r["low"], 100 * r["high"], sign=True)
        for m, r in results.items()
        if m != metric
    )
    extra = _pixel_miou(run, a, b) if metric == "mean_iou" else ""
    test = dict(
        res=results[metric],
        folds=folds,
        effect=effect,
        metric=metric,
        a=a,
        b=b,
        ev=(ev_a, ev_b),
        note=note,
        checks=(run.training_checks(ev_a), run.training_checks(ev_b)),
    )
    return {**row, "ours": f"{RESULT_MARK}; also {others}{extra}"}, test


def _bootstrap_adjusted(run: RunEvidence, tests: list[dict]) -> list[float]:
    """The Holm-adjusted bootstrap p-values of the comparisons ``tests`` (see
    :func:`holm_bootstrap_p`), each redone from the run's paired predictions."""

    def redo(t: dict, n_boot: int) -> dict:
        return run.paired(*t["ev"], t["metric"], effect=t["effect"] / 100, n_boot=n_boot)

    return holm_bootstrap_p(tests, run.n_boot, redo)


def holm_bootstrap_p(
    tests: list[dict], n_boot: int, redo: Callable[[dict, int], dict]
) -> list[float]:
    """The Holm-adjusted bootstrap p-values ``[zero_1, effect_1, zero_2, ...]`` of ``tests``.

    Every test's two p-values are one Holm family; a test whose adjusted p-value lies too near
    0.05 for its Monte Carlo error (:func:`marsutils.stats.rules.needs_more_resamples`) is redone
    with 4 times the resamples (at most :data:`MAX_BOOT_FACTOR` times ``n_boot``), and the
    family adjusted again. The interval stays the one from ``n_boot`` resamples (one interval
    per quantity); only the p-values use more.

    Parameters
    ----------
    tests : list of dict
        Each with ``res``, a :func:`marsutils.stats.crossval.cv_paired_difference` result
        (updated in place when redone).
    n_boot : int
        The resamples of the first pass.
    redo : callable
        ``redo(test, n)``: the test's result from ``n`` resamples.
    """
    factor = 1
    while True:
        raw = [p for t in tests for p in (t["res"]["p_zero"], t["res"]["p_effect"])]
        adjusted = _holm_adjust(raw)
        near = []
        for j, t in enumerate(tests):
            res = t["res"]
            for k, err in ((0, res["mc_error_zero"]), (1, res["mc_error_effect"])):
                p_raw, p_adj = raw[2 * j + k], adjusted[2 * j + k]
                if rules.needs_more_resamples(p_adj, err, p_adj / p_raw):
                    near.append(j)
        if not near or factor >= MAX_BOOT_FACTOR:
            return adjusted
        factor *= 4
        for j in sorted(set(near)):
            t = tests[j]
            more = redo(t, factor * n_boot)
            keep = ("difference", "low", "high")
            t["res"] = {**more, **{k: t["res"][k] for k in keep}}


def _ttest_adjusted(tests: list[dict]) -> list[float]:
    """The Holm-adjusted corrected t-test p-values (zero, effect); [] without folds."""
    if not all(t["folds"] is not None for t in tests):
        return []
    t_raw = []
    for t in tests:
        f = t["folds"]
        for null in (0.0, t["effect"] / 100):
            t_raw.append(
                crossval.corrected_resampled_ttest(
                    f["differences"], f["n_train"], f["n_test"], null=null
                )["p"]
            )
    return _holm_adjust(t_raw)


def _judged_comparison(
    run: RunEvidence,
    t: dict,
    p_boot: tuple[float, float],
    p_ttest: tuple[float, float] | None,
    n: int,
) -> dict:
    """The result columns of one comparison: its Holm-adjusted (zero, effect) p-values from
    the bootstrap and (or None) the t-test, in a family of ``n`` comparisons."""
    res = t["res"]
    boot = rules.TestResult(100 * res["difference"], *p_boot, "bootstrap")
    ttest = None
    mc = max(res["mc_error_zero"], res["mc_error_effect"])
    extra = (
        f"; p-values from {res['n_boot']} resamples (Monte Carlo error at most {mc:.2g}), "
        f"the interval from {run.n_boot}"
    )
    if p_ttest is not None:
        f = t["folds"]
        tt = crossval.corrected_resampled_ttest(f["differences"], f["n_train"], f["n_test"])
        ttest = rules.TestResult(100 * tt["mean"], *p_ttest, "corrected t-test")
        extra += f"; corrected t-test over {tt['n_folds']} folds: " + _ci_text(
            100 * tt["mean"], 100 * tt["low"], 100 * tt["high"], sign=True
        )
    verdict, why = rules.comparative_verdict(t["effect"], boot, ttest)
    verdict, why, trained = rules.plateau_qualified_verdict(
        verdict,
        why + f" (Holm over the {2 * n} tests of {n} comparative claims)",
        MODEL_NAMES.get(t["a"], t["a"]),
        MODEL_NAMES.get(t["b"], t["b"]),
        *t["checks"],
        unit="runs" if run.profile.cv_folds else "seeds",
    )
    lo, hi = 100 * res["low"], 100 * res["high"]
    return {
        "extra": extra,
        **_result(100 * res["difference"], lo, hi, unit="points", difference=True),
        **_seed_columns(res),
        "n families": _n_text(res["n_families"]),
        "contains 0": lo <= 0 <= hi,
        "contains paper": lo <= t["effect"] <= hi,
        "p (Holm)": p_boot[0],
        "trained to plateau": trained,
        "verdict": verdict,
        "why": why + t["note"],
    }


def _comparison_claims(run: RunEvidence) -> list[dict]:
    """C12-C18: both two-sided tests of every claim in one Holm family per method."""
    rows, tests = [], []
    for comparison in COMPARISONS:
        row, test = _comparison_test(run, comparison)
        rows.append(row)
        tests.append(test)
    done = [i for i, t in enumerate(tests) if t is not None]
    if not done:
        return rows
    run_tests = [tests[i] for i in done]
    adjusted = _bootstrap_adjusted(run, run_tests)
    t_adjusted = _ttest_adjusted(run_tests)
    for j, i in enumerate(done):
        p_boot = (adjusted[2 * j], adjusted[2 * j + 1])
        p_ttest = (t_adjusted[2 * j], t_adjusted[2 * j + 1]) if t_adjusted else None
        judged = _judged_comparison(run, tests[i], p_boot, p_ttest, len(done))
        extra = judged.pop("extra")
        rows[i].update({"ours": rows[i]["ours"] + extra, **judged})
    return rows


def _own_verdict(lo: float, hi: float, what: str) -> tuple[str, str]:
    verdict = rules.control_verdict(lo, hi, 0.0)
    return verdict, {
        CONFIRMED: f"the interval of {what} lies above 0",
        INCONCLUSIVE: f"the interval of {what} contains 0",
        CONTRADICTED: f"the interval of {what} lies below 0",
    }[verdict]


def _split_gap_claim(run: RunEvidence) -> dict:
    """C19: the paper's random split against the family split, paired on the same images."""
    cv = bool(run.profile.cv_folds)
    row = _row(
        "(ours) a random split overstates the score",
        "own",
        "data chapter",
        "random 80/20 split",
        "macro F1, paper split minus family split, full model, paired on the same images "
        + (
            "(CV: random folds against family folds)"
            if cv
            else "(the two test sets' shared images)"
        )
        + ", bootstrap over twin families stratified by class; rare classes beside",
    )
    fam, pap = run.evidence("training", "full", "family"), run.evidence("training", "full", "paper")
    if fam is None or pap is None:
        return _not_run(row, "the training chapter's predictions on both splits are missing")
    if cv:
        a, b = pap, fam
    else:  # hold-out: the images both seed-0 test sets hold
        shared = np.intersect1d(pap.rows[0], fam.rows[0])

        def restrict(ev: Evidence) -> Evidence:
            keep = np.isin(ev.rows[0], shared)
            y, p, f = ev.runs[0]
            return Evidence([(y[keep], p[keep], f[keep])], [ev.rows[0][keep]], None, [], [], [])

        a, b = restrict(pap), restrict(fam)
    res = run.paired(a, b, "macro_f1")
    present = set(np.unique(a.runs[0][0]).tolist())
    rare = "; ".join(
        f"{c} F1 "
        + _ci_text(
            *(100 * run.paired(a, b, "f1", cls=c)[k] for k in ("difference", "low", "high")),
            sign=True,
        )
        for c in ("impact ejecta", "spider")
        if CLASSES.index(c) in present
    )
    gap, lo, hi = 100 * res["difference"], 100 * res["low"], 100 * res["high"]
    verdict, why = _own_verdict(lo, hi, "the gap")
    n_images = len(a.rows[0])
    return {
        **row,
        "ours": f"{RESULT_MARK} points on {n_images} images; {rare}",
        **_result(gap, lo, hi, unit="points", difference=True),
        "n families": _n_text(res["n_families"]),
        "contains 0": bool(lo <= 0 <= hi),
        "verdict": verdict,
        "why": why,
    }


def _precision_claim(run: RunEvidence) -> dict:
    """(ours) bf16 against fp32 training of the plain fine-tune on the same folds."""
    row = _row(
        "(ours) training in bf16 instead of fp32 changes macro F1",
        "own",
        "ablation chapter",
        "not in the paper (the comparisons hold one precision fixed)",
        f"plain fine-tune in bf16 minus in fp32, macro F1, {_design(run)}, paired bootstrap",
    )
    if not run.profile.precision_effect:
        return _not_run(row, f"the profile {run.profile.name!r} does not measure it")
    bf16 = run.evidence("ablation", "plain", precision="bf16")
    fp32 = run.evidence("ablation", "plain")
    if bf16 is None or fp32 is None:
        return _not_run(row, "the ablation chapter's predictions are missing")
    res = run.paired(bf16, fp32, "macro_f1")
    lo, hi = 100 * res["low"], 100 * res["high"]
    inside = lo <= 0 <= hi
    return {
        **row,
        "ours": f"{RESULT_MARK} points",
        **_result(100 * res["difference"], lo, hi, unit="points", difference=True),
        "n families": _n_text(res["n_families"]),
        "contains 0": bool(inside),
        "verdict": INCONCLUSIVE if inside else CONFIRMED,
        "why": "the interval contains 0: no effect of precision is shown"
        if inside
        else "the interval excludes 0: precision alone changes macro F1",
    }


# --------------------------------------------------------------------------------------------
# the paper's own numbers, the data, the confusion claims
# --------------------------------------------------------------------------------------------


def _confusion_share(fam: pd.DataFrame | None, a: str, b: str) -> str:
    if fam is None:
        return "n/a"
    ia, ib = CLASSES.index(a), CLASSES.index(b)
    wrong = fam["y_true"] != fam["y_pred"]
    pair = wrong & fam["y_true"].isin([ia, ib]) & fam["y_pred"].isin([ia, ib])
    return f"{int(pair.sum())} of our {int(wrong.sum())} errors (family split)"


def _paper_claims(run: RunEvidence) -> list[dict]:
    counts = paper.table1_counts()
    errors = int((counts["support"] - counts["tp"]).sum())
    evidence = run.evidence("training", "full", "family")
    fam = None if evidence is None else evidence.frame()
    rows = []
    # dark vs bright dune: a dark dune predicted bright is a false positive of bright dune, and
    # the reverse one of dark dune, so Table 1's FP counts bound the confusions.
    bound = int(counts.loc["bright dune", "fp"] + counts.loc["dark dune", "fp"])
    rows.append(
        _row(
            "most errors confuse dark and bright dunes",
            "paper's own numbers",
            "Confusion Matrix Analysis; Table 1",
            f"'most of the misclassifications'; Table 1 allows at most {bound} of its {errors}",
            "dark<->bright dune confusions bounded by the two classes' false positives in Table 1",
            ours=_confusion_share(fam, "dark dune", "bright dune"),
            verdict=CONTRADICTED if bound <= errors / 2 else CONSISTENT,
            why="Table 1's precision and support give bright dune "
            f"{counts.loc['bright dune', 'fp']} and dark dune {counts.loc['dark dune', 'fp']} "
            f"false positives, so at most {bound} of its {errors} errors can be dark/bright "
            "dune confusions",
        )
    )
    rows.append(
        _row(
            "many errors confuse crater edges with the terrain around them",
            "untestable",
            "Confusion Matrix Analysis",
            "qualitative",
            "needs pixel labels of crater rims; nearest: crater<->other confusions",
            ours=_confusion_share(fam, "crater", "other"),
            verdict=UNTESTABLE,
            why="the labels are one class per image; no label marks a crater's edge",
        )
    )
    t3 = paper.table3()
    rows.append(
        _row(
            "Table 3's IoU is a segmentation IoU",
            "paper's own numbers",
            "Table 3; Ablation Study",
            f"IoU {t3.loc['attention', 'iou']:.2f} (attention) and "
            f"{t3.loc['plain', 'iou']:.2f} (baseline) without the segmentation head",
            "does every row with an IoU have a model that outputs masks?",
            ours="n/a (arithmetic of the paper)",
            verdict=CONTRADICTED,
            why="rows without the segmentation head have no mask output, yet Table 3 gives them "
            "an IoU; the IoU column cannot be a mask overlap (an image-level Jaccard fits)",
        )
    )
    gains = paper.abstract_gains_check()
    rows.append(
        _row(
            "the IoU gains follow from the printed IoUs",
            "paper's own numbers",
            "Abstract; IoU Performance paragraph",
            "8.7 = 84.7 - 76.0 and 3.2 = 84.7 - 81.5",
            "recompute the gains",
            ours="; ".join(f"{k}: {r.recomputed:.1f}" for k, r in gains.iterrows()),
            verdict=CONSISTENT if gains["agrees"].all() else CONTRADICTED,
            why="the printed gains equal the differences of the printed IoUs"
            if gains["agrees"].all()
            else "a printed gain differs from the difference of the printed IoUs",
        )
    )
    return rows


def _data_claims(run: RunEvidence) -> list[dict]:
    rows = []
    t1 = paper.table1()
    row = _row(
        "the class mix of the data",
        "distribution",
        "Table 1 (support)",
        ", ".join(f"{c} {s}" for c, s in t1["support"].items()),
        "chi-square goodness of fit of our random-split test set to Table 1's class shares",
    )
    # the paper's random split where it exists (under CV its first fold's test part)
    names = sorted(split_names(run.profile), key=lambda n: parse_split(n).kind != "paper")
    split = next((n for n in names if run.families(n) is not None), names[0] if names else "")
    path = run.split_path(split)
    if not path.is_file():
        rows.append(_not_run(row, "the data chapter's split file is missing"))
    else:
        frame = pd.read_csv(path)
        test = frame[frame["subset"] == "test"]
        observed = test["label"].value_counts().reindex(t1["label"], fill_value=0).to_numpy()
        expected = t1["support"].to_numpy() / t1["support"].sum() * observed.sum()
        chi2, p = stats.chisquare(observed, expected)
        rows.append(
            {
                **row,
                "ours": f"{split} split test set: "
                + ", ".join(f"{c} {n}" for c, n in zip(t1.index, observed, strict=True))
                + f"; chi-square {chi2:.1f}, {len(observed) - 1} df, p = {p:.3g}",
                "n families": int(test["family"].nunique()),
                "verdict": CONSISTENT if p >= rules.ALPHA else CONTRADICTED,
                "why": "the class shares do not differ from Table 1's at 0.05"
                if p >= rules.ALPHA
                else "the class shares differ from Table 1's at 0.05",
            }
        )
    fraction = 100 * paper.table1_test_fraction()
    rows.append(
        _row(
            "6,153 images from NASA's PDS, MRO and Viking imagery",
            "untestable",
            "Abstract; Data Collection",
            "6,153 images; MRO and Viking Orbiter",
            "the paper's file list is not published",
            ours=f"8,201 HiRISE (MRO) images, no Viking; Table 1's {paper.table1_total_support()} "
            f"test images are {fraction:.1f}% of 6,153 (the stated 20%)",
            verdict=UNTESTABLE,
            why="which images, and from which mission, cannot be inferred from the paper",
        )
    )
    return rows


# --------------------------------------------------------------------------------------------
# efficiency
# --------------------------------------------------------------------------------------------


def _efficiency_claims(run: RunEvidence) -> list[dict]:
    data = run.record(EfficiencyRecord)
    rows_ = None if data is None else data.rows
    eff = paper.EFFICIENCY
    sizes = [
        ("~25M parameters", "parameters_millions", "params", 1e6, "M parameters", ""),
        ("~4 GFLOPs at 224 px", "gflops", "gmacs", 1.0, "GMACs",
         " (the paper's GFLOPs read as multiply-adds)"),
    ]  # fmt: skip
    out = []
    table = None if rows_ is None else pd.DataFrame(rows_)
    full = (
        None
        if table is None
        else table[(table["backbone"] == "resnet50") & (table["model"] == "full")]
    )
    for claim, key, column, scale, unit, note in sizes:
        paper_value = float(eff[key].value)
        row = _row(
            claim,
            "size",
            "Table 2",
            f"~{paper_value:g}",
            f"ResNet-50 full model, counted; matches within {rules.MATCH_TOLERANCE:.0%}",
        )
        if full is None or not len(full):
            out.append(_not_run(row, "the efficiency chapter was not run"))
            continue
        ours = float(full[column].iloc[0]) / scale
        verdict = rules.match_verdict(ours, paper_value)
        out.append(
            {
                **row,
                "ours": f"{RESULT_MARK} {unit}{note}",
                **_result(ours, unit=unit, decimals=2),
                "contains paper": verdict == CONSISTENT,
                "verdict": verdict,
                "why": f"{100 * (ours / paper_value - 1):+.1f}% from the paper's figure",
            }
        )
    latency = (
        "n/a"
        if table is None
        else "; ".join(
            f"{r.backbone} {r.model}: {r.latency_ms_optimised:.1f} ms/img"
            for r in table[table["model"] == "full"].itertuples()
        )
    )
    out.append(
        _row(
            "25-30 ms per image",
            "untestable",
            "Table 2",
            f"{eff['latency_ms_low'].value:g}-{eff['latency_ms_high'].value:g} ms (GPU)",
            "needs the paper's GPU",
            ours=f"CPU batch-1: {latency}",
            verdict=UNTESTABLE if table is not None else NOT_RUN,
            why="the paper's timing is on an unnamed GPU"
            if table is not None
            else "the efficiency chapter was not run",
        )
    )
    return out


# --------------------------------------------------------------------------------------------
# explanations
# --------------------------------------------------------------------------------------------

_XAI_METHODS = (("gradcam", "Grad-CAM"), ("ig_black", "Integrated Gradients (black baseline)"))


def _xai_n(row: dict) -> Any:
    """The effective sample size of an XAI interval: its families, else ``"<n> images"``."""
    if row.get("n_families") is not None:
        return int(row["n_families"])
    return f"{row['n']} images" if row.get("n") is not None else ""


def _consistency_claim(summary: dict, row: dict) -> dict:
    """The Grad-CAM ~ IG consistency claim: agreement on one image vs on different images."""
    by_pair = {
        r["pair"]: r for r in summary.get("consistency", []) if r["metric"] == "topk_iou@0.1"
    }
    main = by_pair.get("gradcam~ig_black")
    if main is None or main.get("mismatched") is None:
        return _not_run(row, "the consistency test against mismatched images is missing")
    parts = [
        f"{pair}: "
        + (
            RESULT_MARK  # the pair the verdict judges: its numbers are recorded
            if pair == "gradcam~ig_black"
            else f"{r['mean']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        )
        + f" vs different images {_control_text(r)}, chance {r['chance']:.3f}"
        for pair, r in by_pair.items()
        if r.get("mismatched") is not None
    ]
    for other in summary.get("other_folds") or []:
        for r in other["consistency"]:
            if r["pair"] == "gradcam~ig_black" and r["metric"] == "topk_iou@0.1":
                parts.append(
                    f"replication on the fold-{other['fold']} model ({other['n_images']} "
                    f"images, beside the verdict): {r['mean']:.3f} [{r['ci_low']:.3f}, "
                    f"{r['ci_high']:.3f}] vs different images {_control_text(r)}"
                    + _p_text(r.get("p_vs_mismatched"))
                )
    result = {
        **row,
        "ours": "; ".join(parts),
        **_result(main["mean"], main["ci_low"], main["ci_high"], unit="fraction", decimals=3),
        "n families": _xai_n(main),
    }
    if main.get("p_vs_mismatched") is not None:
        result["_tests"] = [
            _xai_test("agreement minus different images'", main["vs_mismatched"], True,
                      main["p_vs_mismatched"]),
        ]  # fmt: skip
        result["_words"] = (
            "the two methods agree more on one image than on different images",
            "maps of different images agree more",
        )
    else:  # a record from before the control had its interval and p-value
        verdict = rules.control_verdict(main["ci_low"], main["ci_high"], main["mismatched"])
        result["verdict"] = INCONCLUSIVE
        result["why"] = {
            CONFIRMED: "the two methods agree more on one image than on different images",
            INCONCLUSIVE: "maps of different images agree about as well: the interval "
            "contains their agreement",
            CONTRADICTED: "maps of different images agree more",
        }[verdict] + _LEGACY_XAI
    return result


def _faithfulness_replications(summary: dict, method: str) -> str:
    """The deletion and insertion tests of ``method`` on the other folds' models, as text."""
    text = ""
    for other in summary.get("other_folds") or []:
        for f in other["faithfulness"]:
            if f["method"] == method and f.get("deletion_vs_random") is not None:
                text += (
                    f"; replication on the fold-{other['fold']} model "
                    f"({other['n_images']} images, beside the verdict): deletion minus random "
                    + _ci3(f["deletion_vs_random"], f["deletion_vs_random_ci_low"],
                           f["deletion_vs_random_ci_high"])
                    + _p_text(f.get("deletion_vs_random_p"))
                    + ", insertion minus random "
                    + _ci3(f["insertion_vs_random"], f["insertion_vs_random_ci_low"],
                           f["insertion_vs_random_ci_high"])
                    + _p_text(f.get("insertion_vs_random_p"))
                )  # fmt: skip
    return text


def _faithfulness_claim(summary: dict, method: str, label: str) -> dict:
    """The claim that ``method``'s maps show what drives the prediction (deletion, insertion)."""
    row = _row(
        f"{label} maps show what drives the prediction",
        "control",
        "Grad-CAM and IG Heatmaps",
        "qualitative",
        "deletion AUC minus that of deleting random pixels (lower is better), same images",
    )
    r = {r["method"]: r for r in summary.get("faithfulness", [])}.get(method)
    if r is None or r.get("deletion_vs_random_ci_low") is None:
        return _not_run(row, "the deletion test was not run")
    lo, hi = r["deletion_vs_random_ci_low"], r["deletion_vs_random_ci_high"]
    ours = RESULT_MARK
    if r.get("insertion_vs_random") is not None:
        ours += "; insertion AUC minus random " + _ci3(
            r["insertion_vs_random"],
            r["insertion_vs_random_ci_low"],
            r["insertion_vs_random_ci_high"],
        )
    completeness = _completeness_text(summary, method)
    ours += _faithfulness_replications(summary, method)
    result = {
        **row,
        "test": row["test"] + "; insertion AUC minus random's (higher is better)",
        "ours": ours + completeness,
        **_result(r["deletion_vs_random"], lo, hi, unit="AUC", decimals=3, difference=True),
        "n families": _xai_n(r),
        "contains 0": lo <= 0 <= hi,
    }
    if r.get("deletion_vs_random_p") is not None and r.get("insertion_vs_random_p") is not None:
        result["_tests"] = [
            _xai_test("deletion minus random", r["deletion_vs_random"], False,
                      r["deletion_vs_random_p"]),
            _xai_test("insertion minus random", r["insertion_vs_random"], True,
                      r["insertion_vs_random_p"]),
        ]  # fmt: skip
        result["_words"] = (
            "deleting its top pixels lowers the score, and inserting them raises it, more "
            "than random pixels do",
            "random pixels change the score more",
        )
    else:  # a record from before the tests had p-values: deletion alone, unadjusted
        verdict = rules.control_verdict(lo, hi, 0.0, higher_is_better=False)
        result["verdict"] = INCONCLUSIVE
        result["why"] = {
            CONFIRMED: "deleting its top pixels lowers the score more than random deletion",
            INCONCLUSIVE: "not distinguishable from deleting random pixels",
            CONTRADICTED: "random deletion lowers the score more",
        }[verdict] + _LEGACY_XAI
    return result


def _xai_claims(run: RunEvidence) -> list[dict]:
    xai = run.record(XaiSummary)
    summary = None if xai is None else xai.summary()
    row = _row(
        "Grad-CAM and IG highlight the same regions",
        "control",
        "Explainability Consistency Analysis",
        "'consistently' (no number)",
        "top-10% pixel IoU of Grad-CAM and IG on the same image vs on different images",
    )
    if summary is None:
        return [_not_run(row, "the explainability chapter was not run")] + [
            _not_run(
                _row(f"{label} maps show what drives the prediction", "control", "XAI", "", ""),
                "the explainability chapter was not run",
            )
            for _, label in _XAI_METHODS
        ]
    rows = [_consistency_claim(summary, row)]
    rows += [_faithfulness_claim(summary, method, label) for method, label in _XAI_METHODS]
    return rows


#: Said of a claim read from an explainability record written before its controls had
#: p-values. Its unadjusted 95% interval says what the reason's first words say, but it cannot
#: join the explainability claims' Holm family, so nothing is shown after the correction that
#: every other test of the book gets: the verdict is *inconclusive* either way (symmetric).
_LEGACY_XAI = (
    " (on the unadjusted 95% interval); this record predates the controls' p-values, so the "
    "claim cannot join the explainability claims' Holm family and is not shown after "
    "correction: re-run the explainability chapter to test it"
)


def _p_text(p: float | None) -> str:
    return "" if p is None else f" (p = {p:.3g}, unadjusted)"


def _ci3(value: float, low: float, high: float) -> str:
    return f"{value:+.3f} [{low:+.3f}, {high:+.3f}]"


def _control_text(r: dict) -> str:
    """The mismatched control with its own interval where the record has it."""
    if r.get("mismatched_ci_low") is None:
        return f"{r['mismatched']:.3f}"
    return f"{r['mismatched']:.3f} [{r['mismatched_ci_low']:.3f}, {r['mismatched_ci_high']:.3f}]"


def _completeness_text(summary: dict, method: str) -> str:
    """For IG: how many explained images pass the completeness check (issue 23, point 9)."""
    if not method.startswith("ig_"):
        return ""
    share = (summary.get("completeness_share_within_tolerance") or {}).get(method[3:])
    if share is None:
        return ""
    n = int(summary["n_images"])
    passed = round(share * n)
    text = (
        f"; IG completeness within {summary['completeness_tolerance']:.0%} on {passed} of {n} "
        f"images at {summary['ig_steps']} steps"
    )
    if passed < 0.9 * n:
        text += f" ({n - passed} fail: their attributions are a rough integral)"
    return text


def _xai_test(name: str, estimate: float, higher_is_better: bool, p: float) -> dict[str, Any]:
    """One test of an explainability claim for the shared Holm family (:func:`_xai_family`)."""
    return {"name": name, "estimate": float(estimate), "better": higher_is_better, "p": float(p)}


def _xai_family(rows: list[dict]) -> list[dict]:
    """The explainability claims' tests, Holm-corrected as one family, then their verdicts.

    A row with tests (``_tests``, each a control comparison with its two-sided or one-sided
    p-value) is *confirmed* when every test rejects at 0.05 after Holm on the claimed side,
    *contradicted* when one rejects on the other side, else *inconclusive*; the words of each
    are the row's ``_words``. Rows without tests (older records, "always") keep their verdict.
    """
    tests = [(i, t) for i, row in enumerate(rows) for t in row.get("_tests", [])]
    adjusted = _holm_adjust([t["p"] for _, t in tests])
    for (_, t), p in zip(tests, adjusted, strict=True):
        t["p_holm"] = p
    n = len(tests)
    out = []
    for i, row in enumerate(rows):
        row = dict(row)
        mine = [t for j, t in tests if j == i]
        good, bad = row.pop("_words", ("", ""))
        row.pop("_tests", None)
        if mine:
            shown = [(t["estimate"] > 0) == t["better"] and t["p_holm"] < rules.ALPHA for t in mine]
            wrong = [(t["estimate"] > 0) != t["better"] and t["p_holm"] < rules.ALPHA for t in mine]
            ps = "; ".join(f"{t['name']}: Holm p = {t['p_holm']:.3g}" for t in mine)
            family = f" ({ps}; Holm over the {n} tests of the explainability claims)"
            if any(wrong):
                row["verdict"], why = CONTRADICTED, bad
            elif all(shown):
                row["verdict"], why = CONFIRMED, good
            else:
                row["verdict"] = INCONCLUSIVE
                why = "not every control is beaten after Holm's correction"
            row["why"] = why + family + (f"; {row['why']}" if row.get("why") else "")
            row["p (Holm)"] = max(t["p_holm"] for t in mine)
        out.append(row)
    return out


def _pointing_tables(record: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    from marsutils.seg.pointing import PointingResult
    from marsutils.study.segmentation import PointingStudy

    results = {}
    for r in record["results"]:
        fields = {k: v for k, v in r.items() if k not in ("method", "per_tile")}
        results[(r["method"], r["tolerance"])] = PointingResult(
            **fields, per_tile=pd.DataFrame(r["per_tile"])
        )
    study = PointingStudy(results=results, example_stems=[], examples={}, config=record["config"])
    return study.table(), study.against_control("edges")


def _segmentation_not_run() -> list[dict]:
    """The segmentation claims when the segmentation chapter was not run."""
    rows = [
        _not_run(
            _row(f"{label} points at craters", "control", "XAI section", "", ""),
            "the segmentation chapter was not run",
        )
        for _, label in _XAI_METHODS
    ]
    rows.append(
        _not_run(
            _row("the maps always show geologically meaningful areas", "control", "", "", ""),
            "the segmentation chapter was not run",
        )
    )
    return rows


def _pointing_tests(t: pd.Series) -> dict[str, Any]:
    """The verdict (fewer hits than random) or the one-sided test for the XAI family."""
    if t["ci_high"] < t["random_baseline"]:
        return {"verdict": CONTRADICTED, "why": "fewer hits than random points"}
    # one-sided exact test of "more hits than random points", in the XAI family
    return {
        "_tests": [
            _xai_test(
                "hits above random points (one-sided)",
                t["hit_rate"] - t["random_baseline"],
                True,
                t["p_value"],
            ),
        ],
        "_words": ("more hits than random points", "fewer hits than random points"),
        "why": "",
    }


def _pointing_claim(
    table: pd.DataFrame, control: pd.DataFrame, method: str, label: str, tolerance: int, size
) -> dict:
    """The claim that ``method`` points at craters, at ``tolerance`` px (``size``: input px)."""
    row = _row(
        f"{label} points at craters",
        "control",
        "Abstract; XAI sections",
        "'geologically meaningful areas' (qualitative)",
        f"pointing game on mars-orbital-seg-53: map peak within {tolerance} px of a crater "
        "(pixels of the tile"
        + (f" as the classifier sees it, {size} px wide" if size else "")
        + "), against random points, Holm over the chapter's tests; the edge detector "
        "beside it",
    )
    t = table[(table["method"] == method) & (table["tolerance_px"] == tolerance)]
    c = control[(control["method"] == method) & (control["tolerance_px"] == tolerance)]
    if t.empty:
        return _not_run(row, f"{method} was not played")
    t, c = t.iloc[0], (None if c.empty else c.iloc[0])
    tests = _pointing_tests(t)
    extra = ""
    ours = (
        f"hit rate {RESULT_MARK} at {tolerance} px vs random "
        f"{t['random_baseline']:.2f} (one-sided p = {t['p_value']:.3g})"
    )
    zero = table[(table["method"] == method) & (table["tolerance_px"] == 0)]
    if tolerance and not zero.empty:
        ours += f"; at 0 px {zero.iloc[0]['hit_rate']:.2f}"
    if c is not None:
        ours += (
            f"; context: the edge detector, which knows no craters, "
            f"{c['control_hit_rate']:.2f} (Holm p = {c['p_holm']:.3g} for the difference)"
        )
        if c["above_control"] and c["only_control"] > c["only_method"]:
            extra = "the edge detector does better, so the maps may follow edges, not craters"
    blur = table[(table["method"] == "ig_blur") & (table["tolerance_px"] == tolerance)]
    if method == "ig_black" and not blur.empty:
        ours += f"; with a blurred baseline: hit rate {blur.iloc[0]['hit_rate']:.2f}"
    if extra:
        tests["why"] = f"{tests['why']}; {extra}" if tests["why"] else extra
    return {
        **row,
        "ours": ours,
        **_result(t["hit_rate"], t["ci_low"], t["ci_high"], unit="fraction", decimals=2),
        "n families": f"{int(t['n_tiles'])} tiles",
        **tests,
    }


def _always_claim(table: pd.DataFrame) -> dict:
    """The "always" claim: the most favourable method and tolerance among Grad-CAM and IG."""
    labels = dict(_XAI_METHODS)
    candidates = table[table["method"].isin(["gradcam", "ig_black", "ig_blur"])]
    best = candidates.loc[candidates["hit_rate"].idxmax()]
    hits, n = round(best["hit_rate"] * best["n_tiles"]), int(best["n_tiles"])
    verdict, why = rules.always_verdict(hits, n)
    return _row(
        "the maps always show geologically meaningful areas",
        "control",
        "Abstract",
        "'always'",
        "share of tiles whose map peak hits a crater, the best of Grad-CAM and IG "
        "(any baseline, 0 or 15 px)",
        ours=f"{labels.get(best['method'], best['method'])} at {best['tolerance_px']} px: "
        f"{hits} of {n} tiles",
        **{"n families": f"{n} tiles"},
        verdict=verdict,
        why=why,
    )


def _segmentation_claims(run: RunEvidence) -> list[dict]:
    pointing = run.record(SegPointingRecord)
    record = None if pointing is None else {"config": pointing.config, "results": pointing.results}
    if record is None:
        return _segmentation_not_run()
    table, control = _pointing_tables(record)
    # one tolerance for every method, the largest the chapter played: a 4x4 Grad-CAM cannot
    # place its peak on a crater's exact pixel, so 0 px would judge its resolution, not its aim
    tolerance = int(table["tolerance_px"].max())
    size = record["config"].get("input_size")
    rows = [
        _pointing_claim(table, control, method, label, tolerance, size)
        for method, label in _XAI_METHODS
    ]
    rows.append(_always_claim(table))
    return rows


# --------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------


def evaluate_claims(run_dir: str | os.PathLike, profile: Profile, *, seed: int = 0) -> pd.DataFrame:
    """Every claim with the paper's value, ours, a verdict and its reason; one row per claim.

    Parameters
    ----------
    run_dir : path
        A run directory (``experiments/``, ``splits/``, ``results/`` as the chapters write them).
    profile : Profile
        The run's profile (which experiments exist, whether the headline uses TTA).
    seed : int
        The split seed (the split file ``splits/<split>-seed<seed>.csv``) and bootstrap seed.

    Returns
    -------
    DataFrame
        The :data:`COLUMNS`, then the :data:`NUMBER_COLUMNS`; ``verdict`` is one of
        ``marsutils.stats.rules.VERDICTS``. Show it with
        :func:`marsutils.book.reporting.claims_views`, which composes ``ours``, ``paper protocol
        (leaks)`` and ``seeds`` from the numbers.
    """
    run = RunEvidence(Path(run_dir), profile, seed)
    rows = (
        _value_claims(run)
        + _comparison_claims(run)
        + [_split_gap_claim(run)]
        + _paper_claims(run)
        + _data_claims(run)
        + _efficiency_claims(run)
        + _xai_family(_xai_claims(run) + _segmentation_claims(run))
        + [_precision_claim(run)]
    )
    frame = pd.DataFrame(rows, columns=COLUMNS + NUMBER_COLUMNS)
    if frame["claim"].duplicated().any():
        raise AssertionError(f"duplicate claims: {frame.loc[frame['claim'].duplicated(), 'claim']}")
    return frame


def findings_record(claims: pd.DataFrame) -> FindingsRecord:
    """The claims table of :func:`evaluate_claims` as the chapter's record (``findings.json``)."""
    return FindingsRecord.from_frame(claims)


def verdict_counts(claims: pd.DataFrame) -> pd.Series:
    """How many distinct claims got each verdict (every verdict listed, zeros included)."""
    return claims.drop_duplicates("claim")["verdict"].value_counts().reindex(VERDICTS, fill_value=0)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m marsutils.study.findings --run-dir DIR [--profile P] [--output F] [--check]``.

    Judges every claim from the records of a run folder (a run's ``runs/<profile>`` or a
    committed ``results/<profile>``) and writes the findings record, by default into
    ``<run-dir>/results/findings.json``; ``--check`` writes nothing and exits 1 when the record
    there differs from the regenerated one in any byte. Returns the exit status (2 for an
    unknown profile or a missing run folder).
    """
    import argparse
    import sys
    import tempfile

    from marsutils.core.profiles import ProfileError, get_profile

    parser = argparse.ArgumentParser(
        prog="python -m marsutils.study.findings",
        description="Judge every claim from a run folder's records and write findings.json.",
    )
    parser.add_argument("--run-dir", required=True, help="a run folder or results/<profile>")
    parser.add_argument("--profile", default=None, help="default: the run folder's name")
    parser.add_argument("--output", default=None, help="default: <run-dir>/results/findings.json")
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    target = Path(args.output) if args.output else RunLayout(run_dir).result("findings.json")
    try:
        if not run_dir.is_dir():
            raise FileNotFoundError(f"--run-dir {run_dir}: no such folder")
        profile = get_profile(args.profile or run_dir.resolve().name)
    except (ProfileError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    record = findings_record(evaluate_claims(run_dir, profile))
    if not args.check:
        record.to_json(target)
        print(f"wrote {target}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = record.to_json(Path(tmp) / target.name)
        same = target.is_file() and Path(fresh).read_bytes() == target.read_bytes()
    print(f"{target}: {'identical to' if same else 'differs from'} the regenerated record")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
