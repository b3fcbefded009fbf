"""The loop in process: leases, judgments, background refit, next batch, restart."""

from __future__ import annotations

import json

import numpy as np
import pytest

from prefspace.exceptions import ConfigError, DataError
from prefspace.studio import (
    Agreement,
    DuplicateJudgmentError,
    PairClosedError,
    UnknownPairError,
    agreement,
    cross_validated_accuracy,
)


def gold_of(small_pool):
    return {r["id"]: r["gold"] for r in small_pool["rows"]}


def label_open_pairs(studio, annotator, gold, *, limit=500, labels=None):
    """Judge every pair ``annotator`` is given until none is free now; return the pair ids."""
    done = []
    for _ in range(limit):
        got = studio.next_pair(annotator)
        if got["status"] != "ok":
            return done
        pair = got["pair"]
        label = (
            labels.pop(0) if labels else ("a" if gold[pair["id_a"]] >= gold[pair["id_b"]] else "b")
        )
        studio.judge(annotator, pair["pair_id"], label)
        done.append(pair["pair_id"])
    raise AssertionError("the loop never ran out of pairs")


def test_random_first_batch_then_refit_and_d_optimal_with_exploration(make_studio, small_pool):
    gold = gold_of(small_pool)
    studio = make_studio(batch_size=10, explore=0.2, strategy="d-optimal")
    first = studio.store.batches()
    assert (
        len(first) == 1 and first[0]["strategy"] == "random" and first[0]["model_version"] is None
    )
    assert studio.state().model is None
    judged = label_open_pairs(studio, "ann", gold)
    assert len(judged) == 10 and len(set(judged)) == 10
    assert studio.wait_idle(timeout=120)
    batches = studio.store.batches()
    assert [b["batch"] for b in batches] == [1, 2]
    assert (
        batches[1]["strategy"] == "d-optimal"
        and batches[1]["model_version"] == 1
        and batches[1]["n_explore"] == 2
    )
    kinds = sorted(p["strategy"] for p in studio.store.pairs(batch=2))
    assert kinds == ["d-optimal"] * 8 + ["explore"] * 2
    assert not set(judged) & {
        p["pair_id"] for p in studio.store.pairs(batch=2)
    }  # never chosen twice
    model = studio.store.models()[-1]
    assert (
        model["version"] == 1
        and model["n_labels"] == 10
        and 0.0 <= model["cv_low"] <= model["cv_accuracy"] <= model["cv_high"] <= 1.0
    )
    # the learned length baseline on the same folds, beside the model
    assert 0.0 <= model["length_accuracy"] <= 1.0
    assert model["vs_length"] == pytest.approx(model["cv_accuracy"] - model["length_accuracy"])
    assert model["vs_length_low"] <= model["vs_length"] <= model["vs_length_high"]
    state = studio.state("ann")
    assert state.model is not None and state.model.length_accuracy == model["length_accuracy"]
    assert state.progress.session == 10 and state.progress.labels == 10
    assert state.progress.batch == 2 and state.progress.left_in_batch == 10
    assert state.model.version == 1 and len(state.curve) == 1


def test_one_annotator_per_pair_and_validation(make_studio):
    studio = make_studio(batch_size=3, overlap=1)
    x1 = studio.next_pair("x")["pair"]
    assert studio.next_pair("x")["pair"]["pair_id"] == x1["pair_id"]  # a reload gets the same pair
    y1 = studio.next_pair("y")["pair"]
    z1 = studio.next_pair("z")["pair"]
    assert len({x1["pair_id"], y1["pair_id"], z1["pair_id"]}) == 3
    assert studio.next_pair("w")["status"] == "waiting"  # all three are held by others
    with pytest.raises(PairClosedError, match="assigned to another annotator"):
        studio.judge("y", x1["pair_id"], "a")
    with pytest.raises(UnknownPairError):
        studio.judge("x", "r0|r999999", "a")
    studio.judge("x", x1["pair_id"], "tie", reason="both fine")
    with pytest.raises(DuplicateJudgmentError):
        studio.judge("x", x1["pair_id"], "a")
    with pytest.raises(PairClosedError, match="already has its 1 judgment"):
        studio.judge("w", x1["pair_id"], "a")
    row = studio.store.judgments()[0]
    assert (row["annotator"], row["label"], row["reason"]) == ("x", "tie", "both fine")
    assert row["seconds"] is not None and row["seconds"] >= 0


def test_an_expired_lease_goes_to_the_next_annotator(make_studio):
    studio = make_studio(batch_size=1, lease_seconds=0.2)
    held = studio.next_pair("x")["pair"]
    got = studio.next_pair("y", wait_s=20)  # waits on the lease's expiry, then takes the pair
    assert (
        got["status"] == "ok" and got["pair"]["pair_id"] == held["pair_id"] and got["waited_s"] > 0
    )
    studio.judge("y", held["pair_id"], "b")
    with pytest.raises(PairClosedError):
        studio.judge("x", held["pair_id"], "a")


