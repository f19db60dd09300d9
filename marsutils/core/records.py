"""Typed result records: the chapter-level result files of a run, one dataclass each.

Every file under ``<run_dir>/results/`` is written and read through a record of this module, so
the shape of a result file is written down once. A record is a frozen dataclass holding raw
numbers (fractions, not formatted percent strings); display formatting happens only at display
time. On disk a record is a JSON object with two extra keys, ``record`` (its name) and
``schema_version``, beside its fields::

    {"record": "paired_tests", "schema_version": 1, "chapter": "ablation", "tests": [...], ...}

Reading
    ``Record.from_json(path)`` checks the record name and schema version and that every field is
    present, and raises :class:`RecordError` naming the file and the field otherwise. A file
    without ``schema_version`` is the *legacy* shape written before these records existed (such
    as the committed ``results/reference-v1/results/*.json``); it is converted on read.

Run names
    A paired test names its two runs ``"<model> (<split>)"`` (:func:`run_name`) in every chapter,
    e.g. ``"full (family)"``, so the ablation and baselines chapters use the same key for the same
    configuration.

``python -m marsutils.core.records check RESULTS...`` reads every result file in the given
``results`` folders (e.g. ``results/reference/results``) through its record and reports any that
does not load.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pandas as pd

from marsutils.core.atomic import read_json, write_json

__all__ = [
    "FINDING_COLUMNS",
    "FINDING_NUMBERS",
    "RECORDS",
    "ClassifierMetrics",
    "RESULT_MARK",
    "DataSummary",
    "EfficiencyRecord",
    "ExternalRecord",
    "Finding",
    "FindingsRecord",
    "PairedTest",
    "PairedTests",
    "Record",
    "RecordError",
    "SegPointingRecord",
    "SeedComparisons",
    "SeedMargin",
    "SegStudyRecord",
    "TrainingSummary",
    "XaiSummary",
    "record_for",
    "run_name",
]

R = TypeVar("R", bound="Record")

_RUN_NAME = re.compile(r"(?P<model>.+) \((?P<split>[^()]+)\)")


class RecordError(ValueError):
    """A result file that is not the record it should be: the message names the file and field."""


def run_name(model: str, split: str) -> str:
    """The name of a run in every chapter's records: ``"<model> (<split>)"``.

    Parameters
    ----------
    model : str
        The model name of :class:`marsutils.study.experiments.ClassifierSpec` (``"full"``,
        ``"unet"``).
    split : str
        Its split (``"family"`` or ``"paper"``).

    Examples
    --------
    >>> run_name("full", "family")
    'full (family)'
    """
    return f"{model} ({split})"


def _clean(value: Any) -> Any:
    """JSON-ready value: tuples as lists, NaN and pandas NA as None, numpy scalars as Python."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


