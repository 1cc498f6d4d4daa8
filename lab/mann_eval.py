"""``python -m lab eval mann``: accuracy by instance (1st, 2nd, ... presentation of a class) with 95% intervals.

The MANN and its LSTM baseline are measured on the very same held-out episodes (one generator per method,
both from the same seed). A row per (method, instance) follows the evaluation schema of
:mod:`lab.evaluation` with the keys ``instance`` and ``classes``; the interval is over episodes (each
episode's accuracy at the k-th instance is the mean over its classes). The paper's and the human rows
(Santoro et al. 2016, Table 1) are in :data:`PAPER_ROWS` for tables and the Memory page.

Which checkpoints: ``checkpoint`` if given (its LSTM baseline beside it, ``mann-lstm`` for ``mann``); else
the newest pair the user trained on the same data and class count (:func:`lab.home.scan_models`); else
the shipped glyph pair in ``assets/``. Several MANN checkpoints are measured as one ensemble
(:class:`lab.learners.mann_ensemble.MANNEnsemble`), against the first one's baseline.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lab.checkpoint import REMAKE, CheckpointError, assets_dir, check_state_matches, load_checkpoint
from lab.compute import derive_seed, make_generator, make_way
from lab.evaluation import make_report, result_row
from lab.home import scan_models
from lab.learners.maml import mean_ci95
from lab.learners.mann import MANNTrace, build_mann, correct_steps
from lab.learners.mann_ensemble import MANNEnsemble
from lab.tasks.base import check_positive
from lab.tasks.mann_episodes import MANNEpisodes, MANNTaskFamily
from lab.tasks.splits import data_split, validation_split

INSTANCES = (1, 2, 3, 4, 5, 10)
MANN_KINDS = ("mann", "mann-lstm")
# Santoro et al. 2016, Table 1 (Omniglot, 5 classes, one-hot labels): % correct at instances 1, 2, 3, 4, 5, 10.
PAPER_ROWS: dict[str, tuple[float, ...]] = {
    "human": (34.5, 57.3, 70.1, 71.8, 81.4, 92.4),
    "MANN (paper)": (36.4, 82.8, 91.0, 92.6, 94.9, 98.1),
    "LSTM (paper)": (24.4, 49.5, 55.3, 61.0, 63.6, 62.5),
}


def instance_accuracies(correct: torch.Tensor, instance: torch.Tensor, instances: tuple[int, ...] = INSTANCES
                        ) -> dict[int, torch.Tensor]:
    """Return, per asked instance k, each episode's accuracy ``[B]`` over the steps showing a class for the
    k-th time; ``correct`` and ``instance`` are ``[B, T]``. Raises ``ValueError`` if an episode lacks step k."""
    out = {}
    for k in instances:
        at_k = (instance == k).float()
        counts = at_k.sum(dim=1)
        if bool((counts == 0).any()):
            raise ValueError(f"instance {k} never occurs in some episodes; longer episodes show each class "
                             f"more often (length = classes x instances)")
        out[k] = (correct.float() * at_k).sum(dim=1) / counts
    return out


def run_batches(model: nn.Module, family: MANNTaskFamily, n_episodes: int, rng: torch.Generator, batch_size: int = 50,
                device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(correct, instance)``, both ``[n_episodes, T]``, of ``model`` on fresh episodes drawn with ``rng``."""
    check_positive("n_episodes", n_episodes)
    rights, instances, done = [], [], 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        while done < n_episodes:
            if done:
                make_way(device)  # a long evaluation lets waiting slider moves go first (lab.job_slots)
            batch: MANNEpisodes = family.sample(rng, min(batch_size, n_episodes - done)).to(device)
            trace: MANNTrace = model(batch)
            rights.append(correct_steps(trace, batch).cpu())
            instances.append(batch.instance.cpu())
            done += batch.n_episodes
    model.train(was_training)
    return torch.cat(rights), torch.cat(instances)