def test_overlap_two_gives_agreement(make_studio, small_pool):
    gold = gold_of(small_pool)
    studio = make_studio(batch_size=4, overlap=2, rounds=1)
    a = label_open_pairs(studio, "x", gold)
    b = label_open_pairs(studio, "y", gold, labels=["a", "a", "b", "b"])
    assert sorted(a) == sorted(b) and len(a) == 4
    assert studio.wait_idle(timeout=120)
    assert studio.next_pair("z")["status"] == "finished"
    js = studio.store.judgments()
    assert len(js) == 8 and {(j["pair_id"], j["annotator"]) for j in js} == {
        (p, w) for p in a for w in "xy"
    }
    ag = studio.state().agreement
    assert ag == agreement(js) and ag.pairs == 4 and ag.judgments == 8
    expected = np.mean(
        [
            x["label"] == y["label"]
            for x in js
            for y in js
            if x["pair_id"] == y["pair_id"] and x["annotator"] == "x" and y["annotator"] == "y"
        ]
    )
    assert ag.percent == pytest.approx(expected)


def test_rounds_then_finished_with_a_model_on_every_label(make_studio, small_pool):
    gold = gold_of(small_pool)
    studio = make_studio(batch_size=6, rounds=2)
    label_open_pairs(studio, "x", gold)
    assert studio.wait_idle(timeout=120)
    label_open_pairs(studio, "x", gold)
    assert studio.wait_idle(timeout=120)
    assert studio.next_pair("x")["status"] == "finished"
    assert studio.state().finished == "all 2 rounds done"
    assert [m["n_labels"] for m in studio.store.models()] == [6, 12]
    assert len(studio.store.batches()) == 2


def test_the_pool_runs_out(make_studio, small_pool):
    gold = gold_of(small_pool)
    studio = make_studio(batch_size=50, strategy="uncertainty", explore=0.0)
    total = 0
    for _ in range(10):
        total += len(label_open_pairs(studio, "x", gold))
        assert studio.wait_idle(timeout=120)
        if studio.state().finished:
            break
    assert total == len(studio.pool.pairs) == 12 * 10  # 12 prompts x C(5, 2)
    assert studio.state().finished == "every candidate pair has been labelled"
    assert [b["size"] for b in studio.store.batches()] == [50, 50, 20]


def test_restart_resumes_the_open_batch_and_refits_on_imported_labels(
    make_studio, small_pool, tmp_path
):
    gold = gold_of(small_pool)
    db = tmp_path / "resume.sqlite"
    studio = make_studio(db, batch_size=5)
    first = studio.next_pair("x")["pair"]
    studio.judge("x", first["pair_id"], "a")
    studio.stop()
    studio.store.close()

    again = make_studio(db, batch_size=5)
    assert len(again.store.batches()) == 1  # no new batch: the open one continues
    rest = label_open_pairs(again, "x", gold)
    assert len(rest) == 4 and first["pair_id"] not in rest
    assert again.wait_idle(timeout=120)
    assert len(again.store.batches()) == 2
    # labels added behind the studio's back (as `label import` does) are refitted on at start
    open_pairs = [p["pair_id"] for p in again.store.pairs(batch=2)]
    again.stop()
    for pid in open_pairs:
        again.store.add_judgment(pid, "label-studio:7", "b", source="label-studio")
    again.store.close()
    third = make_studio(db, batch_size=5)
    assert third.wait_idle(timeout=120)
    assert [m["n_labels"] for m in third.store.models()] == [5, 10]
    assert len(third.store.batches()) == 3


def test_a_database_belongs_to_its_pool(make_studio, small_pool, tmp_path):
    db = tmp_path / "owned.sqlite"
    make_studio(db).stop()
    rows = small_pool["pool"].read_text().splitlines()
    other = tmp_path / "other.jsonl"
    other.write_text("\n".join(rows[:-1]) + "\n")
    np.save(tmp_path / "other.npy", np.load(small_pool["features"])[:-1])
    from prefspace.studio import StudioConfig, build_studio

    studio = build_studio(
        other,
        db,
        id_key="id",
        features=tmp_path / "other.npy",
        prompt_features=small_pool["prompt_features"],
        config=StudioConfig(),
    )
    with pytest.raises(ConfigError, match="was made with another pool"):
        studio.start()
    studio.store.close()


def test_a_saved_model_chooses_the_first_batch(make_studio, small_pool, tmp_path):
    from prefspace.models import BradleyTerryLinear, save_model

    E = np.concatenate(
        [np.load(small_pool["prompt_features"]).repeat(5, axis=0), np.load(small_pool["features"])],
        axis=1,
    )
    g = np.array([r["gold"] for r in small_pool["rows"]])
    i, j = np.arange(0, 60, 5), np.arange(1, 60, 5)
    X = np.where(
        (g[i] >= g[j])[:, None, None], np.stack([E[i], E[j]], 1), np.stack([E[j], E[i]], 1)
    )
    save_model(BradleyTerryLinear().fit(X), tmp_path / "bt")
    studio = make_studio(model=tmp_path / "bt", batch_size=5, strategy="d-optimal", explore=0.0)
    b = studio.store.batches()[0]
    assert (b["strategy"], b["model_version"]) == ("d-optimal", 0)
    assert studio.store.models()[0]["note"] == f"loaded from {tmp_path / 'bt'}"
    gains = [p["gain"] for p in studio.store.pairs(batch=1)]
    assert all(x is not None and x > 0 for x in gains)


