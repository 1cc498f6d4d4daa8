"""Relation Networks: score shapes and range, and the split first convolution against the paper's concatenation."""

from __future__ import annotations

import torch

from lab.learners.relation import RelationNet, RelationNetConfig
from lab.nets import load_params_, random_init
from tests.learners.test_protonet import _episode


def _net(channels: int = 8) -> RelationNet:
    net = RelationNet(RelationNetConfig(channels=channels))
    load_params_(net, random_init(net, 3))
    return net


def test_scores_have_one_value_in_0_1_per_query_and_class():
    net = _net()
    batch = _episode(t=2, n_way=4, k=3, q=2)
    scores = net.scores(batch)
    assert scores.shape == (2, 8, 4)
    assert bool(((scores >= 0) & (scores <= 1)).all())


def test_split_first_convolution_equals_the_concatenated_pairs():
    net = _net().eval()
    batch = _episode(t=2, n_way=3, k=2, q=2)
    with torch.no_grad():
        maps = net.encoder(torch.cat([batch.support_x.flatten(0, 1), batch.query_x.flatten(0, 1)]))
        support, query = maps[:12].view(2, 6, *maps.shape[1:]), maps[12:].view(2, 6, *maps.shape[1:])
        classes = support.view(2, 3, 2, *maps.shape[1:]).sum(2)
        fast, naive = net.relate(classes, query), net.relate_naive(classes, query)
    assert torch.allclose(fast, naive, atol=1e-5)


def test_k_shot_class_features_are_means_of_the_shots():
    net = _net().eval()
    batch = _episode(t=1, n_way=2, k=3, q=1)
    with torch.no_grad():
        trace = net.episode(batch.support_x, batch.support_y, batch.query_x, 2)
        maps = net.encoder(batch.support_x[0, 3:6])
    assert torch.allclose(trace.class_features[0, 1], maps.mean(0), atol=1e-5)


def test_loss_is_mse_to_the_one_hot_match():
    net = _net().eval()  # eval: the same statistics in both passes
    batch = _episode(t=1, n_way=3, k=1, q=2)
    with torch.no_grad():
        loss, acc = net.loss(batch)
        scores = net.scores(batch)
    target = torch.nn.functional.one_hot(batch.query_y, 3).float()
    assert torch.allclose(loss, ((scores - target) ** 2).mean(), atol=1e-6)
    assert acc.item() == (scores.argmax(-1) == batch.query_y).float().mean().item()