@dataclass(frozen=True)
class Record:
    """Base of every record: JSON round trip, schema check and legacy conversion.

    Subclasses set :attr:`NAME` (the ``record`` key), :attr:`FILE` (the default file name under
    ``results/``; :meth:`marsutils.core.layout.RunLayout.result` joins it) and
    :attr:`SCHEMA_VERSION`, and may override :meth:`_from_legacy` and :meth:`_decode`; a record
    whose shape changed lists the versions it still reads in :attr:`OLDER_VERSIONS` and converts
    them in :meth:`_upgrade`.
    """

    NAME: ClassVar[str] = ""
    FILE: ClassVar[str] = ""
    SCHEMA_VERSION: ClassVar[int] = 1
    #: Earlier schema versions still read, converted by :meth:`_upgrade`.
    OLDER_VERSIONS: ClassVar[tuple[int, ...]] = ()

    # ---------------------------------------------------------------- writing
    def to_dict(self) -> dict[str, Any]:
        """The JSON object: ``record``, ``schema_version`` and every field."""
        body = {f.name: _clean(self._encode(f.name)) for f in dataclasses.fields(self)}
        return {"record": self.NAME, "schema_version": self.SCHEMA_VERSION, **body}

    def _encode(self, name: str) -> Any:
        value = getattr(self, name)
        if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            return [dataclasses.asdict(v) for v in value]
        return value

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write the record to ``path`` atomically; returns the path."""
        return write_json(Path(path), self.to_dict())

    # ---------------------------------------------------------------- reading
    @classmethod
    def from_dict(cls: type[R], data: Any, *, source: str | os.PathLike = "<dict>") -> R:
        """The record of a JSON object (the current shape, or the legacy one without a version).

        Parameters
        ----------
        data : object
            The parsed JSON.
        source : str or path
            Where ``data`` came from, for the error messages.

        Raises
        ------
        RecordError
            If ``data`` is another record, has an unknown ``schema_version``, or lacks a field.
        """
        src = str(source)
        if isinstance(data, Mapping) and "schema_version" in data:
            version = data["schema_version"]
            if data.get("record") != cls.NAME:
                raise RecordError(
                    f"{src}: field 'record' is {data.get('record')!r}, expected {cls.NAME!r}"
                )
            if version != cls.SCHEMA_VERSION and version not in cls.OLDER_VERSIONS:
                readable = ", ".join(map(str, sorted({*cls.OLDER_VERSIONS, cls.SCHEMA_VERSION})))
                raise RecordError(
                    f"{src}: field 'schema_version' is {version!r}; this marsutils reads "
                    f"{cls.NAME} version {readable}"
                )
            body = {k: v for k, v in data.items() if k not in ("record", "schema_version")}
            if version != cls.SCHEMA_VERSION:
                body = cls._upgrade(body, version, src)
        else:
            body = cls._from_legacy(data, src)
        names = {f.name for f in dataclasses.fields(cls)}
        required = {
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        missing = sorted(required - set(body))
        if missing:
            raise RecordError(f"{src}: {cls.NAME} record lacks the field {missing[0]!r}")
        unknown = sorted(set(body) - names)
        if unknown:
            raise RecordError(f"{src}: {cls.NAME} record has an unknown field {unknown[0]!r}")
        return cls(**cls._decode(body, src))

    @classmethod
    def from_json(cls: type[R], path: str | os.PathLike) -> R:
        """Read the record in ``path`` (see :meth:`from_dict`); FileNotFoundError if absent."""
        path = Path(path)
        try:
            data = read_json(path)
        except ValueError as err:  # json.JSONDecodeError
            raise RecordError(f"{path}: not valid JSON ({err})") from err
        return cls.from_dict(data, source=path)

    @classmethod
    def read(cls: type[R], path: str | os.PathLike) -> R | None:
        """:meth:`from_json`, or None when ``path`` does not exist (a chapter not run yet)."""
        return cls.from_json(path) if Path(path).is_file() else None

    @classmethod
    def _from_legacy(cls, data: Any, source: str) -> dict[str, Any]:
        """The fields of a file written before the records (no ``schema_version``)."""
        if not isinstance(data, Mapping):
            raise RecordError(f"{source}: a {cls.NAME} record is a JSON object")
        return dict(data)

    @classmethod
    def _upgrade(cls, body: dict[str, Any], version: int, source: str) -> dict[str, Any]:
        """The fields of a file of an older :attr:`OLDER_VERSIONS` schema; default: unchanged."""
        return body

    @classmethod
    def _decode(cls, body: dict[str, Any], source: str) -> dict[str, Any]:
        """Turn JSON values into field values (nested records); default: unchanged."""
        return body


# --------------------------------------------------------------------------------------------
# one experiment's test metrics (metrics.json, metrics_tta<v>.json)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassifierMetrics(Record):
    """The test metrics of one trained classifier (``metrics.json`` in its experiment folder,
    ``metrics_tta<v>.json`` with test-time augmentation).

    The evaluation fields are those of :func:`marsutils.stats.metrics.evaluate_predictions`
    (fractions, intervals over twin families); the run fields say how the model was trained. A file
    written before this record (no ``schema_version``) is read as it is, its missing run fields
    None.

    Attributes
    ----------
    n_images : int
        Test images scored.
    class_names : list of str
        Class names in label order.
    overall : dict of str to float
        ``accuracy``, ``balanced_accuracy``, ``macro_f1``, ``weighted_f1``, ``mean_iou``, ...
    per_class : list of dict
        Per-class precision, recall, F1, Jaccard and support.
    confusion_matrix, confusion_matrix_normalized : list of list
        Rows: true class; columns: predicted class.
    ci : dict of str to dict
        The interval of each overall metric (``low``, ``high``, ``confidence``, ``method``).
    settings : dict
        How the intervals were computed (resamples, the resampled unit).
    spec : dict or None
        :meth:`marsutils.study.experiments.ClassifierSpec.identity`.
    data_fingerprint, precision, precision_reason, selection : str or None
        The data the model was trained on, the precision it ran in and why, the model-selection
        rule.
    best_epoch, epochs_run, torch_threads, tta_views : int or None
    train_time_s, wall_time_s : float or None
        Seconds of training epochs; of epochs plus final predictions.
    """

    NAME: ClassVar[str] = "classifier_metrics"
    FILE: ClassVar[str] = "metrics.json"

    n_images: int
    class_names: list[str]
    overall: dict[str, Any]
    per_class: Any
    confusion_matrix: list[list[float]]
    confusion_matrix_normalized: list[list[float]]
    ci: dict[str, Any]
    settings: dict[str, Any]
    spec: dict[str, Any] | None = None
    data_fingerprint: str | None = None
    best_epoch: int | None = None
    epochs_run: int | None = None
    train_time_s: float | None = None
    wall_time_s: float | None = None
    torch_threads: int | None = None
    precision: str | None = None
    precision_reason: str | None = None
    selection: str | None = None
    tta_views: int | None = None

    @classmethod
    def from_evaluation(cls, evaluation: Mapping[str, Any], **run: Any) -> ClassifierMetrics:
        """From :func:`marsutils.stats.metrics.evaluate_predictions`'s dict plus the run fields.

        Raises
        ------
        RecordError
            For a missing evaluation key or an unknown run field.
        """
        return cls.from_dict(_clean({**evaluation, **run}), source="an evaluation")

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (the evaluation keys plus the run fields)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def _from_legacy(cls, data: Any, source: str) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise RecordError(f"{source}: classifier metrics are a JSON object")
        return dict(data)


# --------------------------------------------------------------------------------------------
# paired tests (ablation and baselines chapters)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedTest:
    """One paired comparison ``metric(a) - metric(b)`` on the same test images.

    Attributes
    ----------
    a, b : str
        Run names (:func:`run_name`).
    metric : str
        ``"accuracy"`` or ``"macro_f1"``.
    difference, low, high : float
        The difference and its percentile-bootstrap interval, as fractions (0.012 = 1.2 points).
    p_not_better : float
        One-sided bootstrap share of resamples where ``a`` is not better.
    n_clusters : int or None
        The resampled units (twin families, or images without families); None if not recorded.
    confidence : float
        The interval's level.
    """

    a: str
    b: str
    metric: str
    difference: float
    low: float
    high: float
    p_not_better: float
    n_clusters: int | None = None
    confidence: float = 0.95

    @property
    def a_better(self) -> bool:
        """The interval lies above 0."""
        return self.low > 0

    @property
    def b_better(self) -> bool:
        """The interval lies below 0."""
        return self.high < 0


_LEGACY_TEST_KEYS = {
    "a minus b (points)": "difference",
    "95% CI low": "low",
    "95% CI high": "high",
    "p(a not better)": "p_not_better",
    "n families": "n_clusters",
}


def _legacy_run_name(name: str) -> str:
    """A legacy run name: ``"full"`` (baselines chapter, always the family split) is
    ``"full (family)"``; ``"full (paper)"`` is kept."""
    return name if _RUN_NAME.fullmatch(name) else run_name(name, "family")


@dataclass(frozen=True)
class PairedTests(Record):
    """The paired tests of a chapter (``ablation_tests.json``, ``baseline_tests.json``).

    Attributes
    ----------
    chapter : str
        ``"ablation"`` or ``"baselines"``; :attr:`file_name` gives the file.
    tests : tuple of PairedTest
        One per pair and metric.
    n_boot : int or None
        Bootstrap resamples (None in legacy files).
    seed : int or None
        The bootstrap seed (None in legacy files).
    """

    NAME: ClassVar[str] = "paired_tests"
    FILES: ClassVar[dict[str, str]] = {
        "ablation": "ablation_tests.json",
        "baselines": "baseline_tests.json",
    }

    chapter: str
    tests: tuple[PairedTest, ...]
    n_boot: int | None = None
    seed: int | None = None

    @property
    def file_name(self) -> str:
        """The file name of this chapter's tests under ``results/``."""
        return self.FILES[self.chapter]

    @classmethod
    def from_frame(
        cls, chapter: str, frame: pd.DataFrame, *, n_boot: int | None, seed: int | None
    ) -> PairedTests:
        """From :func:`~marsutils.study.comparisons.paired_comparisons` (columns as the fields)."""
        fields = [f.name for f in dataclasses.fields(PairedTest)]
        rows = frame[[c for c in fields if c in frame]].to_dict(orient="records")
        return cls(chapter, tuple(PairedTest(**_clean(r)) for r in rows), n_boot, seed)

    def to_frame(self) -> pd.DataFrame:
        """One row per test, columns named as :class:`PairedTest`'s fields (fractions)."""
        columns = [f.name for f in dataclasses.fields(PairedTest)]
        return pd.DataFrame([dataclasses.asdict(t) for t in self.tests], columns=columns)

    def find(self, a: str, b: str, metric: str) -> PairedTest | None:
        """The test of ``a`` against ``b`` on ``metric``, or None."""
        return next((t for t in self.tests if (t.a, t.b, t.metric) == (a, b, metric)), None)

    @classmethod
    def _from_legacy(cls, data: Any, source: str) -> dict[str, Any]:
        if not isinstance(data, list):
            raise RecordError(f"{source}: legacy paired tests are a JSON list of rows")
        chapter = next((c for c, f in cls.FILES.items() if source.endswith(f)), None)
        if chapter is None:
            raise RecordError(
                f"{source}: a legacy paired-tests file must be named one of "
                f"{sorted(cls.FILES.values())} to know its chapter"
            )
        tests = []
        for i, row in enumerate(data):
            for key in ("a", "b", "metric", *list(_LEGACY_TEST_KEYS)[:4]):
                if key not in row:
                    raise RecordError(f"{source}: row {i} lacks the field {key!r}")
            new = {_LEGACY_TEST_KEYS.get(k, k): v for k, v in row.items()}
            for key in ("difference", "low", "high"):  # points, rounded to 2 decimals
                new[key] = new[key] / 100
            new["a"], new["b"] = _legacy_run_name(new["a"]), _legacy_run_name(new["b"])
            new = {k: v for k, v in new.items() if k in PairedTest.__dataclass_fields__}
            tests.append(new)
        return {"chapter": chapter, "tests": tests}

    @classmethod
    def _decode(cls, body: dict[str, Any], source: str) -> dict[str, Any]:
        if body["chapter"] not in cls.FILES:
            raise RecordError(f"{source}: field 'chapter' must be one of {sorted(cls.FILES)}")
        tests = []
        for i, row in enumerate(body["tests"]):
            try:
                tests.append(PairedTest(**row))
            except TypeError as err:
                raise RecordError(f"{source}: field 'tests' row {i}: {err}") from err
        return {**body, "tests": tuple(tests)}


