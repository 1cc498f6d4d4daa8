"""The Memory page's compute: one MANN episode with every read and write recorded, and accuracy by instance.

:func:`memory_demo` runs a trained MANN on one held-out episode drawn with a seed and returns a
:class:`MemoryDemo`: the images with their true and delayed labels, the predictions, the write and read
weights over memory slots at every step, the usage vector, and for every step the *link*: among the slots
holding an earlier step's write, the one the heads read most, and the earlier step whose write put most
of that slot's content there (writes since the slot was last wiped). At a class's second sight the link
should point back to its first sight (or the step after it, when the label arrived and was bound there).

Memory slots and the usage decay gamma are run-time settings (the weights do not depend on them), so the
page can shrink the memory or speed up forgetting of a trained model; read heads and the label width are
fixed by the weights. :func:`instance_curve` measures accuracy by instance over many episodes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lab.checkpoint import CheckpointError, read_card
from lab.compute import derive_seed, guarded, make_generator
from lab.home import scan_models
from lab.learners.maml import mean_ci95
from lab.learners.mann import MANN
from lab.mann_eval import INSTANCES, baseline_stem, instance_accuracies, run_batches, shipped_mann_path
from lab.tasks.episodes import ClassSource
from lab.tasks.mann_episodes import MANNEpisodes, MANNTaskFamily

MAX_INSTANCES = 15  # instances per class the page offers (Omniglot has 20 drawings per character)


@dataclass
class MemoryDemo:
    """One episode of ``T`` steps as the MANN saw it (``R`` read heads, ``N`` memory slots)."""

    n_classes: int
    seed: int
    images: np.ndarray  # [T, S, S], ink 1 on 0
    labels: np.ndarray  # [T] true episode label
    delayed: np.ndarray  # [T] the label shown with the image (the previous step's), -1 at t = 0
    predictions: np.ndarray  # [T]
    instance: np.ndarray  # [T] 1 = first sight of this class
    class_names: list[str]  # [n_classes] the data set's name of each episode label
    read_weights: np.ndarray  # [T, R, N]
    write_weights: np.ndarray  # [T, R, N]
    usage: np.ndarray  # [T, N] after each step
    wiped: np.ndarray  # [T] slot wiped before each step's write
    read_slot: np.ndarray  # [T] slot with the most read weight (summed over heads)
    writer: np.ndarray  # [T] step that wrote most of read_slot's content, -1 if none

    @property
    def correct(self) -> np.ndarray:
        """Return ``[T]`` bools: the prediction at each step is right."""
        return self.predictions == self.labels

    def second_sights(self) -> list[tuple[int, int]]:
        """Return ``(first, second)`` step pairs: each class's first and second sight, in time order."""
        pairs = []
        for label in range(self.n_classes):
            steps = np.flatnonzero(self.labels == label)
            if len(steps) > 1:
                pairs.append((int(steps[0]), int(steps[1])))
        return sorted(pairs, key=lambda p: p[1])


def links(read_weights: np.ndarray, write_weights: np.ndarray, wiped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(read_slot [T], writer [T])``: per step ``t`` the slot read most among those holding an
    *earlier* step's write, and that earlier step ``u < t`` (the one that wrote the most into the slot since
    it was last wiped); ``-1`` for both when no slot holds an earlier write. The step's own fresh write is
    left out: it is read too (reads come after writes), but it only holds the image just seen."""
    reads, writes = read_weights.sum(axis=1), write_weights.sum(axis=1)  # [T, N]
    t_len, n = reads.shape
    read_slot, writer = np.full(t_len, -1), np.full(t_len, -1)
    start = np.zeros(n, dtype=int)  # per slot, the first step whose write survives (after the last wipe)
    for t in range(t_len):
        start[wiped[t]] = t  # the wipe comes before this step's own write
        best = -1.0
        for slot in range(n):
            amounts = writes[start[slot]:t, slot]
            if len(amounts) and amounts.max() > 1e-3 and reads[t, slot] > best:
                best, read_slot[t], writer[t] = reads[t, slot], slot, start[slot] + int(amounts.argmax())
    return read_slot, writer


def with_memory(model: MANN, memory_slots: int | None = None, gamma: float | None = None) -> MANN:
    """Return a shallow copy of ``model`` (weights shared) with another slot count and/or usage decay."""
    changes = {k: v for k, v in (("memory_slots", memory_slots), ("gamma", gamma)) if v is not None}
    if not changes:
        return model
    config = replace(model.config, **changes)  # validates, e.g. read heads > slots
    twin = copy.copy(model)
    twin.config = config
    return twin


def _pad_labels(batch: MANNEpisodes, width: int) -> MANNEpisodes:
    """Return ``batch`` with its one-hot label inputs zero-padded to the model's ``width`` (fewer classes)."""
    extra = width - batch.label_inputs.shape[-1]
    if extra > 0:
        batch.label_inputs = torch.nn.functional.pad(batch.label_inputs, (0, extra))
    return batch


