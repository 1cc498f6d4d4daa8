"""Meta-SGD: with every rate equal to alpha it is MAML exactly; its rates are learned and inspectable."""

from __future__ import annotations

import torch

from lab.compute import make_generator
from lab.learners.maml import LOSSES, adapt, meta_loss
from lab.learners.meta_sgd import MetaSGD, MetaSGDConfig, MetaSGDModel, adapt_meta_sgd, rate_summary
from lab.meta_sgd_training import MetaSGDTrainConfig, load_meta_sgd, train_meta_sgd
from lab.nets import SineMLP, parameters_of
from lab.tasks.sinusoid import SinusoidFamily

ALPHA = 0.01


def _model(seed: int = 0) -> MetaSGDModel:
    torch.manual_seed(seed)
    return MetaSGDModel(SineMLP(hidden=8)).fill_rates_(make_generator(seed), ALPHA, ALPHA)


def test_constant_rates_equal_maml_exactly():
    model = _model()
    batch = SinusoidFamily(k_shot=5, n_query=7).sample(make_generator(1), 4)
    net, params = model.net, model.params()
    ours = MetaSGD(model, MetaSGDConfig(inner_steps=2)).meta_loss(batch)
    maml = meta_loss(net, params, batch, 2, ALPHA, LOSSES["mse"]).mean()
    assert torch.equal(ours, maml)
    g_ours = torch.autograd.grad(ours, list(params.values()))
    g_maml = torch.autograd.grad(meta_loss(net, params, batch, 2, ALPHA, LOSSES["mse"]).mean(), list(params.values()))
    assert all(torch.equal(a, b) for a, b in zip(g_ours, g_maml, strict=True))
    task = batch.task(0)
    sx, sy = task.support_x[0], task.support_y[0]
    a = adapt_meta_sgd(model, sx, sy, 3)
    b = adapt(net, parameters_of(net), sx, sy, 3, ALPHA)
    assert [s.support_loss for s in a.trace] == [s.support_loss for s in b.trace]


def test_rates_are_learned_and_summarised():
    model = _model()
    model.fill_rates_(make_generator(0), 0.005, 0.1)
    before = [r.detach().clone() for r in model.rates]
    learner = MetaSGD(model)
    for i in range(3):
        learner.meta_step(SinusoidFamily(k_shot=5).sample(make_generator(i), 4))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.rates, strict=True))
    summary = rate_summary(model)
    assert set(summary) == set(model.params())
    assert set(summary["body.0.weight"]) == {"mean", "min", "max", "negative"}


def test_frozen_rates_stay_put():
    model = _model()
    learner = MetaSGD(model, MetaSGDConfig(learn_rates=False))
    learner.meta_step(SinusoidFamily(k_shot=5).sample(make_generator(0), 4))
    assert all(bool((r == ALPHA).all()) for r in model.rates)


def test_training_saves_a_checkpoint_that_loads_and_resumes(tmp_path):
    config = MetaSGDTrainConfig(iterations=6, meta_batch=2, checkpoint_every=3)
    first = train_meta_sgd(config, out=tmp_path / "m", run_dir=tmp_path / "runs", log_every=3)
    model, meta = load_meta_sgd(tmp_path / "m")
    assert meta["kind"] == "meta_sgd_sine"
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), first.model.state_dict().values(),
                                                 strict=True))
    longer = train_meta_sgd(MetaSGDTrainConfig(iterations=9, meta_batch=2, checkpoint_every=3), out=None,
                            run_dir=tmp_path / "runs", log_every=3)
    assert longer.iterations == 9
    assert len(longer.curve) == 3
