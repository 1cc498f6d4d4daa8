"""Fast MAML meta-losses over a batch of tasks: the execution strategies that :mod:`lab.compute` picks from.

Every function here returns the per-task query losses ``[tasks]`` after ``steps`` inner SGD steps, the very
numbers of the per-task loop (:func:`lab.learners.maml.meta_loss` with ``vectorized=False``); the float64
tests in ``tests/test_task_batching.py`` hold each one to the loop, second-order gradients included. Which
one runs is chosen per workload and device by :func:`lab.compute.task_strategy`, from the measurements of
``bench/meta_step.py``.

* ``"stacked"`` (MLPs, :func:`stacked_mlp_losses`): every task's weights are the meta-weights *expanded* on
  a task axis (no copy), the forward pass is one ``baddbmm`` per layer over all tasks, and the per-task
  gradients are plain ``torch.autograd.grad`` of the summed loss with respect to the expanded tensors (task
  ``t``'s loss only reaches slice ``t``). No ``vmap`` machinery in the way: 2-4x faster than ``vmap`` on the
  sinusoid MLP on a CPU.
* ``"shared-support"`` (Conv4 classifiers, :func:`conv_maml_losses`): the support pass of every task runs at
  the same initial weights, so it is one batched pass (``vmap`` with the weights *not* batched, which
  becomes one convolution over all support images); only the query passes need per-task weights, and those
  run as a per-task loop of ordinary convolutions (a grouped convolution, which is what ``vmap`` over
  per-task conv weights becomes, measured 2x slower on a CPU).
* ``"loop"`` (Conv4): support and query per task, with the same lean forward pass, each task's meta-gradient
  taken as soon as its query loss is known (see :func:`conv_maml_losses`).
* ``"parallel-loop"`` (Conv4, CPU): the loop with its tasks dealt out to one Python thread per torch thread,
  each running its tasks on one torch thread (torch releases the GIL inside its kernels). Small per-task
  kernels split across cores waste time at every barrier; whole tasks side by side do not (1.06x on 2 cores).

Passes that are differentiated only once (every query pass; support passes of first order or evaluation)
run in channels_last memory where :func:`lab.compute.conv_layout` says so (the CPU's default), with the
precise statistics of :mod:`lab.nhwc`: 1.3-1.4x faster there than NCHW.

The lean Conv4 forward (:func:`conv4_logits`) differs from ``nn.Module`` Conv4 only in ways that leave the
numbers alone: no conv bias before a batch-statistics norm (the mean subtraction cancels it; its gradient is
0), ReLU after the max-pool (they commute; the ReLU then touches 4x fewer values) and, outside
``vmap``, the fused ``F.batch_norm`` kernel for batch statistics. Inside ``vmap`` it uses plain
mean/variance arithmetic instead, because second-order gradients of ``F.batch_norm`` under ``vmap`` are
silently wrong in current PyTorch (see :class:`lab.nets.BatchStatNorm2d`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import grad, vmap

from lab.compute import LAYOUT_CHOICES, STRATEGY_CHOICES, conv_layout
from lab.nets import Params, max_pool2x2
from lab.nhwc import batch_stats_norm, norm_pool, to_nhwc
from lab.tasks.base import EpisodeBatch

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
T = TypeVar("T")
BN_EPS = 1e-5  # nn.BatchNorm2d's and BatchStatNorm2d's


def mlp_layers(net: nn.Module) -> list[str] | None:
    """Return the parameter prefixes of ``net``'s Linear layers if it is Linear/ReLU only, else ``None``."""
    names: list[str] = []
    for name, module in net.named_modules():
        if isinstance(module, nn.Linear):
            names.append(name)
        elif not isinstance(module, nn.ReLU | nn.Sequential) and module is not net:
            return None
    if not names or isinstance(net, nn.Linear):
        return None
    return names


def _stacked_forward(params: Params, layers: list[str], x: torch.Tensor) -> torch.Tensor:
    h = x
    for i, name in enumerate(layers):
        h = torch.baddbmm(params[f"{name}.bias"].unsqueeze(1), h, params[f"{name}.weight"].transpose(1, 2))
        if i < len(layers) - 1:
            h = torch.relu(h)
    return h