def test_cross_validated_accuracy_and_agreement_values():
    from prefspace.models import BradleyTerryLinear

    rng = np.random.default_rng(0)
    w = rng.normal(size=6)
    E = rng.normal(size=(80, 2, 6)).astype(np.float32)
    swap = (E[:, 0] @ w) < (E[:, 1] @ w)
    E[swap] = E[swap][:, ::-1]
    cv = cross_validated_accuracy(BradleyTerryLinear(), E, np.arange(80) % 8)
    assert cv["grouped"] and cv["folds"] == 5 and cv["n_pairs"] == 80
    assert cv["accuracy"] > 0.75 and 0.0 <= cv["ci_low"] <= cv["accuracy"] <= cv["ci_high"] <= 1.0
    flipped = cross_validated_accuracy(BradleyTerryLinear(), E[:, ::-1].copy(), np.arange(80) % 8)
    assert (
        flipped["accuracy"] > 0.75
    )  # the same data read the other way round is learnt just as well
    assert cross_validated_accuracy(BradleyTerryLinear(), E[:7], np.arange(7)) is None
    # with the pairs' log lengths, the learned length baseline is scored on the same folds: here the
    # winner is longer in the first 60 pairs only, so each fold's baseline learns "longer wins"
    lengths = np.tile([3.0, 2.0], (80, 1))
    lengths[60:] = lengths[60:, ::-1]
    with_length = cross_validated_accuracy(
        BradleyTerryLinear(), E, np.arange(80) % 8, lengths=lengths
    )
    assert with_length["accuracy"] == cv["accuracy"] and with_length[
        "length_accuracy"
    ] == pytest.approx(0.75)
    assert with_length["vs_length"] == pytest.approx(cv["accuracy"] - 0.75)
    assert with_length["vs_length_low"] <= with_length["vs_length"] <= with_length["vs_length_high"]
    same = [
        {"pair_id": p, "annotator": w, "label": lab}
        for p, lab in [("p", "a"), ("q", "b"), ("r", "tie")]
        for w in "xy"
    ]
    assert agreement(same) == Agreement(pairs=3, judgments=6, percent=1.0, alpha=1.0)
    assert agreement(same + [{"pair_id": "p", "annotator": "z", "label": "skip"}]).judgments == 6
    assert agreement([{"pair_id": "p", "annotator": "x", "label": "a"}]) == Agreement(
        pairs=0, judgments=0, percent=None, alpha=None
    )


def test_cross_prompt_pool_and_saving_each_refit(make_studio, small_pool, tmp_path):
    from prefspace.models import load_model
    from prefspace.studio import StudioConfig, build_studio

    gold = gold_of(small_pool)
    studio = build_studio(
        small_pool["pool"],
        tmp_path / "cross.sqlite",
        id_key="id",
        features=small_pool["features"],
        prompt_features=small_pool["prompt_features"],
        cross_prompt=True,
        save_model_to=tmp_path / "latest",
        config=StudioConfig(batch_size=8, rounds=1),
    ).start()
    try:
        assert len(studio.pool.pairs) == 60 * 55 // 2  # pairs of responses to different prompts
        first = studio.next_pair("x")["pair"]
        assert first["prompt_b"] is not None and first["prompt_b"] != first["prompt"]
        label_open_pairs(studio, "x", gold)
        assert studio.wait_idle(timeout=120)
        assert studio.state().finished == "all 1 round done"
        model = load_model(tmp_path / "latest")
        X, _, _ = studio._training_set()
        assert model.predict(X[:, 0]).shape == (8,) and model.n_features_in_ == 768
    finally:
        studio.stop()
        studio.store.close()


def test_a_score_key_needs_every_response_scored(make_studio, small_pool, tmp_path):
    rows = [json.loads(line) for line in small_pool["pool"].read_text().splitlines()]
    del rows[3]["gold"]
    pool = tmp_path / "unscored.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    from prefspace.studio import build_studio

    common = dict(
        id_key="id",
        features=small_pool["features"],
        prompt_features=small_pool["prompt_features"],
    )
    with pytest.raises(DataError, match="gold"):
        build_studio(pool, tmp_path / "scored.sqlite", score_key="gold", **common)
    # without score_key the annotator column is not needed
    studio = build_studio(pool, tmp_path / "plain.sqlite", **common)
    assert len(studio.pool.candidates) == len(rows)
    studio.store.close()
