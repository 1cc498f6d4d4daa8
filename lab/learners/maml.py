"""Model-Agnostic Meta-Learning (MAML) and its first-order variant (FOMAML).

Finn, Abbeel & Levine, "Model-Agnostic Meta-Learning for Fast Adaptation of Deep Networks", ICML 2017.

The maths is written as pure functions of a parameter dict, in the style of the ``torch.func`` MAML
examples: :func:`inner_adapt` takes ``steps`` gradient steps on the support set with ``torch.func.grad``;
:func:`task_query_loss` is the query loss after adaptation; :func:`meta_loss` averages it over the task
axis, vectorized with ``torch.func.vmap`` (or a per-task loop, ``vectorized=False``). Second-order MAML
differentiates through the inner gradients; first-order MAML treats them as constants.

:func:`adapt` is the same inner loop run for display: it records every step (losses, predictions on a grid,
the flat parameter vector) so the pages can draw the fit, the loss curve and the path in parameter space.
:class:`MAML` is the thin stateful wrapper: meta-parameters, an Adam meta-optimizer, ``meta_step``,
``adapt`` and ``evaluate``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from lab.compute import task_strategy
from lab.nets import Params, flatten_params
from lab.task_batching import mlp_layers, stacked_mlp_losses
from lab.tasks.base import EpisodeBatch, check_positive

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LOSSES: dict[str, LossFn] = {"mse": F.mse_loss, "cross_entropy": F.cross_entropy}


@dataclass
class MAMLConfig:
    """Hyper-parameters of MAML; defaults are the paper's sinusoid set-up."""

    inner_lr: float = 0.01  # alpha: step size of the task-specific SGD steps (paper: 0.01 for sinusoids)
    inner_steps: int = 1  # gradient steps per task during meta-training (paper: 1 for sinusoids)
    first_order: bool = False  # True drops second derivatives (FOMAML)
    meta_lr: float = 1e-3  # beta: Adam step size for the meta-parameters (paper: 1e-3)
    meta_batch: int = 25  # tasks per meta-update (paper: 25 for sinusoids)
    loss: str = "mse"  # "mse" for regression, "cross_entropy" for classification

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss={self.loss!r}; choose one of {sorted(LOSSES)}")
        check_positive("meta_batch", self.meta_batch)
        check_positive("inner_steps", self.inner_steps, minimum=0)
        if not self.inner_lr > 0 or not self.meta_lr > 0:
            raise ValueError(f"inner_lr={self.inner_lr} and meta_lr={self.meta_lr} must be > 0")

    def to_dict(self) -> dict:
        """Return the config as a JSON-ready dict."""
        return asdict(self)


