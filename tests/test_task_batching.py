"""Every fast MAML strategy (lab.task_batching, chosen by lab.compute.task_strategy) against the per-task loop.

In float64, meta-gradients of second- and first-order MAML must equal those of a plain loop over tasks
built from ``nn.Module`` layers and ``torch.autograd.grad`` (no vmap, no fused kernels): the reference.
"""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from lab.compute import LAYOUT_ENV, STRATEGY_ENV, conv_layout, make_generator, task_strategy, tune_allocator
from lab.learners.maml import meta_loss
from lab.learners.maml_images import MAMLClassifier, MAMLImageConfig
from lab.nets import SineMLP, load_params_, random_init, skeleton
from lab.tasks import FewShotFamily, GlyphAlphabets, SinusoidFamily

RTOL = 1e-10


def rel_err(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    """Return ||a - b|| / ||b|| over all tensors flattened together."""
    da = torch.cat([(x - y).flatten() for x, y in zip(a, b, strict=True)])
    return float(da.norm() / torch.cat([y.flatten() for y in b]).norm())


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("strategy", ["stacked", "vmap"])
def test_mlp_strategies_match_the_loop(steps: int, first_order: bool, strategy: str) -> None:
    net = skeleton(SineMLP)
    load_params_(net, random_init(net, 3))
    net = net.double()
    params = dict(net.named_parameters())
    batch = SinusoidFamily(k_shot=5, n_query=7).sample(make_generator(1), 6)
    batch = type(batch)(*(t.double() for t in (batch.support_x, batch.support_y, batch.query_x, batch.query_y)))
    ref = torch.autograd.grad(meta_loss(net, params, batch, steps, 0.3, F.mse_loss, first_order, False).mean(),
                              list(params.values()))
    fast = torch.autograd.grad(meta_loss(net, params, batch, steps, 0.3, F.mse_loss, first_order,
                                         strategy=strategy).mean(), list(params.values()))
    assert rel_err(fast, ref) < RTOL


def test_stacked_mlp_takes_per_parameter_rates() -> None:
    net = skeleton(SineMLP)
    load_params_(net, random_init(net, 4))
    net = net.double()
    params = dict(net.named_parameters())
    rates = {k: torch.rand(v.shape, generator=make_generator(5), dtype=torch.float64) * 0.1 for k, v in params.items()}
    batch = SinusoidFamily(k_shot=5, n_query=5).sample(make_generator(2), 4)
    batch = type(batch)(*(t.double() for t in (batch.support_x, batch.support_y, batch.query_x, batch.query_y)))
    ref = meta_loss(net, params, batch, 2, rates, F.mse_loss, False, False)
    fast = meta_loss(net, params, batch, 2, rates, F.mse_loss, strategy="stacked")
    assert torch.allclose(fast, ref, rtol=RTOL, atol=0)


def _reference_conv_grads(model: MAMLClassifier, batch, n_way: int) -> list[torch.Tensor]:
    """The per-task loop on the nn.Module (BatchStatNorm2d, ReLU before pooling) with autograd.grad."""
    c = model.config
    start = model.task_params(n_way)
    losses = []
    for t in range(batch.n_tasks):
        params = dict(start)
        for _ in range(c.inner_steps):
            loss = F.cross_entropy(model.logits(params, batch.support_x[t]), batch.support_y[t])
            grads = torch.autograd.grad(loss, list(params.values()), create_graph=not c.first_order)
            params = {k: v - c.inner_lr * g for (k, v), g in zip(params.items(), grads, strict=True)}
        losses.append(F.cross_entropy(model.logits(params, batch.query_x[t]), batch.query_y[t]))
    return list(torch.autograd.grad(torch.stack(losses).mean(), list(model.parameters())))


@pytest.mark.parametrize("inner_steps", [1, 2])
@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("strategy,layout,signs", [
    ("shared-support", "channels_last", "positive"), ("vmap", "channels_last", "positive"),
    ("loop", "contiguous", "positive"), ("loop", "channels_last", "positive"), ("loop", "channels_last", "mixed"),
    ("parallel-loop", "channels_last", "positive"), ("parallel-loop", "channels_last", "mixed")])
def test_conv_strategies_match_the_loop(monkeypatch: pytest.MonkeyPatch, inner_steps: int, first_order: bool,
                                        strategy: str, layout: str, signs: str) -> None:
    """Every strategy and memory layout, with norm scales all positive (channels_last pools before the affine
    map) and of mixed signs (it normalises first), on two torch threads (parallel-loop splits the tasks)."""
    model, batch, ref = _conv_case(inner_steps, first_order, signs)
    monkeypatch.setenv(STRATEGY_ENV, f"maml-conv={strategy}")
    monkeypatch.setenv(LAYOUT_ENV, layout)
    threads = torch.get_num_threads()
    if strategy == "parallel-loop":
        torch.set_num_threads(2)
    try:
        loss, _ = model.loss(batch)
        fast = list(torch.autograd.grad(loss, list(model.parameters())))
        if strategy == "parallel-loop":
            assert torch.get_num_threads() == 2  # it restores the thread count it lowered
    finally:
        torch.set_num_threads(threads)
    assert rel_err(fast, ref) < RTOL


@functools.cache
def _conv_case(inner_steps: int, first_order: bool, signs: str) -> tuple[MAMLClassifier, object, list[torch.Tensor]]:
    """Return (float64 model, batch, reference meta-gradients) for test_conv_strategies_match_the_loop."""
    model = MAMLClassifier(MAMLImageConfig(channels=6, inner_lr=0.5, inner_steps=inner_steps,
                                           first_order=first_order))
    load_params_(model, random_init(model, 7))
    with torch.no_grad():  # a head that is not all zeros, so every path through it matters
        model.head_weight.normal_(generator=make_generator(8))
        if signs == "mixed":
            for name, p in model.named_parameters():
                if name.endswith(".1.weight"):
                    p.mul_(torch.tensor([1.0, -1.0]).repeat(p.numel() // 2))
    model = model.double()
    batch = FewShotFamily(GlyphAlphabets(), 3, 2, 2).sample(make_generator(9), 3)
    batch = type(batch)(batch.support_x.double(), batch.support_y, batch.query_x.double(), batch.query_y)
    return model, batch, _reference_conv_grads(model, batch, 3)


@pytest.mark.parametrize("first_order", [False, True])
def test_a_norm_the_lean_pass_lacks_runs_vmap_over_the_module_and_matches_the_loop(first_order: bool) -> None:
    """GroupNorm is not in the lean Conv4 pass: MAMLClassifier.loss vmaps its own forward instead."""
    model = MAMLClassifier(MAMLImageConfig(channels=8, inner_lr=0.5, inner_steps=1, first_order=first_order,
                                           norm="group"))
    load_params_(model, random_init(model, 7))
    with torch.no_grad():
        model.head_weight.normal_(generator=make_generator(8))
    model = model.double()
    batch = FewShotFamily(GlyphAlphabets(), 3, 2, 2).sample(make_generator(9), 3)
    batch = type(batch)(batch.support_x.double(), batch.support_y, batch.query_x.double(), batch.query_y)
    loss, _ = model.loss(batch)
    fast = list(torch.autograd.grad(loss, list(model.parameters())))
    assert rel_err(fast, _reference_conv_grads(model, batch, 3)) < RTOL


@pytest.mark.parametrize("first_order", [False, True])
def test_lean_conv_vmap_strategy_matches_the_loop(first_order: bool) -> None:
    """conv_maml_losses(strategy="vmap") (the GPU's choice, as the benchmark runs it) against the loop."""
    from lab.task_batching import conv_maml_losses

    model = MAMLClassifier(MAMLImageConfig(channels=6, inner_lr=0.5, inner_steps=2)).double()
    load_params_(model, random_init(model, 7))
    with torch.no_grad():
        model.head_weight.normal_(generator=make_generator(8))
    batch = FewShotFamily(GlyphAlphabets(), 3, 2, 2).sample(make_generator(9), 3)
    batch = type(batch)(batch.support_x.double(), batch.support_y, batch.query_x.double(), batch.query_y)
    results = {}
    for strategy in ("loop", "vmap"):
        losses, logits = conv_maml_losses(model.task_params(3), batch, 2, 0.5, first_order, strategy)
        results[strategy] = (losses.detach(), logits.detach(),
                             torch.autograd.grad(losses.mean(), list(model.parameters())))
    assert torch.allclose(results["vmap"][0], results["loop"][0], rtol=1e-10, atol=0)
    assert torch.allclose(results["vmap"][1], results["loop"][1], rtol=1e-9, atol=1e-12)
    assert rel_err(list(results["vmap"][2]), list(results["loop"][2])) < RTOL


def test_conv_module_and_lean_pass_agree_on_logits() -> None:
    """Same weights through nn.Module Conv4 (functional_call) and the lean pass: the same logits."""
    from lab.task_batching import conv4_layout, conv4_logits

    model = MAMLClassifier(MAMLImageConfig(channels=6)).double()
    load_params_(model, random_init(model, 1))
    params = model.task_params(4)
    x = torch.rand(5, 1, 28, 28, generator=make_generator(3), dtype=torch.float64)
    expected = model.logits(params, x)
    for vmapped in (False, True):
        got = conv4_logits(params, x, conv4_layout(params), vmapped=vmapped)
        assert torch.allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert torch.allclose(functional_call(model.body, {k[5:]: v for k, v in params.items() if k.startswith("body.")},
                                          (x,)) @ params["head.weight"].T + params["head.bias"], expected)


def test_task_strategy_defaults_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STRATEGY_ENV, raising=False)
    assert task_strategy("maml-mlp", "cpu") == "stacked"
    assert task_strategy("maml-conv", "cpu") == "parallel-loop"
    monkeypatch.setenv(STRATEGY_ENV, "maml-conv=shared-support, maml-mlp=vmap")
    assert task_strategy("maml-conv", "cpu") == "shared-support"
    assert task_strategy("maml-mlp", "cpu") == "vmap"
    monkeypatch.setenv(STRATEGY_ENV, "maml-conv=grouped")
    with pytest.raises(ValueError, match="choose one of loop, parallel-loop, shared-support, vmap"):
        task_strategy("maml-conv", "cpu")
    with pytest.raises(ValueError, match="workload"):
        task_strategy("protonet", "cpu")


def test_tune_allocator_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_MALLOPT", "0")
    assert tune_allocator() is False
    import ctypes.util

    if ctypes.util.find_library("c") is None:
        pytest.skip("no C library to tune on this system")
    assert tune_allocator(True) is True  # glibc accepts both thresholds


def test_conv_layout_defaults_override_and_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    from lab.task_batching import conv_maml_losses

    monkeypatch.delenv(LAYOUT_ENV, raising=False)
    assert conv_layout("cpu") == "channels_last"
    assert conv_layout("cuda") == "contiguous"
    monkeypatch.setenv(LAYOUT_ENV, "contiguous")
    assert conv_layout("cpu") == "contiguous"
    monkeypatch.setenv(LAYOUT_ENV, "nhwc")
    with pytest.raises(ValueError, match="choose one of channels_last, contiguous"):
        conv_layout("cpu")
    model = MAMLClassifier(MAMLImageConfig(channels=4))
    batch = FewShotFamily(GlyphAlphabets(), 2, 1, 1).sample(make_generator(0), 1)
    with pytest.raises(ValueError, match="layout='nhwc'"):
        conv_maml_losses(model.task_params(2), batch, 1, 0.4, True, "loop", layout="nhwc")


def test_parallel_loop_keeps_the_callers_grad_mode_and_task_order() -> None:
    """Evaluation (no grad) through parallel-loop: detached results, each task's own logits in task order."""
    from lab.task_batching import conv_maml_losses

    model = MAMLClassifier(MAMLImageConfig(channels=4, inner_lr=0.4))
    load_params_(model, random_init(model, 1))
    batch = FewShotFamily(GlyphAlphabets(), 3, 1, 2).sample(make_generator(2), 5)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.no_grad():
            par = conv_maml_losses(model.task_params(3), batch, 1, 0.4, True, "parallel-loop")
        loop = conv_maml_losses(model.task_params(3), batch, 1, 0.4, True, "loop")
    finally:
        torch.set_num_threads(threads)
    assert not par[0].requires_grad and not par[1].requires_grad
    assert torch.allclose(par[0], loop[0].detach(), rtol=1e-5, atol=1e-6)
    assert torch.allclose(par[1], loop[1], rtol=1e-5, atol=1e-5)
