"""One vocabulary and one cache line across commands (issue 22).

`rerank --best-of N` (the old `--n` still works for one release, with a warning), and `label`
and `experiment`, which embed, say which cache they used and how many texts they found there,
as train, evaluate and score do. Real MiniLM on a few AlpacaEval responses cut short.
"""

from __future__ import annotations

import gzip
import json
import re

import pytest
import yaml

from prefspace.cli import main

DEPRECATED_N = "warning: --n is deprecated and goes in the next release; use --best-of."


def _run(args) -> int:
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _cache_line(out: str, cache) -> tuple[int, int, int]:
    """(found, texts, embedded) from the line "cache DIR: N of M texts found, K embedded"."""
    match = re.search(
        rf"cache {re.escape(str(cache))}: ([\d,]+) of ([\d,]+) texts found, ([\d,]+) embedded", out
    )
    assert match, out
    found, texts, embedded = (int(g.replace(",", "")) for g in match.groups())
    return found, texts, embedded


@pytest.fixture(scope="module")
def texts(tmp_path_factory, alpaca_dir):
    """12 AlpacaEval prompts x 3 responses (200 characters at most): a pool of candidate rows
    and 12 preference pairs."""
    prompts: dict[int, str] = {}
    with gzip.open(alpaca_dir / "prompts.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["prompt_id"] < 12:
                prompts[row["prompt_id"]] = row["prompt"][:200]
    responses: dict[int, list[str]] = {k: [] for k in prompts}
    with gzip.open(alpaca_dir / "responses.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            group = responses.get(row["prompt_id"])
            text = row["response"].strip()[:200]
            if group is not None and len(group) < 3 and text and text not in group:
                group.append(text)
    d = tmp_path_factory.mktemp("vocabulary")
    rows = [{"prompt": prompts[k], "response": r} for k in prompts for r in responses[k]]
    (d / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pairs = [
        {"prompt": prompts[k], "chosen": responses[k][0], "rejected": responses[k][1]}
        for k in prompts
    ]
    (d / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    return d


def test_rerank_best_of_and_its_deprecated_alias_n_agree(
    model_dirs, texts, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("PREFSPACE_CACHE", str(tmp_path / "cache"))
    new, old = tmp_path / "best-of.jsonl", tmp_path / "n.jsonl"
    base = ["rerank", model_dirs["bt"], texts / "pool.jsonl"]
    assert _run([*base, "--best-of", "2", "--out", new]) == 0
    out, err = capsys.readouterr()
    assert "deprecated" not in err
    found, n_texts, embedded = _cache_line(out, tmp_path / "cache")
    assert n_texts > 0 and embedded > 0 and found + embedded == n_texts
    assert "picked the best of 2 candidates for 12 prompts (24 scored)" in out

    assert _run([*base, "--n", "2", "--out", old]) == 0
    out, err = capsys.readouterr()
    assert DEPRECATED_N in err
    assert _cache_line(out, tmp_path / "cache") == (n_texts, n_texts, 0)  # all cached now
    assert old.read_text() == new.read_text()


def test_rerank_help_names_best_of_and_hides_n():
    from typer.testing import CliRunner

    from prefspace.cli import _register_commands, app

    _register_commands()
    text = CliRunner().invoke(app, ["rerank", "--help"], env={"COLUMNS": "200"}).output
    assert "--best-of" in text and not re.search(r"--n\b", text)


def test_label_says_which_cache_embedded_the_pool(texts, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PREFSPACE_CACHE", str(tmp_path / "cache"))
    base = ["label", texts / "pool.jsonl", "--no-serve", "--batch", "2"]
    assert _run([*base, "--db", tmp_path / "first.sqlite"]) == 0
    out = capsys.readouterr().out
    found, n_texts, embedded = _cache_line(out, tmp_path / "cache")
    assert found == 0 and embedded == n_texts > 0  # a fresh cache
    assert "batch 1 has 2 of 2 pairs left to label" in out
    # a second studio on the same pool embeds nothing
    assert _run([*base, "--db", tmp_path / "second.sqlite"]) == 0
    assert _cache_line(capsys.readouterr().out, tmp_path / "cache") == (n_texts, n_texts, 0)


def test_experiment_says_which_cache_embedded_its_pairs(texts, tmp_path, capsys):
    cache = tmp_path / "cache"
    config = {
        "name": "cache line",
        "seeds": [0],
        "budgets": [4],
        "datasets": [
            {
                "name": "few",
                "kind": "pairs",
                "path": str(texts / "pairs.jsonl"),
                "cache": str(cache),
                "test_fraction": 0.3,
            }
        ],
        "methods": [{"name": "linear", "head": "BradleyTerryLinear"}],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    assert _run(["experiment", path, "--out", tmp_path / "first", "--jobs", "1"]) == 0
    found, n_texts, embedded = _cache_line(capsys.readouterr().out, cache)
    assert found == 0 and embedded == n_texts > 0
    # another output folder prepares the pairs again, from the cache
    assert _run(["experiment", path, "--out", tmp_path / "second", "--jobs", "1"]) == 0
    assert _cache_line(capsys.readouterr().out, cache) == (n_texts, n_texts, 0)
