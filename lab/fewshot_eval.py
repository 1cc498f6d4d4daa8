"""``python -m lab eval <learner> --data glyphs|omniglot``: few-shot accuracy with 95% intervals.

Every (ways, shots) cell draws its episodes from one seed, so the learner and the pixel-space
nearest-neighbour baseline (always reported, :func:`lab.learners.fewshot.pixel_nn_scores`) are measured on
the very same episodes. Rows follow the evaluation schema of :mod:`lab.evaluation` with the keys
``ways``, ``shots``, ``queries`` and, for MAML, ``steps``.

Which checkpoint: ``checkpoint`` if given; else the newest model of that learner the user trained on the
same data (:func:`lab.home.scan_models`); else the shipped glyph model. On Omniglot the latter measures
*transfer* from glyphs with no Omniglot training; the report's config says which one was used.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from lab.checkpoint import CheckpointError
from lab.compute import derive_seed, make_generator
from lab.evaluation import make_report, result_row
from lab.fewshot_models import load_fewshot_model, shipped_path
from lab.home import scan_models
from lab.learners.fewshot import KINDS, evaluate_accuracy, pixel_nn_scores
from lab.tasks.episodes import FewShotFamily
from lab.tasks.splits import data_split


def default_queries(ways: int) -> int:
    """Return the query drawings per class used when none are asked for: 15 for up to 5 ways, else 5."""
    return 15 if ways <= 5 else 5


def pick_checkpoint(kind: str, data: str, checkpoint: str | Path | None = None) -> Path:
    """Return the checkpoint stem to evaluate (see the module docstring); raise CheckpointError if none."""
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        return path.with_suffix("") if path.suffix in (".pt", ".json") else path
    for model in scan_models(kind).models:
        if model.card.get("config", {}).get("data") == data:
            return Path(model.path)
    shipped = shipped_path(kind)
    if not shipped.with_suffix(".pt").exists():
        raise CheckpointError(f"no {kind} checkpoint: none trained on {data} in the lab folder and {shipped}.pt "
                              f"is missing; run `python -m lab train {kind} --data {data}` or pass --checkpoint")
    return shipped


def evaluate_fewshot(kind: str, data: str = "glyphs", ways: list[int] | None = None, shots: list[int] | None = None,
                     episodes: int = 600, seed: int = 0, checkpoint: str | Path | None = None,
                     omniglot: str | Path | None = None, queries: int | None = None, steps: int | None = None,
                     batch_size: int = 25, views: int | None = None,
                     on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Return the evaluation report of learner ``kind`` and the pixel baseline on held-out classes of ``data``.

    ``on_progress(done, total)`` counts episodes over every setting and method. Ctrl-C raises
    :class:`EvaluationStopped` carrying the report of the settings finished so far.
    """
    if kind not in KINDS:
        raise ValueError(f"learner={kind!r}; choose one of {KINDS}")
    ways, shots = ways or [5], shots or [1]
    stem = pick_checkpoint(kind, data, checkpoint)
    model, meta = load_fewshot_model(stem, kind)
    split = data_split(data, omniglot)
    if views is not None:
        if kind != "protonet":
            raise ValueError(f"--views is for protonet only (test-time jittered views), not {kind}")
        model.config.test_views = views
    if kind == "maml":
        steps = model.config.test_steps if steps is None else steps

        def score(batch):
            return model.scores(batch, steps)
    else:
        score = model.scores
    extra = {"steps": steps} if kind == "maml" else {"views": model.config.test_views} if kind == "protonet" else {}
    rows: list[dict[str, Any]] = []
    total = len(ways) * len(shots) * 2 * episodes
    trained = meta.get("config", {})
    config = {"learner": kind, "data": data, "split": split.description, "episodes": episodes, "seed": seed,
              "checkpoint": str(stem), "trained_on": trained.get("data"),
              "train_wall_s": meta.get("extra", {}).get("wall_s"), "threads": torch.get_num_threads()}
    try:
        _evaluate_cells(kind, score, extra, split, ways, shots, queries, episodes, seed, batch_size, rows, total,
                        on_progress)
    except KeyboardInterrupt as stop:
        done = len(rows) // 2
        config["stopped"] = f"after {done} of {len(ways) * len(shots)} settings"
        raise EvaluationStopped(make_report(f"fewshot-{kind}", config, [r for r in rows[: 2 * done]])) from stop
    return make_report(f"fewshot-{kind}", config, rows)


class EvaluationStopped(KeyboardInterrupt):
    """Ctrl-C during an evaluation: ``report`` holds the settings that were finished (both methods)."""

    def __init__(self, report: dict[str, Any]) -> None:
        super().__init__(report["config"].get("stopped", "stopped"))
        self.report = report


def _evaluate_cells(kind: str, score: Callable, extra: dict[str, Any], split, ways: list[int], shots: list[int],
                    queries: int | None, episodes: int, seed: int, batch_size: int, rows: list[dict[str, Any]],
                    total: int, on_progress: Callable[[int, int], None] | None) -> None:
    """Append to ``rows`` the result of ``kind`` and the pixel baseline at every (ways, shots) setting."""
    before = 0
    for n_way in ways:
        for k_shot in shots:
            n_query = queries or default_queries(n_way)
            family = FewShotFamily(split.test, n_way, k_shot, n_query)
            cell_seed = derive_seed(make_generator(seed + 1000 * n_way + k_shot))
            keys = {"ways": n_way, "shots": k_shot, "queries": n_query}
            for method, fn, more in ((kind, score, extra), ("pixel-nn", pixel_nn_scores, {})):
                t0 = time.perf_counter()
                report = None if on_progress is None else (lambda done, _, b=before: on_progress(b + done, total))
                with torch.no_grad():
                    res = evaluate_accuracy(fn, family, episodes, make_generator(cell_seed), batch_size,
                                            on_batch=report)
                before += episodes
                ms = (time.perf_counter() - t0) * 1000 / episodes
                rows.append(result_row(method, "accuracy", res["mean"], res["ci95"], res["n"], **keys, **more,
                                       ms_per_episode=round(ms, 2)))
