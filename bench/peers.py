"""The libraries people would otherwise use for MAML, each doing one meta-iteration the way its docs show.

Used by :mod:`bench.meta_step`. Each ``*_meta_loss(model, batch, steps, inner_lr, first_order, loss_fn)``
returns the mean query loss over the tasks of ``batch`` after ``steps`` inner SGD steps and leaves its
meta-gradient in the parameters' ``.grad``, taking each task's backward inside the task loop as the three
libraries' MAML examples do (one task's graph in memory at a time). The harness adds the Adam step.

* learn2learn 0.2.0: ``MAML(model).clone()`` and ``adapt(loss)`` per task. Its package ``__init__`` imports
  torchvision (which does not load beside the CPU torch here), so :func:`load_learn2learn_maml` loads
  ``learn2learn/algorithms/maml.py`` under stub parent packages.
* higher 0.2.1: ``innerloop_ctx(model, SGD)`` per task, ``diffopt.step(loss)``.
* TorchOpt 0.7.3: its functional optimizer ``torchopt.sgd`` with ``apply_updates`` on a parameter dict and
  ``torch.func.functional_call``.

``available()`` says which loaded and, for the others, why not (``bash bench/install_peers.sh`` installs them).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from lab.tasks.base import EpisodeBatch

PeerLoss = Callable[[nn.Module, EpisodeBatch, int, float, bool, Callable], float]


def load_learn2learn_maml() -> types.ModuleType:
    """Return ``learn2learn.algorithms.maml`` without running learn2learn's package ``__init__``."""
    if "learn2learn.algorithms.maml" in sys.modules:
        return sys.modules["learn2learn.algorithms.maml"]
    spec = importlib.util.find_spec("learn2learn")  # finds the package without executing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("learn2learn is not installed (bash bench/install_peers.sh)")
    root = Path(next(iter(spec.submodule_search_locations)))
    for name, folder in (("learn2learn", root), ("learn2learn.algorithms", root / "algorithms")):
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.__path__ = [str(folder)]
            sys.modules[name] = stub
    return importlib.import_module("learn2learn.algorithms.maml")


def learn2learn_meta_loss(model: nn.Module, batch: EpisodeBatch, steps: int, inner_lr: float, first_order: bool,
                          loss_fn: Callable) -> float:
    """learn2learn: ``clone()`` the wrapped model per task, ``adapt`` on the support set, query loss."""
    maml = load_learn2learn_maml().MAML(model, lr=inner_lr, first_order=first_order)
    total = 0.0
    for t in range(batch.n_tasks):
        learner = maml.clone()
        for _ in range(steps):
            learner.adapt(loss_fn(learner(batch.support_x[t]), batch.support_y[t]))
        query = loss_fn(learner(batch.query_x[t]), batch.query_y[t]) / batch.n_tasks
        query.backward()
        total += query.item()
    return total


def higher_meta_loss(model: nn.Module, batch: EpisodeBatch, steps: int, inner_lr: float, first_order: bool,
                     loss_fn: Callable) -> float:
    """higher: a differentiable SGD inner loop per task in ``innerloop_ctx``."""
    import higher

    inner_opt = torch.optim.SGD(model.parameters(), lr=inner_lr)
    total = 0.0
    for t in range(batch.n_tasks):
        with higher.innerloop_ctx(model, inner_opt, copy_initial_weights=False,
                                  track_higher_grads=not first_order) as (fmodel, diffopt):
            for _ in range(steps):
                diffopt.step(loss_fn(fmodel(batch.support_x[t]), batch.support_y[t]))
            query = loss_fn(fmodel(batch.query_x[t]), batch.query_y[t]) / batch.n_tasks
            if first_order:  # the query gradient at the adapted weights, added to the starting weights'
                grads = torch.autograd.grad(query, list(fmodel.parameters()))
                for p, g in zip(model.parameters(), grads, strict=True):
                    p.grad = g if p.grad is None else p.grad + g
            else:
                query.backward()
            total += query.item()
    return total


def torchopt_meta_loss(model: nn.Module, batch: EpisodeBatch, steps: int, inner_lr: float, first_order: bool,
                       loss_fn: Callable) -> float:
    """TorchOpt: ``torchopt.sgd`` as a functional optimizer over a parameter dict, ``functional_call``."""
    import torchopt

    inner = torchopt.sgd(lr=inner_lr)
    start = dict(model.named_parameters())
    total = 0.0
    for t in range(batch.n_tasks):
        params, state = start, inner.init(start)
        for _ in range(steps):
            loss = loss_fn(functional_call(model, params, (batch.support_x[t],)), batch.support_y[t])
            grads = torch.autograd.grad(loss, list(params.values()), create_graph=not first_order)
            updates, state = inner.update(dict(zip(params, grads, strict=True)), state, inplace=False)
            params = torchopt.apply_updates(params, updates, inplace=False)
        query = loss_fn(functional_call(model, params, (batch.query_x[t],)), batch.query_y[t]) / batch.n_tasks
        query.backward()
        total += query.item()
    return total


PEERS: dict[str, tuple[str, PeerLoss]] = {
    "learn2learn": ("learn2learn", learn2learn_meta_loss),
    "higher": ("higher", higher_meta_loss),
    "torchopt": ("torchopt", torchopt_meta_loss),
}


def available() -> dict[str, str | None]:
    """Return ``{peer: None if it loads, else why not}``."""
    out: dict[str, str | None] = {}
    for name, (module, _) in PEERS.items():
        try:
            load_learn2learn_maml() if module == "learn2learn" else importlib.import_module(module)
            out[name] = None
        except Exception as exc:  # noqa: BLE001 - any failure to load is reported, the benchmark goes on
            out[name] = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
    return out


class PeerConv4(nn.Module):
    """The W2 model as a peer user would write it: Conv4 with ``nn.BatchNorm2d`` on batch statistics
    (``track_running_stats=False``, as in learn2learn's Omniglot CNN) and a linear head. Parameter names
    match ours (``body.encoder.i.0`` conv, ``body.encoder.i.1`` norm, ``head``)."""

    def __init__(self, channels: int = 64, n_way: int = 5) -> None:
        super().__init__()
        from lab.nets import Conv4

        self.body = Conv4(channels=channels, norm="none")
        for block in self.body.encoder[:4]:
            block[1] = nn.BatchNorm2d(channels, track_running_stats=False)
        self.head = nn.Linear(channels, n_way)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Return the mean cross-entropy (the W2 loss; a named function so every implementation shares it)."""
    return F.cross_entropy(logits, labels)
