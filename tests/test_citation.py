"""The study can be cited: CITATION.cff (CFF 1.2.0), LICENSE, and the how-to-cite and data pages.

The CFF checks are those of the CFF 1.2.0 schema that matter for citing (required keys and their
types, reference types, ISO dates); the rest tie the file to what the repository already states,
so that the title, version, licence and data sources cannot drift apart unnoticed.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from marsutils.core import paper as P

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).parents[1].parent / "shared"
DATA = SHARED / "data"
BOOK = ROOT / "book"
NEW_PAGES = ("how_to_cite", "data_statement")

#: The ``type`` values CFF 1.2.0 allows in a reference (``definitions.reference.properties.type``).
# fmt: off
CFF_REFERENCE_TYPES = frozenset((
    "art", "article", "audiovisual", "bill", "blog", "book", "catalogue", "conference-paper",
    "conference", "data", "database", "dictionary", "edited-work", "encyclopedia",
    "film-broadcast", "generic", "government-document", "grant", "hearing", "historical-work",
    "legal-case", "legal-rule", "magazine-article", "manual", "map", "multimedia", "music",
    "newspaper-article", "pamphlet", "patent", "personal-communication", "proceedings", "report",
    "serial", "slides", "software-code", "software-container", "software-executable",
    "software-virtual-machine", "software", "sound-recording", "standard", "statute", "thesis",
    "unpublished", "video", "website",
))
# fmt: on
#: The first line of a licence text and its SPDX identifier (the ones this repository may carry).
LICENSE_HEADERS = {"MIT License": "MIT"}
#: SPDX identifiers used in CITATION.cff (the study's licence and the paper's).
KNOWN_SPDX = frozenset({"MIT", "CC-BY-4.0"})
ISO_DATE = re.compile(r"^[0-9]{4}-(0[1-9]|1[012])-(0[1-9]|[12][0-9]|3[01])$")


def _cff() -> dict:
    path = ROOT / "CITATION.cff"
    assert path.is_file(), "CITATION.cff is missing at the repository root"
    cff = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(cff, dict), "CITATION.cff must be a YAML mapping"
    return cff


def _page(name: str) -> str:
    path = BOOK / f"{name}.md"
    assert path.is_file(), f"{path} is missing"
    return path.read_text(encoding="utf-8")


def _bib_entry(key: str) -> str:
    bib = (BOOK / "references.bib").read_text(encoding="utf-8")
    match = re.search(r"^@\w+\{" + re.escape(key) + r",.*?^\}", bib, re.M | re.S)
    assert match, f"{key} is not in book/references.bib"
    return match.group(0)


def _bib_fields(entry: str) -> dict[str, str]:
    return {k.lower(): v for k, v in re.findall(r"^\s*(\w+)\s*=\s*\{(.*)\},?\s*$", entry, re.M)}


def _plain(text: str) -> str:
    """Compare titles and journal names without BibTeX braces, ``&`` spelt out, one space."""
    text = text.replace("{", "").replace("}", "").replace("\\&", "&").replace("&", "and")
    return " ".join(text.split()).casefold()


def _check_authors(authors, where: str) -> None:
    assert isinstance(authors, list) and authors, f"{where}: authors must be a non-empty list"
    for author in authors:
        assert isinstance(author, dict), f"{where}: each author must be a mapping, got {author!r}"
        names = [author.get(k) for k in ("name", "family-names")]
        assert any(isinstance(n, str) and n.strip() for n in names), (
            f"{where}: an author needs a `name` (entity) or `family-names` (person): {author!r}"
        )


def _as_date(value, where: str) -> dt.date:
    # PyYAML reads an unquoted 2026-01-31 as a date; the CFF schema wants the ISO string
    text = value.isoformat() if isinstance(value, dt.date) else value
    assert isinstance(text, str) and ISO_DATE.match(text), f"{where}: not an ISO date: {value!r}"
    return dt.date.fromisoformat(text)


def _walk(node, key: str):
    """Every value stored under ``key`` anywhere in a nested YAML structure."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from _walk(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, key)