# --------------------------------------------------------------------------------------------
# a comparison across seeds (ablation chapter)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedMargin:
    """Run ``a`` against run ``b`` on one metric, over the seeds both were trained under.

    Attributes
    ----------
    a, b, metric : str
        The two run names and the metric, as in :class:`PairedTest`.
    seeds : tuple of int
        The seeds both runs finished.
    a_mean, a_sd, b_mean, b_sd : float or None
        Mean and sample SD (``ddof=1``; None for one seed) of each run's test score over the
        seeds, as fractions.
    difference, low, high : float
        Mean over seeds of ``a - b`` and its two-level percentile-bootstrap interval (seeds, then
        twin families within each seed), as fractions.
    exceeds_sd : bool or None
        ``difference > a_sd``: does ``a`` beat ``b`` by more than its own seed-to-seed SD? None
        when there is one seed.
    """

    a: str
    b: str
    metric: str
    seeds: tuple[int, ...]
    a_mean: float
    a_sd: float | None
    b_mean: float
    b_sd: float | None
    difference: float
    low: float
    high: float
    exceeds_sd: bool | None


@dataclass(frozen=True)
class SeedComparisons(Record):
    """The ablation chapter's comparisons across seeds (``ablation_seed_comparisons.json``).

    Attributes
    ----------
    margins : tuple of SeedMargin
        One per pair and metric.
    n_boot : int
        Bootstrap resamples.
    seed : int
        The bootstrap seed.
    """

    NAME: ClassVar[str] = "seed_comparisons"
    FILE: ClassVar[str] = "ablation_seed_comparisons.json"

    margins: tuple[SeedMargin, ...]
    n_boot: int
    seed: int

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, n_boot: int, seed: int) -> SeedComparisons:
        """From :func:`marsutils.study.comparisons.seed_margins` (columns named as the fields)."""
        rows = [_clean(r) for r in frame.to_dict(orient="records")]
        margins = tuple(SeedMargin(**{**r, "seeds": tuple(r["seeds"])}) for r in rows)
        return cls(margins, n_boot, seed)

    def to_frame(self) -> pd.DataFrame:
        """One row per margin, columns named as :class:`SeedMargin`'s fields (fractions)."""
        columns = [f.name for f in dataclasses.fields(SeedMargin)]
        return pd.DataFrame([dataclasses.asdict(m) for m in self.margins], columns=columns)

    @classmethod
    def _decode(cls, body: dict[str, Any], source: str) -> dict[str, Any]:
        margins = []
        for i, row in enumerate(body["margins"]):
            try:
                margins.append(SeedMargin(**{**row, "seeds": tuple(row["seeds"])}))
            except (TypeError, KeyError) as err:
                raise RecordError(f"{source}: field 'margins' row {i}: {err}") from err
        return {**body, "margins": tuple(margins)}


