"""MANN training: a short training run of the shipped pair keeps the MANN ahead of its LSTM baseline at a
class's second sight on held-out alphabets (a run from scratch and its continuation are in test_cli_mann)."""

from __future__ import annotations

import pytest
import torch

from lab.compute import make_generator
from lab.learners.mann import episode_loss
from lab.mann_eval import instance_accuracies, load_mann, run_batches, shipped_mann_path
from lab.tasks.mann_episodes import MANNTaskFamily
from lab.tasks.splits import glyph_split


@pytest.mark.slow
def test_a_short_training_run_keeps_the_mann_ahead_of_the_lstm_at_the_second_sight(monkeypatch) -> None:
    monkeypatch.delenv("LAB_ASSETS_DIR", raising=False)  # the shipped checkpoints, not a test folder's
    stems = [shipped_mann_path(kind) for kind in ("mann", "mann-lstm")]
    missing = [str(s) for s in stems if not s.with_suffix(".pt").exists()]
    assert not missing, f"shipped MANN checkpoints missing: {missing} (python -m lab pretrain --only mann-glyphs)"
    split = glyph_split()
    second = {}
    for kind, stem in zip(("mann", "mann-lstm"), stems, strict=True):
        model, _ = load_mann(stem, kind)
        family = MANNTaskFamily(split.train, 5, 50)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        rng = make_generator(0)
        model.train()
        for _ in range(5):  # a short run at a small rate on training alphabets
            batch = family.sample(rng, 8)
            loss = episode_loss(model(batch), batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        assert torch.isfinite(loss)
        correct, inst = run_batches(model, MANNTaskFamily(split.test, 5, 50), 60, make_generator(1))
        second[kind] = float(instance_accuracies(correct, inst, (2,))[2].mean())
    assert second["mann"] > second["mann-lstm"] + 0.1, second



def _counting_batch(image_size: int = 8):
    from tests.tasks.test_episodes import CountingSource
    family = MANNTaskFamily(CountingSource(n_classes=12, drawings_per_class=20), 3, 9, "onehot", image_size)
    return family.sample(make_generator(0), 2)


def test_feature_classifier_loss_is_the_training_class_cross_entropy_of_each_image() -> None:
    from lab.learners.mann import MANN, MANNConfig
    from lab.mann_training import FeatureClassifier
    batch = _counting_batch()
    model = MANN(MANNConfig(n_classes=3, image_size=8, controller=8, memory_slots=6, memory_width=4, read_heads=2,
                            encoder="conv", encoder_channels=4))
    aux = FeatureClassifier(model, 12)
    with pytest.raises(RuntimeError, match="forward pass"):
        aux.loss(batch)
    model(batch)
    loss = aux.loss(batch)
    # CountingSource's image of class c has value c + j/100 everywhere: the class each step must be told.
    classes = batch.images.flatten(2)[..., 0].floor().long()
    features = model.encoder(batch.images.flatten(0, 1))
    logits = aux.head(features)
    expected = -torch.log_softmax(logits, -1)[torch.arange(18), classes.flatten()].mean()
    assert torch.allclose(loss, expected, atol=1e-6)
    loss.backward()
    assert all(float(p.grad.abs().sum()) > 0 for p in model.encoder.parameters())
    aux.detach()
    aux._features = None
    model(batch)
    assert aux._features is None  # detached: a later pass is no longer kept


def test_aux_weight_needs_the_conv_encoder_and_stays_out_of_old_resume_keys() -> None:
    from lab.mann_training import MANNTrainConfig
    with pytest.raises(ValueError, match="need encoder='conv'"):
        MANNTrainConfig(aux_weight=0.5)
    with pytest.raises(ValueError, match="aux_weight=-1"):
        MANNTrainConfig(aux_weight=-1.0, net={"encoder": "conv"})
    assert "aux_weight" not in MANNTrainConfig().card()
    assert MANNTrainConfig(aux_weight=0.5, net={"encoder": "conv"}).card()["aux_weight"] == 0.5


TINY_NET = {"n_classes": 2, "controller": 8, "memory_slots": 4, "memory_width": 4, "read_heads": 1,
            "encoder": "conv", "encoder_channels": 3, "feature_norm": 5.0}


def _tiny_run(**changes):
    from lab.mann_training import MANNTrainConfig, train_mann
    config = MANNTrainConfig(net=TINY_NET, episode_length=4, batch=2, eval_episodes=2, eval_every=100,
                             lr=1e-2, lr_min=1e-2, **changes)
    initial = train_mann(MANNTrainConfig(**{**config.__dict__, "iterations": 1, "lr": 1e-12, "lr_min": 1e-12}),
                         run_dir=None).model.state_dict()
    return initial, train_mann(config, run_dir=None).model.state_dict()


def _changed(before: dict, after: dict, prefix: str) -> set[bool]:
    return {not torch.equal(before[k], after[k]) for k in before
            if k.startswith(prefix) and before[k].is_floating_point() and "running" not in k}


def test_encoder_warmup_trains_only_the_encoder_and_encoder_lr_zero_then_freezes_it() -> None:
    # A run at a rate of 1e-12 for one step stands for the initial weights (same seed, same draws).
    initial, warmed = _tiny_run(iterations=3, encoder_warmup=3)
    assert _changed(initial, warmed, "encoder.") == {True}
    assert _changed(initial, warmed, "input_gates.") == {False}
    assert _changed(initial, warmed, "heads.") == {False}
    _, frozen = _tiny_run(iterations=5, encoder_warmup=3, encoder_lr=0.0)
    _, still_warm = _tiny_run(iterations=3, encoder_warmup=3, encoder_lr=0.0)
    assert _changed(still_warm, frozen, "encoder.") == {False}  # after the warm-up, a rate of 0: unchanged
    assert _changed(still_warm, frozen, "input_gates.") == {True}


def test_prototype_logits_against_a_loop_over_images_and_classes() -> None:
    from lab.mann_training import prototype_logits
    gen = make_generator(3)
    features = torch.randn(9, 4, generator=gen, dtype=torch.float64)
    classes = torch.tensor([7, 2, 7, 5, 2, 5, 7, 2, 5])
    logits, targets = prototype_logits(features, classes)
    unique = sorted(set(classes.tolist()))
    assert [unique[t] for t in targets.tolist()] == classes.tolist()
    for i in range(9):
        for j, c in enumerate(unique):
            members = [n for n in range(9) if classes[n] == c and n != i]  # leave image i out of its own class
            prototype = sum(features[n] for n in members) / len(members)
            assert abs(float(logits[i, j]) + float(((features[i] - prototype) ** 2).sum())) < 1e-9
    with pytest.raises(ValueError, match="at least two"):
        prototype_logits(features[:4], classes[:4])  # class 5 once


def test_prototype_warmup_loss_is_validated_and_trains_only_the_encoder() -> None:
    from lab.mann_training import MANNTrainConfig
    with pytest.raises(ValueError, match="warmup_loss='pairs'"):
        MANNTrainConfig(warmup_loss="pairs", net={"encoder": "conv"})
    with pytest.raises(ValueError, match="need encoder='conv'"):
        MANNTrainConfig(warmup_loss="prototypes")
    with pytest.raises(ValueError, match="episode_length=3"):
        MANNTrainConfig(warmup_loss="prototypes", episode_length=3, net={"encoder": "conv", "n_classes": 3})
    assert "warmup_loss" not in MANNTrainConfig().card()
    initial, warmed = _tiny_run(iterations=3, encoder_warmup=3, warmup_loss="prototypes")
    assert _changed(initial, warmed, "encoder.") == {True}
    assert _changed(initial, warmed, "input_gates.") == {False}
