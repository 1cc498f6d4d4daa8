"""MANN training: a short training run of the shipped pair keeps the MANN ahead of its LSTM baseline at a
class's second sight on held-out alphabets (a run from scratch and its continuation are in test_cli_mann)."""

from __future__ import annotations

import math

import pytest
import torch

from lab.compute import make_generator
from lab.learners.mann import episode_loss
from lab.mann_eval import instance_accuracies, load_mann, run_batches, shipped_mann_path
from lab.nets import load_params_, random_init
from lab.tasks import default_omniglot_path
from lab.tasks.mann_episodes import MANNTaskFamily
from lab.tasks.splits import glyph_split

needs_omniglot = pytest.mark.skipif(default_omniglot_path() is None,
                                    reason="no Omniglot copy found (../shared/data/omniglot or LAB_OMNIGLOT_DIR)")


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
    from lab.mann_features import FeatureClassifier
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
    for name in still_warm:  # its BatchNorm statistics too: a frozen encoder runs in test mode
        if name.startswith("encoder.") and "running" in name:
            assert torch.equal(still_warm[name], frozen[name]), name
    assert _changed(still_warm, frozen, "input_gates.") == {True}


def test_prototype_logits_against_a_loop_over_images_and_classes() -> None:
    from lab.mann_features import prototype_logits
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


def test_a_late_decay_holds_the_rate_then_follows_a_cosine_and_is_validated() -> None:
    from lab.mann_training import MANNTrainConfig
    config = MANNTrainConfig(iterations=10, lr=1e-3, lr_min=1e-5, decay_iterations=4)
    assert config.constant_until == 6
    assert [config.rate(i) for i in range(1, 7)] == [1e-3] * 6
    for i in range(7, 11):  # the closed form of a cosine over the last 4 iterations (0-based step i - 7)
        expected = 1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + math.cos(math.pi * (i - 7) / 4))
        assert config.rate(i) == pytest.approx(expected, rel=1e-12)
    assert config.rate(10) < 2e-4
    whole = MANNTrainConfig(iterations=10, lr=1e-3, lr_min=1e-5)  # no late decay: a cosine over the whole run
    assert whole.constant_until == 0 and whole.rate(2) < 1e-3
    assert "decay_iterations" not in whole.card()  # the resume keys of older runs still match
    with pytest.raises(ValueError, match="from 0 to iterations=10"):
        MANNTrainConfig(iterations=10, lr_min=1e-5, decay_iterations=11)
    with pytest.raises(ValueError, match="lr_min = lr"):
        MANNTrainConfig(iterations=10, lr=1e-3, lr_min=1e-3, decay_iterations=4)


def test_a_run_with_a_late_decay_resumes_from_the_constant_runs_state(tmp_path) -> None:
    from lab.mann_training import MANNTrainConfig, train_mann
    net = {k: v for k, v in TINY_NET.items() if k not in ("encoder", "encoder_channels", "feature_norm")}
    constant = MANNTrainConfig(net=net, episode_length=4, batch=2, eval_episodes=2, eval_every=3, checkpoint_every=2,
                               iterations=6, lr=1e-2, lr_min=1e-2)
    decayed = MANNTrainConfig(**{**constant.__dict__, "iterations": 9, "lr_min": 1e-4, "decay_iterations": 3})
    train_mann(constant, run_dir=tmp_path / "runs")
    seen = []
    resumed = train_mann(decayed, run_dir=tmp_path / "runs", on_progress=lambda p: seen.append(p.iteration),
                         log_every=1)
    assert seen[0] == 7  # it went on from the constant run's last state (iteration 6), not from the start
    one_go = train_mann(decayed, run_dir=tmp_path / "fresh")
    for name, weights in one_go.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], weights), name
    # a constant run that went past the decay's start is not a valid start: this one begins afresh
    longer = MANNTrainConfig(**{**constant.__dict__, "iterations": 8})
    train_mann(longer, run_dir=tmp_path / "runs2")
    seen.clear()
    train_mann(decayed, run_dir=tmp_path / "runs2", on_progress=lambda p: seen.append(p.iteration), log_every=1)
    assert seen[0] == 1
    seen.clear()  # and it left the longer run's state alone: that run still continues from iteration 8
    train_mann(MANNTrainConfig(**{**constant.__dict__, "iterations": 9}), run_dir=tmp_path / "runs2",
               on_progress=lambda p: seen.append(p.iteration), log_every=1)
    assert seen == [9]


