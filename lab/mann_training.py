"""Training the MANN and its LSTM baseline on episodes of glyphs or Omniglot (:func:`train_mann`).

Each iteration draws ``batch`` episodes of ``n_classes`` training classes (Omniglot drawings hand-jittered
by :mod:`lab.tasks.augment` when ``augment`` is on; glyph drawings are new every time anyway), takes one
Adam step (cosine-decayed rate) on the mean cross-entropy over every step of every episode, with the gradient norm clipped at
``clip`` (recurrent nets with an external memory have rare, huge gradients). Every ``eval_every``
iterations it measures accuracy at the 1st, 2nd and 10th instance on a fixed set of held-out episodes,
recording ``(iteration, wall seconds, acc@1, acc@2, acc@10)``; the curve is reported, not used to pick a
checkpoint. Every ``checkpoint_every`` iterations a resumable state goes to ``run_dir``; the same config
started again continues from it, and with a constant rate (``lr_min == lr``) so does the same config with
more iterations. All randomness comes from ``seed``.

For a conv encoder (``net["encoder"] == "conv"``, not in the paper) two more settings: ``encoder_warmup``
first iterations in which only the encoder learns, classifying every image of the episode batch into the
training set's classes through a linear head (:class:`FeatureClassifier`, not saved with the model), and
``encoder_lr``, the encoder's share of the rate afterwards; ``aux_weight`` keeps that classification loss
beside the MANN's. Without them a conv encoder trained from scratch left the MANN on its initial plateau.
``warmup_loss="prototypes"`` replaces that classification by a prototypical loss (Snell et al. 2017) over the
batch: each image against the mean features of every training class in the batch (its own class's mean
leaving the image out), the task the memory then does on new alphabets.

``net["encoder"] == "conv4"`` with ``encoder_from`` starts from a trained ProtoNet's Conv4 instead, centred on
the training drawings' mean features (:mod:`lab.learners.mann_encoders`); frozen (``encoder_lr=0``) it runs in
test mode, and ``feature_views`` then serves its features from a table computed once
(:mod:`lab.tasks.feature_cache`). ``feature_dropout`` drops a share of the features on MANN steps
(:func:`lab.mann_features.drop_features`), of the table's or of the encoder's output through a hook.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lab.checkpoint import load_checkpoint, save_checkpoint
from lab.compute import derive_seed, make_generator
from lab.learners.mann import MANNConfig, build_mann, correct_steps, episode_loss
from lab.learners.mann_encoders import center_features_, load_protonet_encoder_
from lab.mann_eval import MANN_KINDS, instance_accuracies, run_batches
from lab.mann_features import WARMUP_LOSSES, FeatureClassifier, drop_features
from lab.nets import load_params_, random_init, test_mode
from lab.resumable import cosine_lr, load_state, resume_key, save_state, state_paths
from lab.tasks.augment import AugmentedSource, HandJitter
from lab.tasks.base import check_positive
from lab.tasks.feature_cache import EncodedSource
from lab.tasks.mann_episodes import MANNTaskFamily
from lab.tasks.mirror import MirroredSource
from lab.tasks.splits import DATA_SOURCES, VALIDATION, Split, data_split, validation_split

CURVE_INSTANCES = (1, 2, 10)


@dataclass
class MANNTrainConfig:
    """Everything that determines a MANN training run (and so its checkpoint)."""

    learner: str = "mann"  # mann | mann-lstm
    data: str = "glyphs"  # glyphs | omniglot
    omniglot: str | None = None  # Omniglot path (see lab.tasks.splits); None: the default copy
    net: dict[str, Any] = field(default_factory=dict)  # MANNConfig fields (n_classes, memory_slots, gamma...)
    episode_length: int = 50  # the paper: 50 steps for 5 classes, 100 for 15
    batch: int = 16  # episodes per Adam step
    iterations: int = 3000
    lr: float = 1e-3
    lr_min: float = 1e-4  # cosine schedule from lr down to lr_min; lr_min = lr: constant, and a run can be extended
    decay_iterations: int = 0  # > 0: the rate stays at lr, then cosine-decays to lr_min over this many last iterations
    clip: float = 10.0  # gradient-norm clipping
    augment: bool = True  # hand jitter of Omniglot training drawings (glyphs need none)
    aux_weight: float = 0.0  # > 0: add this times a training-class cross-entropy on the conv features (see below)
    encoder_warmup: int = 0  # first iterations: train only the conv encoder, classifying the training characters
    encoder_lr: float = 1.0  # after the warm-up the encoder learns at this times the rate (0: frozen)
    warmup_loss: str = "classes"  # the encoder's own loss (warm-up, aux_weight): classes | prototypes
    init_from: str | None = None  # a checkpoint stem of the same learner to start from (e.g. one trained on glyphs)
    encoder_from: str | None = None  # a ProtoNet checkpoint stem whose Conv4 becomes the encoder (encoder="conv4")
    feature_views: int = 0  # > 0: the frozen encoder's features of this many jittered views per drawing, computed once
    feature_dropout: float = 0.0  # > 0: drop this share of each training image's features (MANN steps, not the warm-up)
    same_alphabet: float = 0.0  # share of training episodes drawn within one alphabet (lab.tasks.mann_episodes)
    mirror: bool = False  # add every training character mirrored as another class (lab.tasks.mirror; Omniglot)
    validate: str | None = None  # a name in lab.tasks.splits.VALIDATION: train and measure on that split instead
    seed: int = 0
    eval_every: int = 250
    eval_episodes: int = 200
    checkpoint_every: int = 50

    def __post_init__(self) -> None:
        if self.learner not in MANN_KINDS:
            raise ValueError(f"learner={self.learner!r}; choose one of {MANN_KINDS}")
        if self.data not in DATA_SOURCES:
            raise ValueError(f"data={self.data!r}; choose one of {DATA_SOURCES}")
        for name in ("episode_length", "batch", "iterations", "eval_every", "eval_episodes", "checkpoint_every"):
            check_positive(name, getattr(self, name))
        if not (math.isfinite(self.aux_weight) and self.aux_weight >= 0):
            raise ValueError(f"aux_weight={self.aux_weight} must be finite and >= 0")
        if not (math.isfinite(self.encoder_lr) and self.encoder_lr >= 0):
            raise ValueError(f"encoder_lr={self.encoder_lr} must be finite and >= 0")
        if not (isinstance(self.encoder_warmup, int) and self.encoder_warmup >= 0):
            raise ValueError(f"encoder_warmup={self.encoder_warmup!r} must be a whole number >= 0")
        if self.warmup_loss not in WARMUP_LOSSES:
            raise ValueError(f"warmup_loss={self.warmup_loss!r}; choose one of {WARMUP_LOSSES}")
        if (self.aux_weight > 0 or self.encoder_warmup > 0 or self.encoder_lr != 1
                or self.warmup_loss != "classes") and self.net.get("encoder", "pixels") == "pixels":
            raise ValueError("aux_weight, encoder_warmup, encoder_lr and warmup_loss train the conv encoder; "
                             "they need encoder='conv' or 'conv4'")
        encoder = self.net.get("encoder", "pixels")
        if self.encoder_from is not None and encoder != "conv4":
            raise ValueError(f"encoder_from={self.encoder_from!r} loads a ProtoNet's Conv4; it needs encoder='conv4'")
        if self.encoder_from is not None and self.data != "omniglot":
            raise ValueError(f"encoder_from={self.encoder_from!r} centres the features on the training drawings, "
                             f"a fixed set only Omniglot has; it needs data='omniglot'")
        if not (isinstance(self.feature_views, int) and self.feature_views >= 0):
            raise ValueError(f"feature_views={self.feature_views!r} must be a whole number >= 0")
        if self.feature_views and (encoder == "pixels" or self.encoder_lr != 0 or self.encoder_warmup
                                   or self.aux_weight or self.data != "omniglot"):
            raise ValueError("feature_views computes the encoder's features once, so the encoder must be frozen: "
                             "it needs a conv encoder, encoder_lr=0, no encoder_warmup, no aux_weight and "
                             "data='omniglot' (glyph drawings are new every time)")
        if not (math.isfinite(self.feature_dropout) and 0 <= self.feature_dropout < 1):
            raise ValueError(f"feature_dropout={self.feature_dropout} must be in [0, 1)")
        if self.feature_dropout and self.net.get("encoder", "pixels") == "pixels":
            raise ValueError("feature_dropout drops parts of the encoder's features: it needs a conv encoder")
        if not (math.isfinite(self.same_alphabet) and 0 <= self.same_alphabet <= 1):
            raise ValueError(f"same_alphabet={self.same_alphabet} is a share of episodes: give a number in [0, 1]")
        if self.validate is not None and (self.data != "omniglot" or self.validate not in VALIDATION):
            raise ValueError(f"validate={self.validate!r} needs data='omniglot' and one of {', '.join(VALIDATION)}")
        if self.mirror and self.data != "omniglot":
            raise ValueError("mirror adds the mirrored training characters as classes; only data='omniglot' has a "
                             "fixed set of characters (glyph classes are new every time)")
        if self.same_alphabet and self.data != "omniglot":
            raise ValueError(f"same_alphabet={self.same_alphabet} draws episodes within one alphabet; only "
                             f"data='omniglot' has alphabets")
        n_classes = self.net.get("n_classes", MANNConfig.n_classes)
        if self.warmup_loss == "prototypes" and self.episode_length < 2 * n_classes:
            raise ValueError(f"warmup_loss='prototypes' compares each image with the other drawings of its class: "
                             f"episode_length={self.episode_length} must show each of {n_classes} classes twice "
                             f"(>= {2 * n_classes})")
        if not (self.lr > 0 and math.isfinite(self.lr) and 0 <= self.lr_min <= self.lr and self.clip > 0):
            raise ValueError(f"lr={self.lr}, lr_min={self.lr_min}, clip={self.clip}: need lr and clip finite "
                             f"and > 0, 0 <= lr_min <= lr")
        if not (isinstance(self.decay_iterations, int) and 0 <= self.decay_iterations <= self.iterations):
            raise ValueError(f"decay_iterations={self.decay_iterations!r} must be a whole number from 0 to "
                             f"iterations={self.iterations}")
        if self.decay_iterations and self.lr_min == self.lr:
            raise ValueError(f"decay_iterations={self.decay_iterations} decays the rate to lr_min, but lr_min = lr = "
                             f"{self.lr:g}; give a smaller lr_min (e.g. {self.lr / 100:g})")
        MANNConfig(**self.net)  # validates the net's fields

    @property
    def constant_until(self) -> int:
        """Return the last iteration run at the full rate ``lr``: ``iterations - decay_iterations`` with a late
        decay, ``iterations`` for a constant rate, 0 for a cosine over the whole run."""
        if self.decay_iterations:
            return self.iterations - self.decay_iterations
        return self.iterations if self.lr_min == self.lr else 0

    def rate(self, iteration: int) -> float:
        """Return the rate of (1-based) ``iteration``: a cosine from ``lr`` to ``lr_min`` over the whole run, or
        over its last ``decay_iterations`` after a constant ``lr``."""
        if not self.decay_iterations:
            return cosine_lr(self.lr, self.lr_min, iteration - 1, self.iterations)
        return cosine_lr(self.lr, self.lr_min, max(0, iteration - 1 - self.constant_until), self.decay_iterations)

    def constant_card(self) -> dict[str, Any]:
        """Return the card of the constant-rate run this one follows up to :attr:`constant_until` (no
        ``iterations``, ``lr_min = lr``, no ``decay_iterations``): its resumable states are this run's too."""
        card = self.card()
        card["lr_min"] = self.lr
        card.pop("iterations")
        card.pop("decay_iterations", None)
        return card

    def card(self) -> dict[str, Any]:
        """Return the JSON-ready config stored in the checkpoint card (``aux_weight``, ``init_from``,
        ``encoder_warmup``, ``encoder_lr``, ``warmup_loss``, ``decay_iterations``, ``encoder_from``,
        ``feature_views``, ``feature_dropout``, ``same_alphabet``, ``mirror`` and ``validate`` only when not their
        defaults, so the resume keys of runs made before they existed still match)."""
        card = asdict(self)
        for name, default in (("aux_weight", 0.0), ("init_from", None), ("encoder_warmup", 0), ("encoder_lr", 1.0),
                              ("warmup_loss", "classes"), ("decay_iterations", 0), ("encoder_from", None),
                              ("feature_views", 0), ("feature_dropout", 0.0), ("same_alphabet", 0.0),
                              ("mirror", False), ("validate", None)):
            if card[name] == default:
                card.pop(name)
        return card