def load_mann(path: str | Path, kind: str = "mann", map_location: torch.device | str = "cpu"
              ) -> tuple[nn.Module, dict[str, Any]]:
    """Return ``(model, meta)``: the ``mann`` or ``mann-lstm`` model at checkpoint stem ``path``, in eval mode."""
    state, meta = load_checkpoint(path, kind, map_location)
    try:
        model = build_mann(kind, meta["config"].get("net", {}))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: the card's net config is not valid ({exc}); {REMAKE}") from exc
    check_state_matches(model, state, Path(str(path) + ".pt"))
    model.load_state_dict({k: v.float() for k, v in state.items()})  # shipped weights may be stored as float16
    return model.to(map_location).eval(), meta


def shipped_mann_path(kind: str = "mann") -> Path:
    """Return the stem of the shipped glyph checkpoint of ``kind``: ``mann_glyphs``, its baseline
    ``mann_glyphs_lstm`` (every baseline is named ``<MANN stem>_lstm``)."""
    return assets_dir() / ("mann_glyphs_lstm" if kind == "mann-lstm" else "mann_glyphs")


def member_stems(first: Path, members: int) -> list[Path]:
    """Return the checkpoint stems of an ensemble of ``members`` trained by ``train mann --members``:
    ``first``, ``<first>_member1``, ..."""
    return [first if i == 0 else first.with_name(f"{first.name}_member{i}") for i in range(members)]


def ensemble_members(stem: Path) -> list[Path]:
    """Return the stems of the ensemble that MANN checkpoint ``stem`` belongs to (``<first>``, ``<first>_member1``,
    ... as far as their weights exist), or ``[stem]`` when it has no siblings."""
    match = re.fullmatch(r"(.+)_member\d+", stem.name)
    first = stem.with_name(match.group(1)) if match else stem
    if not first.with_name(first.name + ".pt").exists():
        return [stem]
    stems = [first]
    while (nxt := member_stems(first, len(stems) + 1)[-1]).with_name(nxt.name + ".pt").exists():
        stems.append(nxt)
    return stems


def baseline_stem(stem: Path) -> Path:
    """Return the stem of MANN ``stem``'s LSTM baseline: ``<stem>_lstm``, or for a member that has none (``train mann
    --members`` trains one baseline) the first member's."""
    own = stem.with_name(stem.name + "_lstm")
    first = ensemble_members(stem)[0]
    if own.with_name(own.name + ".pt").exists() or first == stem:
        return own
    return first.with_name(first.name + "_lstm")


def pick_mann_checkpoints(data: str, classes: int, checkpoint: str | Path | Sequence[str | Path] | None = None
                          ) -> tuple[list[Path], Path]:
    """Return the stems ``([mann, ...], lstm)`` to evaluate (see the module docstring): one MANN, or the members
    of an ensemble when ``checkpoint`` lists several or the newest trained MANN has members
    (:func:`ensemble_members`). Raise CheckpointError if none."""
    if checkpoint is not None:
        listed = [checkpoint] if isinstance(checkpoint, str | Path) else list(checkpoint)
        if not listed:
            raise ValueError("--checkpoint: name at least one MANN checkpoint stem")
        paths = [Path(c).expanduser() for c in listed]
        paths = [p.with_suffix("") if p.suffix in (".pt", ".json") else p for p in paths]
        return paths, baseline_stem(paths[0])
    found: dict[str, Path] = {}
    for kind in MANN_KINDS:
        for model in scan_models(kind).models:
            cfg = model.card.get("config", {})
            if cfg.get("data") == data and cfg.get("net", {}).get("n_classes") == classes:
                found[kind] = Path(model.path)
                break
    if len(found) == 2:
        return ensemble_members(found["mann"]), found["mann-lstm"]
    stems = shipped_mann_path("mann"), shipped_mann_path("mann-lstm")
    if not all(s.with_suffix(".pt").exists() for s in stems):
        raise CheckpointError(f"no MANN checkpoints for {data} with {classes} classes in the lab folder and the "
                              f"shipped {stems[0]}.pt is missing; run `python -m lab train mann --data {data} "
                              f"--classes {classes}` or pass --checkpoint")
    return [stems[0]], stems[1]


