"""``prefspace select`` end to end with the offline MiniLM encoder and a saved linear head."""

from __future__ import annotations

import json

import pytest

from prefspace.cli import main

PROMPTS = {
    "Name a prime number.": ["7", "9", "Eleven is prime.", "I like turtles."],
    "What is the capital of France?": [
        "Paris.",
        "Lyon",
        "The capital of France is Paris.",
        "Berlin.",
    ],
    "Say hello politely.": ["Hello, nice to meet you!", "hey", "Go away.", "Good day to you."],
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from prefspace.data import load_preferences
    from prefspace.embed import embed_pairs, embed_responses, get_encoder
    from prefspace.models import BradleyTerryLinear, save_model

    d = tmp_path_factory.mktemp("select_cli")
    rows = []
    for i, (prompt, responses) in enumerate(PROMPTS.items()):
        if i == 0:  # one prompt as a list of responses, the others one response per row
            rows.append({"prompt": prompt, "responses": responses})
        else:
            rows += [{"prompt": prompt, "response": r} for r in responses]
    (d / "pool.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    labelled = [
        {"prompt": "Name a prime number.", "chosen": "7", "rejected": "9"},
        {"prompt": "What is the capital of France?", "chosen": "Paris.", "rejected": "Berlin."},
        {
            "prompt": "Say hello politely.",
            "chosen": "Hello, nice to meet you!",
            "rejected": "Go away.",
        },
    ]
    (d / "labelled.jsonl").write_text("\n".join(json.dumps(r) for r in labelled) + "\n")
    encoder = get_encoder()
    X = embed_pairs(load_preferences(d / "labelled.jsonl"), encoder, d / "cache").X
    # fill the cache with the pool too, so the commands below read every row from it
    texts = [(p, r) for p, rs in PROMPTS.items() for r in rs]
    embed_responses([p for p, _ in texts], [r for _, r in texts], encoder, d / "cache")
    save_model(BradleyTerryLinear().fit(X), d / "model", encoder)
    return d


def _run(args):
    try:
        main(args)
    except SystemExit as exc:
        return exc.code
    return 0


def test_select_writes_pairs_for_annotators(workdir, capsys):
    out = workdir / "to_label.jsonl"
    code = _run(
        [
            "select",
            str(workdir / "model"),
            str(workdir / "pool.jsonl"),
            "--batch",
            "6",
            "--strategy",
            "past-aware",
            "--labelled",
            str(workdir / "labelled.jsonl"),
            "--explore",
            "0",
            "--out",
            str(out),
            "--cache",
            str(workdir / "cache"),
        ]
    )
    assert code == 0
    assert "wrote 6 pairs" in capsys.readouterr().out
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(recs) == 6 and [r["rank"] for r in recs] == list(range(6))
    assert len({r["pair_id"] for r in recs}) == 6
    for r in recs:
        assert r["response_a"] in PROMPTS[r["prompt"]] and r["response_b"] in PROMPTS[r["prompt"]]
        assert r["response_a"] != r["response_b"] and "prompt_b" not in r
        assert r["gain"] > 0 and r["strategy"] == "past-aware"
    done = {
        frozenset(p)
        for p in [("7", "9"), ("Paris.", "Berlin."), ("Hello, nice to meet you!", "Go away.")]
    }
    assert not any(frozenset((r["response_a"], r["response_b"])) in done for r in recs)
    gains = [r["gain"] for r in recs]
    assert gains == sorted(gains, reverse=True)


def test_the_default_strategy_is_random_as_the_benchmarks_support(workdir, capsys):
    """docs/benchmarks.md (label loop, active labeling): D-optimal learned more slowly than
    random on alpaca_bon, so random is what `prefspace select` does unless told otherwise."""
    out = workdir / "default.jsonl"
    code = _run(
        [
            "select",
            str(workdir / "model"),
            str(workdir / "pool.jsonl"),
            "-b",
            "4",
            "--out",
            str(out),
            "--cache",
            str(workdir / "cache"),
        ]
    )
    assert code == 0
    assert "(strategy random," in capsys.readouterr().out
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(recs) == 4 and {r["strategy"] for r in recs} == {"random"}
    assert _run(["select", "--help"]) == 0
    assert "Default random" in " ".join(capsys.readouterr().out.split())


def test_cross_prompt_pairs_name_both_prompts(workdir):
    out = workdir / "cross.jsonl"
    code = _run(
        [
            "select",
            str(workdir / "model"),
            str(workdir / "pool.jsonl"),
            "-b",
            "4",
            "--strategy",
            "random",
            "--cross-prompt",
            "--out",
            str(out),
            "--cache",
            str(workdir / "cache"),
            "--seed",
            "3",
        ]
    )
    assert code == 0
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(recs) == 4
    assert all(r["prompt_b"] != r["prompt"] for r in recs)
    assert all(r["response_b"] in PROMPTS[r["prompt_b"]] for r in recs)


def test_bad_requests_exit_2_with_the_fix(workdir, capsys):
    base = [
        "select",
        str(workdir / "model"),
        str(workdir / "pool.jsonl"),
        "--cache",
        str(workdir / "cache"),
        "--out",
        str(workdir / "x.jsonl"),
    ]
    assert _run(base + ["--strategy", "entropy"]) == 2
    assert (
        "Invalid value for '--strategy' / '-s': 'entropy' is not one of" in capsys.readouterr().err
    )
    assert _run(base + ["--batch", "19"]) == 2  # 3 prompts x C(4, 2) = 18 pairs
    assert "cannot choose 19 pairs: the pool has 18 candidates" in capsys.readouterr().err
    assert _run(base + ["--strategy", "ensemble", "--batch", "3"]) == 2
    assert "needs a fitted prefspace.models.RewardEnsemble" in capsys.readouterr().err
    assert not (workdir / "x.jsonl").exists()


def test_old_flag_names_still_work_for_one_release_with_a_warning(workdir, capsys):
    """select's --budget/-n and --exploration are now --batch/-b and --explore, as in `prefspace label`."""
    new, old = workdir / "new.jsonl", workdir / "old.jsonl"
    base = [
        str(workdir / "model"),
        str(workdir / "pool.jsonl"),
        "--strategy",
        "d-optimal",
        "--seed",
        "2",
        "--cache",
        str(workdir / "cache"),
    ]
    assert _run(["select", *base, "--batch", "5", "--explore", "0.2", "--out", str(new)]) == 0
    capsys.readouterr()
    assert _run(["select", *base, "-n", "5", "--exploration", "0.2", "--out", str(old)]) == 0
    err = capsys.readouterr().err
    assert (
        "--budget/-n is deprecated" in err
        and "use --batch" in err
        and "--exploration is deprecated" in err
    )
    assert old.read_text() == new.read_text()
    # --out: required in every other command; here leaving it out still works, with a warning
    import os

    here = os.getcwd()
    os.chdir(workdir)
    try:
        assert _run(["select", *base, "-b", "2"]) == 0
    finally:
        os.chdir(here)
    assert (
        "without --out is deprecated" in capsys.readouterr().err
        and (workdir / "to_label.jsonl").is_file()
    )


def test_select_for_labeling_returns_a_typed_summary(workdir):
    from prefspace.workflows import SelectionSummary, select_for_labeling

    out = workdir / "typed.jsonl"
    kwargs = {"budget": 3, "strategy": "random", "cache": workdir / "cache"}
    summary = select_for_labeling(workdir / "model", workdir / "pool.jsonl", out, **kwargs)
    assert isinstance(summary, SelectionSummary)
    assert summary.n_pairs == 3 == len(out.read_text().splitlines())
    assert (summary.pool, summary.n_responses, summary.n_prompts) == ("within", 12, 3)
    assert summary.n_candidates == 3 * 6 and summary.n_excluded is None  # 4 responses: 6 pairs
    assert summary.cache.found == summary.cache.texts > 0  # the fixture filled the cache
    assert list(summary.to_json()) == [
        "n_pairs",
        "strategy",
        "pool",
        "n_candidates",
        "n_responses",
        "n_prompts",
        "n_excluded",
        "out",
        "cache",
    ]
    with_labels = select_for_labeling(
        workdir / "model",
        workdir / "pool.jsonl",
        workdir / "typed2.jsonl",
        labelled=workdir / "labelled.jsonl",
        **kwargs,
    )
    assert with_labels.n_excluded == 3  # the three labelled pairs are among the candidates
