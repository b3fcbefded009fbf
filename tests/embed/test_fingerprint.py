"""Fingerprints name everything that changes the numbers, and nothing that does not."""

from __future__ import annotations

import shutil

import pytest

from prefspace.embed import CausalLMEncoder, encoder_from_config, get_encoder
from prefspace.embed.encoder import hash_model_files
from prefspace.exceptions import FingerprintMismatchError


def test_sentence_transformer_fingerprint_changes_with_each_setting():
    base = get_encoder()
    changed = {
        "layout": get_encoder(layout="joint"),
        "max_length": get_encoder(max_length=128),
        "normalize": get_encoder(normalize=True),
    }
    fps = {name: enc.fingerprint for name, enc in changed.items()}
    assert base.fingerprint not in fps.values() and len(set(fps.values())) == len(fps)
    # settings that do not change the numbers keep it
    assert get_encoder(device="cpu", batch_size=7).fingerprint == base.fingerprint
    assert get_encoder("minilm").fingerprint == base.fingerprint
    assert get_encoder(max_length=256).fingerprint == base.fingerprint  # the model's own limit


def test_causal_fingerprint_changes_with_layer_pooling_length_template_dtype_layout(tiny_llama_dir):
    base = CausalLMEncoder(str(tiny_llama_dir))
    variants = [
        dict(layer=-2),
        dict(layer=1),
        dict(pooling="mean"),
        dict(max_length=64),
        dict(chat_template=False),
        dict(dtype="bfloat16"),
        dict(layout="separate"),
    ]
    fps = [CausalLMEncoder(str(tiny_llama_dir), **v).fingerprint for v in variants]
    assert base.fingerprint not in fps and len(set(fps)) == len(fps)
    same = CausalLMEncoder(str(tiny_llama_dir), padding_side="left", batch_size=3, device="cpu")
    assert same.fingerprint == base.fingerprint


def test_fingerprint_follows_the_weights_not_the_path(tiny_llama_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_llama_dir, copy)
    assert (
        CausalLMEncoder(str(copy)).fingerprint == CausalLMEncoder(str(tiny_llama_dir)).fingerprint
    )
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one changed byte of weights
    weights.write_bytes(bytes(data))
    assert hash_model_files(copy) != hash_model_files(tiny_llama_dir)
    assert (
        CausalLMEncoder(str(copy)).fingerprint != CausalLMEncoder(str(tiny_llama_dir)).fingerprint
    )


def test_config_rebuilds_the_same_encoder(tiny_llama_dir):
    for enc in (
        get_encoder(layout="joint", max_length=128),
        CausalLMEncoder(str(tiny_llama_dir), layer=-2, pooling="mean"),
    ):
        rebuilt = encoder_from_config(enc.config(), expected_fingerprint=enc.fingerprint)
        assert type(rebuilt) is type(enc) and rebuilt.config() == enc.config()


def test_rebuilding_with_other_settings_than_expected_is_refused():
    cfg = get_encoder().config()
    other = get_encoder(layout="joint").fingerprint
    with pytest.raises(FingerprintMismatchError, match="re-embed"):
        encoder_from_config(cfg, expected_fingerprint=other)
