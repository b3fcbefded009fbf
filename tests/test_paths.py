"""The output-path guard (prefspace._paths): each way an output could destroy an input is refused."""

from __future__ import annotations

import json
import os

import pytest

from prefspace._paths import check_output, model_files
from prefspace.exceptions import ConfigError


@pytest.fixture
def files(tmp_path):
    (tmp_path / "rows.jsonl").write_text("{}\n")
    (tmp_path / "cache").mkdir()
    return tmp_path


def test_a_new_output_beside_the_inputs_is_allowed(files):
    out = check_output(
        files / "scores.jsonl", inputs=[files / "rows.jsonl"], caches=[files / "cache"]
    )
    assert out == files / "scores.jsonl"
    assert check_output(
        files / "runs" / "bt", inputs=[files / "rows.jsonl"], caches=[files / "cache"], kind="model"
    )


@pytest.mark.parametrize("kind", ["file", "folder", "model"])
def test_the_output_may_not_be_an_input(files, kind):
    with pytest.raises(
        ConfigError, match=r"--out .*rows.jsonl is the input .*rows.jsonl.*never writes over"
    ):
        check_output(files / "rows.jsonl", inputs=[files / "rows.jsonl"], kind=kind, what="--out")


def test_links_and_hard_links_to_an_input_are_the_input(files):
    (files / "link.jsonl").symlink_to(files / "rows.jsonl")
    os.link(files / "rows.jsonl", files / "hard.jsonl")
    for out in ("link.jsonl", "hard.jsonl"):
        with pytest.raises(ConfigError, match="is the input"):
            check_output(files / out, inputs=[files / "rows.jsonl"])
    with pytest.raises(ConfigError, match="is the input"):  # spelled another way
        check_output(files / "sub" / ".." / "rows.jsonl", inputs=[files / "rows.jsonl"])


def test_the_output_may_not_be_the_cache(files):
    with pytest.raises(ConfigError, match="is the embedding cache"):
        check_output(files / "cache", caches=[files / "cache"], kind="folder")


@pytest.mark.parametrize("kind", ["folder", "model"])
def test_a_folder_output_may_not_contain_an_input(files, kind):
    (files / "runs").mkdir()
    (files / "runs" / "p.jsonl").write_text("{}\n")
    with pytest.raises(ConfigError, match=r"contains the input .*p.jsonl"):
        check_output(files / "runs", inputs=[files / "runs" / "p.jsonl"], kind=kind)


def test_a_model_folder_may_not_contain_the_cache_but_a_report_folder_may(files):
    with pytest.raises(ConfigError, match="contains the embedding cache.*would delete it"):
        check_output(files, caches=[files / "cache"], kind="model")
    check_output(
        files / "eval", caches=[files / "eval" / "cache"], kind="folder"
    )  # evaluate's default


def _model(folder, **header):
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(
        json.dumps({"weights": "weights.safetensors", "files": [], **header})
    )
    (folder / "weights.safetensors").write_bytes(b"w")
    (folder / "README.md").write_text("card")
    (folder / "metrics.json").write_text("{}")
    return folder


def test_a_model_folder_holding_only_the_model_may_be_replaced(tmp_path):
    model = _model(tmp_path / "bt")
    assert model_files(model) == {
        "model.json",
        "weights.safetensors",
        "README.md",
        "metrics.json",
        "split.json",
        "test.jsonl",
    }
    check_output(model, kind="model")
    ens = tmp_path / "ens"
    ens.mkdir()
    (ens / "model.json").write_text(json.dumps({"members": ["members/00"]}))
    (ens / "members" / "00").mkdir(parents=True)
    check_output(ens, kind="model")


def test_a_model_folder_holding_other_files_is_refused(tmp_path):
    model = _model(tmp_path / "bt")
    (model / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"holds a model and other files \('notes.txt'\)"):
        check_output(model, kind="model")


def test_a_non_empty_folder_without_a_model_is_refused(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "keep.txt").write_text("x")
    with pytest.raises(ConfigError, match="holds files but no model"):
        check_output(tmp_path / "data", kind="model")
    check_output(tmp_path / "empty", kind="model")


def test_a_file_output_on_a_folder_or_under_a_file_is_refused_early(tmp_path):
    (tmp_path / "dir").mkdir()
    with pytest.raises(ConfigError, match="is a folder; it takes a file name"):
        check_output(tmp_path / "dir")
    (tmp_path / "blocker").write_text("x")
    with pytest.raises(ConfigError, match="blocker is a file, not a folder"):
        check_output(tmp_path / "blocker" / "out.jsonl")
    with pytest.raises(ConfigError, match="is a file; it takes a folder"):
        check_output(tmp_path / "blocker", kind="folder")


def test_inputs_that_are_not_paths_are_ignored(tmp_path):
    check_output(tmp_path / "o.jsonl", inputs=[None, "Anthropic/hh-rlhf"])
