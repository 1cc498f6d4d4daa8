"""MAML on images: vmapped tasks against a per-task loop, second-order meta-gradient against finite
differences, the shared head's symmetry, and adaptation traces."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lab.learners.maml_images import MAMLClassifier, MAMLImageConfig
from lab.nets import load_params_, random_init
from tests.learners.test_protonet import _episode


def _model(**config) -> MAMLClassifier:
    model = MAMLClassifier(MAMLImageConfig(channels=4, **config))
    params = random_init(model, 5)
    params["head_weight"] = torch.randn(1, 4, generator=torch.Generator().manual_seed(2)) * 0.3
    load_params_(model, params)
    return model


def _loop_loss(model: MAMLClassifier, batch, first_order: bool) -> torch.Tensor:
    losses = []
    for t in range(batch.n_tasks):
        n_way = int(batch.support_y[t].max()) + 1
        adapted = model.inner_adapt(model.task_params(n_way), batch.support_x[t], batch.support_y[t],
                                    model.config.inner_steps, first_order)
        losses.append(F.cross_entropy(model.logits(adapted, batch.query_x[t]), batch.query_y[t]))
    return torch.stack(losses).mean()


@pytest.mark.parametrize("first_order", [False, True])
def test_vmapped_meta_loss_and_gradient_match_a_per_task_loop(first_order):
    model = _model(inner_steps=2, first_order=first_order, inner_lr=0.3)
    batch = _episode(t=3, n_way=3, k=2, q=2)
    loss, _ = model.loss(batch)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    loop = _loop_loss(model, batch, first_order)
    loop_grads = torch.autograd.grad(loop, list(model.parameters()))
    assert torch.allclose(loss, loop, atol=1e-5)
    for a, b in zip(grads, loop_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_second_order_meta_gradient_matches_finite_differences():
    model = _model(inner_steps=1, inner_lr=0.5).double()
    batch = _episode(t=2, n_way=2, k=1, q=2)
    batch = type(batch)(batch.support_x.double(), batch.support_y, batch.query_x.double(), batch.query_y)
    loss, _ = model.loss(batch)
    weight = model.body.encoder[1][0].weight  # a conv filter of the second block
    (g,) = torch.autograd.grad(loss, [weight])
    eps = 1e-6
    for j in range(0, weight.numel(), weight.numel() // 5):
        with torch.no_grad():
            weight.view(-1)[j] += eps
            up = model.loss(batch)[0]
            weight.view(-1)[j] -= 2 * eps
            down = model.loss(batch)[0]
            weight.view(-1)[j] += eps
        fd = (up - down).item() / (2 * eps)
        assert abs(fd - g.view(-1)[j].item()) < 1e-7 + 1e-4 * abs(fd)
    # and first order gives a different gradient: the second-order terms are really there
    fo = _model(inner_steps=1, inner_lr=0.5, first_order=True).double()
    (g_fo,) = torch.autograd.grad(fo.loss(batch)[0], [fo.body.encoder[1][0].weight])
    assert not torch.allclose(g, g_fo, rtol=1e-3)


def test_unadapted_predictions_are_uniform_whatever_the_number_of_ways():
    model = _model()
    for n_way in (2, 5):
        batch = _episode(t=1, n_way=n_way, k=1, q=2)
        probs = model.scores(batch, steps=0).softmax(-1)
        assert torch.allclose(probs, torch.full_like(probs, 1 / n_way))


def test_adapt_episode_records_every_step_and_learns_the_support_set():
    model = _model(inner_lr=0.5)
    batch = _episode(t=1, n_way=3, k=2, q=2)
    trace = model.adapt_episode(batch, steps=5)
    assert [s.step for s in trace] == list(range(6))
    assert trace[-1].support_loss < trace[0].support_loss
    assert torch.allclose(trace[-1].query_probs, model.scores(batch, steps=5)[0].softmax(-1), atol=1e-5)
    acc = (trace[-1].query_probs.argmax(-1) == batch.query_y[0]).float().mean().item()
    assert trace[-1].query_accuracy == pytest.approx(acc)


def test_a_diverging_inner_lr_is_reported():
    model = _model(inner_lr=1e12)
    with pytest.raises(FloatingPointError, match="diverges; lower it"):
        model.adapt_episode(_episode(t=1, n_way=3, k=2, q=2), steps=5)


def test_a_diverging_inner_lr_keeps_the_steps_before_it():
    from lab.learners.maml import AdaptationDiverged

    model = _model(inner_lr=1e12)
    with pytest.raises(AdaptationDiverged) as caught:
        model.adapt_episode(_episode(t=1, n_way=3, k=2, q=2), steps=5)
    steps = [s.step for s in caught.value.trace]
    assert steps == list(range(len(steps))) and len(steps) in range(1, 6)
