"""``python -m lab eval virtual``: real-only against real+virtual ProtoNets at each budget of real classes.

For every data set and budget, both arms are trained by :func:`lab.virtual_training.train_virtual` from the
same seed on the same real characters (or loaded, if a checkpoint of the identical config is in the lab
folder's ``virtual/`` models), then measured 5-way 1-shot on the held-out alphabets on the very same
episodes. Rows follow :mod:`lab.evaluation`'s schema with ``data``, ``real_classes`` (the count; ``budget``
says ``"all"`` when it was all of them), ``ways`` and ``shots``; the real+virtual row also carries
``gain`` and ``gain_ci95``: the paired difference to real-only over the same episodes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from lab.checkpoint import CheckpointError, load_checkpoint, read_card
from lab.evaluation import make_report, result_row
from lab.home import models_dir
from lab.learners.maml import mean_ci95
from lab.learners.protonet import ProtoNet, ProtoNetConfig
from lab.tasks.splits import DATA_SOURCES, Split, data_split, validation_split
from lab.virtual_training import VirtualTrainConfig, budget_class_ids, evaluate_learner, train_virtual

KIND = "virtual_protonet"  # not "protonet": `eval protonet` must never pick these budget models up
METHODS = {False: "real-only", True: "real+virtual"}
# Iterations per data set: sized so that the 24 runs of one data set (four budgets, two arms, three draws) take
# 41 (glyphs) to about 68 (Omniglot) minutes on one CPU core (see the notes of issue 6 for wall times).
ITERATIONS = {"glyphs": 800, "omniglot": 800}
# Recipe fields per data set beyond VirtualTrainConfig's defaults, chosen on the VALIDATION splits of Omniglot's
# training alphabets (`eval virtual --validate ...`; six runs per variant, paired with real-only), never on the
# test alphabets. Omniglot: spliced, quarter-turned dreamt classes (+5.0 at 20 real classes on Korean, where blended
# codes alone lost 3.7); a transposed-convolution decoder (sharper drawings than the MLP's blobs; +2.7 at 50 against
# +2.3); 5000 generator warm-up steps, which the conv decoder needs (+3.2 at 50, +5.4 at 20; 10000 steps: +3.2 at
# 1.6x the time); dreamt drawings thinned and re-inked as pen lines, since the VAE dreams grey blurred blobs and
# every real drawing is a thin line (+4.3 at 50 against +3.2; +8.3 at 20 against +5.4). Every other variant
# tried, and what it cost, is listed in README ("eval virtual") and the notes of issue 6. Glyphs keep the
# defaults: real-only is at the ceiling there (96% with 20 classes).
RECIPES: dict[str, dict[str, Any]] = {
    "glyphs": {},
    "omniglot": {"sampler": "splice", "rotate": True, "gen_warmup": 5000, "pen": True, "vae": {"decoder": "conv"}}}
# Repeats per row of the report: which 20 or 50 characters make the budget moves either arm by a few points (see
# README), so one draw of them cannot say whether the dreamt classes help at that budget.
DRAWS = 3


def virtual_recipe(data: str, real_classes: int, virtual: bool, seed: int = 0, iterations: int | None = None,
                   omniglot: str | None = None, **overrides: Any) -> VirtualTrainConfig:
    """Return the training config of one arm (``real_classes=0``: all training characters): the data set's
    :data:`RECIPES` entry, then ``overrides`` (other :class:`~lab.virtual_training.VirtualTrainConfig` fields)."""
    return VirtualTrainConfig(data=data, omniglot=omniglot, real_classes=real_classes, virtual=virtual, seed=seed,
                              iterations=iterations or ITERATIONS[data], **{**RECIPES[data], **overrides})


def model_stem(config: VirtualTrainConfig, folder: Path | None = None) -> Path:
    """Return the checkpoint stem of one arm's learner in ``folder`` (default ``models_dir()/virtual``)."""
    arm = "virtual" if config.virtual else "real"
    draw = f"_budget{config.budget_seed}" if config.budget_seed else ""
    return (folder or models_dir() / "virtual") / (
        f"virtual_{config.data}_{config.real_classes or 'all'}_{arm}_seed{config.seed}{draw}_it{config.iterations}")