# --------------------------------------------------------------------------------------------
# data and training chapters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSummary(Record):
    """The data chapter's record (``data_summary.json``).

    Attributes
    ----------
    class_counts : dict of str to int
        Images per class.
    families : dict
        Twin-family statistics (``images``, ``families``, ``share_with_twin`` as a fraction,
        ``largest_family``).
    leakage : list of dict
        Per split and seed: subset sizes and the shares (fractions) of test/val images with a
        twin in train or val.
    """

    NAME: ClassVar[str] = "data_summary"
    FILE: ClassVar[str] = "data_summary.json"

    class_counts: dict[str, int]
    families: dict[str, Any]
    leakage: list[dict[str, Any]]

    def leakage_of(self, split: str) -> dict[str, Any] | None:
        """The first leakage row of ``split``, or None."""
        return next((row for row in self.leakage if row["split"] == split), None)

    def twin_shares(self, kind: str) -> list[float]:
        """Shares of test images with a twin in train, for the splits of ``kind``.

        Parameters
        ----------
        kind : {"paper", "family"}
            The split protocol.

        Returns
        -------
        list of float
            Fractions in [0, 1]: the hold-out split ``kind``'s one share where the record has
            it, else one per cross-validation fold ``<kind>-cv<K>-f<k>`` in the record's order;
            empty when the record has neither.
        """
        row = self.leakage_of(kind)
        if row is not None:
            return [float(row["test_with_twin_in_train"])]
        return [
            float(r["test_with_twin_in_train"])
            for r in self.leakage
            if str(r["split"]).startswith(f"{kind}-cv") and "-f" in str(r["split"])
        ]


