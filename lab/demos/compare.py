"""Every few-shot learner on the very same episodes: accuracy with a 95% interval, and time per episode.

The learners are the lab's hypotheses about learning from one example: Prototypical Networks (Snell et al.
2017: compare to class means), Relation Networks (Sung et al. 2018: a learned comparison), MAML and its
first-order variant (Finn et al. 2017: fine-tune a learned start for a few steps) and, as the floor, the
nearest support drawing in pixel space (:func:`lab.learners.fewshot.pixel_nn_scores`, no learning).

:func:`compare_learners` draws each setting's episodes once, in batches, from one generator seeded with
``seed`` and hands the *same* :class:`~lab.tasks.base.EpisodeBatch` to every learner; for any learner its
numbers therefore equal :func:`lab.learners.fewshot.evaluate_accuracy` with ``make_generator(seed)`` and
the same batch size. Rows follow the evaluation schema (:func:`lab.evaluation.result_row`) with the keys
``ways``, ``shots`` and ``ms_per_episode``; :func:`compare_models` wraps them in a report.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lab.compute import get_device, make_generator, make_way, run_with_fallback
from lab.demos.fewshot import LEARNED, held_out_source
from lab.evaluation import make_report, result_row
from lab.learners.fewshot import ScoreFn, episode_accuracies, pixel_nn_scores
from lab.learners.maml import mean_ci95
from lab.tasks.base import check_positive
from lab.tasks.episodes import ClassSource, FewShotFamily

PIXEL_NN = "pixel-nn"
METHODS = (*LEARNED, PIXEL_NN)  # the order of rows, table and legend
TASK = "fewshot-compare"
MAX_BATCH = 25  # episodes scored at once, at most
BATCH_BUDGET = 4000  # images plus relation pairs per batch: keeps a 64-filter Conv4 batch near 100 MB
ProgressFn = Callable[[int, int], None]


def episodes_per_batch(n_way: int, k_shot: int, n_query: int) -> int:
    """Return how many episodes :func:`compare_learners` draws and scores at once for this setting (1..25).

    Fewer for big episodes: a 20-way episode with 15 queries per class has 6 000 (query, class) pairs for
    the Relation Net. It depends on the setting only, so a run is reproducible from its seed.
    """
    size = n_way * (k_shot + n_query) + n_way * n_way * n_query
    return max(1, min(MAX_BATCH, BATCH_BUDGET // size))


def score_function(method: str, model: nn.Module | None, device: torch.device | str) -> ScoreFn:
    """Return ``batch -> scores [T, Q, N]`` of ``method`` (one of :data:`METHODS`) on ``device``.

    Learned methods get a private copy of ``model`` in test mode: MAML's ``functional_call`` swaps the
    weights on its module while it runs, so concurrent app sessions must not share one. ``"pixel-nn"``
    needs no model.
    """
    if method == PIXEL_NN:
        return pixel_nn_scores
    if method not in LEARNED:
        raise ValueError(f"method={method!r}; choose one of {METHODS}")
    if model is None:
        raise ValueError(f"method={method!r} needs a trained model")
    return copy.deepcopy(model).to(device).eval().scores


def _sync(device: torch.device) -> None:
    if device.type == "cuda":  # kernels run asynchronously: wait for them before reading the clock
        torch.cuda.synchronize(device)


def compare_learners(score_fns: Mapping[str, ScoreFn], source: ClassSource, ways: Sequence[int],
                     shots: Sequence[int], n_episodes: int, seed: int = 0, n_query: int = 15,
                     device: torch.device | str = "cpu", on_progress: ProgressFn | None = None
                     ) -> list[dict[str, Any]]:
    """Return one result row per (method, ways, shots): the mean query accuracy over ``n_episodes`` episodes
    of ``source``, its 95% interval, ``n`` and the scoring time per episode in milliseconds.

    Every setting's episodes come from ``make_generator(seed)`` in batches of :func:`episodes_per_batch`,
    and every method scores the same batch, so all methods see identical episodes. ``on_progress(done,
    total)`` is called after each method scores a batch, counting episodes x methods. Rows are ordered by
    method (in the order of ``score_fns``), then ways, then shots. Raises ``ValueError`` (naming the limit)
    for impossible settings before anything runs.
    """
    if not score_fns:
        raise ValueError("no learners to compare; give at least one")
    if not ways or not shots:
        raise ValueError("choose at least one number of ways and one number of shots")
    if not isinstance(n_episodes, int) or n_episodes < 2:
        raise ValueError(f"n_episodes={n_episodes!r}: a 95% confidence interval needs at least 2 episodes")
    device = torch.device(device)
    families = [FewShotFamily(source, n_way=w, k_shot=s, n_query=n_query) for w in ways for s in shots]
    total, done = len(families) * n_episodes * len(score_fns), 0
    rows: list[dict[str, Any]] = []
    for family in families:
        rng, per_batch = make_generator(seed), episodes_per_batch(family.n_way, family.k_shot, n_query)
        accs: dict[str, list[torch.Tensor]] = {m: [] for m in score_fns}
        seconds = dict.fromkeys(score_fns, 0.0)
        drawn = 0
        while drawn < n_episodes:
            make_way(device)  # a long comparison lets waiting slider moves go first (lab.job_slots)
            batch = family.sample(rng, min(per_batch, n_episodes - drawn)).to(device)
            if drawn == 0:  # one-off costs (first torch.func transform, allocator) stay out of the timing
                for fn in score_fns.values():
                    fn(batch.task(0))
            drawn += batch.n_tasks
            for method, fn in score_fns.items():
                _sync(device)
                start = time.perf_counter()
                scores = fn(batch)
                _sync(device)
                seconds[method] += time.perf_counter() - start
                accs[method].append(episode_accuracies(scores, batch.query_y).cpu())
                done += batch.n_tasks
                if on_progress is not None:
                    on_progress(done, total)
        for method in score_fns:
            mean, ci95 = mean_ci95(torch.cat(accs[method]))
            rows.append(result_row(method, "accuracy", mean, ci95, n_episodes, ways=family.n_way,
                                   shots=family.k_shot, ms_per_episode=round(1e3 * seconds[method] / n_episodes, 3)))
    order = list(score_fns)
    return sorted(rows, key=lambda r: (order.index(r["method"]), list(ways).index(r["ways"]),
                                       list(shots).index(r["shots"])))


def compare_models(models: Mapping[str, nn.Module | None], data: str, ways: Sequence[int], shots: Sequence[int],
                   n_episodes: int, seed: int = 0, n_query: int = 15, omniglot: str | Path | None = None,
                   device: torch.device | str | None = None, on_progress: ProgressFn | None = None
                   ) -> dict[str, Any]:
    """Return the ``fewshot-compare`` report ``{"task", "config", "results"}`` of ``models`` (method ->
    model; ``None`` for ``"pixel-nn"``) on held-out episodes of ``data`` (see :func:`compare_learners`).

    Runs on ``device`` (default :func:`lab.compute.get_device`); if an accelerator runs out of memory it
    runs again on the CPU and ``config["note"]`` says so. Raises ``ValueError`` for impossible settings,
    ``FileNotFoundError`` when Omniglot is asked for and not found.
    """
    source = held_out_source(data, omniglot)
    unknown = [m for m in models if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {METHODS}")

    def run(dev: torch.device) -> list[dict[str, Any]]:
        fns = {m: score_function(m, model, dev) for m, model in models.items()}
        return compare_learners(fns, source, ways, shots, n_episodes, seed, n_query, dev, on_progress)

    check_positive("n_query", n_query)
    outcome = run_with_fallback(run, device or get_device(), lower="the episodes, ways or queries", long=True)
    config: dict[str, Any] = {"data": data, "held_out": getattr(source, "name", data), "ways": list(ways),
                              "shots": list(shots), "queries": n_query, "episodes": n_episodes, "seed": seed,
                              "device": str(outcome.device)}
    if outcome.note:
        config["note"] = outcome.note
    return make_report(TASK, config, outcome.value)