@dataclass
class MANNProgress:
    """A progress report: iterations done of ``total``, recent mean loss and accuracy, seconds so far, and
    the held-out accuracy by instance ``{1: .., 2: .., 10: ..}`` when just measured."""

    iteration: int
    total: int
    loss: float
    accuracy: float
    elapsed_s: float
    held_out: dict[int, float] | None = None


@dataclass
class MANNTrainResult:
    """The trained model, the held-out curve ``[(iteration, wall_s, acc@1, acc@2, acc@10)]`` and run facts."""

    model: torch.nn.Module
    curve: list[tuple[float, ...]]
    iterations: int
    wall_s: float
    stopped: bool
    paths: tuple[Path, Path] | None = None


def config_split(config: MANNTrainConfig) -> Split:
    """Return the data split ``config`` trains on: its validation split with ``validate``, else its data's."""
    if config.validate:
        return validation_split(config.validate, config.omniglot)
    return data_split(config.data, config.omniglot)


def families(config: MANNTrainConfig, net: MANNConfig, encoder: nn.Module | None = None
             ) -> tuple[MANNTaskFamily, MANNTaskFamily, str]:
    """Return ``(training family, held-out family, split description)`` for ``config``; with
    ``config.feature_views`` the training family draws ``encoder``'s features (:class:`EncodedSource`, built
    here with its own seed, in test mode) instead of images."""
    split = config_split(config)
    train = MirroredSource(split.train) if config.mirror else split.train
    if config.feature_views:
        jitter_sizes = HandJitter() if config.augment else None
        with test_mode(encoder) as frozen:
            source = EncodedSource(train, frozen, net.image_size, config.feature_views,
                                   make_generator(derive_seed(make_generator(config.seed + 2))), jitter_sizes)
    elif config.augment and config.data == "omniglot":
        source = AugmentedSource(train)
    else:
        source = train
    shape = (net.n_classes, config.episode_length, net.label_mode, net.image_size)
    return (MANNTaskFamily(source, *shape, same_alphabet=config.same_alphabet), MANNTaskFamily(split.test, *shape),
            split.description)