def _per_task(loss_fn: LossFn, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Return ``loss_fn`` per task ``[T]`` for predictions ``[T, B, ...]`` (mse: mean per task; CE: mean per task)."""
    if loss_fn is F.mse_loss:
        return (pred - target).pow(2).flatten(1).mean(1)
    if loss_fn is F.cross_entropy:
        return F.cross_entropy(pred.flatten(0, 1), target.flatten(), reduction="none").view(target.shape).mean(1)
    return torch.stack([loss_fn(p, t) for p, t in zip(pred, target, strict=True)])


def stacked_mlp_losses(net: nn.Module, params: Params, batch: EpisodeBatch, steps: int, inner_lr: float | Params,
                       loss_fn: LossFn, first_order: bool = False) -> torch.Tensor:
    """Return per-task query losses ``[T]`` of a Linear/ReLU ``net`` (see :func:`mlp_layers`), all tasks at once.

    ``inner_lr`` is one step size or a dict of per-parameter rates (Meta-SGD).
    """
    layers = mlp_layers(net)
    if layers is None:
        raise ValueError(f"{type(net).__name__} is not a Linear/ReLU stack; use the vmap strategy")
    n_tasks = batch.n_tasks
    # Differentiable w.r.t. params only if the caller can use it; the inner steps need autograd regardless.
    rates = list(inner_lr.values()) if isinstance(inner_lr, dict) else []
    outer = torch.is_grad_enabled() and any(v.requires_grad for v in [*params.values(), *rates])
    with torch.enable_grad():
        fast = {k: (v if outer else v.detach().requires_grad_()).unsqueeze(0).expand(n_tasks, *v.shape)
                for k, v in params.items()}
        for _ in range(steps):
            loss = _per_task(loss_fn, _stacked_forward(fast, layers, batch.support_x), batch.support_y).sum()
            grads = torch.autograd.grad(loss, list(fast.values()), create_graph=outer and not first_order)
            fast = {k: v - (inner_lr[k] if isinstance(inner_lr, dict) else inner_lr) * g
                    for (k, v), g in zip(fast.items(), grads, strict=True)}
        losses = _per_task(loss_fn, _stacked_forward(fast, layers, batch.query_x), batch.query_y)
    return losses if outer else losses.detach()


# --- Conv4 classifiers ------------------------------------------------------------------------------------

def conv4_layout(params: Params, prefix: str = "body.") -> list[tuple[str, str | None]] | None:
    """Return ``[(conv prefix, norm prefix or None)] * 4`` for Conv4 weights under ``prefix``, or ``None``
    when the names do not fit (the caller then uses the generic ``vmap`` path)."""
    blocks = []
    for i in range(4):
        conv, norm = f"{prefix}encoder.{i}.0", f"{prefix}encoder.{i}.1"
        if f"{conv}.weight" not in params:
            return None
        blocks.append((conv, norm if f"{norm}.weight" in params else None))
    return blocks


def _batch_stats_norm(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, vmapped: bool,
                      channels_last: bool = False) -> torch.Tensor:
    if channels_last:
        return batch_stats_norm(h, weight, bias, BN_EPS)
    if not vmapped:
        return F.batch_norm(h, None, None, weight, bias, training=True, eps=BN_EPS)
    var, mean = torch.var_mean(h, dim=(0, 2, 3), correction=0, keepdim=True)
    return (h - mean) * torch.rsqrt(var + BN_EPS) * weight.view(1, -1, 1, 1) + bias.view(1, -1, 1, 1)


def _same(t: torch.Tensor) -> torch.Tensor:
    return t


def conv4_logits(params: Params, x: torch.Tensor, blocks: list[tuple[str, str | None]], last_pool: bool = True,
                 vmapped: bool = False, channels_last: bool = False) -> torch.Tensor:
    """Return logits ``[B, n_way]`` of images ``x [B, C, H, W]`` (one task) under Conv4 weights ``params``
    with batch-statistics normalisation and the head ``params["head.weight"] [n_way, C]``, ``"head.bias"``.

    ``channels_last`` runs the activations in NHWC memory (the same numbers up to float rounding; see
    :func:`lab.compute.conv_layout`). Never on a pass whose gradient is differentiated again.
    """
    layout = to_nhwc if channels_last else _same
    h = layout(x)
    for i, (conv, norm) in enumerate(blocks):
        weight = layout(params[f"{conv}.weight"])
        # Normalising by the batch's mean cancels a conv bias exactly: leave it out, and its gradient (0).
        h = F.conv2d(h, weight, None if norm else params[f"{conv}.bias"], padding=1)
        pool = i < 3 or last_pool
        if norm is not None and channels_last and pool:  # normalise and pool in one (lab.nhwc.norm_pool)
            h = norm_pool(h, params[f"{norm}.weight"], params[f"{norm}.bias"], BN_EPS)
        else:
            if norm is not None:
                h = _batch_stats_norm(h, params[f"{norm}.weight"], params[f"{norm}.bias"], vmapped, channels_last)
            if pool:
                h = max_pool2x2(h)
        h = F.relu(h)
    return h.flatten(1) @ params["head.weight"].T + params["head.bias"]


def conv_maml_losses(params: Params, batch: EpisodeBatch, steps: int, inner_lr: float, first_order: bool,
                     strategy: str = "loop", last_pool: bool = True, layout: str | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(per-task query losses [T], query logits [T, Q, N])`` of MAML on a Conv4 classifier.

    ``params`` are the starting fast weights shared by all tasks (Conv4 under ``body.`` plus the head).
    ``strategy``: ``"loop"``, ``"shared-support"`` (first support pass batched over tasks) or ``"vmap"`` (every
    pass of every task under ``torch.func.vmap``: grouped convolutions, the GPU's choice; its losses carry the
    whole meta-graph, and its logits come attached). ``layout`` (default :func:`lab.compute.conv_layout` for
    the device): the memory layout of the loop's passes that are differentiated once (query passes, and
    support passes of first order); second-order support passes always run NCHW.

    When the losses are differentiable, each task's meta-gradient is taken as soon as its query loss is
    known and its graph freed (the documented way of learn2learn, higher and TorchOpt), so memory holds one
    task's activations, not the whole meta-batch's. The returned loss of task ``t`` is then
    ``loss_t + sum_k <p_k - stop_grad(p_k), g_tk>``: the same value, and the gradient ``g_t`` for any
    weighted sum of the losses (e.g. their mean). It is not differentiable twice, and logits come detached.
    """
    blocks = conv4_layout(params)
    if blocks is None:
        raise ValueError("these weights are not a Conv4 classifier; use the vmap strategy")
    if strategy not in STRATEGY_CHOICES["maml-conv"]:
        raise ValueError(f"strategy={strategy!r}; choose one of {', '.join(STRATEGY_CHOICES['maml-conv'])}")
    eager = torch.is_grad_enabled() and any(p.requires_grad for p in params.values())
    if not eager:  # no meta-gradient wanted (evaluation); the inner steps still need autograd
        params, first_order = {k: v.detach().requires_grad_() for k, v in params.items()}, True
    names = list(params)
    if layout not in (None, *LAYOUT_CHOICES):
        raise ValueError(f"layout={layout!r}; choose one of {', '.join(LAYOUT_CHOICES)}")
    channels_last = (layout or conv_layout(batch.support_x.device)) == "channels_last"

    def support_loss(p: Params, x: torch.Tensor, y: torch.Tensor, vmapped: bool) -> torch.Tensor:
        # Differentiated twice on second order: NCHW there (lab.nhwc's norms are differentiable once).
        once = first_order and not vmapped
        return F.cross_entropy(conv4_logits(p, x, blocks, last_pool, vmapped, channels_last and once), y)

    def sgd(p: Params, grads: Params | tuple) -> Params:
        g = grads if isinstance(grads, dict) else dict(zip(names, grads, strict=True))
        return {k: p[k] if g[k] is None else p[k] - inner_lr * (g[k].detach() if first_order else g[k])
                for k in names}

    if strategy == "vmap":
        def one_task(sx: torch.Tensor, sy: torch.Tensor, qx: torch.Tensor, qy: torch.Tensor):
            fast = params
            for _ in range(steps):
                fast = sgd(fast, grad(lambda p: support_loss(p, sx, sy, True))(fast))
            out = conv4_logits(fast, qx, blocks, last_pool, True)
            return F.cross_entropy(out, qy), out

        with torch.enable_grad():
            losses, logits = vmap(one_task)(batch.support_x, batch.support_y, batch.query_x, batch.query_y)
        if not eager:
            return losses.detach(), logits.detach()
        # As in the loop: every weight stays in the graph, an unused one (a conv bias before a norm) with gradient 0.
        return losses + 0.0 * sum((p - p.detach()).sum() for p in params.values()), logits

    shared_grads = None
    if strategy == "shared-support" and steps > 0:
        # Weights unbatched (in_dims None): under vmap the convolutions see one big batch of support images.
        # First order needs no graph back to the meta-weights (torch.func.grad differentiates inside anyway).
        with torch.no_grad() if first_order else contextlib.nullcontext():
            shared_grads = vmap(grad(lambda p, x, y: support_loss(p, x, y, True)), in_dims=(None, 0, 0))(
                params, batch.support_x, batch.support_y)
    keep_shared = shared_grads is not None and not first_order  # its graph serves every task's backward

    def run(tasks: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        with torch.enable_grad():
            return _task_loop(params, batch, tasks, steps, shared_grads, eager, keep_shared, not first_order,
                              support_loss, sgd, blocks, last_pool, channels_last)

    tasks = list(range(batch.n_tasks))
    workers = min(torch.get_num_threads(), len(tasks)) if strategy == "parallel-loop" else 1
    if workers > 1 and batch.support_x.device.type == "cpu":
        parts = [tasks[w::workers] for w in range(workers)]
        per_task = [None] * len(tasks)
        for part, results in zip(parts, _on_threads(run, parts), strict=True):
            for t, result in zip(part, results, strict=True):
                per_task[t] = result
    else:
        per_task = run(tasks)
    losses, logits = torch.stack([r[0] for r in per_task]), torch.stack([r[1] for r in per_task])
    return (losses, logits) if eager else (losses.detach(), logits.detach())


def _on_threads(fn: Callable[[list[int]], T], parts: list[list[int]]) -> list[T]:
    """Return ``[fn(part) for part in parts]``, computed on one thread per part with one torch thread each.

    torch's thread count is process-wide: it is set to 1 for the duration and restored after. Grad mode is
    per thread, so the caller's is carried over.
    """
    grad_mode, threads = torch.is_grad_enabled(), torch.get_num_threads()

    def work(part: list[int]) -> T:
        with torch.set_grad_enabled(grad_mode):
            return fn(part)

    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(len(parts)) as pool:
            return list(pool.map(work, parts))
    finally:
        torch.set_num_threads(threads)


def _in_layout_of(p: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
    """Return the gradient ``g`` of ``p`` (zeros if ``None``) with ``p``'s strides."""
    if g is None:
        return torch.zeros_like(p)
    return g if g.stride() == p.stride() else torch.empty_like(p).copy_(g)


def _task_loop(params: Params, batch: EpisodeBatch, tasks: list[int], steps: int, shared_grads: Params | None,
               eager: bool, keep_shared: bool, create_graph: bool, support_loss: Callable, sgd: Callable,
               blocks: list, last_pool: bool, channels_last: bool) -> list[tuple[torch.Tensor, torch.Tensor]]:
    names, leaves = list(params), list(params.values())
    per_task = []
    for t in tasks:
        sx, sy = batch.support_x[t], batch.support_y[t]
        fast = params
        for step in range(steps):
            if step == 0 and shared_grads is not None:
                fast = sgd(fast, {k: g[t] for k, g in shared_grads.items()})
                continue
            loss = support_loss(fast, sx, sy, False)
            fast = sgd(fast, torch.autograd.grad(loss, [fast[k] for k in names], create_graph=create_graph,
                                                 allow_unused=True))
        out = conv4_logits(fast, batch.query_x[t], blocks, last_pool, channels_last=channels_last)
        loss = F.cross_entropy(out, batch.query_y[t])
        if eager:
            grads = torch.autograd.grad(loss, leaves, retain_graph=keep_shared, allow_unused=True)
            # Every weight stays in the graph, an unused one (a conv bias before a norm) with gradient 0; each
            # gradient in its weight's memory layout (a channels_last pass returns its filters' so).
            loss = loss.detach() + sum(((p - p.detach()) * _in_layout_of(p, g)).sum()
                                       for p, g in zip(leaves, grads, strict=True))
            out = out.detach()
        per_task.append((loss, out))
    return per_task
