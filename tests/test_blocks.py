"""Generated blocks inside hand-written pages (issue 26): markers, tables, the check mode."""

import pytest

from marsutils.book.blocks import (
    BlockError,
    hundredths,
    markdown_table,
    markers,
    page_main,
    replace_blocks,
    update_page,
)

MODULE = "marsutils.book.example"


def _page(*names: str) -> str:
    parts = ["# A page", "", "Hand-written prose."]
    for name in names:
        start, end = markers(name, MODULE)
        parts += ["", start, "old", end]
    return "\n".join([*parts, "", "More prose.", ""])


def test_a_block_is_replaced_between_its_markers_and_the_prose_is_kept():
    text = replace_blocks(_page("a", "b"), {"a": "new a\n", "b": "new b"}, MODULE)
    start, end = markers("a", MODULE)
    assert f"{start}\nnew a\n{end}" in text and "old" not in text
    assert text.startswith("# A page\n\nHand-written prose.") and text.endswith("More prose.\n")
    assert replace_blocks(text, {"a": "new a"}, MODULE) == text  # idempotent


@pytest.mark.parametrize("page", ["no markers at all", _page("a", "a")])
def test_missing_or_repeated_markers_are_an_error(page):
    with pytest.raises(BlockError, match="a:start"):
        replace_blocks(page, {"a": "x"}, MODULE)


def test_markers_out_of_order_are_an_error():
    start, end = markers("a", MODULE)
    with pytest.raises(BlockError):
        replace_blocks(f"{end}\n{start}\n", {"a": "x"}, MODULE)


def test_check_mode_never_writes(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(_page("a"))
    assert update_page(page, {"a": "x"}, MODULE, check=True) is False
    assert "old" in page.read_text()
    assert update_page(page, {"a": "x"}, MODULE) is False
    assert update_page(page, {"a": "x"}, MODULE, check=True) is True


def test_the_command_line_reports_stale_written_and_broken_pages(tmp_path, capsys):
    page = tmp_path / "page.md"
    page.write_text(_page("a"))

    def run(*flags):
        return page_main(
            ["--page", str(page), "--results", str(tmp_path), *flags],
            MODULE,
            "test",
            "unused.md",
            lambda run: {"a": f"from {run.name}"},
        )

    assert run("--check") == 1 and "out of date" in capsys.readouterr().err
    assert run() == 0 and run("--check") == 0
    page.write_text("markers gone")
    assert run() == 2 and "a:start" in capsys.readouterr().err


def test_markdown_table_escapes_pipes_and_checks_row_lengths():
    table = markdown_table(["a", "b"], [["x|y", None], ["1\n2", 3]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x\\|y |  |", "| 1 2 | 3 |"]
    with pytest.raises(ValueError, match="2 columns"):
        markdown_table(["a", "b"], [["only one"]])


@pytest.mark.parametrize(
    "value, text",
    [(87.505, "87.51"), (700.04 / 8, "87.51"), (92.456491, "92.46"), (88.48, "88.48")],
)
def test_hundredths_rounds_halves_up_as_the_paper_prints(value, text):
    assert hundredths(value) == text