def _sections(markdown: str) -> dict[str, str]:
    """``## heading`` -> the text up to the next ``##`` heading."""
    parts = re.split(r"^## +(.+)$", markdown, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_citation_cff_has_the_keys_cff_1_2_0_requires_with_their_types():
    cff = _cff()
    assert cff.get("cff-version") == "1.2.0"  # a string: unquoted 1.2.0 is not a YAML number
    for key in ("message", "title"):
        assert isinstance(cff.get(key), str) and cff[key].strip(), f"{key} must be a string"
    _check_authors(cff.get("authors"), "authors")
    assert cff["title"].startswith("Mars terrain mapping, reproduced: ")
    assert cff["authors"] == [{"name": "The Mars terrain mapping, reproduced contributors"}]
    assert cff.get("type") == "software"
    assert isinstance(cff.get("version"), str) and cff["version"]
    assert isinstance(cff.get("abstract"), str) and cff["abstract"].strip()
    keywords = cff.get("keywords")
    assert isinstance(keywords, list) and keywords
    assert all(isinstance(k, str) and k for k in keywords)


def test_every_reference_and_the_preferred_citation_have_type_title_and_authors():
    cff = _cff()
    references = cff.get("references")
    assert isinstance(references, list) and references, "references must be a non-empty list"
    entries = [(f"references[{i}]", ref) for i, ref in enumerate(references)]
    entries.append(("preferred-citation", cff.get("preferred-citation")))
    for where, ref in entries:
        assert isinstance(ref, dict), f"{where} must be a mapping"
        assert ref.get("type") in CFF_REFERENCE_TYPES, f"{where}: type {ref.get('type')!r}"
        assert isinstance(ref.get("title"), str) and ref["title"].strip(), f"{where}: title"
        _check_authors(ref.get("authors"), where)
    # the preferred citation is the study itself, so it must say what the top level says
    preferred = cff["preferred-citation"]
    for key in ("title", "authors", "version", "date-released", "license"):
        assert preferred.get(key) == cff.get(key), f"preferred-citation {key} differs"


def test_license_is_the_spdx_id_of_the_license_file_and_of_pyproject():
    cff = _cff()
    lines = (ROOT / "LICENSE").read_text(encoding="utf-8").splitlines()
    assert lines[0] in LICENSE_HEADERS, f"LICENSE starts with {lines[0]!r}"
    assert cff.get("license") == LICENSE_HEADERS[lines[0]] == "MIT"
    holder = cff["authors"][0]["name"]
    assert f"Copyright (c) 2026 {holder}" in lines
    assert "Permission is hereby granted, free of charge" in "\n".join(lines)
    for value in _walk(cff, "license"):
        assert value in KNOWN_SPDX, f"{value!r} is not an SPDX identifier this test knows"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == {"text": cff["license"]}
    assert project["version"] == cff["version"]


def test_dates_are_iso_dates_and_not_in_the_future():
    cff = _cff()
    released = _as_date(cff.get("date-released"), "date-released")
    assert released <= dt.date.today()
    dates = [d for key in ("date-released", "date-published") for d in _walk(cff, key)]
    assert len(dates) >= 3  # the study, its preferred citation, the paper's publication
    for value in dates:
        _as_date(value, "a date in CITATION.cff")


def test_the_reproduced_paper_is_the_one_the_book_and_marsutils_paper_cite():
    articles = [r for r in _cff()["references"] if r.get("type") == "article"]
    assert len(articles) == 1, "references should hold the reproduced paper as its one article"
    (ref,) = articles
    bib = _bib_fields(_bib_entry("naveed2025mars"))
    assert _plain(ref["title"]) == _plain(bib["title"])
    assert _plain(ref["journal"]) == _plain(bib["journal"])
    bib_families = [a.split(",")[0].strip() for a in bib["author"].split(" and ")]
    assert (
        [a["family-names"] for a in ref["authors"]] == bib_families == ["Naveed", "Umair", "Saif"]
    )
    assert str(ref["volume"]) == bib["volume"] == "7"
    assert str(ref["issue"]) == bib["number"] == "11"
    assert f"{ref['start']}--{ref['end']}" == bib["pages"] == "294--306"
    assert str(ref["year"]) == bib["year"] == "2025"
    # marsutils.core.paper names the paper by its citation (the title is held in references.bib)
    assert f"IJIST {ref['volume']}({ref['issue']}): {ref['start']}-{ref['end']}" in P.__doc__
    assert ref.get("abbreviation") == "IJIST"


def test_citation_cff_gives_no_doi_or_url_that_the_paper_and_data_folders_do_not():
    cff = _cff()
    keys = ("doi", "url", "repository", "repository-code", "repository-artifact")
    identifiers = [value for key in keys for value in _walk(cff, key)]
    assert identifiers, "the data sets' DOIs should be in references"
    if not DATA.is_dir():
        pytest.skip(f"{DATA} is absent: cannot check where the identifiers come from")
    sources = [p.read_text(encoding="utf-8") for p in (SHARED / "paper").glob("*.md")]
    sources += [p.read_text(encoding="utf-8") for p in DATA.glob("*/*.md")]
    for value in identifiers:
        assert any(str(value) in text for text in sources), f"{value} is in no source file"


def test_the_new_pages_are_in_the_back_matter_before_the_glossary():
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text(encoding="utf-8"))
    (back,) = [p for p in toc["parts"] if p.get("caption") == "Back matter"]
    files = [c["file"] for c in back["chapters"]]
    for name in NEW_PAGES:
        assert name in files, f"{name} is not under Back matter in book/_toc.yml"
        assert files.index(name) < files.index("glossary")
        assert _page(name).startswith("# "), f"{name}.md needs a title"