def same_config(saved: dict[str, Any], config: VirtualTrainConfig) -> bool:
    """Return whether a checkpoint card's config ``saved`` describes ``config``'s run. A field the card lacks
    (added to :class:`VirtualTrainConfig` after the model was trained) matches when ``config`` holds its default,
    since that is how the model was trained; a field the card has and the config lacks never matches."""
    expected = config.card()
    defaults = VirtualTrainConfig().card()
    return set(saved) <= set(expected) and all(saved.get(k, defaults[k]) == v for k, v in expected.items())


def load_or_train(config: VirtualTrainConfig, folder: Path | None = None,
                  on_progress: Callable[[int, dict[str, float]], bool | None] | None = None,
                  split: Split | None = None) -> ProtoNet:
    """Return the arm's trained learner: loaded if ``model_stem(config)`` holds one of the identical config,
    else trained on ``split`` (default: the data set's) resumable under ``<folder>/runs`` and saved there.
    Raises ``KeyboardInterrupt`` if stopped."""
    stem = model_stem(config, folder)
    if stem.with_suffix(".json").exists():
        try:
            card = read_card(stem)
            if same_config({k: v for k, v in card["config"].items() if k != "net"}, config):
                state, meta = load_checkpoint(stem, KIND)
                learner = ProtoNet(ProtoNetConfig(**meta["config"]["net"]))
                learner.load_state_dict({k: v.float() for k, v in state.items()})
                return learner
        except CheckpointError:
            pass  # a damaged or stale file: train afresh over it
    result = train_virtual(config, run_dir=stem.parent / "runs", out=stem, on_progress=on_progress, kind=KIND,
                           split=split)
    if result.stopped:
        raise KeyboardInterrupt
    return result.learner


def cached_evaluation(learner: ProtoNet, config: VirtualTrainConfig, episodes: int, test_seed: int,
                      folder: Path | None = None, split: Split | None = None) -> dict[str, Any]:
    """Return :func:`~lab.virtual_training.evaluate_learner`'s result for the arm's learner, read from
    ``<stem>.eval.json`` when that holds the same episodes of the same checkpoint (evaluating 600 episodes
    costs as much as ~100 training steps), else measured and written there."""
    stem = model_stem(config, folder)
    cache, pt = stem.with_name(stem.name + ".eval.json"), stem.with_suffix(".pt")
    key = {"episodes": episodes, "test_seed": test_seed, "omniglot": config.omniglot,
           "checkpoint": pt.stat().st_mtime_ns if pt.exists() else None}
    try:
        saved = json.loads(cache.read_text())
        if saved["key"] == key:
            accs = torch.tensor(saved["accuracies"])
            mean, ci95 = mean_ci95(accs)
            return {"mean": mean, "ci95": ci95, "n": len(accs), "accuracies": accs}
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no cache, or another one: measure
    res = evaluate_learner(learner, config.data, episodes, test_seed, config.omniglot, split=split)
    if key["checkpoint"] is not None:
        cache.write_text(json.dumps({"key": key, "accuracies": res["accuracies"].tolist()}))
    return res


def check_budgets(data: str, budgets: list[int], omniglot: str | None = None, split: Split | None = None) -> int:
    """Raise ``ValueError`` (before any training) unless every budget fits ``data`` (``split``'s training set if
    given); return its character count."""
    train = (split or data_split(data, omniglot)).train
    for budget in budgets:
        budget_class_ids(train, budget, 0)
    return len(budget_class_ids(train, 0, 0))


