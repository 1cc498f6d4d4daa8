"""Prototypical Networks: prototype and distance maths against hand computations; the module's trace."""

from __future__ import annotations

import pytest
import torch

from lab.learners.protonet import ProtoNet, ProtoNetConfig, pairwise_distances, proto_logits, prototypes
from lab.nets import load_params_, random_init
from lab.tasks.base import EpisodeBatch


def test_prototypes_are_class_means_by_hand():
    emb = torch.tensor([[0.0, 0.0], [2.0, 4.0], [1.0, 1.0], [3.0, 3.0], [5.0, -1.0]])
    labels = torch.tensor([0, 0, 1, 1, 1])
    protos = prototypes(emb, labels, 2)
    assert torch.allclose(protos, torch.tensor([[1.0, 2.0], [3.0, 1.0]]))


def test_prototypes_need_every_class():
    with pytest.raises(ValueError, match="every one of the 3 classes needs at least one support example"):
        prototypes(torch.zeros(2, 4), torch.tensor([0, 1]), 3)


def test_squared_euclidean_and_cosine_distances_by_hand():
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    p = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    assert torch.allclose(pairwise_distances(q, p), torch.tensor([[1.0, 4 + 16], [4.0, 9 + 4]]))
    # cosine: 1 - cos; q0 vs p1: cos = 3/5; q1 vs p1: cos = 8/(2*5)
    cos = pairwise_distances(q, p[1:], "cosine")
    assert torch.allclose(cos, torch.tensor([[1 - 0.6], [1 - 0.8]]))
    assert torch.allclose(proto_logits(cos, "cosine", 10.0), 10 * torch.tensor([[0.6], [0.8]]))


def test_distances_with_task_axes_match_a_loop():
    g = torch.Generator().manual_seed(0)
    q, p = torch.randn(3, 7, 5, generator=g), torch.randn(3, 4, 5, generator=g)
    batched = pairwise_distances(q, p)
    for t in range(3):
        assert torch.allclose(batched[t], torch.cdist(q[t], p[t]).pow(2), atol=1e-5)


def test_unknown_distance_is_refused():
    with pytest.raises(ValueError, match="distance='manhattan'"):
        ProtoNetConfig(distance="manhattan")


def _episode(t: int = 2, n_way: int = 3, k: int = 2, q: int = 4) -> EpisodeBatch:
    g = torch.Generator().manual_seed(1)
    labels = torch.arange(n_way)
    return EpisodeBatch(torch.rand(t, n_way * k, 1, 28, 28, generator=g),
                        labels.repeat_interleave(k).expand(t, -1).contiguous(),
                        torch.rand(t, n_way * q, 1, 28, 28, generator=g),
                        labels.repeat_interleave(q).expand(t, -1).contiguous())


def test_trace_is_consistent_with_its_parts():
    net = ProtoNet(ProtoNetConfig(channels=8))
    load_params_(net, random_init(net, 0))
    net.eval()
    batch = _episode()
    with torch.no_grad():
        trace = net.episode(batch.support_x, batch.support_y, batch.query_x, 3)
        # embeddings one image at a time equal the batched pass (running statistics: no batch dependence)
        single = net.encoder(batch.query_x[1, 2:3])
    assert trace.support_embeddings.shape == (2, 6, 8) and trace.query_embeddings.shape == (2, 12, 8)
    assert torch.allclose(single[0], trace.query_embeddings[1, 2], atol=1e-5)
    assert torch.allclose(trace.prototypes[0, 1], trace.support_embeddings[0, 2:4].mean(0), atol=1e-6)
    assert torch.equal(trace.predictions, trace.distances.argmin(-1))
    scores = net.scores(batch)
    assert torch.allclose(scores, trace.logits, atol=1e-5)


def test_training_lowers_the_loss_on_a_fixed_episode():
    net = ProtoNet(ProtoNetConfig(channels=8))
    load_params_(net, random_init(net, 0))
    batch = _episode(t=1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first, _ = net.loss(batch)
    for _ in range(15):
        loss, _ = net.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert net.loss(batch)[0].item() < 0.5 * first.item()


def test_test_time_views_average_jittered_embeddings_reproducibly():
    from lab.compute import make_generator
    from lab.learners.protonet import embed_batch
    from lab.tasks.augment import jitter

    net = ProtoNet(ProtoNetConfig(channels=8))
    load_params_(net, random_init(net, 0))
    net.eval()
    batch = _episode(t=1, n_way=2, k=1, q=1)
    with torch.no_grad():
        s3, q3 = embed_batch(net.encoder, batch.support_x, batch.query_x, views=3, view_seed=4)
        again, _ = embed_batch(net.encoder, batch.support_x, batch.query_x, views=3, view_seed=4)
        images = torch.cat([batch.support_x[0], batch.query_x[0]])
        rng = make_generator(4)
        by_hand = (net.encoder(images) + net.encoder(jitter(images, rng)) + net.encoder(jitter(images, rng))) / 3
    assert torch.equal(s3, again)
    assert torch.allclose(torch.cat([s3[0], q3[0]]), by_hand, atol=1e-5)