def _family(model: MANN, source: ClassSource, n_classes: int, instances: int) -> MANNTaskFamily:
    if n_classes > model.config.n_classes:
        raise ValueError(f"classes={n_classes} but this model was trained with {model.config.n_classes} labels; "
                         f"choose classes <= {model.config.n_classes}")
    if not 1 <= instances <= MAX_INSTANCES:
        raise ValueError(f"instances={instances}; choose 1..{MAX_INSTANCES} sights per class")
    return MANNTaskFamily(source, n_classes, n_classes * instances, model.config.label_mode, model.config.image_size)


@guarded("cpu", lower="episode length or memory slots")
def memory_demo(model: MANN, source: ClassSource, n_classes: int = 5, instances: int = 10,
                memory_slots: int | None = None, gamma: float | None = None, seed: int = 0) -> MemoryDemo:
    """Return the :class:`MemoryDemo` of one episode of ``n_classes`` held-out classes from ``source``, each
    shown ``instances`` times, drawn with ``seed``. Raises ``ValueError`` for impossible settings."""
    net = with_memory(model, memory_slots, gamma)
    batch = _pad_labels(_family(net, source, n_classes, instances).sample(make_generator(seed), 1),
                        net.config.n_classes)
    with torch.no_grad():
        trace = net(batch, record=True)
    logits = trace.logits[0, :, :n_classes]  # labels beyond this episode's classes are never right
    read, write = trace.read_weights[0].numpy(), trace.write_weights[0].numpy()
    wiped = trace.least_used[0].numpy()
    read_slot, writer = links(read, write, wiped)
    labels = batch.labels[0].numpy()
    return MemoryDemo(
        n_classes, seed, images=batch.images[0, :, 0].numpy(), labels=labels,
        delayed=np.concatenate([[-1], labels[:-1]]), predictions=logits.argmax(-1).numpy(),
        instance=batch.instance[0].numpy(), class_names=source.class_names(batch.meta["class_ids"][0].tolist()),
        read_weights=read, write_weights=write, usage=trace.usage[0].numpy(), wiped=wiped,
        read_slot=read_slot, writer=writer)


@dataclass
class InstanceCurve:
    """Accuracy (mean and 95% half-width, in [0, 1]) at each instance, per method, over ``n_episodes``."""

    instances: tuple[int, ...]
    rows: dict[str, tuple[list[float], list[float]]]
    n_episodes: int


@guarded("cpu", lower="episodes", long=True)
def instance_curve(models: dict[str, nn.Module], source: ClassSource, n_classes: int = 5, n_episodes: int = 100,
                   memory_slots: int | None = None, gamma: float | None = None, seed: int = 0,
                   on_progress: Callable[[int, int], None] | None = None) -> InstanceCurve:
    """Return accuracy by instance of each model in ``models`` (name -> MANN or LSTM baseline) on the same
    ``n_episodes`` held-out episodes of ``n_classes`` classes, each class shown 10 times.
    ``on_progress(done, total)`` is called after each model (a background job reports and stops there)."""
    instances = INSTANCES
    eval_seed = derive_seed(make_generator(seed))
    rows = {}
    for name, model in models.items():
        net = with_memory(model, memory_slots, gamma) if isinstance(model, MANN) else model
        family = _family(net, source, n_classes, max(instances))
        padded = _PaddedFamily(family, net.config.n_classes)
        correct, inst = run_batches(net, padded, n_episodes, make_generator(eval_seed))
        stats = [mean_ci95(v) for v in instance_accuracies(correct, inst, instances).values()]
        rows[name] = ([m for m, _ in stats], [c for _, c in stats])
        if on_progress is not None:
            on_progress(len(rows), len(models))
    return InstanceCurve(instances, rows, n_episodes)


class _PaddedFamily:
    """A family whose episodes carry label inputs as wide as the model's output (for fewer classes)."""

    def __init__(self, family: MANNTaskFamily, width: int) -> None:
        self.family, self.width = family, width

    def sample(self, rng: torch.Generator, n: int) -> MANNEpisodes:
        """Return ``n`` episodes of the wrapped family with padded label inputs."""
        return _pad_labels(self.family.sample(rng, n), self.width)


@dataclass(frozen=True)
class MannChoice:
    """A MANN checkpoint for the page's picker, with its LSTM baseline's stem if there is one."""

    label: str
    path: str
    baseline: str | None
    read_heads: int


def mann_choices() -> tuple[list[MannChoice], list[str]]:
    """Return ``(choices, problems)``: the shipped glyph MANN (if present), then the user's, newest first, and
    one line per unreadable checkpoint in the user's folder."""
    found = []
    shipped = shipped_mann_path("mann")
    if shipped.with_suffix(".pt").exists():
        try:
            found.append((shipped, read_card(shipped), "glyphs (shipped)"))
        except CheckpointError as exc:
            return [], [str(exc)]
    scan = scan_models("mann")
    found += [(m.path, m.card, m.card.get("config", {}).get("data", "?")) for m in scan.models]
    choices = []
    for path, card, data in found:
        net = card.get("config", {}).get("net", {})
        heads = int(net.get("read_heads", 4))
        lstm = baseline_stem(Path(path))  # a member of an ensemble: the first member's baseline
        label = f"{Path(path).name} · {data} · {heads} heads, {net.get('memory_width', '?')} wide"
        choices.append(MannChoice(label, str(path), str(lstm) if lstm.with_suffix(".pt").exists() else None, heads))
    return choices, [f"{s.path}: {s.reason}" for s in scan.skipped]