def support_loss(net: nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> torch.Tensor:
    """Return the scalar loss of ``net`` with ``params`` on inputs ``x`` and targets ``y``."""
    return loss_fn(functional_call(net, params, (x,)), y)


InnerLR = float | Params  # one step size, or one per parameter entry (Meta-SGD, lab.learners.meta_sgd)


def sgd_step(params: Params, grads: Params, inner_lr: InnerLR) -> Params:
    """Return ``params - inner_lr * grads``; ``inner_lr`` is one number or a dict of per-parameter rate tensors."""
    if isinstance(inner_lr, dict):
        return {k: params[k] - inner_lr[k] * grads[k] for k in params}
    return {k: params[k] - inner_lr * grads[k] for k in params}


def inner_adapt(net: nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor, steps: int, inner_lr: InnerLR,
                loss_fn: LossFn, first_order: bool = False) -> Params:
    """Return the parameters after ``steps`` SGD steps on ``(x, y)`` (one task, no task axis).

    Gradients come from ``torch.func.grad`` and stay differentiable for an outer ``backward`` unless
    ``first_order`` is set.
    """
    grad_fn = grad(lambda p: support_loss(net, p, x, y, loss_fn))
    for _ in range(steps):
        grads = grad_fn(params)
        if first_order:
            grads = {k: g.detach() for k, g in grads.items()}
        params = sgd_step(params, grads, inner_lr)
    return params


def task_query_loss(net: nn.Module, params: Params, support_x: torch.Tensor, support_y: torch.Tensor,
                    query_x: torch.Tensor, query_y: torch.Tensor, steps: int, inner_lr: InnerLR,
                    loss_fn: LossFn, first_order: bool = False) -> torch.Tensor:
    """Return the query loss of one task after adapting ``params`` on its support set."""
    adapted = inner_adapt(net, params, support_x, support_y, steps, inner_lr, loss_fn, first_order)
    return support_loss(net, adapted, query_x, query_y, loss_fn)


def meta_loss(net: nn.Module, params: Params, batch: EpisodeBatch, steps: int, inner_lr: InnerLR,
              loss_fn: LossFn, first_order: bool = False, vectorized: bool = True,
              strategy: str | None = None) -> torch.Tensor:
    """Return the per-task query losses ``[tasks]`` after adaptation; its mean is MAML's meta-objective.

    ``vectorized=False`` is the per-task loop (the reference). Otherwise ``strategy`` ("stacked", "vmap" or
    "loop"; default :func:`lab.compute.task_strategy` for the device) says how the tasks run together;
    "stacked" applies to Linear/ReLU nets and falls back to "vmap" for others. All give the same numbers.
    """
    def one(sx, sy, qx, qy):
        return task_query_loss(net, params, sx, sy, qx, qy, steps, inner_lr, loss_fn, first_order)

    if vectorized:
        strategy = strategy or task_strategy("maml-mlp", batch.support_x.device)
        if strategy == "stacked" and mlp_layers(net) is not None:
            return stacked_mlp_losses(net, params, batch, steps, inner_lr, loss_fn, first_order)
        vectorized = strategy != "loop"
    if vectorized:
        return vmap(one)(batch.support_x, batch.support_y, batch.query_x, batch.query_y)
    return torch.stack([one(batch.support_x[t], batch.support_y[t], batch.query_x[t], batch.query_y[t])
                        for t in range(batch.n_tasks)])


class AdaptationDiverged(FloatingPointError):
    """The inner loop's loss became NaN or infinite; ``trace`` holds the steps recorded before it did."""

    def __init__(self, message: str, trace: list[AdaptStep]):
        super().__init__(message)
        self.trace = trace


@dataclass
class AdaptStep:
    """What happened at one inner step (step 0 is before any update)."""

    step: int
    support_loss: float
    query_loss: float | None
    params: torch.Tensor  # flat parameter vector, detached, on the CPU
    predictions: torch.Tensor | None  # outputs on ``eval_x``, detached, on the CPU


@dataclass
class Adaptation:
    """The result of :func:`adapt`: final parameters and, when recorded, one :class:`AdaptStep` per step."""

    params: Params
    trace: list[AdaptStep] = field(default_factory=list)

    def losses(self, which: str = "query") -> list[float | None]:
        """Return the support or query loss at every recorded step."""
        return [s.query_loss if which == "query" else s.support_loss for s in self.trace]


def adapt(net: nn.Module, params: Params, support_x: torch.Tensor, support_y: torch.Tensor, steps: int,
          inner_lr: InnerLR, loss: str = "mse", query_x: torch.Tensor | None = None,
          query_y: torch.Tensor | None = None, eval_x: torch.Tensor | None = None,
          record: bool = True) -> Adaptation:
    """Adapt ``params`` to one task (no task axis) by ``steps`` SGD steps and return an :class:`Adaptation`.

    With ``record`` the trace holds steps 0..``steps``: support loss, query loss (if a query set is given),
    predictions on ``eval_x`` (if given) and the flat parameters. Nothing here is differentiable; it is the
    display path. Raises :class:`AdaptationDiverged` (a ``FloatingPointError``) carrying the finite steps
    recorded so far if the support or query loss becomes NaN or infinite (a diverging ``inner_lr``).
    """
    check_positive("steps", steps, minimum=0)
    loss_fn = LOSSES[loss]
    params = {k: v.detach() for k, v in params.items()}
    grad_fn = grad(lambda p: support_loss(net, p, support_x, support_y, loss_fn))
    trace: list[AdaptStep] = []

    def record_step(step: int, current: Params) -> None:
        with torch.no_grad():
            s_loss = float(support_loss(net, current, support_x, support_y, loss_fn))
            q_loss = None if query_x is None else float(support_loss(net, current, query_x, query_y, loss_fn))
            preds = None if eval_x is None else functional_call(net, current, (eval_x,)).cpu()
        # The query loss can overflow a step before the support loss does; either ends the trace.
        for which, value in (("support", s_loss), ("query", q_loss)):
            if value is not None and not math.isfinite(value):
                lr = "the learned rates" if isinstance(inner_lr, dict) else f"inner_lr={inner_lr}"
                raise AdaptationDiverged(f"the {which} loss became {value} at inner step {step}: "
                                         f"{lr} diverges; lower it", trace)
        trace.append(AdaptStep(step, s_loss, q_loss, flatten_params(current).cpu(), preds))

    if record:
        record_step(0, params)
    for step in range(1, steps + 1):
        params = sgd_step(params, grad_fn(params), inner_lr)
        if record:
            record_step(step, params)
    return Adaptation(params, trace)


def mean_ci95(values: torch.Tensor) -> tuple[float, float]:
    """Return the mean of ``values`` and the half-width of its 95% confidence interval (Student's t).

    The half-width is ``t_{0.975, n-1} * s / sqrt(n)``; with fewer than 2 values it is ``nan`` (no spread to
    estimate).
    """
    values = values.double().flatten()
    n = values.numel()
    if n == 0:
        raise ValueError("no values to average")
    if n < 2:
        return float(values.mean()), math.nan
    from scipy.stats import t as student_t  # imported here: scipy.stats takes ~0.5 s to import

    half = float(student_t.ppf(0.975, n - 1)) * float(values.std(unbiased=True)) / math.sqrt(n)
    return float(values.mean()), half


class MAML:
    """Holds the meta-parameters of ``net`` and meta-trains them with Adam."""

    def __init__(self, net: nn.Module, config: MAMLConfig | None = None, device: torch.device | str = "cpu"):
        self.config = config or MAMLConfig()
        self.device = torch.device(device)
        self.net = net.to(self.device)
        self.loss_fn = LOSSES[self.config.loss]
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.config.meta_lr)

    @property
    def params(self) -> Params:
        """Return the live meta-parameters (``nn.Parameter`` tensors) as a dict."""
        return dict(self.net.named_parameters())

    def meta_loss(self, batch: EpisodeBatch, vectorized: bool = True) -> torch.Tensor:
        """Return the mean query loss over ``batch`` after adaptation (differentiable w.r.t. ``params``)."""
        c = self.config
        batch = batch.to(self.device)
        return meta_loss(self.net, self.params, batch, c.inner_steps, c.inner_lr, self.loss_fn,
                         c.first_order, vectorized).mean()

    def meta_step(self, batch: EpisodeBatch) -> dict[str, float]:
        """Take one meta-update on ``batch``; return ``{"meta_loss": float}`` (the loss before the update)."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.meta_loss(batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"meta-loss became {loss.item()} with inner_lr {self.config.inner_lr:g} and meta_lr "
                                     f"{self.config.meta_lr:g}; lower inner_lr or meta_lr")
        loss.backward()
        self.optimizer.step()
        return {"meta_loss": loss.item()}

    def adapt(self, episode: EpisodeBatch, steps: int | None = None, inner_lr: float | None = None,
              eval_x: torch.Tensor | None = None, record: bool = True) -> Adaptation:
        """Adapt the meta-parameters to the first task of ``episode``; see :func:`adapt`."""
        task = episode.task(0).to(self.device)
        return adapt(self.net, self.params, task.support_x[0], task.support_y[0],
                     self.config.inner_steps if steps is None else steps,
                     self.config.inner_lr if inner_lr is None else inner_lr, self.config.loss,
                     task.query_x[0], task.query_y[0], eval_x, record)

    def evaluate(self, family, n_episodes: int, steps: int, rng: torch.Generator,
                 inner_lr: float | None = None, batch_size: int = 100) -> dict[str, float]:
        """Return mean query loss after ``steps`` inner steps over ``n_episodes`` fresh tasks, with its ci95."""
        return evaluate_init(self.net, self.params, family, n_episodes, steps,
                             self.config.inner_lr if inner_lr is None else inner_lr, rng, self.config.loss,
                             batch_size)


def evaluate_init(net: nn.Module, params: Params, family, n_episodes: int, steps: int, inner_lr: InnerLR,
                  rng: torch.Generator, loss: str = "mse", batch_size: int = 100) -> dict[str, float]:
    """Return ``{"mean", "ci95", "n"}`` of the query loss after fine-tuning ``params`` for ``steps`` steps.

    Works for any starting point (MAML's, a pretrained net's, a random one), so baselines are measured
    by the very same code.
    """
    check_positive("n_episodes", n_episodes)
    loss_fn = LOSSES[loss]
    params = {k: v.detach() for k, v in params.items()}
    device = next(iter(params.values())).device
    losses = []
    done = 0
    while done < n_episodes:
        batch = family.sample(rng, min(batch_size, n_episodes - done)).to(device)
        with torch.no_grad():
            per_task = vmap(lambda sx, sy, qx, qy: task_query_loss(
                net, params, sx, sy, qx, qy, steps, inner_lr, loss_fn, first_order=True))(
                batch.support_x, batch.support_y, batch.query_x, batch.query_y)
        losses.append(per_task.cpu())
        done += batch.n_tasks
    mean, ci95 = mean_ci95(torch.cat(losses))
    return {"mean": mean, "ci95": ci95, "n": n_episodes}
