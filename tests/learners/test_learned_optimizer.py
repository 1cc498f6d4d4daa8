"""The learned optimizer checked against hand computations and finite differences (micrograd style).

* the gradient preprocessing against values worked out by hand (paper, appendix A, p = 10);
* one update against the LSTM equations written out here, not ``nn.LSTMCell``;
* the truncated-BPTT meta-gradient: exact (second-order) against central finite differences of the unrolled
  meta-loss; the paper's first-order one finite and non-zero;
* the per-step losses of an unroll add up to its meta-loss (same minibatches); the "log-mean" meta-loss's
  gradient against the hand formula, and its invariance to the scale of the losses;
* a short meta-training run that beats untuned SGD on held-out quadratics;
* the hand-made baselines: one optimizer over stacked problems equals one per problem; tuning avoids divergence.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from lab.compute import make_generator
from lab.l2o_training import META_LOSSES, RECIPES, L2OTrainConfig, recipe, train_l2o, window_objective
from lab.learners.hand_optimizers import run_hand, tune_learning_rates
from lab.learners.learned_optimizer import (
    LSTMOptimizer,
    LSTMOptimizerConfig,
    preprocess_gradients,
    run_learned,
    unroll,
)
from lab.tasks.optimizees import MLPFamily, QuadraticFamily, Quadratics, held_out_rng


def test_preprocessing_matches_a_hand_computation():
    grad = torch.tensor([1.0, -0.5, 1e-5, -2e-6, 0.0], dtype=torch.float64)
    # e^-10 = 4.54e-5: the first two are "big" -> (log|g| / 10, sign g); the rest -> (-1, e^10 g)
    expected = torch.tensor([[0.0, 1.0], [math.log(0.5) / 10, -1.0], [-1.0, 22026.4658 * 1e-5],
                             [-1.0, -22026.4658 * 2e-6], [-1.0, 0.0]], dtype=torch.float64)
    assert torch.allclose(preprocess_gradients(grad, 10.0), expected, atol=1e-6)


def _lstm_by_hand(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, cell: torch.nn.LSTMCell):
    gates = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
    i, f, g, o = gates.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def test_one_update_equals_the_lstm_equations_written_out():
    torch.manual_seed(0)
    opt = LSTMOptimizer().double()
    grad = torch.tensor([0.3, -2.0, 1e-7], dtype=torch.float64)
    state = opt.initial_state(3)
    update, new_state = opt(grad, state)
    x = preprocess_gradients(grad, 10.0)
    for cell, (h, c) in zip(opt.cells, state, strict=True):
        h, c = _lstm_by_hand(x, h, c, cell)
        x = h
    expected = 0.1 * (x @ opt.head.weight.T + opt.head.bias).squeeze(-1)
    assert update.shape == (3,)
    assert torch.allclose(update, expected, atol=1e-12)
    assert [tuple(h.shape) for h, _ in new_state] == [(3, 20), (3, 20)]


def _tiny(seed: int = 0):
    torch.manual_seed(seed)
    opt = LSTMOptimizer(LSTMOptimizerConfig(hidden=3)).double()
    problems = QuadraticFamily(dim=2).sample(make_generator(seed), 2)
    problems = Quadratics(*(t.double() for t in (problems.W, problems.y, problems.x0)))
    return opt, problems


def _meta_loss(opt, problems, second_order: bool) -> torch.Tensor:
    theta = problems.init()
    _, _, meta = unroll(opt, problems, theta, opt.initial_state(theta.numel()), 3, second_order=second_order)
    return meta.sum()


def test_exact_meta_gradient_matches_finite_differences():
    opt, problems = _tiny()
    params = list(opt.parameters())
    grads = torch.autograd.grad(_meta_loss(opt, problems, second_order=True), params)
    eps = 1e-6
    for p, g in zip(params, grads, strict=True):
        for index in [(0,) * p.dim(), tuple(s - 1 for s in p.shape)]:
            with torch.no_grad():
                p[index] += eps
                up = float(_meta_loss(opt, problems, True))
                p[index] -= 2 * eps
                down = float(_meta_loss(opt, problems, True))
                p[index] += eps
            numeric = (up - down) / (2 * eps)
            assert abs(numeric - float(g[index])) <= 1e-5 * max(1.0, abs(numeric))


def test_exact_meta_gradient_from_a_plain_start_equals_the_one_from_a_leaf_start():
    # a start outside any graph (as in meta-training) once freed the first gradient's graph: backward raised
    torch.manual_seed(0)
    opt = LSTMOptimizer()
    problems = QuadraticFamily().sample(make_generator(3), 4)
    grads = []
    for theta in (problems.init(), problems.init().requires_grad_(True)):
        _, _, losses = unroll(opt, problems, theta, opt.initial_state(theta.numel()), 5, second_order=True,
                              per_step=True)
        grads.append(torch.autograd.grad(window_objective(losses, "log-mean"), list(opt.parameters())))
    for plain, leaf in zip(*grads, strict=True):
        assert torch.equal(plain, leaf)
    assert float(sum(g.abs().sum() for g in grads[0])) > 0


def test_first_order_meta_gradient_is_finite_and_non_zero():
    opt, problems = _tiny()
    grads = torch.autograd.grad(_meta_loss(opt, problems, second_order=False), list(opt.parameters()))
    total = torch.cat([g.flatten() for g in grads])
    assert bool(torch.isfinite(total).all())
    assert float(total.abs().sum()) > 0


def test_per_step_losses_add_up_to_the_meta_loss_with_the_same_minibatches():
    torch.manual_seed(0)
    opt = LSTMOptimizer()
    problems = MLPFamily(hidden=4, batch_size=8).sample(make_generator(1), 3)
    theta = problems.init()
    _, _, summed = unroll(opt, problems, theta, opt.initial_state(theta.numel()), 5, make_generator(2))
    _, _, table = unroll(opt, problems, theta, opt.initial_state(theta.numel()), 5, make_generator(2),
                         per_step=True)
    assert table.shape == (5, 3)
    assert torch.allclose(table.sum(0), summed, rtol=1e-6)


def test_log_mean_meta_loss_weighs_every_step_the_same_whatever_its_scale():
    losses = torch.tensor([[100.0, 300.0, 200.0], [1.0, 5.0, 0.5], [0.01, 0.05, 0.03]], dtype=torch.float64,
                          requires_grad=True)
    (grad,) = torch.autograd.grad(window_objective(losses, "log-mean"), losses)
    steps, problems = losses.shape
    by_hand = 1 / (steps * problems * losses.detach().mean(1, keepdim=True)).expand(-1, problems)
    assert torch.allclose(grad, by_hand)
    # every step's gradients sum to the same total (1 / steps) whatever its loss level ...
    assert torch.allclose((grad * losses).sum(1), torch.full((steps,), 1 / steps, dtype=torch.float64))
    # ... and within a step a problem weighs by its loss, as in the evaluated mean
    (plain,) = torch.autograd.grad(window_objective(losses, "sum"), losses)
    assert torch.allclose(plain, torch.full_like(plain, 1 / (steps * problems)))
    (scaled,) = torch.autograd.grad(window_objective(losses * 1000, "log-mean"), losses)
    assert torch.allclose(scaled, grad)  # invariant to the scale of the problems' losses
    (per_problem,) = torch.autograd.grad(window_objective(losses, "log"), losses)
    assert torch.allclose(per_problem, 1 / (steps * problems * losses.detach()))
    (final,) = torch.autograd.grad(window_objective(losses, "log-final"), losses)
    assert torch.equal(final[:-1], torch.zeros_like(final[:-1]))  # only the window's last step counts
    assert torch.allclose(final[-1], 1 / (problems * losses.detach()[-1].mean()).expand(problems))


def test_meta_loss_must_be_one_of_the_known_ones():
    with pytest.raises(ValueError, match="meta_loss='mean'; choose one of sum, log-mean, log, log-final"):
        L2OTrainConfig(meta_loss="mean")
    assert {recipe(p).meta_loss for p in RECIPES} <= set(META_LOSSES)
    with pytest.raises(ValueError, match="output_scale=0.0 must be > 0"):
        L2OTrainConfig(output_scale=0.0)
    assert L2OTrainConfig(output_scale=1.0).card()["net"]["output_scale"] == 1.0


@pytest.mark.slow
def test_a_short_meta_training_beats_untuned_sgd_on_held_out_quadratics(tmp_path):
    config = L2OTrainConfig(runs=20, batch=32, steps=40, unroll=10, meta_lr=1e-2, eval_problems=50,
                            eval_every=10, checkpoint_every=100, keep_best=True)
    result = train_l2o(config, out=tmp_path / "l2o", run_dir=None)
    problems = QuadraticFamily().sample(held_out_rng(config.seed), 50)
    learned = float(run_learned(result.optimizer, problems, config.steps).final.mean())
    sgd = float(run_hand("sgd", 1e-3, problems, config.steps).final.mean())  # a plausible untuned rate
    assert min(row[2] for row in result.curve) < result.curve[0][2]
    assert learned < sgd
    assert json.loads((tmp_path / "l2o.json").read_text())["extra"]["selected_run"] in (10, 20)
    assert (tmp_path / "l2o.pt").exists()


def test_stacked_baseline_equals_one_optimizer_per_problem():
    problems = QuadraticFamily().sample(make_generator(3), 3)
    stacked = run_hand("adam", 0.1, problems, 15)
    for i in range(3):
        one = Quadratics(problems.W[i:i + 1], problems.y[i:i + 1], problems.x0[i:i + 1])
        assert torch.allclose(run_hand("adam", 0.1, one, 15).losses[:, 0], stacked.losses[:, i], rtol=1e-5)


def test_divergence_is_marked_and_tuning_avoids_it():
    problems = QuadraticFamily().sample(make_generator(4), 4)
    run = run_hand("sgd", 10.0, problems, 30)
    assert bool((run.diverged_at >= 0).all())
    lrs = tune_learning_rates(lambda: QuadraticFamily().sample(make_generator(5), 8), lambda: None, 30, ("sgd",))
    assert bool(torch.isfinite(run_hand("sgd", lrs["sgd"], problems, 30).final).all())


def test_learned_run_records_the_path():
    torch.manual_seed(0)
    problems = QuadraticFamily(dim=2).sample(make_generator(0), 5)
    run = run_learned(LSTMOptimizer(), problems, 7, record_path=True)
    assert run.losses.shape == (8, 5)
    assert run.path.shape == (8, 5, 2)
    assert torch.equal(run.path[0], problems.x0)


@pytest.mark.parametrize("name", ["sgd", "bad"])
def test_bad_optimizer_settings_say_what_to_change(name):
    problems = QuadraticFamily().sample(make_generator(0), 2)
    with pytest.raises(ValueError, match="optimizer|learning rate"):
        run_hand(name, -1.0 if name == "sgd" else 0.1, problems, 3)
