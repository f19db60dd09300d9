"""requirements.lock (`make lock`, pip-compile --generate-hashes) covers pyproject.toml's pins.

`make install` and CI install from the lock with --require-hashes, so a pin changed in
pyproject.toml without `make lock` must fail here, not in a half-installed environment.
(tests/test_locks.py is about run-folder locks, not this file.)
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}$")


def parse_lock(text: str) -> dict[str, tuple[str, list[str]]]:
    """Each locked package: canonical name -> (the requirement line, its hash options)."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip().removesuffix("\\").strip()
        if not line:
            continue
        if raw[0].isspace() or line.startswith("--"):
            if current is None:
                raise ValueError(f"option before any requirement: {raw!r}")
            entries[current][1].extend(line.split())
        else:
            current = canonicalize_name(Requirement(line).name)
            entries[current] = (line, [])
    return entries


def lock_problems(pyproject: dict, lock_text: str) -> list[str]:
    """Everything that makes the lock disagree with pyproject.toml or not be hash-checked."""
    project = pyproject["project"]
    wanted = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        wanted += extra
    entries = parse_lock(lock_text)
    problems = []
    locked = {}
    for name, (line, options) in entries.items():
        req = Requirement(line)
        pins = [s.version for s in req.specifier if s.operator == "=="]
        if len(req.specifier) != 1 or not pins or req.url or req.marker:
            problems.append(f"{line}: not an exact ==version pin")
        else:
            locked[name] = pins[0]
        if not options or not all(_HASH.fullmatch(o) for o in options):
            problems.append(f"{line}: no sha256 --hash (or a malformed one): {options}")
    for spec in wanted:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        pins = [s.version for s in req.specifier if s.operator == "=="]
        if len(pins) != 1:
            problems.append(f"pyproject.toml: {spec} is not pinned with ==")
        elif name not in locked:
            problems.append(f"{spec}: missing from requirements.lock (run `make lock`)")
        elif locked[name] != pins[0]:
            problems.append(f"{spec}: the lock has {name}=={locked[name]} (run `make lock`)")
    # make install builds the project with --no-build-isolation, from the locked backend.
    for spec in pyproject["build-system"]["requires"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        if name not in locked or locked[name] not in req.specifier:
            problems.append(f"build-system requirement {spec} is not satisfied by the lock")
    return problems


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_lock_pins_every_direct_dependency_with_hashes():
    assert lock_problems(_pyproject(), LOCK.read_text()) == []


def test_lock_covers_more_than_the_direct_dependencies():
    direct = _pyproject()["project"]["dependencies"]
    assert len(parse_lock(LOCK.read_text())) > 2 * len(direct)  # the transitive tree too


def test_the_check_catches_a_stale_version_a_missing_package_and_a_missing_hash():
    pyproject = _pyproject()
    text = LOCK.read_text()
    entries = parse_lock(text)
    spec = pyproject["project"]["dependencies"][0]  # e.g. torch==2.14.1
    name = canonicalize_name(Requirement(spec).name)
    line = entries[name][0]
    stale = text.replace(f"\n{line} \\", f"\n{line.split('==')[0]}==0.0.0 \\")
    assert stale != text
    assert any(f"{spec}: the lock has" in p for p in lock_problems(pyproject, stale))
    dev = pyproject["project"]["optional-dependencies"]["dev"][-1]  # e.g. pypdf==7.1.1
    line = entries[canonicalize_name(Requirement(dev).name)][0]
    dropped = re.sub(rf"\n{re.escape(line)} .*?(?=\n\S|\Z)", "", text, flags=re.S)
    assert any(f"{dev}: missing" in p for p in lock_problems(pyproject, dropped))
    unhashed = "\n".join(line for line in text.splitlines() if "--hash=" not in line)
    problems = lock_problems(pyproject, unhashed.replace(" \\\n", "\n"))
    assert problems and all("no sha256" in p for p in problems)


def test_make_install_installs_from_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r $(LOCK)" in makefile
    assert "--no-deps -e ." in makefile
    assert "$(STAMP): pyproject.toml $(LOCK)" in makefile
    # the stamp hashes the pins and this checkout's path: a second checkout sharing the
    # environment (VENV=...) installs itself into it again (the editable install points at one)
    assert '{ cat pyproject.toml $(LOCK); echo "$(CURDIR)"; } | sha256sum' in makefile
