"""MANN ensembles: probabilities averaged per step, checked one member and one episode at a time."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from lab.learners.mann import MANN, LSTMBaseline
from lab.learners.mann_ensemble import MANNEnsemble
from tests.learners.test_mann import _episodes, _model


def _member(seed: int, cls=MANN, **changes):
    return _model(cls, seed, **changes).eval()


@pytest.mark.parametrize("label_mode", ["onehot", "string"])
def test_ensemble_averages_the_members_probabilities_episode_by_episode(label_mode) -> None:
    members = [_member(1, label_mode=label_mode), _member(2, label_mode=label_mode),
               _member(3, LSTMBaseline, label_mode=label_mode)]
    batch = _episodes(3, label_mode=label_mode)
    with torch.no_grad():
        got = MANNEnsemble(members)(batch).logits
        for e in range(batch.n_episodes):  # each episode alone, each member alone: memories do not mix
            one = dataclasses.replace(batch, **{f.name: getattr(batch, f.name)[e:e + 1]
                                                for f in dataclasses.fields(batch)
                                                if isinstance(getattr(batch, f.name), torch.Tensor)})
            probs = [torch.softmax(m(one).logits, dim=-1) for m in members]
            mean = (probs[0] + probs[1] + probs[2]) / 3
            torch.testing.assert_close(got[e:e + 1].exp(), mean, atol=1e-6, rtol=1e-5)
    assert got.exp().sum(dim=-1).sub(1).abs().max() < 1e-5


def test_a_one_member_ensemble_predicts_as_the_member() -> None:
    member, batch = _member(4), _episodes(2)
    with torch.no_grad():
        torch.testing.assert_close(MANNEnsemble([member])(batch).logits, member(batch).logits.log_softmax(-1))


def test_members_must_share_classes_labels_and_image_size() -> None:
    with pytest.raises(ValueError, match="n_classes"):
        MANNEnsemble([_member(1), _member(2, n_classes=4)])
    with pytest.raises(ValueError, match="at least one"):
        MANNEnsemble([])
    MANNEnsemble([_member(1), _member(2, memory_slots=9)])  # memory size may differ: weights do not depend on it