def evaluate_mann(data: str = "glyphs", classes: int = 5, episodes: int = 1000, seed: int = 0,
                  checkpoint: str | Path | Sequence[str | Path] | None = None, omniglot: str | Path | None = None,
                  instances: tuple[int, ...] = INSTANCES, device: torch.device | str = "cpu",
                  memory_slots: int | None = None, views: int | None = None, validate: str | None = None
                  ) -> dict[str, Any]:
    """Return the evaluation report: accuracy by instance of the MANN and its LSTM baseline on held-out classes.

    ``checkpoint`` may list several MANN stems: they are measured as one ensemble (softmax averaged per step),
    against the first stem's baseline. ``memory_slots`` gives the MANN a memory of that many slots at test time
    instead of the trained number (its weights do not depend on it); the baseline has no memory and is unaffected. ``views`` sets both models'
    ``test_views`` (conv features averaged over jittered copies of each image; default: as trained). With
    ``validate`` (a name in :data:`lab.tasks.splits.VALIDATION`) the held-out classes are that validation
    split's alphabets instead of the test alphabets."""
    if episodes < 2:
        raise ValueError(f"--episodes {episodes}: a confidence interval needs at least 2 episodes")
    mann_stems, lstm_stem = pick_mann_checkpoints(data, classes, checkpoint)
    if validate is not None and data != "omniglot":
        raise ValueError(f"--validate {validate} holds out Omniglot training alphabets; it needs --data omniglot")
    split = validation_split(validate, omniglot) if validate else data_split(data, omniglot)
    eval_seed = derive_seed(make_generator(seed))
    rows, cards = [], {}
    for kind, stems in zip(MANN_KINDS, (mann_stems, [lstm_stem]), strict=True):
        members, metas = [], []
        for stem in stems:
            member, meta = load_mann(stem, kind, device)
            if memory_slots is not None and kind == "mann":
                member.config = dataclasses.replace(member.config, memory_slots=memory_slots)  # validated again
            if views is not None:
                member.config = dataclasses.replace(member.config, test_views=views)
            members.append(member)
            metas.append(meta)
        stem, meta = stems[0], metas[0]
        model = members[0] if len(members) == 1 else MANNEnsemble(members)
        net = model.config
        if net.n_classes != classes:
            raise ValueError(f"{stem} was trained with {net.n_classes} classes per episode, not {classes}; pass "
                             f"--classes {net.n_classes} or train one with `python -m lab train mann --classes {classes}`")
        length = max(meta["config"].get("episode_length", 10 * classes), max(instances) * classes)
        family = MANNTaskFamily(split.test, classes, length, net.label_mode, net.image_size)
        t0 = time.perf_counter()
        correct, inst = run_batches(model, family, episodes, make_generator(eval_seed), device=device)
        ms = (time.perf_counter() - t0) * 1000 / episodes
        for k, accs in instance_accuracies(correct, inst, instances).items():
            mean, ci95 = mean_ci95(accs)
            rows.append(result_row(kind, "accuracy", mean, ci95, episodes, instance=k, classes=classes,
                                   ms_per_episode=round(ms, 2)))
        cards[kind] = {"checkpoint": str(stem), "trained_on": meta["config"].get("data"),
                       "train_wall_s": meta.get("extra", {}).get("wall_s"), "length": length,
                       "test_views": net.test_views}
        if len(stems) > 1:
            cards[kind]["members"] = [str(s) for s in stems]
            cards[kind]["train_wall_s"] = [m.get("extra", {}).get("wall_s") for m in metas]
        if kind == "mann":
            cards[kind]["memory_slots"] = net.memory_slots
    config = {"data": data, "classes": classes, "split": split.description, "episodes": episodes, "seed": seed,
              "models": cards, "threads": torch.get_num_threads()}
    return make_report("mann-instances", config, rows)