def test_feature_views_and_encoder_from_are_validated_and_stay_out_of_old_resume_keys() -> None:
    from lab.mann_training import MANNTrainConfig
    conv4 = {"encoder": "conv4", "image_size": 28, "encoder_channels": 4}
    with pytest.raises(ValueError, match="encoder must be frozen"):
        MANNTrainConfig(data="omniglot", net=conv4, feature_views=2)  # encoder_lr 1: the features would change
    with pytest.raises(ValueError, match="encoder must be frozen"):
        MANNTrainConfig(net=conv4, encoder_lr=0.0, feature_views=2)  # glyphs: new drawings every time
    with pytest.raises(ValueError, match="needs encoder='conv4'"):
        MANNTrainConfig(net={"encoder": "conv"}, encoder_from="pn")
    with pytest.raises(ValueError, match="feature_views=-1"):
        MANNTrainConfig(data="omniglot", net=conv4, encoder_lr=0.0, feature_views=-1)
    card = MANNTrainConfig().card()
    assert "feature_views" not in card and "encoder_from" not in card
    card = MANNTrainConfig(data="omniglot", net=conv4, encoder_lr=0.0, feature_views=2, encoder_from="pn").card()
    assert card["feature_views"] == 2 and card["encoder_from"] == "pn"


@needs_omniglot
def test_a_run_on_cached_features_of_a_protonets_frozen_encoder(tmp_path) -> None:
    from lab.checkpoint import save_checkpoint
    from lab.learners.protonet import ProtoNet, ProtoNetConfig
    from lab.mann_training import MANNTrainConfig, train_mann
    protonet = ProtoNet(ProtoNetConfig(channels=2, last_pool=False))
    load_params_(protonet, random_init(protonet, 3))
    save_checkpoint(tmp_path / "pn", protonet.state_dict(), {"net": protonet.config.to_dict()}, "protonet")
    net = {**{k: v for k, v in TINY_NET.items() if k != "encoder_channels"}, "encoder": "conv4",
           "encoder_channels": 2, "image_size": 28, "feature_keys": True}
    config = MANNTrainConfig(data="omniglot", net=net, episode_length=4, batch=2, eval_episodes=2, eval_every=100,
                             iterations=3, lr=1e-2, lr_min=1e-2, encoder_lr=0.0, feature_views=1,
                             encoder_from=str(tmp_path / "pn"))
    result = train_mann(config, run_dir=None)
    trained = result.model.state_dict()
    for name, weights in protonet.encoder.state_dict().items():  # the encoder is the ProtoNet's, unchanged
        assert torch.equal(trained["encoder.0." + name], weights), name
    assert float(trained["encoder.1.mean"].abs().sum()) > 0  # centred on the training drawings
    untrained = MANNTrainConfig(**{**config.__dict__, "iterations": 1, "lr": 1e-12, "lr_min": 1e-12})
    assert not torch.equal(train_mann(untrained, run_dir=None).model.state_dict()["input_gates.weight"],
                           trained["input_gates.weight"])  # the controller did learn from the cached features


def test_feature_dropout_zeroes_that_share_keeps_the_length_and_is_validated() -> None:
    from lab.mann_features import drop_features
    from lab.mann_training import MANNTrainConfig
    features = torch.nn.functional.normalize(torch.rand((40, 50, 64), generator=make_generator(1)) + 0.1, dim=-1) * 5
    dropped = drop_features(features, 0.3, 5.0, make_generator(2))
    assert float((dropped == 0).float().mean()) == pytest.approx(0.3, abs=0.01)
    torch.testing.assert_close(dropped.norm(dim=-1), torch.full((40, 50), 5.0))
    kept = dropped[3, 7] != 0  # the kept entries of a row are scaled alike: its direction among them is kept
    ratio = dropped[3, 7][kept] / features[3, 7][kept]
    torch.testing.assert_close(ratio, torch.full_like(ratio, float(ratio[0])))
    assert float(ratio[0]) > 1  # scaled up to make up for the dropped part
    assert torch.equal(dropped, drop_features(features, 0.3, 5.0, make_generator(2)))  # the seed decides
    unscaled = torch.stack([drop_features(features[0, 0], 0.3, 0.0, make_generator(i)) for i in range(4000)])
    torch.testing.assert_close(unscaled.mean(0), features[0, 0], atol=0.03, rtol=0)  # unbiased without a length
    conv4 = {"encoder": "conv4", "image_size": 28, "encoder_channels": 4}
    with pytest.raises(ValueError, match="needs a conv encoder"):
        MANNTrainConfig(feature_dropout=0.3)
    with pytest.raises(ValueError, match="feature_dropout=1.0"):
        MANNTrainConfig(data="omniglot", net=conv4, encoder_lr=0.0, feature_views=1, feature_dropout=1.0)
    assert "feature_dropout" not in MANNTrainConfig().card()


def test_feature_dropout_on_the_encoders_output_changes_training_and_the_seed_decides() -> None:
    _, plain = _tiny_run(iterations=3)
    _, dropped = _tiny_run(iterations=3, feature_dropout=0.5)
    _, again = _tiny_run(iterations=3, feature_dropout=0.5)
    assert _changed(plain, dropped, "input_gates.") == {True}
    assert _changed(dropped, again, "") == {False}


