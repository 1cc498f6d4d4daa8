"""MAML and first-order MAML for few-shot image classification (Finn et al. 2017, section 5.2) on Conv4.

The inner loop is the one of :mod:`lab.learners.maml` (``torch.func.grad``, ``vmap`` over tasks); what is
specific to classification lives here:

* **One head for any number of ways.** The classifier's last layer starts every task as ``n_way`` copies
  of one learned weight vector and bias (the "UnicornMAML" initialisation of Ye & Chao, "How to Train Your
  MAML to Excel in Few-Shot Classification", ICLR 2022). The start is then the same for every class, so it
  cannot depend on how the episode's labels were shuffled, and a checkpoint trained with 5 ways also runs
  20-way episodes. The inner steps then pull each copy towards its class.
* **Normalisation** is a model option (``norm``): ``"batch"`` (statistics of each task's own images, in
  training and testing, as in the reference code) or ``"group"`` (per image). The choice and its numbers are
  in the issue note.

:meth:`MAMLClassifier.adapt_episode` records, per inner step, the support and query loss and the query
probabilities: the animation on the MAML page.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, grad_and_value, vmap

from lab.compute import task_strategy
from lab.learners.maml import AdaptationDiverged
from lab.nets import Conv4, Params
from lab.task_batching import conv_maml_losses
from lab.tasks.base import EpisodeBatch, check_positive


@dataclass
class MAMLImageConfig:
    """Hyper-parameters of MAML on images; defaults follow the paper's Omniglot set-up where it fits a CPU."""

    channels: int = 64  # Conv4 filters (paper: 64 for Omniglot)
    norm: str = "batch"  # see the module docstring
    inner_lr: float = 0.4  # alpha (paper, Omniglot: 0.4)
    inner_steps: int = 1  # steps while meta-training (paper, 5-way: 1)
    test_steps: int = 1  # steps at test time (paper: 3; here more steps than trained overshoot, see issue 3's note)
    first_order: bool = False  # True: FOMAML, no second derivatives
    extra: dict = field(default_factory=dict)  # free-form notes saved with the model

    def __post_init__(self) -> None:
        check_positive("inner_steps", self.inner_steps)
        check_positive("test_steps", self.test_steps, minimum=0)
        if not self.inner_lr > 0:
            raise ValueError(f"inner_lr={self.inner_lr} must be > 0")

    def to_dict(self) -> dict:
        """Return the config as a JSON-ready dict."""
        return asdict(self)


@dataclass
class ImageAdaptStep:
    """One recorded inner step on an image episode (step 0 is before any update)."""

    step: int
    support_loss: float
    query_loss: float
    query_probs: torch.Tensor  # [Q, N] softmax of the query logits, on the CPU
    query_accuracy: float