@dataclass(frozen=True)
class TrainingSummary(Record):
    """The training chapter's record (``training_summary.json``).

    Attributes
    ----------
    main : dict
        Split to ``{"key", "overall", "ci"}`` of the main model's single-view test scores.
    headline : dict
        Split to ``{"tta_views", "overall", "ci"}`` of the headline scores (TTA where used).
    scratch : dict
        Run label to ``{"key", "overall", "ci"}`` of the from-scratch ResNet-50 runs.

    Every score and interval bound is a fraction.
    """

    NAME: ClassVar[str] = "training_summary"
    FILE: ClassVar[str] = "training_summary.json"

    main: dict[str, Any]
    headline: dict[str, Any]
    scratch: dict[str, Any]


# --------------------------------------------------------------------------------------------
# explainability, efficiency, segmentation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class XaiSummary(Record):
    """The explainability chapter's record (``xai_summary.json``).

    The fields are those of :func:`marsutils.study.xai.record.build_summary` (schema
    ``xai_summary/1``, described there); every share is a fraction.
    """

    NAME: ClassVar[str] = "xai_summary"
    FILE: ClassVar[str] = "xai_summary.json"

    model_key: str
    profile: str
    seed: int
    n_images: int
    n_correct: int
    n_wrong: int
    ig_steps: int
    blur_sigma: float
    image_size: int
    deletion_steps: int
    deletion_baseline: str
    consistency_resolution: int
    completeness_tolerance: float
    completeness_median_relative_delta: dict[str, Any]
    completeness_max_relative_delta: dict[str, Any]
    completeness_share_within_tolerance: dict[str, Any]
    consistency: list[dict[str, Any]]
    faithfulness: Any
    randomization: Any
    robustness: Any
    bootstrap: dict[str, Any]
    schema: str = "xai_summary/1"
    #: Under cross-validation, the explainability claims' tests repeated on other folds' models
    #: (:func:`marsutils.study.xai.record.fold_replication`); empty in older records.
    other_folds: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The ``xai_summary/1`` dict that :mod:`marsutils.study.xai.verdicts` reads."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class EfficiencyRecord(Record):
    """The efficiency chapter's record (``efficiency.json``).

    Attributes
    ----------
    rows : list of dict
        One per timed model: size, cost and the timed runs (seconds), as
        :func:`marsutils.study.efficiency.write_efficiency_results` writes them.
    plan, environment : dict
        The timing plan and the machine.
    cost_image_size : int
        Input size in pixels of the parameter and FLOP counts.
    paper_comparison : list of dict
        Our numbers beside the paper's.
    verdict : list of str
        The chapter's verdict sentences.
    profile : str or None
    seed : int or None
    """

    NAME: ClassVar[str] = "efficiency"
    FILE: ClassVar[str] = "efficiency.json"

    rows: list[dict[str, Any]]
    plan: dict[str, Any]
    cost_image_size: int
    environment: dict[str, Any]
    paper_comparison: list[dict[str, Any]] = field(default_factory=list)
    verdict: list[str] = field(default_factory=list)
    profile: str | None = None
    seed: int | None = None


