"""The README and the manual (``book/using/``) quote committed records, and the README is a
front door.

"Results at a glance" is regenerated from ``results/reference`` and guarded by ``test_glance``;
the benchmark figures the README and the manual's pages quote elsewhere are checked here against
the JSON records in ``results/benchmarks/`` that the benchmarks wrote (``--output``), and the
explorer's size against the line the published explainability chapter printed. Rerunning a
benchmark without updating the page that quotes it, or editing a figure by hand, fails these
tests. Issue 24: the README is at most :data:`README_MAX_BYTES` bytes, its relative links lead
to files that exist, and the manual it used to hold is the book's part "Using this project".
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "results" / "benchmarks"
USING = ROOT / "book" / "using"

#: The README's size limit in bytes (``wc -c README.md``): a front door, not the manual.
README_MAX_BYTES = 12_000


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def _using(name: str) -> str:
    """The text of the manual's page ``book/using/<name>.md``."""
    return (USING / f"{name}.md").read_text(encoding="utf-8")


def _record(name: str) -> dict:
    path = BENCHMARKS / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: the README quotes it")
    return json.loads(path.read_text(encoding="utf-8"))


def test_grid_throughput_figures_are_the_committed_record():
    record = _record("grid_throughput.json")
    rates = record["images_per_s"]
    quoted = f"{rates['1x2']:.1f} and {rates['2x1']:.1f} images/s, ratio {record['ratio']:.2f}"
    page = _using("executors")
    assert quoted in page, f"executors.md should quote {quoted!r} from grid_throughput.json"
    settings = record["settings"]
    flags = f"--specs {settings['specs']} --samples {settings['samples']}"
    assert flags in page


def test_precision_ratios_are_the_committed_record():
    record = _record("precision_128px.json")
    page = _using("precision")
    for backbone, label in (
        ("resnet50", "ResNet-50"),
        ("efficientnet_lite0", "EfficientNet-Lite0"),
    ):
        rates = record[backbone]["images_per_s"]
        quoted = f"{label} x{rates['bf16'] / rates['fp32']:.2f}"
        assert quoted in page, f"precision.md should quote {quoted!r} from precision_128px.json"
        choice = f"{label} {record[backbone]['auto_precision']}"
        assert choice in page, f"precision.md should say what auto chose: {choice!r}"
    assert record["settings"]["image_size"] == 128


def test_explorer_size_is_what_the_published_chapter_printed():
    notebook = ROOT / "book" / "notebooks" / "05_explainability.ipynb"
    printed = re.findall(
        r"explorer: \d+ images, \d+ maps, [\d.]+ MB added to the page",
        notebook.read_text(encoding="utf-8"),
    )
    assert printed, f"{notebook} does not print the explorer's size"
    quoted = re.findall(r"explorer: \d+ images, \d+ maps, [\d.]+ MB added", _using("running"))
    assert quoted, "running.md should quote the published explorer's size"
    assert all(printed[0].startswith(line) for line in quoted), (quoted, printed[0])


def test_the_make_book_time_is_the_committed_pipeline_record():
    from marsutils.book.chapters import NOTEBOOKS

    record = _record("make_book_quick.json")
    assert record["profile"] == "quick" and record["notebooks"], "a full quick run's record"
    timed = [n["notebook"][:2] for n in record["notebooks"]]
    quoted = f"{record['total_seconds'] / 60:.0f} min in all for chapters {timed[0]} to {timed[-1]}"
    readme = " ".join(_readme().split())
    assert quoted in readme, f"README should quote {quoted!r} from make_book_quick.json"
    page = " ".join(_using("running").split())
    assert quoted in page, f"running.md should quote {quoted!r} from make_book_quick.json"
    for chapter in (n[:2] for n in NOTEBOOKS if n[:2] not in timed):  # added since the timing
        said = f"chapter {chapter} is not in this timing"
        assert said in readme and said in page, f"README and running.md should say {said!r}"
    # the record was written before the package's layers: its pipeline is now marsutils.book's
    conditions = record["conditions"].replace("marsutils.pipeline", "marsutils.book.pipeline")
    assert f"({conditions})" in page, "running.md should quote the record's conditions"
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
    ``--model-key <key>`` example (README, the manual's pages) must name an experiment of that
    profile's grid."""
    from marsutils.cli import train as cli_train
    from marsutils.cli.train import find_spec
    from marsutils.core.profiles import get_profile

    pages = [p.read_text(encoding="utf-8") for p in sorted(USING.glob("*.md"))]
    texts = [_readme(), *pages, cli_train.__doc__ or ""]
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
    assert found >= 4, "the manual and `train --help` show experiment keys"


def test_the_readme_is_a_front_door_of_at_most_12000_bytes():
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_MAX_BYTES, (
        f"README.md is {size:,} bytes (at most {README_MAX_BYTES:,}): move detail to book/using/"
    )


def _relative_links(markdown: str) -> list[str]:
    """The targets of the Markdown links ``[text](target)`` that are not URLs or anchors."""
    targets = re.findall(r"\]\(([^)\s]+)\)", markdown)
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:|#", t)]


def test_every_relative_link_of_the_readme_leads_to_a_file():
    links = _relative_links(_readme())
    assert any(link.startswith("book/using/") for link in links), "README should link the manual"
    missing = [link for link in links if not (ROOT / link.split("#")[0]).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_the_relative_links_helper_skips_urls_and_anchors():
    text = "[a](book/x.md) [b](https://x.org) [c](#top) [d](mailto:x@y) [e](LICENSE#l1)"
    assert _relative_links(text) == ["book/x.md", "LICENSE#l1"]


def test_every_page_of_the_manual_is_in_the_part_using_this_project():
    import yaml

    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text(encoding="utf-8"))
    part = next(p for p in toc["parts"] if p["caption"] == "Using this project")
    listed = [chapter["file"] for chapter in part["chapters"]]
    pages = sorted(f"using/{p.stem}" for p in USING.glob("*.md"))
    assert sorted(listed) == pages, (listed, pages)
    for name in ("running", "profiles", "seeds", "executors", "data", "evaluate", "precision",
                 "layout", "bad_input"):  # fmt: skip
        assert f"using/{name}" in listed, name


def _bad_input_rows() -> list[str]:
    """The rows of the table on ``book/using/bad_input.md``, header and rule excluded."""
    rows = [line for line in _using("bad_input").splitlines() if line.startswith("| ")]
    assert rows and rows[0].startswith("| input | what happens | test |"), rows[:1]
    return rows[1:]


def test_every_test_the_bad_input_table_names_exists():
    """The table moved from the README (issue 24) with every row; each row names tests that
    exist in ``tests/``, by name or as ``tests/<file>.py::<name>``."""
    rows = _bad_input_rows()
    assert len(rows) >= 68, f"the bad-input table lost rows: {len(rows)}"
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").glob("*.py"))
    for row in rows:
        names = re.findall(r"`(?:tests/[\w]+\.py::)?(test_\w+)`", row.rsplit("|", 2)[-2])
        assert names, f"a bad-input row names no test: {row[:80]}"
        for name in names:
            assert re.search(rf"^def {name}\(", sources, re.M), f"no test {name} ({row[:60]})"


def test_the_layout_page_names_every_folder_of_the_package():
    """The layout page describes the package as it is: one row per layer folder."""
    from marsutils.core.layers import LAYERS

    page = _using("layout")
    for folder in LAYERS:
        if folder != "__main__":
            assert f"| `{folder}/` |" in page, f"layout.md has no row for marsutils/{folder}/"