class MAMLClassifier(nn.Module):
    """Conv4 body plus one shared head row; meta-trained with (first-order) MAML across episodes."""

    kind = "maml"

    def __init__(self, config: MAMLImageConfig | None = None) -> None:
        super().__init__()
        self.config = config or MAMLImageConfig()
        self.body = Conv4(channels=self.config.channels, norm=self.config.norm)
        self.head_weight = nn.Parameter(torch.zeros(1, self.config.channels))
        self.head_bias = nn.Parameter(torch.zeros(1))

    def task_params(self, n_way: int) -> Params:
        """Return the starting fast weights of one ``n_way`` task: the body's and ``n_way`` head copies."""
        params = {f"body.{k}": v for k, v in self.body.named_parameters()}
        params["head.weight"] = self.head_weight.expand(n_way, -1)
        params["head.bias"] = self.head_bias.expand(n_way)
        return params

    def logits(self, params: Params, x: torch.Tensor) -> torch.Tensor:
        """Return logits ``[B, n_way]`` of images ``x [B, 1, H, W]`` under fast weights ``params``."""
        body = {k[5:]: v for k, v in params.items() if k.startswith("body.")}
        z = functional_call(self.body, body, (x,))
        return z @ params["head.weight"].T + params["head.bias"]

    def inner_adapt(self, params: Params, x: torch.Tensor, y: torch.Tensor, steps: int,
                    first_order: bool) -> Params:
        """Return fast weights after ``steps`` SGD steps of size ``inner_lr`` on one task's support set."""
        grad_fn = grad(lambda p: F.cross_entropy(self.logits(p, x), y))
        for _ in range(steps):
            grads = grad_fn(params)
            if first_order:
                grads = {k: g.detach() for k, g in grads.items()}
            params = {k: params[k] - self.config.inner_lr * grads[k] for k in params}
        return params

    def _task_query(self, sx, sy, qx, qy, n_way: int, steps: int, first_order: bool):
        adapted = self.inner_adapt(self.task_params(n_way), sx, sy, steps, first_order)
        logits = self.logits(adapted, qx)
        return F.cross_entropy(logits, qy), logits

    def loss(self, batch: EpisodeBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(mean query cross-entropy after inner_steps, query accuracy)`` over the tasks of ``batch``.

        How the tasks run together is :func:`lab.compute.task_strategy`'s choice for the device: the lean
        Conv4 passes of :mod:`lab.task_batching` (batch or no normalisation; every strategy, ``vmap``
        included), else ``vmap`` over this module's own forward (group or running-statistics norms).
        """
        c = self.config
        n_way = int(batch.support_y.max()) + 1
        if c.norm in ("batch", "none"):  # the lean Conv4 pass knows these two
            losses, logits = conv_maml_losses(self.task_params(n_way), batch, c.inner_steps, c.inner_lr,
                                              c.first_order, task_strategy("maml-conv", batch.support_x.device))
            return losses.mean(), (logits.argmax(-1) == batch.query_y).float().mean()
        losses, logits = vmap(lambda sx, sy, qx, qy: self._task_query(
            sx, sy, qx, qy, n_way, c.inner_steps, c.first_order))(
            batch.support_x, batch.support_y, batch.query_x, batch.query_y)
        return losses.mean(), (logits.argmax(-1) == batch.query_y).float().mean()

    def scores(self, batch: EpisodeBatch, steps: int | None = None) -> torch.Tensor:
        """Return query logits ``[T, Q, N]`` after ``steps`` (default ``test_steps``) inner steps per task."""
        steps = self.config.test_steps if steps is None else steps
        n_way = int(batch.support_y.max()) + 1
        params = {k: v.detach() for k, v in self.task_params(n_way).items()}

        def one(sx, sy, qx):
            adapted = self.inner_adapt(params, sx, sy, steps, first_order=True)
            return self.logits(adapted, qx)

        with torch.no_grad():  # torch.func.grad still differentiates inside
            return vmap(one)(batch.support_x, batch.support_y, batch.query_x)

    def adapt_episode(self, episode: EpisodeBatch, steps: int | None = None) -> list[ImageAdaptStep]:
        """Return one :class:`ImageAdaptStep` per inner step 0..``steps`` on the first task of ``episode``.

        Raises :class:`~lab.learners.maml.AdaptationDiverged` (a ``FloatingPointError``) carrying the steps
        recorded before the loss became NaN or infinite.
        """
        steps = self.config.test_steps if steps is None else steps
        check_positive("steps", steps, minimum=0)
        task = episode.task(0)
        sx, sy, qx, qy = task.support_x[0], task.support_y[0], task.query_x[0], task.query_y[0]
        n_way = int(sy.max()) + 1
        params = {k: v.detach() for k, v in self.task_params(n_way).items()}
        # One support pass per step gives both the loss recorded and the gradient of the step taken from it.
        grad_and_loss = grad_and_value(lambda p: F.cross_entropy(self.logits(p, sx), sy))
        trace = []
        for step in range(steps + 1):
            grads = None
            if step < steps:
                grads, s_loss_t = grad_and_loss(params)
            with torch.no_grad():
                if grads is None:
                    s_loss_t = F.cross_entropy(self.logits(params, sx), sy)
                s_loss = float(s_loss_t)
                q_logits = self.logits(params, qx)
                q_loss = float(F.cross_entropy(q_logits, qy))
            if not (torch.isfinite(torch.tensor([s_loss, q_loss])).all()):
                raise AdaptationDiverged(f"the loss became non-finite at inner step {step}: "
                                         f"inner_lr={self.config.inner_lr} diverges; lower it", trace)
            trace.append(ImageAdaptStep(step, s_loss, q_loss, q_logits.softmax(-1).cpu(),
                                        float((q_logits.argmax(-1) == qy).float().mean())))
            if grads is not None:
                params = {k: params[k] - self.config.inner_lr * grads[k] for k in params}
        return trace
