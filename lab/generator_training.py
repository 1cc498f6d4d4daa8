"""Training the class/style VAE (:mod:`lab.learners.generative`) alone, as for the checkpoint the Virtual
tasks page ships (``python -m lab pretrain --only virtual-glyphs``).

Each step draws ``batch`` training characters of the budget, ``drawings`` jittered drawings of each
(:mod:`lab.tasks.augment`: more hands than the source has), and takes an Adam step on the negative ELBO
with a cosine learning rate. Resumable every ``checkpoint_every`` steps; all randomness from ``seed``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from lab import resumable
from lab.checkpoint import save_checkpoint
from lab.compute import derive_seed, make_generator
from lab.learners.generative import CharacterVAE, CharacterVAEConfig, latent_variation
from lab.nets import load_params_, random_init
from lab.tasks.augment import AugmentedSource
from lab.tasks.base import check_positive
from lab.tasks.splits import DATA_SOURCES, data_split
from lab.virtual_training import BudgetSource, budget_class_ids

# What sampling needs: the class code's decoder and the style code's hand (not the encoder, which only infers
# codes from real drawings during training): the shipped file keeps these (about half the weights).
SAMPLING_PARTS = ("decoder.", "hand.")


@dataclass
class GeneratorTrainConfig:
    """What :func:`train_generator` trains; stored in the checkpoint card."""

    data: str = "glyphs"
    omniglot: str | None = None
    # Training characters it may see (0: all). 20, not all 1 600: trained on all of them (or on 50, with hidden
    # 128) it dreamt blurred blobs at every temperature we tried; on a budget of 20 it dreams crisp characters
    # between those it saw, as the experiment's generators do. 20 is also the experiment's smallest budget.
    real_classes: int = 20
    budget_seed: int = 0
    iterations: int = 2500
    batch: int = 16  # characters per step
    drawings: int = 5  # drawings per character (the set the class code is inferred from)
    lr: float = 1e-3
    lr_min: float = 1e-4
    vae: dict[str, Any] = field(default_factory=dict)  # the experiment's VAE; shipped without its encoder
    seed: int = 0
    checkpoint_every: int = 250

    def __post_init__(self) -> None:
        if self.data not in DATA_SOURCES:
            raise ValueError(f"data={self.data!r}; choose one of {DATA_SOURCES}")
        for name in ("iterations", "batch", "drawings", "checkpoint_every"):
            check_positive(name, getattr(self, name))
        CharacterVAEConfig(**self.vae)

    def card(self) -> dict[str, Any]:
        """Return the JSON-ready config."""
        return asdict(self)


def train_generator(config: GeneratorTrainConfig, out: Path | str | None = None, run_dir: Path | str | None = None,
                    on_progress: Callable[[int, float], bool | None] | None = None, log_every: int = 100,
                    half: bool = False, sampling_only: bool = False) -> tuple[CharacterVAE, dict[str, Any]]:
    """Train the VAE; return ``(model, extra)`` where ``extra`` holds the loss curve and the measured
    class/style variation; save ``<out>.{pt,json}`` (float16 weights if ``half``; only the parts that draw,
    :data:`SAMPLING_PARTS`, if ``sampling_only``) when ``out`` is given."""
    rng = make_generator(config.seed)
    split = data_split(config.data, config.omniglot)
    ids = budget_class_ids(split.train, config.real_classes, config.budget_seed)
    source = AugmentedSource(BudgetSource(split.train, ids))
    model = CharacterVAE(CharacterVAEConfig(**config.vae))
    load_params_(model, random_init(model, derive_seed(rng)))
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    key = resumable.resume_key(config.card())
    paths = resumable.state_paths(run_dir, f"generator_{config.data}_seed{config.seed}", key) if run_dir else None
    saved = resumable.load_state(paths, key) if paths else None
    start, curve, wall_before = 0, [], 0.0
    if saved is not None:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        rng.set_state(saved["rng"])
        start, wall_before, curve = int(saved["iteration"]), float(saved["wall_s"]), saved["curve"].tolist()
    t0 = time.perf_counter()
    losses: list[float] = []
    it = start
    for it in range(start + 1, config.iterations + 1):
        for group in opt.param_groups:
            group["lr"] = resumable.cosine_lr(config.lr, config.lr_min, it - 1, config.iterations)
        picks = torch.randint(len(ids), (config.batch,), generator=rng)
        out_ = model(source.drawings(picks, config.drawings, rng), rng)
        opt.zero_grad(set_to_none=True)
        out_.loss.backward()
        opt.step()
        losses.append(out_.loss.item())
        stop = False
        if it % log_every == 0 or it == config.iterations:
            curve.append([it, sum(losses) / len(losses)])
            losses.clear()
            stop = on_progress is not None and on_progress(it, curve[-1][1]) is False
        if paths is not None and (stop or it % config.checkpoint_every == 0):
            resumable.save_state(paths, key, {"model": model.state_dict(), "opt": opt.state_dict(),
                                              "rng": rng.get_state(), "iteration": it,
                                              "wall_s": wall_before + time.perf_counter() - t0,
                                              "curve": torch.tensor(curve, dtype=torch.float64).view(-1, 2)})
        if stop:
            break
    model.eval()
    extra = {"iterations": it, "wall_s": round(wall_before + time.perf_counter() - t0, 1),
             "split": split.description, "curve": curve, "float16": half, "sampling_only": sampling_only,
             "threads": torch.get_num_threads(),
             "latent_variation": latent_variation(model, make_generator(config.seed + 1))}
    if out is not None and it == config.iterations:
        state = {k: v.half() if half and v.is_floating_point() else v for k, v in model.state_dict().items()
                 if not sampling_only or k.startswith(SAMPLING_PARTS)}
        save_checkpoint(out, state, {**config.card(), "net": model.config.to_dict()}, CharacterVAE.kind, extra)
    return model, extra


def load_generator(stem: Path | str) -> tuple[CharacterVAE, dict[str, Any]]:
    """Return ``(model in eval mode, card)`` of a generator checkpoint (float16 weights become float32)."""
    from lab.checkpoint import check_state_matches, load_checkpoint

    state, meta = load_checkpoint(stem, CharacterVAE.kind)
    model = CharacterVAE(CharacterVAEConfig(**meta["config"]["net"]))
    if meta.get("extra", {}).get("sampling_only"):  # the encoder was left out: check and load the rest
        full = model.state_dict()
        check_state_matches(_Parts({k: v for k, v in full.items() if k.startswith(SAMPLING_PARTS)}), state, stem)
        model.load_state_dict({**full, **{k: v.float() for k, v in state.items()}})
    else:
        check_state_matches(model, state, stem)
        model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval(), meta


class _Parts:
    """A stand-in with a ``state_dict`` of some of a model's tensors (for :func:`check_state_matches`)."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        self._state = state

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self._state