@dataclass(frozen=True)
class SegStudyRecord(Record):
    """The segmentation chapter's cross-validated study (``seg_study.json``).

    Attributes
    ----------
    config : dict
        The study's settings and tiles.
    class_names : list of str
    models : dict
        Model name to ``per_fold``, ``summary``, ``pooled``, ``folds`` and ``fits`` (IoUs as
        fractions), as :meth:`marsutils.study.segmentation.SegStudy.to_dict` writes them.
    """

    NAME: ClassVar[str] = "seg_study"
    FILE: ClassVar[str] = "seg_study.json"

    config: dict[str, Any]
    class_names: list[str]
    models: dict[str, Any]


@dataclass(frozen=True)
class ExternalRecord(Record):
    """The external-validation chapter's study (``external.json``;
    :func:`marsutils.study.external.external_study`).

    Attributes
    ----------
    config : dict
        ``profile``, ``seed``, ``n_boot``, ``judged_on`` (the subset the verdicts are judged on:
        ``no_overlap``, or ``all`` when the overlap could not be checked) and the ``design``.
    folder : dict
        The external folder: name, path, fingerprint, image and family counts, how its classes
        matched the models' (``classes``, ``excluded_images``, ``scored_classes``,
        ``no_image_of``) and the scored images per class.
    overlap : dict
        ``checked`` and, when True, the twin counts and ``n_images_without_overlap``; else the
        ``reason``.
    models : dict
        Model -> ``folds`` (experiment keys) and ``missing`` (key -> reason); when complete,
        ``metrics`` (subset -> metric -> estimate and interval, fractions),
        ``per_model_macro_f1``, ``confusion_matrix`` (summed over the K models; rows true,
        columns predicted), ``per_class`` and ``shared_macro_f1`` (external, in-release and
        drop, fractions).
    comparisons : list of dict
        Claims C12-C18 on the external images, in points, with ``verdict``, ``why``,
        ``in_release_verdict`` and ``robustness``.
    """

    NAME: ClassVar[str] = "external"
    FILE: ClassVar[str] = "external.json"

    config: dict[str, Any]
    folder: dict[str, Any]
    overlap: dict[str, Any]
    models: dict[str, Any]
    comparisons: list[dict[str, Any]]


@dataclass(frozen=True)
class SegPointingRecord(Record):
    """The segmentation chapter's pointing game (``seg_pointing.json``).

    Attributes
    ----------
    config : dict
        The classifier, target class, tiles and tolerances.
    results : list of dict
        One per method and tolerance: hit rate and interval (fractions), baselines, p-values and
        per-tile peaks.
    """

    NAME: ClassVar[str] = "seg_pointing"
    FILE: ClassVar[str] = "seg_pointing.json"

    config: dict[str, Any]
    results: list[dict[str, Any]]


# --------------------------------------------------------------------------------------------
# findings
# --------------------------------------------------------------------------------------------

#: Finding field -> the column of :data:`marsutils.study.findings.COLUMNS` (the display name).
FINDING_COLUMNS: dict[str, str] = {
    "claim": "claim",
    "kind": "kind",
    "source": "source",
    "paper": "paper",
    "test": "test",
    "ours": "ours",
    "paper_protocol": "paper protocol (leaks)",
    "seeds": "seeds",
    "n_families": "n families",
    "contains_zero": "contains 0",
    "contains_paper": "contains paper",
    "p_holm": "p (Holm)",
    "trained_to_plateau": "trained to plateau",
    "verdict": "verdict",
    "why": "why",
}

#: The numeric fields of a :class:`Finding` (version 2): their columns carry the field names.
FINDING_NUMBERS: tuple[str, ...] = (
    "estimate",
    "low",
    "high",
    "unit",
    "decimals",
    "difference",
    "protocol_estimate",
    "protocol_low",
    "protocol_high",
    "seed_mean",
    "seed_sd",
    "n_seeds",
)
FINDING_COLUMNS.update({name: name for name in FINDING_NUMBERS})

#: Where the primary result goes in the ``ours`` sentence of a finding that has one.
RESULT_MARK = "{result}"


def _blank_to_none(value: Any) -> Any:
    if value is None or value is pd.NA or value == "":
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


