"""Every docstring example (``>>>`` line) under src/prefspace runs and gives the output it shows.

Each module's examples run as ``pytest --doctest-modules`` would run them (the module's globals,
``ELLIPSIS``), in a fresh working directory that has the shared data at ``../shared/data``, as a
checkout does: examples read ``../shared/data/...`` and write relative paths (``runs/bt``,
``emb``) into a temporary folder. ``# doctest: +SKIP`` is kept for the few lines that need what a
test run does not start (a network server, a Ray cluster, TRL's trainer).
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

import prefspace

SRC = Path(prefspace.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _prompt_lines(path: Path) -> int:
    return sum(
        1
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.lstrip().startswith(">>>")
    )


# Modules with examples, found from the source text (nothing is imported to collect them).
FILES = {
    _module_name(p): p
    for p in sorted(SRC.rglob("*.py"))
    if p.name != "__main__.py" and _prompt_lines(p)
}


def _doctests(name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    return sorted(tests, key=lambda t: t.lineno or 0)


@pytest.fixture
def checkout_like_cwd(tmp_path, shared_data, monkeypatch):
    """An empty working directory with ``../shared/data`` pointing at the shared data; one
    thread for every library (the examples are small, and their outputs do not depend on it)."""
    monkeypatch.setenv("PREFSPACE_NUM_THREADS", "1")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(shared_data, target_is_directory=True)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_the_source_has_about_two_hundred_examples():
    assert len(FILES) > 40
    assert sum(_prompt_lines(p) for p in FILES.values()) > 200


@pytest.mark.parametrize("name", sorted(FILES))
def test_docstring_examples(name, checkout_like_cwd):
    tests = _doctests(name)
    # one example per ">>>" line: none hides where the finder does not look (a comment, a
    # nested function), so every example in the file runs
    assert sum(len(t.examples) for t in tests) == _prompt_lines(FILES[name])
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    if runner.failures:
        pytest.fail(
            f"{runner.failures} of {runner.tries} examples in {name} failed:\n" + "".join(report),
            pytrace=False,
        )