def train_mann(config: MANNTrainConfig, out: Path | str | None = None, run_dir: Path | str | None = "runs",
               on_progress: Callable[[MANNProgress], bool | None] | None = None, log_every: int = 25,
               device: torch.device | str = "cpu", half: bool = False,
               init_from: Path | str | None = None) -> MANNTrainResult:
    """Train one MANN (or LSTM baseline); save ``<out>.{pt,json}`` if ``out`` (a stem) is given; return the result.

    ``on_progress`` is called every ``log_every`` iterations and after each held-out measurement; returning
    ``False`` stops training (the resumable state is saved, the final checkpoint is not). ``half`` stores the
    final weights as float16 (half the size; used for the shipped checkpoints). ``init_from`` (default
    ``config.init_from``) starts from the weights of a checkpoint of the same learner (e.g. the glyph MANN,
    then Omniglot); it is recorded in the card's ``extra`` and, when it comes from the config, in the resume key.
    """
    init_from = config.init_from if init_from is None else init_from
    rng = make_generator(config.seed)
    model = build_mann(config.learner, config.net)
    load_params_(model, random_init(model, derive_seed(rng)))
    zeros = getattr(model, "zero_init_names", ())
    with torch.no_grad():
        for name in zeros:
            model.get_parameter(name).zero_()
    if init_from is not None:
        state, _ = load_checkpoint(init_from, config.learner)
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        older = {k: v for k, v in shapes.items() if k not in zeros}  # a checkpoint made before those existed
        if {k: tuple(v.shape) for k, v in state.items()} not in (shapes, older):
            raise ValueError(f"init_from {init_from} holds another network than this run's net options "
                             f"{config.net}; start from a checkpoint trained with the same ones")
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=set(state) == set(shapes))
    if config.encoder_from is not None and init_from is None:
        protonet_state, _ = load_checkpoint(config.encoder_from, "protonet")
        load_protonet_encoder_(model, protonet_state, config.encoder_from)
        train_source = config_split(config).train
        first_drawings = torch.stack([train_source.class_images(c)[0] for c in range(train_source.n_classes)])
        center_features_(model, F.adaptive_avg_pool2d(first_drawings, model.config.image_size))
    model.to(device)
    family, held_out, description = families(config, model.config, model.encoder)
    eval_seed = derive_seed(make_generator(config.seed + 1))
    aux = None
    if config.aux_weight > 0 or config.encoder_warmup > 0:
        aux = FeatureClassifier(model, family.source.n_classes, config.warmup_loss)
        load_params_(aux, random_init(aux, derive_seed(rng)))
        aux.to(device)
    encoder = list(model.encoder.parameters()) if config.encoder_lr != 1 else []
    rest = [p for p in model.parameters() if all(p is not q for q in encoder)] + list(aux.parameters() if aux else [])
    groups = [{"params": rest, "scale": 1.0}] + ([{"params": encoder, "scale": config.encoder_lr}] if encoder else [])
    optimizer = torch.optim.Adam(groups, lr=config.lr)
    # A constant rate: a longer run passes through a shorter one's states. A late decay: the run passes through
    # the constant run's states up to constant_until, so those are saved (and looked for) under its key.
    constant_key = resume_key(config.constant_card())
    key = constant_key if config.lr_min == config.lr else resume_key(config.card())
    name = f"{config.learner}_{config.data}_seed{config.seed}"
    paths = state_paths(run_dir, name, key) if run_dir else None
    constant_paths = state_paths(run_dir, name, constant_key) if run_dir else None
    start, curve, wall_before = 0, [], 0.0
    saved = load_state(paths, key, device) if paths else None
    constant_ahead = False  # a constant run went past where this one starts decaying: start afresh, keep its state
    if saved is None and config.decay_iterations and constant_paths:
        saved = load_state(constant_paths, constant_key, device)
        if saved is not None and int(saved["iteration"]) > config.constant_until:
            saved, constant_ahead = None, True
    if saved is not None:
        model.load_state_dict(saved["model"])
        if aux is not None:
            aux.load_state_dict(saved["aux"])
        optimizer.load_state_dict(saved["optimizer"])
        rng.set_state(saved["rng"].cpu())
        start, wall_before = int(saved["iteration"]), float(saved["wall_s"])
        curve = [tuple(float(v) for v in row) for row in saved["curve"].tolist()]
    t0 = time.perf_counter()

    def wall() -> float:
        return wall_before + time.perf_counter() - t0

    def snapshot(iteration: int) -> None:
        if paths is not None:
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "rng": rng.get_state(),
                     "iteration": iteration, "wall_s": wall(),
                     "curve": torch.tensor(curve, dtype=torch.float64).view(-1, 2 + len(CURVE_INSTANCES))}
            if aux is not None:
                state["aux"] = aux.state_dict()
            in_constant = config.decay_iterations and iteration <= config.constant_until and not constant_ahead
            save_state(*((constant_paths, constant_key) if in_constant else (paths, key)), state)

    def measure(iteration: int) -> dict[int, float]:
        correct, inst = run_batches(model, held_out, config.eval_episodes, make_generator(eval_seed), device=device)
        shown = [min(k, held_out.per_class) for k in CURVE_INSTANCES]  # short episodes: the last sight instead
        by_k = instance_accuracies(correct, inst, tuple(sorted(set(shown))))
        accs = {k: float(by_k[j].mean()) for k, j in zip(CURVE_INSTANCES, shown, strict=True)}
        curve.append((iteration, round(wall(), 2), *accs.values()))
        return accs

    if start == 0 and not curve:
        measure(0)
    dropping = [False]  # whether this step's encoder output is to be dropped (set per step, read by the hook)

    def drop_output(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        if dropping[0] and torch.is_grad_enabled():  # training steps only, not the held-out checks
            return drop_features(output, config.feature_dropout, model.config.feature_norm, rng)
        return output

    # after the FeatureClassifier's hook, so that its loss sees the features as they are
    hook = model.encoder.register_forward_hook(drop_output) if config.feature_dropout and model.encoder else None
    model.train()
    losses, accs, stopped, it = [], [], False, start
    for it in range(start + 1, config.iterations + 1):
        warming = it <= config.encoder_warmup
        for group in optimizer.param_groups:
            group["lr"] = config.rate(it) * (1.0 if warming else group.get("scale", 1.0))
        if config.encoder_lr == 0 and not warming and model.encoder is not None:
            model.encoder.eval()  # frozen means frozen: its BatchNorm statistics would drift in training mode
        batch = family.sample(rng, config.batch).to(device)
        dropping[0] = bool(config.feature_dropout) and not warming
        if dropping[0] and batch.images.dim() == 3:  # cached features; images: the hook drops the encoder's output
            batch.images = drop_features(batch.images, config.feature_dropout, model.config.feature_norm, rng)
        if warming:  # the encoder alone, on the training-class loss (the MANN's weights get no gradient)
            model.encoder(batch.images.flatten(0, 1))
            loss, right = aux.loss(batch), aux.correct(batch)
        else:
            trace = model(batch)
            loss, right = episode_loss(trace, batch), correct_steps(trace, batch)
            if aux is not None and config.aux_weight > 0:
                loss = loss + config.aux_weight * aux.loss(batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss.item()} at iteration {it} with --lr {config.lr:g}; "
                                     f"lower --lr (e.g. {config.lr / 10:g}); the last snapshot is kept")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
        losses.append(loss.item())
        accs.append(float(right.float().mean()))
        measured = measure(it) if it % config.eval_every == 0 or it == config.iterations else None
        if on_progress is not None and (it % log_every == 0 or measured is not None):
            report = MANNProgress(it, config.iterations, sum(losses) / len(losses), sum(accs) / len(accs),
                                  wall(), measured)
            losses.clear(), accs.clear()
            if on_progress(report) is False:
                stopped = True
        if stopped or it % config.checkpoint_every == 0 or it == config.iterations:
            snapshot(it)
        if stopped:
            break
    if aux is not None:
        aux.detach()
    if hook is not None:
        hook.remove()
    dropping[0] = False
    result = MANNTrainResult(model, curve, it, wall(), stopped)
    if out is not None and not stopped:
        card = config.card()
        card["net"] = model.config.to_dict()
        extra = {"iterations": it, "wall_s": round(wall(), 1), "split": description, "curve_instances":
                 list(CURVE_INSTANCES), "held_out_curve": [list(row) for row in curve],
                 "threads": torch.get_num_threads(), "float16": half,
                 "init_from": str(init_from) if init_from is not None else None}
        state = {k: v.half() if half and v.is_floating_point() else v for k, v in model.state_dict().items()}
        result.paths = save_checkpoint(out, state, card, config.learner, extra)
    return result
