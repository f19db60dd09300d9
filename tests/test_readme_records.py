"""The README's measured numbers outside "Results at a glance" come from committed records.

"Results at a glance" is regenerated from ``results/reference`` and guarded by ``test_glance``;
the benchmark figures the README quotes elsewhere are checked here against the JSON records in
``results/benchmarks/`` that the benchmarks wrote (``--output``), and the explorer's size against
the line the published explainability chapter printed. Rerunning a benchmark without
updating the README, or editing a figure by hand, fails these tests.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "results" / "benchmarks"


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def _record(name: str) -> dict:
    path = BENCHMARKS / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: the README quotes it")
    return json.loads(path.read_text(encoding="utf-8"))


def test_grid_throughput_figures_are_the_committed_record():
    record = _record("grid_throughput.json")
    rates = record["images_per_s"]
    quoted = f"{rates['1x2']:.1f} and {rates['2x1']:.1f} images/s, ratio {record['ratio']:.2f}"
    assert quoted in _readme(), f"README should quote {quoted!r} from grid_throughput.json"
    settings = record["settings"]
    flags = f"--specs {settings['specs']} --samples {settings['samples']}"
    assert flags in _readme()


def test_precision_ratios_are_the_committed_record():
    record = _record("precision_128px.json")
    readme = _readme()
    for backbone, label in (
        ("resnet50", "ResNet-50"),
        ("efficientnet_lite0", "EfficientNet-Lite0"),
    ):
        rates = record[backbone]["images_per_s"]
        quoted = f"{label} x{rates['bf16'] / rates['fp32']:.2f}"
        assert quoted in readme, f"README should quote {quoted!r} from precision_128px.json"
        choice = f"{label} {record[backbone]['auto_precision']}"
        assert choice in readme, f"README should say what auto chose: {choice!r}"
    assert record["settings"]["image_size"] == 128


def test_explorer_size_is_what_the_published_chapter_printed():
    notebook = ROOT / "book" / "notebooks" / "05_explainability.ipynb"
    printed = re.findall(
        r"explorer: \d+ images, \d+ maps, [\d.]+ MB added to the page",
        notebook.read_text(encoding="utf-8"),
    )
    assert printed, f"{notebook} does not print the explorer's size"
    readme_lines = re.findall(r"explorer: \d+ images, \d+ maps, [\d.]+ MB added", _readme())
    assert readme_lines, "README should quote the published explorer's size"
    assert all(printed[0].startswith(line) for line in readme_lines), (readme_lines, printed[0])


def test_the_make_book_time_is_the_committed_pipeline_record():
    record = _record("make_book_quick.json")
    assert record["profile"] == "quick" and record["notebooks"], "a full quick run's record"
    quoted = f"{record['total_seconds'] / 60:.0f} min in all"
    readme = " ".join(_readme().split())
    assert quoted in readme, f"README should quote {quoted!r} from make_book_quick.json"
    assert f"({record['conditions']})" in readme, "README should quote the record's conditions"
    from marsutils.core.profiles import get_profile

    assert record.get("cv_folds") == get_profile("quick").cv_folds, "a cross-validated quick run"


def test_the_records_name_the_machine_they_ran_on():
    for name in ("grid_throughput.json", "precision_128px.json"):
        environment = _record(name)["environment"]
        assert environment["logical_cores"] >= 1
        assert environment["cpu_capability"], name


def test_the_methods_page_quotes_the_resample_counts_of_the_code():
    """Issue 23, point 10: ``book/methods.md`` said 1,000 resamples where the findings used
    2,000. Its counts are now those of the code: each experiment's intervals
    (``EXPERIMENT_N_BOOT``) and each profile's ``n_boot`` for the comparisons."""
    from marsutils.core.profiles import get_profile
    from marsutils.study.experiments import EXPERIMENT_N_BOOT

    text = " ".join((ROOT / "book" / "methods.md").read_text(encoding="utf-8").split())
    assert f"({EXPERIMENT_N_BOOT:,} resamples per experiment" in text
    comparisons = {
        name: get_profile(name).n_boot for name in ("reference", "quick", "reference-cv")
    }
    assert len(set(comparisons.values())) == 1, comparisons
    quoted = f"{comparisons['quick']:,} under `reference`, `quick` and `reference-cv`; " + (
        f"{get_profile('smoke').n_boot:,} under `smoke`"
    )
    assert quoted in text


def test_every_experiment_key_the_readme_and_the_train_help_show_is_in_the_grid():
    """A new user found README examples naming keys of an old budget (``family/...-128px-2ep``)
    that no profile trains any longer: every ``train <key> ... --profile P`` and
    ``--model-key <key>`` example must name an experiment of that profile's grid."""
    from marsutils.cli import train as cli_train
    from marsutils.cli.train import find_spec
    from marsutils.core.profiles import get_profile

    texts = [_readme(), cli_train.__doc__ or ""]
    found = 0
    for text in texts:
        joined = re.sub(r"\\\s*\n\s*", " ", text)  # shell line continuations
        for line in joined.splitlines():
            key = re.search(r"(?:marsutils train|--model-key) ((?:family|paper)[\w./-]+)", line)
            if not key:
                continue
            profile = re.search(r"--profile ([\w-]+)", line)
            seed = re.search(r"--seed (\d+)", line)
            name = profile.group(1) if profile else "quick"  # evaluate's examples: quick runs
            find_spec(get_profile(name), key.group(1), int(seed.group(1)) if seed else None)
            found += 1
    assert found >= 4, "the README and `train --help` show experiment keys"
