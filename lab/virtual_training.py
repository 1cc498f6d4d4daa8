"""Virtual-task meta-learning: a ProtoNet meta-trained on real tasks plus tasks dreamt up by a learned
generative model of characters (:class:`lab.learners.generative.CharacterVAE`), with a budget of real classes.

Generative-model-based meta-learning in its simplest working form: the generator captures the
distribution of characters from the few real classes there are, and each new class code it samples is a
class nobody has drawn — a *virtual task* is N such classes with a few drawings each. Optimised in turn,
every iteration:

1. **generator step** — the VAE's negative ELBO on sets of drawings of ``gen_batch`` real budget classes;
2. **learner step** — ProtoNet's loss on one real episode, plus ``virtual_weight`` times its loss on one
   virtual episode. Virtual drawings go through the same hand jitter as real ones; BatchNorm's running
   statistics (used at test time) are left to the real drawings.

Before that, ``gen_warmup`` generator-only steps: an untrained VAE dreams blobs, and virtual tasks of blobs
made the learner worse (measured: 93.3% against 95.3% real-only on glyphs with 20 classes when the VAE
learned only alongside the learner's 800 steps). The learner takes ``iterations`` steps in both arms.

Virtual class codes come from the prior (``sampler="prior"``) or recombine the class codes of the real
characters just replayed in the generator step (``"recombine"``: a random convex mix of two plus prior
noise; closer to the real classes, and the brain-link story of replay and recombination).
With ``pen`` the dreamt drawings, grey and blurred as a small VAE draws them, are thinned and re-inked as
thin pen lines (:mod:`lab.tasks.pen`) before the hand jitter: on Omniglot the largest single gain measured.

``real_classes`` picks that many training characters with ``budget_seed`` (0: all of them); on Omniglot
only unrotated characters count. ``virtual=False`` trains the real-only control on the very same
classes, seed and episodes. State is saved every ``checkpoint_every`` iterations; the same config resumes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from lab import resumable
from lab.checkpoint import save_checkpoint
from lab.compute import derive_seed, make_generator
from lab.learners.fewshot import evaluate_accuracy
from lab.learners.generative import CharacterVAE, CharacterVAEConfig, VAEOutput, sample_codes
from lab.learners.protonet import (
    ProtoNet,
    ProtoNetConfig,
    embed_batch,
    pairwise_distances,
    proto_logits,
    prototypes,
)
from lab.nets import load_params_, random_init
from lab.tasks.augment import AugmentedSource, HandJitter, jitter
from lab.tasks.base import EpisodeBatch, check_positive
from lab.tasks.episodes import FewShotFamily
from lab.tasks.pen import pen_strokes
from lab.tasks.splits import DATA_SOURCES, Split, data_split

SAMPLERS = ("prior", "recombine", "splice")


@dataclass
class VirtualTrainConfig:
    """Everything that determines a virtual-task run (and the real-only control with ``virtual=False``)."""

    data: str = "glyphs"  # glyphs | omniglot
    omniglot: str | None = None
    real_classes: int = 0  # training characters available (0: all)
    budget_seed: int = 0  # which characters make the budget; equal for both arms
    virtual: bool = True  # False: the real-only control
    iterations: int = 1500
    train_way: int = 20  # ways of real and virtual training episodes (at most real_classes for real ones)
    train_shot: int = 1
    train_query: int = 5
    virtual_weight: float = 0.5  # loss = real + virtual_weight * virtual
    gen_warmup: int = 2000  # generator-only steps first (cheap: an MLP on 80 drawings)
    gen_batch: int = 16  # real characters per generator step
    gen_drawings: int = 5  # drawings per character in a generator step (the VAE's set size)
    sampler: str = "recombine"
    temperature: float = 1.0  # prior noise scale of virtual class and style codes
    mix: int = 2  # "recombine": real class codes mixed into each virtual class code
    rotate: bool = False  # each virtual class turned by a random multiple of 90 degrees, as real ones are
    pen: bool = False  # dreamt drawings thinned and re-inked as pen lines (lab.tasks.pen)
    joint: bool = False  # virtual classes join the real episode as extra ways (else: an episode of their own)
    channels: int = 32  # ProtoNet Conv4 width: 4x cheaper than 64 and enough for a fair comparison
    lr: float = 1e-3
    lr_min: float = 1e-5
    gen_lr: float = 1e-3
    vae: dict[str, Any] = field(default_factory=dict)  # CharacterVAEConfig fields
    seed: int = 0
    checkpoint_every: int = 100

    def __post_init__(self) -> None:
        if self.data not in DATA_SOURCES:
            raise ValueError(f"data={self.data!r}; choose one of {DATA_SOURCES}")
        check_positive("real_classes", self.real_classes, minimum=0)
        for name in ("iterations", "train_shot", "train_query", "gen_batch", "gen_drawings", "channels",
                     "checkpoint_every", "mix"):
            check_positive(name, getattr(self, name))
        check_positive("train_way", self.train_way, minimum=2)
        check_positive("gen_warmup", self.gen_warmup, minimum=0)
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler={self.sampler!r}; choose one of {SAMPLERS}")
        for name in ("virtual_weight", "temperature", "lr", "gen_lr"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name}={value} must be a finite number > 0")
        CharacterVAEConfig(**self.vae)

    def card(self) -> dict[str, Any]:
        """Return the JSON-ready config (stored in checkpoint cards and the resume key)."""
        return asdict(self)


class BudgetSource:
    """A class source restricted to some of another source's classes (renumbered ``0..len(ids)-1``)."""

    def __init__(self, source, class_ids: list[int]) -> None:
        self.source = source
        self.ids = torch.tensor(class_ids, dtype=torch.long)
        self.name = source.name
        self.n_classes = len(class_ids)
        self.drawings_per_class = source.drawings_per_class

    def class_names(self, class_ids: torch.Tensor | list[int]) -> list[str]:
        """Return the wrapped source's names of these classes."""
        return self.source.class_names(self.ids[torch.as_tensor(class_ids, dtype=torch.long)].tolist())

    def drawings(self, class_ids: torch.Tensor, n_per_class: int, rng: torch.Generator) -> torch.Tensor:
        """Return the wrapped source's drawings ``[N, n_per_class, 1, H, W]`` of these classes."""
        return self.source.drawings(self.ids[class_ids.cpu()], n_per_class, rng)


