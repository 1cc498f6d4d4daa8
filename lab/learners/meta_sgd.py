"""Meta-SGD: MAML with a learned inner learning rate for every parameter.

Li, Zhou, Chen & Li, "Meta-SGD: Learning to Learn Quickly for Few-Shot Learning", arXiv:1707.09835 (2017).
The inner step is ``theta' = theta - alpha * grad`` with ``alpha`` a tensor shaped like ``theta`` (element-wise
product), and ``alpha`` is meta-learned together with the initialisation ``theta``: the sign and size of
every parameter's step become part of what is learned.

Everything but the rates is MAML's own code (:mod:`lab.learners.maml`): its inner loop and its vectorized
meta-loss take a dict of per-parameter rates where MAML passes one number, so Meta-SGD with every rate equal
to ``alpha`` *is* MAML with ``inner_lr = alpha`` (tested exactly). :class:`MetaSGDModel` holds the backbone and
the rates (one ``nn.Module``, so its state dict saves as one checkpoint); :class:`MetaSGD` meta-trains it;
``learn_rates=False`` freezes the rates, which is plain MAML trained by the very same loop (the control of
the Meta-SGD vs MAML comparison).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from lab.learners.maml import LOSSES, Adaptation, adapt, evaluate_init, meta_loss
from lab.nets import Params
from lab.tasks.base import EpisodeBatch, check_positive


@dataclass
class MetaSGDConfig:
    """Hyper-parameters of Meta-SGD; defaults follow the paper's sinusoid set-up where it gives them."""

    inner_steps: int = 1  # paper: one adaptation step
    rate_init: tuple[float, float] = (0.005, 0.1)  # paper: alpha initialised uniformly in this range
    meta_lr: float = 1e-3  # Adam on the initialisation and the rates
    meta_batch: int = 25  # tasks per meta-update (MAML's sinusoid value)
    learn_rates: bool = True  # False: rates stay at rate_init[0] (MAML with inner_lr = that value)
    loss: str = "mse"

    def __post_init__(self) -> None:
        check_positive("inner_steps", self.inner_steps)
        check_positive("meta_batch", self.meta_batch)
        lo, hi = self.rate_init
        if not 0 < lo <= hi:
            raise ValueError(f"rate_init={self.rate_init} must satisfy 0 < low <= high")
        if self.loss not in LOSSES:
            raise ValueError(f"loss={self.loss!r}; choose one of {sorted(LOSSES)}")

    def to_dict(self) -> dict:
        """Return the config as a JSON-ready dict."""
        return {**asdict(self), "rate_init": list(self.rate_init)}


class MetaSGDModel(nn.Module):
    """A backbone ``net`` and one rate tensor per parameter of it (``rates.<i>`` follows ``net``'s order)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.rates = nn.ParameterList(nn.Parameter(torch.zeros_like(p)) for p in net.parameters())

    def params(self) -> Params:
        """Return the live initialisation ``{name: tensor}`` of the backbone."""
        return dict(self.net.named_parameters())

    def rate_dict(self) -> Params:
        """Return the live per-parameter rates keyed like :meth:`params`."""
        return dict(zip(self.params(), self.rates, strict=True))

    def fill_rates_(self, rng: torch.Generator, low: float, high: float) -> MetaSGDModel:
        """Draw every rate uniformly from ``[low, high]`` with ``rng``, in place; return ``self``."""
        with torch.no_grad():
            for r in self.rates:
                r.copy_(low + (high - low) * torch.rand(r.shape, generator=rng))
        return self


class MetaSGD:
    """Meta-trains a :class:`MetaSGDModel`: Adam on the initialisation and (unless frozen) the rates."""

    def __init__(self, model: MetaSGDModel, config: MetaSGDConfig | None = None) -> None:
        self.config = config or MetaSGDConfig()
        self.model = model
        self.loss_fn = LOSSES[self.config.loss]
        trained = list(model.net.parameters()) + (list(model.rates) if self.config.learn_rates else [])
        for r in model.rates:
            r.requires_grad_(self.config.learn_rates)
        self.optimizer = torch.optim.Adam(trained, lr=self.config.meta_lr)

    def meta_loss(self, batch: EpisodeBatch) -> torch.Tensor:
        """Return the mean query loss over ``batch`` after adapting with the learned rates (differentiable)."""
        return meta_loss(self.model.net, self.model.params(), batch, self.config.inner_steps,
                         self.model.rate_dict(), self.loss_fn).mean()

    def meta_step(self, batch: EpisodeBatch) -> dict[str, float]:
        """Take one meta-update on ``batch``; return ``{"meta_loss": float}`` (the loss before the update)."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.meta_loss(batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"meta-loss became {loss.item()} with meta_lr {self.config.meta_lr:g}; lower meta_lr "
                                     "or the initial rates")
        loss.backward()
        self.optimizer.step()
        return {"meta_loss": loss.item()}


def adapt_meta_sgd(model: MetaSGDModel, support_x: torch.Tensor, support_y: torch.Tensor, steps: int,
                   query_x: torch.Tensor | None = None, query_y: torch.Tensor | None = None,
                   eval_x: torch.Tensor | None = None, loss: str = "mse") -> Adaptation:
    """Adapt ``model`` to one task with its learned rates; return MAML's recorded :class:`Adaptation`."""
    rates = {k: v.detach() for k, v in model.rate_dict().items()}
    return adapt(model.net, model.params(), support_x, support_y, steps, rates, loss, query_x, query_y, eval_x)


def evaluate_meta_sgd(model: MetaSGDModel, family, n_episodes: int, steps: int, rng: torch.Generator,
                      loss: str = "mse") -> dict[str, float]:
    """Return ``{"mean", "ci95", "n"}`` of the query loss after ``steps`` steps with the learned rates."""
    rates = {k: v.detach() for k, v in model.rate_dict().items()}
    return evaluate_init(model.net, model.params(), family, n_episodes, steps, rates, rng, loss)


def rate_summary(model: MetaSGDModel) -> dict[str, dict[str, float]]:
    """Return, per parameter tensor, the mean, min, max of its rates and the share of negative ones."""
    out = {}
    for name, r in model.rate_dict().items():
        r = r.detach().float()
        out[name] = {"mean": float(r.mean()), "min": float(r.min()), "max": float(r.max()),
                     "negative": float((r < 0).float().mean())}
    return out