@dataclass(frozen=True)
class Finding:
    """One claim of the paper with our result and its verdict.

    Where the claim has a primary result (a value, a difference, a share), the record holds its
    numbers and the display composes the text (:func:`marsutils.book.reporting.finding_texts`); a
    claim whose result is descriptive (classes, counts, the paper's arithmetic) keeps only text.

    Attributes
    ----------
    claim, paper, test, verdict, kind, source, why : str
        The claim, the paper's value and where it is printed, our test, and the verdict with its
        kind and reason.
    ours : str
        Our result as a sentence. When :attr:`estimate` is set it holds :data:`RESULT_MARK`
        exactly once, where the primary result goes (``"{result}; also macro F1 ..."``); the
        rest of the sentence (secondary metrics, context) stays text.
    estimate, low, high : float or None
        The primary result and its 95% interval (None: no interval), in :attr:`unit`.
    unit : str or None
        ``"%"`` (a score in percent), ``"points"`` (a difference of two scores in percent),
        ``"fraction"`` (a share between 0 and 1: a hit rate, a top-10% pixel IoU), ``"AUC"``
        (a difference of two deletion-curve areas), or a count's unit (``"M parameters"``,
        ``"GMACs"``).
    decimals : int or None
        The resolution the result is reported at (1 for percent and points).
    difference : bool or None
        Whether the result is a difference of two scores (shown with its sign).
    protocol_estimate, protocol_low, protocol_high : float or None
        The same score on the paper's random split (shown, not judged), in :attr:`unit`.
    seed_mean, seed_sd : float or None
        Mean and SD (``ddof=1``; None for one seed) over training seeds, in :attr:`unit`.
    n_seeds : int or None
        The seeds behind :attr:`seed_mean`; None when the claim has one seed.
    paper_protocol, seeds : str or None
        The text of the two columns when their numbers are not recorded (files of schema
        version 1 and legacy files, or a sentence such as ``"n/a"``).
    n_families, contains_zero, contains_paper, p_holm, trained_to_plateau
        Raw values, None where the claim has none.
    """

    claim: str
    paper: str
    test: str
    ours: str
    verdict: str
    kind: str = ""
    source: str = ""
    why: str = ""
    paper_protocol: str | None = None
    seeds: str | None = None
    n_families: int | str | None = None
    contains_zero: bool | None = None
    contains_paper: bool | None = None
    p_holm: float | None = None
    trained_to_plateau: str | None = None
    estimate: float | None = None
    low: float | None = None
    high: float | None = None
    unit: str | None = None
    decimals: int | None = None
    difference: bool | None = None
    protocol_estimate: float | None = None
    protocol_low: float | None = None
    protocol_high: float | None = None
    seed_mean: float | None = None
    seed_sd: float | None = None
    n_seeds: int | None = None

    def __post_init__(self) -> None:
        if self.estimate is not None:
            if self.ours.count(RESULT_MARK) != 1:
                raise ValueError(
                    f"claim {self.claim!r}: 'ours' must hold {RESULT_MARK!r} once when "
                    f"'estimate' is set, got {self.ours!r}"
                )
            if self.decimals is None or self.unit is None:
                raise ValueError(f"claim {self.claim!r}: 'estimate' needs 'unit' and 'decimals'")
        if (self.low is None) != (self.high is None):
            raise ValueError(f"claim {self.claim!r}: 'low' and 'high' are set together")
        if self.protocol_estimate is not None and self.estimate is None:
            raise ValueError(f"claim {self.claim!r}: 'protocol_estimate' needs 'estimate'")
        if self.seed_mean is not None and (self.estimate is None or self.n_seeds is None):
            raise ValueError(f"claim {self.claim!r}: 'seed_mean' needs 'estimate' and 'n_seeds'")


@dataclass(frozen=True)
class FindingsRecord(Record):
    """The findings chapter's record (``findings.json``): one :class:`Finding` per claim.

    Schema version 2 added the numeric fields of :class:`Finding`; files of version 1 and legacy
    files (a JSON list of display rows) read with those fields None, the text as stored.
    """

    NAME: ClassVar[str] = "findings"
    FILE: ClassVar[str] = "findings.json"
    SCHEMA_VERSION: ClassVar[int] = 2
    OLDER_VERSIONS: ClassVar[tuple[int, ...]] = (1,)

    findings: tuple[Finding, ...]

    @classmethod
    def from_frame(cls, claims: pd.DataFrame) -> FindingsRecord:
        """From :func:`marsutils.study.findings.evaluate_claims` (the columns of
        :data:`FINDING_COLUMNS`)."""
        rows = claims.to_dict(orient="records")
        fields = [_finding_fields(r, "the claims table", i) for i, r in enumerate(rows)]
        return cls(tuple(_finding(f, "the claims table", i) for i, f in enumerate(fields)))

    def to_frame(self) -> pd.DataFrame:
        """The claims table with the columns of :data:`FINDING_COLUMNS`: the text columns with
        blanks as ``""``, the numeric ones with None."""
        rows = [
            {
                FINDING_COLUMNS[k]: ("" if v is None and k not in FINDING_NUMBERS else v)
                for k, v in dataclasses.asdict(f).items()
            }
            for f in self.findings
        ]
        return pd.DataFrame(rows, columns=list(FINDING_COLUMNS.values()))

    def rows(self) -> list[dict[str, Any]]:
        """One dict per finding, keyed by field name."""
        return [dataclasses.asdict(f) for f in self.findings]

    @classmethod
    def _from_legacy(cls, data: Any, source: str) -> dict[str, Any]:
        if isinstance(data, Mapping):  # an older wrapper: {"rows": [...]} or {"claims": [...]}
            data = data.get("rows", data.get("claims"))
        if not isinstance(data, list):
            raise RecordError(f"{source}: legacy findings are a JSON list of claim rows")
        return {"findings": [_finding_fields(row, source, i) for i, row in enumerate(data)]}

    @classmethod
    def _upgrade(cls, body: dict[str, Any], version: int, source: str) -> dict[str, Any]:
        # version 1 is version 2 without the numeric fields, which default to None; a numeric
        # field in a version-1 file is an error (it cannot have been written by version 1)
        for i, row in enumerate(body.get("findings") or []):
            extra = sorted(set(row) & set(FINDING_NUMBERS)) if isinstance(row, Mapping) else []
            if extra:
                raise RecordError(
                    f"{source}: field 'findings' row {i} has the field {extra[0]!r}, which "
                    f"findings version {version} does not have"
                )
        return body

    @classmethod
    def _decode(cls, body: dict[str, Any], source: str) -> dict[str, Any]:
        rows = body["findings"]
        return {"findings": tuple(_finding(row, source, i) for i, row in enumerate(rows))}


