"""Experiment configs are validated whole when loaded, before any cell runs.

Every error names the key's path and what is allowed; the CLI turns it into exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from prefspace.cli import main
from prefspace.exceptions import ConfigError
from prefspace.experiments.config import load_config, parse_overrides

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path: Path):
    """A valid two-method config over tiny pair arrays; returns (path, raw dict)."""
    data = tmp_path / "data"
    data.mkdir()
    X = np.random.default_rng(0).normal(size=(40, 2, 4)).astype(np.float32)
    np.save(data / "train.npy", X)
    np.save(data / "test.npy", X[:10])
    raw = {
        "name": "typo",
        "seeds": [0],
        "budgets": [20],
        "datasets": [
            {
                "name": "toy",
                "kind": "pair_arrays",
                "train": "data/train.npy",
                "test": "data/test.npy",
            }
        ],
        "methods": [
            {"name": "linear", "head": "BradleyTerryLinear"},
            {
                "name": "mlp",
                "head": "BradleyTerryMLP",
                "params": {"hidden_sizes": [8], "max_epochs": 5},
            },
        ],
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path, raw


def _write(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw))
    return path


def _cli(argv, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
        sys.exit(0)
    out, err = capsys.readouterr()
    return info.value.code, out + err


def test_a_typo_in_a_head_parameter_exits_2_before_any_cell_runs(config, tmp_path, capsys):
    path, raw = config
    raw["methods"][1]["params"] = {"hiden_sizes": [8]}
    out = tmp_path / "out"
    code, output = _cli(["experiment", _write(path, raw), "--out", out], capsys)
    assert code == 2
    assert "methods[1].params.hiden_sizes" in output and "did you mean 'hidden_sizes'?" in output
    assert "Allowed:" in output and "max_epochs" in output  # the head's own parameter names
    assert "bug in prefspace" not in output
    assert not (out / "results.jsonl").exists()  # nothing ran


@pytest.mark.parametrize(
    "change, fragment",
    [
        (
            lambda r: r["datasets"].__setitem__(
                0, {"kind": "pairs", "path": "data/train.npy", "test_size": "big"}
            ),
            "datasets[0].test_size must be a whole number >= 1 (test prompts or pairs); got str 'big'",
        ),
        (lambda r: r.update(eval=5), "eval must be a mapping of evaluation options"),
        (
            lambda r: r.update(eval={"n_boots": 10}),
            "eval.n_boots: 'n_boots' is not a known key; did you mean 'n_boot'?",
        ),
        (
            lambda r: r["methods"][1].update(params=[1, 2]),
            "methods[1].params must be a mapping of parameter names to values",
        ),
        (
            lambda r: r["methods"][0].update(augment={"method": "lens", "sigma": 0.1}),
            "methods[0].augment.sigma: 'sigma' is not a known augment option for 'lens' (or parameter of its synthesizer); did you mean 'sigma2'?",
        ),
        (
            lambda r: r["methods"][0].update(augment={"method": "lense"}),
            "methods[0].augment.method: 'lense' is not a known augment method; did you mean 'lens'?",
        ),
        (
            lambda r: r["methods"][0].update(select={"strategy": "d-optimal", "lamda": 2}),
            "methods[0].select.lamda: 'lamda' is not a known select option; did you mean 'lam'?",
        ),
        (
            lambda r: r["datasets"].__setitem__(
                0, {"kind": "pairs", "path": "data/train.npy", "load": {"prompt_col": "q"}}
            ),
            "datasets[0].load.prompt_col: 'prompt_col' is not a known load_preferences argument",
        ),
        (
            lambda r: r["datasets"][0].update(kind="tabular"),
            "datasets[0].kind: must be one of pairs, scored, pair_arrays; got 'tabular'",
        ),
        (
            lambda r: r.update(budgets=[20, 0]),
            "budgets[1] must be a non-empty list of whole numbers >= 1; got int 0",
        ),
        (lambda r: r.update(seed=[0]), "seed: 'seed' is not a known key; did you mean 'seeds'?"),
    ],
)
def test_wrong_keys_and_types_name_their_path(config, change, fragment):
    path, raw = config
    change(raw)
    with pytest.raises(ConfigError) as info:
        load_config(_write(path, raw))
    assert fragment in str(info.value)


def test_a_missing_data_file_says_where_relative_paths_are_resolved_from(
    config, tmp_path, monkeypatch
):
    path, raw = config
    raw["datasets"][0]["train"] = "data/nope.npy"
    monkeypatch.chdir(
        tmp_path.parent
    )  # another working directory: the config's folder still counts
    with pytest.raises(
        ConfigError,
        match=r"datasets\[0\]\.train: .*nope\.npy does not exist .*resolved from the "
        r"config file's folder .*not from the current directory",
    ):
        load_config(_write(path, raw))
    raw["datasets"][0]["train"] = "{data_root}/nope.npy"
    raw["data_root"] = "data"
    with pytest.raises(
        ConfigError, match=r"data_root = .*data \(written in the config.*--set data_root=PATH"
    ):
        load_config(_write(path, raw))


def test_set_refuses_yaml_tags_and_a_folder_is_not_a_config(tmp_path, capsys):
    with pytest.raises(
        ConfigError, match=r"seeds=!!python/object/apply:os.system .*the value is not plain YAML"
    ):
        parse_overrides(["seeds=!!python/object/apply:os.system ['true']"])
    code, output = _cli(["experiment", tmp_path, "--out", tmp_path / "o"], capsys)
    assert code == 2 and "is a folder; pass the experiment's YAML file" in output


def test_the_readme_example_config_loads_from_any_working_directory(
    tmp_path, monkeypatch, shared_data
):
    """`prefspace experiment examples/hh_label_budget.yaml`: its data paths resolve from its own folder."""
    monkeypatch.chdir(tmp_path)
    cfg = load_config(REPO / "examples" / "hh_label_budget.yaml", out_dir=tmp_path / "out")
    hh = Path(cfg["datasets"][0]["path"])
    assert (
        hh.is_file()
        and hh.resolve() == (shared_data / "hh_rlhf" / "harmless-base-test.jsonl.gz").resolve()
    )
    assert cfg["datasets"][0]["cache"] == str((tmp_path / "out" / "cache").resolve())
    for example in sorted(
        (REPO / "examples").glob("*.yaml")
    ):  # every shipped config is valid as written
        load_config(example, out_dir=tmp_path / "out")