def budget_class_ids(train_source, real_classes: int, budget_seed: int) -> list[int]:
    """Return the ids of the ``real_classes`` training characters of the budget (0: all), in a seeded order.

    Omniglot's rotated copies are not characters anyone drew, so only unrotated ids are candidates.
    Raises ``ValueError`` if the budget exceeds the characters there are or leaves fewer than 5.
    """
    n = getattr(train_source, "n_characters", train_source.n_classes)
    if real_classes > n:
        raise ValueError(f"real_classes={real_classes} but the training set has {n} characters; "
                         f"choose at most {n} (or 'all')")
    if 0 < real_classes < 5:
        raise ValueError(f"real_classes={real_classes}: a 5-way task needs at least 5 real classes")
    order = torch.rand(n, generator=make_generator(budget_seed)).argsort()
    return sorted(order[: real_classes or n].tolist())


def virtual_episode(generator: CharacterVAE, n_way: int, k_shot: int, n_query: int, rng: torch.Generator,
                    pool: torch.Tensor | None = None, temperature: float = 1.0,
                    sizes: HandJitter | None = None, mix: int = 2, rotate: bool = False,
                    splice: bool = False, pen: bool = False) -> EpisodeBatch:
    """Return one virtual episode (a task axis of 1): ``n_way`` new classes, ``k_shot + n_query`` drawings each.

    With ``pool`` (real class codes ``[P, Dc]``) each class code is a random convex mix of ``mix`` pool codes
    (two: a uniform weight; more: flat-Dirichlet weights) plus prior noise scaled by ``temperature / 2``;
    without it, a prior draw. With ``rotate`` each class is turned by its own random multiple of 90 degrees
    (all its drawings alike: a new class, as Omniglot's rotated training classes are). With ``splice`` each
    class's canonical drawing joins parts of two (see :func:`spliced_canon`). With ``pen`` the drawings are
    thinned and re-inked as pen lines (:func:`lab.tasks.pen.pen_strokes`). Drawings are jittered by
    ``sizes`` (default :class:`HandJitter`), as real training drawings are.
    """
    per = k_shot + n_query
    c, z = sample_codes(generator.config, n_way, per, rng, temperature)
    if pool is not None and len(pool) >= 2:
        if mix == 2:
            pick = torch.randint(len(pool), (n_way, 2), generator=rng, device=rng.device).to(pool.device)
            weight = torch.rand((n_way, 1), generator=rng, device=rng.device).to(pool.device)
            c = weight * pool[pick[:, 0]] + (1 - weight) * pool[pick[:, 1]] + 0.5 * c.to(pool.device)
        else:
            pick = torch.randint(len(pool), (n_way, mix), generator=rng, device=rng.device).to(pool.device)
            weight = -torch.rand((n_way, mix), generator=rng, device=rng.device).clamp_min(1e-12).log()
            weight = (weight / weight.sum(1, keepdim=True)).to(pool.device)
            c = (weight.unsqueeze(-1) * pool[pick]).sum(1) + 0.5 * c.to(pool.device)
    with torch.no_grad():
        if splice:
            images = generator.draw(spliced_canon(generator, c, rng).unsqueeze(1).expand(-1, per, -1, -1, -1),
                                    z.to(c.device))
        else:
            images = generator.decode(c.unsqueeze(1).expand(-1, per, -1), z.to(c.device))
    if pen:
        images = pen_strokes(images)
    if rotate:
        turns = torch.randint(4, (n_way,), generator=rng, device=rng.device).cpu()
        for r in range(1, 4):
            rows = (turns == r).nonzero().view(-1)
            if len(rows):
                images[rows] = torch.rot90(images[rows], r, dims=(-2, -1))
    images = jitter(images.reshape(-1, *images.shape[2:]), rng, sizes).view_as(images)
    support = images[:, :k_shot].reshape(1, n_way * k_shot, *images.shape[2:])
    query = images[:, k_shot:].reshape(1, n_way * n_query, *images.shape[2:])
    labels = torch.arange(n_way)
    return EpisodeBatch(support, labels.repeat_interleave(k_shot)[None], query,
                        labels.repeat_interleave(n_query)[None], {"virtual": True})