def _finding(row: Mapping[str, Any], source: str, i: int) -> Finding:
    try:
        return Finding(**row)
    except (TypeError, ValueError) as err:
        raise RecordError(f"{source}: field 'findings' row {i}: {err}") from err


def _finding_fields(row: Mapping[str, Any], source: str, i: int) -> dict[str, Any]:
    """Fields of a claim row with the column names of :data:`FINDING_COLUMNS` (blank cells
    become None; whole floats of the integer fields, as a table column holds them, integers)."""
    by_column = {column: name for name, column in FINDING_COLUMNS.items()}
    out = {}
    for column, value in row.items():
        if column not in by_column:
            raise RecordError(f"{source}: row {i} has an unknown field {column!r}")
        out[by_column[column]] = _clean(_blank_to_none(value))
    for name in ("decimals", "n_seeds"):
        value = out.get(name)
        if isinstance(value, float) and value.is_integer():
            out[name] = int(value)
    for name in ("claim", "paper", "test", "ours", "verdict", "kind", "source", "why"):
        if name not in out and name in ("claim", "paper", "test", "ours", "verdict"):
            raise RecordError(f"{source}: row {i} lacks the field {FINDING_COLUMNS[name]!r}")
        if out.get(name) is None:
            out[name] = ""
    return out


# --------------------------------------------------------------------------------------------
# the file-name index and the checker
# --------------------------------------------------------------------------------------------

#: Result-file name (under ``results/``) -> its record class.
RECORDS: dict[str, type[Record]] = {
    "data_summary.json": DataSummary,
    "training_summary.json": TrainingSummary,
    "ablation_tests.json": PairedTests,
    "baseline_tests.json": PairedTests,
    "ablation_seed_comparisons.json": SeedComparisons,
    "xai_summary.json": XaiSummary,
    "efficiency.json": EfficiencyRecord,
    "seg_study.json": SegStudyRecord,
    "seg_pointing.json": SegPointingRecord,
    "external.json": ExternalRecord,
    "findings.json": FindingsRecord,
}


def record_for(path: str | os.PathLike) -> type[Record]:
    """The record class of a result file, by its name; RecordError for an unknown name."""
    name = Path(path).name
    if name not in RECORDS:
        raise RecordError(f"{path}: no record is named {name!r}; known: {sorted(RECORDS)}")
    return RECORDS[name]


def check_results(results: str | os.PathLike) -> list[Path]:
    """Read every known result file in ``results`` (a run folder, or its ``results/``).

    Returns the files read; raises :class:`RecordError` at the first that does not load, and
    when the folder holds none of the known result files.
    """
    if Path(results, "results").is_dir():
        results = Path(results, "results")
    read = []
    for name, record in RECORDS.items():
        path = Path(results, name)
        if path.is_file():
            record.from_json(path)
            read.append(path)
    if not read:
        raise RecordError(f"{results} holds none of the result files {sorted(RECORDS)}")
    return read


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m marsutils.core.records check RESULTS...``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m marsutils.core.records", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="read every result file through its record")
    check.add_argument("folders", nargs="+")
    args = parser.parse_args(argv)
    status = 0
    for folder in args.folders:
        try:
            for path in check_results(folder):
                print(f"ok {path}")
        except RecordError as err:
            print(f"error: {err}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