def test_same_alphabet_is_validated_and_kept_out_of_the_card_at_its_default() -> None:
    from lab.mann_training import MANNTrainConfig
    with pytest.raises(ValueError, match="only data='omniglot' has alphabets"):
        MANNTrainConfig(same_alphabet=0.5)
    with pytest.raises(ValueError, match=r"same_alphabet=-0.1 .* \[0, 1\]"):
        MANNTrainConfig(data="omniglot", same_alphabet=-0.1)
    assert "same_alphabet" not in MANNTrainConfig().card()
    assert MANNTrainConfig(data="omniglot", same_alphabet=0.5).card()["same_alphabet"] == 0.5


@needs_omniglot
def test_same_alphabet_draws_training_episodes_within_an_alphabet_and_leaves_the_held_out_ones() -> None:
    from lab.learners.mann import MANNConfig
    from lab.mann_training import MANNTrainConfig, families
    train, held_out, _ = families(MANNTrainConfig(data="omniglot", same_alphabet=1.0), MANNConfig())
    batch = train.sample(make_generator(0), 40)
    groups = train.source.class_groups()[batch.meta["class_ids"]]
    assert bool((groups == groups[:, :1]).all())
    assert held_out.same_alphabet == 0.0


def test_feature_writes_start_at_zero_and_grow_on_a_checkpoint_made_without_them(tmp_path) -> None:
    from lab.mann_training import MANNTrainConfig, train_mann
    base = MANNTrainConfig(net=TINY_NET, episode_length=4, batch=2, eval_episodes=2, eval_every=100, iterations=2,
                           lr=1e-2, lr_min=1e-2)
    first = train_mann(base, out=tmp_path, run_dir=None).paths[0].with_suffix("")
    grown_net = {**TINY_NET, "feature_writes": True}
    still = MANNTrainConfig(**{**base.__dict__, "net": grown_net, "iterations": 1, "lr": 1e-12, "lr_min": 1e-12,
                               "init_from": str(first)})
    grown = train_mann(still, run_dir=None).model.state_dict()
    before = torch.load(first.with_suffix(".pt"))
    assert all(torch.allclose(grown[k], v.float(), atol=1e-9) for k, v in before.items()
               if "running" not in k and "num_batches" not in k)  # BatchNorm statistics move in a training step
    assert float(grown["feature_writes.weight"].abs().max()) < 1e-9  # zero, moved by at most one 1e-12 step
    scratch = MANNTrainConfig(**{**still.__dict__, "init_from": None})
    assert float(train_mann(scratch, run_dir=None).model.state_dict()["feature_writes.weight"].abs().max()) < 1e-9
    with pytest.raises(ValueError, match="holds another network"):  # the other way round is still refused
        train_mann(MANNTrainConfig(**{**base.__dict__, "init_from": str(first), "net": {**TINY_NET, "controller": 9}}),
                   run_dir=None)


def test_mirror_is_validated_and_kept_out_of_the_card_at_its_default() -> None:
    from lab.mann_training import MANNTrainConfig
    with pytest.raises(ValueError, match="only data='omniglot'"):
        MANNTrainConfig(mirror=True)
    assert "mirror" not in MANNTrainConfig().card() and MANNTrainConfig(data="omniglot", mirror=True).card()["mirror"]


@needs_omniglot
def test_mirror_doubles_the_training_classes_only() -> None:
    from lab.learners.mann import MANNConfig
    from lab.mann_training import MANNTrainConfig, families
    train, held_out, _ = families(MANNTrainConfig(data="omniglot", mirror=True), MANNConfig())
    plain, plain_held_out, _ = families(MANNTrainConfig(data="omniglot"), MANNConfig())
    assert train.source.n_classes == 2 * plain.source.n_classes
    assert held_out.source.n_classes == plain_held_out.source.n_classes


def test_validate_is_checked_and_kept_out_of_the_card_at_its_default() -> None:
    from lab.mann_training import MANNTrainConfig
    with pytest.raises(ValueError, match="needs data='omniglot' and one of korean"):
        MANNTrainConfig(validate="korean")
    with pytest.raises(ValueError, match="needs data='omniglot' and one of korean"):
        MANNTrainConfig(data="omniglot", validate="klingon")
    assert "validate" not in MANNTrainConfig().card()
    assert MANNTrainConfig(data="omniglot", validate="korean").card()["validate"] == "korean"


@needs_omniglot
def test_validate_trains_without_the_held_out_alphabets_and_measures_on_them() -> None:
    from lab.learners.mann import MANNConfig
    from lab.mann_training import MANNTrainConfig, families
    train, held_out, description = families(MANNTrainConfig(data="omniglot", validate="greek-latin", mirror=True),
                                            MANNConfig())
    assert "validate on Greek, Latin" in description
    names = train.source.class_names(list(range(train.source.n_classes)))
    assert not any(n.startswith(("Greek", "Latin")) for n in names) and any("(mirrored)" in n for n in names)
    assert len(names) == 2 * 4 * (40 + 24 + 22)  # Korean, Balinese, Early_Aramaic; rotated, then mirrored
    held = held_out.source.class_names(list(range(held_out.source.n_classes)))
    assert len(held) == 24 + 26 and all(n.startswith(("Greek", "Latin")) and "rot" not in n for n in held)
