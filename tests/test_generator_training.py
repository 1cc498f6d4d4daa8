"""Training the generator alone: the saved sampling-only float16 checkpoint draws what the trained model
draws, holds no encoder, and refuses weights that do not fit; a stopped run resumes."""

from __future__ import annotations

import pytest
import torch

from lab.checkpoint import CheckpointError
from lab.compute import make_generator
from lab.generator_training import GeneratorTrainConfig, load_generator, train_generator
from lab.learners.generative import sample_characters

TINY = GeneratorTrainConfig(real_classes=5, iterations=3, batch=2, drawings=2, vae={"hidden": 16})


def test_sampling_only_float16_checkpoint_draws_like_the_trained_model(tmp_path):
    model, extra = train_generator(TINY, out=tmp_path / "gen", half=True, sampling_only=True)
    saved = torch.load(tmp_path / "gen.pt", weights_only=True)
    assert saved and all(k.startswith(("decoder.", "hand.")) for k in saved)
    assert all(v.dtype == torch.float16 for v in saved.values())
    loaded, card = load_generator(tmp_path / "gen")
    assert card["extra"]["sampling_only"] and extra["iterations"] == 3
    ours = sample_characters(model, 3, 4, make_generator(0))
    theirs = sample_characters(loaded, 3, 4, make_generator(0))
    assert (ours - theirs).abs().max() < 0.02  # float16 rounding only


def test_a_checkpoint_that_misses_a_drawing_part_is_refused(tmp_path):
    train_generator(TINY, out=tmp_path / "gen", sampling_only=True)
    state = torch.load(tmp_path / "gen.pt", weights_only=True)
    state.pop(next(k for k in state if k.startswith("hand.")))
    from lab.checkpoint import read_card, save_checkpoint

    card = read_card(tmp_path / "gen")
    save_checkpoint(tmp_path / "bad", state, card["config"], card["kind"], card["extra"])
    with pytest.raises(CheckpointError, match="does not match its config's network"):
        load_generator(tmp_path / "bad")


def test_a_stopped_run_resumes_to_the_same_weights(tmp_path):
    config = GeneratorTrainConfig(**{**TINY.card(), "iterations": 4, "checkpoint_every": 10})
    whole, _ = train_generator(config)
    _, stopped = train_generator(config, run_dir=tmp_path, on_progress=lambda it, loss: it < 3, log_every=1)
    assert stopped["iterations"] == 3 and len(list(tmp_path.glob("*.state.pt"))) == 1  # saved on the stop
    seen: list[int] = []
    resumed, extra = train_generator(config, run_dir=tmp_path, on_progress=lambda it, loss: seen.append(it),
                                     log_every=1)
    assert seen == [4] and extra["iterations"] == 4  # it went on from step 3
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.allclose(a, b)