def test_the_data_statement_names_every_shared_data_folder_with_its_sources():
    if not DATA.is_dir():
        pytest.skip(f"{DATA} is absent")
    folders = sorted(p for p in DATA.iterdir() if p.is_dir())
    assert folders, f"{DATA} holds no data folder"
    sections = _sections(_page("data_statement"))
    for folder in folders:
        assert folder.name in sections, f"data_statement.md has no section `## {folder.name}`"
        section = sections[folder.name]
        provenance = "\n".join(p.read_text(encoding="utf-8") for p in folder.glob("*.md"))
        assert provenance, f"{folder} has no README or PROVENANCE file"
        # the versions and identifiers the folder states, and no licence it does not state
        for token in re.findall(r"\b[0-9a-f]{40}\b|doi:\S+?(?=[\s,;)]|$)", provenance):
            assert token.rstrip(".") in section, f"{folder.name}: {token} is not on the page"
        stated = re.search(r"licen[cs]e", provenance, re.I) or any(folder.glob("LICENSE*"))
        if not stated:
            assert "not stated in the copy used here" in section, folder.name
        for row in ("name", "origin", "version", "licence", "how the book uses it"):
            assert f"| {row} |" in section, f"{folder.name}: no `{row}` row"
        assert "| in this repository |" in section, f"{folder.name}: redistribution not stated"


def test_how_to_cite_gives_the_study_and_the_paper():
    cff, page = _cff(), _page("how_to_cite")
    assert "{cite}`naveed2025mars`" in page
    assert "CITATION.cff" in page and "no DOI yet" in page
    assert page.count("```bibtex") == 2
    # the study's entry carries the version and date of CITATION.cff
    assert cff["version"] in page and str(cff["date-released"]) in page
    assert "Mars terrain mapping, reproduced: an executable re-implementation" in page
    # the paper's entry is the one the book cites, verbatim
    assert _bib_entry("naveed2025mars") in page
    assert "{doc}`data_statement`" in page


def test_readme_ends_with_a_short_citing_section():
    """The README is a front door (issue 24): its last section says how to cite; the bad-input
    table it used to end with is the book's page ``book/using/bad_input.md``."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## .+$", readme, re.M)
    assert "## Citing" in headings, "README.md has no `## Citing` section"
    assert headings[-1] == "## Citing"
    section = _sections(readme)["Citing"]
    assert len(section.strip().splitlines()) < 10
    for name in ("CITATION.cff", "LICENSE", "how_to_cite", "data_statement"):
        assert name in section, f"the Citing section should point to {name}"
