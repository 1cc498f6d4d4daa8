"""Episodic training: a short run must beat the pixel-space baseline; stopping and resuming gives the same
weights as an uninterrupted run; the schedule and config checks."""

from __future__ import annotations

import pytest
import torch

from lab.checkpoint import CheckpointError
from lab.compute import make_generator
from lab.fewshot_training import FewShotTrainConfig, cosine_lr, train_fewshot
from lab.learners.fewshot import evaluate_accuracy, pixel_nn_scores
from lab.tasks.episodes import FewShotFamily
from lab.tasks.splits import glyph_split


def test_a_short_protonet_run_beats_pixel_nearest_neighbour_on_held_out_alphabets():
    config = FewShotTrainConfig(learner="protonet", net={"channels": 16}, train_way=20, train_shot=1,
                                train_query=5, iterations=40, eval_every=40, eval_episodes=150, augment=False)
    result = train_fewshot(config, run_dir=None)
    learned = result.curve[-1][2]
    family = FewShotFamily(glyph_split().test, 5, 1, 15)
    # the training loop's held-out episodes come from make_generator(derived seed); any fixed seed serves here
    pixel = evaluate_accuracy(pixel_nn_scores, family, 150, make_generator(7))
    assert learned > pixel["mean"] + 0.05, (learned, pixel)


def _tiny(**kw) -> FewShotTrainConfig:
    return FewShotTrainConfig(**{"learner": "protonet", "net": {"channels": 4}, "train_way": 3, "train_shot": 1,
                                 "train_query": 2, "iterations": 6, "eval_every": 6, "eval_episodes": 4,
                                 "checkpoint_every": 3, **kw})


def test_stop_and_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    whole = train_fewshot(_tiny(), run_dir=None).model.state_dict()
    stopped = train_fewshot(_tiny(), run_dir=tmp_path, on_progress=lambda p: p.iteration < 3, log_every=1)
    assert stopped.stopped and stopped.iterations == 3 and stopped.paths is None
    resumed = train_fewshot(_tiny(), out=tmp_path / "model", run_dir=tmp_path)
    assert resumed.iterations == 6 and resumed.paths is not None
    for k, v in whole.items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k


def test_a_bf16_run_does_not_resume_an_fp32_run(tmp_path, monkeypatch):
    train_fewshot(_tiny(), run_dir=tmp_path, on_progress=lambda p: p.iteration < 3, log_every=1)
    monkeypatch.setenv("LAB_PRECISION", "bf16")
    seen = []
    train_fewshot(_tiny(), run_dir=tmp_path, on_progress=lambda p: seen.append(p.iteration), log_every=1)
    assert seen[0] == 1, "the bf16 run picked up the fp32 run's state"
    assert len(list(tmp_path.glob("*.state.pt"))) == 2  # one state per precision


def test_cosine_schedule_runs_from_lr_to_lr_min():
    config = FewShotTrainConfig(iterations=100, lr=1e-3, lr_min=1e-5)
    assert cosine_lr(config, 0) == pytest.approx(1e-3)
    assert cosine_lr(config, 50) == pytest.approx((1e-3 + 1e-5) / 2)
    assert cosine_lr(config, 100) == pytest.approx(1e-5)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("learner", "svm", "learner='svm'"), ("data", "mnist", "data='mnist'"), ("train_way", 1, "train_way"),
    ("lr", 0.0, "lr=0.0"), ("jitter", {"shear": -1}, "finite and >= 0"),
    ("mix_glyphs", 0.5, "only with data='omniglot'"),
])
def test_bad_configs_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        FewShotTrainConfig(**{field: value})


def test_init_from_another_learner_copies_only_the_conv_blocks(tmp_path):
    from lab.checkpoint import save_checkpoint
    from lab.fewshot_training import init_weights_from
    from lab.learners.fewshot import build_model

    proto = build_model("protonet", {"channels": 8})
    for p in proto.parameters():
        torch.nn.init.normal_(p, generator=torch.Generator().manual_seed(1))
    save_checkpoint(tmp_path / "proto", proto.state_dict(), {"net": proto.config.to_dict()}, "protonet")
    maml = build_model("maml", {"channels": 8})
    head_before = maml.head_weight.detach().clone()
    assert init_weights_from(maml, tmp_path / "proto", "maml") == "protonet"
    for block in range(4):
        for layer in (0, 1):  # conv and normalisation
            for name in ("weight", "bias"):
                ours = getattr(maml.body.encoder[block][layer], name)
                theirs = getattr(proto.encoder.encoder[block][layer], name)
                assert torch.equal(ours, theirs)
    assert torch.equal(maml.head_weight, head_before)  # not part of the other learner

    wider = build_model("maml", {"channels": 16})
    with pytest.raises(CheckpointError, match="conv blocks do not fit"):
        init_weights_from(wider, tmp_path / "proto", "maml")


def test_progress_checks_use_one_view_and_the_model_keeps_its_test_views(monkeypatch):
    from lab.learners.protonet import ProtoNet

    seen = []
    original = ProtoNet.scores

    def spy(self, batch):
        seen.append(self.config.test_views)
        return original(self, batch)

    monkeypatch.setattr(ProtoNet, "scores", spy)
    config = FewShotTrainConfig(learner="protonet", iterations=1, train_way=3, train_query=2, augment=False,
                                eval_every=1, eval_episodes=2, net={"channels": 4, "test_views": 8})
    result = train_fewshot(config, run_dir=None)
    assert seen and set(seen) == {1}
    assert result.model.config.test_views == 8


def test_a_diverging_learning_rate_stops_with_a_message_naming_it_and_keeps_the_last_snapshot(tmp_path):
    config = _tiny(lr=1e30, lr_min=1e29, iterations=60, checkpoint_every=1)
    with pytest.raises(FloatingPointError, match=r"with --lr 1e\+30; lower --lr \(e\.g\. 1e\+29\); the last snapshot"):
        train_fewshot(config, run_dir=tmp_path)
    snapshots = list(tmp_path.rglob("*.pt"))
    assert snapshots  # what was reached before the loss blew up is still on disk
    for snapshot in snapshots:
        state = torch.load(snapshot, weights_only=True)
        assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