def spliced_canon(generator: CharacterVAE, codes: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Return canonical drawings ``[N, 1, S, S]`` of new characters made of parts of old ones: each joins the
    canonical drawing of its class code ``codes[i]`` on one side of a random line through the middle with
    that of another row's code on the other side (strokes recombined, not blended)."""
    n, s = len(codes), generator.config.image_size
    canon = torch.sigmoid(generator.canonical_logits(codes)).reshape(n, 1, s, s)
    other = torch.randint(n, (n,), generator=rng, device=rng.device).to(codes.device)
    angle = torch.rand(n, generator=rng, device=rng.device).to(codes.device) * 2 * math.pi
    axis = torch.linspace(-1, 1, s, device=codes.device)
    side = torch.cos(angle).view(n, 1, 1) * axis.view(1, 1, s) + torch.sin(angle).view(n, 1, 1) * axis.view(1, s, 1)
    mask = (side > 0).to(canon.dtype).unsqueeze(1)
    return mask * canon + (1 - mask) * canon[other]


@contextmanager
def real_statistics_only(model: torch.nn.Module) -> Iterator[None]:
    """Within the block, BatchNorm layers normalise by the batch as usual but leave their running statistics
    (what the model uses at test time) unchanged: momentum 0."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(norms, saved, strict=True):
            m.momentum = momentum


def joint_loss(learner: ProtoNet, real: EpisodeBatch, dream: EpisodeBatch,
               virtual_weight: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return ``(loss, real loss, virtual loss)`` of one episode whose ways are the real episode's classes plus
    the virtual episode's: every query is classified among all prototypes, so dreamt classes are distractors
    for real queries and real classes for dreamt ones. Loss = real + ``virtual_weight`` * virtual (mean
    cross-entropies). Real drawings are embedded in their own pass (BatchNorm statistics as usual), dreamt
    ones in another that leaves the running statistics alone."""
    n_real = int(real.support_y.max()) + 1
    n_dream = int(dream.support_y.max()) + 1
    rs, rq = embed_batch(learner.encoder, real.support_x, real.query_x)
    with real_statistics_only(learner):
        ds, dq = embed_batch(learner.encoder, dream.support_x, dream.query_x)
    protos = torch.cat([prototypes(rs, real.support_y, n_real), prototypes(ds, dream.support_y, n_dream)], 1)
    c = learner.config
    logits = proto_logits(pairwise_distances(torch.cat([rq, dq], 1), protos, c.distance), c.distance,
                          c.cosine_scale)[0]
    labels = torch.cat([real.query_y[0], dream.query_y[0] + n_real])
    n = rq.shape[1]
    real_loss = F.cross_entropy(logits[:n], labels[:n])
    dream_loss = F.cross_entropy(logits[n:], labels[n:])
    return real_loss + virtual_weight * dream_loss, real_loss, dream_loss


@dataclass
class VirtualTrainResult:
    """The trained learner (and generator, ``None`` for the real-only arm), the training curve and facts."""

    learner: ProtoNet
    generator: CharacterVAE | None
    curve: list[tuple[int, float, float, float]]  # (iteration, real loss, virtual loss or nan, vae loss or nan)
    iterations: int
    wall_s: float
    stopped: bool


def train_virtual(config: VirtualTrainConfig, run_dir: Path | str | None = None, out: Path | str | None = None,
                  on_progress: Callable[[int, dict[str, float]], bool | None] | None = None,
                  log_every: int = 50, kind: str = "virtual_protonet", split: Split | None = None) -> VirtualTrainResult:
    """Train one arm of the virtual-task experiment; return the result, saving ``<out>.{pt,json}`` (the
    learner, checkpoint ``kind``) and ``<out>_generator.{pt,json}`` if ``out`` is given.

    ``split`` replaces the data set's train/test split (e.g. a validation split of its training alphabets,
    :func:`lab.tasks.splits.validation_split`); the budget is drawn from its training characters.

    ``on_progress(iteration, means)`` is called every ``log_every`` iterations; returning ``False`` stops
    (the resumable state is saved, no final checkpoint).
    """
    rng = make_generator(config.seed)
    split = split or data_split(config.data, config.omniglot)
    ids = budget_class_ids(split.train, config.real_classes, config.budget_seed)
    real = AugmentedSource(BudgetSource(split.train, ids))
    family = FewShotFamily(real, min(config.train_way, len(ids)), config.train_shot, config.train_query)
    learner = ProtoNet(ProtoNetConfig(channels=config.channels))
    load_params_(learner, random_init(learner, derive_seed(rng)))
    generator = CharacterVAE(CharacterVAEConfig(**config.vae)) if config.virtual else None
    gen_rng = make_generator(derive_seed(rng))  # its own stream: the real episodes match the control's
    if generator is not None:
        load_params_(generator, random_init(generator, derive_seed(gen_rng)))
    opt = torch.optim.Adam(learner.parameters(), lr=config.lr)
    gen_opt = torch.optim.Adam(generator.parameters(), lr=config.gen_lr) if generator is not None else None
    key = resumable.resume_key(config.card())
    name = f"virtual_{config.data}_{config.real_classes or 'all'}_{'virtual' if config.virtual else 'real'}"
    paths = resumable.state_paths(run_dir, name, key) if run_dir is not None else None
    start, curve, wall_before = 0, [], 0.0
    saved = resumable.load_state(paths, key) if paths else None
    if saved is not None:
        learner.load_state_dict(saved["learner"])
        opt.load_state_dict(saved["opt"])
        if generator is not None:
            generator.load_state_dict(saved["generator"])
            gen_opt.load_state_dict(saved["gen_opt"])
            gen_rng.set_state(saved["gen_rng"])
        rng.set_state(saved["rng"])
        start, wall_before = int(saved["iteration"]), float(saved["wall_s"])
        curve = [tuple(row) for row in saved["curve"].tolist()]
    t0 = time.perf_counter()

    def snapshot(iteration: int) -> None:
        if paths is not None:
            state = {"learner": learner.state_dict(), "opt": opt.state_dict(), "rng": rng.get_state(),
                     "iteration": iteration, "wall_s": wall_before + time.perf_counter() - t0,
                     "curve": torch.tensor(curve, dtype=torch.float64).view(-1, 4)}
            if generator is not None:
                state.update(generator=generator.state_dict(), gen_opt=gen_opt.state_dict(),
                             gen_rng=gen_rng.get_state())
            resumable.save_state(paths, key, state)

    def generator_step(lr: float) -> VAEOutput:
        for group in gen_opt.param_groups:
            group["lr"] = lr
        picks = torch.randint(len(ids), (config.gen_batch,), generator=gen_rng)
        vae = generator(real.drawings(picks, config.gen_drawings, gen_rng), gen_rng)
        gen_opt.zero_grad(set_to_none=True)
        vae.loss.backward()
        gen_opt.step()
        return vae

    if generator is not None and saved is None:
        warm: list[float] = []
        for step in range(1, config.gen_warmup + 1):  # progress reports here carry negative iteration numbers
            warm.append(generator_step(config.gen_lr).loss.item())
            if on_progress is not None and step % (4 * log_every) == 0:
                on_progress(-step, {"real": float("nan"), "virtual": float("nan"), "vae": sum(warm) / len(warm)})
                warm.clear()
        snapshot(0)
    learner.train()
    sums: dict[str, list[float]] = {"real": [], "virtual": [], "vae": []}
    stopped, it = False, start
    for it in range(start + 1, config.iterations + 1):
        pool = None
        if generator is not None:
            vae = generator_step(resumable.cosine_lr(config.gen_lr, config.lr_min, it - 1, config.iterations))
            sums["vae"].append(vae.loss.item())
            pool = vae.class_mean.detach() if config.sampler != "prior" else None
        for group in opt.param_groups:
            group["lr"] = resumable.cosine_lr(config.lr, config.lr_min, it - 1, config.iterations)
        episode = family.sample(rng, 1)
        if generator is None:
            loss, _ = learner.loss(episode)
            sums["real"].append(loss.item())
        else:
            generator.eval()
            dream = virtual_episode(generator, config.train_way, config.train_shot, config.train_query, gen_rng,
                                    pool, config.temperature, mix=config.mix, rotate=config.rotate,
                                    splice=config.sampler == "splice", pen=config.pen)
            generator.train()
            if config.joint:
                loss, r_loss, v_loss = joint_loss(learner, episode, dream, config.virtual_weight)
            else:
                r_loss, _ = learner.loss(episode)
                with real_statistics_only(learner):
                    v_loss, _ = learner.loss(dream)
                loss = r_loss + config.virtual_weight * v_loss
            sums["real"].append(r_loss.item())
            sums["virtual"].append(v_loss.item())
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss.item()} at iteration {it}; lower the learning rate")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if it % log_every == 0 or it == config.iterations:
            means = {k: (sum(v) / len(v) if v else float("nan")) for k, v in sums.items()}
            curve.append((it, means["real"], means["virtual"], means["vae"]))
            for v in sums.values():
                v.clear()
            if on_progress is not None and on_progress(it, means) is False:
                stopped = True
        if stopped or it % config.checkpoint_every == 0:
            snapshot(it)
        if stopped:
            break
    wall = wall_before + time.perf_counter() - t0
    if out is not None and not stopped:
        extra = {"iterations": it, "wall_s": round(wall, 1), "split": split.description, "real_class_ids": ids,
                 "curve": [list(row) for row in curve], "threads": torch.get_num_threads()}
        save_checkpoint(out, learner.state_dict(), {**config.card(), "net": learner.config.to_dict()},
                        kind, extra)
        if generator is not None:
            save_checkpoint(f"{out}_generator", generator.state_dict(),
                            {**config.card(), "net": generator.config.to_dict()}, CharacterVAE.kind, extra)
    return VirtualTrainResult(learner, generator, curve, it, wall, stopped)


def evaluate_learner(learner: ProtoNet, data: str, episodes: int = 600, seed: int = 0, omniglot: str | None = None,
                     n_way: int = 5, k_shot: int = 1, n_query: int = 15, split: Split | None = None) -> dict[str, Any]:
    """Return ``{"mean", "ci95", "n", "accuracies"}``: ``n_way``-way ``k_shot``-shot accuracy on held-out
    classes of ``data`` (of ``split`` if given), episodes drawn from ``seed`` (equal seeds: equal episodes
    for every learner)."""
    family = FewShotFamily((split or data_split(data, omniglot)).test, n_way, k_shot, n_query)
    return evaluate_accuracy(learner.scores, family, episodes, make_generator(seed), batch_size=25)