def evaluate_virtual(budgets: list[int], datas: list[str], episodes: int = 600, seed: int = 0,
                     iterations: int | None = None, omniglot: str | None = None, folder: Path | None = None,
                     on_progress: Callable[[str, int, dict[str, float]], None] | None = None,
                     overrides: dict[str, Any] | None = None, validate: str | None = None,
                     draws: int = DRAWS) -> dict[str, Any]:
    """Return the ``virtual`` report over ``budgets`` (0 = all characters) and data sets ``datas``;
    ``overrides`` change recipe fields of every run (e.g. ``gen_warmup``).

    Each row averages ``draws`` repeats of the experiment: repeat ``d`` draws its budget of real characters
    with ``budget_seed=d`` and trains both arms from seed ``seed + d``; every repeat is measured on the same
    test episodes (seed ``seed + 1``), an episode's accuracy is its mean over the repeats, and the CI is over
    episodes. The row's ``draw_means`` lists each repeat's mean. With ``validate`` (a name in
    :data:`lab.tasks.splits.VALIDATION`; Omniglot only) both arms train and are measured on that validation split instead,
    their models kept apart in ``<folder>/validate-<name>``: the way to choose a recipe."""
    if episodes < 2:
        raise ValueError(f"episodes={episodes}: a confidence interval needs at least 2 episodes")
    if draws < 1:
        raise ValueError(f"draws={draws} must be at least 1")
    unknown = [d for d in datas if d not in DATA_SOURCES]
    if unknown or not datas:
        raise ValueError(f"data {unknown or datas}; choose from {DATA_SOURCES}")
    split = None
    if validate is not None:
        if datas != ["omniglot"]:
            raise ValueError(f"validation splits are of Omniglot's training alphabets; use data omniglot, not {datas}")
        split = validation_split(validate, omniglot)
        folder = (folder or models_dir() / "virtual") / f"validate-{validate}"
    totals = {data: check_budgets(data, budgets, omniglot, split) for data in datas}
    rows, configs = [], []
    for data in datas:
        for budget in budgets:
            accs = {}
            for virtual in (False, True):
                per_draw = []
                for draw in range(draws):
                    config = virtual_recipe(data, budget, virtual, seed + draw, iterations, omniglot,
                                            **{"budget_seed": draw, **(overrides or {})})
                    label = f"{data} {budget or 'all'} {METHODS[virtual]}" + (f" draw {draw}" if draws > 1 else "")
                    learner = load_or_train(config, folder, (lambda it, m, label=label: on_progress(label, it, m))
                                            if on_progress else None, split)
                    per_draw.append(cached_evaluation(learner, config, episodes, seed + 1, folder, split)["accuracies"])
                    configs.append(config.card())
                accs[virtual] = torch.stack(per_draw).mean(0)
                mean, ci95 = mean_ci95(accs[virtual])
                extra: dict[str, Any] = {"draws": draws, "draw_means": [round(float(a.mean()), 4) for a in per_draw]}
                if virtual:
                    gain, gain_ci = mean_ci95(accs[True] - accs[False])
                    extra.update(gain=round(gain, 4), gain_ci95=round(gain_ci, 4))
                rows.append(result_row(METHODS[virtual], "accuracy", mean, ci95, len(accs[virtual]), data=data,
                                       real_classes=budget or totals[data], budget=budget or "all", ways=5,
                                       shots=1, **extra))
    config = {"episodes": episodes, "seed": seed, "test_seed": seed + 1, "draws": draws, "datas": datas,
              "budgets": [b or "all" for b in budgets], "iterations": {d: c["iterations"] for d, c in
                                                                        ((c["data"], c) for c in configs)},
              "train": {c["data"]: {k: v for k, v in c.items()
                                    if k not in ("data", "real_classes", "virtual", "seed", "budget_seed")}
                        for c in configs},
              "threads": torch.get_num_threads()}
    if split is not None:
        config.update(validate=validate, split=split.description)
    return make_report("virtual", config, rows)
