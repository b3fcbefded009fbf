"""The Ray backend on a real local Ray (2 CPUs) with the bundled MiniLM: same cache as the local backend."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from prefspace.cli import main
from prefspace.data import demo_path, load_demo
from prefspace.embed import EmbeddingCache, embed_pairs
from prefspace.embed.shards import plan_pairs
from prefspace.exceptions import ConfigError

pytestmark = pytest.mark.timeout(240)


def run(argv, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
        raise SystemExit(0)
    out = capsys.readouterr()
    return exit_info.value.code or 0, out.out, out.err


def table(cache: EmbeddingCache) -> dict:
    """{namespace: sorted stored texts}, failing if a text is stored twice."""
    out = {}
    for fp in cache.fingerprints():
        texts = [t for ts, _ in cache.entries(fp) for t in ts]
        assert len(texts) == len(set(texts)), f"{fp}: a text stored twice"
        out[fp] = sorted(texts)
    return out


def assert_same_cache(a: EmbeddingCache, b: EmbeddingCache) -> None:
    ta, tb = table(a), table(b)
    assert ta.keys() == tb.keys()
    for fp, keys in ta.items():
        assert keys == tb[fp], fp
        np.testing.assert_allclose(a.get(fp, keys), b.get(fp, keys), atol=1e-5, rtol=0)


def test_importing_prefspace_does_not_import_ray():
    code = (
        "import sys, prefspace, prefspace.embed, prefspace.embed.shards, prefspace.cli; "
        "prefspace.cli._register_commands(); print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_ray_is_a_clear_error(monkeypatch):
    from prefspace.embed.ray_backend import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without Ray looks like
    with pytest.raises(ConfigError, match=r"pip install 'prefspace\[ray\]'"):
        import_ray()


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray with 2 CPUs for the module (starting Ray takes seconds)."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def demo_pairs():
    return load_demo().select(range(100))  # 100 prompts + 200 responses = 300 texts


@pytest.fixture(scope="module")
def local_cache(demo_pairs, minilm, tmp_path_factory):
    cache = EmbeddingCache(tmp_path_factory.mktemp("local"))
    embed_pairs(demo_pairs, minilm, cache)
    return cache


def test_ray_backend_fills_the_same_cache_as_the_local_backend(
    ray_local, demo_pairs, minilm, local_cache, tmp_path
):
    from prefspace.embed.ray_backend import compute_plan_ray

    cache = EmbeddingCache(tmp_path / "ray")
    plans = plan_pairs(demo_pairs, minilm, cache)
    stats = compute_plan_ray(plans, minilm, cache, num_workers=2, shard_size=64, batch_size=32)
    assert stats.computed == {"prompt": 100, "text": 200}
    assert cache.temp_files() == []
    shards = sorted(cache.directory.glob("*/shard-*.safetensors"))
    assert len(shards) == 2 + 4  # whole shards of 64 per role: 100 -> 64+36, 200 -> 3*64+8
    assert_same_cache(cache, local_cache)

    again = embed_pairs(demo_pairs, minilm, cache)  # the read-back computes nothing
    assert sum(again.stats.computed.values()) == 0
    assert again.X.shape == (100, 2, 768)


def test_cli_ray_backend_resumes_embedding_only_the_missing_texts(
    ray_local, demo_pairs, minilm, local_cache, tmp_path, capsys
):
    # a cache that already holds every other text of the first 30 pairs, as a killed job could leave it
    first30 = demo_pairs.select(range(30))
    cache = EmbeddingCache(tmp_path / "resume")
    wanted = {p.namespace: p.keys for p in plan_pairs(first30, minilm, None)}
    for fp, keys in wanted.items():
        cache.write_shard(fp, keys[::2], local_cache.get(fp, keys[::2]))

    argv = [
        "embed",
        demo_path(),
        "--limit",
        30,
        "--cache",
        cache.directory,
        "--backend",
        "ray",
        "--json",
    ]
    code, out, err = run([*argv, "--num-workers", 1], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["cached"] == {"prompt": 15, "text": 30}
    assert summary["computed"] == {"prompt": 15, "text": 30}
    resumed = EmbeddingCache(tmp_path / "resume")
    for fp, keys in wanted.items():
        assert table(resumed)[fp] == sorted(keys)
        np.testing.assert_allclose(
            resumed.get(fp, keys), local_cache.get(fp, keys), atol=1e-5, rtol=0
        )

    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert json.loads(out)["new_texts"] == 0  # a rerun embeds nothing


def test_gpus_requested_from_a_local_ray_without_gpus_is_refused(
    ray_local, demo_pairs, minilm, tmp_path
):
    from prefspace.embed.ray_backend import compute_plan_ray

    cache = EmbeddingCache(tmp_path / "gpu")
    if ray_local.cluster_resources().get("GPU", 0):
        pytest.skip("this machine has GPUs")
    plans = plan_pairs(demo_pairs.select(range(2)), minilm, cache)
    # the module's Ray was started here, so it is not an autoscaling cluster: no GPU will ever come
    with pytest.raises(ConfigError, match="asks for GPUs, but the Ray cluster has 0"):
        compute_plan_ray(plans, minilm, cache, gpus_per_worker=1)
