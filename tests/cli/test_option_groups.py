"""Option groups (``prefspace.cli._groups``): a dataclass whose fields are typed with options
becomes one parameter of a command; a command may word or default a field its own way."""

from __future__ import annotations

import dataclasses

import pytest
import typer
from typer.testing import CliRunner

from prefspace.cli._groups import option, option_group, panel_options
from prefspace.cli._options import RenamedFlag

Count = option(int, "--count", help="How many.", min=1)
Name = panel_options("Naming")(str | None, "--name", help="Who.")


@dataclasses.dataclass(frozen=True)
class Settings:
    count: Count = 3
    name: Name = None


settings = option_group(Settings, "settings")


def _app(decorator, seen: list):
    app = typer.Typer()

    @app.command()
    @decorator
    def run(path: str, settings: Settings, verbose: bool = False) -> None:
        seen.append((path, settings, verbose))

    return app


def test_a_group_hands_the_command_one_object_with_the_options_given():
    seen: list = []
    app = _app(settings(), seen)
    result = CliRunner().invoke(app, ["x.jsonl", "--count", "5", "--verbose"])
    assert result.exit_code == 0, result.output
    assert seen == [("x.jsonl", Settings(count=5, name=None), True)]
    # the option keeps its checks: --count 0 is refused by typer (exit 2)
    assert CliRunner().invoke(app, ["x.jsonl", "--count", "0"]).exit_code == 2


def test_a_command_words_defaults_and_leaves_out_fields_its_own_way():
    seen: list = []
    decorator = settings(
        exclude=("name",), helps={"count": "Pairs per batch."}, defaults={"count": 7}
    )
    app = _app(decorator, seen)
    assert CliRunner().invoke(app, ["x.jsonl"]).exit_code == 0
    assert seen == [("x.jsonl", Settings(count=7), False)]
    text = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    assert "Pairs per batch." in text and "How many." not in text
    assert "--name" not in text and "[default: 7]" in text
    # the group's own wording is untouched for the next command
    other = _app(settings(), [])
    text = CliRunner().invoke(other, ["--help"], env={"COLUMNS": "200"}).output
    assert "How many." in text and "Naming" in text and "[default: 3]" in text


def test_mistakes_in_a_group_are_refused_when_the_command_is_defined():
    with pytest.raises(ValueError, match="not Settings options"):
        settings(exclude=("colour",))

    @dataclasses.dataclass(frozen=True)
    class Untyped:
        count: int = 1

    with pytest.raises(TypeError, match="not typed with an option"):
        option_group(Untyped, "untyped")

    def no_param(path: str) -> None: ...

    with pytest.raises(TypeError, match="needs a 'settings: Settings' parameter"):
        settings()(no_param)

    def clash(path: str, settings: Settings, count: int = 1) -> None: ...

    with pytest.raises(TypeError, match="clash"):
        settings()(clash)


def test_a_model_encoder_group_embeds_through_its_cache_else_the_shared_one(tmp_path, monkeypatch):
    from prefspace.cli._encoder_options import EncoderOptions, ModelEncoderOptions

    monkeypatch.setenv("PREFSPACE_CACHE", str(tmp_path / "shared"))
    assert ModelEncoderOptions().cache_dir() == tmp_path / "shared"
    assert EncoderOptions().cache_dir() == tmp_path / "shared"
    own = tmp_path / "own"
    assert ModelEncoderOptions(cache=own).cache_dir() == own
    assert EncoderOptions(cache=own).cache_dir() == own


def test_the_label_pool_is_embedded_through_the_shared_cache_unless_features_are_given(
    tmp_path, monkeypatch
):
    from prefspace.cli.label import PoolVectors

    monkeypatch.setenv("PREFSPACE_CACHE", str(tmp_path / "shared"))
    assert PoolVectors().kwargs()["cache"] == tmp_path / "shared"
    read = PoolVectors(features=tmp_path / "f.npy").kwargs()
    assert read["cache"] is None and read["features"] == tmp_path / "f.npy"
    own = PoolVectors(features=tmp_path / "f.npy", cache=tmp_path / "own")
    assert own.kwargs()["cache"] == tmp_path / "own"
    assert own.files == [tmp_path / "f.npy", None]


Budget = RenamedFlag("--budget/-n", "--batch", int)


def test_a_renamed_flag_keeps_the_old_value_with_a_warning(capsys):
    assert Budget.value(None, 100) == 100
    assert capsys.readouterr().err == ""
    assert Budget.value(7, 100) == 7
    assert capsys.readouterr().err == (
        "warning: --budget/-n is deprecated and goes in the next release; use --batch.\n"
    )
    app = typer.Typer()

    @app.command()
    def run(budget: Budget.option = None) -> None:
        pass

    hidden = typer.main.get_command(app).params[0]
    assert hidden.opts == ["--budget", "-n"] and hidden.hidden


def test_the_pair_and_pool_groups_name_parameters_of_the_library_calls_they_feed():
    import inspect

    from prefspace.cli._options import CandidatePairs
    from prefspace.cli.label import PoolVectors
    from prefspace.studio import build_studio
    from prefspace.workflows.scoring import select_for_labeling

    for func in (build_studio, select_for_labeling):
        assert set(CandidatePairs().kwargs()) <= set(inspect.signature(func).parameters)
    assert set(PoolVectors(features="f.npy").kwargs()) <= set(
        inspect.signature(build_studio).parameters
    )
