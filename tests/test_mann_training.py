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

